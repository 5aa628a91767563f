//! The socket protocol, black box: malformed, oversized, unknown and future-version requests
//! get an error and their connection closes while the daemon goes on; a library the daemon
//! does not own is answered `not_owned` (and `changer` then works directly); a client that
//! leaves in the middle of a move does not stop it, and its outcome is journalled.

mod common;
use common::*;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use changer_proto::{AnswerBody, BareosCommand, ErrorKind, LibraryRef, RequestBody};

const LIBRARY: &str = ONE_DRIVE_FOUR_SLOTS;

/// Sends raw bytes; returns the answer line (if any) and whether the daemon then closed.
fn raw(d: &Daemon, bytes: &[u8]) -> (String, bool) {
    let mut s = UnixStream::connect(&d.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // A peer that closes early may reset the rest of a long write: the answer is what counts.
    let _ = s.write_all(bytes);
    let mut reader = BufReader::new(s);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let mut rest = Vec::new();
    // Closed: end of file, or a reset when unread bytes were still queued on the daemon's side.
    let closed = match reader.read_to_end(&mut rest) {
        Ok(n) => n == 0,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    (line, closed)
}

fn error_kind(line: &str) -> ErrorKind {
    match changer_proto::decode_answer(line.as_bytes()).unwrap().body {
        AnswerBody::Error { kind, .. } => kind,
        other => panic!("not an error: {other:?}"),
    }
}

#[test]
fn bad_requests_get_an_error_and_a_closed_connection_and_the_daemon_goes_on() {
    let mut d = Daemon::new(LIBRARY, "", "");
    d.start();
    let long = format!(
        "{{\"v\":1,\"op\":\"libraries\",\"pad\":\"{}\"}}\n",
        "x".repeat(70_000)
    );
    let cases: &[(&str, &[u8], ErrorKind)] = &[
        ("not json", b"hello daemon\n", ErrorKind::BadRequest),
        (
            "unknown op",
            b"{\"v\":1,\"op\":\"format_all_tapes\"}\n",
            ErrorKind::BadRequest,
        ),
        (
            "missing field",
            b"{\"v\":1,\"op\":\"bareos\"}\n",
            ErrorKind::BadRequest,
        ),
        (
            "future version",
            b"{\"v\":9,\"op\":\"libraries\"}\n",
            ErrorKind::UnsupportedVersion,
        ),
        ("binary", b"\xff\xfe\x00\x01\n", ErrorKind::BadRequest),
        ("oversized", long.as_bytes(), ErrorKind::BadRequest),
    ];
    for (name, bytes, kind) in cases {
        let (line, closed) = raw(&d, bytes);
        assert_eq!(error_kind(&line), *kind, "{name}: {line}");
        assert!(closed, "{name}: the connection stays open");
        // The daemon still serves.
        assert_eq!(d.bareos(BareosCommand::Slots).0, "4\n", "after {name}");
    }
    // Several requests on one connection are answered in order.
    let mut s = UnixStream::connect(&d.socket).unwrap();
    for body in [RequestBody::Libraries, RequestBody::Libraries] {
        s.write_all(&changer_proto::encode(&changer_proto::Request::new(body)))
            .unwrap();
    }
    let mut r = BufReader::new(s);
    for _ in 0..2 {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert!(line.contains("\"answer\":\"libraries\""), "{line}");
    }
    assert!(d.terminate().success());
}

#[test]
fn a_library_the_daemon_does_not_own_is_worked_directly() {
    let mut d = Daemon::new(LIBRARY, "", "");
    d.start();
    let other = d.dir.path().join("other.txt");
    std::fs::write(&other, LIBRARY.replace("TAPE0", "OTHR0")).unwrap();
    let answer = d.request(RequestBody::Bareos {
        library: LibraryRef {
            device: format!("sim:{}", other.display()),
            serial: Some("NOT-THIS-ONE".into()),
        },
        command: BareosCommand::Slots,
        budget_ms: 1000,
    });
    assert!(
        matches!(
            answer,
            AnswerBody::Error {
                kind: ErrorKind::NotOwned,
                ..
            }
        ),
        "{answer:?}"
    );
    // `changer` on the other library falls back to direct mode and answers.
    let out = d
        .changer()
        .args([&format!("sim:{}", other.display()), "list"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "1:OTHR01L6\n2:OTHR02L6\n"
    );
    // The daemon's own library, named by a symlink, is still the daemon's (matched by serial).
    let link = d.dir.path().join("link.txt");
    std::os::unix::fs::symlink(&d.library, &link).unwrap();
    let out = d
        .changer()
        .args([&format!("sim:{}", link.display()), "slots"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "4\n");
    let log = std::fs::read_to_string(d.dir.path().join("changer.log")).unwrap();
    assert!(
        log.contains("does not own this library; working directly"),
        "{log}"
    );
    assert!(log.contains("answered by changerd"), "{log}");
}

#[test]
fn a_client_that_leaves_mid_move_does_not_stop_it() {
    let mut d = Daemon::new(&format!("# sim: move-delay ms=600\n{LIBRARY}"), "", "");
    d.start();
    let request = changer_proto::Request::new(d.bareos_body(
        BareosCommand::Load {
            slot: 1,
            drive: 0,
            archive_device: "/dev/nst0".into(),
        },
        60_000,
    ));
    let mut s = UnixStream::connect(&d.socket).unwrap();
    s.write_all(&changer_proto::encode(&request)).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    drop(s);
    // The next request waits for the move; then the drive holds the tape.
    let (out, _, status) = d.bareos(BareosCommand::Loaded {
        drive: 0,
        archive_device: "/dev/nst0".into(),
    });
    assert_eq!((out.as_str(), status), ("1\n", 0));
    let journal = d.journal();
    assert!(
        journal.contains("\"event\":\"intent\"") && journal.contains("\"result\":\"ok\""),
        "{journal}"
    );
    assert!(
        d.log_text()
            .contains("the client left before its answer was written"),
        "{}",
        d.log_text()
    );
}

#[test]
fn a_direct_changer_refuses_at_once_while_the_daemon_keeps_the_library() {
    let mut d = Daemon::new(LIBRARY, "", "");
    d.start();
    let started = std::time::Instant::now();
    let out = d
        .changer()
        .env("CHANGER_SOCKET", d.dir.path().join("nobody-here.sock"))
        .args([&d.device(), "load", "1", "/dev/nst0", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(started.elapsed() < Duration::from_secs(10));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("belongs to changerd"), "{text}");
    assert!(d.text().contains("Storage Element 1:Full"), "nothing moved");
}

#[test]
fn a_request_that_waits_out_its_budget_is_answered_busy_and_never_run() {
    let mut d = Daemon::new(&format!("# sim: move-delay ms=1500\n{LIBRARY}"), "", "");
    d.start();
    let load = d.bareos_body(
        BareosCommand::Load {
            slot: 1,
            drive: 0,
            archive_device: "/dev/nst0".into(),
        },
        60_000,
    );
    std::thread::scope(|s| {
        let mover = s.spawn(|| d.request(load.clone()));
        std::thread::sleep(Duration::from_millis(200));
        let started = std::time::Instant::now();
        let queued = d.request(d.bareos_body(BareosCommand::Transfer { from: 2, to: 3 }, 300));
        let waited = started.elapsed();
        assert!(
            matches!(&queued, AnswerBody::Error { kind: ErrorKind::Busy, message } if message.contains("nothing was done")),
            "{queued:?}"
        );
        assert!(
            waited < Duration::from_millis(1000),
            "answered after {waited:?}, not at its budget"
        );
        assert!(matches!(
            mover.join().unwrap(),
            AnswerBody::Bareos { status: 0, .. }
        ));
    });
    // The transfer that was given up never ran, even after the robot became free.
    std::thread::sleep(Duration::from_millis(300));
    // Slot 2 still holds its tape; drive 0 holds slot 1's.
    assert_eq!(d.bareos(BareosCommand::List).0, "2:TAPE02L6\n1:TAPE01L6\n");
    assert!(
        d.text().contains("Storage Element 2:Full") && d.text().contains("Storage Element 3:Empty")
    );
}

#[test]
fn a_library_named_twice_is_served_once_and_the_twin_refused_at_once() {
    let mut d = Daemon::new(LIBRARY, "", "");
    let link = d.dir.path().join("twin.txt");
    std::os::unix::fs::symlink(&d.library, &link).unwrap();
    let config = std::fs::read_to_string(&d.config).unwrap();
    std::fs::write(
        &d.config,
        format!(
            "{config}\n[[library]]\ndevice = \"sim:{}\"\n",
            link.display()
        ),
    )
    .unwrap();
    let started = std::time::Instant::now();
    d.start();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the twin waited for the lock"
    );
    match d.request(RequestBody::Libraries) {
        AnswerBody::Libraries { libraries } => assert_eq!(libraries.len(), 1, "{libraries:?}"),
        other => panic!("{other:?}"),
    }
    assert!(
        d.log_text().contains("name each library once"),
        "{}",
        d.log_text()
    );
    assert_eq!(d.bareos(BareosCommand::Slots).0, "4\n");
}
