//! `brisk tune`: offline as PGTune, and on live sandboxes where each evidence rule is planted
//! (temp files, requested checkpoints, idle sessions, a cold cache) and absent.
//!
//! Checkpoints, sessions and cache hits are cluster-wide, so each planted rule gets a cluster
//! of its own; the absent cases share one quiet cluster.

mod common;

use std::sync::OnceLock;

use brisk_sandbox::Postgres;
use common::{brisk, Db};
use serde_json::Value;

/// A cluster with nothing planted, shared by the tests that expect silence.
fn quiet_cluster() -> &'static Postgres {
    static CLUSTER: OnceLock<&'static Postgres> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        Postgres::builder()
            .start_for_process()
            .expect("sandbox starts")
    })
}

fn cluster_with(settings: &[(&str, &str)]) -> &'static Postgres {
    let mut builder = Postgres::builder();
    for (name, value) in settings {
        builder = builder.setting(name, value);
    }
    builder.start_for_process().expect("sandbox starts")
}

/// A machine given by flags, so the numbers do not depend on the test host.
const MACHINE: [&str; 4] = ["--ram", "1GB", "--cpus", "2"];

/// `brisk tune URL --format json` on a fixed machine, which must succeed.
fn tune(url: &str, extra: &[&str]) -> Value {
    let mut args = vec!["tune", url, "--format", "json", "--sample-secs", "0.5"];
    args.extend_from_slice(extra);
    let output = brisk(&args);
    assert!(
        output.status.success(),
        "brisk {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}

fn by_rule<'a>(tuning: &'a Value, rule: &str) -> Vec<&'a Value> {
    tuning["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["rule"] == rule)
        .collect()
}

fn evidence(recommendation: &Value, prefix: &str) -> f64 {
    recommendation["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"].as_str().unwrap().starts_with(prefix))
        .unwrap_or_else(|| panic!("no evidence {prefix} in {recommendation}"))["value"]
        .as_f64()
        .unwrap()
}

/// A size PGTune's way (4GB, 64MB, 1536kB) in kB.
fn kb(size: &str) -> u64 {
    let split = size.find(|c: char| !c.is_ascii_digit()).unwrap();
    let (n, unit) = size.split_at(split);
    let n: u64 = n.parse().unwrap();
    match unit {
        "kB" => n,
        "MB" => n << 10,
        "GB" => n << 20,
        _ => panic!("unit of {size}"),
    }
}

#[test]
fn a_quiet_server_gets_no_evidence_advice_and_a_worst_case_within_ram() {
    let db = Db::on(quiet_cluster(), "quiet");
    let tuning = tune(&db.url(), &MACHINE);
    for rule in ["checkpoints", "temp-files", "cache-hit", "connections"] {
        assert!(by_rule(&tuning, rule).is_empty(), "{rule}: {tuning:#}");
    }
    let memory = &tuning["memory"];
    assert!(
        memory["worst_case_bytes"].as_u64().unwrap() <= 1 << 30,
        "{memory}"
    );
    // An idle sandbox has fewer active sessions than CPUs: work_mem is sized for the CPUs,
    // and says so.
    assert!(
        memory["sessions_from"]
            .as_str()
            .unwrap()
            .contains("CPU count"),
        "{memory}"
    );
    assert_eq!(tuning["machine"]["source"], "--ram and --cpus");
    // work_mem: PGTune's formula for 1 GB, 2 sessions + 8 worker processes, mixed workload:
    // (1 GB - 256 MB) / (10 x 3) = 26214 kB, / 2 for mixed = 13107 kB, x 1.3 as the data is
    // smaller than RAM = 17039 kB, rounded down to a whole MB: 16MB.
    let work_mem = tuning["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["setting"] == "work_mem" && r["scope"]["kind"] == "server")
        .expect("work_mem from the formula");
    assert_eq!(work_mem["proposed"], "16MB");
    assert_eq!(work_mem["current"], "4MB");
    assert_eq!(work_mem["takes"], "reload");
}

#[test]
fn the_machine_is_read_from_the_server_host_when_it_is_this_one() {
    let db = Db::on(quiet_cluster(), "local");
    let tuning = tune(&db.url(), &[]);
    let source = tuning["machine"]["source"].as_str().unwrap();
    assert!(source.contains("/proc/meminfo"), "{source}");
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let total_kb: u64 = meminfo
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let ram = tuning["machine"]["ram_bytes"].as_u64().unwrap();
    assert!(ram > 0 && ram <= total_kb * 1024, "{ram}");
    // Only --cpus given: RAM still comes from the host, and the source says which is which.
    let tuning = tune(&db.url(), &["--cpus", "3"]);
    assert_eq!(tuning["machine"]["cpus"], 3);
    assert!(tuning["machine"]["source"]
        .as_str()
        .unwrap()
        .starts_with("--cpus; RAM from"));
}

#[test]
fn a_role_whose_sorts_spill_gets_its_own_work_mem_not_a_global_one() {
    let pg = cluster_with(&[]);
    let db = Db::on(pg, "spill");
    db.sql(
        "CREATE ROLE reporting;
         CREATE TABLE events AS SELECT g AS id, md5(g::text) AS tag FROM generate_series(1, 200000) g;
         GRANT SELECT ON events TO reporting;
         SELECT pg_stat_statements_reset();",
    );
    // The role sorts 200,000 rows in 64 kB of work_mem: about 10 MB of temp files per call.
    db.sql(
        "SET ROLE reporting; SET work_mem = '64kB';
         SELECT count(*) FROM (SELECT tag FROM events ORDER BY tag) s;
         SELECT count(*) FROM (SELECT tag FROM events ORDER BY tag) s;
         SELECT count(*) FROM (SELECT tag FROM events ORDER BY tag) s;",
    );
    let tuning = tune(
        &db.url(),
        &["--ram", "2GB", "--cpus", "2", "--temp-min-mb", "4"],
    );
    let spills = by_rule(&tuning, "temp-files");
    assert_eq!(spills.len(), 1, "{tuning:#}");
    let role = spills[0];
    assert_eq!(
        role["scope"],
        serde_json::json!({"kind": "role", "name": "reporting"})
    );
    assert_eq!(role["setting"], "work_mem");
    assert_eq!(role["confidence"], "high");
    let per_call = evidence(role, "worst temp bytes per call");
    assert!(per_call > 4e6, "{role}");
    // At least twice the spill (an in-memory sort needs more than its temp file), and more
    // than the global value brisk proposes.
    assert!(
        kb(role["proposed"].as_str().unwrap()) * 1024 >= 2 * per_call as u64,
        "{role}"
    );
    assert_eq!(role["current"], "4MB (global)");
    assert!(
        by_rule(&tuning, "baseline")
            .iter()
            .all(|r| r["scope"]["kind"] == "server"),
        "the spill changes no global setting"
    );
    // On a 1 GB machine the same spill cannot have all it needs: the role's value is capped
    // so the worst case stays within RAM, and the reason says so.
    let small = tune(&db.url(), &[&MACHINE[..], &["--temp-min-mb", "4"]].concat());
    let capped = by_rule(&small, "temp-files")[0];
    assert!(kb(capped["proposed"].as_str().unwrap()) < kb(role["proposed"].as_str().unwrap()));
    assert!(
        capped["why"]
            .as_str()
            .unwrap()
            .contains("would not fit in RAM"),
        "{capped}"
    );
    assert!(small["memory"]["worst_case_bytes"].as_u64().unwrap() <= 1 << 30);

    // The statements and their rollback. A value set with ALTER SYSTEM before is restored,
    // not reset to postgresql.conf's.
    db.sql("ALTER SYSTEM SET max_wal_size = '2GB';");
    db.sql("SELECT pg_reload_conf();");
    let dir = tempfile::tempdir().unwrap();
    let rollback = dir.path().join("rollback.sql");
    let rollback_arg = rollback.to_str().unwrap();
    let db_url = db.url();
    let mut args = vec![
        "tune",
        &db_url,
        "--format",
        "alter-system",
        "--rollback",
        rollback_arg,
    ];
    args.extend_from_slice(&["--sample-secs", "0", "--temp-min-mb", "4"]);
    args.extend_from_slice(&["--ram", "2GB", "--cpus", "2"]);
    let output = brisk(&args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let statements = String::from_utf8(output.stdout).unwrap();
    let expected = format!(
        "ALTER ROLE \"reporting\" SET work_mem = '{}';",
        role["proposed"].as_str().unwrap()
    );
    assert!(statements.contains(&expected), "{statements}");
    assert!(
        statements.contains("ALTER SYSTEM SET shared_buffers"),
        "{statements}"
    );
    let undo = std::fs::read_to_string(&rollback).unwrap();
    assert!(
        undo.contains("ALTER ROLE \"reporting\" RESET work_mem;"),
        "{undo}"
    );
    assert!(
        undo.contains("ALTER SYSTEM RESET shared_buffers;"),
        "{undo}"
    );
    // brisk applied nothing, and a second run does not overwrite the rollback file.
    assert_eq!(
        db.sql("SELECT count(*) FROM pg_db_role_setting;").trim(),
        "0"
    );
    let again = brisk(&args);
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&rollback).unwrap(), undo);
}

#[test]
fn a_role_with_its_own_small_work_mem_gets_a_role_setting_even_when_the_global_one_would_fit() {
    let pg = cluster_with(&[]);
    let db = Db::on(pg, "spill_own");
    db.sql(
        "CREATE ROLE exporter;
         ALTER ROLE exporter SET work_mem = '64kB';
         CREATE TABLE rows_out AS SELECT g AS id, md5(g::text) AS tag FROM generate_series(1, 200000) g;
         GRANT SELECT ON rows_out TO exporter;
         SELECT pg_stat_statements_reset();",
    );
    db.sql(
        "SET ROLE exporter; SET work_mem = '64kB';
         SELECT count(*) FROM (SELECT tag FROM rows_out ORDER BY tag) s;
         SELECT count(*) FROM (SELECT tag FROM rows_out ORDER BY tag) s;",
    );
    // On 64 GB the global work_mem PGTune proposes is far above what the spill needs; the
    // role's own 64 kB still wins in its sessions, so only a role setting helps.
    let tuning = tune(
        &db.url(),
        &["--ram", "64GB", "--cpus", "8", "--temp-min-mb", "4"],
    );
    let spills = by_rule(&tuning, "temp-files");
    assert_eq!(spills.len(), 1, "{tuning:#}");
    assert_eq!(
        spills[0]["scope"],
        serde_json::json!({"kind": "role", "name": "exporter"})
    );
    assert_eq!(spills[0]["current"], "64kB");
    assert!(
        kb(spills[0]["proposed"].as_str().unwrap()) > 64,
        "{tuning:#}"
    );

    // Without a role setting of its own, the larger global value is enough: a note, no role
    // setting.
    db.sql("ALTER ROLE exporter RESET work_mem;");
    let tuning = tune(
        &db.url(),
        &["--ram", "64GB", "--cpus", "8", "--temp-min-mb", "4"],
    );
    assert!(by_rule(&tuning, "temp-files").is_empty(), "{tuning:#}");
}

#[test]
fn spills_without_pg_stat_statements_are_noted_but_raise_nothing() {
    let pg = cluster_with(&[]);
    let db = Db::on(pg, "spill_nopss");
    db.sql(
        "DROP EXTENSION pg_stat_statements;
         CREATE TABLE events AS SELECT g AS id, md5(g::text) AS tag FROM generate_series(1, 200000) g;
         SET work_mem = '64kB';
         SELECT count(*) FROM (SELECT tag FROM events ORDER BY tag) s;",
    );
    let tuning = tune(&db.url(), &[&MACHINE[..], &["--temp-min-mb", "4"]].concat());
    assert!(by_rule(&tuning, "temp-files").is_empty());
    let notes = tuning["notes"].to_string();
    assert!(
        notes.contains("pg_stat_statements is not installed"),
        "{notes}"
    );
}

#[test]
fn requested_checkpoints_raise_max_wal_size() {
    let pg = cluster_with(&[("max_wal_size", "32MB"), ("min_wal_size", "32MB")]);
    let db = Db::on(pg, "wal");
    // About 150 MB of WAL through a 32 MB max_wal_size: a checkpoint every ~17 MB.
    db.sql(
        "CREATE TABLE log (id int, body text);
            INSERT INTO log SELECT g, repeat('x', 100) FROM generate_series(1, 1000000) g;",
    );
    let tuning = tune(&db.url(), &MACHINE);
    let wal = by_rule(&tuning, "checkpoints");
    assert_eq!(wal.len(), 1, "{tuning:#}");
    assert_eq!(wal[0]["setting"], "max_wal_size");
    assert_eq!(wal[0]["current"], "32MB");
    assert!(
        evidence(wal[0], "requested checkpoints") >= 5.0,
        "{}",
        wal[0]
    );
    assert!(kb(wal[0]["proposed"].as_str().unwrap()) >= 64 << 10);
    assert_eq!(wal[0]["takes"], "reload");
}

#[test]
fn many_idle_sessions_get_a_pooler_and_a_smaller_max_connections() {
    let pg = cluster_with(&[]);
    let db = Db::on(pg, "idle");
    let _held: Vec<_> = (0..25)
        .map(|i| db.hold_session(&format!("idle-{i}"), "SELECT 1;"))
        .collect();
    db.wait_for_session("idle-24", "state = 'idle'");
    let tuning = tune(&db.url(), &MACHINE);
    let pool = by_rule(&tuning, "connections");
    assert_eq!(pool.len(), 1, "{tuning:#}");
    assert_eq!(pool[0]["setting"], "max_connections");
    assert_eq!(pool[0]["takes"], "restart");
    assert!(evidence(pool[0], "idle sessions") >= 25.0);
    // 2 CPUs x 2, at least 20, plus 3 reserved, rounded up to 10.
    assert_eq!(pool[0]["proposed"], "30");
    assert!(pool[0]["why"].as_str().unwrap().contains("brisk proxy"));
}

#[test]
fn a_cold_cache_raises_shared_buffers_with_its_hit_ratio() {
    let pg = cluster_with(&[("shared_buffers", "2MB")]);
    let db = Db::on(pg, "cold");
    // 30 MB scanned three times through 2 MB of buffers: nearly every block is a read.
    db.sql("CREATE TABLE wide AS SELECT g AS id, repeat('y', 200) AS body FROM generate_series(1, 120000) g;
            SELECT count(*) FROM wide; SELECT count(*) FROM wide; SELECT count(*) FROM wide;");
    let tuning = tune(&db.url(), &MACHINE);
    let cache = by_rule(&tuning, "cache-hit");
    assert_eq!(cache.len(), 1, "{tuning:#}");
    assert_eq!(cache[0]["current"], "2MB");
    assert_eq!(cache[0]["proposed"], "256MB");
    assert!(evidence(cache[0], "buffer hit ratio") < 95.0);
    assert_eq!(cache[0]["takes"], "restart");
}

#[test]
fn offline_prints_pgtune_settings_in_every_format() {
    let args = [
        "tune",
        "--ram",
        "16GB",
        "--cpus",
        "4",
        "--connections",
        "200",
        "--disk",
        "ssd",
        "--workload",
        "web",
        "--pg-version",
        "15",
    ];
    let output = brisk(&args);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("work_mem: 20560kB"), "{text}");
    let conf =
        String::from_utf8(brisk(&[&args[..], &["--format", "conf"]].concat()).stdout).unwrap();
    assert!(conf.contains("shared_buffers = '4GB'"), "{conf}");
    let json: Value =
        serde_json::from_slice(&brisk(&[&args[..], &["--format", "json"]].concat()).stdout)
            .unwrap();
    assert_eq!(json["recommendations"].as_array().unwrap().len(), 19);
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    for args in [
        &["tune", "--ram", "16XB"][..],
        &["tune", "--ram", "16"],
        &["tune", "--ram", "16GB", "--workload", "webscale"],
        &["tune", "--ram", "16GB", "--disk", "floppy"],
        &["tune", "--ram", "16GB", "--pg-version", "8"],
        &["tune", "--ram", "16GB", "--cpus", "0"],
        &["tune", "--ram", "16GB", "--data-size", "huge"],
        &["tune", "--ram", "16GB", "--rollback", "x.sql"],
        &["tune"],
        &[
            "tune",
            "postgres://nobody@127.0.0.1:1/x",
            "--connections",
            "100",
        ],
        &[
            "tune",
            "postgres://nobody@127.0.0.1:1/x",
            "--sample-secs=-1",
        ],
    ] {
        let output = brisk(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("brisk: "), "{args:?}: {stderr}");
    }
}

fn redis_cli(redis: &brisk_sandbox::Redis, args: &[&str]) -> String {
    redis
        .cli(args)
        .unwrap_or_else(|e| panic!("redis-cli {args:?}: {e}"))
}

/// `brisk tune --redis URL --ram 1GB --format json`.
fn tune_redis(redis: &brisk_sandbox::Redis) -> Value {
    let url = redis.url();
    let output = brisk(&["tune", "--redis", &url, "--ram", "1GB", "--format", "json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}

fn setting<'a>(tuning: &'a Value, name: &str) -> Option<&'a Value> {
    tuning["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["setting"] == name)
}

#[test]
fn a_redis_cache_without_a_limit_gets_maxmemory_and_an_evicting_policy() {
    let redis = brisk_sandbox::Redis::start().expect("redis starts");
    redis_cli(&redis, &["CONFIG", "SET", "maxmemory", "0"]);
    redis_cli(&redis, &["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    redis_cli(
        &redis,
        &[
            "EVAL",
            "for i = 1, 200 do redis.call('SET', 'page:' .. i, 'x', 'EX', 3600) end",
            "0",
        ],
    );
    let tuning = tune_redis(&redis);
    // 1 GB less 10% = 966,367,641 bytes, less the 1 MB default repl-backlog-size, in whole
    // MB: 920. No persistence in the sandbox, so no halving for a fork.
    let maxmemory = setting(&tuning, "maxmemory").expect("maxmemory");
    assert_eq!(maxmemory["current"], "0");
    assert_eq!(maxmemory["proposed"], "920mb");
    let policy = setting(&tuning, "maxmemory-policy").expect("policy");
    assert_eq!(policy["current"], "noeviction");
    assert_eq!(policy["proposed"], "allkeys-lru");
    // The same judgement as brisk redis, with its note.
    assert!(tuning["notes"]
        .to_string()
        .contains("Judged as a cache: 100% of its keys have a TTL"));

    let dir = tempfile::tempdir().unwrap();
    let undo = dir.path().join("undo.redis");
    let url = redis.url();
    let output = brisk(&[
        "tune",
        "--redis",
        &url,
        "--ram",
        "1GB",
        "--format",
        "alter-system",
        "--rollback",
        undo.to_str().unwrap(),
    ]);
    let commands = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        commands,
        "CONFIG SET maxmemory 920mb\nCONFIG SET maxmemory-policy allkeys-lru\nCONFIG REWRITE\n"
    );
    let undo = std::fs::read_to_string(undo).unwrap();
    assert!(undo.contains("CONFIG SET maxmemory 0\n"), "{undo}");
    assert!(
        undo.contains("CONFIG SET maxmemory-policy noeviction\n"),
        "{undo}"
    );
    // Nothing was applied.
    assert_eq!(
        redis_cli(&redis, &["CONFIG", "GET", "maxmemory"])
            .lines()
            .nth(1),
        Some("0")
    );
}

#[test]
fn a_redis_store_that_evicts_gets_noeviction_and_a_sane_limit_stays() {
    let redis = brisk_sandbox::Redis::start().expect("redis starts");
    redis_cli(&redis, &["CONFIG", "SET", "maxmemory", "256mb"]);
    redis_cli(
        &redis,
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"],
    );
    redis_cli(
        &redis,
        &[
            "EVAL",
            "for i = 1, 200 do redis.call('RPUSH', 'queue:' .. i, 'job') end",
            "0",
        ],
    );
    let output = brisk(&[
        "tune",
        "--redis",
        &redis.url(),
        "--ram",
        "1GB",
        "--role",
        "store",
        "--format",
        "json",
    ]);
    assert!(output.status.success());
    let tuning: Value = serde_json::from_slice(&output.stdout).unwrap();
    let policy = setting(&tuning, "maxmemory-policy").expect("policy");
    assert_eq!(policy["proposed"], "noeviction");
    assert_eq!(policy["confidence"], "high");
    // 256mb is within 920mb: no change proposed.
    assert!(setting(&tuning, "maxmemory").is_none(), "{tuning:#}");
}
