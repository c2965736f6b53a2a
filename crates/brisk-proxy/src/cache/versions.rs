//! The version store: per-table version counters and "being written" leases, in process
//! (one brisk) or in Redis (several brisks sharing it). See docs/cache.md for the protocol.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::CacheError;

/// How long one Redis call may take before the cache is bypassed (reads) or the write is
/// refused: a local Redis answers in well under a millisecond; this bounds a stalled one.
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);

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
            VersionStore::Redis(redis) => redis.check(tables).await,
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

/// KEYS: the generation key, then a version key and a lease key per table. ARGV: a fresh
/// random generation, set if there is none (a new or emptied Redis): versions counted
/// again from 0 never match an entry filled under the old generation. Returns the generation, 1 if any table is being
/// written (expired leases are dropped first), then each version.
const CHECK: &str = r"
local gen = redis.call('GET', KEYS[1])
if not gen then
  redis.call('SET', KEYS[1], ARGV[1])
  gen = ARGV[1]
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {gen, 0}
for i = 2, #KEYS, 2 do
  redis.call('ZREMRANGEBYSCORE', KEYS[i + 1], '-inf', now)
  if redis.call('ZCARD', KEYS[i + 1]) > 0 then out[2] = 1 end
  out[#out + 1] = redis.call('GET', KEYS[i]) or '0'
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

    async fn check(&self, tables: &[String]) -> Result<Check, CacheError> {
        let mut keys = vec![GENERATION_KEY.to_string()];
        keys.extend(table_keys(tables));
        let out: Vec<String> = self
            .run(CHECK, keys, vec![format!("{:016x}", random_u64())])
            .await?;
        let (Some(generation), Some(leased)) = (out.first(), out.get(1)) else {
            return Err(CacheError::Redis("short answer to the check".into()));
        };
        let versions = out[2..]
            .iter()
            .map(|v| v.parse::<u64>())
            .collect::<Result<Vec<u64>, _>>()
            .map_err(|_| CacheError::Redis("a version is not a number".into()))?;
        Ok(Check {
            generation: generation.clone(),
            versions,
            leased: leased != "0",
        })
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
        drop(redis);
        assert!(
            store.check(&t).await.is_err(),
            "Redis down is an error, never a version"
        );
    }
}
