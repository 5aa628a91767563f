//! The AWS Storage Gateway geometry (10 drives, 1600 storage + 1600 I/E slots): how many SCSI
//! commands one full inventory takes under a 64 KiB allocation, and that the 3.2k-line file
//! parses and renders back unchanged.

mod sim_common;

use std::collections::BTreeMap;
use std::io;
use std::time::Instant;

use scsi_changer::address::SlotNumber;
use scsi_changer::changer::Changer;
use scsi_changer::retry::RetryPolicy;
use scsi_changer::sim::{SimElement, SimState, SimTransport};
use scsi_changer::transport::{Command, Completion, Transport};
use sim_common::TempLibrary;

/// Counts commands by operation code on their way to the simulator.
struct Counting {
    inner: SimTransport,
    by_opcode: BTreeMap<u8, u32>,
}

impl Transport for Counting {
    fn execute(&mut self, cmd: Command<'_>) -> io::Result<Completion> {
        *self.by_opcode.entry(cmd.cdb[0]).or_default() += 1;
        self.inner.execute(cmd)
    }

    fn name(&self) -> &str {
        self.inner.name()
    }
}

/// 10 drives, 1600 + 1600 slots, 100 tapes in storage, 10 new ones in I/E slots.
fn aws() -> SimState {
    let mut s = SimState::new("sim:aws", 10, 1600, 1600).unwrap();
    for n in 1..=100u16 {
        s.set_slot(
            n * 16,
            SimElement::with_tag(&format!("{:<32}", format!("AWS{n:05}"))),
        )
        .unwrap();
    }
    for k in 1..=10u16 {
        s.set_slot(1600 + k, SimElement::with_tag(&format!("NEW{k:05}")))
            .unwrap();
    }
    s
}

const READ_ELEMENT_STATUS: u8 = 0xb8;
const MODE_SENSE_6: u8 = 0x1a;

#[test]
fn aws_inventory_takes_one_mode_sense_and_five_read_element_status() {
    let text = aws().render();
    let t = TempLibrary::new(&text);
    let mut changer = Changer::new(Counting {
        inner: t.lib.changer(),
        by_opcode: BTreeMap::new(),
    })
    .with_policy(RetryPolicy::immediate());
    let started = Instant::now();
    let (page, inv) = changer.inventory(false).unwrap();
    let took = started.elapsed();
    let counts = changer.transport_mut().by_opcode.clone();
    let res = counts.get(&READ_ELEMENT_STATUS).copied().unwrap_or(0);
    let total = changer.observed().commands;
    println!(
        "AWS geometry (10 drives, 1600 storage, 1600 I/E), inventory(false): \
         {res} READ ELEMENT STATUS, {total} SCSI commands in all, {} bytes in, {took:?}",
        changer.observed().bytes_in
    );
    // Storage and I/E pages are 1600 × 52 + 16 bytes each: two 64 KiB reads apiece; the
    // drives one; page 1Dh one MODE SENSE.
    assert_eq!(counts.get(&MODE_SENSE_6), Some(&1));
    assert_eq!(res, 5);
    assert_eq!(total, 6);

    assert_eq!(
        (page.storage, page.import_export, page.data_transfer),
        (1600, 1600, 10)
    );
    assert_eq!(inv.storage.len(), 1600);
    assert_eq!(inv.import_export.len(), 1600);
    assert_eq!(inv.drives.len(), 10);
    assert_eq!(inv.storage.iter().filter(|e| e.full).count(), 100);
    assert_eq!(inv.import_export.iter().filter(|e| e.full).count(), 10);
    // Large libraries: storage from 10000, I/E from 20000, numbered after storage.
    assert_eq!(inv.storage[0].address.0, 10_000);
    assert_eq!(inv.import_export[0].address.0, 20_000);
    assert_eq!(
        inv.slot(SlotNumber(1601)).unwrap().barcode(),
        Some("NEW00001")
    );
    assert_eq!(
        inv.slot(SlotNumber(1600)).unwrap().barcode(),
        Some("AWS00100")
    );

    // With the transport page: one command more.
    let mut changer = changer.with_policy(RetryPolicy::immediate());
    let before = changer.observed().commands;
    changer.inventory(true).unwrap();
    println!(
        "inventory(true): {} SCSI commands",
        changer.observed().commands - before
    );
    assert_eq!(changer.observed().commands - before, 7);
}

#[test]
fn aws_file_parses_and_renders_back_unchanged() {
    let text = aws().render();
    assert_eq!(text.lines().count(), 1 + 10 + 3200);
    let started = Instant::now();
    let state = SimState::parse(&text).unwrap();
    let parsed = started.elapsed();
    let started = Instant::now();
    let again = state.render();
    let rendered = started.elapsed();
    println!(
        "AWS geometry, {} bytes: parse {parsed:?}, render {rendered:?} ({} build)",
        text.len(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    assert_eq!(again, text);
}
