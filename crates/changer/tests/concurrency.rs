//! Twenty `changer` processes at once on one simulated library: moves never interleave (the
//! per-library lock, checked in the shared log) and no cartridge is lost or duplicated.

mod common;
use common::*;

const LIBRARY: &str = "  Storage Changer /dev/sg3:4 Drives, 24 Slots ( 4 Import/Export )
Data Transfer Element 0:Empty
Data Transfer Element 1:Empty
Data Transfer Element 2:Empty
Data Transfer Element 3:Empty
";

fn library() -> String {
    let mut text = LIBRARY.to_owned();
    for slot in 1..=24u16 {
        let ie = if slot > 20 { " IMPORT/EXPORT" } else { "" };
        if slot % 2 == 1 {
            text.push_str(&format!(
                "      Storage Element {slot}{ie}:Full :VolumeTag=CONC{slot:02}L6\n"
            ));
        } else {
            text.push_str(&format!("      Storage Element {slot}{ie}:Empty\n"));
        }
    }
    text
}

/// A small deterministic generator, so a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[test]
fn twenty_processes_never_interleave_moves_or_lose_a_tape() {
    let lib = Lib::new(&library(), "");
    let before = barcodes(&lib.text());
    assert_eq!(before.len(), 12);
    let mut rng = Lcg(20261126);
    let mut succeeded = 0;
    for _round in 0..4 {
        let children: Vec<_> = (0..20)
            .map(|_| {
                let drive = rng.next(4);
                let args: Vec<String> = match rng.next(3) {
                    0 => vec![
                        "load".into(),
                        (rng.next(24) + 1).to_string(),
                        format!("/dev/nst{drive}"),
                        drive.to_string(),
                    ],
                    1 => vec![
                        "unload".into(),
                        (rng.next(20) + 1).to_string(),
                        format!("/dev/nst{drive}"),
                        drive.to_string(),
                    ],
                    _ => vec![
                        "transfer".into(),
                        (rng.next(24) + 1).to_string(),
                        (rng.next(24) + 1).to_string(),
                    ],
                };
                let mut all = vec![lib.device()];
                all.extend(args);
                lib.command()
                    .args(&all)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            let code = out.status.code();
            assert!(
                matches!(code, Some(0) | Some(1)),
                "exit {code:?}: {}",
                String::from_utf8_lossy(&out.stdout)
            );
            // A refusal must be one of the library's honest answers, never a lock timeout or decode error.
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            if code == Some(0) {
                succeeded += 1;
            } else {
                assert!(
                    ["Full", "Empty", "invalid slot", "is drive"]
                        .iter()
                        .any(|p| text.contains(p)),
                    "unexpected failure: {text}"
                );
            }
        }
    }
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
