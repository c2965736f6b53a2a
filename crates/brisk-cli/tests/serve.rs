//! `brisk serve`'s refusals, through the real binary: one line and exit code 2, before any
//! server or demo starts.

mod common;

use common::brisk;

fn refused(args: &[&str]) -> String {
    let out = brisk(args);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    stderr
}

#[test]
fn serving_beyond_loopback_needs_a_token() {
    // No URL would start the demo; the refusal comes first.
    let stderr = refused(&["serve", "--listen", "0.0.0.0:0"]);
    assert!(stderr.contains("--token"), "{stderr}");
    let stderr = refused(&["serve", "--listen", "[::]:0", "--token", "short"]);
    assert!(stderr.contains("at least 16"), "{stderr}");
}

#[test]
fn bad_flags_are_one_line() {
    let stderr = refused(&[
        "serve",
        "postgres://nobody@127.0.0.1:1/x",
        "--sample-secs",
        "0",
    ]);
    assert!(stderr.contains("--sample-secs"), "{stderr}");
    let stderr = refused(&[
        "serve",
        "postgres://nobody@127.0.0.1:1/x",
        "--redis",
        "http://x",
    ]);
    assert!(stderr.starts_with("brisk: "), "{stderr}");
    // An unreachable server is said at start, not on the first page.
    let stderr = refused(&["serve", "postgres://nobody@127.0.0.1:1/x"]);
    assert!(stderr.contains("127.0.0.1"), "{stderr}");
}
