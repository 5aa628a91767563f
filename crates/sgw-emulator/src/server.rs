//! HTTP/1.1 (hyper): `POST /` with `X-Amz-Target`, answered `application/x-amz-json-1.1`
//! with an `x-amzn-RequestId` (aws-sgw.md §3.1, §3.3).

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::api::{self, error::ApiError};
use crate::world::World;

/// No operation takes more; the SDK's largest request (CreateTapes with 50 tags) is a few KiB.
const MAX_BODY: usize = 1 << 20;
const CONTENT_TYPE_JSON: &str = "application/x-amz-json-1.1";

/// Request ids: unique in this run, UUID-shaped like AWS's.
struct RequestIds {
    run: u32,
    next: AtomicU64,
}

impl RequestIds {
    fn new() -> RequestIds {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        RequestIds {
            run: nanos ^ std::process::id().rotate_left(16),
            next: AtomicU64::new(1),
        }
    }

    fn next(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!(
            "{:08x}-0000-4000-8000-{:012x}",
            self.run,
            n & 0xffff_ffff_ffff
        )
    }
}

/// Accepts connections until `shutdown` fires (or its sender is dropped). Connections still
/// open end when the runtime that runs this is dropped.
pub(crate) async fn serve(
    listener: TcpListener,
    world: Arc<Mutex<World>>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let ids = Arc::new(RequestIds::new());
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let world = Arc::clone(&world);
        let ids = Arc::clone(&ids);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let world = Arc::clone(&world);
                let ids = Arc::clone(&ids);
                async move { Ok::<_, Infallible>(handle(&world, &ids, req).await) }
            });
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    tracing::info!("emulator stopped accepting connections");
}

async fn handle(
    world: &Mutex<World>,
    ids: &RequestIds,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let request_id = ids.next();
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let routed = req.method() == Method::POST && req.uri().path() == "/";
    let what = format!("{} {}", req.method(), req.uri().path());
    let body = Limited::new(req.into_body(), MAX_BODY).collect().await;
    let result = match body {
        _ if !routed => Err(ApiError::unknown_operation(&format!(
            "{what} (every operation is POST / with an X-Amz-Target header)"
        ))),
        Err(e) => Err(ApiError::serialization(format!(
            "cannot read the request body: {e}"
        ))),
        Ok(body) => api::answer(world, &target, &body.to_bytes()),
    };
    let (status, body) = match result {
        Ok(value) => (200, value),
        Err(e) => {
            tracing::info!(%target, %request_id, error = %e, "answered an error");
            (e.status, e.body())
        }
    };
    tracing::debug!(%target, %request_id, status, "answered");
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_JSON));
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}
