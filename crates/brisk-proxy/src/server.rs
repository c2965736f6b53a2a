//! A connection to an upstream PostgreSQL: opening it (TCP or Unix socket, TLS per
//! `sslmode`, startup and authentication) and what the proxy knows about it afterwards.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use brisk_pg::conninfo::{ConnInfo, HostAddr, SslMode};
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

use crate::stream::Stream;
use brisk_wire::login::{LoginError, LoginEvent, ServerLogin};
use brisk_wire::protocol::{self, put_request, put_startup, SSL_REQUEST};

/// The largest message brisk buffers whole. Larger ones (big rows, COPY data) are relayed
/// in pieces and never held entirely; this bounds only the messages brisk must read.
pub const MAX_BUFFERED_MESSAGE: usize = 64 * 1024 * 1024;

/// Why a server connection could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot connect to {target}: {source}")]
    Connect {
        target: String,
        source: std::io::Error,
    },
    #[error("connecting to {target} timed out after {seconds} s")]
    Timeout { target: String, seconds: u64 },
    #[error("TLS to {target}: {reason}")]
    Tls { target: String, reason: String },
    #[error("{target} refused the login: {message}")]
    Login { target: String, message: String },
    #[error("{target}: {message}")]
    Protocol { target: String, message: String },
    #[error("server connection lost: {0}")]
    Io(#[from] std::io::Error),
}

pub use brisk_wire::login::ServerSecret;

/// Where and as whom to open server connections for one pool.
#[derive(Debug, Clone)]
pub struct ServerTarget {
    pub upstream: ConnInfo,
    pub user: String,
    pub database: String,
    pub secret: Option<ServerSecret>,
    pub connect_timeout: Duration,
    /// Built once: rustls verifies per `sslmode` (see brisk-pg's tls module).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The startup packet's `options` (`-c name=value ...`), when the connection should
    /// carry them. The proxy's pools send none: a client's settings reach the server as SET
    /// statements it tracks. `brisk bench` sends its URL's.
    pub options: Option<String>,
}

impl ServerTarget {
    pub fn describe(&self) -> String {
        // The URL with the user brisk logs in as: the URL's own user may be a default
        // (PGUSER, the OS user) that this connection does not use.
        let mut upstream = self.upstream.clone();
        upstream.user.clone_from(&self.user);
        upstream.redacted()
    }
}

/// An open, logged-in server connection.
pub struct ServerConn {
    pub stream: Stream,
    /// Bytes read from the server and not yet relayed.
    pub buf: BytesMut,
    pub id: u64,
    /// The server's own cancel key (pid, secret), for forwarding CancelRequests.
    pub backend_key: (i32, i32),
    /// The server's reported parameters (ParameterStatus), kept current as it reports them.
    pub params: HashMap<String, String>,
    /// The stamp of the client settings (`TrackedSettings::stamp`) this server was last
    /// found to hold, or 0. Whoever records a ParameterStatus in `params` sets it to 0.
    pub settings_stamp: u64,
    pub created: Instant,
    pub last_used: Instant,
    /// Prepared statements that exist on this server, by brisk's name for them.
    pub prepared: crate::prepared::ServerStatements,
    /// Where it is, to send a CancelRequest on a new connection.
    /// Shared, so that recording which server a client has (for cancels and SHOW SERVERS)
    /// on every transaction does not copy the host name.
    pub address: Arc<CancelAddress>,
}

/// How to reach a server for a CancelRequest.
#[derive(Debug, Clone)]
pub enum CancelAddress {
    Tcp(String, u16),
    Unix(std::path::PathBuf),
}

/// What a server connection's read buffer starts at, and goes back to after a large answer.
const SERVER_READ_SPACE: usize = 16 * 1024;

static NEXT_SERVER_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl ServerConn {
    /// Gives back the memory a large answer took, once it is relayed: a pooled connection
    /// would otherwise keep it for its whole lifetime.
    pub fn trim(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > 4 * SERVER_READ_SPACE {
            self.buf = BytesMut::with_capacity(SERVER_READ_SPACE);
        }
    }

    /// Opens a connection and logs in, within the target's connect timeout.
    pub async fn connect(
        target: &ServerTarget,
        max_prepared: usize,
    ) -> Result<ServerConn, ServerError> {
        let describe = target.describe();
        match tokio::time::timeout(
            target.connect_timeout,
            ServerConn::open(target, max_prepared),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(ServerError::Timeout {
                target: describe,
                seconds: target.connect_timeout.as_secs(),
            }),
        }
    }

    async fn open(target: &ServerTarget, max_prepared: usize) -> Result<ServerConn, ServerError> {
        let mut last_error = None;
        for host in &target.upstream.hosts {
            match ServerConn::open_host(target, host, max_prepared).await {
                Ok(conn) => return Ok(conn),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| ServerError::Protocol {
            target: target.describe(),
            message: "no host to connect to".into(),
        }))
    }

    async fn open_host(
        target: &ServerTarget,
        host: &brisk_pg::conninfo::Host,
        max_prepared: usize,
    ) -> Result<ServerConn, ServerError> {
        let (stream, address) = connect_stream(target, host).await?;
        let id = NEXT_SERVER_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut conn = ServerConn::new(stream, address, id, max_prepared);
        conn.login(target).await?;
        Ok(conn)
    }

    /// A connection just opened, not logged in yet. `id` 0 is for one that never joins a
    /// pool (a probe), so SHOW SERVERS' ids stay consecutive.
    fn new(stream: Stream, address: CancelAddress, id: u64, max_prepared: usize) -> ServerConn {
        ServerConn {
            stream,
            buf: BytesMut::with_capacity(SERVER_READ_SPACE),
            id,
            backend_key: (0, 0),
            params: HashMap::new(),
            settings_stamp: 0,
            created: Instant::now(),
            last_used: Instant::now(),
            prepared: crate::prepared::ServerStatements::new(max_prepared),
            address: Arc::new(address),
        }
    }

    /// Sends the startup packet: the target's user, database and options, as application
    /// `brisk`.
    async fn send_startup(&mut self, target: &ServerTarget) -> Result<(), ServerError> {
        let mut out = BytesMut::new();
        let mut params = vec![
            ("user", target.user.as_str()),
            ("database", target.database.as_str()),
            ("application_name", "brisk"),
        ];
        if let Some(options) = &target.options {
            params.push(("options", options));
        }
        put_startup(&mut out, &params);
        self.stream.write_all(&out).await?;
        Ok(())
    }

    /// Logs in: brisk-wire's [`ServerLogin`] answers each authentication request; this
    /// only carries the messages and keeps what the login learned.
    async fn login(&mut self, target: &ServerTarget) -> Result<(), ServerError> {
        self.send_startup(target).await?;
        let mut login = ServerLogin::new(&target.user, target.secret.clone());
        let mut out = BytesMut::new();
        loop {
            let (kind, body) = self.read_message().await?;
            out.clear();
            let event = login
                .on_message(kind, &body, &mut out)
                .map_err(|e| match e {
                    LoginError::Protocol(message) => ServerError::Protocol {
                        target: target.describe(),
                        message,
                    },
                    refused => ServerError::Login {
                        target: target.describe(),
                        message: refused.to_string(),
                    },
                })?;
            if !out.is_empty() {
                self.stream.write_all(&out).await?;
            }
            match event {
                LoginEvent::Continue => {}
                LoginEvent::Parameter(name, value) => {
                    self.params.insert(name, value);
                }
                LoginEvent::BackendKey(pid, secret) => self.backend_key = (pid, secret),
                LoginEvent::Ready => return Ok(()),
            }
        }
    }

    /// Reads one whole message (type and body) from the server.
    pub async fn read_message(&mut self) -> Result<(u8, BytesMut), ServerError> {
        loop {
            if let Some(header) =
                protocol::whole_frame(&self.buf, MAX_BUFFERED_MESSAGE).map_err(|e| {
                    ServerError::Protocol {
                        target: "server".into(),
                        message: e.to_string(),
                    }
                })?
            {
                let mut frame = self.buf.split_to(header.total_len());
                frame.advance(5);
                return Ok((header.kind, frame));
            }
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(ServerError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                )));
            }
        }
    }

    /// Runs `sql` and returns the first column of every row, as text (NULL as empty); an
    /// ErrorResponse is the error. For brisk's own queries (EXPLAIN), never client traffic.
    pub async fn first_column(&mut self, sql: &str) -> Result<Vec<String>, ServerError> {
        let mut out = BytesMut::new();
        protocol::put_query(&mut out, sql);
        self.stream.write_all(&out).await?;
        let mut failed = None;
        let mut rows = Vec::new();
        loop {
            let (kind, body) = self.read_message().await?;
            match kind {
                b'E' => failed = Some(protocol::error_text(&body)),
                b'D' => rows.push(first_value(&body).unwrap_or_default()),
                b'Z' => {
                    return match failed {
                        Some(message) => Err(ServerError::Protocol {
                            target: "server".into(),
                            message,
                        }),
                        None => Ok(rows),
                    };
                }
                _ => {}
            }
        }
    }

    /// Runs `sql` with text parameters (the extended protocol, unnamed statement) and
    /// returns its rows; an ErrorResponse is the error. For brisk's own queries
    /// (`auth_query`), never client traffic: values travel apart from the text, so a user
    /// name cannot change the query.
    pub async fn query_params(
        &mut self,
        sql: &str,
        params: &[&str],
    ) -> Result<Vec<Vec<Option<String>>>, ServerError> {
        let mut out = BytesMut::new();
        protocol::put_parse(&mut out, "", sql, &0i16.to_be_bytes());
        protocol::put_text_bind(&mut out, "", params, |b, param| {
            b.extend_from_slice(param.as_bytes())
        });
        protocol::put_execute_sync(&mut out);
        self.stream.write_all(&out).await?;
        let mut failed = None;
        let mut rows = Vec::new();
        loop {
            let (kind, body) = self.read_message().await?;
            match kind {
                b'E' => failed = Some(protocol::error_text(&body)),
                b'D' => match protocol::decode_data_row(&body) {
                    Some(row) => rows.push(row),
                    None => failed = Some("malformed DataRow".into()),
                },
                b'Z' => {
                    return match failed {
                        Some(message) => Err(ServerError::Protocol {
                            target: "server".into(),
                            message,
                        }),
                        None => Ok(rows),
                    };
                }
                _ => {}
            }
        }
    }

    /// Runs `sql` (no results expected) and waits for ReadyForQuery; returns the status.
    /// Used for health checks, resets and rollbacks, never for client traffic.
    pub async fn simple(&mut self, sql: &str) -> Result<u8, ServerError> {
        let mut out = BytesMut::new();
        protocol::put_query(&mut out, sql);
        self.stream.write_all(&out).await?;
        let mut failed = None;
        loop {
            let (kind, body) = self.read_message().await?;
            match kind {
                b'E' => failed = Some(protocol::error_text(&body)),
                b'S' => {
                    if let Ok((name, value)) = protocol::decode_parameter_status(&body) {
                        self.params.insert(name.to_string(), value.to_string());
                        self.settings_stamp = 0;
                    }
                }
                b'Z' => {
                    let status = body.first().copied().unwrap_or(b'E');
                    return match failed {
                        Some(message) => Err(ServerError::Protocol {
                            target: "server".into(),
                            message,
                        }),
                        None => Ok(status),
                    };
                }
                _ => {}
            }
        }
    }
}

/// Opens the byte stream to one host: TCP (with TLS per `sslmode`) or a Unix socket.
async fn connect_stream(
    target: &ServerTarget,
    host: &brisk_pg::conninfo::Host,
) -> Result<(Stream, CancelAddress), ServerError> {
    let describe = target.describe();
    let connected = match &host.addr {
        HostAddr::Tcp { name, hostaddr } => {
            let tcp = match hostaddr {
                Some(ip) => TcpStream::connect((*ip, host.port)).await,
                None => TcpStream::connect((name.as_str(), host.port)).await,
            }
            .map_err(|source| ServerError::Connect {
                target: describe.clone(),
                source,
            })?;
            // Messages are small and latency-bound.
            let _ = tcp.set_nodelay(true);
            let address = CancelAddress::Tcp(name.clone(), host.port);
            (negotiate_tls(tcp, target, name).await?, address)
        }
        HostAddr::Unix(dir) => {
            let path = dir.join(format!(".s.PGSQL.{}", host.port));
            let unix = UnixStream::connect(&path)
                .await
                .map_err(|source| ServerError::Connect {
                    target: describe.clone(),
                    source,
                })?;
            (Stream::Unix(unix), CancelAddress::Unix(path))
        }
    };
    Ok(connected)
}

/// Whether the upstream answers as a PostgreSQL server that accepts connections: it opens
/// the connection as the pool would (TCP or socket, TLS per `sslmode`), sends a startup
/// packet and reads the first answer, then hangs up without logging in. Any host of a
/// multi-host URL that answers will do, as for libpq.
///
/// An authentication request, or a refused login (the probe sends no password, and may
/// name a user the server does not know), means the server is up. A refusal that no login
/// could pass is not: starting up or shutting down (class 57), out of connection slots
/// (class 53), or a database that does not exist (3D000).
pub async fn probe(target: &ServerTarget) -> Result<(), ServerError> {
    let attempt = async {
        let mut last_error = None;
        for host in &target.upstream.hosts {
            match probe_host(target, host).await {
                Ok(()) => return Ok(()),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| ServerError::Protocol {
            target: target.describe(),
            message: "no host to connect to".into(),
        }))
    };
    match tokio::time::timeout(target.connect_timeout, attempt).await {
        Ok(result) => result,
        Err(_) => Err(ServerError::Timeout {
            target: target.describe(),
            seconds: target.connect_timeout.as_secs(),
        }),
    }
}

async fn probe_host(
    target: &ServerTarget,
    host: &brisk_pg::conninfo::Host,
) -> Result<(), ServerError> {
    let (stream, address) = connect_stream(target, host).await?;
    let mut conn = ServerConn::new(stream, address, 0, 0);
    conn.send_startup(target).await?;
    let (kind, body) = conn.read_message().await?;
    match kind {
        b'R' => Ok(()),
        b'E' => {
            let code = protocol::decode_fields(&body)
                .into_iter()
                .find(|(c, _)| *c == b'C')
                .map(|(_, v)| v)
                .unwrap_or_default();
            if code.starts_with("57") || code.starts_with("53") || code == "3D000" {
                Err(ServerError::Login {
                    target: target.describe(),
                    message: protocol::error_text(&body),
                })
            } else {
                Ok(())
            }
        }
        other => Err(ServerError::Protocol {
            target: target.describe(),
            message: format!("unexpected message {:?} to a startup packet", other as char),
        }),
    }
}

async fn negotiate_tls(
    tcp: TcpStream,
    target: &ServerTarget,
    host: &str,
) -> Result<Stream, ServerError> {
    let mode = target.upstream.sslmode;
    let Some(config) = target.tls.clone().filter(|_| mode != SslMode::Disable) else {
        return Ok(Stream::Tcp(tcp));
    };
    let mut tcp = tcp;
    let mut request = BytesMut::new();
    put_request(&mut request, SSL_REQUEST, &[]);
    tcp.write_all(&request).await?;
    let answer = tcp.read_u8().await?;
    match answer {
        b'S' => {
            let name = rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| {
                ServerError::Tls {
                    target: target.describe(),
                    reason: e.to_string(),
                }
            })?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(|e| ServerError::Tls {
                    target: target.describe(),
                    reason: e.to_string(),
                })?;
            Ok(Stream::ServerTls(Box::new(tls)))
        }
        _ if matches!(mode, SslMode::Prefer | SslMode::Allow) => Ok(Stream::Tcp(tcp)),
        _ => Err(ServerError::Tls {
            target: target.describe(),
            reason: format!(
                "sslmode={} and the server does not support TLS",
                mode.as_str()
            ),
        }),
    }
}

/// The first value of a DataRow, as text.
fn first_value(body: &[u8]) -> Option<String> {
    let count = i16::from_be_bytes(body.get(0..2)?.try_into().ok()?);
    if count < 1 {
        return None;
    }
    let len = i32::from_be_bytes(body.get(2..6)?.try_into().ok()?);
    let len = usize::try_from(len).ok()?;
    Some(String::from_utf8_lossy(body.get(6..6 + len)?).into_owned())
}

/// Sends a CancelRequest for the server's own key on a new connection, as PostgreSQL asks.
pub async fn send_cancel(address: &CancelAddress, key: (i32, i32)) -> std::io::Result<()> {
    let mut packet = BytesMut::new();
    put_request(&mut packet, protocol::CANCEL_REQUEST, &[key.0, key.1]);
    match address {
        CancelAddress::Tcp(host, port) => {
            let mut tcp = TcpStream::connect((host.as_str(), *port)).await?;
            tcp.write_all(&packet).await?;
            // The server closes the connection when done; wait for that briefly.
            let mut byte = [0u8; 1];
            let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut byte)).await;
        }
        CancelAddress::Unix(path) => {
            let mut unix = UnixStream::connect(path).await?;
            unix.write_all(&packet).await?;
            let mut byte = [0u8; 1];
            let _ = tokio::time::timeout(Duration::from_secs(5), unix.read(&mut byte)).await;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::ServerTarget;
    use brisk_pg::conninfo::ConnInfo;

    #[test]
    fn a_target_is_described_with_the_user_brisk_logs_in_as() {
        let upstream =
            ConnInfo::from_env_and_str(Some("postgres://root:secret@127.0.0.1:5432/app")).unwrap();
        let target = ServerTarget {
            upstream,
            user: "app_user".into(),
            database: "app".into(),
            secret: None,
            connect_timeout: std::time::Duration::from_secs(1),
            tls: None,
            options: None,
        };
        assert_eq!(target.describe(), "postgres://app_user@127.0.0.1:5432/app");
    }
}
