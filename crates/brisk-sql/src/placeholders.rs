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

use pg_query::NodeRef;

use crate::lexer::{Lexer, TokenKind};

/// Returns `sql` with every typed-literal placeholder (`interval $2`, `date $1`,
/// `timestamp with time zone $3`, `public.mood $4`, `double precision $5`) written as a cast
/// (`$2::interval`). Text without one, or that does not parse, is returned as it is.
///
/// libpg_query's grammar, unlike the server's, accepts a placeholder where a typed literal
/// takes its string (so that it can fingerprint normalized text), and reads it as a cast
/// whose type name comes before its `$n`. Those casts, and only those, are rewritten: the
/// grammar decides what is a type name, so `LIMIT $1` and `AT TIME ZONE $1` stay. An
/// interval's qualifier stays after the cast (`interval $1 day` gives
/// `$1::interval day`), where the server's grammar accepts it.
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
    let Ok(parsed) = pg_query::parse(sql) else {
        return Cow::Borrowed(sql);
    };
    // (where the type name starts, where the `$n` starts)
    let mut typed: Vec<(usize, usize)> = Vec::new();
    for (node, ..) in parsed.protobuf.nodes() {
        let NodeRef::TypeCast(cast) = node else {
            continue;
        };
        let Some(pg_query::NodeEnum::ParamRef(param)) =
            cast.arg.as_deref().and_then(|a| a.node.as_ref())
        else {
            continue;
        };
        let type_at = cast.type_name.as_ref().map(|t| t.location);
        if let (Some(Ok(type_at)), Ok(param_at)) = (
            type_at.map(usize::try_from),
            usize::try_from(param.location),
        ) {
            if type_at < param_at {
                typed.push((type_at, param_at));
            }
        }
    }
    if typed.is_empty() {
        return Cow::Borrowed(sql);
    }
    typed.sort_unstable();
    let mut out = String::with_capacity(sql.len() + 2 * typed.len());
    let mut copied = 0;
    for (type_at, param_at) in typed {
        let Some(rewrite) = cast_text(sql, type_at, param_at).filter(|_| type_at >= copied) else {
            continue;
        };
        out.push_str(&sql[copied..type_at]);
        out.push_str(&rewrite.cast);
        copied = rewrite.end;
    }
    out.push_str(&sql[copied..]);
    Cow::Owned(out)
}

/// A typed placeholder written as a cast, and the byte where the original ends.
struct Rewrite {
    cast: String,
    end: usize,
}

/// `$n::type` for the type name at `type_at` and the placeholder at `param_at`, from the
/// tokens between them: the type name is everything up to the last token that is not a
/// comment or whitespace.
fn cast_text(sql: &str, type_at: usize, param_at: usize) -> Option<Rewrite> {
    let between = sql.get(type_at..param_at)?;
    let type_end = Lexer::new(between)
        .filter(|t| !t.kind.is_trivia())
        .last()
        .map(|t| t.start + t.text.len())?;
    let param = Lexer::new(sql.get(param_at..)?).next()?;
    if param.kind != TokenKind::Parameter {
        return None;
    }
    Some(Rewrite {
        cast: format!("{}::{}", param.text, &between[..type_end]),
        end: param_at + param.text.len(),
    })
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
    fn what_parses_is_left_alone() {
        for sql in [
            "SELECT * FROM t WHERE a = $1 ORDER BY b LIMIT $2 OFFSET $3",
            "SELECT now() AT TIME ZONE $1",
            "SELECT x FROM t WHERE y LIKE $1 ESCAPE $2 AND z BETWEEN $3 AND $4",
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
