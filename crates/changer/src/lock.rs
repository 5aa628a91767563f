//! One lock per library (contract C5's serialisation), keyed by the changer's serial number,
//! so `changer` processes, several storage daemons and an operator never interleave moves.
//!
//! It is an advisory `flock` on `<lock_dir>/<serial>.lock`: the kernel drops it when the
//! holder dies, so a killed process leaves no stale lock behind. Moves take it exclusively,
//! reads shared.
//!
//! Least privilege: whoever may open a lock file may hold the library (and stop every backup),
//! so the directory belongs to a group — the package's `changer`, with Bareos' user in it —
//! and is not world-writable: tmpfiles.d makes it `root:changer 2770`
//! (packaging/tmpfiles.d/changer.conf). Lock files are created 0660 (set through the open
//! descriptor, whatever the umask) and inherit the directory's group. They are opened with
//! `O_NOFOLLOW`, and anything but a regular file with one link is refused, so a planted
//! link never redirects a write (or a mode change) of root's elsewhere.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::sys::stat::{Mode as FileMode, fchmod};

/// Mode of the lock files: the owner and the directory's group.
pub const FILE_MODE: u32 = 0o660;
/// Mode of a lock directory `changer` has to create itself: the creator's group, set-group-ID
/// so that files inherit it (tmpfiles.d creates it so at boot when the package is installed).
pub const DIR_MODE: u32 = 0o2770;

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
        "cannot create lock file {path}: {source} (this user must be able to write the lock \
         directory: add it to the directory's group — the package's group `changer` — or set \
         lock_dir in the configuration to a directory it may write)"
    )]
    Create {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The lock path is a symbolic link: never followed (it could point at any file root
    /// may write).
    #[error(
        "refusing lock file {path}: it is a symbolic link, which changer never follows; remove \
         it, and make the lock directory writable only by root and the changer group \
         (root:changer 2770, as packaging/tmpfiles.d/changer.conf creates it)"
    )]
    Symlink {
        /// The lock file.
        path: PathBuf,
    },
    /// The lock path is not a plain file.
    #[error(
        "refusing lock file {path}: it is {what}, not a regular file; remove it, and make the \
         lock directory writable only by root and the changer group (root:changer 2770)"
    )]
    NotRegular {
        /// The lock file.
        path: PathBuf,
        /// What it is.
        what: &'static str,
    },
    /// Anybody may replace the lock files: two holders could each believe they are alone.
    #[error(
        "refusing lock directory {dir}: it is world-writable without the sticky bit (mode \
         {mode:04o}), so any local user could replace a lock file under a holder; make it \
         root:changer 2770 (`chown root:changer {dir}; chmod 2770 {dir}`) or set lock_dir"
    )]
    InsecureDir {
        /// The directory.
        dir: PathBuf,
        /// Its mode.
        mode: u32,
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
    prepare_dir(dir, &path)?;
    let mut file = open_lock_file(&path)?;
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
                if daemon_holds(&file) && holder != Some(DAEMON_HOLDER) =>
            {
                return Err(LockError::OwnedByDaemon {
                    serial: serial.to_owned(),
                    holder: read_holder(&file),
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
                    holder: read_holder(&file),
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

/// Creates the lock directory when it is missing ([`DIR_MODE`], set through its descriptor),
/// and refuses one anybody may write without the sticky bit.
fn prepare_dir(dir: &Path, path: &Path) -> Result<(), LockError> {
    let create = |source| LockError::Create {
        path: path.to_owned(),
        source,
    };
    if !dir.is_dir() {
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent).map_err(create)?;
        }
        match std::fs::DirBuilder::new().mode(0o770).create(dir) {
            Ok(()) => {
                // Ours, just made: the mode (and set-group-ID) through the descriptor, so
                // the umask does not matter and nothing follows a link.
                match OpenOptions::new()
                    .read(true)
                    .custom_flags(
                        (OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC).bits(),
                    )
                    .open(dir)
                {
                    Ok(fd) => fchmod(fd.as_raw_fd(), FileMode::from_bits_truncate(DIR_MODE))
                        .map_err(|e| create(e.into()))?,
                    // A umask that took even the owner's read bit: the directory cannot be
                    // opened, only changed by path — after checking it is still the directory
                    // just made (not a link put in its place).
                    Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                        let meta = dir.symlink_metadata().map_err(create)?;
                        if !meta.is_dir() || meta.uid() != nix::unistd::geteuid().as_raw() {
                            return Err(create(e));
                        }
                        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(DIR_MODE))
                            .map_err(create)?;
                    }
                    Err(e) => return Err(create(e)),
                }
            }
            // Another process made it meanwhile.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(create(e)),
        }
    }
    let mode = std::fs::metadata(dir).map_err(create)?.permissions().mode() & 0o7777;
    if mode & 0o002 != 0 && mode & 0o1000 == 0 {
        return Err(LockError::InsecureDir {
            dir: dir.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// Opens (creating it [`FILE_MODE`] if needed) the lock file, never through a link.
fn open_lock_file(path: &Path) -> Result<File, LockError> {
    let flags = (OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NOCTTY).bits();
    let open = |create: bool, write: bool| {
        let mut options = OpenOptions::new();
        options.read(true).write(write).custom_flags(flags);
        if create {
            options.create_new(true).mode(FILE_MODE);
        }
        options.open(path)
    };
    let refused = |source: std::io::Error| match nix::errno::Errno::from_raw(
        source.raw_os_error().unwrap_or(0),
    ) {
        nix::errno::Errno::ELOOP => LockError::Symlink {
            path: path.to_owned(),
        },
        nix::errno::Errno::EISDIR => LockError::NotRegular {
            path: path.to_owned(),
            what: "a directory",
        },
        nix::errno::Errno::ENXIO => LockError::NotRegular {
            path: path.to_owned(),
            what: "a socket or a device without a driver",
        },
        _ => LockError::Create {
            path: path.to_owned(),
            source,
        },
    };
    let (file, created) = match open(true, true) {
        Ok(f) => (f, true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match open(false, true) {
            Ok(f) => (f, false),
            // Made by another user without group write: flock needs only a read descriptor.
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                (open(false, false).map_err(refused)?, false)
            }
            Err(e) => return Err(refused(e)),
        },
        Err(e) => return Err(refused(e)),
    };
    let meta = file.metadata().map_err(refused)?;
    let kind = meta.file_type();
    let what = if kind.is_dir() {
        Some("a directory")
    } else if std::os::unix::fs::FileTypeExt::is_fifo(&kind) {
        Some("a named pipe")
    } else if std::os::unix::fs::FileTypeExt::is_char_device(&kind)
        || std::os::unix::fs::FileTypeExt::is_block_device(&kind)
    {
        Some("a device")
    } else if !kind.is_file() {
        Some("not a plain file")
    } else if meta.nlink() != 1 {
        // A hard link to some other file (root's mode change would reach that file).
        Some("a file with several hard links")
    } else {
        None
    };
    if let Some(what) = what {
        return Err(LockError::NotRegular {
            path: path.to_owned(),
            what,
        });
    }
    if created {
        fchmod(file.as_raw_fd(), FileMode::from_bits_truncate(FILE_MODE)).map_err(|e| {
            LockError::Create {
                path: path.to_owned(),
                source: e.into(),
            }
        })?;
    }
    Ok(file)
}

/// What the holder wrote into the lock file, read through the open descriptor.
fn read_holder(file: &File) -> String {
    let mut buf = vec![0u8; 512];
    let n = file.read_at(&mut buf, 0).unwrap_or(0);
    buf.truncate(n);
    String::from_utf8_lossy(&buf).trim().to_owned()
}

/// Whether the holder of a busy lock is `changerd` keeping the library for good.
fn daemon_holds(file: &File) -> bool {
    read_holder(file).starts_with(DAEMON_HOLDER)
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

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn directory_and_file_belong_to_a_group_not_to_everybody() {
        let dir = tempfile::tempdir().unwrap();
        let locks = dir.path().join("locks");
        let held = acquire(&locks, "L", Mode::Exclusive, Instant::now()).unwrap();
        assert_eq!(mode(&locks), 0o2770);
        assert_eq!(mode(held.path()), 0o660);
        // The directory's group, not the creator's primary one, when the directory says so.
        let gid = std::fs::metadata(&locks).unwrap().gid();
        assert_eq!(std::fs::metadata(held.path()).unwrap().gid(), gid);
    }

    #[test]
    fn a_planted_symlink_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("precious");
        std::fs::write(&target, "root's data\n").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
        let locks = dir.path().join("locks");
        std::fs::create_dir(&locks).unwrap();
        std::os::unix::fs::symlink(&target, locks.join("L.lock")).unwrap();
        let err = acquire(&locks, "L", Mode::Exclusive, Instant::now()).unwrap_err();
        assert!(matches!(err, LockError::Symlink { .. }), "{err:?}");
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "root's data\n");
        assert_eq!(mode(&target), 0o600);
        // A dangling one does not create its target either.
        let missing = dir.path().join("missing");
        std::os::unix::fs::symlink(&missing, locks.join("M.lock")).unwrap();
        let err = acquire(&locks, "M", Mode::Shared, Instant::now()).unwrap_err();
        assert!(matches!(err, LockError::Symlink { .. }), "{err:?}");
        assert!(!missing.exists());
    }

    #[test]
    fn anything_but_a_regular_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("D.lock")).unwrap();
        let err = acquire(dir.path(), "D", Mode::Shared, Instant::now()).unwrap_err();
        assert!(
            matches!(
                err,
                LockError::NotRegular {
                    what: "a directory",
                    ..
                }
            ),
            "{err:?}"
        );
        nix::unistd::mkfifo(
            &dir.path().join("F.lock"),
            FileMode::from_bits_truncate(0o600),
        )
        .unwrap();
        let err = acquire(dir.path(), "F", Mode::Shared, Instant::now()).unwrap_err();
        assert!(
            matches!(
                err,
                LockError::NotRegular {
                    what: "a named pipe",
                    ..
                }
            ),
            "{err:?}"
        );
        let other = dir.path().join("other");
        std::fs::write(&other, "x").unwrap();
        std::fs::hard_link(&other, dir.path().join("H.lock")).unwrap();
        let err = acquire(dir.path(), "H", Mode::Exclusive, Instant::now()).unwrap_err();
        assert!(matches!(err, LockError::NotRegular { .. }), "{err:?}");
        assert_eq!(std::fs::read_to_string(&other).unwrap(), "x");
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }

    #[test]
    fn a_world_writable_directory_without_sticky_bit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = acquire(dir.path(), "L", Mode::Shared, Instant::now()).unwrap_err();
        assert!(
            matches!(err, LockError::InsecureDir { mode: 0o777, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("2770"), "{err}");
        // The old layout (sticky, like /run/lock) still works; `changer doctor` warns about it.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        acquire(dir.path(), "L", Mode::Shared, Instant::now()).unwrap();
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
