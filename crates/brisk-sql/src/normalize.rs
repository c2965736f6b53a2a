//! Display normalization, the way `pg_stat_statements` shows queries: constants become `$n`.
//!
//! Two queries that differ only in their constants normalize to the same text, so they can be
//! counted, compared and shown as one. On top of what `pg_stat_statements` does, comments are
//! dropped and whitespace is collapsed, because the text here comes from many clients that
//! format the same query differently.
//!
//! Hot path: the proxy normalizes queries as it relays them. [`normalize_into`] lexes the text
//! twice (once to find the highest `$n` already present, once to write) rather than buffer the
//! tokens, and its only allocation is growing `out`.

use std::fmt::Write;

use crate::lexer::{Lexer, Token, TokenKind};

/// Returns `sql` with every constant replaced by `$n`.
///
/// - Strings of every kind and numbers become `$1`, `$2`, ... in order of appearance, numbered
///   after the highest `$n` already in the text (as `pg_stat_statements` numbers them for queries
///   sent with the extended protocol). `TRUE`, `FALSE` and `NULL` are kept, as it keeps them.
/// - A minus sign belongs to the number it negates (`x = -5` gives `x = $1`); a subtraction
///   does not (`a - 5` gives `a - $1`).
/// - Comments are dropped. A comment or run of whitespace becomes one space and the result is
///   trimmed. No space is added where the text had none, with one exception: a placeholder
///   right after an identifier gets a space (`date'2024-01-01'` gives `date $1`), because
///   `date$1` would read back as a single identifier.
/// - Everything else is kept byte for byte, case included.
///
/// Text that stops mid-token, as truncated `pg_stat_activity` queries do, still normalizes: an
/// unterminated string becomes one `$n`. Normalizing the result again leaves it unchanged.
///
/// ```
/// use brisk_sql::normalize;
///
/// assert_eq!(
///     normalize("SELECT * FROM t WHERE a = $1 AND b = 'x' -- by name"),
///     "SELECT * FROM t WHERE a = $1 AND b = $2",
/// );
/// ```
#[must_use]
pub fn normalize(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    normalize_into(sql, &mut out);
    out
}

/// Like [`normalize`], but writes into `out`, replacing what it held, so that one buffer can
/// serve many queries without allocating each time.
pub fn normalize_into(sql: &str, out: &mut String) {
    out.clear();
    let mut next_placeholder = highest_parameter(sql).saturating_add(1);
    let mut previous: Option<Token<'_>> = None;
    let mut space_pending = false;
    let mut escape_character_next = false;
    let mut tokens = Lexer::new(sql);

    while let Some(token) = tokens.next() {
        if token.kind.is_trivia() {
            space_pending = true;
            continue;
        }
        if space_pending && !out.is_empty() {
            out.push(' ');
        }
        let glued_to_previous = !space_pending && !out.is_empty();
        space_pending = false;

        // In `U&'d!0061t' UESCAPE '!'`, the last string names the escape character: it is
        // syntax, not a value, and `pg_stat_statements` leaves it in place.
        let is_escape_character = escape_character_next;
        escape_character_next = is_uescape_of_unicode_literal(&token, previous.as_ref());

        let constant = if token.kind.is_constant() && !is_escape_character {
            Some(token)
        } else if token.kind == TokenKind::Operator
            && token.text == "-"
            && minus_is_sign(previous.as_ref())
        {
            take_number(&mut tokens)
        } else {
            None
        };

        match constant {
            Some(constant) => {
                if glued_to_previous && previous.as_ref().is_some_and(fuses_with_placeholder) {
                    out.push(' ');
                }
                // Writing into a String cannot fail.
                let _ = write!(out, "${next_placeholder}");
                next_placeholder = next_placeholder.saturating_add(1);
                previous = Some(constant);
            }
            None => {
                out.push_str(token.text);
                previous = Some(token);
            }
        }
    }
}

/// The highest `$n` in `sql`, or 0. Only real parameters count, not `"$1"` or `'$1'`.
pub(crate) fn highest_parameter(sql: &str) -> u64 {
    Lexer::new(sql)
        .filter(|token| token.kind == TokenKind::Parameter)
        .map(|token| parameter_number(token.text))
        .max()
        .unwrap_or(0)
}

/// Saturates rather than overflows: the server rejects such numbers anyway, and numbering must
/// not panic on them.
fn parameter_number(parameter: &str) -> u64 {
    parameter
        .chars()
        .filter_map(|c| c.to_digit(10))
        .fold(0, |number, digit| {
            number.saturating_mul(10).saturating_add(u64::from(digit))
        })
}

/// Whether `token` is the `UESCAPE` keyword after a `U&'...'` string or `U&"..."` identifier.
/// A parameter counts as a `U&'...'` string: that is how one reads once normalized, and
/// normalizing normalized text must not change it.
fn is_uescape_of_unicode_literal(token: &Token<'_>, previous: Option<&Token<'_>>) -> bool {
    let after_unicode = previous.is_some_and(|previous| match previous.kind {
        TokenKind::UnicodeString | TokenKind::Parameter => true,
        TokenKind::QuotedIdentifier => !previous.text.starts_with('"'),
        _ => false,
    });
    after_unicode
        && token.kind == TokenKind::Identifier
        && token.text.eq_ignore_ascii_case("UESCAPE")
}

/// Whether a `$n` written right after `token` would merge with it into another token: an
/// identifier takes in `$` and digits (`a$1`), and a stray `$` would make `$$`, the start of a
/// dollar quote.
fn fuses_with_placeholder(token: &Token<'_>) -> bool {
    match token.kind {
        TokenKind::Identifier => true,
        TokenKind::Other => token.text == "$",
        _ => false,
    }
}

/// Keywords after which an expression starts, so that a `-` following them is a sign.
/// PostgreSQL decides this in its grammar; without a parser, the previous token is the best
/// evidence there is.
const KEYWORDS_BEFORE_AN_OPERAND: &[&str] = &[
    "ALL",
    "AND",
    "ASYMMETRIC",
    "BETWEEN",
    "BY",
    "CASE",
    "DEFAULT",
    "DISTINCT",
    "ELSE",
    "FOR",
    "FROM",
    "HAVING",
    "ILIKE",
    "IN",
    "LIKE",
    "LIMIT",
    "NOT",
    "OFFSET",
    "ON",
    "OR",
    "RETURN",
    "RETURNING",
    "SELECT",
    "SYMMETRIC",
    "THEN",
    "TO",
    "VALUES",
    "WHEN",
    "WHERE",
    "WITH",
];

/// Whether a `-` after `previous` negates what follows rather than subtracts from what came
/// before: it does when no operand ends at `previous`.
pub(crate) fn minus_is_sign(previous: Option<&Token<'_>>) -> bool {
    let Some(previous) = previous else {
        return true;
    };
    match previous.kind {
        TokenKind::Identifier => KEYWORDS_BEFORE_AN_OPERAND
            .iter()
            .any(|keyword| previous.text.eq_ignore_ascii_case(keyword)),
        TokenKind::QuotedIdentifier
        | TokenKind::Parameter
        | TokenKind::CloseParen
        | TokenKind::CloseBracket => false,
        kind => !kind.is_constant(),
    }
}

/// Consumes the next token that is not trivia if it is a number, so that the sign, the
/// whitespace or comments after it and the number make one constant, as in `pg_stat_statements`.
pub(crate) fn take_number<'a>(tokens: &mut Lexer<'a>) -> Option<Token<'a>> {
    let mut lookahead = tokens.clone();
    let next = lookahead.find(|token| !token.kind.is_trivia())?;
    if next.kind != TokenKind::Number {
        return None;
    }
    *tokens = lookahead;
    Some(next)
}

#[cfg(test)]
mod tests;
