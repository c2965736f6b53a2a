//! Helpers over raw expression trees: walking children, finding column references, spotting
//! literals, and writing an expression back as SQL.

use pg_query::protobuf::{self, a_const, ColumnRef, Node, ResTarget, SelectStmt};
use pg_query::NodeEnum;

/// Calls `$visit` on every expression directly below `$node`, in the order of the text.
///
/// It covers every expression node PostgreSQL's grammar produces, so that no volatile function
/// or subquery hides from the analysis. It never enters a subquery's `SELECT` (that is a query
/// level of its own, which the caller analyzes with its own scope), nor type names.
///
/// One list serves the shared and the mutable walk: `$as_deref` and `$iter` are `as_deref`
/// and `iter`, or `as_deref_mut` and `iter_mut`.
macro_rules! for_each_child {
    ($node:expr, $visit:expr, $as_deref:ident, $iter:ident) => {{
        let visit = $visit;
        match $node {
            NodeEnum::AExpr(e) => e
                .lexpr
                .$as_deref()
                .into_iter()
                .chain(e.rexpr.$as_deref())
                .for_each(visit),
            NodeEnum::BoolExpr(e) => e.args.$iter().for_each(visit),
            NodeEnum::FuncCall(f) => {
                f.args
                    .$iter()
                    .chain(f.agg_order.$iter())
                    .chain(f.agg_filter.$as_deref())
                    .for_each(&mut *visit);
                if let Some(w) = f.over.$as_deref() {
                    w.partition_clause
                        .$iter()
                        .chain(w.order_clause.$iter())
                        .for_each(&mut *visit);
                    w.start_offset
                        .$as_deref()
                        .into_iter()
                        .chain(w.end_offset.$as_deref())
                        .for_each(visit);
                }
            }
            NodeEnum::WindowDef(w) => {
                w.partition_clause
                    .$iter()
                    .chain(w.order_clause.$iter())
                    .for_each(&mut *visit);
                w.start_offset
                    .$as_deref()
                    .into_iter()
                    .chain(w.end_offset.$as_deref())
                    .for_each(visit);
            }
            NodeEnum::TypeCast(e) => e.arg.$as_deref().into_iter().for_each(visit),
            NodeEnum::CollateClause(e) => e.arg.$as_deref().into_iter().for_each(visit),
            NodeEnum::NamedArgExpr(e) => e.arg.$as_deref().into_iter().for_each(visit),
            NodeEnum::SubLink(e) => e.testexpr.$as_deref().into_iter().for_each(visit),
            NodeEnum::CaseExpr(e) => e
                .arg
                .$as_deref()
                .into_iter()
                .chain(e.args.$iter())
                .chain(e.defresult.$as_deref())
                .for_each(visit),
            NodeEnum::CaseWhen(e) => e
                .expr
                .$as_deref()
                .into_iter()
                .chain(e.result.$as_deref())
                .for_each(visit),
            NodeEnum::CoalesceExpr(e) => e.args.$iter().for_each(visit),
            NodeEnum::MinMaxExpr(e) => e.args.$iter().for_each(visit),
            NodeEnum::NullTest(e) => e.arg.$as_deref().into_iter().for_each(visit),
            NodeEnum::BooleanTest(e) => e.arg.$as_deref().into_iter().for_each(visit),
            NodeEnum::RowExpr(e) => e.args.$iter().for_each(visit),
            NodeEnum::AArrayExpr(e) => e.elements.$iter().for_each(visit),
            NodeEnum::AIndirection(e) => e
                .arg
                .$as_deref()
                .into_iter()
                .chain(e.indirection.$iter())
                .for_each(visit),
            NodeEnum::AIndices(e) => e
                .lidx
                .$as_deref()
                .into_iter()
                .chain(e.uidx.$as_deref())
                .for_each(visit),
            NodeEnum::List(e) => e.items.$iter().for_each(visit),
            NodeEnum::ResTarget(e) => e
                .indirection
                .$iter()
                .chain(e.val.$as_deref())
                .for_each(visit),
            NodeEnum::MultiAssignRef(e) => e.source.$as_deref().into_iter().for_each(visit),
            NodeEnum::SortBy(e) => e.node.$as_deref().into_iter().for_each(visit),
            NodeEnum::GroupingFunc(e) => e.args.$iter().for_each(visit),
            NodeEnum::GroupingSet(e) => e.content.$iter().for_each(visit),
            NodeEnum::XmlExpr(e) => e.named_args.$iter().chain(e.args.$iter()).for_each(visit),
            NodeEnum::XmlSerialize(e) => e.expr.$as_deref().into_iter().for_each(visit),
            NodeEnum::JsonIsPredicate(e) => e.expr.$as_deref().into_iter().for_each(visit),
            NodeEnum::JsonValueExpr(e) => e.raw_expr.$as_deref().into_iter().for_each(visit),
            NodeEnum::JsonScalarExpr(e) => e.expr.$as_deref().into_iter().for_each(visit),
            NodeEnum::JsonBehavior(e) => e.expr.$as_deref().into_iter().for_each(visit),
            NodeEnum::JsonObjectConstructor(e) => e.exprs.$iter().for_each(visit),
            NodeEnum::JsonArrayConstructor(e) => e.exprs.$iter().for_each(visit),
            NodeEnum::JsonKeyValue(e) => {
                let value = e.value.$as_deref().and_then(|v| v.raw_expr.$as_deref());
                e.key.$as_deref().into_iter().chain(value).for_each(visit)
            }
            NodeEnum::JsonArgument(e) => e
                .val
                .$as_deref()
                .and_then(|v| v.raw_expr.$as_deref())
                .into_iter()
                .for_each(visit),
            NodeEnum::JsonParseExpr(e) => e
                .expr
                .$as_deref()
                .and_then(|v| v.raw_expr.$as_deref())
                .into_iter()
                .for_each(visit),
            NodeEnum::JsonSerializeExpr(e) => e
                .expr
                .$as_deref()
                .and_then(|v| v.raw_expr.$as_deref())
                .into_iter()
                .for_each(visit),
            NodeEnum::JsonFuncExpr(e) => {
                let context = e
                    .context_item
                    .$as_deref()
                    .and_then(|v| v.raw_expr.$as_deref());
                let on_empty = e.on_empty.$as_deref().and_then(|b| b.expr.$as_deref());
                let on_error = e.on_error.$as_deref().and_then(|b| b.expr.$as_deref());
                context
                    .into_iter()
                    .chain(e.pathspec.$as_deref())
                    .chain(e.passing.$iter())
                    .chain(on_empty)
                    .chain(on_error)
                    .for_each(visit)
            }
            NodeEnum::JsonObjectAgg(e) => {
                if let Some(c) = e.constructor.$as_deref() {
                    c.agg_filter
                        .$as_deref()
                        .into_iter()
                        .chain(c.agg_order.$iter())
                        .for_each(&mut *visit);
                }
                if let Some(kv) = e.arg.$as_deref() {
                    let value = kv.value.$as_deref().and_then(|v| v.raw_expr.$as_deref());
                    kv.key.$as_deref().into_iter().chain(value).for_each(visit);
                }
            }
            NodeEnum::JsonArrayAgg(e) => {
                if let Some(c) = e.constructor.$as_deref() {
                    c.agg_filter
                        .$as_deref()
                        .into_iter()
                        .chain(c.agg_order.$iter())
                        .for_each(&mut *visit);
                }
                e.arg
                    .$as_deref()
                    .and_then(|v| v.raw_expr.$as_deref())
                    .into_iter()
                    .for_each(visit);
            }
            _ => {}
        }
    }};
}

/// Calls `visit` on each expression directly below `node`: see [`for_each_child!`].
pub(crate) fn for_each_child<'a>(node: &'a NodeEnum, visit: &mut dyn FnMut(&'a Node)) {
    for_each_child!(node, visit, as_deref, iter)
}

/// The mutable twin of [`for_each_child`], for rewriting an expression before writing it out.
fn for_each_child_mut(node: &mut NodeEnum, visit: &mut dyn FnMut(&mut Node)) {
    for_each_child!(node, visit, as_deref_mut, iter_mut)
}

/// A column reference split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ColumnPath<'a> {
    /// The names before the column: `[]`, `[table]`, `[schema, table]` or
    /// `[catalog, schema, table]`.
    pub qualifier: Vec<&'a str>,
    /// The column, or `None` for `*`.
    pub column: Option<&'a str>,
}

impl ColumnPath<'_> {
    /// The reference as written, its parts joined with `.`.
    pub fn text(&self) -> String {
        let mut parts = self.qualifier.clone();
        parts.push(self.column.unwrap_or("*"));
        parts.join(".")
    }
}

/// The parts of a column reference; `None` for the forms no table column can take (a `*` in
/// the middle, a subscript in the field list).
pub(super) fn column_path(column: &ColumnRef) -> Option<ColumnPath<'_>> {
    let (last, qualifier) = column.fields.split_last()?;
    let qualifier = qualifier
        .iter()
        .map(string_value)
        .collect::<Option<Vec<_>>>()?;
    let column = match last.node.as_ref()? {
        NodeEnum::String(s) => Some(s.sval.as_str()),
        NodeEnum::AStar(_) => None,
        _ => return None,
    };
    Some(ColumnPath { qualifier, column })
}

/// The column reference `node` is, if it is one.
pub(super) fn as_column(node: &Node) -> Option<ColumnPath<'_>> {
    match node.node.as_ref()? {
        NodeEnum::ColumnRef(c) => column_path(c),
        _ => None,
    }
}

/// Every column reference in `node`, in the order of the text, outside subqueries.
pub(super) fn column_refs(node: &Node) -> Vec<ColumnPath<'_>> {
    fn walk<'a>(node: &'a Node, out: &mut Vec<ColumnPath<'a>>) {
        match node.node.as_ref() {
            Some(NodeEnum::ColumnRef(c)) => out.extend(column_path(c)),
            Some(inner) => for_each_child(inner, &mut |child| walk(child, out)),
            None => {}
        }
    }
    let mut out = Vec::new();
    walk(node, &mut out);
    out
}

/// The text of a `String` node.
pub(super) fn string_value(node: &Node) -> Option<&str> {
    match node.node.as_ref()? {
        NodeEnum::String(s) => Some(&s.sval),
        _ => None,
    }
}

/// The last part of a qualified name (`now` in `pg_catalog.now`): operator and function names
/// are lists of `String` nodes.
pub(super) fn last_name(names: &[Node]) -> Option<&str> {
    names.last().and_then(string_value)
}

/// `node` without the casts around it: `'x'::text` is the literal `'x'`, `$1::int` the
/// parameter `$1`.
pub(super) fn strip_casts(node: &Node) -> &Node {
    let mut node = node;
    while let Some(NodeEnum::TypeCast(cast)) = node.node.as_ref() {
        match cast.arg.as_deref() {
            Some(arg) => node = arg,
            None => break,
        }
    }
    node
}

/// The literal constant below any casts, if `node` is one. `NULL` is not a constant a
/// predicate can compare with.
pub(super) fn literal(node: &Node) -> Option<&a_const::Val> {
    match strip_casts(node).node.as_ref()? {
        NodeEnum::AConst(c) => c.val.as_ref(),
        _ => None,
    }
}

/// The name of the function `node` calls, if it is a call.
pub(super) fn function_name(node: &Node) -> Option<&str> {
    match node.node.as_ref()? {
        NodeEnum::FuncCall(f) => last_name(&f.funcname),
        _ => None,
    }
}

/// `node` as PostgreSQL's deparser writes it, e.g. `'2024-01-01'::date` or `lower(u.email)`.
/// `None` only if the deparser refuses the node, which it does not for expressions the parser
/// produced.
pub(super) fn render(node: &Node) -> Option<String> {
    // The deparser takes statements: wrap the expression in `SELECT <expr>` and cut the
    // keyword off again.
    let select = SelectStmt {
        target_list: vec![Node {
            node: Some(NodeEnum::ResTarget(Box::new(ResTarget {
                val: Some(Box::new(node.clone())),
                ..ResTarget::default()
            }))),
        }],
        op: protobuf::SetOperation::SetopNone.into(),
        limit_option: protobuf::LimitOption::Default.into(),
        ..SelectStmt::default()
    };
    let text = NodeEnum::SelectStmt(Box::new(select)).deparse().ok()?;
    text.strip_prefix("SELECT ").map(str::to_string)
}

/// [`render`] with the table qualifiers of column references dropped, for an expression over
/// one table's columns: `lower(u.email)` reads `lower(email)`, as an index definition would.
pub(super) fn render_unqualified(node: &Node) -> Option<String> {
    fn strip(node: &mut Node) {
        match node.node.as_mut() {
            Some(NodeEnum::ColumnRef(c)) => {
                let keep = c.fields.len().saturating_sub(1);
                c.fields.drain(..keep);
            }
            Some(inner) => for_each_child_mut(inner, &mut strip),
            None => {}
        }
    }
    let mut node = node.clone();
    strip(&mut node);
    render(&node)
}
