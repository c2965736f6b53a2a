//! `brisk tune --redis`: maxmemory with headroom, and the eviction policy a cache or a store
//! needs. Reads INFO and CONFIG GET of one node ([`brisk_redis::NodeState`]); whether it is a
//! cache is [`brisk_redis::judge_role`], the same rule `brisk redis` applies. `brisk redis`
//! reports the problems (no limit on a cache, noeviction on a cache); this proposes values.

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
    Ok(propose(&node, role, ram_bytes))
}

fn info_u64(node: &NodeState, name: &str) -> u64 {
    node.info
        .get(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The proposal for one node's state: pure, so tests can give it any INFO.
pub fn propose(node: &NodeState, role: CacheRole, ram_bytes: Option<u64>) -> Tuning {
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
