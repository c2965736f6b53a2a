//! A workload from `pg_stat_statements` (`--from-pgss`): the database's most called
//! statements as operations, weighted by their calls, each `$n` drawn from the column it is
//! compared with.
//!
//! pg_stat_statements keeps normalized texts (`$1` for every constant), so each parameter
//! needs values. brisk-sql's walk of the parse tree ([`brisk_sql::param_use`], the one the
//! index advisor uses) ties each `$n` to a column; the column's table is the one among the
//! statement's relations that has it. Its values are a sample of the column itself, read once
//! before the run (`TABLESAMPLE SYSTEM` on a large table, the whole column on a small one),
//! so a key is drawn as often as it occurs and the load touches the rows the application
//! touches. Parameters on different columns of one table (under one alias) are sampled as
//! rows and drawn a row at a time, so their values occur together as in the data. `LIMIT
//! $n` gets 20 and `OFFSET $n` 0 (the sizes of a page; pg_stat_statements keeps no values). A statement whose parameter is tied to no column, to a column no named
//! table has, or to an empty one, is skipped with its reason.
//!
//! Only reads by default: a write would change the data (`include_writes`). Statements on
//! the system catalogs (monitoring tools', brisk's own) and utility statements are skipped.

use std::collections::HashSet;
use std::sync::Arc;

use brisk_pg::catalog::{self, StatementsStatus};
use brisk_pg::conninfo::ConnInfo;
use brisk_pg::{Session, SessionOptions};
use brisk_sql::param_use::{param_uses, ParamTyped, ParamUsage};
use brisk_sql::{quote_ident, StatementKind, TableName, TokenKind};

use crate::expr::Value;
use crate::param::{Param, ParamSource};
use crate::plan::{Operation, OperationKind};
use crate::script::{Part, Script, SqlStep, Step};
use crate::BenchError;

/// How many sampled values each parameter draws from, at most.
pub const SAMPLE_ROWS: i64 = 10_000;

/// A table up to this many rows (by `reltuples`) is read whole; a larger one is sampled.
const READ_WHOLE_BELOW: f64 = 50_000.0;

/// The mix read from pg_stat_statements.
#[derive(Debug, Default)]
pub struct PgssMix {
    /// One per statement kept, weighted by its calls.
    pub operations: Vec<Operation>,
    /// The statements left out, with why, most called first.
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    pub query: String,
    pub calls: i64,
    pub reason: String,
}

/// Reads the `top` most called statements of `info`'s database (only reads unless
/// `include_writes`) and their parameters' values.
pub async fn read_mix(
    info: &ConnInfo,
    top: usize,
    include_writes: bool,
) -> Result<PgssMix, BenchError> {
    let session = Session::connect(info, &SessionOptions::default())
        .await
        .map_err(BenchError::Connect)?;
    session.begin().await.map_err(BenchError::Connect)?;
    let result = read_in(&session, top, include_writes).await;
    let _ = session.rollback().await;
    result
}

async fn read_in(
    session: &Session,
    top: usize,
    include_writes: bool,
) -> Result<PgssMix, BenchError> {
    let unusable = |why: &str| BenchError::Argument(format!("--from-pgss: {why}"));
    let settings = catalog::settings(session)
        .await
        .map_err(BenchError::Connect)?;
    let (schema, version) = match catalog::statements_status(session, &settings)
        .await
        .map_err(BenchError::Connect)?
    {
        StatementsStatus::Ready { schema, version } => (schema, version),
        StatementsStatus::NotAvailable => {
            return Err(unusable("pg_stat_statements is not installed on the server"))
        }
        StatementsStatus::NotPreloaded { .. } => {
            return Err(unusable(
                "pg_stat_statements is not in shared_preload_libraries",
            ))
        }
        StatementsStatus::NotCreated { .. } => {
            return Err(unusable(
                "pg_stat_statements is not created in this database (CREATE EXTENSION pg_stat_statements)",
            ))
        }
    };
    let mut statements = catalog::statement_totals(session, &schema, &version)
        .await
        .map_err(BenchError::Connect)?;
    statements.sort_by(|a, b| b.calls.cmp(&a.calls).then(a.query.cmp(&b.query)));

    let mut mix = PgssMix::default();
    let mut names = HashSet::new();
    for statement in statements.iter().filter(|s| s.calls > 0) {
        if mix.operations.len() >= top {
            break;
        }
        match operation(session, &statement.query, include_writes).await {
            Ok(script) => {
                let name = unique_name(&statement.query, &mut names);
                mix.operations.push(Operation {
                    name,
                    weight: statement.calls as f64,
                    kind: OperationKind::Sql(script),
                });
            }
            Err(reason) => mix.skipped.push(Skipped {
                query: statement.query.clone(),
                calls: statement.calls,
                reason,
            }),
        }
    }
    if mix.operations.is_empty() {
        return Err(unusable(&match mix.skipped.first() {
            Some(s) => format!(
                "no statement can run ({} skipped; the most called: {})",
                mix.skipped.len(),
                s.reason
            ),
            None => "pg_stat_statements has no statements for this database".into(),
        }));
    }
    Ok(mix)
}

/// The operation's name: its text on one line, cut at 80 characters, made unique.
fn unique_name(query: &str, names: &mut HashSet<String>) -> String {
    let text: String = query.split_whitespace().collect::<Vec<_>>().join(" ");
    let base: String = match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    };
    let mut name = base.clone();
    let mut n = 2;
    while !names.insert(name.clone()) {
        name = format!("{base} #{n}");
        n += 1;
    }
    name
}

/// The script of one statement, or why it cannot run.
async fn operation(session: &Session, query: &str, include_writes: bool) -> Result<Script, String> {
    let analysis = brisk_sql::analyze(query).map_err(|e| format!("cannot be parsed: {e}"))?;
    let [analysis] = analysis.as_slice() else {
        return Err("holds several statements".into());
    };
    let writes = !analysis.writes.is_empty()
        || matches!(
            analysis.kind,
            StatementKind::Insert | StatementKind::Update | StatementKind::Delete
        );
    match analysis.kind {
        StatementKind::Select
        | StatementKind::Insert
        | StatementKind::Update
        | StatementKind::Delete => {}
        _ => {
            return Err(
                "not a query or a data change (transaction control, DDL or a utility)".into(),
            )
        }
    }
    if writes && !include_writes {
        return Err("changes data (--include-writes runs writes too)".into());
    }
    if analysis
        .reads
        .iter()
        .chain(&analysis.writes)
        .any(is_system_relation)
    {
        return Err("reads the system catalogs (a monitoring query)".into());
    }

    let count = parameter_count(query);
    let found = param_uses(query).map_err(|e| format!("cannot be parsed: {e}"))?;
    let mut script = Script::with_defines(&[]);
    let mut slots = Vec::new();
    let mut columns: Vec<ColumnParam> = Vec::new();
    let mut draws = Vec::new();
    for number in 1..=count {
        let slot = script.define(&format!("p{number}"));
        slots.push(slot);
        let uses: Vec<_> = found.uses.iter().filter(|u| u.number == number).collect();
        let fixed = match uses.first() {
            None => return Err(format!("${number} is not compared with a column")),
            Some(u) if u.usage == ParamUsage::Limit => Value::Int(20),
            Some(u) if u.usage == ParamUsage::Offset => Value::Int(0),
            Some(u) => {
                let (qualifier, column) = u
                    .column
                    .as_ref()
                    .ok_or_else(|| format!("${number} is not compared with a column"))?;
                if !ColumnParam::takes_a_value(u.typed, u.usage) {
                    return Err(format!(
                        "${number} ({column}): its operator takes no value of the column"
                    ));
                }
                let table = table_of(session, &found.candidates(u), column)
                    .await
                    .map_err(|e| format!("${number} ({column}): {e}"))?;
                columns.push(ColumnParam {
                    number,
                    slot,
                    table,
                    qualifier: qualifier.clone(),
                    column: column.clone(),
                    typed: u.typed,
                    usage: u.usage,
                });
                continue;
            }
        };
        draws.push(Step::Draw {
            slot,
            param: Arc::new(Param {
                name: format!("p{number}"),
                source: ParamSource::Values(vec![fixed].into()),
            }),
        });
    }
    // Parameters on different columns of one row source (a table, under one alias) are
    // drawn together from one sampled row, so `user_id = $1 AND status = $2` gets values
    // that occur together; a second parameter on a column already in the group (`a BETWEEN
    // $1 AND $2`) is drawn on its own.
    let mut groups: Vec<Vec<&ColumnParam>> = Vec::new();
    for param in &columns {
        let joins = groups.iter_mut().find(|g| {
            g[0].table == param.table
                && g[0].qualifier == param.qualifier
                && g.iter().all(|other| other.column != param.column)
        });
        match joins {
            Some(group) => group.push(param),
            None => groups.push(vec![param]),
        }
    }
    for group in groups {
        let names: Vec<&str> = group.iter().map(|p| p.column.as_str()).collect();
        let described = || {
            group
                .iter()
                .map(|p| format!("${} ({})", p.number, p.column))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let rows = sample(session, &group[0].table, &names)
            .await
            .map_err(|e| format!("{}: {e}", described()))?;
        if rows.is_empty() {
            return Err(format!(
                "{}: {} has no rows to draw from",
                described(),
                group[0].table
            ));
        }
        let rows: Vec<Vec<Value>> = rows
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .zip(&group)
                    .map(|(v, p)| p.shape(v))
                    .collect()
            })
            .collect();
        match group.as_slice() {
            [one] => draws.push(Step::Draw {
                slot: one.slot,
                param: Arc::new(Param {
                    name: format!("p{}", one.number),
                    source: ParamSource::Values(
                        rows.into_iter().flatten().collect::<Vec<_>>().into(),
                    ),
                }),
            }),
            _ => draws.push(Step::DrawRow {
                slots: group.iter().map(|p| p.slot).collect(),
                rows: rows.into(),
            }),
        }
    }
    script.steps = draws;
    script.steps.push(Step::Sql(sql_step(query, &slots)));
    Ok(script)
}

/// A parameter compared with a column: where its values come from and how they are shaped.
struct ColumnParam {
    number: usize,
    slot: usize,
    /// The column's table, a regclass's text.
    table: String,
    /// The alias or table name the column was written with, if any.
    qualifier: Option<String>,
    column: String,
    typed: ParamTyped,
    usage: ParamUsage,
}

impl ColumnParam {
    /// Whether a parameter used this way takes a value made from the column's (the three
    /// shapes of [`ColumnParam::shape`]); `tags @> $1` does not.
    fn takes_a_value(typed: ParamTyped, usage: ParamUsage) -> bool {
        matches!(
            typed,
            ParamTyped::ArrayOfColumn | ParamTyped::AsColumn | ParamTyped::Text
        ) || usage == ParamUsage::Pattern
    }

    /// A sampled value of the column as the parameter takes it: an array of one for `=
    /// ANY($n)`, a prefix pattern for `LIKE $n`, else the value.
    fn shape(&self, value: String) -> Value {
        Value::Text(Arc::from(match (self.typed, self.usage) {
            (ParamTyped::ArrayOfColumn, _) => array_of(&value),
            (_, ParamUsage::Pattern) => format!(
                "{}%",
                value
                    .chars()
                    .take(3)
                    .collect::<String>()
                    .replace(['%', '_', '\\'], "")
            ),
            _ => value,
        }))
    }
}

/// The highest `$n` in `query`.
fn parameter_count(query: &str) -> usize {
    brisk_sql::Lexer::new(query)
        .filter(|t| t.kind == TokenKind::Parameter)
        .filter_map(|t| t.text[1..].parse::<usize>().ok())
        .max()
        .unwrap_or(0)
}

/// The statement as the runner takes it: `$n` bound to slot n-1 (prepared protocol), and
/// the text cut at each `$n` (simple protocol, which `--from-pgss` refuses: its values are
/// not SQL literals).
fn sql_step(query: &str, slots: &[usize]) -> SqlStep {
    let mut parts = Vec::new();
    let mut text = String::new();
    for token in brisk_sql::Lexer::new(query) {
        let slot = (token.kind == TokenKind::Parameter)
            .then(|| token.text[1..].parse::<usize>().ok())
            .flatten()
            .and_then(|n| slots.get(n - 1));
        match slot {
            Some(&slot) => {
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                parts.push(Part::Var(slot));
            }
            None => text.push_str(token.text),
        }
    }
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
    SqlStep {
        prepared_text: query.to_string(),
        params: slots.to_vec(),
        parts,
        line: 0,
    }
}

fn is_system_relation(table: &TableName) -> bool {
    matches!(
        table.schema.as_deref(),
        Some("pg_catalog" | "information_schema")
    ) || (table.schema.is_none() && table.name.starts_with("pg_"))
}

/// The one relation among `candidates` that has `column`, as a quoted, qualified name.
async fn table_of(
    session: &Session,
    candidates: &[&TableName],
    column: &str,
) -> Result<String, String> {
    let mut found: Vec<String> = Vec::new();
    for table in candidates {
        let name = match &table.schema {
            Some(schema) => format!("{}.{}", quote_ident(schema), quote_ident(&table.name)),
            None => quote_ident(&table.name),
        };
        let rows = session
            .query(
                "finding a parameter's column",
                "/* brisk */ SELECT c.oid::regclass::text FROM pg_attribute a \
                 JOIN pg_class c ON c.oid = a.attrelid \
                 WHERE a.attrelid = to_regclass($1) AND a.attname = $2 \
                 AND a.attnum > 0 AND NOT a.attisdropped",
                &[&name, &column],
            )
            .await
            .map_err(|e| e.to_string())?;
        for row in rows {
            let qualified: String = row.get(0);
            if !found.contains(&qualified) {
                found.push(qualified);
            }
        }
    }
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(
            "no table the statement names has this column (a CTE, a subquery's alias or a view's?)"
                .into(),
        ),
        _ => Err(format!(
            "several tables have this column ({})",
            found.join(", ")
        )),
    }
}

/// Up to [`SAMPLE_ROWS`] rows of `table`'s `columns` as text, none of them null: the whole
/// table when it is small, a `TABLESAMPLE SYSTEM` of a large one (whole pages at random:
/// cheap, and a key is drawn about as often as it occurs).
async fn sample(
    session: &Session,
    table: &str,
    columns: &[&str],
) -> Result<Vec<Vec<String>>, String> {
    let rows = session
        .query(
            "sizing a parameter's table",
            "/* brisk */ SELECT reltuples::float8 FROM pg_class WHERE oid = to_regclass($1)",
            &[&table],
        )
        .await
        .map_err(|e| e.to_string())?;
    let reltuples: f64 = rows.first().map(|r| r.get(0)).unwrap_or(-1.0);
    let sampling = if reltuples > READ_WHOLE_BELOW {
        // Twice the rows wanted, as a percentage of the table's pages.
        let pct = (2.0 * SAMPLE_ROWS as f64 / reltuples * 100.0).clamp(0.001, 100.0);
        format!(" TABLESAMPLE SYSTEM ({pct:.4})")
    } else {
        String::new()
    };
    let quoted: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    let select = quoted
        .iter()
        .map(|c| format!("{c}::text"))
        .collect::<Vec<_>>()
        .join(", ");
    let not_null = quoted
        .iter()
        .map(|c| format!("{c} IS NOT NULL"))
        .collect::<Vec<_>>()
        .join(" AND ");
    // `table` is a regclass's text: already quoted as it must be.
    let sql = format!(
        "/* brisk */ SELECT {select} FROM {table}{sampling} WHERE {not_null} LIMIT {SAMPLE_ROWS}"
    );
    let rows = session
        .query("sampling a parameter's column", &sql, &[])
        .await
        .map_err(|e| e.to_string())?;
    Ok(rows
        .iter()
        .map(|r| (0..columns.len()).map(|i| r.get::<_, String>(i)).collect())
        .collect())
}

/// A one-element array literal holding `value` (`col = ANY($1)`).
fn array_of(value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("{{\"{escaped}\"}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_cut_out_for_both_protocols() {
        let step = sql_step("SELECT * FROM t WHERE a = $2 AND b = $1", &[5, 6]);
        assert_eq!(step.params, [5, 6]);
        assert_eq!(
            step.prepared_text,
            "SELECT * FROM t WHERE a = $2 AND b = $1"
        );
        assert_eq!(
            step.parts,
            [
                Part::Text("SELECT * FROM t WHERE a = ".into()),
                Part::Var(6),
                Part::Text(" AND b = ".into()),
                Part::Var(5),
            ]
        );
        assert_eq!(parameter_count("SELECT $1, '$9', $3"), 3);
    }

    #[test]
    fn names_are_one_line_and_unique() {
        let mut names = HashSet::new();
        assert_eq!(unique_name("SELECT\n  1", &mut names), "SELECT 1");
        assert_eq!(unique_name("SELECT 1", &mut names), "SELECT 1 #2");
    }
}
