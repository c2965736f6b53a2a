//! Index checks: unused, duplicate, redundant and invalid indexes.
//!
//! An index attached to a partitioned index is judged as part of its parent: it cannot be
//! dropped alone, and the parent's size and scans are the sums over its leaves.

use std::collections::{BTreeMap, HashMap};

use brisk_pg::catalog::{quote_ident, ForeignKey, Index, StatsWindow};
use brisk_report::{
    format_count, format_duration_secs, format_utc_minute, Evidence, Finding, Fix, Severity, Unit,
};

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

/// Which of two equal indexes to keep: the anchored one, then the busier, then the older.
fn keep_first(a: &Index, b: &Index) -> std::cmp::Ordering {
    anchored(b)
        .cmp(&anchored(a))
        .then(b.scans.cmp(&a.scans))
        .then(a.oid.cmp(&b.oid))
}

/// What an anchored index holds in place, for messages.
fn what_it_backs(index: &Index) -> &'static str {
    match anchored(index) {
        4 => "the primary key",
        3 => "a constraint",
        2 => "the key a foreign key references",
        _ => "the replica identity",
    }
}

/// What the usage statistics say at the moment the indexes are judged.
#[derive(Debug, Clone, Copy)]
pub struct Usage<'a> {
    pub window: &'a StatsWindow,
    /// The moment of judgement, in seconds since the Unix epoch: the server's clock when
    /// the snapshot was read, or a test's.
    pub now_unix_secs: f64,
}

impl Usage<'_> {
    fn age_secs(&self) -> f64 {
        (self.now_unix_secs - self.window.began_unix_secs()).max(0.0)
    }
}

/// What the index plan reads.
pub struct IndexFacts<'a> {
    pub indexes: &'a [Index],
    pub foreign_keys: &'a [ForeignKey],
    /// Rows inserted, updated and deleted per table oid while the statistics counted.
    pub table_writes: &'a HashMap<u32, i64>,
    /// `None` when the statistics window could not be read: then nothing is judged unused.
    pub usage: Option<Usage<'a>>,
}

/// What the plan does with one index.
#[derive(Debug, Clone, Copy)]
enum Fate<'a> {
    /// It stays, as far as this report goes.
    Kept,
    /// It goes: `stays` serves every lookup and sort it serves.
    Served { stays: &'a Index, duplicate: bool },
    /// A duplicate that backs a constraint: it can only go with its constraint, which is a
    /// person's decision, so no other index counts on it staying.
    Backs { stays: &'a Index },
    /// It goes: never scanned over a window long enough to trust.
    Unused,
}

/// The findings of `index.unused`, `index.duplicate` and `index.redundant`, decided
/// together so that every fix in them can be applied at once:
///
/// - an index gets at most one of these findings;
/// - an index dropped for a pair names the one that stays, and that one is never dropped
///   by another finding of the same report, so of two indexes that can stand in for each
///   other at most one goes (of three duplicates, two, for the same keeper);
/// - nothing that backs a primary key, a constraint, a foreign key's reference or the
///   replica identity is dropped, nor the only index that serves a foreign key (the
///   `fk.unindexed` check would ask for it back);
/// - an index is dropped as unused only when the statistics cover
///   `unused_index_min_days`; before that its finding says when to look again.
///
/// Pure: the moment of judgement is `facts.usage`'s, so tests can age the statistics.
pub fn plan(facts: &IndexFacts<'_>, options: &CheckOptions) -> Vec<Finding> {
    let trusted = facts
        .usage
        .is_some_and(|u| u.age_secs() >= options.unused_index_min_days * 86_400.0);
    // Indexes of different tables never stand in for each other: plan table by table, so
    // the work grows with the indexes of a table, not of the database.
    let mut tables: BTreeMap<u32, Vec<&Index>> = BTreeMap::new();
    for index in facts.indexes.iter().filter(|i| i.is_valid && standalone(i)) {
        tables.entry(index.table_oid).or_default().push(index);
    }
    let mut foreign_keys: HashMap<u32, Vec<&ForeignKey>> = HashMap::new();
    for fk in facts.foreign_keys {
        foreign_keys.entry(fk.table_oid).or_default().push(fk);
    }
    let mut findings = Vec::new();
    for (table_oid, order) in &mut tables {
        let foreign_keys = foreign_keys.get(table_oid).map_or(&[][..], Vec::as_slice);
        plan_table(order, foreign_keys, facts, trusted, options, &mut findings);
    }
    findings
}

/// [`plan`] for the indexes of one table.
fn plan_table<'a>(
    order: &mut [&'a Index],
    foreign_keys: &[&ForeignKey],
    facts: &IndexFacts<'_>,
    trusted: bool,
    options: &CheckOptions,
    findings: &mut Vec<Finding>,
) {
    // Only an index at least as wide can serve another, so the wide are decided first and
    // each index then sees the fate of every index that could serve it. Among duplicates
    // the one to keep comes first.
    order.sort_by(|a, b| {
        b.key_count
            .cmp(&a.key_count)
            .then(b.columns.len().cmp(&a.columns.len()))
            .then(b.is_unique.cmp(&a.is_unique))
            .then_with(|| keep_first(a, b))
    });
    let order: &[&'a Index] = order;
    let mut fates: Vec<Fate> = Vec::with_capacity(order.len());
    for (position, index) in order.iter().copied().enumerate() {
        let named_to_stay = fates.iter().any(|f| stays_in(f, index));
        let kept_before = order[..position]
            .iter()
            .zip(&fates)
            .filter(|(_, fate)| matches!(fate, Fate::Kept))
            .map(|(other, _)| *other);
        let fate = if named_to_stay {
            Fate::Kept
        } else if let Some(twin) = kept_before
            .clone()
            .find(|k| definition_key(k) == definition_key(index))
        {
            // A plain unique index may go too: the kept one has the same definition, so
            // it enforces the same uniqueness.
            if anchored(index) == 0 {
                Fate::Served {
                    stays: twin,
                    duplicate: true,
                }
            } else {
                Fate::Backs { stays: twin }
            }
        } else if let Some(wide) = kept_before
            .filter(|wide| is_droppable(index) && is_covered_by(index, wide))
            // A used index is not dropped for a wider one that went unscanned over a
            // trusted window: the wider one is the one to drop, as unused.
            .filter(|wide| !(trusted && index.scans > 0 && wide.scans == 0 && is_droppable(wide)))
            // The narrowest covering index is the closest stand-in.
            .min_by_key(|wide| (wide.columns.len(), wide.oid))
        {
            Fate::Served {
                stays: wide,
                duplicate: false,
            }
        } else {
            Fate::Kept
        };
        fates.push(fate);
    }

    if let Some(usage) = facts.usage {
        let mut unused: Vec<usize> = (0..order.len())
            .filter(|&n| {
                matches!(fates[n], Fate::Kept) && order[n].scans == 0 && is_droppable(order[n])
            })
            .collect();
        unused.sort_by_key(|&n| std::cmp::Reverse(order[n].size_bytes));
        for n in unused {
            let index = order[n];
            // Its pair's finding speaks for it: the index dropped in its favour says it
            // has not been scanned either.
            if fates.iter().any(|f| stays_in(f, index)) {
                continue;
            }
            if serves_a_foreign_key_alone(index, order, &fates, foreign_keys) {
                continue;
            }
            if trusted {
                fates[n] = Fate::Unused;
            }
            findings.push(unused_finding(
                index, order, &fates, facts, usage, trusted, options,
            ));
        }
    }
    for (index, fate) in order.iter().zip(&fates) {
        match *fate {
            Fate::Served { stays, duplicate } => {
                findings.push(pair_finding(index, stays, duplicate, facts.usage))
            }
            Fate::Backs { stays } => findings.push(backs_finding(index, stays)),
            Fate::Kept | Fate::Unused => {}
        }
    }
}

/// Whether `fate` names `index` as the one that stays.
fn stays_in(fate: &Fate, index: &Index) -> bool {
    match fate {
        Fate::Served { stays, .. } | Fate::Backs { stays } => stays.oid == index.oid,
        Fate::Kept | Fate::Unused => false,
    }
}

/// Whether `index` is the only index that stays to serve one of its table's foreign keys.
fn serves_a_foreign_key_alone(
    index: &Index,
    order: &[&Index],
    fates: &[Fate],
    foreign_keys: &[&ForeignKey],
) -> bool {
    foreign_keys.iter().any(|fk| {
        leads_with(index, &fk.columns)
            && !order.iter().zip(fates).any(|(other, fate)| {
                other.oid != index.oid
                    && matches!(fate, Fate::Kept)
                    && leads_with(other, &fk.columns)
            })
    })
}

fn unused_finding(
    index: &Index,
    order: &[&Index],
    fates: &[Fate],
    facts: &IndexFacts<'_>,
    usage: Usage<'_>,
    trusted: bool,
    options: &CheckOptions,
) -> Finding {
    let age = usage.age_secs();
    let mut detail = format!(
        "{} on {} has not been scanned since statistics began ({} ago) or since it was created, whichever is later. Every write to the table still updates it.",
        index.name,
        index.qualified_table(),
        format_duration_secs(age)
    );
    detail.push_str(" Scans on standbys are not counted here: check each replica before dropping.");
    if trusted {
        // Say which index of its pair stays, and why: the narrower one that is used.
        if let Some((narrow, _)) = order.iter().zip(fates).find(|(narrow, fate)| {
            matches!(fate, Fate::Kept) && narrow.scans > 0 && is_covered_by(narrow, index)
        }) {
            detail.push_str(&format!(
                " {} stays: its columns ({}) lead {}'s and it is used ({} scans), so it serves every lookup {} was ready for.",
                narrow.name,
                column_list(narrow),
                index.name,
                format_count(narrow.scans as f64),
                index.name
            ));
        }
    }
    let days = options.unused_index_min_days;
    let fix = if trusted {
        drop_fix(index)
    } else {
        let date = format_utc_minute(usage.window.began_unix_secs() + days * 86_400.0);
        let when = if usage.window.since_reset_secs.is_some() {
            format!("Check again on {date}, when the statistics cover {days} days")
        } else {
            format!(
                "Check again on {date}: the statistics were never reset, so when they began is not known, but they have counted at least since the server started, so by then they cover {days} days"
            )
        };
        detail.push_str(&format!(
            " {} is less than {days} days: no evidence yet that it is unused, so no DROP until then.",
            format_duration_secs(age)
        ));
        Fix::manual(format!(
            "{when}. If {} has still not been scanned then, brisk check will suggest dropping it.",
            index.name
        ))
    };
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
        facts
            .table_writes
            .get(&index.table_oid)
            .copied()
            .unwrap_or(0) as f64,
        Unit::Count,
    ))
    .fix(fix)
}

/// Why `stays` is the one of the pair to keep, for messages.
fn why_it_stays(index: &Index, stays: &Index, duplicate: bool) -> String {
    let mut reasons = Vec::new();
    if !duplicate {
        reasons.push(format!(
            "it is the wider one and serves every lookup and sort {} serves",
            index.name
        ));
    }
    if anchored(stays) > anchored(index) {
        reasons.push(format!("it backs {}", what_it_backs(stays)));
    }
    if stays.scans > index.scans {
        reasons.push(format!(
            "it is the busier ({} scans against {})",
            format_count(stays.scans as f64),
            format_count(index.scans as f64)
        ));
    } else if duplicate && anchored(stays) == anchored(index) {
        reasons.push(format!(
            "it is the older, and both were scanned as often ({} times)",
            format_count(index.scans as f64)
        ));
    }
    format!("{} stays: {}.", stays.name, reasons.join(", and "))
}

fn pair_finding(index: &Index, stays: &Index, duplicate: bool, usage: Option<Usage>) -> Finding {
    let (check, title, mut detail) = if duplicate {
        (
            "index.duplicate",
            format!("Index {} duplicates {}", index.name, stays.name),
            format!(
                "Both indexes on {} have the same definition; {} does the same job, so {} only costs space and write time.",
                index.qualified_table(),
                stays.name,
                index.name
            ),
        )
    } else {
        (
            "index.redundant",
            format!("Index {} is redundant with {}", index.name, stays.name),
            format!(
                "The columns of {} ({}) lead {} ({}), which can serve the same lookups and sorts. Queries that only touch {}'s columns may read a slightly larger index after the drop.",
                index.name,
                column_list(index),
                stays.name,
                column_list(stays),
                index.name
            ),
        )
    };
    detail.push(' ');
    detail.push_str(&why_it_stays(index, stays, duplicate));
    if usage.is_some() && stays.scans == 0 {
        // Both may look idle, but they are judged one at a time: once this one is gone,
        // whatever it served goes to the other, and its own count says whether it is needed.
        let (name, kept) = (&index.name, &stays.name);
        detail.push_str(&if index.scans == 0 {
            format!(" Neither has been scanned, but {kept} stays all the same: brisk drops at most one index of a pair in a report. Once {name} is gone, {kept}'s own scans tell whether it is needed.")
        } else {
            format!(" {kept} has not been scanned yet because the planner preferred {name}; once {name} is gone, its lookups go to {kept}.")
        });
    }
    let mut finding = Finding::new(check, Severity::Warning, index.qualified_name(), title)
        .detail(detail)
        .evidence(Evidence::new("size", index.size_bytes as f64, Unit::Bytes))
        .evidence(Evidence::new("scans", index.scans as f64, Unit::Count));
    finding = if duplicate {
        finding.evidence(Evidence::new(
            "scans of the kept index",
            stays.scans as f64,
            Unit::Count,
        ))
    } else {
        finding.evidence(Evidence::new(
            "size of the covering index",
            stays.size_bytes as f64,
            Unit::Bytes,
        ))
    };
    finding.fix(drop_fix(index))
}

fn backs_finding(index: &Index, stays: &Index) -> Finding {
    Finding::new(
        "index.duplicate",
        Severity::Warning,
        index.qualified_name(),
        format!("Index {} duplicates {}", index.name, stays.name),
    )
    .detail(format!(
        "Both indexes on {} have the same definition; {} does the same job, so {} only costs space and write time. {}",
        index.qualified_table(),
        stays.name,
        index.name,
        why_it_stays(index, stays, true)
    ))
    .evidence(Evidence::new("size", index.size_bytes as f64, Unit::Bytes))
    .evidence(Evidence::new("scans", index.scans as f64, Unit::Count))
    .evidence(Evidence::new("scans of the kept index", stays.scans as f64, Unit::Count))
    .fix(Fix::manual(format!(
        "{} backs {}: move that to {} first (for a constraint, ALTER TABLE {} DROP CONSTRAINT ..., which drops the index with it).",
        index.name,
        what_it_backs(index),
        stays.name,
        index.qualified_table()
    )))
}

/// The index findings of the snapshot, planned once for the three checks that share them.
fn planned<'a>(snapshot: &'a Snapshot, options: &CheckOptions) -> Part<&'a [Finding]> {
    snapshot
        .index_plan
        .get_or_init(|| {
            let indexes = snapshot.indexes()?;
            let table_writes: HashMap<u32, i64> = snapshot
                .tables()
                .unwrap_or_default()
                .iter()
                .map(|t| (t.oid, t.inserted + t.updated + t.deleted))
                .collect();
            let facts = IndexFacts {
                indexes,
                foreign_keys: snapshot.foreign_keys().unwrap_or_default(),
                table_writes: &table_writes,
                usage: snapshot.window().ok().map(|window| Usage {
                    window,
                    now_unix_secs: window.read_at_unix_secs,
                }),
            };
            Ok(plan(&facts, options))
        })
        .as_deref()
        .map_err(Clone::clone)
}

fn planned_of(snapshot: &Snapshot, options: &CheckOptions, check: &str) -> Part<Vec<Finding>> {
    Ok(planned(snapshot, options)?
        .iter()
        .filter(|f| f.check == check)
        .cloned()
        .collect())
}

/// Indexes never scanned while the statistics were counting (see [`plan`]).
pub(super) fn unused(snapshot: &Snapshot, options: &CheckOptions) -> Part<Vec<Finding>> {
    // Without the window there is no judging usage, and without the tables no writes to
    // weigh against it: the check is reported as not run.
    snapshot.window()?;
    snapshot.tables()?;
    planned_of(snapshot, options, "index.unused")
}

/// Indexes with the same definition as another index on the same table (see [`plan`]).
pub(super) fn duplicate(snapshot: &Snapshot, options: &CheckOptions) -> Part<Vec<Finding>> {
    planned_of(snapshot, options, "index.duplicate")
}

/// Non-unique indexes whose columns lead another index's (see [`plan`]).
pub(super) fn redundant(snapshot: &Snapshot, options: &CheckOptions) -> Part<Vec<Finding>> {
    planned_of(snapshot, options, "index.redundant")
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

/// The query that lists the values a unique index cannot hold twice, when its keys are
/// plain columns: NULLs conflict only with NULLS NOT DISTINCT, and a partial index only
/// covers its predicate's rows.
fn duplicates_query(index: &Index) -> Option<String> {
    if index.expressions.is_some() {
        return None;
    }
    let columns: Vec<String> = index
        .column_names
        .iter()
        .take(index.key_count)
        .map(|c| c.as_deref().map(brisk_sql::quote_ident))
        .collect::<Option<_>>()?;
    if columns.is_empty() {
        return None;
    }
    let list = columns.join(", ");
    let mut conditions: Vec<String> = Vec::new();
    if !index.nulls_not_distinct {
        conditions.extend(columns.iter().map(|c| format!("{c} IS NOT NULL")));
    }
    if let Some(predicate) = &index.predicate {
        conditions.push(format!("({predicate})"));
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    Some(format!(
        "SELECT {list}, count(*) FROM {}{filter} GROUP BY {list} HAVING count(*) > 1;",
        index.qualified_table()
    ))
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
        let rebuild = format!("{}\n{}", index.drop_statement(), index.create_statement());
        let fix = if index.is_unique {
            // The rebuild fails again while the duplicates are there, and which row of each
            // to keep is the application's decision: a person applies this one.
            detail.push_str(
                " A unique build usually fails on duplicate values: remove them before rebuilding.",
            );
            let find = duplicates_query(index).map_or_else(String::new, |query| {
                format!("Find the duplicates: {query}\nRemove them, then rebuild:\n")
            });
            Fix::manual(format!("{find}{rebuild}"))
        } else {
            Fix::sql(rebuild)
        };
        (
            format!("Index {} is invalid", index.name),
            detail,
            fix.rollback(index.drop_statement())
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
    use std::collections::HashMap;

    use brisk_pg::catalog::{ForeignKey, Index, StatsWindow};
    use brisk_report::{Finding, FixKind};

    use super::{plan, reindex_leftover, IndexFacts, Usage};
    use crate::check::CheckOptions;

    const DAY: f64 = 86_400.0;
    /// 2025-06-14 00:00 UTC: when the statistics of these tests began.
    const BEGAN: f64 = 1_749_859_200.0;

    /// A plain btree index on table 1 over `columns` (key columns), scanned `scans` times.
    fn btree(oid: u32, name: &str, columns: &[i16], scans: i64) -> Index {
        let n = columns.len();
        Index {
            oid,
            schema: "public".into(),
            name: name.into(),
            table_oid: 1,
            table: "t".into(),
            method: "btree".into(),
            relkind: 'i',
            is_partition_child: false,
            is_unique: false,
            nulls_not_distinct: false,
            is_immediate: true,
            is_primary: false,
            is_valid: true,
            is_ready: true,
            is_replica_identity: false,
            constraint_type: None,
            referenced_by_fk: false,
            build_in_progress: false,
            key_count: n,
            columns: columns.to_vec(),
            column_names: columns.iter().map(|c| Some(format!("c{c}"))).collect(),
            opclasses: vec![3124; n],
            collations: vec![0; n],
            options: vec![0; n],
            expressions: None,
            predicate: None,
            definition: format!(
                "CREATE INDEX {name} ON public.t USING btree (c{})",
                columns[0]
            ),
            size_bytes: 8192 * i64::from(oid),
            scans,
            pages: 1,
            tuples: 0.0,
            fillfactor: None,
            column_stats: Vec::new(),
        }
    }

    fn primary_key(mut index: Index) -> Index {
        index.is_primary = true;
        index.is_unique = true;
        index.constraint_type = Some('p');
        index
    }

    fn foreign_key(columns: &[i16]) -> ForeignKey {
        ForeignKey {
            name: "t_fk".into(),
            schema: "public".into(),
            table: "t".into(),
            table_oid: 1,
            columns: columns.to_vec(),
            column_names: columns.iter().map(|c| format!("c{c}")).collect(),
            referenced: "public.parent".into(),
            table_bytes: 0,
            table_tuples: 0.0,
            referenced_tuples: 0.0,
        }
    }

    /// Statistics reset at [`BEGAN`], read a minute later.
    fn window(reset: bool) -> StatsWindow {
        StatsWindow {
            since_reset_secs: reset.then_some(60.0),
            since_start_secs: 60.0,
            read_at_unix_secs: BEGAN + 60.0,
        }
    }

    /// The plan's findings when judged `age` seconds after the statistics began.
    fn judge(indexes: &[Index], foreign_keys: &[ForeignKey], age: f64) -> Vec<Finding> {
        let window = window(true);
        plan(
            &IndexFacts {
                indexes,
                foreign_keys,
                table_writes: &HashMap::new(),
                usage: Some(Usage {
                    window: &window,
                    now_unix_secs: BEGAN + age,
                }),
            },
            &CheckOptions::default(),
        )
    }

    fn about<'a>(findings: &'a [Finding], name: &str) -> Vec<&'a Finding> {
        let subject = format!("public.{name}");
        findings.iter().filter(|f| f.subject == subject).collect()
    }

    /// The one finding about `name`, with its check.
    fn only<'a>(findings: &'a [Finding], name: &str, check: &str) -> &'a Finding {
        let found = about(findings, name);
        assert_eq!(found.len(), 1, "{name}: {findings:#?}");
        assert_eq!(found[0].check, check, "{found:#?}");
        found[0]
    }

    fn drops(finding: &Finding) -> bool {
        finding
            .fix
            .as_ref()
            .is_some_and(|f| f.kind == FixKind::Sql && f.apply.starts_with("DROP INDEX"))
    }

    fn dropped(findings: &[Finding]) -> Vec<String> {
        let mut names: Vec<String> = findings
            .iter()
            .filter(|f| drops(f))
            .map(|f| f.subject.trim_start_matches("public.").to_string())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn young_statistics_give_a_date_to_check_again_and_no_drop() {
        let findings = judge(&[btree(1, "t_a", &[1], 0)], &[], 3_600.0);
        let unused = only(&findings, "t_a", "index.unused");
        assert_eq!(unused.severity, brisk_report::Severity::Info);
        let fix = unused.fix.as_ref().unwrap();
        assert_eq!(fix.kind, FixKind::Manual);
        assert!(!fix.apply.contains("DROP"), "{}", fix.apply);
        // Seven days after the reset.
        assert!(
            fix.apply.starts_with(
                "Check again on 2025-06-21 00:00 UTC, when the statistics cover 7 days"
            ),
            "{}",
            fix.apply
        );
    }

    #[test]
    fn without_a_reset_the_date_counts_from_the_servers_start_and_says_so() {
        let window = window(false);
        let findings = plan(
            &IndexFacts {
                indexes: &[btree(1, "t_a", &[1], 0)],
                foreign_keys: &[],
                table_writes: &HashMap::new(),
                usage: Some(Usage {
                    window: &window,
                    now_unix_secs: BEGAN + DAY,
                }),
            },
            &CheckOptions::default(),
        );
        let fix = only(&findings, "t_a", "index.unused").fix.as_ref().unwrap();
        assert!(fix.apply.starts_with("Check again on 2025-06-21 00:00 UTC"));
        assert!(fix.apply.contains("not known"), "{}", fix.apply);
    }

    #[test]
    fn old_statistics_drop_an_unused_index() {
        let findings = judge(&[btree(1, "t_a", &[1], 0)], &[], 8.0 * DAY);
        let unused = only(&findings, "t_a", "index.unused");
        assert_eq!(unused.severity, brisk_report::Severity::Warning);
        assert_eq!(
            unused.fix.as_ref().unwrap().apply,
            "DROP INDEX CONCURRENTLY IF EXISTS public.t_a;"
        );
        // The same index, judged a day earlier, has no evidence yet.
        let earlier = judge(&[btree(1, "t_a", &[1], 0)], &[], 6.0 * DAY);
        assert!(!drops(only(&earlier, "t_a", "index.unused")));
    }

    #[test]
    fn of_two_unused_duplicates_only_the_newer_goes() {
        for age in [60.0, 8.0 * DAY] {
            let findings = judge(
                &[btree(1, "t_a", &[1], 0), btree(2, "t_a2", &[1], 0)],
                &[],
                age,
            );
            let dup = only(&findings, "t_a2", "index.duplicate");
            assert!(dup.title.ends_with(" t_a"), "{}", dup.title);
            assert!(dup
                .detail
                .as_ref()
                .unwrap()
                .contains("t_a stays: it is the older"));
            assert!(about(&findings, "t_a").is_empty(), "{findings:#?}");
            assert_eq!(dropped(&findings), ["t_a2"]);
        }
    }

    #[test]
    fn of_three_duplicates_the_busiest_stays_and_both_others_name_it() {
        let indexes = [
            btree(1, "t_a", &[1], 0),
            btree(2, "t_a2", &[1], 7),
            btree(3, "t_a3", &[1], 0),
        ];
        let findings = judge(&indexes, &[], 8.0 * DAY);
        for name in ["t_a", "t_a3"] {
            let dup = only(&findings, name, "index.duplicate");
            assert!(dup.title.ends_with(" t_a2"), "{}", dup.title);
            assert!(dup
                .detail
                .as_ref()
                .unwrap()
                .contains("t_a2 stays: it is the busier"));
        }
        assert!(about(&findings, "t_a2").is_empty());
        assert_eq!(dropped(&findings), ["t_a", "t_a3"]);
    }

    #[test]
    fn a_used_prefix_stays_and_its_unused_wider_index_goes_once_statistics_are_old() {
        let indexes = [btree(1, "t_a", &[1], 40), btree(2, "t_a_b", &[1, 2], 0)];
        let findings = judge(&indexes, &[], 8.0 * DAY);
        let unused = only(&findings, "t_a_b", "index.unused");
        assert!(drops(unused));
        assert!(unused.detail.as_ref().unwrap().contains("t_a stays"));
        assert!(about(&findings, "t_a").is_empty(), "{findings:#?}");

        // Young statistics prove nothing about t_a_b: the prefix goes, the wider one stays.
        let findings = judge(&indexes, &[], 60.0);
        let redundant = only(&findings, "t_a", "index.redundant");
        assert!(redundant.title.ends_with(" t_a_b"));
        assert!(redundant
            .detail
            .as_ref()
            .unwrap()
            .contains("t_a_b stays: it is the wider one"));
        assert!(about(&findings, "t_a_b").is_empty(), "{findings:#?}");
        assert_eq!(dropped(&findings), ["t_a"]);
    }

    #[test]
    fn a_chain_of_prefixes_names_the_widest_as_the_one_that_stays() {
        // t_a leads t_a_b, which is unused and leads t_a_b_c.
        let indexes = [
            btree(1, "t_a", &[1], 5),
            btree(2, "t_a_b", &[1, 2], 0),
            btree(3, "t_a_b_c", &[1, 2, 3], 9),
        ];
        for age in [60.0, 8.0 * DAY] {
            let findings = judge(&indexes, &[], age);
            for name in ["t_a", "t_a_b"] {
                let redundant = only(&findings, name, "index.redundant");
                assert!(redundant.title.ends_with(" t_a_b_c"), "{}", redundant.title);
            }
            assert!(about(&findings, "t_a_b_c").is_empty());
        }
    }

    #[test]
    fn indexes_that_back_a_key_or_a_foreign_key_are_never_dropped() {
        let indexes = [
            primary_key(btree(1, "t_pkey", &[1], 0)),
            btree(2, "t_id", &[1], 0),
            btree(3, "t_fk_col", &[4], 0),
        ];
        let findings = judge(&indexes, &[foreign_key(&[4])], 30.0 * DAY);
        // Not a duplicate (the key is unique), but the key serves every lookup of t_id.
        let redundant = only(&findings, "t_id", "index.redundant");
        assert!(redundant
            .detail
            .as_ref()
            .unwrap()
            .contains("and it backs the primary key"));
        assert!(about(&findings, "t_pkey").is_empty());
        // The only index for the foreign key: fk.unindexed would ask for it back.
        assert!(about(&findings, "t_fk_col").is_empty(), "{findings:#?}");

        // With a second index for the foreign key, one of them may go, not both.
        let indexes = [
            btree(3, "t_fk_x", &[4, 5], 0),
            btree(4, "t_fk_y", &[4, 6], 0),
        ];
        let findings = judge(&indexes, &[foreign_key(&[4])], 30.0 * DAY);
        assert_eq!(dropped(&findings), ["t_fk_y"], "{findings:#?}");
    }

    /// Every mix of scans over a set of related indexes, young and old: whatever the plan,
    /// applying all of its drops leaves a stand-in for every index that was used, never
    /// drops both indexes of a pair unless a third that stays serves the narrower, and
    /// gives no index two findings.
    #[test]
    fn applying_every_drop_is_safe_for_every_mix_of_scans() {
        let shapes: [(&str, &[i16]); 6] = [
            ("a", &[1]),
            ("a_copy", &[1]),
            ("a_b", &[1, 2]),
            ("a_b_c", &[1, 2, 3]),
            ("b", &[2]),
            ("b_a", &[2, 1]),
        ];
        for mix in 0..(1u32 << shapes.len()) {
            for age in [60.0, 8.0 * DAY] {
                let indexes: Vec<Index> = shapes
                    .iter()
                    .enumerate()
                    .map(|(n, (name, columns))| {
                        btree(n as u32 + 1, name, columns, i64::from(mix >> n & 1) * 10)
                    })
                    .collect();
                let findings = judge(&indexes, &[], age);
                let gone = dropped(&findings);
                let is_gone = |i: &Index| gone.contains(&i.name);
                let serves = |k: &Index, i: &Index| {
                    k.oid != i.oid && (k.columns == i.columns || super::is_covered_by(i, k))
                };
                for index in &indexes {
                    assert!(about(&findings, &index.name).len() <= 1, "{findings:#?}");
                    if !is_gone(index) {
                        continue;
                    }
                    let stand_in = indexes.iter().any(|k| !is_gone(k) && serves(k, index));
                    assert!(
                        stand_in || (index.scans == 0 && age > 7.0 * DAY),
                        "mix {mix:b}: {} goes with no index to stand in: {findings:#?}",
                        index.name
                    );
                    for other in indexes.iter().filter(|o| is_gone(o) && serves(o, index)) {
                        assert!(
                            stand_in,
                            "mix {mix:b}: {} and {} both go: {findings:#?}",
                            index.name, other.name
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn reindex_leftovers_are_recognised_by_name() {
        assert!(reindex_leftover("users_email_idx_ccnew"));
        assert!(reindex_leftover("users_email_idx_ccnew1"));
        assert!(reindex_leftover("users_email_idx_ccold"));
        assert!(!reindex_leftover("users_email_idx"));
    }
}
