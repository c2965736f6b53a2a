//! `brisk check`: arguments and wiring.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use brisk_advisor::check::{is_check_id, run_check, CheckOptions, CHECKS};
use brisk_pg::conninfo::ConnInfo;
use brisk_pg::{Session, SessionOptions};
use clap::Args;

use crate::output::{emit, Emit, FailOn, Format, Progress};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// A libpq URL (postgres://user@host:5432/db) or key=value string; PG* environment
    /// variables fill in what it leaves out, as in psql.
    url: Option<String>,

    /// Check the built-in demo database even if the environment names a server.
    #[arg(long, conflicts_with = "url")]
    demo: bool,

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
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    idle_in_transaction_secs: f64,

    /// Report queries running for longer than this.
    #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
    long_query_secs: f64,

    /// Report sessions waiting on a lock for longer than this.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    lock_wait_secs: f64,

    /// Connections in use, as a share of the usable ones, that make a warning.
    #[arg(long, value_name = "PERCENT", default_value_t = 75.0)]
    connections_warning_pct: f64,

    /// Connections in use that make a critical finding.
    #[arg(long, value_name = "PERCENT", default_value_t = 90.0)]
    connections_critical_pct: f64,

    /// Days of statistics before an unused index is a warning with a DROP; before that it
    /// is info, and its fix says when to check again.
    #[arg(long, value_name = "DAYS", default_value_t = 7.0)]
    unused_index_min_days: f64,

    /// Smallest estimated bloat worth reporting.
    #[arg(long, value_name = "MIB", default_value_t = 10.0)]
    bloat_min_mb: f64,

    /// Smallest estimated bloat share worth reporting.
    #[arg(long, value_name = "PERCENT", default_value_t = 30.0)]
    bloat_min_pct: f64,

    /// Dead-row share of a table that means vacuum is behind.
    #[arg(long, value_name = "PERCENT", default_value_t = 30.0)]
    dead_tuples_min_pct: f64,

    /// Share of a sequence's range that makes a warning (critical at --sequence-critical-pct).
    #[arg(long, value_name = "PERCENT", default_value_t = 75.0)]
    sequence_warning_pct: f64,

    #[arg(long, value_name = "PERCENT", default_value_t = 90.0)]
    sequence_critical_pct: f64,

    /// Report cache hit ratios below this.
    #[arg(long, value_name = "PERCENT", default_value_t = 95.0)]
    cache_hit_min_pct: f64,

    /// How many statements to rank by total time, mean time and calls.
    #[arg(long, value_name = "N", default_value_t = 5)]
    top: i64,

    /// Leave out statements with less total time than this.
    #[arg(long, value_name = "MS", default_value_t = 100.0)]
    top_min_total_ms: f64,

    /// Statements slower than this on average are warnings.
    #[arg(long, value_name = "MS", default_value_t = 100.0)]
    slow_query_ms: f64,

    /// statement_timeout of brisk's own queries.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    statement_timeout_ms: u64,

    /// lock_timeout of brisk's own queries.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    lock_timeout_ms: u64,
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
            bloat_min_bytes: self.bloat_min_mb * 1024.0 * 1024.0,
            bloat_min_pct: self.bloat_min_pct,
            dead_tuples_min_pct: self.dead_tuples_min_pct,
            sequence_warning_pct: self.sequence_warning_pct,
            sequence_critical_pct: self.sequence_critical_pct,
            cache_hit_min_pct: self.cache_hit_min_pct,
            top_queries: self.top,
            top_min_total_ms: self.top_min_total_ms,
            slow_query_mean_ms: self.slow_query_ms,
            skip: self.skip.clone(),
            ..CheckOptions::default()
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

    /// No URL and nothing in the environment that names a server: use the demo.
    fn wants_demo(&self) -> bool {
        self.demo
            || (self.url.is_none()
                && [
                    "PGHOST",
                    "PGHOSTADDR",
                    "PGPORT",
                    "PGDATABASE",
                    "PGUSER",
                    "PGSERVICE",
                ]
                .iter()
                .all(|var| std::env::var_os(var).is_none()))
    }
}

pub async fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    if args.list_checks {
        for (id, description) in CHECKS {
            println!("{id:<34} {description}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let options = args.options()?;
    let work = async {
        if args.wants_demo() {
            check_demo(&args, &options).await
        } else {
            let info = ConnInfo::from_env_and_str(args.url.as_deref())?;
            for warning in &info.warnings {
                eprintln!("brisk: {warning}");
            }
            let progress = Progress::start(&format!("checking {}", info.redacted()));
            let session = Session::connect(&info, &args.session_options()).await?;
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
    let progress = Progress::start("starting a throwaway PostgreSQL");
    let pg = tokio::task::spawn_blocking(brisk_sandbox::Postgres::start)
        .await
        .context("starting the demo server")??;
    progress.step("loading the demo database (a chat backend with planted problems)");
    let pg = tokio::task::spawn_blocking(move || brisk_sandbox::demo::load(&pg).map(|db| (pg, db)))
        .await
        .context("loading the demo database")?;
    let (pg, database) = pg?;
    progress.step("checking the demo database");
    let info = ConnInfo::from_env_and_str(Some(&pg.url(database)))?;
    let session = Session::connect(&info, &args.session_options()).await?;
    let mut report = run_check(&session, options).await?;
    drop(session);
    drop(progress);
    report.notes.insert(
        0,
        "This is brisk's demo: a throwaway PostgreSQL with a small chat backend whose problems were planted on purpose. Check your own database with: brisk check postgres://user@host:5432/dbname".to_string(),
    );
    let code = emit(&report, args.emit_options());
    tokio::task::spawn_blocking(move || drop(pg)).await?;
    code
}
