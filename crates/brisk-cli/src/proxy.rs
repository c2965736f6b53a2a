//! `brisk proxy`: arguments, logging and signals.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use brisk_proxy::config::LogFormat;
use clap::Args;
use tokio::signal::unix::{signal, SignalKind};

#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// The configuration file (TOML; see docs/proxy.md).
    #[arg(long, short, value_name = "FILE", default_value = "brisk.toml")]
    config: PathBuf,
}

/// Loads the configuration, then runs the proxy on a runtime with the configured number of
/// worker threads.
pub fn main(args: ProxyArgs) -> anyhow::Result<ExitCode> {
    let config = brisk_proxy::Config::load(&args.config)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = brisk_proxy::config::worker_threads(config.threads, cores);
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    };
    let runtime = builder
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(args, config))
}

async fn run(args: ProxyArgs, config: brisk_proxy::Config) -> anyhow::Result<ExitCode> {
    // BRISK_LOG=debug|info|warn|error (default info); logs go to stderr.
    let level = std::env::var("BRISK_LOG")
        .ok()
        .and_then(|l| l.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    let json = match config.log_format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let logger = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr);
    let _ = if json {
        logger.json().flatten_event(true).try_init()
    } else {
        logger.try_init()
    };
    let proxy = brisk_proxy::Proxy::bind(config).await?;
    let addr = proxy.local_addr().context("reading the listen address")?;
    tracing::info!(%addr, config = %args.config.display(), "brisk proxy listening");
    if let Some(http) = proxy.http_addr() {
        tracing::info!(%http, "serving /metrics and /health");
    }
    let shared = proxy.shared();
    let mut hangup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let stop = async move {
        loop {
            tokio::select! {
                _ = hangup.recv() => {
                    // A bad file keeps the running configuration, as PgBouncer does.
                    if let Err(e) = shared.reload() {
                        tracing::error!(error = %e, "reload failed; keeping the running configuration");
                    }
                }
                _ = terminate.recv() => break,
                _ = interrupt.recv() => break,
            }
        }
    };
    proxy.run(stop).await;
    tracing::info!("brisk proxy stopped");
    Ok(ExitCode::SUCCESS)
}
