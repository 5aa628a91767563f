//! Faults a simulated library can be told to produce, so the driver's error paths run against
//! something that behaves like a misbehaving library (docs/simulator.md, "Faults").
//!
//! A fault lives in the file as `# sim: fault NAME [count=N] [drive=D]` — set by hand or by
//! [`super::SimLibrary::inject`] — so every process using the library sees it. Counted faults
//! are decremented in the file as they are consumed and disappear at zero; sticky ones stay
//! until removed by hand (or, for `prevent-removal`, until the drive is unloaded).

use std::fmt;
use std::str::FromStr;

use super::directives::{key_value, tokenize};

/// One fault to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The next `count` changer commands answer UNIT ATTENTION 06h/29h/00h (power on, reset).
    UnitAttention {
        /// Commands affected.
        count: u32,
    },
    /// The next `count` changer commands answer NOT READY 02h/04h/01h (becoming ready).
    BecomingReady {
        /// Commands affected.
        count: u32,
    },
    /// After the next load of drive `drive`, its next `count` TEST UNIT READYs answer NOT READY
    /// 02h/04h/01h, as a drive threading a tape does.
    DriveBecomingReady {
        /// Drive index.
        drive: u16,
        /// TEST UNIT READYs affected.
        count: u32,
    },
    /// The next `count` MOVE MEDIUMs fail with 05h/3Bh/0Eh (source empty), whatever the state.
    SourceEmpty {
        /// Moves affected.
        count: u32,
    },
    /// The next `count` MOVE MEDIUMs fail with 05h/3Bh/0Dh (destination full).
    DestinationFull {
        /// Moves affected.
        count: u32,
    },
    /// MOVE MEDIUM from drive `drive` fails with 05h/53h/02h (medium removal prevented) until
    /// the drive is unloaded with LOAD UNLOAD. Sticky.
    PreventRemoval {
        /// Drive index.
        drive: u16,
    },
    /// The next `count` MOVE MEDIUMs are carried out, then reported as timed out
    /// (host status DID_TIME_OUT, no sense): the caller cannot know the move happened.
    MoveTimeout {
        /// Moves affected.
        count: u32,
    },
    /// The next `count` MOVE MEDIUMs are reported as timed out without being carried out.
    MoveTimeoutBefore {
        /// Moves affected.
        count: u32,
    },
    /// The next `count` MOVE MEDIUMs are carried out, then answered TASK ABORTED (status 40h,
    /// as when another initiator's task management ends the command).
    MoveAborted {
        /// Moves affected.
        count: u32,
    },
    /// The next `count` MOVE MEDIUMs are answered TASK ABORTED without being carried out.
    MoveAbortedBefore {
        /// Moves affected.
        count: u32,
    },
    /// The next `count` changer commands fail with host status DID_TRANSPORT_DISRUPTED without
    /// reaching the library (an iSCSI link recovering).
    TransportError {
        /// Commands affected.
        count: u32,
    },
    /// The next `count` READ ELEMENT STATUS replies are 8 bytes shorter than their header
    /// announces, as tgt 1.0.85 sends them.
    ShortResponse {
        /// Replies affected.
        count: u32,
    },
    /// The next `count` READ ELEMENT STATUS replies stop in the middle of their last element
    /// descriptor (more than 8 bytes of it missing) with the residual of what was sent: a
    /// device that really sent less, not an overflow.
    TruncatedResponse {
        /// Replies affected.
        count: u32,
    },
    /// The next `count` READ ELEMENT STATUS replies are deterministic garbage of plausible
    /// length.
    GarbledResponse {
        /// Replies affected.
        count: u32,
    },
    /// READ ELEMENT STATUS with DVCID is rejected with 05h/24h/00h. Sticky.
    NoDvcid,
    /// READ ELEMENT STATUS with VOLTAG is rejected with 05h/24h/00h (no barcode reader, and a
    /// library that says so). Sticky.
    NoVoltag,
}

impl Fault {
    /// Every fault name, as written in `# sim: fault NAME`.
    pub const NAMES: [&'static str; 16] = [
        "unit-attention",
        "becoming-ready",
        "drive-becoming-ready",
        "source-empty",
        "destination-full",
        "prevent-removal",
        "move-timeout",
        "move-timeout-before",
        "transport-error",
        "short-response",
        "garbled-response",
        "no-dvcid",
        "no-voltag",
        "move-aborted",
        "move-aborted-before",
        "truncated-response",
    ];

    /// The name used in `# sim: fault` lines.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::UnitAttention { .. } => "unit-attention",
            Fault::BecomingReady { .. } => "becoming-ready",
            Fault::DriveBecomingReady { .. } => "drive-becoming-ready",
            Fault::SourceEmpty { .. } => "source-empty",
            Fault::DestinationFull { .. } => "destination-full",
            Fault::PreventRemoval { .. } => "prevent-removal",
            Fault::MoveTimeout { .. } => "move-timeout",
            Fault::MoveTimeoutBefore { .. } => "move-timeout-before",
            Fault::TransportError { .. } => "transport-error",
            Fault::ShortResponse { .. } => "short-response",
            Fault::GarbledResponse { .. } => "garbled-response",
            Fault::NoDvcid => "no-dvcid",
            Fault::NoVoltag => "no-voltag",
            Fault::MoveAborted { .. } => "move-aborted",
            Fault::MoveAbortedBefore { .. } => "move-aborted-before",
            Fault::TruncatedResponse { .. } => "truncated-response",
        }
    }

    /// How many more times the fault fires; `None` for sticky faults.
    pub fn count(&self) -> Option<u32> {
        match *self {
            Fault::UnitAttention { count }
            | Fault::BecomingReady { count }
            | Fault::DriveBecomingReady { count, .. }
            | Fault::SourceEmpty { count }
            | Fault::DestinationFull { count }
            | Fault::MoveTimeout { count }
            | Fault::MoveTimeoutBefore { count }
            | Fault::TransportError { count }
            | Fault::ShortResponse { count }
            | Fault::GarbledResponse { count }
            | Fault::MoveAborted { count }
            | Fault::MoveAbortedBefore { count }
            | Fault::TruncatedResponse { count } => Some(count),
            Fault::PreventRemoval { .. } | Fault::NoDvcid | Fault::NoVoltag => None,
        }
    }

    /// The drive a drive fault concerns.
    pub fn drive(&self) -> Option<u16> {
        match *self {
            Fault::DriveBecomingReady { drive, .. } | Fault::PreventRemoval { drive } => {
                Some(drive)
            }
            _ => None,
        }
    }

    /// The same fault with a different count (sticky faults are returned unchanged).
    pub(crate) fn with_count(self, n: u32) -> Fault {
        match self {
            Fault::UnitAttention { .. } => Fault::UnitAttention { count: n },
            Fault::BecomingReady { .. } => Fault::BecomingReady { count: n },
            Fault::DriveBecomingReady { drive, .. } => {
                Fault::DriveBecomingReady { drive, count: n }
            }
            Fault::SourceEmpty { .. } => Fault::SourceEmpty { count: n },
            Fault::DestinationFull { .. } => Fault::DestinationFull { count: n },
            Fault::MoveTimeout { .. } => Fault::MoveTimeout { count: n },
            Fault::MoveTimeoutBefore { .. } => Fault::MoveTimeoutBefore { count: n },
            Fault::TransportError { .. } => Fault::TransportError { count: n },
            Fault::ShortResponse { .. } => Fault::ShortResponse { count: n },
            Fault::GarbledResponse { .. } => Fault::GarbledResponse { count: n },
            Fault::MoveAborted { .. } => Fault::MoveAborted { count: n },
            Fault::MoveAbortedBefore { .. } => Fault::MoveAbortedBefore { count: n },
            Fault::TruncatedResponse { .. } => Fault::TruncatedResponse { count: n },
            sticky @ (Fault::PreventRemoval { .. } | Fault::NoDvcid | Fault::NoVoltag) => sticky,
        }
    }

    /// Parses the words after `fault`: a name, then `count=N` and/or `drive=D`.
    pub(crate) fn from_words(name: &str, params: &[&str]) -> Result<Fault, String> {
        let mut count: Option<u32> = None;
        let mut drive: Option<u16> = None;
        for p in params {
            match key_value(p) {
                Some(("count", n)) => {
                    let n: u32 = n
                        .parse()
                        .map_err(|_| format!("`{n}` is not a valid count"))?;
                    if n == 0 {
                        return Err("count must be at least 1".into());
                    }
                    count = Some(n);
                }
                Some(("drive", d)) => {
                    drive = Some(
                        d.parse()
                            .map_err(|_| format!("`{d}` is not a valid drive index"))?,
                    );
                }
                _ => return Err(format!("unexpected `{p}` (expected count=N or drive=D)")),
            }
        }
        let n = count.unwrap_or(1);
        let needs_drive = || drive.ok_or_else(|| format!("fault `{name}` needs drive=D"));
        let fault = match name {
            "unit-attention" => Fault::UnitAttention { count: n },
            "becoming-ready" => Fault::BecomingReady { count: n },
            "drive-becoming-ready" => Fault::DriveBecomingReady {
                drive: needs_drive()?,
                count: n,
            },
            "source-empty" => Fault::SourceEmpty { count: n },
            "destination-full" => Fault::DestinationFull { count: n },
            "prevent-removal" => Fault::PreventRemoval {
                drive: needs_drive()?,
            },
            "move-timeout" => Fault::MoveTimeout { count: n },
            "move-timeout-before" => Fault::MoveTimeoutBefore { count: n },
            "transport-error" => Fault::TransportError { count: n },
            "short-response" => Fault::ShortResponse { count: n },
            "garbled-response" => Fault::GarbledResponse { count: n },
            "no-dvcid" => Fault::NoDvcid,
            "no-voltag" => Fault::NoVoltag,
            "move-aborted" => Fault::MoveAborted { count: n },
            "move-aborted-before" => Fault::MoveAbortedBefore { count: n },
            "truncated-response" => Fault::TruncatedResponse { count: n },
            other => {
                return Err(format!(
                    "unknown fault `{other}` (expected one of {})",
                    Fault::NAMES.join(", ")
                ));
            }
        };
        if fault.count().is_none() && count.is_some() {
            return Err(format!("fault `{name}` is sticky and takes no count"));
        }
        if fault.drive().is_none() && drive.is_some() {
            return Err(format!("fault `{name}` takes no drive"));
        }
        Ok(fault)
    }
}

/// The canonical text after `# sim: fault ` (count omitted when it is 1).
impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        if let Some(d) = self.drive() {
            write!(f, " drive={d}")?;
        }
        match self.count() {
            Some(n) if n != 1 => write!(f, " count={n}"),
            _ => Ok(()),
        }
    }
}

/// Parses the canonical text (`unit-attention count=2`, `prevent-removal drive=0`).
impl FromStr for Fault {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Fault, crate::Error> {
        let words = tokenize(s).map_err(crate::Error::Sim)?;
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let (name, params) = words
            .split_first()
            .ok_or_else(|| crate::Error::Sim("empty fault: expected a fault name".into()))?;
        Fault::from_words(name, params).map_err(crate::Error::Sim)
    }
}

/// A fault as it sits in the file: its line as written, and its count now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FaultLine {
    /// The line as read (rendered back unchanged until the count changes).
    pub raw: String,
    pub fault: Fault,
    pub changed: bool,
}

impl FaultLine {
    pub fn new(fault: Fault) -> FaultLine {
        FaultLine {
            raw: format!("# sim: fault {fault}"),
            fault,
            changed: false,
        }
    }

    /// The line to write back.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        if self.changed {
            format!("# sim: fault {}", self.fault).into()
        } else {
            self.raw.as_str().into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_round_trips_through_its_text() {
        let all = [
            Fault::UnitAttention { count: 1 },
            Fault::BecomingReady { count: 4 },
            Fault::DriveBecomingReady { drive: 2, count: 3 },
            Fault::SourceEmpty { count: 1 },
            Fault::DestinationFull { count: 2 },
            Fault::PreventRemoval { drive: 0 },
            Fault::MoveTimeout { count: 1 },
            Fault::MoveTimeoutBefore { count: 1 },
            Fault::TransportError { count: 5 },
            Fault::ShortResponse { count: 1 },
            Fault::GarbledResponse { count: 1 },
            Fault::NoDvcid,
            Fault::NoVoltag,
            Fault::MoveAborted { count: 1 },
            Fault::MoveAbortedBefore { count: 2 },
            Fault::TruncatedResponse { count: 3 },
        ];
        assert_eq!(all.len(), Fault::NAMES.len());
        for f in all {
            let text = f.to_string();
            assert_eq!(text.parse::<Fault>().unwrap(), f, "{text}");
            assert!(Fault::NAMES.contains(&f.name()));
        }
    }

    #[test]
    fn fault_parameters_are_checked() {
        let cases: &[(&str, &str)] = &[
            ("prevent-removal", "needs drive=D"),
            ("no-dvcid count=2", "sticky"),
            ("unit-attention drive=1", "takes no drive"),
            ("unit-attention count=0", "at least 1"),
            ("unit-attention count=x", "not a valid count"),
            ("unit-attention often", "unexpected `often`"),
            ("", "empty fault"),
        ];
        for (text, want) in cases {
            let err = text.parse::<Fault>().unwrap_err().to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
    }
}
