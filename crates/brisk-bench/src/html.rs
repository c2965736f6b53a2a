//! The result of a run as one self-contained HTML page: inline SVG charts (from
//! `brisk_report::chart`) and tables, inline CSS, no JavaScript and nothing fetched, so the
//! file opens offline, in a CI artifact viewer or as a mail attachment.
//!
//! The page shows, top to bottom: the verdict of the thresholds, latency percentiles over
//! time, achieved against target rate, errors over time, the latency distribution of each
//! operation, the per-operation table, what the database spent its time on, and what the
//! generator cost.

use std::fmt::Write;

use brisk_report::chart::{escape, Axis, BarChart, LineChart, PercentileChart, Series};

use crate::render::ms;
use crate::result::{decode_histogram, BenchResult, OperationResult};

/// Percentiles at which each operation's distribution is drawn: ten points per "nine", from
/// 50% to 99.99% (0.3 nines is 49.9%, so the series starts at 50% itself, then 0.4 nines),
/// and the maximum. Dense enough that a knee in the tail is not cut off.
fn distribution_percentiles() -> Vec<f64> {
    let mut percentiles: Vec<f64> = (4..=40)
        .map(|tenth| 100.0 * (1.0 - 10f64.powf(-f64::from(tenth) / 10.0)))
        .collect();
    percentiles.insert(0, 50.0);
    percentiles.push(100.0);
    percentiles
}

const STYLE: &str =
    "body{font-family:sans-serif;margin:24px auto;max-width:1200px;color:#222;padding:0 16px}\
h1{font-size:20px}h2{font-size:16px;margin-top:28px}\
table{border-collapse:collapse;font-size:13px;margin:8px 0}\
th,td{border-bottom:1px solid #ddd;padding:4px 8px;text-align:right}\
th:first-child,td:first-child{text-align:left}\
td.sql{text-align:left;font-family:monospace;max-width:640px;overflow-wrap:anywhere}\
.pass{color:#08722f;font-weight:bold}.fail{color:#b00020;font-weight:bold}\
.warn{background:#fff4d6;padding:6px 10px;border-left:4px solid #e69f00}\
.meta{color:#555;font-size:13px}.charts{display:flex;flex-wrap:wrap;gap:12px}";

/// Charts two to a row on a 1280 px wide window (the page is at most 1200 px wide).
const CHART_SIZE: (u32, u32) = (580, 280);

/// The whole page for `result`.
pub fn html(result: &BenchResult) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let title = format!("brisk bench: {}", result.target);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    let _ = writeln!(out, "<p class=\"meta\">{}</p>", escape(&run_line(result)));
    if result.interrupted {
        out.push_str("<p class=\"warn\">Interrupted: these are partial results.</p>\n");
    } else if result.aborted_by_threshold {
        out.push_str("<p class=\"warn\">Stopped early: a threshold failed.</p>\n");
    }
    for warning in &result.generator.warnings {
        let _ = writeln!(out, "<p class=\"warn\">{}</p>", escape(warning));
    }
    thresholds(&mut out, result);
    charts(&mut out, result);
    operations(&mut out, result);
    database(&mut out, result);
    proxy(&mut out, result);
    generator(&mut out, result);
    out.push_str("</body></html>\n");
    out
}

fn run_line(result: &BenchResult) -> String {
    let model = &result.model;
    let load = crate::render::describe_load(model);
    let segments = match result.segments.as_slice() {
        [one] if one.count == 1 => String::new(),
        [one] => format!(" · segment {}/{}", one.index, one.count),
        many => format!(" · {} segments merged", many.len()),
    };
    format!(
        "started {} UTC · {load}{segments} · {} protocol · {:.1} s · seed {} · brisk {} · latency counts from the intended start (queueing included)",
        brisk_report::format_utc_minute(result.started_unix_ms as f64 / 1000.0),
        result.protocol,
        result.duration_s,
        result.seed,
        result.brisk_version
    )
}

fn thresholds(out: &mut String, result: &BenchResult) {
    if result.thresholds.is_empty() {
        return;
    }
    let failed = result.thresholds.iter().filter(|t| !t.passed).count();
    let _ = writeln!(
        out,
        "<h2>Thresholds: <span class=\"{}\">{}</span></h2>\n<table id=\"thresholds\"><tr><th>threshold</th><th>operation</th><th>measured</th><th>limit</th><th>result</th></tr>",
        if failed == 0 { "pass" } else { "fail" },
        if failed == 0 {
            "all passed".to_string()
        } else {
            format!("{failed} of {} failed", result.thresholds.len())
        }
    );
    for t in &result.thresholds {
        let (class, word) = if t.passed {
            ("pass", "pass")
        } else {
            ("fail", "FAIL")
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{:.3} {}</td><td>{} {}</td><td class=\"{class}\">{word}</td></tr>",
            escape(&t.threshold),
            escape(t.operation.as_deref().unwrap_or("all")),
            t.actual,
            escape(&t.unit),
            t.limit,
            escape(&t.unit),
        );
    }
    out.push_str("</table>\n");
}

fn charts(out: &mut String, result: &BenchResult) {
    let time = || Axis::new("time since start", "s");
    let per_second = |value: fn(&crate::result::SecondResult) -> f64| {
        result
            .seconds
            .iter()
            .map(|s| (f64::from(s.second), value(s)))
            .collect::<Vec<_>>()
    };
    // A second in which nothing finished has no latency: a gap, not a zero.
    let latency = |value: fn(&crate::result::SecondResult) -> f64| {
        result
            .seconds
            .iter()
            .map(|s| {
                let y = if s.count > 0 { value(s) } else { f64::NAN };
                (f64::from(s.second), y)
            })
            .collect::<Vec<_>>()
    };
    out.push_str("<h2>Over time</h2>\n<div class=\"charts\">\n");
    let chart = LineChart::new(
        "Latency percentiles per second",
        time(),
        Axis::new("latency", "ms"),
    )
    .series(Series::new("p50", latency(|s| s.p50_ms)))
    .series(Series::new("p90", latency(|s| s.p90_ms)))
    .series(Series::new("p99", latency(|s| s.p99_ms)))
    .series(Series::new("max", latency(|s| s.max_ms)).dashed());
    out.push_str(&chart.size(CHART_SIZE.0, CHART_SIZE.1).render());
    let open = matches!(result.model.kind.as_str(), "open" | "replay");
    let mut chart = LineChart::new(
        if open {
            "Achieved against target rate"
        } else {
            "Achieved rate"
        },
        time(),
        Axis::new("operations", "per s"),
    );
    if open {
        chart = chart.series(Series::new("target", per_second(|s| s.target)).dashed());
    }
    chart = chart.series(Series::new(
        "achieved",
        per_second(|s| per_window(s.count + s.errors, s.duration_s)),
    ));
    out.push_str(&chart.size(CHART_SIZE.0, CHART_SIZE.1).render());
    let mut chart =
        LineChart::new("Errors per second", time(), Axis::new("errors", "per s")).series(
            Series::new("all", per_second(|s| per_window(s.errors, s.duration_s))),
        );
    let failing: Vec<&OperationResult> = result
        .operations
        .iter()
        .filter(|op| op.errors > 0)
        .collect();
    // One failing operation's line would only cover the line of all.
    if failing.len() > 1 {
        for op in failing {
            let points = result
                .seconds
                .iter()
                .map(|s| {
                    let errors = s.operations.get(&op.name).map_or(0, |o| o.errors);
                    (f64::from(s.second), per_window(errors, s.duration_s))
                })
                .collect();
            chart = chart.series(Series::new(op.name.as_str(), points));
        }
    }
    out.push_str(&chart.size(CHART_SIZE.0, CHART_SIZE.1).render());
    let lag = LineChart::new(
        "Schedule lag (intended to actual start), p99 per second",
        time(),
        Axis::new("lag", "ms"),
    )
    .series(Series::new("lag p99", latency(|s| s.lag_p99_ms)));
    out.push_str(&lag.size(CHART_SIZE.0, CHART_SIZE.1).render());
    out.push_str("</div>\n<h2>Latency distribution</h2>\n<div class=\"charts\">\n");
    let mut chart = PercentileChart::new(
        "Latency by percentile (from the intended start)",
        Axis::new("latency", "ms"),
    );
    let mut drawn = result.operations.iter().collect::<Vec<_>>();
    if result.operations.len() > 1 {
        drawn.push(&result.overall);
    }
    // An operation that never succeeded has no latency to draw.
    for op in drawn.into_iter().filter(|op| op.count > 0) {
        chart = chart.series(Series::new(op.name.as_str(), distribution(op)));
    }
    out.push_str(&chart.size(CHART_SIZE.0, CHART_SIZE.1).render());
    if result.operations.len() > 1 {
        let mut bars = BarChart::new("Rate per operation", Axis::new("operations", "per s"));
        for op in &result.operations {
            bars = bars.bar(op.name.as_str(), op.rate);
        }
        out.push_str(&bars.size(CHART_SIZE.0, CHART_SIZE.1).render());
    }
    out.push_str("</div>\n");
}

/// Operations per second in a window; none for the short last window of a run that ended
/// between ticks, whose few operations would make a spike or a dive that never happened.
fn per_window(operations: u64, duration_s: f64) -> f64 {
    // Half a second: below that one operation more or less moves the rate by 2/s or more.
    if duration_s < 0.5 {
        f64::NAN
    } else {
        operations as f64 / duration_s
    }
}

/// `(percentile, milliseconds)` points of an operation's latency histogram; none when the
/// histogram does not decode (a hand-edited result), so the chart says "no data".
fn distribution(op: &OperationResult) -> Vec<(f64, f64)> {
    let Ok(histogram) = decode_histogram(&op.histograms.latency) else {
        return Vec::new();
    };
    if histogram.is_empty() {
        return Vec::new();
    }
    distribution_percentiles()
        .into_iter()
        .map(|p| {
            let us = if p >= 100.0 {
                histogram.max()
            } else {
                histogram.value_at_quantile(p / 100.0)
            };
            (p, us as f64 / 1000.0)
        })
        .collect()
}

fn operations(out: &mut String, result: &BenchResult) {
    out.push_str("<h2>Operations</h2>\n<table id=\"operations\"><tr><th>operation</th><th>count</th><th>errors</th><th>rate/s</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>p99.9</th><th>max</th><th>service p99</th><th>lag p99</th></tr>\n");
    let mut rows: Vec<&OperationResult> = result.operations.iter().collect();
    if result.operations.len() > 1 {
        rows.push(&result.overall);
    }
    for op in rows {
        let p = &op.latency_ms;
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td>",
            escape(&op.name),
            op.count,
            op.errors,
            op.rate,
        );
        // Percentiles of no successful operation are not zero: there are none.
        for value in [
            p.p50,
            p.p90,
            p.p95,
            p.p99,
            p.p99_9,
            p.max,
            op.service_ms.p99,
            op.lag_ms.p99,
        ] {
            if op.count == 0 {
                out.push_str("<td>–</td>");
            } else {
                let _ = write!(out, "<td>{}</td>", ms(value));
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    let errors: Vec<_> = result
        .operations
        .iter()
        .flat_map(|op| op.errors_by_sqlstate.iter().map(move |e| (op, e)))
        .collect();
    if !errors.is_empty() {
        out.push_str("<h2>Errors</h2>\n<table id=\"errors\"><tr><th>operation</th><th>code</th><th>count</th><th>first message</th></tr>\n");
        for (op, (code, error)) in errors {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"sql\">{}</td></tr>",
                escape(&op.name),
                escape(code),
                error.count,
                escape(&error.example)
            );
        }
        out.push_str("</table>\n");
    }
}

fn database(out: &mut String, result: &BenchResult) {
    let Some(db) = &result.database else {
        return;
    };
    out.push_str("<h2>Database time during the run</h2>\n");
    if let Some(note) = &db.note {
        let _ = writeln!(
            out,
            "<p class=\"meta\">No per-statement report: {}</p>",
            escape(note)
        );
        return;
    }
    let _ = writeln!(
        out,
        "<p class=\"meta\">{} in {} calls ({}, all clients of the database)</p>\n<table id=\"database\"><tr><th>share</th><th>calls</th><th>mean</th><th>total</th><th>rows</th><th>statement</th></tr>",
        ms(db.total_ms),
        db.calls,
        escape(&db.source)
    );
    for s in &db.statements {
        let _ = writeln!(
            out,
            "<tr><td>{:.1}%</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"sql\">{}</td></tr>",
            s.share_pct,
            s.calls,
            ms(s.mean_ms),
            ms(s.total_ms),
            s.rows,
            escape(&s.query)
        );
    }
    out.push_str("</table>\n");
}

fn proxy(out: &mut String, result: &BenchResult) {
    let Some(proxy) = &result.proxy else {
        return;
    };
    out.push_str("<h2>What the proxy saw during the run</h2>\n");
    for warning in &proxy.warnings {
        let _ = writeln!(out, "<p class=\"fail\">{}</p>", escape(warning));
    }
    let _ = writeln!(
        out,
        "<p class=\"meta\">{} in {} calls ({}, {}, all clients)</p>",
        ms(proxy.total_ms),
        proxy.calls,
        escape(&proxy.source),
        escape(&proxy.target)
    );
    match &proxy.note {
        Some(note) => {
            let _ = writeln!(
                out,
                "<p class=\"meta\">No per-fingerprint statistics: {}</p>",
                escape(note)
            );
        }
        None => {
            out.push_str("<table id=\"proxy\"><tr><th>share</th><th>calls</th><th>mean</th><th>p95</th><th>wait</th><th>server calls</th><th>server mean</th><th>statement</th></tr>\n");
            for s in &proxy.statements {
                let p95 = if s.p95_scope == "run" {
                    ms(s.p95_ms)
                } else {
                    format!("{} (since the proxy started)", ms(s.p95_ms))
                };
                let _ = writeln!(
                    out,
                    "<tr><td>{:.1}%</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"sql\">{}</td></tr>",
                    s.share_pct,
                    s.calls,
                    ms(s.mean_ms),
                    escape(&p95),
                    ms(s.wait_ms),
                    s.pg_calls.map(|c| c.to_string()).unwrap_or_default(),
                    s.pg_mean_ms.map(ms).unwrap_or_default(),
                    escape(&s.query)
                );
            }
            out.push_str("</table>\n");
        }
    }
    out.push_str("<table id=\"pools\"><tr><th>pool</th><th>pool_size</th><th>most servers in use</th><th>most clients waiting</th><th>longest wait seen</th><th>waited in total</th><th>saturated</th></tr>\n");
    for p in &proxy.pools {
        let _ = writeln!(
            out,
            "<tr><td>{}/{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&p.database),
            escape(&p.user),
            p.pool_size,
            p.max_servers_active,
            p.max_clients_waiting,
            ms(p.max_wait_ms),
            ms(p.wait_ms),
            if p.saturated { "yes" } else { "no" }
        );
    }
    out.push_str("</table>\n");
}

fn generator(out: &mut String, result: &BenchResult) {
    let g = &result.generator;
    let _ = writeln!(
        out,
        "<h2>Load generator</h2>\n<p class=\"meta\">{:.1} µs of CPU per operation (user {:.2} s, system {:.2} s), busiest second {:.0}% of one core, {} thread(s).</p>",
        g.cpu_us_per_op, g.cpu_user_s, g.cpu_system_s, g.max_cpu_pct, g.threads
    );
}

/// The page of a knee search: latency and achieved rate against the target rate of each
/// step, and the steps' table.
pub fn knee_html(knee: &crate::knee::KneeResult) -> String {
    let mut out = String::with_capacity(32 * 1024);
    let title = format!("brisk bench --find-knee: {}", knee.target);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    let verdict = match (knee.held_rate, knee.broke_rate) {
        (Some(held), Some(broke)) => {
            format!("The knee: {held:.1}/s held, {broke:.1}/s broke a threshold.")
        }
        (Some(held), None) => format!("No knee up to {held:.1}/s: every step held."),
        (None, Some(broke)) => {
            format!("The knee is below {broke:.1}/s: the first step already broke a threshold.")
        }
        (None, None) => "No step finished.".to_string(),
    };
    let _ = writeln!(out, "<h2 id=\"verdict\">{}</h2>", escape(&verdict));
    if knee.interrupted {
        out.push_str("<p class=\"warn\">Interrupted: the steps below are all that ran.</p>\n");
    }
    let mut steps: Vec<&crate::knee::KneeStep> = knee.steps.iter().collect();
    steps.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    let points = |value: fn(&crate::knee::KneeStep) -> f64| {
        steps.iter().map(|s| (s.rate, value(s))).collect::<Vec<_>>()
    };
    out.push_str("<div class=\"charts\">\n");
    let target = || Axis::new("target rate", "per s");
    let latency = LineChart::new(
        "Latency against the target rate",
        target(),
        Axis::new("latency", "ms"),
    )
    .series(Series::new("p50", points(|s| s.p50_ms)))
    .series(Series::new("p95", points(|s| s.p95_ms)))
    .series(Series::new("p99", points(|s| s.p99_ms)));
    out.push_str(&latency.size(CHART_SIZE.0, CHART_SIZE.1).render());
    let rate = LineChart::new(
        "Achieved against target rate",
        target(),
        Axis::new("achieved", "per s"),
    )
    .series(Series::new("target", points(|s| s.rate)).dashed())
    .series(Series::new("achieved", points(|s| s.achieved_rate)));
    out.push_str(&rate.size(CHART_SIZE.0, CHART_SIZE.1).render());
    out.push_str("</div>\n<h2>Steps</h2>\n<table id=\"steps\"><tr><th>target rate/s</th><th>achieved/s</th><th>p50</th><th>p95</th><th>p99</th><th>max</th><th>errors</th><th>lag p99</th><th>verdict</th></tr>\n");
    for step in steps {
        let broken: Vec<String> = step
            .thresholds
            .iter()
            .filter(|t| !t.passed)
            .map(|t| format!("{} ({:.3} {})", t.threshold, t.actual, t.unit))
            .collect();
        let (class, verdict) = if step.held {
            ("pass", "held".to_string())
        } else {
            ("fail", format!("broke: {}", broken.join(", ")))
        };
        let _ = writeln!(
            out,
            "<tr><td>{:.1}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{}</td></tr>",
            step.rate,
            step.achieved_rate,
            ms(step.p50_ms),
            ms(step.p95_ms),
            ms(step.p99_ms),
            ms(step.max_ms),
            step.errors,
            ms(step.lag_p99_ms),
            escape(&verdict)
        );
    }
    out.push_str("</table>\n</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{OperationTotals, SecondResult, SCHEMA};
    use crate::threshold::ThresholdResult;

    fn sample() -> BenchResult {
        let mut totals = OperationTotals::default();
        for v in 1..=1000u64 {
            totals.latency.record(v * 10).unwrap();
        }
        BenchResult {
            schema: SCHEMA.into(),
            target: "postgres://app@db/<app>".into(),
            model: crate::result::ModelInfo {
                kind: "open".into(),
                target_rate: Some(100.0),
                ..Default::default()
            },
            overall: totals.summarize("all", 10.0),
            operations: vec![totals.summarize("get <user>", 10.0)],
            seconds: (1..=10)
                .map(|second| SecondResult {
                    second,
                    duration_s: 1.0,
                    target: 100.0,
                    // Second 4 finished nothing: its latency is a gap.
                    count: if second == 4 { 0 } else { 100 },
                    rate: if second == 4 { 0.0 } else { 100.0 },
                    p50_ms: 5.0,
                    p99_ms: 9.9,
                    ..Default::default()
                })
                .collect(),
            thresholds: vec![ThresholdResult {
                threshold: "p99 < 5ms".into(),
                operation: None,
                actual: 9.9,
                limit: 5.0,
                unit: "ms".into(),
                passed: false,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn the_page_is_self_contained_and_escaped() {
        let page = html(&sample());
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(!page.contains("<script"));
        // The only URL is the SVG namespace, which names and fetches nothing.
        let without_namespace = page.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        assert!(!without_namespace.contains("http://") && !without_namespace.contains("https://"));
        assert!(page.contains("get &lt;user&gt;"));
        assert!(page.contains("postgres://app@db/&lt;app&gt;"));
        assert!(page.contains("1 of 1 failed") && page.contains(">FAIL<"));
    }

    #[test]
    fn every_chart_has_data_and_empty_seconds_are_gaps() {
        let page = html(&sample());
        assert_eq!(
            page.matches("<svg").count(),
            5,
            "four time charts and the distribution"
        );
        assert!(!page.contains("no data"));
        // p50 has 9 of 10 seconds (second 4 finished nothing); the target has all 10.
        assert!(page.contains(r#"data-series="p50" data-points="9""#));
        assert!(page.contains(r#"data-series="target" data-points="10""#));
        let points = distribution_percentiles().len();
        assert!(page.contains(&format!(
            r#"data-series="get &lt;user&gt;" data-points="{points}""#
        )));
    }

    #[test]
    fn the_distribution_follows_the_histogram() {
        let result = sample();
        let points = distribution(&result.operations[0]);
        assert!(points
            .windows(2)
            .all(|w| w[0].1 <= w[1].1 && w[0].0 < w[1].0));
        let (first, last) = (points[0], points[points.len() - 1]);
        assert_eq!(first.0, 50.0);
        assert!((first.1 - 5.0).abs() < 0.01, "{first:?}");
        assert_eq!(last.0, 100.0);
        assert!((last.1 - 10.0).abs() < 0.01, "{last:?}");
        let broken = OperationResult {
            histograms: crate::result::EncodedHistograms {
                latency: "not base64!".into(),
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(distribution(&broken).is_empty());
    }

    #[test]
    fn a_closed_model_has_no_target_line_and_short_windows_no_rate() {
        let mut result = sample();
        result.model.kind = "closed".into();
        result.model.users = Some(10.0);
        // The last window of a run that ended between ticks: too short for a rate.
        result.seconds.push(SecondResult {
            second: 11,
            duration_s: 0.1,
            count: 3,
            ..Default::default()
        });
        let page = html(&result);
        assert!(page.contains(">Achieved rate</text>"), "{page}");
        assert!(!page.contains(r#"data-series="target""#));
        assert!(page.contains(r#"data-series="achieved" data-points="10""#));
        assert!(page.contains("closed model, up to 10 users"));
    }
}
