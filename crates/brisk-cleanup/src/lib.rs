//! brisk-cleanup: deleting expired rows from a live PostgreSQL table without hurting the
//! application (`brisk cleanup postgres://... --table T --where COND`).
//!
//! One `DELETE ... WHERE expires_at < now()` on a big table is one long transaction: it
//! holds its row locks until the end, keeps every dead row from being vacuumed, delays
//! replicas and competes with the application's queries for its whole length. This crate
//! deletes instead in keyset batches ordered by the primary key, each its own short
//! transaction with a `lock_timeout` and a `statement_timeout`, sized so that each batch
//! takes about a target time, paused between batches, and held back while replicas lag.
//!
//! - [`plan`] is the dry run: it validates the condition (brisk-sql), finds the table and
//!   its primary key, counts the matching rows, explains one batch and says whether an
//!   index serves the condition, or which to create. It only reads.
//! - [`apply`] deletes. Stopped early (Ctrl-C, `--max-duration`), it is resumed by running
//!   it again: every batch re-evaluates the condition from the smallest key, so rows already
//!   deleted are simply not found again, and no state has to be kept between runs.
//! - [`AppLatency`] reads the application's mean query time from a pooler's admin console
//!   (brisk proxy's or PgBouncer's `SHOW STATS`), so [`apply`] can wait while its batches
//!   slow the application down.
//!
//! Redis keys without a TTL are the other half of `brisk cleanup`; that lives with the rest
//! of Redis, in `brisk_redis::expire`.
//!
//! Architecture invariant: nothing is deleted outside [`apply`], and [`apply`] deletes only
//! rows that match the condition when their batch runs (the condition is checked again in
//! the `DELETE`, so a row the application updated meanwhile is left alone).
//!
//! ```no_run
//! # async fn demo(session: &brisk_pg::Session) -> Result<(), brisk_cleanup::CleanupError> {
//! use brisk_cleanup::{plan, DeleteOptions};
//! let options = DeleteOptions::new("messages", "expires_at < now()");
//! let plan = plan(session, &options).await?;
//! println!("{} rows match", plan.matching_rows);
//! # Ok(()) }
//! ```

mod app_latency;
mod error;
mod postgres;

pub use app_latency::{AppLatency, MIN_QUERIES, MIN_SLOWDOWN};

pub use error::CleanupError;
pub use postgres::{
    apply, plan, DeleteOptions, DeleteOutcome, DeletePlan, IndexAdvice, Progress, Stop,
    VacuumState, BASELINE_WINDOW,
};
