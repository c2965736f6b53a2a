//! brisk-pg: talking to a live PostgreSQL.
//!
//! It parses libpq connection strings ([`conninfo`]), opens connections with brisk's
//! safety settings ([`Session`]), reads typed snapshots of the catalog and statistics
//! views ([`catalog`], and [`stats`] for the index advisor), and explains statements,
//! generically for normalized ones, with HypoPG's hypothetical indexes ([`explain`]). It
//! judges nothing: turning snapshots and plans into findings is the advisor's job.
//!
//! Architecture invariant: every connection brisk-pg opens sets `application_name=brisk`,
//! a `statement_timeout` and a `lock_timeout`, and is read-only unless the caller asks
//! otherwise ([`SessionOptions::read_only`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), brisk_pg::PgError> {
//! let info = brisk_pg::conninfo::ConnInfo::from_env_and_str(Some("postgres://localhost/app"))?;
//! let session = brisk_pg::Session::connect(&info, &Default::default()).await?;
//! let tables = brisk_pg::catalog::tables(&session).await?;
//! println!("{} tables on {}", tables.len(), session.server().display_version());
//! # Ok(()) }
//! ```

pub mod catalog;
pub mod conninfo;
mod error;
pub mod explain;
mod session;
pub mod stats;
pub mod tls;

pub use error::{PgError, INSUFFICIENT_PRIVILEGE};
pub use session::{Console, ServerInfo, Session, SessionOptions, MIN_SERVER_VERSION};
