//! Configuration (contract C6): TOML at `/etc/changer/changer.toml`, or `--config`, or
//! `CHANGER_CONFIG`; no file means defaults. Keys are documented in docs/config.md and in
//! packaging/changer.toml. An existing `mtx-changer.conf` is honoured when `mtx_changer_conf`
//! names it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Default configuration file.
pub const DEFAULT_PATH: &str = "/etc/changer/changer.toml";

/// The whole file.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Seconds every command must end within: Bareos' `Maximum Changer Wait` (default 300).
    pub max_changer_wait: u64,
    /// Directory of the per-library lock files (0660, opened without following links). It
    /// should be `root:changer 2770` (packaging/tmpfiles.d/changer.conf): whoever may write it
    /// can hold a library's lock. A world-writable one without the sticky bit is refused.
    pub lock_dir: PathBuf,
    /// Log file for every invocation and its SCSI commands; none means no log.
    pub log_file: Option<PathBuf>,
    /// Log level: error, warn, info, debug, trace (or a tracing filter).
    pub log_level: String,
    /// Also log to the systemd journal (when its socket exists).
    pub log_journal: bool,
    /// The daemon's socket (contract C5); `CHANGER_SOCKET` overrides it.
    pub socket: PathBuf,
    /// Group that owns the daemon's socket (mode 0660): `changer` (the package's group, with
    /// Bareos' user in it), or `bareos`/`bacula`. None keeps the daemon's own group.
    pub socket_group: Option<String>,
    /// Where the daemon keeps its move journals (`<serial>.journal`).
    pub state_dir: PathBuf,
    /// Prometheus metrics endpoint of the daemon: a Unix socket path or `127.0.0.1:PORT`;
    /// none (the default) serves no metrics.
    pub metrics: Option<String>,
    /// An mtx-changer.conf whose settings (offline, offline_sleep, load_sleep, inventory,
    /// max_wait_drive, debug_log) apply to every library.
    pub mtx_changer_conf: Option<PathBuf>,
    /// Settings for every library unless a `[[library]]` entry says otherwise.
    pub defaults: LibrarySettings,
    /// Per-library settings, matched by changer device path or serial number.
    #[serde(rename = "library")]
    pub libraries: Vec<LibraryConfig>,
    /// SCSI command timeouts in seconds.
    pub timeouts: TimeoutConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_changer_wait: 300,
            lock_dir: PathBuf::from("/run/lock/changer"),
            log_file: None,
            log_level: "info".into(),
            log_journal: false,
            socket: PathBuf::from("/run/changer/changer.sock"),
            socket_group: None,
            state_dir: PathBuf::from("/var/lib/changer"),
            metrics: None,
            mtx_changer_conf: None,
            defaults: LibrarySettings::default(),
            libraries: Vec::new(),
            timeouts: TimeoutConfig::default(),
        }
    }
}

/// Behaviour of moves on one library.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LibrarySettings {
    /// Eject the tape (SCSI LOAD UNLOAD on the drive) before moving it out (mtx-changer `offline`).
    pub offline: Option<bool>,
    /// Seconds to wait after the eject (mtx-changer `offline_sleep`).
    pub offline_sleep: Option<u64>,
    /// Seconds to wait after a load before polling the drive (mtx-changer `load_sleep`).
    pub load_sleep: Option<u64>,
    /// Run INITIALIZE ELEMENT STATUS before `list`/`listall` (mtx-changer `inventory`).
    pub inventory: Option<bool>,
    /// Longest wait for a loaded drive to become ready, seconds (mtx-changer `max_wait_drive`);
    /// clamped to fit inside `max_changer_wait`.
    pub max_wait_drive: Option<u64>,
    /// How the daemon answers reads: `exclusive` (from its cache, no SCSI command) or `shared`.
    pub cache: Option<crate::cache::CacheMode>,
    /// Seconds after which the daemon reads the library again although nothing told it to.
    pub cache_max_age: Option<u64>,
}

/// One `[[library]]` table.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LibraryConfig {
    /// Changer device path as Bareos passes it (`/dev/tape/by-id/…`, `sim:/path`).
    pub device: Option<String>,
    /// Changer serial number (VPD page 80h), an alternative to `device`.
    pub serial: Option<String>,
    /// Settings overriding `[defaults]`.
    #[serde(flatten)]
    pub settings: LibrarySettings,
    /// Drive bindings for drives that report no serial number (contract C4).
    #[serde(rename = "drive")]
    pub drives: Vec<DriveBinding>,
    /// The AWS Storage Gateway behind this library (contract C7): moves into its
    /// import/export slots are archivals.
    pub gateway: Option<crate::gateway::GatewayConfig>,
    /// Which archivals are allowed.
    pub export: crate::gateway::ExportConfig,
    /// Low-water marks of writable tapes, per barcode prefix.
    pub new_tapes: Vec<crate::gateway::NewTapesRule>,
}

/// `[[library.drive]]`: drive index → archive device, for libraries without DVCID.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DriveBinding {
    /// Drive index (Bareos `Drive Index`).
    pub index: u16,
    /// The archive device of that drive.
    pub device: PathBuf,
}

/// `[timeouts]`, seconds.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutConfig {
    /// INQUIRY, MODE SENSE, TEST UNIT READY.
    pub query: u64,
    /// One READ ELEMENT STATUS request.
    pub read_element_status: u64,
    /// MOVE MEDIUM.
    pub moves: u64,
    /// INITIALIZE ELEMENT STATUS.
    pub initialize: u64,
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        TimeoutConfig {
            query: 60,
            read_element_status: 120,
            moves: 900,
            initialize: 3600,
        }
    }
}

/// The settings in force for one library, with every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Effective {
    /// Eject before moving out of a drive.
    pub offline: bool,
    /// Pause after the eject.
    pub offline_sleep: Duration,
    /// Pause after a load.
    pub load_sleep: Duration,
    /// INITIALIZE ELEMENT STATUS before list/listall.
    pub inventory: bool,
    /// Longest readiness wait after a load.
    pub max_wait_drive: Duration,
    /// Every command ends within this.
    pub max_changer_wait: Duration,
    /// Drive bindings from the config.
    pub drives: Vec<DriveBinding>,
    /// Where the log goes, if anywhere.
    pub log_file: Option<PathBuf>,
    /// The daemon's cache mode.
    pub cache: crate::cache::CacheMode,
    /// The daemon's cache lifetime.
    pub cache_max_age: Duration,
}

/// A configuration problem, with the file and what to change.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TOML is wrong.
    #[error("configuration {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// Loads `path`, or the default file when `path` is `None` (missing default = defaults).
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let (path, required) = match path {
            Some(p) => (p.to_owned(), true),
            None => (PathBuf::from(DEFAULT_PATH), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Config::default());
            }
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        let mut config: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if let Some(conf) = config.mtx_changer_conf.clone() {
            let text = std::fs::read_to_string(&conf).map_err(|source| ConfigError::Read {
                path: conf.clone(),
                source,
            })?;
            let from_script = parse_mtx_changer_conf(&text);
            config.defaults = from_script.merged_under(&config.defaults);
            if from_script.debug_log == Some(true) && config.log_file.is_none() {
                config.log_file = Some(PathBuf::from("/var/log/bareos/changer.log"));
            }
        }
        Ok(config)
    }

    /// The library entry for a changer device (by path as given) or serial.
    pub fn library(&self, device: &str, serial: Option<&str>) -> Option<&LibraryConfig> {
        self.libraries.iter().find(|l| {
            l.device.as_deref() == Some(device)
                || (serial.is_some() && l.serial.as_deref() == serial)
        })
    }

    /// The settings in force for a library.
    pub fn effective(&self, device: &str, serial: Option<&str>) -> Effective {
        let lib = self.library(device, serial);
        let pick = |f: fn(&LibrarySettings) -> Option<u64>| {
            lib.and_then(|l| f(&l.settings)).or(f(&self.defaults))
        };
        let flag = |f: fn(&LibrarySettings) -> Option<bool>| {
            lib.and_then(|l| f(&l.settings))
                .or(f(&self.defaults))
                .unwrap_or(false)
        };
        let max_changer_wait = Duration::from_secs(self.max_changer_wait.max(1));
        // The readiness wait must leave room for the move and the answer (C6).
        let ceiling = max_changer_wait
            .saturating_sub(Duration::from_secs(10))
            .max(Duration::from_secs(1));
        let max_wait_drive =
            Duration::from_secs(pick(|s| s.max_wait_drive).unwrap_or(300)).min(ceiling);
        Effective {
            offline: flag(|s| s.offline),
            offline_sleep: Duration::from_secs(pick(|s| s.offline_sleep).unwrap_or(0)),
            load_sleep: Duration::from_secs(pick(|s| s.load_sleep).unwrap_or(0)),
            inventory: flag(|s| s.inventory),
            max_wait_drive,
            max_changer_wait,
            drives: lib.map(|l| l.drives.clone()).unwrap_or_default(),
            log_file: self.log_file.clone(),
            cache: lib
                .and_then(|l| l.settings.cache)
                .or(self.defaults.cache)
                .unwrap_or_default(),
            cache_max_age: Duration::from_secs(pick(|s| s.cache_max_age).unwrap_or(3600)),
        }
    }

    /// SCSI timeouts for the driver.
    pub fn scsi_timeouts(&self) -> scsi_changer::changer::Timeouts {
        let s = Duration::from_secs;
        scsi_changer::changer::Timeouts {
            query: s(self.timeouts.query),
            read_element_status: s(self.timeouts.read_element_status),
            moves: s(self.timeouts.moves),
            initialize: s(self.timeouts.initialize),
        }
    }
}

/// Settings read from an mtx-changer.conf.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MtxChangerConf {
    /// `offline`.
    pub offline: Option<bool>,
    /// `offline_sleep`.
    pub offline_sleep: Option<u64>,
    /// `load_sleep`.
    pub load_sleep: Option<u64>,
    /// `inventory`.
    pub inventory: Option<bool>,
    /// `max_wait_drive`.
    pub max_wait_drive: Option<u64>,
    /// `debug_log`.
    pub debug_log: Option<bool>,
}

impl MtxChangerConf {
    /// These values under the explicit TOML ones (TOML wins).
    fn merged_under(&self, toml: &LibrarySettings) -> LibrarySettings {
        LibrarySettings {
            offline: toml.offline.or(self.offline),
            offline_sleep: toml.offline_sleep.or(self.offline_sleep),
            load_sleep: toml.load_sleep.or(self.load_sleep),
            inventory: toml.inventory.or(self.inventory),
            max_wait_drive: toml.max_wait_drive.or(self.max_wait_drive),
            ..toml.clone()
        }
    }
}

/// Reads the `name=value` assignments of an mtx-changer.conf. The file is shell code; only
/// plain top-level assignments of the known keys are taken, the rest (OS detection, `ready`)
/// does not apply to a program that asks the drive itself.
pub fn parse_mtx_changer_conf(text: &str) -> MtxChangerConf {
    let mut conf = MtxChangerConf::default();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value
            .split('#')
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches(['"', '\'']);
        let Ok(number) = value.parse::<u64>() else {
            continue;
        };
        match key.trim() {
            "offline" => conf.offline = Some(number != 0),
            "offline_sleep" => conf.offline_sleep = Some(number),
            "load_sleep" => conf.load_sleep = Some(number),
            "inventory" => conf.inventory = Some(number != 0),
            "max_wait_drive" => conf.max_wait_drive = Some(number),
            "debug_log" => conf.debug_log = Some(number != 0),
            _ => {}
        }
    }
    conf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mtx_changer_conf_keys_are_read_and_the_rest_ignored() {
        let text = "#\n# comment offline=1\noffline=1\noffline_sleep=4  # seconds\nload_sleep=0\ninventory=1\n\
                    debug_log=1\n# max_wait_drive=300\nmax_wait_drive=600\nOS=`uname`\nready=\"ONLINE\"\n";
        let c = parse_mtx_changer_conf(text);
        assert_eq!(
            c,
            MtxChangerConf {
                offline: Some(true),
                offline_sleep: Some(4),
                load_sleep: Some(0),
                inventory: Some(true),
                max_wait_drive: Some(600),
                debug_log: Some(true)
            }
        );
    }

    #[test]
    fn max_wait_drive_is_clamped_inside_max_changer_wait() {
        let config: Config =
            toml::from_str("max_changer_wait = 120\n[defaults]\nmax_wait_drive = 600\n").unwrap();
        assert_eq!(
            config.effective("/dev/sg3", None).max_wait_drive,
            Duration::from_secs(110)
        );
    }

    #[test]
    fn library_entry_overrides_defaults_by_device_or_serial() {
        let config: Config = toml::from_str(
            "[defaults]\noffline = false\n[[library]]\nserial = \"LIB1\"\noffline = true\n\
             [[library.drive]]\nindex = 0\ndevice = \"/dev/nst3\"\n",
        )
        .unwrap();
        assert!(!config.effective("/dev/sg3", Some("OTHER")).offline);
        let e = config.effective("/dev/sg3", Some("LIB1"));
        assert!(e.offline);
        assert_eq!(
            e.drives,
            vec![DriveBinding {
                index: 0,
                device: "/dev/nst3".into()
            }]
        );
    }

    #[test]
    fn the_commented_default_file_parses_with_every_key_uncommented() {
        let text = include_str!("../../../packaging/changer.toml");
        let uncommented: String = text
            .lines()
            .map(|l| match l.strip_prefix('#') {
                Some(rest) if rest.starts_with(|c: char| c.is_ascii_lowercase() || c == '[') => {
                    rest
                }
                _ => l,
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let config: Config = toml::from_str(&uncommented).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.socket_group.as_deref(), Some("changer"));
        assert_eq!(
            config.defaults.cache,
            Some(crate::cache::CacheMode::Exclusive)
        );
        assert_eq!(config.libraries.len(), 1);
        let library = &config.libraries[0];
        assert!(library.gateway.as_ref().is_some_and(|g| g.import));
        assert_eq!(library.export.policy, crate::gateway::ExportPolicy::Deny);
        assert_eq!(library.new_tapes.len(), 1);
        assert!(library.new_tapes[0].check().is_ok());
    }

    /// The keys of every table of the file, by table, from the structs themselves.
    fn struct_keys() -> Vec<(&'static str, Vec<String>)> {
        let full: Config = toml::from_str(
            "[[library]]\ndevice = \"/dev/sg3\"\n[[library.drive]]\nindex = 0\ndevice = \"/dev/nst0\"\n\
             [library.gateway]\ngateway_arn = \"arn\"\nregion = \"r\"\n\
             [[library.new_tapes]]\nbarcode_prefix = \"A\"\nmin_available = 1\n",
        )
        .unwrap();
        let v = serde_json::to_value(&full).unwrap();
        let keys = |v: &serde_json::Value| -> Vec<String> {
            v.as_object().unwrap().keys().cloned().collect()
        };
        let library = &v["library"][0];
        vec![
            ("top level", keys(&v)),
            ("library settings", keys(&v["defaults"])),
            ("[[library]]", keys(library)),
            ("[[library.drive]]", keys(&library["drive"][0])),
            ("[timeouts]", keys(&v["timeouts"])),
            ("[library.gateway]", keys(&library["gateway"])),
            ("[library.export]", keys(&library["export"])),
            ("[[library.new_tapes]]", keys(&library["new_tapes"][0])),
        ]
    }

    /// docs/config.md is the reference: every key of every table has its row there, and every
    /// row names a key that exists, so the two cannot drift apart.
    #[test]
    fn the_configuration_reference_documents_every_key_and_no_other() {
        let doc = include_str!("../../../docs/config.md");
        let rows: std::collections::BTreeSet<String> = doc
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split_once('`'))
            .map(|(k, _)| k.trim_matches(['[', ']']).to_owned())
            .collect();
        let mut known = std::collections::BTreeSet::new();
        for (table, keys) in struct_keys() {
            for key in keys {
                assert!(
                    rows.contains(&key),
                    "{table} key `{key}` has no row in docs/config.md"
                );
                known.insert(key);
            }
        }
        for row in &rows {
            assert!(
                known.contains(row),
                "docs/config.md documents `{row}`, which no configuration table has"
            );
        }
    }

    #[test]
    fn unknown_keys_are_rejected_with_the_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "max_changer_wiat = 5\n").unwrap();
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(
            err.contains("c.toml") && err.contains("max_changer_wiat"),
            "{err}"
        );
    }

    #[test]
    fn missing_default_file_means_defaults_but_missing_named_file_is_an_error() {
        assert!(Config::load(Some(Path::new("/nonexistent/changer.toml"))).is_err());
        assert_eq!(Config::default().max_changer_wait, 300);
    }
}
