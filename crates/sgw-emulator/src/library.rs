//! Sharing a simulated library file (contract C3) with the backup application, as a Tape
//! Gateway shares its library (contract C7, docs/aws-emulator.md):
//!
//! * a tape AVAILABLE that the backup application moves into an I/E slot is exported: IN
//!   TRANSIT TO VTS, then ARCHIVING, when it is taken out of the file, then ARCHIVED; a
//!   RETRIEVED one goes straight to ARCHIVED (nothing to upload) and is taken out at once;
//! * a tape that becomes AVAILABLE (new) or RETRIEVED is put into the lowest free I/E slot;
//! * a deleted tape is taken out.
//!
//! A tape the gateway put into an I/E slot waits there for import: that is not an export. The
//! emulator remembers the slot and the source the library reports (SVALID); the same tape found
//! in another I/E slot, or with another source (the robot moved it), was exported.
//!
//! Each look first reads the file without its lock and compares it with the last text seen;
//! only when it changed, or the emulator owes it an edit, does it go through
//! [`SimLibrary::edit`] — the SCSI commands' own lock-read-apply-write transaction — which
//! writes only when the text changed. Processes using the library then see UNIT ATTENTION, as
//! after an operator's change.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use scsi_changer::sim::{SimElement, SimLibrary, SimState};

use crate::options::is_barcode;
use crate::tape::{Place, Spot, TapeStatus};
use crate::world::{self, World};

/// The emulator's handle on the shared file.
pub(crate) struct LibraryLink {
    lib: SimLibrary,
    /// The file's text at the last look (empty: unknown).
    last: Vec<u8>,
    /// The last failure reported, so a broken file is reported once, not every poll.
    last_error: Option<String>,
    /// A look has succeeded.
    looked: bool,
}

impl LibraryLink {
    pub fn open(path: &Path) -> scsi_changer::Result<LibraryLink> {
        Ok(LibraryLink {
            lib: SimLibrary::open(path)?,
            last: Vec::new(),
            last_error: None,
            looked: false,
        })
    }

    /// The barcodes of the cartridges in the file, in element order: what `--seed-from-library`
    /// turns into tapes. Cleaning cartridges (`CLN…`) and tags AWS would not accept as
    /// barcodes are left out.
    pub fn barcodes(&self) -> scsi_changer::Result<Vec<String>> {
        let state = self.lib.state()?;
        Ok(scan(&state)
            .into_iter()
            .filter(|(barcode, _)| {
                let keep = is_barcode(barcode) && !barcode.starts_with("CLN");
                if !keep {
                    tracing::info!(%barcode, "not seeded: a cleaning cartridge or not an AWS barcode");
                }
                keep
            })
            .map(|(barcode, _)| barcode)
            .collect())
    }

    /// One look at the file. Until one has succeeded, every tape already in an I/E slot is
    /// taken as waiting there for import, not as exported. A failure is logged (once while it
    /// lasts) and returned; the next look tries again.
    pub fn poll(&mut self, world: &Mutex<World>) -> scsi_changer::Result<()> {
        let now = Instant::now();
        let content = std::fs::read(self.lib.path());
        let unchanged = content.as_ref().is_ok_and(|c| *c == self.last);
        if unchanged && !lock(world).library_work_due(now) {
            return Ok(());
        }
        let initial = !self.looked;
        let result = self.lib.edit(|state| {
            let mut world = lock(world);
            reconcile(&mut world, state, now, initial).then(|| state.render())
        });
        match result {
            // What was written (or, unchanged, already there).
            Ok(Some(text)) => self.last = text.into_bytes(),
            // Nothing to change: the text read first. Should someone have changed the file
            // between that read and the edit, the next look sees a difference and looks again.
            Ok(None) => self.last = content.unwrap_or_default(),
            Err(e) => {
                let message = e.to_string();
                if self.last_error.as_ref() != Some(&message) {
                    tracing::warn!(error = %message, "cannot use the shared library file; retrying at every poll");
                    self.last_error = Some(message);
                }
                self.last.clear();
                return Err(e);
            }
        }
        self.looked = true;
        if self.last_error.take().is_some() {
            tracing::info!("the shared library file is usable again");
        }
        Ok(())
    }
}

fn lock(world: &Mutex<World>) -> std::sync::MutexGuard<'_, World> {
    // The world is consistent between statements; a panic elsewhere must not stop the file.
    world
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Every cartridge with a barcode in the file, and where it is: the first place for a barcode
/// the file holds twice.
fn scan(state: &SimState) -> Vec<(String, Spot)> {
    let barcode = |e: &SimElement| {
        e.primary
            .as_ref()
            .filter(|_| e.full)
            .map(|t| t.barcode().to_owned())
            .filter(|b| !b.is_empty())
    };
    let drives = (0..state.drive_count()).filter_map(|i| {
        let e = state.drive(i)?;
        Some((
            barcode(e)?,
            Spot {
                place: Place::Drive(i),
                source: e.source,
            },
        ))
    });
    let slots = (1..=state.slot_count()).filter_map(|n| {
        let e = state.slot(n)?;
        let place = if state.is_import_export(n) {
            Place::ImportExport(n)
        } else {
            Place::Slot(n)
        };
        Some((
            barcode(e)?,
            Spot {
                place,
                source: e.source,
            },
        ))
    });
    drives.chain(slots).collect()
}

/// Brings the world and the file into agreement at `now`; returns whether the file changed.
pub(crate) fn reconcile(
    world: &mut World,
    file: &mut SimState,
    now: Instant,
    initial: bool,
) -> bool {
    world.advance(now);
    let mut found: HashMap<String, Spot> = HashMap::new();
    for (barcode, spot) in scan(file) {
        found.entry(barcode).or_insert(spot);
    }
    follow(world, &found, now, initial);
    let delays = world.delays;
    let mut arrivals = Vec::new();
    for tape in world.tapes_mut() {
        let Some((to, due)) = world::next_transition(tape, &delays) else {
            if tape.library.arrive {
                arrivals.push((now, tape.seq, tape.barcode.clone(), None));
            }
            continue;
        };
        if due > now {
            continue;
        }
        match tape.status {
            TapeStatus::InTransitToVts => world::enter(tape, to, due, now),
            TapeStatus::Creating | TapeStatus::Retrieving => {
                arrivals.push((due, tape.seq, tape.barcode.clone(), Some(to)));
            }
            _ => {}
        }
    }
    let mut changed = take_out(world, file);
    arrivals.sort_by_key(|a| (a.0, a.1));
    changed |= put_in(world, file, &found, arrivals, now);
    // ARCHIVING may be over already.
    world.advance(now);
    changed
}

/// Updates where each tape is and turns exports into archivals.
fn follow(world: &mut World, found: &HashMap<String, Spot>, now: Instant, initial: bool) {
    for tape in world.tapes_mut() {
        if tape.library.leave {
            continue;
        }
        let spot = found.get(&tape.barcode).copied();
        tape.library.seen = spot;
        let Some(spot) = spot else {
            continue;
        };
        if !matches!(spot.place, Place::ImportExport(_)) {
            // Imported (or never exported): an I/E slot later is an export.
            tape.library.waiting = None;
            continue;
        }
        if initial && tape.status.in_vtl() {
            tape.library.waiting = Some(spot);
            tape.library.arrive = false;
        }
        if tape.library.waiting == Some(spot) {
            continue;
        }
        match tape.status {
            TapeStatus::Available => {
                tracing::info!(barcode = %tape.barcode, ?spot.place, "exported: archival begins");
                tape.library.waiting = None;
                world::enter(tape, TapeStatus::InTransitToVts, now, now);
            }
            TapeStatus::Retrieved => {
                tracing::info!(barcode = %tape.barcode, ?spot.place, "retrieved tape exported: back to the archive");
                tape.library.waiting = None;
                tape.library.leave = true;
                world::enter(tape, TapeStatus::Archived, now, now);
            }
            _ => {}
        }
    }
}

/// Takes every tape owed out of the file; returns whether any was there.
fn take_out(world: &mut World, file: &mut SimState) -> bool {
    let mut changed = false;
    for tape in world.tapes_mut().filter(|t| t.library.leave) {
        tape.library = Default::default();
        let holds = |e: Option<&SimElement>| {
            e.is_some_and(|e| {
                e.full
                    && e.primary
                        .as_ref()
                        .is_some_and(|t| t.barcode() == tape.barcode)
            })
        };
        for n in 1..=file.slot_count() {
            if holds(file.slot(n)) && file.set_slot(n, SimElement::default()).is_ok() {
                tracing::info!(barcode = %tape.barcode, slot = n, "taken out of the library");
                changed = true;
            }
        }
        for i in 0..file.drive_count() {
            if holds(file.drive(i)) && file.set_drive(i, SimElement::default()).is_ok() {
                tracing::warn!(barcode = %tape.barcode, drive = i, "taken out of a drive of the library");
                changed = true;
            }
        }
    }
    changed
}

/// One tape to put into the library: when it was due, its creation order, its barcode, and
/// the status it enters once there (`None`: keeps its status).
type Arrival = (Instant, u64, String, Option<TapeStatus>);

/// Puts tapes into free I/E slots, lowest first, in the order they became due. A tape the
/// file already holds stays where it is; one with no free slot keeps waiting (and keeps its
/// status) until a slot frees up.
fn put_in(
    world: &mut World,
    file: &mut SimState,
    found: &HashMap<String, Spot>,
    arrivals: Vec<Arrival>,
    now: Instant,
) -> bool {
    let mut changed = false;
    // Lowest last, to pop.
    let mut free_slots: Vec<u16> = (1..=file.slot_count())
        .rev()
        .filter(|n| file.is_import_export(*n) && file.slot(*n).is_some_and(|e| !e.full))
        .collect();
    for (_, _, barcode, to) in arrivals {
        let Some(tape) = world.tape_mut(&barcode) else {
            continue;
        };
        let spot = match found.get(&barcode) {
            Some(spot) => *spot,
            None => {
                let Some(n) = free_slots.pop() else {
                    // Said once per wait, not at every look.
                    if !tape.library.blocked {
                        tracing::warn!(%barcode, "no free I/E slot: the tape waits for one");
                        tape.library.blocked = true;
                    }
                    continue;
                };
                if let Err(e) = file.set_slot(n, SimElement::with_tag(&barcode)) {
                    tracing::warn!(%barcode, slot = n, error = %e, "cannot put the tape into the I/E slot");
                    continue;
                }
                tracing::info!(%barcode, slot = n, "put into an I/E slot");
                changed = true;
                Spot {
                    place: Place::ImportExport(n),
                    source: None,
                }
            }
        };
        tape.library.arrive = false;
        tape.library.blocked = false;
        tape.library.seen = Some(spot);
        tape.library.waiting = matches!(spot.place, Place::ImportExport(_)).then_some(spot);
        if let Some(to) = to {
            world::enter(tape, to, now, now);
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::Gateway;
    use crate::options::{DEFAULT_GATEWAY_ARN, Delays, SeedStatus, SeedTape};
    use std::time::Duration;

    const FILE: &str = "\
  Storage Changer /dev/sg1:1 Drives, 5 Slots ( 2 Import/Export )
Data Transfer Element 0:Empty
      Storage Element 1:Full :VolumeTag=AB0001
      Storage Element 2:Full :VolumeTag=AB0002
      Storage Element 3:Empty
      Storage Element 4 IMPORT/EXPORT:Full :VolumeTag=AB0004
      Storage Element 5 IMPORT/EXPORT:Empty
";

    fn setup(seeds: &[(&str, SeedStatus)]) -> (World, SimState, Instant) {
        let g = Gateway::parse(DEFAULT_GATEWAY_ARN, None).unwrap();
        let mut w = World::new(g, Delays::ZERO, true);
        let t0 = Instant::now();
        for (barcode, status) in seeds {
            w.seed(
                &SeedTape {
                    barcode: (*barcode).into(),
                    status: *status,
                },
                t0,
            );
        }
        let mut file = SimState::parse(FILE).unwrap();
        reconcile(&mut w, &mut file, t0, true);
        (w, file, t0)
    }

    fn status(w: &World, barcode: &str) -> &'static str {
        w.tape(barcode).unwrap().status.as_str()
    }

    fn tag(file: &SimState, n: u16) -> Option<String> {
        let e = file.slot(n)?;
        e.full
            .then(|| e.primary.map(|t| t.barcode().to_owned()))
            .flatten()
    }

    fn move_slot(file: &mut SimState, from: u16, to: u16) {
        let mut e = file.slot(from).cloned().unwrap();
        e.source = Some(from);
        file.set_slot(from, SimElement::default()).unwrap();
        file.set_slot(to, e).unwrap();
    }

    #[test]
    fn tapes_in_ie_slots_at_start_wait_for_import() {
        let (mut w, mut file, t0) = setup(&[
            ("AB0001", SeedStatus::Available),
            ("AB0004", SeedStatus::Available),
        ]);
        assert!(!reconcile(
            &mut w,
            &mut file,
            t0 + Duration::from_secs(1),
            false
        ));
        assert_eq!(status(&w, "AB0004"), "AVAILABLE");
        assert!(w.tape("AB0004").unwrap().library.waiting.is_some());
    }

    #[test]
    fn an_export_archives_and_takes_the_tape_out() {
        let (mut w, mut file, t0) = setup(&[("AB0001", SeedStatus::Available)]);
        move_slot(&mut file, 1, 5);
        // Delays are zero: export, transit, archiving in one look.
        assert!(reconcile(&mut w, &mut file, t0, false));
        assert_eq!(status(&w, "AB0001"), "ARCHIVED");
        assert_eq!(tag(&file, 5), None);
        assert!(w.tape("AB0001").unwrap().library.seen.is_none());
    }

    #[test]
    fn an_export_without_a_source_is_still_an_export() {
        // A hand edit: the tag simply appears in the I/E slot.
        let (mut w, mut file, t0) = setup(&[("AB0002", SeedStatus::Available)]);
        file.set_slot(2, SimElement::default()).unwrap();
        file.set_slot(5, SimElement::with_tag("AB0002")).unwrap();
        reconcile(&mut w, &mut file, t0, false);
        assert_eq!(status(&w, "AB0002"), "ARCHIVED");
    }

    #[test]
    fn import_then_export_of_a_new_tape_archives_it() {
        let (mut w, mut file, t0) = setup(&[("AB0004", SeedStatus::Available)]);
        move_slot(&mut file, 4, 3);
        reconcile(&mut w, &mut file, t0, false);
        assert_eq!(status(&w, "AB0004"), "AVAILABLE");
        move_slot(&mut file, 3, 4);
        reconcile(&mut w, &mut file, t0, false);
        assert_eq!(status(&w, "AB0004"), "ARCHIVED");
    }

    #[test]
    fn a_fast_round_trip_between_looks_is_seen_by_its_source() {
        let (mut w, mut file, t0) = setup(&[("AB0004", SeedStatus::Available)]);
        // Out to slot 3 and back into slot 4 between two looks: the source now says slot 3.
        move_slot(&mut file, 4, 3);
        move_slot(&mut file, 3, 4);
        reconcile(&mut w, &mut file, t0, false);
        assert_eq!(status(&w, "AB0004"), "ARCHIVED");
    }

    #[test]
    fn retrieved_tapes_arrive_in_the_lowest_free_ie_slot_and_go_back_when_exported() {
        let (mut w, mut file, t0) = setup(&[("ZZ0009", SeedStatus::Archived)]);
        let tape = w.tape_mut("ZZ0009").unwrap();
        tape.enter(TapeStatus::Retrieving, t0);
        assert!(reconcile(&mut w, &mut file, t0, false));
        assert_eq!(status(&w, "ZZ0009"), "RETRIEVED");
        assert_eq!(tag(&file, 5).as_deref(), Some("ZZ0009"));
        // Waiting in the slot is not an export…
        assert!(!reconcile(&mut w, &mut file, t0, false));
        assert_eq!(status(&w, "ZZ0009"), "RETRIEVED");
        // …importing it and exporting it again is.
        move_slot(&mut file, 5, 3);
        reconcile(&mut w, &mut file, t0, false);
        move_slot(&mut file, 3, 5);
        reconcile(&mut w, &mut file, t0, false);
        assert_eq!(status(&w, "ZZ0009"), "ARCHIVED");
        assert_eq!(tag(&file, 5), None);
    }

    #[test]
    fn no_free_ie_slot_keeps_the_tape_in_its_state() {
        let (mut w, mut file, t0) = setup(&[]);
        file.set_slot(5, SimElement::with_tag("XX0005")).unwrap();
        let t = w.new_tape("NEW001", 1, None, false, TapeStatus::Creating, t0);
        w.insert(t);
        reconcile(&mut w, &mut file, t0, false);
        assert_eq!(status(&w, "NEW001"), "CREATING");
        file.set_slot(5, SimElement::default()).unwrap();
        reconcile(&mut w, &mut file, t0, false);
        assert_eq!(status(&w, "NEW001"), "AVAILABLE");
        assert_eq!(tag(&file, 5).as_deref(), Some("NEW001"));
    }

    #[test]
    fn seeded_tapes_the_file_lacks_arrive_and_archived_ones_leave() {
        let (w, file, _) = setup(&[
            ("AB0002", SeedStatus::Archived),
            ("NEW001", SeedStatus::Available),
        ]);
        assert_eq!(
            tag(&file, 2),
            None,
            "an ARCHIVED tape is not in the library"
        );
        assert_eq!(tag(&file, 5).as_deref(), Some("NEW001"));
        assert!(w.tape("NEW001").unwrap().library.waiting.is_some());
    }

    #[test]
    fn seeding_reads_barcodes_but_not_cleaning_tapes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lib.txt");
        let text = FILE.replace("AB0002", "CLN001").replace("AB0004", "ab-4");
        std::fs::write(&path, text).unwrap();
        let link = LibraryLink::open(&path).unwrap();
        assert_eq!(link.barcodes().unwrap(), vec!["AB0001".to_owned()]);
    }
}
