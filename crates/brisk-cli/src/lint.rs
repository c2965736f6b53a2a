//! `brisk lint`: arguments and wiring.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use brisk_advisor::lint::{run_lint, LintSource};
use brisk_sql::Rule;
use clap::Args;

use crate::output::{emit, Emit, FailOn, Format};

#[derive(Debug, Args)]
pub struct LintArgs {
    /// SQL files to lint, `-` for standard input. Statements end with `;`.
    #[arg(required_unless_present = "list_rules")]
    files: Vec<PathBuf>,

    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,

    /// Exit with status 1 when a finding is at least this severe. A syntax error is
    /// critical, so by default a script PostgreSQL cannot parse fails, as in other linters.
    #[arg(long, value_enum, default_value_t = FailOn::Critical)]
    fail_on: FailOn,

    /// Do not apply this rule (repeatable): `sql.select_star` or `select_star`.
    #[arg(long, value_name = "RULE")]
    skip: Vec<String>,

    /// Text output: show at most this many findings of one rule per severity (0: all).
    #[arg(long, value_name = "N", default_value_t = 20)]
    limit: usize,

    /// Print the rules and exit.
    #[arg(long)]
    list_rules: bool,
}

pub fn run(args: LintArgs) -> anyhow::Result<ExitCode> {
    if args.list_rules {
        for rule in Rule::ALL {
            println!("{:<28} {}", rule.id(), rule.describe());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut skip = Vec::new();
    for id in &args.skip {
        match Rule::from_id(id) {
            Some(rule) => skip.push(rule),
            None => bail!("--skip {id}: no such rule; `brisk lint --list-rules` lists them"),
        }
    }
    let mut sources = Vec::new();
    for path in &args.files {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading SQL from standard input")?;
            sources.push(LintSource {
                name: "<stdin>".into(),
                text,
            });
        } else {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            sources.push(LintSource {
                name: path.display().to_string(),
                text,
            });
        }
    }
    let report = run_lint(&sources, &skip);
    emit(
        &report,
        Emit {
            format: args.format,
            fail_on: Some(args.fail_on),
            limit: args.limit,
        },
    )
}
