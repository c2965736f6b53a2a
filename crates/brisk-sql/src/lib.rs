//! brisk-sql: understanding SQL text.
//!
//! This crate turns PostgreSQL SQL text into something brisk can reason about:
//!
//! - [`Lexer`] splits text into [`Token`]s following PostgreSQL's own lexical rules
//!   (nested comments, dollar quotes, `E'...'` escapes, string continuation across lines).
//! - [`normalize`] replaces constants with `$n`, as `pg_stat_statements` displays queries, so
//!   that queries differing only in their constants read the same.
//! - [`fingerprint`] and [`FingerprintCache`] give pg_query's fingerprint of a query, equal
//!   to what other tools compute. The statements apps send most are fingerprinted without
//!   PostgreSQL's parser, several times faster; the rest go to libpg_query.
//! - [`analyze`] tells what each statement does: its kind, the tables it reads and writes,
//!   whether its result may be cached, and, for each table reference, the columns it filters,
//!   joins, sorts, groups and outputs. It has no catalog and never guesses a column's table.
//! - [`session`] tells what a statement does to the session: the settings it resets, the
//!   features that tie a client to one server connection.
//! - [`split`] cuts a text into statements as psql runs them, and [`first_keyword`] reads a
//!   statement's first word: the one splitter and classifier every command shares.
//! - [`param_use`] ties each `$n` of a statement to the column it is compared with.
//! - [`cast_typed_placeholders`] and [`bind_placeholders`] rewrite normalized text so that
//!   PostgreSQL can plan it: `interval $1` (not SQL) becomes `$1::interval`.
//!
//! Architecture invariant: this crate never opens a connection and never does I/O. It works on
//! text it is handed, whether that came from the proxy, `pg_stat_activity` or a log.
//!
//! Both the lexer and normalization sit on the proxy's per-query hot path. The lexer allocates
//! nothing and never panics, whatever the input, including queries truncated mid-token;
//! normalization allocates only its output `String`, which [`normalize_into`] reuses.
//! `benches/fingerprint.rs` measures them against pg_query.
//!
//! ```
//! use brisk_sql::{normalize, Lexer, TokenKind};
//!
//! assert_eq!(
//!     normalize("SELECT * FROM orders WHERE id = 42 AND note = 'it''s late'"),
//!     "SELECT * FROM orders WHERE id = $1 AND note = $2",
//! );
//!
//! let constants: Vec<&str> = Lexer::new("SELECT $1, 'a', 3.5")
//!     .filter(|token| token.kind.is_constant())
//!     .map(|token| token.text)
//!     .collect();
//! assert_eq!(constants, ["'a'", "3.5"]);
//! ```

// Only `error::ffi` uses unsafe code, to read libpg_query's error position.
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod analysis;
mod error;
mod fast_fingerprint;
mod fingerprint;
mod lexer;
mod lint;
mod normalize;
pub mod param_use;
mod placeholders;
mod predicate;
mod quote;
pub mod session;
mod shape;
mod statements;
#[cfg(test)]
mod test_inputs;

pub use analysis::{
    analyze, ArrayOperator, ArrayPredicate, Bound, ColumnPredicate, ColumnUsage, ConstantPredicate,
    ExpressionPredicate, FullTextPredicate, JoinPair, LikePredicate, NotCacheable, NullTest,
    NullTestPredicate, NullsOrder, OrderColumn, OutputColumn, PatternKind, RowLock, SortDirection,
    StatementAnalysis, StatementKind, TableName, TableUsage, UnresolvedColumn, VOLATILE_FUNCTIONS,
};
pub use error::SqlError;
pub use fingerprint::{fingerprint, CacheStats, Fingerprint, FingerprintCache, StatementKey};
pub use lexer::{Lexer, Token, TokenKind};
pub use lint::{lint, LintError, LintIssue, LintOutcome, LintSeverity, Rule};
pub use normalize::{normalize, normalize_into};
pub use placeholders::{bind_placeholders, cast_typed_placeholders};
pub use predicate::{parse_predicate, Predicate};
pub use quote::{index_name, quote_ident, quote_literal};
pub use shape::shape_key_into;
pub use statements::{first_keyword, split, starts_with_keyword, Statement};
