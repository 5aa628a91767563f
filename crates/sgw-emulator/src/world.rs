//! Everything the emulator knows, behind one mutex: the tapes, the client tokens already used,
//! the faults to inject and the calls answered. Time-driven transitions (aws-sgw.md §1.3)
//! are applied by [`World::advance`], which every request and the background ticker call.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::gateway::Gateway;
use crate::options::{Delays, SeedTape};
use crate::tape::{LibraryTrack, Tape, TapeStatus};

/// Size of seeded tapes (AWS's smallest, 100 GiB).
pub(crate) const SEED_TAPE_SIZE: u64 = 100 * GIB;
pub(crate) const GIB: u64 = 1 << 30;

/// Faults to inject and gauges to report (the `SetFaults` control operation).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Faults {
    /// The next N AWS calls answer ThrottlingException.
    pub throttle: u32,
    /// The next N AWS calls (after throttling) answer InternalServerError.
    pub internal_error: u32,
    /// HTTP status of those: 500 (the user guide) or 400 (the API pages).
    pub internal_error_status: u16,
    /// Every gateway-scoped call answers InvalidGatewayRequestException/GatewayNotConnected.
    pub disconnected: bool,
    /// DescribeGatewayInformation's GatewayState.
    pub gateway_state: String,
    /// DescribeCache's CacheDirtyPercentage.
    pub cache_dirty_percent: f64,
    /// DescribeUploadBuffer's used share of the allocated buffer.
    pub upload_buffer_used_percent: f64,
}

impl Default for Faults {
    fn default() -> Faults {
        Faults {
            throttle: 0,
            internal_error: 0,
            internal_error_status: 500,
            disconnected: false,
            gateway_state: "RUNNING".into(),
            cache_dirty_percent: 0.0,
            upload_buffer_used_percent: 0.0,
        }
    }
}

/// What a CreateTapes client token was used for: the same token with the same request returns
/// the same tapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenUse {
    pub request: NewTapes,
    pub arns: Vec<String>,
}

/// A CreateTapes request, for comparing retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewTapes {
    pub prefix: String,
    pub size: u64,
    pub count: u8,
    pub pool_id: Option<String>,
    pub worm: bool,
}

pub(crate) struct World {
    pub gateway: Gateway,
    pub delays: Delays,
    /// A library file is shared: the transitions that move a tape in or out of it happen
    /// when the file is edited (`library::reconcile`), not here.
    pub shares_library: bool,
    pub faults: Faults,
    /// By barcode; DELETED tapes stay, so their barcodes are never used again.
    tapes: BTreeMap<String, Tape>,
    tokens: HashMap<String, TokenUse>,
    calls: BTreeMap<&'static str, u64>,
    next_seq: u64,
    /// Barcodes CreateTapes hands out before it generates any (`--new-barcodes`), in order.
    new_barcodes: Vec<String>,
}

impl World {
    pub fn new(gateway: Gateway, delays: Delays, shares_library: bool) -> World {
        World {
            gateway,
            delays,
            shares_library,
            faults: Faults::default(),
            tapes: BTreeMap::new(),
            tokens: HashMap::new(),
            calls: BTreeMap::new(),
            next_seq: 0,
            new_barcodes: Vec::new(),
        }
    }

    /// The barcodes CreateTapes is to hand out before generating any.
    pub fn set_new_barcodes(&mut self, barcodes: Vec<String>) {
        self.new_barcodes = barcodes;
    }

    /// The next barcode of the `--new-barcodes` list for a tape with `prefix`: the first
    /// unused one that starts with the prefix, else the first unused one; taken off the list.
    /// `None` when none is left (the caller generates one).
    pub fn take_new_barcode(&mut self, prefix: &str) -> Option<String> {
        let tapes = &self.tapes;
        self.new_barcodes.retain(|b| !tapes.contains_key(b));
        let at = self
            .new_barcodes
            .iter()
            .position(|b| b.starts_with(prefix))
            .or_else(|| (!self.new_barcodes.is_empty()).then_some(0))?;
        Some(self.new_barcodes.remove(at))
    }

    /// Adds (or replaces) a tape that exists at start. With a shared library, a VTL tape the
    /// file lacks is put into a free I/E slot, and a VTS-only one is taken out.
    pub fn seed(&mut self, seed: &SeedTape, now: Instant) {
        let status = seed.status.status();
        let mut tape = self.new_tape(&seed.barcode, SEED_TAPE_SIZE, None, false, status, now);
        if status == TapeStatus::Archived {
            tape.completion = Some(tape.created);
        }
        tape.library = LibraryTrack {
            arrive: status.in_vtl(),
            leave: !status.in_vtl(),
            ..LibraryTrack::default()
        };
        self.tapes.insert(seed.barcode.clone(), tape);
    }

    /// A new tape in `status`, not yet stored.
    pub fn new_tape(
        &mut self,
        barcode: &str,
        size: u64,
        pool_id: Option<String>,
        worm: bool,
        status: TapeStatus,
        now: Instant,
    ) -> Tape {
        self.next_seq += 1;
        Tape {
            barcode: barcode.to_owned(),
            arn: self.gateway.tape_arn(barcode),
            size,
            used: 0,
            pool_id,
            worm,
            created: epoch_seconds(SystemTime::now()),
            status,
            since: now,
            completion: None,
            seq: self.next_seq,
            library: LibraryTrack::default(),
        }
    }

    pub fn insert(&mut self, tape: Tape) {
        tracing::info!(barcode = %tape.barcode, status = tape.status.as_str(), "tape added");
        self.tapes.insert(tape.barcode.clone(), tape);
    }

    /// Every tape ever known, DELETED ones included, by barcode.
    pub fn tapes(&self) -> impl Iterator<Item = &Tape> {
        self.tapes.values()
    }

    pub fn tapes_mut(&mut self) -> impl Iterator<Item = &mut Tape> {
        self.tapes.values_mut()
    }

    pub fn tape(&self, barcode: &str) -> Option<&Tape> {
        self.tapes.get(barcode)
    }

    pub fn tape_mut(&mut self, barcode: &str) -> Option<&mut Tape> {
        self.tapes.get_mut(barcode)
    }

    /// Whether `barcode` was ever used (deleted tapes included: AWS never reuses one).
    pub fn barcode_used(&self, barcode: &str) -> bool {
        self.tapes.contains_key(barcode)
    }

    /// Tapes in the VTL now.
    pub fn vtl_count(&self) -> usize {
        self.tapes.values().filter(|t| t.status.in_vtl()).count()
    }

    pub fn token(&self, token: &str) -> Option<&TokenUse> {
        self.tokens.get(token)
    }

    pub fn remember_token(&mut self, token: &str, used: TokenUse) {
        self.tokens.insert(token.to_owned(), used);
    }

    /// Counts one answered AWS call.
    pub fn count_call(&mut self, operation: &'static str) {
        *self.calls.entry(operation).or_default() += 1;
    }

    pub fn calls(&self) -> &BTreeMap<&'static str, u64> {
        &self.calls
    }

    pub fn reset_calls(&mut self) {
        self.calls.clear();
    }

    /// Applies every time-driven transition due by `now` that does not move a tape in or out
    /// of a shared library file (those wait for `library::reconcile`). A transition takes
    /// effect at the moment it was due, so the next one counts from there, however late the
    /// look.
    pub fn advance(&mut self, now: Instant) {
        let delays = self.delays;
        let shares = self.shares_library;
        for tape in self.tapes.values_mut() {
            while let Some((to, due)) = next_transition(tape, &delays) {
                if due > now || (shares && moves_in_library(tape.status)) {
                    break;
                }
                enter(tape, to, due, now);
            }
        }
    }

    /// Whether a shared library file needs an edit by `now`: a tape to take out, to put in,
    /// or a transition due that does either.
    pub fn library_work_due(&self, now: Instant) -> bool {
        self.tapes.values().any(|t| {
            t.library.leave
                || t.library.arrive
                || next_transition(t, &self.delays)
                    .is_some_and(|(_, due)| due <= now && moves_in_library(t.status))
        })
    }
}

/// Why a control request about a tape was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// No tape has that barcode (or it was deleted).
    #[error("no tape has barcode {barcode:?}")]
    NoSuchTape {
        /// The barcode asked for.
        barcode: String,
    },
    /// Only an AVAILABLE or RETRIEVED tape can be exported.
    #[error(
        "tape {barcode} is {status}: only an AVAILABLE or RETRIEVED tape can be exported (moved into an I/E slot)"
    )]
    CannotEject {
        /// The tape.
        barcode: String,
        /// Its status now.
        status: &'static str,
    },
}

impl World {
    /// The backup application exported `barcode` (moved it into an I/E slot of a library the
    /// emulator does not share): AVAILABLE → IN TRANSIT TO VTS; RETRIEVED → ARCHIVED.
    pub fn eject(&mut self, barcode: &str, now: Instant) -> Result<(), ControlError> {
        let tape = self
            .tapes
            .get_mut(barcode)
            .filter(|t| t.status != TapeStatus::Deleted)
            .ok_or_else(|| ControlError::NoSuchTape {
                barcode: barcode.to_owned(),
            })?;
        match tape.status {
            TapeStatus::Available => enter(tape, TapeStatus::InTransitToVts, now, now),
            TapeStatus::Retrieved => {
                enter(tape, TapeStatus::Archived, now, now);
                tape.library.leave = true;
            }
            status => {
                return Err(ControlError::CannotEject {
                    barcode: barcode.to_owned(),
                    status: status.as_str(),
                });
            }
        }
        tape.library.waiting = None;
        Ok(())
    }
}

/// The time-driven transition out of `tape`'s status, and when it is due.
pub(crate) fn next_transition(tape: &Tape, delays: &Delays) -> Option<(TapeStatus, Instant)> {
    let (delay, to) = match tape.status {
        TapeStatus::Creating => (delays.creating, TapeStatus::Available),
        TapeStatus::InTransitToVts => (delays.transit, TapeStatus::Archiving),
        TapeStatus::Archiving => (delays.archiving, TapeStatus::Archived),
        TapeStatus::Retrieving => (delays.retrieving, TapeStatus::Retrieved),
        _ => return None,
    };
    Some((to, tape.since + delay))
}

/// Leaving this status puts the tape into a library (CREATING, RETRIEVING) or takes it out
/// (IN TRANSIT TO VTS → ARCHIVING).
pub(crate) fn moves_in_library(status: TapeStatus) -> bool {
    matches!(
        status,
        TapeStatus::Creating | TapeStatus::InTransitToVts | TapeStatus::Retrieving
    )
}

/// `tape` enters `to` at `at` (`now` is the clock of this look, for epoch timestamps).
pub(crate) fn enter(tape: &mut Tape, to: TapeStatus, at: Instant, now: Instant) {
    tape.enter(to, at);
    match to {
        TapeStatus::Archiving => tape.library.leave = true,
        TapeStatus::Archived => {
            tape.completion = Some(epoch_seconds(instant_to_system(at, now)));
        }
        _ => {}
    }
}

/// The Progress of an archival (0–100): how much of IN TRANSIT TO VTS has passed.
pub(crate) fn progress(tape: &Tape, delays: &Delays, now: Instant) -> Option<f64> {
    match tape.status {
        TapeStatus::InTransitToVts => {
            let total = delays.transit.as_secs_f64();
            let done = now.saturating_duration_since(tape.since).as_secs_f64();
            Some(if total <= 0.0 {
                100.0
            } else {
                (100.0 * done / total).min(100.0)
            })
        }
        TapeStatus::Archiving => Some(100.0),
        _ => None,
    }
}

/// Seconds since the epoch, fractional (the wire's timestamp format, aws-sgw.md §3.3).
pub(crate) fn epoch_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The wall-clock time of `at`, knowing `now` is the present.
fn instant_to_system(at: Instant, now: Instant) -> SystemTime {
    let ago = now.saturating_duration_since(at);
    SystemTime::now()
        .checked_sub(ago)
        .unwrap_or(UNIX_EPOCH + Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::DEFAULT_GATEWAY_ARN;

    fn world(shares: bool) -> World {
        let g = Gateway::parse(DEFAULT_GATEWAY_ARN, None).unwrap();
        World::new(g, Delays::all(Duration::from_secs(10)), shares)
    }

    fn add(w: &mut World, barcode: &str, status: TapeStatus, at: Instant) {
        let t = w.new_tape(barcode, SEED_TAPE_SIZE, None, false, status, at);
        w.insert(t);
    }

    fn status(w: &World, barcode: &str) -> &'static str {
        w.tape(barcode).unwrap().status.as_str()
    }

    #[test]
    fn time_driven_states_follow_each_other_at_their_delays() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut w = world(false);
        add(&mut w, "AB001", TapeStatus::InTransitToVts, t0);
        add(&mut w, "AB002", TapeStatus::Creating, t0);
        add(&mut w, "AB003", TapeStatus::Retrieving, t0);
        add(&mut w, "AB004", TapeStatus::Available, t0);
        let steps = [
            (
                s(9),
                ["IN TRANSIT TO VTS", "CREATING", "RETRIEVING", "AVAILABLE"],
            ),
            (s(10), ["ARCHIVING", "AVAILABLE", "RETRIEVED", "AVAILABLE"]),
            (s(19), ["ARCHIVING", "AVAILABLE", "RETRIEVED", "AVAILABLE"]),
            (s(20), ["ARCHIVED", "AVAILABLE", "RETRIEVED", "AVAILABLE"]),
        ];
        for (at, want) in steps {
            w.advance(t0 + at);
            let got = ["AB001", "AB002", "AB003", "AB004"].map(|b| status(&w, b));
            assert_eq!(got, want, "at {at:?}");
        }
        assert!(w.tape("AB001").unwrap().completion.is_some());
    }

    #[test]
    fn a_late_look_applies_every_transition_due() {
        let t0 = Instant::now();
        let mut w = world(false);
        add(&mut w, "AB001", TapeStatus::InTransitToVts, t0);
        w.advance(t0 + Duration::from_secs(60));
        assert_eq!(status(&w, "AB001"), "ARCHIVED");
    }

    #[test]
    fn with_a_shared_library_the_file_moves_wait_for_the_file() {
        let t0 = Instant::now();
        let mut w = world(true);
        add(&mut w, "AB001", TapeStatus::InTransitToVts, t0);
        add(&mut w, "AB002", TapeStatus::Archiving, t0);
        let later = t0 + Duration::from_secs(60);
        assert!(w.library_work_due(later));
        w.advance(later);
        assert_eq!(status(&w, "AB001"), "IN TRANSIT TO VTS");
        assert_eq!(status(&w, "AB002"), "ARCHIVED");
    }

    #[test]
    fn progress_runs_from_0_to_100_in_transit() {
        let t0 = Instant::now();
        let mut w = world(false);
        add(&mut w, "AB001", TapeStatus::InTransitToVts, t0);
        let tape = w.tape("AB001").unwrap();
        let p = |d| progress(tape, &w.delays, t0 + Duration::from_secs(d)).unwrap();
        assert_eq!(p(0), 0.0);
        assert_eq!(p(5), 50.0);
        assert_eq!(p(30), 100.0);
    }
}
