//! READ ELEMENT STATUS (SMC-3 6.10) replies built from the state, byte-exact.
//!
//! One element status page per run of same-type elements in address order (so type 0, "all
//! types", is answered as SMC-3 wants: every element from the starting address, pages split
//! where the type changes). Descriptors are 12 bytes + PRIMARY VOLUME TAG (36, when asked and
//! the library has barcodes) + ALTERNATE VOLUME TAG (36, when asked and some cartridge has
//! one) + the 4-byte identifier header + the DVCID identifier (drives, when asked).

use super::faults::Fault;
use super::layout::Loc;
use super::state::{ResolvedIdentity, SimElement, SimState};

/// The fields of a READ ELEMENT STATUS CDB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Request {
    pub element_type: u8,
    pub voltag: bool,
    pub start: u16,
    pub count: u16,
    pub dvcid: bool,
    pub allocation: usize,
}

impl Request {
    /// Reads a 12-byte CDB; `None` when it is shorter.
    pub fn parse(cdb: &[u8]) -> Option<Request> {
        let b = cdb.get(..12)?;
        let at = |i: usize| b.get(i).copied().unwrap_or(0);
        Some(Request {
            element_type: at(1) & 0x0f,
            voltag: at(1) & 0x10 != 0,
            start: u16::from_be_bytes([at(2), at(3)]),
            count: u16::from_be_bytes([at(4), at(5)]),
            dvcid: at(6) & 0x01 != 0,
            allocation: u32::from_be_bytes([0, at(7), at(8), at(9)]) as usize,
        })
    }
}

/// SMC-3 element type codes.
const MT: u8 = 1;
const ST: u8 = 2;
const IE: u8 = 3;
const DT: u8 = 4;

/// Bytes of VOLUME TAG INFORMATION.
const TAG_LEN: usize = 36;
/// DVCID serials are blank-padded to at least this many bytes (IBM's 34-byte identifier).
const SERIAL_PAD: usize = 10;

fn type_code(state: &SimState, loc: Loc) -> u8 {
    match loc {
        Loc::Transport => MT,
        Loc::Drive(_) => DT,
        Loc::Slot(i) if state.slot_is_ie.get(i).copied().unwrap_or(false) => IE,
        Loc::Slot(_) => ST,
    }
}

/// The whole reply (header and pages), before any truncation to the allocation length.
pub(crate) fn encode(
    state: &SimState,
    req: &Request,
    drive_identity: &dyn Fn(usize) -> ResolvedIdentity,
) -> Vec<u8> {
    let pvoltag = req.voltag && state.has_barcodes();
    let avoltag = req.voltag && state.has_alternate_tags();
    let selected: Vec<(u16, Slot)> = elements_from(state, req.start)
        .filter(|(_, e)| req.element_type == 0 || e.type_code(state) == req.element_type)
        .take(usize::from(req.count))
        .collect();

    let mut pages = Vec::new();
    for run in selected.chunk_by(|a, b| a.1.type_code(state) == b.1.type_code(state)) {
        let Some(&(_, first)) = run.first() else {
            continue;
        };
        let code = first.type_code(state);
        let ids: Vec<Option<Vec<u8>>> = run
            .iter()
            .map(|(_, e)| match e {
                Slot::Installed(Loc::Drive(d)) if req.dvcid => {
                    Some(t10_identifier(&drive_identity(*d)))
                }
                _ => None,
            })
            .collect();
        let id_len = ids.iter().flatten().map(Vec::len).max().unwrap_or(0);
        let descriptor_len =
            12 + if pvoltag { TAG_LEN } else { 0 } + if avoltag { TAG_LEN } else { 0 } + 4 + id_len;
        let page_bytes = descriptor_len * run.len();
        pages.push(code);
        pages.push(u8::from(pvoltag) << 7 | u8::from(avoltag) << 6);
        pages.extend_from_slice(&u16_bytes(descriptor_len));
        pages.push(0);
        pages.extend_from_slice(&u24_bytes(page_bytes));
        for ((address, element), id) in run.iter().zip(&ids) {
            let start = pages.len();
            match element {
                Slot::Installed(loc) => descriptor(
                    &mut pages,
                    state,
                    *address,
                    *loc,
                    pvoltag,
                    avoltag,
                    id.as_deref(),
                ),
                Slot::NotInstalled(code) => not_installed_descriptor(&mut pages, *address, *code),
            }
            // Pad to the page's descriptor length (identifiers may differ in length).
            pages.resize(start + descriptor_len, 0);
        }
    }

    let mut out = Vec::with_capacity(8 + pages.len());
    out.extend_from_slice(&u16_bytes(selected.first().map_or(0, |e| usize::from(e.0))));
    out.extend_from_slice(&u16_bytes(selected.len()));
    out.push(0);
    out.extend_from_slice(&u24_bytes(pages.len()));
    out.extend_from_slice(&pages);
    out
}

/// An element position in address order: a real element, or one that reports "not installed".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// An element of the status text.
    Installed(Loc),
    /// A `# sim: not-installed` element of this type code.
    NotInstalled(u8),
}

impl Slot {
    fn type_code(self, state: &SimState) -> u8 {
        match self {
            Slot::Installed(loc) => type_code(state, loc),
            Slot::NotInstalled(code) => code,
        }
    }
}

/// Every element, installed or not, with an address ≥ `start`, by increasing address.
pub(crate) fn elements_from(
    state: &SimState,
    start: u16,
) -> impl Iterator<Item = (u16, Slot)> + '_ {
    let mut installed = state.layout.starting_at(start).iter().peekable();
    let mut missing = state
        .config
        .not_installed
        .iter()
        .filter(move |(_, a)| *a >= start)
        .peekable();
    std::iter::from_fn(move || match (installed.peek(), missing.peek()) {
        (Some(&&(a, loc)), Some(&&(_, b))) if a < b => {
            installed.next();
            Some((a, Slot::Installed(loc)))
        }
        (_, Some(&&(code, b))) => {
            missing.next();
            Some((b, Slot::NotInstalled(code)))
        }
        (Some(&&(a, loc)), None) => {
            installed.next();
            Some((a, Slot::Installed(loc)))
        }
        (None, None) => None,
    })
}

/// A descriptor of a not-installed element: empty, ASC/ASCQ 83h/02h (83h/04h for a drive),
/// no tags or identifier.
fn not_installed_descriptor(out: &mut Vec<u8>, address: u16, code: u8) {
    let ascq = if code == DT { 0x04 } else { 0x02 };
    out.extend_from_slice(&address.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0x83, ascq, 0, 0, 0, 0, 0, 0]);
}

/// One element descriptor (without padding).
fn descriptor(
    out: &mut Vec<u8>,
    state: &SimState,
    address: u16,
    loc: Loc,
    pvoltag: bool,
    avoltag: bool,
    identifier: Option<&[u8]>,
) {
    let empty = SimElement::default();
    let e = state.element(loc).unwrap_or(&empty);
    out.extend_from_slice(&address.to_be_bytes());
    out.push(flags(state, loc, e));
    out.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // reserved, ASC, ASCQ, bus bytes, reserved
    let source = e.source.filter(|_| e.full).and_then(|n| {
        state
            .layout
            .slots
            .get(usize::from(n).checked_sub(1)?)
            .copied()
    });
    let medium_type = match (e.full, e.is_cleaning()) {
        (false, _) => 0,
        (true, true) => 2,
        (true, false) => 1,
    };
    out.push(u8::from(source.is_some()) << 7 | medium_type);
    out.extend_from_slice(&source.unwrap_or(0).to_be_bytes());
    if pvoltag {
        volume_tag(out, e.primary.as_ref());
    }
    if avoltag {
        volume_tag(out, e.alternate.as_ref());
    }
    match identifier {
        Some(id) => {
            // CODE SET 2 (ASCII), ASSOCIATION 0 (LU), TYPE 1 (T10 vendor ID based).
            out.extend_from_slice(&[0x02, 0x01, 0x00, u8::try_from(id.len()).unwrap_or(u8::MAX)]);
            out.extend_from_slice(id);
        }
        None => out.extend_from_slice(&[0, 0, 0, 0]),
    }
}

/// Byte 2 of a descriptor.
fn flags(state: &SimState, loc: Loc, e: &SimElement) -> u8 {
    const FULL: u8 = 0x01;
    const IMPEXP: u8 = 0x02;
    const ACCESS: u8 = 0x08;
    const EXENAB: u8 = 0x10;
    const INENAB: u8 = 0x20;
    let full = if e.full { FULL | ACCESS } else { 0 };
    match (loc, type_code(state, loc)) {
        (Loc::Transport, _) => 0,
        (Loc::Drive(d), _) => {
            // A drive that will not let go of its tape cannot be reached by the robot.
            let locked = state.has_fault(
                |f| matches!(f, Fault::PreventRemoval { drive } if usize::from(*drive) == d),
            );
            if locked { full & !ACCESS } else { full }
        }
        // A cartridge whose origin the library does not know was put there by an operator.
        (_, IE) => {
            let by_operator = if e.full && e.source.is_none() {
                IMPEXP
            } else {
                0
            };
            full | by_operator | EXENAB | INENAB
        }
        _ => full,
    }
}

fn volume_tag(out: &mut Vec<u8>, tag: Option<&crate::element::VolumeTag>) {
    match tag {
        Some(t) => out.extend_from_slice(&t.identification),
        None => out.extend_from_slice(&[0; 32]),
    }
    out.extend_from_slice(&[0; 4]); // reserved, VOLUME SEQUENCE NUMBER
}

/// The T10 vendor ID based identifier: VENDOR (8) + PRODUCT (16) + serial (blank-padded to at
/// least 10), as IBM libraries, mhVTL and tgt send it.
pub(crate) fn t10_identifier(id: &ResolvedIdentity) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + SERIAL_PAD.max(id.serial.len()));
    out.extend_from_slice(&padded(&id.vendor, 8));
    out.extend_from_slice(&padded(&id.product, 16));
    out.extend_from_slice(id.serial.as_bytes());
    if id.serial.len() < SERIAL_PAD {
        out.resize(24 + SERIAL_PAD, b' ');
    }
    out
}

/// `text` blank-padded (or cut) to `len` bytes.
pub(crate) fn padded(text: &str, len: usize) -> Vec<u8> {
    let mut v: Vec<u8> = text.bytes().take(len).collect();
    v.resize(len, b' ');
    v
}

fn u16_bytes(n: usize) -> [u8; 2] {
    u16::try_from(n).unwrap_or(u16::MAX).to_be_bytes()
}

fn u24_bytes(n: usize) -> [u8; 3] {
    let [_, a, b, c] = u32::try_from(n.min(0x00ff_ffff)).unwrap_or(0).to_be_bytes();
    [a, b, c]
}

/// The `garbled-response` fault: the real header (so the length is plausible), then bytes from
/// a fixed xorshift sequence; the first page's type code is never 1 to 4, so a decoder that
/// checks it fails cleanly — and deterministically, run after run.
pub(crate) fn garble(reply: &mut [u8]) {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for b in reply.iter_mut().skip(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x.to_be_bytes()[0];
    }
    if let Some(code) = reply.get_mut(8) {
        *code |= 0x08;
    }
}
