//! `changer status`: drives, slots and import/export slots, with barcodes, drive serials and
//! device nodes; as a table, JSON, or `mtx status` text.

use std::sync::Arc;
use std::time::{Duration, Instant};

use changer_proto::{CacheState, DriveStatus, LibraryStatus, SlotStatus};

use scsi_changer::discovery::{Roots, bind_drives};
use scsi_changer::inventory::HomeSlot;

use crate::cache::Purpose;
use crate::cli::StatusArgs;
use crate::compat::mtx_text;
use crate::config::Config;
use crate::library::{Backend, Library};
use crate::lock::{self, Mode};
use crate::ops::{Session, Snapshot};

/// JSON envelope version.
pub const JSON_VERSION: u32 = 1;

/// `changer status --json` data: the protocol's type, so the daemon's answer and direct
/// mode's print alike.
pub type Status = LibraryStatus;

/// Reads the library and builds the status (direct mode): one inventory read serves both the
/// status and the `mtx status` text.
pub fn collect(
    config: &Config,
    lib: Library,
    serial: &str,
) -> anyhow::Result<(Status, Arc<Snapshot>)> {
    let settings = config.effective(&lib.name, Some(serial));
    let mut session = Session {
        lib,
        deadline: Instant::now() + settings.max_changer_wait,
        settings,
        stop: crate::signals::Stop::none(),
        cache: None,
        journal: None,
        export_guard: None,
    };
    let inquiry = session.lib.changer.inquiry()?;
    Ok(from_session(
        &mut session,
        &inquiry.vendor,
        &inquiry.product,
        serial,
    )?)
}

/// The status of a session's library, and the picture it was built from: from the daemon's
/// cache when it may answer, else read.
pub fn from_session(
    session: &mut Session,
    vendor: &str,
    product: &str,
    serial: &str,
) -> Result<(Status, Arc<Snapshot>), scsi_changer::Error> {
    let snap = session.snapshot_for(Purpose::Read)?;
    let ids = session.drive_identifiers(&snap)?.unwrap_or_default();
    let lib = &session.lib;
    let inv = &snap.inv;
    let tapes = lib.tape_devices();
    let bindings = bind_drives(&ids, &tapes);
    let homes = inv.home_slots();
    let sim_paths = |i: u16| {
        lib.sim_archive_device(scsi_changer::DriveIndex(i))
            .map(|p| p.display().to_string())
    };
    let drives = inv
        .drives
        .iter()
        .zip(&homes)
        .enumerate()
        .map(|(i, (d, h))| {
            let index = u16::try_from(i).unwrap_or(u16::MAX);
            let binding = bindings.iter().find(|b| b.address == d.address);
            DriveStatus {
                index,
                address: d.address.0,
                full: d.full,
                barcode: d.barcode().map(str::to_owned),
                home_slot: h.slot().map(|s| s.0),
                home: match h {
                    HomeSlot::DriveEmpty => "empty",
                    HomeSlot::Reported(_) => "reported",
                    HomeSlot::Assigned(_) => "assigned",
                    HomeSlot::Unknown => "unknown",
                }
                .to_owned(),
                serial: binding.and_then(|b| b.changer_serial.clone()),
                device: binding
                    .and_then(|b| b.device.as_ref())
                    .and_then(|(dev, _)| dev.nst.as_ref().map(|p| p.display().to_string()))
                    .or_else(|| {
                        matches!(lib.backend, Backend::Sim(_))
                            .then(|| sim_paths(index))
                            .flatten()
                    }),
            }
        })
        .collect();
    let slots = inv
        .storage
        .iter()
        .map(|e| ("storage", e))
        .chain(inv.import_export.iter().map(|e| ("import_export", e)))
        .enumerate()
        .map(|(i, (kind, e))| SlotStatus {
            slot: u16::try_from(i + 1).unwrap_or(u16::MAX),
            address: e.address.0,
            kind: kind.to_owned(),
            full: e.full,
            barcode: e.barcode().map(str::to_owned),
            exception: e.except.then(|| {
                let text =
                    scsi_changer::sense::asc_text(e.asc, e.ascq).unwrap_or("vendor specific");
                format!("{text} ({:02X}h/{:02X}h)", e.asc, e.ascq)
            }),
        })
        .collect();
    let status = Status {
        device: lib.name.clone(),
        vendor: vendor.to_owned(),
        product: product.to_owned(),
        serial: serial.to_owned(),
        transport_address: inv.transport_address().0,
        drives,
        slots,
        cache: session.cache.as_ref().map(|c| CacheState {
            mode: c.mode.as_str().to_owned(),
            age_ms: c
                .age()
                .map(|a| u64::try_from(a.as_millis()).unwrap_or(u64::MAX)),
        }),
        gateway: None,
    };
    Ok((status, snap))
}

/// Runs `changer status`.
pub fn run(config: &Config, roots: &Roots, args: StatusArgs) -> anyhow::Result<i32> {
    let device = super::default_device(config, roots, args.device.device)?;
    let deadline = Instant::now() + Duration::from_secs(config.max_changer_wait);
    let mut opened = Library::open(&device, roots);
    let serial = opened.as_mut().ok().and_then(|lib| lib.serial().ok());
    let library = changer_proto::LibraryRef {
        device: device.clone(),
        serial: serial.clone(),
    };
    if !args.mtx
        && let Some(status) = super::daemon::status(config, library, deadline)?
    {
        print(&status, args.json)?;
        return Ok(0);
    }
    let mut lib = opened?;
    let serial = match serial {
        Some(s) => s,
        None => lib.serial()?,
    };
    let _lock = lock::acquire(&config.lock_dir, &serial, Mode::Shared, deadline)?;
    let (status, snap) = collect(config, lib, &serial)?;
    if args.mtx {
        for line in mtx_text::status_lines(&device, &snap.inv) {
            crate::say!("{line}");
        }
        return Ok(0);
    }
    print(&status, args.json)?;
    Ok(0)
}

fn print(status: &Status, json: bool) -> anyhow::Result<()> {
    if json {
        let envelope =
            serde_json::json!({ "type": "status", "version": JSON_VERSION, "data": status });
        crate::say!("{}", serde_json::to_string_pretty(&envelope)?);
    } else {
        crate::say!("{}", table(status).trim_end_matches('\n'));
    }
    Ok(())
}

/// The readable table.
pub fn table(s: &Status) -> String {
    let ie = s.slots.iter().filter(|x| x.kind == "import_export").count();
    let mut out = format!(
        "{} — {} {}, serial {}\n{} drive(s), {} slot(s) ({} storage, {} import/export), {} cartridge(s)\n\n",
        s.device,
        s.vendor,
        s.product,
        s.serial,
        s.drives.len(),
        s.slots.len(),
        s.slots.len() - ie,
        ie,
        s.slots.iter().filter(|x| x.full).count() + s.drives.iter().filter(|d| d.full).count()
    );
    if let Some(cache) = &s.cache {
        let age = cache
            .age_ms
            .map_or("none (read at the next request)".to_owned(), |ms| {
                format!("{:.1} s", ms as f64 / 1000.0)
            });
        out.insert_str(
            out.len() - 1,
            &format!(
                "answered by changerd: cache {}, inventory age {age}\n",
                cache.mode
            ),
        );
    }
    if let Some(g) = &s.gateway {
        out.insert_str(out.len() - 1, &gateway_line(g));
    }
    out.push_str(&format!(
        "{:<6} {:<8} {:<6} {:<12} {:<14} {:<12} {}\n",
        "DRIVE", "ADDRESS", "STATE", "BARCODE", "HOME SLOT", "SERIAL", "DEVICE"
    ));
    for d in &s.drives {
        let home = match (d.home_slot, d.home.as_str()) {
            (Some(n), "assigned") => format!("{n} (assumed)"),
            (Some(n), _) => n.to_string(),
            (None, "unknown") => "unknown".into(),
            _ => "-".into(),
        };
        out.push_str(&format!(
            "{:<6} {:<8} {:<6} {:<12} {:<14} {:<12} {}\n",
            d.index,
            d.address,
            if d.full { "full" } else { "empty" },
            d.barcode
                .as_deref()
                .unwrap_or(if d.full { "(no label)" } else { "-" }),
            home,
            d.serial.as_deref().unwrap_or("-"),
            d.device.as_deref().unwrap_or("-")
        ));
    }
    out.push_str(&format!(
        "\n{:<6} {:<8} {:<6} {:<6} {}\n",
        "SLOT", "ADDRESS", "TYPE", "STATE", "BARCODE"
    ));
    for x in &s.slots {
        out.push_str(&format!(
            "{:<6} {:<8} {:<6} {:<6} {}{}\n",
            x.slot,
            x.address,
            if x.kind == "storage" { "slot" } else { "i/e" },
            if x.full { "full" } else { "empty" },
            x.barcode
                .as_deref()
                .unwrap_or(if x.full { "(no label)" } else { "" }),
            x.exception
                .as_ref()
                .map(|e| format!("  ! {e}"))
                .unwrap_or_default()
        ));
    }
    out
}

/// The gateway's health in one line (and the tapes being followed), for `status`.
pub fn gateway_line(g: &changer_proto::GatewayHealth) -> String {
    let pct = |p: Option<f64>| p.map_or("?".to_owned(), |p| format!("{p:.1} %"));
    let mut line = match (&g.state, g.connected) {
        (Some(state), true) => format!(
            "AWS gateway {}: {state}, connected, cache dirty {}, upload buffer {}",
            g.gateway_arn,
            pct(g.cache_dirty_percent),
            pct(g.upload_buffer_used_percent)
        ),
        _ => format!(
            "AWS gateway {}: not reachable ({})",
            g.gateway_arn,
            g.error.as_deref().unwrap_or("not checked yet")
        ),
    };
    if let Some(ms) = g.checked_ms_ago {
        line.push_str(&format!(" (checked {:.1} s ago)", ms as f64 / 1000.0));
    }
    line.push('\n');
    for t in &g.following {
        line.push_str(&format!(
            "  following {}: {}\n",
            t.barcode,
            t.status.as_deref().unwrap_or("unknown")
        ));
    }
    line
}
