//! `brisk tune`: arguments and wiring. The formulas and rules live in brisk-tune.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use brisk_pg::SessionOptions;
use brisk_tune::baseline::{DataSize, Disk, Profile, Workload};
use brisk_tune::rules::{LiveOptions, RULES};
use brisk_tune::value::parse_size;
use brisk_tune::Tuning;
use clap::{Args, ValueEnum};

use crate::connect::{connect, nothing_named};
use crate::output::{list_checks, Format};
use crate::redis::Role;

const EXAMPLES: &str = "\
Examples:
  brisk tune --ram 16GB --cpus 4 --connections 200 --disk ssd --workload web
  brisk tune postgres://postgres@localhost/app
  brisk tune URL --format alter-system --rollback rollback.sql > tune.sql
  brisk tune --redis redis://cache.internal:6379 --ram 8GB";

/// The thresholds' defaults, from the library (each says where its number comes from).
fn defaults() -> LiveOptions {
    LiveOptions::default()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TuneFormat {
    /// For people: current -> proposed, why, evidence, restart or reload, confidence.
    Text,
    /// For programs: the whole tuning, with the machine and the worst-case memory.
    Json,
    /// A postgresql.conf snippet.
    Conf,
    /// ALTER SYSTEM and ALTER ROLE statements (with --rollback FILE, their undo).
    AlterSystem,
}

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct TuneArgs {
    /// A libpq URL of the server to tune (PG* variables fill in what it leaves out). Without
    /// one, brisk tunes offline from --ram and the other flags, as PGTune does.
    url: Option<String>,

    /// The RAM PostgreSQL may use: 16GB, 512MB. Offline it is required; on a live server it
    /// replaces what brisk reads from the server's host and cgroup.
    #[arg(long, value_name = "SIZE")]
    ram: Option<String>,

    /// The CPUs PostgreSQL may use. Offline, without it, the parallel settings are left out.
    #[arg(long, value_name = "N")]
    cpus: Option<u64>,

    /// Offline: the max_connections to plan for (default: PGTune's for the workload).
    #[arg(long, value_name = "N")]
    connections: Option<u64>,

    /// The disk under the data directory: ssd, nvme, hdd or san. On a live server, without
    /// it, random_page_cost and effective_io_concurrency are left alone.
    #[arg(long, value_name = "DISK")]
    disk: Option<String>,

    /// What the server does: web, oltp, dw, desktop or mixed [default: web offline, mixed
    /// live].
    #[arg(long, value_name = "WORKLOAD")]
    workload: Option<String>,

    /// Offline: the PostgreSQL major version [default: 17] (live, brisk reads it).
    #[arg(long, value_name = "MAJOR")]
    pg_version: Option<u32>,

    /// Offline: all databases against RAM: less-than-ram, up-to-3x-ram or more-than-3x-ram
    /// [default: up-to-3x-ram] (live, brisk measures it).
    #[arg(long, value_name = "SIZE")]
    data_size: Option<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = TuneFormat::Text)]
    format: TuneFormat,

    /// With --format alter-system: write the statements that undo it to this file (never
    /// overwritten).
    #[arg(long, value_name = "FILE")]
    rollback: Option<PathBuf>,

    /// Tune this Redis instead (redis://host:6379): maxmemory with headroom for forks and
    /// replication, and the eviction policy of a cache or a store.
    #[arg(long, value_name = "URL", conflicts_with = "url")]
    redis: Option<String>,

    /// With --redis: whether it is a cache (the rule brisk redis uses when auto).
    #[arg(long, value_enum, default_value_t = Role::Auto)]
    role: Role,

    /// The admin console of the brisk proxy in front of the server
    /// (postgres://admin@proxy:6432/brisk): default_pool_size and max_connections from the
    /// concurrency it measures during the sample.
    #[arg(long, value_name = "URL", conflicts_with = "redis")]
    proxy_admin: Option<String>,

    /// Print the rules and exit.
    #[arg(long)]
    list_checks: bool,

    /// How long to sample pg_stat_activity for the peak of active and idle sessions.
    #[arg(long, value_name = "SECONDS", default_value_t = 3.0)]
    sample_secs: f64,

    /// Requested checkpoints, as a share of all, from which max_wal_size is raised.
    #[arg(long, value_name = "PERCENT", help_heading = "Thresholds",
          default_value_t = defaults().checkpoints_requested_min_pct)]
    checkpoints_requested_pct: f64,

    /// Temp bytes a role must have written to get its own work_mem.
    #[arg(long, value_name = "MIB", help_heading = "Thresholds",
          default_value_t = defaults().temp_min_bytes >> 20)]
    temp_min_mb: u64,

    /// Buffer hit ratio below which shared_buffers is raised.
    #[arg(long, value_name = "PERCENT", help_heading = "Thresholds",
          default_value_t = defaults().cache_hit_min_pct)]
    cache_hit_min_pct: f64,

    /// Idle sessions from which a pooler is advised.
    #[arg(long, value_name = "N", help_heading = "Thresholds",
          default_value_t = defaults().idle_min_sessions)]
    idle_min_sessions: u64,
}

impl TuneArgs {
    fn ram_bytes(&self) -> anyhow::Result<Option<u64>> {
        self.ram
            .as_deref()
            .map(|ram| parse_size(ram).map_err(|e| anyhow::anyhow!("--ram: {e}")))
            .transpose()
    }

    fn workload(&self, default: Workload) -> anyhow::Result<Workload> {
        match &self.workload {
            Some(word) => Workload::parse(word).map_err(|e| anyhow::anyhow!("--workload: {e}")),
            None => Ok(default),
        }
    }

    fn disk(&self) -> anyhow::Result<Option<Disk>> {
        self.disk
            .as_deref()
            .map(|word| Disk::parse(word).map_err(|e| anyhow::anyhow!("--disk: {e}")))
            .transpose()
    }
}

pub async fn run(args: TuneArgs) -> anyhow::Result<ExitCode> {
    if args.list_checks {
        let format = match args.format {
            TuneFormat::Json => Format::Json,
            _ => Format::Text,
        };
        list_checks(RULES.iter().copied(), format)?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.rollback.is_some() && args.format != TuneFormat::AlterSystem {
        bail!("--rollback goes with --format alter-system: it undoes those statements");
    }
    if args.cpus == Some(0) {
        bail!("--cpus 0: a machine has at least one CPU");
    }
    // Validate every flag before connecting, so a typo fails fast.
    let ram = args.ram_bytes()?;
    let disk = args.disk()?;
    let tuning = if let Some(url) = &args.redis {
        let target = brisk_redis::RedisTarget::parse(url)?;
        brisk_tune::redis::tune(&target, args.role.cache_role(), ram).await?
    } else if args.url.is_none() && nothing_named(None) {
        let Some(ram_bytes) = ram else {
            bail!("give a server (brisk tune postgres://...) or, offline, the machine with --ram 16GB");
        };
        let profile = Profile {
            ram_bytes,
            cpus: args.cpus,
            connections: args.connections,
            disk: disk.unwrap_or(Disk::Ssd),
            workload: args.workload(Workload::Web)?,
            pg_major: args.pg_version.unwrap_or(17),
            data_size: DataSize::parse(args.data_size.as_deref().unwrap_or("up-to-3x-ram"))
                .map_err(|e| anyhow::anyhow!("--data-size: {e}"))?,
        };
        if !(10..=18).contains(&profile.pg_major) {
            bail!(
                "--pg-version {}: PGTune's formulas cover 10 to 18",
                profile.pg_major
            );
        }
        brisk_tune::offline(&profile)
    } else {
        live(&args, ram, disk).await?
    };
    print(&tuning, &args)
}

async fn live(args: &TuneArgs, ram: Option<u64>, disk: Option<Disk>) -> anyhow::Result<Tuning> {
    // What brisk reads from the server is not taken from flags: say so rather than ignore them.
    for (given, flag) in [
        (args.connections.is_some(), "--connections"),
        (args.pg_version.is_some(), "--pg-version"),
        (args.data_size.is_some(), "--data-size"),
    ] {
        if given {
            bail!("{flag} is for offline tuning; on a live server brisk reads it from the server");
        }
    }
    if !(args.sample_secs.is_finite() && (0.0..=600.0).contains(&args.sample_secs)) {
        bail!("--sample-secs {}: give 0 to 600 seconds", args.sample_secs);
    }
    let options = LiveOptions {
        workload: args.workload(Workload::Mixed)?,
        disk,
        checkpoints_requested_min_pct: args.checkpoints_requested_pct,
        temp_min_bytes: args.temp_min_mb << 20,
        cache_hit_min_pct: args.cache_hit_min_pct,
        idle_min_sessions: args.idle_min_sessions,
        ..defaults()
    };
    let (_, session, progress) = connect(args.url.as_deref(), &SessionOptions::default(), |info| {
        format!("reading {} and sampling its sessions", info.redacted())
    })
    .await?;
    let console = match &args.proxy_admin {
        Some(url) => {
            let info = brisk_pg::conninfo::ConnInfo::from_env_and_str(Some(url))
                .map_err(|e| anyhow::anyhow!("--proxy-admin: {e}"))?;
            Some(
                brisk_pg::Console::connect(&info, &SessionOptions::default())
                    .await
                    .map_err(|e| anyhow::anyhow!("--proxy-admin: {e}"))?,
            )
        }
        None => None,
    };
    let facts = brisk_tune::live::read_facts_with_proxy(
        &session,
        Duration::from_secs_f64(args.sample_secs),
        Duration::from_millis(100),
        console.as_ref(),
    )
    .await?;
    drop(progress);
    let machine = brisk_tune::machine::resolve(ram, args.cpus, Path::new("/"), facts.backend_pid)?;
    let mut options = options;
    if disk.is_none() {
        options.detected_disk = Some(match facts.setting("data_directory") {
            Some(dir) => brisk_tune::disk::detect(Path::new("/"), facts.backend_pid, &dir.setting),
            None => Err(
                "data_directory is visible only to superusers and pg_read_all_settings".to_string(),
            ),
        });
    }
    Ok(brisk_tune::rules::tune(
        &facts,
        &machine,
        &options,
        session.target(),
    )?)
}

fn print(tuning: &Tuning, args: &TuneArgs) -> anyhow::Result<ExitCode> {
    let text = match args.format {
        TuneFormat::Text => brisk_tune::render::text(tuning),
        TuneFormat::Json => brisk_tune::render::json(tuning),
        TuneFormat::Conf => brisk_tune::render::conf(tuning),
        TuneFormat::AlterSystem => brisk_tune::render::alter_system(tuning),
    };
    if let Some(path) = &args.rollback {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .with_context(|| {
                format!(
                    "--rollback {}: cannot create it (brisk never overwrites a file)",
                    path.display()
                )
            })?;
        file.write_all(brisk_tune::render::rollback(tuning).as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
