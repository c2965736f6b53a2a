use super::{Lexer, TokenKind};
use crate::test_inputs::{char_boundary_prefixes, random_sql, NASTY_QUERIES};
use TokenKind::{
    BitString, BlockComment, CloseBracket, CloseParen, Colon, Comma, DollarString, Dot,
    EscapeString, HexString, Identifier, LineComment, NationalString, Number, OpenBracket,
    OpenParen, Operator, Other, Parameter, QuotedIdentifier, Semicolon, Typecast, UnicodeString,
    Whitespace,
};

/// `TokenKind::String` is spelled out in full, so that `String` keeps meaning the std type.
const STRING: TokenKind = TokenKind::String;

fn lex(sql: &str) -> Vec<(TokenKind, &str)> {
    Lexer::new(sql)
        .map(|token| (token.kind, token.text))
        .collect()
}

#[track_caller]
fn assert_lexes(sql: &str, expected: &[(TokenKind, &str)]) {
    assert_eq!(lex(sql), expected, "lexing {sql:?}");
}

#[track_caller]
fn assert_one_token(sql: &str, kind: TokenKind) {
    assert_lexes(sql, &[(kind, sql)]);
}

/// The tokens must cover `sql` exactly, in order, with no gaps and no empty tokens.
#[track_caller]
fn assert_tiles(sql: &str) {
    let mut offset = 0;
    for token in Lexer::new(sql) {
        assert_eq!(token.start, offset, "gap or overlap lexing {sql:?}");
        assert!(!token.text.is_empty(), "empty token lexing {sql:?}");
        assert_eq!(
            sql.get(token.start..token.start + token.text.len()),
            Some(token.text)
        );
        offset += token.text.len();
    }
    assert_eq!(offset, sql.len(), "lost the tail lexing {sql:?}");
}

#[test]
fn a_simple_query_splits_into_its_tokens() {
    assert_lexes(
        "SELECT a, b FROM t WHERE x = 1;",
        &[
            (Identifier, "SELECT"),
            (Whitespace, " "),
            (Identifier, "a"),
            (Comma, ","),
            (Whitespace, " "),
            (Identifier, "b"),
            (Whitespace, " "),
            (Identifier, "FROM"),
            (Whitespace, " "),
            (Identifier, "t"),
            (Whitespace, " "),
            (Identifier, "WHERE"),
            (Whitespace, " "),
            (Identifier, "x"),
            (Whitespace, " "),
            (Operator, "="),
            (Whitespace, " "),
            (Number, "1"),
            (Semicolon, ";"),
        ],
    );
}

#[test]
fn tokens_carry_their_byte_offsets() {
    let starts: Vec<usize> = Lexer::new("é = 'ü'").map(|token| token.start).collect();
    assert_eq!(starts, [0, 2, 3, 4, 5]);
}

#[test]
fn whitespace_includes_every_postgres_space_character() {
    assert_one_token(" \t\n\r\x0b\x0c", Whitespace);
}

#[test]
fn a_no_break_space_is_part_of_an_identifier_as_in_postgres() {
    assert_one_token("a\u{a0}b", Identifier);
}

#[test]
fn line_comments_stop_before_the_newline() {
    assert_lexes(
        "-- why\nx",
        &[
            (LineComment, "-- why"),
            (Whitespace, "\n"),
            (Identifier, "x"),
        ],
    );
    assert_lexes(
        "-- why\rx",
        &[
            (LineComment, "-- why"),
            (Whitespace, "\r"),
            (Identifier, "x"),
        ],
    );
    assert_one_token("-- runs to the end", LineComment);
}

#[test]
fn a_comment_start_ends_an_operator() {
    assert_lexes(
        "a+--c",
        &[(Identifier, "a"), (Operator, "+"), (LineComment, "--c")],
    );
    assert_lexes(
        "a-/*c*/b",
        &[
            (Identifier, "a"),
            (Operator, "-"),
            (BlockComment, "/*c*/"),
            (Identifier, "b"),
        ],
    );
}

#[test]
fn block_comments_nest() {
    assert_lexes(
        "/* a /* b */ c */ d",
        &[
            (BlockComment, "/* a /* b */ c */"),
            (Whitespace, " "),
            (Identifier, "d"),
        ],
    );
    assert_one_token("/**/", BlockComment);
    assert_one_token("/***/", BlockComment);
    assert_one_token("/*/ the slash does not close it */", BlockComment);
}

#[test]
fn a_comment_close_outside_a_comment_is_an_operator() {
    assert_lexes(
        "/* a */ */",
        &[
            (BlockComment, "/* a */"),
            (Whitespace, " "),
            (Operator, "*/"),
        ],
    );
}

#[test]
fn identifiers_may_hold_dollars_digits_and_any_non_ascii_character() {
    assert_one_token("SELECT", Identifier);
    assert_one_token("_x1", Identifier);
    assert_one_token("a$b", Identifier);
    assert_one_token("café", Identifier);
    assert_one_token("日本", Identifier);
}

#[test]
fn dollars_right_after_an_identifier_do_not_open_a_dollar_quote() {
    assert_one_token("a$$b$$", Identifier);
}

#[test]
fn quoted_identifiers_double_their_quotes_and_hide_what_is_inside() {
    assert_one_token(r#""a""b""#, QuotedIdentifier);
    assert_one_token(r#""$1""#, QuotedIdentifier);
    assert_one_token(r#""it's -- not a comment""#, QuotedIdentifier);
    assert_one_token(r#"U&"d\0061t""#, QuotedIdentifier);
    assert_one_token(r#"u&"x""#, QuotedIdentifier);
}

#[test]
fn strings_double_their_quotes() {
    assert_one_token("'it''s'", STRING);
    assert_one_token("''", STRING);
    assert_one_token("''''", STRING);
}

#[test]
fn a_backslash_is_an_ordinary_character_in_a_standard_string() {
    assert_one_token(r"'C:\'", STRING);
}

#[test]
fn strings_on_consecutive_lines_are_one_constant() {
    assert_one_token("'a'\n'b'", STRING);
    assert_one_token("'a'  \r\n  'b'", STRING);
    assert_one_token("'a' -- first half\n'b'", STRING);
    assert_one_token("'a'\n\n'b'\n'c'", STRING);
}

#[test]
fn strings_on_the_same_line_or_split_by_a_block_comment_are_not_continued() {
    assert_lexes(
        "'a' 'b'",
        &[(STRING, "'a'"), (Whitespace, " "), (STRING, "'b'")],
    );
    assert_lexes(
        "'a'/* c */\n'b'",
        &[
            (STRING, "'a'"),
            (BlockComment, "/* c */"),
            (Whitespace, "\n"),
            (STRING, "'b'"),
        ],
    );
}

#[test]
fn a_continued_string_keeps_its_kind_and_its_escaping() {
    assert_one_token("E'a'\n'\\''", EscapeString);
    assert_one_token("B'01'\n'10'", BitString);
}

#[test]
fn escape_strings_let_a_backslash_escape_a_quote() {
    assert_one_token(r"E'a\'b'", EscapeString);
    assert_one_token(r"e'\\'", EscapeString);
    assert_one_token(r"E'it''s'", EscapeString);
    assert_lexes(
        r"E'\\' x",
        &[
            (EscapeString, r"E'\\'"),
            (Whitespace, " "),
            (Identifier, "x"),
        ],
    );
}

#[test]
fn prefixed_strings_have_their_own_kinds() {
    assert_one_token("B'0101'", BitString);
    assert_one_token("b'1'", BitString);
    assert_one_token("X'1F'", HexString);
    assert_one_token("x'ff'", HexString);
    assert_one_token("N'über'", NationalString);
    assert_one_token("n'x'", NationalString);
    assert_one_token(r"U&'d\0061t'", UnicodeString);
    assert_one_token("u&'x'", UnicodeString);
}

#[test]
fn a_prefix_is_one_letter_right_before_the_quote() {
    assert_lexes("ab'x'", &[(Identifier, "ab"), (STRING, "'x'")]);
    assert_lexes(
        "U&x",
        &[(Identifier, "U"), (Operator, "&"), (Identifier, "x")],
    );
}

#[test]
fn uescape_is_an_identifier_followed_by_a_string() {
    assert_lexes(
        "U&'d!0061t' UESCAPE '!'",
        &[
            (UnicodeString, "U&'d!0061t'"),
            (Whitespace, " "),
            (Identifier, "UESCAPE"),
            (Whitespace, " "),
            (STRING, "'!'"),
        ],
    );
}

#[test]
fn dollar_quotes_end_at_the_same_tag() {
    assert_one_token("$$it's$$", DollarString);
    assert_one_token("$fn$ SELECT $$x$$ $fn$", DollarString);
    assert_one_token("$a$ $b$ $a$", DollarString);
    assert_one_token("$q$a$qb$q$", DollarString);
    assert_one_token("$_1$x$_1$", DollarString);
    assert_one_token("$é$x$é$", DollarString);
}

#[test]
fn dollar_quote_tags_are_case_sensitive() {
    assert_one_token("$tag$ not closed by $TAG$", DollarString);
}

#[test]
fn a_dollar_then_digits_is_a_parameter_not_a_tag() {
    assert_one_token("$1", Parameter);
    assert_one_token("$42", Parameter);
    assert_lexes("$1$", &[(Parameter, "$1"), (Other, "$")]);
    assert_lexes(
        "$1::int",
        &[(Parameter, "$1"), (Typecast, "::"), (Identifier, "int")],
    );
}

#[test]
fn a_dollar_that_opens_nothing_stands_alone() {
    assert_one_token("$", Other);
    assert_lexes("$a", &[(Other, "$"), (Identifier, "a")]);
    assert_lexes("$ 1", &[(Other, "$"), (Whitespace, " "), (Number, "1")]);
}

#[test]
fn numbers_take_every_postgres_16_form() {
    for number in [
        "42",
        "3.5",
        ".5",
        "1.",
        "1e10",
        "1.5E-3",
        "2e+7",
        "1.e5",
        "0x1F",
        "0X1f",
        "0x_FF",
        "0o17",
        "0b101",
        "1_000_000",
        "1_000.000_1",
    ] {
        assert_one_token(number, Number);
    }
}

#[test]
fn a_range_is_two_integers_around_a_dot_dot() {
    assert_lexes("1..10", &[(Number, "1"), (Operator, ".."), (Number, "10")]);
}

#[test]
fn an_incomplete_number_stops_where_it_stops_being_valid() {
    assert_lexes("1e", &[(Number, "1"), (Identifier, "e")]);
    assert_lexes("1e+", &[(Number, "1"), (Identifier, "e"), (Operator, "+")]);
    assert_lexes("0x", &[(Number, "0"), (Identifier, "x")]);
    assert_lexes("1__0", &[(Number, "1"), (Identifier, "__0")]);
    assert_lexes("t.5", &[(Identifier, "t"), (Number, ".5")]);
}

#[test]
fn operators_take_postgres_multi_character_forms() {
    for operator in [
        "<=", ">=", "<>", "!=", "||", "@>", "<@", "->", "->>", "#>", "#>>", "~~*", "!~~*", "&&",
        "=>", ":=", "?|", "@-",
    ] {
        assert_one_token(operator, Operator);
    }
}

#[test]
fn a_trailing_sign_is_split_off_an_sql_operator() {
    assert_lexes(
        "x=-1",
        &[
            (Identifier, "x"),
            (Operator, "="),
            (Operator, "-"),
            (Number, "1"),
        ],
    );
    assert_lexes(
        "a+-b",
        &[
            (Identifier, "a"),
            (Operator, "+"),
            (Operator, "-"),
            (Identifier, "b"),
        ],
    );
}

#[test]
fn a_trailing_sign_stays_on_an_operator_with_a_non_sql_character() {
    assert_lexes(
        "x@-1",
        &[(Identifier, "x"), (Operator, "@-"), (Number, "1")],
    );
    assert_lexes(
        "x!=-1",
        &[(Identifier, "x"), (Operator, "!=-"), (Number, "1")],
    );
}

#[test]
fn casts_brackets_and_punctuation() {
    assert_lexes(
        "f(a[1:2]::int[]);t.c",
        &[
            (Identifier, "f"),
            (OpenParen, "("),
            (Identifier, "a"),
            (OpenBracket, "["),
            (Number, "1"),
            (Colon, ":"),
            (Number, "2"),
            (CloseBracket, "]"),
            (Typecast, "::"),
            (Identifier, "int"),
            (OpenBracket, "["),
            (CloseBracket, "]"),
            (CloseParen, ")"),
            (Semicolon, ";"),
            (Identifier, "t"),
            (Dot, "."),
            (Identifier, "c"),
        ],
    );
}

#[test]
fn bytes_postgres_passes_on_alone_are_other() {
    assert_lexes("\\{}", &[(Other, "\\"), (Other, "{"), (Other, "}")]);
}

#[test]
fn truncated_tokens_run_to_the_end_of_the_text() {
    for (truncated, kind) in [
        ("'abc", STRING),
        ("'it''", STRING),
        ("'a'\n'b", STRING),
        (r"E'a\'", EscapeString),
        (r"E'\", EscapeString),
        ("B'01", BitString),
        ("X'1", HexString),
        ("N'x", NationalString),
        ("U&'x", UnicodeString),
        ("\"abc", QuotedIdentifier),
        ("\"a\"\"", QuotedIdentifier),
        ("U&\"a", QuotedIdentifier),
        ("$$abc", DollarString),
        ("$tag$abc $tag", DollarString),
        ("$tag$", DollarString),
        ("/* abc", BlockComment),
        ("/* a /* b */", BlockComment),
        ("/* a *", BlockComment),
        ("-- abc", LineComment),
    ] {
        assert_one_token(truncated, kind);
    }
}

#[test]
fn a_string_at_the_end_is_not_continued_by_a_trailing_newline() {
    assert_lexes("'a'\n", &[(STRING, "'a'"), (Whitespace, "\n")]);
    assert_lexes(
        "'a'\n-- no second half",
        &[
            (STRING, "'a'"),
            (Whitespace, "\n"),
            (LineComment, "-- no second half"),
        ],
    );
}

#[test]
fn multi_byte_text_splits_only_between_characters() {
    assert_lexes(
        "SELECT 'héllo', \"日本\", café, $é$ü$é$ /* ✓ */",
        &[
            (Identifier, "SELECT"),
            (Whitespace, " "),
            (STRING, "'héllo'"),
            (Comma, ","),
            (Whitespace, " "),
            (QuotedIdentifier, "\"日本\""),
            (Comma, ","),
            (Whitespace, " "),
            (Identifier, "café"),
            (Comma, ","),
            (Whitespace, " "),
            (DollarString, "$é$ü$é$"),
            (Whitespace, " "),
            (BlockComment, "/* ✓ */"),
        ],
    );
}

#[test]
fn every_prefix_of_a_nasty_query_lexes_into_tiles() {
    for query in NASTY_QUERIES {
        for prefix in char_boundary_prefixes(query) {
            assert_tiles(prefix);
        }
    }
}

#[test]
fn generated_text_lexes_into_tiles() {
    for sql in random_sql(5_000) {
        assert_tiles(&sql);
    }
}
