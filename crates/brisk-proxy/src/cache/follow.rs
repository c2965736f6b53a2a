//! Following writes that bypass brisk (`[cache] follow_writes = "logical"`): per database, a
//! task that owns a temporary logical replication slot (the built-in `test_decoding`
//! plugin), polls it every `follow_interval_ms` on a connection of its own (never a pool's),
//! and bumps the version of every table a committed transaction changed, or the database's
//! epoch for what it cannot name. Eventually consistent: a write around brisk is seen
//! within the interval plus the decoding lag (docs/cache.md, "Writes that bypass brisk").
//!
//! With a shared Redis, one brisk per database consumes the slot: a lock (`SET NX PX`,
//! renewed on every poll) decides, and the others stand by until it lapses. Whenever a
//! slot is (re)created, which is also when a follower takes over, the epoch is bumped:
//! commits the slot did not see are then older than every entry that can still be served.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brisk_wire::auth::Secret;

use super::config::FollowConfig;
use super::{Cache, CacheError};
use crate::config::{Config, Database};
use crate::metrics::{family, sample};
use crate::server::{ServerConn, ServerError, ServerSecret, ServerTarget};

/// How long the follow lock outlives a brisk that stopped renewing it: another brisk
/// takes over within this (plus its retry), and writes in between are covered by the
/// takeover's epoch bump.
const LOCK_TTL: Duration = Duration::from_secs(3);
/// How often a standing-by brisk tries to take the lock.
const STANDBY_RETRY: Duration = Duration::from_millis(500);
/// The pause before a follower that failed (server or Redis gone) starts again.
const RETRY_DELAY: Duration = Duration::from_secs(1);
/// One Redis call's bound, as the version store's.
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);
/// Changes read per poll (`upto_nchanges`; PostgreSQL finishes the transaction it is in).
/// A batch that reaches it means more is waiting: the follower is behind, and bumps the
/// epoch rather than let entries be served while it catches up.
const BATCH_CHANGES: u64 = 10_000;

/// One poll: consume the slot's changes, name each changed table as the catalog does (its
/// partition ancestors too: a read of the parent depends on it), count the commits and how
/// old the oldest is. Rows: `('t', decoded name, schema, table)` (schema NULL when the name
/// matches no relation) and one `('c', commits, changes, oldest commit age in seconds)`.
/// test_decoding writes `table <quote_ident(schema)>.<quote_ident(name)>: INSERT: ...`, and
/// for TRUNCATE every table of the statement, separated by `, `.
const POLL: &str = "\
WITH c AS MATERIALIZED ( \
  SELECT data FROM pg_logical_slot_get_changes($1, NULL, $2::int, \
    'include-xids', '0', 'include-timestamp', '1', 'skip-empty-xacts', '1') \
), m AS ( \
  SELECT regexp_match(data, '^table (.+?): (INSERT|UPDATE|DELETE|TRUNCATE):') AS r \
  FROM c WHERE data LIKE 'table %' \
), w AS ( \
  SELECT DISTINCT unnest(CASE WHEN r[2] = 'TRUNCATE' THEN string_to_array(r[1], ', ') \
    ELSE ARRAY[r[1]] END) AS name FROM m \
), named AS ( \
  SELECT w.name, k.oid FROM w LEFT JOIN (pg_class k JOIN pg_namespace n ON n.oid = k.relnamespace) \
    ON quote_ident(n.nspname) || '.' || quote_ident(k.relname) = w.name \
) \
SELECT 't', named.name, n.nspname::text, k.relname::text \
FROM named LEFT JOIN LATERAL (SELECT named.oid AS relid WHERE named.oid IS NOT NULL \
  UNION SELECT relid FROM pg_partition_ancestors(named.oid)) a ON true \
  LEFT JOIN pg_class k ON k.oid = a.relid LEFT JOIN pg_namespace n ON n.oid = k.relnamespace \
UNION ALL \
SELECT 'c', (count(*) FILTER (WHERE data LIKE 'COMMIT%'))::text, count(*)::text, \
  extract(epoch FROM clock_timestamp() - min(substring(data FROM '^COMMIT \\(at (.+)\\)$')::timestamptz))::text \
FROM c";

/// What `follow_writes` needs of the server and of the role it logs in as.
const REQUIREMENTS: &str = "SELECT current_setting('wal_level'), \
 (SELECT (rolreplication OR rolsuper)::text FROM pg_roles WHERE rolname = current_user)";

/// The followers' counters and each database's state, for `/metrics` and
/// `/health/detailed`.
#[derive(Debug, Default)]
pub struct FollowState {
    transactions: AtomicU64,
    table_bumps: AtomicU64,
    epoch_bumps: AtomicU64,
    errors: AtomicU64,
    databases: Mutex<BTreeMap<String, DatabaseFollow>>,
}

/// One database's follower, as `/health/detailed` shows it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DatabaseFollow {
    /// `following` (this brisk consumes the slot), `standby` (another one does) or
    /// `retrying` (after `last_error`).
    pub state: &'static str,
    pub slot: String,
    /// For the last poll that found commits: the longest time from a commit to its bump.
    pub lag_seconds: Option<f64>,
    pub last_error: Option<String>,
}

/// The followers' part of `/health/detailed`.
#[derive(Debug, serde::Serialize)]
pub struct FollowHealth {
    pub transactions: u64,
    pub table_bumps: u64,
    pub epoch_bumps: u64,
    pub errors: u64,
    pub databases: BTreeMap<String, DatabaseFollow>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl FollowState {
    pub fn health(&self) -> FollowHealth {
        FollowHealth {
            transactions: self.transactions.load(Ordering::Relaxed),
            table_bumps: self.table_bumps.load(Ordering::Relaxed),
            epoch_bumps: self.epoch_bumps.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            databases: lock(&self.databases).clone(),
        }
    }

    fn update(&self, database: &str, f: impl FnOnce(&mut DatabaseFollow)) {
        f(lock(&self.databases)
            .entry(database.to_string())
            .or_default());
    }

    fn failed(&self, database: &str, error: &str) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.update(database, |d| {
            d.state = "retrying";
            d.last_error = Some(error.to_string());
        });
    }
}

/// The followers' `/metrics` families.
pub fn write_metrics(out: &mut String, state: &FollowState) {
    let health = state.health();
    let counters = [
        (
            "brisk_cache_follow_transactions_total",
            "Committed transactions decoded from the follow slots.",
            health.transactions,
        ),
        (
            "brisk_cache_follow_table_bumps_total",
            "Table versions bumped for writes that bypassed brisk.",
            health.table_bumps,
        ),
        (
            "brisk_cache_follow_epoch_bumps_total",
            "Database epochs bumped by the followers (slot created or taken over, behind, unnamed tables).",
            health.epoch_bumps,
        ),
        (
            "brisk_cache_follow_errors_total",
            "Follower failures (server, slot or Redis); each restarts it with a new slot.",
            health.errors,
        ),
    ];
    for (name, help, value) in counters {
        family(out, name, "counter", help);
        sample(out, name, &[], value as f64);
    }
    family(
        out,
        "brisk_cache_follow_active",
        "gauge",
        "1 when this brisk consumes the database's follow slot, 0 when it stands by or retries.",
    );
    for (database, follow) in &health.databases {
        let active = if follow.state == "following" {
            1.0
        } else {
            0.0
        };
        sample(
            out,
            "brisk_cache_follow_active",
            &[("database", database.as_str())],
            active,
        );
    }
    family(
        out,
        "brisk_cache_follow_lag_seconds",
        "gauge",
        "For the last poll that found commits: the longest time from a commit to its bump.",
    );
    for (database, follow) in &health.databases {
        if let Some(lag) = follow.lag_seconds {
            sample(
                out,
                "brisk_cache_follow_lag_seconds",
                &[("database", database.as_str())],
                lag,
            );
        }
    }
}

/// The slot of one database: slot names are cluster-wide, so the database's name is in it
/// (lower-cased, other characters as `_`, within PostgreSQL's 63 bytes).
pub fn slot_name(prefix: &str, database: &str) -> String {
    let mut name = format!("{prefix}_");
    name.extend(database.chars().map(|c| match c {
        'a'..='z' | '0'..='9' | '_' => c,
        'A'..='Z' => c.to_ascii_lowercase(),
        _ => '_',
    }));
    name.truncate(63);
    name
}

/// Who the follower logs in as: the user of the database's URL, else the first user of
/// `[users]` (not an admin) with a plain password. It needs the REPLICATION right.
fn follower_target(config: &Config, db: &Database) -> Result<ServerTarget, String> {
    let (user, secret) = if db.forced_user {
        let password = db.upstream.hosts.first().and_then(|h| h.password.clone());
        (
            db.upstream.user.clone(),
            password.map(ServerSecret::Password),
        )
    } else {
        config
            .users
            .iter()
            .filter(|(user, _)| !config.admin_users.contains(user))
            .find_map(|(user, secret)| {
                let secret = Secret::parse(secret);
                let plain = secret.plain()?.to_string();
                Some((user.clone(), Some(ServerSecret::Password(plain))))
            })
            .ok_or_else(|| {
                format!(
                    "follow_writes: database {}: no user to follow its writes as: put one in its URL, or a user with a plain password in [users]",
                    db.name
                )
            })?
    };
    crate::proxy::server_target(config, db, user, secret)
}

/// What is missing for `follow_writes` on this connection, as one sentence, if anything.
async fn unmet(
    conn: &mut ServerConn,
    db: &Database,
    user: &str,
) -> Result<Option<String>, ServerError> {
    let rows = conn.query_params(REQUIREMENTS, &[]).await?;
    let row = rows.first();
    let value = |i: usize| row.and_then(|r| r.get(i).cloned().flatten());
    let wal_level = value(0).unwrap_or_default();
    let replication = value(1).as_deref() == Some("true");
    let mut missing = Vec::new();
    if wal_level != "logical" {
        missing.push(format!(
            "wal_level = logical (it is {wal_level}: set it in postgresql.conf and restart PostgreSQL)"
        ));
    }
    if !replication {
        missing.push(format!(
            "the REPLICATION right for role {user} (ALTER ROLE {user} REPLICATION)"
        ));
    }
    Ok((!missing.is_empty()).then(|| {
        format!(
            "follow_writes = \"logical\" on database {} ({}) needs {}",
            db.name,
            db.display,
            missing.join(" and ")
        )
    }))
}

/// At start: refuse `follow_writes` against a server that answers and lacks what it needs.
/// A server that does not answer yet is not refused: its follower retries.
pub async fn preflight(config: &Config) -> Result<(), CacheError> {
    if config.cache.follow.is_none() {
        return Ok(());
    }
    for db in config.databases.values() {
        let target = follower_target(config, db).map_err(CacheError::Follow)?;
        let mut conn = match ServerConn::connect(&target, 0).await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(database = %db.name, error = %e, "follow_writes: cannot check the server now; its follower will retry");
                continue;
            }
        };
        match unmet(&mut conn, db, &target.user).await {
            Ok(Some(missing)) => return Err(CacheError::Follow(missing)),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(database = %db.name, error = %e, "follow_writes: cannot check the server now; its follower will retry");
            }
        }
    }
    Ok(())
}

/// Starts one follower per configured database (databases added by a reload are not
/// followed until a restart). Each ends when its handle is aborted; its connection, and
/// with it the temporary slot, goes with it.
pub fn spawn(cache: &Arc<Cache>, config: &Arc<Config>) -> Vec<tokio::task::JoinHandle<()>> {
    let Some(follow) = cache.config.follow.clone() else {
        return Vec::new();
    };
    config
        .databases
        .values()
        .map(|db| {
            tokio::spawn(follow_database(
                cache.clone(),
                config.clone(),
                db.clone(),
                follow.clone(),
            ))
        })
        .collect()
}

async fn follow_database(
    cache: Arc<Cache>,
    config: Arc<Config>,
    db: Database,
    follow: FollowConfig,
) {
    let slot = slot_name(&follow.slot, &db.name);
    let state = &cache.follow;
    state.update(&db.name, |d| {
        d.state = "retrying";
        d.slot.clone_from(&slot);
    });
    let mut lock = cache
        .config
        .redis
        .as_deref()
        .and_then(|url| FollowLock::new(url, &db.name));
    let mut standing_by = false;
    loop {
        if let Some(lock) = lock.as_mut() {
            match lock.hold().await {
                Ok(true) => standing_by = false,
                Ok(false) => {
                    if !standing_by {
                        tracing::info!(database = %db.name, slot = %slot, "another brisk follows this database's writes; standing by");
                        standing_by = true;
                    }
                    state.update(&db.name, |d| d.state = "standby");
                    tokio::time::sleep(STANDBY_RETRY).await;
                    continue;
                }
                Err(e) => {
                    state.failed(&db.name, &e);
                    tokio::time::sleep(RETRY_DELAY).await;
                    continue;
                }
            }
        }
        match consume(&cache, &config, &db, &slot, &follow, lock.as_mut()).await {
            Ok(()) => {
                tracing::warn!(database = %db.name, slot = %slot, "lost the follow lock to another brisk; standing by");
                state.update(&db.name, |d| d.state = "standby");
            }
            Err(e) => {
                tracing::error!(database = %db.name, slot = %slot, error = %e, "following writes stopped; the slot is gone, and the epoch will be bumped when it is created again");
                state.failed(&db.name, &e);
                if let Some(lock) = lock.as_mut() {
                    lock.release().await;
                }
                tokio::time::sleep(RETRY_DELAY).await;
            }
        }
    }
}

/// What one poll decoded.
#[derive(Debug, Default, PartialEq)]
struct Batch {
    /// `schema.name` of every changed table and its partition ancestors.
    tables: Vec<String>,
    /// Decoded names that match no relation now (dropped or renamed since).
    unnamed: Vec<String>,
    commits: u64,
    changes: u64,
    /// Seconds from the oldest commit to the end of the poll.
    oldest: Option<f64>,
}

impl Batch {
    fn from_rows(rows: &[Vec<Option<String>>]) -> Batch {
        let mut batch = Batch::default();
        for row in rows {
            let field = |i: usize| row.get(i).cloned().flatten();
            match field(0).as_deref() {
                Some("t") => match (field(2), field(3)) {
                    (Some(schema), Some(table)) => batch.tables.push(format!("{schema}.{table}")),
                    _ => batch
                        .unnamed
                        .push(field(1).unwrap_or_else(|| "?".to_string())),
                },
                Some("c") => {
                    batch.commits = field(1).and_then(|v| v.parse().ok()).unwrap_or(0);
                    batch.changes = field(2).and_then(|v| v.parse().ok()).unwrap_or(0);
                    batch.oldest = field(3).and_then(|v| v.parse().ok());
                }
                _ => {}
            }
        }
        batch.tables.sort();
        batch.tables.dedup();
        batch
    }
}

/// Owns the slot until the lock is lost (`Ok`) or something fails (`Err`).
async fn consume(
    cache: &Arc<Cache>,
    config: &Config,
    db: &Database,
    slot: &str,
    follow: &FollowConfig,
    mut lock: Option<&mut FollowLock>,
) -> Result<(), String> {
    let state = &cache.follow;
    let target = follower_target(config, db)?;
    let mut conn = ServerConn::connect(&target, 0)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(missing) = unmet(&mut conn, db, &target.user)
        .await
        .map_err(|e| e.to_string())?
    {
        return Err(missing);
    }
    // Temporary: it ends with this connection, so a brisk that dies holds no WAL back.
    conn.query_params(
        "SELECT pg_create_logical_replication_slot($1, 'test_decoding', true)",
        &[slot],
    )
    .await
    .map_err(|e| format!("creating the slot: {e}"))?;
    // Commits before the slot existed were not decoded: make every entry older than now
    // unservable. The bump comes after the slot, so no commit falls between the two.
    cache
        .bump_followed(&db.name, None)
        .await
        .map_err(|e| format!("bumping the epoch: {e}"))?;
    state.epoch_bumps.fetch_add(1, Ordering::Relaxed);
    state.update(&db.name, |d| {
        d.state = "following";
        d.last_error = None;
    });
    tracing::info!(database = %db.name, slot = %slot, interval_ms = follow.interval.as_millis() as u64, "following writes that bypass brisk; the database's entries were invalidated once");
    let limit = BATCH_CHANGES.to_string();
    loop {
        tokio::time::sleep(follow.interval).await;
        if let Some(lock) = lock.as_deref_mut() {
            if !lock.hold().await? {
                return Ok(());
            }
        }
        let rows = conn
            .query_params(POLL, &[slot, &limit])
            .await
            .map_err(|e| format!("reading the slot: {e}"))?;
        let polled = Instant::now();
        let batch = Batch::from_rows(&rows);
        if !batch.tables.is_empty() {
            cache
                .bump_followed(&db.name, Some(&batch.tables))
                .await
                .map_err(|e| format!("bumping table versions: {e}"))?;
            state
                .table_bumps
                .fetch_add(batch.tables.len() as u64, Ordering::Relaxed);
        }
        let epoch = if !batch.unnamed.is_empty() {
            Some(format!(
                "changed tables it cannot name: {}",
                batch.unnamed.join(", ")
            ))
        } else if batch.changes >= BATCH_CHANGES {
            Some(format!(
                "behind: more than {BATCH_CHANGES} changes waiting in the slot"
            ))
        } else {
            None
        };
        if let Some(why) = epoch {
            cache
                .bump_followed(&db.name, None)
                .await
                .map_err(|e| format!("bumping the epoch: {e}"))?;
            state.epoch_bumps.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(database = %db.name, %why, "follower bumped the database epoch: every entry invalidated");
        }
        state
            .transactions
            .fetch_add(batch.commits, Ordering::Relaxed);
        if let Some(oldest) = batch.oldest {
            let lag = oldest.max(0.0) + polled.elapsed().as_secs_f64();
            state.update(&db.name, |d| d.lag_seconds = Some(lag));
        }
    }
}

/// The per-database lock that decides which brisk consumes the slot.
struct FollowLock {
    client: redis::Client,
    connection: Option<redis::aio::MultiplexedConnection>,
    key: String,
    owner: String,
}

/// KEYS: the lock. ARGV: this brisk's id, the TTL in ms. Takes the lock if free, renews it
/// if held by this brisk; 1 if held, 0 if another brisk has it.
const HOLD: &str = r"
local owner = redis.call('GET', KEYS[1])
if owner == false or owner == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
";

/// KEYS: the lock. ARGV: this brisk's id. Frees it only if this brisk holds it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
";

impl FollowLock {
    fn new(url: &str, database: &str) -> Option<FollowLock> {
        let client = redis::Client::open(url).ok()?;
        Some(FollowLock {
            client,
            connection: None,
            key: format!("brisk:cache:follow:{database}"),
            owner: format!("{:016x}", super::versions::random_u64()),
        })
    }

    async fn eval(&mut self, script: &str, args: &[String]) -> Result<i64, String> {
        let mut connection = match self.connection.clone() {
            Some(connection) => connection,
            None => {
                let connect = self.client.get_multiplexed_async_connection();
                let connection = tokio::time::timeout(REDIS_TIMEOUT, connect)
                    .await
                    .map_err(|_| "redis: connecting timed out".to_string())?
                    .map_err(|e| format!("redis: {e}"))?;
                self.connection = Some(connection.clone());
                connection
            }
        };
        let mut command = redis::cmd("EVAL");
        command.arg(script).arg(1).arg(&self.key).arg(args);
        let result = tokio::time::timeout(REDIS_TIMEOUT, command.query_async(&mut connection))
            .await
            .map_err(|_| "redis: timed out".to_string())
            .and_then(|r| r.map_err(|e| format!("redis: {e}")));
        if result.is_err() {
            self.connection = None;
        }
        result
    }

    /// Takes or renews the lock: whether this brisk holds it now.
    async fn hold(&mut self) -> Result<bool, String> {
        let args = [self.owner.clone(), LOCK_TTL.as_millis().to_string()];
        Ok(self.eval(HOLD, &args).await? == 1)
    }

    async fn release(&mut self) {
        let args = [self.owner.clone()];
        let _ = self.eval(RELEASE, &args).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(values: &[Option<&str>]) -> Vec<Option<String>> {
        values.iter().map(|v| v.map(str::to_string)).collect()
    }

    #[test]
    fn a_poll_names_tables_and_what_it_cannot_name() {
        let rows = vec![
            row(&[Some("t"), Some("public.t"), Some("public"), Some("t")]),
            row(&[Some("t"), Some("public.p_1"), Some("public"), Some("p")]),
            row(&[Some("t"), Some("public.p_1"), Some("public"), Some("p_1")]),
            row(&[Some("t"), Some("public.gone"), None, None]),
            row(&[Some("c"), Some("3"), Some("9"), Some("0.25")]),
        ];
        let batch = Batch::from_rows(&rows);
        assert_eq!(batch.tables, ["public.p", "public.p_1", "public.t"]);
        assert_eq!(batch.unnamed, ["public.gone"]);
        assert_eq!((batch.commits, batch.changes), (3, 9));
        assert_eq!(batch.oldest, Some(0.25));
        let empty = Batch::from_rows(&[row(&[Some("c"), Some("0"), Some("0"), None])]);
        assert_eq!(empty, Batch::default());
    }

    #[test]
    fn slot_names_are_valid_and_per_database() {
        assert_eq!(slot_name("brisk_cache", "App-DB"), "brisk_cache_app_db");
        assert_eq!(slot_name("s", &"x".repeat(100)).len(), 63);
    }
}
