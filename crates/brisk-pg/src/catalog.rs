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

use crate::{PgError, Session};

/// A WHERE fragment (over `n` = pg_namespace and `c` = pg_class) that keeps user objects.
const USER_RELATION: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') \
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
    /// Whether statistics survive a clean restart (PostgreSQL 15 and newer).
    pub persistent: bool,
}

impl StatsWindow {
    /// The shortest time the counters are known to cover. Before PostgreSQL 15 a restart
    /// reset them; from 15 on they survive a clean restart, so server start is only a lower
    /// bound when the stats were never reset.
    pub fn age_secs(&self) -> f64 {
        match (self.since_reset_secs, self.persistent) {
            (Some(reset), true) => reset,
            (Some(reset), false) => reset.min(self.since_start_secs),
            (None, _) => self.since_start_secs,
        }
    }
}

pub async fn stats_window(session: &Session) -> Result<StatsWindow, PgError> {
    let row = session
        .client()
        .query_one(
            "/* brisk */ SELECT \
               (SELECT extract(epoch FROM now() - stats_reset)::float8 FROM pg_stat_database \
                 WHERE datname = current_database()), \
               extract(epoch FROM now() - pg_postmaster_start_time())::float8",
            &[],
        )
        .await
        .map_err(|e| PgError::query("reading the statistics age", e))?;
    Ok(StatsWindow {
        since_reset_secs: row.get(0),
        since_start_secs: row.get(1),
        persistent: session.server().version_num >= 150_000,
    })
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
    /// `i` for an index, `I` for a partitioned index (it has no storage or scans itself).
    pub relkind: char,
    pub is_unique: bool,
    pub is_primary: bool,
    pub is_valid: bool,
    pub is_ready: bool,
    pub is_replica_identity: bool,
    /// `p`, `u` or `x` when the index enforces a constraint of its table.
    pub constraint_type: Option<char>,
    /// A `CREATE INDEX [CONCURRENTLY]` or `REINDEX` is building it right now.
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
    pub size_bytes: i64,
    pub scans: i64,
    pub pages: i64,
    pub tuples: f64,
    pub fillfactor: Option<i32>,
    /// Summed `avg_width` of the indexed columns from `pg_stats`, when every column has
    /// statistics.
    pub stats_width: Option<f64>,
    pub any_nullable: bool,
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

    /// The CREATE statement with CONCURRENTLY, to rebuild it without blocking writes.
    pub fn create_concurrently(&self) -> String {
        let definition = self
            .definition
            .replacen("CREATE INDEX ", "CREATE INDEX CONCURRENTLY ", 1);
        format!(
            "{};",
            definition.replacen(
                "CREATE UNIQUE INDEX ",
                "CREATE UNIQUE INDEX CONCURRENTLY ",
                1
            )
        )
    }
}

pub async fn indexes(session: &Session) -> Result<Vec<Index>, PgError> {
    let sql = format!(
        "/* brisk */ WITH widths AS (
            SELECT k.indexrelid,
                   sum(s.avg_width)::float8 AS width,
                   bool_or(s.avg_width IS NULL) AS missing,
                   bool_or(coalesce(s.null_frac, 0) > 0) AS nullable
            FROM (SELECT i.indexrelid, i.indrelid, k.attnum, k.ord
                  FROM pg_index i, unnest(i.indkey) WITH ORDINALITY k(attnum, ord)) k
            JOIN pg_class ci ON ci.oid = k.indexrelid
            JOIN pg_class ct ON ct.oid = k.indrelid
            JOIN pg_namespace n ON n.oid = ct.relnamespace
            LEFT JOIN pg_attribute ta ON ta.attrelid = k.indrelid AND ta.attnum = k.attnum
            LEFT JOIN pg_attribute ia ON ia.attrelid = k.indexrelid AND ia.attnum = k.ord
            LEFT JOIN pg_stats s ON s.schemaname = n.nspname
                 AND s.tablename = CASE WHEN k.attnum = 0 THEN ci.relname ELSE ct.relname END
                 AND s.attname = CASE WHEN k.attnum = 0 THEN ia.attname ELSE ta.attname END
            WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
            GROUP BY k.indexrelid
        )
        SELECT i.indexrelid::oid, n.nspname::text, ci.relname::text, c.oid, c.relname::text,
               am.amname::text, ci.relkind::text, i.indisunique, i.indisprimary, i.indisvalid,
               i.indisready, i.indisreplident,
               (SELECT con.contype::text FROM pg_constraint con
                 WHERE con.conindid = i.indexrelid AND con.conrelid = i.indrelid
                   AND con.contype IN ('p', 'u', 'x') LIMIT 1),
               EXISTS (SELECT 1 FROM pg_stat_progress_create_index p
                        WHERE p.index_relid = i.indexrelid OR p.relid = i.indrelid
                          AND NOT i.indisvalid),
               i.indnkeyatts::int4, i.indkey::int2[], 
               ARRAY(SELECT a.attname::text FROM unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
                     LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                     ORDER BY k.ord),
               i.indclass::oid[], i.indcollation::oid[], i.indoption::int2[],
               pg_get_expr(i.indexprs, i.indrelid), pg_get_expr(i.indpred, i.indrelid),
               coalesce(pg_get_indexdef(i.indexrelid), ''),
               coalesce(pg_relation_size(i.indexrelid), 0)::int8, coalesce(s.idx_scan, 0)::int8,
               ci.relpages::int8, ci.reltuples::float8,
               (SELECT option_value::int4 FROM pg_options_to_table(ci.reloptions)
                 WHERE option_name = 'fillfactor'),
               CASE WHEN w.missing THEN NULL ELSE w.width END, coalesce(w.nullable, true)
        FROM pg_index i
        JOIN pg_class ci ON ci.oid = i.indexrelid
        JOIN pg_class c ON c.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_am am ON am.oid = ci.relam
        LEFT JOIN pg_stat_all_indexes s ON s.indexrelid = i.indexrelid
        LEFT JOIN widths w ON w.indexrelid = i.indexrelid
        WHERE {USER_RELATION}
        ORDER BY n.nspname, c.relname, ci.relname"
    );
    let rows = session.query("listing indexes", &sql, &[]).await?;
    Ok(rows.iter().map(index_from_row).collect())
}

fn index_from_row(row: &Row) -> Index {
    Index {
        oid: row.get(0),
        schema: row.get(1),
        name: row.get(2),
        table_oid: row.get(3),
        table: row.get(4),
        method: row.get(5),
        relkind: first_char(row.get(6)),
        is_unique: row.get(7),
        is_primary: row.get(8),
        is_valid: row.get(9),
        is_ready: row.get(10),
        is_replica_identity: row.get(11),
        constraint_type: row.get::<_, Option<String>>(12).map(first_char),
        build_in_progress: row.get(13),
        key_count: row.get::<_, i32>(14).max(0) as usize,
        columns: row.get(15),
        column_names: row.get(16),
        opclasses: row.get(17),
        collations: row.get(18),
        options: row.get(19),
        expressions: row.get(20),
        predicate: row.get(21),
        definition: row.get(22),
        size_bytes: row.get(23),
        scans: row.get(24),
        pages: row.get(25),
        tuples: row.get(26),
        fillfactor: row.get(27),
        stats_width: row.get(28),
        any_nullable: row.get(29),
    }
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
    /// The table's own `autovacuum_freeze_max_age`, when set.
    pub freeze_max_age: Option<i64>,
    pub autovacuum_enabled: bool,
    pub fillfactor: Option<i32>,
    pub heap_blocks_hit: i64,
    pub heap_blocks_read: i64,
    pub index_blocks_hit: i64,
    pub index_blocks_read: i64,
    /// Bytes per row from `pg_stats` (summed `avg_width`, weighted by non-null share),
    /// when every column has statistics.
    pub stats_width: Option<f64>,
    pub any_nullable: bool,
    pub column_count: i32,
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
        "/* brisk */ WITH widths AS (
            SELECT s.schemaname, s.tablename,
                   sum((1 - s.null_frac) * s.avg_width)::float8 AS width,
                   bool_or(s.null_frac > 0) AS nullable,
                   count(*)::int4 AS columns
            FROM pg_stats s
            WHERE s.schemaname NOT IN ('pg_catalog', 'information_schema')
            GROUP BY 1, 2
        )
        SELECT c.oid, n.nspname::text, c.relname::text, c.relkind::text, c.relispartition,
               EXISTS (SELECT 1 FROM pg_constraint p WHERE p.conrelid = c.oid AND p.contype = 'p'),
               c.relpages::int8, c.reltuples::float8,
               coalesce(pg_relation_size(c.oid), 0)::int8,
               coalesce(pg_total_relation_size(c.oid), 0)::int8,
               coalesce(s.n_live_tup, 0)::int8, coalesce(s.n_dead_tup, 0)::int8,
               coalesce(s.n_mod_since_analyze, 0)::int8,
               coalesce(s.n_tup_ins, 0)::int8, coalesce(s.n_tup_upd, 0)::int8,
               coalesce(s.n_tup_hot_upd, 0)::int8, coalesce(s.n_tup_del, 0)::int8,
               coalesce(s.seq_scan, 0)::int8,
               extract(epoch FROM now() - s.last_vacuum)::float8,
               extract(epoch FROM now() - s.last_autovacuum)::float8,
               extract(epoch FROM now() - s.last_analyze)::float8,
               extract(epoch FROM now() - s.last_autoanalyze)::float8,
               CASE WHEN c.relfrozenxid <> '0'::xid THEN
                   greatest(age(c.relfrozenxid),
                            CASE WHEN t.relfrozenxid <> '0'::xid THEN age(t.relfrozenxid) ELSE 0 END)
               END::int8,
               (SELECT option_value::int8 FROM pg_options_to_table(c.reloptions)
                 WHERE option_name = 'autovacuum_freeze_max_age'),
               coalesce((SELECT option_value::bool FROM pg_options_to_table(c.reloptions)
                 WHERE option_name = 'autovacuum_enabled'), true),
               (SELECT option_value::int4 FROM pg_options_to_table(c.reloptions)
                 WHERE option_name = 'fillfactor'),
               coalesce(io.heap_blks_hit, 0)::int8, coalesce(io.heap_blks_read, 0)::int8,
               coalesce(io.idx_blks_hit, 0)::int8, coalesce(io.idx_blks_read, 0)::int8,
               CASE WHEN w.columns >= cols.n THEN w.width END,
               coalesce(w.nullable, true), cols.n
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
        LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
        LEFT JOIN pg_statio_all_tables io ON io.relid = c.oid
        LEFT JOIN widths w ON w.schemaname = n.nspname AND w.tablename = c.relname
        CROSS JOIN LATERAL (SELECT count(*)::int4 AS n FROM pg_attribute a
                            WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) cols
        WHERE c.relkind IN ('r', 'p', 'm') AND {USER_RELATION}
        ORDER BY n.nspname, c.relname"
    );
    let rows = session.query("listing tables", &sql, &[]).await?;
    Ok(rows
        .iter()
        .map(|row| Table {
            oid: row.get(0),
            schema: row.get(1),
            name: row.get(2),
            relkind: first_char(row.get(3)),
            is_partition: row.get(4),
            has_primary_key: row.get(5),
            pages: row.get(6),
            tuples: row.get(7),
            heap_bytes: row.get(8),
            total_bytes: row.get(9),
            live_tuples: row.get(10),
            dead_tuples: row.get(11),
            modified_since_analyze: row.get(12),
            inserted: row.get(13),
            updated: row.get(14),
            hot_updated: row.get(15),
            deleted: row.get(16),
            seq_scans: row.get(17),
            last_vacuum_secs: row.get(18),
            last_autovacuum_secs: row.get(19),
            last_analyze_secs: row.get(20),
            last_autoanalyze_secs: row.get(21),
            xid_age: row.get(22),
            freeze_max_age: row.get(23),
            autovacuum_enabled: row.get(24),
            fillfactor: row.get(25),
            heap_blocks_hit: row.get(26),
            heap_blocks_read: row.get(27),
            index_blocks_hit: row.get(28),
            index_blocks_read: row.get(29),
            stats_width: row.get(30),
            any_nullable: row.get(31),
            column_count: row.get(32),
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

/// A sequence, with the column it feeds when it is owned by one (serial, identity).
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
    /// `schema.table.column` of the owning column.
    pub owner_column: Option<String>,
    /// The owning column's type, which may be narrower than the sequence's.
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
        "/* brisk */ SELECT n.nspname::text, c.relname::text, format_type(sq.seqtypid, NULL),
               CASE WHEN has_sequence_privilege(c.oid, 'SELECT,USAGE')
                    THEN pg_sequence_last_value(c.oid) END,
               has_sequence_privilege(c.oid, 'SELECT,USAGE'),
               sq.seqmin, sq.seqmax, sq.seqincrement, sq.seqcycle,
               owner.column_name, owner.column_type, coalesce(owner.is_identity, false)
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_sequence sq ON sq.seqrelid = c.oid
        LEFT JOIN LATERAL (
            SELECT quote_ident(tn.nspname) || '.' || quote_ident(t.relname) || '.'
                       || quote_ident(a.attname) AS column_name,
                   format_type(a.atttypid, NULL) AS column_type,
                   d.deptype = 'i' AS is_identity
            FROM pg_depend d
            JOIN pg_class t ON t.oid = d.refobjid
            JOIN pg_namespace tn ON tn.oid = t.relnamespace
            JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
            WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
              AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
            LIMIT 1
        ) owner ON true
        WHERE c.relkind = 'S' AND {USER_RELATION}
        ORDER BY n.nspname, c.relname"
    );
    let rows = session.query("listing sequences", &sql, &[]).await?;
    Ok(rows
        .iter()
        .map(|row| Sequence {
            schema: row.get(0),
            name: row.get(1),
            data_type: row.get(2),
            last_value: row.get(3),
            readable: row.get(4),
            min_value: row.get(5),
            max_value: row.get(6),
            increment: row.get(7),
            cycles: row.get(8),
            owner_column: row.get(9),
            owner_type: row.get(10),
            is_identity: row.get(11),
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
    /// Processes holding the locks this one waits for.
    pub blocked_by: Vec<i32>,
    pub is_brisk: bool,
}

pub async fn activity(session: &Session) -> Result<Vec<Backend>, PgError> {
    let rows = session
        .query(
            "reading pg_stat_activity",
            "/* brisk */ SELECT a.pid, a.usename::text, a.datname::text, a.application_name,
                    host(a.client_addr), a.backend_type, a.state,
                    extract(epoch FROM now() - a.xact_start)::float8,
                    extract(epoch FROM now() - a.query_start)::float8,
                    extract(epoch FROM now() - a.state_change)::float8,
                    a.wait_event_type, a.wait_event, a.query,
                    CASE WHEN a.wait_event_type = 'Lock' THEN pg_blocking_pids(a.pid)
                         ELSE '{}'::int4[] END,
                    a.pid = pg_backend_pid()
             FROM pg_stat_activity a
             ORDER BY a.pid",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| Backend {
            pid: row.get(0),
            user: row.get(1),
            database: row.get(2),
            application_name: row.get(3),
            client_addr: row.get(4),
            backend_type: row.get(5),
            state: row.get(6),
            transaction_secs: row.get(7),
            query_secs: row.get(8),
            state_secs: row.get(9),
            wait_event_type: row.get(10),
            wait_event: row.get(11),
            query: row.get(12),
            blocked_by: row.get(13),
            is_brisk: row.get(14),
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
}

pub async fn databases(session: &Session) -> Result<Vec<DatabaseStats>, PgError> {
    let rows = session
        .query(
            "reading pg_stat_database",
            "/* brisk */ SELECT d.datname::text, d.datname = current_database(),
                    coalesce(s.blks_hit, 0)::int8, coalesce(s.blks_read, 0)::int8,
                    age(d.datfrozenxid)::int8
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
    /// Preloaded, but `CREATE EXTENSION` was not run in this database.
    NotCreated,
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
            (true, _) => StatementsStatus::NotCreated,
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
    limit: i64,
) -> Result<(Vec<Statement>, f64), PgError> {
    let sql = format!(
        "/* brisk */ WITH s AS (
            SELECT queryid, coalesce(min(query), '<query text unavailable>') AS query,
                   sum(calls)::int8 AS calls,
                   sum(total_exec_time)::float8 AS total_ms,
                   (sum(total_exec_time) / nullif(sum(calls), 0))::float8 AS mean_ms,
                   sum(rows)::int8 AS rows,
                   sum(shared_blks_hit)::int8 AS hit, sum(shared_blks_read)::int8 AS read,
                   sum(temp_blks_written)::int8 AS temp_written
            FROM {}.pg_stat_statements
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
        quote_ident(schema)
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

fn first_char(text: String) -> char {
    text.chars().next().unwrap_or('?')
}

/// Quotes an identifier when PostgreSQL would need it quoted, as `quote_ident` does.
pub fn quote_ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$')
        && !is_reserved(name);
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// Keywords that cannot be used as a bare identifier (a subset that matters for table and
/// column names people actually choose).
fn is_reserved(name: &str) -> bool {
    const RESERVED: &[&str] = &[
        "all",
        "analyse",
        "analyze",
        "and",
        "any",
        "array",
        "as",
        "asc",
        "both",
        "case",
        "cast",
        "check",
        "collate",
        "column",
        "constraint",
        "create",
        "current_date",
        "current_role",
        "current_time",
        "current_timestamp",
        "current_user",
        "default",
        "deferrable",
        "desc",
        "distinct",
        "do",
        "else",
        "end",
        "except",
        "false",
        "fetch",
        "for",
        "foreign",
        "from",
        "grant",
        "group",
        "having",
        "in",
        "initially",
        "intersect",
        "into",
        "lateral",
        "leading",
        "limit",
        "localtime",
        "localtimestamp",
        "not",
        "null",
        "offset",
        "on",
        "only",
        "or",
        "order",
        "placing",
        "primary",
        "references",
        "returning",
        "select",
        "session_user",
        "some",
        "symmetric",
        "table",
        "then",
        "to",
        "trailing",
        "true",
        "union",
        "unique",
        "user",
        "using",
        "variadic",
        "when",
        "where",
        "window",
        "with",
    ];
    RESERVED.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::quote_ident;

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(quote_ident("messages"), "messages");
        assert_eq!(quote_ident("Messages"), "\"Messages\"");
        assert_eq!(quote_ident("user"), "\"user\"");
        assert_eq!(quote_ident("my table"), "\"my table\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_ident("1abc"), "\"1abc\"");
    }
}
