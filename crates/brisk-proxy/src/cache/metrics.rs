//! The result cache's `/metrics` families.

use std::sync::atomic::Ordering;

use crate::metrics::{family, sample};
use crate::proxy::Shared;

pub fn write(out: &mut String, shared: &Shared) {
    let Some(cache) = &shared.cache else {
        return;
    };
    let totals = &cache.totals;
    family(
        out,
        "brisk_cache_hits_total",
        "counter",
        "Queries answered from the result cache, by the tier that held the entry.",
    );
    let hits = totals.hits.load(Ordering::Relaxed);
    let redis_hits = totals.redis_hits.load(Ordering::Relaxed);
    for (tier, n) in [
        ("local", hits.saturating_sub(redis_hits)),
        ("redis", redis_hits),
    ] {
        sample(out, "brisk_cache_hits_total", &[("tier", tier)], n as f64);
    }
    let counters: [(&str, &str, u64); 5] = [
        (
            "brisk_cache_writes_allowed_total",
            "Writes let through unannounced while the version store was down (on_store_down = \"allow-writes\").",
            totals.writes_allowed_store_down.load(Ordering::Relaxed),
        ),
        (
            "brisk_cache_misses_total",
            "Cacheable queries sent to the server to fill the cache.",
            totals.misses.load(Ordering::Relaxed),
        ),
        (
            "brisk_cache_fill_rejections_total",
            "Answers not stored: a write moved their tables' versions meanwhile.",
            totals.fill_rejections.load(Ordering::Relaxed),
        ),
        (
            "brisk_cache_redis_errors_total",
            "Version store calls that failed or timed out (the cache is bypassed).",
            totals.redis_errors.load(Ordering::Relaxed),
        ),
        (
            "brisk_cache_write_refusals_total",
            "Writes not sent because the version store could not be told.",
            totals.write_refusals.load(Ordering::Relaxed),
        ),
    ];
    for (name, help, value) in counters {
        family(out, name, "counter", help);
        sample(out, name, &[], value as f64);
    }
    family(
        out,
        "brisk_cache_bypasses_total",
        "counter",
        "Opted-in queries not served from the cache, by reason.",
    );
    for (reason, n) in cache.bypasses() {
        sample(
            out,
            "brisk_cache_bypasses_total",
            &[("reason", &reason)],
            n as f64,
        );
    }
    family(
        out,
        "brisk_cache_invalidations_total",
        "counter",
        "Version bumps after writes, by table.",
    );
    for (table, n) in cache.invalidations() {
        sample(
            out,
            "brisk_cache_invalidations_total",
            &[("table", &table)],
            n as f64,
        );
    }
    family(
        out,
        "brisk_cache_bytes",
        "gauge",
        "Bytes held by the in-process cache tier.",
    );
    sample(out, "brisk_cache_bytes", &[], cache.entry_bytes() as f64);
    family(
        out,
        "brisk_cache_redis_entry_bytes_total",
        "counter",
        "Bytes of Redis-tier entries read and written, before compression.",
    );
    for (direction, n) in [
        ("read", &totals.redis_entry_bytes_read),
        ("written", &totals.redis_entry_bytes_written),
    ] {
        sample(
            out,
            "brisk_cache_redis_entry_bytes_total",
            &[("direction", direction)],
            n.load(Ordering::Relaxed) as f64,
        );
    }
    let name = "brisk_cache_redis_round_trip_seconds";
    family(
        out,
        name,
        "histogram",
        "Redis round trips of the cache (version checks with the Redis tier's entry, bumps, entry writes).",
    );
    let mut cumulative = 0;
    for (le, n) in super::tier::RTT_BUCKETS
        .iter()
        .zip(&totals.redis_round_trip_buckets)
    {
        cumulative += n.load(Ordering::Relaxed);
        sample(
            out,
            &format!("{name}_bucket"),
            &[("le", &le.to_string())],
            cumulative as f64,
        );
    }
    let trips = totals.redis_round_trips.load(Ordering::Relaxed);
    sample(
        out,
        &format!("{name}_bucket"),
        &[("le", "+Inf")],
        trips as f64,
    );
    sample(
        out,
        &format!("{name}_sum"),
        &[],
        totals.redis_round_trip_us.load(Ordering::Relaxed) as f64 / 1e6,
    );
    sample(out, &format!("{name}_count"), &[], trips as f64);
    family(
        out,
        "brisk_cache_store_up",
        "gauge",
        "1 when the last version store call succeeded; 0 means the cache is bypassed.",
    );
    sample(
        out,
        "brisk_cache_store_up",
        &[],
        if cache.store_up() { 1.0 } else { 0.0 },
    );
    if cache.config.follow.is_some() {
        super::follow::write_metrics(out, &cache.follow);
    }
}
