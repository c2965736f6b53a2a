//! The Redis fixes that need no change to the application, applied on a Redis the caller
//! names as safe (the demo's throwaway one) and measured: a TTL for the keys of each
//! `redis.no_ttl` pattern that have none (brisk-redis's `expire_without_ttl`, the same as
//! `brisk cleanup --set-ttl`), with the keys without a TTL, the pattern's bytes
//! (`MEMORY USAGE`) and the server's `used_memory` before and after. Compression changes
//! what the application reads, so it is reported as an application change, never applied.

use std::time::Duration;

use brisk_redis::expire::{expire_without_ttl, ExpireOptions};
use brisk_redis::RedisTarget;
use serde::Serialize;

use crate::merge::DoctorFinding;
use crate::{DoctorError, Progress};

/// The TTL `redis.no_ttl`'s fix recommends (`brisk cleanup --set-ttl 7d`).
pub const RECOMMENDED_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// One pattern's keys given a TTL, measured before and after.
#[derive(Debug, Clone, Serialize)]
pub struct RedisFix {
    /// The `SCAN MATCH` glob (brisk-redis's pattern).
    pub pattern: String,
    pub ttl_s: u64,
    pub keys: u64,
    pub without_ttl_before: u64,
    pub without_ttl_after: u64,
    pub expires_set: u64,
    /// `MEMORY USAGE` of the pattern's keys, summed.
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// `INFO memory` `used_memory` of the server.
    pub used_memory_before: Option<u64>,
    pub used_memory_after: Option<u64>,
}

/// Gives every key of each `redis.no_ttl` finding's pattern that has no TTL the recommended
/// one, and measures. `used_memory` reads the server's `used_memory`.
pub async fn apply_ttls(
    url: &str,
    findings: &[DoctorFinding],
    used_memory: &(dyn Fn() -> Option<u64> + Sync),
    progress: Progress<'_>,
) -> Result<Vec<RedisFix>, DoctorError> {
    let target = RedisTarget::parse(url)?;
    let mut fixes = Vec::new();
    for f in findings.iter().filter(|f| f.check == "redis.no_ttl") {
        // brisk-redis's patterns are SCAN MATCH globs (`cache:conversation:*:messages`).
        let pattern = f.subject.clone();
        progress(&format!(
            "redis: EXPIRE {} s on the keys of {pattern} without a TTL",
            RECOMMENDED_TTL.as_secs()
        ));
        let options = |apply| ExpireOptions {
            pattern: pattern.clone(),
            ttl: RECOMMENDED_TTL,
            apply,
        };
        let memory_before = used_memory();
        let applied = expire_without_ttl(&target, &options(true), &|_| {}).await?;
        let memory_after = used_memory();
        let after = expire_without_ttl(&target, &options(false), &|_| {}).await?;
        let bytes =
            |o: &brisk_redis::expire::ExpireOutcome| o.patterns.iter().map(|p| p.bytes).sum();
        fixes.push(RedisFix {
            pattern,
            ttl_s: RECOMMENDED_TTL.as_secs(),
            keys: applied.matched,
            without_ttl_before: applied.without_ttl,
            without_ttl_after: after.without_ttl,
            expires_set: applied.expires_set,
            bytes_before: bytes(&applied),
            bytes_after: bytes(&after),
            used_memory_before: memory_before,
            used_memory_after: memory_after,
        });
    }
    Ok(fixes)
}
