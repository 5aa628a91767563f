//! No decoder panics, whatever the device sends: every fixture of the golden tests (the tgt
//! transcript and the hand-built library responses) cut at every length and with every single
//! bit flipped, plus arbitrary and structured random bytes. Results are dropped: only a panic
//! (or a hang) fails.

#[path = "fixtures/library.rs"]
mod library;
#[path = "fixtures/tgt/transcript.rs"]
mod transcript;

use std::path::PathBuf;

use library::{Fixture, Kind};
use proptest::prelude::*;
use scsi_changer::decode::{
    decode_device_identification, decode_element_address_assignment, decode_element_status,
    decode_inquiry, decode_unit_serial_number, decode_vpd_page_list,
};
use scsi_changer::element::{DeviceIdentifier, ElementStatus, VolumeTag};
use scsi_changer::sense::Sense;

/// Every fixture: the transcript's data-in and sense bytes, then the library's.
fn fixtures() -> Vec<Fixture> {
    let mut out = Vec::new();
    for b in transcript::load() {
        let kind = match (b.opcode(), b.cdb[1] & 1) {
            (0xb8, _) => Kind::ElementStatus {
                allocation: b.res_allocation_length(),
            },
            (0x1a, _) => Kind::ModeSense6,
            (0x5a, _) => Kind::ModeSense10,
            (0x12, 0) => Kind::Inquiry,
            (0x12, _) => Kind::Vpd,
            // REQUEST SENSE data, and REPORT LUNS (no decoder: every decoder gets it anyway).
            _ => Kind::Sense,
        };
        let name: &'static str = Box::leak(format!("tgt line {}", b.line).into_boxed_str());
        if !b.data.is_empty() {
            out.push(Fixture {
                name,
                kind,
                bytes: b.data.clone(),
            });
        }
        if !b.sense.is_empty() {
            out.push(Fixture {
                name,
                kind: Kind::Sense,
                bytes: b.sense.clone(),
            });
        }
    }
    out.extend(library::all());
    out
}

/// The text helpers, on whatever a decoder produced.
fn touch_element(e: &ElementStatus) {
    let _ = (e.barcode(), e.not_installed());
    for tag in [e.primary_volume_tag, e.alternate_volume_tag]
        .iter()
        .flatten()
    {
        let _ = (tag.mtx_text(), tag.barcode(), tag.is_blank());
    }
    if let Some(id) = &e.identifier {
        let _ = id.serial();
    }
}

/// Calls every decoder on `data`; `allocation` is the READ ELEMENT STATUS allocation length
/// of the request the data answered.
fn exercise(data: &[u8], allocation: usize) {
    for allocation in [allocation, data.len(), 0xffff] {
        if let Ok(reply) = decode_element_status(data, allocation) {
            reply.elements.iter().for_each(touch_element);
        }
    }
    let _ = decode_element_address_assignment(data, false);
    let _ = decode_element_address_assignment(data, true);
    let _ = decode_inquiry(data);
    let _ = decode_unit_serial_number(data);
    let _ = decode_vpd_page_list(data);
    let _ = decode_device_identification(data);
    if let Some(sense) = Sense::parse(data) {
        let _ = (sense.to_string(), sense.is_deferred());
    }
    // DeviceIdentifier::serial and VolumeTag::mtx_text on the raw bytes, whatever the fields.
    if let [header, id_type, rest @ ..] = data {
        let id = DeviceIdentifier {
            code_set: header & 0x0f,
            association: (id_type >> 4) & 0x03,
            identifier_type: id_type & 0x0f,
            identifier: rest.to_vec(),
            truncated: false,
        };
        let _ = id.serial();
    }
    let mut identification = [0u8; 32];
    let n = data.len().min(32);
    identification[..n].copy_from_slice(&data[..n]);
    let tag = VolumeTag {
        identification,
        sequence: 0,
    };
    let _ = (tag.mtx_text(), tag.barcode(), tag.is_blank());
}

fn allocation_of(f: &Fixture) -> usize {
    match f.kind {
        Kind::ElementStatus { allocation } => allocation,
        _ => f.bytes.len(),
    }
}

#[test]
fn every_fixture_cut_at_every_length_decodes_without_panic() {
    let fixtures = fixtures();
    assert!(fixtures.len() > 60, "{} fixtures", fixtures.len());
    for f in &fixtures {
        for len in 0..=f.bytes.len() {
            exercise(&f.bytes[..len], allocation_of(f));
        }
    }
}

#[test]
fn every_fixture_with_every_single_bit_flipped_decodes_without_panic() {
    let fixtures = fixtures();
    // Two cores: split the fixtures between two threads.
    std::thread::scope(|s| {
        for half in fixtures.chunks(fixtures.len().div_ceil(2)) {
            s.spawn(move || {
                for f in half {
                    let mut bytes = f.bytes.clone();
                    for bit in 0..bytes.len() * 8 {
                        bytes[bit / 8] ^= 1 << (bit % 8);
                        exercise(&bytes, allocation_of(f));
                        bytes[bit / 8] ^= 1 << (bit % 8);
                    }
                }
            });
        }
    });
}

/// Hand-made edge inputs, and inputs that crashed a decoder or a fuzz target (none has so far:
/// see fuzz/README.md).
const EDGE_CASES: &[(&str, &[u8])] = &[
    // Descriptor length 0 used to be a `chunks_exact(0)` panic elsewhere (PBS 42b01017).
    (
        "element descriptor length 0",
        &[0, 1, 0, 1, 0, 0, 0, 12, 2, 0, 0, 0, 0, 0, 0, 4, 0, 1, 1, 0],
    ),
    // A sub-page (SPF) whose 16-bit length runs past the reply.
    (
        "mode sub-page past the end",
        &[9, 0, 0, 0, 0x4a, 0x01, 0xff, 0xff, 0x1d, 0x12],
    ),
    // Sense descriptor whose length runs past ADDITIONAL SENSE LENGTH.
    (
        "sense descriptor past the end",
        &[0x72, 0x05, 0x24, 0, 0, 0, 0, 4, 0x02, 0xff, 0xc0, 0],
    ),
];

#[test]
fn edge_case_inputs_decode_without_panic() {
    for (name, bytes) in EDGE_CASES {
        for len in 0..=bytes.len() {
            exercise(&bytes[..len], len);
        }
        assert!(!name.is_empty());
    }
}

/// A plausible READ ELEMENT STATUS reply: a header and one page whose counts may or may not
/// match the descriptors that follow, cut anywhere.
fn element_status_reply() -> impl Strategy<Value = (Vec<u8>, usize)> {
    (
        0u8..=6,     // element type code (0, 5, 6 invalid)
        any::<u8>(), // PVOLTAG/AVOLTAG flags
        prop_oneof![Just(0u16), 1u16..20, Just(52), 40u16..100, any::<u16>()],
        prop::collection::vec(any::<u8>(), 0..600), // descriptor bytes
        any::<(i16, i16)>(),                        // report/page count skew
        any::<u16>(),                               // allocation length
    )
        .prop_map(
            |(type_code, flags, length, body, (skew_report, skew_page), alloc)| {
                let page = (body.len() as i64 + i64::from(skew_page)).clamp(0, 0xff_ffff) as u32;
                let report =
                    (body.len() as i64 + 8 + i64::from(skew_report)).clamp(0, 0xff_ffff) as u32;
                let mut v = vec![0x03, 0xe8, 0, 10, 0];
                v.extend(&report.to_be_bytes()[1..]);
                v.extend([type_code, flags]);
                v.extend(length.to_be_bytes());
                v.push(0);
                v.extend(&page.to_be_bytes()[1..]);
                v.extend(body);
                (v, usize::from(alloc))
            },
        )
}

/// A MODE SENSE(6) or (10) reply: header, block descriptors, a run of pages (some sub-pages).
fn mode_reply() -> impl Strategy<Value = (Vec<u8>, bool)> {
    (
        any::<bool>(),
        0u8..24,
        prop::collection::vec(
            (any::<u8>(), prop::collection::vec(any::<u8>(), 0..40)),
            0..6,
        ),
        any::<i8>(),
    )
        .prop_map(|(ten, bdl, pages, skew)| {
            let mut body = vec![0x55; usize::from(bdl)];
            for (code, bytes) in pages {
                body.push(code);
                if code & 0x40 != 0 {
                    body.push(1);
                    body.extend((bytes.len() as u16).to_be_bytes());
                } else {
                    body.push(bytes.len() as u8);
                }
                body.extend(bytes);
            }
            let mut v = Vec::new();
            if ten {
                let mdl = (body.len() as i64 + 6 + i64::from(skew)).clamp(0, 0xffff) as u16;
                v.extend(mdl.to_be_bytes());
                v.extend([0, 0, 0, 0, 0, bdl]);
            } else {
                let mdl = (body.len() as i64 + 3 + i64::from(skew)).clamp(0, 0xff) as u8;
                v.extend([mdl, 0, 0, bdl]);
            }
            v.extend(body);
            (v, ten)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_decode_without_panic(
        data in prop::collection::vec(any::<u8>(), 0..1024),
        allocation in any::<usize>(),
    ) {
        exercise(&data, allocation);
    }

    #[test]
    fn structured_element_status_replies_decode_without_panic((data, allocation) in element_status_reply()) {
        exercise(&data, allocation);
        if let Ok(reply) = decode_element_status(&data, allocation) {
            // Every element needs at least its address and flags byte.
            prop_assert!(reply.elements.len() * 3 <= data.len());
        }
    }

    #[test]
    fn structured_mode_replies_decode_without_panic((data, ten) in mode_reply()) {
        exercise(&data, data.len());
        let _ = decode_element_address_assignment(&data, ten);
    }
}

/// Writes the fixtures as seed corpora for the cargo-fuzz targets (fuzz/README.md):
/// `cargo test -p scsi-changer --test no_panic -- --ignored write_fuzz_seed_corpora`.
#[test]
#[ignore = "writes fuzz/corpus/*; run on demand before fuzzing"]
fn write_fuzz_seed_corpora() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut written = 0;
    for f in fixtures() {
        let file: String = f
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let mut seeds: Vec<(&str, Vec<u8>)> = Vec::new();
        match f.kind {
            Kind::ElementStatus { allocation } => {
                let allocation = u16::try_from(allocation).unwrap_or(u16::MAX);
                let mut seed = allocation.to_be_bytes().to_vec();
                seed.extend(&f.bytes);
                seeds.push(("element_status", seed));
            }
            Kind::ModeSense6 | Kind::ModeSense10 => {
                let mut seed = vec![u8::from(f.kind == Kind::ModeSense10)];
                seed.extend(&f.bytes);
                seeds.push(("mode_page", seed));
            }
            Kind::Inquiry | Kind::Vpd => seeds.push(("inquiry", f.bytes.clone())),
            Kind::Sense => seeds.push(("sense", f.bytes.clone())),
        }
        for (target, seed) in seeds {
            let dir = root.join(target);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(&file), seed).unwrap();
            written += 1;
        }
    }
    assert!(written > 60, "{written} seeds");
}
