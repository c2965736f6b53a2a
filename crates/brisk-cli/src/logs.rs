//! `brisk logs`: arguments, wiring and output.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use brisk_logs::{analyze_with_progress, parse_when, Options, Progress};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::output::{emit, fail_on_code, Emit, FailOn, Format};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  brisk logs /var/log/postgresql/postgresql-15-main.log*
  brisk logs --prefix '%m [%p] %q%u@%d ' postgresql.log.gz --format json > logs.json
  brisk logs postgresql.csv --since 2h --workload slow.jsonl
  brisk logs *.log --jobs 2 --fail-on warning")]
pub struct LogsArgs {
    /// Log files: stderr (any log_line_prefix), csvlog or jsonlog, plain or compressed
    /// (.gz, .zst, .lz4), in any mix.
    #[arg(required = true)]
    files: Vec<PathBuf>,

    /// The server's log_line_prefix (`SHOW log_line_prefix`), when brisk cannot detect it.
    #[arg(long, value_name = "PREFIX")]
    prefix: Option<String>,

    /// Threads reading files and chunks of big files (default: one per CPU).
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,

    /// Only messages from this time on: `2026-12-06 14:00` (UTC) or a duration back from
    /// now (`2h`).
    #[arg(long, value_name = "WHEN")]
    since: Option<String>,

    /// Only messages before this time (same forms as --since).
    #[arg(long, value_name = "WHEN")]
    until: Option<String>,

    /// Write the statements as a workload for `brisk advise --workload` (JSON lines), with
    /// the slowest executions' values when the log has them.
    #[arg(long, value_name = "FILE")]
    workload: Option<PathBuf>,

    /// Output format: the report for people, or JSON (the report schema with the tables in
    /// its `logs` object, docs/logs.md).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,

    /// Exit with status 1 when a finding is at least this severe.
    #[arg(long, value_enum, default_value_t = FailOn::None)]
    fail_on: FailOn,

    /// Text output: statements in the table, and findings per check (0: all).
    #[arg(long, value_name = "N", default_value_t = 20)]
    limit: usize,
}

pub fn run(args: LogsArgs) -> anyhow::Result<ExitCode> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let options = Options {
        prefix: args.prefix.clone(),
        // 0: one per CPU.
        jobs: args.jobs.unwrap_or(0),
        since_ms: args
            .since
            .as_deref()
            .map(|v| parse_when("--since", v, now_ms))
            .transpose()?,
        until_ms: args
            .until
            .as_deref()
            .map(|v| parse_when("--until", v, now_ms))
            .transpose()?,
        keep_values: args.workload.is_some(),
    };
    let progress = Progress::default();
    let done = std::sync::atomic::AtomicBool::new(false);
    let analysis = std::thread::scope(|scope| {
        let shown = scope.spawn(|| show_progress(&progress, &done));
        let analysis = analyze_with_progress(&args.files, &options, &progress);
        done.store(true, Ordering::Relaxed);
        let _ = shown.join();
        analysis
    })?;
    for file in &analysis.files {
        if let Some(problem) = &file.problem {
            eprintln!("brisk: {}: {problem}", file.path);
        }
    }
    if let Some(path) = &args.workload {
        let samples = analysis.workload();
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot write the workload to {}", path.display()))?;
        let mut out = std::io::BufWriter::new(file);
        brisk_workload::write_jsonl(&mut out, &samples)?;
        out.flush()?;
    }
    let address = args
        .files
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let report = analysis.report(&address);
    let how = Emit {
        format: args.format,
        fail_on: Some(args.fail_on),
        limit: args.limit,
    };
    match args.format {
        Format::Text => {
            let limit = if args.limit == 0 {
                usize::MAX
            } else {
                args.limit
            };
            let mut out = anstream::stdout();
            out.write_all(analysis.statement_table(limit).as_bytes())?;
            out.write_all(b"\n")?;
            out.flush()?;
            emit(&report, how)
        }
        Format::Json => {
            // The report's schema, plus the tables under `logs` (docs/logs.md).
            let mut document: serde_json::Value =
                serde_json::from_str(&brisk_report::render_json(&report))?;
            if let Some(object) = document.as_object_mut() {
                object.insert("logs".into(), serde_json::to_value(&analysis)?);
            }
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &document)?;
            out.write_all(b"\n")?;
            out.flush()?;
            Ok(fail_on_code(&report, args.fail_on))
        }
    }
}

/// Bytes and lines per second on a terminal's stderr while the files are read; indicatif
/// draws nothing when stderr is not a terminal.
fn show_progress(progress: &Progress, done: &std::sync::atomic::AtomicBool) {
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        bar.set_style(style);
    }
    let started = Instant::now();
    while !done.load(Ordering::Relaxed) {
        let bytes = progress.bytes.load(Ordering::Relaxed) as f64;
        let lines = progress.lines.load(Ordering::Relaxed) as f64;
        let secs = started.elapsed().as_secs_f64().max(0.001);
        bar.set_message(format!(
            "reading logs: {:.0} MB, {:.0} lines ({:.0} MB/s, {:.0} lines/s)",
            bytes / 1e6,
            lines,
            bytes / 1e6 / secs,
            lines / secs
        ));
        bar.tick();
        std::thread::sleep(Duration::from_millis(100));
    }
    bar.finish_and_clear();
}
