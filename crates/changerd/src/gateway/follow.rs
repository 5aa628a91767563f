//! The follower: one task per gateway library that polls the API — the gateway's health every
//! `health_interval`, its tape list every `tapes_interval`, and each tape whose status is
//! changing with a pause that starts at `follow_interval` and doubles up to
//! `follow_max_interval` (all tapes due in one ListTapes call). The API is rate-limited and
//! statuses change over minutes to hours: nothing here loops faster than the configuration.
//!
//! When a followed tape changes status the library may have changed too (the gateway removes
//! archived tapes from the I/E slots and puts retrieved and new ones there by itself), so the
//! library's thread is asked to read the library again. RETRIEVED and new tapes are imported
//! through the library's thread, then the hook runs. The low-water mark of each
//! `[[library.new_tapes]]` rule is checked after every read of the tape list.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use changer::gateway::GatewayConfig;
use changer_proto::{AnswerBody, LibraryStatus};
use sgw::TapeStatus;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::hooks::{self, HookRun};
use super::{Event, Followed, Link, Purpose};
use crate::metrics::{ArchivalLabels, LibraryLabel};
use crate::owner::{Job, Work};
use crate::server::dispatch;

/// Budget of the work the follower asks of the library's thread (imports are moves).
const LIBRARY_BUDGET: Duration = Duration::from_secs(600);

/// Imports of a RETRIEVED or new tape tried before the follower gives up on finding it in an
/// I/E slot.
const IMPORT_ATTEMPTS: u32 = 20;

/// One library's follower.
pub struct Follower {
    link: Arc<Link>,
    queue: mpsc::Sender<Job>,
    events: mpsc::UnboundedReceiver<Event>,
    stopping: CancellationToken,
    health_due: Instant,
    tapes_due: Instant,
    /// Retrievals to this gateway under way when the daemon started have been looked for.
    resumed_retrievals: bool,
}

impl Follower {
    /// A follower of `link`, asking the library's thread through `queue`.
    pub fn new(
        link: Arc<Link>,
        queue: mpsc::Sender<Job>,
        events: mpsc::UnboundedReceiver<Event>,
        stopping: CancellationToken,
    ) -> Follower {
        let now = Instant::now();
        Follower {
            link,
            queue,
            events,
            stopping,
            health_due: now,
            tapes_due: now,
            resumed_retrievals: false,
        }
    }

    fn interval(&self, seconds: f64) -> Duration {
        GatewayConfig::seconds(seconds)
    }

    /// Polls until the daemon stops.
    pub async fn run(mut self) {
        loop {
            let next = {
                let state = self.link.state();
                state
                    .following
                    .values()
                    .map(|f| f.next)
                    .chain([self.health_due, self.tapes_due])
                    .min()
                    .unwrap_or(self.health_due)
            };
            tokio::select! {
                () = self.stopping.cancelled() => return,
                event = self.events.recv() => match event {
                    Some(event) => self.apply(event),
                    None => return,
                },
                () = tokio::time::sleep_until(next.into()) => {}
            }
            let now = Instant::now();
            if now >= self.health_due {
                let health = self.link.gateway.health().await.map_err(|e| e.to_string());
                if let Err(e) = &health {
                    tracing::warn!(serial = %self.link.serial, cause = %e, "gateway health check failed");
                }
                self.link.record_health(health);
                self.health_due = now + self.interval(self.link.config.health_interval);
            }
            if now >= self.tapes_due {
                self.tapes_due = now + self.interval(self.link.config.tapes_interval);
                if self.read_tapes().await {
                    self.low_water().await;
                }
            }
            self.poll().await;
        }
    }

    fn apply(&mut self, event: Event) {
        let Event::Follow {
            arn,
            barcode,
            status,
            purpose,
        } = event;
        let pause = self.interval(self.link.config.follow_interval);
        let now = Instant::now();
        tracing::info!(serial = %self.link.serial, barcode, status = %status, purpose = purpose.as_str(), "following the tape");
        self.link.state().following.insert(
            arn,
            Followed {
                barcode,
                status,
                purpose,
                since: now,
                next: now + pause,
                pause,
                import_attempts: 0,
            },
        );
        // An export leaves fewer tapes in the storage slots: the low-water mark is checked
        // with a fresh tape list.
        self.tapes_due = now;
        self.publish_following();
    }

    fn publish_following(&self) {
        let count = self.link.state().following.len();
        self.link
            .metrics
            .tapes_followed
            .get_or_create(&LibraryLabel {
                library: self.link.serial.clone(),
            })
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Reads the gateway's tape list; tapes in a changing status nobody follows yet (a daemon
    /// restarted mid-archival) are followed from now on. `false` when the read failed.
    async fn read_tapes(&mut self) -> bool {
        let tapes = match self.link.gateway.describe_tapes(&[]).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(serial = %self.link.serial, cause = %e, "cannot read the gateway's tape list");
                return false;
            }
        };
        let mut resumed = Vec::new();
        {
            let mut state = self.link.state();
            state.tapes = tapes
                .iter()
                .map(|t| (t.barcode.clone(), t.clone()))
                .collect();
            state.tapes_read = Some(Instant::now());
            for t in &tapes {
                let purpose = match t.status {
                    TapeStatus::InTransitToVts | TapeStatus::Archiving => Purpose::Archive,
                    TapeStatus::Creating => Purpose::Create,
                    _ => continue,
                };
                if !state.following.contains_key(&t.arn) {
                    resumed.push((t.arn.clone(), t.barcode.clone(), t.status.clone(), purpose));
                }
            }
        }
        if !self.resumed_retrievals {
            // A retrieval is on the shelf's side until RETRIEVED: it is found there, by the
            // gateway it goes to.
            match self.link.gateway.describe_tape_archives(&[]).await {
                Ok(archives) => {
                    self.resumed_retrievals = true;
                    let following = self.link.state().following.clone();
                    for a in archives {
                        if a.status == TapeStatus::Retrieving
                            && a.retrieved_to.as_deref() == Some(self.link.gateway.arn())
                            && !following.contains_key(&a.arn)
                        {
                            resumed.push((a.arn, a.barcode, a.status, Purpose::Retrieve));
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(serial = %self.link.serial, cause = %e, "cannot look for retrievals under way; trying again at the next read");
                }
            }
        }
        for (arn, barcode, status, purpose) in resumed {
            self.apply(Event::Follow {
                arn,
                barcode,
                status,
                purpose,
            });
        }
        true
    }

    /// Looks at every followed tape that is due, in one ListTapes call.
    async fn poll(&mut self) {
        let now = Instant::now();
        let due: Vec<String> = self
            .link
            .state()
            .following
            .iter()
            .filter(|(_, f)| f.next <= now)
            .map(|(arn, _)| arn.clone())
            .collect();
        if due.is_empty() {
            return;
        }
        let max_pause = self.interval(self.link.config.follow_max_interval);
        let first_pause = self.interval(self.link.config.follow_interval);
        let infos = match self.link.gateway.list_tapes(&due).await {
            Ok(infos) => infos,
            Err(e) => {
                tracing::warn!(serial = %self.link.serial, cause = %e, "cannot read the status of the tapes followed; trying again later");
                let mut state = self.link.state();
                for arn in &due {
                    if let Some(f) = state.following.get_mut(arn) {
                        f.pause = (f.pause * 2).min(max_pause);
                        f.next = now + f.pause;
                    }
                }
                return;
            }
        };
        let statuses: BTreeMap<&str, &TapeStatus> =
            infos.iter().map(|i| (i.arn.as_str(), &i.status)).collect();
        let mut library_changed = false;
        let mut settled = false;
        let mut imports: Vec<(String, Purpose)> = Vec::new();
        {
            let mut state = self.link.state();
            for arn in &due {
                let Some(f) = state.following.get_mut(arn) else {
                    continue;
                };
                let Some(&status) = statuses.get(arn.as_str()) else {
                    tracing::warn!(barcode = %f.barcode, purpose = f.purpose.as_str(), "the gateway no longer lists the tape (deleted?); not following it any more");
                    state.following.remove(arn);
                    settled = true;
                    continue;
                };
                let previous = f.status.clone();
                if *status != f.status {
                    tracing::info!(
                        serial = %self.link.serial,
                        barcode = %f.barcode,
                        from = %f.status,
                        to = %status,
                        after = ?f.since.elapsed(),
                        purpose = f.purpose.as_str(),
                        "tape status changed"
                    );
                    f.status = status.clone();
                    f.since = now;
                    f.pause = first_pause;
                    library_changed = true;
                } else {
                    f.pause = (f.pause * 2).min(max_pause);
                }
                f.next = now + f.pause;
                let done = match (f.purpose, status) {
                    (Purpose::Archive, TapeStatus::Archived) => {
                        tracing::warn!(barcode = %f.barcode, "archived: the tape is on the tape shelf");
                        self.count_archival("archived");
                        true
                    }
                    // Still AVAILABLE right after the export: the gateway has not noticed the
                    // move yet. AVAILABLE after IN TRANSIT TO VTS: the archival was cancelled.
                    (Purpose::Archive, TapeStatus::Available)
                        if previous == TapeStatus::Available =>
                    {
                        false
                    }
                    (Purpose::Archive | Purpose::Cancel, TapeStatus::Available) => {
                        tracing::info!(barcode = %f.barcode, "the tape is AVAILABLE again (archival cancelled)");
                        true
                    }
                    (Purpose::Cancel, TapeStatus::Archiving | TapeStatus::Archived) => {
                        tracing::warn!(barcode = %f.barcode, status = %status, "too late to cancel the archival");
                        true
                    }
                    (Purpose::Retrieve, TapeStatus::Archived) => {
                        tracing::warn!(barcode = %f.barcode, "the retrieval ended with the tape ARCHIVED (cancelled?)");
                        true
                    }
                    (Purpose::Retrieve, TapeStatus::Retrieved)
                    | (Purpose::Create, TapeStatus::Available) => {
                        imports.push((f.barcode.clone(), f.purpose));
                        false
                    }
                    (_, TapeStatus::Irrecoverable | TapeStatus::Deleted) => {
                        tracing::error!(barcode = %f.barcode, status = %status, "the gateway reports the tape lost");
                        true
                    }
                    _ => false,
                };
                if done {
                    state.following.remove(arn);
                    settled = true;
                }
            }
        }
        if library_changed || !imports.is_empty() {
            self.refresh_library().await;
        }
        for purpose in [Purpose::Retrieve, Purpose::Create] {
            let barcodes: Vec<String> = imports
                .iter()
                .filter(|(_, p)| *p == purpose)
                .map(|(b, _)| b.clone())
                .collect();
            if !barcodes.is_empty() {
                self.import(purpose, barcodes).await;
                settled = true;
            }
        }
        if settled {
            self.tapes_due = Instant::now();
        }
        self.publish_following();
    }

    fn count_archival(&self, result: &str) {
        self.link
            .metrics
            .archivals
            .get_or_create(&ArchivalLabels {
                library: self.link.serial.clone(),
                result: result.into(),
            })
            .inc();
    }

    /// Asks the library's thread to read the library again: the gateway changed it.
    async fn refresh_library(&self) {
        if let AnswerBody::Error { message, .. } = dispatch(
            &self.queue,
            &self.link.serial,
            Work::Refresh,
            LIBRARY_BUDGET,
            None,
        )
        .await
        {
            tracing::warn!(serial = %self.link.serial, cause = %message, "cannot read the library again after a gateway change");
        }
    }

    /// Imports RETRIEVED or new tapes from the I/E slots (when configured), then runs the hook.
    async fn import(&mut self, purpose: Purpose, barcodes: Vec<String>) {
        let mut placed: Vec<(String, u16)> = Vec::new();
        let mut missing: Vec<String> = Vec::new();
        if self.link.config.import {
            match dispatch(
                &self.queue,
                &self.link.serial,
                Work::Import(barcodes.clone()),
                LIBRARY_BUDGET,
                None,
            )
            .await
            {
                AnswerBody::Tapes { tapes } => {
                    for t in tapes {
                        match t.location.as_deref().and_then(|l| l.strip_prefix("slot:")) {
                            Some(n) => placed.push((t.barcode, n.parse().unwrap_or(0))),
                            None => missing.push(t.barcode),
                        }
                    }
                }
                other => {
                    tracing::warn!(serial = %self.link.serial, answer = ?other, "the import failed; trying again later");
                    missing = barcodes.clone();
                }
            }
        } else {
            placed = barcodes.iter().map(|b| (b.clone(), 0)).collect();
        }
        {
            let mut state = self.link.state();
            let arns: Vec<String> = state
                .following
                .iter()
                .filter(|(_, f)| f.purpose == purpose)
                .map(|(a, _)| a.clone())
                .collect();
            for arn in arns {
                let Some(f) = state.following.get_mut(&arn) else {
                    continue;
                };
                if placed.iter().any(|(b, _)| *b == f.barcode) {
                    state.following.remove(&arn);
                } else if missing.contains(&f.barcode) {
                    f.import_attempts += 1;
                    if f.import_attempts >= IMPORT_ATTEMPTS {
                        tracing::error!(barcode = %f.barcode, attempts = f.import_attempts, "the tape never appeared in an import/export slot; import it by hand (changer move)");
                        state.following.remove(&arn);
                    }
                }
            }
        }
        if placed.is_empty() {
            return;
        }
        let event = match purpose {
            Purpose::Retrieve => "retrieved",
            _ => "created",
        };
        let label = self
            .link
            .rules
            .iter()
            .any(|r| r.label && placed.iter().any(|(b, _)| b.starts_with(&r.barcode_prefix)));
        let hook = match purpose {
            Purpose::Retrieve => self.link.config.retrieved_hook(),
            _ => self.link.config.created_hook(label),
        };
        tracing::info!(serial = %self.link.serial, event, tapes = ?placed, "imported");
        let Some(command) = hook else {
            tracing::info!(
                event,
                "no hook configured (set bareos_storage, or {event}_hook)"
            );
            return;
        };
        let link = Arc::clone(&self.link);
        let timeout = self.interval(self.link.config.hook_timeout);
        tokio::spawn(async move {
            let barcodes = placed.iter().map(|(b, _)| b.clone()).collect();
            let slots = placed.iter().map(|(_, s)| *s).filter(|s| *s != 0).collect();
            let run = HookRun {
                event,
                device: &link.device,
                serial: &link.serial,
                barcodes,
                slots,
            };
            if let Err(e) = hooks::run(&command, run, timeout).await {
                tracing::error!(serial = %link.serial, cause = %e, "hook failed");
            }
        });
    }

    /// Creates tapes where a `[[library.new_tapes]]` rule finds too few AVAILABLE tapes in the
    /// storage slots, counting tapes already being created.
    async fn low_water(&mut self) {
        if self.link.rules.is_empty() {
            return;
        }
        let status = match dispatch(
            &self.queue,
            &self.link.serial,
            Work::Status,
            LIBRARY_BUDGET,
            None,
        )
        .await
        {
            AnswerBody::Status(s) => s,
            other => {
                tracing::warn!(answer = ?other, "cannot read the library for the low-water mark");
                return;
            }
        };
        for rule in self.link.rules.clone() {
            let (available, pending, stored) = self.count(&status, &rule.barcode_prefix);
            let want = usize::from(rule.min_available);
            if available + pending >= want {
                continue;
            }
            let free = status
                .slots
                .iter()
                .filter(|s| s.kind == "storage" && !s.full)
                .count();
            let mut count = (want - available - pending).min(10);
            if self.link.config.import {
                count = count.min(free.saturating_sub(pending));
            }
            if count == 0 {
                tracing::warn!(prefix = %rule.barcode_prefix, available, free, "below the low-water mark but no storage slot is free for new tapes");
                continue;
            }
            let spec = sgw::NewTapes {
                prefix: rule.barcode_prefix.clone(),
                size_bytes: rule.size_gib * 1024 * 1024 * 1024,
                count: u8::try_from(count).unwrap_or(10),
                pool_id: rule.pool.clone(),
                client_token: client_token(&self.link.serial, &rule.barcode_prefix, &stored, count),
            };
            tracing::info!(prefix = %rule.barcode_prefix, available, pending, min_available = want, count, "below the low-water mark: creating tapes");
            match self.link.gateway.create_tapes(&spec).await {
                Ok(arns) => {
                    self.link
                        .metrics
                        .tapes_created
                        .get_or_create(&LibraryLabel {
                            library: self.link.serial.clone(),
                        })
                        .inc_by(u64::try_from(arns.len()).unwrap_or(0));
                    for arn in arns {
                        let barcode = arn.rsplit('/').next().unwrap_or("").to_owned();
                        self.apply(Event::Follow {
                            arn,
                            barcode,
                            status: TapeStatus::Creating,
                            purpose: Purpose::Create,
                        });
                    }
                }
                Err(e) => {
                    tracing::error!(prefix = %rule.barcode_prefix, cause = %e, "CreateTapes failed");
                }
            }
        }
    }

    /// AVAILABLE tapes with the prefix in storage slots, tapes of that prefix being created or
    /// waiting for their import, and the barcodes counted (for the idempotency token).
    fn count(&self, status: &LibraryStatus, prefix: &str) -> (usize, usize, Vec<String>) {
        let state = self.link.state();
        let mut stored: Vec<String> = status
            .slots
            .iter()
            .filter(|s| s.kind == "storage")
            .filter_map(|s| s.barcode.clone())
            .chain(status.drives.iter().filter_map(|d| d.barcode.clone()))
            .filter(|b| b.starts_with(prefix))
            .filter(|b| {
                state
                    .tapes
                    .get(b)
                    .is_some_and(|t| t.status == TapeStatus::Available)
            })
            .collect();
        stored.sort();
        let pending = state
            .following
            .values()
            .filter(|f| f.purpose == Purpose::Create && f.barcode.starts_with(prefix))
            .count();
        (stored.len(), pending, stored)
    }
}

/// CreateTapes' ClientToken: the same library, rule, counted tapes and number give the same
/// token, so a call repeated after a lost answer or a restart creates nothing twice.
fn client_token(serial: &str, prefix: &str, counted: &[String], count: usize) -> String {
    // FNV-1a: a stable hash (std's hasher is randomised per process).
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    feed(serial.as_bytes());
    feed(b"\0");
    feed(prefix.as_bytes());
    for c in counted {
        feed(b"\0");
        feed(c.as_bytes());
    }
    feed(&count.to_le_bytes());
    format!("changerd-{prefix}-{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_token_is_stable_and_depends_on_what_was_counted() {
        let a = client_token("S1", "BAR", &["BAR1".into(), "BAR2".into()], 3);
        assert_eq!(
            a,
            client_token("S1", "BAR", &["BAR1".into(), "BAR2".into()], 3)
        );
        assert_ne!(a, client_token("S1", "BAR", &["BAR1".into()], 3));
        assert_ne!(
            a,
            client_token("S1", "BAR", &["BAR1".into(), "BAR2".into()], 2)
        );
        assert_ne!(
            a,
            client_token("S2", "BAR", &["BAR1".into(), "BAR2".into()], 3)
        );
        assert!((5..=100).contains(&a.len()));
    }
}
