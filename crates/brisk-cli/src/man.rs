//! `brisk man`: the man page, generated from the CLI definition (roff, by clap_mangen), so
//! it says what `--help` says. Printed rather than installed: where it goes is the
//! packager's or the user's choice.

use std::io::Write;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;

const EXAMPLES: &str = "\
Examples:
  brisk man | man -l -                           # read it now
  brisk man > /usr/local/share/man/man1/brisk.1
  brisk man check > /usr/local/share/man/man1/brisk-check.1";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct ManArgs {
    /// A subcommand whose page to print (brisk-check(1) for `check`); without one, brisk(1).
    #[arg(value_name = "COMMAND")]
    command: Option<String>,
}

pub fn run(args: ManArgs, command: clap::Command) -> anyhow::Result<ExitCode> {
    let page = match &args.command {
        None => command,
        Some(name) => {
            let Some(sub) = command.find_subcommand(name) else {
                let names: Vec<&str> = command.get_subcommands().map(|c| c.get_name()).collect();
                bail!(
                    "brisk man {name}: no such command; pick one of {}",
                    names.join(", ")
                );
            };
            // The page is named brisk-check(1), as git's are, and shows `brisk check` in its
            // synopsis.
            sub.clone()
                .name(format!("brisk-{name}"))
                .bin_name(format!("brisk {name}"))
        }
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page).render(&mut roff)?;
    let mut out = std::io::stdout().lock();
    out.write_all(&roff)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
