//! One client's session: login, then relaying its messages to a server it borrows from a
//! pool, for one transaction at a time (transaction mode) or for the whole session.
//!
//! The relay keeps a queue of the responses it expects, one entry per request it sent, so
//! it always knows which server message answers which request. That is what lets brisk
//! prepare statements behind a client's back (and swallow the answers), answer for a
//! statement a server already has, and hand the server back the moment the client's
//! transaction ends.
//!
//! Architecture invariant: the session does not parse bytes itself (the `protocol` module
//! does) and does not manage connections (the pool does).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::auth::{check_md5, random_bytes, ScramServer, Secret};
use crate::config::{AuthType, ClientTls, Config, Database, PoolMode};
use crate::observe::Executed;
use crate::pool::{Checkout, Pool, PoolError};
use crate::prepared::{ClientStatements, Statement};
use crate::protocol::{self, ProtocolError, StartupPacket};
use crate::proxy::Shared;
use crate::server::{send_cancel, CancelAddress, MAX_BUFFERED_MESSAGE};
use crate::server::{ServerError, ServerSecret};
use crate::session_state::{effects, session_feature, tracked_index, Effects, TrackedSettings};
use crate::stream::Stream;

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

/// One request sent to the server, and what to do with its answers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    /// A client's request: its answers go to the client.
    Client(Request),
    /// brisk's own request: its answers are swallowed.
    Brisk(Request),
    /// An answer brisk owes the client without asking the server (`ParseComplete` for a
    /// statement the server already has, `CloseComplete` for a statement brisk keeps, the
    /// results of a DEALLOCATE brisk carried out itself).
    Owed(Owed),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Owed {
    /// A message with an empty body: ParseComplete, BindComplete, CloseComplete, NoData.
    Empty(u8),
    /// CommandComplete with this tag.
    Complete(&'static str),
    /// ReadyForQuery with the session's current transaction status.
    Ready,
}

/// Statements about the client's prepared statements that brisk carries out itself in
/// transaction mode: on a server they would act on every client's statements there.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LocalCommand {
    /// `DEALLOCATE ALL`, or `DISCARD ALL` (whose other effects brisk does not replay).
    DeallocateAll(&'static str),
    /// `DEALLOCATE [PREPARE] name`.
    Deallocate(String),
}

impl LocalCommand {
    fn parse(query: &str) -> Option<LocalCommand> {
        // Hot path: every Parse and Query comes here; rule out all but DEALLOCATE and
        // DISCARD by their first word, without allocating.
        let first = brisk_sql::Lexer::new(query).find(|t| !t.kind.is_trivia())?;
        if !(first.text.eq_ignore_ascii_case("deallocate")
            || first.text.eq_ignore_ascii_case("discard"))
        {
            return None;
        }
        let mut words = Vec::new();
        for token in brisk_sql::Lexer::new(query) {
            match token.kind {
                brisk_sql::TokenKind::Identifier => words.push(token.text.to_ascii_lowercase()),
                brisk_sql::TokenKind::QuotedIdentifier => {
                    words.push(token.text.trim_matches('"').replace("\"\"", "\""))
                }
                brisk_sql::TokenKind::Semicolon => {}
                kind if kind.is_trivia() => {}
                _ => return None,
            }
            if words.len() > 3 {
                return None;
            }
        }
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        match words.as_slice() {
            ["deallocate", "all"] | ["deallocate", "prepare", "all"] => {
                Some(LocalCommand::DeallocateAll("DEALLOCATE ALL"))
            }
            ["discard", "all"] => Some(LocalCommand::DeallocateAll("DISCARD ALL")),
            ["deallocate", name] | ["deallocate", "prepare", name] => {
                Some(LocalCommand::Deallocate(name.to_string()))
            }
            _ => None,
        }
    }

    fn tag(&self) -> &'static str {
        match self {
            LocalCommand::DeallocateAll(tag) => tag,
            LocalCommand::Deallocate(_) => "DEALLOCATE",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Request {
    /// `Parse`; the name brisk recorded as prepared, to forget if the parse fails.
    Parse(Option<Arc<str>>),
    Bind,
    Close,
    Describe,
    /// With its statement's statistics when they are kept, and what it does to the
    /// session state brisk follows.
    Execute(Option<Tracked>, Effects),
    Sync,
    /// A simple query or function call: its answers run until ReadyForQuery.
    Query(Option<Tracked>, Effects),
}

/// A statement in flight, for the per-query statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tracked {
    query: Arc<str>,
    /// A hash of the bound values (extended protocol).
    params: Option<u64>,
    started: Instant,
    wait: Duration,
    rows: u64,
    error: bool,
    values: Option<Arc<[Option<String>]>>,
}

/// A bound portal, for the statistics: its statement's text, a hash of its values, and the
/// values themselves when `log_parameters` allows them.
#[derive(Debug, Clone)]
struct Portal {
    text: Arc<str>,
    params: u64,
    values: Option<Arc<[Option<String>]>>,
}

impl Expect {
    fn request(&self) -> Option<&Request> {
        match self {
            Expect::Client(r) | Expect::Brisk(r) => Some(r),
            Expect::Owed(_) => None,
        }
    }
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
            if let Err(e) = session.run().await {
                tracing::debug!(client = info.id, error = %e, "session ended");
            }
            session.detach_on_exit().await;
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
    let server_params = match pool.greeting_params().await {
        Ok(p) => p,
        Err(e) => {
            fatal(stream, "08006", &format!("cannot reach the server: {e}")).await?;
            return Ok(Login::Done);
        }
    };
    let settings = Box::new(TrackedSettings::new(&params, &server_params));
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
    Ok(Login::Client {
        pool,
        info,
        settings,
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
            protocol::put_auth(&mut out, 5, &salt);
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
                crate::auth::ScramVerifier::from_password(&format!("{:?}", random_bytes::<16>()))
            });
            let Some(verifier) = verifier else {
                fatal(stream, "28P01", &failed).await?;
                return Ok(Authenticated::No);
            };
            protocol::put_auth(&mut out, 10, b"SCRAM-SHA-256\0\0");
            stream.write_all(&out).await?;
            let (kind, body) = read_client_message(stream, buf).await?;
            let Some((mechanism, rest)) = protocol::cstr(&body).filter(|_| kind == b'p') else {
                fatal(stream, "08P01", "expected a SASLInitialResponse").await?;
                return Ok(Authenticated::No);
            };
            if mechanism != "SCRAM-SHA-256" || rest.len() < 4 {
                fatal(stream, "28000", "brisk supports SCRAM-SHA-256 only").await?;
                return Ok(Authenticated::No);
            }
            let scram = match ScramServer::start(verifier, &rest[4..]) {
                Ok(s) => s,
                Err(e) => {
                    fatal(stream, "28000", &e.to_string()).await?;
                    return Ok(Authenticated::No);
                }
            };
            out.clear();
            protocol::put_auth(&mut out, 11, scram.server_first().as_bytes());
            stream.write_all(&out).await?;
            let (kind, body) = read_client_message(stream, buf).await?;
            match (kind, scram.finish(&body)) {
                (b'p', Ok((server_final, keys))) if secret.is_some() => {
                    out.clear();
                    protocol::put_auth(&mut out, 12, server_final.as_bytes());
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
    protocol::put_auth(&mut out, 0, &[]);
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

/// A logged-in client being relayed.
struct Session {
    shared: Arc<Shared>,
    pool: Arc<Pool>,
    info: Arc<ClientInfo>,
    client: Stream,
    cbuf: BytesMut,
    server: Option<Checkout>,
    expected: VecDeque<Expect>,
    /// The transaction status of the last ReadyForQuery: I, T or E.
    status: u8,
    /// Bound to its server for the rest of the session (session features, or session mode).
    pinned: bool,
    transaction_mode: bool,
    statements: ClientStatements,
    /// The client's tracked settings, brought to every server it gets.
    settings: TrackedSettings,
    /// A statement reset tracked settings that the server put back to its own startup
    /// values, not the client's: they are set again before the client's next message
    /// (with `SET LOCAL` when the reset was local). See `session_state`.
    restore: Option<bool>,
    /// The server has answered everything up to a ReadyForQuery: brisk may send a simple
    /// query of its own without breaking into the client's extended-protocol batch.
    synced: bool,
    /// What the unnamed statement, the unnamed portal and named ones (only those that
    /// have any) do to the session state brisk follows.
    unnamed_effects: Effects,
    unnamed_portal_effects: Effects,
    named_effects: HashMap<String, Effects>,
    named_portal_effects: HashMap<String, Effects>,
    to_server: BytesMut,
    to_client: BytesMut,
    in_copy: bool,
    /// The unnamed statement is a DEALLOCATE brisk answers itself.
    unnamed_local: Option<LocalCommand>,
    /// `idle_transaction_timeout` as it was when the client logged in.
    idle_transaction_timeout: Duration,
    /// When the request now in flight was sent, and when the transaction began.
    request_started: Option<Instant>,
    transaction_started: Option<Instant>,
    /// When the batch of messages being handled arrived (from the client, or from the
    /// server): one clock read per batch serves every timing of it.
    now: Instant,
    /// Whether statements are handed to the statistics thread.
    observing: bool,
    /// Time waited for the current server, charged to the next statement.
    pending_wait: Duration,
    /// Query texts for the statistics: the unnamed statement, named statements in session
    /// mode (transaction mode keeps them in `statements`), and portals with the hash of their
    /// bound values.
    /// With the raw parameter types of its Parse when values are kept (to decode binary
    /// values).
    unnamed_text: Option<(Arc<str>, Bytes)>,
    named_texts: HashMap<String, (Arc<str>, Bytes)>,
    unnamed_portal: Option<Portal>,
    named_portals: HashMap<String, Portal>,
    /// `log_parameters` as it was when the client logged in.
    keep_values: bool,
    /// Statements completed by the messages being relayed, handed to the statistics thread
    /// once the client has its answer: the hand-off stays off the response's path.
    completed: Vec<Executed>,
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
        let observing = shared.observer.is_some();
        let keep_values = observing && config.log_parameters;
        Session {
            unnamed_local: None,
            idle_transaction_timeout,
            shared,
            pool,
            info,
            client,
            cbuf,
            server: None,
            expected: VecDeque::new(),
            status: b'I',
            pinned: !transaction_mode,
            transaction_mode,
            statements: ClientStatements::default(),
            settings,
            restore: None,
            synced: true,
            unnamed_effects: Effects::NONE,
            unnamed_portal_effects: Effects::NONE,
            named_effects: HashMap::new(),
            named_portal_effects: HashMap::new(),
            // Allocated on first use: an idle client costs a few pages of memory, not
            // buffers sized for traffic it may never send.
            to_server: BytesMut::new(),
            to_client: BytesMut::new(),
            in_copy: false,
            request_started: None,
            transaction_started: None,
            now: Instant::now(),
            observing,
            pending_wait: Duration::ZERO,
            unnamed_text: None,
            named_texts: HashMap::new(),
            unnamed_portal: None,
            named_portals: HashMap::new(),
            keep_values,
            completed: Vec::new(),
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
                if self.server.is_none() {
                    // A wait for a server is not the statement's time: attach moves `now`.
                    if !self.attach().await? {
                        return Ok(());
                    }
                } else if self.restore.is_some() {
                    self.restore_settings().await;
                }
                // Handled in place and then consumed: splitting the buffer per message
                // costs reference counting and a drop for each.
                let total = header.total_len();
                let cbuf = std::mem::take(&mut self.cbuf);
                let handled = self.client_message(header.kind, &cbuf[5..total]);
                self.cbuf = cbuf;
                self.cbuf.advance(total);
                handled?;
                tracing::trace!(client = self.info.id, kind = %(header.kind as char), expected = ?self.expected, "from client");
            }
            if !self.to_server.is_empty() {
                if let Some(server) = self.server.as_mut() {
                    let sent = self.to_server.len() as u64;
                    if self.request_started.is_none() {
                        self.request_started = Some(self.now);
                    }
                    self.synced = false;
                    if let Err(e) = server.conn.stream.write_all(&self.to_server).await {
                        self.server_lost(&e.to_string()).await?;
                        return Ok(());
                    }
                    self.pool
                        .stats
                        .bytes_received
                        .fetch_add(sent, Ordering::Relaxed);
                }
                self.to_server.clear();
            }
            self.pay_owed();
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
                    self.now = Instant::now();
                }
                Event::Server(Ok(0)) => {
                    self.server_lost("the server closed the connection").await?;
                    return Ok(());
                }
                Event::Server(Ok(_)) => {
                    self.now = Instant::now();
                    self.server_messages()?;
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

    /// Gives back the memory a burst took (a large query, COPY, big rows) once it is
    /// relayed, so that a client idle after it holds small buffers again, and leaves the
    /// client's buffer room for its next read.
    fn trim_buffers(&mut self) {
        for buf in [&mut self.to_server, &mut self.to_client] {
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
        (self.server.is_some()
            && self.expected.is_empty()
            && matches!(self.status, b'T' | b'E')
            && !limit.is_zero())
        .then_some(limit)
    }

    /// Borrows a server from the pool, waiting if needed, and brings it to the client's
    /// settings. Returns false when the client was told why it cannot have one.
    async fn attach(&mut self) -> Result<bool, SessionError> {
        // The wait counts from the arrival of the message that needs the server; one clock
        // read after it serves the wait, the transaction's start and the statement's.
        let asked = self.now;
        self.shared.wait_unpaused().await;
        self.info.state.store(STATE_WAITING, Ordering::Relaxed);
        let acquired = self.pool.acquire().await;
        let mut attached_at = Instant::now();
        self.pending_wait += attached_at.saturating_duration_since(asked);
        let checkout = match acquired {
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
        let mut checkout = checkout;
        // Bring the server to the client's settings (application_name, TimeZone, ...)
        // where it differs: whatever the last client left there is not this client's.
        if let Some(sets) = self.settings.differences(&checkout.conn.params, false) {
            replay_settings(&mut checkout, &sets, self.info.id).await;
            // Replaying is not the statement's time.
            attached_at = Instant::now();
        }
        self.restore = None;
        self.synced = true;
        *lock(&self.info.attached) =
            Some((checkout.conn.address.clone(), checkout.conn.backend_key));
        self.info.state.store(STATE_ACTIVE, Ordering::Relaxed);
        self.pool
            .stats
            .active_clients
            .fetch_add(1, Ordering::Relaxed);
        self.transaction_started = Some(attached_at);
        self.now = attached_at;
        self.status = b'I';
        self.server = Some(checkout);
        Ok(true)
    }

    /// Gives the server back when the client's transaction is over and nothing is in flight.
    fn maybe_release(&mut self) {
        if self.pinned
            || self.server.is_none()
            || !self.expected.is_empty()
            || self.status != b'I'
            || self.in_copy
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
        // A request in flight leaves the server at rest only once it is answered.
        let at_rest = self.expected.is_empty()
            || (self.status == b'T' && !self.in_copy && self.cancel_in_flight().await);
        if self.in_copy || !at_rest {
            self.release(false);
            return;
        }
        if self.status == b'I' && !self.pinned {
            self.release(true);
            return;
        }
        let Some(server) = self.server.as_mut() else {
            return;
        };
        let clean = async {
            let mut status = server.conn.simple("ROLLBACK").await?;
            if self.pinned {
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
            while !self.expected.is_empty() {
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
                self.to_client.clear();
            }
            Some(())
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(2), drain).await,
            Ok(Some(()))
        )
    }

    /// Forwards one client message, rewriting prepared statement names in transaction mode.
    fn client_message(&mut self, kind: u8, body: &[u8]) -> Result<(), SessionError> {
        let rename = self.transaction_mode;
        match kind {
            b'Q' => {
                let query = protocol::decode_query(body)?;
                if let Some(command) =
                    LocalCommand::parse(query).filter(|c| rename && self.answers_locally(c))
                {
                    self.run_local(&command);
                    self.expected
                        .push_back(Expect::Owed(Owed::Complete(command.tag())));
                    self.expected.push_back(Expect::Owed(Owed::Ready));
                    return Ok(());
                }
                self.watch_for_session_features(query);
                protocol::put_message(&mut self.to_server, kind, body);
                let tracked = self.observing.then(|| self.track(query.into(), None, None));
                self.expected
                    .push_back(Expect::Client(Request::Query(tracked, effects(query))));
            }
            b'F' => {
                protocol::put_message(&mut self.to_server, kind, body);
                self.expected
                    .push_back(Expect::Client(Request::Query(None, Effects::NONE)));
            }
            b'P' => {
                let parse = protocol::decode_parse(body)?;
                self.unnamed_local = None;
                self.remember_statement_effects(parse.name, effects(parse.query));
                if parse.name.is_empty() && rename {
                    if let Some(command) =
                        LocalCommand::parse(parse.query).filter(|c| self.answers_locally(c))
                    {
                        // Answered by brisk: the Bind, Describe and Execute of the unnamed
                        // statement that follow are too.
                        self.unnamed_local = Some(command);
                        self.expected.push_back(Expect::Owed(Owed::Empty(b'1')));
                        return Ok(());
                    }
                }
                self.watch_for_session_features(parse.query);
                if self.observing {
                    let types = if self.keep_values {
                        Bytes::copy_from_slice(parse.param_types)
                    } else {
                        Bytes::new()
                    };
                    // Drivers send the same unnamed statement again and again: its text is
                    // shared, not copied, while it stays the same.
                    let query: Arc<str> = match &self.unnamed_text {
                        Some((last, _)) if **last == *parse.query => last.clone(),
                        _ => parse.query.into(),
                    };
                    let text = (query, types);
                    if parse.name.is_empty() {
                        self.unnamed_text = Some(text);
                    } else if !rename {
                        self.named_texts.insert(parse.name.to_string(), text);
                    }
                }
                if parse.name.is_empty() || !rename {
                    protocol::put_message(&mut self.to_server, kind, body);
                    self.expected
                        .push_back(Expect::Client(Request::Parse(None)));
                } else {
                    let statement = Statement::new(parse.query, parse.param_types);
                    self.statements.insert(parse.name, statement.clone());
                    if self.server_has(&statement.server_name) {
                        self.expected.push_back(Expect::Owed(Owed::Empty(b'1')));
                    } else {
                        self.prepare_on_server(&statement, false);
                    }
                }
            }
            b'B' if self.unnamed_local.is_some()
                && protocol::decode_bind(body)?.statement.is_empty() =>
            {
                self.expected.push_back(Expect::Owed(Owed::Empty(b'2')));
            }
            b'D' if self.unnamed_local.is_some()
                && protocol::decode_target(kind, body)? == (b'P', "") =>
            {
                self.expected.push_back(Expect::Owed(Owed::Empty(b'n')));
            }
            b'E' if self.unnamed_local.is_some()
                && protocol::cstr(body).map(|(p, _)| p) == Some("") =>
            {
                if let Some(command) = self.unnamed_local.clone() {
                    self.run_local(&command);
                    self.expected
                        .push_back(Expect::Owed(Owed::Complete(command.tag())));
                }
            }
            b'B' => {
                let bind = protocol::decode_bind(body)?;
                self.remember_portal_effects(bind.portal, bind.statement);
                if self.observing {
                    self.remember_portal(bind.portal, bind.statement, bind.rest);
                }
                match self.statement_for(bind.statement, rename) {
                    Some(server_name) => protocol::put_bind(
                        &mut self.to_server,
                        bind.portal,
                        &server_name,
                        bind.rest,
                    ),
                    None => protocol::put_message(&mut self.to_server, kind, body),
                }
                self.expected.push_back(Expect::Client(Request::Bind));
            }
            b'D' => {
                let (which, name) = protocol::decode_target(kind, body)?;
                match (which, self.statement_for(name, rename && which == b'S')) {
                    (b'S', Some(server_name)) => {
                        protocol::put_target(&mut self.to_server, kind, which, &server_name)
                    }
                    _ => protocol::put_message(&mut self.to_server, kind, body),
                }
                self.expected.push_back(Expect::Client(Request::Describe));
            }
            b'C' => {
                let (which, name) = protocol::decode_target(kind, body)?;
                if !name.is_empty() {
                    let effects = match which {
                        b'S' => &mut self.named_effects,
                        _ => &mut self.named_portal_effects,
                    };
                    if !effects.is_empty() {
                        effects.remove(name);
                    }
                }
                if self.observing && !name.is_empty() {
                    match which {
                        b'S' => self.named_texts.remove(name).map(|(text, _)| text),
                        _ => self.named_portals.remove(name).map(|portal| portal.text),
                    };
                }
                if which == b'S' && !name.is_empty() && rename {
                    // The statement stays on the server for other clients; the client's name
                    // for it is forgotten.
                    self.statements.remove(name);
                    self.expected.push_back(Expect::Owed(Owed::Empty(b'3')));
                } else {
                    protocol::put_message(&mut self.to_server, kind, body);
                    self.expected.push_back(Expect::Client(Request::Close));
                }
            }
            b'E' => {
                protocol::put_message(&mut self.to_server, kind, body);
                let portal = protocol::cstr(body).map(|(p, _)| p).unwrap_or("");
                let effects = if portal.is_empty() {
                    self.unnamed_portal_effects
                } else if self.named_portal_effects.is_empty() {
                    Effects::NONE
                } else {
                    self.named_portal_effects
                        .get(portal)
                        .copied()
                        .unwrap_or_default()
                };
                let tracked = if self.observing {
                    let found = if portal.is_empty() {
                        self.unnamed_portal.clone()
                    } else {
                        self.named_portals.get(portal).cloned()
                    };
                    found.map(|portal| self.track(portal.text, Some(portal.params), portal.values))
                } else {
                    None
                };
                self.expected
                    .push_back(Expect::Client(Request::Execute(tracked, effects)));
            }
            b'S' => {
                protocol::put_message(&mut self.to_server, kind, body);
                self.expected.push_back(Expect::Client(Request::Sync));
            }
            // Flush and COPY data get no answer of their own.
            _ => protocol::put_message(&mut self.to_server, kind, body),
        }
        Ok(())
    }

    fn server_has(&mut self, name: &str) -> bool {
        match self.server.as_mut() {
            Some(s) if s.conn.prepared.contains(name) => {
                s.conn.prepared.touch(name);
                true
            }
            _ => false,
        }
    }

    /// The server's name for a client statement, preparing it on this server first if
    /// needed. `None` leaves the message as the client wrote it (the unnamed statement, an
    /// unknown name the server will reject, or session mode).
    fn statement_for(&mut self, name: &str, rename: bool) -> Option<Arc<str>> {
        if !rename || name.is_empty() {
            return None;
        }
        let statement = self.statements.get(name)?.clone();
        if !self.server_has(&statement.server_name) {
            self.prepare_on_server(&statement, true);
        }
        Some(statement.server_name)
    }

    /// Sends a Parse for `statement` under brisk's name, closing statements the server must
    /// forget to stay within `max_prepared_statements`.
    fn prepare_on_server(&mut self, statement: &Statement, on_brisks_behalf: bool) {
        let Some(server) = self.server.as_mut() else {
            return;
        };
        let evicted = server.conn.prepared.insert(statement.server_name.clone());
        for name in evicted {
            protocol::put_target(&mut self.to_server, b'C', b'S', &name);
            self.expected.push_back(Expect::Brisk(Request::Close));
        }
        protocol::put_parse(
            &mut self.to_server,
            &statement.server_name,
            &statement.query,
            &statement.param_types,
        );
        let request = Request::Parse(Some(statement.server_name.clone()));
        self.expected.push_back(if on_brisks_behalf {
            Expect::Brisk(request)
        } else {
            Expect::Client(request)
        });
    }

    /// Relays every whole message the server has sent, following the expected answers.
    fn server_messages(&mut self) -> Result<(), SessionError> {
        // The messages are read in place and consumed together, as the client's are.
        let Some(server) = self.server.as_mut() else {
            return Ok(());
        };
        let buf = std::mem::take(&mut server.conn.buf);
        let mut consumed = 0;
        let handled = self.server_frames(&buf, &mut consumed);
        if let Some(server) = self.server.as_mut() {
            let mut buf = buf;
            buf.advance(consumed);
            server.conn.buf = buf;
        }
        handled
    }

    /// Handles the whole messages in `buf` from `consumed` on, advancing `consumed` past each.
    fn server_frames(&mut self, buf: &[u8], consumed: &mut usize) -> Result<(), SessionError> {
        loop {
            let rest = &buf[*consumed..];
            let Some(header) = protocol::whole_frame(rest, MAX_BUFFERED_MESSAGE)? else {
                return Ok(());
            };
            let frame = &rest[..header.total_len()];
            *consumed += header.total_len();
            let kind = header.kind;
            let body = &frame[5..];
            let mut forward = true;
            match kind {
                b'1' | b'2' | b'3' => {
                    if let Some(Expect::Brisk(_)) = self.expected.front() {
                        forward = false;
                    }
                    self.expected.pop_front();
                }
                b'T' | b'n' => {
                    if matches!(
                        self.expected.front().and_then(Expect::request),
                        Some(Request::Describe)
                    ) {
                        self.expected.pop_front();
                    }
                }
                b'C' | b'I' | b's' => {
                    self.in_copy = false;
                    let rows = if kind == b'C' {
                        protocol::command_rows(body)
                    } else {
                        0
                    };
                    let effects = self.front_effects();
                    if kind == b'C' && !effects.is_none() {
                        self.follow_effects(effects);
                    }
                    match self.expected.front_mut() {
                        Some(Expect::Client(Request::Execute(tracked, _))) => {
                            if let Some(mut tracked) = tracked.take() {
                                tracked.rows = rows;
                                self.finish(tracked);
                            }
                            self.expected.pop_front();
                        }
                        Some(Expect::Client(Request::Query(Some(tracked), _))) => {
                            tracked.rows += rows;
                        }
                        _ => {}
                    }
                }
                b'G' | b'H' | b'W' => self.in_copy = true,
                b'E' => self.server_error(),
                b'Z' => {
                    self.status = body.first().copied().unwrap_or(b'E');
                    if let Some(Expect::Client(Request::Query(Some(tracked), _))) =
                        self.expected.pop_front()
                    {
                        self.finish(tracked);
                    }
                    self.synced = self.expected.is_empty();
                    if self.status == b'I' {
                        // Named portals end with their transaction, and so do settings a
                        // `SET LOCAL ... TO DEFAULT` reset: the server put back the client's.
                        self.named_portals.clear();
                        self.named_portal_effects.clear();
                        if self.restore == Some(true) {
                            self.restore = None;
                        }
                    }
                    self.count_completion();
                }
                b'S' => {
                    if let Ok((name, value)) = protocol::decode_parameter_status(body) {
                        if let Some(server) = self.server.as_mut() {
                            server
                                .conn
                                .params
                                .insert(name.to_string(), value.to_string());
                        }
                        if let Some(index) = tracked_index(name) {
                            match self.settings.reset_value(index) {
                                // A reset: the server went back to its own startup value,
                                // the client to its own (set on the server before its next
                                // statement, see `follow_effects`).
                                Some(own) if self.front_effects().resets(index) && own != value => {
                                    protocol::put_parameter_status(&mut self.to_client, name, own);
                                    forward = false;
                                }
                                // The client changed it: follow it to its next servers.
                                _ => self.settings.reported(index, value),
                            }
                        }
                    }
                }
                _ => {}
            }
            tracing::trace!(client = self.info.id, kind = %(kind as char), forward, expected = ?self.expected, status = %(self.status as char), "from server");
            if forward {
                self.to_client.extend_from_slice(frame);
                self.pool
                    .stats
                    .bytes_sent
                    .fetch_add(frame.len() as u64, Ordering::Relaxed);
            }
            self.pay_owed();
        }
    }

    /// After an error, the server skips every message up to the next Sync: so do the
    /// expected answers. A Parse brisk recorded as prepared did not happen.
    fn server_error(&mut self) {
        if let Some(Expect::Client(Request::Query(tracked, _))) = self.expected.front_mut() {
            if let Some(tracked) = tracked {
                tracked.error = true;
            }
            return;
        }
        // The first statement skipped is the one that failed (at its Parse, Bind or
        // Execute); the ones after it never ran.
        let mut failed = None;
        while let Some(front) = self.expected.front_mut() {
            if matches!(front.request(), Some(Request::Sync)) {
                break;
            }
            if let Expect::Client(Request::Execute(tracked, _)) = front {
                if failed.is_none() {
                    failed = Some(tracked.take());
                }
            }
            if let Some(Request::Parse(Some(name))) = front.request() {
                let name = name.clone();
                if let Some(server) = self.server.as_mut() {
                    server.conn.prepared.remove(&name);
                }
            }
            self.expected.pop_front();
        }
        if let Some(Some(mut tracked)) = failed {
            tracked.error = true;
            self.finish(tracked);
        }
    }

    /// Sends the answers brisk owes the client once everything before them is answered.
    fn pay_owed(&mut self) {
        while let Some(Expect::Owed(owed)) = self.expected.front() {
            match owed {
                Owed::Empty(kind) => protocol::put_message(&mut self.to_client, *kind, &[]),
                Owed::Complete(tag) => protocol::put_command_complete(&mut self.to_client, tag),
                Owed::Ready => protocol::put_ready_for_query(&mut self.to_client, self.status),
            }
            self.expected.pop_front();
        }
    }

    /// A statement starting now, charged with the wait for its server.
    fn track(
        &mut self,
        query: Arc<str>,
        params: Option<u64>,
        values: Option<Arc<[Option<String>]>>,
    ) -> Tracked {
        Tracked {
            query,
            params,
            started: self.now,
            wait: std::mem::take(&mut self.pending_wait),
            rows: 0,
            error: false,
            values,
        }
    }

    /// Records a completed statement for the statistics thread ([`Session::hand_off`]).
    fn finish(&mut self, tracked: Tracked) {
        if self.shared.observer.is_some() {
            self.completed.push(Executed {
                client: self.info.clone(),
                query: tracked.query,
                params: tracked.params,
                duration: self.now.saturating_duration_since(tracked.started),
                wait: tracked.wait,
                rows: tracked.rows,
                error: tracked.error,
                values: tracked.values,
            });
        }
    }

    /// Remembers which statement a portal runs, and a hash of its bound values.
    fn remember_portal(&mut self, portal: &str, statement: &str, values: &[u8]) {
        let found = if statement.is_empty() {
            self.unnamed_text.clone()
        } else if self.transaction_mode {
            self.statements
                .get(statement)
                .map(|s| (s.query.clone(), s.param_types.clone()))
        } else {
            self.named_texts.get(statement).cloned()
        };
        let Some((text, types)) = found else {
            return;
        };
        let entry = Portal {
            text,
            params: crate::observe::hash_of(values),
            values: self
                .keep_values
                .then(|| protocol::bind_values(values, &types))
                .flatten()
                .map(Arc::from),
        };
        if portal.is_empty() {
            self.unnamed_portal = Some(entry);
        } else {
            self.named_portals.insert(portal.to_string(), entry);
        }
    }

    /// Carries out a DEALLOCATE (or DISCARD ALL) on the client's own statements, and a
    /// DISCARD ALL's reset of its settings.
    fn run_local(&mut self, command: &LocalCommand) {
        match command {
            LocalCommand::DeallocateAll(tag) => {
                self.statements = ClientStatements::default();
                if *tag == "DISCARD ALL" {
                    self.settings.reset(effects(tag));
                }
            }
            LocalCommand::Deallocate(name) => {
                self.statements.remove(name);
            }
        }
    }

    /// Whether brisk answers `command` itself rather than the server. Only what brisk can
    /// carry out exactly as PostgreSQL would: a server would act on every client's
    /// statements there, but a pinned client may have SQL-level ones (PREPARE) that only
    /// the server knows; DISCARD ALL fails in a transaction block; a DEALLOCATE of a name
    /// the client never prepared is the server's error to give.
    fn answers_locally(&self, command: &LocalCommand) -> bool {
        match command {
            LocalCommand::DeallocateAll("DISCARD ALL") => !self.pinned && self.status == b'I',
            LocalCommand::DeallocateAll(_) => !self.pinned,
            LocalCommand::Deallocate(name) => self.statements.get(name).is_some(),
        }
    }

    /// What the statement being answered now does to the session state brisk follows.
    fn front_effects(&self) -> Effects {
        match self.expected.front() {
            Some(Expect::Client(Request::Query(_, effects) | Request::Execute(_, effects))) => {
                *effects
            }
            _ => Effects::NONE,
        }
    }

    /// Follows a statement that completed with `effects`: settings reset to the client's
    /// own values (set on the server before its next statement when the server reset them
    /// to its own), and prepared statements the server forgot.
    fn follow_effects(&mut self, effects: Effects) {
        if effects.resets_any() {
            self.settings.reset(effects);
            if let Some(server) = self.server.as_ref() {
                if self
                    .settings
                    .differences(&server.conn.params, false)
                    .is_some()
                {
                    // A LOCAL reset is restored with SET LOCAL, unless a session-level one
                    // is already waiting.
                    self.restore = Some(self.restore.unwrap_or(true) && effects.local());
                }
            }
        }
        if effects.forgets_prepared() {
            self.statements = ClientStatements::default();
            if let Some(server) = self.server.as_mut() {
                server.conn.prepared.clear();
            }
        }
    }

    /// Records what a parsed statement does (most do nothing: the named map stays empty).
    fn remember_statement_effects(&mut self, name: &str, effects: Effects) {
        if name.is_empty() {
            self.unnamed_effects = effects;
        } else if !effects.is_none() {
            self.named_effects.insert(name.to_string(), effects);
        } else if !self.named_effects.is_empty() {
            self.named_effects.remove(name);
        }
    }

    /// A portal does what its statement does.
    fn remember_portal_effects(&mut self, portal: &str, statement: &str) {
        let effects = if statement.is_empty() {
            self.unnamed_effects
        } else if self.named_effects.is_empty() {
            Effects::NONE
        } else {
            self.named_effects
                .get(statement)
                .copied()
                .unwrap_or_default()
        };
        if portal.is_empty() {
            self.unnamed_portal_effects = effects;
        } else if !effects.is_none() {
            self.named_portal_effects
                .insert(portal.to_string(), effects);
        } else if !self.named_portal_effects.is_empty() {
            self.named_portal_effects.remove(portal);
        }
    }

    /// Puts back the settings a reset took from the client (see `follow_effects`), once the
    /// server has answered everything, before the client's next message goes out.
    async fn restore_settings(&mut self) {
        let Some(local) = self.restore else {
            return;
        };
        if !(self.synced && self.expected.is_empty() && self.to_server.is_empty()) {
            return;
        }
        self.restore = None;
        if let Some(server) = self.server.as_mut() {
            if let Some(sets) = self.settings.differences(&server.conn.params, local) {
                replay_settings(server, &sets, self.info.id).await;
            }
        }
    }

    fn count_completion(&mut self) {
        let stats = &self.pool.stats;
        stats.query_count.fetch_add(1, Ordering::Relaxed);
        let now = self.now;
        let micros = |started: Instant| now.saturating_duration_since(started).as_micros() as u64;
        if let Some(started) = self.request_started.take() {
            stats
                .query_time_us
                .fetch_add(micros(started), Ordering::Relaxed);
        }
        if self.status == b'I' {
            stats.xact_count.fetch_add(1, Ordering::Relaxed);
            if let Some(started) = self.transaction_started.take() {
                stats
                    .xact_time_us
                    .fetch_add(micros(started), Ordering::Relaxed);
            }
            self.transaction_started = Some(now);
        }
    }

    async fn flush_client(&mut self) -> Result<(), SessionError> {
        if !self.to_client.is_empty() {
            self.client.write_all(&self.to_client).await?;
            self.to_client.clear();
        }
        self.hand_off();
        Ok(())
    }

    /// Gives the completed statements to the statistics thread.
    fn hand_off(&mut self) {
        if let Some(observer) = &self.shared.observer {
            for executed in self.completed.drain(..) {
                observer.executed(executed);
            }
        }
    }

    /// Pins the client to its server when it starts using something that lives in the
    /// session (transaction mode would otherwise break it silently).
    fn watch_for_session_features(&mut self, query: &str) {
        if self.pinned {
            return;
        }
        if let Some(feature) = session_feature(query) {
            self.pinned = true;
            self.pool.stats.pinned.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                client = self.info.id,
                pool = %self.pool.name(),
                feature,
                "client uses a session feature: pinned to its server for the rest of its session"
            );
        }
    }
}

/// Runs brisk's `SET`s for a client's settings on its server, outside the client's
/// traffic. A value the server refuses (a client's startup value PostgreSQL would have
/// refused at login) is logged; the client keeps asking for it.
async fn replay_settings(server: &mut Checkout, sets: &str, client: u64) {
    if let Err(e) = server.conn.simple(sets).await {
        tracing::warn!(client, error = %e, "cannot replay client settings");
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {

    #[test]
    fn deallocate_and_discard_are_recognised() {
        use super::LocalCommand;
        assert_eq!(
            LocalCommand::parse("DEALLOCATE ALL"),
            Some(LocalCommand::DeallocateAll("DEALLOCATE ALL"))
        );
        assert_eq!(
            LocalCommand::parse("discard all;"),
            Some(LocalCommand::DeallocateAll("DISCARD ALL"))
        );
        assert_eq!(
            LocalCommand::parse("DEALLOCATE PREPARE _pg3_0"),
            Some(LocalCommand::Deallocate("_pg3_0".into()))
        );
        assert_eq!(
            LocalCommand::parse("DEALLOCATE \"Mixed\""),
            Some(LocalCommand::Deallocate("Mixed".into()))
        );
        assert_eq!(LocalCommand::parse("DEALLOCATE ALL; SELECT 1"), None);
        assert_eq!(LocalCommand::parse("SELECT 1"), None);
    }
}
