//! The socket server: accepts connections, reads request lines, routes each to the library
//! it names and writes the answer (docs/daemon.md). Shutdown in three steps (aesthetics
//! §3.15): stop accepting, let every handler finish the request it holds, close.

use std::sync::Arc;
use std::time::{Duration, Instant};

use changer_proto::{Answer, AnswerBody, ErrorKind, LibraryRef, MAX_REQUEST_LINE, RequestBody};
use scsi_changer::discovery::Roots;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::gateway::Link;
use crate::metrics::{Metrics, RequestLabels};
use crate::owner::{Claim, Job, MoveFlags, Peer, Shared, Work, resolve};

/// Longest write of one answer: a client that stops reading cannot hold the daemon (or its
/// shutdown) up. The drain itself has no deadline of its own: idle connections close at the
/// stop, and a handler waiting for robot work is bounded by that command's SCSI timeout — a
/// client whose move is under way gets its answer, however long the robot takes.
const WRITE_DEADLINE: Duration = Duration::from_secs(10);

/// Requests waiting for one library before new ones are refused as busy.
pub const QUEUE_DEPTH: usize = 4096;

/// A library as the server sees it: what it knows, and the queue of its thread.
#[derive(Clone)]
pub struct Route {
    /// Identity and cache state.
    pub shared: Arc<Shared>,
    /// The thread's queue.
    pub queue: mpsc::Sender<Job>,
    /// The AWS Storage Gateway behind the library, when it is one.
    pub gateway: Option<Arc<Link>>,
}

/// Finds the library a request names and hands it the work.
pub struct Router {
    routes: Vec<Route>,
    roots: Roots,
    stopping: CancellationToken,
    metrics: Arc<Metrics>,
    /// Budget of requests that carry none (status).
    default_budget: Duration,
}

impl Router {
    /// A router over the started libraries.
    pub fn new(
        routes: Vec<Route>,
        roots: Roots,
        stopping: CancellationToken,
        metrics: Arc<Metrics>,
        default_budget: Duration,
    ) -> Router {
        Router {
            routes,
            roots,
            stopping,
            metrics,
            default_budget,
        }
    }

    /// The library a client names: by serial (one library however it is named, C5), else by
    /// the device as configured, else by the node the name resolves to.
    fn find(&self, wanted: &LibraryRef) -> Option<&Route> {
        if let Some(serial) = &wanted.serial {
            return self.routes.iter().find(|r| &r.shared.serial == serial);
        }
        if let Some(r) = self
            .routes
            .iter()
            .find(|r| r.shared.device == wanted.device)
        {
            return Some(r);
        }
        let resolved = resolve(&wanted.device, &self.roots)?;
        self.routes
            .iter()
            .find(|r| r.shared.resolved.as_ref() == Some(&resolved))
    }

    /// Answers one request from `peer`.
    pub async fn handle(&self, body: RequestBody, peer: Option<Peer>) -> AnswerBody {
        let op = match &body {
            RequestBody::Bareos { .. } => "bareos",
            RequestBody::Status { .. } => "status",
            RequestBody::Move { .. } => "move",
            RequestBody::Inventory { .. } => "inventory",
            RequestBody::Libraries => "libraries",
            RequestBody::Tapes { .. } => "tapes",
            RequestBody::Retrieve { .. } => "retrieve",
            RequestBody::CancelArchival { .. } => "cancel_archival",
        };
        self.metrics
            .requests
            .get_or_create(&RequestLabels { op: op.into() })
            .inc();
        let (library, work, budget) = match body {
            RequestBody::Libraries => {
                return AnswerBody::Libraries {
                    libraries: self.routes.iter().map(|r| r.shared.info()).collect(),
                };
            }
            RequestBody::Bareos {
                library,
                command,
                budget_ms,
            } => (
                library,
                Work::Bareos(command),
                Duration::from_millis(budget_ms),
            ),
            RequestBody::Status { library } => (library, Work::Status, self.default_budget),
            RequestBody::Inventory { library, budget_ms } => {
                (library, Work::Inventory, Duration::from_millis(budget_ms))
            }
            RequestBody::Move {
                library,
                from,
                to,
                budget_ms,
                dry_run,
                force,
            } => (
                library,
                Work::Move(from, to, MoveFlags { dry_run, force }),
                Duration::from_millis(budget_ms),
            ),
            RequestBody::Tapes { library } => {
                return self.gateway(&library, GatewayOp::Tapes).await;
            }
            RequestBody::Retrieve { library, barcodes } => {
                return self.gateway(&library, GatewayOp::Retrieve(barcodes)).await;
            }
            RequestBody::CancelArchival { library, barcode } => {
                return self
                    .gateway(&library, GatewayOp::CancelArchival(barcode))
                    .await;
            }
        };
        let route = match self.route(&library) {
            Ok(r) => r,
            Err(answer) => return *answer,
        };
        let status = matches!(work, Work::Status);
        let mut answer = dispatch(&route.queue, &route.shared.serial, work, budget, peer).await;
        if let (true, Some(link), AnswerBody::Status(s)) = (status, &route.gateway, &mut answer) {
            s.gateway = Some(link.report());
        }
        answer
    }

    /// The route of a library, or the answer saying why there is none to use.
    fn route(&self, library: &LibraryRef) -> Result<&Route, Box<AnswerBody>> {
        let Some(route) = self.find(library) else {
            return Err(Box::new(AnswerBody::Error {
                kind: ErrorKind::NotOwned,
                message: format!(
                    "changerd does not own {}{}",
                    library.device,
                    library
                        .serial
                        .as_ref()
                        .map(|s| format!(" (serial {s})"))
                        .unwrap_or_default()
                ),
            }));
        };
        if self.stopping.is_cancelled() {
            return Err(Box::new(shutting_down()));
        }
        Ok(route)
    }

    /// A gateway request: the library's contents from its thread, the rest from the API.
    async fn gateway(&self, library: &LibraryRef, op: GatewayOp) -> AnswerBody {
        let route = match self.route(library) {
            Ok(r) => r,
            Err(answer) => return *answer,
        };
        let Some(link) = &route.gateway else {
            return AnswerBody::Error {
                kind: ErrorKind::Failed,
                message: format!(
                    "library {} has no [library.gateway] table: it is not an AWS Storage Gateway library",
                    route.shared.serial
                ),
            };
        };
        let status = match dispatch(
            &route.queue,
            &route.shared.serial,
            Work::Status,
            self.default_budget,
            None,
        )
        .await
        {
            AnswerBody::Status(s) => s,
            other => return other,
        };
        let result = match op {
            GatewayOp::Tapes => link.tapes(&status).await.map_err(|e| e.to_string()),
            GatewayOp::Retrieve(barcodes) => link.retrieve(&barcodes).await,
            GatewayOp::CancelArchival(barcode) => link.cancel_archival(&barcode, &status).await,
        };
        match result {
            Ok(tapes) => AnswerBody::Tapes { tapes },
            Err(message) => AnswerBody::Error {
                kind: ErrorKind::Failed,
                message,
            },
        }
    }
}

/// The gateway requests.
enum GatewayOp {
    Tapes,
    Retrieve(Vec<String>),
    CancelArchival(String),
}

/// Queues `work` for a library's thread and waits for its answer within `budget`. A job still
/// queued at the deadline is given up (the thread skips it); one that has started is waited
/// for, whatever it takes: a move under way is never reported as not done.
pub async fn dispatch(
    queue: &mpsc::Sender<Job>,
    serial: &str,
    work: Work,
    budget: Duration,
    peer: Option<Peer>,
) -> AnswerBody {
    let (reply, mut answer) = oneshot::channel();
    let deadline = Instant::now() + budget;
    let claim = Arc::new(Claim::default());
    let job = Job {
        work,
        deadline,
        reply,
        claim: Arc::clone(&claim),
        peer,
    };
    match queue.try_send(job) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(_)) => {
            return AnswerBody::Error {
                kind: ErrorKind::Busy,
                message: format!(
                    "{QUEUE_DEPTH} requests are already waiting for library {serial}; nothing was done"
                ),
            };
        }
        Err(mpsc::error::TrySendError::Closed(_)) => return shutting_down(),
    }
    let ended = || AnswerBody::Error {
        kind: ErrorKind::Failed,
        message: "the library's thread ended before answering (see the daemon's log)".into(),
    };
    tokio::select! {
        a = &mut answer => return a.unwrap_or_else(|_| ended()),
        () = tokio::time::sleep_until(deadline.into()) => {}
    }
    if claim.abandon() {
        return AnswerBody::Error {
            kind: ErrorKind::Busy,
            message: format!(
                "library {serial} was busy with other requests for the whole budget of this one \
                 ({budget:?}); nothing was done"
            ),
        };
    }
    answer.await.unwrap_or_else(|_| ended())
}

fn shutting_down() -> AnswerBody {
    AnswerBody::Error {
        kind: ErrorKind::ShuttingDown,
        message: "changerd is stopping and takes no new work; try again when it is back".into(),
    }
}

/// Serves `listener` until `shutdown` resolves, then drains.
pub async fn run(
    listener: UnixListener,
    router: Arc<Router>,
    stopping: CancellationToken,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let tracker = TaskTracker::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let router = Arc::clone(&router);
                    let stopping = stopping.clone();
                    let peer = stream.peer_cred().ok().map(|c| Peer {
                        uid: c.uid(),
                        pid: c.pid(),
                    });
                    tracker.spawn(async move {
                        router.metrics.clients.inc();
                        let (read, write) = stream.into_split();
                        connection(read, write, &router, stopping, peer).await;
                        router.metrics.clients.dec();
                    });
                }
                Err(e) => {
                    tracing::error!(cause = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    tracing::info!("stopping: no new connections; finishing the requests under way");
    stopping.cancel();
    tracker.close();
    tracker.wait().await;
}

/// Writes one answer line within [`WRITE_DEADLINE`].
async fn send(write: &mut (impl AsyncWrite + Unpin), answer: &Answer) -> std::io::Result<()> {
    tokio::time::timeout(
        WRITE_DEADLINE,
        write.write_all(&changer_proto::encode(answer)),
    )
    .await
    .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

/// One client: request lines in, answer lines out, until it closes, sends something that is
/// not a request, or the daemon stops.
pub async fn connection(
    read: impl AsyncRead + Unpin,
    mut write: impl AsyncWrite + Unpin,
    router: &Router,
    stopping: CancellationToken,
    peer: Option<Peer>,
) {
    let mut reader = BufReader::new(read);
    loop {
        let mut line = Vec::new();
        let limit = u64::try_from(MAX_REQUEST_LINE).unwrap_or(u64::MAX);
        let mut limited = (&mut reader).take(limit);
        let read = tokio::select! {
            () = stopping.cancelled() => return,
            r = limited.read_until(b'\n', &mut line) => r,
        };
        match read {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(cause = %e, "client connection failed");
                return;
            }
        }
        let request = if line.len() >= MAX_REQUEST_LINE && !line.ends_with(b"\n") {
            Err((
                ErrorKind::BadRequest,
                format!("request line longer than {MAX_REQUEST_LINE} bytes"),
            ))
        } else {
            changer_proto::decode_request(&line).map_err(|e| (e.kind(), e.to_string()))
        };
        let request = match request {
            Ok(r) => r,
            Err((kind, why)) => {
                router
                    .metrics
                    .requests
                    .get_or_create(&RequestLabels {
                        op: "bad_request".into(),
                    })
                    .inc();
                tracing::warn!(cause = %why, "a client sent something that is not a request; closing its connection");
                let _ = send(&mut write, &Answer::error(kind, format!("{why}; closing"))).await;
                return;
            }
        };
        let answer = Answer::new(router.handle(request.body, peer).await);
        if let Err(e) = send(&mut write, &answer).await {
            tracing::info!(cause = %e, "the client left before its answer was written; the work was done and is in the log (moves: in the journal)");
            return;
        }
    }
}

/// Serves the Prometheus text on every connection to `listener` (a minimal HTTP/1.0
/// responder: the one GET a scraper sends needs no HTTP library).
pub async fn metrics_http<S>(stream: S, metrics: Arc<Metrics>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut stream = BufReader::new(stream);
    let mut head = Vec::new();
    // Read the request head (bounded), whatever its path: there is one document.
    loop {
        let mut line = Vec::new();
        let mut limited = (&mut stream).take(8192);
        match limited.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let end = line == b"\r\n" || line == b"\n";
        head.extend_from_slice(&line);
        if end || head.len() > 8192 {
            break;
        }
    }
    let body = metrics.render();
    let response = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.get_mut().write_all(response.as_bytes()).await;
    let _ = stream.get_mut().shutdown().await;
}
