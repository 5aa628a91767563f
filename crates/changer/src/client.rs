//! The daemon client: `changer` hands a request to `changerd` when the daemon answers on its
//! socket and owns the library (contract C5), and works directly otherwise. One connection,
//! one request line, one answer line; no inventory is read on this side.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use changer_proto::{
    Answer, AnswerBody, BareosCommand, ErrorKind, LibraryRef, MAX_ANSWER_LINE, Request, RequestBody,
};

use crate::config::Config;
use crate::protocol;

/// Environment variable naming the socket (wins over the `socket` key).
pub const SOCKET_ENV: &str = "CHANGER_SOCKET";

/// How long past the request's own budget the client waits for the answer: the daemon ends
/// every request inside its budget, this covers the write and a busy host.
const ANSWER_SLACK: Duration = Duration::from_secs(5);

/// The daemon's socket: `CHANGER_SOCKET`, else the `socket` key.
pub fn socket_path(config: &Config) -> PathBuf {
    std::env::var_os(SOCKET_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| config.socket.clone())
}

/// Milliseconds from now until `deadline` (0 when it has passed): a request's `budget_ms`.
pub fn budget_ms(deadline: Instant) -> u64 {
    u64::try_from(
        deadline
            .saturating_duration_since(Instant::now())
            .as_millis(),
    )
    .unwrap_or(u64::MAX)
}

/// Failure to get an answer from the daemon.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nobody listens (no socket, refused, no permission): work directly.
    #[error("cannot connect to changerd at {path}: {source}")]
    Connect {
        /// The socket.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The request was sent but no answer came: the daemon may have acted on it.
    #[error("changerd at {path} did not answer: {detail}")]
    NoAnswer {
        /// The socket.
        path: PathBuf,
        /// What happened.
        detail: String,
    },
}

/// Sends one request and reads its answer, waiting until `deadline` at most.
pub fn request(
    config: &Config,
    body: RequestBody,
    deadline: Instant,
) -> Result<Answer, ClientError> {
    let path = socket_path(config);
    let mut stream = UnixStream::connect(&path).map_err(|source| ClientError::Connect {
        path: path.clone(),
        source,
    })?;
    let no_answer = |detail: String| ClientError::NoAnswer {
        path: path.clone(),
        detail,
    };
    let wait = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(100))
        + ANSWER_SLACK;
    let _ = stream.set_read_timeout(Some(wait));
    let _ = stream.set_write_timeout(Some(wait));
    stream
        .write_all(&changer_proto::encode(&Request::new(body)))
        .map_err(|e| no_answer(format!("sending the request failed: {e}")))?;
    let mut line = Vec::new();
    let limit = u64::try_from(MAX_ANSWER_LINE).unwrap_or(u64::MAX);
    // One read per 256 KiB: a listall of a 3200-slot library arrives in one or two.
    BufReader::with_capacity(256 * 1024, &stream)
        .take(limit)
        .read_until(b'\n', &mut line)
        .map_err(|e| no_answer(format!("reading the answer failed: {e}")))?;
    if !line.ends_with(b"\n") {
        return Err(no_answer(if line.is_empty() {
            "the connection closed before an answer came".into()
        } else {
            format!("the answer is incomplete ({} bytes)", line.len())
        }));
    }
    changer_proto::decode_answer(&line).map_err(|e| no_answer(format!("{e}")))
}

/// What came of offering a Changer Command to the daemon.
#[derive(Debug)]
pub enum Forwarded {
    /// The daemon answered: print this.
    Answered(protocol::Answer),
    /// No daemon, or not its library: work directly.
    Direct,
    /// The request reached the daemon but came to nothing printable: fail with this message
    /// (never run a move a second time behind the daemon's back).
    Failed(String),
}

/// Offers a Changer Command to the daemon.
pub fn forward_bareos(
    config: &Config,
    library: LibraryRef,
    command: &BareosCommand,
    deadline: Instant,
) -> Forwarded {
    let budget_ms = budget_ms(deadline);
    let body = RequestBody::Bareos {
        library,
        command: command.clone(),
        budget_ms,
    };
    match request(config, body, deadline) {
        Ok(answer) => match answer.body {
            AnswerBody::Bareos {
                stdout,
                stderr,
                status,
            } => {
                tracing::debug!(
                    socket = %socket_path(config).display(),
                    "answered by changerd"
                );
                Forwarded::Answered(protocol::Answer {
                    stdout,
                    stderr,
                    status,
                })
            }
            AnswerBody::Error {
                kind: ErrorKind::NotOwned,
                message,
            } => {
                tracing::debug!(%message, "changerd does not own this library; working directly");
                Forwarded::Direct
            }
            AnswerBody::Error { kind, message } => {
                tracing::warn!(?kind, %message, "changerd refused the request");
                Forwarded::Failed(format!("changerd: {message}\n"))
            }
            other => Forwarded::Failed(format!(
                "changerd answered a {} request with {other:?}\n",
                command.word()
            )),
        },
        Err(e @ ClientError::Connect { .. }) => {
            tracing::debug!(error = %e, "working directly");
            Forwarded::Direct
        }
        // A read is safe to ask again of the library itself; a move may have been made.
        Err(e) if !command.moves() => {
            tracing::warn!(error = %e, "working directly");
            Forwarded::Direct
        }
        Err(e) => Forwarded::Failed(format!(
            "{e}; the {} may or may not have happened (changerd's journal records it): \
             check with `changer status` before trying again\n",
            command.word()
        )),
    }
}
