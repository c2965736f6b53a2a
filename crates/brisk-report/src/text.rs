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
#[derive(Debug, Clone, Copy)]
pub struct TextOptions {
    /// Show at most this many findings of one check in one severity group; the rest are
    /// counted in one line. `None` shows all. A schema with thousands of unused indexes
    /// stays readable; JSON always carries everything.
    pub max_per_check: Option<usize>,
    /// Lines are wrapped to this many columns (the terminal's width, for the caller to
    /// find out). Words longer than a line, such as URLs, stay whole.
    pub width: usize,
}

/// The width when the caller knows none: what fits a terminal of 100 columns, the width
/// `--help` uses.
pub const DEFAULT_WIDTH: usize = 100;

/// Lines never get narrower than this, however narrow the terminal: below it, the labels
/// leave no room for text.
const MIN_WIDTH: usize = 50;

impl Default for TextOptions {
    fn default() -> Self {
        TextOptions {
            max_per_check: None,
            width: DEFAULT_WIDTH,
        }
    }
}

/// Renders `report` for a terminal with every finding shown.
pub fn render_text(report: &Report) -> String {
    render_text_with(report, TextOptions::default())
}

/// Renders `report` for a terminal: a header, findings grouped by severity (most severe
/// first), then a summary line.
pub fn render_text_with(report: &Report, options: TextOptions) -> String {
    let width = options.width.max(MIN_WIDTH);
    let mut out = String::new();
    let mut header = format!("brisk {}  {}", report.command, report.target.address);
    if let Some(version) = &report.target.version {
        header.push_str(&format!("  ({version})"));
    }
    let _ = writeln!(out, "{BOLD}{header}{BOLD:#}");
    if let Some(coverage) = &report.coverage {
        for line in wrap(&format!("{coverage}."), width) {
            let _ = writeln!(out, "{BOLD}{line}{BOLD:#}");
        }
    }
    for note in &report.notes {
        for line in wrap(note, width) {
            let _ = writeln!(out, "{DIM}{line}{DIM:#}");
        }
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
            render_finding(&mut out, finding, width);
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
            let text = format!("{}: {}", skipped.check, skipped.reason);
            for (i, line) in wrap(&text, width - 4).iter().enumerate() {
                let bullet = if i == 0 { "  - " } else { "    " };
                let _ = writeln!(out, "{bullet}{line}");
            }
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

/// Where the text of a finding starts, and where a labeled block's text starts.
const INDENT: usize = 4;
const LABELED: usize = INDENT + 10;

fn render_finding(out: &mut String, finding: &Finding, width: usize) {
    let style = severity_style(finding.severity);
    let marker = marker(finding.severity);
    let origin = format!("{} · {}", finding.check, finding.subject);
    // The title and its origin share a line when they fit; otherwise the title wraps and
    // the origin gets a line of its own.
    let title_line = 4 + finding.title.chars().count() + 2 + origin.chars().count();
    if title_line <= width {
        let _ = writeln!(
            out,
            "\n  {style}{marker}{style:#} {BOLD}{}{BOLD:#}  {DIM}{origin}{DIM:#}",
            finding.title
        );
    } else {
        let mut lines = wrap(&finding.title, width - INDENT).into_iter();
        let first = lines.next().unwrap_or_default();
        let _ = writeln!(out, "\n  {style}{marker}{style:#} {BOLD}{first}{BOLD:#}");
        for line in lines {
            let _ = writeln!(out, "    {BOLD}{line}{BOLD:#}");
        }
        let _ = writeln!(out, "    {DIM}{origin}{DIM:#}");
    }
    if let Some(detail) = &finding.detail {
        for line in wrap(detail, width - INDENT) {
            let _ = writeln!(out, "    {line}");
        }
    }
    if let Some(query) = &finding.query {
        // "    query  " is 11 columns.
        let mut pieces = wrap_sql(&one_line(query, 300), width - 11).into_iter();
        let first = pieces.next().unwrap_or_default();
        let _ = writeln!(out, "    {DIM}query{DIM:#}  {first}");
        for piece in pieces {
            let _ = writeln!(out, "             {piece}");
        }
    }
    // One column for the names of measured and estimated figures alike, so they line up.
    let (estimated, measured) = match &finding.impact {
        Some(impact) => (&impact.estimated[..], &impact.measured[..]),
        None => (&[][..], &[][..]),
    };
    let name_width = [&finding.evidence[..], estimated, measured]
        .iter()
        .flat_map(|list| list.iter().map(|e| e.name.chars().count()))
        .max()
        .unwrap_or(0);
    render_evidence(out, &finding.evidence, None, name_width);
    render_evidence(out, estimated, Some("estimated"), name_width);
    render_evidence(out, measured, Some("measured"), name_width);
    if let Some(fix) = &finding.fix {
        render_block(out, "fix", &fix.apply, SQL, width);
        if let Some(rollback) = &fix.rollback {
            render_block(out, "rollback", rollback, Style::new(), width);
        }
        if let Some(note) = &fix.note {
            let mut lines = wrap(note, width - LABELED).into_iter();
            if let Some(first) = lines.next() {
                let _ = writeln!(out, "    {DIM}note{DIM:#}      {first}");
            }
            for line in lines {
                let _ = writeln!(out, "              {line}");
            }
        }
    }
}

fn render_evidence(out: &mut String, evidence: &[Evidence], label: Option<&str>, width: usize) {
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

/// A fix or rollback: SQL (or a sentence), one statement per line. A line too long for
/// the terminal continues on the next, indented, broken only at spaces outside quotes, so
/// that pasting it still runs the same SQL.
fn render_block(out: &mut String, label: &str, body: &str, style: Style, width: usize) {
    for (i, line) in body.lines().enumerate() {
        let prefix = if i == 0 { label } else { "" };
        let mut pieces = wrap_sql(line, width - LABELED).into_iter();
        let first = pieces.next().unwrap_or_default();
        let _ = writeln!(out, "    {DIM}{prefix:<9}{DIM:#} {style}{first}{style:#}");
        for piece in pieces {
            let _ = writeln!(out, "                {style}{piece}{style:#}");
        }
    }
}

/// Splits `line` into pieces of at most `width` characters at spaces that are outside
/// single quotes, double quotes and dollar quotes (a piece may be longer when there is no
/// such space). The pieces joined with a newline are the same SQL, since a newline is
/// whitespace wherever a space is. Continuation pieces get 2 columns less, for their indent.
fn wrap_sql(line: &str, width: usize) -> Vec<String> {
    if line.chars().count() <= width {
        return vec![line.to_string()];
    }
    // Byte offsets of the spaces where a break is allowed.
    let mut breaks = Vec::new();
    let mut quote: Option<String> = None;
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match &quote {
            Some(q) if line[i..].starts_with(q.as_str()) => {
                for _ in 1..q.chars().count() {
                    chars.next();
                }
                quote = None;
            }
            Some(_) => {}
            None => match c {
                '\'' | '"' => quote = Some(c.to_string()),
                '$' => {
                    // A dollar quote: $$ or $tag$ (not a $1 placeholder).
                    let rest = &line[i + 1..];
                    let tag_len = rest
                        .find(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
                        .unwrap_or(rest.len());
                    let tag = &rest[..tag_len];
                    let opens = rest[tag_len..].starts_with('$')
                        && !tag.starts_with(|ch: char| ch.is_ascii_digit());
                    if opens {
                        let delimiter = format!("${tag}$");
                        for _ in 1..delimiter.chars().count() {
                            chars.next();
                        }
                        quote = Some(delimiter);
                    }
                }
                ' ' => breaks.push(i),
                _ => {}
            },
        }
    }
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut limit = width;
    loop {
        let rest = &line[start..];
        if rest.chars().count() <= limit {
            pieces.push(rest.to_string());
            break;
        }
        // The last allowed space that keeps the piece within the limit, else the first
        // one after it.
        let within = breaks
            .iter()
            .copied()
            .rfind(|&b| b > start && line[start..b].chars().count() <= limit);
        let Some(cut) = within.or_else(|| breaks.iter().copied().find(|&b| b > start)) else {
            pieces.push(rest.to_string());
            break;
        };
        pieces.push(line[start..cut].to_string());
        start = cut + 1;
        limit = width.saturating_sub(2).max(1);
    }
    pieces
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
                ..TextOptions::default()
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
    fn sql_wraps_only_at_spaces_outside_quotes() {
        let sql = "COMMENT ON TABLE public.events IS 'a long comment with many words in it'; SELECT $$ a b c d $$, $1 FROM \"my table\" WHERE x = 'y z'";
        for width in [10, 20, 40, 60] {
            let pieces = wrap_sql(sql, width);
            assert_eq!(pieces.join(" "), sql, "joined back at width {width}");
            for piece in &pieces {
                for quoted in [
                    "'a long comment with many words in it'",
                    "$$ a b c d $$",
                    "\"my table\"",
                    "'y z'",
                ] {
                    let start = quoted.split(' ').next().unwrap();
                    if piece.contains(start) && !start.ends_with(['\'', '"']) {
                        assert!(
                            piece.contains(quoted),
                            "{quoted} split at width {width}: {pieces:?}"
                        );
                    }
                }
            }
        }
        let pieces = wrap_sql(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS a_b_idx ON public.a (b);",
            30,
        );
        assert!(pieces[0].chars().count() <= 30, "{pieces:?}");
        assert!(
            pieces[1..].iter().all(|p| p.chars().count() <= 28),
            "{pieces:?}"
        );
        assert_eq!(wrap_sql("short", 30), ["short"]);
    }

    #[test]
    fn reports_wrap_to_the_width_and_keep_figures_aligned() {
        let mut report = Report::new("check", Target::new("postgresql", "x"));
        report.notes.push("word ".repeat(40));
        report.findings.push(
            Finding::new(
                "table.bloat",
                Severity::Warning,
                "public.events",
                "A title ".repeat(12),
            )
            .detail("detail ".repeat(40))
            .evidence(Evidence::new("table size", 2048.0, Unit::Bytes))
            .estimated(Evidence::new("wasted", 1024.0, Unit::Bytes))
            .fix(
                Fix::sql(format!("SELECT {} FROM t;", "column_name, ".repeat(12)))
                    .note("note ".repeat(30)),
            ),
        );
        for width in [60, 80, 100] {
            let text = plain(&render_text_with(
                &report,
                TextOptions {
                    max_per_check: None,
                    width,
                },
            ));
            for line in text.lines() {
                assert!(line.chars().count() <= width, "{width}: {line:?}");
            }
            let column = |name: &str| {
                let line = text
                    .lines()
                    .find(|l| l.trim_start().starts_with(name))
                    .unwrap();
                line.find(|c: char| c.is_ascii_digit()).unwrap()
            };
            assert_eq!(column("table size"), column("wasted"), "{text}");
        }
    }

    #[test]
    fn long_queries_are_cut_on_a_char_boundary() {
        let query = "é".repeat(400);
        let line = one_line(&query, 300);
        assert_eq!(line.chars().count(), 301);
    }
}
