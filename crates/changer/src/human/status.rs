//! `changer status`: drives, slots and import/export slots, with barcodes, drive serials and
//! device nodes; as a table, JSON, or `mtx status` text.

use std::time::{Duration, Instant};

use serde::Serialize;

use scsi_changer::discovery::{Roots, bind_drives};
use scsi_changer::inventory::{HomeSlot, Inventory};

use crate::cli::StatusArgs;
use crate::compat::mtx_text;
use crate::config::Config;
use crate::library::{Backend, Library};
use crate::lock::{self, Mode};

/// JSON envelope version.
pub const JSON_VERSION: u32 = 1;

/// `changer status --json` data.
#[derive(Debug, Serialize)]
pub struct Status {
    /// Changer device as given.
    pub device: String,
    /// INQUIRY vendor.
    pub vendor: String,
    /// INQUIRY product.
    pub product: String,
    /// Unit serial number.
    pub serial: String,
    /// Medium transport address used for moves.
    pub transport_address: u16,
    /// Drives, index 0 first.
    pub drives: Vec<DriveStatus>,
    /// Storage then import/export slots, slot 1 first.
    pub slots: Vec<SlotStatus>,
}

/// One drive.
#[derive(Debug, Serialize)]
pub struct DriveStatus {
    /// Drive index (Bareos Drive Index).
    pub index: u16,
    /// Element address.
    pub address: u16,
    /// Holds a cartridge.
    pub full: bool,
    /// Barcode of the cartridge.
    pub barcode: Option<String>,
    /// Slot the cartridge goes back to.
    pub home_slot: Option<u16>,
    /// `empty`, `reported` (by the library), `assigned` (unknown source: lowest free slot), `unknown`.
    pub home: &'static str,
    /// Drive serial number from the changer (DVCID).
    pub serial: Option<String>,
    /// Tape device node with that serial.
    pub device: Option<String>,
}

/// One slot.
#[derive(Debug, Serialize)]
pub struct SlotStatus {
    /// Slot number (Bareos numbering).
    pub slot: u16,
    /// Element address.
    pub address: u16,
    /// `storage` or `import_export`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Holds a cartridge.
    pub full: bool,
    /// Barcode.
    pub barcode: Option<String>,
    /// The library reports an exception on this element (ASC/ASCQ in `exception`).
    pub exception: Option<String>,
}

/// Reads the library and builds the status.
pub fn collect(lib: &mut Library) -> anyhow::Result<(Status, Inventory)> {
    let inquiry = lib.changer.inquiry()?;
    let serial = lib.serial()?;
    let (page, inv) = lib.changer.inventory(true)?;
    let ids = lib.changer.drive_identifiers(&page)?.unwrap_or_default();
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
                },
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
            kind,
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
        vendor: inquiry.vendor,
        product: inquiry.product,
        serial,
        transport_address: inv.transport_address().0,
        drives,
        slots,
    };
    Ok((status, inv))
}

/// Runs `changer status`.
pub fn run(config: &Config, roots: &Roots, args: StatusArgs) -> anyhow::Result<i32> {
    let device = super::default_device(config, roots, args.device.device)?;
    let mut lib = Library::open(&device, roots)?;
    let serial = lib.serial()?;
    let _lock = lock::acquire(
        &config.lock_dir,
        &serial,
        Mode::Shared,
        Instant::now() + Duration::from_secs(config.max_changer_wait),
    )?;
    let (status, inv) = collect(&mut lib)?;
    if args.json {
        let envelope =
            serde_json::json!({ "type": "status", "version": JSON_VERSION, "data": status });
        crate::say!("{}", serde_json::to_string_pretty(&envelope)?);
    } else if args.mtx {
        for line in mtx_text::status_lines(&device, &inv) {
            crate::say!("{line}");
        }
    } else {
        crate::say!("{}", table(&status).trim_end_matches('\n'));
    }
    Ok(0)
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
    out.push_str(&format!(
        "{:<6} {:<8} {:<6} {:<12} {:<14} {:<12} {}\n",
        "DRIVE", "ADDRESS", "STATE", "BARCODE", "HOME SLOT", "SERIAL", "DEVICE"
    ));
    for d in &s.drives {
        let home = match (d.home_slot, d.home) {
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
