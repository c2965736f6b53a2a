//! What a message says: PostgreSQL's English message texts read into events.
//!
//! Only the messages a report counts are read; the rest are `Event::Other`. The texts are
//! those of PostgreSQL 13 to 17 (`postgres.c`, `lock.c`/`proc.c`, `fd.c`, `xlog.c`,
//! `vacuumlazy.c`, `analyze.c`, `postmaster.c`), which is why `lc_messages` must be English.

/// What one message reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<'a> {
    /// `duration: X ms  statement: ...` or `execute NAME: ...`: a statement and its time.
    Statement {
        ms: f64,
        text: &'a str,
    },
    /// `duration: X ms` of a parse or bind step, a bare `log_duration` line, or an
    /// auto_explain plan: a time not counted as a statement's.
    OtherDuration,
    /// An auto_explain plan (text format): the statement's text and its plan.
    Plan {
        query: &'a str,
        plan: &'a str,
    },
    /// `process N still waiting for MODE on ... after X ms`.
    LockWaiting {
        mode: &'a str,
        ms: f64,
    },
    /// `process N acquired MODE on ... after X ms`.
    LockAcquired {
        mode: &'a str,
        ms: f64,
    },
    Deadlock,
    /// `temporary file: path "...", size N`.
    TempFile {
        bytes: u64,
    },
    CheckpointStarting,
    /// `checkpoint complete: wrote N buffers ...; total=X s`.
    CheckpointComplete {
        buffers: u64,
        secs: f64,
    },
    /// `checkpoints are occurring too frequently (N seconds apart)`.
    CheckpointTooFrequent {
        secs_apart: u64,
    },
    AutoVacuum {
        table: &'a str,
        secs: f64,
    },
    AutoAnalyze {
        table: &'a str,
        secs: f64,
    },
    ConnectionReceived,
    ConnectionAuthorized,
    /// `disconnection: session time: H:MM:SS.fff ...`.
    Disconnection {
        session_secs: f64,
    },
    /// `canceling statement due to REASON` and timeouts that end a session.
    Cancel {
        reason: &'a str,
    },
    Other,
}

/// A leading decimal number of `text`.
fn leading_number(text: &str) -> Option<f64> {
    let end = text
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b'.')
        .count();
    text[..end].parse().ok()
}

fn after<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
    text.find(marker).map(|at| &text[at + marker.len()..])
}

/// Reads `message` (the text after `LEVEL:  `).
pub fn classify(message: &str) -> Event<'_> {
    if let Some(rest) = message.strip_prefix("duration: ") {
        return duration(rest);
    }
    if let Some(rest) = message.strip_prefix("process ") {
        let waiting = rest.contains(" still waiting for ");
        if waiting || rest.contains(" acquired ") {
            let marker = if waiting {
                " still waiting for "
            } else {
                " acquired "
            };
            let mode = after(rest, marker)
                .and_then(|m| m.split(' ').next())
                .unwrap_or("");
            let ms = rest
                .rfind(" after ")
                .and_then(|at| leading_number(&rest[at + 7..]))
                .unwrap_or(0.0);
            return if waiting {
                Event::LockWaiting { mode, ms }
            } else {
                Event::LockAcquired { mode, ms }
            };
        }
        return Event::Other;
    }
    if message.starts_with("deadlock detected") {
        return Event::Deadlock;
    }
    if let Some(rest) = message.strip_prefix("temporary file: ") {
        let bytes = after(rest, "size ")
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        return Event::TempFile { bytes };
    }
    if message.starts_with("checkpoint starting") || message.starts_with("restartpoint starting") {
        return Event::CheckpointStarting;
    }
    if message.starts_with("checkpoint complete") || message.starts_with("restartpoint complete") {
        let buffers = after(message, "wrote ")
            .and_then(leading_number)
            .unwrap_or(0.0) as u64;
        let secs = after(message, "total=")
            .and_then(leading_number)
            .unwrap_or(0.0);
        return Event::CheckpointComplete { buffers, secs };
    }
    if let Some(rest) = message.strip_prefix("checkpoints are occurring too frequently (") {
        let secs_apart = leading_number(rest).unwrap_or(0.0) as u64;
        return Event::CheckpointTooFrequent { secs_apart };
    }
    for (marker, vacuum) in [
        ("automatic vacuum of table \"", true),
        ("automatic aggressive vacuum of table \"", true),
        (
            "automatic aggressive vacuum to prevent wraparound of table \"",
            true,
        ),
        ("automatic vacuum to prevent wraparound of table \"", true),
        ("automatic analyze of table \"", false),
    ] {
        if let Some(rest) = message.strip_prefix(marker) {
            let table = rest.split('"').next().unwrap_or("");
            let secs = after(rest, "elapsed: ")
                .and_then(leading_number)
                .unwrap_or(0.0);
            return if vacuum {
                Event::AutoVacuum { table, secs }
            } else {
                Event::AutoAnalyze { table, secs }
            };
        }
    }
    if message.starts_with("connection received:") {
        return Event::ConnectionReceived;
    }
    if message.starts_with("connection authorized:") {
        return Event::ConnectionAuthorized;
    }
    if let Some(rest) = message.strip_prefix("disconnection: session time: ") {
        let clock = rest.split(' ').next().unwrap_or("");
        let mut secs = 0.0;
        for part in clock.split(':') {
            secs = secs * 60.0 + part.parse::<f64>().unwrap_or(0.0);
        }
        return Event::Disconnection { session_secs: secs };
    }
    if let Some(reason) = message.strip_prefix("canceling statement due to ") {
        return Event::Cancel { reason };
    }
    if message.starts_with("canceling autovacuum task") {
        return Event::Cancel {
            reason: "autovacuum task canceled",
        };
    }
    if let Some(reason) = message.strip_prefix("terminating connection due to ") {
        return Event::Cancel { reason };
    }
    Event::Other
}

fn duration(rest: &str) -> Event<'_> {
    let Some(ms) = leading_number(rest) else {
        return Event::Other;
    };
    let Some(what) = after(rest, " ms  ") else {
        return Event::OtherDuration;
    };
    if let Some(text) = what.strip_prefix("statement: ") {
        return Event::Statement { ms, text };
    }
    if let Some(rest) = what.strip_prefix("plan:\n") {
        return plan(rest);
    }
    if let Some(named) = what.strip_prefix("execute ") {
        if let Some(at) = named.find(": ") {
            return Event::Statement {
                ms,
                text: &named[at + 2..],
            };
        }
    }
    Event::OtherDuration
}

/// auto_explain's text output: `Query Text: ...` (one or more lines), then the plan, whose
/// first node carries `(cost=` or `(actual`.
fn plan(rest: &str) -> Event<'_> {
    let Some(query_start) = rest.find("Query Text: ") else {
        return Event::OtherDuration;
    };
    let body = &rest[query_start + "Query Text: ".len()..];
    let mut offset = 0;
    for line in body.split_inclusive('\n') {
        if offset > 0 && (line.contains("(cost=") || line.contains("(actual")) {
            return Event::Plan {
                query: body[..offset].trim_end(),
                plan: body[offset..].trim_end(),
            };
        }
        offset += line.len();
    }
    Event::OtherDuration
}

/// The values of `DETAIL:  parameters: $1 = '42', $2 = NULL`, in `$n` order; `None` when
/// the detail is not a parameter list.
pub fn parameters(detail: &str) -> Option<Vec<Option<String>>> {
    let mut rest = detail.strip_prefix("parameters: ")?;
    let mut values: Vec<Option<String>> = Vec::new();
    while !rest.is_empty() {
        rest = rest.strip_prefix('$')?;
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let n: usize = rest[..digits].parse().ok()?;
        rest = rest[digits..].strip_prefix(" = ")?;
        let value = if let Some(after_null) = rest.strip_prefix("NULL") {
            rest = after_null;
            None
        } else {
            let mut chars = rest.strip_prefix('\'')?.char_indices().peekable();
            let body = rest.strip_prefix('\'')?;
            let mut value = String::new();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                if c == '\'' {
                    if chars.peek().map(|&(_, c)| c) == Some('\'') {
                        chars.next();
                        value.push('\'');
                    } else {
                        end = Some(i + 1);
                        break;
                    }
                } else {
                    value.push(c);
                }
            }
            // A value cut by log_parameter_max_length ends in "..." without its quote.
            rest = &body[end?..];
            Some(value)
        };
        if n != values.len() + 1 {
            return None;
        }
        values.push(value);
        rest = rest.strip_prefix(", ").unwrap_or(rest);
        if !rest.starts_with('$') && !rest.is_empty() {
            return None;
        }
    }
    Some(values)
}

/// The error's message with the parts that vary (quoted names, numbers) masked, so one
/// kind of error is one line of the report.
pub fn error_pattern(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(200));
    let mut in_quote = false;
    let mut last_digit = false;
    for c in message.chars().take(200) {
        if c == '"' {
            if !in_quote {
                out.push_str("\"…\"");
            }
            in_quote = !in_quote;
            continue;
        }
        if in_quote {
            continue;
        }
        if c.is_ascii_digit() {
            if !last_digit {
                out.push('N');
            }
            last_digit = true;
            continue;
        }
        last_digit = false;
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_and_durations() {
        assert_eq!(
            classify("duration: 1.234 ms  statement: SELECT 1"),
            Event::Statement {
                ms: 1.234,
                text: "SELECT 1"
            }
        );
        assert_eq!(
            classify("duration: 0.5 ms  execute <unnamed>: SELECT $1"),
            Event::Statement {
                ms: 0.5,
                text: "SELECT $1"
            }
        );
        assert_eq!(
            classify("duration: 0.5 ms  execute S_1/C_2: SELECT $1"),
            Event::Statement {
                ms: 0.5,
                text: "SELECT $1"
            }
        );
        assert_eq!(
            classify("duration: 0.1 ms  parse <unnamed>: SELECT $1"),
            Event::OtherDuration
        );
        assert_eq!(
            classify("duration: 0.1 ms  bind S_1: SELECT $1"),
            Event::OtherDuration
        );
        assert_eq!(classify("duration: 0.1 ms"), Event::OtherDuration);
        assert_eq!(
            classify("duration: 0.1 ms  plan:\nQuery Text: SELECT 1"),
            Event::OtherDuration
        );
        assert_eq!(
            classify("duration: 0.1 ms  plan:\nQuery Text: SELECT *\n  FROM t\nSeq Scan on t  (cost=0.00..1.01 rows=1 width=4)\n  Filter: (a = 1)"),
            Event::Plan {
                query: "SELECT *\n  FROM t",
                plan: "Seq Scan on t  (cost=0.00..1.01 rows=1 width=4)\n  Filter: (a = 1)"
            }
        );
    }

    #[test]
    fn events() {
        assert_eq!(
            classify("process 12 still waiting for ShareLock on transaction 7 after 1000.071 ms"),
            Event::LockWaiting {
                mode: "ShareLock",
                ms: 1000.071
            }
        );
        assert_eq!(
            classify("process 12 acquired ExclusiveLock on tuple (0,1) of relation 16384 of database 5 after 2001.5 ms"),
            Event::LockAcquired { mode: "ExclusiveLock", ms: 2001.5 }
        );
        assert_eq!(
            classify("temporary file: path \"base/pgsql_tmp/pgsql_tmp77.0\", size 1417216"),
            Event::TempFile { bytes: 1_417_216 }
        );
        assert_eq!(
            classify("checkpoint complete: wrote 3 buffers (0.0%); 0 WAL file(s) added, 0 removed, 0 recycled; write=0.001 s, sync=0.002 s, total=0.250 s; sync files=2"),
            Event::CheckpointComplete { buffers: 3, secs: 0.25 }
        );
        assert_eq!(
            classify("checkpoints are occurring too frequently (5 seconds apart)"),
            Event::CheckpointTooFrequent { secs_apart: 5 }
        );
        assert_eq!(
            classify("automatic vacuum of table \"shop.public.orders\": index scans: 0\npages: 0 removed\nsystem usage: CPU: user: 0.01 s, system: 0.00 s, elapsed: 0.12 s"),
            Event::AutoVacuum { table: "shop.public.orders", secs: 0.12 }
        );
        assert_eq!(
            classify("automatic analyze of table \"shop.public.orders\"\navg read rate: 0.000 MB/s\nsystem usage: CPU: user: 0.00 s, system: 0.00 s, elapsed: 0.03 s"),
            Event::AutoAnalyze { table: "shop.public.orders", secs: 0.03 }
        );
        assert_eq!(
            classify("disconnection: session time: 1:02:03.500 user=a database=b host=[local]"),
            Event::Disconnection {
                session_secs: 3723.5
            }
        );
        assert_eq!(
            classify("canceling statement due to statement timeout"),
            Event::Cancel {
                reason: "statement timeout"
            }
        );
        assert_eq!(classify("deadlock detected"), Event::Deadlock);
        assert_eq!(classify("something else"), Event::Other);
        // Corrupt numbers are read as far as they go, never a panic downstream.
        assert!(matches!(
            classify(&format!("duration: {} ms  statement: SELECT 1", "9".repeat(400))),
            Event::Statement { ms, .. } if ms.is_infinite()
        ));
    }

    #[test]
    fn parameter_lists() {
        assert_eq!(
            parameters("parameters: $1 = '42', $2 = NULL, $3 = 'it''s, ok'"),
            Some(vec![Some("42".into()), None, Some("it's, ok".into())])
        );
        assert_eq!(parameters("parameters: $1 = 'cut..."), None);
        assert_eq!(parameters("Key (id)=(1) already exists."), None);
    }

    #[test]
    fn error_patterns_mask_names_and_numbers() {
        assert_eq!(
            error_pattern("relation \"users_2024\" does not exist at character 15"),
            "relation \"…\" does not exist at character N"
        );
    }
}
