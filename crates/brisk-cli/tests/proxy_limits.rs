//! `brisk proxy`'s rate limits and connection caps, with real clients: a client offered at
//! three times a rule's rate gets the rule's rate and no transaction cut in half, over the
//! simple and the extended protocol; refusals are SQLSTATE 53400 naming the rule; caps are
//! FATAL 53300; `max_wait` delays instead of refusing; shared rules hold one rate across two
//! instances through Redis, and fall back to per-instance buckets when Redis is gone.

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use brisk_sandbox::{Postgres, Redis};

mod common;

use common::TrustProxy;

/// A trusted proxy with 4 servers per pool.
fn start(pg: &Postgres, extra: &str) -> TrustProxy {
    TrustProxy::start(pg, &format!("default_pool_size = 4\n{extra}"))
}

/// `SHOW LIMITS`, one map per rule, by rule name.
fn limits(proxy: &TrustProxy) -> HashMap<String, HashMap<String, String>> {
    proxy
        .console("SHOW LIMITS")
        .into_iter()
        .map(|row| (row["name"].clone(), row))
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    common::runtime(2)
}

/// The server's message of an error, with its code: tokio-postgres prints only "db error".
fn message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!(
            "{}: {} ({})",
            db.code().code(),
            db.message(),
            db.detail().unwrap_or("")
        ),
        None => e.to_string(),
    }
}

async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

fn counters(pg: &Postgres) {
    pg.psql(
        "postgres",
        "DROP TABLE IF EXISTS counters; CREATE TABLE counters (id int PRIMARY KEY, n bigint NOT NULL);
         INSERT INTO counters VALUES (1, 0), (2, 0);",
    )
    .unwrap();
}

fn counter(pg: &Postgres, id: i32) -> i64 {
    pg.psql(
        "postgres",
        &format!("SELECT n FROM counters WHERE id = {id}"),
    )
    .unwrap()
    .trim()
    .parse()
    .unwrap()
}

/// What one paced client saw.
#[derive(Default, Debug)]
struct Outcome {
    committed: u64,
    refused: u64,
    /// Errors other than a refusal at the transaction's first statement.
    other: Vec<String>,
    elapsed: Duration,
}

/// Offers transactions at `rate` per second for `seconds`: BEGIN and COMMIT as simple
/// queries, two counter updates in between over the extended protocol. A refusal may only
/// come at BEGIN.
/// How a client spaces its offers.
#[derive(Clone, Copy)]
enum Arrivals {
    Even,
    /// Exponential gaps from this seed. Two clients offering at the same even period into one
    /// shared bucket lock their phases, and one can take nearly every slot (6 against 118
    /// once, on a loaded machine): random arrivals, as real traffic has, share it.
    Poisson(u64),
}

async fn offer_transactions(
    url: String,
    rate: f64,
    seconds: f64,
    mut arrivals: Arrivals,
) -> Outcome {
    let client = connect(&url).await.unwrap();
    let first = client
        .prepare("UPDATE counters SET n = n + 1 WHERE id = 1")
        .await
        .unwrap();
    let second = client
        .prepare("UPDATE counters SET n = n + 1 WHERE id = 2")
        .await
        .unwrap();
    let mut outcome = Outcome::default();
    let interval = Duration::from_secs_f64(1.0 / rate);
    let started = Instant::now();
    let mut next = started;
    while started.elapsed() < Duration::from_secs_f64(seconds) {
        tokio::time::sleep_until(next.into()).await;
        next += match arrivals {
            Arrivals::Even => interval,
            Arrivals::Poisson(ref mut state) => {
                // xorshift64: a fixed sequence per seed.
                *state ^= *state << 13;
                *state ^= *state >> 7;
                *state ^= *state << 17;
                let uniform = (*state >> 11) as f64 / (1u64 << 53) as f64;
                Duration::from_secs_f64(-(1.0 - uniform).ln() / rate)
            }
        };
        match client.batch_execute("BEGIN").await {
            Ok(()) => {}
            Err(e) => {
                let refused = e.code().map(|c| c.code()) == Some("53400")
                    && message(&e).contains("rate limit \"per-app\" exceeded");
                if refused {
                    outcome.refused += 1;
                } else {
                    outcome.other.push(message(&e));
                }
                continue;
            }
        }
        let body = async {
            client.execute(&first, &[]).await?;
            client.execute(&second, &[]).await?;
            client.batch_execute("COMMIT").await
        };
        match body.await {
            Ok(()) => outcome.committed += 1,
            Err(e) => outcome
                .other
                .push(format!("inside a transaction: {}", message(&e))),
        }
    }
    outcome.elapsed = started.elapsed();
    outcome
}

/// The tests that measure rates run one at a time: each starts a PostgreSQL, and the
/// others' load would stall the paced clients.
static TIMED: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn timed() -> std::sync::MutexGuard<'static, ()> {
    TIMED.lock().unwrap_or_else(|p| p.into_inner())
}

/// GCRA allows `rate` a second over a run, plus the burst at its start.
fn expected_allowed(rate: f64, burst: f64, elapsed: Duration) -> f64 {
    rate * elapsed.as_secs_f64() + burst
}

#[test]
fn a_client_at_three_times_the_limit_gets_the_rules_rate_and_no_transaction_is_cut() {
    let _timed = timed();
    let pg = Postgres::start().unwrap();
    counters(&pg);
    let proxy = start(
        &pg,
        "[[rate_limits]]\nname = \"per-app\"\nuser = \"app\"\nrate = 50\nburst = 5\n",
    );
    let rt = runtime();
    let outcome = rt.block_on(offer_transactions(
        proxy.url("app"),
        150.0,
        4.0,
        Arrivals::Even,
    ));
    assert!(outcome.other.is_empty(), "{:?}", outcome.other);
    let expected = expected_allowed(50.0, 5.0, outcome.elapsed);
    let allowed = outcome.committed as f64;
    // Never more than the rule (one more for the count being whole).
    assert!(
        allowed <= expected + 1.0,
        "allowed {allowed}, expected {expected:.1} ({outcome:?})"
    );
    // Fewer only by the slots that passed while the client or the proxy stalled past the
    // burst's tolerance, which a busy CI machine does; when the client could not even offer
    // twice the rate, the run says nothing about the lower bound. The 2% figure is measured
    // by scripts/bench-limits.
    let offered = (outcome.committed + outcome.refused) as f64 / outcome.elapsed.as_secs_f64();
    if offered >= 100.0 {
        assert!(
            allowed >= 0.9 * expected,
            "allowed {allowed}, expected {expected:.1} ({outcome:?})"
        );
    } else {
        eprintln!("the client offered only {offered:.0}/s: the lower bound is not checked");
    }
    assert!(outcome.refused > 0, "{outcome:?}");
    // Every committed transaction ran whole; no refused one left anything behind.
    assert_eq!(counter(&pg, 1), outcome.committed as i64);
    assert_eq!(counter(&pg, 2), outcome.committed as i64);
    let rule = &limits(&proxy)["per-app"];
    assert_eq!(rule["allowed"], outcome.committed.to_string());
    assert_eq!(rule["refused"], outcome.refused.to_string());
    assert_eq!(rule["matches"], "user=app");

    // Another user is not charged to the rule.
    let other = rt.block_on(offer_transactions(
        proxy.url("batch"),
        150.0,
        1.0,
        Arrivals::Even,
    ));
    assert_eq!(other.refused, 0, "{other:?}");
}

#[test]
fn autocommit_statements_are_each_charged_and_prepares_are_not() {
    let pg = Postgres::start().unwrap();
    let proxy = start(
        &pg,
        "[[rate_limits]]\nname = \"per-user\"\nper = \"user\"\nrate = 20\nburst = 10\n",
    );
    let rt = runtime();
    rt.block_on(async {
        let ada = connect(&proxy.url("ada")).await.unwrap();
        let grace = connect(&proxy.url("grace")).await.unwrap();
        // Prepared once: its Parse/Describe/Sync is no work and costs nothing.
        let statement = ada.prepare("SELECT $1::int + 1").await.unwrap();
        let mut ok = 0;
        let mut refused = 0;
        for i in 0..30 {
            match ada.query_one(&statement, &[&i]).await {
                Ok(row) => {
                    assert_eq!(row.get::<_, i32>(0), i + 1);
                    ok += 1;
                }
                Err(e) => {
                    let text = message(&e);
                    assert!(text.starts_with("53400: rate limit \"per-user\""), "{text}");
                    assert!(text.contains("Retry after"), "{text}");
                    refused += 1;
                }
            }
        }
        // The burst of ten at once, and at most one more from the time the loop took.
        assert!((10..=12).contains(&ok), "ok {ok}, refused {refused}");
        // Grace has her own bucket.
        for _ in 0..10 {
            grace.simple_query("SELECT 1").await.unwrap();
        }
        // A refused statement leaves the connection usable, with its prepared statement.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let row = ada.query_one(&statement, &[&41]).await.unwrap();
        assert_eq!(row.get::<_, i32>(0), 42);
    });
    let rule = &limits(&proxy)["per-user"];
    assert_eq!(rule["buckets"], "2", "{rule:?}");
}

#[test]
fn max_wait_delays_transactions_instead_of_refusing_them() {
    let _timed = timed();
    let pg = Postgres::start().unwrap();
    let proxy = start(
        &pg,
        "[[rate_limits]]\nname = \"smooth\"\nrate = 20\nmax_wait = 1.0\n",
    );
    let rt = runtime();
    let elapsed = rt.block_on(async {
        let client = connect(&proxy.url("app")).await.unwrap();
        let started = Instant::now();
        for _ in 0..21 {
            client.simple_query("SELECT 1").await.unwrap();
        }
        started.elapsed()
    });
    // 21 transactions at 20/s with a burst of one: the last starts 1 s after the first.
    assert!(elapsed >= Duration::from_millis(990), "{elapsed:?}");
    let rule = &limits(&proxy)["smooth"];
    assert_eq!(rule["refused"], "0");
    let delayed: u64 = rule["delayed"].parse().unwrap();
    let allowed: u64 = rule["allowed"].parse().unwrap();
    // Statements that arrived after their turn (a slow round trip) go at once.
    assert!(delayed > 0 && delayed + allowed == 21, "{rule:?}");
}

#[test]
fn connection_caps_refuse_with_fatal_53300_and_free_their_slot_on_disconnect() {
    let pg = Postgres::start().unwrap();
    let proxy = start(
        &pg,
        "[[rate_limits]]\nname = \"two-each\"\nper = \"user\"\nmax_connections = 2\n",
    );
    let rt = runtime();
    let refused_retries = rt.block_on(async {
        let first = connect(&proxy.url("ada")).await.unwrap();
        let _second = connect(&proxy.url("ada")).await.unwrap();
        let Err(third) = connect(&proxy.url("ada")).await else {
            panic!("a third connection was let in");
        };
        let text = message(&third);
        assert!(
            text.starts_with("53300: too many connections for rate limit \"two-each\""),
            "{text}"
        );
        // Someone else's bucket is not full.
        let grace = connect(&proxy.url("grace")).await.unwrap();
        grace.simple_query("SELECT 1").await.unwrap();
        drop(first);
        // The proxy sees the disconnection a moment later: a retry before that is refused
        // too, and counted.
        let mut refused_retries = 0;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match connect(&proxy.url("ada")).await {
                Ok(client) => {
                    client.simple_query("SELECT 1").await.unwrap();
                    break;
                }
                Err(_) if Instant::now() < deadline => {
                    refused_retries += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(e) => panic!("the slot never came back: {e}"),
            }
        }
        refused_retries
    });
    let rule = &limits(&proxy)["two-each"];
    assert_eq!(
        rule["connections_refused"],
        (1 + refused_retries).to_string(),
        "{rule:?}"
    );
}

#[test]
fn a_fingerprint_rule_limits_its_statement_only() {
    let pg = Postgres::start().unwrap();
    let heavy = "SELECT count(*) FROM generate_series(1, 10)";
    let fingerprint = brisk_sql::fingerprint(heavy).unwrap();
    let proxy = start(
        &pg,
        &format!(
            "[[rate_limits]]\nname = \"heavy\"\nfingerprint = \"{fingerprint}\"\nrate = 1\nburst = 2\n"
        ),
    );
    let rt = runtime();
    rt.block_on(async {
        let client = connect(&proxy.url("app")).await.unwrap();
        let mut refused = 0;
        for _ in 0..5 {
            // Other constants, the same shape.
            if let Err(e) = client
                .simple_query("select count(*) from generate_series(1, 99)")
                .await
            {
                assert!(
                    message(&e).starts_with("53400: rate limit \"heavy\""),
                    "{}",
                    message(&e)
                );
                refused += 1;
            }
            client.simple_query("SELECT 2").await.unwrap();
            client.query_one("SELECT $1::text", &[&"x"]).await.unwrap();
        }
        assert_eq!(refused, 3);
    });
}

#[test]
fn a_shared_rule_holds_one_rate_across_two_instances_and_survives_redis_going_away() {
    let _timed = timed();
    let pg = Postgres::start().unwrap();
    counters(&pg);
    let redis = Redis::start().unwrap();
    let rule = format!(
        "rate_limit_redis = \"{}\"\n[[rate_limits]]\nname = \"per-app\"\nrate = 40\nburst = 4\nshared = true\n",
        redis.url()
    );
    let (a, b) = (start(&pg, &rule), start(&pg, &rule));
    let rt = runtime();
    let (one, two) = rt.block_on(async {
        tokio::join!(
            offer_transactions(
                a.url("app"),
                120.0,
                3.0,
                Arrivals::Poisson(0x9E37_79B9_7F4A_7C15)
            ),
            offer_transactions(
                b.url("app"),
                120.0,
                3.0,
                Arrivals::Poisson(0xD1B5_4A32_D192_ED03)
            )
        )
    });
    assert!(
        one.other.is_empty() && two.other.is_empty(),
        "{one:?} {two:?}"
    );
    let allowed = (one.committed + two.committed) as f64;
    let expected = expected_allowed(40.0, 4.0, one.elapsed.max(two.elapsed));
    // One rate between them, not one each; a little more slack than for one instance, as
    // the two clients' windows do not quite coincide.
    assert!(
        allowed <= expected * 1.04 + 2.0,
        "allowed {allowed}, expected {expected:.1}: {one:?} {two:?}"
    );
    let offered = (one.committed + one.refused + two.committed + two.refused) as f64 / 3.0;
    if offered >= 80.0 {
        assert!(
            allowed >= 0.8 * expected,
            "allowed {allowed}, expected {expected:.1}: {one:?} {two:?}"
        );
    }
    assert!(one.committed > 10 && two.committed > 10, "{one:?} {two:?}");
    assert_eq!(counter(&pg, 1), allowed as i64);
    assert_eq!(limits(&a)["per-app"]["fallbacks"], "0");

    // Redis gone: each instance holds the rule alone, and says so.
    drop(redis);
    let alone = rt.block_on(offer_transactions(a.url("app"), 120.0, 1.5, Arrivals::Even));
    assert!(alone.other.is_empty(), "{alone:?}");
    assert!(alone.committed > 0, "{alone:?}");
    let expected_alone = expected_allowed(40.0, 4.0, alone.elapsed);
    assert!(
        (alone.committed as f64) <= expected_alone * 1.05 + 2.0,
        "{alone:?} against {expected_alone:.1}"
    );
    let fallbacks: u64 = limits(&a)["per-app"]["fallbacks"].parse().unwrap();
    assert!(fallbacks > 0);
}

#[test]
fn bad_rules_are_one_line_errors_with_exit_code_2() {
    let cases = [
        (
            "client = \"10.0.0.0/33\"\nrate = 1",
            "is not an address block",
        ),
        (
            "rate = 1\nshared = true",
            "shared = true needs rate_limit_redis",
        ),
        ("rate = 1\nper = \"ip\"", "per = \"ip\" is not one of"),
        ("burst = 3", "needs a rate"),
        ("rate = 0", "is not between 0 and 1000000"),
        ("rate = 1\nfingerprint = \"xyz\"", "is not 16 hex digits"),
        (
            "rate = 1\ndatabase = \"nope\"",
            "database \"nope\" is not in [databases]",
        ),
    ];
    for (body, needle) in cases {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("brisk.toml");
        std::fs::write(
            &config,
            format!(
                "[databases]\napp = \"postgres://127.0.0.1:5432/app\"\n[[rate_limits]]\nname = \"r\"\n{body}\n"
            ),
        )
        .unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_brisk"))
            .args(["proxy", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{body}: {stderr}");
        assert!(stderr.contains(needle), "{body}: {stderr}");
        assert!(stderr.contains("rate_limits \"r\""), "{body}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{body}: {stderr}");
    }
}

/// The measurement, run by `scripts/bench-limits` (not in CI: on a shared machine
/// a stall loses slots): a client at three times the rule for `BRISK_LIMITS_SECONDS`
/// (default 20), the allowed rate against the rule's.
#[test]
#[ignore]
fn rate_fidelity_at_three_times_the_limit() {
    let _timed = timed();
    let seconds: f64 = std::env::var("BRISK_LIMITS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20.0);
    let pg = Postgres::start().unwrap();
    counters(&pg);
    let proxy = start(
        &pg,
        "[[rate_limits]]\nname = \"per-app\"\nuser = \"app\"\nrate = 50\nburst = 5\n",
    );
    let outcome = runtime().block_on(offer_transactions(
        proxy.url("app"),
        150.0,
        seconds,
        Arrivals::Even,
    ));
    assert!(outcome.other.is_empty(), "{:?}", outcome.other);
    let expected = expected_allowed(50.0, 5.0, outcome.elapsed);
    let allowed = outcome.committed as f64;
    let rate = (allowed - 5.0) / outcome.elapsed.as_secs_f64();
    println!(
        "offered 150/s for {:.1} s: committed {}, refused {}, allowed rate {rate:.2}/s against 50/s ({:+.2}%), no transaction cut: counters {} and {}",
        outcome.elapsed.as_secs_f64(),
        outcome.committed,
        outcome.refused,
        100.0 * (allowed / expected - 1.0),
        counter(&pg, 1),
        counter(&pg, 2),
    );
    assert!((allowed - expected).abs() <= 0.02 * expected + 1.0);
}

/// tokio-postgres pipelines the requests of futures polled together: a transaction sent
/// whole, before any answer, is charged once at its BEGIN and never cut, however empty the
/// bucket; pipelined autocommit statements are charged one by one.
#[test]
fn pipelined_transactions_are_charged_once_and_never_cut() {
    let pg = Postgres::start().unwrap();
    counters(&pg);
    let proxy = start(&pg, "[[rate_limits]]\nname = \"slow\"\nrate = 1\n");
    runtime().block_on(async {
        let client = connect(&proxy.url("app")).await.unwrap();
        let update = client
            .prepare("UPDATE counters SET n = n + 1 WHERE id = 1")
            .await
            .unwrap();
        // The whole transaction in flight at once: BEGIN takes the only slot.
        let (begin, first, second, commit) = tokio::join!(
            client.batch_execute("BEGIN"),
            client.execute(&update, &[]),
            client.execute(&update, &[]),
            client.batch_execute("COMMIT"),
        );
        for result in [begin, first.map(|_| ()), second.map(|_| ()), commit] {
            result.unwrap_or_else(|e| panic!("{}", message(&e)));
        }
        // Two autocommit statements pipelined with no slot left: both refused, alike.
        let (a, b) = tokio::join!(
            client.simple_query("SELECT 1"),
            client.simple_query("SELECT 2")
        );
        for result in [a, b] {
            let Err(e) = result else {
                panic!("not refused")
            };
            assert!(
                message(&e).starts_with("53400: rate limit \"slow\""),
                "{}",
                message(&e)
            );
        }
        // The connection is fine, and the next slot comes a second after the first.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        client.simple_query("SELECT 3").await.unwrap();
    });
    assert_eq!(counter(&pg, 1), 2);
}
