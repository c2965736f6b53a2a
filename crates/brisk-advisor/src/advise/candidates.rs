//! Candidate indexes: what each query's predicates ask for, shaped by the columns' types and
//! statistics, minus what an existing index already serves.
//!
//! From each table reference of each query (brisk-sql's analysis):
//!
//! - **multi-column btree**: equality columns first (most distinct first, so that queries
//!   filtering on fewer of them share the index), then the `ORDER BY` columns in the query's
//!   direction, then one range column; and the variants without the sort or the range;
//! - **join**: the equality columns, then the column joined to another table, then the
//!   sort or the range column, for the inner side of a nested loop;
//! - **covering** (`INCLUDE`): the same keys plus every other column the query reads from the
//!   table, when they are few and narrow, for an index-only scan;
//! - **partial**: each of those with a constant predicate every call repeats as its `WHERE`,
//!   when the statistics say it keeps at most half the rows;
//! - **GIN `pg_trgm`** for `LIKE`/`ILIKE` with a leading wildcard or a parameter as pattern,
//!   **btree `text_pattern_ops`** for a fixed prefix;
//! - **GIN** for full-text `@@` over `to_tsvector` with a fixed configuration, and for array
//!   and `jsonb` containment;
//! - **expression btree** for `lower(col) = ...` and other immutable expressions;
//! - **BRIN** for range predicates on large tables whose column follows the physical order
//!   (a correlation near 1: append-only timestamps and ids), when no equality narrows the
//!   same table.

use std::collections::HashMap;

use brisk_pg::catalog::{quote_ident, Index, Table};
use brisk_pg::stats::{ColumnInfo, ExtensionState, IndexShape};
use brisk_sql::{
    ArrayOperator, ConstantPredicate, NullsOrder, OutputColumn, PatternKind, SortDirection,
    TableUsage,
};

use super::snapshot::Snapshot;
use super::workload::Query;

/// Tables smaller than this are left alone: a sequential scan of a few pages reads no more
/// than an index lookup does.
const MIN_TABLE_ROWS: f64 = 1_000.0;

/// A partial index is proposed when its predicate keeps at most this share of the rows, so
/// the index is at most half the size of the full one.
pub(crate) const PARTIAL_MAX_SELECTIVITY: f64 = 0.5;

/// A non-boolean column with more distinct values than this is a key, not a filter: a
/// partial index on `user_id = 42` would serve one user.
const PARTIAL_MAX_DISTINCT: f64 = 20.0;

/// Covering indexes carry at most this many INCLUDE columns of at most this many bytes in
/// all (from `pg_stats.avg_width`): beyond that the index approaches the table's size and
/// an index-only scan saves little over an index scan.
const MAX_INCLUDE_COLUMNS: usize = 4;
const MAX_INCLUDE_WIDTH: f64 = 100.0;

/// BRIN needs the column's order to follow the rows' physical order (`pg_stats.correlation`)
/// and a table big enough that skipping block ranges matters (1,280 pages: 10 MiB).
const BRIN_MIN_CORRELATION: f64 = 0.9;
const BRIN_MIN_PAGES: i64 = 1_280;

/// Functions whose result depends only on their arguments (IMMUTABLE in PostgreSQL's
/// catalog), so an index on them is allowed.
const IMMUTABLE_FUNCTIONS: &[&str] = &[
    "lower",
    "upper",
    "btrim",
    "ltrim",
    "rtrim",
    "md5",
    "abs",
    "left",
    "right",
    "substr",
    "substring",
    "length",
    "char_length",
    "reverse",
    "split_part",
    "replace",
    "initcap",
];

/// An index access method the advisor proposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    Btree,
    Gin,
    Brin,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Btree => "btree",
            Method::Gin => "gin",
            Method::Brin => "brin",
        }
    }

    /// HypoPG can plan with it.
    pub fn is_hypothetical(self) -> bool {
        self != Method::Gin
    }
}

/// What a candidate is for, for its name and its explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    Lookup,
    Covering,
    Trigram,
    Pattern,
    FullText,
    Containment,
    Expression,
    Brin,
}

/// One key column of an index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    /// As `CREATE INDEX` takes it: a quoted column name, or an expression in parentheses.
    pub text: String,
    /// The table columns it reads.
    pub reads: Vec<String>,
    pub desc: bool,
    /// `NULLS FIRST` or `NULLS LAST` when the query asks for the opposite of the default.
    pub nulls: Option<&'static str>,
    /// An operator class other than the type's default.
    pub opclass: Option<String>,
}

impl Key {
    fn column(name: &str) -> Key {
        Key {
            text: quote_ident(name),
            reads: vec![name.to_string()],
            desc: false,
            nulls: None,
            opclass: None,
        }
    }

    fn expression(expression: &str, reads: &[String]) -> Key {
        Key {
            text: format!("({expression})"),
            reads: reads.to_vec(),
            desc: false,
            nulls: None,
            opclass: None,
        }
    }

    fn with_opclass(mut self, opclass: &str) -> Key {
        self.opclass = Some(opclass.to_string());
        self
    }

    /// The key as `CREATE INDEX` writes it.
    pub fn sql(&self) -> String {
        let mut out = self.text.clone();
        if let Some(opclass) = &self.opclass {
            out.push(' ');
            out.push_str(opclass);
        }
        if self.desc {
            out.push_str(" DESC");
        }
        if let Some(nulls) = self.nulls {
            out.push(' ');
            out.push_str(nulls);
        }
        out
    }

    /// The plain column, when the key is one.
    pub fn column_name(&self) -> Option<&str> {
        (!self.text.starts_with('(')).then(|| self.reads.first().map(String::as_str))?
    }
}

/// A proposed index.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub table_oid: u32,
    pub schema: String,
    pub table: String,
    pub method: Method,
    pub keys: Vec<Key>,
    /// INCLUDE columns.
    pub include: Vec<String>,
    /// A partial index's `WHERE`, and the column it tests.
    pub predicate: Option<(String, String)>,
    /// An extension the index needs that this database has not created.
    pub extension: Option<&'static str>,
    pub purpose: Purpose,
    /// The queries (indexes into the workload) whose predicates asked for it.
    pub origins: Vec<usize>,
    /// What brisk assumed to build it, when the workload did not say (a value lost to
    /// normalization), for the recommendation to state.
    pub assumption: Option<String>,
}

type Identity = (u32, Method, Vec<String>, Vec<String>, Option<String>);

impl Candidate {
    fn identity(&self) -> Identity {
        let mut include = self.include.clone();
        include.sort();
        (
            self.table_oid,
            self.method,
            self.keys.iter().map(Key::sql).collect(),
            include,
            self.predicate.as_ref().map(|(p, _)| p.clone()),
        )
    }

    pub fn qualified_table(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.table))
    }

    /// `USING gin ((to_tsvector(...))) INCLUDE (...) WHERE ...`: everything after the table.
    fn body(&self) -> String {
        let keys: Vec<String> = self.keys.iter().map(Key::sql).collect();
        let mut out = format!(" USING {} ({})", self.method.as_str(), keys.join(", "));
        if !self.include.is_empty() {
            let include: Vec<String> = self.include.iter().map(|c| quote_ident(c)).collect();
            out.push_str(&format!(" INCLUDE ({})", include.join(", ")));
        }
        if let Some((predicate, _)) = &self.predicate {
            out.push_str(&format!(" WHERE {predicate}"));
        }
        out
    }

    /// The statement HypoPG takes.
    pub fn hypothetical_ddl(&self) -> String {
        format!("CREATE INDEX ON {}{}", self.qualified_table(), self.body())
    }

    /// The statement a migration runs.
    pub fn create_sql(&self, name: &str) -> String {
        format!(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON {}{};",
            quote_ident(name),
            self.qualified_table(),
            self.body()
        )
    }

    /// The statement that builds it inside a transaction, on a verification target.
    pub fn create_sql_blocking(&self, name: &str) -> String {
        format!(
            "CREATE INDEX IF NOT EXISTS {} ON {}{}",
            quote_ident(name),
            self.qualified_table(),
            self.body()
        )
    }

    pub fn drop_sql(&self, name: &str) -> String {
        format!(
            "DROP INDEX CONCURRENTLY IF EXISTS {}.{};",
            quote_ident(&self.schema),
            quote_ident(name)
        )
    }

    /// `messages (conversation_id, created_at DESC) INCLUDE (role) WHERE ...`, for titles.
    pub fn describe(&self) -> String {
        let using = if self.method == Method::Btree {
            String::new()
        } else {
            format!(" USING {}", self.method.as_str())
        };
        let keys: Vec<String> = self
            .keys
            .iter()
            .map(|k| {
                let sql = k.sql();
                match sql.strip_prefix('(').and_then(|s| s.strip_suffix(')')) {
                    Some(inner) if k.column_name().is_none() && k.opclass.is_none() && !k.desc => {
                        inner.to_string()
                    }
                    _ => sql,
                }
            })
            .collect();
        let mut out = format!("{}{using} ({})", self.table, keys.join(", "));
        if !self.include.is_empty() {
            out.push_str(&format!(" INCLUDE ({})", self.include.join(", ")));
        }
        if let Some((predicate, _)) = &self.predicate {
            out.push_str(&format!(" WHERE {predicate}"));
        }
        out
    }

    /// A name that says what the index is, at most 63 bytes (PostgreSQL's limit).
    pub fn name(&self) -> String {
        let mut parts = vec![self.table.clone()];
        for key in &self.keys {
            match key.column_name() {
                Some(column) => parts.push(column.to_string()),
                None => {
                    let function = key.text.trim_start_matches('(');
                    let function = function.split('(').next().unwrap_or("expr");
                    if function.contains(' ') || function.is_empty() {
                        parts.push("expr".into());
                    } else {
                        parts.push(function.to_string());
                    }
                    parts.extend(key.reads.iter().cloned());
                }
            }
            if key.desc {
                parts.push("desc".into());
            }
        }
        if !self.include.is_empty() {
            parts.push("incl".into());
            parts.extend(self.include.iter().cloned());
        }
        if let Some((predicate, _)) = &self.predicate {
            parts.push("where".into());
            parts.push(predicate.clone());
        }
        parts.push(
            match self.purpose {
                Purpose::Trigram => "trgm",
                Purpose::FullText => "fts",
                Purpose::Brin => "brin",
                Purpose::Containment => "gin",
                Purpose::Pattern => "pattern",
                _ => "idx",
            }
            .into(),
        );
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        brisk_sql::index_name(&parts)
    }

    /// Every table column the index stores or tests: an update that changes one of them
    /// cannot be a HOT update.
    pub fn columns_read(&self) -> Vec<String> {
        let mut columns: Vec<String> = Vec::new();
        let predicate = self.predicate.iter().map(|(_, c)| c);
        for column in self
            .keys
            .iter()
            .flat_map(|k| k.reads.iter())
            .chain(&self.include)
            .chain(predicate)
        {
            if !columns.contains(column) {
                columns.push(column.clone());
            }
        }
        columns
    }

    /// The same index without `column` among its keys, restricted to the rows `constant`
    /// keeps: a partial index that needs no key for a column every call fixes. `None` when
    /// nothing else would be left to index.
    pub(crate) fn partial_on(
        &self,
        column: &ColumnInfo,
        constant: &ConstantPredicate,
    ) -> Option<Candidate> {
        let keys: Vec<Key> = self
            .keys
            .iter()
            .filter(|k| k.column_name() != Some(constant.column.as_str()))
            .cloned()
            .collect();
        if keys.is_empty() {
            return None;
        }
        Some(Candidate {
            keys,
            predicate: Some((predicate_sql(column, constant), constant.column.clone())),
            ..self.clone()
        })
    }

    /// Whether `self` is `other` with more key or INCLUDE columns: same table, method and
    /// predicate, `other`'s keys a prefix of `self`'s, and `other`'s INCLUDE columns stored in
    /// `self`. Choosing `self` then makes `other` unnecessary.
    pub fn extends(&self, other: &Candidate) -> bool {
        self.table_oid == other.table_oid
            && self.method == Method::Btree
            && other.method == Method::Btree
            && self.predicate == other.predicate
            && self.keys.len() >= other.keys.len()
            && self.keys[..other.keys.len()] == other.keys[..]
            && other.include.iter().all(|c| {
                self.include.contains(c) || self.keys.iter().any(|k| k.column_name() == Some(c))
            })
            && (self.keys.len() > other.keys.len() || self.include.len() > other.include.len())
    }
}

/// Generates the candidates of every query, merged, minus those an existing index serves.
/// Returns them and how many were dropped because an index already serves them.
pub(crate) fn generate(queries: &[Query], snapshot: &Snapshot) -> (Vec<Candidate>, usize) {
    let mut all: Vec<Candidate> = Vec::new();
    let mut seen: HashMap<Identity, usize> = HashMap::new();
    for (query_index, query) in queries.iter().enumerate() {
        let other_tables_sort = |i: usize| {
            query
                .analysis
                .tables
                .iter()
                .enumerate()
                .any(|(j, t)| j != i && !t.order_by.is_empty())
        };
        for (i, usage) in query.analysis.tables.iter().enumerate() {
            let Some(table) = snapshot.resolve(&usage.table) else {
                continue;
            };
            if snapshot.rows(table) < MIN_TABLE_ROWS {
                continue;
            }
            let fixed = query
                .fixed_constants
                .get(i)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let from_usage = TableCandidates {
                snapshot,
                table,
                usage,
                fixed,
                sort_allowed: !other_tables_sort(i),
            }
            .generate();
            // A normalized text's expression (`payload ->> $1`) or predicate holds a
            // placeholder, not a value: no index can be built on it.
            let buildable = from_usage.into_iter().filter(|c| !holds_placeholder(c));
            for mut candidate in buildable {
                candidate.origins = vec![query_index];
                match seen.get(&candidate.identity()) {
                    Some(&at) => {
                        if !all[at].origins.contains(&query_index) {
                            all[at].origins.push(query_index);
                        }
                    }
                    None => {
                        seen.insert(candidate.identity(), all.len());
                        all.push(candidate);
                    }
                }
            }
        }
    }
    let before = all.len();
    all.retain(|c| !served_by_existing(c, snapshot));
    let served = before - all.len();
    (all, served)
}

/// Whether a candidate's keys or predicate hold a `$n` placeholder.
fn holds_placeholder(candidate: &Candidate) -> bool {
    candidate
        .keys
        .iter()
        .map(|k| k.text.as_str())
        .chain(candidate.predicate.as_ref().map(|(p, _)| p.as_str()))
        .any(|text| brisk_sql::Lexer::new(text).any(|t| t.kind == brisk_sql::TokenKind::Parameter))
}

/// Candidates from one table reference of one query.
struct TableCandidates<'a> {
    snapshot: &'a Snapshot,
    table: &'a Table,
    usage: &'a TableUsage,
    fixed: &'a [ConstantPredicate],
    /// The query's `ORDER BY` is all on this reference, so an index can deliver it.
    sort_allowed: bool,
}

impl TableCandidates<'_> {
    fn column(&self, name: &str) -> Option<&ColumnInfo> {
        self.snapshot.column(self.table.oid, name)
    }

    fn known(&self, name: &str) -> bool {
        self.column(name).is_some()
    }

    fn new_candidate(&self, method: Method, keys: Vec<Key>, purpose: Purpose) -> Candidate {
        Candidate {
            table_oid: self.table.oid,
            schema: self.table.schema.clone(),
            table: self.table.name.clone(),
            method,
            keys,
            include: Vec::new(),
            predicate: None,
            extension: None,
            purpose,
            origins: Vec::new(),
            assumption: None,
        }
    }

    fn generate(&self) -> Vec<Candidate> {
        let mut out = Vec::new();
        let usage = self.usage;
        let partial = self.partial_predicate();
        let mut equality: Vec<String> = Vec::new();
        for predicate in usage.equality.iter().filter(|p| !p.under_or) {
            if self.known(&predicate.column) && !equality.contains(&predicate.column) {
                equality.push(predicate.column.clone());
            }
        }
        if let Some((_, column, true)) = &partial {
            equality.retain(|c| c != column);
        }
        // Most distinct first: the most selective column narrows the scan most, and a query
        // with fewer equalities can still use the index's first columns.
        let rows = self.snapshot.rows(self.table);
        let distinct = |c: &String| {
            self.column(c)
                .and_then(|info| info.distinct_values(rows))
                .unwrap_or(0.0)
        };
        equality.sort_by(|a, b| distinct(b).total_cmp(&distinct(a)));
        let equality_keys: Vec<Key> = equality.iter().map(|c| Key::column(c)).collect();

        let sort: Vec<Key> = if self.sort_allowed {
            usage
                .order_by
                .iter()
                .filter(|o| self.known(&o.column) && !equality.contains(&o.column))
                .map(|o| {
                    let desc = o.direction == SortDirection::Desc;
                    let nulls = match (o.nulls, desc) {
                        (NullsOrder::First, false) => Some("NULLS FIRST"),
                        (NullsOrder::Last, true) => Some("NULLS LAST"),
                        _ => None,
                    };
                    Key {
                        desc,
                        nulls,
                        ..Key::column(&o.column)
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        let range: Option<Key> = usage
            .range
            .iter()
            .filter(|p| !p.under_or && self.known(&p.column) && !equality.contains(&p.column))
            .map(|p| Key::column(&p.column))
            .next();
        let range_after_sort = range
            .as_ref()
            .filter(|r| sort.first().is_none_or(|s| s.text != r.text));

        let mut btree_keys: Vec<Vec<Key>> = Vec::new();
        let mut push_keys = |keys: Vec<Key>| {
            if !keys.is_empty() && !btree_keys.contains(&keys) {
                btree_keys.push(keys);
            }
        };
        let concat = |parts: &[&[Key]]| -> Vec<Key> { parts.concat() };
        if let Some(range) = range_after_sort {
            if !sort.is_empty() {
                push_keys(concat(&[
                    &equality_keys,
                    &sort,
                    std::slice::from_ref(range),
                ]));
            }
            push_keys(concat(&[&equality_keys, std::slice::from_ref(range)]));
        }
        // An index that only delivers the order serves `ORDER BY ... LIMIT` by reading rows
        // in order until enough pass the filter. Behind a search (`title ILIKE $1`, `@@`),
        // which most rows fail, it reads most of the table; the planner does not know, as
        // it guesses that an unknown pattern matches 0.5% of the rows.
        let searched = usage.like.iter().any(|l| {
            !l.under_or
                && matches!(
                    l.pattern,
                    PatternKind::LeadingWildcard | PatternKind::Unknown
                )
        }) || usage.full_text.iter().any(|f| !f.under_or);
        if !(equality_keys.is_empty() && range.is_none() && searched) {
            push_keys(concat(&[&equality_keys, &sort]));
        }
        push_keys(equality_keys.clone());
        // The inner side of a nested loop is probed once per outer row: one index serves the
        // join key and the side's own filter together, equality columns first, the join key,
        // then the range (`shipments (carrier_id, order_id, shipped_at)`), so each probe reads
        // only the rows that pass.
        for join in usage.joins.iter().filter(|j| !j.under_or) {
            if self.known(&join.column) && !equality.contains(&join.column) {
                let key = Key::column(&join.column);
                push_keys(concat(&[&equality_keys, std::slice::from_ref(&key), &sort]));
                if let Some(range) = range.as_ref().filter(|r| r.text != key.text) {
                    push_keys(concat(&[
                        &equality_keys,
                        std::slice::from_ref(&key),
                        std::slice::from_ref(range),
                    ]));
                }
                push_keys(concat(&[&equality_keys, std::slice::from_ref(&key)]));
            }
        }
        if sort.is_empty() && !usage.group_by.is_empty() {
            let group: Vec<Key> = usage
                .group_by
                .iter()
                .filter(|c| self.known(c) && !equality.contains(c))
                .map(|c| Key::column(c))
                .collect();
            if group.len() == usage.group_by.len() {
                push_keys(concat(&[&equality_keys, &group]));
            }
        }

        let covering_include = self.covering_columns();
        for (n, keys) in btree_keys.iter().enumerate() {
            let plain = self.new_candidate(Method::Btree, keys.clone(), Purpose::Lookup);
            // The richest key list (the first) also gets a covering variant.
            if n == 0 {
                if let Some(include) = &covering_include {
                    let include: Vec<String> = include
                        .iter()
                        .filter(|c| !keys.iter().any(|k| k.column_name() == Some(c.as_str())))
                        .cloned()
                        .collect();
                    if !include.is_empty() {
                        let covering = Candidate {
                            include,
                            purpose: Purpose::Covering,
                            ..plain.clone()
                        };
                        if let Some((predicate, column, _)) = &partial {
                            out.push(Candidate {
                                predicate: Some((predicate.clone(), column.clone())),
                                ..covering.clone()
                            });
                        }
                        out.push(covering);
                    }
                }
            }
            if let Some((predicate, column, _)) = &partial {
                out.push(Candidate {
                    predicate: Some((predicate.clone(), column.clone())),
                    ..plain.clone()
                });
            }
            out.push(plain);
        }

        out.extend(self.pattern_candidates(&equality_keys));
        out.extend(self.full_text_candidates());
        out.extend(self.containment_candidates());
        out.extend(self.expression_candidates(&equality_keys));
        out.extend(self.brin_candidates());
        out
    }

    /// The constant predicate every call repeats that keeps the fewest rows, if it keeps at
    /// most half of them: `(sql, column, is_equality)`.
    fn partial_predicate(&self) -> Option<(String, String, bool)> {
        let mut best: Option<(f64, String, String, bool)> = None;
        for constant in self.fixed.iter().filter(|c| !c.under_or) {
            let Some(column) = self.column(&constant.column) else {
                continue;
            };
            let Some((selectivity, equality)) = predicate_selectivity(column, constant, self.table)
            else {
                continue;
            };
            if selectivity > PARTIAL_MAX_SELECTIVITY {
                continue;
            }
            if best.as_ref().is_none_or(|(s, ..)| selectivity < *s) {
                let sql = predicate_sql(column, constant);
                best = Some((selectivity, sql, constant.column.clone(), equality));
            }
        }
        best.map(|(_, sql, column, equality)| (sql, column, equality))
    }

    /// The columns a covering index must store for an index-only scan, if every column the
    /// query reads from the table is known, and the non-key ones are few and narrow.
    fn covering_columns(&self) -> Option<Vec<String>> {
        let usage = self.usage;
        if usage.outputs.contains(&OutputColumn::AllColumns)
            || !usage.expressions.is_empty()
            || !usage.full_text.is_empty()
            || !usage.array.is_empty()
        {
            return None;
        }
        let mut needed: Vec<String> = Vec::new();
        let columns = usage
            .outputs
            .iter()
            .filter_map(|o| match o {
                OutputColumn::Column(c) => Some(c),
                OutputColumn::AllColumns => None,
            })
            .chain(usage.equality.iter().map(|p| &p.column))
            .chain(usage.range.iter().map(|p| &p.column))
            .chain(usage.null_tests.iter().map(|p| &p.column))
            .chain(usage.like.iter().map(|p| &p.column))
            .chain(usage.joins.iter().map(|p| &p.column))
            .chain(usage.order_by.iter().map(|p| &p.column))
            .chain(usage.group_by.iter());
        for column in columns {
            if !self.known(column) {
                return None;
            }
            if !needed.contains(column) {
                needed.push(column.clone());
            }
        }
        // Key candidates hold the predicate columns; INCLUDE gets the rest, outputs first.
        let filtered: Vec<&String> = usage
            .equality
            .iter()
            .map(|p| &p.column)
            .chain(usage.range.iter().map(|p| &p.column))
            .chain(usage.joins.iter().map(|p| &p.column))
            .chain(usage.order_by.iter().map(|p| &p.column))
            .collect();
        let extra: Vec<String> = needed
            .into_iter()
            .filter(|c| !filtered.contains(&c))
            .collect();
        let width: f64 = extra
            .iter()
            .map(|c| {
                self.column(c)
                    .and_then(|i| i.avg_width)
                    .unwrap_or(MAX_INCLUDE_WIDTH)
            })
            .sum();
        (extra.len() <= MAX_INCLUDE_COLUMNS && width <= MAX_INCLUDE_WIDTH).then_some(extra)
    }

    fn pattern_candidates(&self, equality_keys: &[Key]) -> Vec<Candidate> {
        let mut out = Vec::new();
        for like in self.usage.like.iter().filter(|l| !l.under_or) {
            let Some(column) = self.column(&like.column) else {
                continue;
            };
            if column.type_category != 'S' {
                continue;
            }
            match like.pattern {
                PatternKind::LeadingWildcard | PatternKind::Unknown => {
                    let mut candidate = self.new_candidate(
                        Method::Gin,
                        vec![Key::column(&like.column).with_opclass("gin_trgm_ops")],
                        Purpose::Trigram,
                    );
                    if !matches!(self.snapshot.pg_trgm, ExtensionState::Created { .. }) {
                        candidate.extension = Some("pg_trgm");
                    }
                    out.push(candidate);
                }
                PatternKind::Prefix if !like.case_insensitive => {
                    let opclass = if column.type_name.starts_with("character varying") {
                        "varchar_pattern_ops"
                    } else {
                        "text_pattern_ops"
                    };
                    let key = Key::column(&like.column).with_opclass(opclass);
                    out.push(self.new_candidate(
                        Method::Btree,
                        [equality_keys, std::slice::from_ref(&key)].concat(),
                        Purpose::Pattern,
                    ));
                }
                _ => {}
            }
        }
        out
    }

    fn full_text_candidates(&self) -> Vec<Candidate> {
        let mut out = Vec::new();
        for search in self.usage.full_text.iter().filter(|f| !f.under_or) {
            if !search.columns.iter().all(|c| self.known(c)) {
                continue;
            }
            let mut assumption = None;
            let key = if search.columns.len() == 1 && search.expression == search.columns[0] {
                Key::column(&search.columns[0])
            } else if has_fixed_configuration(&search.expression) {
                Key::expression(&search.expression, &search.columns)
            } else if let Some(expression) =
                with_default_configuration(&search.expression, &self.snapshot.text_search_config)
            {
                assumption = Some(format!(
                    "the workload's text has a parameter where the application passes its text search configuration (to_tsvector($n, ...)), and an index must name one: brisk assumed the database's default_text_search_config, '{}'. Check that the application passes it; the index serves only queries with that configuration.",
                    self.snapshot.text_search_config
                ));
                Key::expression(&expression, &search.columns)
            } else {
                // to_tsvector(text) with the session's default configuration is not
                // immutable: PostgreSQL refuses to index it.
                continue;
            };
            out.push(Candidate {
                assumption,
                ..self.new_candidate(Method::Gin, vec![key], Purpose::FullText)
            });
        }
        out
    }

    fn containment_candidates(&self) -> Vec<Candidate> {
        let mut out = Vec::new();
        for array in self.usage.array.iter().filter(|a| !a.under_or) {
            let Some(column) = self.column(&array.column) else {
                continue;
            };
            let key = if column.type_category == 'A' {
                Key::column(&array.column)
            } else if column.type_name == "jsonb" {
                // jsonb_path_ops is smaller and faster, and serves @> only.
                let key = Key::column(&array.column);
                if array.operator == ArrayOperator::Contains {
                    key.with_opclass("jsonb_path_ops")
                } else {
                    key
                }
            } else {
                continue;
            };
            out.push(self.new_candidate(Method::Gin, vec![key], Purpose::Containment));
        }
        out
    }

    fn expression_candidates(&self, equality_keys: &[Key]) -> Vec<Candidate> {
        let mut out = Vec::new();
        for expression in self.usage.expressions.iter().filter(|e| !e.under_or) {
            let immutable = match &expression.function {
                Some(function) => IMMUTABLE_FUNCTIONS.contains(&function.as_str()),
                // An operator expression over a column: `payload ->> 'kind'`.
                None => expression.expression.contains("->"),
            };
            let comparable = matches!(
                expression.operator.as_str(),
                "=" | "<" | "<=" | ">" | ">=" | "IN" | "= ANY" | "BETWEEN"
            );
            if !immutable || !comparable || !expression.columns.iter().all(|c| self.known(c)) {
                continue;
            }
            let key = Key::expression(&expression.expression, &expression.columns);
            out.push(self.new_candidate(
                Method::Btree,
                [equality_keys, std::slice::from_ref(&key)].concat(),
                Purpose::Expression,
            ));
        }
        out
    }

    /// BRIN serves a range alone. With an equality on the same table, a btree led by the
    /// equality columns then the range reads only the matching rows, which no BRIN can; and
    /// a generic plan, which guesses that a range (`> now() - $2`) keeps a third of the
    /// rows, would rank the tiny BRIN above it by benefit per byte.
    fn brin_candidates(&self) -> Vec<Candidate> {
        let filtered_by_equality = self
            .usage
            .equality
            .iter()
            .any(|p| !p.under_or && self.known(&p.column));
        if self.table.pages < BRIN_MIN_PAGES || filtered_by_equality {
            return Vec::new();
        }
        let mut out = Vec::new();
        for range in self.usage.range.iter().filter(|r| !r.under_or) {
            let Some(column) = self.column(&range.column) else {
                continue;
            };
            let ordered = column
                .correlation
                .is_some_and(|c| c.abs() >= BRIN_MIN_CORRELATION);
            if ordered && matches!(column.type_category, 'D' | 'N') {
                out.push(self.new_candidate(
                    Method::Brin,
                    vec![Key::column(&range.column)],
                    Purpose::Brin,
                ));
            }
        }
        out
    }
}

/// A constant predicate as a partial index's `WHERE`, in the form PostgreSQL's planner
/// reduces it to: `is_archived = false` is `NOT is_archived`. The planner proves that a
/// query's `WHERE` implies an index predicate on these reduced forms, and HypoPG keeps the
/// predicate as written, so a hypothetical `is_archived = false` would never match.
fn predicate_sql(column: &ColumnInfo, constant: &ConstantPredicate) -> String {
    let name = quote_ident(&constant.column);
    if column.type_name == "boolean" {
        let value = constant
            .value
            .as_deref()
            .map(unquote)
            .and_then(|v| boolean_text(&v));
        match (constant.operator.as_str(), value.as_deref()) {
            ("=", Some("t")) | ("<>", Some("f")) => return name,
            ("=", Some("f")) | ("<>", Some("t")) => return format!("NOT {name}"),
            _ => {}
        }
    }
    match &constant.value {
        Some(value) => format!("{name} {} {value}", constant.operator),
        None => format!("{name} {}", constant.operator),
    }
}

/// Whether a column has few enough values to be a partial index's filter rather than a key:
/// a boolean, or at most `PARTIAL_MAX_DISTINCT` distinct values in `pg_stats`.
pub(crate) fn is_filter_column(column: &ColumnInfo, rows: f64) -> bool {
    column.type_name == "boolean"
        || column
            .distinct_values(rows.max(0.0))
            .is_some_and(|d| d <= PARTIAL_MAX_DISTINCT)
}

/// `to_tsvector($1, body)`, as `pg_stat_statements` prints `to_tsvector('english', body)`,
/// with `config` in place of the parameter: `to_tsvector('english', body)`.
fn with_default_configuration(expression: &str, config: &str) -> Option<String> {
    let rest = expression.trim().strip_prefix("to_tsvector(")?.trim_start();
    let digits = rest.strip_prefix('$')?;
    let end = digits.find(|c: char| !c.is_ascii_digit())?;
    let after = digits[end..].trim_start();
    let after = after
        .strip_prefix("::regconfig")
        .unwrap_or(after)
        .trim_start();
    let document = after.strip_prefix(',')?;
    if end == 0 || config.is_empty() || config.contains('\'') {
        return None;
    }
    Some(format!("to_tsvector('{config}',{document}"))
}

/// `to_tsvector('english', body)` or `to_tsvector('english'::regconfig, ...)`: the
/// two-argument form with a literal configuration, which is immutable.
fn has_fixed_configuration(expression: &str) -> bool {
    let Some(rest) = expression.trim().strip_prefix("to_tsvector(") else {
        return false;
    };
    rest.trim_start().starts_with('\'')
}

/// The share of rows a constant predicate keeps, from `pg_stats`, and whether it fixes the
/// column to one value (so the column need not be a key). `None` when the statistics do not
/// say, or the column has too many values for a filter.
fn predicate_selectivity(
    column: &ColumnInfo,
    constant: &ConstantPredicate,
    table: &Table,
) -> Option<(f64, bool)> {
    let null_frac = column.null_frac?;
    let value = constant.value.as_deref().map(unquote);
    match constant.operator.as_str() {
        "IS NULL" => return Some((null_frac, true)),
        "IS NOT NULL" => return Some((1.0 - null_frac, false)),
        _ => {}
    }
    let boolean = column.type_name == "boolean";
    let distinct = column
        .distinct_values(table.tuples.max(0.0))
        .unwrap_or(f64::MAX);
    if !is_filter_column(column, table.tuples) {
        return None;
    }
    let (value, negate) = match (constant.operator.as_str(), value) {
        ("=", Some(v)) => (v, false),
        ("<>", Some(v)) => (v, true),
        ("IS TRUE", None) => ("true".to_string(), false),
        ("IS FALSE", None) => ("false".to_string(), false),
        ("IS NOT TRUE", None) => ("true".to_string(), true),
        ("IS NOT FALSE", None) => ("false".to_string(), true),
        _ => return None,
    };
    let value = if boolean {
        boolean_text(&value)?
    } else {
        value
    };
    let frequency = column
        .most_common_vals
        .iter()
        .zip(&column.most_common_freqs)
        .find(|(v, _)| **v == value)
        .map(|(_, f)| *f)
        .unwrap_or_else(|| {
            // Not a common value: the rows left over spread over the other values.
            let common: f64 = column.most_common_freqs.iter().sum();
            let others = (distinct - column.most_common_vals.len() as f64).max(1.0);
            ((1.0 - common - null_frac) / others).max(0.0)
        });
    Some(if negate {
        (1.0 - frequency - null_frac, false)
    } else {
        (frequency, true)
    })
}

/// `'abc'` → `abc`, `'it''s'` → `it's`; casts (`'x'::text`) dropped.
fn unquote(literal: &str) -> String {
    let literal = literal.split("::").next().unwrap_or(literal).trim();
    match literal
        .strip_prefix('\'')
        .and_then(|l| l.strip_suffix('\''))
    {
        Some(inner) => inner.replace("''", "'"),
        None => literal.to_string(),
    }
}

/// A boolean literal in `pg_stats`' spelling (`t`, `f`).
fn boolean_text(value: &str) -> Option<String> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "on" | "1" => Some("t".into()),
        "false" | "f" | "no" | "n" | "off" | "0" => Some("f".into()),
        _ => None,
    }
}

/// Whether a valid index of the table already does the candidate's job: same method, the
/// candidate's keys a prefix of the index's (same expressions, operator classes and
/// directions, or all reversed), its INCLUDE columns stored, and no predicate on the index
/// or the same one. A BRIN candidate is also served by a btree led by its column.
fn served_by_existing(candidate: &Candidate, snapshot: &Snapshot) -> bool {
    snapshot
        .indexes_of(candidate.table_oid)
        .any(|(index, shape)| serves(index, shape, candidate))
}

fn serves(index: &Index, shape: &IndexShape, candidate: &Candidate) -> bool {
    let key_count = index.key_count.min(shape.columns.len());
    let keys = &shape.columns[..key_count];
    if let Some(predicate) = &index.predicate {
        let same = candidate
            .predicate
            .as_ref()
            .is_some_and(|(p, _)| comparable(p) == comparable(predicate));
        if !same {
            return false;
        }
    }
    if candidate.method == Method::Brin && index.method == "btree" {
        return keys
            .first()
            .is_some_and(|k| comparable(k) == comparable(&candidate.keys[0].text));
    }
    if index.method != candidate.method.as_str() || candidate.keys.len() > keys.len() {
        return false;
    }
    let mut reversed = None;
    for (i, key) in candidate.keys.iter().enumerate() {
        if comparable(&keys[i]) != comparable(&key.text) {
            return false;
        }
        let (opclass, default) = shape
            .opclasses
            .get(i)
            .cloned()
            .unwrap_or((String::new(), true));
        let same_opclass = match &key.opclass {
            Some(wanted) => *wanted == opclass,
            None => default,
        };
        if !same_opclass {
            return false;
        }
        if candidate.method == Method::Btree {
            let desc = index.options.get(i).is_some_and(|o| o & 1 == 1);
            let flipped = desc != key.desc;
            if *reversed.get_or_insert(flipped) != flipped {
                return false;
            }
        }
    }
    candidate.include.iter().all(|c| {
        shape
            .columns
            .iter()
            .any(|s| comparable(s) == comparable(&quote_ident(c)))
    })
}

/// Expression text reduced for comparison: PostgreSQL's deparser adds casts
/// (`'english'::regconfig`, `::text`) and parentheses that the query did not write.
fn comparable(text: &str) -> String {
    let mut out: String = text
        .replace("::regconfig", "")
        .replace("::text", "")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_lowercase();
    while out.starts_with('(') && out.ends_with(')') && balanced(&out[1..out.len() - 1]) {
        out = out[1..out.len() - 1].to_string();
    }
    out
}

fn balanced(text: &str) -> bool {
    let mut depth = 0i32;
    for ch in text.chars() {
        match ch {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

/// The columns a query reads from each table it names, by table oid: what decides whether a
/// candidate on that table can matter to it.
pub(crate) fn columns_by_table(query: &Query, snapshot: &Snapshot) -> HashMap<u32, Vec<String>> {
    let mut out: HashMap<u32, Vec<String>> = HashMap::new();
    for usage in &query.analysis.tables {
        let Some(table) = snapshot.resolve(&usage.table) else {
            continue;
        };
        let columns = out.entry(table.oid).or_default();
        let all = usage
            .equality
            .iter()
            .map(|p| &p.column)
            .chain(usage.range.iter().map(|p| &p.column))
            .chain(usage.null_tests.iter().map(|p| &p.column))
            .chain(usage.like.iter().map(|p| &p.column))
            .chain(usage.full_text.iter().flat_map(|p| &p.columns))
            .chain(usage.array.iter().map(|p| &p.column))
            .chain(usage.expressions.iter().flat_map(|p| &p.columns))
            .chain(usage.joins.iter().map(|p| &p.column))
            .chain(usage.order_by.iter().map(|p| &p.column))
            .chain(usage.group_by.iter())
            .chain(usage.constants.iter().map(|p| &p.column));
        for column in all {
            if !columns.contains(column) {
                columns.push(column.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(keys: &[&str], include: &[&str]) -> Candidate {
        Candidate {
            table_oid: 1,
            schema: "public".into(),
            table: "messages".into(),
            method: Method::Btree,
            keys: keys.iter().map(|k| Key::column(k)).collect(),
            include: include.iter().map(|c| c.to_string()).collect(),
            predicate: None,
            extension: None,
            purpose: Purpose::Lookup,
            origins: vec![],
            assumption: None,
        }
    }

    #[test]
    fn names_say_what_the_index_is_and_fit_postgresql() {
        let mut c = candidate(&["conversation_id", "created_at"], &["role"]);
        c.keys[1].desc = true;
        assert_eq!(
            c.name(),
            "messages_conversation_id_created_at_desc_incl_role_idx"
        );
        c.predicate = Some(("is_archived = false".into(), "is_archived".into()));
        let long = c.name();
        assert!(long.len() <= 63, "{long}");
        assert!(long.starts_with("messages_conversation_id_created_at_desc_incl_role"));
        let fts = Candidate {
            method: Method::Gin,
            keys: vec![Key::expression(
                "to_tsvector('english', content)",
                &["content".into()],
            )],
            include: vec![],
            purpose: Purpose::FullText,
            ..candidate(&[], &[])
        };
        assert_eq!(fts.name(), "messages_to_tsvector_content_fts");
        assert_eq!(
            fts.create_sql("x"),
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS x ON public.messages USING gin ((to_tsvector('english', content)));"
        );
    }

    #[test]
    fn a_longer_index_extends_its_prefix() {
        let narrow = candidate(&["conversation_id"], &[]);
        let wide = candidate(&["conversation_id", "created_at"], &[]);
        let covering = candidate(&["conversation_id", "created_at"], &["role"]);
        assert!(wide.extends(&narrow));
        assert!(covering.extends(&wide));
        assert!(!narrow.extends(&wide));
        assert!(!wide.extends(&wide));
    }

    #[test]
    fn deparsed_expressions_compare_equal_to_written_ones() {
        assert_eq!(
            comparable("to_tsvector('english'::regconfig, content)"),
            comparable("(to_tsvector('english', content))")
        );
        assert_eq!(comparable("(a) + (b)"), "(a)+(b)");
        assert!(has_fixed_configuration("to_tsvector('english', body)"));
        assert_eq!(
            with_default_configuration("to_tsvector($1, content)", "english").as_deref(),
            Some("to_tsvector('english', content)")
        );
        assert_eq!(
            with_default_configuration("to_tsvector(($2)::regconfig, a || b)", "simple"),
            None,
            "a parenthesized parameter is not the plain form"
        );
        assert_eq!(
            with_default_configuration("to_tsvector(content)", "english"),
            None
        );
        assert!(!has_fixed_configuration("to_tsvector(body)"));
        assert_eq!(unquote("'it''s'::text"), "it's");
    }
}
