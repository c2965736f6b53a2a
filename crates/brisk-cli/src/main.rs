//! The `brisk` binary: parses arguments, wires the libraries together and picks the output
//! format. It holds no logic of its own; every judgement lives in a library crate.
//!
//! Exit codes: 0 when the command ran (and found nothing at or above `--fail-on`), 1 when a
//! finding reached `--fail-on` (for `lint`, `critical` unless told otherwise, which takes in
//! syntax errors), 2 for bad input of any kind (arguments, URL, connection, privileges),
//! 130 when interrupted.

mod advise;
mod check;
mod lint;
mod logs;
mod output;
mod proxy;
mod redis;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// brisk finds what makes a PostgreSQL + Redis backend slow, proves each fix with numbers,
/// and keeps it fast.
#[derive(Debug, Parser)]
#[command(name = "brisk", version, about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect a live PostgreSQL and report problems, with the numbers and the fix for each.
    ///
    /// Without a URL (and without PGHOST, PGHOSTADDR, PGPORT, PGDATABASE, PGUSER or PGSERVICE in the
    /// environment), brisk starts a throwaway PostgreSQL with a demo database that has
    /// problems planted in it, and checks that.
    Check(check::CheckArgs),
    /// Recommend indexes for the whole workload, proven by what-if planning (HypoPG) and,
    /// with --verify, measured on a real run.
    ///
    /// The workload comes from pg_stat_statements, or from --workload FILE (JSON lines or
    /// .sql). brisk only reads the database unless --apply is given.
    Advise(advise::AdviseArgs),
    /// Find the anti-patterns in SQL files that make queries slow or dangerous, with a
    /// rewrite where one is clear.
    Lint(lint::LintArgs),
    /// Analyze a Redis (or Redis Cluster): memory by key pattern, big keys, keys without a
    /// TTL, what compression would save, hit ratio, evictions, fragmentation, cache settings
    /// and the slow log. Read-only.
    Redis(redis::RedisArgs),
    /// Analyze PostgreSQL logs: where statement time goes, errors, lock waits, temp files,
    /// checkpoints, autovacuum, connections and N+1 patterns (see docs/logs.md).
    ///
    /// Reads stderr logs with any log_line_prefix (detected, or --prefix), csvlog and
    /// jsonlog, plain or compressed, in parallel.
    Logs(logs::LogsArgs),
    /// Run the transaction-pooling proxy in front of PostgreSQL (see docs/proxy.md).
    ///
    /// SIGHUP reloads the configuration; SIGTERM and SIGINT stop accepting clients and let
    /// those connected finish their transactions.
    Proxy(proxy::ProxyArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Advise(args) => block_on(advise::run(args)),
        Command::Check(args) => block_on(check::run(args)),
        Command::Lint(args) => lint::run(args),
        Command::Redis(args) => block_on(redis::run(args)),
        Command::Logs(args) => logs::run(args),
        // The proxy sizes its own runtime from its configuration.
        Command::Proxy(args) => proxy::main(args),
    };
    exit_code(result)
}

/// Runs a command on a two-thread runtime: the work is I/O-bound and the machines brisk
/// runs on in CI are small.
fn block_on(
    command: impl std::future::Future<Output = anyhow::Result<ExitCode>>,
) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    runtime.block_on(command)
}

/// The exit code of a command's result: its own, or 2 with the error on one line.
fn exit_code(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("brisk: {error:#}");
            ExitCode::from(2)
        }
    }
}
