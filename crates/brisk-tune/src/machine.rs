//! The RAM and CPUs the server may use: from flags, or read on the database's own host,
//! through the server process's cgroup (v1 or v2) so a container's limit wins over the
//! host's size (timescaledb-tune #58 is that bug).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::TuneError;

/// How much the server may use, and where brisk learned it.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub ram_bytes: u64,
    pub cpus: u64,
    /// Said in the report: "--ram and --cpus", or the files read.
    pub source: String,
}

/// The machine to tune for: `--ram` and `--cpus` when both are given; otherwise what
/// [`detect`] finds for the server's backend `pid`, with either flag replacing its part. A
/// server that is not on this machine needs both flags: brisk does not guess.
pub fn resolve(
    ram_bytes: Option<u64>,
    cpus: Option<u64>,
    root: &Path,
    pid: u32,
) -> Result<Machine, TuneError> {
    if let (Some(ram_bytes), Some(cpus)) = (ram_bytes, cpus) {
        return Ok(Machine {
            ram_bytes,
            cpus,
            source: "--ram and --cpus".to_string(),
        });
    }
    let found = detect(root, pid).ok_or_else(|| {
        TuneError::MachineUnknown(format!(
            "the server's process (pid {pid}) is not on this machine"
        ))
    })?;
    Ok(Machine {
        ram_bytes: ram_bytes.unwrap_or(found.ram_bytes),
        cpus: cpus.unwrap_or(found.cpus),
        source: match (ram_bytes, cpus) {
            (Some(_), _) => format!("--ram; CPUs from {}", found.source),
            (_, Some(_)) => format!("--cpus; RAM from {}", found.source),
            _ => found.source,
        },
    })
}

/// Reads the limits of process `pid` (a PostgreSQL backend) under `root` (`/` on a real
/// system; tests pass a directory shaped like one). `None` when the process is not a
/// postgres process visible here: the server runs on another host, or in another PID
/// namespace, whose numbers brisk must not take for the server's.
pub fn detect(root: &Path, pid: u32) -> Option<Machine> {
    let proc_dir = root.join("proc").join(pid.to_string());
    let cmdline = std::fs::read(proc_dir.join("cmdline")).ok()?;
    if !String::from_utf8_lossy(&cmdline).contains("postgres") {
        return None;
    }
    let host_ram = meminfo_total(&std::fs::read_to_string(root.join("proc/meminfo")).ok()?)?;
    let host_cpus = online_cpus(root)?;
    let cgroups = std::fs::read_to_string(proc_dir.join("cgroup")).unwrap_or_default();
    let limits = cgroup_limits(root, &cgroups);
    let ram_bytes = limits.memory.map_or(host_ram, |m| m.min(host_ram));
    let cpus = limits.cpus.map_or(host_cpus, |c| c.min(host_cpus)).max(1);
    let mut source =
        format!("/proc/meminfo and the online CPUs of the server's host (backend pid {pid})");
    if !limits.read.is_empty() {
        let files: Vec<String> = limits
            .read
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        source.push_str(&format!(", limited by its cgroup: {}", files.join(", ")));
    }
    Some(Machine {
        ram_bytes,
        cpus,
        source,
    })
}

fn meminfo_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Counts `/sys/devices/system/cpu/online` ("0-3,8-11").
fn online_cpus(root: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(root.join("sys/devices/system/cpu/online")).ok()?;
    let mut count = 0;
    for part in text.trim().split(',') {
        match part.split_once('-') {
            Some((a, b)) => count += b.parse::<u64>().ok()? + 1 - a.parse::<u64>().ok()?,
            None => {
                part.parse::<u64>().ok()?;
                count += 1;
            }
        }
    }
    (count > 0).then_some(count)
}

#[derive(Debug, Default)]
struct CgroupLimits {
    memory: Option<u64>,
    cpus: Option<u64>,
    read: Vec<PathBuf>,
}

/// Walks the process's cgroup and its parents (a limit on a parent binds the child), in
/// the v2 unified hierarchy (`0::/path`) and in v1's memory and cpu controllers.
fn cgroup_limits(root: &Path, proc_cgroup: &str) -> CgroupLimits {
    let mut limits = CgroupLimits::default();
    for line in proc_cgroup.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let controllers: Vec<&str> = controllers.split(',').collect();
        if controllers == [""] {
            let base = root.join("sys/fs/cgroup");
            for dir in ancestors(&base, path) {
                if let Some(bytes) = read_number(&dir.join("memory.max")) {
                    take_min(&mut limits.memory, bytes);
                    limits.read.push(dir.join("memory.max"));
                }
                if let Some(cpus) = cpu_max_v2(&dir.join("cpu.max")) {
                    take_min(&mut limits.cpus, cpus);
                    limits.read.push(dir.join("cpu.max"));
                }
            }
        }
        if controllers.contains(&"memory") {
            let base = root.join("sys/fs/cgroup/memory");
            for dir in ancestors(&base, path) {
                // v1 writes "no limit" as a huge number near i64::MAX, rounded to pages.
                if let Some(bytes) =
                    read_number(&dir.join("memory.limit_in_bytes")).filter(|&b| b < (1 << 60))
                {
                    take_min(&mut limits.memory, bytes);
                    limits.read.push(dir.join("memory.limit_in_bytes"));
                }
            }
        }
        if controllers.contains(&"cpu") {
            let base = root.join(if controllers.contains(&"cpuacct") {
                "sys/fs/cgroup/cpu,cpuacct"
            } else {
                "sys/fs/cgroup/cpu"
            });
            for dir in ancestors(&base, path) {
                let quota = std::fs::read_to_string(dir.join("cpu.cfs_quota_us"))
                    .ok()
                    .and_then(|q| q.trim().parse::<i64>().ok());
                let period = read_number(&dir.join("cpu.cfs_period_us"));
                if let (Some(quota), Some(period)) = (quota, period) {
                    if quota > 0 && period > 0 {
                        take_min(&mut limits.cpus, (quota as u64).div_ceil(period));
                        limits.read.push(dir.join("cpu.cfs_quota_us"));
                    }
                }
            }
        }
    }
    limits
}

/// `base/a/b`, `base/a`, `base`, for the cgroup path `/a/b`.
fn ancestors(base: &Path, cgroup_path: &str) -> Vec<PathBuf> {
    let mut dirs = vec![base.to_path_buf()];
    let mut dir = base.to_path_buf();
    for part in cgroup_path
        .split('/')
        .filter(|p| !p.is_empty() && *p != "..")
    {
        dir = dir.join(part);
        dirs.push(dir.clone());
    }
    dirs.reverse();
    dirs
}

fn read_number(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// cgroup v2's `cpu.max`: "max 100000" (no limit) or "200000 100000" (2 CPUs), rounded up.
fn cpu_max_v2(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut fields = text.split_whitespace();
    let quota: u64 = fields.next()?.parse().ok()?;
    let period: u64 = fields.next()?.parse().ok()?;
    (period > 0).then(|| quota.div_ceil(period).max(1))
}

fn take_min(slot: &mut Option<u64>, value: u64) {
    *slot = Some(slot.map_or(value, |old| old.min(value)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, path: &str, text: &str) {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn host(root: &Path, cgroup: &str) {
        write(root, "proc/77/cmdline", "postgres: app app [local] idle\0");
        write(root, "proc/77/cgroup", cgroup);
        write(
            root,
            "proc/meminfo",
            "MemTotal:       65536000 kB\nMemFree: 1 kB\n",
        );
        write(root, "sys/devices/system/cpu/online", "0-15\n");
    }

    #[test]
    fn a_v2_container_limit_wins_over_the_host() {
        let dir = tempfile::tempdir().unwrap();
        host(dir.path(), "0::/docker/abc\n");
        write(
            dir.path(),
            "sys/fs/cgroup/docker/abc/memory.max",
            "4294967296\n",
        );
        write(
            dir.path(),
            "sys/fs/cgroup/docker/abc/cpu.max",
            "250000 100000\n",
        );
        write(dir.path(), "sys/fs/cgroup/docker/memory.max", "max\n");
        let machine = detect(dir.path(), 77).unwrap();
        assert_eq!(machine.ram_bytes, 4 << 30);
        assert_eq!(machine.cpus, 3);
        assert!(machine.source.contains("memory.max"), "{}", machine.source);
    }

    #[test]
    fn a_v1_limit_on_a_parent_binds_and_no_limit_means_the_host() {
        let dir = tempfile::tempdir().unwrap();
        host(
            dir.path(),
            "5:memory:/kubepods/pod1/c1\n4:cpu,cpuacct:/kubepods/pod1/c1\n",
        );
        write(
            dir.path(),
            "sys/fs/cgroup/memory/kubepods/pod1/memory.limit_in_bytes",
            "2147483648\n",
        );
        write(
            dir.path(),
            "sys/fs/cgroup/memory/kubepods/pod1/c1/memory.limit_in_bytes",
            "9223372036854771712\n",
        );
        write(
            dir.path(),
            "sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/c1/cpu.cfs_quota_us",
            "-1\n",
        );
        write(
            dir.path(),
            "sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/c1/cpu.cfs_period_us",
            "100000\n",
        );
        let machine = detect(dir.path(), 77).unwrap();
        assert_eq!(machine.ram_bytes, 2 << 30);
        assert_eq!(machine.cpus, 16);

        let bare = tempfile::tempdir().unwrap();
        host(bare.path(), "0::/\n");
        let machine = detect(bare.path(), 77).unwrap();
        assert_eq!(machine.ram_bytes, 65_536_000 * 1024);
        assert_eq!(machine.cpus, 16);
    }

    #[test]
    fn a_pid_that_is_not_postgres_here_is_not_the_server() {
        let dir = tempfile::tempdir().unwrap();
        host(dir.path(), "0::/\n");
        write(dir.path(), "proc/78/cmdline", "bash\0");
        assert!(detect(dir.path(), 78).is_none());
        assert!(detect(dir.path(), 79).is_none());
        // Not here: both flags are needed, one is not enough.
        assert!(resolve(Some(1 << 30), None, dir.path(), 78).is_err());
        let given = resolve(Some(1 << 30), Some(2), dir.path(), 78).unwrap();
        assert_eq!((given.ram_bytes, given.cpus), (1 << 30, 2));
        // Here: a flag replaces only its part.
        let mixed = resolve(None, Some(3), dir.path(), 77).unwrap();
        assert_eq!((mixed.ram_bytes, mixed.cpus), (65_536_000 * 1024, 3));
    }
}
