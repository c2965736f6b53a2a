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
    let mut args = vec!["tune", url, "--format", "json"];
    if !extra.contains(&"--sample-secs") {
        args.extend_from_slice(&["--sample-secs", "0.5"]);
    }
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
    for rule in [
        "checkpoints",
        "temp-files",
        "cache-hit",
        "connections",
        "autovacuum",
    ] {
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

fn recommendation<'a>(tuning: &'a Value, rule: &str, setting: &str, table: &str) -> &'a Value {
    by_rule(tuning, rule)
        .into_iter()
        .find(|r| r["setting"] == setting && r["scope"]["name"] == table)
        .unwrap_or_else(|| panic!("no {setting} for {table}: {tuning:#}"))
}

#[test]
fn tables_autovacuum_leaves_behind_get_their_own_settings() {
    // The sandbox runs with autovacuum off server-wide, one more thing planted.
    let pg = cluster_with(&[]);
    let db = Db::on(pg, "vacuum_behind");
    // big: 1,200,000 rows, autovacuum off for it, 300,000 dead. huge: a threshold no delete
    // reaches, 60,000 of 100,000 rows dead.
    db.sql(
        "CREATE TABLE big (id int) WITH (autovacuum_enabled = false);
         INSERT INTO big SELECT generate_series(1, 1200000);
         CREATE TABLE huge (id int) WITH (autovacuum_vacuum_threshold = 100000000);
         INSERT INTO huge SELECT generate_series(1, 100000);
         ANALYZE big; ANALYZE huge;
         DELETE FROM big WHERE id % 4 = 0;
         DELETE FROM huge WHERE id % 5 <> 0;",
    );
    db.wait_for_table_stat("big", "n_dead_tup", 300_000);
    db.wait_for_table_stat("huge", "n_dead_tup", 80_000);
    let tuning = tune(&db.url(), &MACHINE);
    // 200,000 / 1,200,000 rows = 0.1666, two digits rounded down.
    let scale = recommendation(
        &tuning,
        "autovacuum",
        "autovacuum_vacuum_scale_factor",
        "public.big",
    );
    assert_eq!(scale["proposed"], "0.16");
    assert_eq!(scale["current"], "(server's)");
    assert_eq!(scale["confidence"], "high");
    assert_eq!(evidence(scale, "dead rows"), 300_000.0);
    assert_eq!(evidence(scale, "autovacuum trigger now"), 240_050.0);
    let threshold = recommendation(
        &tuning,
        "autovacuum",
        "autovacuum_vacuum_threshold",
        "public.huge",
    );
    assert_eq!(threshold["current"], "100000000");
    assert_eq!(threshold["proposed"], "50");
    // huge is small: its scale factor stays the server's.
    assert!(by_rule(&tuning, "autovacuum")
        .iter()
        .all(|r| !(r["scope"]["name"] == "public.huge"
            && r["setting"] == "autovacuum_vacuum_scale_factor")));
    let on = by_rule(&tuning, "autovacuum")
        .into_iter()
        .find(|r| r["setting"] == "autovacuum")
        .expect("autovacuum = on");
    assert_eq!(on["proposed"], "on");
    // The switched-off table is brisk check's finding: referred to, not repeated.
    let notes = tuning["notes"].to_string();
    assert!(
        notes.contains("autovacuum is off for public.big"),
        "{notes}"
    );
    assert!(notes.contains("vacuum.dead_tuples"), "{notes}");
    // 25% dead is under brisk check's 30%: the note gives the statement itself.
    assert!(
        notes.contains("ALTER TABLE public.big RESET (autovacuum_enabled)"),
        "{notes}"
    );

    let dir = tempfile::tempdir().unwrap();
    let undo = dir.path().join("undo.sql");
    let url = db.url();
    let output = brisk(&[
        "tune",
        &url,
        "--ram",
        "1GB",
        "--cpus",
        "2",
        "--sample-secs",
        "0",
        "--format",
        "alter-system",
        "--rollback",
        undo.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let statements = String::from_utf8(output.stdout).unwrap();
    assert!(
        statements.contains("ALTER TABLE public.big SET (autovacuum_vacuum_scale_factor = 0.16);"),
        "{statements}"
    );
    assert!(
        statements.contains("ALTER TABLE public.huge SET (autovacuum_vacuum_threshold = 50);"),
        "{statements}"
    );
    let undo = std::fs::read_to_string(undo).unwrap();
    assert!(
        undo.contains("ALTER TABLE public.big RESET (autovacuum_vacuum_scale_factor);"),
        "{undo}"
    );
    assert!(
        undo.contains("ALTER TABLE public.huge SET (autovacuum_vacuum_threshold = 100000000);"),
        "{undo}"
    );
    // The statements are valid SQL: they run, and the rollback restores the table.
    db.sql(
        &statements
            .lines()
            .filter(|l| l.starts_with("ALTER TABLE"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    db.sql(
        &undo
            .lines()
            .filter(|l| l.starts_with("ALTER TABLE"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    assert_eq!(
        db.sql("SELECT array_to_string(reloptions, ',') FROM pg_class WHERE relname = 'huge';")
            .trim(),
        "autovacuum_vacuum_threshold=100000000"
    );
}

#[test]
fn tables_within_their_autovacuum_trigger_get_nothing() {
    let db = Db::on(quiet_cluster(), "vacuum_fine");
    // A big table with fewer dead rows than brisk's own target, a small one under the
    // default trigger of 50 + 20%.
    db.sql(
        "CREATE TABLE big (id int);
         INSERT INTO big SELECT generate_series(1, 1200000);
         CREATE TABLE small (id int);
         INSERT INTO small SELECT generate_series(1, 100000);
         ANALYZE big; ANALYZE small;
         DELETE FROM big WHERE id % 20 = 0;
         DELETE FROM small WHERE id % 10 = 0;",
    );
    db.wait_for_table_stat("big", "n_dead_tup", 60_000);
    db.wait_for_table_stat("small", "n_dead_tup", 10_000);
    let tuning = tune(&db.url(), &MACHINE);
    assert!(by_rule(&tuning, "autovacuum").is_empty(), "{tuning:#}");
    let notes = tuning["notes"].to_string();
    assert!(!notes.contains("autovacuum is off for"), "{notes}");
    assert!(!notes.contains("has not reached it"), "{notes}");
}

#[test]
fn all_autovacuum_workers_busy_get_more_workers_and_a_cost_limit_for_each() {
    // One worker, throttled to a crawl (1 cost unit per 100 ms), with a table to vacuum:
    // it stays busy for minutes.
    let pg = cluster_with(&[
        ("autovacuum", "on"),
        ("autovacuum_max_workers", "1"),
        ("autovacuum_naptime", "1"),
        ("autovacuum_vacuum_cost_delay", "100"),
        ("autovacuum_vacuum_cost_limit", "1"),
    ]);
    let db = Db::on(pg, "vacuum_busy");
    db.sql(
        "CREATE TABLE churn (id int);
         INSERT INTO churn SELECT generate_series(1, 200000);
         ANALYZE churn;
         DELETE FROM churn;",
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while db
        .sql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker' AND datname = current_database();")
        .trim()
        == "0"
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no autovacuum worker started"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let tuning = tune(&db.url(), &[&MACHINE[..], &["--sample-secs", "1"]].concat());
    let workers = by_rule(&tuning, "autovacuum")
        .into_iter()
        .find(|r| r["setting"] == "autovacuum_max_workers")
        .unwrap_or_else(|| panic!("{tuning:#}"));
    assert_eq!(workers["current"], "1");
    assert_eq!(workers["proposed"], "2");
    assert_eq!(workers["takes"], "restart");
    assert_eq!(evidence(workers, "autovacuum workers busy"), 1.0);
    let limit = by_rule(&tuning, "autovacuum")
        .into_iter()
        .find(|r| r["setting"] == "autovacuum_vacuum_cost_limit")
        .unwrap_or_else(|| panic!("{tuning:#}"));
    // 200, one lone worker's budget, for each of 2 workers.
    assert_eq!(limit["current"], "1");
    assert_eq!(limit["proposed"], "400");
    assert_eq!(limit["takes"], "reload");
    // Two workers count in the worst-case memory.
    assert_eq!(tuning["memory"]["autovacuum_workers"], 2);
}

#[test]
fn wal_buffers_that_fill_during_the_sample_are_raised() {
    // 32 kB of WAL buffers (the minimum) under writers that run through the sample. A
    // backend reports its WAL statistics between transactions, so the writers run many
    // short ones (pgbench), each writing more WAL than the buffers hold.
    let pg = cluster_with(&[("wal_buffers", "32kB")]);
    let db = Db::on(pg, "walbuf");
    db.sql("CREATE TABLE log (id int, body text);");
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("insert.sql");
    std::fs::write(
        &script,
        "INSERT INTO log SELECT g, 'a hundred bytes or so of WAL per row, three hundred rows a transaction' FROM generate_series(1, 300) g;\n",
    )
    .unwrap();
    let mut writers = std::process::Command::new("pgbench")
        .args(["-n", "-c", "2", "-T", "6", "-f"])
        .arg(&script)
        .args(["-d", &db.url()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(1));
    let tuning = tune(&db.url(), &[&MACHINE[..], &["--sample-secs", "2"]].concat());
    let _ = writers.wait();
    let wal = by_rule(&tuning, "wal-buffers");
    assert_eq!(wal.len(), 1, "{tuning:#}");
    assert_eq!(wal[0]["setting"], "wal_buffers");
    assert_eq!(wal[0]["current"], "32kB");
    assert_eq!(wal[0]["proposed"], "16MB");
    assert_eq!(wal[0]["takes"], "restart");
    assert!(evidence(wal[0], "wal_buffers_full during the sample") >= 1.0);
    // The evidence replaces PGTune's value, not added to it.
    let all = tuning["recommendations"].as_array().unwrap();
    assert_eq!(
        all.iter().filter(|r| r["setting"] == "wal_buffers").count(),
        1
    );
}

#[test]
fn wal_buffers_stay_when_they_do_not_fill_and_pg_stat_io_is_skipped_before_16() {
    // WAL statistics are cluster-wide: a cluster of its own, that nobody else writes to.
    let db = Db::on(cluster_with(&[("wal_buffers", "32kB")]), "walbuf_quiet");
    db.sql("CREATE TABLE log (id int); INSERT INTO log VALUES (1);");
    let tuning = tune(&db.url(), &[&MACHINE[..], &["--sample-secs", "1"]].concat());
    assert!(by_rule(&tuning, "wal-buffers").is_empty(), "{tuning:#}");
}

#[test]
fn the_hit_ratio_says_where_it_comes_from() {
    let pg = cluster_with(&[("shared_buffers", "2MB")]);
    let db = Db::on(pg, "cold_io");
    db.sql("CREATE TABLE wide AS SELECT g AS id, repeat('y', 200) AS body FROM generate_series(1, 120000) g;
            SELECT count(*) FROM wide; SELECT count(*) FROM wide; SELECT count(*) FROM wide;");
    let tuning = tune(&db.url(), &MACHINE);
    let notes = tuning["notes"].to_string();
    if pg.major_version() >= 16 {
        let cache = by_rule(&tuning, "cache-hit");
        assert!(
            cache.iter().all(|c| c["evidence"][0]["name"]
                .as_str()
                .unwrap()
                .contains("pg_stat_io")),
            "{tuning:#}"
        );
        assert!(!notes.contains("needs PostgreSQL 16"), "{notes}");
    } else {
        assert!(
            notes.contains("pg_stat_io, which tells them apart, needs PostgreSQL 16"),
            "{notes}"
        );
    }
}

/// The cluster of the proxy tests: their pgbench would count as active sessions elsewhere.
fn proxy_cluster() -> &'static Postgres {
    static CLUSTER: OnceLock<&'static Postgres> = OnceLock::new();
    CLUSTER.get_or_init(|| cluster_with(&[]))
}

/// A brisk proxy in front of `db` for the role `tuneapp`, with its admin console.
fn proxy_for(db: &Db, pool_size: u64) -> common::ProxyProcess {
    static ROLE: std::sync::Once = std::sync::Once::new();
    ROLE.call_once(|| {
        db.sql("CREATE ROLE tuneapp LOGIN PASSWORD 'tuneapp-secret';");
    });
    let (name, pg_port) = (db.name.clone(), db.pg.port());
    common::ProxyProcess::start(
        move |port| {
            format!(
                "listen_port = {port}\nadmin_users = [\"admin\"]\ndefault_pool_size = {pool_size}\n\
                 [databases]\n{name} = \"postgres://127.0.0.1:{pg_port}/{name}?sslmode=disable\"\n\
                 [users]\ntuneapp = \"tuneapp-secret\"\nadmin = \"admin-secret\"\n"
            )
        },
        "warn",
        std::process::Stdio::null(),
    )
}

fn console_url(proxy: &common::ProxyProcess) -> String {
    format!(
        "postgres://admin:admin-secret@127.0.0.1:{}/brisk?sslmode=disable",
        proxy.port
    )
}

#[test]
fn pools_are_sized_from_the_concurrency_brisk_proxy_measured() {
    let db = Db::on(proxy_cluster(), "pooled");
    let proxy = proxy_for(&db, 20);
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("sleep.sql");
    std::fs::write(&script, "SELECT pg_sleep(0.05);\n").unwrap();
    // 4 clients, each always in a 50 ms transaction: about 4 want a server at any time.
    let app_url = format!(
        "postgres://tuneapp:tuneapp-secret@127.0.0.1:{}/{}?sslmode=disable",
        proxy.port, db.name
    );
    let mut pgbench = std::process::Command::new("pgbench")
        .args(["-n", "-c", "4", "-j", "2", "-T", "8", "-f"])
        .arg(&script)
        .args(["-d", &app_url])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(1));
    let console = console_url(&proxy);
    let tuning = tune(
        &db.url(),
        &[
            &MACHINE[..],
            &["--sample-secs", "3", "--proxy-admin", console.as_str()],
        ]
        .concat(),
    );
    let _ = pgbench.wait();
    let pool = by_rule(&tuning, "pool-size");
    let size = pool
        .iter()
        .find(|r| r["setting"] == "default_pool_size")
        .unwrap_or_else(|| panic!("{tuning:#}"));
    assert_eq!(size["scope"]["kind"], "proxy");
    assert_eq!(size["current"], "20");
    // At most the 4 clients (a loaded machine keeps them outside transactions longer, so
    // no tighter floor), and at least the servers busy.
    let demand = evidence(size, "clients wanting a server");
    let busy = evidence(size, "servers busy on average");
    assert!(
        (0.5..=4.4).contains(&demand) && busy <= demand + 1e-9,
        "{size}"
    );
    // Each transaction holds its server for its 50 ms sleep at least: Little's law from
    // the proxy's own time totals agrees with the count of transactions.
    let transactions = evidence(size, "transactions through the proxy");
    let seconds = evidence(size, "sample");
    assert!(busy >= 0.95 * transactions * 0.05 / seconds, "{size}");
    assert!(busy <= 3.0 * transactions * 0.05 / seconds + 0.2, "{size}");
    let proposed: u64 = size["proposed"].as_str().unwrap().parse().unwrap();
    // Little's law at 50%, or the servers in use at the end when more.
    let in_use = evidence(size, "servers in use at the end") as u64;
    assert_eq!(
        proposed,
        ((demand / 0.5).ceil() as u64).max(in_use),
        "{size}"
    );
    // One pool of that size, no reserve, and 3 reserved for superusers, rounded up to 10.
    let max = pool
        .iter()
        .find(|r| r["setting"] == "max_connections")
        .unwrap_or_else(|| panic!("{tuning:#}"));
    assert_eq!(max["current"], "200");
    assert_eq!(
        max["proposed"],
        ((proposed + 3).div_ceil(10) * 10).to_string()
    );
    let mut proxy = proxy;
    let _ = proxy.child.kill();
    let _ = proxy.child.wait();
}

#[test]
fn an_idle_proxy_sizes_nothing_and_says_why() {
    let db = Db::on(proxy_cluster(), "pooled_idle");
    let mut proxy = proxy_for(&db, 20);
    let console = console_url(&proxy);
    let tuning = tune(
        &db.url(),
        &[
            &MACHINE[..],
            &["--sample-secs", "1", "--proxy-admin", console.as_str()],
        ]
        .concat(),
    );
    assert!(by_rule(&tuning, "pool-size").is_empty(), "{tuning:#}");
    assert!(
        tuning["notes"]
            .to_string()
            .contains("counted no transactions"),
        "{tuning:#}"
    );
    let _ = proxy.child.kill();
    let _ = proxy.child.wait();
}

/// What `/sys` says about the disk under `dir`, read here independently of brisk: the
/// device of the directory, its disk (a partition's parent) and `queue/rotational`.
fn disk_of(dir: &std::path::Path) -> Option<(String, &'static str)> {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata(dir).ok()?.dev();
    let (major, minor) = (
        ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff),
        (dev & 0xff) | ((dev >> 12) & !0xff),
    );
    let mut sys = std::fs::canonicalize(format!("/sys/dev/block/{major}:{minor}")).ok()?;
    if sys.join("partition").exists() {
        sys = sys.parent()?.to_path_buf();
    }
    let name = sys.file_name()?.to_string_lossy().into_owned();
    let rotational = std::fs::read_to_string(sys.join("queue/rotational")).ok()?;
    let io = match (rotational.trim(), name.starts_with("nvme")) {
        ("1", _) => "2",
        ("0", true) => "1000",
        _ => "200",
    };
    Some((name, io))
}

#[test]
fn the_disk_is_read_on_the_server_host_when_it_is_this_one() {
    let pg = quiet_cluster();
    let db = Db::on(pg, "disk");
    let tuning = tune(&db.url(), &MACHINE);
    let io = tuning["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["setting"] == "effective_io_concurrency");
    match disk_of(&pg.data_dir()) {
        Some((name, expected)) => {
            let io = io.unwrap_or_else(|| panic!("{tuning:#}"));
            assert_eq!(io["proposed"], expected, "{io}");
            assert!(
                io["why"].as_str().unwrap().contains(&format!("({name})")),
                "{io}"
            );
            let virtual_disk = name.starts_with("vd") || name.starts_with("xvd");
            assert_eq!(
                io["confidence"],
                if virtual_disk { "low" } else { "medium" }
            );
        }
        // On an overlay or tmpfs there is no disk to read: brisk says why and proposes none.
        None => {
            assert!(io.is_none(), "{tuning:#}");
            assert!(
                tuning["notes"]
                    .to_string()
                    .contains("could not see the disk"),
                "{tuning:#}"
            );
        }
    }
    // --disk wins, at low confidence: it is what the user said.
    let told = tune(&db.url(), &[&MACHINE[..], &["--disk", "nvme"]].concat());
    let io = told["recommendations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["setting"] == "effective_io_concurrency")
        .unwrap();
    assert_eq!(io["proposed"], "1000");
    assert_eq!(io["confidence"], "low");
}

#[test]
fn a_redis_cache_that_evicts_and_expires_gets_samples_lazyfree_and_a_slow_log() {
    let redis = brisk_sandbox::Redis::start().expect("redis starts");
    for (name, value) in [
        ("maxmemory", "4mb"),
        ("maxmemory-policy", "allkeys-lru"),
        ("slowlog-log-slower-than", "-1"),
        ("latency-monitor-threshold", "1"),
    ] {
        redis_cli(&redis, &["CONFIG", "SET", name, value]);
    }
    // 8 MB of cached pages through 4 MB: evictions. 100 keys that expire at once, then read:
    // expiries. One 50 ms command: a latency spike for LATENCY DOCTOR.
    redis_cli(
        &redis,
        &[
            "EVAL",
            "for i = 1, 2000 do redis.call('SET', 'page:' .. i, string.rep('x', 4000), 'EX', 3600) end",
            "0",
        ],
    );
    redis_cli(
        &redis,
        &[
            "EVAL",
            "for i = 1, 100 do redis.call('SET', 'flash:' .. i, 'x', 'PX', 1) end",
            "0",
        ],
    );
    std::thread::sleep(std::time::Duration::from_millis(50));
    redis_cli(
        &redis,
        &[
            "EVAL",
            "for i = 1, 100 do redis.call('GET', 'flash:' .. i) end",
            "0",
        ],
    );
    redis_cli(&redis, &["DEBUG", "SLEEP", "0.05"]);
    let tuning = tune_redis(&redis);
    let samples = setting(&tuning, "maxmemory-samples").unwrap_or_else(|| panic!("{tuning:#}"));
    assert_eq!(
        (samples["current"].as_str(), samples["proposed"].as_str()),
        (Some("5"), Some("10"))
    );
    assert!(samples["evidence"][0]["value"].as_f64().unwrap() > 0.0);
    for lazy in ["lazyfree-lazy-eviction", "lazyfree-lazy-expire"] {
        let r = setting(&tuning, lazy).unwrap_or_else(|| panic!("{lazy}: {tuning:#}"));
        assert_eq!(r["proposed"], "yes");
        assert_eq!(r["rule"], "redis-lazyfree");
    }
    let slowlog = setting(&tuning, "slowlog-log-slower-than").unwrap();
    assert_eq!(
        (slowlog["current"].as_str(), slowlog["proposed"].as_str()),
        (Some("-1"), Some("10000"))
    );
    let notes = tuning["notes"].to_string();
    assert!(notes.contains("LATENCY DOCTOR says"), "{notes}");
    // The rollback restores each value.
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
    assert!(output.status.success());
    let undo = std::fs::read_to_string(undo).unwrap();
    for line in [
        "CONFIG SET maxmemory-samples 5\n",
        "CONFIG SET lazyfree-lazy-eviction no\n",
        "CONFIG SET slowlog-log-slower-than -1\n",
    ] {
        assert!(undo.contains(line), "{undo}");
    }
}

#[test]
fn a_quiet_redis_gets_none_of_the_rest() {
    let redis = brisk_sandbox::Redis::start().expect("redis starts");
    redis_cli(&redis, &["CONFIG", "SET", "maxmemory", "256mb"]);
    redis_cli(
        &redis,
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"],
    );
    redis_cli(
        &redis,
        &["CONFIG", "SET", "latency-monitor-threshold", "100"],
    );
    redis_cli(
        &redis,
        &[
            "EVAL",
            "for i = 1, 200 do redis.call('SET', 'page:' .. i, 'x', 'EX', 3600) end",
            "0",
        ],
    );
    let tuning = tune_redis(&redis);
    assert!(
        tuning["recommendations"].as_array().unwrap().is_empty(),
        "{tuning:#}"
    );
    assert!(
        !tuning["notes"].to_string().contains("DOCTOR"),
        "{tuning:#}"
    );
}
