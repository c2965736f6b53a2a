//! Opening a connection the way brisk always does: `application_name=brisk`, and work done
//! in transactions that carry a `statement_timeout`, a `lock_timeout` and, unless the caller
//! says otherwise, READ ONLY.
//!
//! The settings are transaction-scoped (`SET LOCAL`), never session-wide: behind a
//! transaction-mode pooler (PgBouncer, brisk proxy) a session-wide `SET` would stay on a
//! server connection that the pooler then hands to an application, and a transaction is
//! also the only unit such a pooler keeps on one server connection.

use std::time::Duration;

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Row};

use crate::conninfo::{ConnInfo, Host, HostAddr, SslMode, TargetSessionAttrs};
use crate::error::error_chain;
use crate::{tls, PgError};

/// The oldest major version brisk supports (`server_version_num / 10000`).
pub const MIN_SERVER_VERSION: i32 = 130_000;

/// What every brisk connection sets, whatever command opened it.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Cancels any brisk query that runs longer (default 5 s): catalog reads are fast, and a
    /// slow one means contention brisk must not add to.
    pub statement_timeout: Duration,
    /// Gives up waiting for a lock after this long (default 1 s), so brisk never queues
    /// behind an application's DDL and blocks others in turn.
    pub lock_timeout: Duration,
    /// Runs brisk's transactions READ ONLY, so even a bug cannot write (default: on).
    pub read_only: bool,
    /// Used when the connection string sets no `connect_timeout` (default 10 s).
    pub connect_timeout: Duration,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            statement_timeout: Duration::from_secs(5),
            lock_timeout: Duration::from_secs(1),
            read_only: true,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Who and what brisk is connected to.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// `server_version_num`, e.g. 150018.
    pub version_num: i32,
    /// `server_version`, e.g. "15.18 (Debian 15.18-0+deb12u1)".
    pub version: String,
    pub database: String,
    pub user: String,
    pub is_superuser: bool,
    /// Member of `pg_monitor` (or superuser): can see every session and statement.
    pub can_monitor: bool,
    pub in_recovery: bool,
}

impl ServerInfo {
    /// "PostgreSQL 15.18".
    pub fn display_version(&self) -> String {
        let short = self.version.split_whitespace().next().unwrap_or("");
        format!("PostgreSQL {short}")
    }
}

/// An open connection with brisk's settings applied.
pub struct Session {
    client: Client,
    server: ServerInfo,
    target: String,
    options: SessionOptions,
    connection: tokio::task::JoinHandle<()>,
}

impl Session {
    /// Connects to the server `info` describes. Must run inside a tokio runtime.
    pub async fn connect(info: &ConnInfo, options: &SessionOptions) -> Result<Session, PgError> {
        let (client, connection, target) = open(info, options).await?;
        let mut session = Session {
            client,
            server: ServerInfo {
                version_num: 0,
                version: String::new(),
                database: String::new(),
                user: String::new(),
                is_superuser: false,
                can_monitor: false,
                in_recovery: false,
            },
            target,
            options: options.clone(),
            connection,
        };
        session.begin().await?;
        let row = session
            .client
            .query_one(
                "/* brisk */ SELECT current_setting('server_version_num')::int4, \
                 current_setting('server_version'), current_database()::text, current_user::text, \
                 coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false), \
                 pg_has_role(current_user, 'pg_monitor', 'MEMBER'), pg_is_in_recovery()",
                &[],
            )
            .await
            .map_err(|e| PgError::query("reading the server version", e))?;
        session.commit().await?;
        let server = ServerInfo {
            version_num: row.get(0),
            version: row.get(1),
            database: row.get(2),
            user: row.get(3),
            is_superuser: row.get(4),
            can_monitor: row.get::<_, bool>(4) || row.get::<_, bool>(5),
            in_recovery: row.get(6),
        };
        if server.version_num < MIN_SERVER_VERSION {
            return Err(PgError::UnsupportedVersion {
                target: session.target.clone(),
                version: server.version,
            });
        }
        session.server = server;
        Ok(session)
    }

    /// Starts a transaction with brisk's limits: REPEATABLE READ, so every query in it sees
    /// the same snapshot; READ ONLY unless the session options say otherwise; and
    /// `statement_timeout` and `lock_timeout` for this transaction only.
    pub async fn begin(&self) -> Result<(), PgError> {
        let access = if self.options.read_only {
            "READ ONLY"
        } else {
            "READ WRITE"
        };
        let sql = format!(
            // Each statement carries the marker: pg_stat_statements records them one by one.
            "/* brisk */ BEGIN ISOLATION LEVEL REPEATABLE READ, {access}; \
             /* brisk */ SET LOCAL statement_timeout = {}; \
             /* brisk */ SET LOCAL lock_timeout = {};",
            self.options.statement_timeout.as_millis(),
            self.options.lock_timeout.as_millis()
        );
        self.client
            .batch_execute(&sql)
            .await
            .map_err(|e| PgError::query("starting a transaction", e))
    }

    pub async fn commit(&self) -> Result<(), PgError> {
        self.client
            .batch_execute("/* brisk */ COMMIT")
            .await
            .map_err(|e| PgError::query("committing", e))
    }

    /// Ends the transaction without keeping anything; also clears an aborted transaction.
    pub async fn rollback(&self) -> Result<(), PgError> {
        self.client
            .batch_execute("/* brisk */ ROLLBACK")
            .await
            .map_err(|e| PgError::query("rolling back", e))
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn server(&self) -> &ServerInfo {
        &self.server
    }

    /// The connection target without its password, for reports.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Runs one of brisk's own queries; `context` names it in errors. Call it between
    /// [`Session::begin`] and [`Session::commit`], so the limits apply.
    pub async fn query(
        &self,
        context: &str,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, PgError> {
        self.client
            .query(sql, params)
            .await
            .map_err(|e| PgError::query(context, e))
    }
}

/// Opens a connection as libpq would (hosts in order, TLS per `sslmode`), without running
/// anything on it.
async fn open(
    info: &ConnInfo,
    options: &SessionOptions,
) -> Result<(Client, tokio::task::JoinHandle<()>, String), PgError> {
    let target = info.redacted();
    let tls = tls::connector(info, &target)?;
    // libpq looks up the password per host (the password file may hold a different one
    // for each), while a tokio-postgres config has one; so hosts are tried one by one,
    // in order, as libpq does.
    let mut last_error = None;
    let mut connected = None;
    for host in &info.hosts {
        match to_config(info, host, options).connect(tls.clone()).await {
            Ok(pair) => {
                connected = Some(pair);
                break;
            }
            Err(e) => last_error = Some(classify_connect_error(e, info, host, &target, options)),
        }
    }
    let (client, connection) = match (connected, last_error) {
        (Some(pair), _) => pair,
        (None, Some(error)) => return Err(error),
        (None, None) => {
            return Err(PgError::Unreachable {
                target,
                reason: "the connection string names no host".into(),
            })
        }
    };
    let connection = tokio::spawn(async move {
        // Errors here surface on the next query through the client, with context.
        let _ = connection.await;
    });

    Ok((client, connection, target))
}

/// A connection to something that speaks PostgreSQL's protocol but is not PostgreSQL: the
/// admin console of a pooler (brisk proxy's, PgBouncer's), which answers only simple `SHOW`
/// commands, so none of [`Session`]'s settings or checks are run on it.
pub struct Console {
    client: Client,
    connection: tokio::task::JoinHandle<()>,
}

impl Console {
    /// Connects to the console `info` describes (its database is the console's, `brisk` or
    /// `pgbouncer`).
    pub async fn connect(info: &ConnInfo, options: &SessionOptions) -> Result<Console, PgError> {
        let (client, connection, _) = open(info, options).await?;
        Ok(Console { client, connection })
    }

    /// Runs one console command; each row as its columns' names and values.
    pub async fn show(&self, command: &str) -> Result<Vec<Vec<(String, String)>>, PgError> {
        let messages = self
            .client
            .simple_query(command)
            .await
            .map_err(|e| PgError::query(command, e))?;
        Ok(messages
            .iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                    row.columns()
                        .iter()
                        .enumerate()
                        .map(|(i, c)| (c.name().to_string(), row.get(i).unwrap_or("").to_string()))
                        .collect(),
                ),
                _ => None,
            })
            .collect())
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

fn to_config(info: &ConnInfo, host: &Host, options: &SessionOptions) -> tokio_postgres::Config {
    let mut config = tokio_postgres::Config::new();
    let is_unix = match &host.addr {
        HostAddr::Tcp { name, hostaddr } => {
            config.host(name);
            if let Some(addr) = hostaddr {
                config.hostaddr(*addr);
            }
            false
        }
        HostAddr::Unix(dir) => {
            config.host_path(dir);
            true
        }
    };
    config
        .port(host.port)
        .user(&info.user)
        .dbname(&info.dbname)
        .application_name("brisk")
        .connect_timeout(info.connect_timeout.unwrap_or(options.connect_timeout));
    if let Some(password) = &host.password {
        config.password(password);
    }
    if let Some(extra) = &info.options {
        config.options(extra);
    }
    // PostgreSQL has no TLS on unix sockets; libpq ignores sslmode there, and so do we.
    let ssl_mode = match info.sslmode {
        _ if is_unix => tokio_postgres::config::SslMode::Disable,
        SslMode::Disable => tokio_postgres::config::SslMode::Disable,
        SslMode::Allow | SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
            tokio_postgres::config::SslMode::Require
        }
    };
    config.ssl_mode(ssl_mode);
    let attrs = match info.target_session_attrs {
        TargetSessionAttrs::ReadWrite | TargetSessionAttrs::Primary => {
            tokio_postgres::config::TargetSessionAttrs::ReadWrite
        }
        TargetSessionAttrs::ReadOnly | TargetSessionAttrs::Standby => {
            tokio_postgres::config::TargetSessionAttrs::ReadOnly
        }
        TargetSessionAttrs::Any | TargetSessionAttrs::PreferStandby => {
            tokio_postgres::config::TargetSessionAttrs::Any
        }
    };
    config.target_session_attrs(attrs);
    config
}

fn classify_connect_error(
    error: tokio_postgres::Error,
    info: &ConnInfo,
    host: &Host,
    target: &str,
    options: &SessionOptions,
) -> PgError {
    let target = target.to_string();
    if let Some(db) = error.as_db_error() {
        let reason = db.message().to_string();
        let code = db.code();
        return if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            PgError::AuthFailed {
                target,
                user: info.user.clone(),
                reason,
            }
        } else if *code == SqlState::INVALID_CATALOG_NAME {
            PgError::DatabaseMissing {
                target,
                database: info.dbname.clone(),
            }
        } else {
            PgError::Refused { target, reason }
        };
    }
    let text = error_chain(&error);
    if text.contains("password missing") && host.password.is_none() {
        return PgError::PasswordMissing { target };
    }
    if text.contains("TLS") || text.contains("certificate") || text.contains("tls") {
        return PgError::Tls {
            target,
            reason: text
                .trim_start_matches("error performing TLS handshake: ")
                .to_string(),
        };
    }
    if text.contains("timed out") || text.contains("timeout") {
        let seconds = info
            .connect_timeout
            .unwrap_or(options.connect_timeout)
            .as_secs();
        return PgError::ConnectTimeout { target, seconds };
    }
    // A socket is shown as the file that was tried, unencoded (the URL form percent-encodes
    // its directory), with the user and database that went with it.
    let target = match &host.addr {
        HostAddr::Unix(dir) => format!(
            "the local socket {} (user \"{}\", database \"{}\")",
            dir.join(format!(".s.PGSQL.{}", host.port)).display(),
            info.user,
            info.dbname
        ),
        HostAddr::Tcp { .. } => target,
    };
    PgError::Unreachable {
        target,
        reason: text
            .trim_start_matches("error connecting to server: ")
            .to_string(),
    }
}
