//! Reading a live server: its settings, sizes and statistics ([`Facts`]), and a short
//! sample of its sessions. Queries only; [`crate::rules`] does the judging.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use brisk_pg::{Console, PgError, Session};
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
    /// The values an enum setting accepts on this build (`wal_compression` lists `lz4` only
    /// when the server was built with it); empty for other settings.
    pub enumvals: Vec<String>,
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
    /// Autovacuum workers running at the sample with the most of them.
    pub peak_autovacuum_workers: u64,
    /// `pg_stat_wal.wal_buffers_full` at the start and the end of the sample (14+).
    pub wal_buffers_full: Option<(u64, u64)>,
}

/// One row of `pg_stat_io` (16+): I/O of one kind of backend on one kind of object in one
/// context (`normal`, or the ring buffers of `bulkread`, `bulkwrite`, `vacuum`).
#[derive(Debug, Clone, Serialize)]
pub struct IoRow {
    pub backend_type: String,
    pub object: String,
    pub context: String,
    pub reads: u64,
    pub hits: u64,
    pub evictions: u64,
    pub writes: u64,
}

/// A table of the database brisk connected to, as autovacuum sees it: its row counts, its
/// own autovacuum settings (`pg_class.reloptions`) and its last autovacuum.
#[derive(Debug, Clone, Serialize)]
pub struct TableVacuum {
    /// Schema-qualified and quoted as SQL needs it (`format('%I.%I')`).
    pub name: String,
    pub oid: u32,
    /// `pg_class.reltuples`, what autovacuum multiplies its scale factor by; -1 (never
    /// vacuumed nor analyzed) is read as 0.
    pub reltuples: f64,
    pub dead_rows: u64,
    /// Dead rows at the end of the activity sample, to see them grow.
    pub dead_rows_after: Option<u64>,
    /// Seconds since the last autovacuum; `None` when it never ran since statistics began.
    pub last_autovacuum_secs: Option<f64>,
    pub autovacuum_enabled: bool,
    pub own_threshold: Option<u64>,
    pub own_scale_factor: Option<f64>,
}

impl TableVacuum {
    /// The table's own value of a storage parameter, from `reloptions` (`name=value`).
    fn apply_reloptions(&mut self, reloptions: &[String]) {
        for option in reloptions {
            let Some((name, value)) = option.split_once('=') else {
                continue;
            };
            match name {
                "autovacuum_enabled" => {
                    self.autovacuum_enabled = !matches!(
                        value.to_ascii_lowercase().as_str(),
                        "false" | "off" | "no" | "0" | "f" | "n"
                    )
                }
                "autovacuum_vacuum_threshold" => self.own_threshold = value.parse().ok(),
                "autovacuum_vacuum_scale_factor" => self.own_scale_factor = value.parse().ok(),
                _ => {}
            }
        }
    }
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
    /// What brisk proxy's console saw during the sample, when `--proxy-admin` was given.
    pub proxy: Option<crate::pool::ProxyWindow>,
    /// `pg_stat_io`, on 16 and later.
    pub io: Option<Vec<IoRow>>,
    /// The database brisk connected to; [`Facts::tables`] are its.
    pub database: String,
    /// Tables with dead rows, most first (at most [`TABLES_READ`]).
    pub tables: Vec<TableVacuum>,
    /// The database with the oldest unfrozen transaction ID, and that age
    /// (`age(datfrozenxid)`).
    pub oldest_xid_age: Option<(String, u64)>,
}

/// Tables read for the autovacuum rule: the ones with the most dead rows. A database with
/// thousands of tables gets its worst 50 judged, enough for a tuning that names them.
pub const TABLES_READ: i64 = 50;

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
    read_facts_with_proxy(session, sample, interval, None).await
}

/// [`read_facts`], and brisk proxy's statistics over the same time when its admin
/// `console` is given.
pub async fn read_facts_with_proxy(
    session: &Session,
    sample: Duration,
    interval: Duration,
    console: Option<&Console>,
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
    let mut tables = read_tables(session).await?;
    let io = if server.version_num >= 160_000 {
        Some(read_io(session).await?)
    } else {
        None
    };
    let oldest_xid_age = session
        .query(
            "transaction ID age",
            "/* brisk */ SELECT datname, age(datfrozenxid)::bigint FROM pg_database
              ORDER BY 2 DESC LIMIT 1",
            &[],
        )
        .await?
        .first()
        .map(|r| (r.get::<_, String>(0), u64_of(r.get(1))));
    let database = session
        .query(
            "database name",
            "/* brisk */ SELECT current_database()::text",
            &[],
        )
        .await?
        .first()
        .map(|r| r.get::<_, String>(0))
        .unwrap_or_default();
    session.commit().await?;
    let proxy_start = match console {
        Some(console) => Some(crate::pool::read(console).await?),
        None => None,
    };
    let activity = sample_activity(
        session,
        sample,
        interval,
        server.in_recovery,
        server.version_num,
    )
    .await?;
    read_dead_rows_after(session, &mut tables).await?;
    let proxy = match (console, proxy_start) {
        (Some(console), Some(start)) => {
            let end = crate::pool::read(console).await?;
            Some(crate::pool::window(&start, &end))
        }
        _ => None,
    };
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
        database,
        tables,
        oldest_xid_age,
        io,
        proxy,
    })
}

async fn read_io(session: &Session) -> Result<Vec<IoRow>, PgError> {
    let rows = session
        .query(
            "pg_stat_io",
            "/* brisk */ SELECT backend_type, object, context, coalesce(reads, 0), coalesce(hits, 0),
                    coalesce(evictions, 0), coalesce(writes, 0)
               FROM pg_stat_io",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| IoRow {
            backend_type: r.get(0),
            object: r.get(1),
            context: r.get(2),
            reads: u64_of(r.get(3)),
            hits: u64_of(r.get(4)),
            evictions: u64_of(r.get(5)),
            writes: u64_of(r.get(6)),
        })
        .collect())
}

async fn read_tables(session: &Session) -> Result<Vec<TableVacuum>, PgError> {
    let rows = session
        .query(
            "tables and their autovacuum",
            "/* brisk */ SELECT format('%I.%I', s.schemaname, s.relname), s.relid,
                    greatest(c.reltuples, 0)::float8, s.n_dead_tup,
                    extract(epoch FROM now() - s.last_autovacuum)::float8,
                    coalesce(c.reloptions, '{}')
               FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
              WHERE s.n_dead_tup > 0
              ORDER BY s.n_dead_tup DESC LIMIT $1",
            &[&TABLES_READ],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let mut table = TableVacuum {
                name: r.get(0),
                oid: r.get(1),
                reltuples: r.get(2),
                dead_rows: u64_of(r.get(3)),
                dead_rows_after: None,
                last_autovacuum_secs: r.get(4),
                autovacuum_enabled: true,
                own_threshold: None,
                own_scale_factor: None,
            };
            table.apply_reloptions(&r.get::<_, Vec<String>>(5));
            table
        })
        .collect())
}

/// The dead rows of the same tables after the sample: growing ones are still written to.
async fn read_dead_rows_after(
    session: &Session,
    tables: &mut [TableVacuum],
) -> Result<(), PgError> {
    if tables.is_empty() {
        return Ok(());
    }
    let oids: Vec<u32> = tables.iter().map(|t| t.oid).collect();
    session.begin().await?;
    let rows = session
        .query(
            "dead rows after the sample",
            "/* brisk */ SELECT relid, n_dead_tup FROM pg_stat_user_tables WHERE relid = ANY($1)",
            &[&oids],
        )
        .await?;
    session.commit().await?;
    for row in &rows {
        let oid: u32 = row.get(0);
        if let Some(table) = tables.iter_mut().find(|t| t.oid == oid) {
            table.dead_rows_after = Some(u64_of(row.get(1)));
        }
    }
    Ok(())
}

async fn read_settings(session: &Session) -> Result<HashMap<String, PgSetting>, PgError> {
    let rows = session
        .query(
            "pg_settings",
            "/* brisk */ SELECT name, setting, unit, source, context, pending_restart, sourcefile, enumvals FROM pg_settings",
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
                    enumvals: r.get::<_, Option<Vec<String>>>(7).unwrap_or_default(),
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
    version_num: i32,
) -> Result<ActivitySample, PgError> {
    let started = Instant::now();
    let wal_full_start = if version_num >= 140_000 {
        wal_buffers_full(session).await?
    } else {
        None
    };
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
                "/* brisk */ SELECT coalesce(usename, ''), state, backend_type FROM pg_stat_activity
                  WHERE backend_type IN ('client backend', 'autovacuum worker')
                    AND pid <> pg_backend_pid()",
                &[],
            )
            .await?;
        session.commit().await?;
        let mut active = 0;
        let mut idle = 0;
        let mut by_role: HashMap<String, u64> = HashMap::new();
        let mut autovacuum = 0;
        let mut clients = 0;
        for row in &rows {
            if row.get::<_, Option<String>>(2).as_deref() == Some("autovacuum worker") {
                autovacuum += 1;
                continue;
            }
            clients += 1;
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
        sample.peak_connections = sample.peak_connections.max(clients);
        sample.peak_autovacuum_workers = sample.peak_autovacuum_workers.max(autovacuum);
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
    if let Some(start) = wal_full_start {
        if let Some(end) = wal_buffers_full(session).await? {
            sample.wal_buffers_full = Some((start, end));
        }
    }
    if let Some(start) = wal_start {
        if let Some(end) = current_wal_lsn(session).await? {
            sample.wal_bytes = Some(end.saturating_sub(start));
        }
    }
    Ok(sample)
}

async fn wal_buffers_full(session: &Session) -> Result<Option<u64>, PgError> {
    session.begin().await?;
    let rows = session
        .query(
            "pg_stat_wal",
            "/* brisk */ SELECT wal_buffers_full FROM pg_stat_wal",
            &[],
        )
        .await?;
    session.commit().await?;
    Ok(rows.first().map(|r| u64_of(r.get(0))))
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
