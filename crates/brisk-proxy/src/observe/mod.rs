//! Per-query observability: what every statement through the proxy cost, and the N+1
//! patterns in each client's stream of statements.
//!
//! Hot path: a session hands each completed statement to [`Observer::executed`], which only
//! sends it down a bounded channel, dropping and counting it when the channel is full. One
//! background thread fingerprints the text (brisk-sql's cache, so a repeated shape costs a
//! lexer pass), keeps the statistics and watches for N+1s. The admin console and `/metrics`
//! read snapshots under a short lock; they never wait on the hot path.

mod capture;
pub mod explain;
mod registry;

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant, SystemTime};

use brisk_patterns::{Detections, Streams, Thresholds};
use brisk_sql::{Fingerprint, FingerprintCache};
use brisk_workload::QuerySample;

use crate::session::ClientInfo;

pub use brisk_patterns::{Detection, DetectionKind};
pub use registry::{QueriesSnapshot, QueryHistogram, QuerySummary, BUCKET_BOUNDS_MS};

use capture::Capture;
use explain::ExplainJob;
use registry::Registry;

/// Statements in flight to the statistics thread. Past this, statements are counted as
/// dropped rather than slowing the relay. The channel itself is unbounded and this bound is
/// kept by a counter: a bounded channel allocates and touches all its slots up front (7 MB
/// at this size), where this one holds memory only while the thread is behind.
const CHANNEL_CAPACITY: usize = 64 * 1024;
/// Shapes the fingerprint cache remembers.
const CACHE_CAPACITY: usize = 16 * 1024;
/// Shared statement texts remembered by address (see `Thread::fingerprint`); past this the
/// memo starts over.
const SHARED_TEXTS_LIMIT: usize = 4096;
/// How often client streams nobody has used for a while are forgotten.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// How often the statistics thread wakes to take what the sessions sent. It sleeps rather
/// than blocks on the channel: a blocked receiver would make every send a wake-up (a
/// syscall and a context switch per statement on the relay's side).
const TICK: Duration = Duration::from_millis(20);
/// Statements counted under one lock, so console commands never wait long.
const BATCH: usize = 4096;
/// Slow statements waiting for their EXPLAIN; past this they go unexplained.
const EXPLAIN_QUEUE: usize = 64;
/// Fingerprints remembered as explained; past this the memory starts over.
const EXPLAINED_LIMIT: usize = 10_000;

/// A statement the proxy saw complete (or fail).
pub struct Executed {
    pub client: Arc<ClientInfo>,
    /// The text as the client sent it.
    pub query: Arc<str>,
    /// A hash of the bound parameter values (extended protocol); `None` for a simple query,
    /// whose values are in its text.
    pub params: Option<u64>,
    /// When the request reached brisk: the capture's `at_ms`, so a replay can keep the
    /// captured timing.
    pub started: Instant,
    /// From the request reaching brisk to its last answer.
    pub duration: Duration,
    /// Time the client waited for a server before this statement could run.
    pub wait: Duration,
    pub rows: u64,
    pub error: bool,
    /// Text-format values of its `$n`, kept only when `log_parameters` is on.
    pub values: Option<Arc<[Option<String>]>>,
    /// It ran first (after a `BEGIN` at most) on a server lent to an unpinned client for
    /// one transaction: whatever session state it reads there (`lastval()`, `currval()`)
    /// was left by an earlier transaction, perhaps another client's.
    pub fresh_server: bool,
}

/// The settings the statistics thread follows; a reload changes them.
#[derive(Debug, Clone, PartialEq)]
pub struct ObserveSettings {
    /// Fingerprints kept in detail; the rest fold into "other".
    pub limit: usize,
    /// Executions of one fingerprint after a source query that make an N+1...
    pub n_plus_one_min_repeats: u64,
    /// ...when they add up to at least this long.
    pub n_plus_one_min_total: Duration,
    /// Statements at least this long are logged (zero: none).
    pub slow_query: Duration,
    /// Whether logs and the capture may show values.
    pub log_parameters: bool,
    /// Whether each slow fingerprint is EXPLAINed once.
    pub explain_slow: bool,
}

/// Where to write the workload capture.
#[derive(Debug, Clone)]
pub struct CaptureSettings<'a> {
    pub path: &'a Path,
    /// Share of statements captured, 0 to 1.
    pub sample: f64,
    pub max_bytes: u64,
}

enum Event {
    Executed(Executed),
    ClientGone(u64),
    /// Answered once every event sent before it is counted.
    Barrier(tokio::sync::oneshot::Sender<()>),
}

struct State {
    settings: RwLock<ObserveSettings>,
    queries: Mutex<Registry>,
    detections: Mutex<Detections>,
    /// Statements that read `lastval()`/`currval()` first on a server lent for one
    /// transaction (see `Executed::fresh_server`).
    sequence_reads: AtomicU64,
}

/// The sending end of an unbounded channel, bounded by a count of what the receiver has not
/// taken yet (it reports what it takes to `in_flight`).
struct Bounded<T> {
    sender: Sender<T>,
    in_flight: Arc<AtomicUsize>,
    capacity: usize,
}

impl<T> Bounded<T> {
    fn new(sender: Sender<T>, capacity: usize) -> Bounded<T> {
        Bounded {
            sender,
            in_flight: Arc::new(AtomicUsize::new(0)),
            capacity,
        }
    }

    /// Sends `value` unless `capacity` values wait already or the receiver is gone.
    fn send(&self, value: T) -> bool {
        if self.in_flight.fetch_add(1, Ordering::Relaxed) >= self.capacity
            || self.sender.send(value).is_err()
        {
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    }
}

/// The statistics of one proxy.
pub struct Observer {
    sender: Bounded<Event>,
    dropped: AtomicU64,
    state: Arc<State>,
    /// Taken by the proxy's explain worker when it starts.
    explain_jobs: Mutex<Option<tokio::sync::mpsc::Receiver<ExplainJob>>>,
}

impl Observer {
    /// Starts the statistics thread, and the capture writer when there is a capture file.
    pub fn start(
        settings: ObserveSettings,
        capture: Option<CaptureSettings<'_>>,
    ) -> std::io::Result<Observer> {
        let capture = match capture {
            Some(c) => Some(Capture::open(c.path, c.sample, c.max_bytes).map_err(|e| {
                std::io::Error::new(e.kind(), format!("capture_file {}: {e}", c.path.display()))
            })?),
            None => None,
        };
        let (explain_sender, explain_jobs) = tokio::sync::mpsc::channel(EXPLAIN_QUEUE);
        let (sender, receiver) = channel();
        let sender = Bounded::new(sender, CHANNEL_CAPACITY);
        let taken = sender.in_flight.clone();
        let state = Arc::new(State {
            queries: Mutex::new(Registry::new()),
            detections: Mutex::new(Detections::default()),
            settings: RwLock::new(settings),
            sequence_reads: AtomicU64::new(0),
        });
        let worker = state.clone();
        std::thread::Builder::new()
            .name("brisk-observe".into())
            .spawn(move || {
                let mut thread = Thread {
                    cache: FingerprintCache::new(CACHE_CAPACITY),
                    shared_texts: HashMap::new(),
                    streams: Streams::default(),
                    capture,
                    explain: explain_sender,
                    explained: HashSet::new(),
                    sequence_warned: HashSet::new(),
                };
                thread.run(&receiver, &taken, &worker)
            })?;
        Ok(Observer {
            sender,
            dropped: AtomicU64::new(0),
            state,
            explain_jobs: Mutex::new(Some(explain_jobs)),
        })
    }

    /// The slow statements to EXPLAIN, for the one worker that does it.
    pub fn take_explain_jobs(&self) -> Option<tokio::sync::mpsc::Receiver<ExplainJob>> {
        lock(&self.explain_jobs).take()
    }

    /// Attaches a plan to a fingerprint's statistics.
    pub fn set_plan(&self, database: &str, fingerprint: u64, plan: Arc<str>) {
        lock(&self.state.queries).set_plan(database, fingerprint, plan);
    }

    /// Counts a statement. Never blocks: when the thread is behind, the statement is
    /// dropped and counted in [`Observer::dropped`].
    pub fn executed(&self, executed: Executed) {
        if !self.sender.send(Event::Executed(executed)) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The client left: its statement stream ends (a run of repeats in progress is judged
    /// as it stands).
    pub fn client_gone(&self, id: u64) {
        let _ = self.sender.send(Event::ClientGone(id));
    }

    /// Waits (at most `limit`) until every statement handed over before the call is
    /// counted, so a snapshot taken next includes them.
    pub async fn settle(&self, limit: Duration) {
        let (done, wait) = tokio::sync::oneshot::channel();
        if self.sender.send(Event::Barrier(done)) {
            let _ = tokio::time::timeout(limit, wait).await;
        }
    }

    pub fn update(&self, settings: ObserveSettings) {
        match self.state.settings.write() {
            Ok(mut current) => *current = settings,
            Err(poisoned) => *poisoned.into_inner() = settings,
        }
    }

    /// Statements that read `lastval()` or `currval()` first on a server lent for one
    /// transaction, where the value may be another client's.
    pub fn sequence_reads(&self) -> u64 {
        self.state.sequence_reads.load(Ordering::Relaxed)
    }

    /// Statements dropped because the statistics thread was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Every fingerprint kept in detail, by total time (largest first), and "other".
    pub fn queries(&self) -> QueriesSnapshot {
        let mut snapshot = lock(&self.state.queries).snapshot();
        snapshot.dropped = self.dropped();
        snapshot
    }

    /// Each kept fingerprint's latency histogram, encoded.
    pub fn query_histograms(&self) -> Vec<QueryHistogram> {
        lock(&self.state.queries).histograms()
    }

    /// The N+1 and bulk-write patterns seen, most executions first.
    pub fn detections(&self) -> Vec<Detection> {
        lock(&self.state.detections).snapshot()
    }
}

/// What the statistics thread owns.
struct Thread {
    cache: FingerprintCache,
    /// Fingerprints of statement texts the sessions share (a prepared or repeated unnamed
    /// statement's), by the text's address: a lookup instead of a shape key. Each entry
    /// holds its text, so the address cannot be reused while it is here.
    shared_texts: HashMap<usize, (Arc<str>, (u64, bool))>,
    streams: Streams<PatternClient>,
    capture: Option<Capture>,
    explain: tokio::sync::mpsc::Sender<ExplainJob>,
    explained: HashSet<(Arc<str>, u64)>,
    /// (database, fingerprint) already warned of reading `lastval()`/`currval()` on a
    /// fresh server; past `EXPLAINED_LIMIT` the memory starts over.
    sequence_warned: HashSet<(Arc<str>, u64)>,
}

impl Thread {
    /// Runs until the proxy (every sender) is gone.
    fn run(&mut self, receiver: &Receiver<Event>, in_flight: &AtomicUsize, state: &State) {
        let mut last_sweep = Instant::now();
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            std::thread::sleep(TICK);
            loop {
                let mut gone = false;
                while batch.len() < BATCH {
                    match receiver.try_recv() {
                        Ok(event) => batch.push(event),
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => {
                            gone = true;
                            break;
                        }
                    }
                }
                let full = batch.len() == BATCH;
                in_flight.fetch_sub(batch.len(), Ordering::Relaxed);
                self.count(state, &mut batch);
                if gone {
                    return;
                }
                if !full {
                    break;
                }
            }
            if last_sweep.elapsed() >= SWEEP_EVERY {
                self.streams.sweep(SystemTime::now());
                self.capture_patterns();
                last_sweep = Instant::now();
            }
        }
    }

    /// Counts a batch of events under one lock; answers the barriers among them after.
    fn count(&mut self, state: &State, batch: &mut Vec<Event>) {
        if batch.is_empty() {
            return;
        }
        let settings = match state.settings.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let mut barriers = Vec::new();
        {
            let mut queries = lock(&state.queries);
            let mut detections = lock(&state.detections);
            for event in batch.drain(..) {
                match event {
                    Event::Executed(executed) => {
                        let (fingerprint, parsed) = self.fingerprint(&executed.query);
                        let text = queries.record(fingerprint, &executed, settings.limit);
                        let order = self.patterns(
                            &executed,
                            fingerprint,
                            &text,
                            &settings,
                            &mut detections,
                        );
                        if !settings.slow_query.is_zero()
                            && executed.duration >= settings.slow_query
                        {
                            self.slow(&executed, fingerprint, &text, &settings);
                        }
                        if executed.fresh_server && reads_sequence_state(&executed.query) {
                            state.sequence_reads.fetch_add(1, Ordering::Relaxed);
                            self.sequence_read(&executed, fingerprint, &text);
                        }
                        let parsed = parsed.then_some(fingerprint);
                        self.capture(&executed, parsed, &text, order, &settings);
                    }
                    Event::ClientGone(id) => self.streams.forget(id),
                    Event::Barrier(done) => barriers.push(done),
                }
            }
        }
        self.capture_patterns();
        for done in barriers {
            let _ = done.send(());
        }
    }

    /// Follows the statement in its client's stream (brisk-patterns), logging a pattern the
    /// first time it is seen; returns the statement's position in the stream.
    fn patterns(
        &mut self,
        executed: &Executed,
        fingerprint: u64,
        text: &Arc<str>,
        settings: &ObserveSettings,
        detections: &mut Detections,
    ) -> u64 {
        let statement = brisk_patterns::Executed {
            fingerprint,
            normalized: text.clone(),
            query: &executed.query,
            params: executed
                .params
                .unwrap_or_else(|| hash_of(executed.query.as_ref())),
            duration: executed.duration,
            at: SystemTime::now(),
        };
        let thresholds = Thresholds {
            min_repeats: settings.n_plus_one_min_repeats,
            min_total: settings.n_plus_one_min_total,
        };
        let client = PatternClient(executed.client.clone());
        let observed = self
            .streams
            .observe(&client, statement, &thresholds, detections);
        if let Some(found) = observed.new {
            tracing::warn!(
                kind = found.kind.name(),
                database = %found.database,
                source = found.source.as_deref().unwrap_or(""),
                repeated = %found.repeated,
                executions = found.executions,
                total_ms = found.total.as_secs_f64() * 1000.0,
                application_name = %found.application_name,
                traceparent = found.traceparent.as_deref().unwrap_or(""),
                suggestion = %found.suggestion,
                orm_hint = found.orm_hint.as_deref().unwrap_or(""),
                "repeated statement pattern"
            );
        }
        observed.order
    }

    /// The fingerprint of a statement's text, and whether PostgreSQL's parser made it.
    fn fingerprint(&mut self, query: &Arc<str>) -> (u64, bool) {
        // A text some session still holds (2 owners: it, and this event) may come again by
        // the same address; a text only this event holds never will.
        if Arc::strong_count(query) < 2 {
            return fingerprint(&mut self.cache, query);
        }
        let address = Arc::as_ptr(query) as *const u8 as usize;
        if let Some((_, found)) = self.shared_texts.get(&address) {
            return *found;
        }
        let found = fingerprint(&mut self.cache, query);
        if self.shared_texts.len() >= SHARED_TEXTS_LIMIT {
            self.shared_texts.clear();
        }
        self.shared_texts.insert(address, (query.clone(), found));
        found
    }

    /// Warns, once per database and fingerprint, of a statement that reads `lastval()` or
    /// `currval()` on a server lent for its transaction alone: transaction pooling gave it
    /// whatever server was free, so the value is of the last `nextval()` that server ran,
    /// perhaps in another client's transaction.
    fn sequence_read(&mut self, executed: &Executed, fingerprint: u64, text: &str) {
        if self.sequence_warned.len() >= EXPLAINED_LIMIT {
            self.sequence_warned.clear();
        }
        let key: (Arc<str>, u64) = (executed.client.database.as_str().into(), fingerprint);
        if !self.sequence_warned.insert(key) {
            return;
        }
        tracing::warn!(
            fingerprint = %Fingerprint(fingerprint),
            database = %executed.client.database,
            user = %executed.client.user,
            application_name = %executed.client.application_name,
            query = %text,
            "lastval() or currval() in a transaction of its own under transaction pooling: it reads the server's last nextval(), which may be another client's. Use INSERT ... RETURNING, or call it in the same transaction as the INSERT"
        );
    }

    /// Logs a slow statement, and asks for its plan the first time its fingerprint is slow.
    fn slow(
        &mut self,
        executed: &Executed,
        fingerprint: u64,
        text: &str,
        settings: &ObserveSettings,
    ) {
        let client = &executed.client;
        let values = if settings.log_parameters {
            match &executed.values {
                Some(values) => serde_json::to_string(&values[..]).unwrap_or_default(),
                None if executed.params.is_none() => executed.query.to_string(),
                None => "(binary)".to_string(),
            }
        } else {
            String::new()
        };
        tracing::warn!(
            fingerprint = %Fingerprint(fingerprint),
            database = %client.database,
            user = %client.user,
            application_name = %client.application_name,
            client = client.id,
            duration_ms = executed.duration.as_secs_f64() * 1000.0,
            wait_ms = executed.wait.as_secs_f64() * 1000.0,
            rows = executed.rows,
            error = executed.error,
            query = %text,
            values = %values,
            "slow statement"
        );
        if !settings.explain_slow {
            return;
        }
        if self.explained.len() >= EXPLAINED_LIMIT {
            self.explained.clear();
        }
        let key: (Arc<str>, u64) = (client.database.as_str().into(), fingerprint);
        if !self.explained.insert(key) {
            return;
        }
        let job = ExplainJob {
            database: client.database.clone(),
            user: client.user.clone(),
            fingerprint,
            query: executed.query.clone(),
            values: executed.values.clone().filter(|_| settings.log_parameters),
            literals_allowed: settings.log_parameters && executed.params.is_none(),
        };
        if self.explain.try_send(job).is_err() {
            tracing::debug!("explain queue full: a slow statement goes unexplained");
        }
    }

    /// Writes a sampled statement to the capture file.
    /// `fingerprint` is pg_query's, when the parser took the statement.
    fn capture(
        &mut self,
        executed: &Executed,
        fingerprint: Option<u64>,
        text: &Arc<str>,
        order: u64,
        settings: &ObserveSettings,
    ) {
        let Some(capture) = self.capture.as_mut() else {
            return;
        };
        if !capture.sampled() {
            return;
        }
        // With values allowed: the text as sent (literals of a simple query, `$n` of a
        // prepared one) and its values; without: the normalized text only.
        let (query, params) = match (settings.log_parameters, &executed.values) {
            (true, Some(values)) => (executed.query.to_string(), Some(values.to_vec())),
            (true, None) if executed.params.is_none() => (executed.query.to_string(), None),
            _ => (text.to_string(), None),
        };
        let sample = QuerySample {
            fingerprint: fingerprint.map(|f| Fingerprint(f).to_string()),
            query,
            params,
            calls: 1,
            total_ms: Some(executed.duration.as_secs_f64() * 1000.0),
            mean_ms: None,
            rows: Some(executed.rows),
            session: Some(executed.client.id.to_string()),
            order: Some(order),
            at_ms: Some(capture.offset_ms(executed.started)),
            pattern: None,
        };
        capture.write(&sample);
    }

    /// Writes the N+1 and bulk-write runs that ended to the capture file (all of them,
    /// whatever `capture_sample`: they are few, and `brisk advise` reports them).
    fn capture_patterns(&mut self) {
        let finished = self.streams.take_finished();
        let Some(capture) = self.capture.as_ref() else {
            return;
        };
        for run in finished {
            let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
            let sample = QuerySample {
                // Readers compute it from the text; the detector's key may be a shape
                // key, for text PostgreSQL's parser rejects.
                fingerprint: None,
                query: run.repeated.to_string(),
                params: None,
                calls: run.executions,
                total_ms: Some(run.total.as_secs_f64() * 1000.0),
                mean_ms: None,
                rows: None,
                session: Some(run.client.0.id.to_string()),
                order: None,
                at_ms: None,
                pattern: Some(brisk_workload::Pattern {
                    kind: run.kind.name().to_string(),
                    source: run.source.map(|text| text.to_string()),
                    suggestion: Some(run.suggestion),
                    application_name: non_empty(&run.client.0.application_name),
                    traceparent: run.traceparent,
                }),
            };
            capture.write(&sample);
        }
    }
}

/// The key of a statement (brisk-sql's, the same the log reader uses), and whether
/// PostgreSQL's parser made it.
fn fingerprint(cache: &mut FingerprintCache, query: &str) -> (u64, bool) {
    let key = cache.key(query);
    (key.value, key.parsed)
}

/// A proxy client as brisk-patterns sees it.
#[derive(Clone)]
struct PatternClient(Arc<ClientInfo>);

impl brisk_patterns::Client for PatternClient {
    fn id(&self) -> u64 {
        self.0.id
    }
    fn database(&self) -> &str {
        &self.0.database
    }
    fn application_name(&self) -> &str {
        &self.0.application_name
    }
}

pub(crate) fn hash_of(value: &(impl Hash + ?Sized)) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether a text's first statement after transaction control calls `lastval` or
/// `currval` (any case; a mention in a comment or a string counts too, which only costs a
/// warning). A later statement of the same text runs on the same server after the earlier
/// ones: it reads their `nextval()`, the client's own.
pub fn reads_sequence_state(query: &str) -> bool {
    let mentions = |text: &str| {
        text.as_bytes()
            .windows(7)
            .any(|w| w.eq_ignore_ascii_case(b"lastval") || w.eq_ignore_ascii_case(b"currval"))
    };
    mentions(query)
        && brisk_sql::split(query)
            .into_iter()
            .find(|s| !brisk_sql::starts_with_keyword(s.text, &["begin", "start"]))
            .is_some_and(|first| mentions(first.text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_channel_holds_at_most_its_capacity_until_the_receiver_takes() {
        let (sender, receiver) = channel();
        let bounded = Bounded::new(sender, 2);
        assert!(bounded.send(1));
        assert!(bounded.send(2));
        assert!(!bounded.send(3), "full");
        let taken: Vec<i32> = receiver.try_iter().collect();
        assert_eq!(taken, [1, 2]);
        bounded.in_flight.fetch_sub(taken.len(), Ordering::Relaxed);
        assert!(bounded.send(4));
        drop(receiver);
        assert!(!bounded.send(5), "the receiver is gone");
        assert_eq!(bounded.in_flight.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn sequence_state_reads_are_told_by_name_in_any_case() {
        use super::reads_sequence_state;
        assert!(reads_sequence_state("SELECT lastval()"));
        assert!(reads_sequence_state("select CURRVAL('orders_id_seq')"));
        assert!(!reads_sequence_state("SELECT nextval('orders_id_seq')"));
        assert!(!reads_sequence_state("SELECT 1"));
        assert!(reads_sequence_state("BEGIN; SELECT lastval(); COMMIT"));
        assert!(!reads_sequence_state(
            "INSERT INTO t (a) VALUES (1); SELECT lastval()"
        ));
    }
}
