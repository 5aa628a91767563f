//! The AWS Storage Gateway lifecycle end to end (contract C7): a simulated library shared with
//! the project's emulator (`sgw-emulator`, real HTTP on 127.0.0.1), the real `changerd` with
//! the real AWS SDK, and the real `changer` binary as Bareos' Changer Command and as the
//! operator's tool.

mod common;

use std::path::Path;
use std::process::Output;

use common::{Daemon, Emulator, GATEWAY_ARN, aws_test_env, eventually};
use serde_json::json;

/// 2 drives, 8 storage slots (AMZN0001–AMZN0005 in 1–5), 4 I/E slots (9–12).
const SMALL_GATEWAY: &str = "# sim: changer vendor=STK product=L700 serial=SGW-SMALL-MC
  Storage Changer /dev/sg11:2 Drives, 12 Slots ( 4 Import/Export )
Data Transfer Element 0:Empty
Data Transfer Element 1:Empty
      Storage Element 1:Full :VolumeTag=AMZN0001
      Storage Element 2:Full :VolumeTag=AMZN0002
      Storage Element 3:Full :VolumeTag=AMZN0003
      Storage Element 4:Full :VolumeTag=ARC00004
      Storage Element 5:Full :VolumeTag=ARC00005
      Storage Element 6:Empty
      Storage Element 7:Empty
      Storage Element 8:Empty
      Storage Element 9 IMPORT/EXPORT:Empty
      Storage Element 10 IMPORT/EXPORT:Empty
      Storage Element 11 IMPORT/EXPORT:Empty
      Storage Element 12 IMPORT/EXPORT:Empty
";

/// A library, the emulator sharing it, and a daemon with a gateway table pointing at it.
struct Site {
    daemon: Daemon,
    emulator: Emulator,
}

/// `emulator_args` come after `--library PATH --seed-from-library`; `tables` is TOML that
/// follows `[library.gateway]`'s own keys (more gateway keys, then `[library.export]`, …).
fn site(text: &str, emulator_args: &[&str], tables: &str) -> Site {
    site_polling(
        text,
        emulator_args,
        "health_interval = 0.5\ntapes_interval = 2\n",
        tables,
    )
}

/// [`site`] with other poll intervals (`health_interval`, `tapes_interval`).
fn site_polling(text: &str, emulator_args: &[&str], intervals: &str, tables: &str) -> Site {
    let mut daemon = Daemon::new(text, "", "");
    let library = daemon.library.display().to_string();
    let mut args = vec!["--library", &library, "--seed-from-library"];
    args.extend_from_slice(emulator_args);
    let emulator = Emulator::start(daemon.dir.path(), &args);
    let hooks = daemon.dir.path().join("hooks.log");
    let mut config = std::fs::read_to_string(&daemon.config).unwrap();
    config.push_str(&format!(
        "[library.gateway]\ngateway_arn = \"{GATEWAY_ARN}\"\nregion = \"us-east-1\"\nendpoint_url = \"{}\"\n\
         {intervals}follow_interval = 0.1\nfollow_max_interval = 0.4\n\
         retrieved_hook = \"echo retrieved $CHANGER_BARCODES slots $CHANGER_SLOTS >> {h}\"\n\
         created_hook = \"echo created $CHANGER_BARCODES slots $CHANGER_SLOTS >> {h}\"\n{tables}\n",
        emulator.endpoint,
        h = hooks.display()
    ));
    std::fs::write(&daemon.config, config).unwrap();
    daemon.env = aws_test_env(daemon.dir.path());
    daemon.start();
    Site { daemon, emulator }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `changer tapes --json`, by barcode.
fn tapes(d: &Daemon) -> serde_json::Map<String, serde_json::Value> {
    let out = human(d, &["tapes", "--json"]);
    assert!(out.status.success(), "changer tapes: {}", text(&out));
    let all: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    all.into_iter()
        .map(|t| (t["barcode"].as_str().unwrap().to_owned(), t))
        .collect()
}

fn status_of(d: &Daemon, barcode: &str) -> Option<(String, Option<String>)> {
    tapes(d).get(barcode).map(|t| {
        (
            t["status"].as_str().unwrap_or("").to_owned(),
            t["location"].as_str().map(str::to_owned),
        )
    })
}

/// `changer CMD DEVICE ARGS…`, a human command on the site's library.
fn human(d: &Daemon, args: &[&str]) -> Output {
    let (command, rest) = args.split_first().expect("a command");
    d.changer()
        .arg(command)
        .arg(d.device())
        .args(rest)
        .output()
        .unwrap()
}

fn hooks(d: &Daemon) -> String {
    std::fs::read_to_string(d.dir.path().join("hooks.log")).unwrap_or_default()
}

fn holds(library: &Path, barcode: &str) -> bool {
    std::fs::read_to_string(library)
        .unwrap()
        .contains(&format!("VolumeTag={barcode}"))
}

#[test]
fn export_by_transfer_on_the_aws_geometry_is_archived_and_leaves_the_library() {
    let s = site(
        &common::aws_library(""),
        &["--transit-ms", "300", "--archiving-ms", "300"],
        "[library.export]\npolicy = \"allow\"\n",
    );
    let d = &s.daemon;
    // Bareos' `export` of slot 5 into the first free I/E slot.
    let out = d.run(&["transfer", "5", "1611"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let seen = eventually(30, "AWS00005 ARCHIVED on the shelf", || {
        status_of(d, "AWS00005").filter(|(s, _)| s == "ARCHIVED")
    });
    assert_eq!(seen.1.as_deref(), Some("shelf"));
    assert!(!holds(&d.library, "AWS00005"), "the gateway took it out");
    // The daemon's cached picture followed the gateway: Bareos no longer sees the tape.
    let listall = d.run(&["listall"]);
    assert!(!text(&listall).contains("AWS00005"), "{}", text(&listall));
    let log = d.log_text();
    assert!(
        log.contains("archival started") && log.contains("requested_by=\"uid "),
        "{log}"
    );
    let metrics_free = s.emulator.calls();
    assert!(metrics_free.get("DescribeTapes").copied().unwrap_or(0) >= 1);
}

#[test]
fn the_export_policy_refuses_a_barcode_it_does_not_list_and_the_tape_stays() {
    let s = site(
        SMALL_GATEWAY,
        &[],
        "[library.export]\npolicy = \"listed\"\nbarcodes = [\"ARC*\"]\n",
    );
    let d = &s.daemon;
    let before = d.text();
    let out = d.run(&["transfer", "1", "9"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert_eq!(said.trim_end().lines().count(), 1, "one line: {said}");
    assert!(
        said.contains("AMZN0001") && said.contains("refused") && said.contains("ARC*"),
        "{said}"
    );
    assert_eq!(d.text(), before, "nothing moved");
    assert_eq!(
        status_of(d, "AMZN0001"),
        Some(("AVAILABLE".into(), Some("slot:1".into())))
    );
    // A listed barcode goes.
    let out = d.run(&["transfer", "4", "9"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn an_unhealthy_gateway_refuses_exports_unless_forced() {
    let s = site(SMALL_GATEWAY, &[], "[library.export]\npolicy = \"allow\"\n");
    let d = &s.daemon;
    let before = d.text();
    s.emulator
        .control("SetFaults", json!({"CacheDirtyPercent": 95.0}));
    let out = d.run(&["transfer", "1", "9"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("dirty"), "{}", text(&out));
    assert_eq!(d.text(), before);
    // The operator may insist (the policy still applies).
    let out = human(d, &["move", "2", "10", "--force"]);
    assert!(out.status.success(), "{}", text(&out));
    s.emulator.control(
        "SetFaults",
        json!({"CacheDirtyPercent": 0.0, "Disconnected": true}),
    );
    let out = d.run(&["transfer", "3", "11"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("not connected"), "{}", text(&out));
    assert!(holds(&d.library, "AMZN0003"));
    s.emulator.control(
        "SetFaults",
        json!({"GatewayState": "SHUTDOWN", "Disconnected": false}),
    );
    let out = d.run(&["transfer", "3", "11"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("not running"), "{}", text(&out));
}

#[test]
fn a_dry_run_shows_the_archival_and_moves_nothing() {
    let s = site(SMALL_GATEWAY, &[], "[library.export]\npolicy = \"allow\"\n");
    let d = &s.daemon;
    let before = d.text();
    let out = human(d, &["move", "1", "9", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("would archive AMZN0001") && said.contains("allowed"),
        "{said}"
    );
    assert_eq!(d.text(), before);
    let out = human(d, &["move", "1", "6", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("is possible"), "{}", text(&out));
}

#[test]
fn direct_mode_refuses_exports_on_a_gateway_library() {
    let mut s = site(SMALL_GATEWAY, &[], "[library.export]\npolicy = \"allow\"\n");
    s.daemon.terminate();
    let d = &s.daemon;
    let before = d.text();
    let out = d.run(&["transfer", "1", "9"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("only changerd"), "{}", text(&out));
    assert_eq!(d.text(), before);
    // Other moves still work directly.
    let out = d.run(&["transfer", "1", "6"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn retrieval_imports_the_tape_read_only_and_runs_the_hook() {
    let s = site(
        SMALL_GATEWAY,
        &["--tape", "OLD00001=ARCHIVED", "--retrieving-ms", "300"],
        "[library.export]\npolicy = \"deny\"\n",
    );
    let d = &s.daemon;
    assert_eq!(
        status_of(d, "OLD00001"),
        Some(("ARCHIVED".into(), Some("shelf".into())))
    );
    let out = human(d, &["retrieve", "OLD00001", "--wait", "30"]);
    assert!(out.status.success(), "{}", text(&out));
    let (status, location) = status_of(d, "OLD00001").unwrap();
    assert_eq!(status, "RETRIEVED", "read-only");
    assert_eq!(
        location.as_deref(),
        Some("slot:6"),
        "lowest free storage slot"
    );
    assert!(
        d.text()
            .contains("Storage Element 6:Full :VolumeTag=OLD00001")
    );
    let h = eventually(10, "the retrieved hook", || {
        Some(hooks(d)).filter(|h| h.contains("retrieved"))
    });
    assert!(h.contains("retrieved OLD00001 slots 6"), "{h}");
}

#[test]
fn the_low_water_mark_creates_and_imports_new_tapes_once() {
    let s = site(
        SMALL_GATEWAY,
        &["--creating-ms", "200"],
        "[library.export]\npolicy = \"allow\"\n\
         [[library.new_tapes]]\nbarcode_prefix = \"NEW\"\nmin_available = 2\nsize_gib = 100\npool = \"GLACIER\"\n",
    );
    let d = &s.daemon;
    let imported = eventually(30, "two NEW tapes in storage slots", || {
        let t = tapes(d);
        let new: Vec<String> = t
            .values()
            .filter(|v| v["barcode"].as_str().unwrap().starts_with("NEW"))
            .filter(|v| {
                v["location"]
                    .as_str()
                    .is_some_and(|l| l.starts_with("slot:"))
            })
            .map(|v| v["barcode"].as_str().unwrap().to_owned())
            .collect();
        (new.len() == 2).then_some(new)
    });
    let h = eventually(10, "the created hook", || {
        Some(hooks(d)).filter(|h| h.contains("created"))
    });
    for b in &imported {
        assert!(h.contains(b.as_str()), "{h}");
    }
    // Some polls later, still two: the mark is kept, not overshot.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let new = tapes(d).keys().filter(|b| b.starts_with("NEW")).count();
    assert_eq!(new, 2);
    assert_eq!(s.emulator.calls().get("CreateTapes").copied(), Some(1));
}

#[test]
fn cancel_archival_while_in_transit_keeps_the_tape() {
    let s = site(
        SMALL_GATEWAY,
        &["--transit-ms", "60000"],
        "[library.export]\npolicy = \"allow\"\n",
    );
    let d = &s.daemon;
    let out = d.run(&["transfer", "2", "9"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    eventually(10, "AMZN0002 IN TRANSIT TO VTS", || {
        status_of(d, "AMZN0002").filter(|(s, _)| s == "IN TRANSIT TO VTS")
    });
    let out = human(d, &["cancel-archival", "AMZN0002"]);
    assert!(out.status.success(), "{}", text(&out));
    let (status, location) = status_of(d, "AMZN0002").unwrap();
    assert_eq!(status, "AVAILABLE");
    assert_eq!(location.as_deref(), Some("ie:9"));
    // Too late once it is available again: a clear refusal.
    let out = human(d, &["cancel-archival", "AMZN0002"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("IN TRANSIT TO VTS"), "{}", text(&out));
}

#[test]
fn throttling_and_a_disconnected_gateway_give_clear_errors_and_the_daemon_goes_on() {
    let s = site(SMALL_GATEWAY, &[], "[library.export]\npolicy = \"allow\"\n");
    let d = &s.daemon;
    s.emulator.control("SetFaults", json!({"Throttle": 100}));
    let out = human(d, &["tapes"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).to_lowercase().contains("throttl"),
        "{}",
        text(&out)
    );
    s.emulator.control("SetFaults", json!({"Throttle": 0}));
    // A few throttled answers are absorbed by the SDK's retries.
    s.emulator.control("SetFaults", json!({"Throttle": 1}));
    assert!(status_of(d, "AMZN0001").is_some());
    s.emulator
        .control("SetFaults", json!({"Disconnected": true}));
    let out = human(d, &["tapes"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("not connected"), "{}", text(&out));
    let shown = eventually(10, "status shows the gateway unreachable", || {
        let out = human(d, &["status"]);
        Some(text(&out)).filter(|t| t.contains("not reachable"))
    });
    assert!(shown.contains(GATEWAY_ARN), "{shown}");
    let doctor = human(d, &["doctor"]);
    let said = text(&doctor);
    assert!(
        said.contains("aws gateway") && said.contains("not reachable"),
        "{said}"
    );
    assert_eq!(doctor.status.code(), Some(1), "a failed check: {said}");
    // Tape moves that are not exports go on meanwhile.
    let out = d.run(&["load", "1", "/dev/nst0", "0"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    s.emulator
        .control("SetFaults", json!({"Disconnected": false}));
    eventually(10, "status shows the gateway running again", || {
        let out = human(d, &["status", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        (v["data"]["gateway"]["connected"] == json!(true)).then_some(())
    });
}

/// The API calls each operation costs, measured at the emulator with the background polls out
/// of the way (printed for docs/aws.md and the closing note; run with `--nocapture`).
#[test]
fn api_calls_per_operation_are_the_documented_ones() {
    let s = site_polling(
        SMALL_GATEWAY,
        &["--tape", "OLD00001=ARCHIVED", "--retrieving-ms", "200"],
        "health_interval = 3600\ntapes_interval = 3600\n",
        "[library.export]\npolicy = \"allow\"\n",
    );
    let d = &s.daemon;
    let e = &s.emulator;
    // Start-up: one health check, one read of the tape list and one of the shelf (for
    // retrievals under way).
    let start = eventually(10, "the start-up polls", || {
        let c = e.calls();
        (c.contains_key("DescribeTapeArchives") && c.contains_key("DescribeUploadBuffer"))
            .then_some(c)
    });
    let mut before = start.clone();
    let mut measure = |what: &str, run: &mut dyn FnMut()| {
        run();
        std::thread::sleep(std::time::Duration::from_millis(300));
        let now = e.calls();
        let diff: std::collections::BTreeMap<String, u64> = now
            .iter()
            .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
            .filter(|(_, v)| *v > 0)
            .collect();
        println!("{what}: {diff:?}");
        before = now;
        diff
    };
    let m = |pairs: &[(&str, u64)]| -> std::collections::BTreeMap<String, u64> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    };
    println!("start-up: {start:?}");
    let listall = measure("listall (Bareos)", &mut || {
        assert!(d.run(&["listall"]).status.success());
    });
    assert_eq!(listall, m(&[]), "reads cost no API call");
    let tapes_diff = measure("changer tapes", &mut || {
        tapes(d);
    });
    assert_eq!(
        tapes_diff,
        m(&[("DescribeTapes", 1), ("DescribeTapeArchives", 1)])
    );
    let export = measure("export (transfer into an I/E slot)", &mut || {
        assert!(d.run(&["transfer", "1", "9"]).status.success());
    });
    // The guard: the tape (its ARN is known from the start-up read) and the health; then the
    // follower's looks (ListTapes) until ARCHIVED, and one re-read of the tape list.
    assert!(export.get("DescribeTapes").copied().unwrap_or(0) >= 1);
    assert_eq!(export.get("DescribeGatewayInformation"), Some(&1));
    assert_eq!(export.get("DescribeCache"), Some(&1));
    assert_eq!(export.get("DescribeUploadBuffer"), Some(&1));
    // Following it (ListTapes per look) until ARCHIVED, seen at the emulator so that no
    // `changer tapes` call is counted.
    let follow = measure("following the archival to ARCHIVED", &mut || {
        eventually(20, "archived", || {
            let state = e.control("State", json!({}));
            state.to_string().contains("\"ARCHIVED\"").then_some(())
        });
        std::thread::sleep(std::time::Duration::from_millis(500));
    });
    assert!(
        follow.get("ListTapes").copied().unwrap_or(0) >= 2,
        "{follow:?}"
    );
    assert!(
        follow
            .keys()
            .all(|k| k == "ListTapes" || k == "DescribeTapes"),
        "{follow:?}"
    );
    let retrieve = measure("changer retrieve", &mut || {
        let out = human(d, &["retrieve", "OLD00001"]);
        assert!(out.status.success(), "{}", text(&out));
    });
    assert_eq!(retrieve.get("DescribeTapeArchives"), Some(&1));
    assert_eq!(retrieve.get("RetrieveTapeArchive"), Some(&1));
}

/// While nothing changes, the daemon polls only as configured: the three health calls every
/// `health_interval`, one DescribeTapes (per 100 tapes) every `tapes_interval`, nothing else.
#[test]
fn steady_state_polling_follows_the_configured_intervals() {
    let s = site_polling(
        SMALL_GATEWAY,
        &[],
        "health_interval = 0.5\ntapes_interval = 1.5\n",
        "[library.export]\npolicy = \"allow\"\n",
    );
    let e = &s.emulator;
    eventually(10, "the start-up polls", || {
        e.calls().contains_key("DescribeTapeArchives").then_some(())
    });
    e.control("Calls", json!({"Reset": true}));
    std::thread::sleep(std::time::Duration::from_secs(3));
    let calls = e.calls();
    println!("3 s idle, health_interval 0.5 s, tapes_interval 1.5 s: {calls:?}");
    for op in [
        "DescribeGatewayInformation",
        "DescribeCache",
        "DescribeUploadBuffer",
    ] {
        let n = calls.get(op).copied().unwrap_or(0);
        assert!((2..=7).contains(&n), "{op}: {n} in 3 s ({calls:?})");
    }
    let tapes = calls.get("DescribeTapes").copied().unwrap_or(0);
    assert!(
        (1..=3).contains(&tapes),
        "DescribeTapes: {tapes} ({calls:?})"
    );
    assert_eq!(
        calls.len(),
        4,
        "no other call while nothing changes: {calls:?}"
    );
}

/// A daemon stopped while a tape is being retrieved picks the retrieval up when it starts
/// again, and still imports the tape.
#[test]
fn a_retrieval_under_way_survives_a_daemon_restart() {
    let mut s = site(
        SMALL_GATEWAY,
        &["--tape", "OLD00002=ARCHIVED", "--retrieving-ms", "8000"],
        "[library.export]\npolicy = \"deny\"\n",
    );
    let out = human(&s.daemon, &["retrieve", "OLD00002"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(s.daemon.terminate().success());
    s.daemon.start();
    let d = &s.daemon;
    let (status, location) = eventually(30, "OLD00002 imported after the restart", || {
        status_of(d, "OLD00002")
            .filter(|(_, l)| l.as_deref().is_some_and(|l| l.starts_with("slot:")))
    });
    assert_eq!(status, "RETRIEVED");
    assert_eq!(location.as_deref(), Some("slot:6"));
    assert!(d.log_text().contains("following the tape"));
}
