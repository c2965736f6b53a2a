//! The JSON rendering: a stable schema, documented in `docs/json-report.md`.
//!
//! The document is the [`Report`] itself plus a header (`schema_version`, `tool`, `version`)
//! and a `summary`. Adding a field is a compatible change; renaming or removing one bumps
//! [`SCHEMA_VERSION`].

use serde::Serialize;

use crate::{Report, Summary};

/// Bumped on any incompatible change to the JSON document.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    tool: &'static str,
    version: &'static str,
    summary: Summary,
    #[serde(flatten)]
    report: &'a Report,
}

/// Renders `report` as pretty-printed JSON, ending in a newline.
pub fn render_json(report: &Report) -> String {
    let document = Document {
        schema_version: SCHEMA_VERSION,
        tool: "brisk",
        version: env!("CARGO_PKG_VERSION"),
        summary: report.summary(),
        report,
    };
    // Serializing plain structs of strings and finite numbers cannot fail; non-finite
    // numbers become `null`, which the schema allows.
    let mut text = serde_json::to_string_pretty(&document)
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Evidence, Finding, Fix, Severity, Target, Unit};

    #[test]
    fn document_has_header_summary_and_findings() {
        let mut report = Report::new("check", Target::new("postgresql", "postgres://h/db"));
        report.checks_run.push("index.unused".into());
        report.findings.push(
            Finding::new("index.unused", Severity::Warning, "public.i", "unused")
                .evidence(Evidence::new("size", 8192.0, Unit::Bytes))
                .fix(Fix::sql("DROP INDEX CONCURRENTLY public.i;").rollback("CREATE INDEX ...")),
        );
        let value: serde_json::Value = serde_json::from_str(&render_json(&report)).unwrap();
        assert_eq!(value["schema_version"], 1);
        assert_eq!(value["tool"], "brisk");
        assert_eq!(value["command"], "check");
        assert_eq!(value["summary"]["warning"], 1);
        let finding = &value["findings"][0];
        assert_eq!(finding["severity"], "warning");
        assert_eq!(finding["evidence"][0]["unit"], "bytes");
        assert_eq!(finding["evidence"][0]["value"], 8192.0);
        assert_eq!(finding["fix"]["kind"], "sql");
        assert!(finding.get("impact").is_none());
    }

    #[test]
    fn report_round_trips() {
        let mut report = Report::new("check", Target::new("postgresql", "x"));
        report.findings.push(
            Finding::new("a.b", Severity::Info, "s", "t").estimated(Evidence::new(
                "wasted",
                1.0,
                Unit::Bytes,
            )),
        );
        let text = render_json(&report);
        let back: Report = serde_json::from_str(&text).unwrap();
        assert_eq!(back, report);
    }
}
