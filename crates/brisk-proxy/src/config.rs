//! `brisk.toml`: the proxy's configuration. Settings that mean what PgBouncer's do carry
//! PgBouncer's names and units (seconds), so an existing `pgbouncer.ini` translates line by
//! line. See `docs/proxy.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use brisk_pg::conninfo::ConnInfo;
use serde::Deserialize;

/// What is wrong with a configuration, naming the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path} does not exist: `brisk proxy --init` writes a commented example there (or give --config FILE)")]
    Missing { path: PathBuf },
    // The OS error is part of the message and not a `source`, so that printing the chain
    // (anyhow's `{:#}`) does not repeat it.
    #[error("cannot read {path}: {reason}")]
    Read {
        path: PathBuf,
        reason: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// How long a client keeps a server connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolMode {
    /// For the whole client session (PgBouncer's `session`).
    Session,
    /// For one transaction at a time (PgBouncer's `transaction`).
    Transaction,
}

/// How clients prove who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum AuthType {
    #[serde(rename = "scram-sha-256")]
    ScramSha256,
    #[serde(rename = "md5")]
    Md5,
    /// No password. Only when the config says so explicitly.
    #[serde(rename = "trust")]
    Trust,
}

/// Whether clients may, or must, use TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientTls {
    Disable,
    Allow,
    Require,
}

/// How the proxy writes its log to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// JSON lines when stderr is not a terminal, text when it is.
    Auto,
    /// One JSON object per line, for log pipelines.
    Json,
    /// Human-readable lines.
    Text,
}

fn default_log_format() -> LogFormat {
    LogFormat::Auto
}

fn default_listen_addr() -> String {
    "127.0.0.1".into()
}
fn default_listen_port() -> u16 {
    6432
}
fn default_pool_mode() -> PoolMode {
    PoolMode::Transaction
}
fn default_auth_type() -> AuthType {
    AuthType::ScramSha256
}
fn default_client_tls() -> ClientTls {
    ClientTls::Disable
}

/// The file as written. Defaults are PgBouncer's, except `pool_mode` (transaction, which is
/// what brisk is for) and `auth_type` (scram-sha-256 rather than md5).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default = "default_listen_addr")]
    listen_addr: String,
    #[serde(default = "default_listen_port")]
    listen_port: u16,
    #[serde(default = "default_pool_mode")]
    pool_mode: PoolMode,
    #[serde(default = "defaults::pool_size")]
    default_pool_size: usize,
    #[serde(default)]
    min_pool_size: usize,
    #[serde(default)]
    reserve_pool_size: usize,
    #[serde(default = "defaults::reserve_pool_timeout")]
    reserve_pool_timeout: f64,
    #[serde(default = "defaults::max_client_conn")]
    max_client_conn: usize,
    #[serde(default = "defaults::server_lifetime")]
    server_lifetime: f64,
    #[serde(default = "defaults::server_idle_timeout")]
    server_idle_timeout: f64,
    #[serde(default = "defaults::server_connect_timeout")]
    server_connect_timeout: f64,
    #[serde(default = "defaults::server_check_delay")]
    server_check_delay: f64,
    #[serde(default = "defaults::query_wait_timeout")]
    query_wait_timeout: f64,
    #[serde(default = "defaults::client_login_timeout")]
    client_login_timeout: f64,
    #[serde(default)]
    idle_transaction_timeout: f64,
    #[serde(default = "defaults::max_prepared_statements")]
    max_prepared_statements: usize,
    #[serde(default = "default_auth_type")]
    auth_type: AuthType,
    #[serde(default)]
    auth_user: Option<String>,
    #[serde(default = "defaults::auth_query")]
    auth_query: String,
    #[serde(default)]
    auth_dbname: Option<String>,
    #[serde(default)]
    admin_users: Vec<String>,
    #[serde(default = "default_client_tls")]
    client_tls_sslmode: ClientTls,
    #[serde(default)]
    client_tls_cert_file: Option<PathBuf>,
    #[serde(default)]
    client_tls_key_file: Option<PathBuf>,
    #[serde(default)]
    threads: usize,
    #[serde(default = "defaults::query_stats")]
    query_stats: bool,
    #[serde(default = "defaults::query_stats_limit")]
    query_stats_limit: usize,
    #[serde(default = "defaults::metrics_query_limit")]
    metrics_query_limit: usize,
    #[serde(default = "defaults::n_plus_one_min_repeats")]
    n_plus_one_min_repeats: u64,
    #[serde(default = "defaults::n_plus_one_min_ms")]
    n_plus_one_min_ms: f64,
    #[serde(default = "default_log_format")]
    log_format: LogFormat,
    #[serde(default = "defaults::slow_query_ms")]
    slow_query_ms: f64,
    #[serde(default)]
    log_parameters: bool,
    #[serde(default)]
    explain_slow: bool,
    #[serde(default = "defaults::explain_timeout")]
    explain_timeout: f64,
    #[serde(default)]
    capture_file: Option<PathBuf>,
    #[serde(default = "defaults::capture_sample")]
    capture_sample: f64,
    #[serde(default = "defaults::capture_max_mb")]
    capture_max_mb: u64,
    // HTTP: /metrics and /health (brisk's own; no PgBouncer equivalent).
    #[serde(default)]
    http_listen: Option<String>,
    #[serde(default = "defaults::pool_health_window")]
    pool_health_window: f64,
    #[serde(default = "defaults::ready_saturated_seconds")]
    ready_saturated_seconds: f64,
    #[serde(default = "defaults::upstream_check_period")]
    upstream_check_period: f64,
    #[serde(default)]
    databases: BTreeMap<String, String>,
    #[serde(default)]
    users: BTreeMap<String, String>,
    #[serde(default)]
    cache: crate::cache::config::RawCacheConfig,
    /// The Redis that holds the buckets of shared rate limits.
    #[serde(default)]
    rate_limit_redis: Option<String>,
    #[serde(default)]
    rate_limits: Vec<RawRateLimit>,
}

/// One `[[rate_limits]]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    name: String,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    database: Option<String>,
    #[serde(default)]
    client: Option<String>,
    #[serde(default)]
    fingerprint: Option<String>,
    #[serde(default)]
    per: Option<String>,
    #[serde(default)]
    rate: Option<f64>,
    #[serde(default)]
    burst: Option<u32>,
    #[serde(default)]
    max_wait: f64,
    #[serde(default)]
    max_connections: usize,
    #[serde(default)]
    shared: bool,
}

mod defaults {
    // PgBouncer's defaults, in seconds where it uses seconds.
    pub fn pool_size() -> usize {
        20
    }
    pub fn reserve_pool_timeout() -> f64 {
        5.0
    }
    pub fn max_client_conn() -> usize {
        100
    }
    pub fn server_lifetime() -> f64 {
        3600.0
    }
    pub fn server_idle_timeout() -> f64 {
        600.0
    }
    pub fn server_connect_timeout() -> f64 {
        15.0
    }
    pub fn server_check_delay() -> f64 {
        30.0
    }
    pub fn query_wait_timeout() -> f64 {
        120.0
    }
    pub fn client_login_timeout() -> f64 {
        60.0
    }
    // PgBouncer 1.22's default: prepared statements are tracked out of the box.
    pub fn max_prepared_statements() -> usize {
        200
    }
    // PgBouncer's default.
    pub fn auth_query() -> String {
        "SELECT usename, passwd FROM pg_shadow WHERE usename=$1".into()
    }
    // brisk's own: per-fingerprint statistics are on unless turned off.
    pub fn query_stats() -> bool {
        true
    }
    pub fn query_stats_limit() -> usize {
        500
    }
    // 100 fingerprints x 19 series each: under 2,000 series, a small share of what one
    // Prometheus holds per target before scrapes slow down.
    pub fn metrics_query_limit() -> usize {
        100
    }
    // Sentry's N+1 defaults.
    pub fn n_plus_one_min_repeats() -> u64 {
        5
    }
    pub fn n_plus_one_min_ms() -> f64 {
        50.0
    }
    // A second: slow for any statement an application waits on.
    pub fn slow_query_ms() -> f64 {
        1000.0
    }
    pub fn explain_timeout() -> f64 {
        2.0
    }
    pub fn capture_sample() -> f64 {
        1.0
    }
    pub fn capture_max_mb() -> u64 {
        256
    }
    // brisk's own. Five minutes: the window the health advice speaks of ("saturated 34% of
    // the last 5 min"), long enough to hold a few bursts, short enough to follow a deploy.
    pub fn pool_health_window() -> f64 {
        300.0
    }
    // Kubernetes' default readiness probe period (10 s) times its failure threshold (3): a
    // pool whose clients have waited that long without a break is overloaded, not in a burst.
    pub fn ready_saturated_seconds() -> f64 {
        30.0
    }
    // One cheap connection attempt per upstream every 5 s: an outage shows within one
    // Prometheus scrape interval (15 s by default) and costs PostgreSQL nothing measurable.
    pub fn upstream_check_period() -> f64 {
        5.0
    }
}

/// An upstream database a client can name.
#[derive(Debug, Clone)]
pub struct Database {
    /// The name clients connect to.
    pub name: String,
    /// Where it is; its `user` (if set) is used for every server connection of this
    /// database, whoever the client is.
    pub upstream: ConnInfo,
    pub forced_user: bool,
    /// The URL as written, without the password, for SHOW DATABASES and logs.
    pub display: String,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub listen_addr: String,
    pub listen_port: u16,
    pub pool_mode: PoolMode,
    pub default_pool_size: usize,
    pub min_pool_size: usize,
    pub reserve_pool_size: usize,
    pub reserve_pool_timeout: Duration,
    pub max_client_conn: usize,
    pub server_lifetime: Duration,
    pub server_idle_timeout: Duration,
    pub server_connect_timeout: Duration,
    pub server_check_delay: Duration,
    pub query_wait_timeout: Duration,
    pub client_login_timeout: Duration,
    /// Zero means no limit.
    pub idle_transaction_timeout: Duration,
    pub max_prepared_statements: usize,
    pub auth_type: AuthType,
    /// Users missing from `[users]` are looked up with `auth_query`, run as this user
    /// (whose password is in `[users]`), as PgBouncer does.
    pub auth_user: Option<String>,
    /// Takes the user name as `$1`; returns (name, password) where the password is what
    /// `pg_authid` stores (a SCRAM verifier or an md5 hash) or NULL for no login.
    pub auth_query: String,
    /// The database (of `[databases]`) `auth_query` runs in; by default the one the client
    /// asks for.
    pub auth_dbname: Option<String>,
    pub admin_users: Vec<String>,
    pub client_tls: ClientTls,
    pub client_tls_cert_file: Option<PathBuf>,
    pub client_tls_key_file: Option<PathBuf>,
    /// Worker threads of the proxy's runtime: 0 for one per two cores ([`worker_threads`]),
    /// 1 for a single thread (as PgBouncer runs). brisk's own; read at start, not on reload.
    pub threads: usize,
    /// Per-fingerprint statistics and N+1 detection (read at start).
    pub query_stats: bool,
    /// Fingerprints kept in detail; the rest fold into "other".
    pub query_stats_limit: usize,
    /// Fingerprints with series of their own in `/metrics`; the rest sum into "other".
    pub metrics_query_limit: usize,
    pub n_plus_one_min_repeats: u64,
    pub n_plus_one_min_total: Duration,
    /// Read at start.
    pub log_format: LogFormat,
    /// Statements at least this long are logged; zero turns the log off.
    pub slow_query: Duration,
    /// Whether logs and captures may show parameter values (they may hold personal data).
    pub log_parameters: bool,
    /// EXPLAIN (without ANALYZE) each slow fingerprint once, on a connection of its own.
    pub explain_slow: bool,
    pub explain_timeout: Duration,
    /// JSON lines of sampled statements in the Workload format (read at start).
    pub capture_file: Option<PathBuf>,
    /// The share of statements captured, 0 to 1.
    pub capture_sample: f64,
    /// The capture stops growing past this many MiB.
    pub capture_max_mb: u64,
    /// Where the HTTP listener (`/metrics`, `/health/...`) binds, as `host:port`; `None` for
    /// no listener. Read at start, not on reload.
    pub http_listen: Option<String>,
    /// How much per-second pool history the health score and recommendations look at.
    pub pool_health_window: Duration,
    /// `/health/ready` turns 503 once a pool has had waiting clients for longer than this;
    /// zero turns that check off.
    pub ready_saturated_seconds: Duration,
    /// How often each upstream is probed for `/health/ready` and `brisk_upstream_up`.
    pub upstream_check_period: Duration,
    pub databases: BTreeMap<String, Database>,
    /// User name to password: plain text, `md5...` or a `SCRAM-SHA-256$...` verifier.
    pub users: BTreeMap<String, String>,
    /// Where shared rate limits keep their buckets.
    pub rate_limit_redis: Option<brisk_redis::RedisTarget>,
    pub rate_limits: Vec<crate::limits::Rule>,
    /// The result cache (`[cache]`, docs/cache.md).
    pub cache: crate::cache::CacheConfig,
}

impl Config {
    /// A commented `brisk.toml` for `brisk proxy --init`: every key, commented out at its
    /// default, and one database to edit.
    pub const EXAMPLE: &'static str = include_str!("example.toml");

    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|reason| {
            if reason.kind() == std::io::ErrorKind::NotFound {
                ConfigError::Missing {
                    path: path.to_path_buf(),
                }
            } else {
                ConfigError::Read {
                    path: path.to_path_buf(),
                    reason,
                }
            }
        })?;
        Config::parse(path, &text)
    }

    /// Validates the text of a configuration file.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| invalid(describe(&e, text)))?;
        let seconds = |key: &str, value: f64| -> Result<Duration, ConfigError> {
            Duration::try_from_secs_f64(value)
                .map_err(|_| invalid(format!("{key}: {value} is not a number of seconds")))
        };
        if raw.databases.is_empty() {
            return Err(invalid(
                "[databases] is empty: name at least one upstream, e.g. app = \"postgres://app@127.0.0.1:5432/app\"".into(),
            ));
        }
        if raw.default_pool_size == 0 {
            return Err(invalid("default_pool_size: must be at least 1".into()));
        }
        if raw.query_stats_limit == 0 {
            return Err(invalid("query_stats_limit: must be at least 1".into()));
        }
        if !(0.0..=1.0).contains(&raw.capture_sample) {
            return Err(invalid(format!(
                "capture_sample: {} is not a share between 0 and 1",
                raw.capture_sample
            )));
        }
        if raw.explain_slow && !raw.query_stats {
            return Err(invalid(
                "explain_slow: needs query_stats = true (slow statements are found there)".into(),
            ));
        }
        if raw.capture_file.is_some() && !raw.query_stats {
            return Err(invalid(
                "capture_file: needs query_stats = true (statements are captured there)".into(),
            ));
        }
        if raw.n_plus_one_min_repeats < 2 {
            return Err(invalid(
                "n_plus_one_min_repeats: must be at least 2 (a run of one is no repeat)".into(),
            ));
        }
        if raw.min_pool_size > raw.default_pool_size {
            return Err(invalid(format!(
                "min_pool_size: {} is more than default_pool_size ({})",
                raw.min_pool_size, raw.default_pool_size
            )));
        }
        if raw.client_tls_sslmode != ClientTls::Disable
            && (raw.client_tls_cert_file.is_none() || raw.client_tls_key_file.is_none())
        {
            return Err(invalid(
                "client_tls_sslmode: TLS needs client_tls_cert_file and client_tls_key_file".into(),
            ));
        }
        if let Some(listen) = &raw.http_listen {
            if !is_host_and_port(listen) {
                return Err(invalid(format!(
                    "http_listen: \"{listen}\" is not host:port, e.g. \"127.0.0.1:9127\""
                )));
            }
        }
        // One sample a second is kept per pool: a day bounds that memory.
        if !(1.0..=86_400.0).contains(&raw.pool_health_window) {
            return Err(invalid(format!(
                "pool_health_window: {} is not between 1 and 86400 seconds",
                raw.pool_health_window
            )));
        }
        if raw.upstream_check_period.is_nan() || raw.upstream_check_period < 0.1 {
            return Err(invalid(format!(
                "upstream_check_period: {} is less than 0.1 seconds",
                raw.upstream_check_period
            )));
        }
        if let Some(name) = &raw.auth_dbname {
            if !raw.databases.contains_key(name) {
                return Err(invalid(format!(
                    "auth_dbname: \"{name}\" is not in [databases]"
                )));
            }
        }
        if let Some(user) = &raw.auth_user {
            let plain = raw
                .users
                .get(user)
                .is_some_and(|p| brisk_wire::auth::Secret::parse(p).plain().is_some());
            if !plain {
                return Err(invalid(format!(
                    "auth_user: \"{user}\" needs its plain-text password in [users], to run auth_query"
                )));
            }
        }
        let rate_limit_redis = match &raw.rate_limit_redis {
            Some(url) => Some(
                brisk_redis::RedisTarget::parse(url)
                    .map_err(|e| invalid(format!("rate_limit_redis: {e}")))?,
            ),
            None => None,
        };
        let rate_limits = rate_limit_rules(&raw, rate_limit_redis.is_some()).map_err(invalid)?;
        let mut databases = BTreeMap::new();
        for (name, url) in &raw.databases {
            if name == crate::admin::ADMIN_DATABASE {
                return Err(invalid(format!(
                    "databases.{name}: the name is reserved for the admin console"
                )));
            }
            let forced_user = url_names_user(url);
            let upstream = ConnInfo::from_env_and_str(Some(url))
                .map_err(|e| invalid(format!("databases.{name}: {e}")))?;
            databases.insert(
                name.clone(),
                Database {
                    name: name.clone(),
                    display: upstream.redacted(),
                    upstream,
                    forced_user,
                },
            );
        }
        Ok(Config {
            path: path.to_path_buf(),
            listen_addr: raw.listen_addr,
            listen_port: raw.listen_port,
            pool_mode: raw.pool_mode,
            default_pool_size: raw.default_pool_size,
            min_pool_size: raw.min_pool_size,
            reserve_pool_size: raw.reserve_pool_size,
            reserve_pool_timeout: seconds("reserve_pool_timeout", raw.reserve_pool_timeout)?,
            max_client_conn: raw.max_client_conn,
            server_lifetime: seconds("server_lifetime", raw.server_lifetime)?,
            server_idle_timeout: seconds("server_idle_timeout", raw.server_idle_timeout)?,
            server_connect_timeout: seconds("server_connect_timeout", raw.server_connect_timeout)?,
            server_check_delay: seconds("server_check_delay", raw.server_check_delay)?,
            query_wait_timeout: seconds("query_wait_timeout", raw.query_wait_timeout)?,
            client_login_timeout: seconds("client_login_timeout", raw.client_login_timeout)?,
            idle_transaction_timeout: seconds(
                "idle_transaction_timeout",
                raw.idle_transaction_timeout,
            )?,
            max_prepared_statements: raw.max_prepared_statements,
            auth_type: raw.auth_type,
            auth_user: raw.auth_user,
            auth_query: raw.auth_query,
            auth_dbname: raw.auth_dbname,
            admin_users: raw.admin_users,
            client_tls: raw.client_tls_sslmode,
            client_tls_cert_file: raw.client_tls_cert_file,
            client_tls_key_file: raw.client_tls_key_file,
            threads: raw.threads,
            query_stats: raw.query_stats,
            query_stats_limit: raw.query_stats_limit,
            metrics_query_limit: raw.metrics_query_limit,
            n_plus_one_min_repeats: raw.n_plus_one_min_repeats,
            n_plus_one_min_total: Duration::try_from_secs_f64(raw.n_plus_one_min_ms / 1000.0)
                .map_err(|_| {
                    invalid(format!(
                        "n_plus_one_min_ms: {} is not a number of milliseconds",
                        raw.n_plus_one_min_ms
                    ))
                })?,
            slow_query: Duration::try_from_secs_f64(raw.slow_query_ms / 1000.0).map_err(|_| {
                invalid(format!(
                    "slow_query_ms: {} is not a number of milliseconds",
                    raw.slow_query_ms
                ))
            })?,
            log_format: raw.log_format,
            log_parameters: raw.log_parameters,
            explain_slow: raw.explain_slow,
            explain_timeout: seconds("explain_timeout", raw.explain_timeout)?,
            capture_file: raw.capture_file,
            capture_sample: raw.capture_sample,
            capture_max_mb: raw.capture_max_mb,
            http_listen: raw.http_listen,
            pool_health_window: seconds("pool_health_window", raw.pool_health_window)?,
            ready_saturated_seconds: seconds(
                "ready_saturated_seconds",
                raw.ready_saturated_seconds,
            )?,
            upstream_check_period: seconds("upstream_check_period", raw.upstream_check_period)?,
            databases,
            users: raw.users,
            rate_limit_redis,
            rate_limits,
            cache: crate::cache::CacheConfig::from_raw(raw.cache).map_err(invalid)?,
        })
    }

    /// Settings as (name, value) pairs, for `SHOW CONFIG`.
    /// Settings read only when the proxy starts: a reload leaves them as they were (and
    /// says so), and `SHOW CONFIG` marks them not changeable.
    pub const START_ONLY: &'static [&'static str] = &[
        "listen_addr",
        "listen_port",
        "threads",
        "http_listen",
        "query_stats",
        "capture_file",
        "capture_sample",
        "capture_max_mb",
        "log_format",
    ];

    /// The start-only settings whose values differ between `self` and `other`.
    pub fn start_only_changes(&self, other: &Config) -> Vec<&'static str> {
        let (mine, theirs) = (self.show(), other.show());
        Config::START_ONLY
            .iter()
            .copied()
            .filter(|key| {
                let value = |all: &[(String, String)]| {
                    all.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
                };
                value(&mine) != value(&theirs)
            })
            .collect()
    }

    pub fn show(&self) -> Vec<(String, String)> {
        let secs = |d: Duration| format!("{}", d.as_secs_f64());
        let mode = match self.pool_mode {
            PoolMode::Session => "session",
            PoolMode::Transaction => "transaction",
        };
        let auth = match self.auth_type {
            AuthType::ScramSha256 => "scram-sha-256",
            AuthType::Md5 => "md5",
            AuthType::Trust => "trust",
        };
        vec![
            ("listen_addr".into(), self.listen_addr.clone()),
            ("listen_port".into(), self.listen_port.to_string()),
            ("pool_mode".into(), mode.into()),
            (
                "default_pool_size".into(),
                self.default_pool_size.to_string(),
            ),
            ("min_pool_size".into(), self.min_pool_size.to_string()),
            (
                "reserve_pool_size".into(),
                self.reserve_pool_size.to_string(),
            ),
            (
                "reserve_pool_timeout".into(),
                secs(self.reserve_pool_timeout),
            ),
            ("max_client_conn".into(), self.max_client_conn.to_string()),
            ("server_lifetime".into(), secs(self.server_lifetime)),
            ("server_idle_timeout".into(), secs(self.server_idle_timeout)),
            (
                "server_connect_timeout".into(),
                secs(self.server_connect_timeout),
            ),
            ("server_check_delay".into(), secs(self.server_check_delay)),
            ("query_wait_timeout".into(), secs(self.query_wait_timeout)),
            (
                "client_login_timeout".into(),
                secs(self.client_login_timeout),
            ),
            (
                "idle_transaction_timeout".into(),
                secs(self.idle_transaction_timeout),
            ),
            (
                "max_prepared_statements".into(),
                self.max_prepared_statements.to_string(),
            ),
            ("auth_type".into(), auth.into()),
            (
                "auth_user".into(),
                self.auth_user.clone().unwrap_or_default(),
            ),
            ("auth_query".into(), self.auth_query.clone()),
            (
                "auth_dbname".into(),
                self.auth_dbname.clone().unwrap_or_default(),
            ),
            ("threads".into(), self.threads.to_string()),
            ("query_stats".into(), self.query_stats.to_string()),
            (
                "query_stats_limit".into(),
                self.query_stats_limit.to_string(),
            ),
            (
                "metrics_query_limit".into(),
                self.metrics_query_limit.to_string(),
            ),
            (
                "n_plus_one_min_repeats".into(),
                self.n_plus_one_min_repeats.to_string(),
            ),
            (
                "n_plus_one_min_ms".into(),
                format!("{}", self.n_plus_one_min_total.as_secs_f64() * 1000.0),
            ),
            (
                "slow_query_ms".into(),
                format!("{}", self.slow_query.as_secs_f64() * 1000.0),
            ),
            (
                "log_format".into(),
                match self.log_format {
                    LogFormat::Auto => "auto",
                    LogFormat::Json => "json",
                    LogFormat::Text => "text",
                }
                .into(),
            ),
            ("log_parameters".into(), self.log_parameters.to_string()),
            ("explain_slow".into(), self.explain_slow.to_string()),
            ("explain_timeout".into(), secs(self.explain_timeout)),
            (
                "capture_file".into(),
                self.capture_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
            ("capture_sample".into(), self.capture_sample.to_string()),
            ("capture_max_mb".into(), self.capture_max_mb.to_string()),
            (
                "http_listen".into(),
                self.http_listen.clone().unwrap_or_default(),
            ),
            ("pool_health_window".into(), secs(self.pool_health_window)),
            (
                "ready_saturated_seconds".into(),
                secs(self.ready_saturated_seconds),
            ),
            (
                "upstream_check_period".into(),
                secs(self.upstream_check_period),
            ),
        ]
    }
}

/// Whether a libpq string names a user itself (rather than leaving it to PGUSER or the
/// connecting client).
fn url_names_user(url: &str) -> bool {
    if let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    {
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        authority.contains('@') || rest.contains("user=")
    } else {
        url.split_whitespace().any(|pair| pair.starts_with("user="))
    }
}

/// Whether `text` is `host:port` (`[v6]:port` for IPv6 addresses), as a listener binds it.
/// Validates `[[rate_limits]]`: each message names the rule.
fn rate_limit_rules(raw: &RawConfig, have_redis: bool) -> Result<Vec<crate::limits::Rule>, String> {
    use crate::limits::{Cidr, Per, Rule};
    let mut rules: Vec<Rule> = Vec::new();
    for r in &raw.rate_limits {
        let name = r.name.trim();
        let bad = |what: String| format!("rate_limits \"{name}\": {what}");
        if name.is_empty() {
            return Err("rate_limits: every rule needs a name".into());
        }
        if rules.iter().any(|other| other.name == name) {
            return Err(bad("the name is used twice".into()));
        }
        if r.rate.is_none() && r.max_connections == 0 {
            return Err(bad(
                "needs a rate (transactions per second), max_connections, or both".into(),
            ));
        }
        if let Some(rate) = r.rate {
            if !(rate.is_finite() && rate > 0.0 && rate <= 1e6) {
                return Err(bad(format!(
                    "rate {rate} is not between 0 and 1000000 per second"
                )));
            }
        }
        if r.burst == Some(0) {
            return Err(bad("burst must be at least 1".into()));
        }
        if r.burst.is_some() && r.rate.is_none() {
            return Err(bad("burst needs a rate".into()));
        }
        let max_wait = Duration::try_from_secs_f64(r.max_wait)
            .ok()
            .filter(|w| *w <= Duration::from_secs(60))
            .ok_or_else(|| {
                bad(format!(
                    "max_wait {} is not between 0 and 60 seconds",
                    r.max_wait
                ))
            })?;
        let per = match &r.per {
            Some(text) => Per::parse(text).ok_or_else(|| {
                bad(format!(
                    "per = \"{text}\" is not one of rule, user, database, client, fingerprint"
                ))
            })?,
            None => Per::Rule,
        };
        let client = match &r.client {
            Some(text) => Some(Cidr::parse(text).ok_or_else(|| {
                bad(format!(
                    "client \"{text}\" is not an address block like 10.0.0.0/8"
                ))
            })?),
            None => None,
        };
        let fingerprint = match &r.fingerprint {
            Some(text) => Some(
                u64::from_str_radix(text.trim(), 16)
                    .ok()
                    .filter(|_| text.trim().len() <= 16)
                    .ok_or_else(|| {
                        bad(format!(
                            "fingerprint \"{text}\" is not 16 hex digits as SHOW QUERIES prints them"
                        ))
                    })?,
            ),
            None => None,
        };
        if let Some(database) = &r.database {
            if !raw.databases.contains_key(database) {
                return Err(bad(format!(
                    "database \"{database}\" is not in [databases]"
                )));
            }
        }
        if r.shared && !have_redis {
            return Err(bad("shared = true needs rate_limit_redis".into()));
        }
        if r.shared && r.rate.is_none() {
            return Err(bad(
                "shared applies to a rate; connection caps are per instance".into(),
            ));
        }
        rules.push(Rule {
            name: name.to_string(),
            user: r.user.clone(),
            database: r.database.clone(),
            client,
            fingerprint,
            per,
            rate: r.rate,
            burst: r.burst.unwrap_or(1),
            max_wait,
            max_connections: r.max_connections,
            shared: r.shared,
        });
    }
    Ok(rules)
}

fn is_host_and_port(text: &str) -> bool {
    let Some((host, port)) = text.rsplit_once(':') else {
        return false;
    };
    let host_ok = match host.strip_prefix('[') {
        Some(v6) => v6
            .strip_suffix(']')
            .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok()),
        None => !host.is_empty() && !host.contains(':'),
    };
    host_ok && port.parse::<u16>().is_ok()
}

/// A TOML or type error in the user's words: the key, what it must be, and the line. serde
/// and toml speak of `usize` and list every field; a user wants "a whole number of 0 or
/// more" and the one key they probably meant.
fn describe(error: &toml::de::Error, text: &str) -> String {
    let message = error.message();
    let line = line_hint(error, text);
    if let Some((key, known)) = unknown_field(message) {
        return format!("unknown key `{key}`{}{line}", suggestion(key, &known));
    }
    if let Some((got, expected)) = type_mismatch(message).or_else(|| unknown_variant(message)) {
        let what = match error.span().and_then(|span| key_at(text, span.start)) {
            Some(key) => key,
            None => "a value".to_string(),
        };
        return format!(
            "{what} must be {expected}, not {got}{line}{}",
            misplaced(&what)
        );
    }
    format!("{message}{line}")
}

/// When `section.key` is a top-level setting written after a `[section]` header, where TOML
/// reads it as part of the section: says so.
fn misplaced(qualified: &str) -> String {
    let Some((section, key)) = qualified.split_once('.') else {
        return String::new();
    };
    // serde names the fields it knows only in its unknown-field message.
    let probe = toml::from_str::<RawConfig>("__brisk_probe__ = 0").err();
    let message = probe.as_ref().map(|e| e.message()).unwrap_or_default();
    match unknown_field(message) {
        Some((_, known)) if known.contains(&key) => format!(
            "; {key} is a top-level setting: move it above [{section}], since TOML puts every key after a [section] line into that section"
        ),
        _ => String::new(),
    }
}

/// serde's "unknown field `x`, expected one of `a`, `b`": the key and the known ones.
fn unknown_field(message: &str) -> Option<(&str, Vec<&str>)> {
    let (key, rest) = message.strip_prefix("unknown field `")?.split_once('`')?;
    // The known names are every other piece between backticks.
    let known = rest.split('`').skip(1).step_by(2).collect();
    Some((key, known))
}

/// `; did you mean ...?` with the known keys nearest to `key`: those that contain it or
/// that it contains (`pool_size` is part of three), else those within a few edits
/// (Levenshtein distance of at most a third of its length, at least 2).
fn suggestion(key: &str, known: &[&str]) -> String {
    let mut near: Vec<&str> = known
        .iter()
        .copied()
        .filter(|k| key.len() >= 4 && (k.contains(key) || (k.len() >= 4 && key.contains(k))))
        .collect();
    if near.is_empty() {
        let limit = (key.chars().count() / 3).max(2);
        let distances: Vec<(usize, &str)> = known
            .iter()
            .map(|k| (strsim::levenshtein(key, k), *k))
            .filter(|(d, _)| *d <= limit)
            .collect();
        if let Some(best) = distances.iter().map(|(d, _)| *d).min() {
            near = distances
                .into_iter()
                .filter(|(d, _)| *d == best)
                .map(|(_, k)| k)
                .collect();
        }
    }
    near.truncate(3);
    let quoted: Vec<String> = near.iter().map(|k| format!("`{k}`")).collect();
    match quoted.as_slice() {
        [] => "; docs/proxy.md lists every key".to_string(),
        [one] => format!("; did you mean {one}?"),
        [init @ .., last] => format!("; did you mean {} or {last}?", init.join(", ")),
    }
}

/// serde's "invalid type: integer `3`, expected a string" (or "invalid value: ..."): what
/// was written and what was expected, both in plain words.
fn type_mismatch(message: &str) -> Option<(String, String)> {
    let rest = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))?;
    let (got, expected) = rest.rsplit_once(", expected ")?;
    Some((plain_value(got), plain_type(expected)))
}

/// serde's "unknown variant `x`, expected `a` or `b`": what was written and the choices.
fn unknown_variant(message: &str) -> Option<(String, String)> {
    let (got, expected) = message
        .strip_prefix("unknown variant `")?
        .split_once("`, expected ")?;
    Some((
        format!("\"{got}\""),
        expected.replace("one of ", "one of: "),
    ))
}

/// `integer `-3`` as `-3`, `string "x"` as `"x"`, `sequence` as `a list`.
fn plain_value(got: &str) -> String {
    for prefix in ["integer ", "floating point ", "boolean ", "string "] {
        if let Some(value) = got.strip_prefix(prefix) {
            return value.trim_matches('`').to_string();
        }
    }
    match got {
        "sequence" => "a list".to_string(),
        "map" => "a table".to_string(),
        other => other.to_string(),
    }
}

/// Rust's type names as a user would say them.
fn plain_type(expected: &str) -> String {
    match expected {
        "usize" | "u64" | "u32" => "a whole number of 0 or more".to_string(),
        "u16" => "a whole number from 0 to 65,535".to_string(),
        "u8" => "a whole number from 0 to 255".to_string(),
        "isize" | "i64" | "i32" => "a whole number".to_string(),
        "f64" | "f32" => "a number".to_string(),
        "a boolean" => "true or false".to_string(),
        "a string" => "a string in double quotes".to_string(),
        "a sequence" => "a list, such as [\"a\", \"b\"]".to_string(),
        "a map" => "a table".to_string(),
        other => other.to_string(),
    }
}

/// The key whose value starts at byte `offset`: `name` or `section.name`.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset)?;
    let line = before.rsplit('\n').next()?;
    let key = line.split_once('=')?.0.trim().trim_matches('"');
    if key.is_empty() {
        return None;
    }
    let section = before.lines().rev().find_map(|l| {
        let l = l.trim();
        l.strip_prefix('[')?.strip_suffix(']').map(str::trim)
    });
    Some(match section {
        Some(section) => format!("{section}.{key}"),
        None => key.to_string(),
    })
}

/// ` (line N)` for a TOML error, so the one-line message points at the place.
fn line_hint(error: &toml::de::Error, text: &str) -> String {
    match error.span() {
        Some(span) => {
            let line = text
                .get(..span.start)
                .map_or(1, |t| t.matches('\n').count() + 1);
            format!(" (line {line})")
        }
        None => String::new(),
    }
}

/// The worker threads for `threads` on a machine with `cores` cores: `threads` itself, or
/// for 0 one per two cores, at least one.
///
/// The proxy mostly waits on sockets, and its CPU per transaction is mostly the kernel's TCP
/// work, which a second thread does not make cheaper: on 2 shared cores, one thread added
/// as little latency at c = 1 as PgBouncer and spent 20 µs of CPU per transaction where one
/// thread per core spent 24–26 µs waking workers on the other core. Half the cores leaves
/// the rest to the clients and the database that usually share the machine, and still
/// scales past one core's ~40K transactions per second on larger ones.
pub fn worker_threads(threads: usize, cores: usize) -> usize {
    if threads > 0 {
        threads
    } else {
        (cores / 2).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("brisk.toml"), text)
    }

    #[test]
    fn a_minimal_config_takes_pgbouncer_defaults() {
        let config = parse("[databases]\napp = \"postgres://app@127.0.0.1:5432/app\"\n").unwrap();
        assert_eq!(config.listen_port, 6432);
        assert_eq!(config.pool_mode, PoolMode::Transaction);
        assert_eq!(config.default_pool_size, 20);
        assert_eq!(config.query_wait_timeout, Duration::from_secs(120));
        assert!(config.databases["app"].forced_user);
        assert_eq!(config.auth_type, AuthType::ScramSha256);
        assert_eq!(config.threads, 0, "automatic unless told");
        assert_eq!(super::worker_threads(0, 1), 1);
        assert_eq!(super::worker_threads(0, 2), 1);
        assert_eq!(super::worker_threads(0, 16), 8);
        assert_eq!(super::worker_threads(3, 2), 3);
        assert_eq!(config.http_listen, None, "no HTTP listener unless told");
        assert_eq!(config.pool_health_window, Duration::from_secs(300));
        assert_eq!(config.ready_saturated_seconds, Duration::from_secs(30));
    }

    #[test]
    fn auth_query_settings_are_checked() {
        let db = "[databases]\na = \"host=x\"\n";
        let config = parse(&format!(
            "auth_user = \"lookup\"\nauth_dbname = \"a\"\n{db}[users]\nlookup = \"pw\"\n"
        ))
        .unwrap();
        assert_eq!(config.auth_user.as_deref(), Some("lookup"));
        assert!(
            config.auth_query.contains("pg_shadow"),
            "PgBouncer's default"
        );
        for (text, key) in [
            ("auth_user = \"lookup\"\n", "auth_user"),
            ("auth_dbname = \"nope\"\n", "auth_dbname"),
        ] {
            let error = parse(&format!("{text}{db}")).unwrap_err().to_string();
            assert!(error.contains(key), "{error}");
        }
        let hashed = parse(&format!(
            "auth_user = \"lookup\"\n{db}[users]\nlookup = \"md5{}\"\n",
            "0".repeat(32)
        ));
        assert!(hashed.unwrap_err().to_string().contains("plain-text"));
    }

    #[test]
    fn start_only_settings_are_shown_and_their_changes_found() {
        let db = "[databases]\na = \"host=x\"\n";
        let base = parse(db).unwrap();
        let shown: Vec<String> = base.show().into_iter().map(|(k, _)| k).collect();
        for key in Config::START_ONLY {
            assert!(shown.iter().any(|k| k == key), "{key} in SHOW CONFIG");
        }
        let changed = parse(&format!("threads = 1\ndefault_pool_size = 3\n{db}")).unwrap();
        assert_eq!(base.start_only_changes(&changed), ["threads"]);
        assert!(base.start_only_changes(&base).is_empty());
    }

    #[test]
    fn http_settings_are_read_and_checked() {
        let db = "[databases]\na = \"host=x\"\n";
        let config = parse(&format!(
            "http_listen = \"[::1]:9127\"\npool_health_window = 4\nready_saturated_seconds = 0.5\n{db}"
        ))
        .unwrap();
        assert_eq!(config.http_listen.as_deref(), Some("[::1]:9127"));
        assert_eq!(config.pool_health_window, Duration::from_secs(4));
        assert_eq!(config.ready_saturated_seconds, Duration::from_millis(500));
        for (line, key) in [
            ("http_listen = \"9127\"", "http_listen"),
            ("http_listen = \"localhost:http\"", "http_listen"),
            ("http_listen = \":9127\"", "http_listen"),
            ("pool_health_window = 0", "pool_health_window"),
            ("pool_health_window = 1e9", "pool_health_window"),
            ("ready_saturated_seconds = -3", "ready_saturated_seconds"),
            ("upstream_check_period = 0", "upstream_check_period"),
        ] {
            let error = parse(&format!("{line}\n{db}")).unwrap_err().to_string();
            assert!(error.contains(key), "{line}: {error}");
            assert!(!error.contains('\n'), "one line: {error}");
        }
        assert!(is_host_and_port("0.0.0.0:9127"));
        assert!(is_host_and_port("localhost:0"));
        assert!(!is_host_and_port("::1:9127"), "IPv6 needs brackets");
    }

    #[test]
    fn errors_name_the_key() {
        let unknown = parse("pool_size = 3\n[databases]\napp = \"host=x\"\n").unwrap_err();
        assert!(unknown.to_string().contains("pool_size"), "{unknown}");
        let wrong_type =
            parse("default_pool_size = \"many\"\n[databases]\napp = \"host=x\"\n").unwrap_err();
        assert!(wrong_type.to_string().contains("line 1"), "{wrong_type}");
        let bad_mode =
            parse("pool_mode = \"statement\"\n[databases]\na = \"host=x\"\n").unwrap_err();
        assert!(bad_mode.to_string().contains("statement"), "{bad_mode}");
        let no_db = parse("listen_port = 7000\n").unwrap_err();
        assert!(no_db.to_string().contains("[databases]"), "{no_db}");
        let bad_url = parse("[databases]\napp = \"host=x sslmode=maybe\"\n").unwrap_err();
        assert!(bad_url.to_string().contains("databases.app"), "{bad_url}");
        let tls =
            parse("client_tls_sslmode = \"require\"\n[databases]\na = \"host=x\"\n").unwrap_err();
        assert!(tls.to_string().contains("client_tls_cert_file"), "{tls}");
        let negative = parse("server_lifetime = -1\n[databases]\na = \"host=x\"\n").unwrap_err();
        assert!(
            negative.to_string().contains("server_lifetime"),
            "{negative}"
        );
    }

    #[test]
    fn errors_are_in_plain_words_and_suggest_the_nearest_key() {
        let db = "[databases]\napp = \"host=x\"\n";
        for (line, expected) in [
            ("pool_size = 3", "unknown key `pool_size`; did you mean `default_pool_size`, `min_pool_size` or `reserve_pool_size`? (line 1)"),
            ("listn_port = 7", "unknown key `listn_port`; did you mean `listen_port`? (line 1)"),
            ("max_client_con = 7", "unknown key `max_client_con`; did you mean `max_client_conn`? (line 1)"),
            ("zzz = 7", "unknown key `zzz`; docs/proxy.md lists every key (line 1)"),
            ("default_pool_size = -3", "default_pool_size must be a whole number of 0 or more, not -3 (line 1)"),
            ("default_pool_size = \"x\"", "default_pool_size must be a whole number of 0 or more, not \"x\" (line 1)"),
            ("listen_port = 70000", "listen_port must be a whole number from 0 to 65,535, not 70000 (line 1)"),
            ("explain_slow = 1", "explain_slow must be true or false, not 1 (line 1)"),
            ("admin_users = \"x\"", "admin_users must be a list, such as [\"a\", \"b\"], not \"x\" (line 1)"),
            ("pool_mode = \"x\"", "pool_mode must be `session` or `transaction`, not \"x\" (line 1)"),
        ] {
            let error = parse(&format!("{line}\n{db}")).unwrap_err().to_string();
            assert_eq!(error, format!("brisk.toml: {expected}"), "{line}");
            assert!(!error.contains("usize") && !error.contains("expected one of"));
        }
        let nested = parse("[databases]\napp = 3\n").unwrap_err().to_string();
        assert!(
            nested.contains("databases.app must be a string"),
            "{nested}"
        );
        assert!(!nested.contains("top-level"), "{nested}");
        let misplaced = parse(&format!("{db}listen_port = 7000\n"))
            .unwrap_err()
            .to_string();
        assert!(
            misplaced.contains("listen_port is a top-level setting: move it above [databases]"),
            "{misplaced}"
        );
    }

    #[test]
    fn a_missing_file_points_to_init_and_os_errors_are_said_once() {
        let dir = std::env::temp_dir();
        let missing = Config::load(&dir.join("brisk-no-such-dir/brisk.toml")).unwrap_err();
        assert!(
            missing.to_string().contains("brisk proxy --init"),
            "{missing}"
        );
        let directory = Config::load(&dir).unwrap_err();
        assert!(
            std::error::Error::source(&directory).is_none(),
            "the OS error is in the message only, so a chain prints it once: {directory}"
        );
    }

    #[test]
    fn the_example_parses_and_shows_every_key_at_its_default() {
        let example = parse(Config::EXAMPLE).unwrap();
        // Every key the file format knows, from serde's own list.
        let message = toml::from_str::<RawConfig>("no_such_key = 1")
            .unwrap_err()
            .message()
            .to_string();
        let (_, known) = unknown_field(&message).unwrap();
        assert!(known.len() > 40, "{known:?}");
        for key in known {
            assert!(
                Config::EXAMPLE.contains(&format!("{key} ="))
                    || ["databases", "users", "rate_limits", "cache"].contains(&key),
                "{key} is missing from the example"
            );
        }
        // Uncommenting the lines that show defaults changes nothing.
        let not_defaults = [
            "auth_user",
            "auth_dbname",
            "admin_users",
            "client_tls_cert_file",
            "client_tls_key_file",
            "capture_file",
            "http_listen",
            // A rate limit is an example to fill in, not a default.
            "rate_limit_redis",
            "name",
            "client",
            "per",
            "rate",
            "burst",
            "max_wait",
            "max_connections",
            "shared",
            "redis",
        ];
        let uncommented: String = Config::EXAMPLE
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(setting)
                    if setting.split_once(" = ").is_some_and(|(key, _)| {
                        key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                            && !not_defaults.contains(&key)
                            && key != "app"
                    }) =>
                {
                    setting.to_string()
                }
                _ => line.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        let defaults = parse(&uncommented).unwrap();
        assert_eq!(defaults.show(), example.show());
    }

    #[test]
    fn forced_users_are_recognised() {
        assert!(url_names_user("postgres://app:pw@h/db"));
        assert!(!url_names_user("postgres://h:5432/db"));
        assert!(url_names_user("host=h user=app"));
        assert!(!url_names_user("host=h dbname=app"));
    }
}
