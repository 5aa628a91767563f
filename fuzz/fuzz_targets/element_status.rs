//! READ ELEMENT STATUS data with an arbitrary allocation length.
//!
//! Input: ALLOCATION LENGTH (2 bytes, big-endian), then the data-in bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scsi_changer::decode::decode_element_status;
use scsi_changer::element::{DeviceIdentifier, VolumeTag};

fuzz_target!(|input: &[u8]| {
    let Some((allocation, data)) = input.split_first_chunk::<2>() else {
        return;
    };
    let allocation = usize::from(u16::from_be_bytes(*allocation));
    if let Ok(reply) = decode_element_status(data, allocation) {
        // Every element needs at least its address and flags byte.
        assert!(reply.elements.len() * 3 <= data.len());
        for e in &reply.elements {
            let _ = e.barcode();
            let _ = e.not_installed();
            for tag in [e.primary_volume_tag, e.alternate_volume_tag]
                .iter()
                .flatten()
            {
                let _ = (tag.mtx_text(), tag.barcode(), tag.is_blank());
            }
            if let Some(id) = &e.identifier {
                let _ = id.serial();
            }
        }
    }
    // The text helpers on raw bytes, whatever the decoder made of them.
    let mut identification = [0u8; 32];
    let n = data.len().min(32);
    identification[..n].copy_from_slice(&data[..n]);
    let tag = VolumeTag {
        identification,
        sequence: 0,
    };
    let _ = (tag.mtx_text(), tag.barcode());
    if let [code_set, id_type, rest @ ..] = data {
        let id = DeviceIdentifier {
            code_set: code_set & 0x0f,
            association: 0,
            identifier_type: id_type & 0x0f,
            identifier: rest.to_vec(),
            truncated: false,
        };
        let _ = id.serial();
    }
});
