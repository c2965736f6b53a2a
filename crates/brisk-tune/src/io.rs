//! The I/O evidence: `wal_buffers_full` (`pg_stat_wal`, 14+) for the `wal-buffers` rule, and
//! `pg_stat_io` (16+) for the cache-hit rule's ratio without the ring buffers.

use brisk_report::{Evidence, Unit};

use crate::live::IoRow;
use crate::rules::{bytes, count, Proposals};
use crate::value::{format_kb, Value};
use crate::Confidence;

/// One WAL segment: PostgreSQL's own automatic maximum for wal_buffers (1/32 of
/// shared_buffers, at most a segment) and PGTune's.
pub const WAL_SEGMENT_KB: u64 = 16 << 10;

/// Past a segment, more wal_buffers helps only under heavy concurrent writes; Robert Haas's
/// measurements ("Tuning wal_buffers", 2012) still gained up to 64 MB, not beyond.
pub const WAL_BUFFERS_MAX_KB: u64 = 64 << 10;

/// The wal_buffers in force in kB: the setting, or for -1 PostgreSQL's automatic 1/32 of
/// shared_buffers between 64 kB and a segment.
pub fn wal_buffers_in_force_kb(setting_kb: Option<u64>, shared_buffers_kb: u64) -> u64 {
    setting_kb.unwrap_or_else(|| (shared_buffers_kb / 32).clamp(64, WAL_SEGMENT_KB))
}

/// What wal_buffers should be after it filled during the sample: a segment, then twice the
/// current value up to [`WAL_BUFFERS_MAX_KB`]. `None` when it is already there.
pub fn wal_buffers_proposal_kb(current_kb: u64) -> Option<u64> {
    let proposed = if current_kb < WAL_SEGMENT_KB {
        WAL_SEGMENT_KB
    } else {
        (current_kb * 2).min(WAL_BUFFERS_MAX_KB)
    };
    (proposed > current_kb).then_some(proposed)
}

/// The `wal-buffers` rule: backends found the WAL buffers full during the sample and had
/// to write WAL themselves, which PostgreSQL's docs (WAL configuration) name as the sign
/// wal_buffers is too small.
pub(crate) fn wal_buffers(t: &mut Proposals) {
    let facts = t.facts;
    let Some((start, end)) = facts.activity.wal_buffers_full else {
        if facts.version_num < 140_000 {
            t.notes.push(
                "wal_buffers_full (pg_stat_wal) needs PostgreSQL 14; wal_buffers stays PGTune's"
                    .to_string(),
            );
        }
        return;
    };
    let grew = end.saturating_sub(start);
    if grew == 0 {
        return;
    }
    let shared_buffers_kb = facts.setting_kb("shared_buffers").unwrap_or(131_072);
    let current_kb = wal_buffers_in_force_kb(facts.setting_kb("wal_buffers"), shared_buffers_kb);
    let evidence = vec![
        count("wal_buffers_full during the sample", grew),
        Evidence::new("sample", facts.activity.seconds, Unit::Seconds),
        count("wal_buffers_full since the statistics reset", end),
        bytes("wal_buffers in force", current_kb),
    ];
    let Some(proposed_kb) = wal_buffers_proposal_kb(current_kb) else {
        t.notes.push(format!(
            "the WAL buffers filled {grew} times during the {:.1} s sample, with wal_buffers already at {}: beyond that the WAL disk's write speed is the limit",
            facts.activity.seconds,
            format_kb(current_kb)
        ));
        return;
    };
    t.withdraw("wal_buffers");
    t.propose(
        "wal_buffers",
        &Value::Kb(proposed_kb),
        "wal-buffers",
        format!(
            "the WAL buffers ({}) filled {grew} times during the {:.1} s sample: each time a backend had to write WAL itself before going on. {}",
            format_kb(current_kb),
            facts.activity.seconds,
            if current_kb < WAL_SEGMENT_KB {
                "One WAL segment (16MB), PostgreSQL's own automatic maximum"
            } else {
                "Twice the current value, up to 64MB"
            }
        ),
        evidence,
        Confidence::High,
    );
}

/// Block reads and hits of relations through shared_buffers, from `pg_stat_io`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IoCache {
    pub hits: u64,
    pub reads: u64,
    /// Buffers evicted to make room for another block.
    pub evictions: u64,
}

impl IoCache {
    pub fn hit_pct(&self) -> f64 {
        let total = self.hits + self.reads;
        if total == 0 {
            100.0
        } else {
            self.hits as f64 * 100.0 / total as f64
        }
    }
}

/// The relations' I/O in the `normal` context of all backend types: what shared_buffers'
/// size decides. The `bulkread`, `bulkwrite` and `vacuum` contexts go through small ring
/// buffers that a larger shared_buffers does not change, yet pg_stat_database's blks_hit and
/// blks_read count them too. `None` when nothing was read.
pub fn io_cache(rows: &[IoRow]) -> Option<IoCache> {
    let mut cache = IoCache {
        hits: 0,
        reads: 0,
        evictions: 0,
    };
    for row in rows
        .iter()
        .filter(|r| r.object == "relation" && r.context == "normal")
    {
        cache.hits += row.hits;
        cache.reads += row.reads;
        cache.evictions += row.evictions;
    }
    (cache.hits + cache.reads > 0).then_some(cache)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(backend: &str, object: &str, context: &str, reads: u64, hits: u64, ev: u64) -> IoRow {
        IoRow {
            backend_type: backend.to_string(),
            object: object.to_string(),
            context: context.to_string(),
            reads,
            hits,
            evictions: ev,
            writes: 0,
        }
    }

    #[test]
    fn pg_stat_io_counts_the_normal_context_of_relations_only() {
        let rows = vec![
            row("client backend", "relation", "normal", 1_000, 9_000, 400),
            row("autovacuum worker", "relation", "normal", 500, 500, 100),
            // A seq scan of a big table through its ring: not shared_buffers' doing.
            row("client backend", "relation", "bulkread", 100_000, 10, 0),
            row("autovacuum worker", "relation", "vacuum", 50_000, 0, 0),
            row("client backend", "temp relation", "normal", 7_000, 0, 0),
        ];
        let cache = io_cache(&rows).unwrap();
        assert_eq!(
            cache,
            IoCache {
                hits: 9_500,
                reads: 1_500,
                evictions: 500
            }
        );
        assert!((cache.hit_pct() - 86.3636).abs() < 1e-3);
        assert_eq!(io_cache(&rows[2..]), None);
        assert_eq!(io_cache(&[]), None);
    }

    #[test]
    fn wal_buffers_go_to_a_segment_then_double_to_64mb() {
        // -1: 1/32 of shared_buffers, between 64 kB and a segment.
        assert_eq!(wal_buffers_in_force_kb(None, 128 << 10), 4 << 10);
        assert_eq!(wal_buffers_in_force_kb(None, 1 << 10), 64);
        assert_eq!(wal_buffers_in_force_kb(None, 8 << 20), WAL_SEGMENT_KB);
        assert_eq!(wal_buffers_in_force_kb(Some(32), 8 << 20), 32);
        assert_eq!(wal_buffers_proposal_kb(32), Some(16 << 10));
        assert_eq!(wal_buffers_proposal_kb(16 << 10), Some(32 << 10));
        assert_eq!(wal_buffers_proposal_kb(48 << 10), Some(64 << 10));
        assert_eq!(wal_buffers_proposal_kb(64 << 10), None);
        assert_eq!(wal_buffers_proposal_kb(1 << 20), None);
    }
}
