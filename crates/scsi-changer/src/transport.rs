//! Executing one CDB: the [`Transport`] trait and the raw result it returns.
//!
//! A transport knows nothing about SMC. It sends a CDB with its data buffer and timeout and
//! returns the SCSI status, the host and driver status, the residual count and the sense bytes
//! exactly as the kernel (or the simulator) reported them. Classification and retries happen
//! above it, in [`crate::retry`].

use std::time::Duration;

use crate::sense::Sense;

/// Where the data of a command goes. The buffer travels with its direction, so a command can
/// not claim to read from the device without giving a buffer to read into.
#[derive(Debug)]
pub enum DataDirection<'a> {
    /// No data phase (TEST UNIT READY, MOVE MEDIUM, …).
    None,
    /// Data-in: the device fills the buffer (INQUIRY, READ ELEMENT STATUS, …).
    FromDevice(&'a mut [u8]),
    /// Data-out: the buffer is sent to the device.
    ToDevice(&'a [u8]),
}

impl DataDirection<'_> {
    /// Length of the data buffer (0 for [`DataDirection::None`]).
    pub fn len(&self) -> usize {
        match self {
            DataDirection::None => 0,
            DataDirection::FromDevice(b) => b.len(),
            DataDirection::ToDevice(b) => b.len(),
        }
    }

    /// Whether the command has no data buffer.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The same buffer, borrowed for a shorter time.
    pub fn reborrow(&mut self) -> DataDirection<'_> {
        match self {
            DataDirection::None => DataDirection::None,
            DataDirection::FromDevice(b) => DataDirection::FromDevice(b),
            DataDirection::ToDevice(b) => DataDirection::ToDevice(b),
        }
    }
}

/// One SCSI command: CDB, data buffer and the timeout that belongs to it.
#[derive(Debug)]
pub struct Command<'a> {
    /// The command descriptor block (6, 10 or 12 bytes here).
    pub cdb: &'a [u8],
    /// Data phase and buffer.
    pub data: DataDirection<'a>,
    /// How long the device may take before the command is aborted.
    pub timeout: Duration,
}

impl Command<'_> {
    /// The same command, its buffer borrowed for a shorter time (to send it from a slice).
    pub fn reborrow(&mut self) -> Command<'_> {
        Command {
            cdb: self.cdb,
            data: self.data.reborrow(),
            timeout: self.timeout,
        }
    }
}

/// SCSI status byte values (SAM-5) the driver distinguishes.
pub mod status {
    /// GOOD.
    pub const GOOD: u8 = 0x00;
    /// CHECK CONDITION: sense data describes the error.
    pub const CHECK_CONDITION: u8 = 0x02;
    /// CONDITION MET (treated as good).
    pub const CONDITION_MET: u8 = 0x04;
    /// BUSY.
    pub const BUSY: u8 = 0x08;
    /// RESERVATION CONFLICT.
    pub const RESERVATION_CONFLICT: u8 = 0x18;
    /// TASK SET FULL.
    pub const TASK_SET_FULL: u8 = 0x28;
    /// TASK ABORTED.
    pub const TASK_ABORTED: u8 = 0x40;
}

/// Linux host status codes (`DID_*`, include/scsi/scsi_status.h) that matter for retries.
pub mod host {
    /// DID_OK.
    pub const OK: u16 = 0x00;
    /// DID_NO_CONNECT: the target is gone.
    pub const NO_CONNECT: u16 = 0x01;
    /// DID_BUS_BUSY.
    pub const BUS_BUSY: u16 = 0x02;
    /// DID_TIME_OUT: the command timed out.
    pub const TIME_OUT: u16 = 0x03;
    /// DID_TRANSPORT_DISRUPTED: the link is being recovered (iSCSI reconnect).
    pub const TRANSPORT_DISRUPTED: u16 = 0x0e;
    /// DID_TRANSPORT_FAILFAST: the initiator gave up waiting for the link.
    pub const TRANSPORT_FAILFAST: u16 = 0x0f;
}

/// What came back from one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// SCSI status byte.
    pub status: u8,
    /// Host adapter status (`DID_*`); non-zero means the command may not have reached the device
    /// or its outcome is unknown.
    pub host_status: u16,
    /// Driver status (`DRIVER_*`).
    pub driver_status: u16,
    /// Bytes of the data buffer that were *not* transferred.
    pub resid: usize,
    /// Sense bytes actually written (at most 96 on Linux).
    pub sense: Vec<u8>,
    /// How long the command took, when the transport measures it.
    pub duration: Option<Duration>,
}

impl Completion {
    /// A GOOD completion with everything transferred.
    pub fn good() -> Self {
        Completion {
            status: status::GOOD,
            host_status: host::OK,
            driver_status: 0,
            resid: 0,
            sense: Vec::new(),
            duration: None,
        }
    }

    /// A CHECK CONDITION completion with the given sense bytes.
    pub fn check_condition(sense: Vec<u8>) -> Self {
        Completion {
            status: status::CHECK_CONDITION,
            sense,
            ..Completion::good()
        }
    }

    /// Decoded sense data, when the device returned any.
    pub fn decoded_sense(&self) -> Option<Sense> {
        Sense::parse(&self.sense)
    }
}

/// Executes single SCSI commands on one logical unit.
pub trait Transport {
    /// Sends `cmd` and waits for it to finish. An `Err` means the command could not be issued
    /// or waited for at all (an OS error); everything the device or the adapter said is in the
    /// [`Completion`].
    fn execute(&mut self, cmd: Command<'_>) -> std::io::Result<Completion>;

    /// Sends every command of `cmds` and waits for all of them; result `i` belongs to
    /// `cmds[i]`. A transport that can keep several commands in flight at once (sg's
    /// asynchronous interface) does, so their round trips overlap; the order in which the
    /// device sees them is then unspecified, so only commands that do not depend on each
    /// other (reads) belong in one call. By default they are sent one after the other.
    fn execute_many(&mut self, cmds: &mut [Command<'_>]) -> Vec<std::io::Result<Completion>> {
        cmds.iter_mut()
            .map(|cmd| self.execute(cmd.reborrow()))
            .collect()
    }

    /// A name for messages: the device path (`/dev/sg3`, `sim:/tmp/lib.txt`).
    fn name(&self) -> &str;
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn execute(&mut self, cmd: Command<'_>) -> std::io::Result<Completion> {
        (**self).execute(cmd)
    }

    fn execute_many(&mut self, cmds: &mut [Command<'_>]) -> Vec<std::io::Result<Completion>> {
        (**self).execute_many(cmds)
    }

    fn name(&self) -> &str {
        (**self).name()
    }
}

impl<T: Transport + ?Sized> Transport for &mut T {
    fn execute(&mut self, cmd: Command<'_>) -> std::io::Result<Completion> {
        (**self).execute(cmd)
    }

    fn execute_many(&mut self, cmds: &mut [Command<'_>]) -> Vec<std::io::Result<Completion>> {
        (**self).execute_many(cmds)
    }

    fn name(&self) -> &str {
        (**self).name()
    }
}
