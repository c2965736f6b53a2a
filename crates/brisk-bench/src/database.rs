//! What the database spent its time on during the run: `pg_stat_statements` read before and
//! after, on a connection of its own with brisk's read-only session settings, and the
//! difference ranked by total time. The statements are pg_stat_statements' normalized texts
//! (`$n` for constants), so no value reaches the report; they are every client's, not only
//! brisk's, which is the point: a page's p95 went up, and this says which query took the
//! time.

use std::collections::HashMap;

use brisk_pg::catalog::{self, StatementTotals, StatementsStatus};
use brisk_pg::Session;
use serde::{Deserialize, Serialize};

/// How many statements the report keeps, by total time during the run.
pub const TOP_STATEMENTS: usize = 10;

/// The counters before the run, or why there are none.
pub enum Before {
    Ready {
        schema: String,
        version: String,
        totals: HashMap<i64, StatementTotals>,
    },
    Unavailable(String),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DatabaseReport {
    /// "pg_stat_statements".
    pub source: String,
    /// Why there are no statements (the extension missing, no privilege), when so.
    pub note: Option<String>,
    /// Execution time of all statements in this database during the run.
    pub total_ms: f64,
    pub calls: i64,
    /// The statements that took the most time during the run, most first.
    pub statements: Vec<DatabaseStatement>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DatabaseStatement {
    pub query_id: i64,
    /// Normalized text (`$1` for constants).
    pub query: String,
    pub calls: i64,
    pub total_ms: f64,
    pub mean_ms: f64,
    pub rows: i64,
    /// Share of `total_ms` of the report.
    pub share_pct: f64,
}

const SOURCE: &str = "pg_stat_statements";

/// Reads the counters before the run.
pub async fn before(session: &Session) -> Before {
    match read(session).await {
        Ok((schema, version, totals)) => Before::Ready {
            schema,
            version,
            totals: totals.into_iter().map(|t| (t.query_id, t)).collect(),
        },
        Err(note) => Before::Unavailable(note),
    }
}

async fn read(session: &Session) -> Result<(String, String, Vec<StatementTotals>), String> {
    session.begin().await.map_err(|e| e.to_string())?;
    let result = async {
        let settings = catalog::settings(session).await.map_err(|e| e.to_string())?;
        match catalog::statements_status(session, &settings)
            .await
            .map_err(|e| e.to_string())?
        {
            StatementsStatus::Ready { schema, version } => {
                let totals = catalog::statement_totals(session, &schema, &version)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok((schema, version, totals))
            }
            StatementsStatus::NotAvailable => {
                Err("pg_stat_statements is not installed on the server".to_string())
            }
            StatementsStatus::NotPreloaded { .. } => Err(
                "pg_stat_statements is not in shared_preload_libraries".to_string(),
            ),
            StatementsStatus::NotCreated { .. } => Err(
                "pg_stat_statements is not created in this database (CREATE EXTENSION pg_stat_statements)".to_string(),
            ),
        }
    }
    .await;
    let _ = session.rollback().await;
    result
}

/// Reads the counters again and ranks the differences.
pub async fn after(session: &Session, before: Before) -> DatabaseReport {
    let (schema, version, before) = match before {
        Before::Ready {
            schema,
            version,
            totals,
        } => (schema, version, totals),
        Before::Unavailable(note) => return unavailable(note),
    };
    let after = async {
        session.begin().await?;
        let totals = catalog::statement_totals(session, &schema, &version).await;
        let _ = session.rollback().await;
        totals
    }
    .await;
    match after {
        Ok(after) => difference(&before, &after),
        Err(e) => unavailable(e.to_string()),
    }
}

/// The report when the monitoring connection never opened.
pub fn after_unavailable(before: Before) -> DatabaseReport {
    match before {
        Before::Unavailable(note) => unavailable(note),
        Before::Ready { .. } => unavailable("the monitoring connection was lost".into()),
    }
}

fn unavailable(note: String) -> DatabaseReport {
    DatabaseReport {
        source: SOURCE.into(),
        note: Some(note),
        ..DatabaseReport::default()
    }
}

/// The counters' growth per statement. A statement whose counters went down was reset
/// (`pg_stat_statements_reset`, or evicted and seen again) during the run: its counters
/// after the run are then all that is known of it.
pub fn difference(
    before: &HashMap<i64, StatementTotals>,
    after: &[StatementTotals],
) -> DatabaseReport {
    let mut statements: Vec<DatabaseStatement> = after
        .iter()
        .filter_map(|a| {
            let (calls, total_ms, rows) = match before.get(&a.query_id) {
                Some(b) if a.calls >= b.calls => {
                    (a.calls - b.calls, a.total_ms - b.total_ms, a.rows - b.rows)
                }
                _ => (a.calls, a.total_ms, a.rows),
            };
            (calls > 0).then(|| DatabaseStatement {
                query_id: a.query_id,
                query: a.query.clone(),
                calls,
                total_ms: total_ms.max(0.0),
                mean_ms: total_ms.max(0.0) / calls as f64,
                rows,
                share_pct: 0.0,
            })
        })
        .collect();
    let total_ms: f64 = statements.iter().map(|s| s.total_ms).sum();
    let calls = statements.iter().map(|s| s.calls).sum();
    statements.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
    statements.truncate(TOP_STATEMENTS);
    for s in &mut statements {
        s.share_pct = if total_ms > 0.0 {
            s.total_ms / total_ms * 100.0
        } else {
            0.0
        };
    }
    DatabaseReport {
        source: SOURCE.into(),
        note: None,
        total_ms,
        calls,
        statements,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(id: i64, calls: i64, total_ms: f64) -> StatementTotals {
        StatementTotals {
            query_id: id,
            query: format!("SELECT {id}"),
            calls,
            total_ms,
            rows: calls,
        }
    }

    #[test]
    fn ranks_what_grew_during_the_run() {
        let before: HashMap<i64, StatementTotals> = [
            (1, totals(1, 100, 1000.0)),
            (2, totals(2, 10, 10.0)),
            (3, totals(3, 50, 5000.0)),
        ]
        .into();
        let after = [
            totals(1, 110, 1010.0), // +10 calls, +10 ms
            totals(2, 1010, 410.0), // +1000 calls, +400 ms
            totals(3, 50, 5000.0),  // idle during the run
            totals(4, 5, 90.0),     // new
            totals(5, 2, 1.0),      // new
        ];
        let report = difference(&before, &after);
        let ids: Vec<i64> = report.statements.iter().map(|s| s.query_id).collect();
        assert_eq!(ids, [2, 4, 1, 5]);
        assert_eq!(report.calls, 1000 + 5 + 10 + 2);
        assert!((report.total_ms - 501.0).abs() < 1e-9);
        assert!((report.statements[0].mean_ms - 0.4).abs() < 1e-9);
        assert!((report.statements[0].share_pct - 400.0 / 501.0 * 100.0).abs() < 1e-9);
    }

    #[test]
    fn a_reset_statement_counts_what_it_has() {
        let before: HashMap<i64, StatementTotals> = [(1, totals(1, 100, 1000.0))].into();
        let report = difference(&before, &[totals(1, 7, 3.5)]);
        assert_eq!(report.statements[0].calls, 7);
        assert_eq!(report.statements[0].total_ms, 3.5);
    }
}
