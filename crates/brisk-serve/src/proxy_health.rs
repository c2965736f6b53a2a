//! The proxy's pool health score and sizing advice, as the proxy computes them: its sampler
//! (crates/brisk-proxy/src/health.rs) keeps each pool's window and serves the score and the
//! Little's-law advice on `/health/detailed` of its `http_listen`. The console's `SHOW
//! CONFIG` says where that is; this reads it, so the formula lives in one place.

use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A slow or silent listener must not hold the page.
const TIMEOUT: Duration = Duration::from_secs(2);
/// `/health/detailed` of a proxy with a few hundred pools is well under this.
const MAX_BODY: usize = 4 * 1024 * 1024;

#[derive(Debug, Deserialize)]
pub struct Detailed {
    pub window_seconds: f64,
    pub pools: Vec<PoolReport>,
}

#[derive(Debug, Deserialize)]
pub struct PoolReport {
    pub database: String,
    pub user: String,
    pub pool_size: usize,
    pub window: Window,
    pub health: Score,
    pub recommendations: Vec<Recommendation>,
}

#[derive(Debug, Deserialize)]
pub struct Window {
    pub seconds: f64,
    pub transactions_per_second: f64,
    pub utilization_mean: f64,
}

#[derive(Debug, Deserialize)]
pub struct Score {
    pub score: u32,
}

#[derive(Debug, Deserialize)]
pub struct Recommendation {
    pub default_pool_size: usize,
    pub text: String,
}

/// Where `/health/detailed` is, from `SHOW CONFIG`'s `http_listen` (an unspecified address
/// is reached at the console's own host). `None`: the proxy has no HTTP listener.
pub fn address(http_listen: &str, console_host: &str) -> Option<String> {
    let listen = http_listen.trim();
    if listen.is_empty() {
        return None;
    }
    let (host, port) = listen.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    let host = match host.trim_matches(|c| c == '[' || c == ']') {
        "" | "0.0.0.0" | "::" if console_host.contains(':') && !console_host.starts_with('[') => {
            format!("[{console_host}]")
        }
        "" | "0.0.0.0" | "::" => console_host.to_string(),
        _ => host.to_string(),
    };
    Some(format!("{host}:{port}"))
}

/// GETs `/health/detailed` from `address` (HTTP/1.1, one request, `Connection: close`, as
/// the proxy's listener serves).
pub async fn fetch(address: &str) -> Result<Detailed, String> {
    let request = async {
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|e| format!("connecting to {address}: {e}"))?;
        let head = format!(
            "GET /health/detailed HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
        );
        stream
            .write_all(head.as_bytes())
            .await
            .map_err(|e| format!("asking {address}: {e}"))?;
        let mut body = Vec::new();
        (&mut stream)
            .take(MAX_BODY as u64 + 1)
            .read_to_end(&mut body)
            .await
            .map_err(|e| format!("reading {address}: {e}"))?;
        Ok::<Vec<u8>, String>(body)
    };
    let response = tokio::time::timeout(TIMEOUT, request)
        .await
        .map_err(|_| format!("{address} did not answer within {} s", TIMEOUT.as_secs()))??;
    if response.len() > MAX_BODY {
        return Err(format!(
            "{address}: the answer is larger than {MAX_BODY} bytes"
        ));
    }
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{address}: not an HTTP answer"))?;
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        return Err(format!("{address}/health/detailed answered {status}"));
    }
    serde_json::from_str(body).map_err(|e| format!("{address}/health/detailed: {e}"))
}

/// The sizing line of one pool: the proxy's advice, or that it advises no change.
pub fn sizing(pool: &PoolReport) -> String {
    match pool.recommendations.first() {
        Some(r) => format!(
            "default_pool_size {} → {}: {}",
            pool.pool_size, r.default_pool_size, r.text
        ),
        None => format!(
            "default_pool_size {} fits: no change advised over the last {:.0} s ({:.1} transactions/s, {:.0}% of the pool in use on average)",
            pool.pool_size,
            pool.window.seconds,
            pool.window.transactions_per_second,
            pool.window.utilization_mean * 100.0
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listener_is_reached_at_the_consoles_host_when_it_listens_everywhere() {
        assert_eq!(
            address("127.0.0.1:9187", "db1").as_deref(),
            Some("127.0.0.1:9187")
        );
        assert_eq!(address("0.0.0.0:9187", "db1").as_deref(), Some("db1:9187"));
        assert_eq!(address("[::]:9187", "db1").as_deref(), Some("db1:9187"));
        assert_eq!(address("[::1]:9187", "db1").as_deref(), Some("[::1]:9187"));
        assert_eq!(
            address("0.0.0.0:9187", "::1").as_deref(),
            Some("[::1]:9187")
        );
        assert_eq!(address("", "db1"), None);
        assert_eq!(address("nonsense", "db1"), None);
    }
}
