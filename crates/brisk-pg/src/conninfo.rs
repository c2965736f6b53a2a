//! Parse libpq connection strings into a plain [`ConnInfo`], the way `psql`
//! reads its connection argument.
//!
//! Both forms from the libpq manual ("Connection Strings") are accepted:
//!
//! - URIs: `postgresql://alice:s3cret@db1:5432,db2:5433/app?sslmode=require`
//! - keyword/value strings: `host=db1,db2 port=5432,5433 dbname='my app'`
//!
//! and, as in `psql`, a bare word that is neither is a database name. Settings
//! the string leaves out fall back to the `PG*` environment variables, then to
//! the defaults of Debian's libpq. A missing password is looked up in the
//! password file (`~/.pgpass`) for each host, as libpq does.
//!
//! **Invariant: this module does no network I/O** and resolves no host names.
//! Its only I/O is reading the password file and checking whether the files
//! libpq would pick up by default exist (`~/.postgresql/root.crt`,
//! `postgresql.crt`, `postgresql.key`). Everything it asks of the process
//! (variables, home directory, OS user, whether the socket directory exists)
//! goes through [`Environment`], so a test can describe any machine.
//!
//! Where brisk differs from libpq, on purpose:
//!
//! - With no host given, libpq always uses the socket directory; brisk uses
//!   `localhost` when [`DEFAULT_SOCKET_DIR`] does not exist, so a machine
//!   without a local server still gets a useful default.
//! - libpq keywords brisk cannot honour (`service`, `sslpassword`,
//!   `gssencmode`, ...) are rejected, not ignored: connecting without a
//!   guarantee the user asked for would be worse. The TCP keepalive keywords
//!   are the exception, see [`ConnInfo::parse`].
//! - Values libpq checks only when it connects (port numbers, hostaddr,
//!   connect_timeout) are checked here, so a bad value fails before any
//!   connection attempt.
//! - Values must be UTF-8, and service files (`PGSERVICE`) are not read.
//!
//! ```
//! use brisk_pg::conninfo::{ConnInfo, SslMode};
//!
//! let info = ConnInfo::from_env_and_str(Some(
//!     "postgres://alice:s3cret@db.example.com:5432/app?sslmode=require",
//! ))?;
//! assert_eq!(info.sslmode, SslMode::Require);
//! // Reports show where brisk connected, never the password.
//! assert_eq!(info.redacted(), "postgres://alice@db.example.com:5432/app");
//! # Ok::<(), brisk_pg::conninfo::ConnInfoError>(())
//! ```

use std::collections::HashMap;
use std::ffi::{CStr, OsStr};
use std::fmt;
use std::fs;
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv6Addr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The socket directory Debian builds libpq with (`DEFAULT_PGSOCKET_DIR`).
pub const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";

/// libpq's `DEF_PGPORT`.
pub const DEFAULT_PORT: u16 = 5432;

/// libpq's `DefaultHost`: the TCP fallback, and the password-file name of the
/// default socket directory.
const DEFAULT_TCP_HOST: &str = "localhost";

/// Connection settings after the string, the environment and the defaults
/// have been combined. Plain data: turning it into a driver configuration is
/// the caller's job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    /// The servers to try, in order; libpq moves to the next one when a
    /// server refuses or does not match `target_session_attrs`. Never empty.
    pub hosts: Vec<Host>,
    pub dbname: String,
    pub user: String,
    pub sslmode: SslMode,
    /// The CA to verify the server against: the one given (`sslrootcert`,
    /// `PGSSLROOTCERT`), or `~/.postgresql/root.crt` if that file exists. A
    /// given path is kept even if the file is missing: libpq then fails
    /// `verify-ca`/`verify-full` and skips verification for `require`.
    pub sslrootcert: Option<SslRootCert>,
    /// Whether `sslrootcert` was given rather than found at its default path.
    /// Either way, libpq verifies the server against an existing root file
    /// even with `sslmode=require`, as `verify-ca` would.
    pub sslrootcert_explicit: bool,
    /// Client certificate: given, or `~/.postgresql/postgresql.crt` if it exists.
    pub sslcert: Option<PathBuf>,
    /// Client key: given, or `~/.postgresql/postgresql.key` if it exists.
    pub sslkey: Option<PathBuf>,
    /// `None` means "wait indefinitely", as libpq does for 0 and negative values.
    pub connect_timeout: Option<Duration>,
    /// `application_name`, else `fallback_application_name`; `None` leaves the
    /// caller free to name itself.
    pub application_name: Option<String>,
    /// Command-line options sent to the server (`options`, `PGOPTIONS`).
    pub options: Option<String>,
    pub target_session_attrs: TargetSessionAttrs,
    /// Things libpq would print as `WARNING:` on stderr, such as an ignored
    /// password file. The caller decides how to show them.
    pub warnings: Vec<String>,
}

/// One server to try.
#[derive(Clone, PartialEq, Eq)]
pub struct Host {
    pub addr: HostAddr,
    pub port: u16,
    /// libpq looks the password file up per host, so two hosts of one
    /// connection string may have different passwords.
    pub password: Option<String>,
    pub password_source: PasswordSource,
}

/// Where a server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostAddr {
    /// A TCP server. `name` is the host as given (or the `hostaddr` text when
    /// only that was given); TLS verification and the password file use it.
    /// `hostaddr`, when given, is the address to connect to without a DNS
    /// lookup.
    Tcp {
        name: String,
        hostaddr: Option<IpAddr>,
    },
    /// The directory holding the server's socket file (`.s.PGSQL.<port>`).
    Unix(PathBuf),
}

/// Where a host's password came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordSource {
    /// No password: the server may not ask for one.
    None,
    /// `password=` in the string, or the URI's `user:password@`.
    ConnectionString,
    /// `PGPASSWORD`.
    EnvVar,
    /// The password file; `line` counts from 1.
    Passfile { path: PathBuf, line: usize },
}

/// libpq's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    const ALL: [SslMode; 6] = [
        SslMode::Disable,
        SslMode::Allow,
        SslMode::Prefer,
        SslMode::Require,
        SslMode::VerifyCa,
        SslMode::VerifyFull,
    ];

    /// The keyword value, as written in a connection string.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The CA certificates to verify the server against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SslRootCert {
    /// `sslrootcert=system`: the operating system's trusted roots.
    System,
    File(PathBuf),
}

/// libpq's `target_session_attrs`: which kind of server to accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetSessionAttrs {
    Any,
    ReadWrite,
    ReadOnly,
    Primary,
    Standby,
    PreferStandby,
}

impl TargetSessionAttrs {
    const ALL: [TargetSessionAttrs; 6] = [
        TargetSessionAttrs::Any,
        TargetSessionAttrs::ReadWrite,
        TargetSessionAttrs::ReadOnly,
        TargetSessionAttrs::Primary,
        TargetSessionAttrs::Standby,
        TargetSessionAttrs::PreferStandby,
    ];

    /// The keyword value, as written in a connection string.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetSessionAttrs::Any => "any",
            TargetSessionAttrs::ReadWrite => "read-write",
            TargetSessionAttrs::ReadOnly => "read-only",
            TargetSessionAttrs::Primary => "primary",
            TargetSessionAttrs::Standby => "standby",
            TargetSessionAttrs::PreferStandby => "prefer-standby",
        }
    }
}

impl fmt::Display for TargetSessionAttrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A connection string or environment that cannot be used. Each message is
/// one line: what is wrong, then what to do. None of them quotes a password.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConnInfoError {
    #[error("\"{scheme}://\" is not a PostgreSQL URL; use postgres:// or postgresql://")]
    UnsupportedScheme { scheme: String },

    #[error(
        "unknown connection option \"{key}\"; check its spelling against the libpq keywords \
         (host, port, dbname, user, password, sslmode, ...)"
    )]
    UnknownOption { key: String },

    #[error(
        "connection option \"{key}\" is not supported by brisk; remove it from the connection string"
    )]
    UnsupportedOption { key: String },

    #[error(
        "missing \"=\" after \"{key}\" in the connection string; write each setting as key=value"
    )]
    MissingEquals { key: String },

    #[error(
        "unterminated quoted value for \"{key}\" in the connection string; end it with ' \
         and write a quote inside it as \\'"
    )]
    UnterminatedQuote { key: String },

    /// `origin` names where the value was set: the connection string or an
    /// environment variable, so the user knows where to fix it.
    #[error("invalid {key} value \"{value}\" in {origin}; {expected}")]
    InvalidValue {
        key: &'static str,
        value: String,
        origin: String,
        expected: &'static str,
    },

    #[error(
        "could not match {ports} port numbers to {hosts} hosts; give one port for all hosts \
         or one per host"
    )]
    PortCountMismatch { ports: usize, hosts: usize },

    #[error(
        "could not match {hosts} host names to {hostaddrs} hostaddr values; give one host name \
         per hostaddr, or no host"
    )]
    HostaddrCountMismatch { hosts: usize, hostaddrs: usize },

    #[error(
        "malformed connection URI: \"[\" at position {position} has no matching \"]\"; \
         write IPv6 hosts as [2001:db8::1]"
    )]
    UriUnclosedBracket { position: usize },

    #[error(
        "malformed connection URI: empty IPv6 address \"[]\" at position {position}; \
         put the address between the brackets"
    )]
    UriEmptyIpv6 { position: usize },

    #[error(
        "malformed connection URI: unexpected character \"{ch}\" at position {position} \
         after an IPv6 address; follow \"]\" with \":port\", \",\", \"/dbname\" or \"?parameters\""
    )]
    UriUnexpectedChar { ch: char, position: usize },

    #[error(
        "malformed connection URI: query parameter \"{param}\" has no \"=\"; write it as key=value"
    )]
    UriQueryMissingEquals { param: String },

    #[error(
        "malformed connection URI: query parameter \"{key}\" has more than one \"=\"; \
         percent-encode \"=\" inside a value as %3D"
    )]
    UriQueryExtraEquals { key: String },

    /// `part` names the URI part ("the password", ...), never its text.
    #[error(
        "malformed connection URI: bad percent-encoding in {part}; \"%\" must be followed by \
         two hex digits (write a literal \"%\" as %25)"
    )]
    UriBadPercentEncoding { part: String },

    #[error("malformed connection URI: {part} contains %00, which libpq forbids; remove it")]
    UriPercentEncodedNul { part: String },

    #[error(
        "malformed connection URI: {part} is not valid UTF-8 once percent-decoded; \
         percent-encode text as UTF-8"
    )]
    UriNotUtf8 { part: String },

    #[error(
        "no user name given and the operating system user could not be determined; \
         set user= in the connection string or PGUSER"
    )]
    NoUser,

    #[error("sslmode \"{sslmode}\" is too weak for sslrootcert=system; use sslmode=verify-full")]
    WeakSslModeWithSystemRoots { sslmode: SslMode },
}

/// What the parser may ask of the machine it runs on. [`ProcessEnvironment`]
/// is the real one; tests implement their own.
pub trait Environment {
    /// An environment variable. One set to the empty string counts as set,
    /// as with libpq's `getenv`: most settings then take their default, but
    /// `PGSSLMODE=""` is an invalid sslmode, exactly as in libpq.
    fn var(&self, name: &str) -> Option<String>;
    /// The user's home directory, for `~/.pgpass` and `~/.postgresql/`.
    fn home_dir(&self) -> Option<PathBuf>;
    /// The operating system user name, the default database user.
    fn os_user(&self) -> Option<String>;
    /// Whether `path` is an existing directory; asked of the default socket
    /// directory.
    fn is_dir(&self, path: &Path) -> bool;
}

/// The process's real environment, home directory and effective user.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    /// A variable that is not valid UTF-8 counts as unset.
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    /// `$HOME` if set and non-empty, else the passwd entry: the order libpq's
    /// `pqGetHomeDirectory` uses.
    fn home_dir(&self) -> Option<PathBuf> {
        match std::env::var_os("HOME") {
            Some(home) if !home.is_empty() => Some(PathBuf::from(home)),
            _ => effective_passwd_entry().map(|entry| entry.home),
        }
    }

    /// The passwd name of the effective user, as libpq's `pg_fe_getauthname`
    /// finds it with `getpwuid(geteuid())`.
    fn os_user(&self) -> Option<String> {
        effective_passwd_entry().map(|entry| entry.name)
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }
}

impl ConnInfo {
    /// Parses `input` (a URI, a keyword/value string, or a bare database
    /// name; `None` means "nothing given") and fills in the rest from `env`
    /// and the defaults.
    ///
    /// Precedence, per setting: the string, then its environment variable,
    /// then the default. A setting given as the empty string still blocks
    /// its environment variable and then takes the default, as in libpq.
    ///
    /// `keepalives`, `keepalives_idle`, `keepalives_interval` and
    /// `keepalives_count` are checked to be integers and then ignored: brisk's
    /// connections are short diagnostic sessions, the driver's own TCP
    /// keepalive defaults serve them, and accepting the keywords lets users
    /// paste the connection string their application already uses.
    pub fn parse(input: Option<&str>, env: &dyn Environment) -> Result<ConnInfo, ConnInfoError> {
        let mut settings = match input {
            Some(input) => parse_connection_string(input)?,
            None => Settings::default(),
        };
        let mut warnings = Vec::new();
        settings.fill_from_env(env, &mut warnings);
        settings.check_ignored_integers()?;

        let endpoints = resolve_endpoints(&settings, env)?;
        let user = match settings.nonempty(Keyword::User) {
            Some(user) => user.value.clone(),
            None => env.os_user().ok_or(ConnInfoError::NoUser)?,
        };
        let dbname = settings
            .nonempty(Keyword::Dbname)
            .map_or_else(|| user.clone(), |dbname| dbname.value.clone());
        let home = env.home_dir();

        let (sslrootcert, sslrootcert_explicit) = match settings.nonempty(Keyword::Sslrootcert) {
            Some(given) if given.value == "system" => (Some(SslRootCert::System), true),
            Some(given) => (Some(SslRootCert::File(PathBuf::from(&given.value))), true),
            None => (
                existing_default_file(home.as_deref(), "root.crt").map(SslRootCert::File),
                false,
            ),
        };
        let sslmode = resolve_sslmode(&settings, sslrootcert.as_ref())?;

        let hosts = attach_passwords(
            &settings,
            endpoints,
            &PasswordKey {
                dbname: &dbname,
                user: &user,
            },
            home.as_deref(),
            &mut warnings,
        );

        Ok(ConnInfo {
            hosts,
            sslmode,
            sslrootcert,
            sslrootcert_explicit,
            sslcert: settings
                .nonempty_path(Keyword::Sslcert)
                .or_else(|| existing_default_file(home.as_deref(), "postgresql.crt")),
            sslkey: settings
                .nonempty_path(Keyword::Sslkey)
                .or_else(|| existing_default_file(home.as_deref(), "postgresql.key")),
            connect_timeout: resolve_connect_timeout(&settings)?,
            application_name: settings
                .nonempty(Keyword::ApplicationName)
                .or_else(|| settings.nonempty(Keyword::FallbackApplicationName))
                .map(|name| name.value.clone()),
            options: settings
                .nonempty(Keyword::Options)
                .map(|options| options.value.clone()),
            target_session_attrs: resolve_target_session_attrs(&settings)?,
            dbname,
            user,
            warnings,
        })
    }

    /// [`ConnInfo::parse`] against the real process environment.
    pub fn from_env_and_str(input: Option<&str>) -> Result<ConnInfo, ConnInfoError> {
        ConnInfo::parse(input, &ProcessEnvironment)
    }

    /// A URL for reports, such as `postgres://alice@db.example.com:5432/app`:
    /// user, every host with its port, and database, percent-encoded so that
    /// it parses back to the same servers. The password is never shown.
    pub fn redacted(&self) -> String {
        self.to_string()
    }
}

/// Renders [`ConnInfo::redacted`].
impl fmt::Display for ConnInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "postgres://{}@", percent_encode(&self.user))?;
        for (i, host) in self.hosts.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match &host.addr {
                HostAddr::Tcp { name, .. } if name.parse::<Ipv6Addr>().is_ok() => {
                    write!(f, "[{name}]")?;
                }
                HostAddr::Tcp { name, .. } => f.write_str(&percent_encode(name))?,
                HostAddr::Unix(dir) => f.write_str(&percent_encode(&dir.to_string_lossy()))?,
            }
            write!(f, ":{}", host.port)?;
        }
        write!(f, "/{}", percent_encode(&self.dbname))?;

        let hostaddrs: Vec<String> = self
            .hosts
            .iter()
            .map(|host| match &host.addr {
                HostAddr::Tcp {
                    hostaddr: Some(ip), ..
                } => ip.to_string(),
                _ => String::new(),
            })
            .collect();
        if hostaddrs.iter().any(|addr| !addr.is_empty()) {
            write!(f, "?hostaddr={}", hostaddrs.join(","))?;
        }
        Ok(())
    }
}

/// Hand-written so that `{:?}` in a log never prints a password.
impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host")
            .field("addr", &self.addr)
            .field("port", &self.port)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("password_source", &self.password_source)
            .finish()
    }
}

/// The libpq keywords brisk honours (or, for keepalives, accepts).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Keyword {
    Host,
    Hostaddr,
    Port,
    Dbname,
    User,
    Password,
    Passfile,
    ConnectTimeout,
    ApplicationName,
    FallbackApplicationName,
    Options,
    Sslmode,
    Sslrootcert,
    Sslcert,
    Sslkey,
    TargetSessionAttrs,
    Keepalives,
    KeepalivesIdle,
    KeepalivesInterval,
    KeepalivesCount,
}

impl Keyword {
    const ALL: [Keyword; 20] = [
        Keyword::Host,
        Keyword::Hostaddr,
        Keyword::Port,
        Keyword::Dbname,
        Keyword::User,
        Keyword::Password,
        Keyword::Passfile,
        Keyword::ConnectTimeout,
        Keyword::ApplicationName,
        Keyword::FallbackApplicationName,
        Keyword::Options,
        Keyword::Sslmode,
        Keyword::Sslrootcert,
        Keyword::Sslcert,
        Keyword::Sslkey,
        Keyword::TargetSessionAttrs,
        Keyword::Keepalives,
        Keyword::KeepalivesIdle,
        Keyword::KeepalivesInterval,
        Keyword::KeepalivesCount,
    ];

    fn name(self) -> &'static str {
        match self {
            Keyword::Host => "host",
            Keyword::Hostaddr => "hostaddr",
            Keyword::Port => "port",
            Keyword::Dbname => "dbname",
            Keyword::User => "user",
            Keyword::Password => "password",
            Keyword::Passfile => "passfile",
            Keyword::ConnectTimeout => "connect_timeout",
            Keyword::ApplicationName => "application_name",
            Keyword::FallbackApplicationName => "fallback_application_name",
            Keyword::Options => "options",
            Keyword::Sslmode => "sslmode",
            Keyword::Sslrootcert => "sslrootcert",
            Keyword::Sslcert => "sslcert",
            Keyword::Sslkey => "sslkey",
            Keyword::TargetSessionAttrs => "target_session_attrs",
            Keyword::Keepalives => "keepalives",
            Keyword::KeepalivesIdle => "keepalives_idle",
            Keyword::KeepalivesInterval => "keepalives_interval",
            Keyword::KeepalivesCount => "keepalives_count",
        }
    }

    /// The fallback variable, from libpq's `PQconninfoOptions` table.
    fn env_var(self) -> Option<&'static str> {
        match self {
            Keyword::Host => Some("PGHOST"),
            Keyword::Hostaddr => Some("PGHOSTADDR"),
            Keyword::Port => Some("PGPORT"),
            Keyword::Dbname => Some("PGDATABASE"),
            Keyword::User => Some("PGUSER"),
            Keyword::Password => Some("PGPASSWORD"),
            Keyword::Passfile => Some("PGPASSFILE"),
            Keyword::ConnectTimeout => Some("PGCONNECT_TIMEOUT"),
            Keyword::ApplicationName => Some("PGAPPNAME"),
            Keyword::Options => Some("PGOPTIONS"),
            Keyword::Sslmode => Some("PGSSLMODE"),
            Keyword::Sslrootcert => Some("PGSSLROOTCERT"),
            Keyword::Sslcert => Some("PGSSLCERT"),
            Keyword::Sslkey => Some("PGSSLKEY"),
            Keyword::TargetSessionAttrs => Some("PGTARGETSESSIONATTRS"),
            Keyword::FallbackApplicationName
            | Keyword::Keepalives
            | Keyword::KeepalivesIdle
            | Keyword::KeepalivesInterval
            | Keyword::KeepalivesCount => None,
        }
    }

    fn lookup(name: &str) -> Result<Keyword, ConnInfoError> {
        if let Some(keyword) = Keyword::ALL.into_iter().find(|k| k.name() == name) {
            Ok(keyword)
        } else if UNSUPPORTED_KEYWORDS.contains(&name) {
            Err(ConnInfoError::UnsupportedOption {
                key: name.to_owned(),
            })
        } else {
            Err(ConnInfoError::UnknownOption {
                key: name.to_owned(),
            })
        }
    }
}

/// libpq keywords (through PostgreSQL 18) that brisk cannot honour. They get
/// "not supported" rather than "unknown", which would wrongly suggest a typo.
const UNSUPPORTED_KEYWORDS: &[&str] = &[
    "channel_binding",
    "client_encoding",
    "gssdelegation",
    "gssencmode",
    "gsslib",
    "krbsrvname",
    "load_balance_hosts",
    "max_protocol_version",
    "min_protocol_version",
    "oauth_client_id",
    "oauth_client_secret",
    "oauth_issuer",
    "oauth_scope",
    "replication",
    "require_auth",
    "requirepeer",
    "scram_client_key",
    "scram_server_key",
    "service",
    "ssl_max_protocol_version",
    "ssl_min_protocol_version",
    "sslcertmode",
    "sslcompression",
    "sslcrl",
    "sslcrldir",
    "sslkeylogfile",
    "sslnegotiation",
    "sslpassword",
    "sslsni",
    "tcp_user_timeout",
];

/// Where a raw setting came from, so an error can say where to fix it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    ConnectionString,
    EnvVar(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::ConnectionString => f.write_str("the connection string"),
            Origin::EnvVar(name) => f.write_str(name),
        }
    }
}

struct Setting {
    value: String,
    origin: Origin,
}

/// Raw settings before validation, like libpq's `PQconninfoOption` array.
#[derive(Default)]
struct Settings {
    values: HashMap<Keyword, Setting>,
}

impl Settings {
    /// A setting from the connection string. A later one replaces an earlier
    /// one, as in libpq; that is also how URI query parameters override the
    /// URI's host, port, user and dbname.
    fn set(&mut self, keyword: Keyword, value: String) {
        let origin = Origin::ConnectionString;
        self.values.insert(keyword, Setting { value, origin });
    }

    fn set_by_name(&mut self, name: &str, value: String) -> Result<(), ConnInfoError> {
        self.set(Keyword::lookup(name)?, value);
        Ok(())
    }

    /// libpq's `conninfo_add_defaults`: a variable fills only a setting the
    /// string did not give at all.
    fn fill_from_env(&mut self, env: &dyn Environment, warnings: &mut Vec<String>) {
        for keyword in Keyword::ALL {
            let Some(var) = keyword.env_var() else {
                continue;
            };
            if self.values.contains_key(&keyword) {
                continue;
            }
            if let Some(value) = env.var(var) {
                let origin = Origin::EnvVar(var);
                self.values.insert(keyword, Setting { value, origin });
            }
        }
        // The deprecated PGREQUIRESSL: libpq reads a value starting with "1"
        // as sslmode=require, below PGSSLMODE.
        if !self.values.contains_key(&Keyword::Sslmode)
            && env.var("PGREQUIRESSL").is_some_and(|v| v.starts_with('1'))
        {
            let value = SslMode::Require.as_str().to_owned();
            let origin = Origin::EnvVar("PGREQUIRESSL");
            self.values
                .insert(Keyword::Sslmode, Setting { value, origin });
        }
        // A service file can change the server psql reaches; say that brisk
        // did not read it rather than connect elsewhere silently.
        if env.var("PGSERVICE").is_some_and(|v| !v.is_empty()) {
            warnings.push(
                "PGSERVICE is set but brisk does not read service files; it was ignored \
                 (give the settings in the connection string instead)"
                    .to_owned(),
            );
        }
    }

    fn get(&self, keyword: Keyword) -> Option<&Setting> {
        self.values.get(&keyword)
    }

    /// An invalid-value error naming where `keyword` was set.
    fn invalid(&self, keyword: Keyword, value: &str, expected: &'static str) -> ConnInfoError {
        let origin = self
            .get(keyword)
            .map_or(Origin::ConnectionString, |setting| setting.origin);
        ConnInfoError::InvalidValue {
            key: keyword.name(),
            value: value.to_owned(),
            origin: origin.to_string(),
            expected,
        }
    }

    /// A comma-separated list setting, split as libpq's
    /// `parse_comma_separated_list` does: no quoting, no trimming.
    fn list(&self, keyword: Keyword) -> Option<Vec<&str>> {
        self.nonempty(keyword)
            .map(|setting| setting.value.split(',').collect())
    }

    /// libpq treats most empty values as absent once they have blocked the
    /// environment fallback (`conn->pghost[0] == '\0'` and so on).
    fn nonempty(&self, keyword: Keyword) -> Option<&Setting> {
        self.get(keyword)
            .filter(|setting| !setting.value.is_empty())
    }

    fn nonempty_path(&self, keyword: Keyword) -> Option<PathBuf> {
        self.nonempty(keyword)
            .map(|setting| PathBuf::from(&setting.value))
    }

    /// The keepalive settings are ignored (see [`ConnInfo::parse`]) but a
    /// typo in one is still an error, as libpq's `pqParseIntParam` makes it.
    fn check_ignored_integers(&self) -> Result<(), ConnInfoError> {
        for keyword in [
            Keyword::Keepalives,
            Keyword::KeepalivesIdle,
            Keyword::KeepalivesInterval,
            Keyword::KeepalivesCount,
        ] {
            if let Some(setting) = self.nonempty(keyword) {
                if parse_c_int(&setting.value).is_none() {
                    return Err(self.invalid(keyword, &setting.value, "use a whole number"));
                }
            }
        }
        Ok(())
    }
}

/// libpq's `parse_connection_string`, with `psql`'s reading of a bare word.
fn parse_connection_string(input: &str) -> Result<Settings, ConnInfoError> {
    // libpq's uri_prefix_length: the prefixes are case-sensitive.
    if let Some(rest) = input
        .strip_prefix("postgresql://")
        .or_else(|| input.strip_prefix("postgres://"))
    {
        parse_uri(input, rest)
    } else if input.contains('=') {
        parse_keyword_value(input)
    } else if let Some((scheme, _)) = input.split_once("://") {
        // psql would take "mysql://..." as a database name; a URL of another scheme is far
        // more likely a mistake than a database with that name.
        Err(ConnInfoError::UnsupportedScheme {
            scheme: scheme.to_owned(),
        })
    } else {
        // psql passes its argument as `dbname` with expand_dbname, and libpq
        // expands it only if it "looks like" a connection string (a URI
        // prefix or an "="); anything else is the database name itself.
        let mut settings = Settings::default();
        if !input.is_empty() {
            settings.set(Keyword::Dbname, input.to_owned());
        }
        Ok(settings)
    }
}

/// C's `isspace` in the "C" locale, which libpq's parser uses. Unlike
/// `char::is_ascii_whitespace` it includes vertical tab.
fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// libpq's `conninfo_parse`: `key = value` pairs separated by whitespace.
/// Values may be single-quoted; a backslash escapes the next character both
/// inside and outside quotes.
fn parse_keyword_value(input: &str) -> Result<Settings, ConnInfoError> {
    let mut settings = Settings::default();
    let mut chars = input.chars().peekable();
    loop {
        while chars.next_if(|&c| is_c_space(c)).is_some() {}
        if chars.peek().is_none() {
            return Ok(settings);
        }

        let mut key = String::new();
        while let Some(c) = chars.next_if(|&c| c != '=' && !is_c_space(c)) {
            key.push(c);
        }
        while chars.next_if(|&c| is_c_space(c)).is_some() {}
        if chars.next_if_eq(&'=').is_none() {
            return Err(ConnInfoError::MissingEquals { key });
        }
        while chars.next_if(|&c| is_c_space(c)).is_some() {}

        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => return Err(ConnInfoError::UnterminatedQuote { key }),
                    Some('\'') => break,
                    // A backslash at the very end escapes nothing; the next
                    // turn then finds the quote unterminated, as libpq does.
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next() {
                match c {
                    c if is_c_space(c) => break,
                    '\\' => value.extend(chars.next()),
                    c => value.push(c),
                }
            }
        }
        settings.set_by_name(&key, value)?;
    }
}

/// libpq's `conninfo_uri_parse_options`, quirks included:
/// `postgresql://[user[:password]@][host][:port][,...][/dbname][?key=value&...]`.
fn parse_uri(uri: &str, after_prefix: &str) -> Result<Settings, ConnInfoError> {
    let mut settings = Settings::default();
    let mut rest = after_prefix;

    // libpq looks for "@" before the first "/" only, not before "?": a query
    // with an "@" and no "/" before it is read as user info, as in libpq.
    if let Some(at) = rest
        .find(['@', '/'])
        .filter(|&i| rest[i..].starts_with('@'))
    {
        let (user, password) = match rest[..at].split_once(':') {
            Some((user, password)) => (user, Some(password)),
            None => (&rest[..at], None),
        };
        // Empty parts are not stored, so PGUSER and PGPASSWORD still apply.
        if !user.is_empty() {
            settings.set(Keyword::User, percent_decode(user, "the user name")?);
        }
        if let Some(password) = password.filter(|p| !p.is_empty()) {
            settings.set(Keyword::Password, percent_decode(password, "the password")?);
        }
        rest = &rest[at + 1..];
    }

    // Hosts and ports are gathered as comma lists and decoded as a whole,
    // so they go through the same list handling as host=a,b port=1,2.
    let mut hosts = String::new();
    let mut ports = String::new();
    let terminator = loop {
        let position = position_in(uri, rest);
        let after_host = if let Some(inside) = rest.strip_prefix('[') {
            let close = inside
                .find(']')
                .ok_or(ConnInfoError::UriUnclosedBracket { position })?;
            if close == 0 {
                return Err(ConnInfoError::UriEmptyIpv6 { position });
            }
            hosts.push_str(&inside[..close]);
            let after = &inside[close + 1..];
            if let Some(ch) = after.chars().next().filter(|c| !":/?,".contains(*c)) {
                let position = position_in(uri, after);
                return Err(ConnInfoError::UriUnexpectedChar { ch, position });
            }
            after
        } else {
            let end = rest.find([':', '/', '?', ',']).unwrap_or(rest.len());
            hosts.push_str(&rest[..end]);
            &rest[end..]
        };
        let after_port = match after_host.strip_prefix(':') {
            Some(port_and_rest) => {
                let end = port_and_rest
                    .find(['/', '?', ','])
                    .unwrap_or(port_and_rest.len());
                ports.push_str(&port_and_rest[..end]);
                &port_and_rest[end..]
            }
            None => after_host,
        };
        let mut chars = after_port.chars();
        let terminator = chars.next();
        rest = chars.as_str();
        if terminator != Some(',') {
            break terminator;
        }
        hosts.push(',');
        ports.push(',');
    };
    if !hosts.is_empty() {
        settings.set(Keyword::Host, percent_decode(&hosts, "the host")?);
    }
    if !ports.is_empty() {
        settings.set(Keyword::Port, percent_decode(&ports, "the port")?);
    }

    let query = match terminator {
        Some('/') => {
            let (dbname, query) = match rest.split_once('?') {
                Some((dbname, query)) => (dbname, Some(query)),
                None => (rest, None),
            };
            // An empty dbname is not stored, so PGDATABASE still applies.
            if !dbname.is_empty() {
                settings.set(
                    Keyword::Dbname,
                    percent_decode(dbname, "the database name")?,
                );
            }
            query
        }
        Some('?') => Some(rest),
        _ => None,
    };
    if let Some(query) = query {
        parse_uri_query(query, &mut settings)?;
    }
    Ok(settings)
}

/// The 1-based character position in `uri` where its suffix `rest` starts,
/// for error messages.
fn position_in(uri: &str, rest: &str) -> usize {
    let start = uri.len().saturating_sub(rest.len());
    uri.get(..start).map_or(0, |head| head.chars().count()) + 1
}

/// libpq's `conninfo_uri_parse_params`: `key=value` pairs joined by "&".
/// "+" is not a space, and a trailing "&" is allowed but an empty pair
/// between two is not.
fn parse_uri_query(query: &str, settings: &mut Settings) -> Result<(), ConnInfoError> {
    let mut rest = query;
    while !rest.is_empty() {
        let (param, next) = rest.split_once('&').unwrap_or((rest, ""));
        rest = next;
        let Some((raw_key, raw_value)) = param.split_once('=') else {
            let param = param.to_owned();
            return Err(ConnInfoError::UriQueryMissingEquals { param });
        };
        if raw_value.contains('=') {
            let key = raw_key.to_owned();
            return Err(ConnInfoError::UriQueryExtraEquals { key });
        }
        let key = percent_decode(raw_key, "a query parameter name")?;
        let value = percent_decode(raw_value, &format!("the value of \"{key}\""))?;
        // libpq's one JDBC compatibility rule.
        if key == "ssl" && value == "true" {
            settings.set(Keyword::Sslmode, SslMode::Require.as_str().to_owned());
        } else {
            settings.set_by_name(&key, value)?;
        }
    }
    Ok(())
}

/// libpq's `conninfo_uri_decode`. `part` names what is being decoded for the
/// error, so a bad escape in a password does not echo the password.
fn percent_decode(text: &str, part: &str) -> Result<String, ConnInfoError> {
    if !text.contains('%') {
        return Ok(text.to_owned());
    }
    let mut decoded = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(byte) = bytes.next() {
        if byte != b'%' {
            decoded.push(byte);
            continue;
        }
        let high = bytes.next().and_then(hex_digit);
        let low = bytes.next().and_then(hex_digit);
        let (Some(high), Some(low)) = (high, low) else {
            let part = part.to_owned();
            return Err(ConnInfoError::UriBadPercentEncoding { part });
        };
        match (high << 4) | low {
            0 => {
                let part = part.to_owned();
                return Err(ConnInfoError::UriPercentEncodedNul { part });
            }
            byte => decoded.push(byte),
        }
    }
    String::from_utf8(decoded).map_err(|_| ConnInfoError::UriNotUtf8 {
        part: part.to_owned(),
    })
}

fn hex_digit(byte: u8) -> Option<u8> {
    char::from(byte)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// Parses an integer as libpq's `pqParseIntParam` does: whitespace around
/// it is allowed, anything else is not, and it must fit a C int.
fn parse_c_int(text: &str) -> Option<i32> {
    text.trim_matches(is_c_space).parse().ok()
}

/// A server slot before passwords, with the texts the password file is
/// matched against.
struct Endpoint {
    addr: HostAddr,
    port: u16,
    passfile_host: String,
    passfile_port: String,
}

/// libpq's host and port handling in `pqConnectOptions2`.
fn resolve_endpoints(
    settings: &Settings,
    env: &dyn Environment,
) -> Result<Vec<Endpoint>, ConnInfoError> {
    let hostaddrs = settings.list(Keyword::Hostaddr);
    let hosts = settings.list(Keyword::Host);

    // hostaddr, when given, decides how many servers there are.
    let count = hostaddrs.as_ref().or(hosts.as_ref()).map_or(1, Vec::len);
    if let (Some(hostaddrs), Some(hosts)) = (&hostaddrs, &hosts) {
        if hosts.len() != hostaddrs.len() {
            return Err(ConnInfoError::HostaddrCountMismatch {
                hosts: hosts.len(),
                hostaddrs: hostaddrs.len(),
            });
        }
    }
    // One port applies to every host; otherwise there must be one per host.
    // An empty element means the default port.
    let ports = match settings.list(Keyword::Port) {
        None => vec![""; count],
        Some(ports) => match ports.as_slice() {
            [one] => vec![*one; count],
            _ if ports.len() == count => ports,
            _ => {
                return Err(ConnInfoError::PortCountMismatch {
                    ports: ports.len(),
                    hosts: count,
                })
            }
        },
    };

    let element = |list: &Option<Vec<&'_ str>>, i: usize| -> String {
        list.as_ref()
            .and_then(|list| list.get(i))
            .map_or_else(String::new, |s| (*s).to_owned())
    };
    let mut endpoints = Vec::with_capacity(count);
    for (i, port_text) in ports.into_iter().enumerate() {
        let hostaddr = element(&hostaddrs, i);
        let host = element(&hosts, i);
        let default_host = || {
            if env.is_dir(Path::new(DEFAULT_SOCKET_DIR)) {
                DEFAULT_SOCKET_DIR
            } else {
                DEFAULT_TCP_HOST
            }
        };

        let addr = if !hostaddr.is_empty() {
            let ip = hostaddr.parse().map_err(|_| {
                settings.invalid(
                    Keyword::Hostaddr,
                    &hostaddr,
                    "use a numeric IPv4 or IPv6 address (host names go in host=)",
                )
            })?;
            let name = if host.is_empty() { &hostaddr } else { &host };
            HostAddr::Tcp {
                name: name.clone(),
                hostaddr: Some(ip),
            }
        } else {
            let host = if host.is_empty() {
                default_host()
            } else {
                host.as_str()
            };
            host_addr(host, settings)?
        };

        let port = if port_text.is_empty() {
            DEFAULT_PORT
        } else {
            parse_c_int(port_text)
                .and_then(|port| u16::try_from(port).ok())
                .filter(|&port| port != 0)
                .ok_or_else(|| {
                    settings.invalid(
                        Keyword::Port,
                        port_text,
                        "use a port number from 1 to 65535",
                    )
                })?
        };

        // libpq's passwordFromFile: the host name if given, else hostaddr;
        // the default socket directory is looked up as "localhost".
        let passfile_host = match (host.as_str(), hostaddr.as_str()) {
            ("", "") => default_host(),
            ("", hostaddr) => hostaddr,
            (host, _) => host,
        };
        let passfile_host = if passfile_host == DEFAULT_SOCKET_DIR {
            DEFAULT_TCP_HOST
        } else {
            passfile_host
        };
        let passfile_port = if port_text.is_empty() {
            DEFAULT_PORT.to_string()
        } else {
            port_text.to_owned()
        };
        endpoints.push(Endpoint {
            addr,
            port,
            passfile_host: passfile_host.to_owned(),
            passfile_port,
        });
    }
    Ok(endpoints)
}

/// What `host=` means for one element, as libpq's `is_unixsock_path` decides.
fn host_addr(host: &str, settings: &Settings) -> Result<HostAddr, ConnInfoError> {
    if host.starts_with('/') {
        Ok(HostAddr::Unix(PathBuf::from(host)))
    } else if host.starts_with('@') {
        // libpq reads "@name" as a Linux abstract socket, which the driver
        // brisk uses cannot reach.
        Err(settings.invalid(
            Keyword::Host,
            host,
            "abstract Unix sockets (\"@name\") are not supported; \
             give a socket directory or a host name",
        ))
    } else {
        Ok(HostAddr::Tcp {
            name: host.to_owned(),
            hostaddr: None,
        })
    }
}

/// libpq validates `sslmode` whenever it is set, so an empty value is an
/// error rather than the default.
fn resolve_sslmode(
    settings: &Settings,
    sslrootcert: Option<&SslRootCert>,
) -> Result<SslMode, ConnInfoError> {
    let system_roots = sslrootcert == Some(&SslRootCert::System);
    let sslmode = match settings.get(Keyword::Sslmode) {
        Some(setting) => SslMode::ALL
            .into_iter()
            .find(|mode| mode.as_str() == setting.value)
            .ok_or_else(|| {
                settings.invalid(
                    Keyword::Sslmode,
                    &setting.value,
                    "use one of disable, allow, prefer, require, verify-ca, verify-full",
                )
            })?,
        // libpq (16+) strengthens the default when trusting the whole system
        // store, where anything less than a host name check is meaningless.
        None if system_roots => SslMode::VerifyFull,
        None => SslMode::Prefer,
    };
    if system_roots && sslmode != SslMode::VerifyFull {
        return Err(ConnInfoError::WeakSslModeWithSystemRoots { sslmode });
    }
    Ok(sslmode)
}

fn resolve_target_session_attrs(settings: &Settings) -> Result<TargetSessionAttrs, ConnInfoError> {
    let Some(setting) = settings.get(Keyword::TargetSessionAttrs) else {
        return Ok(TargetSessionAttrs::Any);
    };
    TargetSessionAttrs::ALL
        .into_iter()
        .find(|attrs| attrs.as_str() == setting.value)
        .ok_or_else(|| {
            settings.invalid(
                Keyword::TargetSessionAttrs,
                &setting.value,
                "use one of any, read-write, read-only, primary, standby, prefer-standby",
            )
        })
}

/// libpq's `pqConnectDBComplete`: 0 and negative values mean no timeout, and
/// 1 second is raised to 2 because libpq's whole-second clock could
/// otherwise expire almost at once. (PostgreSQL 18 measures finer and drops
/// that rule; Debian's libpq up to 17 has it.)
fn resolve_connect_timeout(settings: &Settings) -> Result<Option<Duration>, ConnInfoError> {
    let Some(setting) = settings.get(Keyword::ConnectTimeout) else {
        return Ok(None);
    };
    let seconds = parse_c_int(&setting.value).ok_or_else(|| {
        settings.invalid(
            Keyword::ConnectTimeout,
            &setting.value,
            "use a whole number of seconds",
        )
    })?;
    Ok(match seconds {
        ..=0 => None,
        1 => Some(Duration::from_secs(2)),
        seconds => Some(Duration::from_secs(u64::from(seconds.unsigned_abs()))),
    })
}

/// `~/.postgresql/<name>` if it exists: libpq's default for the TLS files.
fn existing_default_file(home: Option<&Path>, name: &str) -> Option<PathBuf> {
    let path = home?.join(".postgresql").join(name);
    path.exists().then_some(path)
}

/// The fields of a password-file line that do not vary by host.
struct PasswordKey<'a> {
    dbname: &'a str,
    user: &'a str,
}

/// Gives each endpoint its password: the one given applies to all hosts,
/// otherwise each host is looked up in the password file.
fn attach_passwords(
    settings: &Settings,
    endpoints: Vec<Endpoint>,
    key: &PasswordKey<'_>,
    home: Option<&Path>,
    warnings: &mut Vec<String>,
) -> Vec<Host> {
    let host = |endpoint: Endpoint, password, password_source| Host {
        addr: endpoint.addr,
        port: endpoint.port,
        password,
        password_source,
    };

    // An empty password counts as none, and sends libpq to the file.
    if let Some(given) = settings.nonempty(Keyword::Password) {
        let source = match given.origin {
            Origin::ConnectionString => PasswordSource::ConnectionString,
            Origin::EnvVar(_) => PasswordSource::EnvVar,
        };
        return endpoints
            .into_iter()
            .map(|endpoint| host(endpoint, Some(given.value.clone()), source.clone()))
            .collect();
    }

    let path = settings
        .nonempty_path(Keyword::Passfile)
        .or_else(|| home.map(|home| home.join(".pgpass")));
    let contents = path
        .as_deref()
        .and_then(|path| read_passfile(path, warnings));
    endpoints
        .into_iter()
        .map(|endpoint| {
            let found = match (&path, &contents) {
                (Some(path), Some(contents)) => {
                    lookup_passfile(path, contents, &endpoint, key, warnings)
                }
                _ => None,
            };
            match found {
                Some((password, source)) => host(endpoint, Some(password), source),
                None => host(endpoint, None, PasswordSource::None),
            }
        })
        .collect()
}

/// Reads the password file as libpq's `passwordFromFile` does: a missing or
/// unreadable file is silently skipped, and one that is not a plain file or
/// that group or others may access is skipped with a warning.
fn read_passfile(path: &Path, warnings: &mut Vec<String>) -> Option<Vec<u8>> {
    let metadata = fs::metadata(path).ok()?;
    let shown = path.display();
    if !metadata.is_file() {
        warnings.push(format!(
            "password file \"{shown}\" is not a plain file, so it was ignored"
        ));
        return None;
    }
    if metadata.permissions().mode() & 0o077 != 0 {
        warnings.push(format!(
            "password file \"{shown}\" has group or world access, so it was ignored; \
             permissions should be u=rw (0600) or less (chmod 0600 \"{shown}\")"
        ));
        return None;
    }
    fs::read(path).ok()
}

/// The first line of the password file matching this endpoint, as
/// `hostname:port:database:username:password`. An empty password matches and
/// ends the search, then counts as no password, as it does in libpq.
fn lookup_passfile(
    path: &Path,
    contents: &[u8],
    endpoint: &Endpoint,
    key: &PasswordKey<'_>,
    warnings: &mut Vec<String>,
) -> Option<(String, PasswordSource)> {
    let fields = [
        endpoint.passfile_host.as_bytes(),
        endpoint.passfile_port.as_bytes(),
        key.dbname.as_bytes(),
        key.user.as_bytes(),
    ];
    for (index, line) in contents.split(|&b| b == b'\n').enumerate() {
        if line.first() == Some(&b'#') {
            continue;
        }
        let line = trim_trailing_crlf(line);
        if line.is_empty() {
            continue;
        }
        let Some(password) = fields
            .iter()
            .try_fold(line, |rest, field| match_passfile_field(rest, field))
        else {
            continue;
        };
        let line = index + 1;
        return match String::from_utf8(unescape_passfile_password(password)) {
            Ok(password) if password.is_empty() => None,
            Ok(password) => {
                let path = path.to_owned();
                Some((password, PasswordSource::Passfile { path, line }))
            }
            Err(_) => {
                warnings.push(format!(
                    "the password in line {line} of \"{}\" is not valid UTF-8, so it was ignored",
                    path.display()
                ));
                None
            }
        };
    }
    None
}

/// libpq's `pg_strip_crlf`.
fn trim_trailing_crlf(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b'\r' | b'\n'] = line {
        line = rest;
    }
    line
}

/// libpq's `pwdfMatchesString`: whether the line's next field matches
/// `token`, returning the rest of the line after the field's ":". A field of
/// exactly "*" matches anything; a backslash makes the next character
/// literal. An unescaped ":" still matches a ":" in the token, which is how
/// libpq lets `::1` match an IPv6 host.
fn match_passfile_field<'a>(line: &'a [u8], token: &[u8]) -> Option<&'a [u8]> {
    if let Some(rest) = line.strip_prefix(b"*:") {
        return Some(rest);
    }
    let mut line = line;
    let mut token = token;
    loop {
        let (&first, rest) = line.split_first()?;
        let (byte, escaped, rest) = match first {
            b'\\' => {
                let (&byte, rest) = rest.split_first()?;
                (byte, true, rest)
            }
            byte => (byte, false, rest),
        };
        if byte == b':' && !escaped && token.is_empty() {
            return Some(rest);
        }
        let (&expected, token_rest) = token.split_first()?;
        if byte != expected {
            return None;
        }
        line = rest;
        token = token_rest;
    }
}

/// The password field runs to the next unescaped ":" or the end of the line;
/// a backslash makes the next character literal, and a final one is kept.
fn unescape_passfile_password(field: &[u8]) -> Vec<u8> {
    let mut password = Vec::with_capacity(field.len());
    let mut bytes = field.iter();
    while let Some(&byte) = bytes.next() {
        match byte {
            b':' => break,
            b'\\' => password.push(bytes.next().copied().unwrap_or(b'\\')),
            byte => password.push(byte),
        }
    }
    password
}

struct PasswdEntry {
    name: String,
    home: PathBuf,
}

/// The passwd entry of the effective user, through the re-entrant
/// `getpwuid_r` so that concurrent callers cannot clobber each other.
fn effective_passwd_entry() -> Option<PasswdEntry> {
    // Entries with long lists of fields can exceed the usual 1 KiB; grow on
    // ERANGE up to a bound so a broken NSS module cannot make this loop forever.
    const MAX_BUFFER: usize = 1 << 20;
    let mut buffer: Vec<libc::c_char> = vec![0; 1024];
    loop {
        let mut entry = MaybeUninit::<libc::passwd>::uninit();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: `entry`, `buffer` and `result` are live, writable and sized
        // as passed; getpwuid_r writes the entry into `entry`, its strings
        // into `buffer`, and sets `result` to `entry` on success.
        let status = unsafe {
            libc::getpwuid_r(
                libc::geteuid(),
                entry.as_mut_ptr(),
                buffer.as_mut_ptr(),
                buffer.len(),
                &mut result,
            )
        };
        if status == libc::ERANGE && buffer.len() < MAX_BUFFER {
            buffer.resize(buffer.len() * 2, 0);
            continue;
        }
        if status != 0 || result.is_null() {
            return None;
        }
        // SAFETY: success with a non-null result means `entry` is initialised
        // and its string fields point to NUL-terminated strings in `buffer`,
        // which outlives these borrows.
        let (name, home) = unsafe {
            let entry = entry.assume_init();
            (CStr::from_ptr(entry.pw_name), CStr::from_ptr(entry.pw_dir))
        };
        return Some(PasswdEntry {
            name: name.to_str().ok()?.to_owned(),
            home: PathBuf::from(OsStr::from_bytes(home.to_bytes())),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// A machine described by the test: user "alice", no home directory, no
    /// local socket directory, no PG* variables unless added.
    #[derive(Clone)]
    struct FakeEnv {
        vars: HashMap<String, String>,
        home: Option<PathBuf>,
        user: Option<String>,
        socket_dir_exists: bool,
    }

    impl FakeEnv {
        fn new() -> FakeEnv {
            FakeEnv {
                vars: HashMap::new(),
                home: None,
                user: Some("alice".to_owned()),
                socket_dir_exists: false,
            }
        }

        fn var(mut self, name: &str, value: &str) -> FakeEnv {
            self.vars.insert(name.to_owned(), value.to_owned());
            self
        }

        fn home(mut self, home: &Path) -> FakeEnv {
            self.home = Some(home.to_owned());
            self
        }

        fn with_socket_dir(mut self) -> FakeEnv {
            self.socket_dir_exists = true;
            self
        }

        fn without_os_user(mut self) -> FakeEnv {
            self.user = None;
            self
        }

        fn parse(&self, input: &str) -> ConnInfo {
            ConnInfo::parse(Some(input), self)
                .unwrap_or_else(|err| panic!("{input:?} should parse, got: {err}"))
        }

        fn error(&self, input: &str) -> String {
            match ConnInfo::parse(Some(input), self) {
                Ok(info) => panic!("{input:?} should fail, got {info:?}"),
                Err(err) => err.to_string(),
            }
        }
    }

    impl Environment for FakeEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.vars.get(name).cloned()
        }
        fn home_dir(&self) -> Option<PathBuf> {
            self.home.clone()
        }
        fn os_user(&self) -> Option<String> {
            self.user.clone()
        }
        fn is_dir(&self, path: &Path) -> bool {
            self.socket_dir_exists && path == Path::new(DEFAULT_SOCKET_DIR)
        }
    }

    fn parse(input: &str) -> ConnInfo {
        FakeEnv::new().parse(input)
    }

    fn error(input: &str) -> String {
        FakeEnv::new().error(input)
    }

    /// The servers as short strings: "name:port", "name(ip):port" or
    /// "unix:/dir:port".
    fn servers(info: &ConnInfo) -> Vec<String> {
        info.hosts
            .iter()
            .map(|host| match &host.addr {
                HostAddr::Tcp {
                    name,
                    hostaddr: None,
                } => format!("{name}:{}", host.port),
                HostAddr::Tcp {
                    name,
                    hostaddr: Some(ip),
                } => format!("{name}({ip}):{}", host.port),
                HostAddr::Unix(dir) => format!("unix:{}:{}", dir.display(), host.port),
            })
            .collect()
    }

    fn password(info: &ConnInfo) -> Option<&str> {
        info.hosts.first().and_then(|host| host.password.as_deref())
    }

    /// A home directory holding `.pgpass` with `contents` and mode 0600.
    fn home_with_pgpass(contents: &str) -> tempfile::TempDir {
        let home = tempfile::tempdir().expect("create temporary home");
        let path = home.path().join(".pgpass");
        fs::write(&path, contents).expect("write .pgpass");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod .pgpass");
        home
    }

    // The examples of the libpq manual's "Connection URIs" section.

    #[test]
    fn docs_uri_with_nothing_uses_every_default() {
        let info = parse("postgresql://");
        assert_eq!(servers(&info), ["localhost:5432"]);
        assert_eq!(info.user, "alice");
        assert_eq!(info.dbname, "alice");
        assert_eq!(password(&info), None);
        assert_eq!(info.sslmode, SslMode::Prefer);
        assert_eq!(info.target_session_attrs, TargetSessionAttrs::Any);
        assert_eq!(info.connect_timeout, None);
        assert!(info.warnings.is_empty());
    }

    #[test]
    fn docs_uri_host_port_and_dbname() {
        assert_eq!(
            servers(&parse("postgresql://localhost")),
            ["localhost:5432"]
        );
        assert_eq!(
            servers(&parse("postgresql://localhost:5433")),
            ["localhost:5433"]
        );
        let info = parse("postgresql://localhost/mydb");
        assert_eq!(servers(&info), ["localhost:5432"]);
        assert_eq!(info.dbname, "mydb");
    }

    #[test]
    fn docs_uri_user_and_password() {
        let info = parse("postgresql://user@localhost");
        assert_eq!(info.user, "user");
        assert_eq!(info.dbname, "user");
        assert_eq!(password(&info), None);

        let info = parse("postgresql://user:secret@localhost");
        assert_eq!(info.user, "user");
        assert_eq!(password(&info), Some("secret"));
        assert_eq!(
            info.hosts[0].password_source,
            PasswordSource::ConnectionString
        );
    }

    #[test]
    fn docs_uri_with_query_parameters() {
        let info =
            parse("postgresql://other@localhost/otherdb?connect_timeout=10&application_name=myapp");
        assert_eq!(info.user, "other");
        assert_eq!(info.dbname, "otherdb");
        assert_eq!(info.connect_timeout, Some(Duration::from_secs(10)));
        assert_eq!(info.application_name.as_deref(), Some("myapp"));
    }

    #[test]
    fn docs_uri_with_two_hosts() {
        let info = parse(
            "postgresql://host1:123,host2:456/somedb?target_session_attrs=any&application_name=myapp",
        );
        assert_eq!(servers(&info), ["host1:123", "host2:456"]);
        assert_eq!(info.dbname, "somedb");
        assert_eq!(info.target_session_attrs, TargetSessionAttrs::Any);
        assert_eq!(info.application_name.as_deref(), Some("myapp"));
    }

    #[test]
    fn docs_uri_parts_given_as_query_parameters() {
        let info = parse("postgresql:///mydb?host=localhost&port=5433");
        assert_eq!(servers(&info), ["localhost:5433"]);
        assert_eq!(info.dbname, "mydb");

        let info = parse("postgresql://localhost/mydb?user=other&password=secret");
        assert_eq!(info.user, "other");
        assert_eq!(password(&info), Some("secret"));
    }

    #[test]
    fn docs_uri_percent_encoded_options() {
        let info =
            parse("postgresql://user@localhost:5433/mydb?options=-c%20synchronous_commit%3Doff");
        assert_eq!(info.options.as_deref(), Some("-c synchronous_commit=off"));
        assert_eq!(servers(&info), ["localhost:5433"]);
    }

    #[test]
    fn docs_uri_ipv6_host() {
        let info = parse("postgresql://[2001:db8::1234]/database");
        assert_eq!(servers(&info), ["2001:db8::1234:5432"]);
        assert_eq!(info.dbname, "database");
        assert_eq!(
            servers(&parse("postgresql://[::1]:5433")),
            ["::1:5433"],
            "a port after the bracket"
        );
    }

    #[test]
    fn docs_uri_unix_socket_given_as_query_or_percent_encoded() {
        let info = parse("postgresql:///dbname?host=/var/lib/postgresql");
        assert_eq!(servers(&info), ["unix:/var/lib/postgresql:5432"]);
        assert_eq!(info.dbname, "dbname");

        let info = parse("postgresql://%2Fvar%2Flib%2Fpostgresql/dbname");
        assert_eq!(servers(&info), ["unix:/var/lib/postgresql:5432"]);
        assert_eq!(info.dbname, "dbname");
    }

    #[test]
    fn docs_keyword_value_example() {
        let info = parse("host=localhost port=5432 dbname=mydb connect_timeout=10");
        assert_eq!(servers(&info), ["localhost:5432"]);
        assert_eq!(info.dbname, "mydb");
        assert_eq!(info.connect_timeout, Some(Duration::from_secs(10)));
    }

    #[test]
    fn short_uri_prefix_is_accepted_and_prefixes_are_case_sensitive() {
        assert_eq!(parse("postgres://db/app").dbname, "app");
        // psql would take it as a database name; brisk says what is wrong instead.
        assert_eq!(
            error("POSTGRES://db/app"),
            "\"POSTGRES://\" is not a PostgreSQL URL; use postgres:// or postgresql://"
        );
    }

    // URIs beyond the manual's examples.

    #[test]
    fn uri_parts_are_percent_decoded() {
        let info = parse("postgresql://us%40er:p%3Ass%2Fw%C3%B6rd@db%2Dmain:5432/my%20db");
        assert_eq!(info.user, "us@er");
        assert_eq!(password(&info), Some("p:ss/wörd"));
        assert_eq!(servers(&info), ["db-main:5432"]);
        assert_eq!(info.dbname, "my db");
    }

    #[test]
    fn uri_password_may_hold_colons_and_query_plus_is_not_a_space() {
        let info = parse("postgresql://u:a:b@h/d?application_name=a+b");
        assert_eq!(password(&info), Some("a:b"));
        assert_eq!(info.application_name.as_deref(), Some("a+b"));
    }

    #[test]
    fn uri_query_parameters_override_the_authority() {
        let info =
            parse("postgresql://bob@first:1111/one?host=second&port=2222&user=carol&dbname=two");
        assert_eq!(servers(&info), ["second:2222"]);
        assert_eq!(info.user, "carol");
        assert_eq!(info.dbname, "two");
    }

    #[test]
    fn uri_multiple_hosts_with_missing_ports_and_ipv6() {
        let info = parse("postgresql://a,[::1]:6000,%2Ftmp/db");
        assert_eq!(servers(&info), ["a:5432", "::1:6000", "unix:/tmp:5432"]);
    }

    #[test]
    fn uri_empty_parts_leave_room_for_the_environment() {
        let env = FakeEnv::new()
            .var("PGUSER", "envuser")
            .var("PGDATABASE", "envdb")
            .var("PGHOST", "envhost")
            .var("PGPASSWORD", "envpass");
        let info = env.parse("postgresql://:@/");
        assert_eq!(info.user, "envuser");
        assert_eq!(info.dbname, "envdb");
        assert_eq!(servers(&info), ["envhost:5432"]);
        assert_eq!(password(&info), Some("envpass"));
        assert_eq!(info.hosts[0].password_source, PasswordSource::EnvVar);
    }

    #[test]
    fn uri_ssl_true_is_sslmode_require() {
        assert_eq!(parse("postgresql://h/d?ssl=true").sslmode, SslMode::Require);
        assert!(
            error("postgresql://h/d?ssl=false").starts_with("unknown connection option \"ssl\"")
        );
    }

    #[test]
    fn uri_trailing_ampersand_is_allowed() {
        assert_eq!(
            parse("postgresql://h/d?sslmode=disable&").sslmode,
            SslMode::Disable
        );
    }

    #[test]
    fn uri_at_sign_before_any_slash_is_user_info_as_in_libpq() {
        // libpq looks for "@" up to the first "/" only; this reads as user
        // "h?application_name=x" at host "y".
        let info = parse("postgresql://h?application_name=x@y");
        assert_eq!(info.user, "h?application_name=x");
        assert_eq!(servers(&info), ["y:5432"]);
    }

    // Keyword/value strings.

    #[test]
    fn keyword_values_may_be_quoted_and_escaped() {
        let info = parse(r"host=localhost port=5432 dbname='my db' password='it\'s' user=a\ b");
        assert_eq!(info.dbname, "my db");
        assert_eq!(password(&info), Some("it's"));
        assert_eq!(info.user, "a b");

        let info = parse(r"password='back\\slash' options='-c search_path=a,b'");
        assert_eq!(password(&info), Some(r"back\slash"));
        assert_eq!(info.options.as_deref(), Some("-c search_path=a,b"));
    }

    #[test]
    fn keyword_values_allow_whitespace_around_equals() {
        let info = parse("  host =\tdb\n port= 5433  dbname  =  app ");
        assert_eq!(servers(&info), ["db:5433"]);
        assert_eq!(info.dbname, "app");
    }

    #[test]
    fn keyword_quoted_values_need_no_space_after_them() {
        let info = parse("dbname='a'user='b'");
        assert_eq!(info.dbname, "a");
        assert_eq!(info.user, "b");
    }

    #[test]
    fn keyword_empty_quotes_and_later_duplicates() {
        let info = parse("dbname='' dbname=second user=''");
        assert_eq!(info.dbname, "second", "the last value wins");
        assert_eq!(info.user, "alice", "an empty user takes the default");
    }

    #[test]
    fn bare_word_is_a_database_name_as_in_psql() {
        assert_eq!(parse("mydb").dbname, "mydb");
        assert_eq!(parse("").dbname, "alice");
    }

    #[test]
    fn keyword_multiple_hosts_and_ports() {
        let info = parse("host=a,b,c port=5432,5433,5434");
        assert_eq!(servers(&info), ["a:5432", "b:5433", "c:5434"]);

        let info = parse("host=a,b port=6000");
        assert_eq!(
            servers(&info),
            ["a:6000", "b:6000"],
            "one port for all hosts"
        );

        let info = parse("host=a,,/tmp port=,7000,");
        assert_eq!(
            servers(&info),
            ["a:5432", "localhost:7000", "unix:/tmp:5432"],
            "empty elements take the defaults"
        );
    }

    #[test]
    fn ipv6_and_ipv4_hosts_in_keyword_form() {
        assert_eq!(servers(&parse("host=::1 port=5433")), ["::1:5433"]);
        assert_eq!(servers(&parse("host=10.1.2.3")), ["10.1.2.3:5432"]);
    }

    #[test]
    fn hostaddr_skips_dns_and_keeps_the_name() {
        let info = parse("host=db.example.com hostaddr=10.0.0.5");
        assert_eq!(servers(&info), ["db.example.com(10.0.0.5):5432"]);

        let info = parse("hostaddr=::1,10.0.0.6 port=1,2");
        assert_eq!(servers(&info), ["::1(::1):1", "10.0.0.6(10.0.0.6):2"]);

        let info = parse("host=a,b hostaddr=,10.0.0.7");
        assert_eq!(servers(&info), ["a:5432", "b(10.0.0.7):5432"]);
        assert_eq!(
            info.hosts[1].addr,
            HostAddr::Tcp {
                name: "b".to_owned(),
                hostaddr: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7))),
            }
        );
    }

    // Defaults and the environment.

    #[test]
    fn default_host_is_the_socket_directory_when_it_exists() {
        let info = FakeEnv::new().with_socket_dir().parse("dbname=app");
        assert_eq!(servers(&info), ["unix:/var/run/postgresql:5432"]);
        assert_eq!(servers(&parse("dbname=app")), ["localhost:5432"]);
    }

    #[test]
    fn every_environment_variable_is_a_fallback() {
        let home = tempfile::tempdir().expect("create temporary home");
        let env = FakeEnv::new()
            .home(home.path())
            .var("PGHOST", "envhost")
            .var("PGHOSTADDR", "192.0.2.1")
            .var("PGPORT", "6543")
            .var("PGDATABASE", "envdb")
            .var("PGUSER", "envuser")
            .var("PGPASSWORD", "envpass")
            .var("PGPASSFILE", "/nonexistent/pgpass")
            .var("PGCONNECT_TIMEOUT", "7")
            .var("PGAPPNAME", "envapp")
            .var("PGOPTIONS", "-c work_mem=64MB")
            .var("PGSSLMODE", "verify-ca")
            .var("PGSSLROOTCERT", "/etc/ca.pem")
            .var("PGSSLCERT", "/etc/client.pem")
            .var("PGSSLKEY", "/etc/client.key")
            .var("PGTARGETSESSIONATTRS", "read-only");
        let info = ConnInfo::parse(None, &env).expect("parse from environment alone");
        assert_eq!(servers(&info), ["envhost(192.0.2.1):6543"]);
        assert_eq!(info.dbname, "envdb");
        assert_eq!(info.user, "envuser");
        assert_eq!(password(&info), Some("envpass"));
        assert_eq!(info.connect_timeout, Some(Duration::from_secs(7)));
        assert_eq!(info.application_name.as_deref(), Some("envapp"));
        assert_eq!(info.options.as_deref(), Some("-c work_mem=64MB"));
        assert_eq!(info.sslmode, SslMode::VerifyCa);
        assert_eq!(
            info.sslrootcert,
            Some(SslRootCert::File(PathBuf::from("/etc/ca.pem")))
        );
        assert!(info.sslrootcert_explicit);
        assert_eq!(info.sslcert, Some(PathBuf::from("/etc/client.pem")));
        assert_eq!(info.sslkey, Some(PathBuf::from("/etc/client.key")));
        assert_eq!(info.target_session_attrs, TargetSessionAttrs::ReadOnly);
    }

    #[test]
    fn string_beats_environment_beats_default() {
        let env = FakeEnv::new()
            .var("PGHOST", "envhost")
            .var("PGPORT", "6543")
            .var("PGSSLMODE", "disable");
        let info = env.parse("host=strhost");
        assert_eq!(servers(&info), ["strhost:6543"]);
        assert_eq!(info.sslmode, SslMode::Disable);
        assert_eq!(info.user, "alice", "the OS user when nothing else says");
    }

    #[test]
    fn empty_value_in_string_blocks_the_environment_and_takes_the_default() {
        let env = FakeEnv::new()
            .var("PGHOST", "envhost")
            .var("PGUSER", "envuser");
        let info = env.parse("host='' user=''");
        assert_eq!(servers(&info), ["localhost:5432"]);
        assert_eq!(info.user, "alice");
    }

    #[test]
    fn deprecated_pgrequiressl_yields_to_pgsslmode() {
        let env = FakeEnv::new().var("PGREQUIRESSL", "1");
        assert_eq!(env.parse("").sslmode, SslMode::Require);
        assert_eq!(
            env.clone().var("PGSSLMODE", "allow").parse("").sslmode,
            SslMode::Allow
        );
    }

    #[test]
    fn pgservice_is_reported_as_ignored() {
        let info = FakeEnv::new().var("PGSERVICE", "prod").parse("");
        assert_eq!(info.warnings.len(), 1);
        assert!(info.warnings[0].starts_with("PGSERVICE is set"));
    }

    #[test]
    fn missing_os_user_is_an_error_only_when_no_user_is_given() {
        let env = FakeEnv::new().without_os_user();
        assert_eq!(env.parse("user=bob").user, "bob");
        assert_eq!(
            env.error("host=db"),
            "no user name given and the operating system user could not be determined; \
             set user= in the connection string or PGUSER"
        );
    }

    #[test]
    fn application_name_falls_back_to_fallback_application_name() {
        let info = parse("fallback_application_name=fb");
        assert_eq!(info.application_name.as_deref(), Some("fb"));
        let info = FakeEnv::new()
            .var("PGAPPNAME", "env")
            .parse("fallback_application_name=fb");
        assert_eq!(info.application_name.as_deref(), Some("env"));
    }

    #[test]
    fn connect_timeout_follows_libpq() {
        let timeout = |s: &str| parse(&format!("connect_timeout={s}")).connect_timeout;
        assert_eq!(timeout("10"), Some(Duration::from_secs(10)));
        assert_eq!(timeout("' 3 '"), Some(Duration::from_secs(3)));
        assert_eq!(timeout("1"), Some(Duration::from_secs(2)));
        assert_eq!(timeout("0"), None);
        assert_eq!(timeout("-5"), None);
    }

    #[test]
    fn every_sslmode_and_target_session_attrs_value_parses() {
        for mode in SslMode::ALL {
            assert_eq!(parse(&format!("sslmode={mode}")).sslmode, mode);
        }
        for attrs in TargetSessionAttrs::ALL {
            let info = parse(&format!("target_session_attrs={attrs}"));
            assert_eq!(info.target_session_attrs, attrs);
        }
    }

    #[test]
    fn keepalive_keywords_are_accepted() {
        parse("keepalives=1 keepalives_idle=30 keepalives_interval=10 keepalives_count=3");
    }

    // TLS files.

    #[test]
    fn default_tls_files_are_used_only_when_they_exist() {
        let home = tempfile::tempdir().expect("create temporary home");
        let env = FakeEnv::new().home(home.path());
        let info = env.parse("sslmode=require");
        assert_eq!(info.sslrootcert, None);
        assert_eq!(info.sslcert, None);
        assert_eq!(info.sslkey, None);

        let dir = home.path().join(".postgresql");
        fs::create_dir(&dir).expect("create ~/.postgresql");
        for name in ["root.crt", "postgresql.crt", "postgresql.key"] {
            fs::write(dir.join(name), "pem").expect("write TLS file");
        }
        let info = env.parse("sslmode=require");
        assert_eq!(
            info.sslrootcert,
            Some(SslRootCert::File(dir.join("root.crt")))
        );
        assert!(!info.sslrootcert_explicit);
        assert_eq!(info.sslcert, Some(dir.join("postgresql.crt")));
        assert_eq!(info.sslkey, Some(dir.join("postgresql.key")));

        let info = env.parse("sslrootcert=/etc/ssl/ca.pem");
        assert_eq!(
            info.sslrootcert,
            Some(SslRootCert::File(PathBuf::from("/etc/ssl/ca.pem")))
        );
        assert!(info.sslrootcert_explicit);
    }

    #[test]
    fn sslrootcert_system_defaults_to_verify_full_and_refuses_weaker_modes() {
        let info = parse("sslrootcert=system");
        assert_eq!(info.sslrootcert, Some(SslRootCert::System));
        assert_eq!(info.sslmode, SslMode::VerifyFull);
        assert_eq!(
            error("sslrootcert=system sslmode=require"),
            "sslmode \"require\" is too weak for sslrootcert=system; use sslmode=verify-full"
        );
    }

    // The password file.

    #[test]
    fn pgpass_supplies_the_password_of_the_first_matching_line() {
        let home = home_with_pgpass(
            "# comment: hostname:port:database:username:password\n\
             other:5432:app:alice:wrong-host\n\
             db:5432:app:alice:right\n\
             db:5432:app:alice:too-late\n",
        );
        let info = FakeEnv::new().home(home.path()).parse("host=db dbname=app");
        assert_eq!(password(&info), Some("right"));
        assert_eq!(
            info.hosts[0].password_source,
            PasswordSource::Passfile {
                path: home.path().join(".pgpass"),
                line: 3
            }
        );
        assert!(info.warnings.is_empty());
    }

    #[test]
    fn pgpass_wildcards_and_escapes() {
        let home = home_with_pgpass(
            "*:*:*:bob:any-bob\n\
             we\\:ird:5432:d\\\\b:*:p\\:a\\\\ss:ignored-after-colon\n\
             *:*:*:*:fallback\r\n",
        );
        let env = FakeEnv::new().home(home.path());
        assert_eq!(password(&env.parse("host=x user=bob")), Some("any-bob"));
        assert_eq!(
            password(&env.parse(r"host=we:ird dbname=d\\b")),
            Some(r"p:a\ss")
        );
        assert_eq!(
            password(&env.parse("host=elsewhere")),
            Some("fallback"),
            "CRLF line endings are stripped"
        );
    }

    #[test]
    fn pgpass_star_only_matches_as_a_whole_field() {
        let home = home_with_pgpass("db*:5432:*:*:nope\n\\*:5432:*:*:literal-star\n");
        let env = FakeEnv::new().home(home.path());
        assert_eq!(password(&env.parse("host=dbx")), None);
        assert_eq!(password(&env.parse("host=*")), Some("literal-star"));
    }

    #[test]
    fn pgpass_default_socket_matches_localhost_but_other_sockets_match_their_path() {
        let home = home_with_pgpass("localhost:5432:*:*:local\n/tmp:5432:*:*:tmp-socket\n");
        let env = FakeEnv::new().home(home.path()).with_socket_dir();
        assert_eq!(password(&env.parse("")), Some("local"));
        assert_eq!(
            password(&env.parse("host=/var/run/postgresql")),
            Some("local")
        );
        assert_eq!(password(&env.parse("host=/tmp")), Some("tmp-socket"));
        assert_eq!(
            password(&FakeEnv::new().home(home.path()).parse("")),
            Some("local"),
            "the localhost fallback matches too"
        );
    }

    #[test]
    fn pgpass_uses_the_port_as_written_or_5432() {
        let home = home_with_pgpass("db:6000:*:*:six\ndb:5432:*:*:default\n");
        let env = FakeEnv::new().home(home.path());
        assert_eq!(password(&env.parse("host=db port=6000")), Some("six"));
        assert_eq!(password(&env.parse("host=db")), Some("default"));
        assert_eq!(password(&env.parse("host=db port=06000")), None);
    }

    #[test]
    fn pgpass_is_looked_up_per_host() {
        let home = home_with_pgpass("a:*:*:*:pa\nb:*:*:*:pb\n");
        let info = FakeEnv::new()
            .home(home.path())
            .parse("postgresql://a,b,c/db");
        let passwords: Vec<_> = info.hosts.iter().map(|h| h.password.as_deref()).collect();
        assert_eq!(passwords, [Some("pa"), Some("pb"), None]);
        assert_eq!(info.hosts[2].password_source, PasswordSource::None);
    }

    #[test]
    fn pgpass_matches_hostaddr_when_no_host_is_given() {
        let home = home_with_pgpass("10.0.0.5:*:*:*:by-address\n");
        let info = FakeEnv::new().home(home.path()).parse("hostaddr=10.0.0.5");
        assert_eq!(password(&info), Some("by-address"));
    }

    #[test]
    fn pgpass_empty_password_stops_the_search_and_counts_as_none() {
        let home = home_with_pgpass("db:*:*:*:\ndb:*:*:*:later\n");
        let info = FakeEnv::new().home(home.path()).parse("host=db");
        assert_eq!(password(&info), None);
    }

    #[test]
    fn given_password_skips_pgpass_and_empty_password_does_not() {
        let home = home_with_pgpass("*:*:*:*:from-file\n");
        let env = FakeEnv::new().home(home.path());
        assert_eq!(password(&env.parse("password=given")), Some("given"));
        assert_eq!(
            password(&env.clone().var("PGPASSWORD", "env").parse("")),
            Some("env")
        );
        assert_eq!(password(&env.parse("password=''")), Some("from-file"));
    }

    #[test]
    fn passfile_keyword_and_pgpassfile_choose_the_file() {
        let home = home_with_pgpass("*:*:*:*:home-file\n");
        let other = home.path().join("other-pass");
        fs::write(&other, "*:*:*:*:other-file\n").expect("write password file");
        fs::set_permissions(&other, fs::Permissions::from_mode(0o600)).expect("chmod");
        let env = FakeEnv::new().home(home.path());
        let keyword = format!("passfile='{}'", other.display());
        assert_eq!(password(&env.parse(&keyword)), Some("other-file"));
        let env_var = env.clone().var("PGPASSFILE", &other.to_string_lossy());
        assert_eq!(password(&env_var.parse("")), Some("other-file"));
    }

    #[test]
    fn missing_pgpass_is_silently_ignored() {
        let home = tempfile::tempdir().expect("create temporary home");
        let info = FakeEnv::new().home(home.path()).parse("host=db");
        assert_eq!(password(&info), None);
        assert!(info.warnings.is_empty());
    }

    #[test]
    fn group_readable_pgpass_is_ignored_with_a_warning() {
        let home = home_with_pgpass("*:*:*:*:exposed\n");
        let path = home.path().join(".pgpass");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod 0644");
        let info = FakeEnv::new()
            .home(home.path())
            .parse("postgresql://a,b/db");
        assert_eq!(password(&info), None);
        assert_eq!(info.warnings.len(), 1, "one warning, not one per host");
        assert_eq!(
            info.warnings[0],
            format!(
                "password file \"{0}\" has group or world access, so it was ignored; \
                 permissions should be u=rw (0600) or less (chmod 0600 \"{0}\")",
                path.display()
            )
        );
    }

    #[test]
    fn pgpass_that_is_a_directory_is_ignored_with_a_warning() {
        let home = tempfile::tempdir().expect("create temporary home");
        fs::create_dir(home.path().join(".pgpass")).expect("create directory");
        let info = FakeEnv::new().home(home.path()).parse("");
        assert_eq!(password(&info), None);
        assert!(info.warnings[0].ends_with("is not a plain file, so it was ignored"));
    }

    // Reports.

    #[test]
    fn redacted_form_never_shows_the_password_and_parses_back() {
        let info = parse("postgresql://alice:s3cret@db.example.com:5432/app");
        assert_eq!(info.redacted(), "postgres://alice@db.example.com:5432/app");

        let tricky = parse(
            "host=/var/run/postgresql,::1,b hostaddr=,,10.0.0.1 port=1,2,3 \
             user='a@b' dbname='my db' password=s3cret",
        );
        let shown = tricky.redacted();
        assert_eq!(
            shown,
            "postgres://a%40b@%2Fvar%2Frun%2Fpostgresql:1,[::1]:2,b:3/my%20db?hostaddr=,,10.0.0.1"
        );
        assert!(!shown.contains("s3cret"));
        let back = parse(&shown);
        assert_eq!(back.hosts.len(), 3);
        assert_eq!(servers(&back), servers(&tricky));
        assert_eq!((back.user, back.dbname), (tricky.user, tricky.dbname));
    }

    #[test]
    fn debug_output_never_shows_the_password() {
        let info = parse("password=s3cret");
        let debug = format!("{info:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }

    // Errors: every message, in full.

    #[test]
    fn unknown_and_unsupported_keywords() {
        assert_eq!(
            error("host=db xyz=1"),
            "unknown connection option \"xyz\"; check its spelling against the libpq keywords \
             (host, port, dbname, user, password, sslmode, ...)"
        );
        assert!(error("postgresql://h/d?xyz=1").starts_with("unknown connection option \"xyz\""));
        assert_eq!(
            error("sslpassword=x"),
            "connection option \"sslpassword\" is not supported by brisk; \
             remove it from the connection string"
        );
        assert!(error("service=prod").contains("\"service\" is not supported"));
    }

    #[test]
    fn bad_values_name_the_key_the_value_and_where_it_was_set() {
        assert_eq!(
            error("sslmode=maybe"),
            "invalid sslmode value \"maybe\" in the connection string; \
             use one of disable, allow, prefer, require, verify-ca, verify-full"
        );
        assert_eq!(
            FakeEnv::new().var("PGSSLMODE", "").error(""),
            "invalid sslmode value \"\" in PGSSLMODE; \
             use one of disable, allow, prefer, require, verify-ca, verify-full"
        );
        assert_eq!(
            error("target_session_attrs=master"),
            "invalid target_session_attrs value \"master\" in the connection string; \
             use one of any, read-write, read-only, primary, standby, prefer-standby"
        );
        assert_eq!(
            error("port=abc"),
            "invalid port value \"abc\" in the connection string; use a port number from 1 to 65535"
        );
        assert!(error("port=0").starts_with("invalid port value \"0\""));
        assert!(error("port=65536").starts_with("invalid port value \"65536\""));
        assert!(error("host=a,b port=1,x").starts_with("invalid port value \"x\""));
        assert!(FakeEnv::new()
            .var("PGPORT", "http")
            .error("")
            .starts_with("invalid port value \"http\" in PGPORT;"));
        assert_eq!(
            error("connect_timeout=soon"),
            "invalid connect_timeout value \"soon\" in the connection string; \
             use a whole number of seconds"
        );
        assert!(error("connect_timeout=").starts_with("invalid connect_timeout value \"\""));
        assert_eq!(
            error("keepalives_idle=often"),
            "invalid keepalives_idle value \"often\" in the connection string; use a whole number"
        );
        assert_eq!(
            error("hostaddr=db.example.com"),
            "invalid hostaddr value \"db.example.com\" in the connection string; \
             use a numeric IPv4 or IPv6 address (host names go in host=)"
        );
        assert_eq!(
            error("host=@abstract"),
            "invalid host value \"@abstract\" in the connection string; abstract Unix sockets \
             (\"@name\") are not supported; give a socket directory or a host name"
        );
    }

    #[test]
    fn keyword_syntax_errors() {
        assert_eq!(
            error("host=db port"),
            "missing \"=\" after \"port\" in the connection string; write each setting as key=value"
        );
        assert_eq!(
            error("dbname=app password='unterminated"),
            "unterminated quoted value for \"password\" in the connection string; \
             end it with ' and write a quote inside it as \\'"
        );
        assert!(error(r"password='ends in backslash\'").starts_with("unterminated quoted value"));
        assert!(error("=value").starts_with("unknown connection option \"\""));
    }

    #[test]
    fn mismatched_host_and_port_counts() {
        assert_eq!(
            error("host=a,b,c port=1,2"),
            "could not match 2 port numbers to 3 hosts; give one port for all hosts or one per host"
        );
        assert!(error("postgresql://a:1,b:2/db?port=1,2,3")
            .starts_with("could not match 3 port numbers to 2 hosts"));
        assert_eq!(
            error("host=a,b hostaddr=10.0.0.1"),
            "could not match 2 host names to 1 hostaddr values; \
             give one host name per hostaddr, or no host"
        );
    }

    #[test]
    fn malformed_uris() {
        assert_eq!(
            error("postgresql://[::1/db"),
            "malformed connection URI: \"[\" at position 14 has no matching \"]\"; \
             write IPv6 hosts as [2001:db8::1]"
        );
        assert_eq!(
            error("postgresql://[]/db"),
            "malformed connection URI: empty IPv6 address \"[]\" at position 14; \
             put the address between the brackets"
        );
        assert_eq!(
            error("postgresql://[::1]x/db"),
            "malformed connection URI: unexpected character \"x\" at position 19 after an IPv6 \
             address; follow \"]\" with \":port\", \",\", \"/dbname\" or \"?parameters\""
        );
        assert_eq!(
            error("postgresql://h/d?sslmode"),
            "malformed connection URI: query parameter \"sslmode\" has no \"=\"; write it as key=value"
        );
        assert!(error("postgresql://h/d?sslmode=disable&&b=2")
            .starts_with("malformed connection URI: query parameter \"\" has no \"=\""));
        assert_eq!(
            error("postgresql://h/d?options=-c%20a=b"),
            "malformed connection URI: query parameter \"options\" has more than one \"=\"; \
             percent-encode \"=\" inside a value as %3D"
        );
        assert_eq!(
            error("postgresql://u:secr%zzet@h/d"),
            "malformed connection URI: bad percent-encoding in the password; \"%\" must be \
             followed by two hex digits (write a literal \"%\" as %25)"
        );
        assert!(error("postgresql://h/d%4").contains("bad percent-encoding in the database name"));
        assert_eq!(
            error("postgresql://h/d?application_name=a%00b"),
            "malformed connection URI: the value of \"application_name\" contains %00, \
             which libpq forbids; remove it"
        );
        assert_eq!(
            error("postgresql://%FF@h/d"),
            "malformed connection URI: the user name is not valid UTF-8 once percent-decoded; \
             percent-encode text as UTF-8"
        );
    }

    #[test]
    fn errors_never_echo_a_password() {
        for input in [
            "postgresql://u:hunter2%zz@h/d",
            "postgresql://u:hunter2%00@h/d",
            "postgresql://u:hunter2%FF@h/d",
            "password='hunter2",
        ] {
            let message = error(input);
            assert!(!message.contains("hunter2"), "{input:?} gave {message:?}");
        }
    }

    #[test]
    fn no_input_ever_panics() {
        let home = home_with_pgpass("*:*:*:*:p\\:w\\\n::1:*:*:*:six\n");
        let env = FakeEnv::new()
            .home(home.path())
            .with_socket_dir()
            .var("PGPORT", "5433");
        let complex = [
            "postgresql://us%40er:p%3Ass@[::1]:5433,db.example.com,%2Ftmp:6000/my%20db\
             ?sslmode=verify-full&application_name=br%C3%AFsk&target_session_attrs=read-write\
             &connect_timeout=7&hostaddr=,,&ssl=true",
            r"host='a b',/tmp,[::1] port=1,2,3 dbname='it\'s' password='x\\y' user=ünï\ code sslmode=require options='-c search_path=a\,b' connect_timeout=-1",
            "postgres://[fe80::1]x/db?=&&a==b%",
            "postgres://@:/?&=%%%2",
            "hostaddr=10.0.0.1,::1 host=a,b sslrootcert=system sslmode=verify-full keepalives=1",
            "\u{0b}\u{0c}dbname\t=\r'\\\\' postgres://x",
        ];
        for input in complex {
            for (end, _) in input.char_indices().chain([(input.len(), ' ')]) {
                let prefix = &input[..end];
                let _ = ConnInfo::parse(Some(prefix), &env);
            }
        }
    }
}
