//! Human commands through `changerd`, when it owns the library (contract C5).

use std::time::Instant;

use changer_proto::{AnswerBody, ErrorKind, LibraryRef, LibraryStatus, Place, RequestBody};

use crate::client::{self, ClientError};
use crate::config::Config;

/// The daemon's answer to a human request, `None` when it should be done directly.
fn ask(
    config: &Config,
    body: RequestBody,
    deadline: Instant,
) -> anyhow::Result<Option<AnswerBody>> {
    match client::request(config, body, deadline) {
        Ok(answer) => match answer.body {
            AnswerBody::Error {
                kind: ErrorKind::NotOwned,
                ..
            } => Ok(None),
            AnswerBody::Error { message, .. } => anyhow::bail!("changerd: {message}"),
            other => {
                tracing::debug!(socket = %client::socket_path(config).display(), "answered by changerd");
                Ok(Some(other))
            }
        },
        Err(e @ ClientError::Connect { .. }) => {
            tracing::debug!(error = %e, "working directly");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// `changer status` from the daemon.
pub fn status(
    config: &Config,
    library: LibraryRef,
    deadline: Instant,
) -> anyhow::Result<Option<LibraryStatus>> {
    match ask(config, RequestBody::Status { library }, deadline)? {
        Some(AnswerBody::Status(s)) => Ok(Some(*s)),
        Some(other) => anyhow::bail!("changerd answered a status request with {other:?}"),
        None => Ok(None),
    }
}

/// `changer move` through the daemon: `Some((from, to))` in words when it moved.
pub fn move_cartridge(
    config: &Config,
    library: LibraryRef,
    from: Place,
    to: Place,
    deadline: Instant,
) -> anyhow::Result<Option<(String, String)>> {
    let budget_ms = client::budget_ms(deadline);
    let body = RequestBody::Move {
        library,
        from,
        to,
        budget_ms,
    };
    match ask(config, body, deadline)? {
        Some(AnswerBody::Moved { from, to }) => Ok(Some((from, to))),
        Some(other) => anyhow::bail!("changerd answered a move request with {other:?}"),
        None => Ok(None),
    }
}

/// `changer inventory` through the daemon: `true` when it re-scanned the library.
pub fn inventory(config: &Config, library: LibraryRef, deadline: Instant) -> anyhow::Result<bool> {
    let budget_ms = client::budget_ms(deadline);
    match ask(
        config,
        RequestBody::Inventory { library, budget_ms },
        deadline,
    )? {
        Some(AnswerBody::Inventoried { .. }) => Ok(true),
        Some(other) => anyhow::bail!("changerd answered an inventory request with {other:?}"),
        None => Ok(false),
    }
}
