//! Helpers shared by the simulator's integration tests (`tests/sim_*.rs`).
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use scsi_changer::changer::Changer;
use scsi_changer::retry::RetryPolicy;
use scsi_changer::sense::Sense;
use scsi_changer::sim::{SimLibrary, SimTransport};
use scsi_changer::transport::{Command, Completion, DataDirection, Transport};
use tempfile::TempDir;

/// The corpus cases with a non-empty `mtx status` (tests/fixtures/compat/<case>.txt).
pub const CASES: &[&str] = &[
    "01-autoloader-1drive-8slots-barcodes",
    "02-autoloader-no-barcode-reader-drive-loaded",
    "03-library-2drives-24slots-4ie-loaded",
    "04-drive-loaded-without-barcode",
    "05-empty-library-4drives-40slots-2ie",
    "07-unusual-spacing-and-tags",
    "08-unknown-source-slot-full-library",
    "12-mtx-status-stderr-warning",
];

pub fn fixture_path(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/compat")
        .join(format!("{case}.txt"))
}

pub fn fixture(case: &str) -> String {
    fs::read_to_string(fixture_path(case)).unwrap()
}

/// A library file in a fresh directory (fixtures are never written).
pub struct TempLibrary {
    pub dir: TempDir,
    pub path: PathBuf,
    pub lib: SimLibrary,
}

impl TempLibrary {
    pub fn new(text: &str) -> TempLibrary {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("library.txt");
        fs::write(&path, text).unwrap();
        let lib = SimLibrary::open(&path).unwrap();
        TempLibrary { dir, path, lib }
    }

    pub fn case(case: &str) -> TempLibrary {
        TempLibrary::new(&fixture(case))
    }

    /// A second, independent handle on the same file (another process, as far as the
    /// simulator can tell).
    pub fn reopen(&self) -> SimLibrary {
        SimLibrary::open(&self.path).unwrap()
    }

    pub fn text(&self) -> String {
        fs::read_to_string(&self.path).unwrap()
    }

    pub fn changer(&self) -> Changer<SimTransport> {
        changer(&self.lib)
    }
}

pub fn changer(lib: &SimLibrary) -> Changer<SimTransport> {
    Changer::new(lib.changer()).with_policy(RetryPolicy::immediate())
}

/// One raw command: the completion and the data-in bytes that arrived.
pub fn raw(t: &mut SimTransport, cdb: &[u8], len: usize) -> (Completion, Vec<u8>) {
    let mut buf = vec![0u8; len];
    let c = t
        .execute(Command {
            cdb,
            data: if len == 0 {
                DataDirection::None
            } else {
                DataDirection::FromDevice(&mut buf)
            },
            timeout: std::time::Duration::from_secs(1),
        })
        .unwrap();
    let n = len - c.resid;
    buf.truncate(n);
    (c, buf)
}

/// Sense key, ASC, ASCQ.
pub type SenseTriple = (u8, u8, u8);

/// Sense key, ASC and ASCQ of a completion (panics if it has none).
pub fn sense_of(c: &Completion) -> SenseTriple {
    let s = Sense::parse(&c.sense).unwrap_or_else(|| panic!("no sense in {c:?}"));
    (s.key.code(), s.asc, s.ascq)
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Every volume tag (`mtx_text`) in a library, sorted: for counting cartridges.
pub fn all_tags(inv: &scsi_changer::inventory::Inventory) -> Vec<String> {
    let mut tags: Vec<String> = inv
        .elements()
        .filter(|e| e.full)
        .map(|e| {
            e.primary_volume_tag
                .map(|t| t.mtx_text().to_owned())
                .unwrap_or_default()
        })
        .collect();
    tags.sort();
    tags
}
