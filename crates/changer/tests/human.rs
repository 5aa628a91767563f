//! Human commands against simulated libraries.

mod common;
use common::*;
use std::io::Read;

#[test]
fn status_table_json_and_mtx_views_agree() {
    let lib = Lib::new(TWO_DRIVES, "");
    let o = lib
        .command()
        .args(["status", &lib.device()])
        .output()
        .unwrap();
    assert_eq!(status(&o), 0, "{}", stderr(&o));
    let table = stdout(&o);
    assert!(
        table.contains("2 drive(s), 8 slot(s) (6 storage, 2 import/export), 5 cartridge(s)"),
        "{table}"
    );
    let o = lib
        .command()
        .args(["status", "--json", &lib.device()])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["type"], "status");
    assert_eq!(v["data"]["drives"][0]["home_slot"], 2);
    assert_eq!(v["data"]["drives"][0]["serial"], "SIMDRV00");
    assert_eq!(v["data"]["slots"][6]["type"], "import_export");
    let o = lib
        .command()
        .args(["status", "--mtx", &lib.device()])
        .output()
        .unwrap();
    let mtx = stdout(&o);
    assert!(
        mtx.contains(
            "Data Transfer Element 0:Full (Storage Element 2 Loaded):VolumeTag = TAPE02L6\n"
        ),
        "{mtx}"
    );
    assert!(mtx.contains("      Storage Element 7 IMPORT/EXPORT:Full :VolumeTag=TAPE07L6\n"));
}

#[test]
fn move_checks_both_ends_and_doctor_passes() {
    let lib = Lib::new(TWO_DRIVES, "");
    let o = lib
        .command()
        .args(["move", &lib.device(), "3", "drive:1"])
        .output()
        .unwrap();
    assert_eq!(
        (status(&o), stdout(&o).as_str()),
        (0, "moved slot 3 to drive 1\n")
    );
    let o = lib
        .command()
        .args(["move", &lib.device(), "3", "d0"])
        .output()
        .unwrap();
    assert_eq!(status(&o), 1);
    assert!(
        stderr(&o).contains("Source Element Address 1002 is Empty"),
        "{}",
        stderr(&o)
    );
    let o = lib
        .command()
        .args(["move", &lib.device(), "slot:1", "2"])
        .output()
        .unwrap();
    assert_eq!(status(&o), 0, "{}", stderr(&o));
    let o = lib
        .command()
        .args(["move", &lib.device(), "x", "2"])
        .output()
        .unwrap();
    assert!(
        status(&o) == 1 && stderr(&o).contains("neither a slot"),
        "{}",
        stderr(&o)
    );
    let o = lib
        .command()
        .args(["doctor", &lib.device()])
        .output()
        .unwrap();
    assert_eq!(status(&o), 0, "{}", stdout(&o));
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let mut text = String::from(
        "  Storage Changer /dev/sg1:1 Drives, 3000 Slots ( 0 Import/Export )\nData Transfer Element 0:Empty\n",
    );
    for n in 1..=3000 {
        text.push_str(&format!(
            "      Storage Element {n}:Full :VolumeTag=P{n:05}L6\n"
        ));
    }
    let lib = Lib::new(&text, "");
    let mut child = lib
        .command()
        .args(["status", &lib.device()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}

#[test]
fn doctor_warns_when_maximum_changer_wait_and_max_changer_wait_differ() {
    let lib = Lib::new(TWO_DRIVES, "max_changer_wait = 600\n");
    let sd = lib.dir.path().join("bareos-sd.d");
    std::fs::create_dir_all(sd.join("device")).unwrap();
    std::fs::create_dir_all(sd.join("autochanger")).unwrap();
    std::fs::write(
        sd.join("autochanger/lib.conf"),
        format!(
            "Autochanger {{\n  Name = lib\n  Device = short, unset\n  Device = equal\n  Changer Device = {}\n  Changer Command = \"/usr/bin/changer %c %o %S %a %d\"\n}}\n",
            lib.device()
        ),
    )
    .unwrap();
    let device = |name: &str, wait: &str| {
        format!("Device {{\n  Name = {name}\n  Archive Device = /dev/nst0\n  {wait}\n}}\n")
    };
    let short = sd.join("device/short.conf");
    std::fs::write(&short, device("short", "Maximum Changer Wait = 5 minutes")).unwrap();
    let unset = sd.join("device/unset.conf");
    std::fs::write(&unset, device("unset", "")).unwrap();
    std::fs::write(
        sd.join("device/equal.conf"),
        device("equal", "Maximum Changer Wait = 10 min"),
    )
    .unwrap();
    // Not in an autochanger: Bareos never runs the changer command for it.
    std::fs::write(
        sd.join("device/alone.conf"),
        device("alone", "Maximum Changer Wait = 30"),
    )
    .unwrap();
    let o = lib
        .command()
        .args(["doctor", "--bareos-config"])
        .arg(&sd)
        .arg(lib.device())
        .output()
        .unwrap();
    assert_eq!(status(&o), 0, "warnings only: {}", stdout(&o));
    let out = stdout(&o);
    let line = |name: &str| {
        out.lines()
            .find(|l| l.contains(&format!("Device {name} wait")))
            .unwrap_or_else(|| panic!("no wait check of {name}: {out}"))
            .to_owned()
    };
    let short_line = line("short");
    for want in [
        "WARN",
        short.to_str().unwrap(),
        "Device short",
        "Maximum Changer Wait = 5 minutes (300 s)",
        "max_changer_wait = 600 s",
        "set max_changer_wait = 300",
    ] {
        assert!(short_line.contains(want), "{want:?} in {short_line}");
    }
    let unset_line = line("unset");
    for want in [
        "WARN",
        unset.to_str().unwrap(),
        "not set (Bareos' default 300 s)",
        "set max_changer_wait = 300",
    ] {
        assert!(unset_line.contains(want), "{want:?} in {unset_line}");
    }
    assert!(line("equal").starts_with("ok"), "{}", line("equal"));
    assert!(!out.contains("Device alone wait"), "{out}");
}
