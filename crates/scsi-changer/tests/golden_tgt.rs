//! Golden tests: every response of a real tgt 1.0.85 changer (tests/fixtures/tgt/), read from
//! the transcript at test time and checked against the decoders with exact values, tgt's bugs
//! included (test-env.md §2.3).

#[path = "fixtures/tgt/transcript.rs"]
mod transcript;

use std::io;

use scsi_changer::address::{ElementAddress, ElementType};
use scsi_changer::cdb::{self, ReadElementStatus};
use scsi_changer::changer::{Changer, ReadOptions};
use scsi_changer::decode::{
    ElementAddressAssignment, ElementStatusReply, decode_element_address_assignment,
    decode_element_status, decode_inquiry, decode_unit_serial_number, decode_vpd_page_list,
};
use scsi_changer::element::ElementStatus;
use scsi_changer::error::{DecodeError, Error};
use scsi_changer::retry::RetryPolicy;
use scsi_changer::sense::{Sense, SenseKey};
use scsi_changer::transport::{Command, Completion, DataDirection, Transport};
use transcript::{Block, load, only};

/// Every section of the transcript that holds commands, each checked by a test below.
/// `every_command_of_the_transcript_is_covered` fails when the transcript gains a section.
const COVERED: &[&str] = &[
    "INQUIRY (changer)",
    "INQUIRY VPD 0x00 / 0x80 / 0x83",
    "TEST UNIT READY, REQUEST SENSE, REPORT LUNS",
    "MODE SENSE(6) page 0x1D, DBD=1",
    "MODE SENSE(10) page 0x1D, DBD=1",
    "MODE SENSE(6) all pages (0x3F)",
    "RES type=MT VolTag",
    "RES type=ST VolTag",
    "RES type=IE VolTag",
    "RES type=DT VolTag",
    "RES type=DT VolTag+DVCID",
    "RES type=DT DVCID only",
    "RES type=ST no VolTag",
    "RES type=ST start=1005 count=2 (tgt ignores the count)",
    "RES type=ST alloc=100 (data-in length vs allocation length)",
    "MOVE MEDIUM 1000 -> 500 (slot->drive)",
    "RES type=DT after load",
    "TUR on drive LUN 1 (loaded) / LUN 2 (empty)",
    "TUR on drive LUN 2 (empty)",
    "MOVE MEDIUM 1001 -> 500 (dest full)",
    "MOVE MEDIUM 1008 -> 501 (source empty)",
    "MOVE MEDIUM 4095 -> 501 (bad element address)",
    "MOVE MEDIUM 1001 -> 501 with INVERT=1 (tgt accepts)",
    "MOVE MEDIUM 501 -> 1001",
    "EXCHANGE MEDIUM",
    "INITIALIZE ELEMENT STATUS",
    "INITIALIZE ELEMENT STATUS WITH RANGE",
    "PREVENT ALLOW MEDIUM REMOVAL (changer)",
    "POSITION TO ELEMENT",
    "MOVE MEDIUM 10 -> 1008 (import from I/E)",
    "MOVE MEDIUM 500 -> 1000 (unload)",
    "RES type=ST final",
    "RES type=ALL VolTag (tgt bug: broken layout, may crash tgtd)",
];

/// The library as tgt describes it in page 1Dh (transport 1, I/E 10–11, drives 500–501,
/// storage 1000–1009).
const TGT_PAGE: ElementAddressAssignment = ElementAddressAssignment {
    first_medium_transport: ElementAddress(1),
    medium_transports: 1,
    first_storage: ElementAddress(1000),
    storage: 10,
    first_import_export: ElementAddress(10),
    import_export: 2,
    first_data_transfer: ElementAddress(500),
    data_transfer: 2,
};

/// Address, FULL, source (SVALID) and primary barcode (`None`: no tag) of one element.
type Summary = (u16, bool, Option<u16>, Option<String>);

fn summary(e: &ElementStatus) -> Summary {
    (
        e.address.0,
        e.full,
        e.source.map(|s| s.0),
        e.primary_volume_tag.map(|t| t.barcode().to_owned()),
    )
}

fn summaries(reply: &ElementStatusReply) -> Vec<Summary> {
    reply.elements.iter().map(summary).collect()
}

fn el(address: u16, full: bool, source: Option<u16>, tag: Option<&str>) -> Summary {
    (address, full, source, tag.map(str::to_owned))
}

/// Decodes a READ ELEMENT STATUS block with the allocation length of its CDB.
fn decode_res(b: &Block) -> ElementStatusReply {
    assert_eq!(b.status, 0, "{b:?}");
    decode_element_status(&b.data, b.res_allocation_length())
        .unwrap_or_else(|e| panic!("line {}: {e}", b.line))
}

/// tgt 1.0.85 bug 2: BYTE COUNT OF REPORT AVAILABLE counts the page header twice, so the reply
/// is 8 bytes shorter than the header announces and the last descriptor loses 8 bytes.
fn assert_tgt_sent_8_bytes_less(b: &Block, reply: &ElementStatusReply) {
    assert_eq!(
        b.data.len() + 8,
        8 + reply.byte_count_of_report_available as usize,
        "line {}",
        b.line
    );
    assert_eq!(
        reply.cut_at, None,
        "line {}: not cut by the allocation",
        b.line
    );
}

/// Elements carry only what tgt ever sets: FULL, SVALID/source and the volume tag.
fn assert_tgt_flags_only(reply: &ElementStatusReply) {
    for e in &reply.elements {
        assert!(
            !(e.access || e.except || e.impexp || e.inenab || e.exenab),
            "{e:?}"
        );
        assert_eq!((e.asc, e.ascq, e.medium_type), (0, 0, 0), "{e:?}");
        assert!(!e.invert && !e.disabled, "{e:?}");
        assert_eq!(e.scsi_bus_address, None, "tgt sends no bus address: {e:?}");
        assert_eq!(e.alternate_volume_tag, None, "{e:?}");
    }
}

fn storage_initial() -> Vec<Summary> {
    let mut v: Vec<Summary> = (0..8)
        .map(|i| el(1000 + i, true, None, Some(&format!("TST00{}L5", i + 1))))
        .collect();
    v.push(el(1008, false, None, Some("")));
    v.push(el(1009, true, None, Some("CLN001L1")));
    v
}

#[test]
fn every_command_of_the_transcript_is_covered() {
    let blocks = load();
    assert_eq!(blocks.len(), 37, "commands in the transcript");
    for b in &blocks {
        assert!(
            COVERED.contains(&b.section.as_str()),
            "line {}: section {:?} has no golden test",
            b.line,
            b.section
        );
    }
    for section in COVERED {
        assert!(
            blocks.iter().any(|b| b.section == *section),
            "{section:?} not in the transcript"
        );
    }
}

#[test]
fn inquiry_is_stk_l700_medium_changer() {
    let blocks = load();
    let b = only(&blocks, "INQUIRY (changer)");
    assert_eq!(b.cdb, cdb::inquiry(None, 96));
    let inq = decode_inquiry(&b.data).unwrap();
    assert_eq!(inq.peripheral_qualifier, 0);
    assert_eq!(inq.peripheral_device_type, 8);
    assert_eq!(inq.version, 5);
    assert!(!inq.mchngr);
    assert_eq!(
        (
            inq.vendor.as_str(),
            inq.product.as_str(),
            inq.revision.as_str()
        ),
        ("STK", "L700", "0105")
    );
}

#[test]
fn vpd_00_lists_pages_and_vpd_80_serial_is_trimmed_from_right_alignment() {
    let blocks = load();
    let vpd: Vec<&Block> = blocks
        .iter()
        .filter(|b| b.section == "INQUIRY VPD 0x00 / 0x80 / 0x83")
        .collect();
    assert_eq!(vpd.len(), 3);

    assert_eq!(vpd[0].cdb, cdb::inquiry(Some(0x00), 255));
    assert_eq!(
        decode_vpd_page_list(&vpd[0].data).unwrap(),
        [0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2]
    );

    assert_eq!(vpd[1].cdb, cdb::inquiry(Some(0x80), 255));
    // tgt right-aligns the serial in 36 bytes: 28 blanks, then LIB00001.
    assert_eq!(&vpd[1].data[4..32], &[b' '; 28]);
    assert_eq!(
        decode_unit_serial_number(&vpd[1].data).unwrap().as_deref(),
        Some("LIB00001")
    );

    // VPD 83h has no decoder; the VPD decoders must refuse it rather than misread it.
    assert_eq!(vpd[2].cdb, cdb::inquiry(Some(0x83), 255));
    for result in [
        decode_unit_serial_number(&vpd[2].data).map(|_| ()),
        decode_vpd_page_list(&vpd[2].data).map(|_| ()),
    ] {
        assert!(
            matches!(
                result,
                Err(DecodeError::Invalid {
                    what: "VPD page code",
                    ..
                })
            ),
            "{result:?}"
        );
    }
}

#[test]
fn request_sense_after_good_status_is_no_sense_and_report_luns_lists_four_luns() {
    let blocks = load();
    let b: Vec<&Block> = blocks
        .iter()
        .filter(|b| b.section == "TEST UNIT READY, REQUEST SENSE, REPORT LUNS")
        .collect();
    assert_eq!(b.len(), 3);
    // TEST UNIT READY: GOOD, no data.
    assert_eq!(b[0].cdb, cdb::test_unit_ready());
    assert_eq!((b[0].status, b[0].data.len()), (0, 0));
    // REQUEST SENSE: fixed-format sense with nothing to report.
    assert_eq!(b[1].cdb, cdb::request_sense(18));
    let s = Sense::parse(&b[1].data).unwrap();
    assert_eq!(
        (s.response_code, s.key, s.asc, s.ascq),
        (0x70, SenseKey::NoSense, 0, 0)
    );
    assert_eq!(s.field_pointer, None);
    assert!(!s.is_deferred());
    // REPORT LUNS (no decoder in the crate): LUN LIST LENGTH 32, LUNs 0–3.
    assert_eq!(b[2].cdb[0], 0xa0);
    assert_eq!(&b[2].data[..4], &[0, 0, 0, 0x20]);
    let luns: Vec<u8> = b[2].data[8..].chunks(8).map(|l| l[1]).collect();
    assert_eq!(luns, [0, 1, 2, 3]);
}

#[test]
fn mode_sense_6_and_10_page_1d_give_the_tgt_layout() {
    let blocks = load();
    let six = only(&blocks, "MODE SENSE(6) page 0x1D, DBD=1");
    assert_eq!(six.cdb, cdb::mode_sense_6(0x1d, 255));
    assert_eq!(
        decode_element_address_assignment(&six.data, false).unwrap(),
        TGT_PAGE
    );
    let ten = only(&blocks, "MODE SENSE(10) page 0x1D, DBD=1");
    assert_eq!(ten.cdb, cdb::mode_sense_10(0x1d, 255));
    assert_eq!(
        decode_element_address_assignment(&ten.data, true).unwrap(),
        TGT_PAGE
    );
    // The same bytes read with the other header size must not give the same page.
    assert_ne!(
        decode_element_address_assignment(&ten.data, false).ok(),
        Some(TGT_PAGE)
    );
}

#[test]
fn mode_sense_all_pages_walk_steps_over_subpage_0ah_01h_to_find_1dh() {
    // tgt's 3Fh reply: 00h (empty), 0Ah, 0Ah/01h in sub-page format (SPF, 16-bit length 28),
    // 1Ah, 1Ch, 1Dh, 1Eh, 1Fh. Reading the sub-page's length as one byte walks off course.
    let blocks = load();
    let b = only(&blocks, "MODE SENSE(6) all pages (0x3F)");
    assert_eq!(b.cdb, cdb::mode_sense_6(0x3f, 255));
    assert_eq!(
        b.data[4 + 2 + 2 + 10],
        0x4a,
        "SPF sub-page where the test expects it"
    );
    assert_eq!(
        decode_element_address_assignment(&b.data, false).unwrap(),
        TGT_PAGE
    );
}

#[test]
fn mt_page_keeps_short_last_descriptor_and_wrong_first_address_1009() {
    let blocks = load();
    let b = only(&blocks, "RES type=MT VolTag");
    assert_eq!(
        b.cdb,
        cdb::read_element_status(&ReadElementStatus {
            element_type: ElementType::MediumTransport,
            voltag: true,
            starting_address: ElementAddress(0),
            number_of_elements: 0xffff,
            curdata: false,
            dvcid: false,
            allocation_length: 0xffff,
        })
    );
    let reply = decode_res(b);
    assert_tgt_sent_8_bytes_less(b, &reply);
    // tgt bug 3: one element matched, and FIRST ELEMENT ADDRESS REPORTED says 1009.
    assert_eq!(reply.first_element_address_reported, ElementAddress(1009));
    assert_eq!(reply.number_of_elements_available, 1);
    assert_eq!(reply.descriptor_length, Some(52));
    assert_eq!(summaries(&reply), [el(1, false, None, Some(""))]);
    let e = &reply.elements[0];
    assert_eq!(e.element_type, ElementType::MediumTransport);
    // Only 44 of 52 bytes arrived: the tag's 32 identification bytes did, nothing after.
    assert_eq!(e.primary_volume_tag.unwrap().identification, [b' '; 32]);
    assert_eq!(e.primary_volume_tag.unwrap().sequence, 0);
    assert_eq!(e.identifier, None);
    assert_tgt_flags_only(&reply);
}

#[test]
fn st_page_with_voltag_keeps_short_last_descriptor_with_barcode_intact() {
    let blocks = load();
    let b = only(&blocks, "RES type=ST VolTag");
    let reply = decode_res(b);
    assert_tgt_sent_8_bytes_less(b, &reply);
    assert_eq!(reply.first_element_address_reported, ElementAddress(1000));
    assert_eq!(reply.number_of_elements_available, 10);
    assert_eq!(reply.descriptor_length, Some(52));
    assert_eq!(summaries(&reply), storage_initial());
    // The last descriptor (1009) lost bytes 44–51: tag trailer and identifier header.
    let last = reply.elements.last().unwrap();
    assert_eq!(last.primary_volume_tag.unwrap().mtx_text().len(), 32);
    assert_eq!(last.barcode(), Some("CLN001L1"));
    assert!(reply.elements.iter().all(|e| e.identifier.is_none()));
    assert_tgt_flags_only(&reply);
}

#[test]
fn ie_page_reports_full_mail_slot_without_impexp_access_or_enable_bits() {
    let blocks = load();
    let b = only(&blocks, "RES type=IE VolTag");
    let reply = decode_res(b);
    assert_tgt_sent_8_bytes_less(b, &reply);
    assert_eq!(reply.first_element_address_reported, ElementAddress(10));
    assert_eq!(reply.number_of_elements_available, 2);
    assert_eq!(
        summaries(&reply),
        [
            el(10, true, None, Some("TST009L5")),
            el(11, false, None, Some(""))
        ]
    );
    assert!(
        reply
            .elements
            .iter()
            .all(|e| e.element_type == ElementType::ImportExport)
    );
    assert_tgt_flags_only(&reply);
}

#[test]
fn dt_page_with_voltag_reports_two_empty_drives() {
    let blocks = load();
    let b = only(&blocks, "RES type=DT VolTag");
    let reply = decode_res(b);
    assert_tgt_sent_8_bytes_less(b, &reply);
    assert_eq!(reply.first_element_address_reported, ElementAddress(500));
    assert_eq!(
        summaries(&reply),
        [
            el(500, false, None, Some("")),
            el(501, false, None, Some(""))
        ]
    );
    assert!(reply.elements.iter().all(|e| e.identifier.is_none()));
    assert_tgt_flags_only(&reply);
}

#[test]
fn dt_page_with_voltag_and_dvcid_gives_serial_and_flags_last_identifier_truncated() {
    let blocks = load();
    let b = only(&blocks, "RES type=DT VolTag+DVCID");
    assert_eq!((b.cdb[1], b.cdb[6]), (0x14, 0x01), "VOLTAG + DVCID");
    let reply = decode_res(b);
    assert_tgt_sent_8_bytes_less(b, &reply);
    assert_eq!(reply.descriptor_length, Some(86));
    assert_eq!(
        summaries(&reply),
        [
            el(500, false, None, Some("")),
            el(501, false, None, Some(""))
        ]
    );
    let first = reply.elements[0].identifier.as_ref().unwrap();
    assert_eq!(
        (first.code_set, first.association, first.identifier_type),
        (2, 0, 1)
    );
    assert_eq!(first.identifier, b"IBM     ULT3580-TD5     DRV00001\0\0");
    assert!(!first.truncated);
    assert_eq!(first.serial().as_deref(), Some("DRV00001"));
    // tgt bug 2: 26 of the 34 identifier bytes of the last drive arrived.
    let last = reply.elements[1].identifier.as_ref().unwrap();
    assert!(last.truncated);
    assert_eq!(last.identifier, b"IBM     ULT3580-TD5     DR");
    assert_eq!(last.serial().as_deref(), Some("DR"));
    assert!(
        "DRV00002".starts_with(&last.serial().unwrap()),
        "the serial that arrived is a prefix of the real one"
    );
    assert_tgt_flags_only(&reply);
}

#[test]
fn dt_page_with_dvcid_only_has_identifiers_and_no_volume_tags() {
    let blocks = load();
    let b = only(&blocks, "RES type=DT DVCID only");
    assert_eq!((b.cdb[1], b.cdb[6]), (0x04, 0x01), "DVCID without VOLTAG");
    let reply = decode_res(b);
    assert_tgt_sent_8_bytes_less(b, &reply);
    assert_eq!(reply.descriptor_length, Some(50));
    assert_eq!(
        summaries(&reply),
        [el(500, false, None, None), el(501, false, None, None)]
    );
    let ids: Vec<(Option<String>, bool)> = reply
        .elements
        .iter()
        .map(|e| {
            let id = e.identifier.as_ref().unwrap();
            (id.serial(), id.truncated)
        })
        .collect();
    assert_eq!(
        ids,
        [(Some("DRV00001".into()), false), (Some("DR".into()), true)]
    );
    assert_tgt_flags_only(&reply);
}

#[test]
fn st_page_without_voltag_keeps_8_byte_last_descriptor_with_full_flag() {
    // Descriptors are 16 bytes; tgt sends 8 of the last one (address, flags, ASC/ASCQ, bus
    // bytes): slot 1009 must still be reported, full, with no source.
    let blocks = load();
    let b = only(&blocks, "RES type=ST no VolTag");
    let reply = decode_res(b);
    assert_tgt_sent_8_bytes_less(b, &reply);
    assert_eq!(reply.descriptor_length, Some(16));
    let expected: Vec<Summary> = storage_initial()
        .into_iter()
        .map(|(a, full, src, _)| (a, full, src, None))
        .collect();
    assert_eq!(summaries(&reply), expected);
    assert_tgt_flags_only(&reply);
}

#[test]
fn st_page_from_1005_returns_five_elements_although_two_were_asked() {
    let blocks = load();
    let b = only(
        &blocks,
        "RES type=ST start=1005 count=2 (tgt ignores the count)",
    );
    assert_eq!(
        &b.cdb[2..6],
        &[0x03, 0xed, 0x00, 0x02],
        "start 1005, count 2"
    );
    let reply = decode_res(b);
    assert_tgt_sent_8_bytes_less(b, &reply);
    // tgt bug 4: NUMBER OF ELEMENTS ignored; everything from 1005 on comes back.
    assert_eq!(reply.number_of_elements_available, 5);
    assert_eq!(reply.first_element_address_reported, ElementAddress(1005));
    assert_eq!(summaries(&reply), storage_initial()[5..]);
}

#[test]
fn st_page_cut_by_allocation_100_reports_cut_at_second_descriptor() {
    let blocks = load();
    let b = only(
        &blocks,
        "RES type=ST alloc=100 (data-in length vs allocation length)",
    );
    assert_eq!(b.res_allocation_length(), 100);
    // tgt bug 5: 528 bytes came back for an allocation of 100; through SG_IO only the first
    // 100 would have arrived, and that is what the driver decodes.
    assert_eq!(b.data.len(), 528);
    let reply = decode_element_status(&b.data[..100], 100).unwrap();
    assert_eq!(reply.byte_count_of_report_available, 528);
    // 8 + 8 + 52 = 68: descriptor 1000 is whole, 1001 is cut after 32 bytes.
    assert_eq!(summaries(&reply), [el(1000, true, None, Some("TST001L5"))]);
    assert_eq!(reply.cut_at, Some(ElementAddress(1001)));

    // What tgt sent past byte 100 is stale data of earlier replies: addresses go backwards.
    let stale = decode_element_status(&b.data, 100).unwrap();
    let addresses: Vec<u16> = stale.elements.iter().map(|e| e.address.0).collect();
    assert_eq!(&addresses[..2], &[1000, 1001]);
    assert!(
        addresses.windows(2).any(|w| w[1] <= w[0]),
        "stale bytes decode as out-of-order elements: {addresses:?}"
    );
}

#[test]
fn dt_page_after_load_reports_svalid_source_1000() {
    let blocks = load();
    let moved = only(&blocks, "MOVE MEDIUM 1000 -> 500 (slot->drive)");
    assert_eq!(
        moved.cdb,
        cdb::move_medium(
            ElementAddress(1),
            ElementAddress(1000),
            ElementAddress(500),
            false
        )
    );
    assert_eq!((moved.status, moved.data.len()), (0, 0));

    let b = only(&blocks, "RES type=DT after load");
    let reply = decode_res(b);
    assert_tgt_sent_8_bytes_less(b, &reply);
    assert_eq!(
        summaries(&reply),
        [
            el(500, true, Some(1000), Some("TST001L5")),
            el(501, false, None, Some(""))
        ]
    );
    assert_eq!(reply.elements[0].barcode(), Some("TST001L5"));
    assert_eq!(reply.elements[1].barcode(), None);
    assert_tgt_flags_only(&reply);
}

/// (section, key, ASC, ASCQ, text) of every CHECK CONDITION in the transcript.
const SENSE_CASES: &[(&str, SenseKey, u8, u8, &str)] = &[
    (
        "TUR on drive LUN 2 (empty)",
        SenseKey::NotReady,
        0x3a,
        0x00,
        "NOT READY: Medium not present (3Ah/00h)",
    ),
    (
        "MOVE MEDIUM 1001 -> 500 (dest full)",
        SenseKey::IllegalRequest,
        0x3b,
        0x0d,
        "ILLEGAL REQUEST: Medium destination element full (3Bh/0Dh)",
    ),
    (
        "MOVE MEDIUM 1008 -> 501 (source empty)",
        SenseKey::IllegalRequest,
        0x3b,
        0x0e,
        "ILLEGAL REQUEST: Medium source element empty (3Bh/0Eh)",
    ),
    // tgt answers an unknown element address with 24h/00h, not 21h/01h.
    (
        "MOVE MEDIUM 4095 -> 501 (bad element address)",
        SenseKey::IllegalRequest,
        0x24,
        0x00,
        "ILLEGAL REQUEST: Invalid field in CDB (24h/00h)",
    ),
    (
        "EXCHANGE MEDIUM",
        SenseKey::IllegalRequest,
        0x20,
        0x00,
        "ILLEGAL REQUEST: Invalid command operation code (20h/00h)",
    ),
    (
        "PREVENT ALLOW MEDIUM REMOVAL (changer)",
        SenseKey::IllegalRequest,
        0x20,
        0x00,
        "ILLEGAL REQUEST: Invalid command operation code (20h/00h)",
    ),
    (
        "POSITION TO ELEMENT",
        SenseKey::IllegalRequest,
        0x20,
        0x00,
        "ILLEGAL REQUEST: Invalid command operation code (20h/00h)",
    ),
];

#[test]
fn check_condition_sense_decodes_to_key_asc_ascq_and_text() {
    let blocks = load();
    let failed: Vec<&Block> = blocks.iter().filter(|b| b.status != 0).collect();
    assert_eq!(
        failed.len(),
        SENSE_CASES.len(),
        "every CHECK CONDITION listed"
    );
    for &(section, key, asc, ascq, text) in SENSE_CASES {
        let b = only(&blocks, section);
        assert_eq!(b.status, 2, "{section}");
        assert!(b.data.is_empty(), "{section}");
        let s = Sense::parse(&b.sense).unwrap_or_else(|| panic!("{section}"));
        assert_eq!(
            (s.response_code, s.key, s.asc, s.ascq),
            (0x70, key, asc, ascq),
            "{section}"
        );
        assert_eq!(s.field_pointer, None, "{section}: tgt sets no SKSV");
        assert!(!s.is_deferred(), "{section}");
        assert_eq!(s.to_string(), text, "{section}");
    }
}

#[test]
fn commands_without_data_complete_good_and_match_the_cdb_builders() {
    let blocks = load();
    let a = ElementAddress;
    let cases: &[(&str, Vec<u8>)] = &[
        (
            "TUR on drive LUN 1 (loaded) / LUN 2 (empty)",
            cdb::test_unit_ready().to_vec(),
        ),
        (
            "MOVE MEDIUM 1001 -> 501 with INVERT=1 (tgt accepts)",
            cdb::move_medium(a(1), a(1001), a(501), true).to_vec(),
        ),
        (
            "MOVE MEDIUM 501 -> 1001",
            cdb::move_medium(a(1), a(501), a(1001), false).to_vec(),
        ),
        (
            "INITIALIZE ELEMENT STATUS",
            cdb::initialize_element_status().to_vec(),
        ),
        (
            "MOVE MEDIUM 10 -> 1008 (import from I/E)",
            cdb::move_medium(a(1), a(10), a(1008), false).to_vec(),
        ),
        (
            "MOVE MEDIUM 500 -> 1000 (unload)",
            cdb::move_medium(a(1), a(500), a(1000), false).to_vec(),
        ),
    ];
    for (section, cdb) in cases {
        let b = only(&blocks, section);
        assert_eq!(&b.cdb, cdb, "{section}");
        assert_eq!(
            (b.status, b.data.len(), b.sense.len()),
            (0, 0, 0),
            "{section}"
        );
    }
    // tgt's WITH RANGE is a no-op accepting the bare opcode 37h (no RANGE bit).
    let b = only(&blocks, "INITIALIZE ELEMENT STATUS WITH RANGE");
    assert_eq!(b.cdb, [0x37, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(b.status, 0);
}

fn storage_final() -> Vec<Summary> {
    let mut v = storage_initial();
    v[0].2 = Some(500);
    v[1].2 = Some(501);
    v[8] = el(1008, true, Some(10), Some("TST009L5"));
    v
}

#[test]
fn st_page_at_the_end_reports_the_sources_of_returned_and_imported_tapes() {
    let blocks = load();
    let b = only(&blocks, "RES type=ST final");
    let reply = decode_res(b);
    assert_tgt_sent_8_bytes_less(b, &reply);
    assert_eq!(summaries(&reply), storage_final());
    assert_tgt_flags_only(&reply);
}

/// One `  XX (...)  addr=N  full=F [src=S] voltag='T'` line of the pyscsi demo.
fn pyscsi_line(line: &str) -> Option<(String, Summary)> {
    let line = line.trim();
    let kind = line.get(..2)?.to_owned();
    let addr: u16 = line
        .split("addr=")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let full = line.split("full=").nth(1)?.starts_with('1');
    let src = line
        .split("src=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next()?.parse().ok());
    let tag = line
        .split("voltag='")
        .nth(1)?
        .trim_end_matches('\'')
        .to_owned();
    Some((kind, (addr, full, src, Some(tag))))
}

#[test]
fn pyscsi_decoding_agrees_with_ours_on_transport_and_final_storage() {
    // The transcript's pyscsi demo ran after the last command: its first listing is the final
    // state, decoded by an independent implementation.
    let text = std::fs::read_to_string(transcript::path()).unwrap();
    let demo: Vec<(String, Summary)> = text
        .lines()
        .skip_while(|l| !l.starts_with("READ ELEMENT STATUS (VolTag=1)"))
        .skip(1)
        .take_while(|l| !l.starts_with("MOVE MEDIUM"))
        .map(|l| pyscsi_line(l).unwrap_or_else(|| panic!("pyscsi line {l:?}")))
        .collect();
    let theirs = |kind: &str| -> Vec<Summary> {
        demo.iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, s)| s.clone())
            .collect()
    };
    let blocks = load();
    let mt = decode_res(only(&blocks, "RES type=MT VolTag"));
    assert_eq!(theirs("MT"), summaries(&mt));
    let st = decode_res(only(&blocks, "RES type=ST final"));
    assert_eq!(theirs("ST"), summaries(&st));
}

#[test]
fn element_type_0_garbage_is_an_error_not_a_panic_or_foreign_elements() {
    let blocks = load();
    let b = only(
        &blocks,
        "RES type=ALL VolTag (tgt bug: broken layout, may crash tgtd)",
    );
    assert_eq!(b.cdb[1] & 0x0f, 0, "element type 0");
    // The second page header lands inside the first page; the walk then meets type code 80h.
    let result = decode_element_status(&b.data, b.res_allocation_length());
    assert!(
        matches!(
            result,
            Err(DecodeError::Invalid {
                what: "element type code",
                ..
            })
        ),
        "{result:?}"
    );

    // Served to a Changer asking for one type, the garbage yields an error or only elements of
    // that type (the Changer never asks for type 0 itself).
    for wanted in ElementType::ALL {
        let mut changer =
            Changer::new(Replay::serving(&blocks, b)).with_policy(RetryPolicy::immediate());
        match changer.read_element_status_once(
            wanted,
            ElementAddress(0),
            0xffff,
            ReadOptions {
                voltag: true,
                dvcid: false,
            },
            0xffff,
        ) {
            Err(Error::Decode { .. }) => {}
            Ok(reply) => assert!(
                reply.elements.iter().all(|e| e.element_type == wanted),
                "{reply:?}"
            ),
            Err(other) => panic!("{other}"),
        }
    }
}

/// A transport that answers from the transcript, as tgt did: the reply of the section that
/// matches the CDB, `resid` set from what tgt sent, sense for CHECK CONDITION.
struct Replay<'a> {
    blocks: &'a [Block],
    /// Serve this block for every command (used for the type-0 garbage).
    fixed: Option<&'a Block>,
    /// Every CDB sent.
    sent: Vec<Vec<u8>>,
}

impl<'a> Replay<'a> {
    fn new(blocks: &'a [Block]) -> Self {
        Replay {
            blocks,
            fixed: None,
            sent: Vec::new(),
        }
    }

    fn serving(blocks: &'a [Block], fixed: &'a Block) -> Self {
        Replay {
            fixed: Some(fixed),
            ..Replay::new(blocks)
        }
    }

    /// The transcript block tgt would have answered `cdb` with (initial library state).
    fn route(&self, cdb: &[u8]) -> &'a Block {
        if let Some(b) = self.fixed {
            return b;
        }
        let section = match cdb[0] {
            0x12 if cdb[1] & 1 == 0 => "INQUIRY (changer)",
            0x12 => "INQUIRY VPD 0x00 / 0x80 / 0x83",
            0x1a => "MODE SENSE(6) page 0x1D, DBD=1",
            0x5a => "MODE SENSE(10) page 0x1D, DBD=1",
            0xb8 => {
                let start = u16::from_be_bytes([cdb[2], cdb[3]]);
                match (cdb[1], cdb[6] & 1, start) {
                    (0x11, 0, _) => "RES type=MT VolTag",
                    (0x12, 0, 1005) => "RES type=ST start=1005 count=2 (tgt ignores the count)",
                    (0x12, 0, 0 | 1000) => "RES type=ST VolTag",
                    (0x13, 0, _) => "RES type=IE VolTag",
                    (0x14, 0, _) => "RES type=DT VolTag",
                    (0x14, 1, _) => "RES type=DT VolTag+DVCID",
                    (0x04, 1, _) => "RES type=DT DVCID only",
                    (0x02, 0, _) => "RES type=ST no VolTag",
                    _ => panic!("no transcript reply for {cdb:02x?}"),
                }
            }
            _ => panic!("no transcript reply for {cdb:02x?}"),
        };
        self.blocks
            .iter()
            .filter(|b| b.section == section)
            .find(|b| b.cdb[0] != 0x12 || b.cdb[2] == cdb[2])
            .unwrap_or_else(|| panic!("{section}: no block for {cdb:02x?}"))
    }
}

impl Transport for Replay<'_> {
    fn execute(&mut self, cmd: Command<'_>) -> io::Result<Completion> {
        self.sent.push(cmd.cdb.to_vec());
        let b = self.route(cmd.cdb);
        if b.status != 0 {
            return Ok(Completion::check_condition(b.sense.clone()));
        }
        let DataDirection::FromDevice(buf) = cmd.data else {
            return Ok(Completion::good());
        };
        if cmd.cdb[0] == 0xb8 {
            // tgt needs dxfer_len == ALLOCATION LENGTH (bug 5); the driver must keep them equal.
            let allocation = u32::from_be_bytes([0, cmd.cdb[7], cmd.cdb[8], cmd.cdb[9]]);
            assert_eq!(buf.len(), allocation as usize, "dxfer_len == allocation");
        }
        let n = b.data.len().min(buf.len());
        buf[..n].copy_from_slice(&b.data[..n]);
        Ok(Completion {
            resid: buf.len() - n,
            ..Completion::good()
        })
    }

    fn name(&self) -> &str {
        "tgt-transcript"
    }
}

#[test]
fn changer_inventories_the_replayed_tgt_library() {
    let blocks = load();
    let mut changer = Changer::new(Replay::new(&blocks)).with_policy(RetryPolicy::immediate());
    let inq = changer.inquiry().unwrap();
    assert_eq!((inq.vendor.as_str(), inq.product.as_str()), ("STK", "L700"));
    assert_eq!(
        changer.unit_serial_number().unwrap().as_deref(),
        Some("LIB00001")
    );

    let (page, inv) = changer.inventory(false).unwrap();
    assert_eq!(page, TGT_PAGE);
    assert_eq!(
        inv.storage.iter().map(summary).collect::<Vec<_>>(),
        storage_initial()
    );
    assert_eq!(
        inv.import_export.iter().map(summary).collect::<Vec<_>>(),
        [
            el(10, true, None, Some("TST009L5")),
            el(11, false, None, Some(""))
        ]
    );
    assert_eq!(
        inv.drives.iter().map(summary).collect::<Vec<_>>(),
        [
            el(500, false, None, Some("")),
            el(501, false, None, Some(""))
        ]
    );
    assert_eq!(inv.slot_count(), 12);
    assert_eq!(inv.transport_address(), ElementAddress(1));

    // Drive serials come from a separate DT-only DVCID request.
    let ids = changer.drive_identifiers(&page).unwrap().unwrap();
    let serials: Vec<(u16, Option<String>)> = ids
        .iter()
        .map(|(a, id)| (a.0, id.as_ref().and_then(|i| i.serial())))
        .collect();
    assert_eq!(
        serials,
        [(500, Some("DRV00001".into())), (501, Some("DR".into()))]
    );

    // The transport is found at address 1 although tgt reports 1009 as the first address.
    let mt = changer
        .read_type(
            &page,
            ElementType::MediumTransport,
            ReadOptions {
                voltag: true,
                dvcid: false,
            },
        )
        .unwrap();
    assert_eq!(
        mt.iter().map(summary).collect::<Vec<_>>(),
        [el(1, false, None, Some(""))]
    );

    // tgt ignores NUMBER OF ELEMENTS: the Changer keeps only what it asked for.
    let two = changer
        .read_elements(
            ElementType::Storage,
            ElementAddress(1005),
            2,
            ReadOptions {
                voltag: true,
                dvcid: false,
            },
        )
        .unwrap();
    assert_eq!(
        two.iter().map(summary).collect::<Vec<_>>(),
        storage_initial()[5..7]
    );

    // Never element type 0, never VOLTAG together with DVCID, allocation within 16 bits.
    let sent = &changer.transport_mut().sent;
    let res: Vec<&Vec<u8>> = sent.iter().filter(|c| c[0] == 0xb8).collect();
    assert!(res.len() >= 6, "{sent:02x?}");
    for c in res {
        assert_ne!(c[1] & 0x0f, 0, "element type 0 asked: {c:02x?}");
        assert!(
            !(c[1] & 0x10 != 0 && c[6] & 1 != 0),
            "VOLTAG+DVCID: {c:02x?}"
        );
        assert_eq!(c[7], 0, "allocation length above FFFFh: {c:02x?}");
    }
}
