//! Top statements from `pg_stat_statements`, or how to turn it on.

use brisk_pg::catalog::{Statement, StatementsStatus};
use brisk_report::{format_count, Evidence, Finding, Fix, Severity, Unit};
use brisk_sql::StatementKind;

use super::{percent, CheckOptions, Part, Snapshot, StatementsView, Unavailable};

pub(super) fn top(snapshot: &Snapshot, options: &CheckOptions) -> Part<Vec<Finding>> {
    match snapshot.statements()? {
        StatementsView::Ready {
            statements,
            total_ms,
        } => Ok(ranked(
            statements,
            *total_ms,
            snapshot.block_size(),
            options,
        )),
        StatementsView::Unusable(status) => Ok(vec![how_to_enable(
            status,
            snapshot.settings.get("shared_preload_libraries"),
            snapshot.server.version_num / 10_000,
        )?]),
    }
}

fn ranked(
    statements: &[Statement],
    total_ms: f64,
    block_size: f64,
    options: &CheckOptions,
) -> Vec<Finding> {
    statements
        .iter()
        .filter(|s| s.total_ms >= options.top_min_total_ms)
        .map(|statement| {
            let share = percent(statement.total_ms, total_ms).unwrap_or(0.0);
            let mut ranks = Vec::new();
            if statement.rank_total <= options.top_queries {
                ranks.push(format!("#{} by total time", statement.rank_total));
            }
            if statement.rank_mean <= options.top_queries {
                ranks.push(format!("#{} by mean time", statement.rank_mean));
            }
            if statement.rank_calls <= options.top_queries {
                ranks.push(format!("#{} by calls", statement.rank_calls));
            }
            let slow = statement.mean_ms >= options.slow_query_mean_ms;
            let severity = if slow { Severity::Warning } else { Severity::Info };
            let blocks = statement.shared_blocks_hit + statement.shared_blocks_read;
            let calls = statement.calls.max(1) as f64;
            let mut hints = Vec::new();
            if slow {
                hints.push(format!(
                    "It takes {} ms per call on average, above the {} ms threshold.",
                    format_count(statement.mean_ms.round()),
                    format_count(options.slow_query_mean_ms)
                ));
            }
            if statement.temp_blocks_written > 0 {
                hints.push("It writes temporary files: a sort or hash does not fit in work_mem. An index matching its ORDER BY, or a higher work_mem for this query, avoids the spill.".to_string());
            }
            let blocks_per_row = blocks as f64 / (statement.rows.max(1) as f64);
            if blocks_per_row > 100.0 && blocks as f64 / calls > 1000.0 {
                hints.push(if reads_every_row(&statement.query) {
                    format!(
                        "It touches {} blocks per row returned, and no condition narrows the rows it reads (a count or a total of a whole table): no index shortens that; a cached result (brisk proxy's SHOW CACHE CANDIDATES) or a summary table does.",
                        format_count(blocks_per_row.round())
                    )
                } else {
                    format!(
                        "It touches {} blocks per row returned: it likely scans far more than it returns, the usual sign of a missing index (brisk advise can propose one).",
                        format_count(blocks_per_row.round())
                    )
                });
            }
            let mut finding = Finding::new(
                "queries.top",
                severity,
                format!("queryid {}", statement.query_id),
                format!(
                    "{}: {} ({share:.1}% of all statement time)",
                    what_it_is(&statement.query),
                    ranks.join(", ")
                ),
            )
            .query(brisk_sql::normalize(&statement.query))
            .evidence(Evidence::new("calls", statement.calls as f64, Unit::Count))
            .evidence(Evidence::new("total time", statement.total_ms, Unit::Milliseconds))
            .evidence(Evidence::new("mean time", statement.mean_ms, Unit::Milliseconds))
            .evidence(Evidence::new("share of total time", share, Unit::Percent))
            .evidence(Evidence::new("rows per call", statement.rows as f64 / calls, Unit::Count));
            if let Some(hit) = percent(statement.shared_blocks_hit as f64, blocks as f64) {
                finding = finding.evidence(Evidence::new("buffer hit ratio", hit, Unit::Percent));
            }
            if statement.temp_blocks_written > 0 {
                finding = finding.evidence(Evidence::new(
                    "temp written",
                    statement.temp_blocks_written as f64 * block_size,
                    Unit::Bytes,
                ));
            }
            if !hints.is_empty() {
                finding = finding.detail(hints.join(" "));
            }
            finding
        })
        .collect()
}

/// What a statement is, for a title: `SELECT from messages, conversations`, `UPDATE of
/// sessions`, or its first keyword when it names no table (or does not parse).
/// Whether a read has no condition at all on any of its tables (no WHERE, join or constant
/// test): it reads every row by design, so a high ratio of blocks to rows returned is an
/// aggregate's, not a missing index's.
fn reads_every_row(query: &str) -> bool {
    let Ok(all) = brisk_sql::analyze(query) else {
        return false;
    };
    !all.is_empty()
        && all.iter().all(|statement| {
            statement.kind == StatementKind::Select
                && !statement.tables.is_empty()
                && statement.tables.iter().all(|t| {
                    t.equality.is_empty()
                        && t.range.is_empty()
                        && t.null_tests.is_empty()
                        && t.like.is_empty()
                        && t.full_text.is_empty()
                        && t.array.is_empty()
                        && t.expressions.is_empty()
                        && t.joins.is_empty()
                        && t.constants.is_empty()
                })
        })
}

fn what_it_is(query: &str) -> String {
    let first_word = || {
        query
            .split_whitespace()
            .next()
            .map_or_else(|| "statement".to_string(), str::to_uppercase)
    };
    let Some(analysis) = brisk_sql::analyze(query).ok().and_then(|mut all| {
        // A multi-statement entry is named by its first statement.
        (!all.is_empty()).then(|| all.swap_remove(0))
    }) else {
        return first_word();
    };
    let names = |tables: &[brisk_sql::TableName]| {
        let mut names: Vec<String> = tables.iter().take(3).map(|t| t.to_string()).collect();
        if tables.len() > 3 {
            names.push(format!("{} more", tables.len() - 3));
        }
        names.join(", ")
    };
    match analysis.kind {
        StatementKind::Select if !analysis.reads.is_empty() => {
            format!("SELECT from {}", names(&analysis.reads))
        }
        StatementKind::Insert if !analysis.writes.is_empty() => {
            format!("INSERT into {}", names(&analysis.writes))
        }
        StatementKind::Update if !analysis.writes.is_empty() => {
            format!("{} of {}", first_word(), names(&analysis.writes))
        }
        StatementKind::Delete if !analysis.writes.is_empty() => {
            format!("DELETE from {}", names(&analysis.writes))
        }
        _ => first_word(),
    }
}

/// One finding that says exactly how to turn `pg_stat_statements` on from where it is.
/// `preload` is the current `shared_preload_libraries`, `None` when brisk's user may not
/// read it; the fix must keep what is there, so then it says to look first.
fn how_to_enable(
    status: &StatementsStatus,
    preload: Option<&str>,
    major: i32,
) -> Result<Finding, Unavailable> {
    let set_preload = match preload.map(str::trim) {
        Some("") => "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements';".to_string(),
        Some(current) => format!(
            "ALTER SYSTEM SET shared_preload_libraries = '{current}, pg_stat_statements';"
        ),
        None => "-- as a superuser, keep the libraries SHOW shared_preload_libraries lists:\nALTER SYSTEM SET shared_preload_libraries = '<current list>, pg_stat_statements';".to_string(),
    };
    let preload_steps = format!(
        "{set_preload}\n-- restart PostgreSQL (e.g. systemctl restart postgresql), then in this database:\nCREATE EXTENSION IF NOT EXISTS pg_stat_statements;"
    );
    let (title, detail, fix) = match status {
        StatementsStatus::NotAvailable => (
            "pg_stat_statements is not installed on the server",
            format!("The extension ships in PostgreSQL's contrib package, which this server does not have. Install it (Debian/Ubuntu: apt-get install postgresql-contrib, or postgresql-{major} which includes it; RHEL: postgresql{major}-contrib), then preload it."),
            Fix::sql(preload_steps),
        ),
        StatementsStatus::NotPreloaded { extension_created } => (
            "pg_stat_statements is not in shared_preload_libraries",
            format!(
                "It has to be loaded at server start to record statements{}. This needs a restart.",
                if *extension_created { "; the extension exists in this database but records nothing" } else { "" }
            ),
            Fix::sql(preload_steps),
        ),
        StatementsStatus::NotCreated { preloaded: Some(true) } => (
            "pg_stat_statements is loaded but not created in this database",
            "The server records statements, but this database has no view to read them through.".to_string(),
            Fix::sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements;"),
        ),
        StatementsStatus::NotCreated { .. } => (
            "pg_stat_statements is not created in this database",
            "This database has no view to read recorded statements through. brisk's user may not read shared_preload_libraries, so whether the server loads the library is unknown: if it does not, the view will say so once created.".to_string(),
            Fix::sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements;"),
        ),
        StatementsStatus::Ready { .. } => {
            return Err(Unavailable("pg_stat_statements could not be read".into()))
        }
    };
    Ok(Finding::new(
        "queries.top",
        Severity::Warning,
        "pg_stat_statements",
        title,
    )
    .detail(format!(
        "{detail} Without it, brisk cannot rank statements by time."
    ))
    .fix(fix.note(
        "Overhead is small (a few percent at most); every managed PostgreSQL service offers it.",
    )))
}

#[cfg(test)]
mod tests {
    use super::{reads_every_row, what_it_is};

    #[test]
    fn only_reads_without_any_condition_read_every_row_by_design() {
        for query in [
            "SELECT count(*) FROM messages",
            "select role, count(*) from public.messages group by role",
            "SELECT COUNT(*) AS \"__count\" FROM \"app_message\"",
            "SELECT sum(size_bytes) FROM files",
        ] {
            assert!(reads_every_row(query), "{query}");
        }
        for query in [
            "SELECT count(*) FROM messages WHERE conversation_id = $1",
            "SELECT * FROM messages WHERE body LIKE $1",
            "SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id",
            "SELECT count(*) FROM messages WHERE created_at > now() - interval '1 day'",
            "UPDATE messages SET body = $1",
            "SELECT 1",
            "not sql at all",
        ] {
            assert!(!reads_every_row(query), "{query}");
        }
    }

    #[test]
    fn titles_name_the_statement_and_its_tables() {
        for (query, expected) in [
            ("SELECT m.* FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE c.user_id = $1", "SELECT from messages, conversations"),
            ("insert into events (a) values ($1)", "INSERT into events"),
            ("UPDATE sessions SET seen = now() WHERE id = $1", "UPDATE of sessions"),
            ("DELETE FROM sessions WHERE expires_at < now()", "DELETE from sessions"),
            ("SELECT a FROM t1, t2, t3, t4, t5", "SELECT from t1, t2, t3, 2 more"),
            ("SELECT $1", "SELECT"),
            ("commit", "COMMIT"),
            ("not sql at all", "NOT"),
        ] {
            assert_eq!(what_it_is(query), expected, "{query}");
        }
    }
}
