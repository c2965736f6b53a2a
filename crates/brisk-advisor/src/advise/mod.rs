//! `brisk advise`: indexes for the whole workload, proven by what-if planning and, on
//! request, measured on a real run.
//!
//! [`advise`] runs the pipeline against a live database, read-only:
//!
//! 1. [`workload`]: the queries, from `pg_stat_statements`, a JSON-lines workload or a `.sql`
//!    file, grouped by fingerprint and analyzed by brisk-sql.
//! 2. [`snapshot`]: tables, columns with `pg_stats`, existing indexes, cost settings.
//! 3. Baseline plans: each query as it runs today; a normalized query (`$n`) gets a generic
//!    plan with values from [`params`], through the rewrites and typings of [`normalized`]
//!    when PostgreSQL does not prepare it as it is. [`Coverage`] says how much of the
//!    workload got a plan.
//! 4. [`candidates`]: what each query's predicates ask for, minus what existing indexes serve.
//! 5. [`whatif`] and [`select`]: HypoPG what-if costs, cached per (query, candidates on its
//!    tables), and a workload-level greedy choice under the budgets, by benefit per byte and
//!    by benefit, keeping the set that leaves the least estimated time.
//! 6. [`Advice`]: recommendations with DDL, rollback, per-query costs, size, write overhead
//!    and HOT warnings; [`Advice::report`] turns it into findings, [`Advice::migrations`]
//!    into numbered migration files.
//!
//! [`verify`] then builds the chosen indexes on a target the user named as safe and
//! measures; [`apply`] builds them on the database itself (`--apply`).
//!
//! Everything on the advised database happens in READ ONLY transactions: hypothetical
//! indexes live in the backend's memory, and `PREPARE`/`EXPLAIN` write nothing. They are
//! removed (`hypopg_reset`) before the connection is released.

mod candidates;
mod conditional;
mod normalized;
mod params;
mod recommend;
mod select;
mod snapshot;
mod verify;
mod whatif;
mod workload;

use std::collections::HashMap;
use std::time::Instant;

use brisk_pg::explain::{self, ExplainOptions, HypoPg};
use brisk_pg::stats::{self, ExtensionState};
use brisk_pg::{catalog, PgError, Session};
pub use brisk_report::Coverage;
use brisk_sql::StatementKind;
use brisk_workload::Workload;

pub use candidates::{Method, Purpose};
pub use conditional::{ConditionalPartial, ConditionalValue};
pub use recommend::{Migration, ADVISE_CHECKS};
pub use verify::{
    apply, verify, Applied, MeasuredQuery, Run, Verification, VerifyOptions, VerifyTarget,
};
pub use workload::{RepeatedRuns, SkippedQuery};

use candidates::Candidate;
use select::{CandidateFacts, Chosen, Limits, Ranking, Search};
use snapshot::Snapshot;
use whatif::{Planned, TableSize, WhatIf};
use workload::{Collected, Query};

/// Milliseconds per planner cost unit, for queries whose time the source did not measure:
/// measured on PostgreSQL 15 here, a cached 500,000-row table scanned in 46 ms for a plan
/// cost of 9,700 (about 0.005 ms per unit). Only the ranking between such queries and the
/// write overhead depends on it.
const DEFAULT_MS_PER_COST_UNIT: f64 = 0.005;

/// Two index sets whose estimated workload times differ by less than 1% are as good as each
/// other: the planner's costs are not that precise.
const SAME_OUTCOME: f64 = 0.99;

/// Milliseconds to add one entry to an index, for the write overhead. Measured on
/// PostgreSQL 15 here: inserting 500,000 rows took 2.6 µs more per row with one more
/// two-column btree, and 15 µs more with a trigram GIN on a 32-byte text (about 0.5 µs per
/// byte indexed). BRIN summarizes whole block ranges and costs next to nothing per row.
const MS_PER_BTREE_ENTRY: f64 = 0.003;
const MS_PER_GIN_BYTE: f64 = 0.0005;
const MS_PER_BRIN_ENTRY: f64 = 0.0003;

/// What went wrong advising, in words that say what to do.
#[derive(Debug, thiserror::Error)]
pub enum AdviseError {
    #[error(transparent)]
    Pg(#[from] PgError),
    /// `pg_stat_statements` cannot be read and no workload was given.
    #[error("no workload: pg_stat_statements {0}. Pass the queries with --workload FILE (JSON lines, docs/workload.md, or a .sql file), or enable pg_stat_statements (brisk check says how)")]
    NoStatements(String),
    /// The verification target could not be prepared.
    #[error("{0}")]
    Verify(String),
}

/// Where the queries come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// `pg_stat_statements` of the advised database.
    Statements,
    /// A JSON-lines workload.
    Workload(Workload),
    /// The text of a plain `.sql` file, one call per statement.
    Sql(String),
}

/// The budgets and thresholds of the search.
#[derive(Debug, Clone)]
pub struct AdviseOptions {
    /// At most this many bytes of new indexes (HypoPG's estimate), if set.
    pub budget_bytes: Option<u64>,
    /// At most this many new indexes.
    pub max_indexes: usize,
    /// An index must save at least this share of the workload's remaining estimated time
    /// (after the indexes chosen before it), net of its write overhead (percent). 1% keeps
    /// indexes that matter; lower it for long workloads whose every query counts.
    pub min_benefit_pct: f64,
    /// How many `pg_stat_statements` entries to read, by total time.
    pub top_statements: i64,
}

impl Default for AdviseOptions {
    fn default() -> Self {
        AdviseOptions {
            budget_bytes: None,
            max_indexes: 10,
            min_benefit_pct: 1.0,
            top_statements: 500,
        }
    }
}

/// Whether HypoPG could prove the advice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HypoStatus {
    Used,
    /// Not created in the database; `available` when the server has it installed.
    Missing {
        available: bool,
    },
}

/// What one query costs before and after the recommended indexes.
#[derive(Debug, Clone)]
pub struct QueryOutcome {
    pub fingerprint: String,
    /// Normalized text, values replaced by `$n`.
    pub query: String,
    pub calls: f64,
    /// Measured mean time per call (ms), when the source had it.
    pub mean_ms: Option<f64>,
    /// Planner cost without the new indexes, and with them.
    pub cost_before: f64,
    pub cost_after: f64,
    pub paths_before: Vec<String>,
    pub paths_after: Vec<String>,
    /// The after-cost comes partly from the model (an index HypoPG cannot simulate).
    pub modeled: bool,
    /// How its plan was obtained.
    pub basis: PlanBasis,
    pub kind: StatementKind,
    /// Estimated milliseconds per cost unit × calls.
    pub(crate) weight: f64,
    pub(crate) planned: Planned,
}

impl QueryOutcome {
    /// Estimated milliseconds over the workload, before and after.
    pub fn estimated_ms(&self) -> (f64, f64) {
        (
            self.weight * self.cost_before,
            self.weight * self.cost_after,
        )
    }
}

/// How a query's plan was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanBasis {
    /// With the values the workload recorded.
    Values,
    /// A generic plan of the normalized text, as PostgreSQL prepares it.
    Generic,
    /// A generic plan of the normalized text after brisk rewrote typed-literal placeholders
    /// as casts or named the parameters' types: PostgreSQL did not prepare it as it is.
    GenericRewritten,
    /// A normalized text with a range on a parameter (`created_at > now() - $2`): a custom
    /// plan for representative values (a bound that keeps a tenth of the rows, an interval
    /// of a day), because a generic plan guesses that any range keeps a third of the rows,
    /// and applications ask for recent windows. `rewritten` as for `GenericRewritten`.
    RangeValues { rewritten: bool },
    /// No typing of the normalized text prepared: planned with representative values from
    /// `pg_stats` in place of its parameters, so the plan is for those values.
    Representative,
}

impl PlanBasis {
    /// Planned without the workload's own values.
    pub fn is_generic(self) -> bool {
        matches!(self, PlanBasis::Generic | PlanBasis::GenericRewritten)
    }
}

/// An index update that stops being HOT.
#[derive(Debug, Clone, PartialEq)]
pub struct HotWarning {
    /// The indexed columns the workload's updates change.
    pub columns: Vec<String>,
    pub hot_updates_per_sec: f64,
    pub updates_per_sec: f64,
}

/// One recommended index.
#[derive(Debug, Clone)]
pub struct Recommendation {
    pub name: String,
    /// `schema.table`.
    pub table: String,
    /// `messages (conversation_id, created_at DESC)`.
    pub describe: String,
    pub method: Method,
    pub purpose: Purpose,
    pub create_sql: String,
    pub drop_sql: String,
    pub(crate) blocking_sql: String,
    /// An extension to create first (`pg_trgm`).
    pub extension: Option<&'static str>,
    /// HypoPG simulated it; otherwise its benefit is modeled (unproven).
    pub proven: bool,
    pub size_bytes: f64,
    /// Net estimated milliseconds saved over the workload when it was chosen.
    pub gain_ms: f64,
    /// The queries (indexes into [`Advice::queries`]) whose plan uses it.
    pub helps: Vec<usize>,
    /// Index entries written per second, from the table's insert and update rates.
    pub entries_per_sec: f64,
    /// Estimated milliseconds spent maintaining it over the workload's window.
    pub overhead_ms: f64,
    pub hot: Option<HotWarning>,
    /// What brisk assumed because the workload did not say (a value lost to normalization).
    pub assumption: Option<String>,
}

/// A candidate index HypoPG would not create (a column type without a default operator
/// class for its method, an expression it cannot index): left out, with HypoPG's reason.
#[derive(Debug, Clone, PartialEq)]
pub struct RefusedCandidate {
    pub table: String,
    /// `btree (a, b)`.
    pub index: String,
    pub reason: String,
}

/// Everything `brisk advise` found.
#[derive(Debug, Clone)]
pub struct Advice {
    /// The database, without password.
    pub target: String,
    pub server_version: String,
    /// Where the workload came from, in words.
    pub source: String,
    pub queries: Vec<QueryOutcome>,
    pub recommendations: Vec<Recommendation>,
    /// Partial indexes that would replace a recommendation if the calls pass one value:
    /// for normalized queries, whose values the source did not keep.
    pub conditional: Vec<ConditionalPartial>,
    pub skipped: Vec<SkippedQuery>,
    /// How much of the workload was planned: the headline of the report. Its statements
    /// are the planned and the skipped ones (one per fingerprint); statements that are not
    /// queries, and queries that name no table of this database, have nothing to plan.
    pub coverage: Coverage,
    /// N+1 and row-by-row write runs the workload's proxy capture recorded.
    pub patterns: Vec<RepeatedRuns>,
    /// Statements that are not queries (DDL, `SET`, ...), left out.
    pub not_queries: usize,
    /// Queries that name no table of this database (catalog queries), left out.
    pub no_user_tables: usize,
    pub candidates: usize,
    pub served_by_existing: usize,
    pub hypopg: HypoStatus,
    pub explains: usize,
    pub cache_hits: usize,
    pub hypothetical_created: usize,
    /// Candidates HypoPG refused to create, left out of the search.
    pub refused_candidates: Vec<RefusedCandidate>,
    /// Every query's weight comes from measured times (else partly from the planner cost).
    pub timed: bool,
    pub elapsed_secs: f64,
    pub verification: Option<Verification>,
}

impl Advice {
    /// Estimated milliseconds of the whole workload, before and after.
    pub fn workload_ms(&self) -> (f64, f64) {
        self.queries.iter().fold((0.0, 0.0), |(b, a), q| {
            let (qb, qa) = q.estimated_ms();
            (b + qb, a + qa)
        })
    }
}

/// Advises indexes for the workload of `source` on the database `session` is connected to.
/// `progress` hears what is happening, for a spinner.
pub async fn advise(
    session: &Session,
    source: Source,
    options: &AdviseOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Advice, AdviseError> {
    let started = Instant::now();
    progress("reading the workload");
    let (collected, source_label, window_secs) = collect(session, source, options).await?;
    let Collected {
        queries,
        skipped,
        not_queries,
        patterns,
    } = collected;

    let mut names: Vec<String> = Vec::new();
    let mut functions: Vec<String> = Vec::new();
    for query in &queries {
        for table in workload::tables_of(query) {
            if !names.contains(&table.name) {
                names.push(table.name);
            }
        }
        if workload::has_parameters(&query.normalized) {
            for function in params::called_functions(&query.normalized) {
                if !functions.contains(&function) {
                    functions.push(function);
                }
            }
        }
    }
    progress("reading the catalog and statistics");
    let snapshot = Snapshot::read(session, &names, &functions).await?;
    let window_secs = window_secs.unwrap_or_else(|| snapshot.window.age_secs());

    let hypopg = match &snapshot.hypopg {
        ExtensionState::Created { schema, .. } => Some(HypoPg::new(schema)),
        _ => None,
    };
    let hypo_status = match &snapshot.hypopg {
        ExtensionState::Created { .. } => HypoStatus::Used,
        ExtensionState::Available => HypoStatus::Missing { available: true },
        ExtensionState::Missing => HypoStatus::Missing { available: false },
    };

    session.begin().await?;
    let result = plan_and_choose(
        session,
        &snapshot,
        queries,
        hypopg,
        options,
        window_secs,
        progress,
    )
    .await;
    // Nothing to keep: the transaction only read. Hypothetical indexes outlive it, so
    // they are removed whatever happened, in a transaction of their own.
    let _ = session.rollback().await;
    if let ExtensionState::Created { schema, .. } = &snapshot.hypopg {
        if session.begin().await.is_ok() {
            let _ = HypoPg::new(schema).reset(session).await;
            let _ = session.rollback().await;
        }
    }
    let mut planned = result?;
    planned.skipped.splice(0..0, skipped);
    let coverage = coverage(&planned.outcomes, &planned.skipped);
    Ok(Advice {
        target: session.target().to_string(),
        server_version: session.server().display_version(),
        source: source_label,
        queries: planned.outcomes,
        recommendations: planned.recommendations,
        conditional: planned.conditional,
        skipped: planned.skipped,
        coverage,
        patterns,
        not_queries,
        no_user_tables: planned.no_user_tables,
        candidates: planned.candidates,
        served_by_existing: planned.served,
        hypopg: hypo_status,
        explains: planned.explains,
        cache_hits: planned.cache_hits,
        hypothetical_created: planned.hypothetical_created,
        refused_candidates: planned.refused,
        timed: planned.timed,
        elapsed_secs: started.elapsed().as_secs_f64(),
        verification: None,
    })
}

/// The share of the workload that was planned: the statements, and their share of the
/// measured total time (calls × mean time) when every statement was timed.
fn coverage(planned: &[QueryOutcome], skipped: &[SkippedQuery]) -> Coverage {
    let planned_ms: Option<f64> = planned
        .iter()
        .map(|q| q.mean_ms.map(|mean| mean * q.calls))
        .sum();
    let skipped_ms: Option<f64> = skipped.iter().map(|s| s.total_ms).sum();
    let time_pct = match (planned_ms, skipped_ms) {
        (Some(p), Some(s)) if p + s > 0.0 => Some(100.0 * p / (p + s)),
        _ => None,
    };
    Coverage {
        statements: planned.len() + skipped.len(),
        planned: planned.len(),
        time_pct,
    }
}

/// Reads the workload from its source; also returns a label for reports and, for
/// `pg_stat_statements`, the seconds its counters cover.
async fn collect(
    session: &Session,
    source: Source,
    options: &AdviseOptions,
) -> Result<(Collected, String, Option<f64>), AdviseError> {
    Ok(match source {
        Source::Statements => {
            session.begin().await?;
            let settings = catalog::settings(session).await;
            let status = match &settings {
                Ok(settings) => catalog::statements_status(session, settings).await,
                Err(_) => Err(PgError::Query {
                    context: "reading settings".into(),
                    message: "failed".into(),
                    sqlstate: None,
                }),
            };
            let (schema, version) = match status {
                Ok(catalog::StatementsStatus::Ready { schema, version }) => (schema, version),
                Ok(other) => {
                    session.rollback().await?;
                    return Err(AdviseError::NoStatements(statements_problem(&other)));
                }
                Err(e) => {
                    session.rollback().await?;
                    return Err(AdviseError::NoStatements(format!("cannot be read ({e})")));
                }
            };
            let read =
                stats::workload_statements(session, &schema, &version, options.top_statements)
                    .await;
            let (statements, window) = match read {
                Ok(found) => {
                    session.commit().await?;
                    found
                }
                Err(e) => {
                    session.rollback().await?;
                    return Err(AdviseError::NoStatements(format!("cannot be read ({e})")));
                }
            };
            (
                workload::from_statements(&statements),
                format!("pg_stat_statements ({} statements)", statements.len()),
                window,
            )
        }
        Source::Workload(workload) => (
            workload::from_workload(&workload),
            format!("workload file ({} samples)", workload.samples.len()),
            None,
        ),
        Source::Sql(text) => (workload::from_sql(&text), "SQL file".to_string(), None),
    })
}

fn statements_problem(status: &catalog::StatementsStatus) -> String {
    match status {
        catalog::StatementsStatus::NotAvailable => "is not installed on the server".into(),
        catalog::StatementsStatus::NotPreloaded { .. } => {
            "is not in shared_preload_libraries".into()
        }
        catalog::StatementsStatus::NotCreated { .. } => {
            "is not created in this database (CREATE EXTENSION pg_stat_statements)".into()
        }
        catalog::StatementsStatus::Ready { .. } => "is ready".into(),
    }
}

/// What the planning phase produced.
struct PlanningResult {
    outcomes: Vec<QueryOutcome>,
    recommendations: Vec<Recommendation>,
    conditional: Vec<ConditionalPartial>,
    skipped: Vec<SkippedQuery>,
    no_user_tables: usize,
    candidates: usize,
    served: usize,
    explains: usize,
    cache_hits: usize,
    hypothetical_created: usize,
    refused: Vec<RefusedCandidate>,
    timed: bool,
}

/// Baseline plans, candidates, what-if selection and the final plans, inside the caller's
/// read-only transaction.
async fn plan_and_choose(
    session: &Session,
    snapshot: &Snapshot,
    queries: Vec<Query>,
    hypopg: Option<HypoPg>,
    options: &AdviseOptions,
    window_secs: f64,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<PlanningResult, AdviseError> {
    let mut skipped = Vec::new();
    let mut no_user_tables = 0;
    let mut kept: Vec<(Query, Planned, f64, PlanBasis)> = Vec::new();
    let total = queries.len();
    for (n, query) in queries.into_iter().enumerate() {
        if n % 10 == 0 {
            progress(&format!("planning query {} of {total}", n + 1));
        }
        let tables: Vec<u32> = workload::tables_of(&query)
            .iter()
            .filter_map(|t| snapshot.resolve(t))
            .map(|t| t.oid)
            .collect();
        if tables.is_empty() {
            no_user_tables += 1;
            continue;
        }
        match plan_baseline(session, snapshot, &query, tables).await {
            Ok((planned, cost, basis)) => kept.push((query, planned, cost, basis)),
            Err(reason) => skipped.push(SkippedQuery {
                origin: format!("fingerprint {}", query.fingerprint),
                query: query.normalized.clone(),
                reason,
                total_ms: query.mean_ms.map(|mean| mean * query.calls),
            }),
        }
    }

    let queries: Vec<Query> = kept.iter().map(|(q, ..)| q.clone()).collect();
    let planned: Vec<Planned> = kept.iter().map(|(_, p, ..)| p.clone()).collect();
    let timed = queries.iter().all(|q| q.mean_ms.is_some());
    let weights: Vec<f64> = kept
        .iter()
        .map(|(query, _, cost, _)| {
            let per_unit = match query.mean_ms {
                Some(mean) if *cost > 0.0 => mean / cost,
                _ => DEFAULT_MS_PER_COST_UNIT,
            };
            query.calls * per_unit
        })
        .collect();

    progress("generating candidate indexes");
    let (candidates, served) = candidates::generate(&queries, snapshot);
    let names: Vec<String> = unique_names(&candidates, snapshot);
    let columns: Vec<HashMap<u32, Vec<String>>> = queries
        .iter()
        .map(|q| candidates::columns_by_table(q, snapshot))
        .collect();
    let writes = WriteRates::new(snapshot, &queries, window_secs);
    let facts: Vec<CandidateFacts> = candidates
        .iter()
        .map(|c| CandidateFacts {
            affected: affected_queries(c, &queries, &planned, &columns),
            overhead_ms: writes.overhead_ms(c, snapshot),
            modeled_size: modeled_size(c, snapshot),
        })
        .collect();
    let table_sizes: HashMap<u32, TableSize> = snapshot
        .tables
        .iter()
        .map(|t| {
            (
                t.oid,
                TableSize {
                    pages: t.pages.max(1) as f64,
                },
            )
        })
        .collect();
    let mut whatif = WhatIf::new(
        session,
        hypopg,
        &candidates,
        &names,
        snapshot.costs,
        table_sizes,
    );

    let mut before = Vec::with_capacity(planned.len());
    for (q, plan) in planned.iter().enumerate() {
        before.push(whatif.evaluate(q, plan, &[]).await?);
    }
    let workload_ms: f64 = before.iter().zip(&weights).map(|(e, w)| e.cost * w).sum();
    let limits = Limits {
        budget_bytes: options.budget_bytes.map(|b| b as f64),
        max_indexes: options.max_indexes,
        workload_ms,
        min_benefit: options.min_benefit_pct / 100.0,
    };
    // Both rankings, and the set that leaves the workload the least estimated time (its
    // queries' cost plus the indexes' write overhead). Per byte wins ties: it is smaller.
    let mut best: Option<(f64, Vec<Chosen>)> = None;
    for ranking in [Ranking::PerByte, Ranking::Benefit] {
        let chosen = Search {
            whatif: &mut whatif,
            ranking,
            planned: &planned,
            weights: &weights,
            candidates: &candidates,
            facts: &facts,
            limits,
        }
        .run(progress)
        .await?;
        let config: Vec<usize> = chosen.iter().map(|c| c.candidate).collect();
        let mut left: f64 = config.iter().map(|&c| facts[c].overhead_ms).sum();
        for (q, plan) in planned.iter().enumerate() {
            left += whatif.evaluate(q, plan, &config).await?.cost * weights[q];
        }
        if best
            .as_ref()
            .is_none_or(|(best_left, _)| left < best_left * SAME_OUTCOME)
        {
            best = Some((left, chosen));
        }
    }
    let chosen = best.map(|(_, chosen)| chosen).unwrap_or_default();

    progress("planning the workload with the chosen indexes");
    let mut config: Vec<usize> = chosen.iter().map(|c| c.candidate).collect();
    let mut after = Vec::with_capacity(planned.len());
    for (q, plan) in planned.iter().enumerate() {
        after.push(whatif.evaluate(q, plan, &config).await?);
    }
    // An index chosen early can be made useless by a later, better one.
    config.retain(|c| after.iter().any(|e| e.used.contains(c)));
    whatif.reset().await?;

    let outcomes: Vec<QueryOutcome> = kept
        .iter()
        .enumerate()
        .map(|(q, (query, plan, _, basis))| QueryOutcome {
            fingerprint: query.fingerprint.clone(),
            query: query.normalized.clone(),
            calls: query.calls,
            mean_ms: query.mean_ms,
            cost_before: before[q].cost,
            cost_after: after[q].cost.min(before[q].cost),
            paths_before: before[q].paths.clone(),
            paths_after: after[q].paths.clone(),
            modeled: after[q].modeled,
            basis: *basis,
            kind: query.analysis.kind,
            weight: weights[q],
            planned: plan.clone(),
        })
        .collect();
    let bases: Vec<PlanBasis> = outcomes.iter().map(|q| q.basis).collect();
    let mut conditional = Vec::new();
    let recommendations = chosen
        .iter()
        .filter(|c| config.contains(&c.candidate))
        .map(|chosen| {
            let candidate = &candidates[chosen.candidate];
            let name = names[chosen.candidate].clone();
            let helps: Vec<usize> = (0..outcomes.len())
                .filter(|&q| after[q].used.contains(&chosen.candidate))
                .collect();
            conditional.extend(conditional::for_recommendation(
                candidate, &helps, &queries, &bases, snapshot,
            ));
            Recommendation {
                table: candidate.qualified_table(),
                describe: candidate.describe(),
                method: candidate.method,
                purpose: candidate.purpose,
                create_sql: candidate.create_sql(&name),
                drop_sql: candidate.drop_sql(&name),
                blocking_sql: candidate.create_sql_blocking(&name),
                extension: candidate.extension,
                proven: whatif.hypothetical_size(chosen.candidate).is_some(),
                size_bytes: chosen.size_bytes,
                gain_ms: chosen.gain_ms,
                helps,
                entries_per_sec: writes.entries_per_sec(candidate, snapshot),
                overhead_ms: facts[chosen.candidate].overhead_ms,
                hot: writes.hot_warning(candidate, snapshot),
                assumption: candidate.assumption.clone(),
                name,
            }
        })
        .collect();
    Ok(PlanningResult {
        outcomes,
        recommendations,
        conditional,
        skipped,
        no_user_tables,
        candidates: candidates.len(),
        served,
        explains: whatif.explains,
        cache_hits: whatif.cache_hits,
        hypothetical_created: whatif.hypothetical_created,
        refused: whatif
            .refused()
            .into_iter()
            .map(|(c, reason)| RefusedCandidate {
                table: candidates[c].qualified_table(),
                index: candidates[c].describe(),
                reason,
            })
            .collect(),
        timed,
    })
}

/// How a query is planned today: with its values when known, else from its normalized
/// text ([`normalized`]). Returns the plan recipe, its cost, and how it was planned; or why
/// it cannot be planned.
///
/// With several examples, what-if planning uses the one the planner expects to read a
/// typical number of rows for: the closest to the examples' mean. Values are often skewed
/// (a few heavy users and conversations), and the workload's time is calls × mean time, so
/// the mean, not the first example nor the median, is what an index has to serve.
async fn plan_baseline(
    session: &Session,
    snapshot: &Snapshot,
    query: &Query,
    tables: Vec<u32>,
) -> Result<(Planned, f64, PlanBasis), String> {
    if !query.needs_values() {
        let texts: Vec<&String> = if query.examples.is_empty() {
            vec![&query.normalized]
        } else {
            query.examples.iter().collect()
        };
        let mut planned_examples: Vec<(Planned, f64, f64)> = Vec::new();
        let mut first_error = None;
        for text in texts {
            let planned = Planned {
                text: text.clone(),
                args: None,
                custom: false,
                types: Vec::new(),
                tables: tables.clone(),
            };
            match explain::explain(session, planned.statement(), ExplainOptions::default()).await {
                Ok(explained) => {
                    let rows: f64 = explained
                        .plan
                        .nodes()
                        .iter()
                        .filter(|n| n.relation.is_some())
                        .map(|n| n.rows)
                        .sum();
                    planned_examples.push((planned, explained.plan.total_cost, rows));
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if !planned_examples.is_empty() {
            let mean = planned_examples.iter().map(|(.., rows)| rows).sum::<f64>()
                / planned_examples.len() as f64;
            planned_examples.sort_by(|a, b| (a.2 - mean).abs().total_cmp(&(b.2 - mean).abs()));
            let (planned, cost, _) = planned_examples.swap_remove(0);
            return Ok((planned, cost, PlanBasis::Values));
        }
        // Values that do not fit their types: plan the shape generically instead.
        if let Some(e) = first_error.filter(|_| !workload::has_parameters(&query.normalized)) {
            return Err(format!("could not be planned: {e}"));
        }
    }
    // A workload's own text with `$n` (a .sql file of pg_stat_statements texts) is planned
    // as written: brisk's normalization would also replace constants that are syntax there,
    // such as `GROUP BY 1`.
    let text = query
        .examples
        .iter()
        .find(|e| workload::has_parameters(e))
        .unwrap_or(&query.normalized);
    let ranged = query
        .analysis
        .tables
        .iter()
        .any(|t| t.range.iter().any(|r| !r.under_or));
    normalized::plan(session, snapshot, text, tables, ranged).await
}

/// Names for every candidate, unique among them and among the database's indexes.
fn unique_names(candidates: &[Candidate], snapshot: &Snapshot) -> Vec<String> {
    let mut taken: Vec<String> = snapshot.indexes.iter().map(|i| i.name.clone()).collect();
    candidates
        .iter()
        .map(|c| {
            let base = c.name();
            let mut name = base.clone();
            let mut n = 2;
            while taken.contains(&name) {
                let suffix = format!("_{n}");
                let cut = base.len().min(63 - suffix.len());
                name = format!("{}{suffix}", &base[..cut]);
                n += 1;
            }
            taken.push(name.clone());
            name
        })
        .collect()
}

/// The queries whose cost a candidate may change: they read its table and test, join, sort
/// or group by the column it leads with (any column it holds, for GIN and BRIN).
fn affected_queries(
    candidate: &Candidate,
    queries: &[Query],
    planned: &[Planned],
    columns: &[HashMap<u32, Vec<String>>],
) -> Vec<usize> {
    let lead: Vec<&String> = match candidate.method {
        Method::Btree => candidate
            .keys
            .first()
            .map(|k| k.reads.iter().collect())
            .unwrap_or_default(),
        Method::Gin | Method::Brin => candidate.keys.iter().flat_map(|k| &k.reads).collect(),
    };
    (0..queries.len())
        .filter(|&q| {
            planned[q].tables.contains(&candidate.table_oid)
                && !(queries[q].analysis.kind == StatementKind::Insert
                    && queries[q].analysis.reads.is_empty())
                && columns[q]
                    .get(&candidate.table_oid)
                    .is_some_and(|cols| lead.iter().any(|l| cols.contains(l)))
        })
        .collect()
}

/// A size estimate for candidates HypoPG does not size (GIN, or no HypoPG), in bytes, from
/// the rows and the columns' average widths: index tuples carry an 8-byte header and a
/// 6-byte heap pointer, and btree pages are filled to 90%. GIN sizes are rough: trigram
/// and full-text indexes run at about the size of the text they index, arrays at a few
/// bytes per element.
fn modeled_size(candidate: &Candidate, snapshot: &Snapshot) -> f64 {
    let Some(table) = snapshot
        .tables
        .iter()
        .find(|t| t.oid == candidate.table_oid)
    else {
        return 0.0;
    };
    let rows = snapshot.rows(table);
    let width = |column: &str| {
        snapshot
            .column(table.oid, column)
            .and_then(|c| c.avg_width)
            .unwrap_or(8.0)
    };
    let key_width: f64 = candidate
        .keys
        .iter()
        .flat_map(|k| &k.reads)
        .chain(&candidate.include)
        .map(|c| width(c))
        .sum();
    match candidate.method {
        Method::Btree => rows * (key_width + 14.0) / 0.9,
        Method::Gin => rows * key_width.max(8.0),
        Method::Brin => (table.pages as f64 / 128.0 * 32.0).max(8192.0),
    }
}

/// Write rates of the tables, for the overhead of new indexes and HOT warnings.
struct WriteRates {
    /// Seconds the workload's calls cover.
    window_secs: f64,
    /// The table statistics count since this many seconds.
    stats_secs: f64,
    /// Columns the workload's `UPDATE`s change, by table oid.
    updated: HashMap<u32, Vec<String>>,
    /// Rows the workload itself writes, by table oid (for file workloads).
    workload_writes: HashMap<u32, f64>,
    from_statistics: bool,
}

impl WriteRates {
    fn new(snapshot: &Snapshot, queries: &[Query], window_secs: f64) -> WriteRates {
        let mut updated: HashMap<u32, Vec<String>> = HashMap::new();
        let mut workload_writes: HashMap<u32, f64> = HashMap::new();
        let mut timed = true;
        for query in queries {
            timed &= query.mean_ms.is_some();
            let Some(table) = query
                .analysis
                .writes
                .first()
                .and_then(|t| snapshot.resolve(t))
            else {
                continue;
            };
            let entry = updated.entry(table.oid).or_default();
            for column in &query.updated_columns {
                if !entry.contains(column) {
                    entry.push(column.clone());
                }
            }
            if matches!(
                query.analysis.kind,
                StatementKind::Insert | StatementKind::Update
            ) {
                *workload_writes.entry(table.oid).or_default() += query.rows.unwrap_or(query.calls);
            }
        }
        WriteRates {
            window_secs,
            stats_secs: snapshot.window.age_secs().max(1.0),
            updated,
            workload_writes,
            // pg_stat_statements and the table counters run side by side on the server.
            from_statistics: timed,
        }
    }

    fn breaks_hot(&self, candidate: &Candidate) -> Vec<String> {
        let updated = self.updated.get(&candidate.table_oid);
        candidate
            .columns_read()
            .into_iter()
            .filter(|c| updated.is_some_and(|u| u.contains(c)))
            .collect()
    }

    /// Index entries written per second: every insert, every update that is not HOT, and
    /// the HOT ones too when the index covers a column they change.
    fn entries_per_sec(&self, candidate: &Candidate, snapshot: &Snapshot) -> f64 {
        let Some(table) = snapshot
            .tables
            .iter()
            .find(|t| t.oid == candidate.table_oid)
        else {
            return 0.0;
        };
        let non_hot = (table.updated - table.hot_updated).max(0) as f64;
        let hot = if self.breaks_hot(candidate).is_empty() {
            0.0
        } else {
            table.hot_updated as f64
        };
        (table.inserted as f64 + non_hot + hot) / self.stats_secs
    }

    fn overhead_ms(&self, candidate: &Candidate, snapshot: &Snapshot) -> f64 {
        let entries = if self.from_statistics {
            self.entries_per_sec(candidate, snapshot) * self.window_secs
        } else {
            self.workload_writes
                .get(&candidate.table_oid)
                .copied()
                .unwrap_or(0.0)
        };
        let per_entry = match candidate.method {
            Method::Btree => MS_PER_BTREE_ENTRY,
            Method::Brin => MS_PER_BRIN_ENTRY,
            Method::Gin => {
                let width: f64 = candidate
                    .keys
                    .iter()
                    .flat_map(|k| &k.reads)
                    .filter_map(|c| snapshot.column(candidate.table_oid, c))
                    .filter_map(|c| c.avg_width)
                    .sum();
                (width * MS_PER_GIN_BYTE).max(MS_PER_BTREE_ENTRY)
            }
        };
        entries * per_entry
    }

    fn hot_warning(&self, candidate: &Candidate, snapshot: &Snapshot) -> Option<HotWarning> {
        let columns = self.breaks_hot(candidate);
        if columns.is_empty() {
            return None;
        }
        let table = snapshot
            .tables
            .iter()
            .find(|t| t.oid == candidate.table_oid)?;
        Some(HotWarning {
            columns,
            hot_updates_per_sec: table.hot_updated as f64 / self.stats_secs,
            updates_per_sec: table.updated as f64 / self.stats_secs,
        })
    }
}
