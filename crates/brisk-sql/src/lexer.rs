//! A tokenizer for PostgreSQL SQL text.
//!
//! The rules follow PostgreSQL's own scanner (`src/backend/parser/scan.l`, PostgreSQL 16 and
//! later) so that token boundaries agree with the server's. The lexer only finds boundaries: it
//! does not recognise keywords, decode escapes or reject malformed text. Where the server would
//! raise a lexical error (`0x` without digits, `123abc`), the lexer still returns tokens, so
//! that callers can always make progress.
//!
//! It assumes `standard_conforming_strings = on`, the default since PostgreSQL 9.1: a backslash
//! is an ordinary character in `'...'` and only escapes in `E'...'`.
//!
//! Hot path: the proxy lexes every query it inspects. The lexer never allocates (a token is a
//! kind and a slice of the input) and never panics. Text that stops mid-token is normal input,
//! because `pg_stat_activity.query` is cut at `track_activity_query_size` (1024 bytes by
//! default): an unterminated string, comment, quoted identifier or dollar quote runs to the end
//! of the text.

use std::iter::FusedIterator;

/// What a [`Token`] is. Keywords are [`TokenKind::Identifier`]s: telling `SELECT` from a column
/// name is the parser's job, and it depends on context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// Spaces, tabs, newlines (`\n` or `\r`), form feeds and vertical tabs.
    Whitespace,
    /// `-- ...` up to, not including, the end of the line.
    LineComment,
    /// `/* ... */`. These nest in PostgreSQL: `/* a /* b */ c */` is one comment.
    BlockComment,
    /// A keyword or an unquoted identifier: `SELECT`, `users`, `a$b`, `café`.
    Identifier,
    /// `"Mixed Case"`, `"a""b"`, or with Unicode escapes, `U&"d\0061t"`.
    QuotedIdentifier,
    /// `'it''s'`. Constants split over lines (`'a'` newline `'b'`) are one token.
    String,
    /// `E'a\'b'`: backslash escapes apply.
    EscapeString,
    /// `U&'d\0061t'`.
    UnicodeString,
    /// `N'...'`, a national character constant.
    NationalString,
    /// `B'0101'`.
    BitString,
    /// `X'1F'`.
    HexString,
    /// `$$...$$` or `$tag$...$tag$`.
    DollarString,
    /// `42`, `3.5`, `.5`, `1e10`, `1.5E-3`, `0x1F`, `0o17`, `0b101`, `1_000_000`. A sign is
    /// never part of a number: `-5` is an operator and a number, as in PostgreSQL.
    Number,
    /// A positional parameter: `$1`.
    Parameter,
    /// `+`, `<=`, `<>`, `||`, `@>`, `->>`, `~~*` and any other run of operator characters, and
    /// the operator-like `:=` (named arguments) and `..` (PL/pgSQL ranges).
    Operator,
    /// `::`.
    Typecast,
    /// `(`.
    OpenParen,
    /// `)`.
    CloseParen,
    /// `[`.
    OpenBracket,
    /// `]`.
    CloseBracket,
    /// `,`.
    Comma,
    /// `;`.
    Semicolon,
    /// `.`.
    Dot,
    /// `:`, as in array slices `a[1:2]`.
    Colon,
    /// A byte that PostgreSQL's scanner hands on alone: `\`, `{`, or a `$` that starts neither a
    /// parameter nor a dollar quote.
    Other,
}

impl TokenKind {
    /// Whitespace and comments: tokens that only separate other tokens.
    #[must_use]
    pub const fn is_trivia(self) -> bool {
        matches!(
            self,
            TokenKind::Whitespace | TokenKind::LineComment | TokenKind::BlockComment
        )
    }

    /// Strings of every kind, and numbers: the tokens that `pg_stat_statements` replaces.
    #[must_use]
    pub const fn is_constant(self) -> bool {
        matches!(
            self,
            TokenKind::String
                | TokenKind::EscapeString
                | TokenKind::UnicodeString
                | TokenKind::NationalString
                | TokenKind::BitString
                | TokenKind::HexString
                | TokenKind::DollarString
                | TokenKind::Number
        )
    }
}

/// A token: its kind and where it sits in the lexed text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    /// What the token is.
    pub kind: TokenKind,
    /// Byte offset of the token's first byte in the lexed text.
    pub start: usize,
    /// The token exactly as written, quotes and prefixes included.
    pub text: &'a str,
}

/// An iterator over the tokens of SQL text. The tokens tile the text: concatenated, they give
/// it back byte for byte.
///
/// ```
/// use brisk_sql::{Lexer, TokenKind};
///
/// let kinds: Vec<TokenKind> = Lexer::new("a <> $1")
///     .filter(|token| !token.kind.is_trivia())
///     .map(|token| token.kind)
///     .collect();
/// assert_eq!(kinds, [TokenKind::Identifier, TokenKind::Operator, TokenKind::Parameter]);
/// ```
#[derive(Debug, Clone)]
pub struct Lexer<'a> {
    sql: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    /// Starts lexing `sql` from its first byte.
    #[must_use]
    pub fn new(sql: &'a str) -> Self {
        Lexer { sql, pos: 0 }
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let start = self.pos;
        let bytes = self.sql.as_bytes();
        let first = *bytes.get(start)?;
        let (kind, end) = scan(bytes, start, first);
        // Every token ends at an ASCII byte or at the end of the text, because all bytes of a
        // multi-byte character are identifier characters and every delimiter is ASCII. So the
        // slice is on a char boundary; `get` turns a broken invariant into the end of the
        // stream instead of a panic on the hot path.
        debug_assert!(end > start && self.sql.is_char_boundary(end));
        let text = self.sql.get(start..end)?;
        self.pos = end;
        Some(Token { kind, start, text })
    }
}

impl FusedIterator for Lexer<'_> {}

/// Finds the token that starts at `start` with the byte `first`. Always consumes at least one
/// byte.
fn scan(bytes: &[u8], start: usize, first: u8) -> (TokenKind, usize) {
    let at = |i: usize| bytes.get(i).copied();
    let second = at(start + 1);
    match first {
        b if is_space(b) => (TokenKind::Whitespace, skip_while(bytes, start, is_space)),
        b'-' if second == Some(b'-') => (TokenKind::LineComment, line_end(bytes, start)),
        b'/' if second == Some(b'*') => (TokenKind::BlockComment, comment_end(bytes, start + 2)),
        b'\'' => (
            TokenKind::String,
            string_end(bytes, start + 1, Backslash::Literal),
        ),
        b'"' => (
            TokenKind::QuotedIdentifier,
            quoted_identifier_end(bytes, start + 1),
        ),
        b'e' | b'E' if second == Some(b'\'') => (
            TokenKind::EscapeString,
            string_end(bytes, start + 2, Backslash::Escapes),
        ),
        b'n' | b'N' if second == Some(b'\'') => (
            TokenKind::NationalString,
            string_end(bytes, start + 2, Backslash::Literal),
        ),
        b'b' | b'B' if second == Some(b'\'') => (
            TokenKind::BitString,
            string_end(bytes, start + 2, Backslash::Literal),
        ),
        b'x' | b'X' if second == Some(b'\'') => (
            TokenKind::HexString,
            string_end(bytes, start + 2, Backslash::Literal),
        ),
        b'u' | b'U' if second == Some(b'&') && at(start + 2) == Some(b'\'') => (
            TokenKind::UnicodeString,
            string_end(bytes, start + 3, Backslash::Literal),
        ),
        b'u' | b'U' if second == Some(b'&') && at(start + 2) == Some(b'"') => (
            TokenKind::QuotedIdentifier,
            quoted_identifier_end(bytes, start + 3),
        ),
        b if is_identifier_start(b) => (
            TokenKind::Identifier,
            skip_while(bytes, start + 1, is_identifier_continue),
        ),
        b'0'..=b'9' => (TokenKind::Number, number_end(bytes, start)),
        b'.' if second.is_some_and(|b| b.is_ascii_digit()) => {
            (TokenKind::Number, number_end(bytes, start))
        }
        b'.' if second == Some(b'.') => (TokenKind::Operator, start + 2),
        b'$' => scan_dollar(bytes, start),
        b':' => match second {
            Some(b':') => (TokenKind::Typecast, start + 2),
            Some(b'=') => (TokenKind::Operator, start + 2),
            _ => (TokenKind::Colon, start + 1),
        },
        b'(' => (TokenKind::OpenParen, start + 1),
        b')' => (TokenKind::CloseParen, start + 1),
        b'[' => (TokenKind::OpenBracket, start + 1),
        b']' => (TokenKind::CloseBracket, start + 1),
        b',' => (TokenKind::Comma, start + 1),
        b';' => (TokenKind::Semicolon, start + 1),
        b'.' => (TokenKind::Dot, start + 1),
        b if is_operator_char(b) => (TokenKind::Operator, operator_end(bytes, start)),
        _ => (TokenKind::Other, start + 1),
    }
}

/// `[ \t\n\r\f\v]`; PostgreSQL 16 added `\v`.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn is_newline(b: u8) -> bool {
    matches!(b, b'\n' | b'\r')
}

/// Every byte of a multi-byte UTF-8 character counts, so `café` and `日本` are identifiers.
fn is_identifier_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_identifier_continue(b: u8) -> bool {
    is_dollar_tag_continue(b) || b == b'$'
}

/// A dollar-quote tag is an identifier that cannot contain `$`.
fn is_dollar_tag_continue(b: u8) -> bool {
    is_identifier_start(b) || b.is_ascii_digit()
}

fn is_operator_char(b: u8) -> bool {
    matches!(
        b,
        b'~' | b'!'
            | b'@'
            | b'#'
            | b'^'
            | b'&'
            | b'|'
            | b'`'
            | b'?'
            | b'+'
            | b'-'
            | b'*'
            | b'/'
            | b'%'
            | b'<'
            | b'>'
            | b'='
    )
}

fn skip_while(bytes: &[u8], mut i: usize, wanted: impl Fn(u8) -> bool) -> usize {
    while bytes.get(i).is_some_and(|&b| wanted(b)) {
        i += 1;
    }
    i
}

/// A line comment stops before the newline, which then lexes as whitespace.
fn line_end(bytes: &[u8], start: usize) -> usize {
    skip_while(bytes, start, |b| !is_newline(b))
}

/// `i` is just past the opening `/*`.
fn comment_end(bytes: &[u8], mut i: usize) -> usize {
    let mut depth = 0usize;
    loop {
        match (bytes.get(i), bytes.get(i + 1)) {
            (None, _) => return bytes.len(),
            (Some(b'*'), Some(b'/')) if depth == 0 => return i + 2,
            (Some(b'*'), Some(b'/')) => {
                depth -= 1;
                i += 2;
            }
            (Some(b'/'), Some(b'*')) => {
                depth += 1;
                i += 2;
            }
            _ => i += 1,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Backslash {
    Literal,
    Escapes,
}

/// `i` is just past the opening quote. A doubled quote stands for one quote; in `E'...'` a
/// backslash also escapes the next byte.
fn string_end(bytes: &[u8], mut i: usize, backslash: Backslash) -> usize {
    loop {
        match bytes.get(i) {
            None => return bytes.len(),
            Some(b'\\') if backslash == Backslash::Escapes => i += 2,
            Some(b'\'') if bytes.get(i + 1) == Some(&b'\'') => i += 2,
            Some(b'\'') => match continuation_quote(bytes, i + 1) {
                Some(quote) => i = quote + 1,
                None => return i + 1,
            },
            Some(_) => i += 1,
        }
    }
}

/// SQL joins string constants separated by whitespace that holds at least one newline:
/// `'a'` newline `'b'` means `'ab'`. `--` comments may sit in that whitespace, `/* */` comments
/// may not. Returns the position of the quote that continues the string.
fn continuation_quote(bytes: &[u8], mut i: usize) -> Option<usize> {
    let mut saw_newline = false;
    loop {
        match *bytes.get(i)? {
            b if is_newline(b) => {
                saw_newline = true;
                i += 1;
            }
            b if is_space(b) => i += 1,
            b'-' if bytes.get(i + 1) == Some(&b'-') => i = line_end(bytes, i),
            b'\'' if saw_newline => return Some(i),
            _ => return None,
        }
    }
}

/// `i` is just past the opening `"`. A doubled `""` stands for one `"`.
fn quoted_identifier_end(bytes: &[u8], mut i: usize) -> usize {
    loop {
        match bytes.get(i) {
            None => return bytes.len(),
            Some(b'"') if bytes.get(i + 1) == Some(&b'"') => i += 2,
            Some(b'"') => return i + 1,
            Some(_) => i += 1,
        }
    }
}

/// At a `$`: a parameter (`$1`), a dollar-quoted string (`$$...$$`, `$tag$...$tag$`), or a
/// lone `$`.
fn scan_dollar(bytes: &[u8], start: usize) -> (TokenKind, usize) {
    let after = start + 1;
    if bytes.get(after).is_some_and(u8::is_ascii_digit) {
        return (
            TokenKind::Parameter,
            skip_while(bytes, after, |b| b.is_ascii_digit()),
        );
    }
    // A tag may not start with a digit; that is what keeps `$1` a parameter.
    let tag_end = if bytes.get(after).is_some_and(|&b| is_identifier_start(b)) {
        skip_while(bytes, after + 1, is_dollar_tag_continue)
    } else {
        after
    };
    let Some(delimiter) = bytes
        .get(start..=tag_end)
        .filter(|d| d.last() == Some(&b'$'))
    else {
        return (TokenKind::Other, after);
    };
    let body = tag_end + 1;
    let end = find(bytes, body, delimiter).map_or(bytes.len(), |at| at + delimiter.len());
    (TokenKind::DollarString, end)
}

/// The first occurrence of `needle` (never empty: at least `$$`) in `bytes[from..]`.
fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let position = bytes
        .get(from..)?
        .windows(needle.len())
        .position(|window| window == needle)?;
    Some(from + position)
}

/// `start` is at a digit, or at a `.` followed by a digit.
fn number_end(bytes: &[u8], start: usize) -> usize {
    let at = |i: usize| bytes.get(i).copied();
    if at(start) == Some(b'0') {
        let radix_digit: Option<fn(u8) -> bool> = match at(start + 1) {
            Some(b'x' | b'X') => Some(|b| b.is_ascii_hexdigit()),
            Some(b'o' | b'O') => Some(|b| matches!(b, b'0'..=b'7')),
            Some(b'b' | b'B') => Some(|b| matches!(b, b'0' | b'1')),
            _ => None,
        };
        if let Some(is_digit) = radix_digit {
            let end = digits_end(bytes, start + 2, is_digit);
            // `0x` with no digits is an error in PostgreSQL; lexing just the `0` keeps going.
            if end > start + 2 {
                return end;
            }
        }
    }

    let integer_end = decimal_end(bytes, start);
    let mut end = integer_end;
    // `1..10` is a range in PL/pgSQL, so `1.` followed by `.` is the integer alone.
    if at(end) == Some(b'.') && at(end + 1) != Some(b'.') {
        end = decimal_end(bytes, end + 1);
    }
    if matches!(at(end), Some(b'e' | b'E')) {
        let exponent = match at(end + 1) {
            Some(b'+' | b'-') => end + 2,
            _ => end + 1,
        };
        let exponent_end = decimal_end(bytes, exponent);
        // `1e` with no exponent digits is the number `1` and then the identifier `e`.
        if exponent_end > exponent {
            end = exponent_end;
        }
    }
    end
}

/// A decimal integer starting at `i`, or nothing: it must start with a digit.
fn decimal_end(bytes: &[u8], i: usize) -> usize {
    if bytes.get(i).is_some_and(u8::is_ascii_digit) {
        digits_end(bytes, i, |b| b.is_ascii_digit())
    } else {
        i
    }
}

/// Digits with single underscores between them (`1_000`), as PostgreSQL 16 accepts.
fn digits_end(bytes: &[u8], mut i: usize, is_digit: fn(u8) -> bool) -> usize {
    loop {
        match bytes.get(i) {
            Some(&b) if is_digit(b) => i += 1,
            Some(b'_') if bytes.get(i + 1).is_some_and(|&b| is_digit(b)) => i += 2,
            _ => return i,
        }
    }
}

/// A run of operator characters, shortened as PostgreSQL does: it stops before a `--` or `/*`
/// (a comment starts there), and a trailing `+` or `-` is split off unless the operator holds a
/// character that no SQL-standard operator uses. That keeps `x=-1` as `=` then `-`, while `@-`
/// stays one operator.
fn operator_end(bytes: &[u8], start: usize) -> usize {
    let mut end = start + 1;
    while let Some(&b) = bytes.get(end) {
        let next = bytes.get(end + 1).copied();
        let comment_starts = (b == b'-' && next == Some(b'-')) || (b == b'/' && next == Some(b'*'));
        if !is_operator_char(b) || comment_starts {
            break;
        }
        end += 1;
    }

    let operator = bytes.get(start..end).unwrap_or_default();
    let non_sql_char = |b: &u8| b"~!@#^&|`?%".contains(b);
    if operator.len() > 1 && !operator.iter().any(non_sql_char) {
        while end - start > 1 && matches!(bytes.get(end - 1), Some(b'+' | b'-')) {
            end -= 1;
        }
    }
    end
}

#[cfg(test)]
mod tests;
