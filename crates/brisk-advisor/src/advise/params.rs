//! Values for the `$n` parameters of a normalized query, so it can be planned (`EXECUTE`
//! needs valid values even for a generic plan) and run by `--verify`.
//!
//! Each parameter is tied to the column it is compared with by walking the parse tree
//! (`col = $1`, `$2 < col`, `col IN ($3, $4)`, `col BETWEEN $5 AND $6`, `col LIKE $7`,
//! `LIMIT $8`). Its value comes from that column's `pg_stats`: a typical value for an
//! equality, a bound that keeps a tenth of the rows for a range, a piece of a real value for
//! a pattern. A parameter with no column, or a column without statistics, gets a plain value
//! of its type. Values are SQL literals, ready for `EXECUTE`.
//!
//! [`context_types`] names the parameters' types where PostgreSQL cannot infer them (its
//! `PREPARE` fails): the type of the column a parameter is compared with, an argument type
//! every overload of the called function agrees on, the type of a cast around arithmetic
//! on parameters, and `bigint` for `LIMIT` and `OFFSET`.

use std::collections::HashMap;

use brisk_pg::stats::{ColumnInfo, FunctionSignature};
use brisk_sql::TableName;
use brisk_workload::quote_literal;
use pg_query::protobuf::{AExprKind, Node};
use pg_query::{NodeEnum, NodeRef};

use super::snapshot::Snapshot;

/// How a parameter is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    Equal,
    /// `col > $n`: a lower bound.
    Lower,
    /// `col < $n`: an upper bound.
    Upper,
    Pattern,
    Limit,
    Offset,
}

/// What a parameter's type is, given the type of the column it is tied to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Typed {
    /// The column's type: `col = $1`, `col IN ($1)`, `col BETWEEN $1 AND $2`.
    AsColumn,
    /// An array of it: `col = ANY($1)`.
    ArrayOfColumn,
    /// `text`: a `LIKE` pattern.
    Text,
    /// The column's type only for array and `jsonb` columns: `tags @> $1`.
    AsContainer,
    /// Not from the column: `col ? $1`, `col @@ $1`, `$1 <-> col`.
    Unknown,
}

/// One parameter tied to a column (or to `LIMIT`/`OFFSET`).
#[derive(Debug, Clone, PartialEq)]
struct ParamUse {
    number: usize,
    column: Option<(Option<String>, String)>,
    usage: Use,
    typed: Typed,
}

/// SQL literals for the parameters `$1..$n` of `sql`, whose types PostgreSQL inferred as
/// `types`.
pub(crate) fn values(sql: &str, types: &[String], snapshot: &Snapshot) -> Vec<String> {
    let (uses, relations) = match pg_query::parse(sql) {
        Ok(parsed) => walk(&parsed),
        Err(_) => (Vec::new(), Vec::new()),
    };
    (1..=types.len())
        .map(|number| {
            let param_type = &types[number - 1];
            let found = uses.iter().find(|u| u.number == number);
            let from_stats = found.and_then(|u| {
                let value = match u.usage {
                    Use::Limit => return Some("20".to_string()),
                    Use::Offset => return Some("0".to_string()),
                    _ => {
                        let column = column_for(u, &relations, snapshot)?;
                        typical_value(column, u.usage)?
                    }
                };
                Some(if param_type.ends_with("[]") {
                    array_of(&value)
                } else {
                    value
                })
            });
            match from_stats {
                Some(value) => quote_literal(&value),
                None => default_for_type(param_type),
            }
        })
        .collect()
}

/// The types of the parameters `$1..$count` of `sql` as their context says, `None` where it
/// says nothing (see the module documentation). `functions` are the signatures of the
/// functions `sql` calls ([`called_functions`]).
pub(crate) fn context_types(
    sql: &str,
    count: usize,
    snapshot: &Snapshot,
    functions: &[FunctionSignature],
) -> Vec<Option<String>> {
    let mut types: Vec<Option<String>> = vec![None; count];
    let Ok(parsed) = pg_query::parse(sql) else {
        return types;
    };
    // The names go into `PREPARE` and casts: a catalog's odd type name is left out.
    let mut set = |number: usize, type_name: String| {
        if !brisk_pg::explain::is_type_name(&type_name) {
            return;
        }
        if let Some(slot @ None) = number.checked_sub(1).and_then(|i| types.get_mut(i)) {
            *slot = Some(type_name);
        }
    };
    let (uses, relations) = walk(&parsed);
    for u in &uses {
        if matches!(u.usage, Use::Limit | Use::Offset) {
            set(u.number, "bigint".to_string());
            continue;
        }
        let Some(column) = column_for(u, &relations, snapshot) else {
            continue;
        };
        let container = column.type_category == 'A' || column.type_name == "jsonb";
        let type_name = match u.typed {
            Typed::AsColumn => column.type_name.clone(),
            Typed::ArrayOfColumn if column.type_category != 'A' => {
                format!("{}[]", column.type_name)
            }
            Typed::Text => "text".to_string(),
            Typed::AsContainer if container => column.type_name.clone(),
            Typed::ArrayOfColumn | Typed::AsContainer | Typed::Unknown => continue,
        };
        set(u.number, type_name);
    }
    let mut by_name: HashMap<&str, Vec<&FunctionSignature>> = HashMap::new();
    for f in functions {
        by_name.entry(f.name.as_str()).or_default().push(f);
    }
    for (node, ..) in parsed.protobuf.nodes() {
        match node {
            NodeRef::FuncCall(call) => {
                let Some(name) = last_name(&call.funcname) else {
                    continue;
                };
                let overloads: Vec<&&FunctionSignature> = by_name
                    .get(name)
                    .map(|all| {
                        all.iter()
                            .filter(|f| f.arg_types.len() == call.args.len())
                            .collect()
                    })
                    .unwrap_or_default();
                for (position, arg) in call.args.iter().enumerate() {
                    let Some(number) = direct_param(arg) else {
                        continue;
                    };
                    let mut types = overloads.iter().map(|f| &f.arg_types[position]);
                    // Overloads that disagree are what PostgreSQL could not choose between.
                    if let Some(first) = types.next() {
                        if types.all(|t| t == first) {
                            set(number, first.clone());
                        }
                    }
                }
            }
            NodeRef::TypeCast(cast) => {
                let Some(type_name) = cast.type_name.as_ref().and_then(type_name_of) else {
                    continue;
                };
                let arg = cast.arg.as_deref();
                // `$1::date`: the parameter is what it is cast to, whatever a fallback
                // would make of the others.
                if let Some(number) = arg.and_then(direct_param) {
                    set(number, type_name);
                    continue;
                }
                // `($1 - $2)::integer`: arithmetic on parameters alone is ambiguous, and
                // the cast says what it computes in. Concatenation computes text whatever
                // its result is cast to, so it is left to the text fallback.
                let Some(NodeEnum::AExpr(expr)) = arg.and_then(|a| a.node.as_ref()) else {
                    continue;
                };
                if matches!(operator_of(expr), "+" | "-" | "*" | "/" | "%") {
                    for side in [expr.lexpr.as_deref(), expr.rexpr.as_deref()]
                        .into_iter()
                        .flatten()
                    {
                        if let Some(number) = direct_param(side) {
                            set(number, type_name.clone());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    types
}

/// The functions `sql` passes a parameter to, by name, for [`context_types`].
pub(crate) fn called_functions(sql: &str) -> Vec<String> {
    let Ok(parsed) = pg_query::parse(sql) else {
        return Vec::new();
    };
    let mut names: Vec<String> = Vec::new();
    for (node, ..) in parsed.protobuf.nodes() {
        if let NodeRef::FuncCall(call) = node {
            if let Some(name) = last_name(&call.funcname) {
                if call.args.iter().any(|a| direct_param(a).is_some())
                    && !names.iter().any(|n| n == name)
                {
                    names.push(name.to_string());
                }
            }
        }
    }
    names
}

/// A parameter as it is, not inside a cast (which types it already).
fn direct_param(node: &Node) -> Option<usize> {
    match node.node.as_ref()? {
        NodeEnum::ParamRef(param) => usize::try_from(param.number).ok(),
        _ => None,
    }
}

/// The last part of a qualified name (`pg_catalog.date_trunc` gives `date_trunc`).
fn last_name(names: &[Node]) -> Option<&str> {
    names
        .iter()
        .filter_map(|n| match &n.node {
            Some(NodeEnum::String(s)) => Some(s.sval.as_str()),
            _ => None,
        })
        .next_back()
}

fn operator_of(expr: &pg_query::protobuf::AExpr) -> &str {
    last_name(&expr.name).unwrap_or("")
}

/// A cast's type as SQL (`pg_catalog.int4`, `text[]`), without its modifier, which
/// planning does not need; quoted where it must be.
fn type_name_of(type_name: &pg_query::protobuf::TypeName) -> Option<String> {
    let parts: Vec<String> = type_name
        .names
        .iter()
        .filter_map(|n| match &n.node {
            Some(NodeEnum::String(s)) => Some(brisk_sql::quote_ident(&s.sval)),
            _ => None,
        })
        .collect();
    if parts.is_empty() {
        return None;
    }
    Some(format!(
        "{}{}",
        parts.join("."),
        "[]".repeat(type_name.array_bounds.len())
    ))
}

/// Every parameter use, and the relations the statement names (name, alias).
fn walk(parsed: &pg_query::ParseResult) -> (Vec<ParamUse>, Vec<(TableName, Option<String>)>) {
    let mut uses = Vec::new();
    let mut relations = Vec::new();
    for (node, ..) in parsed.protobuf.nodes() {
        match node {
            NodeRef::RangeVar(range) => {
                let name = if range.schemaname.is_empty() {
                    TableName::new(&range.relname)
                } else {
                    TableName::qualified(&range.schemaname, &range.relname)
                };
                relations.push((name, range.alias.as_ref().map(|a| a.aliasname.clone())));
            }
            NodeRef::SelectStmt(select) => {
                for (bound, usage) in [
                    (&select.limit_count, Use::Limit),
                    (&select.limit_offset, Use::Offset),
                ] {
                    if let Some(number) = bound.as_deref().and_then(param_number) {
                        uses.push(ParamUse {
                            number,
                            column: None,
                            usage,
                            typed: Typed::Unknown,
                        });
                    }
                }
            }
            NodeRef::AExpr(expr) => uses.extend(comparison(expr)),
            _ => {}
        }
    }
    (uses, relations)
}

/// The parameters an `A_Expr` compares with a column.
fn comparison(expr: &pg_query::protobuf::AExpr) -> Vec<ParamUse> {
    let operator = operator_of(expr);
    let kind = AExprKind::try_from(expr.kind).unwrap_or(AExprKind::Undefined);
    let (left, right) = (expr.lexpr.as_deref(), expr.rexpr.as_deref());
    let (column, params, flipped) = match (left.and_then(column_ref), right) {
        (Some(column), Some(right)) => (column, params_in(right), false),
        _ => match (right.and_then(column_ref), left) {
            (Some(column), Some(left)) => (column, params_in(left), true),
            _ => return Vec::new(),
        },
    };
    let typed = match kind {
        AExprKind::AexprOpAny | AExprKind::AexprOpAll => Typed::ArrayOfColumn,
        AExprKind::AexprLike | AExprKind::AexprIlike | AExprKind::AexprSimilar => Typed::Text,
        AExprKind::AexprIn
        | AExprKind::AexprDistinct
        | AExprKind::AexprNotDistinct
        | AExprKind::AexprNullif
        | AExprKind::AexprBetween
        | AExprKind::AexprNotBetween
        | AExprKind::AexprBetweenSym
        | AExprKind::AexprNotBetweenSym => Typed::AsColumn,
        _ => match operator {
            "=" | "<>" | "!=" | "<" | "<=" | ">" | ">=" => Typed::AsColumn,
            "~~" | "~~*" | "!~~" | "!~~*" | "~" | "~*" | "!~" | "!~*" => Typed::Text,
            "@>" | "<@" | "&&" => Typed::AsContainer,
            _ => Typed::Unknown,
        },
    };
    let usage = |position: usize| match kind {
        AExprKind::AexprLike | AExprKind::AexprIlike | AExprKind::AexprSimilar => Use::Pattern,
        AExprKind::AexprBetween
        | AExprKind::AexprNotBetween
        | AExprKind::AexprBetweenSym
        | AExprKind::AexprNotBetweenSym => {
            if position == 0 {
                Use::Lower
            } else {
                Use::Upper
            }
        }
        _ => match (operator, flipped) {
            ("<" | "<=", false) | (">" | ">=", true) => Use::Upper,
            (">" | ">=", false) | ("<" | "<=", true) => Use::Lower,
            ("~~" | "~~*" | "!~~" | "!~~*", _) => Use::Pattern,
            _ => Use::Equal,
        },
    };
    params
        .into_iter()
        .enumerate()
        .map(|(position, number)| ParamUse {
            number,
            column: Some(column.clone()),
            usage: usage(position),
            typed,
        })
        .collect()
}

/// `(qualifier, column)` of a column reference, through a cast.
fn column_ref(node: &Node) -> Option<(Option<String>, String)> {
    match node.node.as_ref()? {
        NodeEnum::ColumnRef(column) => {
            let names: Vec<&str> = column
                .fields
                .iter()
                .filter_map(|f| match &f.node {
                    Some(NodeEnum::String(s)) => Some(s.sval.as_str()),
                    _ => None,
                })
                .collect();
            match names.as_slice() {
                [column] => Some((None, column.to_string())),
                [.., qualifier, column] => Some((Some(qualifier.to_string()), column.to_string())),
                [] => None,
            }
        }
        NodeEnum::TypeCast(cast) => column_ref(cast.arg.as_deref()?),
        _ => None,
    }
}

/// The parameter numbers in a node: `$1`, `$1::int`, a list of them, `ANY($1)`, and the
/// first operand of arithmetic (`$1 + $2`), which has the type of what it is compared with
/// (`due_on < $1 + $2`: a date plus a number of days).
fn params_in(node: &Node) -> Vec<usize> {
    match node.node.as_ref() {
        Some(NodeEnum::List(list)) => list.items.iter().filter_map(param_number).collect(),
        Some(NodeEnum::AExpr(expr)) if matches!(operator_of(expr), "+" | "-") => expr
            .lexpr
            .as_deref()
            .and_then(param_number)
            .into_iter()
            .collect(),
        _ => param_number(node).into_iter().collect(),
    }
}

fn param_number(node: &Node) -> Option<usize> {
    match node.node.as_ref()? {
        NodeEnum::ParamRef(param) => usize::try_from(param.number).ok(),
        NodeEnum::TypeCast(cast) => param_number(cast.arg.as_deref()?),
        _ => None,
    }
}

/// The table column a parameter use compares with: its qualifier names an alias or a
/// table; an unqualified column belongs to the only named table that has it.
fn column_for<'a>(
    param: &ParamUse,
    relations: &[(TableName, Option<String>)],
    snapshot: &'a Snapshot,
) -> Option<&'a ColumnInfo> {
    let (qualifier, column) = param.column.as_ref()?;
    let candidates = relations.iter().filter(|(name, alias)| match qualifier {
        Some(q) => alias.as_deref() == Some(q.as_str()) || (alias.is_none() && &name.name == q),
        None => true,
    });
    let mut found = candidates
        .filter_map(|(name, _)| snapshot.resolve(name))
        .filter_map(|table| snapshot.column(table.oid, column));
    let first = found.next()?;
    // Two different tables with the column: the query is ambiguous to us, not to the server.
    match found.find(|c| c.table_oid != first.table_oid) {
        Some(_) => None,
        None => Some(first),
    }
}

/// A value of `column` that fits `usage`, in the column's text format.
fn typical_value(column: &ColumnInfo, usage: Use) -> Option<String> {
    let histogram = &column.histogram_bounds;
    let at = |fraction: f64| -> Option<String> {
        if histogram.is_empty() {
            return None;
        }
        let i = ((histogram.len() - 1) as f64 * fraction).round() as usize;
        histogram.get(i).cloned()
    };
    let common = || {
        let n = column.most_common_vals.len();
        (n > 0).then(|| column.most_common_vals[n / 2].clone())
    };
    match usage {
        // A value from the middle of the distribution: neither the heaviest key nor a rare
        // one.
        Use::Equal => at(0.5).or_else(common),
        // Ranges in applications mostly ask for the recent or the top end: keep a tenth.
        Use::Lower => at(0.9).or_else(common),
        Use::Upper => at(0.1).or_else(common),
        Use::Pattern => {
            let value = at(0.5).or_else(common)?;
            let piece: String = value.chars().skip(1).take(4).collect();
            let piece = if piece.chars().count() < 3 {
                value
            } else {
                piece
            };
            Some(format!("%{}%", piece.replace(['%', '_', '\\'], "")))
        }
        Use::Limit | Use::Offset => None,
    }
}

/// A one-element array literal holding `value`.
fn array_of(value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("{{\"{escaped}\"}}")
}

/// A valid literal of a type when statistics give none. NULL is valid for every type, and
/// planning a generic plan does not look at it; it is the last resort because `--verify`
/// runs the query with these values.
fn default_for_type(type_name: &str) -> String {
    if type_name.ends_with("[]") {
        return "'{}'".into();
    }
    let value = match type_name {
        "smallint" | "integer" | "bigint" | "numeric" | "real" | "double precision" | "oid" => "1",
        "text" | "character varying" | "character" | "name" | "citext" => "a",
        "boolean" => "false",
        "date" => "2000-01-01",
        t if t.starts_with("timestamp") => "2000-01-01 00:00:00",
        "time without time zone" | "time with time zone" => "00:00:00",
        "interval" => "1 day",
        "uuid" => "00000000-0000-0000-0000-000000000000",
        "json" | "jsonb" => "{}",
        "tsquery" => "a",
        "bytea" => "",
        _ => return "NULL".into(),
    };
    quote_literal(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uses(sql: &str) -> Vec<(usize, Option<String>, Use)> {
        let parsed = pg_query::parse(sql).unwrap();
        let (mut uses, _) = walk(&parsed);
        uses.sort_by_key(|u| u.number);
        uses.into_iter()
            .map(|u| (u.number, u.column.map(|(_, c)| c), u.usage))
            .collect()
    }

    #[test]
    fn parameters_are_tied_to_the_columns_they_are_compared_with() {
        let found = uses(
            "SELECT id FROM messages m WHERE m.conversation_id = $1 AND $2 < created_at \
             AND role IN ($3, $4) AND body ILIKE $5 AND n BETWEEN $6 AND $7::int \
             AND id = ANY($8) ORDER BY created_at DESC LIMIT $9 OFFSET $10",
        );
        let c = |s: &str| Some(s.to_string());
        assert_eq!(
            found,
            [
                (1, c("conversation_id"), Use::Equal),
                (2, c("created_at"), Use::Lower),
                (3, c("role"), Use::Equal),
                (4, c("role"), Use::Equal),
                (5, c("body"), Use::Pattern),
                (6, c("n"), Use::Lower),
                (7, c("n"), Use::Upper),
                (8, c("id"), Use::Equal),
                (9, None, Use::Limit),
                (10, None, Use::Offset),
            ]
        );
    }

    #[test]
    fn the_operator_says_whether_the_column_types_a_parameter() {
        let parsed = pg_query::parse(
            "SELECT 1 FROM t WHERE a = $1 AND b = ANY($2) AND c ILIKE $3 AND tags @> $4 \
             AND doc ? $5 AND d IN ($6) AND e IS DISTINCT FROM $7 AND v @@ $8",
        )
        .unwrap();
        let (mut found, _) = walk(&parsed);
        found.sort_by_key(|u| u.number);
        let typed: Vec<Typed> = found.iter().map(|u| u.typed).collect();
        assert_eq!(
            typed,
            [
                Typed::AsColumn,
                Typed::ArrayOfColumn,
                Typed::Text,
                Typed::AsContainer,
                Typed::Unknown,
                Typed::AsColumn,
                Typed::AsColumn,
                Typed::Unknown,
            ]
        );
    }

    #[test]
    fn functions_are_looked_up_only_where_a_parameter_is_passed() {
        assert_eq!(
            called_functions(
                "SELECT to_char(made_at, $1), lower(name), pg_catalog.date_trunc($2, made_at), \
                 to_char($3, 'YYYY') FROM t"
            ),
            ["to_char", "date_trunc"]
        );
    }

    #[test]
    fn values_follow_the_distribution() {
        let column = ColumnInfo {
            table_oid: 1,
            schema: "public".into(),
            table: "t".into(),
            attnum: 1,
            name: "title".into(),
            type_name: "text".into(),
            type_category: 'S',
            not_null: false,
            null_frac: Some(0.0),
            avg_width: Some(10.0),
            n_distinct: Some(-1.0),
            correlation: Some(0.0),
            most_common_vals: vec![],
            most_common_freqs: vec![],
            histogram_bounds: (0..11).map(|i| format!("value{i:02}")).collect(),
        };
        assert_eq!(typical_value(&column, Use::Equal).unwrap(), "value05");
        assert_eq!(typical_value(&column, Use::Lower).unwrap(), "value09");
        assert_eq!(typical_value(&column, Use::Upper).unwrap(), "value01");
        assert_eq!(typical_value(&column, Use::Pattern).unwrap(), "%alue%");
        assert_eq!(array_of("a\"b"), "{\"a\\\"b\"}");
        assert_eq!(
            default_for_type("timestamp with time zone"),
            "'2000-01-01 00:00:00'"
        );
        assert_eq!(default_for_type("mood"), "NULL");
    }
}
