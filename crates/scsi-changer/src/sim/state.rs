//! The simulated library's state and its text form: `mtx status` output (mtx 1.3.12 `Status()`
//! formats, reference/bareos-protocol.md §3.9) plus `#` lines.
//!
//! The state keeps everything rendering needs to give the same bytes back: the header's device
//! string, tags with their exact padding, and every `#` line in order (they are written above
//! the status text). Reading the text is the `parse` module's job.

use std::fmt::Write as _;

use crate::address::ElementAddress;
use crate::element::VolumeTag;
use crate::error::Error;

use super::directives::StrictAnswer;
use super::directives::{Bases, DriveSettings, Identity};
use super::faults::{Fault, FaultLine};
use super::layout::{Layout, LayoutInput, Loc};
use super::parse::{ParseError, at};

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
pub(super) enum HashLine {
    /// A comment or a configuration directive: written back as read.
    Verbatim(String),
    /// A fault: written back as read until its count changes.
    Fault(FaultLine),
    /// Where the `# sim: state` lines were (they are regenerated from the state).
    StateMarker,
}

/// Identity settings from `# sim:` lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Config {
    pub changer: Identity,
    pub drives_default: Identity,
    pub drives: Vec<DriveSettings>,
    pub bases: Bases,
    pub bases_line: Option<usize>,
    pub drive_addresses: Vec<(usize, u16, usize)>,
    pub slot_addresses: Vec<(usize, u16, usize)>,
    /// Not-installed elements: (type code, address), sorted by address.
    pub not_installed: Vec<(u8, u16)>,
    /// How READ ELEMENT STATUS at an address that is no element is refused, if it is.
    pub strict_addresses: Option<StrictAnswer>,
    /// How long a MOVE MEDIUM takes (`# sim: move-delay`).
    pub move_delay: std::time::Duration,
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
    pub(super) device: String,
    pub(crate) drives: Vec<SimElement>,
    pub(crate) runtime: Vec<DriveRuntime>,
    pub(crate) slots: Vec<SimElement>,
    pub(crate) slot_is_ie: Vec<bool>,
    pub(super) lines: Vec<HashLine>,
    pub(super) config: Config,
    pub(crate) layout: Layout,
    pub(super) dirty: bool,
}

impl SimState {
    /// Parses `mtx status` text with `#` lines. Errors are [`Error::Sim`] naming the line.
    pub fn parse(text: &str) -> crate::Result<SimState> {
        super::parse::parse_text(text).map_err(|e| Error::Sim(e.to_string()))
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

pub(super) fn layout_for(
    config: &Config,
    drives: usize,
    slot_is_ie: &[bool],
) -> Result<Layout, ParseError> {
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
