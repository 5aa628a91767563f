//! The move journal: one file per library (`<state_dir>/<serial>.journal`), one JSON object
//! per line, fsynced before the MOVE MEDIUM it announces is sent (docs/daemon.md).
//!
//! ```text
//! {"seq":7,"at_ms":1764780000123,"event":"intent","source":{"type":"storage","address":1004},"destination":{"type":"drive","address":500},"barcode":"A00005L6","words":"slot 5 -> drive 0"}
//! {"seq":7,"at_ms":1764780004567,"event":"done","result":"ok"}
//! {"seq":8,"at_ms":…,"event":"done","result":"failed","error":"Source Element Address 1005 is Empty"}
//! {"seq":9,"at_ms":…,"event":"recovered","result":"moved","found":"source empty, destination holds A00009L6"}
//! ```
//!
//! An `intent` without `done` is a move whose outcome the daemon never learnt (it was killed,
//! the host lost power). At start the daemon reads the two elements, decides what happened
//! and appends `recovered`. A torn last line (killed while writing it) is ignored: the move it
//! announced was never sent, because a move is sent only after its line is on disk.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use changer::ops::{MoveIntent, MoveJournal};
use scsi_changer::{ElementAddress, ElementType};
use serde::{Deserialize, Serialize};

/// A journal grown past this is rewritten at start with its last [`KEEP_AFTER_COMPACTION`]
/// lines (all settled by then).
const COMPACT_ABOVE_BYTES: u64 = 4 * 1024 * 1024;
/// Lines kept when the journal is compacted.
const KEEP_AFTER_COMPACTION: usize = 2000;

/// An element as the journal names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Element {
    /// `storage`, `import_export`, `drive`, `transport`.
    #[serde(rename = "type")]
    pub kind: Kind,
    /// Element address.
    pub address: u16,
}

/// Element types, in the journal's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Storage element.
    Storage,
    /// Import/export element.
    ImportExport,
    /// Data transfer element.
    Drive,
    /// Medium transport element.
    Transport,
}

impl From<(ElementType, ElementAddress)> for Element {
    fn from((t, a): (ElementType, ElementAddress)) -> Element {
        Element {
            kind: match t {
                ElementType::Storage => Kind::Storage,
                ElementType::ImportExport => Kind::ImportExport,
                ElementType::DataTransfer => Kind::Drive,
                ElementType::MediumTransport => Kind::Transport,
            },
            address: a.0,
        }
    }
}

impl Element {
    /// Type and address for the driver.
    pub fn scsi(self) -> (ElementType, ElementAddress) {
        (
            match self.kind {
                Kind::Storage => ElementType::Storage,
                Kind::ImportExport => ElementType::ImportExport,
                Kind::Drive => ElementType::DataTransfer,
                Kind::Transport => ElementType::MediumTransport,
            },
            ElementAddress(self.address),
        )
    }
}

/// One line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The move's number (per library, increasing).
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// What a line records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A move about to be sent.
    Intent {
        /// Source element.
        source: Element,
        /// Destination element.
        destination: Element,
        /// The cartridge's barcode.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        barcode: Option<String>,
        /// The move in the admin's words.
        words: String,
    },
    /// The library answered.
    Done {
        /// `ok` or `failed`.
        result: DoneResult,
        /// The error, when it failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// An unfinished move settled at start from what the library reports.
    Recovered {
        /// What the elements show.
        result: Recovery,
        /// The two elements as read.
        found: String,
    },
}

/// How a move ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DoneResult {
    /// The library acknowledged it.
    Ok,
    /// The library refused it or its outcome could not be settled.
    Failed,
}

/// What an unfinished move turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recovery {
    /// The cartridge is at the destination.
    Moved,
    /// The cartridge is still at the source.
    NotMoved,
    /// Neither: someone else moved things, or the cartridge is elsewhere.
    Unknown,
}

/// A move found unfinished in the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfinished {
    /// Its number.
    pub seq: u64,
    /// Source element.
    pub source: Element,
    /// Destination element.
    pub destination: Element,
    /// The cartridge's barcode.
    pub barcode: Option<String>,
    /// In words.
    pub words: String,
}

/// The journal of one library.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    next_seq: u64,
}

/// The journal file of a library.
pub fn path_for(state_dir: &Path, serial: &str) -> PathBuf {
    state_dir.join(format!("{}.journal", changer::lock::file_stem(serial)))
}

/// Reads every whole, parsable line of a journal; the count of lines that were not.
pub fn read_entries(path: &Path) -> std::io::Result<(Vec<Entry>, usize)> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e),
    };
    let mut entries = Vec::new();
    let mut bad = 0;
    for line in BufReader::new(file).split(b'\n') {
        let line = line?;
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice::<Entry>(&line) {
            Ok(e) => entries.push(e),
            Err(_) => bad += 1,
        }
    }
    Ok((entries, bad))
}

/// The moves announced and never settled, oldest first.
pub fn unfinished(entries: &[Entry]) -> Vec<Unfinished> {
    let mut open: Vec<Unfinished> = Vec::new();
    for e in entries {
        match &e.event {
            Event::Intent {
                source,
                destination,
                barcode,
                words,
            } => open.push(Unfinished {
                seq: e.seq,
                source: *source,
                destination: *destination,
                barcode: barcode.clone(),
                words: words.clone(),
            }),
            Event::Done { .. } | Event::Recovered { .. } => open.retain(|u| u.seq != e.seq),
        }
    }
    open
}

impl Journal {
    /// Opens (creating) the journal of a library, compacting it when it has grown large and
    /// nothing in it is unfinished.
    pub fn open(state_dir: &Path, serial: &str) -> std::io::Result<(Journal, Vec<Unfinished>)> {
        std::fs::create_dir_all(state_dir)?;
        let path = path_for(state_dir, serial);
        let (entries, bad) = read_entries(&path)?;
        if bad > 0 {
            tracing::warn!(journal = %path.display(), lines = bad, "journal lines that are not whole entries were skipped (a write cut short by a crash)");
        }
        let open = unfinished(&entries);
        let next_seq = entries.iter().map(|e| e.seq).max().unwrap_or(0) + 1;
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if size > COMPACT_ABOVE_BYTES && open.is_empty() {
            compact(&path, &entries)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        // The file's name must survive a crash as well as its lines.
        File::open(state_dir)?.sync_all()?;
        Ok((
            Journal {
                path,
                file,
                next_seq,
            },
            open,
        ))
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line and waits until it is on disk.
    pub fn append(&mut self, seq: u64, event: Event) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(&Entry {
            seq,
            at_ms: crate::metrics::epoch_ms(),
            event,
        })
        .map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.sync_data()
    }
}

/// Rewrites the journal with its last lines, by atomic rename.
fn compact(path: &Path, entries: &[Entry]) -> std::io::Result<()> {
    let tmp = path.with_extension("journal.tmp");
    let mut out = File::create(&tmp)?;
    for e in entries
        .iter()
        .skip(entries.len().saturating_sub(KEEP_AFTER_COMPACTION))
    {
        let mut line = serde_json::to_vec(e).map_err(std::io::Error::other)?;
        line.push(b'\n');
        out.write_all(&line)?;
    }
    out.sync_all()?;
    std::fs::rename(&tmp, path)?;
    tracing::info!(journal = %path.display(), kept = KEEP_AFTER_COMPACTION, "journal compacted");
    Ok(())
}

impl MoveJournal for Journal {
    fn intent(&mut self, intent: &MoveIntent) -> std::io::Result<u64> {
        let seq = self.next_seq;
        self.append(
            seq,
            Event::Intent {
                source: intent.source.into(),
                destination: intent.destination.into(),
                barcode: intent.barcode.clone(),
                words: intent.words.clone(),
            },
        )?;
        self.next_seq += 1;
        tracing::info!(seq, r#move = %intent.words, barcode = intent.barcode.as_deref().unwrap_or(""), "move started");
        Ok(seq)
    }

    fn outcome(&mut self, seq: u64, outcome: Result<(), String>) {
        let (result, error) = match &outcome {
            Ok(()) => (DoneResult::Ok, None),
            Err(e) => (DoneResult::Failed, Some(e.clone())),
        };
        tracing::info!(seq, ok = outcome.is_ok(), "move finished");
        if let Err(e) = self.append(seq, Event::Done { result, error }) {
            // The move is over; a missing `done` only makes the next start read two elements.
            tracing::error!(journal = %self.path.display(), seq, error = %e, "cannot record how the move ended");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(n: u16) -> MoveIntent {
        MoveIntent {
            source: (ElementType::Storage, ElementAddress(1000 + n)),
            destination: (ElementType::DataTransfer, ElementAddress(500)),
            barcode: Some(format!("A{n:05}L6")),
            words: format!("slot {} -> drive 0", n + 1),
        }
    }

    #[test]
    fn an_intent_without_outcome_is_unfinished_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, open) = Journal::open(dir.path(), "LIB 1").unwrap();
        assert!(open.is_empty());
        assert!(j.path().ends_with("LIB_1.journal"));
        let a = j.intent(&intent(1)).unwrap();
        j.outcome(a, Ok(()));
        let b = j.intent(&intent(2)).unwrap();
        drop(j);
        let (mut j, open) = Journal::open(dir.path(), "LIB 1").unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].seq, b);
        assert_eq!(open[0].barcode.as_deref(), Some("A00002L6"));
        j.append(
            b,
            Event::Recovered {
                result: Recovery::Moved,
                found: "x".into(),
            },
        )
        .unwrap();
        let c = j.intent(&intent(3)).unwrap();
        assert!(c > b, "sequence numbers go on");
        j.outcome(c, Err("Source Element Address 1003 is Empty".into()));
        drop(j);
        let (_, open) = Journal::open(dir.path(), "LIB 1").unwrap();
        assert!(open.is_empty());
    }

    #[test]
    fn a_torn_last_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, _) = Journal::open(dir.path(), "L").unwrap();
        let a = j.intent(&intent(1)).unwrap();
        j.outcome(a, Ok(()));
        let path = j.path().to_owned();
        drop(j);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"seq\":2,\"at_ms\":1,\"event\":\"inte")
            .unwrap();
        drop(f);
        let (entries, bad) = read_entries(&path).unwrap();
        assert_eq!((entries.len(), bad), (2, 1));
        let (_, open) = Journal::open(dir.path(), "L").unwrap();
        assert!(open.is_empty());
    }
}
