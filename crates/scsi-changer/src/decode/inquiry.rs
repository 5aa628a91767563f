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

/// One designation descriptor of VPD page 83h (SPC-4 7.8.6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Designator {
    /// PROTOCOL IDENTIFIER (meaningful when PIV is set).
    pub protocol_identifier: u8,
    /// CODE SET: 1 binary, 2 ASCII, 3 UTF-8.
    pub code_set: u8,
    /// PIV.
    pub piv: bool,
    /// ASSOCIATION: 0 logical unit, 1 target port, 2 target device.
    pub association: u8,
    /// DESIGNATOR TYPE: 0 vendor specific, 1 T10 vendor ID, 2 EUI-64, 3 NAA, 8 SCSI name string, …
    pub designator_type: u8,
    /// The DESIGNATOR bytes that arrived.
    pub designator: Vec<u8>,
}

/// Decodes VPD page 83h (Device Identification) into its designation descriptors. A
/// descriptor cut short by the end of the page keeps the bytes that arrived.
pub fn decode_device_identification(data: &[u8]) -> Result<Vec<Designator>, DecodeError> {
    let body = vpd_body(data, 0x83)?;
    let mut c = Cursor::new(body);
    let mut out = Vec::new();
    while c.remaining() >= 4 {
        let b0 = c.u8("protocol identifier and code set")?;
        let b1 = c.u8("PIV, association, designator type")?;
        c.skip(1, "reserved")?;
        let length = usize::from(c.u8("designator length")?);
        out.push(Designator {
            protocol_identifier: b0 >> 4,
            code_set: b0 & 0x0f,
            piv: b1 & 0x80 != 0,
            association: (b1 >> 4) & 0x03,
            designator_type: b1 & 0x0f,
            designator: c.take_up_to(length).to_vec(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vpd_83_from_tgt_lists_its_designators() {
        // tgt 1.0.85 changer, INQUIRY EVPD 83h (tests/fixtures/tgt transcript).
        let hex = "0883004802010024494554202020202030303031303030330000000000000000\
                   0000000000000000000000000103000830000001000000030103001060000000\
                   000000000e00000000010003";
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let d = decode_device_identification(&bytes).unwrap();
        assert_eq!(d.len(), 3);
        assert_eq!(
            (d[0].code_set, d[0].designator_type, d[0].designator.len()),
            (2, 1, 0x24)
        );
        assert!(d[0].designator.starts_with(b"IET     "));
        assert_eq!(
            (d[1].code_set, d[1].designator_type, d[1].designator.len()),
            (1, 3, 8)
        );
        assert_eq!((d[2].designator_type, d[2].designator.len()), (3, 16));
    }

    #[test]
    fn vpd_83_cut_short_keeps_what_arrived() {
        let d = decode_device_identification(&[
            0x08, 0x83, 0x00, 0x08, 0x02, 0x01, 0x00, 0x10, b'A', b'B', b'C', b'D',
        ])
        .unwrap();
        assert_eq!(d[0].designator, b"ABCD");
        assert!(decode_device_identification(&[0x08, 0x80, 0, 0]).is_err());
    }
}
