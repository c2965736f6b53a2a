//! brisk-advisor: judges what brisk-pg reads and turns it into Findings.
//!
//! [`check`] holds the catalog and statistics checks behind `brisk check`; [`lint`] turns
//! brisk-sql's lint issues into findings for `brisk lint`; [`advise`] is the index advisor
//! behind `brisk advise`. The advisor decides thresholds, severities and fixes; it reads
//! only through brisk-pg, and writes nothing to the database, except where the user asks
//! (`brisk advise --apply`, or a verification target the user named as safe).
//!
//! ```no_run
//! # async fn demo(session: &brisk_pg::Session) -> Result<(), brisk_pg::PgError> {
//! let report = brisk_advisor::check::run_check(session, &Default::default()).await?;
//! print!("{}", brisk_report::render_text(&report));
//! # Ok(()) }
//! ```

pub mod advise;
pub mod check;
pub mod lint;
