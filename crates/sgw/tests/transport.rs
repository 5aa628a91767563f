//! Endpoints that are not a working Storage Gateway: nothing listening, or something else
//! answering. Everything on 127.0.0.1; credentials from a test loader, not the environment.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sgw::aws_config::{self, BehaviorVersion};
use sgw::{CallObserver, Error, Gateway, GatewaySettings, Outcome};

const GATEWAY: &str = "arn:aws:storagegateway:us-east-1:111122223333:gateway/sgw-12A3456B";

#[derive(Default)]
struct Recorder(Mutex<Vec<(&'static str, Outcome)>>);

impl CallObserver for Recorder {
    fn call(&self, operation: &'static str, outcome: Outcome) {
        self.0.lock().unwrap().push((operation, outcome));
    }
}

async fn gateway(endpoint: &str, observer: Arc<Recorder>) -> Gateway {
    let settings = GatewaySettings {
        gateway_arn: GATEWAY.into(),
        region: "us-east-1".into(),
        endpoint_url: Some(endpoint.into()),
    };
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .empty_test_environment()
        .test_credentials();
    Gateway::connect_with(&settings, Some(observer), loader)
        .await
        .expect("connect")
}

/// Answers every request with `status` and `body`; counts requests.
fn stub(status: u16, content_type: &'static str, body: &'static str) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut request_body = vec![0; length];
            let _ = reader.read_exact(&mut request_body);
            counter.fetch_add(1, Ordering::SeqCst);
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (endpoint, requests)
}

#[tokio::test]
async fn nothing_listening_fails_in_seconds() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
        // dropped: the port refuses connections from here on
    };
    let endpoint = format!("http://127.0.0.1:{port}");
    let recorder = Arc::new(Recorder::default());
    let gateway = gateway(&endpoint, recorder.clone()).await;
    let started = Instant::now();
    let error = gateway
        .describe_tapes(&[])
        .await
        .expect_err("nothing listens");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(8), "took {took:?}");
    assert!(
        matches!(
            error,
            Error::Transport {
                operation: "DescribeTapes",
                ..
            }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&endpoint) && message.contains("endpoint_url"),
        "{message}"
    );
    assert!(error.is_transient());
    assert_eq!(
        *recorder.0.lock().unwrap(),
        [("DescribeTapes", Outcome::Error)]
    );
}

#[tokio::test]
async fn a_web_page_is_not_taken_for_a_refusal() {
    let (endpoint, requests) = stub(404, "text/html", "<html><body>Not Found</body></html>");
    let recorder = Arc::new(Recorder::default());
    let gateway = gateway(&endpoint, recorder.clone()).await;
    let error = gateway
        .list_tapes(&[])
        .await
        .expect_err("not Storage Gateway");
    assert!(
        matches!(
            error,
            Error::Transport {
                operation: "ListTapes",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("endpoint_url"), "{error}");
    assert_eq!(requests.load(Ordering::SeqCst), 1, "a 404 is not retried");
}

#[tokio::test]
async fn an_unreadable_success_is_a_transport_error() {
    let (endpoint, _) = stub(200, "application/x-amz-json-1.1", "this is not JSON");
    let gateway = gateway(&endpoint, Arc::default()).await;
    let error = gateway.list_tapes(&[]).await.expect_err("not JSON");
    assert!(matches!(error, Error::Transport { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("is not a Storage Gateway answer"),
        "{error}"
    );
}

#[tokio::test]
async fn bad_gateway_pages_are_internal_after_three_attempts() {
    let (endpoint, requests) = stub(502, "text/html", "<html>Bad Gateway</html>");
    let gateway = gateway(&endpoint, Arc::default()).await;
    let error = gateway.list_tapes(&[]).await.expect_err("502");
    assert!(matches!(error, Error::Internal { .. }), "{error:?}");
    assert!(error.is_transient());
    assert_eq!(
        requests.load(Ordering::SeqCst),
        3,
        "standard retry, 3 attempts"
    );
}
