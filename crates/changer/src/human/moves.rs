//! `changer move` and `changer inventory`.

use std::time::{Duration, Instant};

use scsi_changer::discovery::Roots;

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
    if let Some((from, to)) =
        super::daemon::move_cartridge(config, library, from.into(), to.into(), deadline)?
    {
        report(&from, &to, args.json);
        return Ok(0);
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
    s.move_between(from, to)?;
    report(&from.to_string(), &to.to_string(), args.json);
    Ok(0)
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
