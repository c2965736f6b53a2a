//! Predicates: what `WHERE`, `JOIN ... ON` and `HAVING` ask of each table reference.
//!
//! A condition is split on `AND` and `OR`; each leaf is matched against the shapes an index
//! can serve (`col = value`, `col < value`, `col LIKE 'abc%'`, `lower(col) = value`, ...).
//! Whatever a leaf holds besides is still visited, for its subqueries and volatile functions.

use pg_query::protobuf::{a_const, AExpr, AExprKind, BoolExprType, BoolTestType, BooleanTest};
use pg_query::protobuf::{NullTest as NullTestNode, NullTestType, SubLink, SubLinkType};
use pg_query::{Node, NodeEnum};

use super::cacheable::has_volatile_function;
use super::expr::{
    as_column, column_refs, function_name, last_name, literal, render, render_unqualified,
};
use super::query::{push_unique, Analyzer};
use super::scope::{RefId, Resolved};
use super::{
    ArrayOperator, ArrayPredicate, ColumnPredicate, ColumnUsage, ConstantPredicate,
    ExpressionPredicate, FullTextPredicate, LikePredicate, NullTest, NullTestPredicate,
    PatternKind,
};

/// Where a condition sits.
#[derive(Debug, Clone, Copy)]
pub(super) struct Filter {
    /// Under an `OR`: the predicate does not hold for every row returned.
    under_or: bool,
    /// Whether expressions over columns count. Not in `HAVING`, where `count(x) > 10` is an
    /// aggregate, not an expression an index could serve.
    expressions: bool,
}

impl Filter {
    /// A `WHERE` or `ON` condition.
    pub(super) const CONDITION: Filter = Filter {
        under_or: false,
        expressions: true,
    };
    /// A `HAVING` condition.
    pub(super) const HAVING: Filter = Filter {
        under_or: false,
        expressions: false,
    };
}

/// One side of a comparison, classified by the table references it reads.
#[derive(Debug, Clone, PartialEq)]
enum Operand {
    /// A lone column of a table reference.
    Column(RefId, String),
    /// An expression reading columns of one table reference (and nothing unresolved).
    Expression(RefId, Vec<String>),
    /// Reads no table column: a constant, a parameter, a subquery, a function's output, a
    /// computed subquery column.
    Value,
    /// Reads columns of several table references.
    Mixed(Vec<RefId>),
    /// Reads columns that cannot be tied to a table, as written; `plain` when it is a lone
    /// column.
    Unresolved { columns: Vec<String>, plain: bool },
}

impl Operand {
    /// Whether this side's value is known without reading `reference`'s row: then the other
    /// side, on `reference`, is compared with a value an index scan can look up.
    fn independent_of(&self, reference: RefId) -> bool {
        match self {
            Operand::Value => true,
            Operand::Column(other, _) | Operand::Expression(other, _) => *other != reference,
            Operand::Mixed(references) => !references.contains(&reference),
            Operand::Unresolved { .. } => false,
        }
    }
}

/// A comparison operand with the node it came from.
struct Side<'a> {
    operand: Operand,
    node: &'a Node,
}

impl Analyzer {
    /// Records the predicates of a condition.
    pub(super) fn filter(&mut self, node: &Node, filter: Filter) {
        let Some(inner) = node.node.as_ref() else {
            return;
        };
        match inner {
            NodeEnum::BoolExpr(expr) => match BoolExprType::try_from(expr.boolop) {
                Ok(BoolExprType::AndExpr) => {
                    for arg in &expr.args {
                        self.filter(arg, filter);
                    }
                }
                Ok(BoolExprType::OrExpr) => {
                    let filter = Filter {
                        under_or: true,
                        ..filter
                    };
                    for arg in &expr.args {
                        self.filter(arg, filter);
                    }
                }
                // NOT: no predicate below it holds for the rows returned, except that
                // `NOT col` reads `col = false`. Subqueries below still count: they have
                // predicates of their own.
                _ => {
                    if let [arg] = expr.args.as_slice() {
                        if as_column(arg).is_some() {
                            self.boolean_column(arg, false, filter);
                        }
                    }
                    self.visit_expr(node);
                }
            },
            NodeEnum::AExpr(expr) => {
                self.a_expr(expr, filter);
                self.visit_expr(node);
            }
            NodeEnum::NullTest(test) => {
                self.null_test(test, filter);
                self.visit_expr(node);
            }
            NodeEnum::BooleanTest(test) => {
                self.boolean_test(test, filter);
                self.visit_expr(node);
            }
            NodeEnum::ColumnRef(_) => self.boolean_column(node, true, filter),
            NodeEnum::SubLink(link) => {
                self.in_subquery(link, filter);
                self.visit_expr(node);
            }
            _ => self.visit_expr(node),
        }
    }

    fn operand(&self, node: &Node) -> Operand {
        if let Some(path) = as_column(node) {
            return match self.scope.resolve(&path) {
                Resolved::Column(reference, column) => Operand::Column(reference, column),
                Resolved::Unresolved => Operand::Unresolved {
                    columns: vec![path.text()],
                    plain: true,
                },
                Resolved::NotATable | Resolved::NotFound => Operand::Value,
            };
        }
        let mut references = Vec::new();
        let mut columns = Vec::new();
        let mut unresolved = Vec::new();
        // Whether the expression, written with its qualifiers dropped, is one an index on
        // the table could hold: every column is the table's own, under its own name (not a
        // subquery's renamed or computed output), and nothing in it changes between calls.
        let mut indexable = !has_volatile_function(node);
        for path in column_refs(node) {
            match self.scope.resolve(&path) {
                Resolved::Column(reference, column) => {
                    indexable &= path.column == Some(column.as_str());
                    push_unique(&mut references, reference);
                    push_unique(&mut columns, column);
                }
                Resolved::Unresolved => push_unique(&mut unresolved, path.text()),
                Resolved::NotATable | Resolved::NotFound => indexable = false,
            }
        }
        if !unresolved.is_empty() {
            return Operand::Unresolved {
                columns: unresolved,
                plain: false,
            };
        }
        match references.as_slice() {
            [] => Operand::Value,
            [reference] if indexable => Operand::Expression(*reference, columns),
            _ => Operand::Mixed(references),
        }
    }

    fn side<'a>(&self, node: &'a Node) -> Side<'a> {
        Side {
            operand: self.operand(node),
            node,
        }
    }

    fn a_expr(&mut self, expr: &AExpr, filter: Filter) {
        let (Some(left), Some(right)) = (expr.lexpr.as_deref(), expr.rexpr.as_deref()) else {
            return;
        };
        let Some(operator) = last_name(&expr.name) else {
            return;
        };
        match AExprKind::try_from(expr.kind) {
            Ok(AExprKind::AexprOp) => self.operator(left, operator, right, filter),
            Ok(AExprKind::AexprOpAny) if operator == "=" => self.any(left, right, filter),
            Ok(AExprKind::AexprIn) if operator == "=" => self.in_list(left, right, filter),
            Ok(AExprKind::AexprLike) if operator == "~~" => self.like(left, right, false, filter),
            Ok(AExprKind::AexprIlike) if operator == "~~*" => self.like(left, right, true, filter),
            Ok(AExprKind::AexprBetween | AExprKind::AexprBetweenSym) => {
                if let Some(NodeEnum::List(bounds)) = right.node.as_ref() {
                    let bounds: Vec<&Node> = bounds.items.iter().collect();
                    self.against_values(
                        left,
                        &bounds,
                        "BETWEEN",
                        ColumnUsage::Range,
                        filter,
                        |a, r, c| {
                            a.column_predicate(r, c, ColumnUsage::Range, filter);
                        },
                    );
                }
            }
            _ => {}
        }
    }

    /// `left <operator> right` for a plain operator.
    fn operator(&mut self, left: &Node, operator: &str, right: &Node, filter: Filter) {
        match operator {
            "=" | "<>" | "<" | "<=" | ">" | ">=" => {
                if let (Some(NodeEnum::RowExpr(l)), Some(NodeEnum::RowExpr(r))) =
                    (left.node.as_ref(), right.node.as_ref())
                {
                    // `(a, b) < ($1, $2)`: keyset pagination, which an index on (a, b)
                    // serves. Only `=` splits into constants that each hold.
                    if operator != "<>" && l.args.len() == r.args.len() {
                        for (l, r) in l.args.iter().zip(&r.args) {
                            self.compare(l, operator, r, filter, operator == "=");
                        }
                    }
                    return;
                }
                self.compare(left, operator, right, filter, true);
            }
            "@@" => self.full_text(left, right, filter),
            "@>" | "<@" | "&&" => {
                // The column may be on either side; put it on the left.
                let (column, value, operator) = match self.operand(left) {
                    Operand::Value => (right, left, commute(operator).unwrap_or(operator)),
                    _ => (left, right, operator),
                };
                let array_operator = match operator {
                    "@>" => ArrayOperator::Contains,
                    "<@" => ArrayOperator::ContainedBy,
                    _ => ArrayOperator::Overlaps,
                };
                self.against_values(
                    column,
                    &[value],
                    operator,
                    ColumnUsage::Array,
                    filter,
                    |a, r, c| {
                        a.record(r, |t| {
                            push_unique(
                                &mut t.array,
                                ArrayPredicate {
                                    column: c,
                                    operator: array_operator,
                                    under_or: filter.under_or,
                                },
                            );
                        });
                    },
                );
            }
            _ => {}
        }
    }

    /// A comparison (`=`, `<>`, `<`, `<=`, `>`, `>=`), seen from each side in turn.
    fn compare(
        &mut self,
        left: &Node,
        operator: &str,
        right: &Node,
        filter: Filter,
        constants: bool,
    ) {
        let left = self.side(left);
        let right = self.side(right);
        self.compare_side(&left, operator, &right, filter, constants);
        if let Some(commuted) = commute(operator) {
            self.compare_side(&right, commuted, &left, filter, constants);
        }
    }

    /// `side <operator> other`, recorded on `side`'s table reference.
    fn compare_side(
        &mut self,
        side: &Side<'_>,
        operator: &str,
        other: &Side<'_>,
        filter: Filter,
        constants: bool,
    ) {
        match &side.operand {
            Operand::Column(reference, column) => {
                if let Operand::Column(other_reference, other_column) = &other.operand {
                    if other_reference != reference && operator == "=" {
                        self.join_pair(
                            *reference,
                            column,
                            *other_reference,
                            other_column,
                            filter.under_or,
                        );
                        return;
                    }
                }
                if !other.operand.independent_of(*reference) {
                    return;
                }
                match operator {
                    "=" => self.column_predicate(
                        *reference,
                        column.clone(),
                        ColumnUsage::Equality,
                        filter,
                    ),
                    "<" | "<=" | ">" | ">=" => {
                        self.column_predicate(
                            *reference,
                            column.clone(),
                            ColumnUsage::Range,
                            filter,
                        );
                    }
                    _ => {}
                }
                if constants && literal(other.node).is_some() {
                    let value = render(other.node);
                    self.constant(*reference, column.clone(), operator, value, filter);
                }
            }
            Operand::Expression(reference, columns) => {
                if filter.expressions
                    && operator != "<>"
                    && other.operand.independent_of(*reference)
                {
                    self.expression(*reference, side.node, columns.clone(), operator, filter);
                }
            }
            Operand::Unresolved { columns, plain } => {
                let usage = match (plain, operator) {
                    (false, _) if filter.expressions => ColumnUsage::Expression,
                    (true, "=") => match &other.operand {
                        Operand::Column(..) | Operand::Unresolved { plain: true, .. } => {
                            ColumnUsage::Join
                        }
                        _ => ColumnUsage::Equality,
                    },
                    (true, "<" | "<=" | ">" | ">=") => ColumnUsage::Range,
                    _ => return,
                };
                for column in columns {
                    self.unresolved(column.clone(), usage);
                }
            }
            Operand::Value | Operand::Mixed(_) => {}
        }
    }

    /// The shape most predicates share: `subject <operator> values`, where the values must
    /// not read the subject's table reference. A lone column gets `on_column`, an expression
    /// an [`ExpressionPredicate`], an unresolved column `usage`.
    fn against_values(
        &mut self,
        subject: &Node,
        values: &[&Node],
        operator: &str,
        usage: ColumnUsage,
        filter: Filter,
        on_column: impl FnOnce(&mut Self, RefId, String),
    ) {
        let operand = self.operand(subject);
        let independent = |this: &Self, reference: RefId| {
            values
                .iter()
                .all(|value| this.operand(value).independent_of(reference))
        };
        match operand {
            Operand::Column(reference, column) => {
                if independent(self, reference) {
                    on_column(self, reference, column);
                }
            }
            Operand::Expression(reference, columns) => {
                if filter.expressions && independent(self, reference) {
                    self.expression(reference, subject, columns, operator, filter);
                }
            }
            Operand::Unresolved { columns, plain } => {
                let usage = match (plain, filter.expressions) {
                    (true, _) => usage,
                    (false, true) => ColumnUsage::Expression,
                    (false, false) => return,
                };
                for column in columns {
                    self.unresolved(column, usage);
                }
            }
            Operand::Value | Operand::Mixed(_) => {}
        }
    }

    /// `left = ANY(right)`: equality with any element of an array (`= ANY($1)`).
    fn any(&mut self, left: &Node, right: &Node, filter: Filter) {
        self.against_values(
            left,
            &[right],
            "= ANY",
            ColumnUsage::Equality,
            filter,
            |a, r, c| {
                a.column_predicate(r, c.clone(), ColumnUsage::Equality, filter);
                if literal(right).is_some() {
                    // In parentheses, so that the predicate reads as SQL.
                    let value = render(right).map(|array| format!("({array})"));
                    a.constant(r, c, "= ANY", value, filter);
                }
            },
        );
    }

    /// `left IN (a, b, ...)`, including row values: `(a, b) IN ((1, 2), (3, 4))`.
    fn in_list(&mut self, left: &Node, right: &Node, filter: Filter) {
        let Some(NodeEnum::List(list)) = right.node.as_ref() else {
            return;
        };
        if let Some(NodeEnum::RowExpr(row)) = left.node.as_ref() {
            for (position, member) in row.args.iter().enumerate() {
                let values: Option<Vec<&Node>> = list
                    .items
                    .iter()
                    .map(|item| match item.node.as_ref()? {
                        NodeEnum::RowExpr(value) => value.args.get(position),
                        _ => None,
                    })
                    .collect();
                if let Some(values) = values {
                    self.against_values(
                        member,
                        &values,
                        "IN",
                        ColumnUsage::Equality,
                        filter,
                        |a, r, c| {
                            a.column_predicate(r, c, ColumnUsage::Equality, filter);
                        },
                    );
                }
            }
            return;
        }
        let values: Vec<&Node> = list.items.iter().collect();
        self.against_values(
            left,
            &values,
            "IN",
            ColumnUsage::Equality,
            filter,
            |a, r, c| {
                a.column_predicate(r, c.clone(), ColumnUsage::Equality, filter);
                let literals: Option<Vec<String>> = values
                    .iter()
                    .map(|v| literal(v).and_then(|_| render(v)))
                    .collect();
                if let Some(literals) = literals {
                    a.constant(
                        r,
                        c,
                        "IN",
                        Some(format!("({})", literals.join(", "))),
                        filter,
                    );
                }
            },
        );
    }

    /// `x IN (SELECT ...)` or `x = ANY (SELECT ...)`: a semi-join, an equality with the
    /// subquery's values.
    fn in_subquery(&mut self, link: &SubLink, filter: Filter) {
        let any = SubLinkType::try_from(link.sub_link_type) == Ok(SubLinkType::AnySublink);
        let equality = link.oper_name.is_empty() || last_name(&link.oper_name) == Some("=");
        let Some(tested) = link.testexpr.as_deref().filter(|_| any && equality) else {
            return;
        };
        let members: Vec<&Node> = match tested.node.as_ref() {
            Some(NodeEnum::RowExpr(row)) => row.args.iter().collect(),
            _ => vec![tested],
        };
        for member in members {
            self.against_values(
                member,
                &[],
                "IN",
                ColumnUsage::Equality,
                filter,
                |a, r, c| {
                    a.column_predicate(r, c, ColumnUsage::Equality, filter);
                },
            );
        }
    }

    /// `LIKE` and `ILIKE`. A cast to text around the column (`title::text LIKE ...`, as
    /// Django and Prisma write it) counts as the column: for text and varchar columns the
    /// cast costs nothing and indexes on the column serve the match.
    fn like(&mut self, left: &Node, pattern: &Node, case_insensitive: bool, filter: Filter) {
        let subject = text_cast_of_column(left).unwrap_or(left);
        let operator = if case_insensitive { "ILIKE" } else { "LIKE" };
        self.against_values(
            subject,
            &[pattern],
            operator,
            ColumnUsage::Like,
            filter,
            |a, r, c| {
                a.record(r, |t| {
                    push_unique(
                        &mut t.like,
                        LikePredicate {
                            column: c,
                            case_insensitive,
                            pattern: pattern_kind(pattern),
                            under_or: filter.under_or,
                        },
                    );
                });
            },
        );
    }

    /// `document @@ query`, either way round.
    fn full_text(&mut self, left: &Node, right: &Node, filter: Filter) {
        let (document, query) = match self.operand(left) {
            Operand::Value => (right, left),
            _ => (left, right),
        };
        let independent = self.operand(query);
        let (reference, columns) = match self.operand(document) {
            Operand::Column(reference, column) => (reference, vec![column]),
            Operand::Expression(reference, columns) => (reference, columns),
            Operand::Unresolved { columns, .. } => {
                for column in columns {
                    self.unresolved(column, ColumnUsage::FullText);
                }
                return;
            }
            Operand::Value | Operand::Mixed(_) => return,
        };
        if !independent.independent_of(reference) {
            return;
        }
        let Some(expression) = render_unqualified(document) else {
            return;
        };
        self.record(reference, |t| {
            push_unique(
                &mut t.full_text,
                FullTextPredicate {
                    columns,
                    expression,
                    under_or: filter.under_or,
                },
            );
        });
    }

    fn null_test(&mut self, test: &NullTestNode, filter: Filter) {
        let Some(arg) = test.arg.as_deref() else {
            return;
        };
        let (test, operator) = match NullTestType::try_from(test.nulltesttype) {
            Ok(NullTestType::IsNull) => (NullTest::IsNull, "IS NULL"),
            Ok(NullTestType::IsNotNull) => (NullTest::IsNotNull, "IS NOT NULL"),
            _ => return,
        };
        self.against_values(
            arg,
            &[],
            operator,
            ColumnUsage::NullTest,
            filter,
            |a, r, c| {
                a.record(r, |t| {
                    push_unique(
                        &mut t.null_tests,
                        NullTestPredicate {
                            column: c.clone(),
                            test,
                            under_or: filter.under_or,
                        },
                    );
                });
                a.constant(r, c, operator, None, filter);
            },
        );
    }

    /// `col IS [NOT] TRUE|FALSE|UNKNOWN`: only a constant predicate, since a B-tree does not
    /// serve these tests.
    fn boolean_test(&mut self, test: &BooleanTest, filter: Filter) {
        let Some(Operand::Column(reference, column)) = test.arg.as_deref().map(|a| self.operand(a))
        else {
            return;
        };
        let operator = match BoolTestType::try_from(test.booltesttype) {
            Ok(BoolTestType::IsTrue) => "IS TRUE",
            Ok(BoolTestType::IsNotTrue) => "IS NOT TRUE",
            Ok(BoolTestType::IsFalse) => "IS FALSE",
            Ok(BoolTestType::IsNotFalse) => "IS NOT FALSE",
            Ok(BoolTestType::IsUnknown) => "IS UNKNOWN",
            Ok(BoolTestType::IsNotUnknown) => "IS NOT UNKNOWN",
            _ => return,
        };
        self.constant(reference, column, operator, None, filter);
    }

    /// A bare boolean column (`WHERE active`), or its negation: the planner reads it as
    /// `active = true` and a B-tree on the column serves it.
    fn boolean_column(&mut self, node: &Node, value: bool, filter: Filter) {
        match self.operand(node) {
            Operand::Column(reference, column) => {
                self.column_predicate(reference, column.clone(), ColumnUsage::Equality, filter);
                self.constant(reference, column, "=", Some(value.to_string()), filter);
            }
            Operand::Unresolved { columns, .. } => {
                for column in columns {
                    self.unresolved(column, ColumnUsage::Equality);
                }
            }
            _ => {}
        }
    }

    /// Records an equality or range column.
    fn column_predicate(
        &mut self,
        reference: RefId,
        column: String,
        usage: ColumnUsage,
        filter: Filter,
    ) {
        let predicate = ColumnPredicate {
            column,
            under_or: filter.under_or,
        };
        self.record(reference, |t| match usage {
            ColumnUsage::Range => push_unique(&mut t.range, predicate),
            _ => push_unique(&mut t.equality, predicate),
        });
    }

    fn constant(
        &mut self,
        reference: RefId,
        column: String,
        operator: &str,
        value: Option<String>,
        filter: Filter,
    ) {
        let predicate = ConstantPredicate {
            column,
            operator: operator.to_string(),
            value,
            under_or: filter.under_or,
        };
        self.record(reference, |t| push_unique(&mut t.constants, predicate));
    }

    fn expression(
        &mut self,
        reference: RefId,
        node: &Node,
        columns: Vec<String>,
        operator: &str,
        filter: Filter,
    ) {
        let Some(expression) = render_unqualified(node) else {
            return;
        };
        let predicate = ExpressionPredicate {
            expression,
            function: function_name(node).map(str::to_string),
            columns,
            operator: operator.to_string(),
            under_or: filter.under_or,
        };
        self.record(reference, |t| push_unique(&mut t.expressions, predicate));
    }
}

/// The operator with its operands swapped: `a < b` is `b > a`. `None` for operators that do
/// not swap.
fn commute(operator: &str) -> Option<&'static str> {
    Some(match operator {
        "=" => "=",
        "<>" => "<>",
        "<" => ">",
        "<=" => ">=",
        ">" => "<",
        ">=" => "<=",
        "@>" => "<@",
        "<@" => "@>",
        "&&" => "&&",
        _ => return None,
    })
}

/// The column below a cast to `text`, `varchar` or `char`, if `node` is one.
fn text_cast_of_column(node: &Node) -> Option<&Node> {
    let Some(NodeEnum::TypeCast(cast)) = node.node.as_ref() else {
        return None;
    };
    let type_name = last_name(&cast.type_name.as_ref()?.names)?;
    let column = cast.arg.as_deref()?;
    (matches!(type_name, "text" | "varchar" | "bpchar") && as_column(column).is_some())
        .then_some(column)
}

/// What a `LIKE` pattern lets an index do.
fn pattern_kind(pattern: &Node) -> PatternKind {
    match literal(pattern) {
        Some(a_const::Val::Sval(pattern)) => literal_pattern_kind(&pattern.sval),
        _ => PatternKind::Unknown,
    }
}

/// Classifies a literal pattern, with `\` escaping the next character as `LIKE` does by
/// default.
fn literal_pattern_kind(pattern: &str) -> PatternKind {
    let mut chars = pattern.chars();
    let mut first = true;
    while let Some(c) = chars.next() {
        match c {
            '%' | '_' if first => return PatternKind::LeadingWildcard,
            '%' | '_' => return PatternKind::Prefix,
            '\\' => {
                chars.next();
            }
            _ => {}
        }
        first = false;
    }
    PatternKind::Exact
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_patterns_are_classified_by_their_first_wildcard() {
        assert_eq!(literal_pattern_kind("abc%"), PatternKind::Prefix);
        assert_eq!(literal_pattern_kind("a_c"), PatternKind::Prefix);
        assert_eq!(literal_pattern_kind("%abc"), PatternKind::LeadingWildcard);
        assert_eq!(literal_pattern_kind("_bc"), PatternKind::LeadingWildcard);
        assert_eq!(literal_pattern_kind("%abc%"), PatternKind::LeadingWildcard);
        assert_eq!(literal_pattern_kind("abc"), PatternKind::Exact);
        assert_eq!(literal_pattern_kind(""), PatternKind::Exact);
        assert_eq!(literal_pattern_kind("\\%abc"), PatternKind::Exact);
        assert_eq!(literal_pattern_kind("\\%abc%"), PatternKind::Prefix);
        assert_eq!(literal_pattern_kind("abc\\"), PatternKind::Exact);
    }
}
