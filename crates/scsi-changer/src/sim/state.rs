//! The simulated library's state and its text form: `mtx status` output (mtx 1.3.12 `Status()`
//! formats, reference/bareos-protocol.md §3.9) plus `#` lines.
//!
//! Parsing keeps everything rendering needs to give the same bytes back: the header's device
//! string, tags with their exact padding, and every `#` line in order (they are written above
//! the status text). Parsing is strict about structure — a line that is not `mtx status`
//! output is an error naming the line — and tolerant where mtx output varies: tag padding,
//! `Full` with or without its trailing blank, either `:VolumeTag=` spelling, CRLF endings,
//! blank lines.

use std::fmt::Write as _;

use crate::address::ElementAddress;
use crate::element::VolumeTag;
use crate::error::Error;

use super::directives::{self, Bases, Directive, DriveSettings, Identity, StateLine};
use super::faults::{Fault, FaultLine};
use super::layout::{Layout, LayoutInput, Loc};

/// One drive or slot as `mtx status` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimElement {
    /// The element holds a cartridge.
    pub full: bool,
    /// PRIMARY VOLUME TAG (`:VolumeTag=`), exactly as the text has it (blank padding kept,
    /// NUL-padded to 32 bytes). Empty slots may carry one too (`Empty:VolumeTag=` + blanks).
    pub primary: Option<VolumeTag>,
    /// ALTERNATE VOLUME TAG (`:AlternateVolumeTag=`).
    pub alternate: Option<VolumeTag>,
    /// mtx slot number (1-based) the cartridge came from: SVALID = 1 with that slot's address.
    /// For drives this is `Full (Storage Element N Loaded)`; for slots it is runtime state kept
    /// in `# sim: state slot` lines.
    pub source: Option<u16>,
}

impl SimElement {
    /// A full element with a primary tag and no known source.
    pub fn with_tag(tag: &str) -> SimElement {
        SimElement {
            full: true,
            primary: Some(VolumeTag::from_text(tag)),
            ..SimElement::default()
        }
    }

    /// Whether the cartridge is a cleaning cartridge (tag starting with `CLN`, the LTO
    /// convention), reported as MEDIUM TYPE 2.
    pub fn is_cleaning(&self) -> bool {
        self.primary
            .as_ref()
            .is_some_and(|t| t.mtx_text().starts_with("CLN"))
    }
}

/// Drive state the mtx text cannot hold, kept in `# sim: state drive` lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DriveRuntime {
    /// LOAD UNLOAD with LOAD = 0 ejected the tape: the robot may take it, TUR says no medium.
    pub unloaded: bool,
    /// TEST UNIT READYs still to answer "becoming ready" after a load.
    pub becoming_ready: u32,
}

/// A `#` line, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HashLine {
    /// A comment or a configuration directive: written back as read.
    Verbatim(String),
    /// A fault: written back as read until its count changes.
    Fault(FaultLine),
    /// Where the `# sim: state` lines were (they are regenerated from the state).
    StateMarker,
}

/// Identity settings from `# sim:` lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Config {
    changer: Identity,
    drives_default: Identity,
    drives: Vec<DriveSettings>,
    bases: Bases,
    bases_line: Option<usize>,
    drive_addresses: Vec<(usize, u16, usize)>,
    slot_addresses: Vec<(usize, u16, usize)>,
}

/// INQUIRY identity of one logical unit, defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResolvedIdentity {
    pub vendor: String,
    pub product: String,
    pub revision: String,
    pub serial: String,
}

/// Default changer identity: the AWS Storage Gateway VTL's.
const CHANGER_VENDOR: &str = "STK";
const CHANGER_PRODUCT: &str = "L700";
/// Default drive identity: the AWS Storage Gateway VTL's.
const DRIVE_VENDOR: &str = "IBM";
const DRIVE_PRODUCT: &str = "ULT3580-TD5";
const REVISION: &str = "SIM1";

/// A simulated library: elements, identities, addresses, faults and the `#` lines they came
/// from. [`SimState::parse`] reads `mtx status` text, [`SimState::render`] writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimState {
    device: String,
    pub(crate) drives: Vec<SimElement>,
    pub(crate) runtime: Vec<DriveRuntime>,
    pub(crate) slots: Vec<SimElement>,
    pub(crate) slot_is_ie: Vec<bool>,
    lines: Vec<HashLine>,
    config: Config,
    pub(crate) layout: Layout,
    dirty: bool,
}

/// A parse error: the 1-based line (0 for the file as a whole) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            f.write_str(&self.message)
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

fn at(line: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        message: message.into(),
    }
}

const HEADER_SHAPE: &str =
    "`  Storage Changer <device>:<D> Drives, <N> Slots ( <I> Import/Export )`";

impl SimState {
    /// Parses `mtx status` text with `#` lines. Errors are [`Error::Sim`] naming the line.
    pub fn parse(text: &str) -> crate::Result<SimState> {
        parse_text(text).map_err(|e| Error::Sim(e.to_string()))
    }

    /// An empty library: `drives` drives, `storage` storage slots then `import_export` I/E
    /// slots, default addresses and identities.
    pub fn new(
        device: &str,
        drives: u16,
        storage: u16,
        import_export: u16,
    ) -> crate::Result<SimState> {
        let mut slot_is_ie = vec![false; usize::from(storage)];
        slot_is_ie.resize(usize::from(storage) + usize::from(import_export), true);
        let d = usize::from(drives);
        let config = Config {
            drives: vec![DriveSettings::default(); d],
            ..Config::default()
        };
        let layout = layout_for(&config, d, &slot_is_ie).map_err(|e| Error::Sim(e.to_string()))?;
        Ok(SimState {
            device: device.to_owned(),
            drives: vec![SimElement::default(); d],
            runtime: vec![DriveRuntime::default(); d],
            slots: vec![SimElement::default(); slot_is_ie.len()],
            slot_is_ie,
            lines: Vec::new(),
            config,
            layout,
            dirty: false,
        })
    }

    /// The text: `#` lines first (in their order, `# sim: state` lines regenerated), then the
    /// status exactly as mtx 1.3.12 prints it.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(80 * (self.slots.len() + self.drives.len() + 2));
        let mut state_written = false;
        for line in &self.lines {
            match line {
                HashLine::Verbatim(text) => out.push_str(text),
                HashLine::Fault(f) => out.push_str(&f.text()),
                HashLine::StateMarker => {
                    self.render_state_lines(&mut out);
                    state_written = true;
                    continue;
                }
            }
            out.push('\n');
        }
        if !state_written {
            self.render_state_lines(&mut out);
        }
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "  Storage Changer {}:{} Drives, {} Slots ( {} Import/Export )",
            self.device,
            self.drives.len(),
            self.slots.len(),
            self.slot_is_ie.iter().filter(|ie| **ie).count()
        );
        for (i, d) in self.drives.iter().enumerate() {
            render_drive(&mut out, i, d);
        }
        for (i, (s, ie)) in self.slots.iter().zip(&self.slot_is_ie).enumerate() {
            render_slot(&mut out, i + 1, *ie, s);
        }
        out
    }

    fn render_state_lines(&self, out: &mut String) {
        for (i, (d, rt)) in self.drives.iter().zip(&self.runtime).enumerate() {
            if !d.full || *rt == DriveRuntime::default() {
                continue;
            }
            let _ = write!(out, "# sim: state drive {i}");
            if rt.unloaded {
                out.push_str(" unloaded");
            }
            if rt.becoming_ready > 0 {
                let _ = write!(out, " becoming-ready={}", rt.becoming_ready);
            }
            out.push('\n');
        }
        for (i, s) in self.slots.iter().enumerate() {
            if let (true, Some(source)) = (s.full, s.source) {
                let _ = writeln!(out, "# sim: state slot {} source={source}", i + 1);
            }
        }
    }

    /// The device string of the header (`/dev/sg3` in `Storage Changer /dev/sg3:1 Drives…`).
    pub fn device(&self) -> &str {
        &self.device
    }

    /// Number of drives.
    pub fn drive_count(&self) -> u16 {
        u16::try_from(self.drives.len()).unwrap_or(u16::MAX)
    }

    /// Number of slots, storage and I/E.
    pub fn slot_count(&self) -> u16 {
        u16::try_from(self.slots.len()).unwrap_or(u16::MAX)
    }

    /// Drive `index` (0-based).
    pub fn drive(&self, index: u16) -> Option<&SimElement> {
        self.drives.get(usize::from(index))
    }

    /// Slot `number` (1-based, mtx numbering).
    pub fn slot(&self, number: u16) -> Option<&SimElement> {
        self.slots.get(usize::from(number).checked_sub(1)?)
    }

    /// Whether slot `number` is an import/export slot.
    pub fn is_import_export(&self, number: u16) -> bool {
        usize::from(number)
            .checked_sub(1)
            .and_then(|i| self.slot_is_ie.get(i))
            .copied()
            .unwrap_or(false)
    }

    /// Element address of drive `index`.
    pub fn drive_address(&self, index: u16) -> Option<ElementAddress> {
        self.layout
            .drives
            .get(usize::from(index))
            .map(|a| ElementAddress(*a))
    }

    /// Element address of slot `number`.
    pub fn slot_address(&self, number: u16) -> Option<ElementAddress> {
        self.layout
            .slots
            .get(usize::from(number).checked_sub(1)?)
            .map(|a| ElementAddress(*a))
    }

    /// Element address of the medium transport.
    pub fn transport_address(&self) -> ElementAddress {
        ElementAddress(self.layout.transport)
    }

    /// Replaces drive `index`'s contents.
    pub fn set_drive(&mut self, index: u16, element: SimElement) -> crate::Result<()> {
        let element = self.checked(element)?;
        let i = usize::from(index);
        let (slot, rt) = self
            .drives
            .get_mut(i)
            .zip(self.runtime.get_mut(i))
            .ok_or_else(|| Error::Sim(format!("no drive {index}")))?;
        *slot = element;
        *rt = DriveRuntime::default();
        self.dirty = true;
        Ok(())
    }

    /// Replaces slot `number`'s contents.
    pub fn set_slot(&mut self, number: u16, element: SimElement) -> crate::Result<()> {
        let element = self.checked(element)?;
        let slot = usize::from(number)
            .checked_sub(1)
            .and_then(|i| self.slots.get_mut(i))
            .ok_or_else(|| Error::Sim(format!("no slot {number}")))?;
        *slot = element;
        self.dirty = true;
        Ok(())
    }

    /// The faults in effect, in file order.
    pub fn faults(&self) -> Vec<Fault> {
        self.fault_lines().map(|f| f.fault).collect()
    }

    /// Validates an element given through the builder API; empty tags become `None`.
    fn checked(&self, mut e: SimElement) -> crate::Result<SimElement> {
        for tag in [&mut e.primary, &mut e.alternate] {
            if let Some(t) = tag {
                let text_len = t.mtx_text().len();
                if t.identification
                    .get(text_len..)
                    .is_some_and(|rest| rest.iter().any(|b| *b != 0))
                {
                    return Err(Error::Sim(format!(
                        "volume tag {:?} holds a byte mtx cannot print",
                        t.identification
                    )));
                }
                t.sequence = 0;
                if text_len == 0 {
                    *tag = None;
                }
            }
        }
        if let Some(src) = e.source
            && (src == 0 || src > self.slot_count())
        {
            return Err(Error::Sim(format!(
                "source slot {src} does not exist (slots 1 to {})",
                self.slot_count()
            )));
        }
        Ok(e)
    }

    // ---- for the command handlers -------------------------------------------------------

    pub(crate) fn element(&self, loc: Loc) -> Option<&SimElement> {
        match loc {
            Loc::Transport => None,
            Loc::Drive(i) => self.drives.get(i),
            Loc::Slot(i) => self.slots.get(i),
        }
    }

    pub(crate) fn element_mut(&mut self, loc: Loc) -> Option<&mut SimElement> {
        self.dirty = true;
        match loc {
            Loc::Transport => None,
            Loc::Drive(i) => self.drives.get_mut(i),
            Loc::Slot(i) => self.slots.get_mut(i),
        }
    }

    pub(crate) fn runtime_mut(&mut self, drive: usize) -> Option<&mut DriveRuntime> {
        self.dirty = true;
        self.runtime.get_mut(drive)
    }

    /// Whether any element carries a volume tag: then the library has a barcode reader and
    /// pages carry PVOLTAG when asked (otherwise they do not, like a library without one).
    pub(crate) fn has_barcodes(&self) -> bool {
        self.all_elements()
            .any(|e| e.primary.is_some() || e.alternate.is_some())
    }

    /// Whether any element carries an alternate tag: then pages carry AVOLTAG when asked.
    pub(crate) fn has_alternate_tags(&self) -> bool {
        self.all_elements().any(|e| e.alternate.is_some())
    }

    fn all_elements(&self) -> impl Iterator<Item = &SimElement> {
        self.drives.iter().chain(&self.slots)
    }

    fn fault_lines(&self) -> impl Iterator<Item = &FaultLine> {
        self.lines.iter().filter_map(|l| match l {
            HashLine::Fault(f) => Some(f),
            _ => None,
        })
    }

    /// Whether a fault matching `pred` is in effect (nothing consumed).
    pub(crate) fn has_fault(&self, pred: impl Fn(&Fault) -> bool) -> bool {
        self.fault_lines().any(|f| pred(&f.fault))
    }

    /// Consumes one firing of the first fault matching `pred`: a counted fault is decremented
    /// (and its line removed at zero); a sticky one stays. Returns the fault as it was.
    pub(crate) fn take_fault(&mut self, pred: impl Fn(&Fault) -> bool) -> Option<Fault> {
        let index = self
            .lines
            .iter()
            .position(|l| matches!(l, HashLine::Fault(f) if pred(&f.fault)))?;
        let HashLine::Fault(line) = self.lines.get_mut(index)? else {
            return None;
        };
        let fault = line.fault;
        match fault.count() {
            Some(n) if n > 1 => {
                line.fault = fault.with_count(n - 1);
                line.changed = true;
                self.dirty = true;
            }
            Some(_) => {
                self.lines.remove(index);
                self.dirty = true;
            }
            None => {}
        }
        tracing::debug!(fault = %fault, "simulated fault fires");
        Some(fault)
    }

    /// Removes every fault matching `pred`; returns them.
    pub(crate) fn remove_faults(&mut self, pred: impl Fn(&Fault) -> bool) -> Vec<Fault> {
        let mut removed = Vec::new();
        self.lines.retain(|l| match l {
            HashLine::Fault(f) if pred(&f.fault) => {
                removed.push(f.fault);
                false
            }
            _ => true,
        });
        if !removed.is_empty() {
            self.dirty = true;
        }
        removed
    }

    /// Adds a fault line after the other `#` lines.
    pub(crate) fn push_fault(&mut self, fault: Fault) -> crate::Result<()> {
        if let Some(d) = fault.drive()
            && usize::from(d) >= self.drives.len()
        {
            return Err(Error::Sim(format!(
                "fault {fault}: no drive {d} (the library has {} drives)",
                self.drives.len()
            )));
        }
        self.lines.push(HashLine::Fault(FaultLine::new(fault)));
        self.dirty = true;
        Ok(())
    }

    /// Whether anything changed since the last call.
    pub(crate) fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// The changer's INQUIRY identity; `default_serial` when no `# sim: changer serial=`.
    pub(crate) fn changer_identity(&self, default_serial: &str) -> ResolvedIdentity {
        let c = &self.config.changer;
        ResolvedIdentity {
            vendor: c.vendor.clone().unwrap_or_else(|| CHANGER_VENDOR.into()),
            product: c.product.clone().unwrap_or_else(|| CHANGER_PRODUCT.into()),
            revision: c.revision.clone().unwrap_or_else(|| REVISION.into()),
            serial: c.serial.clone().unwrap_or_else(|| default_serial.into()),
        }
    }

    /// The configured changer serial, if any.
    pub(crate) fn changer_serial(&self) -> Option<&str> {
        self.config.changer.serial.as_deref()
    }

    /// Drive `index`'s INQUIRY identity.
    pub(crate) fn drive_identity(&self, index: usize) -> ResolvedIdentity {
        let mut id = self.config.drives_default.clone();
        if let Some(own) = self.config.drives.get(index) {
            id.merge(&own.identity);
        }
        ResolvedIdentity {
            vendor: id.vendor.unwrap_or_else(|| DRIVE_VENDOR.into()),
            product: id.product.unwrap_or_else(|| DRIVE_PRODUCT.into()),
            revision: id.revision.unwrap_or_else(|| REVISION.into()),
            serial: id.serial.unwrap_or_else(|| format!("SIMDRV{index:02}")),
        }
    }

    /// Archive device paths bound to drive `index` by `# sim: drive N path=`.
    pub(crate) fn drive_paths(&self, index: usize) -> &[std::path::PathBuf] {
        self.config
            .drives
            .get(index)
            .map_or(&[], |d| d.paths.as_slice())
    }
}

fn layout_for(config: &Config, drives: usize, slot_is_ie: &[bool]) -> Result<Layout, ParseError> {
    Layout::compute(&LayoutInput {
        drives,
        slot_is_ie,
        bases: config.bases,
        bases_line: config.bases_line,
        drive_addresses: config.drive_addresses.clone(),
        slot_addresses: config.slot_addresses.clone(),
    })
    .map_err(|(line, message)| at(line.unwrap_or(0), message))
}

// ---- rendering ---------------------------------------------------------------------------

fn render_drive(out: &mut String, index: usize, d: &SimElement) {
    let _ = write!(out, "Data Transfer Element {index}:");
    if !d.full {
        out.push_str("Empty\n");
        return;
    }
    match d.source {
        Some(n) => {
            let _ = write!(out, "Full (Storage Element {n} Loaded)");
        }
        None => out.push_str("Full (Unknown Storage Element Loaded)"),
    }
    if let Some(t) = &d.primary {
        out.push_str(":VolumeTag = ");
        out.push_str(t.mtx_text());
    }
    if let Some(t) = &d.alternate {
        out.push_str(":AlternateVolumeTag = ");
        out.push_str(t.mtx_text());
    }
    out.push('\n');
}

fn render_slot(out: &mut String, number: usize, ie: bool, s: &SimElement) {
    let _ = write!(
        out,
        "      Storage Element {number}{}:{}",
        if ie { " IMPORT/EXPORT" } else { "" },
        if s.full { "Full " } else { "Empty" }
    );
    if let Some(t) = &s.primary {
        out.push_str(":VolumeTag=");
        out.push_str(t.mtx_text());
    }
    if let Some(t) = &s.alternate {
        out.push_str(":AlternateVolumeTag=");
        out.push_str(t.mtx_text());
    }
    out.push('\n');
}

// ---- parsing -----------------------------------------------------------------------------

/// Everything the line-by-line pass collects.
#[derive(Default)]
struct Collected {
    lines: Vec<HashLine>,
    directives: Vec<(usize, Directive)>,
    drive_faults: Vec<(usize, Fault)>,
    header: Option<(usize, Header)>,
    drives: Vec<(usize, SimElement)>,
    slots: Vec<SimElement>,
    slot_is_ie: Vec<bool>,
}

struct Header {
    device: String,
    drives: usize,
    slots: usize,
    import_export: usize,
}

pub(crate) fn parse_text(text: &str) -> Result<SimState, ParseError> {
    let mut c = Collected::default();
    let mut state_marker = false;
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.starts_with('#') {
            let directive = directives::parse_line(line)
                .map_err(|m| at(line_no, format!("{m}, in `{line}`")))?;
            match directive {
                Directive::Fault(fault) => {
                    if fault.drive().is_some() {
                        c.drive_faults.push((line_no, fault));
                    }
                    c.lines.push(HashLine::Fault(FaultLine {
                        raw: line.to_owned(),
                        fault,
                        changed: false,
                    }));
                }
                Directive::State(_) => {
                    if !state_marker {
                        c.lines.push(HashLine::StateMarker);
                        state_marker = true;
                    }
                    c.directives.push((line_no, directive));
                }
                Directive::Comment => c.lines.push(HashLine::Verbatim(line.to_owned())),
                _ => {
                    c.lines.push(HashLine::Verbatim(line.to_owned()));
                    c.directives.push((line_no, directive));
                }
            }
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        status_line(&mut c, line_no, line)?;
    }
    finish(c)
}

/// One line of the status text proper.
fn status_line(c: &mut Collected, line_no: usize, line: &str) -> Result<(), ParseError> {
    let trimmed = line.trim_start();
    if c.header.is_none() {
        let header = parse_header(line).ok_or_else(|| {
            at(
                line_no,
                format!("expected the `mtx status` header {HEADER_SHAPE}, found `{line}`"),
            )
        })?;
        c.header = Some((line_no, header));
        return Ok(());
    }
    if let Some(rest) = trimmed.strip_prefix("Data Transfer Element ") {
        if !c.slots.is_empty() {
            return Err(at(
                line_no,
                "a drive line after the slot lines (mtx prints drives first)",
            ));
        }
        let d = parse_drive(rest, c.drives.len()).map_err(|m| at(line_no, m))?;
        c.drives.push((line_no, d));
        return Ok(());
    }
    if let Some(rest) = trimmed.strip_prefix("Storage Element ") {
        let (ie, s) = parse_slot(rest, c.slots.len() + 1).map_err(|m| at(line_no, m))?;
        c.slots.push(s);
        c.slot_is_ie.push(ie);
        return Ok(());
    }
    Err(at(
        line_no,
        format!(
            "not a line of `mtx status` output: `{line}` (expected `Data Transfer Element …`, \
             `Storage Element …` or a `#` line)"
        ),
    ))
}

/// `  Storage Changer %s:%d Drives, %d Slots ( %d Import/Export )`
fn parse_header(line: &str) -> Option<Header> {
    let rest = line
        .trim()
        .strip_prefix("Storage Changer ")?
        .strip_suffix(" Import/Export )")?;
    let (rest, import_export) = rest.rsplit_once(" Slots ( ")?;
    let (rest, slots) = rest.rsplit_once(" Drives, ")?;
    // The device may itself contain ':' (`sim:/tmp/lib`): the count follows the last one.
    let (device, drives) = rest.rsplit_once(':')?;
    Some(Header {
        device: device.to_owned(),
        drives: decimal(drives)?,
        slots: decimal(slots)?,
        import_export: decimal(import_export.trim())?,
    })
}

fn decimal(text: &str) -> Option<usize> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// After `Data Transfer Element `: `N:Empty` or `N:Full (…)` with tags.
fn parse_drive(rest: &str, expected: usize) -> Result<SimElement, String> {
    let (number, rest) = rest
        .split_once(':')
        .ok_or_else(|| format!("expected `Data Transfer Element {expected}:…`"))?;
    if decimal(number) != Some(expected) {
        return Err(format!(
            "expected `Data Transfer Element {expected}`, found `Data Transfer Element {number}` \
             (drives are numbered from 0 in order)"
        ));
    }
    if rest.trim_end() == "Empty" {
        return Ok(SimElement::default());
    }
    let (source, tags) = if let Some(r) = rest.strip_prefix("Full (Storage Element ") {
        let (n, tags) = r
            .split_once(" Loaded)")
            .ok_or_else(|| format!("expected `Full (Storage Element N Loaded)`, found `{rest}`"))?;
        let n = decimal(n)
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("`{n}` is not a slot number"))?;
        (Some(n), tags)
    } else if let Some(tags) = rest.strip_prefix("Full (Unknown Storage Element Loaded)") {
        (None, tags)
    } else {
        return Err(format!(
            "expected `Empty`, `Full (Storage Element N Loaded)` or \
             `Full (Unknown Storage Element Loaded)`, found `{rest}`"
        ));
    };
    let (primary, alternate) = parse_tags(tags, true)?;
    Ok(SimElement {
        full: true,
        primary,
        alternate,
        source,
    })
}

/// After `Storage Element `: `N[ IMPORT/EXPORT]:Full |Empty` with tags.
fn parse_slot(rest: &str, expected: usize) -> Result<(bool, SimElement), String> {
    let (left, rest) = rest
        .split_once(':')
        .ok_or_else(|| format!("expected `Storage Element {expected}:…`"))?;
    let (number, ie) = match left.strip_suffix(" IMPORT/EXPORT") {
        Some(n) => (n, true),
        None => (left, false),
    };
    if decimal(number) != Some(expected) {
        return Err(format!(
            "expected `Storage Element {expected}`, found `Storage Element {left}` \
             (slots are numbered from 1 in order)"
        ));
    }
    let (full, tags) = if let Some(r) = rest.strip_prefix("Full") {
        // mtx prints "Full " with a blank; accept it without.
        (true, r.strip_prefix(' ').unwrap_or(r))
    } else if let Some(r) = rest.strip_prefix("Empty") {
        (false, r)
    } else {
        return Err(format!("expected `Full ` or `Empty`, found `{rest}`"));
    };
    let (primary, alternate) = parse_tags(tags, false)?;
    Ok((
        ie,
        SimElement {
            full,
            primary,
            alternate,
            source: None,
        },
    ))
}

const PRIMARY: [&str; 2] = [":VolumeTag=", ":VolumeTag = "];
const ALTERNATE: [&str; 2] = [":AlternateVolumeTag=", ":AlternateVolumeTag = "];

type Tags = (Option<VolumeTag>, Option<VolumeTag>);

/// `[:VolumeTag=P][:AlternateVolumeTag=A]`; drives print ` = `, slots `=` (both accepted,
/// the element's own spelling tried first).
fn parse_tags(rest: &str, drive: bool) -> Result<Tags, String> {
    let prefix_len = |pair: [&str; 2]| {
        let order = if drive { [pair[1], pair[0]] } else { pair };
        order
            .into_iter()
            .find(|p| rest.starts_with(p))
            .map(str::len)
    };
    if let Some(skip) = prefix_len(PRIMARY) {
        let body = rest.get(skip..).unwrap_or("");
        // The earliest alternate-tag marker ends the primary tag.
        let alt = ALTERNATE
            .iter()
            .filter_map(|p| body.find(p).map(|i| (i, p.len())))
            .min();
        let (primary, alternate) = match alt {
            Some((i, len)) => (
                body.get(..i).unwrap_or(""),
                Some(body.get(i + len..).unwrap_or("")),
            ),
            None => (body, None),
        };
        return Ok((tag(primary)?, alternate.map(tag).transpose()?.flatten()));
    }
    if let Some(skip) = prefix_len(ALTERNATE) {
        return Ok((None, tag(rest.get(skip..).unwrap_or(""))?));
    }
    if rest.trim().is_empty() {
        return Ok((None, None));
    }
    Err(format!(
        "unexpected `{rest}` (expected `:VolumeTag=…` or `:AlternateVolumeTag=…`)"
    ))
}

/// A tag's text as a 32-byte VOLUME IDENTIFICATION: bytes kept exactly, NUL-padded, cut at 32.
/// Empty text is no tag (mtx prints none for a NUL field).
fn tag(text: &str) -> Result<Option<VolumeTag>, String> {
    if let Some(bad) = text.chars().find(|c| !(' '..='~').contains(c)) {
        return Err(format!(
            "volume tag `{text}` holds {bad:?}: mtx prints only bytes 20h to 7Eh"
        ));
    }
    if text.len() > 32 {
        tracing::warn!(tag = text, "volume tag longer than 32 bytes cut to 32");
    }
    Ok((!text.is_empty()).then(|| VolumeTag::from_text(text)))
}

/// Checks the counts, applies the directives, computes addresses.
fn finish(mut c: Collected) -> Result<SimState, ParseError> {
    let Some((header_line, header)) = c.header.take() else {
        let what = if c.lines.is_empty() {
            "the file is empty"
        } else {
            "the file has only `#` lines"
        };
        return Err(at(
            0,
            format!(
                "{what}: a simulated library needs `mtx status` output, starting with the \
                 header {HEADER_SHAPE}"
            ),
        ));
    };
    check_counts(&c, header_line, &header)?;
    let drives: Vec<SimElement> = c.drives.iter().map(|(_, d)| d.clone()).collect();
    for (line, d) in &c.drives {
        if let Some(n) = d.source.filter(|n| usize::from(*n) > c.slots.len()) {
            return Err(at(
                *line,
                format!(
                    "storage element {n} does not exist (the library has {} slots)",
                    c.slots.len()
                ),
            ));
        }
    }
    let mut config = Config {
        drives: vec![DriveSettings::default(); drives.len()],
        ..Config::default()
    };
    let mut states = Vec::new();
    for (line, d) in c.directives {
        match d {
            Directive::State(s) => states.push(s),
            other => apply(&mut config, line, other, drives.len(), c.slots.len())?,
        }
    }
    for (line, fault) in &c.drive_faults {
        if let Some(d) = fault.drive().filter(|d| usize::from(*d) >= drives.len()) {
            return Err(at(
                *line,
                format!(
                    "fault {fault}: no drive {d} (the library has {} drives)",
                    drives.len()
                ),
            ));
        }
    }
    let layout = layout_for(&config, drives.len(), &c.slot_is_ie)?;
    let mut state = SimState {
        device: header.device,
        runtime: vec![DriveRuntime::default(); drives.len()],
        drives,
        slots: c.slots,
        slot_is_ie: c.slot_is_ie,
        lines: c.lines,
        config,
        layout,
        dirty: false,
    };
    for s in states {
        state.apply_state_line(s);
    }
    Ok(state)
}

fn check_counts(c: &Collected, line: usize, h: &Header) -> Result<(), ParseError> {
    let ie = c.slot_is_ie.iter().filter(|ie| **ie).count();
    let mismatch = |what: &str, said: usize, found: usize| {
        at(
            line,
            format!("the header announces {said} {what} but the file lists {found}"),
        )
    };
    if h.drives != c.drives.len() {
        return Err(mismatch("drives", h.drives, c.drives.len()));
    }
    if h.slots != c.slots.len() {
        return Err(mismatch("slots", h.slots, c.slots.len()));
    }
    if h.import_export != ie {
        return Err(mismatch("import/export slots", h.import_export, ie));
    }
    Ok(())
}

/// Applies one configuration directive.
fn apply(
    config: &mut Config,
    line: usize,
    d: Directive,
    drives: usize,
    slots: usize,
) -> Result<(), ParseError> {
    match d {
        Directive::Changer(id) => config.changer.merge(&id),
        Directive::Drives(id) => config.drives_default.merge(&id),
        Directive::Drive(n, settings) => {
            let i = usize::from(n);
            let own = config.drives.get_mut(i).ok_or_else(|| {
                at(
                    line,
                    format!(
                        "drive {n} does not exist (the library has {drives} drives, 0 to {})",
                        drives.saturating_sub(1)
                    ),
                )
            })?;
            own.identity.merge(&settings.identity);
            own.paths.extend(settings.paths);
            if let Some(a) = settings.address {
                config.drive_addresses.push((i, a, line));
            }
        }
        Directive::Slot(n, address) => {
            let i = usize::from(n).checked_sub(1).unwrap_or(usize::MAX);
            if i >= slots {
                return Err(at(
                    line,
                    format!("slot {n} does not exist (the library has {slots} slots)"),
                ));
            }
            config.slot_addresses.push((i, address, line));
        }
        Directive::Addresses(bases) => {
            config.bases.merge(&bases);
            config.bases_line = Some(line);
        }
        Directive::Comment | Directive::Fault(_) | Directive::State(_) => {}
    }
    Ok(())
}

impl SimState {
    /// Applies a `# sim: state` line; lines about elements that are not full (someone edited
    /// the status text) are dropped.
    fn apply_state_line(&mut self, s: StateLine) {
        match s {
            StateLine::Drive {
                index,
                unloaded,
                becoming_ready,
            } => {
                let i = usize::from(index);
                if self.drives.get(i).is_some_and(|d| d.full)
                    && let Some(rt) = self.runtime.get_mut(i)
                {
                    *rt = DriveRuntime {
                        unloaded,
                        becoming_ready,
                    };
                }
            }
            StateLine::SlotSource { slot, source } => {
                let valid_source = source > 0 && usize::from(source) <= self.slots.len();
                if let Some(s) = usize::from(slot)
                    .checked_sub(1)
                    .and_then(|i| self.slots.get_mut(i))
                    && s.full
                    && valid_source
                {
                    s.source = Some(source);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIB: &str = "  Storage Changer /dev/sg3:1 Drives, 3 Slots ( 1 Import/Export )
Data Transfer Element 0:Full (Storage Element 2 Loaded):VolumeTag = T00002L6
      Storage Element 1:Full :VolumeTag=T00001L6
      Storage Element 2:Empty
      Storage Element 3 IMPORT/EXPORT:Empty
";

    fn parse(text: &str) -> SimState {
        parse_text(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn tolerated_variants_parse_to_the_same_state() {
        let canonical = parse(LIB);
        let variants = [
            LIB.replace('\n', "\r\n"),
            format!("\n{}\n\n", LIB.replace("Full :", "Full:")),
            LIB.replace("VolumeTag = T00002L6", "VolumeTag=T00002L6"),
            LIB.replace("VolumeTag=T00001L6", "VolumeTag = T00001L6"),
            LIB.replace("2:Empty\n", "2:Empty   \n"),
        ];
        for v in variants {
            let s = parse(&v);
            assert_eq!(
                (&s.drives, &s.slots, &s.slot_is_ie),
                (&canonical.drives, &canonical.slots, &canonical.slot_is_ie),
                "{v:?}"
            );
            assert_eq!(s.render(), LIB, "rendered canonically: {v:?}");
        }
    }

    #[test]
    fn tags_keep_their_bytes_are_cut_at_32_and_may_hold_colons() {
        let long = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let text = LIB
            .replace("T00001L6", &format!("{long}:AlternateVolumeTag=AL:T 1   "))
            .replace(
                "2:Empty",
                "2:Empty:VolumeTag=                                ",
            );
        let s = parse(&text);
        let slot1 = s.slot(1).unwrap();
        assert_eq!(slot1.primary.unwrap().mtx_text(), &long[..32]);
        assert_eq!(slot1.alternate.unwrap().mtx_text(), "AL:T 1   ");
        let slot2 = s.slot(2).unwrap();
        assert!(!slot2.full);
        assert_eq!(slot2.primary.unwrap().mtx_text(), " ".repeat(32));
        assert!(
            s.render()
                .contains("2:Empty:VolumeTag=                                \n")
        );
        // An empty tag field is no tag.
        let s = parse(&LIB.replace(":VolumeTag=T00001L6", ":VolumeTag="));
        assert_eq!(s.slot(1).unwrap().primary, None);
    }

    #[test]
    fn device_names_with_colons_survive() {
        let text = LIB.replace("/dev/sg3", "sim:/var/lib/x:y");
        let s = parse(&text);
        assert_eq!(s.device(), "sim:/var/lib/x:y");
        assert_eq!(s.render(), text);
    }

    #[test]
    fn hash_lines_are_kept_in_order_above_the_status() {
        let text = format!(
            "# one\n{}# two\n# sim: fault becoming-ready count=2\n# three\n",
            LIB
        );
        let mut s = parse(&text);
        let rendered = s.render();
        assert!(
            rendered.starts_with(
                "# one\n# two\n# sim: fault becoming-ready count=2\n# three\n  Storage"
            ),
            "{rendered}"
        );
        // A consumed count is rewritten in place; the line goes at zero.
        assert!(
            s.take_fault(|f| matches!(f, Fault::BecomingReady { .. }))
                .is_some()
        );
        assert!(
            s.render()
                .starts_with("# one\n# two\n# sim: fault becoming-ready\n# three\n")
        );
        assert!(
            s.take_fault(|f| matches!(f, Fault::BecomingReady { .. }))
                .is_some()
        );
        assert!(s.render().starts_with("# one\n# two\n# three\n"));
        assert!(
            s.take_fault(|f| matches!(f, Fault::BecomingReady { .. }))
                .is_none()
        );
    }

    #[test]
    fn state_lines_are_regenerated_where_they_were() {
        let text = format!(
            "# head\n# sim: state drive 0 unloaded\n# sim: state slot 1 source=2\n# tail\n{LIB}"
        );
        let s = parse(&text);
        assert_eq!(
            s.runtime[0],
            DriveRuntime {
                unloaded: true,
                becoming_ready: 0
            }
        );
        assert_eq!(s.slots[0].source, Some(2));
        assert_eq!(s.render(), text);
        // Lines about elements that are not full (edited by hand) are dropped.
        let edited = text.replace("1:Full :VolumeTag=T00001L6", "1:Empty");
        let s = parse(&edited);
        assert_eq!(s.slots[0].source, None);
        assert!(!s.render().contains("state slot"));
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        let cases: &[(String, usize, &str)] = &[
            (
                LIB.replace("Storage Element 2:", "Storage Element 7:"),
                4,
                "expected `Storage Element 2`",
            ),
            (
                LIB.replace("Loaded):", "Loaded)junk:"),
                2,
                "unexpected `junk",
            ),
            (
                LIB.replace("(Storage Element 2 Loaded)", "(Storage Element x Loaded)"),
                2,
                "not a slot number",
            ),
            (
                format!("{LIB}Data Transfer Element 1:Empty\n"),
                6,
                "after the slot lines",
            ),
            (
                format!("{LIB}      Something else\n"),
                6,
                "not a line of `mtx status` output",
            ),
            (
                format!("# sim: slot 4 address=5\n{LIB}"),
                1,
                "slot 4 does not exist",
            ),
            (
                format!("# sim: addresses storage=500\n{LIB}"),
                1,
                "share element address 500",
            ),
            (
                format!("# sim: fault prevent-removal drive=3\n{LIB}"),
                1,
                "no drive 3",
            ),
            (
                LIB.replace("( 1 Import", "( 2 Import"),
                1,
                "announces 2 import/export slots",
            ),
        ];
        for (text, line, want) in cases {
            let e = parse_text(text).unwrap_err();
            assert_eq!(e.line, *line, "{want}: {e}");
            assert!(e.message.contains(want), "{want}: {e}");
        }
    }
}
