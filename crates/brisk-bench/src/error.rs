//! What can go wrong in a load test, in the user's terms.

use brisk_pg::PgError;

/// Every error brisk-bench returns; each message is one line, and the CLI exits with 2.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A scenario, script, SQL file or result that cannot be read as written.
    #[error("{file}:{line}: {message}")]
    Input {
        file: String,
        line: usize,
        message: String,
    },
    #[error("cannot read {file}: {reason}")]
    Read { file: String, reason: String },
    /// Arguments or settings that contradict each other or are out of range.
    #[error("{0}")]
    Argument(String),
    #[error(transparent)]
    Connect(PgError),
    /// A worker's connection that could not be made (after the first one was).
    #[error("{0}")]
    Connection(String),
    /// An HTTP target that refused or never answered the connection made before the run.
    #[error("cannot reach {target}: {reason}")]
    Unreachable { target: String, reason: String },
    /// A statement the server refused before the run (prepare, a parameter's query).
    #[error("operation \"{operation}\"{}: the server refused it: {message}", line_suffix(*.line))]
    Statement {
        operation: String,
        line: usize,
        message: String,
    },
    #[error("brisk bench failed internally: {0}")]
    Internal(String),
}

fn line_suffix(line: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(" (line {line})")
    }
}
