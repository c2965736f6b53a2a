//! The result cache: opt-in per query shape, served without a server, never stale after a
//! write through any brisk that shares the version store. docs/cache.md has the protocol
//! and its argument; this module holds the shared state, `relay` what the sans-IO relay
//! does (collect a fill, note writes), and the session performs the version checks.

pub mod admin;
pub mod candidates;
pub mod catalog;
pub mod config;
pub mod follow;
pub mod metrics;
pub mod relay;
pub mod tier;
pub mod versions;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use brisk_sql::{StatementKind, TableName};
pub use catalog::{Catalog, WriteKeys, CATALOG_QUERY};
pub use config::CacheConfig;
use config::StoreDown;
use versions::{Check, VersionStore};

/// The cache's one error type.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("redis: {0}")]
    Redis(String),
    /// `follow_writes` cannot work against this server (see `follow::preflight`).
    #[error("{0}")]
    Follow(String),
}

/// The version key of the database-wide epoch, which every entry depends on.
const EPOCH: &str = "*epoch*";
/// Query texts whose classification is remembered; past it the memo starts afresh.
const MEMO_LIMIT: usize = 10_000;

/// What brisk-sql and the catalog say of one query text, remembered per text.
#[derive(Debug, Clone)]
pub struct Classified {
    pub fingerprint: Option<u64>,
    /// From a `/* brisk:cache ttl=N */` comment.
    pub comment_ttl: Option<Duration>,
    /// A single SELECT: its tables and functions, or why it can never be cached.
    pub read: Option<Result<ReadShape, String>>,
    pub write: WriteClass,
    /// A SET or RESET of a setting brisk does not follow (search_path, extra_float_digits,
    /// ...): the client's results may differ from another's with the same key.
    pub untracked_setting: bool,
}

/// What a cacheable SELECT reads: its tables and the functions it calls.
pub type ReadShape = (Vec<TableName>, Vec<String>);

/// What a statement may write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteClass {
    None,
    /// Reads that call functions: they write if one of them is a user's volatile function.
    Functions(Vec<String>),
    Tables(Vec<TableName>),
    Epoch(&'static str),
}

impl WriteClass {
    fn merge(self, other: WriteClass) -> WriteClass {
        match (self, other) {
            (WriteClass::Epoch(r), _) | (_, WriteClass::Epoch(r)) => WriteClass::Epoch(r),
            (WriteClass::None, x) | (x, WriteClass::None) => x,
            (WriteClass::Tables(mut a), WriteClass::Tables(b)) => {
                a.extend(b);
                WriteClass::Tables(a)
            }
            (WriteClass::Tables(a), WriteClass::Functions(_))
            | (WriteClass::Functions(_), WriteClass::Tables(a)) => {
                // A table write and function calls: the epoch is the safe union.
                let _ = a;
                WriteClass::Epoch("writes and function calls in one query")
            }
            (WriteClass::Functions(mut a), WriteClass::Functions(b)) => {
                a.extend(b);
                WriteClass::Functions(a)
            }
        }
    }
}

/// The `/* brisk:cache ttl=60 */` comment, anywhere in the text.
fn comment_ttl(query: &str, default: Duration) -> Option<Duration> {
    for token in brisk_sql::Lexer::new(query) {
        if !token.kind.is_trivia() || !token.text.starts_with("/*") {
            continue;
        }
        let inner = token
            .text
            .trim_start_matches("/*")
            .trim_end_matches("*/")
            .trim();
        let Some(rest) = inner.strip_prefix("brisk:cache") else {
            continue;
        };
        let ttl = rest
            .split_whitespace()
            .find_map(|w| w.strip_prefix("ttl="))
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| *v > 0.0)
            .and_then(|v| Duration::try_from_secs_f64(v).ok());
        return Some(ttl.unwrap_or(default));
    }
    None
}

/// Whether `query` SETs or RESETs a setting brisk does not follow through ParameterStatus.
fn sets_untracked(query: &str) -> bool {
    let words: Vec<String> = brisk_sql::Lexer::new(query)
        .filter(|t| !t.kind.is_trivia())
        .take(4)
        .map(|t| t.text.trim_matches('"').to_ascii_lowercase())
        .collect();
    let Some(first) = words.first() else {
        return false;
    };
    if first != "set" && first != "reset" {
        return false;
    }
    let name = match words.get(1).map(String::as_str) {
        Some("session" | "local") => words.get(2),
        _ => words.get(1),
    };
    match name.map(String::as_str) {
        Some("transaction" | "constraints" | "role" | "session") => {
            name.is_some_and(|n| n == "role")
        }
        Some("time") => false,
        Some(name) => brisk_sql::session::tracked_index(name).is_none(),
        None => true,
    }
}

/// Classifies one query text with brisk-sql (no catalog).
pub fn classify(query: &str, default_ttl: Duration) -> Classified {
    let fingerprint = brisk_sql::fingerprint(query).ok().map(|f| f.0);
    let comment_ttl = comment_ttl(query, default_ttl);
    let untracked_setting =
        sets_untracked(query) || query.to_ascii_lowercase().contains("set_config");
    let Ok(statements) = brisk_sql::analyze(query) else {
        return Classified {
            fingerprint,
            comment_ttl,
            read: None,
            write: WriteClass::Epoch("a statement brisk cannot parse"),
            untracked_setting,
        };
    };
    let read = match statements.as_slice() {
        [one] if one.kind == StatementKind::Select && one.writes.is_empty() => {
            Some(if one.cacheable {
                Ok((one.reads.clone(), one.functions.clone()))
            } else {
                Err(one
                    .not_cacheable
                    .iter()
                    .map(|r| format!("{r:?}"))
                    .collect::<Vec<_>>()
                    .join(", "))
            })
        }
        _ => None,
    };
    let mut write = WriteClass::None;
    for statement in &statements {
        let first = brisk_sql::first_keyword(query).map(|k| k.to_ascii_lowercase());
        let class = match statement.kind {
            StatementKind::Ddl => WriteClass::Epoch("DDL"),
            StatementKind::Transaction => WriteClass::None,
            _ if !statement.writes.is_empty() => WriteClass::Tables(statement.writes.clone()),
            StatementKind::Utility
                if matches!(first.as_deref(), Some("call" | "do" | "execute")) =>
            {
                WriteClass::Epoch("CALL, DO or EXECUTE")
            }
            StatementKind::Select if !statement.functions.is_empty() => {
                WriteClass::Functions(statement.functions.clone())
            }
            _ => WriteClass::None,
        };
        write = write.merge(class);
    }
    Classified {
        fingerprint,
        comment_ttl,
        read,
        write,
        untracked_setting,
    }
}

/// The counters of one opted-in shape.
#[derive(Debug, Default, Clone)]
pub struct ShapeStats {
    pub hits: u64,
    /// Of `hits`, those served from the Redis tier.
    pub redis_hits: u64,
    pub misses: u64,
    pub bypasses: BTreeMap<String, u64>,
    pub fill_rejections: u64,
    pub invalidations: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone)]
struct Shape {
    ttl: Duration,
    source: &'static str,
    stats: ShapeStats,
    /// The refusal already logged for this shape.
    logged: Option<String>,
}

/// One cached answer: the exact frames the server sent, and what it was filled under.
#[derive(Debug)]
pub struct Entry {
    frames: Bytes,
    generation: String,
    versions: Vec<u64>,
    expires: Instant,
}

/// What the session does with a client's query.
pub enum Lookup {
    /// Replay these frames; no server needed.
    Hit(Bytes),
    /// Run it, and offer the answer with this.
    Miss(Fill),
    /// Run it, and do not fill.
    Pass,
}

/// A fill in progress: what the answer will be stored under, once checked.
#[derive(Debug, Clone)]
pub struct Fill {
    key: Vec<u8>,
    check: Check,
    keys: Arc<[String]>,
    fingerprint: u64,
    ttl: Duration,
}

/// What a client's lookup key is made of besides the query.
pub struct KeyParts<'a> {
    pub database: &'a str,
    pub user: &'a str,
    /// The client's startup options and tracked settings, as one string.
    pub settings: &'a str,
}

/// Cache-wide counters for /metrics.
#[derive(Debug, Default)]
pub struct Totals {
    /// Hits from the in-process tier and from the Redis tier.
    pub hits: AtomicU64,
    pub redis_hits: AtomicU64,
    pub misses: AtomicU64,
    pub fill_rejections: AtomicU64,
    pub redis_errors: AtomicU64,
    pub redis_round_trips: AtomicU64,
    pub redis_round_trip_us: AtomicU64,
    /// Round trips by [`tier::RTT_BUCKETS`] (not cumulative).
    pub redis_round_trip_buckets: [AtomicU64; tier::RTT_BUCKETS.len()],
    /// Redis-tier entries read and written, in bytes before compression.
    pub redis_entry_bytes_read: AtomicU64,
    pub redis_entry_bytes_written: AtomicU64,
    pub write_refusals: AtomicU64,
    /// Writes let through with the store down (`on_store_down = "allow-writes"`).
    pub writes_allowed_store_down: AtomicU64,
}

/// The cache's part of `/health/detailed`.
#[derive(Debug, serde::Serialize)]
pub struct Health {
    /// `redis` or `in-process`.
    pub store: &'static str,
    /// Whether the last version-store call succeeded; when false, reads bypass the cache
    /// and writes are refused until it answers again.
    pub store_up: bool,
    pub redis_errors: u64,
    pub bytes: u64,
    /// Following writes that bypass brisk, when `follow_writes` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follow: Option<follow::FollowHealth>,
    /// `local`, `redis` or `both`: where entries live.
    pub tier: &'static str,
    /// Writes went through while the store was down and the new generation that makes
    /// every older entry unservable is not set yet: this brisk serves nothing until it is.
    pub generation_owed: bool,
}

impl Health {
    pub fn of(cache: &Cache) -> Health {
        Health {
            store: if cache.uses_redis() {
                "redis"
            } else {
                "in-process"
            },
            store_up: cache.store_up(),
            redis_errors: cache.totals.redis_errors.load(Ordering::Relaxed),
            bytes: cache.entry_bytes(),
            follow: cache.config.follow.as_ref().map(|_| cache.follow.health()),
            tier: cache.config.tier.name(),
            generation_owed: cache.owed.load(Ordering::SeqCst) > 0,
        }
    }
}

/// The cache every session shares.
pub struct Cache {
    pub config: CacheConfig,
    store: VersionStore,
    entries: moka::future::Cache<Vec<u8>, Arc<Entry>>,
    shapes: Mutex<HashMap<u64, Shape>>,
    memo: Mutex<HashMap<String, Arc<Classified>>>,
    catalogs: Mutex<HashMap<String, Arc<Catalog>>>,
    /// Bypasses by reason, across shapes; invalidations (bumps) per table.
    bypasses: Mutex<BTreeMap<String, u64>>,
    invalidations: Mutex<BTreeMap<String, u64>>,
    pub totals: Totals,
    /// Whether the last version-store call succeeded (for /health/detailed).
    store_up: std::sync::atomic::AtomicBool,
    next_lease: AtomicU64,
    instance: u64,
    /// The write followers' state and counters (`follow_writes`).
    pub follow: follow::FollowState,
    /// The Redis tier's writer, connected on the first fill (brisk starts with Redis down).
    entry_store: tier::EntryStore,
    /// Writes let through with the store down since the last new generation, and their
    /// leases (whose release may fail without retries: the new generation covers them).
    owed: AtomicU64,
    unannounced: Mutex<std::collections::HashSet<String>>,
    settling: std::sync::atomic::AtomicBool,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// A table's version key: its database, then `schema.name`.
fn table_key(database: &str, table: &str) -> String {
    format!("{database}/{table}")
}

impl Cache {
    pub fn new(config: CacheConfig) -> Result<Cache, CacheError> {
        let store = match &config.redis {
            Some(url) => VersionStore::redis(url)?,
            None => VersionStore::local(),
        };
        let entries = moka::future::Cache::builder()
            .max_capacity(config.max_bytes)
            .weigher(|key: &Vec<u8>, entry: &Arc<Entry>| {
                u32::try_from(key.len() + entry.frames.len() + 64).unwrap_or(u32::MAX)
            })
            .build();
        let shapes = config
            .shapes
            .iter()
            .map(|(fingerprint, ttl)| (*fingerprint, Shape::new(*ttl, "config")))
            .collect();
        Ok(Cache {
            store,
            entries,
            shapes: Mutex::new(shapes),
            memo: Mutex::new(HashMap::new()),
            catalogs: Mutex::new(HashMap::new()),
            bypasses: Mutex::new(BTreeMap::new()),
            invalidations: Mutex::new(BTreeMap::new()),
            totals: Totals::default(),
            store_up: std::sync::atomic::AtomicBool::new(true),
            next_lease: AtomicU64::new(1),
            instance: versions::random_u64(),
            follow: follow::FollowState::default(),
            entry_store: tier::EntryStore::new(config.redis.clone()),
            owed: AtomicU64::new(0),
            unannounced: Mutex::new(std::collections::HashSet::new()),
            settling: std::sync::atomic::AtomicBool::new(false),
            config,
        })
    }

    pub fn uses_redis(&self) -> bool {
        self.store.is_redis()
    }

    pub fn store_up(&self) -> bool {
        self.store_up.load(Ordering::Relaxed)
    }

    /// The classification of `query`, remembered.
    pub fn classified(&self, query: &str) -> Arc<Classified> {
        if let Some(found) = lock(&self.memo).get(query) {
            return found.clone();
        }
        let classified = Arc::new(classify(query, self.config.default_ttl));
        let mut memo = lock(&self.memo);
        if memo.len() >= MEMO_LIMIT {
            memo.clear();
        }
        memo.insert(query.to_string(), classified.clone());
        classified
    }

    /// A fresh lease id, unique across instances.
    pub fn new_lease(&self) -> String {
        format!(
            "{:016x}-{}",
            self.instance,
            self.next_lease.fetch_add(1, Ordering::Relaxed)
        )
    }

    pub fn catalog(&self, database: &str) -> Option<Arc<Catalog>> {
        lock(&self.catalogs).get(database).cloned()
    }

    pub fn set_catalog(&self, database: &str, catalog: Catalog) {
        lock(&self.catalogs).insert(database.to_string(), Arc::new(catalog));
    }

    /// After DDL: read the catalog again before trusting it.
    pub fn forget_catalog(&self, database: &str) {
        lock(&self.catalogs).remove(database);
    }

    /// Opts a shape in (admin `CACHE`).
    pub fn opt_in(&self, fingerprint: u64, ttl: Option<Duration>, source: &'static str) {
        let ttl = ttl.unwrap_or(self.config.default_ttl);
        lock(&self.shapes)
            .entry(fingerprint)
            .and_modify(|s| s.ttl = ttl)
            .or_insert_with(|| Shape::new(ttl, source));
    }

    /// Opts a shape out (admin `UNCACHE`); its entries stop being served.
    pub fn opt_out(&self, fingerprint: u64) -> bool {
        lock(&self.shapes).remove(&fingerprint).is_some()
    }

    /// Shapes with their TTL, source and counters, for `SHOW CACHE`.
    pub fn shapes(&self) -> Vec<(u64, Duration, &'static str, ShapeStats)> {
        let mut shapes: Vec<_> = lock(&self.shapes)
            .iter()
            .map(|(f, s)| (*f, s.ttl, s.source, s.stats.clone()))
            .collect();
        shapes.sort_by_key(|s| s.0);
        shapes
    }

    pub fn bypasses(&self) -> BTreeMap<String, u64> {
        lock(&self.bypasses).clone()
    }

    pub fn invalidations(&self) -> BTreeMap<String, u64> {
        lock(&self.invalidations).clone()
    }

    pub fn entry_bytes(&self) -> u64 {
        self.entries.weighted_size()
    }

    fn bypass(&self, fingerprint: u64, reason: &str) {
        let category = reason.split(' ').take(2).collect::<Vec<_>>().join(" ");
        *lock(&self.bypasses).entry(category.clone()).or_insert(0) += 1;
        let mut shapes = lock(&self.shapes);
        if let Some(shape) = shapes.get_mut(&fingerprint) {
            *shape.stats.bypasses.entry(category).or_insert(0) += 1;
            if shape.logged.as_deref() != Some(reason) {
                tracing::info!(fingerprint = %format!("{fingerprint:016x}"), reason, "cached shape bypassed");
                shape.logged = Some(reason.to_string());
            }
        }
    }

    fn with_shape(&self, fingerprint: u64, f: impl FnOnce(&mut ShapeStats)) {
        if let Some(shape) = lock(&self.shapes).get_mut(&fingerprint) {
            f(&mut shape.stats);
        }
    }

    async fn timed_check(&self, keys: &[String]) -> Result<Check, CacheError> {
        let started = Instant::now();
        let result = self.store.check(keys).await;
        self.count_round_trip(started, result.is_ok());
        result
    }

    fn count_round_trip(&self, started: Instant, ok: bool) {
        if self.store.is_redis() {
            self.count_redis_trip(started, ok);
        }
        self.store_up.store(ok, Ordering::Relaxed);
    }

    fn count_redis_trip(&self, started: Instant, ok: bool) {
        let elapsed = started.elapsed();
        let totals = &self.totals;
        totals.redis_round_trips.fetch_add(1, Ordering::Relaxed);
        totals
            .redis_round_trip_us
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        let bucket = tier::RTT_BUCKETS
            .iter()
            .position(|le| elapsed.as_secs_f64() <= *le)
            .unwrap_or(tier::RTT_BUCKETS.len() - 1);
        totals.redis_round_trip_buckets[bucket].fetch_add(1, Ordering::Relaxed);
        if !ok {
            totals.redis_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Sets the new generation this brisk owes after letting writes through with the store
    /// down. True when nothing is owed (any more).
    async fn settle(&self) -> bool {
        let owed = self.owed.load(Ordering::SeqCst);
        if owed == 0 {
            return true;
        }
        let started = Instant::now();
        let result = self.store.new_generation().await;
        self.count_round_trip(started, result.is_ok());
        if result.is_err() {
            return false;
        }
        tracing::warn!(
            writes = owed,
            "result cache: the version store is back; a new generation makes every older entry unservable"
        );
        // A write let through meanwhile owes another one.
        self.owed
            .compare_exchange(owed, 0, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// Looks a query up: a hit to replay, a miss to fill, or neither. `batch` is empty for
    /// a simple query, else what besides the text decides an extended-protocol batch's
    /// answer (see `relay::Batch`).
    pub async fn lookup(&self, parts: &KeyParts<'_>, query: &str, batch: &[u8]) -> Lookup {
        let classified = self.classified(query);
        let (Some(read), Some(fingerprint)) = (&classified.read, classified.fingerprint) else {
            return Lookup::Pass;
        };
        // The guard is dropped before `opt_in` takes the lock again.
        let opted = lock(&self.shapes).get(&fingerprint).map(|s| s.ttl);
        let ttl = match (opted, classified.comment_ttl) {
            (Some(ttl), _) => ttl,
            (None, Some(ttl)) => {
                self.opt_in(fingerprint, Some(ttl), "comment");
                ttl
            }
            (None, None) => return Lookup::Pass,
        };
        let (tables, functions) = match read {
            Ok(read) => read,
            Err(reason) => {
                self.bypass(fingerprint, &format!("not cacheable: {reason}"));
                return Lookup::Pass;
            }
        };
        let Some(catalog) = self.catalog(parts.database) else {
            self.bypass(fingerprint, "catalog not read yet");
            return Lookup::Pass;
        };
        let mut keys = match catalog.read_keys(tables, functions) {
            Ok(keys) => keys,
            Err(reason) => {
                self.bypass(fingerprint, &reason);
                return Lookup::Pass;
            }
        };
        keys.push(EPOCH.to_string());
        let keys: Vec<String> = keys.iter().map(|k| table_key(parts.database, k)).collect();
        let mut key = Vec::with_capacity(query.len() + batch.len() + 64);
        for part in [parts.database, parts.user, parts.settings, query] {
            key.extend_from_slice(part.as_bytes());
            key.push(0);
        }
        // The parts above hold no NUL, and a batch's part is never empty: a simple query's
        // key and a batch's never meet.
        key.extend_from_slice(batch);
        if !self.settle().await {
            self.bypass(
                fingerprint,
                "version store unavailable: a new generation is owed",
            );
            return Lookup::Pass;
        }
        let tier = self.config.tier;
        let entry = match tier.local() {
            true => self.entries.get(&key).await,
            false => None,
        };
        let now = Instant::now();
        // Without a live local entry, the Redis tier's is read with the versions.
        let redis_key = (tier.redis() && entry.as_ref().is_none_or(|e| e.expires <= now))
            .then(|| tier::redis_key(&key));
        let started = Instant::now();
        let checked = match &redis_key {
            Some(redis_key) => self.store.check_entry(&keys, redis_key).await,
            None => self.store.check(&keys).await.map(|c| (c, None)),
        };
        self.count_round_trip(started, checked.is_ok());
        let (check, stored) = match checked {
            Ok(checked) => checked,
            Err(e) => {
                self.bypass(fingerprint, &format!("version store unavailable: {e}"));
                return Lookup::Pass;
            }
        };
        if check.leased {
            self.bypass(fingerprint, "write in flight");
            return Lookup::Pass;
        }
        if let Some(entry) = entry {
            if entry.expires > now
                && entry.generation == check.generation
                && entry.versions == check.versions
            {
                self.totals.hits.fetch_add(1, Ordering::Relaxed);
                self.with_shape(fingerprint, |s| s.hits += 1);
                return Lookup::Hit(entry.frames.clone());
            }
            self.with_shape(fingerprint, |s| s.invalidations += 1);
            self.entries.invalidate(&key).await;
        }
        if let Some(stored) = stored {
            self.totals
                .redis_entry_bytes_read
                .fetch_add(stored.len() as u64, Ordering::Relaxed);
            // `None`: another key with the same hash, or a value brisk cannot read; a miss.
            if let Some(entry) = tier::decode(&stored, &key) {
                if entry.expires > now
                    && entry.generation == check.generation
                    && entry.versions == check.versions
                {
                    self.totals.hits.fetch_add(1, Ordering::Relaxed);
                    self.totals.redis_hits.fetch_add(1, Ordering::Relaxed);
                    self.with_shape(fingerprint, |s| {
                        s.hits += 1;
                        s.redis_hits += 1;
                    });
                    let frames = entry.frames.clone();
                    if tier.local() {
                        self.entries.insert(key, Arc::new(entry)).await;
                    }
                    return Lookup::Hit(frames);
                }
                self.with_shape(fingerprint, |s| s.invalidations += 1);
            }
        }
        self.totals.misses.fetch_add(1, Ordering::Relaxed);
        self.with_shape(fingerprint, |s| s.misses += 1);
        Lookup::Miss(Fill {
            key,
            check,
            keys: keys.into(),
            fingerprint,
            ttl,
        })
    }

    /// Stores a filled answer if the versions it was read under are still current and no
    /// write is in flight (else it may predate a write, and is dropped).
    pub async fn store(&self, fill: Fill, frames: Bytes) {
        // A write let through with the store down may predate the answer: nothing is kept
        // until the new generation is set.
        let owed = self.owed.load(Ordering::SeqCst) > 0;
        let still = !owed
            && match self.timed_check(&fill.keys).await {
                Ok(check) => !check.leased && check == fill.check,
                Err(_) => false,
            };
        if !still {
            self.totals.fill_rejections.fetch_add(1, Ordering::Relaxed);
            self.with_shape(fill.fingerprint, |s| s.fill_rejections += 1);
            return;
        }
        let bytes = frames.len() as u64;
        self.with_shape(fill.fingerprint, |s| s.bytes = bytes);
        let entry = Entry {
            frames,
            generation: fill.check.generation,
            versions: fill.check.versions,
            expires: Instant::now() + fill.ttl,
        };
        if self.config.tier.redis() {
            // Entries carry what they were filled under: one stored late is never served.
            let value = tier::encode(&fill.key, &entry, fill.ttl);
            let started = Instant::now();
            let stored = self
                .entry_store
                .set(&tier::entry_name(&fill.key), &value, fill.ttl)
                .await;
            self.count_redis_trip(started, stored.is_ok());
            match stored {
                Ok(()) => {
                    self.totals
                        .redis_entry_bytes_written
                        .fetch_add(value.len() as u64, Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::debug!(error = %e, "result cache: the Redis tier did not store an entry")
                }
            }
        }
        if self.config.tier.local() {
            self.entries.insert(fill.key, Arc::new(entry)).await;
        }
    }

    /// The version keys a write must bump, from its classes (with the catalog), or `None`
    /// when it writes nothing a cache can hold. DDL also makes the catalog be read again.
    pub fn write_keys(&self, database: &str, classes: &[Arc<Classified>]) -> Option<Vec<String>> {
        let keys = self.keys_written(database, classes);
        if classes.iter().any(|c| c.write == WriteClass::Epoch("DDL")) {
            self.forget_catalog(database);
        }
        keys
    }

    /// What `write_keys` says, without acting on it.
    fn keys_written(&self, database: &str, classes: &[Arc<Classified>]) -> Option<Vec<String>> {
        let catalog = self.catalog(database);
        let mut keys: Vec<String> = Vec::new();
        let mut epoch = None;
        for class in classes {
            match (&class.write, &catalog) {
                (WriteClass::None, _) => {}
                (WriteClass::Epoch(why), _) => epoch = Some(why.to_string()),
                (_, None) => epoch = Some("catalog not read yet".into()),
                (WriteClass::Functions(functions), Some(catalog)) => {
                    if let Some(why) = catalog.may_write(functions) {
                        epoch = Some(why);
                    }
                }
                (WriteClass::Tables(tables), Some(catalog)) => match catalog.write_keys(tables) {
                    WriteKeys::Tables(tables) => keys.extend(tables),
                    WriteKeys::Epoch(why) => epoch = Some(why),
                },
            }
        }
        if let Some(why) = epoch {
            tracing::debug!(database, why, "write bumps the database epoch");
            keys = vec![EPOCH.to_string()];
        }
        if keys.is_empty() {
            return None;
        }
        keys.sort();
        keys.dedup();
        Some(keys.iter().map(|k| table_key(database, k)).collect())
    }

    /// Marks `keys` as being written and bumps them, before the write reaches the server.
    /// With the store down: an error (the write is refused), or with `on_store_down =
    /// "allow-writes"` the write goes through and this brisk owes a new generation, which
    /// it sets (retrying every 100 ms) before it serves or fills again.
    pub async fn acquire(self: &Arc<Self>, keys: &[String], lease: &str) -> Result<(), CacheError> {
        let started = Instant::now();
        let result = self
            .store
            .acquire(keys, lease, self.config.write_lease)
            .await;
        self.count_round_trip(started, result.is_ok());
        let Err(e) = result else {
            return Ok(());
        };
        if self.config.on_store_down == StoreDown::RefuseWrites {
            self.totals.write_refusals.fetch_add(1, Ordering::Relaxed);
            return Err(e);
        }
        lock(&self.unannounced).insert(lease.to_string());
        self.totals
            .writes_allowed_store_down
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(error = %e, "result cache: a write goes through unannounced (on_store_down = \"allow-writes\"); the cache is bypassed until the store is back");
        self.owe_generation();
        Ok(())
    }

    /// Owes a new generation, and sets it from a task that retries every 100 ms.
    fn owe_generation(self: &Arc<Self>) {
        self.owed.fetch_add(1, Ordering::SeqCst);
        if !self.settling.swap(true, Ordering::SeqCst) {
            let cache = self.clone();
            tokio::spawn(async move {
                while !cache.settle().await {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                cache.settling.store(false, Ordering::SeqCst);
            });
        }
    }

    /// Bumps the versions of tables (`schema.name`) written around brisk, as the follower
    /// decoded them, or the database's epoch when `tables` is `None`. One bump suffices: it
    /// comes after the commit, so an entry filled before it is never served again, and a
    /// fill that straddles it is rejected.
    pub async fn bump_followed(
        self: &Arc<Self>,
        database: &str,
        tables: Option<&[String]>,
    ) -> Result<(), CacheError> {
        let keys: Vec<String> = match tables {
            Some(tables) => tables.iter().map(|t| table_key(database, t)).collect(),
            None => vec![table_key(database, EPOCH)],
        };
        // A release of no lease is a plain bump.
        self.release(&keys, "").await
    }

    /// Bumps `keys` again and clears the marks, once the transaction is over.
    pub async fn release(self: &Arc<Self>, keys: &[String], lease: &str) -> Result<(), CacheError> {
        let started = Instant::now();
        let mut result = self.store.release(keys, lease).await;
        self.count_round_trip(started, result.is_ok());
        // A transaction with an unannounced write whose end cannot be announced either: a
        // fill made after the owed generation was set may predate its commit, so another
        // generation is owed (no retries: the client waits for nothing).
        if lock(&self.unannounced).remove(lease) && result.is_err() {
            self.owe_generation();
            result = Ok(());
        }
        let mut invalidations = lock(&self.invalidations);
        for key in keys {
            *invalidations.entry(key.clone()).or_insert(0) += 1;
        }
        result
    }
}

impl Shape {
    fn new(ttl: Duration, source: &'static str) -> Shape {
        Shape {
            ttl,
            source,
            stats: ShapeStats::default(),
            logged: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_comment_opts_in_with_its_ttl_or_the_default() {
        let default = Duration::from_secs(60);
        assert_eq!(
            comment_ttl("SELECT 1 /* brisk:cache ttl=5 */", default),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            comment_ttl("/* brisk:cache */ SELECT 1", default),
            Some(default)
        );
        assert_eq!(comment_ttl("SELECT '/* brisk:cache */'", default), None);
    }

    #[test]
    fn writes_are_classified_and_what_cannot_be_known_bumps_the_epoch() {
        let d = Duration::from_secs(60);
        assert_eq!(
            classify("SELECT * FROM t WHERE id = 1", d).write,
            WriteClass::None
        );
        assert_eq!(
            classify("UPDATE t SET a = 1", d).write,
            WriteClass::Tables(vec![TableName::new("t")])
        );
        assert_eq!(
            classify("WITH x AS (DELETE FROM s RETURNING *) SELECT * FROM x", d).write,
            WriteClass::Tables(vec![TableName::new("s")])
        );
        assert!(matches!(
            classify("ALTER TABLE t ADD c int", d).write,
            WriteClass::Epoch(_)
        ));
        assert!(matches!(
            classify("CALL p()", d).write,
            WriteClass::Epoch(_)
        ));
        assert!(matches!(
            classify("SELEC oops", d).write,
            WriteClass::Epoch(_)
        ));
        assert_eq!(classify("BEGIN", d).write, WriteClass::None);
        assert!(matches!(
            classify("SELECT f(1)", d).write,
            WriteClass::Functions(_)
        ));
    }

    #[test]
    fn settings_brisk_cannot_follow_are_noticed() {
        assert!(sets_untracked("SET search_path = a"));
        assert!(sets_untracked("set local extra_float_digits to 3"));
        assert!(sets_untracked("RESET ALL"));
        assert!(!sets_untracked("SET TimeZone = 'UTC'"));
        assert!(!sets_untracked("SET TIME ZONE 'UTC'"));
        assert!(!sets_untracked(
            "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"
        ));
        assert!(!sets_untracked("SELECT 1"));
    }
}
