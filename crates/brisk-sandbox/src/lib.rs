//! brisk-sandbox: throwaway PostgreSQL and Redis servers started from the system's binaries.
//!
//! Tests, the embedded demo of `brisk check` and (later) `brisk advise --verify` need a real
//! server that nobody else uses. A sandbox is a fresh cluster in a temporary directory, on a
//! free loopback port, that is stopped and deleted when the handle is dropped, when the
//! process exits (the shared test cluster), or when brisk itself dies (the server gets a
//! parent-death signal), so no server outlives its owner.
//!
//! Architecture invariant: this crate starts processes and runs `psql`; it never links a
//! database driver, so every other crate can use it in tests without a dependency cycle.
//!
//! ```no_run
//! let pg = brisk_sandbox::Postgres::start()?;
//! let db = pg.fresh_database("demo")?;
//! pg.psql(&db, "CREATE TABLE t (id int PRIMARY KEY)")?;
//! println!("connect with {}", pg.url(&db));
//! # Ok::<(), brisk_sandbox::SandboxError>(())
//! ```

mod binaries;
pub mod demo;
mod keeper;
mod postgres;
mod redis;

pub use binaries::PgBinaries;
pub use postgres::{shared_postgres, Postgres, PostgresBuilder};
pub use redis::Redis;

/// What went wrong starting or using a sandbox, in words that say what to do.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("`{binary}` was not found: install the Debian package `{package}` (apt-get install {package}), or run scripts/setup")]
    MissingBinary {
        binary: &'static str,
        package: &'static str,
    },
    #[error("PostgreSQL refuses to run as root, and this machine has no `postgres` system user to run it as: install the `postgresql` package (it creates one) or run brisk as a regular user")]
    NoPostgresUser,
    #[error("{what} failed: {detail}")]
    Command { what: String, detail: String },
    #[error("{server} did not become ready within {seconds} s; its log ends with: {log_tail}")]
    StartTimeout {
        server: &'static str,
        seconds: u64,
        log_tail: String,
    },
    #[error("{server} exited while starting; its log ends with: {log_tail}")]
    Exited {
        server: &'static str,
        log_tail: String,
    },
    #[error("sandbox I/O error while {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl SandboxError {
    fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> SandboxError {
        let context = context.into();
        move |source| SandboxError::Io { context, source }
    }
}

/// The last lines of a server log, for error messages.
fn log_tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(5).collect();
    let tail: Vec<&str> = lines.into_iter().rev().collect();
    if tail.is_empty() {
        "(empty log)".to_string()
    } else {
        tail.join(" | ")
    }
}

/// A free TCP port on the loopback interface. Another process may take it before the server
/// binds it; callers retry on a bind failure.
fn free_port() -> Result<u16, SandboxError> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(SandboxError::io("finding a free port"))?;
    let port = listener
        .local_addr()
        .map_err(SandboxError::io("finding a free port"))?
        .port();
    Ok(port)
}
