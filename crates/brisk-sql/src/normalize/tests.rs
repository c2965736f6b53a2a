use super::{normalize, normalize_into};
use crate::test_inputs::{char_boundary_prefixes, random_sql, NASTY_QUERIES};
use crate::{Lexer, Token, TokenKind};

#[track_caller]
fn assert_normalizes(sql: &str, expected: &str) {
    assert_eq!(normalize(sql), expected, "normalizing {sql:?}");
}

/// What must hold for any input, finished or cut short: normalizing again changes nothing, and
/// the output has no comments, no runs of whitespace and no whitespace at either end. (Text
/// inside an unterminated quoted identifier, kept as written, may end in whitespace.)
#[track_caller]
fn assert_well_formed(sql: &str) {
    let normalized = normalize(sql);
    assert_eq!(
        normalize(&normalized),
        normalized,
        "not idempotent for {sql:?}"
    );
    let tokens: Vec<Token<'_>> = Lexer::new(&normalized).collect();
    for token in &tokens {
        if token.kind.is_trivia() {
            assert_eq!(
                token.text, " ",
                "left trivia in {normalized:?} from {sql:?}"
            );
        }
    }
    for end in [tokens.first(), tokens.last()].into_iter().flatten() {
        assert!(
            !end.kind.is_trivia(),
            "untrimmed {normalized:?} from {sql:?}"
        );
    }
}

#[test]
fn every_kind_of_constant_becomes_a_placeholder() {
    for constant in [
        "'x'",
        "E'x\\''",
        "U&'x'",
        "N'x'",
        "B'0101'",
        "X'1F'",
        "$$x$$",
        "$tag$x$tag$",
        "42",
        "3.5",
        ".5",
        "1.5E-3",
        "0x1F",
        "1_000",
    ] {
        assert_normalizes(&format!("SELECT {constant} AS c"), "SELECT $1 AS c");
    }
}

#[test]
fn booleans_and_null_are_kept_as_written() {
    assert_normalizes(
        "SELECT TRUE, false, NULL WHERE a IS NOT null",
        "SELECT TRUE, false, NULL WHERE a IS NOT null",
    );
}

#[test]
fn everything_but_constants_is_kept_byte_for_byte() {
    assert_normalizes(
        r#"select "Weird ""Name""", doc->>'k' FROM s.T WHERE tags @> ARRAY['a'] AND x != y"#,
        r#"select "Weird ""Name""", doc->>$1 FROM s.T WHERE tags @> ARRAY[$2] AND x != y"#,
    );
}

#[test]
fn placeholders_are_numbered_after_the_parameters_already_present() {
    assert_normalizes("WHERE a = $1 AND b = 'x'", "WHERE a = $1 AND b = $2");
    assert_normalizes(
        "WHERE a = 'x' AND b = $3 AND c = 7",
        "WHERE a = $4 AND b = $3 AND c = $5",
    );
}

#[test]
fn text_that_only_looks_like_a_parameter_does_not_shift_the_numbering() {
    assert_normalizes(
        r#"SELECT "$7", '$8', $$ $9 $$ /* $10 */"#,
        r#"SELECT "$7", $1, $2"#,
    );
}

#[test]
fn a_huge_parameter_number_saturates_instead_of_overflowing() {
    assert_normalizes(
        "SELECT $99999999999999999999999, 1",
        "SELECT $99999999999999999999999, $18446744073709551615",
    );
}

#[test]
fn a_minus_where_an_operand_is_expected_is_part_of_the_number() {
    for (sql, expected) in [
        ("-1", "$1"),
        ("SELECT -1", "SELECT $1"),
        ("x = -5", "x = $1"),
        ("x=-5", "x=$1"),
        ("x = - 5", "x = $1"),
        ("x = -/* why */5", "x = $1"),
        ("LIMIT -1", "LIMIT $1"),
        ("f(-1, -2.5)", "f($1, $2)"),
        ("a[-1]", "a[$1]"),
        ("a - -5", "a - $1"),
        ("x IN (-1)", "x IN ($1)"),
        ("x between -1 and -2", "x between $1 and $2"),
        (
            "CASE WHEN a THEN -1 ELSE -2 END",
            "CASE WHEN a THEN $1 ELSE $2 END",
        ),
    ] {
        assert_normalizes(sql, expected);
    }
}

#[test]
fn a_minus_after_an_operand_is_a_subtraction() {
    for (sql, expected) in [
        ("a - 5", "a - $1"),
        ("a -5", "a -$1"),
        ("a-5", "a-$1"),
        ("(a) - 1", "(a) - $1"),
        ("a[1] - 1", "a[$1] - $2"),
        ("$1 - 1", "$1 - $2"),
        (r#""a" - 1"#, r#""a" - $1"#),
        ("1 - 1", "$1 - $2"),
        ("CASE WHEN a THEN b END - 1", "CASE WHEN a THEN b END - $1"),
    ] {
        assert_normalizes(sql, expected);
    }
}

#[test]
fn only_a_minus_before_a_number_is_folded() {
    assert_normalizes("x = -y", "x = -y");
    assert_normalizes("x = -'5'", "x = -$1");
    assert_normalizes("x = +5", "x = +$1");
    assert_normalizes("x = -$1", "x = -$1");
}

#[test]
fn typed_literals_keep_their_type() {
    assert_normalizes("SELECT interval '1 day'", "SELECT interval $1");
    assert_normalizes("SELECT DATE '2024-01-01'", "SELECT DATE $1");
    assert_normalizes("SELECT '1'::int", "SELECT $1::int");
    assert_normalizes("SELECT '{1,2}'::int[]", "SELECT $1::int[]");
    assert_normalizes("SELECT CAST('1' AS int)", "SELECT CAST($1 AS int)");
}

#[test]
fn comments_are_removed() {
    assert_normalizes("SELECT 1 -- one", "SELECT $1");
    assert_normalizes("/* app=web */ SELECT 1", "SELECT $1");
    assert_normalizes("SELECT /* a /* nested */ b */ 1", "SELECT $1");
}

#[test]
fn a_comment_still_separates_the_tokens_around_it() {
    assert_normalizes("SELECT a/**/b", "SELECT a b");
}

#[test]
fn whitespace_collapses_and_is_trimmed_but_never_added() {
    assert_normalizes("  SELECT\n\t a ,\r\n b  FROM t  ", "SELECT a , b FROM t");
    assert_normalizes(
        "SELECT a,b FROM t WHERE x=1",
        "SELECT a,b FROM t WHERE x=$1",
    );
}

#[test]
fn a_placeholder_is_kept_apart_from_an_identifier_it_would_merge_with() {
    assert_normalizes("SELECT date'2024-01-01'", "SELECT date $1");
    assert_normalizes("SELECT-1", "SELECT $1");
    assert_normalizes("SELECT $'x'", "SELECT $ $1");
}

#[test]
fn strings_continued_over_lines_are_one_constant() {
    assert_normalizes("SELECT 'a'\n'b' -- split\n'c'", "SELECT $1");
    assert_normalizes("SELECT 'a' 'b'", "SELECT $1 $2");
}

#[test]
fn the_uescape_character_is_syntax_and_kept() {
    assert_normalizes("SELECT U&'d!0061t' UESCAPE '!'", "SELECT $1 UESCAPE '!'");
    assert_normalizes(
        r#"SELECT U&"d!0061t" uescape '!' FROM t"#,
        r#"SELECT U&"d!0061t" uescape '!' FROM t"#,
    );
}

#[test]
fn only_a_unicode_literal_has_an_escape_character() {
    assert_normalizes("SELECT 'x' UESCAPE '!'", "SELECT $1 UESCAPE $2");
}

#[test]
fn truncated_queries_still_normalize() {
    for (truncated, expected) in [
        ("SELECT 'abc", "SELECT $1"),
        ("SELECT 'a'\n'b", "SELECT $1"),
        (r"SELECT E'a\'", "SELECT $1"),
        ("SELECT B'01", "SELECT $1"),
        ("SELECT X'1", "SELECT $1"),
        ("SELECT N'x", "SELECT $1"),
        ("SELECT U&'x", "SELECT $1"),
        ("SELECT $$abc", "SELECT $1"),
        ("SELECT $fn$ BEGIN $$", "SELECT $1"),
        ("SELECT \"abc", "SELECT \"abc"),
        ("SELECT 1 /* abc", "SELECT $1"),
        ("SELECT 1 /* a /* b */", "SELECT $1"),
        ("SELECT 1 -- abc", "SELECT $1"),
        ("WHERE x = -", "WHERE x = -"),
        ("WHERE x = - ", "WHERE x = -"),
    ] {
        assert_normalizes(truncated, expected);
    }
}

#[test]
fn multi_byte_text_survives_untouched() {
    assert_normalizes(
        "SELECT 'héllo' FROM café WHERE 日本 = '東京' AND \"ü\" = $é$ö$é$",
        "SELECT $1 FROM café WHERE 日本 = $2 AND \"ü\" = $3",
    );
}

#[test]
fn queries_that_differ_only_in_constants_normalize_alike() {
    let variants = [
        "SELECT * FROM orders WHERE id = 42 AND status = 'paid' LIMIT 10",
        "SELECT * FROM orders WHERE id = -7 AND status = 'it''s refunded' LIMIT 1",
        "SELECT * FROM orders WHERE id = 1e3 AND status = E'\\'new\\'' LIMIT 0x10",
        "SELECT * FROM orders WHERE id = - 1 AND status = $$pending$$ LIMIT 99",
    ];
    for variant in variants {
        assert_normalizes(
            variant,
            "SELECT * FROM orders WHERE id = $1 AND status = $2 LIMIT $3",
        );
    }
}

#[test]
fn normalize_into_replaces_the_buffer_and_reuses_its_memory() {
    let mut out = String::from("left over from the last query");
    normalize_into("SELECT 1", &mut out);
    assert_eq!(out, "SELECT $1");

    let capacity = out.capacity();
    normalize_into("SELECT 2", &mut out);
    assert_eq!(out, "SELECT $1");
    assert_eq!(out.capacity(), capacity);
}

#[test]
fn empty_and_blank_text_normalize_to_nothing() {
    assert_normalizes("", "");
    assert_normalizes(" \n -- only a comment", "");
}

#[test]
fn every_prefix_of_a_nasty_query_normalizes_without_panicking() {
    for query in NASTY_QUERIES {
        for prefix in char_boundary_prefixes(query) {
            assert_well_formed(prefix);
        }
    }
}

#[test]
fn generated_text_normalizes_without_panicking() {
    for sql in random_sql(5_000) {
        assert_well_formed(&sql);
    }
}

#[test]
fn the_output_holds_no_constant_but_the_uescape_character() {
    for query in NASTY_QUERIES {
        let normalized = normalize(query);
        let constants: Vec<&str> = Lexer::new(&normalized)
            .filter(|token| token.kind.is_constant())
            .map(|token| token.text)
            .collect();
        let expected: &[&str] = if query.contains("UESCAPE") {
            &["'!'"]
        } else {
            &[]
        };
        assert_eq!(constants, expected, "constants left in {normalized:?}");
        assert!(!normalized.contains("--") && !normalized.contains("/*"));
        assert!(Lexer::new(&normalized).all(|token| token.kind != TokenKind::Other));
    }
}
