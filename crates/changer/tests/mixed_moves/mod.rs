//! The workload of the concurrency tests: rounds of twenty `changer` processes at once doing
//! random loads, unloads and transfers on a 4-drive, 24-slot library. Shared by direct mode
//! (crates/changer/tests/concurrency.rs) and through the daemon
//! (crates/changerd/tests/daemon_concurrency.rs).
#![allow(dead_code)]

use std::process::{Command, Stdio};

/// Rounds and processes per round: 80 invocations in all.
pub const ROUNDS: usize = 4;
/// Processes started at once.
pub const AT_ONCE: usize = 20;

/// A small deterministic generator, so a failure can be replayed.
pub struct Lcg(pub u64);

impl Lcg {
    /// A number below `n`.
    pub fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// 4 drives, 20 storage and 4 I/E slots, a cartridge in every odd slot.
pub fn library() -> String {
    let mut text = String::from(
        "  Storage Changer /dev/sg3:4 Drives, 24 Slots ( 4 Import/Export )\n\
         Data Transfer Element 0:Empty\nData Transfer Element 1:Empty\n\
         Data Transfer Element 2:Empty\nData Transfer Element 3:Empty\n",
    );
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

/// Runs the rounds on `device`, each process from `command()` (a `changer` set up for the
/// mode under test), and returns how many succeeded. Every failure must be one of the
/// library's honest answers, never a lock timeout or a decode error.
pub fn run_rounds(device: &str, command: &dyn Fn() -> Command) -> usize {
    let mut rng = Lcg(20261126);
    let mut succeeded = 0;
    for _round in 0..ROUNDS {
        let children: Vec<_> = (0..AT_ONCE)
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
                command()
                    .arg(device)
                    .args(&args)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            let code = out.status.code();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(matches!(code, Some(0) | Some(1)), "exit {code:?}: {text}");
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
    succeeded
}
