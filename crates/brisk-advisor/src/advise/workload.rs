//! The queries to advise on: read from `pg_stat_statements`, a JSON-lines workload or a
//! plain `.sql` file, grouped by fingerprint, parsed and analyzed once each.
//!
//! Statements that are not queries (DDL, `SET`, transaction control) are counted and left
//! out; statements PostgreSQL's parser rejects are listed with the reason and skipped.

use std::collections::{HashMap, HashSet};

use brisk_pg::stats::WorkloadStatement;
use brisk_sql::{
    analyze, normalize, ConstantPredicate, StatementAnalysis, StatementKind, TableName,
};
use brisk_workload::Workload;

/// How many example texts (with values) of one query shape are kept for planning: what-if
/// planning explains each, and five are enough to find one with typical row counts.
const MAX_EXAMPLES: usize = 5;

/// How many distinct value sets of one query shape are read to tell a constant that every
/// call repeats (`state = 'pending'`, a partial index's `WHERE`) from a value that changes
/// between calls. Parsing each costs about 20 µs; a capture's shape rarely has a constant
/// that changes only after its first 200 distinct value sets.
const MAX_VALUE_SETS: usize = 200;

/// One query shape of the workload.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    pub fingerprint: String,
    /// For reports: values replaced by `$n`.
    pub normalized: String,
    /// Texts with values, when known: from the file, or `params` written in (at most
    /// `MAX_EXAMPLES`, the first seen).
    pub examples: Vec<String>,
    pub calls: f64,
    /// Mean execution time per call in milliseconds, when the source measured it.
    pub mean_ms: Option<f64>,
    /// Rows returned or affected over all calls, when known.
    pub rows: Option<f64>,
    /// What the statement does: from the first example, or from the normalized text.
    pub analysis: StatementAnalysis,
    /// Per table reference of `analysis`: the constant predicates every distinct value set
    /// read (up to `MAX_VALUE_SETS`) repeats.
    pub fixed_constants: Vec<Vec<ConstantPredicate>>,
    /// For an `UPDATE`: the columns its `SET` changes.
    pub updated_columns: Vec<String>,
}

impl Query {
    /// Whether planning needs parameter values (the text still holds `$n`).
    pub fn needs_values(&self) -> bool {
        self.examples.is_empty() && has_parameters(&self.normalized)
    }
}

/// A statement of the workload that was left out, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct SkippedQuery {
    /// Where it came from: `line 12`, `queryid 4242`.
    pub origin: String,
    /// Normalized text, values replaced by `$n`.
    pub query: String,
    pub reason: String,
    /// Its calls × mean time in milliseconds, when the source measured it.
    pub total_ms: Option<f64>,
}

/// What a source yields.
#[derive(Debug, Default)]
pub(crate) struct Collected {
    pub queries: Vec<Query>,
    pub skipped: Vec<SkippedQuery>,
    /// Statements that are not queries (DDL, `SET`, `BEGIN`, ...), left out silently.
    pub not_queries: usize,
    /// N+1 and row-by-row write runs a proxy capture recorded.
    pub patterns: Vec<RepeatedRuns>,
}

/// The runs of one pattern a capture recorded (its `pattern` lines), summed: one
/// statement run once per row after `source`, or row-by-row `INSERT`s.
#[derive(Debug, Clone, PartialEq)]
pub struct RepeatedRuns {
    /// `n+1` or `bulk-write`.
    pub kind: String,
    pub source: Option<String>,
    /// The repeated statement, normalized.
    pub repeated: String,
    pub runs: u64,
    pub executions: u64,
    pub total_ms: f64,
    pub longest_run: u64,
    pub suggestion: Option<String>,
    /// Every `application_name` seen, in order of first sight.
    pub applications: Vec<String>,
    /// The latest `traceparent` seen.
    pub traceparent: Option<String>,
}

/// Sums a workload's pattern lines per (kind, source, repeated statement), most time first.
fn patterns_of(workload: &Workload) -> Vec<RepeatedRuns> {
    let mut patterns: Vec<RepeatedRuns> = Vec::new();
    for sample in &workload.samples {
        let Some(pattern) = &sample.pattern else {
            continue;
        };
        let repeated = normalize(&sample.query);
        let at = patterns.iter().position(|p| {
            p.kind == pattern.kind && p.source == pattern.source && p.repeated == repeated
        });
        let entry = match at {
            Some(i) => &mut patterns[i],
            None => {
                patterns.push(RepeatedRuns {
                    kind: pattern.kind.clone(),
                    source: pattern.source.clone(),
                    repeated,
                    runs: 0,
                    executions: 0,
                    total_ms: 0.0,
                    longest_run: 0,
                    suggestion: None,
                    applications: Vec::new(),
                    traceparent: None,
                });
                patterns.last_mut().expect("just pushed")
            }
        };
        entry.runs += 1;
        entry.executions += sample.calls;
        entry.total_ms += sample.total_ms().unwrap_or(0.0);
        entry.longest_run = entry.longest_run.max(sample.calls);
        if pattern.suggestion.is_some() {
            entry.suggestion.clone_from(&pattern.suggestion);
        }
        if let Some(app) = &pattern.application_name {
            if !entry.applications.contains(app) {
                entry.applications.push(app.clone());
            }
        }
        if pattern.traceparent.is_some() {
            entry.traceparent.clone_from(&pattern.traceparent);
        }
    }
    patterns.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
    patterns
}

/// One statement as a source hands it over, before grouping.
struct Sample {
    origin: String,
    fingerprint: Option<String>,
    normalized: String,
    example: Option<String>,
    calls: f64,
    total_ms: Option<f64>,
    rows: Option<f64>,
}

/// From `pg_stat_statements`: already normalized and summed.
pub(crate) fn from_statements(statements: &[WorkloadStatement]) -> Collected {
    let samples = statements.iter().map(|s| Sample {
        origin: format!("queryid {}", s.query_id),
        fingerprint: brisk_sql::fingerprint(&s.query).ok().map(|f| f.to_string()),
        normalized: s.query.clone(),
        example: (!has_parameters(&s.query)).then(|| s.query.clone()),
        calls: s.calls as f64,
        total_ms: Some(s.total_ms),
        rows: Some(s.rows as f64),
    });
    group(samples)
}

/// From a JSON-lines workload. Pattern lines restate executions the capture lines hold:
/// they are reported, not weighed.
pub(crate) fn from_workload(workload: &Workload) -> Collected {
    let samples = workload.samples.iter().enumerate();
    let samples = samples
        .filter(|(_, s)| s.pattern.is_none())
        .map(|(i, s)| Sample {
            origin: format!("sample {}", i + 1),
            fingerprint: s.fingerprint.clone(),
            normalized: normalize(&s.query),
            example: s
                .with_values()
                .or_else(|| (!has_parameters(&s.query)).then(|| s.query.clone())),
            calls: s.calls as f64,
            total_ms: s.total_ms(),
            rows: s.rows.map(|r| r as f64),
        });
    Collected {
        patterns: patterns_of(workload),
        ..group(samples)
    }
}

/// From a plain SQL file: each statement is one call, with its values.
pub(crate) fn from_sql(text: &str) -> Collected {
    // brisk-sql's split keeps each statement with a syntax error apart, to be reported
    // alone, and a `BEGIN ATOMIC` body with its function.
    let samples = brisk_sql::split(text).into_iter().map(
        |brisk_sql::Statement {
             line,
             text: statement,
             ..
         }| Sample {
            origin: format!("line {line}"),
            fingerprint: brisk_sql::fingerprint(statement)
                .ok()
                .map(|f| f.to_string()),
            normalized: normalize(statement),
            example: Some(statement.to_string()),
            calls: 1.0,
            total_ms: None,
            rows: None,
        },
    );
    group(samples)
}

/// Whether the text holds a `$n` parameter outside strings and comments.
pub(crate) fn has_parameters(text: &str) -> bool {
    brisk_sql::Lexer::new(text).any(|t| t.kind == brisk_sql::TokenKind::Parameter)
}

/// Groups samples by fingerprint, parses each shape once and keeps what the advisor needs.
fn group(samples: impl Iterator<Item = Sample>) -> Collected {
    struct Group {
        origin: String,
        normalized: String,
        /// Distinct texts with values, in order of first sight, up to `MAX_VALUE_SETS`.
        value_sets: Vec<String>,
        seen: HashSet<String>,
        calls: f64,
        total_ms: Option<f64>,
        all_timed: bool,
        rows: Option<f64>,
    }
    let mut collected = Collected::default();
    let mut order: Vec<String> = Vec::new();
    let mut groups: HashMap<String, Group> = HashMap::new();
    for sample in samples {
        let Some(fingerprint) = sample.fingerprint else {
            let reason = match analyze(sample.example.as_deref().unwrap_or(&sample.normalized)) {
                Err(e) => format!("does not parse: {e}"),
                Ok(_) => "does not parse".to_string(),
            };
            collected.skipped.push(SkippedQuery {
                origin: sample.origin,
                query: sample.normalized,
                reason,
                total_ms: sample.total_ms,
            });
            continue;
        };
        let group = groups.entry(fingerprint.clone()).or_insert_with(|| {
            order.push(fingerprint.clone());
            Group {
                origin: sample.origin.clone(),
                normalized: sample.normalized.clone(),
                value_sets: Vec::new(),
                seen: HashSet::new(),
                calls: 0.0,
                total_ms: None,
                all_timed: true,
                rows: None,
            }
        });
        group.calls += sample.calls;
        match sample.total_ms {
            Some(ms) => group.total_ms = Some(group.total_ms.unwrap_or(0.0) + ms),
            None => group.all_timed = false,
        }
        if let Some(rows) = sample.rows {
            group.rows = Some(group.rows.unwrap_or(0.0) + rows);
        }
        if let Some(example) = sample.example {
            if group.value_sets.len() < MAX_VALUE_SETS && group.seen.insert(example.clone()) {
                group.value_sets.push(example);
            }
        }
    }
    for fingerprint in order {
        let Some(group) = groups.remove(&fingerprint) else {
            continue;
        };
        let text = group.value_sets.first().unwrap_or(&group.normalized);
        let statements = match analyze(text) {
            Ok(statements) => statements,
            Err(e) => {
                collected.skipped.push(SkippedQuery {
                    origin: group.origin,
                    query: group.normalized,
                    reason: format!("does not parse: {e}"),
                    total_ms: group.total_ms.filter(|_| group.all_timed),
                });
                continue;
            }
        };
        let Ok([analysis]) = <[StatementAnalysis; 1]>::try_from(statements) else {
            collected.skipped.push(SkippedQuery {
                origin: group.origin,
                query: group.normalized,
                reason: "holds several statements; give them one per line".to_string(),
                total_ms: group.total_ms.filter(|_| group.all_timed),
            });
            continue;
        };
        if !matches!(
            analysis.kind,
            StatementKind::Select
                | StatementKind::Insert
                | StatementKind::Update
                | StatementKind::Delete
        ) {
            collected.not_queries += 1;
            continue;
        }
        let fixed_constants = fixed_constants(&analysis, &group.value_sets);
        let updated_columns = if analysis.kind == StatementKind::Update {
            updated_columns(text)
        } else {
            Vec::new()
        };
        let mean_ms = group
            .total_ms
            .filter(|_| group.all_timed && group.calls > 0.0)
            .map(|total| total / group.calls);
        collected.queries.push(Query {
            fingerprint,
            normalized: group.normalized,
            examples: group.value_sets.into_iter().take(MAX_EXAMPLES).collect(),
            calls: group.calls,
            mean_ms,
            rows: group.rows,
            analysis,
            fixed_constants,
            updated_columns,
        });
    }
    collected
}

/// Per table reference: the constant predicates that all value sets share. Without values
/// (a normalized text), the constants the text itself holds (`deleted_at IS NULL`).
///
/// Every value set must repeat a constant, not nearly every one: the calls a partial index
/// does not match fall back to another plan, often a sequential scan, and 1% of calls on a
/// sequential scan can cost more than the index saves the other 99%.
fn fixed_constants(
    first: &StatementAnalysis,
    value_sets: &[String],
) -> Vec<Vec<ConstantPredicate>> {
    let mut fixed: Vec<Vec<ConstantPredicate>> =
        first.tables.iter().map(|t| t.constants.clone()).collect();
    for example in value_sets.iter().skip(1) {
        if fixed.iter().all(Vec::is_empty) {
            break;
        }
        let Ok(statements) = analyze(example) else {
            continue;
        };
        let Some(other) = statements.first() else {
            continue;
        };
        for (i, kept) in fixed.iter_mut().enumerate() {
            let theirs = other
                .tables
                .get(i)
                .map(|t| t.constants.as_slice())
                .unwrap_or(&[]);
            kept.retain(|c| theirs.contains(c));
        }
    }
    fixed
}

/// The columns an `UPDATE` assigns (`SET a = ..., (b, c) = ...`).
fn updated_columns(text: &str) -> Vec<String> {
    let Ok(parsed) = pg_query::parse(text) else {
        return Vec::new();
    };
    let mut columns = Vec::new();
    for (node, ..) in parsed.protobuf.nodes() {
        if let pg_query::NodeRef::UpdateStmt(update) = node {
            for target in &update.target_list {
                if let Some(pg_query::NodeEnum::ResTarget(t)) = &target.node {
                    if !columns.contains(&t.name) {
                        columns.push(t.name.clone());
                    }
                }
            }
        }
    }
    columns
}

/// The tables a query names, without duplicates, reads and writes together.
pub(crate) fn tables_of(query: &Query) -> Vec<TableName> {
    let mut tables: Vec<TableName> = Vec::new();
    for table in query
        .analysis
        .reads
        .iter()
        .chain(&query.analysis.writes)
        .chain(query.analysis.tables.iter().map(|t| &t.table))
    {
        if !tables.contains(table) {
            tables.push(table.clone());
        }
    }
    tables
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_lines_are_reported_not_weighed() {
        let text = r#"{"query": "SELECT id FROM books LIMIT $1", "params": ["2"], "session": "1", "order": 1}
{"query": "SELECT name FROM authors WHERE id = $1", "params": ["1"], "total_ms": 6.0, "session": "1", "order": 2}
{"query": "SELECT name FROM authors WHERE id = $1", "params": ["2"], "total_ms": 7.0, "session": "1", "order": 3}
{"query": "SELECT name FROM authors WHERE id = $1", "calls": 2, "total_ms": 13.0, "session": "1", "pattern": {"kind": "n+1", "source": "SELECT id FROM books LIMIT $1", "suggestion": "WHERE id = ANY($1)", "application_name": "shop"}}
{"query": "SELECT name FROM authors WHERE id = $1", "calls": 5, "total_ms": 30.0, "session": "2", "pattern": {"kind": "n+1", "source": "SELECT id FROM books LIMIT $1", "application_name": "admin"}}"#;
        let collected = from_workload(&brisk_workload::read_jsonl(text.as_bytes()).unwrap());
        let lookup = collected
            .queries
            .iter()
            .find(|q| q.normalized.contains("authors"))
            .unwrap();
        assert_eq!(lookup.calls, 2.0, "the capture lines only");
        assert_eq!(lookup.mean_ms, Some(6.5));
        assert_eq!(collected.patterns.len(), 1);
        let runs = &collected.patterns[0];
        assert_eq!((runs.runs, runs.executions, runs.longest_run), (2, 7, 5));
        assert_eq!(runs.total_ms, 43.0);
        assert_eq!(runs.applications, ["shop", "admin"]);
        assert_eq!(runs.suggestion.as_deref(), Some("WHERE id = ANY($1)"));
    }

    #[test]
    fn sql_files_group_by_shape_and_list_what_does_not_parse() {
        let text = "SELECT id FROM users WHERE email = 'a@x';\n\
                    -- a comment\n\
                    SELECT id FROM users WHERE email = 'b@x';\n\
                    SELEC broken;\n\
                    SET work_mem = '64MB';\n\
                    UPDATE users SET last_seen = now(), (a, b) = (1, 2) WHERE id = 4;\n";
        let collected = from_sql(text);
        assert_eq!(collected.queries.len(), 2);
        let lookup = &collected.queries[0];
        assert_eq!(lookup.calls, 2.0);
        assert_eq!(lookup.examples.len(), 2);
        assert_eq!(lookup.normalized, "SELECT id FROM users WHERE email = $1");
        // The email differs between the examples: it is not a constant of the shape.
        assert!(lookup.fixed_constants[0].is_empty());
        assert_eq!(
            collected.queries[1].updated_columns,
            ["last_seen", "a", "b"]
        );
        assert_eq!(collected.not_queries, 1);
        assert_eq!(collected.skipped.len(), 1);
        assert_eq!(collected.skipped[0].origin, "line 4");
        assert!(collected.skipped[0].reason.starts_with("does not parse"));
    }

    #[test]
    fn a_function_with_a_begin_atomic_body_is_one_statement_not_fragments() {
        // Split at every `;`, the body's `SELECT`s became queries of their own and the rest
        // "did not parse".
        let text = "CREATE FUNCTION active(u int) RETURNS bigint LANGUAGE sql\n\
                    BEGIN ATOMIC\n\
                      SELECT count(*) FROM sessions WHERE user_id = u;\n\
                    END;\n\
                    SELECT id FROM users WHERE email = 'a@x';\n";
        let collected = from_sql(text);
        assert!(collected.skipped.is_empty(), "{:?}", collected.skipped);
        assert_eq!(collected.not_queries, 1);
        assert_eq!(collected.queries.len(), 1);
        assert_eq!(
            collected.queries[0].normalized,
            "SELECT id FROM users WHERE email = $1"
        );
    }

    #[test]
    fn constants_every_example_repeats_are_fixed() {
        let workload = brisk_workload::read_jsonl(
            "{\"query\": \"SELECT id FROM c WHERE user_id = $1 AND archived = $2\", \"params\": [\"1\", \"false\"], \"calls\": 3, \"total_ms\": 3}\n\
             {\"query\": \"SELECT id FROM c WHERE user_id = $1 AND archived = $2\", \"params\": [\"2\", \"false\"], \"calls\": 1, \"total_ms\": 5}\n"
                .as_bytes(),
        )
        .unwrap();
        let collected = from_workload(&workload);
        let query = &collected.queries[0];
        assert_eq!(query.calls, 4.0);
        assert_eq!(query.mean_ms, Some(2.0));
        let fixed: Vec<String> = query.fixed_constants[0]
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(fixed, ["archived = 'false'"]);
    }

    #[test]
    fn a_constant_that_changes_after_the_planned_examples_is_not_fixed() {
        let line = |user: usize, state: &str| {
            format!("{{\"query\": \"SELECT id FROM o WHERE user_id = $1 AND state = $2\", \"params\": [\"{user}\", \"{state}\"]}}\n")
        };
        let mut text: String = (1..=MAX_EXAMPLES + 2).map(|u| line(u, "pending")).collect();
        let collected = from_workload(&brisk_workload::read_jsonl(text.as_bytes()).unwrap());
        assert_eq!(collected.queries[0].examples.len(), MAX_EXAMPLES);
        assert_eq!(collected.queries[0].fixed_constants[0].len(), 1);
        text.push_str(&line(99, "shipped"));
        let collected = from_workload(&brisk_workload::read_jsonl(text.as_bytes()).unwrap());
        assert!(collected.queries[0].fixed_constants[0].is_empty());
    }
}
