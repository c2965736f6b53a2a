//! `brisk redis`: connect, find the nodes, read each node's INFO/CONFIG/SLOWLOG, scan the
//! keyspace, measure compressibility, and judge.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use brisk_report::{format_count, Report, Skipped, Target};
use futures_util::future::try_join_all;
use redis::Value;

use crate::checks::{self, Observations};
use crate::compressibility;
use crate::error::{one_line, Error};
use crate::keyspace::{scan_node, Keyspace, ScanCounters, OTHER_PATTERNS};
use crate::server::{self, parse_info, ServerSnapshot};
use crate::target::RedisTarget;

/// Every check, with what it looks at.
pub const CHECKS: &[(&str, &str)] = &[
    ("redis.keyspace", "per key pattern: keys, memory, p99 key size, share without TTL, types, encodings, biggest keys"),
    ("redis.big_key", "keys of at least --big-key-mb"),
    ("redis.no_ttl", "on a cache: patterns whose keys mostly have no TTL"),
    ("redis.compressible", "patterns whose sampled values zstd/lz4 would shrink by --compress-min-saving-pct"),
    ("redis.hit_ratio", "share of key reads that found their key, below --hit-ratio-min-pct"),
    ("redis.evictions", "keys evicted to stay under maxmemory"),
    ("redis.expired", "more keys expired than reads hit: values die unread"),
    ("redis.fragmentation", "memory held by the allocator but unused by Redis"),
    ("redis.maxmemory", "on a cache: no maxmemory, or the noeviction policy"),
    ("redis.persistence", "on a cache: RDB snapshots or AOF it does not need"),
    ("redis.slowlog", "commands in the slow log, by command"),
];

/// Whether the instance is a cache (every key could be lost and rebuilt, and should expire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheRole {
    /// A cache when its eviction policy evicts (`allkeys-*`, `volatile-*`) or most keys have a
    /// TTL.
    Auto,
    Cache,
    /// Holds data that exists nowhere else (sessions, queues): no cache checks.
    Store,
}

/// Thresholds and limits; the defaults are what `brisk redis` uses.
#[derive(Debug, Clone)]
pub struct AnalyzeOptions {
    /// Read the metadata of at most this many keys (per node), and extrapolate.
    pub sample: Option<u64>,
    /// `redis.keyspace` findings: the largest patterns by memory.
    pub groups: usize,
    /// Patterns whose values are sampled for compressibility, largest string memory first.
    pub compression_groups: usize,
    pub big_key_bytes: u64,
    pub no_ttl_min_pct: f64,
    pub no_ttl_min_keys: u64,
    pub hit_ratio_min_pct: f64,
    pub hit_ratio_min_lookups: u64,
    pub fragmentation_ratio: f64,
    pub fragmentation_min_bytes: u64,
    pub compress_min_saving_pct: f64,
    pub compress_min_saved_bytes: u64,
    pub role: CacheRole,
    /// Check ids not to run.
    pub skip: Vec<String>,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        AnalyzeOptions {
            sample: None,
            // Counts, not thresholds: what a screen holds, and what zstd and lz4 can time
            // in about a second on sampled values.
            groups: 20,
            compression_groups: 50,
            // 1 MiB: where DEL starts to block the server for milliseconds (Redis's
            // lazyfree documentation) and what redis-cli users usually call big.
            big_key_bytes: 1 << 20,
            // A majority: a pattern where most keys never expire grows without bound on a
            // cache, while a few keys without a TTL are often set by hand.
            no_ttl_min_pct: 50.0,
            // Fewer keys than this are configuration or counters, not a cache pattern.
            no_ttl_min_keys: 10,
            // The seed team's target: hit rate above 80%.
            hit_ratio_min_pct: 80.0,
            // As check's cache_min_blocks: below 1,000 lookups one burst of misses after a
            // restart moves the ratio by whole percents.
            hit_ratio_min_lookups: 1000,
            // 1.5: Redis's own MEMORY DOCTOR threshold for "high fragmentation".
            fragmentation_ratio: 1.5,
            // Below 100 MiB of waste the ratio is dominated by the allocator's baseline.
            fragmentation_min_bytes: 100 << 20,
            // The seeds' rule: keep compression only when it saves 20%.
            compress_min_saving_pct: 20.0,
            // The same 1 MiB as a big key: less than that is not worth the CPU and a codec
            // change in the application.
            compress_min_saved_bytes: 1 << 20,
            role: CacheRole::Auto,
            skip: Vec::new(),
        }
    }
}

impl AnalyzeOptions {
    fn runs(&self, check: &str) -> bool {
        !self.skip.iter().any(|s| s == check)
    }
}

/// How far the scan is, for a progress display.
#[derive(Debug, Clone, Copy)]
pub struct ScanProgress {
    pub scanned: u64,
    /// Keys in the scanned databases when the scan started.
    pub total: u64,
}

/// Analyzes the Redis (or Redis Cluster) at `target`. `on_progress` is called after each
/// batch of keys; it runs on the analyzing task, so it must be quick.
pub async fn analyze(
    target: &RedisTarget,
    options: &AnalyzeOptions,
    on_progress: &dyn Fn(ScanProgress),
) -> Result<Report, Error> {
    let (server_info, nodes) = primaries(target).await?;
    let cluster = server_info
        .get("redis_mode")
        .is_some_and(|m| m == "cluster");

    let mut connections = Vec::with_capacity(nodes.len());
    for node in &nodes {
        connections.push(node.connect().await?);
    }
    // Every node's INFO is read before any scan starts: the scan's own lookups count as
    // keyspace hits, and the checks must judge the application's reads, not brisk's.
    let mut servers = Vec::with_capacity(nodes.len());
    for (node, conn) in nodes.iter().zip(connections.iter_mut()) {
        servers.push(server::read(node, conn).await?);
    }
    // A cluster has only database 0.
    let db = if cluster { 0 } else { target.db() };

    let counters = ScanCounters {
        scanned: AtomicU64::new(0),
        total: AtomicU64::new(0),
    };
    let report_progress = || {
        on_progress(ScanProgress {
            scanned: counters.scanned.load(Ordering::Relaxed),
            total: counters.total.load(Ordering::Relaxed),
        })
    };
    let scans = nodes
        .iter()
        .zip(&connections)
        .zip(&servers)
        .map(|((node, conn), server)| {
            scan_node(
                node,
                conn.clone(),
                server.known_ttls(db),
                options.sample,
                options.big_key_bytes,
                &counters,
                &report_progress,
            )
        });
    let mut keyspace = Keyspace::default();
    for node_keyspace in try_join_all(scans).await? {
        keyspace.merge(node_keyspace);
    }
    // Once more with every key in (and every node's patterns side by side).
    keyspace.generalize();

    let compression = if options.runs("redis.compressible") {
        let groups = compression_candidates(&keyspace, options.compression_groups);
        let measured = if cluster {
            let conn = target.cluster_connection().await?;
            compressibility::measure(&conn, groups).await
        } else {
            compressibility::measure(&connections[0], groups).await
        };
        measured.map_err(|e| Error::from_redis(target.address(), "GETRANGE", &e))?
    } else {
        Vec::new()
    };

    let mut report = Report::new("redis", Target::new("redis", target.address()));
    let version = server_info
        .get("redis_version")
        .map(|v| format!("Redis {v}"))
        .unwrap_or_else(|| "Redis".to_string());
    report.target.version = Some(if cluster {
        format!("{version}, cluster of {} primaries", nodes.len())
    } else {
        version
    });
    let is_cache = decide_role(options.role, &servers, &keyspace, &mut report.notes);
    add_notes(&mut report.notes, target, &servers, &keyspace, cluster);

    let mut observations = Observations {
        servers: &servers,
        keyspace: &mut keyspace,
        compression: &compression,
        is_cache,
    };
    type Check = fn(&mut Observations, &AnalyzeOptions) -> Vec<brisk_report::Finding>;
    let all: [(&str, Check, Option<&str>); 11] = [
        ("redis.keyspace", checks::keyspace_groups, None),
        ("redis.big_key", |o, p| checks::big_keys(o, p), None),
        ("redis.no_ttl", |o, p| checks::no_ttl(o, p), None),
        (
            "redis.compressible",
            |o, p| checks::compressible(o, p),
            None,
        ),
        ("redis.hit_ratio", |o, p| checks::hit_ratio(o, p), None),
        ("redis.evictions", |o, p| checks::evictions(o, p), None),
        ("redis.expired", |o, p| checks::expired(o, p), None),
        (
            "redis.fragmentation",
            |o, p| checks::fragmentation(o, p),
            None,
        ),
        (
            "redis.maxmemory",
            |o, p| checks::maxmemory(o, p),
            Some("config"),
        ),
        (
            "redis.persistence",
            |o, p| checks::persistence(o, p),
            Some("config"),
        ),
        (
            "redis.slowlog",
            |o, p| checks::slowlog(o, p),
            Some("slowlog"),
        ),
    ];
    for (id, check, needs) in all {
        if !options.runs(id) {
            continue;
        }
        let missing = match needs {
            Some("config") => servers.iter().find_map(|s| s.config.as_ref().err()),
            Some("slowlog") => servers.iter().find_map(|s| s.slowlog.as_ref().err()),
            _ => None,
        };
        if let Some(reason) = missing {
            report.skipped.push(Skipped {
                check: id.to_string(),
                reason: format!("{reason}; grant +config|get and +slowlog|get to brisk's user"),
            });
            continue;
        }
        report.findings.extend(check(&mut observations, options));
        report.checks_run.push(id.to_string());
    }
    report.sort();
    Ok(report)
}

/// The server's `INFO server` fields, and the nodes whose keys make its keyspace: the
/// cluster's primaries, or the one server.
pub(crate) async fn primaries(
    target: &RedisTarget,
) -> Result<(HashMap<String, String>, Vec<RedisTarget>), Error> {
    let mut seed = target.connect().await?;
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut seed)
        .await
        .map_err(|e| Error::from_redis(target.address(), "INFO", &e))?;
    let info = parse_info(&info);
    let nodes = if info.get("redis_mode").is_some_and(|mode| mode == "cluster") {
        cluster_primaries(target, &mut seed).await?
    } else {
        vec![target.clone()]
    };
    Ok((info, nodes))
}

/// The primaries of a cluster, from `CLUSTER SLOTS` (every Redis since 3.0): each entry is
/// `[first slot, last slot, [host, port, id], replicas...]`.
pub(crate) async fn cluster_primaries(
    seed: &RedisTarget,
    conn: &mut redis::aio::MultiplexedConnection,
) -> Result<Vec<RedisTarget>, Error> {
    let layout_error = |detail: String| Error::ClusterLayout {
        address: seed.address().to_string(),
        detail,
    };
    let slots: Value = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(conn)
        .await
        .map_err(
            |e| match Error::from_redis(seed.address(), "CLUSTER SLOTS", &e) {
                Error::Command { detail, .. } => layout_error(detail),
                other => other,
            },
        )?;
    let Value::Array(ranges) = slots else {
        return Err(layout_error(
            "CLUSTER SLOTS did not answer with a list".into(),
        ));
    };
    let mut primaries: Vec<(String, u16)> = Vec::new();
    for range in ranges {
        let Value::Array(fields) = range else {
            continue;
        };
        let Some(Value::Array(primary)) = fields.get(2) else {
            continue;
        };
        let host = match primary.first() {
            Some(Value::BulkString(b)) => String::from_utf8_lossy(b).to_string(),
            Some(Value::SimpleString(s)) => s.clone(),
            _ => String::new(),
        };
        // An empty or `?` host means "the address you reached me at".
        let host = if host.is_empty() || host == "?" {
            seed.host().unwrap_or("127.0.0.1").to_string()
        } else {
            host
        };
        let Some(Value::Int(port)) = primary.get(1) else {
            continue;
        };
        let Ok(port) = u16::try_from(*port) else {
            continue;
        };
        if !primaries.contains(&(host.clone(), port)) {
            primaries.push((host, port));
        }
    }
    if primaries.is_empty() {
        return Err(layout_error(
            "no slot is assigned to any node (is the cluster created?)".into(),
        ));
    }
    primaries.sort();
    Ok(primaries
        .into_iter()
        .map(|(host, port)| seed.for_node(&host, port))
        .collect())
}

/// The patterns whose values are worth sampling: most string memory first.
fn compression_candidates(keyspace: &Keyspace, limit: usize) -> Vec<(String, Vec<Vec<u8>>)> {
    let mut groups: Vec<_> = keyspace
        .groups
        .values()
        .filter(|g| !g.string_samples.is_empty() && g.pattern != OTHER_PATTERNS)
        .collect();
    groups.sort_by_key(|g| std::cmp::Reverse(g.string_bytes));
    groups
        .into_iter()
        .take(limit)
        .map(|g| (g.pattern.clone(), g.string_samples.clone()))
        .collect()
}

fn decide_role(
    role: CacheRole,
    servers: &[ServerSnapshot],
    keyspace: &Keyspace,
    notes: &mut Vec<String>,
) -> bool {
    let policy = servers.iter().find_map(|s| s.setting("maxmemory-policy"));
    let (is_cache, note) = judge_role(role, policy, keyspace.with_ttl, keyspace.scanned);
    if let Some(note) = note {
        notes.push(note);
    }
    is_cache
}

/// Cache or store: the one judgement `brisk redis` and `brisk tune --redis` share. A cache
/// when told so, when its eviction policy evicts (`allkeys-*`, `volatile-*`), or when at
/// least half of its keys have a TTL. Returns the verdict and, when it was judged rather
/// than told, the note that says why.
pub fn judge_role(
    role: CacheRole,
    policy: Option<&str>,
    keys_with_ttl: u64,
    keys: u64,
) -> (bool, Option<String>) {
    match role {
        CacheRole::Cache => (true, None),
        CacheRole::Store => (false, None),
        CacheRole::Auto => {
            let evicting =
                policy.filter(|p| p.starts_with("allkeys-") || p.starts_with("volatile-"));
            let ttl_share = keys_with_ttl as f64 / keys.max(1) as f64;
            if let Some(policy) = evicting {
                (true, Some(format!("Judged as a cache: its eviction policy is {policy} (--role store if it holds data that exists nowhere else).")))
            } else if keys > 0 && ttl_share >= 0.5 {
                (true, Some(format!("Judged as a cache: {:.0}% of its keys have a TTL (--role store if it holds data that exists nowhere else).", 100.0 * ttl_share)))
            } else {
                (false, Some("Judged as a data store, not a cache: its policy does not evict and most keys have no TTL, so the cache checks (TTLs, maxmemory, persistence) did not run; --role cache runs them.".to_string()))
            }
        }
    }
}

fn add_notes(
    notes: &mut Vec<String>,
    target: &RedisTarget,
    servers: &[ServerSnapshot],
    keyspace: &Keyspace,
    cluster: bool,
) {
    let scope = if keyspace.sampled {
        format!(
            "Sampled {} of {} keys ({:.1}%); totals marked estimated are extrapolated.",
            format_count(keyspace.scanned as f64),
            format_count(keyspace.total as f64),
            100.0 * keyspace.coverage()
        )
    } else {
        format!(
            "Scanned all {} keys of database {}.",
            format_count(keyspace.scanned as f64),
            if cluster { 0 } else { target.db() }
        )
    };
    notes.push(format!(
        "{scope} Key sizes are MEMORY USAGE (nested values estimated from 5 samples, Redis's default)."
    ));
    if !cluster {
        let others: Vec<String> = servers
            .iter()
            .flat_map(|s| s.databases())
            .filter(|(db, keys)| *db != target.db() && *keys > 0)
            .map(|(db, keys)| format!("db{db} ({} keys)", format_count(keys as f64)))
            .collect();
        if !others.is_empty() {
            notes.push(format!(
                "Not scanned: {}; name one in the URL (redis://host:port/N) to analyze it.",
                others.join(", ")
            ));
        }
    }
    for server in servers {
        if let Err(reason) = &server.config {
            notes.push(format!("{}: {}", server.node, one_line(reason)));
        }
    }
}
