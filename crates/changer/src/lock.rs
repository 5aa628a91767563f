//! One lock per library (contract C5's serialisation), keyed by the changer's serial number,
//! so `changer` processes, several storage daemons and an operator never interleave moves.
//!
//! It is an advisory `flock` on `<lock_dir>/<serial>.lock`: the kernel drops it when the
//! holder dies, so a killed process leaves no stale lock behind. Moves take it exclusively,
//! reads shared.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How a lock is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Readers: any number at once, never during a move.
    Shared,
    /// A move: alone.
    Exclusive,
}

/// A held library lock; released on drop.
#[derive(Debug)]
pub struct LibraryLock {
    _file: File,
    path: PathBuf,
    mode: Mode,
}

impl Drop for LibraryLock {
    fn drop(&mut self) {
        // Logged before the file (and so the lock) is closed: in a shared log, a release
        // always precedes the next holder's "taken".
        tracing::debug!(lock = %self.path.display(), mode = ?self.mode, pid = std::process::id(), "library lock released");
    }
}

impl LibraryLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Failure to take the lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The lock file could not be created.
    #[error(
        "cannot create lock file {path}: {source} (set lock_dir in the configuration to a writable directory)"
    )]
    Create {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `changerd` holds the library for good (`cache = "exclusive"`): waiting is pointless.
    #[error(
        "library {serial} belongs to changerd ({holder}), which holds {path} while it runs; \
         this process could not reach it on its socket: check that changerd is running and \
         that the `socket` key or CHANGER_SOCKET names its socket"
    )]
    OwnedByDaemon {
        /// The library's serial.
        serial: String,
        /// The lock file.
        path: PathBuf,
        /// What the daemon wrote into the file.
        holder: String,
    },
    /// Someone else held it until the deadline.
    #[error(
        "library {serial} is busy: another process held {path} for {waited:?} ({holder}); try again when it has finished"
    )]
    Busy {
        /// The library's serial.
        serial: String,
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        waited: Duration,
        /// What the holder wrote into the file.
        holder: String,
    },
}

/// Takes the lock of library `serial` in `dir`, waiting until `deadline` at most.
pub fn acquire(
    dir: &Path,
    serial: &str,
    mode: Mode,
    deadline: Instant,
) -> Result<LibraryLock, LockError> {
    acquire_unless(dir, serial, mode, deadline, &|| false)
}

/// A serial number as a file name: characters other than ASCII letters, digits, `-`, `_` and
/// `.` become `_` (serials may hold blanks and slashes). The lock and the daemon's journal of a
/// library share it.
pub fn file_stem(serial: &str) -> String {
    serial
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// What `changerd` writes into a lock it holds for as long as it runs.
pub const DAEMON_HOLDER: &str = "changerd, cache exclusive";

/// [`acquire`], giving up early (as busy) when `stop()` turns true while waiting.
pub fn acquire_unless(
    dir: &Path,
    serial: &str,
    mode: Mode,
    deadline: Instant,
    stop: &dyn Fn() -> bool,
) -> Result<LibraryLock, LockError> {
    acquire_as(dir, serial, mode, deadline, stop, None)
}

/// [`acquire_unless`], naming the holder in the lock file (`changerd` marks the lock it keeps
/// with [`DAEMON_HOLDER`], so a direct invocation refuses at once instead of waiting).
pub fn acquire_as(
    dir: &Path,
    serial: &str,
    mode: Mode,
    deadline: Instant,
    stop: &dyn Fn() -> bool,
    holder: Option<&str>,
) -> Result<LibraryLock, LockError> {
    let path = dir.join(format!("{}.lock", file_stem(serial)));
    // Bareos runs as its own user, operators as root: the directory is shared like /run/lock
    // (sticky, world-writable) and lock files are readable and writable by all, so whoever
    // comes first does not lock the others out.
    if !dir.is_dir() {
        std::fs::create_dir_all(dir).map_err(|source| LockError::Create {
            path: path.clone(),
            source,
        })?;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1777));
    }
    let created = !path.exists();
    let mut file = match OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o666)
        .open(&path)
    {
        Ok(f) => f,
        // A lock file made by another user with a stricter umask: flock needs only a read fd.
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            File::open(&path).map_err(|source| LockError::Create {
                path: path.clone(),
                source,
            })?
        }
        Err(source) => return Err(LockError::Create { path, source }),
    };
    if created {
        let _ = file.set_permissions(std::fs::Permissions::from_mode(0o666));
    }
    let started = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        let taken = match mode {
            Mode::Shared => file.try_lock_shared(),
            Mode::Exclusive => file.try_lock(),
        };
        match taken {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock)
                if daemon_holds(&path) && holder != Some(DAEMON_HOLDER) =>
            {
                return Err(LockError::OwnedByDaemon {
                    serial: serial.to_owned(),
                    holder: read_holder(&path),
                    path,
                });
            }
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline && !stop() => {
                std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(LockError::Busy {
                    serial: serial.to_owned(),
                    holder: read_holder(&path),
                    path,
                    waited: started.elapsed(),
                });
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(LockError::Create { path, source });
            }
        }
    }
    if mode == Mode::Exclusive {
        // Who holds it, for the message of whoever waits.
        let _ = file.set_len(0);
        let _ = writeln!(
            file,
            "{}pid {} since {}",
            holder.map(|h| format!("{h}, ")).unwrap_or_default(),
            std::process::id(),
            humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        );
    }
    tracing::debug!(lock = %path.display(), ?mode, pid = std::process::id(), waited = ?started.elapsed(), "library lock taken");
    Ok(LibraryLock {
        _file: file,
        path,
        mode,
    })
}

fn read_holder(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Whether the holder of a busy lock is `changerd` keeping the library for good.
fn daemon_holds(path: &Path) -> bool {
    read_holder(path).starts_with(DAEMON_HOLDER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_excludes_and_is_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let soon = || Instant::now() + Duration::from_millis(50);
        let held = acquire(dir.path(), "LIB/1", Mode::Exclusive, soon()).unwrap();
        assert!(held.path().ends_with("LIB_1.lock"));
        let err = acquire(dir.path(), "LIB/1", Mode::Shared, soon()).unwrap_err();
        assert!(
            err.to_string().contains("busy") && err.to_string().contains("pid"),
            "{err}"
        );
        drop(held);
        acquire(dir.path(), "LIB/1", Mode::Exclusive, soon()).unwrap();
    }

    #[test]
    fn directory_and_file_are_shared_between_users() {
        let dir = tempfile::tempdir().unwrap();
        let locks = dir.path().join("locks");
        let held = acquire(&locks, "L", Mode::Exclusive, Instant::now()).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&locks), 0o1777);
        assert_eq!(mode(held.path()), 0o666);
    }

    #[test]
    fn a_library_the_daemon_keeps_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let long = Instant::now() + Duration::from_secs(60);
        let _daemon = acquire_as(
            dir.path(),
            "L",
            Mode::Exclusive,
            long,
            &|| false,
            Some(DAEMON_HOLDER),
        )
        .unwrap();
        let started = Instant::now();
        let err = acquire(dir.path(), "L", Mode::Shared, long).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5), "it waited");
        assert!(
            matches!(err, LockError::OwnedByDaemon { .. }) && err.to_string().contains("socket"),
            "{err}"
        );
        // The holder's start in a person's words: "since 2026-12-03T17:00:00Z".
        let text = err.to_string();
        let since = text.split(" since ").nth(1).unwrap_or("");
        assert!(
            since.starts_with("20") && since.contains('T') && since.contains("Z)"),
            "{text}"
        );
    }

    #[test]
    fn readers_share() {
        let dir = tempfile::tempdir().unwrap();
        let soon = || Instant::now() + Duration::from_millis(50);
        let _a = acquire(dir.path(), "L", Mode::Shared, soon()).unwrap();
        let _b = acquire(dir.path(), "L", Mode::Shared, soon()).unwrap();
        assert!(acquire(dir.path(), "L", Mode::Exclusive, soon()).is_err());
    }
}
