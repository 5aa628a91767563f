//! Round trip: any library state the simulator can hold — any geometry (no I/E slots
//! included), any fullness, tags blank-padded, unpadded, absent or with blanks inside,
//! alternate tags, drive and slot sources known or unknown — renders to text that parses back
//! to the same state, and decodes through the real driver (`Changer::inventory`) to the same
//! elements.

mod sim_common;

use proptest::prelude::*;
use scsi_changer::element::{ElementStatus, VolumeTag};
use scsi_changer::inventory::Inventory;
use scsi_changer::sim::{SimElement, SimState};
use sim_common::TempLibrary;

/// One element as the test models it: tags as mtx text, source as a slot number.
#[derive(Debug, Clone)]
struct Model {
    full: bool,
    primary: Option<String>,
    alternate: Option<String>,
    source: Option<u16>,
}

#[derive(Debug, Clone)]
struct Library {
    storage: u16,
    import_export: u16,
    drives: Vec<Model>,
    slots: Vec<Model>,
}

fn tag() -> impl Strategy<Value = String> {
    prop_oneof![
        // Blank-padded to 32, as most libraries send it.
        "[A-Z0-9]{6,8}".prop_map(|s| format!("{s:<32}")),
        // NUL-padded by the library: mtx prints it unpadded.
        "[A-Z0-9]{1,20}",
        // Blanks anywhere, even all blanks (a "blank tag").
        "[A-Z0-9 ]{1,32}",
        // Cleaning cartridges.
        "CLN[0-9]{3}L[1-9]",
        // Any printable byte, the whole field.
        "[!-~]{32}",
    ]
}

fn element(slots: u16, drive: bool) -> impl Strategy<Value = Model> {
    let source = if slots == 0 {
        Just(None).boxed()
    } else {
        proptest::option::of(1..=slots).boxed()
    };
    (
        any::<bool>(),
        proptest::option::weighted(0.7, tag()),
        proptest::option::weighted(0.15, tag()),
        source,
    )
        .prop_map(move |(full, primary, alternate, source)| {
            if drive && !full {
                // mtx prints nothing but `Empty` for an empty drive.
                return Model {
                    full,
                    primary: None,
                    alternate: None,
                    source: None,
                };
            }
            Model {
                full,
                primary,
                alternate,
                source: source.filter(|_| full),
            }
        })
}

fn library() -> impl Strategy<Value = Library> {
    (0u16..4, 0u16..30, prop_oneof![Just(0u16), 1u16..5]).prop_flat_map(|(d, s, i)| {
        let slots = s + i;
        (
            proptest::collection::vec(element(slots, true), usize::from(d)),
            proptest::collection::vec(element(slots, false), usize::from(slots)),
        )
            .prop_map(move |(drives, slot_models)| Library {
                storage: s,
                import_export: i,
                drives,
                slots: slot_models,
            })
    })
}

fn sim_element(m: &Model) -> SimElement {
    SimElement {
        full: m.full,
        primary: m.primary.as_deref().map(VolumeTag::from_text),
        alternate: m.alternate.as_deref().map(VolumeTag::from_text),
        source: m.source,
    }
}

fn build(lib: &Library) -> SimState {
    let d = u16::try_from(lib.drives.len()).unwrap();
    let mut state = SimState::new("/dev/sg7", d, lib.storage, lib.import_export).unwrap();
    for (i, m) in lib.drives.iter().enumerate() {
        state.set_drive(i as u16, sim_element(m)).unwrap();
    }
    for (i, m) in lib.slots.iter().enumerate() {
        state.set_slot(i as u16 + 1, sim_element(m)).unwrap();
    }
    state
}

/// The decoded element says what the model says.
fn check(what: &str, m: &Model, e: &ElementStatus, inv: &Inventory) -> Result<(), TestCaseError> {
    prop_assert_eq!(e.full, m.full, "{}: full", what);
    let text = |t: Option<VolumeTag>| t.map(|t| t.mtx_text().to_owned()).unwrap_or_default();
    prop_assert_eq!(
        text(e.primary_volume_tag),
        m.primary.clone().unwrap_or_default(),
        "{}: tag",
        what
    );
    prop_assert_eq!(
        text(e.alternate_volume_tag),
        m.alternate.clone().unwrap_or_default(),
        "{}: alternate",
        what
    );
    let source = e.source.map(|a| inv.slot_number(a).map(|s| s.0));
    prop_assert_eq!(source, m.source.map(Some), "{}: source", what);
    let cleaning = m.primary.as_deref().is_some_and(|t| t.starts_with("CLN"));
    let medium = match (m.full, cleaning) {
        (false, _) => 0,
        (true, true) => 2,
        (true, false) => 1,
    };
    prop_assert_eq!(e.medium_type, medium, "{}: medium type", what);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn any_state_renders_parses_and_decodes_back_to_itself(lib in library()) {
        let state = build(&lib);
        let text = state.render();
        let parsed = SimState::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(parsed.render(), text.clone());
        for i in 0..state.drive_count() {
            prop_assert_eq!(parsed.drive(i), state.drive(i));
        }
        for n in 1..=state.slot_count() {
            prop_assert_eq!(parsed.slot(n), state.slot(n));
            prop_assert_eq!(parsed.is_import_export(n), state.is_import_export(n));
        }

        let t = TempLibrary::new(&text);
        let (page, inv) = t.changer().inventory(true).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(inv.drives.len(), lib.drives.len());
        prop_assert_eq!(inv.storage.len(), usize::from(lib.storage));
        prop_assert_eq!(inv.import_export.len(), usize::from(lib.import_export));
        prop_assert_eq!(page.data_transfer as usize, lib.drives.len());
        for (i, m) in lib.drives.iter().enumerate() {
            check(&format!("drive {i}"), m, &inv.drives[i], &inv)?;
        }
        for (i, m) in lib.slots.iter().enumerate() {
            let n = scsi_changer::SlotNumber(i as u16 + 1);
            let e = inv.slot(n).unwrap();
            check(&format!("slot {}", n.0), m, e, &inv)?;
            if inv.is_import_export(n) {
                prop_assert!(e.inenab && e.exenab);
                prop_assert_eq!(e.impexp, m.full && m.source.is_none(), "slot {}: IMPEXP", n.0);
            }
            prop_assert_eq!(e.access, m.full, "slot {}: ACCESS", n.0);
        }
        // Reading changed nothing.
        prop_assert_eq!(t.text(), text);
    }
}
