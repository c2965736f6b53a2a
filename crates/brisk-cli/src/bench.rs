//! `brisk bench`: arguments and wiring (see docs/bench.md).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use brisk_bench::http::{HttpSpec, HttpStep};
use brisk_bench::knee::{find_knee, KneeOptions, Step as KneeStep};
use brisk_bench::plan::{
    parse_duration, Arrival, Operation, OperationKind, Plan, Protocol, Segment,
};
use brisk_bench::scenario::{read_scenario, LoadSettings, Model, Scenario};
use brisk_bench::script::{
    parse_pgbench, parse_sql_file, split_weight, Script, Step as ScriptStep,
};
use brisk_bench::threshold::Threshold;
use brisk_bench::{render, BenchError, BenchResult, EXIT_THRESHOLDS_FAILED};
use brisk_pg::conninfo::ConnInfo;
use clap::{Args, Subcommand, ValueEnum};

#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Examples:
  brisk bench --pgbench-script q1.sql@3 --pgbench-script q2.sql@1 --rate 200 URL -o after.json
  brisk bench scenario.toml --threshold 'p95 < 100ms' --html report.html
  brisk bench --http GET https://api.local/items --rate 200 --duration 5m
  brisk bench compare before.json after.json --format markdown"
)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: Option<BenchCommand>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Per-operation differences of two results' percentiles and throughput, with a noise
    /// test over their per-second windows.
    Compare(CompareArgs),
    /// Merge the JSON results of the segments of one test (--segment i/n on n machines)
    /// into one result.
    Merge(MergeArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ArrivalArg {
    Constant,
    Poisson,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ProtocolArg {
    Prepared,
    Simple,
    Extended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RunFormat {
    Text,
    Json,
    /// One self-contained HTML page with charts (see --html).
    Html,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// A scenario file (ending in .toml) and/or a libpq URL (postgres://user@host/db or
    /// key=value); PG* variables and ~/.pgpass fill in what the URL leaves out, as in psql.
    #[arg(value_name = "SCENARIO|URL", num_args = 0..=2)]
    inputs: Vec<String>,

    /// A SQL file: every statement is an operation (`-- name:` and `-- weight:` comment
    /// lines before a statement name and weigh it).
    #[arg(long, value_name = "FILE")]
    sql: Vec<PathBuf>,

    /// A pgbench script, read as pgbench reads it, with an optional weight (FILE@3); one run
    /// of the script is one operation (repeatable).
    #[arg(long, value_name = "FILE[@WEIGHT]")]
    pgbench_script: Vec<String>,

    /// An HTTP request as the operation: METHOD URL (`{name}` in the URL, a header or the
    /// body takes a --define's value). No database is needed; given a database URL too,
    /// its pg_stat_statements says which statements the requests cost it.
    #[arg(
        long,
        num_args = 2,
        value_names = ["METHOD", "URL"],
        conflicts_with_all = ["sql", "pgbench_script"]
    )]
    http: Option<Vec<String>>,

    /// With --http: a request header, "Name: value" (repeatable).
    #[arg(
        long = "header",
        short = 'H',
        value_name = "NAME: VALUE",
        requires = "http"
    )]
    headers: Vec<String>,

    /// With --http: the request body (sent as application/json unless a Content-Type
    /// header says otherwise).
    #[arg(long, value_name = "TEXT", requires = "http")]
    body: Option<String>,

    /// With --http: a status that counts as success (repeatable; default any 2xx). Any
    /// other status is an error counted as "HTTP <status>".
    #[arg(long, value_name = "CODE", requires = "http")]
    expect_status: Vec<u16>,

    /// With --http: the longest a request may take, sending to the last byte of the
    /// response, before it counts as a "timeout" error (default 30s).
    #[arg(long, value_name = "DURATION", value_parser = duration_arg, requires = "http")]
    http_timeout: Option<Duration>,

    /// Run the database's most called statements from its pg_stat_statements, weighted by
    /// their calls, each $n drawn from a sample of the column it is compared with. Only
    /// reads unless --include-writes. The run goes to the URL argument, or to this one.
    #[arg(
        long,
        value_name = "URL",
        conflicts_with_all = ["sql", "pgbench_script", "http"]
    )]
    from_pgss: Option<String>,

    /// With --from-pgss: how many statements, the most called first (default 20).
    #[arg(long, value_name = "N", default_value_t = 20, requires = "from_pgss")]
    top: usize,

    /// With --from-pgss: run INSERT, UPDATE and DELETE statements too. They change the
    /// data of the database the run goes to: use a copy.
    #[arg(long, requires = "from_pgss")]
    include_writes: bool,

    /// Replay a workload captured by `brisk proxy` (capture_file, JSON lines): each captured
    /// session on a connection of its own, its statements in order with their captured
    /// values, each at its captured start divided by --speed.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["sql", "pgbench_script", "http", "from_pgss", "rate", "users", "find_knee", "duration", "segment", "proxy_admin"]
    )]
    replay: Option<PathBuf>,

    /// With --replay: how much faster than captured (2: twice as fast, 0.5: half speed).
    #[arg(long, value_name = "X", default_value_t = 1.0, requires = "replay")]
    speed: f64,

    /// Operations started per second (open model).
    #[arg(long, value_name = "OPS")]
    rate: Option<f64>,

    /// How the starts are spread: evenly, or with exponential gaps (pgbench -R).
    #[arg(long, value_enum)]
    arrival: Option<ArrivalArg>,

    /// Virtual users, each running one operation after another (closed model).
    #[arg(long, value_name = "N", conflicts_with = "rate")]
    users: Option<f64>,

    /// Closed model: pause of each user between operations.
    #[arg(long, value_name = "DURATION", value_parser = duration_arg)]
    think_time: Option<Duration>,

    /// Length of the run (10s unless the scenario says): 500ms, 30s, 5m, 1h.
    #[arg(long, value_name = "DURATION", value_parser = duration_arg)]
    duration: Option<Duration>,

    /// Open model: connections, each with its share of the arrivals (default 4).
    #[arg(long, value_name = "N")]
    connections: Option<usize>,

    /// As pgbench -M: prepared (Parse once, then Bind/Execute), extended (Parse, Bind,
    /// Execute each time, unnamed) or simple (text with values written in).
    #[arg(long, value_enum)]
    protocol: Option<ProtocolArg>,

    /// Seed of the random draws (parameters, weights, Poisson gaps).
    #[arg(long)]
    seed: Option<u64>,

    /// A variable for the scripts, as pgbench -D (scale=10).
    #[arg(short = 'D', long = "define", value_name = "NAME=VALUE")]
    defines: Vec<String>,

    /// Pass/fail limit, e.g. "p95 < 100ms", "error_rate < 0.1%", "rate >= 190/s",
    /// "get_user: p99 < 20ms" (repeatable). A failed threshold exits with 99.
    #[arg(long, value_name = "EXPR")]
    threshold: Vec<String>,

    /// Stop as soon as a latency or error threshold fails (judged each second after 5 s).
    #[arg(long)]
    abort_on_fail: bool,

    /// Run the i-th of n equal parts of the load, for n machines driving one test.
    #[arg(long, value_name = "i/n")]
    segment: Option<String>,

    /// Write the JSON result (schema brisk.bench/1) to this file, also when interrupted.
    #[arg(long, short = 'o', value_name = "FILE")]
    out: Option<PathBuf>,

    /// What to print on stdout at the end.
    #[arg(long, value_enum, default_value_t = RunFormat::Text)]
    format: RunFormat,

    /// Also write the report as one self-contained HTML file (inline SVG charts, no
    /// JavaScript, nothing fetched), also when interrupted.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,

    /// No per-second lines.
    #[arg(long, short = 'q')]
    quiet: bool,

    /// Wake each operation on tokio's timer (1 ms ticks, about 1 ms of brisk's own lag
    /// at the median) instead of the run's timerfd (about 0.1 ms): less CPU per
    /// operation at high rates, coarser low percentiles.
    #[arg(long)]
    coarse_timer: bool,

    /// Find the knee: run steps of --duration each at a rising rate, from --rate, until a
    /// --threshold breaks; report the highest rate that held and every step's figures. A
    /// scenario with a [knee] section is such a search without this flag.
    #[arg(long)]
    find_knee: bool,

    /// Knee search: how the rate rises, by a rate to add (50) or a factor (default x1.5).
    #[arg(long, value_name = "STEP")]
    knee_step: Option<String>,

    /// Knee search: the highest rate tried (default 100 times the start).
    #[arg(long, value_name = "OPS")]
    knee_max: Option<f64>,

    /// Knee search: steps that bisect between the last rate that held and the first that
    /// broke (default 2).
    #[arg(long, value_name = "N")]
    knee_refine: Option<u32>,

    /// The admin console of the brisk proxy the load goes through
    /// (postgres://admin@proxy:6432/brisk): its per-fingerprint statistics during the run
    /// (calls, mean, p95) go into the report next to pg_stat_statements', with pool waits
    /// and saturation flagged.
    #[arg(long, value_name = "URL")]
    proxy_admin: Option<String>,

    /// A PEM file of CA certificates to trust for https:// requests, besides the
    /// system's (a self-signed or internal CA's certificate).
    #[arg(long, value_name = "FILE")]
    http_ca: Option<PathBuf>,

    /// Threads that run the connections (1: one event loop, as pgbench -j 1, the least CPU
    /// per operation; more when one core cannot drive the rate).
    #[arg(long, value_name = "N", default_value_t = 1)]
    threads: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CompareFormat {
    Text,
    Markdown,
    Json,
}

#[derive(Debug, Args)]
struct CompareArgs {
    /// The baseline result.
    a: PathBuf,
    /// The result compared with it.
    b: PathBuf,
    #[arg(long, value_enum, default_value_t = CompareFormat::Text)]
    format: CompareFormat,
}

#[derive(Debug, Args)]
struct MergeArgs {
    /// The results of the segments.
    #[arg(required = true)]
    results: Vec<PathBuf>,
    /// Write the merged result here instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    out: Option<PathBuf>,
    /// Also write the merged result as one self-contained HTML page.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Judge these thresholds on the merged result (exit 99 if one fails).
    #[arg(long, value_name = "EXPR")]
    threshold: Vec<String>,
}

fn duration_arg(text: &str) -> Result<Duration, String> {
    parse_duration(text)
}

/// Runs `brisk bench` on a runtime of `--threads` threads.
pub fn main(args: BenchArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        Some(BenchCommand::Compare(compare)) => run_compare(compare),
        Some(BenchCommand::Merge(merge)) => run_merge(merge),
        None => {
            let threads = args.run.threads;
            let runtime = match threads {
                0 => bail!("--threads must be at least 1"),
                1 => tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build(),
                n => tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(n)
                    .enable_all()
                    .build(),
            }
            .context("cannot start the async runtime")?;
            runtime.block_on(run_load(args.run))
        }
    }
}

async fn run_load(args: RunArgs) -> anyhow::Result<ExitCode> {
    if let Some(path) = &args.replay {
        return run_replay(&args, path).await;
    }
    let defines = args
        .defines
        .iter()
        .map(|d| match d.split_once('=') {
            Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
            _ => bail!("--define {d}: expected NAME=VALUE"),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (scenario_path, url) = split_inputs(&args.inputs)?;
    let segment = match &args.segment {
        Some(text) => Segment::parse(text)?,
        None => Segment::default(),
    };
    let mut thresholds = Vec::new();
    for text in &args.threshold {
        thresholds.push(Threshold::parse(text, None)?);
    }
    let mut scenario = match scenario_path {
        Some(path) => {
            if !args.sql.is_empty()
                || !args.pgbench_script.is_empty()
                || args.http.is_some()
                || args.from_pgss.is_some()
            {
                bail!("give either a scenario file or --sql/--pgbench-script/--http/--from-pgss, not both");
            }
            read_scenario(Path::new(path), &defines)?
        }
        None if args.from_pgss.is_some() => Scenario {
            target: None,
            operations: operations_from_pgss(&args).await?,
            settings: LoadSettings::default(),
            thresholds: Vec::new(),
            abort_on_fail: false,
            knee: None,
        },
        None => Scenario {
            target: None,
            operations: operations_from_files(&args, &defines)?,
            settings: LoadSettings::default(),
            thresholds: Vec::new(),
            abort_on_fail: false,
            knee: None,
        },
    };
    let knee_args = KneeOptions {
        step: args.knee_step.as_deref().map(KneeStep::parse).transpose()?,
        max: args.knee_max,
        refine: args.knee_refine,
    };
    let knee = match scenario.knee.take() {
        Some(options) => Some(options.overlay(knee_args)),
        None if args.find_knee => Some(knee_args),
        None if knee_args != KneeOptions::default() => {
            bail!("--knee-step, --knee-max and --knee-refine need --find-knee or a scenario with a [knee] section")
        }
        None => None,
    };
    let url = url
        .map(str::to_string)
        .or_else(|| scenario.target.clone())
        .or_else(|| args.from_pgss.clone());
    let mut plan = scenario.plan(
        settings_from_args(&args),
        thresholds,
        args.abort_on_fail,
        segment,
    )?;
    plan.precise_timer = !args.coarse_timer;
    // A plan without SQL needs no database: it gets one only when a URL names it (to read
    // its pg_stat_statements), never from PG* defaults pointing at some local server.
    let info = if plan.sends_sql() || plan.reads_queries() || url.is_some() {
        let info = ConnInfo::from_env_and_str(url.as_deref())?;
        for warning in &info.warnings {
            eprintln!("brisk: {warning}");
        }
        Some(info)
    } else {
        None
    };
    let against = {
        let mut targets: Vec<String> = info.iter().map(|i| i.redacted()).collect();
        targets.extend(plan.http_origins());
        targets.join(", ")
    };

    let proxy_admin = match &args.proxy_admin {
        Some(url) => Some(
            ConnInfo::from_env_and_str(Some(url))
                .map_err(|e| anyhow::anyhow!("--proxy-admin: {e}"))?,
        ),
        None => None,
    };
    if let Some(knee) = knee {
        if proxy_admin.is_some() || args.http_ca.is_some() {
            bail!("--proxy-admin and --http-ca do not apply to a knee search yet");
        }
        return run_knee(&args, plan, info.as_ref(), &against, &knee).await;
    }
    let open = matches!(plan.load, brisk_bench::plan::Load::Open { .. });
    let quiet = args.quiet;
    if !quiet && std::io::stderr().is_terminal() {
        eprintln!(
            "brisk bench: {} operation(s) against {against}; Ctrl-C stops and keeps the results",
            plan.operations.len(),
        );
    }
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let result = brisk_bench::run::run_watched(
        Arc::new(plan),
        info.as_ref(),
        &brisk_bench::run::RunOptions {
            proxy_admin,
            http_ca: args.http_ca.clone(),
        },
        interrupt,
        |tick| {
            if !quiet {
                eprintln!("{}", render::second_line(tick.row, open));
            }
            for warning in tick.warnings {
                eprintln!("brisk: warning: {warning}");
            }
        },
    )
    .await?;

    if let Some(path) = &args.out {
        write_json(path, &result)?;
    }
    if let Some(path) = &args.html {
        write_html(path, &result)?;
    }
    match args.format {
        RunFormat::Text => print!("{}", render::summary(&result)),
        RunFormat::Json => println!("{}", serde_json::to_string_pretty(&result)?),
        RunFormat::Html => print!("{}", brisk_bench::html::html(&result)),
    }
    Ok(if result.interrupted {
        ExitCode::from(130)
    } else if result.thresholds_failed() {
        ExitCode::from(EXIT_THRESHOLDS_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

async fn run_replay(args: &RunArgs, path: &Path) -> anyhow::Result<ExitCode> {
    let (scenario, url) = split_inputs(&args.inputs)?;
    if let Some(scenario) = scenario {
        bail!("{scenario}: give either a scenario file or --replay, not both");
    }
    let mut thresholds = Vec::new();
    for text in &args.threshold {
        thresholds.push(Threshold::parse(text, None)?);
    }
    let replay = brisk_bench::replay::read_replay(path, args.speed)?;
    let info = ConnInfo::from_env_and_str(url)?;
    for warning in &info.warnings {
        eprintln!("brisk: {warning}");
    }
    let quiet = args.quiet;
    if !quiet && std::io::stderr().is_terminal() {
        eprintln!(
            "brisk bench --replay: {} statement(s) in {} session(s) over {:.1} s against {}; Ctrl-C stops and keeps the results",
            replay.statement_count(),
            replay.sessions.len(),
            replay.planned_span_s(),
            info.redacted()
        );
    }
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let mut result = brisk_bench::replay::replay(Arc::new(replay), &info, interrupt, |row| {
        if !quiet {
            eprintln!("{}", render::second_line(row, true));
        }
    })
    .await?;
    result.judge(&thresholds);
    for warning in &result.generator.warnings {
        eprintln!("brisk: warning: {warning}");
    }
    if let Some(path) = &args.out {
        write_json(path, &result)?;
    }
    if let Some(path) = &args.html {
        write_html(path, &result)?;
    }
    match args.format {
        RunFormat::Text => print!("{}", render::summary(&result)),
        RunFormat::Json => println!("{}", serde_json::to_string_pretty(&result)?),
        RunFormat::Html => print!("{}", brisk_bench::html::html(&result)),
    }
    Ok(if result.interrupted {
        ExitCode::from(130)
    } else if result.thresholds_failed() {
        ExitCode::from(EXIT_THRESHOLDS_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

async fn run_knee(
    args: &RunArgs,
    plan: Plan,
    info: Option<&ConnInfo>,
    against: &str,
    knee: &KneeOptions,
) -> anyhow::Result<ExitCode> {
    let start = match &plan.load {
        brisk_bench::plan::Load::Open { rate, .. } => rate.max(),
        brisk_bench::plan::Load::Closed { .. } => 0.0,
    };
    let settings = knee.settings(start, plan.load.duration());
    if !args.quiet && std::io::stderr().is_terminal() {
        eprintln!(
            "brisk bench --find-knee: steps of {:?} from {start}/s against {against}; Ctrl-C stops and keeps the steps so far",
            settings.step_duration,
        );
    }
    let quiet = args.quiet;
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let knee = find_knee(plan, &settings, info, interrupt, |step| {
        if !quiet {
            eprintln!("{}", render::knee_step_line(step));
        }
    })
    .await?;
    if let Some(path) = &args.out {
        let text = serde_json::to_string_pretty(&knee)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.html {
        std::fs::write(path, brisk_bench::html::knee_html(&knee))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    match args.format {
        RunFormat::Text => print!("{}", render::knee_summary(&knee)),
        RunFormat::Json => println!("{}", serde_json::to_string_pretty(&knee)?),
        RunFormat::Html => print!("{}", brisk_bench::html::knee_html(&knee)),
    }
    Ok(if knee.interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

/// Tells the scenario file from the URL among the positional arguments.
fn split_inputs(inputs: &[String]) -> anyhow::Result<(Option<&str>, Option<&str>)> {
    let mut scenario = None;
    let mut url = None;
    for input in inputs {
        let slot = if input.ends_with(".toml") {
            &mut scenario
        } else {
            &mut url
        };
        if slot.replace(input.as_str()).is_some() {
            bail!("{input}: give at most one scenario file (.toml) and one URL");
        }
    }
    Ok((scenario, url))
}

/// `--from-pgss`: the statements that can run, and a line on stderr for each left out.
async fn operations_from_pgss(args: &RunArgs) -> anyhow::Result<Vec<Operation>> {
    let Some(url) = &args.from_pgss else {
        return Ok(Vec::new());
    };
    if args.protocol == Some(ProtocolArg::Simple) {
        bail!("--from-pgss binds its values as parameters: it runs with --protocol prepared only");
    }
    let info =
        ConnInfo::from_env_and_str(Some(url)).map_err(|e| anyhow::anyhow!("--from-pgss: {e}"))?;
    let mix = brisk_bench::pgss::read_mix(&info, args.top, args.include_writes).await?;
    if !mix.skipped.is_empty() {
        eprintln!(
            "brisk: --from-pgss: {} statement(s) kept, {} skipped:",
            mix.operations.len(),
            mix.skipped.len()
        );
        for skipped in &mix.skipped {
            let text: String = skipped
                .query
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            let text = match text.char_indices().nth(80) {
                Some((cut, _)) => format!("{}…", &text[..cut]),
                None => text,
            };
            eprintln!(
                "  skipped ({} calls): {text}: {}",
                skipped.calls, skipped.reason
            );
        }
    }
    Ok(mix.operations)
}

fn operations_from_files(
    args: &RunArgs,
    defines: &[(String, String)],
) -> Result<Vec<Operation>, BenchError> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|e| BenchError::Read {
            file: path.display().to_string(),
            reason: e.to_string(),
        })
    };
    let mut operations = Vec::new();
    for path in &args.sql {
        for (name, weight, script) in parse_sql_file(&read(path)?, path, defines)? {
            operations.push(Operation {
                name,
                weight,
                kind: OperationKind::Sql(script),
            });
        }
    }
    for arg in &args.pgbench_script {
        let (path, weight) = split_weight(arg)?;
        let path = Path::new(path);
        let script = parse_pgbench(&read(path)?, path, defines)?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| path.display().to_string());
        // Two scripts with one file name keep both, told apart by their order.
        let name = if operations.iter().any(|o: &Operation| o.name == stem) {
            format!("{stem}#{}", operations.len() + 1)
        } else {
            stem
        };
        operations.push(Operation {
            name,
            weight,
            kind: OperationKind::Sql(script),
        });
    }
    if let Some(request) = &args.http {
        operations.push(http_operation(args, request, defines)?);
    }
    Ok(operations)
}

/// `--http METHOD URL` with its headers, body, statuses and timeout, as one operation
/// named by the method and the URL's path.
fn http_operation(
    args: &RunArgs,
    request: &[String],
    defines: &[(String, String)],
) -> Result<Operation, BenchError> {
    let [method, url] = request else {
        return Err(BenchError::Argument(
            "--http takes a METHOD and a URL".into(),
        ));
    };
    let mut headers = Vec::new();
    for header in &args.headers {
        let (name, value) = header.split_once(':').ok_or_else(|| {
            BenchError::Argument(format!("--header {header}: expected \"Name: value\""))
        })?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    if args.http_timeout.is_some_and(|t| t.is_zero()) {
        return Err(BenchError::Argument(
            "--http-timeout must be above zero".into(),
        ));
    }
    let spec = HttpSpec {
        method: method.clone(),
        url: url.clone(),
        headers,
        body: args.body.clone(),
        expect: args.expect_status.clone(),
        timeout: args.http_timeout,
    };
    let mut script = Script::with_defines(defines);
    let step = HttpStep::new(&spec, &script.vars, 0)
        .map_err(|m| BenchError::Argument(format!("--http: {m}")))?;
    let name = step.label();
    script.steps.push(ScriptStep::Http(Box::new(step)));
    Ok(Operation {
        name,
        weight: 1.0,
        kind: OperationKind::Sql(script),
    })
}

fn settings_from_args(args: &RunArgs) -> LoadSettings {
    LoadSettings {
        model: if args.users.is_some() {
            Some(Model::Closed)
        } else if args.rate.is_some() {
            Some(Model::Open)
        } else {
            None
        },
        arrival: args.arrival.map(|a| match a {
            ArrivalArg::Constant => Arrival::Constant,
            ArrivalArg::Poisson => Arrival::Poisson,
        }),
        rate: args.rate,
        users: args.users,
        think_time: args.think_time,
        connections: args.connections,
        duration: args.duration,
        stages: Vec::new(),
        protocol: args.protocol.map(|p| match p {
            ProtocolArg::Prepared => Protocol::Prepared,
            ProtocolArg::Simple => Protocol::Simple,
            ProtocolArg::Extended => Protocol::Extended,
        }),
        seed: args.seed,
    }
}

fn read_result(path: &Path) -> anyhow::Result<BenchResult> {
    let text = std::fs::read_to_string(path).map_err(|e| BenchError::Read {
        file: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(BenchResult::from_json(&text, &path.display().to_string())?)
}

fn write_json(path: &Path, result: &BenchResult) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(result)?;
    std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))
}

fn write_html(path: &Path, result: &BenchResult) -> anyhow::Result<()> {
    std::fs::write(path, brisk_bench::html::html(result))
        .with_context(|| format!("cannot write {}", path.display()))
}

fn run_compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let a = read_result(&args.a)?;
    let b = read_result(&args.b)?;
    let comparison = brisk_bench::compare::compare(
        &args.a.display().to_string(),
        &a,
        &args.b.display().to_string(),
        &b,
    );
    match args.format {
        CompareFormat::Text => print!("{}", render::comparison_text(&comparison)),
        CompareFormat::Markdown => print!("{}", render::comparison_markdown(&comparison)),
        CompareFormat::Json => println!("{}", serde_json::to_string_pretty(&comparison)?),
    }
    Ok(ExitCode::SUCCESS)
}

fn run_merge(args: MergeArgs) -> anyhow::Result<ExitCode> {
    let mut results = Vec::new();
    for path in &args.results {
        results.push((path.display().to_string(), read_result(path)?));
    }
    let mut thresholds = Vec::new();
    for text in &args.threshold {
        thresholds.push(Threshold::parse(text, None)?);
    }
    let mut merged = brisk_bench::result::merge(&results)?;
    merged.judge(&thresholds);
    if let Some(path) = &args.html {
        write_html(path, &merged)?;
    }
    match &args.out {
        Some(path) => {
            write_json(path, &merged)?;
            print!("{}", render::summary(&merged));
        }
        None => println!("{}", serde_json::to_string_pretty(&merged)?),
    }
    Ok(if merged.thresholds_failed() {
        ExitCode::from(EXIT_THRESHOLDS_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}
