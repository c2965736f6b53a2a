//! `brisk cleanup`: arguments, wiring and output. Deleting rows lives in brisk-cleanup,
//! setting TTLs in brisk_redis::expire.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use brisk_cleanup::{DeleteOptions, DeleteOutcome, DeletePlan, IndexAdvice, Stop};
use brisk_pg::conninfo::ConnInfo;
use brisk_pg::{Session, SessionOptions};
use brisk_redis::expire::{expire_without_ttl, ExpireOptions, ExpireOutcome};
use brisk_redis::RedisTarget;
use brisk_report::{format_bytes, format_count};
use clap::Args;

use crate::output::{Format, Progress};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  brisk cleanup postgres://app@db/app --table messages --where \"expires_at < now()\"
  brisk cleanup URL --table messages --where \"expires_at < now()\" --apply --max-duration 10m
  brisk cleanup redis://cache:6379 --pattern 'chat:conv:*' --set-ttl 7d
  brisk cleanup redis://cache:6379 --pattern 'chat:conv:*' --set-ttl 7d --apply")]
pub struct CleanupArgs {
    /// postgres://... (or any libpq connection string) to delete rows; redis://... or
    /// rediss://... to give keys without a TTL one.
    url: String,

    /// PostgreSQL: the table to delete from (`messages`, `app.messages`).
    #[arg(long, value_name = "TABLE")]
    table: Option<String>,

    /// PostgreSQL: the condition of the rows to delete, one boolean expression
    /// (`expires_at < now()`).
    #[arg(long = "where", value_name = "CONDITION")]
    condition: Option<String>,

    /// Redis: a SCAN MATCH glob of the keys to give a TTL (`chat:conv:*`).
    #[arg(long, value_name = "GLOB")]
    pattern: Option<String>,

    /// Redis: the TTL for keys that have none (`7d`, `12h`, `3600s`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    set_ttl: Option<Duration>,

    /// Delete (or set the TTLs). Without it, brisk only counts and explains.
    #[arg(long)]
    apply: bool,

    /// Keys of the primary key in the first batch (the matching rows among them are
    /// deleted); later batches adapt to --batch-target.
    #[arg(long, value_name = "KEYS", default_value_t = 1000)]
    batch: u64,

    /// How long one batch (one transaction) should take.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "200ms")]
    batch_target: Duration,

    /// Rest between batches, left to the application and autovacuum.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "100ms")]
    pause: Duration,

    /// Start no batch after this long; running the command again resumes.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    max_duration: Option<Duration>,

    /// Give up on a batch that waits this long for a lock, and retry it smaller (the name
    /// `check` and `advise` use).
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    lock_timeout_ms: u64,

    /// Cancel a batch that runs this long, and retry it smaller.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    statement_timeout_ms: u64,

    /// Pause while a replica lags more than this (pg_stat_replication; needs
    /// pg_read_all_stats to see it).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    max_replication_lag: Duration,

    /// The admin console of the brisk proxy (or PgBouncer) in front of the application
    /// (postgres://admin@proxy:6432/brisk): brisk reads the application's mean query time
    /// from its SHOW STATS before the first batch and after each, and waits while it is
    /// slower than --max-app-slowdown allows.
    #[arg(long, value_name = "URL")]
    proxy_admin: Option<String>,

    /// With --proxy-admin: the console's name of the database to watch (every database's
    /// sum when not given).
    #[arg(long, value_name = "NAME", requires = "proxy_admin")]
    proxy_database: Option<String>,

    /// With --proxy-admin: wait while the application's mean query time is more than this
    /// many times its baseline (and at least 10 ms more).
    #[arg(long, value_name = "FACTOR", default_value_t = DeleteOptions::new("", "").max_app_slowdown)]
    max_app_slowdown: f64,

    /// json: the plan and the outcome as one object (docs/cleanup.md).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// `200ms`, `30s`, `10m`, `12h`, `7d`; a bare number is seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration; write 200ms, 30s, 10m, 12h or 7d"))?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86_400.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?}; use ms, s, m, h or d"
            ))
        }
    };
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err(format!("{text:?} must be more than zero"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

pub async fn run(args: CleanupArgs) -> anyhow::Result<ExitCode> {
    if args.url.starts_with("redis://") || args.url.starts_with("rediss://") {
        if args.table.is_some() || args.condition.is_some() {
            bail!("--table and --where are for PostgreSQL; for Redis give --pattern and --set-ttl");
        }
        let (Some(pattern), Some(ttl)) = (args.pattern.clone(), args.set_ttl) else {
            bail!("name the keys and their TTL: brisk cleanup redis://... --pattern 'chat:conv:*' --set-ttl 7d");
        };
        return redis(&args, pattern, ttl).await;
    }
    if args.pattern.is_some() || args.set_ttl.is_some() {
        bail!("--pattern and --set-ttl are for Redis (redis://...); for PostgreSQL give --table and --where");
    }
    let (Some(table), Some(condition)) = (args.table.as_deref(), args.condition.as_deref()) else {
        bail!("name the rows to delete: brisk cleanup postgres://... --table messages --where \"expires_at < now()\"");
    };
    if args.batch == 0 {
        bail!("--batch must be at least 1");
    }
    let options = DeleteOptions {
        batch: args.batch,
        batch_target: args.batch_target,
        pause: args.pause,
        max_duration: args.max_duration,
        lock_timeout: Duration::from_millis(args.lock_timeout_ms.max(1)),
        statement_timeout: Duration::from_millis(args.statement_timeout_ms.max(1)),
        max_replication_lag: args.max_replication_lag,
        max_app_slowdown: args.max_app_slowdown,
        ..DeleteOptions::new(table, condition)
    };
    if !(args.max_app_slowdown.is_finite() && args.max_app_slowdown >= 1.0) {
        bail!("--max-app-slowdown is a factor of 1 or more (2 waits while the application is twice as slow)");
    }
    // The condition is refused before connecting when it is not one.
    brisk_sql::parse_predicate("t", condition).map_err(|e| anyhow::anyhow!("{e}"))?;
    let info = ConnInfo::from_env_and_str(Some(&args.url))?;
    let session = Session::connect(
        &info,
        &SessionOptions {
            read_only: !args.apply,
            ..SessionOptions::default()
        },
    )
    .await?;
    let plan = {
        let _progress = Progress::start("counting the rows and explaining one batch");
        brisk_cleanup::plan(&session, &options).await?
    };
    if !args.apply {
        match args.format {
            Format::Text => print_plan(&plan, &options, true)?,
            Format::Json => println!(
                "{}",
                json(&PlanAndOutcome {
                    plan: &plan,
                    outcome: None
                })?
            ),
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.format == Format::Text {
        print_plan(&plan, &options, false)?;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let stop_on_signal = stop.clone();
    let signal = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop_on_signal.store(true, Ordering::Relaxed);
            eprintln!("brisk: stopping after the current batch (Ctrl-C again to abort it)");
            // A second Ctrl-C aborts the batch: its transaction is rolled back by the server.
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    let mut app = match &args.proxy_admin {
        Some(url) => {
            let info = ConnInfo::from_env_and_str(Some(url))?;
            let console = brisk_pg::Console::connect(&info, &SessionOptions::default()).await?;
            let app =
                brisk_cleanup::AppLatency::start(console, args.proxy_database.clone()).await?;
            Some(app)
        }
        None => None,
    };
    let progress = Progress::start(&format!("deleting from {}", plan.table));
    let mut on_batch = |p: &brisk_cleanup::Progress| {
        let rate = p.deleted as f64 / p.elapsed.as_secs_f64().max(1e-3);
        let eta = if rate > 0.0 {
            format!(
                ", about {} left",
                seconds(p.remaining_estimate as f64 / rate)
            )
        } else {
            String::new()
        };
        let waiting = p
            .waiting_for_lag
            .map(|lag| format!(", waiting: a replica lags {}", seconds(lag.as_secs_f64())))
            .or_else(|| {
                p.waiting_for_app.map(|mean| {
                    format!(
                        ", waiting: the application's queries take {} ms on average",
                        mean.as_millis()
                    )
                })
            })
            .unwrap_or_default();
        progress.step(&format!(
            "deleted {} of about {} rows, {} rows/s, batch of {} keys in {} ms{eta}{waiting}",
            format_count(p.deleted as f64),
            format_count(plan.matching_rows as f64),
            format_count(rate),
            format_count(p.batch_size as f64),
            p.last_batch.as_millis()
        ));
    };
    let outcome = brisk_cleanup::apply(
        &session,
        &plan,
        &options,
        app.as_mut(),
        &stop,
        &mut on_batch,
    )
    .await;
    drop(progress);
    signal.abort();
    let outcome = outcome?;
    match args.format {
        Format::Text => print_outcome(&plan, &outcome)?,
        Format::Json => println!(
            "{}",
            json(&PlanAndOutcome {
                plan: &plan,
                outcome: Some(&outcome)
            })?
        ),
    }
    Ok(match outcome.stop {
        Stop::Interrupted => ExitCode::from(130),
        Stop::Done | Stop::MaxDuration => ExitCode::SUCCESS,
    })
}

fn seconds(s: f64) -> String {
    if s >= 3600.0 {
        format!("{:.1} h", s / 3600.0)
    } else if s >= 60.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{s:.1} s")
    }
}

#[derive(serde::Serialize)]
struct PlanAndOutcome<'a> {
    plan: &'a DeletePlan,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'a DeleteOutcome>,
}

fn json(value: &impl serde::Serialize) -> anyhow::Result<String> {
    serde_json::to_string_pretty(value).context("writing JSON")
}

fn print_plan(plan: &DeletePlan, options: &DeleteOptions, dry_run: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let about = if plan.matching_rows_estimated {
        "about "
    } else {
        ""
    };
    writeln!(
        out,
        "{}: {about}{} rows match {} (of about {} rows){}",
        plan.table,
        format_count(plan.matching_rows as f64),
        plan.condition,
        format_count(plan.table_rows_estimate),
        if plan.matching_rows_estimated {
            "; the planner's estimate, counting took over a minute"
        } else {
            ""
        }
    )?;
    writeln!(
        out,
        "Batches of {} keys of the primary key ({}) to start with, the matching rows among them deleted, adapted to take about {} ms each.",
        format_count(options.batch as f64),
        plan.primary_key.join(", "),
        options.batch_target.as_millis()
    )?;
    match &plan.index {
        IndexAdvice::Served { index } => writeln!(out, "Index: {index} serves the condition.")?,
        IndexAdvice::Create { sql, .. } => {
            writeln!(out, "Index: none serves the condition. Batches walk the primary key and filter, so the whole run reads the table once; to find the rows directly (and count them fast), create one first:")?;
            writeln!(out, "  {sql}")?;
        }
        IndexAdvice::None { reason } => {
            writeln!(out, "Index: none serves the condition; {reason}.")?
        }
    }
    if dry_run {
        writeln!(out, "Plan of one batch:")?;
        for line in &plan.batch_plan {
            writeln!(out, "  {line}")?;
        }
        writeln!(
            out,
            "Dry run: nothing was deleted. Add --apply to delete in batches."
        )?;
    }
    Ok(())
}

fn print_outcome(plan: &DeletePlan, outcome: &DeleteOutcome) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let rate = outcome.deleted as f64 / outcome.elapsed_secs.max(1e-3);
    writeln!(
        out,
        "Deleted {} rows in {} batches, {} ({} rows/s); longest batch {:.0} ms.",
        format_count(outcome.deleted as f64),
        format_count(outcome.batches as f64),
        seconds(outcome.elapsed_secs),
        format_count(rate),
        outcome.longest_batch_ms
    )?;
    if outcome.retried_batches > 0 {
        writeln!(
            out,
            "{} batches hit the lock or statement timeout and were retried smaller.",
            outcome.retried_batches
        )?;
    }
    if outcome.lag_wait_secs > 0.5 {
        writeln!(
            out,
            "Waited {} for replicas to catch up.",
            seconds(outcome.lag_wait_secs)
        )?;
    }
    match (outcome.app_baseline_ms, outcome.app_slowest_ms) {
        (Some(baseline), slowest) => writeln!(
            out,
            "The application's queries took {baseline:.1} ms on average before the first batch, {:.1} ms in the slowest window while deleting; brisk waited {} for them to recover.",
            slowest.unwrap_or(baseline),
            seconds(outcome.app_wait_secs)
        )?,
        (None, _) if outcome.app_watched => writeln!(
            out,
            "The application ran fewer than {} queries before the first batch: no baseline, so its latency was not watched.",
            brisk_cleanup::MIN_QUERIES
        )?,
        (None, _) => {}
    }
    let resume = "run the same command again to resume: each run starts from the smallest key, and the condition finds only the rows still there";
    match outcome.stop {
        Stop::Done => writeln!(out, "Done: no matching row is left.")?,
        Stop::Interrupted => writeln!(out, "Interrupted after the batch under way; {resume}.")?,
        Stop::MaxDuration => writeln!(out, "Stopped at --max-duration; {resume}.")?,
    }
    let vacuum = &outcome.vacuum;
    let verdict = match (vacuum.vacuum_due, vacuum.autovacuum_enabled) {
        (true, true) => "past it: autovacuum will vacuum the table soon, or run VACUUM (ANALYZE) now to make the space reusable at once",
        (false, true) => "not past it: autovacuum will wait; VACUUM (ANALYZE) now makes the space reusable at once",
        (_, false) => "but autovacuum is off for this table: run VACUUM (ANALYZE) yourself",
    };
    writeln!(
        out,
        "{}: {} dead rows; autovacuum's threshold is {} dead rows, {verdict}.",
        plan.table,
        format_count(vacuum.dead_rows as f64),
        format_count(vacuum.autovacuum_threshold),
    )?;
    Ok(())
}

async fn redis(args: &CleanupArgs, pattern: String, ttl: Duration) -> anyhow::Result<ExitCode> {
    if ttl < Duration::from_secs(1) {
        bail!("--set-ttl must be at least 1s: EXPIRE takes whole seconds");
    }
    let target = RedisTarget::parse(&args.url)?;
    let options = ExpireOptions {
        pattern,
        ttl,
        apply: args.apply,
    };
    let progress = Progress::start(&format!("scanning {}", target.address()));
    let on_progress =
        |read: u64| progress.step(&format!("read {} keys", format_count(read as f64)));
    let outcome = expire_without_ttl(&target, &options, &on_progress).await?;
    drop(progress);
    match args.format {
        Format::Json => println!("{}", json(&redis_json(&options, &outcome))?),
        Format::Text => print_redis(&options, &outcome)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn redis_json(options: &ExpireOptions, outcome: &ExpireOutcome) -> serde_json::Value {
    serde_json::json!({
        "glob": options.pattern,
        "ttl_secs": options.ttl.as_secs(),
        "applied": outcome.applied,
        "method": outcome.method,
        "matched": outcome.matched,
        "without_ttl": outcome.without_ttl,
        "expires_set": outcome.expires_set,
        "patterns": outcome.patterns.iter().map(|p| serde_json::json!({
            "pattern": p.pattern, "keys": p.keys, "bytes": p.bytes, "without_ttl": p.without_ttl,
        })).collect::<Vec<_>>(),
    })
}

fn print_redis(options: &ExpireOptions, outcome: &ExpireOutcome) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} keys match {}; {} have no TTL.",
        format_count(outcome.matched as f64),
        options.pattern,
        format_count(outcome.without_ttl as f64)
    )?;
    writeln!(
        out,
        "{:>12} {:>12} {:>12}  pattern",
        "keys", "memory", "no TTL"
    )?;
    for p in &outcome.patterns {
        writeln!(
            out,
            "{:>12} {:>12} {:>12}  {}",
            format_count(p.keys as f64),
            format_bytes(p.bytes as f64),
            format_count(p.without_ttl as f64),
            p.pattern
        )?;
    }
    if outcome.applied {
        writeln!(
            out,
            "Set a TTL of {} s on {} keys ({}); keys that had one kept it.",
            options.ttl.as_secs(),
            format_count(outcome.expires_set as f64),
            outcome.method
        )?;
    } else {
        writeln!(
            out,
            "Dry run: no TTL was set. Add --apply to give these keys a TTL of {} s ({}).",
            options.ttl.as_secs(),
            outcome.method
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_take_the_usual_units() {
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("7w").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
