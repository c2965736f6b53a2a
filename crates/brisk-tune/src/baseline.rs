//! PGTune's formulas (le0pard/pgtune, `src/features/configuration/configurationSlice.js`,
//! read at commit 7caef27 of July 2026), for Linux. Everything here is arithmetic on the
//! [`Profile`]: no I/O. docs/tune.md lists each formula beside its source.

use serde::Serialize;

use crate::value::Value;
use crate::TuneError;

const KB_PER_MB: u64 = 1024;
const KB_PER_GB: u64 = 1024 * 1024;

/// What the server is for, in PGTune's five words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    Web,
    Oltp,
    Dw,
    Desktop,
    Mixed,
}

impl Workload {
    pub fn parse(word: &str) -> Result<Workload, TuneError> {
        match word.to_ascii_lowercase().as_str() {
            "web" => Ok(Workload::Web),
            "oltp" => Ok(Workload::Oltp),
            "dw" => Ok(Workload::Dw),
            "desktop" => Ok(Workload::Desktop),
            "mixed" => Ok(Workload::Mixed),
            _ => Err(TuneError::BadInput(format!(
                "workload {word:?}: use web, oltp, dw, desktop or mixed"
            ))),
        }
    }

    /// PGTune's max_connections when none is given.
    pub fn default_connections(self) -> u64 {
        match self {
            Workload::Web => 200,
            Workload::Oltp => 300,
            Workload::Dw => 40,
            Workload::Desktop => 20,
            Workload::Mixed => 100,
        }
    }
}

/// The storage under the data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Disk {
    Ssd,
    Nvme,
    Hdd,
    San,
}

impl Disk {
    pub fn parse(word: &str) -> Result<Disk, TuneError> {
        match word.to_ascii_lowercase().as_str() {
            "ssd" => Ok(Disk::Ssd),
            "nvme" => Ok(Disk::Nvme),
            "hdd" => Ok(Disk::Hdd),
            "san" => Ok(Disk::San),
            _ => Err(TuneError::BadInput(format!(
                "disk {word:?}: use ssd, nvme, hdd or san"
            ))),
        }
    }
}

/// The size of the data against RAM, PGTune's three choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DataSize {
    /// All databases together are smaller than RAM.
    #[serde(rename = "less-than-ram")]
    LessThanRam,
    /// One to three times RAM (PGTune's default).
    #[serde(rename = "up-to-3x-ram")]
    UpTo3xRam,
    /// More than three times RAM.
    #[serde(rename = "more-than-3x-ram")]
    MoreThan3xRam,
}

impl DataSize {
    pub fn parse(word: &str) -> Result<DataSize, TuneError> {
        match word.to_ascii_lowercase().as_str() {
            "less-than-ram" => Ok(DataSize::LessThanRam),
            "up-to-3x-ram" => Ok(DataSize::UpTo3xRam),
            "more-than-3x-ram" => Ok(DataSize::MoreThan3xRam),
            _ => Err(TuneError::BadInput(format!(
                "data size {word:?}: use less-than-ram, up-to-3x-ram or more-than-3x-ram"
            ))),
        }
    }

    /// The class of `data_bytes` of data on a machine with `ram_bytes`.
    pub fn of(data_bytes: u64, ram_bytes: u64) -> DataSize {
        if data_bytes < ram_bytes {
            DataSize::LessThanRam
        } else if data_bytes <= ram_bytes.saturating_mul(3) {
            DataSize::UpTo3xRam
        } else {
            DataSize::MoreThan3xRam
        }
    }
}

/// The machine and its use, as PGTune's form asks for them.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub ram_bytes: u64,
    /// Without it, PGTune leaves the parallel settings out.
    pub cpus: Option<u64>,
    /// Without it, the workload's default.
    pub connections: Option<u64>,
    pub disk: Disk,
    pub workload: Workload,
    pub pg_major: u32,
    pub data_size: DataSize,
}

/// PostgreSQL's compiled-in max_worker_processes, which PGTune uses for work_mem when it
/// proposes no parallel settings.
const DEFAULT_MAX_WORKER_PROCESSES: u64 = 8;

/// One setting of the baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Setting {
    pub name: &'static str,
    pub value: Value,
}

/// The settings PGTune writes for `profile`, in PGTune's order.
pub fn baseline(profile: &Profile) -> Vec<Setting> {
    use Workload::*;
    let ram_kb = profile.ram_bytes / 1024;
    let workload = profile.workload;
    let connections = profile
        .connections
        .unwrap_or_else(|| workload.default_connections());
    let mut out = Vec::new();
    let mut set = |name: &'static str, value: Value| out.push(Setting { name, value });

    set("max_connections", Value::Int(connections));
    let shared_buffers = shared_buffers_kb(ram_kb, workload);
    set("shared_buffers", Value::Kb(shared_buffers));
    let effective_cache_size = match workload {
        Desktop => ram_kb / 4,
        _ => ram_kb * 3 / 4,
    };
    set("effective_cache_size", Value::Kb(effective_cache_size));
    let maintenance_work_mem = maintenance_work_mem_kb(ram_kb, workload);
    set("maintenance_work_mem", Value::Kb(maintenance_work_mem));
    set("checkpoint_completion_target", Value::Real(0.9));
    set("wal_buffers", Value::Kb(wal_buffers_kb(shared_buffers)));
    set(
        "default_statistics_target",
        Value::Int(if workload == Dw { 500 } else { 100 }),
    );
    set(
        "random_page_cost",
        Value::Real(random_page_cost(profile.disk, profile.data_size, workload)),
    );
    set(
        "effective_io_concurrency",
        Value::Int(match profile.disk {
            Disk::Hdd => 2,
            Disk::Ssd => 200,
            Disk::San => 300,
            Disk::Nvme => 1000,
        }),
    );
    let parallel = parallel_settings(profile);
    let workers_for_work_mem = parallel
        .iter()
        .find(|(name, _)| *name == "max_worker_processes")
        .map(|(_, n)| *n)
        .unwrap_or(DEFAULT_MAX_WORKER_PROCESSES);
    set(
        "work_mem",
        Value::Kb(work_mem_kb(
            ram_kb,
            shared_buffers,
            connections + workers_for_work_mem,
            workload,
            profile.data_size,
        )),
    );
    // PGTune: huge pages pay off from 2 GB of shared_buffers.
    set(
        "huge_pages",
        Value::Text(if shared_buffers >= 2 * KB_PER_GB {
            "try"
        } else {
            "off"
        }),
    );
    if profile.pg_major >= 12 && matches!(workload, Web | Oltp | Mixed) {
        set("jit", Value::Text("off"));
    }
    if profile.pg_major >= 15 {
        set("wal_compression", Value::Text("lz4"));
    } else if profile.pg_major >= 10 {
        set("wal_compression", Value::Text("on"));
    }
    match profile.cpus {
        Some(cpus) if cpus >= 32 => set("autovacuum_max_workers", Value::Int(5)),
        Some(cpus) if cpus >= 16 => set("autovacuum_max_workers", Value::Int(4)),
        _ => {}
    }
    // Caps what 3 to 5 autovacuum workers can take when maintenance_work_mem is large.
    if maintenance_work_mem >= 2 * KB_PER_GB {
        set("autovacuum_work_mem", Value::Kb(2 * KB_PER_GB));
    }
    if profile.pg_major >= 18 {
        set("io_method", Value::Text("io_uring"));
    }
    let (min_wal, max_wal) = match workload {
        Web | Mixed => (1024, 4096),
        Oltp => (2048, 8192),
        Dw => (4096, 16384),
        Desktop => (100, 2048),
    };
    set("min_wal_size", Value::Kb(min_wal * KB_PER_MB));
    set("max_wal_size", Value::Kb(max_wal * KB_PER_MB));
    for (name, value) in parallel {
        set(name, Value::Int(value));
    }
    if workload == Desktop {
        set("wal_level", Value::Text("minimal"));
        set("max_wal_senders", Value::Int(0));
    }
    out
}

/// 25% of RAM, 1/16 on a desktop.
pub fn shared_buffers_kb(ram_kb: u64, workload: Workload) -> u64 {
    match workload {
        Workload::Desktop => ram_kb / 16,
        _ => ram_kb / 4,
    }
}

/// 1/16 of RAM (1/8 for dw), at most 8 GB.
pub fn maintenance_work_mem_kb(ram_kb: u64, workload: Workload) -> u64 {
    let value = match workload {
        Workload::Dw => ram_kb / 8,
        _ => ram_kb / 16,
    };
    value.min(8 * KB_PER_GB)
}

/// 3% of shared_buffers, rounded up to 16 MB from 14 MB, between 32 kB and 16 MB.
pub fn wal_buffers_kb(shared_buffers_kb: u64) -> u64 {
    let max = 16 * KB_PER_MB;
    let value = (3 * shared_buffers_kb / 100).min(max);
    if value > 14 * KB_PER_MB {
        max
    } else {
        value.max(32)
    }
}

/// (RAM − shared_buffers) / (sessions × 3), where sessions are connections plus parallel
/// workers: each may sort or hash more than once per query. Halved for dw and mixed, a sixth
/// for a desktop, ×1.3 when the data fits in RAM, ×0.9 when it is over 3× RAM, at least 4 MB.
pub fn work_mem_kb(
    ram_kb: u64,
    shared_buffers_kb: u64,
    sessions: u64,
    workload: Workload,
    data_size: DataSize,
) -> u64 {
    let per_session =
        ram_kb.saturating_sub(shared_buffers_kb) as f64 / (sessions.max(1) * 3) as f64;
    let by_workload = match workload {
        Workload::Web | Workload::Oltp => per_session,
        Workload::Dw | Workload::Mixed => per_session / 2.0,
        Workload::Desktop => per_session / 6.0,
    }
    .floor();
    let adjusted = match data_size {
        DataSize::LessThanRam => (by_workload * 1.3).floor(),
        DataSize::UpTo3xRam => by_workload,
        DataSize::MoreThan3xRam => (by_workload * 0.9).floor(),
    };
    (adjusted as u64).max(4 * KB_PER_MB)
}

/// 1.1 unless the disk is a spinning one, or a data warehouse does not fit in RAM (where a
/// low cost makes the planner pick index scans over large ranges); 1.1 whenever it fits.
fn random_page_cost(disk: Disk, data_size: DataSize, workload: Workload) -> f64 {
    if data_size == DataSize::LessThanRam {
        1.1
    } else if disk == Disk::Hdd || workload == Workload::Dw {
        4.0
    } else {
        1.1
    }
}

/// From 4 CPUs: one worker process per CPU, half of them (at most 4, except for dw) per
/// Gather, and half (at most 4) for maintenance.
fn parallel_settings(profile: &Profile) -> Vec<(&'static str, u64)> {
    let Some(cpus) = profile.cpus.filter(|&cpus| cpus >= 4) else {
        return Vec::new();
    };
    let half = cpus.div_ceil(2);
    let per_gather = if profile.workload == Workload::Dw {
        half
    } else {
        half.min(4)
    };
    let mut settings = vec![
        ("max_worker_processes", cpus),
        ("max_parallel_workers_per_gather", per_gather),
    ];
    if profile.pg_major >= 10 {
        settings.push(("max_parallel_workers", cpus));
    }
    if profile.pg_major >= 11 {
        settings.push(("max_parallel_maintenance_workers", half.min(4)));
    }
    settings
}
