//! A throwaway Redis server, alone or as the nodes of a local Redis Cluster.

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
    /// `requirepass`, when the sandbox was started with one.
    password: Option<String>,
    dir: Mutex<Option<tempfile::TempDir>>,
    keeper: Mutex<Option<Keeper>>,
}

/// How long `redis-cli --cluster create` and the gossip that follows may take.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(30);

impl Redis {
    /// Starts a Redis with persistence off, listening on a free loopback port.
    pub fn start() -> Result<Redis, SandboxError> {
        Self::start_with(None, &[])
    }

    /// Starts a Redis whose default user needs `password` (`requirepass`).
    pub fn start_with_password(password: &str) -> Result<Redis, SandboxError> {
        Self::start_with(Some(password), &[])
    }

    /// Starts a Redis with extra `redis-server` arguments (a TLS port and its certificates,
    /// say) on top of the sandbox's own.
    pub fn start_with_args(args: &[&str]) -> Result<Redis, SandboxError> {
        Self::start_with(None, args)
    }

    /// Starts `nodes` cluster-enabled servers and joins them into one Redis Cluster, each node
    /// a primary that owns a share of the 16,384 slots (no replicas). Returns when every node
    /// reports `cluster_state:ok`. Dropping the nodes stops the cluster.
    pub fn start_cluster(nodes: usize) -> Result<Vec<Redis>, SandboxError> {
        let mut servers = Vec::with_capacity(nodes);
        for _ in 0..nodes {
            // A short node timeout so a test that stops a node sees the cluster notice soon.
            servers.push(Self::start_with(
                None,
                &["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"],
            )?);
        }
        let mut create = vec!["--cluster".to_string(), "create".to_string()];
        create.extend(servers.iter().map(|s| format!("127.0.0.1:{}", s.port)));
        create.extend(["--cluster-replicas", "0", "--cluster-yes"].map(String::from));
        let args: Vec<&str> = create.iter().map(String::as_str).collect();
        servers[0].cli(&args)?;
        let started = Instant::now();
        loop {
            let mut all_ok = true;
            for server in &servers {
                let info = server.cli(&["CLUSTER", "INFO"])?;
                all_ok &= info.contains("cluster_state:ok");
            }
            if all_ok {
                return Ok(servers);
            }
            if started.elapsed() > CLUSTER_TIMEOUT {
                return Err(SandboxError::StartTimeout {
                    server: "redis cluster",
                    seconds: CLUSTER_TIMEOUT.as_secs(),
                    log_tail: servers[0].cli(&["CLUSTER", "INFO"])?,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn start_with(password: Option<&str>, extra_args: &[&str]) -> Result<Redis, SandboxError> {
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
        let started = Self::start_in(&binary, dir, password, extra_args);
        if started.is_err() {
            crate::unregister_dir(&root);
        }
        started
    }

    fn start_in(
        binary: &std::path::Path,
        dir: tempfile::TempDir,
        password: Option<&str>,
        extra_args: &[&str],
    ) -> Result<Redis, SandboxError> {
        let log = dir.path().join("redis.log");
        let mut last_error = None;
        for _attempt in 0..5 {
            let port = free_port()?;
            let mut command = Command::new(binary);
            command
                .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .args(["--protected-mode", "no"])
                // Tests plant data and slow commands with DEBUG POPULATE and DEBUG SLEEP; a
                // throwaway server on loopback has nothing to protect from them.
                .args(["--enable-debug-command", "local"])
                .args(extra_args)
                .arg("--dir")
                .arg(dir.path())
                .arg("--logfile")
                .arg(&log)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if let Some(password) = password {
                command.args(["--requirepass", password]);
            }
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
                        password: password.map(String::from),
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

    /// `redis://127.0.0.1:PORT`, with `:PASSWORD@` when the server has one.
    pub fn url(&self) -> String {
        match &self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.keeper
            .lock()
            .ok()
            .and_then(|k| k.as_ref().map(|k| k.pid()))
    }

    /// Runs `redis-cli` against this server (as its default user) with `args`, and returns
    /// what it printed. Tests plant data with it, as the PostgreSQL sandbox does with `psql`.
    pub fn cli(&self, args: &[&str]) -> Result<String, SandboxError> {
        self.cli_with_input(args, "")
    }

    /// As [`Redis::cli`], with `input` on redis-cli's standard input (one command a line).
    pub fn cli_with_input(&self, args: &[&str], input: &str) -> Result<String, SandboxError> {
        let binary = find_on_path("redis-cli").ok_or(SandboxError::MissingBinary {
            binary: "redis-cli",
            package: "redis-tools",
        })?;
        let mut command = Command::new(binary);
        command.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(password) = &self.password {
            // REDISCLI_AUTH keeps the password off the command line, and redis-cli quiet.
            command.env("REDISCLI_AUTH", password);
        }
        let mut child = command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(SandboxError::io("running redis-cli"))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(input.as_bytes())
                .map_err(SandboxError::io("writing to redis-cli"))?;
        }
        let output = child
            .wait_with_output()
            .map_err(SandboxError::io("running redis-cli"))?;
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        // redis-cli exits 0 on a server error reply when run with arguments; catch those too.
        if !output.status.success() || stdout.starts_with("ERR") || stdout.starts_with("(error)") {
            return Err(SandboxError::Command {
                what: format!("redis-cli {}", args.join(" ")),
                detail: format!("{stdout}{}", String::from_utf8_lossy(&output.stderr))
                    .trim()
                    .to_string(),
            });
        }
        Ok(stdout)
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

/// Sends an inline PING and expects `+PONG`, or `-NOAUTH` from a server with a password
/// (it answers, so it is ready).
fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).is_ok()
        && (&reply == b"+PONG\r\n" || reply.starts_with(b"-NOAUTH"))
}
