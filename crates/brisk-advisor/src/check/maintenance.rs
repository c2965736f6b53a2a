//! Vacuum and analyze: dead rows, missing and stale statistics, transaction ID age.

use brisk_pg::catalog::Table;
use brisk_report::{format_count, Evidence, Finding, Fix, Severity, Unit};

use super::{percent, CheckOptions, Part, Snapshot};

/// PostgreSQL stops assigning transaction IDs about 2^31 transactions after the oldest
/// unfrozen one; this is that horizon.
const WRAPAROUND_LIMIT: f64 = 2_147_483_648.0;
/// Past this age a wraparound is critical: 70% of the way to the forced shutdown, with
/// too little room left for a vacuum of a big table to finish comfortably.
const WRAPAROUND_CRITICAL_AGE: i64 = 1_500_000_000;
/// PostgreSQL's default `autovacuum_freeze_max_age`.
const DEFAULT_FREEZE_MAX_AGE: i64 = 200_000_000;
/// PostgreSQL's default `autovacuum_multixact_freeze_max_age`.
const DEFAULT_MULTIXACT_FREEZE_MAX_AGE: i64 = 400_000_000;

fn vacuum_ages(finding: Finding, table: &Table) -> Finding {
    let mut finding = finding;
    if let Some(age) = table.last_vacuum_any() {
        finding = finding.evidence(Evidence::new("since last vacuum", age, Unit::Seconds));
    }
    if let Some(age) = table.last_analyze_any() {
        finding = finding.evidence(Evidence::new("since last analyze", age, Unit::Seconds));
    }
    finding
}

fn autovacuum_off_remark(table: &Table) -> &'static str {
    if table.autovacuum_enabled {
        ""
    } else {
        " Autovacuum is switched off for this table (autovacuum_enabled = false)."
    }
}

/// Tables where dead rows make up a large share: vacuum is not keeping up.
pub(super) fn dead_tuples(snapshot: &Snapshot, options: &CheckOptions) -> Part<Vec<Finding>> {
    let tables = snapshot.tables()?;
    let mut found: Vec<(&Table, f64)> = tables
        .iter()
        .filter(|t| t.dead_tuples >= options.dead_tuples_min_count)
        .filter_map(|t| {
            let ratio = percent(t.dead_tuples as f64, (t.live_tuples + t.dead_tuples) as f64)?;
            (ratio >= options.dead_tuples_min_pct).then_some((t, ratio))
        })
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.0.dead_tuples));
    Ok(found
        .into_iter()
        .map(|(table, ratio)| {
            let name = table.qualified_name();
            let vacuumed = match table.last_vacuum_any() {
                Some(_) => "",
                None => " It has never been vacuumed since statistics began.",
            };
            let mut apply = format!("VACUUM (ANALYZE, VERBOSE) {name};");
            if !table.autovacuum_enabled {
                apply.push_str(&format!("\nALTER TABLE {name} RESET (autovacuum_enabled);"));
            }
            let finding = Finding::new(
                "vacuum.dead_tuples",
                Severity::Warning,
                &name,
                format!("{:.0}% of the rows in {} are dead", ratio, table.name),
            )
            .detail(format!(
                "Dead rows take space and are read by every sequential scan until a vacuum removes them.{vacuumed}{}",
                autovacuum_off_remark(table)
            ))
            .evidence(Evidence::new("dead rows", table.dead_tuples as f64, Unit::Count))
            .evidence(Evidence::new("live rows", table.live_tuples as f64, Unit::Count))
            .evidence(Evidence::new("dead share", ratio, Unit::Percent));
            vacuum_ages(finding, table).fix(
                Fix::sql(apply).note(
                    "Plain VACUUM does not block reads or writes. If autovacuum keeps falling behind on this table, lower its autovacuum_vacuum_scale_factor (ALTER TABLE ... SET (autovacuum_vacuum_scale_factor = 0.05)).",
                ),
            )
        })
        .collect())
}

/// Whether a table has never been analyzed. The last-analyze times are activity counters,
/// which a statistics reset, crash recovery or failover clears, so they are not enough:
/// the planner's statistics themselves (`pg_stats`) must be missing too. Without SELECT on
/// the table its `pg_stats` rows are hidden; then `reltuples = -1` (PostgreSQL 14+: never
/// vacuumed nor analyzed) is the evidence.
fn never_analyzed_table(table: &Table) -> bool {
    let has_rows = table.live_tuples > 0 || table.pages > 0;
    let no_statistics = if table.can_select {
        !table.has_statistics
    } else {
        table.tuples < 0.0
    };
    has_rows && no_statistics && table.last_analyze_any().is_none()
}

/// Tables with rows that have never been analyzed: the planner guesses their row counts.
pub(super) fn never_analyzed(snapshot: &Snapshot, _options: &CheckOptions) -> Part<Vec<Finding>> {
    let tables = snapshot.tables()?;
    Ok(tables
        .iter()
        .filter(|t| t.relkind == 'r' || t.relkind == 'm')
        .filter(|t| never_analyzed_table(t))
        .map(|table| {
            let name = table.qualified_name();
            Finding::new(
                "vacuum.never_analyzed",
                Severity::Warning,
                &name,
                format!("Table {} has never been analyzed", table.name),
            )
            .detail(format!(
                "Without statistics the planner guesses row counts and value distributions for {}, which leads to bad join orders and scans.{}",
                table.name,
                autovacuum_off_remark(table)
            ))
            .evidence(Evidence::new("rows", table.live_tuples as f64, Unit::Count))
            .evidence(Evidence::new("size", table.heap_bytes as f64, Unit::Bytes))
            .fix(Fix::sql(format!("ANALYZE VERBOSE {name};")).note("ANALYZE reads a sample of the table and does not block reads or writes."))
        })
        .collect())
}

/// Tables changed a lot since their last analyze: autovacuum's analyze is behind.
pub(super) fn stale_statistics(snapshot: &Snapshot, options: &CheckOptions) -> Part<Vec<Finding>> {
    let tables = snapshot.tables()?;
    // Autovacuum analyzes after 10% + 50 rows change (autovacuum_analyze_scale_factor and
    // _threshold); twice that means it is late or off.
    Ok(tables
        .iter()
        .filter(|t| t.last_analyze_any().is_some())
        .filter(|t| {
            t.modified_since_analyze >= options.dead_tuples_min_count
                && t.modified_since_analyze as f64 >= 0.2 * t.live_tuples.max(1) as f64
        })
        .map(|table| {
            let name = table.qualified_name();
            let finding = Finding::new(
                "vacuum.stale_statistics",
                Severity::Warning,
                &name,
                format!(
                    "{} rows of {} changed since its last analyze",
                    format_count(table.modified_since_analyze as f64),
                    table.name
                ),
            )
            .detail(format!(
                "The planner's picture of {} is out of date, so its estimates drift from the real row counts.{}",
                table.name,
                autovacuum_off_remark(table)
            ))
            .evidence(Evidence::new(
                "changed since analyze",
                table.modified_since_analyze as f64,
                Unit::Count,
            ))
            .evidence(Evidence::new("live rows", table.live_tuples as f64, Unit::Count));
            vacuum_ages(finding, table).fix(Fix::sql(format!("ANALYZE VERBOSE {name};")))
        })
        .collect())
}

/// Transaction ID and multixact ID age of tables and databases against
/// `autovacuum_freeze_max_age` and `autovacuum_multixact_freeze_max_age`.
///
/// Autovacuum starts its anti-wraparound vacuum of a table at that age, so a table just
/// past it with a vacuum running is healthy; one past it with none running means
/// autovacuum is not getting to it. A database is judged at a quarter past the limit, since
/// its age is its oldest table's and that table's vacuum may be under way.
pub(super) fn wraparound(snapshot: &Snapshot, _options: &CheckOptions) -> Part<Vec<Finding>> {
    let tables = snapshot.tables()?;
    let databases = snapshot.databases()?;
    let settings = &snapshot.settings;
    let xid_limit = settings
        .get_i64("autovacuum_freeze_max_age")
        .unwrap_or(DEFAULT_FREEZE_MAX_AGE);
    let mxid_limit = settings
        .get_i64("autovacuum_multixact_freeze_max_age")
        .unwrap_or(DEFAULT_MULTIXACT_FREEZE_MAX_AGE);
    let mut findings = Vec::new();
    for database in databases {
        let fix = format!(
            "Connect to {} and run: VACUUM (FREEZE, VERBOSE);",
            database.name
        );
        let subject = format!("database {}", database.name);
        let what = format!("Database {}", database.name);
        if database.xid_age >= xid_limit + xid_limit / 4 {
            findings.push(wraparound_finding(
                &subject,
                &what,
                Kind::Xid,
                database.xid_age,
                xid_limit,
                &fix,
            ));
        }
        if database.mxid_age >= mxid_limit + mxid_limit / 4 {
            findings.push(wraparound_finding(
                &subject,
                &what,
                Kind::Multixact,
                database.mxid_age,
                mxid_limit,
                &fix,
            ));
        }
    }
    for table in tables.iter().filter(|t| !t.vacuum_in_progress) {
        let name = table.qualified_name();
        let what = format!("Table {}", table.name);
        let fix = format!("VACUUM (FREEZE, VERBOSE) {name};");
        // A table may lower, but not raise, the limits for itself.
        let own_xid_limit = table
            .freeze_max_age
            .map_or(xid_limit, |own| own.min(xid_limit));
        if let Some(age) = table.xid_age.filter(|age| *age >= own_xid_limit) {
            findings.push(wraparound_finding(
                &name,
                &what,
                Kind::Xid,
                age,
                own_xid_limit,
                &fix,
            ));
        }
        let own_mxid_limit = table
            .multixact_freeze_max_age
            .map_or(mxid_limit, |own| own.min(mxid_limit));
        if let Some(age) = table.mxid_age.filter(|age| *age >= own_mxid_limit) {
            findings.push(wraparound_finding(
                &name,
                &what,
                Kind::Multixact,
                age,
                own_mxid_limit,
                &fix,
            ));
        }
    }
    Ok(findings)
}

/// Which counter is running out.
#[derive(Clone, Copy)]
enum Kind {
    Xid,
    Multixact,
}

fn wraparound_finding(
    subject: &str,
    what: &str,
    kind: Kind,
    age: i64,
    limit: i64,
    apply: &str,
) -> Finding {
    let severity = if age >= WRAPAROUND_CRITICAL_AGE {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let (ids, setting) = match kind {
        Kind::Xid => ("transaction IDs", "autovacuum_freeze_max_age"),
        Kind::Multixact => ("multixact IDs", "autovacuum_multixact_freeze_max_age"),
    };
    let age_name = match kind {
        Kind::Xid => "transaction ID age",
        Kind::Multixact => "multixact ID age",
    };
    Finding::new(
        "vacuum.wraparound",
        severity,
        subject,
        format!(
            "{what} has {} unfrozen {ids}, past {setting}",
            format_count(age as f64)
        ),
    )
    .detail(format!(
        "Autovacuum should have frozen it at {} and no vacuum is working on it now. PostgreSQL stops accepting writes near 2^31 to prevent wraparound. A vacuum that cannot finish is usually held back by a long transaction, an abandoned prepared transaction or a stale replication slot: check pg_stat_activity, pg_prepared_xacts and pg_replication_slots.",
        format_count(limit as f64)
    ))
    .evidence(Evidence::new(age_name, age as f64, Unit::Count))
    .evidence(Evidence::new(setting, limit as f64, Unit::Count))
    .evidence(Evidence::new(
        "share of the wraparound limit",
        100.0 * age as f64 / WRAPAROUND_LIMIT,
        Unit::Percent,
    ))
    .fix(Fix::sql(apply).note("VACUUM FREEZE reads the whole table and does not block reads or writes; on a big table it takes a while, so start it early."))
}
