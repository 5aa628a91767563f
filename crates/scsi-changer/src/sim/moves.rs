//! MOVE MEDIUM (SMC-3 6.6) and EXCHANGE MEDIUM (6.3) applied to the state.
//!
//! Any element that holds a cartridge can be a source and any empty one a destination — slot,
//! I/E slot or drive, in any combination, drive to drive included. The destination gets the
//! cartridge with its tags and SVALID = 1; its source address is the source element when that
//! is a slot (storage or I/E), else the drive's own source (a cartridge passing through a drive
//! keeps its home slot), as libraries report it.

use crate::sense::{SenseKey, asc};

use super::faults::Fault;
use super::layout::Loc;
use super::state::{DriveRuntime, SimElement, SimState};

/// Why a move is refused, as the library's sense data says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MoveError {
    /// 05h/21h/01h: an address that is no slot or drive.
    InvalidAddress,
    /// 05h/24h/00h: a field combination the library does not accept.
    InvalidField,
    /// 05h/3Bh/0Eh.
    SourceEmpty,
    /// 05h/3Bh/0Dh.
    DestinationFull,
    /// 05h/53h/02h: the drive holds the tape (prevent-removal fault).
    RemovalPrevented,
}

impl MoveError {
    pub fn sense(self) -> (SenseKey, (u8, u8)) {
        let code = match self {
            MoveError::InvalidAddress => asc::INVALID_ELEMENT_ADDRESS,
            MoveError::InvalidField => asc::INVALID_FIELD_IN_CDB,
            MoveError::SourceEmpty => asc::SOURCE_EMPTY,
            MoveError::DestinationFull => asc::DESTINATION_FULL,
            MoveError::RemovalPrevented => asc::MEDIUM_REMOVAL_PREVENTED,
        };
        (SenseKey::IllegalRequest, code)
    }
}

/// The element at `address`, if a cartridge can be there (the transport cannot hold one here).
pub(crate) fn element_at(state: &SimState, address: u16) -> Result<Loc, MoveError> {
    match state.layout.locate(address) {
        Some(Loc::Transport) | None => Err(MoveError::InvalidAddress),
        Some(loc) => Ok(loc),
    }
}

/// Moves the cartridge in `src` to `dst`.
pub(crate) fn move_medium(state: &mut SimState, src: Loc, dst: Loc) -> Result<(), MoveError> {
    check_source(state, src)?;
    if is_full(state, dst) {
        return Err(MoveError::DestinationFull);
    }
    let cartridge = take(state, src);
    put(state, dst, cartridge);
    tracing::debug!(from = %src.describe(), to = %dst.describe(), "simulated move");
    Ok(())
}

/// Moves `src` to `first` and what was in `first` to `second` (which may be `src`).
pub(crate) fn exchange_medium(
    state: &mut SimState,
    src: Loc,
    first: Loc,
    second: Loc,
) -> Result<(), MoveError> {
    if first == src {
        return Err(MoveError::InvalidField);
    }
    check_source(state, src)?;
    check_source(state, first)?;
    if second != src && is_full(state, second) {
        return Err(MoveError::DestinationFull);
    }
    let a = take(state, src);
    let b = take(state, first);
    put(state, first, a);
    put(state, second, b);
    Ok(())
}

/// A cartridge in transit and the slot it reports as its source.
struct InTransit {
    element: SimElement,
    origin: Option<u16>,
}

fn is_full(state: &SimState, loc: Loc) -> bool {
    state.element(loc).is_some_and(|e| e.full)
}

fn check_source(state: &SimState, src: Loc) -> Result<(), MoveError> {
    if !is_full(state, src) {
        return Err(MoveError::SourceEmpty);
    }
    if let Loc::Drive(d) = src {
        let prevented = state.has_fault(
            |f| matches!(f, Fault::PreventRemoval { drive } if usize::from(*drive) == d),
        );
        if prevented {
            return Err(MoveError::RemovalPrevented);
        }
    }
    Ok(())
}

fn take(state: &mut SimState, src: Loc) -> InTransit {
    let element = state
        .element_mut(src)
        .map(std::mem::take)
        .unwrap_or_default();
    let origin = match src {
        Loc::Slot(i) => u16::try_from(i + 1).ok(),
        Loc::Drive(_) | Loc::Transport => element.source,
    };
    if let Loc::Drive(d) = src
        && let Some(rt) = state.runtime_mut(d)
    {
        *rt = DriveRuntime::default();
    }
    InTransit { element, origin }
}

fn put(state: &mut SimState, dst: Loc, c: InTransit) {
    if let Some(e) = state.element_mut(dst) {
        *e = SimElement {
            full: true,
            primary: c.element.primary,
            alternate: c.element.alternate,
            source: c.origin,
        };
    }
    if let Loc::Drive(d) = dst {
        if let Some(rt) = state.runtime_mut(d) {
            *rt = DriveRuntime::default();
        }
        arm_load(state, d);
    }
}

/// A tape was loaded into drive `d`: a pending `drive-becoming-ready` fault starts counting.
pub(crate) fn arm_load(state: &mut SimState, d: usize) {
    let armed: u32 = state
        .remove_faults(
            |f| matches!(f, Fault::DriveBecomingReady { drive, .. } if usize::from(*drive) == d),
        )
        .iter()
        .filter_map(Fault::count)
        .sum();
    if armed > 0
        && let Some(rt) = state.runtime_mut(d)
    {
        rt.becoming_ready = armed;
    }
}
