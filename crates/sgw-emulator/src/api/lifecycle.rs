//! The operations that change a tape's life (aws-sgw.md §1.3, §2.2): create, retrieve, cancel,
//! delete. Each answers `{"TapeARN": …}` (CreateTapes: `TapeARNs`).

use std::time::Instant;

use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::input::{self, Check};
use super::{existing_tape, require_gateway};
use crate::tape::TapeStatus;
use crate::world::{GIB, NewTapes, TokenUse, World};

/// Tapes per VTL (aws-sgw.md §1.7).
const MAX_VTL_TAPES: usize = 1500;
/// Tape size bounds (§1.7): 100 GiB to 5 TiB, whole GiB.
const MIN_TAPE_SIZE: u64 = 100 * GIB;
const MAX_TAPE_SIZE: u64 = 5 * 1024 * GIB;

#[derive(Deserialize)]
struct TapeInput {
    #[serde(rename = "GatewayARN")]
    gateway_arn: Option<String>,
    #[serde(rename = "TapeARN")]
    tape_arn: Option<String>,
}

impl TapeInput {
    /// Reads and checks the input; `gateway`: GatewayARN is a member of this operation.
    fn read(body: Value, gateway: bool) -> Result<(Option<String>, String), ApiError> {
        let req: TapeInput = input::parse(body)?;
        let mut check = Check::default();
        if let Some(arn) = check.required("tapeARN", &req.tape_arn) {
            input::tape_arn(&mut check, "tapeARN", arn);
        }
        if gateway && let Some(arn) = check.required("gatewayARN", &req.gateway_arn) {
            input::arn(&mut check, "gatewayARN", arn);
        }
        check.finish()?;
        Ok((req.gateway_arn, req.tape_arn.unwrap_or_default()))
    }
}

/// Reads a gateway-scoped single-tape request; the tape's barcode.
fn gateway_tape(world: &World, body: Value) -> Result<(String, String), ApiError> {
    let (gateway_arn, tape_arn) = TapeInput::read(body, true)?;
    require_gateway(world, gateway_arn.as_deref().unwrap_or_default())?;
    let barcode = existing_tape(world, &tape_arn)?;
    Ok((barcode, tape_arn))
}

fn wrong_state(tape_arn: &str, status: TapeStatus, what: &str) -> ApiError {
    ApiError::invalid_parameters(format!(
        "The tape {tape_arn} is {}: {what}.",
        status.as_str()
    ))
}

fn tape_arn_output(arn: &str) -> Result<Value, ApiError> {
    Ok(json!({ "TapeARN": arn }))
}

/// Moves a tape of this gateway from status `from` to `to` (then `after` may adjust it);
/// refused with `why` when it is in another status.
fn transition(
    world: &mut World,
    body: Value,
    now: Instant,
    (from, to): (TapeStatus, TapeStatus),
    why: &str,
    after: impl FnOnce(&mut crate::tape::Tape),
) -> Result<Value, ApiError> {
    let (barcode, arn) = gateway_tape(world, body)?;
    let Some(tape) = world.tape_mut(&barcode) else {
        return Err(ApiError::tape_not_found(arn));
    };
    if tape.status != from {
        return Err(wrong_state(&arn, tape.status, why));
    }
    tape.enter(to, now);
    after(tape);
    tape_arn_output(&arn)
}

/// RetrieveTapeArchive: ARCHIVED → RETRIEVING (→ RETRIEVED, placed in an I/E slot).
pub(super) fn retrieve_tape_archive(
    world: &mut World,
    body: Value,
    now: Instant,
) -> Result<Value, ApiError> {
    transition(
        world,
        body,
        now,
        (TapeStatus::Archived, TapeStatus::Retrieving),
        "only an ARCHIVED tape can be retrieved",
        |_| {},
    )
}

/// CancelArchival: IN TRANSIT TO VTS → AVAILABLE; the tape stays where it is.
pub(super) fn cancel_archival(
    world: &mut World,
    body: Value,
    now: Instant,
) -> Result<Value, ApiError> {
    transition(
        world,
        body,
        now,
        (TapeStatus::InTransitToVts, TapeStatus::Available),
        "archival can be cancelled only while the tape is IN TRANSIT TO VTS",
        // Where it sits now is where the gateway leaves it: not a new export.
        |tape| tape.library.waiting = tape.library.seen,
    )
}

/// CancelRetrieval: RETRIEVING → ARCHIVED.
pub(super) fn cancel_retrieval(
    world: &mut World,
    body: Value,
    now: Instant,
) -> Result<Value, ApiError> {
    transition(
        world,
        body,
        now,
        (TapeStatus::Retrieving, TapeStatus::Archived),
        "only a RETRIEVING tape's retrieval can be cancelled",
        |_| {},
    )
}

/// DeleteTape: a tape in the VTL, not in use by archival or retrieval, goes for good.
pub(super) fn delete_tape(world: &mut World, body: Value, now: Instant) -> Result<Value, ApiError> {
    let (barcode, arn) = gateway_tape(world, body)?;
    let Some(tape) = world.tape_mut(&barcode) else {
        return Err(ApiError::tape_not_found(arn));
    };
    match tape.status {
        TapeStatus::Available
        | TapeStatus::Creating
        | TapeStatus::Recovered
        | TapeStatus::Irrecoverable => {}
        TapeStatus::Retrieved => {
            return Err(wrong_state(
                &arn,
                tape.status,
                "eject it with the backup application first (it goes back to ARCHIVED), then use DeleteTapeArchive",
            ));
        }
        TapeStatus::Archived | TapeStatus::Retrieving => {
            return Err(ApiError::tape_not_found(format!(
                "The tape {arn} is not in the gateway's VTL (it is {}); use DeleteTapeArchive.",
                tape.status.as_str()
            )));
        }
        status => {
            return Err(wrong_state(&arn, status, "wait until archival completes"));
        }
    }
    tape.enter(TapeStatus::Deleted, now);
    tape.library.leave = true;
    tape_arn_output(&arn)
}

/// DeleteTapeArchive: an ARCHIVED tape goes for good.
pub(super) fn delete_tape_archive(
    world: &mut World,
    body: Value,
    now: Instant,
) -> Result<Value, ApiError> {
    let (_, arn) = TapeInput::read(body, false)?;
    let barcode = existing_tape(world, &arn)?;
    let Some(tape) = world.tape_mut(&barcode) else {
        return Err(ApiError::tape_not_found(arn));
    };
    match tape.status {
        TapeStatus::Archived => {}
        TapeStatus::Retrieving | TapeStatus::Retrieved => {
            return Err(wrong_state(
                &arn,
                tape.status,
                "a tape retrieved (or being retrieved) to a gateway must be archived again first",
            ));
        }
        status => {
            return Err(ApiError::tape_not_found(format!(
                "The tape {arn} is not in the archive (it is {}); use DeleteTape.",
                status.as_str()
            )));
        }
    }
    tape.enter(TapeStatus::Deleted, now);
    tape_arn_output(&arn)
}

/// `TapeSizeInBytes`: the gateway's rule, answered as it answers (InvalidParameters).
fn check_size(size: i64) -> Result<u64, ApiError> {
    u64::try_from(size)
        .ok()
        .filter(|s| (MIN_TAPE_SIZE..=MAX_TAPE_SIZE).contains(s) && s % GIB == 0)
        .ok_or_else(|| {
            ApiError::invalid_parameters(format!(
                "The specified request contains invalid parameters: TapeSizeInBytes {size} must be \
                 a whole number of GiB from 100 GiB ({MIN_TAPE_SIZE}) to 5 TiB ({MAX_TAPE_SIZE})."
            ))
        })
}

fn check_room(world: &World, count: usize) -> Result<(), ApiError> {
    let have = world.vtl_count();
    if have + count > MAX_VTL_TAPES {
        return Err(ApiError::too_many_tapes(format!(
            "The VTL holds {have} tapes; {count} more would pass the limit of {MAX_VTL_TAPES}."
        )));
    }
    Ok(())
}

#[derive(Deserialize)]
struct CreateTapesInput {
    #[serde(rename = "GatewayARN")]
    gateway_arn: Option<String>,
    #[serde(rename = "TapeSizeInBytes")]
    size: Option<i64>,
    #[serde(rename = "ClientToken")]
    client_token: Option<String>,
    #[serde(rename = "NumTapesToCreate")]
    count: Option<i64>,
    #[serde(rename = "TapeBarcodePrefix")]
    prefix: Option<String>,
    #[serde(rename = "PoolId")]
    pool_id: Option<String>,
    #[serde(rename = "Worm")]
    worm: Option<bool>,
}

/// CreateTapes: 1–10 tapes named prefix + 6 generated characters (or taken from the
/// `--new-barcodes` list while it lasts), CREATING → AVAILABLE (in I/E slots). A ClientToken
/// used before returns the tapes it created then.
pub(super) fn create_tapes(
    world: &mut World,
    body: Value,
    now: Instant,
) -> Result<Value, ApiError> {
    let req: CreateTapesInput = input::parse(body)?;
    let mut check = Check::default();
    if let Some(arn) = check.required("gatewayARN", &req.gateway_arn) {
        input::arn(&mut check, "gatewayARN", arn);
    }
    check.required("tapeSizeInBytes", &req.size);
    if let Some(token) = check.required("clientToken", &req.client_token) {
        check.length("clientToken", token, 5, 100);
    }
    if let Some(n) = check.required("numTapesToCreate", &req.count) {
        check.range("numTapesToCreate", *n, 1, Some(10));
    }
    if let Some(prefix) = check.required("tapeBarcodePrefix", &req.prefix) {
        check.length("tapeBarcodePrefix", prefix, 1, 4);
        check.pattern("tapeBarcodePrefix", prefix, "^[A-Z]*$", |b| {
            b.is_ascii_uppercase()
        });
    }
    input::pool_id(&mut check, req.pool_id.as_deref());
    check.finish()?;
    require_gateway(world, req.gateway_arn.as_deref().unwrap_or_default())?;
    let size = check_size(req.size.unwrap_or_default())?;
    let request = NewTapes {
        prefix: req.prefix.unwrap_or_default(),
        size,
        count: u8::try_from(req.count.unwrap_or_default()).unwrap_or(0),
        pool_id: req.pool_id,
        worm: req.worm.unwrap_or(false),
    };
    let token = req.client_token.unwrap_or_default();
    if let Some(used) = world.token(&token) {
        if used.request != request {
            return Err(ApiError::invalid_parameters(format!(
                "The ClientToken {token:?} was used before for a different CreateTapes request; \
                 use a new token for a new request."
            )));
        }
        tracing::info!(%token, "CreateTapes retried: the tapes created then");
        return Ok(json!({ "TapeARNs": used.arns }));
    }
    check_room(world, usize::from(request.count))?;
    let mut arns = Vec::new();
    for i in 0..request.count {
        let barcode = match world.take_new_barcode(&request.prefix) {
            Some(b) => b,
            None => fresh_barcode(world, &request.prefix, &token, i),
        };
        let tape = world.new_tape(
            &barcode,
            size,
            request.pool_id.clone(),
            request.worm,
            TapeStatus::Creating,
            now,
        );
        arns.push(tape.arn.clone());
        world.insert(tape);
    }
    world.remember_token(
        &token,
        TokenUse {
            request,
            arns: arns.clone(),
        },
    );
    Ok(json!({ "TapeARNs": arns }))
}

/// Prefix + 6 characters of `0-9A-F` (the shape of AWS's examples, `TEST38A29D`), derived from
/// the token so runs are repeatable, never a barcode used before.
fn fresh_barcode(world: &World, prefix: &str, token: &str, index: u8) -> String {
    let mut attempt: u32 = 0;
    loop {
        let seed = format!("{token}\0{index}\0{attempt}");
        let hash = seed.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        let barcode = format!("{prefix}{:06X}", hash & 0xff_ffff);
        if !world.barcode_used(&barcode) {
            return barcode;
        }
        attempt += 1;
    }
}

#[derive(Deserialize)]
struct CreateWithBarcodeInput {
    #[serde(rename = "GatewayARN")]
    gateway_arn: Option<String>,
    #[serde(rename = "TapeSizeInBytes")]
    size: Option<i64>,
    #[serde(rename = "TapeBarcode")]
    barcode: Option<String>,
    #[serde(rename = "PoolId")]
    pool_id: Option<String>,
    #[serde(rename = "Worm")]
    worm: Option<bool>,
}

/// CreateTapeWithBarcode: one tape with the caller's barcode, which must never have been used
/// (deleted tapes' barcodes included).
pub(super) fn create_tape_with_barcode(
    world: &mut World,
    body: Value,
    now: Instant,
) -> Result<Value, ApiError> {
    let req: CreateWithBarcodeInput = input::parse(body)?;
    let mut check = Check::default();
    if let Some(arn) = check.required("gatewayARN", &req.gateway_arn) {
        input::arn(&mut check, "gatewayARN", arn);
    }
    check.required("tapeSizeInBytes", &req.size);
    if let Some(barcode) = check.required("tapeBarcode", &req.barcode) {
        input::barcode(&mut check, "tapeBarcode", barcode);
    }
    input::pool_id(&mut check, req.pool_id.as_deref());
    check.finish()?;
    require_gateway(world, req.gateway_arn.as_deref().unwrap_or_default())?;
    let size = check_size(req.size.unwrap_or_default())?;
    let barcode = req.barcode.unwrap_or_default();
    if let Some(old) = world.tape(&barcode) {
        return Err(ApiError::invalid_parameters(format!(
            "The tape barcode {barcode} is already in use (tape {}, {}); a barcode can never be \
             used again, not even after the tape was deleted.",
            old.arn,
            old.status.as_str()
        )));
    }
    check_room(world, 1)?;
    let tape = world.new_tape(
        &barcode,
        size,
        req.pool_id,
        req.worm.unwrap_or(false),
        TapeStatus::Creating,
        now,
    );
    let arn = tape.arn.clone();
    world.insert(tape);
    tape_arn_output(&arn)
}
