//! What can go wrong deleting rows, in the user's terms.

use brisk_pg::PgError;

/// Every error brisk-cleanup returns: one line that says what was wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum CleanupError {
    #[error(transparent)]
    Pg(#[from] PgError),
    #[error("{0}")]
    BadCondition(String),
    #[error("the proxy's admin console (--proxy-admin): {0}")]
    Console(String),
    #[error("table {table} does not exist (with the search_path of the connection); name it as schema.table")]
    NoTable { table: String },
    #[error("{table} is {kind}, not a table: name the table that holds the rows")]
    NotATable { table: String, kind: String },
    #[error("{table} has no primary key: brisk cleanup deletes in batches ordered by the primary key, each starting where the last ended; add one (ALTER TABLE {table} ADD PRIMARY KEY (...)) first")]
    NoPrimaryKey { table: String },
    #[error("--where does not apply to {table}: {detail}")]
    ConditionDoesNotApply { table: String, detail: String },
    #[error("a batch on {table} failed after deleting {deleted} rows (committed, kept): {detail}")]
    Batch {
        table: String,
        deleted: u64,
        detail: String,
    },
    #[error("{failures} batches in a row on {table} hit the lock_timeout or statement_timeout, down to {size} keys per batch, after deleting {deleted} rows (committed, kept): something holds the rows' locks; run again later")]
    KeepsTimingOut {
        table: String,
        failures: u32,
        size: u64,
        deleted: u64,
    },
}

impl From<brisk_sql::SqlError> for CleanupError {
    fn from(error: brisk_sql::SqlError) -> Self {
        CleanupError::BadCondition(error.to_string())
    }
}
