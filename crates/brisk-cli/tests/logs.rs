//! `brisk logs` on logs written by a real PostgreSQL: a workload with planted problems (an
//! N+1 from one session, an error, a temp file, a lock wait, a deadlock, a checkpoint,
//! autovacuum) logged with `log_min_duration_statement = 0`, read back in several prefixes
//! and formats; and bad input.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use brisk_sandbox::Postgres;
use common::{brisk, Db};
use serde_json::Value;

/// A cluster that logs every statement and the events the report counts.
fn logging_cluster(extra: &[(&str, &str)]) -> &'static Postgres {
    let mut builder = Postgres::builder()
        .preload_pg_stat_statements(false)
        .setting("log_min_duration_statement", "0")
        .setting("log_connections", "on")
        .setting("log_disconnections", "on")
        .setting("log_lock_waits", "on")
        .setting("deadlock_timeout", "100ms")
        .setting("log_temp_files", "0")
        .setting("log_checkpoints", "on")
        .setting("lc_messages", "C");
    for (name, value) in extra {
        builder = builder.setting(name, value);
    }
    // Stopped, and its directory deleted, when the test binary exits.
    builder
        .start_for_process()
        .expect("the logging sandbox starts")
}

fn tables(db: &Db) {
    db.sql(
        "CREATE TABLE orders (id int PRIMARY KEY, user_id int);
         INSERT INTO orders SELECT g, g % 3 FROM generate_series(1, 30) g;
         CREATE TABLE items (id serial PRIMARY KEY, order_id int, v text);
         INSERT INTO items (order_id, v) SELECT g % 30 + 1, 'x' FROM generate_series(1, 300) g;
         CREATE TABLE locked (id int);
         CREATE TABLE pair (id int PRIMARY KEY, v int);
         INSERT INTO pair VALUES (1, 0), (2, 0);",
    );
}

/// One session of an application: the orders of a user, then each order's items, one
/// query per order, with bound parameters (the extended protocol logs them).
fn n_plus_one(db: &Db) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let url = format!("{}&application_name=shop-web", db.url());
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        let task = tokio::spawn(connection);
        let orders = client
            .query("SELECT id FROM orders WHERE user_id = $1", &[&1i32])
            .await
            .expect("orders");
        assert_eq!(orders.len(), 10);
        for order in orders {
            let id: i32 = order.get(0);
            client
                .query(
                    "SELECT v, pg_sleep(0.006)::text FROM items WHERE order_id = $1",
                    &[&id],
                )
                .await
                .expect("items");
        }
        drop(client);
        let _ = task.await;
    });
}

fn planted_problems(db: &Db) {
    // An error.
    assert!(db
        .pg
        .psql(&db.name, "SELECT * FROM missing_table;")
        .is_err());
    // A sort that spills with a small work_mem.
    db.sql(
        "SET work_mem = '64kB';
         SELECT count(*) FROM (SELECT g FROM generate_series(1, 100000) g ORDER BY g DESC) s;",
    );
    // A lock wait longer than deadlock_timeout.
    let (pg, name) = (db.pg, db.name.clone());
    let holder = std::thread::spawn(move || {
        pg.psql(
            &name,
            "BEGIN; LOCK TABLE locked IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(0.6); COMMIT;",
        )
    });
    std::thread::sleep(Duration::from_millis(250));
    db.sql("SELECT count(*) FROM locked;");
    holder.join().expect("holder").expect("holder's SQL");
    // A deadlock: two transactions take the same rows in opposite orders.
    let crossing = |first: i32, second: i32| {
        let (pg, name) = (db.pg, db.name.clone());
        std::thread::spawn(move || {
            let _ = pg.psql(
                &name,
                &format!(
                    "BEGIN; UPDATE pair SET v = {first} WHERE id = {first}; SELECT pg_sleep(0.3);
                     UPDATE pair SET v = {first} WHERE id = {second}; COMMIT;"
                ),
            );
        })
    };
    let (a, b) = (crossing(1, 2), crossing(2, 1));
    a.join().expect("a");
    b.join().expect("b");
    db.sql("CHECKPOINT;");
}

fn wait_for(path: &Path, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = std::fs::read_to_string(path).is_ok_and(|log| log.contains(text));
        if found {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} never showed {text}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn end_marker(db: &Db, files: &[PathBuf]) {
    db.sql("SELECT 'brisk-end-marker';");
    for file in files {
        wait_for(file, "brisk-end-marker");
    }
}

/// `brisk logs FILE --format json` plus `extra`: must succeed.
fn logs(file: &Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "logs",
        file.to_str().expect("utf-8 path"),
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = brisk(&args);
    assert!(
        out.status.success(),
        "brisk logs failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn statement<'a>(report: &'a Value, needle: &str) -> &'a Value {
    report["logs"]["statements"]
        .as_array()
        .expect("statements")
        .iter()
        .find(|s| s["query"].as_str().is_some_and(|q| q.contains(needle)))
        .unwrap_or_else(|| {
            panic!(
                "no statement with {needle}: {:#}",
                report["logs"]["statements"]
            )
        })
}

fn rows<'a>(report: &'a Value, table: &str) -> &'a Vec<Value> {
    report["logs"][table].as_array().expect(table)
}

fn findings(report: &Value, check: &str) -> usize {
    common::findings(report, check).len()
}

/// Calls per fingerprint: what must agree across formats of the same events.
fn calls_by_fingerprint(report: &Value) -> BTreeMap<String, u64> {
    rows(report, "statements")
        .iter()
        .map(|s| {
            (
                s["fingerprint"].as_str().unwrap_or("").to_string(),
                s["calls"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

fn assert_planted(report: &Value, format: &str) {
    let items = statement(report, "FROM items WHERE order_id = $1");
    assert_eq!(items["calls"], 10, "{format}");
    assert!(
        items["p95_ms"].as_f64().unwrap() >= 5.0,
        "{format}: {items}"
    );
    if format != "stderr" {
        // The Debian prefix has no %a; csvlog and jsonlog always carry it.
        assert_eq!(
            items["by"][0]["application"], "shop-web",
            "{format}: {items}"
        );
    }
    let n1 = rows(report, "n_plus_one");
    assert!(
        n1.iter().any(|p| p["repeated"]
            .as_str()
            .is_some_and(|r| r.contains("FROM items"))
            && p["source"]
                .as_str()
                .is_some_and(|s| s.contains("FROM orders"))
            && p["executions"].as_u64() >= Some(5)),
        "{format}: {n1:#?}"
    );
    assert!(findings(report, "logs.n_plus_one") >= 1, "{format}");
    let errors = rows(report, "errors");
    assert!(
        errors.iter().any(|e| e["message"]
            .as_str()
            .is_some_and(|m| m.contains("does not exist"))),
        "{format}: {errors:#?}"
    );
    let temp = rows(report, "temp_files");
    assert!(
        temp.iter().any(|t| t["query"]
            .as_str()
            .is_some_and(|q| q.contains("generate_series"))
            && t["total_bytes"].as_u64() > Some(0)),
        "{format}: {temp:#?}"
    );
    assert!(findings(report, "logs.temp_files") >= 1, "{format}");
    let locks = rows(report, "lock_waits");
    assert!(
        locks.iter().any(|l| l["query"]
            .as_str()
            .is_some_and(|q| q.contains("FROM locked"))
            && l["max_wait_ms"].as_f64() > Some(100.0)),
        "{format}: {locks:#?}"
    );
    assert!(report["logs"]["deadlocks"].as_u64() >= Some(1), "{format}");
    assert_eq!(findings(report, "logs.deadlocks"), 1, "{format}");
    assert!(
        report["logs"]["checkpoints"]["completed"].as_u64() >= Some(1),
        "{format}"
    );
    assert!(
        report["logs"]["connections"]["authorized"].as_u64() >= Some(5),
        "{format}"
    );
    assert!(
        report["logs"]["connections"]["disconnections"].as_u64() >= Some(4),
        "{format}"
    );
    assert!(!rows(report, "minutes").is_empty(), "{format}");
}

#[test]
fn debian_prefix_stderr_csvlog_and_jsonlog_agree() {
    let pg = logging_cluster(&[
        ("logging_collector", "on"),
        ("log_destination", "stderr,csvlog,jsonlog"),
        ("log_directory", "log"),
        ("log_filename", "postgresql.log"),
        ("log_line_prefix", "%m [%p] %q%u@%d "),
        ("autovacuum", "on"),
        ("autovacuum_naptime", "1"),
        ("log_autovacuum_min_duration", "0"),
    ]);
    let db = Db::on(pg, "logs");
    tables(&db);
    n_plus_one(&db);
    planted_problems(&db);
    let dir = pg.data_dir().join("log");
    let files: Vec<PathBuf> = ["postgresql.log", "postgresql.csv", "postgresql.json"]
        .iter()
        .map(|f| dir.join(f))
        .collect();
    wait_for(&files[0], "automatic analyze of table");
    end_marker(&db, &files);

    let stderr = logs(&files[0], &["--workload", "/dev/null"]);
    assert_eq!(
        stderr["logs"]["files"][0]["prefix"], "%m [%p] %q%u@%d ",
        "detected"
    );
    assert_planted(&stderr, "stderr");
    assert!(
        rows(&stderr, "maintenance").iter().any(|m| m["table"]
            .as_str()
            .is_some_and(|t| t.ends_with("public.items"))
            && m["autoanalyzes"].as_u64() >= Some(1)),
        "{:#?}",
        rows(&stderr, "maintenance")
    );
    let csv = logs(&files[1], &[]);
    assert_eq!(csv["logs"]["files"][0]["format"], "csvlog");
    assert_planted(&csv, "csvlog");
    let json = logs(&files[2], &["--jobs", "2"]);
    assert_eq!(json["logs"]["files"][0]["format"], "jsonlog");
    assert_planted(&json, "jsonlog");
    // csv and json carry the SQLSTATE; the Debian prefix does not (%e).
    for report in [&csv, &json] {
        assert!(rows(report, "errors")
            .iter()
            .any(|e| e["sqlstate"] == "42P01" && e["class"] == "42"));
        assert!(rows(report, "errors")
            .iter()
            .any(|e| e["sqlstate"] == "40P01"));
    }
    // The same events in three formats: the same statements, the same counts. The end
    // marker's own line may be written to one file before another: leave it out.
    let mut counts: Vec<BTreeMap<String, u64>> = [&stderr, &csv, &json]
        .iter()
        .map(|r| calls_by_fingerprint(r))
        .collect();
    let marker = statement(&stderr, "SELECT $1")["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    for c in &mut counts {
        c.remove(&marker);
    }
    assert_eq!(counts[0], counts[1], "stderr vs csvlog");
    assert_eq!(counts[0], counts[2], "stderr vs jsonlog");

    // The server's URL instead of the files: it finds the current jsonlog file (one format,
    // not the same messages three times) and reads what the file gave.
    let out = brisk(&["logs", &db.url(), "--format", "json"]);
    let stderr_text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr_text}");
    assert!(
        stderr_text.contains(&format!("reading {}", files[2].display())),
        "{stderr_text}"
    );
    let by_url: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(by_url["logs"]["files"].as_array().unwrap().len(), 1);
    assert_eq!(by_url["logs"]["files"][0]["format"], "jsonlog");
    let mut by_url = calls_by_fingerprint(&by_url);
    by_url.remove(&marker);
    for (fingerprint, calls) in &counts[2] {
        assert!(by_url.get(fingerprint) >= Some(calls), "{fingerprint}");
    }
    // With --since, the other files of log_directory with its extension: there are none.
    let since = brisk(&["logs", &db.url(), "--since", "1h", "--format", "json"]);
    assert!(since.status.success());
    let since: Value = serde_json::from_slice(&since.stdout).unwrap();
    assert_eq!(since["logs"]["files"].as_array().unwrap().len(), 1);
}

fn settings_text(url: &str) -> String {
    let out = brisk(&["logs", "settings", url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A server with PostgreSQL's default log settings: `settings` names each missing one with
/// its ALTER SYSTEM line; once they are run it is satisfied. `logs URL` finds the stderr
/// file of a server without the logging collector, and says what to pass when the server
/// logs only to syslog.
#[test]
fn settings_advice_applies_and_the_url_finds_the_log() {
    let pg = Postgres::builder()
        .preload_pg_stat_statements(false)
        .setting("lc_messages", "C")
        .start_for_process()
        .expect("a default sandbox starts");
    let db = Db::on(pg, "logset");
    let before = settings_text(&db.url());
    for line in [
        "ALTER SYSTEM SET log_min_duration_statement = '0';",
        "ALTER SYSTEM SET log_lock_waits = 'on';",
        "ALTER SYSTEM SET log_temp_files = '0';",
        "ALTER SYSTEM SET log_line_prefix = '%m [%p] %c %l %q%u@%d/%a ';",
        "SELECT pg_reload_conf();",
    ] {
        assert!(before.contains(line), "{line} missing from:\n{before}");
    }
    assert!(
        before.contains("  change  log_min_duration_statement = -1"),
        "{before}"
    );
    assert!(before.contains("  ok      lc_messages = C"), "{before}");
    assert!(!before.contains("The server logs what brisk logs reports on"));

    // Planted the other way: run the advice, and nothing is left to change.
    let alters: Vec<&str> = before
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("ALTER SYSTEM"))
        .collect();
    for alter in &alters {
        db.sql(alter);
    }
    db.sql("SELECT pg_reload_conf();");
    std::thread::sleep(Duration::from_millis(500));
    let after = settings_text(&db.url());
    assert!(
        after.contains("The server logs what brisk logs reports on"),
        "{after}"
    );
    assert!(!after.contains("ALTER SYSTEM"), "{after}");

    // logging_collector is off: the server's stderr file, found through its postmaster.
    db.sql("SELECT 'brisk-url-marker';");
    wait_for(&pg.server_log(), "brisk-url-marker");
    let out = brisk(&["logs", &db.url(), "--format", "json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("reading {}", pg.server_log().display())),
        "{stderr}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["logs"]["files"][0]["prefix"],
        "%m [%p] %c %l %q%u@%d/%a "
    );
    assert!(statement(&report, "SELECT $1")["calls"].as_u64() >= Some(1));

    // syslog only: nothing to read here, and the line says what to pass.
    db.sql("ALTER SYSTEM SET log_destination = 'syslog';");
    db.sql("SELECT pg_reload_conf();");
    std::thread::sleep(Duration::from_millis(500));
    let (code, _, stderr) = brisk_status(&["logs", &db.url()]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("logs to syslog only"), "{stderr}");
    assert!(
        stderr.contains("brisk logs --prefix '%m [%p] %c %l %q%u@%d/%a ' FILES"),
        "{stderr}"
    );
}

#[test]
fn workload_keeps_the_values_and_the_sums() {
    let pg = logging_cluster(&[
        ("log_line_prefix", "%m [%p] %c %l %q%u@%d/%a "),
        ("shared_preload_libraries", "auto_explain"),
        ("auto_explain.log_min_duration", "0"),
    ]);
    let db = Db::on(pg, "logs");
    tables(&db);
    n_plus_one(&db);
    let log = pg.server_log();
    end_marker(&db, std::slice::from_ref(&log));
    let dir = tempfile::tempdir().expect("tempdir");
    let workload = dir.path().join("workload.jsonl");
    let report = logs(&log, &["--workload", workload.to_str().unwrap()]);
    assert_eq!(
        report["logs"]["files"][0]["prefix"],
        "%m [%p] %c %l %q%u@%d/%a "
    );
    let lines: Vec<Value> = std::fs::read_to_string(&workload)
        .expect("workload written")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let items: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["query"]
                .as_str()
                .is_some_and(|q| q.contains("FROM items WHERE order_id = $1"))
                && l.get("pattern").is_none()
        })
        .collect();
    let calls: u64 = items.iter().map(|l| l["calls"].as_u64().unwrap_or(1)).sum();
    assert_eq!(calls, 10, "{items:#?}");
    let with_values: Vec<&&Value> = items.iter().filter(|l| l["params"].is_array()).collect();
    assert_eq!(with_values.len(), 3, "the three slowest keep their values");
    for line in with_values {
        let id: i32 = line["params"][0].as_str().unwrap().parse().unwrap();
        assert!((1..=30).contains(&id));
        assert!(line["session"].is_string());
    }
    assert!(lines.iter().any(|l| l["pattern"]["kind"] == "n+1"));
    // auto_explain's plans are attached to their statement, one per shape.
    let plans = statement(&report, "FROM items WHERE order_id = $1")["plans"]
        .as_array()
        .expect("plans")
        .clone();
    let logged: u64 = plans.iter().map(|p| p["count"].as_u64().unwrap()).sum();
    assert_eq!(logged, 10, "{plans:#?}");
    assert!(
        plans.len() <= 2,
        "custom and generic plans at most: {plans:#?}"
    );
    assert!(plans[0]["plan"].as_str().unwrap().contains("on items"));
    // Values never reach the report.
    let text = serde_json::to_string(&report).unwrap();
    assert!(!text.contains("parameters: $1"));
}

#[test]
fn rds_prefix_stays_silent_on_a_clean_workload_and_finds_the_planted_one() {
    let pg = logging_cluster(&[("log_line_prefix", "%t:%r:%u@%d:[%p]:")]);
    let db = Db::on(pg, "logs");
    tables(&db);
    // The start-up's own messages (pg_isready's FATALs) are left out with --since.
    let since = db.sql(
        "SELECT to_char(date_trunc('second', now() AT TIME ZONE 'UTC') + interval '1 second',
                        'YYYY-MM-DD HH24:MI:SS');",
    );
    std::thread::sleep(Duration::from_millis(1100));
    // Different statements, each once or twice: nothing repeats per row, nothing fails.
    db.sql(
        "SELECT count(*) FROM orders; SELECT max(id) FROM items;
         SELECT o.id, count(i.id) FROM orders o JOIN items i ON i.order_id = o.id GROUP BY o.id;
         UPDATE orders SET user_id = user_id WHERE id = 1;",
    );
    let log = pg.server_log();
    end_marker(&db, std::slice::from_ref(&log));
    let clean = logs(&log, &["--since", since.trim()]);
    assert!(clean["logs"]["outside_window"].as_u64() > Some(0));
    assert_eq!(clean["logs"]["files"][0]["prefix"], "%t:%r:%u@%d:[%p]:");
    for check in [
        "logs.n_plus_one",
        "logs.errors",
        "logs.temp_files",
        "logs.lock_waits",
        "logs.deadlocks",
        "logs.cancellations",
    ] {
        assert_eq!(
            findings(&clean, check),
            0,
            "{check} on a clean workload: {:#}",
            clean["findings"]
        );
    }
    assert_eq!(statement(&clean, "GROUP BY o.id")["calls"], 1);
    assert_eq!(
        statement(&clean, "GROUP BY o.id")["by"][0]["database"],
        db.name.as_str()
    );

    n_plus_one(&db);
    assert!(db
        .pg
        .psql(
            &db.name,
            "SET statement_timeout = '50ms'; SELECT 1 FROM pg_sleep(0.2);"
        )
        .is_err());
    end_marker(&db, std::slice::from_ref(&log));
    let planted = logs(&log, &[]);
    assert!(findings(&planted, "logs.n_plus_one") >= 1);
    assert!(rows(&planted, "cancellations")
        .iter()
        .any(|c| c["reason"] == "statement timeout"));
}

/// A few lines of a Debian-prefixed log with two statements.
fn small_log(lines: usize) -> String {
    let mut log = String::new();
    for i in 0..lines {
        log.push_str(&format!(
            "2026-12-06 01:02:{:02}.000 UTC [{}] app@shop LOG:  duration: {}.500 ms  statement: SELECT * FROM t WHERE id = {i}\n",
            i % 60,
            100 + i % 7,
            i % 5
        ));
    }
    log
}

fn brisk_status(args: &[&str]) -> (i32, String, String) {
    let out = brisk(args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_prefix_that_matches_nothing_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("pg.log");
    std::fs::write(&log, small_log(10)).unwrap();
    let (code, _, stderr) = brisk_status(&["logs", log.to_str().unwrap(), "--prefix", "%t [%p]: "]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("0 statements parsed: the prefix `%t [%p]: ` does not match line 1: `2026-12-06 01:02:00.000 UTC [100] app@shop LOG:"),
        "{stderr}"
    );
    // A translated log: the levels are not English.
    std::fs::write(&log, small_log(3).replace(" LOG:  ", " FEHLER:  ")).unwrap();
    let (code, _, stderr) = brisk_status(&[
        "logs",
        log.to_str().unwrap(),
        "--prefix",
        "%m [%p] %q%u@%d ",
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("lc_messages is not English"), "{stderr}");
    // No prefix given and none of the common ones fits.
    std::fs::write(&log, "hello\nworld\n").unwrap();
    let (code, _, stderr) = brisk_status(&["logs", log.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("none of the common log_line_prefix values matches line 1: `hello`"),
        "{stderr}"
    );
    // A prefix that is not one.
    let (code, _, stderr) = brisk_status(&["logs", log.to_str().unwrap(), "--prefix", "%m %y "]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("%y is not a log_line_prefix escape"),
        "{stderr}"
    );
}

#[test]
fn bad_files_do_not_hide_the_good_ones() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.log");
    std::fs::write(&good, small_log(20)).unwrap();
    let binary = dir.path().join("binary.log");
    std::fs::write(
        &binary,
        (0..4096u32)
            .map(|i| (i * 7 % 256) as u8)
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    // A gzip cut in the middle: the part before the cut is read.
    let big = dir.path().join("big.log");
    std::fs::write(&big, small_log(20_000)).unwrap();
    let status = std::process::Command::new("gzip")
        .arg("-k")
        .arg(&big)
        .status()
        .unwrap();
    assert!(status.success());
    let gz = dir.path().join("big.log.gz");
    let bytes = std::fs::read(&gz).unwrap();
    let truncated = dir.path().join("truncated.log.gz");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    // A 100 MB line between two good ones.
    let long = dir.path().join("long.log");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&long).unwrap());
        let lines = small_log(2);
        let mut parts = lines.lines();
        writeln!(f, "{}", parts.next().unwrap()).unwrap();
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..100 {
            f.write_all(&chunk).unwrap();
        }
        writeln!(f).unwrap();
        writeln!(f, "{}", parts.next().unwrap()).unwrap();
    }

    let paths = [&good, &binary, &truncated, &long];
    let mut args = vec!["logs", "--format", "json"];
    args.extend(paths.iter().map(|p| p.to_str().unwrap()));
    let (code, stdout, stderr) = brisk_status(&args);
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let calls = statement(&report, "SELECT * FROM t WHERE id = $1")["calls"]
        .as_u64()
        .unwrap();
    // 20 good, 2 around the long line, and the readable half of the gzip.
    assert!(calls > 22 + 1000 && calls < 22 + 20_000, "{calls}");
    assert!(
        stderr.contains("binary.log: it is a binary file"),
        "{stderr}"
    );
    assert!(
        stderr.contains("truncated.log.gz: gzip data ends early"),
        "{stderr}"
    );
    let files = rows(&report, "files");
    assert_eq!(files[3]["too_long_lines"], 1, "{files:#?}");
    assert!(report["notes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n.as_str().is_some_and(|n| n.contains("lines longer than"))));
    // Each bad file alone: nothing read, exit 2, one line.
    let header_only = dir.path().join("header.log.gz");
    std::fs::write(&header_only, &bytes[..10]).unwrap();
    for bad in [&binary, &header_only] {
        let (code, _, stderr) = brisk_status(&["logs", bad.to_str().unwrap()]);
        assert_eq!(code, 2, "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    // The whole gzip and the plain file read the same.
    let whole: Value =
        serde_json::from_str(&brisk_status(&["logs", "--format", "json", gz.to_str().unwrap()]).1)
            .unwrap();
    let plain: Value = serde_json::from_str(
        &brisk_status(&["logs", "--format", "json", "-j", "1", big.to_str().unwrap()]).1,
    )
    .unwrap();
    assert_eq!(calls_by_fingerprint(&whole), calls_by_fingerprint(&plain));
    assert_eq!(statement(&whole, "FROM t")["calls"], 20_000);
}

#[test]
fn text_output_and_a_time_window() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("pg.log");
    std::fs::write(&log, small_log(20)).unwrap();
    let (code, stdout, stderr) = brisk_status(&["logs", log.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("20 statements (1 distinct)"), "{stdout}");
    assert!(stdout.contains("calls    total ms"), "{stdout}");
    assert!(stdout.contains("SELECT * FROM t WHERE id = $1"), "{stdout}");
    // Seconds 00 to 09 are before --until; 10 and later are left out, as is all of it
    // with --since after the last line.
    let window = logs(&log, &["--until", "2026-12-06 01:02:10"]);
    assert_eq!(statement(&window, "FROM t")["calls"], 10);
    assert_eq!(window["logs"]["outside_window"], 10);
    let none = logs(&log, &["--since", "2026-12-07"]);
    assert!(rows(&none, "statements").is_empty());
    let (code, _, stderr) = brisk_status(&["logs", log.to_str().unwrap(), "--since", "yesterday"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("--since `yesterday`: give a time"),
        "{stderr}"
    );
}
