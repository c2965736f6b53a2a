//! `brisk advise`: arguments and wiring.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use brisk_advisor::advise::{
    self, AdviseOptions, Source, VerifyOptions, VerifyTarget, ADVISE_CHECKS,
};
use brisk_pg::{Session, SessionOptions};
use clap::Args;

use crate::check::millis;
use crate::connect::{connect, start_demo, stop_demo};
use crate::output::{emit, list_checks, Emit, FailOn, Format, Progress};

const EXAMPLES: &str = "\
Examples:
  brisk advise                               # the demo, with a planted workload
  brisk advise postgres://app@db.internal:5432/app --write migrations/
  brisk advise URL --workload queries.sql --verify     # measured on a sandbox copy
  brisk advise URL --budget-bytes 2GB --max-indexes 3 --format json";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct AdviseArgs {
    /// A libpq URL (postgres://user@host:5432/db) or key=value string; PG* environment
    /// variables fill in what it leaves out, as in psql. Without one (and without PG*
    /// variables), brisk advises on its demo.
    url: Option<String>,

    /// Read the workload from pg_stat_statements (the default).
    #[arg(long, conflicts_with = "workload")]
    from_stats: bool,

    /// Read the workload from FILE: JSON lines (docs/workload.md), or plain SQL when the
    /// name ends in .sql.
    #[arg(long, value_name = "FILE")]
    workload: Option<PathBuf>,

    /// Spend at most this much space on new indexes (bytes; kB, MB, GB and TB suffixes as
    /// in postgresql.conf).
    #[arg(long, value_name = "N", value_parser = parse_bytes)]
    budget_bytes: Option<u64>,

    /// Recommend at most this many new indexes.
    #[arg(long, value_name = "N", default_value_t = AdviseOptions::default().max_indexes)]
    max_indexes: usize,

    /// An index must save at least this share of the workload's estimated time.
    #[arg(long, value_name = "PERCENT",
          default_value_t = AdviseOptions::default().min_benefit_pct)]
    min_benefit_pct: f64,

    /// How many pg_stat_statements entries to read, by total time.
    #[arg(long, value_name = "N", default_value_t = AdviseOptions::default().top_statements)]
    top: i64,

    /// Write numbered migration and rollback files into DIR.
    #[arg(long, value_name = "DIR")]
    write: Option<PathBuf>,

    /// Prove the advice on a sandbox copy of the database (pg_dump into a throwaway
    /// PostgreSQL): build the indexes, run the queries before and after, drop them.
    #[arg(long, conflicts_with = "verify_on")]
    verify: bool,

    /// Prove the advice on this database instead, which you name as safe to build indexes
    /// on (a staging copy). Only read queries run there.
    #[arg(long, value_name = "URL")]
    verify_on: Option<String>,

    /// Runs of each query before and after, for --verify.
    #[arg(long, value_name = "N", default_value_t = VerifyOptions::default().runs)]
    verify_runs: usize,

    /// statement_timeout of each verification run and index build, for --verify.
    #[arg(long, value_name = "MS",
          default_value_t = millis(VerifyOptions::default().statement_timeout))]
    verify_statement_timeout_ms: u64,

    /// Build the recommended indexes on the database (CREATE INDEX CONCURRENTLY). Without
    /// it, brisk advise only reads.
    #[arg(long)]
    apply: bool,

    /// Output format (also of --list-checks).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,

    /// Exit with status 1 when a finding is at least this severe (a recommendation is a
    /// warning).
    #[arg(long, value_enum)]
    fail_on: Option<FailOn>,

    /// Text output: show at most this many findings of one kind per severity (0: all).
    #[arg(long, value_name = "N", default_value_t = 20)]
    limit: usize,

    /// Print the kinds of findings advise reports and exit. (There is no --skip: they are
    /// the steps of one pipeline, not separate checks.)
    #[arg(long)]
    list_checks: bool,

    /// statement_timeout of brisk's own queries on the advised database.
    #[arg(long, value_name = "MS",
          default_value_t = millis(SessionOptions::default().statement_timeout))]
    statement_timeout_ms: u64,

    /// lock_timeout of brisk's own queries, and of the builds of --apply.
    #[arg(long, value_name = "MS",
          default_value_t = millis(SessionOptions::default().lock_timeout))]
    lock_timeout_ms: u64,
}

/// `500000`, `64kB`, `500MB`, `2GB`, `1TB` (powers of 1024, as PostgreSQL reads them).
fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a number of bytes (e.g. 500MB)"))?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "kB" | "KB" | "k" => 1 << 10,
        "MB" | "M" => 1 << 20,
        "GB" | "G" => 1 << 30,
        "TB" | "T" => 1 << 40,
        other => return Err(format!("unknown unit {other:?}: use kB, MB, GB or TB")),
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("{text:?} is too large"))
}

impl AdviseArgs {
    fn options(&self) -> anyhow::Result<AdviseOptions> {
        if self.max_indexes == 0 {
            bail!("--max-indexes must be at least 1");
        }
        if !(0.0..=100.0).contains(&self.min_benefit_pct) {
            bail!("--min-benefit-pct must be between 0 and 100");
        }
        Ok(AdviseOptions {
            budget_bytes: self.budget_bytes,
            max_indexes: self.max_indexes,
            min_benefit_pct: self.min_benefit_pct,
            top_statements: self.top.max(1),
        })
    }

    fn source(&self) -> anyhow::Result<Source> {
        let Some(path) = &self.workload else {
            return Ok(Source::Statements);
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --workload {}", path.display()))?;
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("sql"))
        {
            return Ok(Source::Sql(text));
        }
        let workload = brisk_workload::read_jsonl(text.as_bytes())
            .with_context(|| format!("--workload {}", path.display()))?;
        Ok(Source::Workload(workload))
    }

    fn session_options(&self) -> SessionOptions {
        SessionOptions {
            statement_timeout: Duration::from_millis(self.statement_timeout_ms),
            lock_timeout: Duration::from_millis(self.lock_timeout_ms),
            ..SessionOptions::default()
        }
    }
}

pub async fn run(args: AdviseArgs) -> anyhow::Result<ExitCode> {
    if args.list_checks {
        list_checks(ADVISE_CHECKS.iter().copied(), args.format)?;
        return Ok(ExitCode::SUCCESS);
    }
    let options = args.options()?;
    let source = args.source()?;
    if let Some(dir) = &args.write {
        if dir.exists() && !dir.is_dir() {
            bail!("--write {}: not a directory", dir.display());
        }
    }
    let work = async {
        // Without a URL, as `brisk check`, the demo: its planted workload is in
        // pg_stat_statements. The server stops when `demo` is dropped.
        let (demo, url) = if crate::connect::nothing_named(args.url.as_deref()) {
            let progress = Progress::start("starting the demo");
            let (pg, url) = start_demo(&progress).await?;
            (Some(pg), Some(url))
        } else {
            (None, args.url.clone())
        };
        let (info, session, progress) = connect(url.as_deref(), &args.session_options(), |info| {
            format!("advising {}", info.redacted())
        })
        .await?;
        let step = |message: &str| progress.step(message);
        let mut advice = advise::advise(&session, source, &options, &step).await?;
        drop(session);

        let target = match (&args.verify_on, args.verify) {
            (Some(url), _) => Some(VerifyTarget::Url(url.clone())),
            (None, true) => Some(VerifyTarget::SandboxCopy {
                source: url.clone(),
            }),
            (None, false) => None,
        };
        if let Some(target) = target {
            if !advice.recommendations.is_empty() {
                let verify_options = VerifyOptions {
                    runs: args.verify_runs.max(1),
                    statement_timeout: Duration::from_millis(args.verify_statement_timeout_ms),
                    ..VerifyOptions::default()
                };
                advise::verify(&mut advice, target, &verify_options, &step).await?;
            }
        }

        let mut failures = Vec::new();
        let mut report = advice.report();
        if demo.is_some() {
            report.notes.insert(
                0,
                "This is brisk's demo: a throwaway PostgreSQL with a small chat backend and the workload planted in it. Advise on your own database with: brisk advise postgres://user@host:5432/dbname".to_string(),
            );
        }
        if args.apply && !advice.recommendations.is_empty() {
            progress.step("building the indexes (CREATE INDEX CONCURRENTLY)");
            let writer = SessionOptions {
                read_only: false,
                ..args.session_options()
            };
            let session = Session::connect(&info, &writer).await?;
            let lock_timeout = Duration::from_millis(args.lock_timeout_ms);
            for applied in advise::apply(&session, &advice, lock_timeout).await {
                match applied.result {
                    Ok(secs) => report
                        .notes
                        .push(format!("Applied: built {} in {secs:.1} s.", applied.name)),
                    Err(error) => {
                        failures.push(format!("building {} failed: {error}", applied.name))
                    }
                }
            }
        }
        drop(progress);

        if let Some(dir) = &args.write {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create --write {}", dir.display()))?;
            let files = advice.migrations();
            for file in &files {
                let path = dir.join(&file.file_name);
                std::fs::write(&path, &file.contents)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            report.notes.push(format!(
                "Wrote {} migration files to {}.",
                files.len(),
                dir.display()
            ));
        }
        let code = emit(
            &report,
            Emit {
                format: args.format,
                fail_on: args.fail_on,
                limit: args.limit,
            },
        )?;
        if let Some(pg) = demo {
            stop_demo(pg).await?;
        }
        if let Some(first) = failures.first() {
            bail!("{first}");
        }
        Ok(code)
    };
    tokio::select! {
        result = work => result,
        _ = tokio::signal::ctrl_c() => {
            // A verification sandbox may be running; stop it and remove its files.
            brisk_sandbox::stop_all();
            eprintln!("brisk: interrupted");
            Ok(ExitCode::from(130))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn budgets_read_as_postgresql_sizes() {
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("64kB"), Ok(65_536));
        assert_eq!(parse_bytes("500MB"), Ok(500 << 20));
        assert_eq!(parse_bytes("2GB"), Ok(2 << 30));
        assert!(parse_bytes("5 parsecs").is_err());
        assert!(parse_bytes("MB").is_err());
    }
}
