//! `brisk bench --http` end to end, against a small HTTP/1.1 server started by the test and
//! with the PostgreSQL variables pointing nowhere: an HTTP run needs no database, its
//! statuses are errors or not as asked, thresholds gate on them, a scenario's `[knee]`
//! section runs the search, and bad input is one line.
//! (The stall, timeout and connect cases are in brisk-bench's tests/http.rs.)

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Output;

use common::brisk_with_env;
use serde_json::Value;

/// PostgreSQL settings that reach no server: a run that tried to connect would fail.
const NO_DATABASE: [(&str, &str); 2] = [("PGHOST", "/nonexistent"), ("PGPORT", "1")];

/// A keep-alive HTTP/1.1 server on a free port: `/status/N` answers N, anything else 200.
fn serve() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer(stream));
        }
    });
    addr
}

fn answer(stream: TcpStream) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .to_string();
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        // `/sleep/N` takes N ms: with one thread per connection, c connections serve at
        // most c * 1000 / N requests a second.
        if let Some(ms) = path.strip_prefix("/sleep/").and_then(|s| s.parse().ok()) {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        let status: u16 = path
            .strip_prefix("/status/")
            .and_then(|s| s.parse().ok())
            .unwrap_or(200);
        let response = format!("HTTP/1.1 {status} X\r\nContent-Length: 2\r\n\r\nok");
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// `brisk bench ARGS -q -o result.json` with no database; the output and the result.
fn bench(dir: &Path, args: &[&str]) -> (Output, Value) {
    let out = dir.join("result.json");
    let _ = std::fs::remove_file(&out);
    let mut full = vec!["bench"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["-q", "-o", out.to_str().unwrap()]);
    let output = brisk_with_env(&full, &NO_DATABASE);
    let text = std::fs::read_to_string(&out).unwrap_or_else(|e| {
        panic!(
            "no result ({e}); exit {:?}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output, serde_json::from_str(&text).unwrap())
}

fn count(value: &Value) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("not a count: {value}"))
}

#[test]
fn an_http_run_needs_no_database_and_gates_on_statuses() {
    let addr = serve();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://{addr}/items/{{client_id}}");
    let (output, result) = bench(
        dir.path(),
        &["--http", "GET", &url, "--rate", "50", "--duration", "2s"],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(result["database"].is_null(), "{}", result["database"]);
    assert_eq!(result["target"], format!("http://{addr}"));
    let op = &result["operations"][0];
    assert_eq!(op["name"], "GET /items/{}");
    assert_eq!(count(&op["errors"]), 0);
    assert!((98..=100).contains(&count(&op["count"])), "{op}");

    // A status the request does not expect is an error by status, and a threshold on the
    // error rate fails the run with 99; expecting that status makes it a success.
    let failing = format!("http://{addr}/status/503");
    let args = [
        "--http",
        "GET",
        &failing,
        "--rate",
        "40",
        "--duration",
        "1s",
        "--threshold",
        "error_rate < 1%",
    ];
    let (output, result) = bench(dir.path(), &args);
    assert_eq!(output.status.code(), Some(99));
    let all = &result["overall"];
    assert_eq!(count(&all["count"]), 0);
    assert_eq!(
        count(&all["errors_by_sqlstate"]["HTTP 503"]["count"]),
        count(&all["errors"])
    );
    assert!(count(&all["errors"]) >= 38, "{all}");
    // The summary names the status as a status, not as a SQLSTATE.
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(summary.contains(" HTTP 503: "), "{summary}");
    assert!(!summary.contains("SQLSTATE HTTP"), "{summary}");
    let mut expecting = args.to_vec();
    expecting.extend_from_slice(&["--expect-status", "503"]);
    let (output, result) = bench(dir.path(), &expecting);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(count(&result["overall"]["errors"]), 0);
}

#[test]
fn bad_http_input_is_one_line_and_exit_2() {
    let free = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let unreachable = format!("http://{free}/items");
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("s.toml");
    std::fs::write(
        &scenario,
        "[[operations]]\nname = \"a\"\n[operations.http]\nurl = \"http://x/\"\nverb = \"GET\"\n",
    )
    .unwrap();
    let scenario = scenario.to_str().unwrap().to_string();
    for (args, needle) in [
        (
            vec!["--http", "GET", unreachable.as_str(), "--rate", "10"],
            format!("cannot reach http://{free}: "),
        ),
        (
            vec!["--http", "GET", "ftp://x/", "--rate", "10"],
            "the scheme must be http or https".into(),
        ),
        (
            vec!["--http", "GET", "http://x/{nope}", "--rate", "10"],
            "named \"nope\"".into(),
        ),
        (
            vec![
                "--http",
                "GET",
                "http://x/",
                "-H",
                "no colon",
                "--rate",
                "10",
            ],
            "expected \"Name: value\"".into(),
        ),
        (
            vec![
                "--http",
                "GET",
                "http://x/",
                "--http-timeout",
                "0s",
                "--rate",
                "10",
            ],
            "--http-timeout must be above zero".into(),
        ),
        (vec![scenario.as_str(), "--rate", "10"], "s.toml:5: ".into()),
    ] {
        let mut full = vec!["bench"];
        full.extend_from_slice(&args);
        let output = brisk_with_env(&full, &NO_DATABASE);
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(&needle), "{needle:?} not in {stderr}");
    }
}

#[test]
fn a_scenario_knee_section_runs_the_search_with_its_options() {
    let addr = serve();
    let dir = tempfile::tempdir().unwrap();
    // 2 connections of a 50 ms endpoint finish at most 40/s: at 50/s a 2 s step queues
    // 20 arrivals, and the last waits about 500 ms, past the 300 ms threshold. The threshold
    // is far above the 50 ms service time so that a loaded machine does not break 10/s.
    let scenario = dir.path().join("knee.toml");
    std::fs::write(
        &scenario,
        format!(
            "duration = \"2s\"\nconnections = 2\nthresholds = [\"p99 < 300ms\"]\n[load]\nrate = 10\n[knee]\nstep = \"10\"\nmax = 200\nrefine = 1\n[[operations]]\nname = \"sleep\"\n[operations.http]\nurl = \"http://{addr}/sleep/50\"\n"
        ),
    )
    .unwrap();
    let (output, knee) = bench(dir.path(), &[scenario.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(knee["schema"], "brisk.knee/1");
    let steps = knee["steps"].as_array().unwrap();
    let rates: Vec<f64> = steps.iter().map(|s| s["rate"].as_f64().unwrap()).collect();
    // The section's step (add 10/s) from the load's rate up to the first that broke, then
    // one bisection (refine = 1).
    let first_broke = steps
        .iter()
        .position(|s| s["held"] == false)
        .expect("a step broke");
    for (i, rate) in rates[..=first_broke].iter().enumerate() {
        assert_eq!(*rate, 10.0 + 10.0 * i as f64, "{rates:?}");
    }
    // How far the search gets depends on the machine's load (a loaded one can break even
    // 10/s), but never past the server's capacity: 40/s.
    let broke = knee["broke_rate"].as_f64().expect("the search broke");
    assert!(broke <= 50.0, "{knee}");
    if first_broke == 0 {
        assert_eq!(rates.len(), 1, "nothing held, nothing to bisect: {rates:?}");
        assert!(knee["held_rate"].is_null());
    } else {
        assert_eq!(rates.len(), first_broke + 2, "{rates:?}");
        let held = knee["held_rate"].as_f64().unwrap();
        assert!(held < broke, "{knee}");
    }

    // The command line overrides the section: a maximum of 20 stops the search there.
    let (output, knee) = bench(
        dir.path(),
        &[scenario.to_str().unwrap(), "--knee-max", "20"],
    );
    assert_eq!(output.status.code(), Some(0));
    let rates: Vec<f64> = knee["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["rate"].as_f64().unwrap())
        .collect();
    assert!(
        rates.len() <= 2 && rates.iter().all(|r| *r <= 20.0),
        "{rates:?}"
    );
    if knee["broke_rate"].is_null() {
        assert_eq!(
            rates,
            vec![10.0, 20.0],
            "both held: the search stopped at the max"
        );
    }
}
