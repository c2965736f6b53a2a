//! Pools of server connections, one per (database, user).
//!
//! A pool hands out at most `default_pool_size` connections at a time. Waiting clients queue
//! in arrival order (tokio's semaphore is fair, FIFO), for at most `query_wait_timeout`; a
//! client that has waited `reserve_pool_timeout` may take one of `reserve_pool_size` extra
//! connections. Idle connections are reused newest first, health-checked when idle longer
//! than `server_check_delay`, and closed after `server_idle_timeout` or `server_lifetime`.
//!
//! The pool knows nothing of SQL or of clients: it lends `ServerConn`s and takes them back.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::server::{ServerConn, ServerError, ServerSecret, ServerTarget};

/// The sizes and timeouts a pool works with (from the config; replaced on reload).
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub size: usize,
    pub min_size: usize,
    pub reserve_size: usize,
    pub reserve_timeout: Duration,
    pub query_wait_timeout: Duration,
    pub server_lifetime: Duration,
    pub server_idle_timeout: Duration,
    pub server_check_delay: Duration,
    pub max_prepared_statements: usize,
}

/// Why a client got no server.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("no server connection became free within query_wait_timeout ({} s)", .0.as_secs())]
    WaitTimeout(Duration),
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error("the pool is closing")]
    Closed,
}

/// Counters behind `SHOW STATS` and `SHOW POOLS`.
#[derive(Debug, Default)]
pub struct PoolStats {
    pub xact_count: AtomicU64,
    pub query_count: AtomicU64,
    pub bytes_received: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub xact_time_us: AtomicU64,
    pub query_time_us: AtomicU64,
    pub wait_time_us: AtomicU64,
    /// Clients waiting for a server right now.
    pub waiting: AtomicUsize,
    /// Clients attached to a server right now.
    pub active_clients: AtomicUsize,
    /// Clients connected to this pool.
    pub clients: AtomicUsize,
    /// Server connections open (idle or in use).
    pub servers: AtomicUsize,
    /// Clients pinned to their server for using session features.
    pub pinned: AtomicU64,
    /// Server connections opened since the pool started.
    pub servers_opened: AtomicU64,
}

/// A server connection lent to a client, with the slot it occupies.
///
/// Dropped without [`Pool::release`] (a session that ended in a way nobody planned for, a
/// login that timed out while it held one), its connection closes and the pool's count
/// follows: the accounting is right by construction, not by every path remembering it.
pub struct Checkout {
    /// Boxed: a checkout moves between the pool and a session on every transaction.
    pub conn: Box<ServerConn>,
    slot: Slot,
}

/// The slot a lent connection occupies: its permit, and its place in the server count.
struct Slot {
    pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
    /// Given back through `release`, which did the accounting.
    returned: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if !self.returned {
            self.pool.stats.servers.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

pub struct Pool {
    pub database: String,
    pub user: String,
    /// Behind a lock: a login through `auth_query` may bring a newer secret.
    target: Mutex<ServerTarget>,
    settings: Mutex<PoolSettings>,
    /// The ages every checkout and return compare with, copied out of `settings`.
    ages: Ages,
    main: Arc<Semaphore>,
    reserve: Arc<Semaphore>,
    idle: Mutex<VecDeque<Box<ServerConn>>>,
    pub stats: PoolStats,
    /// ParameterStatus values of the last server this pool connected, to greet clients with.
    template: Mutex<Option<std::collections::HashMap<String, String>>>,
    started: Instant,
    /// Start times (µs since `started`) of waits in progress, for `maxwait`.
    waits: Mutex<Vec<u64>>,
}

/// The three ages the per-transaction path compares a server with, readable without a lock
/// (hot path: every checkout and every return; a lock and a clone of the settings there cost
/// more than the rest of the bookkeeping). A reload stores them anew; a checkout that reads
/// them mid-reload sees each age either before or after it, which is all either side needs.
#[derive(Debug, Default)]
struct Ages {
    /// Nanoseconds, saturated at u64::MAX (584 years: no limit).
    lifetime: AtomicU64,
    idle_timeout: AtomicU64,
    check_delay: AtomicU64,
}

impl Ages {
    fn store(&self, settings: &PoolSettings) {
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.lifetime
            .store(nanos(settings.server_lifetime), Ordering::Relaxed);
        self.idle_timeout
            .store(nanos(settings.server_idle_timeout), Ordering::Relaxed);
        self.check_delay
            .store(nanos(settings.server_check_delay), Ordering::Relaxed);
    }

    fn read(age: &AtomicU64) -> Duration {
        Duration::from_nanos(age.load(Ordering::Relaxed))
    }
}

impl Pool {
    pub fn new(
        database: &str,
        user: &str,
        target: ServerTarget,
        settings: PoolSettings,
    ) -> Arc<Pool> {
        Arc::new(Pool {
            database: database.to_string(),
            user: user.to_string(),
            main: Arc::new(Semaphore::new(settings.size)),
            reserve: Arc::new(Semaphore::new(settings.reserve_size)),
            target: Mutex::new(target),
            ages: {
                let ages = Ages::default();
                ages.store(&settings);
                ages
            },
            settings: Mutex::new(settings),
            idle: Mutex::new(VecDeque::new()),
            stats: PoolStats::default(),
            template: Mutex::new(None),
            started: Instant::now(),
            waits: Mutex::new(Vec::new()),
        })
    }

    pub fn settings(&self) -> PoolSettings {
        lock(&self.settings).clone()
    }

    /// Applies reloaded settings. A bigger pool takes effect at once; a smaller one as
    /// connections come back (the extra permits are forgotten).
    pub fn update(&self, new: PoolSettings) {
        let mut settings = lock(&self.settings);
        if new.size > settings.size {
            self.main.add_permits(new.size - settings.size);
        } else if new.size < settings.size {
            let _ = self.main.forget_permits(settings.size - new.size);
        }
        if new.reserve_size > settings.reserve_size {
            self.reserve
                .add_permits(new.reserve_size - settings.reserve_size);
        } else if new.reserve_size < settings.reserve_size {
            let _ = self
                .reserve
                .forget_permits(settings.reserve_size - new.reserve_size);
        }
        self.ages.store(&new);
        *settings = new;
    }

    /// Waits for a free slot (fairly, in arrival order) and returns a logged-in server.
    pub async fn acquire(self: &Arc<Self>) -> Result<Checkout, PoolError> {
        // Hot path: a free slot needs none of the waiting bookkeeping, nor the settings.
        // The slow paths (a wait, a health check, a new connection) are boxed: their
        // futures are large, and every client's task would otherwise hold room for them
        // (with 1,000 idle clients, 2 KB each).
        let permit = match self.main.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => Box::pin(self.wait(&self.settings())).await?,
        };
        let conn = self.take_idle().await;
        let conn = match conn {
            Some(conn) => conn,
            None => Box::pin(self.open()).await?,
        };
        Ok(Checkout {
            conn,
            slot: Slot {
                pool: self.clone(),
                _permit: permit,
                returned: false,
            },
        })
    }

    /// Queues for a slot, counted in `SHOW POOLS` (cl_waiting, maxwait) and `SHOW STATS`.
    async fn wait(&self, settings: &PoolSettings) -> Result<OwnedSemaphorePermit, PoolError> {
        let started = Instant::now();
        self.stats.waiting.fetch_add(1, Ordering::Relaxed);
        let wait_mark = started.saturating_duration_since(self.started).as_micros() as u64;
        lock(&self.waits).push(wait_mark);
        let permit = self.wait_for_permit(settings, started).await;
        self.stats.waiting.fetch_sub(1, Ordering::Relaxed);
        {
            let mut waits = lock(&self.waits);
            if let Some(i) = waits.iter().position(|w| *w == wait_mark) {
                waits.swap_remove(i);
            }
        }
        self.stats
            .wait_time_us
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        permit
    }

    /// Deadlines count from `started`, the wait's one clock read (hot path: with more
    /// clients than servers, most transactions wait).
    async fn wait_for_permit(
        &self,
        settings: &PoolSettings,
        started: Instant,
    ) -> Result<OwnedSemaphorePermit, PoolError> {
        let main = self.main.clone().acquire_owned();
        tokio::pin!(main);
        let deadline = tokio::time::sleep_until((started + settings.query_wait_timeout).into());
        tokio::pin!(deadline);
        let reserve_after = tokio::time::sleep_until((started + settings.reserve_timeout).into());
        tokio::pin!(reserve_after);
        let mut reserve_open = settings.reserve_size > 0;
        loop {
            tokio::select! {
                permit = &mut main => return permit.map_err(|_| PoolError::Closed),
                _ = &mut deadline => return Err(PoolError::WaitTimeout(settings.query_wait_timeout)),
                _ = &mut reserve_after, if reserve_open => {
                    reserve_open = false;
                    if let Ok(permit) = self.reserve.clone().try_acquire_owned() {
                        return Ok(permit);
                    }
                }
            }
        }
    }

    /// The newest idle connection that is still fit to use.
    async fn take_idle(&self) -> Option<Box<ServerConn>> {
        let lifetime = Ages::read(&self.ages.lifetime);
        let idle_timeout = Ages::read(&self.ages.idle_timeout);
        let check_delay = Ages::read(&self.ages.check_delay);
        loop {
            let conn = lock(&self.idle).pop_back()?;
            // One clock read for the three ages (hot path: every transaction comes here).
            let now = Instant::now();
            let idle_for = now.saturating_duration_since(conn.last_used);
            if now.saturating_duration_since(conn.created) >= lifetime || idle_for >= idle_timeout {
                self.close(conn);
                continue;
            }
            if idle_for >= check_delay {
                let mut conn = conn;
                // PgBouncer's server_check_query; an empty query is the cheapest round trip.
                match Box::pin(conn.simple(";")).await {
                    Ok(b'I') => return Some(conn),
                    _ => {
                        self.close(conn);
                        continue;
                    }
                }
            }
            return Some(conn);
        }
    }

    async fn open(&self) -> Result<Box<ServerConn>, PoolError> {
        let max_prepared = self.settings().max_prepared_statements;
        let target = self.target();
        let conn = Box::new(ServerConn::connect(&target, max_prepared).await?);
        self.stats.servers.fetch_add(1, Ordering::Relaxed);
        self.stats.servers_opened.fetch_add(1, Ordering::Relaxed);
        *lock(&self.template) = Some(conn.params.clone());
        Ok(conn)
    }

    /// Takes a connection back. Only a connection at rest (idle, outside a transaction,
    /// nothing in flight) may be reused; anything else is closed.
    pub fn release(&self, checkout: Checkout, reusable: bool) {
        let Checkout { mut conn, mut slot } = checkout;
        slot.returned = true;
        let now = Instant::now();
        if reusable && now.saturating_duration_since(conn.created) < Ages::read(&self.ages.lifetime)
        {
            conn.last_used = now;
            conn.trim();
            lock(&self.idle).push_back(conn);
        } else {
            self.close(conn);
        }
    }

    fn close(&self, conn: Box<ServerConn>) {
        self.stats.servers.fetch_sub(1, Ordering::Relaxed);
        drop(conn);
    }

    /// The parameters to greet a client with, connecting a server first if none was yet.
    pub async fn greeting_params(
        &self,
    ) -> Result<std::collections::HashMap<String, String>, PoolError> {
        if let Some(params) = lock(&self.template).clone() {
            return Ok(params);
        }
        let conn = self.open().await?;
        let params = conn.params.clone();
        let mut conn = conn;
        conn.last_used = Instant::now();
        lock(&self.idle).push_back(conn);
        Ok(params)
    }

    /// Closes idle connections past their idle timeout or lifetime, and opens connections up
    /// to `min_pool_size`. Run periodically.
    pub async fn maintain(&self) {
        let settings = self.settings();
        let expired: Vec<Box<ServerConn>> = {
            let mut idle = lock(&self.idle);
            let mut keep = VecDeque::new();
            let mut expired = Vec::new();
            while let Some(conn) = idle.pop_front() {
                if conn.created.elapsed() >= settings.server_lifetime
                    || conn.last_used.elapsed() >= settings.server_idle_timeout
                {
                    expired.push(conn);
                } else {
                    keep.push_back(conn);
                }
            }
            *idle = keep;
            expired
        };
        for conn in expired {
            self.close(conn);
        }
        while self.stats.servers.load(Ordering::Relaxed) < settings.min_size {
            match self.open().await {
                Ok(conn) => lock(&self.idle).push_back(conn),
                Err(e) => {
                    tracing::warn!(pool = %self.name(), error = %e, "cannot open min_pool_size connection");
                    break;
                }
            }
        }
    }

    pub fn name(&self) -> String {
        format!("{}/{}", self.database, self.user)
    }

    pub fn idle_count(&self) -> usize {
        lock(&self.idle).len()
    }

    /// The server pid and address of each idle connection, for `SHOW SERVERS`.
    pub fn idle_servers(&self) -> Vec<(i32, Arc<crate::server::CancelAddress>)> {
        lock(&self.idle)
            .iter()
            .map(|c| (c.backend_key.0, c.address.clone()))
            .collect()
    }

    /// How long the longest current wait has lasted.
    pub fn max_wait(&self) -> Duration {
        let now = self.started.elapsed().as_micros() as u64;
        let oldest = lock(&self.waits).iter().copied().min();
        oldest.map_or(Duration::ZERO, |w| {
            Duration::from_micros(now.saturating_sub(w))
        })
    }

    /// Closes every idle connection (on shutdown or when the database is removed).
    pub fn close_idle(&self) {
        let idle: Vec<Box<ServerConn>> = lock(&self.idle).drain(..).collect();
        for conn in idle {
            self.close(conn);
        }
    }

    /// Where and as whom this pool connects, with its current secret.
    pub fn target(&self) -> ServerTarget {
        lock(&self.target).clone()
    }

    /// Logs in to new servers with `secret` from now on (connections open stay open).
    /// Returns whether it changed.
    pub fn set_secret(&self, secret: ServerSecret) -> bool {
        let mut target = lock(&self.target);
        if target.secret.as_ref() == Some(&secret) {
            return false;
        }
        target.secret = Some(secret);
        true
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
