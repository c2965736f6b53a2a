//! What the advisor reads from the catalog before it plans anything: the tables with their
//! write counters, the columns of the tables the workload names (types and `pg_stats`), the
//! existing indexes column by column, the planner's cost settings, the extensions, and the
//! signatures of the functions the workload passes parameters to.

use std::collections::HashMap;

use brisk_pg::catalog::{self, Index, StatsWindow, Table};
use brisk_pg::stats::{
    self, ColumnInfo, ExtensionState, FunctionSignature, IndexShape, PlannerCosts,
};
use brisk_pg::{PgError, Session};
use brisk_sql::TableName;

/// Everything the advisor knows about the database, read once in one transaction.
pub(crate) struct Snapshot {
    pub tables: Vec<Table>,
    pub columns: Vec<ColumnInfo>,
    pub indexes: Vec<Index>,
    pub shapes: HashMap<u32, IndexShape>,
    pub costs: PlannerCosts,
    pub window: StatsWindow,
    pub search_path: Vec<String>,
    pub hypopg: ExtensionState,
    pub pg_trgm: ExtensionState,
    /// Every visible overload of the functions the workload passes a parameter to.
    pub functions: Vec<FunctionSignature>,
    /// `default_text_search_config`, without `pg_catalog.`.
    pub text_search_config: String,
}

impl Snapshot {
    /// Reads the snapshot; `table_names` are the names the workload uses, whose columns it
    /// needs, and `function_names` the functions it passes parameters to.
    pub async fn read(
        session: &Session,
        table_names: &[String],
        function_names: &[String],
    ) -> Result<Snapshot, PgError> {
        session.begin().await?;
        let result = async {
            let tables = catalog::tables(session).await?;
            let columns = stats::columns(session, table_names).await?;
            let indexes = catalog::indexes(session).await?;
            let shapes = stats::index_shapes(session).await?;
            let costs = stats::planner_costs(session).await?;
            let window = catalog::stats_window(session).await?;
            let search_path = stats::search_path(session).await?;
            let mut extensions = stats::extensions(session, &["hypopg", "pg_trgm"]).await?;
            let pg_trgm = extensions.pop().unwrap_or(ExtensionState::Missing);
            let hypopg = extensions.pop().unwrap_or(ExtensionState::Missing);
            let functions = stats::function_signatures(session, function_names).await?;
            let text_search_config = stats::text_search_config(session).await?;
            Ok(Snapshot {
                tables,
                columns,
                indexes,
                shapes: shapes.into_iter().map(|s| (s.oid, s)).collect(),
                costs,
                window,
                search_path,
                hypopg,
                pg_trgm,
                functions,
                text_search_config,
            })
        }
        .await;
        match result {
            Ok(snapshot) => {
                session.commit().await?;
                Ok(snapshot)
            }
            Err(e) => {
                session.rollback().await?;
                Err(e)
            }
        }
    }

    /// The table a statement names: the schema it wrote, or else the first schema of the
    /// search path that has a table of that name, or else the only one anywhere.
    pub fn resolve(&self, name: &TableName) -> Option<&Table> {
        let matching = || self.tables.iter().filter(|t| t.name == name.name);
        if let Some(schema) = &name.schema {
            return matching().find(|t| &t.schema == schema);
        }
        for schema in &self.search_path {
            if let Some(table) = matching().find(|t| &t.schema == schema) {
                return Some(table);
            }
        }
        let mut all = matching();
        match (all.next(), all.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    }

    pub fn column(&self, table_oid: u32, name: &str) -> Option<&ColumnInfo> {
        self.columns
            .iter()
            .find(|c| c.table_oid == table_oid && c.name == name)
    }

    /// The valid indexes of a table, with their column shapes.
    pub fn indexes_of(&self, table_oid: u32) -> impl Iterator<Item = (&Index, &IndexShape)> {
        self.indexes
            .iter()
            .filter(move |i| i.table_oid == table_oid && i.is_valid && i.is_ready)
            .filter_map(|i| self.shapes.get(&i.oid).map(|s| (i, s)))
    }

    /// Rows of a table as the planner counts them (`reltuples`, 0 when never analyzed).
    pub fn rows(&self, table: &Table) -> f64 {
        table.tuples.max(0.0)
    }
}
