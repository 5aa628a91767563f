//! The compatibility corpus as a check that any way of running `changer` must pass: direct
//! (crates/changer/tests/compat_corpus.rs) and through `changerd`
//! (crates/changerd/tests/daemon_compat.rs). Every case of tests/fixtures/compat-corpus (the
//! stock Bareos 25 mtx-changer's recorded answers): stdout and exit status must equal the
//! script's, except for the deliberate fixes of contract C1, asserted one by one
//! (docs/compat-mtx-changer.md).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/compat-corpus")
}

/// A deliberate deviation: what we print and return instead of the script.
struct Deviation {
    case: &'static str,
    stem: &'static str,
    status: i32,
    /// Expected stdout; `None` = same as the script's.
    stdout: Option<&'static str>,
    /// A phrase stderr must contain (stdout then must be empty) when `stdout` is not given.
    contains: Option<&'static str>,
    why: &'static str,
}

const DEVIATIONS: &[Deviation] = &[
    Deviation {
        case: "08-unknown-source-slot-full-library",
        stem: "loaded-drive0",
        status: 1,
        stdout: None,
        contains: Some("does not know which slot it came from"),
        why: "C1: a full drive with unknown home and no free slot is not reported as 0/`Element`",
    },
    Deviation {
        case: "08-unknown-source-slot-full-library",
        stem: "loaded-drive1",
        status: 1,
        stdout: None,
        contains: Some("does not know which slot it came from"),
        why: "C1: as above",
    },
    Deviation {
        case: "08-unknown-source-slot-full-library",
        stem: "listall",
        status: 0,
        stdout: Some(
            "D:0:F::ORPH01L7\nD:1:F::\nS:1:F:FULL01L7\nS:2:F:FULL02L7\nS:3:F:FULL03L7\nS:4:F:FULL04L7\n\
             S:5:F:FULL05L7\nS:6:F:FULL06L7\nS:7:F:FULL07L7\nS:8:F:FULL08L7\n",
        ),
        contains: None,
        why: "C1: D:<n>:F::<tag> instead of the malformed `D:0Full (Unknown …)` lines",
    },
    Deviation {
        case: "01-autoloader-1drive-8slots-barcodes",
        stem: "load-slot5-drive0",
        status: 1,
        stdout: Some(
            "Loading media from Storage Element 5 into drive 0...Source Element Address 1004 is Empty \
             (slot 5 is empty; no drive reports a cartridge from it)\n",
        ),
        contains: None,
        why: "mtx's phrase first (Bareos matches it), then the slot in the admin's numbers and where \
              its cartridge is",
    },
    Deviation {
        case: "11-mtx-status-error",
        stem: "slots",
        status: 1,
        stdout: Some(""),
        contains: None,
        why: "C1: slots exits 1 when the library cannot be read",
    },
];

fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Strips trailing blanks per line: the only difference C1 allows in `listall`.
fn without_trailing_blanks(s: &str) -> String {
    s.lines()
        .map(|l| l.trim_end_matches(' '))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One invocation to run: a fresh directory holding the library copy (absent when the case
/// has no library) and a config file; `args` start with `sim:<library>`.
pub struct Invocation<'a> {
    /// The invocation's own directory.
    pub dir: &'a Path,
    /// The library file.
    pub library: &'a Path,
    /// The config file (`lock_dir` in `dir`).
    pub config: &'a Path,
    /// Protocol-mode arguments.
    pub args: &'a [String],
}

/// Runs every corpus invocation through `run`, asserts that none differs and that the corpus
/// was there in full (40 invocations at least).
pub fn assert_all_match(run: &dyn Fn(&Invocation<'_>) -> std::process::Output) {
    let (checked, failures) = check_all(run);
    assert!(
        failures.is_empty(),
        "{} of {checked} invocations differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked >= 40, "only {checked} invocations checked");
}

/// Runs every corpus invocation through `run` and returns how many were checked and what
/// differed.
pub fn check_all(run: &dyn Fn(&Invocation<'_>) -> std::process::Output) -> (usize, Vec<String>) {
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus())
        .expect("corpus present")
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("invocations.txt").exists())
        .collect();
    cases.sort();
    assert!(cases.len() >= 9, "corpus incomplete: {cases:?}");
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let statuses: BTreeMap<String, i32> = lines_of(&case.join("exit-codes.txt"))
            .iter()
            .filter_map(|l| {
                l.split_once(' ')
                    .map(|(s, c)| (s.to_owned(), c.parse().unwrap()))
            })
            .collect();
        for invocation in lines_of(&case.join("invocations.txt")) {
            let (stem, argv) = invocation
                .split_once(": mtx-changer ")
                .expect("invocation line");
            let dir = tempfile::tempdir().unwrap();
            // A fresh copy per invocation: loads and unloads change the library.
            let library = dir.path().join("library.txt");
            let status_text =
                std::fs::read_to_string(case.join("mtx-status.txt")).unwrap_or_default();
            if !status_text.is_empty() {
                std::fs::write(&library, status_text).unwrap();
            }
            let config = dir.path().join("changer.toml");
            std::fs::write(
                &config,
                format!("lock_dir = \"{}\"\n", dir.path().join("locks").display()),
            )
            .unwrap();
            let mut args: Vec<String> = argv.split(' ').map(str::to_owned).collect();
            args[0] = format!("sim:{}", library.display());
            let out = run(&Invocation {
                dir: dir.path(),
                library: &library,
                config: &config,
                args: &args,
            });
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let status = out.status.code().unwrap_or(-1);
            let expected =
                std::fs::read_to_string(case.join(format!("expected-{stem}.txt"))).unwrap();
            let deviation = DEVIATIONS.iter().find(|d| d.case == name && d.stem == stem);
            let (want_status, ok) = match deviation {
                Some(d) => {
                    let ok = match (d.stdout, d.contains) {
                        (Some(exact), _) => {
                            without_trailing_blanks(&stdout) == without_trailing_blanks(exact)
                        }
                        (None, Some(phrase)) => {
                            stdout.is_empty()
                                && String::from_utf8_lossy(&out.stderr).contains(phrase)
                        }
                        (None, None) => stdout == expected,
                    };
                    (d.status, ok)
                }
                None if stem == "listall" => (
                    statuses[stem],
                    without_trailing_blanks(&stdout) == without_trailing_blanks(&expected),
                ),
                None => (statuses[stem], stdout == expected),
            };
            checked += 1;
            if !ok || status != want_status {
                failures.push(format!(
                    "{name} {stem}: status {status} (want {want_status}){}\n--- got stdout\n{stdout}--- want\n{expected}--- stderr\n{}",
                    deviation.map(|d| format!(" [deviation: {}]", d.why)).unwrap_or_default(),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            // Nothing on stderr before the payload: a successful answer writes no stderr at all.
            if status == 0 {
                assert!(
                    out.stderr.is_empty(),
                    "{name} {stem}: stderr on success: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
    }
    (checked, failures)
}
