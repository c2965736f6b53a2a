//! `brisk check` with no URL: the embedded demo finds what was planted, and leaves no
//! server or file behind, even when interrupted.

mod common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use brisk_sandbox::{demo, Postgres};
use common::{brisk, check, evidence, finding, findings};
use serde_json::Value;

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
    // Of the two identical indexes, the one the planted query reads stays.
    let pair = ["public.files_user_id_idx", "public.files_user_id_idx1"];
    let duplicates: Vec<_> = findings(&report, "index.duplicate")
        .into_iter()
        .filter(|f| pair.contains(&f["subject"].as_str().unwrap()))
        .collect();
    assert_eq!(duplicates.len(), 1, "{duplicates:#?}");
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
fn advise_without_a_url_runs_on_the_demo_and_cleans_up() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let before = sandbox_dirs();
    let output = brisk(&["advise", "--format", "json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["command"], "advise");
    assert!(
        report["notes"][0].as_str().unwrap().contains("demo"),
        "{report:#}"
    );
    // The planted workload has an unindexed foreign key the advice must cover.
    let recommended: Vec<&str> = findings(&report, "advise.index")
        .iter()
        .filter_map(|f| f["fix"]["apply"].as_str())
        .collect();
    assert!(
        recommended
            .iter()
            .any(|sql| sql.contains("ON public.conversations") && sql.contains("(user_id)")),
        "{recommended:#?}"
    );
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

/// The indexes each of the demo's planted queries reads, by `EXPLAIN`.
fn indexes_of_planted_queries(pg: &Postgres, database: &str) -> Vec<(String, Vec<String>)> {
    fn index_names(plan: &Value, names: &mut Vec<String>) {
        match plan {
            Value::Object(node) => {
                if let Some(Value::String(name)) = node.get("Index Name") {
                    names.push(name.clone());
                }
                node.values().for_each(|child| index_names(child, names));
            }
            Value::Array(nodes) => nodes.iter().for_each(|child| index_names(child, names)),
            _ => {}
        }
    }
    demo::WORKLOAD
        .iter()
        .map(|query| {
            let sql = query.sql.replace("{n}", "1");
            let plan = pg
                .psql(database, &format!("EXPLAIN (FORMAT JSON) {sql};"))
                .unwrap();
            let plan: Value = serde_json::from_str(&plan).unwrap();
            let mut names = Vec::new();
            index_names(&plan, &mut names);
            (sql, names)
        })
        .collect()
}

/// Loads the demo, checks it with `check_args`, applies the SQL of every fix in the report
/// and asserts that no planted query loses an index to a drop: a query whose index was
/// dropped reads the one that stays of its pair. Returns the indexes the fixes dropped,
/// each with the check that dropped it, and the indexes the queries read before.
fn apply_every_fix_of_the_demo(check_args: &[&str]) -> (Vec<(String, String)>, Vec<String>) {
    let pg = Postgres::start().unwrap();
    let database = demo::load(&pg).unwrap();
    let report = check(&pg.url(database), check_args);
    let before = indexes_of_planted_queries(&pg, database);

    let index_checks = ["index.unused", "index.duplicate", "index.redundant"];
    let mut dropped = Vec::new();
    for finding in report["findings"].as_array().unwrap() {
        if finding["fix"]["kind"] != "sql" {
            continue;
        }
        let apply = finding["fix"]["apply"].as_str().unwrap();
        let applied = pg.psql(database, apply);
        // Other fixes may fail on the planted data (the invalid unique index cannot be
        // rebuilt over duplicate names, as its finding warns); an index drop may not.
        let check_id = finding["check"].as_str().unwrap();
        if index_checks.contains(&check_id) {
            applied.unwrap_or_else(|e| panic!("{apply} failed: {e}"));
            let name = finding["subject"].as_str().unwrap();
            dropped.push((
                check_id.to_string(),
                name.trim_start_matches("public.").to_string(),
            ));
        }
    }
    for (_, name) in &dropped {
        let left = pg
            .psql(
                database,
                &format!("SELECT count(*) FROM pg_class WHERE relname = '{name}';"),
            )
            .unwrap();
        assert_eq!(left.trim(), "0", "{name} was not dropped");
    }

    let after = indexes_of_planted_queries(&pg, database);
    let mut read = Vec::new();
    for ((sql, used_before), (_, used_after)) in before.iter().zip(&after) {
        for index in used_before {
            read.push(index.clone());
            // An index that is still there may lose a query to other fixes (VACUUM FULL
            // shrinks a table until a sequential scan is cheaper); that is the planner's
            // choice, not a lost index.
            if !dropped.iter().any(|(_, name)| name == index) {
                continue;
            }
            // The query now reads the index that stays, which the finding that dropped
            // this one names at the end of its title.
            let subject = format!("public.{index}");
            let named = index_checks
                .iter()
                .flat_map(|id| findings(&report, id))
                .find(|f| f["subject"] == subject.as_str())
                .unwrap();
            let title = named["title"].as_str().unwrap();
            assert!(
                used_after.iter().any(|k| title.ends_with(&format!(" {k}"))),
                "{sql} read {index}; after the fixes it reads {used_after:?}, not the one \"{title}\" keeps"
            );
        }
    }
    assert!(
        !read.is_empty(),
        "no planted query reads an index: {before:?}"
    );
    (dropped, read)
}

#[test]
fn applying_every_fix_on_young_statistics_keeps_the_planted_queries_on_their_indexes() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (dropped, read) = apply_every_fix_of_the_demo(&[]);
    // Seconds of statistics are no evidence: nothing goes as unused, only the spare of each
    // pair, and one of those (the prefix index) is read by a planted query.
    assert!(
        dropped.iter().all(|(check, _)| check != "index.unused"),
        "{dropped:?}"
    );
    assert!(
        dropped.iter().any(|(_, name)| read.contains(name)),
        "{dropped:?} {read:?}"
    );
}

#[test]
fn applying_every_fix_on_old_statistics_keeps_the_planted_queries_on_their_indexes() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // A threshold of 0 days makes the demo's seconds of statistics old enough to drop
    // unused indexes too.
    let (dropped, read) = apply_every_fix_of_the_demo(&["--unused-index-min-days", "0"]);
    assert!(
        dropped.iter().any(|(check, _)| check == "index.unused"),
        "{dropped:?}"
    );
    // Each pair keeps the index the planted queries read.
    assert!(
        dropped.iter().all(|(_, name)| !read.contains(name)),
        "{dropped:?} {read:?}"
    );
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, signal: i32) -> i32;
}
