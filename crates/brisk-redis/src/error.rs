//! What can go wrong, in words that say what to do.

/// Every failure of the analyzer and the cache store. Each message is one line that names
/// the server (never with its password) and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{url:?} is not a Redis URL ({reason}); use redis://[user:password@]host[:port][/db], or rediss:// for TLS")]
    BadUrl { url: String, reason: String },

    #[error("cannot read the CA certificate {path}: {detail}")]
    CaCertificate { path: String, detail: String },

    #[error("cannot reach Redis at {address}: {detail}; check the host and port, and that the server runs and accepts connections from here")]
    Unreachable { address: String, detail: String },

    #[error("Redis at {address} refused the login: {detail}; check the user and password in the URL (redis://user:password@host)")]
    LoginRefused { address: String, detail: String },

    #[error("Redis at {address} does not allow `{command}` for this user: {detail}; grant it (ACL SETUSER <user> +{acl}), or see docs/redis.md for a read-only ACL user")]
    NoPermission {
        address: String,
        command: String,
        acl: String,
        detail: String,
    },

    #[error("lost the connection to Redis at {address} after scanning {scanned} of about {total} keys ({percent:.0}%): {detail}; run again when the server is reachable, or analyze part of it with --sample N")]
    ScanInterrupted {
        address: String,
        scanned: u64,
        total: u64,
        percent: f64,
        detail: String,
    },

    #[error("Redis at {address} answered `{command}` with an error: {detail}")]
    Command {
        address: String,
        command: String,
        detail: String,
    },

    #[error("cannot read the layout of the Redis Cluster at {address}: {detail}; check that CLUSTER SLOTS works for this user")]
    ClusterLayout { address: String, detail: String },

    #[error("the cached value under {key:?} is not in the store's format ({detail}); it was written by something else: delete it or use another namespace")]
    CorruptValue { key: String, detail: String },
}

impl Error {
    /// Maps a driver error on `command` against `address` to the variant a person can act on.
    pub(crate) fn from_redis(address: &str, command: &str, error: &redis::RedisError) -> Error {
        let detail = one_line(&error.to_string());
        if error.kind() == redis::ErrorKind::AuthenticationFailed
            || matches!(error.code(), Some("WRONGPASS" | "NOAUTH"))
        {
            return Error::LoginRefused {
                address: address.to_string(),
                detail,
            };
        }
        if error.code() == Some("NOPERM") {
            return Error::NoPermission {
                address: address.to_string(),
                command: command.to_string(),
                acl: command.to_lowercase().replace(' ', "|"),
                detail,
            };
        }
        if error.is_connection_refusal()
            || error.is_io_error()
            || error.is_timeout()
            || error.is_connection_dropped()
        {
            return Error::Unreachable {
                address: address.to_string(),
                detail,
            };
        }
        Error::Command {
            address: address.to_string(),
            command: command.to_string(),
            detail,
        }
    }
}

/// Server and driver messages can span lines; brisk's errors are one line.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
