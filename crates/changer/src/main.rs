//! `changer` entry point: protocol mode when the first non-option argument names a changer
//! (`/…` or `sim:…`, contract C1), human subcommands otherwise.

use clap::Parser;

/// The first argument that is not an option or an option's value.
fn first_positional(args: &[String]) -> Option<&str> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--config" | "-c" => {
                it.next();
            }
            s if s.starts_with('-') => {}
            s => return Some(s),
        }
    }
    None
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if first_positional(&args).is_some_and(changer::library::is_changer_name) {
        // Bareos reads exit codes ≥ 200 as exec errors and a signal as a crash: a bug that
        // panics still answers with exit 1.
        std::panic::set_hook(Box::new(|info| {
            eprintln!("changer: internal error: {info}");
            std::process::exit(1);
        }));
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
