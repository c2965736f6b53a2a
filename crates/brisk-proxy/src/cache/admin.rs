//! Admin console commands of the result cache: `SHOW CACHE`, `SHOW CACHE CANDIDATES`,
//! `CACHE fingerprint [TTL]`, `UNCACHE fingerprint`.

use std::sync::Arc;
use std::time::Duration;

use crate::admin::Table;
use crate::proxy::Shared;

use super::config::parse_fingerprint;
use super::Cache;

fn enabled(shared: &Shared) -> Result<&Arc<Cache>, String> {
    shared
        .cache
        .as_ref()
        .ok_or_else(|| "the result cache is off: set [cache] enabled = true and restart".into())
}

/// One row per opted-in shape, then one `bypass` row per reason across all statements.
pub(crate) fn show(shared: &Shared) -> Result<Table, String> {
    let cache = enabled(shared)?;
    let mut rows = Vec::new();
    for (fingerprint, ttl, source, stats) in cache.shapes() {
        let bypasses: Vec<String> = stats
            .bypasses
            .iter()
            .map(|(reason, n)| format!("{reason}: {n}"))
            .collect();
        rows.push(vec![
            Some(format!("{fingerprint:016x}")),
            Some(source.to_string()),
            Some(format!("{}", ttl.as_secs_f64())),
            Some(cache.config.tier.name().to_string()),
            Some(stats.hits.to_string()),
            Some(stats.redis_hits.to_string()),
            Some(stats.misses.to_string()),
            Some(bypasses.join("; ")),
            Some(stats.fill_rejections.to_string()),
            Some(stats.invalidations.to_string()),
            Some(stats.bytes.to_string()),
        ]);
    }
    Ok(Table {
        columns: vec![
            "fingerprint",
            "source",
            "ttl_s",
            "tier",
            "hits",
            "redis_hits",
            "misses",
            "bypasses",
            "fill_rejections",
            "invalidations",
            "bytes",
        ],
        rows,
    })
}

/// Uncached read shapes by the time caching them would save (see `candidates`), then the
/// refused ones with their reason.
pub(crate) async fn candidates(shared: &Shared, settle: Duration) -> Result<Table, String> {
    let cache = enabled(shared)?;
    let observer = shared.observer.as_ref().ok_or_else(|| {
        "SHOW CACHE CANDIDATES ranks shapes from the query statistics, which are off (query_stats = false)".to_string()
    })?;
    observer.settle(settle).await;
    let snapshot = observer.queries();
    let ms = |d: Duration| Some(format!("{:.3}", d.as_secs_f64() * 1000.0));
    let rows = cache
        .candidates(&snapshot.queries)
        .into_iter()
        .map(|c| {
            let cacheable = c.refused.is_none();
            vec![
                Some(c.database),
                Some(format!("{:016x}", c.fingerprint)),
                Some(c.calls.to_string()),
                ms(c.mean),
                cacheable.then(|| c.table_writes.to_string()),
                cacheable.then(|| format!("{:.3}", c.read_fraction)),
                cacheable.then(|| ms(c.saved)).flatten(),
                c.refused,
                Some(c.query),
            ]
        })
        .collect();
    Ok(Table {
        columns: vec![
            "database",
            "fingerprint",
            "calls",
            "mean_ms",
            "table_writes",
            "read_fraction",
            "saved_ms",
            "refused",
            "query",
        ],
        rows,
    })
}

pub(crate) fn cache(shared: &Shared, fingerprint: &str, rest: &[&str]) -> Result<(), String> {
    let cache = enabled(shared)?;
    let fingerprint = parse_fingerprint(fingerprint)?;
    let ttl = match rest {
        [] => None,
        [ttl] => Some(
            ttl.parse::<f64>()
                .ok()
                .filter(|t| *t > 0.0)
                .and_then(|t| Duration::try_from_secs_f64(t).ok())
                .ok_or_else(|| format!("\"{ttl}\" is not a positive number of seconds"))?,
        ),
        _ => return Err("usage: CACHE fingerprint [TTL seconds]".into()),
    };
    cache.opt_in(fingerprint, ttl, "admin");
    Ok(())
}

pub(crate) fn uncache(shared: &Shared, fingerprint: &str) -> Result<(), String> {
    let cache = enabled(shared)?;
    let fingerprint = parse_fingerprint(fingerprint)?;
    if cache.opt_out(fingerprint) {
        Ok(())
    } else {
        Err(format!(
            "{fingerprint:016x} is not a cached shape (SHOW CACHE)"
        ))
    }
}
