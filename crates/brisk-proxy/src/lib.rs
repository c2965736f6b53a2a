//! brisk-proxy: a transaction-pooling PostgreSQL proxy.
//!
//! Clients connect to brisk as they would to PostgreSQL; brisk lends each of them a server
//! connection from a pool for one transaction at a time (or for the whole session), so a
//! few server connections serve many clients. Prepared statements keep working in
//! transaction mode, session features pin a client to its server instead of breaking, and
//! an admin console (`psql -d brisk`) shows the pools with PgBouncer's column names.
//!
//! Layers, each with one job: `protocol` frames and decodes messages (no I/O); `auth`
//! checks passwords; `server` opens and logs in server connections; `pool` lends them;
//! `session` serves one client (login, sockets, the server it borrows) and `relay` decides,
//! without I/O, what each of its messages means; `admin` answers the console; `proxy` listens, reloads and
//! drains; `observe` keeps per-fingerprint statistics and finds N+1s, off the hot path.
//! With `http_listen` set, `http` serves `/metrics` (written by `metrics`) and `/health/...`
//! (judged by `health`, from per-second pool samples and upstream probes).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = brisk_proxy::Config::load(std::path::Path::new("brisk.toml"))?;
//! let proxy = brisk_proxy::Proxy::bind(config).await?;
//! proxy.run(async { let _ = tokio::signal::ctrl_c().await; }).await;
//! # Ok(()) }
//! ```

pub mod admin;
pub mod cache;
pub mod config;
mod gate;
mod health;
mod http;
pub mod limits;
mod metrics;
pub mod observe;
mod pool;
pub mod prepared;
mod proxy;
pub mod relay;
mod server;
mod session;
pub mod session_state;
mod stream;
pub mod tracker;

pub use config::{Config, ConfigError};
pub use proxy::{Proxy, ProxyError, Shared};
pub use session::ClientInfo;

/// A logged-in connection to a PostgreSQL server, as the pools open them (TCP or Unix
/// socket, TLS per `sslmode`, every login method): for brisk tools that speak the raw
/// protocol themselves (`brisk bench`'s workers).
pub mod upstream {
    pub use crate::server::{ServerConn, ServerError, ServerSecret, ServerTarget};
    pub use crate::stream::Stream;
}
