//! The shape key: a cheap, lexer-only stand-in for a query's fingerprint.
//!
//! Fingerprinting with PostgreSQL's parser costs microseconds; the proxy sees the same few
//! hundred query shapes millions of times. [`shape_key_into`] reduces a query to a key that
//! is equal for two queries only when their pg_query fingerprints are equal, so the key can
//! front a cache of fingerprints ([`crate::FingerprintCache`]).
//!
//! The key keeps every token that can change the parse tree and drops what cannot:
//! - constants become `''` (a sign that negates a number goes with it) and parameters `$1`;
//! - comments go, and tokens are separated by exactly one space;
//! - unquoted identifiers and keywords are lowercased (ASCII only, as PostgreSQL folds them
//!   in UTF-8 databases); quoted identifiers are kept as written;
//! - an `IN (...)` list of constants and parameters becomes `IN ('')`, whatever its length;
//! - consecutive identical `VALUES` rows of constants and parameters become one row.
//!
//! pg_query's fingerprint ignores constants, parameters and the length of such lists, so
//! each rule only merges queries that it merges too. The key may keep apart queries that
//! pg_query merges (`a = 1` and `a = $1`): that costs a cache entry, never a wrong answer.
//!
//! The key is itself SQL with the original's fingerprint, usually shorter (no comments, no
//! long literals, one `IN` element, one `VALUES` row), so a cache miss parses the key
//! rather than the original, and pays back the time spent building it. Where an empty
//! string is not allowed (`varchar(10)` needs an integer), the key does not parse and the
//! original is parsed instead.
//!
//! Hot path: no allocation beyond growing the caller's buffer, one pass over the tokens.

use crate::lexer::{Lexer, TokenKind};
use crate::normalize::{minus_is_sign, take_number};

/// What stood in the key before an open parenthesis, which decides what its contents may
/// fold into.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Opener {
    /// `IN (`: a list of values, folded whatever its length.
    In,
    /// `VALUES (` or `), (` inside a VALUES list: a row, folded into an identical previous one.
    Row,
    Other,
}

/// One open parenthesis: where its text starts in the key and whether everything inside
/// so far is a plain list of constants and parameters.
#[derive(Clone, Copy)]
struct Frame {
    start: usize,
    opener: Opener,
    simple: bool,
    /// True right after `(` or `,`: the next token starts an element.
    expect_element: bool,
}

/// What a constant becomes. An empty string is a constant wherever PostgreSQL's grammar
/// takes any constant, so the key stays parseable SQL with the original's fingerprint.
const CONSTANT: &str = "''";
/// What a parameter becomes: pg_query's fingerprint ignores parameter numbers.
const PARAMETER: &str = "$1";
/// What an `IN` list of values becomes, whatever its length.
const FOLDED_LIST: &str = "('')";

/// Nesting deeper than this is rare; frames past it are tracked as "not simple" by depth
/// alone, so a pathological query cannot make the key builder allocate without bound.
const MAX_FRAMES: usize = 64;

/// The last folded VALUES row: `[start, end)` in the key. A following row with the same text
/// is dropped.
#[derive(Clone, Copy)]
struct Row {
    start: usize,
    end: usize,
}

/// Writes the shape key of `sql` into `key`, replacing what it held.
///
/// ```
/// let mut a = String::new();
/// let mut b = String::new();
/// brisk_sql::shape_key_into("SELECT * FROM users WHERE id IN (1, 2, 3) -- list", &mut a);
/// brisk_sql::shape_key_into("select *  from USERS where id in (7)", &mut b);
/// assert_eq!(a, b);
/// assert_eq!(a, "select * from users where id in ('')");
/// ```
pub fn shape_key_into(sql: &str, key: &mut String) {
    key.clear();
    let mut frames: [Frame; MAX_FRAMES] = [Frame {
        start: 0,
        opener: Opener::Other,
        simple: false,
        expect_element: false,
    }; MAX_FRAMES];
    let mut depth = 0usize;
    let mut last_row: Option<Row> = None;
    // Whether the key ends with a closed VALUES row followed by `,`: the next `(` opens a row.
    let mut after_row_comma = false;
    let mut previous = None;
    let mut tokens = Lexer::new(sql);
    let mut statement_start = true;
    let mut fold_constants = true;

    while let Some(token) = tokens.next() {
        if token.kind.is_trivia() {
            continue;
        }
        // pg_query ignores the constants of queries (A_Const nodes) but not those of
        // utility statements, whose options hold plain strings and numbers (`COPY ... WITH
        // (DELIMITER ';')`, `SET x TO 'y'`): there constants stay in the key.
        if statement_start && token.kind != TokenKind::OpenParen {
            fold_constants = token.kind == TokenKind::Identifier && is_query_keyword(token.text);
            statement_start = false;
        }
        if token.kind == TokenKind::Semicolon {
            statement_start = true;
        }
        // A sign and the number it negates are one value; the number stands for both when
        // the next `-` asks whether an operand came before it.
        let signed_number = if fold_constants
            && token.kind == TokenKind::Operator
            && token.text == "-"
            && minus_is_sign(previous.as_ref())
        {
            take_number(&mut tokens)
        } else {
            None
        };
        let is_value = signed_number.is_some()
            || (fold_constants && token.kind.is_constant())
            || token.kind == TokenKind::Parameter;

        // Every token but a value or a comma spoils a plain list.
        if depth > 0 && depth <= MAX_FRAMES {
            let frame = &mut frames[depth - 1];
            match token.kind {
                TokenKind::Comma if !frame.expect_element => frame.expect_element = true,
                TokenKind::CloseParen => {}
                _ if is_value && frame.expect_element => frame.expect_element = false,
                _ => frame.simple = false,
            }
        }

        let starts_row = after_row_comma && token.kind == TokenKind::OpenParen;
        after_row_comma = false;
        if !key.is_empty() {
            key.push(' ');
        }
        let token_start = key.len();

        match token.kind {
            _ if is_value => key.push_str(if token.kind == TokenKind::Parameter {
                PARAMETER
            } else {
                CONSTANT
            }),
            TokenKind::Identifier => {
                let start = key.len();
                key.push_str(token.text);
                key[start..].make_ascii_lowercase();
            }
            TokenKind::OpenParen => {
                let opener = if starts_row || key_ends_with_word(key, token_start, "values") {
                    Opener::Row
                } else if key_ends_with_word(key, token_start, "in") {
                    Opener::In
                } else {
                    Opener::Other
                };
                key.push('(');
                if depth < MAX_FRAMES {
                    frames[depth] = Frame {
                        start: token_start,
                        opener,
                        simple: true,
                        expect_element: true,
                    };
                }
                depth += 1;
                if opener != Opener::Row {
                    last_row = None;
                }
            }
            TokenKind::CloseParen => {
                key.push(')');
                if depth > 0 {
                    depth -= 1;
                    if depth < MAX_FRAMES {
                        close_frame(key, &mut frames, depth, &mut last_row);
                    }
                }
            }
            TokenKind::Comma if last_row.is_some() && depth == 0 => {
                key.push(',');
                // The comma between rows: keep the row open for folding.
                after_row_comma = true;
            }
            _ => {
                key.push_str(token.text);
                if depth == 0 {
                    last_row = None;
                }
            }
        }
        previous = Some(signed_number.unwrap_or(token));
    }
}

/// Closes the frame at `depth` (the `)` is already in the key): folds a plain `IN` list,
/// drops a VALUES row equal to the previous one.
fn close_frame(
    key: &mut String,
    frames: &mut [Frame; MAX_FRAMES],
    depth: usize,
    last_row: &mut Option<Row>,
) {
    let frame = frames[depth];
    // A plain list ends on a value, never on `(` or `,`.
    let plain = frame.simple && !frame.expect_element;
    if depth > 0 {
        // The parent now holds a parenthesized expression, not a value.
        frames[depth - 1].simple = false;
        frames[depth - 1].expect_element = false;
    }
    match (frame.opener, plain) {
        (Opener::In, true) => {
            key.truncate(frame.start);
            key.push_str(FOLDED_LIST);
        }
        (Opener::Row, true) => {
            let end = key.len();
            match *last_row {
                // Drop ", (…)": the separator and the repeated row.
                Some(row) if key[row.start..row.end] == key[frame.start..end] => {
                    key.truncate(row.end);
                }
                _ => {
                    *last_row = Some(Row {
                        start: frame.start,
                        end,
                    });
                }
            }
        }
        _ => *last_row = None,
    }
}

/// Whether a statement starting with `word` is a query (its constants are A_Const nodes)
/// rather than a utility statement.
fn is_query_keyword(word: &str) -> bool {
    [
        "select", "insert", "update", "delete", "with", "values", "table", "merge",
    ]
    .iter()
    .any(|keyword| word.eq_ignore_ascii_case(keyword))
}

/// Whether the key, before `end`, ends with the word `word` (lowercase) as a whole token.
fn key_ends_with_word(key: &str, end: usize, word: &str) -> bool {
    let before = key[..end].trim_end();
    before.ends_with(word)
        && before[..before.len() - word.len()]
            .chars()
            .next_back()
            .is_none_or(|c| c == ' ')
}

#[cfg(test)]
mod tests {
    use super::shape_key_into;

    fn key(sql: &str) -> String {
        let mut key = String::new();
        shape_key_into(sql, &mut key);
        key
    }

    #[test]
    fn constants_case_comments_and_spacing_do_not_matter() {
        assert_eq!(
            key("SELECT * FROM users WHERE id = 42 /* web */ AND name = 'ann'"),
            key("select *\n  from Users where ID = -7 and NAME = E'b\\'ob' -- x"),
        );
        assert_eq!(key("SELECT 1"), "select ''");
    }

    #[test]
    fn parameters_and_constants_stay_apart() {
        assert_ne!(
            key("SELECT * FROM t WHERE a = 1"),
            key("SELECT * FROM t WHERE a = $1")
        );
        assert_eq!(
            key("SELECT * FROM t WHERE a = $1"),
            key("SELECT * FROM t WHERE a = $7")
        );
    }

    #[test]
    fn quoted_identifiers_keep_their_case() {
        assert_ne!(key("SELECT * FROM \"Users\""), key("SELECT * FROM users"));
        assert_eq!(key("SELECT * FROM \"users\""), "select * from \"users\"");
    }

    #[test]
    fn in_lists_of_values_fold_whatever_their_length() {
        let one = key("SELECT * FROM t WHERE id IN (1)");
        assert_eq!(one, key("SELECT * FROM t WHERE id IN (1, 2, 3, -4)"));
        assert_eq!(one, key("SELECT * FROM t WHERE id IN ($1, $2)"));
        assert_eq!(one, "select * from t where id in ('')");
        // Expressions and subqueries are not lists of values.
        assert_ne!(one, key("SELECT * FROM t WHERE id IN (1 + 1, 2)"));
        assert_ne!(one, key("SELECT * FROM t WHERE id IN (SELECT 1)"));
        assert_eq!(
            key("SELECT * FROM t WHERE id NOT IN (1, 2) AND b IN ('x')"),
            "select * from t where id not in ('') and b in ('')"
        );
    }

    #[test]
    fn repeated_values_rows_fold() {
        let one = key("INSERT INTO t (a, b) VALUES (1, 'x')");
        assert_eq!(
            one,
            key("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')")
        );
        assert_eq!(
            key("INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) RETURNING id"),
            key("INSERT INTO t (a, b) VALUES ($1, $2) RETURNING id")
        );
        // Rows of different shapes stay.
        assert_ne!(one, key("INSERT INTO t (a, b) VALUES (1, 'x'), (2, now())"));
        // The column list is not a row.
        assert_eq!(one, "insert into t ( a , b ) values ( '' , '' )");
    }

    #[test]
    fn utility_statements_keep_their_constants() {
        // pg_query's fingerprint includes them, so the key must too.
        assert_ne!(
            key("COPY t FROM '/a.csv' WITH (DELIMITER ';')"),
            key("COPY t FROM '/a.csv' WITH (DELIMITER ',')")
        );
        assert_ne!(key("SET search_path TO a"), key("SET search_path TO b"));
        // A query after a utility statement folds again.
        assert!(key("SET x TO 'y'; SELECT 1").ends_with("select ''"));
    }

    #[test]
    fn pathological_nesting_is_bounded() {
        let deep = format!("SELECT {}1{}", "(".repeat(500), ")".repeat(500));
        let k = key(&deep);
        assert!(k.starts_with("select ( ( ("));
        let unbalanced = "SELECT ) ) IN ( , ) VALUES ( ( ,";
        let _ = key(unbalanced);
    }
}
