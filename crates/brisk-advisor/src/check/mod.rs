//! `brisk check`: catalog and statistics checks of a live database.
//!
//! [`run_check`] reads every snapshot it needs at once (the queries are pipelined on one
//! connection), then runs each check over the snapshots. A check whose snapshot could not
//! be read (a missing privilege, a missing extension) is reported as skipped with the
//! reason, and every other check still runs.

mod bloat;
mod cache;
mod connections;
mod indexes;
mod maintenance;
mod queries;
mod schema;

use std::sync::OnceLock;

use brisk_pg::catalog::{
    self, Backend, DatabaseStats, ForeignKey, Index, Sequence, Settings, Statement,
    StatementsStatus, StatsWindow, Table,
};
use brisk_pg::{PgError, ServerInfo, Session};
use brisk_report::{format_duration_secs, Finding, Report, Skipped, Target};

pub use bloat::{estimate_index_bloat, estimate_table_bloat, BloatEstimate};

/// Thresholds of the checks. [`CheckOptions::default`] says where each number comes from;
/// `brisk check`'s flags take their defaults from it, so each number exists once.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Sessions idle inside a transaction longer than this are reported (seconds).
    pub idle_in_transaction_secs: f64,
    /// Queries running longer than this are reported (seconds).
    pub long_query_secs: f64,
    /// Sessions waiting on a lock longer than this are reported (seconds).
    pub lock_wait_secs: f64,
    /// Share of usable connections in use that is a warning; `connections_critical_pct`
    /// is critical.
    pub connections_warning_pct: f64,
    pub connections_critical_pct: f64,
    /// An unused index is only a warning, with a DROP, once the statistics cover this many
    /// days; before that it is info with a date to check again.
    pub unused_index_min_days: f64,
    /// Bloat is reported when at least this many bytes and `bloat_min_pct` of the
    /// relation are wasted...
    pub bloat_min_bytes: f64,
    pub bloat_min_pct: f64,
    /// ...or, on a big relation, at least this many bytes and `bloat_large_min_pct`.
    pub bloat_large_min_bytes: f64,
    pub bloat_large_min_pct: f64,
    /// Dead tuples above this share of a table, and at least `dead_tuples_min_count` of
    /// them, mean vacuum is not keeping up.
    pub dead_tuples_min_pct: f64,
    pub dead_tuples_min_count: i64,
    /// A sequence that has used this share of its type's range is a warning;
    /// `sequence_critical_pct` is critical.
    pub sequence_warning_pct: f64,
    pub sequence_critical_pct: f64,
    /// Cache hit ratios below this are reported.
    pub cache_hit_min_pct: f64,
    /// Ratios over fewer block accesses than this say nothing.
    pub cache_min_blocks: i64,
    /// How many statements to rank by total time, mean time and calls.
    pub top_queries: i64,
    /// Statements with less total time than this are not worth a line (milliseconds).
    pub top_min_total_ms: f64,
    /// A statement slower than this on average is a warning (milliseconds).
    pub slow_query_mean_ms: f64,
    /// Check ids not to run (see [`CHECKS`]).
    pub skip: Vec<String>,
}

const MIB: f64 = 1024.0 * 1024.0;

impl Default for CheckOptions {
    /// The defaults, each with where its number comes from (docs/check.md repeats them).
    /// "check_postgres" is bucardo's check_postgres.pl 2.26, "PgHero" is ankane's PgHero 3.x,
    /// "pgx_scripts" is PostgreSQL Experts' bloat queries.
    fn default() -> Self {
        CheckOptions {
            // An open transaction holds its locks and its snapshot (which stops vacuum) for
            // as long as a long-running query does, so it gets the same minute.
            idle_in_transaction_secs: 60.0,
            // PgHero's `long_running_query_sec` default.
            long_query_secs: 60.0,
            // A third of the 30 s after which a web request usually times out (Heroku's
            // router, and most load balancers' defaults): by then the waiting clients fail.
            // check_postgres's `lockwait` waits a minute because it pages someone; brisk
            // reports what is already hurting requests.
            lock_wait_secs: 10.0,
            // check_postgres's `backends` action warns at 90% and is critical at 95% of
            // max_connections. brisk counts only the slots applications can use (superuser
            // and reserved slots excluded), and warns earlier, at 75%, so a burst of a
            // third more connections (a deploy, a retry storm) still fits when it warns.
            connections_warning_pct: 75.0,
            connections_critical_pct: 90.0,
            // A week without a scan covers a full business cycle (weekly jobs and reports);
            // an hour of statistics proves nothing.
            unused_index_min_days: 7.0,
            // pgx_scripts' table_bloat_check.sql reports at least 50% and 10 MB wasted, or
            // at least 25% and 1 GB on big tables; its index query uses 50% and 10 MB.
            // brisk used 30% before, with no source; it now takes pgx_scripts' two tiers,
            // whose queries estimate bloat the same way (row widths from pg_stats).
            bloat_min_bytes: 10.0 * MIB,
            bloat_min_pct: 50.0,
            bloat_large_min_bytes: 1024.0 * MIB,
            bloat_large_min_pct: 25.0,
            // Autovacuum's default trigger is 50 rows plus 20% of the table
            // (`autovacuum_vacuum_threshold`, `autovacuum_vacuum_scale_factor`), so 30%
            // means it is late; fewer than 1,000 dead rows fit in a few pages.
            dead_tuples_min_pct: 30.0,
            dead_tuples_min_count: 1_000,
            // PgHero's `sequence_danger` flags 90% (critical here). check_postgres's
            // `sequence` action warns at 85%; brisk warns earlier, at 75%, because the fix
            // (changing a big table's key to bigint) takes weeks to plan and run: GitLab
            // tracked its int4 keys from 10-20% used and still needed months.
            sequence_warning_pct: 75.0,
            sequence_critical_pct: 90.0,
            // PgHero's `cache_hit_rate_threshold` is 99%, after Heroku's guidance that a
            // transactional database should find 99% of its blocks in memory. brisk sets a
            // looser bar, 95%, because it also judges single tables, where a miss is often
            // no disk I/O (the OS page cache served it) or by design (a scan of a table
            // bigger than a quarter of shared_buffers goes through a small ring buffer).
            cache_hit_min_pct: 95.0,
            // 1,000 blocks is 8 MB: below that, one cold read after a restart moves the
            // ratio by whole percents.
            cache_min_blocks: 1_000,
            // A count, not a threshold: five per ranking fit on a screen. The `--format json`
            // reader who wants more asks with --top.
            top_queries: 5,
            // 100 ms: the limit under which a response feels instantaneous (Nielsen, "Response
            // Times: The 3 Important Limits"). A statement below it in total is not worth a
            // line, and one above it on average is slow. PgHero's `slow_query_ms` is 20 ms
            // with 100 calls, a list to browse rather than a warning.
            top_min_total_ms: 100.0,
            slow_query_mean_ms: 100.0,
            skip: Vec::new(),
        }
    }
}

/// One check of `brisk check`: its id, what it looks for, and the function that judges the
/// snapshots. The ids are stable: users filter and suppress findings by them.
pub struct Check {
    pub id: &'static str,
    pub about: &'static str,
    run: fn(&Snapshot, &CheckOptions) -> Part<Vec<Finding>>,
}

/// Every check `brisk check` runs, in the order it runs them.
pub const CHECKS: &[Check] = &[
    Check {
        id: "index.unused",
        about: "indexes never scanned since statistics began",
        run: indexes::unused,
    },
    Check {
        id: "index.duplicate",
        about: "indexes with the same definition as another",
        run: indexes::duplicate,
    },
    Check {
        id: "index.redundant",
        about: "indexes whose columns lead another index",
        run: indexes::redundant,
    },
    Check {
        id: "index.invalid",
        about: "invalid indexes left by failed concurrent builds",
        run: indexes::invalid,
    },
    Check {
        id: "index.bloat",
        about: "btree indexes much larger than their entries need (estimate)",
        run: bloat::index_bloat,
    },
    Check {
        id: "table.bloat",
        about: "tables much larger than their rows need (estimate)",
        run: bloat::table_bloat,
    },
    Check {
        id: "table.no_primary_key",
        about: "tables without a primary key",
        run: schema::no_primary_key,
    },
    Check {
        id: "vacuum.dead_tuples",
        about: "tables where dead rows pile up",
        run: maintenance::dead_tuples,
    },
    Check {
        id: "vacuum.never_analyzed",
        about: "tables the planner has no statistics for",
        run: maintenance::never_analyzed,
    },
    Check {
        id: "vacuum.stale_statistics",
        about: "tables changed a lot since their last analyze",
        run: maintenance::stale_statistics,
    },
    Check {
        id: "vacuum.wraparound",
        about: "transaction ID age against autovacuum_freeze_max_age",
        run: maintenance::wraparound,
    },
    Check {
        id: "sequence.exhaustion",
        about: "sequences and identity columns near their type's limit",
        run: schema::sequence_exhaustion,
    },
    Check {
        id: "fk.unindexed",
        about: "foreign keys without an index on the referencing columns",
        run: schema::unindexed_foreign_keys,
    },
    Check {
        id: "connections.usage",
        about: "connections in use against max_connections",
        run: connections::usage,
    },
    Check {
        id: "connections.idle_in_transaction",
        about: "sessions idle inside an open transaction",
        run: connections::idle_in_transaction,
    },
    Check {
        id: "connections.long_running",
        about: "queries running for a long time",
        run: connections::long_running,
    },
    Check {
        id: "connections.blocked",
        about: "sessions waiting on a lock, with the blocker",
        run: connections::blocked,
    },
    Check {
        id: "cache.hit_ratio",
        about: "shared buffer hit ratio of the database and its tables",
        run: cache::hit_ratio,
    },
    Check {
        id: "queries.top",
        about: "top statements from pg_stat_statements",
        run: queries::top,
    },
];

/// Whether `id` names a check, for validating `--skip`.
pub fn is_check_id(id: &str) -> bool {
    CHECKS.iter().any(|check| check.id == id)
}

/// Why a snapshot is missing, in words for the report.
#[derive(Debug, Clone)]
pub(crate) struct Unavailable(pub String);

impl From<&PgError> for Unavailable {
    fn from(error: &PgError) -> Self {
        if error.is_permission_denied() {
            Unavailable(format!(
                "{error}. Grant the pg_monitor role to brisk's user (GRANT pg_monitor TO ...)"
            ))
        } else {
            Unavailable(error.to_string())
        }
    }
}

type Part<T> = Result<T, Unavailable>;

/// Everything the checks read, fetched once.
pub(crate) struct Snapshot {
    pub server: ServerInfo,
    pub settings: Settings,
    pub window: Part<StatsWindow>,
    pub indexes: Part<Vec<Index>>,
    pub tables: Part<Vec<Table>>,
    pub foreign_keys: Part<Vec<ForeignKey>>,
    pub sequences: Part<Vec<Sequence>>,
    pub activity: Part<Vec<Backend>>,
    pub databases: Part<Vec<DatabaseStats>>,
    pub statements: Part<StatementsView>,
    /// The findings of the three index checks, which are decided together
    /// ([`indexes::plan`]); computed by whichever of them runs first.
    pub index_plan: OnceLock<Part<Vec<Finding>>>,
}

/// What `pg_stat_statements` said, or why it could not say anything.
pub(crate) enum StatementsView {
    Ready {
        statements: Vec<Statement>,
        total_ms: f64,
    },
    Unusable(StatementsStatus),
}

/// `first` if it was read; otherwise one more try in a transaction of its own, whose error
/// is the real reason (the first may only say the shared transaction was aborted).
async fn alone<T, F, Fut>(
    session: &Session,
    first: Result<T, PgError>,
    read: F,
) -> Result<T, PgError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<T, PgError>>,
{
    if first.is_ok() {
        return first;
    }
    session.begin().await?;
    let result = read().await;
    if result.is_ok() {
        session.commit().await?;
    } else {
        session.rollback().await?;
    }
    result
}

fn part<T>(result: Result<T, PgError>) -> Part<T> {
    result.map_err(|e| Unavailable::from(&e))
}

impl Snapshot {
    /// Reads every snapshot in one REPEATABLE READ transaction, so they agree with each
    /// other. A query that fails aborts that transaction; then each failed part is read
    /// again in a transaction of its own, so one missing privilege costs only its checks.
    async fn read(session: &Session, options: &CheckOptions) -> Result<Snapshot, PgError> {
        session.begin().await?;
        let settings = catalog::settings(session).await;
        let (window, indexes, tables, foreign_keys, sequences, activity, databases) = tokio::join!(
            catalog::stats_window(session),
            catalog::indexes(session),
            catalog::tables(session),
            catalog::foreign_keys(session),
            catalog::sequences(session),
            catalog::activity(session),
            catalog::databases(session),
        );
        let all_read = settings.is_ok()
            && window.is_ok()
            && indexes.is_ok()
            && tables.is_ok()
            && foreign_keys.is_ok()
            && sequences.is_ok()
            && activity.is_ok()
            && databases.is_ok();
        if all_read {
            session.commit().await?;
        } else {
            session.rollback().await?;
        }
        let settings = alone(session, settings, || catalog::settings(session)).await?;
        let window = alone(session, window, || catalog::stats_window(session)).await;
        let indexes = alone(session, indexes, || catalog::indexes(session)).await;
        let tables = alone(session, tables, || catalog::tables(session)).await;
        let foreign_keys = alone(session, foreign_keys, || catalog::foreign_keys(session)).await;
        let sequences = alone(session, sequences, || catalog::sequences(session)).await;
        let activity = alone(session, activity, || catalog::activity(session)).await;
        let databases = alone(session, databases, || catalog::databases(session)).await;
        // pg_stat_statements is where privileges are most often missing; it gets its own
        // transaction so it cannot spoil the others.
        session.begin().await?;
        let statements = read_statements(session, &settings, options).await;
        if statements.is_ok() {
            session.commit().await?;
        } else {
            session.rollback().await?;
        }
        Ok(Snapshot {
            server: session.server().clone(),
            settings,
            window: part(window),
            indexes: part(indexes),
            tables: part(tables),
            foreign_keys: part(foreign_keys),
            sequences: part(sequences),
            activity: part(activity),
            databases: part(databases),
            statements: part(statements),
            index_plan: OnceLock::new(),
        })
    }

    pub fn indexes(&self) -> Part<&[Index]> {
        self.indexes.as_deref().map_err(Clone::clone)
    }

    pub fn tables(&self) -> Part<&[Table]> {
        self.tables.as_deref().map_err(Clone::clone)
    }

    pub fn foreign_keys(&self) -> Part<&[ForeignKey]> {
        self.foreign_keys.as_deref().map_err(Clone::clone)
    }

    pub fn sequences(&self) -> Part<&[Sequence]> {
        self.sequences.as_deref().map_err(Clone::clone)
    }

    pub fn activity(&self) -> Part<&[Backend]> {
        self.activity.as_deref().map_err(Clone::clone)
    }

    pub fn databases(&self) -> Part<&[DatabaseStats]> {
        self.databases.as_deref().map_err(Clone::clone)
    }

    pub fn window(&self) -> Part<&StatsWindow> {
        self.window.as_ref().map_err(Clone::clone)
    }

    pub fn statements(&self) -> Part<&StatementsView> {
        self.statements.as_ref().map_err(Clone::clone)
    }

    pub fn block_size(&self) -> f64 {
        self.settings
            .get_i64("block_size")
            .map(|b| b as f64)
            .unwrap_or(8192.0)
    }
}

async fn read_statements(
    session: &Session,
    settings: &Settings,
    options: &CheckOptions,
) -> Result<StatementsView, PgError> {
    match catalog::statements_status(session, settings).await? {
        StatementsStatus::Ready { schema, version } => {
            let (statements, total_ms) =
                catalog::top_statements(session, &schema, &version, options.top_queries).await?;
            Ok(StatementsView::Ready {
                statements,
                total_ms,
            })
        }
        other => Ok(StatementsView::Unusable(other)),
    }
}

/// Runs every check against the database `session` is connected to.
pub async fn run_check(session: &Session, options: &CheckOptions) -> Result<Report, PgError> {
    let snapshot = Snapshot::read(session, options).await?;
    let mut target = Target::new("postgresql", session.target());
    target.version = Some(snapshot.server.display_version());
    let mut report = Report::new("check", target);

    for &Check { id, run, .. } in CHECKS {
        if options.skip.iter().any(|s| s == id) {
            continue;
        }
        match run(&snapshot, options) {
            Ok(findings) => {
                report.checks_run.push(id.to_string());
                report.findings.extend(findings);
            }
            Err(Unavailable(reason)) => report.skipped.push(Skipped {
                check: id.to_string(),
                reason,
            }),
        }
    }
    report.notes.extend(notes(&snapshot));
    report.sort();
    Ok(report)
}

/// Context a reader needs to weigh usage-based findings.
fn notes(snapshot: &Snapshot) -> Vec<String> {
    let mut notes = Vec::new();
    if let Ok(window) = snapshot.window() {
        let age = format_duration_secs(window.age_secs());
        notes.push(if window.since_reset_secs.is_some() {
            format!("Usage statistics cover {age} (since they were last reset).")
        } else {
            format!("Usage statistics cover at least {age} (the server's uptime; they were never reset).")
        });
    }
    if !snapshot.server.can_monitor {
        notes.push(format!(
            "User {} is not a member of pg_monitor: other users' sessions and statements are hidden.",
            snapshot.server.user
        ));
    }
    if snapshot.server.in_recovery {
        notes.push(
            "This server is a standby: index usage and vacuum statistics here describe its own reads only."
                .to_string(),
        );
    }
    notes
}

/// `100 * part / whole`, or `None` when `whole` is zero.
pub(crate) fn percent(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| 100.0 * part / whole)
}
