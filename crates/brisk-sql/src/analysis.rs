//! What a statement does, for the index advisor, the result cache and the N+1 detector.
//!
//! [`analyze`] is the entry point and documents the rules. The work is split by concern:
//! `query` walks statements, query levels, `FROM` lists, target lists, `ORDER BY`, `GROUP BY`
//! and `LIMIT`; `predicates` reads `WHERE`, `ON` and `HAVING`; `scope` resolves column
//! references to table references; `cacheable` knows what makes a result uncacheable; `kind`
//! classifies statements and names the tables of statements without a query; `expr` walks
//! and renders expressions.
//!
//! Not for the proxy's per-query hot path: parsing alone costs tens of microseconds.

use std::fmt;

use crate::error::SqlError;

mod cacheable;
mod expr;
mod kind;
mod predicates;
mod query;
mod scope;

pub(crate) use expr::for_each_child;

pub use cacheable::VOLATILE_FUNCTIONS;

/// Analyzes every statement in `sql`, in order: its kind, the tables it reads and writes,
/// whether its result may be cached, and, for each table reference, the columns it filters,
/// joins, sorts, groups and outputs.
///
/// It parses with PostgreSQL's own parser (pg_query) and walks the raw parse tree, without a
/// catalog, so it never guesses which table a column belongs to:
///
/// - a qualified column (`u.email`, `"public"."User"."id"`) belongs to the table reference
///   its qualifier names, through aliases, CTEs and subqueries in `FROM`;
/// - an unqualified column belongs to a table when exactly one table reference in scope could
///   have it, counting the references of enclosing queries (a correlated subquery sees them),
///   or when every candidate is a reference to the same table. A subquery or CTE whose output
///   list names the column decides it. Otherwise the column goes in
///   [`StatementAnalysis::unresolved`];
/// - a subquery or CTE column maps back to the table column it passes through unchanged; a
///   computed one (`count(*) AS n`) belongs to no table.
///
/// Each table *reference* gets its own [`TableUsage`]: a self-join, or a table read in the
/// outer query and again in a subquery, gives two, because the predicates of one scan are what
/// one index can serve together.
///
/// Fails only when PostgreSQL's parser rejects the text (including trees nested deeper than
/// the parse result's decoder allows); every statement it accepts is analyzed, whatever its
/// kind.
///
/// ```
/// use brisk_sql::{analyze, ColumnPredicate, OrderColumn, StatementKind, TableName};
///
/// let analysis = analyze(
///     "SELECT m.id, m.body FROM messages m JOIN conversations c ON c.id = m.conversation_id \
///      WHERE c.user_id = $1 AND m.deleted_at IS NULL ORDER BY m.created_at DESC LIMIT 20; \
///      UPDATE messages SET read_at = now() WHERE id = $1",
/// )
/// .unwrap();
/// let select = &analysis[0];
/// assert_eq!(select.kind, StatementKind::Select);
/// assert!(select.cacheable);
/// assert_eq!(select.reads, [TableName::new("messages"), TableName::new("conversations")]);
///
/// let messages = &select.tables[0];
/// assert_eq!(messages.joins[0].other_table, TableName::new("conversations"));
/// assert_eq!(messages.order_by, [OrderColumn::desc("created_at")]);
/// assert_eq!(messages.constants[0].to_string(), "deleted_at IS NULL");
/// assert_eq!(select.tables[1].equality, [ColumnPredicate::new("user_id")]);
///
/// let update = &analysis[1];
/// assert_eq!(update.writes, [TableName::new("messages")]);
/// assert!(!update.cacheable);
/// ```
pub fn analyze(sql: &str) -> Result<Vec<StatementAnalysis>, SqlError> {
    let parsed = pg_query::parse(sql).map_err(|e| SqlError::from_pg_query(sql, e))?;
    Ok(parsed
        .protobuf
        .stmts
        .iter()
        .filter_map(|raw| raw.stmt.as_deref()?.node.as_ref())
        .map(query::analyze_statement)
        .collect())
}

/// What one statement does.
#[derive(Debug, Clone, PartialEq)]
pub struct StatementAnalysis {
    /// What sort of statement it is.
    pub kind: StatementKind,
    /// The tables whose rows it reads, in order of first appearance, without duplicates. The
    /// target of an `INSERT`, `UPDATE`, `DELETE` or `MERGE` is in [`Self::writes`] only.
    /// Maintenance and lock statements (`VACUUM`, `ANALYZE`, `CLUSTER`, `LOCK`, `REINDEX TABLE`)
    /// and `COPY ... TO` list their tables here: they change no row a query sees.
    pub reads: Vec<TableName>,
    /// The tables whose rows or definition it changes, in order of first appearance, without
    /// duplicates: DML targets (data-modifying CTEs included), `COPY ... FROM`, and the tables
    /// DDL creates, alters, indexes, truncates or drops.
    pub writes: Vec<TableName>,
    /// Whether the result may be served from a cache that is invalidated by writes to
    /// [`Self::reads`]: a `SELECT` with none of the [`NotCacheable`] reasons.
    pub cacheable: bool,
    /// Why [`Self::cacheable`] is false, without duplicates; empty when it is true.
    pub not_cacheable: Vec<NotCacheable>,
    /// The functions it calls in expressions, by name without schema, in the order the
    /// analysis meets them (`FROM` before the target list), without duplicates: what a
    /// cache must look up in `pg_proc` (volatility) before it trusts [`Self::cacheable`],
    /// which knows only [`VOLATILE_FUNCTIONS`].
    pub functions: Vec<String>,
    /// One entry per table reference, in the order the analysis met them: CTE bodies first,
    /// then `FROM` (or the write target), then subqueries in expressions.
    pub tables: Vec<TableUsage>,
    /// The outermost query's `LIMIT` (or `FETCH FIRST`); `None` when absent or `LIMIT ALL`.
    pub limit: Option<Bound>,
    /// The outermost query's `OFFSET`.
    pub offset: Option<Bound>,
    /// Column references that cannot be tied to one table without the catalog, without
    /// duplicates.
    pub unresolved: Vec<UnresolvedColumn>,
}

/// The sort of a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatementKind {
    /// A query, including `VALUES` and set operations (`UNION`, ...). A `SELECT` with a
    /// data-modifying CTE is still a `Select`; its target is in
    /// [`StatementAnalysis::writes`].
    Select,
    /// `INSERT`, including `INSERT ... ON CONFLICT DO UPDATE`.
    Insert,
    /// `UPDATE`, and `MERGE`: a MERGE may also insert and delete, but like an `UPDATE` it
    /// reads its target through a join and changes rows in place.
    Update,
    /// `DELETE`.
    Delete,
    /// Statements that create, change or drop objects, including `TRUNCATE`, `GRANT`,
    /// `COMMENT`, `REFRESH MATERIALIZED VIEW`, `CREATE TABLE AS` and `SELECT ... INTO`.
    Ddl,
    /// Transaction control: `BEGIN`, `COMMIT`, `ROLLBACK`, `SAVEPOINT`, `RELEASE`,
    /// `PREPARE TRANSACTION`, `SET TRANSACTION` and `SET CONSTRAINTS`.
    Transaction,
    /// Everything else: `SET`, `SHOW`, `RESET`, `VACUUM`, `ANALYZE`, `CLUSTER`, `REINDEX`,
    /// `EXPLAIN`, `COPY`, `LISTEN`, `NOTIFY`, `PREPARE`, `EXECUTE`, cursors, `LOCK`, `CALL`,
    /// `DO`, `DISCARD`, `CHECKPOINT`. `EXPLAIN`, `PREPARE`, `DECLARE CURSOR` and
    /// `COPY (query)` report the tables and predicates of the statement they carry.
    Utility,
}

/// A table as the statement names it. The schema is there only when the statement wrote it:
/// without the catalog, `users` and `public.users` may or may not be the same table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    /// The schema, when written (`chatbot` in `chatbot.messages`).
    pub schema: Option<String>,
    /// The table's name, as PostgreSQL reads it: unquoted names are lowercased, quoted ones
    /// kept as written (`User` in `"public"."User"`).
    pub name: String,
}

impl TableName {
    /// A table named without a schema.
    pub fn new(name: &str) -> TableName {
        TableName {
            schema: None,
            name: name.to_string(),
        }
    }

    /// A schema-qualified table.
    pub fn qualified(schema: &str, name: &str) -> TableName {
        TableName {
            schema: Some(schema.to_string()),
            name: name.to_string(),
        }
    }
}

/// `schema.name`, or `name`, unquoted.
impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Why a statement's result may not be served from a cache.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NotCacheable {
    /// It is not a `SELECT`: it writes, changes the schema, controls a transaction or is a
    /// utility command.
    NotASelect,
    /// It calls a function whose result changes from call to call or that has side effects:
    /// one of [`VOLATILE_FUNCTIONS`], or a SQL value function (`CURRENT_TIMESTAMP`,
    /// `LOCALTIME`, `CURRENT_USER`, ...), named in lowercase.
    VolatileFunction(String),
    /// It locks the rows it reads.
    RowLock(RowLock),
    /// A CTE inserts, updates, deletes or merges rows.
    DataModifyingCte,
    /// It reads a statistics view whose rows change without any write (`pg_stat_*`,
    /// `pg_statio_*`, `pg_locks`).
    LiveSystemView(TableName),
    /// `TABLESAMPLE` without `REPEATABLE` returns a different sample each time.
    RandomSample,
}

/// The strength of a row-locking clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowLock {
    /// `FOR UPDATE`.
    Update,
    /// `FOR NO KEY UPDATE`.
    NoKeyUpdate,
    /// `FOR SHARE`.
    Share,
    /// `FOR KEY SHARE`.
    KeyShare,
}

/// How one table reference is used. Column names are as PostgreSQL reads them: unquoted names
/// lowercased, quoted ones as written. Lists keep the order of the text and hold no
/// duplicates.
#[derive(Debug, Clone, PartialEq)]
pub struct TableUsage {
    /// The table referenced.
    pub table: TableName,
    /// The alias it was given (`m` in `messages m`), if any.
    pub alias: Option<String>,
    /// Columns compared for equality with a value: `=`, `IN (...)`, `IN (subquery)`,
    /// `= ANY(...)`, and a bare boolean column (`WHERE active`, `WHERE NOT active`). A value
    /// is anything that is not a column of this reference: a constant, a parameter, a
    /// subquery, or an expression over other tables. `NOT (col = x)` is not an equality.
    pub equality: Vec<ColumnPredicate>,
    /// Columns compared with `<`, `<=`, `>`, `>=` or `BETWEEN`, including against another
    /// table's column, and the members of a row comparison (`(a, b) < ($1, $2)`).
    pub range: Vec<ColumnPredicate>,
    /// `IS NULL` and `IS NOT NULL` tests.
    pub null_tests: Vec<NullTestPredicate>,
    /// `LIKE` and `ILIKE` on a column.
    pub like: Vec<LikePredicate>,
    /// Full-text matches (`@@`) over `to_tsvector(...)` of columns, or over a `tsvector`
    /// column.
    pub full_text: Vec<FullTextPredicate>,
    /// `@>`, `<@` and `&&` on a column.
    pub array: Vec<ArrayPredicate>,
    /// Comparisons of an expression over this reference's columns with a value, such as
    /// `lower(email) = $1`: what an expression index could serve.
    pub expressions: Vec<ExpressionPredicate>,
    /// Equalities between a column of this reference and a column of another one.
    pub joins: Vec<JoinPair>,
    /// The `ORDER BY` items of the query this reference is in that are plain columns of it,
    /// directly, by output name or by position.
    pub order_by: Vec<OrderColumn>,
    /// The `GROUP BY` items (grouping sets, `ROLLUP` and `CUBE` included) that are plain
    /// columns of this reference.
    pub group_by: Vec<String>,
    /// The columns the target list (or `RETURNING`) reads from this reference, including
    /// inside expressions, aggregates and window definitions: what a covering index needs.
    /// The target list of an `EXISTS` subquery outputs nothing.
    pub outputs: Vec<OutputColumn>,
    /// Predicates comparing a column with a literal constant (`status = 'active'`,
    /// `is_archived = false`, `deleted_at IS NULL`): what a partial index's `WHERE` could hold.
    pub constants: Vec<ConstantPredicate>,
}

impl TableUsage {
    /// A reference with nothing recorded yet.
    pub fn new(table: TableName, alias: Option<&str>) -> TableUsage {
        TableUsage {
            table,
            alias: alias.map(str::to_string),
            equality: Vec::new(),
            range: Vec::new(),
            null_tests: Vec::new(),
            like: Vec::new(),
            full_text: Vec::new(),
            array: Vec::new(),
            expressions: Vec::new(),
            joins: Vec::new(),
            order_by: Vec::new(),
            group_by: Vec::new(),
            outputs: Vec::new(),
            constants: Vec::new(),
        }
    }
}

/// A column used in an equality or range predicate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ColumnPredicate {
    /// The column.
    pub column: String,
    /// Whether the predicate sits under an `OR` in its query's `WHERE`, `ON` or `HAVING`: an
    /// index on the column may not serve it alone.
    pub under_or: bool,
}

impl ColumnPredicate {
    /// A predicate on `column`, not under `OR`.
    pub fn new(column: &str) -> ColumnPredicate {
        ColumnPredicate {
            column: column.to_string(),
            under_or: false,
        }
    }
}

/// `IS NULL` or `IS NOT NULL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NullTest {
    /// `IS NULL`.
    IsNull,
    /// `IS NOT NULL`.
    IsNotNull,
}

/// A null test on a column.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NullTestPredicate {
    /// The column.
    pub column: String,
    /// Which test.
    pub test: NullTest,
    /// Whether it sits under an `OR`.
    pub under_or: bool,
}

/// What a `LIKE` pattern lets an index do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PatternKind {
    /// A literal with a fixed prefix before its first wildcard (`'abc%'`, `'a_c'`): a
    /// B-tree with `text_pattern_ops` can serve it.
    Prefix,
    /// A literal that starts with a wildcard (`'%abc'`, `'%abc%'`, `'_bc'`): only a trigram
    /// index or full-text search can help.
    LeadingWildcard,
    /// A literal without wildcards: an equality in disguise.
    Exact,
    /// A parameter or an expression: known only at run time.
    Unknown,
}

/// A `LIKE` or `ILIKE` on a column.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LikePredicate {
    /// The column matched.
    pub column: String,
    /// `ILIKE` rather than `LIKE`.
    pub case_insensitive: bool,
    /// What the pattern is.
    pub pattern: PatternKind,
    /// Whether it sits under an `OR`.
    pub under_or: bool,
}

/// A full-text match.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FullTextPredicate {
    /// The columns the document is built from.
    pub columns: Vec<String>,
    /// The document expression, with this reference's qualifiers dropped, as PostgreSQL's
    /// deparser writes it (`to_tsvector('english', content)`): what a GIN expression index
    /// must repeat for the planner to use it.
    pub expression: String,
    /// Whether it sits under an `OR`.
    pub under_or: bool,
}

/// An operator that GIN indexes serve on arrays and `jsonb` (and GiST on ranges). Without the
/// catalog the column's type is unknown, so all three are reported alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArrayOperator {
    /// `column @> value` (or `value <@ column`).
    Contains,
    /// `column <@ value` (or `value @> column`).
    ContainedBy,
    /// `column && value`.
    Overlaps,
}

/// A containment or overlap test on a column.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ArrayPredicate {
    /// The column.
    pub column: String,
    /// The operator, with the column on its left.
    pub operator: ArrayOperator,
    /// Whether it sits under an `OR`.
    pub under_or: bool,
}

/// An expression over one table reference's columns compared with a value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExpressionPredicate {
    /// The expression, with this reference's qualifiers dropped, as PostgreSQL's deparser
    /// writes it (`lower(email)`, `upper(email::text)`, `payload ->> 'kind'`).
    pub expression: String,
    /// The outermost function, when the expression is a call (`lower`).
    pub function: Option<String>,
    /// The columns the expression reads.
    pub columns: Vec<String>,
    /// The comparison, with the expression on its left: `=`, `<`, `<=`, `>`, `>=`, `IN`,
    /// `= ANY`, `BETWEEN`, `LIKE`, `ILIKE`, `@>`, `<@`, `&&`, `IS NULL` or `IS NOT NULL`.
    pub operator: String,
    /// Whether it sits under an `OR`.
    pub under_or: bool,
}

/// `column = other_table.other_column`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JoinPair {
    /// This reference's column.
    pub column: String,
    /// The table on the other side.
    pub other_table: TableName,
    /// Its column.
    pub other_column: String,
    /// Whether it sits under an `OR`.
    pub under_or: bool,
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortDirection {
    /// Ascending, written or by default.
    Asc,
    /// Descending.
    Desc,
}

/// Where nulls sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NullsOrder {
    /// Not written: last when ascending, first when descending.
    Default,
    /// `NULLS FIRST`.
    First,
    /// `NULLS LAST`.
    Last,
}

/// One `ORDER BY` column.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrderColumn {
    /// The column.
    pub column: String,
    /// `ASC` or `DESC`; `ORDER BY ... USING <` and `USING >` count as ascending and descending.
    pub direction: SortDirection,
    /// `NULLS FIRST`, `NULLS LAST`, or neither.
    pub nulls: NullsOrder,
}

impl OrderColumn {
    /// `column ASC`, nulls order not written.
    pub fn asc(column: &str) -> OrderColumn {
        OrderColumn {
            column: column.to_string(),
            direction: SortDirection::Asc,
            nulls: NullsOrder::Default,
        }
    }

    /// `column DESC`, nulls order not written.
    pub fn desc(column: &str) -> OrderColumn {
        OrderColumn {
            direction: SortDirection::Desc,
            ..OrderColumn::asc(column)
        }
    }
}

/// A column a query outputs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OutputColumn {
    /// One column.
    Column(String),
    /// `*` or `t.*`: every column.
    AllColumns,
}

/// A column compared with a literal constant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConstantPredicate {
    /// The column, on the left.
    pub column: String,
    /// `=`, `<>`, `<`, `<=`, `>`, `>=`, `IN`, `= ANY`, `IS NULL`, `IS NOT NULL`, `IS TRUE`,
    /// `IS NOT TRUE`, `IS FALSE`, `IS NOT FALSE`, `IS UNKNOWN` or `IS NOT UNKNOWN`. A bare
    /// boolean column counts as `= true` (`NOT col` as `= false`), as the planner reads it.
    pub operator: String,
    /// The constant, as PostgreSQL's deparser writes the literal (`'active'`, `false`, `42`,
    /// `'2024-01-01'::date`, `(1, 2, 3)` for `IN`, `('{1,2}')` for `= ANY`); `None` for the
    /// `IS` tests.
    pub value: Option<String>,
    /// Whether it sits under an `OR`: then it does not hold for every row the query returns.
    pub under_or: bool,
}

/// The predicate as SQL, ready for a partial index's `WHERE`: `status = 'active'`.
impl fmt::Display for ConstantPredicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.column, self.operator)?;
        match &self.value {
            Some(value) => write!(f, " {value}"),
            None => Ok(()),
        }
    }
}

/// A `LIMIT` or `OFFSET` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bound {
    /// An integer literal.
    Constant(i64),
    /// `$n`, possibly cast (`$2::INTEGER`).
    Parameter(u32),
    /// Anything else: an expression, a subquery, a non-integer.
    Other,
}

/// A column reference that cannot be tied to exactly one table without the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UnresolvedColumn {
    /// The reference as written, its parts joined with `.` (`c_custkey`, `x.y`, `*`).
    pub column: String,
    /// What the statement did with it.
    pub usage: ColumnUsage,
}

/// What a column reference is used for: the field of [`TableUsage`] it would have landed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnUsage {
    /// An equality with a value ([`TableUsage::equality`]).
    Equality,
    /// A range comparison ([`TableUsage::range`]).
    Range,
    /// `IS [NOT] NULL` ([`TableUsage::null_tests`]).
    NullTest,
    /// `LIKE` or `ILIKE` ([`TableUsage::like`]).
    Like,
    /// A full-text match ([`TableUsage::full_text`]).
    FullText,
    /// `@>`, `<@` or `&&` ([`TableUsage::array`]).
    Array,
    /// Inside an expression compared with a value ([`TableUsage::expressions`]).
    Expression,
    /// An equality with another column ([`TableUsage::joins`]).
    Join,
    /// `ORDER BY` ([`TableUsage::order_by`]).
    OrderBy,
    /// `GROUP BY` ([`TableUsage::group_by`]).
    GroupBy,
    /// The target list or `RETURNING` ([`TableUsage::outputs`]); a `*` over several tables
    /// is listed as `*` too, and each table also gets [`OutputColumn::AllColumns`].
    Output,
}

#[cfg(test)]
mod tests;
