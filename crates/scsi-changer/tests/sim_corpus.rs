//! The simulator against the compatibility corpus (tests/fixtures/compat/, copies of
//! shared/compat-corpus/*/mtx-status.txt): the text survives parse → render byte for byte, and
//! the real driver reads each library back as the text describes it.

mod sim_common;

use scsi_changer::address::{ElementAddress, SlotNumber};
use scsi_changer::error::Error;
use scsi_changer::sim::{SimLibrary, SimState};
use sim_common::{CASES, TempLibrary, fixture, fixture_path};

#[test]
fn every_corpus_status_renders_back_byte_identical() {
    for case in CASES {
        let text = fixture(case);
        let state = SimState::parse(&text).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(state.render(), text, "{case}");
        // And through the library: opening and reading changes nothing in the file.
        let t = TempLibrary::new(&text);
        let mut changer = t.changer();
        changer.inventory(true).unwrap();
        assert_eq!(
            t.text(),
            text,
            "{case}: the file changed on a read-only inventory"
        );
    }
}

#[test]
fn empty_or_garbage_file_is_a_clear_sim_error() {
    let cases: &[(&str, &str)] = &[
        ("", "the file is empty"),
        ("# only a comment\n", "only `#` lines"),
        ("hello world\n", "line 1: expected the `mtx status` header"),
        (
            "  Storage Changer /dev/sg3:1 Drives, 2 Slots ( 0 Import/Export )\n\
             Data Transfer Element 0:Empty\n      Storage Element 1:Empty\n",
            "line 1: the header announces 2 slots but the file lists 1",
        ),
        (
            "  Storage Changer /dev/sg3:1 Drives, 1 Slots ( 0 Import/Export )\n\
             Data Transfer Element 0:Empty\n      Storage Element 1:Ful\n",
            "line 3: expected `Full ` or `Empty`",
        ),
        (
            "  Storage Changer /dev/sg3:1 Drives, 1 Slots ( 0 Import/Export )\n\
             Data Transfer Element 0:Full (Storage Element 9 Loaded)\n      Storage Element 1:Empty\n",
            "line 2: storage element 9 does not exist",
        ),
        (
            "  Storage Changer /dev/sg3:1 Drives, 1 Slots ( 0 Import/Export )\n\
             Data Transfer Element 1:Empty\n      Storage Element 1:Empty\n",
            "line 2: expected `Data Transfer Element 0`",
        ),
        (
            "  Storage Changer /dev/sg3:0 Drives, 1 Slots ( 0 Import/Export )\n\
             # sim: drive 0 serial=X\n      Storage Element 1:Empty\n",
            "line 2: drive 0 does not exist",
        ),
        (
            "# sim: fault lightning\n  Storage Changer /dev/sg3:0 Drives, 1 Slots ( 0 Import/Export )\n",
            "line 1: unknown fault `lightning`",
        ),
        (
            "  Storage Changer /dev/sg3:0 Drives, 1 Slots ( 0 Import/Export )\n\
             \u{20}     Storage Element 1:Full :VolumeTag=caf\u{e9}\n",
            "line 2: volume tag `caf\u{e9}` holds",
        ),
    ];
    for (text, want) in cases {
        match SimState::parse(text) {
            Err(Error::Sim(m)) => assert!(m.contains(want), "{text:?}: {m}"),
            other => panic!("{text:?}: {other:?}"),
        }
    }
    // Through open, the message names the file too; case 11's file is empty.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("11.txt");
    std::fs::copy(fixture_path("11-mtx-status-error"), &path).unwrap();
    match SimLibrary::open(&path) {
        Err(Error::Sim(m)) => {
            assert!(m.contains(&path.display().to_string()), "{m}");
            assert!(m.contains("the file is empty"), "{m}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn missing_file_behaves_like_a_device_that_cannot_be_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.txt");
    match SimLibrary::open(&path) {
        Err(Error::Open { path: p, source }) => {
            assert_eq!(p, path);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("{other:?}"),
    }
}

/// What each corpus library holds, written down by hand from the files.
struct Expected {
    case: &'static str,
    drives: usize,
    storage: usize,
    import_export: usize,
    /// Full slots (mtx numbers).
    full: &'static [u16],
    /// Per drive: None = empty, Some(None) = full, source unknown, Some(Some(n)) = from slot n.
    drive_sources: &'static [Option<Option<u16>>],
}

const EXPECTED: &[Expected] = &[
    Expected {
        case: "01-autoloader-1drive-8slots-barcodes",
        drives: 1,
        storage: 8,
        import_export: 0,
        full: &[1, 2, 3, 4, 6, 7, 8],
        drive_sources: &[None],
    },
    Expected {
        case: "02-autoloader-no-barcode-reader-drive-loaded",
        drives: 1,
        storage: 10,
        import_export: 0,
        full: &[1, 2, 4, 5, 6],
        drive_sources: &[Some(Some(3))],
    },
    Expected {
        case: "03-library-2drives-24slots-4ie-loaded",
        drives: 2,
        storage: 24,
        import_export: 4,
        full: &[
            1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 23, 24, 25, 27,
        ],
        drive_sources: &[Some(Some(2)), Some(Some(17))],
    },
    Expected {
        case: "04-drive-loaded-without-barcode",
        drives: 2,
        storage: 12,
        import_export: 0,
        full: &[1, 2, 3, 5, 6],
        drive_sources: &[Some(Some(4)), Some(Some(7))],
    },
    Expected {
        case: "05-empty-library-4drives-40slots-2ie",
        drives: 4,
        storage: 40,
        import_export: 2,
        full: &[],
        drive_sources: &[None, None, None, None],
    },
    Expected {
        case: "07-unusual-spacing-and-tags",
        drives: 1,
        storage: 12,
        import_export: 2,
        full: &[1, 2, 4, 5, 7, 8, 13, 14],
        drive_sources: &[Some(Some(6))],
    },
    Expected {
        case: "08-unknown-source-slot-full-library",
        drives: 2,
        storage: 8,
        import_export: 0,
        full: &[1, 2, 3, 4, 5, 6, 7, 8],
        drive_sources: &[Some(None), Some(None)],
    },
    Expected {
        case: "12-mtx-status-stderr-warning",
        drives: 1,
        storage: 8,
        import_export: 0,
        full: &[1, 3, 4, 5, 6, 8],
        drive_sources: &[Some(Some(2))],
    },
];

/// The tags of one status line, cut out the simple way (no tag in the corpus holds a colon).
fn line_tags(line: &str) -> (String, String) {
    let field = |key: &str| {
        line.split_once(key)
            .map(|(_, rest)| rest.split(':').next().unwrap_or("").to_owned())
            .unwrap_or_default()
    };
    let primary = if line.starts_with("Data") {
        field(":VolumeTag = ")
    } else {
        field(":VolumeTag=")
    };
    let alternate = if line.starts_with("Data") {
        field(":AlternateVolumeTag = ")
    } else {
        field(":AlternateVolumeTag=")
    };
    (primary, alternate)
}

fn tag_text(t: Option<scsi_changer::element::VolumeTag>) -> String {
    t.map(|t| t.mtx_text().to_owned()).unwrap_or_default()
}

#[test]
fn the_driver_reads_every_corpus_library_as_its_text_says() {
    assert_eq!(EXPECTED.len(), CASES.len());
    for want in EXPECTED {
        let case = want.case;
        let t = TempLibrary::case(case);
        let mut changer = t.changer();
        let (page, inv) = changer.inventory(true).unwrap();
        assert_eq!(inv.drives.len(), want.drives, "{case}: drives");
        assert_eq!(inv.storage.len(), want.storage, "{case}: storage");
        assert_eq!(inv.import_export.len(), want.import_export, "{case}: I/E");
        assert_eq!(inv.transports.len(), 1, "{case}: transport");
        assert_eq!(usize::from(page.storage), want.storage, "{case}: page 1Dh");

        // Slots in mtx order: storage first, then I/E, numbered on.
        let full: Vec<u16> = (1..=inv.slot_count())
            .filter(|n| inv.slot(SlotNumber(*n)).unwrap().full)
            .collect();
        assert_eq!(full, want.full, "{case}: full slots");
        for n in want.storage + 1..=want.storage + want.import_export {
            assert!(
                inv.is_import_export(SlotNumber(n as u16)),
                "{case}: slot {n} is I/E"
            );
        }

        // Tags as mtx prints them, element by element against the text's own lines.
        let text = fixture(case);
        let drive_lines: Vec<&str> = text.lines().filter(|l| l.starts_with("Data")).collect();
        let slot_lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("Storage Element") && !l.starts_with("Data"))
            .collect();
        for (i, line) in slot_lines.iter().enumerate() {
            let slot = inv.slot(SlotNumber(i as u16 + 1)).unwrap();
            let (p, a) = line_tags(line);
            assert_eq!(
                tag_text(slot.primary_volume_tag),
                p,
                "{case}: slot {} tag",
                i + 1
            );
            assert_eq!(
                tag_text(slot.alternate_volume_tag),
                a,
                "{case}: slot {} alt",
                i + 1
            );
        }
        for (i, line) in drive_lines.iter().enumerate() {
            let d = &inv.drives[i];
            let (p, a) = line_tags(line);
            assert_eq!(tag_text(d.primary_volume_tag), p, "{case}: drive {i} tag");
            assert_eq!(tag_text(d.alternate_volume_tag), a, "{case}: drive {i} alt");
        }

        // Drive sources, as slot numbers.
        let sources: Vec<Option<Option<u16>>> = inv
            .drives
            .iter()
            .map(|d| {
                d.full
                    .then(|| d.source.map(|a| inv.slot_number(a).unwrap().0))
            })
            .collect();
        assert_eq!(sources, want.drive_sources, "{case}: drive sources");
    }
}

#[test]
fn default_addresses_follow_the_corpus_error_messages() {
    // Case 03's messages: slot 23 is 1022, slot 26 (I/E) is 36; drives 500+, transport 1.
    let t = TempLibrary::case("03-library-2drives-24slots-4ie-loaded");
    let (page, inv) = t.changer().inventory(true).unwrap();
    assert_eq!(
        inv.slot(SlotNumber(23)).unwrap().address,
        ElementAddress(1022)
    );
    assert_eq!(
        inv.slot(SlotNumber(26)).unwrap().address,
        ElementAddress(36)
    );
    assert_eq!(
        inv.slot(SlotNumber(1)).unwrap().address,
        ElementAddress(1000)
    );
    assert_eq!(inv.drives[1].address, ElementAddress(501));
    assert_eq!(inv.transport_address(), ElementAddress(1));
    assert_eq!(page.first_import_export, ElementAddress(35));
    assert!(page.ranges_are_disjoint());
}

#[test]
fn barcode_reader_follows_the_text() {
    // Case 02 has no tag anywhere: pages carry no PVOLTAG, so no element has a tag at all.
    let t = TempLibrary::case("02-autoloader-no-barcode-reader-drive-loaded");
    let (_, inv) = t.changer().inventory(true).unwrap();
    assert!(inv.elements().all(|e| e.primary_volume_tag.is_none()));
    // Case 01 has tags: every element reports a tag field, empty ones NUL-filled.
    let t = TempLibrary::case("01-autoloader-1drive-8slots-barcodes");
    let (_, inv) = t.changer().inventory(false).unwrap();
    let slot5 = inv.slot(SlotNumber(5)).unwrap();
    assert_eq!(slot5.primary_volume_tag.unwrap().identification, [0; 32]);
    assert_eq!(
        inv.slot(SlotNumber(8)).unwrap().medium_type,
        2,
        "CLN001CU is a cleaning tape"
    );
    assert_eq!(inv.slot(SlotNumber(7)).unwrap().medium_type, 1);
}
