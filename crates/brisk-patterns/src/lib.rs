//! brisk-patterns: repeated-statement patterns in a client's stream of statements.
//!
//! An N+1 is one source statement followed by a run of executions of another statement, one
//! per row of the source, with different parameters. A row-by-row write is a run of
//! single-row `INSERT`s of one shape. Both are one statement's work spread over many round
//! trips; [`suggest`] gives the rewrite that makes them one.
//!
//! The rule and its defaults are Sentry's: at least 5 repeats ([`Thresholds::min_repeats`])
//! adding up to at least 50 ms ([`Thresholds::min_total`]), with varying parameters (the
//! same statement with the same values is a cache problem, not an N+1).
//!
//! The proxy feeds it every statement it relays; the log reader feeds it the statements of a
//! log, with the log's own times. So this crate never reads a clock, logs nothing and does no
//! I/O: the caller gives each statement its time, its key (brisk-sql's
//! `FingerprintCache::key`, the same for both) and a hash of its values, and decides what to
//! do with a new [`Detection`] and the [`FinishedRun`]s.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::{Duration, SystemTime};
//! use brisk_patterns::{Detections, Executed, Streams, Thresholds};
//!
//! #[derive(Clone)]
//! struct App;
//! impl brisk_patterns::Client for App {
//!     fn id(&self) -> u64 { 1 }
//!     fn database(&self) -> &str { "shop" }
//!     fn application_name(&self) -> &str { "web" }
//! }
//!
//! let (mut streams, mut detections) = (Streams::default(), Detections::default());
//! let at = SystemTime::UNIX_EPOCH;
//! let mut run = |fingerprint, text: &str, params| {
//!     let executed = Executed {
//!         fingerprint,
//!         normalized: Arc::from(text),
//!         query: text,
//!         params,
//!         duration: Duration::from_millis(20),
//!         at,
//!     };
//!     streams.observe(&App, executed, &Thresholds::default(), &mut detections).new
//! };
//! run(1, "SELECT id FROM orders WHERE user_id = $1", 0);
//! let found: Vec<_> = (0..5).filter_map(|i| run(2, "SELECT * FROM items WHERE order_id = $1", i)).collect();
//! assert_eq!(found.len(), 1);
//! assert_eq!(found[0].suggestion, "run it once for every key: SELECT * FROM items WHERE order_id = ANY($1) \
//!     (with the keys as one array), or join it into the source query");
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use brisk_sql::{Lexer, TokenKind};

mod orm;

pub use orm::{orm_hint, Orm};

/// Detections kept; past this the least recently seen is forgotten.
const MAX_DETECTIONS: usize = 1000;
/// A client silent this long is forgotten (its run ends unjudged).
pub const STREAM_IDLE_LIMIT: Duration = Duration::from_secs(600);

/// When a run is a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Executions of one statement in a run (at least 2).
    pub min_repeats: u64,
    /// ...adding up to at least this long.
    pub min_total: Duration,
}

impl Default for Thresholds {
    /// Sentry's N+1 defaults: 5 repeats, 50 ms in total.
    fn default() -> Thresholds {
        Thresholds {
            min_repeats: 5,
            min_total: Duration::from_millis(50),
        }
    }
}

/// Who sent a statement: the proxy's client, or a log's session.
pub trait Client: Clone {
    /// Unique among the streams followed at once.
    fn id(&self) -> u64;
    fn database(&self) -> &str;
    fn application_name(&self) -> &str;
}

/// One executed statement of a client's stream.
#[derive(Debug, Clone)]
pub struct Executed<'a> {
    /// Its key (`FingerprintCache::key`).
    pub fingerprint: u64,
    /// Its text with values replaced by `$n`.
    pub normalized: Arc<str>,
    /// The text as sent, for its sqlcommenter `traceparent`.
    pub query: &'a str,
    /// A hash of its values (the bound parameters, or the text when they are in it): a run
    /// of one statement with the same values is not an N+1.
    pub params: u64,
    pub duration: Duration,
    /// When it ran: the proxy's clock, or the log line's time.
    pub at: SystemTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectionKind {
    /// One lookup per row of a source query.
    NPlusOne,
    /// Row-by-row INSERTs of one shape.
    BulkWrite,
}

impl DetectionKind {
    /// The name reports and the capture use.
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
    /// The ORM's own idiom for it, when the client or the SQL shows which ORM sent it.
    pub orm_hint: Option<String>,
}

type Key = (Arc<str>, Option<u64>, u64);

/// Every pattern found, by (database, source, repeated).
#[derive(Default)]
pub struct Detections {
    by_key: HashMap<Key, Detection>,
}

impl Detections {
    /// The patterns, most executions first.
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

impl Run {
    fn kind(&self) -> DetectionKind {
        if self.insert {
            DetectionKind::BulkWrite
        } else {
            DetectionKind::NPlusOne
        }
    }
}

/// A reported run that ended: the next statement had another fingerprint, or the client
/// left. The proxy's workload capture records it.
pub struct FinishedRun<C> {
    pub kind: DetectionKind,
    pub client: C,
    pub source: Option<Arc<str>>,
    pub repeated: Arc<str>,
    pub executions: u64,
    pub total: Duration,
    pub traceparent: Option<String>,
    pub suggestion: String,
}

impl<C: Client> FinishedRun<C> {
    fn of(run: Run, client: C) -> Option<FinishedRun<C>> {
        if !run.reported {
            return None;
        }
        let kind = run.kind();
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

struct Stream<C> {
    client: C,
    run: Option<Run>,
    last_seen: SystemTime,
    /// Statements seen from this client.
    statements: u64,
}

/// What [`Streams::observe`] found.
pub struct Observed {
    /// The statement's position in its client's stream, from 1.
    pub order: u64,
    /// A pattern seen for the first time, for the caller to log.
    pub new: Option<Detection>,
}

/// Every client's stream, by client id.
pub struct Streams<C> {
    by_client: HashMap<u64, Stream<C>>,
    /// Reported runs that ended since the last [`Streams::take_finished`].
    finished: Vec<FinishedRun<C>>,
}

impl<C> Default for Streams<C> {
    fn default() -> Streams<C> {
        Streams {
            by_client: HashMap::new(),
            finished: Vec::new(),
        }
    }
}

impl<C: Client> Streams<C> {
    /// Follows one statement of `client`'s stream.
    pub fn observe(
        &mut self,
        client: &C,
        executed: Executed<'_>,
        thresholds: &Thresholds,
        detections: &mut Detections,
    ) -> Observed {
        let Executed {
            fingerprint,
            normalized: text,
            query,
            params,
            duration,
            at,
        } = executed;
        let stream = self.by_client.entry(client.id()).or_insert_with(|| Stream {
            client: client.clone(),
            run: None,
            last_seen: at,
            statements: 0,
        });
        stream.last_seen = at;
        stream.statements += 1;
        let order = stream.statements;
        let run = match &mut stream.run {
            Some(run) if run.statement.fingerprint == fingerprint => {
                run.count += 1;
                run.total += duration;
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
                    insert: brisk_sql::starts_with_keyword(&text, &["insert"]),
                    statement: Statement { fingerprint, text },
                    source,
                    count: 1,
                    total: duration,
                    first_params: params,
                    varied: false,
                    reported: false,
                    traceparent: None,
                })
            }
        };
        let key = || {
            (
                Arc::<str>::from(client.database()),
                run.source.as_ref().map(|s| s.fingerprint),
                run.statement.fingerprint,
            )
        };
        if run.reported {
            if let Some(detection) = detections.get_mut(&key()) {
                detection.executions += 1;
                detection.total += duration;
                detection.last_run = run.count;
                detection.last_run_time = run.total;
                detection.max_run = detection.max_run.max(run.count);
                detection.last_seen = at;
                if let Some(trace) = traceparent(query) {
                    detection.traceparent = Some(trace.clone());
                    run.traceparent = Some(trace);
                }
            }
            return Observed { order, new: None };
        }
        let kind = run.kind();
        let qualifies = run.count >= thresholds.min_repeats.max(2)
            && run.total >= thresholds.min_total
            && run.varied
            && (kind == DetectionKind::BulkWrite || run.source.is_some());
        if !qualifies {
            return Observed { order, new: None };
        }
        run.reported = true;
        let key = key();
        let trace = traceparent(query);
        run.traceparent = trace.clone();
        if let Some(detection) = detections.get_mut(&key) {
            detection.occurrences += 1;
            detection.executions += run.count;
            detection.total += run.total;
            detection.last_run = run.count;
            detection.last_run_time = run.total;
            detection.max_run = detection.max_run.max(run.count);
            detection.application_name = client.application_name().to_string();
            detection.traceparent = trace;
            detection.last_seen = at;
            return Observed { order, new: None };
        }
        let source = run.source.as_ref().map(|s| s.text.clone());
        let detection = Detection {
            kind,
            database: key.0.clone(),
            source_fingerprint: key.1,
            suggestion: suggest(kind, &run.statement.text, source.as_deref()),
            orm_hint: orm_hint(kind, client.application_name(), &run.statement.text, query),
            source,
            repeated_fingerprint: key.2,
            repeated: run.statement.text.clone(),
            occurrences: 1,
            executions: run.count,
            total: run.total,
            last_run: run.count,
            last_run_time: run.total,
            max_run: run.count,
            application_name: client.application_name().to_string(),
            traceparent: trace,
            last_seen: at,
        };
        detections.insert(key, detection.clone());
        Observed {
            order,
            new: Some(detection),
        }
    }

    /// Ends a client's stream: a run in progress is finished.
    pub fn forget(&mut self, client: u64) {
        if let Some(stream) = self.by_client.remove(&client) {
            self.finish(stream);
        }
    }

    /// Forgets clients silent for [`STREAM_IDLE_LIMIT`] at `now` (their end was never seen).
    pub fn sweep(&mut self, now: SystemTime) {
        let stale: Vec<u64> = self
            .by_client
            .iter()
            .filter(|(_, stream)| {
                now.duration_since(stream.last_seen)
                    .is_ok_and(|idle| idle >= STREAM_IDLE_LIMIT)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in stale {
            self.forget(id);
        }
    }

    fn finish(&mut self, stream: Stream<C>) {
        if let Some(run) = stream.run {
            self.finished.extend(FinishedRun::of(run, stream.client));
        }
    }

    /// The reported runs that ended since the last call.
    pub fn take_finished(&mut self) -> Vec<FinishedRun<C>> {
        std::mem::take(&mut self.finished)
    }
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

/// `col = $n` (or `$n = col`, as SQLAlchemy writes it) as `col = ANY($n)`, when the
/// statement compares exactly one column to a parameter (other parameters, such as a LIMIT,
/// may stand elsewhere).
fn any_rewrite(text: &str) -> Option<String> {
    let tokens: Vec<_> = Lexer::new(text).filter(|t| !t.kind.is_trivia()).collect();
    let is_name = |i: usize| {
        tokens
            .get(i)
            .is_some_and(|t| matches!(t.kind, TokenKind::Identifier | TokenKind::QuotedIdentifier))
    };
    // The end (exclusive) of a qualified name starting at `i`: `a`, `t.a`, `s.t.a`.
    let name_end = |i: usize| {
        let mut end = i;
        while is_name(end) {
            end += 1;
            if tokens.get(end).is_some_and(|t| t.kind == TokenKind::Dot) && is_name(end + 1) {
                end += 1;
            } else {
                break;
            }
        }
        end
    };
    let offset = |t: &brisk_sql::Token| t.text.as_ptr() as usize - text.as_ptr() as usize;
    // (start byte, end byte, column, parameter) of each key comparison.
    let mut keys = Vec::new();
    for i in 0..tokens.len() {
        if tokens[i].text != "=" || i == 0 {
            continue;
        }
        let (before, after) = (&tokens[i - 1], tokens.get(i + 1));
        if let Some(after) = after.filter(|t| t.kind == TokenKind::Parameter) {
            // col = $n: the column ends just before `=`; find where it starts.
            if !is_name(i - 1) {
                continue;
            }
            let mut start = i - 1;
            while start >= 2 && tokens[start - 1].kind == TokenKind::Dot && is_name(start - 2) {
                start -= 2;
            }
            let from = offset(&tokens[start]);
            let to = offset(after) + after.text.len();
            let column = &text[from..offset(before) + before.text.len()];
            keys.push((from, to, column, after.text));
        } else if before.kind == TokenKind::Parameter && is_name(i + 1) {
            let end = name_end(i + 1);
            let last = &tokens[end - 1];
            let from = offset(before);
            let to = offset(last) + last.text.len();
            let column = &text[offset(&tokens[i + 1])..to];
            keys.push((from, to, column, before.text));
        }
    }
    let [(from, to, column, parameter)] = keys.as_slice() else {
        return None;
    };
    Some(format!(
        "{}{column} = ANY({parameter}){}",
        &text[..*from],
        &text[*to..]
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

    #[derive(Clone)]
    struct Session(u64);

    impl Client for Session {
        fn id(&self) -> u64 {
            self.0
        }
        fn database(&self) -> &str {
            "shop"
        }
        fn application_name(&self) -> &str {
            ""
        }
    }

    /// A stream of (fingerprint, text, params, ms) from one client, with a clock of its own
    /// that starts at `start` and moves 1 s per statement.
    fn feed(
        streams: &mut Streams<Session>,
        detections: &mut Detections,
        client: u64,
        start: SystemTime,
        statements: &[(u64, &str, u64, u64)],
    ) -> Vec<Detection> {
        let mut found = Vec::new();
        for (i, &(fingerprint, text, params, ms)) in statements.iter().enumerate() {
            let executed = Executed {
                fingerprint,
                normalized: Arc::from(text),
                query: text,
                params,
                duration: Duration::from_millis(ms),
                at: start + Duration::from_secs(i as u64),
            };
            found.extend(
                streams
                    .observe(
                        &Session(client),
                        executed,
                        &Thresholds::default(),
                        detections,
                    )
                    .new,
            );
        }
        found
    }

    const SOURCE: (u64, &str, u64, u64) = (1, "SELECT id FROM orders WHERE user_id = $1", 0, 5);

    fn lookups(count: u64, varied: bool, ms: u64) -> Vec<(u64, &'static str, u64, u64)> {
        (0..count)
            .map(|i| {
                (
                    2,
                    "SELECT * FROM items WHERE order_id = $1",
                    if varied { i } else { 7 },
                    ms,
                )
            })
            .collect()
    }

    #[test]
    fn a_source_then_varied_lookups_past_both_thresholds_is_an_n_plus_one() {
        let (mut streams, mut detections) = (Streams::default(), Detections::default());
        let mut stream = vec![SOURCE];
        stream.extend(lookups(8, true, 10));
        let found = feed(
            &mut streams,
            &mut detections,
            1,
            SystemTime::UNIX_EPOCH,
            &stream,
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, DetectionKind::NPlusOne);
        assert_eq!(found[0].source_fingerprint, Some(1));
        assert_eq!(
            found[0].executions, 5,
            "reported when the run crossed 5 and 50 ms"
        );
        // The run goes on counting after it is reported.
        assert_eq!(detections.snapshot()[0].executions, 8);
        streams.forget(1);
        let finished = streams.take_finished();
        assert_eq!(finished.len(), 1);
        assert_eq!(finished[0].executions, 8);
    }

    #[test]
    fn runs_below_a_threshold_or_with_the_same_values_are_not_patterns() {
        for (lookups, why) in [
            (lookups(4, true, 20), "4 repeats"),
            (lookups(8, true, 1), "8 ms in total"),
            (lookups(8, false, 20), "the same values each time"),
        ] {
            let (mut streams, mut detections) = (Streams::default(), Detections::default());
            let mut stream = vec![SOURCE];
            stream.extend(lookups);
            let found = feed(
                &mut streams,
                &mut detections,
                1,
                SystemTime::UNIX_EPOCH,
                &stream,
            );
            assert!(found.is_empty(), "{why}");
        }
        // Without a source statement, repeated lookups are not an N+1...
        let (mut streams, mut detections) = (Streams::default(), Detections::default());
        assert!(feed(
            &mut streams,
            &mut detections,
            1,
            SystemTime::UNIX_EPOCH,
            &lookups(8, true, 20)
        )
        .is_empty());
        // ...but row-by-row inserts are a bulk write.
        let inserts: Vec<_> = (0..6)
            .map(|i| (3, "INSERT INTO events (a) VALUES ($1)", i, 10))
            .collect();
        let found = feed(
            &mut streams,
            &mut detections,
            2,
            SystemTime::UNIX_EPOCH,
            &inserts,
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, DetectionKind::BulkWrite);
    }

    #[test]
    fn clients_are_apart_and_a_silent_one_is_swept_by_the_callers_clock() {
        let (mut streams, mut detections) = (Streams::default(), Detections::default());
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        // Another client's statements between them do not break a client's run.
        feed(&mut streams, &mut detections, 1, start, &[SOURCE]);
        for (i, lookup) in lookups(6, true, 20).into_iter().enumerate() {
            feed(&mut streams, &mut detections, 1, start, &[lookup]);
            let other = (5, "SELECT now()", i as u64, 1);
            feed(&mut streams, &mut detections, 2, start, &[other]);
        }
        assert_eq!(detections.snapshot().len(), 1);
        assert_eq!(streams.take_finished().len(), 0);
        // A run in progress ends when its client has been silent long enough, by the clock
        // of the statements (a log's times), not the machine's.
        streams.sweep(start + Duration::from_secs(60));
        assert!(streams.take_finished().is_empty());
        streams.sweep(start + STREAM_IDLE_LIMIT + Duration::from_secs(10));
        let finished = streams.take_finished();
        assert_eq!(finished.len(), 1);
        assert_eq!(finished[0].client.0, 1);
    }

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
        assert_eq!(
            any_rewrite("SELECT reviews.id AS reviews_id FROM reviews WHERE $1 = reviews.book_id")
                .as_deref(),
            Some("SELECT reviews.id AS reviews_id FROM reviews WHERE reviews.book_id = ANY($1)")
        );
        assert_eq!(
            any_rewrite("SELECT * FROM \"public\".\"Review\" WHERE \"public\".\"Review\".\"bookId\" = $1 OFFSET $2")
                .as_deref(),
            Some("SELECT * FROM \"public\".\"Review\" WHERE \"public\".\"Review\".\"bookId\" = ANY($1) OFFSET $2")
        );
        assert_eq!(any_rewrite("SELECT * FROM t WHERE $1 = a AND b = $2"), None);
    }

    #[test]
    fn inserts_name_their_table() {
        assert_eq!(
            insert_target("INSERT INTO app.events (a, b) VALUES ($1, $2)").as_deref(),
            Some("app.events")
        );
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
