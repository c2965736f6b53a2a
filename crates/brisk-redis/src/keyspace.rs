//! Walking the keyspace: SCAN, and for each batch of keys one pipeline of `TYPE`,
//! `MEMORY USAGE`, `PTTL` and `OBJECT ENCODING`, folded into per-pattern groups.
//!
//! None of these touch a key's LRU clock or LFU counter, but Redis counts `TYPE`, `PTTL`
//! and `OBJECT ENCODING` as one keyspace hit each (measured on 7.0; `MEMORY USAGE` counts
//! none). `PTTL` is skipped when `INFO keyspace`, read before the scan, already says that
//! all or none of the keys have a TTL.
//!
//! The scan never uses `KEYS` and never sends an unbounded command: each `SCAN` asks for
//! [`SCAN_COUNT`] keys and each pipeline carries at most four commands per key of one batch, so the
//! server serves other clients between batches. Several pipelines are in flight at once
//! (on tasks of their own, so replies are parsed while the next batch is scanned), which is
//! what makes a million keys take seconds rather than minutes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};

use redis::aio::MultiplexedConnection;
use redis::Value;

use crate::error::{one_line, Error};
use crate::pattern::{generalize, Shape, Templates};
use crate::server::KnownTtls;
use crate::target::RedisTarget;

/// Keys asked of each SCAN. redis-cli's `--bigkeys` uses the server default of 10; larger
/// batches cut round trips, and 1,000 keys of metadata is still a sub-millisecond job for the
/// server (measured with scripts/bench-redis).
const SCAN_COUNT: usize = 1000;

/// Metadata pipelines in flight per node: enough to keep the server busy while replies are
/// parsed, few enough that one node's queue stays a few milliseconds long.
const PIPELINES_IN_FLIGHT: usize = 8;

/// Distinct patterns kept; keys of further patterns are counted under [`OTHER_PATTERNS`], so a
/// keyspace without structure cannot make brisk's memory grow with the number of keys.
const MAX_GROUPS: usize = 20_000;

/// Patterns at which the scan first generalizes by cardinality (then at twice what is left):
/// ids that do not look like ids make one pattern per key until it does. A generalization of
/// 4,096 shapes takes about a millisecond.
const FIRST_GENERALIZATION: usize = 4_096;
pub(crate) const OTHER_PATTERNS: &str = "(other patterns)";

/// The biggest keys remembered per group.
const BIGGEST_PER_GROUP: usize = 5;

/// String keys sampled per group for the compressibility measurement.
pub(crate) const STRING_SAMPLES_PER_GROUP: usize = 16;

/// What one key is.
struct KeyMeta {
    key: Vec<u8>,
    kind: String,
    bytes: u64,
    has_ttl: bool,
    encoding: String,
}

/// Everything learned about the keys of one pattern.
#[derive(Debug, Clone, Default)]
pub(crate) struct Group {
    pub pattern: String,
    /// The pattern as parts; `None` for [`OTHER_PATTERNS`].
    shape: Option<Shape>,
    pub keys: u64,
    pub bytes: u64,
    /// `MEMORY USAGE` of every key, for percentiles.
    sizes: Vec<u64>,
    pub no_ttl: u64,
    pub types: BTreeMap<String, u64>,
    pub encodings: BTreeMap<String, u64>,
    /// Largest first.
    pub biggest: Vec<(u64, Vec<u8>)>,
    /// Keys at or above the big-key threshold, and their bytes.
    pub big_keys: u64,
    pub big_bytes: u64,
    /// Bytes held by string keys (the only type whose values are sampled for compression).
    pub string_bytes: u64,
    strings_seen: u64,
    pub string_samples: Vec<Vec<u8>>,
}

impl Group {
    fn new(pattern: String, shape: Option<Shape>) -> Group {
        Group {
            pattern,
            shape,
            ..Group::default()
        }
    }

    /// The `p`-th percentile (0-100) of key sizes, nearest rank.
    pub fn percentile_bytes(&mut self, p: f64) -> u64 {
        if self.sizes.is_empty() {
            return 0;
        }
        self.sizes.sort_unstable();
        let rank = ((p / 100.0) * self.sizes.len() as f64).ceil() as usize;
        self.sizes[rank.clamp(1, self.sizes.len()) - 1]
    }

    fn add(&mut self, meta: KeyMeta, big_key_bytes: u64, random: &mut XorShift) {
        self.keys += 1;
        self.bytes += meta.bytes;
        self.sizes.push(meta.bytes);
        if !meta.has_ttl {
            self.no_ttl += 1;
        }
        *self.types.entry(meta.kind.clone()).or_default() += 1;
        *self.encodings.entry(meta.encoding).or_default() += 1;
        if meta.bytes >= big_key_bytes {
            self.big_keys += 1;
            self.big_bytes += meta.bytes;
        }
        if meta.kind == "string" {
            self.string_bytes += meta.bytes;
            self.strings_seen += 1;
            // Reservoir sampling: every string key of the group is equally likely to be measured.
            if self.string_samples.len() < STRING_SAMPLES_PER_GROUP {
                self.string_samples.push(meta.key.clone());
            } else {
                let slot = random.below(self.strings_seen) as usize;
                if slot < STRING_SAMPLES_PER_GROUP {
                    self.string_samples[slot] = meta.key.clone();
                }
            }
        }
        self.remember_big(meta.bytes, meta.key);
    }

    fn remember_big(&mut self, bytes: u64, key: Vec<u8>) {
        if self.biggest.len() == BIGGEST_PER_GROUP
            && self.biggest.last().is_some_and(|(b, _)| *b >= bytes)
        {
            return;
        }
        let at = self.biggest.partition_point(|(b, _)| *b >= bytes);
        self.biggest.insert(at, (bytes, key));
        self.biggest.truncate(BIGGEST_PER_GROUP);
    }

    fn merge(&mut self, other: Group) {
        self.keys += other.keys;
        self.bytes += other.bytes;
        self.sizes.extend(other.sizes);
        self.no_ttl += other.no_ttl;
        for (k, v) in other.types {
            *self.types.entry(k).or_default() += v;
        }
        for (k, v) in other.encodings {
            *self.encodings.entry(k).or_default() += v;
        }
        for (bytes, key) in other.biggest {
            self.remember_big(bytes, key);
        }
        self.big_keys += other.big_keys;
        self.big_bytes += other.big_bytes;
        self.string_bytes += other.string_bytes;
        self.strings_seen += other.strings_seen;
        self.string_samples.extend(other.string_samples);
        self.string_samples.truncate(STRING_SAMPLES_PER_GROUP);
    }
}

/// The scan of one or more nodes.
#[derive(Debug, Default)]
pub(crate) struct Keyspace {
    pub groups: HashMap<String, Group>,
    /// Keys whose metadata was read.
    pub scanned: u64,
    /// DBSIZE when the scan started, summed over nodes.
    pub total: u64,
    pub with_ttl: u64,
    /// Whether the scan stopped early at `--sample`.
    pub sampled: bool,
    /// Patterns generalized by cardinality so far, to place further keys.
    templates: Templates,
    /// Group count at which to generalize next; 0 for [`FIRST_GENERALIZATION`].
    generalize_at: usize,
}

impl Keyspace {
    fn add(&mut self, meta: KeyMeta, big_key_bytes: u64, random: &mut XorShift) {
        self.scanned += 1;
        if meta.has_ttl {
            self.with_ttl += 1;
        }
        let mut shape = Shape::of(&meta.key);
        let mut pattern = shape.render();
        if !self.groups.contains_key(&pattern) {
            if let Some(template) = self.templates.find(&shape) {
                shape = template.clone();
                pattern = shape.render();
            }
        }
        if !self.groups.contains_key(&pattern) {
            if self.groups.len() >= self.generalize_at.max(FIRST_GENERALIZATION) {
                self.generalize();
                if let Some(template) = self.templates.find(&shape) {
                    shape = template.clone();
                    pattern = shape.render();
                }
            }
            if !self.groups.contains_key(&pattern) && self.groups.len() >= MAX_GROUPS {
                pattern = OTHER_PATTERNS.to_string();
            }
        }
        self.groups
            .entry(pattern)
            .or_insert_with_key(|p| {
                let shape = (p != OTHER_PATTERNS).then_some(shape);
                Group::new(p.clone(), shape)
            })
            .add(meta, big_key_bytes, random);
    }

    /// Counts one key known only by its size and whether it has a TTL (`brisk cleanup`'s
    /// scan, which reads no type or encoding).
    pub fn add_sized(&mut self, key: Vec<u8>, bytes: u64, has_ttl: bool, random: &mut XorShift) {
        let meta = KeyMeta {
            key,
            kind: "unread".to_string(),
            bytes,
            has_ttl,
            encoding: "unread".to_string(),
        };
        self.add(meta, u64::MAX, random);
    }

    /// Merges the groups whose patterns [`generalize`] folds into one, and remembers the new
    /// patterns for the keys still to come. The scan calls it as patterns pile up; call it
    /// once more when every key is in.
    pub fn generalize(&mut self) {
        let (shapes, names): (Vec<Shape>, Vec<String>) = self
            .groups
            .values()
            .filter_map(|g| Some((g.shape.clone()?, g.pattern.clone())))
            .unzip();
        let mut renamed = HashMap::new();
        for (general, name) in generalize(&shapes).into_iter().zip(names) {
            if general.render() != name {
                renamed.insert(name, general);
            }
        }
        if !renamed.is_empty() {
            self.templates.rename(&renamed);
            for general in renamed.values() {
                self.templates.insert(general);
            }
            let mut groups = HashMap::with_capacity(self.groups.len());
            for (name, mut group) in std::mem::take(&mut self.groups) {
                let name = match renamed.remove(&name) {
                    Some(general) => {
                        group.pattern = general.render();
                        group.shape = Some(general);
                        group.pattern.clone()
                    }
                    None => name,
                };
                match groups.entry(name) {
                    std::collections::hash_map::Entry::Occupied(mut mine) => {
                        Group::merge(mine.get_mut(), group)
                    }
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(group);
                    }
                }
            }
            self.groups = groups;
        }
        // Next time at twice what is left, so a keyspace that does not fold is not
        // generalized again for every new key; once at the cap, only new keys of known
        // patterns find a group.
        self.generalize_at = if self.groups.len() >= MAX_GROUPS {
            usize::MAX
        } else {
            (2 * self.groups.len()).clamp(FIRST_GENERALIZATION, MAX_GROUPS)
        };
    }

    pub fn merge(&mut self, other: Keyspace) {
        self.scanned += other.scanned;
        self.total += other.total;
        self.with_ttl += other.with_ttl;
        self.sampled |= other.sampled;
        for (pattern, group) in other.groups {
            match self.groups.get_mut(&pattern) {
                Some(mine) => mine.merge(group),
                None => {
                    self.groups.insert(pattern, group);
                }
            }
        }
    }

    /// Scanned keys per key in the database: 1 for a full scan, less for `--sample`.
    pub fn coverage(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            (self.scanned as f64 / self.total as f64).min(1.0)
        }
    }
}

/// A tiny deterministic generator for reservoir sampling: the same keyspace gives the same
/// sample, so two runs of brisk agree.
pub(crate) struct XorShift(u64);

impl XorShift {
    pub fn new() -> XorShift {
        XorShift(0x9e37_79b9_7f4a_7c15)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Counts shared by the scans of all nodes, for progress.
pub(crate) struct ScanCounters {
    pub scanned: AtomicU64,
    pub total: AtomicU64,
}

/// Scans one node's database: every key, or until `limit` keys were read. `known_ttls` comes
/// from the INFO read before the scan.
pub(crate) async fn scan_node(
    node: &RedisTarget,
    conn: MultiplexedConnection,
    known_ttls: KnownTtls,
    limit: Option<u64>,
    big_key_bytes: u64,
    counters: &ScanCounters,
    on_batch: &dyn Fn(),
) -> Result<Keyspace, Error> {
    let address = node.address().to_string();
    let mut keyspace = Keyspace::default();
    let mut scan_conn = conn.clone();
    let total: u64 = redis::cmd("DBSIZE")
        .query_async(&mut scan_conn)
        .await
        .map_err(|e| Error::from_redis(&address, "DBSIZE", &e))?;
    keyspace.total = total;
    counters.total.fetch_add(total, Ordering::Relaxed);

    let interrupted = |keyspace: &Keyspace, error: &redis::RedisError| {
        if error.is_io_error()
            || error.is_connection_dropped()
            || error.is_timeout()
            || error.is_connection_refusal()
            || error.is_unrecoverable_error()
        {
            Error::ScanInterrupted {
                address: address.clone(),
                scanned: keyspace.scanned,
                total: keyspace.total.max(keyspace.scanned),
                percent: 100.0 * keyspace.coverage(),
                detail: one_line(&error.to_string()),
            }
        } else {
            Error::from_redis(&address, "SCAN", error)
        }
    };

    let mut random = XorShift::new();
    let mut pending: VecDeque<tokio::task::JoinHandle<Result<Vec<KeyMeta>, redis::RedisError>>> =
        VecDeque::new();
    let mut cursor: u64 = 0;
    let mut requested: u64 = 0;
    let mut done = false;
    loop {
        while !done && pending.len() < PIPELINES_IN_FLIGHT {
            let reply: Result<(u64, Vec<Vec<u8>>), _> = redis::cmd("SCAN")
                .arg(cursor)
                .arg("COUNT")
                .arg(SCAN_COUNT)
                .query_async(&mut scan_conn)
                .await;
            let (next, mut keys) = reply.map_err(|e| interrupted(&keyspace, &e))?;
            cursor = next;
            done = cursor == 0;
            if let Some(limit) = limit {
                let room = limit.saturating_sub(requested);
                if keys.len() as u64 >= room {
                    // Sampled unless this batch happened to end the whole scan exactly.
                    keyspace.sampled = !done || keys.len() as u64 > room;
                    keys.truncate(room as usize);
                    done = true;
                }
            }
            requested += keys.len() as u64;
            if !keys.is_empty() {
                pending.push_back(tokio::spawn(key_metadata(conn.clone(), keys, known_ttls)));
            }
        }
        let Some(batch) = pending.pop_front() else {
            break;
        };
        let metas = match batch.await {
            Ok(Ok(metas)) => metas,
            Ok(Err(e)) => {
                if e.code() == Some("NOPERM") {
                    return Err(permission_error(&address, &e));
                }
                return Err(interrupted(&keyspace, &e));
            }
            Err(join) => {
                return Err(Error::Command {
                    address: address.clone(),
                    command: "MEMORY USAGE".into(),
                    detail: join.to_string(),
                })
            }
        };
        let n = metas.len() as u64;
        for meta in metas {
            keyspace.add(meta, big_key_bytes, &mut random);
        }
        counters.scanned.fetch_add(n, Ordering::Relaxed);
        on_batch();
    }
    Ok(keyspace)
}

/// Names the command of a pipeline that the ACL refused.
fn permission_error(address: &str, error: &redis::RedisError) -> Error {
    let detail = one_line(&error.to_string());
    let lower = detail.to_lowercase();
    let command = ["memory|usage", "object|encoding", "pttl", "type"]
        .into_iter()
        .find(|c| lower.contains(c))
        .unwrap_or("memory|usage");
    Error::NoPermission {
        address: address.to_string(),
        command: command.replace('|', " ").to_uppercase(),
        acl: command.to_string(),
        detail,
    }
}

/// One pipeline: TYPE, MEMORY USAGE, OBJECT ENCODING and (unless `known_ttls` answers it)
/// PTTL of each key. Runs on a task of its own so the reply is parsed on another worker while
/// the next batch is scanned.
async fn key_metadata(
    mut conn: MultiplexedConnection,
    keys: Vec<Vec<u8>>,
    known_ttls: KnownTtls,
) -> Result<Vec<KeyMeta>, redis::RedisError> {
    let ask_ttl = known_ttls == KnownTtls::Mixed;
    let per_key = if ask_ttl { 4 } else { 3 };
    let mut pipe = redis::pipe();
    for key in &keys {
        pipe.cmd("TYPE").arg(key);
        pipe.cmd("MEMORY").arg("USAGE").arg(key);
        pipe.cmd("OBJECT").arg("ENCODING").arg(key);
        if ask_ttl {
            pipe.cmd("PTTL").arg(key);
        }
    }
    // Errors stay in place, one per command, so one key's error does not hide the others.
    pipe.ignore_errors();
    let values: Vec<Value> = pipe.query_async(&mut conn).await?;
    let mut metas = Vec::with_capacity(keys.len());
    for (key, reply) in keys.into_iter().zip(values.chunks(per_key)) {
        let (kind, bytes, encoding, ttl) = match reply {
            [kind, bytes, encoding, ttl] => (kind, bytes, encoding, Some(ttl)),
            [kind, bytes, encoding] => (kind, bytes, encoding, None),
            _ => continue,
        };
        for value in reply {
            if let Value::ServerError(e) = value {
                if e.code() == "NOPERM" {
                    return Err(e.clone().into());
                }
            }
        }
        let kind = match kind {
            Value::SimpleString(s) => s.clone(),
            Value::BulkString(b) => String::from_utf8_lossy(b).to_string(),
            Value::Okay => "string".to_string(),
            _ => continue,
        };
        // The key expired or was deleted between SCAN and this pipeline.
        if kind == "none" {
            continue;
        }
        let bytes = match bytes {
            Value::Int(n) => (*n).max(0) as u64,
            _ => 0,
        };
        let has_ttl = match ttl {
            Some(ttl) => matches!(ttl, Value::Int(ms) if *ms >= 0),
            None => known_ttls == KnownTtls::All,
        };
        let encoding = match encoding {
            Value::BulkString(b) => String::from_utf8_lossy(b).to_string(),
            Value::SimpleString(s) => s.clone(),
            _ => "unknown".to_string(),
        };
        metas.push(KeyMeta {
            key,
            kind,
            bytes,
            has_ttl,
            encoding,
        });
    }
    Ok(metas)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(key: &str, bytes: u64, has_ttl: bool) -> KeyMeta {
        KeyMeta {
            key: key.as_bytes().to_vec(),
            kind: "string".into(),
            bytes,
            has_ttl,
            encoding: "raw".into(),
        }
    }

    #[test]
    fn groups_count_sizes_ttls_and_the_biggest_keys() {
        let mut keyspace = Keyspace::default();
        let mut random = XorShift::new();
        for i in 0..100 {
            keyspace.add(
                meta(&format!("user:{i}:profile"), 100 + i, i % 4 != 0),
                150,
                &mut random,
            );
        }
        keyspace.add(meta("config", 10, false), 150, &mut random);
        assert_eq!(keyspace.groups.len(), 2);
        let group = keyspace.groups.get_mut("user:*:profile").unwrap();
        assert_eq!(group.keys, 100);
        assert_eq!(group.no_ttl, 25);
        assert_eq!(group.big_keys, 50);
        assert_eq!(group.percentile_bytes(99.0), 198);
        assert_eq!(group.biggest[0], (199, b"user:99:profile".to_vec()));
        assert_eq!(group.biggest.len(), BIGGEST_PER_GROUP);
        assert_eq!(group.string_samples.len(), STRING_SAMPLES_PER_GROUP);
        assert_eq!(keyspace.with_ttl, 75);
    }

    #[test]
    fn merging_nodes_adds_up() {
        let mut random = XorShift::new();
        let mut a = Keyspace::default();
        let mut b = Keyspace::default();
        a.add(meta("user:1", 10, true), 100, &mut random);
        b.add(meta("user:2", 500, false), 100, &mut random);
        b.total = 1;
        a.merge(b);
        let group = &a.groups["user:*"];
        assert_eq!((group.keys, group.bytes, group.big_keys), (2, 510, 1));
        assert_eq!(group.biggest[0].0, 500);
        assert_eq!(a.scanned, 2);
    }

    /// Pattern → keys, after a scan of `keys` in this order.
    fn patterns(keys: &[String]) -> BTreeMap<String, u64> {
        let mut keyspace = Keyspace::default();
        let mut random = XorShift::new();
        for key in keys {
            keyspace.add(meta(key, 10, false), 1 << 20, &mut random);
        }
        keyspace.generalize();
        keyspace
            .groups
            .values()
            .map(|g| (g.pattern.clone(), g.keys))
            .collect()
    }

    /// A random token of `min` to `min + spread - 1` characters of `alphabet`.
    fn token(random: &mut XorShift, alphabet: &[u8], min: usize, spread: u64) -> String {
        let len = min + random.below(spread) as usize;
        (0..len)
            .map(|_| alphabet[random.below(alphabet.len() as u64) as usize] as char)
            .collect()
    }

    const HEX: &[u8] = b"0123456789abcdef";
    const BASE64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    const CROCKFORD: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

    /// Keys as applications write them, each with the one pattern it belongs to.
    fn realistic_keys(seed: u64) -> Vec<(String, &'static str)> {
        let mut r = XorShift(seed);
        let mut keys = Vec::new();
        for _ in 0..300 {
            // Hex ids of any length, as `format!("{:x}", n)` writes them.
            let id = token(&mut r, HEX, 1, 16);
            keys.push((format!("chat:conv:{id}:history"), "chat:conv:*:history"));
            if r.below(2) == 0 {
                keys.push((format!("chat:conv:{id}:meta"), "chat:conv:*:meta"));
            }
        }
        for _ in 0..200 {
            let id = token(&mut r, BASE64URL, 21, 1);
            keys.push((format!("session:{id}"), "session:*"));
        }
        for _ in 0..50 {
            let ulid = token(&mut r, CROCKFORD, 26, 1);
            keys.push((format!("job:{ulid}:status"), "job:*:status"));
        }
        for _ in 0..50 {
            let u = token(&mut r, HEX, 32, 1);
            let uuid = format!(
                "{}-{}-{}-{}-{}",
                &u[..8],
                &u[8..12],
                &u[12..16],
                &u[16..20],
                &u[20..]
            );
            keys.push((format!("obj:{uuid}"), "obj:*"));
        }
        for day in 1..=28 {
            keys.push((format!("stats:2026-11-{day:02}"), "stats:*"));
            keys.push((format!("stats:2026-11-{day:02}:signups"), "stats:*:signups"));
            let at = 1_733_443_200 + day * 3600;
            keys.push((format!("events:{at}"), "events:*"));
            keys.push((
                format!("ts:2026-11-{day:02}T{:02}:00:00Z:hits", day % 24),
                "ts:*:hits",
            ));
        }
        for _ in 0..40 {
            let name = token(&mut r, b"abcdefghijklmnopqrstuvwxyz", 3, 6);
            keys.push((format!("user:{name}@example.com:cart"), "user:*:cart"));
            let ip = format!("10.{}.{}.{}", r.below(256), r.below(256), r.below(256));
            keys.push((format!("ratelimit:ip:{ip}"), "ratelimit:ip:*"));
        }
        for _ in 0..120 {
            // User names: plain words, many of them.
            let name = token(&mut r, b"abcdefghijklmnopqrstuvwxyz", 4, 5);
            keys.push((format!("prefs:{name}:theme"), "prefs:*:theme"));
        }
        for word in ["limits", "flags", "features", "maintenance"] {
            keys.push((
                format!("config:{word}"),
                [
                    "config:limits",
                    "config:flags",
                    "config:features",
                    "config:maintenance",
                ]
                .into_iter()
                .find(|p| p.ends_with(word))
                .unwrap_or(""),
            ));
        }
        for (key, pattern) in [
            ("feature:dark_mode", "feature:dark_mode"),
            ("feature:beta_search", "feature:beta_search"),
            ("api:v1:config", "api:v1:config"),
            ("api:v2:config", "api:v2:config"),
            ("leaderboard", "leaderboard"),
            ("counter", "counter"),
        ] {
            keys.push((key.to_string(), pattern));
        }
        for _ in 0..60 {
            let name = token(&mut r, HEX, 10, 1);
            keys.push((format!("cdn/img/{name}.png"), "cdn/img/*"));
            let n = r.below(100_000);
            keys.push((format!("app.cache.user.{n}"), "app.cache.user.*"));
            keys.push((format!("queue|jobs|{n}"), "queue|jobs|*"));
            keys.push((format!("cache:page:/blog/{n}"), "cache:page:/blog/*"));
            keys.push((
                format!("cache:page:/blog/{n}/comments"),
                "cache:page:/blog/*/comments",
            ));
            // Two short ids in one key: neither looks like an id, and no two keys share
            // everything but one of them.
            let thread = token(&mut r, HEX, 3, 4);
            let reply = token(&mut r, HEX, 3, 3);
            keys.push((format!("thread:{thread}:reply:{reply}"), "thread:*:reply:*"));
        }
        keys
    }

    #[test]
    fn one_pattern_per_shape_of_realistic_keys() {
        for seed in [0x9e37_79b9_7f4a_7c15, 42, 7_777_777] {
            let keys = realistic_keys(seed);
            let mut expected: BTreeMap<String, u64> = BTreeMap::new();
            for (_, pattern) in &keys {
                *expected.entry(pattern.to_string()).or_default() += 1;
            }
            let names: Vec<String> = keys.iter().map(|(k, _)| k.clone()).collect();
            assert_eq!(patterns(&names), expected, "seed {seed}");
        }
    }

    #[test]
    fn the_order_of_keys_does_not_change_the_patterns() {
        let names: Vec<String> = realistic_keys(1).into_iter().map(|(k, _)| k).collect();
        let expected = patterns(&names);
        let mut r = XorShift(99);
        for _ in 0..3 {
            let mut shuffled = names.clone();
            for i in (1..shuffled.len()).rev() {
                shuffled.swap(i, r.below(i as u64 + 1) as usize);
            }
            assert_eq!(patterns(&shuffled), expected);
        }
    }

    #[test]
    fn ids_that_never_look_like_ids_fold_while_scanning() {
        // Short hex ids: one pattern per key until the scan generalizes, far more keys than
        // the cap on patterns.
        let mut r = XorShift(5);
        let keys: Vec<String> = (0..3 * MAX_GROUPS)
            .map(|i| format!("chat:conv:{}{:x}:history", token(&mut r, HEX, 2, 1), i))
            .collect();
        let found = patterns(&keys);
        assert_eq!(
            found,
            BTreeMap::from([("chat:conv:*:history".to_string(), keys.len() as u64)])
        );
    }

    #[test]
    fn a_few_names_beside_many_stay_apart() {
        let mut keys: Vec<String> = (0..500).map(|i| format!("user:{i}:profile")).collect();
        keys.extend(
            [
                "user:me:profile",
                "user:count",
                "config:limits",
                "config:flags",
            ]
            .map(String::from),
        );
        // Namespaces with digits in them, each holding ids.
        for namespace in ["s3", "oauth2", "i18n", "l10n", "v1"] {
            keys.extend((0..50).map(|i| format!("{namespace}:{i}")));
        }
        let found = patterns(&keys);
        let names: Vec<&str> = found.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "config:flags",
                "config:limits",
                "i18n:*",
                "l10n:*",
                "oauth2:*",
                "s3:*",
                "user:*:profile",
                "user:count",
                "user:me:profile",
                "v1:*",
            ]
        );
    }
}
