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
    /// AWS gateway libraries: every tape the gateway and the library know, with its status
    /// (AVAILABLE, IN TRANSIT TO VTS, ARCHIVED, …) and where it is.
    Tapes(TapesArgs),
    /// AWS gateway libraries: retrieve archived tapes; changerd imports them (read-only) into
    /// free storage slots when they arrive and runs the retrieved hook.
    Retrieve(RetrieveArgs),
    /// AWS gateway libraries: stop an archival while the tape is still IN TRANSIT TO VTS.
    CancelArchival(CancelArchivalArgs),
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
    /// Check the move without making it; into an import/export slot of an AWS gateway library,
    /// show the archival it would start and whether the export policy allows it.
    #[arg(long)]
    pub dry_run: bool,
    /// Export even when the gateway is unhealthy (not running, cache or upload buffer over
    /// their thresholds). The export policy still applies.
    #[arg(long)]
    pub force: bool,
}

/// `changer tapes`.
#[derive(Debug, Args)]
pub struct TapesArgs {
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Print a JSON array of tapes (barcode, status, location, pool, size_used_bytes).
    #[arg(long)]
    pub json: bool,
}

/// `changer retrieve`.
#[derive(Debug, Args)]
pub struct RetrieveArgs {
    /// Changer device.
    pub device: String,
    /// Barcodes of archived tapes.
    #[arg(required = true)]
    pub barcodes: Vec<String>,
    /// Wait up to this many seconds until every tape is retrieved (and imported, when the
    /// daemon imports): retrieval takes hours on AWS, seconds on the emulator.
    #[arg(long, value_name = "SECONDS")]
    pub wait: Option<u64>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `changer cancel-archival`.
#[derive(Debug, Args)]
pub struct CancelArchivalArgs {
    /// Changer device.
    pub device: String,
    /// The tape's barcode.
    pub barcode: String,
    /// Print JSON.
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
