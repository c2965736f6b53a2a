//! `brisk serve`: a dashboard for a PostgreSQL (and optionally a Redis and a brisk proxy),
//! served by the brisk binary itself.
//!
//! - Pages are HTML rendered on the server from brisk's libraries (`brisk-pg`'s catalog,
//!   `brisk-advisor`'s checks, `brisk-tune`, `brisk-redis`), with the CSS, the charts (inline
//!   SVG) and a small refresh script embedded: nothing is fetched from the network, and every
//!   page works without JavaScript.
//! - [`history`] samples key figures in the background into a bounded ring (optionally kept
//!   in a file), so charts have data from the first minute without a cron job or a table.
//! - Safety: [`check_exposure`] refuses an address other than loopback without a token; the
//!   only write is cancelling or terminating a backend, which needs `--allow-kill` and a POST
//!   carrying the token; query text is always normalized (no values).

mod app;
mod chart;
pub mod history;
mod html;
mod pages;
mod proxy_health;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use brisk_pg::conninfo::ConnInfo;
use brisk_pg::SessionOptions;
use brisk_redis::RedisTarget;

pub use app::App;

/// What can go wrong before the server runs, in the user's terms. The CLI prints one line and
/// exits with 2.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("--listen {0}: brisk serve binds to another address than loopback only with --token, so others on the network cannot read the dashboard")]
    ExposedWithoutToken(SocketAddr),
    #[error("--token: give at least {min} characters (it guards the dashboard and its kill buttons)", min = MIN_TOKEN_CHARS)]
    ShortToken,
    #[error("cannot listen on {address}: {detail}")]
    Bind { address: SocketAddr, detail: String },
    #[error("history file {path}: {detail}")]
    History { path: PathBuf, detail: String },
    #[error("the server stopped: {0}")]
    Server(String),
}

/// Shorter tokens can be guessed over a network by trying them.
pub const MIN_TOKEN_CHARS: usize = 16;

/// Everything `brisk serve` is told.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub postgres: ConnInfo,
    pub session: SessionOptions,
    pub redis: Option<RedisTarget>,
    /// The admin console of a brisk proxy (or PgBouncer): `postgres://admin@proxy/brisk`.
    pub proxy_admin: Option<ConnInfo>,
    pub listen: SocketAddr,
    pub token: Option<String>,
    /// Show cancel and terminate buttons on the live queries page, and accept their POSTs.
    pub allow_kill: bool,
    /// Keep the sampled history in this file (JSON lines), and read it back at start.
    pub history_file: Option<PathBuf>,
    /// Time between two samples of the history.
    pub sample_every: Duration,
    /// Samples the ring keeps; the oldest go first.
    pub history_len: usize,
}

impl ServeOptions {
    /// The defaults for everything but the servers.
    pub fn new(postgres: ConnInfo) -> ServeOptions {
        ServeOptions {
            postgres,
            session: SessionOptions::default(),
            redis: None,
            proxy_admin: None,
            listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
            token: None,
            allow_kill: false,
            history_file: None,
            sample_every: DEFAULT_SAMPLE_EVERY,
            history_len: DEFAULT_HISTORY_LEN,
        }
    }
}

/// PgHero's port, so a bookmark from it still finds a dashboard.
pub const DEFAULT_PORT: u16 = 8080;
/// 10 s: the first minute already holds six points, and a sample (two small queries and
/// one Redis INFO) every 10 s is invisible next to any application's load.
pub const DEFAULT_SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// 24 hours at one sample per 10 s, about 1 MB in memory.
pub const DEFAULT_HISTORY_LEN: usize = 8640;

/// Refuses to expose the dashboard beyond this machine without a token.
pub fn check_exposure(listen: SocketAddr, token: Option<&str>) -> Result<(), ServeError> {
    match token {
        Some(token) if token.chars().count() < MIN_TOKEN_CHARS => Err(ServeError::ShortToken),
        Some(_) => Ok(()),
        None if listen.ip().is_loopback() => Ok(()),
        None => Err(ServeError::ExposedWithoutToken(listen)),
    }
}

/// A bound dashboard, not yet serving: the caller learns the address (for `--listen
/// 127.0.0.1:0`) before it runs.
pub struct Server {
    listener: tokio::net::TcpListener,
    app: Arc<App>,
}

/// Checks the options, loads the history file and binds. Must run inside a tokio runtime.
pub async fn bind(options: ServeOptions) -> Result<Server, ServeError> {
    check_exposure(options.listen, options.token.as_deref())?;
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|e| ServeError::Bind {
            address: options.listen,
            detail: e.to_string(),
        })?;
    let app = Arc::new(App::new(options)?);
    Ok(Server { listener, app })
}

impl Server {
    pub fn local_addr(&self) -> Result<SocketAddr, ServeError> {
        self.listener
            .local_addr()
            .map_err(|e| ServeError::Server(e.to_string()))
    }

    /// Serves until `shutdown` completes; the sampler runs alongside.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let sampler = tokio::spawn(history::run_sampler(self.app.clone()));
        let router = pages::router(self.app);
        let served = axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|e| ServeError::Server(e.to_string()));
        sampler.abort();
        served
    }
}
