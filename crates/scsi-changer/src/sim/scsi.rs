//! CDB in, SCSI answer out: the changer LU (SMC-3) and the drive LUs (SSC-4 subset) of a
//! simulated library, byte-exact per SPC-4/SMC-3.
//!
//! Data-in replies are built whole and then cut at the allocation length and the buffer, while
//! their headers keep the full byte counts, as real devices do. Faults are consumed here, in
//! the order a real stack would meet them: a transport error before the library sees the
//! command, then pending unit attentions, then not-ready, then the command itself.

use crate::cdb::opcode;
use crate::sense::{Sense, SenseKey, asc};
use crate::transport::host;

use super::directives::StrictAnswer;
use super::faults::Fault;
use super::moves::{self, MoveError};
use super::res::{self, padded, t10_identifier};
use super::state::{ResolvedIdentity, SimState};

/// What a command produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub status: u8,
    pub host_status: u16,
    pub sense: Vec<u8>,
    /// Data-in bytes written to the buffer.
    pub written: usize,
}

impl Reply {
    fn good(written: usize) -> Reply {
        Reply {
            status: crate::transport::status::GOOD,
            host_status: host::OK,
            sense: Vec::new(),
            written,
        }
    }

    fn check(key: SenseKey, code: (u8, u8)) -> Reply {
        Reply {
            status: crate::transport::status::CHECK_CONDITION,
            sense: Sense::fixed_bytes(key, code.0, code.1),
            ..Reply::good(0)
        }
    }

    fn illegal(code: (u8, u8)) -> Reply {
        Reply::check(SenseKey::IllegalRequest, code)
    }

    /// The adapter reports a failure; the device said nothing.
    fn host(code: u16) -> Reply {
        Reply {
            host_status: code,
            ..Reply::good(0)
        }
    }
}

const POWER_ON_RESET: (u8, u8) = (0x29, 0x00);
const SAVING_NOT_SUPPORTED: (u8, u8) = (0x39, 0x00);
const LU_NOT_SUPPORTED: (u8, u8) = (0x25, 0x00);

/// Peripheral device types.
const CHANGER: u8 = 0x08;
const TAPE: u8 = 0x01;

/// Copies as much of `data` as the allocation length and the buffer allow.
fn send(buf: &mut [u8], data: &[u8], allocation: usize) -> Reply {
    let n = data.len().min(allocation).min(buf.len());
    if let (Some(dst), Some(src)) = (buf.get_mut(..n), data.get(..n)) {
        dst.copy_from_slice(src);
    }
    Reply::good(n)
}

/// CDB length of an operation code's group (SPC-4 4.3.5.1).
fn cdb_len(op: u8) -> usize {
    match op >> 5 {
        0 => 6,
        1 | 2 => 10,
        4 => 16,
        5 => 12,
        _ => 1,
    }
}

fn byte(cdb: &[u8], i: usize) -> u8 {
    cdb.get(i).copied().unwrap_or(0)
}

fn word(cdb: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([byte(cdb, i), byte(cdb, i + 1)])
}

/// What the changer LU needs besides the state.
pub(crate) struct ChangerContext<'a> {
    /// Serial number when the file sets none (derived from the path).
    pub default_serial: &'a str,
    /// The file changed behind this process's back: one UNIT ATTENTION 28h/00h is due.
    pub attention: &'a mut bool,
}

/// One command to the changer LU.
pub(crate) fn changer(
    state: &mut SimState,
    ctx: ChangerContext<'_>,
    cdb: &[u8],
    buf: &mut [u8],
) -> Reply {
    let Some(&op) = cdb.first() else {
        return Reply::illegal(asc::INVALID_OPCODE);
    };
    // The link fails before the library sees anything: nothing else is consumed.
    if state
        .take_fault(|f| matches!(f, Fault::TransportError { .. }))
        .is_some()
    {
        return Reply::host(host::TRANSPORT_DISRUPTED);
    }
    if cdb.len() < cdb_len(op) {
        return Reply::illegal(asc::INVALID_FIELD_IN_CDB);
    }
    // INQUIRY and REQUEST SENSE are answered even with a unit attention pending (SPC-4 5.14).
    match op {
        opcode::INQUIRY => {
            let id = state.changer_identity(ctx.default_serial);
            return inquiry(cdb, buf, CHANGER, &id);
        }
        opcode::REQUEST_SENSE => return request_sense(state, ctx.attention, cdb, buf),
        _ => {}
    }
    if let Some(code) = unit_attention(state, ctx.attention) {
        return Reply::check(SenseKey::UnitAttention, code);
    }
    if state
        .take_fault(|f| matches!(f, Fault::BecomingReady { .. }))
        .is_some()
    {
        return Reply::check(SenseKey::NotReady, asc::BECOMING_READY);
    }
    match op {
        opcode::TEST_UNIT_READY
        | opcode::PREVENT_ALLOW_MEDIUM_REMOVAL
        | opcode::INITIALIZE_ELEMENT_STATUS
        | opcode::INITIALIZE_ELEMENT_STATUS_WITH_RANGE
        | opcode::INITIALIZE_ELEMENT_STATUS_WITH_RANGE_VENDOR => Reply::good(0),
        opcode::MODE_SENSE_6 | opcode::MODE_SENSE_10 => mode_sense(state, cdb, buf),
        opcode::READ_ELEMENT_STATUS => read_element_status(state, cdb, buf),
        opcode::MOVE_MEDIUM => move_medium(state, cdb),
        opcode::EXCHANGE_MEDIUM => exchange_medium(state, cdb),
        _ => Reply::illegal(asc::INVALID_OPCODE),
    }
}

/// A pending unit attention, consumed: the outside change first, then the fault.
fn unit_attention(state: &mut SimState, attention: &mut bool) -> Option<(u8, u8)> {
    if std::mem::take(attention) {
        return Some(asc::NOT_READY_TO_READY);
    }
    state
        .take_fault(|f| matches!(f, Fault::UnitAttention { .. }))
        .map(|_| POWER_ON_RESET)
}

/// `INQUIRY (12h)`: standard data or VPD pages 00h, 80h, 83h.
fn inquiry(cdb: &[u8], buf: &mut [u8], pdt: u8, id: &ResolvedIdentity) -> Reply {
    let evpd = byte(cdb, 1) & 0x01 != 0;
    let page = byte(cdb, 2);
    let allocation = usize::from(word(cdb, 3));
    if byte(cdb, 1) & 0x02 != 0 || (!evpd && page != 0) {
        return Reply::illegal(asc::INVALID_FIELD_IN_CDB);
    }
    let data = if !evpd {
        standard_inquiry(pdt, id)
    } else {
        match page {
            0x00 => vpd(pdt, 0x00, &[0x00, 0x80, 0x83]),
            0x80 => vpd(pdt, 0x80, id.serial.as_bytes()),
            0x83 => {
                let designator = t10_identifier(id);
                let mut body = vec![
                    0x02,
                    0x01,
                    0x00,
                    u8::try_from(designator.len()).unwrap_or(u8::MAX),
                ];
                body.extend_from_slice(&designator);
                vpd(pdt, 0x83, &body)
            }
            _ => return Reply::illegal(asc::INVALID_FIELD_IN_CDB),
        }
    };
    send(buf, &data, allocation)
}

/// Standard INQUIRY data, 74 bytes (through the version descriptors, left zero).
fn standard_inquiry(pdt: u8, id: &ResolvedIdentity) -> Vec<u8> {
    const LEN: usize = 74;
    let mut d = Vec::with_capacity(LEN);
    d.extend_from_slice(&[
        pdt,
        0x80,            // RMB
        0x06,            // VERSION: SPC-4
        0x12,            // HISUP, RESPONSE DATA FORMAT 2
        (LEN - 5) as u8, // ADDITIONAL LENGTH
        0x00,
        0x00, // MCHNGR = 0: not an attached changer
        0x02, // CMDQUE
    ]);
    d.extend_from_slice(&padded(&id.vendor, 8));
    d.extend_from_slice(&padded(&id.product, 16));
    d.extend_from_slice(&padded(&id.revision, 4));
    d.resize(LEN, 0);
    d
}

fn vpd(pdt: u8, page: u8, body: &[u8]) -> Vec<u8> {
    let mut d = Vec::with_capacity(4 + body.len());
    d.push(pdt);
    d.push(page);
    d.extend_from_slice(&u16::try_from(body.len()).unwrap_or(u16::MAX).to_be_bytes());
    d.extend_from_slice(body);
    d
}

/// `REQUEST SENSE (03h)`: the pending unit attention (consumed), else a pending not-ready
/// condition, else NO SENSE. Fixed format only.
fn request_sense(state: &mut SimState, attention: &mut bool, cdb: &[u8], buf: &mut [u8]) -> Reply {
    if byte(cdb, 1) & 0x01 != 0 {
        return Reply::illegal(asc::INVALID_FIELD_IN_CDB);
    }
    let data = if let Some(code) = unit_attention(state, attention) {
        Sense::fixed_bytes(SenseKey::UnitAttention, code.0, code.1)
    } else if state.has_fault(|f| matches!(f, Fault::BecomingReady { .. })) {
        Sense::fixed_bytes(
            SenseKey::NotReady,
            asc::BECOMING_READY.0,
            asc::BECOMING_READY.1,
        )
    } else {
        Sense::fixed_bytes(SenseKey::NoSense, 0, 0)
    };
    send(buf, &data, usize::from(byte(cdb, 4)))
}

/// `MODE SENSE(6) (1Ah)` / `MODE SENSE(10) (5Ah)`: pages 1Dh, 1Eh, 1Fh and 3Fh (all of them).
fn mode_sense(state: &SimState, cdb: &[u8], buf: &mut [u8]) -> Reply {
    let ten = byte(cdb, 0) == opcode::MODE_SENSE_10;
    let dbd = byte(cdb, 1) & 0x08 != 0;
    let pc = byte(cdb, 2) >> 6;
    let page = byte(cdb, 2) & 0x3f;
    let subpage = byte(cdb, 3);
    let allocation = if ten {
        usize::from(word(cdb, 7))
    } else {
        usize::from(byte(cdb, 4))
    };
    if pc == 3 {
        return Reply::illegal(SAVING_NOT_SUPPORTED);
    }
    if subpage != 0 && !(page == 0x3f && subpage == 0xff) {
        return Reply::illegal(asc::INVALID_FIELD_IN_CDB);
    }
    let codes: &[u8] = match page {
        0x1d => &[0x1d],
        0x1e => &[0x1e],
        0x1f => &[0x1f],
        0x3f => &[0x1d, 0x1e, 0x1f],
        _ => return Reply::illegal(asc::INVALID_FIELD_IN_CDB),
    };
    let mut pages = Vec::new();
    for &code in codes {
        let mut p = mode_page(state, code);
        if pc == 1 {
            // Changeable values: nothing is.
            for b in p.iter_mut().skip(2) {
                *b = 0;
            }
        }
        pages.extend_from_slice(&p);
    }
    // A changer has no blocks, but a short block descriptor is sent unless DBD says not to,
    // so the header's BLOCK DESCRIPTOR LENGTH is exercised.
    let block_descriptors: &[u8] = if dbd { &[] } else { &[0; 8] };
    let header_len = if ten { 8 } else { 4 };
    let total = header_len + block_descriptors.len() + pages.len();
    let mut data = Vec::with_capacity(total);
    if ten {
        data.extend_from_slice(&u16::try_from(total - 2).unwrap_or(u16::MAX).to_be_bytes());
        data.extend_from_slice(&[0, 0, 0, 0]); // medium type, device-specific, LONGLBA, reserved
        data.extend_from_slice(
            &u16::try_from(block_descriptors.len())
                .unwrap_or(0)
                .to_be_bytes(),
        );
    } else {
        data.push(u8::try_from(total - 1).unwrap_or(u8::MAX));
        data.extend_from_slice(&[0, 0]); // medium type, device-specific
        data.push(u8::try_from(block_descriptors.len()).unwrap_or(0));
    }
    data.extend_from_slice(block_descriptors);
    data.extend_from_slice(&pages);
    send(buf, &data, allocation)
}

fn mode_page(state: &SimState, code: u8) -> Vec<u8> {
    match code {
        0x1d => {
            let l = &state.layout;
            // Not-installed elements count: they are in the address space.
            let (storage, ie, drives): (Vec<u16>, Vec<u16>, Vec<u16>) = {
                let mut s = Vec::new();
                let mut i = Vec::new();
                let mut d = l.drives.clone();
                for (a, is_ie) in l.slots.iter().zip(&state.slot_is_ie) {
                    if *is_ie { i.push(*a) } else { s.push(*a) }
                }
                for &(code, a) in &state.config.not_installed {
                    match code {
                        2 => s.push(a),
                        3 => i.push(a),
                        _ => d.push(a),
                    }
                }
                (s, i, d)
            };
            let range = |v: &[u16]| {
                let first = v.iter().min().copied().unwrap_or(0);
                let n = u16::try_from(v.len()).unwrap_or(u16::MAX);
                [first.to_be_bytes(), n.to_be_bytes()].concat()
            };
            let mut p = vec![0x1d, 0x12];
            p.extend_from_slice(&range(&[l.transport]));
            p.extend_from_slice(&range(&storage));
            p.extend_from_slice(&range(&ie));
            p.extend_from_slice(&range(&drives));
            p.extend_from_slice(&[0, 0]);
            p
        }
        // One transport, which cannot rotate media (LTO).
        0x1e => vec![0x1e, 0x02, 0x00, 0x00],
        // Drives, I/E and storage hold media; moves and exchanges between any of them.
        _ => vec![
            0x1f, 0x12, 0x0e, 0x00, 0x0e, 0x0e, 0x0e, 0x0e, 0, 0, 0, 0, 0x0e, 0x0e, 0x0e, 0x0e, 0,
            0, 0, 0,
        ],
    }
}

/// `READ ELEMENT STATUS (B8h)`.
fn read_element_status(state: &mut SimState, cdb: &[u8], buf: &mut [u8]) -> Reply {
    let Some(req) = res::Request::parse(cdb) else {
        return Reply::illegal(asc::INVALID_FIELD_IN_CDB);
    };
    if req.element_type > 4 {
        return Reply::illegal(asc::INVALID_FIELD_IN_CDB);
    }
    if (req.voltag && state.has_fault(|f| *f == Fault::NoVoltag))
        || (req.dvcid && state.has_fault(|f| *f == Fault::NoDvcid))
    {
        return Reply::illegal(asc::INVALID_FIELD_IN_CDB);
    }
    if let Some(answer) = state.config.strict_addresses {
        let is_element = res::elements_from(state, req.start)
            .next()
            .is_some_and(|(a, _)| a == req.start);
        if !is_element {
            return Reply::illegal(match answer {
                StrictAnswer::InvalidElementAddress => asc::INVALID_ELEMENT_ADDRESS,
                StrictAnswer::InvalidFieldInCdb => asc::INVALID_FIELD_IN_CDB,
            });
        }
    }
    let ids = |d: usize| state.drive_identity(d);
    let mut data = res::encode(state, &req, &ids);
    if state
        .take_fault(|f| matches!(f, Fault::GarbledResponse { .. }))
        .is_some()
    {
        res::garble(&mut data);
    }
    if state
        .take_fault(|f| matches!(f, Fault::ShortResponse { .. }))
        .is_some()
    {
        // tgt 1.0.85 sends BYTE COUNT OF REPORT AVAILABLE bytes in all, header included.
        data.truncate(data.len().saturating_sub(8));
    }
    if state
        .take_fault(|f| matches!(f, Fault::TruncatedResponse { .. }))
        .is_some()
    {
        truncate_last_descriptor(&mut data, req.allocation.min(buf.len()));
    }
    send(buf, &data, req.allocation)
}

/// Cuts what would be sent of `reply` (at most `limit` bytes) by more than half an element
/// descriptor, and always by more than 8 bytes, so the transfer stops inside a descriptor and
/// cannot pass for tgt's 8 missing bytes.
fn truncate_last_descriptor(reply: &mut Vec<u8>, limit: usize) {
    let field = |at: usize, len: usize| {
        reply
            .get(at..at + len)
            .map(|b| b.iter().fold(0usize, |n, x| n << 8 | usize::from(*x)))
    };
    let mut descriptor_length = 0;
    let mut page = 8;
    while let (Some(length), Some(bytes)) = (field(page + 2, 2), field(page + 5, 3)) {
        if bytes > 0 {
            descriptor_length = length;
        }
        page += 8 + bytes;
    }
    let sent = reply.len().min(limit);
    reply.truncate(sent.saturating_sub((descriptor_length / 2 + 1).max(9)));
}

fn refused(e: MoveError) -> Reply {
    let (key, code) = e.sense();
    Reply::check(key, code)
}

/// TASK ABORTED: no sense, the command ended by task management.
fn task_aborted() -> Reply {
    Reply {
        status: crate::transport::status::TASK_ABORTED,
        ..Reply::good(0)
    }
}

/// Faults that fire on a move before the library looks at its state.
fn move_faults(state: &mut SimState) -> Option<Reply> {
    if state
        .take_fault(|f| matches!(f, Fault::MoveTimeoutBefore { .. }))
        .is_some()
    {
        return Some(Reply::host(host::TIME_OUT));
    }
    if state
        .take_fault(|f| matches!(f, Fault::MoveAbortedBefore { .. }))
        .is_some()
    {
        return Some(task_aborted());
    }
    if state
        .take_fault(|f| matches!(f, Fault::SourceEmpty { .. }))
        .is_some()
    {
        return Some(refused(MoveError::SourceEmpty));
    }
    if state
        .take_fault(|f| matches!(f, Fault::DestinationFull { .. }))
        .is_some()
    {
        return Some(refused(MoveError::DestinationFull));
    }
    None
}

/// The move happened; a `move-timeout` or `move-aborted` fault hides that from the initiator.
fn after_move(state: &mut SimState) -> Reply {
    if state
        .take_fault(|f| matches!(f, Fault::MoveTimeout { .. }))
        .is_some()
    {
        return Reply::host(host::TIME_OUT);
    }
    if state
        .take_fault(|f| matches!(f, Fault::MoveAborted { .. }))
        .is_some()
    {
        return task_aborted();
    }
    Reply::good(0)
}

fn check_transport(state: &SimState, address: u16) -> Result<(), MoveError> {
    // 0 is "the default transport" (SMC-3), for loaders that report none.
    if address == 0 || address == state.layout.transport {
        Ok(())
    } else {
        Err(MoveError::InvalidAddress)
    }
}

/// `MOVE MEDIUM (A5h)`.
fn move_medium(state: &mut SimState, cdb: &[u8]) -> Reply {
    let addresses = check_transport(state, word(cdb, 2)).and_then(|()| {
        Ok((
            moves::element_at(state, word(cdb, 4))?,
            moves::element_at(state, word(cdb, 6))?,
        ))
    });
    let (src, dst) = match addresses {
        Ok(pair) => pair,
        Err(e) => return refused(e),
    };
    if byte(cdb, 10) & 0x01 != 0 {
        // LTO cartridges cannot be inverted (page 1Eh says ROTATE = 0).
        return Reply::illegal(asc::INVALID_FIELD_IN_CDB);
    }
    if let Some(reply) = move_faults(state) {
        return reply;
    }
    match moves::move_medium(state, src, dst) {
        Ok(()) => after_move(state),
        Err(e) => refused(e),
    }
}

/// `EXCHANGE MEDIUM (A6h)`.
fn exchange_medium(state: &mut SimState, cdb: &[u8]) -> Reply {
    let addresses = check_transport(state, word(cdb, 2)).and_then(|()| {
        Ok((
            moves::element_at(state, word(cdb, 4))?,
            moves::element_at(state, word(cdb, 6))?,
            moves::element_at(state, word(cdb, 8))?,
        ))
    });
    let (src, first, second) = match addresses {
        Ok(triple) => triple,
        Err(e) => return refused(e),
    };
    if byte(cdb, 10) & 0x03 != 0 {
        return Reply::illegal(asc::INVALID_FIELD_IN_CDB);
    }
    if let Some(reply) = move_faults(state) {
        return reply;
    }
    match moves::exchange_medium(state, src, first, second) {
        Ok(()) => after_move(state),
        Err(e) => refused(e),
    }
}

// ---- drive LUs ---------------------------------------------------------------------------

/// One command to drive `index`'s LU.
pub(crate) fn drive(state: &mut SimState, index: usize, cdb: &[u8], buf: &mut [u8]) -> Reply {
    let Some(&op) = cdb.first() else {
        return Reply::illegal(asc::INVALID_OPCODE);
    };
    if index >= state.drives.len() {
        return Reply::illegal(LU_NOT_SUPPORTED);
    }
    if cdb.len() < cdb_len(op) {
        return Reply::illegal(asc::INVALID_FIELD_IN_CDB);
    }
    match op {
        opcode::INQUIRY => inquiry(cdb, buf, TAPE, &state.drive_identity(index)),
        opcode::TEST_UNIT_READY => test_unit_ready(state, index),
        opcode::REQUEST_SENSE => {
            if byte(cdb, 1) & 0x01 != 0 {
                return Reply::illegal(asc::INVALID_FIELD_IN_CDB);
            }
            let data = match readiness(state, index) {
                Some((key, code)) => Sense::fixed_bytes(key, code.0, code.1),
                None => Sense::fixed_bytes(SenseKey::NoSense, 0, 0),
            };
            send(buf, &data, usize::from(byte(cdb, 4)))
        }
        opcode::LOAD_UNLOAD => load_unload(state, index, byte(cdb, 4) & 0x01 != 0),
        _ => Reply::illegal(asc::INVALID_OPCODE),
    }
}

/// Why the drive is not ready, without consuming anything.
fn readiness(state: &SimState, index: usize) -> Option<(SenseKey, (u8, u8))> {
    let full = state.drives.get(index).is_some_and(|d| d.full);
    let rt = state.runtime.get(index).copied().unwrap_or_default();
    if !full || rt.unloaded {
        Some((SenseKey::NotReady, asc::MEDIUM_NOT_PRESENT))
    } else if rt.becoming_ready > 0 {
        Some((SenseKey::NotReady, asc::BECOMING_READY))
    } else {
        None
    }
}

/// `TEST UNIT READY (00h)` on a drive: no medium when empty or unloaded, becoming ready while
/// a `drive-becoming-ready` countdown runs (one step per TUR), else GOOD.
fn test_unit_ready(state: &mut SimState, index: usize) -> Reply {
    match readiness(state, index) {
        Some((key, code)) => {
            if code == asc::BECOMING_READY
                && let Some(rt) = state.runtime_mut(index)
            {
                rt.becoming_ready = rt.becoming_ready.saturating_sub(1);
            }
            Reply::check(key, code)
        }
        None => Reply::good(0),
    }
}

/// `LOAD UNLOAD (1Bh)`: LOAD = 0 ejects (the drive keeps the cartridge for the robot and
/// releases a prevent-removal lock), LOAD = 1 threads it again.
fn load_unload(state: &mut SimState, index: usize, load: bool) -> Reply {
    if !load {
        // Unloading releases the drive's hold on the tape, if any.
        state.remove_faults(
            |f| matches!(f, Fault::PreventRemoval { drive } if usize::from(*drive) == index),
        );
    }
    if !state.drives.get(index).is_some_and(|d| d.full) {
        return Reply::check(SenseKey::NotReady, asc::MEDIUM_NOT_PRESENT);
    }
    let unloaded = state.runtime.get(index).is_some_and(|rt| rt.unloaded);
    if !load {
        if !unloaded && let Some(rt) = state.runtime_mut(index) {
            rt.unloaded = true;
            rt.becoming_ready = 0;
        }
    } else if unloaded {
        if let Some(rt) = state.runtime_mut(index) {
            rt.unloaded = false;
        }
        moves::arm_load(state, index);
    }
    Reply::good(0)
}
