//! Files in: compression and format by their first bytes, the prefix detected, big plain
//! files cut into line-aligned chunks, and the chunks read in parallel.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::aggregate::{Aggregate, Keep};
use crate::entry::{shorten, CsvReader, JsonReader, LineStats, Reader, StderrReader};
use crate::prefix::{detect, level_at, Prefix};
use crate::syslog::{first_text, SyslogReader, YearHint};
use crate::time::{parse_timestamp, year_month};

/// A line longer than this is skipped (and counted): PostgreSQL logs a statement whole, and
/// a multi-megabyte `INSERT` is real, but a line of hundreds of megabytes is a broken file
/// that would otherwise be held in memory whole.
pub const MAX_LINE: usize = 32 << 20;
/// Plain files smaller than this are read by one worker: splitting costs a few seeks and
/// loses the N+1 runs that straddle a cut.
const MIN_CHUNK: u64 = 16 << 20;
/// Bytes read to recognize a file: compression, format, prefix.
const SNIFF: usize = 64 << 10;
/// Lines the prefix detector looks at.
const SNIFF_LINES: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    Lz4,
    Xz,
    Bzip2,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Lz4 => "lz4",
            Compression::Xz => "xz",
            Compression::Bzip2 => "bzip2",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    Stderr(Prefix),
    Csv,
    Json,
    Syslog(Prefix, YearHint),
}

impl Format {
    pub fn name(&self) -> &'static str {
        match self {
            Format::Stderr(_) => "stderr",
            Format::Csv => "csvlog",
            Format::Json => "jsonlog",
            Format::Syslog(..) => "syslog",
        }
    }

    fn reader(&self) -> Box<dyn Reader> {
        match self {
            Format::Stderr(prefix) => Box::new(StderrReader::new(prefix.clone())),
            Format::Csv => Box::<CsvReader>::default(),
            Format::Json => Box::<JsonReader>::default(),
            Format::Syslog(prefix, year) => Box::new(SyslogReader::new(prefix.clone(), *year)),
        }
    }

    /// Whether a chunk may start at `line`: the first line of a message.
    fn starts_message(&self, line: &str) -> bool {
        match self {
            Format::Stderr(prefix) => prefix
                .parse(line)
                .and_then(|c| level_at(line, c.level_start))
                .is_some_and(|(level, _)| !level.is_attachment()),
            Format::Csv => {
                parse_timestamp(line).is_some_and(|(_, len)| line[len..].starts_with(','))
            }
            Format::Json => line.starts_with('{'),
            Format::Syslog(prefix, year) => SyslogReader::starts_message(prefix, *year, line),
        }
    }
}

/// Bytes and lines read so far, for a progress display.
#[derive(Debug, Default)]
pub struct Progress {
    pub bytes: AtomicU64,
    pub lines: AtomicU64,
}

/// What became of one file.
#[derive(Debug, Clone)]
pub struct FileOutcome {
    pub path: PathBuf,
    pub compression: Option<Compression>,
    pub format: Option<&'static str>,
    pub prefix: Option<String>,
    pub stats: LineStats,
    /// Why the file (or its end) could not be read, on one line.
    pub problem: Option<String>,
    /// Read up to here (the end of its last whole line): where `--state` resumes.
    pub end_offset: Option<u64>,
}

struct Unit {
    file: usize,
    compression: Compression,
    format: Format,
    /// A byte range of a plain file; the whole file when `None`.
    range: Option<(u64, u64)>,
}

fn open(path: &Path, compression: Compression) -> std::io::Result<Box<dyn Read + Send>> {
    let file = BufReader::with_capacity(256 << 10, File::open(path)?);
    Ok(match compression {
        Compression::None => Box::new(file),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(file)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(file)?),
        Compression::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(file)),
        // Concatenated streams, as `xz` and `bzip2` write when files are appended.
        Compression::Xz => Box::new(lzma_rust2::XzReader::new(file, true)),
        Compression::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(file)),
    })
}

fn compression_of(path: &Path) -> Result<Compression, String> {
    let mut magic = [0u8; 6];
    let mut file = File::open(path).map_err(|e| format!("cannot open it: {e}"))?;
    let n = read_full(&mut file, &mut magic).map_err(|e| format!("cannot read it: {e}"))?;
    let magic = &magic[..n];
    Ok(if magic.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else if magic.starts_with(&[0x04, 0x22, 0x4d, 0x18]) {
        Compression::Lz4
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Compression::Xz
    } else if magic.starts_with(b"BZh") && magic.get(3).is_some_and(|b| (b'1'..=b'9').contains(b)) {
        // "BZh" and the block size digit: a plain text file may start with "BZh".
        Compression::Bzip2
    } else {
        Compression::None
    })
}

fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                if filled == 0 {
                    return Err(e);
                }
                break;
            }
        }
    }
    Ok(filled)
}

/// The file's format, from its first bytes; for stderr and syslog, the prefix given or
/// detected. `year` dates syslog's times, which have no year.
fn format_of(head: &[u8], given: Option<&Prefix>, year: YearHint) -> Result<Format, String> {
    if head.contains(&0) {
        return Err("it is a binary file, not a PostgreSQL log".into());
    }
    let text = String::from_utf8_lossy(head);
    let mut lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    // The last line of the sniffed bytes may be cut.
    if head.len() == SNIFF && lines.len() > 1 {
        lines.pop();
    }
    let Some(first) = lines.first() else {
        return Err("it is empty".into());
    };
    if first.starts_with('{') && first.contains("\"error_severity\"") {
        return Ok(Format::Json);
    }
    if parse_timestamp(first).is_some_and(|(_, len)| first[len..].starts_with(',')) {
        return Ok(Format::Csv);
    }
    if crate::syslog::header(first, year).is_some() {
        let texts: Vec<String> = lines
            .iter()
            .filter_map(|l| first_text(l, year))
            .take(SNIFF_LINES)
            .collect();
        if let Some(prefix) = given {
            return Ok(Format::Syslog(prefix.clone(), year));
        }
        return match detect(texts.iter().map(String::as_str)) {
            Some((prefix, _)) => Ok(Format::Syslog(prefix, year)),
            None => Err(format!(
                "0 statements parsed: it is a syslog file, and none of the common log_line_prefix \
                 values matches what PostgreSQL wrote on line 1: `{}`; give yours with --prefix \
                 (its value is `SHOW log_line_prefix`)",
                shorten(first, 100)
            )),
        };
    }
    let sample: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| !l.starts_with('\t'))
        .take(SNIFF_LINES)
        .collect();
    if let Some(prefix) = given {
        return Ok(Format::Stderr(prefix.clone()));
    }
    match detect(sample.iter().copied()) {
        Some((prefix, _)) => Ok(Format::Stderr(prefix)),
        None => Err(format!(
            "0 statements parsed: none of the common log_line_prefix values matches line 1: \
             `{}`; give yours with --prefix (its value is `SHOW log_line_prefix`)",
            shorten(first, 100)
        )),
    }
}

/// Cuts a plain file into about `parts` ranges that each start at a message.
fn chunks(path: &Path, from: u64, size: u64, parts: u64, format: &Format) -> Vec<(u64, u64)> {
    let len = size.saturating_sub(from);
    if parts <= 1 || len < 2 * MIN_CHUNK {
        return vec![(from, size)];
    }
    let parts = parts.min(len / MIN_CHUNK);
    let mut starts = vec![from];
    for i in 1..parts {
        let nominal = from + len / parts * i;
        if let Some(start) = message_start_after(path, nominal, format) {
            if start > *starts.last().unwrap_or(&0) && start < size {
                starts.push(start);
            }
        }
    }
    let mut ranges = Vec::new();
    for (i, &start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(size);
        ranges.push((start, end));
    }
    ranges
}

/// The offset of the first message that starts after `offset`, within 4 MB.
fn message_start_after(path: &Path, offset: u64, format: &Format) -> Option<u64> {
    let mut file = File::open(path).ok()?;
    file.seek(SeekFrom::Start(offset)).ok()?;
    let mut window = vec![0u8; 4 << 20];
    let n = read_full(&mut file, &mut window).ok()?;
    let window = &window[..n];
    let mut at = memchr::memchr(b'\n', window)? + 1;
    while at < window.len() {
        let end = memchr::memchr(b'\n', &window[at..]).map(|e| at + e)?;
        let line = String::from_utf8_lossy(&window[at..end]);
        if format.starts_message(&line) {
            return Some(offset + at as u64);
        }
        at = end + 1;
    }
    None
}

/// Reads lines from `input` into `reader`, skipping lines over [`MAX_LINE`]. An error of
/// the input (a truncated archive) ends the read and is returned after what was read.
fn read_lines(
    mut input: impl Read,
    reader: &mut dyn Reader,
    stats: &mut LineStats,
    progress: &Progress,
    sink: &mut dyn FnMut(&crate::entry::Entry),
) -> Option<std::io::Error> {
    let mut buf = vec![0u8; 256 << 10];
    let mut carry: Vec<u8> = Vec::new();
    let mut skipping = false;
    let mut line_no = 0u64;
    let mut reported = 0u64;
    let mut failure = None;
    let mut one = |bytes: &[u8], line_no: u64, stats: &mut LineStats| {
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        match std::str::from_utf8(bytes) {
            Ok(line) => reader.line(line_no, line, stats, sink),
            Err(_) => reader.line(line_no, &String::from_utf8_lossy(bytes), stats, sink),
        }
    };
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        stats.bytes += n as u64;
        let mut data = &buf[..n];
        while let Some(end) = memchr::memchr(b'\n', data) {
            line_no += 1;
            if skipping {
                skipping = false;
                stats.too_long += 1;
            } else if carry.is_empty() {
                one(&data[..end], line_no, stats);
            } else if carry.len() + end > MAX_LINE {
                stats.too_long += 1;
                carry.clear();
            } else {
                carry.extend_from_slice(&data[..end]);
                one(&carry, line_no, stats);
                carry.clear();
            }
            data = &data[end + 1..];
        }
        if !skipping {
            if carry.len() + data.len() > MAX_LINE {
                skipping = true;
                carry = Vec::new();
            } else {
                carry.extend_from_slice(data);
            }
        }
        if stats.bytes - reported >= 1 << 20 {
            progress
                .bytes
                .fetch_add(stats.bytes - reported, Ordering::Relaxed);
            progress
                .lines
                .fetch_add(line_no - stats.lines, Ordering::Relaxed);
            stats.lines = line_no;
            reported = stats.bytes;
        }
    }
    if skipping {
        line_no += 1;
        stats.too_long += 1;
    } else if !carry.is_empty() {
        line_no += 1;
        one(&carry, line_no, stats);
    }
    reader.finish(sink);
    progress
        .bytes
        .fetch_add(stats.bytes - reported, Ordering::Relaxed);
    progress
        .lines
        .fetch_add(line_no - stats.lines, Ordering::Relaxed);
    stats.lines = line_no;
    failure
}

/// What [`read_all`] returns: the merged aggregate and each file's outcome.
pub struct ReadOutcome {
    pub aggregate: Aggregate,
    pub files: Vec<FileOutcome>,
}

/// Reads every file with `jobs` threads.
pub fn read_all(
    paths: &[PathBuf],
    resume: Option<&[u64]>,
    prefix: Option<&Prefix>,
    jobs: usize,
    keep: Keep,
    progress: &Progress,
) -> ReadOutcome {
    let jobs = jobs.max(1);
    let mut files: Vec<FileOutcome> = Vec::new();
    let mut units: Vec<Unit> = Vec::new();
    for (index, path) in paths.iter().enumerate() {
        let mut outcome = FileOutcome {
            path: path.clone(),
            compression: None,
            format: None,
            prefix: None,
            stats: LineStats::default(),
            problem: None,
            end_offset: None,
        };
        let from = resume.map(|r| r.get(index).copied().unwrap_or(0));
        match plan_file(path, prefix, jobs, from) {
            Ok((compression, format, ranges, end)) => {
                outcome.end_offset = Some(end);
                outcome.compression = Some(compression);
                outcome.format = Some(format.name());
                if let Format::Stderr(p) | Format::Syslog(p, _) = &format {
                    outcome.prefix = Some(p.text().to_string());
                }
                for range in ranges {
                    units.push(Unit {
                        file: index,
                        compression,
                        format: format.clone(),
                        range,
                    });
                }
            }
            Err(problem) => outcome.problem = Some(problem),
        }
        files.push(outcome);
    }
    // Big units first, so the last one to finish is short.
    units.sort_by_key(|u| std::cmp::Reverse(u.range.map_or(u64::MAX, |(s, e)| e - s)));
    let next = AtomicUsize::new(0);
    let mut lost_workers = 0;
    let outcomes = Mutex::new(files);
    let mut aggregates: Vec<Aggregate> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs.min(units.len().max(1)))
            .map(|_| {
                scope.spawn(|| {
                    let mut aggregate = Aggregate::new(keep);
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(unit) = units.get(i) else { break };
                        let path = &paths[unit.file];
                        let (stats, problem) = read_unit(path, unit, &mut aggregate, progress);
                        let mut outcomes = outcomes.lock().unwrap_or_else(|p| p.into_inner());
                        let outcome = &mut outcomes[unit.file];
                        outcome.stats.merge(&stats);
                        if outcome.problem.is_none() {
                            outcome.problem = problem;
                        }
                    }
                    aggregate
                })
            })
            .collect();
        let mut done = Vec::new();
        for worker in workers {
            match worker.join() {
                Ok(aggregate) => done.push(aggregate),
                // A reader that panicked (a bug, not the input's fault) took its counts
                // with it: say so rather than report short numbers as whole.
                Err(_) => lost_workers += 1,
            }
        }
        done
    });
    let mut aggregate = aggregates.pop().unwrap_or_else(|| Aggregate::new(keep));
    for other in aggregates {
        aggregate.merge(other);
    }
    let mut files = outcomes.into_inner().unwrap_or_else(|p| p.into_inner());
    if lost_workers > 0 {
        for file in files.iter_mut().filter(|f| f.problem.is_none()) {
            file.problem = Some(format!(
                "{lost_workers} reader thread(s) failed: the counts are incomplete (a bug in brisk; please report it)"
            ));
        }
    }
    for file in &mut files {
        if file.problem.is_none() && file.stats.matched == 0 && file.stats.lines > 0 {
            file.problem = Some(match (&file.prefix, &file.stats.first_unmatched) {
                (Some(prefix), Some((line, text))) => format!(
                    "0 statements parsed: the prefix `{prefix}` does not match line {line}: `{text}`; \
                     give the server's with --prefix (`SHOW log_line_prefix`){}",
                    // PostgreSQL separates the level from the message with ":  "; a line
                    // that has one but no level brisk knows is likely translated.
                    if text.contains(":  ") {
                        ", and if the server's lc_messages is not English, set it to 'C': brisk reads English messages"
                    } else {
                        ""
                    }
                ),
                _ => "0 messages parsed: no line is a PostgreSQL log message".to_string(),
            });
        }
    }
    ReadOutcome { aggregate, files }
}

/// The compression, the format, the units (byte ranges of a plain file, or the whole file)
/// and the offset read up to.
type Plan = (Compression, Format, Vec<Option<(u64, u64)>>, u64);

/// The end of the last whole line at or before `size`: a line still being written is left
/// for the next incremental run. `from` when what follows it has no newline yet; `size` when
/// the last 1 MiB has none (a line that long is read as it is rather than searched for).
fn last_line_end(path: &Path, from: u64, size: u64) -> u64 {
    let window = (size - from).min(1 << 20);
    let none = if window == size - from { from } else { size };
    let found = File::open(path).ok().and_then(|mut f| {
        f.seek(SeekFrom::Start(size - window)).ok()?;
        let mut buf = vec![0u8; window as usize];
        let n = read_full(&mut f, &mut buf).ok()?;
        memchr::memrchr(b'\n', &buf[..n]).map(|at| size - window + at as u64 + 1)
    });
    found.unwrap_or(none)
}

/// `from`: where to resume, in the incremental mode.
fn plan_file(
    path: &Path,
    prefix: Option<&Prefix>,
    jobs: usize,
    from: Option<u64>,
) -> Result<Plan, String> {
    let incremental = from.is_some();
    let from = from.unwrap_or(0);
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot open it: {e}"))?;
    if meta.is_dir() {
        return Err("it is a directory; give the log files in it".into());
    }
    let compression = compression_of(path)?;
    let mut head = vec![0u8; SNIFF];
    let mut input = open(path, compression).map_err(|e| format!("cannot open it: {e}"))?;
    let n = read_full(&mut input, &mut head)
        .map_err(|e| format!("cannot read it as {}: {e}", compression.name()))?;
    head.truncate(n);
    // syslog's times have no year: the file's last change dates them.
    let changed = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64);
    let (year, month) = year_month(changed);
    let format = format_of(&head, prefix, YearHint { year, month })?;
    if compression != Compression::None {
        // A compressed file is read whole, or not at all when it was read before: it does
        // not grow (only its plain predecessor did).
        let units = if incremental && from == meta.len() {
            Vec::new()
        } else {
            vec![None]
        };
        return Ok((compression, format, units, meta.len()));
    }
    let from = from.min(meta.len());
    let end = if !incremental {
        meta.len()
    } else if from == meta.len() {
        from
    } else {
        last_line_end(path, from, meta.len())
    };
    let ranges = if end > from {
        chunks(path, from, end, jobs as u64 * 2, &format)
            .into_iter()
            .map(Some)
            .collect()
    } else {
        Vec::new()
    };
    Ok((compression, format, ranges, end))
}

fn read_unit(
    path: &Path,
    unit: &Unit,
    aggregate: &mut Aggregate,
    progress: &Progress,
) -> (LineStats, Option<String>) {
    let mut stats = LineStats::default();
    let mut reader = unit.format.reader();
    let mut sink = |entry: &crate::entry::Entry| aggregate.add(entry);
    let failure = match unit.range {
        Some((start, end)) => {
            let opened = File::open(path).and_then(|mut f| {
                f.seek(SeekFrom::Start(start))?;
                Ok(f)
            });
            match opened {
                Ok(file) => {
                    let input = BufReader::with_capacity(256 << 10, file).take(end - start);
                    read_lines(input, reader.as_mut(), &mut stats, progress, &mut sink)
                }
                Err(e) => Some(e),
            }
        }
        None => match open(path, unit.compression) {
            Ok(input) => read_lines(input, reader.as_mut(), &mut stats, progress, &mut sink),
            Err(e) => Some(e),
        },
    };
    let problem = failure.map(|e| {
        format!(
            "{} data ends early after line {} ({e}): the file is truncated or corrupt; what came before was read",
            unit.compression.name(),
            stats.lines
        )
    });
    (stats, problem)
}
