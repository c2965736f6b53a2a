//! A walk over pg_query's parse tree that tells each expression where it sits: in a filter
//! (WHERE, JOIN ... ON, HAVING), in an output list, or elsewhere. Subqueries are walked
//! as statements of their own, so every rule sees every level of a query.

use pg_query::protobuf::{Node, SelectStmt};
use pg_query::NodeEnum;

/// Where an expression sits in its statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// WHERE, JOIN ... ON or HAVING: it decides which rows qualify.
    Filter,
    /// Anything else: output lists, ORDER BY, VALUES, SET.
    Other,
}

/// What a rule sees: each statement (the top one and every subquery), and each
/// expression node with its place.
pub(crate) trait Visitor<'a> {
    /// A SELECT starts (a statement, a subquery or a branch of a UNION); its expressions
    /// follow, then [`Visitor::end_statement`].
    fn select(&mut self, _select: &'a SelectStmt) {}
    /// Any other statement starts, likewise.
    fn statement(&mut self, _statement: &'a NodeEnum) {}
    fn end_statement(&mut self) {}
    fn expression(&mut self, _node: &'a NodeEnum, _place: Place) {}
}

fn inner(node: &Node) -> Option<&NodeEnum> {
    node.node.as_ref()
}

/// Walks a statement: its own expressions and every statement nested in it.
pub(crate) fn statement<'a>(node: &'a NodeEnum, visitor: &mut dyn Visitor<'a>) {
    match node {
        NodeEnum::SelectStmt(select) => visitor.select(select),
        other => visitor.statement(other),
    }
    statement_parts(node, visitor);
    visitor.end_statement();
}

fn statement_parts<'a>(node: &'a NodeEnum, visitor: &mut dyn Visitor<'a>) {
    match node {
        NodeEnum::SelectStmt(select) => select_stmt(select, visitor),
        NodeEnum::InsertStmt(insert) => {
            if let Some(with) = &insert.with_clause {
                nodes(&with.ctes, Place::Other, visitor);
            }
            if let Some(source) = insert.select_stmt.as_deref().and_then(inner) {
                statement(source, visitor);
            }
            nodes(&insert.returning_list, Place::Other, visitor);
        }
        NodeEnum::UpdateStmt(update) => {
            if let Some(with) = &update.with_clause {
                nodes(&with.ctes, Place::Other, visitor);
            }
            nodes(&update.target_list, Place::Other, visitor);
            from_items(&update.from_clause, visitor);
            optional(update.where_clause.as_deref(), Place::Filter, visitor);
            nodes(&update.returning_list, Place::Other, visitor);
        }
        NodeEnum::DeleteStmt(delete) => {
            if let Some(with) = &delete.with_clause {
                nodes(&with.ctes, Place::Other, visitor);
            }
            from_items(&delete.using_clause, visitor);
            optional(delete.where_clause.as_deref(), Place::Filter, visitor);
            nodes(&delete.returning_list, Place::Other, visitor);
        }
        NodeEnum::ExplainStmt(explain) => {
            if let Some(query) = explain.query.as_deref().and_then(inner) {
                statement(query, visitor);
            }
        }
        NodeEnum::CommonTableExpr(cte) => {
            if let Some(query) = cte.ctequery.as_deref().and_then(inner) {
                statement(query, visitor);
            }
        }
        _ => {}
    }
}

fn select_stmt<'a>(select: &'a SelectStmt, visitor: &mut dyn Visitor<'a>) {
    if let Some(with) = &select.with_clause {
        for cte in &with.ctes {
            if let Some(cte) = inner(cte) {
                statement(cte, visitor);
            }
        }
    }
    for branch in [select.larg.as_deref(), select.rarg.as_deref()]
        .into_iter()
        .flatten()
    {
        // Set-operation branches are SelectStmts without a Node wrapper; each is a query
        // of its own.
        visitor.select(branch);
        select_stmt(branch, visitor);
        visitor.end_statement();
    }
    nodes(&select.target_list, Place::Other, visitor);
    from_items(&select.from_clause, visitor);
    optional(select.where_clause.as_deref(), Place::Filter, visitor);
    nodes(&select.group_clause, Place::Other, visitor);
    optional(select.having_clause.as_deref(), Place::Filter, visitor);
    nodes(&select.sort_clause, Place::Other, visitor);
    for row in &select.values_lists {
        expression(row, Place::Other, visitor);
    }
}

/// FROM items: tables, joins (whose ON conditions are filters) and subqueries.
fn from_items<'a>(items: &'a [Node], visitor: &mut dyn Visitor<'a>) {
    for item in items {
        from_item(item, visitor);
    }
}

fn from_item<'a>(item: &'a Node, visitor: &mut dyn Visitor<'a>) {
    match inner(item) {
        Some(NodeEnum::JoinExpr(join)) => {
            for side in [join.larg.as_deref(), join.rarg.as_deref()]
                .into_iter()
                .flatten()
            {
                from_item(side, visitor);
            }
            optional(join.quals.as_deref(), Place::Filter, visitor);
        }
        Some(NodeEnum::RangeSubselect(sub)) => {
            if let Some(query) = sub.subquery.as_deref().and_then(inner) {
                statement(query, visitor);
            }
        }
        Some(NodeEnum::RangeFunction(function)) => {
            nodes(&function.functions, Place::Other, visitor);
        }
        _ => {}
    }
}

fn optional<'a>(node: Option<&'a Node>, place: Place, visitor: &mut dyn Visitor<'a>) {
    if let Some(node) = node {
        expression(node, place, visitor);
    }
}

fn nodes<'a>(list: &'a [Node], place: Place, visitor: &mut dyn Visitor<'a>) {
    for node in list {
        expression(node, place, visitor);
    }
}

/// Walks an expression, depth first, parents before children. Its children are the ones the
/// analysis walks (`analysis::for_each_child`, one list of every expression node), so the
/// rules and the analysis never disagree on what an expression holds; a subquery is walked as
/// a statement of its own.
pub(crate) fn expression<'a>(node: &'a Node, place: Place, visitor: &mut dyn Visitor<'a>) {
    let Some(node) = inner(node) else {
        return;
    };
    visitor.expression(node, place);
    match node {
        NodeEnum::SelectStmt(_) | NodeEnum::CommonTableExpr(_) => statement(node, visitor),
        NodeEnum::SubLink(s) => {
            optional(s.testexpr.as_deref(), place, visitor);
            if let Some(query) = s.subselect.as_deref().and_then(inner) {
                statement(query, visitor);
            }
        }
        NodeEnum::FuncCall(f) => {
            // An aggregate's FILTER decides which rows it counts.
            let filter = f.agg_filter.as_deref();
            crate::analysis::for_each_child(node, &mut |child| {
                let place = if filter.is_some_and(|f| std::ptr::eq(f, child)) {
                    Place::Filter
                } else {
                    place
                };
                expression(child, place, visitor);
            });
        }
        _ => crate::analysis::for_each_child(node, &mut |child| expression(child, place, visitor)),
    }
}
