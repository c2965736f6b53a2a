//! The replay of a captured workload (`brisk bench --replay`): every statement of a
//! capture (docs/workload.md) runs again with its captured values, the statements of one
//! captured session in order on one connection of their own, the sessions concurrently.
//!
//! Each statement is due at its captured start (`at_ms`, counted from the first captured
//! statement) divided by the speed factor. As in the open model of [`crate::run`], latency
//! counts from that intended start: a session whose previous statement is still running
//! starts the next one late, and the wait shows as schedule lag and in the latency rather
//! than stretching the replay unnoticed. A statement without `at_ms` (an older capture) is
//! due as soon as its session's previous one is done. Results are per fingerprint, named by
//! the normalized statement, so two replays compare with `brisk bench compare`.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use brisk_pg::conninfo::ConnInfo;
use brisk_pg::{Session, SessionOptions};
use brisk_workload::{read_jsonl, WorkloadError};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_postgres::Statement;

use crate::database;
use crate::record::{Outcome, Recorder, Timing};
use crate::result::{BenchResult, ModelInfo, OperationTotals, SegmentInfo, SCHEMA};
use crate::run::{cpu_time, db_message, TextParam, CONNECTION_FAILURE};
use crate::BenchError;

/// How long statements still running after Ctrl-C may take before they are abandoned, as
/// in the other runs.
const DRAIN_AFTER_INTERRUPT: Duration = Duration::from_secs(2);

/// A capture, ready to replay.
#[derive(Debug, Clone)]
pub struct Replay {
    /// One per captured statement shape: the normalized text, unique.
    pub operations: Vec<String>,
    pub sessions: Vec<ReplaySession>,
    /// Divides the captured offsets: 2 replays twice as fast.
    pub speed: f64,
    /// Lines of statements that cannot run, left out: `$n` captured without values.
    pub skipped_lines: Vec<usize>,
    /// The capture file, for messages.
    pub file: String,
}

/// The statements of one captured session, in their captured order.
#[derive(Debug, Clone)]
pub struct ReplaySession {
    pub label: String,
    pub statements: Vec<ReplayStatement>,
}

#[derive(Debug, Clone)]
pub struct ReplayStatement {
    /// Index into [`Replay::operations`].
    pub operation: usize,
    /// The text as captured: `$n` with `params`, or literals without.
    pub query: String,
    pub params: Option<Vec<Option<String>>>,
    /// Seconds after the replay's start, already divided by the speed; `None`: right after
    /// the session's previous statement.
    pub due_s: Option<f64>,
    /// The capture file's line, for messages.
    pub line: usize,
}

impl Replay {
    /// The statements to run.
    pub fn statement_count(&self) -> usize {
        self.sessions.iter().map(|s| s.statements.len()).sum()
    }

    /// Seconds from the first due statement to the last, at this speed.
    pub fn planned_span_s(&self) -> f64 {
        self.sessions
            .iter()
            .flat_map(|s| s.statements.iter().filter_map(|st| st.due_s))
            .fold(0.0, f64::max)
    }
}

/// Reads a capture for replay at `speed`. Pattern lines (runs the proxy recognized) are
/// skipped: their executions are lines of their own. A bad line is an error naming
/// `file:line`.
pub fn read_replay(path: &Path, speed: f64) -> Result<Replay, BenchError> {
    if !(speed.is_finite() && speed > 0.0) {
        return Err(BenchError::Argument(format!(
            "--speed {speed}: expected a factor above 0 (2 replays twice as fast)"
        )));
    }
    let file_name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| BenchError::Read {
        file: file_name.clone(),
        reason: e.to_string(),
    })?;
    let workload = read_jsonl(BufReader::new(file)).map_err(|e| match e {
        WorkloadError::Line { line, message } => BenchError::Input {
            file: file_name.clone(),
            line,
            message,
        },
        WorkloadError::Io { source, .. } => BenchError::Read {
            file: file_name.clone(),
            reason: source.to_string(),
        },
    })?;
    // read_jsonl skips blank lines: recover each sample's line number for messages.
    let text = std::fs::read_to_string(path).map_err(|e| BenchError::Read {
        file: file_name.clone(),
        reason: e.to_string(),
    })?;
    let line_numbers: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, _)| i + 1)
        .collect();

    let first_ms = workload
        .samples
        .iter()
        .filter(|s| s.pattern.is_none())
        .filter_map(|s| s.at_ms)
        .fold(f64::INFINITY, f64::min);
    let mut operations: Vec<String> = Vec::new();
    let mut by_key: HashMap<String, usize> = HashMap::new();
    let mut sessions: BTreeMap<String, Vec<(u64, ReplayStatement)>> = BTreeMap::new();
    let mut skipped_lines = Vec::new();
    for (index, sample) in workload.samples.into_iter().enumerate() {
        let line = line_numbers.get(index).copied().unwrap_or(index + 1);
        if sample.pattern.is_some() {
            continue;
        }
        let input = |message: String| BenchError::Input {
            file: file_name.clone(),
            line,
            message,
        };
        if sample.calls != 1 {
            return Err(input(format!(
                "an aggregate line ({} calls) cannot be replayed: --replay takes a capture, one execution a line (brisk proxy's capture_file)",
                sample.calls
            )));
        }
        // A `$n` without its value cannot run: the proxy writes values only with
        // log_parameters on.
        let runnable = match &sample.params {
            Some(params) => brisk_workload::substitute(&sample.query, params).is_some(),
            None => brisk_workload::substitute(&sample.query, &[]).is_some(),
        };
        if !runnable {
            // A capture with log_parameters off, or a client that sent binary values
            // (which the proxy does not decode), has some of these; the rest still replay
            // and the result says how many were left out.
            skipped_lines.push(line);
            continue;
        }
        let normalized = brisk_sql::normalize(&sample.query);
        let key = sample
            .fingerprint
            .clone()
            .unwrap_or_else(|| normalized.clone());
        let operation = *by_key.entry(key).or_insert_with(|| {
            let mut name = normalized.clone();
            if operations.contains(&name) {
                name = format!("{name} ({})", operations.len() + 1);
            }
            operations.push(name);
            operations.len() - 1
        });
        let session = sample.session.clone().unwrap_or_default();
        let statements = sessions.entry(session).or_default();
        let order = sample.order.unwrap_or(statements.len() as u64);
        statements.push((
            order,
            ReplayStatement {
                operation,
                query: sample.query,
                params: sample.params,
                due_s: sample.at_ms.map(|at| (at - first_ms) / 1000.0 / speed),
                line,
            },
        ));
    }
    if operations.is_empty() {
        return Err(match skipped_lines.first() {
            Some(&line) => BenchError::Input {
                file: file_name,
                line,
                message: "the statement has $n placeholders without their values in \"params\", as every other: capture with log_parameters = true (and a client that sends text values) to replay".into(),
            },
            None => BenchError::Input {
                file: file_name,
                line: line_numbers.last().copied().unwrap_or(0),
                message: "no captured statement to replay".into(),
            },
        });
    }
    let sessions = sessions
        .into_iter()
        .map(|(label, mut statements)| {
            // The captured order; lines of one session may be interleaved or out of order.
            statements.sort_by_key(|(order, _)| *order);
            ReplaySession {
                label,
                statements: statements.into_iter().map(|(_, s)| s).collect(),
            }
        })
        .collect();
    Ok(Replay {
        operations,
        sessions,
        speed,
        skipped_lines,
        file: file_name,
    })
}

/// Replays `replay` against `info`; `interrupt` resolving (Ctrl-C) stops it, and the
/// statements that never started are counted as `not_started`. `on_second` gets each
/// second's row.
pub async fn replay(
    replay: Arc<Replay>,
    info: &ConnInfo,
    interrupt: impl Future<Output = ()>,
    mut on_second: impl FnMut(&crate::result::SecondResult),
) -> Result<BenchResult, BenchError> {
    let options = SessionOptions {
        read_only: false,
        ..SessionOptions::default()
    };
    // Every session connects before the clock starts, so connecting is not replay lag;
    // an unreachable server fails here.
    let mut connecting = JoinSet::new();
    for index in 0..replay.sessions.len() {
        let (info, options) = (info.clone(), options.clone());
        connecting.spawn(async move {
            Session::connect(&info, &options)
                .await
                .map(|s| (index, s))
                .map_err(BenchError::Connect)
        });
    }
    let mut connections: Vec<Option<Session>> = (0..replay.sessions.len()).map(|_| None).collect();
    while let Some(joined) = connecting.join_next().await {
        let (index, session) = joined.map_err(|e| BenchError::Internal(e.to_string()))??;
        connections[index] = Some(session);
    }
    let target = connections
        .first()
        .and_then(|s| s.as_ref())
        .map(|s| s.target().to_string())
        .unwrap_or_default();

    let monitor = Session::connect(info, &SessionOptions::default()).await;
    let before = match &monitor {
        Ok(monitor) => database::before(monitor).await,
        Err(e) => database::Before::Unavailable(e.to_string()),
    };

    let recorder = Arc::new(Recorder::new(&replay.operations, false));
    let planned_s = replay.planned_span_s();
    // What the capture asks for in each second: the chart's target line.
    let mut due_per_second: Vec<f64> = vec![0.0; planned_s as usize + 1];
    for statement in replay.sessions.iter().flat_map(|s| &s.statements) {
        if let Some(due) = statement.due_s {
            if let Some(slot) = due_per_second.get_mut(due as usize) {
                *slot += 1.0;
            }
        }
    }
    let threads = tokio::runtime::Handle::current().metrics().num_workers();
    let (halt_tx, halt_rx) = watch::channel(false);
    let started_unix_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let cpu_start = cpu_time();
    let start = Instant::now();
    let mut sessions = JoinSet::new();
    for (index, session) in connections.into_iter().enumerate() {
        let Some(session) = session else { continue };
        sessions.spawn(replay_session(
            replay.clone(),
            index,
            session,
            recorder.clone(),
            start,
            halt_rx.clone(),
        ));
    }

    let mut interval = tokio::time::interval_at(
        tokio::time::Instant::from_std(start + Duration::from_secs(1)),
        Duration::from_secs(1),
    );
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(interrupt);
    let mut second = 0u32;
    let mut last_cpu = cpu_start;
    let mut last_tick = start;
    let mut not_started = 0u64;
    let mut interrupted = false;
    let mut drain_deadline: Option<Instant> = None;
    let mut warnings = Vec::new();
    if let Some(first) = replay.skipped_lines.first() {
        warnings.push(format!(
            "{} captured statement(s) have $n without values (log_parameters off, or a client that sent binary values) and were not replayed; the first is {}:{first}",
            replay.skipped_lines.len(),
            replay.file
        ));
    }
    loop {
        let deadline = drain_deadline.unwrap_or(start + Duration::from_secs(86_400 * 365));
        tokio::select! {
            _ = interval.tick() => {
                second += 1;
                let now = Instant::now();
                let cpu = cpu_time();
                let wall = now.duration_since(last_tick).as_secs_f64();
                let cpu_pct = if wall > 0.0 { (cpu - last_cpu).total() / wall * 100.0 } else { 0.0 };
                let target = due_per_second.get(second as usize - 1).copied().unwrap_or(0.0);
                let row = recorder.roll(second, 1.0, target, cpu_pct);
                on_second(&row);
                last_cpu = cpu;
                last_tick = now;
            }
            joined = sessions.join_next() => match joined {
                Some(Ok(missed)) => not_started += missed,
                Some(Err(e)) if e.is_panic() => return Err(BenchError::Internal(format!("a replay session panicked: {e}"))),
                Some(Err(_)) => {}
                None => break,
            },
            _ = &mut interrupt, if !interrupted => {
                interrupted = true;
                drain_deadline = Some(Instant::now() + DRAIN_AFTER_INTERRUPT);
                let _ = halt_tx.send(true);
            }
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)), if drain_deadline.is_some() => {
                let running = sessions.len();
                sessions.abort_all();
                while sessions.join_next().await.is_some() {}
                warnings.push(format!(
                    "{running} session(s) were still running when the replay was stopped; their remaining statements are not counted"
                ));
                break;
            }
        }
    }
    let end = Instant::now();
    let duration_s = end.duration_since(start).as_secs_f64();
    let last_window = end.duration_since(last_tick).as_secs_f64();
    let cpu = cpu_time();
    let cpu_pct = if last_window > 0.0 {
        (cpu - last_cpu).total() / last_window * 100.0
    } else {
        0.0
    };
    let due = due_per_second.get(second as usize).copied().unwrap_or(0.0);
    let row = recorder.roll(second + 1, last_window, due, cpu_pct);
    if row.count + row.errors > 0 {
        on_second(&row);
    }
    let database = match &monitor {
        Ok(monitor) => database::after(monitor, before).await,
        Err(_) => database::after_unavailable(before),
    };
    let (totals, mut seconds) = (recorder.totals(), recorder.take_seconds());
    if seconds
        .last()
        .is_some_and(|r| r.count + r.errors == 0 && r.duration_s < 0.5)
    {
        seconds.pop();
    }
    let mut overall = OperationTotals::default();
    for (_, t) in &totals {
        overall.add(t);
    }
    let overall = overall.summarize("all", duration_s);
    let finished = (overall.count + overall.errors) as f64;
    let cpu_used = cpu - cpu_start;
    // Lag past a tenth of the planned span means the server (or one busy session) could not
    // keep the captured pace: the replay then measures a slower workload than the capture.
    if planned_s > 0.0 && duration_s > planned_s * 1.1 + 1.0 && !interrupted {
        warnings.push(format!(
            "the replay took {duration_s:.1} s of the {planned_s:.1} s planned: sessions fell behind the captured pace (see the schedule lag)"
        ));
    }
    Ok(BenchResult {
        schema: SCHEMA.to_string(),
        brisk_version: env!("CARGO_PKG_VERSION").to_string(),
        started_unix_ms,
        target,
        model: ModelInfo {
            kind: "replay".into(),
            arrival: None,
            connections: Some(replay.sessions.len()),
            target_rate: (planned_s > 0.0)
                .then(|| replay.statement_count() as f64 / planned_s.max(1.0)),
            users: None,
            think_time_ms: None,
        },
        protocol: "replay".into(),
        seed: 0,
        segments: vec![SegmentInfo { index: 1, count: 1 }],
        planned_duration_s: planned_s,
        duration_s,
        interrupted,
        aborted_by_threshold: false,
        not_started,
        generator: cpu_used.generator(finished, &seconds, threads, warnings),
        operations: totals
            .iter()
            .map(|(name, t)| t.summarize(name, duration_s))
            .collect(),
        overall,
        seconds,
        thresholds: Vec::new(),
        database: Some(database),
        proxy: None,
    })
}

/// Runs one captured session's statements in order; returns how many never started.
async fn replay_session(
    replay: Arc<Replay>,
    index: usize,
    session: Session,
    recorder: Arc<Recorder>,
    start: Instant,
    mut halt: watch::Receiver<bool>,
) -> u64 {
    let statements = &replay.sessions[index].statements;
    // Statements with values run prepared, once per text on this connection, as a driver
    // with a statement cache would send them.
    let mut prepared: HashMap<&str, Statement> = HashMap::new();
    for (position, statement) in statements.iter().enumerate() {
        let intended = match statement.due_s {
            Some(due) => start + Duration::from_secs_f64(due),
            None => Instant::now(),
        };
        if intended > Instant::now() {
            tokio::select! {
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(intended)) => {}
                _ = halt.changed() => {}
            }
        }
        if *halt.borrow() {
            return (statements.len() - position) as u64;
        }
        let started = Instant::now();
        let client = session.client();
        let result = match &statement.params {
            Some(values) => {
                let prepared_statement = match prepared.get(statement.query.as_str()) {
                    Some(found) => Ok(found.clone()),
                    None => client.prepare(&statement.query).await,
                };
                match prepared_statement {
                    Ok(prepared_statement) => {
                        let result = client
                            .execute_raw(
                                &prepared_statement,
                                values.iter().map(|v| v.as_deref().map(TextParam)),
                            )
                            .await
                            .map(drop);
                        prepared.insert(&statement.query, prepared_statement);
                        result
                    }
                    Err(e) => Err(e),
                }
            }
            None => client.batch_execute(&statement.query).await,
        };
        let done = Instant::now();
        let outcome = match result {
            Ok(()) => Outcome::Ok,
            Err(error) => Outcome::Failed {
                code: error
                    .code()
                    .map(|c| c.code().to_string())
                    .unwrap_or_else(|| CONNECTION_FAILURE.to_string()),
                message: db_message(&error),
            },
        };
        recorder.record(
            statement.operation,
            Timing {
                intended,
                started,
                done,
            },
            outcome,
        );
    }
    0
}
