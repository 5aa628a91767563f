//! One numbering everywhere: for random libraries with address gaps, not-installed elements,
//! import/export slots, duplicate and stale drive sources and libraries that refuse a starting
//! address in a gap, what `slots`, `loaded`, `list`, `load`, `unload` and `transfer` say and do
//! agrees with the slots and drives `listall` prints.

mod common;
use common::*;

use proptest::prelude::*;
use std::collections::BTreeMap;

/// A generated library: what the status text lists (installed elements, in address order) and
/// the `#` lines that place them and add not-installed elements.
#[derive(Debug, Clone)]
struct Spec {
    /// Per drive: `None` empty, `Some(None)` full with unknown source, `Some(Some(s))` full
    /// from slot s (mtx numbering).
    drives: Vec<Option<Option<u16>>>,
    /// Per storage slot: full?
    storage: Vec<bool>,
    /// Per I/E slot: full?
    import_export: Vec<bool>,
    /// Gap after each element (in address steps), per type; a gap of 2 or more may hold a
    /// not-installed element.
    gaps: Vec<u16>,
    /// Which gaps hold a not-installed element.
    phantoms: Vec<bool>,
    strict: Option<&'static str>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (1usize..=3, 2usize..=9, 0usize..=3).prop_flat_map(|(d, s, i)| {
        let n = d + s + i;
        (
            proptest::collection::vec(
                prop_oneof![
                    2 => Just(None),
                    1 => Just(Some(None)),
                    3 => (1u16..=(s + i) as u16).prop_map(|x| Some(Some(x))),
                ],
                d,
            ),
            proptest::collection::vec(proptest::bool::weighted(0.6), s),
            proptest::collection::vec(proptest::bool::weighted(0.4), i),
            proptest::collection::vec(prop_oneof![3 => Just(1u16), 1 => 2u16..=4], n),
            proptest::collection::vec(proptest::bool::weighted(0.5), n),
            prop_oneof![Just(None), Just(Some("")), Just(Some(" asc=24"))],
        )
            .prop_map(
                |(drives, storage, import_export, gaps, phantoms, strict)| Spec {
                    drives,
                    storage,
                    import_export,
                    gaps,
                    phantoms,
                    strict,
                },
            )
    })
}

fn tag_of_slot(n: usize) -> String {
    format!("SL{n:04}L6")
}
fn tag_of_drive(i: usize) -> String {
    format!("DR{i:04}L6")
}

impl Spec {
    fn text(&self) -> String {
        let (d, s, i) = (
            self.drives.len(),
            self.storage.len(),
            self.import_export.len(),
        );
        let mut hash = String::new();
        let mut gaps = self.gaps.iter().zip(&self.phantoms);
        // Each type from its own base; a not-installed element sits in a gap when there is one.
        let mut place = |base: u16, count: usize, kind: &str, what: &str, hash: &mut String| {
            let mut a = base;
            for k in 0..count {
                hash.push_str(&format!(
                    "# sim: {what} {} address={a}\n",
                    k + usize::from(what == "slot") + self.offset(what, kind)
                ));
                let (gap, phantom) = gaps.next().unwrap();
                if *gap >= 2 && *phantom {
                    hash.push_str(&format!("# sim: not-installed {kind} address={}\n", a + 1));
                }
                a += gap;
            }
        };
        place(500, d, "drive", "drive", &mut hash);
        place(1000, s, "storage", "slot", &mut hash);
        place(3000, i, "ie", "slot", &mut hash);
        if let Some(asc) = self.strict {
            hash.push_str(&format!("# sim: strict-addresses{asc}\n"));
        }
        let mut text = format!(
            "{hash}  Storage Changer /dev/sg3:{d} Drives, {} Slots ( {i} Import/Export )\n",
            s + i
        );
        for (k, drive) in self.drives.iter().enumerate() {
            match drive {
                None => text.push_str(&format!("Data Transfer Element {k}:Empty\n")),
                Some(None) => text.push_str(&format!(
                    "Data Transfer Element {k}:Full (Unknown Storage Element Loaded):VolumeTag = {}\n",
                    tag_of_drive(k)
                )),
                Some(Some(from)) => text.push_str(&format!(
                    "Data Transfer Element {k}:Full (Storage Element {from} Loaded):VolumeTag = {}\n",
                    tag_of_drive(k)
                )),
            }
        }
        for (k, full) in self.storage.iter().chain(&self.import_export).enumerate() {
            let n = k + 1;
            let ie = if k >= s { " IMPORT/EXPORT" } else { "" };
            if *full {
                text.push_str(&format!(
                    "      Storage Element {n}{ie}:Full :VolumeTag={}\n",
                    tag_of_slot(n)
                ));
            } else {
                text.push_str(&format!("      Storage Element {n}{ie}:Empty\n"));
            }
        }
        text
    }

    /// `# sim: slot N` numbers I/E slots after the storage slots.
    fn offset(&self, what: &str, kind: &str) -> usize {
        if what == "slot" && kind == "ie" {
            self.storage.len()
        } else {
            0
        }
    }
}

/// What `listall` says: slot → tag (None = empty), drive → (home slot, tag) or None.
#[derive(Debug, Default)]
struct Listall {
    slots: BTreeMap<u16, Option<String>>,
    /// `Some((0, tag))` for a full drive whose home is unknown (`D:<n>:F::<tag>`, C1).
    drives: BTreeMap<u16, Option<(u16, String)>>,
}

fn parse_listall(out: &str) -> Listall {
    let mut l = Listall::default();
    for line in out.lines() {
        let f: Vec<&str> = line.split(':').collect();
        match f.as_slice() {
            ["D", i, "E"] => {
                l.drives.insert(i.parse().unwrap(), None);
            }
            ["D", i, "F", s, tag] => {
                l.drives.insert(
                    i.parse().unwrap(),
                    Some((s.parse().unwrap_or(0), tag.to_string())),
                );
            }
            ["S" | "I", n, "E"] => {
                l.slots.insert(n.parse().unwrap(), None);
            }
            ["S" | "I", n, "F", tag] => {
                l.slots.insert(n.parse().unwrap(), Some(tag.to_string()));
            }
            _ => panic!("unexpected listall line {line:?} in\n{out}"),
        }
    }
    l
}

fn listall(lib: &Lib) -> Listall {
    let o = lib.run(&["listall"]);
    assert_eq!(status(&o), 0, "listall: {}", stderr(&o));
    parse_listall(&stdout(&o))
}

fn check(spec: &Spec) -> Result<(), TestCaseError> {
    let lib = Lib::new(&spec.text(), "");
    let (s, i) = (spec.storage.len(), spec.import_export.len());
    let view = listall(&lib);
    let context = || format!("{}\n{view:?}", lib.text());

    // listall numbers the installed slots 1..S+I in address order, as the text lists them.
    let want: Vec<u16> = (1..=(s + i) as u16).collect();
    prop_assert_eq!(
        view.slots.keys().copied().collect::<Vec<_>>(),
        want,
        "{}",
        context()
    );
    for (n, full) in spec.storage.iter().chain(&spec.import_export).enumerate() {
        let n = n + 1;
        prop_assert_eq!(
            view.slots[&(n as u16)].clone(),
            full.then(|| tag_of_slot(n)),
            "slot {}: {}",
            n,
            context()
        );
    }
    prop_assert_eq!(view.drives.len(), spec.drives.len(), "{}", context());

    // slots counts what listall numbers.
    let o = lib.run(&["slots"]);
    prop_assert_eq!(stdout(&o), format!("{}\n", s + i), "{}", context());

    // Homes: never two drives on one slot, never a full slot; loaded and list agree.
    let list = stdout(&lib.run(&["list"]));
    let mut homes = Vec::new();
    for (k, d) in &view.drives {
        let dev = format!("/dev/nst{k}");
        let o = lib.run(&["loaded", "0", &dev, &k.to_string()]);
        match d {
            None => prop_assert_eq!(stdout(&o), "0\n", "drive {}: {}", k, context()),
            Some((0, _)) => {
                // No free storage slot for a cartridge of unknown origin: C1 refuses.
                prop_assert_eq!(status(&o), 1, "drive {}: {}", k, context());
                prop_assert!(
                    spec.storage
                        .iter()
                        .enumerate()
                        .all(|(n, _)| view.slots[&(n as u16 + 1)].is_some()
                            || homes.contains(&(n as u16 + 1))
                            || view
                                .drives
                                .values()
                                .flatten()
                                .any(|(h, _)| *h == n as u16 + 1)),
                    "a free storage slot was not offered: {}",
                    context()
                );
            }
            Some((home, tag)) => {
                prop_assert_eq!(
                    stdout(&o),
                    format!("{home}\n"),
                    "drive {}: {}",
                    k,
                    context()
                );
                prop_assert!(
                    view.slots[home].is_none(),
                    "home {} is full: {}",
                    home,
                    context()
                );
                prop_assert!(
                    !homes.contains(home),
                    "slot {} claimed twice: {}",
                    home,
                    context()
                );
                prop_assert!(
                    list.lines().any(|l| l == format!("{home}:{tag}")),
                    "list lacks {}:{}\n{}\n{}",
                    home,
                    tag,
                    list,
                    context()
                );
                homes.push(*home);
            }
        }
    }

    // A load goes to the drive listall calls k, from the slot listall calls f; the unload
    // puts it back where listall said.
    let full = view
        .slots
        .iter()
        .find(|(_, t)| t.is_some())
        .map(|(n, t)| (*n, t.clone().unwrap()));
    let empty_drive = view
        .drives
        .iter()
        .find(|(_, d)| d.is_none())
        .map(|(k, _)| *k);
    if let (Some((f, tag)), Some(k)) = (full, empty_drive) {
        let dev = format!("/dev/nst{k}");
        let o = lib.run(&["load", &f.to_string(), &dev, &k.to_string()]);
        prop_assert_eq!(
            status(&o),
            0,
            "load {} {}: {}{}",
            f,
            k,
            stdout(&o),
            context()
        );
        let after = listall(&lib);
        let (home, in_drive) = after.drives[&k].clone().expect("drive loaded");
        prop_assert_eq!(&in_drive, &tag, "{}", context());
        prop_assert_eq!(after.slots[&f].clone(), None);
        // The slot it came from is its home, unless a lower drive reports the same source
        // (the lowest claimant keeps a slot, C1).
        let lower_claims_f = spec.drives[..usize::from(k)].contains(&Some(Some(f)));
        if !lower_claims_f {
            prop_assert_eq!(home, f, "{}", context());
        }
        let o = lib.run(&["loaded", "0", &dev, &k.to_string()]);
        if home == 0 {
            // Every storage slot is full or claimed: C1's unknown home.
            prop_assert_eq!(status(&o), 1, "{}", context());
        } else {
            prop_assert_eq!(stdout(&o), format!("{home}\n"), "{}", context());
        }
        let o = lib.run(&["unload", &f.to_string(), &dev, &k.to_string()]);
        prop_assert_eq!(status(&o), 0, "unload: {}{}", stdout(&o), context());
        prop_assert_eq!(listall(&lib).slots[&f].clone(), Some(tag));
    }

    // transfer moves between the slots listall names.
    let view = listall(&lib);
    let from = view
        .slots
        .iter()
        .find(|(_, t)| t.is_some())
        .map(|(n, t)| (*n, t.clone().unwrap()));
    let to = view
        .slots
        .iter()
        .rev()
        .find(|(n, t)| t.is_none() && !view.drives.values().flatten().any(|(h, _)| h == *n))
        .map(|(n, _)| *n);
    if let (Some((from, tag)), Some(to)) = (from, to) {
        let o = lib.run(&["transfer", &from.to_string(), &to.to_string()]);
        prop_assert_eq!(
            status(&o),
            0,
            "transfer {} {}: {}{}",
            from,
            to,
            stderr(&o),
            context()
        );
        let after = listall(&lib);
        prop_assert_eq!(after.slots[&to].clone(), Some(tag));
        prop_assert_eq!(after.slots[&from].clone(), None);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_command_numbers_slots_and_drives_as_listall_does(spec in spec()) {
        check(&spec)?;
    }
}

/// The case: with one slot not installed, `listall` says `D:0:F:3`, and so must
/// `loaded`; `unload` puts the tape where `listall` shows slot 3.
#[test]
fn a_not_installed_slot_shifts_every_answer_alike() {
    let lib = Lib::new(
        "# sim: not-installed storage address=1001
# sim: slot 2 address=1002
# sim: slot 3 address=1003
# sim: slot 4 address=1004
  Storage Changer /dev/sg3:1 Drives, 4 Slots ( 0 Import/Export )
Data Transfer Element 0:Full (Storage Element 3 Loaded):VolumeTag = TAPE03
      Storage Element 1:Full :VolumeTag=TAPE01
      Storage Element 2:Full :VolumeTag=TAPE02
      Storage Element 3:Empty
      Storage Element 4:Full :VolumeTag=TAPE04
",
        "",
    );
    assert!(stdout(&lib.run(&["listall"])).starts_with("D:0:F:3:TAPE03\n"));
    assert_eq!(stdout(&lib.run(&["slots"])), "4\n");
    assert_eq!(stdout(&lib.run(&["loaded", "0", "/dev/nst0", "0"])), "3\n");
    let o = lib.run(&["unload", "3", "/dev/nst0", "0"]);
    assert_eq!(status(&o), 0, "{}", stdout(&o));
    assert!(
        lib.text()
            .contains("Storage Element 3:Full :VolumeTag=TAPE03"),
        "{}",
        lib.text()
    );
    // load 4 loads the tape listall calls slot 4.
    let o = lib.run(&["load", "4", "/dev/nst0", "0"]);
    assert_eq!(status(&o), 0, "{}", stdout(&o));
    assert!(stdout(&lib.run(&["listall"])).starts_with("D:0:F:4:TAPE04\n"));
}

/// A not-installed drive does not take a drive index.
#[test]
fn a_not_installed_drive_does_not_take_an_index() {
    let lib = Lib::new(
        "# sim: not-installed drive address=500
# sim: drive 0 address=501
# sim: drive 1 address=502
  Storage Changer /dev/sg3:2 Drives, 3 Slots ( 0 Import/Export )
Data Transfer Element 0:Empty
Data Transfer Element 1:Full (Storage Element 2 Loaded):VolumeTag = TAPE02
      Storage Element 1:Full :VolumeTag=TAPE01
      Storage Element 2:Empty
      Storage Element 3:Empty
",
        "",
    );
    assert_eq!(
        stdout(&lib.run(&["listall"])),
        "D:0:E\nD:1:F:2:TAPE02\nS:1:F:TAPE01\nS:2:E\nS:3:E\n"
    );
    assert_eq!(stdout(&lib.run(&["loaded", "0", "/dev/nst1", "1"])), "2\n");
    let o = lib.run(&["load", "1", "/dev/nst0", "0"]);
    assert_eq!(status(&o), 0, "{}", stdout(&o));
    assert!(
        lib.text()
            .contains("Data Transfer Element 0:Full (Storage Element 1 Loaded)")
    );
}

/// Item 3 of the hardening issue: two drives report one source slot, and a source slot that
/// holds another cartridge now. Neither is claimed twice nor answered while full.
#[test]
fn duplicate_and_refilled_sources_follow_the_unknown_source_rule() {
    let lib = Lib::new(
        "  Storage Changer /dev/sg3:3 Drives, 5 Slots ( 0 Import/Export )
Data Transfer Element 0:Full (Storage Element 2 Loaded):VolumeTag = TAPEA
Data Transfer Element 1:Full (Storage Element 2 Loaded):VolumeTag = TAPEB
Data Transfer Element 2:Full (Storage Element 1 Loaded):VolumeTag = TAPEC
      Storage Element 1:Full :VolumeTag=TAPE01
      Storage Element 2:Empty
      Storage Element 3:Full :VolumeTag=TAPE03
      Storage Element 4:Empty
      Storage Element 5:Empty
",
        "",
    );
    assert_eq!(
        stdout(&lib.run(&["listall"])),
        "D:0:F:2:TAPEA\nD:1:F:4:TAPEB\nD:2:F:5:TAPEC\nS:1:F:TAPE01\nS:2:E\nS:3:F:TAPE03\nS:4:E\nS:5:E\n"
    );
    assert_eq!(
        stdout(&lib.run(&["list"])),
        "1:TAPE01\n3:TAPE03\n2:TAPEA\n4:TAPEB\n5:TAPEC\n"
    );
    for (drive, slot) in [("0", "2\n"), ("1", "4\n"), ("2", "5\n")] {
        let dev = format!("/dev/nst{drive}");
        assert_eq!(stdout(&lib.run(&["loaded", "0", &dev, drive])), slot);
    }
    // Bareos unloads drive 2 into the slot `loaded` gave it.
    let o = lib.run(&["unload", "5", "/dev/nst2", "2"]);
    assert_eq!(status(&o), 0, "{}", stdout(&o));
    assert!(
        lib.text()
            .contains("Storage Element 5:Full :VolumeTag=TAPEC")
    );
}

/// Item 7 of the hardening issue: a library that refuses READ ELEMENT STATUS at an address in
/// a gap (05h/21h/01h, or 05h/24h/00h) still loads and transfers: no command places a slot by
/// page-1Dh arithmetic and asks the library to confirm it.
#[test]
fn a_library_that_refuses_addresses_in_gaps_still_loads_and_transfers() {
    for answer in ["", " asc=21", " asc=24"] {
        let lib = Lib::new(
            &format!(
                "# sim: slot 3 address=1005
# sim: slot 4 address=1006
# sim: strict-addresses{answer}
  Storage Changer /dev/sg3:1 Drives, 4 Slots ( 0 Import/Export )
Data Transfer Element 0:Empty
      Storage Element 1:Full :VolumeTag=TAPE01
      Storage Element 2:Empty
      Storage Element 3:Full :VolumeTag=TAPE03
      Storage Element 4:Full :VolumeTag=TAPE04
"
            ),
            "",
        );
        let o = lib.run(&["load", "3", "/dev/nst0", "0"]);
        assert_eq!(status(&o), 0, "{answer}: {}", stdout(&o));
        assert!(stdout(&lib.run(&["listall"])).starts_with("D:0:F:3:TAPE03\n"));
        let o = lib.run(&["transfer", "4", "2"]);
        assert_eq!(status(&o), 0, "{answer}: {}", stderr(&o));
        assert!(
            lib.text()
                .contains("Storage Element 2:Full :VolumeTag=TAPE04")
        );
    }
}

/// A library too large for one READ ELEMENT STATUS, with a gap in its addresses exactly where
/// the second request would start, that refuses a starting address in a gap: every slot is
/// still read (the next request starts at an address the library reported).
#[test]
fn a_strict_library_with_a_gap_at_a_request_boundary_is_read_whole() {
    for answer in ["", " asc=24"] {
        strict_library_with_a_gap_at_a_request_boundary(answer);
    }
}

fn strict_library_with_a_gap_at_a_request_boundary(answer: &str) {
    let slots = 1300usize;
    let mut text = format!("# sim: strict-addresses{answer}\n");
    // With volume tags 1259 descriptors of 52 bytes fill a 64 KiB reply; slot 1260 on sits
    // 5 addresses further.
    for n in 1260..=slots {
        text.push_str(&format!("# sim: slot {n} address={}\n", 1000 + n - 1 + 5));
    }
    text.push_str(&format!(
        "  Storage Changer /dev/sg3:1 Drives, {slots} Slots ( 0 Import/Export )\nData Transfer Element 0:Empty\n"
    ));
    for n in 1..=slots {
        text.push_str(&format!(
            "      Storage Element {n}:Full :VolumeTag={}\n",
            tag_of_slot(n)
        ));
    }
    let lib = Lib::new(&text, "");
    let o = lib.run(&["listall"]);
    assert_eq!(status(&o), 0, "{}", stderr(&o));
    let view = parse_listall(&stdout(&o));
    assert_eq!(view.slots.len(), slots);
    assert_eq!(view.slots[&1300], Some(tag_of_slot(1300)));
    assert_eq!(stdout(&lib.run(&["slots"])), format!("{slots}\n"));
}
