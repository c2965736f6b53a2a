//! `brisk lint` on real files and standard input.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::brisk;

/// `brisk lint --format json` plus `args`, which must exit with `code`; returns the report.
fn lint_json(args: &[&str], code: i32) -> serde_json::Value {
    let mut all = vec!["lint", "--format", "json"];
    all.extend_from_slice(args);
    let output = brisk(&all);
    assert_eq!(
        output.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// `brisk lint` plus `args` as text: its exit code and what it printed.
fn lint_text(args: &[&str]) -> (Option<i32>, String) {
    let mut all = vec!["lint"];
    all.extend_from_slice(args);
    let output = brisk(&all);
    (
        output.status.code(),
        String::from_utf8(output.stdout).unwrap(),
    )
}

fn write_sql(dir: &tempfile::TempDir, name: &str, sql: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, sql).unwrap();
    path.display().to_string()
}

#[test]
fn a_file_of_anti_patterns_gets_a_finding_each_with_line_and_rewrite() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_sql(
        &dir,
        "app.sql",
        "-- the list page\nSELECT * FROM conversations WHERE user_id = 42 ORDER BY id LIMIT 20 OFFSET 4000;\n\
         SELECT id FROM users WHERE lower(email) = 'ann@example.com';\n\
         DELETE FROM sessions;\n",
    );
    // The DELETE without WHERE is critical: the run fails.
    let report = lint_json(&[&file], 1);
    let found: Vec<(String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["check"].as_str().unwrap().to_string(),
                f["subject"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expect = |check: &str, line: &str| {
        assert!(
            found
                .iter()
                .any(|(c, s)| c == check && s.starts_with(&format!("{file}:{line}:"))),
            "{check} at line {line} in {found:?}"
        );
    };
    expect("sql.write_without_where", "4");
    expect("sql.select_star", "2");
    expect("sql.large_offset", "2");
    expect("sql.function_on_column", "3");
    let offset = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "sql.large_offset")
        .unwrap();
    assert_eq!(
        offset["fix"]["apply"],
        "SELECT * FROM conversations WHERE user_id = 42 AND id > $1 ORDER BY id LIMIT 20"
    );
    // The query is shown normalized.
    assert!(offset["query"].as_str().unwrap().contains("user_id = $1"));
    assert_eq!(report["command"], "lint");
}

#[test]
fn standard_input_is_linted() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_brisk"))
        .args(["lint", "-", "--format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"UPDATE accounts SET balance = 0;")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["findings"][0]["check"], "sql.write_without_where");
    assert_eq!(report["findings"][0]["subject"], "<stdin>:1:1");
}

#[test]
fn invalid_sql_is_a_finding_with_its_position_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_sql(&dir, "bad.sql", "SELECT 1;\nSELECT id FROM WHERE x = 1;\n");
    let report = lint_json(&[&file], 1);
    let error = &report["findings"][0];
    assert_eq!(error["check"], "sql.syntax_error");
    assert_eq!(error["severity"], "critical");
    assert_eq!(error["subject"], format!("{file}:2:16"));
    assert!(error["title"]
        .as_str()
        .unwrap()
        .contains("syntax error at or near \"WHERE\""));
}

#[test]
fn a_syntax_error_or_a_critical_finding_fails_unless_fail_on_none() {
    let dir = tempfile::tempdir().unwrap();
    let broken = write_sql(&dir, "broken.sql", "SELEC 1;");
    let critical = write_sql(&dir, "critical.sql", "DELETE FROM sessions;");
    let warning = write_sql(&dir, "warning.sql", "SELECT * FROM users;");
    assert_eq!(brisk(&["lint", &broken]).status.code(), Some(1));
    assert_eq!(brisk(&["lint", &critical]).status.code(), Some(1));
    // A warning alone does not fail by default, as in eslint.
    assert_eq!(brisk(&["lint", &warning]).status.code(), Some(0));
    for file in [&broken, &critical] {
        assert_eq!(
            brisk(&["lint", file, "--fail-on", "none"]).status.code(),
            Some(0),
            "--fail-on none never fails"
        );
    }
}

#[test]
fn text_output_counts_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let alone = write_sql(&dir, "alone.sql", "SELEC 1;");
    let (code, text) = lint_text(&[&alone]);
    assert_eq!(code, Some(1));
    assert!(text.contains("1 statement in 1 file linted."), "{text}");
    assert!(text.contains("10 rules ran"), "{text}");
    assert!(!text.contains("checks"), "{text}");
    // The only statement failed to parse: nothing else was linted, and it does not say so.
    assert!(!text.contains("other"), "{text}");

    let among = write_sql(&dir, "among.sql", "SELECT 1;\nSELEC 2;\n");
    let (_, text) = lint_text(&[&alone, &among, "--format", "json"]);
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["notes"][0], "3 statements in 2 files linted.");
    let detail = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["subject"] == format!("{among}:2:1"))
        .unwrap()["detail"]
        .as_str()
        .unwrap();
    assert!(
        detail.ends_with(&format!(
            "The other 1 statement of {among} was still linted."
        )),
        "{detail}"
    );
}

#[test]
fn clean_sql_passes_fail_on() {
    let dir = tempfile::tempdir().unwrap();
    let clean = write_sql(&dir, "ok.sql", "SELECT id FROM users WHERE id = $1;");
    let dirty = write_sql(&dir, "no.sql", "SELECT * FROM users;");
    assert_eq!(
        brisk(&["lint", &clean, "--fail-on", "warning"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        brisk(&["lint", &dirty, "--fail-on", "warning"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        brisk(&[
            "lint",
            &dirty,
            "--fail-on",
            "warning",
            "--skip",
            "select_star"
        ])
        .status
        .code(),
        Some(0)
    );
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let missing = brisk(&["lint", "/no/such/file.sql"]);
    assert_eq!(missing.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot read /no/such/file.sql"), "{stderr}");

    let unknown = brisk(&["lint", "-", "--skip", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no such rule"));
}

#[test]
fn list_rules_names_every_rule() {
    let output = brisk(&["lint", "--list-rules"]);
    assert!(output.status.success());
    // Nine rules over the parse tree, and the syntax check (tests/cli.rs holds the count
    // against the "N rules ran" line).
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 10);
}
