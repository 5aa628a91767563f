//! The file side of a simulated library: the sidecar lock `PATH.lock` and atomic write-back.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// `PATH.lock`, next to the file.
pub(crate) fn lock_path(path: &Path) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(".lock");
    PathBuf::from(name)
}

/// An exclusive lock on the sidecar file, released when dropped.
#[derive(Debug)]
pub(crate) struct LockGuard(File);

impl Drop for LockGuard {
    fn drop(&mut self) {
        // Closing the file would release the lock anyway; unlocking first says so.
        let _ = self.0.unlock();
    }
}

/// Takes the exclusive lock on `lock_path`, waiting for other holders. The file is created if
/// needed; a read-only one (in a directory we may not write) still locks.
pub(crate) fn lock(lock_path: &Path) -> io::Result<LockGuard> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(lock_path)
        .or_else(|e| match e.kind() {
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
                File::open(lock_path)
            }
            _ => Err(e),
        })
        .map_err(|e| context(e, "cannot open the lock file", lock_path))?;
    file.lock()
        .map_err(|e| context(e, "cannot lock", lock_path))?;
    Ok(LockGuard(file))
}

/// The same error, saying which file it is about (the lock file is not the one the user named).
fn context(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

/// Replaces `path` with `bytes` by writing a temporary file in the same directory and renaming
/// it over `path`, so a reader sees the old or the new text, never a mix. The original's
/// permissions are kept.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or(path.as_os_str());
    let mut tmp_name = OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(
        ".{}.{}.tmp",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        if let Ok(meta) = fs::metadata(path) {
            f.set_permissions(meta.permissions())?;
        }
        drop(f);
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_path_is_a_sidecar() {
        assert_eq!(
            lock_path(Path::new("/tmp/lib.txt")),
            PathBuf::from("/tmp/lib.txt.lock")
        );
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lib.txt");
        fs::write(&path, "old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![OsString::from("lib.txt")]);
    }
}
