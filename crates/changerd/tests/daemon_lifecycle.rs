//! Life cycle: SIGTERM during a move lets it finish and answers its client, refuses the work
//! queued behind it, and exits 0; systemd's Type=notify (READY=1 after the first inventory,
//! STATUS= lines, STOPPING=1) and socket activation (LISTEN_FDS) work without systemd as
//! PID 1: `systemd-socket-activate` passes the socket, a datagram socket of the test's plays
//! NOTIFY_SOCKET.

mod common;
use common::*;

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use changer_proto::{AnswerBody, BareosCommand, ErrorKind, RequestBody};

const LIBRARY: &str = ONE_DRIVE_FOUR_SLOTS;

fn load_request(d: &Daemon) -> RequestBody {
    d.bareos_body(
        BareosCommand::Load {
            slot: 1,
            drive: 0,
            archive_device: "/dev/nst0".into(),
        },
        60_000,
    )
}

#[test]
fn sigterm_finishes_the_move_refuses_the_queue_and_exits_0() {
    // A move longer than the 10 s an answer's write is given: the stop waits for the robot,
    // whatever it takes, and its client is answered.
    let mut d = Daemon::new(&format!("# sim: move-delay ms=12000\n{LIBRARY}"), "", "");
    d.start();
    std::thread::scope(|s| {
        let mover = s.spawn(|| d.request(load_request(&d)));
        std::thread::sleep(Duration::from_millis(300));
        let queued = s
            .spawn(|| d.request(d.bareos_body(BareosCommand::Transfer { from: 2, to: 3 }, 60_000)));
        std::thread::sleep(Duration::from_millis(200));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(d.pid()),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        assert_eq!(
            mover.join().unwrap(),
            AnswerBody::Bareos {
                stdout: "Loading media from Storage Element 1 into drive 0...done\n".into(),
                stderr: String::new(),
                status: 0
            }
        );
        match queued.join().unwrap() {
            AnswerBody::Error {
                kind: ErrorKind::ShuttingDown,
                ..
            } => {}
            other => panic!("queued work: {other:?}"),
        }
    });
    assert!(d.terminate_reaped().success(), "{}", d.log_text());
    let text = d.text();
    assert!(
        text.contains("Data Transfer Element 0:Full (Storage Element 1 Loaded)"),
        "{text}"
    );
    assert!(
        text.contains("Storage Element 2:Full"),
        "the queued transfer was not made"
    );
    assert!(!d.socket.exists(), "the socket file is removed on exit");
}

/// Datagrams received within `wait`, as text.
fn notifications(
    sock: &UnixDatagram,
    until: impl Fn(&[String]) -> bool,
    wait: Duration,
) -> Vec<String> {
    let mut got = Vec::new();
    let end = Instant::now() + wait;
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while Instant::now() < end && !until(&got) {
        if let Ok(n) = sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    got
}

#[test]
fn systemd_notify_and_socket_activation_work_without_systemd() {
    let d = Daemon::new(LIBRARY, "", "");
    let notify_path = d.dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    let activated = d.dir.path().join("activated.sock");
    let log = std::fs::File::create(&d.log).unwrap();
    let Ok(mut child) = Command::new("systemd-socket-activate")
        .arg("-l")
        .arg(&activated)
        .arg("-E")
        .arg("CHANGER_LOG=info")
        .arg("-E")
        .arg(format!("NOTIFY_SOCKET={}", notify_path.display()))
        .arg(env!("CARGO_BIN_EXE_changerd"))
        .arg("--config")
        .arg(&d.config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
    else {
        panic!(
            "systemd-socket-activate is missing: install the systemd package (tests/rig/packages.txt)"
        );
    };
    // The first connection starts the daemon, which inherits the listening socket.
    let config = changer::config::Config {
        socket: activated.clone(),
        ..Default::default()
    };
    let until = Instant::now() + Duration::from_secs(30);
    let answer = loop {
        match changer::client::request(
            &config,
            RequestBody::Libraries,
            Instant::now() + Duration::from_secs(20),
        ) {
            Ok(a) => break a,
            Err(e) => {
                assert!(
                    Instant::now() < until,
                    "no answer on the activated socket: {e}\n{}",
                    d.log_text()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    match answer.body {
        AnswerBody::Libraries { libraries } => assert_eq!(libraries.len(), 1),
        other => panic!("{other:?}"),
    }
    let got = notifications(
        &notify,
        |g| g.iter().any(|m| m.contains("READY=1")),
        Duration::from_secs(10),
    );
    let ready = got
        .iter()
        .position(|m| m.contains("READY=1"))
        .unwrap_or_else(|| panic!("no READY=1 in {got:?}"));
    assert!(got[ready].contains("STATUS=serving 1 library"), "{got:?}");
    assert!(
        got[..ready]
            .iter()
            .any(|m| m.contains("STATUS=opening sim:")),
        "a STATUS before READY: {got:?}"
    );
    assert!(
        d.log_text()
            .contains("listening on the socket passed by the service manager"),
        "{}",
        d.log_text()
    );
    // A Changer Command through the activated socket.
    let out = d
        .changer()
        .env("CHANGER_SOCKET", &activated)
        .args([&d.device(), "slots"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "4\n");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}: {}", d.log_text());
    let got = notifications(
        &notify,
        |g| g.iter().any(|m| m.contains("STOPPING=1")),
        Duration::from_secs(5),
    );
    assert!(got.iter().any(|m| m.contains("STOPPING=1")), "{got:?}");
}
