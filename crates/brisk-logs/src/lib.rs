//! brisk-logs: PostgreSQL server logs read into per-statement statistics, events and
//! findings.
//!
//! It reads stderr logs with any `log_line_prefix` (compiled from its `%` escapes, or
//! detected from the first lines), syslog, csvlog and jsonlog, plain or compressed (gzip,
//! zstd, lz4, xz, bzip2), and folds each message into bounded statistics: per normalized statement (the
//! key is brisk-sql's `FingerprintCache::key`, the proxy's), errors by SQLSTATE, lock waits,
//! temporary files, checkpoints, autovacuum, connections, cancellations, a per-minute series,
//! and N+1 patterns per session with brisk-patterns' detector on the log's own clock.
//!
//! Files, and line-aligned chunks of big plain files, are read in parallel, one thread per
//! job. Memory does not grow with the log: every table is bounded (see `aggregate`).
//!
//! It never writes anything and never opens a connection; values of parameters are kept only
//! for [`Analysis::workload`], never in a report.
//!
//! ```no_run
//! use brisk_logs::{analyze, Options};
//!
//! let analysis = analyze(&["postgresql.log".into()], &Options::default()).unwrap();
//! print!("{}", analysis.statement_table(20));
//! ```

mod aggregate;
mod analysis;
mod entry;
mod html;
mod input;
mod message;
mod prefix;
pub mod settings;
mod state;
mod syslog;
mod time;

use std::path::PathBuf;

pub use analysis::{iso, Analysis, StatementRow};
pub use html::html;
pub use input::{Progress, MAX_LINE};
pub use prefix::{detect, Field, Prefix, COMMON_PREFIXES};
pub use time::parse_datetime;

/// What went wrong, in words that say what to do.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// `--prefix` is not a `log_line_prefix`.
    #[error("--prefix `{prefix}`: {reason}")]
    Prefix { prefix: String, reason: String },
    /// No file gave a single message.
    #[error("{0}")]
    NothingRead(String),
    /// The `--state` file cannot be read or written.
    #[error("--state {path}: {reason}")]
    State { path: String, reason: String },
    /// A `--since`/`--until` value that is neither a time nor a duration.
    #[error("{flag} `{value}`: give a time (2026-12-06 14:00[:00]) or a duration back from now (90s, 15m, 2h, 7d)")]
    Time { flag: &'static str, value: String },
}

/// How to read the logs.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The server's `log_line_prefix`; detected per file when `None`.
    pub prefix: Option<String>,
    /// Threads; 0 means one per CPU.
    pub jobs: usize,
    /// Only messages at or after this time (epoch milliseconds).
    pub since_ms: Option<i64>,
    /// Only messages before this time (epoch milliseconds).
    pub until_ms: Option<i64>,
    /// Keep the slowest executions' text and values, for [`Analysis::workload`].
    pub keep_values: bool,
    /// The incremental mode: read each file from where the last run with this state file
    /// stopped (a rotated or truncated file from its start), and remember where this one
    /// stopped. The file is written only when the read succeeds.
    pub state: Option<PathBuf>,
}

/// Reads `paths` and aggregates them. Files that cannot be read are reported in
/// [`Analysis::files`] (and the report's notes); it fails only when no file gave a message.
pub fn analyze(paths: &[PathBuf], options: &Options) -> Result<Analysis, LogError> {
    analyze_with_progress(paths, options, &Progress::default())
}

/// [`analyze`], counting bytes and lines read into `progress` as it goes.
pub fn analyze_with_progress(
    paths: &[PathBuf],
    options: &Options,
    progress: &Progress,
) -> Result<Analysis, LogError> {
    let prefix = options.prefix.as_deref().map(Prefix::compile).transpose()?;
    let jobs = if options.jobs == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        options.jobs
    };
    let keep = aggregate::Keep {
        values: options.keep_values,
        since_ms: options.since_ms,
        until_ms: options.until_ms,
    };
    let state = options
        .state
        .as_deref()
        .map(state::State::load)
        .transpose()?;
    let resume: Option<Vec<u64>> = state
        .as_ref()
        .map(|s| paths.iter().map(|p| s.resume(p)).collect());
    let read = input::read_all(
        paths,
        resume.as_deref(),
        prefix.as_ref(),
        jobs,
        keep,
        progress,
    );
    let remembered: Vec<state::FileState> = read
        .files
        .iter()
        .filter_map(|f| {
            let offset = f.end_offset?;
            let (device, inode) = state::identity(&f.path)?;
            Some(state::FileState {
                path: f.path.display().to_string(),
                device,
                inode,
                head: state::head(&f.path, offset)?,
                offset,
            })
        })
        .collect();
    let analysis = Analysis::build(read.aggregate, read.files);
    let read_any = analysis
        .files
        .iter()
        .any(|f| f.problem.is_none() || f.lines > f.unmatched_lines);
    if analysis.messages == 0 && analysis.outside_window == 0 && !read_any {
        let reasons: Vec<String> = analysis
            .files
            .iter()
            .map(|f| {
                format!(
                    "{}: {}",
                    f.path,
                    f.problem.as_deref().unwrap_or("no messages")
                )
            })
            .collect();
        return Err(LogError::NothingRead(reasons.join("; ")));
    }
    if let (Some(path), Some(mut state)) = (&options.state, state) {
        // Files of earlier runs not given this time are kept, for the run that gives them.
        state
            .files
            .retain(|old| !remembered.iter().any(|new| new.path == old.path));
        state.files.extend(remembered);
        state.save(path)?;
    }
    Ok(analysis)
}

/// Reads a `--since`/`--until` value: a time (`2026-12-06 14:00`, seconds optional, UTC) or
/// a duration back from `now_ms` (`90s`, `15m`, `2h`, `7d`).
pub fn parse_when(flag: &'static str, value: &str, now_ms: i64) -> Result<i64, LogError> {
    let bad = || LogError::Time {
        flag,
        value: value.to_string(),
    };
    let value = value.trim();
    let unit = |c: char| match c {
        's' => Some(1_000),
        'm' => Some(60_000),
        'h' => Some(3_600_000),
        'd' => Some(86_400_000),
        _ => None,
    };
    if let Some(last) = value.chars().last() {
        if let (Some(ms), Ok(n)) = (unit(last), value[..value.len() - 1].parse::<i64>()) {
            return Ok(now_ms - n * ms);
        }
    }
    let padded = match value.len() {
        10 => format!("{value} 00:00:00"),
        16 => format!("{value}:00"),
        _ => value.to_string(),
    };
    match parse_datetime(&padded) {
        Some((ms, len)) if len == padded.len() => Ok(ms),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_values() {
        let now = 1_796_518_923_456;
        assert_eq!(parse_when("--since", "1h", now).unwrap(), now - 3_600_000);
        assert_eq!(
            parse_when("--since", "2026-12-06 01:02", now).unwrap(),
            1_796_518_920_000
        );
        assert_eq!(
            parse_when("--since", "2026-12-06", now).unwrap(),
            1_796_515_200_000
        );
        assert!(parse_when("--since", "yesterday", now).is_err());
    }
}
