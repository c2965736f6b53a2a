//! brisk-advisor: judges what brisk-pg reads and turns it into Findings.
//!
//! [`check`] holds the catalog and statistics checks behind `brisk check`; [`lint`] turns
//! brisk-sql's lint issues into findings for `brisk lint`. Later modules hold the index
//! advisor and tuning advice. The advisor decides thresholds, severities and
//! fixes; it reads only through brisk-pg's snapshots and writes nothing to the database.
//!
//! ```no_run
//! # async fn demo(session: &brisk_pg::Session) -> Result<(), brisk_pg::PgError> {
//! let report = brisk_advisor::check::run_check(session, &Default::default()).await?;
//! print!("{}", brisk_report::render_text(&report));
//! # Ok(()) }
//! ```

pub mod check;
pub mod lint;
