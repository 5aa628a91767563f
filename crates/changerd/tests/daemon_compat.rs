//! The compatibility corpus with `changer` going through `changerd`: for every invocation a
//! daemon owns a fresh copy of the case's library, and Bareos must see the same bytes and
//! exit status as from the stock script (or the same documented fix) — and the daemon must
//! really have answered.

mod common;

#[path = "../../changer/tests/corpus/mod.rs"]
mod corpus;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts a daemon on the invocation's library; `None` when the case has no library (the
/// daemon then has nothing to serve and `changer` works directly).
fn daemon(inv: &corpus::Invocation<'_>, socket: &std::path::Path) -> Option<std::process::Child> {
    if !inv.library.exists() {
        return None;
    }
    let config = std::fs::read_to_string(inv.config).unwrap();
    std::fs::write(
        inv.config,
        format!(
            "{config}state_dir = \"{d}/state\"\nsocket = \"{}\"\nlog_file = \"{d}/changer.log\"\nlog_level = \"debug\"\n[[library]]\ndevice = \"sim:{}\"\n",
            socket.display(),
            inv.library.display(),
            d = inv.dir.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_changerd"))
        .arg("--config")
        .arg(inv.config)
        .env_remove("CHANGER_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    while std::os::unix::net::UnixStream::connect(socket).is_err() {
        assert!(child.try_wait().unwrap().is_none(), "changerd exited");
        assert!(Instant::now() < until, "changerd did not listen");
        std::thread::sleep(Duration::from_millis(10));
    }
    Some(child)
}

#[test]
fn every_corpus_case_answers_alike_through_the_daemon() {
    let changer = common::changer_binary();
    let through_daemon = std::cell::Cell::new(0);
    corpus::assert_all_match(&|inv| {
        let socket = inv.dir.join("changer.sock");
        let child = daemon(inv, &socket);
        let out = Command::new(&changer)
            .args(inv.args)
            .env("CHANGER_CONFIG", inv.config)
            .env_remove("CHANGER_SOCKET")
            .output()
            .unwrap();
        if let Some(mut child) = child {
            let log = std::fs::read_to_string(inv.dir.join("changer.log")).unwrap_or_default();
            assert!(
                log.contains("answered by changerd"),
                "{:?}: the daemon did not answer:\n{log}",
                inv.args
            );
            through_daemon.set(through_daemon.get() + 1);
            let _ = child.kill();
            let _ = child.wait();
        }
        out
    });
    assert!(
        through_daemon.get() >= 40,
        "only {} invocations went through the daemon",
        through_daemon.get()
    );
}
