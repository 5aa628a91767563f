//! `Inventory::apply_move` predicts what the library reports after a move: for random move
//! sequences on a library with drives, storage and I/E slots, the inventory read again after
//! each acknowledged MOVE MEDIUM equals the previous one with the move applied. (The daemon's
//! cache relies on this to answer without reading the library again.)

mod sim_common;

use proptest::prelude::*;
use scsi_changer::address::ElementType;
use scsi_changer::inventory::Inventory;
use sim_common::TempLibrary;

const LIBRARY: &str = "\
  Storage Changer /dev/sg1:3 Drives, 10 Slots ( 3 Import/Export )
Data Transfer Element 0:Full (Storage Element 2 Loaded):VolumeTag = A00002L6
Data Transfer Element 1:Empty
Data Transfer Element 2:Full (Unknown Storage Element Loaded):VolumeTag = CLN001L1
      Storage Element 1:Full :VolumeTag=A00001L6
      Storage Element 2:Empty
      Storage Element 3:Full :VolumeTag=A00003L6
      Storage Element 4:Empty
      Storage Element 5:Full
      Storage Element 6:Empty
      Storage Element 7:Full :VolumeTag=A00007L6
      Storage Element 8 IMPORT/EXPORT:Full :VolumeTag=IE0008L6
      Storage Element 9 IMPORT/EXPORT:Empty
      Storage Element 10 IMPORT/EXPORT:Empty
";

/// IMPEXP aside: SMC-3 clears it when the robot placed the cartridge, and so does
/// `apply_move`; the simulator derives it from the file, where a cartridge of unknown origin
/// (SVALID = 0) in an I/E slot reads as one an operator put there.
fn without_impexp(mut inv: Inventory) -> Inventory {
    for e in inv.import_export.iter_mut() {
        e.impexp = false;
    }
    inv
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn the_predicted_inventory_is_the_one_read_back(moves in proptest::collection::vec((0usize..13, 0usize..13), 1..25)) {
        let lib = TempLibrary::new(LIBRARY);
        let mut changer = lib.changer();
        let (_, mut predicted) = changer.inventory(true).unwrap();
        let elements: Vec<_> = predicted
            .drives
            .iter()
            .chain(&predicted.storage)
            .chain(&predicted.import_export)
            .map(|e| (e.element_type, e.address))
            .collect();
        for (a, b) in moves {
            let (src, dst) = (elements[a], elements[b]);
            let full = |inv: &Inventory, x: (ElementType, _)| {
                inv.element(x.1).unwrap().full
            };
            let possible = a != b && full(&predicted, src) && !full(&predicted, dst);
            let transport = predicted.transport_address();
            let moved = changer.move_medium(transport, src, dst);
            prop_assert_eq!(moved.is_ok(), possible, "{:?} -> {:?}: {:?}", src, dst, moved);
            prop_assert_eq!(predicted.apply_move(src.1, dst.1), possible);
            let (_, read) = changer.inventory(true).unwrap();
            prop_assert_eq!(without_impexp(read), without_impexp(predicted.clone()));
        }
    }
}

#[test]
fn a_move_the_picture_cannot_explain_changes_nothing() {
    let lib = TempLibrary::new(LIBRARY);
    let (_, inv) = lib.changer().inventory(true).unwrap();
    let slot = |n: u16| inv.slot(scsi_changer::SlotNumber(n)).unwrap().address;
    let drive1 = inv.drives[1].address;
    for (name, src, dst) in [
        ("empty source", slot(2), drive1),
        ("full destination", slot(1), slot(3)),
        ("same element", slot(1), slot(1)),
        (
            "no such element",
            scsi_changer::ElementAddress(9999),
            slot(2),
        ),
    ] {
        let mut copy = inv.clone();
        assert!(!copy.apply_move(src, dst), "{name}");
        assert_eq!(copy, inv, "{name}");
    }
}
