//! The doctor's outputs: the text summary, `report.md`, `report.html` (one file, no
//! network), `report.json` and the numbered migration files.

use std::fmt::Write;
use std::path::Path;

use brisk_report::{format_value, FixKind};
use serde::Serialize;

use crate::cache::CacheMeasured;
use crate::measure::{shorten, Figures};
use crate::merge::{Applicable, DoctorFinding};
use crate::redis_fix::RedisFix;
use crate::{Doctor, DoctorError};

/// One migration file: its name in `migrations/` and its text.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationFile {
    pub file_name: String,
    pub contents: String,
}

/// A numbered `up` and `down` file for every fix that is SQL with a rollback, in the
/// report's order.
pub fn migrations(findings: &[DoctorFinding]) -> Vec<MigrationFile> {
    let mut files = Vec::new();
    let mut number = 0;
    for f in findings {
        let (up, down) = match (&f.applicable, &f.fix) {
            (Some(applicable), _) => applicable.sql(),
            (None, Some(fix)) if fix.kind == FixKind::Sql => match &fix.rollback {
                Some(rollback) => (fix.apply.clone(), rollback.clone()),
                None => continue,
            },
            _ => continue,
        };
        number += 1;
        let slug = slug(&f.check, &f.subject);
        let concurrently = up.contains("CONCURRENTLY") || down.contains("CONCURRENTLY");
        let header = format!(
            "-- brisk doctor {number:03}: {} on {}\n-- {}\n{}",
            f.check,
            f.subject,
            f.title,
            if concurrently {
                "-- No transaction block: CONCURRENTLY cannot run inside one; run this file on its own (psql -f).\n"
            } else {
                ""
            }
        );
        files.push(MigrationFile {
            file_name: format!("{number:03}_{slug}.up.sql"),
            contents: format!("{header}{}\n", up.trim_end()),
        });
        files.push(MigrationFile {
            file_name: format!("{number:03}_{slug}.down.sql"),
            contents: format!("{header}-- Rollback.\n{}\n", down.trim_end()),
        });
    }
    files
}

/// For each cache rule, `NNN_proxy_cache_<fingerprint>.up.toml` (the config snippet, and
/// the admin console's command that does the same without a restart) and `.down.toml` (its
/// removal: `UNCACHE`), numbered after the SQL migrations (`after` of them).
pub fn cache_migrations(cache: &CacheMeasured, after: usize) -> Vec<MigrationFile> {
    let mut files = Vec::new();
    for (i, rule) in cache.rules.iter().enumerate() {
        let number = after + i + 1;
        let fp = &rule.fingerprint;
        let header = format!(
            "# brisk doctor {number:03}: proxy cache rule for {fp} (ttl {} s)\n# {}\n",
            rule.ttl_s,
            shorten(&rule.query, 100)
        );
        files.push(MigrationFile {
            file_name: format!("{number:03}_proxy_cache_{fp}.up.toml"),
            contents: format!(
                "{header}# Add to brisk proxy's config (read at start), or run on its admin console\n# without a restart: CACHE {fp} {ttl}\n[cache]\nenabled = true\n\n[cache.shapes]\n\"{fp}\" = {ttl}\n",
                ttl = rule.ttl_s
            ),
        });
        files.push(MigrationFile {
            file_name: format!("{number:03}_proxy_cache_{fp}.down.toml"),
            contents: format!(
                "{header}# Rollback: remove the line \"{fp}\" = {ttl} from [cache.shapes] and restart brisk proxy,\n# or run on its admin console: UNCACHE {fp}\n",
                ttl = rule.ttl_s
            ),
        });
    }
    files
}

/// For each pattern given a TTL, `NNN_redis_ttl_<pattern>.up.sh` (what was run: `brisk
/// cleanup --set-ttl`) and `.down.sh` (PERSIST on the pattern's keys), numbered after
/// `after` migrations.
pub fn redis_migrations(fixes: &[RedisFix], after: usize) -> Vec<MigrationFile> {
    let mut files = Vec::new();
    for (i, fix) in fixes.iter().enumerate() {
        let number = after + i + 1;
        let slug = slug("redis_ttl", &fix.pattern);
        let pattern = fix.pattern.replace('\'', "'\\''");
        let header = format!(
            "#!/bin/sh\n# brisk doctor {number:03}: a TTL of {} s for the keys of {} that had none\n# REDIS_URL: the Redis (redis://host:6379).\n",
            fix.ttl_s, fix.pattern
        );
        files.push(MigrationFile {
            file_name: format!("{number:03}_{slug}.up.sh"),
            contents: format!(
                "{header}brisk cleanup \"$REDIS_URL\" --pattern '{pattern}' --set-ttl {}s --apply\n",
                fix.ttl_s
            ),
        });
        files.push(MigrationFile {
            file_name: format!("{number:03}_{slug}.down.sh"),
            contents: format!(
                "{header}# Rollback: PERSIST every key of the pattern. It also removes TTLs the application set\n# on these keys since; they had none before.\nredis-cli -u \"$REDIS_URL\" --scan --pattern '{pattern}' | xargs -r -n 100 redis-cli -u \"$REDIS_URL\" PERSIST >/dev/null\n"
            ),
        });
    }
    files
}

fn slug(check: &str, subject: &str) -> String {
    let mut out = String::new();
    for c in format!("{check}_{subject}").chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').chars().take(60).collect()
}

/// One row of the summary: what was slow, what changed, before, after.
pub struct SummaryRow {
    pub slow: String,
    pub changed: String,
    pub before: String,
    pub after: String,
    pub basis: &'static str,
}

/// The summary table: per applied fix, the statements it sped up, measured; then the fixes
/// with an estimated saving only.
pub fn summary_rows(doctor: &Doctor) -> Vec<SummaryRow> {
    let mut rows = Vec::new();
    for f in &doctor.findings {
        let applied = doctor
            .applied
            .iter()
            .any(|a| a.error.is_none() && a.check == f.check && a.subject == f.subject);
        let changed = match &f.applicable {
            Some(Applicable::Index { .. }) => format!("index {}", f.subject),
            Some(Applicable::RoleSetting {
                role,
                setting,
                value,
                ..
            }) => {
                format!("ALTER ROLE {role} SET {setting} = '{value}'")
            }
            None => f.title.clone(),
        };
        let bench_rows: Vec<_> = doctor
            .bench
            .iter()
            .flat_map(|b| &b.rows)
            .filter(|r| {
                r.fingerprint
                    .as_ref()
                    .is_some_and(|fp| f.helps.contains(fp))
            })
            .collect();
        if applied && !bench_rows.is_empty() {
            for r in bench_rows {
                rows.push(SummaryRow {
                    slow: shorten(&r.query, 70),
                    changed: changed.clone(),
                    before: latency(&r.before),
                    after: latency(&r.after),
                    basis: "measured",
                });
            }
        } else if let Some(saving) = &f.saving {
            let what = match f.query.as_deref() {
                // The finding's subject is the statement whose rows drive the loop: both.
                Some(q) if f.check.ends_with("n_plus_one") => format!(
                    "{} once per row of {}",
                    shorten(q, 60),
                    shorten(&f.subject, 60)
                ),
                Some(q) => shorten(q, 70),
                None => f.subject.clone(),
            };
            rows.push(SummaryRow {
                slow: what,
                changed: shorten(&changed, 70),
                before: "-".to_string(),
                after: format!("{} less over the workload", ms(saving.ms)),
                basis: "estimated",
            });
        }
    }
    for fix in &doctor.redis_fixes {
        let memory = |m: Option<u64>| {
            m.map_or_else(String::new, |b| {
                format!(" · used_memory {}", brisk_report::format_bytes(b as f64))
            })
        };
        rows.push(SummaryRow {
            slow: format!("Redis keys {} without a TTL", fix.pattern),
            changed: format!("EXPIRE {} s on the keys without one", fix.ttl_s),
            before: format!(
                "{} of {} keys without TTL · {}{}",
                fix.without_ttl_before,
                fix.keys,
                brisk_report::format_bytes(fix.bytes_before as f64),
                memory(fix.used_memory_before)
            ),
            after: format!(
                "{} without TTL · {}{}",
                fix.without_ttl_after,
                brisk_report::format_bytes(fix.bytes_after as f64),
                memory(fix.used_memory_after)
            ),
            basis: "measured",
        });
    }
    for rule in doctor.cache.iter().flat_map(|c| &c.rules) {
        rows.push(SummaryRow {
            slow: shorten(&rule.query, 70),
            changed: format!(
                "proxy cache rule for {} (ttl {} s)",
                rule.fingerprint, rule.ttl_s
            ),
            before: latency(&rule.before),
            after: format!(
                "{} · {:.0}% hits",
                latency(&rule.after),
                rule.hit_ratio * 100.0
            ),
            basis: "measured",
        });
    }
    rows
}

/// The cache step in sentences: what was benched through the proxy, and what was refused.
fn cache_lines(cache: &CacheMeasured) -> Vec<String> {
    let mut lines = vec![if cache.rules.is_empty() {
        format!(
            "A brisk proxy with its result cache on, started in front of the database the fixes were built on: the bench through it uncached ({} users, {:.0} s), then SHOW CACHE CANDIDATES. No cacheable shape of the bench took {} or more on average through the proxy, so none was opted in: a hit would save next to nothing.",
            cache.users,
            cache.duration_s,
            ms(crate::cache::MIN_MEAN_MS)
        )
    } else {
        format!(
            "A brisk proxy with its result cache on, started in front of the database the fixes were built on: the bench through it uncached ({} users, {:.0} s), SHOW CACHE CANDIDATES, the {} cacheable shape{} that would save the most time opted in (ttl {} s), the same bench again. Each run repeats the workload's values, so the hit ratio is an upper bound for an application's.",
            cache.users,
            cache.duration_s,
            cache.rules.len(),
            if cache.rules.len() == 1 { "" } else { "s" },
            crate::cache::TTL_SECS
        )
    }];
    for rule in &cache.rules {
        lines.push(format!(
            "Cached {}: {} hits, {} misses ({:.0}%); mean {} → {} (measured).",
            rule.fingerprint,
            rule.hits,
            rule.misses,
            rule.hit_ratio * 100.0,
            ms(rule.before.mean_ms),
            ms(rule.after.mean_ms)
        ));
    }
    for shape in &cache.refused {
        lines.push(format!(
            "Not cached, the cache refuses it: {} ({}): {}",
            shorten(&shape.query, 80),
            shape.fingerprint,
            shape.reason
        ));
    }
    lines
}

fn latency(f: &Figures) -> String {
    format!(
        "p50 {} · p95 {} · {:.0}/s",
        ms(f.p50_ms),
        ms(f.p95_ms),
        f.rate_per_sec
    )
}

fn ms(value: f64) -> String {
    if value.abs() >= 1000.0 {
        format!("{:.2} s", value / 1000.0)
    } else if value.abs() >= 10.0 {
        format!("{value:.0} ms")
    } else {
        format!("{value:.2} ms")
    }
}

fn saving_text(f: &DoctorFinding) -> String {
    match &f.saving {
        Some(s) if s.ms < 0.0 => format!("{} lost ({})", ms(-s.ms), s.basis.as_str()),
        Some(s) => format!("{} saved ({})", ms(s.ms), s.basis.as_str()),
        None => "not quantified".to_string(),
    }
}

/// The terminal summary.
pub fn text(doctor: &Doctor, report_path: Option<&Path>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "brisk doctor: {}", doctor.target);
    if let Some(redis) = &doctor.redis {
        let _ = writeln!(out, "  redis: {redis}");
    }
    let _ = writeln!(
        out,
        "  {} findings ({} warning or worse), {} fixes applied{}, {:.1} s\n",
        doctor.findings.len(),
        doctor.problems(),
        doctor.applied.iter().filter(|a| a.error.is_none()).count(),
        doctor
            .verified_on
            .as_deref()
            .map(|t| format!(" on {t}"))
            .unwrap_or_default(),
        doctor.elapsed_secs
    );
    let rows = summary_rows(doctor);
    if !rows.is_empty() {
        let _ = writeln!(out, "What was slow → what changed → before → after");
        for r in &rows {
            let _ = writeln!(
                out,
                "  {}\n    → {}\n    → {}\n    → {}  [{}]",
                r.slow, r.changed, r.before, r.after, r.basis
            );
        }
        out.push('\n');
    }
    if let Some(bench) = &doctor.bench {
        let _ = writeln!(
            out,
            "Bench ({} users, {:.0} s each run, same seed): all statements {} → {}\n",
            bench.users,
            bench.duration_s,
            latency(&bench.overall_before),
            latency(&bench.overall_after)
        );
    }
    if let Some(cache) = &doctor.cache {
        let _ = writeln!(out, "Proxy cache rules:");
        for line in cache_lines(cache) {
            let _ = writeln!(out, "  {line}");
        }
        out.push('\n');
    }
    let _ = writeln!(out, "Findings, largest saving first:");
    for (i, f) in doctor.findings.iter().enumerate() {
        let also = if f.also.is_empty() {
            String::new()
        } else {
            format!(" (also {})", f.also.join(", "))
        };
        let _ = writeln!(
            out,
            "  {:>2}. [{}] {} {}{}: {} — {}",
            i + 1,
            f.severity.as_str(),
            f.check,
            f.subject,
            also,
            f.title,
            saving_text(f)
        );
    }
    for note in &doctor.notes {
        let _ = writeln!(out, "\nNote: {note}");
    }
    if let Some(path) = report_path {
        let _ = writeln!(out, "\nReport: {}", path.display());
    }
    out
}

/// `report.md`, for a pull request or a wiki.
pub fn markdown(doctor: &Doctor) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# brisk doctor: {}\n", doctor.target);
    for note in &doctor.notes {
        let _ = writeln!(out, "> {note}\n");
    }
    let rows = summary_rows(doctor);
    if !rows.is_empty() {
        let _ = writeln!(out, "## Summary\n\n| What was slow | What changed | Before | After | |\n| --- | --- | --- | --- | --- |");
        for r in &rows {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} |",
                md_cell(&r.slow),
                md_cell(&r.changed),
                r.before,
                r.after,
                r.basis
            );
        }
        out.push('\n');
    }
    if let Some(bench) = &doctor.bench {
        let _ = writeln!(out, "## Bench, per statement (measured)\n\n{} users, {:.0} s per run, seed {}. Latency in ms, throughput in operations per second.\n", bench.users, bench.duration_s, bench.seed);
        let _ = writeln!(out, "| | Statement | Calls | p50 before → after | p95 before → after | p99 before → after | /s before → after |\n| --- | --- | ---: | ---: | ---: | ---: | ---: |");
        for r in &bench.rows {
            let _ = writeln!(
                out,
                "| {} | `{}` | {:.0} | {:.2} → {:.2} | {:.2} → {:.2} | {:.2} → {:.2} | {:.1} → {:.1} |",
                r.name,
                md_cell(&shorten(&r.query, 80)),
                r.calls,
                r.before.p50_ms,
                r.after.p50_ms,
                r.before.p95_ms,
                r.after.p95_ms,
                r.before.p99_ms,
                r.after.p99_ms,
                r.before.rate_per_sec,
                r.after.rate_per_sec
            );
        }
        out.push('\n');
    }
    if let Some(cache) = &doctor.cache {
        let _ = writeln!(out, "## Proxy cache rules\n");
        for line in cache_lines(cache) {
            let _ = writeln!(out, "- {}", md_cell(&line));
        }
        out.push('\n');
    }
    let _ = writeln!(out, "## Findings, largest saving first\n");
    for (i, f) in doctor.findings.iter().enumerate() {
        let _ = writeln!(out, "### {}. {} — {}\n", i + 1, f.check, md_cell(&f.title));
        let _ = writeln!(
            out,
            "- Subject: `{}`\n- Severity: {}\n- Reported by: {}{}\n- Saving: {}",
            md_cell(&f.subject),
            f.severity.as_str(),
            f.sources.join(", "),
            if f.also.is_empty() {
                String::new()
            } else {
                format!(" (folded in: {})", f.also.join(", "))
            },
            saving_text(f)
        );
        if let Some(s) = &f.saving {
            let _ = writeln!(out, "  ({})", s.how);
        }
        for e in &f.evidence {
            let _ = writeln!(out, "- {}: {}", e.name, format_value(e.value, e.unit));
        }
        if let Some(detail) = &f.detail {
            let _ = writeln!(out, "\n{detail}");
        }
        if let Some(q) = &f.query {
            let _ = writeln!(out, "\n```sql\n{q}\n```");
        }
        if let Some(fix) = &f.fix {
            let _ = writeln!(out, "\nFix:\n\n```sql\n{}\n```", fix.apply);
            if let Some(rb) = &fix.rollback {
                let _ = writeln!(out, "\nRollback:\n\n```sql\n{rb}\n```");
            }
        }
        out.push('\n');
    }
    let _ = writeln!(out, "## Machine and versions\n");
    environment_lines(doctor, |k, v| {
        let _ = writeln!(out, "- {k}: {v}");
    });
    out
}

fn environment_lines(doctor: &Doctor, mut line: impl FnMut(&str, String)) {
    let e = &doctor.environment;
    line("brisk", e.brisk_version.clone());
    line(
        "PostgreSQL",
        e.postgresql.clone().unwrap_or_else(|| "?".into()),
    );
    if let Some(redis) = &e.redis {
        line("Redis", redis.clone());
    }
    line("OS", e.os.clone());
    line("CPUs", e.cpus.to_string());
    if let Some(ram) = e.ram_bytes {
        line("RAM", brisk_report::format_bytes(ram as f64));
    }
    line("Took", format!("{:.1} s", doctor.elapsed_secs));
}

fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `report.html`: one file, styles inline, no script and nothing fetched.
pub fn html(doctor: &Doctor) -> String {
    let e = html_escape;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>brisk doctor: {}</title><style>{CSS}</style></head><body>\n\
         <h1>brisk doctor</h1><p class=\"target\">{}</p>\n",
        e(&doctor.target),
        e(&doctor.target)
    );
    for note in &doctor.notes {
        let _ = writeln!(out, "<p class=\"note\">{}</p>", e(note));
    }
    let rows = summary_rows(doctor);
    let _ = writeln!(
        out,
        "<h2>What was slow → what changed → before → after</h2>"
    );
    if rows.is_empty() {
        let _ = writeln!(out, "<p>Nothing was changed.</p>");
    } else {
        let _ = writeln!(out, "<table id=\"summary\"><thead><tr><th>What was slow</th><th>What changed</th><th>Before</th><th>After</th><th></th></tr></thead><tbody>");
        for r in &rows {
            let _ = writeln!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
                e(&r.slow),
                e(&r.changed),
                e(&r.before),
                e(&r.after),
                r.basis,
                r.basis
            );
        }
        let _ = writeln!(out, "</tbody></table>");
    }
    if let Some(bench) = &doctor.bench {
        let _ = writeln!(out, "<h2>Bench, per statement (measured)</h2><p>{} users, {:.0} s per run, seed {}. Latency in milliseconds, throughput in operations per second.</p>", bench.users, bench.duration_s, bench.seed);
        out.push_str(&crate::render::charts(bench));
        let _ = writeln!(out, "<table id=\"bench\"><thead><tr><th></th><th>Statement</th><th>Calls</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>ops/s</th></tr></thead><tbody>");
        for r in &bench.rows {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td><code>{}</code></td><td>{:.0}</td><td>{:.2} → {:.2}</td><td>{:.2} → {:.2}</td><td>{:.2} → {:.2}</td><td>{:.1} → {:.1}</td></tr>",
                e(&r.name),
                e(&shorten(&r.query, 90)),
                r.calls,
                r.before.p50_ms,
                r.after.p50_ms,
                r.before.p95_ms,
                r.after.p95_ms,
                r.before.p99_ms,
                r.after.p99_ms,
                r.before.rate_per_sec,
                r.after.rate_per_sec
            );
        }
        let _ = writeln!(out, "</tbody></table>");
    }
    if let Some(cache) = &doctor.cache {
        let _ = writeln!(out, "<h2>Proxy cache rules</h2><ul id=\"cache\">");
        for line in cache_lines(cache) {
            let _ = writeln!(out, "<li>{}</li>", e(&line));
        }
        let _ = writeln!(out, "</ul>");
    }
    let _ = writeln!(out, "<h2>Findings, largest saving first</h2>");
    for (i, f) in doctor.findings.iter().enumerate() {
        let _ = writeln!(
            out,
            "<section class=\"finding {}\"><h3>{}. {} <small>{}</small></h3><p class=\"subject\"><code>{}</code> · {} · {}{}</p>",
            f.severity.as_str(),
            i + 1,
            e(&f.title),
            e(&f.check),
            e(&f.subject),
            e(&f.sources.join(", ")),
            e(&saving_text(f)),
            if f.also.is_empty() {
                String::new()
            } else {
                format!(" · folded in: {}", e(&f.also.join(", ")))
            }
        );
        if !f.evidence.is_empty() {
            out.push_str("<ul>");
            for ev in &f.evidence {
                let _ = write!(
                    out,
                    "<li>{}: {}</li>",
                    e(&ev.name),
                    e(&format_value(ev.value, ev.unit))
                );
            }
            out.push_str("</ul>\n");
        }
        if let Some(detail) = &f.detail {
            let _ = writeln!(out, "<p>{}</p>", e(detail));
        }
        if let Some(q) = &f.query {
            let _ = writeln!(out, "<pre>{}</pre>", e(q));
        }
        if let Some(fix) = &f.fix {
            let _ = writeln!(out, "<p>Fix:</p><pre>{}</pre>", e(&fix.apply));
            if let Some(rb) = &fix.rollback {
                let _ = writeln!(out, "<p>Rollback:</p><pre>{}</pre>", e(rb));
            }
        }
        out.push_str("</section>\n");
    }
    let _ = writeln!(
        out,
        "<h2>Machine and versions</h2><table id=\"environment\"><tbody>"
    );
    environment_lines(doctor, |k, v| {
        let _ = writeln!(out, "<tr><th>{}</th><td>{}</td></tr>", e(k), e(&v));
    });
    let _ = writeln!(out, "</tbody></table></body></html>");
    out
}

/// The bench charts, brisk-report's inline SVG (no script, no network): p95 per statement
/// before and after, the latency percentiles of all statements, and throughput each second.
pub fn charts(bench: &crate::BeforeAfter) -> String {
    use brisk_report::chart::{Axis, BarChart, LineChart, PercentileChart, Series};
    let rows: Vec<_> = bench.rows.iter().filter(|r| r.before.count > 0).collect();
    if rows.is_empty() {
        return String::new();
    }
    let mut p95 = BarChart::new(
        "p95 latency per statement (b: before, a: after)",
        Axis::new("p95", "ms"),
    );
    for r in &rows {
        p95 = p95
            .bar(format!("{} b", r.name), r.before.p95_ms)
            .bar(format!("{} a", r.name), r.after.p95_ms);
    }
    let percentiles = |name: &str, f: &Figures| {
        Series::new(
            name,
            vec![(50.0, f.p50_ms), (95.0, f.p95_ms), (99.0, f.p99_ms)],
        )
    };
    let distribution =
        PercentileChart::new("Latency of all statements", Axis::new("latency", "ms"))
            .series(percentiles("before", &bench.overall_before))
            .series(percentiles("after", &bench.overall_after));
    let per_second = |values: &[f64]| -> Vec<(f64, f64)> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| ((i + 1) as f64, *v))
            .collect()
    };
    let throughput = LineChart::new(
        "Throughput each second",
        Axis::new("time", "s"),
        Axis::new("rate", "ops/s"),
    )
    .series(Series::new("before", per_second(&bench.series_before)))
    .series(Series::new("after", per_second(&bench.series_after)));
    format!(
        "<div class=\"charts\">{}{}{}</div>\n",
        p95.render(),
        distribution.render(),
        throughput.render()
    )
}

const CSS: &str = "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\
table{border-collapse:collapse;margin:1em 0;width:100%}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top;font-size:14px}\
th{background:#f3f3f3}code,pre{font-family:ui-monospace,monospace;font-size:13px}pre{background:#f7f7f7;padding:8px;overflow-x:auto;white-space:pre-wrap}\
.note{background:#fffbe6;border-left:4px solid #e6c300;padding:6px 10px}.measured{color:#1a7f37;font-weight:bold}.estimated{color:#9a6700}\
.charts svg{display:block;margin:1em 0;max-width:100%;height:auto}.finding{border-top:1px solid #ddd;margin-top:1em}.finding.critical h3{color:#b00}.finding.warning h3{color:#9a6700}small{color:#666;font-weight:normal}";

/// Writes `report.html`, `report.md`, `report.json` and `migrations/` into `dir`.
pub fn write_all(doctor: &Doctor, dir: &Path) -> Result<(), DoctorError> {
    let io = |what: &str| DoctorError::io(format!("writing {what} in {}", dir.display()));
    let migrations = dir.join("migrations");
    std::fs::create_dir_all(&migrations).map_err(io("migrations/"))?;
    // Files an earlier run wrote (and only those) go, so the numbers are this run's.
    for entry in std::fs::read_dir(&migrations)
        .map_err(io("migrations/"))?
        .flatten()
    {
        let path = entry.path();
        let ours = std::fs::read_to_string(&path).is_ok_and(|t| {
            t.starts_with("-- brisk doctor ")
                || t.starts_with("# brisk doctor ")
                || t.starts_with("#!/bin/sh\n# brisk doctor ")
        });
        if ours {
            std::fs::remove_file(&path).map_err(io("an old migration file"))?;
        }
    }
    std::fs::write(dir.join("report.html"), html(doctor)).map_err(io("report.html"))?;
    std::fs::write(dir.join("report.md"), markdown(doctor)).map_err(io("report.md"))?;
    std::fs::write(dir.join("report.json"), json(doctor)).map_err(io("report.json"))?;
    for file in &doctor.migrations {
        std::fs::write(dir.join("migrations").join(&file.file_name), &file.contents)
            .map_err(io(&file.file_name))?;
    }
    Ok(())
}

/// `report.json` (`docs/doctor.md`).
pub fn json(doctor: &Doctor) -> String {
    serde_json::to_string_pretty(doctor).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
