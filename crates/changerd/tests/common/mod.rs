//! Helpers for the daemon's tests: a simulated library in a temp dir, the real `changerd`
//! binary serving it on a socket in that dir, and clients (the socket protocol, and the real
//! `changer` binary built beside `changerd`).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use changer_proto::{Answer, AnswerBody, BareosCommand, LibraryRef, Request, RequestBody};

#[path = "../../../changer/tests/mixed_moves/mod.rs"]
pub mod mixed_moves;
#[allow(unused_imports)]
pub use mixed_moves::Lcg;

/// 1 drive, 4 slots, cartridges in slots 1 and 2.
pub const ONE_DRIVE_FOUR_SLOTS: &str =
    "  Storage Changer /dev/sg3:1 Drives, 4 Slots ( 0 Import/Export )
Data Transfer Element 0:Empty
      Storage Element 1:Full :VolumeTag=TAPE01L6
      Storage Element 2:Full :VolumeTag=TAPE02L6
      Storage Element 3:Empty
      Storage Element 4:Empty
";

/// The AWS Storage Gateway geometry (as scripts/demo builds it): 10 drives, 1600 storage
/// slots with 100 tapes in slots 1–100, 1600 I/E slots with 10 tapes in 1601–1610.
pub fn aws_library(extra: &str) -> String {
    let mut t = String::from(
        "# sim: changer vendor=STK product=L700 serial=SGW-TEST-MC\n# sim: drives vendor=IBM product=ULT3580-TD5\n",
    );
    t.push_str(extra);
    t.push_str("  Storage Changer /dev/sg11:10 Drives, 3200 Slots ( 1600 Import/Export )\n");
    for i in 0..10 {
        t.push_str(&format!("Data Transfer Element {i}:Empty\n"));
    }
    for n in 1..=3200u32 {
        let ie = if n > 1600 { " IMPORT/EXPORT" } else { "" };
        if n <= 100 || (1601..=1610).contains(&n) {
            t.push_str(&format!(
                "      Storage Element {n}{ie}:Full :VolumeTag=AWS{n:05}\n"
            ));
        } else {
            t.push_str(&format!("      Storage Element {n}{ie}:Empty\n"));
        }
    }
    t
}

/// A temp dir with a library file, a config, and (once started) a daemon.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub library: PathBuf,
    pub config: PathBuf,
    pub socket: PathBuf,
    pub log: PathBuf,
    /// Extra environment for the daemon (AWS settings of the gateway tests).
    pub env: Vec<(String, String)>,
    child: Option<Child>,
}

impl Daemon {
    /// A library from `text` and a config with `extra` TOML lines (for `[[library]]` keys,
    /// put them in `library_extra`), not started.
    pub fn new(text: &str, extra: &str, library_extra: &str) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let library = dir.path().join("library.txt");
        std::fs::write(&library, text).unwrap();
        let socket = dir.path().join("changer.sock");
        let config = dir.path().join("changer.toml");
        std::fs::write(
            &config,
            format!(
                "lock_dir = \"{d}/locks\"\nstate_dir = \"{d}/state\"\nsocket = \"{}\"\nlog_file = \"{d}/changer.log\"\nlog_level = \"debug\"\n{extra}\n[[library]]\ndevice = \"sim:{}\"\n{library_extra}\n",
                socket.display(),
                library.display(),
                d = dir.path().display()
            ),
        )
        .unwrap();
        let log = dir.path().join("changerd.log");
        Daemon {
            dir,
            library,
            config,
            socket,
            log,
            env: Vec::new(),
            child: None,
        }
    }

    /// `sim:<library>`.
    pub fn device(&self) -> String {
        format!("sim:{}", self.library.display())
    }

    /// Starts `changerd` and waits until it answers.
    pub fn start(&mut self) -> &mut Daemon {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_changerd"))
            .arg("--config")
            .arg(&self.config)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("CHANGER_LOG", "info")
            .env_remove("CHANGER_SOCKET")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("LISTEN_FDS")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        self.wait_ready();
        self
    }

    /// Waits until the socket answers a `libraries` request.
    pub fn wait_ready(&mut self) {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "changerd exited with {status} before answering:\n{}",
                    self.log_text()
                );
            }
            if let Ok(a) = self.try_request(RequestBody::Libraries)
                && matches!(a.body, AnswerBody::Libraries { .. })
            {
                return;
            }
            assert!(
                Instant::now() < until,
                "changerd did not answer:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The daemon's process id.
    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.as_ref().expect("started").id()).unwrap()
    }

    /// SIGKILL, and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, and its exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut c = self.child.take().expect("started");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(c.id()).unwrap()),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < until,
                "changerd did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for a daemon that was sent a signal by someone else, and its exit status.
    pub fn terminate_reaped(&mut self) -> ExitStatus {
        let mut c = self.child.take().expect("started");
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < until, "changerd did not stop");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The daemon's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// One request on a fresh connection.
    pub fn try_request(&self, body: RequestBody) -> std::io::Result<Answer> {
        let mut s = UnixStream::connect(&self.socket)?;
        s.set_read_timeout(Some(Duration::from_secs(120)))?;
        s.write_all(&changer_proto::encode(&Request::new(body)))?;
        let mut line = Vec::new();
        BufReader::new(&s).read_until(b'\n', &mut line)?;
        changer_proto::decode_answer(&line).map_err(std::io::Error::other)
    }

    /// One request; panics when there is no answer.
    pub fn request(&self, body: RequestBody) -> AnswerBody {
        self.try_request(body).expect("an answer").body
    }

    /// A Changer Command through the socket: (stdout, stderr, status).
    pub fn bareos(&self, command: BareosCommand) -> (String, String, i32) {
        match self.request(self.bareos_body(command, 60_000)) {
            AnswerBody::Bareos {
                stdout,
                stderr,
                status,
            } => (stdout, stderr, status),
            other => panic!("not a Bareos answer: {other:?}"),
        }
    }

    /// The real `changer` binary with this config (it is built beside `changerd` by
    /// `cargo test --workspace`).
    pub fn changer(&self) -> Command {
        let mut c = Command::new(changer_binary());
        c.env("CHANGER_CONFIG", &self.config)
            .env_remove("CHANGER_SOCKET")
            .env_remove("CHANGER_LOG");
        c
    }

    /// `changer <device> <args…>`.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut all = vec![self.device()];
        all.extend(args.iter().map(|s| s.to_string()));
        self.changer().args(&all).output().unwrap()
    }

    /// The library file now.
    pub fn text(&self) -> String {
        std::fs::read_to_string(&self.library).unwrap()
    }

    /// The library's move journal (the one file in `state_dir`).
    pub fn journal(&self) -> String {
        let mut files = std::fs::read_dir(self.dir.path().join("state"))
            .unwrap()
            .map(|e| e.unwrap().path());
        let file = files.next().expect("a journal");
        assert!(files.next().is_none(), "one library, one journal");
        std::fs::read_to_string(file).unwrap()
    }

    /// A Changer Command request for this library.
    pub fn bareos_body(&self, command: BareosCommand, budget_ms: u64) -> RequestBody {
        RequestBody::Bareos {
            library: LibraryRef {
                device: self.device(),
                serial: None,
            },
            command,
            budget_ms,
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `target/<profile>/changer`, beside `changerd`.
pub fn changer_binary() -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_changerd")).with_file_name("changer");
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (or `cargo build -p changer` first)",
        path.display()
    );
    path
}

/// The library as the simulator holds it, read in this process (no lock of ours is taken:
/// this is the robot's own truth).
pub fn truth(library: &Path) -> scsi_changer::inventory::Inventory {
    let sim = scsi_changer::sim::SimLibrary::open(library).unwrap();
    let mut c = scsi_changer::changer::Changer::new(sim.changer())
        .with_policy(scsi_changer::retry::RetryPolicy::immediate());
    c.inventory(false).unwrap().1
}

/// barcode → element address, for every full element.
pub fn placement(
    inv: &scsi_changer::inventory::Inventory,
) -> std::collections::BTreeMap<String, u16> {
    let mut out = std::collections::BTreeMap::new();
    for e in inv.elements().filter(|e| e.full) {
        let tag = e.barcode().unwrap_or("").to_owned();
        assert!(
            out.insert(tag.clone(), e.address.0).is_none(),
            "barcode {tag} is in two elements"
        );
    }
    out
}

/// The metrics text served on a Unix socket.
pub fn scrape(socket: &Path) -> String {
    let mut s = UnixStream::connect(socket).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut s, &mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    body.to_owned()
}

/// The sum of a metric's samples whose line contains every one of `having`.
pub fn sample_sum(metrics: &str, name: &str, having: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| {
            let rest = &l[name.len()..];
            rest.starts_with('{') || rest.starts_with(' ')
        })
        .filter(|l| having.iter().all(|h| l.contains(h)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// SCSI commands the daemon has sent, of one opcode (`"B8h"`) or all (`""`).
pub fn scsi_commands(metrics: &str, opcode: &str) -> f64 {
    sample_sum(
        metrics,
        "changer_scsi_command_duration_seconds_count",
        &[&format!("opcode=\"{opcode}")],
    )
}

/// The environment every AWS client in the tests gets (contract C7): static dummy credentials,
/// no instance-metadata lookups, no profile files of the machine's user.
pub fn aws_test_env(dir: &Path) -> Vec<(String, String)> {
    [
        ("AWS_ACCESS_KEY_ID", "AKIDTEST".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test-secret".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        (
            "AWS_CONFIG_FILE",
            dir.join("no-aws-config").display().to_string(),
        ),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.join("no-aws-credentials").display().to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The project's Storage Gateway emulator (the `sgw-emulator` binary built beside `changerd`),
/// on 127.0.0.1 and an ephemeral port.
pub struct Emulator {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    port: u16,
    /// Its log.
    pub log: PathBuf,
}

/// The emulated gateway's ARN (the emulator's default).
pub const GATEWAY_ARN: &str = "arn:aws:storagegateway:us-east-1:111122223333:gateway/sgw-12A3456B";

impl Emulator {
    /// Starts `sgw-emulator ARGS…` and waits until it listens.
    pub fn start(dir: &Path, args: &[&str]) -> Emulator {
        let binary = Path::new(env!("CARGO_BIN_EXE_changerd")).with_file_name("sgw-emulator");
        assert!(
            binary.exists(),
            "{} is missing: run the tests with `cargo test --workspace`",
            binary.display()
        );
        let port_file = dir.join(format!("emulator-{}.port", std::process::id()));
        let _ = std::fs::remove_file(&port_file);
        let log = dir.join("emulator.log");
        let child = Command::new(binary)
            .arg("--port-file")
            .arg(&port_file)
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let until = Instant::now() + Duration::from_secs(30);
        let port = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file)
                && text.ends_with('\n')
            {
                break text.trim().parse::<u16>().unwrap();
            }
            assert!(
                Instant::now() < until,
                "sgw-emulator did not start: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Emulator {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            log,
        }
    }

    /// A raw awsJson1_1 call (`target` like `SgwEmulator.SetFaults`): status and JSON body.
    pub fn call(&self, target: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        use std::io::Read;
        let body = body.to_string();
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(
            s,
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: {target}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let (head, rest) = text.split_once("\r\n\r\n").expect("an HTTP answer");
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        // A chunked answer: take the JSON between the first `{` and the last `}`.
        let json = match (rest.find('{'), rest.rfind('}')) {
            (Some(a), Some(b)) => &rest[a..=b],
            _ => "null",
        };
        (
            status,
            serde_json::from_str(json).unwrap_or(serde_json::Value::Null),
        )
    }

    /// A control operation (`SetFaults`, `Eject`, `Calls`, `State`).
    pub fn control(&self, op: &str, body: serde_json::Value) -> serde_json::Value {
        let (status, json) = self.call(&format!("SgwEmulator.{op}"), body);
        assert_eq!(status, 200, "SgwEmulator.{op}: {json}");
        json
    }

    /// AWS operations answered so far, per operation.
    pub fn calls(&self) -> std::collections::BTreeMap<String, u64> {
        let json = self.control("Calls", serde_json::json!({}));
        json["Calls"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` every 50 ms until it returns `Some`, for at most `secs` seconds.
pub fn eventually<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < until, "not within {secs} s: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
