//! Standard INQUIRY data and the VPD pages 00h and 80h.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scsi_changer::decode::{decode_inquiry, decode_unit_serial_number, decode_vpd_page_list};

fuzz_target!(|data: &[u8]| {
    if let Ok(inq) = decode_inquiry(data) {
        // Trimmed texts never carry padding.
        for text in [&inq.vendor, &inq.product, &inq.revision] {
            assert_eq!(text.trim_matches(' '), text.as_str());
        }
    }
    if let Ok(pages) = decode_vpd_page_list(data) {
        assert!(pages.len() + 4 <= data.len());
    }
    if let Ok(Some(serial)) = decode_unit_serial_number(data) {
        assert!(!serial.is_empty());
    }
});
