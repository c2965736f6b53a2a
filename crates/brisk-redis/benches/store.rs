//! The cache store's benchmark, on a throwaway Redis from brisk-sandbox:
//!
//! - operations per second, pipelined (`set_many`/`get_many` in batches) against one at a
//!   time (`set_ex`/`get`, each awaited), with the in-process tier off so every read goes to
//!   Redis;
//! - the compression ratio and speed of the store's codecs on realistic JSON payloads.
//!
//! Run with `cargo bench -p brisk-redis --bench store` (scripts/bench-redis runs it too).

use std::time::{Duration, Instant};

use brisk_redis::codec::{decode, encode, Codec, CompressionPolicy};
use brisk_redis::store::{CacheStore, StoreOptions};
use brisk_redis::RedisTarget;

const OPERATIONS: usize = 20_000;
const BATCH: usize = 500;
const TTL: Duration = Duration::from_secs(600);

/// Payloads shaped like what web backends cache: product listing pages, user profiles,
/// small API responses, with the repetition real JSON has (same keys, similar values).
fn payloads() -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    for page in 0..200 {
        let items: Vec<String> = (0..40)
            .map(|i| {
                let id = page * 40 + i;
                format!(
                    r#"{{"id":{id},"sku":"SKU-{id:06}","name":"Product {id} in category {}","price":{}.{:02},"currency":"EUR","tags":["{}","{}"],"rating":{}.{},"in_stock":{},"updated_at":"2024-03-{:02}T10:{:02}:00Z"}}"#,
                    id % 17,
                    (id * 7) % 300,
                    id % 100,
                    ["new", "sale", "popular"][id % 3],
                    ["eco", "premium", "basic", "kids"][id % 4],
                    id % 5,
                    id % 10,
                    id % 3 != 0,
                    id % 28 + 1,
                    id % 60
                )
            })
            .collect();
        out.push((
            "product page (40 items)",
            format!(
                r#"{{"page":{page},"per_page":40,"total":8000,"items":[{}]}}"#,
                items.join(",")
            )
            .into_bytes(),
        ));
    }
    for user in 0..500 {
        let posts: Vec<String> = (0..8)
            .map(|p| {
                format!(
                    r#"{{"id":{},"title":"Post {p} by user {user}","likes":{},"created_at":"2024-01-{:02}T08:00:00Z"}}"#,
                    user * 10 + p,
                    (user * p) % 97,
                    p + 1
                )
            })
            .collect();
        out.push((
            "user profile",
            format!(
                r#"{{"id":{user},"username":"user{user}","email":"user{user}@example.com","display_name":"User Number {user}","locale":"en-GB","timezone":"Europe/Berlin","roles":["member"],"settings":{{"theme":"dark","notifications":{{"email":true,"push":false}}}},"recent_posts":[{}]}}"#,
                posts.join(",")
            )
            .into_bytes(),
        ));
    }
    for id in 0..500 {
        out.push((
            "small response",
            format!(r#"{{"id":{id},"status":"ok","count":{}}}"#, id * 3).into_bytes(),
        ));
    }
    out
}

fn per_second(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

fn main() {
    let redis =
        brisk_sandbox::Redis::start().expect("a sandbox Redis starts (install redis-server)");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let target = RedisTarget::parse(&redis.url()).expect("sandbox URL");
        let mut options = StoreOptions::new("bench");
        options.local_capacity_bytes = 0;
        let store = CacheStore::connect(&target, options).await.expect("connect");

        let keys: Vec<String> = (0..OPERATIONS).map(|i| format!("user:{i}")).collect();
        let value = br#"{"id":1,"name":"Ada","plan":"pro"}"#;

        let started = Instant::now();
        for key in &keys {
            store.set_ex(key, value, TTL).await.expect("set_ex");
        }
        let set_one = per_second(OPERATIONS, started.elapsed());

        let started = Instant::now();
        for chunk in keys.chunks(BATCH) {
            let items: Vec<(&str, &[u8])> = chunk.iter().map(|k| (k.as_str(), &value[..])).collect();
            store.set_many(&items, TTL).await.expect("set_many");
        }
        let set_many = per_second(OPERATIONS, started.elapsed());

        let started = Instant::now();
        for key in &keys {
            store.get(key).await.expect("get");
        }
        let get_one = per_second(OPERATIONS, started.elapsed());

        let started = Instant::now();
        for chunk in keys.chunks(BATCH) {
            let batch: Vec<&str> = chunk.iter().map(String::as_str).collect();
            store.get_many(&batch).await.expect("get_many");
        }
        let get_many = per_second(OPERATIONS, started.elapsed());

        println!("store operations, {OPERATIONS} keys, small JSON values, batches of {BATCH}, local tier off:");
        println!("  set_ex one at a time   {set_one:>10.0} ops/s");
        println!("  set_many pipelined     {set_many:>10.0} ops/s  ({:.1}x)", set_many / set_one);
        println!("  get one at a time      {get_one:>10.0} ops/s");
        println!("  get_many (one MGET)    {get_many:>10.0} ops/s  ({:.1}x)", get_many / get_one);
    });

    let payloads = payloads();
    println!(
        "compression on {} JSON payloads (min size 1 KiB, kept when it saves 20%):",
        payloads.len()
    );
    for (name, codec) in [
        ("zstd level 3", Codec::Zstd { level: 3 }),
        ("lz4", Codec::Lz4),
    ] {
        let policy = CompressionPolicy {
            codec,
            ..CompressionPolicy::default()
        };
        // Per kind: count, raw bytes, stored bytes.
        let mut kinds: Vec<(&str, u64, u64, u64)> = Vec::new();
        let started = Instant::now();
        let stored: Vec<Vec<u8>> = payloads.iter().map(|(_, p)| encode(p, &policy)).collect();
        let encode_time = started.elapsed();
        let started = Instant::now();
        for s in &stored {
            decode("bench", s).expect("decode");
        }
        let decode_time = started.elapsed();
        for ((kind, raw), s) in payloads.iter().zip(&stored) {
            match kinds.iter_mut().find(|k| k.0 == *kind) {
                Some(entry) => {
                    entry.1 += 1;
                    entry.2 += raw.len() as u64;
                    entry.3 += s.len() as u64;
                }
                None => kinds.push((kind, 1, raw.len() as u64, s.len() as u64)),
            }
        }
        let raw: u64 = kinds.iter().map(|k| k.2).sum();
        let total: u64 = kinds.iter().map(|k| k.3).sum();
        println!(
            "  {name:<13} all: {raw} -> {total} bytes, ratio {:.2}, saves {:.0}%; encode {:.0} MiB/s, decode {:.0} MiB/s",
            raw as f64 / total as f64,
            100.0 * (1.0 - total as f64 / raw as f64),
            raw as f64 / 1048576.0 / encode_time.as_secs_f64(),
            raw as f64 / 1048576.0 / decode_time.as_secs_f64(),
        );
        for (kind, count, raw, total) in kinds {
            println!(
                "    {kind:<24} {count:>4} x {:>5} B on average: ratio {:.2} (header byte included)",
                raw / count,
                raw as f64 / total as f64
            );
        }
    }
}
