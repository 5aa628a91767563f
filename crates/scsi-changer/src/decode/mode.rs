//! MODE SENSE data and the Element Address Assignment mode page (SMC-3 7.3.3, page 1Dh).

use crate::address::{ElementAddress, ElementType};
use crate::cursor::Cursor;
use crate::error::DecodeError;

/// Element Address Assignment page (1Dh): the first address and count of each element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ElementAddressAssignment {
    /// FIRST MEDIUM TRANSPORT ELEMENT ADDRESS.
    pub first_medium_transport: ElementAddress,
    /// NUMBER OF MEDIUM TRANSPORT ELEMENTS (0 on some old HP loaders).
    pub medium_transports: u16,
    /// FIRST STORAGE ELEMENT ADDRESS.
    pub first_storage: ElementAddress,
    /// NUMBER OF STORAGE ELEMENTS.
    pub storage: u16,
    /// FIRST IMPORT/EXPORT ELEMENT ADDRESS.
    pub first_import_export: ElementAddress,
    /// NUMBER OF IMPORT/EXPORT ELEMENTS.
    pub import_export: u16,
    /// FIRST DATA TRANSFER ELEMENT ADDRESS.
    pub first_data_transfer: ElementAddress,
    /// NUMBER OF DATA TRANSFER ELEMENTS.
    pub data_transfer: u16,
}

impl ElementAddressAssignment {
    /// First address and count of one element type.
    pub fn range(&self, t: ElementType) -> (ElementAddress, u16) {
        match t {
            ElementType::MediumTransport => (self.first_medium_transport, self.medium_transports),
            ElementType::Storage => (self.first_storage, self.storage),
            ElementType::ImportExport => (self.first_import_export, self.import_export),
            ElementType::DataTransfer => (self.first_data_transfer, self.data_transfer),
        }
    }

    /// Whether the four ranges, read as contiguous `first..first+count`, are disjoint and fit
    /// in 16 bits — the condition under which an address can be placed by this page alone.
    pub fn ranges_are_disjoint(&self) -> bool {
        let mut spans: Vec<(u32, u32)> = ElementType::ALL
            .iter()
            .map(|&t| self.range(t))
            .filter(|(_, n)| *n > 0)
            .map(|(first, n)| (u32::from(first.0), u32::from(first.0) + u32::from(n)))
            .collect();
        spans.sort_unstable();
        spans.iter().all(|(_, end)| *end <= 0x1_0000) && spans.windows(2).all(|w| w[0].1 <= w[1].0)
    }

    /// The element type whose range (read as contiguous) contains `address`.
    pub fn type_of(&self, address: ElementAddress) -> Option<ElementType> {
        ElementType::ALL.into_iter().find(|&t| {
            let (first, n) = self.range(t);
            address.0 >= first.0 && u32::from(address.0) < u32::from(first.0) + u32::from(n)
        })
    }
}

/// Decodes a MODE SENSE(6) (`ten = false`) or MODE SENSE(10) reply holding page 1Dh.
pub fn decode_element_address_assignment(
    data: &[u8],
    ten: bool,
) -> Result<ElementAddressAssignment, DecodeError> {
    let mut c = Cursor::new(data);
    let (mode_data_length, block_descriptor_length, header_len) = if ten {
        let len = usize::from(c.u16("mode data length")?);
        c.skip(
            4,
            "medium type, device-specific parameter, LONGLBA, reserved",
        )?;
        (len + 2, usize::from(c.u16("block descriptor length")?), 8)
    } else {
        let len = usize::from(c.u8("mode data length")?);
        c.skip(2, "medium type, device-specific parameter")?;
        (len + 1, usize::from(c.u8("block descriptor length")?), 4)
    };
    // Some drives return the whole allocation while the header tells the true length
    // (PBS: "hh7" IBM drives): trust the header, never more than arrived.
    let end = mode_data_length.min(data.len());
    let page_start = header_len + block_descriptor_length;
    let pages = data.get(page_start..end).ok_or(DecodeError::Truncated {
        what: "mode page after block descriptors",
        offset: page_start,
        need: 1,
        have: end.saturating_sub(header_len),
    })?;
    let mut p = Cursor::new(pages);
    // Walk the pages until 1Dh (a device may return others first).
    loop {
        let first = p.u8("page code")?;
        let sub_page = first & 0x40 != 0;
        let length = if sub_page {
            // SPF: sub-page format (SPC-4 7.5.7), SUBPAGE CODE then a 16-bit PAGE LENGTH.
            // tgt's all-pages reply holds 0Ah/01h this way.
            p.skip(1, "subpage code")?;
            usize::from(p.u16("subpage page length")?)
        } else {
            usize::from(p.u8("page length")?)
        };
        if first & 0x3f == 0x1d && !sub_page {
            if length < 0x12 {
                return Err(DecodeError::Invalid {
                    what: "element address assignment page length",
                    detail: format!("{length} (at least 18 expected)"),
                });
            }
            let body = p.take(0x10, "element address assignment page")?;
            let mut b = Cursor::new(body);
            return Ok(ElementAddressAssignment {
                first_medium_transport: ElementAddress(
                    b.u16("first medium transport element address")?,
                ),
                medium_transports: b.u16("number of medium transport elements")?,
                first_storage: ElementAddress(b.u16("first storage element address")?),
                storage: b.u16("number of storage elements")?,
                first_import_export: ElementAddress(b.u16("first import/export element address")?),
                import_export: b.u16("number of import/export elements")?,
                first_data_transfer: ElementAddress(b.u16("first data transfer element address")?),
                data_transfer: b.u16("number of data transfer elements")?,
            });
        }
        p.skip(length, "other mode page")?;
    }
}
