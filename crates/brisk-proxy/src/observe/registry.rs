//! Statistics per (database, fingerprint), bounded: the fingerprints with the most total
//! time are kept in detail and the rest fold into one "other" entry.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::Executed;

/// The upper bounds (milliseconds) of the latency buckets `/metrics` exports.
pub const BUCKET_BOUNDS_MS: [f64; 14] = [
    0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
];

/// Latencies are recorded in microseconds up to an hour (longer ones count as an hour), to
/// two significant digits: a percentile is within 1% of the true value.
const HIGHEST_US: u64 = 3_600_000_000;
const SIGNIFICANT_DIGITS: u8 = 2;

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_US, SIGNIFICANT_DIGITS)
        .expect("constant bounds within the crate's rules: 1 <= low, high >= 2 * low, digits <= 5")
}

struct Entry {
    /// Normalized text (constants as `$n`), from the first statement seen.
    query: Arc<str>,
    calls: u64,
    errors: u64,
    rows: u64,
    total_us: u64,
    wait_us: u64,
    histogram: Histogram<u64>,
    /// The EXPLAIN of a slow run, when `explain_slow` is on.
    plan: Option<Arc<str>>,
}

impl Entry {
    fn new(query: Arc<str>) -> Entry {
        Entry {
            query,
            calls: 0,
            errors: 0,
            rows: 0,
            total_us: 0,
            wait_us: 0,
            histogram: new_histogram(),
            plan: None,
        }
    }

    fn add(&mut self, executed: &Executed) {
        let us = executed.duration.as_micros().min(u128::from(u64::MAX)) as u64;
        self.calls += 1;
        self.errors += u64::from(executed.error);
        self.rows += executed.rows;
        self.total_us = self.total_us.saturating_add(us);
        self.wait_us = self
            .wait_us
            .saturating_add(executed.wait.as_micros().min(u128::from(u64::MAX)) as u64);
        self.histogram.saturating_record(us.max(1));
    }

    fn fold(&mut self, other: &Entry) {
        self.calls += other.calls;
        self.errors += other.errors;
        self.rows += other.rows;
        self.total_us = self.total_us.saturating_add(other.total_us);
        self.wait_us = self.wait_us.saturating_add(other.wait_us);
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.histogram.add(&other.histogram);
    }

    fn summary(&self, database: Arc<str>, fingerprint: Option<u64>) -> QuerySummary {
        let us = |value: u64| Duration::from_micros(value);
        let quantile = |q: f64| {
            if self.histogram.is_empty() {
                Duration::ZERO
            } else {
                us(self.histogram.value_at_quantile(q))
            }
        };
        let mut buckets = vec![0u64; BUCKET_BOUNDS_MS.len()];
        for recorded in self.histogram.iter_recorded() {
            let value_ms = recorded.value_iterated_to() as f64 / 1000.0;
            if let Some(first) = BUCKET_BOUNDS_MS.iter().position(|&b| value_ms <= b) {
                buckets[first] += recorded.count_at_value();
            }
        }
        for i in 1..buckets.len() {
            buckets[i] += buckets[i - 1];
        }
        QuerySummary {
            database,
            fingerprint,
            query: self.query.clone(),
            calls: self.calls,
            errors: self.errors,
            rows: self.rows,
            total: us(self.total_us),
            wait: us(self.wait_us),
            p50: quantile(0.50),
            p95: quantile(0.95),
            p99: quantile(0.99),
            max: if self.histogram.is_empty() {
                Duration::ZERO
            } else {
                us(self.histogram.max())
            },
            buckets,
            plan: self.plan.clone(),
        }
    }
}

/// One fingerprint's statistics, as the console and `/metrics` show them.
#[derive(Debug, Clone)]
pub struct QuerySummary {
    pub database: Arc<str>,
    /// `None` for the "other" entry.
    pub fingerprint: Option<u64>,
    pub query: Arc<str>,
    pub calls: u64,
    pub errors: u64,
    pub rows: u64,
    pub total: Duration,
    pub wait: Duration,
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// Cumulative counts of statements at most as long as each of [`BUCKET_BOUNDS_MS`].
    pub buckets: Vec<u64>,
    /// The plan of a slow run (`explain_slow`).
    pub plan: Option<Arc<str>>,
}

impl QuerySummary {
    pub fn mean(&self) -> Duration {
        if self.calls == 0 {
            Duration::ZERO
        } else {
            self.total / self.calls.min(u64::from(u32::MAX)) as u32
        }
    }
}

/// Everything the registry holds at one moment.
#[derive(Debug, Clone)]
pub struct QueriesSnapshot {
    /// By total time, largest first.
    pub queries: Vec<QuerySummary>,
    /// The fingerprints folded away, summed.
    pub other: QuerySummary,
    /// How many fingerprints were folded into `other`.
    pub folded: u64,
    /// Statements never counted because the statistics thread was behind.
    pub dropped: u64,
}

pub struct Registry {
    by_database: HashMap<Arc<str>, HashMap<u64, Entry>>,
    len: usize,
    other: Entry,
    folded: u64,
}

/// One fingerprint's latency histogram, for a reader that wants the difference between two
/// moments (`SHOW QUERY HISTOGRAMS`, `brisk bench --proxy-admin`).
#[derive(Debug, Clone)]
pub struct QueryHistogram {
    pub database: Arc<str>,
    pub fingerprint: u64,
    pub calls: u64,
    /// HdrHistogram's V2 encoding in standard base64, microseconds.
    pub encoded: String,
}

impl Registry {
    pub fn new() -> Registry {
        Registry {
            by_database: HashMap::new(),
            len: 0,
            other: Entry::new("other".into()),
            folded: 0,
        }
    }

    /// Counts one statement; returns its normalized text.
    pub fn record(&mut self, fingerprint: u64, executed: &Executed, limit: usize) -> Arc<str> {
        let database = executed.client.database.as_str();
        if let Some(entry) = self
            .by_database
            .get_mut(database)
            .and_then(|entries| entries.get_mut(&fingerprint))
        {
            entry.add(executed);
            return entry.query.clone();
        }
        let normalized = brisk_sql::normalize(&executed.query);
        let text: Arc<str> = normalized.trim_end_matches([';', ' ', '\n', '\t']).into();
        let mut entry = Entry::new(text.clone());
        entry.add(executed);
        self.by_database
            .entry(database.into())
            .or_default()
            .insert(fingerprint, entry);
        self.len += 1;
        // Fold in batches, so a stream of new fingerprints costs a sort per eighth of the
        // limit rather than a scan per statement.
        let limit = limit.max(1);
        if self.len > limit + (limit / 8).max(1) {
            self.fold_to(limit);
        }
        text
    }

    /// Folds the fingerprints with the least total time into "other" until `limit` remain.
    fn fold_to(&mut self, limit: usize) {
        let mut all: Vec<(u64, Arc<str>, u64)> = self
            .by_database
            .iter()
            .flat_map(|(database, entries)| {
                entries
                    .iter()
                    .map(move |(fp, e)| (e.total_us, database.clone(), *fp))
            })
            .collect();
        all.sort_unstable_by_key(|(total, _, _)| *total);
        let excess = all.len().saturating_sub(limit);
        for (_, database, fingerprint) in all.into_iter().take(excess) {
            if let Some(entries) = self.by_database.get_mut(&database) {
                if let Some(entry) = entries.remove(&fingerprint) {
                    self.other.fold(&entry);
                    self.folded += 1;
                    self.len -= 1;
                }
                if entries.is_empty() {
                    self.by_database.remove(&database);
                }
            }
        }
    }

    pub fn set_plan(&mut self, database: &str, fingerprint: u64, plan: Arc<str>) {
        if let Some(entry) = self
            .by_database
            .get_mut(database)
            .and_then(|entries| entries.get_mut(&fingerprint))
        {
            entry.plan = Some(plan);
        }
    }

    /// Every kept fingerprint's histogram, encoded (the "other" entry has none: its
    /// members change as fingerprints fold).
    pub fn histograms(&self) -> Vec<QueryHistogram> {
        use base64::Engine;
        use hdrhistogram::serialization::Serializer;
        let mut all = Vec::with_capacity(self.len);
        let mut bytes = Vec::new();
        for (database, entries) in &self.by_database {
            for (fingerprint, entry) in entries {
                bytes.clear();
                // Writing to a Vec cannot fail, and the histogram is one brisk made.
                let _ = hdrhistogram::serialization::V2Serializer::new()
                    .serialize(&entry.histogram, &mut bytes);
                all.push(QueryHistogram {
                    database: database.clone(),
                    fingerprint: *fingerprint,
                    calls: entry.calls,
                    encoded: base64::engine::general_purpose::STANDARD.encode(&bytes),
                });
            }
        }
        all
    }

    pub fn snapshot(&self) -> QueriesSnapshot {
        let mut queries: Vec<QuerySummary> = self
            .by_database
            .iter()
            .flat_map(|(database, entries)| {
                entries
                    .iter()
                    .map(move |(fp, e)| e.summary(database.clone(), Some(*fp)))
            })
            .collect();
        queries.sort_by(|a, b| b.total.cmp(&a.total).then(b.calls.cmp(&a.calls)));
        QueriesSnapshot {
            queries,
            other: self.other.summary("*".into(), None),
            folded: self.folded,
            dropped: 0,
        }
    }
}
