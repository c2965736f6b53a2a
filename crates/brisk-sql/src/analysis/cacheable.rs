//! What keeps a query's result from being cached: functions whose value changes between
//! calls, row locks, and views over live server state.

use pg_query::protobuf::{LockClauseStrength, SqlValueFunctionOp};
use pg_query::{Node, NodeEnum};

use super::expr::{for_each_child, last_name};
use super::{RowLock, TableName};

/// Functions whose result changes from call to call, or that act on the server, so that a
/// query calling one must not be answered from a cache. Matched on the function's name
/// without its schema; a trailing `*` matches any suffix.
///
/// PostgreSQL marks many more functions volatile; these are the ones applications call. A
/// user-defined volatile function cannot be recognized without the catalog.
pub const VOLATILE_FUNCTIONS: &[&str] = &[
    // The clock. `now()` is fixed within a transaction, but not across the queries a cache
    // would answer.
    "now",
    "clock_timestamp",
    "statement_timestamp",
    "transaction_timestamp",
    "timeofday",
    // Randomness.
    "random",
    "random_normal",
    "setseed",
    "gen_random_uuid",
    "gen_random_bytes",
    "uuid_generate_*",
    "uuidv4",
    "uuidv7",
    // Sequences.
    "nextval",
    "currval",
    "setval",
    "lastval",
    // Transaction ids.
    "txid_current",
    "txid_current_if_assigned",
    "pg_current_xact_id",
    "pg_current_xact_id_if_assigned",
    // Locks and waits: the point of calling them is the side effect.
    "pg_advisory_*",
    "pg_try_advisory_*",
    "pg_sleep",
    "pg_sleep_for",
    "pg_sleep_until",
    // Side effects on the server.
    "pg_notify",
    "set_config",
    "pg_cancel_backend",
    "pg_terminate_backend",
    "pg_reload_conf",
    // Values that differ from one session to the next, which a shared cache would mix up.
    "current_setting",
    "current_schema",
    "current_schemas",
    "pg_backend_pid",
    // Sizes read from disk, which change without a write to any table a cache could watch.
    "pg_relation_size",
    "pg_total_relation_size",
    "pg_table_size",
    "pg_indexes_size",
    "pg_database_size",
];

/// Whether `name` (a function name without its schema) is one of [`VOLATILE_FUNCTIONS`].
pub(super) fn is_volatile(name: &str) -> bool {
    VOLATILE_FUNCTIONS
        .iter()
        .any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == *pattern,
        })
}

/// Whether `node` calls a volatile function or a SQL value function outside subqueries:
/// then no index can hold it.
pub(super) fn has_volatile_function(node: &Node) -> bool {
    match node.node.as_ref() {
        Some(NodeEnum::FuncCall(call)) if last_name(&call.funcname).is_some_and(is_volatile) => {
            true
        }
        Some(NodeEnum::SqlvalueFunction(_)) => true,
        Some(inner) => {
            let mut found = false;
            for_each_child(inner, &mut |child| {
                found = found || has_volatile_function(child)
            });
            found
        }
        None => false,
    }
}

/// The name of a SQL value function (`CURRENT_TIMESTAMP`, `CURRENT_USER`, ...). All of them
/// depend on the clock or on the session, so all of them keep a result out of a shared cache.
pub(super) fn sql_value_function(op: i32) -> &'static str {
    use SqlValueFunctionOp as Op;
    match Op::try_from(op) {
        Ok(Op::SvfopCurrentDate) => "current_date",
        Ok(Op::SvfopCurrentTime | Op::SvfopCurrentTimeN) => "current_time",
        Ok(Op::SvfopCurrentTimestamp | Op::SvfopCurrentTimestampN) => "current_timestamp",
        Ok(Op::SvfopLocaltime | Op::SvfopLocaltimeN) => "localtime",
        Ok(Op::SvfopLocaltimestamp | Op::SvfopLocaltimestampN) => "localtimestamp",
        Ok(Op::SvfopCurrentRole) => "current_role",
        Ok(Op::SvfopCurrentUser) => "current_user",
        Ok(Op::SvfopUser) => "user",
        Ok(Op::SvfopSessionUser) => "session_user",
        Ok(Op::SvfopCurrentCatalog) => "current_catalog",
        Ok(Op::SvfopCurrentSchema) => "current_schema",
        Ok(Op::SqlvalueFunctionOpUndefined) | Err(_) => "sql value function",
    }
}

/// The lock a `FOR ...` clause takes.
pub(super) fn row_lock(strength: i32) -> Option<RowLock> {
    match LockClauseStrength::try_from(strength).ok()? {
        LockClauseStrength::LcsForupdate => Some(RowLock::Update),
        LockClauseStrength::LcsFornokeyupdate => Some(RowLock::NoKeyUpdate),
        LockClauseStrength::LcsForshare => Some(RowLock::Share),
        LockClauseStrength::LcsForkeyshare => Some(RowLock::KeyShare),
        LockClauseStrength::LcsNone | LockClauseStrength::Undefined => None,
    }
}

/// Whether a relation is a view over live server state, whose rows change with no write:
/// the statistics views (`pg_stat_activity`, `pg_stat_statements`, `pg_statio_*`) and
/// `pg_locks`.
pub(super) fn is_live_system_view(table: &TableName) -> bool {
    table.name.starts_with("pg_stat_")
        || table.name.starts_with("pg_statio_")
        || table.name == "pg_locks"
}
