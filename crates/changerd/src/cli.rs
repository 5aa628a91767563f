//! The daemon's command line (clap), in the library so that `changer-docgen` can render its
//! man page and completions.

use std::path::PathBuf;

use clap::Parser;

/// The changer daemon: one owner per tape library.
#[derive(Debug, Parser)]
#[command(name = "changerd", version, about)]
pub struct Args {
    /// Configuration file [default: /etc/changer/changer.toml].
    #[arg(long, short = 'c', env = "CHANGER_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}
