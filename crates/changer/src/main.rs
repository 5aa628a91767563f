//! `changer` entry point: protocol mode when the first non-option argument names a changer
//! (`/…` or `sim:…`, contract C1), human subcommands otherwise.

use clap::Parser;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let first = args.iter().enumerate().find(|(i, a)| {
        !a.starts_with('-') && !(*i > 0 && matches!(args[i - 1].as_str(), "--config" | "-c"))
    });
    if first.is_some_and(|(_, a)| changer::library::is_changer_name(a)) {
        let stop = changer::signals::install();
        std::process::exit(changer::protocol::main(&args, stop));
    }
    let cli = changer::cli::Cli::parse();
    changer::logging::to_stderr(cli.verbose);
    match changer::human::run(cli) {
        Ok(status) => std::process::exit(status),
        Err(e) => {
            eprintln!("changer: {e:#}");
            std::process::exit(1);
        }
    }
}
