//! Turning [`Advice`] into findings and into migration files.
//!
//! Every figure of a recommendation carries its unit. Planner costs are the planner's own
//! units, and everything derived from them is in `impact.estimated`; only what `--verify`
//! ran goes in `impact.measured`.

use brisk_report::{format_bytes, Evidence, Finding, Fix, Report, Severity, Target, Unit};

use super::{
    Advice, ConditionalPartial, HypoStatus, Method, PlanBasis, Purpose, Recommendation,
    RepeatedRuns,
};

/// The finding ids `brisk advise` produces, with what each says.
pub const ADVISE_CHECKS: &[(&str, &str)] = &[
    (
        "advise.index",
        "a recommended index, with its DDL, rollback and numbers",
    ),
    (
        "advise.partial",
        "conditional: a partial index much smaller than a recommended one, if the calls pass one value",
    ),
    (
        "advise.workload",
        "the workload as planned, before and after the recommendations",
    ),
    (
        "advise.hypopg",
        "HypoPG is missing: the advice is ranked but unproven",
    ),
    (
        "advise.skipped",
        "a query that does not parse or cannot be planned",
    ),
    (
        "advise.regression",
        "a query measured slower with the new indexes (--verify)",
    ),
    (
        "advise.n_plus_one",
        "an N+1 or row-by-row writes in a proxy capture, with the rewrite that batches it",
    ),
];

/// How many helped queries a recommendation lists with their costs.
const QUERIES_SHOWN: usize = 5;

/// A query is a regression when its measured median grows by this factor and by at least
/// `REGRESSION_MIN_MS`: below that, run-to-run noise on a busy machine.
const REGRESSION_FACTOR: f64 = 1.2;
const REGRESSION_MIN_MS: f64 = 0.5;

/// One migration file: its name in the directory and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub file_name: String,
    pub contents: String,
}

/// `(before - after) / before` in percent, negative for a drop.
fn change_pct(before: f64, after: f64) -> f64 {
    if before > 0.0 {
        100.0 * (after - before) / before
    } else {
        0.0
    }
}

impl Advice {
    /// The findings of this advice.
    pub fn report(&self) -> Report {
        let mut target = Target::new("postgresql", &self.target);
        target.version = Some(self.server_version.clone());
        let mut report = Report::new("advise", target);
        report.checks_run = ADVISE_CHECKS.iter().map(|(id, _)| id.to_string()).collect();
        report.coverage = Some(self.coverage);
        let (workload_before, _) = self.workload_ms();
        if let HypoStatus::Missing { available } = self.hypopg {
            report
                .findings
                .push(hypopg_missing(available, &self.server_version));
        }
        for recommendation in &self.recommendations {
            report
                .findings
                .push(self.recommendation(recommendation, workload_before));
        }
        report
            .findings
            .extend(self.conditional.iter().map(conditional_finding));
        report.findings.push(self.summary());
        report.findings.extend(self.regressions());
        for skipped in &self.skipped {
            report.findings.push(
                Finding::new(
                    "advise.skipped",
                    Severity::Info,
                    skipped.origin.clone(),
                    format!("Query skipped: it {}", first_clause(&skipped.reason)),
                )
                .detail(skipped.reason.clone())
                .query(skipped.query.clone()),
            );
        }
        report
            .findings
            .extend(self.patterns.iter().map(|p| self.pattern_finding(p)));
        report.notes = self.notes();
        report.sort();
        report
    }

    /// An N+1 or row-by-row write the capture recorded: the rewrite, the index the
    /// repeated statement needs when this advice has one for it, and the ORM's idiom when
    /// the client or the SQL shows the ORM.
    fn pattern_finding(&self, p: &RepeatedRuns) -> Finding {
        let runs = match p.runs {
            1 => "1 run".to_string(),
            n => format!("{n} runs"),
        };
        let title = if p.kind == "bulk-write" {
            format!(
                "Row-by-row INSERTs: {}, {} statements, {:.1} ms in all",
                runs, p.executions, p.total_ms
            )
        } else {
            format!(
                "N+1: one statement per row, {}, {} statements, {:.1} ms in all",
                runs, p.executions, p.total_ms
            )
        };
        let mut detail = Vec::new();
        if let Some(source) = &p.source {
            detail.push(format!("After: {source}"));
        }
        detail.push(format!(
            "Repeated, with different values, up to {} times in a row (recorded by brisk proxy's capture).",
            p.longest_run
        ));
        if !p.applications.is_empty() {
            detail.push(format!("application_name: {}.", p.applications.join(", ")));
        }
        if let Some(trace) = &p.traceparent {
            detail.push(format!("Latest traceparent: {trace}."));
        }
        // Batched or not, the repeated statement reads its rows the same way: an index this
        // advice proposes for it serves the batched form too.
        let repeated = brisk_sql::fingerprint(&p.repeated)
            .ok()
            .map(|f| f.to_string());
        for index in self.recommendations.iter().filter(|r| {
            r.helps
                .iter()
                .any(|&q| Some(&self.queries[q].fingerprint) == repeated.as_ref())
        }) {
            detail.push(format!(
                "The index this report proposes for the repeated statement serves it, batched or not: {}",
                index.create_sql
            ));
        }
        let kind = if p.kind == "bulk-write" {
            brisk_patterns::DetectionKind::BulkWrite
        } else {
            brisk_patterns::DetectionKind::NPlusOne
        };
        let application = p.applications.first().map_or("", String::as_str);
        if let Some(hint) = brisk_patterns::orm_hint(kind, application, &p.repeated, "") {
            detail.push(format!("{hint}."));
        }
        let mut finding = Finding::new("advise.n_plus_one", Severity::Warning, "workload", title)
            .detail(detail.join(" "))
            .query(p.repeated.clone())
            .evidence(Evidence::new("runs", p.runs as f64, Unit::Count))
            .evidence(Evidence::new(
                "statements",
                p.executions as f64,
                Unit::Count,
            ))
            .evidence(Evidence::new("time", p.total_ms, Unit::Milliseconds));
        if let Some(suggestion) = &p.suggestion {
            finding = finding.fix(Fix::manual(suggestion.clone()));
        }
        finding
    }

    fn recommendation(&self, r: &Recommendation, workload_ms: f64) -> Finding {
        let helped: Vec<usize> = {
            let mut helped = r.helps.clone();
            helped.sort_by(|&a, &b| {
                let gain = |q: usize| {
                    let (before, after) = self.queries[q].estimated_ms();
                    before - after
                };
                gain(b).total_cmp(&gain(a))
            });
            helped
        };
        let best_drop = helped
            .iter()
            .map(|&q| -change_pct(self.queries[q].cost_before, self.queries[q].cost_after))
            .fold(0.0, f64::max);
        let queries_word = if helped.len() == 1 {
            "query"
        } else {
            "queries"
        };
        let title = if r.proven {
            format!(
                "Create index on {}: up to {best_drop:.0}% less planned cost for {} {queries_word} (estimate)",
                r.describe,
                helped.len()
            )
        } else {
            format!(
                "Create index on {}: up to {best_drop:.0}% less cost for {} {queries_word} (unproven estimate)",
                r.describe,
                helped.len()
            )
        };
        let mut detail = vec![purpose_sentence(r)];
        if let Some(assumption) = &r.assumption {
            detail.push(format!("Assumed: {assumption}"));
        }
        if !r.proven {
            detail.push(match r.method {
                Method::Gin => "HypoPG cannot simulate GIN indexes, so this benefit comes from brisk's model of a bitmap index scan over the rows the planner expects, not from the planner: unproven until --verify builds it.".to_string(),
                _ => "HypoPG is not available, so this benefit comes from brisk's model of an index scan over the rows the planner expects: unproven until HypoPG or --verify confirms it.".to_string(),
            });
        }
        for (i, &q) in helped.iter().take(QUERIES_SHOWN).enumerate() {
            let query = &self.queries[q];
            detail.push(format!(
                "Query {} ({} calls{}): cost {} -> {} planner units; {} -> {}. {}",
                i + 1,
                brisk_report::format_count(query.calls),
                match query.basis {
                    PlanBasis::Values => "",
                    PlanBasis::Generic | PlanBasis::GenericRewritten => ", generic plan",
                    PlanBasis::RangeValues { .. } => ", custom plan for representative values",
                    PlanBasis::Representative =>
                        ", planned with representative values from pg_stats",
                },
                brisk_report::format_count(query.cost_before),
                brisk_report::format_count(query.cost_after),
                join_paths(&query.paths_before),
                join_paths(&query.paths_after),
                query.query
            ));
        }
        if let Some(verification) = &self.verification {
            for (i, &q) in helped.iter().take(QUERIES_SHOWN).enumerate() {
                let Some(m) = verification.measured.iter().find(|m| m.query == q) else {
                    continue;
                };
                if let (Some(before), Some(after)) = (m.before.median_ms, m.after.median_ms) {
                    detail.push(format!(
                        "Measured, query {}: median {before:.3} ms -> {after:.3} ms; {} -> {}.",
                        i + 1,
                        join_paths(&m.before.paths),
                        join_paths(&m.after.paths)
                    ));
                }
            }
        }
        if helped.len() > QUERIES_SHOWN {
            detail.push(format!(
                "It helps {} more queries.",
                helped.len() - QUERIES_SHOWN
            ));
        }
        if let Some(hot) = &r.hot {
            detail.push(format!(
                "HOT warning: the workload's updates change {}, which this index stores; those updates can no longer be HOT (heap-only), so each one writes a new entry in every index of the table and leaves more bloat. Today {:.2} of {:.2} updates per second are HOT.",
                hot.columns.join(", "),
                hot.hot_updates_per_sec,
                hot.updates_per_sec
            ));
        }
        if let Some(extension) = r.extension {
            detail.push(format!(
                "It needs the {extension} extension, which this database has not created: the fix creates it first (it ships with PostgreSQL's contrib package)."
            ));
        }
        let mut finding = Finding::new("advise.index", Severity::Warning, r.table.clone(), title)
            .detail(detail.join("\n"));
        if let Some(&top) = helped.first() {
            finding = finding.query(self.queries[top].query.clone());
        }
        finding = finding
            .estimated(Evidence::new("index size", r.size_bytes, Unit::Bytes))
            .estimated(Evidence::new(
                "workload time saved",
                r.gain_ms.max(0.0),
                Unit::Milliseconds,
            ))
            .estimated(Evidence::new(
                "workload time change",
                -100.0 * r.gain_ms.max(0.0) / workload_ms.max(f64::MIN_POSITIVE),
                Unit::Percent,
            ))
            .estimated(Evidence::new(
                "index entries written per second",
                r.entries_per_sec,
                Unit::Count,
            ))
            .estimated(Evidence::new(
                "write overhead over the workload",
                r.overhead_ms,
                Unit::Milliseconds,
            ));
        if let Some(hot) = &r.hot {
            finding = finding.estimated(Evidence::new(
                "HOT updates per second that would stop being HOT",
                hot.hot_updates_per_sec,
                Unit::Count,
            ));
        }
        for (i, &q) in helped.iter().take(QUERIES_SHOWN).enumerate() {
            let query = &self.queries[q];
            finding = finding
                .estimated(Evidence::new(
                    format!("query {} cost before (planner units)", i + 1),
                    query.cost_before,
                    Unit::Count,
                ))
                .estimated(Evidence::new(
                    format!("query {} cost after (planner units)", i + 1),
                    query.cost_after,
                    Unit::Count,
                ));
        }
        if let Some(verification) = &self.verification {
            if let Some(built) = verification.built.iter().find(|b| b.name == r.name) {
                let impact = finding.impact.get_or_insert_with(Default::default);
                impact
                    .measured
                    .push(Evidence::new("build time", built.seconds, Unit::Seconds));
                impact
                    .measured
                    .push(Evidence::new("size on disk", built.size_bytes, Unit::Bytes));
                for (i, &q) in helped.iter().take(QUERIES_SHOWN).enumerate() {
                    let Some(m) = verification.measured.iter().find(|m| m.query == q) else {
                        continue;
                    };
                    let (Some(before), Some(after)) = (m.before.median_ms, m.after.median_ms)
                    else {
                        continue;
                    };
                    impact.measured.push(Evidence::new(
                        format!("query {} median time before", i + 1),
                        before,
                        Unit::Milliseconds,
                    ));
                    impact.measured.push(Evidence::new(
                        format!("query {} median time after", i + 1),
                        after,
                        Unit::Milliseconds,
                    ));
                    if let (Some(b), Some(a)) = (m.before.buffers, m.after.buffers) {
                        impact.measured.push(Evidence::new(
                            format!("query {} buffers before", i + 1),
                            b,
                            Unit::Count,
                        ));
                        impact.measured.push(Evidence::new(
                            format!("query {} buffers after", i + 1),
                            a,
                            Unit::Count,
                        ));
                    }
                }
            }
        }
        let mut apply = String::new();
        if let Some(extension) = r.extension {
            apply.push_str(&format!("CREATE EXTENSION IF NOT EXISTS {extension};\n"));
        }
        apply.push_str(&r.create_sql);
        finding.fix(
            Fix::sql(apply)
                .rollback(r.drop_sql.clone())
                .note("CREATE INDEX CONCURRENTLY does not block writes, but cannot run inside a transaction block: run it on its own (psql, or a migration with its transaction turned off), with a lock_timeout so it never queues behind a long transaction. If it fails it leaves an INVALID index: run the rollback before retrying, because IF NOT EXISTS would keep the invalid one."),
        )
    }

    fn summary(&self) -> Finding {
        let (before, after) = self.workload_ms();
        let planned = self.queries.len();
        let coverage = self.coverage;
        let title = if self.recommendations.is_empty() {
            format!("{coverage}: no index would save enough to be worth it (estimate)")
        } else {
            format!(
                "{coverage}: {} indexes cut the estimated workload time by {:.0}%",
                self.recommendations.len(),
                -change_pct(before, after)
            )
        };
        let total_size: f64 = self.recommendations.iter().map(|r| r.size_bytes).sum();
        let mut finding = Finding::new("advise.workload", Severity::Info, "workload", title)
            .detail(format!(
                "{} candidate indexes were generated from the queries' predicates; {} more were dropped because an existing index already serves them. The set was chosen for the whole workload by benefit per byte. {} new indexes, {} in all (estimate).",
                self.candidates,
                self.served_by_existing,
                self.recommendations.len(),
                format_bytes(total_size)
            ))
            .evidence(Evidence::new("queries planned", planned as f64, Unit::Count))
            .evidence(Evidence::new("queries skipped", self.skipped.len() as f64, Unit::Count))
            .evidence(Evidence::new(
                "statements to plan",
                self.coverage.statements as f64,
                Unit::Count,
            ))
            .evidence(Evidence::new("candidate indexes", self.candidates as f64, Unit::Count))
            .evidence(Evidence::new(
                "what-if EXPLAIN calls",
                self.explains as f64,
                Unit::Count,
            ))
            .evidence(Evidence::new(
                "what-if cache hits",
                self.cache_hits as f64,
                Unit::Count,
            ))
            .evidence(Evidence::new(
                "hypothetical indexes created",
                self.hypothetical_created as f64,
                Unit::Count,
            ))
            .evidence(Evidence::new("advisor runtime", self.elapsed_secs, Unit::Seconds))
            .estimated(Evidence::new("workload time before", before, Unit::Milliseconds))
            .estimated(Evidence::new("workload time after", after, Unit::Milliseconds))
            .estimated(Evidence::new(
                "workload time change",
                change_pct(before, after),
                Unit::Percent,
            ))
            .estimated(Evidence::new("new index size", total_size, Unit::Bytes));
        if let Some(pct) = coverage.time_pct {
            finding = finding.evidence(Evidence::new("workload time planned", pct, Unit::Percent));
        }
        if let Some(v) = &self.verification {
            let (mut b, mut a) = (0.0, 0.0);
            for m in &v.measured {
                if let (Some(before), Some(after)) = (m.before.median_ms, m.after.median_ms) {
                    let calls = self.queries[m.query].calls;
                    b += before * calls;
                    a += after * calls;
                }
            }
            let impact = finding.impact.get_or_insert_with(Default::default);
            impact.measured.push(Evidence::new(
                "workload time before (medians × calls)",
                b,
                Unit::Milliseconds,
            ));
            impact.measured.push(Evidence::new(
                "workload time after (medians × calls)",
                a,
                Unit::Milliseconds,
            ));
            impact.measured.push(Evidence::new(
                "workload time change",
                change_pct(b, a),
                Unit::Percent,
            ));
        }
        finding
    }

    fn regressions(&self) -> Vec<Finding> {
        let Some(v) = &self.verification else {
            return Vec::new();
        };
        v.measured
            .iter()
            .filter_map(|m| {
                let (before, after) = (m.before.median_ms?, m.after.median_ms?);
                if after < before * REGRESSION_FACTOR || after - before < REGRESSION_MIN_MS {
                    return None;
                }
                let query = &self.queries[m.query];
                Some(
                    Finding::new(
                        "advise.regression",
                        Severity::Warning,
                        format!("fingerprint {}", query.fingerprint),
                        format!(
                            "A query got slower with the new indexes: median {before:.2} ms -> {after:.2} ms (measured)"
                        ),
                    )
                    .detail(format!(
                        "Plan before: {}. Plan after: {}. Check whether one of the new indexes misleads the planner for it.",
                        join_paths(&m.before.paths),
                        join_paths(&m.after.paths)
                    ))
                    .query(query.query.clone())
                    .evidence(Evidence::new("median time before", before, Unit::Milliseconds))
                    .evidence(Evidence::new("median time after", after, Unit::Milliseconds)),
                )
            })
            .collect()
    }

    fn notes(&self) -> Vec<String> {
        let mut notes = vec![format!("Workload: {}.", self.source)];
        notes.push(if self.timed {
            "Estimated times scale each query's measured mean time by the change in its planner cost.".to_string()
        } else {
            format!(
                "Some queries have no measured time: their estimated times assume {} ms per planner cost unit.",
                super::DEFAULT_MS_PER_COST_UNIT
            )
        });
        let count = |basis: PlanBasis| self.queries.iter().filter(|q| q.basis == basis).count();
        let generic = self.queries.iter().filter(|q| q.basis.is_generic()).count();
        if generic > 0 {
            notes.push(format!(
                "{generic} normalized queries were planned generically (PREPARE, plan_cache_mode = force_generic_plan, EXPLAIN EXECUTE with values from pg_stats)."
            ));
        }
        let ranged = self
            .queries
            .iter()
            .filter(|q| matches!(q.basis, PlanBasis::RangeValues { .. }))
            .count();
        if ranged > 0 {
            notes.push(format!(
                "{ranged} normalized queries with a range on a parameter were planned for representative values from pg_stats (a bound that keeps a tenth of the rows, an interval of a day), not generically: a generic plan guesses that any range keeps a third of the rows."
            ));
        }
        let rewritten =
            count(PlanBasis::GenericRewritten) + count(PlanBasis::RangeValues { rewritten: true });
        if rewritten > 0 {
            notes.push(format!(
                "{rewritten} normalized queries did not prepare as pg_stat_statements prints them: brisk wrote typed placeholders (interval $1) as casts or named their parameters' types, for planning only."
            ));
        }
        let representative = count(PlanBasis::Representative);
        if representative > 0 {
            notes.push(format!(
                "{representative} normalized queries did not prepare with any typing of their parameters: they were planned with representative values from pg_stats in place of the parameters, so their plans are for those values."
            ));
        }
        if self.not_queries > 0 {
            notes.push(format!(
                "{} statements are not queries (DDL, SET, transaction control) and were left out.",
                self.not_queries
            ));
        }
        for refused in &self.refused_candidates {
            notes.push(format!(
                "The candidate index {} was left out: HypoPG refused it ({}).",
                refused.index, refused.reason
            ));
        }
        if self.no_user_tables > 0 {
            notes.push(format!(
                "{} queries read no table of this database's schemas and were left out.",
                self.no_user_tables
            ));
        }
        if let Some(v) = &self.verification {
            notes.push(format!(
                "Verified on {}{}: each query ran {} times with EXPLAIN (ANALYZE, BUFFERS) before and after the indexes were built; medians are measured. The indexes were {}.{}",
                v.target,
                if v.sandbox { " (a sandbox copy)" } else { "" },
                v.runs,
                if v.kept { "kept" } else { "dropped afterwards" },
                if v.writes_skipped > 0 {
                    format!(" {} write queries were not run: brisk only runs writes in a sandbox.", v.writes_skipped)
                } else {
                    String::new()
                }
            ));
            for (name, error) in &v.failed {
                notes.push(format!(
                    "Building {name} on the verification target failed: {error}"
                ));
            }
        }
        notes
    }

    /// Numbered migration and rollback files, one pair per recommendation, in the order
    /// they were chosen.
    pub fn migrations(&self) -> Vec<Migration> {
        let (workload_ms, _) = self.workload_ms();
        let mut files = Vec::new();
        for (i, r) in self.recommendations.iter().enumerate() {
            let number = format!("{:03}", i + 1);
            let summary = format!(
                "-- Helps {} queries; estimated workload time {:+.1}%; estimated size {}.{}\n",
                r.helps.len(),
                -100.0 * r.gain_ms.max(0.0) / workload_ms.max(f64::MIN_POSITIVE),
                format_bytes(r.size_bytes),
                if r.proven {
                    ""
                } else {
                    " Unproven: see brisk advise's report."
                }
            );
            let mut up = format!(
                "-- brisk advise {number}: index on {}\n{summary}--\n\
                 -- No transaction block: CREATE INDEX CONCURRENTLY cannot run inside one, so run this\n\
                 -- file on its own (psql -f), or turn off your migration tool's transaction for it.\n\
                 -- lock_timeout: the build briefly needs a lock on the table at its start and end;\n\
                 -- rather than queue behind a long transaction (and hold up the writes queued behind\n\
                 -- it), it gives up. statement_timeout is lifted because a build can take minutes.\n\
                 -- If it fails it leaves an INVALID index: run the rollback file before retrying,\n\
                 -- because IF NOT EXISTS would keep the invalid one.\n\
                 SET lock_timeout = '5s';\n\
                 SET statement_timeout = 0;\n",
                r.describe
            );
            if let Some(hot) = &r.hot {
                up.push_str(&format!(
                    "-- HOT warning: updates that change {} will no longer be HOT.\n",
                    hot.columns.join(", ")
                ));
            }
            if let Some(extension) = r.extension {
                up.push_str(&format!("CREATE EXTENSION IF NOT EXISTS {extension};\n"));
            }
            up.push_str(&r.create_sql);
            up.push('\n');
            let down = format!(
                "-- brisk advise {number} rollback: drops the index on {}\n\
                 -- No transaction block: DROP INDEX CONCURRENTLY cannot run inside one.\n{}\
                 SET lock_timeout = '5s';\n\
                 {}\n",
                r.describe,
                match r.extension {
                    Some(extension) => format!(
                        "-- The {extension} extension stays: other indexes or queries may use it.\n"
                    ),
                    None => String::new(),
                },
                r.drop_sql
            );
            files.push(Migration {
                file_name: format!("{number}_{}.up.sql", r.name),
                contents: up,
            });
            files.push(Migration {
                file_name: format!("{number}_{}.down.sql", r.name),
                contents: down,
            });
        }
        files
    }
}

fn purpose_sentence(r: &Recommendation) -> String {
    match r.purpose {
        Purpose::Lookup => "A btree that finds the rows by the queries' equality columns, then delivers them in their ORDER BY order or narrows the range.".to_string(),
        Purpose::Covering => "A covering btree: its INCLUDE columns hold everything the queries read, so PostgreSQL can answer from the index alone (an index-only scan) once the table is vacuumed.".to_string(),
        Purpose::Trigram => "A trigram GIN index (pg_trgm): LIKE and ILIKE patterns that start with a wildcard cannot use a btree.".to_string(),
        Purpose::Pattern => "A btree with a pattern operator class: it serves LIKE 'prefix%' whatever the database's collation.".to_string(),
        Purpose::FullText => "A GIN index on the same to_tsvector expression the queries search, so @@ no longer parses every row.".to_string(),
        Purpose::Containment => "A GIN index for containment and overlap (@>, <@, &&).".to_string(),
        Purpose::Expression => "An expression index: the queries filter on an expression of the column, which a plain index on the column cannot serve.".to_string(),
        Purpose::Brin => "A BRIN index: the column follows the table's physical order (correlation near 1), so a tiny summary per block range lets range queries skip most of the table.".to_string(),
    }
}

fn join_paths(paths: &[String]) -> String {
    if paths.is_empty() {
        "no table scan".to_string()
    } else {
        paths.join(", ")
    }
}

/// `does not parse: syntax error at ...` → `does not parse`.
fn first_clause(reason: &str) -> &str {
    reason.split(':').next().unwrap_or(reason)
}

fn hypopg_missing(available: bool, version: &str) -> Finding {
    let major = version
        .trim_start_matches("PostgreSQL ")
        .split('.')
        .next()
        .unwrap_or("NN")
        .to_string();
    let detail = if available {
        "HypoPG is installed on the server but not created in this database. Without it brisk cannot ask the planner whether an index would be used, so the recommendations are ranked by a model of the plan and row estimates, and labeled unproven. Creating the extension needs CREATE privilege on the database (a superuser, or the database owner on PostgreSQL 13 and later for trusted extensions)."
    } else {
        "HypoPG is not installed on the server. Without it brisk cannot ask the planner whether an index would be used, so the recommendations are ranked by a model of the plan and row estimates, and labeled unproven."
    };
    let apply = if available {
        "CREATE EXTENSION hypopg;".to_string()
    } else {
        format!("-- Debian/Ubuntu (PGDG packages): apt-get install postgresql-{major}-hypopg\n-- RHEL: dnf install hypopg_{major}; from source: github.com/HypoPG/hypopg\nCREATE EXTENSION hypopg;")
    };
    Finding::new(
        "advise.hypopg",
        Severity::Warning,
        "hypopg",
        "HypoPG is missing: the index advice is ranked but unproven",
    )
    .detail(detail)
    .fix(
        Fix::sql(apply)
            .rollback("DROP EXTENSION hypopg;")
            .note("HypoPG's hypothetical indexes live only in the memory of brisk's own connection: they change nothing on disk and no other session sees them."),
    )
}

/// A partial index that would replace a recommendation if the calls pass one value: the
/// source kept no values, so it is labeled conditional and carries the query to check with.
fn conditional_finding(c: &ConditionalPartial) -> Finding {
    let rarest = &c.values[0];
    let title = format!(
        "Conditional: if the calls pass {} = '{}', a partial index would be about {:.0}x smaller than {} (estimate)",
        c.column,
        rarest.value,
        rarest.size_ratio(),
        c.replaces
    );
    let shares: Vec<String> = c
        .values
        .iter()
        .map(|v| format!("'{}' {:.1}%", v.value, 100.0 * v.frequency))
        .collect();
    let detail = format!(
        "The workload's texts hold no values ({} = $n), so brisk cannot tell which {} the calls pass. pg_stats says these common values keep few rows: {}. If every call of the {} this index helps passes one of them, a partial index on that value holds only its rows and serves them as well: {}. Check the application's code, or capture the values (brisk proxy with log_parameters = true, or a .sql workload) and run brisk advise on that: it then proposes the partial index with what-if proof.",
        c.column,
        c.column,
        shares.join(", "),
        match c.queries.len() {
            1 => "query".to_string(),
            n => format!("{n} queries"),
        },
        c.values
            .iter()
            .map(|v| v.describe.clone())
            .collect::<Vec<_>>()
            .join("; ")
    );
    let mut finding = Finding::new("advise.partial", Severity::Info, c.table.clone(), title)
        .detail(detail)
        .estimated(Evidence::new(
            "size of the partial index against the full one",
            100.0 * rarest.frequency,
            Unit::Percent,
        ));
    for (i, value) in c.values.iter().enumerate() {
        finding = finding.estimated(Evidence::new(
            format!("value {} share of rows", i + 1),
            100.0 * value.frequency,
            Unit::Percent,
        ));
    }
    finding.fix(
        Fix::manual(rarest.create_sql.clone())
            .rollback(rarest.drop_sql.clone())
            .note("Conditional: only if every call passes this value; calls with another value cannot use it. It would replace the recommended index, not join it."),
    )
}
