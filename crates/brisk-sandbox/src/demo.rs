//! The demo database of `brisk check`: a small chat backend with problems planted in it.
//!
//! The schema (`demo/schema.sql`) plants one instance of each problem the catalog checks
//! look for, and [`WORKLOAD`] sends the kind of traffic that makes `pg_stat_statements`
//! worth reading. Loading takes a few seconds.

use crate::{Postgres, SandboxError};

/// The database name the demo uses.
pub const DATABASE: &str = "brisk_demo";

const SCHEMA: &str = include_str!("../demo/schema.sql");

/// One statement shape of the demo's traffic, sent `calls` times. `{n}` in the text becomes
/// the call number, so the values differ from call to call as they would in an app.
pub struct DemoQuery {
    pub calls: u32,
    pub sql: &'static str,
}

/// The demo's traffic.
pub const WORKLOAD: &[DemoQuery] = &[
    // A lookup by an unindexed foreign key, once per request: a sequential scan each time.
    DemoQuery {
        calls: 60,
        sql: "SELECT count(*) FROM conversations WHERE user_id = {n}",
    },
    // A conversation's messages, by its foreign key: the planner reads the narrower of the
    // two indexes that lead with conversation_id, so the wider one shows no scans.
    DemoQuery {
        calls: 30,
        sql: "SELECT id, role, created_at FROM messages WHERE conversation_id = {n}",
    },
    // A user's files: one of the two identical indexes serves it, the other shows no scans.
    DemoQuery {
        calls: 30,
        sql: "SELECT filename, size_bytes FROM files WHERE user_id = {n}",
    },
    // Substring search over message bodies.
    DemoQuery {
        calls: 15,
        sql: "SELECT id, conversation_id FROM messages WHERE body LIKE '%ab{n}c%' LIMIT 20",
    },
    // Paging deep into a list with OFFSET.
    DemoQuery {
        calls: 20,
        sql: "SELECT id, title FROM conversations ORDER BY updated_at DESC OFFSET 15000 LIMIT 20",
    },
    // A sort that spills to disk: the demo's session sets a small work_mem first.
    DemoQuery {
        calls: 3,
        sql: "SELECT conversation_id, created_at FROM messages ORDER BY created_at DESC, body \
              LIMIT 1 OFFSET 100000",
    },
    // Scans of the bloated table, which is larger than a quarter of shared_buffers, so
    // PostgreSQL reads it through a small buffer ring and the cache-hit check sees misses.
    DemoQuery {
        calls: 10,
        sql: "SELECT count(*), max(updated_at) FROM events",
    },
    // Point lookups by primary key: fast, and not worth a finding.
    DemoQuery {
        calls: 50,
        sql: "SELECT id, email FROM users WHERE id = {n}",
    },
];

/// Creates the demo database in `pg`, plants its problems and runs its workload. Returns the
/// database name.
pub fn load(pg: &Postgres) -> Result<&'static str, SandboxError> {
    pg.psql("postgres", &format!("CREATE DATABASE {DATABASE};"))?;
    for step in steps(SCHEMA) {
        pg.psql(DATABASE, &step)?;
    }
    // An invalid index, as a failed CREATE INDEX CONCURRENTLY leaves one: user names repeat,
    // so the unique build fails after the index was already registered.
    let failed = pg.psql(
        DATABASE,
        "CREATE UNIQUE INDEX CONCURRENTLY users_name_key ON users (name);",
    );
    if failed.is_ok() {
        return Err(SandboxError::Command {
            what: "planting an invalid index".into(),
            detail: "the unique index build was expected to fail".into(),
        });
    }
    pg.psql(DATABASE, &workload_script())?;
    Ok(DATABASE)
}

/// The script's steps: the text between lines that read exactly `-- brisk:step`.
fn steps(script: &str) -> Vec<String> {
    let mut steps = vec![String::new()];
    for line in script.lines() {
        if line.trim() == "-- brisk:step" {
            steps.push(String::new());
        } else if let Some(step) = steps.last_mut() {
            step.push_str(line);
            step.push('\n');
        }
    }
    steps
}

fn workload_script() -> String {
    let mut script = String::from("SELECT pg_stat_statements_reset();\nSET work_mem = '64kB';\n");
    for query in WORKLOAD {
        for n in 1..=query.calls {
            script.push_str(&query.sql.replace("{n}", &n.to_string()));
            script.push_str(";\n");
        }
    }
    script
}
