//! `brisk serve`: arguments and wiring of the dashboard (brisk-serve).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use brisk_pg::conninfo::ConnInfo;
use brisk_serve::{ServeOptions, DEFAULT_HISTORY_LEN, DEFAULT_PORT, DEFAULT_SAMPLE_EVERY};
use clap::Args;

use crate::connect::{start_demo, stop_demo};
use crate::output::Progress;

const EXAMPLES: &str = "\
Examples:
  brisk serve                               # the demo, on http://127.0.0.1:8080/
  brisk serve postgres://app@db/app --redis redis://cache:6379
  brisk serve URL --proxy-admin postgres://admin@127.0.0.1:6432/brisk
  brisk serve URL --listen 0.0.0.0:8080 --token \"$TOKEN\" --allow-kill";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct ServeArgs {
    /// A libpq URL (postgres://user@host:5432/db) or key=value string; PG* environment
    /// variables fill in what it leaves out, as in psql. Without one (and without PG*
    /// variables), brisk serves its demo database.
    url: Option<String>,

    /// Also show this Redis (redis:// or rediss://): memory, hit ratio, key patterns, slow log.
    #[arg(long, value_name = "URL")]
    redis: Option<String>,

    /// The admin console of a brisk proxy (or PgBouncer), for its pools, per-fingerprint
    /// latency percentiles and N+1 patterns: postgres://admin@host:port/brisk.
    #[arg(long, value_name = "URL")]
    proxy_admin: Option<String>,

    /// Address and port to listen on. Anything but loopback needs --token.
    #[arg(long, value_name = "ADDR:PORT", default_value_t = SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)))]
    listen: SocketAddr,

    /// A secret of at least 16 characters every request must carry (open the dashboard once
    /// with ?token=..., or send Authorization: Bearer ...). Also read from BRISK_SERVE_TOKEN,
    /// which keeps it out of the process list.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "BRISK_SERVE_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,

    /// Show cancel and terminate buttons on the live queries page (pg_cancel_backend,
    /// pg_terminate_backend). Without it the dashboard only reads.
    #[arg(long)]
    allow_kill: bool,

    /// Keep the sampled history in this file (JSON lines) and read it back at start, so
    /// charts survive a restart.
    #[arg(long, value_name = "FILE")]
    history: Option<PathBuf>,

    /// Seconds between two samples of the history (connections, statements, cache hits,
    /// checkpoints, Redis memory).
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_SAMPLE_EVERY.as_secs_f64())]
    sample_secs: f64,

    /// Samples the history keeps in memory (the default is 24 hours at one per 10 s).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_HISTORY_LEN)]
    history_len: usize,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    // Refused before anything starts, so a mistake costs no demo server.
    brisk_serve::check_exposure(args.listen, args.token.as_deref())?;
    if !(args.sample_secs.is_finite() && (0.1..=3600.0).contains(&args.sample_secs)) {
        bail!(
            "--sample-secs {}: give 0.1 to 3600 seconds",
            args.sample_secs
        );
    }
    if args.history_len < 2 {
        bail!(
            "--history-len {}: give at least 2 (a rate needs two samples)",
            args.history_len
        );
    }
    let redis = match &args.redis {
        Some(url) => Some(brisk_redis::RedisTarget::parse(url)?),
        None => None,
    };
    let proxy_admin = match &args.proxy_admin {
        Some(url) => Some(ConnInfo::from_env_and_str(Some(url))?),
        None => None,
    };
    let mut demo = None;
    let postgres = if crate::connect::nothing_named(args.url.as_deref()) {
        let progress = Progress::start("starting the demo");
        let (pg, url) = start_demo(&progress).await?;
        drop(progress);
        demo = Some(pg);
        ConnInfo::from_env_and_str(Some(&url))?
    } else {
        let info = ConnInfo::from_env_and_str(args.url.as_deref())?;
        for warning in &info.warnings {
            eprintln!("brisk: {warning}");
        }
        // Fail now with the connection error rather than on the first page.
        brisk_pg::Session::connect(&info, &brisk_pg::SessionOptions::default()).await?;
        info
    };
    let options = ServeOptions {
        redis,
        proxy_admin,
        listen: args.listen,
        token: args.token.clone(),
        allow_kill: args.allow_kill,
        history_file: args.history.clone(),
        sample_every: Duration::from_secs_f64(args.sample_secs),
        history_len: args.history_len,
        ..ServeOptions::new(postgres)
    };
    let server = brisk_serve::bind(options).await?;
    let address = server.local_addr()?;
    let hint = if args.token.is_some() {
        "?token=..."
    } else {
        ""
    };
    eprintln!("brisk serve: http://{address}/{hint} (Ctrl-C stops it)");
    let served = server
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    if let Some(pg) = demo {
        stop_demo(pg).await?;
    }
    served?;
    Ok(ExitCode::SUCCESS)
}
