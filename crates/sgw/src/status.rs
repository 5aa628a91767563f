//! Tape status as the Storage Gateway API spells it.
//!
//! The API model has no enum for `TapeStatus` (it is a plain string, and values contain spaces:
//! `"IN TRANSIT TO VTS"`), so a value this crate does not know is kept as data in
//! [`TapeStatus::Unknown`] instead of failing the whole listing.

use std::fmt;

/// Status of a virtual tape, in the library (VTL) or in the archive (VTS).
///
/// `From<&str>` never fails and [`as_str`](TapeStatus::as_str) gives back the exact API text, so
/// a status read from AWS can be logged or stored and parsed again without loss.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TapeStatus {
    /// `CREATING`: being created, cannot be loaded yet.
    Creating,
    /// `AVAILABLE`: in the library, readable and writable.
    Available,
    /// `IN TRANSIT TO VTS`: ejected to an I/E slot, uploading; the only status in which
    /// CancelArchival works.
    InTransitToVts,
    /// `ARCHIVING`: upload done, moving to the archive; cannot be cancelled.
    Archiving,
    /// `ARCHIVED`: in the archive (VTS), gone from the library.
    Archived,
    /// `DELETING`: being deleted.
    Deleting,
    /// `DELETED`: deleted; its barcode can never be used again.
    Deleted,
    /// `RETRIEVING`: coming back from the archive to a gateway.
    Retrieving,
    /// `RETRIEVED`: back in a gateway's library, write-protected.
    Retrieved,
    /// `RECOVERED`: recovered from a recovery point, read-only.
    Recovered,
    /// `IRRECOVERABLE`: cannot be read or written (gateway-side failure).
    Irrecoverable,
    /// Any other text, kept verbatim.
    Unknown(String),
}

/// Every known status with its API text: the one table both directions use.
static KNOWN: [(TapeStatus, &str); 11] = [
    (TapeStatus::Creating, "CREATING"),
    (TapeStatus::Available, "AVAILABLE"),
    (TapeStatus::InTransitToVts, "IN TRANSIT TO VTS"),
    (TapeStatus::Archiving, "ARCHIVING"),
    (TapeStatus::Archived, "ARCHIVED"),
    (TapeStatus::Deleting, "DELETING"),
    (TapeStatus::Deleted, "DELETED"),
    (TapeStatus::Retrieving, "RETRIEVING"),
    (TapeStatus::Retrieved, "RETRIEVED"),
    (TapeStatus::Recovered, "RECOVERED"),
    (TapeStatus::Irrecoverable, "IRRECOVERABLE"),
];

impl TapeStatus {
    /// The status as the API writes it, e.g. `"IN TRANSIT TO VTS"`.
    pub fn as_str(&self) -> &str {
        match self {
            TapeStatus::Unknown(text) => text,
            known => KNOWN
                .iter()
                .find(|(status, _)| status == known)
                .map_or("", |(_, text)| text),
        }
    }

    /// The tape can be read but never written: `RETRIEVED` or `RECOVERED`.
    pub fn is_read_only(&self) -> bool {
        matches!(self, TapeStatus::Retrieved | TapeStatus::Recovered)
    }

    /// The status will not change by itself: anything but `CREATING`, `IN TRANSIT TO VTS`,
    /// `ARCHIVING`, `RETRIEVING` and `DELETING`. An unknown status counts as settled, since
    /// nothing is known to be under way.
    pub fn is_settled(&self) -> bool {
        !matches!(
            self,
            TapeStatus::Creating
                | TapeStatus::InTransitToVts
                | TapeStatus::Archiving
                | TapeStatus::Retrieving
                | TapeStatus::Deleting
        )
    }
}

impl From<&str> for TapeStatus {
    /// Exact match on the API text; anything else becomes [`TapeStatus::Unknown`].
    fn from(text: &str) -> Self {
        KNOWN.iter().find(|(_, known)| *known == text).map_or_else(
            || TapeStatus::Unknown(text.to_owned()),
            |(status, _)| status.clone(),
        )
    }
}

impl fmt::Display for TapeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::TapeStatus::{self, *};

    #[test]
    fn parses_every_api_value_and_gives_it_back() {
        let cases: &[(&str, TapeStatus, bool, bool)] = &[
            // text, status, read-only, settled
            ("CREATING", Creating, false, false),
            ("AVAILABLE", Available, false, true),
            ("IN TRANSIT TO VTS", InTransitToVts, false, false),
            ("ARCHIVING", Archiving, false, false),
            ("ARCHIVED", Archived, false, true),
            ("DELETING", Deleting, false, false),
            ("DELETED", Deleted, false, true),
            ("RETRIEVING", Retrieving, false, false),
            ("RETRIEVED", Retrieved, true, true),
            ("RECOVERED", Recovered, true, true),
            ("IRRECOVERABLE", Irrecoverable, false, true),
        ];
        for (text, status, read_only, settled) in cases {
            let parsed = TapeStatus::from(*text);
            assert_eq!(&parsed, status, "{text}");
            assert_eq!(parsed.as_str(), *text);
            assert_eq!(parsed.to_string(), *text);
            assert_eq!(parsed.is_read_only(), *read_only, "{text} read-only");
            assert_eq!(parsed.is_settled(), *settled, "{text} settled");
        }
    }

    #[test]
    fn unknown_text_is_kept_verbatim() {
        for text in [
            "",
            "in transit to vts",
            "IN  TRANSIT TO VTS",
            "AVAILABLE ",
            "PENDING RECOVERY",
        ] {
            let parsed = TapeStatus::from(text);
            assert_eq!(parsed, Unknown(text.to_owned()));
            assert_eq!(parsed.as_str(), text);
            assert_eq!(TapeStatus::from(parsed.as_str()), parsed);
            assert!(!parsed.is_read_only());
            assert!(parsed.is_settled());
        }
    }
}
