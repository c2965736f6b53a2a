//! From facts to proposals: PGTune's baseline on the measured machine, then the evidence
//! rules, then the memory check. No I/O: [`crate::live`] reads, this judges.

use brisk_report::{Evidence, Unit};

use crate::baseline::{self, DataSize, Disk, Profile, Workload};
use crate::live::Facts;
use crate::machine::Machine;
use crate::value::{format_kb, setting_kb, Value};
use crate::{Confidence, MemoryBudget, Recommendation, Scope, Takes, TuneError, Tuning};

/// The rules, for `--list-checks`.
pub const RULES: &[(&str, &str)] = &[
    ("baseline", "PGTune's formulas on the server's RAM, CPUs and connections, for settings no evidence speaks to"),
    ("checkpoints", "checkpoints requested by WAL volume rather than timed: raise max_wal_size"),
    ("temp-files", "roles whose statements write temp files: ALTER ROLE ... SET work_mem, not a global change"),
    ("cache-hit", "a low shared-buffer hit ratio over real reads: raise shared_buffers toward 25% of RAM"),
    ("connections", "many idle connections: a pooler (brisk proxy) and a smaller max_connections"),
    ("wal-buffers", "wal_buffers_full grew during the sample (pg_stat_wal, 14+): a larger wal_buffers"),
    ("pool-size", "brisk proxy's measured concurrency (--proxy-admin, Little's law): default_pool_size and max_connections"),
    ("autovacuum", "tables past their autovacuum trigger, big tables on the default scale factor, all workers busy, unfrozen XIDs past autovacuum_freeze_max_age: per-table scale factors, workers, cost limit"),
    ("redis-maxmemory", "Redis: maxmemory from the machine, less the OS, replication buffers and a fork's copy-on-write"),
    ("redis-policy", "Redis: allkeys-lru for a cache, noeviction for a store (brisk redis's judgement)"),
    ("redis-samples", "Redis: maxmemory-samples 10 for a cache that evicts with LRU or LFU"),
    ("redis-defrag", "Redis: activedefrag when jemalloc's fragmentation passes Redis's own 100mb and 10%"),
    ("redis-lazyfree", "Redis: lazyfree-lazy-eviction / -expire when keys are evicted / expired"),
    ("redis-hz", "Redis: dynamic-hz when it is off with 200 clients or more"),
    ("redis-slowlog", "Redis: slowlog-log-slower-than back to 10 ms when off, 0, or 100 ms and more"),
];

/// What the user says about the server, and the rules' thresholds.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    pub workload: Workload,
    /// The disk under the data directory, as the user gave it (`--disk`).
    pub disk: Option<Disk>,
    /// Without `--disk`: what [`crate::disk::detect`] found on the server's host, or why it
    /// found nothing. Neither leaves the disk settings alone.
    pub detected_disk: Option<Result<crate::disk::DiskFound, String>>,
    /// Requested checkpoints, as a share of all, from which max_wal_size is too small.
    /// PostgreSQL's docs (WAL configuration) want checkpoints to be mostly timed; 10% still
    /// allows the occasional manual CHECKPOINT or base backup, which also count as requested.
    pub checkpoints_requested_min_pct: f64,
    /// Fewer requested checkpoints than this are not evidence: one base backup makes one.
    pub checkpoints_requested_min: u64,
    /// Temp bytes a role must have written before it gets its own work_mem: 16 MiB is 2048
    /// blocks, below which a spill costs milliseconds of sequential I/O.
    pub temp_min_bytes: u64,
    /// The hit ratio below which shared_buffers is too small; brisk check's threshold, so
    /// the two commands agree.
    pub cache_hit_min_pct: f64,
    /// Blocks read before the hit ratio means anything: 10,000 blocks (78 MiB at 8 kB) is
    /// more than a server reads while starting up and filling its catalog caches.
    pub cache_min_reads: u64,
    /// Idle sessions from which a pooler pays: PgBouncer's default_pool_size (20).
    pub idle_min_sessions: u64,
    /// ... when they are at least this share of all client sessions.
    pub idle_min_pct: f64,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            workload: Workload::Mixed,
            disk: None,
            detected_disk: None,
            checkpoints_requested_min_pct: 10.0,
            checkpoints_requested_min: 5,
            temp_min_bytes: 16 << 20,
            cache_hit_min_pct: 95.0,
            cache_min_reads: 10_000,
            idle_min_sessions: 20,
            idle_min_pct: 50.0,
        }
    }
}

/// Sorts and hashes per query that may each take work_mem (PGTune's factor 3).
const WORK_MEM_FACTOR: u64 = 3;

/// An in-memory sort needs more than the temp file it would write: tuples carry headers and
/// pointers the on-disk format drops. scripts/bench-tune measured 2.4 for a sort of
/// 1,000,000 md5 strings (a quicksort in 102,702 kB against 43,493,668 temp bytes per call).
const MEMORY_PER_SPILLED_BYTE: f64 = 2.4;

/// Why PGTune sets each setting, in a line.
pub fn baseline_why(name: &str) -> &'static str {
    match name {
        "max_connections" => "PGTune's default for the workload, or what you gave",
        "shared_buffers" => "PGTune: 25% of RAM (1/16 on a desktop)",
        "effective_cache_size" => "PGTune: 75% of RAM (25% on a desktop), what the OS cache and shared_buffers hold together",
        "maintenance_work_mem" => "PGTune: RAM/16 (RAM/8 for dw), at most 8GB",
        "checkpoint_completion_target" => "PGTune: 0.9, PostgreSQL 14's default, spreads checkpoint writes",
        "wal_buffers" => "PGTune: 3% of shared_buffers, at most 16MB",
        "default_statistics_target" => "PGTune: 100, 500 for dw",
        "random_page_cost" => "PGTune: 1.1 for SSD/SAN or data that fits in RAM, 4 for HDD or a dw larger than RAM",
        "effective_io_concurrency" => "PGTune: by disk (HDD 2, SSD 200, SAN 300, NVMe 1000)",
        "work_mem" => "PGTune: (RAM - shared_buffers) / ((sessions + worker processes) x 3), by workload",
        "huge_pages" => "PGTune: try from 2GB of shared_buffers",
        "jit" => "PGTune: off for web, oltp and mixed, where it costs short queries more than it saves",
        "wal_compression" => "PGTune: lz4 from 15 (needs --with-lz4), on before",
        "autovacuum_max_workers" => "PGTune: 4 from 16 CPUs, 5 from 32",
        "autovacuum_work_mem" => "PGTune: caps each autovacuum worker at 2GB when maintenance_work_mem is larger",
        "io_method" => "PGTune: io_uring from 18 on Linux (needs --with-liburing)",
        "min_wal_size" | "max_wal_size" => "PGTune: by workload",
        "max_worker_processes" | "max_parallel_workers" => "PGTune: one per CPU",
        "max_parallel_workers_per_gather" => "PGTune: half the CPUs, at most 4 (except dw)",
        "max_parallel_maintenance_workers" => "PGTune: half the CPUs, at most 4",
        "wal_level" | "max_wal_senders" => "PGTune: a desktop needs no replication",
        _ => "PGTune",
    }
}

/// Offline, whether a setting needs a restart (its `pg_settings.context` is postmaster).
pub fn takes_offline(name: &str) -> Takes {
    match name {
        "max_connections"
        | "shared_buffers"
        | "wal_buffers"
        | "huge_pages"
        | "max_worker_processes"
        | "wal_level"
        | "max_wal_senders"
        | "autovacuum_max_workers"
        | "io_method" => Takes::Restart,
        _ => Takes::Reload,
    }
}

pub(crate) fn bytes(name: &str, kb: u64) -> Evidence {
    Evidence::new(name, (kb * 1024) as f64, Unit::Bytes)
}

pub(crate) fn count(name: &str, n: u64) -> Evidence {
    Evidence::new(name, n as f64, Unit::Count)
}

/// Rounds a size in kB up to a whole GB from 1 GB, else to a whole 64 MB: settings people
/// can read.
fn round_up_kb(kb: u64) -> u64 {
    let step = if kb >= 1 << 20 { 1 << 20 } else { 64 << 10 };
    kb.div_ceil(step) * step
}

/// A measured machine has RAM like 24,683,784 kB, and PGTune's fractions of it are no
/// rounder: sizes from 16 MB are rounded down to a whole MB, which changes them by under 0.1%.
fn readable(value: &Value) -> Value {
    match value {
        Value::Kb(kb) => Value::Kb(readable_kb(*kb)),
        other => other.clone(),
    }
}

fn readable_kb(kb: u64) -> u64 {
    if kb >= 16 << 10 {
        kb / 1024 * 1024
    } else {
        kb
    }
}

/// The tuning of a live server.
pub fn tune(
    facts: &Facts,
    machine: &Machine,
    options: &LiveOptions,
    target: &str,
) -> Result<Tuning, TuneError> {
    let ram_kb = machine.ram_bytes / 1024;
    let found = options.detected_disk.as_ref().and_then(|d| d.as_ref().ok());
    let disk = options.disk.or(found.map(|f| f.disk));
    let data_size = DataSize::of(facts.data_bytes, machine.ram_bytes);
    let max_connections = facts.setting_u64("max_connections").unwrap_or(100);
    let profile = Profile {
        ram_bytes: machine.ram_bytes,
        cpus: Some(machine.cpus),
        connections: Some(max_connections),
        disk: disk.unwrap_or(Disk::Ssd),
        workload: options.workload,
        pg_major: u32::try_from(facts.version_num / 10_000).unwrap_or(0),
        data_size,
    };
    let mut t = Proposals {
        facts,
        recommendations: Vec::new(),
        notes: Vec::new(),
    };
    let base = baseline::baseline(&profile);
    for setting in &base {
        let name = setting.name;
        let special = matches!(
            name,
            "max_connections" | "shared_buffers" | "max_wal_size" | "work_mem"
        );
        let needs_disk = matches!(name, "random_page_cost" | "effective_io_concurrency");
        if special || (needs_disk && disk.is_none()) {
            continue;
        }
        let mut value = readable(&setting.value);
        let mut why = baseline_why(name).to_string();
        // PGTune proposes lz4 from PostgreSQL 15, which only a server built with lz4
        // accepts: pg_settings lists the values this build takes.
        if name == "wal_compression" && matches!(value, Value::Text("lz4")) {
            let accepted = t
                .facts
                .settings
                .get("wal_compression")
                .map(|s| s.enumvals.clone())
                .unwrap_or_default();
            if built_without_lz4(&accepted) {
                value = Value::Text("on");
                why = format!(
                    "{why}; this server was built without lz4 (it accepts {}), so pglz",
                    accepted.join(", ")
                );
            }
        }
        let confidence = if matches!(
            name,
            "jit" | "default_statistics_target" | "min_wal_size" | "wal_level" | "max_wal_senders"
        ) || (needs_disk && options.disk.is_some())
        {
            Confidence::Low
        } else {
            Confidence::Medium
        };
        let mut confidence = confidence;
        if let (true, None, Some(found)) = (needs_disk, options.disk, found) {
            why.push_str(&format!(
                "; the disk measured on the server's host: {}",
                found.source
            ));
            if found.virtual_disk {
                confidence = Confidence::Low;
            }
        }
        t.propose(name, &value, "baseline", why, Vec::new(), confidence);
    }
    match (options.disk, &options.detected_disk) {
        (Some(_), _) => {}
        (None, Some(Ok(found))) if found.virtual_disk => t.notes.push(format!(
            "{} is a virtual disk: it reports what the hypervisor chose (often rotational over SSD storage), so the disk settings have low confidence; give --disk if you know better",
            found.device
        )),
        (None, Some(Ok(_))) => {}
        (None, Some(Err(reason))) => t.notes.push(format!(
            "random_page_cost and effective_io_concurrency are left alone: brisk could not see the disk ({reason}); give --disk ssd|nvme|hdd|san"
        )),
        (None, None) => t.notes.push("random_page_cost and effective_io_concurrency are left alone: brisk cannot see the disk; give --disk ssd|nvme|hdd|san".to_string()),
    }

    let baseline_kb = |name: &str| match base
        .iter()
        .find(|s| s.name == name)
        .map(|s| readable(&s.value))
    {
        Some(Value::Kb(kb)) => kb,
        _ => 0,
    };
    let baseline_workers = base
        .iter()
        .find(|s| s.name == "autovacuum_max_workers")
        .and_then(|s| match s.value {
            Value::Int(n) => Some(n),
            _ => None,
        });
    crate::autovacuum::autovacuum(&mut t, baseline_workers);
    crate::io::wal_buffers(&mut t);
    let shared_buffers_kb = shared_buffers(&mut t, options, baseline_kb("shared_buffers"));
    checkpoints(&mut t, options, baseline_kb("max_wal_size"));
    let pooled = connections(&mut t, options, machine);

    // work_mem for the sessions that run queries at once: the sample's peak, but never fewer
    // than the CPUs, since a busy moment the sample missed runs at least one per CPU.
    let peak = facts.activity.peak_active;
    let (sessions, sessions_from) = if peak >= machine.cpus {
        (
            peak,
            format!(
                "the peak of active sessions in a {:.1} s sample of pg_stat_activity",
                facts.activity.seconds
            ),
        )
    } else {
        (
            machine.cpus,
            format!(
                "the CPU count: the {:.1} s sample's peak of active sessions ({peak}) was lower",
                facts.activity.seconds
            ),
        )
    };
    let workers = facts.setting_u64("max_worker_processes").unwrap_or(8);
    let mut work_mem_kb = readable_kb(baseline::work_mem_kb(
        ram_kb,
        shared_buffers_kb,
        sessions + workers,
        options.workload,
        data_size,
    ));
    let maintenance_kb = t.proposed_kb("maintenance_work_mem").unwrap_or(65_536);
    let autovacuum_kb = match t.proposed_kb("autovacuum_work_mem") {
        Some(kb) => kb,
        None => maintenance_kb,
    };
    let autovacuum_workers = t.proposed_u64("autovacuum_max_workers").unwrap_or(3);
    let fixed_kb = shared_buffers_kb + autovacuum_workers * autovacuum_kb;
    if fixed_kb >= ram_kb {
        return Err(TuneError::Unsafe(format!(
            "shared_buffers ({}) and {autovacuum_workers} autovacuum workers x {} already take the machine's {}",
            format_kb(shared_buffers_kb),
            format_kb(autovacuum_kb),
            format_kb(ram_kb)
        )));
    }
    let budget_kb = |work_mem: u64| fixed_kb + (sessions + workers) * work_mem * WORK_MEM_FACTOR;
    if budget_kb(work_mem_kb) > ram_kb {
        work_mem_kb = ((ram_kb - fixed_kb) / ((sessions + workers) * WORK_MEM_FACTOR)).max(64);
        t.notes.push(format!(
            "work_mem was lowered to {} so the worst case fits in RAM",
            format_kb(work_mem_kb)
        ));
    }
    t.propose(
        "work_mem",
        &Value::Kb(work_mem_kb),
        "baseline",
        format!(
            "PGTune's formula with {sessions} sessions ({sessions_from}) plus {workers} worker processes, not max_connections ({max_connections})"
        ),
        vec![count("sessions sized for", sessions), count("max_connections", max_connections)],
        Confidence::Medium,
    );
    let role_extra_kb = temp_files(
        &mut t,
        options,
        work_mem_kb,
        ram_kb.saturating_sub(budget_kb(work_mem_kb)),
    );
    let worst_kb = budget_kb(work_mem_kb) + role_extra_kb;
    if worst_kb > ram_kb {
        return Err(TuneError::Unsafe(format!(
            "the worst case of {} exceeds the machine's {}",
            format_kb(worst_kb),
            format_kb(ram_kb)
        )));
    }
    if pooled {
        t.notes.push(format!(
            "work_mem is sized for {sessions} sessions; behind a pooler the server runs at most its pool size at once, which keeps that true"
        ));
    }
    let pending: Vec<&str> = facts
        .settings
        .iter()
        .filter(|(_, s)| s.pending_restart)
        .map(|(name, _)| name.as_str())
        .collect();
    if !pending.is_empty() {
        t.notes.push(format!(
            "already changed and waiting for a restart: {}",
            pending.join(", ")
        ));
    }
    let memory = MemoryBudget {
        ram_bytes: machine.ram_bytes,
        shared_buffers_bytes: shared_buffers_kb * 1024,
        sessions: sessions + workers,
        sessions_from: format!("{sessions} from {sessions_from}, plus {workers} worker processes"),
        work_mem_bytes: work_mem_kb * 1024,
        work_mem_factor: WORK_MEM_FACTOR,
        autovacuum_workers,
        autovacuum_mem_bytes: autovacuum_kb * 1024,
        role_extra_bytes: role_extra_kb * 1024,
        worst_case_bytes: worst_kb * 1024,
    };
    let Proposals {
        recommendations,
        notes,
        ..
    } = t;
    Ok(Tuning {
        target: Some(target.to_string()),
        version: Some(facts.version.clone()),
        machine: machine.clone(),
        profile: Some(profile),
        recommendations,
        memory: Some(memory),
        notes,
    })
}

pub(crate) struct Proposals<'a> {
    pub(crate) facts: &'a Facts,
    pub(crate) recommendations: Vec<Recommendation>,
    pub(crate) notes: Vec<String>,
}

impl Proposals<'_> {
    /// The value in force after the proposals: the proposed one, else the current one.
    fn proposed_kb(&self, name: &str) -> Option<u64> {
        match self.server_recommendation(name) {
            Some(r) => crate::value::parse_size(&r.proposed).ok().map(|b| b / 1024),
            None => self.facts.setting_kb(name),
        }
    }

    /// Drops a server-wide proposal, for a rule that proposes the same setting from evidence.
    pub(crate) fn withdraw(&mut self, name: &str) {
        self.recommendations
            .retain(|r| !(r.setting == name && r.scope == Scope::Server));
    }

    pub(crate) fn proposed_u64(&self, name: &str) -> Option<u64> {
        match self.server_recommendation(name) {
            Some(r) => r.proposed.parse().ok(),
            None => self.facts.setting_u64(name),
        }
    }

    fn server_recommendation(&self, name: &str) -> Option<&Recommendation> {
        self.recommendations
            .iter()
            .find(|r| r.setting == name && r.scope == Scope::Server)
    }

    /// Adds a server-wide proposal unless the server already has that value, or does not
    /// know the setting (a version without it).
    pub(crate) fn propose(
        &mut self,
        name: &str,
        value: &Value,
        rule: &'static str,
        why: String,
        evidence: Vec<Evidence>,
        confidence: Confidence,
    ) {
        let Some(current) = self.facts.setting(name) else {
            return;
        };
        let same = match value {
            Value::Kb(kb) => self.facts.setting_kb(name) == Some(*kb),
            Value::Int(n) => current.setting.parse::<u64>().ok() == Some(*n),
            Value::Real(x) => current
                .setting
                .parse::<f64>()
                .is_ok_and(|c| (c - x).abs() < 1e-9),
            Value::Text(s) => current.setting.eq_ignore_ascii_case(s),
        };
        if same {
            return;
        }
        let shown = shown_value(&current.setting, current.unit.as_deref());
        let from_auto_conf = current
            .sourcefile
            .as_deref()
            .is_some_and(|f| f.ends_with("postgresql.auto.conf"));
        self.recommendations.push(Recommendation {
            setting: name.to_string(),
            scope: Scope::Server,
            current: Some(shown.clone()),
            proposed: value.to_string(),
            rule,
            why,
            evidence,
            takes: Takes::of_context(&current.context),
            confidence,
            rollback_to: from_auto_conf.then_some(shown),
        });
    }
}

/// A pg_settings value as a person reads it: sizes as PGTune writes them.
fn shown_value(setting: &str, unit: Option<&str>) -> String {
    match setting_kb(setting, unit) {
        Some(kb) => format_kb(kb),
        None => setting.to_string(),
    }
}

/// shared_buffers from the hit ratio when the server has read enough to have one, else the
/// baseline. Returns the value in force after the proposal, in kB.
fn shared_buffers(t: &mut Proposals, options: &LiveOptions, baseline_kb: u64) -> u64 {
    let facts = t.facts;
    let current_kb = facts.setting_kb("shared_buffers").unwrap_or(131_072);
    // pg_stat_io (16+) leaves out the ring buffers of bulk reads, writes and vacuums, which
    // pg_stat_database counts and a larger shared_buffers does not change.
    let io = facts.io.as_deref().and_then(crate::io::io_cache);
    let (hits, reads, source) = match io {
        Some(io) => (io.hits, io.reads, "pg_stat_io, normal context"),
        None => (facts.blks_hit, facts.blks_read, "pg_stat_database"),
    };
    let total = hits + reads;
    let hit_pct = if total > 0 {
        hits as f64 * 100.0 / total as f64
    } else {
        100.0
    };
    let mut evidence = vec![
        Evidence::new(
            format!("buffer hit ratio ({source})"),
            hit_pct,
            Unit::Percent,
        ),
        count("blocks read from outside shared_buffers", reads),
        Evidence::new(
            "size of all databases",
            facts.data_bytes as f64,
            Unit::Bytes,
        ),
        bytes("shared_buffers now", current_kb),
    ];
    if let Some(io) = io {
        evidence.push(count(
            "buffers evicted for another block (pg_stat_io)",
            io.evictions,
        ));
    }
    let measured = reads >= options.cache_min_reads;
    if measured && io.is_none() && facts.version_num < 160_000 {
        t.notes.push("the hit ratio is pg_stat_database's, which counts the ring buffers of bulk reads too; pg_stat_io, which tells them apart, needs PostgreSQL 16".to_string());
    }
    // When all data fits in shared_buffers, misses come from the ring buffers of bulk reads
    // and writes (a seq scan of a large table, COPY, CREATE TABLE AS), which a larger
    // setting does not change.
    let fits = facts.data_bytes <= current_kb * 1024;
    if measured && hit_pct < options.cache_hit_min_pct && !fits {
        if current_kb < baseline_kb {
            t.propose(
                "shared_buffers",
                &Value::Kb(baseline_kb),
                "cache-hit",
                format!(
                    "{hit_pct:.1}% of block reads hit shared_buffers, below {}%: raise it to PGTune's 25% of RAM",
                    options.cache_hit_min_pct
                ),
                evidence,
                Confidence::High,
            );
            return baseline_kb;
        }
        t.notes.push(format!(
            "the buffer hit ratio is {hit_pct:.1}% with shared_buffers already at {} (PGTune's share of RAM or more): the working set is larger than memory; more RAM, or fewer rows read (brisk advise), helps more than a larger setting",
            format_kb(current_kb)
        ));
        return current_kb;
    }
    if measured && fits {
        t.notes.push(format!(
            "shared_buffers stays at {}: all databases ({}) fit in it and {hit_pct:.1}% of reads hit it",
            format_kb(current_kb),
            format_kb(facts.data_bytes / 1024)
        ));
        return current_kb;
    }
    t.propose(
        "shared_buffers",
        &Value::Kb(baseline_kb),
        "baseline",
        baseline_why("shared_buffers").to_string(),
        Vec::new(),
        Confidence::Medium,
    );
    if t.server_recommendation("shared_buffers").is_some() {
        baseline_kb
    } else {
        current_kb
    }
}

/// max_wal_size from requested checkpoints, else the baseline.
fn checkpoints(t: &mut Proposals, options: &LiveOptions, baseline_kb: u64) {
    let facts = t.facts;
    let (timed, requested) = (facts.checkpoints_timed, facts.checkpoints_requested);
    let total = timed + requested;
    let requested_pct = if total > 0 {
        requested as f64 * 100.0 / total as f64
    } else {
        0.0
    };
    let fires = requested >= options.checkpoints_requested_min
        && requested_pct >= options.checkpoints_requested_min_pct;
    if !fires {
        t.propose(
            "max_wal_size",
            &Value::Kb(baseline_kb),
            "baseline",
            baseline_why("max_wal_size").to_string(),
            Vec::new(),
            Confidence::Low,
        );
        return;
    }
    let current_kb = facts.setting_kb("max_wal_size").unwrap_or(1 << 20);
    let timeout_s = facts.setting_u64("checkpoint_timeout").unwrap_or(300);
    let target = facts
        .setting("checkpoint_completion_target")
        .and_then(|s| s.setting.parse::<f64>().ok())
        .unwrap_or(0.9);
    let mut evidence = vec![
        count(
            &format!("requested checkpoints ({})", facts.checkpoints_view),
            requested,
        ),
        count("timed checkpoints", timed),
        Evidence::new("requested share", requested_pct, Unit::Percent),
        bytes("max_wal_size now", current_kb),
    ];
    // WAL the sample saw, kept up for a whole checkpoint_timeout: PostgreSQL starts a
    // checkpoint when WAL since the last one reaches max_wal_size / (1 + completion target).
    let mut needed_kb = 0;
    if let Some(wal) = facts
        .activity
        .wal_bytes
        .filter(|_| facts.activity.seconds > 0.0)
    {
        let rate = wal as f64 / facts.activity.seconds;
        evidence.push(Evidence::new(
            "WAL written per second in the sample",
            rate,
            Unit::Bytes,
        ));
        needed_kb = (rate * timeout_s as f64 * (1.0 + target) / 1024.0) as u64;
    }
    let proposed = round_up_kb(baseline_kb.max(current_kb * 2).max(needed_kb));
    t.propose(
        "max_wal_size",
        &Value::Kb(proposed),
        "checkpoints",
        format!(
            "{requested} of {total} checkpoints were requested, most by WAL reaching max_wal_size, not timed every {timeout_s} s: each is a burst of writes and full-page images. The larger of PGTune's value, twice the current one and the sample's WAL rate over a checkpoint_timeout"
        ),
        evidence,
        Confidence::High,
    );
}

/// A pooler and a smaller max_connections when most sessions sit idle. Returns whether it
/// proposed one.
fn connections(t: &mut Proposals, options: &LiveOptions, machine: &Machine) -> bool {
    let facts = t.facts;
    let a = &facts.activity;
    let max_connections = facts.setting_u64("max_connections").unwrap_or(100);
    if let Some(window) = &facts.proxy {
        if window.transactions() > 0 {
            pool_size(t, window, max_connections);
            return true;
        }
        t.notes.push(format!(
            "brisk proxy's console counted no transactions during the {:.1} s sample: its pools are sized from traffic, so sample while the application runs (--sample-secs)",
            window.seconds
        ));
    }
    let fires = a.peak_idle >= options.idle_min_sessions
        && a.peak_idle as f64 * 100.0 >= options.idle_min_pct * a.peak_connections as f64;
    if !fires {
        return false;
    }
    let reserved = facts
        .setting_u64("superuser_reserved_connections")
        .unwrap_or(3);
    // Behind a transaction pooler the server needs about as many connections as queries run
    // at once; twice the sampled peak (or of the CPUs, 20 at least) leaves room for the
    // bursts a short sample misses, and the reserved ones stay for administrators.
    let pool = (a.peak_active.max(machine.cpus) * 2).max(20);
    let proposed = (pool + reserved).div_ceil(10) * 10;
    let evidence = vec![
        count("idle sessions (peak)", a.peak_idle),
        count("client sessions (peak)", a.peak_connections),
        count("active sessions (peak)", a.peak_active),
        count("max_connections now", max_connections),
    ];
    let why = format!(
        "{} of {} client sessions sat idle during the {:.1} s sample, each a backend holding memory: put a transaction pooler in front (brisk proxy, docs/proxy.md, default_pool_size about {pool}), then lower max_connections",
        a.peak_idle, a.peak_connections, a.seconds
    );
    if proposed < max_connections {
        t.propose(
            "max_connections",
            &Value::Int(proposed),
            "connections",
            why,
            evidence,
            Confidence::High,
        );
    } else {
        t.notes.push(why);
    }
    true
}

/// default_pool_size from the concurrency brisk proxy measured, and the max_connections its
/// pools need.
fn pool_size(t: &mut Proposals, window: &crate::pool::ProxyWindow, max_connections: u64) {
    let facts = t.facts;
    let Some(busiest) = window.databases.iter().max_by_key(|d| d.needed_pool_size) else {
        return;
    };
    let needed = busiest.needed_pool_size;
    let current = window
        .databases
        .iter()
        .map(|d| d.pool_size)
        .max()
        .unwrap_or(0);
    let evidence = vec![
        count(
            "transactions through the proxy in the sample",
            busiest.transactions,
        ),
        Evidence::new("sample", window.seconds, Unit::Seconds),
        Evidence::new(
            "servers busy on average (Little's law)",
            busiest.busy_servers,
            Unit::Count,
        ),
        Evidence::new(
            "clients wanting a server on average",
            busiest.demand,
            Unit::Count,
        ),
        count("servers in use at the end", busiest.servers_in_use),
        count("pool size now", current),
    ];
    let tps = busiest.transactions as f64 / window.seconds.max(1e-9);
    let why = format!(
        "brisk proxy ran {tps:.1} transactions/s for {} during the {:.1} s sample; with their server time and waits, {:.2} clients wanted a server at a time (Little's law, as its /health/detailed computes): {needed} servers hold that at {:.0}% utilization",
        busiest.database,
        window.seconds,
        busiest.demand,
        crate::pool::TARGET_UTILIZATION * 100.0
    );
    if needed != current {
        t.recommendations.push(Recommendation {
            setting: "default_pool_size".to_string(),
            scope: Scope::Proxy,
            current: Some(current.to_string()),
            proposed: needed.to_string(),
            rule: "pool-size",
            why: why.clone(),
            evidence: evidence.clone(),
            takes: Takes::Reload,
            confidence: Confidence::High,
            rollback_to: Some(current.to_string()),
        });
    }
    let reserved = facts
        .setting_u64("superuser_reserved_connections")
        .unwrap_or(3);
    let servers = crate::pool::server_connections(window, needed);
    let proposed = (servers + reserved).div_ceil(10) * 10;
    let mut evidence = evidence;
    evidence.push(count("server connections of the proxy's pools", servers));
    evidence.push(count("max_connections now", max_connections));
    if proposed != max_connections {
        t.propose(
            "max_connections",
            &Value::Int(proposed),
            "pool-size",
            format!(
                "{why}. Every pool full ({servers} server connections with the reserve pools) plus {reserved} reserved for superusers, rounded up to 10; add the clients that bypass the proxy"
            ),
            evidence,
            Confidence::High,
        );
    }
}

/// `ALTER ROLE ... SET work_mem` for the roles that spill, sized from their worst statement
/// and kept within `headroom_kb` of RAM. Returns the memory the role settings add to the
/// worst case, in kB.
fn temp_files(t: &mut Proposals, options: &LiveOptions, global_kb: u64, headroom_kb: u64) -> u64 {
    let facts = t.facts;
    let Some(spills) = &facts.role_spills else {
        if facts.temp_bytes >= options.temp_min_bytes {
            t.notes.push(format!(
                "the databases wrote {} of temp files in {} files, but pg_stat_statements is not installed here, so brisk cannot tell which roles spill; work_mem is not raised for everyone on that evidence (CREATE EXTENSION pg_stat_statements)",
                format_kb(facts.temp_bytes / 1024),
                facts.temp_files
            ));
        }
        return 0;
    };
    let mut left_kb = headroom_kb;
    let mut extra_kb = 0;
    for spill in spills
        .iter()
        .filter(|s| s.temp_bytes >= options.temp_min_bytes)
    {
        // A role's own work_mem wins over the global one in its sessions, so raising the
        // global value does nothing for a role that set a smaller one.
        let own_kb = facts
            .role_work_mem
            .get(&spill.role)
            .and_then(|v| crate::value::parse_size(v).ok().map(|b| b / 1024));
        let wanted_kb = round_up_kb(
            ((spill.worst_bytes_per_call as f64 / 1024.0 * MEMORY_PER_SPILLED_BYTE) as u64)
                .next_power_of_two(),
        );
        let sessions = facts
            .activity
            .peak_active_by_role
            .get(&spill.role)
            .copied()
            .unwrap_or(0)
            .max(1);
        // What this role's sessions add over the global work_mem may not exceed what RAM
        // has left.
        let cap_kb = (global_kb + left_kb / (sessions * WORK_MEM_FACTOR)) / 1024 * 1024;
        let proposed_kb = wanted_kb.min(cap_kb);
        if wanted_kb <= global_kb && own_kb.is_none() {
            t.notes.push(format!(
                "{}'s spills (at most {} per call) fit in the proposed global work_mem of {}",
                spill.role,
                format_kb(spill.worst_bytes_per_call / 1024),
                format_kb(global_kb)
            ));
            continue;
        }
        let effective_kb = match own_kb {
            Some(own) => own,
            None => global_kb,
        };
        if proposed_kb <= effective_kb {
            continue;
        }
        let added = sessions * proposed_kb.saturating_sub(global_kb) * WORK_MEM_FACTOR;
        left_kb = left_kb.saturating_sub(added);
        extra_kb += added;
        let mut why = format!(
            "{}'s statements wrote {} of temp files in {} calls; the worst writes {} per call (\"{}\"). An in-memory sort or hash needs about {MEMORY_PER_SPILLED_BYTE}x its temp file, so this role gets work_mem = {} in its own sessions only. It removes the temp files; it is not always faster: a larger work_mem can turn a parallel sort into a serial one (scripts/bench-tune measured that), so compare EXPLAIN ANALYZE of the statement with SET work_mem first",
            spill.role,
            format_kb(spill.temp_bytes / 1024),
            spill.calls,
            format_kb(spill.worst_bytes_per_call / 1024),
            shorten(&spill.worst_query),
            format_kb(proposed_kb)
        );
        if proposed_kb < wanted_kb {
            why.push_str(&format!(
                " (it would need {}; that much for {sessions} sessions would not fit in RAM)",
                format_kb(wanted_kb)
            ));
        }
        let current = facts.role_work_mem.get(&spill.role).cloned();
        let global_now = facts
            .setting_kb("work_mem")
            .map_or_else(|| "?".to_string(), format_kb);
        t.recommendations.push(Recommendation {
            setting: "work_mem".to_string(),
            scope: Scope::Role(spill.role.clone()),
            current: Some(
                current
                    .clone()
                    .unwrap_or_else(|| format!("{global_now} (global)")),
            ),
            proposed: format_kb(proposed_kb),
            rule: "temp-files",
            why,
            evidence: vec![
                Evidence::new(
                    "temp bytes written by the role",
                    spill.temp_bytes as f64,
                    Unit::Bytes,
                ),
                count("calls that wrote temp files", spill.calls),
                Evidence::new(
                    "worst temp bytes per call",
                    spill.worst_bytes_per_call as f64,
                    Unit::Bytes,
                ),
                count("active sessions of the role (peak)", sessions),
            ],
            takes: Takes::Reload,
            confidence: Confidence::High,
            rollback_to: current,
        });
    }
    extra_kb
}

fn shorten(query: &str) -> String {
    let one_line: String = query.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(80) {
        Some((i, _)) => format!("{}...", &one_line[..i]),
        None => one_line,
    }
}

/// Whether a server whose `wal_compression` accepts `accepted` (`pg_settings.enumvals`) was
/// built without lz4. Unknown (an empty list, as on servers before 15) is not "without".
fn built_without_lz4(accepted: &[String]) -> bool {
    !accepted.is_empty() && !accepted.iter().any(|v| v == "lz4")
}

#[cfg(test)]
mod tests {
    use super::built_without_lz4;

    #[test]
    fn lz4_is_proposed_only_where_the_build_accepts_it() {
        let list = |values: &[&str]| values.iter().map(|v| v.to_string()).collect::<Vec<_>>();
        // Debian's and PGDG's builds: pglz, lz4 and zstd.
        assert!(!built_without_lz4(&list(&[
            "pglz", "lz4", "zstd", "on", "off"
        ])));
        // A source build without --with-lz4.
        assert!(built_without_lz4(&list(&["pglz", "on", "off"])));
        assert!(!built_without_lz4(&[]));
    }
}
