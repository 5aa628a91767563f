//! The Linux SCSI generic transport (`/dev/sg*`, and any node that accepts SG_IO). This module
//! holds the workspace's only `unsafe` code: the system calls that hand sg a `struct sg_io_hdr`,
//! and st's `MTIOCGET` ([`tape_status`]), which readiness polling after a load needs.
//!
//! **On an sg node every command goes through sg's asynchronous interface**: `write()` of the
//! header queues the command and returns at once; `poll()` and `read()` collect the finished
//! header. The SG_IO ioctl is not used there because sg waits for an SG_IO command
//! *interruptibly*: a signal that arrives meanwhile — a stop (SIGSTOP, SIGTSTP, a debugger), the
//! cgroup freezer, suspend — ends the wait with -ERESTARTSYS and leaves the command running as
//! an orphan, and when the process goes on, the kernel restarts the ioctl with the same header:
//! the command is sent a second time (`drivers/scsi/sg.c`, `sg_ioctl_common`, case SG_IO). For a
//! MOVE MEDIUM that is a second move, which fails (source empty) after the first succeeded. With
//! `write()` + `read()` nothing can be sent twice: `write()` returns only once the command is
//! queued and fails only when nothing was queued, and an interrupted `poll()` or `read()` only
//! waits again. No signal makes [`SgDevice`] give up on a command it sent.
//!
//! The same interface keeps several commands in flight on one descriptor (sg allows 16,
//! `SG_MAX_QUEUE`), which [`Transport::execute_many`] uses to overlap the round trips of
//! independent reads.
//!
//! **Other nodes** (`/dev/sch*`, `/dev/nst*`) have no such interface — a `write()` to a tape
//! node writes to the tape — and get the SG_IO ioctl. On them it goes through the block layer's
//! `blk_execute_rq`, which waits uninterruptibly: it is never restarted either.
//!
//! **Memory.** The kernel reads the CDB (and data-out) during `write()`, and writes sense and
//! data-in into our buffers only during the `read()` that returns that command (`sg_new_read`,
//! then `blk_rq_unmap_user` in the reader's context). A command that is never read back is
//! released by a kernel worker once the descriptor is closed, without touching user memory
//! (`bio_uncopy_user` copies nothing without a user address space). Hence the rule this module
//! keeps: every command submitted is read back before [`Transport::execute_many`] returns, and
//! when that is impossible the descriptor is closed first (and opened again for the next command).
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::transport::{Command, Completion, DataDirection, Transport};

/// `SG_IO` ioctl request number (include/scsi/sg.h): a plain number, not an `_IOWR` encoding.
const SG_IO: u32 = 0x2285;
/// `SG_GET_VERSION_NUM`.
const SG_GET_VERSION_NUM: u32 = 0x2282;
/// `SG_DXFER_NONE`.
const SG_DXFER_NONE: i32 = -1;
/// `SG_DXFER_TO_DEV`.
const SG_DXFER_TO_DEV: i32 = -2;
/// `SG_DXFER_FROM_DEV`.
const SG_DXFER_FROM_DEV: i32 = -3;
/// Sense bytes the kernel keeps (`SCSI_SENSE_BUFFERSIZE`).
const SENSE_LEN: usize = 96;
/// Commands sg queues per descriptor (`SG_MAX_QUEUE`); one more gets EDOM.
const SG_MAX_QUEUE: usize = 16;
/// `SCSI_GENERIC_MAJOR`: the character-device major of sg nodes.
const SCSI_GENERIC_MAJOR: libc::c_uint = 21;

/// Mirror of `struct sg_io_hdr` (include/scsi/sg.h). The lifetime ties the pointers to the
/// CDB, data and sense buffers they were made from.
#[repr(C)]
struct SgIoHdr<'a> {
    interface_id: libc::c_int,     // in: 'S'
    dxfer_direction: libc::c_int,  // in: SG_DXFER_*
    cmd_len: libc::c_uchar,        // in: CDB length
    mx_sb_len: libc::c_uchar,      // in: sense buffer size
    iovec_count: libc::c_ushort,   // in: 0 = dxferp is a plain buffer
    dxfer_len: libc::c_uint,       // in: data length
    dxferp: *mut libc::c_void,     // in/out: data buffer
    cmdp: *const libc::c_uchar,    // in: CDB
    sbp: *mut libc::c_uchar,       // out: sense buffer
    timeout: libc::c_uint,         // in: milliseconds (0 = queue default)
    flags: libc::c_uint,           // in: SG_FLAG_*
    pack_id: libc::c_int,          // in/out: which queued command a read() returned
    usr_ptr: *mut libc::c_void,    // unused
    status: libc::c_uchar,         // out: SCSI status
    masked_status: libc::c_uchar,  // out: status >> 1
    msg_status: libc::c_uchar,     // out
    sb_len_wr: libc::c_uchar,      // out: sense bytes written
    host_status: libc::c_ushort,   // out: DID_*
    driver_status: libc::c_ushort, // out: DRIVER_*
    resid: libc::c_int,            // out: dxfer_len - bytes transferred
    duration: libc::c_uint,        // out: milliseconds
    info: libc::c_uint,            // out: SG_INFO_*
    _buffers: PhantomData<&'a mut [u8]>,
}

// Layout as `<scsi/sg.h>` has it on 64-bit Linux (measured with gcc: 88 bytes).
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
const _: () = {
    assert!(std::mem::size_of::<SgIoHdr<'_>>() == 88);
    assert!(std::mem::offset_of!(SgIoHdr<'_>, dxfer_len) == 12);
    assert!(std::mem::offset_of!(SgIoHdr<'_>, dxferp) == 16);
    assert!(std::mem::offset_of!(SgIoHdr<'_>, timeout) == 40);
    assert!(std::mem::offset_of!(SgIoHdr<'_>, pack_id) == 48);
    assert!(std::mem::offset_of!(SgIoHdr<'_>, status) == 64);
    assert!(std::mem::offset_of!(SgIoHdr<'_>, host_status) == 68);
    assert!(std::mem::offset_of!(SgIoHdr<'_>, resid) == 72);
    assert!(std::mem::offset_of!(SgIoHdr<'_>, info) == 80);
};

/// The output fields of a finished header.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    status: u8,
    host_status: u16,
    driver_status: u16,
    resid: libc::c_int,
    sense_written: u8,
    duration_ms: libc::c_uint,
}

impl Outcome {
    fn completion(self, sense: &[u8; SENSE_LEN]) -> Completion {
        let written = usize::from(self.sense_written).min(SENSE_LEN);
        Completion {
            status: self.status,
            host_status: self.host_status,
            driver_status: self.driver_status,
            resid: usize::try_from(self.resid.max(0)).unwrap_or(0),
            sense: sense[..written].to_vec(),
            duration: Some(Duration::from_millis(u64::from(self.duration_ms))),
        }
    }
}

impl<'a> SgIoHdr<'a> {
    /// The header of `cmd`, pointing at its CDB, its data buffer and `sense`.
    fn new(
        cmd: &'a mut Command<'_>,
        sense: &'a mut [u8; SENSE_LEN],
        pack_id: libc::c_int,
    ) -> io::Result<SgIoHdr<'a>> {
        let (direction, dxferp, dxfer_len) = match &mut cmd.data {
            DataDirection::None => (SG_DXFER_NONE, std::ptr::null_mut(), 0usize),
            DataDirection::FromDevice(buf) => (
                SG_DXFER_FROM_DEV,
                buf.as_mut_ptr().cast::<libc::c_void>(),
                buf.len(),
            ),
            // The kernel only reads a data-out buffer; the header field is not const.
            DataDirection::ToDevice(buf) => (
                SG_DXFER_TO_DEV,
                buf.as_ptr().cast_mut().cast::<libc::c_void>(),
                buf.len(),
            ),
        };
        let cmd_len = u8::try_from(cmd.cdb.len()).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "CDB longer than 255 bytes")
        })?;
        let dxfer_len = libc::c_uint::try_from(dxfer_len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "data buffer too large"))?;
        let timeout_ms =
            libc::c_uint::try_from(cmd.timeout.as_millis().max(1)).unwrap_or(libc::c_uint::MAX);
        Ok(SgIoHdr {
            interface_id: libc::c_int::from(b'S'),
            dxfer_direction: direction,
            cmd_len,
            mx_sb_len: SENSE_LEN as libc::c_uchar,
            iovec_count: 0,
            dxfer_len,
            dxferp,
            cmdp: cmd.cdb.as_ptr(),
            sbp: sense.as_mut_ptr(),
            timeout: timeout_ms,
            pack_id,
            // Flags and every output field start zeroed.
            ..blank_header()
        })
    }

    fn outcome(&self) -> Outcome {
        Outcome {
            status: self.status,
            host_status: self.host_status,
            driver_status: self.driver_status,
            resid: self.resid,
            sense_written: self.sb_len_wr,
            duration_ms: self.duration,
        }
    }
}

/// What `read()` fills in: a whole header, whose pointers are the kernel's copy of those a
/// queued command was written with. They are never followed.
fn blank_header() -> SgIoHdr<'static> {
    SgIoHdr {
        interface_id: 0,
        dxfer_direction: 0,
        cmd_len: 0,
        mx_sb_len: 0,
        iovec_count: 0,
        dxfer_len: 0,
        dxferp: std::ptr::null_mut(),
        cmdp: std::ptr::null(),
        sbp: std::ptr::null_mut(),
        timeout: 0,
        flags: 0,
        pack_id: -1,
        usr_ptr: std::ptr::null_mut(),
        status: 0,
        masked_status: 0,
        msg_status: 0,
        sb_len_wr: 0,
        host_status: 0,
        driver_status: 0,
        resid: 0,
        duration: 0,
        info: 0,
        _buffers: PhantomData,
    }
}

/// An open SG_IO-capable device node.
#[derive(Debug)]
pub struct SgDevice {
    /// `None` after commands had to be abandoned: opened again on the next command.
    file: Option<File>,
    path: PathBuf,
    name: String,
    /// An sg node: commands go through write()/read(), several at a time.
    queued: bool,
}

/// Opens `path` read-write (sg applies no opcode filter to read-write opens) and checks that it
/// speaks SG v3 (`SG_GET_VERSION_NUM` ≥ 30000). O_NONBLOCK: open does not wait out a host's
/// error recovery, and read() returns EAGAIN instead of waiting (poll() waits).
fn open_node(path: &Path) -> crate::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|source| crate::Error::Open {
            path: path.to_owned(),
            source,
        })?;
    let mut version: libc::c_int = 0;
    // SAFETY: SG_GET_VERSION_NUM writes one `int` through the pointer, which points to a
    // live, properly aligned `c_int` for the duration of the call.
    let rc = unsafe {
        libc::ioctl(
            file.as_raw_fd(),
            SG_GET_VERSION_NUM as _,
            &mut version as *mut libc::c_int,
        )
    };
    if rc < 0 || version < 30000 {
        return Err(crate::Error::NotUsable {
            path: path.to_owned(),
            detail: "not an SCSI generic (sg) device or an old sg driver; use the /dev/sgN node \
                     of the changer (`changer discover` finds it)"
                .into(),
        });
    }
    Ok(file)
}

/// Whether `file` is an sg character device (and so has the write()/read() interface).
fn is_sg_node(file: &File) -> bool {
    file.metadata().is_ok_and(|m| {
        m.file_type().is_char_device() && libc::major(m.rdev()) == SCSI_GENERIC_MAJOR
    })
}

impl SgDevice {
    /// Opens `path` read-write and checks that it speaks SG v3.
    pub fn open(path: &Path) -> crate::Result<SgDevice> {
        let file = open_node(path)?;
        let queued = is_sg_node(&file);
        Ok(SgDevice {
            file: Some(file),
            name: path.display().to_string(),
            path: path.to_owned(),
            queued,
        })
    }

    /// The path the device was opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The descriptor, opened again if commands were abandoned on the last one.
    fn fd(&mut self) -> io::Result<RawFd> {
        if let Some(file) = &self.file {
            return Ok(file.as_raw_fd());
        }
        let file = open_node(&self.path).map_err(|e| match e {
            crate::Error::Open { source, .. } => source,
            other => io::Error::other(other.to_string()),
        })?;
        tracing::info!(device = %self.name, "device opened again");
        Ok(self.file.insert(file).as_raw_fd())
    }

    /// One command through the SG_IO ioctl (nodes other than sg).
    fn ioctl(&mut self, mut cmd: Command<'_>) -> io::Result<Completion> {
        let fd = self.fd()?;
        let mut sense = [0u8; SENSE_LEN];
        let mut hdr = SgIoHdr::new(&mut cmd, &mut sense, 0)?;
        // SAFETY: SG_IO reads and writes one `struct sg_io_hdr`, which `SgIoHdr` mirrors (layout
        // asserted above). Its pointers refer to `cmd.cdb` (cmd_len bytes), the data buffer of
        // `cmd.data` (dxfer_len bytes, writable for data-in) and `sense` (mx_sb_len bytes), all
        // of which stay borrowed and alive until the ioctl returns; the kernel keeps no
        // reference after that (on these nodes the wait is uninterruptible: blk_execute_rq).
        let rc = unsafe { libc::ioctl(fd, SG_IO as _, &mut hdr as *mut SgIoHdr<'_>) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let outcome = hdr.outcome();
        Ok(outcome.completion(&sense))
    }

    /// Every command through write()/read(), up to [`SG_MAX_QUEUE`] in flight at once.
    fn queued(&mut self, cmds: &mut [Command<'_>]) -> Vec<io::Result<Completion>> {
        let fd = match self.fd() {
            Ok(fd) => fd,
            Err(e) => {
                return cmds
                    .iter()
                    .map(|_| Err(io::Error::new(e.kind(), e.to_string())))
                    .collect();
            }
        };
        // Declared before `flight`, so dropped after it: the descriptor is closed (abandoning
        // whatever is left) before the sense buffers are freed.
        let mut sense = vec![[0u8; SENSE_LEN]; cmds.len()];
        let mut states: Vec<State> = cmds.iter().map(|_| State::Waiting).collect();
        let mut flight = InFlight {
            file: &mut self.file,
            count: 0,
        };
        let mut next = 0;
        while next < cmds.len() || flight.count > 0 {
            while next < cmds.len() && flight.count < SG_MAX_QUEUE {
                let Ok(pack_id) = libc::c_int::try_from(next) else {
                    states[next] = State::Done(Err(io::Error::other("too many commands")));
                    next += 1;
                    continue;
                };
                let sent = SgIoHdr::new(&mut cmds[next], &mut sense[next], pack_id).and_then(
                    // SAFETY: the header points into `cmds[next]` and `sense[next]`. Both stay
                    // in place and unused by us until the command is read back below or the
                    // descriptor is closed: `cmds` is borrowed for this whole call, `sense` is
                    // never resized and outlives `flight`, which closes the descriptor when it
                    // is dropped with commands left.
                    |hdr| unsafe { submit(fd, &hdr) },
                );
                match sent {
                    Ok(()) => {
                        states[next] = State::InFlight;
                        flight.count += 1;
                    }
                    // The queue is full after all: collect one, then go on.
                    Err(e) if e.raw_os_error() == Some(libc::EDOM) && flight.count > 0 => break,
                    Err(e) => states[next] = State::Done(Err(e)),
                }
                next += 1;
            }
            if flight.count == 0 {
                continue;
            }
            // SAFETY: every command in flight on `fd` was submitted above; its buffers are
            // alive and not referenced by us (see the SAFETY note at `submit`).
            let received = unsafe { receive(fd) };
            let slot = received.as_ref().ok().and_then(|hdr| {
                usize::try_from(hdr.pack_id)
                    .ok()
                    .filter(|&i| matches!(states.get(i), Some(State::InFlight)))
            });
            match (received, slot) {
                (Ok(hdr), Some(i)) => {
                    states[i] = State::Done(Ok(hdr.outcome().completion(&sense[i])));
                    flight.count -= 1;
                }
                (received, _) => {
                    let why = match received {
                        Err(e) => e,
                        Ok(hdr) => io::Error::other(format!(
                            "sg returned a command this process did not send (pack id {})",
                            hdr.pack_id
                        )),
                    };
                    tracing::error!(device = %self.name, error = %why, outstanding = flight.count,
                        "cannot collect the commands in flight; closing the device");
                    flight.abandon();
                    for state in &mut states {
                        let what = match state {
                            State::InFlight => "sent, but its outcome is unknown",
                            State::Waiting => "not sent",
                            State::Done(_) => continue,
                        };
                        *state =
                            State::Done(Err(io::Error::new(why.kind(), format!("{what}: {why}"))));
                    }
                    // `fd` is closed now (its number may even be reused): nothing more goes
                    // through it.
                    break;
                }
            }
        }
        drop(flight);
        states
            .into_iter()
            .map(|s| match s {
                State::Done(r) => r,
                State::Waiting | State::InFlight => Err(io::Error::other("not sent")),
            })
            .collect()
    }
}

/// Where one command of a batch is.
enum State {
    Waiting,
    InFlight,
    Done(io::Result<Completion>),
}

/// The commands submitted on a descriptor and not yet read back. Dropped with any left (an
/// error, a panic), it closes the descriptor, so that no later read() can copy their data into
/// buffers that are gone.
struct InFlight<'d> {
    file: &'d mut Option<File>,
    count: usize,
}

impl InFlight<'_> {
    fn abandon(&mut self) {
        self.file.take();
        self.count = 0;
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.count > 0 {
            self.abandon();
        }
    }
}

/// Queues the command of `hdr` on the sg descriptor `fd` without waiting for it.
///
/// # Safety
///
/// The CDB, data and sense buffers `hdr` points to must stay valid, and not be accessed by the
/// caller, until the command has been read back with [`receive`] or `fd` has been closed.
unsafe fn submit(fd: RawFd, hdr: &SgIoHdr<'_>) -> io::Result<()> {
    let len = std::mem::size_of::<SgIoHdr<'_>>();
    loop {
        // SAFETY: write() reads `len` bytes from `hdr`, a live `struct sg_io_hdr` (layout
        // asserted above); the kernel copies the CDB and data-out during the call and keeps the
        // data-in and sense pointers for the read() that returns the command, which the caller
        // keeps valid.
        let n = unsafe { libc::write(fd, (hdr as *const SgIoHdr<'_>).cast(), len) };
        if n >= 0 {
            return if n as usize == len {
                Ok(())
            } else {
                Err(io::Error::other(format!(
                    "sg took {n} of {len} header bytes"
                )))
            };
        }
        let e = io::Error::last_os_error();
        // sg returns an error only before the command is queued: trying again sends it once.
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Waits for any command in flight on the sg descriptor `fd` and returns its header. Signals
/// only make it wait again.
///
/// # Safety
///
/// The buffers of every command in flight on `fd` must be valid and not accessed by the caller:
/// read() copies one command's sense and data-in into them.
unsafe fn receive(fd: RawFd) -> io::Result<SgIoHdr<'static>> {
    let len = std::mem::size_of::<SgIoHdr<'_>>();
    loop {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll() reads and writes one `pollfd`, which lives on the stack for the call.
        if unsafe { libc::poll(&mut pfd, 1, -1) } < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let mut hdr = blank_header();
        // SAFETY: read() writes at most `len` bytes into `hdr`, a `struct sg_io_hdr` whose
        // fields are all integers and raw pointers (any bytes are valid); during the call it
        // also copies the returned command's sense (≤ mx_sb_len bytes) and data-in (≤ dxfer_len
        // bytes) through the pointers it was submitted with, which the caller keeps valid.
        let n = unsafe { libc::read(fd, (&mut hdr as *mut SgIoHdr<'_>).cast(), len) };
        if n >= 0 {
            return if n as usize == len {
                Ok(hdr)
            } else {
                Err(io::Error::other(format!(
                    "sg returned {n} of {len} header bytes"
                )))
            };
        }
        let e = io::Error::last_os_error();
        let hung_up = pfd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0;
        match e.raw_os_error() {
            Some(libc::EINTR) => {}
            // sg_poll says POLLHUP when the device is detaching; its reply will never come.
            Some(libc::EAGAIN) if hung_up => {
                return Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    "the device went away with commands outstanding",
                ));
            }
            Some(libc::EAGAIN) => {}
            _ => return Err(e),
        }
    }
}

impl Transport for SgDevice {
    fn execute(&mut self, cmd: Command<'_>) -> io::Result<Completion> {
        if !self.queued {
            return self.ioctl(cmd);
        }
        self.queued(&mut [cmd])
            .pop()
            .unwrap_or_else(|| Err(io::Error::other("no result")))
    }

    fn execute_many(&mut self, cmds: &mut [Command<'_>]) -> Vec<io::Result<Completion>> {
        if self.queued {
            self.queued(cmds)
        } else {
            cmds.iter_mut()
                .map(|cmd| self.ioctl(cmd.reborrow()))
                .collect()
        }
    }

    fn name(&self) -> &str {
        &self.name
    }
}

/// `MTIOCGET` (linux/mtio.h): `_IOR('m', 2, struct mtget)`.
const MTIOCGET: libc::c_ulong = 0x8030_6d02;
/// `GMT_ONLINE`: a tape is loaded and the drive is ready.
const GMT_ONLINE: libc::c_long = 0x0100_0000;
/// `GMT_DR_OPEN`: no tape in the drive.
const GMT_DR_OPEN: libc::c_long = 0x0004_0000;

/// Mirror of `struct mtget` (linux/mtio.h).
#[repr(C)]
#[derive(Default)]
struct MtGet {
    mt_type: libc::c_long,
    mt_resid: libc::c_long,
    mt_dsreg: libc::c_long,
    mt_gstat: libc::c_long,
    mt_erreg: libc::c_long,
    mt_fileno: libc::c_int, // __kernel_daddr_t
    mt_blkno: libc::c_int,
}

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
const _: () = assert!(std::mem::size_of::<MtGet>() == 48); // the size MTIOCGET encodes

/// What the st driver says about a tape device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TapeStatus {
    /// A tape is loaded and ready (`GMT_ONLINE`).
    pub online: bool,
    /// No tape in the drive (`GMT_DR_OPEN`).
    pub no_tape: bool,
    /// st's file number (−1 when unknown).
    pub file_number: i32,
    /// st's block number within the file (−1 when unknown).
    pub block_number: i32,
}

/// Opens a tape device of the `st` driver without blocking and asks it for its status, as
/// `mt status` does. st's open sends TEST UNIT READY itself, so a unit attention that says a
/// new tape is in (28h/00h) reaches st, which then forgets the previous tape's position; a
/// TEST UNIT READY on the drive's sg node would consume that attention instead.
pub fn tape_status(path: &Path) -> io::Result<TapeStatus> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    let mut status = MtGet::default();
    // SAFETY: MTIOCGET writes one `struct mtget` through the pointer, which `MtGet` mirrors
    // (its size is asserted above and encoded in the request number); the pointer refers to a
    // live, aligned local that outlives the call.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), MTIOCGET as _, &mut status as *mut MtGet) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(TapeStatus {
        online: status.mt_gstat & GMT_ONLINE != 0,
        no_tape: status.mt_gstat & GMT_DR_OPEN != 0,
        file_number: status.mt_fileno,
        block_number: status.mt_blkno,
    })
}
