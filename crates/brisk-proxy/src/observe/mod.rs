//! Per-query observability: what every statement through the proxy cost, and the N+1
//! patterns in each client's stream of statements.
//!
//! Hot path: a session hands each completed statement to [`Observer::executed`], which only
//! sends it down a bounded channel, dropping and counting it when the channel is full. One
//! background thread fingerprints the text (brisk-sql's cache, so a repeated shape costs a
//! lexer pass), keeps the statistics and watches for N+1s. The admin console and `/metrics`
//! read snapshots under a short lock; they never wait on the hot path.

mod nplusone;
mod registry;

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use brisk_sql::FingerprintCache;

use crate::session::ClientInfo;

pub use nplusone::{Detection, DetectionKind};
pub use registry::{QueriesSnapshot, QuerySummary, BUCKET_BOUNDS_MS};

use nplusone::Streams;
use registry::Registry;

/// Statements in flight to the statistics thread. Past this, statements are counted as
/// dropped rather than slowing the relay.
const CHANNEL_CAPACITY: usize = 64 * 1024;
/// Shapes the fingerprint cache remembers.
const CACHE_CAPACITY: usize = 16 * 1024;
/// How often client streams nobody has used for a while are forgotten.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// A statement the proxy saw complete (or fail).
pub struct Executed {
    pub client: Arc<ClientInfo>,
    /// The text as the client sent it.
    pub query: Arc<str>,
    /// A hash of the bound parameter values (extended protocol); `None` for a simple query,
    /// whose values are in its text.
    pub params: Option<u64>,
    /// From the request reaching brisk to its last answer.
    pub duration: Duration,
    /// Time the client waited for a server before this statement could run.
    pub wait: Duration,
    pub rows: u64,
    pub error: bool,
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
    detections: Mutex<nplusone::Detections>,
}

/// The statistics of one proxy.
pub struct Observer {
    sender: SyncSender<Event>,
    dropped: AtomicU64,
    state: Arc<State>,
}

impl Observer {
    /// Starts the statistics thread.
    pub fn start(settings: ObserveSettings) -> std::io::Result<Observer> {
        let (sender, receiver) = sync_channel(CHANNEL_CAPACITY);
        let state = Arc::new(State {
            queries: Mutex::new(Registry::new()),
            detections: Mutex::new(nplusone::Detections::default()),
            settings: RwLock::new(settings),
        });
        let worker = state.clone();
        std::thread::Builder::new()
            .name("brisk-observe".into())
            .spawn(move || run(&receiver, &worker))?;
        Ok(Observer {
            sender,
            dropped: AtomicU64::new(0),
            state,
        })
    }

    /// Counts a statement. Never blocks: when the thread is behind, the statement is
    /// dropped and counted in [`Observer::dropped`].
    pub fn executed(&self, executed: Executed) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.sender.try_send(Event::Executed(executed))
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The client left: its statement stream ends (a run of repeats in progress is judged
    /// as it stands).
    pub fn client_gone(&self, id: u64) {
        let _ = self.sender.try_send(Event::ClientGone(id));
    }

    /// Waits (at most `limit`) until every statement handed over before the call is
    /// counted, so a snapshot taken next includes them.
    pub async fn settle(&self, limit: Duration) {
        let (done, wait) = tokio::sync::oneshot::channel();
        if self.sender.try_send(Event::Barrier(done)).is_ok() {
            let _ = tokio::time::timeout(limit, wait).await;
        }
    }

    pub fn update(&self, settings: ObserveSettings) {
        match self.state.settings.write() {
            Ok(mut current) => *current = settings,
            Err(poisoned) => *poisoned.into_inner() = settings,
        }
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

    /// The N+1 and bulk-write patterns seen, most executions first.
    pub fn detections(&self) -> Vec<Detection> {
        lock(&self.state.detections).snapshot()
    }
}

/// The statistics thread: runs until the proxy (every sender) is gone.
fn run(receiver: &Receiver<Event>, state: &State) {
    let mut cache = FingerprintCache::new(CACHE_CAPACITY);
    let mut streams = Streams::default();
    let mut last_sweep = Instant::now();
    let mut batch = Vec::with_capacity(256);
    loop {
        match receiver.recv_timeout(SWEEP_EVERY) {
            Ok(event) => batch.push(event),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        while batch.len() < 256 {
            match receiver.try_recv() {
                Ok(event) => batch.push(event),
                Err(_) => break,
            }
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
                        let fingerprint = fingerprint(&mut cache, &executed.query);
                        let text = queries.record(fingerprint, &executed, settings.limit);
                        streams.observe(&executed, fingerprint, text, &settings, &mut detections);
                    }
                    Event::ClientGone(id) => streams.forget(id),
                    Event::Barrier(done) => barriers.push(done),
                }
            }
        }
        for done in barriers {
            let _ = done.send(());
        }
        if last_sweep.elapsed() >= SWEEP_EVERY {
            streams.sweep();
            last_sweep = Instant::now();
        }
    }
}

/// The fingerprint of a statement; one the parser rejects is keyed by its shape instead.
fn fingerprint(cache: &mut FingerprintCache, query: &str) -> u64 {
    match cache.fingerprint(query) {
        Ok(found) => found.0,
        Err(_) => {
            let mut key = String::new();
            brisk_sql::shape_key_into(query, &mut key);
            hash_of(&key)
        }
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
