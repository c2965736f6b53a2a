//! The sandbox starts real servers and leaves nothing behind.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use brisk_sandbox::{shared_postgres, Postgres, Redis};

fn process_exists(pid: u32) -> bool {
    PathBuf::from(format!("/proc/{pid}")).exists()
}

fn wait_gone(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if !process_exists(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn postgres_starts_with_extensions_and_is_removed_on_drop() {
    let pg = Postgres::start().expect("sandbox starts");
    let db = pg.fresh_database("sandbox_test").unwrap();
    let out = pg
        .psql(
            &db,
            "SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension;",
        )
        .unwrap();
    assert!(out.contains("pg_stat_statements"), "{out}");
    if pg.has_hypopg() {
        assert!(out.contains("hypopg"), "{out}");
    }
    let preload = pg.psql(&db, "SHOW shared_preload_libraries;").unwrap();
    assert_eq!(preload.trim(), "pg_stat_statements");
    let user = pg.psql(&db, "SELECT current_user;").unwrap();
    assert_eq!(user.trim(), "postgres");

    let pid = pg.pid().unwrap();
    let dir = pg.socket_dir().to_path_buf();
    assert!(dir.exists());
    drop(pg);
    assert!(wait_gone(pid), "postgres {pid} still running after drop");
    assert!(!dir.exists(), "{} still exists after drop", dir.display());
}

#[test]
fn postgres_is_stopped_when_the_owning_thread_panics() {
    let (tx, rx) = std::sync::mpsc::channel();
    let result = std::thread::spawn(move || {
        let pg = Postgres::start().unwrap();
        tx.send((pg.pid().unwrap(), pg.socket_dir().to_path_buf()))
            .unwrap();
        panic!("a test failed while holding the sandbox");
    })
    .join();
    assert!(result.is_err());
    let (pid, dir) = rx.recv().unwrap();
    assert!(wait_gone(pid), "postgres {pid} outlived the panic");
    assert!(!dir.exists());
}

#[test]
fn postgres_dies_with_its_owner_process() {
    // A child process of this test starts a sandbox and is then SIGKILLed: no destructor
    // runs, so only the parent-death signal can stop the server.
    let exe = std::env::current_exe().unwrap();
    if std::env::var_os("BRISK_SANDBOX_ORPHAN_CHILD").is_some() {
        return;
    }
    let mut child = std::process::Command::new(exe)
        .args([
            "--exact",
            "orphan_child",
            "--nocapture",
            "--include-ignored",
        ])
        .env("BRISK_SANDBOX_ORPHAN", "1")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let stdout = child.stdout.take().unwrap();
    let mut pid = None;
    let mut dir = None;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("SANDBOX_DIR=") {
            dir = Some(PathBuf::from(rest.trim()));
        }
        if let Some(rest) = line.strip_prefix("SANDBOX_PID=") {
            pid = Some(rest.trim().parse::<u32>().unwrap());
            break;
        }
    }
    let pid = pid.expect("child printed the server pid");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        wait_gone(pid),
        "postgres {pid} outlived its SIGKILLed owner"
    );
    // Nothing ran the killed owner's destructor, so its files are ours to remove.
    if let Some(dir) = dir {
        std::fs::remove_dir_all(dir).unwrap();
    }
}

/// Helper for `postgres_dies_with_its_owner_process`; does nothing when run directly.
#[test]
#[ignore = "run by postgres_dies_with_its_owner_process"]
fn orphan_child() {
    if std::env::var_os("BRISK_SANDBOX_ORPHAN").is_none() {
        return;
    }
    let pg = Postgres::start().unwrap();
    println!("SANDBOX_DIR={}", pg.socket_dir().display());
    println!("SANDBOX_PID={}", pg.pid().unwrap());
    std::thread::sleep(Duration::from_secs(120));
}

#[test]
fn shared_cluster_is_started_once() {
    let a = shared_postgres().unwrap();
    let b = shared_postgres().unwrap();
    assert_eq!(a.port(), b.port());
    let db1 = a.fresh_database("shared").unwrap();
    let db2 = b.fresh_database("shared").unwrap();
    assert_ne!(db1, db2);
}

#[test]
fn tls_sandbox_serves_a_certificate_for_localhost() {
    let pg = Postgres::builder().tls(true).start().unwrap();
    let ca = pg.ca_cert().unwrap();
    assert!(ca.is_file());
    let ssl = pg.psql("postgres", "SHOW ssl;").unwrap();
    assert_eq!(ssl.trim(), "on");
}

#[test]
fn redis_starts_and_is_removed_on_drop() {
    let redis = Redis::start().expect("redis starts");
    let port = redis.port();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    let dir = redis.dir().unwrap();
    drop(redis);
    assert!(!dir.exists());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn demo_database_loads_with_its_plants_and_workload() {
    let pg = Postgres::start().unwrap();
    let started = Instant::now();
    let db = brisk_sandbox::demo::load(&pg).unwrap();
    eprintln!("demo loaded in {:?}", started.elapsed());
    let invalid = pg
        .psql(db, "SELECT count(*) FROM pg_index WHERE NOT indisvalid;")
        .unwrap();
    assert_eq!(invalid.trim(), "1");
    let calls = pg
        .psql(
            db,
            "SELECT calls FROM pg_stat_statements \
             WHERE query LIKE 'SELECT count(*) FROM conversations WHERE user_id = $1';",
        )
        .unwrap();
    assert_eq!(calls.trim(), "60");
}
