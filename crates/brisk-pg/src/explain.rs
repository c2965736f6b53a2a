//! Plans: `EXPLAIN` of a statement as a typed tree, generic plans of normalized (`$n`)
//! statements, and HypoPG's hypothetical indexes.
//!
//! - A statement with literal values is explained as it is ([`Statement::Plain`]).
//! - A normalized statement (`WHERE id = $1`, as `pg_stat_statements` stores it) gets a
//!   generic plan ([`Statement::Generic`]): `PREPARE`, `plan_cache_mode =
//!   force_generic_plan` for this transaction, `EXPLAIN EXECUTE` with values of the right
//!   type, `DEALLOCATE`. The plan does not depend on the values; `EXECUTE` only needs valid
//!   ones. [`Statement::Custom`] plans it for given values instead, as a driver that binds
//!   parameters gets it for its first executions. Both may name the parameters' types
//!   (`PREPARE brisk_plan(integer, text) AS ...`) where PostgreSQL cannot infer them;
//!   `unknown` leaves one to PostgreSQL.
//! - [`HypoPg`] creates indexes that exist only in this backend's memory (HypoPG), so the
//!   planner considers them in `EXPLAIN` without ANALYZE. They need no write and work in a
//!   READ ONLY transaction; they are not transactional, so [`HypoPg::reset`] removes them.
//!
//! Statement text reaches the server only through the extended query protocol, which
//! refuses more than one command: text from a workload cannot smuggle a second statement
//! into a batch. Values for `EXECUTE` must be SQL literals (`'42'`, `NULL`), and are checked.
//!
//! Every function runs inside the caller's transaction ([`Session::begin`]). When
//! `EXPLAIN` fails, [`explain`] rolls the transaction back, removes its prepared
//! statement and begins a new one, so the caller can go on with the next statement.

use serde::Deserialize;
use tokio_postgres::types::{FromSql, Type};

use crate::catalog::quote_ident;
use crate::{PgError, Session};

/// Name of the prepared statement brisk plans generic plans through.
const PREPARED: &str = "brisk_plan";

/// What to explain.
#[derive(Debug, Clone, Copy)]
pub enum Statement<'a> {
    /// One statement whose text holds its values (or needs none).
    Plain(&'a str),
    /// One statement with `$n` parameters, planned generically; `args` are SQL literals of
    /// the right type for `EXECUTE` (`'42'`, `NULL`), one per parameter. `types` name the
    /// parameters' types for `PREPARE`, in order; empty lets PostgreSQL infer them all.
    Generic {
        sql: &'a str,
        types: &'a [String],
        args: &'a [String],
    },
    /// One statement with `$n` parameters, planned for the values `args` (SQL literals).
    Custom {
        sql: &'a str,
        types: &'a [String],
        args: &'a [String],
    },
}

/// `EXPLAIN` options.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExplainOptions {
    /// Run the statement (`ANALYZE`): it executes, writes included. Only ever on a target
    /// the user named as safe, and writes only inside a transaction that is rolled back.
    pub analyze: bool,
    /// Count buffers (`BUFFERS`); needs `analyze`.
    pub buffers: bool,
}

/// The result of one `EXPLAIN`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Explained {
    #[serde(rename = "Plan")]
    pub plan: Plan,
    /// With ANALYZE: planning time in milliseconds.
    #[serde(rename = "Planning Time", default)]
    pub planning_ms: Option<f64>,
    /// With ANALYZE: execution time in milliseconds.
    #[serde(rename = "Execution Time", default)]
    pub execution_ms: Option<f64>,
}

/// One plan node, with the fields brisk reads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Plan {
    #[serde(rename = "Node Type")]
    pub node_type: String,
    #[serde(rename = "Relation Name", default)]
    pub relation: Option<String>,
    #[serde(rename = "Alias", default)]
    pub alias: Option<String>,
    #[serde(rename = "Index Name", default)]
    pub index_name: Option<String>,
    #[serde(rename = "Startup Cost")]
    pub startup_cost: f64,
    #[serde(rename = "Total Cost")]
    pub total_cost: f64,
    #[serde(rename = "Plan Rows")]
    pub rows: f64,
    #[serde(rename = "Plan Width", default)]
    pub width: f64,
    #[serde(rename = "Filter", default)]
    pub filter: Option<String>,
    #[serde(rename = "Actual Total Time", default)]
    pub actual_total_ms: Option<f64>,
    #[serde(rename = "Actual Rows", default)]
    pub actual_rows: Option<f64>,
    #[serde(rename = "Actual Loops", default)]
    pub actual_loops: Option<f64>,
    #[serde(rename = "Shared Hit Blocks", default)]
    pub shared_hit_blocks: Option<i64>,
    #[serde(rename = "Shared Read Blocks", default)]
    pub shared_read_blocks: Option<i64>,
    #[serde(rename = "Plans", default)]
    pub children: Vec<Plan>,
}

impl Plan {
    /// This node and every node below it, depth first.
    pub fn nodes(&self) -> Vec<&Plan> {
        let mut out = vec![self];
        let mut i = 0;
        while i < out.len() {
            let node = out[i];
            out.extend(node.children.iter());
            i += 1;
        }
        out
    }

    /// How each table is read, in plan order: `Seq Scan on messages`, `Index Only Scan
    /// using messages_conversation_id_idx on messages`. A bitmap heap scan is named with the
    /// index its bitmap comes from.
    pub fn access_paths(&self) -> Vec<String> {
        let mut paths = Vec::new();
        self.collect_paths(&mut paths);
        paths
    }

    fn collect_paths(&self, paths: &mut Vec<String>) {
        if let Some(relation) = &self.relation {
            let index = self.index_name.clone().or_else(|| {
                self.nodes()
                    .iter()
                    .skip(1)
                    .find_map(|n| n.index_name.clone())
            });
            match index {
                Some(index) => {
                    paths.push(format!("{} using {index} on {relation}", self.node_type))
                }
                None => paths.push(format!("{} on {relation}", self.node_type)),
            }
            return;
        }
        for child in &self.children {
            child.collect_paths(paths);
        }
    }

    /// Shared buffers hit plus read, as the top node counts them (with BUFFERS).
    pub fn shared_blocks(&self) -> Option<i64> {
        Some(self.shared_hit_blocks? + self.shared_read_blocks.unwrap_or(0))
    }
}

/// The text of `EXPLAIN (FORMAT JSON)`: its type is `json`, which tokio-postgres does not
/// decode into a `String` without a feature brisk does not need.
struct JsonText(String);

impl<'a> FromSql<'a> for JsonText {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(JsonText(std::str::from_utf8(raw)?.to_string()))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSON || *ty == Type::TEXT
    }
}

fn parse_explain(text: &str) -> Result<Explained, PgError> {
    let mut parsed: Vec<Explained> = serde_json::from_str(text).map_err(|e| PgError::Query {
        context: "reading a plan".into(),
        message: format!("unexpected EXPLAIN output: {e}"),
        sqlstate: None,
    })?;
    parsed.pop().ok_or_else(|| PgError::Query {
        context: "reading a plan".into(),
        message: "EXPLAIN returned no plan".into(),
        sqlstate: None,
    })
}

/// Explains one statement. See the module documentation for what happens on error.
pub async fn explain(
    session: &Session,
    statement: Statement<'_>,
    options: ExplainOptions,
) -> Result<Explained, PgError> {
    let mut words = vec!["FORMAT JSON"];
    if options.analyze {
        words.push("ANALYZE");
        if options.buffers {
            words.push("BUFFERS");
        }
    }
    let words = words.join(", ");
    let result = match statement {
        Statement::Plain(sql) => {
            let text = format!("/* brisk */ EXPLAIN ({words}) {sql}");
            session
                .client()
                .query_one(&text, &[])
                .await
                .map_err(|e| PgError::query("explaining a query", e))
                .and_then(|row| parse_explain(&row.get::<_, JsonText>(0).0))
        }
        Statement::Generic { sql, types, args } => {
            execute_prepared(session, sql, types, args, &words, true).await
        }
        Statement::Custom { sql, types, args } => {
            execute_prepared(session, sql, types, args, &words, false).await
        }
    };
    if result.is_err() {
        recover(session).await?;
    }
    result
}

async fn execute_prepared(
    session: &Session,
    sql: &str,
    types: &[String],
    args: &[String],
    words: &str,
    generic: bool,
) -> Result<Explained, PgError> {
    let text =
        PreparedExplain::new(PREPARED, sql, types, args, words, generic).map_err(|message| {
            PgError::Query {
                context: "explaining a query".into(),
                message,
                sqlstate: None,
            }
        })?;
    prepare(session, sql, types).await?;
    // Only brisk's own text from here on, so the simple protocol's one round trip is safe.
    let batch = format!("/* brisk */ {}", text.explain);
    let messages = session
        .client()
        .simple_query(&batch)
        .await
        .map_err(|e| PgError::query("explaining a query", e))?;
    let text = messages
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        })
        .unwrap_or_default();
    parse_explain(&text)
}

/// After an error: a fresh transaction, without the prepared statement the failed one may
/// have left (prepared statements outlive a rollback).
async fn recover(session: &Session) -> Result<(), PgError> {
    session.rollback().await?;
    let _ = session
        .client()
        .batch_execute(&format!("/* brisk */ DEALLOCATE {PREPARED}"))
        .await;
    session.begin().await
}

/// Whether `arg` is one SQL literal: `NULL`, or a quoted string with its quotes doubled.
fn is_literal(arg: &str) -> bool {
    if arg == "NULL" {
        return true;
    }
    // An escape string (`brisk_sql::quote_literal` writes one for a value with a
    // backslash): every backslash doubled, so none can escape the closing quote.
    if let Some(inner) = arg.strip_prefix("E'").and_then(|a| a.strip_suffix('\'')) {
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if (c == '\\' || c == '\'') && chars.next() != Some(c) {
                return false;
            }
        }
        return true;
    }
    let Some(inner) = arg.strip_prefix('\'').and_then(|a| a.strip_suffix('\'')) else {
        return false;
    };
    inner.replace("''", "").find('\'').is_none()
}

/// `PREPARE`s `sql` as brisk's statement, with the parameter types `types` (none: all
/// inferred). It goes through the extended protocol, which refuses more than one command;
/// the types come from the catalog, and are checked to be type names so that none can end
/// the list early.
async fn prepare(session: &Session, sql: &str, types: &[String]) -> Result<(), PgError> {
    let text = PreparedExplain::new(PREPARED, sql, types, &[], "", true)
        .map_err(|message| PgError::Query {
            context: "preparing a query".into(),
            message,
            sqlstate: None,
        })?
        .prepare;
    session
        .client()
        .execute(&format!("/* brisk */ {text}"), &[])
        .await
        .map(|_| ())
        .map_err(|e| PgError::query("preparing a query", e))
}

/// The SQL that plans a `$n` statement through a prepared statement: the one way brisk does
/// it, for the advisor (with typed values) and for the proxy's plans of slow statements
/// (with NULLs, which a forced generic plan ignores). Run `prepare`, then `explain` in the
/// same transaction; `explain` ends by deallocating the statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedExplain {
    /// `PREPARE name(types) AS sql`: run it alone (the extended protocol refuses a second
    /// statement smuggled into `sql`).
    pub prepare: String,
    /// `SET LOCAL plan_cache_mode = ...; EXPLAIN (options) EXECUTE name(args); DEALLOCATE
    /// name`: brisk's own text only.
    pub explain: String,
}

impl PreparedExplain {
    /// The statements for `sql` with parameter `types` (empty: PostgreSQL infers them) and
    /// `args` (SQL literals: `NULL`, `'42'`), EXPLAIN `options` (`FORMAT JSON`, or empty),
    /// a generic plan when `generic`, else a custom one for the values. Fails when a type or
    /// an argument is not what it claims to be.
    pub fn new(
        name: &str,
        sql: &str,
        types: &[String],
        args: &[String],
        options: &str,
        generic: bool,
    ) -> Result<PreparedExplain, String> {
        if let Some(bad) = types.iter().find(|t| !is_type_name(t)) {
            return Err(format!("{bad:?} is not a type name"));
        }
        if let Some(bad) = args.iter().find(|a| !is_literal(a)) {
            return Err(format!("{bad:?} is not a SQL literal"));
        }
        let list = if types.is_empty() {
            String::new()
        } else {
            format!("({})", types.join(", "))
        };
        let mode = if generic {
            "force_generic_plan"
        } else {
            "force_custom_plan"
        };
        let options = if options.is_empty() {
            String::new()
        } else {
            format!("({options}) ")
        };
        Ok(PreparedExplain {
            prepare: format!("PREPARE {name}{list} AS {sql}"),
            explain: format!(
                "SET LOCAL plan_cache_mode = {mode}; EXPLAIN {options}EXECUTE {name}({}); DEALLOCATE {name}",
                args.join(", ")
            ),
        })
    }
}

/// Whether `text` reads as one type name as `format_type` writes them (`integer`,
/// `character varying(20)`, `"Mood"[]`, `public.mood`): words, dots, brackets, quoted names
/// and a modifier in parentheses, nothing that could close the parameter list or a cast.
pub fn is_type_name(text: &str) -> bool {
    let mut depth = 0i32;
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            _ if quoted => {}
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            ',' if depth == 0 => return false,
            c if c.is_ascii_alphanumeric() || matches!(c, '_' | ' ' | '.' | '[' | ']' | ',') => {}
            _ => return false,
        }
    }
    depth == 0 && !quoted && !text.trim().is_empty()
}

/// The types PostgreSQL infers for the `$n` parameters of `sql`, in order
/// (`integer`, `text[]`, `timestamp with time zone`), given the types in `types` (none:
/// all inferred; `unknown` leaves one to PostgreSQL).
pub async fn parameter_types(
    session: &Session,
    sql: &str,
    types: &[String],
) -> Result<Vec<String>, PgError> {
    let result = async {
        prepare(session, sql, types).await?;
        let row = session
            .client()
            .query_one(
                "/* brisk */ SELECT parameter_types::text[] FROM pg_prepared_statements \
                 WHERE name = $1",
                &[&PREPARED],
            )
            .await
            .map_err(|e| PgError::query("reading parameter types", e))?;
        session
            .client()
            .batch_execute(&format!("/* brisk */ DEALLOCATE {PREPARED}"))
            .await
            .map_err(|e| PgError::query("deallocating a query", e))?;
        Ok(row.get::<_, Vec<String>>(0))
    }
    .await;
    if result.is_err() {
        recover(session).await?;
    }
    result
}

/// A hypothetical index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HypoIndex {
    pub oid: u32,
    /// The name plans show: `<13559>btree_messages_conversation_id`.
    pub name: String,
}

/// HypoPG, created in `schema` of this database.
#[derive(Debug, Clone)]
pub struct HypoPg {
    schema: String,
}

impl HypoPg {
    pub fn new(schema: &str) -> HypoPg {
        HypoPg {
            schema: quote_ident(schema),
        }
    }

    /// Creates a hypothetical index from a `CREATE INDEX` statement (btree, BRIN and hash;
    /// HypoPG cannot simulate GIN or GiST).
    pub async fn create(&self, session: &Session, ddl: &str) -> Result<HypoIndex, PgError> {
        let sql = format!(
            "/* brisk */ SELECT indexrelid, indexname FROM {}.hypopg_create_index($1)",
            self.schema
        );
        let row = session
            .client()
            .query_one(&sql, &[&ddl])
            .await
            .map_err(|e| PgError::query("creating a hypothetical index", e))?;
        Ok(HypoIndex {
            oid: row.get(0),
            name: row.get(1),
        })
    }

    /// The estimated size of a hypothetical index in bytes.
    pub async fn size(&self, session: &Session, index: &HypoIndex) -> Result<i64, PgError> {
        let sql = format!(
            "/* brisk */ SELECT {}.hypopg_relation_size($1)::int8",
            self.schema
        );
        let row = session
            .client()
            .query_one(&sql, &[&index.oid])
            .await
            .map_err(|e| PgError::query("sizing a hypothetical index", e))?;
        Ok(row.get(0))
    }

    pub async fn drop(&self, session: &Session, index: &HypoIndex) -> Result<(), PgError> {
        let sql = format!("/* brisk */ SELECT {}.hypopg_drop_index($1)", self.schema);
        session
            .client()
            .query_one(&sql, &[&index.oid])
            .await
            .map_err(|e| PgError::query("dropping a hypothetical index", e))?;
        Ok(())
    }

    /// Removes every hypothetical index of this backend.
    pub async fn reset(&self, session: &Session) -> Result<(), PgError> {
        let sql = format!("/* brisk */ SELECT {}.hypopg_reset()", self.schema);
        session
            .client()
            .batch_execute(&sql)
            .await
            .map_err(|e| PgError::query("removing hypothetical indexes", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_literals_pass_as_values() {
        assert!(is_literal("NULL"));
        assert!(is_literal("'it''s'"));
        assert!(is_literal("''"));
        assert!(!is_literal("'a'); DROP TABLE t; --'"));
        assert!(!is_literal("1"));
        assert!(!is_literal("'a"));
        assert!(is_literal(&brisk_sql::quote_literal(r#"{"{\"ms\": 1}"}"#)));
        assert!(is_literal(r"E'a\\b'"));
        assert!(!is_literal(r"E'a\'; DROP TABLE t; --'"));
        assert!(!is_literal(r"E'\''"));
    }

    #[test]
    fn only_type_names_pass_as_types() {
        for name in [
            "integer",
            "character varying(20)",
            "numeric(10,2)",
            "timestamp with time zone",
            "\"Mood\"[]",
            "public.\"odd) name\"",
            "unknown",
        ] {
            assert!(is_type_name(name), "{name}");
        }
        for bad in [
            "int) AS DELETE FROM t; --",
            "int, text",
            "text'",
            "(int",
            "\"open",
            "",
            "int -- x",
        ] {
            assert!(!is_type_name(bad), "{bad}");
        }
    }

    #[test]
    fn plans_parse_and_name_their_access_paths() {
        let text = r#"[{"Plan": {"Node Type": "Limit", "Startup Cost": 0.0, "Total Cost": 9.5,
            "Plan Rows": 10, "Plan Width": 8, "Plans": [
              {"Node Type": "Bitmap Heap Scan", "Relation Name": "messages", "Alias": "m",
               "Startup Cost": 1.0, "Total Cost": 50.0, "Plan Rows": 100, "Plan Width": 8,
               "Plans": [{"Node Type": "Bitmap Index Scan", "Index Name": "m_idx",
                          "Startup Cost": 0.0, "Total Cost": 1.0, "Plan Rows": 100}]},
              {"Node Type": "Seq Scan", "Relation Name": "users", "Startup Cost": 0.0,
               "Total Cost": 5.0, "Plan Rows": 1, "Plan Width": 4}]},
            "Planning Time": 0.1, "Execution Time": 2.5}]"#;
        let explained = parse_explain(text).unwrap();
        assert_eq!(explained.execution_ms, Some(2.5));
        assert_eq!(
            explained.plan.access_paths(),
            [
                "Bitmap Heap Scan using m_idx on messages",
                "Seq Scan on users"
            ]
        );
        assert_eq!(explained.plan.nodes().len(), 4);
    }
}
