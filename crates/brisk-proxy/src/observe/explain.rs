//! Plans of slow statements: each slow fingerprint is EXPLAINed once, without ANALYZE (so
//! nothing runs), in a read-only transaction under `explain_timeout`, on a connection of its
//! own (never a client's server). The plan is logged and shown by `SHOW QUERIES`.
//!
//! Plans print the constants they were planned with, so values reach a plan only when
//! `log_parameters` allows them. Otherwise brisk plans the normalized text generically:
//! `EXPLAIN (GENERIC_PLAN)` on PostgreSQL 16+, a prepared statement under
//! `plan_cache_mode = force_generic_plan` before.

use std::sync::Arc;
use std::time::Duration;

use brisk_sql::{Lexer, TokenKind};

use crate::proxy::Shared;
use crate::server::ServerConn;

/// One statement to explain.
pub struct ExplainJob {
    pub database: String,
    pub user: String,
    pub fingerprint: u64,
    /// As the client sent it.
    pub query: Arc<str>,
    /// Text-format values of its `$n`, when `log_parameters` allows them.
    pub values: Option<Arc<[Option<String>]>>,
    /// Whether the text's own literals may be planned with (a simple-protocol statement
    /// under `log_parameters`).
    pub literals_allowed: bool,
}

/// How to get a statement's plan.
#[derive(Debug, PartialEq, Eq)]
enum Explain {
    /// One EXPLAIN.
    Direct(String),
    /// Prepare the normalized text, then EXPLAIN EXECUTE it with NULLs under a forced generic
    /// plan (so the NULLs play no part).
    Prepared { prepare: String, execute: String },
}

/// Explains jobs one at a time until the proxy stops.
pub async fn worker(shared: Arc<Shared>, mut jobs: tokio::sync::mpsc::Receiver<ExplainJob>) {
    while let Some(job) = jobs.recv().await {
        let timeout = shared.config().explain_timeout;
        let plan = match explain(&shared, &job, timeout).await {
            Ok(plan) => plan,
            Err(why) => format!("not explained: {why}"),
        };
        tracing::info!(
            fingerprint = %format!("{:016x}", job.fingerprint),
            database = %job.database,
            plan = %plan,
            "plan of a slow statement"
        );
        if let Some(observer) = &shared.observer {
            observer.set_plan(&job.database, job.fingerprint, plan.into());
        }
    }
}

async fn explain(shared: &Shared, job: &ExplainJob, timeout: Duration) -> Result<String, String> {
    if !explainable(&job.query) {
        return Err("only a single SELECT, INSERT, UPDATE, DELETE, MERGE, VALUES or WITH statement has a plan".into());
    }
    let pools = shared.pools();
    let pool = pools
        .iter()
        .find(|p| p.database == job.database && p.user == job.user)
        .or_else(|| pools.iter().find(|p| p.database == job.database))
        .ok_or("its pool is gone")?;
    let mut conn = ServerConn::connect(&pool.target(), 1)
        .await
        .map_err(|e| e.to_string())?;
    let major = conn
        .params
        .get("server_version")
        .and_then(|v| {
            v.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<u32>()
                .ok()
        })
        .unwrap_or(0);
    let explain = explain_sql(job, major)?;
    let ms = timeout.as_millis().max(1);
    conn.simple(&format!(
        "BEGIN READ ONLY; SET LOCAL statement_timeout = {ms}; SET LOCAL lock_timeout = {ms}; SET LOCAL application_name = 'brisk explain'"
    ))
    .await
    .map_err(|e| e.to_string())?;
    let sql = match explain {
        Explain::Direct(sql) => sql,
        Explain::Prepared { prepare, execute } => {
            conn.simple(&prepare).await.map_err(|e| e.to_string())?;
            execute
        }
    };
    let plan =
        tokio::time::timeout(timeout + Duration::from_secs(1), conn.first_column(&sql)).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), conn.simple("ROLLBACK")).await;
    match plan {
        Ok(Ok(lines)) => Ok(lines.join("\n")),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "EXPLAIN took longer than explain_timeout ({ms} ms)"
        )),
    }
}

/// The EXPLAIN to run: with the statement's values when they are allowed, generic when not.
fn explain_sql(job: &ExplainJob, major: u32) -> Result<Explain, String> {
    let query = job.query.as_ref();
    if job.literals_allowed {
        return Ok(Explain::Direct(format!("EXPLAIN {query}")));
    }
    if let Some(text) = job
        .values
        .as_deref()
        .and_then(|values| brisk_workload::substitute(query, values))
    {
        return Ok(Explain::Direct(format!("EXPLAIN {text}")));
    }
    let normalized = brisk_sql::normalize(query);
    let parameters = Lexer::new(&normalized)
        .filter(|t| t.kind == TokenKind::Parameter)
        .filter_map(|t| t.text[1..].parse::<usize>().ok())
        .max()
        .unwrap_or(0);
    if parameters == 0 {
        return Ok(Explain::Direct(format!("EXPLAIN {normalized}")));
    }
    if major >= 16 {
        return Ok(Explain::Direct(format!(
            "EXPLAIN (GENERIC_PLAN) {normalized}"
        )));
    }
    let nulls = vec!["NULL".to_string(); parameters];
    let text = brisk_pg::explain::PreparedExplain::new(
        "brisk_explain",
        &normalized,
        &[],
        &nulls,
        "",
        true,
    )?;
    Ok(Explain::Prepared {
        prepare: text.prepare,
        execute: text.explain,
    })
}

/// One statement of a kind that has a plan.
pub fn explainable(query: &str) -> bool {
    let statements = brisk_sql::split(query);
    statements.len() == 1
        && brisk_sql::starts_with_keyword(
            statements[0].text,
            &[
                "select", "insert", "update", "delete", "merge", "values", "with", "table",
            ],
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_single_plannable_statements_are_explained() {
        assert!(explainable("SELECT * FROM t WHERE id = $1"));
        assert!(explainable("  with x as (select 1) select * from x;"));
        assert!(explainable("(SELECT 1)"));
        assert!(!explainable("BEGIN"));
        assert!(!explainable("SET x = 1"));
        assert!(!explainable("SELECT 1; SELECT 2"));
        assert!(!explainable(""));
    }

    #[test]
    fn values_reach_a_plan_only_when_allowed() {
        let job = |query: &str, values: Option<Vec<Option<String>>>, literals_allowed| ExplainJob {
            database: "app".into(),
            user: "app".into(),
            fingerprint: 1,
            query: query.into(),
            values: values.map(Arc::from),
            literals_allowed,
        };
        let lookup = "SELECT * FROM t WHERE id = $1 AND note = 'x'";
        assert_eq!(
            explain_sql(&job(lookup, Some(vec![Some("4".into())]), false), 15).unwrap(),
            Explain::Direct("EXPLAIN SELECT * FROM t WHERE id = '4' AND note = 'x'".into())
        );
        assert_eq!(
            explain_sql(&job(lookup, None, false), 16).unwrap(),
            Explain::Direct(
                "EXPLAIN (GENERIC_PLAN) SELECT * FROM t WHERE id = $1 AND note = $2".into()
            )
        );
        assert_eq!(
            explain_sql(&job(lookup, None, false), 15).unwrap(),
            Explain::Prepared {
                prepare: "PREPARE brisk_explain AS SELECT * FROM t WHERE id = $1 AND note = $2".into(),
                execute: "SET LOCAL plan_cache_mode = force_generic_plan; EXPLAIN EXECUTE brisk_explain(NULL, NULL); DEALLOCATE brisk_explain".into(),
            }
        );
        let simple = "SELECT * FROM t WHERE name = 'ann'";
        assert_eq!(
            explain_sql(&job(simple, None, true), 15).unwrap(),
            Explain::Direct(format!("EXPLAIN {simple}"))
        );
        assert!(matches!(
            explain_sql(&job(simple, None, false), 15).unwrap(),
            Explain::Prepared { .. }
        ));
    }
}
