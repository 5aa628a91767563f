//! The library's contents and the mtx(1) numbering: storage slots `1..=S` in element-address
//! order, import/export slots `S+1..=S+I`, drives `0..D` in element-address order.
//!
//! This module is the only place where element addresses, slot numbers and drive indexes are
//! converted into each other.

use crate::address::{DriveIndex, ElementAddress, ElementType, SlotNumber};
use crate::decode::ElementAddressAssignment;
use crate::element::ElementStatus;

/// Every element of a library, each list in element-address order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Inventory {
    /// Medium transport elements (robots).
    pub transports: Vec<ElementStatus>,
    /// Storage elements, slot 1 first.
    pub storage: Vec<ElementStatus>,
    /// Import/export elements, slot S+1 first.
    pub import_export: Vec<ElementStatus>,
    /// Data transfer elements, drive 0 first.
    pub drives: Vec<ElementStatus>,
}

/// Where a drive's cartridge goes home to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HomeSlot {
    /// The drive is empty.
    DriveEmpty,
    /// The library reports the source slot (SVALID), it is a slot of this library, it is
    /// empty, and no lower drive reports it.
    Reported(SlotNumber),
    /// The library does not know the source (SVALID = 0, or an address that is no slot), or the
    /// reported slot cannot take the cartridge back (it is full, or a lower drive reports the
    /// same slot): the lowest free storage slot that no other drive claims (contract C1).
    Assigned(SlotNumber),
    /// The source is unknown and no storage slot is free.
    Unknown,
}

impl HomeSlot {
    /// The slot, when there is one.
    pub fn slot(self) -> Option<SlotNumber> {
        match self {
            HomeSlot::Reported(s) | HomeSlot::Assigned(s) => Some(s),
            HomeSlot::DriveEmpty | HomeSlot::Unknown => None,
        }
    }
}

impl Inventory {
    /// Builds an inventory from elements of any type in any order; elements that report
    /// "not installed" (83h/02h, 83h/04h) are left out, as mtx does, so numbering matches it.
    pub fn from_elements(elements: impl IntoIterator<Item = ElementStatus>) -> Inventory {
        let mut lists: [Vec<ElementStatus>; 4] = Default::default();
        for e in elements {
            let i = match e.element_type {
                ElementType::MediumTransport => 0,
                ElementType::Storage => 1,
                ElementType::ImportExport => 2,
                ElementType::DataTransfer => 3,
            };
            lists[i].push(e);
        }
        let [transports, storage, import_export, drives] = lists;
        Inventory::from_lists(transports, storage, import_export, drives)
    }

    /// Builds an inventory from one list per element type (any order within a list), without
    /// copying the elements: the same filtering and ordering as [`Inventory::from_elements`].
    /// An element in the wrong list is dropped.
    pub fn from_lists(
        transports: Vec<ElementStatus>,
        storage: Vec<ElementStatus>,
        import_export: Vec<ElementStatus>,
        drives: Vec<ElementStatus>,
    ) -> Inventory {
        let mut inv = Inventory {
            transports,
            storage,
            import_export,
            drives,
        };
        for (list, kind) in [
            (&mut inv.transports, ElementType::MediumTransport),
            (&mut inv.storage, ElementType::Storage),
            (&mut inv.import_export, ElementType::ImportExport),
            (&mut inv.drives, ElementType::DataTransfer),
        ] {
            list.retain(|e| e.element_type == kind && !e.not_installed());
            list.sort_by_key(|e| e.address);
            list.dedup_by_key(|e| e.address);
        }
        inv
    }

    /// Number of slots Bareos sees: storage plus import/export.
    pub fn slot_count(&self) -> u16 {
        u16::try_from(self.storage.len() + self.import_export.len()).unwrap_or(u16::MAX)
    }

    /// The element behind a slot number.
    pub fn slot(&self, slot: SlotNumber) -> Option<&ElementStatus> {
        let i = usize::from(slot.0).checked_sub(1)?;
        self.storage
            .get(i)
            .or_else(|| self.import_export.get(i - self.storage.len()))
    }

    /// The slot number of a storage or import/export element address.
    pub fn slot_number(&self, address: ElementAddress) -> Option<SlotNumber> {
        if let Ok(i) = self.storage.binary_search_by_key(&address, |e| e.address) {
            return u16::try_from(i + 1).ok().map(SlotNumber);
        }
        let i = self
            .import_export
            .binary_search_by_key(&address, |e| e.address)
            .ok()?;
        u16::try_from(self.storage.len() + i + 1)
            .ok()
            .map(SlotNumber)
    }

    /// Whether a slot number is an import/export slot.
    pub fn is_import_export(&self, slot: SlotNumber) -> bool {
        usize::from(slot.0) > self.storage.len()
            && usize::from(slot.0) <= self.storage.len() + self.import_export.len()
    }

    /// The drive with an index.
    pub fn drive(&self, index: DriveIndex) -> Option<&ElementStatus> {
        self.drives.get(usize::from(index.0))
    }

    /// The index of a drive's element address.
    pub fn drive_index(&self, address: ElementAddress) -> Option<DriveIndex> {
        let i = self
            .drives
            .binary_search_by_key(&address, |e| e.address)
            .ok()?;
        u16::try_from(i).ok().map(DriveIndex)
    }

    /// The address to put in MOVE MEDIUM's MEDIUM TRANSPORT ADDRESS: the first transport, or 0
    /// (the device's default transport, for loaders that report none).
    pub fn transport_address(&self) -> ElementAddress {
        self.transports
            .first()
            .map_or(ElementAddress(0), |t| t.address)
    }

    /// Home slot of every drive, drive 0 first (see [`HomeSlot`]), contract C1: never two
    /// drives claiming one slot, never a slot that holds a cartridge.
    ///
    /// A reported source (SVALID) counts only while that slot is empty and no lower drive
    /// reports the same slot: an operator's manual move can leave two drives naming one slot,
    /// or put another cartridge into a loaded drive's home, and unloading into a full slot
    /// fails with the tape left in the drive. Every other full drive gets the lowest free
    /// storage slot that no drive claims, in drive order.
    pub fn home_slots(&self) -> Vec<HomeSlot> {
        let mut claimed: Vec<SlotNumber> = Vec::new();
        let mut homes: Vec<HomeSlot> = self
            .drives
            .iter()
            .map(|d| {
                if !d.full {
                    return HomeSlot::DriveEmpty;
                }
                let usable = d
                    .source
                    .and_then(|a| self.slot_number(a))
                    .filter(|&s| self.slot(s).is_some_and(|e| !e.full))
                    .filter(|s| !claimed.contains(s));
                match usable {
                    Some(slot) => {
                        claimed.push(slot);
                        HomeSlot::Reported(slot)
                    }
                    None => HomeSlot::Unknown,
                }
            })
            .collect();
        let mut free = self
            .storage
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.full)
            .filter_map(|(i, _)| u16::try_from(i + 1).ok().map(SlotNumber))
            .filter(|s| !claimed.contains(s));
        for home in homes.iter_mut() {
            if *home == HomeSlot::Unknown
                && let Some(slot) = free.next()
            {
                *home = HomeSlot::Assigned(slot);
            }
        }
        homes
    }

    /// Checks the counts against the Element Address Assignment page and says what differs.
    /// Libraries with uninstalled elements legitimately report fewer; a mismatch is a warning.
    pub fn differences_from(&self, page: &ElementAddressAssignment) -> Vec<String> {
        let mut out = Vec::new();
        for (t, have) in [
            (ElementType::Storage, self.storage.len()),
            (ElementType::ImportExport, self.import_export.len()),
            (ElementType::DataTransfer, self.drives.len()),
        ] {
            let (_, want) = page.range(t);
            if usize::from(want) != have {
                out.push(format!(
                    "mode page 1Dh announces {want} {t} elements, the library reported {have}"
                ));
            }
        }
        out
    }

    /// The inventory after a MOVE MEDIUM from `source` to `destination` that the library
    /// acknowledged, without reading it again: the cartridge (its volume tags and medium type)
    /// leaves the source, the destination is full and reports SVALID with the source element
    /// when that is a slot, else the source the cartridge had (a cartridge passing through a
    /// drive keeps its home), as SMC-3 §6.10's "source storage element" is kept by libraries.
    /// ACCESS travels with the cartridge. Returns `false`, changing nothing, when an address is
    /// no element of this inventory, the source is empty or the destination full: the caller's
    /// picture is wrong and must be read again.
    pub fn apply_move(&mut self, source: ElementAddress, destination: ElementAddress) -> bool {
        let (Some(from), Some(to)) = (
            self.element(source).cloned(),
            self.element(destination).cloned(),
        ) else {
            return false;
        };
        if source == destination || !from.full || to.full {
            return false;
        }
        let home = match from.element_type {
            ElementType::Storage | ElementType::ImportExport => Some(source),
            ElementType::DataTransfer | ElementType::MediumTransport => from.source,
        };
        // What describes the cartridge changes places with what describes the empty element
        // (a blank volume tag or none, ACCESS as the library reports empty elements).
        for (address, with, full) in [(destination, &from, true), (source, &to, false)] {
            if let Some(e) = self.element_mut(address) {
                e.full = full;
                e.primary_volume_tag = with.primary_volume_tag;
                e.alternate_volume_tag = with.alternate_volume_tag;
                e.medium_type = with.medium_type;
                e.access = with.access;
                e.source = if full { home } else { with.source };
                e.impexp = false;
                e.invert = false;
            }
        }
        true
    }

    /// Every element, in no particular order.
    pub fn elements(&self) -> impl Iterator<Item = &ElementStatus> {
        self.transports
            .iter()
            .chain(&self.storage)
            .chain(&self.import_export)
            .chain(&self.drives)
    }

    /// The element at an address, of any type.
    pub fn element(&self, address: ElementAddress) -> Option<&ElementStatus> {
        [
            &self.transports,
            &self.storage,
            &self.import_export,
            &self.drives,
        ]
        .into_iter()
        .find_map(|list| {
            list.binary_search_by_key(&address, |e| e.address)
                .ok()
                .map(|i| &list[i])
        })
    }

    /// The element at an address, of any type, to change it.
    pub fn element_mut(&mut self, address: ElementAddress) -> Option<&mut ElementStatus> {
        [
            &mut self.transports,
            &mut self.storage,
            &mut self.import_export,
            &mut self.drives,
        ]
        .into_iter()
        .find_map(|list| {
            list.binary_search_by_key(&address, |e| e.address)
                .ok()
                .map(|i| &mut list[i])
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(t: ElementType, a: u16, full: bool, source: Option<u16>) -> ElementStatus {
        let mut e = ElementStatus::empty(t, ElementAddress(a));
        e.full = full;
        e.source = source.map(ElementAddress);
        e
    }

    fn library() -> Inventory {
        // Addresses deliberately out of order and non-contiguous.
        Inventory::from_elements([
            el(ElementType::Storage, 1002, false, None),
            el(ElementType::Storage, 1000, true, None),
            el(ElementType::Storage, 1001, false, None),
            el(ElementType::ImportExport, 11, false, None),
            el(ElementType::ImportExport, 10, true, None),
            el(ElementType::DataTransfer, 501, true, None),
            el(ElementType::DataTransfer, 500, true, Some(1001)),
            el(ElementType::MediumTransport, 1, false, None),
        ])
    }

    #[test]
    fn numbering_follows_mtx() {
        let inv = library();
        let cases: &[(u16, Option<u16>)] = &[
            (1000, Some(1)),
            (1001, Some(2)),
            (1002, Some(3)),
            (10, Some(4)),
            (11, Some(5)),
            (500, None),
        ];
        for &(addr, slot) in cases {
            assert_eq!(
                inv.slot_number(ElementAddress(addr)),
                slot.map(SlotNumber),
                "address {addr}"
            );
        }
        assert_eq!(inv.slot(SlotNumber(4)).unwrap().address, ElementAddress(10));
        assert_eq!(inv.slot(SlotNumber(0)), None);
        assert_eq!(inv.slot(SlotNumber(6)), None);
        assert_eq!(inv.slot_count(), 5);
        assert!(inv.is_import_export(SlotNumber(4)));
        assert!(!inv.is_import_export(SlotNumber(3)));
        assert_eq!(inv.drive_index(ElementAddress(501)), Some(DriveIndex(1)));
        assert_eq!(inv.transport_address(), ElementAddress(1));
    }

    #[test]
    fn unknown_source_gets_lowest_unclaimed_free_storage_slot() {
        // Drive 0 reports slot 2 (1001); drive 1 has no source: slot 2 is claimed, so slot 3.
        assert_eq!(
            library().home_slots(),
            vec![
                HomeSlot::Reported(SlotNumber(2)),
                HomeSlot::Assigned(SlotNumber(3))
            ]
        );
    }

    #[test]
    fn unknown_source_without_free_slot_stays_unknown() {
        let inv = Inventory::from_elements([
            el(ElementType::Storage, 1000, true, None),
            el(ElementType::DataTransfer, 500, true, None),
            el(ElementType::DataTransfer, 501, false, None),
        ]);
        assert_eq!(
            inv.home_slots(),
            vec![HomeSlot::Unknown, HomeSlot::DriveEmpty]
        );
    }

    #[test]
    fn a_source_claimed_by_two_drives_belongs_to_the_lower_drive() {
        // Both drives report slot 2 (after an operator's manual move); slot 1 is full.
        let inv = Inventory::from_elements([
            el(ElementType::Storage, 1000, true, None),
            el(ElementType::Storage, 1001, false, None),
            el(ElementType::Storage, 1002, false, None),
            el(ElementType::DataTransfer, 500, true, Some(1001)),
            el(ElementType::DataTransfer, 501, true, Some(1001)),
        ]);
        assert_eq!(
            inv.home_slots(),
            vec![
                HomeSlot::Reported(SlotNumber(2)),
                HomeSlot::Assigned(SlotNumber(3))
            ]
        );
    }

    #[test]
    fn a_source_slot_filled_since_is_not_the_home() {
        // Drive 0 came from slot 2, which now holds another cartridge (bconsole `move`).
        let inv = Inventory::from_elements([
            el(ElementType::Storage, 1000, false, None),
            el(ElementType::Storage, 1001, true, None),
            el(ElementType::DataTransfer, 500, true, Some(1001)),
        ]);
        assert_eq!(inv.home_slots(), vec![HomeSlot::Assigned(SlotNumber(1))]);
    }

    #[test]
    fn a_full_source_and_no_free_slot_leaves_the_home_unknown() {
        let inv = Inventory::from_elements([
            el(ElementType::Storage, 1000, true, None),
            el(ElementType::DataTransfer, 500, true, Some(1000)),
        ]);
        assert_eq!(inv.home_slots(), vec![HomeSlot::Unknown]);
    }

    #[test]
    fn uninstalled_elements_do_not_take_a_number() {
        let mut gone = el(ElementType::Storage, 1001, false, None);
        (gone.asc, gone.ascq) = (0x83, 0x02);
        let inv = Inventory::from_elements([
            el(ElementType::Storage, 1000, true, None),
            gone,
            el(ElementType::Storage, 1002, true, None),
        ]);
        assert_eq!(inv.slot_number(ElementAddress(1002)), Some(SlotNumber(2)));
    }
}
