//! The proxy's result cache against real servers: what it refuses and why, hits replayed
//! as the server answered, and a randomized stale-read test with two brisk instances
//! sharing one Redis in front of one PostgreSQL.

mod common;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use brisk_sandbox::{shared_postgres, Postgres, Redis};

const USER: &str = "cacheapp";
const PASSWORD: &str = "cache-secret";

fn database(pg: &Postgres) -> String {
    static ROLE: std::sync::Once = std::sync::Once::new();
    ROLE.call_once(|| {
        pg.psql(
            "postgres",
            &format!("CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}';"),
        )
        .unwrap();
    });
    let database = pg.fresh_database("cache").unwrap();
    pg.psql(
        &database,
        &format!(
            "ALTER DATABASE {database} OWNER TO {USER}; GRANT ALL ON SCHEMA public TO {USER};"
        ),
    )
    .unwrap();
    database
}

/// A proxy with the cache on; `cache` goes in `[cache]`, `top` before it.
fn start_proxy_with(pg: &Postgres, database: &str, top: &str, cache: &str) -> common::ProxyProcess {
    common::ProxyProcess::start(
        |port| {
            format!(
                "listen_port = {port}\nadmin_users = [\"admin\"]\n{top}\n\
                 [cache]\nenabled = true\n{cache}\n\
                 [databases]\n{database} = \"postgres://127.0.0.1:{}/{database}?sslmode=disable\"\n\
                 [users]\n{USER} = \"{PASSWORD}\"\nadmin = \"admin-secret\"\n",
                pg.port()
            )
        },
        "warn",
        Stdio::null(),
    )
}

fn start_proxy(pg: &Postgres, database: &str, cache: &str) -> common::ProxyProcess {
    start_proxy_with(pg, database, "", cache)
}

fn url(port: u16, database: &str) -> String {
    format!("postgres://{USER}:{PASSWORD}@127.0.0.1:{port}/{database}?sslmode=disable")
}

fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// `SHOW CACHE` rows by fingerprint.
fn show_cache(port: u16) -> Vec<HashMap<String, String>> {
    admin_rows(port, "SHOW CACHE")
}

/// An admin command's rows, as column name to value.
fn admin_rows(port: u16, command: &str) -> Vec<HashMap<String, String>> {
    common::console_rows(
        &format!("postgres://admin:admin-secret@127.0.0.1:{port}/brisk?sslmode=disable"),
        command,
    )
}

fn fingerprint(sql: &str) -> String {
    brisk_sql::fingerprint(sql).unwrap().to_string()
}

fn shape<'a>(rows: &'a [HashMap<String, String>], sql: &str) -> &'a HashMap<String, String> {
    let wanted = fingerprint(sql);
    rows.iter()
        .find(|r| r["fingerprint"] == wanted)
        .unwrap_or_else(|| panic!("no shape {wanted} for {sql} in {rows:?}"))
}

#[test]
fn each_refusal_has_its_reason_and_a_plain_table_is_served_from_the_cache() {
    let pg = shared_postgres().expect("sandbox");
    let db = database(pg);
    pg.psql(
        &db,
        &format!(
            "CREATE TABLE plain (id int PRIMARY KEY, v text); INSERT INTO plain VALUES (1, 'one');
             CREATE UNLOGGED TABLE fast (id int); CREATE TABLE guarded (id int);
             ALTER TABLE guarded ENABLE ROW LEVEL SECURITY;
             CREATE VIEW plain_view AS SELECT * FROM plain;
             CREATE FUNCTION tick(int) RETURNS int LANGUAGE sql VOLATILE AS 'SELECT $1';
             CREATE FUNCTION same(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1';
             ALTER TABLE plain OWNER TO {USER}; ALTER TABLE fast OWNER TO {USER};
             ALTER TABLE guarded OWNER TO {USER}; ALTER VIEW plain_view OWNER TO {USER};"
        ),
    )
    .unwrap();
    let proxy = start_proxy(pg, &db, "");
    let url = url(proxy.port, &db);
    // The first statement reads the catalog.
    psql(&url, "SELECT 1");
    let refused = [
        ("SELECT id FROM fast WHERE id = 1", "unlogged table"),
        ("SELECT id FROM guarded WHERE id = 1", "row-level security"),
        (
            "SELECT relname FROM pg_class WHERE oid = 1",
            "system catalog",
        ),
        ("SELECT tick(id) FROM plain WHERE id = 1", "function tick"),
        (
            "SELECT v FROM plain WHERE id = 1 FOR UPDATE",
            "not cacheable",
        ),
        ("SELECT now() FROM plain WHERE id = 1", "not cacheable"),
    ];
    for (sql, _) in &refused {
        for _ in 0..2 {
            psql(&url, &format!("{sql} /* brisk:cache ttl=60 */"));
        }
    }
    let served = [
        "SELECT v FROM plain WHERE id = 1",
        "SELECT v FROM plain_view WHERE id = 1",
        "SELECT same(id) FROM plain WHERE id = 1",
    ];
    let mut direct = Vec::new();
    for sql in &served {
        let sql = format!("{sql} /* brisk:cache ttl=60 */");
        for _ in 0..3 {
            let through = psql(&url, &sql);
            direct.push((pg.psql(&db, &sql).unwrap(), through));
        }
    }
    let rows = show_cache(proxy.port);
    for (sql, reason) in &refused {
        let row = shape(&rows, sql);
        assert_eq!(row["hits"], "0", "{sql}: {row:?}");
        assert!(row["bypasses"].contains(reason), "{sql}: {row:?}");
    }
    for sql in &served {
        let row = shape(&rows, sql);
        assert_eq!(row["hits"], "2", "{sql}: {row:?}");
        assert!(row["bypasses"].is_empty(), "{sql}: {row:?}");
    }
    for (direct, through) in direct {
        assert_eq!(
            direct.trim(),
            through.trim(),
            "a hit answers as the server does"
        );
    }
    // A write through brisk: the next read sees it, through the view too.
    psql(&url, "UPDATE plain SET v = 'uno' WHERE id = 1");
    assert_eq!(
        psql(
            &url,
            "SELECT v FROM plain WHERE id = 1 /* brisk:cache ttl=60 */"
        )
        .trim(),
        "uno"
    );
    assert_eq!(
        psql(
            &url,
            "SELECT v FROM plain_view WHERE id = 1 /* brisk:cache ttl=60 */"
        )
        .trim(),
        "uno"
    );
}

/// A small deterministic generator: the test's choices replay from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const ROWS: i64 = 4;

/// A fault injected into the shared Redis while a stale-read run goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    /// Redis loses everything and drops every connection, as a restart without
    /// persistence does (FLUSHALL, then CLIENT KILL).
    Restart,
    /// Redis stops answering (SIGSTOP) for longer than brisk's Redis timeout, then resumes.
    Stall,
}

/// Injects `fault` every 700 ms until `deadline`; returns how many times.
fn inject(fault: Fault, redis: &Redis, deadline: Instant) -> u64 {
    let mut count = 0;
    while fault != Fault::None && Instant::now() + Duration::from_millis(1500) < deadline {
        std::thread::sleep(Duration::from_millis(700));
        match fault {
            Fault::Restart => {
                redis.cli(&["FLUSHALL"]).unwrap();
                redis.cli(&["CLIENT", "KILL", "TYPE", "normal"]).unwrap();
            }
            _ => {
                let pid = redis.pid().unwrap().to_string();
                let signal = |s: &str| {
                    assert!(Command::new("kill")
                        .args([s, &pid])
                        .status()
                        .unwrap()
                        .success())
                };
                signal("-STOP");
                // Brisk's Redis timeout is 500 ms: calls in flight time out.
                std::thread::sleep(Duration::from_millis(900));
                signal("-CONT");
            }
        }
        count += 1;
    }
    count
}

async fn connect_retrying(url: &str) -> tokio_postgres::Client {
    loop {
        if let Ok((client, connection)) = tokio_postgres::connect(url, tokio_postgres::NoTls).await
        {
            tokio::spawn(connection);
            return client;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs writers and readers through two brisks sharing `redis` for `duration`; returns
/// (reads, cached-shape reads served, writes acknowledged, writes rolled back or failed).
pub fn stale_read_run(seed: u64, duration: Duration) -> (u64, u64, u64, u64) {
    stale_read_run_with(seed, duration, Fault::None).0
}

/// `stale_read_run_with` with the entries tier `tier` (`local`, `redis`, `both`); returns
/// also the hits served from the Redis tier.
pub fn stale_read_run_tier(
    seed: u64,
    duration: Duration,
    tier: &str,
) -> ((u64, u64, u64, u64), u64) {
    let (counts, _, _, redis_hits) = stale_read_run_full(seed, duration, Fault::None, tier);
    (counts, redis_hits)
}

/// `stale_read_run` with `fault` injected meanwhile; also returns the faults injected and
/// the writes refused or lost with their connection (never acknowledged).
pub fn stale_read_run_with(
    seed: u64,
    duration: Duration,
    fault: Fault,
) -> ((u64, u64, u64, u64), u64, u64) {
    let (counts, faults, lost, _) = stale_read_run_full(seed, duration, fault, "local");
    (counts, faults, lost)
}

fn stale_read_run_full(
    seed: u64,
    duration: Duration,
    fault: Fault,
    tier: &str,
) -> ((u64, u64, u64, u64), u64, u64, u64) {
    let pg = shared_postgres().expect("sandbox");
    let redis = Redis::start().expect("sandbox redis");
    let db = database(pg);
    pg.psql(
        &db,
        &format!(
            "CREATE TABLE counters (id int PRIMARY KEY, v bigint NOT NULL);
             CREATE TABLE mirror (id int PRIMARY KEY, v bigint NOT NULL);
             CREATE TABLE bumps (id int PRIMARY KEY, v bigint NOT NULL);
             INSERT INTO counters SELECT g, 0 FROM generate_series(0, {last}) g;
             INSERT INTO mirror SELECT g, 0 FROM generate_series(0, {last}) g;
             INSERT INTO bumps SELECT g, 0 FROM generate_series(0, {last}) g;
             CREATE FUNCTION copy_bump() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN UPDATE mirror SET v = NEW.v WHERE id = NEW.id; RETURN NEW; END $$;
             CREATE TRIGGER bumped AFTER UPDATE ON bumps FOR EACH ROW EXECUTE FUNCTION copy_bump();
             ALTER TABLE counters OWNER TO {USER}; ALTER TABLE mirror OWNER TO {USER};
             ALTER TABLE bumps OWNER TO {USER};",
            last = ROWS - 1
        ),
    )
    .unwrap();
    let cache = format!("redis = \"{}\"\ntier = \"{tier}\"", redis.url());
    let proxies = [start_proxy(pg, &db, &cache), start_proxy(pg, &db, &cache)];
    let urls: Vec<String> = proxies.iter().map(|p| url(p.port, &db)).collect();
    // acked[table][id]: the latest value whose write's commit was acknowledged.
    let acked: Arc<Vec<Vec<AtomicI64>>> = Arc::new(
        (0..2)
            .map(|_| (0..ROWS).map(|_| AtomicI64::new(0)).collect())
            .collect(),
    );
    let reads = Arc::new(AtomicU64::new(0));
    let writes = Arc::new(AtomicU64::new(0));
    let undone = Arc::new(AtomicU64::new(0));
    let lost = Arc::new(AtomicU64::new(0));
    let faults = std::thread::scope(|scope| {
        let injector = scope.spawn(|| inject(fault, &redis, Instant::now() + duration));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let stale = runtime.block_on(async {
        let deadline = Instant::now() + duration;
        let mut tasks = Vec::new();
        // One writer per row (each owns its row, so the values it commits only grow).
        for id in 0..ROWS {
            let (urls, acked, writes, undone, lost) = (urls.clone(), acked.clone(), writes.clone(), undone.clone(), lost.clone());
            tasks.push(tokio::spawn(async move {
                let mut rng = Rng(seed ^ (id as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                let mut clients = Vec::new();
                for url in &urls {
                    clients.push(connect_retrying(url).await);
                }
                let mut next = [0i64; 2];
                while Instant::now() < deadline {
                    // Pauses between writes leave readers time to hit the cache.
                    tokio::time::sleep(Duration::from_millis(rng.below(30))).await;
                    let which = rng.below(2) as usize;
                    if clients[which].is_closed() {
                        // A write brisk could not announce ends its connection (08006).
                        clients[which] = connect_retrying(&urls[which]).await;
                    }
                    let client = &clients[which];
                    // Table 0: counters directly; table 1: mirror, through bumps' trigger.
                    let table = rng.below(2) as usize;
                    let target = ["counters", "bumps"][table];
                    let value = next[table] + 1;
                    // Taken even if the write is refused or its outcome unknown: what one
                    // writer may have committed only grows.
                    next[table] = value;
                    let update = format!("UPDATE {target} SET v = {value} WHERE id = {id}");
                    let done = match rng.below(4) {
                        0 => client
                            .simple_query(&format!("BEGIN; {update}; ROLLBACK"))
                            .await
                            .map(|_| false),
                        1 => {
                            let failed = client
                                .simple_query(&format!("BEGIN; {update}; SELECT 1/0; COMMIT"))
                                .await;
                            assert!(failed.is_err());
                            client.simple_query("ROLLBACK").await.map(|_| false)
                        }
                        // The extended protocol, autocommit.
                        2 => client
                            .execute(&format!("UPDATE {target} SET v = $1 WHERE id = $2"), &[&value, &(id as i32)])
                            .await
                            .map(|_| true),
                        _ => client
                            .simple_query(&format!("BEGIN; {update}; COMMIT"))
                            .await
                            .map(|_| true),
                    };
                    match done {
                        Ok(true) => {
                            acked[table][id as usize].store(value, Ordering::SeqCst);
                            writes.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(false) => {
                            undone.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            assert!(fault != Fault::None, "a write failed with no fault injected: {e}");
                            lost.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }));
        }
        let stale = Arc::new(AtomicU64::new(0));
        for reader in 0..4u64 {
            let (urls, acked, reads, stale) = (urls.clone(), acked.clone(), reads.clone(), stale.clone());
            tasks.push(tokio::spawn(async move {
                let mut rng = Rng(seed.wrapping_add(reader + 101).wrapping_mul(0x2545_f491_4f6c_dd1d));
                let mut clients = Vec::new();
                for url in &urls {
                    clients.push(connect_retrying(url).await);
                }
                while Instant::now() < deadline {
                    let client = &clients[rng.below(2) as usize];
                    let table = rng.below(2) as usize;
                    let id = rng.below(ROWS as u64) as usize;
                    let floor = acked[table][id].load(Ordering::SeqCst);
                    let sql = format!(
                        "SELECT v FROM {} WHERE id = {id} /* brisk:cache ttl=600 */",
                        ["counters", "mirror"][table]
                    );
                    let rows = client.simple_query(&sql).await.unwrap();
                    let seen: i64 = rows
                        .iter()
                        .find_map(|m| match m {
                            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(|v| v.parse().unwrap()),
                            _ => None,
                        })
                        .unwrap();
                    reads.fetch_add(1, Ordering::Relaxed);
                    if seen < floor {
                        eprintln!("stale read: {sql} gave {seen}, but {floor} was acknowledged before it started");
                        stale.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        stale.load(Ordering::Relaxed)
    });
        (stale, injector.join().unwrap())
    });
    let (stale, faults) = faults;
    let rows: Vec<_> = proxies.iter().flat_map(|p| show_cache(p.port)).collect();
    let sum = |column: &str| -> u64 {
        rows.iter()
            .map(|row| row[column].parse::<u64>().unwrap_or(0))
            .sum()
    };
    let (hits, redis_hits) = (sum("hits"), sum("redis_hits"));
    let counts = (
        reads.load(Ordering::Relaxed),
        hits,
        writes.load(Ordering::Relaxed),
        undone.load(Ordering::Relaxed),
    );
    let lost = lost.load(Ordering::Relaxed);
    println!(
        "seed {seed}, fault {fault:?}, tier {tier}: {} reads ({} served from the cache, {redis_hits} from Redis), {} writes acknowledged, {} rolled back or failed, {lost} refused or lost, {faults} faults, {stale} stale",
        counts.0, counts.1, counts.2, counts.3
    );
    assert_eq!(
        stale, 0,
        "stale reads with seed {seed}, fault {fault:?}, tier {tier}"
    );
    (counts, faults, lost, redis_hits)
}

#[test]
fn no_read_after_an_acknowledged_write_is_stale_across_two_brisks() {
    let seconds = std::env::var("BRISK_CACHE_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    for seed in [0x5eed_0001u64, 0x5eed_0002] {
        let (reads, hits, writes, undone) = stale_read_run(seed, Duration::from_secs(seconds));
        assert!(
            reads > 100 && writes > 20 && undone > 5,
            "too little traffic to judge"
        );
        assert!(
            hits > 0,
            "the readers were never served from the cache: the test would prove nothing"
        );
    }
}

#[test]
fn no_read_is_stale_across_two_brisks_with_the_redis_tier() {
    let seconds = std::env::var("BRISK_CACHE_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    for (seed, tier) in [(0x5eed_0021u64, "redis"), (0x5eed_0022, "both")] {
        let ((reads, hits, writes, undone), redis_hits) =
            stale_read_run_tier(seed, Duration::from_secs(seconds), tier);
        assert!(
            reads > 100 && writes > 20 && undone > 5,
            "too little traffic to judge"
        );
        // Entries filled by one brisk served by the other, or by itself, from Redis.
        assert!(
            redis_hits > 0 && hits >= redis_hits,
            "never served from the Redis tier ({tier}): the test would prove nothing"
        );
    }
}

/// Calls PostgreSQL ran of statements like `pattern` in the current database.
fn server_calls(pg: &Postgres, db: &str, pattern: &str) -> u64 {
    pg.psql(
        db,
        &format!(
            "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid \
             WHERE d.datname = current_database() AND s.query LIKE '{pattern}'"
        ),
    )
    .unwrap()
    .trim()
    .parse()
    .unwrap()
}

/// Waits until Redis holds `n` Redis-tier entries (a fill is stored off the client's path).
fn wait_for_entries(redis: &Redis, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let keys: Vec<String> = redis
            .cli(&["--scan", "--pattern", "brisk:cache:e:*"])
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        if keys.len() >= n {
            return keys;
        }
        assert!(
            Instant::now() < deadline,
            "the Redis tier never got {n} entries: {keys:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_second_brisk_serves_the_first_s_redis_entries_and_a_write_makes_them_unservable_at_once() {
    let pg = shared_postgres().expect("sandbox");
    let redis = Redis::start().expect("sandbox redis");
    let db = database(pg);
    pg.psql(
        &db,
        &format!(
            "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
             CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL); INSERT INTO t VALUES (1, 1), (2, 2);
             ALTER TABLE t OWNER TO {USER};"
        ),
    )
    .unwrap();
    // A keeps entries in memory and Redis; B only in Redis: each of B's hits is a Redis hit.
    let a = start_proxy(
        pg,
        &db,
        &format!("redis = \"{}\"\ntier = \"both\"", redis.url()),
    );
    let b = start_proxy(
        pg,
        &db,
        &format!("redis = \"{}\"\ntier = \"redis\"", redis.url()),
    );
    let read = "SELECT v FROM t WHERE id = 1 /* brisk:cache ttl=600 */";
    // The first statement of a brisk reads the catalog (and bypasses); the second fills.
    for _ in 0..2 {
        assert_eq!(psql(&url(a.port, &db), read).trim(), "1");
    }
    psql(&url(b.port, &db), "SELECT 1");
    wait_for_entries(&redis, 1);
    let calls = server_calls(pg, &db, "SELECT v FROM t WHERE id%");
    for _ in 0..3 {
        assert_eq!(psql(&url(b.port, &db), read).trim(), "1");
    }
    assert_eq!(
        server_calls(pg, &db, "SELECT v FROM t WHERE id%"),
        calls,
        "B went to PostgreSQL for an entry A filled"
    );
    let rows = show_cache(b.port);
    let row = shape(&rows, read);
    assert_eq!(
        (
            row["hits"].as_str(),
            row["redis_hits"].as_str(),
            row["tier"].as_str()
        ),
        ("3", "3", "redis"),
        "{row:?}"
    );
    // A write through A: B's next read, at once, is the server's.
    psql(&url(a.port, &db), "UPDATE t SET v = 10 WHERE id = 1");
    assert_eq!(
        psql(&url(b.port, &db), read).trim(),
        "10",
        "stale read from Redis"
    );
    assert_eq!(
        server_calls(pg, &db, "SELECT v FROM t WHERE id%"),
        calls + 1
    );
    // And A's own in-process entry is as unservable.
    assert_eq!(psql(&url(a.port, &db), read).trim(), "10");

    // A big, compressible answer: stored compressed, replayed byte for byte by the other.
    let big = "SELECT id, repeat(md5(id::text), 9000) AS blob FROM t ORDER BY id /* brisk:cache ttl=600 */";
    let direct = psql(&pg.url(&db), big);
    assert!(direct.len() > 500_000, "{}", direct.len());
    assert_eq!(psql(&url(a.port, &db), big), direct);
    // Two entries: the point read's (one key for A and B: same query, user and settings)
    // and this one.
    let keys = wait_for_entries(&redis, 2);
    let stored: usize = keys
        .iter()
        .map(|k| {
            redis
                .cli(&["STRLEN", k])
                .unwrap()
                .trim()
                .parse::<usize>()
                .unwrap()
        })
        .max()
        .unwrap();
    assert!(
        stored < direct.len() / 10,
        "not compressed: {stored} bytes stored for {}",
        direct.len()
    );
    assert_eq!(psql(&url(b.port, &db), big), direct, "B's replay differs");
    let rows = show_cache(b.port);
    assert_eq!(shape(&rows, big)["redis_hits"], "1", "{rows:?}");
}

/// A TCP relay in front of Redis that can be cut (every connection closed, new ones
/// dropped) and restored, with Redis's data intact: Redis unreachable, as a network fault.
struct Cuttable {
    port: u16,
    up: Arc<std::sync::atomic::AtomicBool>,
    open: Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Cuttable {
    fn start(target: u16) -> Cuttable {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let open = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (up2, open2) = (up.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !up2.load(Ordering::SeqCst) {
                    continue;
                }
                let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let mut open = open2.lock().unwrap();
                open.push(client.try_clone().unwrap());
                open.push(server.try_clone().unwrap());
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Cuttable { port, up, open }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[test]
fn allow_writes_lets_a_write_through_with_redis_unreachable_and_no_brisk_serves_stale_after() {
    let pg = shared_postgres().expect("sandbox");
    let redis = Redis::start().expect("sandbox redis");
    let relay = Cuttable::start(redis.port());
    let db = database(pg);
    pg.psql(
        &db,
        &format!("CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL); INSERT INTO t VALUES (1, 1); ALTER TABLE t OWNER TO {USER};"),
    )
    .unwrap();
    let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let http_port = http.local_addr().unwrap().port();
    drop(http);
    let store = format!("redis = \"redis://127.0.0.1:{}\"", relay.port);
    let allowing = start_proxy_with(
        pg,
        &db,
        &format!("http_listen = \"127.0.0.1:{http_port}\""),
        &format!("{store}\non_store_down = \"allow-writes\""),
    );
    // The other brisk keeps the default, and holds an entry of the old value in memory.
    let refusing = start_proxy(pg, &db, &store);
    let read = "SELECT v FROM t WHERE id = 1 /* brisk:cache ttl=600 */";
    for _ in 0..3 {
        assert_eq!(psql(&url(refusing.port, &db), read).trim(), "1");
    }
    assert!(shape(&show_cache(refusing.port), read)["hits"] != "0");
    relay.cut();
    // allow-writes: the write reaches PostgreSQL, and reads through it bypass the cache.
    psql(&url(allowing.port, &db), "UPDATE t SET v = 2 WHERE id = 1");
    assert_eq!(
        pg.psql(&db, "SELECT v FROM t WHERE id = 1").unwrap().trim(),
        "2"
    );
    assert_eq!(psql(&url(allowing.port, &db), read).trim(), "2");
    // refuse-writes (the default): not sent.
    let out = Command::new("psql")
        .args([
            "-X",
            "-At",
            "-d",
            &url(refusing.port, &db),
            "-c",
            "UPDATE t SET v = 3 WHERE id = 1",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot announce this write"));
    assert_eq!(
        pg.psql(&db, "SELECT v FROM t WHERE id = 1").unwrap().trim(),
        "2"
    );
    // Unreachable store: the other brisk bypasses too.
    assert_eq!(psql(&url(refusing.port, &db), read).trim(), "2");
    let health = http_get(http_port, "/health/detailed");
    assert!(health.contains("\"generation_owed\": true"), "{health}");
    relay.restore();
    // The allowing brisk sets a new generation within about 100 ms of Redis's return.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !http_get(http_port, "/health/detailed").contains("\"generation_owed\": false") {
        assert!(
            Instant::now() < deadline,
            "the new generation was never set"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The old entry in the other brisk's memory is never served again.
    for _ in 0..3 {
        assert_eq!(
            psql(&url(refusing.port, &db), read).trim(),
            "2",
            "stale read after the store's return"
        );
    }
    assert_eq!(psql(&url(allowing.port, &db), read).trim(), "2");
    let metrics = http_get(http_port, "/metrics");
    assert!(
        metrics.contains("brisk_cache_writes_allowed_total 1"),
        "{metrics}"
    );
    // And the cache serves again.
    let rows = show_cache(refusing.port);
    let hits: u64 = shape(&rows, read)["hits"].parse().unwrap();
    assert_eq!(psql(&url(refusing.port, &db), read).trim(), "2");
    let rows = show_cache(refusing.port);
    assert!(
        shape(&rows, read)["hits"].parse::<u64>().unwrap() > hits,
        "{rows:?}"
    );
}

/// p50 and p99 in ms, and count, of pgbench's per-transaction log (`-l`) in `dir`.
fn latencies(dir: &std::path::Path) -> (f64, f64, usize) {
    let mut all: Vec<f64> = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        for line in text.lines() {
            if let Some(us) = line
                .split_whitespace()
                .nth(2)
                .and_then(|v| v.parse::<f64>().ok())
            {
                all.push(us / 1000.0);
            }
        }
        let _ = std::fs::remove_file(entry.path());
    }
    all.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| {
        all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    (at(0.5), at(0.99), all.len())
}

/// The speed figure (not run by default): a cached point read and a slow read, directly,
/// through brisk, and through brisk from the cache, one client, with pgbench.
/// `cargo test -p brisk-cli --test proxy_cache -- --ignored speed --nocapture`
#[test]
#[ignore]
fn speed() {
    let pg = shared_postgres().expect("sandbox");
    let db = database(pg);
    let init = Command::new("pgbench")
        .args(["-i", "-q", "-s", "2", "-d", &pg.url(&db)])
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    pg.psql(
        &db,
        &format!("ALTER TABLE pgbench_accounts OWNER TO {USER};"),
    )
    .unwrap();
    let point = "SELECT abalance FROM pgbench_accounts WHERE aid = 1";
    let slow = "SELECT count(*) FROM pgbench_accounts WHERE abalance + 1 > 0 AND filler LIKE '%x%'";
    let proxy = start_proxy(pg, &db, "");
    // Opted in by configuration: pgbench would read a `brisk:cache` comment's `:cache` as
    // one of its variables.
    let shapes = format!(
        "[cache.shapes]\n\"{}\" = 600\n\"{}\" = 600",
        fingerprint(point),
        fingerprint(slow)
    );
    let cached = start_proxy(pg, &db, &shapes);
    // With Redis: versions there and entries in memory, or entries in Redis too.
    let redis = Redis::start().expect("sandbox redis");
    let with_redis = |tier: &str| {
        start_proxy(
            pg,
            &db,
            &format!("redis = \"{}\"\ntier = \"{tier}\"\n{shapes}", redis.url()),
        )
    };
    let (redis_local, redis_tier) = (with_redis("local"), with_redis("redis"));
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("point", "\\set aid random(1, 1000)\nSELECT abalance FROM pgbench_accounts WHERE aid = :aid"),
        ("slow", "\\set b random(1, 20)\nSELECT count(*) FROM pgbench_accounts WHERE abalance + :b > 0 AND filler LIKE '%x%'"),
    ];
    // `simple`: one Query message; `prepared`: Bind/Describe/Execute/Sync of a statement
    // parsed once (the extended protocol).
    for ((name, script), mode) in cases
        .iter()
        .flat_map(|c| [(*c, "simple"), (*c, "prepared")])
    {
        for (path, url) in [
            ("direct", pg.url(&db)),
            ("brisk", url(proxy.port, &db)),
            ("brisk cached", url(cached.port, &db)),
            ("redis versions", url(redis_local.port, &db)),
            ("redis tier", url(redis_tier.port, &db)),
        ] {
            let file = dir.path().join("script.sql");
            std::fs::write(&file, format!("{script};\n")).unwrap();
            let logs = tempfile::tempdir().unwrap();
            let out = Command::new("pgbench")
                .current_dir(logs.path())
                .args(["-n", "-c", "1", "-T", "5", "-l", "-M", mode, "-f"])
                .arg(&file)
                .arg("-d")
                .arg(&url)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let (p50, p99, n) = latencies(logs.path());
            println!("{name:6} {mode:8} {path:14} p50 {p50:8.3} ms  p99 {p99:8.3} ms  ({n} transactions)");
        }
    }
    for proxy in [&cached, &redis_local, &redis_tier] {
        for row in show_cache(proxy.port) {
            println!(
                "tier {} shape {} hits {} (redis {}) misses {}",
                row["tier"], row["fingerprint"], row["hits"], row["redis_hits"], row["misses"]
            );
        }
    }
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

#[test]
fn with_redis_down_reads_bypass_the_cache_writes_are_refused_and_it_shows() {
    let pg = shared_postgres().expect("sandbox");
    let db = database(pg);
    pg.psql(
        &db,
        &format!("CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t VALUES (1, 1); ALTER TABLE t OWNER TO {USER};"),
    )
    .unwrap();
    // A port nothing listens on: Redis is down from the start.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let redis_port = dead.local_addr().unwrap().port();
    drop(dead);
    let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let http_port = http.local_addr().unwrap().port();
    drop(http);
    let proxy = start_proxy_with(
        pg,
        &db,
        &format!("http_listen = \"127.0.0.1:{http_port}\""),
        &format!(
            "redis = \"redis://127.0.0.1:{redis_port}\"\n[cache.shapes]\n\"{}\" = 60",
            fingerprint("SELECT v FROM t WHERE id = 1")
        ),
    );
    let url = url(proxy.port, &db);
    for _ in 0..3 {
        assert_eq!(psql(&url, "SELECT v FROM t WHERE id = 1").trim(), "1");
    }
    let rows = show_cache(proxy.port);
    let row = shape(&rows, "SELECT v FROM t WHERE id = 1");
    assert_eq!(row["hits"], "0");
    assert!(row["bypasses"].contains("version store"), "{row:?}");
    // The write is not sent: no brisk could learn of it.
    let out = Command::new("psql")
        .args([
            "-X",
            "-At",
            "-d",
            &url,
            "-c",
            "UPDATE t SET v = 2 WHERE id = 1",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot announce this write"));
    assert_eq!(
        pg.psql(&db, "SELECT v FROM t WHERE id = 1").unwrap().trim(),
        "1"
    );
    // Statements that write nothing still go through.
    assert_eq!(psql(&url, "SELECT 40 + 2").trim(), "42");
    let metrics = http_get(http_port, "/metrics");
    assert!(metrics.contains("brisk_cache_store_up 0"), "{metrics}");
    assert!(
        metrics.contains("brisk_cache_write_refusals_total 1"),
        "{metrics}"
    );
    let health = http_get(http_port, "/health/detailed");
    assert!(health.contains("\"store_up\": false"), "{health}");
}

/// The tables of the extended-protocol differential test, the same in both twins.
const ITEMS: &str = "DROP TABLE IF EXISTS items;
    CREATE TABLE items (id int PRIMARY KEY, n bigint NOT NULL, name text, price numeric,
                        at timestamptz, data bytea);
    INSERT INTO items SELECT g, g * 3, 'name ' || g, g + 0.5,
                             '2026-01-01 00:00+00'::timestamptz + g * interval '1 hour',
                             decode(lpad(to_hex(g), 2, '0'), 'hex')
                      FROM generate_series(0, 11) g;";

/// tokio-postgres's side of the differential test: named statements (`query`), the
/// unnamed one (`query_typed`) and a statement prepared once and reused, all with binary
/// results, against brisk and the twin; returns the reads made.
async fn tokio_postgres_differential(brisk: &str, direct: &str, seed: u64, steps: usize) -> u64 {
    use tokio_postgres::types::Type;
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let connect = |url: String| async move {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client
    };
    let through = [
        connect(brisk.to_string()).await,
        connect(brisk.to_string()).await,
    ];
    let direct = connect(direct.to_string()).await;
    let point = "SELECT id, n, name FROM items WHERE id = $1 /* brisk:cache ttl=600 */";
    let kept = through[0].prepare(point).await.unwrap();
    let rows = |rows: Vec<tokio_postgres::Row>| -> Vec<(i32, i64, Option<String>)> {
        rows.iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
    };
    let mut reads = 0;
    for _ in 0..steps {
        let id = rng.below(12) as i32;
        if rng.below(5) == 0 {
            let sql = format!(
                "UPDATE items SET n = n + {}, name = 'w{id}' WHERE id = {id}",
                1 + rng.below(9)
            );
            through[rng.below(2) as usize]
                .batch_execute(&sql)
                .await
                .unwrap();
            direct.batch_execute(&sql).await.unwrap();
            continue;
        }
        let client = &through[rng.below(2) as usize];
        let got = match rng.below(3) {
            0 => client.query(point, &[&id]).await.unwrap(),
            1 => client
                .query_typed(point, &[(&id, Type::INT4)])
                .await
                .unwrap(),
            _ => through[0].query(&kept, &[&id]).await.unwrap(),
        };
        let want = direct.query(point, &[&id]).await.unwrap();
        reads += 1;
        assert_eq!(
            rows(got),
            rows(want),
            "seed {seed}: id {id} through brisk and directly"
        );
    }
    reads
}

#[test]
fn extended_protocol_reads_are_served_and_equal_the_server_s_answers() {
    let pg = shared_postgres().expect("sandbox");
    let through = database(pg);
    let twin = database(pg);
    let proxy = start_proxy(pg, &through, "");
    let brisk_url = url(proxy.port, &through);
    let direct_url = format!(
        "postgres://{USER}:{PASSWORD}@127.0.0.1:{}/{twin}?sslmode=disable",
        pg.port()
    );
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/cache_extended.py"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for seed in [11u64, 12, 13] {
        // The brisk twin is reset through brisk, so its DDL moves the cache's epoch.
        psql(&brisk_url, ITEMS);
        psql(&direct_url, ITEMS);
        let out = Command::new("python3")
            .args([script, &brisk_url, &direct_url, &seed.to_string(), "300"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        println!("{stdout}");
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // node-postgres, unnamed and named statements: the same sequence idea, its own RNG.
        let node = Command::new("node")
            .args([
                concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/tests/clients/cache_extended.js"
                ),
                &brisk_url,
                &direct_url,
                &seed.to_string(),
                "300",
            ])
            .output()
            .expect("node (scripts/setup installs it and node-postgres)");
        let stdout = String::from_utf8_lossy(&node.stdout);
        println!("{stdout}");
        assert!(
            node.status.success() && stdout.contains("0 differences"),
            "{stdout}{}",
            String::from_utf8_lossy(&node.stderr)
        );
        let reads = runtime.block_on(tokio_postgres_differential(
            &brisk_url,
            &direct_url,
            seed,
            300,
        ));
        println!("seed {seed}: tokio-postgres {reads} reads, 0 differences");
    }
    let rows = show_cache(proxy.port);
    // Every read here is extended-protocol: without extended hits these are zero. Writes
    // (one step in five, on the one table) keep most aggregates' entries short-lived; the
    // point read, with few values, is hit most.
    let point = "SELECT id, n, name FROM items WHERE id = $1 /* brisk:cache ttl=600 */";
    let point_hits: u64 = shape(&rows, point)["hits"].parse().unwrap();
    let all_hits: u64 = rows.iter().map(|r| r["hits"].parse::<u64>().unwrap()).sum();
    assert!(point_hits > 20 && all_hits > 100, "{rows:?}");
}

#[test]
fn candidates_rank_uncached_reads_by_time_saved_and_say_why_others_are_refused() {
    let pg = shared_postgres().expect("sandbox");
    let db = database(pg);
    pg.psql(
        &db,
        &format!(
            "CREATE TABLE wide (id int PRIMARY KEY, v int);
             INSERT INTO wide SELECT g, g % 1000 FROM generate_series(1, 50000) g;
             CREATE TABLE churn (id int PRIMARY KEY, v int);
             INSERT INTO churn SELECT g, 0 FROM generate_series(0, 9) g;
             CREATE UNLOGGED TABLE scratch (id int, v int);
             INSERT INTO scratch SELECT g, 0 FROM generate_series(0, 9) g;
             ALTER TABLE wide OWNER TO {USER}; ALTER TABLE churn OWNER TO {USER};
             ALTER TABLE scratch OWNER TO {USER}; ANALYZE;"
        ),
    )
    .unwrap();
    let opted = "SELECT id FROM churn WHERE v = 1";
    let proxy = start_proxy(
        pg,
        &db,
        &format!("[cache.shapes]\n\"{}\" = 60", fingerprint(opted)),
    );
    let url = url(proxy.port, &db);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        for i in 0..40 {
            for sql in [
                // A scan of a table never written: the most time to save.
                format!("SELECT count(*) FROM wide WHERE v > {i}"),
                // A point read of a table written as often as it is read.
                format!("SELECT v FROM churn WHERE id = {}", i % 10),
                format!("UPDATE churn SET v = v + 1 WHERE id = {}", i % 10),
            ] {
                client.simple_query(&sql).await.unwrap();
            }
        }
        for i in 0..10 {
            for sql in [
                format!("SELECT v FROM churn WHERE id = {i} FOR UPDATE"),
                format!("SELECT v FROM scratch WHERE id = {i}"),
                format!("SELECT id FROM churn WHERE v = {i}"),
            ] {
                client.simple_query(&sql).await.unwrap();
            }
        }
    });
    let rows = admin_rows(proxy.port, "SHOW CACHE CANDIDATES");
    // Shapes as the statistics print them, constants as `$n`.
    let find = |text: &str| {
        rows.iter()
            .find(|r| r["query"] == text)
            .unwrap_or_else(|| panic!("no candidate {text} in {rows:?}"))
    };
    let scan = find("SELECT count(*) FROM wide WHERE v > $1");
    let point = find("SELECT v FROM churn WHERE id = $1");
    assert_eq!(rows[0]["query"], scan["query"], "{rows:?}");
    assert_eq!(
        (
            scan["table_writes"].as_str(),
            scan["read_fraction"].as_str()
        ),
        ("0", "1.000")
    );
    assert_eq!(
        (
            point["table_writes"].as_str(),
            point["read_fraction"].as_str()
        ),
        ("40", "0.500")
    );
    assert_eq!(scan["refused"], "");
    let locked = find("SELECT v FROM churn WHERE id = $1 FOR UPDATE");
    assert!(locked["refused"].contains("RowLock"), "{locked:?}");
    assert_eq!(locked["saved_ms"], "");
    let unlogged = find("SELECT v FROM scratch WHERE id = $1");
    assert!(unlogged["refused"].contains("unlogged"), "{unlogged:?}");
    // Absent: the opted-in shape (SHOW CACHE has it) and statements that are not reads.
    assert!(
        rows.iter()
            .all(|r| !r["query"].starts_with("SELECT id FROM churn")
                && !r["query"].starts_with("UPDATE")),
        "{rows:?}"
    );
    // Cacheable first, by time saved; refused after.
    let saved: Vec<Option<f64>> = rows.iter().map(|r| r["saved_ms"].parse().ok()).collect();
    let cacheable = saved.iter().take_while(|s| s.is_some()).count();
    assert!(saved[cacheable..].iter().all(Option::is_none), "{rows:?}");
    assert!(
        saved[..cacheable].windows(2).all(|w| w[0] >= w[1]),
        "{rows:?}"
    );
}

#[test]
fn no_read_is_stale_while_redis_restarts_or_stalls() {
    let seconds = std::env::var("BRISK_CACHE_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    for (seed, fault) in [
        (0x5eed_0011u64, Fault::Restart),
        (0x5eed_0012, Fault::Stall),
    ] {
        let ((reads, hits, writes, _), faults, _) =
            stale_read_run_with(seed, Duration::from_secs(seconds), fault);
        assert!(
            faults >= 3 && reads > 100 && writes > 10,
            "too little to judge"
        );
        // The cache came back between faults: a run that only bypassed would prove little.
        assert!(hits > 0, "never served from the cache under {fault:?}");
    }
}

#[test]
fn a_brisk_killed_between_its_two_bumps_leaves_no_stale_read() {
    let pg = shared_postgres().expect("sandbox");
    let redis = Redis::start().expect("sandbox redis");
    let db = database(pg);
    pg.psql(
        &db,
        &format!(
            "CREATE TABLE counters (id int PRIMARY KEY, v bigint NOT NULL);
             INSERT INTO counters VALUES (0, 0); ALTER TABLE counters OWNER TO {USER};"
        ),
    )
    .unwrap();
    let cache = format!("redis = \"{}\"\nwrite_lease = 2", redis.url());
    let mut killed = start_proxy(pg, &db, &cache);
    let reader = start_proxy(pg, &db, &cache);
    let read = "SELECT v FROM counters WHERE id = 0 /* brisk:cache ttl=600 */";
    let hits = |port| {
        shape(&show_cache(port), read)["hits"]
            .parse::<u64>()
            .unwrap()
    };
    // The reader holds an entry of the old value.
    for _ in 0..3 {
        assert_eq!(psql(&url(reader.port, &db), read).trim(), "0");
    }
    let before = hits(reader.port);
    assert!(before >= 1);
    // The other brisk announces the write (first bump, mark) and relays it; it is killed
    // while the server sleeps, and the implicit transaction commits with nobody to
    // acknowledge it: the second bump never happens.
    let mut writer = Command::new("psql")
        .args([
            "-X",
            "-d",
            &url(killed.port, &db),
            "-c",
            "UPDATE counters SET v = 1 WHERE id = 0; SELECT pg_sleep(1)",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed once the server runs it (so the announcement was made and the write sent).
    let deadline = Instant::now() + Duration::from_secs(20);
    while pg
        .psql(
            &db,
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'UPDATE counters SET v = 1%'",
        )
        .unwrap()
        .trim()
        != "1"
    {
        assert!(Instant::now() < deadline, "the write never reached the server");
        std::thread::sleep(Duration::from_millis(20));
    }
    killed.child.kill().unwrap();
    let _ = writer.wait();
    let deadline = Instant::now() + Duration::from_secs(10);
    while pg
        .psql(&db, "SELECT v FROM counters WHERE id = 0")
        .unwrap()
        .trim()
        != "1"
    {
        assert!(Instant::now() < deadline, "the write never committed");
        std::thread::sleep(Duration::from_millis(50));
    }
    // From the commit on the old entry is never served: the mark makes reads bypass until
    // its lease (2 s) expires, and the first bump already moved the version past the entry.
    let until = Instant::now() + Duration::from_millis(3500);
    let mut reads = 0;
    while Instant::now() < until {
        assert_eq!(psql(&url(reader.port, &db), read).trim(), "1", "stale read");
        reads += 1;
    }
    let rows = show_cache(reader.port);
    let row = shape(&rows, read);
    assert!(row["bypasses"].contains("write in"), "{row:?}");
    // Once the lease expired, the cache served again, the new value.
    assert!(hits(reader.port) > before, "{row:?}");
    println!("{reads} reads after the commit, none stale: {row:?}");
}
