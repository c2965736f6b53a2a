//! The routes: one handler per page, the kill POSTs, and the guard in front of them all.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Form, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use brisk_pg::catalog::{self, StatementsStatus};
use brisk_pg::explain::{self, ExplainOptions, Plan};
use brisk_pg::{PgError, Session};
use brisk_report::{Finding, Report, Severity, Unit};
use serde::Deserialize;

use crate::app::App;
use crate::chart;
use crate::history::History;
use crate::html::{self, esc, Page};
use crate::proxy_health;

type Shared = State<Arc<App>>;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(overview))
        .route("/queries", get(queries))
        .route("/queries/{id}", get(query))
        .route("/space", get(space))
        .route("/connections", get(connections))
        .route("/live", get(live))
        .route("/live/cancel", post(cancel))
        .route("/live/terminate", post(terminate))
        .route("/maintenance", get(maintenance))
        .route("/tune", get(tune))
        .route("/redis", get(redis))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

/// The cookie a browser keeps the token in after the first `?token=` visit.
const TOKEN_COOKIE: &str = "brisk_token";

/// In front of every route.
/// - With a token: the request carries it (`Authorization: Bearer`, the cookie, or
///   `?token=`, which sets the cookie and redirects to the URL without it).
/// - Without one (loopback only): the Host must name loopback too, so a page on another
///   site cannot reach the dashboard through DNS rebinding.
async fn guard(State(app): Shared, request: Request, next: Next) -> Response {
    let headers = request.headers();
    match &app.options.token {
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("");
            if !is_loopback_host(host) {
                return refuse(StatusCode::FORBIDDEN, "this dashboard answers only to localhost; start it with --token to use another name");
            }
        }
        Some(_) => {
            let from_query = request.uri().query().and_then(|q| {
                q.split('&')
                    .find_map(|kv| kv.strip_prefix("token="))
                    .map(percent_decode)
            });
            if let Some(given) = from_query {
                if !app.token_matches(&given) {
                    return refuse(StatusCode::UNAUTHORIZED, "wrong token");
                }
                let rest: Vec<&str> = request
                    .uri()
                    .query()
                    .unwrap_or("")
                    .split('&')
                    .filter(|kv| !kv.starts_with("token=") && !kv.is_empty())
                    .collect();
                let location = if rest.is_empty() {
                    request.uri().path().to_string()
                } else {
                    format!("{}?{}", request.uri().path(), rest.join("&"))
                };
                let cookie = format!(
                    "{TOKEN_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
                    html::url_encode(&given)
                );
                return (
                    StatusCode::SEE_OTHER,
                    [(header::LOCATION, location), (header::SET_COOKIE, cookie)],
                )
                    .into_response();
            }
            if !presented_token(headers).is_some_and(|t| app.token_matches(&t)) {
                return refuse(
                    StatusCode::UNAUTHORIZED,
                    "this dashboard needs its token: open it once with ?token=... or send Authorization: Bearer ...",
                );
            }
        }
    }
    next.run(request).await
}

fn presented_token(headers: &HeaderMap) -> Option<String> {
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
    {
        return Some(bearer.trim().to_string());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .find_map(|c| c.trim().strip_prefix(TOKEN_COOKIE)?.strip_prefix('='))
        .map(percent_decode)
}

fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                // Bytes, not a str slice: a multi-byte character after '%' must not panic.
                let pair = &bytes[i + 1..i + 3];
                let hex = if pair.iter().all(u8::is_ascii_hexdigit) {
                    std::str::from_utf8(pair).unwrap_or("")
                } else {
                    ""
                };
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, format!("brisk serve: {message}\n")).into_response()
}

async fn not_found() -> Response {
    refuse(StatusCode::NOT_FOUND, "no such page")
}

/// A page that could not be read: the frame, and the reason on one line.
struct PageError(String);

impl From<PgError> for PageError {
    fn from(error: PgError) -> Self {
        PageError(error.to_string())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>brisk: error</title></head>\
             <body><main><h1>brisk serve</h1><p class=\"error\">{}</p><p><a href=\"/\">Overview</a></p></main></body></html>",
            esc(&self.0)
        );
        (StatusCode::BAD_GATEWAY, Html(body)).into_response()
    }
}

type PageResult = Result<Html<String>, PageError>;

fn frame(app: &App, title: &str, path: &str, refresh_secs: u32, body: &str) -> Html<String> {
    Html(html::render(
        &Page {
            title,
            path,
            target: &app.options.postgres.redacted(),
            has_redis: app.options.redis.is_some(),
            refresh_secs,
        },
        body,
    ))
}

/// Pages that show live figures re-read themselves this often when a script may run.
const REFRESH_SECS: u32 = 10;

/// The charts of the sampled history, by name.
fn history_chart(history: &History, name: &str) -> String {
    let as_f64 = |v: Option<i64>| v.map(|v| v as f64);
    match name {
        "calls" => chart::line(
            "Statements per second",
            "calls/s",
            &[("calls/s", history.rate(|s| as_f64(s.statement_calls)))],
        ),
        "time" => chart::line(
            "Statement time: ms of execution per second",
            "ms/s",
            &[("ms/s", history.rate(|s| s.statement_ms))],
        ),
        "connections" => chart::line(
            "Client connections",
            "connections",
            &[
                ("all", history.gauge(|s| s.connections.map(|v| v as f64))),
                ("active", history.gauge(|s| s.active.map(|v| v as f64))),
            ],
        ),
        "cache" => chart::line(
            "Buffer cache hit ratio",
            "%",
            &[(
                "hit %",
                history.ratio(|s| as_f64(s.blocks_hit), |s| as_f64(s.blocks_read)),
            )],
        ),
        "checkpoints" => chart::line(
            "Checkpoints per hour",
            "checkpoints/h",
            &[(
                "checkpoints/h",
                history
                    .rate(|s| as_f64(s.checkpoints))
                    .into_iter()
                    .map(|(t, v)| (t, v * 3600.0))
                    .collect(),
            )],
        ),
        "redis_memory" => chart::line(
            "Redis memory",
            "MiB",
            &[(
                "used",
                history.gauge(|s| s.redis_memory.map(|v| v as f64 / 1048576.0)),
            )],
        ),
        "redis_hits" => chart::line(
            "Redis hit ratio",
            "%",
            &[(
                "hit %",
                history.ratio(
                    |s| s.redis_hits.map(|v| v as f64),
                    |s| s.redis_misses.map(|v| v as f64),
                ),
            )],
        ),
        _ => String::new(),
    }
}

fn charts(app: &App, names: &[&str]) -> String {
    let Ok(history) = app.history.lock() else {
        return html::error_box("the history is unavailable (its sampler failed)");
    };
    let mut out = String::from("<div class=\"charts\">");
    for name in names {
        let _ = write!(
            out,
            "<div data-chart=\"{name}\">{}</div>",
            history_chart(&history, name)
        );
    }
    out.push_str("</div>");
    let _ = write!(
        out,
        "<p class=\"note\">{} samples, one every {} s, kept in memory{}.</p>",
        history.len(),
        app.options.sample_every.as_secs_f64(),
        match &app.options.history_file {
            Some(path) => format!(" and in {}", path.display()),
            None => String::new(),
        }
    );
    out
}

fn severity_badge(severity: Severity) -> String {
    format!("<span class=\"sev {s}\">{s}</span>", s = severity.as_str())
}

fn evidence_text(finding: &Finding) -> String {
    let lines = finding
        .evidence
        .iter()
        .map(|e| {
            let value = match e.unit {
                Unit::Bytes => html::bytes(e.value),
                Unit::Percent => html::pct(e.value),
                Unit::Milliseconds => html::ms(e.value),
                Unit::Seconds => html::secs(e.value),
                _ => html::count(e.value),
            };
            format!("{}: {}", esc(&e.name), esc(&value))
        })
        .collect::<Vec<_>>()
        .join("<br>");
    format!("<span class=\"evidence\">{lines}</span>")
}

fn findings_table(id: &str, findings: &[&Finding]) -> String {
    if findings.is_empty() {
        return html::note("No findings.");
    }
    // Findings come sorted, worst first; a database with thousands of tables can have
    // thousands of them, and the CLI lists them all.
    let shown = &findings[..findings.len().min(FINDINGS_SHOWN)];
    let rows: Vec<Vec<String>> = shown
        .iter()
        .map(|f| {
            let mut title = esc(&f.title);
            if let Some(query) = &f.query {
                title.push_str(&html::sql_cell(query));
            }
            if let Some(fix) = &f.fix {
                let _ = write!(
                    title,
                    "<br><code title=\"{a}\">{a}</code>",
                    a = esc(&fix.apply)
                );
            }
            vec![
                severity_badge(f.severity),
                format!("<code>{}</code>", esc(&f.check)),
                esc(&f.subject),
                title,
                evidence_text(f),
            ]
        })
        .collect();
    let mut out = html::table(
        id,
        &["Severity", "Check", "Subject", "Finding", "Evidence"],
        &rows,
    );
    if findings.len() > shown.len() {
        out.push_str(&html::note(&format!(
            "{} more; brisk check URL lists them all.",
            findings.len() - shown.len()
        )));
    }
    out
}

/// Findings one table shows: two pages' worth, the worst first.
const FINDINGS_SHOWN: usize = 2 * html::PAGE_ROWS;

/// brisk check's report (see `App::check_report`), and a note that says how old it is when
/// it came from the cache.
async fn check(
    app: &App,
    session: &Session,
    only: &[&str],
) -> Result<(Arc<Report>, String), PgError> {
    let (made, report) = app.check_report(session, only).await?;
    let age = made.elapsed().as_secs();
    let note = if age == 0 {
        String::new()
    } else {
        html::note(&format!(
            "Findings as of {age} s ago: brisk check runs at most once every {} s; the figures are live.",
            crate::app::CHECK_TTL.as_secs()
        ))
    };
    Ok((report, note))
}

async fn overview(State(app): Shared) -> PageResult {
    let session = app.session().await?;
    let (report, checked) = check(&app, &session, &[]).await?;
    session.begin().await?;
    let databases = catalog::databases(&session).await?;
    let activity = catalog::activity(&session).await?;
    session.commit().await?;

    let count = |severity| {
        report
            .findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    };
    let (critical, warning, info) = (
        count(Severity::Critical),
        count(Severity::Warning),
        count(Severity::Info),
    );
    let health = if critical > 0 {
        ("critical", "critical")
    } else if warning > 0 {
        ("needs attention", "warning")
    } else {
        ("healthy", "ok")
    };
    let clients = activity
        .iter()
        .filter(|b| b.backend_type.as_deref() == Some("client backend"))
        .count();
    let hit = databases.iter().find(|d| d.is_current).and_then(|d| {
        let lookups = d.blocks_hit + d.blocks_read;
        (lookups > 0).then(|| 100.0 * d.blocks_hit as f64 / lookups as f64)
    });
    let mut body = String::from("<div class=\"figures\">");
    body.push_str(&html::figure("health", "health", health.0, health.1));
    body.push_str(&html::figure(
        "critical",
        "critical findings",
        &critical.to_string(),
        if critical > 0 { "critical" } else { "" },
    ));
    body.push_str(&html::figure(
        "warning",
        "warnings",
        &warning.to_string(),
        if warning > 0 { "warning" } else { "" },
    ));
    body.push_str(&html::figure("info", "info", &info.to_string(), ""));
    body.push_str(&html::figure(
        "connections",
        "client connections",
        &clients.to_string(),
        "",
    ));
    body.push_str(&html::figure(
        "cache_hit",
        "cache hit ratio since reset",
        &hit.map_or("–".into(), html::pct),
        "",
    ));
    body.push_str(&html::figure(
        "version",
        "server",
        &session.server().display_version(),
        "",
    ));
    body.push_str("</div>");
    body.push_str(&charts(&app, &["calls", "time", "connections", "cache"]));
    body.push_str("<h2>Health: what brisk check finds</h2>");
    let findings: Vec<&Finding> = report.findings.iter().collect();
    body.push_str(&findings_table("findings", &findings));
    body.push_str(&checked);
    for note in &report.notes {
        body.push_str(&html::note(note));
    }
    for skipped in &report.skipped {
        body.push_str(&html::note(&format!(
            "{} skipped: {}",
            skipped.check, skipped.reason
        )));
    }
    Ok(frame(&app, "Overview", "/", REFRESH_SECS, &body))
}

#[derive(Debug, Deserialize)]
struct ListArgs {
    page: Option<usize>,
    q: Option<String>,
}

/// The schema and version of pg_stat_statements, or the reason it cannot be read, as a
/// paragraph.
async fn statements_view(session: &Session) -> Result<Result<(String, String), String>, PgError> {
    let settings = catalog::settings(session).await?;
    Ok(match catalog::statements_status(session, &settings).await? {
        StatementsStatus::Ready { schema, version } => Ok((schema, version)),
        StatementsStatus::NotAvailable => Err("pg_stat_statements is not installed on the server (it ships in PostgreSQL's contrib package).".into()),
        StatementsStatus::NotPreloaded { .. } => Err("pg_stat_statements is not in shared_preload_libraries: add it there and restart PostgreSQL.".into()),
        StatementsStatus::NotCreated { .. } => Err("pg_stat_statements is not created in this database: run CREATE EXTENSION pg_stat_statements.".into()),
    })
}

async fn queries(State(app): Shared, Query(args): Query<ListArgs>) -> PageResult {
    let session = app.session().await?;
    session.begin().await?;
    let view = statements_view(&session).await?;
    let mut body = String::new();
    match view {
        Err(reason) => body.push_str(&html::error_box(&reason)),
        Ok((schema, version)) => {
            // Every statement that ranks in the top 500 by total time, mean time or calls:
            // pg_stat_statements keeps 5,000 by default, and past 500 the rest is noise.
            let (mut statements, total_ms) =
                catalog::top_statements(&session, &schema, &version, 500).await?;
            statements.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
            let calls: i64 = statements.iter().map(|s| s.calls).sum();
            body.push_str("<div class=\"figures\">");
            body.push_str(&html::figure(
                "statements",
                "statements",
                &html::count(statements.len() as f64),
                "",
            ));
            body.push_str(&html::figure(
                "calls",
                "calls",
                &html::count(calls as f64),
                "",
            ));
            body.push_str(&html::figure(
                "total_time",
                "execution time",
                &html::ms(total_ms),
                "",
            ));
            body.push_str("</div>");
            body.push_str(&charts(&app, &["calls", "time"]));
            body.push_str("<h2>Top statements by total time (pg_stat_statements)</h2>");
            let (range, pager) =
                html::paginate(&statements, args.page.unwrap_or(1), "/queries", "");
            let rows: Vec<Vec<String>> = statements[range]
                .iter()
                .map(|s| {
                    let lookups = s.shared_blocks_hit + s.shared_blocks_read;
                    vec![
                        format!(
                            "<a href=\"/queries/{}\">{}</a>",
                            s.query_id,
                            html::sql_cell(&s.query)
                        ),
                        html::count(s.calls as f64),
                        html::ms(s.total_ms),
                        html::ms(s.mean_ms),
                        if total_ms > 0.0 {
                            html::pct(100.0 * s.total_ms / total_ms)
                        } else {
                            "–".into()
                        },
                        html::count(s.rows as f64),
                        if lookups > 0 {
                            html::pct(100.0 * s.shared_blocks_hit as f64 / lookups as f64)
                        } else {
                            "–".into()
                        },
                        html::count(s.temp_blocks_written as f64),
                    ]
                })
                .collect();
            body.push_str(&html::table(
                "statements",
                &[
                    "Query",
                    "#Calls",
                    "#Total",
                    "#Mean",
                    "#Share",
                    "#Rows",
                    "#Cache hit",
                    "#Temp blocks",
                ],
                &rows,
            ));
            body.push_str(&pager);
        }
    }
    session.commit().await?;
    body.push_str(&proxy_queries(&app).await);
    Ok(frame(&app, "Queries", "/queries", REFRESH_SECS, &body))
}

/// Selected columns of a console table, with numeric ones formatted.
fn console_table(id: &str, rows: &[Vec<(String, String)>], columns: &[(&str, &str)]) -> String {
    let headers: Vec<&str> = columns.iter().map(|(_, header)| *header).collect();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            columns
                .iter()
                .map(|(name, _)| {
                    let value = row
                        .iter()
                        .find(|(c, _)| c == name)
                        .map_or("", |(_, v)| v.as_str());
                    if ["query", "repeated", "suggestion"].contains(name) {
                        html::sql_cell(value)
                    } else {
                        esc(value)
                    }
                })
                .collect()
        })
        .collect();
    html::table(id, &headers, &cells)
}

async fn proxy_queries(app: &App) -> String {
    let Some(console) = app.console().await else {
        return html::note("Start brisk serve with --proxy-admin to see the proxy's per-fingerprint latency percentiles and N+1 patterns here.");
    };
    let mut out = String::from("<h2>Through the proxy: latency per fingerprint</h2>");
    let console = match console {
        Ok(console) => console,
        Err(e) => return out + &html::error_box(&format!("proxy admin console: {e}")),
    };
    match console.show("SHOW QUERIES").await {
        Ok(rows) => out.push_str(&console_table(
            "proxy_queries",
            &rows,
            &[
                ("query", "Query"),
                ("calls", "#Calls"),
                ("p50_ms", "#p50 ms"),
                ("p95_ms", "#p95 ms"),
                ("p99_ms", "#p99 ms"),
                ("max_ms", "#max ms"),
                ("total_ms", "#total ms"),
                ("errors", "#Errors"),
            ],
        )),
        Err(e) => out.push_str(&html::error_box(&e.to_string())),
    }
    out.push_str("<h2>N+1 and row-by-row patterns</h2>");
    match console.show("SHOW N_PLUS_ONE").await {
        Ok(rows) if rows.is_empty() => out.push_str(&html::note("None seen.")),
        Ok(rows) => out.push_str(&console_table(
            "n_plus_one",
            &rows,
            &[
                ("kind", "Kind"),
                ("repeated", "Repeated statement"),
                ("occurrences", "#Occurrences"),
                ("executions", "#Executions"),
                ("total_ms", "#Total ms"),
                ("application_name", "Application"),
                ("suggestion", "Suggestion"),
            ],
        )),
        Err(e) => out.push_str(&html::error_box(&e.to_string())),
    }
    out
}

/// The highest `$n` in a normalized statement.
fn parameter_count(sql: &str) -> usize {
    let bytes = sql.as_bytes();
    let mut highest = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'$' {
            let digits: String = sql[i + 1..]
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            if let Ok(n) = digits.parse::<usize>() {
                highest = highest.max(n);
            }
        }
    }
    highest
}

fn plan_text(plan: &Plan, depth: usize, out: &mut String) {
    let _ = write!(out, "{:indent$}{}", "", plan.node_type, indent = depth * 2);
    if let Some(index) = &plan.index_name {
        let _ = write!(out, " using {index}");
    }
    if let Some(relation) = &plan.relation {
        let _ = write!(out, " on {relation}");
    }
    let _ = writeln!(
        out,
        "  (cost={:.2}..{:.2} rows={:.0} width={:.0})",
        plan.startup_cost, plan.total_cost, plan.rows, plan.width
    );
    if let Some(filter) = &plan.filter {
        let _ = writeln!(out, "{:indent$}  Filter: {filter}", "", indent = depth * 2);
    }
    for child in &plan.children {
        plan_text(child, depth + 1, out);
    }
}

async fn query(State(app): Shared, Path(id): Path<i64>) -> PageResult {
    let session = app.session().await?;
    session.begin().await?;
    let (schema, version) = match statements_view(&session).await? {
        Ok(view) => view,
        Err(reason) => return Err(PageError(reason)),
    };
    let statement = catalog::statement_totals(&session, &schema, &version)
        .await?
        .into_iter()
        .find(|s| s.query_id == id)
        .ok_or_else(|| PageError(format!("no statement with queryid {id} in pg_stat_statements (it may have been evicted or reset)")))?;
    let mut body = String::from("<div class=\"figures\">");
    body.push_str(&html::figure(
        "calls",
        "calls",
        &html::count(statement.calls as f64),
        "",
    ));
    body.push_str(&html::figure(
        "total_time",
        "total time",
        &html::ms(statement.total_ms),
        "",
    ));
    let mean = if statement.calls > 0 {
        statement.total_ms / statement.calls as f64
    } else {
        0.0
    };
    body.push_str(&html::figure("mean_time", "mean time", &html::ms(mean), ""));
    body.push_str(&html::figure(
        "rows",
        "rows",
        &html::count(statement.rows as f64),
        "",
    ));
    body.push_str("</div>");
    let _ = write!(
        body,
        "<h2>Statement (normalized)</h2><pre data-query>{}</pre>",
        esc(&brisk_sql::normalize(&statement.query))
    );
    body.push_str(&statement_charts(&app, id));

    // A generic plan: the values of EXECUTE do not shape it, so NULLs serve for every
    // parameter and no value of the application's is needed or shown.
    let args = vec!["NULL".to_string(); parameter_count(&statement.query)];
    let explained = explain::explain(
        &session,
        explain::Statement::Generic {
            sql: &statement.query,
            types: &[],
            args: &args,
        },
        ExplainOptions::default(),
    )
    .await;
    body.push_str("<h2>EXPLAIN (generic plan, no values)</h2>");
    match explained {
        Ok(explained) => {
            let mut text = String::new();
            plan_text(&explained.plan, 0, &mut text);
            let _ = write!(body, "<pre data-plan>{}</pre>", esc(&text));
        }
        Err(e) => body.push_str(&html::error_box(&format!("no plan: {e}"))),
    }
    session.commit().await?;
    drop(session);

    let session = app.session().await?;
    let (report, checked) = check(&app, &session, &["queries", "fk."]).await?;
    let related: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.query.as_deref() == Some(statement.query.as_str()))
        .collect();
    body.push_str("<h2>What brisk check says about it</h2>");
    body.push_str(&findings_table("query_findings", &related));
    body.push_str(&checked);
    body.push_str("<h2>The advisor's index for it</h2>");
    body.push_str(&advised_index(&app, &session, &statement.query).await);
    body.push_str(&html::note(
        "From brisk advise over the workload (reused for 5 minutes); brisk advise URL shows the whole advice with each index's benefit and write cost.",
    ));
    Ok(frame(&app, "Query", "/queries", 0, &body))
}

/// One statement's calls per second and mean time, from the sampled history (which keeps
/// the top statements by total time).
fn statement_charts(app: &App, id: i64) -> String {
    let Ok(history) = app.history.lock() else {
        return html::error_box("the history is unavailable (its sampler failed)");
    };
    format!(
        "<h2>History</h2><div class=\"charts\"><div data-chart=\"query_calls\">{}</div><div data-chart=\"query_mean\">{}</div></div>{}",
        chart::line(
            "Calls per second",
            "calls/s",
            &[("calls/s", history.statement_rate(id))]
        ),
        chart::line(
            "Mean time per call",
            "ms",
            &[("mean ms", history.statement_mean(id))]
        ),
        html::note(&format!(
            "Sampled with the other figures; the sampler keeps the top {} statements by total time, so a statement outside them has no line.",
            crate::history::TOP_STATEMENTS
        ))
    )
}

/// The indexes brisk advise chooses for the whole workload (pg_stat_statements, HypoPG's
/// what-if plans where it is installed) that this statement's plan would use.
async fn advised_index(app: &App, session: &Session, query: &str) -> String {
    let advice = match app.advice(session).await {
        Ok(advice) => advice,
        Err(e) => return html::error_box(&format!("the advisor could not run: {e}")),
    };
    let wanted = brisk_sql::normalize(query);
    let Some(position) = advice
        .queries
        .iter()
        .position(|q| brisk_sql::normalize(&q.query) == wanted)
    else {
        return html::note("The advisor did not plan this statement (it is not a query, or not among the workload's top statements).");
    };
    let outcome = &advice.queries[position];
    let rows: Vec<Vec<String>> = advice
        .recommendations
        .iter()
        .filter(|r| r.helps.contains(&position))
        .map(|r| {
            vec![
                // Whole, wrapped: this is the statement to copy.
                format!("<code class=\"wrap\">{}</code>", esc(&r.create_sql)),
                html::bytes(r.size_bytes),
                if r.proven {
                    "HypoPG".into()
                } else {
                    "model".into()
                },
            ]
        })
        .collect();
    if rows.is_empty() {
        return html::note("No index of the advice helps this statement: none the advisor can build (B-tree, or the extensions installed) saves enough for the workload.");
    }
    let mut out = html::table(
        "advised",
        &["Index", "#Size (estimate)", "Proven by"],
        &rows,
    );
    out.push_str(&html::note(&format!(
        "Planner cost of this statement: {:.1} now, {:.1} with the advice.",
        outcome.cost_before, outcome.cost_after
    )));
    out
}

async fn space(State(app): Shared, Query(args): Query<ListArgs>) -> PageResult {
    let session = app.session().await?;
    let (report, checked) = check(
        &app,
        &session,
        &[
            "table.bloat",
            "index.bloat",
            "index.unused",
            "index.duplicate",
            "index.redundant",
        ],
    )
    .await?;
    session.begin().await?;
    let mut tables = catalog::tables(&session).await?;
    let mut indexes = catalog::indexes(&session).await?;
    session.commit().await?;

    let total: i64 = tables.iter().map(|t| t.total_bytes).sum();
    let index_bytes: i64 = indexes.iter().map(|i| i.size_bytes).sum();
    let mut body = String::from("<div class=\"figures\">");
    body.push_str(&html::figure(
        "total_size",
        "tables with their indexes",
        &html::bytes(total as f64),
        "",
    ));
    body.push_str(&html::figure(
        "index_size",
        "indexes",
        &html::bytes(index_bytes as f64),
        "",
    ));
    body.push_str(&html::figure(
        "tables",
        "tables",
        &html::count(tables.len() as f64),
        "",
    ));
    body.push_str(&html::figure(
        "indexes",
        "indexes",
        &html::count(indexes.len() as f64),
        "",
    ));
    body.push_str("</div>");

    body.push_str("<h2>Bloat and indexes that cost space for nothing</h2>");
    let findings: Vec<&Finding> = report.findings.iter().collect();
    body.push_str(&findings_table("space_findings", &findings));
    body.push_str(&checked);

    let filter = args.q.clone().unwrap_or_default();
    let _ = write!(
        body,
        "<h2>Tables by size</h2><form method=\"get\" action=\"/space\"><input type=\"search\" name=\"q\" value=\"{}\" placeholder=\"filter by name\"> <button>Filter</button></form>",
        esc(&filter)
    );
    let needle = filter.to_lowercase();
    tables.retain(|t| {
        needle.is_empty()
            || format!("{}.{}", t.schema, t.name)
                .to_lowercase()
                .contains(&needle)
    });
    tables.sort_by(|a, b| {
        b.total_bytes
            .cmp(&a.total_bytes)
            .then_with(|| a.name.cmp(&b.name))
    });
    let extra = if filter.is_empty() {
        String::new()
    } else {
        format!("&q={}", html::url_encode(&filter))
    };
    let (range, pager) = html::paginate(&tables, args.page.unwrap_or(1), "/space", &extra);
    let rows: Vec<Vec<String>> = tables[range]
        .iter()
        .map(|t| {
            let rows = t.live_tuples + t.dead_tuples;
            vec![
                esc(&format!("{}.{}", t.schema, t.name)),
                html::bytes(t.total_bytes as f64),
                html::bytes(t.heap_bytes as f64),
                html::bytes((t.total_bytes - t.heap_bytes) as f64),
                html::count(t.live_tuples as f64),
                if rows > 0 {
                    html::pct(100.0 * t.dead_tuples as f64 / rows as f64)
                } else {
                    "–".into()
                },
                html::count(t.seq_scans as f64),
            ]
        })
        .collect();
    body.push_str(&html::table(
        "tables",
        &[
            "Table",
            "#Total",
            "#Heap",
            "#Indexes and TOAST",
            "#Live rows",
            "#Dead rows",
            "#Seq scans",
        ],
        &rows,
    ));
    body.push_str(&pager);

    body.push_str("<h2>Largest indexes</h2>");
    indexes.sort_by_key(|i| std::cmp::Reverse(i.size_bytes));
    let rows: Vec<Vec<String>> = indexes
        .iter()
        .take(html::PAGE_ROWS)
        .map(|i| {
            vec![
                esc(&format!("{}.{}", i.schema, i.name)),
                esc(&i.table),
                html::bytes(i.size_bytes as f64),
                html::count(i.scans as f64),
                if i.is_valid {
                    String::new()
                } else {
                    "<span class=\"sev critical\">invalid</span>".into()
                },
            ]
        })
        .collect();
    body.push_str(&html::table(
        "indexes",
        &["Index", "Table", "#Size", "#Scans", "State"],
        &rows,
    ));
    Ok(frame(&app, "Space", "/space", 0, &body))
}

async fn connections(State(app): Shared) -> PageResult {
    let session = app.session().await?;
    session.begin().await?;
    let settings = catalog::settings(&session).await?;
    let activity = catalog::activity(&session).await?;
    session.commit().await?;
    let clients: Vec<_> = activity
        .iter()
        .filter(|b| b.backend_type.as_deref() == Some("client backend"))
        .collect();
    let max: Option<f64> = settings.get("max_connections").and_then(|v| v.parse().ok());
    let reserved: f64 = settings
        .get("superuser_reserved_connections")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let state_count = |state: &str| {
        clients
            .iter()
            .filter(|b| b.state.as_deref() == Some(state))
            .count()
    };
    let mut body = String::from("<div class=\"figures\">");
    body.push_str(&html::figure(
        "connections",
        "client connections",
        &clients.len().to_string(),
        "",
    ));
    body.push_str(&html::figure(
        "active",
        "active",
        &state_count("active").to_string(),
        "",
    ));
    body.push_str(&html::figure(
        "idle",
        "idle",
        &state_count("idle").to_string(),
        "",
    ));
    let idle_tx = state_count("idle in transaction") + state_count("idle in transaction (aborted)");
    body.push_str(&html::figure(
        "idle_in_transaction",
        "idle in transaction",
        &idle_tx.to_string(),
        if idle_tx > 0 { "warning" } else { "" },
    ));
    if let Some(max) = max {
        let usable = max - reserved;
        body.push_str(&html::figure(
            "max_connections",
            "max_connections",
            &html::count(max),
            "",
        ));
        if usable > 0.0 {
            body.push_str(&html::figure(
                "usage",
                "of the connections applications may use",
                &html::pct(100.0 * clients.len() as f64 / usable),
                "",
            ));
        }
    }
    body.push_str("</div>");
    body.push_str(&charts(&app, &["connections"]));

    let mut groups: BTreeMap<(String, String, String, String), usize> = BTreeMap::new();
    for b in &clients {
        let key = (
            b.database.clone().unwrap_or_default(),
            b.user.clone().unwrap_or_default(),
            b.application_name.clone().unwrap_or_default(),
            b.state.clone().unwrap_or_else(|| "(hidden)".into()),
        );
        *groups.entry(key).or_default() += 1;
    }
    let mut groups: Vec<_> = groups.into_iter().collect();
    groups.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let rows: Vec<Vec<String>> = groups
        .iter()
        .take(html::PAGE_ROWS)
        .map(|((db, user, app_name, state), n)| {
            vec![esc(db), esc(user), esc(app_name), esc(state), n.to_string()]
        })
        .collect();
    body.push_str("<h2>Client connections by database, user, application and state</h2>");
    body.push_str(&html::table(
        "connection_groups",
        &["Database", "User", "Application", "State", "#Connections"],
        &rows,
    ));

    body.push_str(&proxy_pools(&app).await);
    Ok(frame(
        &app,
        "Connections",
        "/connections",
        REFRESH_SECS,
        &body,
    ))
}

async fn proxy_pools(app: &App) -> String {
    let Some(console) = app.console().await else {
        return html::note("Start brisk serve with --proxy-admin to see the proxy's pools here.");
    };
    let mut out = String::from("<h2>Proxy pools</h2>");
    let console = match console {
        Ok(console) => console,
        Err(e) => return out + &html::error_box(&format!("proxy admin console: {e}")),
    };
    match console.show("SHOW POOLS").await {
        Ok(rows) => out.push_str(&console_table(
            "pools",
            &rows,
            &[
                ("database", "Database"),
                ("user", "User"),
                ("cl_active", "#Clients active"),
                ("cl_waiting", "#Clients waiting"),
                ("sv_active", "#Servers active"),
                ("sv_idle", "#Servers idle"),
                ("maxwait", "#Longest wait s"),
                ("pool_mode", "Mode"),
                ("cl_pinned", "#Pinned"),
            ],
        )),
        Err(e) => out.push_str(&html::error_box(&e.to_string())),
    }
    out.push_str(&pool_health(app, &console).await);
    out.push_str("<h2>Proxy totals</h2>");
    match console.show("SHOW STATS").await {
        Ok(rows) => out.push_str(&console_table(
            "proxy_stats",
            &rows,
            &[
                ("database", "Database"),
                ("total_xact_count", "#Transactions"),
                ("total_query_count", "#Queries"),
                ("avg_xact_time", "#Avg transaction µs"),
                ("avg_query_time", "#Avg query µs"),
                ("avg_wait_time", "#Avg wait µs"),
            ],
        )),
        Err(e) => out.push_str(&html::error_box(&e.to_string())),
    }
    out
}

/// Each pool's health score and sizing advice, from the proxy's own `/health/detailed`.
async fn pool_health(app: &App, console: &brisk_pg::Console) -> String {
    let mut out = String::from("<h2>Proxy pool health</h2>");
    let listen = match console.show("SHOW CONFIG").await {
        Ok(rows) => rows
            .iter()
            .find(|row| row.iter().any(|(c, v)| c == "key" && v == "http_listen"))
            .and_then(|row| row.iter().find(|(c, _)| c == "value"))
            .map(|(_, v)| v.clone())
            .unwrap_or_default(),
        Err(e) => return out + &html::error_box(&e.to_string()),
    };
    let console_host = app
        .options
        .proxy_admin
        .as_ref()
        .and_then(|info| info.hosts.first())
        .map_or_else(
            || "127.0.0.1".to_string(),
            |h| match &h.addr {
                brisk_pg::conninfo::HostAddr::Tcp { name, .. } => name.clone(),
                brisk_pg::conninfo::HostAddr::Unix(_) => "127.0.0.1".to_string(),
            },
        );
    let Some(address) = proxy_health::address(&listen, &console_host) else {
        return out + &html::note("The proxy computes each pool's health score and sizing advice from a sampler that runs when its config sets http_listen; set it to see them here.");
    };
    let detailed = match proxy_health::fetch(&address).await {
        Ok(detailed) => detailed,
        Err(e) => return out + &html::error_box(&format!("proxy health: {e}")),
    };
    let rows: Vec<Vec<String>> = detailed
        .pools
        .iter()
        .map(|pool| {
            vec![
                esc(&pool.database),
                esc(&pool.user),
                format!(
                    "<span data-figure=\"pool_score\">{}</span>",
                    pool.health.score
                ),
                pool.pool_size.to_string(),
                format!(
                    "<span data-figure=\"pool_sizing\">{}</span>",
                    esc(&proxy_health::sizing(pool))
                ),
            ]
        })
        .collect();
    if rows.is_empty() {
        out.push_str(&html::note(
            "The proxy has no pool yet: no client has connected.",
        ));
    } else {
        out.push_str(&html::table(
            "pool_health",
            &["Database", "User", "#Score (0-100)", "#Size", "Sizing"],
            &rows,
        ));
        out.push_str(&html::note(&format!(
            "As the proxy computes them over its last {:.0} s (pool_health_window): the score from the pool's utilization, less penalties for waiting clients and the longest wait; the advice sizes the pool so the demand measured by Little's law fills half of it.",
            detailed.window_seconds
        )));
    }
    out
}

async fn live(State(app): Shared) -> PageResult {
    let session = app.session().await?;
    session.begin().await?;
    let activity = catalog::activity(&session).await?;
    session.commit().await?;
    let mut running: Vec<_> = activity
        .iter()
        .filter(|b| {
            b.backend_type.as_deref() == Some("client backend")
                && !b.is_brisk
                && b.state.as_deref().is_some_and(|s| s != "idle")
        })
        .collect();
    running.sort_by(|a, b| {
        b.query_secs
            .unwrap_or(0.0)
            .total_cmp(&a.query_secs.unwrap_or(0.0))
    });
    let mut body = String::from("<div class=\"figures\">");
    body.push_str(&html::figure(
        "running",
        "sessions not idle",
        &running.len().to_string(),
        "",
    ));
    let blocked = running.iter().filter(|b| !b.blocked_by.is_empty()).count();
    body.push_str(&html::figure(
        "blocked",
        "waiting on a lock",
        &blocked.to_string(),
        if blocked > 0 { "warning" } else { "" },
    ));
    body.push_str("</div>");
    let kill = app.options.allow_kill;
    let rows: Vec<Vec<String>> = running
        .iter()
        .map(|b| {
            // Values never appear: the text is normalized as pg_stat_statements would.
            let query = b.query.as_deref().map(brisk_sql::normalize).unwrap_or_default();
            let wait = match (&b.wait_event_type, &b.wait_event) {
                (Some(t), Some(e)) => format!("{t}: {e}"),
                _ => String::new(),
            };
            let blocked_by = b.blocked_by.iter().map(i32::to_string).collect::<Vec<_>>().join(", ");
            let mut row = vec![
                b.pid.to_string(),
                esc(b.user.as_deref().unwrap_or("")),
                esc(b.application_name.as_deref().unwrap_or("")),
                esc(b.state.as_deref().unwrap_or("")),
                b.query_secs.map_or(String::new(), html::secs),
                esc(&wait),
                esc(&blocked_by),
                html::sql_cell(&query),
            ];
            if kill {
                row.push(format!(
                    "<form class=\"inline\" method=\"post\" action=\"/live/cancel\"><input type=\"hidden\" name=\"pid\" value=\"{pid}\"><input type=\"hidden\" name=\"secret\" value=\"{s}\"><button>Cancel</button></form> \
                     <form class=\"inline\" method=\"post\" action=\"/live/terminate\"><input type=\"hidden\" name=\"pid\" value=\"{pid}\"><input type=\"hidden\" name=\"secret\" value=\"{s}\"><button class=\"danger\">Terminate</button></form>",
                    pid = b.pid,
                    s = esc(&app.form_secret)
                ));
            }
            row
        })
        .collect();
    let mut headers = vec![
        "#PID",
        "User",
        "Application",
        "State",
        "#Running",
        "Waiting on",
        "Blocked by",
        "Query (normalized)",
    ];
    if kill {
        headers.push("Stop");
    }
    if rows.is_empty() {
        body.push_str(&html::note(
            "No session is running a statement or holding a transaction open.",
        ));
    } else {
        body.push_str(&html::table("live", &headers, &rows));
    }
    if !kill {
        body.push_str(&html::note("Read only: start brisk serve with --allow-kill to cancel or terminate sessions from here."));
    }
    Ok(frame(&app, "Live queries", "/live", REFRESH_SECS, &body))
}

#[derive(Debug, Deserialize)]
struct KillForm {
    pid: i32,
    secret: String,
}

async fn cancel(state: Shared, form: Form<KillForm>) -> Response {
    signal(state, form, "pg_cancel_backend").await
}

async fn terminate(state: Shared, form: Form<KillForm>) -> Response {
    signal(state, form, "pg_terminate_backend").await
}

async fn signal(State(app): Shared, Form(form): Form<KillForm>, function: &str) -> Response {
    if !app.options.allow_kill {
        return refuse(
            StatusCode::FORBIDDEN,
            "cancel and terminate are off: start brisk serve with --allow-kill",
        );
    }
    if !app.form_secret_matches(&form.secret) {
        return refuse(
            StatusCode::FORBIDDEN,
            "the form's secret does not match: reload the live queries page",
        );
    }
    let result = async {
        let session = app.session().await?;
        session.begin().await?;
        let sql = format!("/* brisk */ SELECT {function}($1)");
        let rows = session
            .query("signalling a backend", &sql, &[&form.pid])
            .await?;
        session.commit().await?;
        Ok::<bool, PgError>(rows.first().is_some_and(|r| r.get::<_, bool>(0)))
    }
    .await;
    match result {
        Ok(true) => Redirect::to("/live").into_response(),
        Ok(false) => refuse(
            StatusCode::NOT_FOUND,
            &format!("no backend {} to signal (it may have ended)", form.pid),
        ),
        Err(e) => refuse(StatusCode::BAD_GATEWAY, &e.to_string()),
    }
}

/// PostgreSQL stops assigning transaction ids before 2^31 (docs, "Preventing Transaction ID
/// Wraparound Failures"), so the share of it used is the distance to an outage.
const WRAPAROUND_XIDS: f64 = 2_147_483_648.0;

async fn maintenance(State(app): Shared, Query(args): Query<ListArgs>) -> PageResult {
    let session = app.session().await?;
    let (report, checked) = check(&app, &session, &["vacuum.", "sequence."]).await?;
    session.begin().await?;
    let mut tables = catalog::tables(&session).await?;
    let databases = catalog::databases(&session).await?;
    session.commit().await?;

    let oldest = databases.iter().map(|d| d.xid_age).max().unwrap_or(0);
    let mut body = String::from("<div class=\"figures\">");
    let share = 100.0 * oldest as f64 / WRAPAROUND_XIDS;
    body.push_str(&html::figure(
        "wraparound",
        "of the transaction ids before wraparound, oldest database",
        &html::pct(share),
        if share > 50.0 { "critical" } else { "" },
    ));
    let never = tables
        .iter()
        .filter(|t| t.last_analyze_any().is_none())
        .count();
    body.push_str(&html::figure(
        "never_analyzed",
        "tables never analyzed",
        &never.to_string(),
        if never > 0 { "warning" } else { "" },
    ));
    body.push_str("</div>");
    body.push_str(&charts(&app, &["checkpoints"]));
    body.push_str("<h2>Vacuum, analyze and wraparound findings</h2>");
    let findings: Vec<&Finding> = report.findings.iter().collect();
    body.push_str(&findings_table("maintenance_findings", &findings));
    body.push_str(&checked);

    body.push_str("<h2>Databases</h2>");
    let rows: Vec<Vec<String>> = databases
        .iter()
        .map(|d| {
            vec![
                esc(&d.name),
                html::count(d.xid_age as f64),
                html::pct(100.0 * d.xid_age as f64 / WRAPAROUND_XIDS),
                html::count(d.mxid_age as f64),
            ]
        })
        .collect();
    body.push_str(&html::table(
        "databases",
        &[
            "Database",
            "#Transaction id age",
            "#Of wraparound",
            "#Multixact age",
        ],
        &rows,
    ));

    body.push_str("<h2>Tables, closest to a forced (anti-wraparound) vacuum first</h2>");
    let to_forced = |t: &catalog::Table| match (t.xid_age, t.freeze_max_age) {
        (Some(age), Some(max)) if max > 0 => age as f64 / max as f64,
        _ => 0.0,
    };
    tables.sort_by(|a, b| {
        to_forced(b)
            .total_cmp(&to_forced(a))
            .then_with(|| a.name.cmp(&b.name))
    });
    let (range, pager) = html::paginate(&tables, args.page.unwrap_or(1), "/maintenance", "");
    let ago =
        |secs: Option<f64>| secs.map_or("never".to_string(), |s| format!("{} ago", html::secs(s)));
    let rows: Vec<Vec<String>> = tables[range]
        .iter()
        .map(|t| {
            vec![
                esc(&format!("{}.{}", t.schema, t.name)),
                ago(t.last_vacuum_any()),
                ago(t.last_analyze_any()),
                html::count(t.dead_tuples as f64),
                html::count(t.modified_since_analyze as f64),
                t.xid_age.map_or("–".into(), |a| html::count(a as f64)),
                html::pct(100.0 * to_forced(t)),
                if t.autovacuum_enabled {
                    "on".into()
                } else {
                    "<span class=\"sev warning\">off</span>".into()
                },
            ]
        })
        .collect();
    body.push_str(&html::table(
        "maintenance",
        &[
            "Table",
            "Last vacuum",
            "Last analyze",
            "#Dead rows",
            "#Changed since analyze",
            "#Xid age",
            "#Of freeze max age",
            "Autovacuum",
        ],
        &rows,
    ));
    body.push_str(&pager);
    Ok(frame(&app, "Maintenance", "/maintenance", 0, &body))
}

async fn tune(State(app): Shared) -> PageResult {
    let session = app.session().await?;
    // One second of pg_stat_activity samples (every 100 ms, as brisk tune's default
    // interval): enough to see idle sessions without holding the page long.
    let facts =
        brisk_tune::live::read_facts(&session, Duration::from_secs(1), Duration::from_millis(100))
            .await?;
    let mut body = String::new();
    let machine =
        brisk_tune::machine::resolve(None, None, std::path::Path::new("/"), facts.backend_pid);
    let machine = match machine {
        Ok(machine) => machine,
        Err(e) => {
            body.push_str(&html::error_box(&format!("{e} (brisk tune reads RAM and CPUs when it runs on the server's machine; run brisk tune URL --ram ... --cpus ... for the rest)")));
            return Ok(frame(&app, "Tune", "/tune", 0, &body));
        }
    };
    let tuning = match brisk_tune::rules::tune(
        &facts,
        &machine,
        &brisk_tune::rules::LiveOptions::default(),
        session.target(),
    ) {
        Ok(tuning) => tuning,
        Err(e) => return Err(PageError(e.to_string())),
    };
    body.push_str("<div class=\"figures\">");
    body.push_str(&html::figure(
        "recommendations",
        "settings to change",
        &tuning.recommendations.len().to_string(),
        "",
    ));
    body.push_str(&html::figure(
        "ram",
        "RAM",
        &html::bytes(machine.ram_bytes as f64),
        "",
    ));
    body.push_str(&html::figure("cpus", "CPUs", &machine.cpus.to_string(), ""));
    if let Some(memory) = &tuning.memory {
        body.push_str(&html::figure(
            "worst_case",
            "worst-case memory of the proposal",
            &html::bytes(memory.worst_case_bytes as f64),
            "",
        ));
    }
    body.push_str("</div>");
    let rows: Vec<Vec<String>> = tuning
        .recommendations
        .iter()
        .map(|r| {
            let scope = match &r.scope {
                brisk_tune::Scope::Server => "server".to_string(),
                brisk_tune::Scope::Role(role) => format!("role {role}"),
                brisk_tune::Scope::Redis => "redis".to_string(),
                brisk_tune::Scope::Table(table) => format!("table {table}"),
                brisk_tune::Scope::Proxy => "brisk proxy".to_string(),
            };
            vec![
                format!("<code>{}</code>", esc(&r.setting)),
                esc(&scope),
                esc(r.current.as_deref().unwrap_or("")),
                format!("<strong>{}</strong>", esc(&r.proposed)),
                esc(match r.takes {
                    brisk_tune::Takes::Restart => "restart",
                    brisk_tune::Takes::Reload => "reload",
                }),
                esc(&format!("{:?}", r.confidence).to_lowercase()),
                esc(&r.why),
            ]
        })
        .collect();
    body.push_str("<h2>Recommendations (brisk tune)</h2>");
    if rows.is_empty() {
        body.push_str(&html::note("Nothing to change."));
    } else {
        body.push_str(&html::table(
            "tune",
            &[
                "Setting",
                "Scope",
                "Now",
                "Proposed",
                "Takes effect",
                "Confidence",
                "Why",
            ],
            &rows,
        ));
    }
    for note in &tuning.notes {
        body.push_str(&html::note(note));
    }
    body.push_str(&html::note("brisk tune URL --format alter-system writes these as SQL, with a rollback file; this page changes nothing."));
    Ok(frame(&app, "Tune", "/tune", 0, &body))
}

async fn redis(State(app): Shared) -> PageResult {
    let Some(target) = &app.options.redis else {
        return Ok(frame(
            &app,
            "Redis",
            "/redis",
            0,
            &html::note("Start brisk serve with --redis redis://... to see a Redis here."),
        ));
    };
    let node = brisk_redis::NodeState::read(target)
        .await
        .map_err(|e| PageError(e.to_string()))?;
    let info_f64 = |name: &str| node.info.get(name).and_then(|v| v.parse::<f64>().ok());
    let mut body = String::from("<div class=\"figures\">");
    body.push_str(&html::figure(
        "memory",
        "used memory",
        &info_f64("used_memory").map_or("–".into(), html::bytes),
        "",
    ));
    let maxmemory = node
        .config
        .get("maxmemory")
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    body.push_str(&html::figure(
        "maxmemory",
        "maxmemory",
        &if maxmemory > 0.0 {
            html::bytes(maxmemory)
        } else {
            "unlimited".into()
        },
        "",
    ));
    let hit = match (info_f64("keyspace_hits"), info_f64("keyspace_misses")) {
        (Some(h), Some(m)) if h + m > 0.0 => Some(100.0 * h / (h + m)),
        _ => None,
    };
    body.push_str(&html::figure(
        "hit_ratio",
        "hit ratio since start",
        &hit.map_or("–".into(), html::pct),
        "",
    ));
    let (keys, expires) = node.keys();
    body.push_str(&html::figure("keys", "keys", &html::count(keys as f64), ""));
    body.push_str(&html::figure(
        "no_ttl",
        "keys without a TTL",
        &html::count(keys.saturating_sub(expires) as f64),
        "",
    ));
    body.push_str(&html::figure(
        "ops",
        "commands per second now",
        &info_f64("instantaneous_ops_per_sec").map_or("–".into(), html::count),
        "",
    ));
    body.push_str("</div>");
    body.push_str(&charts(&app, &["redis_memory", "redis_hits"]));
    match app.redis_analysis().await {
        Some(Ok(report)) => {
            let section = |title: &str, id: &str, checks: &[&str]| {
                let findings: Vec<&Finding> = report
                    .findings
                    .iter()
                    .filter(|f| checks.contains(&f.check.as_str()))
                    .collect();
                format!("<h2>{}</h2>{}", esc(title), findings_table(id, &findings))
            };
            body.push_str(&section(
                "Key patterns (sampled)",
                "key_patterns",
                &["redis.keyspace"],
            ));
            body.push_str(&section(
                "Slow log (commands and key patterns, no values)",
                "slowlog",
                &["redis.slowlog"],
            ));
            let others: Vec<&Finding> = report
                .findings
                .iter()
                .filter(|f| f.check != "redis.keyspace" && f.check != "redis.slowlog")
                .collect();
            body.push_str("<h2>What brisk redis finds</h2>");
            body.push_str(&findings_table("redis_findings", &others));
        }
        Some(Err(e)) => body.push_str(&html::error_box(&e.to_string())),
        None => {}
    }
    Ok(frame(&app, "Redis", "/redis", REFRESH_SECS, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_names_pass_without_a_token() {
        for host in [
            "127.0.0.1:8080",
            "localhost:8080",
            "[::1]:8080",
            "localhost",
            "127.0.0.2",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "evil.example:8080",
            "10.0.0.1:8080",
            "",
            "[fe80::1]:80",
            "localhost.evil.example",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn percent_decoding_survives_broken_escapes() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%+1%é"), "% 1%é");
    }

    #[test]
    fn the_highest_parameter_counts() {
        assert_eq!(parameter_count("SELECT $1, $12 FROM t WHERE a = $3"), 12);
        assert_eq!(parameter_count("SELECT 1"), 0);
        assert_eq!(parameter_count("SELECT '$'"), 0);
    }
}
