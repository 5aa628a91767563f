//! Every operation's happy path, pagination, idempotent CreateTapes and the archival and
//! retrieval walks, with the real SDK over HTTP against the emulator on 127.0.0.1.

mod common;

use std::time::Duration;

use common::{GIB, PATIENCE, seeds, start, with_tapes};
use sgw::{NewTapes, Outcome, TapeStatus};
use sgw_emulator::{Delays, Options};

#[tokio::test]
async fn listings_follow_every_page() {
    // 250 tapes in the library and exactly 100 in the archive: 3, 4 and 1 pages of at most
    // 100 (no empty page after a full last one).
    let mut tapes: Vec<String> = (0..250).map(|i| format!("VT{i:06}")).collect();
    tapes.extend((0..100).map(|i| format!("AR{i:06}=ARCHIVED")));
    let seeds = seeds(&tapes.iter().map(String::as_str).collect::<Vec<_>>());
    let h = start(Options {
        tapes: seeds,
        ..Options::default()
    })
    .await;

    let vtl = h.gateway.describe_tapes(&[]).await.expect("DescribeTapes");
    let all = h.gateway.list_tapes(&[]).await.expect("ListTapes");
    let vts = h
        .gateway
        .describe_tape_archives(&[])
        .await
        .expect("DescribeTapeArchives");
    assert_eq!((vtl.len(), all.len(), vts.len()), (250, 350, 100));

    let mut barcodes: Vec<&str> = all.iter().map(|t| t.barcode.as_str()).collect();
    barcodes.sort_unstable();
    barcodes.dedup();
    assert_eq!(barcodes.len(), 350, "no tape twice");
    assert!(
        vtl.iter()
            .all(|t| t.status == TapeStatus::Available && t.size_bytes == 100 * GIB)
    );
    assert!(
        vts.iter()
            .all(|t| t.status == TapeStatus::Archived && t.completion_time.is_some())
    );
    let gateway = Some(h.gateway.arn().to_owned());
    for tape in &all {
        let in_vtl = tape.barcode.starts_with("VT");
        assert_eq!(tape.gateway_arn.is_some(), in_vtl, "{tape:?}");
        if in_vtl {
            assert_eq!(tape.gateway_arn, gateway);
        }
    }

    // One call per page, on both sides of the wire.
    let pages = [
        ("DescribeTapeArchives", 1),
        ("DescribeTapes", 3),
        ("ListTapes", 4),
    ];
    let expected = pages.iter().map(|(op, n)| ((*op).to_owned(), *n)).collect();
    assert_eq!(h.emu.calls(), expected);
    assert_eq!(h.recorder.counts(), expected);
    assert!(
        h.recorder
            .calls()
            .iter()
            .all(|(_, outcome)| *outcome == Outcome::Ok)
    );
}

#[tokio::test]
async fn listings_filtered_by_arn() {
    let h = with_tapes(&["AB000001", "AB000002", "AB000003=ARCHIVED"]).await;
    let (one, archived) = (h.arn("AB000001"), h.arn("AB000003"));

    let tapes = h
        .gateway
        .describe_tapes(std::slice::from_ref(&one))
        .await
        .expect("DescribeTapes");
    assert_eq!(tapes.len(), 1);
    assert_eq!(
        (tapes[0].arn.as_str(), tapes[0].barcode.as_str()),
        (one.as_str(), "AB000001")
    );
    assert!(!tapes[0].worm);

    let infos = h
        .gateway
        .list_tapes(&[one.clone(), archived.clone()])
        .await
        .expect("ListTapes");
    let mut statuses: Vec<_> = infos
        .iter()
        .map(|t| (t.barcode.as_str(), t.status.clone()))
        .collect();
    statuses.sort_by_key(|(b, _)| *b);
    assert_eq!(
        statuses,
        [
            ("AB000001", TapeStatus::Available),
            ("AB000003", TapeStatus::Archived)
        ]
    );

    let archives = h
        .gateway
        .describe_tape_archives(std::slice::from_ref(&archived))
        .await
        .expect("DescribeTapeArchives");
    assert_eq!(archives.len(), 1);
    assert_eq!(archives[0].barcode, "AB000003");
    assert_eq!(archives[0].retrieved_to, None);
}

#[tokio::test]
async fn health_reads_three_calls() {
    let h = with_tapes(&[]).await;
    h.emu.update_faults(|f| {
        f.cache_dirty_percent = 42.5;
        f.upload_buffer_used_percent = 25.0;
    });
    let health = h.gateway.health().await.expect("health");
    assert_eq!(health.state, "RUNNING");
    assert!(health.running);
    assert_eq!(health.cache_dirty_percent, 42.5);
    assert_eq!(health.upload_buffer_allocated_bytes, 150 * GIB);
    assert!(
        (health.upload_buffer_used_percent() - 25.0).abs() < 0.01,
        "{health:?}"
    );
    assert_eq!(
        h.recorder.calls(),
        [
            ("DescribeGatewayInformation", Outcome::Ok),
            ("DescribeCache", Outcome::Ok),
            ("DescribeUploadBuffer", Outcome::Ok)
        ]
    );

    for (state, running) in [("STATE_RUNNING", true), ("SHUTDOWN", false)] {
        h.emu.update_faults(|f| f.gateway_state = state.into());
        let health = h.gateway.health().await.expect("health");
        assert_eq!((health.state.as_str(), health.running), (state, running));
    }
}

#[tokio::test]
async fn vtl_devices_are_a_changer_and_ten_drives() {
    let h = with_tapes(&[]).await;
    let devices = h.gateway.vtl_devices().await.expect("DescribeVTLDevices");
    assert_eq!(devices.len(), 11);
    let changers: Vec<_> = devices
        .iter()
        .filter(|d| d.device_type == "Medium Changer")
        .collect();
    assert_eq!(changers.len(), 1);
    assert_eq!(
        (changers[0].vendor.as_str(), changers[0].product.as_str()),
        ("STK", "L700")
    );
    assert!(
        changers[0]
            .target_arn
            .as_deref()
            .is_some_and(|t| t.ends_with("-mediachanger"))
    );
    let drives = devices.iter().filter(|d| d.device_type == "Tape Drive");
    assert_eq!(drives.clone().count(), 10);
    assert!(
        drives
            .clone()
            .all(|d| d.vendor == "IBM" && d.product == "ULT3580-TD5")
    );
    assert!(drives.clone().any(|d| {
        d.target_arn
            .as_deref()
            .is_some_and(|t| t.ends_with("-tapedrive-10"))
    }));
}

#[tokio::test]
async fn create_tapes_is_idempotent_by_client_token() {
    let h = start(Options {
        delays: Delays::all(Duration::from_millis(200)),
        ..Options::default()
    })
    .await;
    let spec = NewTapes {
        prefix: "NEW".into(),
        size_bytes: 100 * GIB,
        count: 3,
        pool_id: Some("GLACIER".into()),
        client_token: "changerd-refill-0001".into(),
    };
    let first = h.gateway.create_tapes(&spec).await.expect("CreateTapes");
    assert_eq!(first.len(), 3);
    let again = h
        .gateway
        .create_tapes(&spec)
        .await
        .expect("CreateTapes, same token");
    assert_eq!(again, first, "the same token gives the same tapes");
    assert_eq!(h.emu.tapes().len(), 3, "and creates nothing more");

    let walk = h.walk(&first[0], &TapeStatus::Available).await;
    assert_eq!(walk.first(), Some(&TapeStatus::Creating), "{walk:?}");
    let tapes = h
        .gateway
        .describe_tapes(&first)
        .await
        .expect("DescribeTapes");
    for tape in &tapes {
        assert!(tape.barcode.starts_with("NEW"), "{tape:?}");
        assert_eq!(tape.size_bytes, 100 * GIB);
        assert_eq!(tape.pool_id.as_deref(), Some("GLACIER"));
    }

    let other = NewTapes {
        count: 2,
        ..spec.clone()
    };
    let refused = h
        .gateway
        .create_tapes(&other)
        .await
        .expect_err("token reused for another request");
    assert!(
        matches!(&refused, sgw::Error::Refused { code: Some(c), .. } if c == "InvalidParameters"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn create_tape_with_barcode_then_delete_it() {
    let h = start(Options {
        delays: Delays::ZERO,
        ..Options::default()
    })
    .await;
    let arn = h
        .gateway
        .create_tape_with_barcode("BC000001", 200 * GIB, Some("DEEP_ARCHIVE"))
        .await
        .expect("CreateTapeWithBarcode");
    assert!(arn.ends_with("tape/BC000001"), "{arn}");
    h.walk(&arn, &TapeStatus::Available).await;
    let tape = &h
        .gateway
        .describe_tapes(std::slice::from_ref(&arn))
        .await
        .expect("DescribeTapes")[0];
    assert_eq!(
        (tape.size_bytes, tape.pool_id.as_deref()),
        (200 * GIB, Some("DEEP_ARCHIVE"))
    );

    assert_eq!(h.gateway.delete_tape(&arn).await.expect("DeleteTape"), arn);
    let left = h.gateway.describe_tapes(&[]).await.expect("DescribeTapes");
    assert!(left.iter().all(|t| t.arn != arn), "{left:?}");

    // A barcode is never used twice, not even after deletion.
    let reuse = h
        .gateway
        .create_tape_with_barcode("BC000001", 200 * GIB, None)
        .await
        .expect_err("barcode used before");
    assert!(matches!(reuse, sgw::Error::Refused { .. }), "{reuse:?}");
}

#[tokio::test]
async fn delete_tape_archive() {
    let h = with_tapes(&["AR000001=ARCHIVED", "AR000002=ARCHIVED"]).await;
    let arn = h.arn("AR000001");
    assert_eq!(
        h.gateway
            .delete_tape_archive(&arn)
            .await
            .expect("DeleteTapeArchive"),
        arn
    );
    let left = h
        .gateway
        .describe_tape_archives(&[])
        .await
        .expect("DescribeTapeArchives");
    assert_eq!(
        left.iter().map(|t| t.barcode.as_str()).collect::<Vec<_>>(),
        ["AR000002"]
    );
}

/// Delays long enough for a poller to see every state on a loaded machine.
fn walk_delays() -> Delays {
    Delays::all(Duration::from_millis(800))
}

#[tokio::test]
async fn archival_walk_seen_through_list_tapes() {
    let h = start(Options {
        tapes: seeds(&["EX000001"]),
        delays: walk_delays(),
        ..Options::default()
    })
    .await;
    let arn = h.arn("EX000001");
    assert_eq!(h.list_one(&arn).await.status, TapeStatus::Available);

    // The backup application moves the tape into an I/E slot.
    h.emu.eject("EX000001").expect("eject");
    let in_transit = &h
        .gateway
        .describe_tapes(std::slice::from_ref(&arn))
        .await
        .expect("DescribeTapes")[0];
    assert_eq!(in_transit.status, TapeStatus::InTransitToVts);
    assert!(
        in_transit
            .progress
            .is_some_and(|p| (0.0..=100.0).contains(&p)),
        "{in_transit:?}"
    );

    let walk = h.walk(&arn, &TapeStatus::Archived).await;
    assert_eq!(
        walk,
        [
            TapeStatus::InTransitToVts,
            TapeStatus::Archiving,
            TapeStatus::Archived
        ]
    );

    let archived = h.list_one(&arn).await;
    assert_eq!(
        archived.gateway_arn, None,
        "an archived tape is in no gateway's library"
    );
    assert!(
        h.gateway
            .describe_tapes(&[])
            .await
            .expect("DescribeTapes")
            .is_empty()
    );
    let archive = &h
        .gateway
        .describe_tape_archives(&[])
        .await
        .expect("DescribeTapeArchives")[0];
    assert_eq!(archive.status, TapeStatus::Archived);
    assert!(archive.completion_time.is_some());
}

#[tokio::test]
async fn cancel_archival_while_in_transit() {
    let h = start(Options {
        tapes: seeds(&["EX000002"]),
        delays: Delays {
            transit: PATIENCE * 3,
            ..walk_delays()
        },
        ..Options::default()
    })
    .await;
    let arn = h.arn("EX000002");
    h.emu.eject("EX000002").expect("eject");
    assert_eq!(h.list_one(&arn).await.status, TapeStatus::InTransitToVts);
    assert_eq!(
        h.gateway
            .cancel_archival(&arn)
            .await
            .expect("CancelArchival"),
        arn
    );
    assert_eq!(h.list_one(&arn).await.status, TapeStatus::Available);
}

#[tokio::test]
async fn retrieval_walk_seen_through_list_tapes() {
    let h = start(Options {
        tapes: seeds(&["RT000001=ARCHIVED"]),
        delays: walk_delays(),
        ..Options::default()
    })
    .await;
    let arn = h.arn("RT000001");
    assert_eq!(
        h.gateway
            .retrieve_tape_archive(&arn)
            .await
            .expect("RetrieveTapeArchive"),
        arn
    );

    let walk = h.walk(&arn, &TapeStatus::Retrieved).await;
    assert_eq!(walk, [TapeStatus::Retrieving, TapeStatus::Retrieved]);

    let retrieved = h.list_one(&arn).await;
    assert_eq!(retrieved.gateway_arn.as_deref(), Some(h.gateway.arn()));
    assert!(retrieved.status.is_read_only());
    let archive = &h
        .gateway
        .describe_tape_archives(std::slice::from_ref(&arn))
        .await
        .expect("archives")[0];
    assert_eq!(archive.retrieved_to.as_deref(), Some(h.gateway.arn()));
    let in_vtl = h.gateway.describe_tapes(&[]).await.expect("DescribeTapes");
    assert_eq!(in_vtl.len(), 1);
    assert_eq!(in_vtl[0].status, TapeStatus::Retrieved);

    // Exporting a retrieved tape returns it to the archive at once: nothing to upload.
    h.emu.eject("RT000001").expect("eject");
    let back = h.walk(&arn, &TapeStatus::Archived).await;
    assert_eq!(back, [TapeStatus::Archived]);
}

#[tokio::test]
async fn cancel_retrieval_while_retrieving() {
    let h = start(Options {
        tapes: seeds(&["RT000002=ARCHIVED"]),
        delays: Delays {
            retrieving: PATIENCE * 3,
            ..walk_delays()
        },
        ..Options::default()
    })
    .await;
    let arn = h.arn("RT000002");
    h.gateway
        .retrieve_tape_archive(&arn)
        .await
        .expect("RetrieveTapeArchive");
    assert_eq!(h.list_one(&arn).await.status, TapeStatus::Retrieving);
    assert_eq!(
        h.gateway
            .cancel_retrieval(&arn)
            .await
            .expect("CancelRetrieval"),
        arn
    );
    assert_eq!(h.list_one(&arn).await.status, TapeStatus::Archived);
}
