//! One log message with what is attached to it, and the three readers that build it from
//! lines: stderr (with a compiled prefix), csvlog and jsonlog.
//!
//! Hot path: every line of a log passes here. The readers reuse one [`Entry`] and its
//! strings, so a line costs no allocation once the buffers have grown.

use serde::Deserialize;

use crate::prefix::{level_at, Captures, Field, Level, Prefix};
use crate::time::parse_timestamp;

/// A message and the DETAIL, HINT, CONTEXT and STATEMENT lines that belong to it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Epoch milliseconds, when the log says.
    pub time_ms: Option<i64>,
    pub pid: Option<u32>,
    /// `%c` or csv/json `session_id`; empty when unknown.
    pub session: String,
    pub user: String,
    pub database: String,
    pub application: String,
    pub host: String,
    /// `%e` or csv/json's SQLSTATE; empty when unknown.
    pub sqlstate: String,
    pub level: Level,
    /// With its continuation lines, joined by `\n`.
    pub message: String,
    pub detail: String,
    pub hint: String,
    pub context: String,
    pub statement: String,
    /// 1-based line of the file where the message starts.
    pub line: u64,
}

impl Default for Entry {
    fn default() -> Entry {
        Entry {
            time_ms: None,
            pid: None,
            session: String::new(),
            user: String::new(),
            database: String::new(),
            application: String::new(),
            host: String::new(),
            sqlstate: String::new(),
            level: Level::Log,
            message: String::new(),
            detail: String::new(),
            hint: String::new(),
            context: String::new(),
            statement: String::new(),
            line: 0,
        }
    }
}

fn set(target: &mut String, value: &str) {
    target.clear();
    target.push_str(value);
}

impl Entry {
    fn clear(&mut self) {
        self.time_ms = None;
        self.pid = None;
        for field in [
            &mut self.session,
            &mut self.user,
            &mut self.database,
            &mut self.application,
            &mut self.host,
            &mut self.sqlstate,
            &mut self.message,
            &mut self.detail,
            &mut self.hint,
            &mut self.context,
            &mut self.statement,
        ] {
            field.clear();
        }
    }

    fn attachment(&mut self, level: Level) -> Option<&mut String> {
        match level {
            Level::Detail => Some(&mut self.detail),
            Level::Hint => Some(&mut self.hint),
            Level::Context => Some(&mut self.context),
            Level::Statement => Some(&mut self.statement),
            _ => None,
        }
    }
}

/// What a reader could not read, for the report's notes and the "0 statements" error.
#[derive(Debug, Clone, Default)]
pub struct LineStats {
    pub lines: u64,
    pub bytes: u64,
    /// Lines that started a message or belonged to one.
    pub matched: u64,
    pub unmatched: u64,
    /// The first line that did not match: its number and (shortened) text.
    pub first_unmatched: Option<(u64, String)>,
    /// Lines longer than the reader keeps, skipped.
    pub too_long: u64,
}

impl LineStats {
    pub fn merge(&mut self, other: &LineStats) {
        self.lines += other.lines;
        self.bytes += other.bytes;
        self.matched += other.matched;
        self.unmatched += other.unmatched;
        self.too_long += other.too_long;
        if self.first_unmatched.is_none() {
            self.first_unmatched.clone_from(&other.first_unmatched);
        }
    }

    pub(crate) fn unmatched(&mut self, line_no: u64, line: &str) {
        self.unmatched += 1;
        if self.first_unmatched.is_none() {
            self.first_unmatched = Some((line_no, shorten(line, 120)));
        }
    }
}

/// `text` cut to at most `max` characters, with an ellipsis when cut.
pub fn shorten(text: &str, max: usize) -> String {
    let printable: String = text
        .chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .take(max + 1)
        .collect();
    if printable.chars().count() > max {
        let mut cut: String = printable.chars().take(max).collect();
        cut.push('…');
        cut
    } else {
        printable
    }
}

/// Reads lines into entries; each finished entry goes to the sink.
pub trait Reader {
    fn line(
        &mut self,
        line_no: u64,
        line: &str,
        stats: &mut LineStats,
        sink: &mut dyn FnMut(&Entry),
    );
    fn finish(&mut self, sink: &mut dyn FnMut(&Entry));
}

/// stderr logs: a prefix, a level, a message, `\t` continuation lines.
pub struct StderrReader {
    prefix: Prefix,
    entry: Entry,
    open: bool,
    /// Which string the next continuation line extends.
    last: Option<Level>,
    /// Time and pid from outside the prefix (syslog's header), for a prefix without them.
    fallback_time: Option<i64>,
    fallback_pid: Option<u32>,
}

impl StderrReader {
    pub fn new(prefix: Prefix) -> StderrReader {
        StderrReader {
            prefix,
            entry: Entry::default(),
            open: false,
            last: None,
            fallback_time: None,
            fallback_pid: None,
        }
    }

    /// The time and pid of the next line when its prefix has none.
    pub fn set_fallback(&mut self, time_ms: Option<i64>, pid: Option<u32>) {
        self.fallback_time = time_ms;
        self.fallback_pid = pid;
    }

    fn fill(&mut self, line: &str, captures: &Captures) {
        let e = &mut self.entry;
        let get = |field| captures.get(line, field);
        e.time_ms = get(Field::TimeMillis)
            .or_else(|| get(Field::Time))
            .and_then(|t| parse_timestamp(t).map(|(ms, _)| ms))
            .or_else(|| {
                get(Field::EpochMillis)
                    .and_then(|t| crate::time::parse_epoch_millis(t).map(|(ms, _)| ms))
            })
            .or(self.fallback_time);
        e.pid = get(Field::Pid)
            .and_then(|p| p.parse().ok())
            .or(self.fallback_pid);
        set(&mut e.session, get(Field::Session).unwrap_or(""));
        set(&mut e.user, get(Field::User).unwrap_or(""));
        set(&mut e.database, get(Field::Database).unwrap_or(""));
        set(&mut e.application, get(Field::Application).unwrap_or(""));
        let host = get(Field::Host)
            .or_else(|| get(Field::HostPort).map(|hp| hp.split_once('(').map_or(hp, |(h, _)| h)));
        set(&mut e.host, host.unwrap_or(""));
        set(&mut e.sqlstate, get(Field::SqlState).unwrap_or(""));
    }
}

impl Reader for StderrReader {
    fn line(
        &mut self,
        line_no: u64,
        line: &str,
        stats: &mut LineStats,
        sink: &mut dyn FnMut(&Entry),
    ) {
        if let Some(rest) = line.strip_prefix('\t') {
            if !self.open {
                stats.unmatched(line_no, line);
                return;
            }
            stats.matched += 1;
            let target = match self.last {
                Some(level) if level.is_attachment() => self.entry.attachment(level),
                _ => None,
            };
            let target = match target {
                Some(target) => target,
                None => &mut self.entry.message,
            };
            target.push('\n');
            target.push_str(rest);
            return;
        }
        let Some(captures) = self.prefix.parse(line) else {
            if !line.trim().is_empty() {
                stats.unmatched(line_no, line);
            }
            return;
        };
        let Some((level, message_start)) = level_at(line, captures.level_start) else {
            stats.unmatched(line_no, line);
            return;
        };
        stats.matched += 1;
        let message = &line[message_start..];
        if level.is_attachment() {
            if self.open {
                if let Some(target) = self.entry.attachment(level) {
                    set(target, message);
                }
                self.last = Some(level);
            }
            return;
        }
        if self.open {
            sink(&self.entry);
        }
        self.entry.clear();
        self.fill(line, &captures);
        self.entry.level = level;
        self.entry.line = line_no;
        self.entry.message.push_str(message);
        self.open = true;
        self.last = Some(level);
    }

    fn finish(&mut self, sink: &mut dyn FnMut(&Entry)) {
        if self.open {
            sink(&self.entry);
            self.open = false;
        }
    }
}

/// csvlog: one record per message, quoted fields that may span lines.
#[derive(Default)]
pub struct CsvReader {
    record: String,
    record_line: u64,
    quotes: usize,
    fields: Vec<(usize, usize)>,
    unquoted: String,
    entry: Entry,
}

// csvlog's columns (PostgreSQL 13 to 17; later columns are not read).
const CSV_TIME: usize = 0;
const CSV_USER: usize = 1;
const CSV_DATABASE: usize = 2;
const CSV_PID: usize = 3;
const CSV_HOST: usize = 4;
const CSV_SESSION: usize = 5;
const CSV_SEVERITY: usize = 11;
const CSV_SQLSTATE: usize = 12;
const CSV_MESSAGE: usize = 13;
const CSV_DETAIL: usize = 14;
const CSV_HINT: usize = 15;
const CSV_CONTEXT: usize = 18;
const CSV_QUERY: usize = 19;
const CSV_APPLICATION: usize = 22;

impl CsvReader {
    /// Splits the record into unquoted fields, kept in `self.unquoted` at `self.fields`.
    fn split(&mut self) {
        self.fields.clear();
        self.unquoted.clear();
        let mut chars = self.record.chars().peekable();
        let mut start = 0;
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match c {
                '"' if quoted && chars.peek() == Some(&'"') => {
                    chars.next();
                    self.unquoted.push('"');
                }
                '"' => quoted = !quoted,
                ',' if !quoted => {
                    self.fields.push((start, self.unquoted.len()));
                    start = self.unquoted.len();
                }
                c => self.unquoted.push(c),
            }
        }
        self.fields.push((start, self.unquoted.len()));
    }

    fn field(&self, index: usize) -> &str {
        self.fields
            .get(index)
            .map_or("", |&(s, e)| &self.unquoted[s..e])
    }
}

impl Reader for CsvReader {
    fn line(
        &mut self,
        line_no: u64,
        line: &str,
        stats: &mut LineStats,
        sink: &mut dyn FnMut(&Entry),
    ) {
        if self.record.is_empty() {
            self.record_line = line_no;
        } else {
            self.record.push('\n');
        }
        self.record.push_str(line);
        self.quotes += memchr::memchr_iter(b'"', line.as_bytes()).count();
        // A record ends at a newline outside quotes; `""` inside keeps the count even.
        if self.quotes % 2 == 1 {
            return;
        }
        self.quotes = 0;
        self.split();
        let severity = Level::from_name(self.field(CSV_SEVERITY));
        let time = parse_timestamp(self.field(CSV_TIME)).map(|(ms, _)| ms);
        match (severity, time) {
            (Some(level), Some(time)) if self.fields.len() >= CSV_QUERY => {
                stats.matched += 1;
                let e = &mut self.entry;
                e.clear();
                e.time_ms = Some(time);
                e.level = level;
                e.line = self.record_line;
                let f = |i: usize| {
                    self.fields
                        .get(i)
                        .map_or("", |&(s, end)| &self.unquoted[s..end])
                };
                e.pid = f(CSV_PID).parse().ok();
                set(&mut e.user, f(CSV_USER));
                set(&mut e.database, f(CSV_DATABASE));
                let host = f(CSV_HOST);
                set(&mut e.host, host.split_once(':').map_or(host, |(h, _)| h));
                set(&mut e.session, f(CSV_SESSION));
                set(&mut e.sqlstate, f(CSV_SQLSTATE));
                set(&mut e.message, f(CSV_MESSAGE));
                set(&mut e.detail, f(CSV_DETAIL));
                set(&mut e.hint, f(CSV_HINT));
                set(&mut e.context, f(CSV_CONTEXT));
                set(&mut e.statement, f(CSV_QUERY));
                set(&mut e.application, f(CSV_APPLICATION));
                sink(e);
            }
            _ => stats.unmatched(self.record_line, &self.record),
        }
        self.record.clear();
    }

    fn finish(&mut self, _sink: &mut dyn FnMut(&Entry)) {
        // An unterminated quoted field at the end is a truncated record: not a message.
        self.record.clear();
        self.quotes = 0;
    }
}

/// jsonlog (PostgreSQL 15+): one JSON object per line.
#[derive(Default)]
pub struct JsonReader {
    entry: Entry,
}

#[derive(Deserialize)]
struct JsonLine<'a> {
    #[serde(borrow, default)]
    timestamp: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    user: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    dbname: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    pid: Option<u32>,
    #[serde(borrow, default)]
    remote_host: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    session_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    error_severity: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    state_code: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    message: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    detail: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    hint: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    context: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    statement: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    application_name: Option<std::borrow::Cow<'a, str>>,
}

impl Reader for JsonReader {
    fn line(
        &mut self,
        line_no: u64,
        line: &str,
        stats: &mut LineStats,
        sink: &mut dyn FnMut(&Entry),
    ) {
        if line.trim().is_empty() {
            return;
        }
        let parsed: Option<JsonLine<'_>> = serde_json::from_str(line).ok();
        let Some(json) = parsed else {
            stats.unmatched(line_no, line);
            return;
        };
        let level = json.error_severity.as_deref().and_then(Level::from_name);
        let time = json
            .timestamp
            .as_deref()
            .and_then(parse_timestamp)
            .map(|(ms, _)| ms);
        let (Some(level), Some(time)) = (level, time) else {
            stats.unmatched(line_no, line);
            return;
        };
        stats.matched += 1;
        let e = &mut self.entry;
        e.clear();
        e.time_ms = Some(time);
        e.level = level;
        e.line = line_no;
        e.pid = json.pid;
        let text = |v: &Option<std::borrow::Cow<'_, str>>| v.as_deref().unwrap_or("").to_string();
        e.user = text(&json.user);
        e.database = text(&json.dbname);
        e.host = text(&json.remote_host);
        e.session = text(&json.session_id);
        e.sqlstate = text(&json.state_code);
        e.message = text(&json.message);
        e.detail = text(&json.detail);
        e.hint = text(&json.hint);
        e.context = text(&json.context);
        e.statement = text(&json.statement);
        e.application = text(&json.application_name);
        sink(e);
    }

    fn finish(&mut self, _sink: &mut dyn FnMut(&Entry)) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(reader: &mut dyn Reader, text: &str) -> (Vec<Entry>, LineStats) {
        let mut stats = LineStats::default();
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            reader.line(i as u64 + 1, line, &mut stats, &mut |e| {
                entries.push(e.clone())
            });
        }
        reader.finish(&mut |e| entries.push(e.clone()));
        (entries, stats)
    }

    #[test]
    fn stderr_continuations_and_attachments() {
        let log = "2026-12-06 01:02:03.456 UTC [10] app@shop LOG:  duration: 2.000 ms  statement: SELECT *\n\
                   \tFROM t\n\
                   \tWHERE id = 1\n\
                   2026-12-06 01:02:04.000 UTC [11] app@shop ERROR:  relation \"nope\" does not exist at character 15\n\
                   2026-12-06 01:02:04.000 UTC [11] app@shop STATEMENT:  SELECT * FROM nope\n\
                   \tLIMIT 1\n\
                   garbage line\n\
                   2026-12-06 01:02:05.000 UTC [12] LOG:  checkpoint starting: time\n";
        let mut reader = StderrReader::new(Prefix::compile("%m [%p] %q%u@%d ").unwrap());
        let (entries, stats) = read(&mut reader, log);
        assert_eq!(entries.len(), 3);
        assert_eq!(
            entries[0].message,
            "duration: 2.000 ms  statement: SELECT *\nFROM t\nWHERE id = 1"
        );
        assert_eq!(entries[0].user, "app");
        assert_eq!(entries[1].level, Level::Error);
        assert_eq!(entries[1].statement, "SELECT * FROM nope\nLIMIT 1");
        assert_eq!(entries[1].line, 4);
        assert_eq!(entries[2].pid, Some(12));
        assert_eq!(stats.unmatched, 1);
        assert_eq!(stats.first_unmatched.as_ref().map(|(n, _)| *n), Some(7));
    }

    #[test]
    fn csv_records_with_quotes_and_newlines() {
        let log = "2026-12-06 01:02:03.456 UTC,\"app\",\"shop\",10,\"[local]\",6750a1b2.a,1,\"SELECT\",2026-12-06 01:02:00 UTC,3/1,0,LOG,00000,\"duration: 1.000 ms  statement: SELECT \"\"a\"\"\nFROM t\",\"parameters: $1 = '1'\",,,,,,,,\"psql\",\"client backend\",,0\n\
                   2026-12-06 01:02:04.000 UTC,\"app\",\"shop\",10,\"[local]\",6750a1b2.a,2,\"SELECT\",2026-12-06 01:02:00 UTC,3/2,0,ERROR,42P01,\"relation \"\"x\"\" does not exist\",,,,,,\"SELECT * FROM x\",15,,\"psql\",\"client backend\",,0\n";
        let (entries, stats) = read(&mut CsvReader::default(), log);
        assert_eq!(stats.unmatched, 0);
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries[0].message,
            "duration: 1.000 ms  statement: SELECT \"a\"\nFROM t"
        );
        assert_eq!(entries[0].detail, "parameters: $1 = '1'");
        assert_eq!(entries[0].session, "6750a1b2.a");
        assert_eq!(entries[0].application, "psql");
        assert_eq!(entries[1].sqlstate, "42P01");
        assert_eq!(entries[1].statement, "SELECT * FROM x");
    }

    #[test]
    fn json_lines() {
        let log = r#"{"timestamp":"2026-12-06 01:02:03.456 UTC","user":"app","dbname":"shop","pid":10,"session_id":"a.b","error_severity":"LOG","state_code":"00000","message":"duration: 1.000 ms  statement: SELECT 1","application_name":"psql"}
not json
"#;
        let (entries, stats) = read(&mut JsonReader::default(), log);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].database, "shop");
        assert_eq!(stats.unmatched, 1);
    }
}
