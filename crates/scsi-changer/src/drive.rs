//! Tape drive commands the changer needs (SSC-4): readiness and unloading.

use std::time::{Duration, Instant};

use crate::cdb::{self, page};
use crate::decode;
use crate::error::Error;
use crate::retry::{self, Idempotence, Observed, Request, RetryPolicy, TimeoutUse};
use crate::sense::{Sense, SenseKey, asc};
use crate::transport::Transport;

/// What TEST UNIT READY says about a drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// GOOD: a tape is loaded and the drive can be opened.
    Ready,
    /// MEDIUM NOT PRESENT (3Ah/xx): no tape, or the tape was ejected.
    NoMedium,
    /// Not ready for a reason that may pass (loading, calibrating, cleaning).
    NotYet(Sense),
}

impl std::fmt::Display for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Readiness::Ready => f.write_str("ready"),
            Readiness::NoMedium => f.write_str("no medium"),
            Readiness::NotYet(sense) => write!(f, "{sense}"),
        }
    }
}

/// A tape drive reached through a [`Transport`] (its sg node, or the simulator).
#[derive(Debug)]
pub struct TapeDrive<T> {
    transport: T,
    query_timeout: Duration,
    unload_timeout: Duration,
    observed: Observed,
}

impl<T: Transport> TapeDrive<T> {
    /// A drive with default timeouts (60 s for queries, 15 min for unloading).
    pub fn new(transport: T) -> Self {
        TapeDrive {
            transport,
            query_timeout: Duration::from_secs(60),
            unload_timeout: Duration::from_secs(900),
            observed: Observed::default(),
        }
    }

    /// Commands sent so far.
    pub fn observed(&self) -> &Observed {
        &self.observed
    }

    /// The device name.
    pub fn device(&self) -> &str {
        self.transport.name()
    }

    /// `INQUIRY (12h)` VPD page 80h: the drive's serial number.
    pub fn unit_serial_number(&mut self) -> Result<Option<String>, Error> {
        let mut buf = [0u8; 255];
        let req = Request {
            op: "INQUIRY VPD 80h",
            cdb: &cdb::inquiry(Some(page::UNIT_SERIAL_NUMBER), 255),
            timeout: self.query_timeout,
            idempotence: Idempotence::Idempotent,
            timeout_use: TimeoutUse::FitDeadline,
        };
        let n = retry::execute(
            &mut self.transport,
            &RetryPolicy::default(),
            None,
            &mut self.observed,
            &req,
            Some(&mut buf),
        )?;
        decode::decode_unit_serial_number(&buf[..n]).map_err(|source| Error::Decode {
            device: self.transport.name().to_owned(),
            op: req.op,
            source,
        })
    }

    /// `TEST UNIT READY (00h)`, once. Unit attentions (the tape just arrived) are absorbed.
    pub fn test_unit_ready(&mut self) -> Result<Readiness, Error> {
        let req = Request {
            op: "TEST UNIT READY",
            cdb: &cdb::test_unit_ready(),
            timeout: self.query_timeout,
            idempotence: Idempotence::Idempotent,
            timeout_use: TimeoutUse::FitDeadline,
        };
        // A policy that does not wait: the caller polls with its own deadline.
        let policy = RetryPolicy {
            not_ready_wait: Duration::ZERO,
            ..RetryPolicy::default()
        };
        match retry::execute(
            &mut self.transport,
            &policy,
            None,
            &mut self.observed,
            &req,
            None,
        ) {
            Ok(_) => Ok(Readiness::Ready),
            Err(Error::Sense { sense, .. } | Error::NotReady { sense, .. })
                if sense.key == SenseKey::NotReady =>
            {
                if sense.asc == asc::MEDIUM_NOT_PRESENT.0 {
                    Ok(Readiness::NoMedium)
                } else if matches!(sense.asc, 0x04 | 0x30)
                    && sense.ascq != 0x03
                    && sense.ascq != 0x12
                {
                    // Becoming ready, calibrating, cleaning: worth waiting for.
                    Ok(Readiness::NotYet(sense))
                } else {
                    Err(Error::Sense {
                        device: self.device().to_owned(),
                        op: req.op,
                        sense,
                    })
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Polls TEST UNIT READY until the drive is ready or `deadline` passes. A drive that keeps
    /// saying "no medium" for `no_medium_grace` is reported as such (the move failed to load).
    pub fn wait_ready(
        &mut self,
        deadline: Instant,
        poll: Duration,
        no_medium_grace: Duration,
    ) -> Result<Readiness, Error> {
        let started = Instant::now();
        loop {
            let state = self.test_unit_ready()?;
            let now = Instant::now();
            match state {
                Readiness::Ready => return Ok(state),
                Readiness::NoMedium if now.duration_since(started) >= no_medium_grace => {
                    return Ok(state);
                }
                _ if now + poll >= deadline => return Ok(state),
                _ => std::thread::sleep(poll),
            }
        }
    }

    /// `LOAD UNLOAD (1Bh)` with LOAD = 0: rewinds and ejects the tape so the robot can take it
    /// (what mtx-changer's `offline` setting does with `mt offline`). No tape is not an error.
    pub fn unload(&mut self) -> Result<(), Error> {
        let req = Request {
            op: "LOAD UNLOAD (unload)",
            cdb: &cdb::load_unload(false, false),
            timeout: self.unload_timeout,
            idempotence: Idempotence::Idempotent,
            timeout_use: TimeoutUse::Full,
        };
        match retry::execute(
            &mut self.transport,
            &RetryPolicy::default(),
            None,
            &mut self.observed,
            &req,
            None,
        ) {
            Ok(_) => Ok(()),
            Err(Error::Sense { sense, .. }) if sense.asc == asc::MEDIUM_NOT_PRESENT.0 => Ok(()),
            Err(e) => Err(e),
        }
    }
}
