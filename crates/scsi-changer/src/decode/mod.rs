//! Decoders for device responses. Each takes the bytes actually transferred, reads them through
//! a bounds-checked [`Cursor`](crate::cursor::Cursor), and never panics on any input.

pub mod element_status;
pub mod inquiry;
pub mod mode;

pub use element_status::{ElementStatusReply, decode_element_status};
pub use inquiry::{
    Designator, Inquiry, decode_device_identification, decode_inquiry, decode_unit_serial_number,
    decode_vpd_page_list,
};
pub use mode::{ElementAddressAssignment, decode_element_address_assignment};
