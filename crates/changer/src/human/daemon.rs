//! Human commands through `changerd`, when it owns the library (contract C5).

use std::time::Instant;

use changer_proto::{
    AnswerBody, Archival, ErrorKind, LibraryRef, LibraryStatus, Place, RequestBody, TapeEntry,
};

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

/// What the daemon did with a `changer move`.
#[derive(Debug)]
pub enum MoveOutcome {
    /// It moved: from and to in words.
    Moved(String, String),
    /// A dry run: from and to in words, and the archival the move would start.
    Checked(String, String, Option<Archival>),
}

/// How `changer move` asks.
#[derive(Debug, Clone, Copy, Default)]
pub struct MoveFlags {
    /// Check only.
    pub dry_run: bool,
    /// Export to an unhealthy gateway.
    pub force: bool,
}

/// `changer move` through the daemon; `None` when it should be done directly.
pub fn move_cartridge(
    config: &Config,
    library: LibraryRef,
    (from, to): (Place, Place),
    flags: MoveFlags,
    deadline: Instant,
) -> anyhow::Result<Option<MoveOutcome>> {
    let budget_ms = client::budget_ms(deadline);
    let body = RequestBody::Move {
        library,
        from,
        to,
        budget_ms,
        dry_run: flags.dry_run,
        force: flags.force,
    };
    match ask(config, body, deadline)? {
        Some(AnswerBody::Moved { from, to }) => Ok(Some(MoveOutcome::Moved(from, to))),
        Some(AnswerBody::MoveChecked { from, to, archival }) => {
            Ok(Some(MoveOutcome::Checked(from, to, archival)))
        }
        Some(other) => anyhow::bail!("changerd answered a move request with {other:?}"),
        None => Ok(None),
    }
}

/// A gateway request (`tapes`, `retrieve`, `cancel-archival`): only the daemon talks to AWS.
pub fn tapes(
    config: &Config,
    body: RequestBody,
    deadline: Instant,
) -> anyhow::Result<Vec<TapeEntry>> {
    let what = match &body {
        RequestBody::Retrieve { .. } => "retrieve",
        RequestBody::CancelArchival { .. } => "cancel-archival",
        _ => "tapes",
    };
    match ask(config, body, deadline)? {
        Some(AnswerBody::Tapes { tapes }) => Ok(tapes),
        Some(other) => anyhow::bail!("changerd answered a {what} request with {other:?}"),
        None => anyhow::bail!(
            "changer {what} needs changerd, which talks to the AWS Storage Gateway: \
             start changerd with this library and its [library.gateway] table configured"
        ),
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
