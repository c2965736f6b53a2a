//! `brisk proxy`: arguments, logging and signals.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use brisk_proxy::config::LogFormat;
use clap::Args;
use tokio::signal::unix::{signal, SignalKind};

const EXAMPLES: &str = "\
Examples:
  brisk proxy --init                            # write a commented brisk.toml here
  brisk proxy                                   # run with ./brisk.toml
  brisk proxy --config /etc/brisk/brisk.toml
  BRISK_LOG=debug brisk proxy -c brisk.toml     # debug-level logs on stderr";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct ProxyArgs {
    /// The configuration file (TOML; see docs/proxy.md).
    #[arg(long, short, value_name = "FILE", default_value = "brisk.toml")]
    config: PathBuf,

    /// Write a commented configuration to the --config file and exit. An existing file is
    /// never overwritten.
    #[arg(long)]
    init: bool,
}

/// Loads the configuration, then runs the proxy on a runtime with the configured number of
/// worker threads.
pub fn main(args: ProxyArgs) -> anyhow::Result<ExitCode> {
    if args.init {
        return init(&args.config);
    }
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

/// Writes the example configuration to `path`, unless something is there already.
fn init(path: &std::path::Path) -> anyhow::Result<ExitCode> {
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => anyhow::bail!(
            "{} exists already; brisk proxy --init never overwrites a file (give --config NEW_FILE)",
            path.display()
        ),
        Err(e) => anyhow::bail!("cannot create {}: {e}", path.display()),
    };
    file.write_all(brisk_proxy::Config::EXAMPLE.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!(
        "brisk: wrote {}: edit [databases] and [users], then run brisk proxy -c {}",
        path.display(),
        path.display()
    );
    Ok(ExitCode::SUCCESS)
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
