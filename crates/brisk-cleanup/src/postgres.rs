//! The dry run ([`plan`]) and the batched delete ([`apply`]).
//!
//! A batch is a range of the primary key: the next `size` keys after where the last batch
//! ended, whatever rows they hold. In its own READ COMMITTED transaction it finds the end of
//! its range, then deletes the matching rows inside it:
//!
//! ```sql
//! SELECT ARRAY[id::text] FROM messages WHERE (id) > ($1::text::bigint)
//!     ORDER BY id OFFSET 4999 LIMIT 1;                        -- the range's last key
//! DELETE FROM messages WHERE (id) > ($1::text::bigint) AND (id) <= ($2::text::bigint)
//!     AND (expires_at < now());
//! ```
//!
//! So a batch's work is bounded by its number of keys, not by how many rows match: a
//! batch "of 5,000 matching rows" after the last expired row would walk the rest of the
//! table to learn that none is left (measured in scripts/bench-cleanup: past the statement
//! timeout at any size). The whole run is one pass over the primary key. Keys travel as text
//! and are cast back to the key's type, which works for every type with a text form.
//! Under READ COMMITTED a row that another transaction changed meanwhile is checked against
//! the condition again, so a row the application has just extended is kept.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use brisk_pg::{PgError, Session};
use brisk_sql::{parse_predicate, quote_ident};
use serde::Serialize;
use tokio_postgres::types::ToSql;

use crate::error::CleanupError;
use crate::AppLatency;

/// SQLSTATEs of a batch that waited too long: `lock_not_available` (lock_timeout) and
/// `query_canceled` (statement_timeout). Both are retried with a smaller batch.
const LOCK_NOT_AVAILABLE: &str = "55P03";
const QUERY_CANCELED: &str = "57014";

/// Batches that time out in a row before the run gives up: each retry halves the batch, so
/// five failures mean even a sixteenth of the batch could not take its locks.
const MAX_TIMEOUTS_IN_A_ROW: u32 = 5;

/// A batch shrinks by at most half and grows by at most half again at a time: one
/// cold-cache batch must not shrink the next to nothing, and growth is slower than shrinking
/// because a batch's time grows faster than its rows once it leaves the cache or meets a
/// checkpoint (measured with scripts/bench-cleanup: doubling overshot a 200 ms target to
/// 660 ms).
const MAX_SHRINK: f64 = 2.0;
const MAX_GROW: f64 = 1.5;

/// Batch size limits, in keys. Below 10 the per-transaction overhead dominates; above
/// 100,000 the locks and WAL of one transaction are what batching exists to avoid.
const MIN_BATCH: u64 = 10;
const MAX_BATCH: u64 = 100_000;

/// How long the application's baseline is read before the first batch: long enough for a
/// few hundred queries of a busy application, short beside the cleanup.
pub const BASELINE_WINDOW: Duration = Duration::from_secs(2);

/// Longest wait between two checks of the replicas' lag or the application's latency.
const MAX_LAG_BACKOFF: Duration = Duration::from_secs(10);

/// How long the dry run's `count(*)` may take before brisk settles for the planner's
/// estimate: a minute is long for a dry run but short for a table worth batching.
const COUNT_TIMEOUT_MS: u64 = 60_000;

/// What to delete and how gently.
#[derive(Debug, Clone)]
pub struct DeleteOptions {
    /// The table, as SQL names it (`messages`, `app.messages`).
    pub table: String,
    /// The condition of the rows to delete (`expires_at < now()`).
    pub condition: String,
    /// Keys of the primary key in the first batch (the matching rows among them are
    /// deleted); later batches adapt to [`Self::batch_target`].
    pub batch: u64,
    /// How long one batch should take.
    pub batch_target: Duration,
    /// Rest between batches, so the application's queries and autovacuum get the table.
    pub pause: Duration,
    /// Stop starting batches after this long (the run is resumed by running it again).
    pub max_duration: Option<Duration>,
    /// Give up on a batch that waits this long for a lock (then retry it smaller).
    pub lock_timeout: Duration,
    /// Cancel a batch that runs this long (then retry it smaller).
    pub statement_timeout: Duration,
    /// Wait while a replica lags more than this.
    pub max_replication_lag: Duration,
    /// With an [`AppLatency`]: wait while the application's mean query time is more than
    /// this many times its baseline (and [`crate::MIN_SLOWDOWN`] more).
    pub max_app_slowdown: f64,
}

impl DeleteOptions {
    /// The defaults of `brisk cleanup`.
    pub fn new(table: &str, condition: &str) -> DeleteOptions {
        DeleteOptions {
            table: table.to_string(),
            condition: condition.to_string(),
            // Small enough to stay under the target on a cold cache; it adapts from there.
            batch: 1_000,
            // The issue's example, and well under the seconds a web request waits before
            // users notice: an application query blocked on a batch's row lock waits at most
            // about this long.
            batch_target: Duration::from_millis(200),
            // Half the target: brisk holds the table at most two thirds of the time.
            pause: Duration::from_millis(100),
            max_duration: None,
            // brisk's own session default: never queue long behind the application's DDL.
            lock_timeout: Duration::from_secs(1),
            // Ten times the target: only a batch that went badly wrong meets it.
            statement_timeout: Duration::from_secs(2),
            // Replicas a few seconds behind are normal under write load; ten are not.
            max_replication_lag: Duration::from_secs(10),
            // Twice as slow is a regression anyone would call one; below it, the batches'
            // cost hides in the application's own variation.
            max_app_slowdown: 2.0,
        }
    }
}

/// The dry run's answer.
#[derive(Debug, Clone, Serialize)]
pub struct DeletePlan {
    /// `schema.table`, quoted where needed.
    pub table: String,
    pub primary_key: Vec<String>,
    /// The condition as PostgreSQL's parser printed it back.
    pub condition: String,
    pub matching_rows: u64,
    /// Whether [`Self::matching_rows`] is the planner's estimate (the count took too long).
    pub matching_rows_estimated: bool,
    /// The planner's row count of the whole table (`pg_class.reltuples`).
    pub table_rows_estimate: f64,
    /// `EXPLAIN` of the first batch's `DELETE`, one line per plan line.
    pub batch_plan: Vec<String>,
    pub index: IndexAdvice,
    #[serde(skip)]
    key_types: Vec<String>,
}

/// Whether an index serves the condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IndexAdvice {
    /// An index leads with a column the condition filters on.
    Served { index: String },
    /// None does: create this one (its columns: equalities first, then one range).
    Create { sql: String, columns: Vec<String> },
    /// No single index can serve it (`OR` of columns, expressions only); the reason.
    None { reason: String },
}

/// How far [`apply`] is, after each batch.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Progress {
    pub deleted: u64,
    pub batches: u64,
    /// Keys the next batch will walk.
    pub batch_size: u64,
    pub last_batch: Duration,
    pub elapsed: Duration,
    /// Matching rows at the dry run minus those deleted: what is left, about.
    pub remaining_estimate: u64,
    /// Set while waiting for replicas: their lag.
    pub waiting_for_lag: Option<Duration>,
    /// Set while waiting for the application: its mean query time in the last window.
    pub waiting_for_app: Option<Duration>,
}

/// Why [`apply`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// No matching row is left.
    Done,
    /// Asked to stop (Ctrl-C); the batch under way was finished.
    Interrupted,
    /// `max_duration` passed.
    MaxDuration,
}

/// What [`apply`] did.
#[derive(Debug, Clone, Serialize)]
pub struct DeleteOutcome {
    pub deleted: u64,
    pub batches: u64,
    pub elapsed_secs: f64,
    pub stop: Stop,
    /// Batches that hit a timeout and were retried smaller.
    pub retried_batches: u64,
    /// Time spent waiting for replicas to catch up.
    pub lag_wait_secs: f64,
    /// With `--proxy-admin` (`app_watched`): the application's mean query time before the
    /// first batch (milliseconds; `None` when it ran too few queries to judge), the slowest
    /// window seen while deleting, and the time spent waiting for it to recover.
    pub app_watched: bool,
    pub app_baseline_ms: Option<f64>,
    pub app_slowest_ms: Option<f64>,
    pub app_wait_secs: f64,
    /// The longest batch (its transaction), in milliseconds.
    pub longest_batch_ms: f64,
    pub last_batch_size: u64,
    pub vacuum: VacuumState,
}

/// The table's dead rows after the run, against autovacuum's trigger.
#[derive(Debug, Clone, Serialize)]
pub struct VacuumState {
    pub dead_rows: i64,
    pub live_rows: i64,
    /// Dead rows past which autovacuum vacuums the table: `autovacuum_vacuum_threshold +
    /// autovacuum_vacuum_scale_factor * reltuples` (the table's own settings first), the
    /// formula of PostgreSQL's autovacuum.c.
    pub autovacuum_threshold: f64,
    pub autovacuum_enabled: bool,
    /// Whether the dead rows passed the threshold: autovacuum will (or, disabled, would)
    /// vacuum the table.
    pub vacuum_due: bool,
}

/// The table and its primary key, resolved with the connection's search_path.
struct Table {
    name: String,
    key: Vec<String>,
    key_types: Vec<String>,
    rows_estimate: f64,
}

async fn in_transaction<T>(
    session: &Session,
    work: impl std::future::Future<Output = Result<T, CleanupError>>,
) -> Result<T, CleanupError> {
    session.begin().await?;
    match work.await {
        Ok(value) => {
            session.commit().await?;
            Ok(value)
        }
        Err(error) => {
            let _ = session.rollback().await;
            Err(error)
        }
    }
}

async fn resolve_table(session: &Session, name: &str) -> Result<Table, CleanupError> {
    let rows = session
        .query(
            "finding the table",
            "/* brisk */ SELECT format('%I.%I', n.nspname, c.relname), c.relkind::text, \
             c.reltuples::float8 \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.oid = to_regclass($1)",
            &[&name],
        )
        .await;
    let rows = match rows {
        Ok(rows) => rows,
        // `to_regclass` still errors on a name that is not a name at all (`a.b.c.d`).
        Err(PgError::Query { message, .. }) => {
            return Err(CleanupError::NoTable {
                table: format!("{name} ({message})"),
            })
        }
        Err(e) => return Err(e.into()),
    };
    let Some(row) = rows.first() else {
        return Err(CleanupError::NoTable {
            table: name.to_string(),
        });
    };
    let qualified: String = row.get(0);
    let kind: String = row.get(1);
    if kind != "r" && kind != "p" {
        let kind = match kind.as_str() {
            "v" => "a view",
            "m" => "a materialized view",
            "f" => "a foreign table",
            "S" => "a sequence",
            "i" | "I" => "an index",
            _ => "not a table",
        };
        return Err(CleanupError::NotATable {
            table: qualified,
            kind: kind.to_string(),
        });
    }
    let key_rows = session
        .query(
            "reading the primary key",
            "/* brisk */ SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) \
             FROM pg_index i \
             CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
             WHERE i.indrelid = $1::text::regclass AND i.indisprimary ORDER BY k.ord",
            &[&qualified],
        )
        .await?;
    if key_rows.is_empty() {
        return Err(CleanupError::NoPrimaryKey { table: qualified });
    }
    Ok(Table {
        name: qualified,
        key: key_rows.iter().map(|r| r.get::<_, String>(0)).collect(),
        key_types: key_rows.iter().map(|r| r.get::<_, String>(1)).collect(),
        rows_estimate: row.get::<_, f64>(2).max(0.0),
    })
}

/// `(a, b) > ($1::text::t1, $2::text::t2)` for the key, its parameters from `$first`.
fn key_bound(columns: &[String], key_types: &[String], op: &str, first: usize) -> String {
    let params: Vec<String> = key_types
        .iter()
        .enumerate()
        .map(|(i, ty)| format!("${}::text::{ty}", first + i))
        .collect();
    format!("({}) {op} ({})", columns.join(", "), params.join(", "))
}

/// The last key of the next range of `size` keys (after `$1..$n` with `after_key`), as text.
fn range_end_sql(
    table: &str,
    key: &[String],
    key_types: &[String],
    after_key: bool,
    size: u64,
) -> String {
    let columns: Vec<String> = key.iter().map(|c| quote_ident(c)).collect();
    let as_text: Vec<String> = columns.iter().map(|c| format!("{c}::text")).collect();
    let lower = if after_key {
        format!("WHERE {} ", key_bound(&columns, key_types, ">", 1))
    } else {
        String::new()
    };
    format!(
        "/* brisk cleanup */ SELECT ARRAY[{}] FROM {table} {lower}ORDER BY {} OFFSET {} LIMIT 1",
        as_text.join(", "),
        columns.join(", "),
        size.saturating_sub(1)
    )
}

/// The `DELETE` of one range: after `$1..$n` (with `after_key`) and up to the next `n`
/// parameters (with `bounded`; the last range runs to the end of the table).
fn delete_sql(
    table: &str,
    key: &[String],
    key_types: &[String],
    condition: &str,
    after_key: bool,
    bounded: bool,
) -> String {
    let columns: Vec<String> = key.iter().map(|c| quote_ident(c)).collect();
    let mut bounds = Vec::new();
    if after_key {
        bounds.push(key_bound(&columns, key_types, ">", 1));
    }
    if bounded {
        let first = if after_key { key.len() + 1 } else { 1 };
        bounds.push(key_bound(&columns, key_types, "<=", first));
    }
    bounds.push(format!("({condition})"));
    format!(
        "/* brisk cleanup */ DELETE FROM {table} WHERE {}",
        bounds.join(" AND ")
    )
}

/// The dry run: validates everything [`apply`] needs and says what it would do. Reads only.
pub async fn plan(session: &Session, options: &DeleteOptions) -> Result<DeletePlan, CleanupError> {
    // Refused before anything is read: the condition alone, on a placeholder table name.
    parse_predicate("brisk_cleanup_target", &options.condition)?;
    let table = in_transaction(session, resolve_table(session, &options.table)).await?;
    // Again with the table's name, so `messages.expires_at` is read as its column.
    let predicate = parse_predicate(&table.name, &options.condition)?;
    let condition = predicate.sql.clone();
    // Errors of the condition itself: class 42 (an unknown column or function, a type
    // mismatch; but not a missing privilege) and class 22 (a literal that is not a value of
    // its type).
    let doesnt_apply = |e: PgError, table: &str| match e {
        PgError::Query {
            message,
            sqlstate: Some(code),
            ..
        } if (code.starts_with("42") || code.starts_with("22"))
            && code != brisk_pg::INSUFFICIENT_PRIVILEGE =>
        {
            CleanupError::ConditionDoesNotApply {
                table: table.to_string(),
                detail: message,
            }
        }
        other => other.into(),
    };

    // EXPLAIN first: it checks the condition against the table (columns, types) cheaply.
    let explain_count = format!(
        "/* brisk */ EXPLAIN SELECT 1 FROM {} WHERE ({condition})",
        table.name
    );
    let estimate_lines = in_transaction(session, async {
        session
            .query("explaining the condition", &explain_count, &[])
            .await
            .map_err(|e| doesnt_apply(e, &table.name))
    })
    .await?;
    let estimated_rows = estimate_lines
        .first()
        .and_then(|r| rows_estimate(&r.get::<_, String>(0)))
        .unwrap_or(0);

    let batch_plan = in_transaction(session, async {
        let first_end = session
            .query(
                "finding the first batch's keys",
                &range_end_sql(
                    &table.name,
                    &table.key,
                    &table.key_types,
                    false,
                    options.batch,
                ),
                &[],
            )
            .await?
            .first()
            .and_then(|r| r.get::<_, Option<Vec<String>>>(0));
        let delete = delete_sql(
            &table.name,
            &table.key,
            &table.key_types,
            &condition,
            false,
            first_end.is_some(),
        );
        let params: Vec<&(dyn ToSql + Sync)> = first_end
            .iter()
            .flatten()
            .map(|k| k as &(dyn ToSql + Sync))
            .collect();
        let rows = session
            .query(
                "explaining one batch",
                &format!("EXPLAIN {delete}"),
                &params,
            )
            .await
            .map_err(|e| doesnt_apply(e, &table.name))?;
        Ok(rows
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>())
    })
    .await?;

    let count_sql = format!(
        "/* brisk */ SELECT count(*) FROM {} WHERE ({condition})",
        table.name
    );
    session.begin().await?;
    let counted = async {
        session
            .client()
            .batch_execute(&format!("SET LOCAL statement_timeout = {COUNT_TIMEOUT_MS}"))
            .await
            .map_err(|e| PgError::query("setting the count's timeout", e))?;
        session.query("counting the rows", &count_sql, &[]).await
    }
    .await;
    let (matching_rows, matching_rows_estimated) = match counted {
        Ok(rows) => {
            session.commit().await?;
            let n: i64 = rows.first().map_or(0, |r| r.get(0));
            (n.max(0) as u64, false)
        }
        Err(PgError::Query {
            sqlstate: Some(code),
            ..
        }) if code == QUERY_CANCELED => {
            session.rollback().await?;
            (estimated_rows, true)
        }
        Err(e) => {
            let _ = session.rollback().await;
            return Err(doesnt_apply(e, &table.name));
        }
    };

    let index = in_transaction(
        session,
        index_advice(session, &table.name, &predicate.usage),
    )
    .await?;
    Ok(DeletePlan {
        table: table.name,
        primary_key: table.key,
        condition,
        matching_rows,
        matching_rows_estimated,
        table_rows_estimate: table.rows_estimate,
        batch_plan,
        index,
        key_types: table.key_types,
    })
}

/// `rows=N` of a text plan line.
fn rows_estimate(line: &str) -> Option<u64> {
    let at = line.find("rows=")? + "rows=".len();
    line[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Whether a valid, non-partial index leads with a column the condition filters on (not
/// under `OR`); if not, the index to create.
async fn index_advice(
    session: &Session,
    table: &str,
    usage: &brisk_sql::TableUsage,
) -> Result<IndexAdvice, CleanupError> {
    let filtered: Vec<&str> = usage
        .equality
        .iter()
        .chain(&usage.range)
        .filter(|p| !p.under_or)
        .map(|p| p.column.as_str())
        .chain(
            usage
                .null_tests
                .iter()
                .filter(|p| !p.under_or)
                .map(|p| p.column.as_str()),
        )
        .collect();
    let rows = session
        .query(
            "reading the table's indexes",
            "/* brisk */ SELECT ic.relname::text, a.attname::text \
             FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
             LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
             WHERE i.indrelid = $1::text::regclass AND i.indisvalid AND i.indpred IS NULL \
             ORDER BY i.indisprimary, ic.relname",
            &[&table],
        )
        .await?;
    for row in &rows {
        let leading: Option<String> = row.get(1);
        if leading.as_deref().is_some_and(|c| filtered.contains(&c)) {
            return Ok(IndexAdvice::Served { index: row.get(0) });
        }
    }
    // Equalities first, then one range column: the order a B-tree can use for both.
    let mut columns: Vec<String> = usage
        .equality
        .iter()
        .filter(|p| !p.under_or)
        .map(|p| p.column.clone())
        .collect();
    if let Some(range) = usage.range.iter().find(|p| !p.under_or) {
        columns.push(range.column.clone());
    }
    if columns.is_empty() {
        if let Some(null_test) = usage.null_tests.iter().find(|p| !p.under_or) {
            columns.push(null_test.column.clone());
        }
    }
    columns.dedup();
    if columns.is_empty() {
        return Ok(IndexAdvice::None {
            reason: "the condition compares no column on its own (an OR of columns, or expressions only), so no single B-tree serves it".into(),
        });
    }
    let list: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    Ok(IndexAdvice::Create {
        sql: format!(
            "CREATE INDEX CONCURRENTLY ON {table} ({});",
            list.join(", ")
        ),
        columns,
    })
}

/// Deletes the rows of `plan` in batches. `stop` is checked between batches (set it on
/// Ctrl-C); `on_batch` runs after each batch and while waiting for replicas or the
/// application (`app`, when given: its baseline is read first, over [`BASELINE_WINDOW`]).
/// The session must not be read-only.
pub async fn apply(
    session: &Session,
    plan: &DeletePlan,
    options: &DeleteOptions,
    mut app: Option<&mut AppLatency>,
    stop: &AtomicBool,
    on_batch: &mut (dyn FnMut(&Progress) + Send),
) -> Result<DeleteOutcome, CleanupError> {
    let baseline = match app.as_deref_mut() {
        Some(app) => app.read_baseline(BASELINE_WINDOW).await?,
        None => None,
    };
    let mut app_wait = Duration::ZERO;
    let mut app_slowest: Option<Duration> = None;
    let started = Instant::now();
    let mut last_key: Option<Vec<String>> = None;
    let mut size = options.batch.clamp(MIN_BATCH, MAX_BATCH);
    let mut progress = Progress {
        deleted: 0,
        batches: 0,
        batch_size: size,
        last_batch: Duration::ZERO,
        elapsed: Duration::ZERO,
        remaining_estimate: plan.matching_rows,
        waiting_for_lag: None,
        waiting_for_app: None,
    };
    let mut retried = 0;
    let mut timeouts_in_a_row = 0;
    let mut lag_wait = Duration::ZERO;
    let mut longest = Duration::ZERO;
    let stop_reason = loop {
        if stop.load(Ordering::Relaxed) {
            break Stop::Interrupted;
        }
        // At least one batch, so that every run makes progress.
        if progress.batches > 0
            && options
                .max_duration
                .is_some_and(|max| started.elapsed() + progress.last_batch > max)
        {
            break Stop::MaxDuration;
        }
        let waited = wait_for_replicas(session, options, stop, &mut progress, on_batch).await?;
        lag_wait += waited;
        if let Some(app) = app.as_deref_mut() {
            let (waited, slowest) =
                wait_for_app(app, options, stop, &mut progress, on_batch).await?;
            app_wait += waited;
            app_slowest = app_slowest.max(slowest);
        }
        if stop.load(Ordering::Relaxed) {
            break Stop::Interrupted;
        }

        let batch_started = Instant::now();
        let result = run_batch(session, plan, options, size, last_key.as_deref()).await;
        let took = batch_started.elapsed();
        match result {
            Ok((deleted, end)) => {
                timeouts_in_a_row = 0;
                longest = longest.max(took);
                progress.deleted += deleted;
                progress.batches += 1;
                progress.last_batch = took;
                progress.elapsed = started.elapsed();
                progress.remaining_estimate = plan.matching_rows.saturating_sub(progress.deleted);
                let Some(end) = end else {
                    // The range ran to the end of the table.
                    progress.remaining_estimate = 0;
                    on_batch(&progress);
                    break Stop::Done;
                };
                last_key = Some(end);
                size = next_size(size, took, options.batch_target);
                progress.batch_size = size;
                on_batch(&progress);
            }
            Err(BatchError::TimedOut) => {
                retried += 1;
                timeouts_in_a_row += 1;
                if timeouts_in_a_row >= MAX_TIMEOUTS_IN_A_ROW {
                    return Err(CleanupError::KeepsTimingOut {
                        table: plan.table.clone(),
                        failures: timeouts_in_a_row,
                        size,
                        deleted: progress.deleted,
                    });
                }
                size = (size / 2).max(MIN_BATCH);
                progress.batch_size = size;
            }
            Err(BatchError::Failed(detail)) => {
                return Err(CleanupError::Batch {
                    table: plan.table.clone(),
                    deleted: progress.deleted,
                    detail,
                })
            }
        }
        tokio::time::sleep(options.pause).await;
    };
    let vacuum = vacuum_state(session, &plan.table).await?;
    Ok(DeleteOutcome {
        deleted: progress.deleted,
        batches: progress.batches,
        elapsed_secs: started.elapsed().as_secs_f64(),
        stop: stop_reason,
        retried_batches: retried,
        lag_wait_secs: lag_wait.as_secs_f64(),
        app_watched: app.is_some(),
        app_baseline_ms: baseline.map(|b| b.as_secs_f64() * 1000.0),
        app_slowest_ms: app_slowest.map(|s| s.as_secs_f64() * 1000.0),
        app_wait_secs: app_wait.as_secs_f64(),
        longest_batch_ms: longest.as_secs_f64() * 1000.0,
        last_batch_size: size,
        vacuum,
    })
}

/// The next batch's size: scaled toward the target by the last batch's time, by at most
/// [`MAX_SHRINK`] down and [`MAX_GROW`] up.
fn next_size(size: u64, took: Duration, target: Duration) -> u64 {
    let ratio = target.as_secs_f64() / took.as_secs_f64().max(1e-6);
    let scaled = size as f64 * ratio.clamp(1.0 / MAX_SHRINK, MAX_GROW);
    (scaled.round() as u64).clamp(MIN_BATCH, MAX_BATCH)
}

enum BatchError {
    TimedOut,
    Failed(String),
}

/// One batch in its own READ COMMITTED transaction (not brisk's usual REPEATABLE READ: a
/// concurrent update of a row must make the `DELETE` re-check the condition, not fail): the
/// next `size` keys after `after`, and the matching rows among them deleted. Returns the rows
/// deleted and the range's last key, `None` when the range ran to the end of the table.
async fn run_batch(
    session: &Session,
    plan: &DeletePlan,
    options: &DeleteOptions,
    size: u64,
    after: Option<&[String]>,
) -> Result<(u64, Option<Vec<String>>), BatchError> {
    let client = session.client();
    let failed = |e: tokio_postgres::Error| {
        let code = e.code().map(|c| c.code().to_string());
        if matches!(code.as_deref(), Some(LOCK_NOT_AVAILABLE | QUERY_CANCELED)) {
            BatchError::TimedOut
        } else {
            BatchError::Failed(
                e.as_db_error()
                    .map(|d| d.message().to_string())
                    .unwrap_or_else(|| e.to_string()),
            )
        }
    };
    client
        .batch_execute(&format!(
            "/* brisk */ BEGIN ISOLATION LEVEL READ COMMITTED, READ WRITE; \
             /* brisk */ SET LOCAL statement_timeout = {}; \
             /* brisk */ SET LOCAL lock_timeout = {};",
            options.statement_timeout.as_millis(),
            options.lock_timeout.as_millis()
        ))
        .await
        .map_err(failed)?;
    let work = async {
        let key = &plan.primary_key;
        let types = &plan.key_types;
        let lower: Vec<&(dyn ToSql + Sync)> = after
            .unwrap_or(&[])
            .iter()
            .map(|k| k as &(dyn ToSql + Sync))
            .collect();
        let end: Option<Vec<String>> = client
            .query(
                &range_end_sql(&plan.table, key, types, after.is_some(), size),
                &lower,
            )
            .await?
            .first()
            .and_then(|r| r.get(0));
        let mut params = lower.clone();
        params.extend(end.iter().flatten().map(|k| k as &(dyn ToSql + Sync)));
        let delete = delete_sql(
            &plan.table,
            key,
            types,
            &plan.condition,
            after.is_some(),
            end.is_some(),
        );
        let deleted = client.execute(&delete, &params).await?;
        Ok::<_, tokio_postgres::Error>((deleted, end))
    };
    let (deleted, end) = match work.await {
        Ok(done) => done,
        Err(e) => {
            let _ = client.batch_execute("/* brisk */ ROLLBACK").await;
            return Err(failed(e));
        }
    };
    client
        .batch_execute("/* brisk */ COMMIT")
        .await
        .map_err(failed)?;
    Ok((deleted, end))
}

/// Waits while a replica lags more than allowed, backing off from the pause up to
/// [`MAX_LAG_BACKOFF`]. Lag is read from `pg_stat_replication` (write, flush and replay lag,
/// the worst), which shows it only to roles with `pg_read_all_stats`; without, brisk sees
/// no lag. Returns the time waited.
async fn wait_for_replicas(
    session: &Session,
    options: &DeleteOptions,
    stop: &AtomicBool,
    progress: &mut Progress,
    on_batch: &mut (dyn FnMut(&Progress) + Send),
) -> Result<Duration, CleanupError> {
    let started = Instant::now();
    let mut backoff = options.pause.max(Duration::from_millis(100));
    loop {
        let lag = in_transaction(session, async {
            let rows = session
                .query(
                    "reading replication lag",
                    "/* brisk */ SELECT coalesce(max(extract(epoch FROM \
                     greatest(write_lag, flush_lag, replay_lag))), 0)::float8 \
                     FROM pg_stat_replication",
                    &[],
                )
                .await?;
            Ok(rows.first().map_or(0.0, |r| r.get::<_, f64>(0)))
        })
        .await?;
        let lag = Duration::from_secs_f64(lag.max(0.0));
        if lag <= options.max_replication_lag || stop.load(Ordering::Relaxed) {
            progress.waiting_for_lag = None;
            return Ok(started.elapsed());
        }
        progress.waiting_for_lag = Some(lag);
        on_batch(progress);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_LAG_BACKOFF);
    }
}

/// Waits while the application is slower than its baseline allows (see
/// [`AppLatency::limit`]), backing off from the pause up to [`MAX_LAG_BACKOFF`]. A window
/// with too few queries is not judged. Returns the time waited and the slowest window.
async fn wait_for_app(
    app: &mut AppLatency,
    options: &DeleteOptions,
    stop: &AtomicBool,
    progress: &mut Progress,
    on_batch: &mut (dyn FnMut(&Progress) + Send),
) -> Result<(Duration, Option<Duration>), CleanupError> {
    let mut waited = Duration::ZERO;
    let mut slowest = None;
    let Some(limit) = app.limit(options.max_app_slowdown) else {
        return Ok((waited, None));
    };
    let mut backoff = options.pause.max(Duration::from_millis(100));
    loop {
        let mean = app.window().await?;
        slowest = slowest.max(mean);
        // Too few queries yet: judged at a later check, when the window has enough. While
        // waiting it is the recovery that is not known yet, so the wait goes on, as long
        // as a window could take to fill.
        let slow = match mean {
            Some(mean) => mean > limit,
            None => progress.waiting_for_app.is_some() && waited < MAX_LAG_BACKOFF * 3,
        };
        if !slow || stop.load(Ordering::Relaxed) {
            progress.waiting_for_app = None;
            return Ok((waited, slowest));
        }
        if let Some(mean) = mean {
            progress.waiting_for_app = Some(mean);
        }
        on_batch(progress);
        tokio::time::sleep(backoff).await;
        waited += backoff;
        backoff = (backoff * 2).min(MAX_LAG_BACKOFF);
    }
}

/// Dead rows against autovacuum's threshold, after making this backend's statistics
/// visible (they are otherwise sent at most once a second, PostgreSQL 15's
/// `pgstat_report_stat`).
async fn vacuum_state(session: &Session, table: &str) -> Result<VacuumState, CleanupError> {
    if session.server().version_num >= 150_000 {
        // Outside a transaction: the flush happens when the backend next goes idle.
        session
            .client()
            .batch_execute("/* brisk */ SELECT pg_stat_force_next_flush()")
            .await
            .map_err(|e| PgError::query("flushing statistics", e))?;
    } else {
        tokio::time::sleep(Duration::from_millis(1_100)).await;
    }
    let row = in_transaction(session, async {
        let rows = session
            .query(
                "reading dead rows",
                "/* brisk */ WITH opts AS (\
                 SELECT option_name, option_value FROM pg_class c, \
                 pg_options_to_table(c.reloptions) WHERE c.oid = $1::text::regclass) \
                 SELECT coalesce(s.n_dead_tup, 0), coalesce(s.n_live_tup, 0), \
                 greatest(c.reltuples, 0)::float8, \
                 coalesce((SELECT option_value FROM opts WHERE option_name = 'autovacuum_vacuum_threshold'), \
                          current_setting('autovacuum_vacuum_threshold'))::float8, \
                 coalesce((SELECT option_value FROM opts WHERE option_name = 'autovacuum_vacuum_scale_factor'), \
                          current_setting('autovacuum_vacuum_scale_factor'))::float8, \
                 current_setting('autovacuum')::bool \
                 AND coalesce((SELECT option_value FROM opts WHERE option_name = 'autovacuum_enabled')::bool, true) \
                 FROM pg_class c LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid \
                 WHERE c.oid = $1::text::regclass",
                &[&table],
            )
            .await?;
        rows.into_iter().next().ok_or_else(|| CleanupError::NoTable {
            table: table.to_string(),
        })
    })
    .await?;
    let dead_rows: i64 = row.get(0);
    let threshold = row.get::<_, f64>(3) + row.get::<_, f64>(4) * row.get::<_, f64>(2);
    Ok(VacuumState {
        dead_rows,
        live_rows: row.get(1),
        autovacuum_threshold: threshold,
        autovacuum_enabled: row.get(5),
        vacuum_due: dead_rows as f64 > threshold,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_adapt_toward_the_target_in_bounded_steps() {
        let target = Duration::from_millis(200);
        assert_eq!(next_size(1000, Duration::from_millis(160), target), 1250);
        assert_eq!(next_size(1000, Duration::from_millis(100), target), 1500);
        assert_eq!(next_size(1000, Duration::from_millis(10), target), 1500);
        assert_eq!(next_size(1000, Duration::from_millis(400), target), 500);
        assert_eq!(next_size(1000, Duration::from_secs(5), target), 500);
        assert_eq!(next_size(1000, Duration::from_millis(250), target), 800);
        assert_eq!(next_size(12, Duration::from_secs(1), target), MIN_BATCH);
        assert_eq!(next_size(MAX_BATCH, Duration::ZERO, target), MAX_BATCH);
    }

    #[test]
    fn a_batch_is_a_range_of_keys_after_the_last_one() {
        let one = (["id".to_string()], ["bigint".to_string()]);
        assert_eq!(
            range_end_sql("public.t", &one.0, &one.1, false, 50),
            "/* brisk cleanup */ SELECT ARRAY[id::text] FROM public.t ORDER BY id OFFSET 49 LIMIT 1"
        );
        assert_eq!(
            delete_sql("public.t", &one.0, &one.1, "x < 1", false, true),
            "/* brisk cleanup */ DELETE FROM public.t WHERE (id) <= ($1::text::bigint) AND (x < 1)"
        );
        let two = (
            ["tenant".to_string(), "Id".to_string()],
            ["integer".to_string(), "uuid".to_string()],
        );
        assert!(range_end_sql("t", &two.0, &two.1, true, 10).contains(
            r#"WHERE (tenant, "Id") > ($1::text::integer, $2::text::uuid) ORDER BY tenant, "Id" OFFSET 9"#
        ));
        assert_eq!(
            delete_sql("t", &two.0, &two.1, "x < 1", true, true),
            "/* brisk cleanup */ DELETE FROM t WHERE (tenant, \"Id\") > ($1::text::integer, $2::text::uuid) \
             AND (tenant, \"Id\") <= ($3::text::integer, $4::text::uuid) AND (x < 1)"
        );
        // The last range runs to the end of the table.
        assert_eq!(
            delete_sql("t", &one.0, &one.1, "x < 1", true, false),
            "/* brisk cleanup */ DELETE FROM t WHERE (id) > ($1::text::bigint) AND (x < 1)"
        );
    }

    #[test]
    fn plan_lines_give_their_row_estimate() {
        assert_eq!(
            rows_estimate("Seq Scan on m  (cost=0.00..35.50 rows=2550 width=4)"),
            Some(2550)
        );
        assert_eq!(rows_estimate("Filter: (x < 1)"), None);
    }
}
