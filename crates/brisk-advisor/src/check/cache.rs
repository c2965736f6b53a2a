//! Shared-buffer hit ratios of the database and of its worst tables.
//!
//! A "read" in these counters is a block PostgreSQL did not find in shared_buffers; it
//! may still have come from the operating system's page cache, so a low ratio means extra
//! work for PostgreSQL, not necessarily disk I/O.

use brisk_pg::catalog::Table;
use brisk_report::{format_bytes, format_count, Evidence, Finding, Fix, Severity, Unit};

use super::{percent, CheckOptions, Part, Snapshot};

/// How many of the worst tables to name.
const WORST_TABLES: usize = 5;

fn ratio(hit: i64, read: i64, options: &CheckOptions) -> Option<f64> {
    let total = hit + read;
    (total >= options.cache_min_blocks)
        .then(|| percent(hit as f64, total as f64))
        .flatten()
}

pub(super) fn hit_ratio(snapshot: &Snapshot, options: &CheckOptions) -> Part<Vec<Finding>> {
    let databases = snapshot.databases()?;
    let tables = snapshot.tables()?;
    let block_size = snapshot.block_size();
    let mut findings = Vec::new();

    if let Some(db) = databases.iter().find(|d| d.is_current) {
        if let Some(pct) = ratio(db.blocks_hit, db.blocks_read, options) {
            if pct < options.cache_hit_min_pct {
                findings.push(
                    Finding::new(
                        "cache.hit_ratio",
                        Severity::Warning,
                        format!("database {}", db.name),
                        format!("Only {pct:.1}% of block reads in {} hit shared_buffers", db.name),
                    )
                    .detail(format!(
                        "{} blocks ({}) were read from outside shared_buffers. A transactional workload should find more than {}% of its blocks in memory: the working set does not fit, or big scans push it out.",
                        format_count(db.blocks_read as f64),
                        format_bytes(db.blocks_read as f64 * block_size),
                        options.cache_hit_min_pct
                    ))
                    .evidence(Evidence::new("hit ratio", pct, Unit::Percent))
                    .evidence(Evidence::new("blocks hit", db.blocks_hit as f64, Unit::Count))
                    .evidence(Evidence::new("blocks read", db.blocks_read as f64, Unit::Count))
                    .fix(Fix::config("Find the tables below that miss most; an index that replaces sequential scans, or removing bloat, shrinks the working set. If it still does not fit, raise shared_buffers (commonly 25% of RAM) and the machine's memory.")),
                );
            }
        }
    }

    let mut worst: Vec<(&Table, f64, Option<f64>)> = tables
        .iter()
        .filter_map(|t| {
            let heap = ratio(t.heap_blocks_hit, t.heap_blocks_read, options)?;
            let index = ratio(t.index_blocks_hit, t.index_blocks_read, options);
            (heap < options.cache_hit_min_pct).then_some((t, heap, index))
        })
        .collect();
    worst.sort_by_key(|w| std::cmp::Reverse(w.0.heap_blocks_read));
    for (table, heap, index) in worst.into_iter().take(WORST_TABLES) {
        let mut finding = Finding::new(
            "cache.hit_ratio",
            Severity::Warning,
            table.qualified_name(),
            format!("Only {heap:.1}% of reads of table {} hit shared_buffers", table.name),
        )
        .detail(format!(
            "{} of its blocks were read from outside shared_buffers, over {} sequential scans. Sequential scans of tables bigger than a quarter of shared_buffers go through a small ring buffer and miss by design: an index that avoids the scan helps more than memory.",
            format_count(table.heap_blocks_read as f64),
            format_count(table.seq_scans as f64)
        ))
        .evidence(Evidence::new("heap hit ratio", heap, Unit::Percent))
        .evidence(Evidence::new("heap blocks read", table.heap_blocks_read as f64, Unit::Count));
        if let Some(index) = index {
            finding = finding.evidence(Evidence::new("index hit ratio", index, Unit::Percent));
        }
        findings.push(
            finding
                .evidence(Evidence::new(
                    "sequential scans",
                    table.seq_scans as f64,
                    Unit::Count,
                ))
                .evidence(Evidence::new(
                    "table size",
                    table.heap_bytes as f64,
                    Unit::Bytes,
                )),
        );
    }
    Ok(findings)
}
