//! The cache, black box: after the daemon has read the library, an edit of the simulated
//! library behind its back is invisible to reads in `exclusive` mode (and no SCSI command is
//! sent), visible in `shared` mode; a unit attention, age and the daemon's own moves keep the
//! exclusive cache true.

mod common;
use common::*;

const LIBRARY: &str = "  Storage Changer /dev/sg3:2 Drives, 8 Slots ( 2 Import/Export )
Data Transfer Element 0:Full (Storage Element 2 Loaded):VolumeTag = TAPE02L6
Data Transfer Element 1:Empty
      Storage Element 1:Full :VolumeTag=TAPE01L6
      Storage Element 2:Empty
      Storage Element 3:Full :VolumeTag=TAPE03L6
      Storage Element 4:Full :VolumeTag=TAPE04L6
      Storage Element 5:Empty
      Storage Element 6:Empty
      Storage Element 7 IMPORT/EXPORT:Full :VolumeTag=TAPE07L6
      Storage Element 8 IMPORT/EXPORT:Empty
";

/// An operator takes TAPE01L6 out of slot 1 and puts it into slot 5 (the door, no robot).
fn move_by_hand(d: &Daemon) {
    let text = d
        .text()
        .replace(
            "Storage Element 1:Full :VolumeTag=TAPE01L6",
            "Storage Element 1:Empty",
        )
        .replace(
            "Storage Element 5:Empty",
            "Storage Element 5:Full :VolumeTag=TAPE01L6",
        );
    std::fs::write(&d.library, text).unwrap();
}

fn daemon(cache: &str, extra: &str) -> Daemon {
    let mut d = Daemon::new(
        LIBRARY,
        &format!("metrics = \"METRICS\"\n{extra}"),
        &format!("cache = \"{cache}\""),
    );
    let metrics = d.dir.path().join("metrics.sock");
    let config = std::fs::read_to_string(&d.config)
        .unwrap()
        .replace("METRICS", &metrics.display().to_string());
    std::fs::write(&d.config, config).unwrap();
    d.start();
    d
}

fn metrics(d: &Daemon) -> String {
    scrape(&d.dir.path().join("metrics.sock"))
}

fn list(d: &Daemon) -> String {
    let out = d.run(&["list"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn exclusive_reads_come_from_the_cache_and_send_no_scsi_command() {
    let d = daemon("exclusive", "");
    let before = list(&d);
    assert!(before.contains("1:TAPE01L6"), "{before}");
    let sent = scsi_commands(&metrics(&d), "");
    assert!(sent > 0.0, "the daemon read the library at start");
    move_by_hand(&d);
    for args in [
        &["list"][..],
        &["listall"],
        &["slots"],
        &["loaded", "0", "/dev/nst0", "0"],
    ] {
        let out = d.run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
    }
    assert_eq!(list(&d), before, "the cached picture answers");
    let m = metrics(&d);
    assert_eq!(
        scsi_commands(&m, ""),
        sent,
        "no SCSI command for reads:\n{m}"
    );
    assert!(
        sample_sum(&m, "changer_cache_hits_total", &[]) >= 5.0,
        "{m}"
    );
    let log = std::fs::read_to_string(d.dir.path().join("changer.log")).unwrap();
    assert!(log.contains("answered by changerd"), "{log}");
}

#[test]
fn shared_reads_see_a_change_made_behind_the_daemons_back() {
    let d = daemon("shared", "");
    assert!(list(&d).contains("1:TAPE01L6"));
    move_by_hand(&d);
    let after = list(&d);
    assert!(
        after.contains("5:TAPE01L6") && !after.contains("1:TAPE01L6"),
        "{after}"
    );
    // `loaded` re-reads only the drive it answers about: one READ ELEMENT STATUS.
    let m = metrics(&d);
    let (all, res) = (scsi_commands(&m, ""), scsi_commands(&m, "B8h"));
    let out = d.run(&["loaded", "0", "/dev/nst0", "0"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2\n");
    let m = metrics(&d);
    assert_eq!(scsi_commands(&m, "B8h"), res + 1.0, "{m}");
    assert_eq!(scsi_commands(&m, ""), all + 1.0, "{m}");
}

#[test]
fn a_unit_attention_drops_the_exclusive_cache() {
    let d = daemon("exclusive", "");
    assert!(list(&d).contains("1:TAPE01L6"));
    move_by_hand(&d);
    // The robot's next command meets the simulator's UNIT ATTENTION 28/00 (the library
    // changed), which the driver retries through; the cache must not outlive it.
    let out = d.run(&["transfer", "3", "6"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let after = list(&d);
    assert!(
        after.contains("5:TAPE01L6") && after.contains("6:TAPE03L6") && !after.contains("1:"),
        "{after}"
    );
    let m = metrics(&d);
    assert!(
        sample_sum(
            &m,
            "changer_sense_errors_total",
            &["UNIT ATTENTION", "28h/00h"]
        ) >= 1.0,
        "{m}"
    );
}

#[test]
fn the_daemons_own_moves_keep_the_cache_true_without_reading() {
    let d = daemon("exclusive", "");
    // Rendered once before the moves: what was rendered must not outlive them.
    assert_eq!(list(&d), "1:TAPE01L6\n3:TAPE03L6\n4:TAPE04L6\n2:TAPE02L6\n");
    let m = metrics(&d);
    let res = scsi_commands(&m, "B8h");
    for (args, want) in [
        (
            &["unload", "2", "/dev/nst0", "0"][..],
            "Unloading drive 0 into Storage Element 2...done\n",
        ),
        (
            &["load", "7", "/dev/nst1", "1"],
            "Loading media from Storage Element 7 into drive 1...done\n",
        ),
        (&["transfer", "4", "8"], ""),
    ] {
        let out = d.run(args);
        assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{args:?}");
        assert_eq!(out.status.code(), Some(0));
    }
    let cached = list(&d);
    assert_eq!(
        scsi_commands(&metrics(&d), "B8h"),
        res,
        "moves update the cache without READ ELEMENT STATUS"
    );
    // The truth, read by the simulator itself, rendered by the same code, agrees.
    assert_eq!(cached, changer::protocol::list(&truth(&d.library)));
    // Drive 0 was unloaded into slot 2; drive 1 holds slot 7's tape; slot 4's went to I/E 8
    // (which `list` does not print).
    assert_eq!(cached, "1:TAPE01L6\n2:TAPE02L6\n3:TAPE03L6\n7:TAPE07L6\n");
}

#[test]
fn an_old_cache_is_read_again() {
    let d = daemon("exclusive", "[defaults]\ncache_max_age = 1\n");
    assert!(list(&d).contains("1:TAPE01L6"));
    move_by_hand(&d);
    std::thread::sleep(std::time::Duration::from_millis(1300));
    assert!(list(&d).contains("5:TAPE01L6"));
}

#[test]
fn human_status_and_move_go_through_the_daemon() {
    let d = daemon("exclusive", "");
    let out = d
        .changer()
        .args(["status", "--json", &d.device()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["data"]["cache"]["mode"], "exclusive", "{v}");
    assert!(v["data"]["cache"]["age_ms"].is_u64(), "{v}");
    let table = d.changer().args(["status", &d.device()]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&table.stdout).contains("answered by changerd: cache exclusive"),
        "{table:?}"
    );
    let moved = d
        .changer()
        .args(["move", &d.device(), "1", "drive:1"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&moved.stdout),
        "moved slot 1 to drive 1\n"
    );
    assert!(
        d.text()
            .contains("Data Transfer Element 1:Full (Storage Element 1 Loaded)")
    );
    let m = metrics(&d);
    assert_eq!(
        sample_sum(
            &m,
            "changer_moves_total",
            &["kind=\"move\"", "result=\"ok\""]
        ),
        1.0,
        "{m}"
    );
    assert_eq!(
        sample_sum(&m, "changer_requests_total", &["op=\"status\""]),
        2.0,
        "{m}"
    );
    // A refused move says why, from the daemon.
    let refused = d
        .changer()
        .args(["move", &d.device(), "2", "drive:1"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let text = String::from_utf8_lossy(&refused.stderr);
    assert!(
        text.contains("changerd:") && text.contains("is Empty"),
        "{text}"
    );
}

#[test]
fn changer_inventory_through_the_daemon_resyncs_an_exclusive_cache() {
    let d = daemon("exclusive", "");
    assert!(list(&d).contains("1:TAPE01L6"));
    move_by_hand(&d);
    assert!(list(&d).contains("1:TAPE01L6"), "still the cached picture");
    let out = d
        .changer()
        .args(["inventory", &d.device()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("changerd read the library again"));
    let after = list(&d);
    assert!(
        after.contains("5:TAPE01L6") && !after.contains("1:TAPE01L6"),
        "{after}"
    );
    let m = metrics(&d);
    // Sent once, and once more after the unit attention the hand edit raised.
    assert_eq!(
        scsi_commands(&m, "07h"),
        2.0,
        "INITIALIZE ELEMENT STATUS:\n{m}"
    );
    assert_eq!(
        sample_sum(&m, "changer_sense_errors_total", &["28h/00h"]),
        1.0,
        "{m}"
    );
}
