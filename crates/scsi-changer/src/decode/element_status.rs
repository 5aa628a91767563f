//! READ ELEMENT STATUS data (SMC-3 6.10): header, element status pages, element descriptors.
//!
//! Tolerances, each needed by a real device (docs/hardware-quirks.md):
//! * the descriptor stride is the page's ELEMENT DESCRIPTOR LENGTH, never computed;
//! * data beyond BYTE COUNT OF REPORT AVAILABLE is ignored (PBS saw over-long replies);
//! * a last descriptor shorter than its length is kept, with what arrived of it, when the
//!   device sent less than it announced (tgt 1.0.85 drops 8 bytes of every reply, leaving 8 of
//!   a 16-byte descriptor) and dropped when our allocation cut it (the caller re-reads from its
//!   address);
//! * PVOLTAG/AVOLTAG flags that promise more bytes than the ELEMENT DESCRIPTOR LENGTH has room
//!   for are ignored, and the bytes are read as what follows (mhVTL's HP MSL personality: AVOLTAG
//!   without a tag, then the device identifier);
//! * device identifiers are parsed when present, asked for or not (HP MSL).

use crate::address::{ElementAddress, ElementType};
use crate::cursor::Cursor;
use crate::element::{DeviceIdentifier, ElementStatus, VolumeTag};
use crate::error::DecodeError;

/// A decoded READ ELEMENT STATUS reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementStatusReply {
    /// FIRST ELEMENT ADDRESS REPORTED (unreliable on tgt when one element matches).
    pub first_element_address_reported: ElementAddress,
    /// NUMBER OF ELEMENTS AVAILABLE.
    pub number_of_elements_available: u16,
    /// BYTE COUNT OF REPORT AVAILABLE (excluding the 8-byte header).
    pub byte_count_of_report_available: u32,
    /// Every descriptor that arrived whole enough to use, in reply order.
    pub elements: Vec<ElementStatus>,
    /// ELEMENT DESCRIPTOR LENGTH of the last page, when a page arrived.
    pub descriptor_length: Option<u16>,
    /// Set when the reply was cut by the allocation length: the address of the first
    /// descriptor that did not arrive whole. The caller continues from there.
    pub cut_at: Option<ElementAddress>,
}

/// Size of the element status data header and of each element status page header.
const HEADER_LEN: usize = 8;
/// Bytes of VOLUME TAG INFORMATION.
const VOLUME_TAG_LEN: usize = 36;
/// Bytes of VOLUME IDENTIFICATION within it: enough for a barcode.
const VOLUME_IDENTIFICATION_LEN: usize = 32;

/// Decodes `data`, the bytes the device actually transferred in answer to a request with
/// `allocation_length`.
pub fn decode_element_status(
    data: &[u8],
    allocation_length: usize,
) -> Result<ElementStatusReply, DecodeError> {
    let mut header = Cursor::new(data);
    let first = header.u16("first element address reported")?;
    let available = header.u16("number of elements available")?;
    header.skip(1, "reserved")?;
    let report = header.u24("byte count of report available")?;
    // Never look past what the device says it has, nor past what arrived.
    let declared_end = HEADER_LEN.saturating_add(report as usize);
    let end = declared_end.min(data.len());
    // The device had more to say than our buffer held: a partial last descriptor is cut
    // data, not a short descriptor, and must be read again.
    let cut_by_allocation = declared_end > data.len() && data.len() >= allocation_length;
    let body = &data[HEADER_LEN.min(end)..end];

    let mut reply = ElementStatusReply {
        first_element_address_reported: ElementAddress(first),
        number_of_elements_available: available,
        byte_count_of_report_available: report,
        elements: Vec::new(),
        descriptor_length: None,
        cut_at: None,
    };

    let mut pages = Cursor::new(body);
    while pages.remaining() > 0 {
        if pages.remaining() < HEADER_LEN {
            // A page header cut in two carries no element.
            break;
        }
        let type_code = pages.u8("element type code")?;
        let flags = pages.u8("volume tag flags")?;
        let descriptor_length = usize::from(pages.u16("element descriptor length")?);
        pages.skip(1, "reserved")?;
        let page_bytes = pages.u24("byte count of descriptor data available")? as usize;
        let element_type =
            ElementType::from_code(type_code).ok_or_else(|| DecodeError::Invalid {
                what: "element type code",
                detail: format!("{type_code:#04x} is not 1 to 4"),
            })?;
        if descriptor_length == 0 {
            return Err(DecodeError::Invalid {
                what: "element descriptor length",
                detail: "0 (a device bug: no descriptor can be read)".into(),
            });
        }
        reply.descriptor_length = u16::try_from(descriptor_length).ok();
        let page = pages.take_up_to(page_bytes);
        let page_complete = page.len() == page_bytes;
        let page_flags = PageFlags {
            pvoltag: flags & 0x80 != 0,
            avoltag: flags & 0x40 != 0,
        };
        let mut descriptors = Cursor::new(page);
        while descriptors.remaining() > 0 {
            let start = descriptors.position();
            let bytes = descriptors.take_up_to(descriptor_length);
            let short = bytes.len() < descriptor_length;
            if short && cut_by_allocation && !page_complete {
                if let Some(address) = peek_address(bytes) {
                    reply.cut_at = Some(address);
                } else if let Some(last) = reply.elements.last() {
                    reply.cut_at = last.address.0.checked_add(1).map(ElementAddress);
                }
                break;
            }
            match decode_descriptor(element_type, page_flags, bytes, descriptor_length) {
                Ok(element) => reply.elements.push(element),
                Err(_) if short => break,
                Err(e) => {
                    return Err(match e {
                        DecodeError::Truncated {
                            what, need, have, ..
                        } => DecodeError::Truncated {
                            what,
                            offset: start,
                            need,
                            have,
                        },
                        other => other,
                    });
                }
            }
        }
        if cut_by_allocation && !page_complete && reply.cut_at.is_none() {
            // Cut exactly at a descriptor boundary: continue after the last one.
            reply.cut_at = reply
                .elements
                .last()
                .and_then(|e| e.address.0.checked_add(1))
                .map(ElementAddress);
        }
    }
    Ok(reply)
}

#[derive(Debug, Clone, Copy)]
struct PageFlags {
    pvoltag: bool,
    avoltag: bool,
}

fn peek_address(bytes: &[u8]) -> Option<ElementAddress> {
    match bytes {
        [a, b, ..] => Some(ElementAddress(u16::from_be_bytes([*a, *b]))),
        _ => None,
    }
}

/// Decodes one element descriptor of `descriptor_length` bytes, of which `bytes` arrived.
fn decode_descriptor(
    element_type: ElementType,
    flags: PageFlags,
    bytes: &[u8],
    descriptor_length: usize,
) -> Result<ElementStatus, DecodeError> {
    let mut c = Cursor::new(bytes);
    let address = ElementAddress(c.u16("element address")?);
    let mut e = ElementStatus::empty(element_type, address);
    let status = c.u8("element status flags")?;
    e.full = status & 0x01 != 0;
    e.except = status & 0x04 != 0;
    if element_type != ElementType::MediumTransport {
        e.access = status & 0x08 != 0;
    }
    if element_type == ElementType::ImportExport {
        e.impexp = status & 0x02 != 0;
        e.exenab = status & 0x10 != 0;
        e.inenab = status & 0x20 != 0;
    }
    // Bytes 3–11. What did not arrive reads as 0 (not reported): some ADIC loaders declare
    // descriptors shorter than 12 bytes, and tgt 1.0.85 cuts the last descriptor of a reply by
    // 8 bytes, which leaves 8 of a 16-byte descriptor. The element is kept either way.
    let arrived = c.take_up_to(9);
    let mut fixed = [0u8; 9];
    fixed[..arrived.len()].copy_from_slice(arrived);
    let [_, asc, ascq, bus, id, _, medium, source_hi, source_lo] = fixed;
    e.asc = asc;
    e.ascq = ascq;
    if element_type == ElementType::DataTransfer && bus & 0x20 != 0 && arrived.len() >= 5 {
        e.scsi_bus_address = Some((id, (bus & 0x10 != 0).then_some(bus & 0x07)));
    }
    e.invert = medium & 0x40 != 0;
    e.disabled = medium & 0x08 != 0;
    e.medium_type = medium & 0x07;
    if medium & 0x80 != 0 && arrived.len() == fixed.len() {
        e.source = Some(ElementAddress(u16::from_be_bytes([source_hi, source_lo])));
    }
    // A volume tag flag counts only when the descriptor, by its declared length, has room for
    // the tag: mhVTL's HP MSL sets AVOLTAG on the drive page but sends no alternate tag, and
    // the bytes there are the (unsolicited) device identifier.
    let room = |c: &Cursor<'_>| descriptor_length.saturating_sub(c.position());
    if flags.pvoltag && room(&c) >= VOLUME_TAG_LEN {
        e.primary_volume_tag = read_volume_tag(&mut c);
    }
    if flags.avoltag && room(&c) >= VOLUME_TAG_LEN {
        e.alternate_volume_tag = read_volume_tag(&mut c);
    }
    e.identifier = read_identifier(&mut c);
    Ok(e)
}

/// A volume tag, when at least its 32-byte identification arrived.
fn read_volume_tag(c: &mut Cursor<'_>) -> Option<VolumeTag> {
    if c.remaining() < VOLUME_IDENTIFICATION_LEN {
        // Cut short (tgt's last descriptor, or our allocation): nothing usable follows.
        c.take_up_to(c.remaining());
        return None;
    }
    let bytes = c.take_up_to(VOLUME_TAG_LEN);
    let mut identification = [0u8; VOLUME_IDENTIFICATION_LEN];
    identification.copy_from_slice(&bytes[..VOLUME_IDENTIFICATION_LEN]);
    let sequence = match bytes.get(34..36) {
        Some([a, b]) => u16::from_be_bytes([*a, *b]),
        _ => 0,
    };
    Some(VolumeTag {
        identification,
        sequence,
    })
}

/// The DVCID identifier, when its 4-byte header arrived and announces a non-empty identifier.
fn read_identifier(c: &mut Cursor<'_>) -> Option<DeviceIdentifier> {
    if c.remaining() < 4 {
        return None;
    }
    let header = c.take_up_to(4);
    let length = usize::from(header[3]);
    if length == 0 {
        return None;
    }
    let identifier = c.take_up_to(length).to_vec();
    Some(DeviceIdentifier {
        code_set: header[0] & 0x0f,
        association: (header[1] >> 4) & 0x03,
        identifier_type: header[1] & 0x0f,
        truncated: identifier.len() < length,
        identifier,
    })
}
