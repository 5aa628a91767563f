//! Sharing a real simulated library file (contract C3) as a Tape Gateway shares its library
//! (contract C7): tapes moved into I/E slots — by the sim transport's MOVE MEDIUM or by editing
//! the file — leave the library and are archived; retrieved and new tapes arrive in free I/E
//! slots; the other users of the file see the emulator's edits as an operator's change.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{GATEWAY, GIB, aws, control, status, tape_arn, wait_for, wait_for_status};
use scsi_changer::ElementType;
use scsi_changer::changer::Changer;
use scsi_changer::retry::RetryPolicy;
use scsi_changer::sim::{SimLibrary, SimTransport};
use serde_json::json;
use sgw_emulator::{Delays, Emulator, Options, Place, Running};
use tempfile::TempDir;

/// Two drives, six storage slots (one with a cleaning cartridge), three I/E slots with a new
/// tape waiting in the middle one.
const LIBRARY: &str = "\
  Storage Changer /dev/sg9:2 Drives, 9 Slots ( 3 Import/Export )
Data Transfer Element 0:Empty
Data Transfer Element 1:Empty
      Storage Element 1:Full :VolumeTag=AB00001
      Storage Element 2:Full :VolumeTag=AB00002
      Storage Element 3:Full :VolumeTag=AB00003
      Storage Element 4:Full :VolumeTag=CLN001L1
      Storage Element 5:Empty
      Storage Element 6:Empty
      Storage Element 7 IMPORT/EXPORT:Empty
      Storage Element 8 IMPORT/EXPORT:Full :VolumeTag=AB00005
      Storage Element 9 IMPORT/EXPORT:Empty
";

const IE: [u16; 3] = [7, 8, 9];

struct Rig {
    _dir: TempDir,
    path: PathBuf,
    emu: Running,
    /// The backup application's handle on the library.
    changer: Changer<SimTransport>,
}

fn rig(tapes: &[&str], delays: Delays) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aws-library.txt");
    std::fs::write(&path, LIBRARY).unwrap();
    let emu = Emulator::start(Options {
        library: Some(path.clone()),
        seed_from_library: true,
        tapes: tapes.iter().map(|t| t.parse().unwrap()).collect(),
        delays,
        poll: Duration::from_millis(10),
        ..Options::default()
    })
    .unwrap();
    let lib = SimLibrary::open(&path).unwrap();
    let changer = Changer::new(lib.changer()).with_policy(RetryPolicy::immediate());
    Rig {
        _dir: dir,
        path,
        emu,
        changer,
    }
}

/// What slot `n` holds, read by a fresh handle (another process, as the file can tell).
fn slot(path: &Path, n: u16) -> Option<String> {
    let state = SimLibrary::open(path).unwrap().state().unwrap();
    let e = state.slot(n)?;
    e.full
        .then(|| e.primary.map(|t| t.barcode().to_owned()))
        .flatten()
}

fn element(path: &Path, kind: ElementType, n: u16) -> (ElementType, scsi_changer::ElementAddress) {
    let state = SimLibrary::open(path).unwrap().state().unwrap();
    let address = match kind {
        ElementType::DataTransfer => state.drive_address(n),
        _ => state.slot_address(n),
    };
    (kind, address.unwrap())
}

impl Rig {
    /// MOVE MEDIUM through the sim transport, as `changer transfer` or Bareos would.
    fn move_medium(&mut self, from: (ElementType, u16), to: (ElementType, u16)) {
        let transport = SimLibrary::open(&self.path)
            .unwrap()
            .state()
            .unwrap()
            .transport_address();
        let src = element(&self.path, from.0, from.1);
        let dst = element(&self.path, to.0, to.1);
        self.changer
            .move_medium(transport, src, dst)
            .unwrap_or_else(|e| panic!("{from:?} -> {to:?}: {e}"));
    }

    fn addr(&self) -> std::net::SocketAddr {
        self.emu.addr()
    }

    fn place(&self, barcode: &str) -> Option<Place> {
        self.emu
            .tapes()
            .into_iter()
            .find(|t| t.barcode == barcode)
            .and_then(|t| t.place)
    }
}

const SHORT: Delays = Delays {
    creating: Duration::from_millis(20),
    transit: Duration::from_millis(20),
    archiving: Duration::from_millis(20),
    retrieving: Duration::from_millis(20),
};

#[test]
fn seeding_from_the_library_makes_its_barcodes_available_tapes() {
    let r = rig(&[], SHORT);
    let list = aws(r.addr(), "ListTapes", json!({})).ok();
    let barcodes: Vec<&str> = list["TapeInfos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["TapeBarcode"].as_str().unwrap())
        .collect();
    // The cleaning cartridge is not a gateway tape.
    assert_eq!(barcodes, ["AB00001", "AB00002", "AB00003", "AB00005"]);
    assert_eq!(r.place("AB00002"), Some(Place::Slot(2)));
    assert_eq!(r.place("AB00005"), Some(Place::ImportExport(8)));
}

#[test]
fn a_tape_moved_into_an_ie_slot_leaves_the_library_and_is_archived() {
    let mut r = rig(&[], SHORT);
    r.move_medium((ElementType::Storage, 1), (ElementType::ImportExport, 7));
    wait_for_status(r.addr(), "AB00001", "ARCHIVED");
    assert_eq!(slot(&r.path, 7), None, "taken out of the I/E slot");
    assert_eq!(r.place("AB00001"), None);
    // The backup application's next look meets UNIT ATTENTION (the driver retries through it)
    // and finds the tape gone.
    r.changer.test_unit_ready().unwrap();
    assert!(r.changer.take_unit_attention());
    let (_, inventory) = r.changer.inventory(false).unwrap();
    assert!(
        inventory.elements().all(|e| e.barcode() != Some("AB00001")),
        "the archived tape is not in the library"
    );
    // Archived means listed in the VTS, not in the VTL.
    let vtl = aws(
        r.addr(),
        "DescribeTapes",
        json!({"GatewayARN": GATEWAY, "TapeARNs": [tape_arn("AB00001")]}),
    )
    .ok();
    assert!(vtl["Tapes"].as_array().unwrap().is_empty());
}

#[test]
fn a_tape_edited_into_an_ie_slot_is_exported_too() {
    let r = rig(&[], SHORT);
    // A person edits the file (atomically, as an editor that renames would).
    let text = std::fs::read_to_string(&r.path).unwrap();
    let text = text
        .replace(
            "Storage Element 3:Full :VolumeTag=AB00003",
            "Storage Element 3:Empty",
        )
        .replace(
            "Storage Element 9 IMPORT/EXPORT:Empty",
            "Storage Element 9 IMPORT/EXPORT:Full :VolumeTag=AB00003",
        );
    let tmp = r.path.with_extension("edit");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, &r.path).unwrap();
    wait_for_status(r.addr(), "AB00003", "ARCHIVED");
    assert_eq!(slot(&r.path, 9), None);
}

#[test]
fn tapes_waiting_in_ie_slots_are_not_exports_until_imported_and_exported_again() {
    let mut r = rig(&[], SHORT);
    // Another tape's whole archival: the emulator has looked at the file many times since.
    r.move_medium((ElementType::Storage, 2), (ElementType::ImportExport, 9));
    wait_for_status(r.addr(), "AB00002", "ARCHIVED");
    assert_eq!(status(r.addr(), "AB00005").as_deref(), Some("AVAILABLE"));
    assert_eq!(slot(&r.path, 8).as_deref(), Some("AB00005"));
    // Import (the Bacula doc's `transfer 1601 1`), then export.
    r.move_medium((ElementType::ImportExport, 8), (ElementType::Storage, 5));
    wait_for("AB00005 to be seen in slot 5", || {
        r.place("AB00005") == Some(Place::Slot(5))
    });
    assert_eq!(status(r.addr(), "AB00005").as_deref(), Some("AVAILABLE"));
    r.move_medium((ElementType::Storage, 5), (ElementType::ImportExport, 8));
    wait_for_status(r.addr(), "AB00005", "ARCHIVED");
}

#[test]
fn retrieval_puts_the_tape_into_the_lowest_free_ie_slot_read_only() {
    let mut r = rig(&["ZZ00009=ARCHIVED"], SHORT);
    aws(
        r.addr(),
        "RetrieveTapeArchive",
        json!({"GatewayARN": GATEWAY, "TapeARN": tape_arn("ZZ00009")}),
    )
    .ok();
    wait_for_status(r.addr(), "ZZ00009", "RETRIEVED");
    // RETRIEVED and in the library together: the status does not run ahead of the file.
    assert_eq!(slot(&r.path, 7).as_deref(), Some("ZZ00009"));
    let archives = aws(r.addr(), "DescribeTapeArchives", json!({})).ok();
    assert_eq!(archives["TapeArchives"][0]["RetrievedTo"], GATEWAY);
    // Imported, read, exported again: back to ARCHIVED with nothing to upload.
    r.move_medium(
        (ElementType::ImportExport, 7),
        (ElementType::DataTransfer, 1),
    );
    wait_for("ZZ00009 to be seen in drive 1", || {
        r.place("ZZ00009") == Some(Place::Drive(1))
    });
    let vtl = aws(
        r.addr(),
        "DescribeTapes",
        json!({"GatewayARN": GATEWAY, "TapeARNs": [tape_arn("ZZ00009")]}),
    )
    .ok();
    let device = vtl["Tapes"][0]["VTLDevice"].as_str().unwrap();
    assert!(device.ends_with("_TAPEDRIVE_00002"), "{device}");
    r.move_medium(
        (ElementType::DataTransfer, 1),
        (ElementType::ImportExport, 9),
    );
    wait_for_status(r.addr(), "ZZ00009", "ARCHIVED");
    assert_eq!(slot(&r.path, 9), None);
}

#[test]
fn new_tapes_fill_free_ie_slots_and_wait_for_one_when_all_are_full() {
    let mut r = rig(&[], SHORT);
    let created = aws(
        r.addr(),
        "CreateTapes",
        json!({"GatewayARN": GATEWAY, "TapeSizeInBytes": 100 * GIB, "ClientToken": "fill-ie-slots",
               "NumTapesToCreate": 3, "TapeBarcodePrefix": "NEW"}),
    )
    .ok();
    let barcodes: Vec<String> = created["TapeARNs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().rsplit('/').next().unwrap().to_owned())
        .collect();
    // Two free I/E slots (7 and 9): two tapes arrive; the third stays CREATING.
    wait_for("two new tapes in the I/E slots", || {
        slot(&r.path, 7).is_some() && slot(&r.path, 9).is_some()
    });
    let placed: Vec<String> = [7, 9].iter().map(|n| slot(&r.path, *n).unwrap()).collect();
    for b in &placed {
        assert!(barcodes.contains(b), "{b}");
        wait_for_status(r.addr(), b, "AVAILABLE");
    }
    let waiting = barcodes.iter().find(|b| !placed.contains(b)).unwrap();
    assert_eq!(status(r.addr(), waiting).as_deref(), Some("CREATING"));
    // Importing one frees a slot: the third arrives there.
    r.move_medium((ElementType::ImportExport, 7), (ElementType::Storage, 5));
    wait_for_status(r.addr(), waiting, "AVAILABLE");
    assert_eq!(slot(&r.path, 7).as_deref(), Some(waiting.as_str()));
    // None of them was taken for an export.
    for b in &barcodes {
        assert_eq!(status(r.addr(), b).as_deref(), Some("AVAILABLE"), "{b}");
    }
    assert!(IE.iter().all(|n| slot(&r.path, *n).is_some()));
}

#[test]
fn cancel_archival_leaves_the_tape_in_its_ie_slot_and_available() {
    let mut r = rig(
        &[],
        Delays {
            transit: Duration::from_secs(3600),
            ..SHORT
        },
    );
    r.move_medium((ElementType::Storage, 1), (ElementType::ImportExport, 7));
    wait_for_status(r.addr(), "AB00001", "IN TRANSIT TO VTS");
    let g = json!({"GatewayARN": GATEWAY, "TapeARN": tape_arn("AB00001")});
    aws(r.addr(), "CancelArchival", g.clone()).ok();
    // Another export makes the emulator look at the file again.
    r.move_medium((ElementType::Storage, 2), (ElementType::ImportExport, 9));
    wait_for_status(r.addr(), "AB00002", "IN TRANSIT TO VTS");
    assert_eq!(status(r.addr(), "AB00001").as_deref(), Some("AVAILABLE"));
    assert_eq!(slot(&r.path, 7).as_deref(), Some("AB00001"));
    // Only in transit can archival be cancelled.
    let again = aws(r.addr(), "CancelArchival", g);
    assert_eq!(again.error_code(), "InvalidParameters");
}

#[test]
fn a_deleted_tape_leaves_the_library() {
    let r = rig(&[], SHORT);
    aws(
        r.addr(),
        "DeleteTape",
        json!({"GatewayARN": GATEWAY, "TapeARN": tape_arn("AB00003")}),
    )
    .ok();
    wait_for("AB00003 to leave slot 3", || slot(&r.path, 3).is_none());
    // The cleaning cartridge, not a gateway tape, is left alone.
    assert_eq!(slot(&r.path, 4).as_deref(), Some("CLN001L1"));
}

#[test]
fn eject_works_with_a_shared_library_too() {
    let r = rig(&[], SHORT);
    control(r.addr(), "Eject", json!({"TapeBarcode": "AB00002"})).ok();
    wait_for_status(r.addr(), "AB00002", "ARCHIVED");
    assert_eq!(
        slot(&r.path, 2),
        None,
        "an archived tape is not in the library"
    );
}

#[test]
fn a_missing_library_file_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let err = Emulator::start(Options {
        library: Some(dir.path().join("nope.txt")),
        ..Options::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("nope.txt"), "{err}");
}
