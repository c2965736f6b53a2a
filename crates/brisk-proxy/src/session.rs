//! One client's session: login, then relaying its messages to a server it borrows from a
//! pool, for one transaction at a time (transaction mode) or for the whole session.
//!
//! The session owns the sockets, the checkout and the waits; the [`Relay`] decides what
//! each message means and what goes where. The session attaches a server when the client
//! sends something, writes what the relay queued, and hands the server back when the relay
//! says it is at rest.
//!
//! Architecture invariant: the session interprets no message of the relayed traffic (the
//! relay does, with `protocol`'s decoders) and does not manage connections (the pool does).
//! The login reads the startup packet and authentication messages through `protocol` too.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::{AuthType, ClientTls, Config, Database, PoolMode};
use crate::gate::{Admit, Gate, Step};
use crate::limits::{self, ClientLimits, ConnectionSlots, Verdict};
use crate::pool::{Checkout, Pool, PoolError};
use crate::proxy::Shared;
use crate::relay::{Counts, Relay, ServerState, TransactionStatus};
use crate::server::{send_cancel, CancelAddress, MAX_BUFFERED_MESSAGE};
use crate::server::{ServerError, ServerSecret};
use crate::session_state::{set_config_query, Startup, TrackedSettings};
use crate::stream::Stream;
use crate::tracker::StatementTracker;
use brisk_wire::auth::{check_md5, random_bytes, ScramServer, Secret};
use brisk_wire::login::{
    AUTH_MD5, AUTH_OK, AUTH_SASL, AUTH_SASL_CONTINUE, AUTH_SASL_FINAL, SCRAM_SHA_256,
};
use brisk_wire::protocol::{self, ProtocolError, StartupPacket};

/// What can end a session early.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("client I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("protocol: {0}")]
    Protocol(#[from] ProtocolError),
    #[error("{0}")]
    Refused(String),
}

/// The room a client read gets (a startup packet, a query, a batch of messages): more is
/// reserved as a message needs it.
const READ_SPACE: usize = 1024;
/// A buffer grown past this by a burst goes back to its small size once empty.
const KEPT_CAPACITY: usize = 64 * 1024;

/// Leaves room in `buf` for a read: a read into a full buffer takes 64 bytes at a time.
fn make_room(buf: &mut BytesMut) {
    if buf.capacity() - buf.len() < READ_SPACE / 4 {
        buf.reserve(READ_SPACE);
    }
}

/// Client states, as `SHOW CLIENTS` names them.
pub const STATE_IDLE: u8 = 0;
pub const STATE_WAITING: u8 = 1;
pub const STATE_ACTIVE: u8 = 2;

/// A server's address and backend key (pid, secret), as a CancelRequest needs them.
pub type AttachedServer = (Arc<CancelAddress>, (i32, i32));

/// What the rest of the proxy may know about a client: for `SHOW CLIENTS`, cancel routing
/// and observers.
pub struct ClientInfo {
    pub id: u64,
    pub user: String,
    pub database: String,
    pub application_name: String,
    pub addr: Option<SocketAddr>,
    pub connected: std::time::SystemTime,
    pub tls: bool,
    pub state: AtomicU8,
    /// The server it is using right now, for CancelRequests.
    pub attached: Mutex<Option<AttachedServer>>,
    pub cancel_key: (i32, i32),
}

/// Serves one client connection to its end. `running` is held until then, so that shutdown
/// can wait for every client (an admin session lets go of it: it does not hold shutdown up).
pub async fn serve(
    shared: Arc<Shared>,
    tcp: tokio::net::TcpStream,
    peer: Option<SocketAddr>,
    running: tokio::sync::mpsc::Sender<()>,
) {
    let _ = tcp.set_nodelay(true);
    let mut stream = Stream::Tcp(tcp);
    let mut buf = BytesMut::with_capacity(READ_SPACE);
    let config = shared.config();
    // Boxed: the login's future (SCRAM, a first server connection) is larger than the
    // relay's, and would size every client's task for the rest of its session.
    let login = tokio::time::timeout(
        config.client_login_timeout,
        Box::pin(login(&shared, &mut stream, &mut buf, peer)),
    )
    .await;
    let outcome = match login {
        Err(_) => {
            let _ = fatal(&mut stream, "08P01", "client_login_timeout").await;
            return;
        }
        Ok(Err(e)) => {
            tracing::debug!(?peer, error = %e, "login failed");
            return;
        }
        Ok(Ok(outcome)) => outcome,
    };
    match outcome {
        Login::Done => {}
        Login::Admin(user) => {
            drop(running);
            // Boxed, as the login is: admin sessions are few.
            let admin = Box::pin(crate::admin::serve(&shared, &mut stream, &mut buf, &user));
            if let Err(e) = admin.await {
                tracing::debug!(error = %e, "admin session ended");
            }
        }
        Login::Client {
            pool,
            info,
            settings,
            slots: _slots,
            extras,
            startup,
        } => {
            shared.register_client(info.clone());
            pool.stats.clients.fetch_add(1, Ordering::Relaxed);
            let mut session = Session::new(
                shared.clone(),
                pool.clone(),
                info.clone(),
                stream,
                buf,
                *settings,
            );
            session.startup = startup;
            let applied = if extras.is_empty() {
                Ok(true)
            } else {
                session.apply_extras(extras).await
            };
            let ended = match applied {
                Ok(true) => session.run().await,
                Ok(false) => Ok(()),
                Err(e) => Err(e),
            };
            if let Err(e) = ended {
                tracing::debug!(client = info.id, error = %e, "session ended");
            }
            session.detach_on_exit().await;
            session.finish_writes(true).await;
            // Statements answered just before the session ended still count.
            session.hand_off();
            if let Some(observer) = &shared.observer {
                observer.client_gone(info.id);
            }
            pool.stats.clients.fetch_sub(1, Ordering::Relaxed);
            shared.unregister_client(&info);
        }
    }
}

enum Login {
    /// Nothing more to do (a cancel request, or a refused login already answered).
    Done,
    Admin(String),
    Client {
        pool: Arc<Pool>,
        info: Arc<ClientInfo>,
        /// The client's tracked settings: its startup values, else its pool's defaults.
        settings: Box<TrackedSettings>,
        /// Its places under the rate limits' `max_connections`, held while it is connected.
        slots: ConnectionSlots,
        /// Its untracked startup settings (`session_state::Startup`).
        extras: Vec<(String, String)>,
        /// The startup parameters that may change results (options, extra_float_digits,
        /// ...), for the result cache's key.
        startup: String,
    },
}

async fn login(
    shared: &Arc<Shared>,
    stream: &mut Stream,
    buf: &mut BytesMut,
    peer: Option<SocketAddr>,
) -> Result<Login, SessionError> {
    let config = shared.config();
    let params = loop {
        let packet = match protocol::decode_startup(buf) {
            Ok(Some(packet)) => packet,
            Ok(None) => {
                make_room(buf);
                if stream.read_buf(buf).await? == 0 {
                    return Ok(Login::Done);
                }
                continue;
            }
            Err(e) => {
                let _ = fatal(stream, "08P01", &e.to_string()).await;
                return Err(e.into());
            }
        };
        match packet {
            StartupPacket::SslRequest => match (shared.client_tls(), &*stream) {
                (Some(acceptor), Stream::Tcp(_)) if buf.is_empty() => {
                    stream.write_all(b"S").await?;
                    let Stream::Tcp(tcp) = std::mem::replace(stream, placeholder_stream()?) else {
                        return Err(SessionError::Refused("TLS on a non-TCP stream".into()));
                    };
                    let tls = acceptor.accept(tcp).await?;
                    *stream = Stream::ClientTls(Box::new(tls));
                }
                _ => stream.write_all(b"N").await?,
            },
            // GSSAPI encryption is not offered; libpq then falls back to TLS or plain.
            StartupPacket::GssEncRequest => stream.write_all(b"N").await?,
            StartupPacket::Cancel { pid, secret } => {
                shared.cancel((pid, secret)).await;
                return Ok(Login::Done);
            }
            StartupPacket::Startup { params } => break params,
        }
    };
    if config.client_tls == ClientTls::Require && !stream.is_tls() {
        fatal(
            stream,
            "28000",
            "brisk requires TLS: connect with sslmode=require",
        )
        .await?;
        return Ok(Login::Done);
    }
    let Some(user) = StartupPacket::param(&params, "user") else {
        fatal(stream, "28000", "no user name in the startup packet").await?;
        return Ok(Login::Done);
    };
    if StartupPacket::param(&params, "replication").is_some() {
        fatal(
            stream,
            "08P01",
            "brisk does not proxy replication connections",
        )
        .await?;
        return Ok(Login::Done);
    }
    let database = StartupPacket::param(&params, "database").unwrap_or_else(|| user.clone());

    if database == crate::admin::ADMIN_DATABASE {
        if !config.admin_users.contains(&user) {
            fatal(
                stream,
                "28000",
                &format!("user \"{user}\" is not an admin user (admin_users)"),
            )
            .await?;
            return Ok(Login::Done);
        }
        let Authenticated::Yes(_) = authenticate(shared, stream, buf, &user, None).await? else {
            return Ok(Login::Done);
        };
        greet(stream, &HashMap::new(), &HashMap::new(), (0, 0)).await?;
        return Ok(Login::Admin(user));
    }

    let Some(db) = config.databases.get(&database) else {
        fatal(
            stream,
            "3D000",
            &format!("database \"{database}\" does not exist"),
        )
        .await?;
        return Ok(Login::Done);
    };
    if shared.client_count() >= config.max_client_conn {
        fatal(
            stream,
            "53300",
            "no more connections allowed (max_client_conn)",
        )
        .await?;
        return Ok(Login::Done);
    }
    let Authenticated::Yes(learned) = authenticate(shared, stream, buf, &user, Some(db)).await?
    else {
        return Ok(Login::Done);
    };
    let pool = match shared.pool_for(db, &user, learned) {
        Ok(pool) => pool,
        Err(message) => {
            fatal(stream, "28000", &message).await?;
            return Ok(Login::Done);
        }
    };
    let slots = match shared.limits().connect(&limits::Client {
        user: &user,
        database: &database,
        addr: peer,
    }) {
        Ok(slots) => slots,
        Err((rule, max)) => {
            // PostgreSQL's code and wording for a role's connection limit.
            fatal(
                stream,
                "53300",
                &format!("too many connections for rate limit \"{rule}\" (max_connections {max})"),
            )
            .await?;
            return Ok(Login::Done);
        }
    };
    let server_params = match pool.greeting_params().await {
        Ok(p) => p,
        Err(e) => {
            fatal(stream, "08006", &format!("cannot reach the server: {e}")).await?;
            return Ok(Login::Done);
        }
    };
    let startup = match Startup::split(&params) {
        Ok(startup) => startup,
        Err(message) => {
            fatal(stream, "08P01", &message).await?;
            return Ok(Login::Done);
        }
    };
    let settings = Box::new(TrackedSettings::new(&startup.params, &server_params));
    let info = Arc::new(ClientInfo {
        id: shared.next_client_id(),
        user: user.clone(),
        database: database.clone(),
        application_name: StartupPacket::param(&params, "application_name").unwrap_or_default(),
        addr: peer,
        connected: std::time::SystemTime::now(),
        tls: stream.is_tls(),
        state: AtomicU8::new(STATE_IDLE),
        attached: Mutex::new(None),
        cancel_key: (
            i32::from_be_bytes(random_bytes::<4>()) & 0x7fff_ffff,
            i32::from_be_bytes(random_bytes::<4>()),
        ),
    });
    let client_params: HashMap<String, String> = settings
        .current()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    greet(stream, &server_params, &client_params, info.cancel_key).await?;
    // The settings that change results and that brisk does not track go in the result
    // cache's key: its untracked startup settings (`options` switches included).
    let mut cache_key_startup: Vec<String> = startup
        .extras
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    cache_key_startup.sort();
    let cache_key_startup = cache_key_startup.join("\n");
    Ok(Login::Client {
        pool,
        info,
        settings,
        slots,
        extras: startup.extras,
        startup: cache_key_startup,
    })
}

/// A stand-in while a TCP stream is moved into TLS: a connected pair's end, never used.
fn placeholder_stream() -> std::io::Result<Stream> {
    let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    a.set_nonblocking(true)?;
    Ok(Stream::Unix(tokio::net::UnixStream::from_std(a)?))
}

/// How a client's login went.
enum Authenticated {
    /// Refused, and told so.
    No,
    /// Accepted; with what the login gave brisk to log in to servers as this user when it
    /// has no password for it (the client's SCRAM keys, or the md5 hash it was checked with).
    Yes(Option<ServerSecret>),
}

/// Runs the configured authentication exchange; answers the client when it fails. `db` is
/// the database asked for (none for the admin console): users missing from `[users]` are
/// looked up there with `auth_query` when `auth_user` is set.
async fn authenticate(
    shared: &Arc<Shared>,
    stream: &mut Stream,
    buf: &mut BytesMut,
    user: &str,
    db: Option<&Database>,
) -> Result<Authenticated, SessionError> {
    let config = shared.config();
    let secret = match (config.users.get(user), db) {
        (Some(secret), _) => Some(Secret::parse(secret)),
        (None, Some(db)) if config.auth_user.is_some() => {
            match look_up(shared, &config, db, user).await {
                Ok(secret) => secret,
                Err(e) => {
                    tracing::warn!(user, database = %db.name, error = %e, "auth_query failed");
                    fatal(
                        stream,
                        "08006",
                        "cannot look up the user: auth_query failed (see brisk's log)",
                    )
                    .await?;
                    return Ok(Authenticated::No);
                }
            }
        }
        (None, _) => None,
    };
    let failed = format!("password authentication failed for user \"{user}\"");
    let mut out = BytesMut::new();
    match config.auth_type {
        AuthType::Trust => Ok(Authenticated::Yes(None)),
        AuthType::Md5 => {
            let salt = random_bytes::<4>();
            protocol::put_auth(&mut out, AUTH_MD5, &salt);
            stream.write_all(&out).await?;
            let (kind, body) = read_client_message(stream, buf).await?;
            let response = protocol::cstr(&body)
                .map(|(r, _)| r.to_string())
                .unwrap_or_default();
            let ok = kind == b'p'
                && secret
                    .as_ref()
                    .is_some_and(|s| check_md5(s, user, salt, &response));
            if !ok {
                fatal(stream, "28P01", &failed).await?;
                return Ok(Authenticated::No);
            }
            Ok(Authenticated::Yes(match secret {
                Some(Secret::Md5(hash)) => Some(ServerSecret::Md5Hash(hash)),
                _ => None,
            }))
        }
        AuthType::ScramSha256 => {
            // An unknown user still goes through the exchange, against a verifier nobody
            // knows the password of, so the answer does not reveal which users exist.
            let verifier = secret.as_ref().and_then(Secret::scram).or_else(|| {
                brisk_wire::auth::ScramVerifier::from_password(&format!(
                    "{:?}",
                    random_bytes::<16>()
                ))
            });
            let Some(verifier) = verifier else {
                fatal(stream, "28P01", &failed).await?;
                return Ok(Authenticated::No);
            };
            protocol::put_auth(
                &mut out,
                AUTH_SASL,
                format!("{SCRAM_SHA_256}\0\0").as_bytes(),
            );
            stream.write_all(&out).await?;
            let (kind, body) = read_client_message(stream, buf).await?;
            let Some((mechanism, first)) =
                protocol::decode_sasl_initial_response(&body).filter(|_| kind == b'p')
            else {
                fatal(stream, "08P01", "expected a SASLInitialResponse").await?;
                return Ok(Authenticated::No);
            };
            if mechanism != SCRAM_SHA_256 {
                fatal(stream, "28000", "brisk supports SCRAM-SHA-256 only").await?;
                return Ok(Authenticated::No);
            }
            let scram = match ScramServer::start(verifier, first) {
                Ok(s) => s,
                Err(e) => {
                    fatal(stream, "28000", &e.to_string()).await?;
                    return Ok(Authenticated::No);
                }
            };
            out.clear();
            protocol::put_auth(
                &mut out,
                AUTH_SASL_CONTINUE,
                scram.server_first().as_bytes(),
            );
            stream.write_all(&out).await?;
            let (kind, body) = read_client_message(stream, buf).await?;
            match (kind, scram.finish(&body)) {
                (b'p', Ok((server_final, keys))) if secret.is_some() => {
                    out.clear();
                    protocol::put_auth(&mut out, AUTH_SASL_FINAL, server_final.as_bytes());
                    stream.write_all(&out).await?;
                    Ok(Authenticated::Yes(Some(ServerSecret::Scram(keys))))
                }
                _ => {
                    fatal(stream, "28P01", &failed).await?;
                    Ok(Authenticated::No)
                }
            }
        }
    }
}

/// What `auth_query` says the server stores for `user`: its second column (PgBouncer's
/// `usename, passwd`), or `None` when it returns no row or NULL (no such login). It runs as
/// `auth_user` on a server of that user's pool, in `auth_dbname` or the client's database,
/// with the user name as a bound parameter.
async fn look_up(
    shared: &Arc<Shared>,
    config: &Config,
    db: &Database,
    user: &str,
) -> Result<Option<Secret>, String> {
    let auth_user = config.auth_user.as_deref().unwrap_or_default();
    let db = match &config.auth_dbname {
        Some(name) => config
            .databases
            .get(name)
            .ok_or_else(|| format!("auth_dbname {name} is not in [databases]"))?,
        None => db,
    };
    let pool = shared.pool_for(db, auth_user, None)?;
    let mut checkout = pool.acquire().await.map_err(|e| e.to_string())?;
    let result = checkout
        .conn
        .query_params(&config.auth_query, &[user])
        .await;
    // An error the server answered leaves the connection at rest; a broken one is closed.
    let reusable = !matches!(result, Err(ServerError::Io(_)));
    pool.release(checkout, reusable);
    let rows = result.map_err(|e| e.to_string())?;
    Ok(rows
        .first()
        .and_then(|row| row.get(1).cloned().flatten())
        .map(|password| Secret::parse(&password)))
}

/// AuthenticationOk, the server's parameters (with the client's own values where it set
/// them), the client's cancel key, and ReadyForQuery.
async fn greet(
    stream: &mut Stream,
    server_params: &HashMap<String, String>,
    client_params: &HashMap<String, String>,
    key: (i32, i32),
) -> Result<(), SessionError> {
    let mut out = BytesMut::new();
    protocol::put_auth(&mut out, AUTH_OK, &[]);
    let mut names: Vec<&String> = server_params.keys().collect();
    names.sort();
    for name in names {
        let value = client_params.get(name).unwrap_or(&server_params[name]);
        protocol::put_parameter_status(&mut out, name, value);
    }
    for (name, value) in client_params {
        if !server_params.contains_key(name) {
            protocol::put_parameter_status(&mut out, name, value);
        }
    }
    protocol::put_backend_key(&mut out, key.0, key.1);
    protocol::put_ready_for_query(&mut out, b'I');
    stream.write_all(&out).await?;
    Ok(())
}

/// Sends a FATAL ErrorResponse; the caller then closes the connection.
pub async fn fatal(stream: &mut Stream, code: &str, message: &str) -> std::io::Result<()> {
    let mut out = BytesMut::new();
    protocol::put_error(&mut out, b'E', "FATAL", code, message);
    stream.write_all(&out).await?;
    stream.flush().await
}

/// Reads one whole typed message from a client during login.
pub async fn read_client_message(
    stream: &mut Stream,
    buf: &mut BytesMut,
) -> Result<(u8, BytesMut), SessionError> {
    loop {
        if let Some(header) = protocol::whole_frame(buf, MAX_BUFFERED_MESSAGE)? {
            let mut frame = buf.split_to(header.total_len());
            let _ = frame.split_to(5);
            return Ok((header.kind, frame));
        }
        make_room(buf);
        if stream.read_buf(buf).await? == 0 {
            return Err(SessionError::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "client closed the connection",
            )));
        }
    }
}

/// What woke the relay up.
enum Event {
    Client(std::io::Result<usize>),
    Server(std::io::Result<usize>),
    IdleTimeout,
    Shutdown,
}

/// A logged-in client being relayed: the sockets and the checkout. What the bytes mean is
/// the relay's business.
struct Session {
    shared: Arc<Shared>,
    pool: Arc<Pool>,
    info: Arc<ClientInfo>,
    client: Stream,
    cbuf: BytesMut,
    server: Option<Checkout>,
    relay: Relay,
    /// `idle_transaction_timeout` as it was when the client logged in.
    idle_transaction_timeout: Duration,
    /// The rate limits that apply to this client (`None`: no rule does), and the
    /// configuration generation they were resolved for.
    limits: Option<ClientLimits>,
    limits_generation: u64,
    gate: Gate,
    /// Its untracked startup settings, set on its pinned server (see `apply_extras`).
    extras: Vec<(String, String)>,
    /// The result cache's write lease: its id and the version keys it marks.
    lease: Option<(String, Vec<String>)>,
    /// Startup parameters in the cache key.
    startup: String,
}

/// The rate limits that apply to a client under the current configuration.
fn client_limits(shared: &Shared, info: &ClientInfo) -> Option<ClientLimits> {
    shared.limits().for_client(&limits::Client {
        user: &info.user,
        database: &info.database,
        addr: info.addr,
    })
}

/// What the relay may see of a checkout: its prepared statements and reported settings.
fn state(checkout: &mut Checkout) -> ServerState<'_> {
    let conn = &mut *checkout.conn;
    ServerState {
        prepared: &mut conn.prepared,
        params: &mut conn.params,
        settings_stamp: &mut conn.settings_stamp,
    }
}

impl Session {
    fn new(
        shared: Arc<Shared>,
        pool: Arc<Pool>,
        info: Arc<ClientInfo>,
        client: Stream,
        cbuf: BytesMut,
        settings: TrackedSettings,
    ) -> Session {
        let config = shared.config();
        let transaction_mode = config.pool_mode == PoolMode::Transaction;
        let idle_transaction_timeout = config.idle_transaction_timeout;
        let tracker = StatementTracker::new(
            info.clone(),
            shared.observer.is_some(),
            config.log_parameters,
        );
        let limits_generation = shared.limits_generation();
        let limits = client_limits(&shared, &info);
        let mut relay = Relay::new(transaction_mode, settings, tracker, Instant::now());
        relay.cache = shared
            .cache
            .clone()
            .map(crate::cache::relay::RelayCache::new);
        Session {
            relay,
            lease: None,
            startup: String::new(),
            idle_transaction_timeout,
            limits,
            limits_generation,
            gate: Gate::default(),
            extras: Vec::new(),
            shared,
            pool,
            info,
            client,
            cbuf,
            server: None,
        }
    }

    async fn run(&mut self) -> Result<(), SessionError> {
        let mut shutdown = self.shared.shutdown_signal();
        loop {
            // Every whole message the client has sent goes out, borrowing a server first.
            while let Some(header) = protocol::whole_frame(&self.cbuf, MAX_BUFFERED_MESSAGE)? {
                if header.kind == b'X' {
                    return Ok(());
                }
                match self.admit(header.kind).await? {
                    Admit::Go => {}
                    Admit::Hold => break,
                    Admit::Skip => {
                        self.cbuf.advance(header.total_len());
                        continue;
                    }
                }
                // Result cache: a simple query, or an extended-protocol batch starting here.
                if self.relay.cache.is_some()
                    && matches!(header.kind, b'Q' | b'P' | b'B' | b'D')
                    && self
                        .serve_from_cache(header.kind, header.total_len())
                        .await?
                {
                    continue;
                }
                if self.server.is_none() {
                    // A wait for a server is not the statement's time: attach moves `now`.
                    if !self.attach().await? {
                        return Ok(());
                    }
                } else if let Some(local) = self.relay.take_restore() {
                    self.restore_settings(local).await;
                }
                let reset = self.relay.take_extras_reset();
                if !reset.is_empty() {
                    self.restore_extras(&reset).await;
                }
                let Some(server) = self.server.as_mut() else {
                    return Ok(());
                };
                // Handled in place and then consumed: splitting the buffer per message
                // costs reference counting and a drop for each.
                let total = header.total_len();
                let handled =
                    self.relay
                        .client_message(header.kind, &self.cbuf[5..total], state(server));
                self.cbuf.advance(total);
                handled?;
                if let Some(feature) = self.relay.take_newly_pinned() {
                    self.pinned(feature);
                }
            }
            if !self.relay.to_server.is_empty() {
                if !self.announce_writes().await? {
                    return Ok(());
                }
                if let Some(server) = self.server.as_mut() {
                    if let Err(e) = server.conn.stream.write_all(&self.relay.to_server).await {
                        self.server_lost(&e.to_string()).await?;
                        return Ok(());
                    }
                }
                self.relay.sent_to_server();
            }
            self.relay.pay_owed();
            self.flush_client().await?;
            self.maybe_release();

            self.trim_buffers();
            let idle_limit = self.idle_transaction_limit();
            let attached = self.server.is_some();
            let event = {
                let Session {
                    client,
                    cbuf,
                    server,
                    ..
                } = self;
                // Biased: polled in this order, without drawing a random number per loop.
                // Neither socket can starve the other: each branch is ready only when bytes
                // arrived, and every loop handles all that arrived.
                tokio::select! {
                    biased;
                    read = client.read_buf(cbuf) => Event::Client(read),
                    read = async {
                        match server.as_mut() {
                            Some(s) => s.conn.stream.read_buf(&mut s.conn.buf).await,
                            None => std::future::pending().await,
                        }
                    }, if attached => Event::Server(read),
                    // A future that reads the clock only when polled, i.e. when there is a limit.
                    _ = async {
                        match idle_limit {
                            Some(limit) => tokio::time::sleep(limit).await,
                            None => std::future::pending().await,
                        }
                    }, if idle_limit.is_some() => Event::IdleTimeout,
                    _ = shutdown.changed(), if !attached => Event::Shutdown,
                }
            };
            match event {
                Event::Client(read) => {
                    if read? == 0 {
                        return Ok(());
                    }
                    self.relay.set_now(Instant::now());
                }
                Event::Server(Ok(0)) => {
                    self.server_lost("the server closed the connection").await?;
                    return Ok(());
                }
                Event::Server(Ok(_)) => {
                    self.relay.set_now(Instant::now());
                    self.server_messages()?;
                    self.finish_writes(false).await;
                    self.store_fill();
                    self.flush_client().await?;
                }
                Event::Server(Err(e)) => {
                    self.server_lost(&e.to_string()).await?;
                    return Ok(());
                }
                Event::IdleTimeout => {
                    fatal(
                        &mut self.client,
                        "25P03",
                        "terminating connection due to idle-in-transaction timeout (idle_transaction_timeout)",
                    )
                    .await?;
                    return Ok(());
                }
                Event::Shutdown => {
                    fatal(&mut self.client, "57P01", "brisk is shutting down").await?;
                    return Ok(());
                }
            }
        }
    }

    /// Sets the client's untracked startup settings on a server and pins the client to it,
    /// so they hold for its whole session as on a direct connection. A setting the server
    /// refuses ends the session with the server's reason, as a direct login would.
    /// Returns whether the session may go on.
    async fn apply_extras(&mut self, extras: Vec<(String, String)>) -> Result<bool, SessionError> {
        let settings: Vec<_> = extras
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str(), false))
            .collect();
        let Some(query) = set_config_query(&settings) else {
            return Ok(true);
        };
        self.relay.set_extras(
            extras
                .iter()
                .map(|(name, _)| name.to_ascii_lowercase())
                .collect(),
        );
        self.extras = extras;
        self.relay.pin("startup parameters brisk does not track");
        if let Some(feature) = self.relay.take_newly_pinned() {
            self.pinned(feature);
        }
        if !self.attach().await? {
            return Ok(false);
        }
        let Some(server) = self.server.as_mut() else {
            return Ok(false);
        };
        match server.conn.simple(&query).await {
            Ok(_) => Ok(true),
            Err(e) => {
                let message = match &e {
                    ServerError::Protocol { message, .. } => message.clone(),
                    other => other.to_string(),
                };
                fatal(
                    &mut self.client,
                    "22023",
                    &format!("startup parameter: {message}"),
                )
                .await?;
                Ok(false)
            }
        }
    }

    /// Sets again the startup settings a statement of the client reset (`reset`: lowercased
    /// names, and whether the reset was local to the transaction), so they hold their
    /// startup values as on a direct connection.
    async fn restore_extras(&mut self, reset: &[(String, bool)]) {
        let settings: Vec<(&str, &str, bool)> = reset
            .iter()
            .filter_map(|(reset_name, local)| {
                let (name, value) = self
                    .extras
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(reset_name))?;
                Some((name.as_str(), value.as_str(), *local))
            })
            .collect();
        let (Some(query), Some(server)) = (set_config_query(&settings), self.server.as_mut())
        else {
            return;
        };
        replay_settings(server, &query, self.info.id).await;
    }

    /// Whether the client's next message (of `kind`, `total` bytes with its header) may go
    /// on: charges the transactions it starts to the rate limits that apply (see `gate`).
    async fn admit(&mut self, kind: u8) -> Result<Admit, SessionError> {
        let generation = self.shared.limits_generation();
        if generation != self.limits_generation {
            self.limits_generation = generation;
            self.limits = client_limits(&self.shared, &self.info);
        }
        let Some(limits) = &self.limits else {
            return Ok(Admit::Go);
        };
        let step = self.gate.step(
            &self.cbuf,
            &mut self.relay,
            self.server.is_some(),
            limits.needs_fingerprint(),
        )?;
        let (fingerprint, may_refuse) = match step {
            Step::Go => return Ok(Admit::Go),
            Step::Hold => return Ok(Admit::Hold),
            Step::Skip => return Ok(Admit::Skip),
            Step::Charge(fingerprint) => (fingerprint, true),
            Step::ChargeAndWait(fingerprint) => (fingerprint, false),
        };
        match limits.charge(fingerprint, may_refuse).await {
            Verdict::Allow => {}
            Verdict::Delay(wait) => tokio::time::sleep(wait).await,
            Verdict::Refuse { rule, retry_after } => {
                self.gate.refused(kind, &rule, retry_after, &mut self.relay);
                return Ok(Admit::Skip);
            }
        }
        self.gate.allowed(kind);
        Ok(Admit::Go)
    }

    /// Gives back the memory a burst took (a large query, COPY, big rows) once it is
    /// relayed, so that a client idle after it holds small buffers again, and leaves the
    /// client's buffer room for its next read.
    fn trim_buffers(&mut self) {
        for buf in [&mut self.relay.to_server, &mut self.relay.to_client] {
            if buf.is_empty() && buf.capacity() > KEPT_CAPACITY {
                *buf = BytesMut::new();
            }
        }
        if self.cbuf.is_empty() && self.cbuf.capacity() > KEPT_CAPACITY {
            self.cbuf = BytesMut::with_capacity(READ_SPACE);
        }
        make_room(&mut self.cbuf);
    }

    fn idle_transaction_limit(&self) -> Option<Duration> {
        let limit = self.idle_transaction_timeout;
        (self.server.is_some() && self.relay.idle_in_transaction() && !limit.is_zero())
            .then_some(limit)
    }

    /// Borrows a server from the pool, waiting if needed, and brings it to the client's
    /// settings. Returns false when the client was told why it cannot have one.
    async fn attach(&mut self) -> Result<bool, SessionError> {
        // The wait counts from the arrival of the message that needs the server; one clock
        // read after it serves the wait, the transaction's start and the statement's.
        let asked = self.relay.now();
        self.shared.wait_unpaused().await;
        self.info.state.store(STATE_WAITING, Ordering::Relaxed);
        let acquired = self.pool.acquire().await;
        let mut attached_at = Instant::now();
        self.relay
            .tracker
            .waited(attached_at.saturating_duration_since(asked));
        let mut checkout = match acquired {
            Ok(c) => c,
            Err(e) => {
                let code = match e {
                    PoolError::WaitTimeout(_) => "08P01",
                    _ => "08006",
                };
                self.info.state.store(STATE_IDLE, Ordering::Relaxed);
                fatal(&mut self.client, code, &e.to_string()).await?;
                return Ok(false);
            }
        };
        // Bring the server to the client's settings (application_name, TimeZone, ...)
        // where it differs: whatever the last client left there is not this client's. A
        // server that holds this client's settings as they are now, and reported nothing
        // since, is not compared again.
        if checkout.conn.settings_stamp != self.relay.settings().stamp() {
            let mut in_step = true;
            if let Some(sets) = self
                .relay
                .settings()
                .differences(&checkout.conn.params, false)
            {
                if replay_settings(&mut checkout, &sets, self.info.id).await {
                    self.relay.settings_applied(&checkout.conn.params);
                }
                in_step = self
                    .relay
                    .settings()
                    .differences(&checkout.conn.params, false)
                    .is_none();
                // Replaying is not the statement's time.
                attached_at = Instant::now();
            }
            if in_step {
                checkout.conn.settings_stamp = self.relay.settings().stamp();
            }
        }
        if let Some(cache) = &self.shared.cache {
            if cache.catalog(&self.info.database).is_none() {
                match checkout
                    .conn
                    .query_params(crate::cache::CATALOG_QUERY, &[])
                    .await
                {
                    Ok(rows) => cache
                        .set_catalog(&self.info.database, crate::cache::Catalog::from_rows(&rows)),
                    Err(e) => {
                        tracing::warn!(database = %self.info.database, error = %e, "result cache: cannot read the catalog")
                    }
                }
                attached_at = Instant::now();
            }
        }
        *lock(&self.info.attached) =
            Some((checkout.conn.address.clone(), checkout.conn.backend_key));
        self.info.state.store(STATE_ACTIVE, Ordering::Relaxed);
        self.pool
            .stats
            .active_clients
            .fetch_add(1, Ordering::Relaxed);
        self.relay.attached(attached_at);
        self.server = Some(checkout);
        Ok(true)
    }

    /// Answers a simple query (`kind` `Q`, `total` bytes), or the extended-protocol batch
    /// that starts with the client's next message, from the result cache when it can
    /// (true), or arranges for its answer to be kept.
    async fn serve_from_cache(&mut self, kind: u8, total: usize) -> Result<bool, SessionError> {
        let Some(cache) = self.shared.cache.clone() else {
            return Ok(false);
        };
        if !self.relay.can_serve_cached() || self.relay.cache.as_ref().is_none_or(|c| c.untracked) {
            return Ok(false);
        }
        let batch = match kind {
            b'Q' => None,
            _ => match self.relay.cache.as_ref().and_then(|c| c.batch(&self.cbuf)) {
                Some(batch) => Some(batch),
                None => return Ok(false),
            },
        };
        let mut settings = self.startup.clone();
        for (name, value) in self.relay.settings().current() {
            if name != "application_name" {
                settings.push_str(&format!("\n{name}={value}"));
            }
        }
        let (query, extra, len) = match &batch {
            Some(batch) => (&*batch.query, &batch.key[..], batch.len),
            None => (
                protocol::decode_query(&self.cbuf[5..total])?,
                &[][..],
                total,
            ),
        };
        let parts = crate::cache::KeyParts {
            database: &self.info.database,
            user: &self.info.user,
            settings: &settings,
        };
        match cache.lookup(&parts, query, extra).await {
            crate::cache::Lookup::Hit(frames) => {
                if let Some(batch) = &batch {
                    if let Some((name, types)) = &batch.parse {
                        self.relay.parsed_from_cache(name, &batch.query, types);
                    }
                    // The gate saw the batch's first message; its Sync ends it.
                    self.gate.allowed(b'S');
                }
                self.relay.serve_cached(frames);
                self.cbuf.advance(len);
                Ok(true)
            }
            crate::cache::Lookup::Miss(fill) => {
                // A named Parse may be answered by brisk itself in transaction mode (the
                // server has the statement), an answer a fill would not see: such a batch
                // (a driver's one-time prepare) is not kept.
                let named_parse = batch
                    .as_ref()
                    .and_then(|b| b.parse.as_ref())
                    .is_some_and(|(name, _)| !name.is_empty());
                if let Some(relay_cache) = self.relay.cache.as_mut().filter(|_| !named_parse) {
                    relay_cache.start_fill(fill);
                }
                Ok(false)
            }
            crate::cache::Lookup::Pass => Ok(false),
        }
    }

    /// Before the statements queued for the server reach it: marks the tables they may write
    /// as being written, and bumps their versions. When that cannot be done the write is
    /// not sent: the client is told and disconnected, as no brisk may serve a result that
    /// predates it. False when the session ends.
    async fn announce_writes(&mut self) -> Result<bool, SessionError> {
        let (Some(cache), Some(relay_cache)) =
            (self.shared.cache.clone(), self.relay.cache.as_mut())
        else {
            return Ok(true);
        };
        let pending = relay_cache.take_pending();
        if pending.is_empty() {
            return Ok(true);
        }
        let Some(keys) = cache.write_keys(&self.info.database, &pending) else {
            return Ok(true);
        };
        let lease = self
            .lease
            .get_or_insert_with(|| (cache.new_lease(), Vec::new()));
        let new: Vec<String> = keys.into_iter().filter(|k| !lease.1.contains(k)).collect();
        if new.is_empty() {
            return Ok(true);
        }
        match cache.acquire(&new, &lease.0).await {
            Ok(()) => {
                lease.1.extend(new);
                Ok(true)
            }
            Err(e) => {
                tracing::warn!(client = self.info.id, error = %e, "result cache: cannot announce a write; the client is disconnected before it is sent");
                self.release(false);
                fatal(
                    &mut self.client,
                    "08006",
                    "brisk cannot announce this write to the result cache (its version store is unreachable): the write was not sent",
                )
                .await?;
                Ok(false)
            }
        }
    }

    /// Once the transaction is over (or the session, `ending`): bumps the written tables'
    /// versions again and clears their marks, before the client sees the ReadyForQuery
    /// that acknowledges the commit. A store that stays unreachable leaves the marks to
    /// expire (`write_lease`); the first bump already made older entries unservable.
    async fn finish_writes(&mut self, ending: bool) {
        if !ending && !self.relay.transaction_over() {
            return;
        }
        let (Some(cache), Some((lease, keys))) = (self.shared.cache.clone(), self.lease.take())
        else {
            return;
        };
        // A few tries over about a second: a Redis failover or restart.
        for attempt in 0..5 {
            match cache.release(&keys, &lease).await {
                Ok(()) => return,
                Err(e) if attempt == 4 => {
                    tracing::warn!(client = self.info.id, error = %e, "result cache: cannot clear a write's marks; they expire after write_lease")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// Offers a filled answer to the cache, off the client's path.
    fn store_fill(&mut self) {
        let Some(cache) = self.shared.cache.clone() else {
            return;
        };
        if let Some((fill, frames)) = self.relay.cache.as_mut().and_then(|c| c.take_filled()) {
            tokio::spawn(async move { cache.store(fill, frames).await });
        }
    }

    /// Gives the server back when the client's transaction is over and nothing is in flight.
    fn maybe_release(&mut self) {
        if self.server.is_none()
            || !self.relay.at_rest()
            || protocol::frame_header(&self.cbuf, MAX_BUFFERED_MESSAGE)
                .ok()
                .flatten()
                .is_some()
        {
            return;
        }
        self.release(true);
    }

    fn release(&mut self, reusable: bool) {
        if let Some(checkout) = self.server.take() {
            self.pool.release(checkout, reusable);
            self.pool
                .stats
                .active_clients
                .fetch_sub(1, Ordering::Relaxed);
        }
        *lock(&self.info.attached) = None;
        self.info.state.store(STATE_IDLE, Ordering::Relaxed);
    }

    /// The server went away under the client: tell it, and drop the connection. The pool's
    /// idle connections to the same server most likely went with it (a restart, a
    /// failover), so they are closed rather than lent to the next clients to fail.
    async fn server_lost(&mut self, why: &str) -> Result<(), SessionError> {
        self.release(false);
        self.pool.close_idle();
        fatal(
            &mut self.client,
            "08006",
            &format!("the server connection was lost: {why}"),
        )
        .await?;
        Ok(())
    }

    /// When the client leaves: a server at rest goes back to the pool; one in a transaction
    /// is rolled back first, and one that held the client's session state (pinned) is
    /// cleaned with DISCARD ALL. A statement still running in the client's transaction is
    /// cancelled first: its locks would otherwise be held until it ended, for a client that
    /// will never commit. Any other request in flight closes the server.
    async fn detach_on_exit(&mut self) {
        if self.server.is_none() {
            return;
        }
        let in_copy = self.relay.in_copy();
        // A request in flight leaves the server at rest only once it is answered.
        let at_rest = !self.relay.awaiting_answers()
            || (self.relay.status() == TransactionStatus::InTransaction
                && !in_copy
                && self.cancel_in_flight().await);
        if in_copy || !at_rest {
            self.release(false);
            return;
        }
        if self.relay.at_rest() {
            self.release(true);
            return;
        }
        let pinned = self.relay.pinned();
        let Some(server) = self.server.as_mut() else {
            return;
        };
        let clean = async {
            let mut status = server.conn.simple("ROLLBACK").await?;
            if pinned {
                // One statement per query: DISCARD ALL refuses to run in the implicit
                // transaction of a multi-statement query.
                status = server.conn.simple("DISCARD ALL").await?;
                server.conn.prepared.clear();
            }
            Ok::<u8, ServerError>(status)
        };
        let cleaned = tokio::time::timeout(Duration::from_secs(5), clean).await;
        let reusable = matches!(cleaned, Ok(Ok(b'I')));
        self.release(reusable);
    }

    /// Cancels what the server is running for a client that left, and reads the answers
    /// it still owes (at most 2 s). True when the server came to rest.
    async fn cancel_in_flight(&mut self) -> bool {
        let Some(server) = self.server.as_ref() else {
            return false;
        };
        if let Err(e) = send_cancel(&server.conn.address, server.conn.backend_key).await {
            tracing::warn!(client = self.info.id, error = %e, "cannot cancel a departed client's statement");
            return false;
        }
        let drain = async {
            while self.relay.awaiting_answers() {
                let server = self.server.as_mut()?;
                if server
                    .conn
                    .stream
                    .read_buf(&mut server.conn.buf)
                    .await
                    .ok()?
                    == 0
                {
                    return None;
                }
                self.server_messages().ok()?;
                // Nobody is left to read it.
                self.relay.to_client.clear();
            }
            Some(())
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(2), drain).await,
            Ok(Some(()))
        )
    }

    /// Relays every whole message the server has sent, following the expected answers.
    fn server_messages(&mut self) -> Result<(), SessionError> {
        // The messages are read in place and consumed together, as the client's are.
        let Some(server) = self.server.as_mut() else {
            return Ok(());
        };
        let buf = std::mem::take(&mut server.conn.buf);
        let mut consumed = 0;
        let handled = self.relay.server_frames(&buf, &mut consumed, state(server));
        let mut buf = buf;
        buf.advance(consumed);
        server.conn.buf = buf;
        Ok(handled?)
    }

    /// Puts back the settings a reset took from the client, before its next message.
    async fn restore_settings(&mut self, local: bool) {
        if let Some(server) = self.server.as_mut() {
            if let Some(sets) = self
                .relay
                .settings()
                .differences(&server.conn.params, local)
            {
                if replay_settings(server, &sets, self.info.id).await {
                    self.relay.settings_applied(&server.conn.params);
                }
            }
        }
    }

    /// Adds what the relay counted to the pool's statistics: once per batch, not per
    /// message.
    fn count(&mut self) {
        let counts = self.relay.take_counts();
        if counts == Counts::default() {
            return;
        }
        let stats = &self.pool.stats;
        let add = |counter: &std::sync::atomic::AtomicU64, value: u64| {
            if value > 0 {
                counter.fetch_add(value, Ordering::Relaxed);
            }
        };
        add(&stats.query_count, counts.queries);
        add(&stats.xact_count, counts.transactions);
        add(&stats.query_time_us, counts.query_time_us);
        add(&stats.xact_time_us, counts.transaction_time_us);
        add(&stats.bytes_received, counts.bytes_to_server);
        add(&stats.bytes_sent, counts.bytes_to_client);
    }

    async fn flush_client(&mut self) -> Result<(), SessionError> {
        if !self.relay.to_client.is_empty() {
            self.client.write_all(&self.relay.to_client).await?;
            self.relay.to_client.clear();
        }
        self.hand_off();
        Ok(())
    }

    /// Gives the completed statements to the statistics thread, and the counts to the pool.
    fn hand_off(&mut self) {
        self.count();
        if let Some(observer) = &self.shared.observer {
            for executed in self.relay.tracker.completed() {
                observer.executed(executed);
            }
        }
    }

    /// The client started using something that lives in the session: it keeps its server.
    fn pinned(&mut self, feature: &'static str) {
        self.pool.stats.pinned.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            client = self.info.id,
            pool = %self.pool.name(),
            feature,
            "client uses a session feature: pinned to its server for the rest of its session"
        );
    }
}

/// Runs brisk's `SET`s for a client's settings on its server, outside the client's
/// traffic. A value the server refuses (a client's startup value PostgreSQL would have
/// refused at login) is logged; the client keeps asking for it.
async fn replay_settings(server: &mut Checkout, sets: &str, client: u64) -> bool {
    match server.conn.simple(sets).await {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(client, error = %e, "cannot replay client settings");
            false
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
