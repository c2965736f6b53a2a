//! `brisk completions`: shell completion scripts, generated from the CLI definition so
//! they never fall behind it.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use clap_complete::Shell;

const EXAMPLES: &str = "\
Examples:
  brisk completions bash > ~/.local/share/bash-completion/completions/brisk
  brisk completions zsh > ~/.zfunc/_brisk        # with fpath+=~/.zfunc before compinit
  brisk completions fish > ~/.config/fish/completions/brisk.fish";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    shell: Shell,
}

pub fn run(args: CompletionsArgs, mut command: clap::Command) -> anyhow::Result<ExitCode> {
    let name = command.get_name().to_string();
    // Into memory first: clap_complete panics when its writer fails (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, name, &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
