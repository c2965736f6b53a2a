//! Typed snapshots for the index advisor: planner statistics per column (`pg_stats`, with
//! each column's type), the shape of each index column by column, the planner's cost
//! settings, the extensions the advice depends on, the whole `pg_stat_statements`
//! workload, and the signatures of functions whose arguments a query leaves untyped.
//!
//! Like [`crate::catalog`], each function is one set-based query, starts with `/* brisk */`
//! and judges nothing.

use std::collections::HashMap;

use crate::catalog::{quote_ident, USER_RELATION};
use crate::{PgError, Session};

/// One table column with its type and the planner's statistics about it.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnInfo {
    pub table_oid: u32,
    pub schema: String,
    pub table: String,
    pub attnum: i16,
    pub name: String,
    /// `format_type`, with modifiers: `integer`, `character varying(200)`, `text[]`.
    pub type_name: String,
    /// `pg_type.typcategory`: `N` numeric, `S` string, `D` date/time, `B` boolean, `A` array,
    /// `U` user-defined (`jsonb`, `tsvector`), ...
    pub type_category: char,
    pub not_null: bool,
    /// The rest is `pg_stats`; all `None` or empty when the table was never analyzed or brisk
    /// may not read it.
    pub null_frac: Option<f64>,
    pub avg_width: Option<f64>,
    /// As `pg_stats` says: positive is a count, negative is minus a fraction of the rows.
    pub n_distinct: Option<f64>,
    /// Correlation between the column's order and the rows' physical order, -1 to 1.
    pub correlation: Option<f64>,
    /// Most common values, in the column's text format, most common first.
    pub most_common_vals: Vec<String>,
    /// The share of rows of each most common value.
    pub most_common_freqs: Vec<f64>,
    /// Bounds of equal-population buckets over the values that are not most common.
    pub histogram_bounds: Vec<String>,
}

impl ColumnInfo {
    /// Whether `pg_stats` has a row for the column.
    pub fn has_statistics(&self) -> bool {
        self.null_frac.is_some()
    }

    /// The number of distinct values over `rows` rows, when the statistics say.
    pub fn distinct_values(&self, rows: f64) -> Option<f64> {
        let n = self.n_distinct?;
        Some(if n < 0.0 { -n * rows.max(0.0) } else { n })
    }
}

/// The columns of the tables named `tables` (by name, in any schema), with their statistics.
pub async fn columns(session: &Session, tables: &[String]) -> Result<Vec<ColumnInfo>, PgError> {
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "/* brisk */ SELECT c.oid, n.nspname::text, c.relname::text, a.attnum, a.attname::text,
               format_type(a.atttypid, a.atttypmod), t.typcategory::text, a.attnotnull,
               s.null_frac::float8, s.avg_width::float8, s.n_distinct::float8,
               s.correlation::float8, s.most_common_vals::text::text[],
               s.most_common_freqs::float8[], s.histogram_bounds::text::text[]
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid AND c.relkind IN ('r', 'p', 'm')
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_type t ON t.oid = a.atttypid
        LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname
             AND s.attname = a.attname AND NOT s.inherited
        WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relname = ANY($1) AND {USER_RELATION}
        ORDER BY n.nspname, c.relname, a.attnum"
    );
    let rows = session
        .query("reading column statistics", &sql, &[&tables])
        .await?;
    Ok(rows
        .iter()
        .map(|row| ColumnInfo {
            table_oid: row.get(0),
            schema: row.get(1),
            table: row.get(2),
            attnum: row.get(3),
            name: row.get(4),
            type_name: row.get(5),
            type_category: row.get::<_, String>(6).chars().next().unwrap_or('X'),
            not_null: row.get(7),
            null_frac: row.get(8),
            avg_width: row.get(9),
            n_distinct: row.get(10),
            correlation: row.get(11),
            most_common_vals: strings(row.get(12)),
            most_common_freqs: row.get::<_, Option<Vec<f64>>>(13).unwrap_or_default(),
            histogram_bounds: strings(row.get(14)),
        })
        .collect())
}

fn strings(values: Option<Vec<Option<String>>>) -> Vec<String> {
    values.unwrap_or_default().into_iter().flatten().collect()
}

/// An index, column by column, as `pg_get_indexdef` writes each: what the advisor compares
/// its candidates with.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexShape {
    pub oid: u32,
    /// Every column, key columns first, then INCLUDE columns: a column name (quoted as
    /// needed) or an expression (`lower(email)`).
    pub columns: Vec<String>,
    /// Per key column: its operator class, and whether it is the default for the type.
    pub opclasses: Vec<(String, bool)>,
}

pub async fn index_shapes(session: &Session) -> Result<Vec<IndexShape>, PgError> {
    let sql = format!(
        "/* brisk */ SELECT i.indexrelid,
               ARRAY(SELECT coalesce(pg_get_indexdef(i.indexrelid, k, true), '')
                     FROM generate_series(1, i.indnatts) k ORDER BY k),
               ARRAY(SELECT coalesce(o.opcname::text, '')
                     FROM unnest(i.indclass) WITH ORDINALITY u(oid, ord)
                     LEFT JOIN pg_opclass o ON o.oid = u.oid ORDER BY u.ord),
               ARRAY(SELECT coalesce(o.opcdefault, true)
                     FROM unnest(i.indclass) WITH ORDINALITY u(oid, ord)
                     LEFT JOIN pg_opclass o ON o.oid = u.oid ORDER BY u.ord)
        FROM pg_index i
        JOIN pg_class c ON c.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE {USER_RELATION}"
    );
    let rows = session.query("reading index columns", &sql, &[]).await?;
    Ok(rows
        .iter()
        .map(|row| {
            let names: Vec<String> = row.get(2);
            let defaults: Vec<bool> = row.get(3);
            IndexShape {
                oid: row.get(0),
                columns: row.get(1),
                opclasses: names.into_iter().zip(defaults).collect(),
            }
        })
        .collect())
}

/// The planner's cost constants, for estimating plans HypoPG cannot simulate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlannerCosts {
    pub seq_page_cost: f64,
    pub random_page_cost: f64,
    pub cpu_tuple_cost: f64,
    pub cpu_index_tuple_cost: f64,
    pub cpu_operator_cost: f64,
    pub block_size: f64,
}

impl Default for PlannerCosts {
    /// PostgreSQL's defaults.
    fn default() -> Self {
        PlannerCosts {
            seq_page_cost: 1.0,
            random_page_cost: 4.0,
            cpu_tuple_cost: 0.01,
            cpu_index_tuple_cost: 0.005,
            cpu_operator_cost: 0.0025,
            block_size: 8192.0,
        }
    }
}

pub async fn planner_costs(session: &Session) -> Result<PlannerCosts, PgError> {
    let rows = session
        .query(
            "reading planner cost settings",
            "/* brisk */ SELECT name, setting::float8 FROM pg_settings WHERE name = ANY($1)",
            &[&vec![
                "seq_page_cost",
                "random_page_cost",
                "cpu_tuple_cost",
                "cpu_index_tuple_cost",
                "cpu_operator_cost",
                "block_size",
            ]],
        )
        .await?;
    let values: HashMap<String, f64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let defaults = PlannerCosts::default();
    let get = |name: &str, default: f64| values.get(name).copied().unwrap_or(default);
    Ok(PlannerCosts {
        seq_page_cost: get("seq_page_cost", defaults.seq_page_cost),
        random_page_cost: get("random_page_cost", defaults.random_page_cost),
        cpu_tuple_cost: get("cpu_tuple_cost", defaults.cpu_tuple_cost),
        cpu_index_tuple_cost: get("cpu_index_tuple_cost", defaults.cpu_index_tuple_cost),
        cpu_operator_cost: get("cpu_operator_cost", defaults.cpu_operator_cost),
        block_size: get("block_size", defaults.block_size),
    })
}

/// An extension as this database has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtensionState {
    /// Created in this database, in this schema.
    Created { schema: String, version: String },
    /// Installed on the server (`pg_available_extensions`) but not created here.
    Available,
    /// Not installed on the server.
    Missing,
}

/// The state of each extension named in `names`, in that order.
pub async fn extensions(session: &Session, names: &[&str]) -> Result<Vec<ExtensionState>, PgError> {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let rows = session
        .query(
            "reading extensions",
            "/* brisk */ SELECT w.name,
                    (SELECT n.nspname::text FROM pg_extension e
                       JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = w.name),
                    (SELECT e.extversion::text FROM pg_extension e WHERE e.extname = w.name),
                    EXISTS (SELECT 1 FROM pg_available_extensions a WHERE a.name = w.name)
             FROM unnest($1::text[]) w(name)",
            &[&names],
        )
        .await?;
    let mut by_name: HashMap<String, ExtensionState> = HashMap::new();
    for row in &rows {
        let schema: Option<String> = row.get(1);
        let version: Option<String> = row.get(2);
        let state = match (schema, row.get::<_, bool>(3)) {
            (Some(schema), _) => ExtensionState::Created {
                schema,
                version: version.unwrap_or_default(),
            },
            (None, true) => ExtensionState::Available,
            (None, false) => ExtensionState::Missing,
        };
        by_name.insert(row.get(0), state);
    }
    Ok(names
        .iter()
        .map(|n| by_name.remove(n).unwrap_or(ExtensionState::Missing))
        .collect())
}

/// One statement of the `pg_stat_statements` workload, summed over users.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadStatement {
    pub query_id: i64,
    /// Normalized by pg_stat_statements: `$n` in place of constants.
    pub query: String,
    pub calls: i64,
    pub total_ms: f64,
    pub mean_ms: f64,
    pub rows: i64,
}

/// The statements of this database by total time, at most `limit`, leaving out brisk's own;
/// and how many seconds they cover (since `pg_stat_statements_info.stats_reset`, version 1.9
/// and later), when known.
pub async fn workload_statements(
    session: &Session,
    schema: &str,
    version: &str,
    limit: i64,
) -> Result<(Vec<WorkloadStatement>, Option<f64>), PgError> {
    let old = version_below(version, (1, 8));
    let total = if old { "total_time" } else { "total_exec_time" };
    let schema = quote_ident(schema);
    let sql = format!(
        "/* brisk */ SELECT queryid, min(query), sum(calls)::int8, sum({total})::float8,
               coalesce(sum({total}) / nullif(sum(calls), 0), 0)::float8, sum(rows)::int8
        FROM {schema}.pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND query NOT LIKE '/* brisk */%' AND queryid IS NOT NULL
        GROUP BY queryid
        ORDER BY 4 DESC
        LIMIT $1"
    );
    let rows = session
        .query("reading pg_stat_statements", &sql, &[&limit])
        .await?;
    let statements = rows
        .iter()
        .map(|row| WorkloadStatement {
            query_id: row.get(0),
            query: row
                .get::<_, Option<String>>(1)
                .unwrap_or_else(|| "<query text unavailable>".into()),
            calls: row.get(2),
            total_ms: row.get(3),
            mean_ms: row.get(4),
            rows: row.get(5),
        })
        .collect();
    let window = if version_below(version, (1, 9)) {
        None
    } else {
        let sql = format!(
            "/* brisk */ SELECT extract(epoch FROM now() - stats_reset)::float8 \
             FROM {schema}.pg_stat_statements_info"
        );
        session
            .query("reading pg_stat_statements_info", &sql, &[])
            .await?
            .first()
            .and_then(|row| row.get::<_, Option<f64>>(0))
    };
    Ok((statements, window))
}

/// One function's argument types, for typing the parameters a query passes to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSignature {
    /// Unqualified, as a query calls it: `date_trunc`.
    pub name: String,
    /// As `regtype` writes them: `integer`, `timestamp with time zone`, `text[]`.
    pub arg_types: Vec<String>,
}

/// The signatures of the functions, procedures excepted, named `names` that the search path
/// makes visible: one entry per overload.
pub async fn function_signatures(
    session: &Session,
    names: &[String],
) -> Result<Vec<FunctionSignature>, PgError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let rows = session
        .query(
            "reading function signatures",
            "/* brisk */ SELECT p.proname::text, p.proargtypes::oid[]::regtype[]::text[]
             FROM pg_proc p
             WHERE p.proname = ANY($1) AND p.prokind <> 'p' AND pg_function_is_visible(p.oid)",
            &[&names],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| FunctionSignature {
            name: row.get(0),
            arg_types: row.get(1),
        })
        .collect())
}

/// Whether an extension version such as `1.7` is older than `(major, minor)`.
fn version_below(version: &str, (major, minor): (u32, u32)) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    found < (major, minor)
}

/// The schemas an unqualified table name is looked up in, in order (`current_schemas`,
/// without the implicit `pg_catalog`).
pub async fn search_path(session: &Session) -> Result<Vec<String>, PgError> {
    let rows = session
        .query(
            "reading the search path",
            "/* brisk */ SELECT current_schemas(false)::text[]",
            &[],
        )
        .await?;
    Ok(rows
        .first()
        .map(|row| row.get::<_, Vec<String>>(0))
        .unwrap_or_default())
}

/// The session's `default_text_search_config` (`english`, without `pg_catalog.`): what a
/// full-text query most likely passes when the workload lost its literal configuration.
pub async fn text_search_config(session: &Session) -> Result<String, PgError> {
    let rows = session
        .query(
            "reading default_text_search_config",
            "/* brisk */ SELECT current_setting('default_text_search_config')",
            &[],
        )
        .await?;
    let config: String = rows.first().map(|row| row.get(0)).unwrap_or_default();
    Ok(config
        .strip_prefix("pg_catalog.")
        .unwrap_or(&config)
        .to_string())
}
