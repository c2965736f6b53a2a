//! `brisk bench --http` against an API backed by the sandbox PostgreSQL (a small psycopg
//! server, tests/clients/bench_api_app.py): one endpoint has an N+1, one does not. Given the
//! database's URL, the report answers the seed teams' question "our API's p95 went up:
//! which query?" next to the HTTP latencies: the N+1's per-row statement, with its calls
//! twenty times the endpoint's requests.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::{brisk, Db};
use serde_json::Value;

/// The API server, killed on drop.
struct Api {
    child: Child,
    port: u16,
}

impl Api {
    fn start(db: &Db) -> Api {
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/bench_api_app.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(db.url())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("no port: {line:?}"));
        Api { child, port }
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn f(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("not a number: {value}"))
}

#[test]
fn the_database_report_names_the_n_plus_one_behind_an_endpoint() {
    let db = Db::fresh("bench_api");
    db.sql(
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
         CREATE TABLE authors (id int PRIMARY KEY, name text NOT NULL);
         CREATE TABLE books (id int PRIMARY KEY, author_id int NOT NULL REFERENCES authors);
         INSERT INTO authors SELECT i, 'author ' || i FROM generate_series(1, 20) i;
         INSERT INTO books SELECT i, 1 + i % 20 FROM generate_series(1, 40) i;",
    );
    let api = Api::start(&db);
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("api.toml");
    std::fs::write(
        &scenario,
        format!(
            "duration = \"4s\"\nconnections = 4\n[load]\nrate = 30\n\
             [[operations]]\nname = \"n_plus_one\"\n[operations.http]\nurl = \"http://127.0.0.1:{port}/books/n+1\"\n\
             [[operations]]\nname = \"joined\"\n[operations.http]\nurl = \"http://127.0.0.1:{port}/books/joined\"\n",
            port = api.port
        ),
    )
    .unwrap();
    let out = dir.path().join("result.json");
    let output = brisk(&[
        "bench",
        scenario.to_str().unwrap(),
        "-q",
        "-o",
        out.to_str().unwrap(),
        &db.url(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let operation = |name: &str| -> &Value {
        result["operations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name)
            .unwrap_or_else(|| panic!("no operation {name}: {result:#}"))
    };
    let (n_plus_one, joined) = (operation("n_plus_one"), operation("joined"));
    assert_eq!(f(&result["overall"]["errors"]), 0.0, "{result:#}");
    assert!(f(&n_plus_one["count"]) >= 20.0, "{n_plus_one:#}");

    let statements = result["database"]["statements"].as_array().unwrap();
    let statement = |text: &str| -> &Value {
        statements
            .iter()
            .find(|s| s["query"].as_str().is_some_and(|q| q.contains(text)))
            .unwrap_or_else(|| panic!("no statement with {text:?}: {statements:#?}"))
    };
    // The N+1's per-row lookup: twenty calls per request of its endpoint, the most calls of
    // the run; the joined endpoint's one statement, once per request.
    let lookup = statement("FROM authors WHERE id = $1");
    assert_eq!(
        f(&lookup["calls"]),
        20.0 * f(&n_plus_one["count"]),
        "{lookup:#}"
    );
    let join = statement("JOIN authors");
    assert_eq!(f(&join["calls"]), f(&joined["count"]), "{join:#}");
    let most_called = statements
        .iter()
        .max_by(|a, b| f(&a["calls"]).total_cmp(&f(&b["calls"])))
        .unwrap();
    assert_eq!(most_called["query"], lookup["query"], "{statements:#?}");
}
