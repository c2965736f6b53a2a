//! What `brisk proxy` saw during the run (`--proxy-admin`): its admin console read before
//! and after, and its pools watched while the run lasts.
//!
//! - `SHOW QUERIES` before and after: per fingerprint, the calls, errors and time the proxy
//!   timed during the run (the difference), so the mean is the run's. The proxy keeps one
//!   histogram per fingerprint since it started; `SHOW QUERY HISTOGRAMS` before and after
//!   subtract to the run's own, so the p95 is the run's. A proxy without the command gives
//!   the run's p95 only for fingerprints new to it; the others are labelled as the proxy's
//!   since its start (`p95_scope`), never passed off as the run's.
//! - `SHOW STATS` before and after: the queries and the time clients waited for a server,
//!   per database.
//! - `SHOW POOLS` every [`SAMPLE_EVERY`]: the most clients waiting and servers in use seen,
//!   against each database's `pool_size` (`SHOW DATABASES`), since a queue that formed and
//!   drained during the run is gone by the time it ends.
//!
//! Each fingerprint is matched with the pg_stat_statements row of the same shape (brisk-sql's
//! fingerprint of its normalized text, which is pg_query's, as the proxy's), so the report
//! shows the proxy's view of a statement (the client's wait included) next to the server's.
//! It reads only `SHOW` commands: nothing on the proxy changes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use brisk_pg::conninfo::ConnInfo;
use brisk_pg::{Console, SessionOptions};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::database::DatabaseReport;
use crate::result::decode_histogram;
use crate::BenchError;

/// How often the pools are looked at during the run. A queue shorter than this can be
/// missed by the peaks, never by the wait time (`SHOW STATS` counts every wait).
pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// How many fingerprints the report keeps, by time during the run.
pub const TOP_FINGERPRINTS: usize = 10;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProxyReport {
    /// "brisk proxy admin console".
    pub source: String,
    /// The console's address, without a password.
    pub target: String,
    /// Why there are no per-fingerprint statistics (`query_stats = false`), when so.
    pub note: Option<String>,
    /// Statements the proxy timed during the run, all clients, and their time.
    pub calls: u64,
    pub total_ms: f64,
    /// The fingerprints that took the most time during the run, most first.
    pub statements: Vec<ProxyStatement>,
    /// One row per pool (database, user) seen.
    pub pools: Vec<ProxyPool>,
    /// Pool waits and saturation, one line each; empty when clients never waited.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProxyStatement {
    pub database: String,
    /// 16 hex digits, as `SHOW QUERIES` prints it.
    pub fingerprint: String,
    /// Normalized text (`$1` for constants).
    pub query: String,
    pub calls: u64,
    pub errors: u64,
    pub total_ms: f64,
    pub mean_ms: f64,
    /// The proxy's p95 of this fingerprint (see `p95_scope`).
    pub p95_ms: f64,
    /// `"run"` when every call the proxy timed was during the run, `"proxy_lifetime"`
    /// when it had calls before: the proxy keeps one histogram since its start.
    pub p95_scope: String,
    /// Time its clients waited for a server during the run.
    pub wait_ms: f64,
    /// Share of the report's `total_ms`.
    pub share_pct: f64,
    /// The pg_stat_statements row of the same shape during the run, when there is one.
    pub pg_query_id: Option<i64>,
    pub pg_calls: Option<i64>,
    pub pg_mean_ms: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProxyPool {
    pub database: String,
    pub user: String,
    /// `SHOW DATABASES`' pool_size of the database (0 when it was not listed).
    pub pool_size: u64,
    /// The most servers in use at one look.
    pub max_servers_active: u64,
    /// The most clients waiting for a server at one look.
    pub max_clients_waiting: u64,
    /// The longest wait in progress at one look.
    pub max_wait_ms: f64,
    /// Queries through the pool's database during the run, and the time its clients
    /// waited for a server (`SHOW STATS`, per database).
    pub queries: u64,
    pub wait_ms: f64,
    /// Every server of the pool was in use at some look.
    pub saturated: bool,
}

const SOURCE: &str = "brisk proxy admin console";

/// A fingerprint's counters at one reading.
#[derive(Debug, Clone, Default)]
struct QueryCounters {
    query: String,
    calls: u64,
    errors: u64,
    total_ms: f64,
    wait_ms: f64,
    p95_ms: f64,
    /// The fingerprint's histogram since the proxy started (`SHOW QUERY HISTOGRAMS`), when
    /// the proxy has the command.
    histogram: Option<Histogram<u64>>,
}

/// One database's `SHOW STATS` counters.
#[derive(Debug, Clone, Copy, Default)]
struct DbCounters {
    queries: u64,
    wait_us: u64,
}

#[derive(Debug)]
struct Reading {
    /// By (database, fingerprint); `Err` when the proxy keeps no query statistics.
    queries: Result<HashMap<(String, String), QueryCounters>, String>,
    stats: HashMap<String, DbCounters>,
}

/// The most seen of one pool during the run.
#[derive(Debug, Clone, Copy, Default)]
struct Peak {
    servers_active: u64,
    clients_waiting: u64,
    wait_us: u64,
}

type Peaks = HashMap<(String, String), Peak>;

/// The console, its reading before the run and the pool sampler.
pub struct ProxyWatch {
    console: Arc<Console>,
    target: String,
    before: Reading,
    sampler: Option<(oneshot::Sender<()>, JoinHandle<Peaks>)>,
}

/// Connects to the console and reads it before the run. An unreachable console or one that
/// is not a brisk proxy's is bad input: the user asked for this report.
pub async fn watch(info: &ConnInfo) -> Result<ProxyWatch, BenchError> {
    let target = info.redacted();
    let console = Console::connect(info, &SessionOptions::default())
        .await
        .map_err(|e| BenchError::Argument(format!("--proxy-admin: {e}")))?;
    let before = read(&console)
        .await
        .map_err(|e| BenchError::Argument(format!("--proxy-admin {target}: {e}")))?;
    let console = Arc::new(console);
    let (stop, stopped) = oneshot::channel();
    let sampler = tokio::spawn(sample_pools(console.clone(), stopped));
    Ok(ProxyWatch {
        console,
        target,
        before,
        sampler: Some((stop, sampler)),
    })
}

impl ProxyWatch {
    /// Stops watching the pools, reads the console again and reports the differences.
    /// Called before the database's own counters are read, so that reading is not in it;
    /// [`ProxyReport::match_database`] then adds the database's figures.
    pub async fn finish(mut self) -> ProxyReport {
        let peaks = match self.sampler.take() {
            Some((stop, sampler)) => {
                let _ = stop.send(());
                sampler.await.unwrap_or_default()
            }
            None => Peaks::new(),
        };
        let pool_sizes = pool_sizes(&self.console).await;
        match read(&self.console).await {
            Ok(after) => report(&self.target, &self.before, &after, &peaks, &pool_sizes),
            Err(e) => ProxyReport {
                source: SOURCE.into(),
                target: self.target.clone(),
                note: Some(format!("the console could not be read after the run: {e}")),
                ..ProxyReport::default()
            },
        }
    }
}

fn number(row: &[(String, String)], name: &str) -> u64 {
    column(row, name)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn float(row: &[(String, String)], name: &str) -> f64 {
    column(row, name)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

fn column<'a>(row: &'a [(String, String)], name: &str) -> Option<&'a str> {
    row.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

async fn read(console: &Console) -> Result<Reading, String> {
    let stats = console
        .show("SHOW STATS")
        .await
        .map_err(|e| e.to_string())?
        .iter()
        .filter_map(|row| {
            Some((
                column(row, "database")?.to_string(),
                DbCounters {
                    queries: number(row, "total_query_count"),
                    wait_us: number(row, "total_wait_time"),
                },
            ))
        })
        .collect();
    // A proxy with query_stats = false answers SHOW QUERIES with an error: the pools are
    // still worth reporting.
    let mut queries: Result<HashMap<(String, String), QueryCounters>, String> =
        match console.show("SHOW QUERIES").await {
            Ok(rows) => Ok(rows
                .iter()
                .filter_map(|row| {
                    // The "other" row (folded fingerprints) has no fingerprint.
                    let fingerprint = column(row, "fingerprint").filter(|f| !f.is_empty())?;
                    Some((
                        (
                            column(row, "database")?.to_string(),
                            fingerprint.to_string(),
                        ),
                        QueryCounters {
                            query: column(row, "query").unwrap_or("").to_string(),
                            calls: number(row, "calls"),
                            errors: number(row, "errors"),
                            total_ms: float(row, "total_ms"),
                            wait_ms: float(row, "wait_ms"),
                            p95_ms: float(row, "p95_ms"),
                            histogram: None,
                        },
                    ))
                })
                .collect()),
            Err(e) => Err(e.to_string()),
        };
    // A proxy older than the command (or PgBouncer) answers with an error: the p95 is then
    // the run's only for fingerprints new to the proxy.
    if let (Ok(queries), Ok(rows)) = (&mut queries, console.show("SHOW QUERY HISTOGRAMS").await) {
        for row in &rows {
            let (Some(database), Some(fingerprint), Some(encoded)) = (
                column(row, "database"),
                column(row, "fingerprint"),
                column(row, "histogram"),
            ) else {
                continue;
            };
            if let (Some(counters), Ok(histogram)) = (
                queries.get_mut(&(database.to_string(), fingerprint.to_string())),
                decode_histogram(encoded),
            ) {
                counters.histogram = Some(histogram);
            }
        }
    }
    Ok(Reading { queries, stats })
}

/// `SHOW DATABASES`: pool_size per database name.
async fn pool_sizes(console: &Console) -> HashMap<String, u64> {
    console
        .show("SHOW DATABASES")
        .await
        .map(|rows| {
            rows.iter()
                .filter_map(|row| {
                    Some((column(row, "name")?.to_string(), number(row, "pool_size")))
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn sample_pools(console: Arc<Console>, mut stop: oneshot::Receiver<()>) -> Peaks {
    let mut peaks = Peaks::new();
    let mut ticks = tokio::time::interval(SAMPLE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = ticks.tick() => {}
        }
        let Ok(rows) = console.show("SHOW POOLS").await else {
            continue;
        };
        for row in &rows {
            let (Some(database), Some(user)) = (column(row, "database"), column(row, "user"))
            else {
                continue;
            };
            let peak = peaks
                .entry((database.to_string(), user.to_string()))
                .or_default();
            peak.servers_active = peak.servers_active.max(number(row, "sv_active"));
            peak.clients_waiting = peak.clients_waiting.max(number(row, "cl_waiting"));
            let wait_us = number(row, "maxwait") * 1_000_000 + number(row, "maxwait_us");
            peak.wait_us = peak.wait_us.max(wait_us);
        }
    }
    peaks
}

fn report(
    target: &str,
    before: &Reading,
    after: &Reading,
    peaks: &Peaks,
    pool_sizes: &HashMap<String, u64>,
) -> ProxyReport {
    let mut report = ProxyReport {
        source: SOURCE.into(),
        target: target.into(),
        ..ProxyReport::default()
    };
    match (&before.queries, &after.queries) {
        (Ok(before), Ok(after)) => {
            report.statements = statements(before, after);
            report.calls = report.statements.iter().map(|s| s.calls).sum();
            report.total_ms = report.statements.iter().map(|s| s.total_ms).sum();
            rank(&mut report.statements, report.total_ms);
        }
        (Err(note), _) | (_, Err(note)) => report.note = Some(note.clone()),
    }
    let mut pools: Vec<ProxyPool> = peaks
        .iter()
        .map(|((database, user), peak)| {
            let pool_size = pool_sizes.get(database).copied().unwrap_or(0);
            let (queries, wait_us) = match (before.stats.get(database), after.stats.get(database)) {
                (Some(b), Some(a)) if a.queries >= b.queries => {
                    (a.queries - b.queries, a.wait_us.saturating_sub(b.wait_us))
                }
                (_, Some(a)) => (a.queries, a.wait_us),
                _ => (0, 0),
            };
            ProxyPool {
                database: database.clone(),
                user: user.clone(),
                pool_size,
                max_servers_active: peak.servers_active,
                max_clients_waiting: peak.clients_waiting,
                max_wait_ms: peak.wait_us as f64 / 1000.0,
                queries,
                wait_ms: wait_us as f64 / 1000.0,
                saturated: pool_size > 0 && peak.servers_active >= pool_size,
            }
        })
        .collect();
    pools.sort_by(|a, b| (&a.database, &a.user).cmp(&(&b.database, &b.user)));
    report.warnings = warnings(&pools);
    report.pools = pools;
    report
}

impl ProxyReport {
    /// Puts each fingerprint's pg_stat_statements row of the same shape (brisk-sql's
    /// fingerprint of its normalized text) next to it.
    pub fn match_database(&mut self, database: &DatabaseReport) {
        let by_shape: HashMap<String, &crate::database::DatabaseStatement> = database
            .statements
            .iter()
            .filter_map(|s| Some((brisk_sql::fingerprint(&s.query).ok()?.to_string(), s)))
            .collect();
        for s in &mut self.statements {
            if let Some(pg) = by_shape.get(&s.fingerprint) {
                s.pg_query_id = Some(pg.query_id);
                s.pg_calls = Some(pg.calls);
                s.pg_mean_ms = Some(pg.mean_ms);
            }
        }
    }
}

/// The counters' growth per fingerprint, with the p95's scope. A fingerprint whose calls
/// went down was reset (the proxy restarted): its counters after the run are all that is
/// known of it.
fn statements(
    before: &HashMap<(String, String), QueryCounters>,
    after: &HashMap<(String, String), QueryCounters>,
) -> Vec<ProxyStatement> {
    after
        .iter()
        .filter_map(|((db, fingerprint), a)| {
            let (calls, errors, total_ms, wait_ms, p95_ms, scope) =
                match before.get(&(db.clone(), fingerprint.clone())) {
                    Some(b) if a.calls >= b.calls && b.calls > 0 => {
                        // The two histograms' difference is the run's own.
                        let run_p95 = match (&a.histogram, &b.histogram) {
                            (Some(after), Some(before)) => {
                                let mut run = after.clone();
                                match run.subtract(before) {
                                    Ok(()) if !run.is_empty() => {
                                        Some(run.value_at_quantile(0.95) as f64 / 1000.0)
                                    }
                                    _ => None,
                                }
                            }
                            _ => None,
                        };
                        (
                            a.calls - b.calls,
                            a.errors.saturating_sub(b.errors),
                            a.total_ms - b.total_ms,
                            a.wait_ms - b.wait_ms,
                            run_p95.unwrap_or(a.p95_ms),
                            if run_p95.is_some() {
                                "run"
                            } else {
                                "proxy_lifetime"
                            },
                        )
                    }
                    _ => (a.calls, a.errors, a.total_ms, a.wait_ms, a.p95_ms, "run"),
                };
            if calls == 0 {
                return None;
            }
            Some(ProxyStatement {
                database: db.clone(),
                fingerprint: fingerprint.clone(),
                query: a.query.clone(),
                calls,
                errors,
                total_ms: total_ms.max(0.0),
                mean_ms: total_ms.max(0.0) / calls as f64,
                p95_ms,
                p95_scope: scope.into(),
                wait_ms: wait_ms.max(0.0),
                share_pct: 0.0,
                pg_query_id: None,
                pg_calls: None,
                pg_mean_ms: None,
            })
        })
        .collect()
}

fn rank(statements: &mut Vec<ProxyStatement>, total_ms: f64) {
    statements.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
    statements.truncate(TOP_FINGERPRINTS);
    for s in statements.iter_mut() {
        s.share_pct = if total_ms > 0.0 {
            s.total_ms / total_ms * 100.0
        } else {
            0.0
        };
    }
}

/// One line per pool whose clients waited or whose servers were all in use.
fn warnings(pools: &[ProxyPool]) -> Vec<String> {
    let mut out = Vec::new();
    for p in pools {
        if p.max_clients_waiting > 0 || p.wait_ms > 0.0 {
            out.push(format!(
                "pool {}/{}: clients waited {:.1} ms in total for a server during the run ({:.3} ms per query), up to {} waiting at once, the longest wait seen {:.1} ms: the pool is too small for the load or its transactions hold servers too long",
                p.database,
                p.user,
                p.wait_ms,
                if p.queries > 0 { p.wait_ms / p.queries as f64 } else { 0.0 },
                p.max_clients_waiting,
                p.max_wait_ms,
            ));
        }
        if p.saturated {
            out.push(format!(
                "pool {}/{}: saturated: all {} servers (pool_size) were in use",
                p.database, p.user, p.pool_size
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(calls: u64, total_ms: f64) -> QueryCounters {
        QueryCounters {
            query: "SELECT $1".into(),
            calls,
            errors: 0,
            total_ms,
            wait_ms: 0.0,
            p95_ms: 2.0,
            histogram: None,
        }
    }

    fn with_latencies(mut counters: QueryCounters, us: &[(u64, u64)]) -> QueryCounters {
        let mut histogram = crate::result::new_histogram();
        for &(value, count) in us {
            histogram.record_n(value, count).unwrap();
        }
        counters.histogram = Some(histogram);
        counters
    }

    #[test]
    fn with_histograms_the_p95_is_the_runs_own() {
        // 100 fast calls before the run; the run adds 50 slow ones.
        let before: HashMap<_, _> = [(
            key("a"),
            with_latencies(counters(100, 100.0), &[(1_000, 100)]),
        )]
        .into();
        let after: HashMap<_, _> = [(
            key("a"),
            with_latencies(counters(150, 600.0), &[(1_000, 100), (10_000, 50)]),
        )]
        .into();
        let s = statements(&before, &after);
        assert_eq!(s[0].p95_scope, "run");
        assert!((s[0].p95_ms - 10.0).abs() < 0.1, "{}", s[0].p95_ms);
        // Without the histograms, the proxy's p95 since its start, said so.
        let mut before = before;
        before.get_mut(&key("a")).unwrap().histogram = None;
        let s = statements(&before, &after);
        assert_eq!(s[0].p95_scope, "proxy_lifetime");
        assert_eq!(s[0].p95_ms, 2.0);
    }

    fn key(fp: &str) -> (String, String) {
        ("app".to_string(), fp.to_string())
    }

    #[test]
    fn the_run_is_the_difference_and_the_p95_says_its_scope() {
        let before: HashMap<_, _> = [(key("a"), counters(100, 100.0))].into();
        let after: HashMap<_, _> = [
            (key("a"), counters(150, 600.0)), // +50 calls, +500 ms, seen before
            (key("b"), counters(10, 20.0)),   // new during the run
        ]
        .into();
        let mut s = statements(&before, &after);
        rank(&mut s, 520.0);
        assert_eq!(s[0].fingerprint, "a");
        assert_eq!(s[0].calls, 50);
        assert!((s[0].mean_ms - 10.0).abs() < 1e-9);
        assert_eq!(s[0].p95_scope, "proxy_lifetime");
        assert_eq!(s[1].p95_scope, "run");
        assert!((s[0].share_pct - 500.0 / 520.0 * 100.0).abs() < 1e-9);
    }

    #[test]
    fn waits_and_saturation_are_flagged_and_a_quiet_pool_is_not() {
        let pool = |waiting, active, wait_ms| ProxyPool {
            database: "app".into(),
            user: "u".into(),
            pool_size: 4,
            max_servers_active: active,
            max_clients_waiting: waiting,
            wait_ms,
            saturated: active >= 4,
            ..ProxyPool::default()
        };
        assert!(warnings(&[pool(0, 2, 0.0)]).is_empty());
        let w = warnings(&[pool(3, 4, 120.0)]);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("waited 120.0 ms"));
        assert!(w[1].contains("saturated"));
    }
}
