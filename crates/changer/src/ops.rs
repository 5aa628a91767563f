//! Library operations with Bareos' meaning.
//!
//! Every operation numbers slots and drives from one mapping, the inventory that `list` and
//! `listall` print ([`Inventory`]: not-installed elements left out, address gaps closed up,
//! drives in element-address order). Page 1Dh alone is never trusted to place a slot or a
//! drive: a library with a not-installed slot, an unassigned address or a reordered range
//! would otherwise have `loaded` answer a slot that `listall` calls something else, and an
//! `unload` put the cartridge where the director does not expect it.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use scsi_changer::decode::ElementAddressAssignment;
use scsi_changer::element::ElementStatus;
use scsi_changer::inventory::{HomeSlot, Inventory};
use scsi_changer::{DriveIndex, ElementAddress, ElementType, Error, SlotNumber};

use crate::cache::{Cache, CacheMode, Invalidation, Purpose};
use crate::config::Effective;
use crate::library::Library;
use crate::signals::Stop;

/// The least time left in the budget for which a move is started (the driver's own rule for a
/// move it sends once more).
pub use scsi_changer::changer::MIN_TIME_FOR_A_MOVE;

/// The least time left in the budget for which INITIALIZE ELEMENT STATUS is started: a
/// barcode scan of a physical library takes a minute or more, and aborting one is worse than
/// not starting it.
pub const MIN_TIME_FOR_A_SCAN: Duration = Duration::from_secs(60);

/// Why a Bareos operation did not happen. Each variant starts with the message mtx(1) prints
/// for it where Bareos or users depend on the wording (bareos-protocol.md §3.9), followed by
/// what the library looks like in the admin's numbers (slot numbers, barcodes, drives).
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// The drive to load holds a cartridge.
    #[error("Drive {drive} Full (Storage Element {slot} loaded)")]
    DriveFull {
        /// Drive index.
        drive: u16,
        /// Its home slot (0 when unknown, as mtx prints it).
        slot: u16,
    },
    /// The drive to unload is empty.
    #[error("Data Transfer Element {drive} is Empty")]
    DriveEmpty {
        /// Drive index.
        drive: u16,
    },
    /// The source is empty (Bareos matches "Source Element Address" and "is Empty" to try the
    /// next volume).
    #[error("Source Element Address {address} is Empty{detail}")]
    SourceEmpty {
        /// Element address of the source.
        address: ElementAddress,
        /// Where that slot's cartridge is, e.g. " (slot 10: A00010L5 is in drive 1)".
        detail: String,
    },
    /// The destination holds a cartridge.
    #[error("Destination Element Address {address} is Already Full{detail}")]
    DestinationFull {
        /// Element address of the destination.
        address: ElementAddress,
        /// What is there, e.g. " (slot 21, import/export: holds A00021L5)".
        detail: String,
    },
    /// The slot to unload into holds a cartridge.
    #[error("Storage Element {slot} is Already Full{detail}")]
    SlotFull {
        /// Slot number.
        slot: u16,
        /// " (holds BARCODE)" or "".
        detail: String,
    },
    /// A slot number the library does not have.
    #[error("invalid slot {slot}: this library has slots 1 to {count}")]
    NoSuchSlot {
        /// Requested slot.
        slot: u16,
        /// Highest slot.
        count: u16,
    },
    /// A drive index the library does not have.
    #[error(
        "invalid drive index {drive}: this library has {count} drive(s), 0 to {last}{hint}",
        last = count.saturating_sub(1)
    )]
    NoSuchDrive {
        /// Requested drive.
        drive: u16,
        /// Number of drives.
        count: u16,
        /// Which Bareos setting to fix, e.g. "; fix Drive Index in the Bareos Device whose
        /// Archive Device is /dev/nst3 (it is drive 2)".
        hint: String,
    },
    /// The archive device is another drive than the drive index says (contract C4).
    #[error("{0}")]
    WrongDrive(String),
    /// A full drive whose home is unknown, with no free slot to offer.
    #[error(
        "drive {drive} holds a cartridge{tag} but the library does not know which slot it came from, \
         and no storage slot is free: free a slot (changer move …) or move the cartridge to an \
         import/export slot, then run `update slots` in bconsole"
    )]
    HomeUnknown {
        /// Drive index.
        drive: u16,
        /// " (BARCODE)" or "".
        tag: String,
    },
    /// The drive did not become ready after the load.
    #[error(
        "drive {drive} ({device}) is loaded but did not become ready within {waited:?}: {state}"
    )]
    NotReady {
        /// Drive index.
        drive: u16,
        /// Archive device.
        device: String,
        /// How long we waited.
        waited: Duration,
        /// What the drive said last.
        state: String,
    },
    /// SIGTERM (Bareos' Maximum Changer Wait expired) or SIGINT arrived; what was under way
    /// finished.
    #[error("stopped by {by} after {done}")]
    Stopped {
        /// The signal ([`Stop::cause`]).
        by: String,
        /// What had completed.
        done: String,
    },
    /// The refused operation and why.
    #[error("{0}")]
    Refused(String),
    /// The driver failed.
    #[error(transparent)]
    Device(#[from] Error),
    /// The lock could not be taken.
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
}

/// The library as one command sees it: page 1Dh (for requests that need the ranges) and the
/// inventory whose numbering every answer uses.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The Element Address Assignment page.
    pub page: ElementAddressAssignment,
    /// Every installed element, numbered as `listall` numbers them.
    pub inv: Inventory,
}

impl Snapshot {
    /// The drive with an index, or the error naming the drives there are.
    fn drive(&self, drive: DriveIndex) -> Result<&ElementStatus, OpError> {
        self.inv.drive(drive).ok_or_else(|| OpError::NoSuchDrive {
            drive: drive.0,
            count: u16::try_from(self.inv.drives.len()).unwrap_or(u16::MAX),
            hint: String::new(),
        })
    }

    /// The element behind a slot number, or the error naming the slots there are.
    fn slot(&self, slot: SlotNumber) -> Result<&ElementStatus, OpError> {
        self.inv.slot(slot).ok_or(OpError::NoSuchSlot {
            slot: slot.0,
            count: self.inv.slot_count(),
        })
    }

    /// A slot or drive in the admin's words: "slot 21 (import/export)", "drive 1".
    fn name_of(&self, address: ElementAddress) -> String {
        if let Some(s) = self.inv.slot_number(address) {
            if self.inv.is_import_export(s) {
                format!("slot {s} (import/export)")
            } else {
                format!("slot {s}")
            }
        } else if let Some(d) = self.inv.drive_index(address) {
            format!("drive {d}")
        } else {
            format!("element {address}")
        }
    }

    /// Where the cartridge of an empty slot is now: " (slot 10: A00010L5 is in drive 1)".
    fn whereabouts_of_empty(&self, address: ElementAddress) -> String {
        let name = self.name_of(address);
        let drive = self
            .inv
            .drives
            .iter()
            .enumerate()
            .find(|(_, d)| d.full && d.source == Some(address));
        match drive {
            Some((i, d)) => match d.barcode() {
                Some(tag) => format!(" ({name}: {tag} is in drive {i})"),
                None => format!(" ({name}: its cartridge is in drive {i})"),
            },
            None => format!(" ({name} is empty; no drive reports a cartridge from it)"),
        }
    }

    /// What a full element holds: " (slot 21 (import/export): holds A00021L5)".
    fn contents_of_full(&self, address: ElementAddress) -> String {
        let name = self.name_of(address);
        match self.inv.element(address).and_then(|e| e.barcode()) {
            Some(tag) => format!(" ({name}: holds {tag})"),
            None => format!(" ({name}: holds a cartridge without barcode)"),
        }
    }

    fn source_empty(&self, address: ElementAddress) -> OpError {
        OpError::SourceEmpty {
            address,
            detail: self.whereabouts_of_empty(address),
        }
    }

    fn destination_full(&self, address: ElementAddress) -> OpError {
        OpError::DestinationFull {
            address,
            detail: self.contents_of_full(address),
        }
    }
}

/// A move about to be sent, as the journal records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveIntent {
    /// Source element.
    pub source: (ElementType, ElementAddress),
    /// Destination element.
    pub destination: (ElementType, ElementAddress),
    /// The cartridge's barcode, when it has one.
    pub barcode: Option<String>,
    /// The move in the admin's words: "slot 5 -> drive 0".
    pub words: String,
}

/// Where moves are recorded before they are sent (the daemon's crash-safe journal).
pub trait MoveJournal: Send {
    /// Records a move durably before its MOVE MEDIUM goes out; an error refuses the move.
    fn intent(&mut self, intent: &MoveIntent) -> std::io::Result<u64>;
    /// Records how move `seq` ended (`Err` carries the message).
    fn outcome(&mut self, seq: u64, outcome: Result<(), String>);
}

/// A cartridge about to go into an import/export slot. On an AWS Storage Gateway library that
/// is an archival (contract C7), so it is asked of an [`ExportGuard`] first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// The cartridge's barcode, when it has one.
    pub barcode: Option<String>,
    /// Where it is, in the admin's words ("slot 5", "drive 0").
    pub from: String,
    /// The import/export slot, in Bareos' numbers.
    pub to: SlotNumber,
}

/// Decides moves into import/export slots: the daemon's export policy on a gateway library,
/// a refusal in direct mode (C7).
pub trait ExportGuard: Send {
    /// Before anything is moved or ejected: `Err` says in one line why the export is refused.
    fn check(&mut self, export: &Export) -> Result<(), String>;
    /// The move was sent; `result` is how it ended.
    fn exported(&mut self, export: &Export, result: Result<(), String>);
}

/// An open library with the settings and deadline of this invocation.
pub struct Session {
    /// The library.
    pub lib: Library,
    /// Settings in force.
    pub settings: Effective,
    /// When every operation must have ended.
    pub deadline: Instant,
    /// Set when SIGTERM arrives.
    pub stop: Stop,
    /// The daemon's cached picture of the library; `None` in direct mode (every command reads
    /// the library).
    pub cache: Option<Cache>,
    /// The daemon's move journal; `None` in direct mode.
    pub journal: Option<Box<dyn MoveJournal>>,
    /// Asked before every move into an import/export slot; `None`: such moves are plain moves.
    pub export_guard: Option<Box<dyn ExportGuard>>,
}

/// What `loaded` answers for a drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loaded {
    /// Empty drive.
    Empty,
    /// The slot the cartridge came from (or the one assigned, contract C1).
    Slot(SlotNumber),
    /// Full, home unknown, no free slot.
    Unknown,
}

impl Session {
    /// Page 1Dh and the whole inventory as the library knows it now (no re-scan): read from
    /// the library, or from the daemon's cache when that may answer for `purpose`
    /// ([`crate::cache`]).
    pub fn snapshot_for(&mut self, purpose: Purpose) -> Result<Arc<Snapshot>, Error> {
        let Some(cache) = self.cache.as_mut() else {
            let (page, inv) = self.lib.changer.inventory(false)?;
            return Ok(Arc::new(Snapshot { page, inv }));
        };
        if self.lib.changer.take_unit_attention() {
            cache.invalidate(Invalidation::UnitAttention);
        }
        if let Some(snap) = cache.current() {
            match (cache.mode, purpose) {
                (CacheMode::Exclusive, _) => {
                    cache.hits += 1;
                    return Ok(snap);
                }
                (CacheMode::Shared, Purpose::ReadDrive(drive)) => {
                    if let Some(address) = snap.inv.drive(drive).map(|d| d.address) {
                        drop(snap);
                        let fresh = self
                            .lib
                            .changer
                            .read_element(ElementType::DataTransfer, address)?;
                        let attention = self.lib.changer.take_unit_attention();
                        if !attention
                            && cache.patch(fresh)
                            && let Some(snap) = cache.current()
                        {
                            cache.misses += 1;
                            return Ok(snap);
                        }
                        cache.invalidate(if attention {
                            Invalidation::UnitAttention
                        } else {
                            Invalidation::Requested
                        });
                    }
                }
                (CacheMode::Shared, _) => {}
            }
        }
        cache.misses += 1;
        let (page, inv) = self.lib.changer.inventory(false)?;
        // A unit attention met during this read came before the data now in hand.
        self.lib.changer.take_unit_attention();
        let snap = Arc::new(Snapshot { page, inv });
        cache.store(Arc::clone(&snap));
        Ok(snap)
    }

    /// [`Session::snapshot_for`] a move: the picture every check of a move starts from.
    pub fn snapshot(&mut self) -> Result<Arc<Snapshot>, Error> {
        self.snapshot_for(Purpose::Move)
    }

    /// The inventory for `list` and `listall`, after INITIALIZE ELEMENT STATUS when the
    /// `inventory` setting asks for it (as mtx-changer does for these two commands only).
    pub fn inventory(&mut self) -> Result<Arc<Snapshot>, OpError> {
        if self.settings.inventory {
            self.initialize_element_status()?;
        }
        Ok(self.snapshot_for(Purpose::Read)?)
    }

    /// INITIALIZE ELEMENT STATUS, started only when the budget leaves a scan time to finish:
    /// its SCSI timeout is the configured one, never what is left of the budget.
    pub fn initialize_element_status(&mut self) -> Result<(), OpError> {
        self.enough_time_left(MIN_TIME_FOR_A_SCAN, "INITIALIZE ELEMENT STATUS")?;
        if let Some(cache) = self.cache.as_mut() {
            cache.invalidate(Invalidation::Rescan);
        }
        self.lib.changer.initialize_element_status(None, false)?;
        Ok(())
    }

    /// Refuses to start an operation that would be cut short by the deadline.
    fn enough_time_left(&self, needed: Duration, what: &str) -> Result<(), OpError> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left < needed {
            return Err(OpError::Refused(format!(
                "only {left:?} of Maximum Changer Wait left, not enough to start {what} \
                 (at least {needed:?}); nothing was done"
            )));
        }
        Ok(())
    }

    /// `slots`: storage plus import/export slots, counted as `listall` numbers them.
    pub fn slots(&mut self) -> Result<u16, Error> {
        Ok(self.snapshot_for(Purpose::Read)?.inv.slot_count())
    }

    /// `loaded`: the home slot of a drive (contract C1).
    pub fn loaded(&mut self, drive: DriveIndex, archive_device: &Path) -> Result<Loaded, OpError> {
        let snap = self.snapshot_for(Purpose::ReadDrive(drive))?;
        self.drive_for_bareos(&snap, drive, archive_device)?;
        Ok(match snap.inv.home_slots()[usize::from(drive.0)] {
            HomeSlot::DriveEmpty => Loaded::Empty,
            HomeSlot::Reported(s) | HomeSlot::Assigned(s) => Loaded::Slot(s),
            HomeSlot::Unknown => Loaded::Unknown,
        })
    }

    /// An invalid drive index, with the Bareos setting to fix: the archive device's own drive
    /// index when its serial number tells.
    pub fn no_such_drive(
        &mut self,
        snap: &Snapshot,
        drive: DriveIndex,
        archive_device: &Path,
    ) -> OpError {
        let actual = self
            .drive_of_archive_device(snap, archive_device)
            .ok()
            .flatten();
        let hint = match actual {
            Some(i) => format!(
                "; {} is drive {i}: set Drive Index = {i} in the Bareos Device with that Archive Device",
                archive_device.display()
            ),
            None => format!(
                "; fix Drive Index (or Archive Device, now {}) in the Bareos Device resource",
                archive_device.display()
            ),
        };
        OpError::NoSuchDrive {
            drive: drive.0,
            count: u16::try_from(snap.inv.drives.len()).unwrap_or(u16::MAX),
            hint,
        }
    }

    /// The drive element of `drive`, or an invalid-index error that names the setting to fix.
    fn drive_for_bareos(
        &mut self,
        snap: &Snapshot,
        drive: DriveIndex,
        archive_device: &Path,
    ) -> Result<ElementStatus, OpError> {
        match snap.inv.drive(drive) {
            Some(e) => Ok(e.clone()),
            None => Err(self.no_such_drive(snap, drive, archive_device)),
        }
    }

    /// Each installed drive's serial number as the changer reports it (DVCID), drive 0 first;
    /// empty when the library does not report identifiers.
    pub fn drive_serials(&mut self, snap: &Snapshot) -> Result<Vec<Option<String>>, Error> {
        let Some(ids) = self.drive_identifiers(snap)? else {
            return Ok(Vec::new());
        };
        // Matched by element address, not by position: the identifier request lists
        // not-installed drives too, the numbering does not.
        Ok(snap
            .inv
            .drives
            .iter()
            .map(|d| {
                ids.iter()
                    .find(|(a, _)| *a == d.address)
                    .and_then(|(_, id)| id.as_ref().and_then(|i| i.serial()))
            })
            .collect())
    }

    /// The drives' device identifiers (DVCID), from the cache when it holds them; `None` when
    /// the library does not report identifiers.
    pub fn drive_identifiers(
        &mut self,
        snap: &Snapshot,
    ) -> Result<Option<scsi_changer::changer::DriveIdentifiers>, Error> {
        if let Some(known) = self.cache.as_ref().and_then(Cache::identifiers) {
            return Ok(known.clone());
        }
        let ids = self.lib.changer.drive_identifiers(&snap.page)?;
        if let Some(cache) = self.cache.as_mut() {
            cache.store_identifiers(ids.clone());
        }
        Ok(ids)
    }

    /// The drive index of an archive device by serial number, when both sides report one.
    fn drive_of_archive_device(
        &mut self,
        snap: &Snapshot,
        archive_device: &Path,
    ) -> Result<Option<usize>, Error> {
        let serials = self.drive_serials(snap)?;
        let Some(have) = self.lib.archive_device_serial(archive_device)? else {
            return Ok(None);
        };
        Ok(drive_with_serial(&serials, &have))
    }

    /// Checks that `archive_device` is drive `drive` by serial number (contract C4), with the
    /// config's bindings as the fallback for drives without serials.
    pub fn check_drive_identity(
        &mut self,
        snap: &Snapshot,
        drive: DriveIndex,
        archive_device: &Path,
    ) -> Result<(), OpError> {
        let bound_elsewhere = self
            .settings
            .drives
            .iter()
            .find(|b| b.device == archive_device)
            .map(|b| b.index);
        let serials = self.drive_serials(snap)?;
        let archive_serial = self.lib.archive_device_serial(archive_device)?;
        let wanted = serials.get(usize::from(drive.0)).cloned().flatten();
        match (&wanted, &archive_serial) {
            (Some(want), Some(have)) => {
                let actual = drive_with_serial(&serials, have);
                if actual == Some(usize::from(drive.0)) {
                    return Ok(());
                }
                let right_device = self.device_of_drive(want);
                Err(OpError::WrongDrive(format!(
                    "{} is {} (serial {have}), not drive {} (serial {want}){}; fix Drive Index or Archive Device in the Bareos Device resource",
                    archive_device.display(),
                    actual.map_or("not a drive of this library".to_owned(), |i| format!(
                        "drive {i}"
                    )),
                    drive.0,
                    right_device
                        .map(|d| format!(": drive {} is {}", drive.0, d))
                        .unwrap_or_default()
                )))
            }
            _ => match bound_elsewhere {
                Some(index) if index != drive.0 => Err(OpError::WrongDrive(format!(
                    "{} is bound to drive {index} in the configuration, not drive {}",
                    archive_device.display(),
                    drive.0
                ))),
                Some(_) => Ok(()),
                None => {
                    tracing::warn!(
                        archive_device = %archive_device.display(),
                        drive = drive.0,
                        "cannot verify which drive this is: no serial number from the changer or the drive, \
                         and no [[library.drive]] binding in the configuration"
                    );
                    Ok(())
                }
            },
        }
    }

    fn device_of_drive(&self, serial: &str) -> Option<String> {
        self.lib
            .tape_devices()
            .into_iter()
            .find(|d| {
                d.serial
                    .as_deref()
                    .is_some_and(|s| serial_matches(serial, s))
            })
            .and_then(|d| d.nst)
            .map(|p| p.display().to_string())
    }

    /// `load`: slot → drive, then waits until the drive is ready. `progress` receives mtx's
    /// "Loading media …" text before the move.
    pub fn load(
        &mut self,
        slot: SlotNumber,
        drive: DriveIndex,
        archive_device: &Path,
        progress: &mut dyn FnMut(&str),
    ) -> Result<(), OpError> {
        let snap = self.snapshot()?;
        let target = self.drive_for_bareos(&snap, drive, archive_device)?;
        if target.full {
            let home = snap.inv.home_slots()[usize::from(drive.0)]
                .slot()
                .map_or(0, |s| s.0);
            return Err(OpError::DriveFull {
                drive: drive.0,
                slot: home,
            });
        }
        self.check_drive_identity(&snap, drive, archive_device)?;
        let source = snap.slot(slot)?;
        progress(&format!(
            "Loading media from Storage Element {} into drive {}...",
            slot.0, drive.0
        ));
        if !source.full {
            return Err(snap.source_empty(source.address));
        }
        let barcode = source.barcode().unwrap_or("").to_owned();
        // The drive is opened before the move: a drive that cannot be reached is refused
        // while the cartridge is still in its slot.
        let probe = self.lib.readiness_probe(archive_device)?;
        self.guarded_move(
            &snap,
            (source.element_type, source.address),
            (ElementType::DataTransfer, target.address),
        )?;
        tracing::info!(slot = slot.0, drive = drive.0, barcode, "loaded");
        self.wait_until_ready(drive, archive_device, probe)
    }

    /// Polls the drive until it is ready, bounded by `max_wait_drive` and the deadline (no
    /// fixed sleeps beyond `load_sleep` when configured).
    fn wait_until_ready(
        &mut self,
        drive: DriveIndex,
        archive_device: &Path,
        mut probe: crate::library::DriveProbe,
    ) -> Result<(), OpError> {
        if !self.settings.load_sleep.is_zero() {
            self.sleep(self.settings.load_sleep)?;
        }
        let started = Instant::now();
        let limit = (started + self.settings.max_wait_drive).min(self.deadline);
        let mut pause = Duration::from_millis(50);
        loop {
            let Some(state) = probe.not_ready()? else {
                tracing::info!(drive = drive.0, waited = ?started.elapsed(), "drive ready");
                return Ok(());
            };
            if self.stop.requested() {
                return Err(OpError::Stopped {
                    by: self.stop.cause(),
                    done: format!(
                        "the load: the cartridge is in drive {}, which was not ready yet ({state})",
                        drive.0
                    ),
                });
            }
            if Instant::now() + pause >= limit {
                return Err(OpError::NotReady {
                    drive: drive.0,
                    device: archive_device.display().to_string(),
                    waited: started.elapsed(),
                    state,
                });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }

    /// `unload`: drive → slot (the slot Bareos names, or the drive's home when it names none).
    pub fn unload(
        &mut self,
        slot: Option<SlotNumber>,
        drive: DriveIndex,
        archive_device: &Path,
        progress: &mut dyn FnMut(&str),
    ) -> Result<SlotNumber, OpError> {
        let snap = self.snapshot()?;
        let source = self.drive_for_bareos(&snap, drive, archive_device)?;
        if !source.full {
            return Err(OpError::DriveEmpty { drive: drive.0 });
        }
        self.check_drive_identity(&snap, drive, archive_device)?;
        let slot = match slot {
            Some(s) => s,
            None => snap.inv.home_slots()[usize::from(drive.0)]
                .slot()
                .ok_or_else(|| OpError::HomeUnknown {
                    drive: drive.0,
                    tag: tag_suffix(&source),
                })?,
        };
        let destination = snap.slot(slot)?;
        if destination.full {
            return Err(OpError::SlotFull {
                slot: slot.0,
                detail: snap.contents_of_full(destination.address),
            });
        }
        let export = self.export_check(&snap, &source, destination)?;
        if self.settings.offline {
            let mut tape = self.lib.open_drive(archive_device)?;
            tape.unload()?;
            tracing::info!(drive = drive.0, "drive unloaded (offline)");
        }
        if !self.settings.offline_sleep.is_zero() {
            self.sleep(self.settings.offline_sleep)?;
        }
        progress(&format!(
            "Unloading drive {} into Storage Element {}...",
            drive.0, slot.0
        ));
        self.exporting_move(
            &snap,
            export,
            (ElementType::DataTransfer, source.address),
            (destination.element_type, destination.address),
        )?;
        tracing::info!(
            slot = slot.0,
            drive = drive.0,
            barcode = source.barcode().unwrap_or(""),
            "unloaded"
        );
        Ok(slot)
    }

    /// `transfer`: slot → slot (storage or import/export).
    pub fn transfer(&mut self, from: SlotNumber, to: SlotNumber) -> Result<(), OpError> {
        self.checked_move(Endpoint::Slot(from), Endpoint::Slot(to), false)
            .map(|_| ())
    }

    /// MOVE MEDIUM, shielded from SIGTERM: a move once sent is allowed to finish and its result
    /// is logged before the process reacts to the signal.
    fn guarded_move(
        &mut self,
        snap: &Snapshot,
        source: (ElementType, ElementAddress),
        destination: (ElementType, ElementAddress),
    ) -> Result<(), OpError> {
        if self.stop.requested() {
            return Err(OpError::Stopped {
                by: self.stop.cause(),
                done: "nothing: the move was not started".into(),
            });
        }
        // The budget decides whether a move starts; the move itself keeps the robot's own
        // timeout: a kernel timeout would abort it halfway and reset the path.
        self.enough_time_left(MIN_TIME_FOR_A_MOVE, "a move")?;
        let transport = snap.inv.transport_address();
        let seq = match self.journal.as_mut() {
            Some(journal) => {
                let intent = MoveIntent {
                    source,
                    destination,
                    barcode: snap
                        .inv
                        .element(source.1)
                        .and_then(|e| e.barcode())
                        .map(str::to_owned),
                    words: format!(
                        "{} -> {}",
                        snap.name_of(source.1),
                        snap.name_of(destination.1)
                    ),
                };
                Some(journal.intent(&intent).map_err(|e| {
                    OpError::Refused(format!(
                        "cannot record the move in the journal ({e}); nothing was moved"
                    ))
                })?)
            }
            None => None,
        };
        let result = self.lib.changer.move_medium(transport, source, destination);
        if let (Some(journal), Some(seq)) = (self.journal.as_mut(), seq) {
            journal.outcome(
                seq,
                result.as_ref().map(|_| ()).map_err(ToString::to_string),
            );
        }
        tracing::info!(
            source = source.1.0,
            destination = destination.1.0,
            ok = result.is_ok(),
            "MOVE MEDIUM finished"
        );
        if let Some(cache) = self.cache.as_mut() {
            if self.lib.changer.take_unit_attention() {
                cache.invalidate(Invalidation::UnitAttention);
            } else if result.is_ok() {
                cache.moved(source.1, destination.1);
            } else {
                cache.invalidate(Invalidation::MoveOutcome);
            }
        }
        if self.stop.requested() {
            let outcome = match &result {
                Ok(()) => "completed".to_owned(),
                Err(e) => format!("failed: {e}"),
            };
            return Err(OpError::Stopped {
                by: self.stop.cause(),
                done: format!("the move {} -> {} ({outcome})", source.1, destination.1),
            });
        }
        match result {
            Ok(()) => Ok(()),
            Err(Error::SourceEmpty { source_address, .. }) => {
                Err(snap.source_empty(source_address))
            }
            Err(Error::DestinationFull { destination, .. }) => {
                Err(snap.destination_full(destination))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn sleep(&self, d: Duration) -> Result<(), OpError> {
        let until = (Instant::now() + d).min(self.deadline);
        while Instant::now() < until {
            if self.stop.requested() {
                return Err(OpError::Stopped {
                    by: self.stop.cause(),
                    done: "a configured pause".into(),
                });
            }
            std::thread::sleep(
                Duration::from_millis(50).min(until.saturating_duration_since(Instant::now())),
            );
        }
        Ok(())
    }
}

fn tag_suffix(e: &ElementStatus) -> String {
    e.barcode().map(|b| format!(" ({b})")).unwrap_or_default()
}

/// Whether a changer's copy of a serial names the drive's serial: equal, or cut down to a
/// prefix or suffix (libraries truncate to 10 characters; tgt drops the last drive's tail).
pub fn serial_matches(changer: &str, drive: &str) -> bool {
    changer == drive
        || (changer.len() >= 2 && (drive.starts_with(changer) || drive.ends_with(changer)))
}

/// One end of a human `move`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// A storage or import/export slot.
    Slot(SlotNumber),
    /// A drive.
    Drive(DriveIndex),
}

impl std::str::FromStr for Endpoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Endpoint, String> {
        let bad = || format!("'{s}' is neither a slot (5, slot:5) nor a drive (drive:0, d0)");
        let number = |t: &str| t.parse::<u16>().map_err(|_| bad());
        if let Some(d) = s.strip_prefix("drive:").or_else(|| s.strip_prefix('d')) {
            Ok(Endpoint::Drive(DriveIndex(number(d)?)))
        } else {
            Ok(Endpoint::Slot(SlotNumber(number(
                s.strip_prefix("slot:").unwrap_or(s),
            )?)))
        }
    }
}

impl From<Endpoint> for changer_proto::Place {
    fn from(e: Endpoint) -> changer_proto::Place {
        match e {
            Endpoint::Slot(s) => changer_proto::Place::Slot(s.0),
            Endpoint::Drive(d) => changer_proto::Place::Drive(d.0),
        }
    }
}

impl From<changer_proto::Place> for Endpoint {
    fn from(p: changer_proto::Place) -> Endpoint {
        match p {
            changer_proto::Place::Slot(s) => Endpoint::Slot(SlotNumber(s)),
            changer_proto::Place::Drive(d) => Endpoint::Drive(DriveIndex(d)),
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Slot(s) => write!(f, "slot {s}"),
            Endpoint::Drive(d) => write!(f, "drive {d}"),
        }
    }
}

impl Session {
    /// Checks that the source is full and the destination empty and asks the export guard,
    /// then moves unless `dry_run`. `Some(export)`: the move is (or would be) an export the
    /// guard allows.
    fn checked_move(
        &mut self,
        from: Endpoint,
        to: Endpoint,
        dry_run: bool,
    ) -> Result<Option<Export>, OpError> {
        let snap = self.snapshot()?;
        let source = snap.endpoint(from)?;
        let destination = snap.endpoint(to)?;
        if !source.full {
            return Err(snap.source_empty(source.address));
        }
        if destination.full {
            return Err(snap.destination_full(destination.address));
        }
        let export = self.export_check(&snap, source, destination)?;
        if dry_run {
            return Ok(export);
        }
        let barcode = source.barcode().unwrap_or("").to_owned();
        self.exporting_move(
            &snap,
            export.clone(),
            (source.element_type, source.address),
            (destination.element_type, destination.address),
        )?;
        tracing::info!(%from, %to, barcode, "moved");
        Ok(export)
    }

    /// Asks the export guard about a move into an import/export slot; `Some` when it allowed
    /// one (it is told the outcome after the move).
    fn export_check(
        &mut self,
        snap: &Snapshot,
        source: &ElementStatus,
        destination: &ElementStatus,
    ) -> Result<Option<Export>, OpError> {
        let Some(guard) = self.export_guard.as_mut() else {
            return Ok(None);
        };
        if destination.element_type != ElementType::ImportExport {
            return Ok(None);
        }
        let Some(to) = snap.inv.slot_number(destination.address) else {
            return Ok(None);
        };
        let export = Export {
            barcode: source.barcode().map(str::to_owned),
            from: snap.name_of(source.address),
            to,
        };
        guard.check(&export).map_err(OpError::Refused)?;
        Ok(Some(export))
    }

    /// [`Session::guarded_move`], reporting an allowed export's outcome to the guard.
    fn exporting_move(
        &mut self,
        snap: &Snapshot,
        export: Option<Export>,
        source: (ElementType, ElementAddress),
        destination: (ElementType, ElementAddress),
    ) -> Result<(), OpError> {
        let result = self.guarded_move(snap, source, destination);
        if let (Some(export), Some(guard)) = (export, self.export_guard.as_mut()) {
            guard.exported(
                &export,
                result.as_ref().map(|_| ()).map_err(ToString::to_string),
            );
        }
        result
    }

    /// A dry run of [`Session::move_between`]: checks both ends and asks the export guard,
    /// moves nothing. `Some(export)` when the move would be an export the guard allows.
    pub fn check_move(&mut self, from: Endpoint, to: Endpoint) -> Result<Option<Export>, OpError> {
        not_in_place(from, to)?;
        self.checked_move(from, to, true)
    }

    /// Moves a cartridge between any two slots or drives, checking both ends first.
    pub fn move_between(&mut self, from: Endpoint, to: Endpoint) -> Result<(), OpError> {
        not_in_place(from, to)?;
        self.checked_move(from, to, false).map(|_| ())
    }
}

/// A human move names two different places.
fn not_in_place(from: Endpoint, to: Endpoint) -> Result<(), OpError> {
    if from == to {
        return Err(OpError::Refused(format!(
            "{from} is both source and destination"
        )));
    }
    Ok(())
}

impl Snapshot {
    fn endpoint(&self, end: Endpoint) -> Result<&ElementStatus, OpError> {
        match end {
            Endpoint::Slot(s) => self.slot(s),
            Endpoint::Drive(d) => self.drive(d),
        }
    }
}

/// The index of the drive whose changer-reported serial is the archive device's: an exact match
/// decides; a cut-down serial (tgt, 10-character libraries) counts only when none matches
/// exactly.
fn drive_with_serial(serials: &[Option<String>], have: &str) -> Option<usize> {
    serials
        .iter()
        .position(|s| s.as_deref() == Some(have))
        .or_else(|| {
            serials
                .iter()
                .position(|s| s.as_deref().is_some_and(|s| serial_matches(s, have)))
        })
}
