//! The retry policy, applied in one place: [`execute`] sends a command through a
//! [`Transport`] and decides, from status, sense and host status, whether to retry, wait or fail.
//!
//! * UNIT ATTENTION: the command was not executed; retried at once, a bounded number of times
//!   (stacked attentions after a reset or an iSCSI re-login). The caller is told, so caches
//!   can be dropped.
//! * NOT READY, becoming ready (04h/01h) and similar transient causes: polled until the device
//!   is ready, the wait limit, or the caller's deadline, whichever comes first. Vendor codes
//!   (04h/80h–FFh) only when the device's [`Quirks`] list them; otherwise they fail at once
//!   with the decoded text.
//! * BUSY, TASK SET FULL: short back-off (the command was not executed).
//! * TASK ABORTED status and ABORTED COMMAND sense (key 0Bh, whatever the ASC: a link, parity
//!   or internal error): the command may or may not have been executed. Idempotent commands
//!   are sent again (at most [`RetryPolicy::aborted_retries`] times); a MOVE is not — like a
//!   transport error, it is [`crate::changer::Changer::move_medium`]'s to settle by re-reading
//!   the two elements.
//! * Transport errors without sense: idempotent commands are retried; a MOVE is not.
//!
//! A command's timeout is decided per command class ([`TimeoutUse`]): the deadline may cut a
//! query's or a read's, never a robot motion's.

use std::time::{Duration, Instant};

use crate::error::Error;
use crate::quirks::Quirks;
use crate::sense::{Sense, SenseKey};
use crate::transport::{Command, Completion, DataDirection, Transport, host, status};

/// How hard to try. Every number here is a bound; the caller's deadline bounds them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// UNIT ATTENTIONs tolerated per command (mtx clears up to 10 stacked ones).
    pub unit_attention_retries: u32,
    /// Longest wait for a device that reports it is becoming ready.
    pub not_ready_wait: Duration,
    /// Pause between polls of a not-ready device.
    pub not_ready_poll: Duration,
    /// Retries after BUSY or TASK SET FULL.
    pub busy_retries: u32,
    /// Pause after BUSY and friends, after an abort and after a transport error.
    pub busy_delay: Duration,
    /// Retries of an idempotent command after a transport error (link reset, iSCSI reconnect).
    pub transport_retries: u32,
    /// Retries of an idempotent command answered TASK ABORTED or ABORTED COMMAND.
    pub aborted_retries: u32,
    /// The device's vendor quirks (which vendor NOT READY codes pass by themselves).
    pub quirks: Quirks,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            unit_attention_retries: 10,
            not_ready_wait: Duration::from_secs(600),
            not_ready_poll: Duration::from_secs(1),
            busy_retries: 5,
            busy_delay: Duration::from_millis(500),
            transport_retries: 3,
            aborted_retries: 3,
            quirks: Quirks::NONE,
        }
    }
}

impl RetryPolicy {
    /// A policy for tests and simulated libraries: same bounds, no real waiting.
    pub fn immediate() -> Self {
        RetryPolicy {
            not_ready_poll: Duration::from_millis(1),
            busy_delay: Duration::from_millis(1),
            ..RetryPolicy::default()
        }
    }
}

/// Whether a command may be sent again when its outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotence {
    /// Reads and status queries: sending twice is harmless.
    Idempotent,
    /// MOVE MEDIUM and friends: never re-sent blindly.
    Moves,
}

/// Whether the caller's deadline may shorten a command's timeout.
///
/// When a timeout expires the kernel's SCSI error handler aborts the command and may reset the
/// LUN, the target or the host; on a shared path that also hits drives that are writing. A
/// robot motion cut short can leave a cartridge in the gripper, so motions always go out with
/// their full timeout and the deadline only decides whether they start (the caller's
/// business). Queries and reads have nothing to leave half done and take seconds against a
/// budget of minutes; cutting theirs keeps every command inside the budget, so the answer to
/// Bareos comes before Maximum Changer Wait runs out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutUse {
    /// The timeout is cut to what is left before the deadline (at least 1 s).
    FitDeadline,
    /// The full timeout, whatever the deadline: MOVE MEDIUM, EXCHANGE MEDIUM, INITIALIZE
    /// ELEMENT STATUS, LOAD UNLOAD.
    Full,
}

/// One command to send, with everything the policy needs to know about it.
#[derive(Debug)]
pub struct Request<'a> {
    /// Name of the operation for messages ("READ ELEMENT STATUS").
    pub op: &'static str,
    /// The CDB.
    pub cdb: &'a [u8],
    /// Timeout of one attempt.
    pub timeout: Duration,
    /// Whether it may be re-sent after a transport error or an abort.
    pub idempotence: Idempotence,
    /// Whether the deadline may shorten `timeout`.
    pub timeout_use: TimeoutUse,
}

/// What happened while executing, for callers that keep caches or statistics.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Observed {
    /// SCSI commands sent, retries included.
    pub commands: u32,
    /// Data-in bytes received.
    pub bytes_in: u64,
    /// A UNIT ATTENTION was seen: the library may have changed behind our back.
    pub unit_attention: bool,
    /// The last UNIT ATTENTION's sense.
    pub last_attention: Option<Sense>,
}

/// Sends `req` with `data` through `transport` under `policy`, retrying as the module doc says.
/// Returns the number of data-in bytes transferred.
pub fn execute<T: Transport + ?Sized>(
    transport: &mut T,
    policy: &RetryPolicy,
    deadline: Option<Instant>,
    observed: &mut Observed,
    req: &Request<'_>,
    mut data: Option<&mut [u8]>,
) -> Result<usize, Error> {
    let started = Instant::now();
    let mut attentions = 0u32;
    let mut busy = 0u32;
    let mut transport_errors = 0u32;
    let mut aborts = 0u32;
    let device = transport_name(transport);
    let device = || device.clone();
    loop {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Error::DeadlineExceeded {
                device: device(),
                op: req.op,
            });
        }
        let len = data.as_ref().map_or(0, |d| d.len());
        let direction = match data.as_deref_mut() {
            Some(buf) => DataDirection::FromDevice(buf),
            None => DataDirection::None,
        };
        let timeout = attempt_timeout(req.timeout, req.timeout_use, deadline);
        observed.commands += 1;
        tracing::trace!(op = req.op, cdb = %hex(req.cdb), "sending");
        let completion = transport
            .execute(Command {
                cdb: req.cdb,
                data: direction,
                timeout,
            })
            .map_err(|source| Error::Io {
                device: device(),
                op: req.op,
                source,
            })?;
        let transferred = len.saturating_sub(completion.resid);
        match classify(&completion, &policy.quirks) {
            Verdict::Good => {
                observed.bytes_in += transferred as u64;
                tracing::debug!(op = req.op, transferred, duration = ?completion.duration, "done");
                return Ok(transferred);
            }
            Verdict::Attention(sense) => {
                observed.unit_attention = true;
                observed.last_attention = Some(sense);
                attentions += 1;
                tracing::info!(op = req.op, %sense, attempt = attentions, "unit attention, retrying");
                if attentions > policy.unit_attention_retries {
                    return Err(Error::Sense {
                        device: device(),
                        op: req.op,
                        sense,
                    });
                }
            }
            Verdict::NotReady(sense) => {
                tracing::debug!(op = req.op, %sense, "not ready");
                let waited = started.elapsed();
                let limit_reached = waited >= policy.not_ready_wait
                    || deadline.is_some_and(|d| Instant::now() + policy.not_ready_poll >= d);
                if limit_reached {
                    return Err(Error::NotReady {
                        device: device(),
                        op: req.op,
                        sense,
                        waited,
                    });
                }
                tracing::info!(op = req.op, %sense, ?waited, "device not ready, waiting");
                std::thread::sleep(policy.not_ready_poll);
            }
            Verdict::Sense(sense) => {
                return Err(Error::Sense {
                    device: device(),
                    op: req.op,
                    sense,
                });
            }
            Verdict::Busy(detail) => {
                busy += 1;
                if busy > policy.busy_retries {
                    return Err(Error::Transport {
                        device: device(),
                        op: req.op,
                        detail,
                    });
                }
                tracing::info!(op = req.op, detail, "device busy, retrying");
                std::thread::sleep(policy.busy_delay);
            }
            Verdict::Aborted { detail, sense } => {
                aborts += 1;
                if req.idempotence == Idempotence::Moves || aborts > policy.aborted_retries {
                    return Err(Error::Aborted {
                        device: device(),
                        op: req.op,
                        detail,
                        sense,
                    });
                }
                tracing::warn!(
                    op = req.op,
                    detail,
                    attempt = aborts,
                    "command aborted, retrying"
                );
                std::thread::sleep(policy.busy_delay);
            }
            Verdict::TransportFailure(detail) => {
                transport_errors += 1;
                if req.idempotence == Idempotence::Moves
                    || transport_errors > policy.transport_retries
                {
                    return Err(Error::Transport {
                        device: device(),
                        op: req.op,
                        detail,
                    });
                }
                tracing::warn!(op = req.op, detail, "transport error, retrying");
                std::thread::sleep(policy.busy_delay);
            }
        }
    }
}

/// The timeout one attempt is sent with: `timeout`, cut to what is left before the deadline
/// (at least 1 s) when the command class allows it ([`TimeoutUse`]).
pub fn attempt_timeout(
    timeout: Duration,
    timeout_use: TimeoutUse,
    deadline: Option<Instant>,
) -> Duration {
    match (timeout_use, deadline) {
        (TimeoutUse::FitDeadline, Some(d)) => timeout.min(
            d.saturating_duration_since(Instant::now())
                .max(Duration::from_secs(1)),
        ),
        (TimeoutUse::FitDeadline, None) | (TimeoutUse::Full, _) => timeout,
    }
}

fn transport_name<T: Transport + ?Sized>(t: &T) -> String {
    t.name().to_owned()
}

enum Verdict {
    Good,
    Attention(Sense),
    NotReady(Sense),
    Sense(Sense),
    Busy(String),
    Aborted {
        detail: String,
        sense: Option<Sense>,
    },
    TransportFailure(String),
}

fn classify(c: &Completion, quirks: &Quirks) -> Verdict {
    // Sense wins even with a host error: some HBAs report both (PBS saw it on RAID adapters).
    if c.status == status::CHECK_CONDITION || !c.sense.is_empty() && c.status != status::GOOD {
        let Some(sense) = c.decoded_sense() else {
            return Verdict::TransportFailure(format!(
                "CHECK CONDITION without decodable sense data ({} bytes)",
                c.sense.len()
            ));
        };
        return match sense.key {
            SenseKey::NoSense | SenseKey::RecoveredError | SenseKey::Completed => Verdict::Good,
            SenseKey::UnitAttention => Verdict::Attention(sense),
            SenseKey::NotReady if transient_not_ready(&sense, quirks) => Verdict::NotReady(sense),
            // Whatever the ASC (08h/01h, 47h/xx, 4Bh/xx, 44h/00h, 4Eh/00h …): the device gave
            // up on the command at some point, done or not.
            SenseKey::AbortedCommand => Verdict::Aborted {
                detail: sense.to_string(),
                sense: Some(sense),
            },
            _ => Verdict::Sense(sense),
        };
    }
    match c.status {
        status::GOOD | status::CONDITION_MET => {}
        status::BUSY => return Verdict::Busy("device busy".into()),
        status::TASK_SET_FULL => return Verdict::Busy("task set full".into()),
        status::TASK_ABORTED => {
            return Verdict::Aborted {
                detail: "TASK ABORTED status (another initiator's task management or a reset \
                         ended it)"
                    .into(),
                sense: None,
            };
        }
        status::RESERVATION_CONFLICT => {
            return Verdict::TransportFailure(
                "reservation conflict: another initiator holds a reservation on the device".into(),
            );
        }
        other => return Verdict::TransportFailure(format!("SCSI status {other:#04x}")),
    }
    if c.host_status != host::OK {
        return Verdict::TransportFailure(host_text(c.host_status));
    }
    // DRIVER_SENSE (08h) without CHECK CONDITION carries nothing new; other driver codes mean
    // the command did not complete normally (older kernels: DRIVER_TIMEOUT 06h).
    if c.driver_status & 0x0f != 0 && c.driver_status & 0x0f != 0x08 {
        return Verdict::TransportFailure(format!("driver status {:#06x}", c.driver_status));
    }
    Verdict::Good
}

/// NOT READY causes that end by themselves: becoming ready, cause not reportable, operation in
/// progress, and the vendor codes the device's quirks list (IBM's pause mode 04h/85h). Other
/// vendor codes mean nothing to this program, so they are not waited on blindly.
fn transient_not_ready(s: &Sense, quirks: &Quirks) -> bool {
    s.asc == 0x04 && matches!(s.ascq, 0x00 | 0x01 | 0x07)
        || quirks.is_transient_not_ready(s.asc, s.ascq)
}

fn host_text(code: u16) -> String {
    let what = match code {
        host::NO_CONNECT => "target not reachable (DID_NO_CONNECT)",
        host::BUS_BUSY => "bus busy (DID_BUS_BUSY)",
        host::TIME_OUT => "command timed out (DID_TIME_OUT)",
        0x04 => "bad target (DID_BAD_TARGET)",
        0x05 => "command aborted (DID_ABORT)",
        0x07 => "internal adapter error (DID_ERROR)",
        0x08 => "bus reset (DID_RESET)",
        host::TRANSPORT_DISRUPTED => "link down, being recovered (DID_TRANSPORT_DISRUPTED)",
        host::TRANSPORT_FAILFAST => {
            "link lost and recovery timed out (DID_TRANSPORT_FAILFAST; check iSCSI replacement_timeout)"
        }
        _ => "adapter error",
    };
    format!("{what}, host status {code:#06x}")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// For a command sent outside [`execute`] (reads sent together through
/// [`Transport::execute_many`]): counts it in `observed` as [`execute`] would, and returns the
/// data-in bytes transferred when [`execute`] would have accepted `completion` at once.
/// `None` means: send the command again through [`execute`], which applies the policy to what
/// the device answers then (a UNIT ATTENTION seen here is recorded, as the device reports it
/// only once).
pub fn accepted(
    policy: &RetryPolicy,
    observed: &mut Observed,
    completion: &Completion,
    buffer_len: usize,
) -> Option<usize> {
    observed.commands += 1;
    match classify(completion, &policy.quirks) {
        Verdict::Good => {
            let transferred = buffer_len.saturating_sub(completion.resid);
            observed.bytes_in += transferred as u64;
            Some(transferred)
        }
        Verdict::Attention(sense) => {
            observed.unit_attention = true;
            observed.last_attention = Some(sense);
            None
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::io;

    /// Replays scripted completions and counts what was sent.
    struct Script(VecDeque<io::Result<Completion>>);

    impl Transport for Script {
        fn execute(&mut self, _cmd: Command<'_>) -> io::Result<Completion> {
            self.0.pop_front().expect("script ran out")
        }
        fn name(&self) -> &str {
            "script"
        }
    }

    fn sense(key: SenseKey, asc: u8, ascq: u8) -> Completion {
        Completion::check_condition(Sense::fixed_bytes(key, asc, ascq))
    }

    fn host_error(code: u16) -> Completion {
        Completion {
            host_status: code,
            ..Completion::good()
        }
    }

    fn run(
        script: Vec<Completion>,
        idempotence: Idempotence,
    ) -> (Result<usize, Error>, Observed, usize) {
        let mut t = Script(script.into_iter().map(Ok).collect());
        let mut observed = Observed::default();
        let req = Request {
            op: "TEST",
            cdb: &[0; 6],
            timeout: Duration::from_secs(1),
            idempotence,
            timeout_use: TimeoutUse::FitDeadline,
        };
        let r = execute(
            &mut t,
            &RetryPolicy::immediate(),
            None,
            &mut observed,
            &req,
            None,
        );
        (r, observed, t.0.len())
    }

    #[test]
    fn unit_attention_is_retried_and_reported() {
        let (r, o, left) = run(
            vec![
                sense(SenseKey::UnitAttention, 0x29, 0x00),
                sense(SenseKey::UnitAttention, 0x28, 0x00),
                Completion::good(),
            ],
            Idempotence::Moves,
        );
        assert!(r.is_ok());
        assert!(o.unit_attention);
        assert_eq!((o.commands, left), (3, 0));
    }

    #[test]
    fn endless_unit_attention_gives_up() {
        let script = (0..12)
            .map(|_| sense(SenseKey::UnitAttention, 0x29, 0))
            .collect();
        let (r, o, _) = run(script, Idempotence::Idempotent);
        assert!(matches!(r, Err(Error::Sense { .. })));
        assert_eq!(o.commands, 11);
    }

    #[test]
    fn becoming_ready_is_waited_on() {
        let (r, o, _) = run(
            vec![
                sense(SenseKey::NotReady, 0x04, 0x01),
                sense(SenseKey::NotReady, 0x04, 0x01),
                Completion::good(),
            ],
            Idempotence::Idempotent,
        );
        assert!(r.is_ok());
        assert_eq!(o.commands, 3);
    }

    #[test]
    fn manual_intervention_is_not_waited_on() {
        let (r, o, _) = run(
            vec![sense(SenseKey::NotReady, 0x04, 0x03)],
            Idempotence::Idempotent,
        );
        let err = r.unwrap_err().to_string();
        assert!(err.contains("manual intervention"), "{err}");
        assert_eq!(o.commands, 1);
    }

    #[test]
    fn not_ready_wait_is_bounded_by_the_deadline() {
        let mut t = Script(
            (0..100_000)
                .map(|_| Ok(sense(SenseKey::NotReady, 0x04, 0x01)))
                .collect(),
        );
        let mut o = Observed::default();
        let req = Request {
            op: "TEST",
            cdb: &[0; 6],
            timeout: Duration::from_secs(1),
            idempotence: Idempotence::Idempotent,
            timeout_use: TimeoutUse::FitDeadline,
        };
        let deadline = Instant::now() + Duration::from_millis(50);
        let r = execute(
            &mut t,
            &RetryPolicy::immediate(),
            Some(deadline),
            &mut o,
            &req,
            None,
        );
        assert!(matches!(
            r,
            Err(Error::NotReady { .. }) | Err(Error::DeadlineExceeded { .. })
        ));
        assert!(Instant::now() < deadline + Duration::from_millis(500));
    }

    #[test]
    fn transport_error_retries_reads_but_not_moves() {
        let (r, o, _) = run(
            vec![host_error(host::TRANSPORT_DISRUPTED), Completion::good()],
            Idempotence::Idempotent,
        );
        assert!(r.is_ok());
        assert_eq!(o.commands, 2);
        let (r, o, left) = run(
            vec![host_error(host::TIME_OUT), Completion::good()],
            Idempotence::Moves,
        );
        assert!(matches!(r, Err(Error::Transport { .. })));
        assert_eq!((o.commands, left), (1, 1));
    }

    #[test]
    fn illegal_request_fails_at_once_with_t10_text() {
        let (r, _, _) = run(
            vec![sense(SenseKey::IllegalRequest, 0x3b, 0x0d)],
            Idempotence::Moves,
        );
        assert_eq!(
            r.unwrap_err().to_string(),
            "TEST on script failed: ILLEGAL REQUEST: Medium destination element full (3Bh/0Dh)"
        );
    }

    #[test]
    fn busy_backs_off_then_succeeds() {
        let (r, o, _) = run(
            vec![
                Completion {
                    status: status::BUSY,
                    ..Completion::good()
                },
                Completion::good(),
            ],
            Idempotence::Moves,
        );
        assert!(r.is_ok());
        assert_eq!(o.commands, 2);
    }

    #[test]
    fn recovered_error_counts_as_success() {
        let (r, _, _) = run(
            vec![sense(SenseKey::RecoveredError, 0x00, 0x00)],
            Idempotence::Moves,
        );
        assert!(r.is_ok());
    }
}
