//! `sgw-emulator`: the AWS Storage Gateway (Tape Gateway) emulator as a process, for the demo,
//! the rig and scripts. docs/aws-emulator.md describes it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::Parser;
use sgw_emulator::{DEFAULT_GATEWAY_ARN, Delays, Emulator, Options, SeedTape, parse_barcode};

/// A local AWS Storage Gateway (Tape Gateway) API emulator: awsJson1_1 over HTTP on a
/// loopback address, for tests and demos (point an SDK's endpoint_url at it, with dummy
/// credentials).
///
/// With --library it shares a simulated library file (sim:PATH) as a Tape Gateway shares its
/// library: a tape moved into an I/E slot is archived (IN TRANSIT TO VTS, ARCHIVING — taken
/// out of the file — ARCHIVED); new and retrieved tapes are put into free I/E slots.
///
/// Control operations on the same endpoint (X-Amz-Target: SgwEmulator.<Op>, JSON body):
/// SetFaults, Eject, Calls, State. Stops on SIGINT or SIGTERM. Logs go to stderr (RUST_LOG
/// filters them; default info).
#[derive(Debug, Parser)]
#[command(name = "sgw-emulator", version)]
struct Cli {
    /// Address to listen on; port 0 picks a free one. Only loopback addresses are accepted.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:0")]
    listen: SocketAddr,

    /// Once listening, write the port and a newline to PATH (replaced atomically).
    #[arg(long, value_name = "PATH")]
    port_file: Option<PathBuf>,

    /// The gateway to be.
    #[arg(long, value_name = "ARN", default_value = DEFAULT_GATEWAY_ARN)]
    gateway_arn: String,

    /// Region in tape ARNs [default: the gateway ARN's, us-east-1 for the default ARN].
    #[arg(long, value_name = "REGION")]
    region: Option<String>,

    /// A simulated library file (mtx status text, contract C3) whose state the emulator shares.
    #[arg(long, value_name = "PATH")]
    library: Option<PathBuf>,

    /// Every barcode in the library file at start becomes an AVAILABLE tape (cleaning
    /// cartridges and tags AWS would refuse as barcodes are left out).
    #[arg(long, requires = "library")]
    seed_from_library: bool,

    /// A tape that exists at start (repeatable). STATUS: AVAILABLE (default), ARCHIVED (in
    /// the archive only), RETRIEVED, RECOVERED or IRRECOVERABLE. With --library, a VTL tape
    /// that the file lacks is put into a free I/E slot; an ARCHIVED one the file holds is
    /// taken out.
    #[arg(long = "tape", value_name = "BARCODE[=STATUS]")]
    tapes: Vec<SeedTape>,

    /// Barcodes CreateTapes hands out instead of generated ones (comma-separated, repeatable):
    /// those starting with the request's TapeBarcodePrefix first, each in the order given;
    /// a barcode that is (or was) a tape is skipped; generated ones once none is left. For
    /// making the new tapes cartridges that already sit in a library the emulator does not
    /// share (tgt in the rig).
    #[arg(long = "new-barcodes", value_name = "B1,B2,…", value_delimiter = ',',
          value_parser = parse_barcode)]
    new_barcodes: Vec<String>,

    /// Milliseconds a new tape is CREATING.
    #[arg(long, value_name = "N", default_value_t = 500)]
    creating_ms: u64,

    /// Milliseconds an exported tape is IN TRANSIT TO VTS (the upload).
    #[arg(long, value_name = "N", default_value_t = 2000)]
    transit_ms: u64,

    /// Milliseconds a tape is ARCHIVING.
    #[arg(long, value_name = "N", default_value_t = 2000)]
    archiving_ms: u64,

    /// Milliseconds a tape is RETRIEVING (hours on AWS).
    #[arg(long, value_name = "N", default_value_t = 3000)]
    retrieving_ms: u64,

    /// How often, in milliseconds, the library file is looked at and time-driven states
    /// advance.
    #[arg(long, value_name = "N", default_value_t = 50,
          value_parser = clap::value_parser!(u64).range(1..))]
    poll_ms: u64,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sgw-emulator: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let ms = Duration::from_millis;
    let running = Emulator::start(Options {
        listen: cli.listen,
        gateway_arn: cli.gateway_arn,
        region: cli.region,
        library: cli.library,
        seed_from_library: cli.seed_from_library,
        tapes: cli.tapes,
        new_barcodes: cli.new_barcodes,
        delays: Delays {
            creating: ms(cli.creating_ms),
            transit: ms(cli.transit_ms),
            archiving: ms(cli.archiving_ms),
            retrieving: ms(cli.retrieving_ms),
        },
        poll: ms(cli.poll_ms),
    })?;
    if let Some(path) = &cli.port_file {
        write_port_file(path, running.addr().port())
            .with_context(|| format!("cannot write the port file {}", path.display()))?;
    }
    wait_for_signal()?;
    running.shutdown();
    Ok(())
}

/// Writes `PORT\n` by atomic rename, so a reader never sees half of it.
fn write_port_file(path: &Path, port: u16) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    std::fs::write(&tmp, format!("{port}\n"))?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

fn wait_for_signal() -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .context("cannot start the signal handler")?;
    runtime.block_on(async {
        let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        Ok(())
    })
}
