//! `changer tapes`, `changer retrieve`, `changer cancel-archival`: the AWS Storage Gateway
//! side of a library (contract C7). Only `changerd` talks to AWS; these commands ask it.

use std::time::{Duration, Instant};

use changer_proto::{LibraryRef, RequestBody, TapeEntry};
use scsi_changer::discovery::Roots;

use crate::cli::{CancelArchivalArgs, RetrieveArgs, TapesArgs};
use crate::config::Config;
use crate::library::Library;

/// How long a gateway request may take: a few API calls, each retried by the SDK.
const GATEWAY_BUDGET: Duration = Duration::from_secs(120);

/// The library as the daemon knows it: the device as given and its serial.
fn library_ref(device: &str, roots: &Roots) -> LibraryRef {
    let serial = Library::cached_serial(device, roots).or_else(|| {
        Library::open(device, roots)
            .ok()
            .and_then(|mut lib| lib.serial().ok())
    });
    LibraryRef {
        device: device.to_owned(),
        serial,
    }
}

/// Runs `changer tapes`.
pub fn list(config: &Config, roots: &Roots, args: TapesArgs) -> anyhow::Result<i32> {
    let device = super::default_device(config, roots, args.device.device)?;
    let library = library_ref(&device, roots);
    let tapes = super::daemon::tapes(
        config,
        RequestBody::Tapes { library },
        Instant::now() + GATEWAY_BUDGET,
    )?;
    print(&tapes, args.json)?;
    Ok(0)
}

/// Runs `changer retrieve`.
pub fn retrieve(config: &Config, roots: &Roots, args: RetrieveArgs) -> anyhow::Result<i32> {
    let library = library_ref(&args.device, roots);
    let barcodes: Vec<String> = args.barcodes.iter().map(|b| b.to_uppercase()).collect();
    let mut tapes = super::daemon::tapes(
        config,
        RequestBody::Retrieve {
            library: library.clone(),
            barcodes: barcodes.clone(),
        },
        Instant::now() + GATEWAY_BUDGET,
    )?;
    if let Some(wait) = args.wait {
        let until = Instant::now() + Duration::from_secs(wait);
        let imported = config
            .library(&library.device, library.serial.as_deref())
            .and_then(|l| l.gateway.as_ref())
            .is_none_or(|g| g.import);
        loop {
            let all = super::daemon::tapes(
                config,
                RequestBody::Tapes {
                    library: library.clone(),
                },
                Instant::now() + GATEWAY_BUDGET,
            )?;
            tapes = all
                .into_iter()
                .filter(|t| barcodes.contains(&t.barcode))
                .collect();
            let arrived = |t: &TapeEntry| {
                t.status.as_deref() == Some("RETRIEVED")
                    && (!imported
                        || t.location
                            .as_deref()
                            .is_some_and(|l| l.starts_with("slot:")))
            };
            if tapes.len() == barcodes.len() && tapes.iter().all(arrived) {
                break;
            }
            if Instant::now() >= until {
                print(&tapes, args.json)?;
                anyhow::bail!(
                    "not every tape arrived within {wait} s; changerd goes on following them (changer tapes {})",
                    args.device
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    print(&tapes, args.json)?;
    Ok(0)
}

/// Runs `changer cancel-archival`.
pub fn cancel_archival(
    config: &Config,
    roots: &Roots,
    args: CancelArchivalArgs,
) -> anyhow::Result<i32> {
    let library = library_ref(&args.device, roots);
    let tapes = super::daemon::tapes(
        config,
        RequestBody::CancelArchival {
            library,
            barcode: args.barcode.to_uppercase(),
        },
        Instant::now() + GATEWAY_BUDGET,
    )?;
    print(&tapes, args.json)?;
    Ok(0)
}

fn print(tapes: &[TapeEntry], json: bool) -> anyhow::Result<()> {
    if json {
        crate::say!("{}", serde_json::to_string_pretty(tapes)?);
    } else {
        crate::say!("{}", table(tapes).trim_end_matches('\n'));
    }
    Ok(())
}

/// The readable table.
pub fn table(tapes: &[TapeEntry]) -> String {
    let mut out = format!(
        "{:<18} {:<18} {:<10} {:<14} {}\n",
        "BARCODE", "STATUS", "LOCATION", "POOL", "USED"
    );
    for t in tapes {
        out.push_str(&format!(
            "{:<18} {:<18} {:<10} {:<14} {}\n",
            t.barcode,
            t.status.as_deref().unwrap_or("(not in AWS)"),
            t.location.as_deref().unwrap_or("-"),
            t.pool.as_deref().unwrap_or("-"),
            t.size_used_bytes
                .map_or("-".to_owned(), super::moves::bytes)
        ));
    }
    out
}
