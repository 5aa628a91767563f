//! One element as READ ELEMENT STATUS describes it (SMC-3 6.10), with everything the device
//! reported kept raw, so that views (mtx numbering, Bareos output) derive from it.

use crate::address::{ElementAddress, ElementType};

/// VOLUME TAG INFORMATION (SMC-3 6.10.6): 32 bytes of VOLUME IDENTIFICATION and a sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VolumeTag {
    /// VOLUME IDENTIFICATION, exactly as sent (space- or NUL-padded).
    pub identification: [u8; 32],
    /// VOLUME SEQUENCE NUMBER.
    pub sequence: u16,
}

impl VolumeTag {
    /// A tag from text, NUL-padded (or cut) to 32 bytes; the text's own padding is kept.
    pub fn from_text(text: &str) -> VolumeTag {
        let mut identification = [0u8; 32];
        for (dst, src) in identification.iter_mut().zip(text.bytes()) {
            *dst = src;
        }
        VolumeTag {
            identification,
            sequence: 0,
        }
    }

    /// The tag as mtx(1) prints it: bytes up to the first one below 20h or above 7Eh
    /// (mtx `copy_barcode`), so blank padding stays and NUL padding ends the text.
    pub fn mtx_text(&self) -> &str {
        let end = self
            .identification
            .iter()
            .position(|&b| !(0x20..0x7f).contains(&b))
            .unwrap_or(self.identification.len());
        // Only printable ASCII remains, which is valid UTF-8.
        std::str::from_utf8(&self.identification[..end]).unwrap_or("")
    }

    /// The barcode without padding: what a person and Bareos' catalog call the volume.
    pub fn barcode(&self) -> &str {
        self.mtx_text().trim_end_matches(' ')
    }

    /// Whether the tag carries no barcode at all (blank or NUL).
    pub fn is_blank(&self) -> bool {
        self.barcode().trim().is_empty()
    }
}

/// A designation descriptor (SPC-4 7.8.6.1) as used for DVCID in READ ELEMENT STATUS.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeviceIdentifier {
    /// CODE SET: 1 binary, 2 ASCII, 3 UTF-8.
    pub code_set: u8,
    /// ASSOCIATION.
    pub association: u8,
    /// IDENTIFIER TYPE (DESIGNATOR TYPE): 0 vendor specific, 1 T10 vendor ID based, 3 NAA, …
    pub identifier_type: u8,
    /// The identifier bytes that arrived.
    pub identifier: Vec<u8>,
    /// The device announced more bytes than arrived (tgt 1.0.85 cuts the last drive's).
    pub truncated: bool,
}

impl DeviceIdentifier {
    /// The drive's serial number, as far as the identifier carries one.
    ///
    /// T10 vendor ID based identifiers (type 1) are VENDOR (8) + PRODUCT (16) + serial, as IBM,
    /// STK and tgt send them; serial-only identifiers (type 0, Quantum, HP) are the serial
    /// itself. Binary identifiers (NAA) have no text serial.
    pub fn serial(&self) -> Option<String> {
        if self.code_set != 2 && self.code_set != 3 {
            return None;
        }
        let text = match self.identifier_type {
            1 if self.identifier.len() > 24 => &self.identifier[24..],
            1 => return None,
            _ => &self.identifier[..],
        };
        let s = trim_ascii(text);
        (!s.is_empty()).then_some(s)
    }
}

/// Trims blanks and NULs on both ends and replaces anything non-printable.
pub fn trim_ascii(bytes: &[u8]) -> String {
    let s: String = bytes
        .iter()
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '\0'
            }
        })
        .collect();
    s.trim_matches(|c| c == ' ' || c == '\0').replace('\0', "?")
}

/// One element and its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementStatus {
    /// Element type of the page it came in.
    pub element_type: ElementType,
    /// ELEMENT ADDRESS.
    pub address: ElementAddress,
    /// FULL: the element holds a cartridge.
    pub full: bool,
    /// IMPEXP (I/E only): placed by an operator (true) or by the robot (false).
    pub impexp: bool,
    /// EXCEPT: abnormal state, see `asc`/`ascq`.
    pub except: bool,
    /// ACCESS: the robot can reach the cartridge.
    pub access: bool,
    /// EXENAB (I/E only): the element can export.
    pub exenab: bool,
    /// INENAB (I/E only): the element can import.
    pub inenab: bool,
    /// ADDITIONAL SENSE CODE of the element.
    pub asc: u8,
    /// ADDITIONAL SENSE CODE QUALIFIER of the element.
    pub ascq: u8,
    /// ED: element disabled.
    pub disabled: bool,
    /// INVERT: the cartridge was inverted on its way here.
    pub invert: bool,
    /// MEDIUM TYPE: 0 unspecified, 1 data, 2 cleaning, 3 diagnostic, 4 WORM.
    pub medium_type: u8,
    /// SOURCE STORAGE ELEMENT ADDRESS, when SVALID is set.
    pub source: Option<ElementAddress>,
    /// PRIMARY VOLUME TAG INFORMATION.
    pub primary_volume_tag: Option<VolumeTag>,
    /// ALTERNATE VOLUME TAG INFORMATION.
    pub alternate_volume_tag: Option<VolumeTag>,
    /// Device identifier (DVCID), drives only.
    pub identifier: Option<DeviceIdentifier>,
    /// SCSI-2 bus address of a drive (ID, LUN) when the device sets ID VALID.
    pub scsi_bus_address: Option<(u8, Option<u8>)>,
}

impl ElementStatus {
    /// An empty element with nothing reported but its type and address.
    pub fn empty(element_type: ElementType, address: ElementAddress) -> Self {
        ElementStatus {
            element_type,
            address,
            full: false,
            impexp: false,
            except: false,
            access: false,
            exenab: false,
            inenab: false,
            asc: 0,
            ascq: 0,
            disabled: false,
            invert: false,
            medium_type: 0,
            source: None,
            primary_volume_tag: None,
            alternate_volume_tag: None,
            identifier: None,
            scsi_bus_address: None,
        }
    }

    /// The barcode of the cartridge, when the element is full and reports one.
    pub fn barcode(&self) -> Option<&str> {
        if !self.full {
            return None;
        }
        self.primary_volume_tag
            .as_ref()
            .map(VolumeTag::barcode)
            .filter(|b| !b.trim().is_empty())
    }

    /// Whether the element is reported as not installed (ATL/Exabyte 83h/02h slots,
    /// 83h/04h drives); mtx skips those, and so does the numbering.
    pub fn not_installed(&self) -> bool {
        (self.asc, self.ascq) == (0x83, 0x02) || (self.asc, self.ascq) == (0x83, 0x04)
    }
}
