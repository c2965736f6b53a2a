//! What can go wrong talking to PostgreSQL, in the user's terms.

use crate::conninfo::ConnInfoError;

/// SQLSTATE of "permission denied" (insufficient_privilege).
pub const INSUFFICIENT_PRIVILEGE: &str = "42501";

/// Every error brisk-pg returns. Each message is one line that says what went wrong and
/// what to do about it; the CLI prints it as is, with exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error(transparent)]
    ConnInfo(#[from] ConnInfoError),
    #[error("cannot reach PostgreSQL at {target}: {reason}. Check that the server is running and accepts connections there")]
    Unreachable { target: String, reason: String },
    #[error("PostgreSQL at {target} refused the login of user \"{user}\": {reason}. Check the password (URL, PGPASSWORD or ~/.pgpass) and pg_hba.conf")]
    AuthFailed {
        target: String,
        user: String,
        reason: String,
    },
    #[error("the server at {target} asks for a password and none was given: put it in the URL, PGPASSWORD or ~/.pgpass")]
    PasswordMissing { target: String },
    #[error("database \"{database}\" does not exist on {target}: list the databases with `psql -l` and pass one in the URL")]
    DatabaseMissing { target: String, database: String },
    #[error("PostgreSQL at {target} is version {version}; brisk supports 13 and newer")]
    UnsupportedVersion { target: String, version: String },
    #[error("TLS to {target} failed: {reason}")]
    Tls { target: String, reason: String },
    #[error("{target} did not answer within the connect timeout of {seconds} s. Check the host and port, or raise connect_timeout")]
    ConnectTimeout { target: String, seconds: u64 },
    #[error("PostgreSQL at {target} is not accepting connections: {reason}")]
    Refused { target: String, reason: String },
    #[error("{context} failed: {message}")]
    Query {
        context: String,
        message: String,
        /// The SQLSTATE, when the server sent one.
        sqlstate: Option<String>,
    },
}

impl PgError {
    /// Whether the error is a missing privilege, which checks treat as "could not run"
    /// rather than as a failure of the whole command.
    pub fn is_permission_denied(&self) -> bool {
        matches!(self, PgError::Query { sqlstate: Some(code), .. } if code == INSUFFICIENT_PRIVILEGE)
    }

    /// Wraps an error from a query that brisk itself wrote.
    pub fn query(context: impl Into<String>, error: tokio_postgres::Error) -> PgError {
        let sqlstate = error.code().map(|c| c.code().to_string());
        let message = match error.as_db_error() {
            Some(db) => db.message().to_string(),
            None => error_chain(&error),
        };
        PgError::Query {
            context: context.into(),
            message,
            sqlstate,
        }
    }
}

/// An error and its causes, joined into one line ("error connecting to server: Connection
/// refused (os error 111)").
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
