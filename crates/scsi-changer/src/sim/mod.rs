//! The simulated library (`sim:PATH`, contract C3): a tape library whose state is a file of
//! `mtx status` text, answering SCSI commands through the same [`Transport`] trait as SG_IO,
//! so the whole driver stack runs against it unchanged. docs/simulator.md describes the file.
//!
//! * [`state`]: the `mtx status` text model ([`SimState`], rendered byte-identical), `parse`:
//!   reading it.
//! * `directives`, [`faults`]: the `# sim:` lines (identities, addresses, faults, runtime state).
//! * `layout`: element addresses.
//! * `scsi`, `res`, `moves`: CDBs in, SPC-4/SMC-3 answers out.
//! * `file`: the sidecar lock and atomic write-back.
//!
//! Every command — from any [`SimTransport`] of any process — takes the exclusive lock on
//! `PATH.lock`, re-reads PATH, applies itself and, when something changed, writes PATH back by
//! atomic rename before unlocking. Consecutive and concurrent processes therefore see each
//! other's moves, and one that finds PATH changed by someone else since its last look gets one
//! UNIT ATTENTION 28h/00h on its next changer command, as a library reports an operator's
//! change.

mod directives;
pub mod faults;
mod file;
mod layout;
mod moves;
mod parse;
mod res;
mod scsi;
pub mod state;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::error::Error;
use crate::transport::{Command, Completion, DataDirection, Transport};

pub use faults::Fault;
pub use state::{SimElement, SimState};

/// A handle on a simulated library file. Clones share the view of the file (what this
/// process last read or wrote), so all of them count as one initiator.
#[derive(Clone)]
pub struct SimLibrary {
    inner: Arc<Inner>,
}

struct Inner {
    /// PATH as given (for names and messages).
    given: PathBuf,
    /// PATH with symlinks resolved: read and replaced there, so a link stays a link, and two
    /// names of one file share one lock.
    canonical: PathBuf,
    lock_path: PathBuf,
    /// `sim:<PATH as given>`.
    name: String,
    default_serial: String,
    view: Mutex<View>,
}

/// What this process knows of the file.
#[derive(Default)]
struct View {
    /// The content last read or written by this process.
    last_seen: Vec<u8>,
    /// `last_seen` parsed; `None` before the first read and after a failed write.
    state: Option<SimState>,
    /// The file changed behind our back: a UNIT ATTENTION is due on the next changer command.
    attention: bool,
}

impl fmt::Debug for SimLibrary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimLibrary")
            .field("path", &self.inner.given)
            .finish_non_exhaustive()
    }
}

/// Why a transaction on the file failed.
enum TxError {
    Io(io::Error),
    Parse(String),
}

impl TxError {
    fn into_io(self) -> io::Error {
        match self {
            TxError::Io(e) => e,
            TxError::Parse(m) => io::Error::new(io::ErrorKind::InvalidData, m),
        }
    }
}

impl SimLibrary {
    /// Opens `path`. A missing file is [`Error::Open`] (like a device that cannot be opened);
    /// a file that is not `mtx status` text is [`Error::Sim`] naming the line.
    pub fn open(path: &Path) -> crate::Result<SimLibrary> {
        let open_error = |source: io::Error| Error::Open {
            path: path.to_owned(),
            source,
        };
        let canonical = std::fs::canonicalize(path).map_err(open_error)?;
        if canonical.is_dir() {
            return Err(open_error(io::Error::new(
                io::ErrorKind::IsADirectory,
                "a simulated library is a file of `mtx status` text, not a directory",
            )));
        }
        let default_serial = format!("SIM{:08X}", fnv1a(canonical.as_os_str().as_encoded_bytes()));
        let lib = SimLibrary {
            inner: Arc::new(Inner {
                given: path.to_owned(),
                lock_path: file::lock_path(&canonical),
                canonical,
                name: format!("sim:{}", path.display()),
                default_serial,
                view: Mutex::new(View::default()),
            }),
        };
        lib.transact(|_, _| ()).map_err(|e| match e {
            TxError::Io(e) => open_error(e),
            TxError::Parse(m) => Error::Sim(m),
        })?;
        Ok(lib)
    }

    /// The changer's logical unit. Its [`Transport::name`] is `sim:<PATH as given>`.
    pub fn changer(&self) -> SimTransport {
        SimTransport {
            lib: self.clone(),
            unit: Unit::Changer,
            name: self.inner.name.clone(),
        }
    }

    /// Drive `index`'s logical unit (a tape drive), if the library has that drive.
    pub fn drive(&self, index: u16) -> Option<SimTransport> {
        let count = self.read(|s| s.drive_count()).ok()?;
        (index < count).then(|| SimTransport {
            lib: self.clone(),
            unit: Unit::Drive(index),
            name: format!("{} drive {index}", self.inner.name),
        })
    }

    /// The drive an archive device belongs to: a path bound by `# sim: drive N path=…`
    /// (compared as given), else `/dev/nst<n>` or `/dev/st<n>` for a drive n without bound
    /// paths.
    pub fn drive_index_for_path(&self, archive_device: &Path) -> Option<u16> {
        self.read(|s| {
            let drives = 0..s.drive_count();
            if let Some(i) = drives.clone().find(|i| {
                s.drive_paths(usize::from(*i))
                    .iter()
                    .any(|p| p == archive_device)
            }) {
                return Some(i);
            }
            let n = default_drive_number(archive_device)?;
            (drives.contains(&n) && s.drive_paths(usize::from(n)).is_empty()).then_some(n)
        })
        .ok()
        .flatten()
    }

    /// The archive device to name for drive `index` in messages: its first bound path, else
    /// `/dev/nst<index>`.
    pub fn archive_device(&self, index: u16) -> Option<PathBuf> {
        self.read(|s| {
            (index < s.drive_count()).then(|| {
                s.drive_paths(usize::from(index))
                    .first()
                    .cloned()
                    .unwrap_or_else(|| PathBuf::from(format!("/dev/nst{index}")))
            })
        })
        .ok()
        .flatten()
    }

    /// The changer's serial number: `# sim: changer serial=…`, else `SIM` + 8 hex digits of
    /// an FNV-1a hash of the canonical path (the same in every process).
    pub fn changer_serial(&self) -> crate::Result<String> {
        let default = self.inner.default_serial.clone();
        self.read(|s| s.changer_serial().map_or(default, str::to_owned))
    }

    /// Adds `fault` to the file (under the lock), so every process using it sees the fault.
    pub fn inject(&self, fault: Fault) -> crate::Result<()> {
        self.transact(|state, _| state.push_fault(fault))
            .map_err(|e| self.error(e))?
    }

    /// The library as the file holds it now.
    pub fn state(&self) -> crate::Result<SimState> {
        self.read(SimState::clone)
    }

    /// Changes the library as an operator would — or a program acting for one, such as the
    /// AWS Storage Gateway emulator taking an archived tape out of an I/E slot. `f` runs on
    /// the state as the file holds it now, in the same transaction a SCSI command uses: under
    /// the lock on `PATH.lock`, after a fresh read, written back by atomic rename only when the
    /// text changed. Other handles see the edit as an outside change (UNIT ATTENTION 28h/00h
    /// once); this one does not.
    ///
    /// `f` may fail half-way (a [`SimState::set_slot`] that is refused): whatever it changed
    /// before is still written, so check first, then change.
    pub fn edit<R>(&self, f: impl FnOnce(&mut SimState) -> R) -> crate::Result<R> {
        self.transact(|state, _| f(state))
            .map_err(|e| self.error_during("editing the simulated library", e))
    }

    /// The path as given to [`SimLibrary::open`].
    pub fn path(&self) -> &Path {
        &self.inner.given
    }

    fn error(&self, e: TxError) -> Error {
        self.error_during("reading the simulated library", e)
    }

    fn error_during(&self, op: &'static str, e: TxError) -> Error {
        match e {
            TxError::Io(source) => Error::Io {
                device: self.inner.name.clone(),
                op,
                source,
            },
            TxError::Parse(m) => Error::Sim(m),
        }
    }

    /// A read-only transaction.
    fn read<R>(&self, f: impl FnOnce(&SimState) -> R) -> crate::Result<R> {
        self.transact(|s, _| f(s)).map_err(|e| self.error(e))
    }

    /// Locks the file, brings the view up to date, runs `f`, writes back what changed.
    fn transact<R>(&self, f: impl FnOnce(&mut SimState, &mut bool) -> R) -> Result<R, TxError> {
        let mut view = self.view();
        let _lock = file::lock(&self.inner.lock_path).map_err(TxError::Io)?;
        let content = std::fs::read(&self.inner.canonical).map_err(TxError::Io)?;
        let first_read = view.state.is_none() && view.last_seen.is_empty();
        if content != view.last_seen || view.state.is_none() {
            let state = self.parse(&content)?;
            if content != view.last_seen && !first_read {
                tracing::info!(
                    library = %self.inner.name,
                    "simulated library changed by someone else: unit attention due"
                );
                view.attention = true;
            }
            view.state = Some(state);
            view.last_seen = content;
        }
        let View {
            state, attention, ..
        } = &mut *view;
        let Some(state) = state.as_mut() else {
            return Err(TxError::Parse("internal: no state after parsing".into()));
        };
        let result = f(state, attention);
        // Setters mark the state dirty even when they store what was there: compare the text,
        // so a no-op leaves the file (and everyone's view of it) alone.
        let changed = state
            .take_dirty()
            .then(|| state.render())
            .filter(|text| text.as_bytes() != view.last_seen.as_slice());
        if let Some(text) = changed {
            if let Err(e) = file::write_atomic(&self.inner.canonical, text.as_bytes()) {
                // The file still holds `last_seen`; parse it again next time.
                view.state = None;
                return Err(TxError::Io(e));
            }
            tracing::debug!(library = %self.inner.name, bytes = text.len(), "simulated library written");
            view.last_seen = text.into_bytes();
        }
        Ok(result)
    }

    fn parse(&self, content: &[u8]) -> Result<SimState, TxError> {
        let name = &self.inner.name;
        let text = std::str::from_utf8(content).map_err(|e| {
            let line = content
                .get(..e.valid_up_to())
                .map_or(1, |ok| ok.iter().filter(|b| **b == b'\n').count() + 1);
            TxError::Parse(format!(
                "{name}: line {line}: not text (invalid UTF-8); expected `mtx status` output"
            ))
        })?;
        parse::parse_text(text).map_err(|e| TxError::Parse(format!("{name}: {e}")))
    }

    fn view(&self) -> MutexGuard<'_, View> {
        // Nothing panics while holding the lock; if something did, the view is still usable
        // (at worst it re-reads the file).
        self.inner
            .view
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// `/dev/nst<n>` or `/dev/st<n>` → n.
fn default_drive_number(path: &Path) -> Option<u16> {
    let text = path.to_str()?;
    let digits = text
        .strip_prefix("/dev/nst")
        .or_else(|| text.strip_prefix("/dev/st"))?;
    let n: u16 = digits.parse().ok()?;
    (n.to_string() == digits).then_some(n)
}

/// 32-bit FNV-1a: small, stable across processes and versions.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Changer,
    Drive(u16),
}

/// One logical unit of a simulated library: the changer, or a drive.
pub struct SimTransport {
    lib: SimLibrary,
    unit: Unit,
    name: String,
}

impl fmt::Debug for SimTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimTransport")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Transport for SimTransport {
    fn execute(&mut self, cmd: Command<'_>) -> io::Result<Completion> {
        let started = Instant::now();
        let mut none: [u8; 0] = [];
        let buf: &mut [u8] = match cmd.data {
            DataDirection::FromDevice(b) => b,
            DataDirection::None | DataDirection::ToDevice(_) => &mut none,
        };
        let default_serial = &self.lib.inner.default_serial;
        let unit = self.unit;
        // A slow robot: the first half of the travel before the cartridge changes places
        // (outside the file lock, so others read meanwhile), the second half after.
        // The directive as the file was last read: no second read of the file per move.
        let travel =
            if unit == Unit::Changer && cmd.cdb.first() == Some(&crate::cdb::opcode::MOVE_MEDIUM) {
                self.lib
                    .view()
                    .state
                    .as_ref()
                    .map_or(std::time::Duration::ZERO, |s| s.config.move_delay)
            } else {
                std::time::Duration::ZERO
            };
        std::thread::sleep(travel / 2);
        let reply = self
            .lib
            .transact(|state, attention| match unit {
                Unit::Changer => scsi::changer(
                    state,
                    scsi::ChangerContext {
                        default_serial,
                        attention,
                    },
                    cmd.cdb,
                    buf,
                ),
                Unit::Drive(i) => scsi::drive(state, usize::from(i), cmd.cdb, buf),
            })
            .map_err(TxError::into_io)?;
        std::thread::sleep(travel - travel / 2);
        tracing::trace!(
            device = %self.name,
            opcode = cmd.cdb.first().copied().unwrap_or(0),
            status = reply.status,
            host = reply.host_status,
            written = reply.written,
            "simulated command"
        );
        Ok(Completion {
            status: reply.status,
            host_status: reply.host_status,
            driver_status: 0,
            resid: buf.len().saturating_sub(reply.written),
            sense: reply.sense,
            duration: Some(started.elapsed()),
        })
    }

    fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_archive_devices() {
        let cases: &[(&str, Option<u16>)] = &[
            ("/dev/nst0", Some(0)),
            ("/dev/st3", Some(3)),
            ("/dev/nst12", Some(12)),
            ("/dev/nst01", None),
            ("/dev/nst", None),
            ("/dev/sg0", None),
            ("nst0", None),
        ];
        for (path, want) in cases {
            assert_eq!(default_drive_number(Path::new(path)), *want, "{path}");
        }
    }

    #[test]
    fn handles_can_cross_threads() {
        fn shared<T: Send + Sync + Clone + fmt::Debug>() {}
        fn sent<T: Send + fmt::Debug>() {}
        shared::<SimLibrary>();
        sent::<SimTransport>();
    }

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        assert_eq!(fnv1a(b""), 0x811c_9dc5);
        assert_eq!(fnv1a(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a(b"foobar"), 0xbf9c_f968);
    }
}
