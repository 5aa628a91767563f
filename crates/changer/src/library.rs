//! Opening a library by the name Bareos passes (contract C2): `/dev/sgN`, `/dev/schN` (resolved
//! to its sg sibling), a symlink to either, or `sim:PATH` (C3). Also finds a drive's own
//! transport, for readiness polling and unloading.

use std::path::{Path, PathBuf};

use scsi_changer::changer::Changer;
use scsi_changer::discovery::{self, Roots};
use scsi_changer::drive::TapeDrive;
use scsi_changer::quirks::Quirks;
use scsi_changer::sg_io::SgDevice;
use scsi_changer::sim::SimLibrary;
use scsi_changer::transport::Transport;
use scsi_changer::{DriveIndex, Error};

/// A transport the program can hold for any backend.
pub type DynTransport = Box<dyn Transport + Send>;

/// How a drive's readiness is asked after a load.
pub enum DriveProbe {
    /// TEST UNIT READY through the drive's own transport: simulated drives, and tape devices
    /// st cannot open for us (another process holds them).
    Scsi(TapeDrive<DynTransport>),
    /// Through the st driver, as `mt status` asks: st's own TEST UNIT READY then sees the
    /// unit attention of the new tape and resets its file position. Polling the sg node
    /// instead would consume that attention, and st would go on with the previous tape's
    /// position (docs/hardware-quirks.md).
    St(PathBuf),
}

impl DriveProbe {
    /// `Ok(None)` when the drive is ready, else what it says now.
    pub fn not_ready(&mut self) -> Result<Option<String>, Error> {
        match self {
            DriveProbe::Scsi(tape) => match tape.test_unit_ready()? {
                scsi_changer::drive::Readiness::Ready => Ok(None),
                other => Ok(Some(other.to_string())),
            },
            DriveProbe::St(path) => {
                let status =
                    scsi_changer::sg_io::tape_status(path).map_err(|source| Error::Open {
                        path: path.clone(),
                        source,
                    })?;
                Ok(match (status.online, status.no_tape) {
                    (true, _) => None,
                    (false, true) => Some("no tape (st: door open)".into()),
                    (false, false) => Some("not ready (st: not online)".into()),
                })
            }
        }
    }
}

/// What is behind a changer name.
#[derive(Debug, Clone)]
pub enum Backend {
    /// A real device reached through SG_IO.
    Sg {
        /// The sg node in use (after sch → sg resolution).
        sg: PathBuf,
        /// sysfs and /dev roots for discovery.
        roots: Roots,
    },
    /// A simulated library.
    Sim(SimLibrary),
}

/// An opened library.
pub struct Library {
    /// The name as given on the command line.
    pub name: String,
    /// What it is.
    pub backend: Backend,
    /// The changer.
    pub changer: Changer<DynTransport>,
}

/// Whether a first argument names a changer (protocol mode, C1) rather than a subcommand.
pub fn is_changer_name(arg: &str) -> bool {
    arg.starts_with('/') || arg.starts_with("sim:")
}

impl Library {
    /// Opens the changer named `name`.
    pub fn open(name: &str, roots: &Roots) -> Result<Library, Error> {
        Library::open_with(name, roots, |t| t)
    }

    /// Opens the changer named `name` with its transport wrapped by `wrap` (the daemon counts
    /// and times every command this way).
    pub fn open_with(
        name: &str,
        roots: &Roots,
        wrap: impl FnOnce(DynTransport) -> DynTransport,
    ) -> Result<Library, Error> {
        if let Some(path) = name.strip_prefix("sim:") {
            let sim = SimLibrary::open(Path::new(path))?;
            let changer = Changer::new(wrap(Box::new(sim.changer()) as DynTransport))
                .with_policy(scsi_changer::retry::RetryPolicy::immediate());
            return Ok(Library {
                name: name.to_owned(),
                backend: Backend::Sim(sim),
                changer,
            });
        }
        let given = Path::new(name);
        let sg = discovery::sg_node_for(roots, given).map_err(|source| Error::Open {
            path: given.to_owned(),
            source,
        })?;
        let device = SgDevice::open(&sg)?;
        let mut changer = Changer::new(wrap(Box::new(device) as DynTransport));
        // The kernel's copy of the INQUIRY identity picks the vendor quirks without a command.
        if let Some(dir) = discovery::device_dir(roots, &sg) {
            let attr = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
            changer.set_quirks(Quirks::for_device(&attr("vendor"), &attr("model")));
        }
        Ok(Library {
            name: name.to_owned(),
            backend: Backend::Sg {
                sg,
                roots: roots.clone(),
            },
            changer,
        })
    }

    /// The serial number of a real changer as the kernel cached it (sysfs `vpd_pg80`), found
    /// without opening the device; `None` for a simulated library or when sysfs has none.
    pub fn cached_serial(name: &str, roots: &Roots) -> Option<String> {
        if name.starts_with("sim:") {
            return None;
        }
        let sg = discovery::sg_node_for(roots, Path::new(name)).ok()?;
        discovery::cached_serial(roots, &sg)
    }

    /// The serial number that keys the library's lock: VPD page 80h (from sysfs when the
    /// kernel cached it, so no SCSI command), else the resolved device path.
    pub fn serial(&mut self) -> Result<String, Error> {
        match &self.backend {
            // Through SCSI like a real device, so injected faults reach this read too.
            Backend::Sim(sim) => match self.changer.unit_serial_number()? {
                Some(serial) => Ok(serial),
                None => sim.changer_serial(),
            },
            Backend::Sg { sg, roots } => {
                let cached = discovery::cached_serial(roots, sg);
                if let Some(serial) = cached {
                    return Ok(serial);
                }
                let sg = sg.clone();
                Ok(self
                    .changer
                    .unit_serial_number()?
                    .unwrap_or_else(|| sg.display().to_string()))
            }
        }
    }

    /// The serial number of an archive device (its VPD page 80h), without asking the changer.
    pub fn archive_device_serial(&self, archive_device: &Path) -> Result<Option<String>, Error> {
        match &self.backend {
            Backend::Sim(sim) => match sim
                .drive_index_for_path(archive_device)
                .and_then(|i| sim.drive(i))
            {
                Some(t) => TapeDrive::new(t).unit_serial_number(),
                None => Ok(None),
            },
            Backend::Sg { roots, .. } => {
                std::fs::metadata(archive_device).map_err(|source| Error::Open {
                    path: archive_device.to_owned(),
                    source,
                })?;
                Ok(discovery::cached_serial(roots, archive_device))
            }
        }
    }

    /// The tape drive behind an archive device, to poll and unload it.
    pub fn open_drive(&self, archive_device: &Path) -> Result<TapeDrive<DynTransport>, Error> {
        match &self.backend {
            Backend::Sim(sim) => {
                let t = sim
                    .drive_index_for_path(archive_device)
                    .and_then(|i| sim.drive(i))
                    .ok_or_else(|| Error::NotUsable {
                        path: archive_device.to_owned(),
                        detail: format!("no drive of {} has this archive device", self.name),
                    })?;
                Ok(TapeDrive::new(Box::new(t) as DynTransport))
            }
            Backend::Sg { roots, .. } => {
                let sg =
                    discovery::sg_of(roots, archive_device).ok_or_else(|| Error::NotUsable {
                        path: archive_device.to_owned(),
                        detail: "not a SCSI tape device known to sysfs (is the st module loaded?)"
                            .into(),
                    })?;
                let sg = SgDevice::open(&sg)?;
                Ok(TapeDrive::new(Box::new(sg) as DynTransport))
            }
        }
    }

    /// How to poll the readiness of the drive behind `archive_device` after a load. Opened
    /// before the move, so a drive that cannot be reached is refused while the cartridge is
    /// still in its slot.
    pub fn readiness_probe(&self, archive_device: &Path) -> Result<DriveProbe, Error> {
        let tape = self.open_drive(archive_device)?;
        if let Backend::Sim(_) = self.backend {
            return Ok(DriveProbe::Scsi(tape));
        }
        match scsi_changer::sg_io::tape_status(archive_device) {
            Ok(_) => Ok(DriveProbe::St(archive_device.to_owned())),
            Err(e) => {
                // EBUSY: someone (a storage daemon) holds the st device; readiness is still
                // known through sg, at the cost of st not seeing the new-tape attention.
                tracing::warn!(
                    archive_device = %archive_device.display(),
                    error = %e,
                    "cannot open the tape device through st; polling readiness on its sg node"
                );
                Ok(DriveProbe::Scsi(tape))
            }
        }
    }

    /// The archive device a drive index would have in a simulated library (for messages).
    pub fn sim_archive_device(&self, index: DriveIndex) -> Option<PathBuf> {
        match &self.backend {
            Backend::Sim(sim) => sim.archive_device(index.0),
            Backend::Sg { .. } => None,
        }
    }

    /// Tape devices known to sysfs (empty for a simulated library).
    pub fn tape_devices(&self) -> Vec<discovery::ScsiDevice> {
        match &self.backend {
            Backend::Sg { roots, .. } => discovery::scan(roots)
                .map(|all| {
                    all.into_iter()
                        .filter(discovery::ScsiDevice::is_tape)
                        .collect()
                })
                .unwrap_or_default(),
            Backend::Sim(_) => Vec::new(),
        }
    }
}
