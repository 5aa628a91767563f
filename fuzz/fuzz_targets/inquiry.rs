//! Standard INQUIRY data and the VPD pages 00h, 80h and 83h.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scsi_changer::decode::{
    decode_device_identification, decode_inquiry, decode_unit_serial_number, decode_vpd_page_list,
};

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
    if let Ok(designators) = decode_device_identification(data) {
        // Every designator took its 4-byte header from the page.
        assert!(designators.len() * 4 + 4 <= data.len());
    }
});
