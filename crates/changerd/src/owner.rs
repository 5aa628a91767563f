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

use crate::journal::{Event, Journal, Recovery, Unfinished};
use crate::metrics::{DriveLabels, LibraryLabel, Metered, Metrics, MoveLabels, epoch_ms};

/// Attempts at reading the serial number at start.
const SERIAL_ATTEMPTS: u32 = 3;

/// What a client asks of a library.
#[derive(Debug, Clone)]
pub enum Work {
    /// A Changer Command.
    Bareos(BareosCommand),
    /// `changer status`.
    Status,
    /// `changer move`.
    Move(Place, Place),
    /// `changer inventory`.
    Inventory,
}

impl Work {
    fn moves(&self) -> bool {
        match self {
            Work::Bareos(c) => c.moves(),
            Work::Status => false,
            // The robot scans every element: nothing else may run meanwhile.
            Work::Move(..) | Work::Inventory => true,
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
    pub fn start(
        device: &str,
        config: &Config,
        roots: &Roots,
        metrics: Arc<Metrics>,
        served: &[Arc<Shared>],
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
            },
            shared,
            metrics,
            vendor: inquiry.vendor,
            product: inquiry.product,
            lock_dir: config.lock_dir.clone(),
            _lock: lock,
            rendered: Vec::new(),
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
            Work::Move(from, to) => {
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
