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
