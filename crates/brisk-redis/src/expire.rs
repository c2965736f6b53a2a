//! A TTL for the keys of a pattern that have none (`brisk cleanup redis://... --pattern P
//! --set-ttl 7d`), as the `redis.no_ttl` finding advises.
//!
//! `SCAN MATCH` walks the keys of the pattern, 1,000 at a time; one pipeline per batch reads
//! `PTTL` and `MEMORY USAGE`, so the dry run can say how many keys and how much memory, by
//! pattern, have no TTL. With `apply`, one more pipeline per batch sends `EXPIRE key secs NX`
//! (Redis 7.0 and newer) for the keys that had none: NX makes the server itself skip a key
//! that got a TTL between the `PTTL` and the `EXPIRE`, so a TTL the application set is never
//! replaced. Before 7.0, a three-line Lua script does the same check and set atomically.
//!
//! Architecture invariant: nothing is written without `apply`, and with it only `EXPIRE` on
//! keys that match the pattern and have no TTL.

use std::time::Duration;

use futures_util::future::try_join_all;
use redis::aio::MultiplexedConnection;
use redis::Value;

use crate::error::Error;
use crate::keyspace::{Keyspace, XorShift};
use crate::target::RedisTarget;

/// Keys asked of each `SCAN`, as in `brisk redis` (keyspace.rs).
const SCAN_COUNT: usize = 1000;

/// `EXPIRE key seconds`, only when the key has no TTL: `EXPIRE ... NX` for servers before
/// 7.0, atomic because a script runs alone.
const EXPIRE_IF_NO_TTL: &str =
    "if redis.call('PTTL', KEYS[1]) == -1 then return redis.call('EXPIRE', KEYS[1], ARGV[1]) end return 0";

/// What to expire.
#[derive(Debug, Clone)]
pub struct ExpireOptions {
    /// A `SCAN MATCH` glob (`chat:conv:*`).
    pub pattern: String,
    /// The TTL to give keys without one (whole seconds, at least 1).
    pub ttl: Duration,
    /// Send the `EXPIRE`s; without it, only count.
    pub apply: bool,
}

/// The keys of one pattern found by the scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternKeys {
    pub pattern: String,
    pub keys: u64,
    /// `MEMORY USAGE`, summed.
    pub bytes: u64,
    pub without_ttl: u64,
}

/// What [`expire_without_ttl`] found and did.
#[derive(Debug, Clone)]
pub struct ExpireOutcome {
    /// Keys that matched the glob.
    pub matched: u64,
    pub without_ttl: u64,
    /// TTLs set (0 without `apply`).
    pub expires_set: u64,
    /// The keys by pattern, most memory first.
    pub patterns: Vec<PatternKeys>,
    /// `EXPIRE NX`, or the script for servers before Redis 7.0.
    pub method: &'static str,
    pub applied: bool,
}

/// Scans the keys matching `options.pattern` on every primary, counts those without a TTL
/// by pattern, and with `options.apply` gives them `options.ttl`. `on_progress` gets the
/// number of keys read so far.
pub async fn expire_without_ttl(
    target: &RedisTarget,
    options: &ExpireOptions,
    on_progress: &(dyn Fn(u64) + Sync),
) -> Result<ExpireOutcome, Error> {
    let (info, nodes) = crate::analyze::primaries(target).await?;
    let major: u32 = info
        .get("redis_version")
        .and_then(|v| v.split('.').next()?.parse().ok())
        .unwrap_or(0);
    let nx = major >= 7;
    let seconds = options.ttl.as_secs().max(1);
    let read = std::sync::atomic::AtomicU64::new(0);
    let scans = nodes.iter().map(|node| async {
        let conn = node.connect().await?;
        scan_and_expire(node, conn, options, seconds, nx, &read, on_progress).await
    });
    let mut keyspace = Keyspace::default();
    let mut expires_set = 0;
    for (node_keyspace, set) in try_join_all(scans).await? {
        keyspace.merge(node_keyspace);
        expires_set += set;
    }
    keyspace.generalize();
    let mut patterns: Vec<PatternKeys> = keyspace
        .groups
        .values()
        .map(|g| PatternKeys {
            pattern: g.pattern.clone(),
            keys: g.keys,
            bytes: g.bytes,
            without_ttl: g.no_ttl,
        })
        .collect();
    patterns.sort_by(|a, b| {
        b.bytes
            .cmp(&a.bytes)
            .then_with(|| a.pattern.cmp(&b.pattern))
    });
    Ok(ExpireOutcome {
        matched: keyspace.scanned,
        without_ttl: keyspace.scanned - keyspace.with_ttl,
        expires_set,
        patterns,
        method: if nx {
            "EXPIRE NX"
        } else {
            "EVAL (PTTL, then EXPIRE)"
        },
        applied: options.apply,
    })
}

async fn scan_and_expire(
    node: &RedisTarget,
    mut conn: MultiplexedConnection,
    options: &ExpireOptions,
    seconds: u64,
    nx: bool,
    read: &std::sync::atomic::AtomicU64,
    on_progress: &(dyn Fn(u64) + Sync),
) -> Result<(Keyspace, u64), Error> {
    let address = node.address();
    let mut keyspace = Keyspace::default();
    let mut random = XorShift::new();
    let mut set = 0;
    let mut reported = 0;
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&options.pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query_async(&mut conn)
            .await
            .map_err(|e| Error::from_redis(address, "SCAN", &e))?;
        cursor = next;
        if !keys.is_empty() {
            let mut pipe = redis::pipe();
            for key in &keys {
                pipe.cmd("PTTL").arg(key);
                pipe.cmd("MEMORY").arg("USAGE").arg(key);
            }
            let replies: Vec<Value> = pipe
                .query_async(&mut conn)
                .await
                .map_err(|e| Error::from_redis(address, "PTTL", &e))?;
            let mut without_ttl = Vec::new();
            for (key, reply) in keys.into_iter().zip(replies.chunks(2)) {
                let [Value::Int(ttl), bytes] = reply else {
                    continue;
                };
                // -2: the key expired or was deleted since the SCAN.
                if *ttl == -2 {
                    continue;
                }
                let bytes = match bytes {
                    Value::Int(n) => (*n).max(0) as u64,
                    _ => 0,
                };
                if *ttl == -1 {
                    without_ttl.push(key.clone());
                }
                keyspace.add_sized(key, bytes, *ttl >= 0, &mut random);
            }
            if options.apply && !without_ttl.is_empty() {
                set += expire(&mut conn, address, &without_ttl, seconds, nx).await?;
            }
            let delta = keyspace.scanned - reported;
            reported = keyspace.scanned;
            on_progress(read.fetch_add(delta, std::sync::atomic::Ordering::Relaxed) + delta);
        }
        if cursor == 0 {
            return Ok((keyspace, set));
        }
    }
}

/// One pipeline of `EXPIRE key seconds NX` (or the script): the number of TTLs set.
async fn expire(
    conn: &mut MultiplexedConnection,
    address: &str,
    keys: &[Vec<u8>],
    seconds: u64,
    nx: bool,
) -> Result<u64, Error> {
    let mut pipe = redis::pipe();
    for key in keys {
        if nx {
            pipe.cmd("EXPIRE").arg(key).arg(seconds).arg("NX");
        } else {
            pipe.cmd("EVAL")
                .arg(EXPIRE_IF_NO_TTL)
                .arg(1)
                .arg(key)
                .arg(seconds);
        }
    }
    let replies: Vec<Value> = pipe
        .query_async(conn)
        .await
        .map_err(|e| Error::from_redis(address, "EXPIRE", &e))?;
    Ok(replies
        .iter()
        .filter(|r| matches!(r, Value::Int(1)))
        .count() as u64)
}
