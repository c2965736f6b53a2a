//! The state every request shares: the options, the history ring, the secret the kill forms
//! carry, and short-lived caches of the reads too slow to repeat on every refresh.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brisk_advisor::advise::Advice;
use brisk_advisor::check::{run_check, CheckOptions, CHECKS};
use brisk_pg::{Console, PgError, Session};
use brisk_report::Report;

use crate::history::History;
use crate::{ServeError, ServeOptions};

/// How long a Redis keyspace analysis is reused: it scans keys, which costs the server
/// more than a page view should, and key patterns change slowly.
const REDIS_ANALYSIS_TTL: Duration = Duration::from_secs(60);

pub struct App {
    pub options: ServeOptions,
    /// What a kill form must carry: the `--token`, or without one a random value made at
    /// start, so a page on another site cannot make the browser POST a kill to localhost.
    pub form_secret: String,
    pub history: Mutex<History>,
    pub redis_analysis: tokio::sync::Mutex<Option<(Instant, Arc<Report>)>>,
    pub advice: tokio::sync::Mutex<Option<(Instant, Arc<Advice>)>>,
    /// brisk check's reports, by the check-id prefixes a page asked for.
    pub checks: tokio::sync::Mutex<HashMap<String, (Instant, Arc<Report>)>>,
}

impl App {
    pub fn new(options: ServeOptions) -> Result<App, ServeError> {
        let history = match &options.history_file {
            Some(path) => History::load(path, options.history_len)?,
            None => History::new(options.history_len),
        };
        let form_secret = match &options.token {
            Some(token) => token.clone(),
            None => random_hex(),
        };
        Ok(App {
            options,
            form_secret,
            history: Mutex::new(history),
            redis_analysis: tokio::sync::Mutex::new(None),
            advice: tokio::sync::Mutex::new(None),
            checks: tokio::sync::Mutex::new(HashMap::new()),
        })
    }

    /// A new connection for one request: pages are read rarely, and a connection per page
    /// cannot be left in a broken state by an earlier one.
    pub async fn session(&self) -> Result<Session, PgError> {
        Session::connect(&self.options.postgres, &self.options.session).await
    }

    pub async fn console(&self) -> Option<Result<Console, PgError>> {
        let info = self.options.proxy_admin.as_ref()?;
        Some(Console::connect(info, &self.options.session).await)
    }

    /// Whether `given` is the token, compared in time independent of where they differ.
    pub fn token_matches(&self, given: &str) -> bool {
        match &self.options.token {
            Some(token) => constant_time_eq(token.as_bytes(), given.as_bytes()),
            None => true,
        }
    }

    pub fn form_secret_matches(&self, given: &str) -> bool {
        constant_time_eq(self.form_secret.as_bytes(), given.as_bytes())
    }

    /// The Redis keyspace report, from the cache when it is fresh.
    pub async fn redis_analysis(&self) -> Option<Result<Arc<Report>, String>> {
        let target = self.options.redis.as_ref()?;
        let mut cached = self.redis_analysis.lock().await;
        if let Some((at, report)) = cached.as_ref() {
            if at.elapsed() < REDIS_ANALYSIS_TTL {
                return Some(Ok(report.clone()));
            }
        }
        let options = brisk_redis::AnalyzeOptions {
            // A sample bounds the scan on a big keyspace: the patterns and their shares are
            // extrapolated from it, as `brisk redis --sample` does.
            sample: Some(REDIS_SAMPLE_KEYS),
            ..brisk_redis::AnalyzeOptions::default()
        };
        // The analysis's future is not Send (its progress callback is a plain `&dyn Fn`), so
        // it runs on a runtime of its own on a blocking thread.
        let target = target.clone();
        let result = tokio::task::spawn_blocking(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start a runtime for the Redis analysis: {e}"))?;
            runtime
                .block_on(brisk_redis::analyze(&target, &options, &|_| {}))
                .map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|e| Err(format!("the Redis analysis failed: {e}")));
        Some(result.map(|report| {
            let report = Arc::new(report);
            *cached = Some((Instant::now(), report.clone()));
            report
        }))
    }

    /// brisk check's report for the checks whose id starts with one of `only` (all of them
    /// when it is empty), from the cache when it is fresh, with when it was made. One check
    /// runs at a time: page views that arrive meanwhile wait for it and share it.
    pub async fn check_report(
        &self,
        session: &Session,
        only: &[&str],
    ) -> Result<(Instant, Arc<Report>), PgError> {
        let key = only.join(",");
        let mut cached = self.checks.lock().await;
        if let Some((at, report)) = cached.get(&key) {
            if at.elapsed() < CHECK_TTL {
                return Ok((*at, report.clone()));
            }
        }
        let skip = CHECKS
            .iter()
            .map(|c| c.id)
            .filter(|id| !only.is_empty() && !only.iter().any(|p| id.starts_with(p)))
            .map(str::to_string)
            .collect();
        let report = run_check(
            session,
            &CheckOptions {
                skip,
                ..CheckOptions::default()
            },
        )
        .await?;
        let made = (Instant::now(), Arc::new(report));
        cached.insert(key, made.clone());
        Ok(made)
    }

    /// brisk advise over pg_stat_statements, from the cache when it is fresh: the per-query
    /// pages show the indexes the workload-level advice chose for their statement.
    pub async fn advice(&self, session: &Session) -> Result<Arc<Advice>, String> {
        let mut cached = self.advice.lock().await;
        if let Some((at, advice)) = cached.as_ref() {
            if at.elapsed() < ADVICE_TTL {
                return Ok(advice.clone());
            }
        }
        let advice = brisk_advisor::advise::advise(
            session,
            brisk_advisor::advise::Source::Statements,
            &brisk_advisor::advise::AdviseOptions::default(),
            &|_| {},
        )
        .await
        .map_err(|e| e.to_string())?;
        let advice = Arc::new(advice);
        *cached = Some((Instant::now(), advice.clone()));
        Ok(advice)
    }
}

/// How long a brisk check report is reused: the checks read the catalog and statistics of
/// every table (seconds on a large schema), the overview re-reads itself every 10 seconds in
/// every open tab, and findings change slowly. The live figures beside them are read anew.
pub const CHECK_TTL: Duration = Duration::from_secs(60);

/// How long the workload's advice is reused: it plans every top statement with HypoPG
/// (seconds on a big workload), and the workload's shape changes slowly.
const ADVICE_TTL: Duration = Duration::from_secs(300);

/// Keys whose metadata one analysis reads: about a second of SCAN and MEMORY USAGE on the
/// sandbox, and enough for the key patterns' shares to settle.
const REDIS_SAMPLE_KEYS: u64 = 20_000;

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 128 random bits as hex. `RandomState` is seeded from the operating system's randomness,
/// which is enough for a per-process form secret without another dependency.
fn random_hex() -> String {
    let mut out = String::new();
    for _ in 0..2 {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        out.push_str(&format!("{:016x}", hasher.finish()));
    }
    out
}
