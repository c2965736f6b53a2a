//! What a statement does to a session's state, read from its text: the reported settings it
//! resets to their startup values ([`effects`]), the session features that tie a client to
//! one server connection ([`session_feature`]), and the statements whose description depends
//! on the session ([`describes_session_state`]).
//!
//! The proxy uses these to keep clients that share server connections apart; they are here,
//! not in the proxy, so that every reader of SQL (the proxy, the log reader, the cache's
//! eligibility test) classifies a statement the same way.
//!
//! Hot path: the proxy calls [`effects`] and [`session_feature`] on every query text. Both
//! rule out nearly every text with one pass over its bytes, without lexing.

use crate::{Lexer, TokenKind};

/// The reported settings a client may change and a pooler replays, as the server names them in
/// ParameterStatus (PgBouncer tracks the same five, plus `standard_conforming_strings`).
pub const TRACKED: [&str; 6] = [
    "application_name",
    "client_encoding",
    "DateStyle",
    "IntervalStyle",
    "TimeZone",
    "standard_conforming_strings",
];

/// The position of a tracked setting in [`TRACKED`], by its name in any case.
pub fn tracked_index(name: &str) -> Option<usize> {
    TRACKED.iter().position(|t| t.eq_ignore_ascii_case(name))
}

/// What a statement does to the session state brisk follows: the tracked settings it resets
/// to their startup values, whether that reset is `LOCAL`, and whether it makes the server
/// forget every prepared statement. A bit set; empty for nearly every statement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Effects(u8);

const LOCAL: u8 = 1 << 6;
const FORGETS_PREPARED: u8 = 1 << 7;
const ALL_SETTINGS: u8 = (1 << TRACKED.len()) - 1;

impl Effects {
    /// A statement that changes nothing brisk follows.
    pub const NONE: Effects = Effects(0);

    /// Whether the statement changes nothing brisk follows.
    pub fn is_none(self) -> bool {
        self.0 == 0
    }

    /// Whether the tracked setting at `index` goes back to its startup value.
    pub fn resets(self, index: usize) -> bool {
        self.0 & (1 << index) != 0
    }

    /// Whether any tracked setting goes back to its startup value.
    pub fn resets_any(self) -> bool {
        self.0 & ALL_SETTINGS != 0
    }

    /// The reset lasts only until the end of the transaction (`SET LOCAL ... TO DEFAULT`).
    pub fn local(self) -> bool {
        self.0 & LOCAL != 0
    }

    /// The server forgets all prepared statements (`DISCARD ALL`, `DEALLOCATE ALL`).
    pub fn forgets_prepared(self) -> bool {
        self.0 & FORGETS_PREPARED != 0
    }

    /// The effects of both.
    pub fn union(self, other: Effects) -> Effects {
        Effects(self.0 | other.0)
    }

    fn with(self, bits: u8) -> Effects {
        Effects(self.0 | bits)
    }
}

/// The [`Effects`] of a query text (one statement or several). Hot path: most texts are
/// ruled out by their first word (see `for_each_statement_words`).
pub fn effects(query: &str) -> Effects {
    let mut effects = Effects::NONE;
    for_each_statement_words(query, |words| {
        effects = effects.with(statement_effects(words));
    });
    effects
}

/// What a statement that resets settings resets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reset {
    /// `RESET ALL`, `DISCARD ALL`.
    All,
    /// `RESET name`, `SET [SESSION] name TO DEFAULT` (lowercased, as PostgreSQL folds it).
    Setting(String),
    /// `SET LOCAL name TO DEFAULT`: until the end of the transaction.
    Local(String),
}

/// The settings a query text resets, whatever they are (the tracked ones included); the
/// same reading as [`effects`], for a proxy that applies settings brisk does not track.
///
/// ```
/// use brisk_sql::session::{resets, Reset};
/// assert_eq!(resets("RESET search_path"), [Reset::Setting("search_path".into())]);
/// assert_eq!(resets("set local statement_timeout to default; discard all"),
///            [Reset::Local("statement_timeout".into()), Reset::All]);
/// assert!(resets("SELECT 1").is_empty());
/// ```
pub fn resets(query: &str) -> Vec<Reset> {
    let mut found = Vec::new();
    for_each_statement_words(query, |words| {
        let words: Vec<&str> = words.iter().take(6).map(String::as_str).collect();
        let reset = match words.as_slice() {
            ["discard", "all"] | ["reset", "all"] => Some(Reset::All),
            ["reset", "time", "zone"] => Some(Reset::Setting("timezone".into())),
            ["reset", name] if !name.is_empty() => Some(Reset::Setting(name.to_string())),
            ["set", "local", "time", "zone", "default" | "local"] => {
                Some(Reset::Local("timezone".into()))
            }
            ["set", "session", "time", "zone", "default" | "local"]
            | ["set", "time", "zone", "default" | "local"] => {
                Some(Reset::Setting("timezone".into()))
            }
            ["set", "local", name, "to" | "", "default"] if !name.is_empty() => {
                Some(Reset::Local(name.to_string()))
            }
            ["set", "session", name, "to" | "", "default"]
            | ["set", name, "to" | "", "default"]
                if !name.is_empty() =>
            {
                Some(Reset::Setting(name.to_string()))
            }
            _ => None,
        };
        found.extend(reset);
    });
    found
}

/// Calls `each` with the first words of every statement of `query` that might reset or
/// forget something (lowercased identifiers; any other token is an empty word).
///
/// Hot path: every Query and Parse comes here. Texts that cannot reset anything are ruled
/// out by their first word without lexing: only a text that starts with `RESET`, `SET`,
/// `DISCARD` or `DEALLOCATE` (or a comment), or that holds a `;`, is read further.
fn for_each_statement_words(query: &str, mut each: impl FnMut(&[String])) {
    if !might_have_effects(query.as_bytes()) {
        return;
    }
    let mut words: Vec<String> = Vec::new();
    let tokens = Lexer::new(query).filter(|t| !t.kind.is_trivia());
    for token in tokens.chain(std::iter::once(crate::Token {
        kind: TokenKind::Semicolon,
        start: query.len(),
        text: ";",
    })) {
        match token.kind {
            TokenKind::Semicolon => {
                each(&words);
                words.clear();
            }
            TokenKind::Identifier => words.push(token.text.to_ascii_lowercase()),
            TokenKind::QuotedIdentifier => {
                words.push(token.text.trim_matches('"').replace("\"\"", "\""))
            }
            // Only the first few words decide; values (strings, numbers) end the look.
            _ => words.push(String::new()),
        }
    }
}

fn might_have_effects(bytes: &[u8]) -> bool {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let head = &bytes[start..bytes.len().min(start + 10)];
    let starts =
        |word: &[u8]| head.len() >= word.len() && head[..word.len()].eq_ignore_ascii_case(word);
    starts(b"reset")
        || starts(b"set")
        || starts(b"discard")
        || starts(b"deallocate")
        || starts(b"/*")
        || starts(b"--")
        || holds_more_than_one_statement(bytes)
}

/// A `;` with something after it other than blanks: the text may hold another statement.
/// (Hot path: a trailing `;`, as pgbench and psql send, is not one.)
fn holds_more_than_one_statement(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().any(|(at, &byte)| {
        byte == b';'
            && bytes[at + 1..]
                .iter()
                .any(|b| !b.is_ascii_whitespace() && *b != b';')
    })
}

/// The effects of one statement, from its words (lowercased identifiers; any other token is
/// an empty word).
fn statement_effects(words: &[String]) -> u8 {
    let words: Vec<&str> = words.iter().take(6).map(String::as_str).collect();
    match words.as_slice() {
        ["discard", "all"] => ALL_SETTINGS | FORGETS_PREPARED,
        ["deallocate", "all"] | ["deallocate", "prepare", "all"] => FORGETS_PREPARED,
        ["reset", "all"] => ALL_SETTINGS,
        ["reset", "time", "zone"] => setting_bit("timezone"),
        ["reset", name] => setting_bit(name),
        ["set", rest @ ..] => {
            let (local, rest) = match rest {
                ["local", rest @ ..] => (LOCAL, rest),
                ["session", rest @ ..] => (0, rest),
                rest => (0, rest),
            };
            let bit = match rest {
                ["time", "zone", "default" | "local"] => setting_bit("timezone"),
                ["names", "default"] => setting_bit("client_encoding"),
                [name, "to" | "", "default"] => setting_bit(name),
                _ => 0,
            };
            if bit == 0 {
                0
            } else {
                bit | local
            }
        }
        _ => 0,
    }
}

fn setting_bit(name: &str) -> u8 {
    tracked_index(name).map_or(0, |i| 1 << i)
}

/// Whether a statement's result description depends on the session as it is when it is
/// prepared (`FETCH` and `MOVE` describe a cursor, `EXECUTE` a statement prepared with SQL),
/// so that a copy prepared earlier, by this client or another, may describe something that
/// no longer exists. Those are prepared afresh whenever a client prepares them.
pub fn describes_session_state(query: &str) -> bool {
    crate::starts_with_keyword(query, &["fetch", "move", "execute"])
}

/// The session feature a query uses, if any: LISTEN, session advisory locks, WITH HOLD
/// cursors, temporary tables, SQL-level PREPARE, and a session-level SET (or `set_config`
/// without `is_local`) of a setting brisk does not track. Each statement of a multi-statement
/// text counts.
///
/// A plain `SET` inside a transaction pins too: it outlives the transaction when it commits.
/// `SET LOCAL` and `SET TRANSACTION` end with their transaction and never pin.
pub fn session_feature(query: &str) -> Option<&'static str> {
    // Hot path: nearly every query is none of these; rule them out without lexing.
    if !might_use_session_feature(query) {
        return None;
    }
    let mut words: Vec<String> = Vec::new();
    let mut found = None;
    let end = crate::Token {
        kind: TokenKind::Semicolon,
        start: query.len(),
        text: ";",
    };
    for token in Lexer::new(query).chain(std::iter::once(end)) {
        match token.kind {
            TokenKind::Semicolon => {
                found = found.or_else(|| statement_feature(&words));
                words.clear();
            }
            TokenKind::Identifier => words.push(token.text.to_ascii_lowercase()),
            TokenKind::QuotedIdentifier => {
                words.push(token.text.trim_matches('"').replace("\"\"", "\""))
            }
            _ => {}
        }
    }
    found
}

/// The session feature of one statement, from its identifiers (lowercased).
fn statement_feature(words: &[String]) -> Option<&'static str> {
    let first = words.first().map(String::as_str)?;
    let has = |w: &str| words.iter().any(|x| x == w);
    match first {
        "listen" => return Some("LISTEN"),
        "prepare" => return Some("PREPARE"),
        "declare" if has("hold") && has("with") => return Some("WITH HOLD cursor"),
        "create" if has("temp") || has("temporary") => return Some("temporary table"),
        "select" if has("into") && (has("temp") || has("temporary")) => {
            return Some("temporary table")
        }
        "set" => {
            let second = words.get(1).map(String::as_str).unwrap_or("");
            let name = if second == "session" {
                words.get(2).map(String::as_str).unwrap_or("")
            } else {
                second
            };
            let follows = matches!(
                name,
                "local"
                    | "transaction"
                    | "application_name"
                    | "client_encoding"
                    | "names"
                    | "datestyle"
                    | "intervalstyle"
                    | "timezone"
                    | "time"
                    | "standard_conforming_strings"
            );
            if !follows {
                return Some("SET of a setting brisk cannot replay");
            }
        }
        _ => {}
    }
    // `set_config(name, value, is_local)`: only a literal `true` keeps it in the transaction.
    if has("set_config") && !has("true") {
        return Some("set_config of a session setting");
    }
    let advisory = words.iter().any(|w| {
        matches!(
            w.as_str(),
            "pg_advisory_lock"
                | "pg_advisory_lock_shared"
                | "pg_try_advisory_lock"
                | "pg_try_advisory_lock_shared"
        )
    });
    advisory.then_some("session advisory lock")
}

/// A cheap first test: the query has more than one statement, mentions an advisory lock,
/// `set_config` or a temporary table, or its first word (after whitespace and parentheses)
/// is one a session feature starts with. False positives are fine; the lexer decides.
fn might_use_session_feature(query: &str) -> bool {
    let bytes = query.as_bytes();
    let start = bytes
        .iter()
        .position(|b| !(b.is_ascii_whitespace() || *b == b'('))
        .unwrap_or(bytes.len());
    let head = &bytes[start..bytes.len().min(start + 8)];
    let starts =
        |word: &[u8]| head.len() >= word.len() && head[..word.len()].eq_ignore_ascii_case(word);
    starts(b"listen")
        || starts(b"prepare")
        || starts(b"declare")
        || starts(b"create")
        || starts(b"set")
        || starts(b"/*")
        || starts(b"--")
        || mentions_session_words(bytes)
}

/// Hot path (every query's text): one pass for a `;`, or `advisory`, `set_config` or `temp`
/// in any case, comparing only where a byte could start one of them.
fn mentions_session_words(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().any(|(at, &byte)| {
        if byte == b';' {
            return holds_more_than_one_statement(&bytes[at..]);
        }
        let rest: &[u8] = match byte | 0x20 {
            b'a' => b"dvisory",
            b's' => b"et_config",
            b't' => b"emp",
            _ => return false,
        };
        bytes
            .get(at + 1..at + 1 + rest.len())
            .is_some_and(|tail| tail.eq_ignore_ascii_case(rest))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resetting_statements_are_recognised() {
        let tz = 1 << tracked_index("TimeZone").unwrap();
        let app = 1 << tracked_index("application_name").unwrap();
        assert_eq!(effects("RESET TimeZone"), Effects(tz));
        assert_eq!(effects("reset time zone"), Effects(tz));
        assert_eq!(effects("RESET \"TimeZone\";"), Effects(tz));
        assert_eq!(effects("SET TIME ZONE LOCAL"), Effects(tz));
        assert_eq!(effects("SET timezone TO DEFAULT"), Effects(tz));
        assert_eq!(effects("SET SESSION timezone = DEFAULT"), Effects(tz));
        assert_eq!(effects("SET LOCAL timezone = default"), Effects(tz | LOCAL));
        assert_eq!(effects("RESET ALL"), Effects(ALL_SETTINGS));
        assert_eq!(
            effects("DISCARD ALL"),
            Effects(ALL_SETTINGS | FORGETS_PREPARED)
        );
        assert_eq!(effects("DEALLOCATE ALL"), Effects(FORGETS_PREPARED));
        assert_eq!(effects("SELECT 1; RESET application_name"), Effects(app));
        assert_eq!(effects("/* app */ RESET application_name"), Effects(app));
        // Not resets: values, untracked settings, other statements.
        assert_eq!(effects("SET timezone = 'default'"), Effects::NONE);
        assert_eq!(effects("SET TimeZone = 'UTC'"), Effects::NONE);
        assert_eq!(effects("RESET work_mem"), Effects::NONE);
        assert_eq!(effects("SELECT 'RESET ALL'"), Effects::NONE);
        assert_eq!(effects("SELECT 1"), Effects::NONE);
        assert_eq!(effects(""), Effects::NONE);
        assert!(!might_have_effects(b"SELECT 1;"));
        assert!(might_have_effects(b"SELECT 1; RESET ALL"));
    }

    #[test]
    fn the_first_look_finds_session_words_anywhere_in_any_case() {
        assert!(mentions_session_words(b"select pg_ADVISORY_lock(1)"));
        assert!(mentions_session_words(b"xadvisory"));
        assert!(mentions_session_words(b"SELECT SET_CONFIG('a', 'b', true)"));
        assert!(mentions_session_words(b"select 1; select 2"));
        assert!(!mentions_session_words(
            b"SELECT abalance FROM a WHERE aid = 42;\n"
        ));
        assert!(mentions_session_words(b"INTO Temp t"));
        assert!(!mentions_session_words(b"advisor"));
        assert!(!mentions_session_words(b"select set_confi"));
        assert!(!mentions_session_words(
            b"SELECT id FROM users WHERE a = $1"
        ));
        assert!(!mentions_session_words(b""));
    }

    #[test]
    fn session_features_are_recognised() {
        assert_eq!(session_feature("LISTEN jobs"), Some("LISTEN"));
        assert_eq!(
            session_feature("select pg_advisory_lock(1)"),
            Some("session advisory lock")
        );
        assert_eq!(session_feature("SELECT pg_advisory_xact_lock(1)"), None);
        assert_eq!(
            session_feature("CREATE TEMP TABLE t (a int)"),
            Some("temporary table")
        );
        assert_eq!(
            session_feature("DECLARE c CURSOR WITH HOLD FOR SELECT 1"),
            Some("WITH HOLD cursor")
        );
        // Inside a transaction too: a plain SET outlives it once it commits.
        assert_eq!(
            session_feature("SET search_path TO app"),
            Some("SET of a setting brisk cannot replay")
        );
        assert_eq!(
            session_feature("SELECT 1; SET work_mem = '1GB'"),
            Some("SET of a setting brisk cannot replay")
        );
        assert_eq!(
            session_feature("SELECT set_config('work_mem', '1GB', false)"),
            Some("set_config of a session setting")
        );
        assert_eq!(
            session_feature("SELECT set_config('request.jwt', $1, true)"),
            None
        );
        assert_eq!(
            session_feature("SELECT * INTO TEMP t FROM users"),
            Some("temporary table")
        );
        assert_eq!(session_feature("SELECT temperature FROM readings"), None);
        assert_eq!(session_feature("SET application_name = 'x'"), None);
        assert_eq!(session_feature("SET TIME ZONE 'UTC'"), None);
        assert_eq!(
            session_feature("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"),
            None
        );
        assert_eq!(session_feature("SET LOCAL statement_timeout = 5"), None);
        assert_eq!(session_feature("SELECT 1"), None);
        assert_eq!(session_feature(""), None);
    }
}
