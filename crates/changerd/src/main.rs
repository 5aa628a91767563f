//! `changerd [--config FILE]`: serves every library of the configuration (docs/daemon.md).

use changerd::cli::Args;
use clap::Parser;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Logs to the journal when stderr is connected to it (systemd sets `JOURNAL_STREAM`), else
/// to stderr.
fn logging(level: &str) {
    let filter = changer::logging::filter(level);
    let journal = std::env::var_os("JOURNAL_STREAM").and_then(|_| tracing_journald::layer().ok());
    if let Some(journal) = journal {
        let _ = tracing_subscriber::registry()
            .with(filter)
            .with(journal)
            .try_init();
    } else {
        let _ = tracing_subscriber::registry()
            .with(filter)
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_writer(std::io::stderr),
            )
            .try_init();
    }
}

fn main() {
    let args = Args::parse();
    let config = match changer::config::Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("changerd: {e}");
            std::process::exit(1);
        }
    };
    logging(&config.log_level);
    let socket = changer::client::socket_path(&config);
    if let Err(e) = changerd::daemon::run(config, changerd::daemon::Options { socket }) {
        tracing::error!(cause = format!("{e:#}"), "changerd cannot run");
        eprintln!("changerd: {e:#}");
        std::process::exit(1);
    }
}
