//! `brisk proxy` with real clients (psql, pgbench, tokio-postgres) in transaction mode,
//! against a sandbox PostgreSQL.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use brisk_sandbox::{shared_postgres, Postgres};

/// The application role and its database.
struct App {
    pg: &'static Postgres,
    database: String,
}

const APP_USER: &str = "app";
const APP_PASSWORD: &str = "app-secret";

fn app() -> App {
    let pg = shared_postgres().expect("sandbox");
    static ROLE: std::sync::Once = std::sync::Once::new();
    ROLE.call_once(|| {
        pg.psql(
            "postgres",
            &format!("CREATE ROLE {APP_USER} LOGIN PASSWORD '{APP_PASSWORD}';"),
        )
        .unwrap();
    });
    let database = pg.fresh_database("proxy").unwrap();
    pg.psql(
        &database,
        &format!("ALTER DATABASE {database} OWNER TO {APP_USER};"),
    )
    .unwrap();
    pg.psql(
        &database,
        &format!("GRANT ALL ON SCHEMA public TO {APP_USER};"),
    )
    .unwrap();
    App { pg, database }
}

/// A running `brisk proxy`, stopped (SIGTERM) on drop.
struct Proxy {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Proxy {
    /// Starts a proxy for `app` with extra config lines (before `[databases]`).
    fn start(app: &App, extra: &str) -> Proxy {
        Proxy::start_with(|port| Proxy::config_text(app, port, extra))
    }

    /// Starts a proxy with the whole config `config_text` writes for its port.
    fn start_with(config_text: impl FnOnce(u16) -> String) -> Proxy {
        let common::ProxyProcess {
            child,
            port,
            dir,
            config,
        } = common::ProxyProcess::start(config_text, "info", Stdio::piped());
        Proxy {
            child,
            port,
            dir,
            config,
        }
    }

    fn config_text(app: &App, port: u16, extra: &str) -> String {
        format!(
            "listen_port = {port}\nadmin_users = [\"admin\"]\n{extra}\n\
             [databases]\n{db} = \"postgres://127.0.0.1:{pg_port}/{db}?sslmode=disable\"\n\
             [users]\n{APP_USER} = \"{APP_PASSWORD}\"\nadmin = \"admin-secret\"\n",
            db = app.database,
            pg_port = app.pg.port()
        )
    }

    fn url(&self, app: &App) -> String {
        format!(
            "postgres://{APP_USER}:{APP_PASSWORD}@127.0.0.1:{}/{}?sslmode=disable",
            self.port, app.database
        )
    }

    fn psql(&self, app: &App, sql: &str) -> Output {
        Command::new("psql")
            .args([
                "-X",
                "-At",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                &self.url(app),
                "-c",
                sql,
            ])
            .output()
            .unwrap()
    }

    fn admin(&self, command: &str) -> String {
        let output = Command::new("psql")
            .args([
                "-X",
                "-A",
                "-F",
                "|",
                "-d",
                &format!(
                    "postgres://admin:admin-secret@127.0.0.1:{}/brisk?sslmode=disable",
                    self.port
                ),
                "-c",
                command,
            ])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{command}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).to_string()
    }

    /// Every data row of an admin command's output, by column name.
    fn admin_rows(&self, command: &str) -> Vec<std::collections::HashMap<String, String>> {
        common::table_rows(&self.admin(command))
    }

    /// The value of `column` in the first data row of an admin command's output.
    fn admin_value(&self, command: &str, column: &str) -> String {
        let text = self.admin(command);
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap_or("").split('|').collect();
        let row: Vec<&str> = lines.next().unwrap_or("").split('|').collect();
        let i = header
            .iter()
            .position(|h| *h == column)
            .unwrap_or_else(|| panic!("{column} in {header:?}"));
        row[i].to_string()
    }

    /// Stops the proxy and returns everything it logged.
    fn stop_and_read_log(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut log = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            std::io::Read::read_to_string(&mut stderr, &mut log).unwrap();
        }
        log
    }

    fn signal(&self, signal: &str) {
        Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = &self.dir;
    }
}

/// A single-threaded runtime for a test's tokio-postgres clients.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A tokio-postgres client of `url`, its connection driven on the test's runtime.
async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[test]
fn psql_runs_queries_transactions_errors_and_copy_through_the_proxy() {
    let app = app();
    // Two workers whatever the machine: the other tests run on the automatic count, which
    // is one thread on small machines.
    let proxy = Proxy::start(&app, "default_pool_size = 2\nthreads = 2");
    assert_eq!(ok(&proxy.psql(&app, "SELECT 40 + 2")), "42");
    ok(&proxy.psql(&app, "CREATE TABLE items (id int PRIMARY KEY, name text)"));
    // A transaction with an error in the middle rolls back, and the session recovers.
    let script = "BEGIN; INSERT INTO items VALUES (1, 'a'); SELECT 1/0; COMMIT;";
    let failed = proxy.psql(&app, script);
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stderr).contains("division by zero"));
    assert_eq!(ok(&proxy.psql(&app, "SELECT count(*) FROM items")), "0");
    // COPY in both directions.
    let mut child = Command::new("psql")
        .args([
            "-X",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            &proxy.url(&app),
            "-c",
            "COPY items FROM STDIN (FORMAT csv)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rows: String = (1..=500).map(|i| format!("{i},name {i}\n")).collect();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(rows.as_bytes())
        .unwrap();
    ok(&child.wait_with_output().unwrap());
    let out = ok(&proxy.psql(
        &app,
        "COPY (SELECT id FROM items WHERE id <= 3 ORDER BY id) TO STDOUT",
    ));
    assert_eq!(out, "1\n2\n3");
    assert_eq!(ok(&proxy.psql(&app, "SELECT count(*) FROM items")), "500");
}

#[test]
fn pgbench_runs_in_every_protocol_mode_and_with_reconnects() {
    let app = app();
    let init = Command::new("pgbench")
        .args(["-i", "-s", "1", "-q", "-d", &app.pg.url(&app.database)])
        .output()
        .unwrap();
    ok(&init);
    app.pg
        .psql(
            &app.database,
            &format!("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {APP_USER};"),
        )
        .unwrap();
    // Fewer servers than clients: the clients take turns, transaction by transaction, on
    // the single-threaded runtime whatever the machine.
    let proxy = Proxy::start(&app, "default_pool_size = 2\nthreads = 1");
    for (mode, extra) in [
        ("simple", vec![]),
        ("extended", vec![]),
        ("prepared", vec![]),
        ("simple", vec!["-C"]),
    ] {
        let mut args = vec!["-n", "-S", "-c", "8", "-j", "2", "-t", "200", "-M", mode];
        args.extend(extra.iter().copied());
        let url = proxy.url(&app);
        args.extend(["-d", url.as_str()]);
        let output = Command::new("pgbench").args(&args).output().unwrap();
        let text = ok(&output);
        assert!(
            text.contains("number of transactions actually processed: 1600/1600"),
            "{mode} {extra:?}: {text}"
        );
        assert!(text.contains("number of failed transactions: 0"), "{text}");
    }
    // Eight clients, at most two servers.
    let servers: usize = proxy.admin_value("SHOW POOLS", "sv_idle").parse().unwrap();
    assert!(servers <= 2, "{servers} servers for a pool of 2");
}

#[test]
fn prepared_statements_survive_moving_between_servers() {
    let app = app();
    let proxy = Proxy::start(&app, "default_pool_size = 1");
    let url = proxy.url(&app);
    runtime().block_on(async {
        let a = connect(&url).await;
        let b = connect(&url).await;
        // Both prepare the same statement and a statement of their own, then use them in
        // turns; with one server they share it, and each Bind must find its statement.
        let shared_a = a.prepare("SELECT $1::int + 1").await.unwrap();
        let own_a = a.prepare("SELECT 'a:' || $1::text").await.unwrap();
        let shared_b = b.prepare("SELECT $1::int + 1").await.unwrap();
        let own_b = b.prepare("SELECT 'b:' || $1::text").await.unwrap();
        for i in 0..20 {
            let x: i32 = a.query_one(&shared_a, &[&i]).await.unwrap().get(0);
            assert_eq!(x, i + 1);
            let s: String = b.query_one(&own_b, &[&i.to_string()]).await.unwrap().get(0);
            assert_eq!(s, format!("b:{i}"));
            let s: String = a.query_one(&own_a, &[&i.to_string()]).await.unwrap().get(0);
            assert_eq!(s, format!("a:{i}"));
            let y: i32 = b.query_one(&shared_b, &[&i]).await.unwrap().get(0);
            assert_eq!(y, i + 1);
        }
        // A statement that fails to prepare does not poison the server for others.
        assert!(a.prepare("SELEC 1").await.is_err());
        let z: i32 = b.query_one(&shared_b, &[&41]).await.unwrap().get(0);
        assert_eq!(z, 42);
    });
}

/// Buffers grow for a burst and go back to their small size after it (an idle client holds a
/// few pages, a pooled server connection 16 KB): the messages on either side of the burst
/// must come through whole, on the one server the pool has.
#[test]
fn large_queries_and_results_pass_through_between_small_ones() {
    let app = app();
    let proxy = Proxy::start(&app, "default_pool_size = 1");
    let url = proxy.url(&app);
    runtime().block_on(async {
        let client = connect(&url).await;
        let big = "x".repeat(3 << 20);
        for round in 0..3 {
            let n: i32 = client.query_one("SELECT 1", &[]).await.unwrap().get(0);
            assert_eq!(n, 1);
            // A large Bind from the client, and a large DataRow from the server.
            let len: i32 = client
                .query_one("SELECT length($1::text)", &[&big])
                .await
                .unwrap()
                .get(0);
            assert_eq!(len as usize, big.len(), "round {round}");
            let text: String = client
                .query_one("SELECT repeat('y', 4000000)", &[])
                .await
                .unwrap()
                .get(0);
            assert_eq!(text.len(), 4_000_000);
            assert!(text.bytes().all(|b| b == b'y'));
            // A large simple query.
            let rows = client
                .simple_query(&format!("SELECT length('{big}')"))
                .await
                .unwrap();
            let len = rows.iter().find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
                _ => None,
            });
            assert_eq!(len, Some(big.len().to_string()));
            let s: String = client
                .query_one("SELECT $1::text", &[&"small"])
                .await
                .unwrap()
                .get(0);
            assert_eq!(s, "small");
        }
    });
}

#[test]
fn a_cancel_request_reaches_the_right_server() {
    let app = app();
    let proxy = Proxy::start(&app, "default_pool_size = 2");
    let url = proxy.url(&app);
    runtime().block_on(async {
        let client = connect(&url).await;
        let token = client.cancel_token();
        let started = Instant::now();
        let sleeper = tokio::spawn(async move { client.simple_query("SELECT pg_sleep(30)").await });
        tokio::time::sleep(Duration::from_millis(500)).await;
        token.cancel_query(tokio_postgres::NoTls).await.unwrap();
        let result = sleeper.await.unwrap();
        let Err(error) = result else {
            panic!("the query was not cancelled");
        };
        assert_eq!(
            error.code(),
            Some(&tokio_postgres::error::SqlState::QUERY_CANCELED)
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    });
}

#[test]
fn a_client_that_disconnects_mid_transaction_releases_its_locks() {
    let app = app();
    let proxy = Proxy::start(&app, "default_pool_size = 1");
    ok(&proxy.psql(
        &app,
        "CREATE TABLE jobs (id int); INSERT INTO jobs VALUES (1)",
    ));
    let mut holder = Command::new("psql")
        .args(["-X", "-q", "-d", &proxy.url(&app)])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    holder
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"BEGIN;\nLOCK TABLE jobs IN ACCESS EXCLUSIVE MODE;\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    holder.kill().unwrap();
    holder.wait().unwrap();
    // The one server was rolled back and returned: the lock is gone.
    let started = Instant::now();
    let count = ok(&proxy.psql(&app, "SET lock_timeout = '5s'; SELECT count(*) FROM jobs"));
    assert_eq!(count.lines().last(), Some("1"), "{count}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// `SHOW name` on `client`.
async fn show(client: &tokio_postgres::Client, name: &str) -> String {
    let rows = client.simple_query(&format!("SHOW {name}")).await.unwrap();
    rows.iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        })
        .unwrap()
}

#[test]
fn no_client_sees_a_setting_another_client_left_on_a_shared_server() {
    let app = app();
    let proxy = Proxy::start(&app, "default_pool_size = 2");
    let url = proxy.url(&app);
    let direct = app.pg.url_for(APP_USER, APP_PASSWORD, &app.database);
    runtime().block_on(async {
        let server = connect(&direct).await;
        let server_zone = show(&server, "TimeZone").await;
        let server_work_mem = show(&server, "work_mem").await;
        assert_ne!(server_zone, "Pacific/Chatham");
        // The leak as reported: a SET outside a transaction (tracked, not pinned) reached
        // every client that got the same server afterwards.
        let a = connect(&url).await;
        a.batch_execute("SET TimeZone = 'Pacific/Chatham'; SET application_name = 'a'")
            .await
            .unwrap();
        for _ in 0..4 {
            let other = connect(&url).await;
            assert_eq!(show(&other, "TimeZone").await, server_zone);
            assert_eq!(show(&other, "application_name").await, "");
            assert_eq!(show(&a, "TimeZone").await, "Pacific/Chatham");
        }
        // Resets go back to the client's own startup values, not the server's.
        let named = connect(&format!("{url}&application_name=reporting")).await;
        for reset in [
            "RESET application_name",
            "RESET ALL",
            "SET application_name TO DEFAULT",
            "SET SESSION application_name = DEFAULT",
            "DISCARD ALL",
        ] {
            named
                .batch_execute("SET application_name = 'changed'")
                .await
                .unwrap();
            assert_eq!(show(&named, "application_name").await, "changed");
            named.batch_execute(reset).await.unwrap();
            assert_eq!(
                show(&named, "application_name").await,
                "reporting",
                "{reset}"
            );
        }
        // Inside a transaction, and then after it.
        named
            .batch_execute("SET application_name = 'before'")
            .await
            .unwrap();
        named
            .batch_execute("BEGIN; SET LOCAL application_name TO DEFAULT")
            .await
            .unwrap();
        assert_eq!(show(&named, "application_name").await, "reporting");
        named.batch_execute("COMMIT").await.unwrap();
        assert_eq!(show(&named, "application_name").await, "before");
        // SET LOCAL ends with its transaction, for the client and for the server.
        a.batch_execute("BEGIN; SET LOCAL TimeZone = 'Asia/Tokyo'; COMMIT")
            .await
            .unwrap();
        assert_eq!(show(&a, "TimeZone").await, "Pacific/Chatham");
        let other = connect(&url).await;
        assert_eq!(show(&other, "TimeZone").await, server_zone);
        // DISCARD ALL puts the client's settings back, as it does directly.
        a.batch_execute("DISCARD ALL").await.unwrap();
        assert_eq!(show(&a, "TimeZone").await, server_zone);
        // An untracked setting pins its client, even when set inside a transaction that
        // commits; its server is cleaned when the client leaves.
        let pinned = connect(&url).await;
        pinned
            .batch_execute("BEGIN; SET work_mem = '1234kB'; COMMIT")
            .await
            .unwrap();
        pinned
            .batch_execute("SELECT set_config('statement_timeout', '4321', false)")
            .await
            .unwrap();
        for _ in 0..3 {
            let other = connect(&url).await;
            assert_eq!(show(&other, "work_mem").await, server_work_mem);
        }
        drop(pinned);
        tokio::time::sleep(Duration::from_millis(200)).await;
        for _ in 0..3 {
            let other = connect(&url).await;
            assert_eq!(show(&other, "work_mem").await, server_work_mem);
            assert_eq!(show(&other, "statement_timeout").await, "0");
        }
    });
}

#[test]
fn a_client_killed_in_a_statement_frees_its_locks_at_once() {
    let app = app();
    let proxy = Proxy::start(&app, "default_pool_size = 2");
    ok(&proxy.psql(
        &app,
        "CREATE TABLE accounts (aid int PRIMARY KEY, balance int); \
         INSERT INTO accounts VALUES (1, 0), (2, 0)",
    ));
    let mut holder = Command::new("psql")
        .args(["-X", "-q", "-d", &proxy.url(&app)])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    holder
        .stdin
        .as_mut()
        .unwrap()
        .write_all(
            b"BEGIN;\nUPDATE accounts SET balance = balance + 1 WHERE aid = 2;\nSELECT pg_sleep(20);\n",
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    holder.kill().unwrap();
    holder.wait().unwrap();
    // Directly and through PgBouncer the backend runs the sleep to its end and keeps the
    // row lock for 19 more seconds; brisk cancels it, rolls back and reuses the server.
    let direct = app.pg.url_for(APP_USER, APP_PASSWORD, &app.database);
    let updated = Command::new("psql")
        .args([
            "-X",
            "-Atq",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            &direct,
            "-c",
            "SET lock_timeout = '3s'",
            "-c",
            "UPDATE accounts SET balance = balance + 1 WHERE aid = 2 RETURNING balance",
        ])
        .output()
        .unwrap();
    assert_eq!(ok(&updated).lines().last(), Some("1"));
    let sleeping = app
        .pg
        .psql(
            &app.database,
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()",
        )
        .unwrap();
    assert_eq!(sleeping.trim(), "0");
}

#[test]
fn session_features_pin_the_client_and_settings_follow_it() {
    let app = app();
    let proxy = Proxy::start(&app, "default_pool_size = 2");
    let url = proxy.url(&app);
    runtime().block_on(async {
        let client = connect(&url).await;
        // A reported setting is replayed on whatever server the client gets next.
        client
            .batch_execute("SET application_name = 'billing'")
            .await
            .unwrap();
        for _ in 0..5 {
            let name: String = client
                .query_one("SELECT current_setting('application_name')", &[])
                .await
                .unwrap()
                .get(0);
            assert_eq!(name, "billing");
        }
        // A temporary table lives in one server's session: the client stays there.
        client
            .batch_execute("CREATE TEMP TABLE scratch (x int)")
            .await
            .unwrap();
        for i in 0..5 {
            client
                .execute("INSERT INTO scratch VALUES ($1)", &[&i])
                .await
                .unwrap();
        }
        let n: i64 = client
            .query_one("SELECT count(*) FROM scratch", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 5);
    });
    assert_eq!(proxy.admin_value("SHOW POOLS", "cl_pinned"), "1");
}

#[test]
fn the_admin_console_reports_pools_and_reloads_its_config() {
    let app = app();
    let proxy = Proxy::start(&app, "default_pool_size = 3");
    ok(&proxy.psql(&app, "SELECT 1"));
    let pools = proxy.admin("SHOW POOLS");
    assert!(
        pools.starts_with("database|user|cl_active|cl_waiting"),
        "{pools}"
    );
    assert!(pools.contains(&app.database));
    let stats = proxy.admin("SHOW STATS");
    assert!(stats.contains("total_xact_count"), "{stats}");
    let queries: u64 = proxy
        .admin_value("SHOW STATS", "total_query_count")
        .parse()
        .unwrap();
    assert!(queries >= 1);
    assert!(proxy
        .admin("SHOW CLIENTS")
        .starts_with("type|user|database|state"));
    assert!(proxy.admin("SHOW SERVERS").contains(&app.database));
    assert_eq!(proxy.admin_value("SHOW CONFIG", "value"), "127.0.0.1");

    // Edit the file, SIGHUP: the new pool size shows, the old clients carry on.
    let text = std::fs::read_to_string(&proxy.config).unwrap();
    std::fs::write(
        &proxy.config,
        text.replace("default_pool_size = 3", "default_pool_size = 7"),
    )
    .unwrap();
    proxy.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let config = proxy.admin("SHOW CONFIG");
        if config.contains("default_pool_size|7|yes") {
            assert!(config.contains("threads|0|no"), "{config}");
            break;
        }
        assert!(Instant::now() < deadline, "{config}");
        std::thread::sleep(Duration::from_millis(50));
    }
    proxy.admin("PAUSE");
    proxy.admin("RESUME");
    assert_eq!(ok(&proxy.psql(&app, "SELECT 2")), "2");
    // Unknown commands are errors, not crashes.
    let output = Command::new("psql")
        .args([
            "-X",
            "-d",
            &format!(
                "postgres://admin:admin-secret@127.0.0.1:{}/brisk?sslmode=disable",
                proxy.port
            ),
            "-c",
            "SHOW NONSENSE",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown admin command"));
}

#[test]
fn wrong_passwords_and_unknown_databases_are_refused() {
    let app = app();
    let proxy = Proxy::start(&app, "");
    let wrong = Command::new("psql")
        .args([
            "-X",
            "-d",
            &format!(
                "postgres://{APP_USER}:nope@127.0.0.1:{}/{}?sslmode=disable",
                proxy.port, app.database
            ),
            "-c",
            "SELECT 1",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("password authentication failed"));
    let unknown = Command::new("psql")
        .args([
            "-X",
            "-d",
            &format!(
                "postgres://{APP_USER}:{APP_PASSWORD}@127.0.0.1:{}/nowhere?sslmode=disable",
                proxy.port
            ),
            "-c",
            "SELECT 1",
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("database \"nowhere\" does not exist")
    );
}

#[test]
fn md5_and_trust_logins_work_when_configured() {
    let app = app();
    for auth in ["md5", "trust"] {
        let proxy = Proxy::start(&app, &format!("auth_type = \"{auth}\""));
        assert_eq!(ok(&proxy.psql(&app, "SELECT 7")), "7", "{auth}");
    }
}

#[test]
fn a_malformed_config_is_one_line_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("brisk.toml");
    std::fs::write(
        &config,
        "default_pool_size = \"lots\"\n[databases]\napp = \"host=x\"\n",
    )
    .unwrap();
    let output = common::brisk(&["proxy", "--config", config.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("line 1"), "{stderr}");
    let missing = common::brisk(&["proxy", "--config", "/no/such/brisk.toml"]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn sigterm_lets_a_transaction_finish_and_then_stops() {
    let app = app();
    let proxy = Proxy::start(&app, "");
    let url = proxy.url(&app);
    runtime().block_on(async {
        let client = connect(&url).await;
        client.batch_execute("BEGIN").await.unwrap();
        proxy.signal("TERM");
        tokio::time::sleep(Duration::from_millis(300)).await;
        // The transaction in progress may finish.
        let one: i32 = client.query_one("SELECT 1", &[]).await.unwrap().get(0);
        assert_eq!(one, 1);
        client.batch_execute("COMMIT").await.unwrap();
        // After it, the client is told the proxy is going away.
        let after = client.query_one("SELECT 1", &[]).await;
        assert!(after.is_err());
    });
    // No new connections.
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", proxy.port)).is_ok() {
        assert!(Instant::now() < deadline, "still listening");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs one of the client programs in `tests/clients` against the proxy.
fn run_client(program: &str, script: &str, proxy: &Proxy, app: &App) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    let output = Command::new(program)
        .arg(&path)
        .arg(proxy.url(app))
        .output()
        .unwrap_or_else(|e| panic!("{program} must be installed (scripts/setup does it): {e}"));
    assert!(
        output.status.success() && String::from_utf8_lossy(&output.stdout).contains("OK"),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn psycopg_3_with_server_side_prepared_statements() {
    let app = app();
    let proxy = Proxy::start(&app, "default_pool_size = 2");
    run_client("python3", "psycopg_client.py", &proxy, &app);
}

#[test]
fn asyncpg_with_its_statement_cache() {
    let app = app();
    // Six connections, two servers: asyncpg's named statements must follow them around.
    let proxy = Proxy::start(&app, "default_pool_size = 2");
    run_client("python3", "asyncpg_client.py", &proxy, &app);
}

#[test]
fn node_postgres_with_named_statements() {
    let app = app();
    let proxy = Proxy::start(&app, "default_pool_size = 2");
    run_client("node", "node_pg_client.js", &proxy, &app);
}

#[test]
fn tls_to_clients_and_to_the_server() {
    // A TLS-serving sandbox: the proxy verifies it (verify-full against its CA), and serves
    // clients with the same certificate.
    let pg = Postgres::builder()
        .tls(true)
        .start_for_process()
        .expect("TLS sandbox");
    let ca = pg.ca_cert().unwrap();
    let dir = ca.parent().unwrap().to_path_buf();
    let app = App {
        pg,
        database: "postgres".into(),
    };
    let port = common::free_port();
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("brisk.toml");
    std::fs::write(
        &config,
        format!(
            "listen_port = {port}\nauth_type = \"trust\"\nclient_tls_sslmode = \"require\"\n\
             client_tls_cert_file = \"{cert}\"\nclient_tls_key_file = \"{key}\"\n\
             [databases]\npostgres = \"postgres://postgres:{pw}@localhost:{pg_port}/postgres?sslmode=verify-full&sslrootcert={ca}\"\n",
            cert = dir.join("server.crt").display(),
            key = dir.join("server.key").display(),
            pw = app.pg.password(),
            pg_port = app.pg.port(),
            ca = ca.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_brisk"))
        .args(["proxy", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    let psql = |sslmode: &str| {
        Command::new("psql")
            .args([
                "-X",
                "-At",
                "-d",
                &format!(
                    "postgres://postgres@localhost:{port}/postgres?sslmode={sslmode}&sslrootcert={}",
                    ca.display()
                ),
                "-c",
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            ])
            .output()
            .unwrap()
    };
    // The client verifies brisk's certificate; brisk's own connection to the server is TLS too.
    assert_eq!(ok(&psql("verify-full")), "t");
    let refused = psql("disable");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("requires TLS"));
    let _ = child.kill();
    let _ = child.wait();
}

/// Authors, books and an audit table whose inserts take 6 ms (a slow trigger), owned by the
/// app, for the N+1 tests.
fn bookshop(app: &App) {
    app.pg
        .psql(
            &app.database,
            &format!(
                "CREATE TABLE authors (id int PRIMARY KEY, name text NOT NULL);
                 CREATE TABLE books (id int PRIMARY KEY, author_id int NOT NULL REFERENCES authors);
                 CREATE TABLE audit (book_id int NOT NULL);
                 INSERT INTO authors SELECT i, 'author ' || i FROM generate_series(1, 20) i;
                 INSERT INTO books SELECT i, 1 + (i * 7) % 20 FROM generate_series(1, 40) i;
                 CREATE FUNCTION slow_audit() RETURNS trigger LANGUAGE plpgsql AS
                   $$ BEGIN PERFORM pg_sleep(0.006); RETURN NEW; END $$;
                 CREATE TRIGGER audit_slow BEFORE INSERT ON audit
                   FOR EACH ROW EXECUTE FUNCTION slow_audit();
                 GRANT SELECT, INSERT ON authors, books, audit TO {APP_USER};"
            ),
        )
        .unwrap();
}

/// Runs the bookshop app in `mode` through the proxy; returns its client-side lookup
/// timings in milliseconds.
fn run_bookshop(proxy: &Proxy, app: &App, mode: &str) -> Vec<f64> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/n_plus_one_app.py");
    let output = Command::new("python3")
        .arg(&path)
        .arg(proxy.url(app))
        .arg(mode)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success() && stdout.contains("OK"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    json["lookup_ms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

fn float(row: &std::collections::HashMap<String, String>, column: &str) -> f64 {
    row[column]
        .parse()
        .unwrap_or_else(|_| panic!("{column} in {row:?}"))
}

#[test]
fn an_n_plus_one_from_psycopg_is_detected_with_its_counts_and_rewrite() {
    let app = app();
    bookshop(&app);
    let proxy = Proxy::start(&app, "default_pool_size = 2");
    let mut client_ms = run_bookshop(&proxy, &app, "n+1");
    assert_eq!(client_ms.len(), 20);

    let detections = proxy.admin_rows("SHOW N_PLUS_ONE");
    let lookup = detections
        .iter()
        .find(|d| d["kind"] == "n+1")
        .unwrap_or_else(|| panic!("no N+1 in {detections:?}"));
    assert_eq!(lookup["executions"], "20", "{lookup:?}");
    assert_eq!(lookup["last_run"], "20", "{lookup:?}");
    assert_eq!(lookup["occurrences"], "1", "{lookup:?}");
    assert!(
        float(lookup, "total_ms") >= 100.0,
        "20 lookups of 5 ms: {lookup:?}"
    );
    assert_eq!(
        lookup["source"],
        "SELECT id, author_id FROM books ORDER BY id LIMIT $1"
    );
    assert_eq!(
        lookup["repeated"],
        "SELECT name, pg_sleep($2) FROM authors WHERE id = $1"
    );
    assert_eq!(lookup["application_name"], "shop-api");
    assert_eq!(
        lookup["traceparent"],
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    );
    assert!(
        lookup["suggestion"].contains("WHERE id = ANY($1)"),
        "{}",
        lookup["suggestion"]
    );
    let bulk = detections
        .iter()
        .find(|d| d["kind"] == "bulk-write")
        .unwrap_or_else(|| panic!("no bulk write in {detections:?}"));
    assert_eq!(bulk["executions"], "10", "{bulk:?}");
    assert_eq!(bulk["repeated"], "INSERT INTO audit (book_id) VALUES ($1)");
    assert!(
        bulk["suggestion"].contains("COPY audit FROM STDIN"),
        "{bulk:?}"
    );
    assert_eq!(detections.len(), 2, "{detections:?}");

    // The proxy's histogram agrees with what the client timed: it sees a little less (no
    // client library, no network hop back), never more than its 1% resolution above.
    let queries = proxy.admin_rows("SHOW QUERIES");
    let stats = queries
        .iter()
        .find(|q| q["query"] == lookup["repeated"])
        .unwrap_or_else(|| panic!("no lookup in {queries:?}"));
    assert_eq!(stats["calls"], "20");
    assert_eq!(stats["rows"], "20");
    assert_eq!(stats["errors"], "0");
    client_ms.sort_by(|a, b| a.total_cmp(b));
    let client_p50 = client_ms[client_ms.len() / 2];
    let client_max = client_ms[client_ms.len() - 1];
    let proxy_p50 = float(stats, "p50_ms");
    let proxy_max = float(stats, "max_ms");
    assert!(proxy_p50 >= 5.0, "each lookup sleeps 5 ms: {stats:?}");
    assert!(
        proxy_p50 <= client_p50 * 1.02 && proxy_p50 >= client_p50 - 3.0,
        "proxy p50 {proxy_p50} ms, client p50 {client_p50} ms"
    );
    assert!(
        proxy_max <= client_max * 1.02 + 0.01,
        "proxy max {proxy_max} ms, client max {client_max} ms"
    );
    let books = queries
        .iter()
        .find(|q| q["query"] == lookup["source"])
        .unwrap();
    assert_eq!(books["rows"], "20");
}

#[test]
fn the_same_app_with_batched_queries_stays_silent() {
    let app = app();
    bookshop(&app);
    let proxy = Proxy::start(&app, "default_pool_size = 2");
    run_bookshop(&proxy, &app, "batched");
    let detections = proxy.admin_rows("SHOW N_PLUS_ONE");
    assert!(detections.is_empty(), "{detections:?}");
    // The statistics still saw every statement.
    let queries = proxy.admin_rows("SHOW QUERIES");
    let repeated = queries
        .iter()
        .find(|q| q["query"] == "SELECT name, pg_sleep($2) FROM authors WHERE id = $1")
        .unwrap_or_else(|| panic!("{queries:?}"));
    assert_eq!(repeated["calls"], "20");
}

#[test]
fn query_statistics_count_errors_fold_into_other_and_can_be_turned_off() {
    let app = app();
    let proxy = Proxy::start(&app, "query_stats_limit = 3");
    // Five shapes, one failing; only the three with the most time stay in detail.
    for statement in [
        "SELECT pg_sleep(0.3)",
        "SELECT pg_sleep(0.2)::text",
        "SELECT 1 FROM pg_sleep(0.1);",
    ] {
        ok(&proxy.psql(&app, statement));
    }
    assert!(!proxy.psql(&app, "SELECT 1/0").status.success());
    ok(&proxy.psql(&app, "SELECT 1, 2, 3, 4"));
    // Five fingerprints pass the limit of 3 (plus an eighth of slack): the two with the
    // least time (the failing one among them) fold into "other".
    let queries = proxy.admin_rows("SHOW QUERIES");
    let detailed: Vec<&std::collections::HashMap<String, String>> = queries
        .iter()
        .filter(|q| !q["fingerprint"].is_empty())
        .collect();
    let mut kept: Vec<&str> = detailed.iter().map(|q| q["query"].as_str()).collect();
    kept.sort_unstable();
    assert_eq!(
        kept,
        [
            "SELECT $1 FROM pg_sleep($2)",
            "SELECT pg_sleep($1)",
            "SELECT pg_sleep($1)::text",
        ],
        "{queries:?}"
    );
    let totals: Vec<f64> = detailed.iter().map(|q| float(q, "total_ms")).collect();
    assert!(
        totals.windows(2).all(|w| w[0] >= w[1]),
        "largest total first: {totals:?}"
    );
    let other = queries
        .iter()
        .find(|q| q["query"].starts_with("other: 2 fingerprints folded"))
        .unwrap_or_else(|| panic!("nothing folded: {queries:?}"));
    assert_eq!(other["calls"], "2", "{other:?}");
    assert_eq!(other["errors"], "1", "{other:?}");
    assert_eq!(other["database"], "*");

    let off = Proxy::start(&app, "query_stats = false");
    ok(&off.psql(&app, "SELECT 1"));
    let refused = Command::new("psql")
        .args([
            "-X",
            "-d",
            &format!(
                "postgres://admin:admin-secret@127.0.0.1:{}/brisk?sslmode=disable",
                off.port
            ),
            "-c",
            "SHOW QUERIES",
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("query_stats = false"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

/// The JSON log lines with this message.
fn log_events(log: &str, message: &str) -> Vec<serde_json::Value> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|event| event["message"] == message)
        .collect()
}

/// `lastval()` and `currval()` read the server's last `nextval()`. Under transaction
/// pooling, a statement of its own gets whatever server is free, whose last `nextval()` may
/// be another client's: brisk warns once per fingerprint and counts each. Inside the
/// transaction of the INSERT, or in the same text, the value is the client's own: silent.
#[test]
fn lastval_read_first_on_a_server_lent_for_its_transaction_alone_is_warned() {
    let app = app();
    app.pg
        .psql(
            &app.database,
            &format!(
                "CREATE TABLE orders (id bigserial PRIMARY KEY, note text);
                 GRANT SELECT, INSERT ON orders TO {APP_USER};
                 GRANT USAGE ON SEQUENCE orders_id_seq TO {APP_USER};"
            ),
        )
        .unwrap();
    let http_port = common::free_port();
    let mut proxy = Proxy::start(
        &app,
        &format!("log_format = \"json\"\nhttp_listen = \"127.0.0.1:{http_port}\""),
    );
    let url = proxy.url(&app);
    // Each -c is a query message of its own on one connection.
    let run = |commands: &[&str]| {
        let mut psql = Command::new("psql");
        psql.args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", &url]);
        for command in commands {
            psql.args(["-c", command]);
        }
        ok(&psql.output().unwrap())
    };
    let counted = || -> f64 {
        let families = scrape(http_port);
        value(
            &families["brisk_sequence_reads_unpinned"],
            "brisk_sequence_reads_unpinned_total",
            &[],
        )
    };
    run(&[
        "BEGIN",
        "INSERT INTO orders (note) VALUES ('in a transaction')",
        "SELECT lastval()",
        "COMMIT",
    ]);
    run(&["INSERT INTO orders (note) VALUES ('one text'); SELECT currval('orders_id_seq')"]);
    proxy.admin_rows("SHOW QUERIES");
    assert_eq!(counted(), 0.0);

    for note in ["first", "second"] {
        run(&[
            &format!("INSERT INTO orders (note) VALUES ('{note}')"),
            "SELECT lastval()",
        ]);
    }
    proxy.admin_rows("SHOW QUERIES");
    assert_eq!(counted(), 2.0);
    let log = proxy.stop_and_read_log();
    let warnings: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|event| {
            event["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("lastval() or currval()"))
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert_eq!(warnings[0]["query"], "SELECT lastval()", "{log}");
    assert!(
        warnings[0]["message"]
            .as_str()
            .unwrap()
            .contains("INSERT ... RETURNING"),
        "{log}"
    );
}

#[test]
fn slow_statements_are_logged_explained_and_captured_with_values_when_allowed() {
    let app = app();
    bookshop(&app);
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("capture.jsonl");
    let mut proxy = Proxy::start(
        &app,
        &format!(
            "slow_query_ms = 3\nexplain_slow = true\nlog_parameters = true\nlog_format = \"json\"\ncapture_file = \"{}\"",
            capture.display()
        ),
    );
    run_bookshop(&proxy, &app, "n+1");
    let lookup = "SELECT name, pg_sleep($2) FROM authors WHERE id = $1";

    // The plan comes from a connection of its own, a moment later.
    let deadline = Instant::now() + Duration::from_secs(20);
    let plan = loop {
        let queries = proxy.admin_rows("SHOW QUERIES");
        let row = queries
            .iter()
            .find(|q| q["query"] == lookup)
            .cloned()
            .unwrap();
        if !row["plan"].is_empty() {
            break row["plan"].clone();
        }
        assert!(Instant::now() < deadline, "no plan: {row:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(plan.contains("authors"), "{plan}");
    assert!(!plan.starts_with("not explained"), "{plan}");

    // Values appear, since log_parameters allows them.
    let mut lines = std::fs::read_to_string(&capture).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(10);
    while lines.lines().count() < 32 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        lines = std::fs::read_to_string(&capture).unwrap();
    }
    let workload = brisk_workload::read_jsonl(lines.as_bytes()).unwrap();
    let lookups: Vec<_> = workload
        .samples
        .iter()
        .filter(|s| s.query.contains("FROM authors WHERE id = $1") && s.pattern.is_none())
        .collect();
    assert_eq!(lookups.len(), 20, "{lines}");
    let orders: Vec<u64> = lookups.iter().map(|s| s.order.unwrap()).collect();
    assert!(orders.windows(2).all(|w| w[0] < w[1]), "{orders:?}");
    assert!(lookups.iter().all(|s| s.session == lookups[0].session));
    assert!(lookups.iter().all(|s| s.total_ms.unwrap() >= 5.0));
    assert!(
        lookups[0].with_values().unwrap().contains("WHERE id = '"),
        "{:?}",
        lookups[0]
    );

    let log = proxy.stop_and_read_log();
    let slow = log_events(&log, "slow statement");
    let slow_lookups: Vec<_> = slow.iter().filter(|e| e["query"] == lookup).collect();
    assert_eq!(slow_lookups.len(), 20, "{log}");
    assert!(slow_lookups[0]["duration_ms"].as_f64().unwrap() >= 5.0);
    assert_eq!(slow_lookups[0]["application_name"], "shop-api");
    assert!(
        slow_lookups[0]["values"]
            .as_str()
            .unwrap()
            .starts_with("[\""),
        "{}",
        slow_lookups[0]
    );
    let plans = log_events(&log, "plan of a slow statement");
    assert!(!plans.is_empty(), "{log}");
}

#[test]
fn values_stay_out_of_logs_and_captures_unless_allowed() {
    let app = app();
    bookshop(&app);
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("capture.jsonl");
    let mut proxy = Proxy::start(
        &app,
        &format!(
            "slow_query_ms = 3\nexplain_slow = true\nlog_format = \"json\"\ncapture_file = \"{}\"",
            capture.display()
        ),
    );
    run_bookshop(&proxy, &app, "n+1");
    // A simple-protocol statement with a literal that must not leak either.
    ok(&proxy.psql(
        &app,
        "SELECT name, pg_sleep(0.01) FROM authors WHERE name = 'author 7'",
    ));
    let lookup = "SELECT name, pg_sleep($2) FROM authors WHERE id = $1";
    // Without values, both are planned generically ($n in the plan, no literal).
    let deadline = Instant::now() + Duration::from_secs(20);
    for query in [
        lookup,
        "SELECT name, pg_sleep($1) FROM authors WHERE name = $2",
    ] {
        loop {
            let queries = proxy.admin_rows("SHOW QUERIES");
            let row = queries
                .iter()
                .find(|q| q["query"] == query)
                .cloned()
                .unwrap();
            if !row["plan"].is_empty() {
                assert!(row["plan"].contains("authors"), "{row:?}");
                break;
            }
            assert!(Instant::now() < deadline, "no plan: {row:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    std::thread::sleep(Duration::from_millis(1500));
    let log = proxy.stop_and_read_log();
    let captured = std::fs::read_to_string(&capture).unwrap();
    assert!(captured.lines().count() >= 30, "{captured}");
    for text in [&log, &captured] {
        assert!(!text.contains("author 7"), "a value leaked: {text}");
        assert!(!text.contains("\"params\""), "values captured: {text}");
    }
    let plans = log_events(&log, "plan of a slow statement");
    // Each slow fingerprint is planned once: the lookup, the simple statement and the audit
    // insert at least (on a loaded machine another statement may pass 3 ms too).
    let planned: Vec<&str> = plans
        .iter()
        .filter_map(|p| p["fingerprint"].as_str())
        .collect();
    let distinct: std::collections::HashSet<&str> = planned.iter().copied().collect();
    assert_eq!(distinct.len(), planned.len(), "{log}");
    assert!(plans.len() >= 3, "{log}");
    let on_authors: Vec<&str> = plans
        .iter()
        .filter_map(|p| p["plan"].as_str())
        .filter(|p| p.contains("on authors"))
        .collect();
    assert!(on_authors.len() >= 2, "{log}");
    for plan in on_authors {
        assert!(plan.contains("= $"), "a generic plan: {plan}");
    }
    let slow = log_events(&log, "slow statement");
    assert!(
        slow.iter()
            .any(|e| e["query"] == "SELECT name, pg_sleep($1) FROM authors WHERE name = $2"),
        "{log}"
    );
    assert!(slow.iter().all(|e| e["values"] == ""), "{log}");
}

#[test]
fn fast_statements_are_not_logged_and_nothing_is_captured_by_default() {
    let app = app();
    bookshop(&app);
    let mut proxy = Proxy::start(&app, "log_format = \"json\"");
    run_bookshop(&proxy, &app, "batched");
    let queries = proxy.admin_rows("SHOW QUERIES");
    assert!(queries.iter().all(|q| q["plan"].is_empty()), "{queries:?}");
    let log = proxy.stop_and_read_log();
    assert!(log_events(&log, "slow statement").is_empty(), "{log}");
    assert!(
        log_events(&log, "plan of a slow statement").is_empty(),
        "{log}"
    );
    assert!(
        !log_events(&log, "brisk proxy listening").is_empty(),
        "JSON lines: {log}"
    );
}

/// One HTTP/1.1 request to the proxy's `http_listen`: (status, head, body).
fn http(port: u16, request: &str) -> (u16, String, String) {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut tcp, &mut answer).unwrap();
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {answer:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    (status, head.to_string(), body.to_string())
}

fn get(port: u16, path: &str) -> (u16, String, String) {
    http(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: brisk\r\nConnection: close\r\n\r\n"),
    )
}

/// Parses `/metrics` with prometheus_client's parser, as Prometheus reads it: the families
/// by name (counters without their `_total`), each with its type and samples.
fn scrape(port: u16) -> std::collections::HashMap<String, serde_json::Value> {
    let (status, head, body) = get(port, "/metrics");
    assert_eq!(status, 200, "{head}\n{body}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/parse_metrics.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}\n{body}",
        String::from_utf8_lossy(&output.stderr)
    );
    let families: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    families
        .into_iter()
        .map(|f| (f["name"].as_str().unwrap().to_string(), f))
        .collect()
}

/// The samples named `name` whose labels include every pair of `labels`.
fn samples<'a>(
    family: &'a serde_json::Value,
    name: &str,
    labels: &[(&str, &str)],
) -> Vec<&'a serde_json::Value> {
    family["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"] == name && labels.iter().all(|(k, v)| s["labels"][*k] == *v))
        .collect()
}

fn value(family: &serde_json::Value, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found = samples(family, name, labels);
    assert_eq!(found.len(), 1, "{name} {labels:?} in {family}");
    found[0]["value"].as_f64().unwrap()
}

#[test]
fn metrics_parse_as_prometheus_text_with_query_histograms_and_n_plus_one_counters() {
    let app = app();
    bookshop(&app);
    let http_port = common::free_port();
    let proxy = Proxy::start(
        &app,
        &format!("default_pool_size = 2\nhttp_listen = \"127.0.0.1:{http_port}\""),
    );
    let client_ms = run_bookshop(&proxy, &app, "n+1");
    // The console waits for the statistics thread to count what came before; then the
    // scrape sees the same.
    let queries = proxy.admin_rows("SHOW QUERIES");
    let families = scrape(http_port);
    for name in families.keys() {
        assert!(name.starts_with("brisk_"), "{name}");
    }
    for f in families.values() {
        assert!(!f["help"].as_str().unwrap().is_empty(), "{f}");
    }

    let pool = [("database", app.database.as_str()), ("user", APP_USER)];
    for (family, kind) in [
        ("brisk_pool_clients_active", "gauge"),
        ("brisk_pool_clients_waiting", "gauge"),
        ("brisk_pool_servers_active", "gauge"),
        ("brisk_pool_servers_idle", "gauge"),
        ("brisk_pool_max_wait_seconds", "gauge"),
        ("brisk_pool_health_score", "gauge"),
        ("brisk_pool_queries", "counter"),
        ("brisk_pool_transactions", "counter"),
    ] {
        let f = &families[family];
        assert_eq!(f["type"], kind, "{f}");
        let name = if kind == "counter" {
            format!("{family}_total")
        } else {
            family.to_string()
        };
        value(f, &name, &pool);
    }
    let score = value(
        &families["brisk_pool_health_score"],
        "brisk_pool_health_score",
        &pool,
    );
    assert!((0.0..=100.0).contains(&score), "{score}");
    let queries_total = value(
        &families["brisk_pool_queries"],
        "brisk_pool_queries_total",
        &pool,
    );
    assert!(
        queries_total >= 31.0,
        "1 list, 20 lookups, 10 inserts: {queries_total}"
    );

    // The lookups' histogram: 20 statements of at least 5 ms, agreeing with SHOW QUERIES.
    let lookup_text = "SELECT name, pg_sleep($2) FROM authors WHERE id = $1";
    let shown = queries.iter().find(|q| q["query"] == lookup_text).unwrap();
    let histogram = &families["brisk_query_duration_seconds"];
    assert_eq!(histogram["type"], "histogram");
    let lookup = [
        ("database", app.database.as_str()),
        ("query", lookup_text),
        ("fingerprint", shown["fingerprint"].as_str()),
    ];
    let buckets = samples(histogram, "brisk_query_duration_seconds_bucket", &lookup);
    assert_eq!(buckets.len(), 15, "14 bounds and +Inf: {buckets:?}");
    let counts: Vec<f64> = buckets
        .iter()
        .map(|b| b["value"].as_f64().unwrap())
        .collect();
    assert!(
        counts.windows(2).all(|w| w[0] <= w[1]),
        "cumulative: {counts:?}"
    );
    let le = |bound: &str| {
        value(
            histogram,
            "brisk_query_duration_seconds_bucket",
            &[lookup[0], lookup[1], lookup[2], ("le", bound)],
        )
    };
    assert_eq!(le("+Inf"), 20.0);
    assert_eq!(le("0.0025"), 0.0, "each lookup sleeps 5 ms");
    assert_eq!(
        value(histogram, "brisk_query_duration_seconds_count", &lookup),
        20.0
    );
    let sum = value(histogram, "brisk_query_duration_seconds_sum", &lookup);
    let client_sum: f64 = client_ms.iter().sum::<f64>() / 1000.0;
    assert!(
        sum >= 0.1 && sum <= client_sum * 1.02,
        "proxy {sum} s, client {client_sum} s"
    );
    assert!(
        (sum * 1000.0 - float(shown, "total_ms")).abs() < 0.01,
        "{sum} s vs {shown:?}"
    );
    assert_eq!(
        value(
            &families["brisk_query_rows"],
            "brisk_query_rows_total",
            &lookup
        ),
        20.0
    );
    assert_eq!(
        value(
            &families["brisk_query_errors"],
            "brisk_query_errors_total",
            &lookup
        ),
        0.0
    );

    // The N+1 and the row-by-row inserts, as counters labeled by their statements.
    let patterns = &families["brisk_n_plus_one"];
    assert_eq!(patterns["type"], "counter");
    let n_plus_one = [
        ("kind", "n+1"),
        (
            "source",
            "SELECT id, author_id FROM books ORDER BY id LIMIT $1",
        ),
        ("repeated", lookup_text),
    ];
    assert_eq!(value(patterns, "brisk_n_plus_one_total", &n_plus_one), 1.0);
    assert_eq!(
        value(
            &families["brisk_n_plus_one_executions"],
            "brisk_n_plus_one_executions_total",
            &n_plus_one
        ),
        20.0
    );
    assert_eq!(
        value(
            patterns,
            "brisk_n_plus_one_total",
            &[
                ("kind", "bulk-write"),
                ("repeated", "INSERT INTO audit (book_id) VALUES ($1)")
            ]
        ),
        1.0
    );
    assert_eq!(
        value(
            &families["brisk_query_stats_dropped"],
            "brisk_query_stats_dropped_total",
            &[]
        ),
        0.0
    );
}

#[test]
fn health_says_live_ready_and_why_not_and_follows_a_reload() {
    let app = app();
    let http_port = common::free_port();
    let dead_port = common::free_port();
    let config = |port: u16, with_dead: bool| {
        let dead = if with_dead {
            format!("down = \"postgres://127.0.0.1:{dead_port}/down?sslmode=disable\"\n")
        } else {
            String::new()
        };
        format!(
            "listen_port = {port}\nadmin_users = [\"admin\"]\nupstream_check_period = 0.2\n\
             http_listen = \"127.0.0.1:{http_port}\"\n\
             [databases]\n{db} = \"postgres://127.0.0.1:{pg_port}/{db}?sslmode=disable\"\n{dead}\
             [users]\n{APP_USER} = \"{APP_PASSWORD}\"\nadmin = \"admin-secret\"\n",
            db = app.database,
            pg_port = app.pg.port()
        )
    };
    let proxy = Proxy::start_with(|port| config(port, true));
    assert_eq!(
        get(http_port, "/health/live"),
        (200, get(http_port, "/health/live").1, "live\n".into())
    );

    // The dead upstream keeps brisk out of rotation, and the answer says why.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (status, body) = loop {
        let (status, _, body) = get(http_port, "/health/ready");
        let checked = !body.contains("not checked yet");
        if (checked && body.contains("upstream unreachable")) || Instant::now() > deadline {
            break (status, body);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("database down: upstream unreachable"),
        "{body}"
    );
    assert!(!body.contains(&app.database), "{body}");

    let (status, head, body) = get(http_port, "/health/detailed");
    assert_eq!(status, 200);
    assert!(head.contains("Content-Type: application/json"), "{head}");
    let detailed: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(detailed["ready"], false, "{detailed}");
    let upstreams = detailed["upstreams"].as_array().unwrap();
    let up = |name: &str| {
        upstreams
            .iter()
            .find(|u| u["database"] == name)
            .unwrap_or_else(|| panic!("{name} in {upstreams:?}"))
            .clone()
    };
    assert_eq!(up(&app.database)["up"], true);
    assert_eq!(up("down")["up"], false);
    assert!(
        up("down")["error"].as_str().unwrap().contains("connect"),
        "{detailed}"
    );

    let families = scrape(http_port);
    let upstream_up = &families["brisk_upstream_up"];
    assert_eq!(
        value(upstream_up, "brisk_upstream_up", &[("database", "down")]),
        0.0
    );
    assert_eq!(
        value(
            upstream_up,
            "brisk_upstream_up",
            &[("database", &app.database)]
        ),
        1.0
    );

    // Without the dead upstream, a reload makes brisk ready.
    std::fs::write(&proxy.config, config(proxy.port, false)).unwrap();
    proxy.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, body) = get(http_port, "/health/ready");
        if status == 200 {
            assert_eq!(body, "ready\n");
            break;
        }
        assert!(Instant::now() < deadline, "never ready: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // What is not a GET of a known path gets a short answer, and the listener stays up.
    let (status, head, _) = http(http_port, "POST /metrics HTTP/1.1\r\nHost: b\r\n\r\n");
    assert_eq!(status, 405);
    assert!(head.contains("Allow: GET"), "{head}");
    assert_eq!(get(http_port, "/nope").0, 404);
    assert_eq!(http(http_port, "BLAH\0\r\n\r\n").0, 400);
    assert_eq!(get(http_port, "/health/live?probe=1").0, 200);
}

#[test]
fn a_saturated_pool_turns_unready_and_is_advised_to_grow() {
    let app = app();
    let http_port = common::free_port();
    let proxy = Proxy::start(
        &app,
        &format!(
            "default_pool_size = 1\nready_saturated_seconds = 1\npool_health_window = 10\n\
             http_listen = \"127.0.0.1:{http_port}\""
        ),
    );
    // One client holds the only server for 4 s; the next waits behind it.
    let url = proxy.url(&app);
    let holder = {
        let url = url.clone();
        std::thread::spawn(move || {
            Command::new("psql")
                .args(["-X", "-At", "-d", &url, "-c", "SELECT pg_sleep(4)"])
                .output()
                .unwrap()
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let waiter = std::thread::spawn(move || {
        Command::new("psql")
            .args(["-X", "-At", "-d", &url, "-c", "SELECT 1"])
            .output()
            .unwrap()
    });
    let deadline = Instant::now() + Duration::from_secs(3);
    let (status, body) = loop {
        let (status, _, body) = get(http_port, "/health/ready");
        if status == 503 || Instant::now() > deadline {
            break (status, body);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("clients have waited for a server")
            && body.contains("ready_saturated_seconds = 1"),
        "{body}"
    );
    let (_, _, body) = get(http_port, "/health/detailed");
    let detailed: serde_json::Value = serde_json::from_str(&body).unwrap();
    let pool = &detailed["pools"][0];
    assert_eq!(pool["pool_size"], 1, "{pool}");
    assert!(
        pool["window"]["saturated_share"].as_f64().unwrap() > 0.0,
        "{pool}"
    );
    assert!(pool["health"]["score"].as_u64().unwrap() < 100, "{pool}");
    let advice = &pool["recommendations"][0];
    assert_eq!(advice["kind"], "raise_pool_size", "{pool}");
    assert!(
        advice["default_pool_size"].as_u64().unwrap() >= 2,
        "{advice}"
    );
    assert!(
        advice["text"]
            .as_str()
            .unwrap()
            .starts_with("pool saturated "),
        "{advice}"
    );

    ok(&holder.join().unwrap());
    ok(&waiter.join().unwrap());
    let deadline = Instant::now() + Duration::from_secs(5);
    while get(http_port, "/health/ready").0 != 200 {
        assert!(Instant::now() < deadline, "ready again once nobody waits");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every `brisk_...` metric that `text` names, with its sample suffix.
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("brisk_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

/// Whether a scrape has the sample `name` (a family's name, or a histogram's or counter's
/// sample name).
fn scraped(families: &std::collections::HashMap<String, serde_json::Value>, name: &str) -> bool {
    families.values().any(|f| {
        f["samples"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == name)
    })
}

#[test]
fn the_shipped_alerts_and_dashboard_use_what_metrics_exports() {
    let app = app();
    bookshop(&app);
    let http_port = common::free_port();
    // The result cache and a rate limit on, so that their rows' panels have samples too.
    let proxy = Proxy::start(
        &app,
        &format!(
            "http_listen = \"127.0.0.1:{http_port}\"\n\
             [[rate_limits]]\nname = \"all\"\nrate = 10000\nburst = 100\n\
             [cache]\nenabled = true"
        ),
    );
    run_bookshop(&proxy, &app, "n+1");
    // A bypass (a volatile function) and an invalidation (DDL bumps the epoch).
    for sql in [
        "SELECT now() /* brisk:cache */",
        "CREATE TEMP TABLE scratch (a int)",
    ] {
        let out = proxy.psql(&app, sql);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    proxy.admin("SHOW QUERIES");
    let families = scrape(http_port);

    let contrib = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contrib");
    let alerts = std::fs::read_to_string(contrib.join("prometheus/alerts.yml")).unwrap();
    let dashboard = std::fs::read_to_string(contrib.join("grafana/brisk.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    let mut expressions = String::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            expressions.push_str(target["expr"].as_str().unwrap());
            expressions.push('\n');
        }
    }
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(definition) = variable["definition"].as_str() {
            expressions.push_str(definition);
        }
    }
    let dashboard_names = metric_names(&expressions);
    assert!(dashboard_names.len() >= 15, "{dashboard_names:?}");
    for needed in [
        "brisk_cache_hits_total",
        "brisk_cache_bypasses_total",
        "brisk_cache_invalidations_total",
        "brisk_cache_redis_round_trip_seconds_bucket",
        "brisk_rate_limit_transactions_total",
    ] {
        assert!(dashboard_names.contains(needed), "no panel on {needed}");
    }
    let alert_names = metric_names(&alerts);
    for name in dashboard_names.iter().chain(&alert_names) {
        assert!(scraped(&families, name), "{name} is not in /metrics");
    }
    for needed in [
        "brisk_upstream_up",
        "brisk_pool_saturated_ratio",
        "brisk_query_duration_seconds_bucket",
        "brisk_n_plus_one_total",
    ] {
        assert!(alert_names.contains(needed), "no alert on {needed}");
    }

    // The rules are valid, and their unit tests (each alert fires on what it names, and
    // only then) pass.
    for args in [
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts_test.yml"],
    ] {
        let output = Command::new("promtool")
            .args(args)
            .current_dir(contrib.join("prometheus"))
            .output()
            .expect("promtool (scripts/setup installs it)");
        assert!(
            output.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn the_capture_records_n_plus_one_runs_and_advise_reports_them() {
    let app = app();
    bookshop(&app);
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("capture.jsonl");
    let proxy = Proxy::start(&app, &format!("capture_file = \"{}\"", capture.display()));
    run_bookshop(&proxy, &app, "n+1");
    // The run ends when the client leaves; the console waits for the statistics thread,
    // and the writer flushes at least once a second.
    proxy.admin("SHOW N_PLUS_ONE");
    let deadline = Instant::now() + Duration::from_secs(10);
    let lines: Vec<serde_json::Value> = loop {
        let text = std::fs::read_to_string(&capture).unwrap_or_default();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if lines.iter().filter(|l| l.get("pattern").is_some()).count() >= 2
            || Instant::now() > deadline
        {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let lookup = "SELECT name, pg_sleep($2) FROM authors WHERE id = $1";
    let pattern = lines
        .iter()
        .find(|l| l["pattern"]["kind"] == "n+1")
        .unwrap_or_else(|| panic!("no N+1 line in {lines:?}"));
    assert_eq!(pattern["query"], lookup);
    assert_eq!(pattern["calls"], 20);
    assert!(pattern["total_ms"].as_f64().unwrap() >= 100.0, "{pattern}");
    assert_eq!(
        pattern["pattern"]["source"],
        "SELECT id, author_id FROM books ORDER BY id LIMIT $1"
    );
    assert_eq!(pattern["pattern"]["application_name"], "shop-api");
    assert!(pattern["pattern"]["suggestion"]
        .as_str()
        .unwrap()
        .contains("WHERE id = ANY($1)"));
    let bulk = lines
        .iter()
        .find(|l| l["pattern"]["kind"] == "bulk-write")
        .unwrap_or_else(|| panic!("no bulk-write line in {lines:?}"));
    assert_eq!(bulk["calls"], 10);
    // Each execution has its own line too: the pattern lines restate them.
    let executions = lines
        .iter()
        .filter(|l| l["query"] == lookup && l.get("pattern").is_none())
        .count();
    assert_eq!(executions, 20);

    // brisk advise reads the capture: each pattern becomes a finding with its rewrite.
    let findings = advise_on(&app, &capture);
    let n_plus_one = findings
        .iter()
        .find(|f| f["check"] == "advise.n_plus_one" && f["query"] == lookup)
        .unwrap_or_else(|| panic!("no advise.n_plus_one in {findings:?}"));
    assert!(
        n_plus_one["title"]
            .as_str()
            .unwrap()
            .starts_with("N+1: one statement per row, 1 run, 20 statements"),
        "{n_plus_one}"
    );
    assert!(
        n_plus_one["fix"]["apply"]
            .as_str()
            .unwrap()
            .contains("WHERE id = ANY($1)"),
        "{n_plus_one}"
    );
    assert!(
        findings.iter().any(|f| f["check"] == "advise.n_plus_one"
            && f["title"]
                .as_str()
                .unwrap()
                .starts_with("Row-by-row INSERTs: 1 run, 10 statements")),
        "{findings:?}"
    );
}

/// The findings of `brisk advise --workload capture` on the app's database.
fn advise_on(app: &App, capture: &std::path::Path) -> Vec<serde_json::Value> {
    let output = Command::new(env!("CARGO_BIN_EXE_brisk"))
        .args([
            "advise",
            &app.pg.url(&app.database),
            "--format",
            "json",
            "--workload",
        ])
        .arg(capture)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    report["findings"].as_array().unwrap().clone()
}

/// An N+1 whose repeated statement scans (reviews.book_id has no index), written as
/// SQLAlchemy writes SQL: the console and `brisk advise` hand over the ORM's idiom, labelled
/// as a hint, and advise names the index the repeated statement needs.
#[test]
fn an_orm_n_plus_one_gets_the_orms_idiom_and_the_index_it_needs() {
    let app = app();
    bookshop(&app);
    app.pg
        .psql(
            &app.database,
            &format!(
                "CREATE TABLE reviews (id int PRIMARY KEY, book_id int NOT NULL, stars int NOT NULL);
                 INSERT INTO reviews SELECT i, 1 + i % 4000, i % 5 FROM generate_series(1, 200000) i;
                 ANALYZE reviews;
                 GRANT SELECT ON reviews TO {APP_USER};"
            ),
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("capture.jsonl");
    let proxy = Proxy::start(&app, &format!("capture_file = \"{}\"", capture.display()));
    run_bookshop(&proxy, &app, "orm");
    let detections = proxy.admin_rows("SHOW N_PLUS_ONE");
    let lookup = detections
        .iter()
        .find(|d| d["repeated"].contains("FROM reviews"))
        .unwrap_or_else(|| panic!("no N+1 in {detections:?}"));
    assert!(
        lookup["orm_hint"].starts_with("SQLAlchemy hint: ")
            && lookup["orm_hint"].contains("selectinload"),
        "{lookup:?}"
    );
    // Hand-written SQL names no ORM.
    assert!(detections
        .iter()
        .filter(|d| !d["repeated"].contains("FROM reviews"))
        .all(|d| d["orm_hint"].is_empty()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&capture)
        .unwrap_or_default()
        .contains("\"pattern\"")
    {
        assert!(Instant::now() < deadline, "no pattern line in the capture");
        proxy.admin("SHOW N_PLUS_ONE");
        std::thread::sleep(Duration::from_millis(100));
    }
    let findings = advise_on(&app, &capture);
    let n_plus_one = findings
        .iter()
        .find(|f| {
            f["check"] == "advise.n_plus_one"
                && f["query"].as_str().unwrap_or("").contains("FROM reviews")
        })
        .unwrap_or_else(|| panic!("no advise.n_plus_one in {findings:?}"));
    let detail = n_plus_one["detail"].as_str().unwrap();
    assert!(detail.contains("SQLAlchemy hint: "), "{detail}");
    assert!(
        detail.contains(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS reviews_book_id_idx ON public.reviews"
        ),
        "{detail}"
    );
    assert!(
        n_plus_one["fix"]["apply"]
            .as_str()
            .unwrap()
            .contains("WHERE reviews.book_id = ANY($1)"),
        "{n_plus_one}"
    );
}

/// A proxy that learns users missing from its config through `auth_query`, as PgBouncer's
/// documentation sets it up: an unprivileged `auth_user` that may only call a SECURITY
/// DEFINER lookup reading `lookup_from` (pg_shadow, maybe joined with something slow). Makes
/// the role `user` with `password`; returns the proxy and the auth_user's name. Roles are
/// cluster-wide: both are named after the test's database. `extra` goes into the config.
fn auth_query_proxy(
    app: &App,
    user: &str,
    password: &str,
    lookup_from: &str,
    extra: &str,
) -> (Proxy, String) {
    let lookup = format!("lookup_{}", app.database);
    app.pg
        .psql(
            &app.database,
            &format!(
                "CREATE ROLE {user} LOGIN PASSWORD '{password}';
                 CREATE ROLE {lookup} LOGIN PASSWORD 'lookup-secret';
                 CREATE FUNCTION public.user_lookup(name text, OUT usename name, OUT passwd text)
                   RETURNS record LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog
                   AS $$ SELECT usename, passwd FROM {lookup_from} WHERE usename = name $$;
                 REVOKE ALL ON FUNCTION public.user_lookup(text) FROM public;
                 GRANT EXECUTE ON FUNCTION public.user_lookup(text) TO {lookup};"
            ),
        )
        .unwrap();
    let proxy = Proxy::start_with(|port| {
        format!(
            "listen_port = {port}\nadmin_users = [\"admin\"]\nauth_user = \"{lookup}\"\n\
             auth_query = \"SELECT usename, passwd FROM public.user_lookup($1)\"\n{extra}\n\
             [databases]\n{db} = \"postgres://127.0.0.1:{pg_port}/{db}?sslmode=disable\"\n\
             [users]\n{lookup} = \"lookup-secret\"\nadmin = \"admin-secret\"\n",
            db = app.database,
            pg_port = app.pg.port()
        )
    });
    (proxy, lookup)
}

#[test]
fn users_missing_from_the_config_log_in_through_auth_query_and_scram_pass_through() {
    let app = app();
    // Roles are cluster-wide: named after this test's database.
    let carol = format!("carol_{}", app.database);
    // carol's password is only in PostgreSQL.
    let (proxy, _) = auth_query_proxy(&app, &carol, "carol-secret", "pg_shadow", "");
    let url = |user: &str, password: &str| {
        format!(
            "postgres://{user}:{password}@127.0.0.1:{}/{}?sslmode=disable",
            proxy.port, app.database
        )
    };
    let psql = |url: &str, sql: &str| {
        Command::new("psql")
            .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
            .output()
            .unwrap()
    };
    // brisk checks carol against the verifier auth_query returns, then logs in to the
    // server as carol with the keys her login revealed: it never knew her password.
    let right = url(&carol, "carol-secret");
    assert_eq!(ok(&psql(&right, "SELECT current_user")), carol);
    assert_eq!(ok(&psql(&right, "SELECT 1 + 1")), "2");
    for (user, password) in [(carol.as_str(), "guess"), ("nobody", "carol-secret")] {
        let output = psql(&url(user, password), "SELECT 1");
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!(
                "password authentication failed for user \"{user}\""
            )),
            "{stderr}"
        );
    }
    // A new password in PostgreSQL is the one that works, for the client and the server.
    app.pg
        .psql(
            &app.database,
            &format!("ALTER ROLE {carol} PASSWORD 'carol-new';"),
        )
        .unwrap();
    assert!(!psql(&right, "SELECT 1").status.success());
    let renewed = url(&carol, "carol-new");
    let two_at_once: Vec<_> = (0..2)
        .map(|_| {
            let renewed = renewed.clone();
            std::thread::spawn(move || {
                Command::new("psql")
                    .args(["-X", "-At", "-d", &renewed, "-c", "SELECT pg_sleep(0.3), 1"])
                    .output()
                    .unwrap()
            })
        })
        .collect();
    for login in two_at_once {
        assert_eq!(ok(&login.join().unwrap()), "|1");
    }
    let pools = proxy.admin_rows("SHOW POOLS");
    assert!(
        pools.iter().any(|p| p["user"] == carol),
        "carol's pool: {pools:?}"
    );
}

#[test]
fn logins_that_time_out_holding_a_server_leave_the_pool_counts_right() {
    let app = app();
    let slow = format!("slow_{}", app.database);
    // A lookup that takes 3 s, under a client_login_timeout of 1 s: each login times out
    // while it holds one of the lookup pool's servers.
    let (proxy, lookup) = auth_query_proxy(
        &app,
        &slow,
        "slow-secret",
        "pg_shadow, pg_sleep(3)",
        "client_login_timeout = 1\ndefault_pool_size = 4\nmin_pool_size = 2",
    );
    let url = format!(
        "postgres://{slow}:slow-secret@127.0.0.1:{}/{}?sslmode=disable&connect_timeout=5",
        proxy.port, app.database
    );
    let logins: Vec<_> = (0..4)
        .map(|_| {
            Command::new("psql")
                .args(["-X", "-At", "-d", &url, "-c", "SELECT 1"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for login in logins {
        let output = login.wait_with_output().unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("client_login_timeout"), "{stderr}");
    }
    // The timed-out logins' servers were closed, and the pool counts them as closed: it
    // opens servers again up to min_pool_size (a count that drifted up would never let it).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let idle: usize = proxy
            .admin_rows("SHOW POOLS")
            .iter()
            .filter(|row| row["user"] == lookup)
            .map(|row| row["sv_idle"].parse::<usize>().unwrap())
            .sum();
        if idle == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the lookup pool has {idle} idle servers, not 2"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
