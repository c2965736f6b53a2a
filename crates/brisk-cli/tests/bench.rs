//! `brisk bench` against the sandbox PostgreSQL: the rate it achieves, a planted stall
//! that the corrected latency shows and service time does not, thresholds and their exit
//! code, compare and merge on real results, pgbench scripts as pgbench reads them, bad
//! input, and Ctrl-C.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{brisk, Db};
use serde_json::Value;

/// A run of `brisk bench` with its JSON result.
struct Run {
    output: Output,
    result: Value,
}

impl Run {
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).to_string()
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).to_string()
    }

    fn operation(&self, name: &str) -> &Value {
        if name == "all" {
            return &self.result["overall"];
        }
        self.result["operations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name)
            .unwrap_or_else(|| panic!("no operation {name}: {:#}", self.result["operations"]))
    }
}

fn f(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("not a number: {value}"))
}

/// Writes `text` to a file in `dir`.
fn file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `brisk bench ARGS -o result.json -q`; the result must have been written.
fn bench(dir: &Path, args: &[&str]) -> Run {
    let out = dir.join(format!(
        "result-{}.json",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let mut full = vec!["bench"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["-q", "-o", out.to_str().unwrap()]);
    let output = brisk(&full);
    let text = std::fs::read_to_string(&out).unwrap_or_else(|e| {
        panic!(
            "no result written ({e}); exit {:?}, stderr: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
    });
    Run {
        output,
        result: serde_json::from_str(&text).unwrap(),
    }
}

/// Asserts exit 2 with one line on stderr that contains `needle`.
fn assert_bad_input(args: &[&str], needle: &str) {
    let mut full = vec!["bench"];
    full.extend_from_slice(args);
    let output = brisk(&full);
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
    assert!(!stderr.contains("panicked"));
}

#[test]
fn achieved_rate_is_near_the_target() {
    let db = Db::fresh("bench_rate");
    let dir = tempfile::tempdir().unwrap();
    let sql = file(dir.path(), "q.sql", "SELECT 1;\n");
    let url = db.url();
    for (arrival, timer) in [
        ("constant", "--threads=1"),
        ("poisson", "--threads=2"),
        ("constant", "--coarse-timer"),
    ] {
        let run = bench(
            dir.path(),
            &[
                "--sql",
                sql.to_str().unwrap(),
                "--rate",
                "200",
                "--duration",
                "5s",
                "--arrival",
                arrival,
                timer,
                &url,
            ],
        );
        assert!(run.output.status.success(), "{}", run.stderr());
        let all = run.operation("all");
        let count = f(&all["count"]);
        // Constant arrivals plan exactly 1,000 starts; a Poisson count has a standard
        // deviation of sqrt(1000) = 32, so 10% is over 3 of them.
        let tolerance = if arrival == "constant" { 0.02 } else { 0.10 };
        assert!(
            (count - 1000.0).abs() <= 1000.0 * tolerance,
            "{arrival}: {count} operations"
        );
        assert!((f(&all["rate"]) - 200.0).abs() <= 200.0 * tolerance);
        assert_eq!(f(&all["errors"]), 0.0);
        assert_eq!(run.result["model"]["target_rate"], 200.0);
        assert_eq!(run.result["schema"], "brisk.bench/1");
        let seconds = run.result["seconds"].as_array().unwrap();
        assert!(seconds.len() >= 5, "{} seconds", seconds.len());
        for second in &seconds[..5] {
            assert_eq!(second["target"], 200.0);
        }
        assert!(f(&run.result["generator"]["cpu_us_per_op"]) > 0.0);
        assert!(!all["histograms"]["latency"].as_str().unwrap().is_empty());
    }
}

/// A function that sleeps for a second on its `at`-th call: a stall in the server.
fn plant_stall(db: &Db, at: u32) {
    db.sql(&format!(
        "CREATE SEQUENCE calls;
         CREATE FUNCTION maybe_stall() RETURNS int LANGUAGE plpgsql AS $$
         BEGIN
           IF nextval('calls') = {at} THEN PERFORM pg_sleep(1); END IF;
           RETURN 1;
         END $$;"
    ));
}

#[test]
fn a_stall_shows_in_corrected_latency_but_not_in_service_time() {
    let dir = tempfile::tempdir().unwrap();
    let sql = file(dir.path(), "q.sql", "SELECT maybe_stall();\n");
    let run_open = |db: &Db| {
        bench(
            dir.path(),
            &[
                "--sql",
                sql.to_str().unwrap(),
                "--rate",
                "200",
                "--duration",
                "6s",
                "--connections",
                "1",
                &db.url(),
            ],
        )
    };

    // Planted: the 300th call stalls for 1 s. At 200/s on one connection, the ~200
    // operations due during the stall (about 17% of 1,200) wait behind it.
    let stalled = Db::fresh("bench_stall");
    plant_stall(&stalled, 300);
    let run = run_open(&stalled);
    assert!(run.output.status.success(), "{}", run.stderr());
    let all = run.operation("all");
    let latency_p99 = f(&all["latency_ms"]["p99"]);
    let service_p99 = f(&all["service_ms"]["p99"]);
    assert!(latency_p99 > 500.0, "corrected p99 {latency_p99} ms");
    assert!(f(&all["latency_ms"]["p90"]) > 100.0, "{all:#}");
    assert!(service_p99 < 200.0, "service p99 {service_p99} ms");
    // The stalled call itself is in service time, as its maximum.
    assert!(f(&all["service_ms"]["max"]) >= 1000.0);
    assert!(
        f(&all["lag_ms"]["p99"]) > 500.0,
        "the queue is visible as lag"
    );

    // Absent: the same run without a stall stays well below it. (Not "fast": on a loaded
    // two-core test machine a debug build's own scheduling can take tens of ms.)
    let calm = Db::fresh("bench_calm");
    plant_stall(&calm, 1_000_000);
    let run = run_open(&calm);
    let all = run.operation("all");
    assert!(f(&all["latency_ms"]["p99"]) < 300.0, "{all:#}");
    assert!(f(&all["latency_ms"]["max"]) < 1000.0, "{all:#}");

    // A closed model (one user, as a benchmark that waits for each answer) sees the same
    // stall as one slow operation only: the coordinated omission the open model corrects.
    let closed = Db::fresh("bench_closed");
    plant_stall(&closed, 300);
    let run = bench(
        dir.path(),
        &[
            "--sql",
            sql.to_str().unwrap(),
            "--users",
            "1",
            "--think-time",
            "5ms",
            "--duration",
            "6s",
            &closed.url(),
        ],
    );
    let all = run.operation("all");
    assert_eq!(run.result["model"]["kind"], "closed");
    assert!(f(&all["latency_ms"]["max"]) >= 1000.0);
    assert!(f(&all["latency_ms"]["p99"]) < 300.0, "{all:#}");
}

#[test]
fn thresholds_decide_the_exit_code() {
    let db = Db::fresh("bench_thresholds");
    let dir = tempfile::tempdir().unwrap();
    let sql = file(
        dir.path(),
        "q.sql",
        "-- name: ok\nSELECT 1;\n-- name: broken\n-- weight: 0.5\nSELECT 1/0;\n",
    );
    let url = db.url();
    let base = [
        "--sql",
        sql.to_str().unwrap(),
        "--rate",
        "100",
        "--duration",
        "2s",
    ];

    let mut args = base.to_vec();
    args.extend_from_slice(&[
        "--threshold",
        "ok: p99 < 10s",
        "--threshold",
        "rate >= 50/s",
        &url,
    ]);
    let run = bench(dir.path(), &args);
    assert_eq!(run.output.status.code(), Some(0), "{}", run.stderr());
    assert!(run.result["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["passed"] == true));

    let mut args = base.to_vec();
    args.extend_from_slice(&[
        "--threshold",
        "error_rate < 0.1%",
        "--threshold",
        "ok: p50 < 1us",
        &url,
    ]);
    let run = bench(dir.path(), &args);
    assert_eq!(run.output.status.code(), Some(99), "{}", run.stderr());
    let thresholds = run.result["thresholds"].as_array().unwrap();
    assert_eq!(thresholds.len(), 2);
    assert!(
        thresholds.iter().all(|t| t["passed"] == false),
        "{thresholds:#?}"
    );
    assert!(
        run.stdout().contains("FAIL error_rate < 0.1%"),
        "{}",
        run.stdout()
    );
    // Errors are counted by SQLSTATE: 22012 is division_by_zero.
    let broken = run.operation("broken");
    assert!(
        f(&broken["errors_by_sqlstate"]["22012"]["count"]) > 10.0,
        "{broken:#}"
    );
    assert_eq!(f(&broken["count"]), 0.0);
    assert_eq!(f(&run.operation("ok")["errors"]), 0.0);

    // --abort-on-fail stops a 60 s run soon after the 5 s grace.
    let started = Instant::now();
    let mut args = base.to_vec();
    args[5] = "60s";
    args.extend_from_slice(&["--threshold", "error_rate < 0.1%", "--abort-on-fail", &url]);
    let run = bench(dir.path(), &args);
    assert_eq!(run.output.status.code(), Some(99));
    assert_eq!(run.result["aborted_by_threshold"], true);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(f(&run.result["duration_s"]) < 10.0);
}

#[test]
fn compare_and_merge_work_on_real_results() {
    let dir = tempfile::tempdir().unwrap();
    let fast = file(dir.path(), "fast.sql", "-- name: q\nSELECT 1;\n");
    let slow = file(
        dir.path(),
        "slow.sql",
        "-- name: q\nSELECT pg_sleep(0.005);\n",
    );
    let db = Db::fresh("bench_compare");
    let url = db.url();
    let run_of = |sql: &Path| {
        bench(
            dir.path(),
            &[
                "--sql",
                sql.to_str().unwrap(),
                "--rate",
                "50",
                "--duration",
                "9s",
                &url,
            ],
        )
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| run_of(&fast));
        let b = s.spawn(|| run_of(&slow));
        (a.join().unwrap(), b.join().unwrap())
    });
    let a_path = file(dir.path(), "a.json", &a.result.to_string());
    let b_path = file(dir.path(), "b.json", &b.result.to_string());

    let output = brisk(&[
        "bench",
        "compare",
        a_path.to_str().unwrap(),
        b_path.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let comparison: Value = serde_json::from_slice(&output.stdout).unwrap();
    let q = comparison["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "q")
        .unwrap();
    let p50 = q["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == "p50")
        .unwrap();
    assert_eq!(p50["verdict"], "significant", "{p50:#}");
    assert!(f(&p50["change_pct"]) > 100.0, "{p50:#}");
    let rate = q["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["metric"] == "rate")
        .unwrap();
    assert!(f(&rate["change_pct"]).abs() < 5.0, "same rate: {rate:#}");

    let output = brisk(&[
        "bench",
        "compare",
        a_path.to_str().unwrap(),
        b_path.to_str().unwrap(),
        "--format",
        "markdown",
    ]);
    let markdown = String::from_utf8_lossy(&output.stdout);
    assert!(
        markdown.contains("| metric | A | B | change | verdict |"),
        "{markdown}"
    );
    assert!(markdown.contains("| p50 |"), "{markdown}");

    // A run that is not a segment keeps per-second figures, not per-second histograms:
    // its memory stays flat however long it runs.
    for run in [&a, &b] {
        let seconds = run.result["seconds"].as_array().unwrap();
        assert!(seconds.len() >= 8, "{seconds:?}");
        assert!(seconds.iter().all(|s| {
            s["operations"]["q"]["p99_ms"].as_f64().unwrap() > 0.0
                && s["operations"]["q"].get("latency").is_none()
        }));
    }

    // Merging the two as segments of one test adds their counts and histograms.
    let merged_path = dir.path().join("merged.json");
    let output = brisk(&[
        "bench",
        "merge",
        a_path.to_str().unwrap(),
        b_path.to_str().unwrap(),
        "-o",
        merged_path.to_str().unwrap(),
        "--html",
        dir.path().join("merged.html").to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The merged result's page: "2 segments merged", with the summed target rate drawn.
    let page = std::fs::read_to_string(dir.path().join("merged.html")).unwrap();
    assert!(page.contains("2 segments merged"), "{page}");
    assert!(page.contains(r#"data-series="target""#) && !page.contains("no data"));
    let merged: Value =
        serde_json::from_str(&std::fs::read_to_string(&merged_path).unwrap()).unwrap();
    let count = |r: &Value| f(&r["overall"]["count"]);
    assert_eq!(count(&merged), count(&a.result) + count(&b.result));
    assert_eq!(merged["model"]["target_rate"], 100.0);
    // Half the operations take about 5 ms, half well under: the merged median sits
    // between the two runs' medians, and the p99 is the slow run's.
    let p99 = f(&merged["overall"]["latency_ms"]["p99"]);
    assert!(p99 >= f(&b.result["overall"]["latency_ms"]["p50"]), "{p99}");
    // Their per-second percentiles can only be bounded, and the result says so.
    assert!(
        merged["generator"]["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("upper bound")),
        "{}",
        merged["generator"]
    );

    // A result that is not one is bad input.
    let junk = file(dir.path(), "junk.json", "{\"schema\": \"something/2\"}");
    assert_bad_input(
        &["compare", junk.to_str().unwrap(), a_path.to_str().unwrap()],
        "junk.json:",
    );
}

#[test]
fn segments_run_their_share_of_the_rate() {
    let db = Db::fresh("bench_segment");
    let dir = tempfile::tempdir().unwrap();
    let sql = file(dir.path(), "q.sql", "SELECT 1;\n");
    let run = bench(
        dir.path(),
        &[
            "--sql",
            sql.to_str().unwrap(),
            "--rate",
            "400",
            "--duration",
            "3s",
            "--segment",
            "2/4",
            &db.url(),
        ],
    );
    assert!(run.output.status.success(), "{}", run.stderr());
    assert_eq!(run.result["model"]["target_rate"], 100.0);
    let count = f(&run.operation("all")["count"]);
    assert!((count - 300.0).abs() <= 6.0, "{count}");
    assert_eq!(run.result["segments"][0]["index"], 2);
    // A segment is meant to be merged: each second keeps its histogram, so the merged
    // per-second percentiles are exact.
    let seconds = run.result["seconds"].as_array().unwrap();
    assert!(seconds.len() >= 3, "{seconds:?}");
    assert!(seconds.iter().all(|s| {
        let operations = s["operations"].as_object().unwrap();
        !operations.is_empty()
            && operations
                .values()
                .all(|op| !op["latency"].as_str().unwrap_or("").is_empty())
    }));
}

#[test]
fn pgbench_scripts_run_as_pgbench_runs_them() {
    let db = Db::fresh("bench_pgbench");
    // pgbench's own tables, made by pgbench itself.
    let pgbench = db.pg.binaries().bindir.join("pgbench");
    let status = Command::new(&pgbench)
        .args(["-i", "-s", "1", "-q", &db.url()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let dir = tempfile::tempdir().unwrap();
    let tpcb = file(
        dir.path(),
        "tpcb.sql",
        "\\set aid random(1, 100000 * :scale)\n\\set bid random(1, 1 * :scale)\n\\set tid random(1, 10 * :scale)\n\\set delta random(-5000, 5000)\nBEGIN;\nUPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;\nSELECT abalance FROM pgbench_accounts WHERE aid = :aid;\nUPDATE pgbench_tellers SET tbalance = tbalance + :delta WHERE tid = :tid;\nUPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = :bid;\nINSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP);\nEND;\n",
    );
    let select = file(
        dir.path(),
        "select.sql",
        "\\set aid random_zipfian(1, 100000, 1.5)\nSELECT abalance FROM pgbench_accounts WHERE aid = :aid;\n",
    );
    let tpcb_arg = format!("{}@1", tpcb.display());
    let select_arg = format!("{}@3", select.display());
    for protocol in ["prepared", "simple"] {
        let before: u64 = db
            .sql("SELECT count(*) FROM pgbench_history")
            .trim()
            .parse()
            .unwrap();
        let run = bench(
            dir.path(),
            &[
                "--pgbench-script",
                &tpcb_arg,
                "--pgbench-script",
                &select_arg,
                "--rate",
                "100",
                "--duration",
                "2s",
                "--protocol",
                protocol,
                &db.url(),
            ],
        );
        assert!(run.output.status.success(), "{}", run.stderr());
        let tpcb_run = run.operation("tpcb");
        assert_eq!(f(&tpcb_run["errors"]), 0.0, "{tpcb_run:#}");
        let after: u64 = db
            .sql("SELECT count(*) FROM pgbench_history")
            .trim()
            .parse()
            .unwrap();
        // One history row per committed transaction.
        assert_eq!(after - before, f(&tpcb_run["count"]) as u64, "{protocol}");
        let selects = f(&run.operation("select")["count"]);
        // Weights 1 and 3 over 200 operations.
        assert!(selects > 120.0 && selects < 180.0, "{selects}");
    }
}

#[test]
fn scenarios_draw_parameters_from_files_and_queries() {
    let db = Db::fresh("bench_scenario");
    db.sql(
        "CREATE TABLE users (id int PRIMARY KEY, name text);
         INSERT INTO users SELECT g, 'user' || g FROM generate_series(1, 50) g;
         CREATE TABLE seen (name text, user_id int, n int);",
    );
    let dir = tempfile::tempdir().unwrap();
    // Text a statement's syntax would take apart if it were written in as it is.
    file(dir.path(), "names.txt", "alice\no'brien\nc:\\temp\n");
    // Every protocol sends each drawn value as one value: a parameter, or (simple) a
    // quoted literal.
    for protocol in ["prepared", "extended", "simple"] {
        db.sql("TRUNCATE seen");
        let scenario = file(
            dir.path(),
            "scenario.toml",
            &format!(
                r#"target = "{}"
protocol = "{protocol}"
thresholds = ["error_rate < 1%"]

[load]
model = "closed"
stages = [{{ duration = "1s", target = 2 }}, {{ duration = "2s", target = 2 }}]
think_time = "10ms"

[params.name]
file = "names.txt"

[params.user_id]
query = "SELECT id FROM users WHERE id <= 5"

[params.n]
distribution = "zipfian"
min = 1
max = 100
s = 1.5

[[operations]]
name = "insert"
statements = ["BEGIN", "INSERT INTO seen VALUES (:name, :user_id, :n)", "COMMIT"]
"#,
                db.url()
            ),
        );
        let run = bench(dir.path(), &[scenario.to_str().unwrap()]);
        assert_eq!(
            run.output.status.code(),
            Some(0),
            "{protocol}: {}",
            run.stderr()
        );
        let count = f(&run.operation("insert")["count"]);
        assert!(count > 50.0, "{protocol}: {count}");
        let rows = db.sql("SELECT count(*), count(DISTINCT name), max(user_id), min(n) FROM seen WHERE name IN ('alice', 'o''brien', E'c:\\\\temp')");
        assert_eq!(
            rows.trim(),
            format!("{count}|3|5|1"),
            "{protocol}: every value came from the file and the query, unchanged"
        );
        let seconds = run.result["seconds"].as_array().unwrap();
        assert_eq!(seconds[0]["target"], 1.0, "half-way up the ramp of users");
        assert_eq!(seconds[2]["target"], 2.0);
    }
}

#[test]
fn bad_input_is_one_line_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = file(
        dir.path(),
        "bad.toml",
        "[load]\nrate = 10\n\n[[operations]]\nname = \"a\"\nsql = \"SELECT 1\"\nweight = -1\n",
    );
    assert_bad_input(
        &[scenario.to_str().unwrap()],
        "bad.toml:4: operation \"a\": weight must be positive",
    );
    let typo = file(
        dir.path(),
        "typo.toml",
        "[load]\nrate = 10\nduraton = \"1s\"\n",
    );
    assert_bad_input(
        &[typo.to_str().unwrap()],
        "typo.toml:3: unknown field `duraton`",
    );
    let script = file(
        dir.path(),
        "s.sql",
        "\\set a 1\nSELECT :a;\n\\shell echo hi\n",
    );
    assert_bad_input(
        &[
            "--pgbench-script",
            script.to_str().unwrap(),
            "--rate",
            "1",
            "postgres://localhost/x",
        ],
        "s.sql:3: \\shell is not supported",
    );
    let expr = file(dir.path(), "e.sql", "\\set a random(1, :b)\nSELECT 1;\n");
    assert_bad_input(
        &[
            "--pgbench-script",
            expr.to_str().unwrap(),
            "--rate",
            "1",
            "postgres://localhost/x",
        ],
        "e.sql:1: \\set a: undefined variable :b",
    );
    assert_bad_input(
        &["--sql", "/nonexistent.sql", "--rate", "1"],
        "cannot read /nonexistent.sql",
    );
    assert_bad_input(&["--segment", "5/4", "--rate", "1"], "--segment 5/4");
    assert_bad_input(
        &[
            "--sql",
            script.to_str().unwrap(),
            "--rate",
            "1",
            "--threshold",
            "p97 < 1ms",
        ],
        "threshold \"p97 < 1ms\"",
    );

    // Finding the knee needs something to break, a rising step and the open model.
    let knee = |extra: &[&str], needle: &str| {
        let mut args = vec![
            "--sql",
            script.to_str().unwrap(),
            "--rate",
            "10",
            "--find-knee",
            "postgres://localhost/x",
        ];
        args.extend_from_slice(extra);
        assert_bad_input(&args, needle);
    };
    knee(&[], "finding the knee needs a threshold");
    knee(
        &["--threshold", "p99 < 1s", "--knee-step", "x0.5"],
        "--knee-step x0.5: expected",
    );
    knee(
        &["--threshold", "p99 < 1s", "--knee-max", "5"],
        "the start must be above 0 and at most the maximum",
    );

    // Unreachable: fails at once, before any load.
    let sql = file(dir.path(), "q.sql", "SELECT 1;\n");
    let started = Instant::now();
    assert_bad_input(
        &[
            "--sql",
            sql.to_str().unwrap(),
            "--rate",
            "10",
            "postgres://app@127.0.0.1:1/app",
        ],
        "cannot reach PostgreSQL at postgres://app@127.0.0.1:1/app",
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    // A statement the server refuses is found when preparing, not as 100% errors.
    let db = Db::fresh("bench_refused");
    let missing = file(dir.path(), "m.sql", "\n\nSELECT * FROM no_such_table;\n");
    assert_bad_input(
        &["--sql", missing.to_str().unwrap(), "--rate", "10", &db.url()],
        "operation \"m.sql:3\" (line 3): the server refused it: relation \"no_such_table\" does not exist",
    );
}

#[test]
fn ctrl_c_stops_and_keeps_the_partial_result() {
    let db = Db::fresh("bench_interrupt");
    let dir = tempfile::tempdir().unwrap();
    let sql = file(dir.path(), "q.sql", "SELECT 1;\n");
    let out = dir.path().join("partial.json");
    let child = Command::new(env!("CARGO_BIN_EXE_brisk"))
        .args([
            "bench",
            "--sql",
            sql.to_str().unwrap(),
            "--rate",
            "100",
            "--duration",
            "60s",
            "-q",
            "-o",
        ])
        .arg(&out)
        .arg(db.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let output = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "stops promptly");
    assert_eq!(output.status.code(), Some(130));
    let result: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(result["interrupted"], true);
    let duration = f(&result["duration_s"]);
    assert!(duration > 1.5 && duration < 5.0, "{duration}");
    let count = f(&result["overall"]["count"]);
    assert!(
        (count - 100.0 * duration).abs() < 20.0,
        "{count} in {duration} s"
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("interrupted: partial results"));
}

#[test]
fn the_database_report_names_the_statement_that_took_the_time() {
    let dir = tempfile::tempdir().unwrap();
    let sql = file(
        dir.path(),
        "q.sql",
        "-- name: fast\n-- weight: 9\nSELECT 1;\n-- name: slow\nSELECT pg_sleep(0.01);\n",
    );
    let db = Db::fresh("bench_db_report");
    db.sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    let run = bench(
        dir.path(),
        &[
            "--sql",
            sql.to_str().unwrap(),
            "--rate",
            "100",
            "--duration",
            "3s",
            &db.url(),
        ],
    );
    assert!(run.output.status.success(), "{}", run.stderr());
    let report = &run.result["database"];
    assert!(report["note"].is_null(), "{report:#}");
    let top = &report["statements"][0];
    // pg_stat_statements' normalized text: the constant is $1, never the value.
    assert_eq!(top["query"], "SELECT pg_sleep($1)", "{report:#}");
    assert_eq!(f(&top["calls"]), f(&run.operation("slow")["count"]));
    assert!(f(&top["share_pct"]) > 50.0, "{top:#}");
    assert!(f(&top["mean_ms"]) >= 10.0);
    assert!(
        run.stdout().contains("SELECT pg_sleep($1)"),
        "{}",
        run.stdout()
    );

    // Without the extension in the database the run still runs, and says why there is no
    // per-statement report.
    let bare = Db::fresh("bench_db_bare");
    bare.sql("DROP EXTENSION IF EXISTS pg_stat_statements");
    let run = bench(
        dir.path(),
        &[
            "--sql",
            sql.to_str().unwrap(),
            "--rate",
            "50",
            "--duration",
            "1s",
            &bare.url(),
        ],
    );
    assert!(run.output.status.success(), "{}", run.stderr());
    let note = run.result["database"]["note"].as_str().unwrap();
    assert!(
        note.contains("CREATE EXTENSION pg_stat_statements"),
        "{note}"
    );
    assert!(run.result["database"]["statements"]
        .as_array()
        .unwrap()
        .is_empty());
}

/// Headless Chromium (Debian's `chromium`, installed by scripts/setup) on a local file:
/// `--dump-dom` gives the DOM as the browser built it, and `--enable-logging=stderr` prints
/// every console message, so a script error or a blocked load would show there.
fn chromium(dir: &Path, page: &Path, mode: &str) -> Output {
    let profile = tempfile::tempdir_in(dir).unwrap();
    let output = Command::new("chromium")
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,900",
            &format!("--user-data-dir={}", profile.path().display()),
            mode,
            &format!("file://{}", page.display()),
        ])
        .stdin(Stdio::null())
        .output()
        .expect("chromium runs (scripts/setup installs it)");
    assert!(
        output.status.success(),
        "chromium {mode}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn the_html_report_renders_offline_with_charts_that_have_data() {
    let dir = tempfile::tempdir().unwrap();
    let sql = file(
        dir.path(),
        "q.sql",
        "-- name: fast\n-- weight: 4\nSELECT 1;\n-- name: slow\nSELECT pg_sleep(0.005);\n-- name: broken\n-- weight: 1\nSELECT 1/0;\n",
    );
    let db = Db::fresh("bench_html");
    db.sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    let page = dir.path().join("report.html");
    let run = bench(
        dir.path(),
        &[
            "--sql",
            sql.to_str().unwrap(),
            "--rate",
            "100",
            "--duration",
            "3s",
            "--threshold",
            "p99 < 10s",
            "--threshold",
            "error_rate < 1%",
            "--html",
            page.to_str().unwrap(),
            &db.url(),
        ],
    );
    assert_eq!(run.output.status.code(), Some(99), "{}", run.stderr());
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("<script"), "no JavaScript");

    let dom = chromium(dir.path(), &page, "--dump-dom");
    let dom = String::from_utf8_lossy(&dom.stdout).to_string();
    assert!(dom.contains("<h1>brisk bench:"), "{dom}");
    // Four charts over time, the distribution and the rate per operation; each line has
    // points, and no chart is empty.
    assert_eq!(dom.matches("<svg").count(), 6, "{dom}");
    assert!(!dom.contains("no data"), "{dom}");
    let series: Vec<(String, u64)> = dom
        .split("data-series=\"")
        .skip(1)
        .map(|rest| {
            let name = rest.split('"').next().unwrap().to_string();
            let points = rest.split("data-points=\"").nth(1).unwrap();
            (name, points.split('"').next().unwrap().parse().unwrap())
        })
        .collect();
    assert!(series.len() >= 10, "{series:?}");
    for (name, points) in &series {
        // `broken` never succeeded: its latency distribution is empty, and that is drawn
        // as no line. Every other line has at least the run's 3 seconds.
        if name == "broken" {
            continue;
        }
        assert!(*points >= 3, "{name}: {points} points in {series:?}");
    }
    assert_eq!(dom.matches("class=\"bar\"").count(), 3);
    for needle in [
        "<table id=\"thresholds\"",
        "error_rate &lt; 1%",
        ">FAIL<",
        ">pass<",
        "<table id=\"operations\"",
        ">22012<",
        "division by zero",
        "pg_sleep($1)",
    ] {
        assert!(dom.contains(needle), "{needle} not in the page");
    }

    let shot = dir.path().join("report.png");
    let rendered = chromium(
        dir.path(),
        &page,
        &format!("--screenshot={}", shot.display()),
    );
    let log = String::from_utf8_lossy(&rendered.stderr);
    assert!(!log.contains("CONSOLE"), "console messages: {log}");
    assert!(!log.contains("ERR_"), "failed loads: {log}");
    // A blank 1280x900 page compresses to a few kB; one with charts and tables is larger.
    let size = std::fs::metadata(&shot).unwrap().len();
    assert!(size > 30_000, "screenshot of {size} bytes");
}

#[test]
fn find_knee_reports_the_highest_rate_that_held() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::fresh("bench_knee");
    let knee = |statement: &str| {
        let sql = file(dir.path(), "knee.sql", statement);
        let out = dir.path().join("knee.json");
        let page = dir.path().join("knee.html");
        let output = brisk(&[
            "bench",
            "--sql",
            sql.to_str().unwrap(),
            "--rate",
            "20",
            "--connections",
            "2",
            "--duration",
            "2s",
            "--find-knee",
            "--knee-step",
            "x2",
            "--knee-max",
            "200",
            "--knee-refine",
            "1",
            "--threshold",
            "p99 < 300ms",
            "-q",
            "-o",
            out.to_str().unwrap(),
            "--html",
            page.to_str().unwrap(),
            &db.url(),
        ]);
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert!(output.status.success(), "{stderr}");
        let result: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        let html = std::fs::read_to_string(&page).unwrap();
        (
            result,
            String::from_utf8_lossy(&output.stdout).to_string(),
            html,
        )
    };

    // Each statement holds a connection for 20 ms, so two connections finish at most
    // 100/s: above that the queue grows for the whole step and p99 passes 300 ms.
    let (result, stdout, html) = knee("SELECT pg_sleep(0.02);\n");
    assert_eq!(result["schema"], "brisk.knee/1");
    let held = f(&result["held_rate"]);
    let broke = f(&result["broke_rate"]);
    assert!((20.0..=100.0).contains(&held), "held {held}: {result:#}");
    assert!(broke > held && broke <= 200.0, "broke {broke}: {result:#}");
    let steps = result["steps"].as_array().unwrap();
    // 20, 40, ... doubling until one broke, then one bisection step.
    assert!(steps.len() >= 3, "{result:#}");
    for step in steps {
        let rate = f(&step["rate"]);
        assert_eq!(step["held"].as_bool().unwrap(), rate <= held, "{step:#}");
        assert!(f(&step["count"]) > 0.0);
        assert!(!step["thresholds"].as_array().unwrap().is_empty());
    }
    assert!(
        stdout.contains(&format!("knee: {held:.1}/s held, {broke:.1}/s broke")),
        "{stdout}"
    );
    assert!(stdout.contains("BROKE: p99 < 300ms"), "{stdout}");
    assert!(html.contains("The knee:") && html.matches("<svg").count() == 2);

    // A statement the server keeps up with holds at every step up to the maximum.
    let (result, stdout, _) = knee("SELECT 1;\n");
    assert!(result["broke_rate"].is_null(), "{result:#}");
    assert_eq!(f(&result["held_rate"]), 200.0);
    assert!(stdout.contains("no knee up to 200.0/s"), "{stdout}");
}

/// A workload captured through a real `brisk proxy` from two concurrent clients, replayed
/// at --speed 2: every statement runs once with its captured values, each session's
/// statements keep their order, the replay takes about half the captured span, and the
/// result names the statement.
#[test]
fn a_captured_workload_replays_in_order_at_the_speed_asked() {
    const ROLE: &str = "replay_app";
    const PASSWORD: &str = "replay-secret";
    let db = Db::fresh("bench_replay");
    static ROLE_ONCE: std::sync::Once = std::sync::Once::new();
    ROLE_ONCE.call_once(|| {
        db.sql(&format!(
            "CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}' SUPERUSER;"
        ));
    });
    db.sql(
        "CREATE TABLE replayed (client int, seq int, at timestamptz DEFAULT clock_timestamp());",
    );
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("capture.jsonl");
    let proxy = common::ProxyProcess::start(
        |port| {
            format!(
                "listen_port = {port}\nlog_parameters = true\ncapture_file = \"{}\"\n\
                 [databases]\n{db} = \"postgres://127.0.0.1:{pg_port}/{db}?sslmode=disable\"\n\
                 [users]\n{ROLE} = \"{PASSWORD}\"\n",
                capture.display(),
                db = db.name,
                pg_port = db.pg.port()
            )
        },
        "warn",
        Stdio::null(),
    );
    let proxy_url = format!(
        "postgres://{ROLE}:{PASSWORD}@127.0.0.1:{}/{}?sslmode=disable",
        proxy.port, db.name
    );
    // Two clients at once: brisk bench itself through the proxy, 2 connections at 10/s
    // for 2 s, so each sends 10 inserts 200 ms apart (a 1.9 s span), interleaved 100 ms
    // apart. Its prepared protocol sends text values, which the capture keeps (binary
    // ones it does not decode).
    const PER_CLIENT: i32 = 10;
    let script = file(
        dir.path(),
        "insert.sql",
        "\\set seq :seq + 1\nINSERT INTO replayed (client, seq) VALUES (:client_id, :seq);\n",
    );
    let load = brisk(&[
        "bench",
        "--pgbench-script",
        script.to_str().unwrap(),
        "-D",
        "seq=-1",
        "--rate",
        "10",
        "--duration",
        "2s",
        "--connections",
        "2",
        "-q",
        &proxy_url,
    ]);
    assert!(
        load.status.success(),
        "{}",
        String::from_utf8_lossy(&load.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut text = String::new();
    while Instant::now() < deadline {
        text = std::fs::read_to_string(&capture).unwrap_or_default();
        if text.matches("INSERT INTO replayed").count() >= 2 * PER_CLIENT as usize {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(proxy);
    let workload = brisk_workload::read_jsonl(text.as_bytes()).unwrap();
    let inserts: Vec<_> = workload
        .samples
        .iter()
        .filter(|s| s.query.contains("INSERT INTO replayed") && s.pattern.is_none())
        .collect();
    assert_eq!(inserts.len(), 2 * PER_CLIENT as usize, "{text}");
    let starts: Vec<f64> = inserts
        .iter()
        .map(|s| s.at_ms.expect("the proxy writes at_ms"))
        .collect();
    let span_s = (starts.iter().cloned().fold(f64::MIN, f64::max)
        - starts.iter().cloned().fold(f64::MAX, f64::min))
        / 1000.0;
    assert!((1.7..2.5).contains(&span_s), "captured span {span_s} s");

    db.sql("TRUNCATE replayed;");
    let started = Instant::now();
    let run = bench(
        dir.path(),
        &[
            "--replay",
            capture.to_str().unwrap(),
            "--speed",
            "2",
            &db.url(),
        ],
    );
    let wall_s = started.elapsed().as_secs_f64();
    assert!(run.output.status.success(), "{}", run.stderr());
    // Every captured statement ran once, with its captured values.
    let rows = db.sql("SELECT client, seq FROM replayed ORDER BY at;");
    let rows: Vec<(i32, i32)> = rows
        .lines()
        .map(|l| {
            let (c, s) = l.split_once('|').unwrap();
            (c.parse().unwrap(), s.parse().unwrap())
        })
        .collect();
    assert_eq!(rows.len(), 2 * PER_CLIENT as usize, "{rows:?}");
    for client in 0..2 {
        let seqs: Vec<i32> = rows
            .iter()
            .filter(|(c, _)| *c == client)
            .map(|(_, s)| *s)
            .collect();
        // Per-session order kept.
        assert_eq!(seqs, (0..PER_CLIENT).collect::<Vec<_>>(), "{rows:?}");
    }
    // The sessions ran concurrently: their rows interleave.
    let switches = rows.windows(2).filter(|w| w[0].0 != w[1].0).count();
    assert!(switches >= 10, "sessions did not interleave: {rows:?}");
    // About half the captured span.
    let duration_s = f(&run.result["duration_s"]);
    let planned_s = f(&run.result["planned_duration_s"]);
    assert!(
        (planned_s - span_s / 2.0).abs() < 0.05,
        "{planned_s} vs {span_s}"
    );
    assert!(
        duration_s >= planned_s && duration_s < planned_s + 0.4,
        "replay took {duration_s} s for {planned_s} s planned"
    );
    assert!(wall_s < span_s, "the whole command took {wall_s} s");
    assert_eq!(run.result["model"]["kind"], "replay");
    // The two clients, plus brisk bench's own pg_stat_statements connection, captured too.
    assert!(f(&run.result["model"]["connections"]) >= 2.0);
    let insert = run.operation("INSERT INTO replayed (client, seq) VALUES ($1, $2)");
    assert_eq!(insert["count"], 2 * PER_CLIENT);
    assert_eq!(run.result["overall"]["errors"], 0);
    assert_eq!(run.result["not_started"], 0);
    // brisk bench's own pg_stat_statements reads went through the proxy with binary
    // values: left out, and said so.
    let warnings = run.result["generator"]["warnings"].to_string();
    assert!(
        !warnings.contains("not replayed") || warnings.contains("capture.jsonl:"),
        "{warnings}"
    );
    // The text summary and the HTML page have the statement too.
    let text = brisk(&[
        "bench",
        "--replay",
        capture.to_str().unwrap(),
        "--speed",
        "20",
        "-q",
        "--html",
        dir.path().join("replay.html").to_str().unwrap(),
        &db.url(),
    ]);
    assert!(text.status.success());
    let summary = String::from_utf8_lossy(&text.stdout);
    assert!(summary.contains("INSERT INTO replayed"), "{summary}");
    assert!(summary.contains("replay of a capture"), "{summary}");
    let html = std::fs::read_to_string(dir.path().join("replay.html")).unwrap();
    assert!(html.contains("INSERT INTO replayed"));
}

/// A capture without `at_ms` (an older proxy) replays back to back per session; bad lines
/// are one line naming file:line, exit 2, before any connection.
#[test]
fn old_captures_replay_back_to_back_and_bad_lines_name_their_place() {
    let db = Db::fresh("bench_replay_old");
    db.sql("CREATE TABLE t (session text, seq int);");
    let dir = tempfile::tempdir().unwrap();
    let mut lines = String::new();
    for seq in 0..5 {
        for session in ["a", "b"] {
            lines.push_str(&format!(
                "{{\"query\": \"INSERT INTO t VALUES ($1, $2)\", \"params\": [\"{session}\", \"{seq}\"], \"session\": \"{session}\", \"order\": {seq}}}\n"
            ));
        }
    }
    // Literal text runs as it is; a pattern line is not an execution.
    lines.push_str("{\"query\": \"INSERT INTO t VALUES ('c', 0)\", \"session\": \"c\"}\n\n");
    lines.push_str("{\"query\": \"INSERT INTO t VALUES ($1, $2)\", \"calls\": 5, \"session\": \"a\", \"pattern\": {\"kind\": \"bulk-write\"}}\n");
    let old = file(dir.path(), "old.jsonl", &lines);
    let run = bench(dir.path(), &["--replay", old.to_str().unwrap(), &db.url()]);
    assert!(run.output.status.success(), "{}", run.stderr());
    assert_eq!(db.sql("SELECT count(*) FROM t;").trim(), "11");
    assert_eq!(run.result["overall"]["count"], 11);
    assert!(f(&run.result["duration_s"]) < 2.0);

    let bad = file(
        dir.path(),
        "bad.jsonl",
        "{\"query\": \"SELECT 1\"}\n\n{\"calls\": 3}\n",
    );
    let bad_path = bad.to_str().unwrap().to_string();
    assert_bad_input(
        &["--replay", &bad_path, &db.url()],
        &format!("{bad_path}:3: missing field `query`"),
    );
    let unvalued = file(
        dir.path(),
        "unvalued.jsonl",
        "{\"query\": \"SELECT * FROM t WHERE seq = $1\"}\n",
    );
    let unvalued_path = unvalued.to_str().unwrap().to_string();
    assert_bad_input(
        &["--replay", &unvalued_path, &db.url()],
        &format!("{unvalued_path}:1: the statement has $n placeholders"),
    );
    let aggregate = file(
        dir.path(),
        "aggregate.jsonl",
        "{\"query\": \"SELECT 1\", \"calls\": 40, \"total_ms\": 3}\n",
    );
    assert_bad_input(
        &["--replay", aggregate.to_str().unwrap(), &db.url()],
        ":1: an aggregate line (40 calls)",
    );
    assert_bad_input(
        &["--replay", old.to_str().unwrap(), "--speed", "0", &db.url()],
        "--speed 0",
    );
    assert_bad_input(
        &["--replay", "/nonexistent/capture.jsonl", &db.url()],
        "cannot read /nonexistent/capture.jsonl",
    );
}
