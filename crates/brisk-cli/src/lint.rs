//! `brisk lint`: arguments and wiring.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use brisk_advisor::lint::{rules, run_lint, LintSource, SYNTAX_ERROR};
use brisk_sql::Rule;
use clap::Args;

use crate::output::{emit, list_checks, Emit, FailOn, Format};

const EXAMPLES: &str = "\
Examples:
  brisk lint migrations/*.sql
  git diff --name-only -- '*.sql' | xargs brisk lint --fail-on warning
  pg_dump --schema-only app | brisk lint - --skip select_star
  brisk lint --list-checks --format json";

#[derive(Debug, Args)]
#[command(
    after_help = EXAMPLES,
    override_usage = "brisk lint [OPTIONS] <FILE>...\n       brisk lint --list-checks [--format json]"
)]
pub struct LintArgs {
    /// SQL files to lint, `-` for standard input. Statements end with `;`.
    #[arg(value_name = "FILE", required_unless_present = "list_checks")]
    files: Vec<PathBuf>,

    /// Output format (also of --list-checks).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,

    /// Exit with status 1 when a finding is at least this severe. A syntax error is
    /// critical, so by default a script PostgreSQL cannot parse fails, as in other linters.
    #[arg(long, value_enum, default_value_t = FailOn::Critical)]
    fail_on: FailOn,

    /// Do not apply this rule (repeatable): `sql.select_star` or `select_star`;
    /// `--list-checks` shows the ids.
    #[arg(long, value_name = "RULE")]
    skip: Vec<String>,

    /// Text output: show at most this many findings of one rule per severity (0: all).
    #[arg(long, value_name = "N", default_value_t = 20)]
    limit: usize,

    /// Print the rules and exit.
    #[arg(long, visible_alias = "list-rules")]
    list_checks: bool,
}

pub fn run(args: LintArgs) -> anyhow::Result<ExitCode> {
    if args.list_checks {
        list_checks(rules(), args.format)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut skip = Vec::new();
    for id in &args.skip {
        match Rule::from_id(id) {
            Some(rule) => skip.push(rule),
            None if id == SYNTAX_ERROR || SYNTAX_ERROR.strip_prefix("sql.") == Some(id) => bail!(
                "--skip {id}: a statement that does not parse cannot be linted, so this rule always applies; --fail-on none keeps it from failing the run"
            ),
            None => bail!("--skip {id}: no such rule; `brisk lint --list-checks` lists them"),
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
