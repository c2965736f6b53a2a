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
        Ok(CacheConfig {
            enabled: raw.enabled,
            shapes,
            max_bytes: raw.max_bytes,
            redis: raw.redis,
            default_ttl: seconds("default_ttl", raw.default_ttl)?,
            write_lease: seconds("write_lease", raw.write_lease)?,
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
}
