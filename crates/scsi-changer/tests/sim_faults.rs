//! Each fault does what docs/simulator.md says, through the real driver, and is persisted in
//! the file as it is consumed.

mod sim_common;

use scsi_changer::address::{ElementAddress, ElementType};
use scsi_changer::drive::{Readiness, TapeDrive};
use scsi_changer::error::Error;
use scsi_changer::sim::{Fault, SimLibrary};
use sim_common::{TempLibrary, changer, raw, sense_of};

const LIBRARY: &str = "\
  Storage Changer /dev/sg1:2 Drives, 6 Slots ( 1 Import/Export )
Data Transfer Element 0:Empty
Data Transfer Element 1:Full (Storage Element 4 Loaded):VolumeTag = B00004L7                        
      Storage Element 1:Full :VolumeTag=B00001L7                        
      Storage Element 2:Full :VolumeTag=B00002L7                        
      Storage Element 3:Empty
      Storage Element 4:Empty
      Storage Element 5:Full :VolumeTag=CLN001L1                        
      Storage Element 6 IMPORT/EXPORT:Empty
";

const T: ElementAddress = ElementAddress(1);
const S1: (ElementType, ElementAddress) = (ElementType::Storage, ElementAddress(1000));
const S3: (ElementType, ElementAddress) = (ElementType::Storage, ElementAddress(1002));
const D0: (ElementType, ElementAddress) = (ElementType::DataTransfer, ElementAddress(500));

fn with_fault(fault: Fault) -> TempLibrary {
    let t = TempLibrary::new(LIBRARY);
    t.lib.inject(fault).unwrap();
    t
}

fn faults(lib: &SimLibrary) -> Vec<Fault> {
    lib.state().unwrap().faults()
}

#[test]
fn inject_persists_the_fault_for_every_process() {
    let t = with_fault(Fault::UnitAttention { count: 2 });
    assert!(
        t.text()
            .starts_with("# sim: fault unit-attention count=2\n"),
        "{}",
        t.text()
    );
    // Another handle consumes one…
    let other = t.reopen();
    let mut lu = other.changer();
    let (c, _) = raw(&mut lu, &[0, 0, 0, 0, 0, 0], 0);
    assert_eq!(sense_of(&c), (6, 0x29, 0x00));
    assert!(
        t.text().starts_with("# sim: fault unit-attention\n"),
        "{}",
        t.text()
    );
    // …and this one the last; then the line is gone.
    let mut mine = t.lib.changer();
    let (c, _) = raw(&mut mine, &[0, 0, 0, 0, 0, 0], 0);
    assert_eq!(
        sense_of(&c),
        (6, 0x28, 0x00),
        "first, the other process's change"
    );
    let (c, _) = raw(&mut mine, &[0, 0, 0, 0, 0, 0], 0);
    assert_eq!(sense_of(&c), (6, 0x29, 0x00));
    let (c, _) = raw(&mut mine, &[0, 0, 0, 0, 0, 0], 0);
    assert_eq!(c.status, 0);
    assert!(faults(&t.lib).is_empty());
    assert!(!t.text().contains("fault"));
}

#[test]
fn faults_written_by_hand_work_like_injected_ones() {
    let t = TempLibrary::new(&format!("# sim: fault source-empty count=2\n{LIBRARY}"));
    let mut c = t.changer();
    for _ in 0..2 {
        assert!(matches!(
            c.move_medium(T, S1, S3),
            Err(Error::SourceEmpty { .. })
        ));
    }
    c.move_medium(T, S1, S3).unwrap();
}

#[test]
fn unit_attention_fault_is_retried_by_the_driver() {
    let t = with_fault(Fault::UnitAttention { count: 3 });
    let mut c = t.changer();
    c.inventory(false).unwrap();
    let ua = c.observed().last_attention.unwrap();
    assert_eq!((ua.key.code(), ua.asc, ua.ascq), (6, 0x29, 0x00));
    assert!(faults(&t.lib).is_empty());
}

#[test]
fn becoming_ready_answers_not_ready_to_the_next_commands() {
    let plain = TempLibrary::new(LIBRARY);
    let mut c = plain.changer();
    c.inventory(false).unwrap();
    let baseline = c.observed().commands;

    let t = with_fault(Fault::BecomingReady { count: 3 });
    let mut lu = t.lib.changer();
    let (c1, _) = raw(&mut lu, &[0, 0, 0, 0, 0, 0], 0);
    assert_eq!(sense_of(&c1), (2, 0x04, 0x01));
    let mut c = t.changer();
    c.inventory(false).unwrap();
    assert_eq!(
        c.observed().commands,
        baseline + 2,
        "two more not-ready answers, polled through"
    );
}

#[test]
fn drive_becoming_ready_counts_down_after_the_next_load() {
    let t = with_fault(Fault::DriveBecomingReady { drive: 0, count: 2 });
    let mut drive = TapeDrive::new(t.lib.drive(0).unwrap());
    // Armed only by a load: the empty drive just has no medium.
    assert_eq!(drive.test_unit_ready().unwrap(), Readiness::NoMedium);
    t.changer().move_medium(T, S1, D0).unwrap();
    assert!(
        t.text().contains("# sim: state drive 0 becoming-ready=2\n"),
        "{}",
        t.text()
    );
    for _ in 0..2 {
        match drive.test_unit_ready().unwrap() {
            Readiness::NotYet(s) => assert_eq!((s.asc, s.ascq), (0x04, 0x01)),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(drive.test_unit_ready().unwrap(), Readiness::Ready);
    assert!(!t.text().contains("# sim: state"));
}

#[test]
fn source_empty_and_destination_full_faults_override_the_state() {
    type IsExpected = fn(&Error) -> bool;
    let cases: &[(Fault, IsExpected)] = &[
        (Fault::SourceEmpty { count: 1 }, |e| {
            matches!(e, Error::SourceEmpty { .. })
        }),
        (Fault::DestinationFull { count: 1 }, |e| {
            matches!(e, Error::DestinationFull { .. })
        }),
    ];
    for (fault, expected) in cases {
        let t = with_fault(*fault);
        let mut c = t.changer();
        let err = c.move_medium(T, S1, S3).unwrap_err();
        assert!(expected(&err), "{fault}: {err}");
        assert!(
            t.lib.state().unwrap().slot(1).unwrap().full,
            "{fault}: nothing moved"
        );
        c.move_medium(T, S1, S3).unwrap();
    }
}

#[test]
fn prevent_removal_holds_the_tape_until_the_drive_is_unloaded() {
    let t = with_fault(Fault::PreventRemoval { drive: 1 });
    let d1 = (ElementType::DataTransfer, ElementAddress(501));
    let home = (ElementType::Storage, ElementAddress(1003));
    let mut c = t.changer();
    // The robot cannot reach it: ACCESS is clear.
    let (_, inv) = c.inventory(false).unwrap();
    assert!(inv.drives[1].full && !inv.drives[1].access);
    for _ in 0..2 {
        match c.move_medium(T, d1, home) {
            Err(Error::Sense { sense, .. }) => {
                assert_eq!((sense.key.code(), sense.asc, sense.ascq), (5, 0x53, 0x02))
            }
            other => panic!("{other:?}"),
        }
    }
    let mut drive = TapeDrive::new(t.lib.drive(1).unwrap());
    drive.unload().unwrap();
    assert!(faults(&t.lib).is_empty());
    c.move_medium(T, d1, home).unwrap();
    assert!(t.lib.state().unwrap().slot(4).unwrap().full);
}

#[test]
fn move_timeout_applies_the_move_and_the_driver_settles_it() {
    let t = with_fault(Fault::MoveTimeout { count: 1 });
    let mut c = t.changer();
    c.move_medium(T, S1, S3).unwrap();
    let state = t.lib.state().unwrap();
    assert!(!state.slot(1).unwrap().full && state.slot(3).unwrap().full);
    assert!(faults(&t.lib).is_empty());
    // The raw answer: host status DID_TIME_OUT, no sense.
    t.lib.inject(Fault::MoveTimeout { count: 1 }).unwrap();
    let mut lu = t.lib.changer();
    let (done, _) = raw(
        &mut lu,
        &[0xa5, 0, 0, 1, 0x03, 0xea, 0x03, 0xe8, 0, 0, 0, 0],
        0,
    );
    assert_eq!(
        (done.status, done.host_status, done.sense.len()),
        (0, 0x03, 0)
    );
    assert!(
        t.lib.state().unwrap().slot(1).unwrap().full,
        "moved back despite the timeout"
    );
}

#[test]
fn move_timeout_before_reports_the_timeout_without_moving() {
    // Once: the elements show nothing moved, so the move is sent once more and succeeds.
    let t = with_fault(Fault::MoveTimeoutBefore { count: 1 });
    t.changer().move_medium(T, S1, S3).unwrap();
    let state = t.lib.state().unwrap();
    assert!(!state.slot(1).unwrap().full && state.slot(3).unwrap().full);
    // Twice: the second timeout is reported, and nothing moved.
    let t = with_fault(Fault::MoveTimeoutBefore { count: 2 });
    match t.changer().move_medium(T, S1, S3) {
        Err(Error::Transport { detail, .. }) => {
            assert!(detail.contains("DID_TIME_OUT"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
    let state = t.lib.state().unwrap();
    assert!(state.slot(1).unwrap().full && !state.slot(3).unwrap().full);
    assert!(faults(&t.lib).is_empty(), "exactly two moves were sent");
}

#[test]
fn move_aborted_after_the_move_is_settled_without_sending_it_again() {
    let t = with_fault(Fault::MoveAborted { count: 1 });
    // The raw answer: TASK ABORTED, no sense, and the cartridge moved.
    let mut lu = t.lib.changer();
    let (c, _) = raw(
        &mut lu,
        &[0xa5, 0, 0, 1, 0x03, 0xe8, 0x03, 0xea, 0, 0, 0, 0],
        0,
    );
    assert_eq!((c.status, c.host_status, c.sense.len()), (0x40, 0, 0));
    let state = t.lib.state().unwrap();
    assert!(!state.slot(1).unwrap().full && state.slot(3).unwrap().full);
    // Through the driver: a blind re-send would find the source empty.
    t.lib.inject(Fault::MoveAborted { count: 1 }).unwrap();
    t.changer().move_medium(T, S3, S1).unwrap();
    let state = t.lib.state().unwrap();
    assert!(state.slot(1).unwrap().full && !state.slot(3).unwrap().full);
    assert!(faults(&t.lib).is_empty());
}

#[test]
fn move_aborted_before_the_move_is_sent_once_more_and_no_more() {
    let t = with_fault(Fault::MoveAbortedBefore { count: 1 });
    t.changer().move_medium(T, S1, D0).unwrap();
    let state = t.lib.state().unwrap();
    assert!(!state.slot(1).unwrap().full && state.drive(0).unwrap().full);

    let t = with_fault(Fault::MoveAbortedBefore { count: 3 });
    match t.changer().move_medium(T, S1, D0) {
        Err(e @ Error::Aborted { .. }) => assert!(e.to_string().contains("TASK ABORTED"), "{e}"),
        other => panic!("{other:?}"),
    }
    let state = t.lib.state().unwrap();
    assert!(state.slot(1).unwrap().full && !state.drive(0).unwrap().full);
    assert_eq!(
        faults(&t.lib),
        vec![Fault::MoveAbortedBefore { count: 1 }],
        "two moves sent, not three"
    );
}

#[test]
fn transport_errors_are_retried_then_reported() {
    let t = with_fault(Fault::TransportError { count: 2 });
    let mut c = t.changer();
    c.inventory(false).unwrap();
    assert!(faults(&t.lib).is_empty());
    let t = with_fault(Fault::TransportError { count: 50 });
    let mut c = t.changer();
    match c.inventory(false) {
        Err(Error::Transport { detail, .. }) => {
            assert!(detail.contains("TRANSPORT_DISRUPTED"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
    // A transport error does not reach the library: a pending unit attention waits.
    let t = TempLibrary::new(LIBRARY);
    t.lib.inject(Fault::TransportError { count: 1 }).unwrap();
    t.lib.inject(Fault::UnitAttention { count: 1 }).unwrap();
    let mut lu = t.lib.changer();
    let (c1, _) = raw(&mut lu, &[0, 0, 0, 0, 0, 0], 0);
    assert_eq!((c1.status, c1.host_status), (0, 0x0e));
    let (c2, _) = raw(&mut lu, &[0, 0, 0, 0, 0, 0], 0);
    assert_eq!(sense_of(&c2), (6, 0x29, 0x00));
}

#[test]
fn short_response_still_decodes_to_the_same_inventory() {
    let plain = TempLibrary::new(LIBRARY);
    let (_, want) = plain.changer().inventory(true).unwrap();
    let t = with_fault(Fault::ShortResponse { count: 4 });
    let mut lu = t.lib.changer();
    // The raw reply: 8 bytes less than the header announces.
    let (c, data) = raw(
        &mut lu,
        &[0xb8, 0x12, 0, 0, 0, 10, 0, 0, 0xff, 0xff, 0, 0],
        0xffff,
    );
    assert_eq!(c.status, 0);
    let announced = u32::from_be_bytes([0, data[5], data[6], data[7]]) as usize + 8;
    assert_eq!(data.len(), announced - 8);
    let (_, got) = t.changer().inventory(true).unwrap();
    assert_eq!(got, want);
}

#[test]
fn truncated_response_is_a_clean_error_not_an_inventory_with_holes() {
    let t = with_fault(Fault::TruncatedResponse { count: 1 });
    let reference = TempLibrary::new(LIBRARY);
    let cdb = [0xb8, 0x12, 0x03, 0xe8, 0, 10, 0, 0, 0xff, 0xff, 0, 0];
    let (_, whole) = raw(&mut reference.lib.changer(), &cdb, 0xffff);
    let (c, cut) = raw(&mut t.lib.changer(), &cdb, 0xffff);
    assert_eq!(c.status, 0);
    assert_eq!(cut[..], whole[..cut.len()], "a prefix of the real reply");
    let descriptor = usize::from(u16::from_be_bytes([whole[10], whole[11]]));
    let missing = whole.len() - cut.len();
    assert!(
        missing > 8 && missing < descriptor,
        "stops inside the last descriptor: {missing} of {descriptor} bytes missing"
    );
    t.lib.inject(Fault::TruncatedResponse { count: 1 }).unwrap();
    match t.changer().inventory(false) {
        Err(e @ Error::Decode { .. }) => {
            assert!(e.to_string().contains("short transfer"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    t.changer().inventory(false).unwrap();
}

#[test]
fn garbled_response_is_a_clean_error_then_the_library_recovers() {
    let t = with_fault(Fault::GarbledResponse { count: 1 });
    let mut lu = t.lib.changer();
    let reference = TempLibrary::new(LIBRARY);
    let mut clean = reference.lib.changer();
    let cdb = [0xb8, 0x12, 0, 0, 0, 10, 0, 0, 0xff, 0xff, 0, 0];
    let (_, good) = raw(&mut clean, &cdb, 0xffff);
    let (_, bad) = raw(&mut lu, &cdb, 0xffff);
    assert_eq!(bad.len(), good.len(), "plausible length");
    assert_ne!(bad, good);
    t.lib.inject(Fault::GarbledResponse { count: 1 }).unwrap();
    let (_, again) = raw(&mut lu, &cdb, 0xffff);
    assert_eq!(again, bad, "deterministic");
    t.lib.inject(Fault::GarbledResponse { count: 1 }).unwrap();
    match t.changer().inventory(false) {
        Err(Error::Decode { .. }) => {}
        other => panic!("{other:?}"),
    }
    t.changer().inventory(false).unwrap();
}

#[test]
fn no_dvcid_makes_drive_identifiers_unsupported() {
    let plain = TempLibrary::new(LIBRARY);
    let mut c = plain.changer();
    let (page, _) = c.inventory(false).unwrap();
    let ids = c.drive_identifiers(&page).unwrap().unwrap();
    let serials: Vec<Option<String>> = ids
        .iter()
        .map(|(_, id)| id.as_ref().and_then(|i| i.serial()))
        .collect();
    assert_eq!(
        serials,
        vec![Some("SIMDRV00".into()), Some("SIMDRV01".into())]
    );

    let t = with_fault(Fault::NoDvcid);
    let mut c = t.changer();
    let (page, _) = c.inventory(false).unwrap();
    assert_eq!(c.drive_identifiers(&page).unwrap(), None);
    assert_eq!(c.drive_identifiers(&page).unwrap(), None, "sticky");
}

#[test]
fn no_voltag_makes_the_driver_read_without_barcodes() {
    let t = with_fault(Fault::NoVoltag);
    let mut c = changer(&t.lib);
    let (_, inv) = c.inventory(false).unwrap();
    assert!(inv.elements().all(|e| e.primary_volume_tag.is_none()));
    assert_eq!(inv.storage.iter().filter(|e| e.full).count(), 3);
    assert_eq!(faults(&t.lib), vec![Fault::NoVoltag], "sticky");
}

#[test]
fn drive_faults_must_name_an_existing_drive() {
    let t = TempLibrary::new(LIBRARY);
    match t.lib.inject(Fault::PreventRemoval { drive: 7 }) {
        Err(Error::Sim(m)) => assert!(m.contains("no drive 7"), "{m}"),
        other => panic!("{other:?}"),
    }
}
