//! The three views of the tapes (aws-sgw.md §1.2, §2.2): DescribeTapes (this gateway's VTL),
//! DescribeTapeArchives (the VTS), ListTapes (both, slimmer). All paginated, ordered by ARN.

use std::collections::HashSet;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::ApiError;
use super::input::{self, Check};
use super::page::page;
use super::{output, require_gateway};
use crate::tape::{Place, Tape, TapeStatus};
use crate::world::{self, World};

#[derive(Deserialize)]
struct ListInput {
    #[serde(rename = "TapeARNs")]
    tape_arns: Option<Vec<String>>,
    #[serde(rename = "Marker")]
    marker: Option<String>,
    #[serde(rename = "Limit")]
    limit: Option<i64>,
}

#[derive(Deserialize)]
struct DescribeInput {
    #[serde(rename = "GatewayARN")]
    gateway_arn: Option<String>,
    #[serde(flatten)]
    list: ListInput,
}

impl ListInput {
    fn check(&self, check: &mut Check) {
        input::tape_arns(
            check,
            "tapeARNs",
            self.tape_arns.as_deref().unwrap_or_default(),
        );
        input::page(check, self.marker.as_deref(), self.limit);
    }

    /// The tapes `keep` accepts (and the TapeARNs named, if any), as (key, output) for [`page`].
    /// Tapes are keyed by barcode: the order of their ARNs, which share a prefix.
    fn select<'w, T>(
        &self,
        world: &'w World,
        keep: impl Fn(&Tape) -> bool,
        out: impl Fn(&'w Tape) -> T,
    ) -> Result<(Vec<T>, Option<String>), ApiError> {
        let wanted: Option<HashSet<&str>> = self
            .tape_arns
            .as_ref()
            .filter(|a| !a.is_empty())
            .map(|a| a.iter().map(String::as_str).collect());
        let items = world
            .tapes()
            .filter(|t| keep(t))
            .filter(|t| wanted.as_ref().is_none_or(|w| w.contains(t.arn.as_str())))
            .map(|t| (t.barcode.clone(), out(t)));
        page(items, self.marker.as_deref(), self.limit)
    }
}

#[derive(Serialize)]
struct TapeInfo<'a> {
    #[serde(rename = "TapeARN")]
    arn: &'a str,
    #[serde(rename = "TapeBarcode")]
    barcode: &'a str,
    #[serde(rename = "TapeSizeInBytes")]
    size: u64,
    #[serde(rename = "TapeStatus")]
    status: &'static str,
    /// Present while the tape is in a gateway's VTL.
    #[serde(rename = "GatewayARN", skip_serializing_if = "Option::is_none")]
    gateway_arn: Option<&'a str>,
    #[serde(rename = "PoolId", skip_serializing_if = "Option::is_none")]
    pool_id: Option<&'a str>,
}

#[derive(Serialize)]
struct ListOutput<'a> {
    #[serde(rename = "TapeInfos")]
    tape_infos: Vec<TapeInfo<'a>>,
    #[serde(rename = "Marker", skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
}

/// ListTapes: every tape of the account and region, VTL and VTS.
pub(super) fn list_tapes(world: &mut World, body: Value, _now: Instant) -> Result<Value, ApiError> {
    let req: ListInput = input::parse(body)?;
    let mut check = Check::default();
    req.check(&mut check);
    check.finish()?;
    let gateway_arn = world.gateway.arn.as_str();
    let (tape_infos, marker) = req.select(
        world,
        |t| t.status != TapeStatus::Deleted,
        |t| TapeInfo {
            arn: &t.arn,
            barcode: &t.barcode,
            size: t.size,
            status: t.status.as_str(),
            gateway_arn: t.status.in_vtl().then_some(gateway_arn),
            pool_id: t.pool_id.as_deref(),
        },
    )?;
    output(ListOutput { tape_infos, marker })
}

#[derive(Serialize)]
struct TapeOut<'a> {
    #[serde(rename = "TapeARN")]
    arn: &'a str,
    #[serde(rename = "TapeBarcode")]
    barcode: &'a str,
    #[serde(rename = "TapeCreatedDate")]
    created: f64,
    #[serde(rename = "TapeSizeInBytes")]
    size: u64,
    #[serde(rename = "TapeStatus")]
    status: &'static str,
    /// The drive the tape is in, when the shared library file says so.
    #[serde(rename = "VTLDevice", skip_serializing_if = "Option::is_none")]
    vtl_device: Option<String>,
    #[serde(rename = "Progress", skip_serializing_if = "Option::is_none")]
    progress: Option<f64>,
    #[serde(rename = "TapeUsedInBytes")]
    used: u64,
    #[serde(rename = "PoolId", skip_serializing_if = "Option::is_none")]
    pool_id: Option<&'a str>,
    #[serde(rename = "Worm")]
    worm: bool,
}

#[derive(Serialize)]
struct DescribeOutput<'a> {
    #[serde(rename = "Tapes")]
    tapes: Vec<TapeOut<'a>>,
    #[serde(rename = "Marker", skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
}

/// DescribeTapes: the tapes in this gateway's VTL.
pub(super) fn describe_tapes(
    world: &mut World,
    body: Value,
    now: Instant,
) -> Result<Value, ApiError> {
    let req: DescribeInput = input::parse(body)?;
    let mut check = Check::default();
    if let Some(arn) = check.required("gatewayARN", &req.gateway_arn) {
        input::arn(&mut check, "gatewayARN", arn);
    }
    req.list.check(&mut check);
    check.finish()?;
    require_gateway(world, req.gateway_arn.as_deref().unwrap_or_default())?;
    let delays = world.delays;
    let gateway = &world.gateway;
    let (tapes, marker) = req.list.select(
        world,
        |t| t.status.in_vtl(),
        |t| TapeOut {
            arn: &t.arn,
            barcode: &t.barcode,
            created: t.created,
            size: t.size,
            status: t.status.as_str(),
            vtl_device: match t.library.seen.map(|s| s.place) {
                Some(Place::Drive(i)) if i < crate::gateway::DRIVES => {
                    Some(gateway.drive_arn(i + 1))
                }
                _ => None,
            },
            progress: world::progress(t, &delays, now),
            used: t.used,
            pool_id: t.pool_id.as_deref(),
            worm: t.worm,
        },
    )?;
    output(DescribeOutput { tapes, marker })
}

#[derive(Serialize)]
struct TapeArchive<'a> {
    #[serde(rename = "TapeARN")]
    arn: &'a str,
    #[serde(rename = "TapeBarcode")]
    barcode: &'a str,
    #[serde(rename = "TapeCreatedDate")]
    created: f64,
    #[serde(rename = "TapeSizeInBytes")]
    size: u64,
    #[serde(rename = "CompletionTime", skip_serializing_if = "Option::is_none")]
    completion: Option<f64>,
    /// The gateway a RETRIEVING or RETRIEVED tape goes or went to.
    #[serde(rename = "RetrievedTo", skip_serializing_if = "Option::is_none")]
    retrieved_to: Option<&'a str>,
    #[serde(rename = "TapeStatus")]
    status: &'static str,
    #[serde(rename = "TapeUsedInBytes")]
    used: u64,
    #[serde(rename = "PoolId", skip_serializing_if = "Option::is_none")]
    pool_id: Option<&'a str>,
    #[serde(rename = "Worm")]
    worm: bool,
}

#[derive(Serialize)]
struct ArchivesOutput<'a> {
    #[serde(rename = "TapeArchives")]
    tape_archives: Vec<TapeArchive<'a>>,
    #[serde(rename = "Marker", skip_serializing_if = "Option::is_none")]
    marker: Option<String>,
}

/// DescribeTapeArchives: the tapes in the VTS (a retrieved one too, with RetrievedTo).
pub(super) fn describe_tape_archives(
    world: &mut World,
    body: Value,
    _now: Instant,
) -> Result<Value, ApiError> {
    let req: ListInput = input::parse(body)?;
    let mut check = Check::default();
    req.check(&mut check);
    check.finish()?;
    let gateway_arn = world.gateway.arn.as_str();
    let (tape_archives, marker) = req.select(
        world,
        |t| t.status.in_vts(),
        |t| TapeArchive {
            arn: &t.arn,
            barcode: &t.barcode,
            created: t.created,
            size: t.size,
            completion: t.completion,
            retrieved_to: matches!(t.status, TapeStatus::Retrieving | TapeStatus::Retrieved)
                .then_some(gateway_arn),
            status: t.status.as_str(),
            used: t.used,
            pool_id: t.pool_id.as_deref(),
            worm: t.worm,
        },
    )?;
    output(ArchivesOutput {
        tape_archives,
        marker,
    })
}
