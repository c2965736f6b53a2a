//! `brisk cleanup` against real PostgreSQL and Redis from brisk-sandbox: a dry run changes
//! nothing and says whether an index serves the condition; `--apply` deletes exactly the
//! matching rows in several batches and resumes after a stop; bad input is one line and
//! exit code 2; on Redis, only keys of the pattern without a TTL get one.

mod common;

use brisk_sandbox::Redis;
use common::{brisk, Db};
use serde_json::Value;

/// `messages` with `rows` rows; every third one expired (`expires_at` in the past), the
/// others live for a day. Ids are spread (1, 4, 7, ...) so keys are not just row numbers.
fn messages(db: &Db, rows: u64) {
    db.sql(&format!(
        "CREATE TABLE messages (id bigint PRIMARY KEY, conversation_id int NOT NULL, \
         body text NOT NULL, expires_at timestamptz NOT NULL);
         INSERT INTO messages SELECT 1 + 3 * g, g % 50, 'message ' || g, \
         CASE WHEN g % 3 = 0 THEN now() - interval '1 hour' ELSE now() + interval '1 day' END \
         FROM generate_series(0, {} ) g;
         ANALYZE messages;",
        rows - 1
    ));
}

fn count(db: &Db, condition: &str) -> u64 {
    db.sql(&format!("SELECT count(*) FROM messages WHERE {condition}"))
        .trim()
        .parse()
        .expect("a count")
}

/// A fingerprint of the rows that must stay: their ids and bodies.
fn kept_rows(db: &Db) -> String {
    db.sql("SELECT md5(string_agg(id::text || body, ',' ORDER BY id)) FROM messages WHERE expires_at >= now()")
}

/// `brisk cleanup URL ... --format json`, which must succeed.
fn cleanup(url: &str, extra: &[&str]) -> Value {
    let mut args = vec!["cleanup", url, "--format", "json"];
    args.extend_from_slice(extra);
    let output = brisk(&args);
    assert!(
        output.status.success(),
        "brisk cleanup failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("brisk cleanup prints JSON")
}

const EXPIRED: &str = "expires_at < now()";

#[test]
fn a_dry_run_counts_explains_and_advises_the_missing_index() {
    let db = Db::fresh("cleanup_dry");
    messages(&db, 3_000);
    let before = count(&db, "true");
    let report = cleanup(&db.url(), &["--table", "messages", "--where", EXPIRED]);
    assert_eq!(count(&db, "true"), before, "a dry run deletes nothing");
    let plan = &report["plan"];
    assert_eq!(plan["matching_rows"], 1_000);
    assert_eq!(plan["matching_rows_estimated"], false);
    assert_eq!(plan["table"], "public.messages");
    assert_eq!(plan["primary_key"], serde_json::json!(["id"]));
    assert_eq!(plan["index"]["kind"], "create");
    assert_eq!(
        plan["index"]["sql"],
        "CREATE INDEX CONCURRENTLY ON public.messages (expires_at);"
    );
    assert!(plan["batch_plan"].as_array().unwrap().len() > 2);
    assert!(report.get("outcome").is_none());

    // An equality and a range: the equality leads.
    let report = cleanup(
        &db.url(),
        &[
            "--table",
            "messages",
            "--where",
            "conversation_id = 7 AND expires_at < now()",
        ],
    );
    assert_eq!(
        report["plan"]["index"]["sql"],
        "CREATE INDEX CONCURRENTLY ON public.messages (conversation_id, expires_at);"
    );

    // Text output says the same for people.
    let output = brisk(&[
        "cleanup",
        &db.url(),
        "--table",
        "messages",
        "--where",
        EXPIRED,
    ]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("1,000 rows match expires_at < now()"),
        "{text}"
    );
    assert!(
        text.contains("CREATE INDEX CONCURRENTLY ON public.messages (expires_at);"),
        "{text}"
    );
    assert!(text.contains("Dry run: nothing was deleted"), "{text}");
}

#[test]
fn a_dry_run_is_silent_about_indexes_when_one_serves() {
    let db = Db::fresh("cleanup_served");
    messages(&db, 3_000);
    db.sql("CREATE INDEX messages_expires_at_idx ON messages (expires_at);");
    let report = cleanup(&db.url(), &["--table", "messages", "--where", EXPIRED]);
    assert_eq!(report["plan"]["index"]["kind"], "served");
    assert_eq!(report["plan"]["index"]["index"], "messages_expires_at_idx");
    let output = brisk(&[
        "cleanup",
        &db.url(),
        "--table",
        "messages",
        "--where",
        EXPIRED,
    ]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(!text.contains("CREATE INDEX"), "{text}");
}

#[test]
fn apply_deletes_exactly_the_matching_rows_in_batches() {
    let db = Db::fresh("cleanup_apply");
    messages(&db, 6_000);
    let kept = kept_rows(&db);
    let report = cleanup(
        &db.url(),
        &[
            "--table", "messages", "--where", EXPIRED, "--apply", "--batch", "300", "--pause",
            "1ms",
        ],
    );
    let outcome = &report["outcome"];
    assert_eq!(outcome["deleted"], 2_000);
    assert_eq!(outcome["stop"], "done");
    assert!(outcome["batches"].as_u64().unwrap() >= 3, "{outcome}");
    assert_eq!(count(&db, EXPIRED), 0);
    assert_eq!(count(&db, "true"), 4_000);
    assert_eq!(
        kept_rows(&db),
        kept,
        "the rows that did not match are untouched"
    );
    assert!(
        outcome["vacuum"]["dead_rows"].as_i64().unwrap() >= 2_000,
        "{outcome}"
    );
    // 50 + 0.2 * 6,000 (reltuples at the ANALYZE): 1,250 dead rows.
    assert_eq!(outcome["vacuum"]["autovacuum_threshold"], 1_250.0);
    assert_eq!(outcome["vacuum"]["vacuum_due"], true);
}

#[test]
fn a_composite_key_and_an_interrupted_run_resume_where_they_left_off() {
    let db = Db::fresh("cleanup_resume");
    db.sql(
        "CREATE TABLE events (tenant int, id uuid, at timestamptz NOT NULL, PRIMARY KEY (tenant, id));
         INSERT INTO events SELECT g % 7, md5(g::text)::uuid, now() - (g % 4) * interval '1 day'
         FROM generate_series(1, 4000) g;",
    );
    let old = "SELECT count(*) FROM events WHERE at < now() - interval '36 hours'";
    let matching: u64 = db.sql(old).trim().parse().unwrap();
    assert_eq!(matching, 2_000);
    let args = [
        "--table",
        "events",
        "--where",
        "at < now() - interval '36 hours'",
        "--apply",
        "--batch",
        "100",
        "--pause",
        "1ms",
        "--max-duration",
        "1ms",
    ];
    let left = || -> u64 { db.sql(old).trim().parse().unwrap() };
    // Stopped after its first batch: 100 keys, about half of them matching.
    let first = cleanup(&db.url(), &args);
    assert_eq!(first["outcome"]["stop"], "max_duration");
    assert_eq!(first["outcome"]["batches"], 1);
    let deleted = first["outcome"]["deleted"].as_u64().unwrap();
    assert!((20..=80).contains(&deleted), "{deleted}");
    assert_eq!(left(), 2_000 - deleted);
    // Running it again goes on; without the limit it finishes.
    let second = cleanup(&db.url(), &args);
    let deleted = deleted + second["outcome"]["deleted"].as_u64().unwrap();
    assert_eq!(left(), 2_000 - deleted);
    let last = cleanup(&db.url(), &args[..args.len() - 2]);
    assert_eq!(last["outcome"]["stop"], "done");
    assert_eq!(
        last["outcome"]["deleted"].as_u64().unwrap(),
        2_000 - deleted
    );
    assert_eq!(db.sql(old).trim(), "0");
    assert_eq!(db.sql("SELECT count(*) FROM events").trim(), "2000");
}

/// `brisk cleanup --apply` of the expired messages in `db`, running, with `extra` flags and
/// JSON output.
fn start_cleanup(db: &Db, extra: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_brisk"))
        .args([
            "cleanup",
            &db.url(),
            "--table",
            "messages",
            "--where",
            EXPIRED,
        ])
        .args(["--apply", "--format", "json"])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("brisk runs")
}

#[test]
fn ctrl_c_stops_after_the_batch_under_way_and_a_new_run_finishes() {
    let db = Db::fresh("cleanup_ctrl_c");
    messages(&db, 30_000);
    let kept = kept_rows(&db);
    // Small, slow batches: 10,000 rows in batches of 10 to 15 rows, 20 ms apart.
    let child = start_cleanup(
        &db,
        &["--batch", "10", "--batch-target", "1ms", "--pause", "20ms"],
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while count(&db, EXPIRED) == 10_000 {
        assert!(std::time::Instant::now() < deadline, "no batch ran");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let output = child.wait_with_output().expect("brisk ends");
    assert_eq!(
        output.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON after Ctrl-C");
    assert_eq!(report["outcome"]["stop"], "interrupted");
    let deleted = report["outcome"]["deleted"].as_u64().unwrap();
    // Every batch that ran was committed whole, and is counted.
    assert_eq!(count(&db, EXPIRED), 10_000 - deleted);
    assert!(deleted > 0 && deleted < 10_000, "{deleted}");

    let rest = cleanup(
        &db.url(),
        &[
            "--table", "messages", "--where", EXPIRED, "--apply", "--pause", "1ms",
        ],
    );
    assert_eq!(
        rest["outcome"]["deleted"].as_u64().unwrap(),
        10_000 - deleted
    );
    assert_eq!(count(&db, EXPIRED), 0);
    assert_eq!(kept_rows(&db), kept);
}

/// Exit code 2, one line on stderr containing `needle`, nothing on stdout.
fn assert_bad_input(args: &[&str], needle: &str) {
    let output = brisk(args);
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
    assert!(!stderr.contains("panicked"));
    assert!(output.stdout.is_empty(), "{args:?}");
}

#[test]
fn bad_input_is_one_line_and_changes_nothing() {
    let db = Db::fresh("cleanup_bad");
    messages(&db, 300);
    db.sql("CREATE TABLE logbook (at timestamptz, line text); INSERT INTO logbook VALUES (now() - interval '2 days', 'x');");
    let url = db.url();
    for condition in [
        "1=1; drop table messages",
        "true) OR (true",
        "expires_at < now() UNION SELECT 1",
        "expires_at < now() LIMIT 1",
        "",
    ] {
        for apply in [false, true] {
            let mut args = vec!["cleanup", &url, "--table", "messages", "--where", condition];
            if apply {
                args.push("--apply");
            }
            assert_bad_input(&args, "--where must be one condition");
        }
    }
    assert_bad_input(
        &[
            "cleanup",
            &url,
            "--table",
            "messages",
            "--where",
            "expired_at < now()",
            "--apply",
        ],
        "--where does not apply to public.messages: column \"expired_at\" does not exist",
    );
    assert_bad_input(
        &[
            "cleanup",
            &url,
            "--table",
            "logbook",
            "--where",
            "at < now()",
            "--apply",
        ],
        "public.logbook has no primary key",
    );
    assert_bad_input(
        &[
            "cleanup",
            &url,
            "--table",
            "nosuch",
            "--where",
            "at < now()",
        ],
        "table nosuch does not exist",
    );
    assert_bad_input(
        &["cleanup", &url, "--where", "true"],
        "name the rows to delete",
    );
    // clap's own error: exit code 2, with its usage lines.
    let output = brisk(&[
        "cleanup",
        &url,
        "--table",
        "messages",
        "--where",
        "true",
        "--batch-target",
        "soon",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("\"soon\" is not a duration"));
    assert_eq!(count(&db, "true"), 300);
    assert_eq!(db.sql("SELECT count(*) FROM logbook").trim(), "1");
}

fn redis_cli(redis: &Redis, args: &[&str]) -> String {
    redis
        .cli(args)
        .unwrap_or_else(|e| panic!("redis-cli {args:?}: {e}"))
}

#[test]
fn redis_keys_without_a_ttl_get_one_and_nothing_else_changes() {
    let redis = Redis::start().expect("redis starts");
    redis_cli(
        &redis,
        &[
            "EVAL",
            "for i = 1, 300 do
               redis.call('SET', 'chat:conv:' .. string.format('%x', i * 7919) .. ':history', 'x')
             end
             for i = 1, 100 do
               redis.call('SET', 'chat:conv:' .. string.format('%x', i * 104729) .. ':meta', 'y', 'EX', 600)
             end
             for i = 1, 50 do redis.call('SET', 'session:' .. i, 'z') end",
            "0",
        ],
    );
    let url = redis.url();
    let dry = cleanup(&url, &["--pattern", "chat:conv:*", "--set-ttl", "7d"]);
    assert_eq!(dry["matched"], 400);
    assert_eq!(dry["without_ttl"], 300);
    assert_eq!(dry["expires_set"], 0);
    let patterns: Vec<(&str, u64)> = dry["patterns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["pattern"].as_str().unwrap(),
                p["without_ttl"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        patterns.contains(&("chat:conv:*:history", 300)),
        "{patterns:?}"
    );
    assert!(patterns.contains(&("chat:conv:*:meta", 0)), "{patterns:?}");
    assert_eq!(
        redis_cli(&redis, &["TTL", "chat:conv:1eef:history"]).trim(),
        "-1",
        "a dry run sets nothing"
    );

    let applied = cleanup(
        &url,
        &["--pattern", "chat:conv:*", "--set-ttl", "7d", "--apply"],
    );
    assert_eq!(applied["expires_set"], 300);
    let history_ttl: i64 = redis_cli(&redis, &["TTL", "chat:conv:1eef:history"])
        .trim()
        .parse()
        .unwrap();
    assert!((604_000..=604_800).contains(&history_ttl), "{history_ttl}");
    let meta_ttl: i64 = redis_cli(&redis, &["TTL", &format!("chat:conv:{:x}:meta", 104_729)])
        .trim()
        .parse()
        .unwrap();
    assert!(meta_ttl <= 600, "a key with a TTL keeps it: {meta_ttl}");
    assert_eq!(
        redis_cli(&redis, &["TTL", "session:1"]).trim(),
        "-1",
        "keys outside the pattern are untouched"
    );
    // A second run finds nothing left to do.
    let again = cleanup(
        &url,
        &["--pattern", "chat:conv:*", "--set-ttl", "7d", "--apply"],
    );
    assert_eq!(
        (again["without_ttl"].as_u64(), again["expires_set"].as_u64()),
        (Some(0), Some(0))
    );
    assert_bad_input(
        &["cleanup", &url, "--pattern", "x:*"],
        "name the keys and their TTL",
    );
    assert_bad_input(
        &["cleanup", &url, "--table", "t", "--where", "true"],
        "--table and --where are for PostgreSQL",
    );
}

/// A brisk proxy in front of `db`, logged in to the server as the sandbox's superuser, with
/// an admin console (`admin` / `admin-secret`).
fn proxy_for(db: &Db) -> common::ProxyProcess {
    let (user, password, pg_port, name) = (
        db.pg.superuser(),
        db.pg.password().to_string(),
        db.pg.port(),
        db.name.clone(),
    );
    common::ProxyProcess::start(
        |port| {
            format!(
                "listen_port = {port}\nadmin_users = [\"admin\"]\n\
                 [databases]\n{name} = \"postgres://127.0.0.1:{pg_port}/{name}?sslmode=disable\"\n\
                 [users]\n{user} = \"{password}\"\nadmin = \"admin-secret\"\n"
            )
        },
        "warn",
        std::process::Stdio::null(),
    )
}

/// The application: one connection through the proxy running a short query in a loop,
/// 50 ms long while `app_flag.slow` is true, until `stop`.
fn app_load(
    url: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            let mut queries = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                client
                    .simple_query(
                        "SELECT pg_sleep(CASE WHEN slow THEN 0.05 ELSE 0.002 END) FROM app_flag",
                    )
                    .await
                    .unwrap();
                queries += 1;
            }
            queries
        })
    })
}

/// Runs `brisk cleanup --apply` watching the application through the proxy's console; with
/// `slow_down`, the application turns 25× slower while the cleanup runs, once its baseline
/// is read, and recovers 3 s later. Returns the outcome.
fn cleanup_watching_the_app(prefix: &str, slow_down: bool) -> Value {
    let db = Db::fresh(prefix);
    messages(&db, 30_000);
    db.sql("CREATE TABLE app_flag (slow boolean NOT NULL); INSERT INTO app_flag VALUES (false);");
    let proxy = proxy_for(&db);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let app_url = format!(
        "postgres://{}:{}@127.0.0.1:{}/{}?sslmode=disable",
        db.pg.superuser(),
        db.pg.password(),
        proxy.port,
        db.name
    );
    let load = app_load(app_url, stop.clone());
    let admin = format!(
        "postgres://admin:admin-secret@127.0.0.1:{}/brisk?sslmode=disable",
        proxy.port
    );
    // Small batches and long pauses: a dozen batches over several seconds.
    let child = start_cleanup(
        &db,
        &[
            "--batch",
            "100",
            "--batch-target",
            "20ms",
            "--pause",
            "500ms",
            "--proxy-admin",
            &admin,
            "--proxy-database",
            &db.name,
        ],
    );
    if slow_down {
        // The baseline takes the first 2 s.
        std::thread::sleep(std::time::Duration::from_millis(3000));
        db.sql("UPDATE app_flag SET slow = true");
        std::thread::sleep(std::time::Duration::from_millis(3000));
        db.sql("UPDATE app_flag SET slow = false");
    }
    let output = child.wait_with_output().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let queries = load.join().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(queries > 100, "the application ran {queries} queries");
    assert_eq!(count(&db, EXPIRED), 0);
    assert_eq!(count(&db, "true"), 20_000);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    report["outcome"].clone()
}

#[test]
fn a_slower_application_behind_the_proxy_holds_the_batches_back() {
    let outcome = cleanup_watching_the_app("cleanup_app_slow", true);
    let baseline = outcome["app_baseline_ms"].as_f64().expect("a baseline");
    assert!(baseline < 20.0, "{outcome}");
    assert!(
        outcome["app_slowest_ms"].as_f64().unwrap() > 20.0,
        "{outcome}"
    );
    assert!(
        outcome["app_wait_secs"].as_f64().unwrap() >= 1.0,
        "brisk waited while the application was slow: {outcome}"
    );
}

#[test]
fn an_application_at_its_usual_speed_never_holds_the_batches_back() {
    let outcome = cleanup_watching_the_app("cleanup_app_steady", false);
    assert!(outcome["app_baseline_ms"].as_f64().is_some(), "{outcome}");
    assert_eq!(outcome["app_wait_secs"], 0.0, "{outcome}");
}
