//! Golden tests: responses of a well-behaved library and of the vendors whose quirks the driver
//! handles (docs/hardware-quirks.md), built field by field in tests/fixtures/library.rs, decoded
//! to exact values.

#[path = "fixtures/library.rs"]
mod library;

use std::io;

use library::*;
use scsi_changer::address::{ElementAddress, ElementType};
use scsi_changer::changer::{Changer, ReadOptions};
use scsi_changer::decode::{
    ElementStatusReply, decode_element_address_assignment, decode_element_status, decode_inquiry,
    decode_unit_serial_number,
};
use scsi_changer::element::{DeviceIdentifier, ElementStatus};
use scsi_changer::error::{DecodeError, Error};
use scsi_changer::inventory::Inventory;
use scsi_changer::quirks::Quirks;
use scsi_changer::retry::RetryPolicy;
use scsi_changer::sense::{FieldPointer, Sense, SenseKey};
use scsi_changer::transport::{Command, Completion, DataDirection, Transport};

fn decode(bytes: &[u8]) -> ElementStatusReply {
    decode_element_status(bytes, FULL_ALLOCATION).unwrap()
}

fn addresses(elements: &[ElementStatus]) -> Vec<u16> {
    elements.iter().map(|e| e.address.0).collect()
}

/// FULL, IMPEXP, EXCEPT, ACCESS, EXENAB, INENAB of one element.
fn status_bits(e: &ElementStatus) -> [bool; 6] {
    [e.full, e.impexp, e.except, e.access, e.exenab, e.inenab]
}

#[test]
fn ie_status_bits_decode_each_on_its_own() {
    let reply = decode(&ie_status_bits());
    let expected: [[bool; 6]; 8] = [
        [false; 6],                                // 00h
        [true, false, false, false, false, false], // 01h FULL
        [false, true, false, false, false, false], // 02h IMPEXP
        [false, false, true, false, false, false], // 04h EXCEPT
        [false, false, false, true, false, false], // 08h ACCESS
        [false, false, false, false, true, false], // 10h EXENAB
        [false, false, false, false, false, true], // 20h INENAB
        [true; 6],                                 // 3Fh
    ];
    assert_eq!(reply.elements.len(), IE_STATUS_BITS.len());
    for ((e, flags), want) in reply.elements.iter().zip(IE_STATUS_BITS).zip(expected) {
        assert_eq!(status_bits(e), want, "status byte {flags:02X}h");
        assert_eq!(e.element_type, ElementType::ImportExport);
        // The tag is there whether the slot is full or not; the barcode only when full.
        assert_eq!(e.primary_volume_tag.unwrap().barcode(), "MAIL01L6");
        assert_eq!(e.barcode(), e.full.then_some("MAIL01L6"));
    }
}

#[test]
fn ie_only_status_bits_are_ignored_on_other_types_and_access_on_transport() {
    // (type, FULL, IMPEXP, EXCEPT, ACCESS, EXENAB, INENAB) for status byte 3Fh.
    let cases = [
        (MT, [true, false, true, false, false, false]),
        (ST, [true, false, true, true, false, false]),
        (DT, [true, false, true, true, false, false]),
    ];
    for (type_code, want) in cases {
        let reply = decode(&all_bits_on(type_code));
        assert_eq!(status_bits(&reply.elements[0]), want, "type {type_code}");
    }
}

#[test]
fn medium_byte_gives_svalid_source_invert_disabled_and_medium_type() {
    // (SVALID source, INVERT, ED, MEDIUM TYPE) for each byte of MEDIUM_BYTES.
    let expected = [
        (None, false, false, 0),         // 00h
        (Some(0x0203), false, false, 1), // 81h SVALID, data
        (Some(0x0203), true, false, 1),  // C1h SVALID, INVERT, data
        (None, false, true, 0),          // 08h ED
        (None, false, false, 2),         // 02h cleaning
        (Some(0x0203), false, false, 4), // 84h SVALID, WORM
    ];
    let reply = decode(&medium_bytes());
    assert_eq!(
        addresses(&reply.elements),
        [1000, 1001, 1002, 1003, 1004, 1005]
    );
    for ((e, byte), want) in reply.elements.iter().zip(MEDIUM_BYTES).zip(expected) {
        let got = (e.source.map(|s| s.0), e.invert, e.disabled, e.medium_type);
        assert_eq!(got, want, "medium byte {byte:02X}h");
        assert!(e.full && e.access, "status 09h");
    }
}

#[test]
fn dt_scsi_bus_address_needs_id_valid_and_lun_needs_lu_valid() {
    let expected = [
        None,               // 00h: nothing valid
        Some((5, None)),    // 20h: ID VALID, id 5
        Some((6, Some(3))), // 33h: ID VALID, LU VALID, LUN 3
        None,               // 13h: LU VALID without ID VALID
    ];
    let reply = decode(&bus_bytes(DT));
    let got: Vec<_> = reply.elements.iter().map(|e| e.scsi_bus_address).collect();
    assert_eq!(got, expected);
    // The same bytes are reserved on a storage page.
    let reply = decode(&bus_bytes(ST));
    assert!(reply.elements.iter().all(|e| e.scsi_bus_address.is_none()));
}

#[test]
fn fixed_sense_05_21_01_is_invalid_element_address() {
    let s = Sense::parse(&sense_invalid_element_address()).unwrap();
    assert_eq!(
        (s.response_code, s.key, s.asc, s.ascq),
        (0x70, SenseKey::IllegalRequest, 0x21, 0x01)
    );
    assert!(!s.is_deferred());
    assert_eq!(s.field_pointer, None);
    assert_eq!(
        s.to_string(),
        "ILLEGAL REQUEST: Invalid element address (21h/01h)"
    );
}

#[test]
fn fixed_sense_field_pointer_names_cdb_byte_1_bit_4_voltag() {
    let s = Sense::parse(&sense_voltag_field_pointer()).unwrap();
    assert_eq!(
        (s.key, s.asc, s.ascq),
        (SenseKey::IllegalRequest, 0x24, 0x00)
    );
    assert_eq!(
        s.field_pointer,
        Some(FieldPointer {
            in_cdb: true,
            byte: 1,
            bit: Some(4)
        })
    );
}

#[test]
fn descriptor_sense_72h_walks_past_information_to_the_field_pointer() {
    let s = Sense::parse(&descriptor_sense_with_field_pointer()).unwrap();
    assert_eq!(
        (s.response_code, s.key, s.asc, s.ascq),
        (0x72, SenseKey::IllegalRequest, 0x24, 0x00)
    );
    assert!(!s.is_deferred());
    assert_eq!(
        s.field_pointer,
        Some(FieldPointer {
            in_cdb: true,
            byte: 6,
            bit: Some(0)
        })
    );
}

#[test]
fn deferred_sense_71h_and_73h_are_flagged() {
    let cases = [
        (deferred_fixed_sense(), 0x71, (0x44, 0x00)),
        (deferred_descriptor_sense(), 0x73, (0x53, 0x00)),
    ];
    for (bytes, code, (asc, ascq)) in cases {
        let s = Sense::parse(&bytes).unwrap();
        assert_eq!(
            (s.response_code, s.key, s.asc, s.ascq),
            (code, SenseKey::HardwareError, asc, ascq)
        );
        assert!(s.is_deferred(), "{code:02X}h");
        assert!(
            s.to_string()
                .ends_with("[deferred error of an earlier command]")
        );
    }
}

/// Page 1Dh of [`page_1d`]: storage 0x1000+40, I/E 0x10+4, drives 0x100+4, `transports` at 0.
fn expected_page(transports: u16) -> scsi_changer::decode::ElementAddressAssignment {
    scsi_changer::decode::ElementAddressAssignment {
        first_medium_transport: ElementAddress(0),
        medium_transports: transports,
        first_storage: ElementAddress(0x1000),
        storage: 40,
        first_import_export: ElementAddress(0x10),
        import_export: 4,
        first_data_transfer: ElementAddress(0x100),
        data_transfer: 4,
    }
}

#[test]
fn mode_sense_skips_block_descriptors_by_their_length() {
    // The block descriptors start with 1Dh 12h: reading them as a page gives other numbers.
    assert_eq!(
        decode_element_address_assignment(&mode6_with_block_descriptor(), false),
        Ok(expected_page(1))
    );
    assert_eq!(
        decode_element_address_assignment(&mode10_with_block_descriptor(), true),
        Ok(expected_page(1))
    );
}

#[test]
fn mode_data_length_shorter_than_the_buffer_ends_the_reply_hh7() {
    // The whole 255-byte allocation arrived; MODE DATA LENGTH says 23.
    assert_eq!(
        decode_element_address_assignment(&mode6_hh7_padded(), false),
        Ok(expected_page(1))
    );
    // What lies past MODE DATA LENGTH is not read, even when it looks like page 1Dh.
    let stale = decode_element_address_assignment(&mode6_stale_page_after_length(), false);
    assert!(
        matches!(
            stale,
            Err(DecodeError::Truncated {
                what: "page code",
                ..
            })
        ),
        "{stale:?}"
    );
}

#[test]
fn hp_msl_avoltag_without_tag_keeps_the_unsolicited_serial_only_identifier() {
    for voltag in [true, false] {
        let reply = decode(&hp_msl_drives(voltag));
        assert_eq!(addresses(&reply.elements), [480, 481], "voltag {voltag}");
        let serials: Vec<Option<String>> = reply
            .elements
            .iter()
            .map(|e| e.identifier.as_ref().and_then(DeviceIdentifier::serial))
            .collect();
        assert_eq!(
            serials,
            [Some("HU1234ABCD".into()), Some("HU1234ABCE".into())],
            "voltag {voltag}"
        );
        for e in &reply.elements {
            let id = e.identifier.as_ref().unwrap();
            assert_eq!(
                (id.code_set, id.identifier_type, id.identifier.len()),
                (2, 0, 20)
            );
            assert!(!id.truncated);
            assert_eq!(e.alternate_volume_tag, None, "AVOLTAG set, no tag sent");
        }
        let first = &reply.elements[0];
        assert_eq!(first.barcode(), voltag.then_some("HPM001L4"));
        assert_eq!(first.source, Some(ElementAddress(32)));
    }
}

#[test]
fn quantum_dxi_90_byte_descriptors_are_strided_by_descriptor_length() {
    let reply = decode(&quantum_dxi_drives());
    assert_eq!(reply.descriptor_length, Some(90));
    // A stride computed from the flags (88) would read the vendor bytes ABCDh as an address.
    assert_eq!(addresses(&reply.elements), [0x100, 0x101, 0x102]);
    let barcodes: Vec<Option<&str>> = reply.elements.iter().map(|e| e.barcode()).collect();
    assert_eq!(barcodes, [Some("Q00001L5"), None, Some("Q00003L5")]);
    // The alternate tag carries the drive serial after four NULs; mtx's text stops at the NUL.
    for (e, serial) in reply.elements.iter().zip(["QDX0001", "QDX0002", "QDX0003"]) {
        let alt = e.alternate_volume_tag.unwrap();
        assert_eq!(&alt.identification[..4], &[0, 0, 0, 0]);
        assert_eq!(alt.identification[4..].trim_ascii_end(), serial.as_bytes());
        assert_eq!(alt.mtx_text(), "");
        assert_eq!(e.identifier, None, "identifier length 0");
    }
}

#[test]
fn descriptor_length_0_is_an_error_not_a_loop() {
    let result = decode_element_status(&descriptor_length_zero(), FULL_ALLOCATION);
    assert!(
        matches!(
            result,
            Err(DecodeError::Invalid {
                what: "element descriptor length",
                ..
            })
        ),
        "{result:?}"
    );
}

#[test]
fn bytes_beyond_byte_count_of_report_available_are_ignored() {
    let bytes = over_long_reply();
    let reply = decode(&bytes);
    assert_eq!(reply.byte_count_of_report_available, 8 + 2 * 52);
    assert!(
        bytes.len() > 8 + 8 + 2 * 52 + 52,
        "a whole third descriptor follows"
    );
    assert_eq!(addresses(&reply.elements), [4096, 4097]);
    assert_eq!(reply.elements[0].barcode(), Some("OVR001L7"));
    assert_eq!(reply.cut_at, None);
}

#[test]
fn atl_83_02_slot_and_83_04_drive_are_not_installed_and_not_numbered() {
    let slots = decode(&atl_not_installed_slot()).elements;
    let drives = decode(&atl_not_installed_drive()).elements;
    let not_installed: Vec<bool> = slots
        .iter()
        .chain(&drives)
        .map(|e| e.not_installed())
        .collect();
    assert_eq!(not_installed, [false, true, false, false, true]);
    assert_eq!(
        (slots[1].asc, slots[1].ascq, slots[1].except),
        (0x83, 0x02, true)
    );

    let inv = Inventory::from_elements(slots.into_iter().chain(drives));
    assert_eq!(addresses(&inv.storage), [32, 34]);
    assert_eq!(addresses(&inv.drives), [82]);
    assert_eq!(inv.slot_count(), 2);
    let slot2 = inv.slot(scsi_changer::SlotNumber(2)).unwrap();
    assert_eq!((slot2.address.0, slot2.barcode()), (34, Some("A00003")));
}

#[test]
fn reply_cut_by_allocation_reports_the_first_descriptor_that_did_not_arrive_whole() {
    let bytes = five_slots_with_gaps();
    // (allocation length = bytes transferred, addresses decoded, cut_at)
    let cases: [(usize, &[u16], Option<u16>); 7] = [
        (bytes.len(), &[2000, 2002, 2004, 2006, 2008], None),
        (8 + 8 + 52 * 2 + 20, &[2000, 2002], Some(2004)), // mid-descriptor
        (8 + 8 + 52 * 2 + 1, &[2000, 2002], Some(2003)),  // 1 byte of 2004: after the last
        (8 + 8 + 52 * 2, &[2000, 2002], Some(2003)),      // on a boundary: after the last
        (8 + 8 + 30, &[], Some(2000)),                    // inside the first descriptor
        (8 + 8, &[], None),                               // page header only
        (8 + 5, &[], None),                               // page header cut
    ];
    for (allocation, want, cut_at) in cases {
        let reply = decode_element_status(&bytes[..allocation], allocation).unwrap();
        assert_eq!(addresses(&reply.elements), want, "allocation {allocation}");
        assert_eq!(reply.cut_at.map(|a| a.0), cut_at, "allocation {allocation}");
        // Whatever arrived whole is exact.
        for e in &reply.elements {
            assert!(e.full && e.barcode().is_some(), "{e:?}");
        }
    }
}

#[test]
fn reply_shorter_than_announced_but_not_by_allocation_keeps_the_short_descriptor() {
    // The device sent less than it announced while the allocation had room (tgt's bug 2
    // generalised): the partial descriptor is kept, nothing is "cut".
    let bytes = five_slots_with_gaps();
    let sent = &bytes[..8 + 8 + 52 * 4 + 44];
    let reply = decode_element_status(sent, FULL_ALLOCATION).unwrap();
    assert_eq!(addresses(&reply.elements), [2000, 2002, 2004, 2006, 2008]);
    assert_eq!(reply.elements[4].barcode(), Some("GAP004L8"));
    assert_eq!(reply.cut_at, None);
}

#[test]
fn adic_short_descriptors_and_empty_pages_are_read_without_error() {
    let reply = decode(&adic_short_descriptors());
    assert_eq!(reply.descriptor_length, Some(4));
    let got: Vec<(u16, bool, bool)> = reply
        .elements
        .iter()
        .map(|e| (e.address.0, e.full, e.except))
        .collect();
    assert_eq!(got, [(1, true, false), (2, false, false), (3, true, true)]);
    assert!(
        reply
            .elements
            .iter()
            .all(|e| e.primary_volume_tag.is_none())
    );

    let reply = decode(&adic_empty_page());
    assert!(reply.elements.is_empty());
    assert_eq!(reply.descriptor_length, Some(16));
}

#[test]
fn device_identifier_serial_by_code_set_and_type() {
    // T10 vendor ID based: serial after vendor (8) + product (16).
    let t10 = decode(&t10_identifier_drive())
        .elements
        .remove(0)
        .identifier
        .unwrap();
    assert_eq!((t10.code_set, t10.identifier_type), (2, 1));
    assert_eq!(t10.serial().as_deref(), Some("1013000345"));
    // NAA, binary: no text serial.
    let naa = decode(&naa_identifier_drive())
        .elements
        .remove(0)
        .identifier
        .unwrap();
    assert_eq!(
        (naa.code_set, naa.identifier_type, naa.identifier.len()),
        (1, 3, 8)
    );
    assert_eq!(naa.serial(), None);
    // A T10 identifier too short to reach the serial has none.
    let short = DeviceIdentifier {
        identifier: t10.identifier[..24].to_vec(),
        ..t10.clone()
    };
    assert_eq!(short.serial(), None);
}

#[test]
fn volume_tag_mtx_text_stops_at_nul_and_keeps_blanks() {
    let reply = decode(&tag_paddings());
    let texts: Vec<(&str, &str, bool)> = reply
        .elements
        .iter()
        .map(|e| {
            let t = e.primary_volume_tag.as_ref().unwrap();
            (t.mtx_text(), t.barcode(), t.is_blank())
        })
        .collect();
    let blanks = " ".repeat(32);
    let blk = format!("BLK002L6{}", " ".repeat(24));
    assert_eq!(
        texts,
        [
            ("NUL001L6", "NUL001L6", false),
            (blk.as_str(), "BLK002L6", false),
            (blanks.as_str(), "", true),
            ("", "", true),
        ]
    );
    assert_eq!(reply.elements[2].barcode(), None, "blank tag is no barcode");
}

#[test]
fn inquiry_fields_of_scsi2_changer_and_drive_with_mchngr() {
    let hp = decode_inquiry(&inquiry_hp_msl()).unwrap();
    assert_eq!(
        (hp.peripheral_device_type, hp.version, hp.mchngr),
        (8, 2, false)
    );
    assert_eq!(
        (
            hp.vendor.as_str(),
            hp.product.as_str(),
            hp.revision.as_str()
        ),
        ("HP", "MSL G3 Series", "E.00")
    );
    let drive = decode_inquiry(&inquiry_drive_with_mchngr()).unwrap();
    assert_eq!(
        (drive.peripheral_device_type, drive.version, drive.mchngr),
        (1, 6, true)
    );
    assert_eq!(drive.product, "ULTRIUM-HH7");
    // Cut after the version byte: identity fields are empty, not an error.
    let short = decode_inquiry(&inquiry_hp_msl()[..5]).unwrap();
    assert_eq!((short.vendor.as_str(), short.product.as_str()), ("", ""));
    assert!(decode_inquiry(&inquiry_hp_msl()[..2]).is_err());
}

#[test]
fn vpd_80_serial_trims_nul_padding_and_blank_serial_is_none() {
    assert_eq!(
        decode_unit_serial_number(&vpd80_nul_padded())
            .unwrap()
            .as_deref(),
        Some("MXA12345")
    );
    assert_eq!(decode_unit_serial_number(&vpd80_blank()).unwrap(), None);
}

#[test]
fn every_library_fixture_has_a_unique_name_and_bytes() {
    let all = all();
    for (i, f) in all.iter().enumerate() {
        assert!(!f.bytes.is_empty(), "{}", f.name);
        assert!(
            all[..i]
                .iter()
                .all(|g| g.name != f.name && g.bytes != f.bytes),
            "{} duplicated",
            f.name
        );
    }
}

#[test]
fn every_library_fixture_decodes_with_its_own_decoder_unless_it_is_a_bad_reply() {
    let bad = ["descriptor_length_zero", "mode6_stale_page_after_length"];
    for f in all() {
        let decoded = match f.kind {
            Kind::ElementStatus { allocation } => {
                decode_element_status(&f.bytes, allocation).is_ok()
            }
            Kind::ModeSense6 => decode_element_address_assignment(&f.bytes, false).is_ok(),
            Kind::ModeSense10 => decode_element_address_assignment(&f.bytes, true).is_ok(),
            Kind::Inquiry => decode_inquiry(&f.bytes).is_ok(),
            Kind::Vpd => decode_unit_serial_number(&f.bytes).is_ok(),
            Kind::Sense => Sense::parse(&f.bytes).is_some(),
        };
        assert_eq!(decoded, !bad.contains(&f.name), "{}", f.name);
    }
}

/// What a scripted device answers to one CDB.
enum Answer {
    Data(Vec<u8>),
    Sense(Vec<u8>),
}

/// A device answering from a function of the CDB, recording every CDB.
struct Scripted<F> {
    answer: F,
    sent: Vec<Vec<u8>>,
}

impl<F: FnMut(&[u8]) -> Answer> Transport for Scripted<F> {
    fn execute(&mut self, cmd: Command<'_>) -> io::Result<Completion> {
        self.sent.push(cmd.cdb.to_vec());
        match ((self.answer)(cmd.cdb), cmd.data) {
            (Answer::Sense(sense), _) => Ok(Completion::check_condition(sense)),
            (Answer::Data(data), DataDirection::FromDevice(buf)) => {
                let n = data.len().min(buf.len());
                buf[..n].copy_from_slice(&data[..n]);
                Ok(Completion {
                    resid: buf.len() - n,
                    ..Completion::good()
                })
            }
            (Answer::Data(_), _) => Ok(Completion::good()),
        }
    }

    fn name(&self) -> &str {
        "scripted"
    }
}

fn scripted<F: FnMut(&[u8]) -> Answer>(answer: F) -> Changer<Scripted<F>> {
    Changer::new(Scripted {
        answer,
        sent: Vec::new(),
    })
    .with_policy(RetryPolicy::immediate())
}

fn illegal_request(asc: u8, ascq: u8) -> Answer {
    Answer::Sense(fixed_sense(0x70, 0x05, asc, ascq, None))
}

#[test]
fn mode_sense_6_is_asked_first_and_falls_back_to_10_when_rejected() {
    // A device without MODE SENSE(6).
    let mut changer = scripted(|cdb| match cdb[0] {
        0x1a => illegal_request(0x20, 0x00),
        0x5a => Answer::Data(mode10_with_block_descriptor()),
        _ => panic!("{cdb:02x?}"),
    });
    assert_eq!(
        changer.element_address_assignment().unwrap(),
        expected_page(1)
    );
    let opcodes: Vec<u8> = changer.transport_mut().sent.iter().map(|c| c[0]).collect();
    assert_eq!(opcodes, [0x1a, 0x5a]);

    // A device without MODE SENSE(10) (StarWind): (6) is asked first and suffices.
    let mut changer = scripted(|cdb| match cdb[0] {
        0x1a => Answer::Data(mode6_hh7_padded()),
        _ => illegal_request(0x20, 0x00),
    });
    assert_eq!(
        changer.element_address_assignment().unwrap(),
        expected_page(1)
    );
    assert_eq!(changer.transport_mut().sent.len(), 1);
}

#[test]
fn dvcid_rejected_means_no_identifiers_not_an_error_qualstar() {
    let mut changer = scripted(|cdb| match (cdb[0], cdb[6] & 1) {
        (0xb8, 1) => Answer::Sense(sense_voltag_field_pointer()),
        _ => panic!("{cdb:02x?}"),
    });
    let page = expected_page(0);
    assert!(changer.drive_identifiers(&page).unwrap().is_none());
    let sent = &changer.transport_mut().sent;
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0][1], sent[0][6]),
        (0x04, 0x01),
        "DT, DVCID, no VOLTAG"
    );
}

#[test]
fn voltag_rejected_is_read_again_without_voltag() {
    // A library without a barcode reader: VOLTAG gives 05h/24h/00h.
    let mut changer = scripted(|cdb| {
        if cdb[1] & 0x10 != 0 {
            Answer::Sense(sense_voltag_field_pointer())
        } else {
            Answer::Data(medium_bytes())
        }
    });
    let page = scsi_changer::decode::ElementAddressAssignment {
        first_storage: ElementAddress(1000),
        storage: 6,
        ..expected_page(0)
    };
    let slots = changer
        .read_type(
            &page,
            ElementType::Storage,
            ReadOptions {
                voltag: true,
                dvcid: false,
            },
        )
        .unwrap();
    assert_eq!(addresses(&slots), [1000, 1001, 1002, 1003, 1004, 1005]);
    let voltag: Vec<bool> = changer
        .transport_mut()
        .sent
        .iter()
        .map(|c| c[1] & 0x10 != 0)
        .collect();
    assert_eq!(voltag, [true, false]);
}

#[test]
fn read_element_status_allocation_never_exceeds_16_bits() {
    // 3000 slots with volume tags need more than 64 KiB: several requests, each ≤ FFFFh,
    // each continuing after the last address received.
    let mut changer = scripted(|cdb| {
        assert_eq!(cdb[0], 0xb8);
        let start = u16::from_be_bytes([cdb[2], cdb[3]]);
        let count = u16::from_be_bytes([cdb[4], cdb[5]]);
        let allocation = u32::from_be_bytes([0, cdb[7], cdb[8], cdb[9]]) as usize;
        let slots: Vec<Descriptor> = (start..start + count)
            .take_while(|&a| a < 4000)
            .map(|a| Descriptor::at(a, 1).tag(&format!("L{a:05}")))
            .collect();
        let mut reply = element_status(ST, PVOLTAG, 52, &slots);
        reply.truncate(allocation);
        Answer::Data(reply)
    });
    let slots = changer
        .read_elements(
            ElementType::Storage,
            ElementAddress(1000),
            3000,
            ReadOptions {
                voltag: true,
                dvcid: false,
            },
        )
        .unwrap();
    assert_eq!(slots.len(), 3000);
    assert_eq!(slots[2999].barcode(), Some("L03999"));
    let sent = &changer.transport_mut().sent;
    assert!(sent.len() >= 3, "{} requests", sent.len());
    for c in sent {
        assert_eq!(c[7], 0, "allocation above FFFFh: {c:02x?}");
    }
}

#[test]
fn changer_errors_carry_decode_errors_of_bad_replies() {
    let mut changer = scripted(|_| Answer::Data(descriptor_length_zero()));
    let result = changer.read_element_status_once(
        ElementType::Storage,
        ElementAddress(1),
        2,
        ReadOptions {
            voltag: false,
            dvcid: false,
        },
        FULL_ALLOCATION,
    );
    assert!(matches!(result, Err(Error::Decode { .. })), "{result:?}");
}

/// A device holding the library of `page`: every slot full with barcode `T0xxxx`, drives,
/// mail slots and transports empty; READ ELEMENT STATUS answers what was asked for, cut at the
/// allocation length.
fn library_device(page: Vec<u8>) -> impl FnMut(&[u8]) -> Answer {
    move |cdb| match cdb[0] {
        0x1a => Answer::Data(page.clone()),
        0xb8 => {
            let type_code = cdb[1] & 0x0f;
            let voltag = cdb[1] & 0x10 != 0;
            let start = u16::from_be_bytes([cdb[2], cdb[3]]);
            let count = u16::from_be_bytes([cdb[4], cdb[5]]);
            let allocation = u32::from_be_bytes([0, cdb[7], cdb[8], cdb[9]]) as usize;
            let full = u8::from(type_code == ST);
            let elements: Vec<Descriptor> = (start..start.saturating_add(count))
                .map(|a| {
                    let d = Descriptor::at(a, full);
                    if voltag {
                        d.tag(&format!("T{a:05}"))
                    } else {
                        d
                    }
                })
                .collect();
            let (flags, length) = if voltag { (PVOLTAG, 52) } else { (0, 16) };
            let mut reply = element_status(type_code, flags, length, &elements);
            reply.truncate(allocation);
            Answer::Data(reply)
        }
        _ => panic!("{cdb:02x?}"),
    }
}

#[test]
fn loader_without_transport_element_moves_with_transport_address_0() {
    let page = decode_element_address_assignment(&mode6_no_transport(), false).unwrap();
    assert_eq!(page, expected_page(0));
    assert!(page.ranges_are_disjoint());
    for with_transport in [false, true] {
        let mut changer = scripted(library_device(mode6_no_transport()));
        let (_, inv) = changer.inventory(with_transport).unwrap();
        assert!(inv.transports.is_empty());
        assert_eq!(inv.transport_address(), ElementAddress(0));
        assert_eq!(
            (inv.storage.len(), inv.import_export.len(), inv.drives.len()),
            (40, 4, 4)
        );
        assert_eq!(
            inv.slot(scsi_changer::SlotNumber(1)).unwrap().barcode(),
            Some("T04096")
        );
        // No READ ELEMENT STATUS of the transport type was sent.
        assert!(
            changer
                .transport_mut()
                .sent
                .iter()
                .all(|c| c[0] != 0xb8 || c[1] & 0x0f != MT)
        );
    }
    // With one transport, its address comes from the device.
    let mut changer = scripted(library_device(mode6_with_block_descriptor()));
    let (_, inv) = changer.inventory(true).unwrap();
    assert_eq!(addresses(&inv.transports), [0]);
}

#[test]
fn reply_cut_by_allocation_is_continued_from_the_cut_descriptor() {
    // 90-byte descriptors where the driver first assumes 52: 1000 slots do not fit in FFFFh
    // bytes, the reply is cut inside slot 1727 ((FFFFh - 16) / 90 = 727 whole descriptors), and
    // the next request starts there, sized by the descriptor length the device reported.
    let mut changer = scripted(|cdb| {
        let start = u16::from_be_bytes([cdb[2], cdb[3]]);
        let count = u16::from_be_bytes([cdb[4], cdb[5]]);
        let allocation = u32::from_be_bytes([0, cdb[7], cdb[8], cdb[9]]) as usize;
        let slots: Vec<Descriptor> = (start..start + count)
            .take_while(|&a| a < 2000)
            .map(|a| Descriptor {
                alternate: Some(volume_tag(b"ALT", b' ')),
                ..Descriptor::at(a, 1).tag(&format!("C{a:05}"))
            })
            .collect();
        let mut reply = element_status(ST, PVOLTAG | AVOLTAG, 90, &slots);
        reply.truncate(allocation);
        Answer::Data(reply)
    });
    let slots = changer
        .read_elements(
            ElementType::Storage,
            ElementAddress(1000),
            1000,
            ReadOptions {
                voltag: true,
                dvcid: false,
            },
        )
        .unwrap();
    assert_eq!(addresses(&slots), (1000..2000).collect::<Vec<u16>>());
    assert!(
        slots
            .iter()
            .all(|e| e.barcode() == Some(&*format!("C{:05}", e.address.0)))
    );
    let starts: Vec<(u16, u16)> = changer
        .transport_mut()
        .sent
        .iter()
        .map(|c| {
            (
                u16::from_be_bytes([c[2], c[3]]),
                u16::from_be_bytes([c[4], c[5]]),
            )
        })
        .collect();
    assert_eq!(starts, [(1000, 1000), (1727, 273)]);
}

#[test]
fn ibm_paused_not_ready_04_85_is_waited_on() {
    // The pause code is IBM's: another vendor's 04h/85h fails at once.
    for (vendor, sent) in [("IBM", 3), ("STK", 1)] {
        let mut answers = 0;
        let mut changer = scripted(|cdb| {
            assert_eq!(cdb[0], 0x00, "TEST UNIT READY");
            answers += 1;
            if answers <= 2 {
                Answer::Sense(fixed_sense(0x70, 0x02, 0x04, 0x85, None))
            } else {
                Answer::Data(Vec::new())
            }
        });
        changer.set_quirks(Quirks::for_device(vendor, "03584L32"));
        assert_eq!(changer.test_unit_ready().is_ok(), sent == 3, "{vendor}");
        assert_eq!(changer.transport_mut().sent.len(), sent, "{vendor}");
    }
}

#[test]
fn initialize_with_range_falls_back_to_07h_when_the_range_opcode_is_rejected() {
    // (vendor opcode E7h?, opcodes the device rejects, opcodes sent)
    let cases: [(bool, &[u8], &[u8]); 3] = [
        (false, &[], &[0x37]),          // tgt: 37h accepted
        (true, &[], &[0xe7]),           // IBM, HP, Quantum, mhVTL: E7h
        (true, &[0xe7], &[0xe7, 0x07]), // no range command: 07h
    ];
    for (vendor, rejected, want) in cases {
        let mut changer = scripted(move |cdb| {
            if rejected.contains(&cdb[0]) {
                illegal_request(0x20, 0x00)
            } else {
                Answer::Data(Vec::new())
            }
        });
        changer
            .initialize_element_status(Some((ElementAddress(1000), 10)), vendor)
            .unwrap();
        let sent: Vec<u8> = changer.transport_mut().sent.iter().map(|c| c[0]).collect();
        assert_eq!(sent, want, "vendor {vendor}, rejected {rejected:02x?}");
    }
}
