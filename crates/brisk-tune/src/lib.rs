//! brisk-tune: PostgreSQL settings from the machine and from the server's own evidence.
//!
//! Two sources, kept apart so every proposal says where it came from:
//! - [`baseline`]: PGTune's formulas on a [`Profile`] (RAM, CPUs, connections, disk,
//!   workload, version). Pure arithmetic, used alone by `brisk tune --ram ...` offline.
//! - [`live`]: reads a running server (settings with their source and context, database
//!   sizes, checkpoints, temp files, cache hits, a short sample of `pg_stat_activity`) and
//!   [`rules`] turns those facts into [`Recommendation`]s, each with its evidence, whether it
//!   needs a restart or a reload, and how sure brisk is. The machine's RAM and CPUs come from
//!   flags or from the server's host and cgroup ([`machine`]).
//! - [`redis`]: maxmemory and maxmemory-policy of a Redis from INFO and CONFIG GET, judged a
//!   cache or a store by the same rule as `brisk redis` ([`brisk_redis::judge_role`]).
//!
//! Architecture invariant: brisk-tune only reads. It writes settings as text (a conf snippet,
//! `ALTER SYSTEM` statements and their rollback, [`render`]) and never applies them. A
//! proposed set whose worst-case memory exceeds RAM is never returned ([`rules::Safety`]).
//!
//! ```
//! use brisk_tune::baseline::{baseline, DataSize, Disk, Profile, Workload};
//! let profile = Profile {
//!     ram_bytes: 16 << 30, cpus: Some(4), connections: Some(200), disk: Disk::Ssd,
//!     workload: Workload::Web, pg_major: 15, data_size: DataSize::UpTo3xRam,
//! };
//! let settings = baseline(&profile);
//! let shared_buffers = settings.iter().find(|s| s.name == "shared_buffers").unwrap();
//! assert_eq!(shared_buffers.value.to_string(), "4GB");
//! ```

pub mod autovacuum;
pub mod baseline;
pub mod disk;
pub mod io;
pub mod live;
pub mod machine;
pub mod pool;
pub mod redis;
pub mod render;
pub mod rules;
pub mod value;

use brisk_report::Evidence;
use serde::Serialize;

pub use baseline::Profile;
pub use machine::Machine;

/// What can go wrong, in the user's terms. The CLI prints one line and exits with 2.
#[derive(Debug, thiserror::Error)]
pub enum TuneError {
    #[error("{0}")]
    BadInput(String),
    #[error(transparent)]
    Pg(#[from] brisk_pg::PgError),
    #[error("the RAM and CPUs of the server's machine are unknown: {0}. Give them with --ram and --cpus")]
    MachineUnknown(String),
    #[error("no safe set: {0}")]
    Unsafe(String),
    #[error(transparent)]
    Redis(#[from] brisk_redis::Error),
    #[error("{address}: {command}: {detail}")]
    RedisCommand {
        address: String,
        command: String,
        detail: String,
    },
}

/// How a setting takes effect, from `pg_settings.context`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Takes {
    /// `postmaster`: only at a restart.
    Restart,
    /// `sighup`, `superuser`, `user` and the like: `SELECT pg_reload_conf()` (new sessions
    /// for a role's setting).
    Reload,
}

impl Takes {
    pub fn of_context(context: &str) -> Takes {
        if context == "postmaster" {
            Takes::Restart
        } else {
            Takes::Reload
        }
    }
}

/// How sure brisk is of a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// A formula applied to something brisk was told or assumed (the disk, the workload).
    Low,
    /// A formula applied to what brisk measured (RAM, CPUs, connections).
    Medium,
    /// The server's own statistics show the problem.
    High,
}

/// Where a setting applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "lowercase")]
pub enum Scope {
    /// postgresql.conf / ALTER SYSTEM.
    Server,
    /// `ALTER ROLE name SET`: only that role's sessions.
    Role(String),
    /// `ALTER TABLE name SET (...)`: a storage parameter of one table of the database brisk
    /// connected to; the name is quoted and schema-qualified.
    Table(String),
    /// `brisk proxy`'s config file (brisk.toml), then RELOAD on its console.
    Proxy,
    /// A Redis server: `CONFIG SET`, redis.conf.
    Redis,
}

/// One setting to change.
#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    pub setting: String,
    pub scope: Scope,
    /// The value now, as the server reports it; `None` offline.
    pub current: Option<String>,
    pub proposed: String,
    /// The rule that proposed it ([`rules::RULES`]).
    pub rule: &'static str,
    pub why: String,
    pub evidence: Vec<Evidence>,
    pub takes: Takes,
    pub confidence: Confidence,
    /// For the rollback of `ALTER SYSTEM`: the value to set back, or `None` to RESET (the
    /// current value does not come from postgresql.auto.conf or a role setting).
    #[serde(skip)]
    pub rollback_to: Option<String>,
}

/// The worst case the proposal allows, counted as PGTune counts it.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryBudget {
    pub ram_bytes: u64,
    pub shared_buffers_bytes: u64,
    /// The sessions work_mem was sized for, and how brisk chose that number.
    pub sessions: u64,
    pub sessions_from: String,
    pub work_mem_bytes: u64,
    /// Sorts and hashes per query that may each take work_mem (PGTune's 3).
    pub work_mem_factor: u64,
    pub autovacuum_workers: u64,
    pub autovacuum_mem_bytes: u64,
    /// Extra for roles given a larger work_mem: their sessions × (role's − global) × factor.
    pub role_extra_bytes: u64,
    pub worst_case_bytes: u64,
}

/// Everything `brisk tune` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Tuning {
    /// The server, or `None` offline.
    pub target: Option<String>,
    pub version: Option<String>,
    pub machine: Machine,
    /// PostgreSQL's profile; `None` for Redis.
    pub profile: Option<Profile>,
    pub recommendations: Vec<Recommendation>,
    pub memory: Option<MemoryBudget>,
    pub notes: Vec<String>,
}

/// The offline tuning: PGTune's baseline for a profile, every setting a proposal.
pub fn offline(profile: &Profile) -> Tuning {
    let recommendations = baseline::baseline(profile)
        .into_iter()
        .map(|setting| Recommendation {
            setting: setting.name.to_string(),
            scope: Scope::Server,
            current: None,
            proposed: setting.value.to_string(),
            rule: "baseline",
            why: rules::baseline_why(setting.name).to_string(),
            evidence: Vec::new(),
            takes: rules::takes_offline(setting.name),
            confidence: Confidence::Low,
            rollback_to: None,
        })
        .collect();
    Tuning {
        target: None,
        version: Some(profile.pg_major.to_string()),
        machine: Machine {
            ram_bytes: profile.ram_bytes,
            cpus: profile.cpus.unwrap_or(0),
            source: if profile.cpus.is_some() {
                "--ram and --cpus"
            } else {
                "--ram"
            }
            .to_string(),
        },
        profile: Some(profile.clone()),
        recommendations,
        memory: None,
        notes: vec![
            "Offline: PGTune's formulas on what you typed. Point brisk tune at the server (brisk tune postgres://...) to use its settings and statistics.".to_string(),
        ],
    }
}
