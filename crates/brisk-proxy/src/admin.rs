//! The admin console: the virtual database `brisk`, for users in `admin_users`.
//!
//! It answers PgBouncer's commands with PgBouncer's column names, so pgbouncer_exporter and
//! existing dashboards read brisk as they read PgBouncer: `SHOW POOLS`, `SHOW STATS`,
//! `SHOW CLIENTS`, `SHOW SERVERS`, `SHOW DATABASES`, `SHOW CONFIG`, `SHOW VERSION`,
//! `RELOAD`, `PAUSE` and `RESUME`. brisk's own: `SHOW QUERIES` (per-fingerprint
//! statistics), `SHOW QUERY HISTOGRAMS` (their latency histograms, for differences
//! between two readings), `SHOW N_PLUS_ONE` (repeated-statement patterns) and `SHOW LIMITS` (each
//! rate limit's rule and counts).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;

use crate::config::PoolMode;
use crate::proxy::Shared;
use crate::session::{read_client_message, SessionError, STATE_ACTIVE, STATE_WAITING};
use crate::stream::Stream;
use brisk_wire::protocol;

/// The name clients connect to for the console.
pub const ADMIN_DATABASE: &str = "brisk";

/// A result set: column names and rows of text.
pub(crate) struct Table {
    pub(crate) columns: Vec<&'static str>,
    pub(crate) rows: Vec<Vec<Option<String>>>,
}

/// Serves admin commands until the client leaves.
pub async fn serve(
    shared: &Arc<Shared>,
    stream: &mut Stream,
    buf: &mut BytesMut,
    user: &str,
) -> Result<(), SessionError> {
    loop {
        let (kind, body) = read_client_message(stream, buf).await?;
        let mut out = BytesMut::new();
        match kind {
            b'X' => return Ok(()),
            b'Q' => {
                let query = protocol::decode_query(&body)?
                    .trim()
                    .trim_end_matches(';')
                    .trim();
                tracing::info!(user, command = query, "admin command");
                match run(shared, query).await {
                    Ok(Reply::Table(tag, table)) => {
                        protocol::put_row_description(&mut out, &table.columns);
                        for row in &table.rows {
                            protocol::put_data_row(&mut out, row);
                        }
                        protocol::put_command_complete(
                            &mut out,
                            &format!("{tag} {}", table.rows.len()),
                        );
                    }
                    Ok(Reply::Done(tag)) => protocol::put_command_complete(&mut out, tag),
                    Err(message) => protocol::put_error(&mut out, b'E', "ERROR", "42601", &message),
                }
                protocol::put_ready_for_query(&mut out, b'I');
            }
            _ => {
                protocol::put_error(
                    &mut out,
                    b'E',
                    "ERROR",
                    "0A000",
                    "the admin console takes simple queries only (psql -c, or the query protocol's Query message)",
                );
                protocol::put_ready_for_query(&mut out, b'I');
            }
        }
        stream.write_all(&out).await?;
    }
}

enum Reply {
    Table(&'static str, Table),
    Done(&'static str),
}

async fn run(shared: &Arc<Shared>, command: &str) -> Result<Reply, String> {
    let words: Vec<String> = command
        .split_whitespace()
        .map(|w| w.to_ascii_uppercase())
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["SHOW", "POOLS"] => Ok(Reply::Table("SHOW", pools(shared))),
        ["SHOW", "STATS"] => Ok(Reply::Table("SHOW", stats(shared))),
        ["SHOW", "CLIENTS"] => Ok(Reply::Table("SHOW", clients(shared))),
        ["SHOW", "SERVERS"] => Ok(Reply::Table("SHOW", servers(shared))),
        ["SHOW", "DATABASES"] => Ok(Reply::Table("SHOW", databases(shared))),
        ["SHOW", "CONFIG"] => Ok(Reply::Table("SHOW", config(shared))),
        ["SHOW", "QUERIES"] => queries(shared).await.map(|t| Reply::Table("SHOW", t)),
        ["SHOW", "QUERY", "HISTOGRAMS"] => {
            query_histograms(shared).await.map(|t| Reply::Table("SHOW", t))
        }
        ["SHOW", "N_PLUS_ONE"] => n_plus_one(shared).await.map(|t| Reply::Table("SHOW", t)),
        ["SHOW", "LIMITS"] => Ok(Reply::Table("SHOW", limits(shared))),
        ["SHOW", "VERSION"] => Ok(Reply::Table(
            "SHOW",
            Table {
                columns: vec!["version"],
                rows: vec![vec![Some(format!("brisk {}", env!("CARGO_PKG_VERSION")))]],
            },
        )),
        ["SHOW", "CACHE"] => crate::cache::admin::show(shared).map(|t| Reply::Table("SHOW", t)),
        ["SHOW", "CACHE", "CANDIDATES"] => crate::cache::admin::candidates(shared, SETTLE_LIMIT)
            .await
            .map(|t| Reply::Table("SHOW", t)),
        ["CACHE", fingerprint, rest @ ..] => {
            crate::cache::admin::cache(shared, fingerprint, rest).map(|_| Reply::Done("CACHE"))
        }
        ["UNCACHE", fingerprint] => {
            crate::cache::admin::uncache(shared, fingerprint).map(|_| Reply::Done("UNCACHE"))
        }
        ["RELOAD"] => shared
            .reload()
            .map(|_| Reply::Done("RELOAD"))
            .map_err(|e| e.to_string()),
        ["PAUSE"] => {
            shared.pause().await;
            Ok(Reply::Done("PAUSE"))
        }
        ["RESUME"] => {
            shared.resume();
            Ok(Reply::Done("RESUME"))
        }
        _ => Err(format!(
            "unknown admin command \"{command}\": try SHOW POOLS, SHOW STATS, SHOW CLIENTS, SHOW SERVERS, SHOW DATABASES, SHOW CONFIG, SHOW QUERIES, SHOW QUERY HISTOGRAMS, SHOW N_PLUS_ONE, SHOW LIMITS, SHOW CACHE, SHOW CACHE CANDIDATES, CACHE, UNCACHE, RELOAD, PAUSE or RESUME"
        )),
    }
}

fn text(value: impl ToString) -> Option<String> {
    Some(value.to_string())
}

fn pools(shared: &Arc<Shared>) -> Table {
    let mode = match shared.config().pool_mode {
        PoolMode::Session => "session",
        PoolMode::Transaction => "transaction",
    };
    let rows = shared
        .pools()
        .iter()
        .map(|pool| {
            let s = &pool.stats;
            let waiting = s.waiting.load(Ordering::Relaxed);
            let clients = s.clients.load(Ordering::Relaxed);
            let active_servers = s.active_clients.load(Ordering::Relaxed);
            let max_wait = pool.max_wait();
            vec![
                text(&pool.database),
                text(&pool.user),
                text(clients.saturating_sub(waiting)),
                text(waiting),
                text(0),
                text(0),
                text(active_servers),
                text(0),
                text(0),
                text(pool.idle_count()),
                text(0),
                text(0),
                text(0),
                text(max_wait.as_secs()),
                text(max_wait.subsec_micros()),
                text(mode),
                text(s.pinned.load(Ordering::Relaxed)),
            ]
        })
        .collect();
    Table {
        columns: vec![
            "database",
            "user",
            "cl_active",
            "cl_waiting",
            "cl_active_cancel_req",
            "cl_waiting_cancel_req",
            "sv_active",
            "sv_active_cancel",
            "sv_being_canceled",
            "sv_idle",
            "sv_used",
            "sv_tested",
            "sv_login",
            "maxwait",
            "maxwait_us",
            "pool_mode",
            // brisk's own: clients pinned to their server for using session features.
            "cl_pinned",
        ],
        rows,
    }
}

/// Per database, summed over its pools, as PgBouncer does. Averages are per second over
/// brisk's uptime (PgBouncer averages over its last `stats_period`).
fn stats(shared: &Arc<Shared>) -> Table {
    let mut by_db: BTreeMap<String, [u64; 7]> = BTreeMap::new();
    for pool in shared.pools() {
        let s = &pool.stats;
        let entry = by_db.entry(pool.database.clone()).or_default();
        let values = [
            s.xact_count.load(Ordering::Relaxed),
            s.query_count.load(Ordering::Relaxed),
            s.bytes_received.load(Ordering::Relaxed),
            s.bytes_sent.load(Ordering::Relaxed),
            s.xact_time_us.load(Ordering::Relaxed),
            s.query_time_us.load(Ordering::Relaxed),
            s.wait_time_us.load(Ordering::Relaxed),
        ];
        for (total, value) in entry.iter_mut().zip(values) {
            *total += value;
        }
    }
    let uptime = shared.uptime().as_secs_f64().max(1.0);
    let rows = by_db
        .into_iter()
        .map(
            |(db, [xacts, queries, received, sent, xact_us, query_us, wait_us])| {
                let per = |n: u64, d: u64| n.checked_div(d).unwrap_or(0);
                vec![
                    text(db),
                    text(xacts),
                    text(queries),
                    text(received),
                    text(sent),
                    text(xact_us),
                    text(query_us),
                    text(wait_us),
                    text((xacts as f64 / uptime) as u64),
                    text((queries as f64 / uptime) as u64),
                    text((received as f64 / uptime) as u64),
                    text((sent as f64 / uptime) as u64),
                    text(per(xact_us, xacts)),
                    text(per(query_us, queries)),
                    text(per(wait_us, queries)),
                ]
            },
        )
        .collect();
    Table {
        columns: vec![
            "database",
            "total_xact_count",
            "total_query_count",
            "total_received",
            "total_sent",
            "total_xact_time",
            "total_query_time",
            "total_wait_time",
            "avg_xact_count",
            "avg_query_count",
            "avg_recv",
            "avg_sent",
            "avg_xact_time",
            "avg_query_time",
            "avg_wait_time",
        ],
        rows,
    }
}

fn clients(shared: &Arc<Shared>) -> Table {
    let rows = shared
        .clients()
        .iter()
        .map(|c| {
            let state = match c.state.load(Ordering::Relaxed) {
                STATE_ACTIVE => "active",
                STATE_WAITING => "waiting",
                _ => "idle",
            };
            let connected = c
                .connected
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let remote_pid = c
                .attached
                .lock()
                .ok()
                .and_then(|a| a.as_ref().map(|(_, key)| key.0));
            vec![
                text("C"),
                text(&c.user),
                text(&c.database),
                text(state),
                c.addr.map(|a| a.ip().to_string()),
                c.addr.map(|a| a.port().to_string()),
                text(connected),
                text(c.id),
                remote_pid.map(|p| p.to_string()),
                text(if c.tls { "TLS" } else { "" }),
                text(&c.application_name),
            ]
        })
        .collect();
    Table {
        columns: vec![
            "type",
            "user",
            "database",
            "state",
            "addr",
            "port",
            "connect_time",
            "ptr",
            "remote_pid",
            "tls",
            "application_name",
        ],
        rows,
    }
}

/// SHOW SERVERS' `addr` and `port` of a server: host and port, or the socket path and none.
fn address_columns(address: &crate::server::CancelAddress) -> (String, String) {
    match address {
        crate::server::CancelAddress::Tcp(host, port) => (host.clone(), port.to_string()),
        crate::server::CancelAddress::Unix(path) => (path.display().to_string(), String::new()),
    }
}

fn servers(shared: &Arc<Shared>) -> Table {
    let mut rows = Vec::new();
    for client in shared.clients() {
        if let Some((address, key)) = client.attached.lock().ok().and_then(|a| a.clone()) {
            let (addr, port) = address_columns(&address);
            rows.push(vec![
                text("S"),
                text(&client.user),
                text(&client.database),
                text("active"),
                text(addr),
                text(port),
                text(key.0),
                text(client.id),
            ]);
        }
    }
    for pool in shared.pools() {
        for (pid, address) in pool.idle_servers() {
            let (addr, port) = address_columns(&address);
            rows.push(vec![
                text("S"),
                text(&pool.user),
                text(&pool.database),
                text("idle"),
                text(addr),
                text(port),
                text(pid),
                None,
            ]);
        }
    }
    Table {
        columns: vec![
            "type",
            "user",
            "database",
            "state",
            "addr",
            "port",
            "remote_pid",
            "link",
        ],
        rows,
    }
}

/// One row per `[[rate_limits]]` rule: what it matches, its numbers, and what it did.
fn limits(shared: &Arc<Shared>) -> Table {
    let limits = shared.limits();
    let rows = limits
        .rules()
        .iter()
        .map(|state| {
            let rule = &state.rule;
            let count = |c: &std::sync::atomic::AtomicU64| text(c.load(Ordering::Relaxed));
            vec![
                text(&rule.name),
                text(rule.matches()),
                text(rule.per.name()),
                rule.rate.map(|r| r.to_string()),
                rule.rate.map(|_| rule.burst.to_string()),
                text(rule.max_wait.as_secs_f64()),
                text(rule.max_connections),
                text(rule.shared),
                text(state.buckets_in_use()),
                text(state.connections()),
                count(&state.counts.allowed),
                count(&state.counts.delayed),
                count(&state.counts.refused),
                count(&state.counts.connections_refused),
                count(&state.counts.fallbacks),
            ]
        })
        .collect();
    Table {
        columns: vec![
            "name",
            "matches",
            "per",
            "rate",
            "burst",
            "max_wait",
            "max_connections",
            "shared",
            "buckets",
            "connections",
            "allowed",
            "delayed",
            "refused",
            "connections_refused",
            "fallbacks",
        ],
        rows,
    }
}

fn databases(shared: &Arc<Shared>) -> Table {
    let config = shared.config();
    let rows = config
        .databases
        .values()
        .map(|db| {
            vec![
                text(&db.name),
                text(&db.display),
                text(&db.upstream.dbname),
                if db.forced_user {
                    text(&db.upstream.user)
                } else {
                    None
                },
                text(config.default_pool_size),
                text(config.min_pool_size),
                text(config.reserve_pool_size),
            ]
        })
        .collect();
    Table {
        columns: vec![
            "name",
            "upstream",
            "database",
            "force_user",
            "pool_size",
            "min_pool_size",
            "reserve_pool",
        ],
        rows,
    }
}

fn config(shared: &Arc<Shared>) -> Table {
    let rows = shared
        .config()
        .show()
        .into_iter()
        .map(|(key, value)| {
            let changeable = if crate::Config::START_ONLY.contains(&key.as_str()) {
                "no"
            } else {
                "yes"
            };
            vec![text(key), text(value), text(changeable)]
        })
        .collect();
    Table {
        columns: vec!["key", "value", "changeable"],
        rows,
    }
}

/// How long a console command waits for the statistics thread to count what came before it.
pub(crate) const SETTLE_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

fn observer(shared: &Shared) -> Result<&crate::observe::Observer, String> {
    shared
        .observer
        .as_ref()
        .ok_or_else(|| "query statistics are off (query_stats = false)".to_string())
}

fn ms(duration: std::time::Duration) -> Option<String> {
    Some(format!("{:.3}", duration.as_secs_f64() * 1000.0))
}

/// Per-fingerprint statistics, by total time, then the fingerprints folded into "other".
async fn queries(shared: &Arc<Shared>) -> Result<Table, String> {
    let observer = observer(shared)?;
    observer.settle(SETTLE_LIMIT).await;
    let snapshot = observer.queries();
    let row = |q: &crate::observe::QuerySummary, query: String| {
        vec![
            text(&q.database),
            q.fingerprint.map(|f| format!("{f:016x}")),
            text(q.calls),
            text(q.errors),
            text(q.rows),
            ms(q.total),
            ms(q.mean()),
            ms(q.p50),
            ms(q.p95),
            ms(q.p99),
            ms(q.max),
            ms(q.wait),
            Some(query),
            q.plan.as_ref().map(|p| p.to_string()),
        ]
    };
    let mut rows: Vec<_> = snapshot
        .queries
        .iter()
        .map(|q| row(q, q.query.to_string()))
        .collect();
    if snapshot.other.calls > 0 || snapshot.dropped > 0 {
        rows.push(row(
            &snapshot.other,
            format!(
                "other: {} fingerprints folded (query_stats_limit); {} statements not counted (statistics thread behind)",
                snapshot.folded, snapshot.dropped
            ),
        ));
    }
    Ok(Table {
        columns: vec![
            "database",
            "fingerprint",
            "calls",
            "errors",
            "rows",
            "total_ms",
            "mean_ms",
            "p50_ms",
            "p95_ms",
            "p99_ms",
            "max_ms",
            "wait_ms",
            "query",
            "plan",
        ],
        rows,
    })
}

/// Each fingerprint's latency histogram since the proxy started (HdrHistogram V2, base64,
/// microseconds, 2 significant digits): two readings subtract to the histogram of what ran
/// between them, which `SHOW QUERIES`' percentiles cannot give.
async fn query_histograms(shared: &Arc<Shared>) -> Result<Table, String> {
    let observer = observer(shared)?;
    observer.settle(SETTLE_LIMIT).await;
    let rows = observer
        .query_histograms()
        .into_iter()
        .map(|h| {
            vec![
                text(&h.database),
                Some(format!("{:016x}", h.fingerprint)),
                text(h.calls),
                Some(h.encoded),
            ]
        })
        .collect();
    Ok(Table {
        columns: vec!["database", "fingerprint", "calls", "histogram"],
        rows,
    })
}

/// N+1 and bulk-write patterns, most executions first.
async fn n_plus_one(shared: &Arc<Shared>) -> Result<Table, String> {
    let observer = observer(shared)?;
    observer.settle(SETTLE_LIMIT).await;
    let rows = observer
        .detections()
        .iter()
        .map(|d| {
            vec![
                text(d.kind.name()),
                text(&d.database),
                text(d.occurrences),
                text(d.executions),
                text(d.last_run),
                text(d.max_run),
                ms(d.last_run_time),
                ms(d.total),
                text(&d.application_name),
                d.traceparent.clone(),
                d.source.as_ref().map(|s| s.to_string()),
                text(&d.repeated),
                text(&d.suggestion),
                d.orm_hint.clone(),
            ]
        })
        .collect();
    Ok(Table {
        columns: vec![
            "kind",
            "database",
            "occurrences",
            "executions",
            "last_run",
            "max_run",
            "last_run_ms",
            "total_ms",
            "application_name",
            "traceparent",
            "source",
            "repeated",
            "suggestion",
            "orm_hint",
        ],
        rows,
    })
}
