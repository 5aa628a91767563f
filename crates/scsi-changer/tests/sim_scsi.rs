//! The simulator's answers byte by byte (SPC-4, SMC-3): what a real target would send for the
//! same library, with truncation and residuals as devices report them.

mod sim_common;

use scsi_changer::decode::{decode_element_address_assignment, decode_element_status};
use scsi_changer::transport::Transport;
use sim_common::{SenseTriple, TempLibrary, hex, raw, sense_of, unhex};

const CASE_03: &str = "03-library-2drives-24slots-4ie-loaded";

fn lib03() -> TempLibrary {
    TempLibrary::case(CASE_03)
}

#[test]
fn changer_inquiry_standard_and_vpd_pages() {
    let t = lib03();
    let mut lu = t.lib.changer();
    let (c, d) = raw(&mut lu, &[0x12, 0, 0, 0, 96, 0], 96);
    assert_eq!((c.status, c.resid, d.len()), (0, 96 - 74, 74));
    let mut want = unhex("08 80 06 12 45 00 00 02");
    want.extend_from_slice(b"STK     L700            SIM1");
    want.resize(74, 0);
    assert_eq!(hex(&d), hex(&want));

    // Cut at the allocation length; ADDITIONAL LENGTH still tells the whole.
    let (c, d) = raw(&mut lu, &[0x12, 0, 0, 0, 36, 0], 96);
    assert_eq!((d.len(), c.resid, d[4]), (36, 60, 69));

    let (_, d) = raw(&mut lu, &[0x12, 1, 0x00, 0, 0xff, 0], 255);
    assert_eq!(hex(&d), "080000030080".to_owned() + "83");

    let serial = t.lib.changer_serial().unwrap();
    assert!(serial.starts_with("SIM") && serial.len() == 11, "{serial}");
    assert_eq!(serial, t.reopen().changer_serial().unwrap(), "stable");
    let (_, d) = raw(&mut lu, &[0x12, 1, 0x80, 0, 0xff, 0], 255);
    assert_eq!(&d[..4], &[0x08, 0x80, 0, 11]);
    assert_eq!(&d[4..], serial.as_bytes());

    let (_, d) = raw(&mut lu, &[0x12, 1, 0x83, 0, 0xff, 0], 255);
    let designator = format!("STK     L700            {serial}");
    let mut want = vec![
        0x08,
        0x83,
        0,
        4 + designator.len() as u8,
        0x02,
        0x01,
        0x00,
        designator.len() as u8,
    ];
    want.extend_from_slice(designator.as_bytes());
    assert_eq!(hex(&d), hex(&want));

    for cdb in [[0x12, 1, 0x81, 0, 0xff, 0], [0x12, 0, 0x80, 0, 0xff, 0]] {
        let (c, _) = raw(&mut lu, &cdb, 255);
        assert_eq!(sense_of(&c), (5, 0x24, 0x00), "{cdb:02x?}");
    }
}

#[test]
fn identities_come_from_sim_lines() {
    let text = format!(
        "# sim: changer vendor=HP product=\"MSL G3 Series\" serial=CHG0001\n\
         # sim: drives vendor=HP product=\"Ultrium 6-SCSI\"\n\
         # sim: drive 1 serial=HU12345678XY path=/dev/tape/by-id/scsi-HU12345678XY-nst\n{}",
        sim_common::fixture(CASE_03)
    );
    let t = TempLibrary::new(&text);
    let mut lu = t.lib.changer();
    let (_, d) = raw(&mut lu, &[0x12, 0, 0, 0, 96, 0], 96);
    assert_eq!(&d[8..32], b"HP      MSL G3 Series   ");
    assert_eq!(t.lib.changer_serial().unwrap(), "CHG0001");

    let mut drive = t.lib.drive(1).unwrap();
    let (_, d) = raw(&mut drive, &[0x12, 0, 0, 0, 96, 0], 96);
    assert_eq!(d[0], 0x01, "a tape drive");
    assert_eq!(&d[8..32], b"HP      Ultrium 6-SCSI  ");
    let (_, d) = raw(&mut drive, &[0x12, 1, 0x80, 0, 0xff, 0], 255);
    assert_eq!(&d[4..], b"HU12345678XY");
    let (_, d) = raw(
        &mut t.lib.drive(0).unwrap(),
        &[0x12, 1, 0x80, 0, 0xff, 0],
        255,
    );
    assert_eq!(&d[4..], b"SIMDRV00");

    // Archive devices: bound paths as given; /dev/nst<n> only for drives without bindings.
    let cases: &[(&str, Option<u16>)] = &[
        ("/dev/tape/by-id/scsi-HU12345678XY-nst", Some(1)),
        ("/dev/nst0", Some(0)),
        ("/dev/st0", Some(0)),
        ("/dev/nst1", None),
        ("/dev/nst2", None),
        ("/dev/sg5", None),
    ];
    for (path, want) in cases {
        assert_eq!(t.lib.drive_index_for_path(path.as_ref()), *want, "{path}");
    }
    assert_eq!(
        t.lib.archive_device(1).unwrap().to_str(),
        Some("/dev/tape/by-id/scsi-HU12345678XY-nst")
    );
    assert_eq!(t.lib.archive_device(0).unwrap().to_str(), Some("/dev/nst0"));
    assert!(t.lib.drive(2).is_none());
}

#[test]
fn mode_sense_element_address_assignment_6_and_10_with_and_without_dbd() {
    let t = lib03();
    let mut lu = t.lib.changer();
    let page = "1d12 0001 0001 03e8 0018 0023 0004 01f4 0002 0000";
    let cases: &[(&[u8], String)] = &[
        (&[0x1a, 0x08, 0x1d, 0, 0xff, 0], format!("17000000 {page}")),
        (
            &[0x1a, 0x00, 0x1d, 0, 0xff, 0],
            format!("1f000008 0000000000000000 {page}"),
        ),
        (
            &[0x5a, 0x08, 0x1d, 0, 0, 0, 0, 0, 0xff, 0],
            format!("001a 0000 0000 0000 {page}"),
        ),
        (
            &[0x5a, 0x00, 0x1d, 0, 0, 0, 0, 0, 0xff, 0],
            format!("0022 0000 0000 0008 0000000000000000 {page}"),
        ),
    ];
    for (cdb, want) in cases {
        let (c, d) = raw(&mut lu, cdb, 255);
        assert_eq!(c.status, 0);
        assert_eq!(hex(&d), hex(&unhex(want)), "{cdb:02x?}");
        let decoded = decode_element_address_assignment(&d, cdb[0] == 0x5a).unwrap();
        assert_eq!(decoded.first_storage.0, 1000);
        assert_eq!(decoded.first_import_export.0, 35);
    }
    // All pages: 1Dh, 1Eh, 1Fh in order, and the decoder finds 1Dh among them.
    let (_, d) = raw(&mut lu, &[0x1a, 0x08, 0x3f, 0, 0xff, 0], 255);
    assert_eq!(d[0] as usize + 1, d.len());
    assert_eq!(&d[4..6], &[0x1d, 0x12]);
    assert_eq!(&d[24..28], &[0x1e, 0x02, 0, 0]);
    assert_eq!(&d[28..30], &[0x1f, 0x12]);
    assert_eq!(
        decode_element_address_assignment(&d, false)
            .unwrap()
            .storage,
        24
    );
    // A short allocation cuts the data, not the header's length.
    let (c, d) = raw(&mut lu, &[0x1a, 0x08, 0x1d, 0, 8, 0], 255);
    assert_eq!((d.len(), d[0], c.resid), (8, 23, 247));
    // Unknown page, saved values.
    for cdb in [
        [0x1a, 0x08, 0x20, 0, 0xff, 0],
        [0x1a, 0x08, 0xdd, 0, 0xff, 0],
    ] {
        let (c, _) = raw(&mut lu, &cdb, 255);
        assert_eq!(sense_of(&c).0, 5, "{cdb:02x?}");
    }
}

#[test]
fn read_element_status_drive_page_with_voltag_and_dvcid_is_byte_exact() {
    let t = lib03();
    let mut lu = t.lib.changer();
    let (c, d) = raw(
        &mut lu,
        &[0xb8, 0x14, 0, 0, 0xff, 0xff, 0x01, 0, 0xff, 0xff, 0, 0],
        0xffff,
    );
    assert_eq!(c.status, 0);
    let blanks = "20".repeat(24);
    let tag = |s: &str| format!("{}{blanks}", hex(s.as_bytes()));
    let id = |n: &str| hex(format!("IBM     ULT3580-TD5     SIMDRV{n}  ").as_bytes());
    let want = format!(
        "01f4 0002 00 0000b4 \
         04 80 0056 00 0000ac \
         01f4 09 00 0000 0000 00 81 03e9 {} 00000000 02010022 {} \
         01f5 09 00 0000 0000 00 81 03f8 {} 00000000 02010022 {}",
        tag("000002L8"),
        id("00"),
        tag("000017L8"),
        id("01")
    );
    assert_eq!(hex(&d), hex(&unhex(&want)));
    assert_eq!(c.resid, 0xffff - d.len());
}

#[test]
fn read_element_status_flags_for_storage_and_import_export() {
    let t = lib03();
    let mut lu = t.lib.changer();
    // Storage without VOLTAG: 16-byte descriptors, PVOLTAG clear; full = FULL|ACCESS.
    let (_, d) = raw(
        &mut lu,
        &[0xb8, 0x02, 0x03, 0xe8, 0, 2, 0, 0, 0xff, 0xff, 0, 0],
        0xffff,
    );
    assert_eq!(
        hex(&d),
        hex(&unhex(
            "03e8 0002 00 000028 02 00 0010 00 000020 \
                    03e8 09 00 0000 0000 00 01 0000 00000000 \
                    03e9 00 00 0000 0000 00 00 0000 00000000"
        ))
    );
    // I/E: EXENAB|INENAB always; a cartridge of unknown origin was put there by an operator.
    let (_, d) = raw(
        &mut lu,
        &[0xb8, 0x03, 0, 0, 0, 4, 0, 0, 0xff, 0xff, 0, 0],
        0xffff,
    );
    let flags: Vec<u8> = d[16..].chunks(16).map(|e| e[2]).collect();
    assert_eq!(flags, vec![0x3b, 0x30, 0x3b, 0x30]);
    // The storage slot holding a cleaning cartridge: medium type 2.
    let (_, d) = raw(
        &mut lu,
        &[0xb8, 0x12, 0x03, 0xff, 0, 1, 0, 0, 0xff, 0xff, 0, 0],
        0xffff,
    );
    assert_eq!(&d[16..18], &[0x03, 0xff]);
    assert_eq!(d[16 + 9], 0x02);
    assert_eq!(&d[28..36], b"CLN001CU");
}

#[test]
fn read_element_status_start_count_allocation_and_type_zero() {
    let t = lib03();
    let mut lu = t.lib.changer();
    // STARTING ELEMENT ADDRESS between elements: the first storage element at or after it.
    let (_, d) = raw(
        &mut lu,
        &[0xb8, 0x12, 0x03, 0xed, 0, 2, 0, 0, 0xff, 0xff, 0, 0],
        0xffff,
    );
    let reply = decode_element_status(&d, 0xffff).unwrap();
    let addresses: Vec<u16> = reply.elements.iter().map(|e| e.address.0).collect();
    assert_eq!(addresses, vec![1005, 1006]);
    assert_eq!(
        (
            reply.first_element_address_reported.0,
            reply.number_of_elements_available
        ),
        (1005, 2)
    );
    let (_, d) = raw(
        &mut lu,
        &[0xb8, 0x12, 0, 40, 0, 1, 0, 0, 0xff, 0xff, 0, 0],
        0xffff,
    );
    assert_eq!(&d[16..18], &[0x03, 0xe8]);
    // Past the last element: nothing.
    let (_, d) = raw(
        &mut lu,
        &[0xb8, 0x12, 0xff, 0x00, 0, 5, 0, 0, 0xff, 0xff, 0, 0],
        0xffff,
    );
    assert_eq!(hex(&d), "0000000000000000");

    // Allocation shorter than the reply: data cut, header counts whole.
    let (c, d) = raw(
        &mut lu,
        &[0xb8, 0x12, 0, 0, 0xff, 0xff, 0, 0, 0, 100, 0, 0],
        0xffff,
    );
    assert_eq!((d.len(), c.resid), (100, 0xffff - 100));
    assert_eq!(u32::from_be_bytes([0, d[5], d[6], d[7]]), 8 + 24 * 52);
    // A buffer smaller than the allocation: cut there.
    let (c, d) = raw(
        &mut lu,
        &[0xb8, 0x12, 0, 0, 0xff, 0xff, 0, 0, 0xff, 0xff, 0, 0],
        20,
    );
    assert_eq!((d.len(), c.resid), (20, 0));

    // Type 0: every element in address order, a page per run of one type.
    let (_, d) = raw(
        &mut lu,
        &[0xb8, 0x10, 0, 0, 0xff, 0xff, 0, 0, 0xff, 0xff, 0, 0],
        0xffff,
    );
    let reply = decode_element_status(&d, 0xffff).unwrap();
    assert_eq!(reply.number_of_elements_available, 1 + 4 + 2 + 24);
    let mut types: Vec<u8> = reply
        .elements
        .iter()
        .map(|e| e.element_type.code())
        .collect();
    types.dedup();
    assert_eq!(types, vec![1, 3, 4, 2]);
    let addresses: Vec<u16> = reply.elements.iter().map(|e| e.address.0).collect();
    assert!(addresses.windows(2).all(|w| w[0] < w[1]));
    // Type 5 and up do not exist.
    let (c, _) = raw(
        &mut lu,
        &[0xb8, 0x15, 0, 0, 0xff, 0xff, 0, 0, 0xff, 0xff, 0, 0],
        0xffff,
    );
    assert_eq!(sense_of(&c), (5, 0x24, 0x00));
}

#[test]
fn alternate_tags_set_avoltag_and_travel_with_the_cartridge() {
    let t = TempLibrary::case("07-unusual-spacing-and-tags");
    let mut lu = t.lib.changer();
    let (_, d) = raw(
        &mut lu,
        &[0xb8, 0x12, 0, 0, 0, 2, 0, 0, 0xff, 0xff, 0, 0],
        0xffff,
    );
    assert_eq!(d[9], 0xc0, "PVOLTAG and AVOLTAG");
    assert_eq!(u16::from_be_bytes([d[10], d[11]]), 12 + 36 + 36 + 4);
    let reply = decode_element_status(&d, 0xffff).unwrap();
    let alt = reply.elements[1].alternate_volume_tag.unwrap();
    assert_eq!(alt.mtx_text(), format!("{:<32}", "ALT002"));
    // NOPAD01L6 is NUL-padded in the field: mtx prints it unpadded.
    let tag = reply.elements[0].primary_volume_tag.unwrap();
    assert_eq!(&tag.identification[..10], b"NOPAD01L6\0");
    // Slot 8 -> slot 9 keeps both tags.
    let (c, _) = raw(
        &mut lu,
        &[0xa5, 0, 0, 1, 0x03, 0xef, 0x03, 0xf0, 0, 0, 0, 0],
        0,
    );
    assert_eq!(c.status, 0);
    assert!(
        t.text().contains(
            "      Storage Element 9:Full :VolumeTag=NOPAD08L6:AlternateVolumeTag=ALT08\n"
        )
    );
}

#[test]
fn other_changer_commands() {
    let t = lib03();
    let mut lu = t.lib.changer();
    let good: &[&[u8]] = &[
        &[0x00, 0, 0, 0, 0, 0],
        &[0x07, 0, 0, 0, 0, 0],
        &[0x37, 0x01, 0x03, 0xe8, 0, 0, 0, 10, 0, 0],
        &[0xe7, 0x01, 0x03, 0xe8, 0, 0, 0, 10, 0, 0],
        &[0x1e, 0, 0, 0, 0, 0],
        &[0x1e, 0, 0, 0, 1, 0],
    ];
    for cdb in good {
        let (c, _) = raw(&mut lu, cdb, 0);
        assert_eq!(c.status, 0, "{cdb:02x?}");
    }
    let refused: &[(&[u8], SenseTriple)] = &[
        (&[0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0], (5, 0x20, 0x00)), // REPORT LUNS
        (&[0x2b, 0, 0, 1, 0x03, 0xe8, 0, 0, 0, 0], (5, 0x20, 0x00)),  // POSITION TO ELEMENT
        (&[0x1b, 0, 0, 36, 0, 0], (5, 0x20, 0x00)),                   // OPEN/CLOSE I/E
        (&[0xb8, 0x12, 0, 0], (5, 0x24, 0x00)),                       // CDB too short
        (
            &[0xa5, 0, 0, 7, 0x03, 0xe8, 0x03, 0xe9, 0, 0, 0, 0],
            (5, 0x21, 0x01),
        ), // bad transport
        (
            &[0xa5, 0, 0, 1, 0x03, 0xe8, 0x03, 0xe9, 0, 0, 1, 0],
            (5, 0x24, 0x00),
        ), // INVERT
        (
            &[0xa5, 0, 0, 0, 0x03, 0xe8, 0x0f, 0xff, 0, 0, 0, 0],
            (5, 0x21, 0x01),
        ), // no such dest
    ];
    for (cdb, want) in refused {
        let (c, _) = raw(&mut lu, cdb, 0);
        assert_eq!(sense_of(&c), *want, "{cdb:02x?}");
    }
    // Transport address 0 means the default transport.
    let (c, _) = raw(
        &mut lu,
        &[0xa5, 0, 0, 0, 0x03, 0xe8, 0x03, 0xe9, 0, 0, 0, 0],
        0,
    );
    assert_eq!(c.status, 0);
    // REQUEST SENSE: NO SENSE, fixed format.
    let (c, d) = raw(&mut lu, &[0x03, 0, 0, 0, 18, 0], 252);
    assert_eq!(
        (c.status, hex(&d)),
        (0, "700000000000000a000000000000000000".to_owned() + "00")
    );
}

#[test]
fn drive_lu_answers_tur_inquiry_and_load_unload_only() {
    let t = lib03();
    let mut d0 = t.lib.drive(0).unwrap();
    assert_eq!(d0.name(), format!("sim:{} drive 0", t.path.display()));
    assert_eq!(t.lib.changer().name(), format!("sim:{}", t.path.display()));
    let (c, _) = raw(&mut d0, &[0, 0, 0, 0, 0, 0], 0);
    assert_eq!(c.status, 0, "loaded");
    let (c, _) = raw(&mut d0, &[0x1a, 0x08, 0x3f, 0, 0xff, 0], 255);
    assert_eq!(sense_of(&c), (5, 0x20, 0x00));
    let (_, d) = raw(&mut d0, &[0x12, 1, 0x83, 0, 0xff, 0], 255);
    assert_eq!(&d[4..8], &[0x02, 0x01, 0x00, 34]);
    assert_eq!(&d[8..], b"IBM     ULT3580-TD5     SIMDRV00  ");
    let (c, _) = raw(&mut d0, &[0x1b, 0, 0, 0, 0, 0], 0);
    assert_eq!(c.status, 0);
    let (c, _) = raw(&mut d0, &[0, 0, 0, 0, 0, 0], 0);
    assert_eq!(sense_of(&c), (2, 0x3a, 0x00), "unloaded");
    let (_, d) = raw(&mut d0, &[0x03, 0, 0, 0, 18, 0], 18);
    assert_eq!((d[2], d[12], d[13]), (2, 0x3a, 0x00));
}

#[test]
fn a_file_broken_while_in_use_fails_commands_cleanly() {
    let t = lib03();
    let mut lu = t.lib.changer();
    std::fs::write(&t.path, "garbage\n").unwrap();
    let mut buf = [0u8; 8];
    let err = scsi_changer::transport::Transport::execute(
        &mut lu,
        scsi_changer::transport::Command {
            cdb: &[0, 0, 0, 0, 0, 0],
            data: scsi_changer::transport::DataDirection::FromDevice(&mut buf),
            timeout: std::time::Duration::from_secs(1),
        },
    )
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(err.to_string().contains("line 1"), "{err}");
    std::fs::remove_file(&t.path).unwrap();
    let mut changer = t.changer();
    assert!(matches!(
        changer.inventory(false),
        Err(scsi_changer::Error::Io { .. })
    ));
}
