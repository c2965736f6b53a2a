//! The runner: connects, prepares, drives the load the plan describes, and records.
//!
//! Open model: each connection is a worker with its own share of the arrivals (for a
//! constant rate, every `connections`-th of the evenly spaced starts; for Poisson, a Poisson
//! stream of `rate / connections`, and independent Poisson streams add up to one of `rate`).
//! A worker sleeps until its next arrival's intended start; when it is still busy at that
//! moment, the operation starts late and the wait is schedule lag. Latency is measured from
//! the intended start, so a stall counts for every operation it delays (no coordinated
//! omission), while service time (sent to done) shows only the server's part. This is
//! pgbench `-R`'s model, and wrk2's.
//!
//! Closed model: each virtual user has its own connection and runs one operation after
//! another, `think_time` apart; latency and service time are then the same thing.
//!
//! The schedule is absolute: a late worker catches up back-to-back and never skips an
//! arrival. Arrivals due before the end that never started are counted (`not_started`).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use brisk_pg::conninfo::ConnInfo;
use brisk_pg::{Session, SessionOptions};
use bytes::BytesMut;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_postgres::types::{Format, IsNull, ToSql, Type};

use crate::connection::SqlConnection;
use crate::database;
use crate::expr::Value;
use crate::http::{HttpClient, HttpOutcome};
use crate::plan::{Arrival, Load, OperationKind, Plan, Protocol};
use crate::random::Prng;
use crate::record::{Outcome, Recorder, Timing};
use crate::result::{BenchResult, GeneratorInfo, ModelInfo, OperationTotals, SegmentInfo, SCHEMA};
use crate::script::Step;
use crate::timer::Sleepers;
use crate::BenchError;

/// How long in-flight operations may take to finish after the end before they are
/// abandoned (and left out of the result): long enough for any OLTP statement, short
/// enough that a hung one does not hold the report.
const DRAIN_AFTER_END: Duration = Duration::from_secs(10);
/// The same after Ctrl-C: the user asked to stop.
const DRAIN_AFTER_INTERRUPT: Duration = Duration::from_secs(2);
/// Schedule lag p99 above this, growing three seconds in a row, gets a warning. tokio's
/// timer has a 1 ms resolution, so a few ms of lag is the generator's normal jitter.
const LAG_WARNING_MS: f64 = 10.0;
/// CPU above this share of the runtime's threads for three seconds means the generator,
/// not the server, may be the bottleneck.
const CPU_SATURATION_SHARE: f64 = 0.9;
/// SQLSTATE class 08 (connection exception), connection_failure: errors without a SQLSTATE
/// are a lost or broken connection.
pub(crate) const CONNECTION_FAILURE: &str = "08006";
/// Not a SQLSTATE: an error in the script itself (`\set` division by zero, an empty range).
const SCRIPT_ERROR: &str = "script";

/// What the caller sees each second.
pub struct Tick<'a> {
    pub row: &'a crate::result::SecondResult,
    /// Warnings raised during this second.
    pub warnings: &'a [String],
}

/// Runs `plan` against `info`. `interrupt` resolving (Ctrl-C) stops the run early; the
/// result then says `interrupted` and holds what was measured. `on_second` is called after
/// each second with that second's row.
pub async fn run(
    plan: Arc<Plan>,
    info: &ConnInfo,
    interrupt: impl Future<Output = ()>,
    on_second: impl FnMut(Tick<'_>),
) -> Result<BenchResult, BenchError> {
    run_with(plan, Some(info), interrupt, on_second).await
}

/// [`run`] where the database is optional: a plan with only HTTP operations runs without
/// one. Given one anyway, its pg_stat_statements is read before and after, so the report
/// says which statements the HTTP load cost the database.
pub async fn run_with(
    plan: Arc<Plan>,
    info: Option<&ConnInfo>,
    interrupt: impl Future<Output = ()>,
    on_second: impl FnMut(Tick<'_>),
) -> Result<BenchResult, BenchError> {
    run_watched(plan, info, &RunOptions::default(), interrupt, on_second).await
}

/// What a run may be given besides its plan and database.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// `brisk proxy`'s admin console, watched around the run ([`crate::proxy`]).
    pub proxy_admin: Option<ConnInfo>,
    /// A PEM file of CA certificates trusted for `https` besides the system's.
    pub http_ca: Option<std::path::PathBuf>,
}

/// [`run_with`] with [`RunOptions`]: watching `brisk proxy`'s admin console as well (its
/// per-fingerprint statistics and pools before, during and after the run; an unreachable
/// console fails before the run), and trusting a CA for `https`.
pub async fn run_watched(
    plan: Arc<Plan>,
    info: Option<&ConnInfo>,
    run_options: &RunOptions,
    interrupt: impl Future<Output = ()>,
    mut on_second: impl FnMut(Tick<'_>),
) -> Result<BenchResult, BenchError> {
    plan.validate()?;
    let options = SessionOptions {
        read_only: false,
        ..SessionOptions::default()
    };
    let sends_sql = plan.sends_sql();
    let mut targets = Vec::new();
    // One connection first: an unreachable server fails here, at once and alone.
    let first = if sends_sql || plan.reads_queries() {
        let info = info.ok_or_else(|| {
            BenchError::Argument(
                "the operations send SQL or read a parameter's query: give a database URL".into(),
            )
        })?;
        let first = Session::connect(info, &options)
            .await
            .map_err(BenchError::Connect)?;
        resolve_query_params(&plan, &first).await?;
        if sends_sql {
            targets.push(first.target().to_string());
        }
        Some(first)
    } else {
        None
    };
    let origins = plan.http_origins();
    let http = if origins.is_empty() {
        None
    } else {
        let pool_size = match &plan.load {
            Load::Open { connections, .. } => *connections,
            Load::Closed { users, .. } => plan.segment.users(users.max()),
        };
        let https = origins.iter().any(|o| o.starts_with("https:"));
        let client = HttpClient::new(pool_size, https, run_options.http_ca.as_deref())?;
        // Each origin once, before the clock: an unreachable one fails here with one line.
        for origin in &origins {
            client.check(origin).await?;
        }
        targets.extend(origins.iter().cloned());
        Some(client)
    };
    let target = targets.join(", ");

    let threads = tokio::runtime::Handle::current().metrics().num_workers();
    let names: Vec<String> = plan.operations.iter().map(|o| o.name.clone()).collect();
    let recorder = Arc::new(Recorder::new(&names, plan.segment.count > 1));
    let duration = plan.load.duration();
    let (halt_tx, halt_rx) = watch::channel(false);

    // The workers' connections are brisk's own protocol client (crate::connection); the
    // first session has shown the server is there.
    drop(first);
    let worker_info = info.filter(|_| sends_sql).cloned();
    // Open model: every connection is made and prepared before the clock starts.
    let mut open_workers = Vec::new();
    if let Load::Open { connections, .. } = &plan.load {
        let mut connecting = JoinSet::new();
        for index in 0..*connections {
            let (plan, info) = (plan.clone(), worker_info.clone());
            let http = http.clone();
            connecting.spawn(async move {
                let conn = connect_worker(info.as_ref()).await?;
                Worker::new(conn, http, &plan, index).await
            });
        }
        while let Some(joined) = connecting.join_next().await {
            let worker = joined.map_err(|e| BenchError::Internal(e.to_string()))??;
            open_workers.push(worker);
        }
        open_workers.sort_by_key(|w| w.index);
    } else if worker_info.is_some() {
        // Users connect as they join; preparing once here finds a statement the server
        // refuses before the run instead of as silent users.
        let conn = connect_worker(worker_info.as_ref()).await?;
        drop(Worker::new(conn, None, &plan, 0).await?);
    }

    // pg_stat_statements before and after, on a connection of its own with brisk's
    // read-only settings; a server without it still gets its load test, and a run without
    // a database has no such section.
    let monitor = match info {
        Some(info) => Some(Session::connect(info, &SessionOptions::default()).await),
        None => None,
    };
    let before = match &monitor {
        Some(Ok(monitor)) => database::before(monitor).await,
        Some(Err(e)) => database::Before::Unavailable(e.to_string()),
        None => database::Before::Unavailable(String::new()),
    };
    let proxy_watch = match &run_options.proxy_admin {
        Some(admin) => Some(crate::proxy::watch(admin).await?),
        None => None,
    };

    let started_unix_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let cpu_start = cpu_time();
    let start = Instant::now();
    let clock = Clock {
        start,
        end: start + duration,
    };
    let mut workers = JoinSet::new();
    match &plan.load {
        Load::Open { .. } => {
            // Without a timerfd (not Linux, or out of descriptors) the run goes on with
            // tokio's timer.
            let sleepers = if plan.precise_timer {
                Sleepers::new().ok().map(Arc::new)
            } else {
                None
            };
            for worker in open_workers {
                workers.spawn(open_worker(
                    plan.clone(),
                    worker,
                    sleepers.clone(),
                    recorder.clone(),
                    clock,
                    halt_rx.clone(),
                ));
            }
        }
        Load::Closed { users, .. } => {
            let most = plan.segment.users(users.max());
            for user in 0..most {
                workers.spawn(closed_user(
                    plan.clone(),
                    UserConnections {
                        info: worker_info.clone(),
                        http: http.clone(),
                    },
                    user,
                    recorder.clone(),
                    clock,
                    halt_rx.clone(),
                ));
            }
        }
    }

    let mut interval = tokio::time::interval_at(
        tokio::time::Instant::from_std(start + Duration::from_secs(1)),
        Duration::from_secs(1),
    );
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(interrupt);
    let mut second = 0u32;
    let mut last_cpu = cpu_start;
    let mut last_tick = start;
    let mut watch = Watch::default();
    let mut warnings: Vec<String> = Vec::new();
    let mut not_started = 0u64;
    let mut interrupted = false;
    let mut aborted = false;
    let mut halted_at: Option<Instant> = None;
    let mut drain_deadline: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if halted_at.is_none() && now >= clock.end {
            halted_at = Some(clock.end);
            drain_deadline = Some(now + DRAIN_AFTER_END);
            // Wakes closed users in their think time.
            let _ = halt_tx.send(true);
        }
        let deadline = drain_deadline.unwrap_or(clock.end + Duration::from_secs(3600));
        tokio::select! {
            _ = interval.tick(), if halted_at.is_none() => {
                second += 1;
                let now = Instant::now();
                let cpu = cpu_time();
                let wall = now.duration_since(last_tick).as_secs_f64();
                let cpu_pct = if wall > 0.0 { (cpu - last_cpu).total() / wall * 100.0 } else { 0.0 };
                let target = target_at(&plan, f64::from(second) - 0.5);
                let row = recorder.roll(second, 1.0, target, cpu_pct);
                let new = watch.look(&row, threads, matches!(plan.load, Load::Open { .. }));
                warnings.extend(new.iter().cloned());
                on_second(Tick { row: &row, warnings: &new });
                last_cpu = cpu;
                last_tick = now;
                if plan.abort_on_fail
                    && now.duration_since(start) >= plan.abort_grace
                    && fails_so_far(&plan, &recorder, now.duration_since(start).as_secs_f64())
                {
                    aborted = true;
                    halted_at = Some(now);
                    drain_deadline = Some(now + DRAIN_AFTER_INTERRUPT);
                    let _ = halt_tx.send(true);
                }
            }
            joined = workers.join_next() => {
                match joined {
                    Some(Ok(missed)) => not_started += missed,
                    Some(Err(e)) if e.is_panic() => return Err(BenchError::Internal(format!("a worker panicked: {e}"))),
                    Some(Err(_)) => {}
                    None => break,
                }
            }
            _ = &mut interrupt, if !interrupted => {
                interrupted = true;
                let now = Instant::now();
                halted_at.get_or_insert(now);
                drain_deadline = Some(now + DRAIN_AFTER_INTERRUPT);
                let _ = halt_tx.send(true);
            }
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)) => {
                if drain_deadline.is_some() {
                    let running = workers.len();
                    workers.abort_all();
                    while workers.join_next().await.is_some() {}
                    warnings.push(format!(
                        "{running} operation(s) were still running when the run ended and are not counted"
                    ));
                    break;
                }
            }
            // Wakes the loop at the end, so the drain deadline starts on time.
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(clock.end)), if halted_at.is_none() => {}
        }
    }
    let halted_at = halted_at.unwrap_or(clock.end).min(clock.end);
    let duration_s = halted_at.duration_since(start).as_secs_f64();
    // The last, partial window: what finished after the last tick.
    let last_window = (Instant::now().duration_since(last_tick).as_secs_f64())
        .min((duration_s - f64::from(second)).max(0.0));
    let cpu = cpu_time();
    let wall = Instant::now().duration_since(last_tick).as_secs_f64();
    let cpu_pct = if wall > 0.0 {
        (cpu - last_cpu).total() / wall * 100.0
    } else {
        0.0
    };
    let row = recorder.roll(
        second + 1,
        last_window.max(0.0),
        target_at(&plan, f64::from(second) + last_window / 2.0),
        cpu_pct,
    );
    if row.count + row.errors > 0 && last_window > 0.0 {
        let new = watch.look(&row, threads, matches!(plan.load, Load::Open { .. }));
        warnings.extend(new.iter().cloned());
        on_second(Tick {
            row: &row,
            warnings: &new,
        });
    }
    // The proxy first: the database's reading goes through it when the load does.
    let mut proxy = match proxy_watch {
        Some(watch) => Some(watch.finish().await),
        None => None,
    };
    let database = match &monitor {
        Some(Ok(monitor)) => Some(database::after(monitor, before).await),
        Some(Err(_)) => Some(database::after_unavailable(before)),
        None => None,
    };
    if let (Some(proxy), Some(database)) = (&mut proxy, &database) {
        proxy.match_database(database);
    }
    let (totals, mut seconds) = (recorder.totals(), recorder.take_seconds());
    if seconds
        .last()
        .is_some_and(|r| r.count + r.errors == 0 && r.duration_s < 0.5)
    {
        seconds.pop();
    }

    let mut overall = OperationTotals::default();
    for (_, t) in &totals {
        overall.add(t);
    }
    let overall = overall.summarize("all", duration_s);
    let finished = (overall.count + overall.errors) as f64;
    let cpu_used = cpu - cpu_start;
    let model = model_info(&plan);
    if let Some(target) = model.target_rate {
        if !interrupted && !aborted && target > 0.0 && overall.rate < target * 0.99 {
            warnings.push(format!(
                "achieved {:.1} operations/s of the {:.1}/s planned: the server or the connections could not keep up",
                overall.rate, target
            ));
        }
    }
    // A handful of late Poisson arrivals at the very end is normal; a tenth of a percent
    // is a pattern worth a warning (the count is in the result either way).
    if not_started as f64 > 0.001 * finished.max(1.0) {
        warnings.push(format!(
            "{not_started} operation(s) due before the end never started: every connection was busy (try more --connections)"
        ));
    }
    let mut result = BenchResult {
        schema: SCHEMA.to_string(),
        brisk_version: env!("CARGO_PKG_VERSION").to_string(),
        started_unix_ms,
        target,
        model,
        // The SQL protocol means nothing to a run that sends no SQL.
        protocol: if sends_sql {
            plan.protocol.name().to_string()
        } else {
            "http".to_string()
        },
        seed: plan.seed,
        segments: vec![SegmentInfo {
            index: plan.segment.index,
            count: plan.segment.count,
        }],
        planned_duration_s: duration.as_secs_f64(),
        duration_s,
        interrupted,
        aborted_by_threshold: aborted,
        not_started,
        generator: cpu_used.generator(finished, &seconds, threads, warnings),
        operations: totals
            .iter()
            .map(|(name, t)| t.summarize(name, duration_s))
            .collect(),
        overall,
        seconds,
        thresholds: Vec::new(),
        database,
        proxy,
    };
    result.judge(&plan.thresholds);
    Ok(result)
}

#[derive(Debug, Clone, Copy)]
struct Clock {
    start: Instant,
    end: Instant,
}

fn model_info(plan: &Plan) -> ModelInfo {
    match &plan.load {
        Load::Open {
            arrival,
            rate,
            connections,
        } => {
            let rate = rate.scaled(plan.segment.fraction());
            let planned = rate.total() / rate.duration().as_secs_f64().max(1e-9);
            ModelInfo {
                kind: "open".into(),
                arrival: Some(arrival.name().into()),
                connections: Some(*connections),
                target_rate: Some(planned),
                users: None,
                think_time_ms: None,
            }
        }
        Load::Closed { users, think_time } => ModelInfo {
            kind: "closed".into(),
            arrival: None,
            connections: Some(plan.segment.users(users.max())),
            target_rate: None,
            users: Some(plan.segment.users(users.max()) as f64),
            think_time_ms: Some(think_time.as_secs_f64() * 1000.0),
        },
    }
}

/// The planned rate or users `t` seconds in, for this segment.
fn target_at(plan: &Plan, t: f64) -> f64 {
    match &plan.load {
        Load::Open { rate, .. } => rate.at(t) * plan.segment.fraction(),
        Load::Closed { users, .. } => plan.segment.users(users.at(t)) as f64,
    }
}

/// Whether a threshold that can be judged mid-run already fails on the totals so far.
fn fails_so_far(plan: &Plan, recorder: &Recorder, elapsed_s: f64) -> bool {
    let totals = recorder.totals();
    let mut overall = OperationTotals::default();
    for (_, t) in &totals {
        overall.add(t);
    }
    plan.thresholds
        .iter()
        .filter(|t| !t.is_whole_run())
        .any(|t| {
            let on = match &t.operation {
                Some(name) => totals.iter().find(|(n, _)| n == name).map(|(_, t)| t),
                None => Some(&overall),
            };
            on.is_some_and(|totals| !t.judge(&totals.summarize("", elapsed_s)).passed)
        })
}

/// Reads the values of query parameters once, on the first connection.
async fn resolve_query_params(plan: &Plan, session: &Session) -> Result<(), BenchError> {
    for op in &plan.operations {
        let OperationKind::Sql(script) = &op.kind;
        for step in &script.steps {
            let Step::Draw { param, .. } = step else {
                continue;
            };
            let Some(sql) = param.unresolved_query() else {
                continue;
            };
            let messages =
                session
                    .client()
                    .simple_query(sql)
                    .await
                    .map_err(|e| BenchError::Statement {
                        operation: format!("parameter {}", param.name),
                        line: 0,
                        message: db_message(&e),
                    })?;
            let values: Vec<Value> = messages
                .iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(row) => {
                        row.get(0).map(|v| Value::Text(v.into()))
                    }
                    _ => None,
                })
                .collect();
            if values.is_empty() {
                return Err(BenchError::Statement {
                    operation: format!("parameter {}", param.name),
                    line: 0,
                    message: "its query returned no rows to pick values from".into(),
                });
            }
            param.resolved(values);
        }
    }
    Ok(())
}

pub(crate) fn db_message(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => db.message().to_string(),
        None => {
            let mut text = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                text.push_str(": ");
                text.push_str(&cause.to_string());
                source = cause.source();
            }
            text
        }
    }
}

/// A parameter sent as text with the type left to the server, as pgbench and psql do, so a
/// `\set` integer binds to an `int4`, a `numeric` or a `text` parameter alike.
pub(crate) struct TextParam<'a>(pub(crate) &'a str);

impl std::fmt::Debug for TextParam<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl ToSql for TextParam<'_> {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn to_sql_checked(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        self.to_sql(ty, out)
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }
}

/// One connection and the state of the scripts run on it.
struct Worker {
    /// The worker's number: pgbench's `client_id`.
    index: usize,
    /// The database connection, when the operations send SQL.
    conn: Option<SqlConnection>,
    /// The run's shared HTTP pool, when they send HTTP requests.
    http: Option<HttpClient>,
    /// Per operation, per SQL step: the prepared statement's name (prepared protocol only).
    prepared: Vec<Vec<String>>,
    /// Per operation: the script's variables, kept between runs as pgbench keeps them per
    /// client.
    vars: Vec<Vec<Value>>,
    /// Per operation: the slots drawn from parameters' values (quoted under `simple`).
    literals: Vec<Vec<bool>>,
    rng: Prng,
    cumulative: Vec<f64>,
    text: String,
}

impl Worker {
    async fn new(
        mut conn: Option<SqlConnection>,
        http: Option<HttpClient>,
        plan: &Plan,
        index: usize,
    ) -> Result<Worker, BenchError> {
        let mut prepared = Vec::with_capacity(plan.operations.len());
        let mut vars = Vec::with_capacity(plan.operations.len());
        let mut literals = Vec::with_capacity(plan.operations.len());
        for (op_index, op) in plan.operations.iter().enumerate() {
            let OperationKind::Sql(script) = &op.kind;
            let mut statements = Vec::new();
            if let (Protocol::Prepared, Some(conn)) = (plan.protocol, &mut conn) {
                for (step, sql) in script.sql_steps().enumerate() {
                    let name = format!("brisk_{op_index}_{step}");
                    conn.prepare(&name, &sql.prepared_text).await.map_err(|e| {
                        BenchError::Statement {
                            operation: op.name.clone(),
                            line: sql.line,
                            message: e.message,
                        }
                    })?;
                    statements.push(name);
                }
            }
            prepared.push(statements);
            let mut values = script.initial.clone();
            if let Some(slot) = script.vars.slot("client_id") {
                values[slot] = Value::Int(index as i64);
            }
            if let Some(slot) = script.vars.slot("random_seed") {
                values[slot] = Value::Int(plan.seed as i64);
            }
            vars.push(values);
            literals.push(script.drawn_slots());
        }
        // Each worker draws its own stream; segments differ so n machines do not repeat
        // each other.
        let seed = plan
            .seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(u64::from(plan.segment.index) << 32)
            .wrapping_add(index as u64);
        Ok(Worker {
            index,
            conn,
            http,
            prepared,
            vars,
            literals,
            rng: Prng::seeded(seed),
            cumulative: plan.cumulative_weights(),
            text: String::new(),
        })
    }

    /// Runs operation `index` once.
    async fn execute(&mut self, plan: &Plan, index: usize) -> Outcome {
        let OperationKind::Sql(script) = &plan.operations[index].kind;
        let vars = &mut self.vars[index];
        let mut sql_index = 0;
        for step in &script.steps {
            match step {
                Step::Set { slot, expr, line } => match expr.eval(vars, &mut self.rng) {
                    Ok(value) => vars[*slot] = value,
                    Err(message) => {
                        return Outcome::Failed {
                            code: SCRIPT_ERROR.into(),
                            message: format!("line {line}: {message}"),
                        }
                    }
                },
                Step::Draw { slot, param } => match param.draw(&mut self.rng) {
                    Ok(value) => vars[*slot] = value,
                    Err(message) => {
                        return Outcome::Failed {
                            code: SCRIPT_ERROR.into(),
                            message,
                        }
                    }
                },
                Step::DrawRow { slots, rows } => {
                    let last = rows.len() as i64 - 1;
                    if let Some(row) = usize::try_from(self.rng.uniform(0, last.max(0)))
                        .ok()
                        .and_then(|i| rows.get(i))
                    {
                        for (slot, value) in slots.iter().zip(row) {
                            vars[*slot] = value.clone();
                        }
                    }
                }
                Step::Sleep { amount, unit } => {
                    let amount = amount
                        .eval(vars, &mut self.rng)
                        .and_then(|v| v.as_int())
                        .unwrap_or(0)
                        .max(0);
                    tokio::time::sleep(*unit * u32::try_from(amount).unwrap_or(u32::MAX)).await;
                }
                Step::Http(step) => {
                    let Some(http) = &self.http else {
                        return Outcome::Failed {
                            code: SCRIPT_ERROR.into(),
                            message: "no HTTP client was set up for this run".into(),
                        };
                    };
                    if let HttpOutcome::Failed { code, message } =
                        http.execute(step, vars, &mut self.text).await
                    {
                        return Outcome::Failed { code, message };
                    }
                }
                Step::Sql(sql) => {
                    let Some(conn) = &mut self.conn else {
                        return Outcome::Failed {
                            code: SCRIPT_ERROR.into(),
                            message: "no database connection was set up for this run".into(),
                        };
                    };
                    let params = || {
                        sql.params
                            .iter()
                            .map(|slot| vars.get(*slot).unwrap_or(&ZERO))
                    };
                    let result = match plan.protocol {
                        Protocol::Prepared => match self.prepared[index].get(sql_index) {
                            Some(name) => conn.execute_prepared(name, params()).await,
                            None => Ok(()),
                        },
                        Protocol::Extended => {
                            conn.execute_unnamed(&sql.prepared_text, params()).await
                        }
                        Protocol::Simple => {
                            sql.render(vars, &self.literals[index], &mut self.text);
                            conn.simple(&self.text).await
                        }
                    };
                    sql_index += 1;
                    if let Err(error) = result {
                        // A failed statement inside the script's transaction leaves it
                        // aborted; end it so the next run starts clean.
                        if script.statement_count() > 1 && !conn.is_broken() {
                            let _ = conn.simple("ROLLBACK").await;
                        }
                        return Outcome::Failed {
                            code: error.code,
                            message: error.message,
                        };
                    }
                }
            }
        }
        Outcome::Ok
    }

    fn pick(&mut self, plan: &Plan) -> usize {
        plan.pick(&self.cumulative, &mut self.rng)
    }
}

/// A variable no step has set yet (pgbench's are 0 as well).
static ZERO: Value = Value::Int(0);

/// A worker's database connection, when the operations send SQL (`info` is then given).
async fn connect_worker(info: Option<&ConnInfo>) -> Result<Option<SqlConnection>, BenchError> {
    match info {
        Some(info) => SqlConnection::connect(info)
            .await
            .map(Some)
            .map_err(BenchError::Connection),
        None => Ok(None),
    }
}

/// One connection of the open model; returns how many of its arrivals never started.
async fn open_worker(
    plan: Arc<Plan>,
    mut worker: Worker,
    sleepers: Option<Arc<Sleepers>>,
    recorder: Arc<Recorder>,
    clock: Clock,
    mut halt: watch::Receiver<bool>,
) -> u64 {
    let Load::Open {
        arrival,
        rate,
        connections,
    } = &plan.load
    else {
        return 0;
    };
    let index = worker.index;
    let profile = rate.scaled(plan.segment.fraction());
    let share = *connections as f64;
    // Segments of a constant rate are shifted by a fraction of a gap, so n machines
    // interleave their starts instead of sending them together.
    let phase = f64::from(plan.segment.index - 1) / f64::from(plan.segment.count);
    let mut count = match arrival {
        Arrival::Constant => index as f64 + phase,
        Arrival::Poisson => share * worker.rng.exp1(),
    };
    let advance = |count: &mut f64, rng: &mut Prng| {
        *count += match arrival {
            Arrival::Constant => share,
            Arrival::Poisson => share * rng.exp1(),
        }
    };
    let mut not_started = 0;
    while let Some(t) = profile.time_of(count) {
        let intended = clock.start + Duration::from_secs_f64(t);
        let now = Instant::now();
        if *halt.borrow() || now >= clock.end {
            // Everything due before now (or the end) was missed.
            let cutoff = now.min(clock.end);
            let mut due = intended;
            while due < cutoff {
                not_started += 1;
                advance(&mut count, &mut worker.rng);
                match profile.time_of(count) {
                    Some(t) => due = clock.start + Duration::from_secs_f64(t),
                    None => break,
                }
            }
            break;
        }
        advance(&mut count, &mut worker.rng);
        if intended > now {
            tokio::select! {
                _ = sleep_until(sleepers.as_deref(), intended) => {}
                _ = halt.changed() => continue,
            }
        }
        let started = Instant::now();
        let op = worker.pick(&plan);
        let outcome = worker.execute(&plan, op).await;
        let done = Instant::now();
        recorder.record(
            op,
            Timing {
                intended,
                started,
                done,
            },
            outcome,
        );
        // Awake anyway: start the other connections whose starts are due, as pgbench's
        // loop does, instead of a wake-up each.
        if let Some(sleepers) = &sleepers {
            sleepers.wake_due();
        }
    }
    not_started
}

/// Waits until `deadline`: on the run's timerfd when there is one (ending up to
/// `timer::SLACK` after it), else on tokio's timer (1 ms ticks; see `Plan::precise_timer`).
async fn sleep_until(timer: Option<&Sleepers>, deadline: Instant) {
    let tokio_sleep = || tokio::time::sleep_until(tokio::time::Instant::from_std(deadline));
    match timer {
        Some(timer) => {
            if timer.sleep_until(deadline).await.is_err() {
                // A timerfd that fails once is not trusted again for this wait.
                tokio_sleep().await;
            }
        }
        None => tokio_sleep().await,
    }
}

/// One virtual user of the closed model: active while the users profile counts it in.
/// What a virtual user connects to: the database when the operations send SQL, the
/// shared HTTP pool when they send requests.
struct UserConnections {
    info: Option<ConnInfo>,
    http: Option<HttpClient>,
}

async fn closed_user(
    plan: Arc<Plan>,
    connections: UserConnections,
    user: usize,
    recorder: Arc<Recorder>,
    clock: Clock,
    mut halt: watch::Receiver<bool>,
) -> u64 {
    let Load::Closed { users, think_time } = &plan.load else {
        return 0;
    };
    // Idle users look again this often: fine enough for ramps measured in seconds.
    let idle_poll = Duration::from_millis(100);
    let mut worker: Option<Worker> = None;
    loop {
        let now = Instant::now();
        if *halt.borrow() || now >= clock.end {
            return 0;
        }
        let t = now.duration_since(clock.start).as_secs_f64();
        let active = user < plan.segment.users(users.at(t));
        let pause = if !active {
            worker = None;
            idle_poll
        } else {
            if worker.is_none() {
                let http = connections.http.clone();
                match connect_worker(connections.info.as_ref()).await {
                    Ok(conn) => match Worker::new(conn, http, &plan, user).await {
                        Ok(w) => worker = Some(w),
                        Err(_) => return 0,
                    },
                    Err(_) => {
                        // Counted against the first operation, so a refused connection
                        // shows in the error rate rather than as silence.
                        let now = Instant::now();
                        recorder.record(
                            0,
                            Timing {
                                intended: now,
                                started: now,
                                done: now,
                            },
                            Outcome::Failed {
                                code: CONNECTION_FAILURE.into(),
                                message: "could not connect".into(),
                            },
                        );
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                            _ = halt.changed() => {}
                        }
                        continue;
                    }
                }
            }
            let Some(w) = worker.as_mut() else { continue };
            let started = Instant::now();
            let op = w.pick(&plan);
            let outcome = w.execute(&plan, op).await;
            let done = Instant::now();
            recorder.record(
                op,
                Timing {
                    intended: started,
                    started,
                    done,
                },
                outcome,
            );
            *think_time
        };
        if !pause.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = halt.changed() => {}
            }
        }
    }
}

/// Watches the series for signs that the generator, not the server, limits the numbers.
#[derive(Default)]
struct Watch {
    lag_rising: u32,
    last_lag: f64,
    lag_warned: bool,
    cpu_high: u32,
    cpu_warned: bool,
}

impl Watch {
    fn look(
        &mut self,
        row: &crate::result::SecondResult,
        threads: usize,
        open: bool,
    ) -> Vec<String> {
        let mut warnings = Vec::new();
        if open {
            if row.lag_p99_ms > LAG_WARNING_MS && row.lag_p99_ms > self.last_lag {
                self.lag_rising += 1;
            } else {
                self.lag_rising = 0;
            }
            self.last_lag = row.lag_p99_ms;
            if self.lag_rising >= 3 && !self.lag_warned {
                self.lag_warned = true;
                warnings.push(format!(
                    "schedule lag is growing (p99 {:.1} ms in second {}): operations start late because every connection is busy or brisk cannot keep up; latency from the intended start still counts the wait",
                    row.lag_p99_ms, row.second
                ));
            }
        }
        if row.cpu_pct >= CPU_SATURATION_SHARE * 100.0 * threads.max(1) as f64 {
            self.cpu_high += 1;
        } else {
            self.cpu_high = 0;
        }
        if self.cpu_high >= 3 && !self.cpu_warned {
            self.cpu_warned = true;
            warnings.push(format!(
                "brisk's load generator is saturated ({:.0}% CPU on {threads} thread(s) in second {}): the numbers may describe brisk, not the server",
                row.cpu_pct, row.second
            ));
        }
        warnings
    }
}

/// CPU time of this process.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CpuTime {
    pub(crate) user: f64,
    pub(crate) system: f64,
}

impl CpuTime {
    /// What the generator cost over a run of `finished` operations, with its busiest second.
    pub(crate) fn generator(
        self,
        finished: f64,
        seconds: &[crate::result::SecondResult],
        threads: usize,
        warnings: Vec<String>,
    ) -> GeneratorInfo {
        GeneratorInfo {
            cpu_user_s: self.user,
            cpu_system_s: self.system,
            cpu_us_per_op: if finished > 0.0 {
                self.total() * 1e6 / finished
            } else {
                0.0
            },
            max_cpu_pct: seconds.iter().map(|s| s.cpu_pct).fold(0.0, f64::max),
            threads,
            warnings,
        }
    }

    pub(crate) fn total(self) -> f64 {
        self.user + self.system
    }
}

impl std::ops::Sub for CpuTime {
    type Output = CpuTime;
    fn sub(self, other: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user - other.user,
            system: self.system - other.system,
        }
    }
}

pub(crate) fn cpu_time() -> CpuTime {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole rusage into the pointer it is given; RUSAGE_SELF is
    // always a valid `who`.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return CpuTime::default();
    }
    // SAFETY: getrusage returned 0, so it filled the struct (zeroed before in any case).
    let usage = unsafe { usage.assume_init() };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    CpuTime {
        user: seconds(usage.ru_utime),
        system: seconds(usage.ru_stime),
    }
}
