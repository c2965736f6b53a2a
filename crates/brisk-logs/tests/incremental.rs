//! `--state`: a second run reads only what was appended; a rotated file (a new file at the
//! same path) and a file truncated in place are read from their start; a line still being
//! written is left for the next run; nothing new reads nothing.

use std::io::Write;
use std::path::{Path, PathBuf};

use brisk_logs::{analyze, Analysis, Options};

fn lines(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|i| {
            format!(
                "2026-12-06 01:{:02}:{:02}.000 UTC [{}] app@shop LOG:  duration: 1.000 ms  statement: SELECT * FROM t{} WHERE id = {i}\n",
                i / 60 % 60,
                i % 60,
                100 + i % 5,
                i % 3
            )
        })
        .collect()
}

fn run(log: &Path, state: &Path) -> Analysis {
    analyze(
        &[log.to_path_buf()],
        &Options {
            state: Some(state.to_path_buf()),
            jobs: 2,
            ..Options::default()
        },
    )
    .unwrap()
}

fn append(log: &Path, text: &str) {
    std::fs::OpenOptions::new()
        .append(true)
        .open(log)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

#[test]
fn resumes_where_it_stopped_and_restarts_on_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let log: PathBuf = dir.path().join("postgresql.log");
    let state = dir.path().join("state.json");
    std::fs::write(&log, lines(0, 100)).unwrap();
    assert_eq!(run(&log, &state).statement_count(), 100);
    assert!(state.exists());

    // Appended: only the new lines, and a half-written last line waits for the next run.
    let more = lines(100, 40);
    let (whole, half) = more.split_at(more.len() - 30);
    append(&log, whole);
    assert_eq!(run(&log, &state).statement_count(), 39);
    // Nothing new (only the same half line): nothing read, and it is not an error.
    assert_eq!(run(&log, &state).statement_count(), 0);
    // The rest of the half line arrives: it is read whole, once.
    append(&log, half);
    let rest = run(&log, &state);
    assert_eq!(rest.statement_count(), 1);
    assert_eq!(rest.files[0].unmatched_lines, 0);

    // Rotated: the old file moved away, a new one at the same path.
    std::fs::rename(&log, dir.path().join("postgresql.log.1")).unwrap();
    std::fs::write(&log, lines(500, 7)).unwrap();
    assert_eq!(run(&log, &state).statement_count(), 7);

    // Truncated in place (copytruncate), then written again, shorter than the offset.
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&log)
        .unwrap();
    append(&log, &lines(900, 3));
    assert_eq!(run(&log, &state).statement_count(), 3);

    // A state file that is not one: one clear error, the file left as it is.
    std::fs::write(&state, "not json").unwrap();
    let err = analyze(
        std::slice::from_ref(&log),
        &Options {
            state: Some(state.clone()),
            ..Options::default()
        },
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("is not a brisk logs state file"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&state).unwrap(), "not json");
}

/// Big enough to be cut into chunks: resuming in the middle still cuts at messages and
/// counts each line once.
#[test]
fn resumes_a_big_file_read_in_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("big.log");
    let state = dir.path().join("state.json");
    let first = lines(0, 200_000);
    std::fs::write(&log, &first).unwrap();
    let a = run(&log, &state).statement_count();
    append(&log, &lines(200_000, 300_000));
    let b = run(&log, &state).statement_count();
    assert_eq!((a, b), (200_000, 300_000));
}
