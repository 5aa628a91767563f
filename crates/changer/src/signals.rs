//! SIGTERM and SIGINT handling. Bareos sends SIGTERM when Maximum Changer Wait expires (and
//! SIGKILL 5 s later). A robot move already sent must not be abandoned half-known: the signals
//! are blocked in every thread and taken by a watcher thread with `sigwait`, which ends the
//! process at once unless a move is under way, in which case the move finishes, its result is
//! logged, and the main thread exits right after. No handler is installed, so no interrupted
//! system call is ever restarted (a restarted SG_IO would send the MOVE twice).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use nix::sys::signal::{SigSet, Signal};

/// Shared stop state.
#[derive(Clone, Debug, Default)]
pub struct Stop {
    requested: Arc<AtomicBool>,
    moving: Arc<Mutex<()>>,
}

impl Stop {
    /// Whether SIGTERM or SIGINT arrived.
    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Marks a move under way until the guard drops; `None` when a stop was already requested.
    pub fn enter_move(&self) -> Option<MutexGuard<'_, ()>> {
        let guard = self.moving.lock().unwrap_or_else(|p| p.into_inner());
        (!self.requested()).then_some(guard)
    }

    /// A stop state with no signal handling (tests, library use).
    pub fn none() -> Stop {
        Stop::default()
    }
}

/// Blocks SIGTERM and SIGINT and starts the watcher. Call before any other thread starts.
pub fn install() -> Stop {
    let stop = Stop::default();
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    if set.thread_block().is_err() {
        return stop;
    }
    let watcher = stop.clone();
    std::thread::spawn(move || {
        if let Ok(signal) = set.wait() {
            watcher.requested.store(true, Ordering::SeqCst);
            // Holding the move lock means no move is under way and none can start.
            if let Ok(_idle) = watcher.moving.try_lock() {
                tracing::warn!(%signal, "stopped by signal; no move was under way");
                std::process::exit(1);
            }
            tracing::warn!(%signal, "signal received during a move; finishing the move first");
        }
    });
    stop
}
