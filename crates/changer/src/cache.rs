//! The daemon's picture of a library between requests (contract C5, docs/daemon.md).
//!
//! Direct mode reads the library for every command. `changerd` keeps the last inventory and
//! the drives' serial numbers, updates them from its own acknowledged moves without reading
//! again, and throws them away when the library may have changed behind its back: a UNIT
//! ATTENTION (power on, reset, an operator's door, a mode change), a move whose outcome is
//! not known for certain, INITIALIZE ELEMENT STATUS, or age (`cache_max_age`).
//!
//! In `exclusive` mode (the daemon is the library's only user) a read is answered from the
//! cache without a SCSI command. In `shared` mode others may move cartridges too, so a read
//! first reads again what it answers about: one READ ELEMENT STATUS of the drive for
//! `loaded`, the whole inventory for the others; moves always start from a fresh read.

use std::sync::Arc;
use std::time::{Duration, Instant};

use scsi_changer::ElementAddress;
use scsi_changer::changer::DriveIdentifiers;
use serde::{Deserialize, Serialize};

use crate::ops::Snapshot;

/// How the daemon answers reads (the `cache` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheMode {
    /// The daemon is the library's sole user: reads send no SCSI command.
    #[default]
    Exclusive,
    /// Others may move cartridges: reads re-read what they answer about.
    Shared,
}

impl CacheMode {
    /// `exclusive` or `shared`.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheMode::Exclusive => "exclusive",
            CacheMode::Shared => "shared",
        }
    }
}

/// What a command is about to do with the picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Answer a question about the whole library (`list`, `listall`, `slots`, `status`).
    Read,
    /// Answer `loaded` for one drive.
    ReadDrive(scsi_changer::DriveIndex),
    /// Check and send a move.
    Move,
}

/// Why the picture was dropped, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalidation {
    /// A UNIT ATTENTION came back.
    UnitAttention,
    /// A move failed or its outcome could not be predicted.
    MoveOutcome,
    /// INITIALIZE ELEMENT STATUS re-scanned the library.
    Rescan,
    /// Older than `cache_max_age`.
    Age,
    /// Asked for (start, recovery).
    Requested,
}

impl Invalidation {
    /// For logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Invalidation::UnitAttention => "unit_attention",
            Invalidation::MoveOutcome => "move_outcome",
            Invalidation::Rescan => "rescan",
            Invalidation::Age => "age",
            Invalidation::Requested => "requested",
        }
    }
}

/// The cached picture of one library.
#[derive(Debug)]
pub struct Cache {
    /// Exclusive or shared.
    pub mode: CacheMode,
    /// Longest time a picture is trusted.
    pub max_age: Duration,
    snapshot: Option<Arc<Snapshot>>,
    /// When the library was last read in full.
    read_at: Option<Instant>,
    /// The drives' device identifiers (DVCID) read with the snapshot; `Some(None)` when the
    /// library has none.
    identifiers: Option<Option<DriveIdentifiers>>,
    /// Reads answered from the cache alone.
    pub hits: u64,
    /// Reads that had to ask the library.
    pub misses: u64,
    /// Changes whenever the picture does: what was rendered from one generation may be
    /// answered again while it lasts.
    generation: u64,
}

impl Cache {
    /// An empty cache.
    pub fn new(mode: CacheMode, max_age: Duration) -> Cache {
        Cache {
            mode,
            max_age,
            snapshot: None,
            read_at: None,
            identifiers: None,
            hits: 0,
            misses: 0,
            generation: 0,
        }
    }

    /// The picture, unless it is older than `max_age` (then it is dropped).
    pub fn current(&mut self) -> Option<Arc<Snapshot>> {
        if self.read_at.is_some_and(|at| at.elapsed() > self.max_age) {
            self.invalidate(Invalidation::Age);
        }
        self.snapshot.clone()
    }

    /// The picture's generation, when there is a picture young enough to answer from.
    pub fn generation(&mut self) -> Option<u64> {
        self.current().map(|_| self.generation)
    }

    /// Stores a picture just read from the library.
    pub fn store(&mut self, snapshot: Arc<Snapshot>) {
        self.generation += 1;
        self.snapshot = Some(snapshot);
        self.read_at = Some(Instant::now());
        self.identifiers = None;
    }

    /// Replaces one element of the picture after reading it again (the full-read time stays).
    /// Returns `false` when the picture has no such element.
    pub fn patch(&mut self, element: scsi_changer::element::ElementStatus) -> bool {
        let Some(snap) = self.snapshot.as_mut() else {
            return false;
        };
        self.generation += 1;
        match Arc::make_mut(snap).inv.element_mut(element.address) {
            Some(e) if e.element_type == element.element_type => {
                *e = element;
                true
            }
            _ => false,
        }
    }

    /// The drives' identifiers read with the current picture.
    pub fn identifiers(&self) -> Option<&Option<DriveIdentifiers>> {
        self.snapshot.as_ref().and(self.identifiers.as_ref())
    }

    /// Keeps the drives' identifiers read for the current picture.
    pub fn store_identifiers(&mut self, ids: Option<DriveIdentifiers>) {
        if self.snapshot.is_some() {
            self.identifiers = Some(ids);
        }
    }

    /// Applies an acknowledged move; drops the picture when the move does not fit it.
    pub fn moved(&mut self, source: ElementAddress, destination: ElementAddress) {
        let Some(snap) = self.snapshot.as_mut() else {
            return;
        };
        self.generation += 1;
        if !Arc::make_mut(snap).inv.apply_move(source, destination) {
            self.invalidate(Invalidation::MoveOutcome);
        }
    }

    /// Forgets the picture: the next command reads the library.
    pub fn invalidate(&mut self, why: Invalidation) {
        if self.snapshot.is_some() {
            tracing::info!(reason = why.as_str(), "cached inventory dropped");
        }
        self.snapshot = None;
        self.read_at = None;
        self.identifiers = None;
        self.generation += 1;
    }

    /// Time since the library was last read in full; `None` when there is no picture.
    pub fn age(&self) -> Option<Duration> {
        self.snapshot.as_ref()?;
        self.read_at.map(|at| at.elapsed())
    }
}
