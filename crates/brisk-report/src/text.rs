//! The terminal rendering. It always emits ANSI styles; the caller writes it through
//! `anstream`, which strips them when the output is not a terminal or `NO_COLOR` is set.

use std::fmt::Write;

use anstyle::{AnsiColor, Style};

use crate::{format_value, Evidence, Finding, Report, Severity};

const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();
const CRITICAL: Style = AnsiColor::Red.on_default().bold();
const WARNING: Style = AnsiColor::Yellow.on_default().bold();
const INFO: Style = AnsiColor::Cyan.on_default();
const SQL: Style = AnsiColor::Green.on_default();

fn severity_style(severity: Severity) -> Style {
    match severity {
        Severity::Critical => CRITICAL,
        Severity::Warning => WARNING,
        Severity::Info => INFO,
    }
}

fn marker(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "✖",
        Severity::Warning => "▲",
        Severity::Info => "•",
    }
}

/// Choices for the terminal rendering.
#[derive(Debug, Clone, Copy, Default)]
pub struct TextOptions {
    /// Show at most this many findings of one check in one severity group; the rest are
    /// counted in one line. `None` shows all. A schema with thousands of unused indexes
    /// stays readable; JSON always carries everything.
    pub max_per_check: Option<usize>,
}

/// Renders `report` for a terminal with every finding shown.
pub fn render_text(report: &Report) -> String {
    render_text_with(report, TextOptions::default())
}

/// Renders `report` for a terminal: a header, findings grouped by severity (most severe
/// first), then a summary line.
pub fn render_text_with(report: &Report, options: TextOptions) -> String {
    let mut out = String::new();
    let mut header = format!("brisk {}  {}", report.command, report.target.address);
    if let Some(version) = &report.target.version {
        header.push_str(&format!("  ({version})"));
    }
    let _ = writeln!(out, "{BOLD}{header}{BOLD:#}");
    if let Some(coverage) = &report.coverage {
        let _ = writeln!(out, "{BOLD}{coverage}.{BOLD:#}");
    }
    for note in &report.notes {
        let _ = writeln!(out, "{DIM}{note}{DIM:#}");
    }

    for severity in [Severity::Critical, Severity::Warning, Severity::Info] {
        let group: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.severity == severity)
            .collect();
        if group.is_empty() {
            continue;
        }
        let style = severity_style(severity);
        let _ = writeln!(
            out,
            "\n{style}{} ({}){style:#}",
            severity.as_str().to_uppercase(),
            group.len()
        );
        let mut shown: Vec<(&str, usize)> = Vec::new();
        let mut hidden: Vec<(&str, usize)> = Vec::new();
        for finding in group {
            let check = finding.check.as_str();
            let count = match shown.iter_mut().find(|(c, _)| *c == check) {
                Some((_, n)) => {
                    *n += 1;
                    *n
                }
                None => {
                    shown.push((check, 1));
                    1
                }
            };
            if options.max_per_check.is_some_and(|max| count > max) {
                match hidden.iter_mut().find(|(c, _)| *c == check) {
                    Some((_, n)) => *n += 1,
                    None => hidden.push((check, 1)),
                }
                continue;
            }
            render_finding(&mut out, finding);
        }
        for (check, n) in hidden {
            let _ = writeln!(
                out,
                "\n  {DIM}… and {n} more {check} findings (--limit 0 or --format json shows them all){DIM:#}"
            );
        }
    }

    if !report.skipped.is_empty() {
        let _ = writeln!(
            out,
            "\n{BOLD}NOT CHECKED ({}){BOLD:#}",
            report.skipped.len()
        );
        for skipped in &report.skipped {
            let _ = writeln!(out, "  - {}: {}", skipped.check, skipped.reason);
        }
    }

    let summary = report.summary();
    // What ran is a rule in lint's words and a check elsewhere.
    let (one, many) = if report.command == "lint" {
        ("rule", "rules")
    } else {
        ("check", "checks")
    };
    let ran = report.checks_run.len();
    let _ = writeln!(
        out,
        "\n{BOLD}{} critical, {} warning, {} info{BOLD:#} · {ran} {} ran, {} not checked",
        summary.critical,
        summary.warning,
        summary.info,
        if ran == 1 { one } else { many },
        report.skipped.len()
    );
    if report.findings.is_empty() {
        let _ = writeln!(out, "Nothing to report.");
    }
    out
}

fn render_finding(out: &mut String, finding: &Finding) {
    let style = severity_style(finding.severity);
    let _ = writeln!(
        out,
        "\n  {style}{}{style:#} {BOLD}{}{BOLD:#}  {DIM}{} · {}{DIM:#}",
        marker(finding.severity),
        finding.title,
        finding.check,
        finding.subject
    );
    if let Some(detail) = &finding.detail {
        for line in wrap(detail, 88) {
            let _ = writeln!(out, "    {line}");
        }
    }
    if let Some(query) = &finding.query {
        let _ = writeln!(out, "    {DIM}query{DIM:#}  {}", one_line(query, 300));
    }
    render_evidence(out, &finding.evidence, None);
    if let Some(impact) = &finding.impact {
        render_evidence(out, &impact.estimated, Some("estimated"));
        render_evidence(out, &impact.measured, Some("measured"));
    }
    if let Some(fix) = &finding.fix {
        render_block(out, "fix", &fix.apply, SQL);
        if let Some(rollback) = &fix.rollback {
            render_block(out, "rollback", rollback, Style::new());
        }
        if let Some(note) = &fix.note {
            let mut lines = wrap(note, 80).into_iter();
            if let Some(first) = lines.next() {
                let _ = writeln!(out, "    {DIM}note{DIM:#}      {first}");
            }
            for line in lines {
                let _ = writeln!(out, "              {line}");
            }
        }
    }
}

fn render_evidence(out: &mut String, evidence: &[Evidence], label: Option<&str>) {
    if evidence.is_empty() {
        return;
    }
    let width = evidence.iter().map(|e| e.name.len()).max().unwrap_or(0);
    for item in evidence {
        let value = format_value(item.value, item.unit);
        match label {
            Some(label) => {
                let _ = writeln!(
                    out,
                    "    {DIM}{:<width$}{DIM:#}  {value} {DIM}({label}){DIM:#}",
                    item.name
                );
            }
            None => {
                let _ = writeln!(out, "    {DIM}{:<width$}{DIM:#}  {value}", item.name);
            }
        }
    }
}

fn render_block(out: &mut String, label: &str, body: &str, style: Style) {
    for (i, line) in body.lines().enumerate() {
        let prefix = if i == 0 { label } else { "" };
        let _ = writeln!(out, "    {DIM}{prefix:<9}{DIM:#} {style}{line}{style:#}");
    }
}

/// Collapses whitespace so a query fits on one line, cutting it at `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match collapsed.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &collapsed[..cut]),
        None => collapsed,
    }
}

/// Greedy word wrap; words longer than `width` get a line of their own.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Fix, Skipped, Target, Unit};

    fn plain(text: &str) -> String {
        anstream::adapter::strip_str(text).to_string()
    }

    #[test]
    fn groups_by_severity_most_severe_first() {
        let mut report = Report::new("check", Target::new("postgresql", "postgres://h/db"));
        report
            .findings
            .push(Finding::new("x.info", Severity::Info, "a", "an info"));
        report.findings.push(
            Finding::new("x.crit", Severity::Critical, "b", "a critical")
                .evidence(Evidence::new("used", 81.0, Unit::Percent))
                .fix(Fix::sql("ALTER TABLE b;").rollback("ALTER TABLE b back;")),
        );
        report.skipped.push(Skipped {
            check: "queries.top".into(),
            reason: "pg_stat_statements is not installed".into(),
        });
        let text = plain(&render_text(&report));
        let critical = text.find("CRITICAL (1)").unwrap();
        let info = text.find("INFO (1)").unwrap();
        assert!(critical < info);
        assert!(text.contains("used  81.0%"));
        assert!(text.contains("fix       ALTER TABLE b;"));
        assert!(text.contains("rollback  ALTER TABLE b back;"));
        assert!(text.contains("queries.top: pg_stat_statements is not installed"));
        assert!(text.contains("1 critical, 0 warning, 1 info"));
    }

    #[test]
    fn estimates_are_labeled() {
        let mut report = Report::new("check", Target::new("postgresql", "x"));
        report.findings.push(
            Finding::new("table.bloat", Severity::Warning, "t", "bloated")
                .estimated(Evidence::new("wasted", 2048.0, Unit::Bytes)),
        );
        let text = plain(&render_text(&report));
        assert!(text.contains("wasted  2.0 KiB (estimated)"), "{text}");
    }

    #[test]
    fn findings_beyond_the_limit_are_counted() {
        let mut report = Report::new("check", Target::new("postgresql", "x"));
        for i in 0..5 {
            report.findings.push(Finding::new(
                "index.unused",
                Severity::Warning,
                format!("i{i}"),
                format!("unused {i}"),
            ));
        }
        let text = plain(&render_text_with(
            &report,
            TextOptions {
                max_per_check: Some(2),
            },
        ));
        assert!(
            text.contains("unused 1") && !text.contains("unused 2"),
            "{text}"
        );
        assert!(
            text.contains("… and 3 more index.unused findings"),
            "{text}"
        );
        assert!(
            text.contains("0 critical, 5 warning"),
            "the summary counts all: {text}"
        );
    }

    #[test]
    fn the_summary_counts_what_ran_in_the_commands_words() {
        let mut report = Report::new("lint", Target::new("sql-files", "a.sql"));
        report.checks_run = vec!["sql.select_star".into()];
        assert!(plain(&render_text(&report)).contains("1 rule ran"));
        report.command = "check".into();
        report.checks_run.push("index.unused".into());
        assert!(plain(&render_text(&report)).contains("2 checks ran"));
    }

    #[test]
    fn empty_report_says_so() {
        let report = Report::new("check", Target::new("postgresql", "x"));
        assert!(plain(&render_text(&report)).contains("Nothing to report."));
    }

    #[test]
    fn long_queries_are_cut_on_a_char_boundary() {
        let query = "é".repeat(400);
        let line = one_line(&query, 300);
        assert_eq!(line.chars().count(), 301);
    }
}
