//! Protocol mode (contract C1): `changer [--config FILE] <changer-device> <command> [slot]
//! [archive-device] [drive-index]`, as Bareos' `Changer Command = "changer %c %o %S %a %d"`
//! runs it. Output and exit status equal the stock mtx-changer script's, except for the
//! deliberate fixes listed in docs/compat-mtx-changer.md. Exit status is 0 or 1, never more;
//! nothing reaches stderr before the payload; output is written only once complete.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use scsi_changer::discovery::Roots;
use scsi_changer::{DriveIndex, SlotNumber};

use changer_proto::{BareosCommand, LibraryRef};

use crate::client::{self, Forwarded};
use crate::compat::{awk, mtx_text};
use crate::config::Config;
use crate::library::Library;
use crate::lock::{self, Mode};
use crate::ops::{Loaded, OpError, Session};
use crate::signals::Stop;

/// Time kept back from Maximum Changer Wait to print the answer and exit.
const ANSWER_MARGIN: Duration = Duration::from_secs(2);

/// The commands of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Which slot drive `$5` holds.
    Loaded,
    /// Slot `$3` → drive `$5`.
    Load,
    /// Drive `$5` → slot `$3`.
    Unload,
    /// Barcodes per slot.
    List,
    /// Full inventory.
    Listall,
    /// Number of slots.
    Slots,
    /// Slot `$3` → slot `$4`.
    Transfer,
}

impl Command {
    fn parse(word: &str) -> Option<Command> {
        Some(match word {
            "loaded" => Command::Loaded,
            "load" => Command::Load,
            "unload" => Command::Unload,
            "list" => Command::List,
            "listall" => Command::Listall,
            "slots" => Command::Slots,
            "transfer" => Command::Transfer,
            _ => return None,
        })
    }

    /// Arguments the stock script requires, changer device and command included.
    fn required_args(self) -> usize {
        match self {
            Command::List | Command::Listall | Command::Slots => 2,
            Command::Transfer => 4,
            _ => 5,
        }
    }

    fn moves(self) -> bool {
        matches!(self, Command::Load | Command::Unload | Command::Transfer)
    }
}

/// What the process prints and returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    /// Bytes for stdout.
    pub stdout: String,
    /// Bytes for stderr (only ever after stdout).
    pub stderr: String,
    /// 0 or 1.
    pub status: i32,
}

impl Answer {
    fn ok(stdout: String) -> Answer {
        Answer {
            stdout,
            stderr: String::new(),
            status: 0,
        }
    }
    fn fail_stdout(stdout: String) -> Answer {
        Answer {
            stdout,
            stderr: String::new(),
            status: 1,
        }
    }
    fn fail_stderr(stderr: String) -> Answer {
        Answer {
            stdout: String::new(),
            stderr,
            status: 1,
        }
    }
    /// A failure of `command`, on the one stream all of that command's errors use: stdout for
    /// `load` and `unload` (the stock script appends mtx's stderr to its stdout, and Bareos looks
    /// for "Source Element Address … is Empty" there), stderr for every other command (mtx's
    /// own errors; a read command's stdout stays empty so no partial answer is parsed).
    fn fail(command: Option<Command>, message: String) -> Answer {
        match command {
            Some(Command::Load | Command::Unload) => Answer::fail_stdout(message),
            _ => Answer::fail_stderr(message),
        }
    }
}

/// Runs protocol mode on `args` (everything after the program name) and writes the answer.
pub fn main(args: &[String], stop: Stop) -> i32 {
    let answer = run(args, &Roots::default(), stop);
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(answer.stdout.as_bytes());
    let _ = out.flush();
    if !answer.stderr.is_empty() {
        let _ = std::io::stderr().write_all(answer.stderr.as_bytes());
    }
    answer.status
}

/// Parses and executes one invocation.
pub fn run(args: &[String], roots: &Roots, stop: Stop) -> Answer {
    let started = Instant::now();
    let (config_path, positional) = match split_options(args) {
        Ok(v) => v,
        Err(message) => return Answer::fail(None, format!("ERROR: {message}\n")),
    };
    let Some(word) = positional.get(1) else {
        return Answer::fail(None, usage("Minimum usage is first two arguments ..."));
    };
    let Some(command) = Command::parse(word) else {
        // The stock script ignores unknown commands: no output, success.
        return Answer::ok(String::new());
    };
    if positional.len() < command.required_args() {
        return Answer::fail(
            Some(command),
            usage(&format!(
                "Command expected {} arguments",
                command.required_args()
            )),
        );
    }
    let config_path = config_path.or_else(|| std::env::var_os("CHANGER_CONFIG").map(PathBuf::from));
    let config = match Config::load(config_path.as_deref()) {
        Ok(c) => c,
        Err(e) => return Answer::fail(Some(command), format!("ERROR: {e}\n")),
    };
    let device = positional[0].as_str();
    crate::logging::for_protocol(&config);
    tracing::info!(args = ?positional, "invoked");
    let answer = execute(command, &positional, device, &config, roots, started, stop);
    tracing::info!(status = answer.status, stdout = %answer.stdout.trim_end(), stderr = %answer.stderr.trim_end(), elapsed = ?started.elapsed(), "answered");
    answer
}

fn usage(detail: &str) -> String {
    format!(
        "ERROR: usage: changer ctl-device command [slot archive-device drive-index]\n\tInsufficient number of arguments given.\n  {detail}\n"
    )
}

/// Splits leading `--config FILE` / `--config=FILE` from the positional arguments.
fn split_options(args: &[String]) -> Result<(Option<PathBuf>, Vec<String>), String> {
    let mut config = None;
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        if let Some(v) = arg.strip_prefix("--config=") {
            config = Some(PathBuf::from(v));
        } else if arg == "--config" || arg == "-c" {
            i += 1;
            config = Some(PathBuf::from(args.get(i).ok_or("--config needs a file")?));
        } else {
            break;
        }
        i += 1;
    }
    Ok((config, args[i..].to_vec()))
}

/// The typed command of an argument vector whose length was checked.
fn bareos_command(command: Command, args: &[String]) -> Result<BareosCommand, String> {
    let archive_device = || args.get(3).cloned().unwrap_or_default();
    Ok(match command {
        Command::Slots => BareosCommand::Slots,
        Command::List => BareosCommand::List,
        Command::Listall => BareosCommand::Listall,
        Command::Loaded => BareosCommand::Loaded {
            drive: parse_number(args, 4, "drive index")?,
            archive_device: archive_device(),
        },
        Command::Load => {
            let slot = parse_number(args, 2, "slot");
            let drive = parse_number(args, 4, "drive index");
            BareosCommand::Load {
                slot: slot?,
                drive: drive?,
                archive_device: archive_device(),
            }
        }
        Command::Unload => {
            let slot = parse_number(args, 2, "slot");
            let drive = parse_number(args, 4, "drive index");
            BareosCommand::Unload {
                slot: slot?,
                drive: drive?,
                archive_device: archive_device(),
            }
        }
        Command::Transfer => {
            let from = parse_number(args, 2, "source slot");
            let to = parse_number(args, 3, "destination slot");
            BareosCommand::Transfer {
                from: from?,
                to: to?,
            }
        }
    })
}

fn execute(
    command: Command,
    args: &[String],
    device: &str,
    config: &Config,
    roots: &Roots,
    started: Instant,
    stop: Stop,
) -> Answer {
    // Failures of read commands leave stdout empty (a partial or wrong answer is worse than
    // none; Bareos parses `loaded` output even on failure); load and unload put everything on
    // stdout like the script; transfer errors go to stderr like mtx's.
    let fail = |message: String| Answer::fail(Some(command), message);
    // The serial names the library to the daemon and keys the lock. A device this process
    // cannot open (the package gives the changer's sg node to the daemon) may still be the
    // daemon's: it is asked by name before the failure is reported.
    let typed = bareos_command(command, args);
    // The cheap way first: a real device's serial from sysfs, nothing opened, no SCSI command.
    let known = Library::cached_serial(device, roots);
    if let (Some(serial), Ok(typed)) = (&known, &typed) {
        let settings = config.effective(device, Some(serial));
        let deadline = started + settings.max_changer_wait.saturating_sub(ANSWER_MARGIN);
        let library = LibraryRef {
            device: device.to_owned(),
            serial: Some(serial.clone()),
        };
        match client::forward_bareos(config, library, typed, deadline) {
            Forwarded::Answered(answer) => return answer,
            Forwarded::Failed(message) => return fail(message),
            Forwarded::Direct => {}
        }
    }
    let mut opened = Library::open(device, roots).map_err(|e| format!("{e}\n"));
    let serial = match &mut opened {
        Ok(lib) => lock_key(lib, &stop, started + settings_wait(config, device)),
        Err(e) => Err(e.clone()),
    };
    let settings = config.effective(device, serial.as_ref().ok().map(String::as_str));
    let deadline = started + settings.max_changer_wait.saturating_sub(ANSWER_MARGIN);
    if let (Ok(typed), None) = (&typed, &known) {
        let library = LibraryRef {
            device: device.to_owned(),
            serial: serial.as_ref().ok().cloned(),
        };
        match client::forward_bareos(config, library, typed, deadline) {
            Forwarded::Answered(answer) => return answer,
            Forwarded::Failed(message) => return fail(message),
            Forwarded::Direct => {}
        }
    }
    let mut lib = match opened {
        Ok(lib) => lib,
        Err(e) => return fail(e),
    };
    let serial = match serial {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let typed = match typed {
        Ok(t) => t,
        Err(m) => return fail(m),
    };
    lib.changer.set_deadline(Some(deadline));
    lib.changer.set_timeouts(config.scsi_timeouts());
    let mode = if command.moves() {
        Mode::Exclusive
    } else {
        Mode::Shared
    };
    let _lock = match lock::acquire_unless(&config.lock_dir, &serial, mode, deadline, &|| {
        stop.requested()
    }) {
        Ok(l) => l,
        Err(e) => return fail(format!("{e}\n")),
    };
    if stop.requested() {
        return fail(format!(
            "stopped by {} before anything was done\n",
            stop.cause()
        ));
    }
    let export_guard = crate::gateway::direct_guard(config, device, Some(&serial));
    let mut session = Session {
        lib,
        settings,
        deadline,
        stop,
        cache: None,
        journal: None,
        export_guard,
    };
    answer(&mut session, &typed)
}

/// Runs one Changer Command on an open session and renders what the stock script would print.
/// Direct mode and `changerd` both answer through here, so Bareos sees the same bytes either
/// way.
pub fn answer(session: &mut Session, command: &BareosCommand) -> Answer {
    let kind = match command {
        BareosCommand::Loaded { .. } => Command::Loaded,
        BareosCommand::Load { .. } => Command::Load,
        BareosCommand::Unload { .. } => Command::Unload,
        BareosCommand::List => Command::List,
        BareosCommand::Listall => Command::Listall,
        BareosCommand::Slots => Command::Slots,
        BareosCommand::Transfer { .. } => Command::Transfer,
    };
    let fail = |message: String| Answer::fail(Some(kind), message);
    match command {
        BareosCommand::Slots => match session.slots() {
            Ok(n) => Answer::ok(format!("{n}\n")),
            Err(e) => fail(format!("{e}\n")),
        },
        BareosCommand::Loaded {
            drive,
            archive_device,
        } => {
            let drive = DriveIndex(*drive);
            match session.loaded(drive, Path::new(archive_device)) {
                Ok(Loaded::Empty) => Answer::ok("0\n".into()),
                Ok(Loaded::Slot(s)) => Answer::ok(format!("{s}\n")),
                Ok(Loaded::Unknown) => {
                    let tag = String::new();
                    fail(format!(
                        "{}\n",
                        OpError::HomeUnknown {
                            drive: drive.0,
                            tag
                        }
                    ))
                }
                Err(e) => fail(format!("{e}\n")),
            }
        }
        BareosCommand::List => match session.inventory() {
            Ok(snap) => Answer::ok(list(&snap.inv)),
            Err(e) => fail(format!("{e}\n")),
        },
        BareosCommand::Listall => match session.inventory() {
            Ok(snap) => Answer::ok(listall(&snap.inv)),
            Err(e) => fail(format!("{e}\n")),
        },
        BareosCommand::Load {
            slot,
            drive,
            archive_device,
        } => {
            let mut text = String::new();
            let result = session.load(
                SlotNumber(*slot),
                DriveIndex(*drive),
                Path::new(archive_device),
                &mut |p| text.push_str(p),
            );
            match result {
                Ok(()) => Answer::ok(format!("{text}done\n")),
                Err(e) => fail(format!("{text}{e}\n")),
            }
        }
        BareosCommand::Unload {
            slot,
            drive,
            archive_device,
        } => {
            let slot = (*slot != 0).then_some(SlotNumber(*slot));
            let mut text = String::new();
            let result = session.unload(
                slot,
                DriveIndex(*drive),
                Path::new(archive_device),
                &mut |p| text.push_str(p),
            );
            match result {
                Ok(_) => Answer::ok(format!("{text}done\n")),
                Err(e) => fail(format!("{text}{e}\n")),
            }
        }
        BareosCommand::Transfer { from, to } => {
            match session.transfer(SlotNumber(*from), SlotNumber(*to)) {
                Ok(()) => Answer::ok(String::new()),
                Err(e) => fail(format!("{e}\n")),
            }
        }
    }
}

/// Attempts at reading the serial number that keys the library lock.
const SERIAL_ATTEMPTS: u32 = 3;
/// Pause between them: long enough for an iSCSI session to recover from a blip.
const SERIAL_RETRY_PAUSE: Duration = Duration::from_secs(1);

/// Maximum Changer Wait of the library as the configuration names it by device (the serial is
/// what is being read).
fn settings_wait(config: &Config, device: &str) -> Duration {
    config
        .effective(device, None)
        .max_changer_wait
        .saturating_sub(ANSWER_MARGIN)
}

/// The library's lock key: its serial number, as every other process keys it. Falling back to
/// the device string when the serial cannot be read would let two processes that name one
/// library differently (`/dev/sg3`, `/dev/tape/by-id/…`) move its robot at once, so a failed
/// read is retried and then refused. (A device that has no serial at all is keyed by its
/// resolved sg node, the same in every process.)
fn lock_key(lib: &mut Library, stop: &Stop, deadline: Instant) -> Result<String, String> {
    let mut attempt = 1;
    loop {
        match lib.serial() {
            Ok(serial) => return Ok(serial),
            Err(e) => {
                tracing::warn!(attempt, error = %e, "cannot read the changer's serial number");
                let out_of_time = Instant::now() + SERIAL_RETRY_PAUSE >= deadline;
                if attempt >= SERIAL_ATTEMPTS || out_of_time || stop.requested() {
                    return Err(format!(
                        "cannot read the serial number of {} (INQUIRY VPD page 80h) after {attempt} \
                         attempt(s): {e}; it keys the lock that keeps other changer processes off \
                         the robot, so nothing was done (check the device: changer doctor {})\n",
                        lib.name, lib.name
                    ));
                }
            }
        }
        std::thread::sleep(SERIAL_RETRY_PAUSE);
        attempt += 1;
    }
}

fn parse_number(args: &[String], i: usize, what: &str) -> Result<u16, String> {
    let text = args.get(i).map(String::as_str).unwrap_or("");
    text.parse::<u16>()
        .map_err(|_| format!("invalid {what} '{text}': expected a number from 0 to 65535\n"))
}

/// Room for the whole answer at once: growing a 150 KB string by doubling touches twice the
/// memory, and page faults are what a large library's answer costs most.
fn answer_capacity(inv: &scsi_changer::inventory::Inventory) -> usize {
    (inv.drives.len() + usize::from(inv.slot_count())) * 48
}

/// `list`: the script's two awk passes over mtx status lines.
pub fn list(inv: &scsi_changer::inventory::Inventory) -> String {
    let homes = inv.home_slots();
    let mut out = String::with_capacity(answer_capacity(inv));
    for line in mtx_text::slot_lines(inv) {
        if let Some(l) = awk::list_slot(&line) {
            out.push_str(&l);
            out.push('\n');
        }
    }
    for (i, (d, h)) in inv.drives.iter().zip(&homes).enumerate() {
        if let Some(l) = awk::list_drive(&mtx_text::drive_line(i, d, *h)) {
            out.push_str(&l);
            out.push('\n');
        }
    }
    out
}

/// `listall`: drives, then storage rules, then import/export rules. A full drive whose home is
/// unknown prints `D:<n>:F::<tag>` (contract C1) instead of the script's malformed line.
pub fn listall(inv: &scsi_changer::inventory::Inventory) -> String {
    let homes = inv.home_slots();
    let mut out = String::with_capacity(answer_capacity(inv));
    for (i, (d, h)) in inv.drives.iter().zip(&homes).enumerate() {
        let line = if d.full && h.slot().is_none() {
            let tag = d
                .primary_volume_tag
                .as_ref()
                .map(|t| t.barcode().to_owned())
                .unwrap_or_default();
            Some(format!("D:{i}:F::{tag}"))
        } else {
            awk::listall_drive(&mtx_text::drive_line(i, d, *h))
        };
        if let Some(l) = line {
            out.push_str(&l);
            out.push('\n');
        }
    }
    for rule in [
        awk::listall_storage as fn(&str) -> Option<String>,
        awk::listall_import_export,
    ] {
        for line in mtx_text::slot_lines(inv) {
            if let Some(l) = rule(&line) {
                out.push_str(&l);
                out.push('\n');
            }
        }
    }
    out
}
