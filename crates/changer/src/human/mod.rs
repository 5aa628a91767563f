//! Human commands: readable tables by default, `--json` on every read command.

pub mod daemon;
pub mod discover;
pub mod doctor;
pub mod moves;
pub mod status;
pub mod tapes;

use scsi_changer::discovery::{self, Roots};

use crate::cli::{Cli, HumanCommand};
use crate::config::Config;

/// `println!` for human commands, except that a closed pipe (`changer status | head`) ends the
/// program quietly with status 0 instead of a panic.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::human::emit(&format!($($arg)*))
    };
}

/// Writes one line to stdout; exits 0 when stdout is a closed pipe.
pub fn emit(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let written = out
        .write_all(line.as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    if let Err(e) = written
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

/// Exit status of human commands: 0 success, 1 failure, 2 usage (clap).
pub fn run(cli: Cli) -> anyhow::Result<i32> {
    let config = Config::load(cli.config.as_deref())?;
    let roots = Roots::default();
    match cli.command {
        HumanCommand::Status(a) => status::run(&config, &roots, a),
        HumanCommand::Inventory(a) => moves::inventory(&config, &roots, a),
        HumanCommand::Move(a) => moves::run(&config, &roots, a),
        HumanCommand::Tapes(a) => tapes::list(&config, &roots, a),
        HumanCommand::Retrieve(a) => tapes::retrieve(&config, &roots, a),
        HumanCommand::CancelArchival(a) => tapes::cancel_archival(&config, &roots, a),
        HumanCommand::Discover(a) => discover::run(&roots, a),
        HumanCommand::Doctor(a) => doctor::run(&config, &roots, a),
    }
}

/// The changer to use when none is named: the only `[[library]]` in the config, else the only
/// changer sysfs knows.
pub fn default_device(
    config: &Config,
    roots: &Roots,
    given: Option<String>,
) -> anyhow::Result<String> {
    if let Some(d) = given {
        return Ok(d);
    }
    if let [only] = config.libraries.as_slice()
        && let Some(d) = &only.device
    {
        return Ok(d.clone());
    }
    let changers: Vec<_> = discovery::scan(roots)?
        .into_iter()
        .filter(|d| d.is_changer())
        .collect();
    match changers.as_slice() {
        [only] => Ok(only.sg.display().to_string()),
        [] => anyhow::bail!(
            "no changer found in sysfs; name one: changer status /dev/sgN (or sim:PATH)"
        ),
        many => anyhow::bail!(
            "{} changers found ({}); name one",
            many.len(),
            many.iter()
                .map(|d| d.sg.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
