//! `SimLibrary::edit`: an operator's change (or the AWS emulator's) goes through the same
//! lock-read-apply-write transaction as a SCSI command.

mod sim_common;

use std::os::unix::fs::MetadataExt as _;

use scsi_changer::sim::SimElement;
use sim_common::{TempLibrary, raw, sense_of};

const LIBRARY: &str = "\
  Storage Changer /dev/sg1:1 Drives, 4 Slots ( 2 Import/Export )
Data Transfer Element 0:Empty
      Storage Element 1:Full :VolumeTag=AB0001
      Storage Element 2:Empty
      Storage Element 3 IMPORT/EXPORT:Empty
      Storage Element 4 IMPORT/EXPORT:Empty
";

const TEST_UNIT_READY: [u8; 6] = [0; 6];

fn inode(t: &TempLibrary) -> u64 {
    std::fs::metadata(&t.path).unwrap().ino()
}

#[test]
fn edit_writes_the_change_and_returns_the_closures_value() {
    let t = TempLibrary::new(LIBRARY);
    let moved = t
        .lib
        .edit(|s| {
            let tape = s.slot(1).cloned().unwrap();
            s.set_slot(1, SimElement::default()).unwrap();
            s.set_slot(3, tape).unwrap();
            s.is_import_export(3)
        })
        .unwrap();
    assert!(moved);
    let text = t.text();
    assert!(text.contains("Storage Element 1:Empty\n"), "{text}");
    assert!(
        text.contains("Storage Element 3 IMPORT/EXPORT:Full :VolumeTag=AB0001\n"),
        "{text}"
    );
}

#[test]
fn other_handles_see_an_edit_as_an_outside_change_and_the_editor_does_not() {
    let t = TempLibrary::new(LIBRARY);
    let other = t.reopen();
    let mut other_changer = other.changer();
    // Bring the other handle's view up to date first.
    let (c, _) = raw(&mut other_changer, &TEST_UNIT_READY, 0);
    assert_eq!(c.status, 0);

    t.lib
        .edit(|s| s.set_slot(4, SimElement::with_tag("AB0002")))
        .unwrap()
        .unwrap();

    let (c, _) = raw(&mut other_changer, &TEST_UNIT_READY, 0);
    assert_eq!(
        sense_of(&c),
        (6, 0x28, 0x00),
        "the other handle: unit attention"
    );
    let (c, _) = raw(&mut t.lib.changer(), &TEST_UNIT_READY, 0);
    assert_eq!(c.status, 0, "the editor's own handle: no unit attention");
}

#[test]
fn edit_works_on_the_file_as_it_is_now() {
    let t = TempLibrary::new(LIBRARY);
    let other = t.reopen();
    other
        .edit(|s| s.set_slot(2, SimElement::with_tag("AB0009")))
        .unwrap()
        .unwrap();
    let seen = t
        .lib
        .edit(|s| {
            s.slot(2)
                .and_then(|e| e.primary)
                .map(|v| v.barcode().to_owned())
        })
        .unwrap();
    assert_eq!(seen.as_deref(), Some("AB0009"));
}

#[test]
fn edit_that_changes_nothing_leaves_the_file_alone() {
    let t = TempLibrary::new(LIBRARY);
    // First a real edit, so the file is in canonical form.
    t.lib
        .edit(|s| s.set_slot(2, SimElement::with_tag("AB0002")))
        .unwrap()
        .unwrap();
    let before = inode(&t);
    t.lib
        .edit(|s| {
            let same = s.slot(2).cloned().unwrap();
            s.set_slot(2, same)
        })
        .unwrap()
        .unwrap();
    t.lib.edit(|_| ()).unwrap();
    assert_eq!(inode(&t), before, "no atomic rename happened");
}

#[test]
fn edit_of_a_vanished_file_is_an_error_naming_it() {
    let t = TempLibrary::new(LIBRARY);
    std::fs::remove_file(&t.path).unwrap();
    let err = t.lib.edit(|_| ()).unwrap_err().to_string();
    assert!(err.contains("library.txt"), "{err}");
}
