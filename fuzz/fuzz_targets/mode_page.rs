//! MODE SENSE(6) and (10) replies holding the Element Address Assignment page.
//!
//! Input: one selector byte (bit 0 set: MODE SENSE(10) header), then the reply.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scsi_changer::address::{ElementAddress, ElementType};
use scsi_changer::decode::decode_element_address_assignment;

fuzz_target!(|input: &[u8]| {
    let Some((selector, data)) = input.split_first() else {
        return;
    };
    let ten = selector & 1 != 0;
    if let Ok(page) = decode_element_address_assignment(data, ten) {
        let _ = page.ranges_are_disjoint();
        for t in ElementType::ALL {
            let (first, count) = page.range(t);
            if count > 0 {
                assert!(page.type_of(first).is_some());
            }
        }
        let _ = page.type_of(ElementAddress(u16::from(*selector) << 8));
    }
});
