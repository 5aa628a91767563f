//! Helpers for the emulator's tests: raw HTTP/1.1 over a std `TcpStream` (so the tests see
//! the wire exactly, without an SDK), and polling for a state with a generous timeout.
#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sgw_emulator::{DEFAULT_GATEWAY_ARN, Delays, Emulator, Options, Running};

pub const GATEWAY: &str = DEFAULT_GATEWAY_ARN;
pub const GIB: u64 = 1 << 30;

/// How long a test waits for a state before failing: far beyond any delay the tests set, so a
/// slow or loaded machine does not make them flaky.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// One HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `__type` of an error answer.
    pub fn error_type(&self) -> &str {
        self.body["__type"].as_str().unwrap_or("")
    }

    /// `error.errorCode` of an error answer.
    pub fn error_code(&self) -> &str {
        self.body["error"]["errorCode"].as_str().unwrap_or("")
    }

    /// Panics unless the answer is 200.
    pub fn ok(self) -> Value {
        assert_eq!(self.status, 200, "{:?}", self.body);
        self.body
    }
}

/// Sends one raw request (`Connection: close`) and reads the whole answer.
pub fn raw(addr: SocketAddr, method: &str, path: &str, target: Option<&str>, body: &str) -> Reply {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-amz-json-1.1\r\n\
         Content-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if let Some(t) = target {
        request.push_str(&format!("X-Amz-Target: {t}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    parse_reply(&answer)
}

pub fn parse_reply(answer: &[u8]) -> Reply {
    let text = String::from_utf8(answer.to_vec()).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    Reply {
        status,
        headers,
        body,
    }
}

/// An AWS operation.
pub fn aws(addr: SocketAddr, op: &str, body: Value) -> Reply {
    raw(
        addr,
        "POST",
        "/",
        Some(&format!("StorageGateway_20130630.{op}")),
        &body.to_string(),
    )
}

/// A control operation.
pub fn control(addr: SocketAddr, op: &str, body: Value) -> Reply {
    raw(
        addr,
        "POST",
        "/",
        Some(&format!("SgwEmulator.{op}")),
        &body.to_string(),
    )
}

/// An emulator with these seed tapes and delays, no library.
pub fn start(tapes: &[&str], delays: Delays) -> Running {
    Emulator::start(Options {
        tapes: tapes.iter().map(|t| t.parse().unwrap()).collect(),
        delays,
        poll: Duration::from_millis(10),
        ..Options::default()
    })
    .unwrap()
}

pub fn tape_arn(barcode: &str) -> String {
    format!("arn:aws:storagegateway:us-east-1:111122223333:tape/{barcode}")
}

/// The status of `barcode` as ListTapes reports it (`None`: not listed).
pub fn status(addr: SocketAddr, barcode: &str) -> Option<String> {
    let body = aws(
        addr,
        "ListTapes",
        json!({ "TapeARNs": [tape_arn(barcode)] }),
    )
    .ok();
    body["TapeInfos"]
        .as_array()
        .unwrap()
        .first()
        .map(|t| t["TapeStatus"].as_str().unwrap().to_owned())
}

/// Polls `f` until it is true; panics after [`PATIENCE`], saying what was awaited.
pub fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until `barcode` has `status`.
pub fn wait_for_status(addr: SocketAddr, barcode: &str, want: &str) {
    wait_for(&format!("{barcode} to be {want}"), || {
        status(addr, barcode).as_deref() == Some(want)
    });
}

/// Every page of a paginated operation, following Marker with `limit`; the items of
/// `member` and the number of calls made.
pub fn all_pages(
    addr: SocketAddr,
    op: &str,
    base: Value,
    member: &str,
    limit: i64,
) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut marker: Option<String> = None;
    let mut calls = 0;
    loop {
        let mut body = base.clone();
        body["Limit"] = json!(limit);
        if let Some(m) = &marker {
            body["Marker"] = json!(m);
        }
        let page = aws(addr, op, body).ok();
        calls += 1;
        let got = page[member].as_array().unwrap();
        assert!(got.len() <= usize::try_from(limit).unwrap());
        items.extend(got.iter().cloned());
        match page.get("Marker").and_then(Value::as_str) {
            Some(m) => {
                assert!(!got.is_empty(), "a page with a Marker holds something");
                marker = Some(m.to_owned());
            }
            None => break,
        }
        assert!(calls < 10_000, "pagination does not end");
    }
    (items, calls)
}
