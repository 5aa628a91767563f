//! Library operations with Bareos' meaning, each with the fewest SCSI commands it needs.
//!
//! Slot numbers and drive indexes are placed through the Element Address Assignment page
//! (one MODE SENSE) when its four ranges are disjoint, and every placement is confirmed by the
//! element the library returns; otherwise (or when a confirmation fails) the operation reads
//! the whole inventory and uses its numbering.

use std::path::Path;
use std::time::{Duration, Instant};

use scsi_changer::changer::ReadOptions;
use scsi_changer::decode::ElementAddressAssignment;
use scsi_changer::element::ElementStatus;
use scsi_changer::inventory::{HomeSlot, Inventory};
use scsi_changer::{DriveIndex, ElementAddress, ElementType, Error, SlotNumber};

use crate::config::Effective;
use crate::library::Library;
use crate::signals::Stop;

/// The least time left in the budget for which a move is started.
pub const MIN_TIME_FOR_A_MOVE: Duration = Duration::from_secs(20);

/// Why a Bareos operation did not happen. Each variant renders as the message mtx(1) prints
/// for it where Bareos or users depend on the wording (bareos-protocol.md §3.9).
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
    /// The source slot is empty (Bareos' "try the next volume" phrase).
    #[error("Source Element Address {address} is Empty")]
    SourceEmpty {
        /// Element address of the source.
        address: ElementAddress,
    },
    /// The destination holds a cartridge.
    #[error("Destination Element Address {address} is Already Full")]
    DestinationFull {
        /// Element address of the destination.
        address: ElementAddress,
    },
    /// The slot to unload into holds a cartridge.
    #[error("Storage Element {slot} is Already Full")]
    SlotFull {
        /// Slot number.
        slot: u16,
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
    #[error("invalid drive index {drive}: this library has {count} drive(s), 0 to {last}", last = count.saturating_sub(1))]
    NoSuchDrive {
        /// Requested drive.
        drive: u16,
        /// Number of drives.
        count: u16,
    },
    /// The archive device is another drive than the drive index says (contract C4).
    #[error("{0}")]
    WrongDrive(String),
    /// A full drive whose home slot is unknown, with no free slot to offer.
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

/// Where a slot number lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotPlace {
    /// Storage or import/export.
    pub element_type: ElementType,
    /// Its address.
    pub address: ElementAddress,
}

/// The address map of page 1Dh, trusted only when its ranges are disjoint.
#[derive(Debug, Clone, Copy)]
pub struct Geometry {
    /// The page.
    pub page: ElementAddressAssignment,
}

impl Geometry {
    /// Whether the page alone can place addresses.
    pub fn usable(&self) -> bool {
        self.page.ranges_are_disjoint()
    }

    /// Number of slots (storage + I/E).
    pub fn slot_count(&self) -> u16 {
        self.page.storage.saturating_add(self.page.import_export)
    }

    /// The element of a slot number.
    pub fn slot(&self, slot: SlotNumber) -> Option<SlotPlace> {
        let n = slot.0.checked_sub(1)?;
        if n < self.page.storage {
            Some(SlotPlace {
                element_type: ElementType::Storage,
                address: ElementAddress(self.page.first_storage.0.checked_add(n)?),
            })
        } else if n - self.page.storage < self.page.import_export {
            let k = n - self.page.storage;
            Some(SlotPlace {
                element_type: ElementType::ImportExport,
                address: ElementAddress(self.page.first_import_export.0.checked_add(k)?),
            })
        } else {
            None
        }
    }

    /// The slot number of a storage or I/E address.
    pub fn slot_of(&self, address: ElementAddress) -> Option<SlotNumber> {
        match self.page.type_of(address)? {
            ElementType::Storage => Some(SlotNumber(address.0 - self.page.first_storage.0 + 1)),
            ElementType::ImportExport => Some(SlotNumber(
                self.page.storage + address.0 - self.page.first_import_export.0 + 1,
            )),
            _ => None,
        }
    }
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
    /// The Element Address Assignment page.
    pub fn geometry(&mut self) -> Result<Geometry, Error> {
        Ok(Geometry {
            page: self.lib.changer.element_address_assignment()?,
        })
    }

    /// The whole inventory for `listall` (page 1Dh, storage, I/E, drives; the transport from
    /// the page), after INITIALIZE ELEMENT STATUS when the `inventory` setting asks for it.
    pub fn inventory(&mut self) -> Result<Inventory, Error> {
        if self.settings.inventory {
            self.lib.changer.initialize_element_status(None, false)?;
        }
        Ok(self.lib.changer.inventory(false)?.1)
    }

    /// The whole inventory as the library knows it now (no re-scan): for numbering and home
    /// slots when page 1Dh alone cannot place an address.
    fn read_all(&mut self, g: &Geometry) -> Result<Inventory, Error> {
        self.lib.changer.inventory_from(&g.page, false)
    }

    /// What `list` needs: storage slots and drives. `list` never shows import/export slots, so
    /// when page 1Dh places them (disjoint ranges) they are not read — on the AWS geometry two
    /// READ ELEMENT STATUS of 83 KB less — and stand in as empty elements at their addresses,
    /// so a drive loaded from an I/E slot still gets that slot's number.
    pub fn inventory_for_list(&mut self) -> Result<Inventory, Error> {
        if self.settings.inventory {
            self.lib.changer.initialize_element_status(None, false)?;
        }
        let g = self.geometry()?;
        if !g.usable() {
            return self.read_all(&g);
        }
        let tags = ReadOptions {
            voltag: true,
            dvcid: false,
        };
        // Both types' requests go out together (one round trip on sg, not one per request).
        let mut lists = self
            .lib
            .changer
            .read_types(
                &g.page,
                &[
                    (ElementType::Storage, tags),
                    (ElementType::DataTransfer, tags),
                ],
            )?
            .into_iter();
        let storage = lists.next().unwrap_or_default();
        let drives = lists.next().unwrap_or_default();
        let (first, count) = g.page.range(ElementType::ImportExport);
        let import_export = (0..count)
            .filter_map(|k| first.0.checked_add(k))
            .map(|a| ElementStatus::empty(ElementType::ImportExport, ElementAddress(a)))
            .collect();
        Ok(Inventory::from_lists(
            Vec::new(),
            storage,
            import_export,
            drives,
        ))
    }

    /// The drives' elements with volume tags, drive 0 first.
    fn drives(&mut self, g: &Geometry) -> Result<Vec<ElementStatus>, Error> {
        self.lib.changer.read_type(
            &g.page,
            ElementType::DataTransfer,
            ReadOptions {
                voltag: true,
                dvcid: false,
            },
        )
    }

    /// One drive's element, or the error naming the drives there are.
    fn drive_element(&mut self, g: &Geometry, drive: DriveIndex) -> Result<ElementStatus, OpError> {
        let mut drives = self.drives(g)?;
        let count = u16::try_from(drives.len()).unwrap_or(u16::MAX);
        let index = usize::from(drive.0);
        if index >= drives.len() {
            return Err(OpError::NoSuchDrive {
                drive: drive.0,
                count,
            });
        }
        Ok(drives.swap_remove(index))
    }

    /// Where a full drive's cartridge goes home: the reported source when page 1Dh places it
    /// (no further command), else the whole inventory's answer (contract C1).
    fn home_of(
        &mut self,
        g: &Geometry,
        drive: DriveIndex,
        element: &ElementStatus,
    ) -> Result<HomeSlot, Error> {
        if !element.full {
            return Ok(HomeSlot::DriveEmpty);
        }
        if g.usable()
            && let Some(slot) = element.source.and_then(|a| g.slot_of(a))
        {
            return Ok(HomeSlot::Reported(slot));
        }
        let homes = self.read_all(g)?.home_slots();
        Ok(homes
            .get(usize::from(drive.0))
            .copied()
            .unwrap_or(HomeSlot::Unknown))
    }

    /// `slots`: storage plus import/export, from page 1Dh alone.
    pub fn slots(&mut self) -> Result<u16, Error> {
        Ok(self.geometry()?.slot_count())
    }

    /// `loaded`: the home slot of a drive, from the drive page when the page places the source
    /// address, else from the whole inventory.
    pub fn loaded(&mut self, drive: DriveIndex) -> Result<Loaded, OpError> {
        let g = self.geometry()?;
        let element = self.drive_element(&g, drive)?;
        Ok(match self.home_of(&g, drive, &element)? {
            HomeSlot::DriveEmpty => Loaded::Empty,
            HomeSlot::Reported(s) | HomeSlot::Assigned(s) => Loaded::Slot(s),
            HomeSlot::Unknown => Loaded::Unknown,
        })
    }

    /// Places a slot number, confirming it with the element the library returns.
    fn place_slot(
        &mut self,
        g: &Geometry,
        slot: SlotNumber,
    ) -> Result<(SlotPlace, ElementStatus), OpError> {
        let count = g.slot_count();
        if slot.0 == 0 || slot.0 > count {
            return Err(OpError::NoSuchSlot {
                slot: slot.0,
                count,
            });
        }
        if g.usable()
            && let Some(place) = g.slot(slot)
        {
            match self
                .lib
                .changer
                .read_element(place.element_type, place.address)
            {
                Ok(e) => return Ok((place, e)),
                Err(Error::NoSuchElement { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        // Addresses are not where the page suggests: number by the real inventory.
        let inv = self.read_all(g)?;
        let e = inv.slot(slot).cloned().ok_or(OpError::NoSuchSlot {
            slot: slot.0,
            count: inv.slot_count(),
        })?;
        Ok((
            SlotPlace {
                element_type: e.element_type,
                address: e.address,
            },
            e,
        ))
    }

    /// Checks that `archive_device` is drive `drive` by serial number (contract C4), with the
    /// config's bindings as the fallback for drives without serials.
    pub fn check_drive_identity(
        &mut self,
        g: &Geometry,
        drive: DriveIndex,
        archive_device: &Path,
    ) -> Result<(), OpError> {
        let bindings = &self.settings.drives;
        let bound_elsewhere = bindings
            .iter()
            .find(|b| b.device == archive_device)
            .map(|b| b.index);
        let identifiers = self.lib.changer.drive_identifiers(&g.page)?;
        let archive_serial = self.lib.archive_device_serial(archive_device)?;
        let serials: Vec<Option<String>> = identifiers
            .as_ref()
            .map(|ids| {
                ids.iter()
                    .map(|(_, id)| id.as_ref().and_then(|i| i.serial()))
                    .collect()
            })
            .unwrap_or_default();
        let wanted = serials.get(usize::from(drive.0)).cloned().flatten();
        match (&wanted, &archive_serial) {
            (Some(want), Some(have)) => {
                // An exact match anywhere decides; a cut-down serial (tgt, 10-character
                // libraries) only counts when no drive matches exactly.
                let actual = serials
                    .iter()
                    .position(|s| s.as_deref() == Some(have.as_str()))
                    .or_else(|| {
                        serials
                            .iter()
                            .position(|s| s.as_deref().is_some_and(|s| serial_matches(s, have)))
                    });
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
        let g = self.geometry()?;
        let target = self.drive_element(&g, drive)?;
        if target.full {
            let home = self.home_of(&g, drive, &target)?.slot().map_or(0, |s| s.0);
            return Err(OpError::DriveFull {
                drive: drive.0,
                slot: home,
            });
        }
        self.check_drive_identity(&g, drive, archive_device)?;
        let (place, source) = self.place_slot(&g, slot)?;
        progress(&format!(
            "Loading media from Storage Element {} into drive {}...",
            slot.0, drive.0
        ));
        if !source.full {
            return Err(OpError::SourceEmpty {
                address: place.address,
            });
        }
        // The drive is opened before the move: a drive that cannot be reached is refused
        // while the cartridge is still in its slot.
        let tape = self.lib.open_drive(archive_device)?;
        self.guarded_move(
            &g,
            (place.element_type, place.address),
            (ElementType::DataTransfer, target.address),
        )?;
        tracing::info!(
            slot = slot.0,
            drive = drive.0,
            barcode = source.barcode().unwrap_or(""),
            "loaded"
        );
        self.wait_until_ready(drive, archive_device, tape)
    }

    /// Polls the drive's TEST UNIT READY until it is ready, bounded by `max_wait_drive` and the
    /// deadline (no fixed sleeps beyond `load_sleep` when configured).
    fn wait_until_ready(
        &mut self,
        drive: DriveIndex,
        archive_device: &Path,
        mut tape: scsi_changer::drive::TapeDrive<crate::library::DynTransport>,
    ) -> Result<(), OpError> {
        if !self.settings.load_sleep.is_zero() {
            self.sleep(self.settings.load_sleep)?;
        }
        let started = Instant::now();
        let limit = (started + self.settings.max_wait_drive).min(self.deadline);
        let mut pause = Duration::from_millis(50);
        loop {
            let state = tape.test_unit_ready()?;
            if state == scsi_changer::drive::Readiness::Ready {
                tracing::info!(drive = drive.0, waited = ?started.elapsed(), "drive ready");
                return Ok(());
            }
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
                    state: state.to_string(),
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
        let g = self.geometry()?;
        let source = self.drive_element(&g, drive)?;
        if !source.full {
            return Err(OpError::DriveEmpty { drive: drive.0 });
        }
        self.check_drive_identity(&g, drive, archive_device)?;
        let slot =
            match slot {
                Some(s) => s,
                None => self.home_of(&g, drive, &source)?.slot().ok_or_else(|| {
                    OpError::HomeUnknown {
                        drive: drive.0,
                        tag: tag_suffix(&source),
                    }
                })?,
            };
        let (place, destination) = self.place_slot(&g, slot)?;
        if destination.full {
            return Err(OpError::SlotFull { slot: slot.0 });
        }
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
        self.guarded_move(
            &g,
            (ElementType::DataTransfer, source.address),
            (place.element_type, place.address),
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
        self.checked_move(Endpoint::Slot(from), Endpoint::Slot(to))
    }

    fn transport_address(&self, g: &Geometry) -> ElementAddress {
        if g.page.medium_transports > 0 {
            g.page.first_medium_transport
        } else {
            ElementAddress(0)
        }
    }

    /// MOVE MEDIUM, shielded from SIGTERM: a move once sent is allowed to finish and its result
    /// is logged before the process reacts to the signal.
    fn guarded_move(
        &mut self,
        g: &Geometry,
        source: (ElementType, ElementAddress),
        destination: (ElementType, ElementAddress),
    ) -> Result<(), OpError> {
        if self.stop.requested() {
            return Err(OpError::Stopped {
                by: self.stop.cause(),
                done: "nothing: the move was not started".into(),
            });
        }
        // Every command answers within Maximum Changer Wait (C6), so the move's SCSI timeout
        // is what is left of it. A move is never started when too little is left for a robot
        // to finish one: aborting it halfway would be worse than not starting.
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left < MIN_TIME_FOR_A_MOVE {
            return Err(OpError::Refused(format!(
                "only {left:?} of Maximum Changer Wait left, not enough to start a move \
                 (at least {MIN_TIME_FOR_A_MOVE:?}); nothing was moved"
            )));
        }
        let transport = self.transport_address(g);
        let result = self.lib.changer.move_medium(transport, source, destination);
        tracing::info!(
            source = source.1.0,
            destination = destination.1.0,
            ok = result.is_ok(),
            "MOVE MEDIUM finished"
        );
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
            Err(Error::SourceEmpty { source_address, .. }) => Err(OpError::SourceEmpty {
                address: source_address,
            }),
            Err(Error::DestinationFull { destination, .. }) => Err(OpError::DestinationFull {
                address: destination,
            }),
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

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Slot(s) => write!(f, "slot {s}"),
            Endpoint::Drive(d) => write!(f, "drive {d}"),
        }
    }
}

impl Session {
    fn place(
        &mut self,
        g: &Geometry,
        end: Endpoint,
    ) -> Result<(SlotPlace, ElementStatus), OpError> {
        match end {
            Endpoint::Slot(s) => self.place_slot(g, s),
            Endpoint::Drive(d) => {
                let e = self.drive_element(g, d)?;
                Ok((
                    SlotPlace {
                        element_type: ElementType::DataTransfer,
                        address: e.address,
                    },
                    e,
                ))
            }
        }
    }

    /// Moves a cartridge between any two slots or drives, checking both ends first.
    pub fn move_between(&mut self, from: Endpoint, to: Endpoint) -> Result<(), OpError> {
        if from == to {
            return Err(OpError::Refused(format!(
                "{from} is both source and destination"
            )));
        }
        self.checked_move(from, to)
    }

    /// Checks that the source is full and the destination empty, then moves.
    fn checked_move(&mut self, from: Endpoint, to: Endpoint) -> Result<(), OpError> {
        let g = self.geometry()?;
        let (src, source) = self.place(&g, from)?;
        let (dst, destination) = self.place(&g, to)?;
        if !source.full {
            return Err(OpError::SourceEmpty {
                address: src.address,
            });
        }
        if destination.full {
            return Err(OpError::DestinationFull {
                address: dst.address,
            });
        }
        self.guarded_move(
            &g,
            (src.element_type, src.address),
            (dst.element_type, dst.address),
        )?;
        tracing::info!(%from, %to, barcode = source.barcode().unwrap_or(""), "moved");
        Ok(())
    }
}
