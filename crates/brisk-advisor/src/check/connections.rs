//! Connection checks: use against `max_connections`, idle transactions, long queries and
//! lock waits, from `pg_stat_activity`.

use brisk_pg::catalog::Backend;
use brisk_report::{format_count, format_duration_secs, Evidence, Finding, Fix, Severity, Unit};

use super::{percent, CheckOptions, Part, Snapshot};

/// A client session. Without pg_monitor, other users' rows hide `backend_type`, but a
/// background process never has a user, so a row with a user is a client.
fn is_client(backend: &Backend) -> bool {
    match backend.backend_type.as_deref() {
        Some(kind) => kind == "client backend",
        None => backend.user.is_some(),
    }
}

/// The session as a subject: `pid 4242 (app, alice)`.
fn subject(backend: &Backend) -> String {
    let mut parts = Vec::new();
    if let Some(app) = backend
        .application_name
        .as_deref()
        .filter(|a| !a.is_empty())
    {
        parts.push(app.to_string());
    }
    if let Some(user) = &backend.user {
        parts.push(user.clone());
    }
    if let Some(addr) = &backend.client_addr {
        parts.push(addr.clone());
    }
    if parts.is_empty() {
        format!("pid {}", backend.pid)
    } else {
        format!("pid {} ({})", backend.pid, parts.join(", "))
    }
}

/// The session's query text with values replaced by `$n`, when brisk may see it.
fn visible_query(backend: &Backend) -> Option<String> {
    let query = backend.query.as_deref()?;
    if query.is_empty() || query == "<insufficient privilege>" {
        return None;
    }
    Some(brisk_sql::normalize(query))
}

pub(super) fn usage(snapshot: &Snapshot, options: &CheckOptions) -> Part<Vec<Finding>> {
    let activity = snapshot.activity()?;
    let settings = &snapshot.settings;
    let max = settings.get_i64("max_connections").unwrap_or(100);
    // Superuser slots (and, from PostgreSQL 16, reserved_connections) are not available to
    // applications.
    let reserved = settings
        .get_i64("superuser_reserved_connections")
        .unwrap_or(3)
        + settings.get_i64("reserved_connections").unwrap_or(0);
    let usable = (max - reserved).max(1);
    let clients: Vec<&Backend> = activity.iter().filter(|b| is_client(b)).collect();
    let used = clients.len() as i64;
    let pct = percent(used as f64, usable as f64).unwrap_or(0.0);
    if pct < options.connections_warning_pct {
        return Ok(Vec::new());
    }
    let count = |state: &str| {
        clients
            .iter()
            .filter(|b| b.state.as_deref() == Some(state))
            .count()
    };
    let severity = if pct >= options.connections_critical_pct {
        Severity::Critical
    } else {
        Severity::Warning
    };
    Ok(vec![Finding::new(
        "connections.usage",
        severity,
        "server",
        format!(
            "{} of {} usable connections are in use ({pct:.0}%)",
            format_count(used as f64),
            format_count(usable as f64)
        ),
    )
    .detail("When the slots run out, new connections fail with \"too many clients already\". Most sessions of a web app sit idle between requests: a transaction-mode pooler (brisk proxy, PgBouncer) serves them with far fewer server connections.")
    .evidence(Evidence::new("connections", used as f64, Unit::Count))
    .evidence(Evidence::new("usable connections", usable as f64, Unit::Count))
    .evidence(Evidence::new("used", pct, Unit::Percent))
    .evidence(Evidence::new("active", count("active") as f64, Unit::Count))
    .evidence(Evidence::new("idle", count("idle") as f64, Unit::Count))
    .evidence(Evidence::new(
        "idle in transaction",
        (count("idle in transaction") + count("idle in transaction (aborted)")) as f64,
        Unit::Count,
    ))
    .fix(Fix::config("Put a transaction-mode connection pooler in front of PostgreSQL (brisk proxy), and size each app's pool by its measured concurrency rather than raising max_connections."))])
}

pub(super) fn idle_in_transaction(
    snapshot: &Snapshot,
    options: &CheckOptions,
) -> Part<Vec<Finding>> {
    let activity = snapshot.activity()?;
    let mut idle: Vec<&Backend> = activity
        .iter()
        .filter(|b| !b.is_brisk)
        .filter(|b| {
            b.state
                .as_deref()
                .is_some_and(|s| s.starts_with("idle in transaction"))
                && b.state_secs.unwrap_or(0.0) >= options.idle_in_transaction_secs
        })
        .collect();
    idle.sort_by(|a, b| {
        b.state_secs
            .unwrap_or(0.0)
            .total_cmp(&a.state_secs.unwrap_or(0.0))
    });
    Ok(idle
        .into_iter()
        .map(|backend| {
            let idle_secs = backend.state_secs.unwrap_or(0.0);
            // Ten times the threshold (ten minutes by default) holds back vacuum long
            // enough to matter on a busy database.
            let severity = if idle_secs >= 10.0 * options.idle_in_transaction_secs {
                Severity::Critical
            } else {
                Severity::Warning
            };
            let mut finding = Finding::new(
                "connections.idle_in_transaction",
                severity,
                subject(backend),
                format!(
                    "Session {} has been idle in a transaction for {}",
                    backend.pid,
                    format_duration_secs(idle_secs)
                ),
            )
            .detail("An open transaction holds its locks and stops vacuum from removing rows deleted after it began. It is usually an app that forgot to commit, or that does slow work (an HTTP call) inside a transaction.")
            .evidence(Evidence::new("idle for", idle_secs, Unit::Seconds));
            if let Some(age) = backend.transaction_secs {
                finding = finding.evidence(Evidence::new("transaction age", age, Unit::Seconds));
            }
            if let Some(query) = visible_query(backend) {
                finding = finding.query(query);
            }
            finding.fix(
                Fix::sql(format!("SELECT pg_terminate_backend({});", backend.pid)).note(
                    "Terminating rolls back the session's transaction. To stop this for good, set idle_in_transaction_session_timeout (for example ALTER ROLE app SET idle_in_transaction_session_timeout = '60s').",
                ),
            )
        })
        .collect())
}

pub(super) fn long_running(snapshot: &Snapshot, options: &CheckOptions) -> Part<Vec<Finding>> {
    let activity = snapshot.activity()?;
    let mut long: Vec<&Backend> = activity
        .iter()
        .filter(|b| is_client(b) && !b.is_brisk)
        .filter(|b| {
            b.state.as_deref() == Some("active")
                && b.query_secs.unwrap_or(0.0) >= options.long_query_secs
        })
        .collect();
    long.sort_by(|a, b| {
        b.query_secs
            .unwrap_or(0.0)
            .total_cmp(&a.query_secs.unwrap_or(0.0))
    });
    Ok(long
        .into_iter()
        .map(|backend| {
            let secs = backend.query_secs.unwrap_or(0.0);
            let mut finding = Finding::new(
                "connections.long_running",
                Severity::Warning,
                subject(backend),
                format!(
                    "Query in session {} has been running for {}",
                    backend.pid,
                    format_duration_secs(secs)
                ),
            )
            .detail("A long query holds a snapshot that stops vacuum from cleaning up, and may hold locks others wait for.")
            .evidence(Evidence::new("running for", secs, Unit::Seconds));
            if let Some(query) = visible_query(backend) {
                finding = finding.query(query);
            }
            finding.fix(
                Fix::sql(format!("SELECT pg_cancel_backend({});", backend.pid)).note(
                    "Cancelling stops the query and keeps the session. A statement_timeout on the app's role bounds such queries for good.",
                ),
            )
        })
        .collect())
}

pub(super) fn blocked(snapshot: &Snapshot, options: &CheckOptions) -> Part<Vec<Finding>> {
    let activity = snapshot.activity()?;
    // pg_locks.waitstart (PostgreSQL 14+) says when the wait began; before that, only when
    // the statement began, which is at least as long ago.
    let waited = |b: &Backend| b.lock_wait_secs.or(b.query_secs).unwrap_or(0.0);
    let mut waiting: Vec<&Backend> = activity
        .iter()
        .filter(|b| !b.blocked_by.is_empty() && !b.is_brisk)
        .filter(|b| waited(b) >= options.lock_wait_secs)
        .collect();
    waiting.sort_by(|a, b| waited(b).total_cmp(&waited(a)));
    Ok(waiting
        .into_iter()
        .map(|backend| blocked_finding(backend, activity, waited(backend)))
        .collect())
}

/// Who holds the lock, in words: a session with its state and last query, or (pid 0) a
/// prepared transaction, which no session owns.
fn describe_blocker(pid: i32, activity: &[Backend]) -> String {
    if pid == 0 {
        return "a prepared transaction (see pg_prepared_xacts)".to_string();
    }
    match activity.iter().find(|b| b.pid == pid) {
        Some(blocker) => {
            let state = blocker.state.as_deref().unwrap_or("unknown state");
            match visible_query(blocker) {
                Some(query) => format!("{} ({state}, last query: {query})", subject(blocker)),
                None => format!("{} ({state})", subject(blocker)),
            }
        }
        None => format!("pid {pid}"),
    }
}

fn blocked_finding(backend: &Backend, activity: &[Backend], waited: f64) -> Finding {
    let blockers: Vec<String> = backend
        .blocked_by
        .iter()
        .map(|pid| describe_blocker(*pid, activity))
        .collect();
    let holders: Vec<String> = backend
        .blocked_by
        .iter()
        .map(|pid| match pid {
            0 => "a prepared transaction".to_string(),
            pid => format!("pid {pid}"),
        })
        .collect();
    let fix = match backend.blocked_by.iter().find(|pid| **pid != 0) {
        Some(pid) => Fix::sql(format!("SELECT pg_cancel_backend({pid});")).note(
            "Cancel (or, if it is idle in a transaction, terminate with pg_terminate_backend) the blocker only once you know what it is doing. A lock_timeout on the app's role makes waiters give up instead of piling up.",
        ),
        None => Fix::manual(
            "Find the prepared transaction in pg_prepared_xacts (its gid, owner and age) and end it with COMMIT PREPARED or ROLLBACK PREPARED, once you know which it should be.",
        ),
    };
    let mut finding = Finding::new(
        "connections.blocked",
        Severity::Warning,
        subject(backend),
        if backend.lock_wait_secs.is_some() {
            format!(
                "Session {} has waited {} for a lock held by {}",
                backend.pid,
                format_duration_secs(waited),
                holders.join(", ")
            )
        } else {
            format!(
                "Session {} waits for a lock held by {} (its statement has run {})",
                backend.pid,
                holders.join(", "),
                format_duration_secs(waited)
            )
        },
    )
    .detail(format!("Blocked by: {}.", blockers.join("; ")))
    .evidence(Evidence::new("waiting for", waited, Unit::Seconds))
    .evidence(Evidence::new(
        "blockers",
        backend.blocked_by.len() as f64,
        Unit::Count,
    ));
    if let Some(query) = visible_query(backend) {
        finding = finding.query(query);
    }
    finding.fix(fix)
}
