//! `/metrics`: the proxy's state in Prometheus' text exposition format (version 0.0.4).
//!
//! Every family has `# HELP` and `# TYPE`, names start with `brisk_` and carry their unit
//! (`_seconds`, `_bytes`), and counters end in `_total`, as Prometheus' naming guide asks.
//! Pool families are labeled `database` and `user` (one series per pool, as PgBouncer's
//! pools); upstream families `database`. Label values are escaped, so a database name
//! cannot break the format.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use crate::health::PoolReport;
use crate::observe::{Detection, QuerySummary, BUCKET_BOUNDS_MS};
use crate::pool::{Pool, PoolStats};
use crate::proxy::Shared;

/// Writes every metric family brisk exports.
pub fn write_metrics(out: &mut String, shared: &Shared) {
    write_process_metrics(out, shared);
    write_upstream_metrics(out, shared);
    write_pool_metrics(out, shared);
    write_query_metrics(out, shared);
    write_limit_metrics(out, shared);
    crate::cache::metrics::write(out, shared);
}

/// Rate limits: each rule's transactions by outcome, its refused connections, the shared
/// decisions taken locally while Redis was unreachable, and its connected clients.
fn write_limit_metrics(out: &mut String, shared: &Shared) {
    let limits = shared.limits();
    if limits.is_empty() {
        return;
    }
    let name = "brisk_rate_limit_transactions_total";
    family(
        out,
        name,
        "counter",
        "Transactions charged to a [[rate_limits]] rule, by outcome: allowed at once, delayed (max_wait), or refused (SQLSTATE 53400).",
    );
    for state in limits.rules() {
        let c = &state.counts;
        for (outcome, value) in [
            ("allowed", &c.allowed),
            ("delayed", &c.delayed),
            ("refused", &c.refused),
        ] {
            let labels = [("rule", state.rule.name.as_str()), ("outcome", outcome)];
            sample(out, name, &labels, value.load(Ordering::Relaxed) as f64);
        }
    }
    let families: [Counter<crate::limits::RuleState>; 3] = [
        (
            "brisk_rate_limit_connections_refused_total",
            "Logins refused by a rule's max_connections (FATAL 53300).",
            |s| s.counts.connections_refused.load(Ordering::Relaxed) as f64,
        ),
        (
            "brisk_rate_limit_fallbacks_total",
            "Decisions of a shared rule taken by this instance alone because Redis did not answer in time.",
            |s| s.counts.fallbacks.load(Ordering::Relaxed) as f64,
        ),
        (
            "brisk_rate_limit_connections",
            "Clients connected under a rule's max_connections.",
            |s| s.connections() as f64,
        ),
    ];
    for (name, help, value) in families {
        let kind = if name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        family(out, name, kind, help);
        for state in limits.rules() {
            sample(
                out,
                name,
                &[("rule", state.rule.name.as_str())],
                value(state),
            );
        }
    }
}

/// A counter family over `T`: its name, its help, and how to read its value.
type Counter<T> = (&'static str, &'static str, fn(&T) -> f64);

/// Label values of normalized query text are cut to this many characters: enough to
/// recognize a statement on a dashboard, short enough to keep series small.
const QUERY_LABEL_CHARS: usize = 100;

/// Per-fingerprint families: a latency histogram and counters for the
/// `metrics_query_limit` fingerprints with the most total time (the rest sum into one
/// `fingerprint="other"` series, so cardinality is bounded whatever the workload), then
/// the N+1 and bulk-write patterns, and the statements the statistics thread missed.
/// Nothing when `query_stats` is off.
fn write_query_metrics(out: &mut String, shared: &Shared) {
    let Some(observer) = shared.observer.as_ref() else {
        return;
    };
    let limit = shared.config().metrics_query_limit;
    let snapshot = observer.queries();
    let mut series: Vec<(String, String, &QuerySummary)> = Vec::new();
    let mut other = snapshot.other.clone();
    for (i, q) in snapshot.queries.iter().enumerate() {
        match q.fingerprint {
            Some(fingerprint) if i < limit => {
                series.push((format!("{fingerprint:016x}"), label_text(&q.query), q));
            }
            _ => fold_into(&mut other, q),
        }
    }
    if other.calls > 0 {
        series.push(("other".into(), "other".into(), &other));
    }
    let name = "brisk_query_duration_seconds";
    family(
        out,
        name,
        "histogram",
        "Statement time through the proxy, from the client's message to the server's answer, per fingerprint (normalized query); the statements past metrics_query_limit sum into fingerprint=\"other\".",
    );
    for (fingerprint, query, q) in &series {
        let base = [
            ("database", q.database.as_ref()),
            ("fingerprint", fingerprint.as_str()),
            ("query", query.as_str()),
        ];
        let bucket = |out: &mut String, le: &str, count: u64| {
            let mut labels = base.to_vec();
            labels.push(("le", le));
            sample(out, &format!("{name}_bucket"), &labels, count as f64);
        };
        for (bound, count) in BUCKET_BOUNDS_MS.iter().zip(&q.buckets) {
            bucket(out, &format_value(bound / 1000.0), *count);
        }
        bucket(out, "+Inf", q.calls);
        sample(out, &format!("{name}_sum"), &base, q.total.as_secs_f64());
        sample(out, &format!("{name}_count"), &base, q.calls as f64);
    }
    let counters: [Counter<QuerySummary>; 3] = [
        (
            "brisk_query_errors_total",
            "Statements of the fingerprint that ended in an error.",
            |q| q.errors as f64,
        ),
        (
            "brisk_query_rows_total",
            "Rows the fingerprint's statements returned or changed.",
            |q| q.rows as f64,
        ),
        (
            "brisk_query_wait_seconds_total",
            "Time the fingerprint's statements waited for a server from the pool.",
            |q| q.wait.as_secs_f64(),
        ),
    ];
    for (name, help, value) in counters {
        family(out, name, "counter", help);
        for (fingerprint, query, q) in &series {
            let labels = [
                ("database", q.database.as_ref()),
                ("fingerprint", fingerprint.as_str()),
                ("query", query.as_str()),
            ];
            sample(out, name, &labels, value(q));
        }
    }
    family(
        out,
        "brisk_query_fingerprints_folded",
        "gauge",
        "Fingerprints past query_stats_limit whose statistics sum into \"other\" (SHOW QUERIES).",
    );
    sample(
        out,
        "brisk_query_fingerprints_folded",
        &[],
        snapshot.folded as f64,
    );
    family(
        out,
        "brisk_query_stats_dropped_total",
        "counter",
        "Statements not counted because the statistics thread was behind (the hot path never waits for it).",
    );
    sample(
        out,
        "brisk_query_stats_dropped_total",
        &[],
        snapshot.dropped as f64,
    );
    family(
        out,
        "brisk_sequence_reads_unpinned_total",
        "counter",
        "Statements that read lastval() or currval() first on a server lent for their transaction alone (transaction pooling): the value may be another client's. Each fingerprint is logged once.",
    );
    sample(
        out,
        "brisk_sequence_reads_unpinned_total",
        &[],
        observer.sequence_reads() as f64,
    );
    write_pattern_metrics(out, &observer.detections());
}

/// N+1 and bulk-write patterns: how many times each was seen (runs past the thresholds),
/// and the executions and time of those runs. There are at most as many as the detector
/// keeps.
fn write_pattern_metrics(out: &mut String, detections: &[Detection]) {
    let families: [Counter<Detection>; 3] = [
        (
            "brisk_n_plus_one_total",
            "Runs of one statement repeated after a source statement (kind=\"n+1\") or of row-by-row INSERTs (kind=\"bulk-write\") past n_plus_one_min_repeats and n_plus_one_min_ms (SHOW N_PLUS_ONE).",
            |d| d.occurrences as f64,
        ),
        (
            "brisk_n_plus_one_executions_total",
            "Executions of the repeated statement in those runs.",
            |d| d.executions as f64,
        ),
        (
            "brisk_n_plus_one_seconds_total",
            "Time the repeated statement took in those runs.",
            |d| d.total.as_secs_f64(),
        ),
    ];
    for (name, help, value) in families {
        family(out, name, "counter", help);
        for d in detections {
            let source = d.source.as_deref().map(label_text).unwrap_or_default();
            let repeated = label_text(&d.repeated);
            let labels = [
                ("database", d.database.as_ref()),
                ("kind", d.kind.name()),
                ("source", source.as_str()),
                ("repeated", repeated.as_str()),
            ];
            sample(out, name, &labels, value(d));
        }
    }
}

/// Adds `q`'s counts to `into` (the "other" series): counters and cumulative buckets sum.
fn fold_into(into: &mut QuerySummary, q: &QuerySummary) {
    into.calls += q.calls;
    into.errors += q.errors;
    into.rows += q.rows;
    into.total += q.total;
    into.wait += q.wait;
    into.buckets.resize(BUCKET_BOUNDS_MS.len(), 0);
    for (sum, count) in into.buckets.iter_mut().zip(&q.buckets) {
        *sum += count;
    }
}

/// Normalized text as a label value: whitespace runs as one space, at most
/// [`QUERY_LABEL_CHARS`] characters.
fn label_text(query: &str) -> String {
    let mut text = String::with_capacity(QUERY_LABEL_CHARS + 3);
    for (i, word) in query.split_whitespace().enumerate() {
        if i > 0 {
            text.push(' ');
        }
        text.push_str(word);
    }
    match text.char_indices().nth(QUERY_LABEL_CHARS) {
        Some((cut, _)) => {
            text.truncate(cut);
            text.push('…');
            text
        }
        None => text,
    }
}

fn write_process_metrics(out: &mut String, shared: &Shared) {
    family(
        out,
        "brisk_build_info",
        "gauge",
        "brisk's version, as a label.",
    );
    sample(
        out,
        "brisk_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    family(
        out,
        "brisk_uptime_seconds",
        "gauge",
        "Seconds since the proxy started.",
    );
    sample(
        out,
        "brisk_uptime_seconds",
        &[],
        shared.uptime().as_secs_f64(),
    );
    family(
        out,
        "brisk_clients_connected",
        "gauge",
        "Client connections open, admin console included.",
    );
    sample(
        out,
        "brisk_clients_connected",
        &[],
        shared.client_count() as f64,
    );
}

fn write_upstream_metrics(out: &mut String, shared: &Shared) {
    let upstreams = shared.health().upstreams();
    family(
        out,
        "brisk_upstream_up",
        "gauge",
        "1 when the last probe of the database's upstream got an answer from a server accepting connections, else 0.",
    );
    for (database, status) in &upstreams {
        let up = if status.error.is_none() { 1.0 } else { 0.0 };
        sample(out, "brisk_upstream_up", &[("database", database)], up);
    }
    family(
        out,
        "brisk_upstream_check_age_seconds",
        "gauge",
        "Seconds since the database's upstream was last probed.",
    );
    for (database, status) in &upstreams {
        sample(
            out,
            "brisk_upstream_check_age_seconds",
            &[("database", database)],
            status.checked.elapsed().as_secs_f64(),
        );
    }
}

/// A pool family: its name, type, help and how to read the value from a pool.
struct PoolFamily {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    value: fn(&Pool, &PoolReport) -> f64,
}

fn counter(read: fn(&PoolStats) -> &std::sync::atomic::AtomicU64, pool: &Pool) -> f64 {
    read(&pool.stats).load(Ordering::Relaxed) as f64
}

fn micros(read: fn(&PoolStats) -> &std::sync::atomic::AtomicU64, pool: &Pool) -> f64 {
    counter(read, pool) / 1e6
}

const POOL_FAMILIES: &[PoolFamily] = &[
    PoolFamily {
        name: "brisk_pool_size",
        kind: "gauge",
        help: "Servers the pool lends at once (default_pool_size).",
        value: |_, r| r.pool_size as f64,
    },
    PoolFamily {
        name: "brisk_pool_clients_active",
        kind: "gauge",
        help: "Clients connected to the pool and not waiting (SHOW POOLS cl_active).",
        value: |_, r| r.now.clients_active as f64,
    },
    PoolFamily {
        name: "brisk_pool_clients_waiting",
        kind: "gauge",
        help: "Clients waiting for a server (SHOW POOLS cl_waiting).",
        value: |_, r| r.now.clients_waiting as f64,
    },
    PoolFamily {
        name: "brisk_pool_servers_active",
        kind: "gauge",
        help: "Servers lent to clients (SHOW POOLS sv_active).",
        value: |_, r| r.now.servers_active as f64,
    },
    PoolFamily {
        name: "brisk_pool_servers_idle",
        kind: "gauge",
        help: "Servers open and free (SHOW POOLS sv_idle).",
        value: |_, r| r.now.servers_idle as f64,
    },
    PoolFamily {
        name: "brisk_pool_max_wait_seconds",
        kind: "gauge",
        help: "How long the longest current wait for a server has lasted (SHOW POOLS maxwait).",
        value: |_, r| r.now.max_wait_seconds,
    },
    PoolFamily {
        name: "brisk_pool_health_score",
        kind: "gauge",
        help: "Pool health from 0 to 100 over the last pool_health_window: utilization score less waiting and max-wait penalties (docs/proxy.md).",
        value: |_, r| r.health.score as f64,
    },
    PoolFamily {
        name: "brisk_pool_utilization",
        kind: "gauge",
        help: "Mean share of the pool in use (servers lent / pool size) over the last pool_health_window, sampled every second.",
        value: |_, r| r.window.utilization_mean,
    },
    PoolFamily {
        name: "brisk_pool_saturated_ratio",
        kind: "gauge",
        help: "Share of the last pool_health_window's one-second samples in which clients waited for a server.",
        value: |_, r| r.window.saturated_share,
    },
    PoolFamily {
        name: "brisk_pool_transactions_total",
        kind: "counter",
        help: "Transactions completed (SHOW STATS total_xact_count).",
        value: |p, _| counter(|s| &s.xact_count, p),
    },
    PoolFamily {
        name: "brisk_pool_queries_total",
        kind: "counter",
        help: "Queries completed (SHOW STATS total_query_count).",
        value: |p, _| counter(|s| &s.query_count, p),
    },
    PoolFamily {
        name: "brisk_pool_received_bytes_total",
        kind: "counter",
        help: "Bytes received from clients and sent to servers (SHOW STATS total_received).",
        value: |p, _| counter(|s| &s.bytes_received, p),
    },
    PoolFamily {
        name: "brisk_pool_sent_bytes_total",
        kind: "counter",
        help: "Bytes sent to clients from servers (SHOW STATS total_sent).",
        value: |p, _| counter(|s| &s.bytes_sent, p),
    },
    PoolFamily {
        name: "brisk_pool_transaction_seconds_total",
        kind: "counter",
        help: "Time transactions held a server (SHOW STATS total_xact_time).",
        value: |p, _| micros(|s| &s.xact_time_us, p),
    },
    PoolFamily {
        name: "brisk_pool_query_seconds_total",
        kind: "counter",
        help: "Time queries took on a server (SHOW STATS total_query_time).",
        value: |p, _| micros(|s| &s.query_time_us, p),
    },
    PoolFamily {
        name: "brisk_pool_client_wait_seconds_total",
        kind: "counter",
        help: "Time clients waited for a server (SHOW STATS total_wait_time).",
        value: |p, _| micros(|s| &s.wait_time_us, p),
    },
    PoolFamily {
        name: "brisk_pool_servers_opened_total",
        kind: "counter",
        help: "Server connections opened.",
        value: |p, _| counter(|s| &s.servers_opened, p),
    },
];

fn write_pool_metrics(out: &mut String, shared: &Shared) {
    let config = shared.config();
    let pools = shared.pools();
    let reports: Vec<PoolReport> = pools
        .iter()
        .map(|pool| {
            shared
                .health()
                .report(pool, config.min_pool_size, config.pool_health_window)
        })
        .collect();
    for f in POOL_FAMILIES {
        family(out, f.name, f.kind, f.help);
        for (pool, report) in pools.iter().zip(&reports) {
            let labels = [
                ("database", pool.database.as_str()),
                ("user", pool.user.as_str()),
            ];
            sample(out, f.name, &labels, (f.value)(pool, report));
        }
    }
}

/// `# HELP` and `# TYPE` lines of a family.
pub fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// One sample line: `name{label="value",...} value`.
pub fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (label, value)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{label}=\"{}\"", escape_label(value));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {}", format_value(value));
}

/// Label values escape backslash, double quote and newline.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

/// Help text escapes backslash and newline.
fn escape_help(help: &str) -> String {
    help.replace('\\', r"\\").replace('\n', r"\n")
}

fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_escape_label_values_and_format_numbers() {
        let mut out = String::new();
        family(&mut out, "brisk_x", "gauge", "A \\ help\nline.");
        sample(
            &mut out,
            "brisk_x",
            &[("database", "a\"b\\c\nd"), ("user", "u")],
            0.25,
        );
        sample(&mut out, "brisk_x", &[], 3.0);
        sample(&mut out, "brisk_x", &[], f64::INFINITY);
        assert_eq!(
            out,
            "# HELP brisk_x A \\\\ help\\nline.\n# TYPE brisk_x gauge\n\
             brisk_x{database=\"a\\\"b\\\\c\\nd\",user=\"u\"} 0.25\nbrisk_x 3\nbrisk_x +Inf\n"
        );
    }

    #[test]
    fn query_labels_are_one_line_and_bounded() {
        assert_eq!(
            label_text("SELECT a\n  FROM t\tWHERE id = $1"),
            "SELECT a FROM t WHERE id = $1"
        );
        let long = format!("SELECT {} FROM t", "é, ".repeat(60));
        let label = label_text(&long);
        assert_eq!(label.chars().count(), QUERY_LABEL_CHARS + 1);
        assert!(label.ends_with('…'), "{label}");
    }

    #[test]
    fn pool_families_follow_prometheus_naming() {
        for f in POOL_FAMILIES {
            assert!(f.name.starts_with("brisk_pool_"), "{}", f.name);
            assert_eq!(
                f.kind == "counter",
                f.name.ends_with("_total"),
                "{}",
                f.name
            );
        }
    }
}
