//! Helpers that make a test read like a user's session: take a fresh database on the shared
//! sandbox, plant a problem with SQL, run `brisk check` on it, look at the findings.

#![allow(dead_code)]

use std::collections::HashMap;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use brisk_sandbox::{shared_postgres, Postgres};
use serde_json::Value;

/// A fresh database on a sandbox cluster.
pub struct Db {
    pub pg: &'static Postgres,
    pub name: String,
}

impl Db {
    /// A new database on the cluster this test binary shares.
    pub fn fresh(prefix: &str) -> Db {
        let pg = shared_postgres().expect("the shared sandbox starts");
        Db::on(pg, prefix)
    }

    /// A new database on a given cluster (leaked so tests can hold `&'static`).
    pub fn on(pg: &'static Postgres, prefix: &str) -> Db {
        let name = pg.fresh_database(prefix).expect("create database");
        Db { pg, name }
    }

    /// Runs SQL as the superuser and returns psql's unaligned output.
    pub fn sql(&self, sql: &str) -> String {
        self.pg
            .psql(&self.name, sql)
            .unwrap_or_else(|e| panic!("planting SQL failed: {e}\n{sql}"))
    }

    pub fn url(&self) -> String {
        self.pg.url(&self.name)
    }

    /// Waits until `pg_stat_user_tables.<counter>` of `table` reaches `at_least`. A backend
    /// reports its statistics as it exits, which may be after psql has returned, so a
    /// counter read right after planting SQL can still miss it.
    pub fn wait_for_table_stat(&self, table: &str, counter: &str, at_least: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let value = self
                .sql(&format!(
                    "SELECT {counter} FROM pg_stat_user_tables WHERE relname = '{table}';"
                ))
                .trim()
                .parse::<u64>()
                .unwrap_or(0);
            if value >= at_least {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{table}'s {counter} stayed at {value}, below {at_least}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts a psql session that runs `sql` and then stays connected (stdin kept open),
    /// so its transaction or lock stays in place until the returned guard is dropped.
    pub fn hold_session(&self, app: &str, sql: &str) -> Session {
        let mut child = self
            .pg
            .psql_command(&self.name)
            .env("PGAPPNAME", app)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("psql starts");
        use std::io::Write;
        let stdin = child.stdin.as_mut().expect("psql stdin");
        stdin.write_all(sql.as_bytes()).expect("write to psql");
        stdin.write_all(b"\n").expect("write to psql");
        stdin.flush().expect("flush psql");
        Session { child }
    }

    /// Waits until `pg_stat_activity` shows a session of `app` in a state for which `cond`
    /// (a SQL boolean over pg_stat_activity's columns) is true.
    pub fn wait_for_session(&self, app: &str, cond: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found = self.sql(&format!(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}' AND ({cond});"
            ));
            if found.trim() != "0" {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "session {app} never matched {cond}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A psql session held open by a test; killed on drop.
pub struct Session {
    child: Child,
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the brisk binary with a clean environment: no PG* variables from the machine.
pub fn brisk(args: &[&str]) -> Output {
    brisk_with_env(args, &[])
}

pub fn brisk_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_brisk"));
    command.args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("PG") {
            command.env_remove(&key);
        }
    }
    command.env("NO_COLOR", "1");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("brisk runs")
}

/// `brisk check URL --format json` plus `extra`, which must succeed; returns the report.
pub fn check(url: &str, extra: &[&str]) -> Value {
    report("check", url, extra)
}

/// `brisk advise URL --format json` plus `extra`, which must succeed; returns the report.
pub fn advise(url: &str, extra: &[&str]) -> Value {
    report("advise", url, extra)
}

/// `brisk COMMAND URL --format json` plus `extra`, which must succeed.
fn report(command: &str, url: &str, extra: &[&str]) -> Value {
    let mut args = vec![command, url, "--format", "json"];
    args.extend_from_slice(extra);
    let output = brisk(&args);
    assert!(
        output.status.success(),
        "brisk {command} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("brisk {command} prints JSON: {e}"))
}

/// The `CREATE INDEX` of every index `brisk advise` recommends.
pub fn recommended(report: &Value) -> Vec<String> {
    findings(report, "advise.index")
        .iter()
        .map(|f| f["fix"]["apply"].as_str().unwrap_or("").to_string())
        .collect()
}

/// The findings of one check.
pub fn findings<'a>(report: &'a Value, check: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .filter(|f| f["check"] == check)
        .collect()
}

/// The single finding of `check` about `subject`, or a panic that shows what was found.
pub fn finding<'a>(report: &'a Value, check: &str, subject: &str) -> &'a Value {
    let all = findings(report, check);
    all.iter()
        .find(|f| f["subject"] == subject)
        .copied()
        .unwrap_or_else(|| {
            let subjects: Vec<&Value> = all.iter().map(|f| &f["subject"]).collect();
            panic!("no {check} finding about {subject}; found {subjects:?}")
        })
}

/// Asserts that `check` says nothing about `subject`.
pub fn assert_silent(report: &Value, check: &str, subject: &str) {
    let all = findings(report, check);
    assert!(
        all.iter().all(|f| f["subject"] != subject),
        "unexpected {check} finding about {subject}: {all:#?}"
    );
}

/// The value of a named evidence item (or impact figure).
pub fn evidence(finding: &Value, name: &str) -> f64 {
    let lists = [
        &finding["evidence"],
        &finding["impact"]["estimated"],
        &finding["impact"]["measured"],
    ];
    lists
        .iter()
        .filter_map(|l| l.as_array())
        .flatten()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_f64())
        .unwrap_or_else(|| panic!("no evidence {name} in {finding:#}"))
}

/// Whether the check ran (it is not in `skipped`).
pub fn ran(report: &Value, check: &str) -> bool {
    report["checks_run"]
        .as_array()
        .is_some_and(|c| c.iter().any(|id| id == check))
}

/// A free TCP port on 127.0.0.1 (free when asked; tests bind it right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `brisk proxy` process, listening, with the config that `config_text` writes for its
/// port. The directory holding the config lives as long as the process is wanted.
pub struct ProxyProcess {
    pub child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub config: std::path::PathBuf,
}

impl ProxyProcess {
    /// Starts the proxy at `BRISK_LOG=log_level` and waits until it accepts connections.
    pub fn start(
        config_text: impl FnOnce(u16) -> String,
        log_level: &str,
        stderr: Stdio,
    ) -> ProxyProcess {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = dir.path().join("brisk.toml");
        std::fs::write(&config, config_text(port)).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_brisk"))
            .args(["proxy", "--config"])
            .arg(&config)
            .env("BRISK_LOG", log_level)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the proxy never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        ProxyProcess {
            child,
            port,
            dir,
            config,
        }
    }
}

/// `brisk proxy` with trust auth in front of `pg`'s `postgres` database as its `postgres`
/// user, whatever user name the client gives; `admin` may use the console. `extra` lines go
/// before `[databases]`. Killed on drop.
pub struct TrustProxy {
    pub child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl TrustProxy {
    pub fn start(pg: &Postgres, extra: &str) -> TrustProxy {
        let process = ProxyProcess::start(
            |port| {
                format!(
                    "listen_port = {port}\nauth_type = \"trust\"\nadmin_users = [\"admin\"]\n\
                     {extra}\n[databases]\n\
                     postgres = \"postgres://postgres:{pw}@127.0.0.1:{pg_port}/postgres?sslmode=disable\"\n",
                    pw = pg.password(),
                    pg_port = pg.port()
                )
            },
            "warn",
            Stdio::null(),
        );
        TrustProxy {
            child: process.child,
            port: process.port,
            _dir: process.dir,
        }
    }

    /// The `postgres` database through the proxy, as `user`.
    pub fn url(&self, user: &str) -> String {
        format!(
            "postgres://{user}@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }

    /// A `SHOW ...` of the admin console, one map per row, by column name.
    pub fn console(&self, command: &str) -> Vec<HashMap<String, String>> {
        let url = format!(
            "postgres://admin@127.0.0.1:{}/brisk?sslmode=disable",
            self.port
        );
        console_rows(&url, command)
    }

    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for TrustProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `command` on the admin console at `url` with psql; one map per row, by column name.
pub fn console_rows(url: &str, command: &str) -> Vec<HashMap<String, String>> {
    let output = Command::new("psql")
        .args(["-X", "-A", "-F", "|", "-d", url, "-c", command])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    table_rows(&String::from_utf8_lossy(&output.stdout))
}

/// psql's unaligned output (`-A -F '|'`): one map per data row, by column name.
pub fn table_rows(text: &str) -> Vec<HashMap<String, String>> {
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split('|')
        .map(str::to_string)
        .collect();
    lines
        .filter(|l| l.contains('|'))
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split('|').map(str::to_string))
                .collect()
        })
        .collect()
}

/// A runtime with `workers` threads for a test's tokio-postgres clients.
pub fn runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap()
}
