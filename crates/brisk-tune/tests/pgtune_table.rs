//! brisk's offline baseline against PGTune on 13 machine profiles.
//!
//! How the expected values were computed: PGTune's selectors
//! (`src/features/configuration/configurationSlice.js` of le0pard/pgtune, commit 7caef27)
//! were evaluated under node with each profile below as the form's input (Linux), and the
//! settings PGTune prints were copied here, formatted as PGTune formats them (GB or MB when
//! whole, else kB). One row by hand, the first: work_mem = (16 GB − 4 GB) in kB / ((200
//! connections + 4 worker processes) × 3) = 12,582,912 / 612 = 20,560 kB; wal_buffers = 3%
//! of 4 GB, capped at 16 MB.
//!
//! The rows vary every input: RAM from 512 MB to 256 GB, no CPU count and 1 to 64 CPUs, the
//! default and given connections, the four disks, the five workloads, versions 10 to 18, and
//! the three data sizes, so each branch of each formula is taken at least once (the 4 MB
//! floor of work_mem, the 8 GB cap of maintenance_work_mem, the 14-16 MB rounding of
//! wal_buffers, parallel settings from 4 CPUs, autovacuum from 16 and 32 CPUs, dw's uncapped
//! workers per gather).

use std::collections::BTreeMap;

use brisk_tune::baseline::{baseline, DataSize, Disk, Profile, Workload};

struct Row {
    ram: &'static str,
    cpus: Option<u64>,
    connections: Option<u64>,
    disk: Disk,
    workload: Workload,
    version: u32,
    data: DataSize,
    pgtune: &'static str,
}

use DataSize::{LessThanRam as Less, MoreThan3xRam as More, UpTo3xRam as Mid};
use Disk::*;
use Workload::*;

const ROWS: &[Row] = &[
    Row { ram: "16GB", cpus: Some(4), connections: Some(200), disk: Ssd, workload: Web, version: 15, data: Mid,
        pgtune: "max_connections=200 shared_buffers=4GB effective_cache_size=12GB maintenance_work_mem=1GB checkpoint_completion_target=0.9 wal_buffers=16MB default_statistics_target=100 random_page_cost=1.1 effective_io_concurrency=200 work_mem=20560kB huge_pages=try jit=off wal_compression=lz4 min_wal_size=1GB max_wal_size=4GB max_worker_processes=4 max_parallel_workers_per_gather=2 max_parallel_workers=4 max_parallel_maintenance_workers=2" },
    Row { ram: "8GB", cpus: Some(2), connections: None, disk: Hdd, workload: Oltp, version: 14, data: Mid,
        pgtune: "max_connections=300 shared_buffers=2GB effective_cache_size=6GB maintenance_work_mem=512MB checkpoint_completion_target=0.9 wal_buffers=16MB default_statistics_target=100 random_page_cost=4 effective_io_concurrency=2 work_mem=6808kB huge_pages=try jit=off wal_compression=on min_wal_size=2GB max_wal_size=8GB" },
    Row { ram: "64GB", cpus: Some(16), connections: Some(100), disk: San, workload: Dw, version: 16, data: More,
        pgtune: "max_connections=100 shared_buffers=16GB effective_cache_size=48GB maintenance_work_mem=8GB checkpoint_completion_target=0.9 wal_buffers=16MB default_statistics_target=500 random_page_cost=4 effective_io_concurrency=300 work_mem=65083kB huge_pages=try wal_compression=lz4 autovacuum_max_workers=4 autovacuum_work_mem=2GB min_wal_size=4GB max_wal_size=16GB max_worker_processes=16 max_parallel_workers_per_gather=8 max_parallel_workers=16 max_parallel_maintenance_workers=4" },
    Row { ram: "4GB", cpus: None, connections: Some(20), disk: Ssd, workload: Desktop, version: 13, data: Less,
        pgtune: "max_connections=20 shared_buffers=256MB effective_cache_size=1GB maintenance_work_mem=256MB checkpoint_completion_target=0.9 wal_buffers=7864kB default_statistics_target=100 random_page_cost=1.1 effective_io_concurrency=200 work_mem=10141kB huge_pages=off wal_compression=on min_wal_size=100MB max_wal_size=2GB wal_level=minimal max_wal_senders=0" },
    Row { ram: "32GB", cpus: Some(8), connections: Some(100), disk: Nvme, workload: Mixed, version: 17, data: Mid,
        pgtune: "max_connections=100 shared_buffers=8GB effective_cache_size=24GB maintenance_work_mem=2GB checkpoint_completion_target=0.9 wal_buffers=16MB default_statistics_target=100 random_page_cost=1.1 effective_io_concurrency=1000 work_mem=38836kB huge_pages=try jit=off wal_compression=lz4 autovacuum_work_mem=2GB min_wal_size=1GB max_wal_size=4GB max_worker_processes=8 max_parallel_workers_per_gather=4 max_parallel_workers=8 max_parallel_maintenance_workers=4" },
    Row { ram: "1GB", cpus: Some(1), connections: Some(50), disk: Hdd, workload: Web, version: 11, data: Less,
        pgtune: "max_connections=50 shared_buffers=256MB effective_cache_size=768MB maintenance_work_mem=64MB checkpoint_completion_target=0.9 wal_buffers=7864kB default_statistics_target=100 random_page_cost=1.1 effective_io_concurrency=2 work_mem=5874kB huge_pages=off wal_compression=on min_wal_size=1GB max_wal_size=4GB" },
    Row { ram: "128GB", cpus: Some(32), connections: Some(500), disk: Ssd, workload: Oltp, version: 18, data: More,
        pgtune: "max_connections=500 shared_buffers=32GB effective_cache_size=96GB maintenance_work_mem=8GB checkpoint_completion_target=0.9 wal_buffers=16MB default_statistics_target=100 random_page_cost=1.1 effective_io_concurrency=200 work_mem=56764kB huge_pages=try jit=off wal_compression=lz4 autovacuum_max_workers=5 autovacuum_work_mem=2GB io_method=io_uring min_wal_size=2GB max_wal_size=8GB max_worker_processes=32 max_parallel_workers_per_gather=4 max_parallel_workers=32 max_parallel_maintenance_workers=4" },
    Row { ram: "2GB", cpus: Some(4), connections: Some(100), disk: Ssd, workload: Dw, version: 10, data: Less,
        pgtune: "max_connections=100 shared_buffers=512MB effective_cache_size=1536MB maintenance_work_mem=256MB checkpoint_completion_target=0.9 wal_buffers=16MB default_statistics_target=500 random_page_cost=1.1 effective_io_concurrency=200 work_mem=4MB huge_pages=off wal_compression=on min_wal_size=4GB max_wal_size=16GB max_worker_processes=4 max_parallel_workers_per_gather=2 max_parallel_workers=4" },
    Row { ram: "24GB", cpus: Some(6), connections: Some(150), disk: Hdd, workload: Mixed, version: 12, data: More,
        pgtune: "max_connections=150 shared_buffers=6GB effective_cache_size=18GB maintenance_work_mem=1536MB checkpoint_completion_target=0.9 wal_buffers=16MB default_statistics_target=100 random_page_cost=4 effective_io_concurrency=2 work_mem=18147kB huge_pages=try jit=off wal_compression=on min_wal_size=1GB max_wal_size=4GB max_worker_processes=6 max_parallel_workers_per_gather=3 max_parallel_workers=6 max_parallel_maintenance_workers=3" },
    Row { ram: "512MB", cpus: Some(2), connections: Some(30), disk: Ssd, workload: Desktop, version: 15, data: Mid,
        pgtune: "max_connections=30 shared_buffers=32MB effective_cache_size=128MB maintenance_work_mem=32MB checkpoint_completion_target=0.9 wal_buffers=983kB default_statistics_target=100 random_page_cost=1.1 effective_io_concurrency=200 work_mem=4MB huge_pages=off wal_compression=lz4 min_wal_size=100MB max_wal_size=2GB wal_level=minimal max_wal_senders=0" },
    Row { ram: "256GB", cpus: Some(64), connections: Some(1000), disk: Nvme, workload: Dw, version: 16, data: Mid,
        pgtune: "max_connections=1000 shared_buffers=64GB effective_cache_size=192GB maintenance_work_mem=8GB checkpoint_completion_target=0.9 wal_buffers=16MB default_statistics_target=500 random_page_cost=4 effective_io_concurrency=1000 work_mem=31536kB huge_pages=try wal_compression=lz4 autovacuum_max_workers=5 autovacuum_work_mem=2GB min_wal_size=4GB max_wal_size=16GB max_worker_processes=64 max_parallel_workers_per_gather=32 max_parallel_workers=64 max_parallel_maintenance_workers=4" },
    Row { ram: "48GB", cpus: Some(12), connections: Some(300), disk: San, workload: Web, version: 13, data: Less,
        pgtune: "max_connections=300 shared_buffers=12GB effective_cache_size=36GB maintenance_work_mem=3GB checkpoint_completion_target=0.9 wal_buffers=16MB default_statistics_target=100 random_page_cost=1.1 effective_io_concurrency=300 work_mem=52427kB huge_pages=try jit=off wal_compression=on autovacuum_work_mem=2GB min_wal_size=1GB max_wal_size=4GB max_worker_processes=12 max_parallel_workers_per_gather=4 max_parallel_workers=12 max_parallel_maintenance_workers=4" },
    Row { ram: "3GB", cpus: Some(5), connections: None, disk: Hdd, workload: Dw, version: 18, data: Mid,
        pgtune: "max_connections=40 shared_buffers=768MB effective_cache_size=2304MB maintenance_work_mem=384MB checkpoint_completion_target=0.9 wal_buffers=16MB default_statistics_target=500 random_page_cost=4 effective_io_concurrency=2 work_mem=8738kB huge_pages=off wal_compression=lz4 io_method=io_uring min_wal_size=4GB max_wal_size=16GB max_worker_processes=5 max_parallel_workers_per_gather=3 max_parallel_workers=5 max_parallel_maintenance_workers=3" },
];

#[test]
fn offline_baseline_equals_pgtune_on_every_profile() {
    for row in ROWS {
        let profile = Profile {
            ram_bytes: brisk_tune::value::parse_size(row.ram).unwrap(),
            cpus: row.cpus,
            connections: row.connections,
            disk: row.disk,
            workload: row.workload,
            pg_major: row.version,
            data_size: row.data,
        };
        let ours: BTreeMap<String, String> = baseline(&profile)
            .into_iter()
            .map(|s| (s.name.to_string(), s.value.to_string()))
            .collect();
        let theirs: BTreeMap<String, String> = row
            .pgtune
            .split_whitespace()
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect();
        assert_eq!(
            ours, theirs,
            "profile {} {:?} {:?}",
            row.ram, row.workload, row.disk
        );
    }
}
