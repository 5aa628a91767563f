//! Protocol mode against simulated libraries: the fixes of contract C1, drive identity (C4),
//! readiness, faults, and argument handling.

mod common;
use common::*;

#[test]
fn unknown_source_uses_lowest_free_slot() {
    // Drive 0's source is unknown; slot 2 is free but claimed by drive 1, so drive 0's home is 5.
    let lib = Lib::new(
        "  Storage Changer /dev/sg3:2 Drives, 6 Slots ( 0 Import/Export )
Data Transfer Element 0:Full (Unknown Storage Element Loaded):VolumeTag = ORPHAN1
Data Transfer Element 1:Full (Storage Element 2 Loaded):VolumeTag = TAPE02
      Storage Element 1:Full :VolumeTag=TAPE01
      Storage Element 2:Empty
      Storage Element 3:Full :VolumeTag=TAPE03
      Storage Element 4:Full :VolumeTag=TAPE04
      Storage Element 5:Empty
      Storage Element 6:Empty
",
        "",
    );
    for _ in 0..2 {
        let o = lib.run(&["loaded", "0", "/dev/nst0", "0"]);
        assert_eq!(
            (status(&o), stdout(&o).as_str()),
            (0, "5\n"),
            "the same answer every time"
        );
    }
    let o = lib.run(&["listall", "0", "/dev/nst0", "0"]);
    assert!(
        stdout(&o).starts_with("D:0:F:5:ORPHAN1\nD:1:F:2:TAPE02\n"),
        "{}",
        stdout(&o)
    );
    let o = lib.run(&["list", "0", "/dev/nst0", "0"]);
    assert!(stdout(&o).contains("5:ORPHAN1\n"), "{}", stdout(&o));
    let o = lib.run(&["unload", "5", "/dev/nst0", "0"]);
    assert_eq!(
        (status(&o), stdout(&o).as_str()),
        (0, "Unloading drive 0 into Storage Element 5...done\n")
    );
    assert!(
        lib.text()
            .contains("Storage Element 5:Full :VolumeTag=ORPHAN1"),
        "{}",
        lib.text()
    );
    // unload with slot 0 (Bareos did not know) takes the home too.
    let lib2 = Lib::new(
        &lib.text().replace(
            "Data Transfer Element 1:Full (Storage Element 2 Loaded)",
            "Data Transfer Element 1:Full (Unknown Storage Element Loaded)",
        ),
        "",
    );
    let o = lib2.run(&["unload", "0", "/dev/nst1", "1"]);
    assert_eq!(
        stdout(&o),
        "Unloading drive 1 into Storage Element 2...done\n"
    );
}

#[test]
fn bad_drive_index_is_refused() {
    let lib = Lib::new(TWO_DRIVES, "");
    let o = lib.run(&["loaded", "0", "/dev/nst5", "5"]);
    assert_eq!(status(&o), 1);
    assert_eq!(stdout(&o), "", "no answer Bareos could misread");
    assert!(
        stderr(&o).contains("invalid drive index 5") && stderr(&o).contains("0 to 1"),
        "{}",
        stderr(&o)
    );
    let o = lib.run(&["load", "1", "/dev/nst0", "x"]);
    assert_eq!(status(&o), 1, "never clap's 2");
    assert!(stdout(&o).contains("invalid drive index 'x'"));
}

#[test]
fn wrong_archive_device_is_refused() {
    let lib = Lib::new(TWO_DRIVES, "");
    let before = lib.status_lines();
    let o = lib.run(&["load", "1", "/dev/nst0", "1"]);
    assert_eq!(status(&o), 1);
    let out = stdout(&o);
    assert!(
        out.contains("/dev/nst0 is drive 0") && out.contains("not drive 1"),
        "{out}"
    );
    assert_eq!(lib.status_lines(), before, "nothing moved");
}

#[test]
fn load_unload_round_trip_with_mtx_messages() {
    let lib = Lib::new(TWO_DRIVES, "");
    let o = lib.run(&["load", "3", "/dev/nst1", "1"]);
    assert_eq!(
        (status(&o), stdout(&o).as_str(), stderr(&o).as_str()),
        (
            0,
            "Loading media from Storage Element 3 into drive 1...done\n",
            ""
        )
    );
    assert_eq!(stdout(&lib.run(&["loaded", "0", "/dev/nst1", "1"])), "3\n");
    let o = lib.run(&["load", "4", "/dev/nst1", "1"]);
    assert_eq!(
        (status(&o), stdout(&o).as_str()),
        (1, "Drive 1 Full (Storage Element 3 loaded)\n")
    );
    let o = lib.run(&["load", "5", "/dev/nst0", "0"]);
    assert_eq!(stdout(&o), "Drive 0 Full (Storage Element 2 loaded)\n");
    let o = lib.run(&["unload", "3", "/dev/nst1", "1"]);
    assert_eq!(
        (status(&o), stdout(&o).as_str()),
        (0, "Unloading drive 1 into Storage Element 3...done\n")
    );
    let o = lib.run(&["unload", "3", "/dev/nst1", "1"]);
    assert_eq!(
        (status(&o), stdout(&o).as_str()),
        (1, "Data Transfer Element 1 is Empty\n")
    );
    let o = lib.run(&["unload", "1", "/dev/nst0", "0"]);
    assert_eq!(
        (status(&o), stdout(&o).as_str()),
        (
            1,
            "Storage Element 1 is Already Full (slot 1: holds TAPE01L6)\n"
        )
    );
    // The empty-slot phrase Bareos looks for, on stdout, at once.
    let o = lib.run(&["load", "5", "/dev/nst1", "1"]);
    assert_eq!(
        (status(&o), stdout(&o).as_str()),
        (
            1,
            "Loading media from Storage Element 5 into drive 1...Source Element Address 1004 is Empty \
             (slot 5 is empty; no drive reports a cartridge from it)\n"
        )
    );
    let o = lib.run(&["load", "9", "/dev/nst1", "1"]);
    assert!(
        status(&o) == 1 && stdout(&o).contains("invalid slot 9: this library has slots 1 to 8"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn transfer_between_storage_and_import_export() {
    let lib = Lib::new(TWO_DRIVES, "");
    for (from, to) in [("7", "5"), ("5", "8"), ("8", "6"), ("6", "7")] {
        let o = lib.run(&["transfer", from, to]);
        assert_eq!(
            (status(&o), stdout(&o).as_str(), stderr(&o).as_str()),
            (0, "", ""),
            "transfer {from} {to}"
        );
    }
    assert!(
        lib.text()
            .contains("Storage Element 7 IMPORT/EXPORT:Full :VolumeTag=TAPE07L6")
    );
    let o = lib.run(&["transfer", "2", "5"]);
    assert_eq!(
        (status(&o), stdout(&o).as_str(), stderr(&o).as_str()),
        (
            1,
            "",
            "Source Element Address 1001 is Empty (slot 2: TAPE02L6 is in drive 0)\n"
        )
    );
    let o = lib.run(&["transfer", "1", "3"]);
    assert_eq!(
        (status(&o), stderr(&o).as_str()),
        (
            1,
            "Destination Element Address 1002 is Already Full (slot 3: holds TAPE03L6)\n"
        )
    );
}

#[test]
fn argument_handling_matches_the_script() {
    let lib = Lib::new(TWO_DRIVES, "");
    let o = lib.run(&["frobnicate", "0", "/dev/nst0", "0"]);
    assert_eq!(
        (status(&o), stdout(&o).as_str(), stderr(&o).as_str()),
        (0, "", "")
    );
    let o = lib.run(&["load", "1"]);
    assert_eq!(status(&o), 1);
    assert!(
        stdout(&o).starts_with("ERROR: usage:")
            && stdout(&o).contains("Command expected 5 arguments"),
        "{}",
        stdout(&o)
    );
    // Every error of a command on one stream: stdout for load/unload, stderr for the rest.
    let o = lib.run(&["transfer", "1"]);
    assert!(
        status(&o) == 1
            && stdout(&o).is_empty()
            && stderr(&o).contains("Command expected 4 arguments")
    );
    let o = lib.run(&["slots"]);
    assert_eq!((status(&o), stdout(&o).as_str()), (0, "8\n"));
    // --config before the device.
    let o = lib
        .command()
        .args([
            "--config",
            lib.config.to_str().unwrap(),
            &lib.device(),
            "slots",
        ])
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "8\n");
}

#[test]
fn missing_library_file_fails_cleanly_for_every_command() {
    let lib = Lib::new(TWO_DRIVES, "");
    std::fs::remove_file(lib.path()).unwrap();
    for args in [
        &["slots"][..],
        &["list"],
        &["listall"],
        &["loaded", "0", "/dev/nst0", "0"],
    ] {
        let o = lib.run(args);
        assert_eq!(status(&o), 1, "{args:?}");
        if args[0] != "loaded" {
            assert_eq!(stdout(&o), "", "{args:?}: no partial payload");
        }
    }
    let o = lib.run(&["load", "1", "/dev/nst1", "1"]);
    assert_eq!(status(&o), 1);
    assert!(stdout(&o).contains("cannot open"), "{}", stdout(&o));
}

#[test]
fn every_command_reads_the_one_numbering_in_the_same_commands() {
    // Counted through the log: each command's SCSI traffic is logged at debug level. The
    // serial number (INQUIRY VPD 80h, which keys the lock), page 1Dh, then storage, I/E and
    // drives: `slots` and `loaded` number slots exactly as `listall` does.
    let lib = Lib::new(TWO_DRIVES, "");
    assert_eq!(stdout(&lib.run(&["slots"])), "8\n");
    assert_eq!(stdout(&lib.run(&["loaded", "0", "/dev/nst0", "0"])), "2\n");
    assert_eq!(lib.run(&["listall"]).status.code(), Some(0));
    let log = lib.log();
    let per_invocation: Vec<usize> = log
        .split("invoked")
        .skip(1)
        .map(|chunk| chunk.matches(" done").count())
        .collect();
    assert_eq!(per_invocation, vec![5, 5, 5], "{log}");
}

fn with_faults(faults: &str) -> String {
    format!("{faults}{TWO_DRIVES}")
}

#[test]
fn load_waits_for_the_drive() {
    let lib = Lib::new(
        &with_faults("# sim: fault drive-becoming-ready drive=1 count=3\n"),
        "",
    );
    let o = lib.run(&["load", "3", "/dev/nst1", "1"]);
    assert_eq!(
        (status(&o), stdout(&o).as_str()),
        (
            0,
            "Loading media from Storage Element 3 into drive 1...done\n"
        ),
        "{}",
        lib.log()
    );
    let polls = lib.log().matches("op=\"TEST UNIT READY\"").count();
    assert!(
        polls >= 4,
        "three not-ready answers, then ready: {polls} TEST UNIT READY events"
    );
}

#[test]
fn load_fails_when_the_drive_never_becomes_ready() {
    let lib = Lib::new(
        &with_faults("# sim: fault drive-becoming-ready drive=1 count=100000\n"),
        "[defaults]\nmax_wait_drive = 1\n",
    );
    let o = lib.run(&["load", "3", "/dev/nst1", "1"]);
    assert_eq!(status(&o), 1);
    assert!(stdout(&o).starts_with("Loading media from Storage Element 3 into drive 1...drive 1 (/dev/nst1) is loaded but did not become ready"), "{}", stdout(&o));
    assert!(
        lib.text()
            .contains("Data Transfer Element 1:Full (Storage Element 3 Loaded)"),
        "the cartridge is in the drive"
    );
}

#[test]
fn sigterm_during_wait_exits_promptly() {
    let lib = Lib::new(
        &with_faults("# sim: fault drive-becoming-ready drive=1 count=100000\n"),
        "[defaults]\nmax_wait_drive = 120\n",
    );
    let child = lib
        .command()
        .args([lib.device().as_str(), "load", "3", "/dev/nst1", "1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !lib.text().contains("Data Transfer Element 1:Full") {
        assert!(std::time::Instant::now() < until, "the load never happened");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let sent = std::time::Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let child_out = child.wait_with_output().unwrap();
    assert!(
        sent.elapsed() < std::time::Duration::from_secs(3),
        "exited {:?} after SIGTERM",
        sent.elapsed()
    );
    assert_eq!(child_out.status.code(), Some(1));
    assert!(
        lib.log().contains("stop requested by signal"),
        "{}",
        lib.log()
    );
    assert!(
        stdout(&child_out).contains("stopped by SIGTERM"),
        "{}",
        stdout(&child_out)
    );
}

#[test]
fn offline_ejects_the_tape_before_unloading() {
    // The drive locks its tape (05/53/02) until it is unloaded with LOAD UNLOAD.
    let text = with_faults("# sim: fault prevent-removal drive=0\n");
    let lib = Lib::new(&text, "");
    let o = lib.run(&["unload", "2", "/dev/nst0", "0"]);
    assert_eq!(status(&o), 1);
    assert!(
        stdout(&o).contains("Medium removal prevented (53h/02h)") && stdout(&o).contains("offline"),
        "{}",
        stdout(&o)
    );
    let lib = Lib::new(&text, "[defaults]\noffline = true\n");
    let o = lib.run(&["unload", "2", "/dev/nst0", "0"]);
    assert_eq!(
        (status(&o), stdout(&o).as_str()),
        (0, "Unloading drive 0 into Storage Element 2...done\n"),
        "{}",
        lib.log()
    );
    // The same through an existing mtx-changer.conf.
    let lib = Lib::new(&text, "");
    let conf = lib.dir.path().join("mtx-changer.conf");
    std::fs::write(&conf, "offline=1\noffline_sleep=0\n").unwrap();
    let config = std::fs::read_to_string(&lib.config).unwrap();
    std::fs::write(
        &lib.config,
        format!("mtx_changer_conf = \"{}\"\n{config}", conf.display()),
    )
    .unwrap();
    let o = lib.run(&["unload", "2", "/dev/nst0", "0"]);
    assert_eq!(status(&o), 0, "{}", stdout(&o));
}

#[test]
fn a_move_whose_outcome_is_unknown_is_settled_by_rereading() {
    let lib = Lib::new(&with_faults("# sim: fault move-timeout\n"), "");
    let o = lib.run(&["load", "3", "/dev/nst1", "1"]);
    assert_eq!(
        status(&o),
        0,
        "the move happened; the timeout only hid it: {}",
        stdout(&o)
    );
    // Nothing moved: sent once more, and only once.
    let lib = Lib::new(&with_faults("# sim: fault move-timeout-before\n"), "");
    let o = lib.run(&["load", "3", "/dev/nst1", "1"]);
    assert_eq!(status(&o), 0, "{}", stdout(&o));
    let lib = Lib::new(
        &with_faults("# sim: fault move-timeout-before count=2\n"),
        "",
    );
    let before = lib.status_lines();
    let o = lib.run(&["load", "3", "/dev/nst1", "1"]);
    assert_eq!(status(&o), 1);
    assert!(stdout(&o).contains("timed out"), "{}", stdout(&o));
    assert_eq!(lib.status_lines(), before);
    assert!(!lib.text().contains("# sim: fault"), "two moves were sent");
    assert_eq!(
        lib.run(&["load", "3", "/dev/nst1", "1"]).status.code(),
        Some(0),
        "a retry by Bareos works"
    );
}

#[test]
fn a_move_answered_task_aborted_is_settled_by_rereading() {
    // Carried out, then aborted: done, and not sent again (which would find slot 3 empty).
    let lib = Lib::new(&with_faults("# sim: fault move-aborted\n"), "");
    let o = lib.run(&["load", "3", "/dev/nst1", "1"]);
    assert_eq!(
        (status(&o), stdout(&o).as_str()),
        (
            0,
            "Loading media from Storage Element 3 into drive 1...done\n"
        ),
        "{}",
        lib.log()
    );
    assert!(
        lib.log().contains("the move completed despite the error"),
        "{}",
        lib.log()
    );
    // Aborted before it started, twice: sent twice, then reported; nothing moved.
    let lib = Lib::new(
        &with_faults("# sim: fault move-aborted-before count=2\n"),
        "",
    );
    let before = lib.status_lines();
    let o = lib.run(&["load", "3", "/dev/nst1", "1"]);
    assert_eq!(status(&o), 1);
    assert!(stdout(&o).contains("TASK ABORTED"), "{}", stdout(&o));
    assert_eq!(lib.status_lines(), before);
    assert!(!lib.text().contains("# sim: fault"), "two moves were sent");
}

#[test]
fn a_truncated_reply_gives_no_partial_inventory() {
    let lib = Lib::new(
        &with_faults("# sim: fault truncated-response count=10\n"),
        "",
    );
    for cmd in ["list", "listall"] {
        let o = lib.run(&[cmd]);
        assert_eq!(
            (status(&o), stdout(&o).as_str()),
            (1, ""),
            "{cmd}: {}",
            stderr(&o)
        );
        assert!(
            stderr(&o).contains("short transfer"),
            "{cmd}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn garbage_from_the_device_gives_no_partial_inventory() {
    let lib = Lib::new(&with_faults("# sim: fault garbled-response count=10\n"), "");
    for cmd in ["list", "listall"] {
        let o = lib.run(&[cmd]);
        assert_eq!(
            (status(&o), stdout(&o).as_str()),
            (1, ""),
            "{cmd}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn unit_attentions_and_becoming_ready_are_absorbed() {
    let lib = Lib::new(
        &with_faults("# sim: fault unit-attention count=3\n# sim: fault becoming-ready count=2\n"),
        "",
    );
    let o = lib.run(&["listall"]);
    assert_eq!(status(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("D:0:F:2:TAPE02L6\nD:1:E\n"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn an_operators_change_between_invocations_is_seen() {
    let lib = Lib::new(TWO_DRIVES, "");
    assert_eq!(stdout(&lib.run(&["loaded", "0", "/dev/nst1", "1"])), "0\n");
    // Someone else loads drive 1 (another process, another changer tool).
    let o = lib
        .command()
        .args(["move", &lib.device(), "4", "drive:1"])
        .output()
        .unwrap();
    assert_eq!(status(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&lib.run(&["loaded", "0", "/dev/nst1", "1"])), "4\n");
}

#[test]
fn journal_logging_without_a_journal_still_answers_and_logs_to_the_file() {
    let lib = Lib::new(TWO_DRIVES, "log_journal = true\n");
    let o = lib.run(&["slots"]);
    assert_eq!(
        (status(&o), stdout(&o).as_str(), stderr(&o).as_str()),
        (0, "8\n", "")
    );
    assert!(lib.log().contains("answered"), "{}", lib.log());
}

#[test]
fn list_numbers_a_cartridge_from_an_import_export_slot() {
    let text = TWO_DRIVES.replace(
        "Data Transfer Element 1:Empty",
        "Data Transfer Element 1:Full (Storage Element 8 Loaded):VolumeTag = FROMIE8",
    );
    let lib = Lib::new(&text, "");
    let o = lib.run(&["list"]);
    assert_eq!(
        stdout(&o),
        "1:TAPE01L6\n3:TAPE03L6\n4:TAPE04L6\n2:TAPE02L6\n8:FROMIE8\n"
    );
}

#[test]
fn a_move_is_not_started_without_time_to_finish_it() {
    // Maximum Changer Wait of 15 s leaves 13 s after the answer margin: below the 20 s a move
    // needs, so nothing moves and the answer comes at once.
    let lib = Lib::new(TWO_DRIVES, "max_changer_wait = 15\n");
    let before = lib.status_lines();
    let o = lib.run(&["load", "3", "/dev/nst1", "1"]);
    assert_eq!(status(&o), 1);
    assert!(
        stdout(&o).contains("not enough to start a move"),
        "{}",
        stdout(&o)
    );
    assert_eq!(lib.status_lines(), before);
    assert_eq!(stdout(&lib.run(&["slots"])), "8\n", "reads still work");
}

#[test]
fn the_inventory_setting_rescans_before_list_and_listall_only() {
    let lib = Lib::new(TWO_DRIVES, "[defaults]\ninventory = true\n");
    let rescans = |lib: &Lib| {
        lib.log()
            .matches("op=\"INITIALIZE ELEMENT STATUS\"")
            .count()
    };
    assert_eq!(stdout(&lib.run(&["loaded", "0", "/dev/nst0", "0"])), "2\n");
    assert_eq!(stdout(&lib.run(&["slots"])), "8\n");
    assert_eq!(rescans(&lib), 0, "loaded and slots never re-scan");
    assert_eq!(status(&lib.run(&["list"])), 0);
    assert_eq!(status(&lib.run(&["listall"])), 0);
    assert_eq!(rescans(&lib), 2);
}

#[test]
fn an_invalid_drive_index_names_the_bareos_setting_and_the_right_index() {
    let lib = Lib::new(TWO_DRIVES, "");
    // /dev/nst1 is drive 1; Bareos asked for drive 7.
    let o = lib.run(&["load", "1", "/dev/nst1", "7"]);
    assert_eq!(status(&o), 1);
    assert!(
        stdout(&o).contains("invalid drive index 7")
            && stdout(&o).contains("/dev/nst1 is drive 1: set Drive Index = 1"),
        "{}",
        stdout(&o)
    );
    // An archive device no drive of this library has: both settings are named.
    let o = lib.run(&["loaded", "0", "/dev/nst9", "9"]);
    assert!(
        stderr(&o).contains("fix Drive Index (or Archive Device, now /dev/nst9)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn an_unreadable_serial_number_refuses_rather_than_locking_by_device_name() {
    // Every attempt at INQUIRY VPD 80h fails at the transport: the lock could not be keyed as
    // other processes key it, so nothing moves and the answer says why.
    let lib = Lib::new(&with_faults("# sim: fault transport-error count=40\n"), "");
    let before = lib.status_lines();
    let o = lib.run(&["load", "3", "/dev/nst1", "1"]);
    assert_eq!(status(&o), 1, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("cannot read the serial number") && stdout(&o).contains("lock"),
        "{}",
        stdout(&o)
    );
    assert_eq!(lib.status_lines(), before, "nothing moved");
    // A transient failure is retried: two failed attempts, then the answer.
    let lib = Lib::new(&with_faults("# sim: fault transport-error count=4\n"), "");
    let o = lib.run(&["slots"]);
    assert_eq!(
        (status(&o), stdout(&o).as_str()),
        (0, "8\n"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_rescan_is_not_started_without_time_to_finish_it() {
    // The budget decides whether INITIALIZE ELEMENT STATUS starts; once started it keeps its
    // own (long) SCSI timeout. 30 s of Maximum Changer Wait is less than a scan may take.
    let lib = Lib::new(
        TWO_DRIVES,
        "max_changer_wait = 30\n[defaults]\ninventory = true\n",
    );
    let o = lib.run(&["listall"]);
    assert_eq!((status(&o), stdout(&o).as_str()), (1, ""));
    assert!(
        stderr(&o).contains("not enough to start INITIALIZE ELEMENT STATUS"),
        "{}",
        stderr(&o)
    );
    assert!(!lib.log().contains("op=\"INITIALIZE ELEMENT STATUS\""));
}
