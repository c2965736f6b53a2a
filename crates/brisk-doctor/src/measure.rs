//! Before and after: a brisk-bench baseline on a database named as safe, the safe fixes
//! applied there, the same plan run again, per-statement figures compared.

use std::sync::Arc;
use std::time::{Duration, Instant};

use brisk_bench::plan::{Load, Operation, OperationKind, Profile, Protocol};
use brisk_bench::result::OperationResult;
use brisk_bench::script::{Script, SqlStep, Step};
use brisk_bench::{BenchResult, Plan};
use brisk_pg::{Session, SessionOptions};
use brisk_workload::QuerySample;
use serde::Serialize;

use crate::merge::{Applicable, Basis, DoctorFinding, Saving};
use crate::{conninfo, Diagnosis, DoctorError, Options, Progress};

/// Each bench run: long enough for a few hundred operations of the demo's statements at two
/// users, short enough that two runs fit the demo's two minutes.
pub const DEFAULT_BENCH_DURATION: Duration = Duration::from_secs(6);
/// The machine brisk is tested on has two cores: two users keep both busy without the
/// bench's own queueing dominating the latencies.
pub const DEFAULT_BENCH_USERS: usize = 2;
/// The same seed before and after, so both runs draw the same sequence of statements.
const SEED: u64 = 18;

/// A statement's latency and throughput in one run (milliseconds, operations per second).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Figures {
    pub count: u64,
    pub errors: u64,
    pub rate_per_sec: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
}

impl Figures {
    pub(crate) fn of(op: &OperationResult) -> Figures {
        Figures {
            count: op.count,
            errors: op.errors,
            rate_per_sec: op.rate,
            p50_ms: op.latency_ms.p50,
            p95_ms: op.latency_ms.p95,
            p99_ms: op.latency_ms.p99,
            mean_ms: op.latency_ms.mean,
        }
    }
}

/// One benched statement, before and after.
#[derive(Debug, Clone, Serialize)]
pub struct StatementRow {
    /// The bench operation's name.
    pub name: String,
    /// Normalized text (values never appear).
    pub query: String,
    pub fingerprint: Option<String>,
    /// Calls in the workload (the operation's weight).
    pub calls: f64,
    pub before: Figures,
    pub after: Figures,
    /// Check ids of the applied fixes that touch this statement.
    pub changed_by: Vec<String>,
}

/// The bench before and after the fixes.
#[derive(Debug, Clone, Serialize)]
pub struct BeforeAfter {
    pub duration_s: f64,
    pub users: usize,
    pub seed: u64,
    pub rows: Vec<StatementRow>,
    pub overall_before: Figures,
    pub overall_after: Figures,
    /// Per-second throughput of each run, for the charts.
    pub series_before: Vec<f64>,
    pub series_after: Vec<f64>,
}

/// A fix applied on the safe database.
#[derive(Debug, Clone, Serialize)]
pub struct AppliedFix {
    pub check: String,
    pub subject: String,
    pub apply: String,
    pub rollback: String,
    pub seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub rolled_back: bool,
}

/// What the bench needs: operations with the statements' text and their weights.
#[derive(Debug, Clone)]
pub struct BenchPlan {
    pub plan: Plan,
    /// For each operation: normalized text, fingerprint, calls.
    pub statements: Vec<(String, Option<String>, f64)>,
    /// Statements of the workload that could not be benched, and why.
    pub left_out: Vec<String>,
}

/// The bench of a workload: one operation per read statement that has values (a capture
/// has them), weighted by its calls, run by `users` closed-model users for `duration`.
pub fn plan_from_workload(
    samples: &[QuerySample],
    duration: Duration,
    users: usize,
) -> Result<BenchPlan, DoctorError> {
    let mut groups: Vec<(String, String, Option<String>, f64)> = Vec::new();
    let mut left_out = Vec::new();
    for sample in samples.iter().filter(|s| s.pattern.is_none()) {
        let fingerprint = sample.fingerprint.clone();
        if let Some(group) = groups
            .iter_mut()
            .find(|g| g.2.is_some() && g.2 == fingerprint)
        {
            group.3 += sample.calls as f64;
            continue;
        }
        // Only reads: the bench runs each statement hundreds of times.
        if !brisk_sql::starts_with_keyword(&sample.query, &["select"]) {
            if !left_out.contains(&sample.query) {
                left_out.push(sample.query.clone());
            }
            continue;
        }
        let text = match sample.with_values() {
            Some(text) => text,
            None if !sample.query.contains('$') => sample.query.clone(),
            None => {
                if !left_out.contains(&sample.query) {
                    left_out.push(sample.query.clone());
                }
                continue;
            }
        };
        // Reports show the normalized text: values never appear.
        let shown = brisk_sql::normalize(&sample.query);
        groups.push((shown, text, fingerprint, sample.calls as f64));
    }
    if groups.is_empty() {
        let with_values = samples.iter().filter(|s| s.params.is_some()).count();
        return Err(DoctorError::BadInput(format!(
            "nothing to bench: of the workload's {} lines ({with_values} with values), none is a read statement that can run as it is; give --workload with a proxy capture made with log_parameters = true, or --bench scenario.toml",
            samples.len()
        )));
    }
    let mut operations = Vec::new();
    let mut statements = Vec::new();
    for (i, (query, text, fingerprint, calls)) in groups.into_iter().enumerate() {
        let mut script = Script::with_defines(&[]);
        script
            .steps
            .push(Step::Sql(SqlStep::new(&text, &script.vars, 1)));
        operations.push(Operation {
            name: format!("q{}", i + 1),
            weight: calls.max(1.0),
            kind: OperationKind::Sql(script),
        });
        statements.push((query, fingerprint, calls));
    }
    let plan = Plan {
        operations,
        load: Load::Closed {
            users: Profile::constant(users.max(1) as f64, duration),
            think_time: Duration::ZERO,
        },
        protocol: Protocol::Simple,
        seed: SEED,
        thresholds: Vec::new(),
        abort_on_fail: false,
        abort_grace: Duration::ZERO,
        segment: Default::default(),
        precise_timer: false,
    };
    plan.validate()?;
    Ok(BenchPlan {
        plan,
        statements,
        left_out,
    })
}

/// What [`measure`] found.
pub struct Measured {
    pub bench: Option<BeforeAfter>,
    /// The cache rules of a proxy the doctor started in front of the safe database.
    pub cache: Option<crate::cache::CacheMeasured>,
    pub applied: Vec<AppliedFix>,
    pub notes: Vec<String>,
}

/// Benches, applies the applicable fixes on `safe`, benches again, and (with
/// `roll_back_after`) undoes them.
pub async fn measure(
    options: &Options,
    safe: &str,
    diagnosis: &Diagnosis,
    findings: &[DoctorFinding],
    progress: Progress<'_>,
) -> Result<Measured, DoctorError> {
    let admin = options.apply_as.as_deref().unwrap_or(safe);
    let mut notes = Vec::new();
    let plan = match &options.bench {
        Some(plan) => BenchPlan {
            statements: plan
                .operations
                .iter()
                .map(|op| {
                    let text = match &op.kind {
                        OperationKind::Sql(script) => script
                            .sql_steps()
                            .map(|s| s.prepared_text.clone())
                            .collect::<Vec<_>>()
                            .join("; "),
                    };
                    let fp = brisk_sql::fingerprint(&text).ok().map(|f| f.to_string());
                    (text, fp, op.weight)
                })
                .collect(),
            plan: plan.clone(),
            left_out: Vec::new(),
        },
        None => {
            let samples = match &options.workload {
                Some(workload) => workload.samples.clone(),
                None => {
                    notes.push("The fixes were not measured: pg_stat_statements has no values to run its statements with. Give --workload with a proxy capture, or --bench scenario.toml.".to_string());
                    return Ok(Measured {
                        bench: None,
                        cache: None,
                        applied: Vec::new(),
                        notes,
                    });
                }
            };
            plan_from_workload(&samples, options.bench_duration, options.bench_users)?
        }
    };
    for query in &plan.left_out {
        notes.push(format!(
            "Not benched (a write, or no values): {}",
            shorten(query, 100)
        ));
    }
    let _ = diagnosis;
    let info = conninfo(safe)?;
    let plan_arc = Arc::new(plan.plan.clone());

    progress("bench: the baseline, before any fix");
    let before =
        brisk_bench::run::run(plan_arc.clone(), &info, std::future::pending(), |_| {}).await?;

    progress("applying the safe fixes");
    let admin_info = conninfo(admin)?;
    let writer = SessionOptions {
        read_only: false,
        statement_timeout: Duration::ZERO,
        ..SessionOptions::default()
    };
    let session = Session::connect(&admin_info, &writer).await?;
    // Builds take as long as they take; a lock they cannot get soon is not worth queueing
    // behind (the migration files say the same).
    session
        .client()
        .batch_execute("/* brisk */ SET statement_timeout = 0; SET lock_timeout = '5s'")
        .await
        .map_err(|e| brisk_pg::PgError::query("preparing to apply the fixes", e))?;
    let mut applied = Vec::new();
    for f in findings {
        let Some(applicable) = &f.applicable else {
            continue;
        };
        let (up, down) = applicable.sql();
        let (statements, _) = applicable.statements();
        progress(&format!("applying: {}", shorten(&up, 80)));
        let started = Instant::now();
        let mut error = None;
        for statement in &statements {
            if let Err(e) = session.client().batch_execute(statement).await {
                error = Some(brisk_pg::PgError::query("applying a fix", e).to_string());
                break;
            }
        }
        if error.is_some() {
            if let Applicable::Index { .. } = applicable {
                // A failed CONCURRENTLY build leaves an INVALID index behind.
                let _ = session.client().batch_execute(&down).await;
            }
        }
        applied.push(AppliedFix {
            check: f.check.clone(),
            subject: f.subject.clone(),
            apply: up,
            rollback: down,
            seconds: started.elapsed().as_secs_f64(),
            error,
            rolled_back: false,
        });
    }

    progress("bench: the same plan, after the fixes");
    let after = brisk_bench::run::run(plan_arc, &info, std::future::pending(), |_| {}).await?;

    let bench = compare(&plan, &before, &after, &applied, findings);
    // On top of the fixes: what a result cache in front of the database adds, for the
    // statements still slow enough for a hit to matter.
    let slow = bench
        .rows
        .iter()
        .any(|r| r.after.mean_ms >= crate::cache::MIN_MEAN_MS);
    let cache = if options.cache_rules && slow {
        match crate::cache::measure(safe, &plan, progress).await {
            Ok(cache) => Some(cache),
            Err(error) => {
                notes.push(format!(
                    "The proxy's cache rules were not measured: {error}"
                ));
                None
            }
        }
    } else {
        None
    };

    if options.roll_back_after {
        progress("rolling the fixes back");
        for fix in applied.iter_mut().rev().filter(|f| f.error.is_none()) {
            fix.rolled_back = session.client().batch_execute(&fix.rollback).await.is_ok();
        }
    }
    Ok(Measured {
        bench: Some(bench),
        cache,
        applied,
        notes,
    })
}

fn compare(
    plan: &BenchPlan,
    before: &BenchResult,
    after: &BenchResult,
    applied: &[AppliedFix],
    findings: &[DoctorFinding],
) -> BeforeAfter {
    let mut rows = Vec::new();
    for (op, (query, fingerprint, calls)) in plan.plan.operations.iter().zip(&plan.statements) {
        let figures = |result: &BenchResult| {
            result
                .operation(&op.name)
                .map(Figures::of)
                .unwrap_or_default()
        };
        let changed_by = findings
            .iter()
            .filter(|f| {
                fingerprint.as_ref().is_some_and(|fp| f.helps.contains(fp))
                    && applied
                        .iter()
                        .any(|a| a.error.is_none() && a.check == f.check && a.subject == f.subject)
            })
            .map(|f| f.check.clone())
            .collect();
        rows.push(StatementRow {
            name: op.name.clone(),
            query: query.clone(),
            fingerprint: fingerprint.clone(),
            calls: *calls,
            before: figures(before),
            after: figures(after),
            changed_by,
        });
    }
    // The last window of a run is usually a fraction of a second: left out, or the line
    // would dive to nothing at the end.
    let series = |result: &BenchResult| -> Vec<f64> {
        result
            .seconds
            .iter()
            .filter(|s| s.duration_s >= 0.999)
            .map(|s| s.rate)
            .collect()
    };
    BeforeAfter {
        duration_s: before.duration_s,
        users: match &plan.plan.load {
            Load::Closed { users, .. } => users.max() as usize,
            Load::Open { connections, .. } => *connections,
        },
        seed: plan.plan.seed,
        rows,
        overall_before: Figures::of(&before.overall),
        overall_after: Figures::of(&after.overall),
        series_before: series(before),
        series_after: series(after),
    }
}

/// Measured savings: for each applied fix, the statements it speeds up, their mean time
/// before less after, times their calls in the workload. A statement two fixes touch is
/// credited to both, and each says so.
pub fn attribute(findings: &mut [DoctorFinding], measured: &Measured) {
    let Some(bench) = &measured.bench else {
        return;
    };
    for f in findings.iter_mut() {
        let applied = measured
            .applied
            .iter()
            .any(|a| a.error.is_none() && a.check == f.check && a.subject == f.subject);
        if !applied {
            continue;
        }
        let rows: Vec<&StatementRow> = bench
            .rows
            .iter()
            .filter(|r| {
                r.fingerprint
                    .as_ref()
                    .is_some_and(|fp| f.helps.contains(fp))
            })
            .filter(|r| r.before.count > 0 && r.after.count > 0)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let ms: f64 = rows
            .iter()
            .map(|r| (r.before.mean_ms - r.after.mean_ms) * r.calls)
            .sum();
        let shared = rows.iter().any(|r| r.changed_by.len() > 1);
        // The finding's own figure was the planner's; what it saved is now measured, and
        // the title says which is which instead of "(estimate)" beside "(measured)".
        for suffix in [" (unproven estimate)", " (estimate)"] {
            if let Some(title) = f.title.strip_suffix(suffix) {
                f.title = format!("{title} by the planner's estimate");
                break;
            }
        }
        f.saving = Some(Saving {
            ms,
            basis: Basis::Measured,
            how: format!(
                "mean latency before less after in the bench, times the workload's calls, over {} statement{}{}",
                rows.len(),
                if rows.len() == 1 { "" } else { "s" },
                if shared {
                    "; another applied fix touches the same statement, so the gain is shared"
                } else {
                    ""
                }
            ),
        });
    }
}

pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

pub(crate) fn shorten(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}
