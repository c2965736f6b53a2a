//! Schema checks: sequences near their limit, unindexed foreign keys, missing primary keys.

use brisk_pg::catalog::{quote_ident, Sequence};
use brisk_report::{format_count, Evidence, Finding, Fix, Severity, Unit};

use super::indexes::leads_with;
use super::{CheckOptions, Part, Snapshot};

/// The largest value of an integer type, by its `format_type` name.
fn type_max(name: &str) -> Option<i64> {
    match name {
        "smallint" => Some(i64::from(i16::MAX)),
        "integer" => Some(i64::from(i32::MAX)),
        "bigint" => Some(i64::MAX),
        _ => None,
    }
}

fn type_min(name: &str) -> Option<i64> {
    match name {
        "smallint" => Some(i64::from(i16::MIN)),
        "integer" => Some(i64::from(i32::MIN)),
        "bigint" => Some(i64::MIN),
        _ => None,
    }
}

/// What stops a sequence first.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Limit<'a> {
    /// The range of the column it feeds, narrower than the sequence's: an `integer` column
    /// fed by a `bigint` sequence fails at 2^31 - 1, whatever the sequence allows.
    Column(&'a str),
    /// The range of the sequence's own type.
    SequenceType(&'a str),
    /// A MAXVALUE (or MINVALUE) set on the sequence.
    Custom,
}

impl Limit<'_> {
    fn describe(self) -> String {
        match self {
            Limit::Column(t) => format!("the range of its {t} column"),
            Limit::SequenceType(t) => format!("the {t} range"),
            Limit::Custom => "its MAXVALUE".to_string(),
        }
    }
}

/// How far a sequence has gone toward the limit that will stop it.
struct Usage<'a> {
    pct: f64,
    last: i64,
    limit: i64,
    limited_by: Limit<'a>,
}

fn usage(sequence: &Sequence) -> Option<Usage<'_>> {
    let last = sequence.last_value?;
    let column = sequence.owner_type.as_deref();
    let own_type = sequence.data_type.as_str();
    let (limit, limited_by) = if sequence.increment > 0 {
        let column_max = column.and_then(type_max).unwrap_or(i64::MAX);
        if column_max < sequence.max_value {
            (column_max, Limit::Column(column.unwrap_or("column")))
        } else if type_max(own_type) == Some(sequence.max_value) {
            (sequence.max_value, Limit::SequenceType(own_type))
        } else {
            (sequence.max_value, Limit::Custom)
        }
    } else {
        let column_min = column.and_then(type_min).unwrap_or(i64::MIN);
        if column_min > sequence.min_value {
            (column_min, Limit::Column(column.unwrap_or("column")))
        } else if type_min(own_type) == Some(sequence.min_value) {
            (sequence.min_value, Limit::SequenceType(own_type))
        } else {
            (sequence.min_value, Limit::Custom)
        }
    };
    let same_sign = (limit > 0) == (sequence.increment > 0);
    (limit != 0 && same_sign).then(|| Usage {
        pct: 100.0 * last as f64 / limit as f64,
        last,
        limit,
        limited_by,
    })
}

pub(super) fn sequence_exhaustion(
    snapshot: &Snapshot,
    options: &CheckOptions,
) -> Part<Vec<Finding>> {
    let sequences = snapshot.sequences()?;
    let mut found: Vec<(&Sequence, Usage)> = sequences
        .iter()
        .filter_map(|s| usage(s).map(|u| (s, u)))
        .filter(|(_, u)| u.pct >= options.sequence_warning_pct)
        .collect();
    found.sort_by(|a, b| b.1.pct.total_cmp(&a.1.pct));
    let mut findings: Vec<Finding> = found
        .into_iter()
        .map(|(sequence, usage)| sequence_finding(sequence, &usage, options))
        .collect();
    let unreadable: Vec<&Sequence> = sequences.iter().filter(|s| !s.readable).collect();
    if !unreadable.is_empty() {
        let mut schemas: Vec<String> = unreadable.iter().map(|s| quote_ident(&s.schema)).collect();
        schemas.dedup();
        let n = unreadable.len();
        findings.push(
            Finding::new(
                "sequence.exhaustion",
                Severity::Info,
                format!("{n} sequences"),
                format!("{n} sequences could not be read"),
            )
            .detail(
                "brisk's user lacks SELECT or USAGE on them, so how far they have gone is unknown.",
            )
            .evidence(Evidence::new("unreadable sequences", n as f64, Unit::Count))
            .fix(Fix::sql(format!(
                "GRANT SELECT ON ALL SEQUENCES IN SCHEMA {} TO <brisk's user>;",
                schemas.join(", ")
            ))),
        );
    }
    Ok(findings)
}

fn sequence_finding(sequence: &Sequence, usage: &Usage, options: &CheckOptions) -> Finding {
    let name = sequence.qualified_name();
    let feeds = match (&sequence.owner_table, &sequence.owner_column) {
        (Some(table), Some(column)) => format!(" It feeds {table}.{column}."),
        _ => String::new(),
    };
    // A cycling sequence with its own MAXVALUE wraps around by design.
    let by_design = sequence.cycles && usage.limited_by == Limit::Custom;
    let consequence = if sequence.cycles {
        " It is set to CYCLE, so it will wrap around and hand out values that may already exist."
    } else {
        " When it runs out, every INSERT that needs a new value fails."
    };
    let severity = if by_design {
        Severity::Info
    } else if usage.pct >= options.sequence_critical_pct {
        Severity::Critical
    } else {
        Severity::Warning
    };
    Finding::new(
        "sequence.exhaustion",
        severity,
        &name,
        format!(
            "Sequence {} has used {:.1}% of {}",
            sequence.name,
            usage.pct,
            usage.limited_by.describe()
        ),
    )
    .detail(format!(
        "Its last value is {} of at most {}.{feeds}{consequence}",
        format_count(usage.last as f64),
        format_count(usage.limit as f64)
    ))
    .evidence(Evidence::new("last value", usage.last as f64, Unit::Count))
    .evidence(Evidence::new("limit", usage.limit as f64, Unit::Count))
    .evidence(Evidence::new("used", usage.pct, Unit::Percent))
    .fix(widen_fix(sequence, usage.limited_by))
}

fn widen_fix(sequence: &Sequence, limited_by: Limit) -> Fix {
    let name = sequence.qualified_name();
    match limited_by {
        Limit::Custom => {
            return Fix::sql(format!("ALTER SEQUENCE {name} NO MAXVALUE;"))
                .note("Lifts the sequence's own limit to its type's; instant.")
        }
        Limit::SequenceType("bigint") => {
            return Fix::manual(format!(
                "{name} is already bigint: restart it (ALTER SEQUENCE {name} RESTART WITH ...) only if old values are gone, or move to a new key."
            ))
        }
        _ => {}
    }
    let mut apply = String::new();
    // A serial's column is as narrow as its sequence: both must grow.
    let narrow_column = matches!(sequence.owner_type.as_deref(), Some("smallint" | "integer"));
    if let (true, Some(table), Some(column)) = (
        narrow_column,
        sequence.owner_table.as_deref(),
        sequence.owner_column.as_deref(),
    ) {
        apply.push_str(&format!(
            "ALTER TABLE {table} ALTER COLUMN {column} TYPE bigint;\n"
        ));
    }
    if sequence.data_type != "bigint" {
        apply.push_str(&format!("ALTER SEQUENCE {name} AS bigint;\n"));
    }
    let fix = Fix::sql(apply.trim_end().to_string());
    if narrow_column {
        fix.note("Changing the column type rewrites the table and its indexes under an ACCESS EXCLUSIVE lock: plan a window, or add a bigint column, backfill it in batches and swap it in. Columns that reference it (foreign keys) need the same change.")
    } else {
        fix.note("ALTER SEQUENCE ... AS bigint is instant.")
    }
}

pub(super) fn unindexed_foreign_keys(
    snapshot: &Snapshot,
    _options: &CheckOptions,
) -> Part<Vec<Finding>> {
    let foreign_keys = snapshot.foreign_keys()?;
    let indexes = snapshot.indexes()?;
    let tables = snapshot.tables()?;
    let mut findings = Vec::new();
    for fk in foreign_keys {
        let covered = indexes
            .iter()
            .any(|i| i.table_oid == fk.table_oid && i.is_valid && leads_with(i, &fk.columns));
        if covered {
            continue;
        }
        let partitioned = tables
            .iter()
            .any(|t| t.oid == fk.table_oid && t.relkind == 'p');
        let table = format!("{}.{}", quote_ident(&fk.schema), quote_ident(&fk.table));
        let columns: Vec<String> = fk.column_names.iter().map(|c| quote_ident(c)).collect();
        let index_name = index_name(&fk.table, &fk.column_names);
        let concurrently = if partitioned { "" } else { "CONCURRENTLY " };
        // Small tables are scanned cheaply either way; a missing index matters once the
        // table is big enough that each referenced-row delete scans it for real.
        let severity = if fk.table_tuples >= 10_000.0 {
            Severity::Warning
        } else {
            Severity::Info
        };
        let mut fix = Fix::sql(format!(
            "CREATE INDEX {concurrently}IF NOT EXISTS {} ON {table} ({});",
            quote_ident(&index_name),
            columns.join(", ")
        ))
        .rollback(format!(
            "DROP INDEX {concurrently}IF EXISTS {}.{};",
            quote_ident(&fk.schema),
            quote_ident(&index_name)
        ));
        fix = if partitioned {
            fix.note("CREATE INDEX on a partitioned table cannot be CONCURRENTLY: create it CONCURRENTLY on each partition first, then on the parent (ON ONLY) and ATTACH them, to avoid blocking writes.")
        } else {
            fix.note("CREATE INDEX CONCURRENTLY does not block reads or writes; it cannot run inside a transaction block.")
        };
        findings.push(
            Finding::new(
                "fk.unindexed",
                severity,
                format!("{table} ({})", columns.join(", ")),
                format!(
                    "Foreign key {} on {} has no index",
                    fk.name, fk.table
                ),
            )
            .detail(format!(
                "Deleting or updating a row of {} makes PostgreSQL find the referencing rows in {} by scanning it, under lock; joins on ({}) scan it too.",
                fk.referenced,
                table,
                columns.join(", ")
            ))
            .evidence(Evidence::new("referencing rows", fk.table_tuples, Unit::Count))
            .evidence(Evidence::new("table size", fk.table_bytes as f64, Unit::Bytes))
            .evidence(Evidence::new("referenced rows", fk.referenced_tuples, Unit::Count))
            .fix(fix),
        );
    }
    Ok(findings)
}

/// `table_col1_col2_idx`: brisk-sql's one naming rule, which needs no quoting.
fn index_name(table: &str, columns: &[String]) -> String {
    let mut parts: Vec<&str> = vec![table];
    parts.extend(columns.iter().map(String::as_str));
    parts.push("idx");
    brisk_sql::index_name(&parts)
}

pub(super) fn no_primary_key(snapshot: &Snapshot, _options: &CheckOptions) -> Part<Vec<Finding>> {
    let tables = snapshot.tables()?;
    let indexes = snapshot.indexes()?;
    Ok(tables
        .iter()
        .filter(|t| (t.relkind == 'r' || t.relkind == 'p') && !t.is_partition && !t.has_primary_key)
        .map(|table| {
            let name = table.qualified_name();
            let unique = indexes.iter().find(|i| {
                i.table_oid == table.oid
                    && i.is_unique
                    && i.is_valid
                    && i.predicate.is_none()
                    && !i.has_expressions()
            });
            let fix = match unique {
                _ if table.relkind == 'p' => Fix::manual(format!(
                    "A partitioned table's primary key must include its partition key columns: ALTER TABLE {name} ADD PRIMARY KEY (<key columns>, <partition key columns>). It is built on every partition under an ACCESS EXCLUSIVE lock."
                )),
                Some(index) => Fix::sql(format!(
                    "ALTER TABLE {name} ADD CONSTRAINT {} PRIMARY KEY USING INDEX {};",
                    quote_ident(&format!("{}_pkey", table.name)),
                    quote_ident(&index.name)
                ))
                .note(format!(
                    "Promotes the existing unique index {}; its columns must be NOT NULL (SET NOT NULL scans the table under an ACCESS EXCLUSIVE lock).",
                    index.name
                )),
                None if table.has_id_column => Fix::manual(format!(
                    "The table has an id column but no key on it: if its values are unique and not null, ALTER TABLE {name} ADD PRIMARY KEY (id); otherwise add a key column under another name."
                )),
                None => Fix::sql(format!(
                    "ALTER TABLE {name} ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;"
                ))
                .note("Adding an identity column rewrites the table under an ACCESS EXCLUSIVE lock; if the rows already have a natural key, make that the primary key instead."),
            };
            Finding::new(
                "table.no_primary_key",
                Severity::Warning,
                &name,
                format!("Table {} has no primary key", table.name),
            )
            .detail("Without a primary key, duplicate rows go unnoticed, ORMs cannot address a single row, and logical replication cannot replicate its UPDATEs and DELETEs.")
            .evidence(Evidence::new("rows", table.tuples.max(table.live_tuples as f64).max(0.0), Unit::Count))
            .evidence(Evidence::new("size", table.heap_bytes as f64, Unit::Bytes))
            .fix(fix)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::index_name;

    #[test]
    fn index_names_fit_the_identifier_limit() {
        assert_eq!(
            index_name("orders", &["user_id".into()]),
            "orders_user_id_idx"
        );
        let long = index_name(&"t".repeat(60), &["column_with_a_long_name".into()]);
        assert!(long.len() <= 63, "{long}");
        assert!(long.ends_with("_idx"));
    }
}
