//! `brisk serve`'s refusals, through the real binary: one line and exit code 2, before any
//! server or demo starts.

mod common;

use common::brisk;

fn refused(args: &[&str]) -> String {
    let out = brisk(args);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    stderr
}

#[test]
fn serving_beyond_loopback_needs_a_token() {
    // No URL would start the demo; the refusal comes first.
    let stderr = refused(&["serve", "--listen", "0.0.0.0:0"]);
    assert!(stderr.contains("--token"), "{stderr}");
    let stderr = refused(&["serve", "--listen", "[::]:0", "--token", "short"]);
    assert!(stderr.contains("at least 16"), "{stderr}");
}

#[test]
fn bad_flags_are_one_line() {
    let stderr = refused(&[
        "serve",
        "postgres://nobody@127.0.0.1:1/x",
        "--sample-secs",
        "0",
    ]);
    assert!(stderr.contains("--sample-secs"), "{stderr}");
    let stderr = refused(&[
        "serve",
        "postgres://nobody@127.0.0.1:1/x",
        "--redis",
        "http://x",
    ]);
    assert!(stderr.starts_with("brisk: "), "{stderr}");
    // An unreachable server is said at start, not on the first page.
    let stderr = refused(&["serve", "postgres://nobody@127.0.0.1:1/x"]);
    assert!(stderr.contains("127.0.0.1"), "{stderr}");
}

/// A `brisk serve` process; killed on drop.
struct Served {
    child: std::process::Child,
    address: String,
}

impl Served {
    fn start(args: &[&str]) -> Served {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_brisk"))
            .arg("serve")
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(stderr)
            .read_line(&mut line)
            .unwrap();
        let address = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Served { child, address }
    }

    fn get(&self, path: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&self.address).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.0\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.address
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, response)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The dashboard reads a real brisk proxy's console: its per-fingerprint percentiles and
/// N+1 patterns on /queries, its pools on /connections.
#[test]
fn the_proxy_admin_console_shows_on_queries_and_connections() {
    let pg = brisk_sandbox::shared_postgres().expect("sandbox");
    let database = pg.fresh_database("serve_proxy").unwrap();
    pg.psql(
        &database,
        "CREATE ROLE serve_app LOGIN PASSWORD 'serve-secret';
         CREATE TABLE items (id int PRIMARY KEY, name text);
         CREATE TABLE details (id int PRIMARY KEY, item_id int, body text);
         INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 50) i;
         INSERT INTO details SELECT i, 1 + i % 50, 'detail ' || i FROM generate_series(1, 200000) i;
         GRANT SELECT ON items, details TO serve_app;",
    )
    .unwrap();
    // The HTTP listener: its sampler computes each pool's health score and sizing advice.
    let http_port = common::free_port();
    let proxy = common::ProxyProcess::start(
        |port| {
            format!(
                "listen_port = {port}\nadmin_users = [\"admin\"]\n\
                 http_listen = \"127.0.0.1:{http_port}\"\npool_health_window = 5\n\
                 [databases]\n{database} = \"postgres://127.0.0.1:{pg_port}/{database}?sslmode=disable\"\n\
                 [users]\nserve_app = \"serve-secret\"\nadmin = \"admin-secret\"\n",
                pg_port = pg.port()
            )
        },
        "info",
        std::process::Stdio::null(),
    );
    // One client: a list, then one lookup per row (an N+1). details.item_id has no index,
    // so the lookups add up to more than the detector's 50 ms (Sentry's rule).
    let mut script = String::from("SELECT id FROM items ORDER BY id;\n");
    for id in 1..=40 {
        script.push_str(&format!("SELECT body FROM details WHERE item_id = {id};\n"));
    }
    // From standard input, psql sends one statement per message, as an application does.
    let mut psql = std::process::Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", "-", "-d"])
        .arg(format!(
            "postgres://serve_app:serve-secret@127.0.0.1:{}/{database}?sslmode=disable",
            proxy.port
        ))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut psql.stdin.take().unwrap(), script.as_bytes()).unwrap();
    let out = psql.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let admin = format!(
        "postgres://admin:admin-secret@127.0.0.1:{}/brisk?sslmode=disable",
        proxy.port
    );
    let served = Served::start(&[&pg.url(&database), "--proxy-admin", &admin]);
    let (status, queries) = served.get("/queries");
    assert_eq!(status, 200, "{queries}");
    let proxy_section = queries
        .split("data-table=\"proxy_queries\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no proxy table: {queries}"));
    assert!(proxy_section.contains("p95 ms") && proxy_section.contains("p99 ms"));
    assert!(
        proxy_section.contains("FROM details WHERE item_id = $1"),
        "{proxy_section}"
    );
    let n_plus_one = queries
        .split("data-table=\"n_plus_one\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no N+1 table: {queries}"));
    let first_row = n_plus_one
        .split("<tbody>")
        .nth(1)
        .unwrap()
        .split("</tr>")
        .next()
        .unwrap();
    assert!(
        first_row.contains("SELECT body FROM details WHERE item_id = $1"),
        "{first_row}"
    );
    // The literal ids never show.
    assert!(!proxy_section.contains("item_id = 17"));
    let (status, connections) = served.get("/connections");
    assert_eq!(status, 200);
    let pools = connections
        .split("data-table=\"pools\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no pools table: {connections}"));
    assert!(
        pools.contains(&database) && pools.contains("serve_app"),
        "{pools}"
    );
    // The proxy's own health score and sizing line, for the app's pool.
    let health = connections
        .split("data-table=\"pool_health\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no pool health table: {connections}"));
    let score: u32 = health
        .split("data-figure=\"pool_score\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no score: {health}"));
    assert!(score <= 100, "{health}");
    assert!(
        health.contains("data-figure=\"pool_sizing\">default_pool_size "),
        "{health}"
    );
    // The same in a real browser, which also makes the screenshot of the page with a proxy
    // (docs/serve/connections-proxy.png: replaced only with BRISK_UPDATE_SCREENSHOTS=1 or
    // when missing, so test runs leave the tree clean).
    let page = format!("http://{}/connections", served.address);
    let dom = chromium(&["--dump-dom", &page]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("data-figure=\"pool_score\"")
            && dom.contains("data-figure=\"pool_sizing\">default_pool_size "),
        "{dom}"
    );
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/serve/connections-proxy.png");
    if std::env::var_os("BRISK_UPDATE_SCREENSHOTS").is_some_and(|v| v == "1") || !docs.exists() {
        let shot = format!("--screenshot={}", docs.display());
        let output = chromium(&[&shot, "--window-size=1280,1800", "--hide-scrollbars", &page]);
        assert!(output.status.success());
    }
    // A wrong console is said on the page, not a failed page.
    let broken = Served::start(&[
        &pg.url(&database),
        "--proxy-admin",
        "postgres://admin:wrong@127.0.0.1:1/brisk",
    ]);
    let (status, page) = broken.get("/connections");
    assert_eq!(status, 200);
    assert!(page.contains("proxy admin console:"), "{page}");
}

/// `chromium --headless` with the flags a root user in a container needs.
fn chromium(args: &[&str]) -> std::process::Output {
    std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
        ])
        .args(args)
        .output()
        .expect("chromium (scripts/setup installs it)")
}
