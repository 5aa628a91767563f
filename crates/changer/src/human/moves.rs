//! `changer move` and `changer inventory`.

use std::time::{Duration, Instant};

use scsi_changer::discovery::Roots;

use changer_proto::Archival;

use super::daemon::{MoveFlags, MoveOutcome};
use crate::cli::{DeviceArgs, MoveArgs};
use crate::config::Config;
use crate::library::Library;
use crate::lock::{self, Mode};
use crate::ops::{Endpoint, Session};
use crate::signals::{self, Stop};

fn session_of(
    config: &Config,
    mut lib: Library,
    device: &str,
    stop: Stop,
) -> anyhow::Result<(Session, String)> {
    let serial = lib.serial()?;
    let settings = config.effective(device, Some(&serial));
    let deadline = Instant::now() + settings.max_changer_wait;
    lib.changer.set_timeouts(config.scsi_timeouts());
    Ok((
        Session {
            lib,
            settings,
            deadline,
            stop,
            cache: None,
            journal: None,
            export_guard: crate::gateway::direct_guard(config, device, Some(&serial)),
        },
        serial,
    ))
}

/// Runs `changer move`. Ctrl-C and SIGTERM are handled as in protocol mode: before the MOVE
/// they end the command; during it they are held until the robot has answered, and the command
/// then says how the move ended and exits 1.
pub fn run(config: &Config, roots: &Roots, args: MoveArgs) -> anyhow::Result<i32> {
    let from: Endpoint = args.from.parse().map_err(anyhow::Error::msg)?;
    let to: Endpoint = args.to.parse().map_err(anyhow::Error::msg)?;
    let stop = signals::install();
    let mut opened = Library::open(&args.device, roots);
    let serial = opened.as_mut().ok().and_then(|lib| lib.serial().ok());
    let library = changer_proto::LibraryRef {
        device: args.device.clone(),
        serial,
    };
    let deadline = Instant::now() + Duration::from_secs(config.max_changer_wait);
    let flags = MoveFlags {
        dry_run: args.dry_run,
        force: args.force,
    };
    match super::daemon::move_cartridge(config, library, (from.into(), to.into()), flags, deadline)?
    {
        Some(MoveOutcome::Moved(from, to)) => {
            report(&from, &to, args.json);
            return Ok(0);
        }
        Some(MoveOutcome::Checked(from, to, archival)) => {
            return Ok(report_dry_run(&from, &to, archival.as_ref(), args.json));
        }
        None => {}
    }
    let (mut s, serial) = session_of(config, opened?, &args.device, stop)?;
    let stop = s.stop.clone();
    let _lock = lock::acquire_unless(
        &config.lock_dir,
        &serial,
        Mode::Exclusive,
        s.deadline,
        &|| stop.requested(),
    )?;
    if args.dry_run {
        return Ok(match s.check_move(from, to) {
            Ok(_) => report_dry_run(&from.to_string(), &to.to_string(), None, args.json),
            Err(e) => {
                let refused = Archival {
                    barcode: None,
                    status: None,
                    size_used_bytes: None,
                    pool: None,
                    allowed: false,
                    reason: e.to_string(),
                };
                report_dry_run(
                    &from.to_string(),
                    &to.to_string(),
                    Some(&refused),
                    args.json,
                )
            }
        });
    }
    s.move_between(from, to)?;
    report(&from.to_string(), &to.to_string(), args.json);
    Ok(0)
}

/// Prints a dry run; the exit status is 1 when the move would be refused.
fn report_dry_run(from: &str, to: &str, archival: Option<&Archival>, json: bool) -> i32 {
    let allowed = archival.is_none_or(|a| a.allowed);
    if json {
        let v = serde_json::json!({"type": "dry_run", "version": 1,
            "data": {"from": from, "to": to, "allowed": allowed, "archival": archival}});
        crate::say!("{v}");
    } else {
        match archival {
            None => crate::say!("dry run: {from} -> {to} is possible; nothing was moved"),
            Some(a) if a.barcode.is_none() && a.status.is_none() && !a.allowed => {
                crate::say!("dry run: {from} -> {to} would be refused: {}", a.reason)
            }
            Some(a) => {
                let used = a
                    .size_used_bytes
                    .map_or("size used unknown".to_owned(), |b| {
                        format!("{} used", bytes(b))
                    });
                crate::say!(
                    "dry run: {from} -> {to} would archive {} ({}, {used}, pool {}): {} — {}",
                    a.barcode
                        .as_deref()
                        .unwrap_or("a cartridge without barcode"),
                    a.status.as_deref().unwrap_or("status unknown"),
                    a.pool.as_deref().unwrap_or("unknown"),
                    if a.allowed { "allowed" } else { "refused" },
                    a.reason
                )
            }
        }
    }
    if allowed { 0 } else { 1 }
}

/// Bytes for people: "1.5 GiB".
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn report(from: &str, to: &str, json: bool) {
    if json {
        let v =
            serde_json::json!({"type": "moved", "version": 1, "data": {"from": from, "to": to}});
        crate::say!("{v}");
    } else {
        crate::say!("moved {from} to {to}");
    }
}

/// Runs `changer inventory`.
pub fn inventory(config: &Config, roots: &Roots, args: DeviceArgs) -> anyhow::Result<i32> {
    let device = super::default_device(config, roots, args.device)?;
    let deadline = Instant::now() + Duration::from_secs(config.timeouts.initialize);
    let mut opened = Library::open(&device, roots);
    let library = changer_proto::LibraryRef {
        device: device.clone(),
        serial: opened.as_mut().ok().and_then(|lib| lib.serial().ok()),
    };
    if super::daemon::inventory(config, library, deadline)? {
        crate::say!("{device}: element status initialized (changerd read the library again)");
        return Ok(0);
    }
    let (mut s, serial) = session_of(config, opened?, &device, Stop::none())?;
    let _lock = lock::acquire(&config.lock_dir, &serial, Mode::Exclusive, deadline)?;
    s.lib.changer.set_deadline(Some(deadline));
    s.lib.changer.initialize_element_status(None, false)?;
    crate::say!("{device}: element status initialized");
    Ok(0)
}
