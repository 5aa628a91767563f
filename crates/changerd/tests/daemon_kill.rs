//! SIGKILL at random instants during 200 moves of a slow robot (the simulator's
//! `move-delay`), the daemon restarted each time: no cartridge is lost or duplicated, the
//! first answers after every restart tell the truth, and the journal, replayed from the
//! initial library, gives exactly the final library.

mod common;
use common::*;

use std::collections::BTreeMap;
use std::time::Duration;

use changer_proto::{AnswerBody, BareosCommand, LibraryRef, RequestBody};

const MOVES: usize = 200;

/// 2 drives, 20 slots, 10 cartridges; every move takes 40 ms.
fn library() -> String {
    let mut t = String::from(
        "# sim: move-delay ms=40\n  Storage Changer /dev/sg3:2 Drives, 20 Slots ( 0 Import/Export )\nData Transfer Element 0:Empty\nData Transfer Element 1:Empty\n",
    );
    for n in 1..=20 {
        if n % 2 == 1 {
            t.push_str(&format!(
                "      Storage Element {n}:Full :VolumeTag=KILL{n:02}L6\n"
            ));
        } else {
            t.push_str(&format!("      Storage Element {n}:Empty\n"));
        }
    }
    t
}

/// barcode → address after applying the journal's settled moves to `initial`.
fn replay(initial: &BTreeMap<String, u16>, journal: &str) -> BTreeMap<String, u16> {
    let mut at = initial.clone();
    let mut intents: BTreeMap<u64, (u16, u16)> = BTreeMap::new();
    for line in journal.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let seq = v["seq"].as_u64().unwrap();
        let moved = match v["event"].as_str().unwrap() {
            "intent" => {
                let a = |k: &str| u16::try_from(v[k]["address"].as_u64().unwrap()).unwrap();
                intents.insert(seq, (a("source"), a("destination")));
                continue;
            }
            "done" => v["result"] == "ok",
            "recovered" => match v["result"].as_str().unwrap() {
                "moved" => true,
                "not_moved" => false,
                other => panic!("move {seq} recovered as {other}: {line}"),
            },
            other => panic!("unknown event {other}"),
        };
        let (src, dst) = intents.remove(&seq).expect("an outcome follows its intent");
        if moved {
            let tag = at
                .iter()
                .find(|(_, a)| **a == src)
                .map(|(t, _)| t.clone())
                .unwrap_or_else(|| panic!("move {seq}: nothing at {src} to move"));
            assert!(!at.values().any(|a| *a == dst), "move {seq}: {dst} full");
            at.insert(tag, dst);
        }
    }
    assert!(intents.is_empty(), "unsettled moves left: {intents:?}");
    at
}

#[test]
fn kills_at_random_instants_lose_nothing_and_the_journal_agrees() {
    let mut d = Daemon::new(&library(), "", "");
    d.start();
    let initial = placement(&truth(&d.library));
    let mut rng = Lcg(20261203);
    let mut attempted = 0;
    let mut kills = 0;
    let mut answered = 0;
    while attempted < MOVES {
        // A move from a random full element to a random empty one, as the truth stands.
        let inv = truth(&d.library);
        let all: Vec<_> = inv.storage.iter().chain(&inv.drives).collect();
        let full: Vec<_> = all.iter().filter(|e| e.full).collect();
        let empty: Vec<_> = all.iter().filter(|e| !e.full).collect();
        let slot_or_drive =
            |e: &scsi_changer::element::ElementStatus| match inv.drive_index(e.address) {
                Some(i) => changer_proto::Place::Drive(i.0),
                None => changer_proto::Place::Slot(inv.slot_number(e.address).unwrap().0),
            };
        let from = slot_or_drive(full[usize::try_from(rng.next(full.len() as u64)).unwrap()]);
        let to = slot_or_drive(empty[usize::try_from(rng.next(empty.len() as u64)).unwrap()]);
        let kill_after = Duration::from_millis(rng.next(60));
        let kill_now = rng.next(4) == 0;
        attempted += 1;
        let socket = d.socket.clone();
        let device = d.device();
        let mover = std::thread::spawn(move || {
            let c = changer::config::Config {
                socket,
                ..Default::default()
            };
            changer::client::request(
                &c,
                RequestBody::Move {
                    library: LibraryRef {
                        device,
                        serial: None,
                    },
                    from,
                    to,
                    budget_ms: 30_000,
                    dry_run: false,
                    force: false,
                },
                std::time::Instant::now() + Duration::from_secs(30),
            )
        });
        if kill_now {
            std::thread::sleep(kill_after);
            d.kill();
            kills += 1;
        }
        match mover.join().unwrap() {
            Ok(answer) => {
                assert!(
                    matches!(answer.body, AnswerBody::Moved { .. }),
                    "{:?}",
                    answer.body
                );
                answered += 1;
            }
            Err(e) => assert!(kill_now, "no answer without a kill: {e}"),
        }
        if kill_now {
            d.start();
            // The first answer after a restart is the truth.
            let (listall, _, status) = d.bareos(BareosCommand::Listall);
            assert_eq!(status, 0);
            assert_eq!(
                listall,
                changer::protocol::listall(&truth(&d.library)),
                "after kill {kills}"
            );
        }
    }
    assert!(kills >= 20, "only {kills} kills");
    assert!(answered >= MOVES / 2, "only {answered} moves answered");
    assert!(d.terminate().success());
    let final_placement = placement(&truth(&d.library));
    assert_eq!(
        final_placement.len(),
        initial.len(),
        "a cartridge was lost or duplicated"
    );
    let journal = d.journal();
    assert_eq!(
        replay(&initial, &journal),
        final_placement,
        "the journal disagrees with the library"
    );
    let recovered = journal
        .lines()
        .filter(|l| l.contains("\"recovered\""))
        .count();
    assert!(
        recovered >= 3,
        "only {recovered} moves were cut short: the kills missed the moves"
    );
    // Kills landed on both sides of the cartridge's arrival.
    let moved = journal.matches("\"result\":\"moved\"").count();
    let not_moved = journal.matches("\"result\":\"not_moved\"").count();
    assert!(
        moved >= 1 && not_moved >= 1,
        "recovered: {moved} moved, {not_moved} not moved"
    );
    eprintln!(
        "{MOVES} moves, {kills} kills, {answered} answered, {recovered} recovered ({moved} moved, {not_moved} not moved)"
    );
}
