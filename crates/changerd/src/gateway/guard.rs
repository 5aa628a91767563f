//! The export guard (contract C7): on a gateway library every move into an I/E slot archives
//! the tape, so it happens only when the export policy allows that barcode, the gateway knows
//! the tape in a status that can be exported, and the gateway is healthy (unless forced).
//! Runs on the library's thread, before anything moves; the API calls go to the daemon's
//! runtime.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use changer::ops::{Export, ExportGuard};
use changer_proto::Archival;
use sgw::TapeStatus;

use super::{Link, Purpose};
use crate::metrics::ArchivalLabels;
use crate::owner::Peer;

/// What the library's thread tells the guard about the request it is running.
#[derive(Debug, Clone)]
pub struct GuardContext {
    /// Who asked (the socket peer).
    pub peer: Option<Peer>,
    /// `changer move --force`: an unhealthy gateway does not stop the export.
    pub force: bool,
    /// When the request must have ended.
    pub deadline: Instant,
    /// The last export checked: what a dry run reports.
    pub last: Option<Archival>,
}

impl Default for GuardContext {
    fn default() -> Self {
        GuardContext {
            peer: None,
            force: false,
            deadline: Instant::now(),
            last: None,
        }
    }
}

/// The guard of one gateway library.
pub struct Guard {
    link: Arc<Link>,
    context: Arc<Mutex<GuardContext>>,
    /// The tape checked last, for [`ExportGuard::exported`].
    checked: Option<sgw::Tape>,
}

/// Shortest time an API check may take: leaves the move its minimum (the SDK retries inside).
const MIN_CHECK_TIME: Duration = Duration::from_secs(1);

impl Guard {
    /// A guard for `link`, reading the request's context from `context`.
    pub fn new(link: Arc<Link>, context: Arc<Mutex<GuardContext>>) -> Guard {
        Guard {
            link,
            context,
            checked: None,
        }
    }

    fn context(&self) -> GuardContext {
        self.context
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Runs an API call on the daemon's runtime within what is left of the request's budget
    /// (the moves' own 20 s stay in reserve).
    fn call<T>(
        &self,
        deadline: Instant,
        what: &str,
        f: impl std::future::Future<Output = Result<T, sgw::Error>>,
    ) -> Result<T, String> {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .saturating_sub(changer::ops::MIN_TIME_FOR_A_MOVE)
            .max(MIN_CHECK_TIME);
        self.link
            .runtime
            .block_on(async { tokio::time::timeout(left, f).await })
            .map_err(|_| format!("{what}: no answer from the gateway API within {left:?}"))?
            .map_err(|e| e.to_string())
    }

    /// The tape as the gateway knows it now: its ARN from the table (read in full when the
    /// barcode is not there), then a fresh DescribeTapes of that one tape.
    fn tape(&self, barcode: &str, deadline: Instant) -> Result<Option<sgw::Tape>, String> {
        let known = self.link.state().tapes.get(barcode).map(|t| t.arn.clone());
        let arn = match known {
            Some(arn) => arn,
            None => {
                let all = self.call(
                    deadline,
                    "DescribeTapes",
                    self.link.gateway.describe_tapes(&[]),
                )?;
                self.link.remember(&all);
                self.link.state().tapes_read = Some(Instant::now());
                match all.into_iter().find(|t| t.barcode == barcode) {
                    Some(t) => t.arn,
                    None => return Ok(None),
                }
            }
        };
        let fresh = self.call(
            deadline,
            "DescribeTapes",
            self.link.gateway.describe_tapes(std::slice::from_ref(&arn)),
        )?;
        self.link.remember(&fresh);
        Ok(fresh.into_iter().find(|t| t.barcode == barcode))
    }

    fn decide(&mut self, export: &Export) -> Result<Archival, Archival> {
        let context = self.context();
        let mut archival = Archival {
            barcode: export.barcode.clone(),
            status: None,
            size_used_bytes: None,
            pool: None,
            allowed: false,
            reason: String::new(),
        };
        let refuse = |mut a: Archival, why: String| {
            a.reason = why;
            Err(a)
        };
        let reason = match self.link.export.decide(export.barcode.as_deref()) {
            Ok(r) => r,
            Err(why) => return refuse(archival, why),
        };
        let Some(barcode) = export.barcode.as_deref() else {
            return refuse(
                archival,
                "the cartridge has no barcode, so the gateway cannot say what would be archived"
                    .into(),
            );
        };
        let tape = match self.tape(barcode, context.deadline) {
            Ok(Some(t)) => t,
            Ok(None) => {
                return refuse(
                    archival,
                    format!("the gateway does not know tape {barcode} (DescribeTapes)"),
                );
            }
            Err(e) => {
                return refuse(
                    archival,
                    format!("cannot ask the gateway about {barcode}: {e}"),
                );
            }
        };
        archival.status = Some(tape.status.as_str().to_owned());
        archival.size_used_bytes = tape.used_bytes;
        archival.pool = tape.pool_id.clone();
        if !matches!(tape.status, TapeStatus::Available | TapeStatus::Retrieved) {
            return refuse(
                archival,
                format!(
                    "tape {barcode} is {}; only an AVAILABLE tape (archived) or a RETRIEVED one (back to the shelf) can be exported",
                    tape.status
                ),
            );
        }
        let health = if context.force {
            None
        } else {
            let h = self.call(context.deadline, "health", self.link.gateway.health());
            self.link.record_health(h.clone());
            self.link.unhealthy(&h)
        };
        if let Some(why) = health {
            return refuse(
                archival,
                format!("{why} (changer move --force exports anyway)"),
            );
        }
        archival.allowed = true;
        archival.reason = if context.force {
            format!("{reason}; gateway health not checked (--force)")
        } else {
            format!("{reason}; gateway healthy")
        };
        self.checked = Some(tape);
        Ok(archival)
    }
}

impl ExportGuard for Guard {
    fn check(&mut self, export: &Export) -> Result<(), String> {
        self.checked = None;
        let decision = self.decide(export);
        let (archival, result) = match decision {
            Ok(a) => (a, Ok(())),
            Err(a) => {
                let tape = export.barcode.as_deref().unwrap_or("the cartridge");
                // One line: Bareos shows the first line of what a Changer Command prints.
                let line = format!(
                    "export of {tape} to slot {} refused: {} (library {})",
                    export.to, a.reason, self.link.serial
                )
                .replace(['\n', '\r'], " ");
                tracing::warn!(
                    barcode = tape,
                    from = %export.from,
                    to = export.to.0,
                    requested_by = %self.context().peer.map(|p| p.to_string()).unwrap_or_default(),
                    reason = %a.reason,
                    "export refused"
                );
                self.link
                    .metrics
                    .archivals
                    .get_or_create(&ArchivalLabels {
                        library: self.link.serial.clone(),
                        result: "refused".into(),
                    })
                    .inc();
                (a, Err(line))
            }
        };
        self.context.lock().unwrap_or_else(|e| e.into_inner()).last = Some(archival);
        result
    }

    fn exported(&mut self, export: &Export, result: Result<(), String>) {
        let Some(tape) = self.checked.take() else {
            return;
        };
        let peer = self.context().peer;
        let requested_by = peer
            .map(|p| p.to_string())
            .unwrap_or_else(|| "changerd".into());
        match result {
            Ok(()) => {
                tracing::warn!(
                    barcode = %tape.barcode,
                    from = %export.from,
                    to = export.to.0,
                    status_before = %tape.status,
                    size_used_bytes = tape.used_bytes.unwrap_or(0),
                    pool = tape.pool_id.as_deref().unwrap_or(""),
                    requested_by,
                    "archival started: the tape is in an import/export slot of the gateway"
                );
                self.link
                    .metrics
                    .archivals
                    .get_or_create(&ArchivalLabels {
                        library: self.link.serial.clone(),
                        result: "started".into(),
                    })
                    .inc();
                let status = if tape.status == TapeStatus::Retrieved {
                    TapeStatus::Retrieved
                } else {
                    TapeStatus::Available
                };
                self.link
                    .follow(tape.arn, tape.barcode, status, Purpose::Archive);
            }
            Err(e) => tracing::error!(
                barcode = %tape.barcode,
                requested_by,
                cause = %e,
                "the export was allowed but the move failed; nothing was archived by it"
            ),
        }
    }
}
