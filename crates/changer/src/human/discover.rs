//! `changer discover`: changers and drives from sysfs, drives tied to drive indexes by serial
//! number, printed as Bareos `Autochanger` and `Device` resources with stable device names.
//! iSCSI devices get their `/dev/tape/by-path` names: on the AWS gateway every LUN of a host
//! shares one by-id name, so by-id would collide.

use std::path::{Path, PathBuf};

use serde::Serialize;

use scsi_changer::changer::Changer;
use scsi_changer::discovery::{self, Roots, ScsiDevice, bind_drives};
use scsi_changer::sg_io::SgDevice;

use crate::cli::DiscoverArgs;

/// One changer found.
#[derive(Debug, Serialize)]
pub struct FoundChanger {
    /// sg node.
    pub sg: String,
    /// Stable name to configure.
    pub stable: String,
    /// Vendor and product.
    pub identity: String,
    /// Serial number.
    pub serial: Option<String>,
    /// Drives in drive-index order.
    pub drives: Vec<FoundDrive>,
    /// Why the changer could not be read, if it could not.
    pub error: Option<String>,
}

/// One drive of a changer.
#[derive(Debug, Serialize)]
pub struct FoundDrive {
    /// Drive index.
    pub index: u16,
    /// Serial from the changer.
    pub serial: Option<String>,
    /// The nst node.
    pub nst: Option<String>,
    /// Stable name of the nst node.
    pub stable: Option<String>,
    /// Product (for Media Type).
    pub product: Option<String>,
}

/// The udev link to prefer for a node: by-path for iSCSI, else by-id, else the node itself.
pub fn stable_name(roots: &Roots, node: &Path) -> String {
    let Ok(target) = std::fs::canonicalize(node) else {
        return node.display().to_string();
    };
    let links = |dir: &str| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(roots.dev.join(dir))
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        v.retain(|p| std::fs::canonicalize(p).is_ok_and(|t| t == target));
        v.sort();
        v
    };
    let by_path = links("tape/by-path");
    if let Some(p) = by_path
        .iter()
        .find(|p| p.to_string_lossy().contains("iscsi"))
    {
        return p.display().to_string();
    }
    if let Some(p) = links("tape/by-id").first() {
        return p.display().to_string();
    }
    by_path
        .first()
        .map_or_else(|| node.display().to_string(), |p| p.display().to_string())
}

/// Finds every changer and its drives.
pub fn find(roots: &Roots) -> anyhow::Result<Vec<FoundChanger>> {
    let all = discovery::scan(roots)?;
    let tapes: Vec<ScsiDevice> = all.iter().filter(|d| d.is_tape()).cloned().collect();
    let mut out = Vec::new();
    for c in all.iter().filter(|d| d.is_changer()) {
        let mut found = FoundChanger {
            sg: c.sg.display().to_string(),
            stable: stable_name(roots, &c.sg),
            identity: format!("{} {}", c.vendor, c.model),
            serial: c.serial.clone(),
            drives: Vec::new(),
            error: None,
        };
        let read = SgDevice::open(&c.sg).map(Changer::new).and_then(|mut ch| {
            let page = ch.element_address_assignment()?;
            let ids = match ch.drive_identifiers(&page)? {
                Some(ids) => ids,
                None => ch
                    .read_type(
                        &page,
                        scsi_changer::ElementType::DataTransfer,
                        scsi_changer::changer::ReadOptions {
                            voltag: false,
                            dvcid: false,
                        },
                    )?
                    .into_iter()
                    .map(|d| (d.address, None))
                    .collect(),
            };
            Ok(bind_drives(&ids, &tapes))
        });
        match read {
            Ok(bindings) => {
                found.drives = bindings
                    .into_iter()
                    .map(|b| {
                        let dev = b.device.map(|(d, _)| d);
                        FoundDrive {
                            index: b.index.0,
                            serial: b.changer_serial,
                            stable: dev
                                .as_ref()
                                .and_then(|d| d.nst.as_ref())
                                .map(|n| stable_name(roots, n)),
                            nst: dev
                                .as_ref()
                                .and_then(|d| d.nst.as_ref())
                                .map(|n| n.display().to_string()),
                            product: dev.map(|d| d.model),
                        }
                    })
                    .collect();
            }
            Err(e) => found.error = Some(e.to_string()),
        }
        out.push(found);
    }
    Ok(out)
}

/// Bareos resources for one changer.
pub fn bareos_resources(c: &FoundChanger, program: &str) -> String {
    let base = format!("changer-{}", c.serial.as_deref().unwrap_or("unknown"))
        .replace(|ch: char| !ch.is_ascii_alphanumeric() && ch != '-', "-");
    let mut out = format!(
        "# {} at {} (serial {})\n",
        c.identity,
        c.sg,
        c.serial.as_deref().unwrap_or("unknown")
    );
    if let Some(e) = &c.error {
        out.push_str(&format!("# could not read the changer: {e}\n"));
    }
    out.push_str(&format!("Autochanger {{\n  Name = \"{base}\"\n  Changer Device = \"{}\"\n  Changer Command = \"{program} %c %o %S %a %d\"\n", c.stable));
    for d in &c.drives {
        out.push_str(&format!("  Device = \"{base}-drive-{}\"\n", d.index));
    }
    out.push_str("}\n");
    for d in &c.drives {
        out.push('\n');
        match &d.stable {
            Some(dev) => out.push_str(&format!("Device {{\n  Name = \"{base}-drive-{}\"\n  Drive Index = {}\n  Archive Device = \"{dev}\"\n", d.index, d.index)),
            None => out.push_str(&format!(
                "# drive {} (serial {}) matches no tape device: check that st is loaded and the drive is logged in\nDevice {{\n  Name = \"{base}-drive-{}\"\n  Drive Index = {}\n  Archive Device = \"/dev/FIXME\"\n",
                d.index,
                d.serial.as_deref().unwrap_or("none"),
                d.index,
                d.index
            )),
        }
        out.push_str(&format!(
            "  Device Type = Tape\n  Media Type = \"{}\"\n  Autochanger = yes\n  Autoselect = yes\n  Maximum Changer Wait = 5 minutes\n}}\n",
            d.product.as_deref().unwrap_or("LTO")
        ));
    }
    out
}

/// Runs `changer discover`.
pub fn run(roots: &Roots, args: DiscoverArgs) -> anyhow::Result<i32> {
    let found = find(roots)?;
    if args.json {
        crate::say!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"type": "discover", "version": 1, "data": found})
            )?
        );
        return Ok(0);
    }
    if found.is_empty() {
        eprintln!("no changer found (is the sg module loaded, and are iSCSI targets logged in?)");
        return Ok(1);
    }
    for c in &found {
        crate::say!("{}", bareos_resources(c, &args.program));
    }
    Ok(0)
}
