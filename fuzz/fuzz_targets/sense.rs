//! Sense data, fixed (70h/71h) and descriptor (72h/73h) format.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scsi_changer::sense::{Sense, asc_text};

fuzz_target!(|data: &[u8]| {
    if let Some(sense) = Sense::parse(data) {
        assert!(matches!(sense.response_code, 0x70..=0x73));
        let _ = sense.to_string();
        let _ = sense.is_deferred();
        let _ = asc_text(sense.asc, sense.ascq);
        let _ = Sense::parse(&Sense::fixed_bytes(sense.key, sense.asc, sense.ascq));
    }
});
