//! Proof on a real run, and `--apply`.
//!
//! [`verify`] builds the recommended indexes on a target the user named as safe: a
//! throwaway sandbox holding a copy of the database (`pg_dump` into brisk-sandbox), or a URL
//! given with `--verify-on`. Never the advised database without being told. It runs every
//! planned query several times with `EXPLAIN (ANALYZE, BUFFERS)` before and after the
//! build and keeps the medians, the buffers and the access paths; then it drops the indexes
//! unless told to keep them. Reads run in transactions that are rolled back; writes run
//! only in a sandbox, and are rolled back too.
//!
//! [`apply`] builds the indexes on the advised database itself, `CONCURRENTLY`, outside any
//! transaction block, with a `lock_timeout`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use brisk_pg::conninfo::ConnInfo;
use brisk_pg::explain::{self, ExplainOptions, Statement};
use brisk_pg::{PgError, Session, SessionOptions};
use brisk_sql::StatementKind;

use super::{Advice, AdviseError};

/// Where to verify.
#[derive(Debug, Clone)]
pub enum VerifyTarget {
    /// A sandbox copy of the advised database, dumped with `pg_dump` from this connection
    /// string (`None`: the `PG*` environment, as libpq reads it).
    SandboxCopy { source: Option<String> },
    /// A database the user named as safe to write to.
    Url(String),
}

#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Runs per query, before and after.
    pub runs: usize,
    /// `statement_timeout` for each run and each build.
    pub statement_timeout: Duration,
    /// Keep the indexes on the target afterwards.
    pub keep: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            runs: 5,
            statement_timeout: Duration::from_secs(600),
            keep: false,
        }
    }
}

/// What a verification measured.
#[derive(Debug, Clone)]
pub struct Verification {
    /// The target, without password.
    pub target: String,
    pub sandbox: bool,
    pub runs: usize,
    pub measured: Vec<MeasuredQuery>,
    pub built: Vec<BuiltIndex>,
    /// Indexes that could not be built, with the error.
    pub failed: Vec<(String, String)>,
    pub kept: bool,
    /// Write queries not run because the target is not a sandbox.
    pub writes_skipped: usize,
}

/// One query, measured before and after.
#[derive(Debug, Clone)]
pub struct MeasuredQuery {
    /// Index into [`Advice::queries`].
    pub query: usize,
    pub before: Run,
    pub after: Run,
}

/// The runs of one query at one point.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// Median execution time, milliseconds.
    pub median_ms: Option<f64>,
    /// Median shared buffers hit plus read.
    pub buffers: Option<f64>,
    /// How the last run read each table.
    pub paths: Vec<String>,
    pub error: Option<String>,
}

/// An index built for the verification.
#[derive(Debug, Clone)]
pub struct BuiltIndex {
    pub name: String,
    pub seconds: f64,
    pub size_bytes: f64,
}

/// Builds the recommendations on the target, measures, and records the result in
/// `advice.verification`.
pub async fn verify(
    advice: &mut Advice,
    target: VerifyTarget,
    options: &VerifyOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(), AdviseError> {
    let session_options = SessionOptions {
        statement_timeout: options.statement_timeout,
        lock_timeout: Duration::from_secs(5),
        read_only: false,
        ..SessionOptions::default()
    };
    match target {
        VerifyTarget::Url(url) => {
            let info = ConnInfo::from_env_and_str(Some(&url)).map_err(PgError::from)?;
            let session = Session::connect(&info, &session_options).await?;
            run_verification(advice, &session, false, options, progress).await
        }
        VerifyTarget::SandboxCopy { source } => {
            progress("starting a sandbox PostgreSQL for the copy");
            let sandbox = tokio::task::spawn_blocking(brisk_sandbox::Postgres::start)
                .await
                .map_err(|e| AdviseError::Verify(format!("starting the sandbox: {e}")))?
                .map_err(|e| AdviseError::Verify(format!("starting the sandbox: {e}")))?;
            progress("copying the database into the sandbox (pg_dump)");
            let copied = tokio::task::spawn_blocking(move || {
                let copied = copy_database(&sandbox, source.as_deref());
                (sandbox, copied)
            })
            .await
            .map_err(|e| AdviseError::Verify(format!("copying the database: {e}")))?;
            let (sandbox, database) = copied;
            let result = async {
                let database = database?;
                let info = ConnInfo::from_env_and_str(Some(&sandbox.url(&database)))
                    .map_err(PgError::from)?;
                let session = Session::connect(&info, &session_options).await?;
                run_verification(advice, &session, true, options, progress).await
            }
            .await;
            tokio::task::spawn_blocking(move || drop(sandbox))
                .await
                .map_err(|e| AdviseError::Verify(format!("stopping the sandbox: {e}")))?;
            result
        }
    }
}

/// `pg_dump` of the source into a fresh database of the sandbox, then `ANALYZE`.
fn copy_database(
    sandbox: &brisk_sandbox::Postgres,
    source: Option<&str>,
) -> Result<String, AdviseError> {
    let fail = |what: &str| {
        AdviseError::Verify(format!("copying the database for --verify: {what}. Use --verify-on URL to verify on a copy you made"))
    };
    let database = sandbox
        .fresh_database("verify")
        .map_err(|e| fail(&e.to_string()))?;
    let mut dump = Command::new(sandbox.binaries().path("pg_dump"));
    dump.args([
        "--no-owner",
        "--no-privileges",
        "--no-publications",
        "--no-subscriptions",
    ]);
    if let Some(source) = source {
        dump.arg("--dbname").arg(source);
    }
    let mut dump = dump
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(&format!("pg_dump does not start ({e})")))?;
    let Some(dumped) = dump.stdout.take() else {
        return Err(fail("pg_dump has no output"));
    };
    let restore = sandbox
        .psql_command(&database)
        .args(["-v", "ON_ERROR_STOP=0", "-o", "/dev/null"])
        .stdin(dumped)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| fail(&format!("psql does not start ({e})")))?;
    let dumped = dump
        .wait_with_output()
        .map_err(|e| fail(&format!("pg_dump failed ({e})")))?;
    if !dumped.status.success() {
        let stderr = String::from_utf8_lossy(&dumped.stderr);
        return Err(fail(&format!(
            "pg_dump failed: {}",
            stderr.lines().next().unwrap_or("").trim()
        )));
    }
    if !restore.success() {
        return Err(fail("psql could not restore the dump"));
    }
    sandbox
        .psql(&database, "ANALYZE;")
        .map_err(|e| fail(&e.to_string()))?;
    Ok(database)
}

async fn run_verification(
    advice: &mut Advice,
    session: &Session,
    sandbox: bool,
    options: &VerifyOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(), AdviseError> {
    let runs = options.runs.max(1);
    let runnable: Vec<usize> = (0..advice.queries.len())
        .filter(|&q| sandbox || advice.queries[q].kind == StatementKind::Select)
        .collect();
    let writes_skipped = advice.queries.len() - runnable.len();
    let mut before = Vec::with_capacity(runnable.len());
    for (n, &q) in runnable.iter().enumerate() {
        progress(&format!(
            "measuring query {} of {} before",
            n + 1,
            runnable.len()
        ));
        before.push(measure(session, advice, q, runs).await?);
    }

    let mut built = Vec::new();
    let mut failed = Vec::new();
    for r in &advice.recommendations {
        progress(&format!("building {}", r.name));
        let started = Instant::now();
        match build(session, r.extension, &r.blocking_sql, &r.table).await {
            Ok(()) => {
                let size = index_size(session, &r.table, &r.name).await.unwrap_or(0.0);
                built.push(BuiltIndex {
                    name: r.name.clone(),
                    seconds: started.elapsed().as_secs_f64(),
                    size_bytes: size,
                });
            }
            Err(e) => failed.push((r.name.clone(), e.to_string())),
        }
    }

    let mut measured = Vec::with_capacity(runnable.len());
    for (n, (&q, before)) in runnable.iter().zip(before).enumerate() {
        progress(&format!(
            "measuring query {} of {} after",
            n + 1,
            runnable.len()
        ));
        let after = measure(session, advice, q, runs).await?;
        measured.push(MeasuredQuery {
            query: q,
            before,
            after,
        });
    }

    if !options.keep {
        progress("dropping the indexes built for the verification");
        for r in advice
            .recommendations
            .iter()
            .filter(|r| built.iter().any(|b| b.name == r.name))
        {
            session.begin().await?;
            let schema = r.table.split('.').next().unwrap_or("public");
            let drop = format!(
                "/* brisk */ DROP INDEX IF EXISTS {schema}.{}",
                brisk_pg::catalog::quote_ident(&r.name)
            );
            match session.client().batch_execute(&drop).await {
                Ok(()) => session.commit().await?,
                Err(e) => {
                    session.rollback().await?;
                    return Err(PgError::query("dropping a verification index", e).into());
                }
            }
        }
    }
    advice.verification = Some(Verification {
        target: session.target().to_string(),
        sandbox,
        runs,
        measured,
        built,
        failed,
        kept: options.keep,
        writes_skipped,
    });
    Ok(())
}

/// Runs a query `runs` times under `EXPLAIN (ANALYZE, BUFFERS)`, each in a transaction
/// that is rolled back.
async fn measure(
    session: &Session,
    advice: &Advice,
    query: usize,
    runs: usize,
) -> Result<Run, AdviseError> {
    let planned = &advice.queries[query].planned;
    let statement = match &planned.args {
        Some(args) => Statement::Custom {
            sql: &planned.text,
            types: &planned.types,
            args,
        },
        None => Statement::Plain(&planned.text),
    };
    let options = ExplainOptions {
        analyze: true,
        buffers: true,
    };
    let mut times = Vec::with_capacity(runs);
    let mut buffers = Vec::with_capacity(runs);
    let mut paths = Vec::new();
    for _ in 0..runs {
        session.begin().await?;
        let result = explain::explain(session, statement, options).await;
        session.rollback().await?;
        match result {
            Ok(explained) => {
                if let Some(ms) = explained.execution_ms {
                    times.push(ms);
                }
                if let Some(blocks) = explained.plan.shared_blocks() {
                    buffers.push(blocks as f64);
                }
                paths = explained.plan.access_paths();
            }
            Err(e) => {
                return Ok(Run {
                    error: Some(e.to_string()),
                    ..Run::default()
                })
            }
        }
    }
    Ok(Run {
        median_ms: median(&mut times),
        buffers: median(&mut buffers),
        paths,
        error: None,
    })
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 0 {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

/// Builds one index in a transaction (the target is safe to block briefly), then analyzes
/// the table, which an expression index needs for the planner to know its values.
async fn build(
    session: &Session,
    extension: Option<&str>,
    create: &str,
    table: &str,
) -> Result<(), PgError> {
    session.begin().await?;
    let mut sql = String::new();
    if let Some(extension) = extension {
        sql.push_str(&format!(
            "/* brisk */ CREATE EXTENSION IF NOT EXISTS {extension}; "
        ));
    }
    sql.push_str(&format!(
        "/* brisk */ {create}; /* brisk */ ANALYZE {table}"
    ));
    match session.client().batch_execute(&sql).await {
        Ok(()) => session.commit().await,
        Err(e) => {
            session.rollback().await?;
            Err(PgError::query("building an index", e))
        }
    }
}

async fn index_size(session: &Session, table: &str, name: &str) -> Result<f64, PgError> {
    let schema = table.split('.').next().unwrap_or("public").to_string();
    session.begin().await?;
    let rows = session
        .query(
            "sizing an index",
            "/* brisk */ SELECT pg_relation_size(c.oid)::float8 FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relname = $1 AND quote_ident(n.nspname) = $2",
            &[&name, &schema],
        )
        .await;
    session.rollback().await?;
    Ok(rows?.first().map(|r| r.get::<_, f64>(0)).unwrap_or(0.0))
}

/// The outcome of building one index with `--apply`.
#[derive(Debug, Clone)]
pub struct Applied {
    pub name: String,
    /// Seconds the build took, or why it failed.
    pub result: Result<f64, String>,
}

/// Builds the recommended indexes on the database of `session` (which must not be
/// read-only): `CREATE INDEX CONCURRENTLY`, outside any transaction block, with
/// `lock_timeout`; a failed build's INVALID leftover is dropped again.
pub async fn apply(session: &Session, advice: &Advice, lock_timeout: Duration) -> Vec<Applied> {
    let client = session.client();
    let mut applied = Vec::new();
    let setup = format!(
        "/* brisk */ SET lock_timeout = {}; /* brisk */ SET statement_timeout = 0",
        lock_timeout.as_millis()
    );
    if let Err(e) = client.batch_execute(&setup).await {
        let message = PgError::query("preparing to build", e).to_string();
        return advice
            .recommendations
            .iter()
            .map(|r| Applied {
                name: r.name.clone(),
                result: Err(message.clone()),
            })
            .collect();
    }
    for r in &advice.recommendations {
        let started = Instant::now();
        let mut sql = String::new();
        if let Some(extension) = r.extension {
            sql.push_str(&format!(
                "/* brisk */ CREATE EXTENSION IF NOT EXISTS {extension}; "
            ));
        }
        sql.push_str("/* brisk */ ");
        sql.push_str(&r.create_sql);
        let result = match client.batch_execute(&sql).await {
            Ok(()) => Ok(started.elapsed().as_secs_f64()),
            Err(e) => {
                let message = PgError::query("building the index", e).to_string();
                let _ = client
                    .batch_execute(&format!("/* brisk */ {}", r.drop_sql))
                    .await;
                Err(message)
            }
        };
        applied.push(Applied {
            name: r.name.clone(),
            result,
        });
    }
    let _ = client
        .batch_execute("/* brisk */ RESET lock_timeout; /* brisk */ RESET statement_timeout")
        .await;
    applied
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn medians_of_odd_and_even_runs() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }
}
