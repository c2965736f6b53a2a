//! N+1 detection: per client, the ordered stream of fingerprints. One source statement
//! followed by at least `n_plus_one_min_repeats` executions of another fingerprint, with
//! different parameters, adding up to at least `n_plus_one_min_total`, is an N+1 (Sentry's
//! rule and defaults: 5 and 50 ms). A run of single-row INSERTs of one shape is a bulk-write
//! candidate, with or without a source.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use brisk_sql::{Lexer, TokenKind};

use super::{hash_of, Executed, ObserveSettings};
use crate::ClientInfo;

/// Detections kept; past this the least recently seen is forgotten.
const MAX_DETECTIONS: usize = 1000;
/// A client silent this long is forgotten (its run ends unjudged).
const STREAM_IDLE_LIMIT: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectionKind {
    /// One lookup per row of a source query.
    NPlusOne,
    /// Row-by-row INSERTs of one shape.
    BulkWrite,
}

impl DetectionKind {
    pub fn name(self) -> &'static str {
        match self {
            DetectionKind::NPlusOne => "n+1",
            DetectionKind::BulkWrite => "bulk-write",
        }
    }
}

/// One pattern: a (source, repeated) pair of fingerprints in one database, over every run
/// seen.
#[derive(Debug, Clone)]
pub struct Detection {
    pub kind: DetectionKind,
    pub database: Arc<str>,
    pub source_fingerprint: Option<u64>,
    /// Normalized text of the statement before the run.
    pub source: Option<Arc<str>>,
    pub repeated_fingerprint: u64,
    /// Normalized text of the repeated statement.
    pub repeated: Arc<str>,
    /// Runs that crossed the thresholds.
    pub occurrences: u64,
    /// Executions of the repeated statement in those runs.
    pub executions: u64,
    pub total: Duration,
    /// The latest run: executions and their time.
    pub last_run: u64,
    pub last_run_time: Duration,
    /// The longest run.
    pub max_run: u64,
    pub application_name: String,
    /// From a sqlcommenter-style comment of the repeated statement, when present.
    pub traceparent: Option<String>,
    pub last_seen: SystemTime,
    /// The rewrite that removes the pattern.
    pub suggestion: String,
}

type Key = (Arc<str>, Option<u64>, u64);

#[derive(Default)]
pub struct Detections {
    by_key: HashMap<Key, Detection>,
}

impl Detections {
    pub fn snapshot(&self) -> Vec<Detection> {
        let mut all: Vec<Detection> = self.by_key.values().cloned().collect();
        all.sort_by(|a, b| b.executions.cmp(&a.executions).then(b.total.cmp(&a.total)));
        all
    }

    fn get_mut(&mut self, key: &Key) -> Option<&mut Detection> {
        self.by_key.get_mut(key)
    }

    fn insert(&mut self, key: Key, detection: Detection) {
        if self.by_key.len() >= MAX_DETECTIONS && !self.by_key.contains_key(&key) {
            let oldest = self
                .by_key
                .iter()
                .min_by_key(|(_, d)| d.last_seen)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.by_key.remove(&oldest);
            }
        }
        self.by_key.insert(key, detection);
    }
}

#[derive(Clone)]
struct Statement {
    fingerprint: u64,
    text: Arc<str>,
}

struct Run {
    statement: Statement,
    source: Option<Statement>,
    insert: bool,
    count: u64,
    total: Duration,
    first_params: u64,
    varied: bool,
    /// Whether the run crossed the thresholds (and is now counted as it grows).
    reported: bool,
    /// The latest `traceparent` of the run's statements, once reported.
    traceparent: Option<String>,
}

/// A reported run that ended: the next statement had another fingerprint, or the client
/// left. The workload capture records it.
pub struct FinishedRun {
    pub kind: DetectionKind,
    pub client: Arc<ClientInfo>,
    pub source: Option<Arc<str>>,
    pub repeated: Arc<str>,
    pub executions: u64,
    pub total: Duration,
    pub traceparent: Option<String>,
    pub suggestion: String,
}

impl FinishedRun {
    fn of(run: Run, client: Arc<ClientInfo>) -> Option<FinishedRun> {
        if !run.reported {
            return None;
        }
        let kind = if run.insert {
            DetectionKind::BulkWrite
        } else {
            DetectionKind::NPlusOne
        };
        let source = run.source.map(|s| s.text);
        Some(FinishedRun {
            kind,
            suggestion: suggest(kind, &run.statement.text, source.as_deref()),
            client,
            source,
            repeated: run.statement.text,
            executions: run.count,
            total: run.total,
            traceparent: run.traceparent,
        })
    }
}

struct Stream {
    client: Arc<ClientInfo>,
    run: Option<Run>,
    last_seen: Instant,
    /// Statements seen from this client.
    statements: u64,
}

/// Every client's stream, by client id.
#[derive(Default)]
pub struct Streams {
    by_client: HashMap<u64, Stream>,
    /// Reported runs that ended since the last [`Streams::take_finished`].
    finished: Vec<FinishedRun>,
}

impl Streams {
    /// Follows one statement of a client's stream; returns its position in the stream
    /// (from 1).
    pub fn observe(
        &mut self,
        executed: &Executed,
        fingerprint: u64,
        text: Arc<str>,
        settings: &ObserveSettings,
        detections: &mut Detections,
    ) -> u64 {
        let params = executed
            .params
            .unwrap_or_else(|| hash_of(executed.query.as_ref()));
        let stream = self
            .by_client
            .entry(executed.client.id)
            .or_insert_with(|| Stream {
                client: executed.client.clone(),
                run: None,
                last_seen: Instant::now(),
                statements: 0,
            });
        stream.last_seen = Instant::now();
        stream.statements += 1;
        let order = stream.statements;
        let run = match &mut stream.run {
            Some(run) if run.statement.fingerprint == fingerprint => {
                run.count += 1;
                run.total += executed.duration;
                run.varied |= params != run.first_params;
                run
            }
            slot => {
                let source = slot.take().map(|run| {
                    let statement = run.statement.clone();
                    self.finished
                        .extend(FinishedRun::of(run, stream.client.clone()));
                    statement
                });
                slot.insert(Run {
                    insert: is_insert(&text),
                    statement: Statement { fingerprint, text },
                    source,
                    count: 1,
                    total: executed.duration,
                    first_params: params,
                    varied: false,
                    reported: false,
                    traceparent: None,
                })
            }
        };
        let key = || {
            (
                Arc::<str>::from(executed.client.database.as_str()),
                run.source.as_ref().map(|s| s.fingerprint),
                run.statement.fingerprint,
            )
        };
        if run.reported {
            if let Some(detection) = detections.get_mut(&key()) {
                detection.executions += 1;
                detection.total += executed.duration;
                detection.last_run = run.count;
                detection.last_run_time = run.total;
                detection.max_run = detection.max_run.max(run.count);
                detection.last_seen = SystemTime::now();
                if let Some(trace) = traceparent(&executed.query) {
                    detection.traceparent = Some(trace.clone());
                    run.traceparent = Some(trace);
                }
            }
            return order;
        }
        let kind = if run.insert {
            DetectionKind::BulkWrite
        } else {
            DetectionKind::NPlusOne
        };
        let qualifies = run.count >= settings.n_plus_one_min_repeats.max(2)
            && run.total >= settings.n_plus_one_min_total
            && run.varied
            && (kind == DetectionKind::BulkWrite || run.source.is_some());
        if !qualifies {
            return order;
        }
        run.reported = true;
        let key = key();
        let trace = traceparent(&executed.query);
        run.traceparent = trace.clone();
        if let Some(detection) = detections.get_mut(&key) {
            detection.occurrences += 1;
            detection.executions += run.count;
            detection.total += run.total;
            detection.last_run = run.count;
            detection.last_run_time = run.total;
            detection.max_run = detection.max_run.max(run.count);
            detection.application_name = executed.client.application_name.clone();
            detection.traceparent = trace;
            detection.last_seen = SystemTime::now();
            return order;
        }
        let source = run.source.as_ref().map(|s| s.text.clone());
        let suggestion = suggest(kind, &run.statement.text, source.as_deref());
        tracing::warn!(
            kind = kind.name(),
            database = %key.0,
            source = source.as_deref().unwrap_or(""),
            repeated = %run.statement.text,
            executions = run.count,
            total_ms = run.total.as_secs_f64() * 1000.0,
            application_name = %executed.client.application_name,
            traceparent = trace.as_deref().unwrap_or(""),
            suggestion = %suggestion,
            "repeated statement pattern"
        );
        detections.insert(
            key.clone(),
            Detection {
                kind,
                database: key.0,
                source_fingerprint: key.1,
                source,
                repeated_fingerprint: key.2,
                repeated: run.statement.text.clone(),
                occurrences: 1,
                executions: run.count,
                total: run.total,
                last_run: run.count,
                last_run_time: run.total,
                max_run: run.count,
                application_name: executed.client.application_name.clone(),
                traceparent: trace,
                last_seen: SystemTime::now(),
                suggestion,
            },
        );
        order
    }

    /// Ends a client's stream: a run in progress is finished.
    pub fn forget(&mut self, client: u64) {
        if let Some(stream) = self.by_client.remove(&client) {
            self.finish(stream);
        }
    }

    /// Forgets clients silent for long (their end was dropped when the channel was full).
    pub fn sweep(&mut self) {
        let stale: Vec<u64> = self
            .by_client
            .iter()
            .filter(|(_, stream)| stream.last_seen.elapsed() >= STREAM_IDLE_LIMIT)
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            self.forget(id);
        }
    }

    fn finish(&mut self, stream: Stream) {
        if let Some(run) = stream.run {
            self.finished.extend(FinishedRun::of(run, stream.client));
        }
    }

    /// The reported runs that ended since the last call.
    pub fn take_finished(&mut self) -> Vec<FinishedRun> {
        std::mem::take(&mut self.finished)
    }
}

fn is_insert(text: &str) -> bool {
    brisk_sql::starts_with_keyword(text, &["insert"])
}

/// The value of `traceparent='...'` in a sqlcommenter-style comment.
pub fn traceparent(query: &str) -> Option<String> {
    for token in Lexer::new(query) {
        if !matches!(token.kind, TokenKind::BlockComment | TokenKind::LineComment) {
            continue;
        }
        let Some(at) = token.text.find("traceparent=") else {
            continue;
        };
        let rest = &token.text[at + "traceparent=".len()..];
        let rest = rest.strip_prefix('\'').unwrap_or(rest);
        let value: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '%')
            .collect();
        let value = value.replace("%2D", "-").replace("%2d", "-");
        if !value.is_empty() {
            return Some(value);
        }
    }
    None
}

/// The rewrite that turns the run into one statement.
pub fn suggest(kind: DetectionKind, repeated: &str, source: Option<&str>) -> String {
    match kind {
        DetectionKind::BulkWrite => {
            let table = insert_target(repeated).unwrap_or_else(|| "the table".into());
            format!(
                "write the rows in one statement: INSERT INTO {table} ... VALUES (...), (...), ... \
                 with every row, or COPY {table} FROM STDIN for thousands"
            )
        }
        DetectionKind::NPlusOne => {
            let batched = match any_rewrite(repeated) {
                Some(rewrite) => {
                    format!("run it once for every key: {rewrite} (with the keys as one array)")
                }
                None => "fetch every row in one statement (WHERE key = ANY($1) with the keys as one array)".into(),
            };
            match source {
                Some(_) => format!("{batched}, or join it into the source query"),
                None => batched,
            }
        }
    }
}

/// `col = $n` as `col = ANY($n)`, when the statement compares exactly one column to a
/// parameter (other parameters, such as a LIMIT, may stand elsewhere).
fn any_rewrite(text: &str) -> Option<String> {
    let tokens: Vec<_> = Lexer::new(text).filter(|t| !t.kind.is_trivia()).collect();
    let mut keys = tokens.windows(3).filter(|w| {
        matches!(
            w[0].kind,
            TokenKind::Identifier | TokenKind::QuotedIdentifier
        ) && w[1].text == "="
            && w[2].kind == TokenKind::Parameter
    });
    let key = keys.next()?;
    if keys.next().is_some() {
        return None;
    }
    let parameter = key[2].text;
    let offset = parameter.as_ptr() as usize - text.as_ptr() as usize;
    Some(format!(
        "{}ANY({parameter}){}",
        &text[..offset],
        &text[offset + parameter.len()..]
    ))
}

/// The table an INSERT writes, as written.
fn insert_target(text: &str) -> Option<String> {
    let mut words = Lexer::new(text).filter(|t| !t.kind.is_trivia());
    let insert = words.next()?;
    let into = words.next()?;
    if !insert.text.eq_ignore_ascii_case("insert") || !into.text.eq_ignore_ascii_case("into") {
        return None;
    }
    let mut name = String::new();
    for token in words {
        match token.kind {
            TokenKind::Identifier | TokenKind::QuotedIdentifier => name.push_str(token.text),
            TokenKind::Dot => name.push('.'),
            _ => break,
        }
    }
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_key_lookups_get_an_any_rewrite() {
        assert_eq!(
            any_rewrite("SELECT * FROM users WHERE id = $1").as_deref(),
            Some("SELECT * FROM users WHERE id = ANY($1)")
        );
        assert_eq!(
            any_rewrite("SELECT * FROM t WHERE a = $1 AND b = $2"),
            None,
            "two keys have no single-array rewrite"
        );
        assert_eq!(any_rewrite("SELECT * FROM t WHERE a > $1"), None);
        assert_eq!(
            any_rewrite("SELECT name, pg_sleep($2) FROM authors WHERE id = $1 LIMIT $3").as_deref(),
            Some("SELECT name, pg_sleep($2) FROM authors WHERE id = ANY($1) LIMIT $3")
        );
    }

    #[test]
    fn inserts_name_their_table() {
        assert_eq!(
            insert_target("INSERT INTO app.events (a, b) VALUES ($1, $2)").as_deref(),
            Some("app.events")
        );
        assert!(is_insert("/* c */ insert into t values ($1)"));
        assert!(!is_insert("SELECT 1"));
    }

    #[test]
    fn traceparent_comes_from_sqlcommenter_comments() {
        let query = "SELECT 1 /*application='shop',traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'*/";
        assert_eq!(
            traceparent(query).as_deref(),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        );
        assert_eq!(traceparent("SELECT 'traceparent=1'"), None);
    }
}
