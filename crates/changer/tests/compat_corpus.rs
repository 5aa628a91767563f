//! Every case of the compatibility corpus through `changer sim:<copy of mtx-status.txt>` in
//! direct mode (the check itself is tests/corpus/mod.rs; changerd's tests run it through the
//! daemon).

mod corpus;

use std::process::Command;

use corpus::corpus;

#[test]
fn every_corpus_case_matches_the_stock_script_or_a_documented_fix() {
    let exe = env!("CARGO_BIN_EXE_changer");
    corpus::assert_all_match(&|inv| {
        Command::new(exe)
            .args(inv.args)
            .env("CHANGER_CONFIG", inv.config)
            .env("CHANGER_SOCKET", inv.dir.join("no-daemon.sock"))
            .output()
            .unwrap()
    });
}

#[test]
fn listall_is_byte_identical_including_padding() {
    // Stronger than C1 requires: our listall keeps the script's blank padding too.
    let case = corpus().join("07-unusual-spacing-and-tags");
    let dir = tempfile::tempdir().unwrap();
    let library = dir.path().join("l.txt");
    std::fs::copy(case.join("mtx-status.txt"), &library).unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!("lock_dir = \"{}\"\n", dir.path().display()),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_changer"))
        .args([
            &format!("sim:{}", library.display()),
            "listall",
            "0",
            "/dev/nst0",
            "0",
        ])
        .env("CHANGER_CONFIG", &config)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        std::fs::read_to_string(case.join("expected-listall.txt")).unwrap()
    );
}
