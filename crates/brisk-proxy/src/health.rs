//! Pool health: what each pool did over the last `pool_health_window`, a score from 0 to 100,
//! advice on its size, whether each upstream answers, and readiness.
//!
//! A sampler reads every pool once a second ([`SAMPLE_PERIOD`]): servers in use against the
//! pool size, waiting clients, the longest current wait, and the pool's cumulative counters
//! (transactions, server time, wait time), whose differences over the window give rates.
//! A prober opens a connection to each configured upstream every `upstream_check_period`,
//! used or not, and keeps the last answer. Both run only when `http_listen` is set: the
//! HTTP endpoints are their only readers.
//!
//! Everything judged here is measured: a recommendation quotes the numbers it was computed
//! from and the window they cover. The score and the advice are pure functions of a
//! [`WindowSummary`], unit-tested at their breakpoints.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::pool::Pool;
use crate::proxy::Shared;
use crate::server::ServerTarget;

/// How often pools are sampled.
pub const SAMPLE_PERIOD: Duration = Duration::from_secs(1);

/// Advice sizes pools so that the measured demand fills half of them: 50% is the top of
/// the health score's 100 band, and the other half absorbs bursts shorter than the window.
const TARGET_UTILIZATION: f64 = 0.5;

/// A pool is advised to grow once clients waited in at least 5% of the window's samples:
/// below that, pool waits stay out of the 95th percentile of transactions, which is what
/// latency targets are usually written against.
const SATURATED_SHARE_FOR_ADVICE: f64 = 0.05;

/// Score points lost per client waiting on average over the window, and at most. A waiting
/// client means the pool is the bottleneck whatever its utilization says (a reserve pool or
/// a size just raised by a reload can hide it).
const WAITING_PENALTY_PER_CLIENT: f64 = 5.0;
const WAITING_PENALTY_MAX: f64 = 25.0;

/// Score points lost per second of the longest wait seen in the window, and at most: one
/// second is where a user notices a delay (Nielsen's response-time limits: 0.1 s, 1 s,
/// 10 s), so a one-second wait costs the whole penalty.
const MAX_WAIT_PENALTY_PER_SECOND: f64 = 25.0;
const MAX_WAIT_PENALTY_MAX: f64 = 25.0;

/// A pool's cumulative counters at one instant.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    transactions: u64,
    queries: u64,
    transaction_us: u64,
    wait_us: u64,
}

/// One reading of a pool.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    size: usize,
    in_use: usize,
    waiting: usize,
    max_wait: Duration,
    counters: Counters,
}

impl Sample {
    fn of(pool: &Pool) -> Sample {
        let s = &pool.stats;
        Sample {
            at: Instant::now(),
            size: pool.settings().size,
            in_use: s.active_clients.load(Ordering::Relaxed),
            waiting: s.waiting.load(Ordering::Relaxed),
            max_wait: pool.max_wait(),
            counters: Counters {
                transactions: s.xact_count.load(Ordering::Relaxed),
                queries: s.query_count.load(Ordering::Relaxed),
                transaction_us: s.xact_time_us.load(Ordering::Relaxed),
                wait_us: s.wait_time_us.load(Ordering::Relaxed),
            },
        }
    }

    /// Servers in use over the pool size; above 1 when reserve connections are lent.
    fn utilization(&self) -> f64 {
        self.in_use as f64 / self.size.max(1) as f64
    }
}

/// The samples of one pool, newest last, and since when its clients have waited without a
/// break (kept apart from the samples so it outlives the window).
#[derive(Default)]
struct History {
    samples: VecDeque<Sample>,
    saturated_since: Option<Instant>,
}

/// What a pool's samples over the window say. Rates are over the time between the oldest
/// and the newest sample.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct WindowSummary {
    /// Samples taken, one a second: the window this summary covers.
    pub samples: usize,
    pub seconds: f64,
    /// Mean and highest share of the pool in use (servers in use / pool size).
    pub utilization_mean: f64,
    pub utilization_peak: f64,
    pub servers_in_use_peak: usize,
    pub waiting_mean: f64,
    pub waiting_peak: usize,
    /// The longest wait any sample saw in progress.
    pub max_wait_seconds: f64,
    /// Share of the samples in which clients waited.
    pub saturated_share: f64,
    pub transactions: u64,
    pub queries: u64,
    pub transactions_per_second: f64,
    pub queries_per_second: f64,
    /// Mean time a transaction held its server, and waited for it.
    pub mean_transaction_seconds: f64,
    pub mean_wait_seconds: f64,
    /// Little's law: transactions/s x mean server time = servers busy on average.
    pub busy_servers: f64,
    /// Transactions/s x (server time + wait) = clients wanting a server on average.
    pub demand: f64,
}

impl WindowSummary {
    fn of(samples: &[Sample]) -> WindowSummary {
        let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
            return WindowSummary::default();
        };
        let n = samples.len() as f64;
        let seconds = last.at.duration_since(first.at).as_secs_f64();
        let delta = |f: fn(&Counters) -> u64| f(&last.counters).saturating_sub(f(&first.counters));
        let transactions = delta(|c| c.transactions);
        let queries = delta(|c| c.queries);
        let transaction_s = delta(|c| c.transaction_us) as f64 / 1e6;
        let wait_s = delta(|c| c.wait_us) as f64 / 1e6;
        let per_second = |x: f64| if seconds > 0.0 { x / seconds } else { 0.0 };
        let per_transaction = |x: f64| {
            if transactions > 0 {
                x / transactions as f64
            } else {
                0.0
            }
        };
        WindowSummary {
            samples: samples.len(),
            seconds: samples.len() as f64 * SAMPLE_PERIOD.as_secs_f64(),
            utilization_mean: samples.iter().map(Sample::utilization).sum::<f64>() / n,
            utilization_peak: samples.iter().map(Sample::utilization).fold(0.0, f64::max),
            servers_in_use_peak: samples.iter().map(|s| s.in_use).max().unwrap_or(0),
            waiting_mean: samples.iter().map(|s| s.waiting as f64).sum::<f64>() / n,
            waiting_peak: samples.iter().map(|s| s.waiting).max().unwrap_or(0),
            max_wait_seconds: samples
                .iter()
                .map(|s| s.max_wait.as_secs_f64())
                .fold(0.0, f64::max),
            saturated_share: samples.iter().filter(|s| s.waiting > 0).count() as f64 / n,
            transactions,
            queries,
            transactions_per_second: per_second(transactions as f64),
            queries_per_second: per_second(queries as f64),
            mean_transaction_seconds: per_transaction(transaction_s),
            mean_wait_seconds: per_transaction(wait_s),
            busy_servers: per_second(transaction_s),
            demand: per_second(transaction_s + wait_s),
        }
    }
}

/// The health score and its parts.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Score {
    /// 0 (unusable) to 100 (healthy): the utilization score minus both penalties.
    pub score: u32,
    pub utilization_score: f64,
    pub waiting_penalty: f64,
    pub max_wait_penalty: f64,
}

/// The seed formula: 100 up to 50% utilization; from 80 down to 50 between 50% and 80%;
/// from 50 down to 0 between 80% and 100%. Utilization above 100% (reserve connections in
/// use) scores 0. The step at 50% is the seed's: past half the pool, headroom is no longer
/// free.
pub fn utilization_score(utilization: f64) -> f64 {
    let u = utilization.max(0.0);
    if u <= 0.5 {
        100.0
    } else if u <= 0.8 {
        80.0 - (u - 0.5) / 0.3 * 30.0
    } else if u <= 1.0 {
        50.0 - (u - 0.8) / 0.2 * 50.0
    } else {
        0.0
    }
}

pub fn waiting_penalty(waiting_mean: f64) -> f64 {
    (waiting_mean.max(0.0) * WAITING_PENALTY_PER_CLIENT).min(WAITING_PENALTY_MAX)
}

pub fn max_wait_penalty(max_wait_seconds: f64) -> f64 {
    (max_wait_seconds.max(0.0) * MAX_WAIT_PENALTY_PER_SECOND).min(MAX_WAIT_PENALTY_MAX)
}

/// Scores a window: its mean utilization, less the penalties for its mean number of waiting
/// clients and its longest wait, clamped to 0..=100.
pub fn score(window: &WindowSummary) -> Score {
    let utilization_score = utilization_score(window.utilization_mean);
    let waiting_penalty = waiting_penalty(window.waiting_mean);
    let max_wait_penalty = max_wait_penalty(window.max_wait_seconds);
    let score = (utilization_score - waiting_penalty - max_wait_penalty).clamp(0.0, 100.0);
    Score {
        score: score.round() as u32,
        utilization_score,
        waiting_penalty,
        max_wait_penalty,
    }
}

/// Advice on a pool's size, with the numbers behind it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Recommendation {
    /// `raise_pool_size` or `lower_pool_size`.
    pub kind: &'static str,
    /// The `default_pool_size` advised.
    pub default_pool_size: usize,
    pub text: String,
}

/// What the window says about the pool's size, if anything.
///
/// - Clients waited in at least 5% of the window: the pool should hold the measured demand
///   (Little's law: transactions/s x (mean server time + mean wait), the clients that want
///   a server on average) at 50% utilization, and grow by at least one.
/// - No client waited, the window is full and had traffic, and half the pool would hold
///   both the most servers in use at once and the mean busy servers (transactions/s x mean
///   server time) at 50%: the pool can shrink to that.
///
/// A pool with no traffic gets no advice: nothing was measured.
pub fn recommendations(
    window: &WindowSummary,
    pool_size: usize,
    min_pool_size: usize,
    full_window: usize,
) -> Vec<Recommendation> {
    let span = describe_seconds(window.seconds);
    let mut advice = Vec::new();
    if window.saturated_share >= SATURATED_SHARE_FOR_ADVICE {
        let needed = (window.demand / TARGET_UTILIZATION).ceil() as usize;
        let size = needed.max(pool_size + 1);
        advice.push(Recommendation {
            kind: "raise_pool_size",
            default_pool_size: size,
            text: format!(
                "pool saturated {share:.0}% of the last {span} (clients waited up to {wait}): \
                 it ran {tps:.1} transactions/s, each holding a server {held} and waiting {waited} \
                 on average, so {demand:.1} clients wanted a server at a time (Little's law); \
                 raise default_pool_size to {size} (from {pool_size}) to serve that demand at \
                 {target:.0}% utilization",
                share = window.saturated_share * 100.0,
                wait = describe_duration(window.max_wait_seconds),
                tps = window.transactions_per_second,
                held = describe_duration(window.mean_transaction_seconds),
                waited = describe_duration(window.mean_wait_seconds),
                demand = window.demand,
                target = TARGET_UTILIZATION * 100.0,
            ),
        });
    } else if window.saturated_share == 0.0
        && window.samples >= full_window
        && window.transactions > 0
    {
        let by_mean = (window.busy_servers / TARGET_UTILIZATION).ceil() as usize;
        let size = by_mean
            .max(window.servers_in_use_peak)
            .max(min_pool_size)
            .max(1);
        if size * 2 <= pool_size {
            advice.push(Recommendation {
                kind: "lower_pool_size",
                default_pool_size: size,
                text: format!(
                    "pool mostly idle over the last {span}: at most {peak} of its {pool_size} \
                     servers were in use at once (sampled every second), and {tps:.1} \
                     transactions/s x {held} each kept {busy:.2} servers busy on average \
                     (Little's law); {size} servers would do: default_pool_size = {size}",
                    peak = window.servers_in_use_peak,
                    tps = window.transactions_per_second,
                    held = describe_duration(window.mean_transaction_seconds),
                    busy = window.busy_servers,
                ),
            });
        }
    }
    advice
}

/// `5 min`, `90 s`.
fn describe_seconds(seconds: f64) -> String {
    let whole = seconds.round() as u64;
    if whole >= 60 && whole % 60 == 0 {
        format!("{} min", whole / 60)
    } else {
        format!("{whole} s")
    }
}

/// `2.1 s`, `48.0 ms`, `350 µs`.
fn describe_duration(seconds: f64) -> String {
    if seconds >= 1.0 {
        format!("{seconds:.1} s")
    } else if seconds >= 0.001 {
        format!("{:.1} ms", seconds * 1e3)
    } else {
        format!("{:.0} µs", seconds * 1e6)
    }
}

/// A pool's state now, from its live counters.
#[derive(Debug, Clone, Serialize)]
pub struct PoolNow {
    pub clients_active: usize,
    pub clients_waiting: usize,
    pub servers_active: usize,
    pub servers_idle: usize,
    pub max_wait_seconds: f64,
}

impl PoolNow {
    pub fn of(pool: &Pool) -> PoolNow {
        let s = &pool.stats;
        let waiting = s.waiting.load(Ordering::Relaxed);
        PoolNow {
            // As SHOW POOLS' cl_active: connected clients that are not waiting.
            clients_active: s.clients.load(Ordering::Relaxed).saturating_sub(waiting),
            clients_waiting: waiting,
            servers_active: s.active_clients.load(Ordering::Relaxed),
            servers_idle: pool.idle_count(),
            max_wait_seconds: pool.max_wait().as_secs_f64(),
        }
    }
}

/// Everything `/health/detailed` says about one pool.
#[derive(Debug, Clone, Serialize)]
pub struct PoolReport {
    pub database: String,
    pub user: String,
    pub pool_size: usize,
    pub now: PoolNow,
    pub window: WindowSummary,
    pub health: Score,
    pub recommendations: Vec<Recommendation>,
}

/// The last probe of one upstream.
#[derive(Debug, Clone)]
pub struct UpstreamStatus {
    pub checked: Instant,
    /// `None` when it answered; why not otherwise.
    pub error: Option<String>,
}

/// The sampler's and the prober's results, read by the HTTP endpoints.
#[derive(Default)]
pub struct Health {
    pools: Mutex<HashMap<(String, String), History>>,
    upstreams: Mutex<BTreeMap<String, UpstreamStatus>>,
}

impl Health {
    /// Takes one sample of every pool, keeping the last `window` of them.
    fn sample(&self, pools: &[Arc<Pool>], window: Duration) {
        let keep = samples_in(window);
        let mut histories = lock(&self.pools);
        histories.retain(|key, _| {
            pools
                .iter()
                .any(|p| (&p.database, &p.user) == (&key.0, &key.1))
        });
        for pool in pools {
            let sample = Sample::of(pool);
            let history = histories
                .entry((pool.database.clone(), pool.user.clone()))
                .or_default();
            history.saturated_since = match (sample.waiting > 0, history.saturated_since) {
                (true, Some(since)) => Some(since),
                (true, None) => Some(sample.at),
                (false, _) => None,
            };
            history.samples.push_back(sample);
            while history.samples.len() > keep {
                history.samples.pop_front();
            }
        }
    }

    /// The report on one pool over its recorded window (or, before the first sample, on
    /// the pool as it is now).
    pub fn report(&self, pool: &Pool, min_pool_size: usize, window: Duration) -> PoolReport {
        let samples: Vec<Sample> = lock(&self.pools)
            .get(&(pool.database.clone(), pool.user.clone()))
            .map(|h| h.samples.iter().copied().collect())
            .filter(|s: &Vec<Sample>| !s.is_empty())
            .unwrap_or_else(|| vec![Sample::of(pool)]);
        let summary = WindowSummary::of(&samples);
        let pool_size = pool.settings().size;
        PoolReport {
            database: pool.database.clone(),
            user: pool.user.clone(),
            pool_size,
            now: PoolNow::of(pool),
            health: score(&summary),
            recommendations: recommendations(
                &summary,
                pool_size,
                min_pool_size,
                samples_in(window),
            ),
            window: summary,
        }
    }

    /// How long `pool`'s clients have waited for a server without a break, if they do.
    fn saturated_for(&self, pool: &Pool) -> Option<Duration> {
        lock(&self.pools)
            .get(&(pool.database.clone(), pool.user.clone()))
            .and_then(|h| h.saturated_since)
            .map(|since| since.elapsed())
    }

    fn record_probe(&self, database: &str, error: Option<String>) {
        lock(&self.upstreams).insert(
            database.to_string(),
            UpstreamStatus {
                checked: Instant::now(),
                error,
            },
        );
    }

    /// The last probe of each upstream, by database name.
    pub fn upstreams(&self) -> BTreeMap<String, UpstreamStatus> {
        lock(&self.upstreams).clone()
    }

    /// Why brisk should not get traffic now; empty when it should. An upstream that was
    /// not probed yet counts as not ready, so a fresh proxy turns ready after one probe.
    pub fn not_ready_reasons(&self, shared: &Shared) -> Vec<String> {
        let mut reasons = Vec::new();
        if shared.is_shutting_down() {
            reasons.push("brisk is shutting down".to_string());
        }
        let config = shared.config();
        let upstreams = self.upstreams();
        for name in config.databases.keys() {
            match upstreams.get(name) {
                None => reasons.push(format!("database {name}: upstream not checked yet")),
                Some(UpstreamStatus {
                    error: Some(error), ..
                }) => reasons.push(format!("database {name}: upstream unreachable: {error}")),
                Some(_) => {}
            }
        }
        let limit = config.ready_saturated_seconds;
        if !limit.is_zero() {
            for pool in shared.pools() {
                if let Some(waited) = self.saturated_for(&pool).filter(|w| *w > limit) {
                    reasons.push(format!(
                        "pool {}: clients have waited for a server for {} s without a break (ready_saturated_seconds = {})",
                        pool.name(),
                        waited.as_secs(),
                        limit.as_secs_f64()
                    ));
                }
            }
        }
        reasons
    }
}

/// How many one-second samples fill `window`.
fn samples_in(window: Duration) -> usize {
    (window.as_secs_f64() / SAMPLE_PERIOD.as_secs_f64())
        .ceil()
        .max(1.0) as usize
}

/// Samples every pool once a second, for ever (the proxy aborts it on shutdown).
pub async fn sample_pools(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(SAMPLE_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let window = shared.config().pool_health_window;
        shared.health().sample(&shared.pools(), window);
    }
}

/// Probes every configured upstream each `upstream_check_period`, for ever (the proxy
/// aborts it on shutdown). Probes of different upstreams run at once; a round ends when
/// all have answered or timed out (`server_connect_timeout`).
pub async fn probe_upstreams(shared: Arc<Shared>) {
    // Targets (with their TLS configurations) are built once per configuration.
    let mut built_for: Option<Arc<crate::Config>> = None;
    let mut targets: Vec<(String, ServerTarget)> = Vec::new();
    loop {
        let config = shared.config();
        if !built_for.as_ref().is_some_and(|b| Arc::ptr_eq(b, &config)) {
            targets.clear();
            for db in config.databases.values() {
                match shared.probe_target(db) {
                    Ok(target) => targets.push((db.name.clone(), target)),
                    Err(e) => shared.health().record_probe(&db.name, Some(e)),
                }
            }
            built_for = Some(config.clone());
        }
        let probes = targets.iter().cloned().map(|(name, target)| {
            let shared = shared.clone();
            tokio::spawn(async move {
                let error = crate::server::probe(&target).await.err();
                if let Some(e) = &error {
                    tracing::debug!(database = %name, error = %e, "upstream probe failed");
                }
                shared
                    .health()
                    .record_probe(&name, error.map(|e| e.to_string()));
            })
        });
        for probe in probes.collect::<Vec<_>>() {
            let _ = probe.await;
        }
        lock(&shared.health().upstreams).retain(|name, _| config.databases.contains_key(name));
        tokio::time::sleep(config.upstream_check_period).await;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn utilization_scores_follow_the_seed_formula_at_its_breakpoints() {
        for (utilization, expected) in [
            (0.0, 100.0),
            (0.3, 100.0),
            (0.5, 100.0),
            (0.65, 65.0),
            (0.8, 50.0),
            (0.9, 25.0),
            (1.0, 0.0),
            (1.5, 0.0),
        ] {
            let got = utilization_score(utilization);
            assert!(close(got, expected), "{utilization}: {got} != {expected}");
        }
        // Just past half the pool the seed steps down to its 80..50 band.
        assert!(close(
            utilization_score(0.500_001),
            80.0 - 0.000_001 / 0.3 * 30.0
        ));
        assert!(utilization_score(0.799) > 50.0 && utilization_score(0.801) < 50.0);
    }

    #[test]
    fn penalties_grow_with_waiting_and_stop_at_their_caps() {
        assert!(close(waiting_penalty(0.0), 0.0));
        assert!(close(waiting_penalty(1.0), 5.0));
        assert!(close(waiting_penalty(3.0), 15.0));
        assert!(close(waiting_penalty(100.0), 25.0));
        assert!(close(max_wait_penalty(0.0), 0.0));
        assert!(close(max_wait_penalty(0.2), 5.0));
        assert!(close(max_wait_penalty(1.0), 25.0));
        assert!(close(max_wait_penalty(30.0), 25.0));
    }

    #[test]
    fn the_score_subtracts_penalties_and_stays_within_0_to_100() {
        let healthy = WindowSummary {
            utilization_mean: 0.3,
            ..WindowSummary::default()
        };
        assert_eq!(score(&healthy).score, 100);
        let busy = WindowSummary {
            utilization_mean: 0.65,
            waiting_mean: 1.0,
            max_wait_seconds: 0.2,
            ..WindowSummary::default()
        };
        assert_eq!(score(&busy).score, 55, "65 - 5 - 5");
        let drowning = WindowSummary {
            utilization_mean: 1.0,
            waiting_mean: 40.0,
            max_wait_seconds: 12.0,
            ..WindowSummary::default()
        };
        let s = score(&drowning);
        assert_eq!(s.score, 0);
        assert!(close(s.waiting_penalty + s.max_wait_penalty, 50.0));
    }

    /// Samples a second apart, with the given (in use, waiting) and counters growing by
    /// `tps` transactions a second that hold a server `held` and wait `waited` seconds.
    fn samples(
        size: usize,
        load: &[(usize, usize)],
        tps: u64,
        held: f64,
        waited: f64,
    ) -> Vec<Sample> {
        let start = Instant::now();
        load.iter()
            .enumerate()
            .map(|(i, &(in_use, waiting))| {
                let t = i as u64;
                Sample {
                    at: start + Duration::from_secs(t),
                    size,
                    in_use,
                    waiting,
                    max_wait: Duration::from_secs_f64(if waiting > 0 { waited } else { 0.0 }),
                    counters: Counters {
                        transactions: tps * t,
                        queries: 3 * tps * t,
                        transaction_us: tps * t * (held * 1e6) as u64,
                        wait_us: tps * t * (waited * 1e6) as u64,
                    },
                }
            })
            .collect()
    }

    #[test]
    fn the_window_measures_rates_and_littles_law() {
        let w = WindowSummary::of(&samples(
            10,
            &[(4, 0), (6, 0), (8, 2), (10, 4)],
            100,
            0.05,
            0.01,
        ));
        assert_eq!(w.samples, 4);
        assert!(close(w.utilization_mean, 0.7));
        assert!(close(w.utilization_peak, 1.0));
        assert_eq!(w.waiting_peak, 4);
        assert!(close(w.saturated_share, 0.5));
        assert_eq!(w.transactions, 300);
        assert!(close(w.transactions_per_second, 100.0));
        assert!(close(w.queries_per_second, 300.0));
        assert!(close(w.mean_transaction_seconds, 0.05));
        assert!(close(w.busy_servers, 5.0), "100/s x 50 ms");
        assert!(close(w.demand, 6.0), "100/s x (50 + 10) ms");
        assert_eq!(WindowSummary::of(&[]), WindowSummary::default());
    }

    #[test]
    fn a_saturated_pool_is_advised_to_hold_its_demand_at_half() {
        // 20 servers, clients waiting in 2 of 5 samples, 360 transactions/s holding a server
        // 50 ms and waiting 25 ms: 27 clients want a server at a time, 54 hold it at 50%.
        let load = [(20, 0), (20, 6), (20, 9), (18, 0), (20, 0)];
        let w = WindowSummary::of(&samples(20, &load, 360, 0.05, 0.025));
        let advice = recommendations(&w, 20, 0, 300);
        assert_eq!(advice.len(), 1, "{advice:?}");
        assert_eq!(advice[0].kind, "raise_pool_size");
        assert_eq!(advice[0].default_pool_size, 54);
        let text = &advice[0].text;
        assert!(
            text.starts_with("pool saturated 40% of the last 5 s"),
            "{text}"
        );
        assert!(
            text.contains("raise default_pool_size to 54 (from 20)"),
            "{text}"
        );
        assert!(text.contains("Little's law"), "{text}");
    }

    #[test]
    fn a_saturated_pool_grows_by_at_least_one() {
        // Waits measured but few transactions finished in the window: the demand is under
        // the pool size, yet clients waited, so one more server is the least advice.
        let w = WindowSummary::of(&samples(4, &[(4, 1), (4, 1), (4, 1)], 1, 0.2, 0.2));
        let advice = recommendations(&w, 4, 0, 300);
        assert_eq!(advice[0].default_pool_size, 5, "{advice:?}");
    }

    #[test]
    fn an_oversized_pool_is_advised_to_shrink_and_a_busy_or_idle_one_is_not() {
        let quiet = [(1, 0), (2, 0), (1, 0), (0, 0)];
        let w = WindowSummary::of(&samples(20, &quiet, 40, 0.02, 0.0));
        let advice = recommendations(&w, 20, 0, 4);
        assert_eq!(advice.len(), 1, "{advice:?}");
        assert_eq!(advice[0].kind, "lower_pool_size");
        // 40/s x 20 ms = 0.8 busy servers -> 2 at 50%; the peak was 2 as well.
        assert_eq!(advice[0].default_pool_size, 2);
        assert!(
            advice[0].text.contains("2 servers would do"),
            "{}",
            advice[0].text
        );
        assert!(
            recommendations(&w, 20, 5, 4)[0].default_pool_size == 5,
            "min_pool_size"
        );
        assert!(
            recommendations(&w, 3, 0, 4).is_empty(),
            "a pool sized right"
        );
        assert!(
            recommendations(&w, 20, 0, 300).is_empty(),
            "a window not yet full"
        );
        let idle = WindowSummary::of(&samples(20, &[(0, 0); 4], 0, 0.0, 0.0));
        assert!(
            recommendations(&idle, 20, 0, 4).is_empty(),
            "no traffic, no advice"
        );
        let busy = WindowSummary::of(&samples(
            4,
            &[(3, 0), (4, 0), (2, 0), (4, 0)],
            60,
            0.05,
            0.0,
        ));
        assert!(
            recommendations(&busy, 4, 0, 4).is_empty(),
            "a busy pool without waits"
        );
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(describe_seconds(300.0), "5 min");
        assert_eq!(describe_seconds(90.0), "90 s");
        assert_eq!(describe_duration(2.14), "2.1 s");
        assert_eq!(describe_duration(0.048), "48.0 ms");
        assert_eq!(describe_duration(0.000_35), "350 µs");
    }
}
