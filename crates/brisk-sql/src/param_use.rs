//! Which column each `$n` parameter of a statement is compared with.
//!
//! A normalized statement (`pg_stat_statements`' text, the proxy's) needs values for its
//! parameters to be planned or run. [`param_uses`] walks the parse tree and ties each
//! parameter to the column it is compared with (`col = $1`, `$2 < col`, `col IN ($3, $4)`,
//! `col BETWEEN $5 AND $6`, `col LIKE $7`), or to `LIMIT`/`OFFSET`, and lists the relations
//! the statement names with their aliases, so that a caller with a catalog can find the
//! column's table ([`ParamUses::candidates`]). The index advisor draws a typical value from
//! the column's `pg_stats`; `brisk bench --from-pgss` draws many from the column itself.
//!
//! ```
//! use brisk_sql::param_use::{param_uses, ParamUsage};
//!
//! let found = param_uses("SELECT * FROM orders o WHERE o.user_id = $1 LIMIT $2").unwrap();
//! let param = |n| found.uses.iter().find(|u| u.number == n).unwrap();
//! assert_eq!(param(1).column, Some((Some("o".to_string()), "user_id".to_string())));
//! assert_eq!(param(1).usage, ParamUsage::Equal);
//! assert_eq!(found.candidates(param(1))[0].name, "orders");
//! assert_eq!(param(2).usage, ParamUsage::Limit);
//! ```

use pg_query::protobuf::{AExprKind, Node};
use pg_query::{NodeEnum, NodeRef};

use crate::{SqlError, TableName};

/// How a parameter is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamUsage {
    /// `col = $n`, `col IN ($n)`, `col = ANY($n)`.
    Equal,
    /// `col > $n`: a lower bound.
    Lower,
    /// `col < $n`: an upper bound.
    Upper,
    /// `col LIKE $n`.
    Pattern,
    /// `LIMIT $n`.
    Limit,
    /// `OFFSET $n`.
    Offset,
}

/// What a parameter's type is, given the type of the column it is tied to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamTyped {
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
pub struct ParamUse {
    /// The `n` of `$n`.
    pub number: usize,
    /// `(qualifier, column)` as written: `o.user_id` gives `(Some("o"), "user_id")`.
    pub column: Option<(Option<String>, String)>,
    /// How the parameter is compared with it.
    pub usage: ParamUsage,
    /// What its type is, given the column's.
    pub typed: ParamTyped,
}

/// Every parameter use of a statement and the relations it names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParamUses {
    /// In the order of the parse tree; a parameter used twice appears twice.
    pub uses: Vec<ParamUse>,
    /// Each relation the statement names, with its alias.
    pub relations: Vec<(TableName, Option<String>)>,
}

impl ParamUses {
    /// The relations `param`'s column may belong to: the one its qualifier names (an alias,
    /// or a table without one), or every relation when the column is unqualified (a caller
    /// with a catalog keeps those that have it). Empty for `LIMIT` and `OFFSET`.
    pub fn candidates(&self, param: &ParamUse) -> Vec<&TableName> {
        let Some((qualifier, _)) = &param.column else {
            return Vec::new();
        };
        self.relations
            .iter()
            .filter(|(name, alias)| match qualifier {
                Some(q) => {
                    alias.as_deref() == Some(q.as_str()) || (alias.is_none() && &name.name == q)
                }
                None => true,
            })
            .map(|(name, _)| name)
            .collect()
    }
}

/// Parses `sql` and ties its parameters to columns (see the module documentation).
pub fn param_uses(sql: &str) -> Result<ParamUses, SqlError> {
    let parsed = pg_query::parse(sql).map_err(|e| SqlError::from_pg_query(sql, e))?;
    Ok(walk(&parsed))
}

/// [`param_uses`] of a statement already parsed.
pub fn walk(parsed: &pg_query::ParseResult) -> ParamUses {
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
                    (&select.limit_count, ParamUsage::Limit),
                    (&select.limit_offset, ParamUsage::Offset),
                ] {
                    if let Some(number) = bound.as_deref().and_then(param_number) {
                        uses.push(ParamUse {
                            number,
                            column: None,
                            usage,
                            typed: ParamTyped::Unknown,
                        });
                    }
                }
            }
            NodeRef::AExpr(expr) => uses.extend(comparison(expr)),
            _ => {}
        }
    }
    ParamUses { uses, relations }
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
        AExprKind::AexprOpAny | AExprKind::AexprOpAll => ParamTyped::ArrayOfColumn,
        AExprKind::AexprLike | AExprKind::AexprIlike | AExprKind::AexprSimilar => ParamTyped::Text,
        AExprKind::AexprIn
        | AExprKind::AexprDistinct
        | AExprKind::AexprNotDistinct
        | AExprKind::AexprNullif
        | AExprKind::AexprBetween
        | AExprKind::AexprNotBetween
        | AExprKind::AexprBetweenSym
        | AExprKind::AexprNotBetweenSym => ParamTyped::AsColumn,
        _ => match operator {
            "=" | "<>" | "!=" | "<" | "<=" | ">" | ">=" => ParamTyped::AsColumn,
            "~~" | "~~*" | "!~~" | "!~~*" | "~" | "~*" | "!~" | "!~*" => ParamTyped::Text,
            "@>" | "<@" | "&&" => ParamTyped::AsContainer,
            _ => ParamTyped::Unknown,
        },
    };
    let usage = |position: usize| match kind {
        AExprKind::AexprLike | AExprKind::AexprIlike | AExprKind::AexprSimilar => {
            ParamUsage::Pattern
        }
        AExprKind::AexprBetween
        | AExprKind::AexprNotBetween
        | AExprKind::AexprBetweenSym
        | AExprKind::AexprNotBetweenSym => {
            if position == 0 {
                ParamUsage::Lower
            } else {
                ParamUsage::Upper
            }
        }
        _ => match (operator, flipped) {
            ("<" | "<=", false) | (">" | ">=", true) => ParamUsage::Upper,
            (">" | ">=", false) | ("<" | "<=", true) => ParamUsage::Lower,
            ("~~" | "~~*" | "!~~" | "!~~*", _) => ParamUsage::Pattern,
            _ => ParamUsage::Equal,
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

/// The last part of a qualified name (`pg_catalog.date_trunc` gives `date_trunc`).
pub fn last_name(names: &[Node]) -> Option<&str> {
    names
        .iter()
        .filter_map(|n| match &n.node {
            Some(NodeEnum::String(s)) => Some(s.sval.as_str()),
            _ => None,
        })
        .next_back()
}

/// The operator of an `A_Expr` (`=`, `~~`), without its schema.
pub fn operator_of(expr: &pg_query::protobuf::AExpr) -> &str {
    last_name(&expr.name).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uses(sql: &str) -> Vec<(usize, Option<String>, ParamUsage)> {
        let parsed = pg_query::parse(sql).unwrap();
        let mut uses = walk(&parsed).uses;
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
                (1, c("conversation_id"), ParamUsage::Equal),
                (2, c("created_at"), ParamUsage::Lower),
                (3, c("role"), ParamUsage::Equal),
                (4, c("role"), ParamUsage::Equal),
                (5, c("body"), ParamUsage::Pattern),
                (6, c("n"), ParamUsage::Lower),
                (7, c("n"), ParamUsage::Upper),
                (8, c("id"), ParamUsage::Equal),
                (9, None, ParamUsage::Limit),
                (10, None, ParamUsage::Offset),
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
        let mut found = walk(&parsed).uses;
        found.sort_by_key(|u| u.number);
        let typed: Vec<ParamTyped> = found.iter().map(|u| u.typed).collect();
        assert_eq!(
            typed,
            [
                ParamTyped::AsColumn,
                ParamTyped::ArrayOfColumn,
                ParamTyped::Text,
                ParamTyped::AsContainer,
                ParamTyped::Unknown,
                ParamTyped::AsColumn,
                ParamTyped::AsColumn,
                ParamTyped::Unknown,
            ]
        );
    }

    #[test]
    fn a_qualifier_picks_its_relation_and_a_bare_column_keeps_all() {
        let found = param_uses("SELECT 1 FROM a JOIN b x ON x.id = a.id WHERE x.k = $1 AND v = $2")
            .unwrap();
        let names = |u: &ParamUse| -> Vec<String> {
            found.candidates(u).iter().map(|t| t.name.clone()).collect()
        };
        assert_eq!(names(&found.uses[0]), ["b"]);
        assert_eq!(names(&found.uses[1]), ["a", "b"]);
    }
}
