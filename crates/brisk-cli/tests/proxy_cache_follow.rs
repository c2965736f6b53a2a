//! Following writes that bypass brisk (`[cache] follow_writes = "logical"`), against real
//! servers: a write made straight to PostgreSQL is seen through brisk within a measured
//! bound (UPDATE, TRUNCATE, a trigger's write onto another table); without the option it
//! is not; a server without `wal_level = logical` is refused in one line; a follower whose
//! slot is lost starts again and a write made meanwhile is seen; and of two brisks sharing a
//! Redis, one consumes the slot and the other takes over when it dies.

mod common;

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use brisk_sandbox::{shared_postgres, Postgres, Redis};

const USER: &str = "followapp";
const PASSWORD: &str = "follow-secret";
/// Generous on a shared 2-core machine; the measured figures are printed.
const BOUND: Duration = Duration::from_secs(5);

/// One cluster with `wal_level = logical` for this file's tests. Decoding reads only WAL
/// flushed to disk: with the sandbox's `synchronous_commit = off` a commit would wait for
/// the WAL writer (up to 3 × `wal_writer_delay`, 600 ms); `on` is what servers run with.
fn logical_postgres() -> &'static Postgres {
    static PG: OnceLock<&'static Postgres> = OnceLock::new();
    PG.get_or_init(|| {
        Postgres::builder()
            .wal_level_logical()
            .setting("synchronous_commit", "on")
            .start_for_process()
            .expect("sandbox")
    })
}

/// A fresh database owned by `USER` (which has the REPLICATION right), with a counter, a
/// table and a trigger that writes onto another table.
fn database(pg: &Postgres) -> String {
    role(pg, USER, "REPLICATION");
    let database = pg.fresh_database("follow").unwrap();
    pg.psql(
        &database,
        &format!(
            "ALTER DATABASE {database} OWNER TO {USER}; GRANT ALL ON SCHEMA public TO {USER};
             CREATE TABLE counters (id int PRIMARY KEY, v int); INSERT INTO counters VALUES (1, 0);
             CREATE TABLE source (id int); CREATE TABLE audit (id int);
             CREATE FUNCTION audit_it() RETURNS trigger LANGUAGE plpgsql AS
               'BEGIN INSERT INTO audit VALUES (NEW.id); RETURN NEW; END';
             CREATE TRIGGER audited AFTER INSERT ON source FOR EACH ROW EXECUTE FUNCTION audit_it();
             ALTER TABLE counters OWNER TO {USER}; ALTER TABLE source OWNER TO {USER};
             ALTER TABLE audit OWNER TO {USER};"
        ),
    )
    .unwrap();
    database
}

/// Creates `user` (password `PASSWORD`) if missing, with `right`.
fn role(pg: &Postgres, user: &str, right: &str) {
    pg.psql(
        "postgres",
        &format!(
            "DO $$ BEGIN CREATE ROLE {user} LOGIN PASSWORD '{PASSWORD}';
             EXCEPTION WHEN duplicate_object THEN NULL; END $$;
             ALTER ROLE {user} {right};"
        ),
    )
    .unwrap();
}

/// The config of a cached proxy; `cache` goes in `[cache]`.
fn config(port: u16, http_port: u16, pg: &Postgres, database: &str, cache: &str) -> String {
    config_as(port, http_port, pg, database, cache, USER)
}

/// `config` with `user` in `[users]`, whom the follower logs in as.
fn config_as(
    port: u16,
    http_port: u16,
    pg: &Postgres,
    database: &str,
    cache: &str,
    user: &str,
) -> String {
    format!(
        "listen_port = {port}\nhttp_listen = \"127.0.0.1:{http_port}\"\n\
         [cache]\nenabled = true\n{cache}\n\
         [databases]\n{database} = \"postgres://127.0.0.1:{}/{database}?sslmode=disable\"\n\
         [users]\n{user} = \"{PASSWORD}\"\n",
        pg.port()
    )
}

struct Brisk {
    process: common::ProxyProcess,
    http_port: u16,
}

fn start(pg: &Postgres, database: &str, cache: &str) -> Brisk {
    let http_port = common::free_port();
    let process = common::ProxyProcess::start(
        |port| config(port, http_port, pg, database, cache),
        "warn",
        Stdio::null(),
    );
    Brisk { process, http_port }
}

fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = String::new();
    stream.read_to_string(&mut body).unwrap();
    body
}

impl Brisk {
    fn url(&self, database: &str) -> String {
        format!(
            "postgres://{USER}:{PASSWORD}@127.0.0.1:{}/{database}?sslmode=disable",
            self.process.port
        )
    }

    fn metrics(&self) -> String {
        http_get(self.http_port, "/metrics")
    }

    /// Whether `/metrics` says this brisk consumes `database`'s slot.
    fn follows(&self, database: &str) -> bool {
        self.metrics().contains(&format!(
            "brisk_cache_follow_active{{database=\"{database}\"}} 1"
        ))
    }

    fn wait_until_following(&self, database: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.follows(database) {
            assert!(
                Instant::now() < deadline,
                "the follower never started: {}",
                self.metrics()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// The first column of the first row, as a simple query (the cache's `Q` path).
async fn value(client: &tokio_postgres::Client, sql: &str) -> String {
    for message in client.simple_query(sql).await.unwrap() {
        if let tokio_postgres::SimpleQueryMessage::Row(row) = message {
            return row.get(0).unwrap_or_default().to_string();
        }
    }
    panic!("{sql}: no row");
}

/// Reads `sql` through brisk until it returns `wanted`; the time that took, or `None`
/// after `within`.
async fn time_until(
    client: &tokio_postgres::Client,
    sql: &str,
    wanted: &str,
    within: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < within {
        if value(client, sql).await == wanted {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    None
}

const READ: &str = "SELECT v FROM counters WHERE id = 1 /* brisk:cache ttl=300 */";
const COUNT: &str = "SELECT count(*) FROM counters /* brisk:cache ttl=300 */";
const AUDITED: &str = "SELECT count(*) FROM audit /* brisk:cache ttl=300 */";

/// The cache's hits from `/metrics`, over its tiers (`brisk_cache_hits_total{tier=...}`).
fn hits(brisk: &Brisk) -> u64 {
    brisk
        .metrics()
        .lines()
        .filter(|l| l.starts_with("brisk_cache_hits_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Reads `sql` through `brisk` until an answer comes from the cache (the first read of a
/// database reads its catalog, the next fills, and a fill is stored once its second check
/// is done): the entry exists before a write.
async fn cached(brisk: &Brisk, client: &tokio_postgres::Client, sql: &str, wanted: &str) {
    let before = hits(brisk);
    for _ in 0..50 {
        assert_eq!(value(client, sql).await, wanted, "{sql}");
        if hits(brisk) > before {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{sql} was not served from the cache");
}

#[test]
fn writes_around_brisk_are_followed_within_a_bound() {
    let pg = logical_postgres();
    let db = database(pg);
    let brisk = start(
        pg,
        &db,
        "follow_writes = \"logical\"\nfollow_interval_ms = 100",
    );
    brisk.wait_until_following(&db);
    let direct_url = pg.url_for(USER, PASSWORD, &db);
    let mut delays = Vec::new();
    runtime().block_on(async {
        let through = connect(&brisk.url(&db)).await;
        let direct = connect(&direct_url).await;
        for i in 1..=50 {
            cached(&brisk, &through, READ, &(i - 1).to_string()).await;
            direct
                .simple_query(&format!("UPDATE counters SET v = {i} WHERE id = 1"))
                .await
                .unwrap();
            let delay = time_until(&through, READ, &i.to_string(), BOUND).await;
            delays.push(delay.unwrap_or_else(|| panic!("write {i} not seen within {BOUND:?}")));
        }
        // TRUNCATE, and a trigger's write onto another table, are followed too.
        cached(&brisk, &through, COUNT, "1").await;
        direct.simple_query("TRUNCATE counters").await.unwrap();
        let truncated = time_until(&through, COUNT, "0", BOUND).await;
        assert!(truncated.is_some(), "the TRUNCATE was not followed");
        cached(&brisk, &through, AUDITED, "0").await;
        direct
            .simple_query("INSERT INTO source VALUES (7)")
            .await
            .unwrap();
        let audited = time_until(&through, AUDITED, "1", BOUND).await;
        assert!(audited.is_some(), "the trigger's write was not followed");
    });
    delays.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    eprintln!(
        "direct COMMIT to first fresh read through brisk, {} writes, follow_interval_ms = 100: p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        delays.len(),
        ms(delays[delays.len() / 2]),
        ms(delays[delays.len() * 9 / 10]),
        ms(delays[delays.len() - 1])
    );
    let metrics = brisk.metrics();
    for family in [
        "brisk_cache_follow_transactions_total",
        "brisk_cache_follow_table_bumps_total",
        "brisk_cache_follow_lag_seconds{database=",
    ] {
        assert!(metrics.contains(family), "{family}: {metrics}");
    }
    let health = http_get(brisk.http_port, "/health/detailed");
    assert!(
        health.replace(' ', "").contains("\"state\":\"following\""),
        "{health}"
    );
}

#[test]
fn without_follow_writes_a_write_around_brisk_is_not_seen_while_the_entry_lives() {
    let pg = logical_postgres();
    let db = database(pg);
    let brisk = start(pg, &db, "");
    runtime().block_on(async {
        let through = connect(&brisk.url(&db)).await;
        let direct = connect(&pg.url_for(USER, PASSWORD, &db)).await;
        cached(&brisk, &through, READ, "0").await;
        direct
            .simple_query("UPDATE counters SET v = 1 WHERE id = 1")
            .await
            .unwrap();
        assert_eq!(
            value(&direct, "SELECT v FROM counters WHERE id = 1").await,
            "1"
        );
        // Longer than the follower ever took in the test above.
        let seen = time_until(&through, READ, "1", Duration::from_secs(2)).await;
        assert!(
            seen.is_none(),
            "without follow_writes the cache cannot see a write that bypassed brisk"
        );
    });
    assert!(!brisk.metrics().contains("brisk_cache_follow_"));
}

/// Runs `brisk proxy` with `config` and returns (exit code, stderr); kills it after 30 s.
fn run_to_exit(config: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("brisk.toml");
    std::fs::write(&path, config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_brisk"))
        .args(["proxy", "--config"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("brisk proxy did not refuse the configuration");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn a_server_without_logical_wal_or_a_role_without_replication_is_refused_in_one_line() {
    let replica = shared_postgres().expect("sandbox");
    let db = database(replica);
    let port = common::free_port();
    let follow = "follow_writes = \"logical\"";
    let (code, stderr) = run_to_exit(&config(port, common::free_port(), replica, &db, follow));
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("needs wal_level = logical (it is replica"),
        "{stderr}"
    );
    assert!(!stderr.contains("REPLICATION"), "{stderr}");

    let logical = logical_postgres();
    let db = database(logical);
    role(logical, "followplain", "NOREPLICATION");
    let (code, stderr) = run_to_exit(&config_as(
        port,
        common::free_port(),
        logical,
        &db,
        follow,
        "followplain",
    ));
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("the REPLICATION right for role followplain"),
        "{stderr}"
    );
    assert!(!stderr.contains("wal_level"), "{stderr}");

    // A bad setting is one line too, before anything connects.
    let bad = "follow_writes = \"logical\"\nfollow_interval_ms = 0";
    let (code, stderr) = run_to_exit(&config(port, common::free_port(), logical, &db, bad));
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cache.follow_interval_ms: 0 is not between 10 and 60000"),
        "{stderr}"
    );
}

#[test]
fn of_two_brisks_one_consumes_the_slot_and_the_other_takes_over_when_it_dies() {
    let pg = logical_postgres();
    let db = database(pg);
    let redis = Redis::start().expect("sandbox redis");
    let cache = format!(
        "redis = \"{}\"\nfollow_writes = \"logical\"\nfollow_interval_ms = 100",
        redis.url()
    );
    let mut first = start(pg, &db, &cache);
    first.wait_until_following(&db);
    let second = start(pg, &db, &cache);
    // The second stands by: it reports the database, inactive, for as long as we look.
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        let metrics = second.metrics();
        assert!(!second.follows(&db), "two consumers: {metrics}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        second
            .metrics()
            .contains(&format!("brisk_cache_follow_active{{database=\"{db}\"}} 0")),
        "{}",
        second.metrics()
    );
    let slots = pg
        .psql(
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_replication_slots WHERE database = '{db}' AND active"
            ),
        )
        .unwrap();
    assert_eq!(slots.trim(), "1", "one slot, consumed by one brisk");

    first.process.child.kill().unwrap();
    first.process.child.wait().unwrap();
    let killed = Instant::now();
    second.wait_until_following(&db);
    let takeover = killed.elapsed();
    eprintln!("takeover after the consumer was killed: {takeover:?}");
    assert!(takeover < Duration::from_secs(10), "{takeover:?}");

    runtime().block_on(async {
        let through = connect(&second.url(&db)).await;
        let direct = connect(&pg.url_for(USER, PASSWORD, &db)).await;
        cached(&second, &through, READ, "0").await;
        direct
            .simple_query("UPDATE counters SET v = 42 WHERE id = 1")
            .await
            .unwrap();
        let seen = time_until(&through, READ, "42", BOUND).await;
        assert!(seen.is_some(), "the new consumer follows the writes");
    });
}

#[test]
fn a_follower_that_loses_its_slot_starts_again_and_a_write_in_the_gap_is_seen() {
    let pg = logical_postgres();
    let db = database(pg);
    let brisk = start(
        pg,
        &db,
        "follow_writes = \"logical\"\nfollow_interval_ms = 100",
    );
    brisk.wait_until_following(&db);
    runtime().block_on(async {
        let through = connect(&brisk.url(&db)).await;
        let direct = connect(&pg.url_for(USER, PASSWORD, &db)).await;
        cached(&brisk, &through, READ, "0").await;
        // The temporary slot ends with its backend; the follower waits a second before it
        // makes a new one, so this write is in no slot: only the epoch bump that follows
        // the new slot's creation can make it seen.
        let ended = pg
            .psql(
                "postgres",
                &format!(
                    "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots \
                     WHERE slot_name = 'brisk_cache_{db}'"
                ),
            )
            .unwrap();
        assert_eq!(ended.trim(), "t");
        direct
            .simple_query("UPDATE counters SET v = 9 WHERE id = 1")
            .await
            .unwrap();
        let seen = time_until(&through, READ, "9", BOUND).await;
        assert!(seen.is_some(), "the write made while the slot was gone");
    });
    let metrics = brisk.metrics();
    assert!(
        metrics.contains("brisk_cache_follow_epoch_bumps_total 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("brisk_cache_follow_errors_total 1"),
        "{metrics}"
    );
}
