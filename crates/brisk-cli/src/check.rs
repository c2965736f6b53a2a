//! `brisk check`: arguments and wiring.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use brisk_advisor::check::{is_check_id, run_check, CheckOptions, CHECKS};
use brisk_pg::conninfo::ConnInfo;
use brisk_pg::{Session, SessionOptions};
use clap::Args;

use crate::connect::{connect, start_demo, stop_demo};
use crate::output::{emit, list_checks, Emit, FailOn, Format, Progress};

const EXAMPLES: &str = "\
Examples:
  brisk check                                # the demo, with planted problems
  brisk check postgres://app@db.internal:5432/app
  PGHOST=db.internal PGUSER=app brisk check --format json > report.json
  brisk check URL --fail-on critical --skip queries.top      # in CI";

/// The defaults of the thresholds, from the library (each says where its number comes from).
fn defaults() -> CheckOptions {
    CheckOptions::default()
}

const MIB: f64 = 1024.0 * 1024.0;

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct CheckArgs {
    /// A libpq URL (postgres://user@host:5432/db) or key=value string; PG* environment
    /// variables fill in what it leaves out, as in psql. Without one (and without PG*
    /// variables), brisk checks its demo.
    url: Option<String>,

    /// Check the built-in demo database even if the environment names a server.
    #[arg(long, conflicts_with = "url")]
    demo: bool,

    /// Output format (also of --list-checks).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,

    /// Exit with status 1 when a finding is at least this severe.
    #[arg(long, value_enum)]
    fail_on: Option<FailOn>,

    /// Text output: show at most this many findings of one check per severity (0: all).
    #[arg(long, value_name = "N", default_value_t = 20)]
    limit: usize,

    /// Do not run this check (repeatable); `--list-checks` shows the ids.
    #[arg(long, value_name = "CHECK_ID")]
    skip: Vec<String>,

    /// Print the checks and exit.
    #[arg(long)]
    list_checks: bool,

    /// Report sessions idle in a transaction for longer than this.
    #[arg(long, value_name = "SECONDS", help_heading = "Thresholds",
          default_value_t = defaults().idle_in_transaction_secs)]
    idle_in_transaction_secs: f64,

    /// Report queries running for longer than this.
    #[arg(long, value_name = "SECONDS", help_heading = "Thresholds",
          default_value_t = defaults().long_query_secs)]
    long_query_secs: f64,

    /// Report sessions waiting on a lock for longer than this.
    #[arg(long, value_name = "SECONDS", help_heading = "Thresholds",
          default_value_t = defaults().lock_wait_secs)]
    lock_wait_secs: f64,

    /// Connections in use, as a share of those applications may use, that make a warning.
    #[arg(long, value_name = "PERCENT", help_heading = "Thresholds",
          default_value_t = defaults().connections_warning_pct)]
    connections_warning_pct: f64,

    /// Connections in use, as a share of those applications may use, that make a critical
    /// finding.
    #[arg(long, value_name = "PERCENT", help_heading = "Thresholds",
          default_value_t = defaults().connections_critical_pct)]
    connections_critical_pct: f64,

    /// Days of statistics before an unused index is a warning with a DROP; before that it
    /// is info, and its fix says when to check again.
    #[arg(long, value_name = "DAYS", help_heading = "Thresholds",
          default_value_t = defaults().unused_index_min_days)]
    unused_index_min_days: f64,

    /// Smallest estimated bloat worth reporting (with --bloat-min-pct).
    #[arg(long, value_name = "MIB", help_heading = "Thresholds",
          default_value_t = defaults().bloat_min_bytes / MIB)]
    bloat_min_mb: f64,

    /// Smallest estimated bloat share worth reporting (a relation wasting 1 GiB is reported
    /// from 25%).
    #[arg(long, value_name = "PERCENT", help_heading = "Thresholds",
          default_value_t = defaults().bloat_min_pct)]
    bloat_min_pct: f64,

    /// Dead-row share of a table that means vacuum is behind.
    #[arg(long, value_name = "PERCENT", help_heading = "Thresholds",
          default_value_t = defaults().dead_tuples_min_pct)]
    dead_tuples_min_pct: f64,

    /// Share of a sequence's range used that makes a warning.
    #[arg(long, value_name = "PERCENT", help_heading = "Thresholds",
          default_value_t = defaults().sequence_warning_pct)]
    sequence_warning_pct: f64,

    /// Share of a sequence's range used that makes a critical finding.
    #[arg(long, value_name = "PERCENT", help_heading = "Thresholds",
          default_value_t = defaults().sequence_critical_pct)]
    sequence_critical_pct: f64,

    /// Report shared-buffer hit ratios (of the database and of its tables) below this.
    #[arg(long, value_name = "PERCENT", help_heading = "Thresholds",
          default_value_t = defaults().cache_hit_min_pct)]
    cache_hit_min_pct: f64,

    /// How many statements to rank by total time, mean time and calls.
    #[arg(long, value_name = "N", help_heading = "Thresholds",
          default_value_t = defaults().top_queries)]
    top: i64,

    /// Leave out statements with less total time than this.
    #[arg(long, value_name = "MS", help_heading = "Thresholds",
          default_value_t = defaults().top_min_total_ms)]
    top_min_total_ms: f64,

    /// Statements slower than this on average are warnings.
    #[arg(long, value_name = "MS", help_heading = "Thresholds",
          default_value_t = defaults().slow_query_mean_ms)]
    slow_query_ms: f64,

    /// statement_timeout of brisk's own queries.
    #[arg(long, value_name = "MS",
          default_value_t = millis(SessionOptions::default().statement_timeout))]
    statement_timeout_ms: u64,

    /// lock_timeout of brisk's own queries.
    #[arg(long, value_name = "MS",
          default_value_t = millis(SessionOptions::default().lock_timeout))]
    lock_timeout_ms: u64,
}

/// Whole milliseconds, for a flag's default.
pub fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl CheckArgs {
    fn options(&self) -> anyhow::Result<CheckOptions> {
        for id in &self.skip {
            if !is_check_id(id) {
                bail!("--skip {id}: no such check; `brisk check --list-checks` lists them");
            }
        }
        Ok(CheckOptions {
            idle_in_transaction_secs: self.idle_in_transaction_secs,
            long_query_secs: self.long_query_secs,
            lock_wait_secs: self.lock_wait_secs,
            connections_warning_pct: self.connections_warning_pct,
            connections_critical_pct: self.connections_critical_pct,
            unused_index_min_days: self.unused_index_min_days,
            bloat_min_bytes: self.bloat_min_mb * MIB,
            bloat_min_pct: self.bloat_min_pct,
            dead_tuples_min_pct: self.dead_tuples_min_pct,
            sequence_warning_pct: self.sequence_warning_pct,
            sequence_critical_pct: self.sequence_critical_pct,
            cache_hit_min_pct: self.cache_hit_min_pct,
            top_queries: self.top,
            top_min_total_ms: self.top_min_total_ms,
            slow_query_mean_ms: self.slow_query_ms,
            skip: self.skip.clone(),
            ..defaults()
        })
    }

    fn emit_options(&self) -> Emit {
        Emit {
            format: self.format,
            fail_on: self.fail_on,
            limit: self.limit,
        }
    }

    fn session_options(&self) -> SessionOptions {
        SessionOptions {
            statement_timeout: Duration::from_millis(self.statement_timeout_ms),
            lock_timeout: Duration::from_millis(self.lock_timeout_ms),
            ..SessionOptions::default()
        }
    }

    fn wants_demo(&self) -> bool {
        self.demo || crate::connect::nothing_named(self.url.as_deref())
    }
}

pub async fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    if args.list_checks {
        let checks = CHECKS.iter().map(|check| (check.id, check.about));
        list_checks(checks, args.format)?;
        return Ok(ExitCode::SUCCESS);
    }
    let options = args.options()?;
    let work = async {
        if args.wants_demo() {
            check_demo(&args, &options).await
        } else {
            let (_, session, progress) =
                connect(args.url.as_deref(), &args.session_options(), |info| {
                    format!("checking {}", info.redacted())
                })
                .await?;
            let report = run_check(&session, &options).await?;
            drop(progress);
            emit(&report, args.emit_options())
        }
    };
    tokio::select! {
        result = work => result,
        _ = tokio::signal::ctrl_c() => {
            // Servers of the demo may still be starting; stop them and remove their files.
            brisk_sandbox::stop_all();
            eprintln!("brisk: interrupted");
            Ok(ExitCode::from(130))
        }
    }
}

async fn check_demo(args: &CheckArgs, options: &CheckOptions) -> anyhow::Result<ExitCode> {
    let progress = Progress::start("starting the demo");
    let (pg, url) = start_demo(&progress).await?;
    progress.step("checking the demo database");
    let info = ConnInfo::from_env_and_str(Some(&url))?;
    let session = Session::connect(&info, &args.session_options()).await?;
    let mut report = run_check(&session, options).await?;
    drop(session);
    drop(progress);
    report.notes.insert(
        0,
        "This is brisk's demo: a throwaway PostgreSQL with a small chat backend whose problems were planted on purpose. Check your own database with: brisk check postgres://user@host:5432/dbname".to_string(),
    );
    let code = emit(&report, args.emit_options());
    stop_demo(pg).await?;
    code
}
