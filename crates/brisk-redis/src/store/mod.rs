//! A cache on top of Redis that keeps values small and reads cheap.
//!
//! - Every operation on many keys is one pipeline (per slot, in a cluster): `get_many`,
//!   `set_many`, `delete_many`.
//! - Keys live in a namespace (`app:`), so two users of one Redis never collide.
//! - Tags invalidate in O(1): each tag has a version counter in Redis, and a tagged entry's
//!   key carries a hash of its tags' versions. Invalidating a tag increments its counter;
//!   entries written under the old version are never read again and expire by their TTL.
//! - [`CacheStore::get_or_compute`] computes a missing value once per key at a time: callers
//!   in this process wait for the first one, and other processes wait on a short lock in
//!   Redis (`SET NX PX`).
//! - Values of at least 1 KiB are compressed (zstd by default) and kept compressed only when
//!   that saves 20%; a header byte names the codec ([`crate::codec`]).
//! - An in-process tier (moka), bounded in bytes and with a short TTL of its own, answers
//!   repeated reads of untagged keys without a round trip.
//!
//! ```no_run
//! # async fn demo() -> Result<(), brisk_redis::Error> {
//! use std::time::Duration;
//! use brisk_redis::store::{CacheStore, StoreOptions};
//!
//! let target = brisk_redis::RedisTarget::parse("redis://127.0.0.1:6379")?;
//! let cache = CacheStore::connect(&target, StoreOptions::new("app")).await?;
//! cache.set_ex("user:1", br#"{"name":"Ada"}"#, Duration::from_secs(60)).await?;
//! let profile = cache
//!     .get_or_compute("user:2", Duration::from_secs(60), &["users"], || async {
//!         Ok::<_, brisk_redis::Error>(br#"{"name":"Grace"}"#.to_vec())
//!     })
//!     .await?;
//! cache.invalidate_tag("users").await?; // every entry tagged "users" is gone, in O(1)
//! # Ok(())
//! # }
//! ```

mod backend;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::Value;

use crate::codec::{decode, encode, CompressionPolicy};
use crate::error::{one_line, Error};
use crate::target::RedisTarget;
use backend::Backend;

/// How the store behaves; [`StoreOptions::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Prefix of every key, followed by `:`.
    pub namespace: String,
    pub compression: CompressionPolicy,
    /// Bytes of decoded values the in-process tier may hold; 0 turns it off.
    pub local_capacity_bytes: u64,
    /// Longest time a value is served from the in-process tier without asking Redis. Other
    /// processes' writes and deletes become visible after at most this long.
    pub local_ttl: Duration,
    /// How long a computation in `get_or_compute` holds its lock in Redis; others wait at
    /// most this long before computing themselves (the holder may have died).
    pub compute_lease: Duration,
}

impl StoreOptions {
    pub fn new(namespace: &str) -> StoreOptions {
        StoreOptions {
            namespace: namespace.to_string(),
            compression: CompressionPolicy::default(),
            local_capacity_bytes: 64 << 20,
            local_ttl: Duration::from_secs(1),
            compute_lease: Duration::from_secs(5),
        }
    }
}

/// A decoded value in the in-process tier, with its own lifetime.
#[derive(Clone)]
struct LocalEntry {
    value: Arc<[u8]>,
    ttl: Duration,
}

struct LocalExpiry;

impl moka::Expiry<String, LocalEntry> for LocalExpiry {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &LocalEntry,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// The cache. Cheap to clone; clones share connections, the local tier and the locks.
#[derive(Clone)]
pub struct CacheStore {
    backend: Backend,
    prefix: String,
    options: StoreOptions,
    local: Option<moka::future::Cache<String, LocalEntry>>,
    /// Keys being computed in this process: the second caller waits on the first.
    computing: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    address: String,
}

/// Compare-and-delete: release a compute lock only if it is still ours.
const UNLOCK: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/// How often a caller waiting on another process's computation looks for the value.
const COMPUTE_POLL: Duration = Duration::from_millis(20);

impl CacheStore {
    /// Connects to `target` (a single server or any node of a cluster, found out from
    /// `INFO server`).
    pub async fn connect(target: &RedisTarget, options: StoreOptions) -> Result<CacheStore, Error> {
        let mut probe = target.connect().await?;
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut probe)
            .await
            .map_err(|e| Error::from_redis(target.address(), "INFO", &e))?;
        let backend = if info.contains("redis_mode:cluster") {
            Backend::Cluster(target.cluster_connection().await?)
        } else {
            Backend::Single(target.connection_manager().await?)
        };
        let local = (options.local_capacity_bytes > 0).then(|| {
            moka::future::Cache::builder()
                .max_capacity(options.local_capacity_bytes)
                .weigher(|key: &String, entry: &LocalEntry| {
                    u32::try_from(key.len() + entry.value.len()).unwrap_or(u32::MAX)
                })
                .expire_after(LocalExpiry)
                .build()
        });
        Ok(CacheStore {
            backend,
            prefix: format!("{}:", options.namespace),
            options,
            local,
            computing: Arc::new(Mutex::new(HashMap::new())),
            address: target.address().to_string(),
        })
    }

    /// The same store under another namespace (sharing connections and the local tier).
    pub fn namespace(&self, namespace: &str) -> CacheStore {
        CacheStore {
            prefix: format!("{namespace}:"),
            options: StoreOptions {
                namespace: namespace.to_string(),
                ..self.options.clone()
            },
            ..self.clone()
        }
    }

    /// The Redis key of `key` in this namespace.
    pub fn redis_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn failed(&self, command: &str, error: &redis::RedisError) -> Error {
        Error::from_redis(&self.address, command, error)
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.get_many(&[key]).await?.pop().flatten())
    }

    pub async fn set_ex(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), Error> {
        self.set_many(&[(key, value)], ttl).await
    }

    /// Values of `keys`, in order (`None` for a miss): the local tier first, then one MGET
    /// for the rest.
    pub async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        let redis_keys: Vec<String> = keys.iter().map(|k| self.redis_key(k)).collect();
        self.get_redis_keys(&redis_keys).await
    }

    async fn get_redis_keys(&self, redis_keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        let mut out: Vec<Option<Vec<u8>>> = vec![None; redis_keys.len()];
        let mut missing = Vec::new();
        for (i, key) in redis_keys.iter().enumerate() {
            match self.local_get(key).await {
                Some(value) => out[i] = Some(value.to_vec()),
                None => missing.push(i),
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let mut mget = redis::cmd("MGET");
        for &i in &missing {
            mget.arg(&redis_keys[i]);
        }
        let stored: Vec<Option<Vec<u8>>> = self
            .backend
            .query(&mget)
            .await
            .map_err(|e| self.failed("MGET", &e))?;
        for (&i, stored) in missing.iter().zip(stored) {
            if let Some(stored) = stored {
                let value = decode(&redis_keys[i], &stored)?;
                self.local_put(&redis_keys[i], &value).await;
                out[i] = Some(value);
            }
        }
        Ok(out)
    }

    /// Writes every item with `ttl`, in one pipeline of `SET key value PX ttl`.
    pub async fn set_many(&self, items: &[(&str, &[u8])], ttl: Duration) -> Result<(), Error> {
        let items: Vec<(String, &[u8])> =
            items.iter().map(|(k, v)| (self.redis_key(k), *v)).collect();
        self.set_redis_keys(&items, ttl).await
    }

    async fn set_redis_keys(&self, items: &[(String, &[u8])], ttl: Duration) -> Result<(), Error> {
        let ttl_ms = ttl.as_millis().max(1) as u64;
        let cmds = items
            .iter()
            .map(|(key, value)| {
                let mut cmd = redis::cmd("SET");
                cmd.arg(key)
                    .arg(encode(value, &self.options.compression))
                    .arg("PX")
                    .arg(ttl_ms);
                (key.as_bytes().to_vec(), cmd)
            })
            .collect();
        let replies = self
            .backend
            .pipeline(cmds)
            .await
            .map_err(|e| self.failed("SET", &e))?;
        check_replies(&self.address, "SET", &replies)?;
        for (key, value) in items {
            // The local tier holds the new value, and never longer than Redis does.
            self.local_put_for(key, value, ttl).await;
        }
        Ok(())
    }

    /// Deletes `keys` with one UNLINK (memory is freed in the background); returns how
    /// many existed.
    pub async fn delete_many(&self, keys: &[&str]) -> Result<u64, Error> {
        if keys.is_empty() {
            return Ok(0);
        }
        let mut unlink = redis::cmd("UNLINK");
        for key in keys {
            let key = self.redis_key(key);
            if let Some(local) = &self.local {
                local.invalidate(&key).await;
            }
            unlink.arg(key);
        }
        self.backend
            .query(&unlink)
            .await
            .map_err(|e| self.failed("UNLINK", &e))
    }

    fn tag_key(&self, tag: &str) -> String {
        format!("{}_tag:{tag}", self.prefix)
    }

    /// The current versions of `tags`, creating missing counters. A missing counter (never
    /// used, or evicted) starts at the current time in microseconds, so it never returns to
    /// a version whose entries may still exist.
    async fn tag_versions(&self, tags: &[&str]) -> Result<Vec<u64>, Error> {
        if tags.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_micros();
        let mut cmds = Vec::with_capacity(tags.len() * 2);
        for tag in tags {
            let key = self.tag_key(tag);
            let mut init = redis::cmd("SET");
            init.arg(&key).arg(now).arg("NX");
            let mut get = redis::cmd("GET");
            get.arg(&key);
            cmds.push((key.as_bytes().to_vec(), init));
            cmds.push((key.into_bytes(), get));
        }
        let replies = self
            .backend
            .pipeline(cmds)
            .await
            .map_err(|e| self.failed("GET", &e))?;
        check_replies(&self.address, "GET", &replies)?;
        Ok(replies
            .iter()
            .skip(1)
            .step_by(2)
            .map(|v| redis::from_redis_value::<u64>(v.clone()).unwrap_or(now))
            .collect())
    }

    /// The Redis key of `key` under the current versions of `tags`.
    async fn tagged_key(&self, key: &str, tags: &[&str]) -> Result<String, Error> {
        if tags.is_empty() {
            return Ok(self.redis_key(key));
        }
        let versions = self.tag_versions(tags).await?;
        let mut pairs: Vec<(&str, u64)> = tags.iter().copied().zip(versions).collect();
        pairs.sort_unstable();
        // FNV-1a over the sorted tag=version list: the key stays short however many tags.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for (tag, version) in pairs {
            for byte in tag.bytes().chain([b'=']).chain(version.to_le_bytes()) {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        Ok(format!("{}{key}#{hash:016x}", self.prefix))
    }

    /// Reads `key` as written with `tags` (by [`CacheStore::set_tagged`]); a miss once any
    /// of the tags was invalidated since.
    pub async fn get_tagged(&self, key: &str, tags: &[&str]) -> Result<Option<Vec<u8>>, Error> {
        let key = self.tagged_key(key, tags).await?;
        Ok(self.get_redis_keys(&[key]).await?.pop().flatten())
    }

    /// Writes `key` under the current versions of `tags`.
    pub async fn set_tagged(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
        tags: &[&str],
    ) -> Result<(), Error> {
        let key = self.tagged_key(key, tags).await?;
        self.set_redis_keys(&[(key, value)], ttl).await
    }

    /// Makes every entry written with `tag` unreachable: one INCR, whatever their number.
    pub async fn invalidate_tag(&self, tag: &str) -> Result<(), Error> {
        let key = self.tag_key(tag);
        let mut init = redis::cmd("SET");
        init.arg(&key).arg(now_micros()).arg("NX");
        let mut incr = redis::cmd("INCR");
        incr.arg(&key);
        let replies = self
            .backend
            .pipeline(vec![
                (key.as_bytes().to_vec(), init),
                (key.into_bytes(), incr),
            ])
            .await
            .map_err(|e| self.failed("INCR", &e))?;
        check_replies(&self.address, "INCR", &replies)
    }

    /// The value of `key` (under `tags`), or `compute`'s result, stored with `ttl`.
    ///
    /// Stampede protection: while one caller computes a key, other callers in this process
    /// wait for it, and callers in other processes wait on a lock in Redis for up to
    /// `compute_lease`, then read what it stored.
    pub async fn get_or_compute<F, Fut, E>(
        &self,
        key: &str,
        ttl: Duration,
        tags: &[&str],
        compute: F,
    ) -> Result<Vec<u8>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<u8>, E>>,
        E: From<Error>,
    {
        if let Some(value) = self.get_tagged(key, tags).await? {
            return Ok(value);
        }
        let flight = {
            let mut computing = self.computing.lock().unwrap_or_else(|p| p.into_inner());
            computing
                .entry(self.redis_key(key))
                .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(())))
                .clone()
        };
        let result = async {
            let _turn = flight.lock().await;
            // The caller before us may have stored it while we waited.
            if let Some(value) = self.get_tagged(key, tags).await? {
                return Ok(value);
            }
            self.compute_once_across_processes(key, ttl, tags, compute)
                .await
        }
        .await;
        {
            let mut computing = self.computing.lock().unwrap_or_else(|p| p.into_inner());
            // Only the map and this caller hold it: nobody else waits, so forget it.
            if Arc::strong_count(&flight) <= 2 {
                computing.remove(&self.redis_key(key));
            }
        }
        result
    }

    async fn compute_once_across_processes<F, Fut, E>(
        &self,
        key: &str,
        ttl: Duration,
        tags: &[&str],
        compute: F,
    ) -> Result<Vec<u8>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<u8>, E>>,
        E: From<Error>,
    {
        let lock_key = format!("{}_lock:{key}", self.prefix);
        let token = format!("{}-{}", std::process::id(), now_micros());
        let lease_ms = self.options.compute_lease.as_millis().max(1) as u64;
        let mut lock = redis::cmd("SET");
        lock.arg(&lock_key)
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(lease_ms);
        let acquired: Option<String> = self
            .backend
            .query(&lock)
            .await
            .map_err(|e| self.failed("SET NX", &e))?;
        if acquired.is_none() {
            // Another process computes it: wait for its value, up to the lease.
            let deadline = Instant::now() + self.options.compute_lease;
            while Instant::now() < deadline {
                tokio::time::sleep(COMPUTE_POLL).await;
                if let Some(value) = self.get_tagged(key, tags).await? {
                    return Ok(value);
                }
            }
        }
        let computed = compute().await;
        if let Ok(value) = &computed {
            self.set_tagged(key, value, ttl, tags).await?;
        }
        if acquired.is_some() {
            let mut unlock = redis::cmd("EVAL");
            unlock.arg(UNLOCK).arg(1).arg(&lock_key).arg(&token);
            let _: i64 = self
                .backend
                .query(&unlock)
                .await
                .map_err(|e| self.failed("EVAL", &e))?;
        }
        computed
    }

    async fn local_get(&self, key: &str) -> Option<Arc<[u8]>> {
        Some(self.local.as_ref()?.get(key).await?.value)
    }

    async fn local_put(&self, key: &str, value: &[u8]) {
        self.local_put_for(key, value, self.options.local_ttl).await;
    }

    async fn local_put_for(&self, key: &str, value: &[u8], ttl: Duration) {
        if let Some(local) = &self.local {
            let entry = LocalEntry {
                value: Arc::from(value),
                ttl: ttl.min(self.options.local_ttl),
            };
            local.insert(key.to_string(), entry).await;
        }
    }
}

/// Turns the first in-place error of a pipeline into the store's error.
fn check_replies(address: &str, command: &str, replies: &[Value]) -> Result<(), Error> {
    match replies.iter().find_map(|v| match v {
        Value::ServerError(e) => Some(e),
        _ => None,
    }) {
        Some(e) => Err(Error::Command {
            address: address.to_string(),
            command: command.to_string(),
            detail: one_line(&format!("{} {}", e.code(), e.details().unwrap_or(""))),
        }),
        None => Ok(()),
    }
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}
