//! syslog: PostgreSQL's `log_destination = syslog` lines as rsyslog or journald write them,
//! put back together into the stderr lines they were cut from, then read by the stderr reader.
//!
//! A line is `Dec  6 01:02:03 host postgres[4242]: [7-1] user=app,db=shop LOG:  ...`: the
//! syslog header (BSD time without a year, or RFC 3339), the ident and pid, then what
//! PostgreSQL sent. PostgreSQL (elog.c, `write_syslog`) sends each message as one chunk per
//! line, numbered `[seq-chunk]` with `syslog_sequence_numbers` (`[chunk]` without), and
//! cuts lines over 900 bytes at a space, so the next chunk of a cut line starts with that
//! space. With `syslog_split_messages = off` a message goes whole, and rsyslog writes its
//! newlines and tabs as `#012` and `#011`. A chunk starts a new stderr line when it is the
//! first of its message, starts with a tab (a continuation line), or starts with the prefix
//! and a level (`DETAIL`, `STATEMENT`, ...); any other chunk continues the line before it.

use std::borrow::Cow;

use crate::entry::{Entry, LineStats, Reader, StderrReader};
use crate::prefix::{level_at, Prefix};
use crate::time::{days_from_civil, parse_datetime, zone_offset_secs};

/// What the syslog header of a line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub time_ms: Option<i64>,
    pub pid: u32,
    /// Where PostgreSQL's text starts.
    pub text_start: usize,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The year of a BSD syslog time, which has none: the year of the file's last change, or
/// the year before for a month after that change's (a log that spans New Year).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YearHint {
    pub year: i64,
    pub month: i64,
}

/// `Dec  6 01:02:03[.ffffff] ` (rsyslog's default; journalctl writes `Dec 06`): epoch
/// milliseconds, read as UTC (the line has no zone), and its length.
fn bsd_time(line: &str, year: YearHint) -> Option<(i64, usize)> {
    let b = line.as_bytes();
    let month = MONTHS.iter().position(|m| line.starts_with(m))? as i64 + 1;
    let mut at = 3;
    while b.get(at) == Some(&b' ') {
        at += 1;
    }
    let day_len = b[at..].iter().take_while(|c| c.is_ascii_digit()).count();
    if !(1..=2).contains(&day_len) || b.get(at + day_len) != Some(&b' ') {
        return None;
    }
    let day: i64 = line[at..at + day_len].parse().ok()?;
    at += day_len + 1;
    // The time of day, through parse_datetime on a dummy date.
    let clock = line.get(at..)?;
    let (ms, len) = parse_datetime(&format!("1970-01-01 {}", clock.get(..clock.len().min(26))?))?;
    let len = len - 11;
    let year = if month > year.month {
        year.year - 1
    } else {
        year.year
    };
    Some((
        days_from_civil(year, month, day) * 86_400_000 + ms,
        at + len,
    ))
}

/// `2026-12-06T01:02:03.123456+00:00 ` (rsyslog's file format, `journalctl -o short-iso`).
fn rfc3339_time(line: &str) -> Option<(i64, usize)> {
    let (local, len) = parse_datetime(line)?;
    if line.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    let rest = &line[len..];
    if rest.starts_with('Z') {
        return Some((local, len + 1));
    }
    let zone_len = rest
        .bytes()
        .take_while(|&b| b.is_ascii_digit() || b == b'+' || b == b'-' || b == b':')
        .count();
    if zone_len == 0 {
        return None;
    }
    Some((
        local - zone_offset_secs(&rest[..zone_len]) * 1000,
        len + zone_len,
    ))
}

/// Reads the syslog header: time, host, `ident[pid]: `.
pub fn header(line: &str, year: YearHint) -> Option<Header> {
    let (time_ms, mut at) = match rfc3339_time(line) {
        Some((ms, len)) => (Some(ms), len),
        None => bsd_time(line, year).map(|(ms, len)| (Some(ms), len))?,
    };
    let b = line.as_bytes();
    if b.get(at) != Some(&b' ') {
        return None;
    }
    at += 1;
    // The host.
    let host_len = b[at..].iter().take_while(|&&c| c != b' ').count();
    if host_len == 0 {
        return None;
    }
    at += host_len + 1;
    // The ident (`postgres`, or `syslog_ident`), then `[pid]: `.
    let ident_len = b
        .get(at..)?
        .iter()
        .take_while(|&&c| c != b'[' && c != b' ' && c != b':')
        .count();
    if ident_len == 0 || b.get(at + ident_len) != Some(&b'[') {
        return None;
    }
    at += ident_len + 1;
    let pid_len = b[at..].iter().take_while(|c| c.is_ascii_digit()).count();
    let pid = line[at..at + pid_len].parse().ok()?;
    at += pid_len;
    if !line[at..].starts_with("]: ") && line[at..] != *"]:" {
        return None;
    }
    Some(Header {
        time_ms,
        pid,
        text_start: (at + 3).min(line.len()),
    })
}

/// `[seq-chunk] ` or `[n] ` at the start of PostgreSQL's text: the chunk number when it is
/// `[seq-chunk]` (`[n]` is the sequence or the chunk, depending on the settings), and the
/// text after it.
fn marker(text: &str) -> (Option<u32>, &str) {
    let Some(inner) = text.strip_prefix('[') else {
        return (None, text);
    };
    let Some(close) = inner
        .find("] ")
        .or_else(|| (inner.ends_with(']')).then(|| inner.len() - 1))
    else {
        return (None, text);
    };
    let numbers = &inner[..close];
    let rest = inner.get(close + 2..).unwrap_or("");
    match numbers.split_once('-') {
        Some((seq, chunk)) if !seq.is_empty() && seq.bytes().all(|c| c.is_ascii_digit()) => {
            match chunk.parse() {
                Ok(chunk) => (Some(chunk), rest),
                Err(_) => (None, text),
            }
        }
        None if !numbers.is_empty() && numbers.bytes().all(|c| c.is_ascii_digit()) => (None, rest),
        _ => (None, text),
    }
}

/// rsyslog's escapes of control characters: `#011` a tab, `#012` a newline.
fn unescape(text: &str) -> Cow<'_, str> {
    if !text.contains("#01") {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.replace("#012", "\n").replace("#011", "\t"))
}

/// Whether `text` (after the marker) starts a stderr line of its own.
fn starts_line(prefix: &Prefix, text: &str) -> bool {
    text.starts_with('\t')
        || prefix
            .parse(text)
            .is_some_and(|c| level_at(text, c.level_start).is_some())
}

/// The stderr text of a syslog line, for prefix detection and chunk cuts: `None` when the
/// line is not syslog or continues another.
pub fn first_text(line: &str, year: YearHint) -> Option<String> {
    let header = header(line, year)?;
    let (chunk, text) = marker(&line[header.text_start..]);
    if chunk.is_some_and(|c| c != 1) {
        return None;
    }
    let text = unescape(text);
    let first = text.split('\n').next().unwrap_or("");
    (!first.starts_with('\t')).then(|| first.to_string())
}

/// syslog lines into entries, through a [`StderrReader`] fed the reassembled lines.
pub struct SyslogReader {
    prefix: Prefix,
    year: YearHint,
    inner: StderrReader,
    /// The stderr line being put together, its first physical line, time and pid.
    pending: String,
    pending_line: u64,
    pending_time: Option<i64>,
    pending_pid: u32,
}

impl SyslogReader {
    pub fn new(prefix: Prefix, year: YearHint) -> SyslogReader {
        SyslogReader {
            inner: StderrReader::new(prefix.clone()),
            prefix,
            year,
            pending: String::new(),
            pending_line: 0,
            pending_time: None,
            pending_pid: 0,
        }
    }

    /// Whether a chunk of a big file may start at `line`: the first chunk of a message.
    pub fn starts_message(prefix: &Prefix, year: YearHint, line: &str) -> bool {
        first_text(line, year).is_some_and(|text| {
            prefix
                .parse(&text)
                .and_then(|c| level_at(&text, c.level_start))
                .is_some_and(|(level, _)| !level.is_attachment())
        })
    }

    fn flush(&mut self, stats: &mut LineStats, sink: &mut dyn FnMut(&Entry)) {
        if self.pending.is_empty() {
            return;
        }
        self.inner
            .set_fallback(self.pending_time, Some(self.pending_pid));
        let line = std::mem::take(&mut self.pending);
        self.inner.line(self.pending_line, &line, stats, sink);
        self.pending = line;
        self.pending.clear();
    }

    fn start(
        &mut self,
        line_no: u64,
        header: &Header,
        text: &str,
        stats: &mut LineStats,
        sink: &mut dyn FnMut(&Entry),
    ) {
        self.flush(stats, sink);
        self.pending.push_str(text);
        self.pending_line = line_no;
        self.pending_time = header.time_ms;
        self.pending_pid = header.pid;
    }
}

impl Reader for SyslogReader {
    fn line(
        &mut self,
        line_no: u64,
        line: &str,
        stats: &mut LineStats,
        sink: &mut dyn FnMut(&Entry),
    ) {
        let Some(header) = header(line, self.year) else {
            if !line.trim().is_empty() {
                stats.unmatched(line_no, line);
            }
            return;
        };
        let (chunk, text) = marker(&line[header.text_start..]);
        let text = unescape(text);
        for (i, part) in text.split('\n').enumerate() {
            if i > 0 && part.is_empty() {
                // The message's own final newline.
                continue;
            }
            let new_line = i > 0
                || chunk == Some(1)
                || self.pending.is_empty()
                || header.pid != self.pending_pid
                || starts_line(&self.prefix, part);
            if new_line {
                self.start(line_no, &header, part, stats, sink);
            } else {
                self.pending.push_str(part);
            }
        }
    }

    fn finish(&mut self, sink: &mut dyn FnMut(&Entry)) {
        let mut stats = LineStats::default();
        self.flush(&mut stats, sink);
        self.inner.finish(sink);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DECEMBER: YearHint = YearHint {
        year: 2026,
        month: 12,
    };

    #[test]
    fn headers() {
        let line = "Dec  6 01:02:03 db1 postgres[4242]: [7-1] LOG:  x";
        let h = header(line, DECEMBER).unwrap();
        assert_eq!(h.pid, 4242);
        assert_eq!(h.time_ms, Some(1_796_518_923_000));
        assert_eq!(&line[h.text_start..], "[7-1] LOG:  x");
        let journal = "Dec 06 01:02:03.456789 db1 postgresql-15-main[4242]: LOG:  x";
        assert_eq!(
            header(journal, DECEMBER).unwrap().time_ms,
            Some(1_796_518_923_456)
        );
        let iso = "2026-12-06T04:02:03.456+03:00 db1 postgres[1]: LOG:  x";
        assert_eq!(
            header(iso, DECEMBER).unwrap().time_ms,
            Some(1_796_518_923_456)
        );
        // A January log read in February is this year's; a December one, last year's.
        let feb = YearHint {
            year: 2027,
            month: 2,
        };
        let (jan, _) = bsd_time("Jan  1 00:00:00 ", feb).unwrap();
        let (dec, _) = bsd_time("Dec 31 00:00:00 ", feb).unwrap();
        assert!(dec < jan);
        assert_eq!(jan - dec, 86_400_000);
        for bad in [
            "Dec  6 01:02:03 db1 postgres: LOG:  x",
            "Dex  6 01:02:03 db1 postgres[1]: LOG:  x",
            "2026-12-06 01:02:03.456 UTC [1] LOG:  x",
            "Dec  6 01:02",
            "",
        ] {
            assert_eq!(header(bad, DECEMBER), None, "{bad}");
        }
    }

    #[test]
    fn markers() {
        assert_eq!(marker("[7-2] \tFROM t"), (Some(2), "\tFROM t"));
        assert_eq!(marker("[7] LOG:  x"), (None, "LOG:  x"));
        assert_eq!(marker("[x-1] LOG:  x"), (None, "[x-1] LOG:  x"));
        assert_eq!(marker("LOG:  x"), (None, "LOG:  x"));
        assert_eq!(unescape("a#012#011b"), "a\n\tb");
    }
}
