//! brisk-bench: a load generator that measures correctly.
//!
//! It reads what to run ([`scenario`] files, pgbench scripts and plain SQL files through
//! [`script`]), turns it into a [`Plan`], and drives it against PostgreSQL ([`run`]): by
//! default as an open model, where operations start at a target rate whatever the earlier
//! ones are doing and latency counts from the *intended* start, so a stall shows in the
//! percentiles instead of being hidden by the generator waiting for it (coordinated
//! omission). Each operation's latency, service time and schedule lag go into HdrHistograms
//! ([`record`]), per operation and per second, so memory does not grow with the rate. The
//! [`result`] is a documented JSON document (`docs/bench.md`) with the histograms encoded;
//! [`result::merge`] adds the results of `--segment`s, [`compare`] says whether two runs
//! differ beyond noise, and [`threshold`]s pass or fail a run. [`html`] draws a result as one
//! self-contained page; [`knee`] raises the rate step by step until a threshold breaks.
//!
//! What it never does: it runs exactly the statements it is given and adds none to the
//! user's database (no tables, no setup); it never retries or drops an operation silently
//! (errors are counted by SQLSTATE, arrivals that never started are counted); and it never
//! prints a figure it did not measure. [`replay`] runs a captured workload again, session by
//! session at the captured pace. An operation's script may send HTTP requests instead of
//! (or besides) SQL ([`http`]); a run with no SQL needs no database.
//!
//! ```no_run
//! # async fn demo() -> Result<(), brisk_bench::BenchError> {
//! use std::sync::Arc;
//! use std::path::Path;
//! let scenario = brisk_bench::scenario::read_scenario(Path::new("scenario.toml"), &[])?;
//! let plan = scenario.plan(Default::default(), Vec::new(), false, Default::default())?;
//! let info = brisk_pg::conninfo::ConnInfo::from_env_and_str(Some("postgres://localhost/app"))
//!     .map_err(|e| brisk_bench::BenchError::Argument(e.to_string()))?;
//! let result = brisk_bench::run::run(Arc::new(plan), &info, std::future::pending(), |_| {}).await?;
//! println!("{}", brisk_bench::render::summary(&result));
//! # Ok(()) }
//! ```

pub mod compare;
mod connection;
pub mod database;
mod error;
pub mod expr;
pub mod html;
pub mod http;
pub mod knee;
pub mod param;
pub mod pgss;
pub mod plan;
pub mod proxy;
pub mod random;
pub mod record;
pub mod render;
pub mod replay;
pub mod result;
pub mod run;
pub mod scenario;
pub mod script;
pub mod threshold;
mod timer;

pub use error::BenchError;
pub use plan::Plan;
pub use result::BenchResult;

/// The exit code of a run whose thresholds failed: k6's (99), so CI scripts written for k6
/// read it the same way. Distinct from 1 (findings), 2 (bad input) and 130 (interrupted).
pub const EXIT_THRESHOLDS_FAILED: u8 = 99;
