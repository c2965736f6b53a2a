//! Values for the `$n` parameters of a normalized query, so it can be planned (`EXECUTE`
//! needs valid values even for a generic plan) and run by `--verify`.
//!
//! Each parameter is tied to the column it is compared with by brisk-sql's walk of the
//! parse tree ([`brisk_sql::param_use`]: `col = $1`, `$2 < col`, `col IN ($3, $4)`,
//! `col BETWEEN $5 AND $6`, `col LIKE $7`, `LIMIT $8`). Its value comes from that column's `pg_stats`: a typical value for an
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
use brisk_sql::param_use::{
    last_name, operator_of, walk, ParamTyped as Typed, ParamUsage as Use, ParamUse, ParamUses,
};
use brisk_workload::quote_literal;
use pg_query::protobuf::Node;
use pg_query::{NodeEnum, NodeRef};

use super::snapshot::Snapshot;

/// SQL literals for the parameters `$1..$n` of `sql`, whose types PostgreSQL inferred as
/// `types`.
pub(crate) fn values(sql: &str, types: &[String], snapshot: &Snapshot) -> Vec<String> {
    let found = match pg_query::parse(sql) {
        Ok(parsed) => walk(&parsed),
        Err(_) => ParamUses::default(),
    };
    (1..=types.len())
        .map(|number| {
            let param_type = &types[number - 1];
            let param = found.uses.iter().find(|u| u.number == number);
            let from_stats = param.and_then(|u| {
                let value = match u.usage {
                    Use::Limit => return Some("20".to_string()),
                    Use::Offset => return Some("0".to_string()),
                    _ => {
                        let column = column_for(u, &found, snapshot)?;
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
    let found = walk(&parsed);
    for u in &found.uses {
        if matches!(u.usage, Use::Limit | Use::Offset) {
            set(u.number, "bigint".to_string());
            continue;
        }
        let Some(column) = column_for(u, &found, snapshot) else {
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

/// The table column a parameter use compares with: its qualifier names an alias or a
/// table; an unqualified column belongs to the only named table that has it.
fn column_for<'a>(
    param: &ParamUse,
    found: &ParamUses,
    snapshot: &'a Snapshot,
) -> Option<&'a ColumnInfo> {
    let (_, column) = param.column.as_ref()?;
    let mut found = found
        .candidates(param)
        .into_iter()
        .filter_map(|name| snapshot.resolve(name))
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
