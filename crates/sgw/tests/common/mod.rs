//! Helpers for the wire tests: the real SDK over HTTP on 127.0.0.1 against the project's
//! emulator, started in-process on port 0 for each test.
//!
//! Credentials come from a test loader (`empty_test_environment().test_credentials()`), not
//! from the process environment: nothing is set process-wide, so tests cannot race, and the
//! host's AWS variables and profile cannot redirect a test (contract C7). The standard chain
//! itself is tested in child processes (tests/credential_chain.rs).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sgw::aws_config::{self, BehaviorVersion};
use sgw::{CallObserver, Gateway, GatewaySettings, Outcome, TapeInfo, TapeStatus};
use sgw_emulator::{Emulator, Options, Running, SeedTape};

pub const GIB: u64 = 1 << 30;

/// How long a test waits for a state before failing: far beyond the delays the tests set, so
/// a loaded machine does not make them flaky.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Every call the client reported, in order.
#[derive(Default)]
pub struct Recorder(Mutex<Vec<(&'static str, Outcome)>>);

impl CallObserver for Recorder {
    fn call(&self, operation: &'static str, outcome: Outcome) {
        self.0.lock().unwrap().push((operation, outcome));
    }
}

impl Recorder {
    pub fn calls(&self) -> Vec<(&'static str, Outcome)> {
        self.0.lock().unwrap().clone()
    }

    /// Calls per operation, like the emulator's `Calls`.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for (operation, _) in self.calls() {
            *counts.entry(operation.to_owned()).or_default() += 1;
        }
        counts
    }

    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}

/// An emulator and a client of its gateway.
pub struct Harness {
    pub emu: Running,
    pub gateway: Gateway,
    pub recorder: Arc<Recorder>,
}

impl Harness {
    /// The ARN the emulator gave `barcode`.
    pub fn arn(&self, barcode: &str) -> String {
        self.emu
            .tapes()
            .into_iter()
            .find(|t| t.barcode == barcode)
            .unwrap_or_else(|| panic!("the emulator has no tape {barcode}"))
            .arn
    }

    /// A client of the same emulator for another gateway ARN.
    pub async fn client_for(&self, gateway_arn: &str) -> Gateway {
        connect(&self.emu.endpoint(), gateway_arn, None).await
    }

    /// Polls ListTapes for `arn` until its status is `want` (or PATIENCE runs out), and
    /// returns every status seen on the way, each once, in order.
    pub async fn walk(&self, arn: &str, want: &TapeStatus) -> Vec<TapeStatus> {
        let started = Instant::now();
        let mut seen: Vec<TapeStatus> = Vec::new();
        loop {
            let tape = self.list_one(arn).await;
            if seen.last() != Some(&tape.status) {
                seen.push(tape.status.clone());
            }
            if &tape.status == want {
                return seen;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "{arn} never became {want}; saw {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// ListTapes for one ARN.
    pub async fn list_one(&self, arn: &str) -> TapeInfo {
        let mut tapes = self
            .gateway
            .list_tapes(&[arn.to_owned()])
            .await
            .expect("ListTapes");
        assert_eq!(tapes.len(), 1, "ListTapes for {arn}: {tapes:?}");
        tapes.remove(0)
    }
}

/// A client through the test loader, with the crate's own retry and timeout policy.
pub async fn connect(
    endpoint: &str,
    gateway_arn: &str,
    observer: Option<Arc<Recorder>>,
) -> Gateway {
    let settings = GatewaySettings {
        gateway_arn: gateway_arn.to_owned(),
        region: "us-east-1".into(),
        endpoint_url: Some(endpoint.to_owned()),
    };
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .empty_test_environment()
        .test_credentials();
    let observer = observer.map(|r| r as Arc<dyn CallObserver>);
    Gateway::connect_with(&settings, observer, loader)
        .await
        .expect("connect")
}

/// Starts an emulator with `options` and connects a client with a recorder.
pub async fn start(options: Options) -> Harness {
    let emu = Emulator::start(options).expect("emulator starts");
    let recorder = Arc::new(Recorder::default());
    let gateway = connect(&emu.endpoint(), emu.gateway_arn(), Some(recorder.clone())).await;
    Harness {
        emu,
        gateway,
        recorder,
    }
}

/// Starts an emulator with these seed tapes (`BARCODE[=STATUS]`) and default delays.
pub async fn with_tapes(tapes: &[&str]) -> Harness {
    start(Options {
        tapes: seeds(tapes),
        ..Options::default()
    })
    .await
}

pub fn seeds(tapes: &[&str]) -> Vec<SeedTape> {
    tapes
        .iter()
        .map(|t| t.parse().expect("seed tape"))
        .collect()
}
