//! brisk-workload: what ran against a database, as query samples.
//!
//! A [`QuerySample`] is one query shape (its pg_query fingerprint and normalized text, `$1`
//! in place of values) with what is known about how it ran: parameter values, calls, total
//! and mean time, rows, and the session and order it ran in. `pg_stat_statements`, log files
//! and the proxy produce samples; the index advisor, the N+1 detector and the bench consume
//! them. A workload is saved as JSON lines, one sample per line: the format is documented in
//! `docs/workload.md` and is stable (fields are only added).
//!
//! A line can stand for one execution (a capture: `calls` 1, the `params` it ran with, its
//! `session` and `order`) or for many (an aggregate: `calls`, `total_ms`, no values). Readers
//! accept both, and several lines may share a fingerprint.
//!
//! Architecture invariant: this crate does no I/O of its own beyond the reader and writer it
//! is handed, and never opens a connection.
//!
//! ```
//! use brisk_workload::{read_jsonl, write_jsonl, QuerySample};
//!
//! let text = r#"{"query": "SELECT * FROM users WHERE id = $1", "params": ["42"], "calls": 3, "total_ms": 1.5}"#;
//! let workload = read_jsonl(text.as_bytes()).unwrap();
//! let sample = &workload.samples[0];
//! assert_eq!(sample.fingerprint.as_deref().map(str::len), Some(16));
//! assert_eq!(sample.mean_ms(), Some(0.5));
//! assert_eq!(sample.with_values().unwrap(), "SELECT * FROM users WHERE id = '42'");
//!
//! let mut out = Vec::new();
//! write_jsonl(&mut out, &workload.samples).unwrap();
//! assert_eq!(read_jsonl(out.as_slice()).unwrap(), workload);
//! ```

#![warn(missing_docs)]

use std::io::{BufRead, Write};

use brisk_sql::{Lexer, TokenKind};
use serde::{Deserialize, Serialize};

/// What went wrong reading or writing a workload, in words that say what to do.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// A line is not a sample.
    #[error("line {line}: {message}. Each line must be one JSON object with at least a \"query\" field (see docs/workload.md)")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// The reader or writer failed.
    #[error("{context}: {source}")]
    Io {
        /// What brisk was doing.
        context: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// One query shape and what is known about how it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuerySample {
    /// pg_query's fingerprint of the query, 16 hex digits (as `brisk_sql::fingerprint`
    /// prints it). Readers fill it in from `query` when a line leaves it out; it stays `None`
    /// only for text PostgreSQL's parser rejects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The query text, normalized: `$1`, `$2`, ... in place of values, as
    /// `pg_stat_statements` shows it. Text with literal values is accepted too; it then
    /// needs no `params`.
    pub query: String,
    /// The values of `$1`, `$2`, ... in order, in PostgreSQL's text format, unquoted; `null`
    /// for SQL NULL. Absent when unknown. They may hold personal data: reports never print
    /// them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Vec<Option<String>>>,
    /// How many executions the line stands for (default 1).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub calls: u64,
    /// Total execution time of those calls, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_ms: Option<f64>,
    /// Mean execution time per call, in milliseconds. Derived from `total_ms` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_ms: Option<f64>,
    /// Rows returned or affected, over all calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// The client session it ran in (any stable label: a backend pid, a proxy connection id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Its position among the statements of its session, from 0 or 1, increasing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<u64>,
    /// When it started, in milliseconds since the capture began (fractions allowed), so a
    /// replay can keep the captured timing. Absent in older captures and in aggregates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<f64>,
    /// Set on a line that reports a run of this statement the proxy recognized (an N+1 or
    /// row-by-row writes) rather than executions: `calls` and `total_ms` are then the run's,
    /// already counted by the capture lines of those executions, so readers that add up
    /// time skip such lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<Pattern>,
}

/// A run of one statement, repeated with different values, that should be one statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pattern {
    /// `n+1` (one lookup per row of `source`) or `bulk-write` (row-by-row `INSERT`s).
    pub kind: String,
    /// The normalized statement the run followed, for an N+1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The rewrite that makes the run one statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
    /// The client's `application_name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_name: Option<String>,
    /// A W3C `traceparent` from a sqlcommenter-style comment of the repeated statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

fn one() -> u64 {
    1
}

fn is_one(calls: &u64) -> bool {
    *calls == 1
}

impl QuerySample {
    /// A sample of `query` run once, with nothing else known; the fingerprint is computed.
    pub fn new(query: impl Into<String>) -> QuerySample {
        let query = query.into();
        QuerySample {
            fingerprint: fingerprint_of(&query),
            query,
            params: None,
            calls: 1,
            total_ms: None,
            mean_ms: None,
            rows: None,
            session: None,
            order: None,
            at_ms: None,
            pattern: None,
        }
    }

    /// The mean time per call in milliseconds: `mean_ms`, or `total_ms / calls`.
    pub fn mean_ms(&self) -> Option<f64> {
        self.mean_ms.or_else(|| {
            let total = self.total_ms?;
            (self.calls > 0).then(|| total / self.calls as f64)
        })
    }

    /// The total time of all calls in milliseconds: `total_ms`, or `mean_ms × calls`.
    pub fn total_ms(&self) -> Option<f64> {
        self.total_ms
            .or_else(|| self.mean_ms.map(|mean| mean * self.calls as f64))
    }

    /// The query with its parameter values written in as quoted literals (`'42'`, `NULL`),
    /// ready to run or `EXPLAIN`. `None` when there are no values, or fewer than the
    /// highest `$n`. A quoted literal is of unknown type until PostgreSQL resolves it from
    /// its context, as a bound parameter is, so `id = '42'` compares as an integer.
    pub fn with_values(&self) -> Option<String> {
        let params = self.params.as_ref()?;
        substitute(&self.query, params)
    }
}

/// `query` with each `$n` replaced by the n-th value as a quoted literal, or `NULL`; `None`
/// when a `$n` has no value.
pub fn substitute(query: &str, params: &[Option<String>]) -> Option<String> {
    let mut out = String::with_capacity(query.len() + params.len() * 8);
    for token in Lexer::new(query) {
        if token.kind != TokenKind::Parameter {
            out.push_str(token.text);
            continue;
        }
        let n: usize = token.text[1..].parse().ok()?;
        match params.get(n.checked_sub(1)?)? {
            Some(value) => quote_literal_into(value, &mut out),
            None => out.push_str("NULL"),
        }
    }
    Some(out)
}

pub use brisk_sql::quote_literal;

fn quote_literal_into(value: &str, out: &mut String) {
    out.push_str(&quote_literal(value));
}

fn fingerprint_of(query: &str) -> Option<String> {
    brisk_sql::fingerprint(query).ok().map(|f| f.to_string())
}

/// A sequence of query samples, in the order they were read or captured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Workload {
    /// The samples.
    pub samples: Vec<QuerySample>,
}

/// Reads JSON lines: one [`QuerySample`] per line; blank lines are skipped and unknown fields
/// ignored, so files from newer versions still read. Fills in missing fingerprints.
pub fn read_jsonl(reader: impl BufRead) -> Result<Workload, WorkloadError> {
    let mut samples = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        let line_number = index + 1;
        let line = line.map_err(|source| WorkloadError::Io {
            context: "reading the workload",
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let mut sample: QuerySample =
            serde_json::from_str(&line).map_err(|e| WorkloadError::Line {
                line: line_number,
                message: e.to_string(),
            })?;
        validate(&sample).map_err(|message| WorkloadError::Line {
            line: line_number,
            message,
        })?;
        if sample.fingerprint.is_none() {
            sample.fingerprint = fingerprint_of(&sample.query);
        }
        samples.push(sample);
    }
    Ok(Workload { samples })
}

fn validate(sample: &QuerySample) -> Result<(), String> {
    if sample.query.trim().is_empty() {
        return Err("\"query\" is empty".into());
    }
    for (name, value) in [
        ("total_ms", sample.total_ms),
        ("mean_ms", sample.mean_ms),
        ("at_ms", sample.at_ms),
    ] {
        if value.is_some_and(|v| !v.is_finite() || v < 0.0) {
            return Err(format!(
                "\"{name}\" must be a number of milliseconds, 0 or more"
            ));
        }
    }
    if let Some(fingerprint) = &sample.fingerprint {
        if fingerprint.len() != 16 || !fingerprint.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!(
                "\"fingerprint\" {fingerprint:?} is not 16 hex digits; leave it out and brisk computes it"
            ));
        }
    }
    Ok(())
}

/// Writes `samples` as JSON lines, one per line.
pub fn write_jsonl(mut writer: impl Write, samples: &[QuerySample]) -> Result<(), WorkloadError> {
    let io = |source| WorkloadError::Io {
        context: "writing the workload",
        source,
    };
    for sample in samples {
        // Serializing plain strings and numbers cannot fail.
        let line = serde_json::to_string(sample).unwrap_or_default();
        writer.write_all(line.as_bytes()).map_err(io)?;
        writer.write_all(b"\n").map_err(io)?;
    }
    writer.flush().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capture_line_and_an_aggregate_line_read_alike() {
        let text = "\n{\"fingerprint\": \"0123456789abcdef\", \"query\": \"SELECT 1 FROM t WHERE a = $1\", \"params\": [\"x\"], \"session\": \"7\", \"order\": 3, \"at_ms\": 12.5}\n\
                    {\"query\": \"SELECT 1 FROM t WHERE a = $1\", \"calls\": 10, \"mean_ms\": 2.0, \"rows\": 10, \"future_field\": true}\n";
        let workload = read_jsonl(text.as_bytes()).unwrap();
        assert_eq!(workload.samples.len(), 2);
        let capture = &workload.samples[0];
        assert_eq!(capture.calls, 1);
        assert_eq!(capture.fingerprint.as_deref(), Some("0123456789abcdef"));
        assert_eq!(capture.order, Some(3));
        assert_eq!(capture.at_ms, Some(12.5));
        assert_eq!(workload.samples[1].at_ms, None);
        let aggregate = &workload.samples[1];
        assert_eq!(aggregate.total_ms(), Some(20.0));
        assert_eq!(
            aggregate.fingerprint,
            Some(
                brisk_sql::fingerprint("SELECT 1 FROM t WHERE a = 5")
                    .unwrap()
                    .to_string()
            )
        );
    }

    #[test]
    fn values_are_written_in_as_quoted_literals() {
        let sample = QuerySample {
            params: Some(vec![Some("it's".into()), None, Some("{a,b}".into())]),
            ..QuerySample::new(
                "SELECT '$1' FROM t WHERE a = $1 AND b IS NOT DISTINCT FROM $2 AND tags @> $3",
            )
        };
        assert_eq!(
            sample.with_values().unwrap(),
            "SELECT '$1' FROM t WHERE a = 'it''s' AND b IS NOT DISTINCT FROM NULL AND tags @> '{a,b}'"
        );
        let short = QuerySample {
            params: Some(vec![Some("1".into())]),
            ..QuerySample::new("SELECT $1, $2")
        };
        assert_eq!(short.with_values(), None);
    }

    #[test]
    fn bad_lines_name_their_number() {
        let error =
            read_jsonl("{\"query\": \"SELECT 1\"}\n{\"calls\": 3}\n".as_bytes()).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("line 2: missing field `query`"),
            "{error}"
        );
        let error = read_jsonl("not json".as_bytes()).unwrap_err();
        assert!(error.to_string().starts_with("line 1: "), "{error}");
        let error =
            read_jsonl("{\"query\": \"SELECT 1\", \"total_ms\": -1}".as_bytes()).unwrap_err();
        assert!(error.to_string().contains("total_ms"), "{error}");
        let error = read_jsonl("{\"query\": \"SELECT 1\", \"at_ms\": -3}".as_bytes()).unwrap_err();
        assert!(error.to_string().contains("at_ms"), "{error}");
        let error = read_jsonl("{\"query\": \"SELECT 1\", \"fingerprint\": \"xyz\"}".as_bytes())
            .unwrap_err();
        assert!(error.to_string().contains("16 hex digits"), "{error}");
    }

    #[test]
    fn pattern_lines_round_trip_and_old_lines_have_none() {
        let line = r#"{"query": "SELECT name FROM authors WHERE id = $1", "calls": 20, "total_ms": 104.5, "session": "7", "pattern": {"kind": "n+1", "source": "SELECT id FROM books LIMIT $1", "suggestion": "WHERE id = ANY($1)"}}"#;
        let workload = read_jsonl(line.as_bytes()).unwrap();
        let pattern = workload.samples[0].pattern.as_ref().unwrap();
        assert_eq!(pattern.kind, "n+1");
        assert_eq!(
            pattern.source.as_deref(),
            Some("SELECT id FROM books LIMIT $1")
        );
        assert_eq!(pattern.traceparent, None);
        let mut out = Vec::new();
        write_jsonl(&mut out, &workload.samples).unwrap();
        assert_eq!(read_jsonl(out.as_slice()).unwrap(), workload);
        let plain = read_jsonl("{\"query\": \"SELECT 1\"}".as_bytes()).unwrap();
        assert_eq!(plain.samples[0].pattern, None);
        assert!(!String::from_utf8(out)
            .unwrap()
            .contains("\"pattern\": null"));
    }

    #[test]
    fn unparseable_queries_are_kept_without_a_fingerprint() {
        let workload = read_jsonl("{\"query\": \"SELEC oops\"}".as_bytes()).unwrap();
        assert_eq!(workload.samples[0].fingerprint, None);
    }
}
