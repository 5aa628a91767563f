//! Typed errors. Every message names the device, the operation and the elements concerned, and
//! where the fix is known, says it.

use std::path::PathBuf;
use std::time::Duration;

use crate::address::{ElementAddress, ElementType};
use crate::sense::Sense;

/// A device response that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The response ended before a field.
    #[error("response too short: {what} needs {need} bytes at offset {offset}, only {have} left")]
    Truncated {
        /// The field being read.
        what: &'static str,
        /// Offset of the field.
        offset: usize,
        /// Bytes the field needs.
        need: usize,
        /// Bytes left in the response.
        have: usize,
    },
    /// A field holds a value the standard does not allow.
    #[error("invalid {what}: {detail}")]
    Invalid {
        /// The field.
        what: &'static str,
        /// What was wrong with it.
        detail: String,
    },
    /// The device sent fewer bytes than its reply announced and the buffer had room for, and
    /// the residual is not the overflow count of a device that ignored the allocation length:
    /// the data stops in the middle of the reply. Decoding it would invent what did not arrive.
    #[error(
        "short transfer: the device sent {sent} of {expected} bytes (it announced {announced}, \
         residual {residual}); the reply is incomplete and was not used"
    )]
    ShortTransfer {
        /// Bytes that arrived.
        sent: usize,
        /// Bytes that should have arrived: what the reply announced, at most the buffer.
        expected: usize,
        /// Length the reply's header announced.
        announced: usize,
        /// The residual the transport reported.
        residual: usize,
    },
}

/// Errors of the driver.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The device node could not be opened.
    #[error("cannot open {path}: {source}{hint}", hint = open_hint(source))]
    Open {
        /// The path as given.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The path is not something this program can talk SCSI to.
    #[error("{path} is not usable: {detail}")]
    NotUsable {
        /// The path as given.
        path: PathBuf,
        /// What is wrong and what to use instead.
        detail: String,
    },
    /// The operating system refused or interrupted the command.
    #[error("{op} on {device}: {source}")]
    Io {
        /// Device name.
        device: String,
        /// The SCSI operation.
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The device answered CHECK CONDITION.
    #[error("{op} on {device} failed: {sense}{hint}", hint = sense_hint(sense))]
    Sense {
        /// Device name.
        device: String,
        /// The SCSI operation.
        op: &'static str,
        /// Decoded sense data.
        sense: Sense,
    },
    /// MOVE MEDIUM found its source element empty.
    #[error("{device}: source element {source_address} is empty (nothing to move)")]
    SourceEmpty {
        /// Device name.
        device: String,
        /// The empty source.
        source_address: ElementAddress,
    },
    /// MOVE MEDIUM found its destination element full.
    #[error("{device}: destination element {destination} is already full")]
    DestinationFull {
        /// Device name.
        device: String,
        /// The full destination.
        destination: ElementAddress,
    },
    /// The device stayed not ready past the deadline.
    #[error("{op} on {device}: device still not ready after {waited:?}: {sense}")]
    NotReady {
        /// Device name.
        device: String,
        /// The SCSI operation.
        op: &'static str,
        /// The last sense seen.
        sense: Sense,
        /// How long the driver waited.
        waited: Duration,
    },
    /// The command was aborted: TASK ABORTED status (another initiator's task management, a
    /// reset) or ABORTED COMMAND sense (a link, parity or internal error). It may or may not
    /// have been carried out.
    #[error("{op} on {device} was aborted: {detail}")]
    Aborted {
        /// Device name.
        device: String,
        /// The SCSI operation.
        op: &'static str,
        /// The status or the decoded sense, in words.
        detail: String,
        /// The sense, when the device sent ABORTED COMMAND.
        sense: Option<Sense>,
    },
    /// The command failed without sense data (adapter, link or status error).
    #[error("{op} on {device} failed: {detail}")]
    Transport {
        /// Device name.
        device: String,
        /// The SCSI operation.
        op: &'static str,
        /// Status, host and driver status in words.
        detail: String,
    },
    /// A MOVE MEDIUM failed in a way that leaves its outcome unknown, and re-reading the two
    /// elements did not settle it.
    #[error(
        "{device}: MOVE MEDIUM {source_address} -> {destination}: outcome unknown ({detail}); \
         find the cartridge with `changer status` (or at the library's panel) before retrying"
    )]
    MoveOutcomeUnknown {
        /// Device name.
        device: String,
        /// Source element.
        source_address: ElementAddress,
        /// Destination element.
        destination: ElementAddress,
        /// What was seen.
        detail: String,
    },
    /// A response could not be decoded.
    #[error("{op} on {device}: {source}")]
    Decode {
        /// Device name.
        device: String,
        /// The SCSI operation.
        op: &'static str,
        /// The decoding error.
        #[source]
        source: DecodeError,
    },
    /// The library reports something inconsistent with itself.
    #[error("{device}: {detail}")]
    Inconsistent {
        /// Device name.
        device: String,
        /// What disagrees.
        detail: String,
    },
    /// An element that a request names does not exist.
    #[error("{device}: no {element_type} element with address {address}")]
    NoSuchElement {
        /// Device name.
        device: String,
        /// Expected element type.
        element_type: ElementType,
        /// The address.
        address: ElementAddress,
    },
    /// The overall deadline passed before the operation could finish.
    #[error("{op} on {device}: deadline reached before the operation could finish")]
    DeadlineExceeded {
        /// Device name.
        device: String,
        /// The SCSI operation.
        op: &'static str,
    },
    /// A simulated library file could not be used.
    #[error("{0}")]
    Sim(String),
}

impl Error {
    /// The decoded sense, when the error carries one.
    pub fn sense(&self) -> Option<&Sense> {
        match self {
            Error::Sense { sense, .. }
            | Error::NotReady { sense, .. }
            | Error::Aborted {
                sense: Some(sense), ..
            } => Some(sense),
            _ => None,
        }
    }
}

fn open_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => {
            " (the user needs read-write access: add it to the group that owns the node, usually `tape`)"
        }
        std::io::ErrorKind::NotFound => {
            " (check the path; `changer discover` lists the libraries it finds)"
        }
        _ => "",
    }
}

fn sense_hint(s: &Sense) -> &'static str {
    use crate::sense::asc;
    if s.is(asc::MEDIUM_NOT_PRESENT) || s.is(asc::MEDIUM_REMOVAL_PREVENTED) {
        " (the drive holds or locks the tape: unload it first, e.g. set `offline = true` so the drive ejects before the move)"
    } else if s.is(asc::INVALID_ELEMENT_ADDRESS) {
        " (the element address does not exist: re-read the library with `changer status`)"
    } else if s.is(asc::CLEANING_CARTRIDGE_INSTALLED) {
        " (a cleaning cartridge is in the drive: wait for the cleaning to finish)"
    } else if s.asc == 0x04 && s.ascq == 0x03 {
        " (the library needs an operator: check its panel, door and magazines)"
    } else if s.asc == 0x04 && s.ascq == 0x12 {
        " (the library is offline: put it online at its panel)"
    } else {
        ""
    }
}
