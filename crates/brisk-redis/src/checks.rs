//! The judgements: observations in, [`Finding`]s out. Pure functions, no I/O, so every
//! threshold can be read (and tested) here.

use brisk_report::{format_bytes, Evidence, Finding, Fix, Severity, Unit};

use crate::analyze::AnalyzeOptions;
use crate::compressibility::GroupCompression;
use crate::keyspace::{Group, Keyspace};
use crate::server::ServerSnapshot;

const MIB: f64 = 1024.0 * 1024.0;

/// Everything the checks look at.
pub(crate) struct Observations<'a> {
    pub servers: &'a [ServerSnapshot],
    pub keyspace: &'a mut Keyspace,
    pub compression: &'a [GroupCompression],
    /// Whether the instance is judged as a cache (every key may be lost, and should expire).
    pub is_cache: bool,
}

fn subject(server: &ServerSnapshot, servers: usize) -> String {
    if servers > 1 {
        format!("node {}", server.node)
    } else {
        "server".to_string()
    }
}

fn key_list(keys: &[(u64, Vec<u8>)]) -> String {
    keys.iter()
        .map(|(bytes, key)| {
            format!(
                "{} ({})",
                String::from_utf8_lossy(key),
                format_bytes(*bytes as f64)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn counts(map: &std::collections::BTreeMap<String, u64>) -> String {
    let mut items: Vec<(&String, &u64)> = map.iter().collect();
    items.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    items
        .iter()
        .map(|(name, n)| format!("{name} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `redis.keyspace`: one summary per pattern, largest first, at most `options.groups`.
pub(crate) fn keyspace_groups(obs: &mut Observations, options: &AnalyzeOptions) -> Vec<Finding> {
    let coverage = obs.keyspace.coverage();
    let mut groups: Vec<&mut Group> = obs.keyspace.groups.values_mut().collect();
    groups.sort_by(|a, b| {
        b.bytes
            .cmp(&a.bytes)
            .then_with(|| a.pattern.cmp(&b.pattern))
    });
    groups
        .into_iter()
        .take(options.groups)
        .map(|group| {
            let p99 = group.percentile_bytes(99.0);
            let no_ttl_pct = 100.0 * group.no_ttl as f64 / group.keys.max(1) as f64;
            let mut finding = Finding::new(
                "redis.keyspace",
                Severity::Info,
                group.pattern.clone(),
                format!(
                    "{}: {} keys, {}",
                    group.pattern,
                    brisk_report::format_count(group.keys as f64),
                    format_bytes(group.bytes as f64)
                ),
            )
            .detail(format!(
                "Types: {}. Encodings: {}. Biggest: {}.",
                counts(&group.types),
                counts(&group.encodings),
                key_list(&group.biggest)
            ))
            .evidence(Evidence::new("keys", group.keys as f64, Unit::Count))
            .evidence(Evidence::new("total", group.bytes as f64, Unit::Bytes))
            .evidence(Evidence::new("p99 key", p99 as f64, Unit::Bytes))
            .evidence(Evidence::new("without TTL", no_ttl_pct, Unit::Percent));
            if coverage < 1.0 {
                finding = finding
                    .estimated(Evidence::new(
                        "keys in the database",
                        (group.keys as f64 / coverage).round(),
                        Unit::Count,
                    ))
                    .estimated(Evidence::new(
                        "total in the database",
                        (group.bytes as f64 / coverage).round(),
                        Unit::Bytes,
                    ));
            }
            finding
        })
        .collect()
}

/// `redis.big_key`: patterns with keys of at least `--big-key-mb`. A big key makes every
/// command on it slow, blocks the server while it is deleted with DEL, and unbalances a
/// cluster's memory.
pub(crate) fn big_keys(obs: &Observations, options: &AnalyzeOptions) -> Vec<Finding> {
    let mut groups: Vec<&Group> = obs
        .keyspace
        .groups
        .values()
        .filter(|g| g.big_keys > 0)
        .collect();
    groups.sort_by_key(|g| std::cmp::Reverse(g.big_bytes));
    groups
        .into_iter()
        .map(|group| {
            let largest = group.biggest.first().map(|(b, _)| *b).unwrap_or(0);
            let big: Vec<(u64, Vec<u8>)> = group
                .biggest
                .iter()
                .filter(|(b, _)| *b >= options.big_key_bytes)
                .cloned()
                .collect();
            Finding::new(
                "redis.big_key",
                Severity::Warning,
                group.pattern.clone(),
                format!(
                    "{} {} of {} {} {} or more (largest {})",
                    brisk_report::format_count(group.big_keys as f64),
                    if group.big_keys == 1 { "key" } else { "keys" },
                    group.pattern,
                    if group.big_keys == 1 { "is" } else { "are" },
                    format_bytes(options.big_key_bytes as f64),
                    format_bytes(largest as f64)
                ),
            )
            .detail(format!(
                "Every command on a big key moves or walks all of it, and deleting it with DEL blocks the server while it is freed. Largest: {}.",
                key_list(&big)
            ))
            .evidence(Evidence::new("big keys", group.big_keys as f64, Unit::Count))
            .evidence(Evidence::new("their total", group.big_bytes as f64, Unit::Bytes))
            .evidence(Evidence::new("largest", largest as f64, Unit::Bytes))
            .fix(Fix::manual(
                "Split each big key into smaller ones (pages of a list, buckets of a hash by a hash of the field), or cap what one key holds; read parts with HSCAN, SSCAN, ZRANGE or LRANGE with limits; delete big keys with UNLINK, which frees them in the background.",
            ))
        })
        .collect()
}

/// `redis.no_ttl`: on a cache, patterns whose keys mostly never expire. Under a `volatile-*`
/// policy they can never be evicted, so the cache fills with them.
pub(crate) fn no_ttl(obs: &Observations, options: &AnalyzeOptions) -> Vec<Finding> {
    if !obs.is_cache {
        return Vec::new();
    }
    let volatile = obs.servers.iter().any(|s| {
        s.setting("maxmemory-policy")
            .is_some_and(|p| p.starts_with("volatile-"))
    });
    let mut groups: Vec<&Group> = obs
        .keyspace
        .groups
        .values()
        .filter(|g| {
            g.keys >= options.no_ttl_min_keys
                && 100.0 * g.no_ttl as f64 / g.keys.max(1) as f64 >= options.no_ttl_min_pct
        })
        .collect();
    groups.sort_by_key(|g| std::cmp::Reverse(g.bytes));
    groups
        .into_iter()
        .map(|group| {
            let pct = 100.0 * group.no_ttl as f64 / group.keys.max(1) as f64;
            let no_ttl_bytes = group.bytes as f64 * group.no_ttl as f64 / group.keys.max(1) as f64;
            let (severity, why) = if volatile {
                (Severity::Warning, "The eviction policy is volatile-*, which only evicts keys with a TTL: these keys stay until they are deleted, and the cache fills with them.")
            } else {
                (Severity::Info, "On a cache every key should expire; keys without a TTL stay until eviction, and stale values stay readable.")
            };
            Finding::new(
                "redis.no_ttl",
                severity,
                group.pattern.clone(),
                format!("{pct:.0}% of {} keys have no TTL", group.pattern),
            )
            .detail(why)
            .evidence(Evidence::new("keys without TTL", group.no_ttl as f64, Unit::Count))
            .evidence(Evidence::new("share", pct, Unit::Percent))
            .evidence(Evidence::new("their memory", no_ttl_bytes.round(), Unit::Bytes))
            .fix(Fix::manual(format!(
                "Write keys of {pattern} with a TTL (SET key value EX seconds, or EXPIRE after HSET/RPUSH/SADD); for those already written: brisk cleanup <url> --pattern '{pattern}' --set-ttl 7d --apply (docs/cleanup.md).",
                pattern = group.pattern
            )))
        })
        .collect()
}

/// `redis.compressible`: patterns whose sampled values the cache store's rule would shrink
/// by at least `--compress-min-saving-pct` (the seeds' 20%).
pub(crate) fn compressible(obs: &Observations, options: &AnalyzeOptions) -> Vec<Finding> {
    let coverage = obs.keyspace.coverage();
    let mut findings: Vec<(f64, Finding)> = obs
        .compression
        .iter()
        .filter_map(|measured| {
            let group = obs.keyspace.groups.get(&measured.pattern)?;
            let share = measured.store_saving_share;
            let saved = share * group.string_bytes as f64 / coverage;
            if 100.0 * share < options.compress_min_saving_pct
                || saved < options.compress_min_saved_bytes as f64
            {
                return None;
            }
            // 100 MiB of RAM is where saving it starts to change instance sizes.
            let severity = if saved >= 100.0 * MIB {
                Severity::Warning
            } else {
                Severity::Info
            };
            let raw = measured.raw_bytes;
            let ms_per_mib = |secs_per_byte: f64| secs_per_byte * MIB * 1000.0;
            let finding = Finding::new(
                "redis.compressible",
                severity,
                measured.pattern.clone(),
                format!(
                    "Values of {} would take {:.0}% less memory compressed (estimate: {} saved)",
                    measured.pattern,
                    100.0 * share,
                    format_bytes(saved)
                ),
            )
            .detail(format!(
                "Measured on {} sampled values ({}) with zstd level 3 and lz4, under the cache store's rule: values of 1 KiB or more, kept compressed only when that saves 20%. The saving is extrapolated to the pattern's string memory.",
                brisk_report::format_count(measured.samples as f64),
                format_bytes(raw as f64)
            ))
            .evidence(Evidence::new("sampled values", measured.samples as f64, Unit::Count))
            .evidence(Evidence::new("sampled bytes", raw as f64, Unit::Bytes))
            .evidence(Evidence::new("zstd ratio", round2(measured.zstd.ratio(raw)), Unit::Count))
            .evidence(Evidence::new("zstd compress, per MiB", ms_per_mib(measured.zstd.compress_secs_per_byte), Unit::Milliseconds))
            .evidence(Evidence::new("zstd decompress, per MiB", ms_per_mib(measured.zstd.decompress_secs_per_byte), Unit::Milliseconds))
            .evidence(Evidence::new("lz4 ratio", round2(measured.lz4.ratio(raw)), Unit::Count))
            .evidence(Evidence::new("lz4 compress, per MiB", ms_per_mib(measured.lz4.compress_secs_per_byte), Unit::Milliseconds))
            .evidence(Evidence::new("lz4 decompress, per MiB", ms_per_mib(measured.lz4.decompress_secs_per_byte), Unit::Milliseconds))
            .evidence(Evidence::new("pattern's string memory", group.string_bytes as f64, Unit::Bytes))
            .estimated(Evidence::new("memory saved", saved.round(), Unit::Bytes))
            .fix(Fix::manual(
                "Compress these values in the application before SET: zstd for the ratio, lz4 where write latency matters; only values of 1 KiB or more, keeping the compressed form when it saves 20%, with a header byte that names the codec (brisk_redis::store::CacheStore does this).",
            ));
            Some((saved, finding))
        })
        .collect();
    findings.sort_by(|a, b| b.0.total_cmp(&a.0));
    findings.into_iter().map(|(_, f)| f).collect()
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// `redis.hit_ratio`: reads that found their key, since the server started.
pub(crate) fn hit_ratio(obs: &Observations, options: &AnalyzeOptions) -> Vec<Finding> {
    obs.servers
        .iter()
        .filter_map(|server| {
            let hits = server.info_u64("keyspace_hits")?;
            let misses = server.info_u64("keyspace_misses")?;
            let lookups = hits + misses;
            if lookups < options.hit_ratio_min_lookups {
                return None;
            }
            let ratio = 100.0 * hits as f64 / lookups as f64;
            if ratio >= options.hit_ratio_min_pct {
                return None;
            }
            Some(
                Finding::new(
                    "redis.hit_ratio",
                    Severity::Warning,
                    subject(server, obs.servers.len()),
                    format!("Only {ratio:.1}% of key reads find their key"),
                )
                .detail(format!(
                    "Counted since the server started (or since CONFIG RESETSTAT). Below {:.0}%, most reads go to the database behind the cache anyway: keys are evicted or expire before they are read again, or the application reads keys it never writes.",
                    options.hit_ratio_min_pct
                ))
                .evidence(Evidence::new("hit ratio", ratio, Unit::Percent))
                .evidence(Evidence::new("hits", hits as f64, Unit::Count))
                .evidence(Evidence::new("misses", misses as f64, Unit::Count))
                .evidence(Evidence::new("evicted keys", server.info_u64("evicted_keys").unwrap_or(0) as f64, Unit::Count))
                .evidence(Evidence::new("expired keys", server.info_u64("expired_keys").unwrap_or(0) as f64, Unit::Count))
                .fix(Fix::manual(
                    "Find the reads that miss (MONITOR briefly, or count misses per key pattern in the application); lengthen TTLs that end before the next read, give the cache memory if redis.evictions fires, and stop reading keys nothing writes.",
                )),
            )
        })
        .collect()
}

/// `redis.evictions`: the server dropped keys to stay under maxmemory.
pub(crate) fn evictions(obs: &Observations, _options: &AnalyzeOptions) -> Vec<Finding> {
    obs.servers
        .iter()
        .filter_map(|server| {
            let evicted = server.info_u64("evicted_keys")?;
            if evicted == 0 {
                return None;
            }
            let uptime = server.info_u64("uptime_in_seconds").unwrap_or(0).max(1);
            let maxmemory = server.info_u64("maxmemory").unwrap_or(0);
            Some(
                Finding::new(
                    "redis.evictions",
                    Severity::Warning,
                    subject(server, obs.servers.len()),
                    format!(
                        "{} keys were evicted to stay under maxmemory",
                        brisk_report::format_count(evicted as f64)
                    ),
                )
                .detail(format!(
                    "Policy {}: the cache is full, so it drops keys the application may still read, and those reads miss.",
                    server.info.get("maxmemory_policy").map(String::as_str).unwrap_or("unknown")
                ))
                .evidence(Evidence::new("evicted keys", evicted as f64, Unit::Count))
                .evidence(Evidence::new("per hour", (evicted as f64 * 3600.0 / uptime as f64).round(), Unit::Count))
                .evidence(Evidence::new("maxmemory", maxmemory as f64, Unit::Bytes))
                .evidence(Evidence::new("used memory", server.info_u64("used_memory").unwrap_or(0) as f64, Unit::Bytes))
                .fix(
                    Fix::config(format!(
                        "CONFIG SET maxmemory {}",
                        (maxmemory as f64 * 1.5).round() as u64
                    ))
                    .rollback(format!("CONFIG SET maxmemory {maxmemory}"))
                    .note("Or need less memory: compress values (redis.compressible), give keys a TTL (redis.no_ttl), split big keys. CONFIG REWRITE keeps the setting across restarts; the machine must have the memory."),
                ),
            )
        })
        .collect()
}

/// `redis.expired`: more keys expired than reads hit, so most cached values die unread.
pub(crate) fn expired(obs: &Observations, options: &AnalyzeOptions) -> Vec<Finding> {
    obs.servers
        .iter()
        .filter_map(|server| {
            let expired = server.info_u64("expired_keys")?;
            let hits = server.info_u64("keyspace_hits").unwrap_or(0);
            if expired < options.hit_ratio_min_lookups || expired <= hits {
                return None;
            }
            let mut finding = Finding::new(
                "redis.expired",
                Severity::Info,
                subject(server, obs.servers.len()),
                format!(
                    "More keys expired ({}) than reads found a key ({})",
                    brisk_report::format_count(expired as f64),
                    brisk_report::format_count(hits as f64)
                ),
            )
            .detail("Most cached values expire before anyone reads them: the TTLs may be shorter than the time between reads, or the application caches what it never reads again. Writing those values costs memory and time for nothing.")
            .evidence(Evidence::new("expired keys", expired as f64, Unit::Count))
            .evidence(Evidence::new("hits", hits as f64, Unit::Count))
            .fix(Fix::manual("Compare each pattern's TTL with how often it is read; lengthen TTLs that end before the next read, and stop caching values that are read once."));
            if let Some(stale) = server.info_f64("expired_stale_perc") {
                finding = finding.evidence(Evidence::new("expired but not yet freed", stale, Unit::Percent));
            }
            Some(finding)
        })
        .collect()
}

/// `redis.fragmentation`: memory the allocator holds but Redis does not use.
pub(crate) fn fragmentation(obs: &Observations, options: &AnalyzeOptions) -> Vec<Finding> {
    obs.servers
        .iter()
        .filter_map(|server| {
            let ratio = server.info_f64("mem_fragmentation_ratio")?;
            let used = server.info_u64("used_memory")?;
            let rss = server.info_u64("used_memory_rss")?;
            let wasted = rss.saturating_sub(used);
            if ratio < options.fragmentation_ratio || wasted < options.fragmentation_min_bytes {
                return None;
            }
            let jemalloc = server
                .info
                .get("mem_allocator")
                .is_some_and(|a| a.starts_with("jemalloc"));
            let fix = if jemalloc {
                Fix::config("CONFIG SET activedefrag yes")
                    .rollback("CONFIG SET activedefrag no")
                    .note("Active defragmentation moves values in the background and costs some CPU (active-defrag-cycle-max caps it). CONFIG REWRITE keeps it across restarts.")
            } else {
                Fix::manual("This Redis does not use jemalloc, so it cannot defragment itself: restart it (fail over to a replica first) to give the memory back.")
            };
            Some(
                Finding::new(
                    "redis.fragmentation",
                    Severity::Warning,
                    subject(server, obs.servers.len()),
                    format!("Memory is fragmented: the process holds {ratio:.2}x what Redis uses"),
                )
                .detail("Usually left behind after many keys were deleted or shrank: the allocator keeps the freed pages, and the machine cannot use them.")
                .evidence(Evidence::new("fragmentation ratio", ratio, Unit::Count))
                .evidence(Evidence::new("resident", rss as f64, Unit::Bytes))
                .evidence(Evidence::new("used", used as f64, Unit::Bytes))
                .evidence(Evidence::new("held but unused", wasted as f64, Unit::Bytes))
                .fix(fix),
            )
        })
        .collect()
}

/// `redis.maxmemory`: a cache without a memory limit, or with one that refuses writes.
pub(crate) fn maxmemory(obs: &Observations, _options: &AnalyzeOptions) -> Vec<Finding> {
    if !obs.is_cache {
        return Vec::new();
    }
    obs.servers
        .iter()
        .filter_map(|server| {
            let maxmemory: u64 = server.setting("maxmemory")?.parse().ok()?;
            let policy = server.setting("maxmemory-policy")?.to_string();
            let used = server.info_u64("used_memory").unwrap_or(0);
            if maxmemory == 0 {
                let system = server.info_u64("total_system_memory").unwrap_or(0);
                // 75% of the machine leaves room for fragmentation, forks and the OS; never
                // below what the cache already uses plus a fifth.
                let suggested = ((system as f64 * 0.75) as u64).max(used + used / 5).max(64 << 20);
                let suggested = suggested.div_ceil(1 << 20) << 20;
                let new_policy = if policy == "noeviction" { "allkeys-lru" } else { policy.as_str() };
                return Some(
                    Finding::new(
                        "redis.maxmemory",
                        Severity::Warning,
                        subject(server, obs.servers.len()),
                        "This cache has no memory limit (maxmemory 0)",
                    )
                    .detail("Without maxmemory a cache grows until the machine runs out of memory and the kernel kills Redis, losing every key at once; with a limit and an allkeys policy it evicts the least useful keys instead.")
                    .evidence(Evidence::new("used memory", used as f64, Unit::Bytes))
                    .evidence(Evidence::new("machine memory", system as f64, Unit::Bytes))
                    .estimated(Evidence::new("suggested maxmemory", suggested as f64, Unit::Bytes))
                    .fix(
                        Fix::config(format!("CONFIG SET maxmemory {suggested}\nCONFIG SET maxmemory-policy {new_policy}"))
                            .rollback(format!("CONFIG SET maxmemory 0\nCONFIG SET maxmemory-policy {policy}"))
                            .note("The size is an estimate (75% of the machine's memory); set what this cache may use on a shared machine. CONFIG REWRITE keeps it across restarts."),
                    ),
                );
            }
            if policy == "noeviction" {
                return Some(
                    Finding::new(
                        "redis.maxmemory",
                        Severity::Warning,
                        subject(server, obs.servers.len()),
                        "This cache refuses writes when it is full (maxmemory-policy noeviction)",
                    )
                    .detail("With noeviction, once maxmemory is reached every write fails with OOM; a cache should evict its least recently (or frequently) used keys instead.")
                    .evidence(Evidence::new("maxmemory", maxmemory as f64, Unit::Bytes))
                    .evidence(Evidence::new("used memory", used as f64, Unit::Bytes))
                    .fix(
                        Fix::config("CONFIG SET maxmemory-policy allkeys-lru")
                            .rollback("CONFIG SET maxmemory-policy noeviction"),
                    ),
                );
            }
            None
        })
        .collect()
}

/// `redis.persistence`: snapshots or an append-only file on a cache, which could rebuild
/// itself from the database. Each snapshot forks the server, and copy-on-write can double
/// its memory while the child writes.
pub(crate) fn persistence(obs: &Observations, _options: &AnalyzeOptions) -> Vec<Finding> {
    if !obs.is_cache {
        return Vec::new();
    }
    obs.servers
        .iter()
        .filter_map(|server| {
            let save = server.setting("save")?.trim().to_string();
            let appendonly = server.setting("appendonly")?.to_string();
            if save.is_empty() && appendonly != "yes" {
                return None;
            }
            let mut what = Vec::new();
            if !save.is_empty() {
                what.push(format!("RDB snapshots (save \"{save}\")"));
            }
            if appendonly == "yes" {
                what.push("an append-only file".to_string());
            }
            let mut finding = Finding::new(
                "redis.persistence",
                Severity::Warning,
                subject(server, obs.servers.len()),
                format!("This cache writes {} to disk", what.join(" and ")),
            )
            .detail("A cache can be refilled from its database, so persistence buys little; each snapshot or AOF rewrite forks Redis, which stalls it for the fork and can double its memory through copy-on-write.")
            .evidence(Evidence::new("used memory", server.info_u64("used_memory").unwrap_or(0) as f64, Unit::Bytes))
            .fix(
                Fix::config("CONFIG SET save \"\"\nCONFIG SET appendonly no")
                    .rollback(format!("CONFIG SET save \"{save}\"\nCONFIG SET appendonly {appendonly}"))
                    .note("Keep persistence if this Redis also holds data that exists nowhere else (sessions, queues): then it is not a pure cache; pass --role store."),
            );
            if let Some(fork) = server.info_u64("latest_fork_usec") {
                finding = finding.evidence(Evidence::new("latest fork", fork as f64 / 1000.0, Unit::Milliseconds));
            }
            Some(finding)
        })
        .collect()
}

/// `redis.slowlog`: commands the server logged as slow, one finding per command.
pub(crate) fn slowlog(obs: &Observations, _options: &AnalyzeOptions) -> Vec<Finding> {
    let mut findings = Vec::new();
    for server in obs.servers {
        let Ok(entries) = &server.slowlog else {
            continue;
        };
        let threshold_ms = server
            .setting("slowlog-log-slower-than")
            .and_then(|v| v.parse::<f64>().ok())
            .map(|us| us / 1000.0);
        let mut by_command: Vec<(String, u64, u64, u64, Vec<String>)> = Vec::new();
        for entry in entries {
            let item = match by_command.iter_mut().find(|c| c.0 == entry.command) {
                Some(item) => item,
                None => {
                    by_command.push((entry.command.clone(), 0, 0, 0, Vec::new()));
                    let last = by_command.len() - 1;
                    &mut by_command[last]
                }
            };
            item.1 += 1;
            item.2 = item.2.max(entry.micros);
            item.3 += entry.micros;
            if let Some(pattern) = &entry.key_pattern {
                if !item.4.contains(pattern) && item.4.len() < 5 {
                    item.4.push(pattern.clone());
                }
            }
        }
        by_command.sort_by_key(|c| std::cmp::Reverse(c.3));
        for (command, count, slowest, total, patterns) in by_command {
            let advice = match command.as_str() {
                "KEYS" => "Replace KEYS with SCAN: KEYS walks the whole keyspace while every other client waits.".to_string(),
                "FLUSHALL" | "FLUSHDB" => format!("Use {command} ASYNC, which frees memory in the background."),
                "DEL" => "Delete big keys with UNLINK, which frees them in the background.".to_string(),
                _ => "Slow commands usually touch big keys (see redis.big_key) or whole collections: read parts (HSCAN, SSCAN, ZRANGE with LIMIT, LRANGE with a range), and keep scripts short.".to_string(),
            };
            let mut detail = format!("{count} of the last slow log entries.");
            if !patterns.is_empty() {
                detail.push_str(&format!(" Keys: {}.", patterns.join(", ")));
            }
            let subject = if obs.servers.len() > 1 {
                format!("{command} on {}", server.node)
            } else {
                command.clone()
            };
            let mut finding = Finding::new(
                "redis.slowlog",
                Severity::Warning,
                subject,
                format!(
                    "{command} ran slowly {count} {} (slowest {:.1} ms)",
                    if count == 1 { "time" } else { "times" },
                    slowest as f64 / 1000.0
                ),
            )
            .detail(detail)
            .evidence(Evidence::new("entries", count as f64, Unit::Count))
            .evidence(Evidence::new(
                "slowest",
                slowest as f64 / 1000.0,
                Unit::Milliseconds,
            ))
            .evidence(Evidence::new(
                "total",
                total as f64 / 1000.0,
                Unit::Milliseconds,
            ))
            .fix(Fix::manual(advice));
            if let Some(threshold) = threshold_ms {
                finding =
                    finding.evidence(Evidence::new("logged above", threshold, Unit::Milliseconds));
            }
            findings.push(finding);
        }
    }
    findings
}
