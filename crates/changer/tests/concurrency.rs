//! Twenty `changer` processes at once on one simulated library: moves never interleave (the
//! per-library lock, checked in the shared log) and no cartridge is lost or duplicated.

mod common;
mod mixed_moves;

use common::*;

#[test]
fn twenty_processes_never_interleave_moves_or_lose_a_tape() {
    let lib = Lib::new(&mixed_moves::library(), "");
    let before = barcodes(&lib.text());
    assert_eq!(before.len(), 12);
    let succeeded = mixed_moves::run_rounds(&lib.device(), &|| lib.command());
    assert_eq!(
        barcodes(&lib.text()),
        before,
        "cartridges lost or duplicated"
    );
    assert!(
        succeeded >= 10,
        "only {succeeded} of 80 operations succeeded"
    );
    // Replay the lock events of the shared log: an exclusive holder is always alone.
    let log = lib.log();
    let field = |line: &str, key: &str| {
        line.split(&format!("{key}="))
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .map(str::to_owned)
    };
    let mut exclusive: Option<String> = None;
    let mut shared: Vec<String> = Vec::new();
    let mut events = 0;
    for line in log.lines().filter(|l| l.contains("library lock")) {
        let pid = field(line, "pid").expect("pid in lock events");
        let mode = field(line, "mode").expect("mode in lock events");
        events += 1;
        if line.contains("library lock taken") {
            assert!(
                exclusive.is_none(),
                "pid {pid} took a {mode} lock while {exclusive:?} held it exclusively"
            );
            if mode == "Exclusive" {
                assert!(
                    shared.is_empty(),
                    "pid {pid} took the lock exclusively while {shared:?} read"
                );
                exclusive = Some(pid);
            } else {
                shared.push(pid);
            }
        } else if mode == "Exclusive" {
            assert_eq!(exclusive.take().as_ref(), Some(&pid));
        } else {
            shared.retain(|p| *p != pid);
        }
    }
    assert_eq!(
        events,
        2 * 80,
        "every invocation took and released the lock once"
    );
}
