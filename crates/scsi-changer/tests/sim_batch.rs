//! One inventory's READ ELEMENT STATUS requests go out together (`Changer::read_types` over
//! `Transport::execute_many`), and the result is exactly what reading the types one request
//! after the other gives, for any library the simulator can hold: address gaps, types
//! interleaved, descriptors of 16, 52 or 88 bytes, a unit attention in the middle, a library
//! that rejects VOLTAG.

mod sim_common;

use std::io;

use proptest::prelude::*;
use scsi_changer::changer::{Changer, ReadOptions};
use scsi_changer::inventory::Inventory;
use scsi_changer::retry::RetryPolicy;
use scsi_changer::sim::{Fault, SimElement, SimState, SimTransport};
use scsi_changer::transport::{Command, Completion, Transport};
use scsi_changer::{ElementType, Error};
use sim_common::TempLibrary;

/// Records, per call, the operation codes of the commands sent together (one call = one
/// round trip when the transport keeps them in flight at once), then lets the simulator
/// answer them one by one.
struct Rounds {
    inner: SimTransport,
    rounds: Vec<Vec<u8>>,
}

impl Transport for Rounds {
    fn execute(&mut self, cmd: Command<'_>) -> io::Result<Completion> {
        self.rounds.push(vec![cmd.cdb[0]]);
        self.inner.execute(cmd)
    }

    fn execute_many(&mut self, cmds: &mut [Command<'_>]) -> Vec<io::Result<Completion>> {
        self.rounds.push(cmds.iter().map(|c| c.cdb[0]).collect());
        cmds.iter_mut()
            .map(|c| self.inner.execute(c.reborrow()))
            .collect()
    }

    fn name(&self) -> &str {
        self.inner.name()
    }
}

const MODE_SENSE_6: u8 = 0x1a;
const READ_ELEMENT_STATUS: u8 = 0xb8;

/// 10 drives, 1600 + 1600 slots, 100 tapes in storage, 10 in I/E slots.
fn aws() -> SimState {
    let mut s = SimState::new("sim:aws", 10, 1600, 1600).unwrap();
    for n in 1..=100u16 {
        s.set_slot(
            n * 16,
            SimElement::with_tag(&format!("{:<32}", format!("AWS{n:05}"))),
        )
        .unwrap();
    }
    for k in 1..=10u16 {
        s.set_slot(1600 + k, SimElement::with_tag(&format!("NEW{k:05}")))
            .unwrap();
    }
    s
}

fn rounds(t: &TempLibrary) -> Changer<Rounds> {
    Changer::new(Rounds {
        inner: t.lib.changer(),
        rounds: Vec::new(),
    })
    .with_policy(RetryPolicy::immediate())
}

const TAGS: ReadOptions = ReadOptions {
    voltag: true,
    dvcid: false,
};
const PLAIN: ReadOptions = ReadOptions {
    voltag: false,
    dvcid: false,
};

/// What `Changer::inventory_from` returned before the read-ahead: each type read on its own,
/// one request after the other.
fn sequential<T: Transport>(c: &mut Changer<T>, with_transport: bool) -> Result<Inventory, Error> {
    let page = c.element_address_assignment()?;
    let storage = c.read_type(&page, ElementType::Storage, TAGS)?;
    let import_export = c.read_type(&page, ElementType::ImportExport, TAGS)?;
    let drives = c.read_type(&page, ElementType::DataTransfer, TAGS)?;
    let transports = if with_transport {
        c.read_type(&page, ElementType::MediumTransport, PLAIN)?
    } else {
        Vec::new()
    };
    Ok(Inventory::from_lists(
        transports,
        storage,
        import_export,
        drives,
    ))
}

#[test]
fn aws_inventory_is_one_mode_sense_then_one_round_of_five_requests() {
    let t = TempLibrary::new(&aws().render());
    let mut c = rounds(&t);
    // As `listall` reads it: the transport stands in from page 1Dh.
    let (_, mut inv) = c.inventory(false).unwrap();
    assert_eq!(
        c.transport_mut().rounds,
        vec![
            vec![MODE_SENSE_6],
            // storage 1259 + 341, I/E 1259 + 341, drives 10: all in flight at once.
            vec![READ_ELEMENT_STATUS; 5],
        ]
    );
    assert_eq!((inv.storage.len(), inv.import_export.len()), (1600, 1600));
    assert_eq!(inv.drives.len(), 10);
    assert_eq!(c.observed().commands, 6);

    let t2 = TempLibrary::new(&aws().render());
    inv.transports.clear();
    assert_eq!(inv, sequential(&mut rounds(&t2), false).unwrap());
}

#[test]
fn list_reads_storage_and_drives_in_one_round() {
    let t = TempLibrary::new(&aws().render());
    let mut c = rounds(&t);
    let page = c.element_address_assignment().unwrap();
    let lists = c
        .read_types(
            &page,
            &[
                (ElementType::Storage, TAGS),
                (ElementType::DataTransfer, TAGS),
            ],
        )
        .unwrap();
    assert_eq!(
        c.transport_mut().rounds,
        vec![vec![MODE_SENSE_6], vec![READ_ELEMENT_STATUS; 3]]
    );
    assert_eq!((lists[0].len(), lists[1].len()), (1600, 10));
}

/// A library as the test builds it.
#[derive(Debug, Clone)]
struct Library {
    drives: u16,
    storage: u16,
    import_export: u16,
    /// Whether each slot (mtx order) is full, and its tag number.
    full: Vec<bool>,
    /// None: no tags at all (16-byte descriptors); Some(false): primary tags (52); Some(true):
    /// some alternate tags too (88).
    tags: Option<bool>,
    /// Address gap before each slot's address (slots in address order), 0 mostly.
    gaps: Vec<u16>,
    /// Per address, in increasing order: whether it belongs to an I/E slot (types interleaved)
    /// — or `None`: storage addresses first, then I/E.
    interleave: Option<Vec<bool>>,
    fault: Option<Fault>,
}

fn library() -> impl Strategy<Value = Library> {
    let sizes = prop_oneof![
        (0u16..40, 0u16..10),
        (1200u16..2700, 0u16..1400),
        (700u16..1600, 700u16..1600),
    ];
    (0u16..5, sizes).prop_flat_map(|(drives, (storage, import_export))| {
        let slots = usize::from(storage + import_export);
        let ie: Vec<bool> = (0..slots).map(|k| k >= usize::from(storage)).collect();
        (
            proptest::collection::vec(proptest::bool::weighted(0.3), slots),
            prop_oneof![Just(None), Just(Some(false)), Just(Some(true))],
            proptest::collection::vec(
                prop_oneof![200 => Just(0u16), 10 => 1u16..4, 1 => 50u16..400],
                slots,
            ),
            prop_oneof![Just(None), Just(ie).prop_shuffle().prop_map(Some)],
            prop_oneof![
                3 => Just(None),
                1 => Just(Some(Fault::UnitAttention { count: 1 })),
                1 => Just(Some(Fault::NoVoltag)),
            ],
        )
            .prop_map(move |(full, tags, gaps, interleave, fault)| Library {
                drives,
                storage,
                import_export,
                full,
                tags,
                gaps,
                interleave,
                fault,
            })
    })
}

/// The library file: mtx text plus an address line for every slot.
fn text(lib: &Library) -> String {
    let mut state = SimState::new("sim:p", lib.drives, lib.storage, lib.import_export).unwrap();
    for (k, &full) in lib.full.iter().enumerate() {
        let n = k as u16 + 1;
        let element = match (full, lib.tags) {
            (false, _) => SimElement::default(),
            (true, None) => SimElement {
                full: true,
                ..SimElement::default()
            },
            (true, Some(alternate)) => {
                let mut e = SimElement::with_tag(&format!("T{n:05}L6"));
                if alternate && n.is_multiple_of(3) {
                    e.alternate = SimElement::with_tag(&format!("ALT{n:05}")).primary;
                }
                e
            }
        };
        state.set_slot(n, element).unwrap();
    }
    // Addresses in increasing order from 1000, each after its gap; who gets which.
    let mut address = 1000u16;
    let addresses: Vec<u16> = lib
        .gaps
        .iter()
        .map(|gap| {
            address += gap + 1;
            address
        })
        .collect();
    let is_ie: Vec<bool> = lib.interleave.clone().unwrap_or_else(|| {
        (0..lib.full.len())
            .map(|k| k >= usize::from(lib.storage))
            .collect()
    });
    let (mut storage_n, mut ie_n) = (1u16, lib.storage + 1);
    let mut lines = String::from("# sim: addresses transport=1 drive=500\n");
    for (a, ie) in addresses.iter().zip(is_ie) {
        let n = if ie { &mut ie_n } else { &mut storage_n };
        lines.push_str(&format!("# sim: slot {n} address={a}\n"));
        *n += 1;
    }
    format!("{lines}{}", state.render())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn read_ahead_inventory_equals_the_sequential_one(lib in library(), with_transport: bool) {
        let text = text(&lib);
        let (batched, one_by_one) = (TempLibrary::new(&text), TempLibrary::new(&text));
        let mut c = rounds(&batched);
        let mut s = rounds(&one_by_one);
        let page = c.element_address_assignment().unwrap();
        if let Some(fault) = &lib.fault {
            batched.lib.inject(*fault).unwrap();
            one_by_one.lib.inject(*fault).unwrap();
        }
        let got = c.inventory_from(&page, with_transport).map_err(|e| e.to_string());
        let want = sequential(&mut s, with_transport).map_err(|e| e.to_string());
        let got = got.map(|mut inv| {
            // inventory_from stands in the page's transport when it does not read it.
            if !with_transport { inv.transports.clear(); }
            inv
        });
        prop_assert_eq!(got, want);
        // Never more round trips than one request at a time — but for the read-ahead itself
        // when every reply sent ahead has to be sent again (a library that rejects VOLTAG).
        let (batched, one_by_one) = (c.transport_mut().rounds.len(), s.transport_mut().rounds.len());
        let extra = usize::from(lib.fault.is_some());
        prop_assert!(batched <= one_by_one + extra, "{} > {} + {}", batched, one_by_one, extra);
    }
}
