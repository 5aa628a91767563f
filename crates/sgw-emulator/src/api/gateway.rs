//! The gateway itself (aws-sgw.md §2.1): its information, its VTL devices (1 medium changer
//! STK L700, 10 drives IBM ULT3580-TD5), cache and upload buffer, and ListGateways.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::ApiError;
use super::input::{self, Check};
use super::page::page;
use super::{output, require_gateway};
use crate::gateway::{CHANGER_PRODUCT, CHANGER_VENDOR, DRIVE_PRODUCT, DRIVE_VENDOR, DRIVES};
use crate::world::{GIB, World};

/// Cache and upload buffer sizes reported (AWS's minimum for each, §1.7).
const CACHE_BYTES: u64 = 150 * GIB;
const UPLOAD_BUFFER_BYTES: u64 = 150 * GIB;

#[derive(Deserialize)]
struct GatewayInput {
    #[serde(rename = "GatewayARN")]
    gateway_arn: Option<String>,
}

/// Reads and checks `{"GatewayARN": …}`.
fn gateway_only(world: &World, body: Value) -> Result<(), ApiError> {
    let req: GatewayInput = input::parse(body)?;
    let mut check = Check::default();
    if let Some(arn) = check.required("gatewayARN", &req.gateway_arn) {
        input::arn(&mut check, "gatewayARN", arn);
    }
    check.finish()?;
    require_gateway(world, req.gateway_arn.as_deref().unwrap_or_default())
}

/// A name for the gateway: its id (AWS lets the owner choose one; nobody chose here).
fn gateway_name(world: &World) -> String {
    format!("emulated-{}", world.gateway.id)
}

pub(super) fn describe_gateway_information(
    world: &mut World,
    body: Value,
    _now: Instant,
) -> Result<Value, ApiError> {
    gateway_only(world, body)?;
    Ok(json!({
        "GatewayARN": world.gateway.arn,
        "GatewayId": world.gateway.id,
        "GatewayName": gateway_name(world),
        "GatewayTimezone": "GMT",
        "GatewayState": world.faults.gateway_state,
        "GatewayType": "VTL",
        "GatewayNetworkInterfaces": [{ "Ipv4Address": "127.0.0.1" }],
        "HostEnvironment": "OTHER",
        "EndpointType": "STANDARD",
        "SoftwareVersion": "emulated",
    }))
}

#[derive(Deserialize)]
struct DevicesInput {
    #[serde(rename = "GatewayARN")]
    gateway_arn: Option<String>,
    #[serde(rename = "VTLDeviceARNs")]
    device_arns: Option<Vec<String>>,
    #[serde(rename = "Marker")]
    marker: Option<String>,
    #[serde(rename = "Limit")]
    limit: Option<i64>,
}

#[derive(Serialize)]
struct Device {
    #[serde(rename = "VTLDeviceARN")]
    arn: String,
    #[serde(rename = "VTLDeviceType")]
    device_type: &'static str,
    #[serde(rename = "VTLDeviceVendor")]
    vendor: &'static str,
    #[serde(rename = "VTLDeviceProductIdentifier")]
    product: &'static str,
    #[serde(rename = "DeviceiSCSIAttributes")]
    iscsi: Iscsi,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Iscsi {
    #[serde(rename = "TargetARN")]
    target_arn: String,
    network_interface_id: &'static str,
    network_interface_port: u16,
    chap_enabled: bool,
}

#[derive(Serialize)]
struct DevicesOutput {
    #[serde(rename = "GatewayARN")]
    gateway_arn: String,
    #[serde(rename = "VTLDevices")]
    devices: Vec<Device>,
    #[serde(rename = "Marker", skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
}

pub(super) fn describe_vtl_devices(
    world: &mut World,
    body: Value,
    _now: Instant,
) -> Result<Value, ApiError> {
    let req: DevicesInput = input::parse(body)?;
    let mut check = Check::default();
    if let Some(arn) = check.required("gatewayARN", &req.gateway_arn) {
        input::arn(&mut check, "gatewayARN", arn);
    }
    for (i, arn) in req.device_arns.iter().flatten().enumerate() {
        input::arn(&mut check, &format!("vTLDeviceARNs.{}.member", i + 1), arn);
    }
    input::page(&mut check, req.marker.as_deref(), req.limit);
    check.finish()?;
    require_gateway(world, req.gateway_arn.as_deref().unwrap_or_default())?;
    let g = &world.gateway;
    let iscsi = |suffix: &str| Iscsi {
        target_arn: g.target_arn(suffix),
        network_interface_id: "127.0.0.1",
        network_interface_port: 3260,
        chap_enabled: false,
    };
    let changer = Device {
        arn: g.changer_arn(),
        device_type: "Medium Changer",
        vendor: CHANGER_VENDOR,
        product: CHANGER_PRODUCT,
        iscsi: iscsi("mediachanger"),
    };
    let drives = (1..=DRIVES).map(|n| Device {
        arn: g.drive_arn(n),
        device_type: "Tape Drive",
        vendor: DRIVE_VENDOR,
        product: DRIVE_PRODUCT,
        iscsi: iscsi(&format!("tapedrive-{n:02}")),
    });
    let wanted = req.device_arns.as_ref().filter(|a| !a.is_empty());
    let mut devices: Vec<(String, Device)> = std::iter::once(changer)
        .chain(drives)
        .filter(|d| wanted.is_none_or(|w| w.contains(&d.arn)))
        .map(|d| (d.arn.clone(), d))
        .collect();
    devices.sort_by(|a, b| a.0.cmp(&b.0));
    let (devices, marker) = page(devices, req.marker.as_deref(), req.limit)?;
    output(DevicesOutput {
        gateway_arn: g.arn.clone(),
        devices,
        marker,
    })
}

pub(super) fn describe_cache(
    world: &mut World,
    body: Value,
    _now: Instant,
) -> Result<Value, ApiError> {
    gateway_only(world, body)?;
    let dirty = world.faults.cache_dirty_percent;
    Ok(json!({
        "GatewayARN": world.gateway.arn,
        "DiskIds": ["emulated-cache-disk"],
        "CacheAllocatedInBytes": CACHE_BYTES,
        // Dirty data is cached data: used is at least dirty.
        "CacheUsedPercentage": dirty,
        "CacheDirtyPercentage": dirty,
        "CacheHitPercentage": 100.0,
        "CacheMissPercentage": 0.0,
    }))
}

pub(super) fn describe_upload_buffer(
    world: &mut World,
    body: Value,
    _now: Instant,
) -> Result<Value, ApiError> {
    gateway_only(world, body)?;
    // Whole bytes of a percentage of 150 GiB: f64 holds them exactly.
    let used = (UPLOAD_BUFFER_BYTES as f64 * world.faults.upload_buffer_used_percent / 100.0)
        .round() as u64;
    Ok(json!({
        "GatewayARN": world.gateway.arn,
        "DiskIds": ["emulated-upload-buffer-disk"],
        "UploadBufferUsedInBytes": used,
        "UploadBufferAllocatedInBytes": UPLOAD_BUFFER_BYTES,
    }))
}

#[derive(Deserialize)]
struct ListGatewaysInput {
    #[serde(rename = "Marker")]
    marker: Option<String>,
    #[serde(rename = "Limit")]
    limit: Option<i64>,
}

pub(super) fn list_gateways(
    world: &mut World,
    body: Value,
    _now: Instant,
) -> Result<Value, ApiError> {
    let req: ListGatewaysInput = input::parse(body)?;
    let mut check = Check::default();
    input::page(&mut check, req.marker.as_deref(), req.limit);
    check.finish()?;
    let g = &world.gateway;
    let gateway = json!({
        "GatewayId": g.id,
        "GatewayARN": g.arn,
        "GatewayType": "VTL",
        "GatewayOperationalState": "ACTIVE",
        "GatewayName": gateway_name(world),
        "HostEnvironment": "OTHER",
        "SoftwareVersion": "emulated",
    });
    let (gateways, marker) = page([(g.arn.clone(), gateway)], req.marker.as_deref(), req.limit)?;
    let mut out = json!({ "Gateways": gateways });
    if let (Some(m), Some(map)) = (marker, out.as_object_mut()) {
        map.insert("Marker".into(), Value::String(m));
    }
    Ok(out)
}
