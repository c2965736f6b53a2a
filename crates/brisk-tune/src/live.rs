//! Reading a live server: its settings, sizes and statistics ([`Facts`]), and a short
//! sample of its sessions. Queries only; [`crate::rules`] does the judging.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use brisk_pg::{PgError, Session};
use serde::Serialize;

/// One row of `pg_settings`.
#[derive(Debug, Clone, Serialize)]
pub struct PgSetting {
    pub setting: String,
    pub unit: Option<String>,
    pub source: String,
    pub context: String,
    pub pending_restart: bool,
    /// Only for superusers and pg_read_all_settings; tells postgresql.auto.conf apart.
    pub sourcefile: Option<String>,
}

/// Temp files written by one role's statements (pg_stat_statements, all databases).
#[derive(Debug, Clone, Serialize)]
pub struct RoleSpill {
    pub role: String,
    pub temp_bytes: u64,
    pub calls: u64,
    /// The statement that writes the most temp bytes per call, and that amount.
    pub worst_query: String,
    pub worst_bytes_per_call: u64,
}

/// What a short sample of pg_stat_activity saw (client backends only).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ActivitySample {
    pub seconds: f64,
    pub samples: u64,
    pub peak_active: u64,
    pub peak_connections: u64,
    /// Idle sessions (not in a transaction) at the sample with the most of them.
    pub peak_idle: u64,
    pub peak_active_by_role: HashMap<String, u64>,
    /// WAL written during the sample, when the server is a primary.
    pub wal_bytes: Option<u64>,
}

/// Everything brisk reads from the server.
#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    pub version_num: i32,
    pub version: String,
    pub settings: HashMap<String, PgSetting>,
    /// All databases together.
    pub data_bytes: u64,
    pub temp_files: u64,
    pub temp_bytes: u64,
    pub blks_hit: u64,
    pub blks_read: u64,
    /// Timed and requested checkpoints since the statistics were reset.
    pub checkpoints_timed: u64,
    pub checkpoints_requested: u64,
    pub checkpoints_view: &'static str,
    /// `None` when pg_stat_statements is not installed in the database brisk connected to.
    pub role_spills: Option<Vec<RoleSpill>>,
    /// Role-level work_mem already set (pg_db_role_setting, all databases).
    pub role_work_mem: HashMap<String, String>,
    pub activity: ActivitySample,
    pub backend_pid: u32,
}

impl Facts {
    pub fn setting(&self, name: &str) -> Option<&PgSetting> {
        self.settings.get(name)
    }

    /// A size setting in kB.
    pub fn setting_kb(&self, name: &str) -> Option<u64> {
        let s = self.setting(name)?;
        crate::value::setting_kb(&s.setting, s.unit.as_deref())
    }

    pub fn setting_u64(&self, name: &str) -> Option<u64> {
        self.setting(name)?.setting.parse().ok()
    }
}

fn u64_of(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Reads the facts, sampling activity for `sample` every `interval`.
pub async fn read_facts(
    session: &Session,
    sample: Duration,
    interval: Duration,
) -> Result<Facts, PgError> {
    let server = session.server().clone();
    session.begin().await?;
    let settings = read_settings(session).await?;
    let row = &session
        .query(
            "database sizes and statistics",
            "/* brisk */ SELECT (SELECT sum(pg_database_size(oid))::bigint FROM pg_database WHERE datallowconn),
                    coalesce(sum(temp_files), 0)::bigint, coalesce(sum(temp_bytes), 0)::bigint,
                    coalesce(sum(blks_hit), 0)::bigint, coalesce(sum(blks_read), 0)::bigint,
                    pg_backend_pid()
               FROM pg_stat_database",
            &[],
        )
        .await?[0];
    let data_bytes = u64_of(row.get::<_, Option<i64>>(0).unwrap_or(0));
    let (temp_files, temp_bytes) = (u64_of(row.get(1)), u64_of(row.get(2)));
    let (blks_hit, blks_read) = (u64_of(row.get(3)), u64_of(row.get(4)));
    let backend_pid = u32::try_from(row.get::<_, i32>(5)).unwrap_or(0);
    let (checkpoints_view, sql) = if server.version_num >= 170_000 {
        (
            "pg_stat_checkpointer",
            "/* brisk */ SELECT num_timed, num_requested FROM pg_stat_checkpointer",
        )
    } else {
        (
            "pg_stat_bgwriter",
            "/* brisk */ SELECT checkpoints_timed, checkpoints_req FROM pg_stat_bgwriter",
        )
    };
    let row = &session.query("checkpoint statistics", sql, &[]).await?[0];
    let (checkpoints_timed, checkpoints_requested) = (u64_of(row.get(0)), u64_of(row.get(1)));
    let role_spills = read_role_spills(session, &settings).await?;
    let role_work_mem = session
        .query(
            "role settings",
            "/* brisk */ SELECT r.rolname, split_part(c, '=', 2)
               FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole,
                    unnest(s.setconfig) c
              WHERE c LIKE 'work_mem=%'",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    session.commit().await?;
    let activity = sample_activity(session, sample, interval, server.in_recovery).await?;
    Ok(Facts {
        version_num: server.version_num,
        version: server.display_version(),
        settings,
        data_bytes,
        temp_files,
        temp_bytes,
        blks_hit,
        blks_read,
        checkpoints_timed,
        checkpoints_requested,
        checkpoints_view,
        role_spills,
        role_work_mem,
        activity,
        backend_pid,
    })
}

async fn read_settings(session: &Session) -> Result<HashMap<String, PgSetting>, PgError> {
    let rows = session
        .query(
            "pg_settings",
            "/* brisk */ SELECT name, setting, unit, source, context, pending_restart, sourcefile FROM pg_settings",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                r.get::<_, String>(0),
                PgSetting {
                    setting: r.get(1),
                    unit: r.get(2),
                    source: r.get(3),
                    context: r.get(4),
                    pending_restart: r.get(5),
                    sourcefile: r.get(6),
                },
            )
        })
        .collect())
}

/// Temp bytes per role from pg_stat_statements, when it is installed here.
async fn read_role_spills(
    session: &Session,
    settings: &HashMap<String, PgSetting>,
) -> Result<Option<Vec<RoleSpill>>, PgError> {
    let installed = session
        .query(
            "pg_stat_statements presence",
            "/* brisk */ SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
              WHERE e.extname = 'pg_stat_statements'",
            &[],
        )
        .await?;
    let Some(schema) = installed.first().map(|r| r.get::<_, String>(0)) else {
        return Ok(None);
    };
    let block_size: i64 = settings
        .get("block_size")
        .and_then(|s| s.setting.parse().ok())
        .unwrap_or(8192);
    let schema = schema.replace('"', "\"\"");
    let sql = format!(
        "/* brisk */ WITH s AS (
           SELECT r.rolname, s.query, s.calls, s.temp_blks_written
             FROM \"{schema}\".pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
            WHERE s.temp_blks_written > 0 AND s.calls > 0 AND s.query NOT LIKE '/* brisk */%')
         SELECT rolname, sum(temp_blks_written)::bigint, sum(calls)::bigint,
                (array_agg(query ORDER BY temp_blks_written::float8 / calls DESC))[1],
                max(temp_blks_written::float8 / calls)::bigint
           FROM s GROUP BY rolname ORDER BY 2 DESC"
    );
    let rows = session.query("temp files per role", &sql, &[]).await?;
    let block = u64_of(block_size);
    Ok(Some(
        rows.iter()
            .map(|r| RoleSpill {
                role: r.get(0),
                temp_bytes: u64_of(r.get(1)) * block,
                calls: u64_of(r.get(2)),
                worst_query: r.get::<_, Option<String>>(3).unwrap_or_default(),
                worst_bytes_per_call: u64_of(r.get(4)) * block,
            })
            .collect(),
    ))
}

/// Samples pg_stat_activity. Each sample is its own transaction: within one, PostgreSQL
/// returns the same snapshot of the view every time.
async fn sample_activity(
    session: &Session,
    duration: Duration,
    interval: Duration,
    in_recovery: bool,
) -> Result<ActivitySample, PgError> {
    let started = Instant::now();
    let wal_start = if in_recovery {
        None
    } else {
        current_wal_lsn(session).await?
    };
    let mut sample = ActivitySample::default();
    loop {
        session.begin().await?;
        let rows = session
            .query(
                "pg_stat_activity sample",
                "/* brisk */ SELECT coalesce(usename, ''), state FROM pg_stat_activity
                  WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
                &[],
            )
            .await?;
        session.commit().await?;
        let mut active = 0;
        let mut idle = 0;
        let mut by_role: HashMap<String, u64> = HashMap::new();
        for row in &rows {
            let state: Option<String> = row.get(1);
            match state.as_deref() {
                Some("idle") => idle += 1,
                Some("active") => {
                    active += 1;
                    *by_role.entry(row.get(0)).or_default() += 1;
                }
                _ => {}
            }
        }
        sample.samples += 1;
        sample.peak_active = sample.peak_active.max(active);
        sample.peak_idle = sample.peak_idle.max(idle);
        sample.peak_connections = sample.peak_connections.max(rows.len() as u64);
        for (role, n) in by_role {
            let peak = sample.peak_active_by_role.entry(role).or_default();
            *peak = (*peak).max(n);
        }
        if started.elapsed() + interval > duration {
            break;
        }
        tokio::time::sleep(interval).await;
    }
    sample.seconds = started.elapsed().as_secs_f64();
    if let Some(start) = wal_start {
        if let Some(end) = current_wal_lsn(session).await? {
            sample.wal_bytes = Some(end.saturating_sub(start));
        }
    }
    Ok(sample)
}

async fn current_wal_lsn(session: &Session) -> Result<Option<u64>, PgError> {
    session.begin().await?;
    let rows = session
        .query(
            "WAL position",
            "/* brisk */ SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint",
            &[],
        )
        .await?;
    session.commit().await?;
    Ok(rows.first().map(|r| u64_of(r.get(0))))
}
