//! The walk over a statement: query levels, `WITH`, `FROM`, target lists, `GROUP BY`,
//! `ORDER BY`, `LIMIT`, and every expression in between (for subqueries and volatile
//! functions). Predicates are in `predicates.rs`.

use std::ops::Range;

use pg_query::protobuf::{
    a_const, CommonTableExpr, DeleteStmt, InsertStmt, JoinExpr, MergeStmt, RangeVar, SelectStmt,
    SortBy, SortByDir, SortByNulls, SubLinkType, UpdateStmt, WithClause,
};
use pg_query::{Node, NodeEnum};

use super::cacheable::{is_live_system_view, is_volatile, row_lock, sql_value_function};
use super::expr::{as_column, column_refs, for_each_child, last_name, string_value, strip_casts};
use super::kind::{named_tables, statement_kind, table_name, Access};
use super::predicates::Filter;
use super::scope::{Cte, Derived, Entry, Origin, RefId, Resolved, Scope, Source};
use super::{
    Bound, ColumnUsage, NotCacheable, NullsOrder, OrderColumn, OutputColumn, SortDirection,
    StatementAnalysis, StatementKind, TableName, TableUsage, UnresolvedColumn,
};

/// Analyzes one parsed statement.
pub(super) fn analyze_statement(node: &NodeEnum) -> StatementAnalysis {
    let kind = statement_kind(node);
    let mut analyzer = Analyzer::default();
    analyzer.statement(node);
    analyzer.finish(kind)
}

/// What a query level is there for, which decides what of it the statement reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The statement itself: its `LIMIT` and `OFFSET` are the statement's.
    Statement,
    /// A subquery, CTE or set-operation arm.
    Subquery,
    /// The query of an `EXISTS`: its target list is never read, so it outputs nothing.
    Exists,
}

/// The state of one statement's analysis.
#[derive(Debug, Default)]
pub(super) struct Analyzer {
    pub(super) tables: Vec<TableUsage>,
    reads: Vec<TableName>,
    writes: Vec<TableName>,
    not_cacheable: Vec<NotCacheable>,
    functions: Vec<String>,
    unresolved: Vec<UnresolvedColumn>,
    limit: Option<Bound>,
    offset: Option<Bound>,
    pub(super) scope: Scope,
}

/// Appends `item` unless `items` already holds it: the lists of an analysis are sets that
/// keep the order of the text.
pub(super) fn push_unique<T: PartialEq>(items: &mut Vec<T>, item: T) {
    if !items.contains(&item) {
        items.push(item);
    }
}

impl Analyzer {
    fn finish(mut self, kind: StatementKind) -> StatementAnalysis {
        if kind != StatementKind::Select {
            self.not_cacheable.insert(0, NotCacheable::NotASelect);
        }
        StatementAnalysis {
            kind,
            reads: self.reads,
            writes: self.writes,
            cacheable: self.not_cacheable.is_empty(),
            not_cacheable: self.not_cacheable,
            functions: self.functions,
            tables: self.tables,
            limit: self.limit,
            offset: self.offset,
            unresolved: self.unresolved,
        }
    }

    fn statement(&mut self, node: &NodeEnum) {
        match node {
            NodeEnum::SelectStmt(select) => {
                self.select(select, Role::Statement);
                if let Some(target) = select.into_clause.as_ref().and_then(|i| i.rel.as_ref()) {
                    self.write(table_name(target));
                }
            }
            NodeEnum::InsertStmt(insert) => {
                self.insert(insert);
            }
            NodeEnum::UpdateStmt(update) => {
                self.update(update);
            }
            NodeEnum::DeleteStmt(delete) => {
                self.delete(delete);
            }
            NodeEnum::MergeStmt(merge) => {
                self.merge(merge);
            }
            NodeEnum::ExplainStmt(explain) => self.carried(explain.query.as_deref()),
            NodeEnum::PrepareStmt(prepare) => self.carried(prepare.query.as_deref()),
            NodeEnum::DeclareCursorStmt(cursor) => self.carried(cursor.query.as_deref()),
            NodeEnum::CreateTableAsStmt(create) => {
                let into = create.into.as_deref();
                // `WITH NO DATA` defines the table without running the query.
                if !into.is_some_and(|i| i.skip_data) {
                    self.carried(create.query.as_deref());
                }
                if let Some(target) = into.and_then(|i| i.rel.as_ref()) {
                    self.write(table_name(target));
                }
            }
            NodeEnum::CopyStmt(copy) => {
                if let Some(relation) = &copy.relation {
                    if copy.is_from {
                        self.write(table_name(relation));
                    } else {
                        self.read(table_name(relation));
                    }
                }
                self.carried(copy.query.as_deref());
            }
            other => {
                for (table, access) in named_tables(other) {
                    match access {
                        Access::Read => self.read(table),
                        Access::Write => self.write(table),
                    }
                }
            }
        }
    }

    /// The statement inside `EXPLAIN`, `PREPARE`, `DECLARE CURSOR`, `COPY (...)` or
    /// `CREATE TABLE AS`, analyzed as if it stood alone.
    fn carried(&mut self, query: Option<&Node>) {
        if let Some(query) = query.and_then(|q| q.node.as_ref()) {
            self.statement(query);
        }
    }

    /// A query that is part of the statement: a subquery, a CTE body, an `INSERT`'s source.
    /// Returns the columns it offers to the query around it.
    fn nested(&mut self, query: &Node, role: Role) -> Derived {
        match query.node.as_ref() {
            Some(NodeEnum::SelectStmt(select)) => self.select(select, role),
            Some(NodeEnum::InsertStmt(insert)) => self.insert(insert),
            Some(NodeEnum::UpdateStmt(update)) => self.update(update),
            Some(NodeEnum::DeleteStmt(delete)) => self.delete(delete),
            Some(NodeEnum::MergeStmt(merge)) => self.merge(merge),
            _ => Derived::default(),
        }
    }

    fn select(&mut self, select: &SelectStmt, role: Role) -> Derived {
        self.scope.push();
        if let Some(with) = &select.with_clause {
            self.with_clause(with);
        }
        let arm_role = match role {
            Role::Exists => Role::Exists,
            Role::Statement | Role::Subquery => Role::Subquery,
        };
        let derived = match (select.larg.as_deref(), select.rarg.as_deref()) {
            // A set operation: each arm is a query of its own; the result's columns come
            // from both, so none is a single table's.
            (Some(left), Some(right)) => {
                let left = self.select(left, arm_role);
                self.select(right, arm_role);
                self.visit_all(&select.sort_clause);
                left.computed()
            }
            _ if !select.values_lists.is_empty() => {
                self.visit_all(&select.values_lists);
                let width = match select
                    .values_lists
                    .first()
                    .and_then(|row| row.node.as_ref())
                {
                    Some(NodeEnum::List(row)) => row.items.len(),
                    _ => 0,
                };
                Derived {
                    columns: (1..=width)
                        .map(|i| (format!("column{i}"), Origin::Computed))
                        .collect(),
                    star: None,
                }
            }
            _ => self.query_body(select, role),
        };
        for bound in [&select.limit_count, &select.limit_offset] {
            if let Some(bound) = bound.as_deref() {
                self.visit_expr(bound);
            }
        }
        if role == Role::Statement {
            self.limit = select.limit_count.as_deref().and_then(bound);
            self.offset = select.limit_offset.as_deref().and_then(bound);
        }
        for clause in &select.locking_clause {
            if let Some(NodeEnum::LockingClause(clause)) = clause.node.as_ref() {
                if let Some(lock) = row_lock(clause.strength) {
                    self.not_cacheable(NotCacheable::RowLock(lock));
                }
            }
        }
        self.scope.pop();
        derived
    }

    /// A plain `SELECT ... FROM ... WHERE ...`, in the order PostgreSQL evaluates names.
    fn query_body(&mut self, select: &SelectStmt, role: Role) -> Derived {
        for item in &select.from_clause {
            self.range_item(item);
        }
        if let Some(condition) = select.where_clause.as_deref() {
            self.filter(condition, Filter::CONDITION);
        }
        let derived = self.target_list(&select.target_list, role != Role::Exists);
        self.group_by(&select.group_clause, &select.target_list);
        if let Some(having) = select.having_clause.as_deref() {
            self.filter(having, Filter::HAVING);
        }
        self.order_by(&select.sort_clause, &select.target_list);
        self.visit_all(&select.distinct_clause);
        self.visit_all(&select.window_clause);
        derived
    }

    fn insert(&mut self, insert: &InsertStmt) -> Derived {
        self.scope.push();
        if let Some(with) = &insert.with_clause {
            self.with_clause(with);
        }
        if let Some(target) = &insert.relation {
            self.add_table(target, Access::Write);
        }
        if let Some(source) = insert.select_stmt.as_deref() {
            // The source query cannot see the target.
            self.hidden(true, |a| a.nested(source, Role::Subquery));
        }
        if let Some(conflict) = insert.on_conflict_clause.as_deref() {
            if let Some(condition) = conflict
                .infer
                .as_ref()
                .and_then(|i| i.where_clause.as_deref())
            {
                self.visit_expr(condition);
            }
            self.visit_all(&conflict.target_list);
            if let Some(condition) = conflict.where_clause.as_deref() {
                self.visit_expr(condition);
            }
        }
        let derived = self.target_list(&insert.returning_list, true);
        self.scope.pop();
        derived
    }

    fn update(&mut self, update: &UpdateStmt) -> Derived {
        self.scope.push();
        if let Some(with) = &update.with_clause {
            self.with_clause(with);
        }
        if let Some(target) = &update.relation {
            self.add_table(target, Access::Write);
        }
        for item in &update.from_clause {
            self.range_item(item);
        }
        if let Some(condition) = update.where_clause.as_deref() {
            self.filter(condition, Filter::CONDITION);
        }
        self.visit_all(&update.target_list);
        let derived = self.target_list(&update.returning_list, true);
        self.scope.pop();
        derived
    }

    fn delete(&mut self, delete: &DeleteStmt) -> Derived {
        self.scope.push();
        if let Some(with) = &delete.with_clause {
            self.with_clause(with);
        }
        if let Some(target) = &delete.relation {
            self.add_table(target, Access::Write);
        }
        for item in &delete.using_clause {
            self.range_item(item);
        }
        if let Some(condition) = delete.where_clause.as_deref() {
            self.filter(condition, Filter::CONDITION);
        }
        let derived = self.target_list(&delete.returning_list, true);
        self.scope.pop();
        derived
    }

    fn merge(&mut self, merge: &MergeStmt) -> Derived {
        self.scope.push();
        if let Some(with) = &merge.with_clause {
            self.with_clause(with);
        }
        if let Some(target) = &merge.relation {
            self.add_table(target, Access::Write);
        }
        if let Some(source) = merge.source_relation.as_deref() {
            self.range_item(source);
        }
        if let Some(condition) = merge.join_condition.as_deref() {
            self.filter(condition, Filter::CONDITION);
        }
        for clause in &merge.merge_when_clauses {
            if let Some(NodeEnum::MergeWhenClause(clause)) = clause.node.as_ref() {
                if let Some(condition) = clause.condition.as_deref() {
                    self.visit_expr(condition);
                }
                self.visit_all(&clause.target_list);
                self.visit_all(&clause.values);
            }
        }
        let derived = self.target_list(&merge.returning_list, true);
        self.scope.pop();
        derived
    }

    /// Defines a `WITH` clause's CTEs on the current level. Each body is a query of its own
    /// that sees the CTEs before it; in `WITH RECURSIVE`, every CTE of the clause, itself
    /// included, with its columns unknown until its body is done.
    fn with_clause(&mut self, with: &WithClause) {
        let ctes: Vec<&CommonTableExpr> = with
            .ctes
            .iter()
            .filter_map(|node| match node.node.as_ref()? {
                NodeEnum::CommonTableExpr(cte) => Some(cte.as_ref()),
                _ => None,
            })
            .collect();
        if with.recursive {
            for cte in &ctes {
                let columns = strings(&cte.aliascolnames).into_iter().map(str::to_string);
                self.define_cte(Cte {
                    name: cte.ctename.clone(),
                    source: Source::Opaque(columns.collect()),
                });
            }
        }
        for cte in ctes {
            let Some(query) = cte.ctequery.as_deref() else {
                continue;
            };
            if !matches!(query.node, Some(NodeEnum::SelectStmt(_))) {
                self.not_cacheable(NotCacheable::DataModifyingCte);
            }
            let mut derived = self.hidden(true, |a| a.nested(query, Role::Subquery));
            derived.rename(&strings(&cte.aliascolnames));
            self.define_cte(Cte {
                name: cte.ctename.clone(),
                source: Source::Derived(derived),
            });
        }
    }

    /// Adds a CTE to the current level, replacing the placeholder of a recursive one.
    fn define_cte(&mut self, cte: Cte) {
        if let Some(level) = self.scope.current() {
            match level.ctes.iter_mut().find(|c| c.name == cte.name) {
                Some(placeholder) => *placeholder = cte,
                None => level.ctes.push(cte),
            }
        }
    }

    /// Runs `f` with the current level's entries out of sight (or in sight), then restores
    /// them: a non-`LATERAL` subquery in `FROM`, a CTE body and an `INSERT`'s source cannot
    /// see the query they sit in.
    fn hidden<T>(&mut self, hide: bool, f: impl FnOnce(&mut Self) -> T) -> T {
        let was = self
            .scope
            .current()
            .map(|level| std::mem::replace(&mut level.hidden, hide));
        let result = f(self);
        if let (Some(was), Some(level)) = (was, self.scope.current()) {
            level.hidden = was;
        }
        result
    }

    /// An item of a `FROM` or `USING` list (a range table entry, in PostgreSQL's words).
    fn range_item(&mut self, item: &Node) {
        let Some(item) = item.node.as_ref() else {
            return;
        };
        match item {
            NodeEnum::RangeVar(relation) => self.range_var(relation),
            NodeEnum::RangeSubselect(subselect) => {
                let Some(query) = subselect.subquery.as_deref() else {
                    return;
                };
                let mut derived =
                    self.hidden(!subselect.lateral, |a| a.nested(query, Role::Subquery));
                let alias = subselect.alias.as_ref();
                derived.rename(&alias.map_or_else(Vec::new, |a| strings(&a.colnames)));
                self.add_entry(Entry {
                    name: alias.map_or_else(String::new, |a| a.aliasname.clone()),
                    schema: None,
                    schema_qualifiable: false,
                    unqualified: true,
                    source: Source::Derived(derived),
                });
            }
            NodeEnum::RangeFunction(function) => {
                let mut names = Vec::new();
                let mut columns = Vec::new();
                for pair in &function.functions {
                    // Each function is a list of the call and its column definitions.
                    let Some(NodeEnum::List(pair)) = pair.node.as_ref() else {
                        continue;
                    };
                    if let Some(call) = pair.items.first() {
                        self.visit_expr(call);
                        names.extend(function_name_of(call));
                    }
                    if let Some(NodeEnum::List(definitions)) =
                        pair.items.get(1).and_then(|d| d.node.as_ref())
                    {
                        columns.extend(column_definitions(&definitions.items));
                    }
                }
                columns.extend(column_definitions(&function.coldeflist));
                let alias = function.alias.as_ref();
                let name = alias
                    .map(|a| a.aliasname.clone())
                    .or_else(|| names.first().cloned())
                    .unwrap_or_default();
                let aliased: Vec<String> = alias.map_or_else(Vec::new, |a| {
                    strings(&a.colnames)
                        .into_iter()
                        .map(str::to_string)
                        .collect()
                });
                if !aliased.is_empty() {
                    columns = aliased;
                } else if columns.is_empty() && function.functions.len() == 1 {
                    // A function returning a scalar offers one column, named as the alias
                    // or, without one, as the function.
                    columns.push(name.clone());
                }
                self.add_entry(Entry {
                    name,
                    schema: None,
                    schema_qualifiable: false,
                    unqualified: true,
                    source: Source::Opaque(columns),
                });
            }
            NodeEnum::JoinExpr(join) => self.join(join),
            NodeEnum::RangeTableSample(sample) => {
                if let Some(relation) = sample.relation.as_deref() {
                    self.range_item(relation);
                }
                self.visit_all(&sample.args);
                match sample.repeatable.as_deref() {
                    Some(seed) => self.visit_expr(seed),
                    None => self.not_cacheable(NotCacheable::RandomSample),
                }
            }
            NodeEnum::RangeTableFunc(table) => {
                for expr in [&table.docexpr, &table.rowexpr].into_iter().flatten() {
                    self.visit_expr(expr);
                }
                let columns = table
                    .columns
                    .iter()
                    .filter_map(|c| match c.node.as_ref()? {
                        NodeEnum::RangeTableFuncCol(c) => Some(c.colname.clone()),
                        _ => None,
                    })
                    .collect();
                self.add_opaque(table.alias.as_ref(), columns);
            }
            NodeEnum::JsonTable(table) => {
                if let Some(context) = table
                    .context_item
                    .as_ref()
                    .and_then(|c| c.raw_expr.as_deref())
                {
                    self.visit_expr(context);
                }
                self.visit_all(&table.passing);
                let columns = table
                    .columns
                    .iter()
                    .filter_map(|c| match c.node.as_ref()? {
                        NodeEnum::JsonTableColumn(c) => Some(c.name.clone()),
                        _ => None,
                    })
                    .collect();
                self.add_opaque(table.alias.as_ref(), columns);
            }
            _ => {}
        }
    }

    /// A table, or a reference to a CTE.
    fn range_var(&mut self, relation: &RangeVar) {
        if relation.schemaname.is_empty() {
            if let Some(cte) = self.scope.cte(&relation.relname) {
                let mut source = cte.source.clone();
                let alias = relation.alias.as_ref();
                if let (Source::Derived(derived), Some(alias)) = (&mut source, alias) {
                    derived.rename(&strings(&alias.colnames));
                }
                self.add_entry(Entry {
                    name: alias.map_or_else(|| relation.relname.clone(), |a| a.aliasname.clone()),
                    schema: None,
                    schema_qualifiable: false,
                    unqualified: true,
                    source,
                });
                return;
            }
        }
        self.add_table(relation, Access::Read);
    }

    /// A new table reference, in scope on the current level.
    fn add_table(&mut self, relation: &RangeVar, access: Access) -> RefId {
        let table = table_name(relation);
        let alias = relation.alias.as_ref().map(|a| a.aliasname.as_str());
        match access {
            Access::Read => self.read(table.clone()),
            Access::Write => self.write(table.clone()),
        }
        let reference = self.tables.len();
        self.add_entry(Entry {
            name: alias.unwrap_or(&relation.relname).to_string(),
            schema: table.schema.clone(),
            schema_qualifiable: alias.is_none(),
            unqualified: true,
            source: Source::Table(reference, table.clone()),
        });
        self.tables.push(TableUsage::new(table, alias));
        reference
    }

    fn add_entry(&mut self, entry: Entry) {
        if let Some(level) = self.scope.current() {
            level.entries.push(entry);
        }
    }

    /// An entry for a table function (`XMLTABLE`, `JSON_TABLE`) or a join alias.
    fn add_opaque(&mut self, alias: Option<&pg_query::protobuf::Alias>, columns: Vec<String>) {
        let Some(alias) = alias else {
            return;
        };
        let aliased: Vec<String> = strings(&alias.colnames)
            .into_iter()
            .map(str::to_string)
            .collect();
        self.add_entry(Entry {
            name: alias.aliasname.clone(),
            schema: None,
            schema_qualifiable: false,
            unqualified: true,
            source: Source::Opaque(if aliased.is_empty() { columns } else { aliased }),
        });
    }

    fn entry_count(&self) -> usize {
        self.scope.entry_count()
    }

    fn join(&mut self, join: &JoinExpr) {
        let start = self.entry_count();
        if let Some(left) = join.larg.as_deref() {
            self.range_item(left);
        }
        let middle = self.entry_count();
        if let Some(right) = join.rarg.as_deref() {
            self.range_item(right);
        }
        let end = self.entry_count();
        for column in strings(&join.using_clause) {
            self.using_column(column, start..middle, middle..end);
        }
        if let Some(condition) = join.quals.as_deref() {
            self.filter(condition, Filter::CONDITION);
        }
        if let Some(alias) = &join.alias {
            let mut columns: Vec<String> = strings(&alias.colnames)
                .into_iter()
                .map(str::to_string)
                .collect();
            columns.extend(strings(&join.using_clause).into_iter().map(str::to_string));
            self.add_entry(Entry {
                name: alias.aliasname.clone(),
                schema: None,
                schema_qualifiable: false,
                unqualified: false,
                source: Source::Opaque(columns),
            });
        }
    }

    /// `JOIN ... USING (column)`: an equality between the column of the one entry on each
    /// side that has it.
    fn using_column(&mut self, column: &str, left: Range<usize>, right: Range<usize>) {
        let left = self.scope.resolve_in_current(left, column);
        let right = self.scope.resolve_in_current(right, column);
        match (left, right) {
            (Resolved::Column(l, l_column), Resolved::Column(r, r_column)) => {
                self.join_pair(l, &l_column, r, &r_column, false);
                self.join_pair(r, &r_column, l, &l_column, false);
            }
            (Resolved::Unresolved, _) | (_, Resolved::Unresolved) => {
                self.unresolved(column.to_string(), ColumnUsage::Join);
            }
            _ => {}
        }
    }

    /// A target list or `RETURNING` list: records what it outputs (unless `record` is false,
    /// for `EXISTS`) and returns the columns it offers to an enclosing query.
    fn target_list(&mut self, targets: &[Node], record: bool) -> Derived {
        let mut derived = Derived::default();
        for target in targets {
            let Some(NodeEnum::ResTarget(target)) = target.node.as_ref() else {
                continue;
            };
            let Some(value) = target.val.as_deref() else {
                continue;
            };
            if let Some(path) = as_column(value).filter(|p| p.column.is_none()) {
                let entries = self.star_entries(&path.qualifier);
                if record {
                    self.all_columns(&entries);
                    // Which of several tables has which column needs the catalog; a
                    // subquery's share of the `*` is its own target list, recorded there.
                    let tables = entries
                        .iter()
                        .filter(|e| matches!(e.source, Source::Table(..)))
                        .count();
                    if tables > 1 {
                        self.unresolved(path.text(), ColumnUsage::Output);
                    }
                }
                derived.star.get_or_insert_with(Vec::new).extend(entries);
                continue;
            }
            if record {
                self.outputs(value);
            }
            self.visit_expr(value);
            let name = match target.name.as_str() {
                "" => implied_name(value),
                name => name.to_string(),
            };
            let origin = match as_column(value).map(|path| self.scope.resolve(&path)) {
                Some(Resolved::Column(reference, column)) => Origin::Column(reference, column),
                Some(Resolved::Unresolved) => Origin::Unresolved,
                _ => Origin::Computed,
            };
            derived.columns.push((name, origin));
        }
        derived
    }

    /// What `*` (no qualifier) or `t.*` expands.
    fn star_entries(&self, qualifier: &[&str]) -> Vec<Entry> {
        if qualifier.is_empty() {
            self.scope.current_entries().cloned().collect()
        } else {
            self.scope.entry(qualifier).cloned().into_iter().collect()
        }
    }

    fn all_columns(&mut self, entries: &[Entry]) {
        for entry in entries {
            if let Source::Table(reference, _) = &entry.source {
                self.record(*reference, |t| {
                    push_unique(&mut t.outputs, OutputColumn::AllColumns)
                });
            }
        }
    }

    /// Records the columns an output expression reads.
    fn outputs(&mut self, value: &Node) {
        for path in column_refs(value) {
            if path.column.is_none() {
                let entries = self.star_entries(&path.qualifier);
                self.all_columns(&entries);
                continue;
            }
            match self.scope.resolve(&path) {
                Resolved::Column(reference, column) => self.record(reference, |t| {
                    push_unique(&mut t.outputs, OutputColumn::Column(column));
                }),
                Resolved::Unresolved => self.unresolved(path.text(), ColumnUsage::Output),
                Resolved::NotATable | Resolved::NotFound => {}
            }
        }
    }

    fn order_by(&mut self, sorts: &[Node], targets: &[Node]) {
        for sort in sorts {
            let Some(NodeEnum::SortBy(sort)) = sort.node.as_ref() else {
                continue;
            };
            let Some(expr) = sort.node.as_deref() else {
                continue;
            };
            self.visit_expr(expr);
            let Some(direction) = sort_direction(sort) else {
                continue;
            };
            let nulls = match SortByNulls::try_from(sort.sortby_nulls) {
                Ok(SortByNulls::SortbyNullsFirst) => NullsOrder::First,
                Ok(SortByNulls::SortbyNullsLast) => NullsOrder::Last,
                _ => NullsOrder::Default,
            };
            match self.sort_key(expr, targets, Names::OutputFirst) {
                Some((Resolved::Column(reference, column), _)) => self.record(reference, |t| {
                    push_unique(
                        &mut t.order_by,
                        OrderColumn {
                            column,
                            direction,
                            nulls,
                        },
                    );
                }),
                Some((Resolved::Unresolved, text)) => self.unresolved(text, ColumnUsage::OrderBy),
                _ => {}
            }
        }
    }

    fn group_by(&mut self, items: &[Node], targets: &[Node]) {
        for item in items {
            match item.node.as_ref() {
                // `GROUPING SETS ((a, b), (a), ())`, `ROLLUP (a, b)`, `CUBE (a, b)`.
                Some(NodeEnum::GroupingSet(set)) => self.group_by(&set.content, targets),
                Some(NodeEnum::RowExpr(row)) => self.group_by(&row.args, targets),
                _ => {
                    self.visit_expr(item);
                    match self.sort_key(item, targets, Names::InputFirst) {
                        Some((Resolved::Column(reference, column), _)) => {
                            self.record(reference, |t| push_unique(&mut t.group_by, column));
                        }
                        Some((Resolved::Unresolved, text)) => {
                            self.unresolved(text, ColumnUsage::GroupBy);
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// What an `ORDER BY` or `GROUP BY` item is, with the reference as written: an output
    /// column by position (`ORDER BY 2`) or by name, or an input column. PostgreSQL reads a
    /// bare name in `ORDER BY` as an output name first, and in `GROUP BY` as an input column
    /// first. `None` for expressions.
    fn sort_key(&self, item: &Node, targets: &[Node], names: Names) -> Option<(Resolved, String)> {
        if let Some(NodeEnum::AConst(constant)) = item.node.as_ref() {
            let Some(a_const::Val::Ival(position)) = &constant.val else {
                return None;
            };
            let index = usize::try_from(position.ival).ok()?.checked_sub(1)?;
            let before = targets.get(..=index)?;
            // A `*` before the position shifts it by a number of columns only the catalog
            // knows.
            if before.iter().any(|t| {
                target_value(t)
                    .and_then(as_column)
                    .is_some_and(|p| p.column.is_none())
            }) {
                return None;
            }
            return self.target_key(target_value(before.last()?)?);
        }
        let path = as_column(item)?;
        let name = path.column?;
        if path.qualifier.is_empty() {
            let output = || {
                targets.iter().find_map(|target| {
                    let value = target_value(target)?;
                    (output_name(target)? == name).then_some(value)
                })
            };
            match names {
                Names::OutputFirst => {
                    if let Some(value) = output() {
                        return self.target_key(value);
                    }
                }
                Names::InputFirst => {
                    let resolved = self.scope.resolve(&path);
                    return match output() {
                        None => Some((resolved, path.text())),
                        Some(value) if resolved == Resolved::NotFound => self.target_key(value),
                        // The output is the input column itself (`SELECT a ... GROUP BY a`).
                        Some(value)
                            if self.target_key(value).is_some_and(|(r, _)| r == resolved) =>
                        {
                            Some((resolved, path.text()))
                        }
                        // An alias that a table in scope may also have as a column: PostgreSQL
                        // picks the column if it exists, which only the catalog knows.
                        Some(_) => Some((Resolved::Unresolved, path.text())),
                    };
                }
            }
        }
        Some((self.scope.resolve(&path), path.text()))
    }

    /// The column an output expression is, if it is a plain column.
    fn target_key(&self, value: &Node) -> Option<(Resolved, String)> {
        let path = as_column(value).filter(|p| p.column.is_some())?;
        Some((self.scope.resolve(&path), path.text()))
    }

    /// Visits an expression outside a predicate: analyzes the subqueries in it and notes
    /// volatile functions.
    pub(super) fn visit_expr(&mut self, node: &Node) {
        let Some(inner) = node.node.as_ref() else {
            return;
        };
        match inner {
            NodeEnum::SubLink(link) => {
                if let Some(query) = link.subselect.as_deref() {
                    let role = match SubLinkType::try_from(link.sub_link_type) {
                        Ok(SubLinkType::ExistsSublink) => Role::Exists,
                        _ => Role::Subquery,
                    };
                    self.nested(query, role);
                }
            }
            NodeEnum::JsonArrayQueryConstructor(constructor) => {
                if let Some(query) = constructor.query.as_deref() {
                    self.nested(query, Role::Subquery);
                }
            }
            NodeEnum::FuncCall(call) => {
                if let Some(name) = last_name(&call.funcname) {
                    if is_volatile(name) {
                        self.not_cacheable(NotCacheable::VolatileFunction(name.to_string()));
                    }
                    push_unique(&mut self.functions, name.to_string());
                }
            }
            NodeEnum::SqlvalueFunction(function) => {
                let name = sql_value_function(function.op).to_string();
                self.not_cacheable(NotCacheable::VolatileFunction(name));
            }
            _ => {}
        }
        for_each_child(inner, &mut |child| self.visit_expr(child));
    }

    pub(super) fn visit_all(&mut self, nodes: &[Node]) {
        for node in nodes {
            self.visit_expr(node);
        }
    }

    fn read(&mut self, table: TableName) {
        if is_live_system_view(&table) {
            self.not_cacheable(NotCacheable::LiveSystemView(table.clone()));
        }
        push_unique(&mut self.reads, table);
    }

    fn write(&mut self, table: TableName) {
        push_unique(&mut self.writes, table);
    }

    fn not_cacheable(&mut self, reason: NotCacheable) {
        push_unique(&mut self.not_cacheable, reason);
    }

    /// Updates a table reference's usage.
    pub(super) fn record(&mut self, reference: RefId, update: impl FnOnce(&mut TableUsage)) {
        if let Some(usage) = self.tables.get_mut(reference) {
            update(usage);
        }
    }

    pub(super) fn unresolved(&mut self, column: String, usage: ColumnUsage) {
        push_unique(&mut self.unresolved, UnresolvedColumn { column, usage });
    }

    /// Records `column = other.other_column` on `reference`.
    pub(super) fn join_pair(
        &mut self,
        reference: RefId,
        column: &str,
        other: RefId,
        other_column: &str,
        under_or: bool,
    ) {
        let Some(other_table) = self.tables.get(other).map(|t| t.table.clone()) else {
            return;
        };
        self.record(reference, |t| {
            push_unique(
                &mut t.joins,
                super::JoinPair {
                    column: column.to_string(),
                    other_table,
                    other_column: other_column.to_string(),
                    under_or,
                },
            );
        });
    }
}

/// Which of output names and input columns a bare name in `ORDER BY` or `GROUP BY` means
/// first.
#[derive(Debug, Clone, Copy)]
enum Names {
    OutputFirst,
    InputFirst,
}

/// `ASC` or `DESC`; `None` for `USING` an operator other than `<` or `>`.
fn sort_direction(sort: &SortBy) -> Option<SortDirection> {
    match SortByDir::try_from(sort.sortby_dir) {
        Ok(SortByDir::SortbyDesc) => Some(SortDirection::Desc),
        Ok(SortByDir::SortbyUsing) => match last_name(&sort.use_op)? {
            "<" => Some(SortDirection::Asc),
            ">" => Some(SortDirection::Desc),
            _ => None,
        },
        _ => Some(SortDirection::Asc),
    }
}

/// The expression of a target list entry.
fn target_value(target: &Node) -> Option<&Node> {
    match target.node.as_ref()? {
        NodeEnum::ResTarget(target) => target.val.as_deref(),
        _ => None,
    }
}

/// The name of a target list entry's output column, written or implied.
fn output_name(target: &Node) -> Option<String> {
    match target.node.as_ref()? {
        NodeEnum::ResTarget(target) if !target.name.is_empty() => Some(target.name.clone()),
        NodeEnum::ResTarget(target) => target.val.as_deref().map(implied_name),
        _ => None,
    }
}

/// The name PostgreSQL gives an output column without an alias: the column's, the
/// function's, or `?column?`.
fn implied_name(value: &Node) -> String {
    let name = match value.node.as_ref() {
        Some(NodeEnum::ColumnRef(_)) => as_column(value).and_then(|p| p.column),
        Some(NodeEnum::TypeCast(cast)) => {
            let inner = cast.arg.as_deref().map(implied_name);
            match inner.filter(|name| name != "?column?") {
                Some(name) => return name,
                None => cast.type_name.as_ref().and_then(|t| last_name(&t.names)),
            }
        }
        Some(NodeEnum::FuncCall(call)) => last_name(&call.funcname),
        Some(NodeEnum::AIndirection(indirection)) => {
            indirection.indirection.last().and_then(string_value)
        }
        Some(NodeEnum::CoalesceExpr(_)) => Some("coalesce"),
        Some(NodeEnum::CaseExpr(_)) => Some("case"),
        _ => None,
    };
    name.unwrap_or("?column?").to_string()
}

/// The name of the function a `FROM` item calls.
fn function_name_of(call: &Node) -> Option<String> {
    match call.node.as_ref()? {
        NodeEnum::FuncCall(call) => last_name(&call.funcname).map(str::to_string),
        _ => None,
    }
}

/// The names a column definition list (`AS t(a int, b text)`) gives.
fn column_definitions(definitions: &[Node]) -> Vec<String> {
    definitions
        .iter()
        .filter_map(|d| match d.node.as_ref()? {
            NodeEnum::ColumnDef(d) => Some(d.colname.clone()),
            _ => None,
        })
        .collect()
}

/// The strings of a list of `String` nodes (column alias lists, `USING` lists).
pub(super) fn strings(nodes: &[Node]) -> Vec<&str> {
    nodes.iter().filter_map(string_value).collect()
}

/// A `LIMIT` or `OFFSET` value; `None` for `LIMIT ALL` (a null constant).
fn bound(node: &Node) -> Option<Bound> {
    Some(match strip_casts(node).node.as_ref()? {
        NodeEnum::AConst(constant) => match constant.val.as_ref()? {
            a_const::Val::Ival(i) => Bound::Constant(i.ival.into()),
            // Integers beyond 32 bits parse as floats.
            a_const::Val::Fval(f) => f.fval.parse().map_or(Bound::Other, Bound::Constant),
            a_const::Val::Sval(s) => s.sval.trim().parse().map_or(Bound::Other, Bound::Constant),
            _ => Bound::Other,
        },
        NodeEnum::ParamRef(param) => {
            u32::try_from(param.number).map_or(Bound::Other, Bound::Parameter)
        }
        _ => Bound::Other,
    })
}
