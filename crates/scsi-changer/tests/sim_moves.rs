//! Moves through the real driver: every kind persists to the file and is seen by a second
//! handle; refusals come back as the driver's typed errors; `#` lines survive; another
//! process's change is announced by one UNIT ATTENTION that the driver retries through.

mod sim_common;

use scsi_changer::address::{ElementAddress, ElementType};
use scsi_changer::drive::{Readiness, TapeDrive};
use scsi_changer::error::Error;
use scsi_changer::sim::{SimElement, SimLibrary};
use sim_common::{SenseTriple, TempLibrary, changer, raw, sense_of};

const LIBRARY: &str = "\
  Storage Changer /dev/sg1:2 Drives, 8 Slots ( 2 Import/Export )
Data Transfer Element 0:Empty
Data Transfer Element 1:Empty
      Storage Element 1:Full :VolumeTag=A00001L6                        
      Storage Element 2:Full :VolumeTag=A00002L6                        
      Storage Element 3:Full :VolumeTag=A00003L6                        
      Storage Element 4:Empty
      Storage Element 5:Empty
      Storage Element 6:Empty
      Storage Element 7 IMPORT/EXPORT:Full :VolumeTag=IE0007L6
      Storage Element 8 IMPORT/EXPORT:Empty
";

/// An element of the test library by name: `s<n>` slot n, `d<n>` drive n.
fn element(lib: &SimLibrary, name: &str) -> (ElementType, ElementAddress) {
    let state = lib.state().unwrap();
    let n: u16 = name[1..].parse().unwrap();
    match &name[..1] {
        "d" => (ElementType::DataTransfer, state.drive_address(n).unwrap()),
        _ if state.is_import_export(n) => {
            (ElementType::ImportExport, state.slot_address(n).unwrap())
        }
        _ => (ElementType::Storage, state.slot_address(n).unwrap()),
    }
}

fn content(lib: &SimLibrary, name: &str) -> SimElement {
    let state = lib.state().unwrap();
    let n: u16 = name[1..].parse().unwrap();
    match &name[..1] {
        "d" => state.drive(n).unwrap().clone(),
        _ => state.slot(n).unwrap().clone(),
    }
}

fn tag(e: &SimElement) -> Option<String> {
    e.primary.map(|t| t.barcode().to_owned())
}

#[test]
fn every_kind_of_move_persists_and_a_second_process_sees_it() {
    let t = TempLibrary::new(LIBRARY);
    let mut c = t.changer();
    // (from, to, tag that travels, source slot the destination reports)
    let moves: &[(&str, &str, &str, u16)] = &[
        ("s1", "d0", "A00001L6", 1), // slot -> drive
        ("d0", "d1", "A00001L6", 1), // drive -> drive: keeps its home slot
        ("d1", "s4", "A00001L6", 1), // drive -> slot
        ("s2", "s5", "A00002L6", 2), // slot -> slot
        ("s3", "s8", "A00003L6", 3), // slot -> I/E
        ("s7", "s1", "IE0007L6", 7), // I/E -> slot
        ("s8", "d0", "A00003L6", 8), // I/E -> drive
        ("d0", "s7", "A00003L6", 8), // drive -> I/E
    ];
    for (from, to, moved, source) in moves {
        let transport = t.lib.state().unwrap().transport_address();
        c.move_medium(transport, element(&t.lib, from), element(&t.lib, to))
            .unwrap_or_else(|e| panic!("{from} -> {to}: {e}"));
        // A fresh handle reads the file: the move is there.
        let other = t.reopen();
        let dst = content(&other, to);
        assert!(dst.full, "{from} -> {to}");
        assert_eq!(tag(&dst).as_deref(), Some(*moved), "{from} -> {to}");
        assert_eq!(dst.source, Some(*source), "{from} -> {to}: source");
        assert!(
            !content(&other, from).full,
            "{from} -> {to}: source emptied"
        );
        // And the driver on the other handle agrees, source slot included.
        let (_, inv) = changer(&other).inventory(false).unwrap();
        let e = inv.element(element(&other, to).1).unwrap();
        assert_eq!(e.barcode(), Some(*moved));
        assert_eq!(
            e.source.and_then(|a| inv.slot_number(a)).map(|s| s.0),
            Some(*source),
            "{from} -> {to}"
        );
    }
    // The mtx text says it as mtx would; the slot sources live in state lines.
    let text = t.text();
    assert!(text.contains("\nData Transfer Element 0:Empty\n"), "{text}");
    assert!(
        text.contains("      Storage Element 4:Full :VolumeTag=A00001L6                        \n"),
        "{text}"
    );
    assert!(text.contains("      Storage Element 7 IMPORT/EXPORT:Full :VolumeTag=A00003L6                        \n"), "{text}");
    assert!(
        text.contains("      Storage Element 1:Full :VolumeTag=IE0007L6\n"),
        "{text}"
    );
    assert!(text.starts_with("# sim: state slot 1 source=7\n"), "{text}");
}

#[test]
fn a_loaded_drive_is_written_as_mtx_prints_it() {
    let t = TempLibrary::new(LIBRARY);
    let transport = t.lib.state().unwrap().transport_address();
    t.changer()
        .move_medium(transport, element(&t.lib, "s2"), element(&t.lib, "d1"))
        .unwrap();
    let text = t.text();
    assert!(
        text.contains("\nData Transfer Element 1:Full (Storage Element 2 Loaded):VolumeTag = A00002L6                        \n"),
        "{text}"
    );
    assert!(text.contains("\n      Storage Element 2:Empty\n"), "{text}");
}

#[test]
fn refused_moves_come_back_as_typed_errors_and_change_nothing() {
    let t = TempLibrary::new(LIBRARY);
    let before = t.text();
    let mut c = t.changer();
    let transport = t.lib.state().unwrap().transport_address();
    match c.move_medium(transport, element(&t.lib, "s4"), element(&t.lib, "d0")) {
        Err(Error::SourceEmpty { source_address, .. }) => {
            assert_eq!(source_address, ElementAddress(1003))
        }
        other => panic!("{other:?}"),
    }
    match c.move_medium(transport, element(&t.lib, "s1"), element(&t.lib, "s2")) {
        Err(Error::DestinationFull { destination, .. }) => {
            assert_eq!(destination, ElementAddress(1001))
        }
        other => panic!("{other:?}"),
    }
    let bogus = (ElementType::Storage, ElementAddress(9999));
    match c.move_medium(transport, element(&t.lib, "s1"), bogus) {
        Err(Error::Sense { sense, .. }) => {
            assert_eq!((sense.key.code(), sense.asc, sense.ascq), (5, 0x21, 0x01))
        }
        other => panic!("{other:?}"),
    }
    // The transport itself is not a place for a cartridge.
    match c.move_medium(
        transport,
        element(&t.lib, "s1"),
        (ElementType::MediumTransport, transport),
    ) {
        Err(Error::Sense { sense, .. }) => assert_eq!((sense.asc, sense.ascq), (0x21, 0x01)),
        other => panic!("{other:?}"),
    }
    assert_eq!(t.text(), before);
}

#[test]
fn hash_lines_survive_a_move_in_order_above_the_status() {
    let text = format!(
        "# my library, by hand\n# sim: changer serial=XYZ123\n{LIBRARY}# a note at the end\n"
    );
    let t = TempLibrary::new(&text);
    let transport = t.lib.state().unwrap().transport_address();
    t.changer()
        .move_medium(transport, element(&t.lib, "s1"), element(&t.lib, "s4"))
        .unwrap();
    let after = t.text();
    assert!(
        after.starts_with("# my library, by hand\n# sim: changer serial=XYZ123\n# a note at the end\n# sim: state slot 4 source=1\n  Storage Changer /dev/sg1:"),
        "{after}"
    );
    assert_eq!(t.lib.changer_serial().unwrap(), "XYZ123");
}

#[test]
fn outside_change_gives_one_unit_attention_that_the_driver_retries_through() {
    let t = TempLibrary::new(LIBRARY);
    let other = t.reopen();
    // Opening and reading are not changes.
    let mut mine = t.changer();
    mine.inventory(false).unwrap();
    assert!(!mine.observed().unit_attention);
    // Our own move is not an outside change for us…
    let transport = t.lib.state().unwrap().transport_address();
    mine.move_medium(transport, element(&t.lib, "s1"), element(&t.lib, "d0"))
        .unwrap();
    let mut again = t.changer();
    again.inventory(false).unwrap();
    assert!(!again.observed().unit_attention);
    // …but it is one for the other process, once.
    let mut theirs = changer(&other);
    let (_, inv) = theirs.inventory(false).unwrap();
    assert!(theirs.observed().unit_attention);
    let ua = theirs.observed().last_attention.unwrap();
    assert_eq!((ua.key.code(), ua.asc, ua.ascq), (6, 0x28, 0x00));
    assert_eq!(
        inv.drives[0].barcode(),
        Some("A00001L6"),
        "the retry saw the move"
    );
    let mut theirs_again = changer(&other);
    theirs_again.inventory(false).unwrap();
    assert!(!theirs_again.observed().unit_attention);
}

#[test]
fn unit_attention_is_reported_once_on_the_next_changer_command_not_on_inquiry() {
    let t = TempLibrary::new(LIBRARY);
    let other = t.reopen();
    let transport = t.lib.state().unwrap().transport_address();
    t.changer()
        .move_medium(transport, element(&t.lib, "s1"), element(&t.lib, "s4"))
        .unwrap();
    let mut lu = other.changer();
    let (c, _) = raw(&mut lu, &[0x12, 0, 0, 0, 36, 0], 36);
    assert_eq!(
        c.status, 0,
        "INQUIRY is answered with a unit attention pending"
    );
    let (c, _) = raw(&mut lu, &[0, 0, 0, 0, 0, 0], 0);
    assert_eq!(sense_of(&c), (6, 0x28, 0x00));
    let (c, _) = raw(&mut lu, &[0, 0, 0, 0, 0, 0], 0);
    assert_eq!(c.status, 0, "only once");
    // A drive LU that notices a change does not swallow the changer's unit attention.
    t.changer()
        .move_medium(transport, element(&t.lib, "s4"), element(&t.lib, "s1"))
        .unwrap();
    let mut drive = other.drive(0).unwrap();
    let (c, _) = raw(&mut drive, &[0, 0, 0, 0, 0, 0], 0);
    assert_eq!(sense_of(&c), (2, 0x3a, 0x00));
    let (c, _) = raw(&mut lu, &[0, 0, 0, 0, 0, 0], 0);
    assert_eq!(sense_of(&c), (6, 0x28, 0x00));
}

#[test]
fn drive_unload_keeps_the_cartridge_for_the_robot() {
    let t = TempLibrary::new(LIBRARY);
    let transport = t.lib.state().unwrap().transport_address();
    let mut drive = TapeDrive::new(t.lib.drive(0).unwrap());
    assert_eq!(drive.test_unit_ready().unwrap(), Readiness::NoMedium);
    t.changer()
        .move_medium(transport, element(&t.lib, "s1"), element(&t.lib, "d0"))
        .unwrap();
    assert_eq!(drive.test_unit_ready().unwrap(), Readiness::Ready);
    drive.unload().unwrap();
    assert_eq!(drive.test_unit_ready().unwrap(), Readiness::NoMedium);
    assert!(t.text().contains("# sim: state drive 0 unloaded\n"));
    // Another process sees the unloaded drive too.
    let mut elsewhere = TapeDrive::new(t.reopen().drive(0).unwrap());
    assert_eq!(elsewhere.test_unit_ready().unwrap(), Readiness::NoMedium);
    // The element still holds it; LOAD brings it back; the robot can take it either way.
    assert!(content(&t.lib, "d0").full);
    let mut lu = t.lib.drive(0).unwrap();
    let (c, _) = raw(&mut lu, &[0x1b, 0, 0, 0, 1, 0], 0);
    assert_eq!(c.status, 0);
    assert_eq!(drive.test_unit_ready().unwrap(), Readiness::Ready);
    drive.unload().unwrap();
    t.changer()
        .move_medium(transport, element(&t.lib, "d0"), element(&t.lib, "s1"))
        .unwrap();
    assert!(
        !t.text().contains("# sim: state drive"),
        "state of an empty drive is dropped"
    );
    // Unloading an empty drive: no medium, which TapeDrive::unload accepts.
    drive.unload().unwrap();
}

#[test]
fn exchange_medium_swaps_and_checks_its_elements() {
    let t = TempLibrary::new(LIBRARY);
    let mut lu = t.lib.changer();
    // s1 -> s2's place, s2 -> s4 (empty).
    let (c, _) = raw(
        &mut lu,
        &[0xa6, 0, 0, 1, 0x03, 0xe8, 0x03, 0xe9, 0x03, 0xeb, 0, 0],
        0,
    );
    assert_eq!(c.status, 0);
    let state = t.lib.state().unwrap();
    assert_eq!(tag(state.slot(2).unwrap()).as_deref(), Some("A00001L6"));
    assert_eq!(tag(state.slot(4).unwrap()).as_deref(), Some("A00002L6"));
    assert!(!state.slot(1).unwrap().full);
    // A swap: second destination = source.
    let (c, _) = raw(
        &mut lu,
        &[0xa6, 0, 0, 1, 0x03, 0xe9, 0x03, 0xea, 0x03, 0xe9, 0, 0],
        0,
    );
    assert_eq!(c.status, 0);
    let state = t.lib.state().unwrap();
    assert_eq!(tag(state.slot(2).unwrap()).as_deref(), Some("A00003L6"));
    assert_eq!(tag(state.slot(3).unwrap()).as_deref(), Some("A00001L6"));
    let cases: &[(&[u8], SenseTriple)] = &[
        // First destination empty.
        (
            &[0xa6, 0, 0, 1, 0x03, 0xe9, 0x03, 0xec, 0x03, 0xed, 0, 0],
            (5, 0x3b, 0x0e),
        ),
        // Second destination full.
        (
            &[0xa6, 0, 0, 1, 0x03, 0xe9, 0x03, 0xea, 0x03, 0xeb, 0, 0],
            (5, 0x3b, 0x0d),
        ),
        // No such element.
        (
            &[0xa6, 0, 0, 1, 0x03, 0xe9, 0x03, 0xea, 0x09, 0x99, 0, 0],
            (5, 0x21, 0x01),
        ),
    ];
    for (cdb, want) in cases {
        let (c, _) = raw(&mut lu, cdb, 0);
        assert_eq!(sense_of(&c), *want, "{cdb:02x?}");
    }
}
