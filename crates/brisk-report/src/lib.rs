//! brisk-report: the [`Finding`] model and its renderers.
//!
//! Every brisk command that judges something (a database, a workload, a Redis keyspace)
//! produces [`Finding`]s collected in a [`Report`]. This crate turns a report into a terminal
//! page ([`render_text`]) or into JSON with a stable, documented schema ([`render_json`], see
//! `docs/json-report.md`).
//!
//! Architecture invariant: this crate knows nothing about PostgreSQL or Redis. A finding's
//! check id, subject and SQL are opaque strings here.
//!
//! ```
//! use brisk_report::{Evidence, Finding, Report, Severity, Target, Unit};
//!
//! let mut report = Report::new("check", Target::new("postgresql", "postgres://db/app"));
//! report.findings.push(
//!     Finding::new("index.unused", Severity::Warning, "public.idx_old", "Index is never used")
//!         .evidence(Evidence::new("size", 8192.0, Unit::Bytes)),
//! );
//! assert_eq!(report.summary().warning, 1);
//! let text = brisk_report::render_text(&report);
//! assert!(text.contains("index.unused"));
//! ```

pub mod chart;
mod format;
mod json;
mod text;

use serde::{Deserialize, Serialize};

pub use format::{
    format_bytes, format_count, format_duration_secs, format_utc_minute, format_value,
};
pub use json::{render_json, SCHEMA_VERSION};
pub use text::{render_text, render_text_with, TextOptions, DEFAULT_WIDTH};

/// How bad a finding is. Ordered: `Info < Warning < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; no action needed on its own.
    Info,
    /// Costs performance or money now, or will soon.
    Warning,
    /// Causes or is about to cause an outage or data loss.
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// The unit of an [`Evidence`] value, so renderers can print `48.2 MiB` or `3 d 4 h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// A plain number of things (rows, scans, transaction ids).
    Count,
    Bytes,
    Seconds,
    #[serde(rename = "ms")]
    Milliseconds,
    /// 0 to 100.
    Percent,
}

/// One named number that justifies a finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub name: String,
    pub value: f64,
    pub unit: Unit,
}

impl Evidence {
    pub fn new(name: impl Into<String>, value: f64, unit: Unit) -> Self {
        Evidence {
            name: name.into(),
            value,
            unit,
        }
    }
}

/// What kind of change a [`Fix`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FixKind {
    /// SQL to run against the database.
    Sql,
    /// A configuration change (a setting, a file).
    Config,
    /// Something a person has to do, described in words.
    Manual,
}

/// The change that resolves a finding, and how to undo it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fix {
    pub kind: FixKind,
    /// The SQL, setting or instruction that applies the fix.
    pub apply: String,
    /// How to undo `apply`, when it can be undone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<String>,
    /// Trade-offs a person should know before applying (locks, downtime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Fix {
    pub fn sql(apply: impl Into<String>) -> Self {
        Fix {
            kind: FixKind::Sql,
            apply: apply.into(),
            rollback: None,
            note: None,
        }
    }

    pub fn config(apply: impl Into<String>) -> Self {
        Fix {
            kind: FixKind::Config,
            ..Fix::sql(apply)
        }
    }

    pub fn manual(apply: impl Into<String>) -> Self {
        Fix {
            kind: FixKind::Manual,
            ..Fix::sql(apply)
        }
    }

    pub fn rollback(mut self, rollback: impl Into<String>) -> Self {
        self.rollback = Some(rollback.into());
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// What applying the fix changes. `estimated` figures come from statistics or planner costs;
/// `measured` figures come from a real run. Renderers always label which is which.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Impact {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub estimated: Vec<Evidence>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measured: Vec<Evidence>,
}

/// One judgement about the target, with the numbers behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable check id, `area.name`, e.g. `index.unused`. Users filter and suppress by it.
    pub check: String,
    pub severity: Severity,
    /// The object judged: `public.messages`, `public.messages_pkey`, `database app`.
    pub subject: String,
    /// One line that says what is wrong.
    pub title: String,
    /// Why it matters and how sure we are, in a few sentences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Normalized query text (`$1` for values) when the finding is about a query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    pub evidence: Vec<Evidence>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<Fix>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact: Option<Impact>,
}

impl Finding {
    pub fn new(
        check: impl Into<String>,
        severity: Severity,
        subject: impl Into<String>,
        title: impl Into<String>,
    ) -> Self {
        Finding {
            check: check.into(),
            severity,
            subject: subject.into(),
            title: title.into(),
            detail: None,
            query: None,
            evidence: Vec::new(),
            fix: None,
            impact: None,
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn query(mut self, query: impl Into<String>) -> Self {
        self.query = Some(query.into());
        self
    }

    pub fn evidence(mut self, evidence: Evidence) -> Self {
        self.evidence.push(evidence);
        self
    }

    pub fn fix(mut self, fix: Fix) -> Self {
        self.fix = Some(fix);
        self
    }

    pub fn estimated(mut self, evidence: Evidence) -> Self {
        self.impact
            .get_or_insert_with(Impact::default)
            .estimated
            .push(evidence);
        self
    }

    /// The value of the evidence named `name`, if present.
    pub fn evidence_value(&self, name: &str) -> Option<f64> {
        self.evidence
            .iter()
            .chain(self.impact.iter().flat_map(|i| &i.estimated))
            .chain(self.impact.iter().flat_map(|i| &i.measured))
            .find(|e| e.name == name)
            .map(|e| e.value)
    }
}

/// What was examined.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// `postgresql`, `redis`, `sql-files`.
    pub kind: String,
    /// Where it is, with any password removed.
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl Target {
    pub fn new(kind: impl Into<String>, address: impl Into<String>) -> Self {
        Target {
            kind: kind.into(),
            address: address.into(),
            version: None,
        }
    }
}

/// A check that could not run, and why (usually a missing privilege or extension).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub check: String,
    pub reason: String,
}

/// How much of a workload a command could judge: `planned` of `statements`, and the
/// planned ones' share of the workload's measured time. The headline of `brisk advise`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    pub planned: usize,
    pub statements: usize,
    /// 0 to 100; absent when the workload's times were not measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_pct: Option<f64>,
}

impl std::fmt::Display for Coverage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Planned {} of {} statements",
            self.planned, self.statements
        )?;
        match self.time_pct {
            Some(pct) => write!(f, ", {pct:.1}% of the workload's total time"),
            None => write!(f, " (the workload's times were not measured)"),
        }
    }
}

/// Counts of findings by severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub critical: usize,
    pub warning: usize,
    pub info: usize,
}

/// Everything one command run found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The brisk subcommand that produced it: `check`, `lint`, `redis`.
    pub command: String,
    pub target: Target,
    /// Check ids that ran to completion.
    pub checks_run: Vec<String>,
    pub skipped: Vec<Skipped>,
    pub findings: Vec<Finding>,
    /// For commands that judge a workload: how much of it they could judge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<Coverage>,
    /// Context a reader needs to weigh the findings (e.g. how old the statistics are).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Report {
    pub fn new(command: impl Into<String>, target: Target) -> Self {
        Report {
            command: command.into(),
            target,
            checks_run: Vec::new(),
            skipped: Vec::new(),
            findings: Vec::new(),
            coverage: None,
            notes: Vec::new(),
        }
    }

    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for finding in &self.findings {
            match finding.severity {
                Severity::Critical => summary.critical += 1,
                Severity::Warning => summary.warning += 1,
                Severity::Info => summary.info += 1,
            }
        }
        summary
    }

    /// The most severe finding's severity, if there is any finding.
    pub fn max_severity(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// Orders findings for reading: most severe first, then by check id. The sort is stable,
    /// so within one check the order its producer chose (worst first, a ranking) is kept.
    pub fn sort(&mut self) {
        self.findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| a.check.cmp(&b.check))
        });
    }
}
