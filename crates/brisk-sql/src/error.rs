//! Errors from understanding SQL text.

use std::ffi::CString;

/// What went wrong with a piece of SQL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlError {
    /// PostgreSQL's parser rejected the text, or it parsed but is not what was asked for (one
    /// condition for [`crate::parse_predicate`]). `position` is the byte offset the parser
    /// pointed at, when it pointed at one.
    #[error("{message}")]
    Parse {
        /// The parser's message, e.g. `syntax error at or near "FROM"`.
        message: String,
        /// Byte offset into the text.
        position: Option<usize>,
    },
}

impl SqlError {
    pub(crate) fn from_pg_query(sql: &str, error: pg_query::Error) -> SqlError {
        let message = match error {
            pg_query::Error::Parse(message) => message,
            other => other.to_string(),
        };
        SqlError::Parse {
            message,
            position: parser_position(sql),
        }
    }

    /// The 1-based line and column of the error in `sql`, the text it came from.
    pub fn line_column(&self, sql: &str) -> Option<(usize, usize)> {
        let SqlError::Parse { position, .. } = self;
        let offset = (*position)?.min(sql.len());
        let before = sql.get(..offset)?;
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Some((line, column))
    }
}

/// Where PostgreSQL's parser stopped in `sql`, as a byte offset.
///
/// The pg_query crate keeps only the message of a parse error; libpg_query also reports the
/// cursor position, which is what lets `brisk lint` point at the line and column. This asks
/// libpg_query directly, only on the error path.
fn parser_position(sql: &str) -> Option<usize> {
    let input = CString::new(sql).ok()?;
    let cursor = ffi::cursor_position(&input)?;
    // PostgreSQL's cursor position counts characters from 1.
    let index = usize::try_from(cursor).ok()?.checked_sub(1)?;
    Some(
        sql.char_indices()
            .nth(index)
            .map_or(sql.len(), |(offset, _)| offset),
    )
}

#[allow(unsafe_code)]
mod ffi {
    //! The two libpg_query functions the pg_query crate does not expose with the error
    //! position. The declarations follow `pg_query.h` of the libpg_query bundled with
    //! pg_query 6; the crate links the library.

    use std::ffi::{c_char, c_int, CStr};

    #[repr(C)]
    struct PgQueryError {
        message: *mut c_char,
        funcname: *mut c_char,
        filename: *mut c_char,
        lineno: c_int,
        cursorpos: c_int,
        context: *mut c_char,
    }

    #[repr(C)]
    struct PgQueryParseResult {
        parse_tree: *mut c_char,
        stderr_buffer: *mut c_char,
        error: *mut PgQueryError,
    }

    extern "C" {
        fn pg_query_parse(input: *const c_char) -> PgQueryParseResult;
        fn pg_query_free_parse_result(result: PgQueryParseResult);
    }

    /// The parser's 1-based cursor position for `input`, if it fails to parse and names one.
    pub(super) fn cursor_position(input: &CStr) -> Option<c_int> {
        // SAFETY: `input` is a valid NUL-terminated string for the duration of the call;
        // the result is read before it is freed, and freed exactly once.
        unsafe {
            let result = pg_query_parse(input.as_ptr());
            let position = if result.error.is_null() {
                None
            } else {
                Some((*result.error).cursorpos).filter(|p| *p > 0)
            };
            pg_query_free_parse_result(result);
            position
        }
    }
}
