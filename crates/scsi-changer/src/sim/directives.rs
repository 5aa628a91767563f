//! The `#` lines of a simulated library file: plain comments, kept verbatim, and `# sim:`
//! directives that set identities, addresses, faults and runtime state (docs/simulator.md).
//!
//! This module only turns one line into a [`Directive`]; what the directives mean for the
//! library is decided in [`super::state`].

use std::path::PathBuf;

use super::faults::Fault;

/// What one `#` line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Directive {
    /// A comment without `sim:`: kept, never interpreted.
    Comment,
    /// `# sim: changer key=value…`
    Changer(Identity),
    /// `# sim: drives key=value…`: defaults for every drive.
    Drives(Identity),
    /// `# sim: drive N key=value…`
    Drive(u16, DriveSettings),
    /// `# sim: slot N address=A`
    Slot(u16, u16),
    /// `# sim: addresses key=value…`
    Addresses(Bases),
    /// `# sim: fault NAME key=value…`
    Fault(Fault),
    /// `# sim: state …`: runtime state the mtx text cannot hold, rewritten by the simulator.
    State(StateLine),
    /// `# sim: not-installed TYPE address=A…`: elements that exist in the address space but
    /// report "not installed" (83h/02h for slots, 83h/04h for drives); mtx, and so the status
    /// text, leaves them out.
    NotInstalled(ElementKind, Vec<u16>),
    /// `# sim: strict-addresses [asc=21|24]`: READ ELEMENT STATUS starting at an address that
    /// is no element is refused (05h/21h/01h, or 05h/24h/00h as some libraries answer).
    StrictAddresses(StrictAnswer),
    /// `# sim: move-delay ms=N`: every MOVE MEDIUM takes N ms, half before the cartridge
    /// changes places and half after, as a robot's arm travels there and back.
    MoveDelay(u32),
}

/// An element type as `# sim:` lines name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ElementKind {
    /// `storage`
    Storage,
    /// `ie`
    ImportExport,
    /// `drive`
    Drive,
}

impl ElementKind {
    /// SMC-3 element type code.
    pub fn type_code(self) -> u8 {
        match self {
            ElementKind::Storage => 2,
            ElementKind::ImportExport => 3,
            ElementKind::Drive => 4,
        }
    }
}

/// How a strict library refuses a starting address in a gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StrictAnswer {
    /// 05h/21h/01h INVALID ELEMENT ADDRESS.
    InvalidElementAddress,
    /// 05h/24h/00h INVALID FIELD IN CDB.
    InvalidFieldInCdb,
}

/// INQUIRY identity fields a `#` line may set; `None` keeps the default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Identity {
    pub vendor: Option<String>,
    pub product: Option<String>,
    pub revision: Option<String>,
    pub serial: Option<String>,
}

impl Identity {
    /// Overlays the fields `other` sets.
    pub fn merge(&mut self, other: &Identity) {
        for (mine, theirs) in [
            (&mut self.vendor, &other.vendor),
            (&mut self.product, &other.product),
            (&mut self.revision, &other.revision),
            (&mut self.serial, &other.serial),
        ] {
            if theirs.is_some() {
                mine.clone_from(theirs);
            }
        }
    }
}

/// Everything a `# sim: drive N` line may set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DriveSettings {
    pub identity: Identity,
    pub paths: Vec<PathBuf>,
    pub address: Option<u16>,
}

/// First element addresses from `# sim: addresses`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Bases {
    pub transport: Option<u16>,
    pub drive: Option<u16>,
    pub storage: Option<u16>,
    pub import_export: Option<u16>,
}

impl Bases {
    pub fn merge(&mut self, other: &Bases) {
        for (mine, theirs) in [
            (&mut self.transport, other.transport),
            (&mut self.drive, other.drive),
            (&mut self.storage, other.storage),
            (&mut self.import_export, other.import_export),
        ] {
            if theirs.is_some() {
                *mine = theirs;
            }
        }
    }
}

/// One `# sim: state` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StateLine {
    /// `state drive N [unloaded] [becoming-ready=K]`
    Drive {
        index: u16,
        unloaded: bool,
        becoming_ready: u32,
    },
    /// `state slot N source=M`: the cartridge in slot N came from slot M (SVALID).
    SlotSource { slot: u16, source: u16 },
}

/// Longest serial number accepted: it must fit a DVCID identifier (24 + serial ≤ 255 bytes)
/// and stay readable.
const MAX_SERIAL: usize = 64;

/// Classifies one line that starts with `#`. `Err` says what is wrong, without the line number
/// (the caller adds it).
pub(crate) fn parse_line(line: &str) -> Result<Directive, String> {
    let body = line.strip_prefix('#').unwrap_or(line).trim_start();
    let Some(rest) = body.strip_prefix("sim:") else {
        return Ok(Directive::Comment);
    };
    let tokens = tokenize(rest)?;
    let mut words = tokens.iter().map(String::as_str);
    let verb = words.next().ok_or_else(|| {
        "empty `# sim:` line (expected changer, drives, drive, slot, addresses, fault or state)"
            .to_owned()
    })?;
    let args: Vec<&str> = words.collect();
    match verb {
        "changer" => Ok(Directive::Changer(identity(&args, true)?)),
        "drives" => Ok(Directive::Drives(identity(&args, false)?)),
        "drive" => drive(&args),
        "slot" => slot(&args),
        "addresses" => addresses(&args),
        "fault" => args
            .split_first()
            .ok_or_else(|| format!("`fault` needs a name: one of {}", Fault::NAMES.join(", ")))
            .and_then(|(name, params)| Fault::from_words(name, params))
            .map(Directive::Fault),
        "state" => state(&args),
        "not-installed" => not_installed(&args),
        "strict-addresses" => strict_addresses(&args),
        "move-delay" => match args.as_slice() {
            [arg] => match key_value(arg) {
                Some(("ms", value)) => value
                    .parse::<u32>()
                    .map(Directive::MoveDelay)
                    .map_err(|_| format!("`move-delay` needs ms=N with N a number, not `{value}`")),
                _ => Err("`move-delay` takes ms=N".into()),
            },
            _ => Err("`move-delay` takes ms=N".into()),
        },
        other => Err(format!(
            "unknown `# sim:` directive `{other}` (expected changer, drives, drive, slot, \
             addresses, fault, state, not-installed, strict-addresses or move-delay)"
        )),
    }
}

fn not_installed(args: &[&str]) -> Result<Directive, String> {
    let (kind, rest) = args
        .split_first()
        .ok_or("`not-installed` needs a type (storage, ie or drive) and address=A")?;
    let kind = match *kind {
        "storage" => ElementKind::Storage,
        "ie" => ElementKind::ImportExport,
        "drive" => ElementKind::Drive,
        other => {
            return Err(format!(
                "unknown element type `{other}` (storage, ie or drive)"
            ));
        }
    };
    let mut addresses = Vec::new();
    for arg in rest {
        match key_value(arg) {
            Some(("address", value)) => addresses.push(number(value, "address")?),
            _ => return Err(format!("unexpected `{arg}` (expected address=A)")),
        }
    }
    if addresses.is_empty() {
        return Err("`not-installed` needs at least one address=A".into());
    }
    Ok(Directive::NotInstalled(kind, addresses))
}

fn strict_addresses(args: &[&str]) -> Result<Directive, String> {
    match args {
        [] | ["asc=21"] => Ok(Directive::StrictAddresses(
            StrictAnswer::InvalidElementAddress,
        )),
        ["asc=24"] => Ok(Directive::StrictAddresses(StrictAnswer::InvalidFieldInCdb)),
        _ => Err("`strict-addresses` takes nothing, asc=21 or asc=24".into()),
    }
}

/// Splits on blanks; double quotes group a value with blanks (`product="MSL G3 Series"`),
/// and inside them `\"` and `\\` stand for `"` and `\`.
pub(crate) fn tokenize(text: &str) -> Result<Vec<String>, String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut in_token = false;
    let mut quoted = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                in_token = true;
            }
            '\\' if quoted => match chars.next() {
                Some(escaped) => current.push(escaped),
                None => return Err("a `\\` at the end of the line".into()),
            },
            c if c.is_whitespace() && !quoted => {
                if in_token {
                    tokens.push(std::mem::take(&mut current));
                    in_token = false;
                }
            }
            c => {
                current.push(c);
                in_token = true;
            }
        }
    }
    if quoted {
        return Err("a `\"` is not closed".into());
    }
    if in_token {
        tokens.push(current);
    }
    Ok(tokens)
}

/// Splits `key=value`; `None` for a bare word.
pub(crate) fn key_value(word: &str) -> Option<(&str, &str)> {
    word.split_once('=')
}

fn identity(args: &[&str], serial_allowed: bool) -> Result<Identity, String> {
    let mut id = Identity::default();
    for arg in args {
        let (key, value) =
            key_value(arg).ok_or_else(|| format!("expected key=value, found `{arg}`"))?;
        if !identity_key(&mut id, key, value, serial_allowed)? {
            let keys = if serial_allowed {
                "vendor, product, revision, serial"
            } else {
                "vendor, product, revision"
            };
            return Err(format!("unknown key `{key}` (expected {keys})"));
        }
    }
    Ok(id)
}

/// Sets an identity field; `Ok(false)` when `key` is not one.
fn identity_key(
    id: &mut Identity,
    key: &str,
    value: &str,
    serial_allowed: bool,
) -> Result<bool, String> {
    let (slot, max) = match key {
        "vendor" => (&mut id.vendor, 8),
        "product" => (&mut id.product, 16),
        "revision" => (&mut id.revision, 4),
        "serial" if serial_allowed => (&mut id.serial, MAX_SERIAL),
        _ => return Ok(false),
    };
    if value.len() > max {
        return Err(format!(
            "{key} `{value}` is longer than the {max} bytes INQUIRY has for it"
        ));
    }
    if let Some(bad) = value.chars().find(|c| !(' '..='~').contains(c)) {
        return Err(format!(
            "{key} `{value}` holds {bad:?}; only printable ASCII is allowed"
        ));
    }
    *slot = Some(value.to_owned());
    Ok(true)
}

fn index(args: &[&str], what: &str) -> Result<(u16, Vec<String>), String> {
    let (first, rest) = args
        .split_first()
        .ok_or_else(|| format!("`{what}` needs a number"))?;
    let n = number(first, what)?;
    Ok((n, rest.iter().map(|s| (*s).to_owned()).collect()))
}

fn number<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not a valid number for {what}"))
}

fn drive(args: &[&str]) -> Result<Directive, String> {
    let (n, rest) = index(args, "drive")?;
    let mut settings = DriveSettings::default();
    for arg in &rest {
        let (key, value) =
            key_value(arg).ok_or_else(|| format!("expected key=value, found `{arg}`"))?;
        match key {
            "path" if value.is_empty() => return Err("path= needs a path".into()),
            "path" => settings.paths.push(PathBuf::from(value)),
            "address" => settings.address = Some(number(value, "address")?),
            _ => {
                if !identity_key(&mut settings.identity, key, value, true)? {
                    return Err(format!(
                        "unknown key `{key}` (expected vendor, product, revision, serial, path, address)"
                    ));
                }
            }
        }
    }
    Ok(Directive::Drive(n, settings))
}

fn slot(args: &[&str]) -> Result<Directive, String> {
    let (n, rest) = index(args, "slot")?;
    if n == 0 {
        return Err("slots are numbered from 1".into());
    }
    let mut address = None;
    for arg in &rest {
        match key_value(arg) {
            Some(("address", value)) => address = Some(number(value, "address")?),
            _ => return Err(format!("unexpected `{arg}` (expected address=A)")),
        }
    }
    let address = address.ok_or("`slot N` needs address=A")?;
    Ok(Directive::Slot(n, address))
}

fn addresses(args: &[&str]) -> Result<Directive, String> {
    let mut bases = Bases::default();
    for arg in args {
        let (key, value) =
            key_value(arg).ok_or_else(|| format!("expected key=value, found `{arg}`"))?;
        let value = Some(number(value, key)?);
        match key {
            "transport" => bases.transport = value,
            "drive" => bases.drive = value,
            "storage" => bases.storage = value,
            "ie" => bases.import_export = value,
            _ => {
                return Err(format!(
                    "unknown key `{key}` (expected transport, drive, storage, ie)"
                ));
            }
        }
    }
    Ok(Directive::Addresses(bases))
}

fn state(args: &[&str]) -> Result<Directive, String> {
    match args.split_first() {
        Some((&"drive", rest)) => {
            let (index, rest) = self::index(rest, "drive")?;
            let mut unloaded = false;
            let mut becoming_ready = 0;
            for arg in &rest {
                match key_value(arg) {
                    None if arg == "unloaded" => unloaded = true,
                    Some(("becoming-ready", n)) => becoming_ready = number(n, "becoming-ready")?,
                    _ => {
                        return Err(format!(
                            "unexpected `{arg}` (expected unloaded or becoming-ready=N)"
                        ));
                    }
                }
            }
            Ok(Directive::State(StateLine::Drive {
                index,
                unloaded,
                becoming_ready,
            }))
        }
        Some((&"slot", rest)) => {
            let (slot, rest) = index(rest, "slot")?;
            match rest.as_slice() {
                [arg] => match key_value(arg) {
                    Some(("source", n)) => Ok(Directive::State(StateLine::SlotSource {
                        slot,
                        source: number(n, "source")?,
                    })),
                    _ => Err(format!("unexpected `{arg}` (expected source=M)")),
                },
                _ => Err("`state slot N` needs exactly source=M".into()),
            }
        }
        _ => Err("`state` needs `drive N …` or `slot N source=M`".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_groups_quoted_values_and_unescapes() {
        let cases: &[(&str, &[&str])] = &[
            ("a b  c", &["a", "b", "c"]),
            (
                r#"product="MSL G3 Series" x"#,
                &["product=MSL G3 Series", "x"],
            ),
            (r#"v="a\"b\\c""#, &["v=a\"b\\c"]),
            (r#"e="""#, &["e="]),
            ("", &[]),
        ];
        for (text, want) in cases {
            assert_eq!(tokenize(text).unwrap(), *want, "{text}");
        }
        assert!(tokenize(r#"a="open"#).is_err());
    }

    #[test]
    fn lines_classify() {
        let cases: &[(&str, Directive)] = &[
            ("# just a note", Directive::Comment),
            ("#sims are fun", Directive::Comment),
            ("# sim: slot 3 address=2000", Directive::Slot(3, 2000)),
            (
                "# sim: not-installed storage address=1002 address=1005",
                Directive::NotInstalled(ElementKind::Storage, vec![1002, 1005]),
            ),
            (
                "# sim: strict-addresses asc=24",
                Directive::StrictAddresses(StrictAnswer::InvalidFieldInCdb),
            ),
            ("# sim: move-delay ms=250", Directive::MoveDelay(250)),
            (
                "#sim: addresses storage=10 ie=5",
                Directive::Addresses(Bases {
                    storage: Some(10),
                    import_export: Some(5),
                    ..Bases::default()
                }),
            ),
            (
                "# sim: state drive 1 unloaded becoming-ready=2",
                Directive::State(StateLine::Drive {
                    index: 1,
                    unloaded: true,
                    becoming_ready: 2,
                }),
            ),
            (
                "# sim: state slot 4 source=7",
                Directive::State(StateLine::SlotSource { slot: 4, source: 7 }),
            ),
            (
                "# sim: fault unit-attention count=3",
                Directive::Fault(Fault::UnitAttention { count: 3 }),
            ),
        ];
        for (line, want) in cases {
            assert_eq!(parse_line(line).as_ref(), Ok(want), "{line}");
        }
    }

    #[test]
    fn drive_line_collects_identity_paths_and_address() {
        let d = parse_line(r#"# sim: drive 2 vendor=HP product="Ultrium 6-SCSI" serial=X1 path=/dev/a path=/dev/b address=600"#)
            .unwrap();
        let Directive::Drive(2, s) = d else {
            panic!("{d:?}")
        };
        assert_eq!(s.identity.vendor.as_deref(), Some("HP"));
        assert_eq!(s.identity.product.as_deref(), Some("Ultrium 6-SCSI"));
        assert_eq!(s.identity.serial.as_deref(), Some("X1"));
        assert_eq!(
            s.paths,
            vec![PathBuf::from("/dev/a"), PathBuf::from("/dev/b")]
        );
        assert_eq!(s.address, Some(600));
    }

    #[test]
    fn malformed_lines_say_what_is_wrong() {
        let cases: &[(&str, &str)] = &[
            ("# sim:", "empty"),
            ("# sim: robot x=1", "unknown `# sim:` directive `robot`"),
            (
                "# sim: changer vendor=TOOLONGVENDOR",
                "longer than the 8 bytes",
            ),
            ("# sim: changer colour=red", "unknown key `colour`"),
            ("# sim: drives serial=X", "unknown key `serial`"),
            ("# sim: drive x", "not a valid number"),
            ("# sim: drive 0 speed", "expected key=value"),
            ("# sim: slot 0 address=1", "numbered from 1"),
            ("# sim: slot 2", "needs address"),
            ("# sim: addresses storage=70000", "not a valid number"),
            ("# sim: fault", "needs a name"),
            ("# sim: fault gremlins", "unknown fault `gremlins`"),
            ("# sim: state drive 0 sleepy", "unexpected `sleepy`"),
            ("# sim: changer product=\"open", "not closed"),
        ];
        for (line, want) in cases {
            let err = parse_line(line).unwrap_err();
            assert!(err.contains(want), "{line}: {err}");
        }
    }
}
