//! Properties of normalization, fingerprints and the shape key over the corpus of real query
//! shapes (`tests/corpus`), and over variants of it with other constants:
//!
//! - normalization is idempotent;
//! - the fingerprint does not change when constants change;
//! - the shape key agrees with pg_query: two statements with the same key have the same
//!   fingerprint (the cache never answers wrong), and constant-only variants share a key
//!   (the cache actually hits);
//! - the cache answers what pg_query answers.

use std::collections::HashMap;
use std::path::Path;

use brisk_sql::{fingerprint, normalize, shape_key_into, FingerprintCache, Lexer, TokenKind};

/// Every statement of every corpus file.
fn corpus() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus directory")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    let mut statements = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("corpus file");
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        for statement in pg_query::split_with_parser(&text).expect("corpus splits") {
            let statement = statement.trim();
            if !statement.is_empty() {
                statements.push((name.clone(), statement.to_string()));
            }
        }
    }
    assert!(
        statements.len() >= 300,
        "the corpus has {} statements",
        statements.len()
    );
    statements
}

/// A seeded xorshift, so failures reproduce without a `rand` dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `sql` with some of its constants replaced by others of the same kind: numbers by other
/// numbers, strings by other strings (of any length, with quotes and non-ASCII text).
fn with_other_constants(sql: &str, rng: &mut Rng) -> String {
    const STRINGS: &[&str] = &[
        "''",
        "'x'",
        "'it''s'",
        "'ünïcode ✓'",
        "'2026-01-01'",
        "'%a%'",
    ];
    let mut out = String::with_capacity(sql.len() + 16);
    for token in Lexer::new(sql) {
        let replace = rng.next() % 3 != 0;
        match token.kind {
            TokenKind::Number if replace => {
                // Keep integers integral: some positions only take an integer constant.
                if token.text.contains(['.', 'e', 'E']) {
                    out.push_str(&format!("{}.5", rng.next() % 1000));
                } else {
                    out.push_str(&(rng.next() % 100_000).to_string());
                }
            }
            TokenKind::String if replace => {
                out.push_str(STRINGS[(rng.next() % STRINGS.len() as u64) as usize]);
            }
            _ => out.push_str(token.text),
        }
    }
    out
}

fn key(sql: &str) -> String {
    let mut key = String::new();
    shape_key_into(sql, &mut key);
    key
}

#[test]
fn normalization_is_idempotent_on_the_corpus() {
    for (file, sql) in corpus() {
        let once = normalize(&sql);
        assert_eq!(normalize(&once), once, "{file}: {sql}");
    }
}

/// Whether the statement is a query (SELECT, INSERT, UPDATE, DELETE, ...), whose constants
/// pg_query's fingerprint ignores. A utility statement's options are plain values that it
/// keeps (`COPY ... WITH (DELIMITER ';')`).
fn is_query(sql: &str) -> bool {
    Lexer::new(sql)
        .find(|t| !t.kind.is_trivia() && t.kind != TokenKind::OpenParen)
        .is_some_and(|t| {
            [
                "select", "insert", "update", "delete", "with", "values", "table", "merge",
            ]
            .iter()
            .any(|k| t.text.eq_ignore_ascii_case(k))
        })
}

#[test]
fn fingerprints_and_shape_keys_of_queries_ignore_constants() {
    let mut rng = Rng(0x05EE_D0FB_215C);
    let mut variants = 0;
    for (file, sql) in corpus().into_iter().filter(|(_, sql)| is_query(sql)) {
        let Ok(original) = fingerprint(&sql) else {
            panic!("{file}: the corpus must parse: {sql}");
        };
        for _ in 0..4 {
            let variant = with_other_constants(&sql, &mut rng);
            // A constant may sit where only some values parse (a typmod, UESCAPE); those
            // variants say nothing about fingerprints.
            let Ok(changed) = fingerprint(&variant) else {
                continue;
            };
            variants += 1;
            assert_eq!(
                changed, original,
                "{file}: fingerprint changed\n{sql}\n{variant}"
            );
            assert_eq!(
                key(&variant),
                key(&sql),
                "{file}: shape key changed\n{sql}\n{variant}"
            );
        }
    }
    assert!(variants > 1000, "only {variants} variants parsed");
}

#[test]
fn equal_shape_keys_mean_equal_fingerprints() {
    let mut rng = Rng(0x00C0_FFEE);
    let mut by_key: HashMap<String, (brisk_sql::Fingerprint, String)> = HashMap::new();
    let mut statements = 0;
    for (file, sql) in corpus() {
        let mut texts = vec![sql.clone()];
        texts.extend((0..3).map(|_| with_other_constants(&sql, &mut rng)));
        for text in texts {
            let Ok(found) = fingerprint(&text) else {
                continue;
            };
            statements += 1;
            let k = key(&text);
            match by_key.get(&k) {
                Some((seen, seen_sql)) => assert_eq!(
                    *seen, found,
                    "{file}: one shape key, two fingerprints\n{seen_sql}\n{text}\nkey: {k}"
                ),
                None => {
                    by_key.insert(k, (found, text));
                }
            }
        }
    }
    let distinct_fingerprints: std::collections::HashSet<_> =
        by_key.values().map(|(f, _)| *f).collect();
    // The key is finer than the fingerprint (it keeps `a = 1` and `a = $1` apart), but not
    // by much, or the cache would hold many entries per shape.
    assert!(
        by_key.len() <= distinct_fingerprints.len() * 2,
        "{} keys for {} fingerprints over {statements} statements",
        by_key.len(),
        distinct_fingerprints.len()
    );
}

#[test]
fn the_cache_answers_what_pg_query_answers() {
    let mut cache = FingerprintCache::new(256);
    let mut rng = Rng(0xCAC4E);
    for (file, sql) in corpus() {
        for text in [sql.clone(), with_other_constants(&sql, &mut rng)] {
            let direct = fingerprint(&text);
            let cached = cache.fingerprint(&text);
            assert_eq!(cached.ok(), direct.ok(), "{file}: {text}");
        }
    }
    assert!(cache.stats().hits > 0);
}

#[test]
fn the_shape_key_is_sql_with_the_original_fingerprint() {
    let mut rng = Rng(0x0B0E_5EED);
    let (mut parsed, mut total) = (0, 0);
    for (file, sql) in corpus() {
        for text in [sql.clone(), with_other_constants(&sql, &mut rng)] {
            let Ok(original) = fingerprint(&text) else {
                continue;
            };
            total += 1;
            let k = key(&text);
            // A key that does not parse is fine: the cache then parses the original.
            if let Ok(from_key) = fingerprint(&k) {
                parsed += 1;
                assert_eq!(from_key, original, "{file}\n{text}\nkey: {k}");
            }
        }
    }
    // Nearly every key parses; the few that do not hold a constant where the grammar
    // wants an integer (`varchar(10)`, `timestamp(3)`).
    assert!(
        parsed * 100 >= total * 95,
        "only {parsed} of {total} keys parse"
    );
}
