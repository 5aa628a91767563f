//! `changer move` and `changer inventory`.

use std::time::{Duration, Instant};

use scsi_changer::discovery::Roots;

use crate::cli::{DeviceArgs, MoveArgs};
use crate::config::Config;
use crate::library::Library;
use crate::lock::{self, Mode};
use crate::ops::{Endpoint, Session};
use crate::signals::{self, Stop};

fn session(
    config: &Config,
    roots: &Roots,
    device: &str,
    stop: Stop,
) -> anyhow::Result<(Session, String)> {
    let mut lib = Library::open(device, roots)?;
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
    let (mut s, serial) = session(config, roots, &args.device, signals::install())?;
    let stop = s.stop.clone();
    let _lock = lock::acquire_unless(
        &config.lock_dir,
        &serial,
        Mode::Exclusive,
        s.deadline,
        &|| stop.requested(),
    )?;
    s.move_between(from, to)?;
    if args.json {
        let v = serde_json::json!({"type": "moved", "version": 1, "data": {"from": from.to_string(), "to": to.to_string()}});
        crate::say!("{v}");
    } else {
        crate::say!("moved {from} to {to}");
    }
    Ok(0)
}

/// Runs `changer inventory`.
pub fn inventory(config: &Config, roots: &Roots, args: DeviceArgs) -> anyhow::Result<i32> {
    let device = super::default_device(config, roots, args.device)?;
    let (mut s, serial) = session(config, roots, &device, Stop::none())?;
    let deadline = Instant::now() + Duration::from_secs(config.timeouts.initialize);
    let _lock = lock::acquire(&config.lock_dir, &serial, Mode::Exclusive, deadline)?;
    s.lib.changer.set_deadline(Some(deadline));
    s.lib.changer.initialize_element_status(None, false)?;
    crate::say!("{device}: element status initialized");
    Ok(0)
}
