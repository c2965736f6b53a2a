//! Where a Redis is and how to log in: `redis://` and `rediss://` URLs, a CA certificate
//! for TLS, timeouts, and the nodes of a Redis Cluster.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, IntoConnectionInfo};

use crate::error::{one_line, Error};

/// A Redis server (or a seed node of a cluster), parsed from a URL.
#[derive(Clone)]
pub struct RedisTarget {
    info: ConnectionInfo,
    /// The URL without its password, for reports and errors.
    address: String,
    /// PEM of a CA to trust instead of the system's roots (`rediss://` only).
    ca_pem: Option<Vec<u8>>,
    connect_timeout: Duration,
    response_timeout: Duration,
}

impl std::fmt::Debug for RedisTarget {
    // Never print the ConnectionInfo: it holds the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTarget")
            .field("address", &self.address)
            .finish()
    }
}

/// A generous default: a batch of 1,000 keys' metadata takes a few milliseconds, so only a
/// stalled server or network gets near it.
const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl RedisTarget {
    /// How long one reply may take before the connection counts as lost, unless
    /// [`RedisTarget::with_response_timeout`] says otherwise.
    pub const DEFAULT_RESPONSE_TIMEOUT: Duration = DEFAULT_RESPONSE_TIMEOUT;

    /// Parses `redis://[user:password@]host[:port][/db]` or `rediss://...` (TLS, verified
    /// against the system's roots unless [`RedisTarget::with_ca_file`] names a CA).
    pub fn parse(url: &str) -> Result<RedisTarget, Error> {
        let bad = |reason: &str| Error::BadUrl {
            url: redact_raw(url),
            reason: reason.to_string(),
        };
        let scheme = url.split("://").next().unwrap_or_default();
        if !url.contains("://") || !matches!(scheme, "redis" | "rediss") {
            return Err(bad("the scheme must be redis:// or rediss://"));
        }
        let info = url
            .into_connection_info()
            .map_err(|e| bad(&one_line(&e.to_string())))?;
        // brisk is read-only: no CLIENT SETINFO on connect, which a read-only ACL user may
        // not be allowed to send anyway.
        let settings = info.redis_settings().clone().set_skip_set_lib_name();
        let info = info.set_redis_settings(settings);
        let address = redacted(&info);
        Ok(RedisTarget {
            info,
            address,
            ca_pem: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
        })
    }

    /// Trusts the CA in the PEM file at `path` for `rediss://` (a private CA, a test server).
    pub fn with_ca_file(mut self, path: &std::path::Path) -> Result<RedisTarget, Error> {
        let pem = std::fs::read(path).map_err(|e| Error::CaCertificate {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
        if !self.is_tls() {
            return Err(Error::BadUrl {
                url: self.address.clone(),
                reason: "a CA certificate needs a rediss:// URL".into(),
            });
        }
        self.ca_pem = Some(pem);
        Ok(self)
    }

    /// How long one reply (a whole pipeline) may take before the connection counts as lost.
    pub fn with_response_timeout(mut self, timeout: Duration) -> RedisTarget {
        self.response_timeout = timeout;
        self
    }

    /// The URL without its password: `redis://reader@127.0.0.1:6379/0`.
    pub fn address(&self) -> &str {
        &self.address
    }

    pub(crate) fn db(&self) -> i64 {
        self.info.redis_settings().db()
    }

    fn is_tls(&self) -> bool {
        matches!(self.info.addr(), ConnectionAddr::TcpTls { .. })
    }

    /// The same login and TLS settings, for another node of the cluster.
    pub(crate) fn for_node(&self, host: &str, port: u16) -> RedisTarget {
        let addr = match self.info.addr() {
            ConnectionAddr::TcpTls {
                insecure,
                tls_params,
                ..
            } => ConnectionAddr::TcpTls {
                host: host.to_string(),
                port,
                insecure: *insecure,
                tls_params: tls_params.clone(),
            },
            _ => ConnectionAddr::Tcp(host.to_string(), port),
        };
        let info = self.info.clone().set_addr(addr);
        RedisTarget {
            address: redacted(&info),
            info,
            ..self.clone()
        }
    }

    /// `host:port` of this node, for finding subjects.
    pub(crate) fn host_port(&self) -> String {
        match self.info.addr() {
            ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
                format!("{host}:{port}")
            }
            ConnectionAddr::Unix(path) => path.display().to_string(),
            _ => self.address.clone(),
        }
    }

    pub(crate) fn host(&self) -> Option<&str> {
        match self.info.addr() {
            ConnectionAddr::Tcp(host, _) | ConnectionAddr::TcpTls { host, .. } => Some(host),
            _ => None,
        }
    }

    pub(crate) fn client(&self) -> Result<redis::Client, Error> {
        let built = match &self.ca_pem {
            Some(pem) => redis::Client::build_with_tls(
                self.info.clone(),
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                },
            ),
            None => redis::Client::open(self.info.clone()),
        };
        built.map_err(|e| Error::BadUrl {
            url: self.address.clone(),
            reason: one_line(&e.to_string()),
        })
    }

    /// One multiplexed connection: every request sent on it (and every clone of it) is
    /// pipelined on one socket.
    pub(crate) async fn connect(&self) -> Result<MultiplexedConnection, Error> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.response_timeout));
        self.client()?
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| Error::from_redis(&self.address, "AUTH", &e))
    }

    /// A connection that reconnects by itself after a loss: the cache store's, and the
    /// proxy's for shared rate limits.
    pub async fn connection_manager(&self) -> Result<redis::aio::ConnectionManager, Error> {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.response_timeout));
        self.client()?
            .get_connection_manager_with_config(config)
            .await
            .map_err(|e| Error::from_redis(&self.address, "AUTH", &e))
    }

    /// A cluster connection seeded from this node: it learns the slot map and routes each
    /// command to the node that owns its key.
    pub(crate) async fn cluster_connection(
        &self,
    ) -> Result<redis::cluster_async::ClusterConnection, Error> {
        let mut builder = redis::cluster::ClusterClientBuilder::new(vec![self.info.clone()])
            .connection_timeout(self.connect_timeout)
            .response_timeout(self.response_timeout);
        if let Some(pem) = &self.ca_pem {
            builder = builder.certs(redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.clone()),
            });
        }
        let client = builder.build().map_err(|e| Error::BadUrl {
            url: self.address.clone(),
            reason: one_line(&e.to_string()),
        })?;
        client
            .get_async_connection()
            .await
            .map_err(|e| Error::from_redis(&self.address, "CLUSTER SLOTS", &e))
    }
}

/// `scheme://[user@]host:port/db` from parsed connection info: never the password.
fn redacted(info: &ConnectionInfo) -> String {
    let settings = info.redis_settings();
    let user = settings
        .username()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    match info.addr() {
        ConnectionAddr::Tcp(host, port) => {
            format!("redis://{user}{host}:{port}/{}", settings.db())
        }
        ConnectionAddr::TcpTls { host, port, .. } => {
            format!("rediss://{user}{host}:{port}/{}", settings.db())
        }
        ConnectionAddr::Unix(path) => format!("unix://{}", path.display()),
        _ => "redis (unknown address kind)".to_string(),
    }
}

/// A URL that did not parse, with whatever sits between `://` and `@` cut down to the user.
fn redact_raw(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_never_show_the_password() {
        let target = RedisTarget::parse("redis://reader:s3cret@127.0.0.1:6390/2").unwrap();
        assert_eq!(target.address(), "redis://reader@127.0.0.1:6390/2");
        assert_eq!(target.db(), 2);
        let target = RedisTarget::parse("rediss://:s3cret@cache.internal").unwrap();
        assert_eq!(target.address(), "rediss://cache.internal:6379/0");
        assert!(!format!("{target:?}").contains("s3cret"));
    }

    #[test]
    fn other_schemes_and_bad_ports_are_refused() {
        let error = RedisTarget::parse("postgres://app@db/app").unwrap_err();
        assert!(
            error.to_string().contains("redis:// or rediss://"),
            "{error}"
        );
        let error = RedisTarget::parse("redis://u:pw@host:notaport").unwrap_err();
        assert!(!error.to_string().contains("pw@"), "{error}");
    }

    #[test]
    fn cluster_nodes_keep_the_login() {
        let seed = RedisTarget::parse("redis://reader:pw@10.0.0.1:7000").unwrap();
        let node = seed.for_node("10.0.0.2", 7001);
        assert_eq!(node.address(), "redis://reader@10.0.0.2:7001/0");
        assert_eq!(node.info.redis_settings().password(), Some("pw"));
    }
}
