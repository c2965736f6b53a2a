//! `--protocol extended` against pgbench's `-M extended`: the same script at the same rate
//! reaches the server as the same statements (pg_stat_statements' calls agree) in the same
//! protocol (the server's log shows each as `execute <unnamed>` with `$1`, never as a simple
//! `statement:` with the value written in or a named prepared statement).

mod common;

use std::process::{Command, Stdio};

use common::{brisk, Db};

const MARKER: &str = "bench_protocol_marker";

/// pg_stat_statements' calls of the marked statement so far.
fn calls(db: &Db) -> f64 {
    db.sql(&format!(
        "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query LIKE '%{MARKER}%' AND query NOT LIKE '%pg_stat_statements%'"
    ))
    .trim()
    .parse()
    .unwrap()
}

/// The server log's lines for the marked statement since `from` bytes: (unnamed extended,
/// other).
fn logged(db: &Db, from: usize) -> (usize, usize) {
    let log = std::fs::read(db.pg.server_log()).unwrap();
    let text = String::from_utf8_lossy(&log[from.min(log.len())..]).to_string();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(MARKER) && !l.contains("pg_stat_statements"))
        .collect();
    let unnamed = lines
        .iter()
        .filter(|l| l.contains("execute <unnamed>:") && l.contains("$1"))
        .count();
    (unnamed, lines.len() - unnamed)
}

fn log_len(db: &Db) -> usize {
    std::fs::metadata(db.pg.server_log())
        .map(|m| m.len() as usize)
        .unwrap_or(0)
}

#[test]
fn extended_matches_pgbench_m_extended() {
    let db = Db::fresh("bench_protocol");
    db.sql(&format!(
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
         CREATE TABLE t (id int PRIMARY KEY);
         INSERT INTO t SELECT generate_series(1, 1000);
         ALTER DATABASE {} SET log_statement = 'all';",
        db.name
    ));
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("q.sql");
    std::fs::write(
        &script,
        format!("\\set id random(1, 1000)\nSELECT id AS {MARKER} FROM t WHERE id = :id;\n"),
    )
    .unwrap();
    let script = script.to_str().unwrap();

    let pgbench = db.pg.binaries().bindir.join("pgbench");
    let (start, log_start) = (calls(&db), log_len(&db));
    let status = Command::new(&pgbench)
        .args([
            "-n", "-M", "extended", "-R", "100", "-T", "4", "-c", "2", "-f", script,
        ])
        .arg(db.url())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    // The server writes the log as it goes; give the last lines a moment.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let pgbench_calls = calls(&db) - start;
    let pgbench_log = logged(&db, log_start);

    let (start, log_start) = (calls(&db), log_len(&db));
    let output = brisk(&[
        "bench",
        "-q",
        "--pgbench-script",
        script,
        "--protocol",
        "extended",
        "--rate",
        "100",
        "--duration",
        "4s",
        "--connections",
        "2",
        &db.url(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    let brisk_calls = calls(&db) - start;
    let brisk_log = logged(&db, log_start);

    // 400 planned each; pgbench's Poisson count has a standard deviation of 20, so 15% is
    // three of them.
    assert!(
        (brisk_calls - pgbench_calls).abs() <= 0.15 * pgbench_calls.max(1.0),
        "brisk {brisk_calls} calls, pgbench {pgbench_calls}"
    );
    assert!(
        pgbench_log.0 as f64 >= 0.9 * pgbench_calls,
        "{pgbench_log:?}"
    );
    assert_eq!(pgbench_log.1, 0, "pgbench: {pgbench_log:?}");
    assert!(brisk_log.0 as f64 >= 0.9 * brisk_calls, "{brisk_log:?}");
    assert_eq!(brisk_log.1, 0, "brisk: {brisk_log:?}");
}

/// `brisk bench -q -o result.json ARGS` with its exit code and result.
fn bench_json(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String, serde_json::Value) {
    let out = dir.join("result.json");
    let _ = std::fs::remove_file(&out);
    let mut full = vec!["bench", "-q", "-o", out.to_str().unwrap()];
    full.extend_from_slice(args);
    let output = brisk(&full);
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let text =
        std::fs::read_to_string(&out).unwrap_or_else(|e| panic!("no result ({e}): {stderr}"));
    (
        output.status.code(),
        stderr,
        serde_json::from_str(&text).unwrap(),
    )
}

/// An operation of a result by name.
fn operation<'a>(result: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    result["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("no operation {name}: {:#}", result["operations"]))
}

/// The SQLSTATEs an operation failed with.
fn codes(op: &serde_json::Value) -> Vec<String> {
    op["errors_by_sqlstate"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// The workers speak the protocol themselves (brisk-bench's `connection`). What a server
/// sends besides a few rows must neither stop them nor poison the next statement, in each
/// protocol: an error inside a script's transaction (rolled back, so no 25P02 follows),
/// rows far larger than a read, a COPY that waits for data, notices; and the URL's
/// `options` reach the server.
#[test]
fn the_workers_client_survives_what_a_server_sends_in_every_protocol() {
    let db = Db::fresh("bench_client");
    db.sql(
        "CREATE SCHEMA other;
         CREATE TABLE other.only_here (id int);
         INSERT INTO other.only_here VALUES (1);
         CREATE TABLE public.u (id int PRIMARY KEY);
         CREATE FUNCTION public.noisy() RETURNS int LANGUAGE plpgsql
           AS $$ BEGIN RAISE NOTICE 'hello from the server'; RETURN 1; END $$;",
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let scripts = [
        write(
            d,
            "tx.sql",
            "\\set id random(1, 5)\nBEGIN;\nINSERT INTO public.u VALUES (:id);\nCOMMIT;\n",
        ),
        write(
            d,
            "big.sql",
            "SELECT repeat('x', 1000000) FROM generate_series(1, 3);\n",
        ),
        write(d, "copy.sql", "COPY public.u FROM STDIN;\n"),
        write(d, "notice.sql", "SELECT public.noisy();\n"),
        write(d, "path.sql", "SELECT id FROM only_here;\n"),
    ];
    let url = format!("{}&options=-c%20search_path%3Dother,public", db.url());
    for protocol in ["prepared", "extended", "simple"] {
        let mut args = Vec::new();
        for script in &scripts {
            args.extend_from_slice(&["--pgbench-script", script.as_str()]);
        }
        args.extend_from_slice(&[
            "--protocol",
            protocol,
            "--rate",
            "100",
            "--duration",
            "3s",
            "--connections",
            "2",
            &url,
        ]);
        let (code, stderr, result) = bench_json(d, &args);
        assert_eq!(code, Some(0), "{protocol}: {stderr}");
        let tx = operation(&result, "tx");
        assert!(codes(tx).iter().all(|c| c == "23505"), "{protocol}: {tx:#}");
        assert!(
            tx["errors"].as_f64().unwrap() > 0.0,
            "{protocol}: five ids cannot all be new: {tx:#}"
        );
        for name in ["big", "notice", "path"] {
            let op = operation(&result, name);
            assert!(op["count"].as_f64().unwrap() > 0.0, "{protocol}: {op:#}");
            assert_eq!(op["errors"].as_f64().unwrap(), 0.0, "{protocol}: {op:#}");
        }
        // COPY FROM STDIN gets no data from a load generator: the server's own error for a
        // refused COPY (query_canceled), and the connection goes on.
        let copy = operation(&result, "copy");
        assert_eq!(copy["count"].as_f64().unwrap(), 0.0, "{protocol}: {copy:#}");
        assert_eq!(
            codes(copy),
            vec!["57014".to_string()],
            "{protocol}: {copy:#}"
        );
    }
}

/// A connection the server ends mid-run fails its statements (with the server's own
/// SQLSTATE, then as a lost connection), the other arrivals go on, and the result is
/// written.
#[test]
fn a_terminated_connection_is_counted_and_the_run_finishes() {
    let db = Db::fresh("bench_terminate");
    let dir = tempfile::tempdir().unwrap();
    let script = write(dir.path(), "q.sql", "SELECT 1 AS bench_terminate_marker;\n");
    let out = dir.path().join("result.json");
    let child = Command::new(env!("CARGO_BIN_EXE_brisk"))
        .args([
            "bench",
            "-q",
            "-o",
            out.to_str().unwrap(),
            "--pgbench-script",
            &script,
        ])
        .args([
            "--rate",
            "100",
            "--duration",
            "4s",
            "--connections",
            "2",
            &db.url(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let ended = db.sql(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()
           AND query LIKE '%bench_terminate_marker%' AND query NOT LIKE '%pg_stat_activity%'",
    );
    assert_eq!(ended.trim(), "2", "both workers' backends were found");
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let op = operation(&result, "q");
    assert!(op["count"].as_f64().unwrap() > 50.0, "{op:#}");
    assert!(op["errors"].as_f64().unwrap() > 50.0, "{op:#}");
    for code in codes(op) {
        assert!(code == "57P01" || code == "08006", "{code}: {op:#}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Over TLS, verified against the server's CA (`sslmode=verify-full`): the statement
/// divides by zero unless its own connection is encrypted.
#[test]
fn workers_connect_over_verified_tls() {
    let pg = brisk_sandbox::Postgres::builder()
        .tls(true)
        .start_for_process()
        .expect("TLS sandbox");
    let ca = pg.ca_cert().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let script = write(
        dir.path(),
        "ssl.sql",
        "SELECT 1 / (SELECT CASE WHEN ssl THEN 1 ELSE 0 END FROM pg_stat_ssl WHERE pid = pg_backend_pid());\n",
    );
    let url = format!(
        "postgres://postgres:{}@localhost:{}/postgres?sslmode=verify-full&sslrootcert={}",
        pg.password(),
        pg.port(),
        ca.display()
    );
    for protocol in ["prepared", "simple"] {
        let (code, stderr, result) = bench_json(
            dir.path(),
            &[
                "--pgbench-script",
                &script,
                "--protocol",
                protocol,
                "--rate",
                "50",
                "--duration",
                "2s",
                "--connections",
                "2",
                &url,
            ],
        );
        assert_eq!(code, Some(0), "{stderr}");
        let op = operation(&result, "ssl");
        assert!(op["count"].as_f64().unwrap() > 0.0, "{protocol}: {op:#}");
        assert_eq!(op["errors"].as_f64().unwrap(), 0.0, "{protocol}: {op:#}");
    }
}
