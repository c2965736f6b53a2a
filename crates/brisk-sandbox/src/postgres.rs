//! A throwaway PostgreSQL cluster.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::keeper::{Keeper, StopSignal};
use crate::{free_port, log_tail, PgBinaries, SandboxError};

/// The superuser of every sandbox cluster.
pub const SUPERUSER: &str = "postgres";

/// How long a server gets to accept connections. initdb plus start takes about 1.5 s here;
/// a loaded CI machine can be ten times slower.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Options for a sandbox cluster. The defaults suit tests and the demo.
#[derive(Debug, Clone)]
pub struct PostgresBuilder {
    preload_pg_stat_statements: bool,
    tls: bool,
    settings: Vec<(String, String)>,
}

impl Default for PostgresBuilder {
    fn default() -> Self {
        PostgresBuilder {
            preload_pg_stat_statements: true,
            tls: false,
            settings: Vec::new(),
        }
    }
}

impl PostgresBuilder {
    /// Whether `pg_stat_statements` is in `shared_preload_libraries` (default: yes).
    pub fn preload_pg_stat_statements(mut self, preload: bool) -> Self {
        self.preload_pg_stat_statements = preload;
        self
    }

    /// Serve TLS with a certificate for `localhost` and `127.0.0.1`, signed by a throwaway CA
    /// whose certificate is at [`Postgres::ca_cert`].
    pub fn tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }

    /// `wal_level = logical`, for logical decoding (the proxy's `follow_writes`). Off by
    /// default: it writes more WAL, which only slows the other tests' data loading.
    pub fn wal_level_logical(self) -> Self {
        self.setting("wal_level", "logical")
    }

    /// Any server setting, passed as `-c name=value`.
    pub fn setting(mut self, name: &str, value: &str) -> Self {
        self.settings.push((name.to_string(), value.to_string()));
        self
    }

    pub fn start(self) -> Result<Postgres, SandboxError> {
        Postgres::start_with(self)
    }
}

/// A running throwaway cluster. Dropping it stops the server and deletes its files.
pub struct Postgres {
    binaries: PgBinaries,
    port: u16,
    password: String,
    /// Holds the data directory and the unix socket; `None` once shut down.
    dir: Mutex<Option<tempfile::TempDir>>,
    socket_dir: PathBuf,
    keeper: Mutex<Option<Keeper>>,
    run_as: Option<(u32, u32)>,
    /// The `-c` settings the server runs with, to start it again the same way.
    settings: Vec<(String, String)>,
    hypopg: bool,
    pg_stat_statements: bool,
    tls: bool,
}

impl Postgres {
    /// Starts a cluster with the default options.
    pub fn start() -> Result<Postgres, SandboxError> {
        Self::builder().start()
    }

    pub fn builder() -> PostgresBuilder {
        PostgresBuilder::default()
    }

    fn start_with(options: PostgresBuilder) -> Result<Postgres, SandboxError> {
        let binaries = PgBinaries::find()?;
        let run_as = server_user()?;
        let dir = tempfile::Builder::new()
            .prefix("brisk-pg-")
            .tempdir()
            .map_err(SandboxError::io("creating the sandbox directory"))?;
        let root = dir.path().to_path_buf();
        crate::register_dir(&root);
        let started = Self::start_in(options, binaries, run_as, dir);
        if started.is_err() {
            crate::unregister_dir(&root);
        }
        started
    }

    fn start_in(
        options: PostgresBuilder,
        binaries: PgBinaries,
        run_as: Option<(u32, u32)>,
        dir: tempfile::TempDir,
    ) -> Result<Postgres, SandboxError> {
        let root = dir.path().to_path_buf();
        let data = root.join("data");
        let password = format!("sandbox-{}-{}", std::process::id(), nanos());
        let pwfile = root.join("superuser.pw");
        std::fs::write(&pwfile, format!("{password}\n"))
            .map_err(SandboxError::io("writing the password file"))?;
        if options.tls {
            write_certificates(&root)?;
        }
        if let Some((uid, gid)) = run_as {
            chown_tree(&root, uid, gid)?;
        }

        let mut initdb = Command::new(binaries.path("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", SUPERUSER, "-E", "UTF8", "--locale=C", "--no-sync"])
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", pwfile.display()));
        run_quietly(initdb, run_as, "initdb")?;

        // Test and demo data is disposable: durability settings only slow the start-up and
        // the planting of test data. autovacuum stays off so tests control when tables are
        // vacuumed and analyzed; the demo plants its own problems the same way.
        let mut settings: Vec<(String, String)> = vec![
            ("listen_addresses".into(), "127.0.0.1".into()),
            ("unix_socket_directories".into(), root.display().to_string()),
            ("fsync".into(), "off".into()),
            ("synchronous_commit".into(), "off".into()),
            ("full_page_writes".into(), "off".into()),
            ("autovacuum".into(), "off".into()),
            ("shared_buffers".into(), "32MB".into()),
            ("max_connections".into(), "200".into()),
            ("log_min_messages".into(), "warning".into()),
            ("track_io_timing".into(), "on".into()),
        ];
        if options.preload_pg_stat_statements {
            settings.push((
                "shared_preload_libraries".into(),
                "pg_stat_statements".into(),
            ));
            settings.push(("pg_stat_statements.track".into(), "all".into()));
        }
        if options.tls {
            settings.push(("ssl".into(), "on".into()));
            settings.push((
                "ssl_cert_file".into(),
                root.join("server.crt").display().to_string(),
            ));
            settings.push((
                "ssl_key_file".into(),
                root.join("server.key").display().to_string(),
            ));
        }
        settings.extend(options.settings.iter().cloned());

        let log = root.join("server.log");
        let mut last_error = None;
        // A free port can be taken by another process before the server binds it.
        for _attempt in 0..5 {
            let port = free_port()?;
            let server = server_command(&binaries, &data, port, &settings, run_as, &log)?;
            // SIGINT is PostgreSQL's "fast shutdown": roll back and exit cleanly.
            let stop = StopSignal {
                signal: libc::SIGINT,
                grace: Duration::from_secs(10),
            };
            let keeper = Keeper::spawn(server, "postgres", libc::SIGINT, stop)?;
            crate::register_pid(&root, keeper.pid());
            let sandbox = Postgres {
                binaries: binaries.clone(),
                port,
                password: password.clone(),
                dir: Mutex::new(None),
                socket_dir: root.clone(),
                keeper: Mutex::new(Some(keeper)),
                run_as,
                hypopg: binaries.has_hypopg(),
                pg_stat_statements: options.preload_pg_stat_statements,
                tls: options.tls,
                settings: settings.clone(),
            };
            match sandbox.wait_until_ready(&log) {
                Ok(()) => {
                    *lock(&sandbox.dir) = Some(dir);
                    sandbox.prepare_template()?;
                    return Ok(sandbox);
                }
                Err(e) => {
                    let port_taken = std::fs::read_to_string(&log)
                        .map(|text| text.contains("could not bind") || text.contains("in use"))
                        .unwrap_or(false);
                    sandbox.shutdown();
                    // shutdown() forgot the directory, which the next attempt still uses.
                    crate::register_dir(&root);
                    if !port_taken {
                        return Err(e);
                    }
                    last_error = Some(e);
                }
            }
        }
        Err(last_error.unwrap_or(SandboxError::Command {
            what: "starting postgres".into(),
            detail: "no free port".into(),
        }))
    }

    fn wait_until_ready(&self, log: &Path) -> Result<(), SandboxError> {
        let started = Instant::now();
        loop {
            if self.with_keeper(|k| k.has_exited()).unwrap_or(true) {
                return Err(SandboxError::Exited {
                    server: "postgres",
                    log_tail: log_tail(log),
                });
            }
            let ready = Command::new(self.binaries.path("pg_isready"))
                .arg("-q")
                .arg("-h")
                .arg(&self.socket_dir)
                .arg("-p")
                .arg(self.port.to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map_err(SandboxError::io("running pg_isready"))?;
            if ready.success() {
                return Ok(());
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(SandboxError::StartTimeout {
                    server: "postgres",
                    seconds: START_TIMEOUT.as_secs(),
                    log_tail: log_tail(log),
                });
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Installs the extensions every database should have into `template1`, so that each
    /// database created afterwards has them without a round trip.
    fn prepare_template(&self) -> Result<(), SandboxError> {
        let mut sql = String::new();
        if self.pg_stat_statements {
            sql.push_str("CREATE EXTENSION IF NOT EXISTS pg_stat_statements;\n");
        }
        if self.hypopg {
            sql.push_str("CREATE EXTENSION IF NOT EXISTS hypopg;\n");
        }
        if !sql.is_empty() {
            self.psql("template1", &sql)?;
        }
        Ok(())
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    pub fn superuser(&self) -> &'static str {
        SUPERUSER
    }

    /// The superuser's password (TCP connections use scram-sha-256).
    pub fn password(&self) -> &str {
        &self.password
    }

    pub fn major_version(&self) -> u32 {
        self.binaries.major
    }

    pub fn binaries(&self) -> &PgBinaries {
        &self.binaries
    }

    /// Whether HypoPG is installed (and so created in every new database).
    pub fn has_hypopg(&self) -> bool {
        self.hypopg
    }

    /// The file the server's stderr goes to (its log, unless `logging_collector` is on).
    pub fn server_log(&self) -> PathBuf {
        self.socket_dir.join("server.log")
    }

    /// The data directory; with `logging_collector` on, logs go to its `log_directory`
    /// (`log` unless set).
    pub fn data_dir(&self) -> PathBuf {
        self.socket_dir.join("data")
    }

    /// The certificate of the CA that signed the server's certificate, when TLS is on.
    pub fn ca_cert(&self) -> Option<PathBuf> {
        self.tls.then(|| self.socket_dir.join("ca.crt"))
    }

    /// A libpq URL for the superuser over TCP, with TLS off unless the sandbox serves it.
    pub fn url(&self, database: &str) -> String {
        self.url_for(SUPERUSER, &self.password, database)
    }

    /// A libpq URL for any role over TCP.
    pub fn url_for(&self, user: &str, password: &str, database: &str) -> String {
        let sslmode = if self.tls { "prefer" } else { "disable" };
        format!(
            "postgres://{}:{}@127.0.0.1:{}/{}?sslmode={sslmode}",
            percent_encode(user),
            percent_encode(password),
            self.port,
            percent_encode(database)
        )
    }

    /// Runs `sql` through psql as the superuser over the unix socket, stopping at the first
    /// error, and returns psql's output (unaligned, tuples only).
    pub fn psql(&self, database: &str, sql: &str) -> Result<String, SandboxError> {
        let output = self
            .psql_command(database)
            .args(["-v", "ON_ERROR_STOP=1", "-At", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                if let Some(mut stdin) = child.stdin.take() {
                    stdin.write_all(sql.as_bytes())?;
                }
                child.wait_with_output()
            })
            .map_err(SandboxError::io("running psql"))?;
        if !output.status.success() {
            // The first line carries the error; psql's echo of the statement can be long.
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(SandboxError::Command {
                what: format!("psql on database {database}"),
                detail: stderr.lines().next().unwrap_or("").trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// A psql command connected to `database` as the superuser over the unix socket, for
    /// callers that need a live session (an open transaction, a held lock).
    pub fn psql_command(&self, database: &str) -> Command {
        let mut command = Command::new(self.binaries.path("psql"));
        command
            .arg("-X")
            .arg("-q")
            .arg("-h")
            .arg(&self.socket_dir)
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-U")
            .arg(SUPERUSER)
            .arg("-d")
            .arg(database)
            .env("PGAPPNAME", "brisk-sandbox")
            .env_remove("PGPASSWORD")
            .env_remove("PGSERVICE");
        command
    }

    /// Creates a database with a name unique in this cluster, starting with `prefix`.
    pub fn fresh_database(&self, prefix: &str) -> Result<String, SandboxError> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name: String = format!("{prefix}_{n}")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\";"))?;
        Ok(name)
    }

    /// Stops the server (fast shutdown, as an operator's restart would) and starts it again
    /// on the same port and data, for tests of what clients see across a restart.
    pub fn restart(&self) -> Result<(), SandboxError> {
        if let Some(keeper) = lock(&self.keeper).take() {
            keeper.stop();
        }
        let data = self.socket_dir.join("data");
        let log = self.socket_dir.join("server.log");
        let server = server_command(
            &self.binaries,
            &data,
            self.port,
            &self.settings,
            self.run_as,
            &log,
        )?;
        let stop = StopSignal {
            signal: libc::SIGINT,
            grace: Duration::from_secs(10),
        };
        let keeper = Keeper::spawn(server, "postgres", libc::SIGINT, stop)?;
        crate::register_pid(&self.socket_dir, keeper.pid());
        *lock(&self.keeper) = Some(keeper);
        self.wait_until_ready(&log)
    }

    /// Stops the server and deletes its files. Idempotent; also run on drop.
    pub fn shutdown(&self) {
        // Forget the server first, so a concurrent stop_all cannot signal its pid after the
        // keeper has reaped it and the pid is reused.
        crate::unregister_dir(&self.socket_dir);
        if let Some(keeper) = lock(&self.keeper).take() {
            keeper.stop();
        }
        if let Some(dir) = lock(&self.dir).take() {
            // The server's files belong to the server user; root can delete them anyway.
            let _ = dir.close();
        }
        crate::unregister_dir(&self.socket_dir);
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.with_keeper(|k| k.pid())
    }

    fn with_keeper<T>(&self, f: impl FnOnce(&Keeper) -> T) -> Option<T> {
        lock(&self.keeper).as_ref().map(f)
    }

    /// Whether the server runs as the `postgres` system user because brisk runs as root.
    pub fn runs_as_other_user(&self) -> bool {
        self.run_as.is_some()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Clusters that live until the process exits, stopped by an `atexit` handler: statics
/// are never dropped, and the test harness ends with `exit`.
static PROCESS_CLUSTERS: Mutex<Vec<&'static Postgres>> = Mutex::new(Vec::new());

extern "C" fn stop_process_clusters() {
    for pg in lock(&PROCESS_CLUSTERS).drain(..) {
        pg.shutdown();
    }
}

impl PostgresBuilder {
    /// Starts a cluster that lives until the process exits, for tests that share one.
    pub fn start_for_process(self) -> Result<&'static Postgres, SandboxError> {
        static REGISTER: std::sync::Once = std::sync::Once::new();
        let pg: &'static Postgres = Box::leak(Box::new(self.start()?));
        REGISTER.call_once(|| unsafe {
            libc::atexit(stop_process_clusters);
        });
        lock(&PROCESS_CLUSTERS).push(pg);
        Ok(pg)
    }
}

static SHARED: OnceLock<Result<&'static Postgres, SandboxError>> = OnceLock::new();

/// One cluster per process with the default options, started on first use and stopped
/// when the process exits. Test binaries share it and take a [`Postgres::fresh_database`]
/// each, which is much faster than a cluster per test.
pub fn shared_postgres() -> Result<&'static Postgres, &'static SandboxError> {
    match SHARED.get_or_init(|| Postgres::builder().start_for_process()) {
        Ok(pg) => Ok(pg),
        Err(e) => Err(e),
    }
}

/// The `postgres` command for a data directory, port and settings, logging to `log`.
fn server_command(
    binaries: &PgBinaries,
    data: &Path,
    port: u16,
    settings: &[(String, String)],
    run_as: Option<(u32, u32)>,
    log: &Path,
) -> Result<Command, SandboxError> {
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(SandboxError::io("opening the server log"))?;
    if let Some((uid, gid)) = run_as {
        let _ = std::os::unix::fs::chown(log, Some(uid), Some(gid));
    }
    let stderr = log_file
        .try_clone()
        .map_err(SandboxError::io("opening the server log"))?;
    let mut server = Command::new(binaries.path("postgres"));
    server
        .arg("-D")
        .arg(data)
        .arg("-p")
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(stderr);
    for (name, value) in settings {
        server.arg("-c").arg(format!("{name}={value}"));
    }
    if let Some((uid, gid)) = run_as {
        server.uid(uid).gid(gid);
    }
    Ok(server)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// The uid and gid to run the server as: PostgreSQL refuses to run as root, so when brisk
/// is root the server runs as the `postgres` system user.
fn server_user() -> Result<Option<(u32, u32)>, SandboxError> {
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = c"postgres";
    // SAFETY: getpwnam returns a pointer to static storage or null; we copy the ids out
    // before any other call could overwrite it.
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    if entry.is_null() {
        return Err(SandboxError::NoPostgresUser);
    }
    let (uid, gid) = unsafe { ((*entry).pw_uid, (*entry).pw_gid) };
    Ok(Some((uid, gid)))
}

fn chown_tree(path: &Path, uid: u32, gid: u32) -> Result<(), SandboxError> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(SandboxError::io(format!(
        "handing {} to postgres",
        path.display()
    )))?;
    if path.is_dir() {
        for entry in std::fs::read_dir(path).map_err(SandboxError::io("listing the sandbox"))? {
            let entry = entry.map_err(SandboxError::io("listing the sandbox"))?;
            chown_tree(&entry.path(), uid, gid)?;
        }
    }
    Ok(())
}

fn run_quietly(
    mut command: Command,
    run_as: Option<(u32, u32)>,
    what: &str,
) -> Result<(), SandboxError> {
    if let Some((uid, gid)) = run_as {
        command.uid(uid).gid(gid);
    }
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(SandboxError::io(format!("running {what}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(SandboxError::Command {
            what: what.to_string(),
            detail: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}

/// A throwaway CA and a server certificate for `localhost` and `127.0.0.1`, made with the
/// openssl command line tool (a CA-signed leaf, because TLS libraries rightly refuse a CA
/// certificate used as a server certificate).
fn write_certificates(dir: &Path) -> Result<(), SandboxError> {
    let ext = dir.join("server.ext");
    std::fs::write(
        &ext,
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .map_err(SandboxError::io("writing the certificate extensions"))?;
    let steps: [&[&str]; 3] = [
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=brisk sandbox CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ],
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ],
    ];
    for args in steps {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => SandboxError::MissingBinary {
                    binary: "openssl",
                    package: "openssl",
                },
                _ => SandboxError::Io {
                    context: "running openssl".into(),
                    source: e,
                },
            })?;
        if !output.status.success() {
            return Err(SandboxError::Command {
                what: format!("openssl {}", args[0]),
                detail: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
    }
    use std::os::unix::fs::PermissionsExt;
    // PostgreSQL refuses a private key that others can read.
    std::fs::set_permissions(
        dir.join("server.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .map_err(SandboxError::io("protecting the server key"))?;
    Ok(())
}

/// Percent-encodes everything but unreserved URL characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
