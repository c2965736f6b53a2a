//! The `[cache]` section of brisk.toml.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

/// `[cache]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCacheConfig {
    #[serde(default)]
    enabled: bool,
    /// Fingerprint (16 hex digits, as `SHOW QUERIES` prints it) to TTL in seconds.
    #[serde(default)]
    shapes: BTreeMap<String, f64>,
    #[serde(default = "default_max_bytes")]
    max_bytes: u64,
    #[serde(default)]
    redis: Option<String>,
    #[serde(default = "default_ttl")]
    default_ttl: f64,
    #[serde(default = "default_write_lease")]
    write_lease: f64,
    #[serde(default)]
    follow_writes: Option<String>,
    #[serde(default = "default_follow_slot")]
    follow_slot: String,
    #[serde(default = "default_follow_interval_ms")]
    follow_interval_ms: u64,
    // The entry tiers and what a write does with the store down (docs/cache.md, "Tiers").
    #[serde(default)]
    tier: Tier,
    #[serde(default = "default_max_entry_bytes")]
    max_entry_bytes: u64,
    #[serde(default)]
    on_store_down: StoreDown,
}

/// Where entries live: each brisk's memory, the shared Redis, or both (memory first).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    #[default]
    Local,
    Redis,
    Both,
}

impl Tier {
    pub fn local(self) -> bool {
        self != Tier::Redis
    }

    pub fn redis(self) -> bool {
        self != Tier::Local
    }

    pub fn name(self) -> &'static str {
        match self {
            Tier::Local => "local",
            Tier::Redis => "redis",
            Tier::Both => "both",
        }
    }
}

/// A write while the version store cannot be reached: refused (`08006`, never stale), or
/// let through with the cache bypassed until the database's epoch is bumped on the store's
/// return (other brisks may serve older entries until then; docs/cache.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoreDown {
    #[default]
    RefuseWrites,
    AllowWrites,
}

/// 1 MiB: a larger answer would crowd out many small ones.
fn default_max_entry_bytes() -> u64 {
    1024 * 1024
}

impl Default for RawCacheConfig {
    fn default() -> RawCacheConfig {
        RawCacheConfig {
            enabled: false,
            shapes: BTreeMap::new(),
            max_bytes: default_max_bytes(),
            redis: None,
            default_ttl: default_ttl(),
            write_lease: default_write_lease(),
            follow_writes: None,
            follow_slot: default_follow_slot(),
            follow_interval_ms: default_follow_interval_ms(),
            tier: Tier::Local,
            max_entry_bytes: default_max_entry_bytes(),
            on_store_down: StoreDown::RefuseWrites,
        }
    }
}

/// 64 MiB: a few thousand typical result sets per instance; raise it for large results.
fn default_max_bytes() -> u64 {
    64 * 1024 * 1024
}

/// The TTL of a shape opted in without one (`CACHE fingerprint`, a comment without `ttl=`).
fn default_ttl() -> f64 {
    60.0
}

/// How long a write's "being written" mark outlives a brisk that died before clearing it:
/// longer than any transaction brisk relays should last (see docs/cache.md).
fn default_write_lease() -> f64 {
    300.0
}

/// The result cache's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheConfig {
    pub enabled: bool,
    pub shapes: BTreeMap<u64, Duration>,
    pub max_bytes: u64,
    pub redis: Option<String>,
    pub default_ttl: Duration,
    pub write_lease: Duration,
    /// `follow_writes = "logical"`: follow writes that bypass brisk (cache/follow.rs).
    pub follow: Option<FollowConfig>,
    pub tier: Tier,
    /// Answers larger than this (as the server sent them) are stored in no tier.
    pub max_entry_bytes: usize,
    pub on_store_down: StoreDown,
}

impl Default for CacheConfig {
    fn default() -> CacheConfig {
        // The raw defaults are valid by construction.
        CacheConfig::from_raw(RawCacheConfig::default()).unwrap_or(CacheConfig {
            enabled: false,
            shapes: BTreeMap::new(),
            max_bytes: default_max_bytes(),
            redis: None,
            default_ttl: Duration::from_secs(60),
            write_lease: Duration::from_secs(300),
            follow: None,
            tier: Tier::Local,
            max_entry_bytes: 1024 * 1024,
            on_store_down: StoreDown::RefuseWrites,
        })
    }
}

fn seconds(key: &str, value: f64) -> Result<Duration, String> {
    if value <= 0.0 {
        return Err(format!(
            "cache.{key}: {value} is not a positive number of seconds"
        ));
    }
    Duration::try_from_secs_f64(value)
        .map_err(|_| format!("cache.{key}: {value} is not a number of seconds"))
}

/// A fingerprint as `SHOW QUERIES` and `SHOW CACHE` print it: 16 hex digits.
pub fn parse_fingerprint(text: &str) -> Result<u64, String> {
    let digits = text.trim().trim_matches('"').trim_matches('\'');
    if digits.len() != 16 {
        return Err(format!(
            "\"{text}\" is not a fingerprint: 16 hex digits, as SHOW QUERIES prints them"
        ));
    }
    u64::from_str_radix(digits, 16).map_err(|_| {
        format!("\"{text}\" is not a fingerprint: 16 hex digits, as SHOW QUERIES prints them")
    })
}

// Following writes that bypass brisk (`follow_writes`, `follow_slot`, `follow_interval_ms`).

/// Slot names are cluster-wide; each database's slot is `<follow_slot>_<database>`.
fn default_follow_slot() -> String {
    "brisk_cache".into()
}

/// A write around brisk is seen within about this long plus the decoding time (measured in
/// docs/cache.md); each poll is one query on the follower's own connection.
fn default_follow_interval_ms() -> u64 {
    100
}

/// How brisk follows writes made around it: a logical slot per database, polled.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowConfig {
    pub slot: String,
    pub interval: Duration,
}

impl FollowConfig {
    fn from_raw(
        enabled: bool,
        mode: Option<String>,
        slot: String,
        interval_ms: u64,
    ) -> Result<Option<FollowConfig>, String> {
        match mode.as_deref() {
            None => return Ok(None),
            Some("logical") => {}
            Some(other) => {
                return Err(format!(
                    "cache.follow_writes: \"{other}\" is not a mode: the one mode is \"logical\""
                ))
            }
        }
        if !enabled {
            return Err("cache.follow_writes: needs enabled = true in [cache]".into());
        }
        // 63 is PostgreSQL's NAMEDATALEN - 1; the database's name is appended.
        if slot.is_empty()
            || slot.len() > 40
            || !slot
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(format!(
                "cache.follow_slot: \"{slot}\" is not a slot name: 1 to 40 of a-z, 0-9 and _"
            ));
        }
        if !(10..=60_000).contains(&interval_ms) {
            return Err(format!(
                "cache.follow_interval_ms: {interval_ms} is not between 10 and 60000"
            ));
        }
        Ok(Some(FollowConfig {
            slot,
            interval: Duration::from_millis(interval_ms),
        }))
    }
}

impl CacheConfig {
    pub fn from_raw(raw: RawCacheConfig) -> Result<CacheConfig, String> {
        let mut shapes = BTreeMap::new();
        for (fingerprint, ttl) in raw.shapes {
            let parsed =
                parse_fingerprint(&fingerprint).map_err(|e| format!("cache.shapes: {e}"))?;
            shapes.insert(parsed, seconds(&format!("shapes.{fingerprint}"), ttl)?);
        }
        if raw.max_bytes == 0 {
            return Err("cache.max_bytes: must be at least 1".into());
        }
        if let Some(url) = &raw.redis {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(format!(
                    "cache.redis: \"{url}\" is not a redis:// or rediss:// URL"
                ));
            }
        }
        if raw.tier.redis() && raw.redis.is_none() {
            return Err(format!(
                "cache.tier: \"{}\" keeps entries in Redis: set cache.redis too",
                raw.tier.name()
            ));
        }
        let max_entry_bytes = usize::try_from(raw.max_entry_bytes)
            .ok()
            .filter(|n| (1..=512 << 20).contains(n))
            .ok_or("cache.max_entry_bytes: must be from 1 to 536870912 (Redis's largest string)")?;
        Ok(CacheConfig {
            enabled: raw.enabled,
            shapes,
            max_bytes: raw.max_bytes,
            redis: raw.redis,
            default_ttl: seconds("default_ttl", raw.default_ttl)?,
            write_lease: seconds("write_lease", raw.write_lease)?,
            follow: FollowConfig::from_raw(
                raw.enabled,
                raw.follow_writes,
                raw.follow_slot,
                raw.follow_interval_ms,
            )?,
            tier: raw.tier,
            max_entry_bytes,
            on_store_down: raw.on_store_down,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<CacheConfig, String> {
        let raw: RawCacheConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        CacheConfig::from_raw(raw)
    }

    #[test]
    fn shapes_are_fingerprints_with_ttls_and_bad_ones_are_named() {
        let config = parse(
            "enabled = true\nredis = \"redis://127.0.0.1:6379\"\n[shapes]\n\"00000000000000ff\" = 30\n",
        )
        .unwrap();
        assert_eq!(config.shapes[&0xff], Duration::from_secs(30));
        let error = parse("[shapes]\nabc = 30\n").unwrap_err();
        assert!(error.contains("\"abc\" is not a fingerprint"), "{error}");
        let error = parse("[shapes]\n\"00000000000000ff\" = -1\n").unwrap_err();
        assert!(error.contains("not a positive number"), "{error}");
        let error = parse("redis = \"localhost\"\n").unwrap_err();
        assert!(error.contains("redis://"), "{error}");
        assert!(!CacheConfig::default().enabled);
    }

    #[test]
    fn following_writes_is_logical_only_with_a_slot_name_and_an_interval() {
        let config = parse("enabled = true\nfollow_writes = \"logical\"\n").unwrap();
        let follow = config.follow.unwrap();
        assert_eq!(follow.slot, "brisk_cache");
        assert_eq!(follow.interval, Duration::from_millis(100));
        assert!(parse("enabled = true\n").unwrap().follow.is_none());
        for (text, wanted) in [
            ("follow_writes = \"wal\"", "is not a mode"),
            (
                "follow_writes = \"logical\"\nfollow_slot = \"Bad-Name\"",
                "is not a slot name",
            ),
            (
                "follow_writes = \"logical\"\nfollow_interval_ms = 0",
                "not between",
            ),
        ] {
            let error = parse(&format!("enabled = true\n{text}\n")).unwrap_err();
            assert!(error.contains(wanted), "{text}: {error}");
        }
        let error = parse("follow_writes = \"logical\"\n").unwrap_err();
        assert!(error.contains("needs enabled = true"), "{error}");
    }

    #[test]
    fn tiers_need_redis_and_bad_values_are_named() {
        let config = parse(
            "redis = \"redis://127.0.0.1:6379\"\ntier = \"both\"\non_store_down = \"allow-writes\"\nmax_entry_bytes = 4096\n",
        )
        .unwrap();
        assert_eq!(config.tier, Tier::Both);
        assert_eq!(config.on_store_down, StoreDown::AllowWrites);
        assert_eq!(config.max_entry_bytes, 4096);
        let defaults = parse("").unwrap();
        assert_eq!(
            (
                defaults.tier,
                defaults.on_store_down,
                defaults.max_entry_bytes
            ),
            (Tier::Local, StoreDown::RefuseWrites, 1 << 20)
        );
        let error = parse("tier = \"redis\"\n").unwrap_err();
        assert!(error.contains("set cache.redis"), "{error}");
        let error = parse("tier = \"disk\"\n").unwrap_err();
        assert!(error.contains("local") && error.contains("both"), "{error}");
        let error = parse("on_store_down = \"ignore\"\n").unwrap_err();
        assert!(error.contains("allow-writes"), "{error}");
        let error = parse("max_entry_bytes = 0\n").unwrap_err();
        assert!(error.contains("max_entry_bytes"), "{error}");
    }
}
