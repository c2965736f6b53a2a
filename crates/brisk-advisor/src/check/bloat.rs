//! Bloat estimates for tables and btree indexes, from `pg_stats` widths.
//!
//! The estimate compares the pages a relation has with the pages its live rows would need
//! if packed at the relation's fill factor. Row size comes from `pg_stats.avg_width` plus
//! PostgreSQL's fixed overheads. It is an estimate (statistics are sampled, alignment
//! padding between columns is approximated), so findings say so and put the wasted bytes
//! under "estimated". Measuring exactly needs `pgstattuple`, which reads the whole relation.

use brisk_pg::catalog::{ColumnStats, Index, Table};
use brisk_report::{Evidence, Finding, Fix, Severity, Unit};

use super::{percent, CheckOptions, Part, Snapshot};

/// Page header (`SizeOfPageHeaderData`).
const PAGE_HEADER: f64 = 24.0;
/// Heap tuple header (`SizeofHeapTupleHeader`) before alignment.
const HEAP_TUPLE_HEADER: f64 = 23.0;
/// Line pointer per tuple (`ItemIdData`).
const ITEM_POINTER: f64 = 4.0;
/// Index tuple header (`IndexTupleData`).
const INDEX_TUPLE_HEADER: f64 = 8.0;
/// Btree page special space (`BTPageOpaqueData`).
const BTREE_SPECIAL: f64 = 16.0;
/// MAXALIGN on 64-bit platforms.
const MAXALIGN: f64 = 8.0;

fn maxalign(bytes: f64) -> f64 {
    (bytes / MAXALIGN).ceil() * MAXALIGN
}

/// What a relation has against what it needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BloatEstimate {
    pub actual_bytes: f64,
    pub expected_bytes: f64,
}

impl BloatEstimate {
    pub fn wasted_bytes(&self) -> f64 {
        (self.actual_bytes - self.expected_bytes).max(0.0)
    }

    pub fn wasted_pct(&self) -> f64 {
        percent(self.wasted_bytes(), self.actual_bytes).unwrap_or(0.0)
    }
}

fn align_to(offset: f64, typalign: char) -> f64 {
    let alignment = match typalign {
        's' => 2.0,
        'i' => 4.0,
        'd' => 8.0,
        _ => 1.0,
    };
    (offset / alignment).ceil() * alignment
}

/// The expected bytes of a row's data starting at `start`, with the padding PostgreSQL puts
/// before each column to align it, weighted by how often the column is not null (a null
/// takes no space). `None` when a column has no statistics.
fn data_width(start: f64, columns: &[ColumnStats]) -> Option<f64> {
    let mut offset = start;
    for column in columns {
        let width = column.avg_width?;
        // Short variable-length values (under 127 bytes) have a 1-byte header and are
        // stored unaligned.
        let alignment = if column.typlen == -1 && width < 127.0 {
            'c'
        } else {
            column.typalign
        };
        let padding = align_to(offset, alignment) - offset;
        offset += (1.0 - column.null_frac) * (padding + width);
    }
    Some(offset - start)
}

/// Estimates a heap's bloat from its page count, live row estimate and column statistics.
/// `None` when the statistics to do so are missing.
pub fn estimate_table_bloat(
    pages: i64,
    tuples: f64,
    columns: &[ColumnStats],
    fillfactor: Option<i32>,
    block_size: f64,
) -> Option<BloatEstimate> {
    if pages <= 0 || tuples < 0.0 || columns.is_empty() {
        return None;
    }
    // The null bitmap has one bit per column and exists only when some column is null.
    let bitmap = if columns.iter().any(|c| c.null_frac > 0.0) {
        (columns.len() as f64 / 8.0).ceil()
    } else {
        0.0
    };
    let header = maxalign(HEAP_TUPLE_HEADER + bitmap);
    let tuple = maxalign(header + data_width(header, columns)?) + ITEM_POINTER;
    let usable = (block_size - PAGE_HEADER) * f64::from(fillfactor.unwrap_or(100)) / 100.0;
    let per_page = (usable / tuple).floor().max(1.0);
    let expected_pages = (tuples / per_page).ceil().max(1.0);
    Some(BloatEstimate {
        actual_bytes: pages as f64 * block_size,
        expected_bytes: expected_pages * block_size,
    })
}

/// Estimates a btree's bloat the same way: leaf tuples of the indexed columns, at the
/// index's fill factor (btree default 90), plus the metapage and about one inner page per
/// hundred leaves.
pub fn estimate_index_bloat(
    pages: i64,
    tuples: f64,
    columns: &[ColumnStats],
    fillfactor: Option<i32>,
    block_size: f64,
) -> Option<BloatEstimate> {
    if pages <= 1 || tuples < 0.0 || columns.is_empty() {
        return None;
    }
    // Index tuples with a null carry a null bitmap (`IndexAttributeBitMapData`, 4 bytes)
    // after the 8-byte header; data starts at the MAXALIGNed end of both.
    let bitmap = if columns.iter().any(|c| c.null_frac > 0.0) {
        4.0
    } else {
        0.0
    };
    let header = maxalign(INDEX_TUPLE_HEADER + bitmap);
    let tuple = maxalign(header + data_width(header, columns)?) + ITEM_POINTER;
    let usable =
        (block_size - PAGE_HEADER - BTREE_SPECIAL) * f64::from(fillfactor.unwrap_or(90)) / 100.0;
    let per_page = (usable / tuple).floor().max(1.0);
    let leaves = (tuples / per_page).ceil().max(1.0);
    let expected_pages = 1.0 + leaves + (leaves / 100.0).ceil();
    Some(BloatEstimate {
        actual_bytes: pages as f64 * block_size,
        expected_bytes: expected_pages * block_size,
    })
}

fn worth_reporting(estimate: &BloatEstimate, options: &CheckOptions) -> bool {
    let (wasted, pct) = (estimate.wasted_bytes(), estimate.wasted_pct());
    (wasted >= options.bloat_min_bytes && pct >= options.bloat_min_pct)
        || (wasted >= options.bloat_large_min_bytes && pct >= options.bloat_large_min_pct)
}

pub(super) fn table_bloat(snapshot: &Snapshot, options: &CheckOptions) -> Part<Vec<Finding>> {
    let tables = snapshot.tables()?;
    let block_size = snapshot.block_size();
    let mut found: Vec<(&Table, BloatEstimate)> = tables
        .iter()
        .filter(|t| t.relkind == 'r' || t.relkind == 'm')
        .filter_map(|t| {
            let estimate =
                estimate_table_bloat(t.pages, t.tuples, &t.column_stats, t.fillfactor, block_size)?;
            worth_reporting(&estimate, options).then_some((t, estimate))
        })
        .collect();
    found.sort_by(|a, b| b.1.wasted_bytes().total_cmp(&a.1.wasted_bytes()));
    Ok(found
        .into_iter()
        .map(|(table, estimate)| {
            let name = table.qualified_name();
            Finding::new(
                "table.bloat",
                Severity::Warning,
                &name,
                format!(
                    "Table {} is about {:.0}% bloat (estimate)",
                    table.name,
                    estimate.wasted_pct()
                ),
            )
            .detail(
                "Estimated from pg_stats row widths and the last statistics: the table has many more pages than its live rows need. Sequential scans read the empty space too, and it crowds the cache.",
            )
            .evidence(Evidence::new("table size", estimate.actual_bytes, Unit::Bytes))
            .evidence(Evidence::new("live rows", table.tuples.max(0.0), Unit::Count))
            .estimated(Evidence::new("wasted", estimate.wasted_bytes(), Unit::Bytes))
            .estimated(Evidence::new("bloat", estimate.wasted_pct(), Unit::Percent))
            .fix(
                Fix::sql(format!("VACUUM (FULL, ANALYZE, VERBOSE) {name};"))
                    .note("VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock: no reads or writes until it finishes, and it needs free disk for a full copy. To compact online, use pg_repack (pg_repack --table=... ), which holds that lock only briefly at the end."),
            )
        })
        .collect())
}

pub(super) fn index_bloat(snapshot: &Snapshot, options: &CheckOptions) -> Part<Vec<Finding>> {
    let indexes = snapshot.indexes()?;
    let block_size = snapshot.block_size();
    let mut found: Vec<(&Index, BloatEstimate)> = indexes
        .iter()
        .filter(|i| i.method == "btree" && i.relkind == 'i' && i.is_valid)
        .filter_map(|i| {
            let estimate =
                estimate_index_bloat(i.pages, i.tuples, &i.column_stats, i.fillfactor, block_size)?;
            worth_reporting(&estimate, options).then_some((i, estimate))
        })
        .collect();
    found.sort_by(|a, b| b.1.wasted_bytes().total_cmp(&a.1.wasted_bytes()));
    Ok(found
        .into_iter()
        .map(|(index, estimate)| {
            let name = index.qualified_name();
            Finding::new(
                "index.bloat",
                Severity::Warning,
                &name,
                format!(
                    "Index {} is about {:.0}% bloat (estimate)",
                    index.name,
                    estimate.wasted_pct()
                ),
            )
            .detail(
                "Estimated from pg_stats column widths: the index has many more pages than its entries need, usually after heavy updates or deletes. Every scan of it reads more pages than it should.",
            )
            .evidence(Evidence::new("index size", estimate.actual_bytes, Unit::Bytes))
            .evidence(Evidence::new("entries", index.tuples.max(0.0), Unit::Count))
            .estimated(Evidence::new("wasted", estimate.wasted_bytes(), Unit::Bytes))
            .estimated(Evidence::new("bloat", estimate.wasted_pct(), Unit::Percent))
            .fix(
                Fix::sql(format!("REINDEX INDEX CONCURRENTLY {name};"))
                    .note("REINDEX CONCURRENTLY builds a fresh copy without blocking reads or writes, then swaps it in; it needs disk for the copy and cannot run inside a transaction block."),
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(avg_width: f64, typlen: i16, typalign: char) -> ColumnStats {
        ColumnStats {
            avg_width: Some(avg_width),
            null_frac: 0.0,
            typlen,
            typalign,
        }
    }

    fn bigint() -> ColumnStats {
        column(8.0, 8, 'd')
    }

    #[test]
    fn a_packed_table_has_no_bloat() {
        // A fresh table of 1M bigints measures 4425 pages in PostgreSQL 15: 24 + 8 + 4 bytes
        // a row, 226 rows a page.
        let estimate = estimate_table_bloat(4425, 1e6, &[bigint()], None, 8192.0).unwrap();
        assert_eq!(estimate.wasted_bytes(), 0.0);
    }

    #[test]
    fn a_table_three_times_its_size_is_two_thirds_bloat() {
        let estimate = estimate_table_bloat(3 * 4425, 1e6, &[bigint()], None, 8192.0).unwrap();
        assert!((estimate.wasted_pct() - 66.7).abs() < 0.5, "{estimate:?}");
    }

    #[test]
    fn alignment_padding_between_columns_is_counted() {
        // bool then bigint: the bigint starts 8-aligned, so the row takes 16 data bytes,
        // not 9.
        let padded = [column(1.0, 1, 'c'), bigint()];
        let packed = [bigint(), column(1.0, 1, 'c')];
        assert_eq!(data_width(24.0, &padded), Some(16.0));
        assert_eq!(data_width(24.0, &packed), Some(9.0));
        // Short text is stored unaligned whatever its type's alignment.
        assert_eq!(data_width(25.0, &[column(11.0, -1, 'i')]), Some(11.0));
    }

    #[test]
    fn fillfactor_leaves_room_that_is_not_bloat() {
        let packed = estimate_table_bloat(4425, 1e6, &[bigint()], None, 8192.0).unwrap();
        let half = estimate_table_bloat(4425, 1e6, &[bigint()], Some(50), 8192.0).unwrap();
        assert!(half.expected_bytes > 1.9 * packed.expected_bytes);
    }

    #[test]
    fn missing_statistics_give_no_estimate() {
        let unknown = ColumnStats {
            avg_width: None,
            ..bigint()
        };
        assert!(estimate_table_bloat(100, 100.0, &[unknown], None, 8192.0).is_none());
        assert!(estimate_table_bloat(100, -1.0, &[bigint()], None, 8192.0).is_none());
        assert!(estimate_table_bloat(0, 100.0, &[bigint()], None, 8192.0).is_none());
        assert!(estimate_index_bloat(1, 100.0, &[bigint()], None, 8192.0).is_none());
    }

    #[test]
    fn a_fresh_bigint_btree_is_close_to_its_expected_size() {
        // A freshly built btree on 1M bigints measures 2745 pages in PostgreSQL 15.
        let estimate = estimate_index_bloat(2745, 1e6, &[bigint()], None, 8192.0).unwrap();
        assert!(estimate.wasted_pct() < 10.0, "{estimate:?}");
    }
}
