//! `log_line_prefix` compiled into a matcher, and the detector that finds the prefix of a log
//! from its first lines.
//!
//! A prefix is literal text and `%` escapes. Escapes with a fixed shape (times, pids, session
//! ids, SQLSTATEs) are read by shape; free text (user, database, application, host, command
//! tag) runs to the next literal, trying each occurrence in turn, so a value that holds the
//! literal still matches when the rest of the line agrees. A match is only accepted when the
//! message level (`LOG:  `, `ERROR:  `, ...) follows the prefix: that is what tells a prefix
//! that fits from one that happens to fit the start of a line.

use crate::time::{parse_epoch_millis, parse_timestamp};
use crate::LogError;

/// What a prefix escape stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `%m`: time with milliseconds.
    TimeMillis,
    /// `%t`: time in seconds.
    Time,
    /// `%n`: time as Unix epoch with milliseconds.
    EpochMillis,
    /// `%p`
    Pid,
    /// `%c`: session id (`hex.hex`).
    Session,
    /// `%l`: line number in the session.
    LineNumber,
    /// `%u`
    User,
    /// `%d`
    Database,
    /// `%a`
    Application,
    /// `%h`
    Host,
    /// `%r`: host and port.
    HostPort,
    /// `%e`
    SqlState,
    /// `%x`
    TransactionId,
    /// `%v`
    VirtualTransactionId,
    /// `%s`: session start time.
    SessionStart,
    /// `%b`
    BackendType,
    /// `%i`
    CommandTag,
    /// `%Q`
    QueryId,
}

/// Number of [`Field`] variants: the size of [`Captures`].
const FIELDS: usize = 18;

impl Field {
    fn of(letter: char) -> Option<Field> {
        Some(match letter {
            'm' => Field::TimeMillis,
            't' => Field::Time,
            'n' => Field::EpochMillis,
            'p' => Field::Pid,
            'c' => Field::Session,
            'l' => Field::LineNumber,
            'u' => Field::User,
            'd' => Field::Database,
            'a' => Field::Application,
            'h' => Field::Host,
            'r' => Field::HostPort,
            'e' => Field::SqlState,
            'x' => Field::TransactionId,
            'v' => Field::VirtualTransactionId,
            's' => Field::SessionStart,
            'b' => Field::BackendType,
            'i' => Field::CommandTag,
            'Q' => Field::QueryId,
            _ => return None,
        })
    }

    /// Free text runs to the next literal; the others are read by their shape.
    fn is_free_text(self) -> bool {
        matches!(
            self,
            Field::User
                | Field::Database
                | Field::Application
                | Field::Host
                | Field::HostPort
                | Field::VirtualTransactionId
                | Field::BackendType
                | Field::CommandTag
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Field {
        field: Field,
        padded: bool,
    },
    /// `%q`: processes without a session stop the prefix here.
    SessionOnly,
}

/// Where each field of one line's prefix is, as byte ranges of the line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Captures {
    ranges: [Option<(u32, u32)>; FIELDS],
    /// Where the level (`LOG`, `ERROR`, ...) starts.
    pub level_start: usize,
}

impl Captures {
    /// The text of `field` in `line`, when the prefix has it (and it is not empty).
    pub fn get<'a>(&self, line: &'a str, field: Field) -> Option<&'a str> {
        let (start, end) = self.ranges[field as usize]?;
        let text = line.get(start as usize..end as usize)?.trim();
        (!text.is_empty()).then_some(text)
    }

    fn set(&mut self, field: Field, start: usize, end: usize) {
        self.ranges[field as usize] = Some((start as u32, end as u32));
    }
}

/// A compiled `log_line_prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix {
    text: String,
    pieces: Vec<Piece>,
}

/// The prefixes tried, in order, when none is given: the Debian and PostgreSQL defaults,
/// pgBadger's recommended ones, and those of the hosted services. A tie in matched lines
/// goes to the first, so the more specific come first.
pub const COMMON_PREFIXES: &[&str] = &[
    // pgBadger's documented recommendations.
    "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
    "%t [%p]: [%l-1] user=%u,db=%d ",
    "%t [%p]: user=%u,db=%d,app=%a,client=%h ",
    // Debian and Ubuntu's default since PostgreSQL 10, then the older one.
    "%m [%p] %q%u@%d ",
    "%t [%p-%l] %q%u@%d ",
    "%m [%p-%l] %q%u@%d ",
    // Amazon RDS and Aurora.
    "%t:%r:%u@%d:[%p]:",
    // Google Cloud SQL.
    "%m [%p]: [%l-1] db=%d,user=%u ",
    // Azure Database for PostgreSQL.
    "%t-%c-",
    // Heroku-style: the error code in the prefix.
    "%m [%p] sql_error_code = %e ",
    "[%p]: [%l-1] sql_error_code = %e ",
    // Session-keyed prefixes recommended for N+1 detection.
    "%m [%p] %c %l %q%u@%d/%a ",
    "%m [%p] [%c:%l] %q%u@%d ",
    // PostgreSQL's own default since 10, then the plainest.
    "%m [%p] ",
    "%t [%p] ",
    "%m ",
    "%t ",
    // With syslog, which writes its own time and pid: pgBadger's recommendations, then none.
    "user=%u,db=%d,app=%a,client=%h ",
    "user=%u,db=%d ",
    "",
];

impl Prefix {
    /// Compiles a `log_line_prefix` value.
    pub fn compile(text: &str) -> Result<Prefix, LogError> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                literal.push(c);
                continue;
            }
            // Padding, as in `%-10u` or `%5p`: PostgreSQL pads the value with spaces.
            let mut padded = false;
            while let Some(&next) = chars.peek() {
                if next == '-' || next.is_ascii_digit() {
                    padded = true;
                    chars.next();
                } else {
                    break;
                }
            }
            let Some(letter) = chars.next() else {
                return Err(LogError::Prefix {
                    prefix: text.to_string(),
                    reason: "it ends with a lone %".into(),
                });
            };
            if letter == '%' {
                literal.push('%');
                continue;
            }
            if !literal.is_empty() {
                pieces.push(Piece::Literal(std::mem::take(&mut literal)));
            }
            if letter == 'q' {
                pieces.push(Piece::SessionOnly);
                continue;
            }
            let Some(field) = Field::of(letter) else {
                return Err(LogError::Prefix {
                    prefix: text.to_string(),
                    reason: format!("%{letter} is not a log_line_prefix escape"),
                });
            };
            pieces.push(Piece::Field { field, padded });
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(Prefix {
            text: text.to_string(),
            pieces,
        })
    }

    /// The prefix as written in `postgresql.conf`.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether lines carry a session id (`%c`), so statements can be followed per session.
    pub fn has(&self, field: Field) -> bool {
        self.pieces
            .iter()
            .any(|p| matches!(p, Piece::Field { field: f, .. } if *f == field))
    }

    /// Matches the prefix at the start of `line` and the level after it.
    pub fn parse(&self, line: &str) -> Option<Captures> {
        let mut captures = Captures::default();
        let end = self.match_pieces(&self.pieces, line, 0, &mut captures)?;
        captures.level_start = end;
        Some(captures)
    }

    fn match_pieces(
        &self,
        pieces: &[Piece],
        line: &str,
        pos: usize,
        captures: &mut Captures,
    ) -> Option<usize> {
        let Some((piece, rest)) = pieces.split_first() else {
            return level_at(line, pos).map(|_| pos);
        };
        match piece {
            Piece::Literal(text) => {
                if line.get(pos..)?.starts_with(text.as_str()) {
                    self.match_pieces(rest, line, pos + text.len(), captures)
                } else {
                    None
                }
            }
            Piece::SessionOnly => self
                .match_pieces(rest, line, pos, captures)
                .or_else(|| level_at(line, pos).map(|_| pos)),
            Piece::Field { field, padded } if !field.is_free_text() => {
                let start = if *padded { skip_spaces(line, pos) } else { pos };
                let end = fixed_field_end(*field, line, start)?;
                captures.set(*field, start, end);
                let after = if *padded { skip_spaces(line, end) } else { end };
                self.match_pieces(rest, line, after, captures)
            }
            Piece::Field { field, .. } => {
                // Free text: try each place the next literal occurs (or, at the end of the
                // prefix, each place a level could start), shortest first.
                let bytes = line.as_bytes();
                let limit = line.len().min(pos + MAX_FREE_FIELD);
                let next_literal = match rest.first() {
                    Some(Piece::Literal(text)) => Some(text.as_bytes()),
                    _ => None,
                };
                let mut end = pos;
                while end <= limit {
                    let candidate = match next_literal {
                        Some(literal) => {
                            memchr::memmem::find(&bytes[end..limit], literal).map(|at| end + at)
                        }
                        None => (end..=limit).find(|&at| line.is_char_boundary(at)),
                    };
                    let candidate = candidate?;
                    if line.is_char_boundary(candidate) {
                        captures.set(*field, pos, candidate);
                        if let Some(matched) = self.match_pieces(rest, line, candidate, captures) {
                            return Some(matched);
                        }
                    }
                    end = candidate + 1;
                }
                None
            }
        }
    }
}

/// A free-text field longer than this is not a field: the prefix does not fit.
const MAX_FREE_FIELD: usize = 512;

fn skip_spaces(line: &str, pos: usize) -> usize {
    pos + line.as_bytes()[pos.min(line.len())..]
        .iter()
        .take_while(|&&b| b == b' ')
        .count()
}

fn digits(bytes: &[u8], pos: usize) -> usize {
    bytes.get(pos..).map_or(0, |rest| {
        rest.iter().take_while(|b| b.is_ascii_digit()).count()
    })
}

/// Where a fixed-shape field that starts at `pos` ends.
fn fixed_field_end(field: Field, line: &str, pos: usize) -> Option<usize> {
    let bytes = line.as_bytes();
    match field {
        Field::TimeMillis | Field::Time | Field::SessionStart => {
            let (_, len) = parse_timestamp(line.get(pos..)?)?;
            let fraction = bytes.get(pos + 19) == Some(&b'.');
            if (field == Field::TimeMillis) != fraction {
                return None;
            }
            Some(pos + len)
        }
        Field::EpochMillis => {
            let (_, len) = parse_epoch_millis(line.get(pos..)?)?;
            Some(pos + len)
        }
        Field::Pid | Field::LineNumber | Field::TransactionId => {
            let n = digits(bytes, pos);
            (n > 0).then_some(pos + n)
        }
        Field::QueryId => {
            let sign = usize::from(bytes.get(pos) == Some(&b'-'));
            let n = digits(bytes, pos + sign);
            (n > 0).then_some(pos + sign + n)
        }
        Field::Session => {
            let hex = |at: usize| {
                bytes.get(at..).map_or(0, |r| {
                    r.iter().take_while(|b| b.is_ascii_hexdigit()).count()
                })
            };
            let first = hex(pos);
            if first == 0 || bytes.get(pos + first) != Some(&b'.') {
                return None;
            }
            let second = hex(pos + first + 1);
            (second > 0).then_some(pos + first + 1 + second)
        }
        Field::SqlState => {
            let code = bytes.get(pos..pos + 5)?;
            code.iter()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
                .then_some(pos + 5)
        }
        _ => None,
    }
}

/// The severity of a log message, or the kind of line attached to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Notice,
    Warning,
    Log,
    Error,
    Fatal,
    Panic,
    Detail,
    Hint,
    Context,
    Statement,
    Query,
    Location,
}

impl Level {
    /// Lines that belong to the message before them.
    pub fn is_attachment(self) -> bool {
        matches!(
            self,
            Level::Detail
                | Level::Hint
                | Level::Context
                | Level::Statement
                | Level::Query
                | Level::Location
        )
    }

    /// Reads PostgreSQL's English severity names (also csvlog's and jsonlog's).
    pub fn from_name(name: &str) -> Option<Level> {
        Some(match name {
            "LOG" => Level::Log,
            "ERROR" => Level::Error,
            "STATEMENT" => Level::Statement,
            "DETAIL" => Level::Detail,
            "HINT" => Level::Hint,
            "CONTEXT" => Level::Context,
            "WARNING" => Level::Warning,
            "FATAL" => Level::Fatal,
            "PANIC" => Level::Panic,
            "NOTICE" => Level::Notice,
            "INFO" => Level::Info,
            "QUERY" => Level::Query,
            "LOCATION" => Level::Location,
            "DEBUG" | "DEBUG1" | "DEBUG2" | "DEBUG3" | "DEBUG4" | "DEBUG5" => Level::Debug,
            _ => return None,
        })
    }
}

/// The level at `pos` (`LOG:  ` and the like) and where its message starts.
pub fn level_at(line: &str, pos: usize) -> Option<(Level, usize)> {
    let rest = line.get(pos..)?;
    // The longest names (`STATEMENT`, `LOCATION`) have 9 letters.
    let head = &rest.as_bytes()[..rest.len().min(12)];
    let colon = memchr::memmem::find(head, b":  ")?;
    let level = Level::from_name(rest.get(..colon)?)?;
    Some((level, pos + colon + 3))
}

/// The prefix that matches most of `sample` (lines of a log), with how many it matched.
/// `None` when no common prefix matches any line.
pub fn detect<'a>(sample: impl IntoIterator<Item = &'a str> + Clone) -> Option<(Prefix, usize)> {
    let mut best: Option<(Prefix, usize)> = None;
    for text in COMMON_PREFIXES {
        let Ok(prefix) = Prefix::compile(text) else {
            continue;
        };
        let matched = sample
            .clone()
            .into_iter()
            .filter(|line| prefix.parse(line).is_some())
            .count();
        if matched > best.as_ref().map_or(0, |(_, n)| *n) {
            best = Some((prefix, matched));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(prefix: &str, line: &str) -> Option<Vec<(Field, String)>> {
        let prefix = Prefix::compile(prefix).unwrap();
        let captures = prefix.parse(line)?;
        let all = [
            Field::TimeMillis,
            Field::Time,
            Field::EpochMillis,
            Field::Pid,
            Field::Session,
            Field::LineNumber,
            Field::User,
            Field::Database,
            Field::Application,
            Field::Host,
            Field::HostPort,
            Field::SqlState,
            Field::TransactionId,
            Field::VirtualTransactionId,
            Field::SessionStart,
            Field::BackendType,
            Field::CommandTag,
            Field::QueryId,
        ];
        assert_eq!(all.len(), FIELDS);
        Some(
            all.iter()
                .filter_map(|&f| captures.get(line, f).map(|v| (f, v.to_string())))
                .collect(),
        )
    }

    fn value(prefix: &str, line: &str, field: Field) -> Option<String> {
        fields(prefix, line)?
            .into_iter()
            .find(|(f, _)| *f == field)
            .map(|(_, v)| v)
    }

    #[test]
    fn debian_default_with_and_without_session() {
        let p = "%m [%p] %q%u@%d ";
        let line = "2026-12-06 01:02:03.456 UTC [4242] app_user@shop LOG:  duration: 1.5 ms  statement: SELECT 1";
        assert_eq!(value(p, line, Field::User).as_deref(), Some("app_user"));
        assert_eq!(value(p, line, Field::Database).as_deref(), Some("shop"));
        assert_eq!(value(p, line, Field::Pid).as_deref(), Some("4242"));
        // The checkpointer has no session: %q drops the rest.
        let line = "2026-12-06 01:02:03.456 UTC [77] LOG:  checkpoint starting: time";
        assert_eq!(value(p, line, Field::Pid).as_deref(), Some("77"));
        assert_eq!(value(p, line, Field::User), None);
    }

    #[test]
    fn pgbadger_prefix_with_empty_and_spaced_values() {
        let p = "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ";
        let line = "2026-12-06 01:02:03 CET [12]: [3-1] user=bob,db=shop,app=rails console,client=10.0.0.1 ERROR:  boom";
        let got = fields(p, line).unwrap();
        assert!(got.contains(&(Field::Application, "rails console".into())));
        assert!(got.contains(&(Field::Host, "10.0.0.1".into())));
        assert!(got.contains(&(Field::LineNumber, "3".into())));
        let line = "2026-12-06 01:02:03 CET [12]: [1-1] user=,db=,app=,client= LOG:  checkpoint starting: time";
        assert_eq!(value(p, line, Field::User), None);
        assert_eq!(value(p, line, Field::Pid).as_deref(), Some("12"));
    }

    #[test]
    fn rds_prefix_with_host_port() {
        let p = "%t:%r:%u@%d:[%p]:";
        let line = "2026-12-06 01:02:03 UTC:10.1.2.3(54321):postgres@shop:[999]:LOG:  duration: 0.1 ms  statement: SELECT 1";
        assert_eq!(
            value(p, line, Field::HostPort).as_deref(),
            Some("10.1.2.3(54321)")
        );
        assert_eq!(value(p, line, Field::Database).as_deref(), Some("shop"));
        let line = "2026-12-06 01:02:03 UTC::@:[5]:LOG:  checkpoint starting: time";
        assert_eq!(value(p, line, Field::Pid).as_deref(), Some("5"));
    }

    #[test]
    fn free_text_holding_the_next_literal_still_matches() {
        // An application name with the separator in it: the first ':' is not the end,
        // because what follows it is not a pid.
        let p = "%a:%p ";
        let line = "app:v2:42 LOG:  x";
        assert_eq!(
            value(p, line, Field::Application).as_deref(),
            Some("app:v2")
        );
        assert_eq!(value(p, line, Field::Pid).as_deref(), Some("42"));
    }

    #[test]
    fn every_fixed_shape_escape() {
        let p = "%n %c %l %e %x %Q %s %v [%b] %i|";
        let line = "1765000000.123 6750a1b2.3f4 17 40P01 0 -12345 2026-12-06 01:00:00 UTC 3/77 [client backend] SELECT|ERROR:  deadlock detected";
        let got = fields(p, line).unwrap();
        for expected in [
            (Field::EpochMillis, "1765000000.123"),
            (Field::Session, "6750a1b2.3f4"),
            (Field::LineNumber, "17"),
            (Field::SqlState, "40P01"),
            (Field::TransactionId, "0"),
            (Field::QueryId, "-12345"),
            (Field::SessionStart, "2026-12-06 01:00:00 UTC"),
            (Field::VirtualTransactionId, "3/77"),
            (Field::BackendType, "client backend"),
            (Field::CommandTag, "SELECT"),
        ] {
            assert!(
                got.contains(&(expected.0, expected.1.into())),
                "{expected:?} in {got:?}"
            );
        }
    }

    #[test]
    fn padded_escapes_and_percent_literal() {
        let p = "%-8p|%10u|100%% ";
        let line = "42      |     alice|100% LOG:  x";
        assert_eq!(value(p, line, Field::Pid).as_deref(), Some("42"));
        assert_eq!(value(p, line, Field::User).as_deref(), Some("alice"));
    }

    #[test]
    fn shapes_are_strict() {
        // %m needs milliseconds and %t must not have them, so the detector can tell them apart.
        assert!(fields("%t ", "2026-12-06 01:02:03.456 UTC LOG:  x").is_none());
        assert!(fields("%m ", "2026-12-06 01:02:03 UTC LOG:  x").is_none());
        assert!(fields("[%p] ", "[12a] LOG:  x").is_none());
        assert!(fields("%e ", "4001 LOG:  x").is_none());
        // A prefix that fits but no level after it: not a match.
        assert!(fields("%m ", "2026-12-06 01:02:03.456 UTC hello").is_none());
    }

    #[test]
    fn compile_errors_name_the_problem() {
        let err = Prefix::compile("%m %z ").unwrap_err().to_string();
        assert!(err.contains("%z"), "{err}");
        assert!(Prefix::compile("abc %").is_err());
    }

    #[test]
    fn detector_picks_the_prefix_of_the_sample() {
        let cases = [
            ("%m [%p] %q%u@%d ", vec![
                "2026-12-06 01:02:03.456 UTC [4242] app@shop LOG:  duration: 1.5 ms  statement: SELECT 1",
                "2026-12-06 01:02:03.456 UTC [77] LOG:  checkpoint starting: time",
            ]),
            ("%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ", vec![
                "2026-12-06 01:02:03 UTC [12]: [1-1] user=a,db=b,app=psql,client=[local] LOG:  duration: 1 ms  statement: SELECT 1",
            ]),
            ("%t:%r:%u@%d:[%p]:", vec![
                "2026-12-06 01:02:03 UTC:10.1.2.3(5432):u@d:[9]:LOG:  duration: 1 ms  statement: SELECT 1",
            ]),
            // PostgreSQL's default: Debian's `%q` prefix reads these lines the same way and
            // more, so `%m [%p] ` lines get Debian's; `%t` lines show the plain one.
            ("%m [%p] %q%u@%d ", vec![
                "2026-12-06 01:02:03.456 UTC [77] LOG:  checkpoint starting: time",
                "2026-12-06 01:02:03.456 UTC [78] ERROR:  relation \"x\" does not exist at character 15",
            ]),
            ("%t [%p] ", vec![
                "2026-12-06 01:02:03 UTC [77] LOG:  checkpoint starting: time",
            ]),
            ("%t [%p-%l] %q%u@%d ", vec![
                "2026-12-06 01:02:03 UTC [77-1] u@d LOG:  duration: 1 ms  statement: SELECT 1",
            ]),
            ("%m [%p] sql_error_code = %e ", vec![
                "2026-12-06 01:02:03.456 UTC [77] sql_error_code = 00000 LOG:  duration: 1 ms  statement: SELECT 1",
            ]),
        ];
        for (expected, lines) in cases {
            let (prefix, matched) = detect(lines.iter().copied()).unwrap();
            assert_eq!(prefix.text(), expected);
            assert_eq!(matched, lines.len());
        }
        assert!(detect(["hello world", "\x00\x01"].iter().copied()).is_none());
    }

    #[test]
    fn no_panic_on_arbitrary_bytes() {
        let prefixes: Vec<Prefix> = COMMON_PREFIXES
            .iter()
            .map(|p| Prefix::compile(p).unwrap())
            .collect();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let alphabet = "0123456789-: .[]@,=()%abcLOGERROR:  é\t";
        let chars: Vec<char> = alphabet.chars().collect();
        for _ in 0..20_000 {
            let mut line = String::new();
            for _ in 0..(seed % 60) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                line.push(chars[(seed % chars.len() as u64) as usize]);
            }
            for prefix in &prefixes {
                let _ = prefix.parse(&line);
            }
        }
    }
}
