//! The cache store against real Redis servers from brisk-sandbox, one server and a
//! 3-node Redis Cluster.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use brisk_redis::store::{CacheStore, StoreOptions};
use brisk_redis::{Error, RedisTarget};
use brisk_sandbox::Redis;
use futures_util::future::join_all;

const MINUTE: Duration = Duration::from_secs(60);

async fn store_on(redis: &Redis, options: StoreOptions) -> CacheStore {
    let target = RedisTarget::parse(&redis.url()).unwrap();
    CacheStore::connect(&target, options).await.unwrap()
}

fn cli(redis: &Redis, args: &[&str]) -> String {
    redis.cli(args).unwrap().trim().to_string()
}

/// A realistic API response: a page of products, about 6 KiB of JSON.
fn products_json(page: usize) -> Vec<u8> {
    let items: Vec<String> = (0..40)
        .map(|i| {
            format!(
                r#"{{"id":{},"sku":"SKU-{:06}","name":"Product {}","price":{}.99,"tags":["new","sale"],"in_stock":{}}}"#,
                page * 100 + i,
                page * 100 + i,
                i,
                i * 3,
                i % 3 != 0
            )
        })
        .collect();
    format!(r#"{{"page":{page},"items":[{}]}}"#, items.join(",")).into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_operations_round_trip_in_one_pipeline() {
    let redis = Redis::start().unwrap();
    let store = store_on(&redis, StoreOptions::new("app")).await;
    let values: Vec<(String, Vec<u8>)> = (0..100)
        .map(|i| (format!("user:{i}"), format!("profile {i}").into_bytes()))
        .collect();
    let items: Vec<(&str, &[u8])> = values
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_slice()))
        .collect();
    store.set_many(&items, MINUTE).await.unwrap();
    assert_eq!(cli(&redis, &["DBSIZE"]), "100");
    let ttl: i64 = cli(&redis, &["TTL", "app:user:7"]).parse().unwrap();
    assert!((1..=60).contains(&ttl), "{ttl}");

    let got = store
        .get_many(&["user:1", "user:99", "user:missing"])
        .await
        .unwrap();
    assert_eq!(got[0].as_deref(), Some(&b"profile 1"[..]));
    assert_eq!(got[1].as_deref(), Some(&b"profile 99"[..]));
    assert_eq!(got[2], None);

    let keys: Vec<&str> = values.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(store.delete_many(&keys).await.unwrap(), 100);
    // The in-process tier forgot them too.
    assert_eq!(store.get("user:1").await.unwrap(), None);
    assert_eq!(cli(&redis, &["DBSIZE"]), "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_do_not_collide() {
    let redis = Redis::start().unwrap();
    let billing = store_on(&redis, StoreOptions::new("billing")).await;
    let search = billing.namespace("search");
    billing.set_ex("config", b"a", MINUTE).await.unwrap();
    search.set_ex("config", b"b", MINUTE).await.unwrap();
    assert_eq!(billing.get("config").await.unwrap().unwrap(), b"a");
    assert_eq!(search.get("config").await.unwrap().unwrap(), b"b");
    assert_eq!(cli(&redis, &["GET", "search:config"]).len(), 2); // header byte + "b"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_values_are_stored_compressed_behind_a_header_byte() {
    let redis = Redis::start().unwrap();
    let zstd = store_on(&redis, StoreOptions::new("z")).await;
    let mut lz4_options = StoreOptions::new("l");
    lz4_options.compression.codec = brisk_redis::codec::Codec::Lz4;
    let lz4 = store_on(&redis, lz4_options).await;
    let json = products_json(1);
    zstd.set_ex("page:1", &json, MINUTE).await.unwrap();
    lz4.set_ex("page:1", &json, MINUTE).await.unwrap();
    zstd.set_ex("small", b"{\"id\":1}", MINUTE).await.unwrap();

    let stored: usize = cli(&redis, &["STRLEN", "z:page:1"]).parse().unwrap();
    assert!(stored * 4 < json.len(), "zstd {stored} of {}", json.len());
    let stored: usize = cli(&redis, &["STRLEN", "l:page:1"]).parse().unwrap();
    assert!(stored * 2 < json.len(), "lz4 {stored} of {}", json.len());
    // Small values are kept as they are, after one header byte.
    assert_eq!(cli(&redis, &["STRLEN", "z:small"]), "9");

    // A fresh store (empty in-process tier) decodes what Redis holds.
    let reader = store_on(&redis, StoreOptions::new("z")).await;
    assert_eq!(reader.get("page:1").await.unwrap().unwrap(), json);
    assert_eq!(
        reader.namespace("l").get("page:1").await.unwrap().unwrap(),
        json
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_written_by_something_else_are_an_error_not_a_panic() {
    let redis = Redis::start().unwrap();
    cli(
        &redis,
        &["SET", "app:legacy", "plain text from another client"],
    );
    let store = store_on(&redis, StoreOptions::new("app")).await;
    let error = store.get("legacy").await.unwrap_err();
    assert!(matches!(error, Error::CorruptValue { .. }), "{error}");
    assert!(error.to_string().contains("app:legacy"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidating_a_tag_is_one_command_whatever_its_entries() {
    let redis = Redis::start().unwrap();
    let store = store_on(&redis, StoreOptions::new("app")).await;
    for i in 0..200 {
        let key = format!("user:{i}");
        store
            .set_tagged(&key, b"v", MINUTE, &["users", "tenant:1"])
            .await
            .unwrap();
    }
    store
        .set_tagged("plan:gold", b"p", MINUTE, &["plans"])
        .await
        .unwrap();
    assert_eq!(
        store
            .get_tagged("user:5", &["users", "tenant:1"])
            .await
            .unwrap()
            .as_deref(),
        Some(&b"v"[..])
    );
    // Tag order does not matter.
    assert!(store
        .get_tagged("user:5", &["tenant:1", "users"])
        .await
        .unwrap()
        .is_some());

    cli(&redis, &["CONFIG", "RESETSTAT"]);
    store.invalidate_tag("users").await.unwrap();
    let stats = cli(&redis, &["INFO", "commandstats"]);
    assert!(stats.contains("cmdstat_incr:calls=1,"), "{stats}");
    assert!(!stats.contains("cmdstat_del"), "{stats}");
    assert!(!stats.contains("cmdstat_unlink"), "{stats}");

    for i in [0, 5, 199] {
        let key = format!("user:{i}");
        assert_eq!(
            store
                .get_tagged(&key, &["users", "tenant:1"])
                .await
                .unwrap(),
            None
        );
    }
    assert!(store
        .get_tagged("plan:gold", &["plans"])
        .await
        .unwrap()
        .is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_or_compute_computes_each_key_once_at_a_time() {
    let redis = Redis::start().unwrap();
    let store = store_on(&redis, StoreOptions::new("app")).await;
    // A second store stands for another process: its own single-flight map and local tier.
    let other = store_on(&redis, StoreOptions::new("app")).await;
    let computed = Arc::new(AtomicUsize::new(0));
    let callers = (0..32).map(|i| {
        let store = if i % 2 == 0 { &store } else { &other };
        let computed = computed.clone();
        async move {
            store
                .get_or_compute("report:2024", MINUTE, &["reports"], || async move {
                    computed.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Ok::<_, Error>(b"expensive".to_vec())
                })
                .await
        }
    });
    let results = join_all(callers).await;
    assert_eq!(computed.load(Ordering::SeqCst), 1);
    for result in results {
        assert_eq!(result.unwrap(), b"expensive");
    }
    // The lock is released, and the value is cached.
    assert_eq!(cli(&redis, &["EXISTS", "app:_lock:report:2024"]), "0");
    let again = store
        .get_or_compute("report:2024", MINUTE, &["reports"], || async {
            Ok::<_, Error>(b"recomputed".to_vec())
        })
        .await
        .unwrap();
    assert_eq!(again, b"expensive");

    // After the tag is invalidated, the next call computes again.
    store.invalidate_tag("reports").await.unwrap();
    let fresh = store
        .get_or_compute("report:2024", MINUTE, &["reports"], || async {
            Ok::<_, Error>(b"recomputed".to_vec())
        })
        .await
        .unwrap();
    assert_eq!(fresh, b"recomputed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_process_tier_serves_reads_for_at_most_its_ttl() {
    let redis = Redis::start().unwrap();
    let mut options = StoreOptions::new("app");
    options.local_ttl = Duration::from_millis(300);
    let store = store_on(&redis, options).await;
    store.set_ex("hot", b"v1", MINUTE).await.unwrap();
    cli(&redis, &["CONFIG", "RESETSTAT"]);
    for _ in 0..100 {
        assert_eq!(store.get("hot").await.unwrap().unwrap(), b"v1");
    }
    let stats = cli(&redis, &["INFO", "commandstats"]);
    assert!(!stats.contains("cmdstat_mget"), "served locally: {stats}");

    // Another client deletes it: visible once the local entry expires.
    cli(&redis, &["DEL", "app:hot"]);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(store.get("hot").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_cluster_works_across_slots() {
    let nodes = Redis::start_cluster(3).unwrap();
    let store = store_on(&nodes[0], StoreOptions::new("app")).await;
    let values: Vec<(String, Vec<u8>)> = (0..300)
        .map(|i| (format!("page:{i}"), products_json(i)))
        .collect();
    let items: Vec<(&str, &[u8])> = values
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_slice()))
        .collect();
    store.set_many(&items, MINUTE).await.unwrap();
    let per_node: Vec<u64> = nodes
        .iter()
        .map(|n| cli(n, &["DBSIZE"]).parse().unwrap())
        .collect();
    assert_eq!(per_node.iter().sum::<u64>(), 300);
    assert!(per_node.iter().all(|n| *n > 0), "{per_node:?}");

    let fresh = store_on(&nodes[1], StoreOptions::new("app")).await;
    let keys: Vec<&str> = values.iter().map(|(k, _)| k.as_str()).collect();
    let got = fresh.get_many(&keys).await.unwrap();
    for ((_, value), got) in values.iter().zip(&got) {
        assert_eq!(got.as_deref(), Some(value.as_slice()));
    }

    fresh
        .set_tagged("user:1", b"u", MINUTE, &["users"])
        .await
        .unwrap();
    fresh.invalidate_tag("users").await.unwrap();
    assert_eq!(fresh.get_tagged("user:1", &["users"]).await.unwrap(), None);
    let computed = fresh
        .get_or_compute("report", MINUTE, &[], || async {
            Ok::<_, Error>(b"r".to_vec())
        })
        .await
        .unwrap();
    assert_eq!(computed, b"r");

    assert_eq!(store.delete_many(&keys).await.unwrap(), 300);
}
