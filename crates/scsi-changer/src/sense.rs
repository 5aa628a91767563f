//! Sense data (SPC-4 4.5): fixed (70h/71h) and descriptor (72h/73h) formats.

use std::fmt;

/// SENSE KEY (SPC-4 table 27).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SenseKey {
    /// 0h NO SENSE.
    NoSense,
    /// 1h RECOVERED ERROR.
    RecoveredError,
    /// 2h NOT READY.
    NotReady,
    /// 3h MEDIUM ERROR.
    MediumError,
    /// 4h HARDWARE ERROR.
    HardwareError,
    /// 5h ILLEGAL REQUEST.
    IllegalRequest,
    /// 6h UNIT ATTENTION.
    UnitAttention,
    /// 7h DATA PROTECT.
    DataProtect,
    /// 8h BLANK CHECK.
    BlankCheck,
    /// 9h VENDOR SPECIFIC.
    VendorSpecific,
    /// Ah COPY ABORTED.
    CopyAborted,
    /// Bh ABORTED COMMAND.
    AbortedCommand,
    /// Dh VOLUME OVERFLOW.
    VolumeOverflow,
    /// Eh MISCOMPARE.
    Miscompare,
    /// Fh COMPLETED.
    Completed,
    /// Ch (obsolete) or anything else.
    Reserved(u8),
}

impl SenseKey {
    /// The key for its 4-bit code.
    pub fn from_code(code: u8) -> SenseKey {
        match code & 0x0f {
            0x0 => SenseKey::NoSense,
            0x1 => SenseKey::RecoveredError,
            0x2 => SenseKey::NotReady,
            0x3 => SenseKey::MediumError,
            0x4 => SenseKey::HardwareError,
            0x5 => SenseKey::IllegalRequest,
            0x6 => SenseKey::UnitAttention,
            0x7 => SenseKey::DataProtect,
            0x8 => SenseKey::BlankCheck,
            0x9 => SenseKey::VendorSpecific,
            0xa => SenseKey::CopyAborted,
            0xb => SenseKey::AbortedCommand,
            0xd => SenseKey::VolumeOverflow,
            0xe => SenseKey::Miscompare,
            0xf => SenseKey::Completed,
            other => SenseKey::Reserved(other),
        }
    }

    /// The 4-bit code.
    pub fn code(self) -> u8 {
        match self {
            SenseKey::NoSense => 0x0,
            SenseKey::RecoveredError => 0x1,
            SenseKey::NotReady => 0x2,
            SenseKey::MediumError => 0x3,
            SenseKey::HardwareError => 0x4,
            SenseKey::IllegalRequest => 0x5,
            SenseKey::UnitAttention => 0x6,
            SenseKey::DataProtect => 0x7,
            SenseKey::BlankCheck => 0x8,
            SenseKey::VendorSpecific => 0x9,
            SenseKey::CopyAborted => 0xa,
            SenseKey::AbortedCommand => 0xb,
            SenseKey::VolumeOverflow => 0xd,
            SenseKey::Miscompare => 0xe,
            SenseKey::Completed => 0xf,
            SenseKey::Reserved(c) => c,
        }
    }

    /// The T10 name of the key.
    pub fn name(self) -> &'static str {
        match self {
            SenseKey::NoSense => "NO SENSE",
            SenseKey::RecoveredError => "RECOVERED ERROR",
            SenseKey::NotReady => "NOT READY",
            SenseKey::MediumError => "MEDIUM ERROR",
            SenseKey::HardwareError => "HARDWARE ERROR",
            SenseKey::IllegalRequest => "ILLEGAL REQUEST",
            SenseKey::UnitAttention => "UNIT ATTENTION",
            SenseKey::DataProtect => "DATA PROTECT",
            SenseKey::BlankCheck => "BLANK CHECK",
            SenseKey::VendorSpecific => "VENDOR SPECIFIC",
            SenseKey::CopyAborted => "COPY ABORTED",
            SenseKey::AbortedCommand => "ABORTED COMMAND",
            SenseKey::VolumeOverflow => "VOLUME OVERFLOW",
            SenseKey::Miscompare => "MISCOMPARE",
            SenseKey::Completed => "COMPLETED",
            SenseKey::Reserved(_) => "RESERVED",
        }
    }
}

/// Named additional sense codes (ASC, ASCQ) the driver acts on.
pub mod asc {
    /// 04h/01h LOGICAL UNIT IS IN PROCESS OF BECOMING READY.
    pub const BECOMING_READY: (u8, u8) = (0x04, 0x01);
    /// 20h/00h INVALID COMMAND OPERATION CODE.
    pub const INVALID_OPCODE: (u8, u8) = (0x20, 0x00);
    /// 21h/01h INVALID ELEMENT ADDRESS.
    pub const INVALID_ELEMENT_ADDRESS: (u8, u8) = (0x21, 0x01);
    /// 24h/00h INVALID FIELD IN CDB.
    pub const INVALID_FIELD_IN_CDB: (u8, u8) = (0x24, 0x00);
    /// 28h/00h NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED.
    pub const NOT_READY_TO_READY: (u8, u8) = (0x28, 0x00);
    /// 28h/01h IMPORT OR EXPORT ELEMENT ACCESSED.
    pub const IMPORT_EXPORT_ACCESSED: (u8, u8) = (0x28, 0x01);
    /// 30h/03h CLEANING CARTRIDGE INSTALLED.
    pub const CLEANING_CARTRIDGE_INSTALLED: (u8, u8) = (0x30, 0x03);
    /// 3Ah/00h MEDIUM NOT PRESENT.
    pub const MEDIUM_NOT_PRESENT: (u8, u8) = (0x3a, 0x00);
    /// 3Bh/0Dh MEDIUM DESTINATION ELEMENT FULL.
    pub const DESTINATION_FULL: (u8, u8) = (0x3b, 0x0d);
    /// 3Bh/0Eh MEDIUM SOURCE ELEMENT EMPTY.
    pub const SOURCE_EMPTY: (u8, u8) = (0x3b, 0x0e);
    /// 53h/02h MEDIUM REMOVAL PREVENTED.
    pub const MEDIUM_REMOVAL_PREVENTED: (u8, u8) = (0x53, 0x02);
}

/// Decoded sense data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sense {
    /// RESPONSE CODE (70h–73h).
    pub response_code: u8,
    /// SENSE KEY.
    pub key: SenseKey,
    /// ADDITIONAL SENSE CODE.
    pub asc: u8,
    /// ADDITIONAL SENSE CODE QUALIFIER.
    pub ascq: u8,
    /// SENSE KEY SPECIFIC field pointer of an ILLEGAL REQUEST, when SKSV is set:
    /// (error in CDB, byte offset, bit pointer if valid).
    pub field_pointer: Option<FieldPointer>,
}

/// The sense-key-specific field pointer (SPC-4 4.5.2.4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldPointer {
    /// C/D: the error is in the CDB (true) or in the parameter data (false).
    pub in_cdb: bool,
    /// FIELD POINTER: byte offset of the bad field.
    pub byte: u16,
    /// BIT POINTER, when BPV is set.
    pub bit: Option<u8>,
}

impl Sense {
    /// Decodes sense bytes; `None` when they are not fixed or descriptor format sense.
    /// Never panics: every byte read is bounds-checked against `bytes`.
    pub fn parse(bytes: &[u8]) -> Option<Sense> {
        let response_code = bytes.first()? & 0x7f;
        let at = |i: usize| bytes.get(i).copied();
        match response_code {
            0x70 | 0x71 => {
                let key = SenseKey::from_code(at(2)? & 0x0f);
                // ADDITIONAL SENSE LENGTH bounds what follows byte 7; short sense (8 bytes) is
                // legal and carries no ASC/ASCQ.
                let additional = at(7).map(usize::from).unwrap_or(0);
                let end = bytes.len().min(8 + additional);
                let within = |i: usize| if i < end { at(i) } else { None };
                let asc = within(12).unwrap_or(0);
                let ascq = within(13).unwrap_or(0);
                let field_pointer = match (within(15), within(16), within(17)) {
                    (Some(b15), Some(b16), Some(b17)) => field_pointer(key, b15, b16, b17),
                    _ => None,
                };
                Some(Sense {
                    response_code,
                    key,
                    asc,
                    ascq,
                    field_pointer,
                })
            }
            0x72 | 0x73 => {
                let key = SenseKey::from_code(at(1)? & 0x0f);
                let asc = at(2).unwrap_or(0);
                let ascq = at(3).unwrap_or(0);
                let additional = at(7).map(usize::from).unwrap_or(0);
                let end = bytes.len().min(8 + additional);
                let mut pos = 8usize;
                let mut fp = None;
                // Walk the sense data descriptors looking for SENSE KEY SPECIFIC (type 02h).
                while pos + 2 <= end {
                    let (Some(kind), Some(len)) = (at(pos), at(pos + 1)) else {
                        break;
                    };
                    let len = usize::from(len);
                    if kind == 0x02
                        && pos + 7 <= end
                        && let (Some(b4), Some(b5), Some(b6)) =
                            (at(pos + 4), at(pos + 5), at(pos + 6))
                    {
                        fp = field_pointer(key, b4, b5, b6);
                    }
                    pos += 2 + len;
                }
                Some(Sense {
                    response_code,
                    key,
                    asc,
                    ascq,
                    field_pointer: fp,
                })
            }
            _ => None,
        }
    }

    /// A fixed-format (70h) sense buffer for key/ASC/ASCQ, as devices and the simulator send it.
    pub fn fixed_bytes(key: SenseKey, asc: u8, ascq: u8) -> Vec<u8> {
        let mut b = vec![0u8; 18];
        b[0] = 0x70;
        b[2] = key.code();
        b[7] = 10;
        b[12] = asc;
        b[13] = ascq;
        b
    }

    /// Whether this is deferred sense (71h/73h): the error belongs to an earlier command.
    pub fn is_deferred(&self) -> bool {
        matches!(self.response_code, 0x71 | 0x73)
    }

    /// Whether ASC/ASCQ equal `code`.
    pub fn is(&self, code: (u8, u8)) -> bool {
        (self.asc, self.ascq) == code
    }

    /// The T10 text of ASC/ASCQ, when the driver knows it.
    pub fn asc_text(&self) -> Option<&'static str> {
        asc_text(self.asc, self.ascq)
    }
}

fn field_pointer(key: SenseKey, b0: u8, b1: u8, b2: u8) -> Option<FieldPointer> {
    if key != SenseKey::IllegalRequest || b0 & 0x80 == 0 {
        return None;
    }
    Some(FieldPointer {
        in_cdb: b0 & 0x40 != 0,
        byte: u16::from_be_bytes([b1, b2]),
        bit: (b0 & 0x08 != 0).then_some(b0 & 0x07),
    })
}

impl fmt::Display for Sense {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.key.name())?;
        match self.asc_text() {
            Some(text) => write!(f, ": {text}")?,
            None if self.asc >= 0x80 || self.ascq >= 0x80 => write!(f, ": vendor specific")?,
            None => write!(f, ": additional sense code not known to this program")?,
        }
        write!(f, " ({:02X}h/{:02X}h)", self.asc, self.ascq)?;
        if self.is_deferred() {
            write!(f, " [deferred error of an earlier command]")?;
        }
        Ok(())
    }
}

/// T10 texts (SPC-4 annex D) for the codes a changer or tape drive reports.
const ASC_TABLE: &[(u8, u8, &str)] = &[
    (0x00, 0x00, "No additional sense information"),
    (0x04, 0x00, "Logical unit not ready, cause not reportable"),
    (0x04, 0x01, "Logical unit is in process of becoming ready"),
    (
        0x04,
        0x02,
        "Logical unit not ready, initializing command required",
    ),
    (
        0x04,
        0x03,
        "Logical unit not ready, manual intervention required",
    ),
    (0x04, 0x07, "Logical unit not ready, operation in progress"),
    (0x04, 0x12, "Logical unit not ready, offline"),
    (0x08, 0x01, "Logical unit communication time-out"),
    (0x15, 0x01, "Mechanical positioning error"),
    (0x1a, 0x00, "Parameter list length error"),
    (0x20, 0x00, "Invalid command operation code"),
    (0x21, 0x01, "Invalid element address"),
    (0x24, 0x00, "Invalid field in CDB"),
    (0x25, 0x00, "Logical unit not supported"),
    (0x26, 0x00, "Invalid field in parameter list"),
    (
        0x28,
        0x00,
        "Not ready to ready change, medium may have changed",
    ),
    (0x28, 0x01, "Import or export element accessed"),
    (0x29, 0x00, "Power on, reset, or bus device reset occurred"),
    (0x29, 0x01, "Power on occurred"),
    (0x29, 0x02, "SCSI bus reset occurred"),
    (0x29, 0x03, "Bus device reset function occurred"),
    (0x29, 0x04, "Device internal reset"),
    (0x29, 0x07, "I_T nexus loss occurred"),
    (0x2a, 0x01, "Mode parameters changed"),
    (0x2a, 0x03, "Reservations preempted"),
    (0x2f, 0x00, "Commands cleared by another initiator"),
    (0x30, 0x00, "Incompatible medium installed"),
    (0x30, 0x03, "Cleaning cartridge installed"),
    (0x3a, 0x00, "Medium not present"),
    (0x3a, 0x02, "Medium not present - tray open"),
    (0x3b, 0x0d, "Medium destination element full"),
    (0x3b, 0x0e, "Medium source element empty"),
    (0x3b, 0x11, "Medium magazine not accessible"),
    (0x3b, 0x12, "Medium magazine removed"),
    (0x3b, 0x18, "Element disabled"),
    (0x3b, 0x1a, "Data transfer device removed"),
    (0x3f, 0x01, "Microcode has been changed"),
    (0x3f, 0x03, "Inquiry data has changed"),
    (0x3f, 0x0e, "Reported luns data has changed"),
    (0x40, 0x00, "Ram failure"),
    (0x44, 0x00, "Internal target failure"),
    (0x47, 0x00, "SCSI parity error"),
    (0x4e, 0x00, "Overlapped commands attempted"),
    (0x53, 0x00, "Media load or eject failed"),
    (0x53, 0x01, "Unload tape failure"),
    (0x53, 0x02, "Medium removal prevented"),
    (0x5a, 0x01, "Operator medium removal request"),
];

/// The T10 text for an ASC/ASCQ pair, when the driver knows it.
pub fn asc_text(asc: u8, ascq: u8) -> Option<&'static str> {
    ASC_TABLE
        .iter()
        .find(|(a, q, _)| *a == asc && *q == ascq)
        .map(|(_, _, text)| *text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_format_from_tgt_move_source_empty() {
        // tgt 1.0.85, MOVE MEDIUM 1008 -> 501 with slot 1008 empty.
        let bytes = [
            0x70, 0, 0x05, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0, 0x3b, 0x0e, 0, 0, 0, 0,
        ];
        let s = Sense::parse(&bytes).unwrap();
        assert_eq!(s.key, SenseKey::IllegalRequest);
        assert!(s.is(asc::SOURCE_EMPTY));
        assert_eq!(
            s.to_string(),
            "ILLEGAL REQUEST: Medium source element empty (3Bh/0Eh)"
        );
    }

    #[test]
    fn descriptor_format_with_field_pointer() {
        let bytes = [
            0x72, 0x05, 0x24, 0x00, 0, 0, 0, 0x08, // header, additional length 8
            0x02, 0x06, 0, 0, 0xc8, 0x00, 0x06,
            0, // sense key specific: SKSV, C/D, BPV bit 0, byte 6
        ];
        let s = Sense::parse(&bytes).unwrap();
        assert_eq!(s.key, SenseKey::IllegalRequest);
        assert!(s.is(asc::INVALID_FIELD_IN_CDB));
        assert_eq!(
            s.field_pointer,
            Some(FieldPointer {
                in_cdb: true,
                byte: 6,
                bit: Some(0)
            })
        );
    }

    #[test]
    fn deferred_sense_is_flagged() {
        let mut bytes = Sense::fixed_bytes(SenseKey::HardwareError, 0x44, 0);
        bytes[0] = 0x71;
        let s = Sense::parse(&bytes).unwrap();
        assert!(s.is_deferred());
        assert!(s.to_string().contains("deferred"));
    }

    #[test]
    fn short_and_foreign_buffers_do_not_decode_or_panic() {
        assert_eq!(Sense::parse(&[]), None);
        assert_eq!(Sense::parse(&[0x7f, 1, 2]), None);
        let s = Sense::parse(&[0x70, 0, 0x06]).unwrap();
        assert_eq!((s.key, s.asc, s.ascq), (SenseKey::UnitAttention, 0, 0));
        // Additional length claims more than is there.
        assert!(Sense::parse(&[0x72, 0x05, 0x24, 0, 0, 0, 0, 0xff, 0x02, 0xff]).is_some());
    }

    #[test]
    fn vendor_codes_say_so() {
        let s = Sense::parse(&Sense::fixed_bytes(SenseKey::NotReady, 0x04, 0x85)).unwrap();
        assert_eq!(s.to_string(), "NOT READY: vendor specific (04h/85h)");
    }
}
