//! `brisk logs`: arguments, wiring and output.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use brisk_logs::{analyze_with_progress, parse_when, Options, Progress};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use crate::output::{emit, fail_on_code, Emit, FailOn, Format};

/// `--format` of `brisk logs`: the shared text and JSON, and a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogsFormat {
    /// For people: the statement table, then the findings.
    Text,
    /// For programs: the report schema with the tables in its `logs` object.
    Json,
    /// One self-contained HTML page with charts, which opens offline.
    Html,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  brisk logs /var/log/postgresql/postgresql-15-main.log*
  brisk logs --prefix '%m [%p] %q%u@%d ' postgresql.log.gz --format html > logs.html
  brisk logs postgres://localhost/shop --since 1h --workload slow.jsonl
  brisk logs settings postgres://localhost/shop")]
pub struct LogsArgs {
    /// Log files: stderr (any log_line_prefix), syslog, csvlog or jsonlog, plain or
    /// compressed (.gz, .zst, .lz4, .xz, .bz2), in any mix. Or a server's URL: its log
    /// files when this machine can read them, with its log_line_prefix. Or `settings URL`:
    /// whether the server logs what the report needs, and what to change.
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

    /// Incremental mode: read only what was appended since the last run with this file,
    /// and remember where this one stopped (a rotated or truncated log is read from its
    /// start). The file is created if missing.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,

    /// Output format: the report for people, JSON (the report schema with the tables in
    /// its `logs` object, docs/logs.md), or one self-contained HTML page with charts.
    #[arg(long, value_enum, default_value_t = LogsFormat::Text)]
    format: LogsFormat,

    /// Exit with status 1 when a finding is at least this severe.
    #[arg(long, value_enum, default_value_t = FailOn::None)]
    fail_on: FailOn,

    /// Text output: statements in the table, and findings per check (0: all).
    #[arg(long, value_name = "N", default_value_t = 20)]
    limit: usize,
}

/// A URL or a libpq `key=value` string rather than a file name.
fn is_url(arg: &std::path::Path) -> bool {
    arg.to_str().is_some_and(|a| {
        a.starts_with("postgres://")
            || a.starts_with("postgresql://")
            || (a.contains('=') && !arg.exists())
    })
}

pub fn run(mut args: LogsArgs) -> anyhow::Result<ExitCode> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let since_ms = args
        .since
        .as_deref()
        .map(|v| parse_when("--since", v, now_ms))
        .transpose()?;
    match args.files.as_slice() {
        [word, url] if word.as_os_str() == "settings" && is_url(url) => {
            let url = url.display().to_string();
            return crate::block_on(settings(url, args.format));
        }
        [url] if is_url(url) => {
            let url = url.display().to_string();
            let server = crate::block_on(read_settings(url))?;
            let located = brisk_logs::settings::locate(
                &server.settings,
                server.current_logfile.as_deref(),
                since_ms,
            )
            .map_err(|why| anyhow::anyhow!("{}: {why}", server.target))?;
            for file in &located.files {
                eprintln!("brisk: reading {}", file.display());
            }
            args.files = located.files;
            if args.prefix.is_none() {
                args.prefix = Some(located.prefix);
            }
        }
        _ => {}
    }
    let options = Options {
        prefix: args.prefix.clone(),
        // 0: one per CPU.
        jobs: args.jobs.unwrap_or(0),
        since_ms,
        until_ms: args
            .until
            .as_deref()
            .map(|v| parse_when("--until", v, now_ms))
            .transpose()?,
        keep_values: args.workload.is_some(),
        state: args.state.clone(),
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
    match args.format {
        LogsFormat::Text => {
            let how = Emit {
                format: Format::Text,
                fail_on: Some(args.fail_on),
                limit: args.limit,
            };
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
        LogsFormat::Html => {
            let mut out = std::io::stdout().lock();
            out.write_all(brisk_logs::html(&analysis, &report).as_bytes())?;
            out.flush()?;
            Ok(fail_on_code(&report, args.fail_on))
        }
        LogsFormat::Json => {
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

/// What `brisk logs URL` and `brisk logs settings URL` read from the server.
struct Server {
    target: String,
    settings: std::collections::BTreeMap<String, String>,
    current_logfile: Option<String>,
}

async fn read_settings(url: String) -> anyhow::Result<Server> {
    let (_, session, progress) =
        crate::connect::connect(Some(&url), &brisk_pg::SessionOptions::default(), |info| {
            format!("reading the log settings of {}", info.redacted())
        })
        .await?;
    session.begin().await?;
    let names = brisk_logs::settings::SETTINGS
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = session
        .query(
            "log settings",
            &format!("SELECT name, setting FROM pg_catalog.pg_settings WHERE name IN ({names})"),
            &[],
        )
        .await?;
    let settings = rows
        .iter()
        .filter_map(|row| {
            Some((
                row.try_get::<_, String>(0).ok()?,
                row.try_get::<_, String>(1).ok()?,
            ))
        })
        .collect();
    // pg_current_logfile() is for superusers and pg_monitor; without the right it is not
    // called (an error would end the transaction). csvlog and jsonlog first: they carry
    // every field whatever the prefix, and one format is read, not the same messages twice.
    let rows = session
        .query(
            "current log file",
            "SELECT CASE WHEN pg_catalog.has_function_privilege('pg_catalog.pg_current_logfile(text)', 'EXECUTE') \
             THEN pg_catalog.pg_current_logfile(d) END \
             FROM unnest(ARRAY['jsonlog', 'csvlog', 'stderr']) WITH ORDINALITY AS f(d, n) ORDER BY n",
            &[],
        )
        .await?;
    let current_logfile = rows
        .iter()
        .find_map(|row| row.try_get::<_, Option<String>>(0).ok().flatten());
    session.commit().await?;
    drop(progress);
    Ok(Server {
        target: session.target().to_string(),
        settings,
        current_logfile,
    })
}

async fn settings(url: String, format: LogsFormat) -> anyhow::Result<ExitCode> {
    use brisk_logs::settings::{advise, Verdict};
    let server = read_settings(url).await?;
    let advice = advise(&server.settings);
    if format == LogsFormat::Json {
        let document = serde_json::json!({
            "target": server.target,
            "settings": advice,
            "current_logfile": server.current_logfile,
        });
        println!("{}", serde_json::to_string_pretty(&document)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    out.push_str(&format!("Log settings of {}\n\n", server.target));
    for a in &advice {
        let word = match a.verdict {
            Verdict::Ok => "ok",
            Verdict::Change => "change",
            Verdict::Better => "better",
        };
        out.push_str(&format!(
            "  {word:<7} {} = {}\n          {}\n",
            a.setting,
            if a.current.is_empty() {
                "''".to_string()
            } else {
                a.current.clone()
            },
            a.why
        ));
    }
    let changes: Vec<_> = advice.iter().filter(|a| a.alter.is_some()).collect();
    if changes.is_empty() {
        out.push_str("\nThe server logs what brisk logs reports on.\n");
    } else {
        out.push_str("\nTo change (as a superuser):\n\n");
        for a in &changes {
            out.push_str(&format!("  {}\n", a.alter.as_deref().unwrap_or_default()));
        }
        if changes.iter().any(|a| a.restart) {
            out.push_str(
                "  -- then restart the server: logging_collector takes effect only at start\n",
            );
        } else {
            out.push_str("  SELECT pg_reload_conf();\n");
        }
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}
