//! The daemon's command line (clap), in the library so that `changer-docgen` can render its
//! man page and completions.

use std::path::PathBuf;

use clap::Parser;

/// One owner per tape library: serialised robot commands, a coherent inventory cache, a
/// crash-safe move journal and metrics, on a Unix socket
// (The doc comment, not `about` alone, which would take CARGO_PKG_DESCRIPTION of whichever crate
// compiles this file: changer-docgen compiles it too.)
#[derive(Debug, Parser)]
#[command(name = "changerd", version)]
pub struct Args {
    /// Configuration file [default: /etc/changer/changer.toml].
    #[arg(long, short = 'c', env = "CHANGER_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}
