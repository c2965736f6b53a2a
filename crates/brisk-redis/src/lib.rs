//! brisk-redis: what a Redis holds and how it is configured, and a cache store that keeps
//! values small.
//!
//! Two halves share one way of connecting ([`RedisTarget`]: `redis://` and `rediss://` URLs
//! with a password or an ACL user, one server or a Redis Cluster):
//!
//! - [`analyze`] (behind `brisk redis URL`) SCANs the keyspace, pipelining `TYPE`,
//!   `MEMORY USAGE`, `PTTL` and `OBJECT ENCODING` for each batch of keys, groups keys by
//!   pattern (`user:123:profile` becomes `user:*:profile`), measures how well sampled values
//!   compress with zstd and lz4, reads `INFO`, `CONFIG GET` and `SLOWLOG GET`, and turns all
//!   of it into [`brisk_report::Finding`]s.
//! - [`store::CacheStore`] is a cache on top of Redis: pipelined bulk operations, namespaces,
//!   O(1) tag invalidation, `get_or_compute` with stampede protection, compression above a
//!   threshold (kept only when it pays), and a bounded in-process tier in front.
//!
//! - [`expire`] (behind `brisk cleanup redis://...`) gives the keys of a pattern that have
//!   no TTL one, with `EXPIRE ... NX`; it writes only when asked to apply.
//!
//! Architecture invariant: the analyzer only reads. It sends no command that writes, never
//! `KEYS`, and nothing that blocks the server for long (every batch is bounded); a test runs it
//! as an ACL user without `@write` and checks the server's `INFO commandstats`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), brisk_redis::Error> {
//! use brisk_redis::{analyze, AnalyzeOptions, RedisTarget};
//!
//! let target = RedisTarget::parse("redis://default:secret@127.0.0.1:6379/0")?;
//! let report = analyze(&target, &AnalyzeOptions::default(), &|_progress| {}).await?;
//! println!("{}", brisk_report::render_text(&report));
//! # Ok(())
//! # }
//! ```

mod analyze;
mod checks;
pub mod codec;
mod compressibility;
mod error;
pub mod expire;
mod keyspace;
mod pattern;
mod server;
pub mod store;
mod target;

pub use analyze::{analyze, judge_role, AnalyzeOptions, CacheRole, ScanProgress, CHECKS};
pub use error::Error;
pub use pattern::key_pattern;
pub use server::NodeState;
pub use target::RedisTarget;
