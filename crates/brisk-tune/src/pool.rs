//! Pool sizing from `brisk proxy`'s admin console: two readings of `SHOW STATS` (cumulative
//! transaction and wait times per database), around the activity sample, give the
//! concurrency the application really had, by Little's law as the proxy's
//! `/health/detailed` computes it. That sizes `default_pool_size` and `max_connections`
//! from measurement instead of a rule of thumb (`2 × cores + 5`).

use std::collections::BTreeMap;
use std::time::Instant;

use brisk_pg::{Console, PgError};
use serde::Serialize;

/// Pools sized so the measured demand fills half of them, as brisk proxy's own advice does
/// (`health.rs`, TARGET_UTILIZATION): the other half absorbs bursts shorter than the window.
pub const TARGET_UTILIZATION: f64 = 0.5;

/// Cumulative counters of one database in `SHOW STATS`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct DbCounters {
    pub transactions: u64,
    /// Microseconds transactions held a server, summed.
    pub xact_us: u64,
    /// Microseconds clients waited for a server, summed.
    pub wait_us: u64,
}

/// One reading of the console.
#[derive(Debug, Clone)]
pub struct ProxyReading {
    pub at: Instant,
    pub stats: BTreeMap<String, DbCounters>,
    /// `SHOW POOLS`: (database, user) pools and their servers in use now.
    pub pools: Vec<(String, String, u64)>,
    /// `SHOW DATABASES`: each database's pool size and reserve pool.
    pub pool_sizes: BTreeMap<String, (u64, u64)>,
}

fn column<'a>(row: &'a [(String, String)], name: &str) -> Option<&'a str> {
    row.iter().find(|(c, _)| c == name).map(|(_, v)| v.as_str())
}

fn number(row: &[(String, String)], name: &str) -> u64 {
    column(row, name).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Reads `SHOW STATS`, `SHOW POOLS` and `SHOW DATABASES`.
pub async fn read(console: &Console) -> Result<ProxyReading, PgError> {
    let at = Instant::now();
    let stats = console
        .show("SHOW STATS")
        .await?
        .iter()
        .filter_map(|row| {
            Some((
                column(row, "database")?.to_string(),
                DbCounters {
                    transactions: number(row, "total_xact_count"),
                    xact_us: number(row, "total_xact_time"),
                    wait_us: number(row, "total_wait_time"),
                },
            ))
        })
        .collect();
    let pools = console
        .show("SHOW POOLS")
        .await?
        .iter()
        .filter_map(|row| {
            Some((
                column(row, "database")?.to_string(),
                column(row, "user")?.to_string(),
                number(row, "sv_active"),
            ))
        })
        .collect();
    let pool_sizes = console
        .show("SHOW DATABASES")
        .await?
        .iter()
        .filter_map(|row| {
            Some((
                column(row, "name")?.to_string(),
                (number(row, "pool_size"), number(row, "reserve_pool")),
            ))
        })
        .collect();
    Ok(ProxyReading {
        at,
        stats,
        pools,
        pool_sizes,
    })
}

/// One database between two readings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DbWindow {
    pub database: String,
    pub transactions: u64,
    /// Little's law: transactions/s × mean server time = servers busy on average.
    pub busy_servers: f64,
    /// Transactions/s × (server time + wait) = clients wanting a server on average.
    pub demand: f64,
    /// Servers in use at the later reading, summed over the database's pools.
    pub servers_in_use: u64,
    /// The database's pools (one per user) and its pool size and reserve now.
    pub pools: u64,
    pub pool_size: u64,
    pub reserve_pool: u64,
    /// The pool size the demand needs at [`TARGET_UTILIZATION`], at least 1.
    pub needed_pool_size: u64,
}

/// What the proxy saw between two readings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProxyWindow {
    pub seconds: f64,
    pub databases: Vec<DbWindow>,
}

impl ProxyWindow {
    pub fn transactions(&self) -> u64 {
        self.databases.iter().map(|d| d.transactions).sum()
    }
}

/// The window between two readings (a counter that went down, after a proxy restart,
/// counts from zero).
pub fn window(first: &ProxyReading, last: &ProxyReading) -> ProxyWindow {
    let seconds = last.at.duration_since(first.at).as_secs_f64();
    let databases = last
        .stats
        .iter()
        .map(|(database, end)| {
            let start = first.stats.get(database).copied().unwrap_or_default();
            let start = if end.transactions < start.transactions {
                DbCounters::default()
            } else {
                start
            };
            let transactions = end.transactions - start.transactions;
            let xact_s = end.xact_us.saturating_sub(start.xact_us) as f64 / 1e6;
            let wait_s = end.wait_us.saturating_sub(start.wait_us) as f64 / 1e6;
            let (busy_servers, demand) = if seconds > 0.0 {
                (xact_s / seconds, (xact_s + wait_s) / seconds)
            } else {
                (0.0, 0.0)
            };
            let mine = last.pools.iter().filter(|(db, _, _)| db == database);
            let (pools, servers_in_use) =
                mine.fold((0, 0), |(n, used), (_, _, active)| (n + 1, used + active));
            let (pool_size, reserve_pool) =
                last.pool_sizes.get(database).copied().unwrap_or((0, 0));
            DbWindow {
                database: database.clone(),
                transactions,
                busy_servers,
                demand,
                servers_in_use,
                pools,
                pool_size,
                reserve_pool,
                needed_pool_size: ((demand / TARGET_UTILIZATION).ceil() as u64)
                    .max(servers_in_use)
                    .max(1),
            }
        })
        .collect();
    ProxyWindow { seconds, databases }
}

/// The server connections the proxy may open with `pool_size` per pool: every pool full,
/// and each database's reserve.
pub fn server_connections(window: &ProxyWindow, pool_size: u64) -> u64 {
    window
        .databases
        .iter()
        .map(|d| d.pools.max(1) * pool_size + d.reserve_pool)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn reading(at: Instant, xacts: u64, xact_us: u64, wait_us: u64, active: u64) -> ProxyReading {
        ProxyReading {
            at,
            stats: BTreeMap::from([(
                "app".to_string(),
                DbCounters {
                    transactions: xacts,
                    xact_us,
                    wait_us,
                },
            )]),
            pools: vec![
                ("app".to_string(), "web".to_string(), active),
                ("app".to_string(), "jobs".to_string(), 0),
                ("other".to_string(), "web".to_string(), 5),
            ],
            pool_sizes: BTreeMap::from([("app".to_string(), (20, 2))]),
        }
    }

    #[test]
    fn littles_law_on_two_readings() {
        let t0 = Instant::now();
        // 2 s: 400 transactions of 10 ms each (4 s of server time) and 1 s of waiting:
        // 2 servers busy on average, 2.5 clients wanting one, 5 servers at 50%.
        let w = window(
            &reading(t0, 100, 1_000_000, 0, 0),
            &reading(t0 + Duration::from_secs(2), 500, 5_000_000, 1_000_000, 3),
        );
        assert_eq!(w.seconds, 2.0);
        let app = &w.databases[0];
        assert_eq!(app.transactions, 400);
        assert!((app.busy_servers - 2.0).abs() < 1e-9);
        assert!((app.demand - 2.5).abs() < 1e-9);
        assert_eq!((app.pools, app.servers_in_use), (2, 3));
        assert_eq!(app.needed_pool_size, 5);
        // 2 pools of 5 and a reserve of 2.
        assert_eq!(server_connections(&w, 5), 12);
    }

    #[test]
    fn an_idle_or_restarted_proxy_needs_one_server_and_counts_from_zero() {
        let t0 = Instant::now();
        let idle = window(
            &reading(t0, 100, 1_000_000, 0, 0),
            &reading(t0 + Duration::from_secs(1), 100, 1_000_000, 0, 0),
        );
        assert_eq!(idle.transactions(), 0);
        assert_eq!(idle.databases[0].needed_pool_size, 1);
        let restarted = window(
            &reading(t0, 1_000, 9_000_000, 0, 0),
            &reading(t0 + Duration::from_secs(1), 10, 500_000, 0, 0),
        );
        assert_eq!(restarted.databases[0].transactions, 10);
        assert!((restarted.databases[0].busy_servers - 0.5).abs() < 1e-9);
        // The servers in use at the end are a floor: 4 busy now need 4 whatever the mean.
        let busy_now = window(
            &reading(t0, 0, 0, 0, 0),
            &reading(t0 + Duration::from_secs(1), 1, 1_000, 0, 4),
        );
        assert_eq!(busy_now.databases[0].needed_pool_size, 4);
    }
}
