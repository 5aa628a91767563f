//! A SCSI media changer (SMC-3) driver for Linux SG_IO.
//!
//! The crate sends SCSI commands itself — no mtx, no shell — and decodes every response with
//! bounds-checked readers that never panic. Layers, bottom up:
//!
//! * [`transport`]: the [`Transport`](transport::Transport) trait (one CDB in, status, sense and
//!   residual out), implemented by [`sg_io::SgDevice`] for `/dev/sg*` and by the simulator.
//! * [`cdb`] builders and [`decode`]rs, byte-exact per SPC-4/SMC-3.
//! * [`retry`]: the one retry policy (unit attention, becoming ready, transport errors), with
//!   the vendor [`quirks`] it consults.
//! * [`changer::Changer`] and [`drive::TapeDrive`]: the operations.
//! * [`inventory::Inventory`]: the contents, with mtx(1) slot numbering.
//! * [`discovery`]: changers and drives found through sysfs, drives mapped by serial number.
//! * [`sim`] (feature `sim`): a library simulated from `mtx status` text.
//!
//! ```no_run
//! use scsi_changer::{changer::Changer, sg_io::SgDevice};
//!
//! let device = SgDevice::open("/dev/sg3".as_ref())?;
//! let mut changer = Changer::new(device);
//! let (_, inventory) = changer.inventory(false)?;
//! println!("{} slots, {} drives", inventory.slot_count(), inventory.drives.len());
//! # Ok::<(), scsi_changer::Error>(())
//! ```
#![warn(missing_docs)]

pub mod address;
pub mod cdb;
pub mod changer;
pub mod cursor;
pub mod decode;
pub mod discovery;
pub mod drive;
pub mod element;
pub mod error;
pub mod inventory;
pub mod quirks;
pub mod retry;
pub mod sense;
pub mod sg_io;
#[cfg(feature = "sim")]
pub mod sim;
pub mod transport;

pub use address::{DriveIndex, ElementAddress, ElementType, SlotNumber};
pub use error::{DecodeError, Error};

/// Result of driver operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
