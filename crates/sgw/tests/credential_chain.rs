//! `Gateway::connect` takes its credentials from the standard AWS chain.
//!
//! The chain reads the process environment, and setting variables inside a running test
//! process races with the other test threads (and is `unsafe` in Rust 2024). So each test runs
//! its check in a child: this same test binary, started with `--exact <test>` and an
//! environment built from nothing (`env_clear`), which the child's copy of the test sees as
//! `SGW_CHAIN_CHILD=1`. The endpoint is a one-shot HTTP stub on 127.0.0.1, and instance
//! metadata is disabled, so nothing leaves the machine (contract C7).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sgw::{Error, Gateway, GatewaySettings};

const CHILD: &str = "SGW_CHAIN_CHILD";
const GATEWAY: &str = "arn:aws:storagegateway:us-east-1:111122223333:gateway/sgw-12A3456B";

/// Runs `test` of this binary in a child with exactly `env` (plus the child marker and the
/// variables that keep the host's AWS files and instance metadata out) and asserts it passed.
fn in_child(test: &str, env: &[(&str, &str)]) {
    let output = Command::new(std::env::current_exe().expect("test binary path"))
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env_clear()
        .env(CHILD, "1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/sgw-test/config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/sgw-test/credentials",
        )
        .envs(env.iter().copied())
        .output()
        .expect("run the test binary again");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child {test} failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
}

fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// Answers one HTTP request with `{"Tapes":[]}` and sends its `authorization` header; counts
/// connections on `connections`.
fn stub() -> (String, mpsc::Receiver<String>, mpsc::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let endpoint = format!("http://{}", listener.local_addr().expect("local address"));
    let (headers_tx, headers) = mpsc::channel();
    let (connections_tx, connections) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let _ = connections_tx.send(());
        let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
        let (mut authorization, mut length) = (String::new(), 0usize);
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                match name.to_ascii_lowercase().as_str() {
                    "authorization" => authorization = value.trim().to_owned(),
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        let _ = reader.read_exact(&mut body);
        let json = r#"{"Tapes":[]}"#;
        let mut stream = stream;
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\n\
             x-amzn-requestid: 00000000-0000-0000-0000-000000000000\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{json}",
            json.len()
        );
        let _ = headers_tx.send(authorization);
    });
    (endpoint, headers, connections)
}

fn settings(endpoint: &str) -> GatewaySettings {
    GatewaySettings {
        gateway_arn: GATEWAY.into(),
        region: "us-east-1".into(),
        endpoint_url: Some(endpoint.into()),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

#[test]
fn keys_in_the_environment_sign_the_request() {
    if !is_child() {
        return in_child(
            "keys_in_the_environment_sign_the_request",
            &[
                ("AWS_ACCESS_KEY_ID", "AKIDCHAINTEST"),
                ("AWS_SECRET_ACCESS_KEY", "dummy-secret"),
            ],
        );
    }
    let (endpoint, authorization, _) = stub();
    runtime().block_on(async {
        let gateway = Gateway::connect(&settings(&endpoint), None)
            .await
            .expect("connect");
        let tapes = gateway
            .describe_tapes(&[])
            .await
            .expect("DescribeTapes through the stub");
        assert!(tapes.is_empty());
    });
    let authorization = authorization
        .recv_timeout(Duration::from_secs(5))
        .expect("a request");
    assert!(
        authorization.contains("Credential=AKIDCHAINTEST/")
            && authorization.contains("/us-east-1/storagegateway/"),
        "{authorization}"
    );
}

#[test]
fn no_credentials_fail_at_once_without_a_request() {
    if !is_child() {
        return in_child("no_credentials_fail_at_once_without_a_request", &[]);
    }
    let (endpoint, _, connections) = stub();
    let started = Instant::now();
    let error = runtime().block_on(async {
        let gateway = Gateway::connect(&settings(&endpoint), None)
            .await
            .expect("connect");
        gateway
            .list_tapes(&[])
            .await
            .expect_err("no credentials anywhere")
    });
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        matches!(
            error,
            Error::Credentials {
                operation: "ListTapes",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("AWS_ACCESS_KEY_ID"), "{error}");
    assert!(
        connections.try_recv().is_err(),
        "a request was sent without credentials"
    );
}
