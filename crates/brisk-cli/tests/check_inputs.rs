//! How `brisk check` treats its inputs: bad ones get one line and exit code 2; limited
//! privileges still get every check that can run; the output formats and `--fail-on`.

mod common;

use common::{brisk, brisk_with_env, check, finding, findings, ran, Db};

/// Asserts a clean failure: exit code 2, one line on stderr that contains `needle`, no
/// panic or backtrace, nothing on stdout.
fn assert_bad_input(args: &[&str], needle: &str) -> String {
    let output = brisk(args);
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"));
    assert!(output.stdout.is_empty());
    stderr
}

#[test]
fn unreachable_host_is_one_line() {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let line = assert_bad_input(
        &["check", "postgres://app@127.0.0.1:1/app?connect_timeout=2"],
        "cannot reach PostgreSQL at postgres://app@127.0.0.1:1/app",
    );
    assert!(line.contains("refused"), "{line}");
}

#[test]
fn refused_password_is_one_line() {
    let db = Db::fresh("badpass");
    let url = db.pg.url_for("postgres", "not-the-password", &db.name);
    let line = assert_bad_input(&["check", &url], "refused the login of user \"postgres\"");
    assert!(
        !line.contains("not-the-password"),
        "the password never shows: {line}"
    );
}

#[test]
fn missing_database_is_one_line() {
    let db = Db::fresh("nodb");
    let url = db.pg.url("no_such_database");
    assert_bad_input(
        &["check", &url],
        "database \"no_such_database\" does not exist",
    );
}

#[test]
fn malformed_urls_are_one_line() {
    assert_bad_input(&["check", "postgres://app@host:notaport/db"], "port");
    assert_bad_input(&["check", "host=localhost sslmode=sometimes"], "sslmode");
    assert_bad_input(&["check", "host=localhost frobnicate=1"], "frobnicate");
    assert_bad_input(
        &["check", "mysql://app@host/db"],
        "\"mysql://\" is not a PostgreSQL URL",
    );
}

#[test]
fn unknown_skip_id_is_one_line() {
    assert_bad_input(
        &["check", "postgres://localhost/x", "--skip", "index.nope"],
        "--skip index.nope: no such check",
    );
}

#[test]
fn bad_arguments_exit_with_2() {
    let output = brisk(&["check", "--format", "yaml"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn pg_environment_variables_apply_as_in_psql() {
    let db = Db::fresh("env");
    let port = db.pg.port().to_string();
    let output = brisk_with_env(
        &["check", "--format", "json"],
        &[
            ("PGHOST", "127.0.0.1"),
            ("PGPORT", &port),
            ("PGUSER", "postgres"),
            ("PGPASSWORD", db.pg.password()),
            ("PGDATABASE", &db.name),
            ("PGSSLMODE", "disable"),
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        report["target"]["address"],
        format!("postgres://postgres@127.0.0.1:{port}/{}", db.name)
    );
}

#[test]
fn a_monitoring_role_under_read_only_transactions_gets_the_full_report() {
    let db = Db::fresh("readonly");
    db.sql(&format!(
        "CREATE TABLE audit_log (at timestamptz, action text);
         INSERT INTO audit_log SELECT now(), 'x' FROM generate_series(1, 100);
         CREATE INDEX audit_log_at ON audit_log (at);
         CREATE ROLE watcher LOGIN PASSWORD 'watch-it';
         GRANT pg_monitor TO watcher;
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO watcher;
         ALTER ROLE watcher SET default_transaction_read_only = on;
         ALTER DATABASE {} OWNER TO postgres;",
        db.name
    ));
    let url = db.pg.url_for("watcher", "watch-it", &db.name);
    let report = check(&url, &[]);
    assert!(
        report["skipped"].as_array().unwrap().is_empty(),
        "{:#}",
        report["skipped"]
    );
    finding(&report, "table.no_primary_key", "public.audit_log");
    finding(&report, "index.unused", "public.audit_log_at");
    // Nothing was written: the role could not have, and brisk did not try.
    let writes = db.sql(
        "SELECT count(*) FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
          WHERE r.rolname = 'watcher'
            AND s.query !~* '^\\s*(/\\* brisk \\*/\\s*)?(SELECT|SET|SHOW|WITH|BEGIN|COMMIT|ROLLBACK)';",
    );
    assert_eq!(writes.trim(), "0", "watcher ran something other than reads");
}

#[test]
fn a_check_that_lacks_privileges_is_skipped_and_the_others_run() {
    let db = Db::fresh("noprivs");
    db.sql(
        "CREATE TABLE audit_log (at timestamptz, action text);
         CREATE ROLE nosy LOGIN PASSWORD 'nosy-pw';
         REVOKE ALL ON pg_stat_statements FROM PUBLIC;",
    );
    let url = db.pg.url_for("nosy", "nosy-pw", &db.name);
    let report = check(&url, &[]);
    let skipped = report["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{skipped:#?}");
    assert_eq!(skipped[0]["check"], "queries.top");
    assert!(skipped[0]["reason"]
        .as_str()
        .unwrap()
        .contains("permission denied"));
    assert!(!ran(&report, "queries.top"));
    assert!(ran(&report, "table.no_primary_key"));
    finding(&report, "table.no_primary_key", "public.audit_log");
    // Without pg_monitor, the report says other sessions are hidden.
    let notes = report["notes"].as_array().unwrap();
    assert!(notes
        .iter()
        .any(|n| n.as_str().unwrap().contains("pg_monitor")));

    // The text report names what was not checked.
    let output = brisk(&["check", &url]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("NOT CHECKED (1)"), "{text}");
    assert!(text.contains("queries.top: "), "{text}");
}

#[test]
fn fail_on_sets_the_exit_code() {
    let db = Db::fresh("failon");
    db.sql("CREATE TABLE audit_log (at timestamptz);");
    let url = db.url();
    let warn = brisk(&["check", &url, "--fail-on", "warning"]);
    assert_eq!(
        warn.status.code(),
        Some(1),
        "a warning fails --fail-on warning"
    );
    let crit = brisk(&["check", &url, "--fail-on", "critical"]);
    assert_eq!(crit.status.code(), Some(0), "no critical finding");
    let plain = brisk(&["check", &url]);
    assert_eq!(
        plain.status.code(),
        Some(0),
        "without --fail-on findings never fail"
    );
}

#[test]
fn text_output_is_plain_when_piped_and_groups_by_severity() {
    let db = Db::fresh("text");
    db.sql(
        "CREATE TABLE audit_log (at timestamptz);
         CREATE TABLE orders (id serial PRIMARY KEY);
         SELECT setval('orders_id_seq', 2000000000);",
    );
    let output = brisk(&["check", &db.url()]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(!text.contains('\u{1b}'), "no escape codes when piped");
    let critical = text.find("CRITICAL (1)").expect("critical group");
    let warning = text.find("WARNING (").expect("warning group");
    assert!(critical < warning);
    assert!(text.contains("ALTER SEQUENCE public.orders_id_seq AS bigint;"));
}

#[test]
fn json_output_follows_the_documented_schema() {
    let db = Db::fresh("json");
    db.sql("CREATE TABLE audit_log (at timestamptz);");
    let report = check(&db.url(), &[]);
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["tool"], "brisk");
    assert_eq!(report["command"], "check");
    assert_eq!(report["target"]["kind"], "postgresql");
    assert!(report["target"]["version"]
        .as_str()
        .unwrap()
        .starts_with("PostgreSQL "));
    for key in ["checks_run", "skipped", "findings"] {
        assert!(report[key].is_array(), "{key}");
    }
    for finding in findings(&report, "table.no_primary_key") {
        for key in ["check", "severity", "subject", "title", "evidence"] {
            assert!(!finding[key].is_null(), "{key}");
        }
    }
    let summary = &report["summary"];
    assert_eq!(
        summary["warning"].as_u64().unwrap() as usize,
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] == "warning")
            .count()
    );
}

#[test]
fn list_checks_names_every_check() {
    let output = brisk(&["check", "--list-checks"]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(text.lines().count(), 19);
    assert!(text.contains("fk.unindexed"));
}
