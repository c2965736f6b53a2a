//! Cache rules for a proxy the doctor starts, measured: an in-process `brisk proxy` with its
//! result cache on, in front of the database named as safe; the bench plan through it once,
//! uncached, which fills the proxy's query statistics; `SHOW CACHE CANDIDATES` on its admin
//! console; the cacheable shapes that would save the most time opted in (`CACHE fingerprint
//! TTL`); the same plan again; `SHOW CACHE` for the hits. The shapes the cache refuses are
//! never opted in: the report lists them with the cache's reason.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use brisk_bench::BenchResult;
use serde::Serialize;

use crate::measure::{BenchPlan, Figures};
use crate::{conninfo, DoctorError, Progress};

/// At most this many shapes are opted in: the few that would save the most time carry
/// nearly all of the gain, and every rule is one more thing a person has to review.
pub const MAX_RULES: usize = 3;
/// The TTL of each rule: a minute bounds how stale a result written around brisk can be
/// (writes through brisk invalidate at once), the same as `[cache] default_ttl`.
pub const TTL_SECS: u64 = 60;
/// Only statements whose mean through the proxy is at least this are cached: below it the
/// round trip to the proxy is most of the latency, and a hit saves next to nothing.
pub const MIN_MEAN_MS: f64 = 1.0;

/// A shape opted in, and its statement's figures through the proxy before and after.
#[derive(Debug, Clone, Serialize)]
pub struct CacheRule {
    /// As the proxy prints it (`SHOW QUERIES`, `CACHE`).
    pub fingerprint: String,
    /// Normalized text.
    pub query: String,
    pub ttl_s: u64,
    /// `SHOW CACHE CANDIDATES`' saved_ms over the uncached run (an upper bound).
    pub candidate_saved_ms: f64,
    pub before: Figures,
    pub after: Figures,
    pub hits: u64,
    pub misses: u64,
    /// hits / (hits + misses) over the cached run.
    pub hit_ratio: f64,
}

/// A read shape the cache refuses, with its reason.
#[derive(Debug, Clone, Serialize)]
pub struct RefusedShape {
    pub fingerprint: String,
    pub query: String,
    pub calls: u64,
    pub reason: String,
}

/// The cache step of the doctor: the rules applied, measured, and the refused shapes.
#[derive(Debug, Clone, Serialize)]
pub struct CacheMeasured {
    pub duration_s: f64,
    pub users: usize,
    pub rules: Vec<CacheRule>,
    pub refused: Vec<RefusedShape>,
}

/// One row of an admin command's answer, column name to value (NULL: absent).
type Row = HashMap<String, String>;

fn secret() -> String {
    let random = || {
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    };
    format!("{:016x}{:016x}", random(), random())
}

/// Starts a proxy in front of `safe`, benches `plan` through it uncached, opts in the best
/// cacheable candidates, benches again, and reads the hits. The proxy stops at the end.
pub async fn measure(
    safe: &str,
    plan: &BenchPlan,
    progress: Progress<'_>,
) -> Result<CacheMeasured, DoctorError> {
    let info = conninfo(safe)?;
    let client_password = secret();
    let admin_password = secret();
    let config_text = format!(
        "listen_addr = \"127.0.0.1\"\n\
         listen_port = 0\n\
         default_pool_size = {pool}\n\
         query_stats = true\n\
         admin_users = [\"brisk_doctor_admin\"]\n\
         [cache]\n\
         enabled = true\n\
         [databases]\n\
         {db:?} = {upstream:?}\n\
         [users]\n\
         brisk_doctor = {client_password:?}\n\
         brisk_doctor_admin = {admin_password:?}\n",
        pool = match &plan.plan.load {
            brisk_bench::plan::Load::Closed { users, .. } => users.max() as usize + 1,
            brisk_bench::plan::Load::Open { connections, .. } => *connections + 1,
        },
        db = info.dbname,
        upstream = safe,
    );
    let (proxy, port) = crate::bind_proxy("doctor-cache.toml", &config_text).await?;
    let client_url = format!(
        "postgres://brisk_doctor:{client_password}@127.0.0.1:{port}/{}?sslmode=disable",
        info.dbname
    );
    let admin_url = format!(
        "postgres://brisk_doctor_admin:{admin_password}@127.0.0.1:{port}/brisk?sslmode=disable"
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let work = async move {
        let result = through_proxy(&client_url, &admin_url, plan, progress).await;
        let _ = stop.send(());
        result
    };
    let ((), result) = tokio::join!(
        proxy.run(async {
            let _ = stopped.await;
        }),
        work
    );
    result
}

async fn through_proxy(
    client_url: &str,
    admin_url: &str,
    plan: &BenchPlan,
    progress: Progress<'_>,
) -> Result<CacheMeasured, DoctorError> {
    let info = conninfo(client_url)?;
    let shared_plan = Arc::new(plan.plan.clone());
    progress("cache: the bench through brisk proxy, uncached");
    let before =
        brisk_bench::run::run(shared_plan.clone(), &info, std::future::pending(), |_| {}).await?;

    let candidates = admin(admin_url, "SHOW CACHE CANDIDATES").await?;
    let (rules, refused) = choose(&candidates, &plan.statements);
    for (fingerprint, _, _) in &rules {
        progress(&format!("cache: CACHE {fingerprint} {TTL_SECS}"));
        admin(admin_url, &format!("CACHE {fingerprint} {TTL_SECS}")).await?;
    }
    let mut measured = CacheMeasured {
        duration_s: before.duration_s,
        users: match &plan.plan.load {
            brisk_bench::plan::Load::Closed { users, .. } => users.max() as usize,
            brisk_bench::plan::Load::Open { connections, .. } => *connections,
        },
        rules: Vec::new(),
        refused,
    };
    if rules.is_empty() {
        return Ok(measured);
    }
    progress("cache: the same bench, with the cache rules");
    let after = brisk_bench::run::run(shared_plan, &info, std::future::pending(), |_| {}).await?;
    let shown = admin(admin_url, "SHOW CACHE").await?;
    for (fingerprint, query, saved_ms) in rules {
        let stats = shown
            .iter()
            .find(|r| r.get("fingerprint") == Some(&fingerprint));
        let count = |column: &str| {
            stats
                .and_then(|r| r.get(column))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let (hits, misses) = (count("hits"), count("misses"));
        measured.rules.push(CacheRule {
            before: figures_of(&before, plan, &fingerprint),
            after: figures_of(&after, plan, &fingerprint),
            fingerprint,
            query,
            ttl_s: TTL_SECS,
            candidate_saved_ms: saved_ms,
            hits,
            misses,
            hit_ratio: if hits + misses > 0 {
                hits as f64 / (hits + misses) as f64
            } else {
                0.0
            },
        });
    }
    Ok(measured)
}

/// The bench figures of the operation whose statement has `fingerprint`.
fn figures_of(result: &BenchResult, plan: &BenchPlan, fingerprint: &str) -> Figures {
    plan.plan
        .operations
        .iter()
        .zip(&plan.statements)
        .find(|(_, (_, fp, _))| fp.as_deref() == Some(fingerprint))
        .and_then(|(op, _)| result.operation(&op.name))
        .map(Figures::of)
        .unwrap_or_default()
}

/// The rules to apply, (fingerprint, normalized text, saved_ms), and the refused shapes, from
/// `SHOW CACHE CANDIDATES`' rows (cacheable first, most time saved first). Only shapes of
/// the bench plan are opted in (those are the ones measured), and only those taking
/// [`MIN_MEAN_MS`] or more.
fn choose(
    candidates: &[Row],
    statements: &[(String, Option<String>, f64)],
) -> (Vec<(String, String, f64)>, Vec<RefusedShape>) {
    let mut rules = Vec::new();
    let mut refused = Vec::new();
    for row in candidates {
        let Some(fingerprint) = row.get("fingerprint") else {
            continue;
        };
        let Some((query, _, _)) = statements
            .iter()
            .find(|(_, fp, _)| fp.as_ref() == Some(fingerprint))
        else {
            continue;
        };
        if let Some(reason) = row.get("refused").filter(|r| !r.is_empty()) {
            refused.push(RefusedShape {
                fingerprint: fingerprint.clone(),
                query: query.clone(),
                calls: row.get("calls").and_then(|c| c.parse().ok()).unwrap_or(0),
                reason: reason.clone(),
            });
            continue;
        }
        let number = |column: &str| {
            row.get(column)
                .and_then(|s| s.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        let saved_ms = number("saved_ms");
        if saved_ms > 0.0 && number("mean_ms") >= MIN_MEAN_MS && rules.len() < MAX_RULES {
            rules.push((fingerprint.clone(), query.clone(), saved_ms));
        }
    }
    (rules, refused)
}

/// Runs one admin console command and returns its rows.
async fn admin(url: &str, command: &str) -> Result<Vec<Row>, DoctorError> {
    let failed = |e: tokio_postgres::Error| {
        DoctorError::Proxy(format!("the admin console's {command}: {e}"))
    };
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(failed)?;
    let connection = tokio::spawn(connection);
    let messages = client.simple_query(command).await.map_err(failed)?;
    drop(client);
    let _ = connection.await;
    Ok(messages
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                row.columns()
                    .iter()
                    .enumerate()
                    .filter_map(|(i, c)| row.get(i).map(|v| (c.name().to_string(), v.to_string())))
                    .collect(),
            ),
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&str, &str)]) -> Row {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn refused_shapes_are_never_chosen_and_only_benched_shapes_are() {
        let statements = vec![
            ("SELECT a".to_string(), Some("aaaa".to_string()), 10.0),
            ("SELECT b".to_string(), Some("bbbb".to_string()), 10.0),
            ("SELECT c".to_string(), Some("cccc".to_string()), 10.0),
            ("SELECT d".to_string(), Some("dddd".to_string()), 10.0),
        ];
        let candidates = vec![
            row(&[
                ("fingerprint", "zzzz"),
                ("mean_ms", "9"),
                ("saved_ms", "900.0"),
            ]),
            row(&[
                ("fingerprint", "bbbb"),
                ("mean_ms", "5"),
                ("saved_ms", "50.0"),
            ]),
            row(&[
                ("fingerprint", "cccc"),
                ("mean_ms", "5"),
                ("saved_ms", "0.000"),
            ]),
            // Fast already: a hit would save next to nothing.
            row(&[
                ("fingerprint", "aaaa"),
                ("mean_ms", "0.2"),
                ("saved_ms", "40.0"),
            ]),
            // Refused: never chosen, whatever the figures say.
            row(&[
                ("fingerprint", "dddd"),
                ("calls", "12"),
                ("mean_ms", "50"),
                ("saved_ms", "600.0"),
                ("refused", "function date_trunc is not immutable"),
            ]),
        ];
        let (rules, refused) = choose(&candidates, &statements);
        assert_eq!(
            rules,
            vec![("bbbb".to_string(), "SELECT b".to_string(), 50.0)]
        );
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].fingerprint, "dddd");
        assert_eq!(refused[0].calls, 12);
        assert!(refused[0].reason.contains("immutable"));
    }
}
