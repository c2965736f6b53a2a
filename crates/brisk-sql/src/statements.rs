//! Statements of a text, and the first word of each: the one splitter and the one first-keyword
//! reader that `lint`, the advisor's `.sql` workloads, the proxy's classifiers and the N+1
//! detector share.
//!
//! The split follows psql's rule, not the parser's, so that it works on text that does not
//! parse (each statement with a syntax error stays one statement, to be reported alone) and
//! agrees with how a user's file runs: a `;` ends a statement outside strings, quoted names,
//! comments and dollar quotes, outside parentheses, and outside the `BEGIN ATOMIC ... END`
//! body of a `CREATE [OR REPLACE] FUNCTION | PROCEDURE`. Inside such a body, `CASE ... END`
//! nests, as in psql's scanner.

use crate::lexer::{Lexer, Token, TokenKind};

/// One statement of a text: where it starts and its text, trimmed, without its `;`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Statement<'a> {
    /// Byte offset of the statement's first token.
    pub offset: usize,
    /// The 1-based line the statement starts on.
    pub line: usize,
    /// The statement, from its first token to its last, comments inside it included.
    pub text: &'a str,
}

/// The statements of `text`, in order. Text with only blanks, comments and `;` has none.
///
/// ```
/// let text = "SELECT 1;\nCREATE FUNCTION f() RETURNS int LANGUAGE sql\n\
///             BEGIN ATOMIC SELECT 1; SELECT 2; END;\nSELECT 'a;b'";
/// let lines: Vec<usize> = brisk_sql::split(text).iter().map(|s| s.line).collect();
/// assert_eq!(lines, [1, 2, 4]);
/// ```
pub fn split<'a>(text: &'a str) -> Vec<Statement<'a>> {
    let mut statements = Vec::new();
    let mut current = Current::default();
    let mut lines_before = 1;
    let mut counted_to = 0;
    let mut finish = |current: &mut Current, statements: &mut Vec<Statement<'a>>| {
        if let Some((start, end)) = current.range.take() {
            lines_before += text[counted_to..start].matches('\n').count();
            counted_to = start;
            statements.push(Statement {
                offset: start,
                line: lines_before,
                text: &text[start..end],
            });
        }
        *current = Current::default();
    };
    for token in Lexer::new(text) {
        if token.kind.is_trivia() {
            continue;
        }
        if token.kind == TokenKind::Semicolon && current.parens == 0 && current.begins == 0 {
            finish(&mut current, &mut statements);
            continue;
        }
        current.take(token);
    }
    finish(&mut current, &mut statements);
    statements
}

/// What the splitter knows of the statement it is in.
#[derive(Default)]
struct Current {
    /// The statement's first and end byte, once it has a token.
    range: Option<(usize, usize)>,
    parens: u32,
    /// Open `BEGIN` (and `CASE` inside one) blocks of a function body.
    begins: u32,
    /// The first words, to tell `CREATE [OR REPLACE] FUNCTION | PROCEDURE`.
    words: u8,
    /// Whether the statement creates a function or procedure, once known.
    creates_routine: Option<bool>,
}

impl Current {
    fn take(&mut self, token: Token<'_>) {
        let end = token.start + token.text.len();
        match &mut self.range {
            Some((_, last)) => *last = end,
            None => self.range = Some((token.start, end)),
        }
        match token.kind {
            TokenKind::OpenParen => self.parens += 1,
            TokenKind::CloseParen => self.parens = self.parens.saturating_sub(1),
            TokenKind::Identifier => self.word(token.text),
            _ => {
                self.creates_routine.get_or_insert(false);
            }
        }
    }

    fn word(&mut self, word: &str) {
        let is = |w: &str| word.eq_ignore_ascii_case(w);
        if self.creates_routine.is_none() {
            // CREATE [OR REPLACE] FUNCTION | PROCEDURE, word by word.
            let fits = match self.words {
                0 => is("create"),
                1 => is("or") || is("function") || is("procedure"),
                2 => is("replace"),
                _ => is("function") || is("procedure"),
            };
            self.words += 1;
            if !fits {
                self.creates_routine = Some(false);
            } else if is("function") || is("procedure") {
                self.creates_routine = Some(true);
            }
            return;
        }
        if self.creates_routine != Some(true) || self.parens != 0 {
            return;
        }
        if is("begin") || (is("case") && self.begins > 0) {
            self.begins += 1;
        } else if is("end") {
            self.begins = self.begins.saturating_sub(1);
        }
    }
}

/// The first word of a statement, as written (compare with `eq_ignore_ascii_case`): the first
/// token that is not a comment, blank or opening parenthesis, when it is a word. `None` for
/// text that starts otherwise (a string, a number, nothing).
///
/// ```
/// assert_eq!(brisk_sql::first_keyword("/* app */ (select 1)"), Some("select"));
/// assert_eq!(brisk_sql::first_keyword("  "), None);
/// ```
pub fn first_keyword(text: &str) -> Option<&str> {
    Lexer::new(text)
        .find(|t| !t.kind.is_trivia() && t.kind != TokenKind::OpenParen)
        .filter(|t| t.kind == TokenKind::Identifier)
        .map(|t| t.text)
}

/// Whether a statement starts with one of `words` (lowercase).
pub fn starts_with_keyword(text: &str, words: &[&str]) -> bool {
    first_keyword(text).is_some_and(|first| words.iter().any(|w| first.eq_ignore_ascii_case(w)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(text: &str) -> Vec<&str> {
        split(text).into_iter().map(|s| s.text).collect()
    }

    #[test]
    fn semicolons_inside_strings_comments_and_parentheses_do_not_split() {
        assert_eq!(
            texts("select 'a;b' /* ; */; -- ;\nselect $$;$$; select \"x;\" from t"),
            ["select 'a;b'", "select $$;$$", "select \"x;\" from t"]
        );
        // psql keeps a `;` inside parentheses in the statement (as in a rule's action list).
        assert_eq!(
            texts("create rule r as on insert to t do also (insert into a values (1); insert into b values (2)); select 1"),
            [
                "create rule r as on insert to t do also (insert into a values (1); insert into b values (2))",
                "select 1"
            ]
        );
    }

    #[test]
    fn a_begin_atomic_body_is_one_statement_with_its_function() {
        let text = "CREATE OR REPLACE FUNCTION f(a int) RETURNS int LANGUAGE sql\n\
                    BEGIN ATOMIC\n  SELECT CASE WHEN a > 0 THEN 1 ELSE 2 END;\n  SELECT a;\nEND;\n\
                    CREATE PROCEDURE p() BEGIN ATOMIC INSERT INTO t VALUES (1); END;\n\
                    BEGIN; SELECT 1; END;";
        let statements = split(text);
        let got: Vec<(usize, &str)> = statements.iter().map(|s| (s.line, s.text)).collect();
        assert_eq!(
            got,
            [
                (1, "CREATE OR REPLACE FUNCTION f(a int) RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT CASE WHEN a > 0 THEN 1 ELSE 2 END;\n  SELECT a;\nEND"),
                (6, "CREATE PROCEDURE p() BEGIN ATOMIC INSERT INTO t VALUES (1); END"),
                (7, "BEGIN"),
                (7, "SELECT 1"),
                (7, "END"),
            ]
        );
    }

    #[test]
    fn offsets_and_lines_point_at_each_statement() {
        let text = "\n-- lead\nselect 1;\n\n  select\n 2 ;;; \nselect 3";
        for statement in split(text) {
            assert_eq!(
                &text[statement.offset..][..statement.text.len()],
                statement.text
            );
            assert_eq!(
                text[..statement.offset].matches('\n').count() + 1,
                statement.line
            );
        }
        assert_eq!(texts(text), ["select 1", "select\n 2", "select 3"]);
        assert!(split(" ;\n-- only\n; ").is_empty());
    }

    #[test]
    fn statements_that_do_not_parse_stay_apart() {
        assert_eq!(
            texts("selec 1 from; select 2; create function f( ; select 3"),
            ["selec 1 from", "select 2", "create function f( ; select 3"]
        );
    }

    /// Where the text parses, the split agrees with PostgreSQL's parser (pg_query), on every
    /// multi-statement text of the shared inputs and on random joins of them.
    #[test]
    fn the_split_agrees_with_the_parser_wherever_the_text_parses() {
        const STATEMENTS: &[&str] = &[
            "SELECT * FROM t WHERE a = 'x;y' AND b = $1",
            "select (select 1), (select 2) from t",
            "INSERT INTO t (a) VALUES (1), (2) ON CONFLICT (a) DO UPDATE SET a = excluded.a",
            "WITH x AS (DELETE FROM t RETURNING *) SELECT count(*) FROM x",
            "CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT a + 1; END",
            "CREATE OR REPLACE PROCEDURE p(a int) LANGUAGE sql BEGIN ATOMIC \
             INSERT INTO t VALUES (a); SELECT CASE WHEN a > 1 THEN 1 ELSE 0 END; END",
            "CREATE FUNCTION g() RETURNS int AS $$ BEGIN RETURN 1; END $$ LANGUAGE plpgsql",
            "DO $d$ BEGIN PERFORM 1; END $d$",
            "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); NOTIFY c)",
            "BEGIN",
            "END",
            "COMMIT",
            "SELECT CASE WHEN true THEN 'begin' ELSE 'end' END AS \"begin\"",
            "CREATE TABLE \"end\" (begin int, \"case\" text)",
            "SELECT begin FROM \"end\"",
            "UPDATE t SET a = a + 1 FROM u WHERE u.id = t.id",
            "SELECT E'it\\'s;', U&'d\\0061t' -- tail ;\n",
            "CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()",
            "COPY t FROM STDIN",
            "SELECT 1 /* ; nested /* ; */ */",
        ];
        let mut inputs: Vec<String> = STATEMENTS.iter().map(|q| q.to_string()).collect();
        // Fixed-seed joins of several inputs, with the separators people write.
        let mut seed: u64 = 0x5eed_0001;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let base = STATEMENTS;
        for _ in 0..300 {
            let count = 2 + (next() % 4) as usize;
            let joined: Vec<&str> = (0..count)
                .map(|_| base[(next() % base.len() as u64) as usize])
                .collect();
            let separator = [";", ";\n", " ;\n\n", ";-- c\n", ";/* c */"][(next() % 5) as usize];
            inputs.push(joined.join(separator));
        }
        inputs.extend(crate::test_inputs::random_sql(2000));
        let mut compared = 0;
        for input in &inputs {
            let Ok(pieces) = pg_query::split_with_parser(input) else {
                assert!(
                    !STATEMENTS.contains(&input.as_str()),
                    "a listed statement does not parse: {input}"
                );
                continue;
            };
            let theirs: Vec<&str> = pieces
                .iter()
                .map(|p| p.trim())
                .filter(|p| !p.is_empty())
                .collect();
            let ours: Vec<&str> = texts(input);
            // The parser's pieces keep comments that trail a statement; compare token by token.
            let strip = |s: &str| -> Vec<String> {
                Lexer::new(s)
                    .filter(|t| !t.kind.is_trivia())
                    .map(|t| t.text.to_string())
                    .collect()
            };
            assert_eq!(
                ours.iter().map(|s| strip(s)).collect::<Vec<_>>(),
                theirs.iter().map(|s| strip(s)).collect::<Vec<_>>(),
                "{input}"
            );
            compared += 1;
        }
        assert!(compared > 250, "only {compared} texts parsed");
    }

    #[test]
    fn the_first_keyword_skips_comments_and_parentheses() {
        assert_eq!(first_keyword("-- x\n((SELECT 1))"), Some("SELECT"));
        assert_eq!(first_keyword("'a'"), None);
        assert!(starts_with_keyword(
            "  Insert into t values (1)",
            &["insert"]
        ));
        assert!(!starts_with_keyword(
            "update t set a = 1",
            &["insert", "delete"]
        ));
    }
}
