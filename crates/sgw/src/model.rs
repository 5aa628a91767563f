//! The records this crate returns, converted from the SDK's: owned, plain fields, sizes as
//! `u64`, statuses as [`TapeStatus`].
//!
//! The API marks nearly every member optional. A record without its ARN is useless to the
//! daemon and is dropped (with a warning); a missing barcode is taken from the ARN, which ends
//! in `tape/<barcode>`; a missing size reads as 0 and a missing status as an empty
//! [`TapeStatus::Unknown`].

use aws_sdk_storagegateway::primitives::DateTime;
use aws_sdk_storagegateway::types as sdk;

use crate::status::TapeStatus;

/// A tape in this gateway's library (VTL), from DescribeTapes.
#[derive(Debug, Clone, PartialEq)]
pub struct Tape {
    /// `TapeARN`.
    pub arn: String,
    /// `TapeBarcode`, the SCSI volume tag.
    pub barcode: String,
    /// `TapeStatus`.
    pub status: TapeStatus,
    /// `TapeSizeInBytes`: capacity.
    pub size_bytes: u64,
    /// `TapeUsedInBytes`; absent for tapes created before 2015-05-13.
    pub used_bytes: Option<u64>,
    /// `PoolId`: `GLACIER`, `DEEP_ARCHIVE` or a custom pool's ARN.
    pub pool_id: Option<String>,
    /// `Progress`: 0–100 while uploading (`IN TRANSIT TO VTS`) or retrieving.
    pub progress: Option<f64>,
    /// `VTLDevice`: ARN of the VTL device the tape is associated with.
    pub vtl_device: Option<String>,
    /// `Worm`: write once, read many.
    pub worm: bool,
}

/// A tape of the account and region, in any gateway's library or in the archive, from
/// ListTapes.
#[derive(Debug, Clone, PartialEq)]
pub struct TapeInfo {
    /// `TapeARN`.
    pub arn: String,
    /// `TapeBarcode`.
    pub barcode: String,
    /// `TapeStatus`.
    pub status: TapeStatus,
    /// `TapeSizeInBytes`.
    pub size_bytes: u64,
    /// `GatewayARN`: the gateway whose library holds the tape; absent for archived tapes.
    pub gateway_arn: Option<String>,
    /// `PoolId`.
    pub pool_id: Option<String>,
}

/// A tape in the archive (VTS), from DescribeTapeArchives.
#[derive(Debug, Clone, PartialEq)]
pub struct TapeArchive {
    /// `TapeARN`.
    pub arn: String,
    /// `TapeBarcode`.
    pub barcode: String,
    /// `TapeStatus`: `ARCHIVED`, `RETRIEVING` or `RETRIEVED`.
    pub status: TapeStatus,
    /// `TapeSizeInBytes`.
    pub size_bytes: u64,
    /// `TapeUsedInBytes`.
    pub used_bytes: Option<u64>,
    /// `PoolId`.
    pub pool_id: Option<String>,
    /// `RetrievedTo`: the gateway the tape is retrieved to, while it is.
    pub retrieved_to: Option<String>,
    /// `CompletionTime`: when archiving finished, in seconds since the Unix epoch.
    pub completion_time: Option<f64>,
}

/// What CreateTapes should create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTapes {
    /// `TapeBarcodePrefix`: 1–4 letters A–Z; AWS appends the rest of the barcode.
    pub prefix: String,
    /// `TapeSizeInBytes`: a multiple of 1 GiB, 100 GiB to 5 TiB at the time of writing.
    pub size_bytes: u64,
    /// `NumTapesToCreate`: 1–10.
    pub count: u8,
    /// `PoolId`: `GLACIER`, `DEEP_ARCHIVE` or a custom pool's ARN; `None` leaves the tapes
    /// without a pool.
    pub pool_id: Option<String>,
    /// `ClientToken`: 5–100 characters. Chosen by the caller and deterministic, so that a
    /// request repeated after a lost answer creates the tapes once, not twice.
    pub client_token: String,
}

/// A device of the gateway's VTL (the medium changer or a tape drive), from
/// DescribeVTLDevices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VtlDevice {
    /// `VTLDeviceARN`.
    pub arn: String,
    /// `VTLDeviceType`: `"Medium Changer"` or `"Tape Drive"`.
    pub device_type: String,
    /// `VTLDeviceVendor`, e.g. `STK`, `IBM`.
    pub vendor: String,
    /// `VTLDeviceProductIdentifier`, e.g. `L700`, `ULT3580-TD5`.
    pub product: String,
    /// `DeviceiSCSIAttributes.TargetARN`; it ends in the iSCSI IQN, the key to the Linux
    /// `/dev/tape/by-path/*` name.
    pub target_arn: Option<String>,
}

/// Bytes from the API's `long`; a negative value (never sent by AWS) reads as 0.
fn bytes(value: Option<i64>) -> Option<u64> {
    value.map(|v| u64::try_from(v).unwrap_or(0))
}

/// The barcode, or the end of the ARN (`…:tape/<barcode>`) when the record has none.
fn barcode_of(barcode: Option<&str>, arn: &str) -> String {
    match barcode {
        Some(barcode) => barcode.to_owned(),
        None => arn.rsplit_once("tape/").map_or("", |(_, b)| b).to_owned(),
    }
}

fn status_of(status: Option<&str>) -> TapeStatus {
    TapeStatus::from(status.unwrap_or(""))
}

fn seconds(time: Option<&DateTime>) -> Option<f64> {
    time.map(DateTime::as_secs_f64)
}

/// Keeps the records that have an ARN, converted; warns about the others.
pub(crate) fn convert<S, T>(
    operation: &'static str,
    records: Vec<S>,
    arn: impl Fn(&S) -> Option<&str>,
    into: impl Fn(&S, String) -> T,
) -> Vec<T> {
    let mut out = Vec::with_capacity(records.len());
    for record in &records {
        match arn(record) {
            Some(a) if !a.is_empty() => out.push(into(record, a.to_owned())),
            _ => tracing::warn!(operation, "a record without an ARN was skipped"),
        }
    }
    out
}

pub(crate) fn tape(t: &sdk::Tape, arn: String) -> Tape {
    Tape {
        barcode: barcode_of(t.tape_barcode(), &arn),
        status: status_of(t.tape_status()),
        size_bytes: bytes(t.tape_size_in_bytes()).unwrap_or(0),
        used_bytes: bytes(t.tape_used_in_bytes()),
        pool_id: t.pool_id().map(str::to_owned),
        progress: t.progress(),
        vtl_device: t.vtl_device().map(str::to_owned),
        worm: t.worm(),
        arn,
    }
}

pub(crate) fn tape_info(t: &sdk::TapeInfo, arn: String) -> TapeInfo {
    TapeInfo {
        barcode: barcode_of(t.tape_barcode(), &arn),
        status: status_of(t.tape_status()),
        size_bytes: bytes(t.tape_size_in_bytes()).unwrap_or(0),
        gateway_arn: t.gateway_arn().map(str::to_owned),
        pool_id: t.pool_id().map(str::to_owned),
        arn,
    }
}

pub(crate) fn tape_archive(t: &sdk::TapeArchive, arn: String) -> TapeArchive {
    TapeArchive {
        barcode: barcode_of(t.tape_barcode(), &arn),
        status: status_of(t.tape_status()),
        size_bytes: bytes(t.tape_size_in_bytes()).unwrap_or(0),
        used_bytes: bytes(t.tape_used_in_bytes()),
        pool_id: t.pool_id().map(str::to_owned),
        retrieved_to: t.retrieved_to().map(str::to_owned),
        completion_time: seconds(t.completion_time()),
        arn,
    }
}

pub(crate) fn vtl_device(d: &sdk::VtlDevice, arn: String) -> VtlDevice {
    VtlDevice {
        arn,
        device_type: d.vtl_device_type().unwrap_or_default().to_owned(),
        vendor: d.vtl_device_vendor().unwrap_or_default().to_owned(),
        product: d
            .vtl_device_product_identifier()
            .unwrap_or_default()
            .to_owned(),
        target_arn: d
            .devicei_scsi_attributes()
            .and_then(|a| a.target_arn())
            .map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:storagegateway:us-east-1:111122223333:tape/AB123456";

    #[test]
    fn tape_with_every_field() {
        let sdk_tape = sdk::Tape::builder()
            .tape_arn(ARN)
            .tape_barcode("AB123456")
            .tape_status("IN TRANSIT TO VTS")
            .tape_size_in_bytes(107_374_182_400)
            .tape_used_in_bytes(1_048_576)
            .pool_id("GLACIER")
            .progress(42.5)
            .vtl_device("arn:…/device/AMZN_SGW-1FAD4876_TAPEDRIVE_00001")
            .worm(true)
            .build();
        let t = tape(&sdk_tape, ARN.to_owned());
        assert_eq!(
            t,
            Tape {
                arn: ARN.into(),
                barcode: "AB123456".into(),
                status: TapeStatus::InTransitToVts,
                size_bytes: 107_374_182_400,
                used_bytes: Some(1_048_576),
                pool_id: Some("GLACIER".into()),
                progress: Some(42.5),
                vtl_device: Some("arn:…/device/AMZN_SGW-1FAD4876_TAPEDRIVE_00001".into()),
                worm: true,
            }
        );
    }

    #[test]
    fn sparse_records() {
        let bare = sdk::TapeInfo::builder()
            .tape_arn(ARN)
            .tape_size_in_bytes(-1)
            .build();
        let info = tape_info(&bare, ARN.to_owned());
        assert_eq!(info.barcode, "AB123456", "barcode from the ARN");
        assert_eq!(info.status, TapeStatus::Unknown(String::new()));
        assert_eq!(info.size_bytes, 0);
        assert_eq!(info.gateway_arn, None);

        let archive = sdk::TapeArchive::builder()
            .tape_arn(ARN)
            .tape_status("ARCHIVED")
            .completion_time(DateTime::from_secs_f64(1_481_896_200.5))
            .build();
        let a = tape_archive(&archive, ARN.to_owned());
        assert_eq!(a.completion_time, Some(1_481_896_200.5));
        assert_eq!(a.used_bytes, None);
        assert_eq!(a.retrieved_to, None);
    }

    #[test]
    fn records_without_arn_are_skipped() {
        let records = vec![
            sdk::TapeInfo::builder().tape_arn(ARN).build(),
            sdk::TapeInfo::builder().tape_barcode("NOARN1").build(),
            sdk::TapeInfo::builder().tape_arn("").build(),
        ];
        let out = convert("ListTapes", records, |t| t.tape_arn(), tape_info);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].arn, ARN);
    }

    #[test]
    fn device() {
        let d = sdk::VtlDevice::builder()
            .vtl_device_arn("arn:dev")
            .vtl_device_type("Medium Changer")
            .vtl_device_vendor("STK")
            .vtl_device_product_identifier("L700")
            .devicei_scsi_attributes(
                sdk::DeviceiScsiAttributes::builder()
                    .target_arn("arn:…/target/iqn.1997-05.com.amazon:sgw-1fad4876-mediachanger")
                    .build(),
            )
            .build();
        let v = vtl_device(&d, "arn:dev".into());
        assert_eq!(v.vendor, "STK");
        assert_eq!(v.product, "L700");
        assert!(
            v.target_arn
                .as_deref()
                .is_some_and(|t| t.ends_with("-mediachanger"))
        );
    }
}
