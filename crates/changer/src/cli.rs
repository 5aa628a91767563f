//! The human command line (clap). Protocol mode (contract C1) is parsed separately, in
//! [`crate::protocol`], because Bareos' argv is positional and must never see clap's exit 2.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Tape library control for Bareos and Bacula.
///
/// As Bareos' Changer Command:
///   changer [--config FILE] <changer-device> <loaded|load|unload|list|listall|slots|transfer> [slot] [archive-device] [drive-index]
///   (Changer Command = "/usr/bin/changer %c %o %S %a %d"; <changer-device> is /dev/sgN,
///   /dev/schN, a link to either, or sim:PATH)
///
/// When changerd answers on its socket (CHANGER_SOCKET, else the `socket` key) and owns the
/// library, commands go through it (same output); otherwise changer works directly.
///
/// For people: the subcommands below.
#[derive(Debug, Parser)]
#[command(name = "changer", version, about, long_about, verbatim_doc_comment)]
pub struct Cli {
    /// Configuration file [default: /etc/changer/changer.toml].
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "CHANGER_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug, -vvv trace).
    #[arg(long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: HumanCommand,
}

/// The human subcommands.
#[derive(Debug, Subcommand)]
pub enum HumanCommand {
    /// Show drives, slots and import/export slots with barcodes, drive serials and device nodes.
    Status(StatusArgs),
    /// Make the library re-scan its elements (INITIALIZE ELEMENT STATUS; can take minutes).
    Inventory(DeviceArgs),
    /// Move a cartridge: `changer move /dev/sg3 5 drive:0`, `… drive:0 5`, `… 5 12`.
    Move(MoveArgs),
    /// Find changers and drives and print ready-to-paste Bareos Autochanger and Device resources.
    Discover(DiscoverArgs),
    /// Check permissions, device types, drive mapping and iSCSI settings, and say what to fix.
    Doctor(DoctorArgs),
}

/// Selecting a library.
#[derive(Debug, Args)]
pub struct DeviceArgs {
    /// Changer device (/dev/sgN, /dev/schN, a link, or sim:PATH). Default: the only changer found.
    pub device: Option<String>,
}

/// `changer status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Print JSON (schema in docs/cli.md) instead of a table.
    #[arg(long, conflicts_with = "mtx")]
    pub json: bool,
    /// Print exactly what `mtx status` would print.
    #[arg(long)]
    pub mtx: bool,
}

/// `changer move`.
#[derive(Debug, Args)]
pub struct MoveArgs {
    /// Changer device.
    pub device: String,
    /// From: a slot number (`5`, `slot:5`) or a drive (`drive:0`, `d0`).
    pub from: String,
    /// To: a slot number or a drive.
    pub to: String,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `changer discover`.
#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// Print JSON instead of Bareos resources.
    #[arg(long)]
    pub json: bool,
    /// Path of the changer program in the printed Changer Command.
    #[arg(long, default_value = "/usr/bin/changer", value_name = "PATH")]
    pub program: String,
}

/// `changer doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub device: DeviceArgs,
    /// A Bareos (or Bacula) storage daemon configuration file or directory to check against the
    /// library (Drive Index ↔ Archive Device, Changer Command, Maximum Changer Wait).
    #[arg(long, value_name = "PATH")]
    pub bareos_config: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}
