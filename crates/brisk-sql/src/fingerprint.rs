//! Query fingerprints, equal to pg_query's, with a cache in front for the hot path.
//!
//! A fingerprint identifies a query's shape: two queries that differ only in constants,
//! parameters, the length of `IN` lists, comments or formatting share it. It is pg_query's
//! (libpg_query's) fingerprint, so it matches what other tools in the ecosystem compute.
//!
//! pg_query parses the query with PostgreSQL's own parser, which costs microseconds.
//! [`FingerprintCache`] first reduces the query to its shape key ([`crate::shape_key_into`],
//! a single lexer pass) and only fingerprints shapes it has not seen. Either way, the
//! statements apps send most are fingerprinted without PostgreSQL's parser, by a parser of
//! that subset of the grammar that writes the same hash (`fast_fingerprint`); the rest go to
//! pg_query.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

use crate::error::SqlError;
use crate::fast_fingerprint::FastFingerprinter;
use crate::shape::shape_key_into;

/// A query fingerprint: pg_query's 64-bit value. Displayed as 16 hex digits, as pg_query's
/// `fingerprint_str`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub u64);

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Fingerprints `sql` with PostgreSQL's parser, without a cache.
///
/// ```
/// let a = brisk_sql::fingerprint("SELECT * FROM users WHERE id = 1").unwrap();
/// let b = brisk_sql::fingerprint("select * from users where id = $1").unwrap();
/// assert_eq!(a, b);
/// assert_eq!(a.to_string().len(), 16);
/// ```
pub fn fingerprint(sql: &str) -> Result<Fingerprint, SqlError> {
    thread_local! {
        static FAST: std::cell::RefCell<FastFingerprinter> = Default::default();
    }
    if let Some(value) = FAST.with(|fast| fast.borrow_mut().fingerprint(sql)) {
        return Ok(Fingerprint(value));
    }
    pg_query_fingerprint(sql)
}

/// pg_query's own fingerprint, with its error.
fn pg_query_fingerprint(sql: &str) -> Result<Fingerprint, SqlError> {
    pg_query::fingerprint(sql)
        .map(|f| Fingerprint(f.value))
        .map_err(|e| SqlError::from_pg_query(sql, e))
}

/// A fast, non-cryptographic hasher for shape keys (the multiply-rotate scheme of rustc's
/// FxHasher, eight bytes at a time). SipHash, the std default, guards against crafted
/// collisions, which costs several times more per key on this hot path; here a collision
/// attack could only slow one proxy worker's cache, which is bounded anyway.
#[derive(Default, Clone, Copy)]
struct ShapeHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl ShapeHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for ShapeHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type ShapeMap = HashMap<Box<str>, Fingerprint, BuildHasherDefault<ShapeHasher>>;

/// What [`FingerprintCache::key`] gives: a statement's key, and whether it is PostgreSQL's
/// fingerprint (else a hash of the statement's shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatementKey {
    /// The fingerprint, or the shape's hash.
    pub value: u64,
    /// Whether PostgreSQL's parser accepted the statement.
    pub parsed: bool,
}

/// How often the cache answered without the parser.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that ran the parser.
    pub misses: u64,
}

/// A bounded cache from shape keys to fingerprints.
///
/// Eviction is generational: entries live in a young and an old map; when the young map
/// reaches half the capacity, the old one is dropped and the young one becomes old. A hit in
/// the old map moves the entry back to the young one. Hot shapes therefore stay, memory is
/// bounded by `capacity` entries, and no per-entry bookkeeping runs on a hit.
///
/// One cache per thread or task: it takes `&mut self` so the hot path needs no lock.
///
/// ```
/// let mut cache = brisk_sql::FingerprintCache::new(1024);
/// let a = cache.fingerprint("SELECT * FROM t WHERE id = 1").unwrap();
/// let b = cache.fingerprint("SELECT * FROM t WHERE id = 2").unwrap();
/// assert_eq!(a, b);
/// assert_eq!(cache.stats().hits, 1);
/// ```
pub struct FingerprintCache {
    capacity: usize,
    young: ShapeMap,
    old: ShapeMap,
    /// Reused for every lookup, so a hit allocates nothing.
    key: String,
    fast: FastFingerprinter,
    stats: CacheStats,
}

impl FingerprintCache {
    /// A cache that holds at most `capacity` shapes (at least 2).
    pub fn new(capacity: usize) -> FingerprintCache {
        let capacity = capacity.max(2);
        FingerprintCache {
            capacity,
            young: ShapeMap::with_capacity_and_hasher(capacity / 2, Default::default()),
            old: ShapeMap::default(),
            key: String::with_capacity(256),
            fast: FastFingerprinter::default(),
            stats: CacheStats::default(),
        }
    }

    /// The fingerprint of `sql`, from the cache when its shape was seen before.
    pub fn fingerprint(&mut self, sql: &str) -> Result<Fingerprint, SqlError> {
        shape_key_into(sql, &mut self.key);
        if let Some(found) = self.young.get(self.key.as_str()) {
            self.stats.hits += 1;
            return Ok(*found);
        }
        if let Some(found) = self.old.remove(self.key.as_str()) {
            self.stats.hits += 1;
            self.insert(found);
            return Ok(found);
        }
        self.stats.misses += 1;
        // The key is SQL with the same fingerprint and is cheaper to parse; when it does not
        // parse (a constant where only an integer may stand), the original decides.
        let computed = match self.fast.fingerprint(&self.key) {
            Some(value) => Fingerprint(value),
            None => match pg_query::fingerprint(&self.key) {
                Ok(found) => Fingerprint(found.value),
                Err(_) => pg_query_fingerprint(sql)?,
            },
        };
        self.insert(computed);
        Ok(computed)
    }

    /// A key for any statement: its fingerprint when PostgreSQL's parser accepts it
    /// (`parsed`), else a hash of its shape (constants replaced, case and blanks folded), so
    /// that text the parser rejects, such as a statement cut short in a log, still groups with
    /// its kind. The one keying of the proxy's statistics, its N+1 detector and the log
    /// reader; stable across runs and builds (XXH3 of the shape key).
    pub fn key(&mut self, sql: &str) -> StatementKey {
        match self.fingerprint(sql) {
            Ok(found) => StatementKey {
                value: found.0,
                parsed: true,
            },
            // `fingerprint` left the shape key of `sql` in `self.key`.
            Err(_) => StatementKey {
                value: xxhash_rust::xxh3::xxh3_64(self.key.as_bytes()),
                parsed: false,
            },
        }
    }

    fn insert(&mut self, value: Fingerprint) {
        if self.young.len() >= self.capacity / 2 {
            self.old = std::mem::take(&mut self.young);
            self.young.reserve(self.capacity / 2);
        }
        self.young.insert(self.key.as_str().into(), value);
    }

    /// Hits and misses since the cache was made.
    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    /// Shapes held now (never more than the capacity).
    pub fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }

    /// Whether no shape is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_has_a_key_and_text_the_parser_rejects_groups_by_shape() {
        let mut cache = FingerprintCache::new(16);
        let parsed = cache.key("SELECT * FROM t WHERE id = 1");
        assert!(parsed.parsed);
        assert_eq!(
            parsed.value,
            fingerprint("SELECT * FROM t WHERE id = 2").unwrap().0
        );
        // Cut short, as a log or pg_stat_activity may: no fingerprint, but one key per shape.
        let a = cache.key("SELECT * FROM t WHERE id = 1 AND");
        let b = cache.key("select *  from T where id = 7 and");
        assert!(!a.parsed);
        assert_eq!(a, b);
        assert_ne!(a, cache.key("SELECT * FROM u WHERE id = 1 AND"));
        // Stable across runs and builds: a fixed hash of the shape key.
        let mut key = String::new();
        shape_key_into("SELECT * FROM t WHERE id = 1 AND", &mut key);
        assert_eq!(a.value, xxhash_rust::xxh3::xxh3_64(key.as_bytes()));
    }

    #[test]
    fn equals_pg_query_and_ignores_values() {
        let direct = pg_query::fingerprint("SELECT a FROM t WHERE b = 1").unwrap();
        let ours = fingerprint("SELECT a FROM t WHERE b = 1").unwrap();
        assert_eq!(ours.0, direct.value);
        assert_eq!(ours.to_string(), direct.hex);
    }

    #[test]
    fn the_cache_answers_repeated_shapes_without_parsing() {
        let mut cache = FingerprintCache::new(16);
        for id in 0..100 {
            cache
                .fingerprint(&format!("SELECT * FROM users WHERE id = {id}"))
                .unwrap();
        }
        assert_eq!(
            cache.stats(),
            CacheStats {
                hits: 99,
                misses: 1
            }
        );
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let mut cache = FingerprintCache::new(10);
        for n in 0..100 {
            cache
                .fingerprint(&format!("SELECT c{n} FROM t WHERE id = 1"))
                .unwrap();
            assert!(cache.len() <= 10);
        }
        // A hot shape survives the churn: it is touched between the others.
        let mut cache = FingerprintCache::new(10);
        for n in 0..100 {
            cache.fingerprint("SELECT hot FROM t").unwrap();
            cache.fingerprint(&format!("SELECT c{n} FROM t")).unwrap();
        }
        assert_eq!(cache.stats().misses, 101);
    }

    #[test]
    fn cached_and_direct_fingerprints_agree() {
        let mut cache = FingerprintCache::new(64);
        for sql in [
            "SELECT * FROM t WHERE a IN (1, 2, 3)",
            "SELECT * FROM t WHERE a IN (4)",
            "INSERT INTO t (a) VALUES (1), (2)",
            "INSERT INTO t (a) VALUES (3)",
            "select * from T where A = -1",
        ] {
            assert_eq!(
                cache.fingerprint(sql).unwrap(),
                fingerprint(sql).unwrap(),
                "{sql}"
            );
        }
    }

    #[test]
    fn invalid_sql_is_an_error_with_a_position() {
        let error = fingerprint("SELECT * FROM WHERE").unwrap_err();
        let SqlError::Parse { message, position } = &error;
        assert!(message.contains("syntax error"), "{message}");
        assert_eq!(*position, Some(14));
        assert_eq!(error.line_column("SELECT * FROM WHERE"), Some((1, 15)));
    }
}
