//! Reading `mtx status` text with `#` lines into a [`SimState`].
//!
//! Strict about structure — a line that is not `mtx status` output is an error naming the line
//! — and tolerant where mtx output varies: tag padding, `Full` with or without its trailing
//! blank, either `:VolumeTag=` spelling, CRLF endings, blank lines.

use crate::element::VolumeTag;

use super::directives::{self, Directive, DriveSettings, StateLine};
use super::faults::{Fault, FaultLine};
use super::state::{Config, DriveRuntime, HashLine, SimElement, SimState, layout_for};

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

pub(crate) fn at(line: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        message: message.into(),
    }
}

const HEADER_SHAPE: &str =
    "`  Storage Changer <device>:<D> Drives, <N> Slots ( <I> Import/Export )`";

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
    if let Some((_, a)) = config
        .not_installed
        .iter()
        .find(|(_, a)| layout.locate(*a).is_some())
    {
        return Err(at(
            0,
            format!(
                "not-installed address {a} is already an element's address (move it with `# sim: slot N address=`)"
            ),
        ));
    }
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
        Directive::NotInstalled(kind, addresses) => {
            for a in addresses {
                config.not_installed.push((kind.type_code(), a));
            }
            config.not_installed.sort_by_key(|e| e.1);
        }
        Directive::StrictAddresses(answer) => config.strict_addresses = Some(answer),
        Directive::MoveDelay(ms) => {
            config.move_delay = std::time::Duration::from_millis(u64::from(ms));
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
