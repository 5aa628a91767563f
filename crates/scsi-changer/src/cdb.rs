//! CDB builders: pure functions returning byte arrays, laid out as in SPC-4, SMC-3 and SSC-4.

use crate::address::{ElementAddress, ElementType};

/// Operation codes.
pub mod opcode {
    /// TEST UNIT READY (SPC-4).
    pub const TEST_UNIT_READY: u8 = 0x00;
    /// REQUEST SENSE (SPC-4).
    pub const REQUEST_SENSE: u8 = 0x03;
    /// INITIALIZE ELEMENT STATUS (SMC-3).
    pub const INITIALIZE_ELEMENT_STATUS: u8 = 0x07;
    /// INQUIRY (SPC-4).
    pub const INQUIRY: u8 = 0x12;
    /// LOAD UNLOAD (SSC-4), the same opcode as OPEN/CLOSE IMPORT/EXPORT ELEMENT on a changer.
    pub const LOAD_UNLOAD: u8 = 0x1b;
    /// MODE SENSE(6) (SPC-4).
    pub const MODE_SENSE_6: u8 = 0x1a;
    /// PREVENT ALLOW MEDIUM REMOVAL (SPC-4/SMC-3).
    pub const PREVENT_ALLOW_MEDIUM_REMOVAL: u8 = 0x1e;
    /// INITIALIZE ELEMENT STATUS WITH RANGE (SMC-3).
    pub const INITIALIZE_ELEMENT_STATUS_WITH_RANGE: u8 = 0x37;
    /// MODE SENSE(10) (SPC-4).
    pub const MODE_SENSE_10: u8 = 0x5a;
    /// MOVE MEDIUM (SMC-3).
    pub const MOVE_MEDIUM: u8 = 0xa5;
    /// EXCHANGE MEDIUM (SMC-3).
    pub const EXCHANGE_MEDIUM: u8 = 0xa6;
    /// READ ELEMENT STATUS (SMC-3).
    pub const READ_ELEMENT_STATUS: u8 = 0xb8;
    /// INITIALIZE ELEMENT STATUS WITH RANGE, the vendor-unique opcode of IBM, HP and Quantum.
    pub const INITIALIZE_ELEMENT_STATUS_WITH_RANGE_VENDOR: u8 = 0xe7;
}

/// Mode page codes.
pub mod page {
    /// Element Address Assignment mode page (SMC-3 7.3.3).
    pub const ELEMENT_ADDRESS_ASSIGNMENT: u8 = 0x1d;
    /// Unit Serial Number VPD page (SPC-4 7.8.15).
    pub const UNIT_SERIAL_NUMBER: u8 = 0x80;
    /// Device Identification VPD page (SPC-4 7.8.6).
    pub const DEVICE_IDENTIFICATION: u8 = 0x83;
    /// Supported VPD Pages (SPC-4 7.8.14).
    pub const SUPPORTED_VPD_PAGES: u8 = 0x00;
}

/// `TEST UNIT READY (00h)`.
pub fn test_unit_ready() -> [u8; 6] {
    [opcode::TEST_UNIT_READY, 0, 0, 0, 0, 0]
}

/// `REQUEST SENSE (03h)`, fixed format, `allocation_length` ≤ 252.
pub fn request_sense(allocation_length: u8) -> [u8; 6] {
    [
        opcode::REQUEST_SENSE,
        0, // byte 1: DESC = 0 (fixed format)
        0,
        0,
        allocation_length,
        0, // control
    ]
}

/// `INQUIRY (12h)`: standard data when `vpd_page` is `None`, else the given VPD page (EVPD=1).
/// Keep `allocation_length` ≤ 255 for SPC-2 devices, which read only byte 4.
pub fn inquiry(vpd_page: Option<u8>, allocation_length: u16) -> [u8; 6] {
    let [a0, a1] = allocation_length.to_be_bytes();
    [
        opcode::INQUIRY,
        u8::from(vpd_page.is_some()), // byte 1 bit 0: EVPD
        vpd_page.unwrap_or(0),        // PAGE CODE
        a0,
        a1, // ALLOCATION LENGTH
        0,  // control
    ]
}

/// `MODE SENSE(6) (1Ah)` of current values with DBD=1 (no block descriptors).
pub fn mode_sense_6(page_code: u8, allocation_length: u8) -> [u8; 6] {
    [
        opcode::MODE_SENSE_6,
        0x08,             // byte 1 bit 3: DBD
        page_code & 0x3f, // PC = 00b (current values), PAGE CODE
        0,                // SUBPAGE CODE
        allocation_length,
        0, // control
    ]
}

/// `MODE SENSE(10) (5Ah)` of current values with DBD=1.
pub fn mode_sense_10(page_code: u8, allocation_length: u16) -> [u8; 10] {
    let [a0, a1] = allocation_length.to_be_bytes();
    [
        opcode::MODE_SENSE_10,
        0x08, // byte 1: LLBAA = 0, DBD = 1
        page_code & 0x3f,
        0, // SUBPAGE CODE
        0,
        0,
        0, // reserved
        a0,
        a1, // ALLOCATION LENGTH
        0,  // control
    ]
}

/// Options of one READ ELEMENT STATUS request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadElementStatus {
    /// The one element type to report (never "all", see [`ElementType`]).
    pub element_type: ElementType,
    /// VOLTAG: report volume tags.
    pub voltag: bool,
    /// STARTING ELEMENT ADDRESS.
    pub starting_address: ElementAddress,
    /// NUMBER OF ELEMENTS: at most this many descriptors.
    pub number_of_elements: u16,
    /// CURDATA: answer from cached data without moving the robot.
    pub curdata: bool,
    /// DVCID: include device identifiers (drives only; some libraries reject it with VOLTAG).
    pub dvcid: bool,
    /// ALLOCATION LENGTH (24-bit field; the driver keeps it ≤ FFFFh because some changers read
    /// only the low 16 bits).
    pub allocation_length: u32,
}

/// `READ ELEMENT STATUS (B8h)`.
pub fn read_element_status(r: &ReadElementStatus) -> [u8; 12] {
    let [s0, s1] = r.starting_address.0.to_be_bytes();
    let [n0, n1] = r.number_of_elements.to_be_bytes();
    let [_, a0, a1, a2] = r.allocation_length.min(0x00ff_ffff).to_be_bytes();
    [
        opcode::READ_ELEMENT_STATUS,
        (u8::from(r.voltag) << 4) | r.element_type.code(), // VOLTAG, ELEMENT TYPE CODE
        s0,
        s1, // STARTING ELEMENT ADDRESS
        n0,
        n1,                                             // NUMBER OF ELEMENTS
        (u8::from(r.curdata) << 1) | u8::from(r.dvcid), // CURDATA, DVCID
        a0,
        a1,
        a2, // ALLOCATION LENGTH
        0,  // reserved
        0,  // control (mhVTL and tgt reject non-zero)
    ]
}

/// `MOVE MEDIUM (A5h)`.
pub fn move_medium(
    transport: ElementAddress,
    source: ElementAddress,
    destination: ElementAddress,
    invert: bool,
) -> [u8; 12] {
    let [t0, t1] = transport.0.to_be_bytes();
    let [s0, s1] = source.0.to_be_bytes();
    let [d0, d1] = destination.0.to_be_bytes();
    [
        opcode::MOVE_MEDIUM,
        0, // reserved
        t0,
        t1, // MEDIUM TRANSPORT ADDRESS
        s0,
        s1, // SOURCE ADDRESS
        d0,
        d1, // DESTINATION ADDRESS
        0,
        0,                // reserved
        u8::from(invert), // byte 10 bit 0: INVERT
        0,                // control
    ]
}

/// `EXCHANGE MEDIUM (A6h)`: source → first destination, first destination → second destination.
pub fn exchange_medium(
    transport: ElementAddress,
    source: ElementAddress,
    first_destination: ElementAddress,
    second_destination: ElementAddress,
) -> [u8; 12] {
    let [t0, t1] = transport.0.to_be_bytes();
    let [s0, s1] = source.0.to_be_bytes();
    let [f0, f1] = first_destination.0.to_be_bytes();
    let [d0, d1] = second_destination.0.to_be_bytes();
    [
        opcode::EXCHANGE_MEDIUM,
        0, // reserved
        t0,
        t1, // MEDIUM TRANSPORT ADDRESS
        s0,
        s1, // SOURCE ADDRESS
        f0,
        f1, // FIRST DESTINATION ADDRESS
        d0,
        d1, // SECOND DESTINATION ADDRESS
        0,  // byte 10: INV2 = 0, INV1 = 0
        0,  // control
    ]
}

/// `INITIALIZE ELEMENT STATUS (07h)`: re-scan every element.
pub fn initialize_element_status() -> [u8; 6] {
    [opcode::INITIALIZE_ELEMENT_STATUS, 0, 0, 0, 0, 0]
}

/// `INITIALIZE ELEMENT STATUS WITH RANGE (37h, or vendor E7h)`: re-scan `count` elements from
/// `start`. `opcode` is [`opcode::INITIALIZE_ELEMENT_STATUS_WITH_RANGE`] (SMC-3, tgt) or
/// [`opcode::INITIALIZE_ELEMENT_STATUS_WITH_RANGE_VENDOR`] (IBM, HP, Quantum, mhVTL).
pub fn initialize_element_status_with_range(
    opcode: u8,
    start: ElementAddress,
    count: u16,
) -> [u8; 10] {
    let [s0, s1] = start.0.to_be_bytes();
    let [n0, n1] = count.to_be_bytes();
    [
        opcode, 0x01, // byte 1: FAST = 0, RANGE = 1
        s0, s1, // STARTING ELEMENT ADDRESS
        0, 0, // reserved
        n0, n1, // NUMBER OF ELEMENTS
        0,  // reserved
        0,  // control
    ]
}

/// `PREVENT ALLOW MEDIUM REMOVAL (1Eh)`.
pub fn prevent_allow_medium_removal(prevent: bool) -> [u8; 6] {
    [
        opcode::PREVENT_ALLOW_MEDIUM_REMOVAL,
        0,
        0,
        0,
        u8::from(prevent), // byte 4 bits 1–0: PREVENT
        0,
    ]
}

/// `LOAD UNLOAD (1Bh)` to a tape drive (SSC-4): `load = false` rewinds and ejects the tape so
/// the robot can take it (mtx-changer's `offline`).
pub fn load_unload(load: bool, immediate: bool) -> [u8; 6] {
    [
        opcode::LOAD_UNLOAD,
        u8::from(immediate), // byte 1 bit 0: IMMED
        0,
        0,
        u8::from(load), // byte 4: HOLD = 0, EOT = 0, RETEN = 0, LOAD
        0,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// Golden bytes: the CDBs mtx and tgt's transcript use, and hand-checked SMC-3 layouts.
    #[test]
    fn golden_cdbs() {
        let a = ElementAddress;
        let cases: &[(&str, Vec<u8>, &str)] = &[
            ("tur", test_unit_ready().to_vec(), "000000000000"),
            ("request sense", request_sense(18).to_vec(), "030000001200"),
            ("inquiry std", inquiry(None, 0x60).to_vec(), "120000006000"),
            (
                "inquiry vpd 80",
                inquiry(Some(0x80), 0xff).to_vec(),
                "12018000ff00",
            ),
            (
                "inquiry vpd 83",
                inquiry(Some(0x83), 0xff).to_vec(),
                "12018300ff00",
            ),
            (
                "mode sense 6 1d",
                mode_sense_6(0x1d, 0xff).to_vec(),
                "1a081d00ff00",
            ),
            (
                "mode sense 10 1d",
                mode_sense_10(0x1d, 0xff).to_vec(),
                "5a081d0000000000ff00",
            ),
            (
                "res st voltag",
                read_element_status(&ReadElementStatus {
                    element_type: ElementType::Storage,
                    voltag: true,
                    starting_address: a(0),
                    number_of_elements: 0xffff,
                    curdata: false,
                    dvcid: false,
                    allocation_length: 0xffff,
                })
                .to_vec(),
                "b8120000ffff0000ffff0000",
            ),
            (
                "res dt dvcid only",
                read_element_status(&ReadElementStatus {
                    element_type: ElementType::DataTransfer,
                    voltag: false,
                    starting_address: a(0),
                    number_of_elements: 0xffff,
                    curdata: false,
                    dvcid: true,
                    allocation_length: 0xffff,
                })
                .to_vec(),
                "b8040000ffff0100ffff0000",
            ),
            (
                "res st start 1005 count 2 curdata",
                read_element_status(&ReadElementStatus {
                    element_type: ElementType::Storage,
                    voltag: true,
                    starting_address: a(1005),
                    number_of_elements: 2,
                    curdata: true,
                    dvcid: false,
                    allocation_length: 0x01_0000,
                })
                .to_vec(),
                "b81203ed0002020100000000",
            ),
            (
                "move 1000 -> 500",
                move_medium(a(1), a(1000), a(500), false).to_vec(),
                "a500000103e801f400000000",
            ),
            (
                "move invert",
                move_medium(a(0), a(1001), a(501), true).to_vec(),
                "a500000003e901f500000100",
            ),
            (
                "exchange",
                exchange_medium(a(1), a(1000), a(500), a(1001)).to_vec(),
                "a600000103e801f403e90000",
            ),
            (
                "init element status",
                initialize_element_status().to_vec(),
                "070000000000",
            ),
            (
                "init with range 37h",
                initialize_element_status_with_range(0x37, a(1000), 10).to_vec(),
                "370103e80000000a0000",
            ),
            (
                "init with range e7h",
                initialize_element_status_with_range(0xe7, a(1), 3200).to_vec(),
                "e701000100000c800000",
            ),
            (
                "allow",
                prevent_allow_medium_removal(false).to_vec(),
                "1e0000000000",
            ),
            (
                "prevent",
                prevent_allow_medium_removal(true).to_vec(),
                "1e0000000100",
            ),
            ("unload", load_unload(false, false).to_vec(), "1b0000000000"),
            (
                "load immed",
                load_unload(true, true).to_vec(),
                "1b0100000100",
            ),
        ];
        for (name, cdb, want) in cases {
            assert_eq!(hex(cdb), *want, "{name}");
        }
    }
}
