//! The proxy as a whole: the listener, the state every session shares (configuration,
//! pools, clients, pause and shutdown), reloading and draining.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::config::{Config, ConfigError, Database};
use crate::health::Health;
use crate::limits::Limits;
use crate::observe::{CaptureSettings, ObserveSettings, Observer};
use crate::pool::{Pool, PoolSettings};
use crate::server::{send_cancel, ServerSecret, ServerTarget};
use crate::session::ClientInfo;
use brisk_wire::auth::Secret;

/// What stops the proxy from starting.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("http_listen: cannot listen on {addr}: {source}")]
    HttpListen {
        addr: String,
        source: std::io::Error,
    },
    #[error("client TLS: {0}")]
    Tls(String),
    #[error("cannot start the statistics: {0}")]
    Observer(std::io::Error),
    #[error("cache: {0}")]
    Cache(#[from] crate::cache::CacheError),
}

/// How long a shutdown waits for clients to finish their transactions.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// State every session sees.
pub struct Shared {
    config: RwLock<Arc<Config>>,
    pools: Mutex<HashMap<(String, String), Arc<Pool>>>,
    clients: Mutex<HashMap<u64, Arc<ClientInfo>>>,
    next_id: AtomicU64,
    /// Per-query statistics; `None` when `query_stats = false`.
    pub observer: Option<Observer>,
    client_tls: RwLock<Option<TlsAcceptor>>,
    shutdown: watch::Sender<bool>,
    paused: watch::Sender<bool>,
    started: Instant,
    health: Health,
    /// Rate limits and connection caps (`[[rate_limits]]`), rebuilt on reload; sessions
    /// compare the generation (one atomic load per transaction start) to pick up new rules.
    limits: RwLock<Arc<Limits>>,
    limits_generation: AtomicU64,
    /// The result cache, when `[cache] enabled` (read at start).
    pub cache: Option<Arc<crate::cache::Cache>>,
}

impl Shared {
    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .map(|c| c.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    pub fn limits(&self) -> Arc<Limits> {
        self.limits
            .read()
            .map(|l| l.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    pub fn limits_generation(&self) -> u64 {
        self.limits_generation.load(Ordering::Acquire)
    }

    pub fn client_tls(&self) -> Option<TlsAcceptor> {
        self.client_tls.read().ok().and_then(|t| t.clone())
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Pool samples and upstream probes, for the HTTP endpoints.
    pub(crate) fn health(&self) -> &Health {
        &self.health
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    pub fn next_client_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn register_client(&self, info: Arc<ClientInfo>) {
        lock(&self.clients).insert(info.id, info);
    }

    pub fn unregister_client(&self, info: &ClientInfo) {
        lock(&self.clients).remove(&info.id);
    }

    pub fn client_count(&self) -> usize {
        lock(&self.clients).len()
    }

    pub fn clients(&self) -> Vec<Arc<ClientInfo>> {
        let mut clients: Vec<_> = lock(&self.clients).values().cloned().collect();
        clients.sort_by_key(|c| c.id);
        clients
    }

    pub fn pools(&self) -> Vec<Arc<Pool>> {
        let mut pools: Vec<_> = lock(&self.pools).values().cloned().collect();
        pools.sort_by(|a, b| (&a.database, &a.user).cmp(&(&b.database, &b.user)));
        pools
    }

    /// The pool for `db` as `client_user`: the database's own user if its URL names one,
    /// else the client's. The client's servers log in with its plain-text password in
    /// `[users]`, else with `learned`, what the client's own login gave brisk (its SCRAM
    /// keys, or the md5 hash it was checked against), which also refreshes an existing
    /// pool's.
    pub fn pool_for(
        &self,
        db: &Database,
        client_user: &str,
        learned: Option<ServerSecret>,
    ) -> Result<Arc<Pool>, String> {
        let config = self.config();
        let (user, secret) = if db.forced_user {
            let password = db.upstream.hosts.first().and_then(|h| h.password.clone());
            (
                db.upstream.user.clone(),
                password.map(ServerSecret::Password),
            )
        } else {
            let plain = config
                .users
                .get(client_user)
                .map(|s| Secret::parse(s))
                .and_then(|s| s.plain().map(|p| ServerSecret::Password(p.to_string())));
            (client_user.to_string(), plain.or(learned))
        };
        let key = (db.name.clone(), user.clone());
        if let Some(pool) = lock(&self.pools).get(&key) {
            if let Some(secret) = secret {
                if pool.set_secret(secret) {
                    tracing::info!(pool = %pool.name(), "new server logins use the secret of the latest client login");
                }
            }
            return Ok(pool.clone());
        }
        let target = server_target(&config, db, user.clone(), secret)?;
        let pool = Pool::new(&db.name, &user, target, pool_settings(&config));
        Ok(lock(&self.pools).entry(key).or_insert(pool).clone())
    }

    /// Where and as whom to probe `db` (see `server::probe`): as its pools would connect.
    /// The probe sends no password, so the user only needs to be one the server knows, to
    /// keep "role does not exist" out of its log: the database's own user, else that of a
    /// pool of it, else the first user in `[users]` that is not an admin.
    pub fn probe_target(&self, db: &Database) -> Result<ServerTarget, String> {
        let config = self.config();
        let user = if db.forced_user {
            db.upstream.user.clone()
        } else {
            let pool_user = self
                .pools()
                .into_iter()
                .find(|p| p.database == db.name)
                .map(|p| p.user.clone());
            let first_user = config
                .users
                .keys()
                .find(|u| !config.admin_users.contains(u))
                .cloned();
            pool_user
                .or(first_user)
                .unwrap_or_else(|| "brisk".to_string())
        };
        server_target(&config, db, user, None)
    }

    /// Routes a CancelRequest to the server of the client whose key it carries, if any.
    pub async fn cancel(&self, key: (i32, i32)) {
        let target = lock(&self.clients)
            .values()
            .find(|c| c.cancel_key == key)
            .and_then(|c| c.attached.lock().ok().and_then(|a| a.clone()));
        // A key that matches no client, or a client between transactions, cancels nothing.
        if let Some((address, server_key)) = target {
            if let Err(e) = send_cancel(&address, server_key).await {
                tracing::warn!(error = %e, "cannot forward a cancel request");
            }
        }
    }

    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Waits while the proxy is paused (admin `PAUSE`).
    pub async fn wait_unpaused(&self) {
        if !*self.paused.borrow() {
            return;
        }
        let mut paused = self.paused.subscribe();
        while *paused.borrow_and_update() {
            if paused.changed().await.is_err() {
                return;
            }
        }
    }

    /// Stops handing out servers and waits until every server is back (up to a minute).
    pub async fn pause(&self) {
        self.paused.send_replace(true);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline
            && self
                .pools()
                .iter()
                .any(|p| p.stats.active_clients.load(Ordering::Relaxed) > 0)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn resume(&self) {
        self.paused.send_replace(false);
    }

    /// Re-reads the configuration file. Clients stay connected; pools take the new sizes and
    /// timeouts, new databases and users apply to new logins.
    pub fn reload(&self) -> Result<(), ConfigError> {
        let path = self.config().path.clone();
        let config = Config::load(&path)?;
        let tls = client_tls_acceptor(&config).map_err(|message| ConfigError::Invalid {
            path: path.clone(),
            message,
        })?;
        let changed = self.config().start_only_changes(&config);
        if !changed.is_empty() {
            tracing::warn!(
                settings = %changed.join(", "),
                "these settings changed and take effect on restart only"
            );
        }
        if let Some(observer) = &self.observer {
            observer.update(observe_settings(&config));
        }
        let settings = pool_settings(&config);
        for pool in self.pools() {
            pool.update(settings.clone());
        }
        if let Ok(mut current) = self.client_tls.write() {
            *current = tls;
        }
        let limits = Limits::new(
            &config.rate_limits,
            config.rate_limit_redis.clone(),
            Some(&self.limits()),
        );
        if let Ok(mut current) = self.limits.write() {
            *current = Arc::new(limits);
        }
        self.limits_generation.fetch_add(1, Ordering::Release);
        if let Ok(mut current) = self.config.write() {
            *current = Arc::new(config);
        }
        tracing::info!(path = %path.display(), "configuration reloaded");
        Ok(())
    }
}

fn observe_settings(config: &Config) -> ObserveSettings {
    ObserveSettings {
        limit: config.query_stats_limit,
        n_plus_one_min_repeats: config.n_plus_one_min_repeats,
        n_plus_one_min_total: config.n_plus_one_min_total,
        slow_query: config.slow_query,
        log_parameters: config.log_parameters,
        explain_slow: config.explain_slow,
    }
}

/// How to open server connections to `db` as `user`, with its TLS configuration.
pub(crate) fn server_target(
    config: &Config,
    db: &Database,
    user: String,
    secret: Option<ServerSecret>,
) -> Result<ServerTarget, String> {
    let tls = if db.upstream.sslmode == brisk_pg::conninfo::SslMode::Disable {
        None
    } else {
        let config =
            brisk_pg::tls::client_config(&db.upstream, &db.display).map_err(|e| e.to_string())?;
        Some(Arc::new(config))
    };
    Ok(ServerTarget {
        upstream: db.upstream.clone(),
        user,
        database: db.upstream.dbname.clone(),
        secret,
        connect_timeout: config.server_connect_timeout,
        tls,
        options: None,
    })
}

fn pool_settings(config: &Config) -> PoolSettings {
    PoolSettings {
        size: config.default_pool_size,
        min_size: config.min_pool_size,
        reserve_size: config.reserve_pool_size,
        reserve_timeout: config.reserve_pool_timeout,
        query_wait_timeout: config.query_wait_timeout,
        server_lifetime: config.server_lifetime,
        server_idle_timeout: config.server_idle_timeout,
        server_check_delay: config.server_check_delay,
        max_prepared_statements: config.max_prepared_statements,
    }
}

/// The TLS acceptor for clients, from the certificate and key the config names.
fn client_tls_acceptor(config: &Config) -> Result<Option<TlsAcceptor>, String> {
    let (Some(cert), Some(key)) = (&config.client_tls_cert_file, &config.client_tls_key_file)
    else {
        return Ok(None);
    };
    if config.client_tls == crate::config::ClientTls::Disable {
        return Ok(None);
    }
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let certs: Vec<_> = rustls_pemfile::certs(&mut read(cert)?.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    let key = rustls_pemfile::private_key(&mut read(key)?.as_slice())
        .map_err(|e| format!("{}: {e}", key.display()))?
        .ok_or_else(|| format!("{} holds no private key", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("client_tls_cert_file: {e}"))?;
    Ok(Some(TlsAcceptor::from(Arc::new(server))))
}

/// A bound, ready proxy.
pub struct Proxy {
    shared: Arc<Shared>,
    listener: TcpListener,
    /// `http_listen`'s listener, if set.
    http: Option<TcpListener>,
}

impl Proxy {
    /// Binds the listen address of `config`, and starts the statistics thread.
    pub async fn bind(config: Config) -> Result<Proxy, ProxyError> {
        let addr = format!("{}:{}", config.listen_addr, config.listen_port);
        let listener = TcpListener::bind(&addr)
            .await
            .map_err(|source| ProxyError::Listen { addr, source })?;
        let http =
            match &config.http_listen {
                Some(addr) => Some(TcpListener::bind(addr).await.map_err(|source| {
                    ProxyError::HttpListen {
                        addr: addr.clone(),
                        source,
                    }
                })?),
                None => None,
            };
        let tls = client_tls_acceptor(&config).map_err(ProxyError::Tls)?;
        let observer = if config.query_stats {
            let capture = config.capture_file.as_deref().map(|path| CaptureSettings {
                path,
                sample: config.capture_sample,
                max_bytes: config.capture_max_mb.saturating_mul(1024 * 1024),
            });
            Some(
                Observer::start(observe_settings(&config), capture)
                    .map_err(ProxyError::Observer)?,
            )
        } else {
            None
        };
        let cache = match config.cache.enabled {
            true => Some(Arc::new(crate::cache::Cache::new(config.cache.clone())?)),
            false => None,
        };
        crate::cache::follow::preflight(&config).await?;
        let (shutdown, _) = watch::channel(false);
        let (paused, _) = watch::channel(false);
        let limits = Limits::new(&config.rate_limits, config.rate_limit_redis.clone(), None);
        let shared = Arc::new(Shared {
            limits: RwLock::new(Arc::new(limits)),
            limits_generation: AtomicU64::new(0),
            cache,
            config: RwLock::new(Arc::new(config)),
            pools: Mutex::new(HashMap::new()),
            clients: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            observer,
            client_tls: RwLock::new(tls),
            shutdown,
            paused,
            started: Instant::now(),
            health: Health::default(),
        });
        Ok(Proxy {
            shared,
            listener,
            http,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Where `/metrics` and `/health` are served, if `http_listen` is set.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Serves clients until `stop` resolves, then stops accepting, lets clients finish their
    /// transactions (closing idle ones at once) for up to 30 s, and closes the servers.
    /// The HTTP endpoints serve until the end; `/health/ready` says 503 while draining.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        let Proxy {
            shared,
            listener,
            http,
        } = self;
        if let Some(jobs) = shared.observer.as_ref().and_then(|o| o.take_explain_jobs()) {
            tokio::spawn(crate::observe::explain::worker(shared.clone(), jobs));
        }
        // The HTTP listener and the sampler and prober behind it, which only it reads.
        let observability: Vec<tokio::task::JoinHandle<()>> = match http {
            Some(http) => vec![
                tokio::spawn(crate::http::serve(http, shared.clone())),
                tokio::spawn(crate::health::sample_pools(shared.clone())),
                tokio::spawn(crate::health::probe_upstreams(shared.clone())),
            ],
            None => Vec::new(),
        };
        let followers = match &shared.cache {
            Some(cache) => crate::cache::follow::spawn(cache, &shared.config()),
            None => Vec::new(),
        };
        let maintenance = tokio::spawn({
            let shared = shared.clone();
            async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    for pool in shared.pools() {
                        pool.maintain().await;
                    }
                }
            }
        });
        // Every client task holds a clone of `running` until it ends (admin sessions let go
        // of theirs at login): once the last is dropped, `finished` yields None. Shutdown
        // waits on that, not on a poll of the client count.
        let (running, mut finished) = tokio::sync::mpsc::channel::<()>(1);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        tokio::spawn(crate::session::serve(
                            shared.clone(),
                            tcp,
                            Some(peer),
                            running.clone(),
                        ));
                    }
                    Err(e) => {
                        // Out of file descriptors or similar: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                _ = &mut stop => break,
            }
        }
        drop(listener);
        tracing::info!("shutting down: waiting for clients to finish their transactions");
        shared.shutdown.send_replace(true);
        drop(running);
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, finished.recv()).await;
        maintenance.abort();
        for task in observability.into_iter().chain(followers) {
            task.abort();
        }
        for pool in shared.pools() {
            pool.close_idle();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
