//! Index checks: unused, duplicate, redundant and invalid indexes.
//!
//! An index attached to a partitioned index is judged as part of its parent: it cannot be
//! dropped alone, and the parent's size and scans are the sums over its leaves.

use std::collections::HashMap;

use brisk_pg::catalog::{quote_ident, Index};
use brisk_report::{format_duration_secs, Evidence, Finding, Fix, Severity, Unit};

use super::{CheckOptions, Part, Snapshot};

fn drop_fix(index: &Index) -> Fix {
    let note = if index.relkind == 'I' {
        "A partitioned index cannot be dropped CONCURRENTLY: DROP INDEX takes an ACCESS EXCLUSIVE lock on the table and its partitions until it commits, so run it when a short block is acceptable."
    } else {
        "DROP INDEX CONCURRENTLY waits for running transactions but does not block reads or writes; it cannot run inside a transaction block."
    };
    Fix::sql(index.drop_statement())
        .rollback(index.create_statement())
        .note(note)
}

/// Whether dropping the index is ours to suggest: it enforces nothing.
fn is_droppable(index: &Index) -> bool {
    !index.is_unique && anchored(index) == 0
}

/// How firmly an index is held in place; a higher rank is the one to keep. A primary key
/// above a constraint, a constraint above an index a foreign key references (its DROP
/// fails on the dependency), that above the replica identity, which logical replication
/// needs.
fn anchored(index: &Index) -> u8 {
    if index.is_primary {
        4
    } else if index.constraint_type.is_some() {
        3
    } else if index.referenced_by_fk {
        2
    } else if index.is_replica_identity {
        1
    } else {
        0
    }
}

/// Indexes judged on their own: not an index attached to a partitioned parent.
fn standalone(index: &Index) -> bool {
    !index.is_partition_child
}

/// Indexes that were never scanned while the statistics were counting.
pub(super) fn unused(snapshot: &Snapshot, options: &CheckOptions) -> Part<Vec<Finding>> {
    let indexes = snapshot.indexes()?;
    let window = snapshot.window()?;
    let tables = snapshot.tables()?;
    let foreign_keys = snapshot.foreign_keys().unwrap_or_default();
    let writes: HashMap<u32, i64> = tables
        .iter()
        .map(|t| (t.oid, t.inserted + t.updated + t.deleted))
        .collect();
    let age = window.age_secs();
    let trusted = age >= options.unused_index_min_days * 86_400.0;

    let mut unused: Vec<&Index> = indexes
        .iter()
        .filter(|i| i.is_valid && i.scans == 0 && is_droppable(i) && standalone(i))
        .collect();
    unused.sort_by_key(|i| std::cmp::Reverse(i.size_bytes));

    Ok(unused
        .into_iter()
        .map(|index| {
            let mut detail = format!(
                "{} on {} has not been scanned since statistics began ({} ago) or since it was created, whichever is later. Every write to the table still updates it.",
                index.name,
                index.qualified_table(),
                format_duration_secs(age)
            );
            if !trusted {
                detail.push_str(&format!(
                    " {} is less than {} days, too short to be sure: check again after a full business cycle.",
                    format_duration_secs(age),
                    options.unused_index_min_days
                ));
            }
            detail.push_str(" Scans on standbys are not counted here: check each replica before dropping.");
            // Only worth saying when no other index would serve the foreign key.
            if let Some(fk) = foreign_keys.iter().find(|fk| {
                fk.table_oid == index.table_oid
                    && leads_with(index, &fk.columns)
                    && !indexes.iter().any(|other| {
                        other.oid != index.oid
                            && other.table_oid == index.table_oid
                            && other.is_valid
                            && leads_with(other, &fk.columns)
                    })
            }) {
                detail.push_str(&format!(
                    " It serves foreign key {}: deleting from {} will scan {} without it.",
                    fk.name,
                    fk.referenced,
                    index.qualified_table()
                ));
            }
            let severity = if trusted {
                Severity::Warning
            } else {
                Severity::Info
            };
            Finding::new(
                "index.unused",
                severity,
                index.qualified_name(),
                format!("Index {} is never used", index.name),
            )
            .detail(detail)
            .evidence(Evidence::new("size", index.size_bytes as f64, Unit::Bytes))
            .evidence(Evidence::new("scans", 0.0, Unit::Count))
            .evidence(Evidence::new("statistics age", age, Unit::Seconds))
            .evidence(Evidence::new(
                "table writes",
                writes.get(&index.table_oid).copied().unwrap_or(0) as f64,
                Unit::Count,
            ))
            .fix(drop_fix(index))
        })
        .collect())
}

/// Whether the index's leading key columns are exactly `columns`, in any order.
pub(super) fn leads_with(index: &Index, columns: &[i16]) -> bool {
    let keys = index.key_columns();
    if columns.is_empty() || keys.len() < columns.len() || index.predicate.is_some() {
        return false;
    }
    let lead = &keys[..columns.len()];
    columns.iter().all(|c| lead.contains(c)) && !lead.contains(&0)
}

/// Everything that makes two indexes answer the same queries and enforce the same rules.
fn definition_key(index: &Index) -> impl Eq + std::hash::Hash + '_ {
    (
        (index.table_oid, index.method.as_str(), index.key_count),
        index.columns.as_slice(),
        index.opclasses.as_slice(),
        index.collations.as_slice(),
        index.options.as_slice(),
        index.expressions.as_deref(),
        index.predicate.as_deref(),
        (
            index.is_unique,
            index.nulls_not_distinct,
            index.is_immediate,
        ),
    )
}

/// Which of two equal indexes to keep: the anchored one, then the busier, then the older.
fn keep_first(a: &Index, b: &Index) -> std::cmp::Ordering {
    anchored(b)
        .cmp(&anchored(a))
        .then(b.scans.cmp(&a.scans))
        .then(a.oid.cmp(&b.oid))
}

/// Indexes with the same definition as another index on the same table.
pub(super) fn duplicate(snapshot: &Snapshot, _options: &CheckOptions) -> Part<Vec<Finding>> {
    let indexes = snapshot.indexes()?;
    let mut groups: HashMap<_, Vec<&Index>> = HashMap::new();
    for index in indexes.iter().filter(|i| i.is_valid && standalone(i)) {
        groups.entry(definition_key(index)).or_default().push(index);
    }
    let mut findings = Vec::new();
    let mut groups: Vec<Vec<&Index>> = groups.into_values().filter(|g| g.len() > 1).collect();
    groups.sort_by_key(|g| g[0].qualified_name());
    for mut group in groups {
        group.sort_by(|a, b| keep_first(a, b));
        let kept = group[0];
        for index in &group[1..] {
            let mut finding = Finding::new(
                "index.duplicate",
                Severity::Warning,
                index.qualified_name(),
                format!("Index {} duplicates {}", index.name, kept.name),
            )
            .detail(format!(
                "Both indexes on {} have the same definition; {} does the same job, so {} only costs space and write time.",
                index.qualified_table(),
                kept.name,
                index.name
            ))
            .evidence(Evidence::new("size", index.size_bytes as f64, Unit::Bytes))
            .evidence(Evidence::new("scans", index.scans as f64, Unit::Count))
            .evidence(Evidence::new("scans of the kept index", kept.scans as f64, Unit::Count));
            // A plain unique index may go too: the kept one has the same definition, so it
            // enforces the same uniqueness.
            finding = if anchored(index) == 0 {
                finding.fix(drop_fix(index))
            } else {
                finding.fix(Fix::manual(format!(
                    "{} backs a constraint, a foreign key's reference or the replica identity: move that to {} first (for a constraint, ALTER TABLE {} DROP CONSTRAINT ..., which drops the index with it).",
                    index.name,
                    kept.name,
                    index.qualified_table()
                )))
            };
            findings.push(finding);
        }
    }
    Ok(findings)
}

/// Whether `narrow` is made redundant by `wide`: same btree method and predicate, and
/// `narrow`'s key columns lead `wide`'s with the same operator classes, collations and
/// sort options, so every scan of `narrow` can use `wide` instead.
fn is_covered_by(narrow: &Index, wide: &Index) -> bool {
    if narrow.oid == wide.oid
        || narrow.table_oid != wide.table_oid
        || narrow.method != "btree"
        || wide.method != "btree"
        || !wide.is_valid
        || narrow.predicate != wide.predicate
        || narrow.has_expressions()
        || wide.has_expressions()
    {
        return false;
    }
    let n = narrow.key_count;
    if n == 0 || n > wide.key_count {
        return false;
    }
    let same_prefix = narrow.columns[..n] == wide.columns[..n]
        && narrow.opclasses.get(..n) == wide.opclasses.get(..n)
        && narrow.collations.get(..n) == wide.collations.get(..n)
        && narrow.options.get(..n) == wide.options.get(..n);
    // INCLUDE columns of the narrow index must be in the wide one, or it would lose
    // index-only scans.
    let includes_covered = narrow.columns[n..].iter().all(|c| wide.columns.contains(c));
    // Equal definitions are the duplicate check's; here the wide one must add something.
    let adds_something = wide.key_count > n
        || wide.columns.len() > narrow.columns.len()
        || (wide.is_unique && !narrow.is_unique);
    same_prefix && includes_covered && adds_something
}

/// Non-unique indexes whose columns are a leading prefix of another index's.
pub(super) fn redundant(snapshot: &Snapshot, _options: &CheckOptions) -> Part<Vec<Finding>> {
    let indexes = snapshot.indexes()?;
    let mut by_table: HashMap<u32, Vec<&Index>> = HashMap::new();
    for index in indexes.iter().filter(|i| i.is_valid && standalone(i)) {
        by_table.entry(index.table_oid).or_default().push(index);
    }
    let mut findings = Vec::new();
    for index in indexes
        .iter()
        .filter(|i| i.is_valid && standalone(i) && is_droppable(i))
    {
        let Some(siblings) = by_table.get(&index.table_oid) else {
            continue;
        };
        // Prefer the narrowest covering index as the one to name.
        let Some(wide) = siblings
            .iter()
            .filter(|w| is_covered_by(index, w))
            .min_by_key(|w| (w.columns.len(), w.oid))
        else {
            continue;
        };
        findings.push(
            Finding::new(
                "index.redundant",
                Severity::Warning,
                index.qualified_name(),
                format!("Index {} is redundant with {}", index.name, wide.name),
            )
            .detail(format!(
                "The columns of {} ({}) lead {} ({}), which can serve the same lookups and sorts. Queries that only touch {}'s columns may read a slightly larger index after the drop.",
                index.name,
                column_list(index),
                wide.name,
                column_list(wide),
                index.name
            ))
            .evidence(Evidence::new("size", index.size_bytes as f64, Unit::Bytes))
            .evidence(Evidence::new("scans", index.scans as f64, Unit::Count))
            .evidence(Evidence::new("size of the covering index", wide.size_bytes as f64, Unit::Bytes))
            .fix(drop_fix(index)),
        );
    }
    Ok(findings)
}

/// The key column names of an index, for messages.
pub(super) fn column_list(index: &Index) -> String {
    index
        .column_names
        .iter()
        .take(index.key_count)
        .map(|name| match name {
            Some(name) => quote_ident(name),
            None => "(expression)".to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What an invalid index is left over from, by the names PostgreSQL gives its temporary
/// copies: `_ccnew` is the new copy of a failed `REINDEX CONCURRENTLY`, `_ccold` the old
/// one it was swapping out.
fn reindex_leftover(name: &str) -> bool {
    let base = name.trim_end_matches(|c: char| c.is_ascii_digit());
    base.ends_with("_ccnew") || base.ends_with("_ccold")
}

/// Invalid indexes that no build is working on.
pub(super) fn invalid(snapshot: &Snapshot, _options: &CheckOptions) -> Part<Vec<Finding>> {
    let indexes = snapshot.indexes()?;
    // Other users' builds are hidden from pg_stat_progress_create_index without
    // pg_monitor, so an invalid index might still be building.
    let sure = snapshot.server.can_monitor;
    Ok(indexes
        .iter()
        .filter(|i| !i.is_valid && !i.build_in_progress)
        .map(|index| invalid_finding(index, sure))
        .collect())
}

fn invalid_finding(index: &Index, sure: bool) -> Finding {
    let name = index.qualified_name();
    let maintained = if index.is_ready {
        "every write to the table still maintains it"
    } else {
        "it still takes space"
    };
    let (title, mut detail, fix) = if index.relkind == 'I' {
        (
            format!("Partitioned index {} is not valid on every partition", index.name),
            format!(
                "{} was created ON ONLY the parent (or a partition's index failed), and some partitions have no attached index yet, so the planner cannot rely on it.",
                index.name
            ),
            Fix::manual(format!(
                "For each partition without a matching index: CREATE INDEX CONCURRENTLY on the partition, then ALTER INDEX {name} ATTACH PARTITION <that index>. The parent becomes valid once every partition has one."
            )),
        )
    } else if reindex_leftover(&index.name) {
        (
            format!("Index {} is left over from a failed REINDEX CONCURRENTLY", index.name),
            format!("The planner never uses {}, but {maintained}. The index it was rebuilding still exists and is in use.", index.name),
            Fix::sql(index.drop_statement())
                .note("Only the leftover copy is dropped; the original index stays. DROP INDEX CONCURRENTLY cannot run inside a transaction block."),
        )
    } else {
        let mut detail = format!(
            "The planner never uses {}, but {maintained}. It is what a failed CREATE INDEX CONCURRENTLY leaves behind.",
            index.name
        );
        if index.is_unique {
            detail.push_str(
                " A unique build usually fails on duplicate values: remove them before rebuilding.",
            );
        }
        (
            format!("Index {} is invalid", index.name),
            detail,
            Fix::sql(format!("{}\n{}", index.drop_statement(), index.create_statement()))
                .rollback(index.drop_statement())
                .note("Rebuilding concurrently does not block reads or writes; neither statement can run inside a transaction block."),
        )
    };
    let severity = if sure {
        Severity::Warning
    } else {
        detail.push_str(" brisk's user cannot see other users' index builds (it lacks pg_monitor), so this one may still be building.");
        Severity::Info
    };
    Finding::new("index.invalid", severity, name, title)
        .detail(detail)
        .evidence(Evidence::new("size", index.size_bytes as f64, Unit::Bytes))
        .fix(fix)
}

#[cfg(test)]
mod tests {
    use super::reindex_leftover;

    #[test]
    fn reindex_leftovers_are_recognised_by_name() {
        assert!(reindex_leftover("users_email_idx_ccnew"));
        assert!(reindex_leftover("users_email_idx_ccnew1"));
        assert!(reindex_leftover("users_email_idx_ccold"));
        assert!(!reindex_leftover("users_email_idx"));
    }
}
