//! What an emulator is started with: the command line of `sgw-emulator`, as a value.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::tape::TapeStatus;

/// The gateway emulated unless told otherwise (the ARN of AWS's own examples).
pub const DEFAULT_GATEWAY_ARN: &str =
    "arn:aws:storagegateway:us-east-1:111122223333:gateway/sgw-12A3456B";

/// How an emulator starts.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where to listen. Only loopback addresses are accepted (contract C7); port 0 picks one.
    pub listen: SocketAddr,
    /// The one gateway this emulator is.
    pub gateway_arn: String,
    /// The region in tape ARNs; `None`: the gateway ARN's.
    pub region: Option<String>,
    /// A simulated library file (`sim:PATH`, contract C3) whose state the emulator shares.
    pub library: Option<PathBuf>,
    /// Every barcode in the library file at start becomes an AVAILABLE tape.
    pub seed_from_library: bool,
    /// Tapes that exist at start.
    pub tapes: Vec<SeedTape>,
    /// Barcodes CreateTapes hands out instead of generated ones: those starting with the
    /// request's prefix first, each in this order; a barcode in use (or ever used) is skipped.
    /// Generated barcodes once none is left. Lets a test make the "new" tapes cartridges that
    /// already sit in a library the emulator does not share (tgt in the rig).
    pub new_barcodes: Vec<String>,
    /// How long the time-driven states last.
    pub delays: Delays,
    /// How often the library file is looked at (and time-driven states advanced).
    pub poll: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            gateway_arn: DEFAULT_GATEWAY_ARN.to_owned(),
            region: None,
            library: None,
            seed_from_library: false,
            tapes: Vec::new(),
            new_barcodes: Vec::new(),
            delays: Delays::default(),
            poll: Duration::from_millis(50),
        }
    }
}

/// How long each time-driven state lasts before the next one (real clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delays {
    /// CREATING → AVAILABLE.
    pub creating: Duration,
    /// IN TRANSIT TO VTS → ARCHIVING (the upload of the tape's data).
    pub transit: Duration,
    /// ARCHIVING → ARCHIVED.
    pub archiving: Duration,
    /// RETRIEVING → RETRIEVED (hours on AWS).
    pub retrieving: Duration,
}

impl Default for Delays {
    /// Short enough for a demo to watch, long enough for every state to be seen by a poller.
    fn default() -> Delays {
        Delays {
            creating: Duration::from_millis(500),
            transit: Duration::from_millis(2000),
            archiving: Duration::from_millis(2000),
            retrieving: Duration::from_millis(3000),
        }
    }
}

impl Delays {
    /// Every delay zero: each time-driven state ends at the next look.
    pub const ZERO: Delays = Delays {
        creating: Duration::ZERO,
        transit: Duration::ZERO,
        archiving: Duration::ZERO,
        retrieving: Duration::ZERO,
    };

    /// Every delay `d`.
    pub fn all(d: Duration) -> Delays {
        Delays {
            creating: d,
            transit: d,
            archiving: d,
            retrieving: d,
        }
    }
}

/// A tape that exists when the emulator starts: `BARCODE[=STATUS]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedTape {
    /// 5–16 of `A-Z0-9`, as AWS requires.
    pub barcode: String,
    /// AVAILABLE (default), ARCHIVED, RETRIEVED, RECOVERED or IRRECOVERABLE.
    pub status: SeedStatus,
}

/// The states a tape may start in: the settled ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedStatus {
    /// In the VTL, writable.
    Available,
    /// In the VTS (archive) only.
    Archived,
    /// Retrieved to this gateway: in the VTL, read-only, and listed in the VTS.
    Retrieved,
    /// Recovered from a recovery point: in the VTL, read-only.
    Recovered,
    /// In the VTL, unusable.
    Irrecoverable,
}

impl SeedStatus {
    pub(crate) fn status(self) -> TapeStatus {
        match self {
            SeedStatus::Available => TapeStatus::Available,
            SeedStatus::Archived => TapeStatus::Archived,
            SeedStatus::Retrieved => TapeStatus::Retrieved,
            SeedStatus::Recovered => TapeStatus::Recovered,
            SeedStatus::Irrecoverable => TapeStatus::Irrecoverable,
        }
    }
}

/// Why a `--tape` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SeedError {
    /// The barcode breaks AWS's rule.
    #[error("tape barcode {0:?} is not 5 to 16 characters of A-Z and 0-9, as AWS requires")]
    Barcode(String),
    /// The status is not one a tape can start in.
    #[error(
        "tape status {0:?} is not one a tape can start in: use AVAILABLE, ARCHIVED, RETRIEVED, RECOVERED or IRRECOVERABLE"
    )]
    Status(String),
}

impl FromStr for SeedTape {
    type Err = SeedError;

    fn from_str(s: &str) -> Result<SeedTape, SeedError> {
        let (barcode, status) = match s.split_once('=') {
            Some((b, st)) => (b, Some(st)),
            None => (s, None),
        };
        if !is_barcode(barcode) {
            return Err(SeedError::Barcode(barcode.to_owned()));
        }
        let status = match status.map(|t| t.trim().to_ascii_uppercase()).as_deref() {
            None | Some("AVAILABLE") => SeedStatus::Available,
            Some("ARCHIVED") => SeedStatus::Archived,
            Some("RETRIEVED") => SeedStatus::Retrieved,
            Some("RECOVERED") => SeedStatus::Recovered,
            Some("IRRECOVERABLE") => SeedStatus::Irrecoverable,
            Some(_) => return Err(SeedError::Status(status.unwrap_or_default().to_owned())),
        };
        Ok(SeedTape {
            barcode: barcode.to_owned(),
            status,
        })
    }
}

/// A barcode AWS accepts (5–16 of `A-Z0-9`), as `--new-barcodes` takes them.
pub fn parse_barcode(s: &str) -> Result<String, SeedError> {
    if is_barcode(s) {
        Ok(s.to_owned())
    } else {
        Err(SeedError::Barcode(s.to_owned()))
    }
}

/// AWS's barcode rule (model `TapeBarcode`): 5–16 characters of `^[A-Z0-9]*$`.
pub(crate) fn is_barcode(s: &str) -> bool {
    (5..=16).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_tapes_parse_barcode_and_status() {
        type Want = Result<(&'static str, SeedStatus), SeedError>;
        let cases: &[(&str, Want)] = &[
            ("AB1234", Ok(("AB1234", SeedStatus::Available))),
            ("AB1234=ARCHIVED", Ok(("AB1234", SeedStatus::Archived))),
            ("AB1234=retrieved", Ok(("AB1234", SeedStatus::Retrieved))),
            ("AB1234=AVAILABLE", Ok(("AB1234", SeedStatus::Available))),
            ("AB12", Err(SeedError::Barcode("AB12".into()))),
            ("ab1234", Err(SeedError::Barcode("ab1234".into()))),
            (
                "AB1234567890123456",
                Err(SeedError::Barcode("AB1234567890123456".into())),
            ),
            ("AB1234=CREATING", Err(SeedError::Status("CREATING".into()))),
        ];
        for (text, want) in cases {
            let got = text.parse::<SeedTape>();
            let want = want.clone().map(|(barcode, status)| SeedTape {
                barcode: barcode.into(),
                status,
            });
            assert_eq!(got, want, "{text}");
        }
    }
}
