//! Where logs go. Protocol mode never writes logs to stderr (Bareos reads stderr and stdout
//! through one pipe): only to the configured log file and/or the systemd journal. Human
//! commands log to stderr.

use std::fs::OpenOptions;
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::Config;

/// The log filter: `CHANGER_LOG` when set, else `default`.
pub fn filter(default: &str) -> EnvFilter {
    std::env::var("CHANGER_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(default))
}

/// Logs every event at the configured level to `log_file` and, with `log_journal`, to the
/// systemd journal — whichever are configured; nothing otherwise.
pub fn for_protocol(config: &Config) {
    let file = config
        .log_file
        .as_ref()
        .and_then(|path| OpenOptions::new().create(true).append(true).open(path).ok())
        .map(|file| {
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(Mutex::new(file))
        });
    // No journal socket (not under systemd, a container): the layer is simply absent.
    let journal = config
        .log_journal
        .then(|| tracing_journald::layer().ok())
        .flatten();
    if file.is_none() && journal.is_none() {
        return;
    }
    let _ = tracing_subscriber::registry()
        .with(filter(&config.log_level))
        .with(file)
        .with(journal)
        .try_init();
}

/// Logs warnings (or `CHANGER_LOG`) to stderr, for human commands.
pub fn to_stderr(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(default))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}
