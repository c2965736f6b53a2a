//! The embedded default: a throwaway PostgreSQL and Redis with a chat backend whose
//! problems are planted, its traffic sent through an in-process `brisk proxy`, diagnosed,
//! fixed and measured.
//!
//! The database is brisk-sandbox's demo (`brisk check`'s), plus what an application adds:
//! a role `app` whose sessions sort with a small `work_mem` (an old setting copied from a
//! tutorial), and the app's requests. The planted problems and who must find them:
//! - a foreign key without an index, read on every inbox request: check (`fk.unindexed`)
//!   and advise (`advise.index`), one finding;
//! - two identical indexes: check (`index.duplicate`);
//! - the last message of each recent conversation fetched one by one: the proxy's N+1
//!   detector (`proxy.n_plus_one`), and advise from the capture, one finding;
//! - a substring search over message bodies: advise's trigram index (pg_trgm);
//! - the dashboard's total message count, a scan of every message that no index shortens:
//!   the proxy's result cache (`SHOW CACHE CANDIDATES`, the doctor's cache rule);
//! - a daily report (`count(DISTINCT body)` per day) that sorts on disk: tune (`tune.temp-files`, `ALTER ROLE app SET work_mem`);
//! - a Redis cache of JSON without TTLs: redis (`redis.no_ttl`, `redis.compressible`).

use std::path::Path;
use std::time::{Duration, Instant};

use brisk_sandbox::{Postgres, Redis};

use crate::brisk_patterns_view::Detection;
use crate::{Doctor, DoctorError, Options, Progress};

/// The application's role and its password (a throwaway server's).
const APP_ROLE: &str = "app";
const APP_PASSWORD: &str = "app-demo";

/// Page views the app serves through the proxy, and how often the rarer pages come: chosen
/// so each planted problem is seen often enough to be judged (the daily report writes more than
/// the 16 MiB of temp files tune's rule needs in a few calls) and the traffic takes seconds.
const REQUESTS: u32 = 60;
const RECENT_EVERY: u32 = 5;
/// Conversations listed by the "recent" page, each then read one by one: the N+1.
const RECENT_LIMIT: u64 = 10;
const SEARCH_EVERY: u32 = 6;
const DAILY_REPORT_EVERY: u32 = 15;
const DASHBOARD_EVERY: u32 = 10;

const APP_SETUP: &str = "
CREATE ROLE app LOGIN PASSWORD 'app-demo';
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO app;
-- The planted spilling sort: the app's sessions sort in 64 kB.
ALTER ROLE app SET work_mem = '64kB';
";

/// Keys the demo's cache holds: each conversation's messages as JSON, without a TTL and
/// uncompressed, and sessions that do expire (so only the cache pattern is reported).
const REDIS_LOAD: &str = "
for i = 1, 3000 do
  local parts = {}
  for j = 1, 12 do
    parts[j] = '{\"id\":' .. (i * 100 + j) .. ',\"role\":\"assistant\",\"body\":\"Here is the summary of conversation ' .. i .. ' you asked for, part ' .. j .. '.\",\"created_at\":\"2026-11-0' .. (j % 9 + 1) .. 'T10:00:00Z\"}'
  end
  redis.call('SET', 'cache:conversation:' .. i .. ':messages', '[' .. table.concat(parts, ',') .. ']')
end
for i = 1, 500 do
  redis.call('SET', 'session:' .. i, 'user-' .. i, 'EX', 3600)
end
return 1
";

/// The running demo: its servers stop when this is dropped.
pub struct Demo {
    pub postgres: Postgres,
    pub redis: Redis,
    pub database: &'static str,
    /// The proxy's capture of the app's traffic (JSON lines), for `brisk advise --workload`.
    pub capture: String,
}

impl Demo {
    /// The superuser's URL of the demo database.
    pub fn admin_url(&self) -> String {
        self.postgres.url(self.database)
    }

    /// The application role's URL, directly to PostgreSQL.
    pub fn app_url(&self) -> String {
        self.postgres.url_for(APP_ROLE, APP_PASSWORD, self.database)
    }
}

/// Starts PostgreSQL and Redis and loads the chat backend (blocking: run it off the async
/// threads).
pub fn start(progress: Progress<'_>) -> Result<Demo, DoctorError> {
    progress("starting a throwaway PostgreSQL and Redis");
    let redis = std::thread::scope(|scope| {
        let redis = scope.spawn(Redis::start);
        let postgres = Postgres::start();
        (postgres, redis.join())
    });
    let (postgres, redis) = redis;
    let postgres = postgres?;
    let redis = redis.map_err(|_| DoctorError::Proxy("starting Redis panicked".into()))??;
    progress("loading the chat backend (planted problems)");
    let database = brisk_sandbox::demo::load(&postgres)?;
    postgres.psql(database, APP_SETUP)?;
    // The app's traffic, not the loader's, is what the doctor reads. The loader's inserts
    // would read as the app writing 200,000 messages in the last seconds (advise weighs an
    // index's write overhead by the tables' insert counters): the tables the app reads start
    // their counters now, as if loaded long ago, and are analyzed again.
    postgres.psql(
        database,
        "SELECT pg_stat_reset_single_table_counters(c.oid) FROM pg_class c
          WHERE c.relnamespace = 'public'::regnamespace
            AND c.relname IN ('users', 'conversations', 'messages', 'files');
         ANALYZE users, conversations, messages, files;
         SELECT pg_stat_statements_reset();",
    )?;
    redis.cli(&["EVAL", REDIS_LOAD, "0"])?;
    // The load above is the demo's own, not the app's: a slow log that names it would be a
    // finding about brisk.
    redis.cli(&["SLOWLOG", "RESET"])?;
    Ok(Demo {
        postgres,
        redis,
        database,
        capture: String::new(),
    })
}

/// The demo from start to finish: servers, traffic through the proxy, diagnosis, fixes,
/// measurement.
pub async fn run(
    progress: Progress<'_>,
    bench_duration: Duration,
) -> Result<(Doctor, Demo), DoctorError> {
    let started = Instant::now();
    let mut demo = tokio::task::block_in_place(|| start(progress))?;
    let dir = tempfile::tempdir().map_err(DoctorError::io("creating the capture directory"))?;
    let capture = dir.path().join("capture.jsonl");

    progress("sending the app's traffic through brisk proxy");
    let detections = traffic_through_proxy(&demo, &capture).await?;
    let text = std::fs::read_to_string(&capture)
        .map_err(DoctorError::io("reading the proxy's capture"))?;
    let workload = brisk_workload::read_jsonl(text.as_bytes())
        .map_err(|e| DoctorError::Proxy(format!("the capture does not read back: {e}")))?;
    demo.capture = text;

    let mut options = Options::new(demo.admin_url());
    options.redis = Some(demo.redis.url());
    options.redis_is_cache = true;
    options.workload = Some(workload);
    // The sandbox is the safe database; the bench runs as the app, so its role's work_mem
    // applies, and the fixes are built by the owner of the tables.
    options.verify_on = Some(demo.app_url());
    options.apply_as = Some(demo.admin_url());
    options.roll_back_after = false;
    options.bench_duration = bench_duration;
    options.detections = detections;
    let mut doctor = crate::run(&options, progress).await?;
    doctor.demo = true;
    // The demo's Redis is a throwaway one: the fixes that need no change to the app are
    // applied there and measured.
    let used_memory = || {
        let info = demo.redis.cli(&["INFO", "memory"]).ok()?;
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
    };
    doctor.redis_fixes =
        crate::redis_fix::apply_ttls(&demo.redis.url(), &doctor.findings, &used_memory, progress)
            .await?;
    let numbered = doctor.migrations.len() / 2;
    doctor.migrations.extend(crate::render::redis_migrations(
        &doctor.redis_fixes,
        numbered,
    ));
    for f in doctor
        .findings
        .iter()
        .filter(|f| f.check == "redis.compressible")
    {
        doctor.notes.push(format!(
            "Not applied: compressing the values of {} is a change to the application (it must read them back through a decompressing store such as brisk-redis's CacheStore, and the demo's app reads them raw).",
            f.subject
        ));
    }
    doctor.environment.redis = redis_version(&demo.redis);
    doctor.notes.insert(
        0,
        "This is brisk's demo: a throwaway PostgreSQL and Redis with a small chat backend whose problems were planted on purpose, its traffic sent through brisk proxy. Run it on yours with: brisk doctor postgres://user@host:5432/db --redis redis://host:6379 --verify-on postgres://staging...".to_string(),
    );
    doctor.notes.push("The demo's proxy reports an N+1 from 1 ms of repeated statements (production default: 50 ms): the demo's tables are a thousand times smaller than an app's.".to_string());
    doctor.elapsed_secs = started.elapsed().as_secs_f64();
    Ok((doctor, demo))
}

fn redis_version(redis: &Redis) -> Option<String> {
    let info = redis.cli(&["INFO", "server"]).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .map(|v| format!("Redis {}", v.trim()))
}

/// Runs the app's requests through an in-process proxy and returns its N+1 detections.
async fn traffic_through_proxy(demo: &Demo, capture: &Path) -> Result<Vec<Detection>, DoctorError> {
    let config_text = format!(
        "listen_addr = \"127.0.0.1\"\n\
         listen_port = 0\n\
         default_pool_size = 4\n\
         query_stats = true\n\
         n_plus_one_min_repeats = 5\n\
         n_plus_one_min_ms = 1\n\
         log_parameters = true\n\
         capture_file = {capture:?}\n\
         capture_sample = 1.0\n\
         [databases]\n\
         {db} = {upstream:?}\n\
         [users]\n\
         {APP_ROLE} = {APP_PASSWORD:?}\n",
        capture = capture.display().to_string(),
        db = demo.database,
        upstream = demo.app_url(),
    );
    let (proxy, port) = crate::bind_proxy("doctor-demo.toml", &config_text).await?;
    let shared = proxy.shared();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let url = format!(
        "postgres://{APP_ROLE}:{APP_PASSWORD}@127.0.0.1:{port}/{}",
        demo.database
    );
    let app = async move {
        let result = app_requests(&url).await;
        let _ = stop.send(());
        result
    };
    let ((), result) = tokio::join!(
        proxy.run(async {
            let _ = stopped.await;
        }),
        app
    );
    result?;
    let Some(observer) = &shared.observer else {
        return Err(DoctorError::Proxy("the proxy's statistics are off".into()));
    };
    observer.settle(Duration::from_secs(5)).await;
    // The capture's writer flushes after an idle second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    Ok(observer
        .detections()
        .into_iter()
        .map(|d| Detection {
            kind: format!("{:?}", d.kind),
            source: d.source.as_deref().map(str::to_string),
            repeated: d.repeated.to_string(),
            occurrences: d.occurrences,
            executions: d.executions,
            total_ms: d.total.as_secs_f64() * 1000.0,
            max_run: d.max_run,
            suggestion: d.suggestion.clone(),
        })
        .collect())
}

/// The chat app: one client, its requests in a fixed order with values from a fixed
/// sequence, so every run sends the same traffic.
async fn app_requests(url: &str) -> Result<(), DoctorError> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| DoctorError::Proxy(format!("connecting through the proxy: {e}")))?;
    let connection = tokio::spawn(connection);
    // The simple protocol with the values written in, as many ORMs send them: the capture
    // then holds statements that run as they are, which the bench replays.
    let run = |sql: String| {
        let client = &client;
        async move {
            let messages = client
                .simple_query(&sql)
                .await
                .map_err(|e| DoctorError::Proxy(format!("the demo app's request failed: {e}")))?;
            // The first column of each row: the ids the N+1 then looks up one by one.
            Ok::<Vec<String>, DoctorError>(
                messages
                    .into_iter()
                    .filter_map(|m| match m {
                        tokio_postgres::SimpleQueryMessage::Row(row) => {
                            row.get(0).map(str::to_string)
                        }
                        _ => None,
                    })
                    .collect(),
            )
        }
    };
    // A small linear congruential sequence: fixed values, spread over the tables.
    let mut state: u64 = 42;
    let mut next = move |modulo: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % modulo + 1
    };
    // One page view after another, each kind of request in turn, as users would click: only
    // the "recent" page repeats a statement once per row of the statement before it.
    for request in 0..REQUESTS {
        let id = next(5000);
        run(format!("SELECT id, email FROM users WHERE id = {id}")).await?;
        let user = next(5000);
        run(format!(
            "SELECT id, title, updated_at FROM conversations WHERE user_id = {user} ORDER BY updated_at DESC LIMIT 20"
        ))
        .await?;
        run(format!(
            "SELECT filename, size_bytes FROM files WHERE user_id = {user}"
        ))
        .await?;
        if request % RECENT_EVERY == 0 {
            let offset = u64::from(request) * RECENT_LIMIT;
            let recent = run(format!(
                "SELECT id FROM conversations WHERE is_archived = false ORDER BY id DESC LIMIT {RECENT_LIMIT} OFFSET {offset}"
            ))
            .await?;
            for id in recent {
                run(format!(
                    "SELECT role, body, created_at FROM messages WHERE conversation_id = {id} ORDER BY created_at DESC LIMIT 1"
                ))
                .await?;
            }
        }
        if request % SEARCH_EVERY == 0 {
            // Six hex digits: about one body in 200,000 holds them, so the scan reads them all.
            let needle = format!("%{:06x}%", next(0xff_ffff));
            run(format!(
                "SELECT id, conversation_id FROM messages WHERE body LIKE {} LIMIT 20",
                brisk_sql::quote_literal(&needle)
            ))
            .await?;
        }
        if request % DASHBOARD_EVERY == 0 {
            // Counting every row takes milliseconds on any machine: the statement a result
            // cache is for, whatever the indexes.
            run("SELECT count(*) FROM messages".to_string()).await?;
        }
        if request % DAILY_REPORT_EVERY == 0 {
            run("SELECT date_trunc('day', created_at) AS day, count(DISTINCT body) FROM messages GROUP BY 1"
                    .to_string())
                .await?;
        }
    }
    drop(client);
    let _ = connection.await;
    Ok(())
}
