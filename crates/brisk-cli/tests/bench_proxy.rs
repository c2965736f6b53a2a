//! `brisk bench --proxy-admin`: a load through a real `brisk proxy` in front of the sandbox,
//! and the report of what the proxy saw: the slow statement on top with its calls, mean and
//! p95 next to pg_stat_statements', and pool waits flagged only when clients waited.

mod common;

use std::process::{Child, Stdio};

use brisk_sandbox::Postgres;
use common::{brisk, Db};
use serde_json::Value;

/// A running `brisk proxy` in front of one sandbox database, trust auth, stopped on drop.
struct Proxy {
    child: Child,
    port: u16,
    database: String,
    _dir: tempfile::TempDir,
}

impl Proxy {
    fn start(pg: &Postgres, database: &str, pool_size: u32) -> Proxy {
        let process = common::ProxyProcess::start(
            |port| {
                format!(
                    "listen_port = {port}\nauth_type = \"trust\"\nadmin_users = [\"admin\"]\n\
                     default_pool_size = {pool_size}\n[databases]\n\
                     {database} = \"postgres://postgres:{pw}@127.0.0.1:{pg_port}/{database}?sslmode=disable\"\n",
                    pw = pg.password(),
                    pg_port = pg.port()
                )
            },
            "warn",
            Stdio::null(),
        );
        Proxy {
            child: process.child,
            port: process.port,
            database: database.to_string(),
            _dir: process.dir,
        }
    }

    fn url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{}?sslmode=disable",
            self.port, self.database
        )
    }

    fn admin_url(&self) -> String {
        format!(
            "postgres://admin@127.0.0.1:{}/brisk?sslmode=disable",
            self.port
        )
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A slow statement (20 ms) once in four, a fast one the rest, at 40/s with Poisson
/// arrivals on `connections` connections through the proxy, for 4 s.
fn run_mix(proxy: &Proxy, connections: &str) -> (Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let sql = dir.path().join("mix.sql");
    std::fs::write(
        &sql,
        "-- name: slow\nSELECT pg_sleep(0.02);\n-- name: fast\n-- weight: 3\nSELECT 1;\n",
    )
    .unwrap();
    let out = dir.path().join("result.json");
    let output = brisk(&[
        "bench",
        "--sql",
        sql.to_str().unwrap(),
        "--rate",
        "40",
        "--arrival",
        "poisson",
        "--connections",
        connections,
        "--duration",
        "4s",
        "--proxy-admin",
        &proxy.admin_url(),
        "-q",
        "-o",
        out.to_str().unwrap(),
        &proxy.url(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    (result, stdout)
}

fn f(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("not a number: {value}"))
}

#[test]
fn the_slow_statement_tops_the_proxy_report_and_a_pool_of_one_shows_waits() {
    let db = Db::fresh("bench_proxy_waits");
    db.sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    let proxy = Proxy::start(db.pg, &db.name, 1);
    let (result, stdout) = run_mix(&proxy, "8");
    let report = &result["proxy"];
    assert_eq!(report["source"], "brisk proxy admin console", "{report:#}");
    assert!(report["note"].is_null(), "{report:#}");

    let top = &report["statements"][0];
    assert!(
        top["query"].as_str().unwrap().contains("pg_sleep"),
        "{report:#}"
    );
    let slow_count = f(&result["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "slow")
        .unwrap()["count"]);
    // Every run of the operation went through the proxy once (plus its one preparation,
    // which the proxy does not count as a call).
    assert!(
        (f(&top["calls"]) - slow_count).abs() <= 1.0,
        "{top:#} against {slow_count}"
    );
    assert!(f(&top["mean_ms"]) >= 20.0, "{top:#}");
    assert!(f(&top["p95_ms"]) >= 20.0, "{top:#}");
    // The proxy started for this test: every call it timed was the run's.
    assert_eq!(top["p95_scope"], "run");
    // Next to it, the server's own count of the same shape.
    assert!(
        (f(&top["pg_calls"]) - f(&top["calls"])).abs() <= 1.0,
        "{top:#}"
    );
    assert!(f(&top["pg_mean_ms"]) >= 20.0, "{top:#}");

    let pool = report["pools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["database"] == db.name.as_str())
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(pool["pool_size"], 1);
    assert!(f(&pool["wait_ms"]) > 0.0, "{pool:#}");
    assert_eq!(pool["saturated"], true, "{pool:#}");
    let warnings: Vec<&str> = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        warnings.iter().any(|w| w.contains("clients waited")),
        "{warnings:?}"
    );
    assert!(stdout.contains("proxy during the run"), "{stdout}");
    assert!(stdout.contains("clients waited"), "{stdout}");
}

#[test]
fn a_pool_big_enough_flags_no_waits() {
    let db = Db::fresh("bench_proxy_quiet");
    let proxy = Proxy::start(db.pg, &db.name, 20);
    // Before the run, the same shape ten times at 100 ms: the proxy's p95 since its start
    // is 100 ms, the run's (20 ms sleeps) far less.
    let dir = tempfile::tempdir().unwrap();
    let sql = dir.path().join("before.sql");
    std::fs::write(
        &sql,
        "SELECT pg_sleep(0.1);
",
    )
    .unwrap();
    let output = brisk(&[
        "bench",
        "--sql",
        sql.to_str().unwrap(),
        "--rate",
        "10",
        "--arrival",
        "constant",
        "--duration",
        "1s",
        "-q",
        &proxy.url(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (result, stdout) = run_mix(&proxy, "4");
    let report = &result["proxy"];
    let top = &report["statements"][0];
    assert!(
        top["query"].as_str().unwrap().contains("pg_sleep"),
        "{report:#}"
    );
    // SHOW QUERY HISTOGRAMS before and after: the run's own p95, not the 100 ms before it.
    assert_eq!(top["p95_scope"], "run", "{top:#}");
    let p95 = f(&top["p95_ms"]);
    assert!((20.0..60.0).contains(&p95), "{top:#}");
    assert_eq!(report["warnings"], serde_json::json!([]), "{report:#}");
    for pool in report["pools"].as_array().unwrap() {
        assert_eq!(pool["max_clients_waiting"], 0, "{pool:#}");
        assert_eq!(f(&pool["wait_ms"]), 0.0, "{pool:#}");
        assert_eq!(pool["saturated"], false, "{pool:#}");
    }
    assert!(!stdout.contains("clients waited"), "{stdout}");
}

#[test]
fn an_unreachable_console_fails_before_the_run() {
    let db = Db::fresh("bench_proxy_bad");
    let dir = tempfile::tempdir().unwrap();
    let sql = dir.path().join("q.sql");
    std::fs::write(&sql, "SELECT 1;\n").unwrap();
    let port = common::free_port();
    let admin =
        format!("postgres://admin@127.0.0.1:{port}/brisk?sslmode=disable&connect_timeout=2");
    let output = brisk(&[
        "bench",
        "--sql",
        sql.to_str().unwrap(),
        "--rate",
        "10",
        "--duration",
        "1s",
        "--proxy-admin",
        &admin,
        "-q",
        &db.url(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--proxy-admin"), "{stderr}");
}
