//! The retry policy at work on a changer, through a small fake library: what a MOVE answered
//! TASK ABORTED or ABORTED COMMAND does, which timeout each command goes out with, which
//! NOT READY codes are waited on, and what a short READ ELEMENT STATUS transfer gives.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::time::{Duration, Instant};

use scsi_changer::address::{ElementAddress, ElementType};
use scsi_changer::changer::{Changer, ReadOptions};
use scsi_changer::error::{DecodeError, Error};
use scsi_changer::quirks::Quirks;
use scsi_changer::retry::RetryPolicy;
use scsi_changer::sense::{Sense, SenseKey};
use scsi_changer::transport::{Command, Completion, DataDirection, Transport, host, status};

const TRANSPORT: ElementAddress = ElementAddress(1);
const SLOT: (ElementType, ElementAddress) = (ElementType::Storage, ElementAddress(1000));
const DRIVE: (ElementType, ElementAddress) = (ElementType::DataTransfer, ElementAddress(500));

/// What the fake library does with the next MOVE MEDIUM.
#[derive(Debug, Clone)]
enum MoveAnswer {
    /// Carries the move out, then answers this.
    After(Completion),
    /// Answers this without moving anything.
    Before(Completion),
}

/// A library of one drive (500) and three slots (1000–1002), slot 1000 full. Answers INQUIRY,
/// TEST UNIT READY, READ ELEMENT STATUS (12-byte descriptors, no tags), MOVE MEDIUM and
/// INITIALIZE ELEMENT STATUS; records every CDB with the timeout it was sent with.
struct FakeLibrary {
    full: BTreeMap<u16, bool>,
    vendor: &'static str,
    moves: VecDeque<MoveAnswer>,
    /// Answers to READ ELEMENT STATUS, before the real one.
    reads: VecDeque<Completion>,
    /// READ ELEMENT STATUS fails with HARDWARE ERROR once a move has been carried out.
    unreadable_after_a_move: bool,
    moved: bool,
    /// Answers to TEST UNIT READY, before GOOD.
    not_ready: VecDeque<Completion>,
    sent: Vec<(Vec<u8>, Duration)>,
}

impl FakeLibrary {
    fn new() -> FakeLibrary {
        FakeLibrary {
            full: [(500, false), (1000, true), (1001, false), (1002, false)].into(),
            vendor: "ACME",
            moves: VecDeque::new(),
            reads: VecDeque::new(),
            unreadable_after_a_move: false,
            moved: false,
            not_ready: VecDeque::new(),
            sent: Vec::new(),
        }
    }

    fn with_moves(answers: impl IntoIterator<Item = MoveAnswer>) -> FakeLibrary {
        FakeLibrary {
            moves: answers.into_iter().collect(),
            ..FakeLibrary::new()
        }
    }

    fn sent_with(&self, opcode: u8) -> Vec<Duration> {
        self.sent
            .iter()
            .filter(|(cdb, _)| cdb[0] == opcode)
            .map(|(_, t)| *t)
            .collect()
    }

    fn moves_sent(&self) -> usize {
        self.sent_with(0xa5).len()
    }

    fn apply_move(&mut self, cdb: &[u8]) -> Completion {
        let source = u16::from_be_bytes([cdb[4], cdb[5]]);
        let destination = u16::from_be_bytes([cdb[6], cdb[7]]);
        if !self.full[&source] {
            return sense(SenseKey::IllegalRequest, 0x3b, 0x0e);
        }
        if self.full[&destination] {
            return sense(SenseKey::IllegalRequest, 0x3b, 0x0d);
        }
        self.full.insert(source, false);
        self.full.insert(destination, true);
        self.moved = true;
        Completion::good()
    }

    fn element_status(&self, cdb: &[u8]) -> Vec<u8> {
        let type_code = cdb[1] & 0x0f;
        let start = u16::from_be_bytes([cdb[2], cdb[3]]);
        let count = usize::from(u16::from_be_bytes([cdb[4], cdb[5]]));
        let mut descriptors = Vec::new();
        for (&address, &full) in self.full.range(start..).take(count) {
            let is_drive = address < 1000;
            if (type_code == 4) != is_drive {
                continue;
            }
            let mut d = [0u8; 12];
            d[..2].copy_from_slice(&address.to_be_bytes());
            d[2] = u8::from(full) | 0x08;
            descriptors.extend_from_slice(&d);
        }
        element_status_reply(type_code, 12, &descriptors)
    }
}

impl Transport for FakeLibrary {
    fn execute(&mut self, cmd: Command<'_>) -> io::Result<Completion> {
        self.sent.push((cmd.cdb.to_vec(), cmd.timeout));
        let (completion, data) = match cmd.cdb[0] {
            0x12 => {
                let mut d = vec![0x08, 0, 0x06, 0x02, 31, 0, 0, 0];
                d.extend(format!("{:<8}{:<16}{:<4}", self.vendor, "LIBRARY", "0001").bytes());
                (Completion::good(), d)
            }
            0x00 => (
                self.not_ready.pop_front().unwrap_or_else(Completion::good),
                Vec::new(),
            ),
            0x07 | 0x37 | 0xe7 => (Completion::good(), Vec::new()),
            0xb8 => match self.reads.pop_front() {
                Some(c) => (c, Vec::new()),
                None if self.unreadable_after_a_move && self.moved => {
                    (sense(SenseKey::HardwareError, 0x44, 0x00), Vec::new())
                }
                None => (Completion::good(), self.element_status(cmd.cdb)),
            },
            0xa5 => match self.moves.pop_front() {
                Some(MoveAnswer::Before(c)) => (c, Vec::new()),
                Some(MoveAnswer::After(c)) => {
                    let done = self.apply_move(cmd.cdb);
                    (
                        if done.status == status::GOOD { c } else { done },
                        Vec::new(),
                    )
                }
                None => (self.apply_move(cmd.cdb), Vec::new()),
            },
            other => panic!("unexpected opcode {other:#04x}"),
        };
        let resid = match cmd.data {
            DataDirection::FromDevice(buf) => {
                let n = data.len().min(buf.len());
                buf[..n].copy_from_slice(&data[..n]);
                buf.len() - n
            }
            _ => 0,
        };
        Ok(Completion {
            resid,
            ..completion
        })
    }

    fn name(&self) -> &str {
        "fake"
    }
}

/// An element status header and one page around `descriptors`.
fn element_status_reply(type_code: u8, descriptor_length: u16, descriptors: &[u8]) -> Vec<u8> {
    let count = descriptors.len() / usize::from(descriptor_length);
    let first = match descriptors {
        [a, b, ..] => [*a, *b],
        _ => [0, 0],
    };
    let report = (8 + descriptors.len()) as u32;
    let page = descriptors.len() as u32;
    let mut r = vec![first[0], first[1]];
    r.extend((count as u16).to_be_bytes());
    r.extend(report.to_be_bytes());
    r.extend([type_code, 0]);
    r.extend(descriptor_length.to_be_bytes());
    r.extend(page.to_be_bytes());
    r.extend_from_slice(descriptors);
    r
}

fn sense(key: SenseKey, asc: u8, ascq: u8) -> Completion {
    Completion::check_condition(Sense::fixed_bytes(key, asc, ascq))
}

fn task_aborted() -> Completion {
    Completion {
        status: status::TASK_ABORTED,
        ..Completion::good()
    }
}

fn aborted_command(asc: u8, ascq: u8) -> Completion {
    sense(SenseKey::AbortedCommand, asc, ascq)
}

fn changer(library: FakeLibrary) -> Changer<FakeLibrary> {
    Changer::new(library).with_policy(RetryPolicy::immediate())
}

fn moved(c: &mut Changer<FakeLibrary>) -> bool {
    let full = &c.transport_mut().full;
    !full[&1000] && full[&500]
}

// ---- a MOVE answered TASK ABORTED or ABORTED COMMAND ---------------------------------------

#[test]
fn task_aborted_after_the_move_happened_is_success_with_one_move() {
    let mut c = changer(FakeLibrary::with_moves([MoveAnswer::After(task_aborted())]));
    c.move_medium(TRANSPORT, SLOT, DRIVE).unwrap();
    assert!(moved(&mut c));
    assert_eq!(c.transport_mut().moves_sent(), 1, "never re-sent blindly");
}

#[test]
fn task_aborted_with_nothing_moved_is_sent_once_more() {
    let mut c = changer(FakeLibrary::with_moves([
        MoveAnswer::Before(task_aborted()),
    ]));
    c.move_medium(TRANSPORT, SLOT, DRIVE).unwrap();
    assert!(moved(&mut c));
    assert_eq!(c.transport_mut().moves_sent(), 2);
}

#[test]
fn aborted_twice_with_nothing_moved_fails_after_two_moves() {
    let mut c = changer(FakeLibrary::with_moves([
        MoveAnswer::Before(task_aborted()),
        MoveAnswer::Before(task_aborted()),
    ]));
    let err = c.move_medium(TRANSPORT, SLOT, DRIVE).unwrap_err();
    assert!(err.to_string().contains("TASK ABORTED"), "says why: {err}");
    assert!(!moved(&mut c));
    assert_eq!(c.transport_mut().moves_sent(), 2, "re-sent at most once");
}

#[test]
fn aborted_command_sense_is_settled_like_task_aborted_whatever_its_asc() {
    // Communication time-out, parity error (iSCSI digest), data phase error, internal failure,
    // overlapped commands.
    for (asc, ascq) in [
        (0x08, 0x01),
        (0x47, 0x00),
        (0x47, 0x03),
        (0x4b, 0x00),
        (0x44, 0x00),
        (0x4e, 0x00),
    ] {
        let mut c = changer(FakeLibrary::with_moves([MoveAnswer::After(
            aborted_command(asc, ascq),
        )]));
        c.move_medium(TRANSPORT, SLOT, DRIVE).unwrap();
        assert!(moved(&mut c), "{asc:02x}/{ascq:02x}");
        assert_eq!(c.transport_mut().moves_sent(), 1, "{asc:02x}/{ascq:02x}");

        let mut c = changer(FakeLibrary::with_moves([MoveAnswer::Before(
            aborted_command(asc, ascq),
        )]));
        c.move_medium(TRANSPORT, SLOT, DRIVE).unwrap();
        assert!(moved(&mut c), "{asc:02x}/{ascq:02x}");
        assert_eq!(c.transport_mut().moves_sent(), 2, "{asc:02x}/{ascq:02x}");
    }
}

#[test]
fn elements_unreadable_after_an_aborted_move_make_the_outcome_unknown() {
    let mut library = FakeLibrary::with_moves([MoveAnswer::After(task_aborted())]);
    library.unreadable_after_a_move = true;
    let mut c = changer(library);
    match c.move_medium(TRANSPORT, SLOT, DRIVE) {
        Err(e @ Error::MoveOutcomeUnknown { .. }) => {
            let text = e.to_string();
            assert!(text.contains("TASK ABORTED"), "{text}");
            assert!(text.contains("unreadable"), "{text}");
            assert!(
                text.contains("changer status"),
                "says what to check: {text}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.transport_mut().moves_sent(), 1);
}

#[test]
fn a_transport_error_with_nothing_moved_is_sent_once_more() {
    let disrupted = Completion {
        host_status: host::TRANSPORT_DISRUPTED,
        ..Completion::good()
    };
    let mut c = changer(FakeLibrary::with_moves([MoveAnswer::Before(
        disrupted.clone(),
    )]));
    c.move_medium(TRANSPORT, SLOT, DRIVE).unwrap();
    assert!(moved(&mut c));
    assert_eq!(c.transport_mut().moves_sent(), 2);

    let mut c = changer(FakeLibrary::with_moves([MoveAnswer::After(disrupted)]));
    c.move_medium(TRANSPORT, SLOT, DRIVE).unwrap();
    assert_eq!(c.transport_mut().moves_sent(), 1);
}

#[test]
fn no_move_is_re_sent_when_the_budget_has_no_room_for_it() {
    let mut c = changer(FakeLibrary::with_moves([
        MoveAnswer::Before(task_aborted()),
    ]));
    c.set_deadline(Some(Instant::now() + Duration::from_secs(5)));
    let err = c.move_medium(TRANSPORT, SLOT, DRIVE).unwrap_err();
    assert!(err.to_string().contains("TASK ABORTED"), "{err}");
    assert!(!moved(&mut c));
    assert_eq!(c.transport_mut().moves_sent(), 1);
}

#[test]
fn aborted_reads_are_retried_three_times() {
    let read = |c: &mut Changer<FakeLibrary>| c.read_element(SLOT.0, SLOT.1);
    let mut library = FakeLibrary::new();
    library.reads = [
        aborted_command(0x47, 0x00),
        task_aborted(),
        aborted_command(0x4b, 0x00),
    ]
    .into();
    let mut c = changer(library);
    assert!(read(&mut c).unwrap().full);
    assert_eq!(c.transport_mut().sent_with(0xb8).len(), 4);

    let mut library = FakeLibrary::new();
    library.reads = (0..4).map(|_| aborted_command(0x47, 0x00)).collect();
    let mut c = changer(library);
    let err = read(&mut c).unwrap_err();
    assert!(err.to_string().contains("ABORTED COMMAND"), "{err}");
    assert_eq!(
        c.transport_mut().sent_with(0xb8).len(),
        4,
        "three retries, no more"
    );
}

// ---- timeouts -------------------------------------------------------------------------------

#[test]
fn moves_and_initialize_go_out_with_their_full_timeout_whatever_the_deadline() {
    let mut c = changer(FakeLibrary::new());
    c.set_deadline(Some(Instant::now() + Duration::from_secs(30)));
    c.move_medium(TRANSPORT, SLOT, DRIVE).unwrap();
    c.initialize_element_status(None, false).unwrap();
    c.read_element(SLOT.0, SLOT.1).unwrap();
    let library = c.transport_mut();
    assert_eq!(library.sent_with(0xa5), [Duration::from_secs(900)]);
    assert_eq!(library.sent_with(0x07), [Duration::from_secs(3600)]);
    // Reads still end inside the budget.
    let reads = library.sent_with(0xb8);
    assert!(
        !reads.is_empty() && reads.iter().all(|t| *t <= Duration::from_secs(30)),
        "{reads:?}"
    );
}

// ---- vendor NOT READY codes ------------------------------------------------------------------

fn not_ready_twice(vendor: &'static str, ascq: u8) -> Changer<FakeLibrary> {
    let mut library = FakeLibrary::new();
    library.vendor = vendor;
    library.not_ready = (0..2)
        .map(|_| sense(SenseKey::NotReady, 0x04, ascq))
        .collect();
    changer(library)
}

#[test]
fn vendor_not_ready_of_an_unknown_vendor_fails_at_once_with_the_decoded_text() {
    let mut c = not_ready_twice("ACME", 0x81);
    c.inquiry().unwrap();
    let err = c.test_unit_ready().unwrap_err();
    assert!(
        err.to_string()
            .contains("NOT READY: vendor specific (04h/81h)"),
        "{err}"
    );
    assert_eq!(c.transport_mut().sent_with(0x00).len(), 1);
}

#[test]
fn vendor_not_ready_listed_for_the_vendor_is_waited_on() {
    // Learned from INQUIRY.
    let mut c = not_ready_twice("IBM", 0x85);
    c.inquiry().unwrap();
    c.test_unit_ready().unwrap();
    assert_eq!(c.transport_mut().sent_with(0x00).len(), 3);
    // Set by the caller, no INQUIRY.
    let mut c = not_ready_twice("IBM", 0x85);
    c.set_quirks(Quirks::for_device("IBM", "03584L32"));
    c.test_unit_ready().unwrap();
    assert_eq!(c.transport_mut().sent_with(0x00).len(), 3);
    // Another vendor code of the same vendor is not.
    let mut c = not_ready_twice("IBM", 0x81);
    c.inquiry().unwrap();
    assert!(c.test_unit_ready().is_err());
    assert_eq!(c.transport_mut().sent_with(0x00).len(), 1);
}

// ---- short transfers -------------------------------------------------------------------------

/// A device answering READ ELEMENT STATUS with `reply` cut to `sent` bytes and the residual
/// `resid`, whatever the buffer.
struct Short {
    reply: Vec<u8>,
    sent: usize,
    resid: usize,
}

impl Transport for Short {
    fn execute(&mut self, cmd: Command<'_>) -> io::Result<Completion> {
        let DataDirection::FromDevice(buf) = cmd.data else {
            panic!("data-in expected")
        };
        let n = self.sent.min(buf.len());
        buf[..n].copy_from_slice(&self.reply[..n]);
        Ok(Completion {
            resid: self.resid,
            ..Completion::good()
        })
    }

    fn name(&self) -> &str {
        "short"
    }
}

/// `count` 52-byte storage descriptors with volume tags, from 1000.
fn tagged_slots(count: u16) -> Vec<u8> {
    let mut descriptors = Vec::new();
    for a in 1000..1000 + count {
        let mut d = vec![0u8; 52];
        d[..2].copy_from_slice(&a.to_be_bytes());
        d[2] = 0x09;
        d[12..20].copy_from_slice(format!("T{a:05}L6").as_bytes());
        d[20..44].fill(b' ');
        descriptors.extend(d);
    }
    let mut reply = element_status_reply(2, 52, &descriptors);
    reply[9] = 0x80; // PVOLTAG
    reply
}

fn read_short(
    reply: Vec<u8>,
    sent: usize,
    resid: usize,
    allocation: usize,
) -> Result<usize, Error> {
    let mut c = Changer::new(Short { reply, sent, resid }).with_policy(RetryPolicy::immediate());
    let options = ReadOptions {
        voltag: true,
        dvcid: false,
    };
    c.read_element_status_once(
        ElementType::Storage,
        ElementAddress(1000),
        100,
        options,
        allocation,
    )
    .map(|r| {
        assert!(
            r.elements
                .iter()
                .all(|e| e.barcode().is_some_and(|b| b.starts_with('T'))),
            "no zero-filled barcodes: {r:?}"
        );
        r.elements.len()
    })
}

fn assert_short_transfer(result: Result<usize, Error>, sent: usize, of: usize) {
    let err = result.unwrap_err();
    match &err {
        Error::Decode {
            source: DecodeError::ShortTransfer {
                sent: s, expected, ..
            },
            op,
            ..
        } => {
            assert_eq!((*s, *expected), (sent, of));
            assert_eq!(*op, "READ ELEMENT STATUS");
        }
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(&format!("sent {sent} of {of} bytes")),
        "{text}"
    );
}

#[test]
fn a_short_transfer_that_is_no_overflow_is_an_error_not_zero_filled_barcodes() {
    // 40 descriptors announced (16 + 2080 bytes); a 1024-byte buffer; the device sends 500
    // bytes, ending inside a descriptor, with the honest residual 524. Not the overflow
    // count: 2096 - 1024 = 1072 (or tgt's 1064).
    let reply = tagged_slots(40);
    assert_eq!(reply.len(), 2096);
    assert_short_transfer(read_short(reply.clone(), 500, 524, 1024), 500, 1024);
    // The whole reply fits the buffer, and the device stops inside a descriptor.
    assert_short_transfer(
        read_short(reply.clone(), 1000, 4096 - 1000, 4096),
        1000,
        2096,
    );
}

#[test]
fn complete_tgt_and_overflowing_replies_still_read() {
    let reply = tagged_slots(40);
    // Complete.
    assert_eq!(
        read_short(reply.clone(), 2096, 4096 - 2096, 4096).unwrap(),
        40
    );
    // tgt: 8 bytes short of what it announces; the last descriptor keeps its barcode.
    assert_eq!(
        read_short(reply.clone(), 2088, 4096 - 2088, 4096).unwrap(),
        40
    );
    // Cut by the allocation with a zero residual (a well-behaved device): 39 whole descriptors.
    assert_eq!(read_short(reply.clone(), 2048, 0, 2048).unwrap(), 39);
    // The whole report sent regardless of the allocation: the initiator fills the buffer and
    // reports the overflow count as the residual, for a complete report and for tgt's (8
    // short).
    assert_eq!(
        read_short(reply.clone(), 2048, 2096 - 2048, 2048).unwrap(),
        39
    );
    assert_eq!(read_short(reply, 2048, 2088 - 2048, 2048).unwrap(), 39);
}
