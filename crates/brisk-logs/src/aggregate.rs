//! Entries folded into bounded statistics: per statement (histogram, by context, top
//! samples), per error kind, per table, per minute. One [`Aggregate`] per worker; workers'
//! aggregates are merged at the end.
//!
//! Memory does not grow with the log: at most [`MAX_STATEMENTS`] statements (later ones
//! are counted as "other statements"), a few samples each, one bucket per minute of log.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use brisk_patterns::{Client, Detection, Detections, Executed, Streams, Thresholds};
use brisk_sql::FingerprintCache;
use hdrhistogram::Histogram;

use crate::entry::Entry;
use crate::message::{classify, error_pattern, parameters, Event};
use crate::prefix::Level;

/// Distinct statements followed; more are folded into one "other" row. pgBadger keeps
/// every one, which is how it runs out of memory on logs of ad-hoc SQL (darold/pgbadger
/// #643); 20,000 shapes cover the applications we have seen with room to spare.
pub const MAX_STATEMENTS: usize = 20_000;
/// The key of the "other statements" row.
pub const OTHER_KEY: u64 = u64::MAX;
/// Distinct error kinds kept; more are folded into one.
const MAX_ERROR_KINDS: usize = 1_000;
/// Contexts (database, user, application) kept per statement.
const MAX_CONTEXTS: usize = 32;
/// Slowest executions kept for the report.
pub const SLOWEST: usize = 20;
/// Slowest executions kept per statement, with their text and values, for `--workload`.
pub const SAMPLES_PER_STATEMENT: usize = 3;

/// One execution, as the report and the workload show it.
#[derive(Debug, Clone)]
pub struct Sample {
    pub ms: f64,
    pub time_ms: Option<i64>,
    pub key: u64,
    pub database: Arc<str>,
    pub user: Arc<str>,
    pub application: Arc<str>,
    pub session: Option<Arc<str>>,
    /// The text as logged and its values: kept only for `--workload`.
    pub text: Option<String>,
    pub params: Option<Vec<Option<String>>>,
}

/// Keeps the `n` largest by `ms`.
#[derive(Debug, Clone)]
pub struct TopN {
    n: usize,
    pub items: Vec<Sample>,
}

impl TopN {
    pub fn new(n: usize) -> TopN {
        TopN {
            n,
            items: Vec::new(),
        }
    }

    /// Whether a sample of `ms` would be kept (so the caller builds it only then).
    pub fn wants(&self, ms: f64) -> bool {
        self.items.len() < self.n || self.items.last().is_some_and(|s| s.ms < ms)
    }

    pub fn push(&mut self, sample: Sample) {
        if !self.wants(sample.ms) {
            return;
        }
        let at = self.items.partition_point(|s| s.ms >= sample.ms);
        self.items.insert(at, sample);
        self.items.truncate(self.n);
    }

    fn merge(&mut self, other: TopN) {
        for sample in other.items {
            self.push(sample);
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Sum {
    pub count: u64,
    pub total_ms: f64,
    pub max_ms: f64,
}

impl Sum {
    fn add(&mut self, ms: f64) {
        self.count += 1;
        self.total_ms += ms;
        self.max_ms = self.max_ms.max(ms);
    }

    fn merge(&mut self, other: Sum) {
        self.count += other.count;
        self.total_ms += other.total_ms;
        self.max_ms = self.max_ms.max(other.max_ms);
    }
}

/// (database, user, application)
pub type Context = (Arc<str>, Arc<str>, Arc<str>);

pub struct StatementStats {
    pub text: Arc<str>,
    pub parsed: bool,
    pub executions: Sum,
    /// Microseconds.
    pub histogram: Histogram<u64>,
    pub by_context: HashMap<Context, Sum>,
    pub samples: TopN,
    pub errors: u64,
    pub temp_files: u64,
    pub temp_bytes: u64,
    pub lock_waits: u64,
    pub lock_acquired: Sum,
    /// auto_explain plans, deduplicated by their shape (numbers masked): at most
    /// [`PLANS_PER_STATEMENT`], with how often each was logged.
    pub plans: Vec<(u64, String, u64)>,
}

/// Distinct plans kept per statement: a statement whose plan flips between more shapes
/// than this shows its first ones.
const PLANS_PER_STATEMENT: usize = 3;

/// The plan's shape: its text with numbers (costs, rows, times) masked.
fn plan_shape(plan: &str) -> u64 {
    let masked: String = plan
        .chars()
        .filter(|c| !c.is_ascii_digit() && *c != '.')
        .collect();
    xxhash_rust::xxh3::xxh3_64(masked.as_bytes())
}

fn add_plan(plans: &mut Vec<(u64, String, u64)>, shape: u64, plan: &str, count: u64) {
    if let Some(found) = plans.iter_mut().find(|(s, _, _)| *s == shape) {
        found.2 += count;
    } else if plans.len() < PLANS_PER_STATEMENT {
        plans.push((shape, plan.to_string(), count));
    }
}

impl StatementStats {
    fn new(text: Arc<str>, parsed: bool) -> StatementStats {
        StatementStats {
            text,
            parsed,
            executions: Sum::default(),
            // Two significant digits: percentiles within 1%, about 2 KB per statement.
            histogram: Histogram::new(2).unwrap_or_else(|_| unreachable_histogram()),
            by_context: HashMap::new(),
            samples: TopN::new(SAMPLES_PER_STATEMENT),
            errors: 0,
            temp_files: 0,
            temp_bytes: 0,
            lock_waits: 0,
            lock_acquired: Sum::default(),
            plans: Vec::new(),
        }
    }

    fn merge(&mut self, other: StatementStats) {
        self.executions.merge(other.executions);
        // Both are auto-resizing with the same precision: adding cannot fail.
        let _ = self.histogram.add(&other.histogram);
        for (context, sum) in other.by_context {
            add_context(&mut self.by_context, context, sum);
        }
        self.samples.merge(other.samples);
        self.errors += other.errors;
        self.temp_files += other.temp_files;
        self.temp_bytes += other.temp_bytes;
        self.lock_waits += other.lock_waits;
        self.lock_acquired.merge(other.lock_acquired);
        for (shape, plan, count) in other.plans {
            add_plan(&mut self.plans, shape, &plan, count);
        }
    }
}

/// `Histogram::new(2)` only fails for more than 5 significant digits.
fn unreachable_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, u64::MAX / 2, 2).unwrap_or_else(|_| std::process::abort())
}

fn add_context(map: &mut HashMap<Context, Sum>, context: Context, sum: Sum) {
    if map.len() < MAX_CONTEXTS || map.contains_key(&context) {
        map.entry(context).or_default().merge(sum);
    } else {
        let other: Arc<str> = Arc::from("(other)");
        map.entry((other.clone(), other.clone(), other))
            .or_default()
            .merge(sum);
    }
}

#[derive(Debug, Clone, Default)]
pub struct ErrorStats {
    pub level: &'static str,
    pub count: u64,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Checkpoints {
    pub started: u64,
    pub completed: Sum,
    pub buffers: u64,
    pub too_frequent: u64,
    pub min_secs_apart: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Maintenance {
    pub vacuum: Sum,
    pub analyze: Sum,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Minute {
    pub statements: Sum,
    pub errors: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Connections {
    pub received: u64,
    pub authorized: u64,
    pub disconnections: u64,
    /// Session durations in milliseconds.
    pub sessions: Sum,
    pub by_user_database: HashMap<(Arc<str>, Arc<str>), u64>,
    pub by_host: HashMap<Arc<str>, u64>,
}

/// A log session as brisk-patterns' client.
#[derive(Clone)]
struct LogSession {
    id: u64,
    database: Arc<str>,
    application: Arc<str>,
}

impl Client for LogSession {
    fn id(&self) -> u64 {
        self.id
    }
    fn database(&self) -> &str {
        &self.database
    }
    fn application_name(&self) -> &str {
        &self.application
    }
}

/// What to keep.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keep {
    /// Statement texts and values of the slowest executions, for `--workload`.
    pub values: bool,
    /// Only entries at or after this time (epoch ms).
    pub since_ms: Option<i64>,
    /// Only entries before this time (epoch ms).
    pub until_ms: Option<i64>,
}

/// The longest statement time believed: a year, in milliseconds.
const MAX_STATEMENT_MS: f64 = 365.0 * 86_400_000.0;

/// How often (in entries) sessions silent for [`brisk_patterns::STREAM_IDLE_LIMIT`] of log
/// time are forgotten.
const SWEEP_EVERY: u64 = 50_000;

pub struct Aggregate {
    keep: Keep,
    fingerprints: FingerprintCache,
    strings: HashMap<String, Arc<str>>,
    pub statements: HashMap<u64, StatementStats>,
    pub slowest: TopN,
    pub other_durations: u64,
    pub errors: HashMap<(String, String), ErrorStats>,
    pub cancellations: HashMap<String, u64>,
    pub deadlocks: u64,
    pub checkpoints: Checkpoints,
    pub maintenance: HashMap<String, Maintenance>,
    pub connections: Connections,
    pub minutes: HashMap<i64, Minute>,
    pub first_ms: Option<i64>,
    pub last_ms: Option<i64>,
    pub messages: u64,
    /// Entries left out by `--since`/`--until`.
    pub outside_window: u64,
    /// Whether statements could be followed per session (a session id or a pid).
    pub sessions_known: bool,
    streams: Streams<LogSession>,
    detections: Detections,
    /// Detections of merged workers (their streams are gone).
    pub merged_detections: Vec<Detection>,
}

impl Aggregate {
    pub fn new(keep: Keep) -> Aggregate {
        Aggregate {
            keep,
            // The proxy's size: shapes beyond it only cost a re-parse.
            fingerprints: FingerprintCache::new(10_000),
            strings: HashMap::new(),
            statements: HashMap::new(),
            slowest: TopN::new(SLOWEST),
            other_durations: 0,
            errors: HashMap::new(),
            cancellations: HashMap::new(),
            deadlocks: 0,
            checkpoints: Checkpoints::default(),
            maintenance: HashMap::new(),
            connections: Connections::default(),
            minutes: HashMap::new(),
            first_ms: None,
            last_ms: None,
            messages: 0,
            outside_window: 0,
            sessions_known: false,
            streams: Streams::default(),
            detections: Detections::default(),
            merged_detections: Vec::new(),
        }
    }

    fn intern(&mut self, text: &str) -> Arc<str> {
        if let Some(found) = self.strings.get(text) {
            return found.clone();
        }
        let value: Arc<str> = Arc::from(text);
        // Users, databases and applications are few; a log that makes them many (random
        // application names) still gets its strings, just not shared.
        if self.strings.len() < 10_000 {
            self.strings.insert(text.to_string(), value.clone());
        }
        value
    }

    /// The statement's key, with its row created on first sight.
    fn statement(&mut self, text: &str) -> u64 {
        let key = self.fingerprints.key(text);
        if self.statements.contains_key(&key.value) {
            return key.value;
        }
        if self.statements.len() >= MAX_STATEMENTS {
            self.statements
                .entry(OTHER_KEY)
                .or_insert_with(|| StatementStats::new(Arc::from("(other statements)"), false));
            return OTHER_KEY;
        }
        let normalized = brisk_sql::normalize(text.trim());
        self.statements.insert(
            key.value,
            StatementStats::new(Arc::from(normalized), key.parsed),
        );
        key.value
    }

    /// Folds one entry in.
    pub fn add(&mut self, entry: &Entry) {
        if let Some(time) = entry.time_ms {
            if self.keep.since_ms.is_some_and(|since| time < since)
                || self.keep.until_ms.is_some_and(|until| time >= until)
            {
                self.outside_window += 1;
                return;
            }
            self.first_ms = Some(self.first_ms.map_or(time, |t| t.min(time)));
            self.last_ms = Some(self.last_ms.map_or(time, |t| t.max(time)));
        }
        self.messages += 1;
        let minute = entry.time_ms.map(|t| t.div_euclid(60_000) * 60);
        if matches!(entry.level, Level::Error | Level::Fatal | Level::Panic) {
            self.error(entry, minute);
        }
        match classify(&entry.message) {
            Event::Statement { ms, text } => self.executed(entry, ms, text, minute),
            Event::OtherDuration => self.other_durations += 1,
            Event::Plan { query, plan } => {
                self.other_durations += 1;
                let key = self.statement(query);
                if let Some(stats) = self.statements.get_mut(&key) {
                    add_plan(&mut stats.plans, plan_shape(plan), plan, 1);
                }
            }
            Event::LockWaiting { .. } => {
                if let Some(key) = self.attached_statement(entry) {
                    if let Some(stats) = self.statements.get_mut(&key) {
                        stats.lock_waits += 1;
                    }
                }
            }
            Event::LockAcquired { ms, .. } => {
                if let Some(key) = self.attached_statement(entry) {
                    if let Some(stats) = self.statements.get_mut(&key) {
                        stats.lock_acquired.add(ms);
                    }
                }
            }
            Event::Deadlock => self.deadlocks += 1,
            Event::TempFile { bytes } => {
                if let Some(key) = self.attached_statement(entry) {
                    if let Some(stats) = self.statements.get_mut(&key) {
                        stats.temp_files += 1;
                        stats.temp_bytes += bytes;
                    }
                }
            }
            Event::CheckpointStarting => self.checkpoints.started += 1,
            Event::CheckpointComplete { buffers, secs } => {
                self.checkpoints.completed.add(secs * 1000.0);
                self.checkpoints.buffers += buffers;
            }
            Event::CheckpointTooFrequent { secs_apart } => {
                self.checkpoints.too_frequent += 1;
                self.checkpoints.min_secs_apart = Some(
                    self.checkpoints
                        .min_secs_apart
                        .map_or(secs_apart, |m| m.min(secs_apart)),
                );
            }
            Event::AutoVacuum { table, secs } => {
                self.maintenance_of(table).vacuum.add(secs * 1000.0)
            }
            Event::AutoAnalyze { table, secs } => {
                self.maintenance_of(table).analyze.add(secs * 1000.0)
            }
            Event::ConnectionReceived => {
                self.connections.received += 1;
                let host = self.intern(if entry.host.is_empty() {
                    host_of(&entry.message)
                } else {
                    &entry.host
                });
                *self.connections.by_host.entry(host).or_default() += 1;
            }
            Event::ConnectionAuthorized => {
                self.connections.authorized += 1;
                let user = self.intern(field_of(&entry.message, "user=").unwrap_or(&entry.user));
                let database =
                    self.intern(field_of(&entry.message, "database=").unwrap_or(&entry.database));
                *self
                    .connections
                    .by_user_database
                    .entry((user, database))
                    .or_default() += 1;
            }
            Event::Disconnection { session_secs } => {
                self.connections.disconnections += 1;
                self.connections.sessions.add(session_secs * 1000.0);
                if let Some(id) = session_id(entry) {
                    self.streams.forget(id);
                }
            }
            Event::Cancel { reason } => {
                let reason = reason.lines().next().unwrap_or(reason).to_string();
                *self.cancellations.entry(reason).or_default() += 1;
            }
            Event::Other => {}
        }
        if self.messages % SWEEP_EVERY == 0 {
            if let Some(last) = self.last_ms {
                self.streams.sweep(system_time(last));
            }
        }
    }

    fn maintenance_of(&mut self, table: &str) -> &mut Maintenance {
        if !self.maintenance.contains_key(table) {
            self.maintenance
                .insert(table.to_string(), Maintenance::default());
        }
        self.maintenance.entry(table.to_string()).or_default()
    }

    fn attached_statement(&mut self, entry: &Entry) -> Option<u64> {
        (!entry.statement.is_empty()).then(|| {
            let text = entry.statement.clone();
            self.statement(&text)
        })
    }

    fn error(&mut self, entry: &Entry, minute: Option<i64>) {
        if let Some(minute) = minute {
            self.minutes.entry(minute).or_default().errors += 1;
        }
        let level = match entry.level {
            Level::Fatal => "FATAL",
            Level::Panic => "PANIC",
            _ => "ERROR",
        };
        let mut key = (entry.sqlstate.clone(), error_pattern(&entry.message));
        if self.errors.len() >= MAX_ERROR_KINDS && !self.errors.contains_key(&key) {
            key = (String::new(), "(other errors)".to_string());
        }
        let stats = self.errors.entry(key).or_default();
        stats.level = level;
        stats.count += 1;
        if let Some(key) = self.attached_statement(entry) {
            if let Some(stats) = self.statements.get_mut(&key) {
                stats.errors += 1;
            }
        }
    }

    fn executed(&mut self, entry: &Entry, ms: f64, text: &str, minute: Option<i64>) {
        // A corrupt line can say any number; a year is longer than any statement runs.
        let ms = if ms.is_finite() {
            ms.clamp(0.0, MAX_STATEMENT_MS)
        } else {
            MAX_STATEMENT_MS
        };
        let key = self.statement(text);
        let database = self.intern(&entry.database);
        let user = self.intern(&entry.user);
        let application = self.intern(&entry.application);
        if let Some(minute) = minute {
            self.minutes.entry(minute).or_default().statements.add(ms);
        }
        let session = session_id(entry);
        let Some(stats) = self.statements.get_mut(&key) else {
            return;
        };
        stats.executions.add(ms);
        let micros = (ms * 1000.0).round().max(1.0) as u64;
        let _ = stats.histogram.record(micros);
        add_context(
            &mut stats.by_context,
            (database.clone(), user.clone(), application.clone()),
            Sum {
                count: 1,
                total_ms: ms,
                max_ms: ms,
            },
        );
        let session_label = || {
            if !entry.session.is_empty() {
                Some(Arc::from(entry.session.as_str()))
            } else {
                entry.pid.map(|pid| Arc::from(pid.to_string()))
            }
        };
        if self.keep.values && stats.samples.wants(ms) {
            stats.samples.push(Sample {
                ms,
                time_ms: entry.time_ms,
                key,
                database: database.clone(),
                user: user.clone(),
                application: application.clone(),
                session: session_label(),
                text: Some(text.to_string()),
                params: parameters(&entry.detail),
            });
        }
        let normalized = stats.text.clone();
        if self.slowest.wants(ms) {
            self.slowest.push(Sample {
                ms,
                time_ms: entry.time_ms,
                key,
                database: database.clone(),
                user: user.clone(),
                application: application.clone(),
                session: session_label(),
                text: None,
                params: None,
            });
        }
        // N+1 and row-by-row writes, per session, on the log's clock.
        if let (Some(id), Some(time)) = (session, entry.time_ms) {
            self.sessions_known = true;
            let client = LogSession {
                id,
                database,
                application,
            };
            let values = if entry.detail.starts_with("parameters: ") {
                xxhash_rust::xxh3::xxh3_64(entry.detail.as_bytes())
            } else {
                xxhash_rust::xxh3::xxh3_64(text.as_bytes())
            };
            let executed = Executed {
                fingerprint: key,
                normalized,
                query: text,
                params: values,
                duration: Duration::from_micros((ms * 1000.0) as u64),
                at: system_time(time),
            };
            self.streams.observe(
                &client,
                executed,
                &Thresholds::default(),
                &mut self.detections,
            );
        }
    }

    /// The patterns found, this worker's and merged ones', combined per (database, source,
    /// repeated).
    pub fn detections(&self) -> Vec<Detection> {
        let mut all: HashMap<(Arc<str>, Option<u64>, u64), Detection> = HashMap::new();
        for d in self
            .detections
            .snapshot()
            .into_iter()
            .chain(self.merged_detections.iter().cloned())
        {
            let key = (
                d.database.clone(),
                d.source_fingerprint,
                d.repeated_fingerprint,
            );
            match all.get_mut(&key) {
                Some(found) => {
                    found.occurrences += d.occurrences;
                    found.executions += d.executions;
                    found.total += d.total;
                    found.max_run = found.max_run.max(d.max_run);
                }
                None => {
                    all.insert(key, d);
                }
            }
        }
        let mut all: Vec<Detection> = all.into_values().collect();
        all.sort_by(|a, b| b.executions.cmp(&a.executions).then(b.total.cmp(&a.total)));
        all
    }

    /// Adds another worker's aggregate.
    pub fn merge(&mut self, other: Aggregate) {
        self.merged_detections.extend(other.detections());
        for (key, stats) in other.statements {
            let room = self.statements.len() < MAX_STATEMENTS;
            match self.statements.get_mut(&key) {
                Some(mine) => mine.merge(stats),
                None if room || key == OTHER_KEY => {
                    self.statements.insert(key, stats);
                }
                None => {
                    self.statements
                        .entry(OTHER_KEY)
                        .or_insert_with(|| {
                            StatementStats::new(Arc::from("(other statements)"), false)
                        })
                        .merge(stats);
                }
            }
        }
        self.slowest.merge(other.slowest);
        self.other_durations += other.other_durations;
        for (key, stats) in other.errors {
            let mine = self.errors.entry(key).or_default();
            mine.level = stats.level;
            mine.count += stats.count;
        }
        for (reason, count) in other.cancellations {
            *self.cancellations.entry(reason).or_default() += count;
        }
        self.deadlocks += other.deadlocks;
        let c = other.checkpoints;
        self.checkpoints.started += c.started;
        self.checkpoints.completed.merge(c.completed);
        self.checkpoints.buffers += c.buffers;
        self.checkpoints.too_frequent += c.too_frequent;
        self.checkpoints.min_secs_apart = match (self.checkpoints.min_secs_apart, c.min_secs_apart)
        {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        for (table, m) in other.maintenance {
            let mine = self.maintenance.entry(table).or_default();
            mine.vacuum.merge(m.vacuum);
            mine.analyze.merge(m.analyze);
        }
        let o = other.connections;
        self.connections.received += o.received;
        self.connections.authorized += o.authorized;
        self.connections.disconnections += o.disconnections;
        self.connections.sessions.merge(o.sessions);
        for (k, v) in o.by_user_database {
            *self.connections.by_user_database.entry(k).or_default() += v;
        }
        for (k, v) in o.by_host {
            *self.connections.by_host.entry(k).or_default() += v;
        }
        for (minute, m) in other.minutes {
            let mine = self.minutes.entry(minute).or_default();
            mine.statements.merge(m.statements);
            mine.errors += m.errors;
        }
        self.first_ms = match (self.first_ms, other.first_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_ms = match (self.last_ms, other.last_ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.messages += other.messages;
        self.outside_window += other.outside_window;
        self.sessions_known |= other.sessions_known;
    }
}

fn system_time(epoch_ms: i64) -> SystemTime {
    if epoch_ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(epoch_ms as u64)
    } else {
        UNIX_EPOCH
    }
}

/// The session a statement ran in: `%c` (or csv/json's session id), else the backend's pid
/// (unique while it lives; a disconnection ends it).
fn session_id(entry: &Entry) -> Option<u64> {
    if !entry.session.is_empty() {
        return Some(xxhash_rust::xxh3::xxh3_64(entry.session.as_bytes()));
    }
    entry.pid.map(u64::from)
}

fn field_of<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    let at = message.find(name)?;
    message[at + name.len()..].split(' ').next()
}

fn host_of(message: &str) -> &str {
    field_of(message, "host=").unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(ms: f64) -> Sample {
        let empty: Arc<str> = Arc::from("");
        Sample {
            ms,
            time_ms: None,
            key: 0,
            database: empty.clone(),
            user: empty.clone(),
            application: empty,
            session: None,
            text: None,
            params: None,
        }
    }

    #[test]
    fn top_n_keeps_the_largest_in_order() {
        let mut top = TopN::new(3);
        for ms in [5.0, 1.0, 9.0, 3.0, 7.0, 2.0] {
            top.push(sample(ms));
        }
        let kept: Vec<f64> = top.items.iter().map(|s| s.ms).collect();
        assert_eq!(kept, vec![9.0, 7.0, 5.0]);
    }
}
