//! How `check` and `advise` reach a PostgreSQL: the URL argument (or the demo when there is
//! none), with errors that say what was tried.

use anyhow::Context;
use brisk_pg::conninfo::ConnInfo;
use brisk_pg::{Session, SessionOptions};

use crate::output::Progress;

/// The variables that name a server in libpq; with none of them and no URL, brisk uses its
/// demo.
const SERVER_VARIABLES: [&str; 6] = [
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGDATABASE",
    "PGUSER",
    "PGSERVICE",
];

/// No URL and nothing in the environment that names a server.
pub fn nothing_named(url: Option<&str>) -> bool {
    url.is_none()
        && SERVER_VARIABLES
            .iter()
            .all(|var| std::env::var_os(var).is_none())
}

/// Reads the URL argument (with PG* variables and .pgpass, as psql does), prints its
/// warnings, and connects.
pub async fn connect(
    url: Option<&str>,
    options: &SessionOptions,
    progress_message: impl FnOnce(&ConnInfo) -> String,
) -> anyhow::Result<(ConnInfo, Session, Progress)> {
    let info = ConnInfo::from_env_and_str(url)?;
    for warning in &info.warnings {
        eprintln!("brisk: {warning}");
    }
    let progress = Progress::start(&progress_message(&info));
    let session = Session::connect(&info, options)
        .await
        .map_err(|error| explain_bare_word(url, error.into()))?;
    Ok((info, session, progress))
}

/// A word that is neither a URL nor `key=value` is a database name to libpq (and psql), so
/// `brisk check not-a-url` tried a database of that name on the local socket. When that
/// fails, the error says so, rather than leaving the user to guess why a socket was tried.
fn explain_bare_word(url: Option<&str>, error: anyhow::Error) -> anyhow::Error {
    match url {
        Some(word) if is_bare_word(word) => anyhow::anyhow!(
            "{error:#}. brisk read {word:?} as the name of a database on this machine, as psql does; to name a server, give a URL such as postgres://user@host:5432/dbname"
        ),
        _ => error,
    }
}

fn is_bare_word(url: &str) -> bool {
    !url.contains("://") && !url.contains('=')
}

/// A throwaway PostgreSQL with the demo database loaded: the server (stopped when dropped)
/// and the URL of the database.
pub async fn start_demo(progress: &Progress) -> anyhow::Result<(brisk_sandbox::Postgres, String)> {
    progress.step("starting a throwaway PostgreSQL");
    let pg = tokio::task::spawn_blocking(brisk_sandbox::Postgres::start)
        .await
        .context("starting the demo server")??;
    progress.step("loading the demo database (a chat backend with planted problems)");
    let loaded =
        tokio::task::spawn_blocking(move || brisk_sandbox::demo::load(&pg).map(|db| (pg, db)))
            .await
            .context("loading the demo database")?;
    let (pg, database) = loaded?;
    let url = pg.url(database);
    Ok((pg, url))
}

/// Stops the demo server off the async threads (stopping waits for the process).
pub async fn stop_demo(pg: brisk_sandbox::Postgres) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || drop(pg)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::is_bare_word;

    #[test]
    fn only_words_that_are_neither_urls_nor_key_values_are_database_names() {
        assert!(is_bare_word("not-a-url"));
        assert!(is_bare_word("app"));
        assert!(!is_bare_word("postgres://h/app"));
        assert!(!is_bare_word("postgresql://h/app"));
        assert!(!is_bare_word("host=h dbname=app"));
    }
}
