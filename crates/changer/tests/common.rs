//! Helpers shared by the `changer` integration tests: a simulated library in a temp dir and
//! a way to run the real binary against it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A simulated library file with its own config and lock directory.
pub struct Lib {
    pub dir: tempfile::TempDir,
    pub file: PathBuf,
    pub config: PathBuf,
}

impl Lib {
    /// A library from `mtx status` text (plus `#` lines) and extra TOML config lines.
    pub fn new(status: &str, extra_config: &str) -> Lib {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("library.txt");
        std::fs::write(&file, status).unwrap();
        let config = dir.path().join("changer.toml");
        std::fs::write(
            &config,
            format!(
                "lock_dir = \"{}\"\nlog_file = \"{}\"\nlog_level = \"debug\"\n{extra_config}",
                dir.path().join("locks").display(),
                dir.path().join("changer.log").display()
            ),
        )
        .unwrap();
        Lib { dir, file, config }
    }

    /// `sim:<file>`.
    pub fn device(&self) -> String {
        format!("sim:{}", self.file.display())
    }

    /// Runs `changer <device> <args…>` (protocol mode).
    pub fn run(&self, args: &[&str]) -> Output {
        let mut all = vec![self.device()];
        all.extend(args.iter().map(|s| s.to_string()));
        self.command().args(&all).output().unwrap()
    }

    /// A `changer` command with this library's config.
    pub fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_changer"));
        // Direct mode, whatever daemon the host may run.
        c.env("CHANGER_CONFIG", &self.config)
            .env("CHANGER_SOCKET", self.dir.path().join("no-daemon.sock"))
            .env_remove("CHANGER_LOG");
        c
    }

    /// The library file now.
    pub fn text(&self) -> String {
        std::fs::read_to_string(&self.file).unwrap()
    }

    /// The log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("changer.log")).unwrap_or_default()
    }

    /// Lines of the library file that describe elements (no `#` lines).
    pub fn status_lines(&self) -> Vec<String> {
        self.text()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    }

    pub fn path(&self) -> &Path {
        &self.file
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn status(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Barcodes anywhere in the library (drives and slots), sorted: the multiset that must
/// survive any sequence of moves.
pub fn barcodes(status_text: &str) -> Vec<String> {
    let mut tags: Vec<String> = status_text
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains("Full"))
        .filter_map(|l| l.split("VolumeTag").nth(1))
        .map(|t| {
            t.trim_start_matches([' ', '='])
                .split(':')
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .collect();
    tags.sort();
    tags
}

/// A 2-drive, 6-slot, 2-I/E library with barcodes; drive 0 loaded from slot 2.
pub const TWO_DRIVES: &str = "  Storage Changer /dev/sg3:2 Drives, 8 Slots ( 2 Import/Export )
Data Transfer Element 0:Full (Storage Element 2 Loaded):VolumeTag = TAPE02L6
Data Transfer Element 1:Empty
      Storage Element 1:Full :VolumeTag=TAPE01L6
      Storage Element 2:Empty
      Storage Element 3:Full :VolumeTag=TAPE03L6
      Storage Element 4:Full :VolumeTag=TAPE04L6
      Storage Element 5:Empty
      Storage Element 6:Empty
      Storage Element 7 IMPORT/EXPORT:Full :VolumeTag=TAPE07L6
      Storage Element 8 IMPORT/EXPORT:Empty
";
