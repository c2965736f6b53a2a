//! brisk-doctor: everything brisk knows about a PostgreSQL + Redis backend, in one pass, with
//! the safe fixes measured before and after.
//!
//! [`diagnose`] runs `check`, `advise`, `tune` and, when given, `redis` and the proxy's N+1
//! detections, then [`merge`] folds findings that name the same change (a foreign key's
//! missing index that `advise` also recommends) into one and ranks every finding by the time
//! it saves, each figure marked measured or estimated. [`measure`] records a baseline with
//! brisk-bench on a database the caller names as safe, applies the fixes that can be applied
//! safely (the recommended indexes, a role's `work_mem`), runs the same plan again and keeps
//! the per-statement figures. [`demo`] is the embedded default: a throwaway PostgreSQL and
//! Redis with a chat backend whose problems are planted, its traffic sent through an
//! in-process `brisk proxy`. [`render`] writes the text summary, `report.md`, `report.html`,
//! `report.json` (`docs/doctor.md`, schema [`SCHEMA`]) and `migrations/`.
//!
//! Architecture invariant: nothing is written to a database the caller did not name as safe
//! (`--verify-on`, or the sandbox of the demo). The source database is only read.

pub mod cache;
pub mod demo;
pub mod measure;
pub mod merge;
pub mod redis_fix;
pub mod render;

use std::time::{Duration, Instant};

use brisk_advisor::advise::{self, AdviseOptions, Source};
use brisk_advisor::check::{run_check, CheckOptions};
use brisk_pg::conninfo::ConnInfo;
use brisk_pg::{Session, SessionOptions};
use brisk_report::Severity;
use serde::Serialize;

pub use measure::{BeforeAfter, BenchPlan, Figures, StatementRow};
pub use merge::{Basis, DoctorFinding, Saving};

/// The JSON report's schema id; `docs/doctor.md` documents it.
pub const SCHEMA: &str = "brisk.doctor/1";

/// What went wrong, in words that say what to do. The CLI prints one line and exits with 2.
#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    #[error("{0}")]
    BadInput(String),
    #[error(transparent)]
    Pg(#[from] brisk_pg::PgError),
    #[error(transparent)]
    Advise(#[from] advise::AdviseError),
    #[error(transparent)]
    Bench(#[from] brisk_bench::BenchError),
    #[error(transparent)]
    Redis(#[from] brisk_redis::Error),
    #[error(transparent)]
    Logs(#[from] brisk_logs::LogError),
    #[error(transparent)]
    Sandbox(#[from] brisk_sandbox::SandboxError),
    #[error("the demo's proxy: {0}")]
    Proxy(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl DoctorError {
    fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> DoctorError {
        let context = context.into();
        move |source| DoctorError::Io { context, source }
    }
}

/// Hears what the doctor is doing, for one progress display.
pub type Progress<'a> = &'a (dyn Fn(&str) + Sync);

/// What to diagnose and where the fixes may be measured.
#[derive(Debug, Clone)]
pub struct Options {
    /// The diagnosed database (only read).
    pub url: String,
    /// A Redis to analyze.
    pub redis: Option<String>,
    /// Judge the Redis as a cache whatever its settings say (the demo knows it built one).
    pub redis_is_cache: bool,
    /// PostgreSQL log files to analyze as well (any format `brisk logs` reads).
    pub logs: Vec<std::path::PathBuf>,
    /// The workload: pg_stat_statements unless given.
    pub workload: Option<brisk_workload::Workload>,
    /// A scenario to bench instead of the workload's statements.
    pub bench: Option<brisk_bench::Plan>,
    /// A database the caller names as safe: the fixes are built there and measured.
    pub verify_on: Option<String>,
    /// Undo the applied fixes after measuring (`--verify-on`: leave the copy as it was).
    pub roll_back_after: bool,
    /// The length of each bench run, before and after.
    pub bench_duration: Duration,
    /// Virtual users of each bench run (closed model: throughput shows the gain).
    pub bench_users: usize,
    /// Apply the fixes as this user instead (the demo: the superuser owns the tables, the
    /// bench runs as the application's role so its role settings apply).
    pub apply_as: Option<String>,
    /// Measure cache rules through a proxy started in front of `verify_on`.
    pub cache_rules: bool,
    /// N+1 patterns the proxy of the demo saw.
    pub detections: Vec<brisk_patterns_view::Detection>,
}

/// The proxy's N+1 detections, as the doctor keeps them (no dependency on the proxy's
/// internal types in the report).
pub mod brisk_patterns_view {
    use serde::Serialize;

    #[derive(Debug, Clone, Serialize)]
    pub struct Detection {
        pub kind: String,
        pub source: Option<String>,
        pub repeated: String,
        pub occurrences: u64,
        pub executions: u64,
        pub total_ms: f64,
        pub max_run: u64,
        pub suggestion: String,
    }
}

impl Options {
    pub fn new(url: impl Into<String>) -> Options {
        Options {
            url: url.into(),
            redis: None,
            redis_is_cache: false,
            logs: Vec::new(),
            workload: None,
            bench: None,
            verify_on: None,
            roll_back_after: true,
            apply_as: None,
            bench_duration: measure::DEFAULT_BENCH_DURATION,
            bench_users: measure::DEFAULT_BENCH_USERS,
            cache_rules: true,
            detections: Vec::new(),
        }
    }
}

/// The machine and the versions, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    pub brisk_version: String,
    pub postgresql: Option<String>,
    pub redis: Option<String>,
    pub os: String,
    pub cpus: usize,
    pub ram_bytes: Option<u64>,
}

impl Environment {
    fn read(postgresql: Option<String>) -> Environment {
        let ram_bytes = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| {
                let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
                let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
                Some(kb * 1024)
            });
        Environment {
            brisk_version: env!("CARGO_PKG_VERSION").to_string(),
            postgresql,
            redis: None,
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            ram_bytes,
        }
    }
}

/// Everything one run of the doctor found and measured: `report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Doctor {
    pub schema: &'static str,
    /// The diagnosed database, without its password.
    pub target: String,
    pub redis: Option<String>,
    /// Where the fixes were measured, without its password; `None`: nothing was applied.
    pub verified_on: Option<String>,
    pub demo: bool,
    pub started_unix_ms: u64,
    pub elapsed_secs: f64,
    pub environment: Environment,
    /// Every finding, de-duplicated, largest saving first.
    pub findings: Vec<DoctorFinding>,
    /// The bench before and after the fixes, when they were measured.
    pub bench: Option<BeforeAfter>,
    /// Redis fixes applied on a Redis named as safe (the demo's), measured.
    pub redis_fixes: Vec<redis_fix::RedisFix>,
    /// Cache rules of a proxy started in front of the safe database, measured; and the
    /// read shapes the cache refuses.
    pub cache: Option<cache::CacheMeasured>,
    /// The fixes applied on the safe database, with their outcome.
    pub applied: Vec<measure::AppliedFix>,
    /// Numbered migration and rollback files (written to `migrations/`).
    pub migrations: Vec<render::MigrationFile>,
    pub notes: Vec<String>,
}

impl Doctor {
    /// Findings at warning or above.
    pub fn problems(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity >= Severity::Warning)
            .count()
    }
}

/// What the separate tools said, before merging.
pub struct Diagnosis {
    pub check: brisk_report::Report,
    pub advice: advise::Advice,
    pub tuning: Option<brisk_tune::Tuning>,
    pub spills: Vec<brisk_tune::live::RoleSpill>,
    /// Roles' own settings of work_mem, for the rollback of a role setting.
    pub role_work_mem: std::collections::HashMap<String, String>,
    pub redis: Option<brisk_report::Report>,
    pub logs: Option<brisk_report::Report>,
    pub notes: Vec<String>,
}

impl Diagnosis {
    /// The role's own value of a setting before the fix (`None`: it has none).
    pub fn role_setting(&self, role: &str, setting: &str) -> Option<String> {
        (setting == "work_mem")
            .then(|| self.role_work_mem.get(role).cloned())
            .flatten()
    }
}

/// Runs check, advise, tune and redis on the source (read-only).
pub async fn diagnose(options: &Options, progress: Progress<'_>) -> Result<Diagnosis, DoctorError> {
    let info = conninfo(&options.url)?;
    let session = Session::connect(&info, &SessionOptions::default()).await?;
    let mut notes = Vec::new();

    progress("check: reading the catalog and statistics");
    let check = run_check(&session, &CheckOptions::default()).await?;

    progress("advise: planning the workload's indexes");
    let source = match &options.workload {
        Some(workload) => Source::Workload(workload.clone()),
        None => Source::Statements,
    };
    let step = |message: &str| progress(&format!("advise: {message}"));
    let advice = advise::advise(&session, source, &AdviseOptions::default(), &step).await?;

    progress("tune: reading the settings and the temp files");
    let (tuning, spills, role_work_mem) = match tune(&session).await {
        Ok(found) => found,
        Err(error) => {
            notes.push(format!("tune did not run: {error}"));
            (None, Vec::new(), Default::default())
        }
    };

    if let Some(tuning) = &tuning {
        notes.extend(tuning.notes.iter().map(|n| format!("tune: {n}")));
    }

    let redis = match &options.redis {
        Some(url) => {
            progress("redis: scanning the keyspace");
            let target = brisk_redis::RedisTarget::parse(url)?;
            let redis_options = brisk_redis::AnalyzeOptions {
                role: if options.redis_is_cache {
                    brisk_redis::CacheRole::Cache
                } else {
                    brisk_redis::CacheRole::Auto
                },
                ..brisk_redis::AnalyzeOptions::default()
            };
            Some(brisk_redis::analyze(&target, &redis_options, &|_| {}).await?)
        }
        None => None,
    };
    let logs = if options.logs.is_empty() {
        None
    } else {
        progress("logs: reading the log files");
        // brisk-logs reads on threads of its own; this thread waits for them.
        let analysis = tokio::task::block_in_place(|| {
            brisk_logs::analyze(&options.logs, &brisk_logs::Options::default())
        })?;
        Some(
            analysis.report(
                &options
                    .logs
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        )
    };
    Ok(Diagnosis {
        logs,
        check,
        advice,
        tuning,
        spills,
        role_work_mem,
        redis,
        notes,
    })
}

type Tuned = (
    Option<brisk_tune::Tuning>,
    Vec<brisk_tune::live::RoleSpill>,
    std::collections::HashMap<String, String>,
);

async fn tune(session: &Session) -> Result<Tuned, brisk_tune::TuneError> {
    // No activity sample: the doctor's own load is not the application's.
    let facts =
        brisk_tune::live::read_facts(session, Duration::ZERO, Duration::from_millis(100)).await?;
    let machine =
        brisk_tune::machine::resolve(None, None, std::path::Path::new("/"), facts.backend_pid)?;
    let tuning = brisk_tune::rules::tune(
        &facts,
        &machine,
        &brisk_tune::rules::LiveOptions::default(),
        session.target(),
    )?;
    Ok((
        Some(tuning),
        facts.role_spills.clone().unwrap_or_default(),
        facts.role_work_mem.clone(),
    ))
}

/// An in-process `brisk proxy` from a config text (`name` is the file name its errors
/// cite), bound and not yet running, with the port it listens on.
pub(crate) async fn bind_proxy(
    name: &str,
    config_text: &str,
) -> Result<(brisk_proxy::Proxy, u16), DoctorError> {
    let config = brisk_proxy::Config::parse(std::path::Path::new(name), config_text)
        .map_err(|e| DoctorError::Proxy(e.to_string()))?;
    let proxy = brisk_proxy::Proxy::bind(config)
        .await
        .map_err(|e| DoctorError::Proxy(e.to_string()))?;
    let port = proxy
        .local_addr()
        .map_err(DoctorError::io("reading the proxy's port"))?
        .port();
    Ok((proxy, port))
}

pub(crate) fn conninfo(url: &str) -> Result<ConnInfo, DoctorError> {
    ConnInfo::from_env_and_str(Some(url)).map_err(|e| DoctorError::BadInput(e.to_string()))
}

/// Diagnoses `options.url`, and with `verify_on` measures the safe fixes there.
pub async fn run(options: &Options, progress: Progress<'_>) -> Result<Doctor, DoctorError> {
    let started = Instant::now();
    let started_unix_ms = measure::unix_ms();
    let diagnosis = diagnose(options, progress).await?;
    let mut findings = merge::merge(&diagnosis, &options.detections);
    let mut notes = diagnosis.notes.clone();
    let mut bench = None;
    let mut applied = Vec::new();
    let mut cache = None;
    if let Some(safe) = &options.verify_on {
        let measured = measure::measure(options, safe, &diagnosis, &findings, progress).await?;
        notes.extend(measured.notes.iter().cloned());
        measure::attribute(&mut findings, &measured);
        bench = measured.bench;
        cache = measured.cache;
        applied = measured.applied;
    } else {
        notes.push("Nothing was applied and every saving is estimated: name a database that is safe to build the fixes on with --verify-on URL (a staging copy) to measure them.".to_string());
    }
    merge::rank(&mut findings);
    let mut migrations = render::migrations(&findings);
    if let Some(cache) = &cache {
        migrations.extend(render::cache_migrations(cache, migrations.len() / 2));
    }
    let environment = Environment::read(diagnosis.check.target.version.clone());
    Ok(Doctor {
        schema: SCHEMA,
        target: diagnosis.check.target.address.clone(),
        redis: options.redis.as_deref().map(|url| {
            brisk_redis::RedisTarget::parse(url)
                .map_or_else(|_| String::new(), |t| t.address().to_string())
        }),
        verified_on: options
            .verify_on
            .as_deref()
            .and_then(|url| conninfo(url).ok())
            .map(|info| info.redacted()),
        demo: false,
        started_unix_ms,
        elapsed_secs: started.elapsed().as_secs_f64(),
        environment,
        findings,
        bench,
        redis_fixes: Vec::new(),
        cache,
        applied,
        migrations,
        notes,
    })
}
