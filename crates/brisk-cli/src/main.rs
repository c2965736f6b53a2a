//! The `brisk` binary: parses arguments, wires the libraries together and picks the output
//! format. It holds no logic of its own; every judgement lives in a library crate.
//!
//! Exit codes: 0 when the command ran (and found nothing at or above `--fail-on`), 1 when a
//! finding reached `--fail-on` (for `lint`, `critical` unless told otherwise, which takes in
//! syntax errors), 2 for bad input of any kind (arguments, URL, connection, privileges),
//! 99 when a `bench` threshold failed, 130 when interrupted.

mod advise;
mod bench;
mod check;
mod cleanup;
mod completions;
mod connect;
mod doctor;
mod lint;
mod logs;
mod man;
mod output;
mod proxy;
mod redis;
mod serve;
mod tune;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// brisk finds what makes a PostgreSQL + Redis backend slow, proves each fix with numbers,
/// and keeps it fast.
///
/// It reads your database and tells you what is wrong, with the evidence and the SQL that
/// fixes it: unused and missing indexes, bloat, vacuum falling behind, sequences running
/// out, connection trouble, slow statements. It recommends indexes for your workload and
/// proves them, lints SQL files, analyzes a Redis, and runs a pooling proxy. It only reads
/// unless you pass a flag that says otherwise (--apply).
///
/// `brisk check` and `brisk advise` without a URL start a throwaway PostgreSQL with a demo
/// database and run on that, so you can see what brisk does before pointing it at yours.
#[derive(Debug, Parser)]
#[command(name = "brisk", version, max_term_width = 100, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Everything brisk knows about a PostgreSQL + Redis backend in one pass, the safe fixes
    /// measured before and after, and a report (HTML, Markdown, JSON, migrations).
    ///
    /// Without a URL (and without PG* variables), brisk runs its demo: a throwaway PostgreSQL
    /// and Redis with a chat backend whose problems are planted, its traffic sent through
    /// brisk proxy, diagnosed, fixed and measured (see docs/doctor.md).
    Doctor(doctor::DoctorArgs),
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
    /// Delete expired rows in short batches that the live application does not feel, or give
    /// Redis keys without a TTL one. A dry run unless --apply is given (see docs/cleanup.md).
    Cleanup(cleanup::CleanupArgs),
    /// Analyze PostgreSQL logs: where statement time goes, errors, lock waits, temp files,
    /// checkpoints, autovacuum, connections and N+1 patterns (see docs/logs.md).
    ///
    /// Reads stderr logs with any log_line_prefix (detected, or --prefix), syslog, csvlog
    /// and jsonlog, plain or compressed, in parallel; text, JSON or an HTML page.
    Logs(logs::LogsArgs),
    /// Run the transaction-pooling proxy in front of PostgreSQL (see docs/proxy.md).
    ///
    /// SIGHUP reloads the configuration; SIGTERM and SIGINT stop accepting clients and let
    /// those connected finish their transactions.
    Proxy(proxy::ProxyArgs),
    /// Load-test PostgreSQL at a target rate, with latency measured from each operation's
    /// intended start; compare and merge results (see docs/bench.md).
    ///
    /// Exit code 99 when a --threshold fails, 130 when interrupted (results still written).
    Bench(Box<bench::BenchArgs>),
    /// PostgreSQL settings from the machine (PGTune's formulas) and from the server's own
    /// evidence: checkpoints, temp files, cache hits, idle sessions. Prints; never applies.
    Tune(tune::TuneArgs),
    /// A dashboard in the browser, served by brisk itself: health, queries, space,
    /// connections, live queries, maintenance, tuning and Redis (see docs/serve.md).
    ///
    /// Binds to 127.0.0.1 unless given --listen and --token; reads only, except the cancel
    /// and terminate buttons of --allow-kill.
    Serve(serve::ServeArgs),
    /// Print a shell completion script: bash, zsh, fish, elvish or powershell.
    Completions(completions::CompletionsArgs),
    /// Print brisk's man page (roff), or a subcommand's.
    Man(man::ManArgs),
}

const EXAMPLES: &str = "\
Examples:
  brisk doctor                                  # see it work: the demo, fixed and measured
  brisk check                                   # the demo database, checked
  brisk check postgres://app@db.internal:5432/app
  brisk advise postgres://app@db.internal:5432/app --write migrations/
  brisk lint migrations/*.sql
  brisk redis redis://cache.internal:6379

  brisk COMMAND --help shows a command's options. docs/ in the repository has the details.";

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return argument_error(error),
    };
    let result = match cli.command {
        Command::Advise(args) => block_on(advise::run(args)),
        Command::Check(args) => block_on(check::run(args)),
        Command::Doctor(args) => block_on(doctor::run(args)),
        Command::Cleanup(args) => block_on(cleanup::run(args)),
        Command::Lint(args) => lint::run(args),
        Command::Redis(args) => block_on(redis::run(args)),
        // The load generator sizes its own runtime (--threads).
        Command::Bench(args) => bench::main(*args),
        Command::Tune(args) => block_on(tune::run(args)),
        Command::Serve(args) => block_on(serve::run(args)),
        Command::Logs(args) => logs::run(args),
        // The proxy sizes its own runtime from its configuration.
        Command::Proxy(args) => proxy::main(args),
        Command::Completions(args) => completions::run(args, Cli::command()),
        Command::Man(args) => man::run(args, Cli::command()),
    };
    exit_code(result)
}

/// Runs a command on a two-thread runtime: the work is I/O-bound and the machines brisk
/// runs on in CI are small.
fn block_on<T>(command: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    runtime.block_on(command)
}

/// clap's help and version go out as clap writes them. A usage error is one line with exit
/// code 2, as every other bad input: clap's message and its tips, without the usage block.
fn argument_error(error: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            return ExitCode::from(2);
        }
        _ => {}
    }
    let rendered = error.render().to_string();
    let lines: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect();
    let (tips, message): (Vec<&str>, Vec<&str>) = lines.iter().partition(|l| l.starts_with("tip:"));
    let message = message.join(" ");
    let message = message.trim_start_matches("error: ");
    if tips.is_empty() {
        eprintln!("brisk: {message} (see --help)");
    } else {
        eprintln!("brisk: {message}; {}", tips.join("; "));
    }
    ExitCode::from(2)
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
