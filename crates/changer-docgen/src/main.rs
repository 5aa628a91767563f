//! `changer-docgen OUTDIR`: writes the man pages (`OUTDIR/man/changer.1`, one
//! `changer-<subcommand>.1` per subcommand, `OUTDIR/man/changerd.8`) and the bash, zsh and fish
//! completions (`OUTDIR/completions/{bash,zsh,fish}/`) of `changer` and `changerd`, rendered
//! from their clap definitions. scripts/package runs it into the package's staging tree; nothing
//! it writes is committed.

use std::fs;
use std::io;
use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

// changerd's clap definition, compiled in from its source file: depending on the changerd
// crate would build its whole dependency tree (tokio, the AWS SDK) for the sake of one struct.
#[path = "../../changerd/src/cli.rs"]
mod changerd_cli;

/// The page of `cmd` in `section`, and one page per subcommand (`name-sub.section`).
fn man_pages(cmd: &clap::Command, section: &str, dir: &Path) -> io::Result<()> {
    let name = cmd.get_name().to_string();
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .section(section)
        .render(&mut page)?;
    fs::write(dir.join(format!("{name}.{section}")), page)?;
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let sub_name = format!("{name}-{}", sub.get_name());
        let file = dir.join(format!("{sub_name}.{section}"));
        let sub = sub.clone().display_name(sub_name);
        let mut page = Vec::new();
        clap_mangen::Man::new(sub)
            .section(section)
            .render(&mut page)?;
        fs::write(file, page)?;
    }
    Ok(())
}

fn completions(cmd: &mut clap::Command, dir: &Path) -> io::Result<()> {
    let name = cmd.get_name().to_string();
    for (shell, sub, file) in [
        (Shell::Bash, "bash", name.clone()),
        (Shell::Zsh, "zsh", format!("_{name}")),
        (Shell::Fish, "fish", format!("{name}.fish")),
    ] {
        let d = dir.join(sub);
        fs::create_dir_all(&d)?;
        let mut out = Vec::new();
        clap_complete::generate(shell, cmd, name.clone(), &mut out);
        fs::write(d.join(file), out)?;
    }
    Ok(())
}

fn main() -> io::Result<()> {
    let Some(out) = std::env::args_os().nth(1) else {
        eprintln!("usage: changer-docgen OUTDIR");
        std::process::exit(2);
    };
    let out = Path::new(&out);
    let man = out.join("man");
    fs::create_dir_all(&man)?;
    let mut changer = changer::cli::Cli::command();
    changer.build();
    let mut changerd = changerd_cli::Args::command();
    changerd.build();
    man_pages(&changer, "1", &man)?;
    man_pages(&changerd, "8", &man)?;
    let comp = out.join("completions");
    completions(&mut changer, &comp)?;
    completions(&mut changerd, &comp)?;
    Ok(())
}
