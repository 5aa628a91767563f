//! The tape operations without a shared library: the three views, pagination, creation
//! (idempotent tokens, barcodes never reused), the lifecycle's refusals, and the time-driven
//! states (waited for by polling, never by a timed assertion).

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{
    GATEWAY, GIB, all_pages, aws, control, start, status, tape_arn, wait_for, wait_for_status,
};
use serde_json::{Value, json};
use sgw_emulator::{Delays, Emulator, Options, StartError};

fn barcodes(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|t| t["TapeBarcode"].as_str().unwrap().to_owned())
        .collect()
}

/// A hold on every time-driven state: long enough that nothing moves during a test.
const HOLD: Delays = Delays {
    creating: Duration::from_secs(3600),
    transit: Duration::from_secs(3600),
    archiving: Duration::from_secs(3600),
    retrieving: Duration::from_secs(3600),
};

#[test]
fn each_view_lists_its_side_of_the_library() {
    let emu = start(&["VT00001", "VT00002=RETRIEVED", "VS00003=ARCHIVED"], HOLD);
    let addr = emu.addr();
    control(addr, "Eject", json!({"TapeBarcode": "VT00001"})).ok();
    // VT00001 IN TRANSIT TO VTS (VTL), VT00002 RETRIEVED (both), VS00003 ARCHIVED (VTS).
    let vtl = aws(addr, "DescribeTapes", json!({"GatewayARN": GATEWAY})).ok();
    assert_eq!(
        barcodes(vtl["Tapes"].as_array().unwrap()),
        ["VT00001", "VT00002"]
    );
    let vts = aws(addr, "DescribeTapeArchives", json!({})).ok();
    let archives = vts["TapeArchives"].as_array().unwrap();
    assert_eq!(barcodes(archives), ["VS00003", "VT00002"]);
    assert_eq!(archives[1]["RetrievedTo"], GATEWAY);
    assert!(archives[0].get("RetrievedTo").is_none());
    assert!(archives[0]["CompletionTime"].is_number());
    let all = aws(addr, "ListTapes", json!({})).ok();
    let infos = all["TapeInfos"].as_array().unwrap();
    assert_eq!(barcodes(infos), ["VS00003", "VT00001", "VT00002"]);
    // GatewayARN only for tapes in the VTL.
    assert!(infos[0].get("GatewayARN").is_none());
    assert_eq!(infos[1]["GatewayARN"], GATEWAY);
    assert_eq!(infos[1]["TapeStatus"], "IN TRANSIT TO VTS");
}

#[test]
fn describe_tapes_reports_sizes_dates_and_progress_as_numbers() {
    let emu = start(&["AB00001"], HOLD);
    let addr = emu.addr();
    control(addr, "Eject", json!({"TapeBarcode": "AB00001"})).ok();
    let tapes = aws(addr, "DescribeTapes", json!({"GatewayARN": GATEWAY})).ok();
    let tape = &tapes["Tapes"][0];
    assert_eq!(tape["TapeARN"], tape_arn("AB00001"));
    assert_eq!(tape["TapeSizeInBytes"], 100 * GIB);
    assert_eq!(tape["TapeUsedInBytes"], 0);
    assert!(
        tape["TapeCreatedDate"].as_f64().unwrap() > 1.5e9,
        "epoch seconds"
    );
    let progress = tape["Progress"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&progress));
}

#[test]
fn tape_arns_select_tapes_in_every_view() {
    let emu = start(&["AB00001", "AB00002", "AB00003=ARCHIVED"], HOLD);
    let addr = emu.addr();
    let want = json!([
        tape_arn("AB00002"),
        tape_arn("AB00003"),
        tape_arn("ZZ99999")
    ]);
    let list = aws(addr, "ListTapes", json!({"TapeARNs": want})).ok();
    assert_eq!(
        barcodes(list["TapeInfos"].as_array().unwrap()),
        ["AB00002", "AB00003"]
    );
    let vtl = aws(
        addr,
        "DescribeTapes",
        json!({"GatewayARN": GATEWAY, "TapeARNs": want}),
    )
    .ok();
    assert_eq!(barcodes(vtl["Tapes"].as_array().unwrap()), ["AB00002"]);
    let vts = aws(addr, "DescribeTapeArchives", json!({"TapeARNs": want})).ok();
    assert_eq!(
        barcodes(vts["TapeArchives"].as_array().unwrap()),
        ["AB00003"]
    );
}

#[test]
fn pagination_returns_every_tape_once_at_any_limit() {
    let seeds: Vec<String> = (0..250)
        .map(|i| {
            if i % 3 == 0 {
                format!("PG{i:05}=ARCHIVED")
            } else {
                format!("PG{i:05}")
            }
        })
        .collect();
    let seeds: Vec<&str> = seeds.iter().map(String::as_str).collect();
    let emu = start(&seeds, HOLD);
    let addr = emu.addr();
    let g = json!({"GatewayARN": GATEWAY});
    // (operation, input, member, limit, items, pages)
    let cases: &[(&str, Value, &str, i64, usize, usize)] = &[
        ("ListTapes", json!({}), "TapeInfos", 1, 250, 250),
        ("ListTapes", json!({}), "TapeInfos", 7, 250, 36),
        ("ListTapes", json!({}), "TapeInfos", 100, 250, 3),
        // More than 100 per page is never given, whatever the Limit.
        ("ListTapes", json!({}), "TapeInfos", 1000, 250, 3),
        ("DescribeTapes", g.clone(), "Tapes", 50, 166, 4),
        ("DescribeTapeArchives", json!({}), "TapeArchives", 84, 84, 1),
        ("DescribeTapeArchives", json!({}), "TapeArchives", 83, 84, 2),
        ("DescribeVTLDevices", g.clone(), "VTLDevices", 4, 11, 3),
        ("ListGateways", json!({}), "Gateways", 1, 1, 1),
    ];
    for (op, input, member, limit, n, pages) in cases {
        let (items, calls) = all_pages(addr, op, input.clone(), member, *limit);
        assert_eq!(items.len(), *n, "{op} limit {limit}");
        assert_eq!(calls, *pages, "{op} limit {limit}");
        let unique: BTreeSet<String> = items.iter().map(Value::to_string).collect();
        assert_eq!(unique.len(), *n, "{op} limit {limit}: no item twice");
    }
    // No Limit: pages of 100.
    let first = aws(addr, "ListTapes", json!({})).ok();
    assert_eq!(first["TapeInfos"].as_array().unwrap().len(), 100);
    assert!(first["Marker"].is_string());
}

#[test]
fn a_marker_from_elsewhere_is_refused() {
    let emu = start(&["AB00001", "AB00002"], HOLD);
    let r = aws(
        emu.addr(),
        "ListTapes",
        json!({"Marker": "page2", "Limit": 1}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.error_type(), "InvalidGatewayRequestException");
    assert_eq!(r.error_code(), "InvalidParameters");
}

#[test]
fn vtl_devices_are_an_stk_l700_and_ten_lto5_drives_with_aws_iqns() {
    let emu = start(&[], HOLD);
    let r = aws(
        emu.addr(),
        "DescribeVTLDevices",
        json!({"GatewayARN": GATEWAY}),
    )
    .ok();
    assert_eq!(r["GatewayARN"], GATEWAY);
    let devices = r["VTLDevices"].as_array().unwrap();
    assert_eq!(devices.len(), 11);
    let changer = &devices[0];
    assert_eq!(changer["VTLDeviceType"], "Medium Changer");
    assert_eq!(changer["VTLDeviceVendor"], "STK");
    assert_eq!(changer["VTLDeviceProductIdentifier"], "L700");
    assert!(
        changer["DeviceiSCSIAttributes"]["TargetARN"]
            .as_str()
            .unwrap()
            .ends_with("/target/iqn.1997-05.com.amazon:sgw-12a3456b-mediachanger")
    );
    for (i, drive) in devices[1..].iter().enumerate() {
        assert_eq!(drive["VTLDeviceType"], "Tape Drive");
        assert_eq!(drive["VTLDeviceVendor"], "IBM");
        assert_eq!(drive["VTLDeviceProductIdentifier"], "ULT3580-TD5");
        let target = drive["DeviceiSCSIAttributes"]["TargetARN"]
            .as_str()
            .unwrap();
        let want = format!("iqn.1997-05.com.amazon:sgw-12a3456b-tapedrive-{:02}", i + 1);
        assert!(target.ends_with(&want), "{target}");
        assert!(target.starts_with(GATEWAY), "{target}");
    }
    // VTLDeviceARNs selects.
    let one = devices[3]["VTLDeviceARN"].clone();
    let r = aws(
        emu.addr(),
        "DescribeVTLDevices",
        json!({"GatewayARN": GATEWAY, "VTLDeviceARNs": [one.clone()]}),
    )
    .ok();
    assert_eq!(r["VTLDevices"].as_array().unwrap().len(), 1);
    assert_eq!(r["VTLDevices"][0]["VTLDeviceARN"], one);
}

fn create_tapes(token: &str, count: u8, prefix: &str) -> Value {
    json!({
        "GatewayARN": GATEWAY, "TapeSizeInBytes": 200 * GIB, "ClientToken": token,
        "NumTapesToCreate": count, "TapeBarcodePrefix": prefix
    })
}

#[test]
fn create_tapes_with_a_used_token_returns_the_same_tapes() {
    let emu = start(&[], HOLD);
    let addr = emu.addr();
    let first = aws(addr, "CreateTapes", create_tapes("job-42-tapes", 3, "AB")).ok();
    let arns = first["TapeARNs"].as_array().unwrap().clone();
    assert_eq!(arns.len(), 3);
    for arn in &arns {
        let barcode = arn.as_str().unwrap().rsplit('/').next().unwrap();
        assert!(barcode.starts_with("AB") && barcode.len() == 8, "{barcode}");
    }
    let again = aws(addr, "CreateTapes", create_tapes("job-42-tapes", 3, "AB")).ok();
    assert_eq!(again["TapeARNs"].as_array().unwrap(), &arns);
    let all = aws(addr, "ListTapes", json!({})).ok();
    let infos = all["TapeInfos"].as_array().unwrap();
    assert_eq!(infos.len(), 3, "no new tapes");
    assert!(infos.iter().all(|t| t["TapeStatus"] == "CREATING"));
    assert!(infos.iter().all(|t| t["TapeSizeInBytes"] == 200 * GIB));
    // The same token for another request is refused; a new token makes new tapes.
    let r = aws(addr, "CreateTapes", create_tapes("job-42-tapes", 2, "AB"));
    assert_eq!(r.error_code(), "InvalidParameters");
    let other = aws(addr, "CreateTapes", create_tapes("job-43-tapes", 3, "AB")).ok();
    let new = other["TapeARNs"].as_array().unwrap();
    assert!(arns.iter().all(|a| !new.contains(a)));
}

#[test]
fn create_tapes_hands_out_the_new_barcodes_given_before_generating_any() {
    let emu = Emulator::start(Options {
        tapes: vec!["NB00002".parse().unwrap()],
        new_barcodes: ["ZZ00001", "NB00001", "NB00002", "NB00003"]
            .map(String::from)
            .to_vec(),
        delays: HOLD,
        poll: Duration::from_millis(10),
        ..Options::default()
    })
    .unwrap();
    let addr = emu.addr();
    let create = |token: &str, count: u8| -> Vec<String> {
        let r = aws(addr, "CreateTapes", create_tapes(token, count, "NB")).ok();
        r["TapeARNs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().rsplit('/').next().unwrap().to_owned())
            .collect()
    };
    // Those with the request's prefix first, in order; NB00002 is a tape already: skipped.
    assert_eq!(create("new-1", 2), ["NB00001", "NB00003"]);
    // A repeated request creates nothing and takes nothing off the list.
    assert_eq!(create("new-1", 2), ["NB00001", "NB00003"]);
    // Then the others in order, then generated ones.
    let next = create("new-2", 2);
    assert_eq!(next[0], "ZZ00001");
    assert!(
        next[1].starts_with("NB") && next[1].len() == 8,
        "generated: {}",
        next[1]
    );
    for barcode in ["NB00001", "NB00003", "ZZ00001", next[1].as_str()] {
        assert_eq!(
            status(addr, barcode).as_deref(),
            Some("CREATING"),
            "{barcode}"
        );
    }
    assert_eq!(status(addr, "NB00002").as_deref(), Some("AVAILABLE"));
    // A barcode AWS would refuse is refused at start.
    let r = Emulator::start(Options {
        new_barcodes: vec!["nb1".into()],
        ..Options::default()
    });
    match r {
        Err(e @ StartError::NewBarcode(_)) => {
            assert!(e.to_string().contains("5 to 16 characters"), "{e}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_barcode_is_never_used_twice_not_even_after_deletion() {
    let emu = start(&["AB00003=ARCHIVED"], Delays::ZERO);
    let addr = emu.addr();
    let create = |barcode: &str| {
        aws(
            addr,
            "CreateTapeWithBarcode",
            json!({"GatewayARN": GATEWAY, "TapeSizeInBytes": 100 * GIB, "TapeBarcode": barcode}),
        )
    };
    let arn = create("AB00001").ok()["TapeARN"].clone();
    assert_eq!(arn, tape_arn("AB00001"));
    // In use.
    let r = create("AB00001");
    assert_eq!((r.status, r.error_code()), (400, "InvalidParameters"));
    // Deleted from the VTL.
    wait_for_status(addr, "AB00001", "AVAILABLE");
    aws(
        addr,
        "DeleteTape",
        json!({"GatewayARN": GATEWAY, "TapeARN": arn}),
    )
    .ok();
    assert_eq!(status(addr, "AB00001"), None);
    let r = create("AB00001");
    assert_eq!((r.status, r.error_code()), (400, "InvalidParameters"));
    // Deleted from the archive.
    aws(
        addr,
        "DeleteTapeArchive",
        json!({"TapeARN": tape_arn("AB00003")}),
    )
    .ok();
    assert_eq!(status(addr, "AB00003"), None);
    let r = create("AB00003");
    assert_eq!((r.status, r.error_code()), (400, "InvalidParameters"));
}

#[test]
fn operations_on_an_unknown_tape_or_gateway_say_not_found() {
    let emu = start(&["AB00001"], HOLD);
    let addr = emu.addr();
    let nobody = tape_arn("ZZ99999");
    let other_region = "arn:aws:storagegateway:eu-west-1:111122223333:tape/AB00001";
    for tape in [nobody.as_str(), other_region] {
        for op in [
            "RetrieveTapeArchive",
            "CancelArchival",
            "CancelRetrieval",
            "DeleteTape",
        ] {
            let r = aws(addr, op, json!({"GatewayARN": GATEWAY, "TapeARN": tape}));
            assert_eq!(r.error_code(), "TapeCartridgeNotFound", "{op} {tape}");
        }
        let r = aws(addr, "DeleteTapeArchive", json!({"TapeARN": tape}));
        assert_eq!(r.error_code(), "TapeCartridgeNotFound", "{tape}");
    }
    let other_gateway = GATEWAY.replace("12A3456B", "0000000A");
    for op in [
        "DescribeTapes",
        "DescribeCache",
        "DescribeGatewayInformation",
    ] {
        let r = aws(addr, op, json!({"GatewayARN": other_gateway}));
        assert_eq!(r.error_code(), "GatewayNotFound", "{op}");
    }
    let r = aws(
        addr,
        "CancelArchival",
        json!({"GatewayARN": other_gateway, "TapeARN": tape_arn("AB00001")}),
    );
    assert_eq!(r.error_code(), "GatewayNotFound");
}

#[test]
fn lifecycle_operations_refuse_the_wrong_state() {
    let emu = start(
        &[
            "AV00001",
            "AR00002=ARCHIVED",
            "RT00003=RETRIEVED",
            "IT00004",
        ],
        HOLD,
    );
    let addr = emu.addr();
    control(addr, "Eject", json!({"TapeBarcode": "IT00004"})).ok();
    // (operation, tape, errorCode)
    let cases = [
        ("CancelArchival", "AV00001", "InvalidParameters"),
        ("CancelArchival", "AR00002", "InvalidParameters"),
        ("CancelArchival", "RT00003", "InvalidParameters"),
        ("RetrieveTapeArchive", "AV00001", "InvalidParameters"),
        ("RetrieveTapeArchive", "RT00003", "InvalidParameters"),
        ("RetrieveTapeArchive", "IT00004", "InvalidParameters"),
        ("CancelRetrieval", "AR00002", "InvalidParameters"),
        ("CancelRetrieval", "AV00001", "InvalidParameters"),
        ("DeleteTape", "RT00003", "InvalidParameters"),
        ("DeleteTape", "IT00004", "InvalidParameters"),
        ("DeleteTape", "AR00002", "TapeCartridgeNotFound"),
    ];
    for (op, barcode, code) in cases {
        let r = aws(
            addr,
            op,
            json!({"GatewayARN": GATEWAY, "TapeARN": tape_arn(barcode)}),
        );
        assert_eq!(r.status, 400, "{op} {barcode}");
        assert_eq!(
            r.error_type(),
            "InvalidGatewayRequestException",
            "{op} {barcode}"
        );
        assert_eq!(r.error_code(), code, "{op} {barcode}: {:?}", r.body);
    }
    for (barcode, code) in [
        ("AV00001", "TapeCartridgeNotFound"),
        ("RT00003", "InvalidParameters"),
    ] {
        let r = aws(
            addr,
            "DeleteTapeArchive",
            json!({"TapeARN": tape_arn(barcode)}),
        );
        assert_eq!(r.error_code(), code, "DeleteTapeArchive {barcode}");
    }
    // Nothing changed.
    for (barcode, want) in [
        ("AV00001", "AVAILABLE"),
        ("AR00002", "ARCHIVED"),
        ("RT00003", "RETRIEVED"),
        ("IT00004", "IN TRANSIT TO VTS"),
    ] {
        assert_eq!(status(addr, barcode).as_deref(), Some(want), "{barcode}");
    }
}

#[test]
fn new_tapes_become_available_after_creating() {
    let emu = start(
        &[],
        Delays {
            creating: Duration::from_millis(30),
            ..Delays::ZERO
        },
    );
    let addr = emu.addr();
    let r = aws(addr, "CreateTapes", create_tapes("token-new", 2, "NEW")).ok();
    let arns = r["TapeARNs"].as_array().unwrap();
    for arn in arns {
        let barcode = arn.as_str().unwrap().rsplit('/').next().unwrap();
        wait_for_status(addr, barcode, "AVAILABLE");
    }
}

#[test]
fn an_exported_tape_walks_to_archived_and_a_retrieved_one_comes_back() {
    let d = Duration::from_millis(30);
    let emu = start(&["AB00001"], Delays::all(d));
    let addr = emu.addr();
    control(addr, "Eject", json!({"TapeBarcode": "AB00001"})).ok();
    let mut seen = Vec::new();
    wait_for("AB00001 to be archived", || {
        let s = status(addr, "AB00001").unwrap();
        if seen.last() != Some(&s) {
            seen.push(s.clone());
        }
        s == "ARCHIVED"
    });
    // Every state is passed in order (a slow look may miss the short ones, never reorder).
    let order = ["IN TRANSIT TO VTS", "ARCHIVING", "ARCHIVED"];
    let positions: Vec<usize> = seen
        .iter()
        .map(|s| order.iter().position(|o| o == s).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{seen:?}");

    let arn = tape_arn("AB00001");
    aws(
        addr,
        "RetrieveTapeArchive",
        json!({"GatewayARN": GATEWAY, "TapeARN": arn}),
    )
    .ok();
    wait_for_status(addr, "AB00001", "RETRIEVED");
    let vtl = aws(addr, "DescribeTapes", json!({"GatewayARN": GATEWAY})).ok();
    assert_eq!(vtl["Tapes"][0]["TapeStatus"], "RETRIEVED");
    // Exporting a retrieved tape returns it to the archive at once: nothing to upload.
    let r = control(addr, "Eject", json!({"TapeBarcode": "AB00001"})).ok();
    assert_eq!(r["TapeStatus"], "ARCHIVED");
}

#[test]
fn cancel_archival_and_cancel_retrieval_undo_the_move() {
    let emu = start(&["AB00001", "AB00002=ARCHIVED"], HOLD);
    let addr = emu.addr();
    control(addr, "Eject", json!({"TapeBarcode": "AB00001"})).ok();
    let g = |barcode| json!({"GatewayARN": GATEWAY, "TapeARN": tape_arn(barcode)});
    let r = aws(addr, "CancelArchival", g("AB00001")).ok();
    assert_eq!(r["TapeARN"], tape_arn("AB00001"));
    assert_eq!(status(addr, "AB00001").as_deref(), Some("AVAILABLE"));
    aws(addr, "RetrieveTapeArchive", g("AB00002")).ok();
    assert_eq!(status(addr, "AB00002").as_deref(), Some("RETRIEVING"));
    aws(addr, "CancelRetrieval", g("AB00002")).ok();
    assert_eq!(status(addr, "AB00002").as_deref(), Some("ARCHIVED"));
}

#[test]
fn eject_refuses_tapes_that_cannot_be_exported() {
    let emu = start(&["AB00001=ARCHIVED"], HOLD);
    let r = control(emu.addr(), "Eject", json!({"TapeBarcode": "AB00001"}));
    assert_eq!(r.error_code(), "InvalidParameters");
    let r = control(emu.addr(), "Eject", json!({"TapeBarcode": "ZZ00001"}));
    assert_eq!(r.error_code(), "TapeCartridgeNotFound");
    assert!(emu.eject("ZZ00001").is_err());
}

#[test]
fn state_shows_every_tape_deleted_ones_too() {
    let emu = start(&["AB00001", "AB00002"], Delays::ZERO);
    let addr = emu.addr();
    aws(
        addr,
        "DeleteTape",
        json!({"GatewayARN": GATEWAY, "TapeARN": tape_arn("AB00002")}),
    )
    .ok();
    let state = control(addr, "State", json!({})).ok();
    let tapes = state["Tapes"].as_array().unwrap();
    let pairs: Vec<(&str, &str)> = tapes
        .iter()
        .map(|t| {
            (
                t["TapeBarcode"].as_str().unwrap(),
                t["TapeStatus"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(pairs, [("AB00001", "AVAILABLE"), ("AB00002", "DELETED")]);
    assert_eq!(state["SharesLibrary"], false);
    assert_eq!(emu.tapes().len(), 2);
}
