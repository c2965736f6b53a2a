//! A throwaway Redis server.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::binaries::find_on_path;
use crate::keeper::{Keeper, StopSignal};
use crate::{free_port, log_tail, SandboxError};

/// Redis starts in milliseconds; this only guards against a wedged machine.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running throwaway Redis. Dropping it stops the server and deletes its files.
pub struct Redis {
    port: u16,
    dir: Mutex<Option<tempfile::TempDir>>,
    keeper: Mutex<Option<Keeper>>,
}

impl Redis {
    /// Starts a Redis with persistence off, listening on a free loopback port.
    pub fn start() -> Result<Redis, SandboxError> {
        let binary = find_on_path("redis-server").ok_or(SandboxError::MissingBinary {
            binary: "redis-server",
            package: "redis-server",
        })?;
        let dir = tempfile::Builder::new()
            .prefix("brisk-redis-")
            .tempdir()
            .map_err(SandboxError::io("creating the sandbox directory"))?;
        let root = dir.path().to_path_buf();
        crate::register_dir(&root);
        let started = Self::start_in(&binary, dir);
        if started.is_err() {
            crate::unregister_dir(&root);
        }
        started
    }

    fn start_in(binary: &std::path::Path, dir: tempfile::TempDir) -> Result<Redis, SandboxError> {
        let log = dir.path().join("redis.log");
        let mut last_error = None;
        for _attempt in 0..5 {
            let port = free_port()?;
            let mut command = Command::new(binary);
            command
                .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .args(["--protected-mode", "no"])
                .arg("--dir")
                .arg(dir.path())
                .arg("--logfile")
                .arg(&log)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // SIGTERM makes Redis exit cleanly (it would save a snapshot, but saving is off).
            let stop = StopSignal {
                signal: libc::SIGTERM,
                grace: Duration::from_secs(5),
            };
            let keeper = Keeper::spawn(command, "redis", libc::SIGTERM, stop)?;
            crate::register_pid(dir.path(), keeper.pid());
            let started = Instant::now();
            loop {
                if ping(port) {
                    return Ok(Redis {
                        port,
                        dir: Mutex::new(Some(dir)),
                        keeper: Mutex::new(Some(keeper)),
                    });
                }
                if keeper.has_exited() {
                    let tail = log_tail(&log);
                    keeper.stop();
                    let port_taken = tail.contains("Address already in use");
                    let error = SandboxError::Exited {
                        server: "redis-server",
                        log_tail: tail,
                    };
                    if !port_taken {
                        return Err(error);
                    }
                    last_error = Some(error);
                    break;
                }
                if started.elapsed() > START_TIMEOUT {
                    keeper.stop();
                    return Err(SandboxError::StartTimeout {
                        server: "redis-server",
                        seconds: START_TIMEOUT.as_secs(),
                        log_tail: log_tail(&log),
                    });
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Err(last_error.unwrap_or(SandboxError::Command {
            what: "starting redis-server".into(),
            detail: "no free port".into(),
        }))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The directory holding the server's files, while it runs.
    pub fn dir(&self) -> Option<PathBuf> {
        self.dir
            .lock()
            .ok()
            .and_then(|d| d.as_ref().map(|d| d.path().to_path_buf()))
    }

    /// Stops the server and deletes its files. Idempotent; also run on drop.
    pub fn shutdown(&self) {
        let dir = self.dir.lock().ok().and_then(|mut d| d.take());
        // Forget the server first, so a concurrent stop_all cannot signal a reused pid.
        if let Some(dir) = &dir {
            crate::unregister_dir(dir.path());
        }
        if let Some(keeper) = self.keeper.lock().ok().and_then(|mut k| k.take()) {
            keeper.stop();
        }
        if let Some(dir) = dir {
            let _ = dir.close();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Sends an inline PING and expects `+PONG`.
fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}
