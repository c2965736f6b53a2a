//! Reading and editing pg_query's parse tree for the lint rules: names, constants, scopes,
//! and the rewrites, built as trees and deparsed so they are valid SQL.

use pg_query::protobuf::a_const::Val;
use pg_query::protobuf::{
    AConst, AExpr, AExprKind, BoolExpr, BoolExprType, CoercionForm, ColumnRef, InsertStmt, Integer,
    LimitOption, Node, ParamRef, ParseResult, RangeVar, RawStmt, ResTarget, RowExpr, SelectStmt,
    SetOperation, SortByDir, SortByNulls, SubLink, SubLinkType,
};
use pg_query::NodeEnum;

use crate::quote::quote_ident;

pub(super) fn node(inner: NodeEnum) -> Node {
    Node { node: Some(inner) }
}

fn boxed(inner: NodeEnum) -> Option<Box<Node>> {
    Some(Box::new(node(inner)))
}

fn string(text: &str) -> Node {
    node(NodeEnum::String(pg_query::protobuf::String {
        sval: text.to_string(),
    }))
}

fn integer(value: i32) -> Node {
    node(NodeEnum::AConst(AConst {
        isnull: false,
        location: -1,
        val: Some(Val::Ival(Integer { ival: value })),
    }))
}

fn operator(op: &str, left: Node, right: Node) -> Node {
    node(NodeEnum::AExpr(Box::new(AExpr {
        kind: AExprKind::AexprOp as i32,
        name: vec![string(op)],
        lexpr: Some(Box::new(left)),
        rexpr: Some(Box::new(right)),
        location: -1,
    })))
}

fn and(left: Option<Node>, right: Node) -> Node {
    match left {
        None => right,
        Some(left) => node(NodeEnum::BoolExpr(Box::new(BoolExpr {
            xpr: None,
            boolop: BoolExprType::AndExpr as i32,
            args: vec![left, right],
            location: -1,
        }))),
    }
}

fn not(inner: Node) -> Node {
    node(NodeEnum::BoolExpr(Box::new(BoolExpr {
        xpr: None,
        boolop: BoolExprType::NotExpr as i32,
        args: vec![inner],
        location: -1,
    })))
}

fn exists(subselect: SelectStmt) -> Node {
    node(NodeEnum::SubLink(Box::new(SubLink {
        xpr: None,
        sub_link_type: SubLinkType::ExistsSublink as i32,
        sub_link_id: 0,
        testexpr: None,
        oper_name: Vec::new(),
        subselect: boxed(NodeEnum::SelectStmt(Box::new(subselect))),
        location: -1,
    })))
}

fn target(value: Node) -> Node {
    node(NodeEnum::ResTarget(Box::new(ResTarget {
        name: String::new(),
        indirection: Vec::new(),
        val: Some(Box::new(value)),
        location: -1,
    })))
}

/// A SELECT with nothing in it. Enum fields must hold defined values: libpg_query aborts
/// the process on an undefined one (`SelectStmt::default()` has 0 for them).
fn empty_select() -> SelectStmt {
    SelectStmt {
        op: SetOperation::SetopNone as i32,
        limit_option: LimitOption::Default as i32,
        ..SelectStmt::default()
    }
}

fn deparse_statement(statement: NodeEnum, version: i32) -> Option<String> {
    pg_query::deparse(&ParseResult {
        version,
        stmts: vec![RawStmt {
            stmt: boxed(statement),
            stmt_location: 0,
            stmt_len: 0,
        }],
    })
    .ok()
}

/// Deparses an expression on its own, by deparsing `SELECT WHERE <expr>` and taking the
/// condition back out: the deparser only prints whole statements.
pub(crate) fn deparse_condition(condition: Node, version: i32) -> Option<String> {
    let select = SelectStmt {
        where_clause: Some(Box::new(condition)),
        ..empty_select()
    };
    let text = deparse_statement(NodeEnum::SelectStmt(Box::new(select)), version)?;
    text.strip_prefix("SELECT WHERE ").map(str::to_string)
}

/// `schema.table` as written, quoted where needed.
pub(super) fn range_var_name(relation: &RangeVar) -> String {
    if relation.schemaname.is_empty() {
        quote_ident(&relation.relname)
    } else {
        format!(
            "{}.{}",
            quote_ident(&relation.schemaname),
            quote_ident(&relation.relname)
        )
    }
}

/// Locations of `*` and `t.*` in the output of `select` and of its UNION branches.
pub(super) fn outer_star_locations(select: &SelectStmt, out: &mut Vec<i32>) {
    for branch in [select.larg.as_deref(), select.rarg.as_deref()]
        .into_iter()
        .flatten()
    {
        outer_star_locations(branch, out);
    }
    for item in &select.target_list {
        let Some(NodeEnum::ResTarget(target)) = item.node.as_ref() else {
            continue;
        };
        if let Some(NodeEnum::ColumnRef(column)) =
            target.val.as_deref().and_then(|v| v.node.as_ref())
        {
            let star = column
                .fields
                .iter()
                .any(|f| matches!(f.node, Some(NodeEnum::AStar(_))));
            if star {
                out.push(column.location);
            }
        }
    }
}

/// An integer constant's value.
pub(super) fn int_value(constant: &AConst) -> Option<i64> {
    match constant.val.as_ref()? {
        Val::Ival(i) => Some(i64::from(i.ival)),
        // Integers beyond 32 bits arrive as "float" text.
        Val::Fval(f) => f.fval.parse().ok(),
        _ => None,
    }
}

/// The operator of an expression: the last name part (`=`, `~~`, `pg_catalog.=`).
pub(super) fn operator_name(name: &[Node]) -> Option<String> {
    name.iter().rev().find_map(|n| match n.node.as_ref() {
        Some(NodeEnum::String(s)) => Some(s.sval.clone()),
        _ => None,
    })
}

/// The text of a string constant, also under a cast (`'%x'::text`).
pub(super) fn string_const(value: &Node) -> Option<String> {
    match value.node.as_ref()? {
        NodeEnum::AConst(AConst {
            val: Some(Val::Sval(s)),
            ..
        }) => Some(s.sval.clone()),
        NodeEnum::TypeCast(cast) => cast.arg.as_deref().and_then(string_const),
        _ => None,
    }
}

/// A column as written: `email`, `u.email`, `public.users.email`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ColumnName {
    pub qualifier: Option<String>,
    pub name: String,
}

impl ColumnName {
    pub fn display(&self) -> String {
        match &self.qualifier {
            Some(q) => format!("{q}.{}", self.name),
            None => self.name.clone(),
        }
    }
}

fn column_name(column: &ColumnRef) -> Option<ColumnName> {
    let parts: Vec<&str> = column
        .fields
        .iter()
        .map(|f| match f.node.as_ref() {
            Some(NodeEnum::String(s)) => Some(s.sval.as_str()),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    let (name, qualifier) = parts.split_last()?;
    Some(ColumnName {
        // The table part: `u` of `u.email`, `users` of `public.users.email`.
        qualifier: qualifier.last().map(|q| q.to_string()),
        name: name.to_string(),
    })
}

/// The column a node is, when it is a plain column reference.
pub(super) fn column_ref(value: &Node) -> Option<ColumnName> {
    match value.node.as_ref()? {
        NodeEnum::ColumnRef(c) => column_name(c),
        _ => None,
    }
}

/// Every column an expression mentions, not looking into subqueries.
pub(super) fn columns_in(value: &Node, out: &mut Vec<ColumnName>) {
    let Some(inner) = value.node.as_ref() else {
        return;
    };
    match inner {
        NodeEnum::ColumnRef(c) => out.extend(column_name(c)),
        NodeEnum::AExpr(e) => {
            for side in [e.lexpr.as_deref(), e.rexpr.as_deref()]
                .into_iter()
                .flatten()
            {
                columns_in(side, out);
            }
        }
        NodeEnum::BoolExpr(e) => e.args.iter().for_each(|a| columns_in(a, out)),
        NodeEnum::FuncCall(f) => f.args.iter().for_each(|a| columns_in(a, out)),
        NodeEnum::TypeCast(t) => {
            if let Some(arg) = t.arg.as_deref() {
                columns_in(arg, out);
            }
        }
        NodeEnum::NullTest(t) => {
            if let Some(arg) = t.arg.as_deref() {
                columns_in(arg, out);
            }
        }
        NodeEnum::List(l) => l.items.iter().for_each(|a| columns_in(a, out)),
        NodeEnum::RowExpr(r) => r.args.iter().for_each(|a| columns_in(a, out)),
        NodeEnum::SubLink(s) => {
            if let Some(test) = s.testexpr.as_deref() {
                columns_in(test, out);
            }
        }
        _ => {}
    }
}

pub(super) fn references_column(value: &Node) -> bool {
    let mut found = Vec::new();
    columns_in(value, &mut found);
    !found.is_empty()
}

/// The tables a statement's columns can belong to, by the name its columns use for them.
#[derive(Debug, Clone, Default)]
pub(super) struct Scope {
    /// (name used in the query: alias or table name, table as written).
    tables: Vec<(String, String)>,
}

impl Scope {
    pub fn of_select(select: &SelectStmt) -> Scope {
        let mut scope = Scope::default();
        for item in &select.from_clause {
            scope.add_from(item);
        }
        scope
    }

    pub fn of_write(statement: &NodeEnum) -> Scope {
        let mut scope = Scope::default();
        let (relation, others) = match statement {
            NodeEnum::UpdateStmt(u) => (u.relation.as_ref(), &u.from_clause),
            NodeEnum::DeleteStmt(d) => (d.relation.as_ref(), &d.using_clause),
            _ => return scope,
        };
        if let Some(relation) = relation {
            scope.add_range_var(relation);
        }
        for item in others {
            scope.add_from(item);
        }
        scope
    }

    fn add_range_var(&mut self, relation: &RangeVar) {
        let used = relation
            .alias
            .as_ref()
            .map(|a| a.aliasname.clone())
            .unwrap_or_else(|| relation.relname.clone());
        self.tables.push((used, range_var_name(relation)));
    }

    fn add_from(&mut self, item: &Node) {
        match item.node.as_ref() {
            Some(NodeEnum::RangeVar(relation)) => self.add_range_var(relation),
            Some(NodeEnum::JoinExpr(join)) => {
                for side in [join.larg.as_deref(), join.rarg.as_deref()]
                    .into_iter()
                    .flatten()
                {
                    self.add_from(side);
                }
            }
            // A subquery or function in FROM is not a table an index can go on, but it is
            // in scope: an unqualified column might be its.
            Some(_) => self.tables.push((String::new(), String::new())),
            None => {}
        }
    }

    /// The table and (quoted) column a reference is tied to, when only one table can hold
    /// it: the one its qualifier names, or the only table in scope.
    pub fn resolve(&self, column: &ColumnName) -> Option<(String, String)> {
        let table = match &column.qualifier {
            Some(q) => self.tables.iter().find(|(used, _)| used == q)?,
            None if self.tables.len() == 1 => &self.tables[0],
            None => return None,
        };
        (!table.1.is_empty()).then(|| (table.1.clone(), quote_ident(&column.name)))
    }
}

/// The name of an index on `table` (schema dropped) from `parts`: `users_lower_email_idx`.
pub(super) fn index_name(table: &str, parts: &[&str], suffix: &str) -> String {
    let table = table.rsplit('.').next().unwrap_or(table).trim_matches('"');
    let mut all = vec![table];
    all.extend_from_slice(parts);
    all.push(suffix);
    crate::index_name(&all)
}

/// A function (or cast) around a column: `lower(email)`, `date_trunc('day', at)`,
/// `created_at::date`.
pub(super) struct WrappedColumn {
    pub function: String,
    pub column: ColumnName,
    pub location: i32,
    /// The arguments as SQL, the column's place marked by `None`.
    args: Vec<Option<String>>,
    cast: bool,
}

impl WrappedColumn {
    /// The expression with `column` (quoted) in the column's place.
    pub fn render(&self, column: &str) -> String {
        if self.cast {
            return format!("{column}::{}", self.function);
        }
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| a.clone().unwrap_or_else(|| column.to_string()))
            .collect();
        format!("{}({})", self.function, args.join(", "))
    }

    /// Truncating a timestamp to a date: better served by a range on the bare column (and
    /// on timestamptz not indexable at all, the result depends on the time zone).
    pub fn is_date_truncation(&self) -> bool {
        matches!(self.function.as_str(), "date" | "date_trunc")
    }
}

/// A constant argument as SQL, for rendering an expression index.
fn constant_sql(value: &Node) -> Option<String> {
    match value.node.as_ref()? {
        NodeEnum::AConst(AConst { val: Some(v), .. }) => Some(match v {
            Val::Ival(i) => i.ival.to_string(),
            Val::Fval(f) => f.fval.clone(),
            Val::Sval(s) => format!("'{}'", s.sval.replace('\'', "''")),
            Val::Boolval(b) => b.boolval.to_string(),
            Val::Bsval(b) => b.bsval.clone(),
        }),
        _ => None,
    }
}

pub(super) fn wrapped_column(value: &Node) -> Option<WrappedColumn> {
    match value.node.as_ref()? {
        NodeEnum::FuncCall(call) => {
            // Aggregates and window functions are not filters on a column's rows.
            if call.agg_star || call.over.is_some() || call.args.is_empty() {
                return None;
            }
            let function = call
                .funcname
                .iter()
                .filter_map(|n| match n.node.as_ref() {
                    Some(NodeEnum::String(s)) if s.sval != "pg_catalog" => Some(s.sval.clone()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join(".");
            if matches!(
                function.as_str(),
                "count" | "sum" | "avg" | "min" | "max" | "coalesce"
            ) {
                return None;
            }
            let mut column = None;
            let mut args = Vec::new();
            for arg in &call.args {
                match column_ref(arg) {
                    Some(c) if column.is_none() => {
                        column = Some(c);
                        args.push(None);
                    }
                    Some(_) => return None,
                    None => args.push(Some(constant_sql(arg)?)),
                }
            }
            Some(WrappedColumn {
                function,
                column: column?,
                location: call.location,
                args,
                cast: false,
            })
        }
        NodeEnum::TypeCast(cast) => {
            let column = column_ref(cast.arg.as_deref()?)?;
            let type_name = cast.type_name.as_ref()?;
            let name = type_name
                .names
                .iter()
                .rev()
                .find_map(|n| match n.node.as_ref() {
                    Some(NodeEnum::String(s)) if s.sval != "pg_catalog" => Some(s.sval.clone()),
                    _ => None,
                })?;
            let function = match name.as_str() {
                "date" => "date".to_string(),
                "text" | "varchar" | "bpchar" => name,
                // Casts to other types are usually about comparing with a parameter of
                // another type, and not worth an expression index.
                _ => return None,
            };
            Some(WrappedColumn {
                function,
                column,
                location: cast.location,
                args: vec![None],
                cast: true,
            })
        }
        _ => None,
    }
}

/// Whether a node is `count(*)` (or `count(1)`), or a scalar subquery that returns one.
pub(super) fn is_count_star(value: &Node) -> bool {
    match value.node.as_ref() {
        Some(NodeEnum::FuncCall(call)) => {
            let is_count = operator_name(&call.funcname).as_deref() == Some("count");
            let star_or_constant = call.agg_star
                || (call.args.len() == 1 && matches!(call.args[0].node, Some(NodeEnum::AConst(_))));
            is_count && star_or_constant && call.over.is_none()
        }
        Some(NodeEnum::SubLink(link)) => {
            SubLinkType::try_from(link.sub_link_type) == Ok(SubLinkType::ExprSublink)
                && match link.subselect.as_deref().and_then(|s| s.node.as_ref()) {
                    Some(NodeEnum::SelectStmt(select)) => {
                        select.group_clause.is_empty()
                            && select.target_list.len() == 1
                            && single_target(select).is_some_and(is_count_star)
                    }
                    _ => false,
                }
        }
        _ => false,
    }
}

fn single_target(select: &SelectStmt) -> Option<&Node> {
    match select.target_list.first()?.node.as_ref()? {
        NodeEnum::ResTarget(t) => t.val.as_deref(),
        _ => None,
    }
}

/// Whether `left op right` tests that rows exist (`Some(true)`), that none do
/// (`Some(false)`), or is no existence test.
pub(super) fn existence_test(left: &Node, op: &str, right: &Node) -> Option<bool> {
    let (count_left, constant) = if is_count_star(left) {
        (true, right)
    } else if is_count_star(right) {
        (false, left)
    } else {
        return None;
    };
    let value = match constant.node.as_ref()? {
        NodeEnum::AConst(c) => int_value(c)?,
        _ => return None,
    };
    // Normalize to `count op value`.
    let op = if count_left {
        op.to_string()
    } else {
        match op {
            "<" => ">".to_string(),
            ">" => "<".to_string(),
            "<=" => ">=".to_string(),
            ">=" => "<=".to_string(),
            other => other.to_string(),
        }
    };
    match (op.as_str(), value) {
        (">", 0) | (">=", 1) | ("<>", 0) | ("!=", 0) => Some(true),
        ("=", 0) | ("<", 1) | ("<=", 0) => Some(false),
        _ => None,
    }
}

/// `(SELECT count(*) FROM ...) > 0` becomes `EXISTS (SELECT 1 FROM ...)`.
pub(super) fn exists_fragment(subselect: &Node, positive: bool, version: i32) -> Option<String> {
    let Some(NodeEnum::SelectStmt(select)) = subselect.node.as_ref() else {
        return None;
    };
    let mut inner = (**select).clone();
    inner.target_list = vec![target(integer(1))];
    let test = exists(inner);
    deparse_condition(if positive { test } else { not(test) }, version)
}

/// `SELECT count(*) > 0 FROM t WHERE ...` becomes `SELECT EXISTS (SELECT 1 FROM t WHERE ...)`.
pub(super) fn exists_statement(
    select: &SelectStmt,
    positive: bool,
    version: i32,
) -> Option<String> {
    if select.target_list.len() != 1
        || !select.group_clause.is_empty()
        || select.from_clause.is_empty()
    {
        return None;
    }
    let mut inner = select.clone();
    inner.target_list = vec![target(integer(1))];
    let test = exists(inner);
    let outer = SelectStmt {
        target_list: vec![target(if positive { test } else { not(test) })],
        ..empty_select()
    };
    deparse_statement(NodeEnum::SelectStmt(Box::new(outer)), version)
}

/// `x NOT IN (SELECT c FROM t WHERE w)` becomes `NOT EXISTS (SELECT 1 FROM t WHERE w AND c = x)`,
/// when the subquery is simple enough for that to mean the same (one output, no
/// grouping, no limit, no set operation).
pub(super) fn not_exists_rewrite(link: &SubLink, version: i32) -> Option<String> {
    let test = link.testexpr.as_deref()?;
    if matches!(test.node, Some(NodeEnum::RowExpr(_))) {
        return None;
    }
    let Some(NodeEnum::SelectStmt(select)) =
        link.subselect.as_deref().and_then(|s| s.node.as_ref())
    else {
        return None;
    };
    let simple = select.target_list.len() == 1
        && select.group_clause.is_empty()
        && select.having_clause.is_none()
        && select.limit_count.is_none()
        && select.distinct_clause.is_empty()
        && SetOperation::try_from(select.op) == Ok(SetOperation::SetopNone);
    if !simple {
        return None;
    }
    let output = single_target(select)?.clone();
    let mut inner = (**select).clone();
    inner.target_list = vec![target(integer(1))];
    inner.where_clause = Some(Box::new(and(
        inner.where_clause.take().map(|w| *w),
        operator("=", output, test.clone()),
    )));
    deparse_condition(not(exists(inner)), version)
}

/// Keyset pagination for a SELECT with OFFSET: drop the OFFSET and continue after the
/// last row seen, `(sort columns) > ($n, ...)`, when the ORDER BY is plain columns all in
/// one direction with default NULLS placement.
pub(super) fn keyset_rewrite(select: &SelectStmt, version: i32, text: &str) -> Option<String> {
    if select.sort_clause.is_empty() {
        return None;
    }
    let mut columns = Vec::new();
    let mut descending = None;
    for item in &select.sort_clause {
        let Some(NodeEnum::SortBy(sort)) = item.node.as_ref() else {
            return None;
        };
        let column = sort.node.as_deref()?;
        column_ref(column)?;
        let dir = SortByDir::try_from(sort.sortby_dir).ok()?;
        let nulls = SortByNulls::try_from(sort.sortby_nulls).ok()?;
        if !matches!(
            nulls,
            SortByNulls::SortbyNullsDefault | SortByNulls::Undefined
        ) {
            return None;
        }
        let desc = match dir {
            SortByDir::SortbyDesc => true,
            SortByDir::SortbyAsc | SortByDir::SortbyDefault | SortByDir::Undefined => false,
            SortByDir::SortbyUsing => return None,
        };
        if *descending.get_or_insert(desc) != desc {
            return None;
        }
        columns.push(column.clone());
    }
    let first_param = crate::normalize::highest_parameter(text) + 1;
    let params: Vec<Node> = (0..columns.len())
        .map(|i| {
            node(NodeEnum::ParamRef(ParamRef {
                number: i32::try_from(first_param + i as u64).unwrap_or(i32::MAX),
                location: -1,
            }))
        })
        .collect();
    let op = if descending == Some(true) { "<" } else { ">" };
    let condition = if columns.len() == 1 {
        operator(op, columns.remove(0), params.into_iter().next()?)
    } else {
        let row = |args: Vec<Node>| {
            node(NodeEnum::RowExpr(Box::new(RowExpr {
                xpr: None,
                args,
                row_typeid: 0,
                row_format: CoercionForm::CoerceImplicitCast as i32,
                colnames: Vec::new(),
                location: -1,
            })))
        };
        operator(op, row(columns), row(params))
    };
    let mut keyset = select.clone();
    keyset.limit_offset = None;
    keyset.where_clause = Some(Box::new(and(
        keyset.where_clause.take().map(|w| *w),
        condition,
    )));
    deparse_statement(NodeEnum::SelectStmt(Box::new(keyset)), version)
}

/// One INSERT with every row of a run of single-row INSERTs.
pub(super) fn multi_row_insert(
    template: &InsertStmt,
    rows: Vec<Node>,
    version: i32,
) -> Option<String> {
    let mut insert = template.clone();
    let Some(NodeEnum::SelectStmt(values)) = insert
        .select_stmt
        .as_deref_mut()
        .and_then(|n| n.node.as_mut())
    else {
        return None;
    };
    values.values_lists = rows;
    deparse_statement(NodeEnum::InsertStmt(Box::new(insert)), version)
}
