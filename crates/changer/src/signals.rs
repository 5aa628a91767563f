//! SIGTERM and SIGINT handling. Bareos sends SIGTERM when Maximum Changer Wait expires (and
//! SIGKILL 5 s later). A robot move already sent must not be abandoned half-known, and an
//! interrupted SG_IO must never be restarted (that would send the MOVE twice), so no signal
//! handler is installed at all: the two signals are blocked and read from a signalfd at every
//! step boundary. Between steps the operation gives up at once; a move under way finishes, its
//! result is logged, and the process exits right after.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// Whether a stop was requested; cheap to clone and to ask.
#[derive(Clone, Debug, Default)]
pub struct Stop {
    fd: Option<Arc<SignalFd>>,
    requested: Arc<AtomicBool>,
}

impl Stop {
    /// Whether SIGTERM or SIGINT has arrived (reads the signalfd without blocking).
    pub fn requested(&self) -> bool {
        if self.requested.load(Ordering::SeqCst) {
            return true;
        }
        if let Some(fd) = &self.fd
            && let Ok(Some(info)) = fd.read_signal()
        {
            tracing::warn!(signal = info.ssi_signo, "stop requested by signal");
            self.requested.store(true, Ordering::SeqCst);
            return true;
        }
        false
    }

    /// A stop state with no signal handling (tests, human commands).
    pub fn none() -> Stop {
        Stop::default()
    }
}

/// Blocks SIGTERM and SIGINT for the process and returns the handle that reads them. If that
/// fails the process keeps the default behaviour (terminate), which is what Bareos expects.
pub fn install() -> Stop {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    if set.thread_block().is_err() {
        return Stop::none();
    }
    match SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC) {
        Ok(fd) => Stop {
            fd: Some(Arc::new(fd)),
            requested: Arc::default(),
        },
        Err(_) => {
            let _ = set.thread_unblock();
            Stop::none()
        }
    }
}
