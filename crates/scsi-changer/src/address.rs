//! The three numbering systems of a tape library, kept apart by type.
//!
//! * [`ElementAddress`]: what the device reports and what CDBs carry (SMC-3 "element address").
//! * [`SlotNumber`]: the 1-based slot number of mtx(1) and Bareos: storage slots `1..=S` in
//!   element-address order, then import/export slots `S+1..=S+I`.
//! * [`DriveIndex`]: the 0-based data transfer element number of mtx(1) and Bareos'
//!   `Drive Index`, in element-address order.
//!
//! Only [`crate::inventory`] converts between them.

use std::fmt;

/// Element address as reported by the changer (SMC-3 "element address").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ElementAddress(pub u16);

/// 1-based slot number as Bareos and mtx(1) count them (storage first, then import/export).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlotNumber(pub u16);

/// 0-based drive index (Bareos `Drive Index`, mtx "Data Transfer Element" number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DriveIndex(pub u16);

impl fmt::Display for ElementAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for SlotNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for DriveIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// ELEMENT TYPE CODE (SMC-3 READ ELEMENT STATUS, byte 1 bits 3–0).
///
/// Code 0 ("all element types") is deliberately absent: tgt 1.0.85 answers it with a corrupt
/// layout and may crash, and IBM libraries reject DVCID with it. The driver always asks for one
/// type at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ElementType {
    /// Medium transport element (the robot's picker). Code 1.
    MediumTransport,
    /// Storage element (a slot). Code 2.
    Storage,
    /// Import/export element (a mail slot; on the AWS VTL, the path to the tape shelf). Code 3.
    ImportExport,
    /// Data transfer element (a drive). Code 4.
    DataTransfer,
}

impl ElementType {
    /// The SMC-3 element type code.
    pub fn code(self) -> u8 {
        match self {
            ElementType::MediumTransport => 1,
            ElementType::Storage => 2,
            ElementType::ImportExport => 3,
            ElementType::DataTransfer => 4,
        }
    }

    /// The element type for an SMC-3 code, if it is one of the four types.
    pub fn from_code(code: u8) -> Option<ElementType> {
        match code {
            1 => Some(ElementType::MediumTransport),
            2 => Some(ElementType::Storage),
            3 => Some(ElementType::ImportExport),
            4 => Some(ElementType::DataTransfer),
            _ => None,
        }
    }

    /// Every element type, in the order the driver reads them.
    pub const ALL: [ElementType; 4] = [
        ElementType::Storage,
        ElementType::ImportExport,
        ElementType::DataTransfer,
        ElementType::MediumTransport,
    ];
}

impl fmt::Display for ElementType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ElementType::MediumTransport => "medium transport",
            ElementType::Storage => "storage",
            ElementType::ImportExport => "import/export",
            ElementType::DataTransfer => "data transfer",
        })
    }
}
