//! Fingerprinting on the proxy's hot path: the shape-key cache against pg_query alone.
//!
//! Issue 3's targets: at least 1M fingerprints per second on one core for repeated query
//! shapes (the cache hit path), and an uncached cost no worse than pg_query's own.
//!
//!     cargo bench -p brisk-sql --bench fingerprint

use std::hint::black_box;

use brisk_sql::{fingerprint, normalize_into, shape_key_into, FingerprintCache};

/// pg_query alone, the baseline: libpg_query's parser and fingerprint.
fn pg_query_fingerprint(sql: &str) -> Option<u64> {
    pg_query::fingerprint(sql).ok().map(|f| f.value)
}
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

/// Query shapes as apps send them: an ORM point lookup, a join with an IN list, a
/// multi-row insert and an analytic query.
fn workload(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match i % 4 {
            0 => format!(
                "SELECT \"users\".\"id\", \"users\".\"email\" FROM \"users\" WHERE \"users\".\"id\" = {i} LIMIT 21"
            ),
            1 => format!(
                "SELECT m.id, m.body, c.title FROM messages m JOIN conversations c ON c.id = m.conversation_id \
                 WHERE m.conversation_id IN ({i}, {}, {}) AND m.created_at > '2026-11-0{} 00:00' ORDER BY m.created_at DESC LIMIT 50",
                i + 1,
                i + 2,
                i % 9 + 1
            ),
            2 => format!(
                "INSERT INTO events (kind, payload, at) VALUES ('login', '{{\"user\": {i}}}', now()), ('view', '{{\"page\": {}}}', now())",
                i * 7
            ),
            _ => format!(
                "SELECT l_returnflag, l_linestatus, sum(l_quantity) AS sum_qty, avg(l_extendedprice) FROM lineitem \
                 WHERE l_shipdate <= date '1998-12-01' - interval '{} day' GROUP BY l_returnflag, l_linestatus ORDER BY 1, 2",
                60 + i % 60
            ),
        })
        .collect()
}

fn cached(c: &mut Criterion) {
    let queries = workload(4096);
    let mut group = c.benchmark_group("fingerprint");
    group.throughput(Throughput::Elements(queries.len() as u64));

    group.bench_function("pg_query", |b| {
        b.iter(|| {
            for q in &queries {
                black_box(pg_query_fingerprint(q));
            }
        })
    });

    // Four shapes, 4096 different texts: every lookup after the first four is a hit.
    group.bench_function("cache, repeated shapes", |b| {
        let mut cache = FingerprintCache::new(4096);
        b.iter(|| {
            for q in &queries {
                black_box(cache.fingerprint(q).ok());
            }
        })
    });

    // A new shape every time: the key, pg_query and the insert.
    let unique: Vec<String> = queries
        .iter()
        .enumerate()
        .map(|(i, q)| {
            q.replacen("SELECT ", &format!("SELECT {i} AS c{i}, "), 1)
                .replacen(
                    "INSERT INTO events (",
                    &format!("INSERT INTO events{i} ("),
                    1,
                )
        })
        .collect();
    group.bench_function("cache, every shape new", |b| {
        b.iter_batched(
            || FingerprintCache::new(8192),
            |mut cache| {
                for q in &unique {
                    black_box(cache.fingerprint(q).ok());
                }
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("pg_query, same new shapes", |b| {
        b.iter(|| {
            for q in &unique {
                black_box(pg_query_fingerprint(q));
            }
        })
    });
    // brisk_sql::fingerprint without a cache: the subset's parser on the text as sent.
    group.bench_function("no cache, same new shapes", |b| {
        b.iter(|| {
            for q in &unique {
                black_box(fingerprint(q).ok());
            }
        })
    });
    group.finish();

    // ORM batches: a prefetch with 200 ids, a bulk insert of 50 rows. A miss parses the
    // key, with one id and one row, instead of the whole text.
    let batches: Vec<String> = (0..512)
        .map(|i| {
            if i % 2 == 0 {
                let ids: Vec<String> = (0..200).map(|n| (i * 1000 + n).to_string()).collect();
                format!(
                    "SELECT \"app_message\".\"id\", \"app_message\".\"body\" AS c{i} FROM \"app_message\" \
                     WHERE \"app_message\".\"conversation_id\" IN ({})",
                    ids.join(", ")
                )
            } else {
                let rows: Vec<String> = (0..50)
                    .map(|n| format!("({n}, 'event {n} of batch {i}', now())"))
                    .collect();
                format!("INSERT INTO events{i} (seq, body, at) VALUES {}", rows.join(", "))
            }
        })
        .collect();
    let mut group = c.benchmark_group("fingerprint, ORM batches");
    group.throughput(Throughput::Elements(batches.len() as u64));
    group.bench_function("pg_query", |b| {
        b.iter(|| {
            for q in &batches {
                black_box(pg_query_fingerprint(q));
            }
        })
    });
    group.bench_function("cache, every shape new", |b| {
        b.iter_batched(
            || FingerprintCache::new(1024),
            |mut cache| {
                for q in &batches {
                    black_box(cache.fingerprint(q).ok());
                }
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn pre_normalizer(c: &mut Criterion) {
    let queries = workload(4096);
    let mut group = c.benchmark_group("pre-normalizer");
    group.throughput(Throughput::Elements(queries.len() as u64));
    group.bench_function("shape key", |b| {
        let mut key = String::with_capacity(512);
        b.iter(|| {
            for q in &queries {
                shape_key_into(q, &mut key);
                black_box(&key);
            }
        })
    });
    group.bench_function("normalize", |b| {
        let mut out = String::with_capacity(512);
        b.iter(|| {
            for q in &queries {
                normalize_into(q, &mut out);
                black_box(&out);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, cached, pre_normalizer);
criterion_main!(benches);
