//! syslog logs read as the stderr log of the same messages: a seeded generator writes each
//! message once as stderr and once as PostgreSQL's `write_syslog` sends it (elog.c: one chunk
//! per line, lines over 900 bytes cut at a space, `[seq-chunk]` numbering), under the four
//! combinations of `syslog_sequence_numbers` and `syslog_split_messages`, and the two must
//! give the same statistics.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use brisk_logs::{analyze, Analysis, Options};

/// PostgreSQL's `PG_SYSLOG_LIMIT`.
const SYSLOG_LIMIT: usize = 900;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One message as PostgreSQL builds it for stderr and syslog: its lines (the first with the
/// level, continuation lines with a tab, attachments with their level), without the prefix.
struct Message {
    pid: u64,
    second: u64,
    user: String,
    lines: Vec<String>,
}

fn messages(seed: u64, count: usize) -> Vec<Message> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    for i in 0..count {
        let duration = format!("{}.{:03}", rng.below(50), rng.below(1000));
        let lines = match rng.below(6) {
            0 | 1 => vec![format!(
                "LOG:  duration: {duration} ms  statement: SELECT * FROM t{} WHERE id = {}",
                rng.below(8),
                rng.below(100_000)
            )],
            2 => vec![
                format!("LOG:  duration: {duration} ms  execute <unnamed>: SELECT a, b"),
                format!("\tFROM u{}", rng.below(4)),
                "\tWHERE id = $1".to_string(),
                format!("DETAIL:  parameters: $1 = '{}'", rng.below(1000)),
            ],
            3 => {
                // Over 900 bytes on one line: syslog cuts it at a space.
                let values: Vec<String> = (0..150 + rng.below(200))
                    .map(|v| format!("({v}, 'name {v}')"))
                    .collect();
                vec![format!(
                    "LOG:  duration: {duration} ms  statement: INSERT INTO big{} (id, name) VALUES {}",
                    rng.below(3),
                    values.join(", ")
                )]
            }
            4 => vec![
                format!(
                    "ERROR:  relation \"missing{}\" does not exist at character 15",
                    rng.below(3)
                ),
                format!("STATEMENT:  SELECT * FROM missing{}", rng.below(3)),
            ],
            _ => vec![format!(
                "LOG:  connection authorized: user=app database=shop application_name=web{}",
                rng.below(3)
            )],
        };
        out.push(Message {
            pid: 1000 + rng.below(20),
            second: i as u64 / 10,
            user: format!("u{}", rng.below(3)),
            lines,
        });
    }
    out
}

fn prefix_of(m: &Message) -> String {
    format!(
        "user={},db=shop,app=web,client=10.0.0.{} ",
        m.user,
        m.pid % 7
    )
}

fn stderr_log(messages: &[Message]) -> String {
    let mut out = String::new();
    for m in messages {
        let stamp = format!(
            "2026-12-06 01:{:02}:{:02}.000 UTC [{}] ",
            m.second / 60 % 60,
            m.second % 60,
            m.pid
        );
        for line in &m.lines {
            if line.starts_with('\t') {
                writeln!(out, "{line}").unwrap();
            } else {
                writeln!(out, "{stamp}{}{line}", prefix_of(m)).unwrap();
            }
        }
    }
    out
}

/// `write_syslog`'s chunks of one message's text (elog.c): each line alone, lines over the
/// limit cut at the last space before it (the space starts the next chunk).
fn syslog_chunks(text: &str) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut line = text;
    while !line.is_empty() {
        if let Some(rest) = line.strip_prefix('\n') {
            line = rest;
            continue;
        }
        let mut len = line.len().min(SYSLOG_LIMIT);
        if let Some(newline) = line[..len].find('\n') {
            len = newline;
        }
        if len < line.len() && !line.as_bytes()[len].is_ascii_whitespace() {
            if let Some(space) = line[..len].rfind(|c: char| c.is_ascii_whitespace()) {
                if space > 0 {
                    len = space;
                }
            }
        }
        chunks.push(line[..len].to_string());
        line = &line[len..];
    }
    chunks
}

fn syslog_log(messages: &[Message], sequence_numbers: bool, split: bool) -> String {
    let mut out = String::new();
    for (seq, m) in messages.iter().enumerate() {
        let seq = seq + 1;
        let header = format!(
            "Dec  6 01:{:02}:{:02} db1 postgres[{}]: ",
            m.second / 60 % 60,
            m.second % 60,
            m.pid
        );
        // What PostgreSQL hands to syslog(): the prefix on every line but continuations.
        let mut text = String::new();
        for line in &m.lines {
            if !line.starts_with('\t') {
                text.push_str(&prefix_of(m));
            }
            text.push_str(line);
            text.push('\n');
        }
        if split {
            for (i, chunk) in syslog_chunks(&text).iter().enumerate() {
                let chunk = chunk.replace('\t', "#011");
                if sequence_numbers {
                    writeln!(out, "{header}[{seq}-{}] {chunk}", i + 1).unwrap();
                } else {
                    writeln!(out, "{header}[{}] {chunk}", i + 1).unwrap();
                }
            }
        } else {
            // Whole, newlines and tabs escaped as rsyslog writes them.
            let escaped = text
                .trim_end_matches('\n')
                .replace('\n', "#012")
                .replace('\t', "#011");
            if sequence_numbers {
                writeln!(out, "{header}[{seq}] {escaped}").unwrap();
            } else {
                writeln!(out, "{header}{escaped}").unwrap();
            }
        }
    }
    out
}

fn read(path: &Path, prefix: Option<&str>) -> Analysis {
    analyze(
        &[path.to_path_buf()],
        &Options {
            jobs: 1,
            prefix: prefix.map(str::to_string),
            ..Options::default()
        },
    )
    .unwrap()
}

fn summary(a: &Analysis) -> Vec<String> {
    let mut rows: Vec<String> = a
        .statements
        .iter()
        .map(|s| {
            format!(
                "{} {} {} {} {:?}",
                s.query,
                s.calls,
                (s.total_ms * 1000.0).round(),
                s.errors,
                s.by.iter()
                    .map(|b| (&b.user, &b.database, &b.application, b.calls))
                    .collect::<Vec<_>>()
            )
        })
        .collect();
    rows.sort();
    rows.push(format!(
        "messages {} errors {:?} connections {} first {:?}",
        a.messages,
        a.errors
            .iter()
            .map(|e| (&e.message, e.count))
            .collect::<Vec<_>>(),
        a.connections.authorized,
        a.first
    ));
    rows
}

#[test]
fn syslog_reads_as_the_stderr_log_of_the_same_messages() {
    let dir = tempfile::tempdir().unwrap();
    let events = messages(0x5151, 3000);
    let stderr = dir.path().join("stderr.log");
    std::fs::write(&stderr, stderr_log(&events)).unwrap();
    let expected = read(&stderr, Some("%m [%p] user=%u,db=%d,app=%a,client=%h "));
    assert_eq!(expected.files[0].unmatched_lines, 0);
    assert!(expected.statement_count() > 1500);
    let expected = summary(&expected);
    let mut long_lines_cut = 0;
    for (sequence_numbers, split) in [(true, true), (false, true), (true, false), (false, false)] {
        let name = format!("syslog-seq-{sequence_numbers}-split-{split}");
        let text = syslog_log(&events, sequence_numbers, split);
        if split {
            long_lines_cut += text
                .lines()
                .filter(|l| l.contains("-2] ") || l.contains("[2] "))
                .count();
        }
        let path: PathBuf = dir.path().join(&name);
        std::fs::write(&path, text).unwrap();
        let analysis = read(&path, None);
        let file = &analysis.files[0];
        assert_eq!(file.format, Some("syslog"), "{name}");
        assert_eq!(
            file.prefix.as_deref(),
            Some("user=%u,db=%d,app=%a,client=%h "),
            "{name}"
        );
        assert_eq!(file.unmatched_lines, 0, "{name}");
        assert_eq!(file.problem, None, "{name}");
        assert_eq!(summary(&analysis), expected, "{name}");
    }
    // The generator did cut lines and split messages, so the reassembly was exercised.
    assert!(long_lines_cut > 500, "{long_lines_cut}");
}

/// Lines that are not syslog, or whose text no prefix matches, are counted, not misread; a
/// syslog file whose prefix is not detected says so on one line.
#[test]
fn syslog_without_a_detectable_prefix_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("messages");
    std::fs::write(
        &path,
        "Dec  6 01:00:00 db1 postgres[1]: [1-1] <<odd>> LOGGED something\n\
         Dec  6 01:00:01 db1 postgres[1]: [2-1] <<odd>> LOGGED more\n",
    )
    .unwrap();
    let err = analyze(std::slice::from_ref(&path), &Options::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("it is a syslog file, and none of the common log_line_prefix values"),
        "{err}"
    );
    // The prefix given: read, with the header's time and pid.
    std::fs::write(
        &path,
        "Dec  6 01:00:00 db1 postgres[77]: [1-1] <<odd>> LOG:  duration: 2.000 ms  statement: SELECT 1\n\
         kernel: something else entirely\n",
    )
    .unwrap();
    let analysis = analyze(
        &[path],
        &Options {
            prefix: Some("<<odd>> ".into()),
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(analysis.statement_count(), 1);
    assert_eq!(analysis.files[0].unmatched_lines, 1);
    assert!(
        analysis
            .first
            .as_deref()
            .unwrap()
            .ends_with("-12-06T01:00:00.000Z"),
        "{:?}",
        analysis.first
    );
}
