//! The kind of a statement, and the tables named by statements that carry no query.

use pg_query::protobuf::{ObjectType, RangeVar, ReindexObjectType};
use pg_query::{Node, NodeEnum};

use super::expr::string_value;
use super::{StatementKind, TableName};

/// What sort of statement `node` is.
pub(super) fn statement_kind(node: &NodeEnum) -> StatementKind {
    match node {
        NodeEnum::SelectStmt(s) if s.into_clause.is_some() => StatementKind::Ddl,
        NodeEnum::SelectStmt(_) => StatementKind::Select,
        NodeEnum::InsertStmt(_) => StatementKind::Insert,
        NodeEnum::UpdateStmt(_) | NodeEnum::MergeStmt(_) => StatementKind::Update,
        NodeEnum::DeleteStmt(_) => StatementKind::Delete,
        NodeEnum::TransactionStmt(_) | NodeEnum::ConstraintsSetStmt(_) => {
            StatementKind::Transaction
        }
        // `SET TRANSACTION ...` and `SET TRANSACTION SNAPSHOT ...` parse as settings.
        NodeEnum::VariableSetStmt(s) if s.name.starts_with("TRANSACTION") => {
            StatementKind::Transaction
        }
        NodeEnum::VariableSetStmt(_)
        | NodeEnum::VariableShowStmt(_)
        | NodeEnum::AlterSystemStmt(_)
        | NodeEnum::VacuumStmt(_)
        | NodeEnum::ClusterStmt(_)
        | NodeEnum::ReindexStmt(_)
        | NodeEnum::ExplainStmt(_)
        | NodeEnum::CopyStmt(_)
        | NodeEnum::ListenStmt(_)
        | NodeEnum::UnlistenStmt(_)
        | NodeEnum::NotifyStmt(_)
        | NodeEnum::PrepareStmt(_)
        | NodeEnum::ExecuteStmt(_)
        | NodeEnum::DeallocateStmt(_)
        | NodeEnum::DeclareCursorStmt(_)
        | NodeEnum::FetchStmt(_)
        | NodeEnum::ClosePortalStmt(_)
        | NodeEnum::LockStmt(_)
        | NodeEnum::CheckPointStmt(_)
        | NodeEnum::DiscardStmt(_)
        | NodeEnum::LoadStmt(_)
        | NodeEnum::CallStmt(_)
        | NodeEnum::DoStmt(_) => StatementKind::Utility,
        // Every other statement PostgreSQL accepts at top level creates, alters, drops,
        // grants, comments on or refreshes an object.
        _ => StatementKind::Ddl,
    }
}

/// Whether a statement that carries no query reads or writes the tables it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    Read,
    Write,
}

/// The tables a statement without a query names, and what it does to them. DDL writes the
/// tables it creates, alters, indexes, truncates, refreshes or drops; maintenance and locks
/// read them.
pub(super) fn named_tables(node: &NodeEnum) -> Vec<(TableName, Access)> {
    let read = |relation: &RangeVar| (table_name(relation), Access::Read);
    let write = |relation: &RangeVar| (table_name(relation), Access::Write);
    let relations = |nodes: &[Node], access: Access| -> Vec<(TableName, Access)> {
        nodes
            .iter()
            .filter_map(|n| match n.node.as_ref()? {
                NodeEnum::RangeVar(r) => Some((table_name(r), access)),
                _ => None,
            })
            .collect()
    };
    match node {
        NodeEnum::AlterTableStmt(s) => s.relation.iter().map(write).collect(),
        NodeEnum::CreateStmt(s) => {
            // `PARTITION OF parent` and `INHERITS (parent)` change the parent too.
            let mut tables: Vec<_> = s.relation.iter().map(write).collect();
            tables.extend(relations(&s.inh_relations, Access::Write));
            tables
        }
        NodeEnum::CreateForeignTableStmt(s) => s
            .base_stmt
            .iter()
            .flat_map(|base| base.relation.iter().map(write))
            .collect(),
        NodeEnum::IndexStmt(s) => s.relation.iter().map(write).collect(),
        NodeEnum::CreateTrigStmt(s) => s.relation.iter().map(write).collect(),
        NodeEnum::RuleStmt(s) => s.relation.iter().map(write).collect(),
        NodeEnum::TruncateStmt(s) => relations(&s.relations, Access::Write),
        NodeEnum::RefreshMatViewStmt(s) => s.relation.iter().map(write).collect(),
        NodeEnum::CreateStatsStmt(s) => relations(&s.relations, Access::Write),
        NodeEnum::RenameStmt(s) => s.relation.iter().map(write).collect(),
        NodeEnum::AlterObjectSchemaStmt(s) => s.relation.iter().map(write).collect(),
        NodeEnum::CreatePolicyStmt(s) => s.table.iter().map(write).collect(),
        NodeEnum::AlterPolicyStmt(s) => s.table.iter().map(write).collect(),
        NodeEnum::ViewStmt(s) => s.view.iter().map(write).collect(),
        NodeEnum::DropStmt(s) if drops_relations(s.remove_type) => s
            .objects
            .iter()
            .filter_map(|object| match object.node.as_ref()? {
                NodeEnum::List(name) => dotted_name(&name.items),
                _ => None,
            })
            .map(|table| (table, Access::Write))
            .collect(),
        NodeEnum::VacuumStmt(s) => s
            .rels
            .iter()
            .filter_map(|n| match n.node.as_ref()? {
                NodeEnum::VacuumRelation(v) => v.relation.as_ref().map(read),
                _ => None,
            })
            .collect(),
        NodeEnum::ClusterStmt(s) => s.relation.iter().map(read).collect(),
        NodeEnum::LockStmt(s) => relations(&s.relations, Access::Read),
        NodeEnum::ReindexStmt(s)
            if ReindexObjectType::try_from(s.kind) == Ok(ReindexObjectType::ReindexObjectTable) =>
        {
            s.relation.iter().map(read).collect()
        }
        _ => Vec::new(),
    }
}

/// The name of a relation as written.
pub(super) fn table_name(relation: &RangeVar) -> TableName {
    TableName {
        schema: Some(relation.schemaname.clone()).filter(|s| !s.is_empty()),
        name: relation.relname.clone(),
    }
}

/// Whether a `DROP` of this object type drops tables or views (whose names are lists of
/// strings), rather than indexes, functions or types.
fn drops_relations(remove_type: i32) -> bool {
    matches!(
        ObjectType::try_from(remove_type),
        Ok(ObjectType::ObjectTable
            | ObjectType::ObjectView
            | ObjectType::ObjectMatview
            | ObjectType::ObjectForeignTable)
    )
}

/// `[schema, name]` or `[name]` (a catalog in front is ignored) as a table name.
fn dotted_name(parts: &[Node]) -> Option<TableName> {
    let parts: Vec<&str> = parts.iter().map(string_value).collect::<Option<_>>()?;
    match parts.as_slice() {
        [name] => Some(TableName::new(name)),
        [.., schema, name] => Some(TableName::qualified(schema, name)),
        [] => None,
    }
}
