//! Concurrent users of one library file — each thread with its own `SimLibrary::open`, so
//! nothing is shared but the file and its lock, as between processes — never lose or
//! duplicate a cartridge.

mod sim_common;

use std::thread;

use scsi_changer::address::ElementType;
use scsi_changer::changer::Changer;
use scsi_changer::error::Error;
use scsi_changer::retry::RetryPolicy;
use scsi_changer::sim::{SimElement, SimLibrary, SimState};
use sim_common::{TempLibrary, all_tags};

const THREADS: u64 = 8;
const MOVES: usize = 30;

fn library() -> String {
    let mut s = SimState::new("/dev/sg2", 4, 24, 4).unwrap();
    for n in 1..=16u16 {
        s.set_slot(
            n,
            SimElement::with_tag(&format!("{:<32}", format!("C{n:05}L6"))),
        )
        .unwrap();
    }
    s.render()
}

/// xorshift: each thread its own reproducible sequence.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn worker(path: std::path::PathBuf, seed: u64) -> (usize, usize) {
    let lib = SimLibrary::open(&path).unwrap();
    // Every other thread's move is a unit attention for this one: allow plenty.
    let policy = RetryPolicy {
        unit_attention_retries: 100_000,
        ..RetryPolicy::immediate()
    };
    let mut changer = Changer::new(lib.changer()).with_policy(policy);
    let mut rng = Rng(seed);
    let (mut done, mut raced) = (0, 0);
    for _ in 0..MOVES {
        let (_, inv) = changer.inventory(false).unwrap();
        let places: Vec<_> = inv
            .storage
            .iter()
            .chain(&inv.import_export)
            .chain(&inv.drives)
            .collect();
        let full: Vec<_> = places.iter().filter(|e| e.full).collect();
        let empty: Vec<_> = places.iter().filter(|e| !e.full).collect();
        let src = full[rng.below(full.len())];
        let dst = empty[rng.below(empty.len())];
        match changer.move_medium(
            inv.transport_address(),
            (src.element_type, src.address),
            (dst.element_type, dst.address),
        ) {
            Ok(()) => done += 1,
            // Another thread got there first: the inventory was stale, as it may be.
            Err(Error::SourceEmpty { .. } | Error::DestinationFull { .. }) => raced += 1,
            Err(e) => panic!("{e}"),
        }
    }
    (done, raced)
}

#[test]
fn concurrent_movers_never_lose_or_duplicate_a_cartridge() {
    let t = TempLibrary::new(&library());
    let (_, before) = t.changer().inventory(false).unwrap();
    let tags_before = all_tags(&before);
    assert_eq!(tags_before.len(), 16);

    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let path = t.path.clone();
            thread::spawn(move || worker(path, 0x9e37_79b9 + i * 7919))
        })
        .collect();
    let mut done = 0;
    let mut raced = 0;
    for h in handles {
        let (d, r) = h.join().unwrap();
        done += d;
        raced += r;
    }
    println!("{THREADS} threads: {done} moves done, {raced} refused by a race");
    assert!(done > 0);

    let (_, after) = t.changer().inventory(false).unwrap();
    let tags_after = all_tags(&after);
    assert_eq!(tags_after, tags_before, "same cartridges, each once");
    // The file agrees, and every drive's source is a real slot.
    let state = t.reopen().state().unwrap();
    let full = (1..=state.slot_count())
        .filter(|n| state.slot(*n).unwrap().full)
        .count()
        + (0..state.drive_count())
            .filter(|i| state.drive(*i).unwrap().full)
            .count();
    assert_eq!(full, 16);
    for d in &after.drives {
        if let Some(src) = d.source {
            assert!(after.slot_number(src).is_some());
        }
    }
    assert!(
        after
            .elements()
            .all(|e| e.element_type != ElementType::MediumTransport || !e.full)
    );
}

/// Thread `i` owns cartridge `i` and slots `4i+1 ..= 4i+4`; nobody else touches them, so every
/// move it makes must succeed and stay made. A lost update (two writers working from one read)
/// would put a cartridge back where its owner no longer expects it.
#[test]
fn no_acknowledged_move_is_lost_between_concurrent_writers() {
    const OWNERS: u16 = 8;
    const ROUNDS: usize = 40;
    let mut s = SimState::new("/dev/sg2", 0, OWNERS * 4, 0).unwrap();
    for i in 0..OWNERS {
        s.set_slot(i * 4 + 1, SimElement::with_tag(&format!("OWN{i:03}")))
            .unwrap();
    }
    let t = TempLibrary::new(&s.render());
    let handles: Vec<_> = (0..OWNERS)
        .map(|i| {
            let path = t.path.clone();
            thread::spawn(move || {
                let lib = SimLibrary::open(&path).unwrap();
                let state = lib.state().unwrap();
                let slot = |k: u16| {
                    (
                        ElementType::Storage,
                        state.slot_address(i * 4 + 1 + k).unwrap(),
                    )
                };
                let policy = RetryPolicy {
                    unit_attention_retries: 100_000,
                    ..RetryPolicy::immediate()
                };
                let mut changer = Changer::new(lib.changer()).with_policy(policy);
                let mut at = 0u16;
                for round in 0..ROUNDS {
                    let to = (at + 1 + (round % 3) as u16) % 4;
                    changer
                        .move_medium(state.transport_address(), slot(at), slot(to))
                        .unwrap_or_else(|e| panic!("owner {i}, round {round}: {e}"));
                    at = to;
                }
                i * 4 + 1 + at
            })
        })
        .collect();
    let homes: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let state = t.reopen().state().unwrap();
    for (i, slot) in homes.iter().enumerate() {
        let e = state.slot(*slot).unwrap();
        assert_eq!(
            e.primary.map(|t| t.barcode().to_owned()),
            Some(format!("OWN{i:03}")),
            "owner {i}"
        );
    }
    let full = (1..=state.slot_count())
        .filter(|n| state.slot(*n).unwrap().full)
        .count();
    assert_eq!(full, usize::from(OWNERS));
}
