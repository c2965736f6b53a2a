//! Rewrites of normalized text (`$n` placeholders, as `pg_stat_statements` prints it) so that
//! PostgreSQL can plan it, and nothing else: the text's meaning is kept.
//!
//! - [`cast_typed_placeholders`]: `pg_stat_statements` turns the typed literal
//!   `interval '7 days'` into `interval $1`, which is no longer SQL (a type name may only
//!   precede a string constant). It becomes `$1::interval`, which is.
//! - [`bind_placeholders`]: `$n` replaced by a value, for planning with representative
//!   values when no typing of the parameters prepares.
//!
//! Both work on brisk-sql's tokens, so strings, comments and quoted identifiers that happen
//! to hold `interval $1` are never touched. Neither needs a database.

use std::borrow::Cow;

use crate::lexer::{Lexer, Token, TokenKind};

/// Returns `sql` with every typed-literal placeholder (`interval $2`, `date $1`,
/// `timestamp with time zone $3`, `public.mood $4`, `double precision $5`) written as a cast
/// (`$2::interval`). Text without one, or that does not parse, is returned as it is.
///
/// The lexer finds the places where a placeholder follows what reads as a type name; the
/// grammar decides. libpg_query's grammar, unlike the server's, accepts a placeholder where
/// a typed literal takes its string (so that it can fingerprint normalized text), and reads
/// it as a cast. A rewrite is kept only when the cast parses to the same tree, so
/// `LIMIT $1`, `ESCAPE $1` and `AT TIME ZONE $1` stay. An interval's qualifier stays after
/// the cast (`interval $1 day` gives `$1::interval day`), where the server accepts it.
///
/// ```
/// use brisk_sql::cast_typed_placeholders;
///
/// assert_eq!(
///     cast_typed_placeholders("SELECT * FROM t WHERE at > now() - interval $1 LIMIT $2"),
///     "SELECT * FROM t WHERE at > now() - $1::interval LIMIT $2",
/// );
/// ```
#[must_use]
pub fn cast_typed_placeholders(sql: &str) -> Cow<'_, str> {
    let Ok(tree) = pg_query::fingerprint(sql) else {
        return Cow::Borrowed(sql);
    };
    let tokens: Vec<Token<'_>> = Lexer::new(sql).filter(|t| !t.kind.is_trivia()).collect();
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0;
    for (at, parameter) in tokens.iter().enumerate() {
        if parameter.kind != TokenKind::Parameter {
            continue;
        }
        let Some(first) = type_name_start(&tokens[..at]) else {
            continue;
        };
        let start = tokens[first].start;
        if start < copied {
            continue;
        }
        let last = &tokens[at - 1];
        let type_name = &sql[start..last.start + last.text.len()];
        let end = parameter.start + parameter.text.len();
        let cast = format!("{}::{type_name}", parameter.text);
        let candidate = format!("{out}{}{cast}{}", &sql[copied..start], &sql[end..]);
        let same_tree = pg_query::fingerprint(&candidate).is_ok_and(|f| f.hex == tree.hex);
        if same_tree {
            out.push_str(&sql[copied..start]);
            out.push_str(&cast);
            copied = end;
        }
    }
    if copied == 0 {
        return Cow::Borrowed(sql);
    }
    out.push_str(&sql[copied..]);
    Cow::Owned(out)
}

/// The index of the first token of the type name that `tokens` end with, if they end with
/// what reads as one: a possibly qualified name with an optional modifier
/// (`numeric(10, 2)`), or one of the SQL standard's multi-word names.
fn type_name_start(tokens: &[Token<'_>]) -> Option<usize> {
    let word = |i: usize, words: &[&str]| {
        tokens.get(i).is_some_and(|t| {
            t.kind == TokenKind::Identifier && words.iter().any(|w| t.text.eq_ignore_ascii_case(w))
        })
    };
    let is_name = |i: usize| {
        tokens
            .get(i)
            .is_some_and(|t| matches!(t.kind, TokenKind::Identifier | TokenKind::QuotedIdentifier))
    };
    let end = tokens.len().checked_sub(1)?;
    // `timestamp(3) with time zone`: the modifier sits inside the name.
    if word(end, &["zone"]) && word(end.checked_sub(1)?, &["time"]) {
        let with = end.checked_sub(2)?;
        if !word(with, &["with", "without"]) {
            return None;
        }
        let base = skip_modifier(tokens, with.checked_sub(1)?)?;
        return word(base, &["timestamp", "time"]).then_some(base);
    }
    let end = skip_modifier(tokens, end)?;
    if word(end, &["precision"]) {
        let double = end.checked_sub(1)?;
        return word(double, &["double"]).then_some(double);
    }
    if word(end, &["varying"]) {
        let base = end.checked_sub(1)?;
        if !word(base, &["character", "char", "bit"]) {
            return None;
        }
        return Some(match base.checked_sub(1) {
            Some(national) if word(national, &["national"]) => national,
            _ => base,
        });
    }
    if !is_name(end) {
        return None;
    }
    let mut start = end;
    while start >= 2 && tokens[start - 1].kind == TokenKind::Dot && is_name(start - 2) {
        start -= 2;
    }
    Some(start)
}

/// When `tokens[end]` closes a parenthesized modifier (`(10, 2)`), the index of the token
/// before its opening parenthesis; otherwise `end`.
fn skip_modifier(tokens: &[Token<'_>], end: usize) -> Option<usize> {
    if tokens[end].kind != TokenKind::CloseParen {
        return Some(end);
    }
    let open = (0..end)
        .rev()
        .find(|&i| tokens[i].kind == TokenKind::OpenParen)?;
    let modifier_only = tokens[open + 1..end]
        .iter()
        .all(|t| matches!(t.kind, TokenKind::Number | TokenKind::Comma));
    modifier_only.then(|| open.checked_sub(1)).flatten()
}

/// Returns `sql` with each placeholder `$n` replaced by `values[n - 1]`, which the caller
/// makes valid SQL (`'42'::integer`, `NULL`). Placeholders without a value stay.
///
/// ```
/// use brisk_sql::bind_placeholders;
///
/// assert_eq!(
///     bind_placeholders("SELECT $2, '$1', $1", &["'a'".into(), "7".into()]),
///     "SELECT 7, '$1', 'a'",
/// );
/// ```
#[must_use]
pub fn bind_placeholders(sql: &str, values: &[String]) -> String {
    let mut out = String::with_capacity(sql.len());
    for token in Lexer::new(sql) {
        let value = (token.kind == TokenKind::Parameter)
            .then(|| token.text[1..].parse::<usize>().ok())
            .flatten()
            .and_then(|n| values.get(n.checked_sub(1)?));
        match value {
            Some(value) => out.push_str(value),
            None => out.push_str(token.text),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn assert_casts(sql: &str, expected: &str) {
        let rewritten = cast_typed_placeholders(sql);
        assert_eq!(rewritten, expected, "rewriting {sql:?}");
        assert!(
            pg_query::parse(&rewritten).is_ok(),
            "{rewritten:?} does not parse"
        );
    }

    #[test]
    fn typed_literal_placeholders_become_casts() {
        assert_casts(
            "SELECT x.id FROM x WHERE x.owner_id = $1 AND x.made_at > now() - interval $2",
            "SELECT x.id FROM x WHERE x.owner_id = $1 AND x.made_at > now() - $2::interval",
        );
        assert_casts(
            "SELECT 1 FROM t WHERE d < date $1 + $2 AND t > timestamp $3 AND tz >= timestamptz $4 AND c::time > time $5",
            "SELECT 1 FROM t WHERE d < $1::date + $2 AND t > $3::timestamp AND tz >= $4::timestamptz AND c::time > $5::time",
        );
    }

    #[test]
    fn multi_word_qualified_and_modified_type_names_move_whole() {
        assert_casts(
            "SELECT timestamp with time zone $1, TIME WITHOUT TIME ZONE $2, double precision $3",
            "SELECT $1::timestamp with time zone, $2::TIME WITHOUT TIME ZONE, $3::double precision",
        );
        assert_casts(
            "SELECT national character varying $1, bit varying(8) $2, timestamp(3) with time zone $3",
            "SELECT $1::national character varying, $2::bit varying(8), $3::timestamp(3) with time zone",
        );
        assert_casts(
            "SELECT public.mood $1, \"Status\" $2, numeric(10, 2) $3",
            "SELECT $1::public.mood, $2::\"Status\", $3::numeric(10, 2)",
        );
    }

    #[test]
    fn an_interval_keeps_its_qualifier() {
        assert_casts(
            "SELECT now() - interval $1 day",
            "SELECT now() - $1::interval day",
        );
    }

    #[test]
    fn placeholders_anywhere_in_the_tree_are_found() {
        assert_casts(
            "SELECT count(*) FILTER (WHERE at > now() - interval $1), sum(n) OVER (ORDER BY at RANGE BETWEEN interval $2 PRECEDING AND CURRENT ROW) FROM t",
            "SELECT count(*) FILTER (WHERE at > now() - $1::interval), sum(n) OVER (ORDER BY at RANGE BETWEEN $2::interval PRECEDING AND CURRENT ROW) FROM t",
        );
    }

    #[test]
    fn what_parses_is_left_alone() {
        for sql in [
            "SELECT * FROM t WHERE a = $1 ORDER BY b LIMIT $2 OFFSET $3",
            "SELECT now() AT TIME ZONE $1",
            "SELECT x FROM t WHERE y LIKE $1 ESCAPE $2 AND z BETWEEN $3 AND $4",
            "SELECT a FROM t ORDER BY a OFFSET $1 ROWS FETCH FIRST $2 ROWS ONLY",
            "SELECT extract($1 FROM at) FROM t",
            "SELECT CASE WHEN a THEN $1 ELSE $2 END FROM t",
            "SELECT $1::interval",
        ] {
            assert!(
                matches!(cast_typed_placeholders(sql), Cow::Borrowed(_)),
                "{sql}"
            );
        }
    }

    #[test]
    fn strings_comments_and_quoted_identifiers_are_never_touched() {
        assert_casts(
            "SELECT 'interval $1', \"date $1\" /* date $1 */ FROM t WHERE a > date $1 -- interval $2",
            "SELECT 'interval $1', \"date $1\" /* date $1 */ FROM t WHERE a > $1::date -- interval $2",
        );
    }

    #[test]
    fn other_syntax_errors_stay_as_they_are() {
        for sql in ["SELEC 1", "SELECT $1 $2", "SELECT (1) $1", "SELECT date"] {
            assert_eq!(cast_typed_placeholders(sql), sql);
        }
    }

    #[test]
    fn bound_values_replace_placeholders_only() {
        assert_eq!(
            bind_placeholders(
                "SELECT * FROM t WHERE a = $1 AND b = '$2' /* $1 */ LIMIT $2 OFFSET $3",
                &["'x'::text".into(), "20".into()]
            ),
            "SELECT * FROM t WHERE a = 'x'::text AND b = '$2' /* $1 */ LIMIT 20 OFFSET $3"
        );
    }
}
