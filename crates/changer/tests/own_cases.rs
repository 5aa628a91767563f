//! Library shapes beyond the corpus: twelve drives (indexes ≥ 10), the AWS geometry
//! (1600 + 1600 slots), barcode oddities. Expected answers follow the stock script's rules
//! (bareos-protocol.md §3.5–3.7).

mod common;
use common::*;

fn twelve_drives() -> String {
    let mut t =
        String::from("  Storage Changer /dev/sg7:12 Drives, 30 Slots ( 2 Import/Export )\n");
    for d in 0..12 {
        match d {
            1 => t.push_str(
                "Data Transfer Element 1:Full (Storage Element 5 Loaded):VolumeTag = DRV001L8\n",
            ),
            10 => t.push_str(
                "Data Transfer Element 10:Full (Storage Element 12 Loaded):VolumeTag = DRV010L8\n",
            ),
            11 => t.push_str("Data Transfer Element 11:Full (Storage Element 1 Loaded)\n"),
            _ => t.push_str(&format!("Data Transfer Element {d}:Empty\n")),
        }
    }
    for s in 1..=30 {
        let ie = if s > 28 { " IMPORT/EXPORT" } else { "" };
        if [1, 5, 12].contains(&s) || s % 7 == 0 {
            t.push_str(&format!("      Storage Element {s}{ie}:Empty\n"));
        } else {
            t.push_str(&format!(
                "      Storage Element {s}{ie}:Full :VolumeTag=S{s:05}L8\n"
            ));
        }
    }
    t
}

#[test]
fn drive_indexes_ten_and_up_are_not_confused_with_one() {
    let lib = Lib::new(&twelve_drives(), "");
    for (drive, want) in [
        (1, "5\n"),
        (10, "12\n"),
        (11, "1\n"),
        (0, "0\n"),
        (2, "0\n"),
    ] {
        let o = lib.run(&[
            "loaded",
            "0",
            &format!("/dev/nst{drive}"),
            &drive.to_string(),
        ]);
        assert_eq!(
            (status(&o), stdout(&o)),
            (0, want.to_owned()),
            "drive {drive}"
        );
    }
    let list = stdout(&lib.run(&["list"]));
    assert!(
        list.ends_with("5:DRV001L8\n12:DRV010L8\n1:\n"),
        "drive lines in drive order: {list}"
    );
    let listall = stdout(&lib.run(&["listall"]));
    let drives: Vec<&str> = listall.lines().take(12).collect();
    assert_eq!(drives[10], "D:10:F:12:DRV010L8");
    assert_eq!(drives[11], "D:11:F:1");
    assert_eq!(drives[9], "D:9:E");
    assert_eq!(stdout(&lib.run(&["slots"])), "30\n");
    let o = lib.run(&["load", "2", "/dev/nst11", "11"]);
    assert_eq!(stdout(&o), "Drive 11 Full (Storage Element 1 loaded)\n");
    let o = lib.run(&["unload", "1", "/dev/nst11", "11"]);
    assert_eq!(
        (status(&o), stdout(&o).as_str()),
        (0, "Unloading drive 11 into Storage Element 1...done\n")
    );
    let o = lib.run(&["load", "2", "/dev/nst11", "11"]);
    assert_eq!(
        (status(&o), stdout(&o).as_str()),
        (
            0,
            "Loading media from Storage Element 2 into drive 11...done\n"
        )
    );
}

fn aws() -> String {
    let mut t =
        String::from("  Storage Changer /dev/sg11:10 Drives, 3200 Slots ( 1600 Import/Export )\n");
    for d in 0..10 {
        t.push_str(&format!("Data Transfer Element {d}:Empty\n"));
    }
    for n in 1..=3200u32 {
        let ie = if n > 1600 { " IMPORT/EXPORT" } else { "" };
        if n <= 100 || (1601..=1610).contains(&n) {
            t.push_str(&format!(
                "      Storage Element {n}{ie}:Full :VolumeTag=BARE{:06X}{:22}\n",
                0x0A1F00 + n * 0x1D3,
                ""
            ));
        } else {
            t.push_str(&format!("      Storage Element {n}{ie}:Empty\n"));
        }
    }
    t
}

#[test]
fn aws_geometry_numbers_import_export_slots_after_storage() {
    let lib = Lib::new(&aws(), "");
    assert_eq!(stdout(&lib.run(&["slots"])), "3200\n");
    let list = stdout(&lib.run(&["list"]));
    assert_eq!(list.lines().count(), 100, "I/E slots never appear in list");
    assert_eq!(list.lines().next(), Some("1:BARE0A20D3"));
    let listall = stdout(&lib.run(&["listall"]));
    assert_eq!(listall.lines().count(), 3210);
    assert!(listall.contains(&format!(
        "\nI:1601:F:BARE{:06X}{:22}\n",
        0x0A1F00 + 1601 * 0x1D3,
        ""
    )));
    assert!(listall.ends_with("I:3200:E\n"));
    // Export to an I/E slot and back (Bareos' export/import are transfers).
    assert_eq!(status(&lib.run(&["transfer", "7", "3200"])), 0);
    assert!(
        stdout(&lib.run(&["listall"]))
            .contains(&format!("I:3200:F:BARE{:06X}", 0x0A1F00 + 7 * 0x1D3))
    );
    assert_eq!(status(&lib.run(&["transfer", "3200", "7"])), 0);
    assert_eq!(barcodes(&lib.text()).len(), 110);
}

#[test]
fn barcode_oddities_follow_the_script() {
    let lib = Lib::new(
        "  Storage Changer /dev/sg2:1 Drives, 5 Slots ( 1 Import/Export )
Data Transfer Element 0:Full (Storage Element 4 Loaded):VolumeTag = TWO WORDS
      Storage Element 1:Full :VolumeTag=A:B:C
      Storage Element 2:Full :VolumeTag=TRAIL   
      Storage Element 3:Full :VolumeTag=EXACTLY32CHARSLONGBARCODE0000001
      Storage Element 4:Empty
      Storage Element 5 IMPORT/EXPORT:Full :VolumeTag=IE005L6
",
        "",
    );
    // A colon inside a tag ends awk's field; blanks are trimmed in list; a drive tag keeps its first word.
    assert_eq!(
        stdout(&lib.run(&["list"])),
        "1:A\n2:TRAIL\n3:EXACTLY32CHARSLONGBARCODE0000001\n4:TWO\n"
    );
    assert_eq!(
        stdout(&lib.run(&["listall"])),
        "D:0:F:4:TWO WORDS\nS:1:F:A\nS:2:F:TRAIL   \nS:3:F:EXACTLY32CHARSLONGBARCODE0000001\nS:4:E\nI:5:F:IE005L6\n"
    );
}
