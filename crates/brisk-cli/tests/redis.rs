//! `brisk redis` against real Redis servers from brisk-sandbox: each problem is planted with
//! redis-cli and found; a well-configured cache stays silent; the analyzer only reads; bad
//! input is one line; a Redis Cluster is scanned node by node; a server that dies mid-scan
//! gives an error that says how far the scan got.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use brisk_sandbox::Redis;
use common::{brisk, evidence, finding, findings};
use serde_json::Value;

/// A throwaway Redis, configured as a well-run cache: a memory limit, an LRU policy, no
/// persistence (the sandbox default).
fn cache() -> Redis {
    let redis = Redis::start().expect("redis starts");
    cli(&redis, &["CONFIG", "SET", "maxmemory", "256mb"]);
    cli(
        &redis,
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"],
    );
    redis
}

fn cli(redis: &Redis, args: &[&str]) -> String {
    redis
        .cli(args)
        .unwrap_or_else(|e| panic!("redis-cli {args:?}: {e}"))
}

/// Runs a Lua script that plants keys (fast: one round trip for thousands of keys).
fn lua(redis: &Redis, script: &str) {
    cli(redis, &["EVAL", script, "0"]);
}

/// `brisk redis URL --format json` plus `extra`, which must succeed.
fn analyze(url: &str, extra: &[&str]) -> Value {
    let mut args = vec!["redis", url, "--format", "json"];
    args.extend_from_slice(extra);
    let output = brisk(&args);
    assert!(
        output.status.success(),
        "brisk redis failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("brisk redis prints JSON")
}

fn checks_found(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap().to_string())
        .collect()
}

/// Asserts a clean failure: exit code 2, one line on stderr that contains `needle`.
fn assert_bad_input(args: &[&str], needle: &str) -> String {
    let output = brisk(args);
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"));
    assert!(output.stdout.is_empty());
    stderr
}

#[test]
fn a_well_configured_cache_stays_silent() {
    let redis = cache();
    lua(
        &redis,
        "for i=1,200 do redis.call('SET','session:'..i,'{\"user\":'..i..'}','EX',3600) end",
    );
    let report = analyze(&redis.url(), &[]);
    let problems: Vec<String> = checks_found(&report)
        .into_iter()
        .filter(|c| c != "redis.keyspace")
        .collect();
    assert!(problems.is_empty(), "{report:#}");
    assert_eq!(report["checks_run"].as_array().unwrap().len(), 11);
    assert_eq!(report["command"], "redis");
    assert_eq!(report["target"]["kind"], "redis");
    let group = finding(&report, "redis.keyspace", "session:*");
    assert_eq!(evidence(group, "keys"), 200.0);
    assert_eq!(evidence(group, "without TTL"), 0.0);
}

/// Keys as applications write them: ids that look like ids and ids that do not (short hex
/// of any length, nanoids, ULIDs, UUIDs), dates, timestamps, e-mail and IP addresses, other
/// separators, and a few names that must stay apart. One pattern per shape, no more.
#[test]
fn realistic_keys_make_one_pattern_per_shape() {
    let redis = cache();
    lua(
        &redis,
        r#"
        local hex = '0123456789abcdef'
        local b64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-'
        local function tok(a, n)
          local t = {}
          for i = 1, n do local k = math.random(#a) t[i] = a:sub(k, k) end
          return table.concat(t)
        end
        for i = 1, 300 do
          local id = tok(hex, math.random(16))
          redis.call('SET', 'chat:conv:' .. id .. ':history', 'x')
          redis.call('SET', 'chat:conv:' .. id .. ':meta', 'x')
        end
        for i = 1, 200 do redis.call('SET', 'session:' .. tok(b64, 21), 'x') end
        for i = 1, 50 do
          redis.call('SET', 'job:' .. tok('0123456789ABCDEFGHJKMNPQRSTVWXYZ', 26) .. ':status', 'x')
          local u = tok(hex, 32)
          redis.call('SET', 'obj:' .. u:sub(1, 8) .. '-' .. u:sub(9, 12) .. '-' .. u:sub(13, 16)
            .. '-' .. u:sub(17, 20) .. '-' .. u:sub(21), 'x')
        end
        for d = 1, 28 do
          redis.call('SET', string.format('stats:2026-11-%02d', d), '1')
          redis.call('SET', 'events:' .. (1733443200 + d * 3600), '1')
          redis.call('SET', string.format('ts:2026-11-%02dT10:00:00Z:hits', d), '1')
        end
        for i = 1, 40 do
          redis.call('SET', 'ratelimit:ip:10.' .. math.random(0, 255) .. '.' .. math.random(0, 255)
            .. '.' .. math.random(0, 255), '1')
          redis.call('SET', 'user:' .. tok('abcdefghijklmnopqrstuvwxyz', 3 + math.random(5))
            .. '@example.com:cart', 'x')
        end
        for i = 1, 60 do
          redis.call('SET', 'cdn/img/' .. tok(hex, 10) .. '.png', 'x')
          redis.call('SET', 'app.cache.user.' .. i, 'x')
          redis.call('SET', 'queue|jobs|' .. i, 'x')
          redis.call('SET', 'thread:' .. tok(hex, 2 + math.random(4)) .. ':reply:' .. tok(hex, 3), 'x')
        end
        for _, k in ipairs({'config:limits', 'config:flags', 'config:features', 'api:v1:config',
                            'api:v2:config', 'leaderboard'}) do
          redis.call('SET', k, 'x')
        end
        "#,
    );
    let report = analyze(&redis.url(), &["--groups", "100"]);
    let mut patterns: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "redis.keyspace")
        .map(|f| f["subject"].as_str().unwrap())
        .collect();
    patterns.sort_unstable();
    assert_eq!(
        patterns,
        [
            "api:v1:config",
            "api:v2:config",
            "app.cache.user.*",
            "cdn/img/*",
            "chat:conv:*:history",
            "chat:conv:*:meta",
            "config:features",
            "config:flags",
            "config:limits",
            "events:*",
            "job:*:status",
            "leaderboard",
            "obj:*",
            "queue|jobs|*",
            "ratelimit:ip:*",
            "session:*",
            "stats:*",
            "thread:*:reply:*",
            "ts:*:hits",
            "user:*:cart",
        ]
    );
}

#[test]
fn big_keys_are_found_by_pattern() {
    let redis = cache();
    // SETRANGE past the end makes a zero-filled string of that size.
    cli(&redis, &["SETRANGE", "feed:1001", "3145727", "x"]);
    cli(&redis, &["SETRANGE", "feed:1002", "1572863", "x"]);
    lua(
        &redis,
        "for i=1,50 do redis.call('SET','feed:'..i,'small','EX',60) end",
    );
    let report = analyze(&redis.url(), &[]);
    let big = finding(&report, "redis.big_key", "feed:*");
    assert_eq!(evidence(big, "big keys"), 2.0);
    assert!(evidence(big, "largest") >= 3.0 * 1024.0 * 1024.0, "{big:#}");
    assert!(big["detail"].as_str().unwrap().contains("feed:1001"));
    assert_eq!(big["severity"], "warning");

    // Raising the threshold above both keys makes the finding go away.
    let report = analyze(&redis.url(), &["--big-key-mb", "8"]);
    assert!(findings(&report, "redis.big_key").is_empty());
}

#[test]
fn keys_without_a_ttl_on_a_cache_are_found() {
    let redis = cache();
    lua(
        &redis,
        "for i=1,100 do redis.call('SET','page:'..i..':html','<p>'..i) end \
         for i=1,300 do redis.call('SET','session:'..i,'s','EX',3600) end",
    );
    let report = analyze(&redis.url(), &[]);
    let page = finding(&report, "redis.no_ttl", "page:*:html");
    assert_eq!(evidence(page, "keys without TTL"), 100.0);
    assert_eq!(evidence(page, "share"), 100.0);
    assert_eq!(page["severity"], "info");
    assert!(findings(&report, "redis.no_ttl")
        .iter()
        .all(|f| f["subject"] != "session:*"));

    // Under volatile-lru those keys can never be evicted: a warning.
    cli(
        &redis,
        &["CONFIG", "SET", "maxmemory-policy", "volatile-lru"],
    );
    let report = analyze(&redis.url(), &[]);
    assert_eq!(
        finding(&report, "redis.no_ttl", "page:*:html")["severity"],
        "warning"
    );

    // A data store is allowed keys without TTL.
    let report = analyze(&redis.url(), &["--role", "store"]);
    assert!(findings(&report, "redis.no_ttl").is_empty());
}

#[test]
fn compressible_values_are_measured_and_noise_is_not_reported() {
    let redis = cache();
    // API responses: JSON of about 6 KiB. Blobs: 4 KiB of pseudo-random bytes.
    lua(
        &redis,
        "for i=1,300 do \
           local items = {} \
           for j=1,60 do items[j] = '{\"sku\":\"item-'..j..'\",\"name\":\"Product '..j..'\",\"price\":'..(j*3)..'.99,\"in_stock\":true}' end \
           redis.call('SET','api:products:'..i,'{\"page\":'..i..',\"items\":['..table.concat(items,',')..']}','EX',600) \
         end \
         for i=1,300 do \
           local b = {} \
           for j=1,4096 do b[j] = string.char(math.random(0,255)) end \
           redis.call('SET','blob:'..i,table.concat(b),'EX',600) \
         end",
    );
    let report = analyze(&redis.url(), &["--compress-min-saved-mb", "0.1"]);
    let api = finding(&report, "redis.compressible", "api:products:*");
    assert!(evidence(api, "zstd ratio") > 3.0, "{api:#}");
    assert!(evidence(api, "lz4 ratio") > 2.0, "{api:#}");
    assert!(evidence(api, "zstd compress, per MiB") > 0.0);
    assert!(evidence(api, "lz4 decompress, per MiB") > 0.0);
    assert!(evidence(api, "memory saved") > 1024.0 * 1024.0, "{api:#}");
    assert!(api["impact"]["estimated"].as_array().unwrap().len() == 1);
    assert!(findings(&report, "redis.compressible")
        .iter()
        .all(|f| f["subject"] != "blob:*"));
}

#[test]
fn a_low_hit_ratio_and_unread_expiries_are_found() {
    let redis = cache();
    // 2,000 misses and 100 hits.
    lua(
        &redis,
        "redis.call('SET','warm','1','EX',600) \
         for i=1,2000 do redis.call('GET','cold:'..i) end \
         for i=1,100 do redis.call('GET','warm') end",
    );
    // 2,000 keys that expire unread.
    lua(
        &redis,
        "for i=1,2000 do redis.call('SET','tmp:'..i,'v','PX',1) end",
    );
    wait_for_info(&redis, "expired_keys", 1000);
    let report = analyze(&redis.url(), &[]);
    let hit = finding(&report, "redis.hit_ratio", "server");
    assert!(evidence(hit, "hit ratio") < 10.0, "{hit:#}");
    assert_eq!(evidence(hit, "misses"), 2000.0);
    let expired = finding(&report, "redis.expired", "server");
    assert!(evidence(expired, "expired keys") >= 1000.0);
}

#[test]
fn the_hit_ratio_is_the_applications_and_a_run_adds_only_the_documented_hits() {
    let redis = cache();
    // 100 hits in 1,000 reads: a 10% hit ratio. 50 pages and the warm key, all with a TTL.
    lua(
        &redis,
        "redis.call('SET','warm','1','EX',600) \
         for i=1,50 do redis.call('SET','page:'..i,'<html>'..i,'EX',600) end \
         for i=1,900 do redis.call('GET','cold:'..i) end \
         for i=1,100 do redis.call('GET','warm') end",
    );
    let reported = |report: &Value| {
        let hit = finding(report, "redis.hit_ratio", "server");
        (evidence(hit, "hits"), evidence(hit, "misses"))
    };
    let getranges = |redis: &Redis| {
        cli(redis, &["INFO", "commandstats"])
            .lines()
            .find_map(|l| l.strip_prefix("cmdstat_getrange:calls="))
            .and_then(|v| v.split(',').next()?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };

    // Every key has a TTL, so INFO keyspace answers PTTL: TYPE and OBJECT ENCODING are the
    // only lookups per key, plus one GETRANGE per sampled value.
    let first = analyze(&redis.url(), &[]);
    assert_eq!(reported(&first), (100.0, 900.0));
    let sampled = getranges(&redis);
    assert!(sampled > 0.0);
    let second = analyze(&redis.url(), &[]);
    assert_eq!(reported(&second), (100.0 + 2.0 * 51.0 + sampled, 900.0));
    let group = finding(&second, "redis.keyspace", "page:*");
    assert_eq!(evidence(group, "without TTL"), 0.0);

    // One key without a TTL: now PTTL asks every key, a third hit per key.
    cli(&redis, &["SET", "config", "x"]);
    let (hits, misses) = (
        info_field(&redis, "keyspace_hits") as f64,
        info_field(&redis, "keyspace_misses") as f64,
    );
    let before = getranges(&redis);
    let third = analyze(&redis.url(), &[]);
    assert_eq!(reported(&third), (hits, misses));
    let sampled = getranges(&redis) - before;
    let fourth = analyze(&redis.url(), &[]);
    assert_eq!(reported(&fourth), (hits + 3.0 * 52.0 + sampled, misses));
}

/// Waits until INFO's `field` reaches `at_least` (Redis expires keys in the background).
fn wait_for_info(redis: &Redis, field: &str, at_least: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let value = info_field(redis, field);
        if value >= at_least {
            return;
        }
        assert!(Instant::now() < deadline, "{field} stayed at {value}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn info_field(redis: &Redis, field: &str) -> u64 {
    cli(redis, &["INFO", "everything"])
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn evictions_are_found() {
    let redis = cache();
    cli(&redis, &["CONFIG", "SET", "maxmemory", "4mb"]);
    lua(
        &redis,
        "for i=1,5000 do redis.call('SET','item:'..i,string.rep('x',2000),'EX',600) end",
    );
    let report = analyze(&redis.url(), &[]);
    let evicted = finding(&report, "redis.evictions", "server");
    assert!(evidence(evicted, "evicted keys") > 0.0);
    assert_eq!(evidence(evicted, "maxmemory"), 4.0 * 1024.0 * 1024.0);
    assert!(evicted["fix"]["apply"]
        .as_str()
        .unwrap()
        .starts_with("CONFIG SET maxmemory"));
}

#[test]
fn fragmentation_after_mass_deletes_is_found() {
    let redis = cache();
    cli(&redis, &["DEBUG", "POPULATE", "100000", "frag", "400"]);
    // Deleting seven keys of every eight leaves each allocator page partly used.
    lua(
        &redis,
        "for i=0,99999 do if i%8~=0 then redis.call('UNLINK','frag:'..i) end end",
    );
    // INFO's fragmentation figures come from Redis's cron (every 100 ms, later on a busy
    // machine): wait until they show what the deletes did.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while info_field(&redis, "mem_fragmentation_bytes") < 10 * 1024 * 1024
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let report = analyze(&redis.url(), &["--fragmentation-min-mb", "10"]);
    assert!(
        !findings(&report, "redis.fragmentation").is_empty(),
        "{}",
        cli(&redis, &["INFO", "memory"])
    );
    let frag = finding(&report, "redis.fragmentation", "server");
    assert!(evidence(frag, "fragmentation ratio") >= 1.5, "{frag:#}");
    assert!(evidence(frag, "held but unused") >= 10.0 * 1024.0 * 1024.0);
    assert_eq!(frag["fix"]["apply"], "CONFIG SET activedefrag yes");
    assert_eq!(frag["fix"]["rollback"], "CONFIG SET activedefrag no");
}

#[test]
fn a_cache_without_maxmemory_or_with_persistence_is_found() {
    let redis = Redis::start().unwrap();
    cli(&redis, &["CONFIG", "SET", "save", "900 1"]);
    cli(&redis, &["SET", "k", "v", "EX", "60"]);
    let report = analyze(&redis.url(), &["--role", "cache"]);
    let limit = finding(&report, "redis.maxmemory", "server");
    assert!(limit["title"].as_str().unwrap().contains("no memory limit"));
    assert!(limit["fix"]["apply"]
        .as_str()
        .unwrap()
        .contains("CONFIG SET maxmemory-policy allkeys-lru"));
    assert!(evidence(limit, "suggested maxmemory") >= 64.0 * 1024.0 * 1024.0);
    let persistence = finding(&report, "redis.persistence", "server");
    assert!(persistence["title"].as_str().unwrap().contains("900 1"));
    assert_eq!(
        persistence["fix"]["rollback"],
        "CONFIG SET save \"900 1\"\nCONFIG SET appendonly no"
    );

    // A limit with noeviction refuses writes when full.
    cli(&redis, &["CONFIG", "SET", "maxmemory", "64mb"]);
    let report = analyze(&redis.url(), &["--role", "cache"]);
    let policy = finding(&report, "redis.maxmemory", "server");
    assert!(policy["title"].as_str().unwrap().contains("noeviction"));

    // Neither is a problem for a data store.
    let report = analyze(&redis.url(), &["--role", "store"]);
    assert!(findings(&report, "redis.maxmemory").is_empty());
    assert!(findings(&report, "redis.persistence").is_empty());
}

#[test]
fn slow_commands_are_found_without_their_values() {
    let redis = cache();
    cli(&redis, &["DEBUG", "SLEEP", "0.03"]);
    cli(&redis, &["SET", "user:42:token", "secret-token-value"]);
    cli(&redis, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    cli(&redis, &["GET", "user:42:token"]);
    let report = analyze(&redis.url(), &["--skip", "redis.no_ttl"]);
    let sleep = finding(&report, "redis.slowlog", "DEBUG SLEEP");
    assert!(evidence(sleep, "slowest") >= 30.0, "{sleep:#}");
    let get = finding(&report, "redis.slowlog", "GET");
    assert!(get["detail"].as_str().unwrap().contains("user:*:token"));
    let text = serde_json::to_string(&report).unwrap();
    assert!(!text.contains("secret-token-value"));
}

#[test]
fn the_analyzer_only_reads() {
    let redis = cache();
    lua(
        &redis,
        "for i=1,500 do redis.call('SET','user:'..i..':profile',string.rep('{\"a\":1}',300),'EX',600) end",
    );
    cli(&redis, &["SETRANGE", "feed:1", "2097151", "x"]);
    // A user that can read and inspect, and cannot write anything.
    cli(
        &redis,
        &[
            "ACL",
            "SETUSER",
            "reader",
            "on",
            ">read-only-pw",
            "~*",
            "+@read",
            "+scan",
            "+info",
            "+config|get",
            "+memory|usage",
            "+object|encoding",
            "+type",
            "+ttl",
            "+slowlog|get",
            "+ping",
            "+cluster|slots",
            "-@write",
        ],
    );
    cli(&redis, &["CONFIG", "RESETSTAT"]);
    let changes_before = info_field(&redis, "rdb_changes_since_last_save");
    let url = format!("redis://reader:read-only-pw@127.0.0.1:{}", redis.port());
    let report = analyze(&url, &["--compress-min-saved-mb", "0.1"]);
    assert!(
        report["skipped"].as_array().unwrap().is_empty(),
        "{report:#}"
    );
    assert_eq!(
        report["target"]["address"],
        format!("redis://reader@127.0.0.1:{}/0", redis.port())
    );
    finding(&report, "redis.big_key", "feed:*");
    finding(&report, "redis.compressible", "user:*:profile");

    // Nothing changed, and every command brisk sent is a read.
    assert_eq!(
        info_field(&redis, "rdb_changes_since_last_save"),
        changes_before
    );
    let stats = cli(&redis, &["INFO", "commandstats"]);
    let read_only = [
        "auth",
        "info",
        "config|get",
        "config|resetstat",
        "slowlog|get",
        "dbsize",
        "scan",
        "type",
        "memory|usage",
        "pttl",
        "object|encoding",
        "getrange",
    ];
    for line in stats.lines().filter(|l| l.starts_with("cmdstat_")) {
        let command = line["cmdstat_".len()..].split(':').next().unwrap();
        assert!(
            read_only.contains(&command),
            "brisk sent {command}, which is not on the read-only list: {line}"
        );
    }
    assert!(stats.contains("cmdstat_scan:"), "{stats}");
    assert!(
        !stats.contains("cmdstat_keys:"),
        "brisk must never use KEYS"
    );
}

#[test]
fn passwords_work_and_never_show() {
    let redis = Redis::start_with_password("s3cret-pw").unwrap();
    cli(&redis, &["SET", "config:flags", "x"]);
    let report = analyze(&redis.url(), &[]);
    assert_eq!(
        report["target"]["address"],
        format!("redis://127.0.0.1:{}/0", redis.port())
    );
    let line = assert_bad_input(
        &[
            "redis",
            &format!("redis://default:wrong-pw@127.0.0.1:{}", redis.port()),
        ],
        "refused the login",
    );
    assert!(!line.contains("wrong-pw"), "{line}");
}

#[test]
fn bad_input_is_one_line() {
    assert_bad_input(
        &["redis", "redis://127.0.0.1:1"],
        "cannot reach Redis at redis://127.0.0.1:1/0",
    );
    assert_bad_input(&["redis", "postgres://app@db/app"], "not a Redis URL");
    assert_bad_input(
        &["redis", "redis://u:pw@127.0.0.1:notaport"],
        "not a Redis URL",
    );
    assert_bad_input(
        &["redis", "redis://127.0.0.1:1", "--skip", "redis.nope"],
        "--skip redis.nope: no such check",
    );
    assert_bad_input(
        &[
            "redis",
            "redis://127.0.0.1:1",
            "--tls-ca",
            "/nonexistent/ca.pem",
        ],
        "cannot read the CA certificate /nonexistent/ca.pem",
    );
}

#[test]
fn sampling_reads_part_and_extrapolates() {
    let redis = cache();
    cli(&redis, &["DEBUG", "POPULATE", "20000", "item", "100"]);
    let report = analyze(&redis.url(), &["--sample", "5000", "--role", "store"]);
    let group = finding(&report, "redis.keyspace", "item:*");
    assert_eq!(evidence(group, "keys"), 5000.0);
    assert_eq!(evidence(group, "keys in the database"), 20000.0);
    let notes = report["notes"].to_string();
    assert!(notes.contains("Sampled 5,000 of 20,000 keys"), "{notes}");
}

#[test]
fn losing_the_server_mid_scan_says_how_far_the_scan_got() {
    let redis = Redis::start().unwrap();
    cli(&redis, &["DEBUG", "POPULATE", "400000", "k", "10"]);
    cli(&redis, &["CONFIG", "RESETSTAT"]);
    let child = Command::new(env!("CARGO_BIN_EXE_brisk"))
        .args(["redis", &redis.url(), "--format", "json"])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Stop the server once the scan is under way (a few SCAN calls answered).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stats = cli(&redis, &["INFO", "commandstats"]);
        let scans = stats
            .lines()
            .find_map(|l| l.strip_prefix("cmdstat_scan:calls="))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        if scans >= 5 {
            break;
        }
        assert!(Instant::now() < deadline, "the scan never started");
        std::thread::sleep(Duration::from_millis(2));
    }
    redis.shutdown();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("lost the connection to Redis at"),
        "{stderr}"
    );
    assert!(stderr.contains("of about 400000 keys"), "{stderr}");
    assert!(stderr.contains("--sample"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn a_redis_cluster_is_scanned_node_by_node() {
    let nodes = Redis::start_cluster(3).expect("a 3-node cluster starts");
    let mut commands = String::new();
    for i in 0..300 {
        commands.push_str(&format!("SET user:{i}:profile id-{i}\n"));
    }
    nodes[0]
        .cli_with_input(&["-c"], &commands)
        .expect("planting through the cluster");
    nodes[1]
        .cli(&["-c", "SETRANGE", "feed:7", "2097151", "x"])
        .unwrap();
    let report = analyze(&nodes[2].url(), &["--role", "cache"]);
    assert!(
        report["target"]["version"]
            .as_str()
            .unwrap()
            .contains("cluster of 3 primaries"),
        "{report:#}"
    );
    let users = finding(&report, "redis.keyspace", "user:*:profile");
    assert_eq!(evidence(users, "keys"), 300.0);
    finding(&report, "redis.big_key", "feed:*");
    assert_eq!(
        evidence(finding(&report, "redis.no_ttl", "user:*:profile"), "share"),
        100.0
    );
    // Server checks name their node.
    let limits = findings(&report, "redis.maxmemory");
    assert_eq!(limits.len(), 3, "{limits:#?}");
    assert!(limits.iter().all(|f| f["subject"]
        .as_str()
        .unwrap()
        .starts_with("node 127.0.0.1:")));
}

#[test]
fn text_output_and_list_checks() {
    let redis = cache();
    cli(&redis, &["SETRANGE", "feed:1", "2097151", "x"]);
    let output = brisk(&["redis", &redis.url()]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(text.contains("brisk redis  redis://127.0.0.1:"), "{text}");
    assert!(text.contains("redis.big_key"), "{text}");
    let output = brisk(&["redis", &redis.url(), "--fail-on", "warning"]);
    assert_eq!(output.status.code(), Some(1));

    let output = brisk(&["redis", "--list-checks"]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(text.lines().count(), 11, "{text}");
}

/// A CA and a server certificate for 127.0.0.1, made with the openssl tool.
fn write_certificates(dir: &std::path::Path) {
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let steps: [Vec<&str>; 3] = [
        [
            &["req", "-x509"][..],
            &ec,
            &[
                "-days",
                "2",
                "-subj",
                "/CN=brisk test CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
            ],
        ]
        .concat(),
        [
            &["req"][..],
            &ec,
            &[
                "-subj",
                "/CN=localhost",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ],
        ]
        .concat(),
        vec![
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ],
    ];
    for args in steps {
        let output = Command::new("openssl")
            .args(&args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn rediss_urls_verify_the_server_against_the_given_ca() {
    let certs = tempfile::tempdir().unwrap();
    write_certificates(certs.path());
    let tls_port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let file = |name: &str| certs.path().join(name).display().to_string();
    let (cert, key, ca) = (file("server.crt"), file("server.key"), file("ca.crt"));
    let redis = Redis::start_with_args(&[
        "--tls-port",
        &tls_port,
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
        "--tls-ca-cert-file",
        &ca,
        "--tls-auth-clients",
        "no",
    ])
    .expect("redis-server with TLS starts (Debian builds it with TLS)");
    cli(&redis, &["SET", "config:flags", "x"]);
    let url = format!("rediss://127.0.0.1:{tls_port}");
    let report = analyze(&url, &["--tls-ca", &ca]);
    assert_eq!(
        report["target"]["address"],
        format!("rediss://127.0.0.1:{tls_port}/0")
    );
    finding(&report, "redis.keyspace", "config:flags");

    // Without the CA, the system's roots do not trust the test CA.
    let line = assert_bad_input(&["redis", &url], "cannot reach Redis at rediss://127.0.0.1");
    assert!(line.to_lowercase().contains("certificate"), "{line}");
}
