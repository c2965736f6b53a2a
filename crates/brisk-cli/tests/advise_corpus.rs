//! `brisk advise` plans every statement of a corpus of normalized texts, as
//! pg_stat_statements prints them, over schemas in the styles of Django, SQLAlchemy,
//! Rails, Prisma, Hibernate and hand-written SQL (`tests/advise_corpus`):
//!
//! - `literal.sql` runs with its values on the sandbox, and brisk reads the normalized
//!   texts back from pg_stat_statements;
//! - `normalized.sql` holds `$n` texts as drivers that bind parameters leave them.
//!
//! A statement that does not plan fails the test with its text and the reason. This test
//! binary has a cluster of its own: other tests reset pg_stat_statements.

mod common;

use std::path::Path;

use common::{advise, findings, Db};
use serde_json::Value;

const SCHEMA: &str = include_str!("advise_corpus/schema.sql");
const LITERAL: &str = include_str!("advise_corpus/literal.sql");

/// The statements of a corpus file: one per line, comments and blank lines aside.
fn statement_count(text: &str) -> usize {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("--"))
        .count()
}

/// Every statement was planned, at least `expected` of them; otherwise the failure names
/// each skipped statement with its reason.
fn assert_all_planned(report: &Value, expected: usize, source: &str) {
    let skipped: Vec<String> = findings(report, "advise.skipped")
        .iter()
        .map(|f| format!("  {}\n    {}", f["query"], f["detail"]))
        .collect();
    assert!(
        skipped.is_empty(),
        "{source}: {} statements were not planned:\n{}",
        skipped.len(),
        skipped.join("\n")
    );
    let coverage = &report["coverage"];
    assert_eq!(coverage["planned"], coverage["statements"], "{source}");
    let planned = coverage["planned"].as_u64().unwrap_or(0);
    assert!(
        planned >= expected as u64,
        "{source}: {coverage}, expected {expected}"
    );
}

#[test]
fn every_statement_of_the_orm_corpus_is_planned() {
    let db = Db::fresh("advise_corpus");
    db.sql(SCHEMA);
    // Only the corpus: the schema's own inserts are not part of it.
    db.sql(
        "SELECT pg_stat_statements_reset(0, \
         (SELECT oid FROM pg_database WHERE datname = current_database()), 0);",
    );
    db.sql(LITERAL);
    // The sandbox tracks nested statements too (pg_stat_statements.track = all), so the
    // foreign keys' own lookups come along, as they would on a server set up so.
    let literal = statement_count(LITERAL);
    let from_statements = advise(&db.url(), &["--top", "1000"]);
    assert_all_planned(&from_statements, literal, "pg_stat_statements");
    assert_eq!(from_statements["coverage"]["time_pct"], 100.0);

    let normalized =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/advise_corpus/normalized.sql");
    let text = std::fs::read_to_string(&normalized).unwrap();
    let report = advise(&db.url(), &["--workload", normalized.to_str().unwrap()]);
    assert_all_planned(&report, statement_count(&text), "normalized.sql");
    assert!(
        literal + statement_count(&text) >= 200,
        "the corpus holds at least 200 statements"
    );
}
