//! `SHOW CACHE CANDIDATES`: which read shapes would save the most time if cached, from the
//! proxy's own query statistics, and why the others cannot be.
//!
//! A cached read saves its mean time on every hit. A write on one of its tables (the
//! version keys a write bumps: its tables, cascades, triggers' tables, or the database
//! epoch) invalidates its entries, so at best every write costs one miss. The estimate:
//! hits = calls × read fraction, where the read fraction is calls / (calls + writes on its
//! tables) over the same statistics window; saved = hits × mean time. It ignores TTL
//! expiries and the spread of parameter values (each value is its own entry), so it is an
//! upper bound, good for ranking.

use std::collections::HashMap;
use std::time::Duration;

use super::{Cache, EPOCH};
use crate::observe::QuerySummary;

/// One uncached read shape.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub database: String,
    pub fingerprint: u64,
    pub calls: u64,
    pub mean: Duration,
    /// Calls of write shapes that bump a version key this shape depends on.
    pub table_writes: u64,
    pub read_fraction: f64,
    /// Time the cache would have saved over the window; zero when refused.
    pub saved: Duration,
    /// Why it cannot be cached (brisk-sql's or the catalog's reason).
    pub refused: Option<String>,
    pub query: String,
}

impl Cache {
    /// Ranks the read shapes of `queries` (the statistics' snapshot) that are not opted in:
    /// cacheable ones by time saved, largest first, then refused ones by calls.
    pub fn candidates(&self, queries: &[QuerySummary]) -> Vec<Candidate> {
        // Calls of writes per version key, per database.
        let mut writes: HashMap<(String, String), u64> = HashMap::new();
        for q in queries {
            let classified = self.classified(&q.query);
            if let Some(keys) = self.keys_written(&q.database, std::slice::from_ref(&classified)) {
                for key in keys {
                    *writes.entry((q.database.to_string(), key)).or_insert(0) += q.calls;
                }
            }
        }
        let opted: Vec<u64> = self.shapes().iter().map(|s| s.0).collect();
        let mut candidates = Vec::new();
        for q in queries {
            let classified = self.classified(&q.query);
            let (Some(read), Some(fingerprint)) = (&classified.read, classified.fingerprint) else {
                continue;
            };
            if opted.contains(&fingerprint) || q.calls == 0 {
                continue;
            }
            let keys = match read {
                Err(reason) => Err(format!("not cacheable: {reason}")),
                Ok((tables, functions)) => match self.catalog(&q.database) {
                    None => Err("catalog not read yet".to_string()),
                    Some(catalog) => catalog.read_keys(tables, functions),
                },
            };
            let mut candidate = Candidate {
                database: q.database.to_string(),
                fingerprint,
                calls: q.calls,
                mean: q.mean(),
                table_writes: 0,
                read_fraction: 0.0,
                saved: Duration::ZERO,
                refused: None,
                query: q.query.to_string(),
            };
            match keys {
                Err(reason) => candidate.refused = Some(reason),
                Ok(mut keys) => {
                    keys.push(EPOCH.to_string());
                    candidate.table_writes = keys
                        .iter()
                        .map(|k| {
                            let key = super::table_key(&q.database, k);
                            writes
                                .get(&(q.database.to_string(), key))
                                .copied()
                                .unwrap_or(0)
                        })
                        .sum();
                    candidate.read_fraction =
                        q.calls as f64 / (q.calls + candidate.table_writes) as f64;
                    candidate.saved = candidate
                        .mean
                        .mul_f64(q.calls as f64 * candidate.read_fraction);
                }
            }
            candidates.push(candidate);
        }
        candidates.sort_by(|a, b| {
            (
                a.refused.is_some(),
                std::cmp::Reverse(a.saved),
                std::cmp::Reverse(a.calls),
            )
                .cmp(&(
                    b.refused.is_some(),
                    std::cmp::Reverse(b.saved),
                    std::cmp::Reverse(b.calls),
                ))
        });
        candidates
    }
}
