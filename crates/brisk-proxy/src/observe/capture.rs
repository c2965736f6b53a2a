//! The workload capture: sampled statements as JSON lines in the Workload format
//! (docs/workload.md), for `brisk advise --workload` and the bench.
//!
//! The statistics thread hands each line to a writer thread through a bounded channel; a full
//! channel drops the line and counts it, so a slow disk never holds up the statistics, and
//! the statistics never hold up the relay. The file stops growing at `capture_max_mb`.

use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use brisk_workload::QuerySample;

/// Lines waiting for the writer.
const CHANNEL_CAPACITY: usize = 16 * 1024;

pub struct Capture {
    sender: SyncSender<String>,
    dropped: Arc<AtomicU64>,
    sample: f64,
    /// xorshift64 state for sampling: cheap, and no need to be unpredictable.
    rng: u64,
    /// When the capture began: `at_ms` counts from here.
    opened: Instant,
}

impl Capture {
    /// Opens (appends to, or creates with owner-only permissions) the capture file and
    /// starts its writer.
    pub fn open(path: &Path, sample: f64, max_bytes: u64) -> std::io::Result<Capture> {
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path)?;
        let already = file.metadata().map(|m| m.len()).unwrap_or(0);
        let (sender, receiver) = sync_channel::<String>(CHANNEL_CAPACITY);
        let dropped = Arc::new(AtomicU64::new(0));
        let path: PathBuf = path.to_path_buf();
        std::thread::Builder::new()
            .name("brisk-capture".into())
            .spawn(move || {
                let mut out = BufWriter::new(file);
                let mut written = already;
                let mut full = false;
                loop {
                    let line = match receiver.recv_timeout(Duration::from_secs(1)) {
                        Ok(line) => line,
                        Err(RecvTimeoutError::Timeout) => {
                            let _ = out.flush();
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => {
                            let _ = out.flush();
                            return;
                        }
                    };
                    if full {
                        continue;
                    }
                    if written + line.len() as u64 + 1 > max_bytes {
                        full = true;
                        let _ = out.flush();
                        tracing::warn!(path = %path.display(), "capture_file reached capture_max_mb: capture stopped");
                        continue;
                    }
                    let result = out
                        .write_all(line.as_bytes())
                        .and_then(|_| out.write_all(b"\n"));
                    if let Err(e) = result {
                        full = true;
                        tracing::warn!(path = %path.display(), error = %e, "cannot write capture_file: capture stopped");
                        continue;
                    }
                    written += line.len() as u64 + 1;
                }
            })?;
        Ok(Capture {
            sender,
            dropped,
            sample,
            rng: 0x9E37_79B9_7F4A_7C15 ^ u64::from(std::process::id()),
            opened: Instant::now(),
        })
    }

    /// Whether the next statement is one of the sampled share.
    pub fn sampled(&mut self) -> bool {
        if self.sample >= 1.0 {
            return true;
        }
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        ((self.rng >> 11) as f64 / (1u64 << 53) as f64) < self.sample
    }

    /// Milliseconds from the capture's start to `at` (0 for a statement that began before
    /// it: the capture opens as the proxy starts, before any client).
    pub fn offset_ms(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.opened).as_secs_f64() * 1000.0
    }

    pub fn write(&self, sample: &QuerySample) {
        // Strings and numbers only: serializing cannot fail.
        let Ok(line) = serde_json::to_string(sample) else {
            return;
        };
        if self.sender.try_send(line).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}
