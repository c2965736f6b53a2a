//! `brisk check` with no URL: the embedded demo finds what was planted, and leaves no
//! server or file behind, even when interrupted.

mod common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{brisk, evidence, finding, findings};

/// Both tests watch the temp directory for sandbox directories, so they take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn sandbox_dirs() -> HashSet<PathBuf> {
    std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("brisk-pg-"))
        })
        .collect()
}

fn postgres_pids_in(dir: &std::path::Path) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|cmd| String::from_utf8_lossy(&cmd).contains(&*dir.to_string_lossy()))
                .unwrap_or(false)
        })
        .collect()
}

#[test]
fn the_demo_finds_every_planted_problem_and_cleans_up() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let before = sandbox_dirs();
    let output = brisk(&["check", "--format", "json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(report["notes"][0].as_str().unwrap().contains("demo"));
    finding(&report, "fk.unindexed", "public.conversations (user_id)");
    finding(&report, "index.duplicate", "public.files_user_id_idx1");
    finding(
        &report,
        "index.redundant",
        "public.messages_conversation_id_idx",
    );
    finding(&report, "index.invalid", "public.users_name_key");
    finding(&report, "index.unused", "public.conversations_title_idx");
    finding(&report, "sequence.exhaustion", "public.orders_id_seq");
    finding(&report, "table.no_primary_key", "public.audit_log");
    finding(&report, "vacuum.never_analyzed", "public.audit_log");
    finding(&report, "vacuum.dead_tuples", "public.sessions");
    let bloat = finding(&report, "table.bloat", "public.events");
    assert!(evidence(bloat, "bloat") > 50.0);
    assert!(!findings(&report, "queries.top").is_empty());
    assert!(report["skipped"].as_array().unwrap().is_empty());

    let after = sandbox_dirs();
    let left: Vec<_> = after.difference(&before).collect();
    assert!(left.is_empty(), "the demo left {left:?} behind");
}

#[test]
fn ctrl_c_during_the_demo_stops_the_server_and_removes_its_files() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let before = sandbox_dirs();
    let mut child = Command::new(env!("CARGO_BIN_EXE_brisk"))
        .args(["check"])
        .env_remove("PGHOST")
        .env_remove("PGDATABASE")
        .env_remove("PGPORT")
        .env_remove("PGHOSTADDR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the server of the demo runs (its directory appears and a process in it).
    let deadline = Instant::now() + Duration::from_secs(60);
    let dir = loop {
        let new: Vec<PathBuf> = sandbox_dirs().difference(&before).cloned().collect();
        if let Some(dir) = new.into_iter().find(|d| !postgres_pids_in(d).is_empty()) {
            break dir;
        }
        assert!(Instant::now() < deadline, "the demo server never started");
        std::thread::sleep(Duration::from_millis(50));
    };
    unsafe {
        libc_kill(child.id() as i32, 2);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let mut stderr = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(!dir.exists(), "{} is left behind", dir.display());
    assert!(postgres_pids_in(&dir).is_empty(), "a server outlived brisk");
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, signal: i32) -> i32;
}
