//! The application's latency while brisk deletes, read from a pooler's admin console.
//!
//! `SHOW STATS` of brisk proxy (and of PgBouncer, whose columns it keeps) gives cumulative
//! query counts and query times per database. Two readings give the mean query time of the
//! application between them: that is what its users feel, and what a cleanup must not raise.
//! brisk reads a baseline before the first batch, then a window after each batch, and waits
//! while the window is slower than the baseline by both a factor and a floor.

use std::time::Duration;

use brisk_pg::Console;

use crate::CleanupError;

/// Queries a window needs before its mean is judged: fewer say more about one query than
/// about the application.
pub const MIN_QUERIES: u64 = 20;

/// A window this much slower than the baseline, at the least, holds the cleanup back,
/// whatever the factor: a slowdown under 10 ms per query is within what one busy moment of
/// the machine adds, and below what a web request's user notices.
pub const MIN_SLOWDOWN: Duration = Duration::from_millis(10);

/// Cumulative counters of the console's `SHOW STATS`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Totals {
    queries: u64,
    time_us: u64,
}

/// The application's mean query time, window by window.
pub struct AppLatency {
    console: Console,
    /// The console's database name to read (the proxy's name for the database), or every
    /// database's sum.
    database: Option<String>,
    last: Totals,
    baseline: Option<Duration>,
}

impl AppLatency {
    /// Starts reading `SHOW STATS` on `console`, for `database` or all of them.
    pub async fn start(
        console: Console,
        database: Option<String>,
    ) -> Result<AppLatency, CleanupError> {
        let mut latency = AppLatency {
            console,
            database,
            last: Totals::default(),
            baseline: None,
        };
        latency.last = latency.totals().await?;
        Ok(latency)
    }

    async fn totals(&self) -> Result<Totals, CleanupError> {
        let rows = self
            .console
            .show("SHOW STATS")
            .await
            .map_err(|e| CleanupError::Console(e.to_string()))?;
        let mut totals = Totals::default();
        let mut matched = false;
        for row in rows {
            let get = |name: &str| {
                row.iter()
                    .find(|(column, _)| column == name)
                    .map(|(_, value)| value.as_str())
            };
            if let Some(wanted) = &self.database {
                if get("database") != Some(wanted.as_str()) {
                    continue;
                }
            }
            let number = |name: &str| -> Result<u64, CleanupError> {
                get(name).and_then(|v| v.parse().ok()).ok_or_else(|| {
                    CleanupError::Console(format!("SHOW STATS has no number in {name}"))
                })
            };
            totals.queries += number("total_query_count")?;
            totals.time_us += number("total_query_time")?;
            matched = true;
        }
        match (&self.database, matched) {
            (Some(name), false) => Err(CleanupError::Console(format!(
                "SHOW STATS has no database {name}"
            ))),
            _ => Ok(totals),
        }
    }

    /// The mean query time since the last judged reading, or `None` while fewer than
    /// [`MIN_QUERIES`] queries ran since: the window then grows until it has enough (a slow
    /// application runs fewer queries, and must not escape judgement by it).
    pub async fn window(&mut self) -> Result<Option<Duration>, CleanupError> {
        let now = self.totals().await?;
        let queries = now.queries.saturating_sub(self.last.queries);
        if queries < MIN_QUERIES {
            return Ok(None);
        }
        let time_us = now.time_us.saturating_sub(self.last.time_us);
        self.last = now;
        Ok(Some(Duration::from_micros(time_us / queries)))
    }

    /// Starts a new window now, forgetting the queries since the last reading.
    async fn restart(&mut self) -> Result<(), CleanupError> {
        self.last = self.totals().await?;
        Ok(())
    }

    /// Reads the baseline: the application's mean over `over`, before brisk deletes
    /// anything. `None` when it ran too few queries to have one.
    pub async fn read_baseline(
        &mut self,
        over: Duration,
    ) -> Result<Option<Duration>, CleanupError> {
        self.restart().await?;
        tokio::time::sleep(over).await;
        self.baseline = self.window().await?;
        Ok(self.baseline)
    }

    /// The mean above which the cleanup waits: `factor` times the baseline, and at least
    /// [`MIN_SLOWDOWN`] more.
    pub fn limit(&self, factor: f64) -> Option<Duration> {
        self.baseline
            .map(|b| b.mul_f64(factor.max(1.0)).max(b + MIN_SLOWDOWN))
    }
}
