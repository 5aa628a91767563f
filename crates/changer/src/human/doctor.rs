//! `changer doctor`: checks what usually goes wrong between Bareos and a tape library, and
//! says what to fix.

use std::path::{Path, PathBuf};

use serde::Serialize;

use scsi_changer::discovery::{Roots, bind_drives};

use crate::cli::DoctorArgs;
use crate::config::Config;
use crate::library::{Backend, Library};

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Fine.
    Ok,
    /// Works, but should be changed.
    Warn,
    /// Broken.
    Fail,
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// What was checked.
    pub check: String,
    /// The verdict.
    pub verdict: Verdict,
    /// What was found and, when not OK, what to do.
    pub detail: String,
}

fn finding(check: impl Into<String>, verdict: Verdict, detail: impl Into<String>) -> Finding {
    Finding {
        check: check.into(),
        verdict,
        detail: detail.into(),
    }
}

/// A `Device { … }` or `Autochanger { … }` resource of a Bareos/Bacula SD configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resource {
    /// `Device` or `Autochanger` (lower case).
    pub kind: String,
    /// Directives, keys lower-cased without blanks (`driveindex`), values unquoted.
    pub directives: Vec<(String, String)>,
    /// The file it was read from (empty when parsed from a string).
    pub file: PathBuf,
}

impl Resource {
    /// A directive's value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.directives
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads the resources of an SD configuration (a file, or every `*.conf` below a directory).
pub fn read_bareos_config(path: &Path) -> std::io::Result<Vec<Resource>> {
    let mut files = Vec::new();
    collect_conf_files(path, &mut files)?;
    let mut out = Vec::new();
    for f in files {
        out.extend(
            parse_resources(&std::fs::read_to_string(&f)?)
                .into_iter()
                .map(|r| Resource {
                    file: f.clone(),
                    ..r
                }),
        );
    }
    Ok(out)
}

fn collect_conf_files(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            if e.is_dir() || e.extension().is_some_and(|x| x == "conf") {
                collect_conf_files(&e, out)?;
            }
        }
    } else {
        out.push(path.to_owned());
    }
    Ok(())
}

/// Parses `Name { key = value … }` blocks (one directive per line or separated by `;`),
/// ignoring `#` comments; nested blocks are skipped.
pub fn parse_resources(text: &str) -> Vec<Resource> {
    let mut out = Vec::new();
    let mut current: Option<Resource> = None;
    let mut depth = 0usize;
    for raw in text.lines() {
        let line = raw.split('#').next().unwrap_or("").trim();
        for part in line.split(';') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            if let Some(head) = part.strip_suffix('{') {
                depth += 1;
                if depth == 1 {
                    current = Some(Resource {
                        kind: head.trim().to_lowercase(),
                        ..Resource::default()
                    });
                }
                continue;
            }
            if part == "}" {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    out.extend(current.take());
                }
                continue;
            }
            if depth == 1
                && let (Some(r), Some((k, v))) = (current.as_mut(), part.split_once('='))
            {
                let key: String = k
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect::<String>()
                    .to_lowercase();
                r.directives
                    .push((key, v.trim().trim_matches('"').to_owned()));
            }
        }
    }
    out
}

/// Runs every check on one library.
pub fn check(config: &Config, roots: &Roots, device: &str, bareos: Option<&Path>) -> Vec<Finding> {
    let mut out = vec![check_lock_dir(&config.lock_dir)];
    let mut lib = match Library::open(device, roots) {
        Ok(lib) => {
            out.push(finding(
                "open",
                Verdict::Ok,
                format!("{device} opens read-write"),
            ));
            lib
        }
        Err(e) => {
            out.push(finding("open", Verdict::Fail, e.to_string()));
            return out;
        }
    };
    if let Backend::Sg { sg, .. } = &lib.backend {
        if sg.as_os_str() != device {
            out.push(finding(
                "device node",
                Verdict::Ok,
                format!("{device} is used through {}", sg.display()),
            ));
        }
        check_iscsi(roots, sg, &mut out);
    }
    match lib.changer.inquiry() {
        Ok(i) if i.peripheral_device_type == 8 => {
            out.push(finding("device type", Verdict::Ok, format!("medium changer {} {} rev {}", i.vendor, i.product, i.revision)))
        }
        Ok(i) => out.push(finding(
            "device type",
            Verdict::Fail,
            format!("{device} is device type {:#04x}, not a medium changer (08h); `changer discover` lists the changers", i.peripheral_device_type),
        )),
        Err(e) => out.push(finding("device type", Verdict::Fail, e.to_string())),
    }
    let (page, inv) = match lib.changer.inventory(true) {
        Ok(v) => v,
        Err(e) => {
            out.push(finding("inventory", Verdict::Fail, e.to_string()));
            return out;
        }
    };
    let differences = inv.differences_from(&page);
    out.push(if differences.is_empty() {
        finding(
            "inventory",
            Verdict::Ok,
            format!(
                "{} drives, {} storage + {} import/export slots",
                inv.drives.len(),
                inv.storage.len(),
                inv.import_export.len()
            ),
        )
    } else {
        finding("inventory", Verdict::Warn, differences.join("; "))
    });
    let ids = lib.changer.drive_identifiers(&page).ok().flatten();
    let tapes = lib.tape_devices();
    let mut drive_devices: Vec<(u16, Option<String>, Option<PathBuf>)> = Vec::new();
    match &ids {
        None => out.push(finding(
            "drive mapping",
            if config.effective(device, None).drives.is_empty() { Verdict::Warn } else { Verdict::Ok },
            "the changer reports no drive serial numbers (no DVCID): bind drives in the configuration with [[library.drive]] index/device",
        )),
        Some(ids) => {
            let bindings = bind_drives(ids, &tapes);
            for b in &bindings {
                let nst = b.device.as_ref().and_then(|(d, _)| d.nst.clone());
                drive_devices.push((b.index.0, b.changer_serial.clone(), nst.clone()));
                let sim = matches!(lib.backend, Backend::Sim(_));
                let (verdict, detail) = match (&b.changer_serial, &nst) {
                    (Some(s), Some(n)) => (Verdict::Ok, format!("drive {} (serial {s}) is {}", b.index, n.display())),
                    (Some(s), None) if sim => (Verdict::Ok, format!("drive {} (serial {s}) is /dev/nst{} in the simulator", b.index, b.index)),
                    (Some(s), None) => (Verdict::Fail, format!("drive {} (serial {s}) matches no tape device: log in its iSCSI target / load st", b.index)),
                    (None, _) => (Verdict::Warn, format!("drive {} reports no serial: bind it with [[library.drive]]", b.index)),
                };
                out.push(finding(format!("drive {}", b.index), verdict, detail));
            }
        }
    }
    if let Some(path) = bareos {
        check_bareos(path, &lib.name, &drive_devices, config, &mut out);
    }
    let serial = lib.serial().ok();
    if let Some(gateway) = config
        .library(device, serial.as_deref())
        .and_then(|l| l.gateway.as_ref())
    {
        out.push(check_gateway(config, device, serial, gateway));
    }
    if let Ok(modules) = std::fs::read_to_string("/proc/modules")
        && modules.lines().any(|l| l.starts_with("ch "))
    {
        let init = std::fs::read_to_string("/sys/module/ch/parameters/init").unwrap_or_default();
        if init.trim() == "1" || init.trim() == "Y" {
            out.push(finding("ch module", Verdict::Warn, "the ch driver runs INITIALIZE ELEMENT STATUS on every attach (init=1): a full barcode scan at each boot or iSCSI login; set `options ch init=0` in /etc/modprobe.d"));
        }
    }
    out
}

/// Who may take the libraries' locks: whoever may write `lock_dir` can hold a library's lock
/// forever and stop every backup.
pub fn check_lock_dir(dir: &Path) -> Finding {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    const FIX: &str = "make it root:changer 2770 (`chown root:changer DIR; chmod 2770 DIR`; \
         the package's tmpfiles.d entry does so at boot) and put Bareos' user in group changer";
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return finding(
                "lock directory",
                Verdict::Warn,
                format!(
                    "{} does not exist: the first changer creates it 2770 with its own group, \
                     which may lock other users out; {}",
                    dir.display(),
                    FIX.replace("DIR", &dir.display().to_string())
                ),
            );
        }
        Err(e) => {
            return finding(
                "lock directory",
                Verdict::Fail,
                format!("cannot read {}: {e}", dir.display()),
            );
        }
    };
    let mode = meta.permissions().mode() & 0o7777;
    let fix = FIX.replace("DIR", &dir.display().to_string());
    let group = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(meta.gid()))
        .ok()
        .flatten()
        .map_or_else(|| meta.gid().to_string(), |g| g.name);
    if !meta.is_dir() {
        finding(
            "lock directory",
            Verdict::Fail,
            format!("{} is not a directory", dir.display()),
        )
    } else if mode & 0o002 != 0 && mode & 0o1000 == 0 {
        finding(
            "lock directory",
            Verdict::Fail,
            format!(
                "{} is world-writable without the sticky bit (mode {mode:04o}): changer \
                 refuses it, since anybody could replace a lock file under its holder; {fix}",
                dir.display()
            ),
        )
    } else if mode & 0o002 != 0 {
        finding(
            "lock directory",
            Verdict::Warn,
            format!(
                "{} is world-writable (mode {mode:04o}): any local user can take a library's \
                 lock and hold it forever, stopping every backup; {fix}",
                dir.display()
            ),
        )
    } else {
        finding(
            "lock directory",
            Verdict::Ok,
            format!(
                "{} is mode {mode:04o}, group {group}: only its owner and that group can take a \
                 library's lock",
                dir.display()
            ),
        )
    }
}

/// The AWS gateway's health as the daemon sees it (only the daemon talks to AWS).
fn check_gateway(
    config: &Config,
    device: &str,
    serial: Option<String>,
    gateway: &crate::gateway::GatewayConfig,
) -> Finding {
    let library = changer_proto::LibraryRef {
        device: device.to_owned(),
        serial,
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = match super::daemon::status(config, library, deadline) {
        Ok(Some(s)) => s,
        Ok(None) | Err(_) => {
            return finding(
                "aws gateway",
                Verdict::Warn,
                "changerd does not serve this library: exports are refused (direct mode) and nothing follows archivals, retrievals or new tapes; start changerd",
            );
        }
    };
    let Some(health) = status.gateway else {
        return finding(
            "aws gateway",
            Verdict::Warn,
            "changerd serves this library without its [library.gateway] table: restart it with this configuration",
        );
    };
    let line = super::status::gateway_line(&health);
    let line = line.lines().next().unwrap_or("").to_owned();
    let verdict = match (
        health.connected,
        health.state.as_deref(),
        health.cache_dirty_percent,
        health.upload_buffer_used_percent,
    ) {
        (false, ..) => Verdict::Fail,
        (true, Some("RUNNING" | "STATE_RUNNING"), dirty, upload)
            if dirty.unwrap_or(0.0) <= gateway.max_cache_dirty_percent
                && upload.unwrap_or(0.0) <= gateway.max_upload_buffer_percent =>
        {
            Verdict::Ok
        }
        _ => Verdict::Warn,
    };
    let detail = match verdict {
        Verdict::Ok => line,
        _ => format!(
            "{line}: exports are refused until this clears (changer move --force overrides)"
        ),
    };
    finding("aws gateway", verdict, detail)
}

fn check_iscsi(roots: &Roots, sg: &Path, out: &mut Vec<Finding>) {
    let Some(name) = sg.file_name() else { return };
    let Ok(real) = std::fs::canonicalize(
        roots
            .sys
            .join("class/scsi_generic")
            .join(name)
            .join("device"),
    ) else {
        return;
    };
    let Some(session) = real.ancestors().find_map(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .filter(|n| n.starts_with("session"))
            .map(str::to_owned)
    }) else {
        return;
    };
    let tmo = std::fs::read_to_string(
        roots
            .sys
            .join("class/iscsi_session")
            .join(&session)
            .join("recovery_tmo"),
    )
    .ok();
    match tmo.as_deref().map(str::trim).and_then(|t| t.parse::<u64>().ok()) {
        Some(t) if t >= 600 => out.push(finding("iSCSI replacement_timeout", Verdict::Ok, format!("{session}: {t} s"))),
        Some(t) => out.push(finding(
            "iSCSI replacement_timeout",
            Verdict::Warn,
            format!("{session}: {t} s; AWS recommends 600 for the tape gateway (node.session.timeo.replacement_timeout = 600 in iscsid.conf before discovery), or a gateway stall fails running jobs"),
        )),
        None => {}
    }
}

fn check_bareos(
    path: &Path,
    changer: &str,
    drives: &[(u16, Option<String>, Option<PathBuf>)],
    config: &Config,
    out: &mut Vec<Finding>,
) {
    let resources = match read_bareos_config(path) {
        Ok(r) => r,
        Err(e) => {
            out.push(finding(
                "bareos config",
                Verdict::Fail,
                format!("cannot read {}: {e}", path.display()),
            ));
            return;
        }
    };
    for r in resources.iter().filter(|r| r.kind == "autochanger") {
        let name = r.get("name").unwrap_or("?");
        match r.get("changercommand") {
            Some(c) if c.contains("%c %o %S %a %d") => out.push(finding(
                format!("Autochanger {name}"),
                Verdict::Ok,
                format!("Changer Command = \"{c}\""),
            )),
            Some(c) => out.push(finding(
                format!("Autochanger {name}"),
                Verdict::Warn,
                format!("Changer Command = \"{c}\": expected \"/usr/bin/changer %c %o %S %a %d\""),
            )),
            None => {}
        }
    }
    for r in resources.iter().filter(|r| r.kind == "device") {
        let name = r.get("name").unwrap_or("?").to_owned();
        let Some(archive) = r.get("archivedevice") else {
            continue;
        };
        let index: u16 = r
            .get("driveindex")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let real = std::fs::canonicalize(archive).ok();
        let actual = drives.iter().find(|(_, _, nst)| {
            nst.is_some()
                && nst.as_ref().and_then(|n| std::fs::canonicalize(n).ok()) == real
                && real.is_some()
        });
        let check = format!("Device {name}");
        match actual {
            Some((i, _, _)) if *i == index => out.push(finding(check, Verdict::Ok, format!("Drive Index {index} = {archive}"))),
            Some((i, _, _)) => out.push(finding(check, Verdict::Fail, format!("Archive Device {archive} is drive {i} of {changer}, but Drive Index = {index}: set Drive Index = {i}"))),
            None => out.push(finding(check, Verdict::Warn, format!("Archive Device {archive} is not a drive of {changer} that sysfs maps by serial"))),
        }
    }
    let ours = config.effective(changer, None).max_changer_wait.as_secs();
    let members = autochanger_devices(&resources);
    for r in resources.iter().filter(|r| r.kind == "device") {
        let name = r.get("name").unwrap_or("?");
        if members.contains(&name) {
            out.push(check_wait(r, name, ours));
        }
    }
}

/// Bareos' default Maximum Changer Wait, seconds.
const BAREOS_MAX_CHANGER_WAIT: u64 = 300;

/// Names of the Devices that run changer commands: listed by an Autochanger resource, or
/// marked `Autochanger = yes`.
fn autochanger_devices(resources: &[Resource]) -> Vec<&str> {
    let mut names: Vec<&str> = resources
        .iter()
        .filter(|r| r.kind == "autochanger")
        .flat_map(|r| r.directives.iter().filter(|(k, _)| k == "device"))
        .flat_map(|(_, v)| v.split(','))
        .map(|n| n.trim().trim_matches('"'))
        .collect();
    for r in resources.iter().filter(|r| r.kind == "device") {
        let marked = r.get("autochanger").is_some_and(|v| {
            matches!(v.to_ascii_lowercase().as_str(), "yes" | "true" | "on" | "1")
        });
        if marked && let Some(name) = r.get("name") {
            names.push(name);
        }
    }
    names
}

/// Maximum Changer Wait of one Device against changer's `max_changer_wait` (`ours`, seconds).
/// Bareos stops the changer command when its wait runs out (SIGTERM, SIGKILL 5 s later), and
/// changer plans its moves by its own budget: the two must agree.
fn check_wait(r: &Resource, name: &str, ours: u64) -> Finding {
    let check = format!("Device {name} wait");
    let place = format!("{}, Device {name}", r.file.display());
    let (text, theirs) = match r.get("maximumchangerwait") {
        Some(v) => match parse_bareos_time(v) {
            Some(secs) => (format!("Maximum Changer Wait = {v} ({secs} s)"), secs),
            None => {
                return finding(
                    check,
                    Verdict::Warn,
                    format!(
                        "{place}: cannot read Maximum Changer Wait = {v}; write it in seconds (e.g. 300) or as \"5 minutes\""
                    ),
                );
            }
        },
        None => (
            format!("Maximum Changer Wait not set (Bareos' default {BAREOS_MAX_CHANGER_WAIT} s)"),
            BAREOS_MAX_CHANGER_WAIT,
        ),
    };
    if theirs == ours {
        return finding(
            check,
            Verdict::Ok,
            format!("{place}: {text} = changer's max_changer_wait"),
        );
    }
    let consequence = if theirs < ours {
        "Bareos stops the changer command first, possibly in the middle of a move changer started believing it had time"
    } else {
        "changer gives up before Bareos would, and refuses moves Bareos is still willing to wait for"
    };
    finding(
        check,
        Verdict::Warn,
        format!(
            "{place}: {text} differs from changer's max_changer_wait = {ours} s: {consequence}; set max_changer_wait = {theirs} in changer's configuration (or Maximum Changer Wait = {ours} in {place})"
        ),
    )
}

/// Seconds of a Bareos time value, read as Bareos reads it (`DurationToUtime`): a sequence of
/// numbers, each followed by an optional modifier — none for seconds, else a case-insensitive
/// prefix of the first fitting word of `n` (minutes), `seconds`, `months`, `minutes`, `mins`,
/// `hours`, `days`, `weeks`, `quarters`, `years` (so `m` is months, `min` minutes):
/// `300`, `300 s`, `5 minutes`, `1 hour 30 min`.
pub fn parse_bareos_time(value: &str) -> Option<u64> {
    const MODIFIERS: [(&str, f64); 10] = [
        ("n", 60.0),
        ("seconds", 1.0),
        ("months", 2_592_000.0),
        ("minutes", 60.0),
        ("mins", 60.0),
        ("hours", 3600.0),
        ("days", 86_400.0),
        ("weeks", 604_800.0),
        ("quarters", 7_862_400.0),
        ("years", 31_536_000.0),
    ];
    let mut rest = value.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0u64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = rest[number_len..].trim_start();
        let word_len = rest
            .find(|c: char| c.is_ascii_digit() || c.is_whitespace())
            .unwrap_or(rest.len());
        let word = &rest[..word_len];
        let factor = if word.is_empty() {
            1.0
        } else {
            MODIFIERS
                .iter()
                .find(|(m, _)| m.len() >= word.len() && m[..word.len()].eq_ignore_ascii_case(word))?
                .1
        };
        total = total.saturating_add((number * factor) as u64);
        rest = rest[word_len..].trim_start();
    }
    Some(total)
}

/// Runs `changer doctor`.
pub fn run(config: &Config, roots: &Roots, args: DoctorArgs) -> anyhow::Result<i32> {
    let device = super::default_device(config, roots, args.device.device)?;
    let findings = check(config, roots, &device, args.bareos_config.as_deref());
    let failed = findings.iter().any(|f| f.verdict == Verdict::Fail);
    if args.json {
        crate::say!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"type": "doctor", "version": 1, "data": findings})
            )?
        );
    } else {
        for f in &findings {
            let mark = match f.verdict {
                Verdict::Ok => "ok  ",
                Verdict::Warn => "WARN",
                Verdict::Fail => "FAIL",
            };
            crate::say!("{mark} {:<28} {}", f.check, f.detail);
        }
    }
    Ok(i32::from(failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_world_writable_lock_dir_is_warned_about() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let set = |m| {
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(m)).unwrap();
            check_lock_dir(dir.path())
        };
        let f = set(0o1777);
        assert_eq!(f.verdict, Verdict::Warn, "{f:?}");
        assert!(
            f.detail.contains("any local user") && f.detail.contains("2770"),
            "{f:?}"
        );
        let f = set(0o777);
        assert_eq!(f.verdict, Verdict::Fail, "{f:?}");
        let f = set(0o2770);
        assert_eq!(f.verdict, Verdict::Ok, "{f:?}");
        let f = check_lock_dir(&dir.path().join("missing"));
        assert_eq!(f.verdict, Verdict::Warn, "{f:?}");
    }

    #[test]
    fn parses_sd_resources() {
        let text = r#"
Autochanger {
  Name = "lib"; Changer Device = /dev/sg3
  Changer Command = "/usr/bin/changer %c %o %S %a %d"   # ours
  Device = d0
}
Device {
  Name = d0
  DriveIndex = 1
  Archive Device = "/dev/nst0"
  Maximum Changer Wait = 5 minutes
}
"#;
        let r = parse_resources(text);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].get("changerdevice"), Some("/dev/sg3"));
        assert_eq!(r[1].get("driveindex"), Some("1"));
        assert_eq!(r[1].get("archivedevice"), Some("/dev/nst0"));
        assert_eq!(
            parse_bareos_time(r[1].get("maximumchangerwait").unwrap()),
            Some(300)
        );
    }

    #[test]
    fn bareos_time_units() {
        for (text, secs) in [
            ("300", Some(300)),
            ("300 s", Some(300)),
            ("300s", Some(300)),
            ("15 minutes", Some(900)),
            ("5 min", Some(300)),
            ("5 Mins", Some(300)),
            ("2n", Some(120)),
            ("1 hour", Some(3600)),
            ("1 hour 30 min", Some(5400)),
            ("1h30min", Some(5400)),
            ("1.5 hours", Some(5400)),
            ("1 m", Some(2_592_000)), // months, as Bareos reads it
            ("1 day", Some(86_400)),
            ("x", None),
            ("", None),
            ("5 parsecs", None),
            ("5 secondsx", None),
        ] {
            assert_eq!(parse_bareos_time(text), secs, "{text}");
        }
    }
}
