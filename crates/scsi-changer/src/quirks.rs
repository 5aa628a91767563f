//! Behaviour a standard leaves to the vendor, looked up by the device's INQUIRY identity.
//!
//! Only what a source documents is listed (docs/hardware-quirks.md names it for each entry);
//! a device that matches nothing gets the standard's reading of every code.

use crate::decode::Inquiry;

/// What the driver knows about one device beyond the standards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Quirks {
    /// ASCQs of NOT READY with ASC 04h in the vendor-specific range (80h–FFh) that report a
    /// condition which ends by itself, so the retry policy waits on them. Any other vendor
    /// code fails at once: the standard gives it no meaning, and waiting on, say, a door left
    /// open would only hide the decoded text until the deadline.
    pub transient_not_ready: &'static [u8],
}

/// One row of the table: T10 VENDOR IDENTIFICATION, a prefix of PRODUCT IDENTIFICATION
/// (empty: every product), and the quirks.
struct Entry {
    vendor: &'static str,
    product_prefix: &'static str,
    quirks: Quirks,
}

const TABLE: &[Entry] = &[
    // IBM libraries answer 04h/85h while paused (an operator or a service action); the pause
    // ends without the initiator's help (CERN CTA rmc_smcsubr.c waits it out).
    Entry {
        vendor: "IBM",
        product_prefix: "",
        quirks: Quirks {
            transient_not_ready: &[0x85],
        },
    },
];

impl Quirks {
    /// No quirks: the standards as written.
    pub const NONE: Quirks = Quirks {
        transient_not_ready: &[],
    };

    /// The quirks of a device by its INQUIRY vendor and product (blanks around them ignored,
    /// letters compared without case).
    pub fn for_device(vendor: &str, product: &str) -> Quirks {
        let vendor = vendor.trim();
        let product = product.trim();
        TABLE
            .iter()
            .find(|e| {
                e.vendor.eq_ignore_ascii_case(vendor)
                    && product
                        .get(..e.product_prefix.len())
                        .is_some_and(|p| p.eq_ignore_ascii_case(e.product_prefix))
            })
            .map_or(Quirks::NONE, |e| e.quirks)
    }

    /// The quirks of the device that sent this INQUIRY data.
    pub fn for_inquiry(inquiry: &Inquiry) -> Quirks {
        Quirks::for_device(&inquiry.vendor, &inquiry.product)
    }

    /// Whether NOT READY with this ASC/ASCQ is, on this device, a vendor condition that passes.
    pub fn is_transient_not_ready(&self, asc: u8, ascq: u8) -> bool {
        asc == 0x04 && ascq >= 0x80 && self.transient_not_ready.contains(&ascq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ibm_pause_is_listed_and_nothing_else() {
        let ibm = Quirks::for_device("IBM     ", "03584L32        ");
        assert!(ibm.is_transient_not_ready(0x04, 0x85));
        assert!(!ibm.is_transient_not_ready(0x04, 0x81));
        assert!(!ibm.is_transient_not_ready(0x05, 0x85));
        assert_eq!(Quirks::for_device("ibm", ""), ibm);
        for (vendor, product) in [
            ("STK", "L700"),
            ("HP", "MSL G3 Series"),
            ("", ""),
            ("IBMX", ""),
        ] {
            assert_eq!(
                Quirks::for_device(vendor, product),
                Quirks::NONE,
                "{vendor}"
            );
        }
    }
}
