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

/// Sandboxes alive in this process, so an interrupted brisk can clean up servers and
/// directories that are still starting (their handles do not exist yet).
static LIVE: std::sync::Mutex<Vec<(std::path::PathBuf, Option<u32>)>> =
    std::sync::Mutex::new(Vec::new());

fn live() -> std::sync::MutexGuard<'static, Vec<(std::path::PathBuf, Option<u32>)>> {
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn register_dir(dir: &std::path::Path) {
    live().push((dir.to_path_buf(), None));
}

pub(crate) fn register_pid(dir: &std::path::Path, pid: u32) {
    if let Some(entry) = live().iter_mut().find(|(d, _)| d == dir) {
        entry.1 = Some(pid);
    }
}

pub(crate) fn unregister_dir(dir: &std::path::Path) {
    live().retain(|(d, _)| d != dir);
}

/// Stops every sandbox server of this process and deletes its directory, including ones
/// still starting. For a Ctrl-C handler: after it, the process should exit.
pub fn stop_all() {
    let entries: Vec<_> = live().drain(..).collect();
    for (dir, pid) in entries {
        if let Some(pid) = pid {
            // SIGINT is a fast shutdown for PostgreSQL and a clean exit for Redis.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGINT);
            }
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while !keeper::process_gone(pid) && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
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
