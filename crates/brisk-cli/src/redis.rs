//! `brisk redis`: arguments and wiring.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use brisk_redis::{analyze, AnalyzeOptions, CacheRole, RedisTarget, CHECKS};
use clap::{Args, ValueEnum};

use crate::check::millis;
use crate::output::{emit, list_checks, Emit, FailOn, Format, Progress};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// A cache if its policy evicts or most keys have a TTL.
    Auto,
    /// Every key could be rebuilt and should expire: run the cache checks.
    Cache,
    /// Holds data that exists nowhere else: skip the cache checks.
    Store,
}

impl Role {
    pub fn cache_role(self) -> CacheRole {
        match self {
            Role::Auto => CacheRole::Auto,
            Role::Cache => CacheRole::Cache,
            Role::Store => CacheRole::Store,
        }
    }
}

const EXAMPLES: &str = "\
Examples:
  brisk redis redis://localhost:6379
  brisk redis rediss://:password@cache.internal:6380/0 --tls-ca ca.pem
  brisk redis redis://cache.internal:6379 --sample 100000 --role cache
  brisk redis --list-checks --format json";

/// The defaults of the thresholds, from the library (each says where its number comes from).
fn defaults() -> AnalyzeOptions {
    AnalyzeOptions::default()
}

#[derive(Debug, Args)]
#[command(
    after_help = EXAMPLES,
    override_usage = "brisk redis [OPTIONS] <URL>\n       brisk redis --list-checks [--format json]"
)]
pub struct RedisArgs {
    /// Required: redis://[user:password@]host[:port][/db], or rediss:// for TLS. Any node
    /// of a Redis Cluster will do: brisk finds the others.
    #[arg(value_name = "URL", required_unless_present = "list_checks")]
    url: Option<String>,

    /// Read the metadata of at most N keys (per cluster node) and extrapolate, instead of
    /// scanning every key.
    #[arg(long, value_name = "N")]
    sample: Option<u64>,

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

    /// Whether this Redis is a cache; the cache checks (TTLs, maxmemory, persistence) run
    /// only on one.
    #[arg(long, value_enum, default_value_t = Role::Auto)]
    role: Role,

    /// Key patterns summarized (redis.keyspace), largest first.
    #[arg(long, value_name = "N", default_value_t = defaults().groups)]
    groups: usize,

    /// Keys at least this big are big keys.
    #[arg(long, value_name = "MIB", help_heading = "Thresholds",
          default_value_t = mib(defaults().big_key_bytes))]
    big_key_mb: f64,

    /// On a cache, report patterns with at least this share of keys without a TTL.
    #[arg(long, value_name = "PERCENT", help_heading = "Thresholds",
          default_value_t = defaults().no_ttl_min_pct)]
    no_ttl_min_pct: f64,

    /// Report hit ratios below this.
    #[arg(long, value_name = "PERCENT", help_heading = "Thresholds",
          default_value_t = defaults().hit_ratio_min_pct)]
    hit_ratio_min_pct: f64,

    /// Report fragmentation from this ratio of resident to used memory (with
    /// --fragmentation-min-mb).
    #[arg(long, value_name = "RATIO", help_heading = "Thresholds",
          default_value_t = defaults().fragmentation_ratio)]
    fragmentation_ratio: f64,

    /// Report fragmentation only when at least this much memory is held but unused.
    #[arg(long, value_name = "MIB", help_heading = "Thresholds",
          default_value_t = mib(defaults().fragmentation_min_bytes))]
    fragmentation_min_mb: f64,

    /// Report patterns whose values compression would shrink by at least this share (with
    /// --compress-min-saved-mb).
    #[arg(long, value_name = "PERCENT", help_heading = "Thresholds",
          default_value_t = defaults().compress_min_saving_pct)]
    compress_min_saving_pct: f64,

    /// Report compression only when it would save at least this much memory in all.
    #[arg(long, value_name = "MIB", help_heading = "Thresholds",
          default_value_t = mib(defaults().compress_min_saved_bytes))]
    compress_min_saved_mb: f64,

    /// PEM file of the CA that signed the server's certificate (rediss:// only); without
    /// it the system's roots are trusted.
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,

    /// How long one reply may take before the connection counts as lost.
    #[arg(long, value_name = "MS", visible_alias = "timeout-ms",
          default_value_t = millis(RedisTarget::DEFAULT_RESPONSE_TIMEOUT))]
    reply_timeout_ms: u64,
}

const MIB: f64 = 1024.0 * 1024.0;

/// Bytes in MiB, for a flag's default.
fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB
}

impl RedisArgs {
    fn options(&self) -> anyhow::Result<AnalyzeOptions> {
        for id in &self.skip {
            if !CHECKS.iter().any(|(check, _)| check == id) {
                bail!("--skip {id}: no such check; `brisk redis --list-checks` lists them");
            }
        }
        Ok(AnalyzeOptions {
            sample: self.sample,
            groups: self.groups,
            big_key_bytes: (self.big_key_mb * MIB) as u64,
            no_ttl_min_pct: self.no_ttl_min_pct,
            hit_ratio_min_pct: self.hit_ratio_min_pct,
            fragmentation_ratio: self.fragmentation_ratio,
            fragmentation_min_bytes: (self.fragmentation_min_mb * MIB) as u64,
            compress_min_saving_pct: self.compress_min_saving_pct,
            compress_min_saved_bytes: (self.compress_min_saved_mb * MIB) as u64,
            role: self.role.cache_role(),
            skip: self.skip.clone(),
            ..AnalyzeOptions::default()
        })
    }
}

pub async fn run(args: RedisArgs) -> anyhow::Result<ExitCode> {
    if args.list_checks {
        list_checks(CHECKS.iter().copied(), args.format)?;
        return Ok(ExitCode::SUCCESS);
    }
    let options = args.options()?;
    let Some(url) = args.url.as_deref() else {
        bail!("name the Redis to analyze: brisk redis redis://host:6379");
    };
    let mut target = RedisTarget::parse(url)?
        .with_response_timeout(Duration::from_millis(args.reply_timeout_ms));
    if let Some(ca) = &args.tls_ca {
        target = target.with_ca_file(ca)?;
    }
    let progress = Progress::start(&format!("analyzing {}", target.address()));
    let on_progress = |p: brisk_redis::ScanProgress| {
        progress.step(&format!(
            "scanned {} of {} keys",
            brisk_report::format_count(p.scanned as f64),
            brisk_report::format_count(p.total as f64)
        ));
    };
    let work = analyze(&target, &options, &on_progress);
    let report = tokio::select! {
        report = work => report?,
        _ = tokio::signal::ctrl_c() => {
            drop(progress);
            eprintln!("brisk: interrupted");
            return Ok(ExitCode::from(130));
        }
    };
    drop(progress);
    emit(
        &report,
        Emit {
            format: args.format,
            fail_on: args.fail_on,
            limit: args.limit,
        },
    )
}
