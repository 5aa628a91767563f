//! The Linux SG_IO transport (`/dev/sg*`, and any node that accepts SG_IO). This module holds
//! the workspace's only `unsafe` code: the `ioctl(fd, SG_IO, &hdr)` call.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io;
use std::marker::PhantomData;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
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
    pack_id: libc::c_int,          // unused with SG_IO
    usr_ptr: *mut libc::c_void,    // unused with SG_IO
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
    assert!(std::mem::offset_of!(SgIoHdr<'_>, status) == 64);
    assert!(std::mem::offset_of!(SgIoHdr<'_>, host_status) == 68);
    assert!(std::mem::offset_of!(SgIoHdr<'_>, resid) == 72);
    assert!(std::mem::offset_of!(SgIoHdr<'_>, info) == 80);
};

/// An open SG_IO-capable device node.
#[derive(Debug)]
pub struct SgDevice {
    file: File,
    path: PathBuf,
    name: String,
}

impl SgDevice {
    /// Opens `path` read-write (sg applies no opcode filter to read-write opens) and checks that
    /// it speaks SG v3 (`SG_GET_VERSION_NUM` ≥ 30000).
    pub fn open(path: &Path) -> crate::Result<SgDevice> {
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
                detail:
                    "not an SCSI generic (sg) device or an old sg driver; use the /dev/sgN node \
                         of the changer (`changer discover` finds it)"
                        .into(),
            });
        }
        Ok(SgDevice {
            file,
            name: path.display().to_string(),
            path: path.to_owned(),
        })
    }

    /// The path the device was opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Transport for SgDevice {
    fn execute(&mut self, cmd: Command<'_>) -> io::Result<Completion> {
        let mut sense = [0u8; SENSE_LEN];
        let (direction, dxferp, dxfer_len) = match cmd.data {
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
        let mut hdr = SgIoHdr {
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
            flags: 0,
            pack_id: 0,
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
        };
        // SAFETY: SG_IO reads and writes one `struct sg_io_hdr`, which `SgIoHdr` mirrors (layout
        // asserted above). Its pointers refer to `cmd.cdb` (cmd_len bytes), the data buffer of
        // `cmd.data` (dxfer_len bytes, writable for data-in) and `sense` (mx_sb_len bytes), all
        // of which stay borrowed and alive until the ioctl returns; the kernel keeps no
        // reference after that.
        let rc = unsafe {
            libc::ioctl(
                self.file.as_raw_fd(),
                SG_IO as _,
                &mut hdr as *mut SgIoHdr<'_>,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let written = usize::from(hdr.sb_len_wr).min(SENSE_LEN);
        Ok(Completion {
            status: hdr.status,
            host_status: hdr.host_status,
            driver_status: hdr.driver_status,
            resid: usize::try_from(hdr.resid.max(0)).unwrap_or(0),
            sense: sense[..written].to_vec(),
            duration: Some(Duration::from_millis(u64::from(hdr.duration))),
        })
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
