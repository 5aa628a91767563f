//! The `sgw-emulator` binary: its command line, the port file, loopback only, and a clean stop
//! on SIGTERM.

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};

use common::{aws, wait_for};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_sgw-emulator");

/// A child killed if the test fails before it ends.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn help_documents_every_option() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for option in [
        "--listen",
        "--port-file",
        "--gateway-arn",
        "--region",
        "--library",
        "--seed-from-library",
        "--tape",
        "--new-barcodes",
        "--transit-ms",
        "--archiving-ms",
        "--retrieving-ms",
        "--creating-ms",
        "--poll-ms",
        "SetFaults",
        "Eject",
        "Calls",
        "State",
    ] {
        assert!(help.contains(option), "--help does not mention {option}");
    }
}

#[test]
fn port_file_then_requests_then_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let port_file = dir.path().join("port");
    let mut child = Reaped(
        Command::new(BIN)
            .args([
                "--tape",
                "AB00001",
                "--tape",
                "AB00002=ARCHIVED",
                "--port-file",
            ])
            .arg(&port_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the port file", || port_file.exists());
    let text = std::fs::read_to_string(&port_file).unwrap();
    assert!(text.ends_with('\n'), "{text:?}");
    let port: u16 = text.trim().parse().unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let tapes = aws(addr, "ListTapes", json!({})).ok();
    assert_eq!(tapes["TapeInfos"].as_array().unwrap().len(), 2);
    let killed = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn refusals_say_why() {
    // (arguments, exit code, stderr says)
    let cases: &[(&[&str], i32, &str)] = &[
        (&["--listen", "0.0.0.0:0"], 1, "loopback"),
        (&["--gateway-arn", "sgw-12A3456B"], 1, "gateway ARN"),
        (
            &["--library", "/nonexistent/library.txt"],
            1,
            "/nonexistent/library.txt",
        ),
        (&["--tape", "ab1"], 2, "5 to 16 characters"),
        (&["--tape", "AB00001=CREATING"], 2, "AVAILABLE, ARCHIVED"),
        (&["--new-barcodes", "AB00001,ab2"], 2, "5 to 16 characters"),
        (&["--seed-from-library"], 2, "--library"),
        (&["--poll-ms", "0"], 2, "--poll-ms"),
    ];
    for (args, code, says) in cases {
        let out = Command::new(BIN).args(*args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

#[test]
fn new_barcodes_from_the_command_line_are_handed_out_by_create_tapes() {
    let dir = tempfile::tempdir().unwrap();
    let port_file = dir.path().join("port");
    let _child = Reaped(
        Command::new(BIN)
            .args([
                "--new-barcodes",
                "XY00001,AB00001",
                "--new-barcodes",
                "AB00002",
            ])
            .arg("--port-file")
            .arg(&port_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the port file", || port_file.exists());
    let port: u16 = std::fs::read_to_string(&port_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let created = aws(
        addr,
        "CreateTapes",
        json!({
            "GatewayARN": sgw_emulator::DEFAULT_GATEWAY_ARN, "TapeSizeInBytes": 100u64 << 30,
            "ClientToken": "cli-new-barcodes", "NumTapesToCreate": 3, "TapeBarcodePrefix": "AB"
        }),
    )
    .ok();
    let barcodes: Vec<&str> = created["TapeARNs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().rsplit('/').next().unwrap())
        .collect();
    assert_eq!(barcodes, ["AB00001", "AB00002", "XY00001"]);
}
