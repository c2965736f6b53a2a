//! What a node says about itself: `INFO`, the settings brisk judges (`CONFIG GET`), and the
//! slow log (`SLOWLOG GET`). Read once, before the scan, so the slow log and the counters the
//! checks judge (`keyspace_hits`, `keyspace_misses`, `evicted_keys`, `expired_keys`) are the
//! application's and not brisk's own: the scan's `TYPE` and `OBJECT ENCODING` count as
//! keyspace hits (docs/redis.md says how many).

use std::collections::HashMap;

use redis::aio::MultiplexedConnection;
use redis::Value;

use crate::error::{one_line, Error};
use crate::pattern::key_pattern;
use crate::target::RedisTarget;

/// The settings the checks read. One `CONFIG GET` each: several names in one call need
/// Redis 7.
const SETTINGS: [&str; 7] = [
    "maxmemory",
    "repl-backlog-size",
    "maxmemory-policy",
    "save",
    "appendonly",
    "activedefrag",
    "slowlog-log-slower-than",
];

/// Slow log entries read: Redis keeps 128 by default (`slowlog-max-len`).
const SLOWLOG_ENTRIES: u32 = 128;

/// One node's view of itself.
#[derive(Debug, Clone)]
pub(crate) struct ServerSnapshot {
    /// `host:port`.
    pub node: String,
    pub info: HashMap<String, String>,
    /// `Err` holds why CONFIG GET could not run (managed services often rename it).
    pub config: Result<HashMap<String, String>, String>,
    pub slowlog: Result<Vec<SlowEntry>, String>,
}

/// One slow log entry, without argument values: only the command and its key's pattern.
#[derive(Debug, Clone)]
pub(crate) struct SlowEntry {
    pub micros: u64,
    pub command: String,
    pub key_pattern: Option<String>,
}

impl ServerSnapshot {
    pub fn info_f64(&self, name: &str) -> Option<f64> {
        self.info.get(name).and_then(|v| v.trim().parse().ok())
    }

    pub fn info_u64(&self, name: &str) -> Option<u64> {
        self.info.get(name).and_then(|v| v.trim().parse().ok())
    }

    pub fn setting(&self, name: &str) -> Option<&str> {
        self.config.as_ref().ok()?.get(name).map(String::as_str)
    }

    /// Keys per database from `INFO keyspace`: `db0:keys=12,expires=3,avg_ttl=0`.
    pub fn databases(&self) -> Vec<(i64, u64)> {
        let mut out: Vec<(i64, u64)> = self
            .info
            .iter()
            .filter_map(|(name, value)| {
                let db = name.strip_prefix("db")?.parse().ok()?;
                let keys = value
                    .split(',')
                    .find_map(|kv| kv.strip_prefix("keys="))?
                    .parse()
                    .ok()?;
                Some((db, keys))
            })
            .collect();
        out.sort();
        out
    }

    /// What `INFO keyspace` says about the TTLs of database `db`'s keys. `keys` and
    /// `expires` are the sizes of Redis's two dictionaries, so `expires=0` and
    /// `expires=keys` are exact at the moment INFO ran.
    pub fn known_ttls(&self, db: i64) -> KnownTtls {
        let Some(line) = self.info.get(&format!("db{db}")) else {
            // No line: the database was empty, so whatever the scan finds was written since.
            return KnownTtls::Mixed;
        };
        let field = |name: &str| -> Option<u64> {
            line.split(',')
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))?
                .parse()
                .ok()
        };
        match (field("keys"), field("expires")) {
            (Some(_), Some(0)) => KnownTtls::None,
            (Some(keys), Some(expires)) if keys == expires => KnownTtls::All,
            _ => KnownTtls::Mixed,
        }
    }
}

/// Whether the keys of a database have TTLs, as far as INFO knows. When it knows, the scan
/// skips `PTTL`, which Redis counts as a keyspace hit per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KnownTtls {
    /// `expires=0`: no key has a TTL.
    None,
    /// `expires` equals `keys`: every key has one.
    All,
    /// Some keys have one, or INFO does not say: `PTTL` asks each key.
    Mixed,
}

/// Parses INFO's `name:value` lines; `# Section` headers and blank lines are skipped.
pub(crate) fn parse_info(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// What one node says about itself, for `brisk tune --redis`: INFO and the settings brisk
/// judges.
#[derive(Debug, Clone)]
pub struct NodeState {
    pub address: String,
    pub info: HashMap<String, String>,
    pub config: HashMap<String, String>,
}

impl NodeState {
    /// Reads INFO and CONFIG GET of the node `target` names (one node, even of a cluster).
    pub async fn read(target: &RedisTarget) -> Result<NodeState, Error> {
        let mut conn = target.connect().await?;
        let snapshot = read(target, &mut conn).await?;
        let config = snapshot.config.map_err(|detail| Error::Command {
            address: target.address().to_string(),
            command: "CONFIG GET".to_string(),
            detail,
        })?;
        Ok(NodeState {
            address: target.address().to_string(),
            info: snapshot.info,
            config,
        })
    }

    /// Keys and keys with a TTL, all databases, from INFO keyspace.
    pub fn keys(&self) -> (u64, u64) {
        let mut keys = 0;
        let mut expires = 0;
        for (name, value) in &self.info {
            if name
                .strip_prefix("db")
                .and_then(|n| n.parse::<u32>().ok())
                .is_none()
            {
                continue;
            }
            for kv in value.split(',') {
                if let Some(n) = kv.strip_prefix("keys=").and_then(|n| n.parse::<u64>().ok()) {
                    keys += n;
                }
                if let Some(n) = kv
                    .strip_prefix("expires=")
                    .and_then(|n| n.parse::<u64>().ok())
                {
                    expires += n;
                }
            }
        }
        (keys, expires)
    }
}

pub(crate) async fn read(
    node: &RedisTarget,
    conn: &mut MultiplexedConnection,
) -> Result<ServerSnapshot, Error> {
    let address = node.address();
    let info: String = redis::cmd("INFO")
        .query_async(conn)
        .await
        .map_err(|e| Error::from_redis(address, "INFO", &e))?;
    let info = parse_info(&info);

    let mut pipe = redis::pipe();
    for name in SETTINGS {
        pipe.cmd("CONFIG").arg("GET").arg(name);
    }
    pipe.ignore_errors();
    let replies: Result<Vec<Value>, _> = pipe.query_async(conn).await;
    let config = match replies {
        Ok(replies) => parse_config(&replies),
        Err(e) if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() => {
            return Err(Error::from_redis(address, "CONFIG GET", &e))
        }
        Err(e) => Err(one_line(&e.to_string())),
    };

    let slowlog = match redis::cmd("SLOWLOG")
        .arg("GET")
        .arg(SLOWLOG_ENTRIES)
        .query_async::<Value>(conn)
        .await
    {
        Ok(value) => Ok(parse_slowlog(&value)),
        Err(e) if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() => {
            return Err(Error::from_redis(address, "SLOWLOG GET", &e))
        }
        Err(e) => Err(one_line(&e.to_string())),
    };
    Ok(ServerSnapshot {
        node: node.host_port(),
        info,
        config,
        slowlog,
    })
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).to_string()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

/// CONFIG GET replies: `[name, value]` (RESP2) or a map (RESP3); any error means the
/// command is not allowed, and the checks that need settings are skipped.
fn parse_config(replies: &[Value]) -> Result<HashMap<String, String>, String> {
    let mut settings = HashMap::new();
    for reply in replies {
        let pairs: Vec<(&Value, &Value)> = match reply {
            Value::ServerError(e) => {
                return Err(format!(
                    "CONFIG GET failed: {}",
                    one_line(e.details().unwrap_or(e.code()))
                ))
            }
            Value::Array(items) => items
                .chunks(2)
                .filter_map(|c| Some((c.first()?, c.get(1)?)))
                .collect(),
            Value::Map(items) => items.iter().map(|(k, v)| (k, v)).collect(),
            _ => Vec::new(),
        };
        for (name, value) in pairs {
            if let (Some(name), Some(value)) = (text(name), text(value)) {
                settings.insert(name, value);
            }
        }
    }
    Ok(settings)
}

/// Commands whose first argument is not a key, or whose arguments say nothing about keys.
const NOT_KEYED: [&str; 24] = [
    "EVAL",
    "EVALSHA",
    "EVAL_RO",
    "EVALSHA_RO",
    "FCALL",
    "FCALL_RO",
    "SCRIPT",
    "FUNCTION",
    "DEBUG",
    "CONFIG",
    "CLIENT",
    "CLUSTER",
    "MEMORY",
    "OBJECT",
    "INFO",
    "SCAN",
    "AUTH",
    "HELLO",
    "ACL",
    "SELECT",
    "FLUSHALL",
    "FLUSHDB",
    "MULTI",
    "EXEC",
];

/// Commands with a subcommand, named together (`CONFIG SET`).
const WITH_SUBCOMMAND: [&str; 9] = [
    "CONFIG", "CLIENT", "CLUSTER", "MEMORY", "OBJECT", "SCRIPT", "FUNCTION", "DEBUG", "XINFO",
];

/// Entries are `[id, unix time, microseconds, [args...], client, name]`. Argument values
/// never leave this function: only the command name and the pattern of its key.
fn parse_slowlog(value: &Value) -> Vec<SlowEntry> {
    let Value::Array(entries) = value else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| {
            let Value::Array(fields) = entry else {
                return None;
            };
            let micros = match fields.get(2)? {
                Value::Int(n) => (*n).max(0) as u64,
                _ => return None,
            };
            let Value::Array(args) = fields.get(3)? else {
                return None;
            };
            let name = text(args.first()?)?.to_uppercase();
            let sub = args.get(1).and_then(text);
            let command = match &sub {
                Some(sub) if WITH_SUBCOMMAND.contains(&name.as_str()) => {
                    format!("{name} {}", sub.to_uppercase())
                }
                _ => name.clone(),
            };
            let key_pattern = match (NOT_KEYED.contains(&name.as_str()), args.get(1)) {
                (false, Some(Value::BulkString(key))) if name != "KEYS" => Some(key_pattern(key)),
                _ => None,
            };
            Some(SlowEntry {
                micros,
                command,
                key_pattern,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_lines_become_fields() {
        let info = parse_info("# Server\r\nredis_version:7.0.15\r\n\r\n# Keyspace\r\ndb0:keys=12,expires=3,avg_ttl=0\r\ndb3:keys=5,expires=0,avg_ttl=0\r\n");
        let snapshot = ServerSnapshot {
            node: "x".into(),
            info,
            config: Ok(HashMap::new()),
            slowlog: Ok(Vec::new()),
        };
        assert_eq!(snapshot.info["redis_version"], "7.0.15");
        assert_eq!(snapshot.databases(), vec![(0, 12), (3, 5)]);
        assert_eq!(snapshot.known_ttls(0), KnownTtls::Mixed);
        assert_eq!(snapshot.known_ttls(3), KnownTtls::None);
        assert_eq!(snapshot.known_ttls(7), KnownTtls::Mixed);
        let all = ServerSnapshot {
            info: parse_info("db0:keys=4,expires=4,avg_ttl=10\r\n"),
            ..snapshot
        };
        assert_eq!(all.known_ttls(0), KnownTtls::All);
    }

    #[test]
    fn slowlog_keeps_commands_and_patterns_but_no_values() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let entry = |args: Vec<Value>| {
            Value::Array(vec![
                Value::Int(1),
                Value::Int(1_700_000_000),
                Value::Int(25_000),
                Value::Array(args),
                bulk("127.0.0.1:5000"),
                bulk(""),
            ])
        };
        let log = Value::Array(vec![
            entry(vec![
                bulk("set"),
                bulk("user:42:profile"),
                bulk("secret value"),
            ]),
            entry(vec![bulk("debug"), bulk("sleep"), bulk("0.03")]),
            entry(vec![bulk("keys"), bulk("user:*")]),
            Value::Int(3),
        ]);
        let entries = parse_slowlog(&log);
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].command, "SET");
        assert_eq!(entries[0].key_pattern.as_deref(), Some("user:*:profile"));
        assert_eq!(entries[0].micros, 25_000);
        assert_eq!(entries[1].command, "DEBUG SLEEP");
        assert_eq!(entries[1].key_pattern, None);
        assert_eq!(entries[2].key_pattern, None);
    }
}
