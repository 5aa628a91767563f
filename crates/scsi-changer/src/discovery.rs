//! Finding changers and tape drives through sysfs, and tying each drive index to its tape
//! device by serial number (contract C4) — never by `/dev/nstN` numbering.
//!
//! Everything here reads files only (no SCSI commands): `/sys/class/scsi_generic/sgN/device`
//! gives the SCSI device with its `type`, `vendor`, `model`, `rev` and cached `vpd_pg80`, and
//! its `scsi_tape/` and `scsi_changer/` children name the st/nst and sch nodes. The roots are
//! parameters so tests can build a fake tree.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::address::{DriveIndex, ElementAddress};
use crate::decode::decode_unit_serial_number;
use crate::decode::inquiry::{MEDIUM_CHANGER, SEQUENTIAL_ACCESS};
use crate::element::DeviceIdentifier;

/// Where sysfs and device nodes live (`/sys`, `/dev` on a real system).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    /// The sysfs mount point.
    pub sys: PathBuf,
    /// The device node directory.
    pub dev: PathBuf,
}

impl Default for Roots {
    fn default() -> Self {
        Roots {
            sys: PathBuf::from("/sys"),
            dev: PathBuf::from("/dev"),
        }
    }
}

/// A SCSI device with an sg node, as sysfs describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScsiDevice {
    /// Host:channel:target:lun.
    pub hctl: String,
    /// Peripheral device type (8 changer, 1 tape).
    pub device_type: u8,
    /// Vendor, trimmed.
    pub vendor: String,
    /// Model (product), trimmed.
    pub model: String,
    /// Revision, trimmed.
    pub revision: String,
    /// Unit serial number from the cached VPD page 80h, when the kernel fetched it.
    pub serial: Option<String>,
    /// The sg node.
    pub sg: PathBuf,
    /// The ch node (`/dev/schN`), for changers bound to the ch driver.
    pub sch: Option<PathBuf>,
    /// The non-rewinding tape node (`/dev/nstN`), for tape drives bound to st.
    pub nst: Option<PathBuf>,
    /// The rewinding tape node (`/dev/stN`).
    pub st: Option<PathBuf>,
}

impl ScsiDevice {
    /// Whether this is a medium changer.
    pub fn is_changer(&self) -> bool {
        self.device_type == MEDIUM_CHANGER
    }

    /// Whether this is a tape drive.
    pub fn is_tape(&self) -> bool {
        self.device_type == SEQUENTIAL_ACCESS
    }
}

/// Every SCSI device with an sg node, sorted by sg number.
pub fn scan(roots: &Roots) -> io::Result<Vec<ScsiDevice>> {
    let class = roots.sys.join("class/scsi_generic");
    let mut found = Vec::new();
    let entries = match fs::read_dir(&class) {
        Ok(entries) => entries,
        // No sg module loaded: nothing to find.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(device) = describe_sg(roots, &name) {
            found.push(device);
        }
    }
    found.sort_by_key(|d| node_number(&d.sg));
    Ok(found)
}

fn describe_sg(roots: &Roots, sg_name: &str) -> Option<ScsiDevice> {
    let device_dir = roots
        .sys
        .join("class/scsi_generic")
        .join(sg_name)
        .join("device");
    let attr = |name: &str| read_trimmed(&device_dir.join(name));
    let device_type: u8 = attr("type")?.parse().ok()?;
    let hctl = fs::canonicalize(&device_dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let serial = fs::read(device_dir.join("vpd_pg80"))
        .ok()
        .and_then(|bytes| decode_unit_serial_number(&bytes).ok().flatten());
    let child = |class: &str, pick: &dyn Fn(&str) -> bool| -> Option<PathBuf> {
        let mut names: Vec<String> = fs::read_dir(device_dir.join(class))
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter(|n| pick(n))
            .collect();
        names.sort();
        names.first().map(|n| roots.dev.join(n))
    };
    let is_plain = |prefix: &'static str| {
        move |n: &str| {
            n.strip_prefix(prefix)
                .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
        }
    };
    Some(ScsiDevice {
        hctl,
        device_type,
        vendor: attr("vendor").unwrap_or_default(),
        model: attr("model").unwrap_or_default(),
        revision: attr("rev").unwrap_or_default(),
        serial,
        sg: roots.dev.join(sg_name),
        sch: child("scsi_changer", &is_plain("sch")),
        nst: child("scsi_tape", &is_plain("nst")),
        st: child("scsi_tape", &is_plain("st")),
    })
}

fn read_trimmed(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}

fn node_number(path: &Path) -> u32 {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.trim_start_matches(|c: char| !c.is_ascii_digit()))
        .and_then(|d| d.parse().ok())
        .unwrap_or(u32::MAX)
}

/// The sysfs device behind a device node: follows symlinks (`/dev/tape/by-id/…`,
/// `/dev/autochanger`) and matches `/dev/sgN`, `/dev/schN`, `/dev/[n]stN` by name.
pub fn device_for_node(roots: &Roots, node: &Path) -> io::Result<Option<ScsiDevice>> {
    let real = fs::canonicalize(node)?;
    let name = real
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // A tape node may carry a mode suffix (nst0l, st0a): the same drive.
    let base = name.trim_end_matches(['l', 'm', 'a']);
    Ok(scan(roots)?.into_iter().find(|d| {
        d.sg.file_name().is_some_and(|n| n == name.as_str())
            || d.sch
                .as_ref()
                .and_then(|p| p.file_name())
                .is_some_and(|n| n == name.as_str())
            || d.nst
                .as_ref()
                .and_then(|p| p.file_name())
                .is_some_and(|n| n == base)
            || d.st
                .as_ref()
                .and_then(|p| p.file_name())
                .is_some_and(|n| n == base)
    }))
}

/// The sysfs `device` directory behind one node, found by the node's name alone (no scan):
/// `/dev/sgN` → `class/scsi_generic/sgN/device`, `/dev/schN` → `class/scsi_changer/…`,
/// `/dev/[n]stN[lma]` → `class/scsi_tape/…`. Follows symlinks first.
pub fn device_dir(roots: &Roots, node: &Path) -> Option<PathBuf> {
    let real = fs::canonicalize(node).ok()?;
    let name = real.file_name()?.to_str()?.to_owned();
    let class = if name.starts_with("sg") {
        "scsi_generic"
    } else if name.starts_with("sch") {
        "scsi_changer"
    } else if name.starts_with("nst") || name.starts_with("st") {
        "scsi_tape"
    } else {
        return None;
    };
    let dir = roots
        .sys
        .join("class")
        .join(class)
        .join(&name)
        .join("device");
    dir.exists().then_some(dir)
}

/// The unit serial number the kernel cached for a node (VPD page 80h in sysfs), without a
/// scan and without a SCSI command.
pub fn cached_serial(roots: &Roots, node: &Path) -> Option<String> {
    let bytes = fs::read(device_dir(roots, node)?.join("vpd_pg80")).ok()?;
    decode_unit_serial_number(&bytes).ok().flatten()
}

/// The sg node of the SCSI device behind any of its nodes (e.g. a tape's `/dev/nst0`).
pub fn sg_of(roots: &Roots, node: &Path) -> Option<PathBuf> {
    let dir = device_dir(roots, node)?;
    let mut names: Vec<String> = fs::read_dir(dir.join("scsi_generic"))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    names.first().map(|n| roots.dev.join(n))
}

/// The node to send SG_IO to for a changer path: a `/dev/schN` (or a link to one) becomes its
/// sibling `/dev/sgN`, because SG_IO on sch nodes needs kernel ≥ 5.15 and `CAP_SYS_RAWIO` for
/// READ ELEMENT STATUS and MOVE MEDIUM; anything else is used as it is.
pub fn sg_node_for(roots: &Roots, node: &Path) -> io::Result<PathBuf> {
    let real = fs::canonicalize(node)?;
    let is_sch = real
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("sch"));
    if !is_sch {
        return Ok(node.to_owned());
    }
    sg_of(roots, &real).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "{} has no SCSI generic (sg) sibling in sysfs; load the sg module",
                node.display()
            ),
        )
    })
}

/// How a drive index was tied to a tape device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// The serials are equal.
    Exact,
    /// The changer's copy is a cut-down version of the drive's serial (libraries truncate to
    /// 10 characters; tgt 1.0.85 drops the last drive's tail), and only one drive fits.
    Partial,
}

/// One drive of the changer and the tape device found for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriveBinding {
    /// Drive index (element-address order).
    pub index: DriveIndex,
    /// Element address of the drive.
    pub address: ElementAddress,
    /// Serial number from the changer's DVCID, when reported.
    pub changer_serial: Option<String>,
    /// The tape device with that serial, and how sure the match is.
    pub device: Option<(ScsiDevice, Match)>,
}

/// Ties each drive (in element-address order, with its DVCID) to a tape device by serial.
/// Exact matches are made first; then a changer serial that is a prefix or suffix of exactly
/// one remaining tape's serial. Drives without a serial, or matching nothing, stay unbound.
pub fn bind_drives(
    drives: &[(ElementAddress, Option<DeviceIdentifier>)],
    tapes: &[ScsiDevice],
) -> Vec<DriveBinding> {
    let serials: Vec<Option<String>> = drives
        .iter()
        .map(|(_, id)| id.as_ref().and_then(DeviceIdentifier::serial))
        .collect();
    let mut taken = vec![false; tapes.len()];
    let mut bound: Vec<Option<(usize, Match)>> = vec![None; drives.len()];
    for (i, serial) in serials.iter().enumerate() {
        let Some(serial) = serial else { continue };
        if let Some(t) = tapes
            .iter()
            .enumerate()
            .position(|(t, d)| !taken[t] && d.serial.as_deref() == Some(serial.as_str()))
        {
            taken[t] = true;
            bound[i] = Some((t, Match::Exact));
        }
    }
    for (i, serial) in serials.iter().enumerate() {
        let Some(serial) = serial.as_deref().filter(|s| s.len() >= 2) else {
            continue;
        };
        if bound[i].is_some() {
            continue;
        }
        let candidates: Vec<usize> = tapes
            .iter()
            .enumerate()
            .filter(|(t, d)| {
                !taken[*t]
                    && d.serial
                        .as_deref()
                        .is_some_and(|s| s.starts_with(serial) || s.ends_with(serial))
            })
            .map(|(t, _)| t)
            .collect();
        if let [t] = candidates[..] {
            taken[t] = true;
            bound[i] = Some((t, Match::Partial));
        }
    }
    drives
        .iter()
        .zip(serials)
        .zip(bound)
        .enumerate()
        .map(|(i, (((address, _), changer_serial), b))| DriveBinding {
            index: DriveIndex(u16::try_from(i).unwrap_or(u16::MAX)),
            address: *address,
            changer_serial,
            device: b.and_then(|(t, m)| tapes.get(t).cloned().map(|d| (d, m))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn vpd80(serial: &str) -> Vec<u8> {
        let mut v = vec![0x01, 0x80, 0, serial.len() as u8];
        v.extend_from_slice(serial.as_bytes());
        v
    }

    /// A fake sysfs: the changer at sg3/sch0 and two drives at sg1/nst0 and sg2/nst1, where
    /// nst0 holds the *second* drive's serial (numbering must not be trusted).
    fn fake_tree() -> (tempfile::TempDir, Roots) {
        let dir = tempfile::tempdir().unwrap();
        let sys = dir.path().join("sys");
        let dev = dir.path().join("dev");
        fs::create_dir_all(&dev).unwrap();
        let devices = [
            (
                "sg1",
                "0:0:0:1",
                1,
                "IBM",
                "ULT3580-TD5",
                "DRV00002",
                "scsi_tape",
                &["st0", "nst0", "nst0l", "st0a"][..],
            ),
            (
                "sg2",
                "0:0:0:2",
                1,
                "IBM",
                "ULT3580-TD5",
                "DRV00001",
                "scsi_tape",
                &["st1", "nst1"][..],
            ),
            (
                "sg3",
                "0:0:0:3",
                8,
                "STK",
                "L700",
                "LIB00001",
                "scsi_changer",
                &["sch0"][..],
            ),
        ];
        for (sg, hctl, ty, vendor, model, serial, class, nodes) in devices {
            let d = sys.join("devices/platform/host0").join(hctl);
            fs::create_dir_all(d.join(class)).unwrap();
            for n in nodes {
                fs::create_dir_all(d.join(class).join(n)).unwrap();
                fs::write(dev.join(n), b"").unwrap();
            }
            fs::write(d.join("type"), format!("{ty}\n")).unwrap();
            fs::write(d.join("vendor"), format!("{vendor:<8}\n")).unwrap();
            fs::write(d.join("model"), format!("{model:<16}\n")).unwrap();
            fs::write(d.join("rev"), "0105\n").unwrap();
            fs::write(d.join("vpd_pg80"), vpd80(serial)).unwrap();
            let class_dir = sys.join("class/scsi_generic").join(sg);
            fs::create_dir_all(&class_dir).unwrap();
            symlink(&d, class_dir.join("device")).unwrap();
            fs::create_dir_all(d.join("scsi_generic").join(sg)).unwrap();
            for n in nodes {
                let node_class = sys.join("class").join(class).join(n);
                fs::create_dir_all(&node_class).unwrap();
                symlink(&d, node_class.join("device")).unwrap();
            }
            fs::write(dev.join(sg), b"").unwrap();
        }
        fs::create_dir_all(dev.join("tape/by-id")).unwrap();
        symlink(
            dev.join("sch0"),
            dev.join("tape/by-id/scsi-LIB00001-changer"),
        )
        .unwrap();
        (dir, Roots { sys, dev })
    }

    fn tapes(roots: &Roots) -> Vec<ScsiDevice> {
        scan(roots)
            .unwrap()
            .into_iter()
            .filter(ScsiDevice::is_tape)
            .collect()
    }

    fn dvcid(serial: &str, truncate_to: Option<usize>) -> Option<DeviceIdentifier> {
        let mut id = format!("{:<8}{:<16}{:<10}", "IBM", "ULT3580-TD5", serial).into_bytes();
        let truncated = truncate_to.is_some();
        if let Some(n) = truncate_to {
            id.truncate(n);
        }
        Some(DeviceIdentifier {
            code_set: 2,
            association: 0,
            identifier_type: 1,
            identifier: id,
            truncated,
        })
    }

    #[test]
    fn scan_reads_type_identity_serial_and_nodes() {
        let (_dir, roots) = fake_tree();
        let found = scan(&roots).unwrap();
        assert_eq!(found.len(), 3);
        let changer = found.iter().find(|d| d.is_changer()).unwrap();
        assert_eq!(
            (changer.vendor.as_str(), changer.model.as_str()),
            ("STK", "L700")
        );
        assert_eq!(changer.serial.as_deref(), Some("LIB00001"));
        assert_eq!(changer.sch, Some(roots.dev.join("sch0")));
        let first_tape = &found[0];
        assert_eq!(first_tape.nst, Some(roots.dev.join("nst0")));
        assert_eq!(first_tape.st, Some(roots.dev.join("st0")));
        assert_eq!(first_tape.hctl, "0:0:0:1");
    }

    #[test]
    fn sch_and_links_to_it_resolve_to_the_sg_sibling() {
        let (_dir, roots) = fake_tree();
        let sg3 = roots.dev.join("sg3");
        assert_eq!(sg_node_for(&roots, &roots.dev.join("sch0")).unwrap(), sg3);
        assert_eq!(
            sg_node_for(&roots, &roots.dev.join("tape/by-id/scsi-LIB00001-changer")).unwrap(),
            sg3
        );
        assert_eq!(sg_node_for(&roots, &sg3).unwrap(), sg3);
    }

    #[test]
    fn drives_bind_by_serial_not_by_node_number() {
        let (_dir, roots) = fake_tree();
        let tapes = tapes(&roots);
        let drives = [
            (ElementAddress(500), dvcid("DRV00001", None)),
            (ElementAddress(501), dvcid("DRV00002", None)),
        ];
        let b = bind_drives(&drives, &tapes);
        assert_eq!(
            b[0].device.as_ref().unwrap().0.nst,
            Some(roots.dev.join("nst1"))
        );
        assert_eq!(
            b[1].device.as_ref().unwrap().0.nst,
            Some(roots.dev.join("nst0"))
        );
        assert!(
            b.iter()
                .all(|d| d.device.as_ref().unwrap().1 == Match::Exact)
        );
    }

    #[test]
    fn truncated_last_dvcid_still_binds_when_unambiguous() {
        // tgt 1.0.85 cuts the last drive's identifier to "…DR".
        let (_dir, roots) = fake_tree();
        let tapes = tapes(&roots);
        let drives = [
            (ElementAddress(500), dvcid("DRV00001", None)),
            (ElementAddress(501), dvcid("DRV00002", Some(26))),
        ];
        let b = bind_drives(&drives, &tapes);
        assert_eq!(b[1].changer_serial.as_deref(), Some("DR"));
        let (device, how) = b[1].device.as_ref().unwrap();
        assert_eq!(
            (device.serial.as_deref(), *how),
            (Some("DRV00002"), Match::Partial)
        );
    }

    #[test]
    fn ambiguous_or_missing_serials_stay_unbound() {
        let (_dir, roots) = fake_tree();
        let tapes = tapes(&roots);
        // Both drives truncated to "DR": two candidates each, so neither is guessed.
        let drives = [
            (ElementAddress(500), dvcid("x", Some(26))),
            (ElementAddress(501), None),
        ];
        let mut drives = drives.to_vec();
        drives[0].1.as_mut().unwrap().identifier = b"IBM     ULT3580-TD5     DR".to_vec();
        let b = bind_drives(&drives, &tapes);
        assert!(b[0].device.is_none());
        assert!(b[1].device.is_none() && b[1].changer_serial.is_none());
    }

    #[test]
    fn direct_lookups_need_no_scan() {
        let (_dir, roots) = fake_tree();
        assert_eq!(
            cached_serial(&roots, &roots.dev.join("nst0l")).as_deref(),
            Some("DRV00002")
        );
        assert_eq!(
            sg_of(&roots, &roots.dev.join("nst1")),
            Some(roots.dev.join("sg2"))
        );
        assert_eq!(
            cached_serial(&roots, &roots.dev.join("sg3")).as_deref(),
            Some("LIB00001")
        );
        assert_eq!(
            sg_of(&roots, &roots.dev.join("tape/by-id/scsi-LIB00001-changer")),
            Some(roots.dev.join("sg3"))
        );
        assert_eq!(device_dir(&roots, &roots.dev.join("tape")), None);
    }

    #[test]
    fn missing_sysfs_finds_nothing() {
        let roots = Roots {
            sys: PathBuf::from("/nonexistent/sys"),
            dev: PathBuf::from("/dev"),
        };
        assert!(scan(&roots).unwrap().is_empty());
    }
}
