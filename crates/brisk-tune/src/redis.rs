//! `brisk tune --redis`: maxmemory with headroom, and the eviction policy a cache or a store
//! needs. Reads INFO and CONFIG GET of one node ([`brisk_redis::NodeState`]); whether it is a
//! cache is [`brisk_redis::judge_role`], the same rule `brisk redis` applies. `brisk redis`
//! reports the problems (no limit on a cache, noeviction on a cache); this proposes values.

use std::collections::HashMap;

use brisk_redis::{judge_role, CacheRole, NodeState, RedisTarget};
use brisk_report::{Evidence, Unit};

use crate::{Confidence, Machine, Recommendation, Scope, Takes, TuneError, Tuning};

/// Share of the machine left to the OS, the allocator's fragmentation and Redis's own
/// buffers outside `used_memory`: 10%, the margin Redis's memory-optimization docs use.
const OS_SHARE: f64 = 0.10;

/// Redis's default `client-output-buffer-limit replica` hard limit, per replica: what a slow
/// replica's output buffer may take before Redis drops it.
const REPLICA_BUFFER_BYTES: u64 = 256 << 20;

/// Reads the node `target` names and proposes its memory settings. `ram_bytes` replaces
/// INFO's `total_system_memory`, which is the host's even inside a container.
pub async fn tune(
    target: &RedisTarget,
    role: CacheRole,
    ram_bytes: Option<u64>,
) -> Result<Tuning, TuneError> {
    let node = NodeState::read(target).await?;
    let extra = Extra::read(target).await?;
    Ok(propose(&node, &extra, role, ram_bytes))
}

/// The settings `brisk tune` reads beyond [`NodeState`]'s.
const EXTRA_SETTINGS: [&str; 7] = [
    "maxmemory-samples",
    "lazyfree-lazy-eviction",
    "lazyfree-lazy-expire",
    "lazyfree-lazy-server-del",
    "hz",
    "dynamic-hz",
    "latency-monitor-threshold",
];

/// What tune reads beyond brisk redis's [`NodeState`]: more settings, and what Redis's own
/// `MEMORY DOCTOR` and `LATENCY DOCTOR` say.
#[derive(Debug, Clone, Default)]
pub struct Extra {
    pub config: HashMap<String, String>,
    pub memory_doctor: Option<String>,
    pub latency_doctor: Option<String>,
}

impl Extra {
    pub async fn read(target: &RedisTarget) -> Result<Extra, TuneError> {
        let mut conn = target.connection_manager().await?;
        let mut config = HashMap::new();
        for name in EXTRA_SETTINGS {
            // A setting this version does not have, or a renamed CONFIG, leaves it out.
            let reply: Result<HashMap<String, String>, _> = ::redis::cmd("CONFIG")
                .arg("GET")
                .arg(name)
                .query_async(&mut conn)
                .await;
            match reply {
                Ok(pairs) => config.extend(pairs),
                Err(e) if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() => {
                    return Err(TuneError::RedisCommand {
                        address: target.address().to_string(),
                        command: "CONFIG GET".to_string(),
                        detail: e.to_string(),
                    })
                }
                Err(_) => {}
            }
        }
        let memory_doctor = doctor(&mut conn, "MEMORY").await;
        let latency_doctor = doctor(&mut conn, "LATENCY").await;
        Ok(Extra {
            config,
            memory_doctor,
            latency_doctor,
        })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.config.get(name).map(String::as_str)
    }
}

fn info_u64(node: &NodeState, name: &str) -> u64 {
    node.info
        .get(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The proposal for one node's state: pure, so tests can give it any INFO.
pub fn propose(node: &NodeState, extra: &Extra, role: CacheRole, ram_bytes: Option<u64>) -> Tuning {
    let (ram, source) = match ram_bytes {
        Some(ram) => (ram, "--ram".to_string()),
        None => (
            info_u64(node, "total_system_memory"),
            "INFO total_system_memory (the host's: inside a container give --ram)".to_string(),
        ),
    };
    let policy = node
        .config
        .get("maxmemory-policy")
        .cloned()
        .unwrap_or_default();
    let (keys, with_ttl) = node.keys();
    let (is_cache, role_note) = judge_role(role, Some(&policy), with_ttl, keys);
    let mut notes: Vec<String> = role_note.into_iter().collect();
    let mut recommendations = Vec::new();

    let used = info_u64(node, "used_memory");
    let replicas = info_u64(node, "connected_slaves");
    let backlog = node
        .config
        .get("repl-backlog-size")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let persistence = node
        .config
        .get("save")
        .is_some_and(|s| !s.trim().is_empty())
        || node.config.get("appendonly").is_some_and(|a| a == "yes");
    let replication = backlog + replicas * REPLICA_BUFFER_BYTES;
    let usable = (ram as f64 * (1.0 - OS_SHARE)) as u64;
    // A snapshot or AOF rewrite forks; copy-on-write can duplicate every page written while
    // the child runs, up to the whole dataset: with persistence, half of what is left.
    let after_replication = usable.saturating_sub(replication);
    let limit = if persistence {
        after_replication / 2
    } else {
        after_replication
    };
    let limit = limit >> 20 << 20;
    let current: u64 = node
        .config
        .get("maxmemory")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if ram > 0 && limit > 0 && (current == 0 || current > limit) {
        let why = format!(
            "{} of {} RAM: 10% for the OS and fragmentation, {} for replication buffers ({} replicas x 256MB + the backlog){}. {}",
            mb(limit),
            mb(ram),
            mb(replication),
            replicas,
            if persistence { ", then half for the copy-on-write of a fork (persistence is on)" } else { "" },
            if current == 0 { "With no limit Redis grows until the kernel kills it" } else { "The current limit leaves no room for that" }
        );
        recommendations.push(Recommendation {
            setting: "maxmemory".to_string(),
            scope: Scope::Redis,
            current: Some(if current == 0 {
                "0".to_string()
            } else {
                mb(current)
            }),
            proposed: mb(limit),
            rule: "redis-maxmemory",
            why,
            evidence: vec![
                Evidence::new("machine memory", ram as f64, Unit::Bytes),
                Evidence::new("used memory", used as f64, Unit::Bytes),
                Evidence::new("replicas", replicas as f64, Unit::Count),
                Evidence::new("repl-backlog-size", backlog as f64, Unit::Bytes),
            ],
            takes: Takes::Reload,
            confidence: if ram_bytes.is_some() {
                Confidence::Medium
            } else {
                Confidence::Low
            },
            rollback_to: Some(current.to_string()),
        });
        if used > limit {
            notes.push(format!(
                "Redis already uses {}, more than the proposed maxmemory: {}",
                mb(used),
                if is_cache { "it will evict down to it" } else { "writes will fail until data is removed; this machine is too small for this store" }
            ));
        }
    }
    let evicting = policy.starts_with("allkeys-") || policy.starts_with("volatile-");
    let wanted = if is_cache && !evicting {
        Some((
            "allkeys-lru",
            "a cache should evict its least recently used keys when full, not refuse writes",
        ))
    } else if !is_cache && evicting {
        Some(("noeviction", "a store holds data that exists nowhere else: evicting it loses data; with noeviction a full Redis refuses writes instead"))
    } else {
        None
    };
    if let Some((proposed, why)) = wanted {
        recommendations.push(Recommendation {
            setting: "maxmemory-policy".to_string(),
            scope: Scope::Redis,
            current: Some(policy.clone()),
            proposed: proposed.to_string(),
            rule: "redis-policy",
            why: why.to_string(),
            evidence: vec![
                Evidence::new("keys", keys as f64, Unit::Count),
                Evidence::new("keys with a TTL", with_ttl as f64, Unit::Count),
            ],
            takes: Takes::Reload,
            confidence: if role == CacheRole::Auto {
                Confidence::Medium
            } else {
                Confidence::High
            },
            rollback_to: Some(policy.clone()),
        });
    }
    more(
        node,
        extra,
        is_cache,
        persistence,
        &mut recommendations,
        &mut notes,
    );
    let version = node.info.get("redis_version").map(|v| format!("Redis {v}"));
    Tuning {
        target: Some(node.address.clone()),
        version,
        machine: Machine {
            ram_bytes: ram,
            cpus: 0,
            source,
        },
        profile: None,
        recommendations,
        memory: None,
        notes,
    }
}

/// Bytes as Redis accepts them in CONFIG SET: whole MB as `256mb`, else bytes.
fn mb(bytes: u64) -> String {
    if bytes > 0 && bytes % (1 << 20) == 0 {
        format!("{}mb", bytes >> 20)
    } else {
        bytes.to_string()
    }
}

/// `MEMORY DOCTOR` or `LATENCY DOCTOR`; `None` when this Redis lacks or forbids it.
async fn doctor(conn: &mut ::redis::aio::ConnectionManager, what: &str) -> Option<String> {
    ::redis::cmd(what)
        .arg("DOCTOR")
        .query_async::<String>(conn)
        .await
        .ok()
}

fn redis_setting(
    setting: &str,
    current: &str,
    proposed: &str,
    rule: &'static str,
    why: String,
    evidence: Vec<Evidence>,
    confidence: Confidence,
) -> Recommendation {
    Recommendation {
        setting: setting.to_string(),
        scope: Scope::Redis,
        current: Some(current.to_string()),
        proposed: proposed.to_string(),
        rule,
        why,
        evidence,
        takes: Takes::Reload,
        confidence,
        rollback_to: Some(current.to_string()),
    }
}

/// Redis's eviction samples this many keys per eviction by default; its docs ("Key
/// eviction") show 10 approximating true LRU closely, for a little more CPU.
const SAMPLES_FOR_CACHE: u64 = 10;

/// Redis's own thresholds for active defragmentation to start (`active-defrag-ignore-bytes`
/// 100mb and `active-defrag-threshold-lower` 10%): below them it would do nothing anyway.
const DEFRAG_MIN_BYTES: u64 = 100 << 20;
const DEFRAG_MIN_RATIO: f64 = 1.10;

/// Clients per `hz` tick from which `dynamic-hz` raises the frequency (Redis's
/// MAX_CLIENTS_PER_CLOCK_TICK, 200).
const CLIENTS_PER_TICK: u64 = 200;

/// The slow log threshold Redis ships with (10 ms): 0 logs every command (each costs a
/// copy of its arguments), a negative value logs nothing, and from 100 ms a Redis command
/// that slow has blocked every client for a tenth of a second unseen.
const SLOWLOG_DEFAULT_US: i64 = 10_000;
const SLOWLOG_MAX_US: i64 = 100_000;

/// The settings after memory and policy: maxmemory-samples, persistence (referred to brisk
/// redis), activedefrag, lazyfree-*, hz, the slow log, and the two doctors.
fn more(
    node: &NodeState,
    extra: &Extra,
    is_cache: bool,
    persistence: bool,
    recommendations: &mut Vec<Recommendation>,
    notes: &mut Vec<String>,
) {
    let policy = node
        .config
        .get("maxmemory-policy")
        .map(String::as_str)
        .unwrap_or("");
    let evicted = info_u64(node, "evicted_keys");
    let expired = info_u64(node, "expired_keys");
    if let Some(samples) = extra
        .get("maxmemory-samples")
        .and_then(|v| v.parse::<u64>().ok())
    {
        let lru_or_lfu = policy.contains("lru") || policy.contains("lfu");
        if is_cache && lru_or_lfu && evicted > 0 && samples < SAMPLES_FOR_CACHE {
            recommendations.push(redis_setting(
                "maxmemory-samples",
                &samples.to_string(),
                &SAMPLES_FOR_CACHE.to_string(),
                "redis-samples",
                format!(
                    "this cache evicted {evicted} keys with {policy}, choosing each from {samples} sampled keys: {SAMPLES_FOR_CACHE} samples evict nearly the true least used key (Redis's docs, Key eviction), for a little more CPU per eviction"
                ),
                vec![
                    Evidence::new("evicted keys", evicted as f64, Unit::Count),
                    Evidence::new("maxmemory-samples", samples as f64, Unit::Count),
                ],
                Confidence::Medium,
            ));
        }
    }
    if is_cache && persistence {
        notes.push("persistence is on for a cache: brisk redis reports it (redis.persistence) with the CONFIG SET lines that turn it off; without it the proposed maxmemory need not leave half for a fork".to_string());
    }
    let jemalloc = node
        .info
        .get("mem_allocator")
        .is_some_and(|a| a.starts_with("jemalloc"));
    let frag_bytes = info_u64(node, "allocator_frag_bytes");
    let frag_ratio = node
        .info
        .get("allocator_frag_ratio")
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(1.0);
    let defrag_on = node.config.get("activedefrag").is_some_and(|v| v == "yes");
    if frag_bytes >= DEFRAG_MIN_BYTES && frag_ratio >= DEFRAG_MIN_RATIO && !defrag_on {
        let evidence = vec![
            Evidence::new("allocator fragmentation ratio", frag_ratio, Unit::Count),
            Evidence::new("allocator fragmentation", frag_bytes as f64, Unit::Bytes),
        ];
        if jemalloc {
            recommendations.push(redis_setting(
                "activedefrag",
                "no",
                "yes",
                "redis-defrag",
                format!(
                    "jemalloc holds {} in fragmented pages ({frag_ratio:.2}x of what it allocated), past the 100mb and 10% at which Redis's active defragmentation starts: it moves values in the background (active-defrag-cycle-max caps its CPU). brisk redis's redis.fragmentation reports the same from the process's resident memory",
                    mb(frag_bytes)
                ),
                evidence,
                Confidence::High,
            ));
        } else {
            notes.push(format!(
                "the allocator holds {} in fragmented pages, but this Redis is not built with jemalloc, so activedefrag cannot run: a restart (after a failover) returns the memory",
                mb(frag_bytes)
            ));
        }
    }
    // Freeing a large value on the main thread blocks every client; lazyfree frees it in a
    // background thread. Evictions and expiries free values Redis chose, not the client.
    for (setting, count, what) in [
        ("lazyfree-lazy-eviction", evicted, "evicted"),
        ("lazyfree-lazy-expire", expired, "expired"),
    ] {
        if count > 0 && extra.get(setting) == Some("no") {
            recommendations.push(redis_setting(
                setting,
                "no",
                "yes",
                "redis-lazyfree",
                format!(
                    "Redis {what} {count} keys since it started; each is freed on the main thread while every client waits, a large one for milliseconds. yes frees them in a background thread (Redis 7's own advice in redis.conf)"
                ),
                vec![Evidence::new(
                    format!("{what} keys"),
                    count as f64,
                    Unit::Count,
                )],
                Confidence::Medium,
            ));
        }
    }
    let clients = info_u64(node, "connected_clients");
    if extra.get("dynamic-hz") == Some("no") && clients >= CLIENTS_PER_TICK {
        let hz = extra.get("hz").unwrap_or("10");
        recommendations.push(redis_setting(
            "dynamic-hz",
            "no",
            "yes",
            "redis-hz",
            format!(
                "{clients} clients at a fixed hz of {hz}: Redis checks at most {CLIENTS_PER_TICK} clients per tick for timeouts and buffers; dynamic-hz raises the frequency with the clients, as Redis does by default"
            ),
            vec![Evidence::new("connected clients", clients as f64, Unit::Count)],
            Confidence::Medium,
        ));
    }
    if let Some(slower) = node
        .config
        .get("slowlog-log-slower-than")
        .and_then(|v| v.parse::<i64>().ok())
    {
        let why = if slower < 0 {
            Some(
                "the slow log is off: a command that blocks every client leaves no trace"
                    .to_string(),
            )
        } else if slower == 0 {
            Some("the slow log records every command, each with a copy of its arguments: the log shows only the last few and costs memory and time".to_string())
        } else if slower >= SLOWLOG_MAX_US {
            Some(format!(
                "only commands slower than {} ms are logged, yet every command blocks all clients for as long as it runs",
                slower / 1000
            ))
        } else {
            None
        };
        if let Some(why) = why {
            recommendations.push(redis_setting(
                "slowlog-log-slower-than",
                &slower.to_string(),
                &SLOWLOG_DEFAULT_US.to_string(),
                "redis-slowlog",
                format!("{why}. 10000 microseconds (10 ms) is Redis's default; brisk redis reads the log (redis.slowlog)"),
                vec![Evidence::new("slowlog-log-slower-than (us)", slower as f64, Unit::Count)],
                Confidence::Medium,
            ));
        }
    }
    for (doctor, text) in [
        ("MEMORY DOCTOR", &extra.memory_doctor),
        ("LATENCY DOCTOR", &extra.latency_doctor),
    ] {
        let Some(text) = text else { continue };
        if let Some(said) = doctor_issues(text) {
            notes.push(format!("{doctor} says: {said}"));
        }
    }
}

/// What a doctor's report says, in one line, unless it found nothing: "I can't find any
/// memory issue", "no latency spike was observed", or latency monitoring is off.
pub fn doctor_issues(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let healthy = [
        "can't find any memory issue",
        "no latency spike was observed",
        "latency monitoring is disabled",
        "is empty or is using very little memory",
    ];
    if text.trim().is_empty() || healthy.iter().any(|h| lower.contains(h)) {
        return None;
    }
    let one_line: Vec<&str> = text.split_whitespace().collect();
    let line = one_line.join(" ");
    Some(match line.char_indices().nth(400) {
        Some((i, _)) => format!("{}...", &line[..i]),
        None => line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(info: &[(&str, &str)], config: &[(&str, &str)]) -> NodeState {
        NodeState {
            address: "cache:6379".to_string(),
            info: info
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            config: config
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn rule<'a>(t: &'a Tuning, setting: &str) -> Option<&'a Recommendation> {
        t.recommendations.iter().find(|r| r.setting == setting)
    }

    const BASE: [(&str, &str); 3] = [
        ("total_system_memory", "1073741824"),
        ("used_memory", "1000000"),
        ("db0", "keys=100,expires=100,avg_ttl=0"),
    ];

    #[test]
    fn activedefrag_starts_where_redis_would_defragment_and_needs_jemalloc() {
        let config = [
            ("maxmemory", "500000000"),
            ("maxmemory-policy", "allkeys-lru"),
            ("activedefrag", "no"),
        ];
        let fragmented = |allocator: &str, bytes: &str, ratio: &str| {
            let mut info = BASE.to_vec();
            info.extend([
                ("mem_allocator", allocator),
                ("allocator_frag_bytes", bytes),
                ("allocator_frag_ratio", ratio),
            ]);
            propose(
                &node(&info, &config),
                &Extra::default(),
                CacheRole::Auto,
                None,
            )
        };
        let t = fragmented("jemalloc-5.3.0", "209715200", "1.30");
        let defrag = rule(&t, "activedefrag").expect("activedefrag");
        assert_eq!(
            (defrag.current.as_deref(), defrag.proposed.as_str()),
            (Some("no"), "yes")
        );
        assert!(defrag.why.contains("200mb"), "{}", defrag.why);
        // Under Redis's own thresholds: 100mb and 10%.
        assert!(rule(
            &fragmented("jemalloc-5.3.0", "99999999", "1.30"),
            "activedefrag"
        )
        .is_none());
        assert!(rule(
            &fragmented("jemalloc-5.3.0", "209715200", "1.09"),
            "activedefrag"
        )
        .is_none());
        // libc cannot defragment: a note, no setting.
        let libc = fragmented("libc", "209715200", "1.30");
        assert!(rule(&libc, "activedefrag").is_none());
        assert!(libc
            .notes
            .iter()
            .any(|n| n.contains("not built with jemalloc")));
    }

    #[test]
    fn dynamic_hz_from_200_clients() {
        let config = [
            ("maxmemory", "500000000"),
            ("maxmemory-policy", "allkeys-lru"),
        ];
        let extra = Extra {
            config: HashMap::from([
                ("dynamic-hz".to_string(), "no".to_string()),
                ("hz".to_string(), "10".to_string()),
            ]),
            ..Extra::default()
        };
        let with = |clients: &str| {
            let mut info = BASE.to_vec();
            info.push(("connected_clients", clients));
            propose(&node(&info, &config), &extra, CacheRole::Auto, None)
        };
        assert_eq!(rule(&with("200"), "dynamic-hz").unwrap().proposed, "yes");
        assert!(rule(&with("199"), "dynamic-hz").is_none());
    }

    #[test]
    fn the_doctors_are_quoted_only_when_they_found_something() {
        assert_eq!(doctor_issues("Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base."), None);
        assert_eq!(doctor_issues("Hi Sam, this instance is empty or is using very little memory, my issues detector can't run in these conditions."), None);
        assert_eq!(doctor_issues("I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance."), None);
        assert_eq!(doctor_issues("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit."), None);
        let said = doctor_issues("Dave, I have observed latency spikes in this Redis instance.\n\n1. command: 2 latency spikes (average 50ms)").unwrap();
        assert!(
            said.starts_with("Dave, I have observed latency spikes"),
            "{said}"
        );
        assert!(!said.contains('\n'));
    }
}
