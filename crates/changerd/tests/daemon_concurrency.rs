//! 100 clients × 50 mixed requests (reads, transfers, loads and unloads) at once on the AWS
//! geometry, through the socket: every request is answered, the journal and the daemon's log
//! show the moves one after the other, never interleaved, and the final library equals the
//! model each client kept of its own cartridge.

mod common;
use common::*;

use changer_proto::BareosCommand;

const CLIENTS: u16 = 100;
const REQUESTS: usize = 50;

/// What one client did: where its cartridge ended, and how many of its moves succeeded.
struct Outcome {
    client: u16,
    slot: u16,
    moves: usize,
}

/// Client `k` owns the cartridge of slot k+1 and the empty storage slots 101+15k … 115+15k;
/// it shares drive k mod 10 with nine others.
fn client(d: &Daemon, k: u16) -> Outcome {
    let mut rng = Lcg(0x5eed_0000 + u64::from(k));
    let drive = k % 10;
    let nst = format!("/dev/nst{drive}");
    let own: Vec<u16> = (0..15).map(|i| 101 + 15 * k + i).collect();
    let mut here = k + 1;
    let mut moves = 0;
    let mut sent = 0;
    while sent < REQUESTS {
        sent += 1;
        match rng.next(7) {
            0 => assert_eq!(
                d.bareos(BareosCommand::Slots),
                ("3200\n".into(), String::new(), 0)
            ),
            1 => {
                let (out, _, status) = d.bareos(BareosCommand::List);
                assert_eq!(status, 0);
                assert!(
                    out.contains(&format!("{here}:AWS{:05}\n", k + 1)),
                    "client {k}: slot {here} in\n{out}"
                );
            }
            2 => {
                let (out, _, status) = d.bareos(BareosCommand::Listall);
                assert_eq!(status, 0);
                assert!(
                    out.contains(&format!("S:{here}:F:AWS{:05}", k + 1)),
                    "client {k}"
                );
            }
            3 => {
                let (out, err, status) = d.bareos(BareosCommand::Loaded {
                    drive,
                    archive_device: nst.clone(),
                });
                assert_eq!(status, 0, "client {k}: loaded: {out}{err}");
            }
            4 | 5 => {
                let to = own[usize::try_from(rng.next(15)).unwrap()];
                if to == here {
                    continue;
                }
                let answer = d.bareos(BareosCommand::Transfer { from: here, to });
                assert_eq!(
                    answer,
                    (String::new(), String::new(), 0),
                    "client {k}: transfer {here} -> {to}"
                );
                here = to;
                moves += 1;
            }
            _ => {
                let (out, _, status) = d.bareos(BareosCommand::Load {
                    slot: here,
                    drive,
                    archive_device: nst.clone(),
                });
                if status != 0 {
                    // Another client's cartridge is in the shared drive.
                    assert!(
                        out.contains(&format!("Drive {drive} Full")),
                        "client {k}: {out}"
                    );
                    continue;
                }
                moves += 1;
                if sent < REQUESTS {
                    sent += 1;
                }
                let (out, _, status) = d.bareos(BareosCommand::Unload {
                    slot: here,
                    drive,
                    archive_device: nst.clone(),
                });
                assert_eq!(
                    (out.as_str(), status),
                    (
                        format!("Unloading drive {drive} into Storage Element {here}...done\n")
                            .as_str(),
                        0
                    ),
                    "client {k}"
                );
                moves += 1;
            }
        }
    }
    Outcome {
        client: k,
        slot: here,
        moves,
    }
}

#[test]
fn a_hundred_clients_are_all_answered_and_moves_never_interleave() {
    let mut d = Daemon::new(&aws_library(""), "", "");
    d.start();
    let initial = truth(&d.library);
    let outcomes: Vec<Outcome> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|k| {
                let d = &d;
                s.spawn(move || client(d, k))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let moves: usize = outcomes.iter().map(|o| o.moves).sum();
    assert!(
        moves > 500,
        "only {moves} moves: the mix is too thin to prove anything"
    );

    // The model: every client's cartridge where it last put it, the rest untouched.
    let final_inv = truth(&d.library);
    let got = placement(&final_inv);
    let mut want = placement(&initial);
    for o in &outcomes {
        let address = initial
            .slot(scsi_changer::SlotNumber(o.slot))
            .unwrap()
            .address
            .0;
        want.insert(format!("AWS{:05}", o.client + 1), address);
    }
    assert_eq!(got, want, "final library differs from the model");
    assert!(final_inv.drives.iter().all(|d| !d.full));

    // The journal: each intent is followed by its own outcome before the next intent.
    let journal = d.journal();
    let mut open: Option<u64> = None;
    let mut done = 0;
    for line in journal.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let seq = v["seq"].as_u64().unwrap();
        match v["event"].as_str().unwrap() {
            "intent" => {
                assert_eq!(
                    open, None,
                    "move {seq} began while move {open:?} was under way"
                );
                open = Some(seq);
            }
            "done" => {
                assert_eq!(
                    open,
                    Some(seq),
                    "an outcome for a move that was not under way"
                );
                assert_eq!(v["result"], "ok", "{line}");
                open = None;
                done += 1;
            }
            other => panic!("unexpected journal event {other}"),
        }
    }
    assert_eq!(done, moves, "every successful move is journalled once");

    // The daemon's log shows the same: started/finished strictly alternate.
    assert!(d.terminate().success());
    let log = d.log_text();
    let mut under_way = false;
    let mut seen = 0;
    for line in log.lines() {
        if line.contains("move started") {
            assert!(!under_way, "two moves at once:\n{line}");
            under_way = true;
            seen += 1;
        } else if line.contains("move finished") {
            assert!(under_way, "a move finished that had not started:\n{line}");
            under_way = false;
        }
    }
    assert_eq!(seen, moves);
}

/// The direct-mode concurrency test (crates/changer/tests/concurrency.rs) again, with every
/// `changer` process going through the daemon: 4 rounds of 20 processes at once, random
/// loads, unloads and transfers on a 4-drive, 24-slot library.
#[test]
fn twenty_changer_processes_through_the_daemon_never_interleave_or_lose_a_tape() {
    let mut d = Daemon::new(&mixed_moves::library(), "", "");
    d.start();
    let before = placement(&truth(&d.library));
    let succeeded = mixed_moves::run_rounds(&d.device(), &|| d.changer());
    let after = placement(&truth(&d.library));
    let mut tags: Vec<_> = after.keys().collect();
    tags.sort();
    assert_eq!(
        tags,
        before.keys().collect::<Vec<_>>(),
        "cartridges lost or duplicated"
    );
    assert!(
        succeeded >= 10,
        "only {succeeded} of 80 operations succeeded"
    );
    let log = std::fs::read_to_string(d.dir.path().join("changer.log")).unwrap();
    assert_eq!(
        log.matches("answered by changerd").count(),
        80,
        "every process went through the daemon"
    );
    assert!(d.terminate().success());
    let mut under_way = false;
    for line in d.log_text().lines() {
        if line.contains("move started") {
            assert!(!under_way, "two moves at once: {line}");
            under_way = true;
        } else if line.contains("move finished") {
            under_way = false;
        }
    }
}
