//! The merged aggregate as tables (the JSON `logs` object and the text statement table),
//! as findings, and as a workload.

use std::fmt::Write as _;

use brisk_report::{format_bytes, Evidence, Finding, Fix, Report, Severity, Target, Unit};
use brisk_workload::{Pattern, QuerySample};
use serde::Serialize;

use crate::aggregate::{Aggregate, Sum, OTHER_KEY};
use crate::input::FileOutcome;

/// Everything a log says, in tables. Serialized as the `logs` object of the JSON report
/// (docs/logs.md).
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub files: Vec<FileRow>,
    /// First and last message times, ISO 8601 UTC.
    pub first: Option<String>,
    pub last: Option<String>,
    pub messages: u64,
    /// Messages left out by `--since`/`--until`.
    pub outside_window: u64,
    /// Duration lines not counted as statements: parse and bind steps, bare
    /// `log_duration` lines, auto_explain plans.
    pub other_durations: u64,
    pub statements: Vec<StatementRow>,
    pub slowest: Vec<SampleRow>,
    pub errors: Vec<ErrorRow>,
    pub cancellations: Vec<CountRow>,
    pub deadlocks: u64,
    pub lock_waits: Vec<LockRow>,
    pub temp_files: Vec<TempRow>,
    pub checkpoints: CheckpointRow,
    pub maintenance: Vec<MaintenanceRow>,
    pub connections: ConnectionRow,
    pub n_plus_one: Vec<PatternRow>,
    /// Whether statements could be followed per session (N+1 detection ran).
    pub sessions_known: bool,
    pub minutes: Vec<MinuteRow>,
    /// Kept for the workload, never serialized: values may be personal data.
    #[serde(skip)]
    samples: Vec<WorkloadSample>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileRow {
    pub path: String,
    pub format: Option<&'static str>,
    pub compression: Option<&'static str>,
    pub prefix: Option<String>,
    pub lines: u64,
    pub bytes: u64,
    pub unmatched_lines: u64,
    pub too_long_lines: u64,
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatementRow {
    /// 16 hex digits: pg_query's fingerprint, or the hash of the shape when PostgreSQL's
    /// parser rejects the text (`parsed` false).
    pub fingerprint: String,
    pub parsed: bool,
    pub query: String,
    pub calls: u64,
    pub total_ms: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
    pub temp_files: u64,
    pub temp_bytes: u64,
    pub lock_waits: u64,
    pub by: Vec<ContextRow>,
    /// auto_explain plans, one per shape, most logged first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plans: Vec<PlanRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanRow {
    /// The first one logged of this shape, numbers included.
    pub plan: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContextRow {
    pub database: String,
    pub user: String,
    pub application: String,
    pub calls: u64,
    pub total_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SampleRow {
    pub duration_ms: f64,
    pub at: Option<String>,
    pub database: String,
    pub user: String,
    pub application: String,
    pub fingerprint: String,
    pub query: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorRow {
    pub sqlstate: Option<String>,
    /// The SQLSTATE's class (its first two characters).
    pub class: Option<String>,
    pub level: &'static str,
    pub message: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CountRow {
    pub reason: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LockRow {
    pub fingerprint: String,
    pub query: String,
    /// `still waiting` messages: waits longer than `deadlock_timeout`.
    pub waits: u64,
    pub acquired: u64,
    pub total_wait_ms: f64,
    pub max_wait_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TempRow {
    pub fingerprint: String,
    pub query: String,
    pub files: u64,
    pub total_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckpointRow {
    pub started: u64,
    pub completed: u64,
    pub total_secs: f64,
    pub max_secs: f64,
    pub buffers: u64,
    pub too_frequent_warnings: u64,
    pub min_secs_apart: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MaintenanceRow {
    pub table: String,
    pub autovacuums: u64,
    pub vacuum_secs: f64,
    pub autoanalyzes: u64,
    pub analyze_secs: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConnectionRow {
    pub received: u64,
    pub authorized: u64,
    pub disconnections: u64,
    pub mean_session_secs: Option<f64>,
    pub max_session_secs: Option<f64>,
    pub by_user_database: Vec<UserDatabaseRow>,
    pub by_host: Vec<HostRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UserDatabaseRow {
    pub user: String,
    pub database: String,
    pub connections: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostRow {
    pub host: String,
    pub connections: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PatternRow {
    pub kind: &'static str,
    pub database: String,
    pub source: Option<String>,
    pub repeated: String,
    pub occurrences: u64,
    pub executions: u64,
    pub total_ms: f64,
    pub max_run: u64,
    pub application_name: String,
    pub suggestion: String,
    pub orm_hint: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MinuteRow {
    /// Epoch seconds of the minute's start.
    pub minute: i64,
    pub statements: u64,
    pub total_ms: f64,
    pub mean_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
}

#[derive(Debug, Clone)]
struct WorkloadSample {
    fingerprint: String,
    query: String,
    calls: u64,
    total_ms: f64,
    executions: Vec<Execution>,
}

/// One kept execution: the text as logged, its values, its time and its session.
#[derive(Debug, Clone)]
struct Execution {
    text: String,
    params: Option<Vec<Option<String>>>,
    ms: f64,
    session: Option<String>,
}

fn hex(key: u64) -> String {
    format!("{key:016x}")
}

/// Epoch milliseconds as `2026-12-06T01:02:03.456Z`.
pub fn iso(epoch_ms: i64) -> String {
    let secs = epoch_ms.div_euclid(1000);
    let millis = epoch_ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn mean(sum: &Sum) -> f64 {
    if sum.count == 0 {
        0.0
    } else {
        sum.total_ms / sum.count as f64
    }
}

impl Analysis {
    pub fn build(aggregate: Aggregate, files: Vec<FileOutcome>) -> Analysis {
        let detections = aggregate.detections();
        let text_of = |key: u64| {
            aggregate
                .statements
                .get(&key)
                .map_or_else(String::new, |s| s.text.to_string())
        };
        let mut statements = Vec::new();
        let mut lock_waits = Vec::new();
        let mut temp_files = Vec::new();
        let mut samples = Vec::new();
        for (&key, s) in &aggregate.statements {
            let quantile = |q: f64| s.histogram.value_at_quantile(q) as f64 / 1000.0;
            if s.executions.count > 0 {
                let mut by: Vec<ContextRow> = s
                    .by_context
                    .iter()
                    .map(|((database, user, application), sum)| ContextRow {
                        database: database.to_string(),
                        user: user.to_string(),
                        application: application.to_string(),
                        calls: sum.count,
                        total_ms: sum.total_ms,
                    })
                    .collect();
                by.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
                statements.push(StatementRow {
                    fingerprint: hex(key),
                    parsed: s.parsed,
                    query: s.text.to_string(),
                    calls: s.executions.count,
                    total_ms: s.executions.total_ms,
                    mean_ms: mean(&s.executions),
                    p50_ms: quantile(0.5),
                    p95_ms: quantile(0.95),
                    p99_ms: quantile(0.99),
                    max_ms: s.executions.max_ms,
                    errors: s.errors,
                    temp_files: s.temp_files,
                    temp_bytes: s.temp_bytes,
                    lock_waits: s.lock_waits,
                    by,
                    plans: {
                        let mut plans: Vec<PlanRow> = s
                            .plans
                            .iter()
                            .map(|(_, plan, count)| PlanRow {
                                plan: plan.clone(),
                                count: *count,
                            })
                            .collect();
                        plans.sort_by_key(|p| std::cmp::Reverse(p.count));
                        plans
                    },
                });
                if key != OTHER_KEY {
                    samples.push(WorkloadSample {
                        fingerprint: hex(key),
                        query: s.text.to_string(),
                        calls: s.executions.count,
                        total_ms: s.executions.total_ms,
                        executions: s
                            .samples
                            .items
                            .iter()
                            .filter_map(|sample| {
                                Some(Execution {
                                    text: sample.text.clone()?,
                                    params: sample.params.clone(),
                                    ms: sample.ms,
                                    session: sample.session.as_deref().map(str::to_string),
                                })
                            })
                            .collect(),
                    });
                }
            }
            if s.lock_waits > 0 || s.lock_acquired.count > 0 {
                lock_waits.push(LockRow {
                    fingerprint: hex(key),
                    query: s.text.to_string(),
                    waits: s.lock_waits,
                    acquired: s.lock_acquired.count,
                    total_wait_ms: s.lock_acquired.total_ms,
                    max_wait_ms: s.lock_acquired.max_ms,
                });
            }
            if s.temp_files > 0 {
                temp_files.push(TempRow {
                    fingerprint: hex(key),
                    query: s.text.to_string(),
                    files: s.temp_files,
                    total_bytes: s.temp_bytes,
                });
            }
        }
        statements.sort_by(|a, b| {
            b.total_ms
                .total_cmp(&a.total_ms)
                .then(b.calls.cmp(&a.calls))
                .then(a.fingerprint.cmp(&b.fingerprint))
        });
        samples.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
        lock_waits.sort_by(|a, b| {
            b.waits
                .cmp(&a.waits)
                .then(b.total_wait_ms.total_cmp(&a.total_wait_ms))
        });
        temp_files.sort_by_key(|t| std::cmp::Reverse(t.total_bytes));
        let slowest = aggregate
            .slowest
            .items
            .iter()
            .map(|s| SampleRow {
                duration_ms: s.ms,
                at: s.time_ms.map(iso),
                database: s.database.to_string(),
                user: s.user.to_string(),
                application: s.application.to_string(),
                fingerprint: hex(s.key),
                query: text_of(s.key),
            })
            .collect();
        let mut errors: Vec<ErrorRow> = aggregate
            .errors
            .iter()
            .map(|((sqlstate, message), stats)| ErrorRow {
                sqlstate: (!sqlstate.is_empty()).then(|| sqlstate.clone()),
                class: sqlstate.get(..2).map(str::to_string),
                level: stats.level,
                message: message.clone(),
                count: stats.count,
            })
            .collect();
        errors.sort_by(|a, b| b.count.cmp(&a.count).then(a.message.cmp(&b.message)));
        let mut cancellations: Vec<CountRow> = aggregate
            .cancellations
            .iter()
            .map(|(reason, &count)| CountRow {
                reason: reason.clone(),
                count,
            })
            .collect();
        cancellations.sort_by_key(|c| std::cmp::Reverse(c.count));
        let c = aggregate.checkpoints;
        let checkpoints = CheckpointRow {
            started: c.started,
            completed: c.completed.count,
            total_secs: c.completed.total_ms / 1000.0,
            max_secs: c.completed.max_ms / 1000.0,
            buffers: c.buffers,
            too_frequent_warnings: c.too_frequent,
            min_secs_apart: c.min_secs_apart,
        };
        let mut maintenance: Vec<MaintenanceRow> = aggregate
            .maintenance
            .iter()
            .map(|(table, m)| MaintenanceRow {
                table: table.clone(),
                autovacuums: m.vacuum.count,
                vacuum_secs: m.vacuum.total_ms / 1000.0,
                autoanalyzes: m.analyze.count,
                analyze_secs: m.analyze.total_ms / 1000.0,
            })
            .collect();
        maintenance.sort_by(|a, b| {
            (b.autovacuums + b.autoanalyzes)
                .cmp(&(a.autovacuums + a.autoanalyzes))
                .then(a.table.cmp(&b.table))
        });
        let conn = &aggregate.connections;
        let mut by_user_database: Vec<UserDatabaseRow> = conn
            .by_user_database
            .iter()
            .map(|((user, database), &connections)| UserDatabaseRow {
                user: user.to_string(),
                database: database.to_string(),
                connections,
            })
            .collect();
        by_user_database.sort_by_key(|r| std::cmp::Reverse(r.connections));
        let mut by_host: Vec<HostRow> = conn
            .by_host
            .iter()
            .map(|(host, &connections)| HostRow {
                host: host.to_string(),
                connections,
            })
            .collect();
        by_host.sort_by_key(|r| std::cmp::Reverse(r.connections));
        let connections = ConnectionRow {
            received: conn.received,
            authorized: conn.authorized,
            disconnections: conn.disconnections,
            mean_session_secs: (conn.sessions.count > 0).then(|| mean(&conn.sessions) / 1000.0),
            max_session_secs: (conn.sessions.count > 0).then(|| conn.sessions.max_ms / 1000.0),
            by_user_database,
            by_host,
        };
        let n_plus_one = detections
            .into_iter()
            .map(|d| PatternRow {
                kind: d.kind.name(),
                database: d.database.to_string(),
                source: d.source.as_deref().map(str::to_string),
                repeated: d.repeated.to_string(),
                occurrences: d.occurrences,
                executions: d.executions,
                total_ms: d.total.as_secs_f64() * 1000.0,
                max_run: d.max_run,
                application_name: d.application_name,
                suggestion: d.suggestion,
                orm_hint: d.orm_hint,
            })
            .collect();
        let mut minutes: Vec<MinuteRow> = aggregate
            .minutes
            .iter()
            .map(|(&minute, m)| MinuteRow {
                minute,
                statements: m.statements.count,
                total_ms: m.statements.total_ms,
                mean_ms: mean(&m.statements),
                max_ms: m.statements.max_ms,
                errors: m.errors,
            })
            .collect();
        minutes.sort_by_key(|m| m.minute);
        let files = files
            .into_iter()
            .map(|f| FileRow {
                path: f.path.display().to_string(),
                format: f.format,
                compression: f.compression.map(|c| c.name()),
                prefix: f.prefix,
                lines: f.stats.lines,
                bytes: f.stats.bytes,
                unmatched_lines: f.stats.unmatched,
                too_long_lines: f.stats.too_long,
                problem: f.problem,
            })
            .collect();
        Analysis {
            files,
            first: aggregate.first_ms.map(iso),
            last: aggregate.last_ms.map(iso),
            messages: aggregate.messages,
            outside_window: aggregate.outside_window,
            other_durations: aggregate.other_durations,
            statements,
            slowest,
            errors,
            cancellations,
            deadlocks: aggregate.deadlocks,
            lock_waits,
            temp_files,
            checkpoints,
            maintenance,
            connections,
            n_plus_one,
            sessions_known: aggregate.sessions_known,
            minutes,
            samples,
        }
    }

    /// Statements executed, over all rows.
    pub fn statement_count(&self) -> u64 {
        self.statements.iter().map(|s| s.calls).sum()
    }

    /// The findings: what deserves attention, with its numbers.
    pub fn report(&self, address: &str) -> Report {
        let mut report = Report::new("logs", Target::new("postgresql-log", address));
        report.checks_run = [
            "logs.slow_statement",
            "logs.n_plus_one",
            "logs.temp_files",
            "logs.lock_waits",
            "logs.deadlocks",
            "logs.errors",
            "logs.cancellations",
            "logs.checkpoints",
        ]
        .map(str::to_string)
        .to_vec();
        let total_ms: f64 = self.statements.iter().map(|s| s.total_ms).sum();
        // The statements that take a tenth of the logged time or more, at most five: where
        // time goes is the first question a log answers.
        for s in self.statements.iter().take(5) {
            let share = if total_ms > 0.0 {
                100.0 * s.total_ms / total_ms
            } else {
                0.0
            };
            if share < 10.0 {
                break;
            }
            report.findings.push(
                Finding::new(
                    "logs.slow_statement",
                    Severity::Info,
                    format!("statement {}", s.fingerprint),
                    format!("{share:.0}% of the logged statement time goes to one statement"),
                )
                .query(s.query.clone())
                .evidence(Evidence::new("calls", s.calls as f64, Unit::Count))
                .evidence(Evidence::new("total", s.total_ms, Unit::Milliseconds))
                .evidence(Evidence::new("mean", s.mean_ms, Unit::Milliseconds))
                .evidence(Evidence::new("p95", s.p95_ms, Unit::Milliseconds))
                .evidence(Evidence::new("max", s.max_ms, Unit::Milliseconds))
                .evidence(Evidence::new("share", share, Unit::Percent))
                .fix(Fix::manual(
                    "write the slow statements as a workload (`brisk logs --workload FILE`) and run `brisk advise --workload FILE` for the indexes that serve them",
                )),
            );
        }
        for p in &self.n_plus_one {
            let title = match p.kind {
                "bulk-write" => format!(
                    "{} single-row INSERTs in runs that one statement could do",
                    p.executions
                ),
                _ => format!(
                    "N+1: {} lookups, one per row of the statement before them",
                    p.executions
                ),
            };
            let mut finding = Finding::new(
                "logs.n_plus_one",
                Severity::Warning,
                format!("database {}", p.database),
                title,
            )
            .query(p.repeated.clone())
            .evidence(Evidence::new("runs", p.occurrences as f64, Unit::Count))
            .evidence(Evidence::new(
                "executions",
                p.executions as f64,
                Unit::Count,
            ))
            .evidence(Evidence::new("time", p.total_ms, Unit::Milliseconds))
            .evidence(Evidence::new("longest run", p.max_run as f64, Unit::Count));
            let mut detail = String::new();
            if let Some(source) = &p.source {
                let _ = write!(detail, "After: {source}. ");
            }
            if let Some(hint) = &p.orm_hint {
                let _ = write!(detail, "{hint}");
            }
            if !detail.is_empty() {
                finding = finding.detail(detail.trim().to_string());
            }
            report
                .findings
                .push(finding.fix(Fix::manual(p.suggestion.clone())));
        }
        for t in &self.temp_files {
            report.findings.push(
                Finding::new(
                    "logs.temp_files",
                    Severity::Warning,
                    format!("statement {}", t.fingerprint),
                    format!("Spilled {} to temporary files: work_mem is too small for it", format_bytes(t.total_bytes as f64)),
                )
                .query(t.query.clone())
                .evidence(Evidence::new("files", t.files as f64, Unit::Count))
                .evidence(Evidence::new("written", t.total_bytes as f64, Unit::Bytes))
                .fix(Fix::config(format!(
                    "raise work_mem for the role or session that runs it, above {} (brisk tune's work_mem advice weighs it against max_connections)",
                    format_bytes((t.total_bytes / t.files.max(1)) as f64)
                ))),
            );
        }
        for l in &self.lock_waits {
            let mut finding = Finding::new(
                "logs.lock_waits",
                Severity::Warning,
                format!("statement {}", l.fingerprint),
                format!(
                    "Waited for a lock past deadlock_timeout {} times",
                    l.waits.max(l.acquired)
                ),
            )
            .query(l.query.clone())
            .evidence(Evidence::new("waits", l.waits as f64, Unit::Count));
            // How long is known only from the `acquired ... after` line, which a wait that
            // ended in an error or a timeout never gets.
            if l.acquired > 0 {
                finding = finding
                    .evidence(Evidence::new("acquired", l.acquired as f64, Unit::Count))
                    .evidence(Evidence::new(
                        "total wait",
                        l.total_wait_ms,
                        Unit::Milliseconds,
                    ))
                    .evidence(Evidence::new("max wait", l.max_wait_ms, Unit::Milliseconds));
            }
            report.findings.push(
                finding.fix(Fix::manual("shorten the transactions that hold the lock (the blocking statements are in the DETAIL of the wait's log lines), or take the locks in one order")),
            );
        }
        if self.deadlocks > 0 {
            report.findings.push(
                Finding::new(
                    "logs.deadlocks",
                    Severity::Critical,
                    "server",
                    format!("{} deadlocks", self.deadlocks),
                )
                .evidence(Evidence::new(
                    "deadlocks",
                    self.deadlocks as f64,
                    Unit::Count,
                ))
                .fix(Fix::manual(
                    "make the transactions involved lock rows and tables in the same order",
                )),
            );
        }
        for e in &self.errors {
            let severity = if e.level == "ERROR" {
                Severity::Warning
            } else {
                Severity::Critical
            };
            report.findings.push(
                Finding::new(
                    "logs.errors",
                    severity,
                    e.sqlstate
                        .as_deref()
                        .map_or_else(|| "errors".to_string(), |s| format!("SQLSTATE {s}")),
                    format!("{} × {}: {}", e.count, e.level, e.message),
                )
                .evidence(Evidence::new("count", e.count as f64, Unit::Count)),
            );
        }
        for c in &self.cancellations {
            report.findings.push(
                Finding::new(
                    "logs.cancellations",
                    Severity::Warning,
                    "server",
                    format!(
                        "{} statements canceled or sessions ended: {}",
                        c.count, c.reason
                    ),
                )
                .evidence(Evidence::new("count", c.count as f64, Unit::Count)),
            );
        }
        if self.checkpoints.too_frequent_warnings > 0 {
            report.findings.push(
                Finding::new("logs.checkpoints", Severity::Warning, "server", "Checkpoints are forced by WAL volume, more often than checkpoint_warning allows")
                    .evidence(Evidence::new("warnings", self.checkpoints.too_frequent_warnings as f64, Unit::Count))
                    .evidence(Evidence::new("closest", self.checkpoints.min_secs_apart.unwrap_or(0) as f64, Unit::Seconds))
                    .fix(Fix::config("raise max_wal_size so checkpoints are timed (checkpoint_timeout), not forced")),
            );
        }
        for f in &self.files {
            if let Some(problem) = &f.problem {
                report.notes.push(format!("{}: {problem}", f.path));
            } else if f.too_long_lines > 0 {
                report.notes.push(format!(
                    "{}: {} lines longer than {} skipped",
                    f.path,
                    f.too_long_lines,
                    format_bytes(crate::input::MAX_LINE as f64)
                ));
            }
        }
        if self.statement_count() == 0 {
            report.notes.push("no statement durations in the log: set log_min_duration_statement (0 logs every statement) to see where time goes".into());
        }
        if !self.sessions_known {
            report.notes.push("N+1 detection needs the session of each statement: %c (or %p) in log_line_prefix, or csvlog/jsonlog".into());
        }
        if self.outside_window > 0 {
            report.notes.push(format!(
                "{} messages outside --since/--until were left out",
                self.outside_window
            ));
        }
        report.sort();
        report
    }

    /// The statement table: the `limit` statements with the most total time.
    pub fn statement_table(&self, limit: usize) -> String {
        let mut out = String::new();
        let total: f64 = self.statements.iter().map(|s| s.total_ms).sum();
        let _ = writeln!(
            out,
            "{} messages, {} statements ({} distinct), {:.1} s in statements{}",
            self.messages,
            self.statement_count(),
            self.statements.len(),
            total / 1000.0,
            match (&self.first, &self.last) {
                (Some(first), Some(last)) => format!(", {first} to {last}"),
                _ => String::new(),
            }
        );
        let c = &self.connections;
        let _ = writeln!(
            out,
            "{} errors, {} deadlocks, {} temp files, {} checkpoints, {} autovacuums and {} autoanalyzes, {} connections, {} disconnections",
            self.errors.iter().map(|e| e.count).sum::<u64>(),
            self.deadlocks,
            self.temp_files.iter().map(|t| t.files).sum::<u64>(),
            self.checkpoints.completed,
            self.maintenance.iter().map(|m| m.autovacuums).sum::<u64>(),
            self.maintenance.iter().map(|m| m.autoanalyzes).sum::<u64>(),
            c.authorized,
            c.disconnections,
        );
        if self.statements.is_empty() {
            return out;
        }
        let _ = writeln!(
            out,
            "\n{:>9} {:>11} {:>9} {:>9} {:>9} {:>9}  query",
            "calls", "total ms", "mean ms", "p95 ms", "p99 ms", "max ms"
        );
        for s in self.statements.iter().take(limit) {
            let query: String = s.query.split_whitespace().collect::<Vec<_>>().join(" ");
            let _ = writeln!(
                out,
                "{:>9} {:>11.1} {:>9.2} {:>9.2} {:>9.2} {:>9.2}  {}",
                s.calls,
                s.total_ms,
                s.mean_ms,
                s.p95_ms,
                s.p99_ms,
                s.max_ms,
                crate::entry::shorten(&query, 100)
            );
        }
        if self.statements.len() > limit {
            let _ = writeln!(
                out,
                "... {} more (--limit 0 or --format json shows all)",
                self.statements.len() - limit
            );
        }
        out
    }

    /// The statements as a workload for `brisk advise`: per statement, its slowest
    /// executions with their text and values (when the log has them), and one aggregate
    /// line for the rest, so sums per fingerprint stay the log's. Statements that are not
    /// queries or writes (`BEGIN`, `SET`) are left out: there is nothing to index for them.
    pub fn workload(&self) -> Vec<QuerySample> {
        let mut out = Vec::new();
        for s in &self.samples {
            let kind = brisk_sql::first_keyword(&s.query).map(|k| k.to_ascii_lowercase());
            if !matches!(
                kind.as_deref(),
                Some("select" | "insert" | "update" | "delete" | "with")
            ) {
                continue;
            }
            let mut calls = s.calls;
            let mut total = s.total_ms;
            for e in &s.executions {
                // With values, the normalized text they bind to; without, the text as logged
                // (its literals are its values).
                let text = if e.params.is_some() {
                    &s.query
                } else {
                    &e.text
                };
                let mut sample = QuerySample::new(text.clone());
                sample
                    .fingerprint
                    .get_or_insert_with(|| s.fingerprint.clone());
                sample.params = e.params.clone();
                sample.total_ms = Some(e.ms);
                sample.session = e.session.clone();
                calls = calls.saturating_sub(1);
                total -= e.ms;
                out.push(sample);
            }
            if calls > 0 {
                let mut sample = QuerySample::new(s.query.clone());
                sample
                    .fingerprint
                    .get_or_insert_with(|| s.fingerprint.clone());
                sample.calls = calls;
                sample.total_ms = Some(total.max(0.0));
                out.push(sample);
            }
        }
        for p in &self.n_plus_one {
            let mut sample = QuerySample::new(p.repeated.clone());
            sample.calls = p.executions;
            sample.total_ms = Some(p.total_ms);
            sample.pattern = Some(Pattern {
                kind: p.kind.to_string(),
                source: p.source.clone(),
                suggestion: Some(p.suggestion.clone()),
                application_name: (!p.application_name.is_empty())
                    .then(|| p.application_name.clone()),
                traceparent: None,
            });
            out.push(sample);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_times() {
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(1_796_518_923_456), "2026-12-06T01:02:03.456Z");
    }
}
