//! `brisk bench --from-pgss`: a workload runs, then its pg_stat_statements mix runs again
//! with each `$n` drawn from the column it is compared with; statements that cannot run
//! (a parameter compared with no column, a write without --include-writes) are skipped
//! with their reason.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{brisk, Db};
use serde_json::Value;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// `brisk bench ARGS -q -o FILE`: the exit status, stderr and the JSON result.
fn bench(dir: &Path, args: &[&str]) -> (std::process::Output, Value) {
    let out = dir.join(format!("result-{}.json", args.len()));
    let mut full = vec!["bench", "-q", "-o", out.to_str().unwrap()];
    full.extend_from_slice(args);
    let output = brisk(&full);
    let text = std::fs::read_to_string(&out).unwrap_or_else(|e| {
        panic!(
            "no result ({e}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output, serde_json::from_str(&text).unwrap())
}

/// Each operation's share of the finished operations.
fn shares(result: &Value) -> HashMap<String, f64> {
    let ops = result["operations"].as_array().unwrap();
    let total: f64 = ops.iter().map(|o| o["count"].as_f64().unwrap()).sum();
    ops.iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap().to_string(),
                o["count"].as_f64().unwrap() / total,
            )
        })
        .collect()
}

#[test]
fn the_pgss_mix_reproduces_the_workload_and_skips_what_cannot_run() {
    let db = Db::fresh("bench_pgss");
    db.sql(
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
         CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL);
         CREATE TABLE orders (id int PRIMARY KEY, user_id int NOT NULL, status text NOT NULL);
         INSERT INTO users SELECT i, 'user ' || i FROM generate_series(1, 1000) i;
         INSERT INTO orders SELECT i, 1 + i % 1000, 'new' FROM generate_series(1, 5000) i;
         ANALYZE users; ANALYZE orders;",
    );
    let dir = tempfile::tempdir().unwrap();
    let lookup = write(
        dir.path(),
        "lookup.sql",
        "\\set id random(1, 1000)\nSELECT name FROM users WHERE id = :id;\n",
    );
    let orders = write(
        dir.path(),
        "orders.sql",
        "\\set u random(1, 1000)\nSELECT count(*) FROM orders WHERE user_id = :u;\n",
    );
    // `$1 + 1`: a parameter compared with no column, which --from-pgss cannot draw.
    let untied = write(
        dir.path(),
        "untied.sql",
        "\\set x random(1, 10)\nSELECT :x::int + 1;\n",
    );
    let url = db.url();
    let (output, workload) = bench(
        dir.path(),
        &[
            "--pgbench-script",
            &format!("{lookup}@3"),
            "--pgbench-script",
            &format!("{orders}@1"),
            "--pgbench-script",
            &format!("{untied}@1"),
            "--rate",
            "200",
            "--duration",
            "3s",
            &url,
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(workload["overall"]["errors"], 0);

    let (output, replayed) = bench(
        dir.path(),
        &["--from-pgss", &url, "--rate", "200", "--duration", "3s"],
    );
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        replayed["overall"]["errors"], 0,
        "{:#}",
        replayed["overall"]
    );
    let shares = shares(&replayed);
    let lookup_share = shares
        .get("SELECT name FROM users WHERE id = $1")
        .unwrap_or_else(|| panic!("{shares:?}"));
    let orders_share = shares
        .get("SELECT count(*) FROM orders WHERE user_id = $1")
        .unwrap_or_else(|| panic!("{shares:?}"));
    // The kept statements were called 3:1; 600 draws put a share within 6 points (over
    // three standard deviations).
    assert!((lookup_share - 0.75).abs() < 0.06, "{shares:?}");
    assert!((orders_share - 0.25).abs() < 0.06, "{shares:?}");
    assert_eq!(shares.len(), 2, "{shares:?}");

    // One line per skipped statement, with its reason.
    let skipped: Vec<&str> = stderr.lines().filter(|l| l.contains("skipped (")).collect();
    assert!(
        skipped
            .iter()
            .any(|l| l.contains("+ $2") && l.contains("$1 is not compared with a column")),
        "{stderr}"
    );
    assert!(
        skipped
            .iter()
            .any(|l| l.contains("INSERT INTO users") && l.contains("--include-writes")),
        "{stderr}"
    );
}

#[test]
fn a_database_without_runnable_statements_is_one_line_and_exit_2() {
    let db = Db::fresh("bench_pgss_empty");
    db.sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements; CREATE TABLE t (a int);");
    let output = brisk(&["bench", "-q", "--from-pgss", &db.url(), "--duration", "1s"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("--from-pgss: no statement can run"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn parameters_on_one_table_are_drawn_from_one_row() {
    // Each user's orders are in one region: drawn apart, a user and a region match one time
    // in ten; drawn from one row, every time.
    let db = Db::fresh("bench_pgss_rows");
    db.sql(
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
         CREATE TABLE orders (id int PRIMARY KEY, user_id int NOT NULL, region int NOT NULL);
         INSERT INTO orders SELECT i, 1 + i % 1000, (1 + i % 1000) % 10 FROM generate_series(1, 5000) i;
         ANALYZE orders;",
    );
    let dir = tempfile::tempdir().unwrap();
    let script = write(
        dir.path(),
        "orders.sql",
        "\\set u random(1, 1000)\n\\set r :u % 10\nSELECT id FROM orders WHERE user_id = :u AND region = :r;\n",
    );
    let url = db.url();
    let (output, _) = bench(
        dir.path(),
        &[
            "--pgbench-script",
            &script,
            "--rate",
            "100",
            "--duration",
            "1s",
            &url,
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let figures = || -> (f64, f64) {
        let row = db.sql(
            "SELECT calls, rows FROM pg_stat_statements WHERE query LIKE 'SELECT id FROM orders WHERE user_id = $1 AND region = $2'",
        );
        let mut parts = row.trim().split('|').map(|v| v.parse::<f64>().unwrap());
        (parts.next().unwrap(), parts.next().unwrap())
    };
    let (calls_before, rows_before) = figures();
    assert!(calls_before > 0.0);

    let (output, replayed) = bench(
        dir.path(),
        &["--from-pgss", &url, "--rate", "200", "--duration", "2s"],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(replayed["overall"]["errors"], 0);
    let (calls, rows) = figures();
    let (calls, rows) = (calls - calls_before, rows - rows_before);
    assert!(calls >= 300.0, "{calls}");
    // Five orders per user, all in the user's region.
    assert_eq!(rows, calls * 5.0, "calls {calls}, rows {rows}");
}
