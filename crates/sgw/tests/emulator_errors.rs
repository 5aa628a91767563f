//! Errors as the real SDK receives them from the emulator, and how the client classifies and
//! reports them: not connected, not found, wrong state, throttling (survived and not),
//! internal errors (500 retried, 400 not).

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::{GIB, seeds, with_tapes};
use sgw::aws_config::{self, BehaviorVersion};
use sgw::{CallObserver, Error, Gateway, GatewaySettings, NewTapes, Outcome};
use sgw_emulator::{Emulator, Options, Running};

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(op, n)| ((*op).to_owned(), *n)).collect()
}

#[tokio::test]
async fn gateway_not_connected() {
    let h = with_tapes(&["AB000001"]).await;
    h.emu.update_faults(|f| f.disconnected = true);

    let error = h.gateway.health().await.expect_err("disconnected");
    assert_eq!(
        error,
        Error::NotConnected {
            operation: "DescribeGatewayInformation",
            message: "The specified gateway is not connected.".into()
        }
    );
    assert!(error.is_transient());
    let text = error.to_string();
    assert!(
        text.starts_with("DescribeGatewayInformation: the gateway is not connected"),
        "{text}"
    );
    assert!(
        text.contains("check that the gateway VM is running"),
        "{text}"
    );
    assert_eq!(
        h.recorder.calls(),
        [("DescribeGatewayInformation", Outcome::Error)],
        "health stops at the first error"
    );

    let error = h
        .gateway
        .describe_tapes(&[])
        .await
        .expect_err("disconnected");
    assert!(
        matches!(
            error,
            Error::NotConnected {
                operation: "DescribeTapes",
                ..
            }
        ),
        "{error:?}"
    );
    // ListTapes names no gateway: the account's tapes are still listed.
    assert_eq!(h.gateway.list_tapes(&[]).await.expect("ListTapes").len(), 1);
    // Not retried by the SDK: one HTTP request per call.
    assert_eq!(h.emu.calls().get("DescribeTapes"), Some(&1));
}

#[tokio::test]
async fn gateway_not_found() {
    let h = with_tapes(&[]).await;
    let other = "arn:aws:storagegateway:us-east-1:111122223333:gateway/sgw-00000000";
    let gateway = h.client_for(other).await;
    let error = gateway
        .describe_tapes(&[])
        .await
        .expect_err("no such gateway");
    assert_eq!(
        error,
        Error::NotFound {
            operation: "DescribeTapes",
            what: format!("gateway {other} (GatewayNotFound)")
        }
    );
    assert!(!error.is_transient());
    assert!(
        error.to_string().contains("check the ARN, the region"),
        "{error}"
    );
}

#[tokio::test]
async fn tape_cartridge_not_found() {
    let h = with_tapes(&[]).await;
    let missing = "arn:aws:storagegateway:us-east-1:111122223333:tape/NOPE0001";
    for (operation, result) in [
        (
            "RetrieveTapeArchive",
            h.gateway.retrieve_tape_archive(missing).await,
        ),
        ("CancelArchival", h.gateway.cancel_archival(missing).await),
        ("DeleteTape", h.gateway.delete_tape(missing).await),
    ] {
        let error = result.expect_err(operation);
        assert_eq!(
            error,
            Error::NotFound {
                operation,
                what: format!("tape {missing} (TapeCartridgeNotFound)")
            },
        );
    }
}

#[tokio::test]
async fn wrong_state_is_refused_with_the_error_code() {
    let h = with_tapes(&["AB000001", "AR000001=ARCHIVED", "RT000001=RETRIEVED"]).await;
    let (available, archived) = (h.arn("AB000001"), h.arn("AR000001"));
    let retrieved = h.arn("RT000001");

    let error = h
        .gateway
        .cancel_archival(&available)
        .await
        .expect_err("not in transit");
    match &error {
        Error::Refused {
            operation: "CancelArchival",
            code: Some(code),
            message,
        } => {
            assert_eq!(code, "InvalidParameters");
            assert!(!message.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert!(!error.is_transient());
    assert!(
        error
            .to_string()
            .starts_with("CancelArchival: AWS refused the request (InvalidParameters): "),
        "{error}"
    );

    for (operation, result) in [
        (
            "CancelRetrieval",
            h.gateway.cancel_retrieval(&archived).await,
        ),
        (
            "DeleteTapeArchive",
            h.gateway.delete_tape_archive(&retrieved).await,
        ),
        (
            "RetrieveTapeArchive",
            h.gateway.retrieve_tape_archive(&available).await,
        ),
    ] {
        let error = result.expect_err(operation);
        assert!(
            matches!(&error, Error::Refused { operation: op, code: Some(c), .. }
                if *op == operation && c == "InvalidParameters"),
            "{error:?}"
        );
    }
}

#[tokio::test]
async fn invalid_parameters_from_the_service_and_from_the_client() {
    let h = with_tapes(&[]).await;
    // 1 GiB is below AWS's 100 GiB minimum: the service refuses it.
    let error = h
        .gateway
        .create_tape_with_barcode("SMALL001", GIB, None)
        .await
        .expect_err("too small");
    assert!(
        matches!(&error, Error::Refused { code: Some(c), .. } if c == "InvalidParameters"),
        "{error:?}"
    );
    assert_eq!(h.emu.calls().get("CreateTapeWithBarcode"), Some(&1));

    // Outside the model's limits: refused here, nothing sent, nothing reported.
    h.recorder.clear();
    let spec = NewTapes {
        prefix: "TOOLONG".into(),
        size_bytes: 100 * GIB,
        count: 1,
        pool_id: None,
        client_token: "token-1".into(),
    };
    let error = h
        .gateway
        .create_tapes(&spec)
        .await
        .expect_err("prefix too long");
    assert!(error.to_string().contains("(not sent)"), "{error}");
    let error = h
        .gateway
        .create_tapes(&NewTapes {
            prefix: "AB".into(),
            count: 11,
            ..spec
        })
        .await;
    assert!(error.is_err());
    assert_eq!(h.emu.calls().get("CreateTapes"), None);
    assert!(h.recorder.calls().is_empty());
}

#[tokio::test]
async fn throttling_survived_by_retry() {
    let h = with_tapes(&["AB000001"]).await;
    h.emu.update_faults(|f| f.throttle = 2);
    let tapes = h
        .gateway
        .list_tapes(&[])
        .await
        .expect("third attempt succeeds");
    assert_eq!(tapes.len(), 1);
    assert_eq!(
        h.emu.calls(),
        counts(&[("ListTapes", 3)]),
        "3 HTTP requests"
    );
    assert_eq!(
        h.recorder.calls(),
        [("ListTapes", Outcome::Ok)],
        "1 call, succeeded"
    );
}

#[tokio::test]
async fn throttling_beyond_the_retries() {
    let h = with_tapes(&["AB000001"]).await;
    h.emu.update_faults(|f| f.throttle = 3);
    let error = h
        .gateway
        .describe_tapes(&[])
        .await
        .expect_err("throttled 3 times");
    assert_eq!(
        error,
        Error::Throttled {
            operation: "DescribeTapes"
        }
    );
    assert!(error.is_transient());
    assert!(
        error
            .to_string()
            .contains("throttled the request on all 3 attempts"),
        "{error}"
    );
    assert_eq!(h.emu.calls(), counts(&[("DescribeTapes", 3)]));
    assert_eq!(h.recorder.calls(), [("DescribeTapes", Outcome::Throttled)]);

    // The fault is used up: the next poll works.
    assert_eq!(
        h.gateway
            .describe_tapes(&[])
            .await
            .expect("DescribeTapes")
            .len(),
        1
    );
}

#[tokio::test]
async fn internal_server_error_500_is_retried_and_reported() {
    let h = with_tapes(&["AB000001"]).await;
    h.emu.update_faults(|f| {
        f.internal_error = 1;
        f.internal_error_status = 500;
    });
    assert_eq!(
        h.gateway
            .describe_tapes(&[])
            .await
            .expect("second attempt")
            .len(),
        1
    );
    assert_eq!(h.emu.calls(), counts(&[("DescribeTapes", 2)]));

    h.emu.reset_calls();
    h.emu.update_faults(|f| f.internal_error = 3);
    let error = h
        .gateway
        .describe_tapes(&[])
        .await
        .expect_err("500 three times");
    match &error {
        Error::Internal {
            operation: "DescribeTapes",
            message,
        } => {
            assert!(
                message.contains("InternalServerError") && message.contains("HTTP 500"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(error.is_transient());
    assert_eq!(h.emu.calls(), counts(&[("DescribeTapes", 3)]));
    assert_eq!(
        h.recorder.calls().last(),
        Some(&("DescribeTapes", Outcome::Error))
    );
}

#[tokio::test]
async fn internal_server_error_400_is_not_retried() {
    let h = with_tapes(&["AB000001"]).await;
    h.emu.update_faults(|f| {
        f.internal_error = 1;
        f.internal_error_status = 400;
    });
    let error = h
        .gateway
        .list_tapes(&[])
        .await
        .expect_err("InternalServerError, HTTP 400");
    assert!(
        matches!(
            error,
            Error::Internal {
                operation: "ListTapes",
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(h.emu.calls(), counts(&[("ListTapes", 1)]));
}

/// Throttles every attempt of the calls after the first: set from inside the client's call
/// path, so the second page is throttled without a race.
struct ThrottleAfterFirst {
    emu: Arc<Running>,
    calls: Mutex<Vec<(&'static str, Outcome)>>,
}

impl CallObserver for ThrottleAfterFirst {
    fn call(&self, operation: &'static str, outcome: Outcome) {
        let mut calls = self.calls.lock().unwrap();
        if calls.is_empty() {
            self.emu.update_faults(|f| f.throttle = 3);
        }
        calls.push((operation, outcome));
    }
}

#[tokio::test]
async fn a_failing_page_fails_the_listing() {
    let tapes: Vec<String> = (0..150).map(|i| format!("PG{i:06}")).collect();
    let emu = Arc::new(
        Emulator::start(Options {
            tapes: seeds(&tapes.iter().map(String::as_str).collect::<Vec<_>>()),
            ..Options::default()
        })
        .expect("emulator"),
    );
    let observer = Arc::new(ThrottleAfterFirst {
        emu: emu.clone(),
        calls: Mutex::default(),
    });
    let settings = GatewaySettings {
        gateway_arn: emu.gateway_arn().to_owned(),
        region: "us-east-1".into(),
        endpoint_url: Some(emu.endpoint()),
    };
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .empty_test_environment()
        .test_credentials();
    let gateway = Gateway::connect_with(&settings, Some(observer.clone()), loader)
        .await
        .expect("connect");

    let error = gateway
        .describe_tapes(&[])
        .await
        .expect_err("second page throttled");
    assert_eq!(
        error,
        Error::Throttled {
            operation: "DescribeTapes"
        }
    );
    assert_eq!(
        *observer.calls.lock().unwrap(),
        [
            ("DescribeTapes", Outcome::Ok),
            ("DescribeTapes", Outcome::Throttled)
        ]
    );
    assert_eq!(
        emu.calls(),
        counts(&[("DescribeTapes", 4)]),
        "1 page + 3 attempts"
    );
}
