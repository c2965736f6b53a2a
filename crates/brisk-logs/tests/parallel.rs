//! Reading in parallel and reading compressed must not change what is counted: a seeded,
//! generated log read whole by one thread, cut into chunks by four, and compressed with
//! gzip, zstd, lz4, xz and bzip2, gives the same statistics.

use std::io::Write;
use std::path::{Path, PathBuf};

use brisk_logs::{analyze, Analysis, Options};

/// xorshift64: a fixed seed gives the same log on every machine.
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

/// A Debian-prefixed log of about `bytes`: statements (some multi-line, some with
/// parameters), errors with their statement, connections, checkpoints, temp files.
fn generate(path: &Path, bytes: usize, seed: u64) {
    let mut rng = Rng(seed);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut written = 0;
    let mut ms = 0u64;
    while written < bytes {
        ms += rng.below(5);
        let (secs, millis) = (ms / 1000, ms % 1000);
        let stamp = format!(
            "2026-12-06 {:02}:{:02}:{:02}.{millis:03} UTC [{}] app@shop ",
            secs / 3600 % 24,
            secs / 60 % 60,
            secs % 60,
            1000 + rng.below(50)
        );
        let duration = format!("{}.{:03}", rng.below(20), rng.below(1000));
        let text = match rng.below(10) {
            0..=3 => format!(
                "{stamp}LOG:  duration: {duration} ms  statement: SELECT * FROM t{} WHERE id = {}\n",
                rng.below(30),
                rng.below(100_000)
            ),
            4..=6 => format!(
                "{stamp}LOG:  duration: {duration} ms  execute <unnamed>: SELECT a, b\n\tFROM u{}\n\tWHERE id = $1\n{stamp}DETAIL:  parameters: $1 = '{}'\n",
                rng.below(10),
                rng.below(1000)
            ),
            7 => format!(
                "{stamp}ERROR:  relation \"x{}\" does not exist at character 15\n{stamp}STATEMENT:  SELECT * FROM x{}\n",
                rng.below(5),
                rng.below(5)
            ),
            8 => format!(
                "{stamp}LOG:  temporary file: path \"base/pgsql_tmp/pgsql_tmp1.0\", size {}\n{stamp}STATEMENT:  SELECT * FROM big ORDER BY {}\n",
                rng.below(1 << 20),
                rng.below(3)
            ),
            _ => format!(
                "{stamp}LOG:  connection authorized: user=app database=shop application_name=web\n"
            ),
        };
        out.write_all(text.as_bytes()).unwrap();
        written += text.len();
    }
    out.flush().unwrap();
}

fn read(paths: &[PathBuf], jobs: usize) -> Analysis {
    analyze(
        paths,
        &Options {
            jobs,
            ..Options::default()
        },
    )
    .unwrap()
}

/// What must not depend on how the file was read.
fn summary(a: &Analysis) -> Vec<String> {
    let mut rows: Vec<String> = a
        .statements
        .iter()
        .map(|s| {
            // Totals in microseconds: workers add in another order, which moves the last
            // bits of a float sum, never a microsecond.
            format!(
                "{} {} {} {:.3} {} {}",
                s.fingerprint,
                s.calls,
                (s.total_ms * 1000.0).round(),
                s.max_ms,
                s.errors,
                s.temp_bytes
            )
        })
        .collect();
    rows.sort();
    rows.push(format!(
        "messages {} errors {:?} connections {}",
        a.messages,
        a.errors
            .iter()
            .map(|e| (&e.message, e.count))
            .collect::<Vec<_>>(),
        a.connections.authorized
    ));
    rows
}

#[test]
fn chunks_and_compression_count_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("pg.log");
    // Above twice the 16 MB chunk floor, so four jobs cut it.
    generate(&log, 40 << 20, 0x5eed);
    let whole = read(std::slice::from_ref(&log), 1);
    let cut = read(std::slice::from_ref(&log), 4);
    assert!(whole.statement_count() > 100_000);
    assert_eq!(whole.files[0].unmatched_lines, 0);
    assert_eq!(summary(&whole), summary(&cut));

    let small = dir.path().join("small.log");
    generate(&small, 2 << 20, 0xc0ffee);
    let plain = summary(&read(std::slice::from_ref(&small), 1));
    let bytes = std::fs::read(&small).unwrap();
    let gz = dir.path().join("small.log.gz");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&bytes).unwrap();
    std::fs::write(&gz, encoder.finish().unwrap()).unwrap();
    let zst = dir.path().join("small.log.zst");
    std::fs::write(&zst, zstd::encode_all(bytes.as_slice(), 1).unwrap()).unwrap();
    let lz4 = dir.path().join("small.log.lz4");
    let mut encoder = lz4_flex::frame::FrameEncoder::new(Vec::new());
    encoder.write_all(&bytes).unwrap();
    std::fs::write(&lz4, encoder.finish().unwrap()).unwrap();
    for compressed in [&gz, &zst, &lz4] {
        let analysis = read(std::slice::from_ref(compressed), 2);
        assert_eq!(summary(&analysis), plain, "{}", compressed.display());
    }
}

/// Runs `tool args... file` and returns the file it wrote (`file` + `suffix`).
fn compress_with(tool: &str, args: &[&str], file: &Path, suffix: &str) -> PathBuf {
    let status = std::process::Command::new(tool)
        .args(args)
        .arg(file)
        .status()
        .unwrap_or_else(|e| panic!("{tool} is needed (scripts/setup installs it): {e}"));
    assert!(status.success(), "{tool} failed");
    PathBuf::from(format!("{}{suffix}", file.display()))
}

/// Files written by the real `xz` and `bzip2` tools read as the plain file does, also two
/// streams one after the other (what appending compressed output gives); a file cut in the
/// middle keeps what came before the cut and says where it ended.
#[test]
fn xz_and_bzip2_made_by_their_tools() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.log");
    // Over two bzip2 blocks (900 kB each at -9), so a cut leaves whole blocks before it.
    generate(&small, 3 << 20, 0xb215);
    let plain = read(std::slice::from_ref(&small), 1);
    let xz = compress_with("xz", &["-k", "-6"], &small, ".xz");
    let bz2 = compress_with("bzip2", &["-k", "-9"], &small, ".bz2");
    for (compressed, name) in [(&xz, "xz"), (&bz2, "bzip2")] {
        let analysis = read(std::slice::from_ref(compressed), 2);
        assert_eq!(summary(&analysis), summary(&plain), "{name}");
        assert_eq!(analysis.files[0].compression, Some(name));
        assert_eq!(analysis.files[0].problem, None);

        let bytes = std::fs::read(compressed).unwrap();
        let twice = dir.path().join(format!("twice.{name}"));
        std::fs::write(&twice, [bytes.as_slice(), bytes.as_slice()].concat()).unwrap();
        let doubled = read(&[twice], 1);
        assert_eq!(doubled.messages, 2 * plain.messages, "{name} twice");

        let cut = dir.path().join(format!("cut.{name}"));
        std::fs::write(&cut, &bytes[..bytes.len() * 3 / 4]).unwrap();
        let partial = read(&[cut], 1);
        assert!(
            partial.messages > plain.messages / 10 && partial.messages < plain.messages,
            "{name}: {} of {}",
            partial.messages,
            plain.messages
        );
        let problem = partial.files[0].problem.as_deref().unwrap_or_default();
        assert!(
            problem.starts_with(&format!("{name} data ends early after line ")),
            "{problem}"
        );
    }
}

#[test]
fn corrupt_numbers_are_read_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("pg.log");
    let huge = "9".repeat(400);
    std::fs::write(
        &log,
        format!(
            "2026-12-06 01:00:00.000 UTC [1] a@b LOG:  duration: {huge} ms  statement: SELECT 1\n\
             2026-12-06 01:00:00.001 UTC [1] a@b LOG:  duration: 1.0 ms  statement: SELECT 2\n\
             2026-12-06 01:00:00.002 UTC [1] a@b LOG:  temporary file: path \"x\", size {huge}\n\
             2026-12-06 01:00:00.003 UTC [1] a@b LOG:  disconnection: session time: {huge}:00:00.000 user=a database=b host=[local]\n"
        ),
    )
    .unwrap();
    let analysis = read(&[log], 1);
    assert_eq!(analysis.statement_count(), 2);
}
