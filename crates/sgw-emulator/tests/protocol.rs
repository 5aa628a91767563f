//! The wire (aws-sgw.md §3): routing on X-Amz-Target, the response headers, the error shapes
//! and status codes, input validation, and the injected faults.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{GATEWAY, GIB, aws, control, raw, start, tape_arn};
use serde_json::{Value, json};
use sgw_emulator::{Delays, Emulator, Options, StartError};

#[test]
fn success_is_json_1_1_with_a_request_id() {
    let emu = start(&["AB00001"], Delays::ZERO);
    let a = aws(emu.addr(), "ListTapes", json!({}));
    let b = aws(emu.addr(), "ListTapes", json!({}));
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-type"), Some("application/x-amz-json-1.1"));
    let (ida, idb) = (
        a.header("x-amzn-requestid").unwrap(),
        b.header("x-amzn-requestid").unwrap(),
    );
    assert_eq!(ida.len(), 36, "UUID-shaped: {ida}");
    assert_ne!(ida, idb, "every request has its own id");
}

#[test]
fn errors_carry_a_request_id_and_json_content_type() {
    let emu = start(&[], Delays::ZERO);
    let r = aws(emu.addr(), "DescribeTapes", json!({}));
    assert_eq!(r.status, 400);
    assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.1"));
    assert!(r.header("x-amzn-requestid").is_some());
}

#[test]
fn routing_on_x_amz_target() {
    let emu = start(&[], Delays::ZERO);
    let addr = emu.addr();
    // (method, path, target, status, __type)
    let cases: &[(&str, &str, Option<&str>, u16, &str)] = &[
        (
            "POST",
            "/",
            Some("StorageGateway_20130630.ListGateways"),
            200,
            "",
        ),
        (
            "POST",
            "/",
            Some("StorageGateway_20130630.NoSuchOperation"),
            400,
            "UnknownOperationException",
        ),
        // The typo in AWS's user guide (20120630) is not the service's prefix.
        (
            "POST",
            "/",
            Some("StorageGateway_20120630.ListGateways"),
            400,
            "UnknownOperationException",
        ),
        (
            "POST",
            "/",
            Some("ListGateways"),
            400,
            "UnknownOperationException",
        ),
        ("POST", "/", None, 400, "UnknownOperationException"),
        (
            "POST",
            "/",
            Some("SgwEmulator.NoSuchControl"),
            400,
            "UnknownOperationException",
        ),
        (
            "GET",
            "/",
            Some("StorageGateway_20130630.ListGateways"),
            400,
            "UnknownOperationException",
        ),
        (
            "POST",
            "/other",
            Some("StorageGateway_20130630.ListGateways"),
            400,
            "UnknownOperationException",
        ),
    ];
    for (method, path, target, status, kind) in cases {
        let r = raw(addr, method, path, *target, "{}");
        assert_eq!(
            r.status, *status,
            "{method} {path} {target:?}: {:?}",
            r.body
        );
        if !kind.is_empty() {
            assert_eq!(r.error_type(), *kind, "{method} {path} {target:?}");
            assert!(r.body["message"].is_string());
        }
    }
}

#[test]
fn the_body_is_parsed_as_json_not_compared_as_text() {
    let emu = start(&["AB00001", "AB00002"], Delays::ZERO);
    let addr = emu.addr();
    // Members in any order, spacing, unknown members ignored.
    let bodies = [
        r#"{"Limit":1,"TapeARNs":[]}"#,
        r#"{ "TapeARNs" : [ ] , "Limit" : 1 , "SomethingNew": true }"#,
    ];
    for body in bodies {
        let r = raw(
            addr,
            "POST",
            "/",
            Some("StorageGateway_20130630.ListTapes"),
            body,
        );
        assert_eq!(r.status, 200, "{body}");
        assert_eq!(r.body["TapeInfos"].as_array().unwrap().len(), 1, "{body}");
    }
    // No body at all reads as {}.
    let r = raw(
        addr,
        "POST",
        "/",
        Some("StorageGateway_20130630.ListGateways"),
        "",
    );
    assert_eq!(r.status, 200);
}

#[test]
fn unreadable_bodies_are_serialization_errors() {
    let emu = start(&[], Delays::ZERO);
    let cases = [
        ("{not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        (r#"{"Limit": "ten"}"#, "invalid type"),
        (r#"{"TapeARNs": "arn"}"#, "invalid type"),
    ];
    for (body, says) in cases {
        let r = raw(
            emu.addr(),
            "POST",
            "/",
            Some("StorageGateway_20130630.ListTapes"),
            body,
        );
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.error_type(), "SerializationException", "{body}");
        let message = r.body["message"].as_str().unwrap();
        assert!(message.contains(says), "{body}: {message}");
    }
}

#[test]
fn modeled_errors_have_the_aws_shape() {
    let emu = start(&[], Delays::ZERO);
    let other = GATEWAY.replace("sgw-12A3456B", "sgw-99999999");
    let r = aws(emu.addr(), "DescribeTapes", json!({ "GatewayARN": other }));
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body,
        json!({
            "__type": "InvalidGatewayRequestException",
            "message": "The specified gateway was not found.",
            "error": { "errorCode": "GatewayNotFound" }
        })
    );
}

/// (operation, body, member named in the message)
fn invalid_inputs() -> Vec<(&'static str, Value, &'static str)> {
    let create = |patch: Value| {
        let mut b = json!({
            "GatewayARN": GATEWAY, "TapeSizeInBytes": 100 * GIB, "ClientToken": "token-1",
            "NumTapesToCreate": 1, "TapeBarcodePrefix": "AB"
        });
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                b.as_object_mut().unwrap().remove(k);
            } else {
                b[k] = v.clone();
            }
        }
        b
    };
    vec![
        ("DescribeTapes", json!({}), "'gatewayARN'"),
        (
            "DescribeTapes",
            json!({"GatewayARN": "arn:short"}),
            "'gatewayARN'",
        ),
        (
            "DescribeTapes",
            json!({"GatewayARN": GATEWAY, "Limit": 0}),
            "'limit'",
        ),
        (
            "DescribeTapes",
            json!({"GatewayARN": GATEWAY, "Marker": ""}),
            "'marker'",
        ),
        (
            "ListTapes",
            json!({"TapeARNs": ["arn:aws:storagegateway:us-east-1:111122223333:tape/ab12345"]}),
            "'tapeARNs.1.member'",
        ),
        (
            "CreateTapes",
            create(json!({"TapeBarcodePrefix": "ABCDE"})),
            "'tapeBarcodePrefix'",
        ),
        (
            "CreateTapes",
            create(json!({"TapeBarcodePrefix": "A1"})),
            "regular expression pattern: ^[A-Z]*$",
        ),
        (
            "CreateTapes",
            create(json!({"TapeBarcodePrefix": ""})),
            "'tapeBarcodePrefix'",
        ),
        (
            "CreateTapes",
            create(json!({"NumTapesToCreate": 0})),
            "'numTapesToCreate'",
        ),
        (
            "CreateTapes",
            create(json!({"NumTapesToCreate": 11})),
            "less than or equal to 10",
        ),
        (
            "CreateTapes",
            create(json!({"ClientToken": "abcd"})),
            "'clientToken'",
        ),
        (
            "CreateTapes",
            create(json!({"ClientToken": "x".repeat(101)})),
            "'clientToken'",
        ),
        (
            "CreateTapes",
            create(json!({"ClientToken": null})),
            "Value null at 'clientToken'",
        ),
        (
            "CreateTapes",
            create(json!({"TapeSizeInBytes": null})),
            "Value null at 'tapeSizeInBytes'",
        ),
        (
            "CreateTapeWithBarcode",
            json!({"GatewayARN": GATEWAY, "TapeSizeInBytes": 100 * GIB, "TapeBarcode": "AB12"}),
            "'tapeBarcode'",
        ),
        (
            "CreateTapeWithBarcode",
            json!({"GatewayARN": GATEWAY, "TapeSizeInBytes": 100 * GIB, "TapeBarcode": "AB1234567890123456"}),
            "'tapeBarcode'",
        ),
        (
            "CreateTapeWithBarcode",
            json!({"GatewayARN": GATEWAY, "TapeSizeInBytes": 100 * GIB, "TapeBarcode": "ab123"}),
            "^[A-Z0-9]*$",
        ),
        (
            "RetrieveTapeArchive",
            json!({"TapeARN": tape_arn("AB00001")}),
            "'gatewayARN'",
        ),
        ("DeleteTapeArchive", json!({}), "'tapeARN'"),
    ]
}

#[test]
fn inputs_that_break_the_model_are_validation_errors() {
    let emu = start(&["AB00001"], Delays::ZERO);
    for (op, body, says) in invalid_inputs() {
        let r = aws(emu.addr(), op, body.clone());
        assert_eq!(r.status, 400, "{op} {body}");
        assert_eq!(
            r.error_type(),
            "ValidationException",
            "{op} {body}: {:?}",
            r.body
        );
        let message = r.body["message"].as_str().unwrap();
        assert!(message.contains("validation error"), "{message}");
        assert!(message.contains(says), "{op} {body}: {message}");
    }
    // Nothing was created by any of them.
    let tapes = aws(emu.addr(), "ListTapes", json!({})).ok();
    assert_eq!(tapes["TapeInfos"].as_array().unwrap().len(), 1);
}

#[test]
fn tape_sizes_follow_the_gateways_rule() {
    let emu = start(&[], Delays::ZERO);
    // (size, accepted)
    let cases: &[(i64, bool)] = &[
        (100 << 30, true),
        (5 << 40, true),
        ((100 << 30) - 1, false),
        (99 << 30, false),
        ((100 << 30) + 1, false),
        ((5 << 40) + (1 << 30), false),
        (0, false),
        (-1, false),
    ];
    for (i, (size, ok)) in cases.iter().enumerate() {
        let r = aws(
            emu.addr(),
            "CreateTapeWithBarcode",
            json!({"GatewayARN": GATEWAY, "TapeSizeInBytes": size, "TapeBarcode": format!("SZ{i:04}")}),
        );
        if *ok {
            assert_eq!(r.status, 200, "{size}: {:?}", r.body);
        } else {
            assert_eq!(r.status, 400, "{size}");
            assert_eq!(r.error_type(), "InvalidGatewayRequestException", "{size}");
            assert_eq!(r.error_code(), "InvalidParameters", "{size}");
        }
    }
}

fn set_faults(addr: SocketAddr, faults: Value) {
    control(addr, "SetFaults", faults).ok();
}

#[test]
fn throttling_answers_rate_exceeded_for_the_next_n_calls() {
    let emu = start(&[], Delays::ZERO);
    let addr = emu.addr();
    set_faults(addr, json!({"Throttle": 2}));
    for _ in 0..2 {
        let r = aws(addr, "ListTapes", json!({}));
        assert_eq!(r.status, 400);
        assert_eq!(
            r.body,
            json!({"__type": "ThrottlingException", "message": "Rate exceeded."})
        );
    }
    assert_eq!(aws(addr, "ListTapes", json!({})).status, 200);
}

#[test]
fn internal_errors_answer_with_the_configured_status() {
    let emu = start(&[], Delays::ZERO);
    let addr = emu.addr();
    for status in [500, 400] {
        set_faults(
            addr,
            json!({"InternalError": 1, "InternalErrorStatus": status}),
        );
        let r = aws(addr, "ListGateways", json!({}));
        assert_eq!(r.status, status);
        assert_eq!(r.error_type(), "InternalServerError");
        assert_eq!(r.error_code(), "InternalError");
        assert_eq!(aws(addr, "ListGateways", json!({})).status, 200);
    }
}

#[test]
fn a_disconnected_gateway_fails_gateway_scoped_calls_only() {
    let emu = start(&["AB00001", "AB00002=ARCHIVED"], Delays::ZERO);
    let addr = emu.addr();
    set_faults(addr, json!({"Disconnected": true}));
    let g = json!({ "GatewayARN": GATEWAY });
    let scoped = [
        ("DescribeGatewayInformation", g.clone()),
        ("DescribeTapes", g.clone()),
        ("DescribeVTLDevices", g.clone()),
        ("DescribeCache", g.clone()),
        ("DescribeUploadBuffer", g.clone()),
        (
            "RetrieveTapeArchive",
            json!({"GatewayARN": GATEWAY, "TapeARN": tape_arn("AB00002")}),
        ),
    ];
    for (op, body) in scoped {
        let r = aws(addr, op, body);
        assert_eq!(r.status, 400, "{op}");
        assert_eq!(r.error_type(), "InvalidGatewayRequestException", "{op}");
        assert_eq!(r.error_code(), "GatewayNotConnected", "{op}");
    }
    for op in ["ListTapes", "DescribeTapeArchives", "ListGateways"] {
        assert_eq!(aws(addr, op, json!({})).status, 200, "{op}");
    }
    set_faults(addr, json!({"Disconnected": false}));
    assert_eq!(aws(addr, "DescribeTapes", g).status, 200);
}

#[test]
fn gauges_and_gateway_state_come_from_set_faults() {
    let emu = start(&[], Delays::ZERO);
    let addr = emu.addr();
    let g = json!({ "GatewayARN": GATEWAY });
    let info = aws(addr, "DescribeGatewayInformation", g.clone()).ok();
    assert_eq!(info["GatewayState"], "RUNNING");
    assert_eq!(info["GatewayType"], "VTL");
    assert_eq!(info["GatewayId"], "sgw-12A3456B");
    set_faults(
        addr,
        json!({"GatewayState": "SHUTDOWN", "CacheDirtyPercent": 85.5, "UploadBufferUsedPercent": 50.0}),
    );
    let info = aws(addr, "DescribeGatewayInformation", g.clone()).ok();
    assert_eq!(info["GatewayState"], "SHUTDOWN");
    let cache = aws(addr, "DescribeCache", g.clone()).ok();
    assert_eq!(cache["CacheDirtyPercentage"], 85.5);
    let buffer = aws(addr, "DescribeUploadBuffer", g).ok();
    let used = buffer["UploadBufferUsedInBytes"].as_u64().unwrap();
    let allocated = buffer["UploadBufferAllocatedInBytes"].as_u64().unwrap();
    assert_eq!(used * 2, allocated);
}

#[test]
fn set_faults_refuses_what_it_does_not_know() {
    let emu = start(&[], Delays::ZERO);
    let cases = [
        (json!({"Throtle": 1}), "SerializationException"),
        (json!({"InternalErrorStatus": 503}), "ValidationException"),
        (json!({"CacheDirtyPercent": 101.0}), "ValidationException"),
        (json!({"GatewayState": "X"}), "ValidationException"),
    ];
    for (body, kind) in cases {
        let r = control(emu.addr(), "SetFaults", body.clone());
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(r.error_type(), kind, "{body}");
    }
}

#[test]
fn calls_count_every_aws_call_answered_including_failures() {
    let emu = start(&["AB00001"], Delays::ZERO);
    let addr = emu.addr();
    set_faults(addr, json!({"Throttle": 1}));
    aws(addr, "DescribeTapes", json!({"GatewayARN": GATEWAY})); // throttled
    aws(addr, "DescribeTapes", json!({"GatewayARN": GATEWAY})).ok();
    aws(addr, "DescribeTapes", json!({})); // invalid
    aws(addr, "ListTapes", json!({})).ok();
    aws(addr, "NoSuchOperation", json!({})); // not an operation: not counted
    control(addr, "State", json!({})).ok(); // control operations are not counted
    let calls = control(addr, "Calls", json!({"Reset": true})).ok();
    assert_eq!(
        calls,
        json!({"Calls": {"DescribeTapes": 3, "ListTapes": 1}})
    );
    let calls = control(addr, "Calls", json!({})).ok();
    assert_eq!(calls, json!({"Calls": {}}));
    assert!(emu.calls().is_empty());
}

#[test]
fn one_connection_serves_many_requests() {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    let emu = start(&[], Delays::ZERO);
    let mut stream = std::net::TcpStream::connect(emu.addr()).unwrap();
    stream.set_read_timeout(Some(common::PATIENCE)).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    for _ in 0..3 {
        write!(
            stream,
            "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: StorageGateway_20130630.ListGateways\r\n\
             Content-Length: 2\r\n\r\n{{}}"
        )
        .unwrap();
        let mut length = 0;
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["Gateways"][0]["GatewayARN"], GATEWAY);
    }
}

#[test]
fn only_loopback_addresses_are_served() {
    for addr in ["0.0.0.0:0", "192.0.2.1:0", "[::]:0"] {
        let r = Emulator::start(Options {
            listen: addr.parse().unwrap(),
            ..Options::default()
        });
        assert!(matches!(r, Err(StartError::NotLoopback { .. })), "{addr}");
    }
    for addr in ["127.0.0.1:0", "[::1]:0"] {
        match Emulator::start(Options {
            listen: addr.parse().unwrap(),
            ..Options::default()
        }) {
            Ok(emu) => assert!(emu.addr().ip().is_loopback()),
            // A machine without IPv6 cannot bind ::1; that is not a refusal.
            Err(StartError::Listen { .. }) if addr.starts_with('[') => {}
            Err(e) => panic!("{addr}: {e}"),
        }
    }
}

#[test]
fn shutdown_closes_the_port() {
    let emu = start(&[], Delays::ZERO);
    let addr = emu.addr();
    emu.shutdown();
    // Nothing answers any more (connect refused, or closed without an answer).
    let answered = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .ok()
        .and_then(|mut s| {
            use std::io::{Read as _, Write as _};
            s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
            s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
                .ok()?;
            let mut buf = [0u8; 1];
            s.read(&mut buf).ok().filter(|n| *n > 0)
        });
    assert!(answered.is_none());
}
