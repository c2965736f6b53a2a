//! Every connection brisk opens carries its safety settings, and TLS follows `sslmode` as
//! libpq does, against real servers.

use std::sync::OnceLock;

use brisk_pg::conninfo::{ConnInfo, Environment, ProcessEnvironment};
use brisk_pg::{PgError, Session, SessionOptions};
use brisk_sandbox::{shared_postgres, Postgres};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn connect(url: &str) -> Result<Session, PgError> {
    let info = ConnInfo::from_env_and_str(Some(url))?;
    runtime().block_on(Session::connect(&info, &SessionOptions::default()))
}

/// Runs one query in a brisk transaction on a new session and returns the first column of
/// the first row.
fn query_text(url: &str, sql: &str) -> Result<String, PgError> {
    let info = ConnInfo::from_env_and_str(Some(url))?;
    runtime().block_on(async {
        let session = Session::connect(&info, &SessionOptions::default()).await?;
        session.begin().await?;
        let rows = session.query("test query", sql, &[]).await?;
        session.commit().await?;
        Ok(rows[0].get::<_, String>(0))
    })
}

#[test]
fn sessions_are_named_bounded_and_read_only() {
    let pg = shared_postgres().unwrap();
    let url = pg.url("postgres");
    assert_eq!(query_text(&url, "SHOW application_name").unwrap(), "brisk");
    assert_eq!(query_text(&url, "SHOW statement_timeout").unwrap(), "5s");
    assert_eq!(query_text(&url, "SHOW lock_timeout").unwrap(), "1s");
    assert_eq!(
        query_text(&url, "SHOW transaction_read_only").unwrap(),
        "on"
    );
    assert_eq!(
        query_text(&url, "SHOW transaction_isolation").unwrap(),
        "repeatable read"
    );
    let write = query_text(&url, "CREATE TABLE brisk_must_not_write (id int)");
    let error = write.unwrap_err().to_string();
    assert!(error.contains("read-only transaction"), "{error}");
}

#[test]
fn nothing_is_left_on_the_session_between_transactions() {
    // Behind a transaction-mode pooler the server connection goes back to other clients
    // between brisk's transactions: it must carry none of brisk's settings.
    let pg = shared_postgres().unwrap();
    let info = ConnInfo::from_env_and_str(Some(&pg.url("postgres"))).unwrap();
    runtime().block_on(async {
        let session = Session::connect(&info, &SessionOptions::default()).await.unwrap();
        session.begin().await.unwrap();
        session.commit().await.unwrap();
        let rows = session
            .client()
            .query(
                "SELECT current_setting('statement_timeout'), current_setting('default_transaction_read_only')",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(rows[0].get::<_, String>(0), "0");
        assert_eq!(rows[0].get::<_, String>(1), "off");
    });
}

#[test]
fn server_info_is_read_on_connect() {
    let pg = shared_postgres().unwrap();
    let session = connect(&pg.url("postgres")).unwrap();
    let server = session.server();
    assert_eq!(server.version_num / 10_000, pg.major_version() as i32);
    assert!(server.is_superuser && server.can_monitor);
    assert_eq!(server.database, "postgres");
    assert!(server.display_version().starts_with("PostgreSQL "));
    // The target shown in reports never carries the password.
    assert!(!session.target().contains(pg.password()));
}

#[test]
fn unix_socket_connections_ignore_sslmode() {
    let pg = shared_postgres().unwrap();
    let url = format!(
        "host={} port={} user=postgres dbname=postgres sslmode=require",
        pg.socket_dir().display(),
        pg.port()
    );
    assert_eq!(
        query_text(&url, "SELECT current_user::text").unwrap(),
        "postgres"
    );
}

/// The process environment with another home directory.
struct HomeAt(std::path::PathBuf);

impl Environment for HomeAt {
    fn var(&self, name: &str) -> Option<String> {
        ProcessEnvironment.var(name)
    }
    fn home_dir(&self) -> Option<std::path::PathBuf> {
        Some(self.0.clone())
    }
    fn os_user(&self) -> Option<String> {
        ProcessEnvironment.os_user()
    }
    fn is_dir(&self, path: &std::path::Path) -> bool {
        ProcessEnvironment.is_dir(path)
    }
}

fn tls_cluster() -> &'static Postgres {
    static CLUSTER: OnceLock<&'static Postgres> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        Postgres::builder()
            .tls(true)
            .start_for_process()
            .expect("TLS sandbox starts")
    })
}

fn tls_url(pg: &Postgres, host: &str, params: &str) -> String {
    format!(
        "postgres://postgres:{}@{host}:{}/postgres?{params}",
        pg.password(),
        pg.port()
    )
}

const SSL_IN_USE: &str = "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

#[test]
fn sslmode_require_encrypts_without_verifying() {
    let pg = tls_cluster();
    let url = tls_url(pg, "127.0.0.1", "sslmode=require");
    assert_eq!(query_text(&url, SSL_IN_USE).unwrap(), "true");
}

#[test]
fn sslmode_prefer_uses_tls_when_offered_and_disable_does_not() {
    let pg = tls_cluster();
    let prefer = tls_url(pg, "127.0.0.1", "sslmode=prefer");
    assert_eq!(query_text(&prefer, SSL_IN_USE).unwrap(), "true");
    let disable = tls_url(pg, "127.0.0.1", "sslmode=disable");
    assert_eq!(query_text(&disable, SSL_IN_USE).unwrap(), "false");
}

#[test]
fn sslmode_verify_full_checks_the_chain_and_the_host_name() {
    let pg = tls_cluster();
    let ca = pg.ca_cert().unwrap();
    let ca = ca.display();
    for host in ["localhost", "127.0.0.1"] {
        let url = tls_url(pg, host, &format!("sslmode=verify-full&sslrootcert={ca}"));
        assert_eq!(query_text(&url, SSL_IN_USE).unwrap(), "true", "{host}");
    }
    // The certificate names localhost and 127.0.0.1, not ::1 or another name: verify-ca
    // accepts that, verify-full does not.
    let other_name = format!(
        "host=localhost hostaddr=127.0.0.1 port={} user=postgres password={} dbname=postgres sslrootcert={ca}",
        pg.port(),
        pg.password()
    )
    .replace("host=localhost", "host=db.internal");
    let verify_ca = format!("{other_name} sslmode=verify-ca");
    assert_eq!(query_text(&verify_ca, SSL_IN_USE).unwrap(), "true");
    let verify_full = format!("{other_name} sslmode=verify-full");
    let error = connect(&verify_full).err().expect("name mismatch fails");
    assert!(matches!(error, PgError::Tls { .. }), "{error}");
    assert!(error.to_string().contains("TLS to"), "{error}");
}

#[test]
fn sslmode_verify_full_without_a_root_certificate_says_what_to_set() {
    let pg = tls_cluster();
    // An empty home directory: no ~/.postgresql/root.crt to fall back on.
    let home = tempfile::tempdir().unwrap();
    let env = HomeAt(home.path().to_path_buf());
    let url = tls_url(pg, "localhost", "sslmode=verify-full");
    let info = ConnInfo::parse(Some(&url), &env).unwrap();
    let error = runtime()
        .block_on(Session::connect(&info, &SessionOptions::default()))
        .err()
        .expect("no root certificate");
    assert!(error.to_string().contains("sslrootcert"), "{error}");
}

#[test]
fn a_certificate_from_another_authority_is_refused() {
    let pg = tls_cluster();
    // The system's CA store does not know the sandbox's throwaway CA.
    let url = tls_url(pg, "localhost", "sslmode=verify-full&sslrootcert=system");
    match connect(&url) {
        Err(PgError::Tls { reason, .. }) => assert!(!reason.is_empty()),
        Err(other) => panic!("expected a TLS error, got {other}"),
        Ok(_) => panic!("an unknown CA must not be trusted"),
    }
}

#[test]
fn sslmode_require_against_a_server_without_tls_fails_clearly() {
    let pg = shared_postgres().unwrap();
    let url = format!(
        "postgres://postgres:{}@127.0.0.1:{}/postgres?sslmode=require",
        pg.password(),
        pg.port()
    );
    let error = connect(&url).err().expect("no TLS on this server");
    assert!(
        error.to_string().contains("server does not support TLS"),
        "{error}"
    );
}
