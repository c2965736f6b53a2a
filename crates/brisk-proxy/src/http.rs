//! The HTTP listener of `http_listen`: `GET /metrics`, `/health/live`, `/health/ready` and
//! `/health/detailed`, one request per connection.
//!
//! It serves monitoring, not the public: each connection gets one request of at most
//! [`MAX_REQUEST`] bytes, read within [`READ_TIMEOUT`], answered with `Connection: close`.
//! Requests are parsed by `httparse`; anything it rejects gets a 400, and nothing a client
//! sends can panic the listener. At most [`MAX_CONNECTIONS`] are served at once; more are
//! closed at once, so slow clients cannot pile up.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::health::{PoolReport, SAMPLE_PERIOD};
use crate::proxy::Shared;

/// The largest request head read: a scrape's is about 200 bytes.
const MAX_REQUEST: usize = 8 * 1024;

/// How long a client has to send its request, and to read the answer.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections served at once: a few scrapers and probes need a handful.
const MAX_CONNECTIONS: usize = 64;

/// Serves until the task is aborted (the proxy does at the end of its shutdown), which also
/// aborts the connections in flight.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = listener.accept().await;
        while connections.try_join_next().is_some() {}
        match accepted {
            Ok((tcp, _)) if connections.len() < MAX_CONNECTIONS => {
                connections.spawn(handle(tcp, shared.clone()));
            }
            Ok((tcp, peer)) => {
                tracing::warn!(%peer, "too many HTTP connections; closing this one");
                drop(tcp);
            }
            Err(e) => {
                tracing::warn!(error = %e, "HTTP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// An answer: status, content type, body.
struct Response {
    status: u16,
    content_type: &'static str,
    body: String,
    /// `Allow` header, for 405.
    allow: bool,
}

impl Response {
    fn text(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
            allow: false,
        }
    }

    fn json(status: u16, value: &impl Serialize) -> Response {
        match serde_json::to_string_pretty(value) {
            Ok(mut body) => {
                body.push('\n');
                Response {
                    status,
                    content_type: "application/json",
                    body,
                    allow: false,
                }
            }
            Err(e) => Response::text(500, format!("cannot write JSON: {e}\n")),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            431 => "Request Header Fields Too Large",
            503 => "Service Unavailable",
            _ => "Internal Server Error",
        };
        let mut head = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n",
            self.status,
            self.content_type,
            self.body.len()
        );
        if self.allow {
            head.push_str("Allow: GET\r\n");
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(self.body.as_bytes());
        bytes
    }
}

async fn handle(mut tcp: TcpStream, shared: Arc<Shared>) {
    let response = match tokio::time::timeout(READ_TIMEOUT, read_request(&mut tcp)).await {
        Ok(Ok(Request::Get(path))) => route(&path, &shared),
        Ok(Ok(Request::OtherMethod)) => Response {
            allow: true,
            ..Response::text(405, "only GET is served\n")
        },
        Ok(Ok(Request::Malformed(why))) => Response::text(400, format!("{why}\n")),
        Ok(Ok(Request::TooLarge)) => Response::text(
            431,
            format!("the request head is larger than {MAX_REQUEST} bytes\n"),
        ),
        // The client left or the connection broke: nobody to answer.
        Ok(Err(_)) => return,
        Err(_) => Response::text(408, "no whole request within 5 s\n"),
    };
    let write = async {
        tcp.write_all(&response.bytes()).await?;
        tcp.shutdown().await
    };
    let _ = tokio::time::timeout(WRITE_TIMEOUT, write).await;
}

/// What a client asked.
enum Request {
    Get(String),
    OtherMethod,
    Malformed(String),
    TooLarge,
}

/// Reads until the request head is whole (a body, if any, is ignored).
async fn read_request(tcp: &mut TcpStream) -> std::io::Result<Request> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = tcp.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => {
                let path = request.path.unwrap_or("/");
                return Ok(match request.method {
                    Some("GET") => Request::Get(path.to_string()),
                    _ => Request::OtherMethod,
                });
            }
            Ok(httparse::Status::Partial) if buf.len() >= MAX_REQUEST => {
                return Ok(Request::TooLarge)
            }
            Ok(httparse::Status::Partial) => {}
            Err(httparse::Error::TooManyHeaders) => return Ok(Request::TooLarge),
            Err(e) => return Ok(Request::Malformed(format!("malformed request: {e}"))),
        }
    }
}

fn route(target: &str, shared: &Shared) -> Response {
    let path = target.split(['?', '#']).next().unwrap_or(target);
    match path {
        "/metrics" => {
            let mut body = String::with_capacity(16 * 1024);
            crate::metrics::write_metrics(&mut body, shared);
            Response {
                status: 200,
                // Prometheus' text exposition format, version 0.0.4.
                content_type: "text/plain; version=0.0.4; charset=utf-8",
                body,
                allow: false,
            }
        }
        "/health/live" => Response::text(200, "live\n"),
        "/health/ready" => {
            let reasons = shared.health().not_ready_reasons(shared);
            if reasons.is_empty() {
                Response::text(200, "ready\n")
            } else {
                Response::text(503, reasons.join("\n") + "\n")
            }
        }
        // A report, not a probe: 200 whatever it says (its `ready` field is the verdict).
        "/health/detailed" => Response::json(200, &Detailed::of(shared)),
        _ => Response::text(
            404,
            "not found: try /metrics, /health/live, /health/ready or /health/detailed\n",
        ),
    }
}

/// The body of `/health/detailed`.
#[derive(Serialize)]
struct Detailed {
    ready: bool,
    /// Why not ready; empty when ready.
    reasons: Vec<String>,
    version: &'static str,
    uptime_seconds: f64,
    /// The window each pool's summary, score and advice cover at most, and its sampling.
    window_seconds: f64,
    sample_period_seconds: f64,
    upstreams: Vec<Upstream>,
    pools: Vec<PoolReport>,
    /// The result cache, when enabled: `store_up` false means it is bypassed.
    #[serde(skip_serializing_if = "Option::is_none")]
    cache: Option<crate::cache::Health>,
}

#[derive(Serialize)]
struct Upstream {
    database: String,
    up: bool,
    checked_seconds_ago: f64,
    error: Option<String>,
}

impl Detailed {
    fn of(shared: &Shared) -> Detailed {
        let config = shared.config();
        let health = shared.health();
        let reasons = health.not_ready_reasons(shared);
        let upstreams = health
            .upstreams()
            .into_iter()
            .map(|(database, status)| Upstream {
                database,
                up: status.error.is_none(),
                checked_seconds_ago: status.checked.elapsed().as_secs_f64(),
                error: status.error,
            })
            .collect();
        let pools = shared
            .pools()
            .iter()
            .map(|pool| health.report(pool, config.min_pool_size, config.pool_health_window))
            .collect();
        Detailed {
            ready: reasons.is_empty(),
            reasons,
            version: env!("CARGO_PKG_VERSION"),
            uptime_seconds: shared.uptime().as_secs_f64(),
            window_seconds: config.pool_health_window.as_secs_f64(),
            sample_period_seconds: SAMPLE_PERIOD.as_secs_f64(),
            upstreams,
            pools,
            cache: shared.cache.as_deref().map(crate::cache::Health::of),
        }
    }
}
