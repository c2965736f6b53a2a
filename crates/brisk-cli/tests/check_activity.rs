//! `brisk check` on live activity: sessions, locks, the cache and pg_stat_statements.
//!
//! Activity is cluster-wide, so tests that look at sessions start a cluster of their own
//! instead of sharing one with tests that might leave sessions behind.

mod common;

use std::sync::OnceLock;

use brisk_sandbox::Postgres;
use common::{assert_silent, check, evidence, finding, findings, ran, Db};

/// A cluster only for the session tests of this file, started once.
fn quiet_cluster() -> &'static Postgres {
    static CLUSTER: OnceLock<&'static Postgres> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        Postgres::builder()
            .setting("max_prepared_transactions", "5")
            .start_for_process()
            .expect("sandbox starts")
    })
}

#[test]
fn idle_in_transaction_session_is_found_with_its_last_query() {
    let db = Db::on(quiet_cluster(), "idle");
    db.sql("CREATE TABLE accounts (id int PRIMARY KEY, balance int);");
    let _held = db.hold_session(
        "idle-app",
        "BEGIN; UPDATE accounts SET balance = 100 WHERE id = 42;",
    );
    db.wait_for_session("idle-app", "state = 'idle in transaction'");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let report = check(&db.url(), &["--idle-in-transaction-secs", "1"]);
    let idle = findings(&report, "connections.idle_in_transaction");
    let idle = idle
        .iter()
        .find(|f| f["subject"].as_str().unwrap().contains("idle-app"))
        .expect("the idle session is reported");
    assert!(evidence(idle, "idle for") >= 1.0);
    // Values never reach the report: the query is normalized.
    assert_eq!(
        idle["query"],
        "UPDATE accounts SET balance = $1 WHERE id = $2;"
    );
    assert!(idle["fix"]["apply"]
        .as_str()
        .unwrap()
        .starts_with("SELECT pg_terminate_backend("));

    // With the default threshold of 60 s, one second idle is fine.
    let report = check(&db.url(), &[]);
    assert!(findings(&report, "connections.idle_in_transaction").is_empty());
}

#[test]
fn long_running_query_is_found() {
    let db = Db::on(quiet_cluster(), "long");
    let _held = db.hold_session("slow-report", "SELECT pg_sleep(60);");
    db.wait_for_session(
        "slow-report",
        "state = 'active' AND query LIKE '%pg_sleep%'",
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let report = check(&db.url(), &["--long-query-secs", "1"]);
    let long = findings(&report, "connections.long_running");
    let long = long
        .iter()
        .find(|f| f["subject"].as_str().unwrap().contains("slow-report"))
        .expect("the long query is reported");
    assert_eq!(long["query"], "SELECT pg_sleep($1);");
    assert!(evidence(long, "running for") >= 1.0);

    let report = check(&db.url(), &[]);
    assert!(findings(&report, "connections.long_running").is_empty());
}

#[test]
fn session_blocked_on_a_lock_is_found_with_its_blocker() {
    let db = Db::on(quiet_cluster(), "blocked");
    db.sql("CREATE TABLE jobs (id int PRIMARY KEY); INSERT INTO jobs VALUES (1);");
    let _blocker = db.hold_session(
        "migration",
        "BEGIN; LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE;",
    );
    db.wait_for_session("migration", "state = 'idle in transaction'");
    let _waiter = db.hold_session("worker", "SELECT * FROM jobs;");
    db.wait_for_session("worker", "wait_event_type = 'Lock'");
    let blocker_pid = db
        .sql("SELECT pid FROM pg_stat_activity WHERE application_name = 'migration';")
        .trim()
        .to_string();

    let report = check(&db.url(), &["--lock-wait-secs", "0"]);
    let blocked = findings(&report, "connections.blocked");
    let blocked = blocked
        .iter()
        .find(|f| f["subject"].as_str().unwrap().contains("worker"))
        .expect("the waiting session is reported");
    let title = blocked["title"].as_str().unwrap();
    assert!(title.contains(&format!("pid {blocker_pid}")), "{title}");
    assert!(blocked["detail"].as_str().unwrap().contains("migration"));
    assert_eq!(blocked["query"], "SELECT * FROM jobs;");
}

#[test]
fn a_lock_held_by_a_prepared_transaction_is_named_as_such() {
    let db = Db::on(quiet_cluster(), "prepared");
    db.sql("CREATE TABLE ledger (id int PRIMARY KEY); INSERT INTO ledger VALUES (1);");
    db.sql(
        "BEGIN; LOCK TABLE ledger IN ACCESS EXCLUSIVE MODE; PREPARE TRANSACTION 'brisk_test_tx';",
    );
    let _waiter = db.hold_session("ledger-reader", "SELECT * FROM ledger;");
    db.wait_for_session("ledger-reader", "wait_event_type = 'Lock'");
    let report = check(&db.url(), &["--lock-wait-secs", "0"]);
    let blocked = findings(&report, "connections.blocked");
    let blocked = blocked
        .iter()
        .find(|f| f["subject"].as_str().unwrap().contains("ledger-reader"))
        .expect("the waiting session is reported");
    assert!(blocked["title"]
        .as_str()
        .unwrap()
        .contains("a prepared transaction"));
    assert_eq!(blocked["fix"]["kind"], "manual");
    assert!(blocked["fix"]["apply"]
        .as_str()
        .unwrap()
        .contains("ROLLBACK PREPARED"));
    db.sql("ROLLBACK PREPARED 'brisk_test_tx';");
}

#[test]
fn connection_use_near_max_connections_is_found() {
    // max_connections = 20 with 3 reserved for superusers leaves 17; the check's own
    // connection and 13 idle ones make 14 (82%).
    let pg = Postgres::builder()
        .setting("max_connections", "20")
        .start_for_process()
        .expect("sandbox starts");
    let db = Db::on(pg, "usage");
    let report = check(&db.url(), &[]);
    assert!(findings(&report, "connections.usage").is_empty());

    let _idle: Vec<_> = (0..13)
        .map(|i| db.hold_session(&format!("pool-{i}"), "SELECT 1;"))
        .collect();
    db.wait_for_session("pool-12", "state = 'idle'");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while db
        .sql("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'pool-%';")
        .trim()
        != "13"
    {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let report = check(&db.url(), &[]);
    let usage = finding(&report, "connections.usage", "server");
    assert_eq!(usage["severity"], "warning");
    assert_eq!(evidence(usage, "usable connections"), 17.0);
    assert!(evidence(usage, "connections") >= 14.0);
    assert!(evidence(usage, "idle") >= 13.0);
    pg.shutdown();
}

#[test]
fn sequential_scans_of_a_big_table_show_a_low_cache_hit_ratio() {
    let db = Db::fresh("cache");
    // Bigger than the sandbox's 32 MB of shared_buffers: the load leaves only its last
    // 16 MB bulk-write ring cached, and each scan goes through a 256 kB ring and misses.
    db.sql(
        "CREATE TABLE events (id bigint, payload text);
         INSERT INTO events SELECT g, repeat('x', 200) FROM generate_series(1, 160000) g;",
    );
    // The load itself counts about one buffer hit per row; ten scans outweigh it.
    db.sql(&format!(
        "SET max_parallel_workers_per_gather = 0;\n{}",
        "SELECT count(*) FROM events;\n".repeat(10)
    ));
    let report = check(&db.url(), &[]);
    let table = finding(&report, "cache.hit_ratio", "public.events");
    assert!(evidence(table, "heap hit ratio") < 95.0);
    assert_eq!(evidence(table, "sequential scans"), 10.0);
}

#[test]
fn a_small_hot_table_has_a_good_cache_hit_ratio() {
    let db = Db::fresh("cache_ok");
    db.sql(
        "CREATE TABLE settings (id int PRIMARY KEY, value text);
         INSERT INTO settings SELECT g, 'v' FROM generate_series(1, 1000) g;",
    );
    db.sql(&"SELECT count(*) FROM settings;\n".repeat(300));
    let report = check(&db.url(), &[]);
    assert_silent(&report, "cache.hit_ratio", "public.settings");
    assert!(findings(&report, "cache.hit_ratio")
        .iter()
        .all(|f| !f["subject"].as_str().unwrap().starts_with("database ")));
}

#[test]
fn slow_statements_are_ranked_from_pg_stat_statements() {
    let db = Db::fresh("top");
    db.sql(
        "CREATE TABLE t (id int);
         SELECT pg_sleep(0.15);
         SELECT pg_sleep(0.16);
         SELECT count(*) FROM t WHERE id = 1;",
    );
    let report = check(&db.url(), &[]);
    let top = findings(&report, "queries.top");
    let sleep = top
        .iter()
        .find(|f| f["query"] == "SELECT pg_sleep($1)")
        .unwrap_or_else(|| panic!("pg_sleep is ranked: {top:#?}"));
    assert_eq!(
        sleep["severity"], "warning",
        "150 ms a call is over the 100 ms default"
    );
    assert_eq!(evidence(sleep, "calls"), 2.0);
    assert!(evidence(sleep, "mean time") >= 150.0);
    let title = sleep["title"].as_str().unwrap();
    assert!(title.contains("#1 by total time"), "{title}");
    assert!(
        title.starts_with("SELECT: "),
        "says what the query is: {title}"
    );
    // brisk's own catalog queries never show up.
    assert!(top
        .iter()
        .all(|f| !f["query"].as_str().unwrap().contains("brisk")));
}

#[test]
fn a_quiet_database_has_no_top_statements() {
    let db = Db::fresh("quiet");
    db.sql("CREATE TABLE t (id int); SELECT count(*) FROM t;");
    let report = check(&db.url(), &[]);
    assert!(ran(&report, "queries.top"));
    assert!(
        findings(&report, "queries.top").is_empty(),
        "{:#?}",
        findings(&report, "queries.top")
    );
}

#[test]
fn missing_pg_stat_statements_extension_says_how_to_create_it() {
    let db = Db::fresh("no_pss");
    db.sql("DROP EXTENSION pg_stat_statements;");
    let report = check(&db.url(), &[]);
    let missing = finding(&report, "queries.top", "pg_stat_statements");
    assert_eq!(
        missing["fix"]["apply"],
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;"
    );
    assert_eq!(findings(&report, "queries.top").len(), 1);
}

#[test]
fn pg_stat_statements_not_preloaded_says_how_to_preload_it() {
    let pg = Postgres::builder()
        .preload_pg_stat_statements(false)
        .setting("shared_preload_libraries", "auto_explain")
        .start()
        .expect("sandbox starts");
    let db = pg.fresh_database("no_preload").unwrap();
    let report = check(&pg.url(&db), &[]);
    let missing = finding(&report, "queries.top", "pg_stat_statements");
    let fix = missing["fix"]["apply"].as_str().unwrap();
    // The existing preload list is kept, not replaced.
    assert!(
        fix.contains(
            "ALTER SYSTEM SET shared_preload_libraries = 'auto_explain, pg_stat_statements';"
        ),
        "{fix}"
    );
    assert!(fix.contains("CREATE EXTENSION IF NOT EXISTS pg_stat_statements;"));
}
