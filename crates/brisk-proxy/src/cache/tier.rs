//! The Redis tier of entries, shared by every brisk of one Redis: an entry is the exact
//! frames plus the generation and versions it was filled under, written through
//! brisk-redis's store (compressed above 1 KiB when that pays, with the shape's TTL) and
//! read back in the version check's own script, so that the entry and the versions it
//! must match are read in one atomic step (`versions::CHECK`).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use brisk_redis::store::{CacheStore, StoreOptions};
use brisk_redis::RedisTarget;

use super::versions::REDIS_TIMEOUT;
use super::{CacheError, Entry};

/// The store's namespace: entries are `brisk:cache:e:<sha-256 of the key>`.
const NAMESPACE: &str = "brisk:cache:e";
/// The first bytes of an entry's value (before compression): its format.
const MAGIC: &[u8; 4] = b"bce1";

/// Upper bounds, in seconds, of the Redis round-trip histogram's buckets; the last is
/// the timeout, past which a call fails.
pub const RTT_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
];

/// The entry's name in the store's namespace: the key can hold any byte and be long.
pub fn entry_name(key: &[u8]) -> String {
    Sha256::digest(key)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The Redis key the store writes [`entry_name`] under (as `CacheStore::redis_key`).
pub fn redis_key(key: &[u8]) -> String {
    format!("{NAMESPACE}:{}", entry_name(key))
}

fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// An entry's value: format, the whole key (a hash collision is a miss, never a wrong
/// answer), the generation, the versions, when it expires (ms since the epoch), the frames.
pub fn encode(key: &[u8], entry: &Entry, ttl: Duration) -> Vec<u8> {
    let generation = entry.generation.as_bytes();
    let mut out =
        Vec::with_capacity(32 + key.len() + entry.versions.len() * 8 + entry.frames.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key);
    out.push(generation.len().min(255) as u8);
    out.extend_from_slice(&generation[..generation.len().min(255)]);
    out.extend_from_slice(&(entry.versions.len() as u32).to_be_bytes());
    for version in &entry.versions {
        out.extend_from_slice(&version.to_be_bytes());
    }
    out.extend_from_slice(&unix_ms(SystemTime::now() + ttl).to_be_bytes());
    out.extend_from_slice(&entry.frames);
    out
}

/// The entry stored for `key` (still compressed as the store wrote it), or `None` when it
/// is another key's, expired, or not an entry brisk can read.
pub fn decode(stored: &[u8], key: &[u8]) -> Option<Entry> {
    let value = brisk_redis::codec::decode(NAMESPACE, stored).ok()?;
    let mut at: usize = 0;
    let mut take = |n: usize| -> Option<&[u8]> {
        let part = value.get(at..at.checked_add(n)?)?;
        at += n;
        Some(part)
    };
    let u32_at = |b: &[u8]| u32::from_be_bytes(b.try_into().unwrap_or([0; 4])) as usize;
    if take(4)? != MAGIC {
        return None;
    }
    let key_len = u32_at(take(4)?);
    if take(key_len)? != key {
        return None;
    }
    let generation_len = take(1)?[0] as usize;
    let generation = String::from_utf8(take(generation_len)?.to_vec()).ok()?;
    let count = u32_at(take(4)?);
    let mut versions = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        versions.push(u64::from_be_bytes(take(8)?.try_into().ok()?));
    }
    let expires_ms = u64::from_be_bytes(take(8)?.try_into().ok()?);
    let left = expires_ms.checked_sub(unix_ms(SystemTime::now()))?;
    let frames = Bytes::copy_from_slice(value.get(at..)?);
    Some(Entry {
        frames,
        generation,
        versions,
        expires: Instant::now() + Duration::from_millis(left),
    })
}

/// brisk-redis's store for the tier's writes, connected on first use and again after a
/// failed connection (its connection manager reconnects by itself after that).
pub struct EntryStore {
    url: Option<String>,
    store: tokio::sync::Mutex<Option<CacheStore>>,
}

impl EntryStore {
    pub fn new(url: Option<String>) -> EntryStore {
        EntryStore {
            url,
            store: tokio::sync::Mutex::new(None),
        }
    }

    async fn store(&self) -> Result<CacheStore, CacheError> {
        let mut slot = self.store.lock().await;
        if let Some(store) = slot.as_ref() {
            return Ok(store.clone());
        }
        let url = self
            .url
            .as_deref()
            .ok_or_else(|| CacheError::Redis("no cache.redis for the Redis tier".into()))?;
        let target = RedisTarget::parse(url)
            .map_err(|e| CacheError::Redis(e.to_string()))?
            .with_response_timeout(REDIS_TIMEOUT);
        let options = StoreOptions {
            // brisk's own in-process tier is in front, and checks versions.
            local_capacity_bytes: 0,
            ..StoreOptions::new(NAMESPACE)
        };
        let store = tokio::time::timeout(REDIS_TIMEOUT, CacheStore::connect(&target, options))
            .await
            .map_err(|_| CacheError::Redis("connecting timed out".into()))?
            .map_err(|e| CacheError::Redis(e.to_string()))?;
        debug_assert_eq!(store.redis_key("x"), format!("{NAMESPACE}:x"));
        *slot = Some(store.clone());
        Ok(store)
    }

    /// Writes `value` under `name` for `ttl` (compressed by the store when that pays).
    pub async fn set(&self, name: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        let store = self.store().await?;
        tokio::time::timeout(REDIS_TIMEOUT, store.set_ex(name, value, ttl))
            .await
            .map_err(|_| CacheError::Redis("timed out".into()))?
            .map_err(|e| CacheError::Redis(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(frames: &[u8]) -> Entry {
        Entry {
            frames: Bytes::copy_from_slice(frames),
            generation: "0123456789abcdef".into(),
            versions: vec![3, 0, u64::MAX],
            expires: Instant::now(),
        }
    }

    #[test]
    fn an_entry_round_trips_compressed_and_another_key_or_garbage_is_a_miss() {
        let key = b"db\0user\0\0SELECT 1\0X\x01\x02".to_vec();
        // Large and repetitive: the store compresses it.
        let frames: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 97).to_be_bytes())
            .collect();
        let value = encode(&key, &entry(&frames), Duration::from_secs(60));
        let stored =
            brisk_redis::codec::encode(&value, &brisk_redis::codec::CompressionPolicy::default());
        assert!(
            stored.len() < value.len() / 2,
            "compressed: {}",
            stored.len()
        );
        let back = decode(&stored, &key).expect("its own key");
        assert_eq!(&back.frames[..], &frames[..]);
        assert_eq!(back.generation, "0123456789abcdef");
        assert_eq!(back.versions, vec![3, 0, u64::MAX]);
        assert!(back.expires > Instant::now() + Duration::from_secs(50));
        assert!(decode(&stored, b"another key").is_none());
        assert!(decode(b"\x00garbage", &key).is_none());
        assert!(decode(&stored[..stored.len() / 2], &key).is_none());
        // Expired by its own clock, whatever Redis says.
        let old = encode(&key, &entry(b"x"), Duration::ZERO);
        std::thread::sleep(Duration::from_millis(5));
        assert!(decode(&brisk_redis::codec::encode(&old, &Default::default()), &key).is_none());
        assert_eq!(redis_key(&key).len(), NAMESPACE.len() + 1 + 64);
    }
}
