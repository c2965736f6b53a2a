//! The analysis as one self-contained HTML page: inline SVG charts from
//! `brisk_report::chart`, tables, inline CSS, no JavaScript and nothing fetched, so the file
//! opens offline and as a mail attachment.
//!
//! Top to bottom: what was read, the findings, statements per second and their duration per
//! minute, the statement table, the slowest executions, errors and cancellations, lock waits
//! and deadlocks, temporary files, checkpoints, autovacuum, connections and N+1 patterns.
//! It shows only what the analysis holds: normalized statements and masked error messages,
//! never a parameter's value.

use std::fmt::Write;

use brisk_report::chart::{escape, Axis, BarChart, LineChart, Series};
use brisk_report::Report;

use crate::analysis::Analysis;

const STYLE: &str =
    "body{font-family:sans-serif;margin:24px auto;max-width:1200px;color:#222;padding:0 16px}\
h1{font-size:20px}h2{font-size:16px;margin-top:28px}\
table{border-collapse:collapse;font-size:13px;margin:8px 0}\
th,td{border-bottom:1px solid #ddd;padding:4px 8px;text-align:right;vertical-align:top}\
th:first-child,td:first-child,th.l{text-align:left}\
td.sql,td.text{text-align:left;max-width:560px;overflow-wrap:anywhere}\
td.sql{font-family:monospace;font-size:12px}\
.warning{color:#9a5b00;font-weight:bold}.critical{color:#b00020;font-weight:bold}.info{color:#555}\
.warn{background:#fff4d6;padding:6px 10px;border-left:4px solid #e69f00}\
.meta{color:#555;font-size:13px}.none{color:#555;font-size:13px}\
.charts{display:flex;flex-wrap:wrap;gap:12px}";

/// Charts two to a row on a 1280 px wide window (the page is at most 1200 px wide).
const CHART_SIZE: (u32, u32) = (580, 280);

/// Minutes a chart fills with empty ones where the log has none: four weeks.
const MAX_FILLED_MINUTES: i64 = 28 * 24 * 60;

/// Rows of the statement table; the JSON report has all of them.
const STATEMENT_ROWS: usize = 50;
/// Rows of the other tables.
const ROWS: usize = 25;

/// Statement text in a table cell, cut: a multi-kilobyte `INSERT ... VALUES` would push the
/// numbers off the page.
const SQL_CHARS: usize = 300;

/// The page for `analysis`; `report` is `analysis.report(...)`, for its findings and notes.
pub fn html(analysis: &Analysis, report: &Report) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let title = format!("brisk logs: {}", report.target.address);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>{STYLE}</style></head><body>\n<h1>{t}</h1>\n",
        t = escape(&title),
    );
    summary(&mut out, analysis);
    for note in &report.notes {
        let _ = writeln!(out, "<p class=\"warn\">{}</p>", escape(note));
    }
    findings(&mut out, report);
    charts(&mut out, analysis);
    statements(&mut out, analysis);
    slowest(&mut out, analysis);
    errors(&mut out, analysis);
    locks(&mut out, analysis);
    temp_files(&mut out, analysis);
    checkpoints(&mut out, analysis);
    maintenance(&mut out, analysis);
    connections(&mut out, analysis);
    patterns(&mut out, analysis);
    out.push_str("</body></html>\n");
    out
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max).collect();
    cut.push('…');
    cut
}

fn sql(text: &str) -> String {
    format!("<td class=\"sql\">{}</td>", escape(&cut(text, SQL_CHARS)))
}

fn section(out: &mut String, id: &str, title: &str) {
    let _ = writeln!(out, "<h2 id=\"{id}\">{}</h2>", escape(title));
}

fn none(out: &mut String, what: &str) {
    let _ = writeln!(out, "<p class=\"none\">{}</p>", escape(what));
}

/// A table's header; `text` columns (statements, names, messages) are left-aligned over
/// their cells, the numbers right-aligned.
fn table_head(out: &mut String, id: &str, columns: &[&str]) {
    const TEXT: [&str; 12] = [
        "statement",
        "message",
        "finding",
        "suggestion",
        "problem",
        "prefix",
        "table",
        "user",
        "database",
        "application",
        "check",
        "at",
    ];
    let _ = write!(out, "<table id=\"{id}\"><tr>");
    for column in columns {
        let text = TEXT.iter().any(|t| column.starts_with(t))
            || column.contains("statement")
            || column.starts_with("by ");
        let class = if text { " class=\"l\"" } else { "" };
        let _ = write!(out, "<th{class}>{}</th>", escape(column));
    }
    out.push_str("</tr>\n");
}

fn summary(out: &mut String, a: &Analysis) {
    let span = match (&a.first, &a.last) {
        (Some(first), Some(last)) => format!("{first} to {last}"),
        _ => "no times".to_string(),
    };
    let _ = writeln!(
        out,
        "<p class=\"meta\">{} messages · {} statements ({} distinct) · {} · brisk {}</p>",
        a.messages,
        a.statement_count(),
        a.statements.len(),
        escape(&span),
        env!("CARGO_PKG_VERSION"),
    );
    table_head(
        out,
        "files",
        &[
            "file",
            "format",
            "compression",
            "prefix",
            "lines",
            "MB",
            "unmatched lines",
            "problem",
        ],
    );
    for f in &a.files {
        let _ = writeln!(
            out,
            "<tr><td class=\"text\">{}</td><td>{}</td><td>{}</td><td class=\"sql\">{}</td><td>{}</td><td>{:.1}</td><td>{}</td><td class=\"text\">{}</td></tr>",
            escape(&f.path),
            f.format.unwrap_or("-"),
            f.compression.unwrap_or("-"),
            escape(f.prefix.as_deref().unwrap_or("")),
            f.lines,
            f.bytes as f64 / 1e6,
            f.unmatched_lines,
            escape(f.problem.as_deref().unwrap_or("")),
        );
    }
    out.push_str("</table>\n");
}

fn findings(out: &mut String, report: &Report) {
    section(out, "findings", "Findings");
    if report.findings.is_empty() {
        none(out, "Nothing found.");
        return;
    }
    table_head(out, "findings-table", &["severity", "check", "finding"]);
    for f in &report.findings {
        let severity = f.severity.as_str();
        let _ = writeln!(
            out,
            "<tr><td class=\"{severity}\">{severity}</td><td class=\"text\">{}</td><td class=\"text\">{}</td></tr>",
            escape(&f.check),
            escape(&f.title),
        );
    }
    out.push_str("</table>\n");
}

fn charts(out: &mut String, a: &Analysis) {
    section(out, "over-time", "Over time");
    let Some(start) = a.minutes.first().map(|m| m.minute) else {
        none(out, "No statements with a time: nothing to draw.");
        return;
    };
    let x = |minute: i64| (minute - start) as f64 / 60.0;
    let axis = || {
        Axis::new(
            format!(
                "minutes since {} UTC",
                brisk_report::format_utc_minute(start as f64)
            ),
            "",
        )
    };
    // A minute the log has no message in is not in `minutes`: it is drawn as no statements
    // (and no duration), not as a line across it.
    let by_minute: std::collections::HashMap<i64, &crate::analysis::MinuteRow> =
        a.minutes.iter().map(|m| (m.minute, m)).collect();
    let last = a.minutes.iter().map(|m| m.minute).max().unwrap_or(start);
    // Filled up to four weeks of minutes; a longer log's chart keeps its minutes as they
    // are, rather than drawing tens of thousands of empty ones.
    let every: Vec<i64> = if (last - start) / 60 <= MAX_FILLED_MINUTES {
        (start..=last).step_by(60).collect()
    } else {
        a.minutes.iter().map(|m| m.minute).collect()
    };
    let rate: Vec<(f64, f64)> = every
        .iter()
        .map(|&minute| {
            let n = by_minute.get(&minute).map_or(0, |m| m.statements);
            (x(minute), n as f64 / 60.0)
        })
        .collect();
    let errors: Vec<(f64, f64)> = every
        .iter()
        .map(|&minute| {
            let n = by_minute.get(&minute).map_or(0, |m| m.errors);
            (x(minute), n as f64 / 60.0)
        })
        .collect();
    // A minute without statements has no duration: a gap, not a zero.
    let duration = |value: fn(&crate::analysis::MinuteRow) -> f64| {
        every
            .iter()
            .map(|&minute| {
                let y = match by_minute.get(&minute) {
                    Some(m) if m.statements > 0 => value(m),
                    _ => f64::NAN,
                };
                (x(minute), y)
            })
            .collect::<Vec<_>>()
    };
    out.push_str("<div class=\"charts\">\n");
    out.push_str(
        &LineChart::new("Statements per second", axis(), Axis::new("rate", "/s"))
            .series(Series::new("statements", rate))
            .series(Series::new("errors", errors))
            .size(CHART_SIZE.0, CHART_SIZE.1)
            .render(),
    );
    out.push('\n');
    out.push_str(
        &LineChart::new("Statement duration", axis(), Axis::new("duration", "ms"))
            .series(Series::new("mean", duration(|m| m.mean_ms)))
            .series(Series::new("max", duration(|m| m.max_ms)).dashed())
            .size(CHART_SIZE.0, CHART_SIZE.1)
            .render(),
    );
    out.push('\n');
    if !a.statements.is_empty() {
        let mut bars = BarChart::new(
            "Total time of the top statements (numbers as in the table)",
            Axis::new("total", "ms"),
        );
        for (i, s) in a.statements.iter().take(10).enumerate() {
            bars = bars.bar(format!("#{}", i + 1), s.total_ms);
        }
        out.push_str(&bars.size(CHART_SIZE.0, CHART_SIZE.1).render());
        out.push('\n');
    }
    out.push_str("</div>\n");
}

fn statements(out: &mut String, a: &Analysis) {
    section(out, "statements", "Statements, by total time");
    if a.statements.is_empty() {
        none(
            out,
            "No statement durations in the log: set log_min_duration_statement (docs/logs.md).",
        );
        return;
    }
    table_head(
        out,
        "statements-table",
        &[
            "#",
            "statement",
            "calls",
            "total ms",
            "mean ms",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
            "errors",
            "temp files",
            "lock waits",
            "by database / user / application",
        ],
    );
    for (i, s) in a.statements.iter().take(STATEMENT_ROWS).enumerate() {
        let by: Vec<String> =
            s.by.iter()
                .take(3)
                .map(|b| format!("{}/{}/{}: {}", b.database, b.user, b.application, b.calls))
                .collect();
        let _ = writeln!(
            out,
            "<tr><td>{}</td>{}<td>{}</td><td>{:.1}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"text\">{}</td></tr>",
            i + 1,
            sql(&s.query),
            s.calls,
            s.total_ms,
            s.mean_ms,
            s.p50_ms,
            s.p95_ms,
            s.p99_ms,
            s.max_ms,
            s.errors,
            s.temp_files,
            s.lock_waits,
            escape(&by.join("; ")),
        );
    }
    out.push_str("</table>\n");
    if a.statements.len() > STATEMENT_ROWS {
        none(
            out,
            &format!(
                "{} more in the JSON report (--format json).",
                a.statements.len() - STATEMENT_ROWS
            ),
        );
    }
}

fn slowest(out: &mut String, a: &Analysis) {
    if a.slowest.is_empty() {
        return;
    }
    section(out, "slowest", "Slowest executions");
    table_head(
        out,
        "slowest-table",
        &[
            "ms",
            "at",
            "database",
            "user",
            "application",
            "statement (normalized)",
        ],
    );
    for s in a.slowest.iter().take(ROWS) {
        let _ = writeln!(
            out,
            "<tr><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>{}</tr>",
            s.duration_ms,
            escape(s.at.as_deref().unwrap_or("")),
            escape(&s.database),
            escape(&s.user),
            escape(&s.application),
            sql(&s.query),
        );
    }
    out.push_str("</table>\n");
}

fn errors(out: &mut String, a: &Analysis) {
    section(out, "errors", "Errors");
    if a.errors.is_empty() {
        none(out, "No errors logged.");
    } else {
        table_head(
            out,
            "errors-table",
            &["count", "level", "SQLSTATE", "message"],
        );
        for e in a.errors.iter().take(ROWS) {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"text\">{}</td></tr>",
                e.count,
                e.level,
                escape(e.sqlstate.as_deref().unwrap_or("")),
                escape(&cut(&e.message, SQL_CHARS)),
            );
        }
        out.push_str("</table>\n");
    }
    if !a.cancellations.is_empty() {
        table_head(out, "cancellations-table", &["cancellation", "count"]);
        for c in &a.cancellations {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td></tr>",
                escape(&c.reason),
                c.count
            );
        }
        out.push_str("</table>\n");
    }
}

fn locks(out: &mut String, a: &Analysis) {
    section(out, "locks", "Lock waits and deadlocks");
    let _ = writeln!(out, "<p class=\"meta\">{} deadlocks</p>", a.deadlocks);
    if a.lock_waits.is_empty() {
        none(
            out,
            "No lock waits logged (they are logged with log_lock_waits = on, after deadlock_timeout).",
        );
        return;
    }
    table_head(
        out,
        "locks-table",
        &[
            "statement",
            "waits",
            "acquired",
            "total wait ms",
            "max wait ms",
        ],
    );
    for l in a.lock_waits.iter().take(ROWS) {
        let _ = writeln!(
            out,
            "<tr>{}<td>{}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td></tr>",
            sql(&l.query),
            l.waits,
            l.acquired,
            l.total_wait_ms,
            l.max_wait_ms
        );
    }
    out.push_str("</table>\n");
}

fn temp_files(out: &mut String, a: &Analysis) {
    section(out, "temp-files", "Temporary files");
    if a.temp_files.is_empty() {
        none(
            out,
            "No temporary files logged (they are logged with log_temp_files = 0).",
        );
        return;
    }
    table_head(out, "temp-table", &["statement", "files", "MB"]);
    for t in a.temp_files.iter().take(ROWS) {
        let _ = writeln!(
            out,
            "<tr>{}<td>{}</td><td>{:.1}</td></tr>",
            sql(&t.query),
            t.files,
            t.total_bytes as f64 / 1e6
        );
    }
    out.push_str("</table>\n");
    none(
        out,
        "Statements that spill sort or hash data to disk may need more work_mem: `brisk tune` advises a value.",
    );
}

fn checkpoints(out: &mut String, a: &Analysis) {
    section(out, "checkpoints", "Checkpoints");
    let c = &a.checkpoints;
    if c.started == 0 && c.completed == 0 && c.too_frequent_warnings == 0 {
        none(
            out,
            "No checkpoints logged (they are logged with log_checkpoints = on).",
        );
        return;
    }
    table_head(
        out,
        "checkpoints-table",
        &[
            "started",
            "completed",
            "total s",
            "max s",
            "buffers written",
            "\"too frequently\" warnings",
            "closest apart (s)",
        ],
    );
    let _ = writeln!(
        out,
        "<tr><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n</table>",
        c.started,
        c.completed,
        c.total_secs,
        c.max_secs,
        c.buffers,
        c.too_frequent_warnings,
        c.min_secs_apart.map_or("-".to_string(), |s| s.to_string()),
    );
}

fn maintenance(out: &mut String, a: &Analysis) {
    section(out, "autovacuum", "Autovacuum and autoanalyze");
    if a.maintenance.is_empty() {
        none(
            out,
            "No autovacuum logged (it is logged with log_autovacuum_min_duration = 0).",
        );
        return;
    }
    table_head(
        out,
        "autovacuum-table",
        &[
            "table",
            "autovacuums",
            "vacuum s",
            "autoanalyzes",
            "analyze s",
        ],
    );
    for m in a.maintenance.iter().take(ROWS) {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{:.2}</td><td>{}</td><td>{:.2}</td></tr>",
            escape(&m.table),
            m.autovacuums,
            m.vacuum_secs,
            m.autoanalyzes,
            m.analyze_secs
        );
    }
    out.push_str("</table>\n");
}

fn connections(out: &mut String, a: &Analysis) {
    let c = &a.connections;
    if c.received == 0 && c.authorized == 0 && c.disconnections == 0 {
        return;
    }
    section(out, "connections", "Connections");
    let _ = writeln!(
        out,
        "<p class=\"meta\">{} received · {} authorized · {} disconnections · mean session {} · longest {}</p>",
        c.received,
        c.authorized,
        c.disconnections,
        c.mean_session_secs
            .map_or("-".to_string(), |s| format!("{s:.1} s")),
        c.max_session_secs
            .map_or("-".to_string(), |s| format!("{s:.1} s")),
    );
    if !c.by_user_database.is_empty() {
        table_head(
            out,
            "connections-table",
            &["user", "database", "connections"],
        );
        for r in c.by_user_database.iter().take(ROWS) {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&r.user),
                escape(&r.database),
                r.connections
            );
        }
        out.push_str("</table>\n");
    }
}

fn patterns(out: &mut String, a: &Analysis) {
    if a.n_plus_one.is_empty() {
        return;
    }
    section(out, "n-plus-one", "N+1 and row-by-row writes");
    table_head(
        out,
        "n-plus-one-table",
        &[
            "kind",
            "repeated statement",
            "runs",
            "executions",
            "total ms",
            "longest run",
            "suggestion",
        ],
    );
    for p in a.n_plus_one.iter().take(ROWS) {
        let _ = writeln!(
            out,
            "<tr><td>{}</td>{}<td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td><td class=\"text\">{}</td></tr>",
            p.kind,
            sql(&p.repeated),
            p.occurrences,
            p.executions,
            p.total_ms,
            p.max_run,
            escape(&p.suggestion),
        );
    }
    out.push_str("</table>\n");
}
