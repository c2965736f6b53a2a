//! Typed snapshots of the catalog and the statistics views.
//!
//! Each function runs one set-based query (never one query per table: a database with
//! thousands of tables must take the same handful of round trips) and returns plain structs
//! that the advisor judges. Every query starts with `/* brisk */`, so brisk's own statements
//! can be told apart in `pg_stat_statements`.
//!
//! Objects in `pg_catalog`, `information_schema`, TOAST and temporary schemas, and objects
//! that belong to an extension, are left out: their owners cannot change them.
//!
//! Functions such as `pg_relation_size` and `pg_get_indexdef` read the latest catalog, not
//! the query's snapshot, and return NULL for an object dropped while the query runs; every
//! such column is wrapped in `coalesce` so a concurrent DDL cannot turn into a decoding
//! error.

use std::collections::HashMap;

use tokio_postgres::Row;

pub use brisk_sql::quote_ident;

use crate::{PgError, Session};

/// A WHERE fragment (over `n` = pg_namespace and `c` = pg_class) that keeps user objects.
pub(crate) const USER_RELATION: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') \
    AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%' \
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass \
        AND d.objid = c.oid AND d.deptype = 'e')";

/// Server settings the checks need, by name.
#[derive(Debug, Clone, Default)]
pub struct Settings(pub HashMap<String, String>);

impl Settings {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn get_i64(&self, name: &str) -> Option<i64> {
        self.get(name)?.parse().ok()
    }
}

pub async fn settings(session: &Session) -> Result<Settings, PgError> {
    let rows = session
        .query(
            "reading server settings",
            "/* brisk */ SELECT name, setting FROM pg_settings WHERE name = ANY($1)",
            &[&vec![
                "max_connections",
                "superuser_reserved_connections",
                "reserved_connections",
                "autovacuum",
                "autovacuum_freeze_max_age",
                "autovacuum_multixact_freeze_max_age",
                "block_size",
                "shared_preload_libraries",
                "track_counts",
            ]],
        )
        .await?;
    Ok(Settings(
        rows.iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
            .collect(),
    ))
}

/// How long the statistics behind `idx_scan`, `n_dead_tup` and friends have been counting.
#[derive(Debug, Clone)]
pub struct StatsWindow {
    /// Seconds since `pg_stat_database.stats_reset` for this database, if it was ever reset.
    pub since_reset_secs: Option<f64>,
    /// Seconds since the server started.
    pub since_start_secs: f64,
    /// The server's clock when the window was read, in seconds since the Unix epoch: what
    /// turns the ages above into dates.
    pub read_at_unix_secs: f64,
}

impl StatsWindow {
    /// The shortest time the counters are known to cover. They survive a clean restart
    /// (only a reset or crash recovery clears them), so without a reset the server's start
    /// is a lower bound.
    pub fn age_secs(&self) -> f64 {
        self.since_reset_secs.unwrap_or(self.since_start_secs)
    }

    /// When the counters began (the reset, or else the server's start), in seconds since
    /// the Unix epoch.
    pub fn began_unix_secs(&self) -> f64 {
        self.read_at_unix_secs - self.age_secs()
    }
}

pub async fn stats_window(session: &Session) -> Result<StatsWindow, PgError> {
    let row = session
        .client()
        .query_one(
            "/* brisk */ SELECT \
               (SELECT extract(epoch FROM now() - stats_reset)::float8 FROM pg_stat_database \
                 WHERE datname = current_database()), \
               extract(epoch FROM now() - pg_postmaster_start_time())::float8, \
               extract(epoch FROM now())::float8",
            &[],
        )
        .await
        .map_err(|e| PgError::query("reading the statistics age", e))?;
    Ok(StatsWindow {
        since_reset_secs: row.get(0),
        since_start_secs: row.get(1),
        read_at_unix_secs: row.get(2),
    })
}

/// One column's statistics, for estimating row sizes: `pg_stats` width and null share, and
/// the type's storage length and alignment from `pg_type`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColumnStats {
    /// `pg_stats.avg_width`; `None` when the column has no statistics.
    pub avg_width: Option<f64>,
    pub null_frac: f64,
    /// `pg_type.typlen`: -1 for variable length (varlena), -2 for C strings.
    pub typlen: i16,
    /// `pg_type.typalign`: `c`, `s`, `i` or `d` (1, 2, 4 or 8 bytes).
    pub typalign: char,
}

/// One index, with what the checks need to judge it.
#[derive(Debug, Clone)]
pub struct Index {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    pub table_oid: u32,
    pub table: String,
    /// `btree`, `hash`, `gin`, `gist`, `brin`, `spgist`.
    pub method: String,
    /// `i` for an index, `I` for a partitioned index (its size and scans are its leaves').
    pub relkind: char,
    /// Attached to a partitioned index: judged as part of its parent.
    pub is_partition_child: bool,
    pub is_unique: bool,
    pub nulls_not_distinct: bool,
    pub is_immediate: bool,
    pub is_primary: bool,
    pub is_valid: bool,
    pub is_ready: bool,
    pub is_replica_identity: bool,
    /// `p`, `u` or `x` when the index enforces a constraint of its table.
    pub constraint_type: Option<char>,
    /// A foreign key of some table references the key this index enforces.
    pub referenced_by_fk: bool,
    /// A `CREATE INDEX` or `REINDEX` in this database is building it, or working on its
    /// table while it is invalid. Only visible for other users' builds with pg_monitor.
    pub build_in_progress: bool,
    /// Number of key columns; `columns` beyond it are INCLUDE columns.
    pub key_count: usize,
    /// Table column numbers, 0 for an expression.
    pub columns: Vec<i16>,
    /// Column names, `None` for an expression.
    pub column_names: Vec<Option<String>>,
    pub opclasses: Vec<u32>,
    pub collations: Vec<u32>,
    /// Per key column: DESC and NULLS FIRST bits.
    pub options: Vec<i16>,
    pub expressions: Option<String>,
    pub predicate: Option<String>,
    /// `pg_get_indexdef`: the CREATE INDEX statement.
    pub definition: String,
    /// For a partitioned index, the sum over its leaf indexes.
    pub size_bytes: i64,
    /// For a partitioned index, the sum over its leaf indexes.
    pub scans: i64,
    pub pages: i64,
    pub tuples: f64,
    pub fillfactor: Option<i32>,
    /// Statistics of the indexed columns, in index column order.
    pub column_stats: Vec<ColumnStats>,
}

impl Index {
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }

    pub fn qualified_table(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.table))
    }

    pub fn key_columns(&self) -> &[i16] {
        &self.columns[..self.key_count.min(self.columns.len())]
    }

    pub fn has_expressions(&self) -> bool {
        self.columns.contains(&0)
    }

    /// The statement that recreates the index: CONCURRENTLY, so it does not block writes,
    /// except for a partitioned index, which cannot be built concurrently (and whose
    /// `pg_get_indexdef` says `ON ONLY`, which would build the parent alone).
    pub fn create_statement(&self) -> String {
        let definition = if self.relkind == 'I' {
            self.definition.replacen(" ON ONLY ", " ON ", 1)
        } else {
            self.definition
                .replacen("CREATE INDEX ", "CREATE INDEX CONCURRENTLY ", 1)
                .replacen(
                    "CREATE UNIQUE INDEX ",
                    "CREATE UNIQUE INDEX CONCURRENTLY ",
                    1,
                )
        };
        format!("{definition};")
    }

    /// The statement that drops the index, CONCURRENTLY where PostgreSQL allows it.
    pub fn drop_statement(&self) -> String {
        let concurrently = if self.relkind == 'I' {
            ""
        } else {
            "CONCURRENTLY "
        };
        format!(
            "DROP INDEX {concurrently}IF EXISTS {};",
            self.qualified_name()
        )
    }
}

pub async fn indexes(session: &Session) -> Result<Vec<Index>, PgError> {
    // indnullsnotdistinct appeared in PostgreSQL 15.
    let nulls_not_distinct = if session.server().version_num >= 150_000 {
        "i.indnullsnotdistinct"
    } else {
        "false"
    };
    let sql = format!(
        "/* brisk */ WITH cols AS (
            SELECT k.indexrelid,
                   array_agg(s.avg_width::float8 ORDER BY k.ord) AS widths,
                   array_agg(coalesce(s.null_frac, 0)::float8 ORDER BY k.ord) AS null_fracs,
                   array_agg(t.typlen ORDER BY k.ord) AS lens,
                   array_agg(t.typalign::text ORDER BY k.ord) AS aligns
            FROM (SELECT i.indexrelid, i.indrelid, k.attnum, k.ord
                  FROM pg_index i, unnest(i.indkey) WITH ORDINALITY k(attnum, ord)) k
            JOIN pg_class ci ON ci.oid = k.indexrelid
            JOIN pg_class ct ON ct.oid = k.indrelid
            JOIN pg_namespace n ON n.oid = ct.relnamespace
            JOIN pg_attribute ia ON ia.attrelid = k.indexrelid AND ia.attnum = k.ord
            JOIN pg_type t ON t.oid = ia.atttypid
            LEFT JOIN pg_attribute ta ON ta.attrelid = k.indrelid AND ta.attnum = k.attnum
            LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND NOT s.inherited
                 AND s.tablename = CASE WHEN k.attnum = 0 THEN ci.relname ELSE ct.relname END
                 AND s.attname = CASE WHEN k.attnum = 0 THEN ia.attname ELSE ta.attname END
            WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
            GROUP BY k.indexrelid
        ), leaves AS (
            SELECT i.indexrelid,
                   sum(coalesce(ls.idx_scan, 0))::int8 AS scans,
                   sum(coalesce(pg_relation_size(t.relid), 0))::int8 AS size
            FROM pg_index i
            JOIN pg_class ci ON ci.oid = i.indexrelid AND ci.relkind = 'I'
            CROSS JOIN LATERAL pg_partition_tree(i.indexrelid) t
            LEFT JOIN pg_stat_all_indexes ls ON ls.indexrelid = t.relid
            WHERE t.isleaf
            GROUP BY i.indexrelid
        )
        SELECT i.indexrelid AS oid, n.nspname::text AS schema, ci.relname::text AS name,
               c.oid AS table_oid, c.relname::text AS table_name, am.amname::text AS method,
               ci.relkind::text AS relkind,
               EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)
                   AS is_partition_child,
               i.indisunique AS is_unique, {nulls_not_distinct} AS nulls_not_distinct,
               i.indimmediate AS is_immediate, i.indisprimary AS is_primary,
               i.indisvalid AS is_valid, i.indisready AS is_ready,
               i.indisreplident AS is_replica_identity,
               (SELECT con.contype::text FROM pg_constraint con
                 WHERE con.conindid = i.indexrelid AND con.conrelid = i.indrelid
                   AND con.contype IN ('p', 'u', 'x') LIMIT 1) AS constraint_type,
               EXISTS (SELECT 1 FROM pg_constraint f
                        WHERE f.contype = 'f' AND f.conindid = i.indexrelid) AS referenced_by_fk,
               EXISTS (SELECT 1 FROM pg_stat_progress_create_index p
                        WHERE p.datid = (SELECT oid FROM pg_database
                                          WHERE datname = current_database())
                          AND (p.index_relid = i.indexrelid
                               OR (p.relid = i.indrelid AND NOT i.indisvalid)))
                   AS build_in_progress,
               i.indnkeyatts::int4 AS key_count, i.indkey::int2[] AS columns,
               ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
                     LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                     ORDER BY k.ord) AS column_names,
               i.indclass::oid[] AS opclasses, i.indcollation::oid[] AS collations,
               i.indoption::int2[] AS options,
               pg_get_expr(i.indexprs, i.indrelid) AS expressions,
               pg_get_expr(i.indpred, i.indrelid) AS predicate,
               coalesce(pg_get_indexdef(i.indexrelid), '') AS definition,
               coalesce(lv.size, pg_relation_size(i.indexrelid), 0)::int8 AS size_bytes,
               coalesce(lv.scans, s.idx_scan, 0)::int8 AS scans,
               ci.relpages::int8 AS pages, ci.reltuples::float8 AS tuples,
               (SELECT option_value::int4 FROM pg_options_to_table(ci.reloptions)
                 WHERE option_name = 'fillfactor') AS fillfactor,
               cols.widths, cols.null_fracs, cols.lens, cols.aligns
        FROM pg_index i
        JOIN pg_class ci ON ci.oid = i.indexrelid
        JOIN pg_class c ON c.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_am am ON am.oid = ci.relam
        LEFT JOIN pg_stat_all_indexes s ON s.indexrelid = i.indexrelid
        LEFT JOIN cols ON cols.indexrelid = i.indexrelid
        LEFT JOIN leaves lv ON lv.indexrelid = i.indexrelid
        WHERE {USER_RELATION}
        ORDER BY n.nspname, c.relname, ci.relname"
    );
    let rows = session.query("listing indexes", &sql, &[]).await?;
    Ok(rows
        .iter()
        .map(|row| Index {
            oid: row.get("oid"),
            schema: row.get("schema"),
            name: row.get("name"),
            table_oid: row.get("table_oid"),
            table: row.get("table_name"),
            method: row.get("method"),
            relkind: first_char(row.get("relkind")),
            is_partition_child: row.get("is_partition_child"),
            is_unique: row.get("is_unique"),
            nulls_not_distinct: row.get("nulls_not_distinct"),
            is_immediate: row.get("is_immediate"),
            is_primary: row.get("is_primary"),
            is_valid: row.get("is_valid"),
            is_ready: row.get("is_ready"),
            is_replica_identity: row.get("is_replica_identity"),
            constraint_type: row
                .get::<_, Option<String>>("constraint_type")
                .map(first_char),
            referenced_by_fk: row.get("referenced_by_fk"),
            build_in_progress: row.get("build_in_progress"),
            key_count: row.get::<_, i32>("key_count").max(0) as usize,
            columns: row.get("columns"),
            column_names: row.get("column_names"),
            opclasses: row.get("opclasses"),
            collations: row.get("collations"),
            options: row.get("options"),
            expressions: row.get("expressions"),
            predicate: row.get("predicate"),
            definition: row.get("definition"),
            size_bytes: row.get("size_bytes"),
            scans: row.get("scans"),
            pages: row.get("pages"),
            tuples: row.get("tuples"),
            fillfactor: row.get("fillfactor"),
            column_stats: column_stats(row),
        })
        .collect())
}

/// Zips the per-column arrays `widths`, `null_fracs`, `lens` and `aligns` of a row.
fn column_stats(row: &Row) -> Vec<ColumnStats> {
    let widths: Vec<Option<f64>> = row.get::<_, Option<_>>("widths").unwrap_or_default();
    let null_fracs: Vec<f64> = row.get::<_, Option<_>>("null_fracs").unwrap_or_default();
    let lens: Vec<i16> = row.get::<_, Option<_>>("lens").unwrap_or_default();
    let aligns: Vec<String> = row.get::<_, Option<_>>("aligns").unwrap_or_default();
    widths
        .into_iter()
        .zip(null_fracs)
        .zip(lens)
        .zip(aligns)
        .map(|(((avg_width, null_frac), typlen), align)| ColumnStats {
            avg_width,
            null_frac,
            typlen,
            typalign: align.chars().next().unwrap_or('c'),
        })
        .collect()
}

/// One table (or materialized view), with its activity and maintenance statistics.
#[derive(Debug, Clone)]
pub struct Table {
    pub oid: u32,
    pub schema: String,
    pub name: String,
    /// `r` table, `p` partitioned table, `m` materialized view.
    pub relkind: char,
    pub is_partition: bool,
    pub has_primary_key: bool,
    /// A column named `id` exists (so a suggested `id` column would collide).
    pub has_id_column: bool,
    /// brisk's user may read the table, and so its `pg_stats` rows.
    pub can_select: bool,
    /// `pg_stats` has rows for the table: it was analyzed at some point, whatever the
    /// (resettable) activity counters say.
    pub has_statistics: bool,
    pub pages: i64,
    /// `reltuples`; -1 when never vacuumed or analyzed (PostgreSQL 14+).
    pub tuples: f64,
    pub heap_bytes: i64,
    pub total_bytes: i64,
    pub live_tuples: i64,
    pub dead_tuples: i64,
    pub modified_since_analyze: i64,
    pub inserted: i64,
    pub updated: i64,
    pub hot_updated: i64,
    pub deleted: i64,
    pub seq_scans: i64,
    pub last_vacuum_secs: Option<f64>,
    pub last_autovacuum_secs: Option<f64>,
    pub last_analyze_secs: Option<f64>,
    pub last_autoanalyze_secs: Option<f64>,
    /// Age in transactions of the oldest unfrozen XID of the table or its TOAST table.
    pub xid_age: Option<i64>,
    /// Age of the oldest multixact ID, likewise.
    pub mxid_age: Option<i64>,
    /// The table's own `autovacuum_freeze_max_age`, when set.
    pub freeze_max_age: Option<i64>,
    /// The table's own `autovacuum_multixact_freeze_max_age`, when set.
    pub multixact_freeze_max_age: Option<i64>,
    /// A VACUUM (auto or manual) is working on the table right now.
    pub vacuum_in_progress: bool,
    pub autovacuum_enabled: bool,
    pub fillfactor: Option<i32>,
    pub heap_blocks_hit: i64,
    pub heap_blocks_read: i64,
    pub index_blocks_hit: i64,
    pub index_blocks_read: i64,
    /// Statistics of the columns, in column order.
    pub column_stats: Vec<ColumnStats>,
}

impl Table {
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }

    /// Seconds since the last vacuum of either kind.
    pub fn last_vacuum_any(&self) -> Option<f64> {
        min_option(self.last_vacuum_secs, self.last_autovacuum_secs)
    }

    /// Seconds since the last analyze of either kind.
    pub fn last_analyze_any(&self) -> Option<f64> {
        min_option(self.last_analyze_secs, self.last_autoanalyze_secs)
    }
}

fn min_option(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

pub async fn tables(session: &Session) -> Result<Vec<Table>, PgError> {
    let sql = format!(
        "/* brisk */ WITH cols AS (
            SELECT a.attrelid,
                   array_agg(s.avg_width::float8 ORDER BY a.attnum) AS widths,
                   array_agg(coalesce(s.null_frac, 0)::float8 ORDER BY a.attnum) AS null_fracs,
                   array_agg(t.typlen ORDER BY a.attnum) AS lens,
                   array_agg(t.typalign::text ORDER BY a.attnum) AS aligns,
                   count(s.attname) > 0 AS has_statistics,
                   bool_or(a.attname = 'id') AS has_id_column
            FROM pg_attribute a
            JOIN pg_class c ON c.oid = a.attrelid AND c.relkind IN ('r', 'p', 'm')
            JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_type t ON t.oid = a.atttypid
            LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname
                 AND s.attname = a.attname AND NOT s.inherited
            WHERE a.attnum > 0 AND NOT a.attisdropped
              AND n.nspname NOT IN ('pg_catalog', 'information_schema')
            GROUP BY a.attrelid
        )
        SELECT c.oid, n.nspname::text AS schema, c.relname::text AS name,
               c.relkind::text AS relkind, c.relispartition AS is_partition,
               EXISTS (SELECT 1 FROM pg_constraint p WHERE p.conrelid = c.oid AND p.contype = 'p')
                   AS has_primary_key,
               coalesce(cols.has_id_column, false) AS has_id_column,
               coalesce(has_table_privilege(c.oid, 'SELECT'), false) AS can_select,
               coalesce(cols.has_statistics, false) AS has_statistics,
               c.relpages::int8 AS pages, c.reltuples::float8 AS tuples,
               coalesce(pg_relation_size(c.oid), 0)::int8 AS heap_bytes,
               coalesce(pg_total_relation_size(c.oid), 0)::int8 AS total_bytes,
               coalesce(s.n_live_tup, 0)::int8 AS live_tuples,
               coalesce(s.n_dead_tup, 0)::int8 AS dead_tuples,
               coalesce(s.n_mod_since_analyze, 0)::int8 AS modified_since_analyze,
               coalesce(s.n_tup_ins, 0)::int8 AS inserted,
               coalesce(s.n_tup_upd, 0)::int8 AS updated,
               coalesce(s.n_tup_hot_upd, 0)::int8 AS hot_updated,
               coalesce(s.n_tup_del, 0)::int8 AS deleted,
               coalesce(s.seq_scan, 0)::int8 AS seq_scans,
               extract(epoch FROM now() - s.last_vacuum)::float8 AS last_vacuum_secs,
               extract(epoch FROM now() - s.last_autovacuum)::float8 AS last_autovacuum_secs,
               extract(epoch FROM now() - s.last_analyze)::float8 AS last_analyze_secs,
               extract(epoch FROM now() - s.last_autoanalyze)::float8 AS last_autoanalyze_secs,
               CASE WHEN c.relfrozenxid <> '0'::xid THEN
                   greatest(age(c.relfrozenxid),
                            CASE WHEN t.relfrozenxid <> '0'::xid THEN age(t.relfrozenxid) ELSE 0 END)
               END::int8 AS xid_age,
               CASE WHEN c.relminmxid <> '0'::xid THEN
                   greatest(mxid_age(c.relminmxid),
                            CASE WHEN t.relminmxid <> '0'::xid THEN mxid_age(t.relminmxid) ELSE 0 END)
               END::int8 AS mxid_age,
               (SELECT option_value::int8 FROM pg_options_to_table(c.reloptions)
                 WHERE option_name = 'autovacuum_freeze_max_age') AS freeze_max_age,
               (SELECT option_value::int8 FROM pg_options_to_table(c.reloptions)
                 WHERE option_name = 'autovacuum_multixact_freeze_max_age')
                   AS multixact_freeze_max_age,
               EXISTS (SELECT 1 FROM pg_stat_progress_vacuum v WHERE v.relid = c.oid)
                   AS vacuum_in_progress,
               coalesce((SELECT option_value::bool FROM pg_options_to_table(c.reloptions)
                 WHERE option_name = 'autovacuum_enabled'), true) AS autovacuum_enabled,
               (SELECT option_value::int4 FROM pg_options_to_table(c.reloptions)
                 WHERE option_name = 'fillfactor') AS fillfactor,
               coalesce(io.heap_blks_hit, 0)::int8 AS heap_blocks_hit,
               coalesce(io.heap_blks_read, 0)::int8 AS heap_blocks_read,
               coalesce(io.idx_blks_hit, 0)::int8 AS index_blocks_hit,
               coalesce(io.idx_blks_read, 0)::int8 AS index_blocks_read,
               cols.widths, cols.null_fracs, cols.lens, cols.aligns
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
        LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
        LEFT JOIN pg_statio_all_tables io ON io.relid = c.oid
        LEFT JOIN cols ON cols.attrelid = c.oid
        WHERE c.relkind IN ('r', 'p', 'm') AND {USER_RELATION}
        ORDER BY n.nspname, c.relname"
    );
    let rows = session.query("listing tables", &sql, &[]).await?;
    Ok(rows
        .iter()
        .map(|row| Table {
            oid: row.get("oid"),
            schema: row.get("schema"),
            name: row.get("name"),
            relkind: first_char(row.get("relkind")),
            is_partition: row.get("is_partition"),
            has_primary_key: row.get("has_primary_key"),
            has_id_column: row.get("has_id_column"),
            can_select: row.get("can_select"),
            has_statistics: row.get("has_statistics"),
            pages: row.get("pages"),
            tuples: row.get("tuples"),
            heap_bytes: row.get("heap_bytes"),
            total_bytes: row.get("total_bytes"),
            live_tuples: row.get("live_tuples"),
            dead_tuples: row.get("dead_tuples"),
            modified_since_analyze: row.get("modified_since_analyze"),
            inserted: row.get("inserted"),
            updated: row.get("updated"),
            hot_updated: row.get("hot_updated"),
            deleted: row.get("deleted"),
            seq_scans: row.get("seq_scans"),
            last_vacuum_secs: row.get("last_vacuum_secs"),
            last_autovacuum_secs: row.get("last_autovacuum_secs"),
            last_analyze_secs: row.get("last_analyze_secs"),
            last_autoanalyze_secs: row.get("last_autoanalyze_secs"),
            xid_age: row.get("xid_age"),
            mxid_age: row.get("mxid_age"),
            freeze_max_age: row.get("freeze_max_age"),
            multixact_freeze_max_age: row.get("multixact_freeze_max_age"),
            vacuum_in_progress: row.get("vacuum_in_progress"),
            autovacuum_enabled: row.get("autovacuum_enabled"),
            fillfactor: row.get("fillfactor"),
            heap_blocks_hit: row.get("heap_blocks_hit"),
            heap_blocks_read: row.get("heap_blocks_read"),
            index_blocks_hit: row.get("index_blocks_hit"),
            index_blocks_read: row.get("index_blocks_read"),
            column_stats: column_stats(row),
        })
        .collect())
}

/// A foreign key constraint.
#[derive(Debug, Clone)]
pub struct ForeignKey {
    pub name: String,
    pub schema: String,
    pub table: String,
    pub table_oid: u32,
    /// Referencing column numbers, in constraint order.
    pub columns: Vec<i16>,
    pub column_names: Vec<String>,
    pub referenced: String,
    pub table_bytes: i64,
    pub table_tuples: f64,
    pub referenced_tuples: f64,
}

pub async fn foreign_keys(session: &Session) -> Result<Vec<ForeignKey>, PgError> {
    let sql = format!(
        "/* brisk */ SELECT con.conname::text, n.nspname::text, c.relname::text, c.oid,
               con.conkey::int2[],
               ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
                     JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
                     ORDER BY k.ord),
               quote_ident(rn.nspname) || '.' || quote_ident(r.relname),
               coalesce(pg_relation_size(c.oid), 0)::int8, greatest(c.reltuples, 0)::float8,
               greatest(r.reltuples, 0)::float8
        FROM pg_constraint con
        JOIN pg_class c ON c.oid = con.conrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_class r ON r.oid = con.confrelid
        JOIN pg_namespace rn ON rn.oid = r.relnamespace
        WHERE con.contype = 'f' AND con.conparentid = 0 AND {USER_RELATION}
        ORDER BY n.nspname, c.relname, con.conname"
    );
    let rows = session.query("listing foreign keys", &sql, &[]).await?;
    Ok(rows
        .iter()
        .map(|row| ForeignKey {
            name: row.get(0),
            schema: row.get(1),
            table: row.get(2),
            table_oid: row.get(3),
            columns: row.get(4),
            column_names: row.get(5),
            referenced: row.get(6),
            table_bytes: row.get(7),
            table_tuples: row.get(8),
            referenced_tuples: row.get(9),
        })
        .collect())
}

/// A sequence, with the column it feeds: the column that owns it (serial, identity,
/// `OWNED BY`) or, failing that, a column whose default calls `nextval` on it.
#[derive(Debug, Clone)]
pub struct Sequence {
    pub schema: String,
    pub name: String,
    /// `smallint`, `integer` or `bigint`.
    pub data_type: String,
    /// `None` when brisk may not read it (no USAGE or SELECT privilege) or it was never used.
    pub last_value: Option<i64>,
    pub readable: bool,
    pub min_value: i64,
    pub max_value: i64,
    pub increment: i64,
    pub cycles: bool,
    /// The table of the column it feeds, schema-qualified and quoted as needed.
    pub owner_table: Option<String>,
    /// The column it feeds, quoted as needed.
    pub owner_column: Option<String>,
    /// The fed column's type, which may be narrower than the sequence's.
    pub owner_type: Option<String>,
    pub is_identity: bool,
}

impl Sequence {
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

pub async fn sequences(session: &Session) -> Result<Vec<Sequence>, PgError> {
    let sql = format!(
        "/* brisk */ SELECT n.nspname::text AS schema, c.relname::text AS name,
               format_type(sq.seqtypid, NULL) AS data_type,
               CASE WHEN coalesce(has_sequence_privilege(c.oid, 'SELECT,USAGE'), false)
                    THEN pg_sequence_last_value(c.oid) END AS last_value,
               coalesce(has_sequence_privilege(c.oid, 'SELECT,USAGE'), false) AS readable,
               sq.seqmin AS min_value, sq.seqmax AS max_value,
               sq.seqincrement AS increment, sq.seqcycle AS cycles,
               feeds.table_name, feeds.column_name, feeds.column_type,
               coalesce(feeds.is_identity, false) AS is_identity
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_sequence sq ON sq.seqrelid = c.oid
        LEFT JOIN LATERAL (
            SELECT quote_ident(tn.nspname) || '.' || quote_ident(t.relname) AS table_name,
                   quote_ident(a.attname) AS column_name,
                   format_type(a.atttypid, NULL) AS column_type,
                   d.deptype = 'i' AS is_identity
            FROM pg_depend d
            LEFT JOIN pg_attrdef ad ON d.classid = 'pg_attrdef'::regclass AND ad.oid = d.objid
            JOIN pg_class t ON t.oid = CASE WHEN d.classid = 'pg_attrdef'::regclass
                                            THEN ad.adrelid ELSE d.refobjid END
            JOIN pg_namespace tn ON tn.oid = t.relnamespace
            JOIN pg_attribute a ON a.attrelid = t.oid
                 AND a.attnum = CASE WHEN d.classid = 'pg_attrdef'::regclass
                                     THEN ad.adnum ELSE d.refobjsubid END
            WHERE (d.classid = 'pg_class'::regclass AND d.objid = c.oid
                   AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))
               OR (d.classid = 'pg_attrdef'::regclass AND d.refobjid = c.oid
                   AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'n')
            -- The narrowest column runs out first; then the owning column.
            ORDER BY CASE a.atttypid WHEN 'int2'::regtype THEN 0
                                     WHEN 'int4'::regtype THEN 1 ELSE 2 END,
                     d.classid = 'pg_attrdef'::regclass
            LIMIT 1
        ) feeds ON true
        WHERE c.relkind = 'S' AND {USER_RELATION}
        ORDER BY n.nspname, c.relname"
    );
    let rows = session.query("listing sequences", &sql, &[]).await?;
    Ok(rows
        .iter()
        .map(|row| Sequence {
            schema: row.get("schema"),
            name: row.get("name"),
            data_type: row.get("data_type"),
            last_value: row.get("last_value"),
            readable: row.get("readable"),
            min_value: row.get("min_value"),
            max_value: row.get("max_value"),
            increment: row.get("increment"),
            cycles: row.get("cycles"),
            owner_table: row.get("table_name"),
            owner_column: row.get("column_name"),
            owner_type: row.get("column_type"),
            is_identity: row.get("is_identity"),
        })
        .collect())
}

/// One server process from `pg_stat_activity`.
#[derive(Debug, Clone)]
pub struct Backend {
    pub pid: i32,
    pub user: Option<String>,
    pub database: Option<String>,
    pub application_name: Option<String>,
    pub client_addr: Option<String>,
    /// `client backend`, `autovacuum worker`, `walsender`, ...
    pub backend_type: Option<String>,
    /// `active`, `idle`, `idle in transaction`, ...; `None` when brisk may not see it.
    pub state: Option<String>,
    pub transaction_secs: Option<f64>,
    pub query_secs: Option<f64>,
    pub state_secs: Option<f64>,
    pub wait_event_type: Option<String>,
    pub wait_event: Option<String>,
    /// The raw query text (may hold values; normalize before showing). `None` or
    /// `<insufficient privilege>` when brisk may not see it.
    pub query: Option<String>,
    /// Processes holding the locks this one waits for; 0 stands for a prepared transaction.
    pub blocked_by: Vec<i32>,
    /// How long it has waited for its lock (PostgreSQL 14+, from `pg_locks.waitstart`).
    pub lock_wait_secs: Option<f64>,
    pub is_brisk: bool,
}

pub async fn activity(session: &Session) -> Result<Vec<Backend>, PgError> {
    let lock_wait = if session.server().version_num >= 140_000 {
        "(SELECT extract(epoch FROM now() - min(l.waitstart))::float8 FROM pg_locks l
           WHERE l.pid = a.pid AND NOT l.granted)"
    } else {
        "NULL::float8"
    };
    let sql = format!(
        "/* brisk */ SELECT a.pid, a.usename::text AS user_name, a.datname::text AS database,
                a.application_name, host(a.client_addr) AS client_addr, a.backend_type, a.state,
                extract(epoch FROM now() - a.xact_start)::float8 AS transaction_secs,
                extract(epoch FROM now() - a.query_start)::float8 AS query_secs,
                extract(epoch FROM now() - a.state_change)::float8 AS state_secs,
                a.wait_event_type, a.wait_event, a.query,
                CASE WHEN a.wait_event_type = 'Lock' THEN pg_blocking_pids(a.pid)
                     ELSE '{{}}'::int4[] END AS blocked_by,
                CASE WHEN a.wait_event_type = 'Lock' THEN {lock_wait} END AS lock_wait_secs,
                a.pid = pg_backend_pid() AS is_brisk
         FROM pg_stat_activity a
         ORDER BY a.pid"
    );
    let rows = session.query("reading pg_stat_activity", &sql, &[]).await?;
    Ok(rows
        .iter()
        .map(|row| Backend {
            pid: row.get("pid"),
            user: row.get("user_name"),
            database: row.get("database"),
            application_name: row.get("application_name"),
            client_addr: row.get("client_addr"),
            backend_type: row.get("backend_type"),
            state: row.get("state"),
            transaction_secs: row.get("transaction_secs"),
            query_secs: row.get("query_secs"),
            state_secs: row.get("state_secs"),
            wait_event_type: row.get("wait_event_type"),
            wait_event: row.get("wait_event"),
            query: row.get("query"),
            blocked_by: row.get("blocked_by"),
            lock_wait_secs: row.get("lock_wait_secs"),
            is_brisk: row.get("is_brisk"),
        })
        .collect())
}

/// Cluster-wide numbers for one database.
#[derive(Debug, Clone)]
pub struct DatabaseStats {
    pub name: String,
    pub is_current: bool,
    pub blocks_hit: i64,
    pub blocks_read: i64,
    pub xid_age: i64,
    pub mxid_age: i64,
}

pub async fn databases(session: &Session) -> Result<Vec<DatabaseStats>, PgError> {
    let rows = session
        .query(
            "reading pg_stat_database",
            "/* brisk */ SELECT d.datname::text, d.datname = current_database(),
                    coalesce(s.blks_hit, 0)::int8, coalesce(s.blks_read, 0)::int8,
                    age(d.datfrozenxid)::int8, mxid_age(d.datminmxid)::int8
             FROM pg_database d
             LEFT JOIN pg_stat_database s ON s.datid = d.oid
             WHERE d.datallowconn
             ORDER BY d.datname",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| DatabaseStats {
            name: row.get(0),
            is_current: row.get(1),
            blocks_hit: row.get(2),
            blocks_read: row.get(3),
            xid_age: row.get(4),
            mxid_age: row.get(5),
        })
        .collect())
}

/// Whether `pg_stat_statements` can be read in this database, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatementsStatus {
    /// Installed, preloaded and readable; the view lives in this schema.
    Ready { schema: String, version: String },
    /// The contrib package that ships it is not installed on the server.
    NotAvailable,
    /// Not in `shared_preload_libraries`.
    NotPreloaded { extension_created: bool },
    /// `CREATE EXTENSION` was not run in this database. `preloaded` is `None` when brisk's
    /// user may not read `shared_preload_libraries`.
    NotCreated { preloaded: Option<bool> },
}

pub async fn statements_status(
    session: &Session,
    settings: &Settings,
) -> Result<StatementsStatus, PgError> {
    let row = session
        .client()
        .query_one(
            "/* brisk */ SELECT
               EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_stat_statements'),
               (SELECT n.nspname::text FROM pg_extension e
                  JOIN pg_namespace n ON n.oid = e.extnamespace
                 WHERE e.extname = 'pg_stat_statements'),
               (SELECT extversion::text FROM pg_extension WHERE extname = 'pg_stat_statements')",
            &[],
        )
        .await
        .map_err(|e| PgError::query("looking for pg_stat_statements", e))?;
    let available: bool = row.get(0);
    let schema: Option<String> = row.get(1);
    let version: Option<String> = row.get(2);
    let Some(schema) = schema else {
        // Without pg_read_all_settings, shared_preload_libraries is hidden from
        // pg_settings; then the missing CREATE EXTENSION is the first step either way.
        let preloaded = settings.get("shared_preload_libraries").map(|libs| {
            libs.split(',')
                .any(|lib| lib.trim().trim_matches('"') == "pg_stat_statements")
        });
        return Ok(match (available, preloaded) {
            (false, _) => StatementsStatus::NotAvailable,
            (true, Some(false)) => StatementsStatus::NotPreloaded {
                extension_created: false,
            },
            (true, preloaded) => StatementsStatus::NotCreated { preloaded },
        });
    };
    // Whether the library is loaded shows reliably only by reading the view: it refuses
    // with "must be loaded via shared_preload_libraries" (55000) when it is not.
    let probe = format!(
        "/* brisk */ SELECT 1 FROM {}.pg_stat_statements LIMIT 1",
        quote_ident(&schema)
    );
    match session.client().query(&probe, &[]).await {
        Ok(_) => Ok(StatementsStatus::Ready {
            schema,
            version: version.unwrap_or_default(),
        }),
        Err(e)
            if e.code()
                == Some(&tokio_postgres::error::SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE) =>
        {
            Ok(StatementsStatus::NotPreloaded {
                extension_created: true,
            })
        }
        Err(e) => Err(PgError::query("reading pg_stat_statements", e)),
    }
}

/// One normalized statement from `pg_stat_statements`, summed over users.
#[derive(Debug, Clone)]
pub struct Statement {
    pub query_id: i64,
    /// As pg_stat_statements stores it: constants already replaced by `$n`.
    pub query: String,
    pub calls: i64,
    pub total_ms: f64,
    pub mean_ms: f64,
    pub rows: i64,
    pub shared_blocks_hit: i64,
    pub shared_blocks_read: i64,
    pub temp_blocks_written: i64,
    pub rank_total: i64,
    pub rank_mean: i64,
    pub rank_calls: i64,
}

/// The statements of this database that rank in the top `limit` by total time, mean time
/// or calls, leaving out brisk's own. Also returns the total time of all statements, so a
/// statement's share can be computed.
pub async fn top_statements(
    session: &Session,
    schema: &str,
    version: &str,
    limit: i64,
) -> Result<(Vec<Statement>, f64), PgError> {
    // Version 1.8 (PostgreSQL 13) split total_time into planning and execution; after
    // pg_upgrade the extension keeps its old version until ALTER EXTENSION ... UPDATE.
    let total = if extension_version_below(version, (1, 8)) {
        "total_time"
    } else {
        "total_exec_time"
    };
    let sql = format!(
        "/* brisk */ WITH s AS (
            SELECT queryid, coalesce(min(query), '<query text unavailable>') AS query,
                   sum(calls)::int8 AS calls,
                   sum({total})::float8 AS total_ms,
                   (sum({total}) / nullif(sum(calls), 0))::float8 AS mean_ms,
                   sum(rows)::int8 AS rows,
                   sum(shared_blks_hit)::int8 AS hit, sum(shared_blks_read)::int8 AS read,
                   sum(temp_blks_written)::int8 AS temp_written
            FROM {schema}.pg_stat_statements
            WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND query NOT LIKE '/* brisk */%' AND queryid IS NOT NULL
            GROUP BY queryid
        ), ranked AS (
            SELECT s.*, rank() OVER (ORDER BY total_ms DESC) AS r_total,
                   rank() OVER (ORDER BY mean_ms DESC NULLS LAST) AS r_mean,
                   rank() OVER (ORDER BY calls DESC) AS r_calls
            FROM s
        )
        SELECT queryid, query, calls, total_ms, coalesce(mean_ms, 0), rows, hit, read,
               temp_written, r_total, r_mean, r_calls, (SELECT sum(total_ms) FROM s)::float8
        FROM ranked
        WHERE r_total <= $1 OR r_mean <= $1 OR r_calls <= $1
        ORDER BY r_total",
        schema = quote_ident(schema)
    );
    let rows = session
        .query("reading pg_stat_statements", &sql, &[&limit])
        .await?;
    let total = rows
        .first()
        .and_then(|r| r.get::<_, Option<f64>>(12))
        .unwrap_or(0.0);
    let statements = rows
        .iter()
        .map(|row| Statement {
            query_id: row.get(0),
            query: row.get(1),
            calls: row.get(2),
            total_ms: row.get(3),
            mean_ms: row.get(4),
            rows: row.get(5),
            shared_blocks_hit: row.get(6),
            shared_blocks_read: row.get(7),
            temp_blocks_written: row.get(8),
            rank_total: row.get(9),
            rank_mean: row.get(10),
            rank_calls: row.get(11),
        })
        .collect();
    Ok((statements, total))
}

/// Cumulative counters of one statement, for a before/after difference.
#[derive(Debug, Clone, PartialEq)]
pub struct StatementTotals {
    pub query_id: i64,
    /// Normalized by pg_stat_statements: constants are `$n`.
    pub query: String,
    pub calls: i64,
    pub total_ms: f64,
    pub rows: i64,
}

/// Every statement of this database in `pg_stat_statements` (at most its `max`, 5,000 by
/// default), summed over users, brisk's own left out: one snapshot of the counters, which
/// `brisk bench` reads before and after a run.
pub async fn statement_totals(
    session: &Session,
    schema: &str,
    version: &str,
) -> Result<Vec<StatementTotals>, PgError> {
    let total = if extension_version_below(version, (1, 8)) {
        "total_time"
    } else {
        "total_exec_time"
    };
    let sql = format!(
        "/* brisk */ SELECT queryid, coalesce(min(query), '<query text unavailable>'),
                sum(calls)::int8, sum({total})::float8, sum(rows)::int8
         FROM {schema}.pg_stat_statements
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND query NOT LIKE '/* brisk */%' AND queryid IS NOT NULL
         GROUP BY queryid",
        schema = quote_ident(schema)
    );
    let rows = session
        .query("reading pg_stat_statements", &sql, &[])
        .await?;
    Ok(rows
        .iter()
        .map(|row| StatementTotals {
            query_id: row.get(0),
            query: row.get(1),
            calls: row.get(2),
            total_ms: row.get(3),
            rows: row.get(4),
        })
        .collect())
}

/// Whether an extension version such as `1.7` is older than `(major, minor)`.
fn extension_version_below(version: &str, (major, minor): (u32, u32)) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    found < (major, minor)
}

fn first_char(text: String) -> char {
    text.chars().next().unwrap_or('?')
}
