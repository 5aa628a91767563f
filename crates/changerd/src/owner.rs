//! One owner per robot (aesthetics §3.14): a dedicated thread holds the library's transport,
//! its cache and its journal, and serves a queue of requests one at a time, so two moves never
//! run on one robot and no SCSI command ever blocks a tokio worker.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use changer::cache::{Cache, CacheMode, Invalidation, Purpose};
use changer::config::Config;
use changer::library::Library;
use changer::lock::{self, LibraryLock, Mode};
use changer::ops::{Endpoint, Session};
use changer::protocol;
use changer_proto::{AnswerBody, BareosCommand, CacheState, ErrorKind, LibraryInfo, Place};
use scsi_changer::discovery::Roots;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::gateway::{Guard, GuardContext, Link};
use crate::journal::{Event, Journal, Recovery, Unfinished};
use crate::metrics::{DriveLabels, LibraryLabel, Metered, Metrics, MoveLabels, epoch_ms};

/// Attempts at reading the serial number at start.
const SERIAL_ATTEMPTS: u32 = 3;

/// Connects a library's gateway, given its device and serial: `None` when it has none.
pub type ConnectGateway<'a> = dyn FnMut(&str, &str) -> anyhow::Result<Option<Arc<Link>>> + 'a;

/// What a client (or the gateway follower) asks of a library.
#[derive(Debug, Clone)]
pub enum Work {
    /// A Changer Command.
    Bareos(BareosCommand),
    /// `changer status`.
    Status,
    /// `changer move`.
    Move(Place, Place, MoveFlags),
    /// `changer inventory`.
    Inventory,
    /// Read the library again: the gateway changed its I/E slots.
    Refresh,
    /// Move these tapes from the I/E slots into free storage slots (retrieved or new tapes).
    Import(Vec<String>),
}

/// How `changer move` asks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MoveFlags {
    /// Check only.
    pub dry_run: bool,
    /// Export to an unhealthy gateway.
    pub force: bool,
}

impl Work {
    fn moves(&self) -> bool {
        match self {
            Work::Bareos(c) => c.moves(),
            Work::Status | Work::Refresh => false,
            Work::Move(_, _, flags) => !flags.dry_run,
            // The robot scans every element: nothing else may run meanwhile.
            Work::Inventory | Work::Import(_) => true,
        }
    }
}

/// Who sent a request: the socket peer's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// User id.
    pub uid: u32,
    /// Process id, when the kernel tells.
    pub pid: Option<i32>,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "uid {} pid {pid}", self.uid),
            None => write!(f, "uid {}", self.uid),
        }
    }
}

/// A request in the queue.
#[derive(Debug)]
pub struct Job {
    /// What to do.
    pub work: Work,
    /// When the caller stops waiting.
    pub deadline: Instant,
    /// Where the answer goes (a closed receiver is fine: the work is done anyway).
    pub reply: oneshot::Sender<AnswerBody>,
    /// Who decides the job's fate: the library's thread starting it, or the server giving
    /// up on it at its deadline — whichever comes first, never both.
    pub claim: Arc<Claim>,
    /// Who asked (none: the daemon itself).
    pub peer: Option<Peer>,
}

/// A job's fate, decided once.
#[derive(Debug, Default)]
pub struct Claim(std::sync::atomic::AtomicU8);

impl Claim {
    const QUEUED: u8 = 0;
    const STARTED: u8 = 1;
    const ABANDONED: u8 = 2;

    /// The library's thread takes the job; `false` when the server already gave up on it.
    pub fn start(&self) -> bool {
        self.0
            .compare_exchange(
                Self::QUEUED,
                Self::STARTED,
                Ordering::SeqCst,
                Ordering::SeqCst,
            )
            .is_ok()
    }

    /// The server gives up on a job still queued; `false` when it has started (its answer
    /// must then be waited for: a move under way is never reported as not done).
    pub fn abandon(&self) -> bool {
        self.0
            .compare_exchange(
                Self::QUEUED,
                Self::ABANDONED,
                Ordering::SeqCst,
                Ordering::SeqCst,
            )
            .is_ok()
    }
}

/// What the rest of the daemon knows of a library without asking its thread.
#[derive(Debug)]
pub struct Shared {
    /// Device as configured.
    pub device: String,
    /// Unit serial number.
    pub serial: String,
    /// The device's identity for matching a client's name: the resolved sg node, or the
    /// simulator file's canonical path.
    pub resolved: Option<PathBuf>,
    /// Cache mode.
    pub mode: CacheMode,
    /// When the inventory was read in full, ms since the epoch (0: nothing cached).
    pub read_at: Arc<AtomicU64>,
}

impl Shared {
    /// The library for the `libraries` answer.
    pub fn info(&self) -> LibraryInfo {
        let at = self.read_at.load(Ordering::Relaxed);
        LibraryInfo {
            device: self.device.clone(),
            serial: self.serial.clone(),
            cache: CacheState {
                mode: self.mode.as_str().to_owned(),
                age_ms: (at != 0).then(|| epoch_ms().saturating_sub(at)),
            },
        }
    }
}

/// A library opened and ready to serve.
pub struct Owner {
    session: Session,
    shared: Arc<Shared>,
    metrics: Arc<Metrics>,
    vendor: String,
    product: String,
    lock_dir: PathBuf,
    /// Held for the daemon's life in exclusive mode: direct `changer` processes refuse at once.
    _lock: Option<LibraryLock>,
    /// `list`, `listall` and `slots` as last rendered, with the cache generation they came
    /// from: rendering 3200 slots costs milliseconds, answering them again costs a copy.
    rendered: Vec<(BareosCommand, u64, protocol::Answer)>,
    /// What the export guard needs to know of the request under way (gateway libraries).
    guard_context: Option<Arc<std::sync::Mutex<GuardContext>>>,
    /// The AWS Storage Gateway behind the library.
    gateway: Option<Arc<Link>>,
}

/// How a library's identity is matched: its resolved device.
pub fn resolve(device: &str, roots: &Roots) -> Option<PathBuf> {
    match device.strip_prefix("sim:") {
        Some(path) => std::fs::canonicalize(path).ok(),
        None => scsi_changer::discovery::sg_node_for(roots, Path::new(device))
            .ok()
            .and_then(|p| std::fs::canonicalize(&p).ok().or(Some(p))),
    }
}

impl Owner {
    /// Opens a configured library: transport, serial, lock, journal (settling unfinished
    /// moves), then the first inventory.
    /// `served` are the serials of the libraries already started: a second name of one of
    /// them is refused at once (it would wait for the lock its twin holds).
    /// `gateway` connects the library's AWS Storage Gateway when its config names one.
    pub fn start(
        device: &str,
        config: &Config,
        roots: &Roots,
        metrics: Arc<Metrics>,
        served: &[Arc<Shared>],
        gateway: &mut ConnectGateway<'_>,
    ) -> anyhow::Result<Owner> {
        let label = Arc::new(std::sync::OnceLock::new());
        let (m, l) = (Arc::clone(&metrics), Arc::clone(&label));
        let mut lib = Library::open_with(device, roots, move |t| Box::new(Metered::new(t, m, l)))?;
        let mut attempt = 1;
        let serial = loop {
            match lib.serial() {
                Ok(s) => break s,
                Err(e) if attempt < SERIAL_ATTEMPTS => {
                    tracing::warn!(device, attempt, error = %e, "cannot read the changer's serial number; trying again");
                    std::thread::sleep(Duration::from_secs(1));
                    attempt += 1;
                }
                Err(e) => return Err(e.into()),
            }
        };
        if let Some(twin) = served.iter().find(|s| s.serial == serial) {
            anyhow::bail!(
                "{device} is library {serial}, already served as {}: name each library once",
                twin.device
            );
        }
        let _ = label.set(serial.clone());
        let settings = config.effective(device, Some(&serial));
        lib.changer.set_timeouts(config.scsi_timeouts());
        let lock = match settings.cache {
            CacheMode::Exclusive => Some(lock::acquire_as(
                &config.lock_dir,
                &serial,
                Mode::Exclusive,
                Instant::now() + settings.max_changer_wait,
                &|| false,
                Some(lock::DAEMON_HOLDER),
            )?),
            CacheMode::Shared => None,
        };
        let inquiry = lib.changer.inquiry()?;
        let link = gateway(device, &serial)?;
        let guard_context = link
            .as_ref()
            .map(|_| Arc::new(std::sync::Mutex::new(GuardContext::default())));
        let export_guard = match (&link, &guard_context) {
            (Some(link), Some(context)) => {
                Some(Box::new(Guard::new(Arc::clone(link), Arc::clone(context)))
                    as Box<dyn changer::ops::ExportGuard>)
            }
            _ => None,
        };
        let (journal, unfinished) = Journal::open(&config.state_dir, &serial)?;
        let read_at = metrics.inventory_clock(&serial);
        let shared = Arc::new(Shared {
            device: device.to_owned(),
            serial: serial.clone(),
            resolved: resolve(device, roots),
            mode: settings.cache,
            read_at,
        });
        let mut owner = Owner {
            session: Session {
                lib,
                settings: settings.clone(),
                deadline: Instant::now() + settings.max_changer_wait,
                stop: changer::signals::Stop::none(),
                cache: Some(Cache::new(settings.cache, settings.cache_max_age)),
                journal: None,
                export_guard,
            },
            shared,
            metrics,
            vendor: inquiry.vendor,
            product: inquiry.product,
            lock_dir: config.lock_dir.clone(),
            _lock: lock,
            rendered: Vec::new(),
            guard_context,
            gateway: link,
        };
        let mut journal = journal;
        owner.recover(&mut journal, unfinished)?;
        owner.session.journal = Some(Box::new(journal));
        owner.refresh()?;
        let slots = owner.slot_count();
        tracing::info!(
            device,
            serial = %owner.shared.serial,
            cache = owner.shared.mode.as_str(),
            slots,
            "library ready"
        );
        Ok(owner)
    }

    /// What the rest of the daemon may know.
    pub fn shared(&self) -> Arc<Shared> {
        Arc::clone(&self.shared)
    }

    /// The library's gateway, when it is one.
    pub fn gateway(&self) -> Option<Arc<Link>> {
        self.gateway.clone()
    }

    fn slot_count(&mut self) -> u16 {
        self.session
            .cache
            .as_mut()
            .and_then(Cache::current)
            .map_or(0, |s| s.inv.slot_count())
    }

    /// Reads the whole library into the cache (and the drives' identifiers with it).
    fn refresh(&mut self) -> Result<(), scsi_changer::Error> {
        self.begin(Instant::now() + self.session.settings.max_changer_wait);
        if let Some(cache) = self.session.cache.as_mut() {
            cache.invalidate(Invalidation::Requested);
        }
        let snap = self.session.snapshot_for(Purpose::Read)?;
        self.session.drive_identifiers(&snap)?;
        self.publish();
        Ok(())
    }

    /// Settles the moves the journal left unfinished: reads both elements and records what
    /// they show.
    fn recover(
        &mut self,
        journal: &mut Journal,
        unfinished: Vec<Unfinished>,
    ) -> anyhow::Result<()> {
        for u in unfinished {
            self.begin(Instant::now() + self.session.settings.max_changer_wait);
            let (st, sa) = u.source.scsi();
            let (dt, da) = u.destination.scsi();
            let changer = &mut self.session.lib.changer;
            let source = changer.read_element(st, sa)?;
            let destination = changer.read_element(dt, da)?;
            let tag = |e: &scsi_changer::element::ElementStatus| e.barcode().map(str::to_owned);
            let holds = |e: &scsi_changer::element::ElementStatus| {
                e.full && (u.barcode.is_none() || tag(e) == u.barcode)
            };
            let result = if holds(&destination) && !source.full {
                Recovery::Moved
            } else if holds(&source) && !destination.full {
                Recovery::NotMoved
            } else {
                Recovery::Unknown
            };
            let describe = |e: &scsi_changer::element::ElementStatus| match (e.full, tag(e)) {
                (false, _) => "empty".to_owned(),
                (true, Some(t)) => format!("holds {t}"),
                (true, None) => "holds a cartridge without barcode".to_owned(),
            };
            let found = format!(
                "source {}, destination {}",
                describe(&source),
                describe(&destination)
            );
            tracing::warn!(
                seq = u.seq,
                r#move = %u.words,
                barcode = u.barcode.as_deref().unwrap_or(""),
                outcome = ?result,
                %found,
                "a move was under way when the daemon stopped; settled from what the library reports"
            );
            journal.append(u.seq, Event::Recovered { result, found })?;
        }
        Ok(())
    }

    /// Sets the deadline of the next request.
    fn begin(&mut self, deadline: Instant) {
        self.session.deadline = deadline;
        self.session.lib.changer.set_deadline(Some(deadline));
    }

    /// Publishes the cache's state and counters.
    fn publish(&mut self) {
        let label = LibraryLabel {
            library: self.shared.serial.clone(),
        };
        if let Some(cache) = self.session.cache.as_mut() {
            let hits = std::mem::take(&mut cache.hits);
            let misses = std::mem::take(&mut cache.misses);
            self.metrics.cache_hits.get_or_create(&label).inc_by(hits);
            self.metrics
                .cache_misses
                .get_or_create(&label)
                .inc_by(misses);
            let read_at = cache.age().map_or(0, |age| {
                epoch_ms().saturating_sub(u64::try_from(age.as_millis()).unwrap_or(0))
            });
            self.shared.read_at.store(read_at, Ordering::Relaxed);
        }
    }

    /// Serves the queue until every sender is gone. After `stop` is cancelled, queued work is
    /// refused; what is under way always finishes.
    pub fn serve(mut self, mut queue: mpsc::Receiver<Job>, stop: CancellationToken) {
        while let Some(job) = queue.blocking_recv() {
            if stop.is_cancelled() {
                let _ = job.reply.send(AnswerBody::Error {
                    kind: ErrorKind::ShuttingDown,
                    message:
                        "changerd is stopping and takes no new work; try again when it is back"
                            .into(),
                });
                continue;
            }
            if !job.claim.start() {
                continue;
            }
            if Instant::now() >= job.deadline {
                let _ = job.reply.send(AnswerBody::Error {
                    kind: ErrorKind::Busy,
                    message: format!(
                        "library {} was busy with other requests for longer than this one's budget; nothing was done",
                        self.shared.serial
                    ),
                });
                continue;
            }
            if let Some(context) = &self.guard_context {
                let mut c = context.lock().unwrap_or_else(|e| e.into_inner());
                *c = GuardContext {
                    peer: job.peer,
                    force: matches!(job.work, Work::Move(_, _, f) if f.force),
                    deadline: job.deadline,
                    last: None,
                };
            }
            let answer = self.handle(&job.work, job.deadline);
            if job.reply.send(answer).is_err() {
                tracing::info!(work = ?job.work, "the client left before the answer; the outcome is in the log and the journal");
            }
        }
        tracing::info!(serial = %self.shared.serial, "library released");
    }

    /// Runs one request.
    fn handle(&mut self, work: &Work, deadline: Instant) -> AnswerBody {
        let span = tracing::info_span!("request", serial = %self.shared.serial, work = ?work);
        let _entered = span.enter();
        tracing::debug!("request started");
        self.begin(deadline);
        // In shared mode the daemon is one user among others: it takes the library lock per
        // request as direct mode does.
        let _lock = match self.shared.mode {
            CacheMode::Exclusive => None,
            CacheMode::Shared => {
                let mode = if work.moves() {
                    Mode::Exclusive
                } else {
                    Mode::Shared
                };
                match lock::acquire_as(
                    &self.lock_dir,
                    &self.shared.serial,
                    mode,
                    deadline,
                    &|| false,
                    Some("changerd, cache shared"),
                ) {
                    Ok(l) => Some(l),
                    Err(e) => {
                        return match work {
                            Work::Bareos(c) => bareos_failure(c, format!("{e}\n")),
                            _ => failed(e.to_string()),
                        };
                    }
                }
            }
        };
        let answer = match work {
            Work::Bareos(command) => {
                let a = self.bareos(command);
                self.count(command, a.status == 0);
                AnswerBody::Bareos {
                    stdout: a.stdout,
                    stderr: a.stderr,
                    status: a.status,
                }
            }
            Work::Status => match changer::human::status::from_session(
                &mut self.session,
                &self.vendor,
                &self.product,
                &self.shared.serial,
            ) {
                Ok((s, _)) => AnswerBody::Status(Box::new(s)),
                Err(e) => failed(e.to_string()),
            },
            Work::Inventory => match self.session.initialize_element_status() {
                Ok(()) => match self.refresh() {
                    Ok(()) => AnswerBody::Inventoried {
                        serial: self.shared.serial.clone(),
                    },
                    Err(e) => failed(format!(
                        "the library re-scanned its elements, but reading them failed: {e}"
                    )),
                },
                Err(e) => failed(e.to_string()),
            },
            Work::Refresh => match self.refresh() {
                Ok(()) => AnswerBody::Inventoried {
                    serial: self.shared.serial.clone(),
                },
                Err(e) => failed(format!("reading the library again failed: {e}")),
            },
            Work::Import(barcodes) => self.import(barcodes),
            Work::Move(from, to, flags) if flags.dry_run => {
                let (from, to) = (Endpoint::from(*from), Endpoint::from(*to));
                let result = self.session.check_move(from, to);
                let archival = self
                    .guard_context
                    .as_ref()
                    .and_then(|c| c.lock().unwrap_or_else(|e| e.into_inner()).last.take());
                match (result, archival) {
                    (Ok(_), archival) => AnswerBody::MoveChecked {
                        from: from.to_string(),
                        to: to.to_string(),
                        archival,
                    },
                    (Err(_), Some(archival)) => AnswerBody::MoveChecked {
                        from: from.to_string(),
                        to: to.to_string(),
                        archival: Some(archival),
                    },
                    (Err(e), None) => failed(e.to_string()),
                }
            }
            Work::Move(from, to, _) => {
                let (from, to) = (Endpoint::from(*from), Endpoint::from(*to));
                let result = self.session.move_between(from, to);
                self.metrics
                    .moves
                    .get_or_create(&MoveLabels {
                        library: self.shared.serial.clone(),
                        kind: "move".into(),
                        result: if result.is_ok() { "ok" } else { "failed" }.into(),
                    })
                    .inc();
                match result {
                    Ok(()) => AnswerBody::Moved {
                        from: from.to_string(),
                        to: to.to_string(),
                    },
                    Err(e) => failed(e.to_string()),
                }
            }
        };
        self.publish();
        tracing::debug!("request finished");
        answer
    }

    /// Moves tapes the gateway put into I/E slots (retrieved or new) into the lowest free
    /// storage slots, after reading the library again. Each tape comes back with its location:
    /// `slot:N` when imported, its I/E slot or none when it could not be.
    fn import(&mut self, barcodes: &[String]) -> AnswerBody {
        if let Err(e) = self.refresh() {
            return failed(format!("reading the library before the import failed: {e}"));
        }
        let mut tapes = Vec::new();
        for barcode in barcodes {
            let snap = match self.session.snapshot_for(Purpose::Read) {
                Ok(s) => s,
                Err(e) => return failed(e.to_string()),
            };
            let inv = &snap.inv;
            let slot_of = |e: &scsi_changer::element::ElementStatus| inv.slot_number(e.address);
            let found = inv
                .import_export
                .iter()
                .find(|e| e.full && e.barcode() == Some(barcode.as_str()))
                .and_then(slot_of);
            let free = inv.storage.iter().find(|e| !e.full).and_then(slot_of);
            let location = match (found, free) {
                (Some(ie), Some(slot)) => {
                    match self
                        .session
                        .move_between(Endpoint::Slot(ie), Endpoint::Slot(slot))
                    {
                        Ok(()) => {
                            tracing::info!(barcode, from = ie.0, to = slot.0, "imported");
                            Some(format!("slot:{slot}"))
                        }
                        Err(e) => {
                            tracing::error!(barcode, from = ie.0, to = slot.0, cause = %e, "import failed");
                            Some(format!("ie:{ie}"))
                        }
                    }
                }
                (Some(ie), None) => {
                    tracing::warn!(barcode, "no storage slot is free to import the tape into");
                    Some(format!("ie:{ie}"))
                }
                (None, _) => None,
            };
            tapes.push(changer_proto::TapeEntry {
                barcode: barcode.clone(),
                status: None,
                location,
                pool: None,
                size_used_bytes: None,
                size_bytes: None,
                arn: None,
            });
        }
        AnswerBody::Tapes { tapes }
    }

    /// A Changer Command, answered again from what was rendered when the exclusive cache has
    /// not changed since (whole-library reads only; `inventory = true` re-scans every time).
    fn bareos(&mut self, command: &BareosCommand) -> protocol::Answer {
        let whole_library = matches!(
            command,
            BareosCommand::List | BareosCommand::Listall | BareosCommand::Slots
        );
        let generation = match self.session.cache.as_mut() {
            Some(cache)
                if whole_library
                    && cache.mode == CacheMode::Exclusive
                    && !self.session.settings.inventory =>
            {
                cache.generation()
            }
            _ => None,
        };
        if let Some(generation) = generation
            && let Some((_, _, answer)) = self
                .rendered
                .iter()
                .find(|(c, g, _)| c == command && *g == generation)
        {
            if let Some(cache) = self.session.cache.as_mut() {
                cache.hits += 1;
            }
            return answer.clone();
        }
        let answer = protocol::answer(&mut self.session, command);
        // Kept only when the picture it was rendered from is still the current one.
        if let Some(generation) = generation
            && answer.status == 0
            && self.session.cache.as_mut().and_then(Cache::generation) == Some(generation)
        {
            self.rendered.retain(|(c, _, _)| c != command);
            self.rendered
                .push((command.clone(), generation, answer.clone()));
        }
        answer
    }

    fn count(&self, command: &BareosCommand, ok: bool) {
        if !command.moves() {
            return;
        }
        self.metrics
            .moves
            .get_or_create(&MoveLabels {
                library: self.shared.serial.clone(),
                kind: command.word().into(),
                result: if ok { "ok" } else { "failed" }.into(),
            })
            .inc();
        if let (BareosCommand::Load { drive, .. }, true) = (command, ok) {
            self.metrics
                .loads
                .get_or_create(&DriveLabels {
                    library: self.shared.serial.clone(),
                    drive: drive.to_string(),
                })
                .inc();
        }
    }
}

fn failed(message: String) -> AnswerBody {
    AnswerBody::Error {
        kind: ErrorKind::Failed,
        message,
    }
}

/// A Changer Command that could not run, printed where that command prints its errors.
fn bareos_failure(command: &BareosCommand, message: String) -> AnswerBody {
    let to_stdout = matches!(
        command,
        BareosCommand::Load { .. } | BareosCommand::Unload { .. }
    );
    AnswerBody::Bareos {
        stdout: if to_stdout {
            message.clone()
        } else {
            String::new()
        },
        stderr: if to_stdout { String::new() } else { message },
        status: 1,
    }
}
