//! One virtual tape: its AWS attributes, its state (aws-sgw.md §1.2, §1.3) and, when a library
//! file is shared, where that file holds it.

use std::time::Instant;

use serde::Serialize;

/// A tape's status, as the API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TapeStatus {
    Creating,
    Available,
    InTransitToVts,
    Archiving,
    Archived,
    Retrieving,
    Retrieved,
    Recovered,
    Irrecoverable,
    /// Gone for good; kept so that its barcode is never used again.
    Deleted,
}

impl TapeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TapeStatus::Creating => "CREATING",
            TapeStatus::Available => "AVAILABLE",
            TapeStatus::InTransitToVts => "IN TRANSIT TO VTS",
            TapeStatus::Archiving => "ARCHIVING",
            TapeStatus::Archived => "ARCHIVED",
            TapeStatus::Retrieving => "RETRIEVING",
            TapeStatus::Retrieved => "RETRIEVED",
            TapeStatus::Recovered => "RECOVERED",
            TapeStatus::Irrecoverable => "IRRECOVERABLE",
            TapeStatus::Deleted => "DELETED",
        }
    }

    /// Listed by DescribeTapes: the tape is in the gateway's VTL (§1.2; IN TRANSIT TO VTS and
    /// ARCHIVING until archival completes).
    pub fn in_vtl(self) -> bool {
        matches!(
            self,
            TapeStatus::Creating
                | TapeStatus::Available
                | TapeStatus::InTransitToVts
                | TapeStatus::Archiving
                | TapeStatus::Retrieved
                | TapeStatus::Recovered
                | TapeStatus::Irrecoverable
        )
    }

    /// Listed by DescribeTapeArchives: the tape is in the VTS (a retrieved one in both).
    pub fn in_vts(self) -> bool {
        matches!(
            self,
            TapeStatus::Archived | TapeStatus::Retrieving | TapeStatus::Retrieved
        )
    }
}

/// Where in a library file a tape sits (mtx numbering: storage slots, then I/E slots).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "Kind", content = "Number")]
pub enum Place {
    /// A storage slot (mtx slot number, 1-based).
    Slot(u16),
    /// An import/export slot (mtx slot number, 1-based, after the storage slots).
    ImportExport(u16),
    /// A drive (0-based, mtx's Data Transfer Element number).
    Drive(u16),
}

/// A place and the source slot the library reports for the cartridge there (SVALID): together
/// they tell a cartridge left where the gateway put it from one moved there by the robot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Spot {
    pub place: Place,
    pub source: Option<u16>,
}

/// What the emulator knows and owes about a tape's place in a shared library file.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LibraryTrack {
    /// Where the file held it at the last look.
    pub seen: Option<Spot>,
    /// The gateway put it into this I/E slot (new, retrieved, or archival cancelled) and the
    /// backup application has not taken it since: sitting there is not an export.
    pub waiting: Option<Spot>,
    /// It must be taken out of the file (archival began, or it was deleted).
    pub leave: bool,
    /// It must be put into a free I/E slot (a tape seeded in the VTL that the file lacks).
    pub arrive: bool,
    /// It is due in an I/E slot and none is free (reported once per wait).
    pub blocked: bool,
}

/// One tape.
#[derive(Debug, Clone)]
pub(crate) struct Tape {
    pub barcode: String,
    pub arn: String,
    pub size: u64,
    pub used: u64,
    pub pool_id: Option<String>,
    pub worm: bool,
    /// TapeCreatedDate, epoch seconds.
    pub created: f64,
    pub status: TapeStatus,
    /// When the current status began (time-driven transitions count from here).
    pub since: Instant,
    /// CompletionTime: when archival finished, epoch seconds.
    pub completion: Option<f64>,
    /// Creation order: tapes arrive in I/E slots in this order.
    pub seq: u64,
    pub library: LibraryTrack,
}

impl Tape {
    /// Enters `status` at `at`.
    pub fn enter(&mut self, status: TapeStatus, at: Instant) {
        tracing::info!(
            barcode = %self.barcode,
            from = self.status.as_str(),
            to = status.as_str(),
            "tape status"
        );
        self.status = status;
        self.since = at;
    }

    /// The tape as a caller of the emulator sees it.
    pub fn view(&self) -> TapeView {
        TapeView {
            barcode: self.barcode.clone(),
            arn: self.arn.clone(),
            status: self.status.as_str().to_owned(),
            size_bytes: self.size,
            place: self.library.seen.map(|s| s.place),
            waiting_for_import: self.library.waiting.is_some(),
        }
    }
}

/// A tape as the `State` control operation (and [`crate::Running::tapes`]) reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TapeView {
    /// The barcode.
    #[serde(rename = "TapeBarcode")]
    pub barcode: String,
    /// The tape ARN.
    #[serde(rename = "TapeARN")]
    pub arn: String,
    /// The status as the API spells it (`IN TRANSIT TO VTS`, …; `DELETED` too).
    #[serde(rename = "TapeStatus")]
    pub status: String,
    /// TapeSizeInBytes.
    #[serde(rename = "TapeSizeInBytes")]
    pub size_bytes: u64,
    /// Where the shared library file held it at the last look; `None` without a library,
    /// or when the file does not hold it.
    pub place: Option<Place>,
    /// It sits in the I/E slot the gateway put it in, waiting for the backup application to
    /// import it.
    pub waiting_for_import: bool,
}
