//! The operations: routed on `X-Amz-Target` (aws-sgw.md §3.2), body in, JSON or an error out.
//!
//! * `StorageGateway_20130630.<Operation>`: the AWS operations — [`tapes`] (the lists),
//!   [`lifecycle`] (create, retrieve, cancel, delete), [`gateway`] (the gateway and its
//!   devices). Every one is counted, and meets the injected faults first.
//! * `SgwEmulator.<Operation>`: the emulator's own [`control`] operations, neither counted
//!   nor faulted.
//! * anything else: UnknownOperationException.

pub(crate) mod control;
pub(crate) mod error;
mod gateway;
mod input;
mod lifecycle;
mod page;
mod tapes;

use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use serde_json::Value;

use crate::world::World;
use error::ApiError;

/// `X-Amz-Target` prefix of the AWS operations (the model's `targetPrefix`).
pub(crate) const AWS_PREFIX: &str = "StorageGateway_20130630.";
/// `X-Amz-Target` prefix of the control operations.
pub(crate) const CONTROL_PREFIX: &str = "SgwEmulator.";

type Handler = fn(&mut World, Value, Instant) -> Result<Value, ApiError>;

/// The AWS operations answered.
const OPERATIONS: &[(&str, Handler)] = &[
    ("ListTapes", tapes::list_tapes),
    ("DescribeTapes", tapes::describe_tapes),
    ("DescribeTapeArchives", tapes::describe_tape_archives),
    ("RetrieveTapeArchive", lifecycle::retrieve_tape_archive),
    ("CancelArchival", lifecycle::cancel_archival),
    ("CancelRetrieval", lifecycle::cancel_retrieval),
    ("CreateTapes", lifecycle::create_tapes),
    ("CreateTapeWithBarcode", lifecycle::create_tape_with_barcode),
    ("DeleteTape", lifecycle::delete_tape),
    ("DeleteTapeArchive", lifecycle::delete_tape_archive),
    (
        "DescribeGatewayInformation",
        gateway::describe_gateway_information,
    ),
    ("DescribeVTLDevices", gateway::describe_vtl_devices),
    ("DescribeCache", gateway::describe_cache),
    ("DescribeUploadBuffer", gateway::describe_upload_buffer),
    ("ListGateways", gateway::list_gateways),
];

/// The answer to one request: `target` is the `X-Amz-Target` header (absent: empty), `body`
/// the request body.
pub(crate) fn answer(world: &Mutex<World>, target: &str, body: &[u8]) -> Result<Value, ApiError> {
    if let Some(op) = target.strip_prefix(AWS_PREFIX) {
        aws(world, op, target, body)
    } else if let Some(op) = target.strip_prefix(CONTROL_PREFIX) {
        control::answer(world, op, target, json_body(body)?)
    } else {
        Err(ApiError::unknown_operation(target))
    }
}

fn aws(world: &Mutex<World>, op: &str, target: &str, body: &[u8]) -> Result<Value, ApiError> {
    let Some((name, handler)) = OPERATIONS.iter().find(|(name, _)| *name == op) else {
        return Err(ApiError::unknown_operation(target));
    };
    let mut world = lock(world);
    world.count_call(name);
    // Faults come first, as a throttle or an outage meets a request before anything reads it.
    if world.faults.throttle > 0 {
        world.faults.throttle -= 1;
        return Err(ApiError::throttled());
    }
    if world.faults.internal_error > 0 {
        world.faults.internal_error -= 1;
        return Err(ApiError::internal(world.faults.internal_error_status));
    }
    let body = json_body(body)?;
    let now = Instant::now();
    world.advance(now);
    handler(&mut world, body, now)
}

/// The body as a JSON object; no body reads as `{}`.
fn json_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(ApiError::serialization(
            "the request body must be a JSON object",
        )),
        Err(e) => Err(ApiError::serialization(format!(
            "the request body is not JSON: {e}"
        ))),
    }
}

pub(crate) fn lock(world: &Mutex<World>) -> MutexGuard<'_, World> {
    // Handlers do not panic with the lock held; if one did, the world is still consistent
    // between statements, and the next request should be answered.
    world
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A gateway-scoped operation's GatewayARN: the emulated gateway, and connected.
fn require_gateway(world: &World, arn: &str) -> Result<(), ApiError> {
    if arn != world.gateway.arn {
        return Err(ApiError::gateway_not_found());
    }
    if world.faults.disconnected {
        return Err(ApiError::gateway_not_connected());
    }
    Ok(())
}

/// The barcode of the (not deleted) tape `arn` names.
fn existing_tape(world: &World, arn: &str) -> Result<String, ApiError> {
    world
        .gateway
        .barcode_of(arn)
        .and_then(|b| world.tape(b))
        .filter(|t| t.status != crate::tape::TapeStatus::Deleted)
        .map(|t| t.barcode.clone())
        .ok_or_else(|| ApiError::tape_not_found(format!("The specified tape {arn} was not found.")))
}

/// Serializes an output structure (cannot fail for the emulator's own types).
fn output(value: impl serde::Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(|e| {
        tracing::error!(error = %e, "cannot serialize a response");
        ApiError::internal(500)
    })
}
