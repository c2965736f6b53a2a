//! The version store: per-table version counters and "being written" leases, in process
//! (one brisk) or in Redis (several brisks sharing it). See docs/cache.md for the protocol.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::CacheError;

/// How long one Redis call may take before the cache is bypassed (reads) or the write is
/// refused: a local Redis answers in well under a millisecond; this bounds a stalled one.
pub(crate) const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

/// What a check saw, atomically: the store's generation (it changes when the store loses
/// its data), each table's version, and whether any of them is being written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub generation: String,
    pub versions: Vec<u64>,
    pub leased: bool,
}

/// Where versions and leases live.
pub enum VersionStore {
    Local(Mutex<Local>),
    Redis(Box<RedisVersions>),
}

#[derive(Default)]
pub struct Local {
    versions: HashMap<String, u64>,
    /// Per table: lease id to expiry.
    leases: HashMap<String, HashMap<String, Instant>>,
}

impl VersionStore {
    pub fn local() -> VersionStore {
        VersionStore::Local(Mutex::new(Local::default()))
    }

    pub fn redis(url: &str) -> Result<VersionStore, CacheError> {
        let client = redis::Client::open(url).map_err(|e| CacheError::Redis(e.to_string()))?;
        Ok(VersionStore::Redis(Box::new(RedisVersions {
            client,
            connection: tokio::sync::Mutex::new(None),
        })))
    }

    pub fn is_redis(&self) -> bool {
        matches!(self, VersionStore::Redis(_))
    }

    /// The versions of `tables` (keys as [`super::table_key`] makes them) and whether any is
    /// being written, in one atomic step.
    pub async fn check(&self, tables: &[String]) -> Result<Check, CacheError> {
        match self {
            VersionStore::Local(local) => {
                let mut local = lock(local);
                let now = Instant::now();
                let mut leased = false;
                let mut versions = Vec::with_capacity(tables.len());
                for table in tables {
                    if let Some(leases) = local.leases.get_mut(table) {
                        leases.retain(|_, expiry| *expiry > now);
                        leased |= !leases.is_empty();
                    }
                    versions.push(local.versions.get(table).copied().unwrap_or(0));
                }
                Ok(Check {
                    generation: String::new(),
                    versions,
                    leased,
                })
            }
            VersionStore::Redis(redis) => Ok(redis.check(tables, None).await?.0),
        }
    }

    /// As [`VersionStore::check`], and in the same atomic step the Redis tier's value at
    /// `entry` (stored as [`brisk_redis::store::CacheStore`] writes it), if any.
    pub async fn check_entry(
        &self,
        tables: &[String],
        entry: &str,
    ) -> Result<(Check, Option<Vec<u8>>), CacheError> {
        match self {
            VersionStore::Redis(redis) => redis.check(tables, Some(entry)).await,
            VersionStore::Local(_) => Ok((self.check(tables).await?, None)),
        }
    }

    /// Marks `tables` as being written by `lease` (until `ttl` at most) and bumps their
    /// versions, atomically.
    pub async fn acquire(
        &self,
        tables: &[String],
        lease: &str,
        ttl: Duration,
    ) -> Result<(), CacheError> {
        match self {
            VersionStore::Local(local) => {
                let mut local = lock(local);
                let expiry = Instant::now() + ttl;
                for table in tables {
                    *local.versions.entry(table.clone()).or_insert(0) += 1;
                    local
                        .leases
                        .entry(table.clone())
                        .or_default()
                        .insert(lease.to_string(), expiry);
                }
                Ok(())
            }
            VersionStore::Redis(redis) => redis.acquire(tables, lease, ttl).await,
        }
    }

    /// Sets a new generation: every entry, of every database and brisk, stops matching.
    /// What a brisk that let writes through while the store was down owes on its return.
    pub async fn new_generation(&self) -> Result<(), CacheError> {
        match self {
            // The in-process store is never unreachable.
            VersionStore::Local(_) => Ok(()),
            VersionStore::Redis(redis) => {
                let _: i64 = redis
                    .run(
                        NEW_GENERATION,
                        vec![GENERATION_KEY.to_string()],
                        vec![format!("{:016x}", random_u64())],
                    )
                    .await?;
                Ok(())
            }
        }
    }

    /// Bumps the versions of `tables` again and clears `lease`'s marks, atomically.
    pub async fn release(&self, tables: &[String], lease: &str) -> Result<(), CacheError> {
        match self {
            VersionStore::Local(local) => {
                let mut local = lock(local);
                for table in tables {
                    *local.versions.entry(table.clone()).or_insert(0) += 1;
                    if let Some(leases) = local.leases.get_mut(table) {
                        leases.remove(lease);
                    }
                }
                Ok(())
            }
            VersionStore::Redis(redis) => redis.release(tables, lease).await,
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// A random number for generations and lease ids, from the OS.
pub fn random_u64() -> u64 {
    u64::from_be_bytes(brisk_wire::auth::random_bytes::<8>())
}

/// The Redis backend: one round trip per check, acquire or release, each a Lua script, so
/// that versions and leases are read and changed atomically.
pub struct RedisVersions {
    client: redis::Client,
    /// Connected on first use and again after a failure: brisk starts with Redis down.
    connection: tokio::sync::Mutex<Option<redis::aio::MultiplexedConnection>>,
}

const GENERATION_KEY: &str = "brisk:cache:generation";

/// KEYS: the generation key, then a version key and a lease key per table, then (when
/// their number is even) a Redis-tier entry's key. ARGV: a fresh random generation, set if
/// there is none (a new or emptied Redis): versions counted again from 0 never match an
/// entry filled under the old generation. Returns the generation, '1' if any table is being
/// written (expired leases are dropped first), each version, then the entry ('' if none):
/// the entry and the versions it must match are read in one atomic step.
const CHECK: &str = r"
local gen = redis.call('GET', KEYS[1])
if not gen then
  redis.call('SET', KEYS[1], ARGV[1])
  gen = ARGV[1]
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {gen, '0'}
local last = #KEYS - (#KEYS + 1) % 2
for i = 2, last, 2 do
  redis.call('ZREMRANGEBYSCORE', KEYS[i + 1], '-inf', now)
  if redis.call('ZCARD', KEYS[i + 1]) > 0 then out[2] = '1' end
  out[#out + 1] = redis.call('GET', KEYS[i]) or '0'
end
if last < #KEYS then
  out[#out + 1] = redis.call('GET', KEYS[#KEYS]) or ''
end
return out
";

/// KEYS: a version key and a lease key per table. ARGV: the lease id, its TTL in ms.
const ACQUIRE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, #KEYS, 2 do
  redis.call('INCR', KEYS[i])
  redis.call('ZADD', KEYS[i + 1], now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', KEYS[i + 1], ARGV[2])
end
return 1
";

/// KEYS: the generation key. ARGV: a fresh random generation.
const NEW_GENERATION: &str = "redis.call('SET', KEYS[1], ARGV[1]) return 1";

/// KEYS: a version key and a lease key per table. ARGV: the lease id.
const RELEASE: &str = r"
for i = 1, #KEYS, 2 do
  redis.call('INCR', KEYS[i])
  redis.call('ZREM', KEYS[i + 1], ARGV[1])
end
return 1
";

fn table_keys(tables: &[String]) -> Vec<String> {
    let mut keys = Vec::with_capacity(tables.len() * 2);
    for table in tables {
        keys.push(format!("brisk:cache:v:{table}"));
        keys.push(format!("brisk:cache:w:{table}"));
    }
    keys
}

impl RedisVersions {
    async fn connection(&self) -> Result<redis::aio::MultiplexedConnection, CacheError> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let connect = self.client.get_multiplexed_async_connection();
        let connection = tokio::time::timeout(REDIS_TIMEOUT, connect)
            .await
            .map_err(|_| CacheError::Redis("connecting timed out".into()))?
            .map_err(|e| CacheError::Redis(e.to_string()))?;
        *slot = Some(connection.clone());
        Ok(connection)
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        script: &str,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> Result<T, CacheError> {
        let mut connection = self.connection().await?;
        // EVAL with the script's text: a few hundred bytes, and no NOSCRIPT retry after a
        // Redis restart (EVALSHA would need the `script` feature and that retry).
        let mut command = redis::cmd("EVAL");
        command.arg(script).arg(keys.len()).arg(keys).arg(args);
        let result = tokio::time::timeout(REDIS_TIMEOUT, command.query_async(&mut connection))
            .await
            .map_err(|_| CacheError::Redis("timed out".into()))
            .and_then(|r| r.map_err(|e| CacheError::Redis(e.to_string())));
        if result.is_err() {
            // Reconnect next time: the connection may be the broken part.
            *self.connection.lock().await = None;
        }
        result
    }

    async fn check(
        &self,
        tables: &[String],
        entry: Option<&str>,
    ) -> Result<(Check, Option<Vec<u8>>), CacheError> {
        let mut keys = vec![GENERATION_KEY.to_string()];
        keys.extend(table_keys(tables));
        keys.extend(entry.map(str::to_string));
        let mut out: Vec<Vec<u8>> = self
            .run(CHECK, keys, vec![format!("{:016x}", random_u64())])
            .await?;
        let stored = match entry {
            Some(_) => out.pop().filter(|v| !v.is_empty()),
            None => None,
        };
        let (Some(generation), Some(leased)) = (out.first(), out.get(1)) else {
            return Err(CacheError::Redis("short answer to the check".into()));
        };
        let versions = out[2..]
            .iter()
            .map(|v| std::str::from_utf8(v).ok()?.parse::<u64>().ok())
            .collect::<Option<Vec<u64>>>()
            .filter(|v| v.len() == tables.len())
            .ok_or_else(|| CacheError::Redis("a version is not a number".into()))?;
        let check = Check {
            generation: String::from_utf8_lossy(generation).into_owned(),
            versions,
            leased: leased.as_slice() != b"0",
        };
        Ok((check, stored))
    }

    async fn acquire(
        &self,
        tables: &[String],
        lease: &str,
        ttl: Duration,
    ) -> Result<(), CacheError> {
        let _: i64 = self
            .run(
                ACQUIRE,
                table_keys(tables),
                vec![lease.to_string(), ttl.as_millis().max(1).to_string()],
            )
            .await?;
        Ok(())
    }

    async fn release(&self, tables: &[String], lease: &str) -> Result<(), CacheError> {
        let _: i64 = self
            .run(RELEASE, table_keys(tables), vec![lease.to_string()])
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    async fn lease_cycle(store: &VersionStore) {
        let t = tables(&["db/public.t"]);
        let before = store.check(&t).await.unwrap();
        assert!(!before.leased);
        store
            .acquire(&t, "a", Duration::from_secs(10))
            .await
            .unwrap();
        let during = store.check(&t).await.unwrap();
        assert!(during.leased, "a write in flight is seen");
        assert_ne!(during.versions, before.versions);
        store.release(&t, "a").await.unwrap();
        let after = store.check(&t).await.unwrap();
        assert!(!after.leased);
        assert_ne!(after.versions, during.versions, "the second bump");
        // A lease its brisk never cleared ends with its TTL.
        store
            .acquire(&t, "b", Duration::from_millis(50))
            .await
            .unwrap();
        assert!(store.check(&t).await.unwrap().leased);
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(!store.check(&t).await.unwrap().leased);
    }

    #[tokio::test]
    async fn local_leases_are_seen_bumped_and_expire() {
        lease_cycle(&VersionStore::local()).await;
    }

    #[tokio::test]
    async fn redis_leases_are_seen_bumped_and_expire_and_a_lost_store_changes_generation() {
        let redis = brisk_sandbox::Redis::start().expect("sandbox redis");
        let store = VersionStore::redis(&redis.url()).unwrap();
        lease_cycle(&store).await;
        let t = tables(&["db/public.t"]);
        let first = store.check(&t).await.unwrap();
        let client = redis::Client::open(redis.url()).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        let _: () = redis::cmd("FLUSHALL").query_async(&mut c).await.unwrap();
        let second = store.check(&t).await.unwrap();
        assert_ne!(first.generation, second.generation);
        // The entry comes back with the versions, in the same step; a missing one is None.
        let _: () = redis::cmd("SET")
            .arg("brisk:test:entry")
            .arg(&b"\x00frames\xff"[..])
            .query_async(&mut c)
            .await
            .unwrap();
        let (check, entry) = store.check_entry(&t, "brisk:test:entry").await.unwrap();
        assert_eq!(check, second);
        assert_eq!(entry.as_deref(), Some(&b"\x00frames\xff"[..]));
        let (check, entry) = store.check_entry(&t, "brisk:test:none").await.unwrap();
        assert_eq!((check, entry), (second.clone(), None));
        store.new_generation().await.unwrap();
        let third = store.check(&t).await.unwrap();
        assert_ne!(third.generation, second.generation);
        assert_eq!(third.versions, second.versions);
        drop(redis);
        assert!(
            store.check(&t).await.is_err(),
            "Redis down is an error, never a version"
        );
    }
}
