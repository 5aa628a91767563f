//! SIGTERM and SIGINT handling, for protocol mode and for human commands that move. Bareos sends
//! SIGTERM when Maximum Changer Wait expires (and SIGKILL 5 s later); a person presses Ctrl-C.
//! A robot move already sent must not be abandoned half-known, so no signal handler is
//! installed at all: the two signals are blocked and read from a signalfd at every step
//! boundary. Between steps the operation gives up at once; a move under way finishes, its
//! result is reported, and the process exits non-zero right after. (Signals that cannot be
//! blocked — SIGSTOP, the freezer — only pause the wait: the sg transport never re-sends a
//! command, see `scsi_changer::sg_io`.)

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// Whether a stop was requested; cheap to clone and to ask.
#[derive(Clone, Debug, Default)]
pub struct Stop {
    fd: Option<Arc<SignalFd>>,
    /// The signal that arrived, 0 before.
    requested: Arc<AtomicI32>,
}

impl Stop {
    /// Whether SIGTERM or SIGINT has arrived (reads the signalfd without blocking).
    pub fn requested(&self) -> bool {
        if self.requested.load(Ordering::SeqCst) != 0 {
            return true;
        }
        if let Some(fd) = &self.fd
            && let Ok(Some(info)) = fd.read_signal()
        {
            tracing::warn!(signal = info.ssi_signo, "stop requested by signal");
            let signo = i32::try_from(info.ssi_signo).unwrap_or(i32::MAX);
            self.requested.store(signo, Ordering::SeqCst);
            return true;
        }
        false
    }

    /// The signal that asked for the stop, for messages: `SIGTERM (Maximum Changer Wait
    /// expired?)`, `SIGINT`.
    pub fn cause(&self) -> String {
        match Signal::try_from(self.requested.load(Ordering::SeqCst)) {
            Ok(Signal::SIGTERM) => "SIGTERM (Maximum Changer Wait expired?)".into(),
            Ok(signal) => signal.as_str().into(),
            Err(_) => "a signal".into(),
        }
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
