//! `brisk lint`: brisk-sql's lint issues as Findings, with file, line and column.

use brisk_report::{Finding, Fix, Report, Severity, Target};
use brisk_sql::{lint, LintSeverity, Rule};

/// The check id of a statement PostgreSQL's parser rejects.
pub const SYNTAX_ERROR: &str = "sql.syntax_error";

/// Every rule `brisk lint` applies, with what it looks for: brisk-sql's rules, then the
/// syntax check, which always runs (a statement that does not parse cannot be linted).
pub fn rules() -> impl Iterator<Item = (&'static str, &'static str)> {
    Rule::ALL
        .into_iter()
        .map(|rule| (rule.id(), rule.describe()))
        .chain([(
            SYNTAX_ERROR,
            "statements PostgreSQL's parser rejects (always applied)",
        )])
}

/// One script to lint: where it came from and its text.
pub struct LintSource {
    /// A path, or `<stdin>`.
    pub name: String,
    pub text: String,
}

/// Lints every source with every rule but `skip`, into one report.
pub fn run_lint(sources: &[LintSource], skip: &[Rule]) -> Report {
    let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
    let mut report = Report::new("lint", Target::new("sql-files", names.join(", ")));
    report.checks_run = Rule::ALL
        .iter()
        .filter(|r| !skip.contains(r))
        .map(|r| r.id().to_string())
        .chain([SYNTAX_ERROR.to_string()])
        .collect();
    let mut statements = 0;
    for source in sources {
        let outcome = lint(&source.text, skip);
        statements += outcome.statements;
        let parsed = outcome.statements.saturating_sub(outcome.errors.len());
        let others = match parsed {
            0 => String::new(),
            n => format!(
                " The other {} of {} {} still linted.",
                plural(n, "statement", "statements"),
                source.name,
                if n == 1 { "was" } else { "were" }
            ),
        };
        for error in outcome.errors {
            report.findings.push(
                Finding::new(
                    SYNTAX_ERROR,
                    Severity::Critical,
                    location(source, error.offset),
                    error.message,
                )
                .detail(format!(
                    "PostgreSQL's parser rejects this statement, so no rule could look at it.{others}"
                )),
            );
        }
        for issue in outcome.issues {
            let severity = match issue.severity {
                LintSeverity::Critical => Severity::Critical,
                LintSeverity::Warning => Severity::Warning,
            };
            let mut finding = Finding::new(
                issue.rule.id(),
                severity,
                location(source, issue.offset),
                issue.message,
            )
            .detail(issue.detail)
            .query(issue.statement);
            if let Some(rewrite) = issue.rewrite {
                finding = finding.fix(Fix::sql(rewrite));
            }
            report.findings.push(finding);
        }
    }
    report.notes.push(format!(
        "{} in {} linted.",
        plural(statements, "statement", "statements"),
        plural(sources.len(), "file", "files")
    ));
    report.sort();
    report
}

/// `1 statement`, `2 statements`.
fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `file:line:column` of a byte offset, both 1-based; columns count characters.
fn location(source: &LintSource, offset: usize) -> String {
    let offset = offset.min(source.text.len());
    let before = source.text.get(..offset).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{}:{line}:{column}", source.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_name_the_file_line_and_column() {
        let source = LintSource {
            name: "queries.sql".into(),
            text: "SELECT id FROM t;\n\nDELETE FROM sessions;\nSELEC 1;".into(),
        };
        let report = run_lint(&[source], &[]);
        let subjects: Vec<(&str, &str)> = report
            .findings
            .iter()
            .map(|f| (f.check.as_str(), f.subject.as_str()))
            .collect();
        assert_eq!(
            subjects,
            [
                ("sql.syntax_error", "queries.sql:4:1"),
                ("sql.write_without_where", "queries.sql:3:1"),
            ]
        );
        assert_eq!(report.command, "lint");
    }
}
