//! The protocol `changer` and `changerd` speak on the daemon's Unix socket (contract C5).
//!
//! One request per line, one answer per line: newline-delimited JSON, UTF-8. Every request
//! carries the protocol version (`"v": 1`); a daemon that does not speak it answers
//! [`ErrorKind::UnsupportedVersion`] and closes. A request line longer than
//! [`MAX_REQUEST_LINE`] bytes, one that is not JSON, or one that names no known `op` gets
//! [`ErrorKind::BadRequest`] and the connection is closed. A client may send several requests
//! on one connection; answers come back in order.
//!
//! The Bareos commands travel as typed values ([`BareosCommand`]) and come back as the bytes
//! and exit status the Changer Command prints ([`AnswerBody::Bareos`]): the daemon runs the
//! same code as direct mode, so Bareos sees identical output either way.
//!
//! This crate holds types and framing only: no sockets, no policy. docs/daemon.md shows every
//! request and answer.
//!
//! ```
//! use changer_proto::{BareosCommand, LibraryRef, Request, RequestBody};
//! let line = changer_proto::encode(&Request::new(RequestBody::Bareos {
//!     library: LibraryRef { device: "/dev/sg3".into(), serial: Some("0123456789".into()) },
//!     command: BareosCommand::Loaded { drive: 0, archive_device: "/dev/nst0".into() },
//!     budget_ms: 298_000,
//! }));
//! assert!(line.ends_with(b"\n"));
//! let back = changer_proto::decode_request(&line).unwrap();
//! assert!(matches!(back.body, RequestBody::Bareos { .. }));
//! ```

use serde::{Deserialize, Serialize};

/// The protocol version this crate speaks.
pub const VERSION: u32 = 1;

/// Longest request line, newline included. Requests are small (a few hundred bytes); a
/// longer line is a client bug or an attack, and is refused before it is buffered whole.
pub const MAX_REQUEST_LINE: usize = 64 * 1024;

/// Longest answer line. `listall` of a 3200-slot library is about 150 KB, its `status` about
/// 600 KB of JSON; 16 MiB leaves room for libraries ten times larger.
pub const MAX_ANSWER_LINE: usize = 16 * 1024 * 1024;

/// A request: the version and what is asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Protocol version ([`VERSION`]).
    pub v: u32,
    /// What is asked.
    #[serde(flatten)]
    pub body: RequestBody,
}

impl Request {
    /// A request of this crate's version.
    pub fn new(body: RequestBody) -> Request {
        Request { v: VERSION, body }
    }
}

/// Which library a request is for: the changer device as the client was given it, and its
/// serial number when the client could read it. The daemon matches the serial first (C5: one
/// library, however it is named), then the device path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LibraryRef {
    /// Changer device as given (`/dev/tape/by-id/…`, `/dev/sg3`, `sim:/path`).
    pub device: String,
    /// Unit serial number (VPD page 80h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
}

/// The requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum RequestBody {
    /// A Changer Command invocation (contract C1), answered with its bytes and exit status.
    Bareos {
        /// The library.
        library: LibraryRef,
        /// The command and its arguments.
        command: BareosCommand,
        /// Milliseconds left of the caller's Maximum Changer Wait: the daemon ends the
        /// request (queueing included) within it.
        budget_ms: u64,
    },
    /// `changer status`: drives, slots, serials, devices and the cache's state.
    Status {
        /// The library.
        library: LibraryRef,
    },
    /// `changer move`: any slot or drive to any other.
    Move {
        /// The library.
        library: LibraryRef,
        /// Source.
        from: Place,
        /// Destination.
        to: Place,
        /// Milliseconds the caller waits.
        budget_ms: u64,
        /// Check the move (and, into an import/export slot of a gateway library, the export
        /// policy and the gateway's health) without moving anything.
        #[serde(default, skip_serializing_if = "is_false")]
        dry_run: bool,
        /// Export even when the gateway is unhealthy (the export policy still applies).
        #[serde(default, skip_serializing_if = "is_false")]
        force: bool,
    },
    /// `changer inventory`: INITIALIZE ELEMENT STATUS, then the daemon reads the library again.
    Inventory {
        /// The library.
        library: LibraryRef,
        /// Milliseconds the caller waits (a barcode scan can take many minutes).
        budget_ms: u64,
    },
    /// The libraries the daemon owns.
    Libraries,
    /// `changer tapes`: every tape the gateway and the library know (gateway libraries).
    Tapes {
        /// The library.
        library: LibraryRef,
    },
    /// `changer retrieve`: RetrieveTapeArchive for each barcode; the daemon follows the
    /// retrieval and imports the tapes when they arrive.
    Retrieve {
        /// The library.
        library: LibraryRef,
        /// Barcodes of archived tapes.
        barcodes: Vec<String>,
    },
    /// `changer cancel-archival`: CancelArchival while the tape is IN TRANSIT TO VTS.
    CancelArchival {
        /// The library.
        library: LibraryRef,
        /// The tape's barcode.
        barcode: String,
    },
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A Changer Command and its arguments, in Bareos' numbers (slots from 1, drives from 0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum BareosCommand {
    /// Which slot the drive's cartridge came from (0: empty).
    Loaded {
        /// Drive Index.
        drive: u16,
        /// Archive Device of that drive.
        archive_device: String,
    },
    /// Slot → drive.
    Load {
        /// Slot.
        slot: u16,
        /// Drive Index.
        drive: u16,
        /// Archive Device of that drive.
        archive_device: String,
    },
    /// Drive → slot (0: the drive's home slot).
    Unload {
        /// Slot, 0 for "where it came from".
        slot: u16,
        /// Drive Index.
        drive: u16,
        /// Archive Device of that drive.
        archive_device: String,
    },
    /// `slot:barcode` for every full slot and drive.
    List,
    /// The full inventory.
    Listall,
    /// Number of slots.
    Slots,
    /// Slot → slot.
    Transfer {
        /// Source slot.
        from: u16,
        /// Destination slot.
        to: u16,
    },
}

impl BareosCommand {
    /// Whether the command moves a cartridge.
    pub fn moves(&self) -> bool {
        matches!(
            self,
            BareosCommand::Load { .. }
                | BareosCommand::Unload { .. }
                | BareosCommand::Transfer { .. }
        )
    }

    /// The command word (`loaded`, `load`, …).
    pub fn word(&self) -> &'static str {
        match self {
            BareosCommand::Loaded { .. } => "loaded",
            BareosCommand::Load { .. } => "load",
            BareosCommand::Unload { .. } => "unload",
            BareosCommand::List => "list",
            BareosCommand::Listall => "listall",
            BareosCommand::Slots => "slots",
            BareosCommand::Transfer { .. } => "transfer",
        }
    }
}

/// A slot or a drive, in Bareos' numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Place {
    /// Storage or import/export slot, from 1.
    Slot(u16),
    /// Drive index, from 0.
    Drive(u16),
}

/// An answer: the version and what came of the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// Protocol version ([`VERSION`]).
    pub v: u32,
    /// The outcome.
    #[serde(flatten)]
    pub body: AnswerBody,
}

impl Answer {
    /// An answer of this crate's version.
    pub fn new(body: AnswerBody) -> Answer {
        Answer { v: VERSION, body }
    }

    /// An error answer.
    pub fn error(kind: ErrorKind, message: impl Into<String>) -> Answer {
        Answer::new(AnswerBody::Error {
            kind,
            message: message.into(),
        })
    }
}

/// The answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum AnswerBody {
    /// What the Changer Command prints: stdout, then stderr, and its exit status (0 or 1).
    Bareos {
        /// Bytes for stdout.
        stdout: String,
        /// Bytes for stderr.
        stderr: String,
        /// Exit status.
        status: i32,
    },
    /// `changer status`.
    Status(Box<LibraryStatus>),
    /// A human move was made.
    Moved {
        /// Source, in words ("slot 5").
        from: String,
        /// Destination, in words ("drive 0").
        to: String,
    },
    /// A dry run of a move: what it would do.
    MoveChecked {
        /// Source, in words.
        from: String,
        /// Destination, in words.
        to: String,
        /// The archival the move would start (a move into an I/E slot of a gateway library).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        archival: Option<Archival>,
    },
    /// Tapes: the answer to `tapes`, `retrieve` and `cancel-archival` (the tapes concerned).
    Tapes {
        /// One entry per tape.
        tapes: Vec<TapeEntry>,
    },
    /// The library re-scanned its elements and the daemon read them again.
    Inventoried {
        /// The library's serial number.
        serial: String,
    },
    /// The libraries the daemon owns.
    Libraries {
        /// One entry per library.
        libraries: Vec<LibraryInfo>,
    },
    /// The request was not carried out.
    Error {
        /// What kind of failure.
        kind: ErrorKind,
        /// What happened and what to do.
        message: String,
    },
}

/// Why a request was not carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Not a request: not JSON, unknown `op`, missing fields, too long. The connection closes.
    BadRequest,
    /// A protocol version the daemon does not speak. The connection closes.
    UnsupportedVersion,
    /// The daemon does not own that library: the client works directly.
    NotOwned,
    /// The daemon is stopping and takes no new work.
    ShuttingDown,
    /// The request waited for the robot longer than its budget.
    Busy,
    /// The operation failed (the message says why).
    Failed,
}

/// `changer status` data (`changer status --json` prints it under `data`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LibraryStatus {
    /// Changer device as given.
    pub device: String,
    /// INQUIRY vendor.
    pub vendor: String,
    /// INQUIRY product.
    pub product: String,
    /// Unit serial number.
    pub serial: String,
    /// Medium transport address used for moves.
    pub transport_address: u16,
    /// Drives, index 0 first.
    pub drives: Vec<DriveStatus>,
    /// Storage then import/export slots, slot 1 first.
    pub slots: Vec<SlotStatus>,
    /// The daemon's cache, when the status came from `changerd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheState>,
    /// The AWS Storage Gateway behind the library, when it is one (contract C7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<GatewayHealth>,
}

/// The gateway's health as the daemon last saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayHealth {
    /// Gateway ARN.
    pub gateway_arn: String,
    /// `GatewayState` as the API gives it (`RUNNING`, `SHUTDOWN`, …); none when unreachable.
    pub state: Option<String>,
    /// The gateway answered and is connected to AWS.
    pub connected: bool,
    /// Cache dirty percentage (data not yet uploaded).
    pub cache_dirty_percent: Option<f64>,
    /// Upload buffer used, percent of allocated.
    pub upload_buffer_used_percent: Option<f64>,
    /// Milliseconds since the last check; none before the first.
    pub checked_ms_ago: Option<u64>,
    /// Why the last check failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Tapes the daemon is following (archival, retrieval, creation), by barcode and status.
    #[serde(default)]
    pub following: Vec<TapeEntry>,
}

/// One tape as the gateway and the library know it (`changer tapes --json` prints an array of
/// these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TapeEntry {
    /// Barcode (volume tag).
    pub barcode: String,
    /// `TapeStatus` as the API gives it (`AVAILABLE`, `IN TRANSIT TO VTS`, …); none when the
    /// gateway does not know the tape.
    pub status: Option<String>,
    /// `drive:N`, `slot:N` (storage slot), `ie:N` (import/export slot, in Bareos' slot
    /// numbers), `shelf` (archived), or none (not in the library, not archived).
    pub location: Option<String>,
    /// `PoolId` (`GLACIER`, `DEEP_ARCHIVE`, or a custom pool ARN).
    pub pool: Option<String>,
    /// `TapeUsedInBytes`.
    pub size_used_bytes: Option<u64>,
    /// `TapeSizeInBytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// Tape ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
}

/// An archival: a tape going into an import/export slot of a gateway library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Archival {
    /// The tape.
    pub barcode: Option<String>,
    /// Its status before the move.
    pub status: Option<String>,
    /// `TapeUsedInBytes`.
    pub size_used_bytes: Option<u64>,
    /// Its pool.
    pub pool: Option<String>,
    /// Whether the export policy and the gateway's health allow it.
    pub allowed: bool,
    /// Why (the policy rule, or what is wrong with the gateway).
    pub reason: String,
}

/// One drive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriveStatus {
    /// Drive index (Bareos Drive Index).
    pub index: u16,
    /// Element address.
    pub address: u16,
    /// Holds a cartridge.
    pub full: bool,
    /// Barcode of the cartridge.
    pub barcode: Option<String>,
    /// Slot the cartridge goes back to.
    pub home_slot: Option<u16>,
    /// `empty`, `reported` (by the library), `assigned` (unknown source: lowest free slot),
    /// `unknown`.
    pub home: String,
    /// Drive serial number from the changer (DVCID).
    pub serial: Option<String>,
    /// Tape device node with that serial.
    pub device: Option<String>,
}

/// One slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotStatus {
    /// Slot number (Bareos numbering).
    pub slot: u16,
    /// Element address.
    pub address: u16,
    /// `storage` or `import_export`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Holds a cartridge.
    pub full: bool,
    /// Barcode.
    pub barcode: Option<String>,
    /// The library reports an exception on this element (ASC/ASCQ in `exception`).
    pub exception: Option<String>,
}

/// The daemon's cache of one library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheState {
    /// `exclusive` (reads send no SCSI command) or `shared` (reads re-read first).
    pub mode: String,
    /// Milliseconds since the inventory was last read from the library; none when it must be
    /// read again before the next answer.
    pub age_ms: Option<u64>,
}

/// A library the daemon owns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LibraryInfo {
    /// Changer device as configured.
    pub device: String,
    /// Unit serial number.
    pub serial: String,
    /// The cache.
    pub cache: CacheState,
}

/// A line that is not a request of this version.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON, or not a request.
    #[error("not a changer request: {0}")]
    Malformed(#[from] serde_json::Error),
    /// A version this side does not speak.
    #[error("protocol version {got} is not spoken here (this side speaks version {VERSION})")]
    Version {
        /// The version that came.
        got: u32,
    },
}

impl DecodeError {
    /// The error kind to answer with.
    pub fn kind(&self) -> ErrorKind {
        match self {
            DecodeError::Malformed(_) => ErrorKind::BadRequest,
            DecodeError::Version { .. } => ErrorKind::UnsupportedVersion,
        }
    }
}

/// One JSON line, newline included.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these types cannot fail: no maps with non-string keys, no foreign types.
    let mut line = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    line.push(b'\n');
    line
}

/// Decodes a request line (with or without its newline). The version is checked before the
/// body, so a newer client gets [`DecodeError::Version`], not a parse error.
pub fn decode_request(line: &[u8]) -> Result<Request, DecodeError> {
    decode(line)
}

/// Decodes an answer line (with or without its newline).
pub fn decode_answer(line: &[u8]) -> Result<Answer, DecodeError> {
    decode(line)
}

fn decode<T: serde::de::DeserializeOwned + Versioned>(line: &[u8]) -> Result<T, DecodeError> {
    #[derive(Deserialize)]
    struct VersionOnly {
        v: u32,
    }
    // One pass in the common case (an answer can be 150 KB); the version alone is read only
    // to tell a newer peer from a malformed line.
    match serde_json::from_slice::<T>(line) {
        Ok(message) if message.version() == VERSION => Ok(message),
        Ok(message) => Err(DecodeError::Version {
            got: message.version(),
        }),
        Err(e) => match serde_json::from_slice::<VersionOnly>(line) {
            Ok(v) if v.v != VERSION => Err(DecodeError::Version { got: v.v }),
            _ => Err(e.into()),
        },
    }
}

/// A message that carries the protocol version.
trait Versioned {
    fn version(&self) -> u32;
}

impl Versioned for Request {
    fn version(&self) -> u32 {
        self.v
    }
}

impl Versioned for Answer {
    fn version(&self) -> u32 {
        self.v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_round_trips() {
        let lib = || LibraryRef {
            device: "sim:/tmp/x".into(),
            serial: None,
        };
        let requests = [
            RequestBody::Bareos {
                library: lib(),
                command: BareosCommand::Load {
                    slot: 5,
                    drive: 1,
                    archive_device: "/dev/nst1".into(),
                },
                budget_ms: 1000,
            },
            RequestBody::Bareos {
                library: lib(),
                command: BareosCommand::Listall,
                budget_ms: 1,
            },
            RequestBody::Status { library: lib() },
            RequestBody::Move {
                library: lib(),
                from: Place::Slot(3),
                to: Place::Drive(0),
                budget_ms: 5,
                dry_run: false,
                force: false,
            },
            RequestBody::Move {
                library: lib(),
                from: Place::Slot(3),
                to: Place::Slot(1601),
                budget_ms: 5,
                dry_run: true,
                force: true,
            },
            RequestBody::Tapes { library: lib() },
            RequestBody::Retrieve {
                library: lib(),
                barcodes: vec!["AMZN0001".into(), "AMZN0002".into()],
            },
            RequestBody::CancelArchival {
                library: lib(),
                barcode: "AMZN0003".into(),
            },
            RequestBody::Inventory {
                library: lib(),
                budget_ms: 3_600_000,
            },
            RequestBody::Libraries,
        ];
        for body in requests {
            let line = encode(&Request::new(body.clone()));
            assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
            assert_eq!(decode_request(&line).unwrap().body, body);
        }
    }

    #[test]
    fn the_wire_form_is_the_documented_one() {
        let line = encode(&Request::new(RequestBody::Bareos {
            library: LibraryRef {
                device: "/dev/sg3".into(),
                serial: Some("S1".into()),
            },
            command: BareosCommand::Unload {
                slot: 0,
                drive: 2,
                archive_device: "/dev/nst2".into(),
            },
            budget_ms: 298000,
        }));
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "{\"v\":1,\"op\":\"bareos\",\"library\":{\"device\":\"/dev/sg3\",\"serial\":\"S1\"},\
             \"command\":{\"command\":\"unload\",\"slot\":0,\"drive\":2,\"archive_device\":\"/dev/nst2\"},\
             \"budget_ms\":298000}\n"
        );
        let answer = encode(&Answer::new(AnswerBody::Bareos {
            stdout: "0\n".into(),
            stderr: String::new(),
            status: 0,
        }));
        assert_eq!(
            String::from_utf8(answer).unwrap(),
            "{\"v\":1,\"answer\":\"bareos\",\"stdout\":\"0\\n\",\"stderr\":\"\",\"status\":0}\n"
        );
    }

    proptest::proptest! {
        /// Whatever a client sends, decoding answers Ok or Err and never panics; what decodes
        /// encodes back to a line that decodes to the same request.
        #[test]
        fn any_bytes_decode_without_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            if let Ok(r) = decode_request(&bytes) {
                proptest::prop_assert_eq!(decode_request(&encode(&r)).unwrap(), r);
            }
        }

        #[test]
        fn json_shaped_lines_decode_without_panic(
            op in "(bareos|status|move|inventory|libraries|tapes|retrieve|cancel_archival|x)",
            v in 0u32..3,
            field in "[a-z_]{0,12}",
            value in proptest::num::i64::ANY,
        ) {
            let line = format!("{{\"v\":{v},\"op\":\"{op}\",\"{field}\":{value}}}\n");
            let _ = decode_request(line.as_bytes());
        }
    }

    #[test]
    fn bad_lines_are_told_apart() {
        let cases: &[(&str, &[u8], ErrorKind)] = &[
            ("not json", b"hello\n", ErrorKind::BadRequest),
            (
                "no version",
                b"{\"op\":\"libraries\"}",
                ErrorKind::BadRequest,
            ),
            (
                "unknown op",
                b"{\"v\":1,\"op\":\"format\"}",
                ErrorKind::BadRequest,
            ),
            (
                "missing field",
                b"{\"v\":1,\"op\":\"status\"}",
                ErrorKind::BadRequest,
            ),
            (
                "newer version",
                b"{\"v\":2,\"op\":\"teleport\"}",
                ErrorKind::UnsupportedVersion,
            ),
            ("binary", &[0xff, 0xfe, 0x00], ErrorKind::BadRequest),
        ];
        for (name, line, kind) in cases {
            let err = decode_request(line).expect_err(name);
            assert_eq!(err.kind(), *kind, "{name}: {err}");
        }
    }
}
