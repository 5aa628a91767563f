//! INQUIRY data (SPC-4 6.6): standard data and the VPD pages the driver reads.

use crate::cursor::Cursor;
use crate::element::trim_ascii;
use crate::error::DecodeError;

/// Standard INQUIRY data, the fields the driver uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inquiry {
    /// PERIPHERAL QUALIFIER (0 = connected).
    pub peripheral_qualifier: u8,
    /// PERIPHERAL DEVICE TYPE: 08h medium changer, 01h sequential-access (tape).
    pub peripheral_device_type: u8,
    /// VERSION (2 = SCSI-2 as HP MSL reports, 5 = SPC-3, 6 = SPC-4).
    pub version: u8,
    /// MCHNGR: an attached medium changer (ignored on type 08h devices).
    pub mchngr: bool,
    /// T10 VENDOR IDENTIFICATION, trimmed.
    pub vendor: String,
    /// PRODUCT IDENTIFICATION, trimmed.
    pub product: String,
    /// PRODUCT REVISION LEVEL, trimmed.
    pub revision: String,
}

/// Peripheral device type of a medium changer.
pub const MEDIUM_CHANGER: u8 = 0x08;
/// Peripheral device type of a tape drive.
pub const SEQUENTIAL_ACCESS: u8 = 0x01;

/// Decodes standard INQUIRY data; fields beyond what arrived are left empty.
pub fn decode_inquiry(data: &[u8]) -> Result<Inquiry, DecodeError> {
    let mut c = Cursor::new(data);
    let b0 = c.u8("peripheral qualifier and device type")?;
    c.skip(1, "RMB")?;
    let version = c.u8("version")?;
    let text = |from: usize, len: usize| {
        trim_ascii(data.get(from..data.len().min(from + len)).unwrap_or(&[]))
    };
    let vendor = text(8, 8);
    let product = text(16, 16);
    let revision = text(32, 4);
    Ok(Inquiry {
        peripheral_qualifier: b0 >> 5,
        peripheral_device_type: b0 & 0x1f,
        version,
        mchngr: data.get(6).is_some_and(|b| b & 0x08 != 0),
        vendor,
        product,
        revision,
    })
}

/// Decodes VPD page 00h: the list of supported page codes.
pub fn decode_vpd_page_list(data: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let body = vpd_body(data, 0x00)?;
    Ok(body.to_vec())
}

/// Decodes VPD page 80h: PRODUCT SERIAL NUMBER, trimmed of blanks and NULs on both ends
/// (tgt right-aligns it with leading blanks). `None` for an empty serial.
pub fn decode_unit_serial_number(data: &[u8]) -> Result<Option<String>, DecodeError> {
    let body = vpd_body(data, 0x80)?;
    let s = trim_ascii(body);
    Ok((!s.is_empty()).then_some(s))
}

fn vpd_body(data: &[u8], page: u8) -> Result<&[u8], DecodeError> {
    let mut c = Cursor::new(data);
    c.skip(1, "peripheral qualifier and device type")?;
    let code = c.u8("page code")?;
    if code != page {
        return Err(DecodeError::Invalid {
            what: "VPD page code",
            detail: format!("asked for {page:02X}h, got {code:02X}h"),
        });
    }
    let length = usize::from(c.u16("page length")?);
    // A device may say more than it sent: keep what arrived.
    Ok(c.take_up_to(length))
}
