//! SMC-3 operations on one medium changer: identity, geometry, element status, moves.

use std::time::{Duration, Instant};

use crate::address::{ElementAddress, ElementType};
use crate::cdb::{self, ReadElementStatus, opcode, page};
use crate::decode::{
    self, ElementAddressAssignment, ElementStatusReply, Inquiry, decode_element_address_assignment,
    decode_element_status,
};
use crate::element::{DeviceIdentifier, ElementStatus};
use crate::error::{DecodeError, Error};
use crate::inventory::Inventory;
use crate::quirks::Quirks;
use crate::retry::{self, Idempotence, Observed, Request, RetryPolicy, TimeoutUse};
use crate::sense::{SenseKey, asc};
use crate::transport::{Command, DataDirection, Transport};

/// Timeouts per command class (docs/config.md). They travel with each command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    /// INQUIRY, MODE SENSE, TEST UNIT READY, REQUEST SENSE.
    pub query: Duration,
    /// One READ ELEMENT STATUS request (a library may move to scan if it has no cached data).
    pub read_element_status: Duration,
    /// MOVE MEDIUM and EXCHANGE MEDIUM.
    pub moves: Duration,
    /// INITIALIZE ELEMENT STATUS (a barcode scan of every slot on a physical library).
    pub initialize: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            query: Duration::from_secs(60),
            read_element_status: Duration::from_secs(120),
            moves: Duration::from_secs(900),
            initialize: Duration::from_secs(3600),
        }
    }
}

/// Each drive's element address and device identifier, drive 0 first.
pub type DriveIdentifiers = Vec<(ElementAddress, Option<DeviceIdentifier>)>;

/// Time allowed for re-reading the two elements of a move whose outcome is unknown.
pub const SETTLE_BUDGET: Duration = Duration::from_secs(30);

/// Least time that must be left before the deadline to send a MOVE MEDIUM again after the
/// first one provably moved nothing: a robot needs about that long for one move, and a move
/// goes out with its full timeout, so starting it later would overrun the budget.
pub const MIN_TIME_FOR_A_MOVE: Duration = Duration::from_secs(20);

/// Largest allocation length the driver asks for: some changers read only 16 bits of the field.
pub const MAX_ALLOCATION: usize = 0xffff;

/// Most READ ELEMENT STATUS requests sent ahead at once (64 KiB of buffer each): a 65,535-element
/// library with 52-byte descriptors needs 53.
const MAX_AHEAD: usize = 64;

/// What to read in [`Changer::read_elements`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOptions {
    /// Ask for volume tags.
    pub voltag: bool,
    /// Ask for device identifiers (drives only, never together with volume tags).
    pub dvcid: bool,
}

/// A medium changer reached through a [`Transport`].
#[derive(Debug)]
pub struct Changer<T> {
    transport: T,
    policy: RetryPolicy,
    timeouts: Timeouts,
    deadline: Option<Instant>,
    observed: Observed,
    voltag_supported: bool,
    /// Reused for every READ ELEMENT STATUS: one 64 KiB allocation per changer, not per request.
    scratch: Vec<u8>,
}

impl<T: Transport> Changer<T> {
    /// A changer with the default retry policy and timeouts.
    pub fn new(transport: T) -> Self {
        Changer {
            transport,
            policy: RetryPolicy::default(),
            timeouts: Timeouts::default(),
            deadline: None,
            observed: Observed::default(),
            voltag_supported: true,
            scratch: Vec::new(),
        }
    }

    /// Replaces the retry policy (its quirks included).
    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sets the device's vendor quirks, e.g. from the vendor and product sysfs caches, when no
    /// INQUIRY is sent; [`Changer::inquiry`] sets them from the device's answer.
    pub fn set_quirks(&mut self, quirks: Quirks) {
        self.policy.quirks = quirks;
    }

    /// Replaces the timeouts.
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Replaces the timeouts of an existing changer.
    pub fn set_timeouts(&mut self, timeouts: Timeouts) {
        self.timeouts = timeouts;
    }

    /// Sets the instant by which every operation must have ended (Bareos' Maximum Changer Wait).
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// Commands sent, bytes read and unit attentions seen so far.
    pub fn observed(&self) -> &Observed {
        &self.observed
    }

    /// Whether a UNIT ATTENTION was seen since the last call, and clears the mark: a holder
    /// of a cached inventory learns that the library may have changed behind its back (an
    /// operator opened a door, a reset, a mode change).
    /// [`Changer::observed`] keeps the last one's sense.
    pub fn take_unit_attention(&mut self) -> bool {
        std::mem::take(&mut self.observed.unit_attention)
    }

    /// The transport's device name.
    pub fn device(&self) -> &str {
        self.transport.name()
    }

    /// The transport.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    fn run(
        &mut self,
        op: &'static str,
        cdb: &[u8],
        timeout: Duration,
        idempotence: Idempotence,
        timeout_use: TimeoutUse,
        data: Option<&mut [u8]>,
    ) -> Result<usize, Error> {
        let req = Request {
            op,
            cdb,
            timeout,
            idempotence,
            timeout_use,
        };
        retry::execute(
            &mut self.transport,
            &self.policy,
            self.deadline,
            &mut self.observed,
            &req,
            data,
        )
    }

    fn read(
        &mut self,
        op: &'static str,
        cdb: &[u8],
        timeout: Duration,
        buf: &mut [u8],
    ) -> Result<usize, Error> {
        self.run(
            op,
            cdb,
            timeout,
            Idempotence::Idempotent,
            TimeoutUse::FitDeadline,
            Some(buf),
        )
    }

    fn decode_err(&self, op: &'static str) -> impl FnOnce(crate::error::DecodeError) -> Error + '_ {
        move |source| Error::Decode {
            device: self.device().to_owned(),
            op,
            source,
        }
    }

    /// `INQUIRY (12h)`, standard data. The vendor and product select the quirks the retry
    /// policy applies from then on.
    pub fn inquiry(&mut self) -> Result<Inquiry, Error> {
        let mut buf = [0u8; 96];
        let n = self.read(
            "INQUIRY",
            &cdb::inquiry(None, 96),
            self.timeouts.query,
            &mut buf,
        )?;
        let inquiry = decode::decode_inquiry(&buf[..n]).map_err(self.decode_err("INQUIRY"))?;
        self.set_quirks(Quirks::for_inquiry(&inquiry));
        Ok(inquiry)
    }

    /// `INQUIRY (12h)` VPD page 80h: the unit serial number, if the device has one.
    pub fn unit_serial_number(&mut self) -> Result<Option<String>, Error> {
        let mut buf = [0u8; 255];
        let cdb = cdb::inquiry(Some(page::UNIT_SERIAL_NUMBER), 255);
        match self.read("INQUIRY VPD 80h", &cdb, self.timeouts.query, &mut buf) {
            Ok(n) => decode::decode_unit_serial_number(&buf[..n])
                .map_err(self.decode_err("INQUIRY VPD 80h")),
            Err(Error::Sense { sense, .. }) if sense.key == SenseKey::IllegalRequest => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `MODE SENSE (1Ah, falling back to 5Ah)` of the Element Address Assignment page (1Dh).
    pub fn element_address_assignment(&mut self) -> Result<ElementAddressAssignment, Error> {
        let mut buf = [0u8; 255];
        let op = "MODE SENSE page 1Dh";
        match self.read(
            op,
            &cdb::mode_sense_6(page::ELEMENT_ADDRESS_ASSIGNMENT, 255),
            self.timeouts.query,
            &mut buf,
        ) {
            Ok(n) => {
                decode_element_address_assignment(&buf[..n], false).map_err(self.decode_err(op))
            }
            Err(Error::Sense { sense, .. }) if sense.key == SenseKey::IllegalRequest => {
                let n = self.read(
                    op,
                    &cdb::mode_sense_10(page::ELEMENT_ADDRESS_ASSIGNMENT, 255),
                    self.timeouts.query,
                    &mut buf,
                )?;
                decode_element_address_assignment(&buf[..n], true).map_err(self.decode_err(op))
            }
            Err(e) => Err(e),
        }
    }

    /// `READ ELEMENT STATUS (B8h)`, one request, one element type.
    pub fn read_element_status_once(
        &mut self,
        element_type: ElementType,
        start: ElementAddress,
        count: u16,
        options: ReadOptions,
        allocation: usize,
    ) -> Result<ElementStatusReply, Error> {
        self.read_element_status_with(
            element_type,
            start,
            count,
            options,
            allocation,
            &mut ReadAhead::default(),
        )
    }

    /// [`Changer::read_element_status_once`], answered from `ahead` when the same CDB was sent
    /// ahead and came back GOOD.
    fn read_element_status_with(
        &mut self,
        element_type: ElementType,
        start: ElementAddress,
        count: u16,
        options: ReadOptions,
        allocation: usize,
        ahead: &mut ReadAhead,
    ) -> Result<ElementStatusReply, Error> {
        let allocation = allocation.clamp(8, MAX_ALLOCATION);
        let request = ReadElementStatus {
            element_type,
            voltag: options.voltag,
            starting_address: start,
            number_of_elements: count,
            curdata: false,
            dvcid: options.dvcid,
            allocation_length: allocation as u32,
        };
        let cdb = cdb::read_element_status(&request);
        let op = "READ ELEMENT STATUS";
        let (buf, n) = match ahead.take(&cdb) {
            Some(reply) => reply,
            None => {
                // dxfer_len equals the allocation length: tgt sends stale bytes past a shorter
                // allocation otherwise, and rejects a smaller buffer.
                let mut buf = std::mem::take(&mut self.scratch);
                buf.clear();
                buf.resize(allocation, 0);
                let n = self.read(op, &cdb, self.timeouts.read_element_status, &mut buf)?;
                (buf, n)
            }
        };
        let decoded = overflow_corrected_length(&buf, n)
            .and_then(|n| decode_element_status(&buf[..n], allocation));
        self.scratch = buf;
        let mut reply = decoded.map_err(self.decode_err(op))?;
        // Replies list one type; anything else (tgt's type-0 garbage) is not trusted.
        reply.elements.retain(|e| e.element_type == element_type);
        Ok(reply)
    }

    /// `READ ELEMENT STATUS (B8h)` of up to `count` elements of one type from `start`,
    /// in as few requests as a 64 KiB allocation allows: the request count is sized from the
    /// descriptor length the device reports, and the next request starts after the last
    /// address received (addresses may have gaps).
    pub fn read_elements(
        &mut self,
        element_type: ElementType,
        start: ElementAddress,
        count: u16,
        options: ReadOptions,
    ) -> Result<Vec<ElementStatus>, Error> {
        self.read_elements_with(
            element_type,
            start,
            count,
            options,
            &mut ReadAhead::default(),
        )
    }

    /// [`Changer::read_elements`], taking the replies it needs from `ahead` when they are there.
    fn read_elements_with(
        &mut self,
        element_type: ElementType,
        start: ElementAddress,
        count: u16,
        options: ReadOptions,
        ahead: &mut ReadAhead,
    ) -> Result<Vec<ElementStatus>, Error> {
        let count = usize::from(count);
        let mut out: Vec<ElementStatus> = Vec::with_capacity(count);
        let mut next = start;
        let mut stride = guessed_descriptor_length(options);
        // The previous request, while `next` is its last address + 1 rather than an address the
        // device reported: that address may lie in a gap.
        let mut guessed_from: Option<(ElementAddress, u16)> = None;
        while out.len() < count {
            let want = count - out.len();
            let ask = want.min(elements_per_request(stride));
            let reply = match self.read_element_status_with(
                element_type,
                next,
                ask as u16,
                options,
                MAX_ALLOCATION,
                ahead,
            ) {
                Ok(reply) => reply,
                Err(e) if refuses_the_address(&e) => {
                    // Only an address the driver guessed may be a gap; one the device reported
                    // is refused for another reason.
                    let Some((start, asked)) = guessed_from.take() else {
                        return Err(e);
                    };
                    match self.next_element_after(element_type, start, asked, options, next)? {
                        Some(address) => {
                            next = address;
                            continue;
                        }
                        None => break,
                    }
                }
                Err(e) => return Err(e),
            };
            if let Some(len) = reply.descriptor_length.filter(|&l| l > 0) {
                stride = usize::from(len);
            }
            let start = next;
            let before = out.len();
            for e in reply.elements {
                if e.address >= next && out.len() < count {
                    next = ElementAddress(e.address.0.saturating_add(1));
                    out.push(e);
                }
            }
            let got = out.len() - before;
            guessed_from = None;
            match reply.cut_at {
                // Cut by the allocation: continue at the descriptor that did not arrive whole.
                Some(cut) if got > 0 => next = cut.max(next),
                // The device has nothing more from here on.
                _ if got < ask => break,
                _ => guessed_from = Some((start, ask as u16)),
            }
            if got == 0 || next.0 == u16::MAX {
                break;
            }
        }
        Ok(out)
    }

    /// The address of the first element at or after `after`, learnt by asking again from
    /// `start` for one element more than the `asked` that came back: a strict library refuses
    /// a starting address in a gap (05h/21h/01h, or 05h/24h/00h), and the address after the
    /// last one received may be one. `None` when the library has no element there.
    fn next_element_after(
        &mut self,
        element_type: ElementType,
        start: ElementAddress,
        asked: u16,
        options: ReadOptions,
        after: ElementAddress,
    ) -> Result<Option<ElementAddress>, Error> {
        let reply = self.read_element_status_once(
            element_type,
            start,
            asked.saturating_add(1),
            options,
            MAX_ALLOCATION,
        )?;
        Ok(reply
            .elements
            .iter()
            .map(|e| e.address)
            .find(|&a| a >= after)
            .or(reply.cut_at.filter(|&a| a >= after)))
    }

    /// Every element of one type, using the page-1Dh count.
    pub fn read_type(
        &mut self,
        page: &ElementAddressAssignment,
        element_type: ElementType,
        options: ReadOptions,
    ) -> Result<Vec<ElementStatus>, Error> {
        self.read_type_with(page, element_type, options, &mut ReadAhead::default())
    }

    /// The options a read of `options` really uses: no volume tags once the library said it
    /// has no reader.
    fn effective(&self, options: ReadOptions) -> ReadOptions {
        ReadOptions {
            voltag: options.voltag && self.voltag_supported,
            ..options
        }
    }

    /// [`Changer::read_type`], taking the replies it needs from `ahead` when they are there.
    fn read_type_with(
        &mut self,
        page: &ElementAddressAssignment,
        element_type: ElementType,
        options: ReadOptions,
        ahead: &mut ReadAhead,
    ) -> Result<Vec<ElementStatus>, Error> {
        let (first, count) = page.range(element_type);
        if count == 0 {
            return Ok(Vec::new());
        }
        // Some libraries' first address is not where the type starts (mhVTL shifts
        // overlapping ranges); start at the page's value and trust what comes back.
        let options = self.effective(options);
        match self.read_elements_with(element_type, first, count, options, ahead) {
            Err(Error::Sense { sense, .. })
                if options.voltag
                    && sense.key == SenseKey::IllegalRequest
                    && sense.is(asc::INVALID_FIELD_IN_CDB) =>
            {
                // No barcode reader: read again without volume tags (mtx does the same).
                tracing::info!(
                    device = self.device(),
                    "library rejects VOLTAG; reading without barcodes"
                );
                self.voltag_supported = false;
                self.read_elements(
                    element_type,
                    first,
                    count,
                    ReadOptions {
                        voltag: false,
                        ..options
                    },
                )
            }
            other => other,
        }
    }

    /// Every element of each type in `wanted`, exactly as [`Changer::read_type`] reads them
    /// one after the other, in fewer round trips: the READ ELEMENT STATUS requests the reading
    /// will most likely send are planned from page 1Dh and sent together first
    /// ([`Transport::execute_many`]: on sg, all in flight at once). The reading then runs as
    /// [`Changer::read_type`] does and takes each reply from those sent ahead when one has the
    /// very CDB it would send — so the result is the sequential read's by construction — and
    /// sends what the plan did not foresee (addresses with gaps, descriptors longer than
    /// assumed, a device that cut its reply early) itself, one after the other.
    ///
    /// A reply sent ahead that is not GOOD is not used: the reading sends that request again
    /// through the retry policy, which then sees the device's answer (UNIT ATTENTION, NOT
    /// READY, a rejected VOLTAG …) as it would have without the read-ahead.
    pub fn read_types(
        &mut self,
        page: &ElementAddressAssignment,
        wanted: &[(ElementType, ReadOptions)],
    ) -> Result<Vec<Vec<ElementStatus>>, Error> {
        let plan = self.plan(page, wanted);
        let mut ahead = self.send_ahead(&plan);
        let lists = wanted
            .iter()
            .map(|&(element_type, options)| {
                self.read_type_with(page, element_type, options, &mut ahead)
            })
            .collect::<Result<Vec<_>, _>>()?;
        if !ahead.replies.is_empty() {
            tracing::debug!(
                device = self.device(),
                unused = ahead.replies.len(),
                sent = plan.len(),
                "replies read ahead and not needed: the elements are not where page 1Dh suggests"
            );
        }
        Ok(lists)
    }

    /// The CDBs [`Changer::read_type`] sends for each of `wanted` when each type's addresses
    /// run without gaps from page 1Dh's first address and every descriptor has the length
    /// assumed before the device tells it.
    fn plan(
        &self,
        page: &ElementAddressAssignment,
        wanted: &[(ElementType, ReadOptions)],
    ) -> Vec<[u8; 12]> {
        let mut plan = Vec::new();
        for &(element_type, options) in wanted {
            let options = self.effective(options);
            let (first, count) = page.range(element_type);
            let per = elements_per_request(guessed_descriptor_length(options));
            let mut planned = 0usize;
            while planned < usize::from(count) && plan.len() < MAX_AHEAD {
                let Some(start) = u16::try_from(planned)
                    .ok()
                    .and_then(|k| first.0.checked_add(k))
                else {
                    break;
                };
                let ask = (usize::from(count) - planned).min(per);
                plan.push(cdb::read_element_status(&ReadElementStatus {
                    element_type,
                    voltag: options.voltag,
                    starting_address: ElementAddress(start),
                    number_of_elements: ask as u16,
                    curdata: false,
                    dvcid: options.dvcid,
                    allocation_length: MAX_ALLOCATION as u32,
                }));
                planned += ask;
            }
        }
        plan
    }

    /// Sends the READ ELEMENT STATUS requests of `plan` together and keeps the replies the
    /// retry policy accepts at once. Nothing is sent for a plan of one request (the reading
    /// sends it anyway) or when the deadline has passed (the reading reports it).
    fn send_ahead(&mut self, plan: &[[u8; 12]]) -> ReadAhead {
        let mut ahead = ReadAhead::default();
        let now = Instant::now();
        if plan.len() < 2 || self.deadline.is_some_and(|d| now >= d) {
            return ahead;
        }
        let timeout = retry::attempt_timeout(
            self.timeouts.read_element_status,
            TimeoutUse::FitDeadline,
            self.deadline,
        );
        let mut buffers: Vec<Vec<u8>> = plan.iter().map(|_| vec![0u8; MAX_ALLOCATION]).collect();
        let results = {
            let mut commands: Vec<Command<'_>> = plan
                .iter()
                .zip(buffers.iter_mut())
                .map(|(cdb, buf)| Command {
                    cdb,
                    data: DataDirection::FromDevice(buf),
                    timeout,
                })
                .collect();
            self.transport.execute_many(&mut commands)
        };
        for ((cdb, buf), result) in plan.iter().zip(buffers).zip(results) {
            match result {
                Ok(completion) => {
                    match retry::accepted(&self.policy, &mut self.observed, &completion, buf.len())
                    {
                        Some(n) => {
                            tracing::debug!(op = "READ ELEMENT STATUS", transferred = n,
                                duration = ?completion.duration, "done (sent ahead)");
                            ahead.replies.push((*cdb, buf, n));
                        }
                        None => tracing::debug!(
                            device = self.device(),
                            status = completion.status,
                            host_status = completion.host_status,
                            "a READ ELEMENT STATUS sent ahead was not GOOD; it is sent again"
                        ),
                    }
                }
                Err(e) => tracing::debug!(
                    device = self.device(),
                    error = %e,
                    "a READ ELEMENT STATUS could not be sent ahead; it is sent again"
                ),
            }
        }
        ahead
    }

    /// A full inventory: page 1Dh, then storage, import/export and drives with volume tags, and
    /// the transport. `with_transport = false` skips the transport page and uses the page's
    /// first transport address instead (one command less).
    pub fn inventory(
        &mut self,
        with_transport: bool,
    ) -> Result<(ElementAddressAssignment, Inventory), Error> {
        let page = self.element_address_assignment()?;
        let inv = self.inventory_from(&page, with_transport)?;
        Ok((page, inv))
    }

    /// [`Changer::inventory`] for a caller that already read page 1Dh.
    pub fn inventory_from(
        &mut self,
        page: &ElementAddressAssignment,
        with_transport: bool,
    ) -> Result<Inventory, Error> {
        let page = *page;
        let tags = ReadOptions {
            voltag: true,
            dvcid: false,
        };
        let plain = ReadOptions {
            voltag: false,
            dvcid: false,
        };
        let mut wanted = vec![
            (ElementType::Storage, tags),
            (ElementType::ImportExport, tags),
            (ElementType::DataTransfer, tags),
        ];
        if with_transport {
            wanted.push((ElementType::MediumTransport, plain));
        }
        // One list per type, kept as read: a 3200-slot library is not copied around.
        let mut lists = self.read_types(&page, &wanted)?.into_iter();
        let mut next = || lists.next().unwrap_or_default();
        let (storage, import_export, drives) = (next(), next(), next());
        let transports = if with_transport {
            next()
        } else if page.medium_transports > 0 {
            vec![ElementStatus::empty(
                ElementType::MediumTransport,
                page.first_medium_transport,
            )]
        } else {
            Vec::new()
        };
        let inv = Inventory::from_lists(transports, storage, import_export, drives);
        for warning in inv.differences_from(&page) {
            tracing::warn!(device = self.device(), "{warning}");
        }
        Ok(inv)
    }

    /// Device identifiers of the drives (a separate DT-only request with DVCID and without
    /// VOLTAG, which IBM libraries require). `Ok(None)` when the library does not support DVCID.
    pub fn drive_identifiers(
        &mut self,
        page: &ElementAddressAssignment,
    ) -> Result<Option<DriveIdentifiers>, Error> {
        match self.read_type(
            page,
            ElementType::DataTransfer,
            ReadOptions {
                voltag: false,
                dvcid: true,
            },
        ) {
            Ok(drives) => Ok(Some(
                drives
                    .into_iter()
                    .map(|d| (d.address, d.identifier))
                    .collect(),
            )),
            Err(Error::Sense { sense, .. }) if sense.key == SenseKey::IllegalRequest => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The status of one element, read with volume tags.
    pub fn read_element(
        &mut self,
        element_type: ElementType,
        address: ElementAddress,
    ) -> Result<ElementStatus, Error> {
        let found = self.read_elements(
            element_type,
            address,
            1,
            ReadOptions {
                voltag: self.voltag_supported,
                dvcid: false,
            },
        )?;
        found
            .into_iter()
            .find(|e| e.address == address)
            .ok_or_else(|| Error::NoSuchElement {
                device: self.device().to_owned(),
                element_type,
                address,
            })
    }

    /// `MOVE MEDIUM (A5h)` from `source` to `destination`.
    ///
    /// Source empty and destination full come back as [`Error::SourceEmpty`] and
    /// [`Error::DestinationFull`]. When the answer does not tell whether the robot moved — TASK
    /// ABORTED, ABORTED COMMAND, a transport error, an interrupted wait — the two elements are
    /// read again: if the cartridge arrived the move succeeded; if nothing changed, the move is
    /// sent once more (when the deadline leaves [`MIN_TIME_FOR_A_MOVE`]) and settled the same
    /// way if that also ends ambiguously; anything else is [`Error::MoveOutcomeUnknown`].
    /// The move is never sent again blindly.
    pub fn move_medium(
        &mut self,
        transport: ElementAddress,
        source: (ElementType, ElementAddress),
        destination: (ElementType, ElementAddress),
    ) -> Result<(), Error> {
        let cdb = cdb::move_medium(transport, source.1, destination.1, false);
        let cause = match self.send_move(&cdb, source, destination) {
            Ok(()) => return Ok(()),
            Err(e) if outcome_unknown(&e) => e,
            Err(e) => return Err(e),
        };
        let cause = match self.settle_move(source, destination, cause)? {
            Settled::Done => return Ok(()),
            Settled::NotDone(cause) => cause,
        };
        let left = self
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()));
        if left.is_some_and(|left| left < MIN_TIME_FOR_A_MOVE) {
            tracing::warn!(
                device = self.device(),
                ?left,
                "nothing was moved, and too little time is left to send MOVE MEDIUM again"
            );
            return Err(cause);
        }
        tracing::warn!(device = self.device(), %cause, "nothing was moved; sending MOVE MEDIUM once more");
        match self.send_move(&cdb, source, destination) {
            Ok(()) => Ok(()),
            // The first move may have finished after the elements were read: settle a refusal
            // too, but send nothing more.
            Err(
                e @ (Error::SourceEmpty { .. }
                | Error::DestinationFull { .. }
                | Error::Aborted { .. }
                | Error::Transport { .. }
                | Error::Io { .. }
                | Error::DeadlineExceeded { .. }),
            ) => match self.settle_move(source, destination, e)? {
                Settled::Done => Ok(()),
                Settled::NotDone(e) => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// One MOVE MEDIUM, with the robot's full timeout.
    fn send_move(
        &mut self,
        cdb: &[u8],
        source: (ElementType, ElementAddress),
        destination: (ElementType, ElementAddress),
    ) -> Result<(), Error> {
        let result = self.run(
            "MOVE MEDIUM",
            cdb,
            self.timeouts.moves,
            Idempotence::Moves,
            TimeoutUse::Full,
            None,
        );
        match result {
            Ok(_) => Ok(()),
            Err(Error::Sense { sense, .. }) if sense.is(asc::SOURCE_EMPTY) => {
                Err(Error::SourceEmpty {
                    device: self.device().to_owned(),
                    source_address: source.1,
                })
            }
            Err(Error::Sense { sense, .. }) if sense.is(asc::DESTINATION_FULL) => {
                Err(Error::DestinationFull {
                    device: self.device().to_owned(),
                    destination: destination.1,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Decides a move's outcome from the two elements after an answer that did not say.
    fn settle_move(
        &mut self,
        source: (ElementType, ElementAddress),
        destination: (ElementType, ElementAddress),
        cause: Error,
    ) -> Result<Settled, Error> {
        tracing::warn!(device = self.device(), %cause, "MOVE MEDIUM outcome unknown; re-reading both elements");
        // The two reads get a short budget of their own: the caller's may be spent already
        // (a move that timed out used it up), and an answer is still owed.
        let saved = self.deadline.replace(Instant::now() + SETTLE_BUDGET);
        let src = self.read_element(source.0, source.1);
        let dst = self.read_element(destination.0, destination.1);
        self.deadline = saved;
        match (src, dst) {
            (Ok(s), Ok(d)) if !s.full && d.full => {
                tracing::info!(
                    device = self.device(),
                    %cause,
                    "the move completed despite the error"
                );
                Ok(Settled::Done)
            }
            (Ok(s), Ok(d)) if s.full && !d.full => {
                tracing::info!(device = self.device(), %cause, "the move did not happen");
                Ok(Settled::NotDone(cause))
            }
            (s, d) => {
                let err = Error::MoveOutcomeUnknown {
                    device: self.device().to_owned(),
                    source_address: source.1,
                    destination: destination.1,
                    detail: format!(
                        "{cause}; afterwards source {}, destination {}",
                        describe(&s),
                        describe(&d)
                    ),
                };
                tracing::error!(device = self.device(), "{err}");
                Err(err)
            }
        }
    }

    /// `EXCHANGE MEDIUM (A6h)`: the cartridge in `source` goes to `first_destination`, the one
    /// there to `second_destination` (which may be `source`). Many libraries (and tgt, mhVTL)
    /// do not implement it: they answer 05/20/00, returned as is.
    pub fn exchange_medium(
        &mut self,
        transport: ElementAddress,
        source: ElementAddress,
        first_destination: ElementAddress,
        second_destination: ElementAddress,
    ) -> Result<(), Error> {
        let cdb = cdb::exchange_medium(transport, source, first_destination, second_destination);
        self.run(
            "EXCHANGE MEDIUM",
            &cdb,
            self.timeouts.moves,
            Idempotence::Moves,
            TimeoutUse::Full,
            None,
        )
        .map(|_| ())
    }

    /// `INITIALIZE ELEMENT STATUS (07h)`, or WITH RANGE (37h, or E7h for `vendor_range`) when
    /// `range` is given, falling back to 07h when the range command is not supported.
    pub fn initialize_element_status(
        &mut self,
        range: Option<(ElementAddress, u16)>,
        vendor_range: bool,
    ) -> Result<(), Error> {
        let timeout = self.timeouts.initialize;
        if let Some((start, count)) = range {
            let code = if vendor_range {
                opcode::INITIALIZE_ELEMENT_STATUS_WITH_RANGE_VENDOR
            } else {
                opcode::INITIALIZE_ELEMENT_STATUS_WITH_RANGE
            };
            let cdb = cdb::initialize_element_status_with_range(code, start, count);
            match self.run(
                "INITIALIZE ELEMENT STATUS WITH RANGE",
                &cdb,
                timeout,
                Idempotence::Idempotent,
                TimeoutUse::Full,
                None,
            ) {
                Err(Error::Sense { sense, .. }) if sense.is(asc::INVALID_OPCODE) => {}
                other => return other.map(|_| ()),
            }
        }
        self.run(
            "INITIALIZE ELEMENT STATUS",
            &cdb::initialize_element_status(),
            timeout,
            Idempotence::Idempotent,
            TimeoutUse::Full,
            None,
        )
        .map(|_| ())
    }

    /// `PREVENT ALLOW MEDIUM REMOVAL (1Eh)` with ALLOW: unlocks doors and mail slots.
    pub fn allow_medium_removal(&mut self) -> Result<(), Error> {
        let timeout = self.timeouts.query;
        self.run(
            "PREVENT ALLOW MEDIUM REMOVAL",
            &cdb::prevent_allow_medium_removal(false),
            timeout,
            Idempotence::Idempotent,
            TimeoutUse::FitDeadline,
            None,
        )
        .map(|_| ())
    }

    /// `TEST UNIT READY (00h)`.
    pub fn test_unit_ready(&mut self) -> Result<(), Error> {
        let timeout = self.timeouts.query;
        self.run(
            "TEST UNIT READY",
            &cdb::test_unit_ready(),
            timeout,
            Idempotence::Idempotent,
            TimeoutUse::FitDeadline,
            None,
        )
        .map(|_| ())
    }
}

/// Whether a READ ELEMENT STATUS was refused for its starting address: 05h/21h/01h, or
/// 05h/24h/00h as mhVTL and some libraries answer.
fn refuses_the_address(e: &Error) -> bool {
    matches!(e, Error::Sense { sense, .. }
        if sense.key == SenseKey::IllegalRequest
            && (sense.is(asc::INVALID_ELEMENT_ADDRESS) || sense.is(asc::INVALID_FIELD_IN_CDB)))
}

/// READ ELEMENT STATUS replies that came back GOOD from requests sent ahead: (CDB, buffer,
/// bytes transferred). Each is used at most once, for the request with that very CDB.
#[derive(Debug, Default)]
struct ReadAhead {
    replies: Vec<([u8; 12], Vec<u8>, usize)>,
}

impl ReadAhead {
    fn take(&mut self, cdb: &[u8; 12]) -> Option<(Vec<u8>, usize)> {
        let i = self.replies.iter().position(|(c, _, _)| c == cdb)?;
        let (_, buf, n) = self.replies.swap_remove(i);
        Some((buf, n))
    }
}

/// Descriptor length assumed until the device tells: 12 + VolTag 36 + identifier header 4
/// (+ 34 for a T10 vendor-ID based identifier).
fn guessed_descriptor_length(options: ReadOptions) -> usize {
    12 + if options.voltag { 36 } else { 0 } + 4 + if options.dvcid { 34 } else { 0 }
}

/// Elements asked for in one request with descriptors of `stride` bytes: as many as a 64 KiB
/// allocation holds after the two headers.
fn elements_per_request(stride: usize) -> usize {
    ((MAX_ALLOCATION - 16) / stride.max(1)).max(1)
}

/// The bytes of a READ ELEMENT STATUS reply that are really there, or an error when the
/// transfer stopped short.
///
/// A device that ignores the allocation length (tgt 1.0.85 sends the whole page) overflows the
/// buffer; Linux's iSCSI initiator fills the buffer, drops the rest, and reports the *overflow*
/// count as the residual, so `transferred` looks short although every byte of the buffer is
/// valid. That is recognised only when the residual is exactly that count — the length the
/// header announces minus the buffer, or 8 less for tgt, whose replies are 8 bytes shorter than
/// they announce — and then the whole buffer is used and the reply counts as cut by the
/// allocation. Any other transfer shorter than both the announced length and the buffer is an
/// error, except tgt's 8 missing bytes at the end: decoding it would turn bytes that never
/// arrived into elements (zero-filled barcodes, missing slots).
fn overflow_corrected_length(buf: &[u8], transferred: usize) -> Result<usize, DecodeError> {
    // What tgt leaves out of every reply: the page header, counted twice in its byte count.
    const TGT_SHORTFALL: usize = 8;
    let announced = match buf.get(5..8) {
        Some([a, b, c]) if transferred >= 8 => {
            8 + (usize::from(*a) << 16 | usize::from(*b) << 8 | usize::from(*c))
        }
        // Not even the header: the decoder says so.
        _ => return Ok(transferred),
    };
    let expected = announced.min(buf.len());
    if transferred >= expected || transferred + TGT_SHORTFALL == announced {
        return Ok(transferred);
    }
    let residual = buf.len() - transferred;
    let overflow = |sent: usize| sent > buf.len() && residual == sent - buf.len();
    if overflow(announced) || overflow(announced - TGT_SHORTFALL) {
        tracing::debug!(
            transferred,
            announced,
            buffer = buf.len(),
            "device overflowed the allocation length; using the whole buffer"
        );
        return Ok(buf.len());
    }
    Err(DecodeError::ShortTransfer {
        sent: transferred,
        expected,
        announced,
        residual,
    })
}

/// A settled move.
enum Settled {
    /// The cartridge is at the destination.
    Done,
    /// Nothing moved; the error the move ended with.
    NotDone(Error),
}

/// Whether a move that ended with `e` may or may not have happened.
fn outcome_unknown(e: &Error) -> bool {
    matches!(
        e,
        Error::Aborted { .. }
            | Error::Transport { .. }
            | Error::Io { .. }
            | Error::DeadlineExceeded { .. }
    )
}

fn describe(e: &Result<ElementStatus, Error>) -> String {
    match e {
        Ok(e) if e.full => "full".into(),
        Ok(_) => "empty".into(),
        Err(err) => format!("unreadable ({err})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::{Command, Completion, DataDirection};

    /// tgt behind Linux's iSCSI initiator: every READ ELEMENT STATUS returns every storage
    /// element from the starting address (NUMBER OF ELEMENTS and ALLOCATION LENGTH ignored),
    /// 8 bytes short of what the header announces; on overflow the residual is the overflow.
    struct OverflowingTgt {
        slots: u16,
        requests: u32,
    }

    impl Transport for OverflowingTgt {
        fn execute(&mut self, cmd: Command<'_>) -> std::io::Result<Completion> {
            self.requests += 1;
            let start = u16::from_be_bytes([cmd.cdb[2], cmd.cdb[3]]).max(1000);
            let addresses: Vec<u16> = (start..1000 + self.slots).collect();
            let mut page = Vec::new();
            for a in &addresses {
                let mut d = vec![0u8; 52];
                d[0..2].copy_from_slice(&a.to_be_bytes());
                d[2] = 0x01;
                d[12..20].copy_from_slice(format!("T{:05}L5", a).as_bytes());
                page.extend(d);
            }
            let report = 8 + page.len();
            let mut reply = vec![(start >> 8) as u8, start as u8];
            reply.extend((addresses.len() as u16).to_be_bytes());
            reply.extend([0, (report >> 16) as u8, (report >> 8) as u8, report as u8]);
            reply.extend([
                2,
                0x80,
                0,
                52,
                0,
                (page.len() >> 16) as u8,
                (page.len() >> 8) as u8,
                page.len() as u8,
            ]);
            reply.extend(page);
            reply.truncate(reply.len() - 8);
            let DataDirection::FromDevice(buf) = cmd.data else {
                panic!("data-in expected")
            };
            let n = reply.len().min(buf.len());
            buf[..n].copy_from_slice(&reply[..n]);
            let resid = if reply.len() > buf.len() {
                reply.len() - buf.len()
            } else {
                buf.len() - n
            };
            Ok(Completion {
                resid,
                ..Completion::good()
            })
        }
        fn name(&self) -> &str {
            "tgt"
        }
    }

    #[test]
    fn overflow_reported_as_residual_still_reads_every_element_in_two_requests() {
        let mut c = Changer::new(OverflowingTgt {
            slots: 1600,
            requests: 0,
        });
        let elements = c
            .read_elements(
                ElementType::Storage,
                ElementAddress(1000),
                1600,
                ReadOptions {
                    voltag: true,
                    dvcid: false,
                },
            )
            .unwrap();
        assert_eq!(elements.len(), 1600);
        assert!(
            elements
                .windows(2)
                .all(|w| w[1].address.0 == w[0].address.0 + 1)
        );
        assert_eq!(elements[1599].barcode(), Some("T02599L5"));
        assert_eq!(
            c.transport_mut().requests,
            2,
            "the minimum under a 64 KiB allocation"
        );
    }

    #[test]
    fn a_short_reply_that_announces_little_is_not_mistaken_for_an_overflow() {
        let mut c = Changer::new(OverflowingTgt {
            slots: 10,
            requests: 0,
        });
        let elements = c
            .read_elements(
                ElementType::Storage,
                ElementAddress(1000),
                10,
                ReadOptions {
                    voltag: true,
                    dvcid: false,
                },
            )
            .unwrap();
        assert_eq!(
            elements.len(),
            10,
            "tgt's 8-byte-short last descriptor is kept"
        );
        assert_eq!(c.transport_mut().requests, 1);
    }
}
