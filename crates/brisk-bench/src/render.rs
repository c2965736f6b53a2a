//! Text for people: the per-second line, the final summary, and a comparison as text or as
//! Markdown for a pull-request comment. JSON is the result types themselves (serde).

use std::fmt::Write;

use crate::compare::Comparison;
use crate::result::{BenchResult, OperationResult, Percentiles, SecondResult};

/// One line per second: `  12s  target 200/s  done 199/s  p50 1.2ms ...`.
pub fn second_line(row: &SecondResult, open: bool) -> String {
    let target = if open {
        format!("target {:>7.1}/s", row.target)
    } else {
        format!("users {:>5.0}", row.target)
    };
    format!(
        "{:>5}s  {target}  done {:>7.1}/s  p50 {:>8}  p99 {:>8}  max {:>8}  errors {:>4}  lag p99 {:>8}  cpu {:>3.0}%",
        row.second,
        row.rate,
        ms(row.p50_ms),
        ms(row.p99_ms),
        ms(row.max_ms),
        row.errors,
        ms(row.lag_p99_ms),
        row.cpu_pct
    )
}

/// A duration in milliseconds, with a precision that suits its size.
pub fn ms(value: f64) -> String {
    if value >= 1000.0 {
        format!("{:.2}s", value / 1000.0)
    } else if value >= 10.0 {
        format!("{value:.1}ms")
    } else {
        format!("{value:.2}ms")
    }
}

fn percentile_cells(p: &Percentiles) -> String {
    format!(
        "{:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        ms(p.p50),
        ms(p.p90),
        ms(p.p95),
        ms(p.p99),
        ms(p.p99_9),
        ms(p.max)
    )
}

/// The load a run applied, in words: its model, rate or users, and connections.
pub(crate) fn describe_load(model: &crate::result::ModelInfo) -> String {
    match model.kind.as_str() {
        "open" => format!(
            "open model, {} arrivals at {:.1}/s planned, {} connections",
            model.arrival.as_deref().unwrap_or("constant"),
            model.target_rate.unwrap_or(0.0),
            model.connections.unwrap_or(0)
        ),
        "replay" => format!(
            "replay of a capture, {} sessions on a connection each, {:.1}/s planned on average",
            model.connections.unwrap_or(0),
            model.target_rate.unwrap_or(0.0)
        ),
        _ => format!(
            "closed model, up to {:.0} users, think time {}",
            model.users.unwrap_or(0.0),
            ms(model.think_time_ms.unwrap_or(0.0))
        ),
    }
}

/// The final summary of a run.
pub fn summary(result: &BenchResult) -> String {
    let mut out = String::new();
    let model = &result.model;
    let load = describe_load(model);
    let segments = match result.segments.as_slice() {
        [one] if one.count == 1 => String::new(),
        [one] => format!(", segment {}/{}", one.index, one.count),
        many => format!(", {} segments merged", many.len()),
    };
    let _ = writeln!(
        out,
        "brisk bench: {} — {load}, {} protocol{segments}, {:.1} s{}",
        result.target,
        result.protocol,
        result.duration_s,
        if result.interrupted {
            " (interrupted: partial results)"
        } else if result.aborted_by_threshold {
            " (stopped: a threshold failed)"
        } else {
            ""
        }
    );
    let name_width = result
        .operations
        .iter()
        .map(|o| o.name.chars().count())
        .max()
        .unwrap_or(3)
        .max(9);
    let _ = writeln!(
        out,
        "\nlatency from the intended start (queueing included):\n{:<name_width$} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "operation", "count", "errors", "rate/s", "p50", "p90", "p95", "p99", "p99.9", "max"
    );
    let line = |out: &mut String, op: &OperationResult, p: &Percentiles| {
        let _ = writeln!(
            out,
            "{:<name_width$} {:>9} {:>7} {:>9.1} {}",
            op.name,
            op.count,
            op.errors,
            op.rate,
            percentile_cells(p)
        );
    };
    for op in &result.operations {
        line(&mut out, op, &op.latency_ms);
    }
    if result.operations.len() > 1 {
        line(&mut out, &result.overall, &result.overall.latency_ms);
    }
    let _ = writeln!(
        out,
        "\nservice time (sent to done) and schedule lag (intended to actual start), all operations:\n{:<name_width$} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "", "p50", "p90", "p95", "p99", "p99.9", "max"
    );
    let _ = writeln!(
        out,
        "{:<name_width$} {}",
        "service",
        percentile_cells(&result.overall.service_ms)
    );
    let _ = writeln!(
        out,
        "{:<name_width$} {}",
        "lag",
        percentile_cells(&result.overall.lag_ms)
    );
    if result.overall.errors > 0 {
        let _ = writeln!(
            out,
            "\nerrors: {} ({:.3}% of finished operations)",
            result.overall.errors,
            result.overall.error_rate * 100.0
        );
        for op in &result.operations {
            for (code, errors) in &op.errors_by_sqlstate {
                // SQLSTATEs are five characters; the other codes (`HTTP 503`, `timeout`,
                // `connect`, `script`) say what they are.
                let kind = if code.len() == 5 && code.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    "SQLSTATE "
                } else {
                    ""
                };
                let _ = writeln!(
                    out,
                    "  {:<name_width$} {kind}{code}: {} × {}",
                    op.name, errors.count, errors.example
                );
            }
        }
    }
    if result.not_started > 0 {
        let _ = writeln!(
            out,
            "not started: {} operations due before the end",
            result.not_started
        );
    }
    let g = &result.generator;
    let _ = writeln!(
        out,
        "\ngenerator: {:.1} µs of CPU per operation (user {:.2} s, system {:.2} s), busiest second {:.0}% of one core, {} thread(s)",
        g.cpu_us_per_op, g.cpu_user_s, g.cpu_system_s, g.max_cpu_pct, g.threads
    );
    for warning in &g.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    if let Some(db) = &result.database {
        match &db.note {
            Some(note) => {
                let _ = writeln!(out, "\ndatabase: no per-statement report: {note}");
            }
            None => {
                let _ = writeln!(
                    out,
                    "\ndatabase time during the run (pg_stat_statements, all clients): {} in {} calls",
                    ms(db.total_ms),
                    db.calls
                );
                for s in &db.statements {
                    let text: String = s.query.split_whitespace().collect::<Vec<_>>().join(" ");
                    let text = match text.char_indices().nth(90) {
                        Some((cut, _)) => format!("{}…", &text[..cut]),
                        None => text,
                    };
                    let _ = writeln!(
                        out,
                        "  {:>5.1}%  {:>9} calls  mean {:>9}  total {:>9}  {text}",
                        s.share_pct,
                        s.calls,
                        ms(s.mean_ms),
                        ms(s.total_ms)
                    );
                }
            }
        }
    }
    if let Some(proxy) = &result.proxy {
        proxy_section(&mut out, proxy);
    }
    if !result.thresholds.is_empty() {
        let _ = writeln!(out, "\nthresholds:");
        for t in &result.thresholds {
            let scope = t
                .operation
                .as_deref()
                .map(|o| format!(" on {o}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {} {}{scope}: {:.3}{}",
                if t.passed { "pass" } else { "FAIL" },
                t.threshold,
                t.actual,
                t.unit
            );
        }
    }
    out
}

fn change(row: &crate::compare::Row) -> String {
    match row.change_pct {
        Some(c) => format!("{c:+.1}%"),
        None => "n/a".into(),
    }
}

fn verdict(row: &crate::compare::Row) -> String {
    match row.p_value {
        Some(p) => format!("{} (p={p:.3})", row.verdict),
        None => row.verdict.clone(),
    }
}

fn value(v: f64, unit: &str) -> String {
    match unit {
        "ms" => ms(v),
        "%" => format!("{v:.3}%"),
        _ => format!("{v:.1}{unit}"),
    }
}

/// A comparison as aligned text.
pub fn comparison_text(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "brisk bench compare: A = {}, B = {}", c.a, c.b);
    for op in &c.operations {
        let _ = writeln!(out, "\n{}", op.name);
        for row in &op.rows {
            let _ = writeln!(
                out,
                "  {:<10} {:>11} {:>11} {:>9}  {}",
                row.metric,
                value(row.a, &row.unit),
                value(row.b, &row.unit),
                change(row),
                verdict(row)
            );
        }
    }
    for name in &c.unmatched {
        let _ = writeln!(out, "\n{name}: in only one of the results");
    }
    let _ = writeln!(
        out,
        "\nsignificant: a Mann-Whitney U test over the per-second windows (p50s, p99s, rates) gives p < 0.05"
    );
    out
}

/// A comparison as Markdown, for a pull-request comment.
pub fn comparison_markdown(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### brisk bench: `{}` → `{}`\n", c.a, c.b);
    for op in &c.operations {
        let _ = writeln!(out, "**{}**\n", op.name);
        let _ = writeln!(out, "| metric | A | B | change | verdict |");
        let _ = writeln!(out, "| --- | ---: | ---: | ---: | --- |");
        for row in &op.rows {
            let flag = if row.verdict == "significant" {
                "**"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {flag}{}{flag} | {} |",
                row.metric,
                value(row.a, &row.unit),
                value(row.b, &row.unit),
                change(row),
                verdict(row)
            );
        }
        let _ = writeln!(out);
    }
    for name in &c.unmatched {
        let _ = writeln!(out, "`{name}` is in only one of the results.\n");
    }
    let _ = writeln!(
        out,
        "_Significant: a two-sided Mann-Whitney U test over per-second windows gives p < 0.05. Latency is measured from the intended start._"
    );
    out
}

/// One line per step of a knee search.
pub fn knee_step_line(step: &crate::knee::KneeStep) -> String {
    let broken: Vec<String> = step
        .thresholds
        .iter()
        .filter(|t| !t.passed)
        .map(|t| format!("{} ({:.3}{})", t.threshold, t.actual, t.unit))
        .collect();
    format!(
        "{:>9.1}/s  done {:>9.1}/s  p50 {:>8}  p95 {:>8}  p99 {:>8}  max {:>8}  errors {:>5}  lag p99 {:>8}  {}",
        step.rate,
        step.achieved_rate,
        ms(step.p50_ms),
        ms(step.p95_ms),
        ms(step.p99_ms),
        ms(step.max_ms),
        step.errors,
        ms(step.lag_p99_ms),
        if step.held {
            "held".to_string()
        } else {
            format!("BROKE: {}", broken.join(", "))
        }
    )
}

/// The answer of a knee search, with every step.
pub fn knee_summary(knee: &crate::knee::KneeResult) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "brisk bench --find-knee: {}", knee.target);
    let _ = writeln!(out, "\nsteps, by rate:");
    let mut steps: Vec<&crate::knee::KneeStep> = knee.steps.iter().collect();
    steps.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    for step in steps {
        let _ = writeln!(out, "{}", knee_step_line(step));
    }
    let _ = writeln!(
        out,
        "\n{}",
        match (knee.held_rate, knee.broke_rate) {
            (Some(held), Some(broke)) =>
                format!("knee: {held:.1}/s held, {broke:.1}/s broke a threshold"),
            (Some(held), None) =>
                format!("no knee up to {held:.1}/s: every step held (raise --knee-max)"),
            (None, Some(broke)) => format!(
                "knee below {broke:.1}/s: the first step already broke a threshold (lower --rate)"
            ),
            (None, None) => "no step finished".to_string(),
        }
    );
    if knee.interrupted {
        let _ = writeln!(out, "(interrupted: the steps above are all that ran)");
    }
    out
}

/// What `brisk proxy` saw: per fingerprint its calls, mean and p95 during the run, next to
/// pg_stat_statements' calls and mean of the same shape; then the pools and their waits.
fn proxy_section(out: &mut String, proxy: &crate::proxy::ProxyReport) {
    let _ = writeln!(
        out,
        "\nproxy during the run ({}, all clients): {} in {} calls",
        proxy.target,
        ms(proxy.total_ms),
        proxy.calls
    );
    match &proxy.note {
        Some(note) => {
            let _ = writeln!(out, "  no per-fingerprint statistics: {note}");
        }
        None => {
            for s in &proxy.statements {
                let text: String = s.query.split_whitespace().collect::<Vec<_>>().join(" ");
                let text = match text.char_indices().nth(70) {
                    Some((cut, _)) => format!("{}…", &text[..cut]),
                    None => text,
                };
                // A p95 over the proxy's whole life, not only the run, is marked.
                let scope = if s.p95_scope == "run" { " " } else { "*" };
                let server = match (s.pg_calls, s.pg_mean_ms) {
                    (Some(calls), Some(mean)) => format!("server {calls} calls mean {}", ms(mean)),
                    _ => "server -".to_string(),
                };
                let _ = writeln!(
                    out,
                    "  {:>5.1}%  {:>9} calls  mean {:>9}  p95 {:>9}{scope}  wait {:>9}  {server}  {text}",
                    s.share_pct,
                    s.calls,
                    ms(s.mean_ms),
                    ms(s.p95_ms),
                    ms(s.wait_ms),
                );
            }
            if proxy.statements.iter().any(|s| s.p95_scope != "run") {
                let _ = writeln!(
                    out,
                    "  * p95 since the proxy started: it had timed this statement before the run"
                );
            }
        }
    }
    for p in &proxy.pools {
        let _ = writeln!(
            out,
            "  pool {}/{}: pool_size {}, up to {} servers in use, up to {} clients waiting, waited {} in total",
            p.database,
            p.user,
            p.pool_size,
            p.max_servers_active,
            p.max_clients_waiting,
            ms(p.wait_ms)
        );
    }
    for warning in &proxy.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
}
