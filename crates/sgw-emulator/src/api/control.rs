//! The emulator's own operations (`X-Amz-Target: SgwEmulator.<Op>`), for tests and the demo:
//! inject faults, export a tape of a library the emulator does not share, read the call
//! counts, see every tape. Unknown members are refused here (unlike the AWS operations), so a
//! misspelt fault does not pass silently.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::input::{self, Check};
use super::{lock, output};
use crate::world::{ControlError, Faults, World};

pub(crate) fn answer(
    world: &Mutex<World>,
    op: &str,
    target: &str,
    body: Value,
) -> Result<Value, ApiError> {
    match op {
        "SetFaults" => set_faults(world, body),
        "Eject" => eject(world, body),
        "Calls" => calls(world, body),
        "State" => state(world, body),
        _ => Err(ApiError::unknown_operation(target)),
    }
}

/// Changes to [`Faults`]: members present are set, absent ones stay.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct FaultChanges {
    throttle: Option<u32>,
    internal_error: Option<u32>,
    internal_error_status: Option<u16>,
    disconnected: Option<bool>,
    gateway_state: Option<String>,
    cache_dirty_percent: Option<f64>,
    upload_buffer_used_percent: Option<f64>,
}

impl FaultChanges {
    fn check(&self) -> Result<(), ApiError> {
        let mut check = Check::default();
        if let Some(s) = self.internal_error_status
            && s != 400
            && s != 500
        {
            check.shape("internalErrorStatus", &s.to_string(), "400|500", false);
        }
        if let Some(state) = &self.gateway_state {
            // GatewayState is a 2–25 character string in the model.
            check.length("gatewayState", state, 2, 25);
        }
        for (member, value) in [
            ("cacheDirtyPercent", self.cache_dirty_percent),
            ("uploadBufferUsedPercent", self.upload_buffer_used_percent),
        ] {
            if let Some(v) = value
                && !(0.0..=100.0).contains(&v)
            {
                check.shape(member, &v.to_string(), "0 to 100", false);
            }
        }
        check.finish()
    }

    fn apply(self, f: &mut Faults) {
        if let Some(v) = self.throttle {
            f.throttle = v;
        }
        if let Some(v) = self.internal_error {
            f.internal_error = v;
        }
        if let Some(v) = self.internal_error_status {
            f.internal_error_status = v;
        }
        if let Some(v) = self.disconnected {
            f.disconnected = v;
        }
        if let Some(v) = self.gateway_state {
            f.gateway_state = v;
        }
        if let Some(v) = self.cache_dirty_percent {
            f.cache_dirty_percent = v;
        }
        if let Some(v) = self.upload_buffer_used_percent {
            f.upload_buffer_used_percent = v;
        }
    }
}

/// `SetFaults` → `{"Faults": {…}}` (all of them, after the change).
fn set_faults(world: &Mutex<World>, body: Value) -> Result<Value, ApiError> {
    let changes: FaultChanges = input::parse(body)?;
    changes.check()?;
    let mut world = lock(world);
    changes.apply(&mut world.faults);
    tracing::info!(faults = ?world.faults, "faults set");
    output(json!({ "Faults": world.faults }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct EjectInput {
    tape_barcode: Option<String>,
}

/// `Eject {"TapeBarcode": B}` → `{"TapeBarcode": B, "TapeStatus": …}`.
fn eject(world: &Mutex<World>, body: Value) -> Result<Value, ApiError> {
    let req: EjectInput = input::parse(body)?;
    let mut check = Check::default();
    if let Some(b) = check.required("tapeBarcode", &req.tape_barcode) {
        input::barcode(&mut check, "tapeBarcode", b);
    }
    check.finish()?;
    let barcode = req.tape_barcode.unwrap_or_default();
    let mut world = lock(world);
    let now = Instant::now();
    world.advance(now);
    world.eject(&barcode, now).map_err(|e| match e {
        ControlError::NoSuchTape { .. } => ApiError::tape_not_found(e.to_string()),
        _ => ApiError::invalid_parameters(e.to_string()),
    })?;
    let status = world.tape(&barcode).map(|t| t.status.as_str());
    Ok(json!({ "TapeBarcode": barcode, "TapeStatus": status }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct CallsInput {
    reset: Option<bool>,
}

/// `Calls {["Reset": true]}` → `{"Calls": {"DescribeTapes": 3, …}}`: AWS calls answered per
/// operation (throttled and failed ones included); with Reset, the counts start again at 0
/// after this answer.
fn calls(world: &Mutex<World>, body: Value) -> Result<Value, ApiError> {
    let req: CallsInput = input::parse(body)?;
    let mut world = lock(world);
    let calls: BTreeMap<&str, u64> = world.calls().clone();
    if req.reset == Some(true) {
        world.reset_calls();
    }
    output(json!({ "Calls": calls }))
}

/// `State {}` → the gateway, the faults, and every tape with status and place.
fn state(world: &Mutex<World>, body: Value) -> Result<Value, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Nothing {}
    let _: Nothing = input::parse(body)?;
    let mut world = lock(world);
    world.advance(Instant::now());
    let tapes: Vec<_> = world.tapes().map(|t| t.view()).collect();
    output(json!({
        "GatewayARN": world.gateway.arn,
        "SharesLibrary": world.shares_library,
        "Faults": world.faults,
        "Tapes": tapes,
    }))
}
