//! Partial indexes that the workload's values would decide: advice for normalized queries.
//!
//! `pg_stat_statements` replaces every constant with `$n`, so `state = 'pending'` and
//! `state = $2` look the same, and brisk cannot tell whether every call passes the same
//! value. What `pg_stats` does say is how rare each common value is. When a recommended index
//! serves queries that compare a low-cardinality column with a parameter, and some common
//! value of that column keeps at most half of the rows, a partial index on that value would
//! be that much smaller. brisk says so, labeled conditional: it holds only if the calls pass
//! that value, which a capture with values (`brisk proxy` with `log_parameters`, or a `.sql`
//! workload) can prove, and then brisk proposes the partial index itself, with what-if proof.

use brisk_pg::catalog::Table;
use brisk_sql::ConstantPredicate;

use super::candidates::{self, Candidate};
use super::snapshot::Snapshot;
use super::workload::Query;
use super::PlanBasis;

/// At most this many values are named per column, rarest first: a column that qualifies has
/// at most `candidates::PARTIAL_MAX_DISTINCT` values, and the rarest are the ones worth a
/// partial index.
const VALUES_SHOWN: usize = 3;

/// A partial index that would replace a recommended one, if the calls pass one value.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionalPartial {
    /// `schema.table`.
    pub table: String,
    /// The column the queries compare with a parameter.
    pub column: String,
    /// The recommended index it would replace, as described in its finding.
    pub replaces: String,
    /// The rarest common values first, with the share of rows each keeps (`pg_stats`).
    pub values: Vec<ConditionalValue>,
    /// The helped queries (indexes into [`super::Advice::queries`]) that compare the column
    /// with a parameter.
    pub queries: Vec<usize>,
}

/// One value of a [`ConditionalPartial`].
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionalValue {
    /// As `pg_stats` prints it.
    pub value: String,
    /// The share of the table's rows that hold it.
    pub frequency: f64,
    /// `orders (customer_id, placed_at DESC) WHERE state = 'pending'`.
    pub describe: String,
    pub create_sql: String,
    pub drop_sql: String,
}

impl ConditionalValue {
    /// How many times smaller than the full index the partial one would be: it holds an
    /// entry for this value's rows only.
    pub fn size_ratio(&self) -> f64 {
        1.0 / self.frequency.max(f64::MIN_POSITIVE)
    }
}

/// The conditional partial indexes of one recommendation: `candidate` is the recommended
/// index, `helps` the queries whose plans use it, `bases` how each query was planned.
pub(crate) fn for_recommendation(
    candidate: &Candidate,
    helps: &[usize],
    queries: &[Query],
    bases: &[PlanBasis],
    snapshot: &Snapshot,
) -> Vec<ConditionalPartial> {
    if candidate.method != candidates::Method::Btree || candidate.predicate.is_some() {
        return Vec::new();
    }
    let Some(table) = snapshot
        .tables
        .iter()
        .find(|t| t.oid == candidate.table_oid)
    else {
        return Vec::new();
    };
    let mut out: Vec<ConditionalPartial> = Vec::new();
    for &q in helps {
        // With values, brisk saw the constants and proposed the partial index itself.
        if bases.get(q).is_none_or(|b| *b == PlanBasis::Values) {
            continue;
        }
        for usage in &queries[q].analysis.tables {
            if snapshot.resolve(&usage.table).map(|t| t.oid) != Some(table.oid) {
                continue;
            }
            for predicate in usage.equality.iter().filter(|p| !p.under_or) {
                // A literal constant is not a parameter: the text itself fixes it.
                if usage.constants.iter().any(|c| c.column == predicate.column) {
                    continue;
                }
                if let Some(at) = out.iter().position(|c| c.column == predicate.column) {
                    if !out[at].queries.contains(&q) {
                        out[at].queries.push(q);
                    }
                    continue;
                }
                let values = rare_values(candidate, table, &predicate.column, snapshot);
                if !values.is_empty() {
                    out.push(ConditionalPartial {
                        table: candidate.qualified_table(),
                        column: predicate.column.clone(),
                        replaces: candidate.describe(),
                        values,
                        queries: vec![q],
                    });
                }
            }
        }
    }
    // The partial index replaces the recommended one only if every query that uses it
    // passes the value; a query that does not test the column would lose its index.
    out.retain(|c| c.queries.len() == helps.len());
    out
}

/// The common values of a low-cardinality column that keep at most half of the rows, rarest
/// first, each with the partial index that would serve it.
fn rare_values(
    candidate: &Candidate,
    table: &Table,
    column: &str,
    snapshot: &Snapshot,
) -> Vec<ConditionalValue> {
    let Some(info) = snapshot.column(table.oid, column) else {
        return Vec::new();
    };
    if !candidates::is_filter_column(info, snapshot.rows(table)) {
        return Vec::new();
    }
    let mut common: Vec<(&String, f64)> = info
        .most_common_vals
        .iter()
        .zip(info.most_common_freqs.iter().copied())
        .filter(|(_, f)| *f > 0.0 && *f <= candidates::PARTIAL_MAX_SELECTIVITY)
        .collect();
    common.sort_by(|a, b| a.1.total_cmp(&b.1));
    common
        .into_iter()
        .take(VALUES_SHOWN)
        .filter_map(|(value, frequency)| {
            let constant = ConstantPredicate {
                column: column.to_string(),
                operator: "=".into(),
                value: Some(quote_literal(value)),
                under_or: false,
            };
            let partial = candidate.partial_on(info, &constant)?;
            let partial_name = partial.name();
            Some(ConditionalValue {
                value: value.clone(),
                frequency,
                describe: partial.describe(),
                create_sql: partial.create_sql(&partial_name),
                drop_sql: partial.drop_sql(&partial_name),
            })
        })
        .collect()
}

/// `'it''s'`: a value as an SQL string literal, which PostgreSQL resolves to the column's
/// type.
fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_become_literals() {
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
