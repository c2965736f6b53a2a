//! HTTP operations: a request as a script step ([`HttpStep`]) and the client that sends it
//! ([`HttpClient`]).
//!
//! The client is hyper-util's pooled keep-alive client over HTTP/1.1, shared by the run's
//! workers. Each worker has one request in flight at a time, so the pool never holds more
//! connections per host than the run has connections (`--connections`, or the users of
//! the closed model): that is the pool's size. `https://` goes through rustls (ring, as
//! brisk-pg's TLS) with the operating system's root certificates (`SSL_CERT_FILE` and
//! `SSL_CERT_DIR` are honoured, as by OpenSSL).
//!
//! Failures are counted by class, in the place SQL operations put their SQLSTATE:
//! `connect` (no TCP or TLS connection), `timeout` (no whole response within the step's
//! timeout), `HTTP 503` (a status the step does not expect) and `io` (the connection broke
//! mid-request). The timeout covers sending the request and reading the whole body, so a
//! stall shows in the latency until the timeout, and as a `timeout` error after.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::expr::{Value, Variables};
use crate::script::Part;
use crate::BenchError;

/// How long one request may take, sending to the last byte of the body, when nothing
/// says: k6's default is 60 s; half that still lets a stall of several seconds show as
/// latency, while a server that never answers does not hold a connection for a minute.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the check before the run waits for a TCP (and TLS) connection.
const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(5);

/// The error classes of HTTP operations (see the module's documentation).
pub const CONNECT_ERROR: &str = "connect";
pub const TIMEOUT_ERROR: &str = "timeout";
pub const IO_ERROR: &str = "io";

/// One HTTP request of a script. `{name}` in the URL, a header value or the body is the
/// variable's value (percent-encoded in the URL, as it is elsewhere).
#[derive(Debug, Clone)]
pub struct HttpStep {
    pub method: Method,
    /// `scheme://host:port`, literal: the pool, the check before the run and the result's
    /// target are per origin.
    pub origin: String,
    pub url: Vec<Part>,
    pub headers: Vec<(HeaderName, Vec<Part>)>,
    pub body: Option<Vec<Part>>,
    /// The statuses that count as success; empty means any 2xx.
    pub expect: Vec<u16>,
    pub timeout: Duration,
    pub line: usize,
}

/// What an HTTP request is made of, as written in a scenario or on the command line.
#[derive(Debug, Clone, Default)]
pub struct HttpSpec {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub expect: Vec<u16>,
    pub timeout: Option<Duration>,
}

impl HttpStep {
    /// Checks and reads `spec`; `vars` are the variables `{name}` may use. The message of
    /// an error is one line, without the file and line (the caller adds them).
    pub fn new(spec: &HttpSpec, vars: &Variables, line: usize) -> Result<HttpStep, String> {
        let method = Method::from_bytes(spec.method.trim().to_ascii_uppercase().as_bytes())
            .map_err(|_| format!("\"{}\" is not an HTTP method", spec.method))?;
        let url = template(&spec.url, vars)?;
        let origin = origin(&spec.url, &url)?;
        // The URL with every variable as "1" must parse: a typo shows now, not per request.
        let sample: String = url
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.as_str(),
                Part::Var(_) => "1",
            })
            .collect();
        Uri::try_from(sample.as_str()).map_err(|e| format!("url \"{}\": {e}", spec.url))?;
        let mut headers = Vec::new();
        for (name, value) in &spec.headers {
            let name = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| format!("\"{name}\" is not a header name"))?;
            headers.push((name, template(value, vars)?));
        }
        let body = spec
            .body
            .as_deref()
            .map(|b| template(b, vars))
            .transpose()?;
        for status in &spec.expect {
            if !(100..=599).contains(status) {
                return Err(format!("expected status {status} is not an HTTP status"));
            }
        }
        Ok(HttpStep {
            method,
            origin,
            url,
            headers,
            body,
            expect: spec.expect.clone(),
            timeout: spec.timeout.unwrap_or(DEFAULT_TIMEOUT),
            line,
        })
    }

    /// Values go into a JSON body escaped: the body is JSON unless a Content-Type header
    /// names a type without "json".
    fn body_encoding(&self) -> Encoding {
        let json = self
            .headers
            .iter()
            .find(|(name, _)| name == CONTENT_TYPE)
            .is_none_or(|(_, parts)| {
                parts
                    .iter()
                    .any(|p| matches!(p, Part::Text(t) if t.to_ascii_lowercase().contains("json")))
            });
        if json {
            Encoding::Json
        } else {
            Encoding::Raw
        }
    }

    /// The variable slots the request uses.
    pub fn slots(&self) -> impl Iterator<Item = usize> + '_ {
        let parts = self
            .url
            .iter()
            .chain(self.headers.iter().flat_map(|(_, v)| v.iter()))
            .chain(self.body.iter().flatten());
        parts.filter_map(|p| match p {
            Part::Var(slot) => Some(*slot),
            Part::Text(_) => None,
        })
    }

    /// A short name for results: the method and the URL's path as written.
    pub fn label(&self) -> String {
        let written: String = self
            .url
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.clone(),
                Part::Var(_) => "{}".to_string(),
            })
            .collect();
        let path = written.strip_prefix(&self.origin).unwrap_or(&written);
        let path = if path.is_empty() { "/" } else { path };
        format!("{} {path}", self.method)
    }

    fn expected(&self, status: u16) -> bool {
        if self.expect.is_empty() {
            (200..300).contains(&status)
        } else {
            self.expect.contains(&status)
        }
    }
}

/// Cuts `text` at its `{name}` references to defined variables. `{` not followed by a
/// name and `}` (JSON's braces) is text; `{name}` with a name no parameter, `--define` or
/// built-in defines is an error, since it can only be a typo.
fn template(text: &str, vars: &Variables) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        literal.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..name_len];
        let closed = after[name_len..].starts_with('}');
        let is_name = !name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit());
        if !(closed && is_name) {
            literal.push('{');
            rest = after;
            continue;
        }
        let slot = vars.slot(name).ok_or_else(|| {
            format!("{{{name}}}: no parameter, --define or built-in variable is named \"{name}\"")
        })?;
        if !literal.is_empty() {
            parts.push(Part::Text(std::mem::take(&mut literal)));
        }
        parts.push(Part::Var(slot));
        rest = &after[name_len + 1..];
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        parts.push(Part::Text(literal));
    }
    Ok(parts)
}

/// The literal `scheme://authority` a URL starts with.
fn origin(written: &str, url: &[Part]) -> Result<String, String> {
    let Some(Part::Text(first)) = url.first() else {
        return Err(format!(
            "url \"{written}\" must start with http:// or https:// and a host"
        ));
    };
    let (scheme, rest) = first.split_once("://").ok_or_else(|| {
        format!("url \"{written}\" must start with http:// or https:// and a host")
    })?;
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "url \"{written}\": the scheme must be http or https"
        ));
    }
    let end = rest.find(['/', '?', '#']);
    // The host must be written out: a variable in it would split the pool and the check
    // before the run across hosts nobody named.
    if end.is_none() && url.len() > 1 {
        return Err(format!(
            "url \"{written}\": the host cannot hold a variable"
        ));
    }
    let authority = &rest[..end.unwrap_or(rest.len())];
    if authority.is_empty() {
        return Err(format!("url \"{written}\" has no host"));
    }
    Ok(format!("{scheme}://{authority}"))
}

/// Writes `value` into a URL: every byte but RFC 3986's unreserved ones percent-encoded,
/// so a value with a space, `/`, `?` or `&` stays one value.
fn percent_encode(value: &str, out: &mut String) {
    use std::fmt::Write;
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

/// How a value is written into its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// Percent-encoded (the URL).
    Url,
    /// Escaped as inside a JSON string (`"` as `\"`, `\` as `\\`, control characters as
    /// `\uXXXX`), so a value stays one value whether the template quotes it or not.
    Json,
    /// As it is (headers, non-JSON bodies).
    Raw,
}

fn render(parts: &[Part], vars: &[Value], encoding: Encoding, out: &mut String) {
    out.clear();
    for part in parts {
        match part {
            Part::Text(text) => out.push_str(text),
            Part::Var(slot) => {
                let value = vars.get(*slot).cloned().unwrap_or_default().to_string();
                match encoding {
                    Encoding::Url => percent_encode(&value, out),
                    Encoding::Json => json_escape(&value, out),
                    Encoding::Raw => out.push_str(&value),
                }
            }
        }
    }
}

fn json_escape(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                use std::fmt::Write;
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

/// How one request ended, for the recorder.
pub enum HttpOutcome {
    Ok,
    Failed { code: String, message: String },
}

fn failed(code: &str, message: impl Into<String>) -> HttpOutcome {
    HttpOutcome::Failed {
        code: code.to_string(),
        message: message.into(),
    }
}

/// The run's HTTP client: one keep-alive pool shared by the workers (cheap to clone).
#[derive(Clone)]
pub struct HttpClient {
    client: Client<Connector, Full<Bytes>>,
    connector: Connector,
}

impl HttpClient {
    /// A client keeping up to `pool_size` idle connections per origin. The TLS setup (root
    /// certificates) is read only when some request is `https`.
    /// `ca` is a PEM file of certificates trusted besides the system's (`--http-ca`).
    pub fn new(
        pool_size: usize,
        https: bool,
        ca: Option<&std::path::Path>,
    ) -> Result<HttpClient, BenchError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        // Latency is what is measured: no Nagle delay on small requests.
        http.set_nodelay(true);
        http.set_connect_timeout(Some(PREFLIGHT_TIMEOUT));
        let tls = if https {
            Some(tls_connector(ca)?)
        } else {
            None
        };
        let connector = Connector { http, tls };
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(pool_size.max(1))
            .build(connector.clone());
        Ok(HttpClient { client, connector })
    }

    /// Opens one connection to `origin` before the run, so that an unreachable target fails
    /// at once with one line instead of as a run of `connect` errors.
    pub async fn check(&self, origin: &str) -> Result<(), BenchError> {
        let unreachable = |reason: String| BenchError::Unreachable {
            target: origin.to_string(),
            reason,
        };
        let uri = Uri::try_from(origin).map_err(|e| unreachable(e.to_string()))?;
        let mut connector = self.connector.clone();
        let connecting = tower_service::Service::call(&mut connector, uri);
        match tokio::time::timeout(PREFLIGHT_TIMEOUT, connecting).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(unreachable(chain(e.as_ref()))),
            Err(_) => Err(unreachable(format!(
                "no connection within {} s",
                PREFLIGHT_TIMEOUT.as_secs()
            ))),
        }
    }

    /// Sends `step` with the variables' current values and reads the whole response.
    pub async fn execute(&self, step: &HttpStep, vars: &[Value], text: &mut String) -> HttpOutcome {
        render(&step.url, vars, Encoding::Url, text);
        let uri = match Uri::try_from(text.as_str()) {
            Ok(uri) => uri,
            Err(e) => return failed("script", format!("line {}: url {text}: {e}", step.line)),
        };
        let mut request = Request::builder().method(step.method.clone()).uri(uri);
        let mut has_content_type = false;
        for (name, value) in &step.headers {
            render(value, vars, Encoding::Raw, text);
            match HeaderValue::from_str(text) {
                Ok(value) => {
                    has_content_type |= name == CONTENT_TYPE;
                    request = request.header(name, value);
                }
                Err(_) => {
                    return failed(
                        "script",
                        format!(
                            "line {}: header {name}: \"{text}\" is not a header value",
                            step.line
                        ),
                    )
                }
            }
        }
        let body = match &step.body {
            Some(parts) => {
                render(parts, vars, step.body_encoding(), text);
                if !has_content_type {
                    // Bodies are JSON unless a Content-Type header says otherwise.
                    request = request.header(CONTENT_TYPE, "application/json");
                }
                Full::new(Bytes::from(text.clone()))
            }
            None => Full::new(Bytes::new()),
        };
        let request = match request.body(body) {
            Ok(request) => request,
            Err(e) => return failed("script", format!("line {}: {e}", step.line)),
        };
        let exchange = async {
            let response = match self.client.request(request).await {
                Ok(response) => response,
                Err(e) if e.is_connect() => return failed(CONNECT_ERROR, chain(&e)),
                Err(e) => return failed(IO_ERROR, chain(&e)),
            };
            let status = response.status();
            // The whole body is read (and dropped) before the operation is done: it is part
            // of what the user waits for, and the connection goes back to the pool only then.
            let mut body = response.into_body();
            while let Some(frame) = body.frame().await {
                if let Err(e) = frame {
                    return failed(IO_ERROR, chain(&e));
                }
            }
            if step.expected(status.as_u16()) {
                HttpOutcome::Ok
            } else {
                failed(
                    &format!("HTTP {}", status.as_u16()),
                    status.canonical_reason().unwrap_or("unexpected status"),
                )
            }
        };
        match tokio::time::timeout(step.timeout, exchange).await {
            Ok(outcome) => outcome,
            Err(_) => failed(
                TIMEOUT_ERROR,
                format!("no whole response within {:?}", step.timeout),
            ),
        }
    }
}

/// An error with its causes, on one line.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text.replace('\n', " ")
}

fn tls_connector(ca: Option<&std::path::Path>) -> Result<tokio_rustls::TlsConnector, BenchError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = ca {
        let bad = |reason: String| {
            BenchError::Argument(format!("--http-ca {}: {reason}", path.display()))
        };
        let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let certs: Vec<_> = rustls_pemfile::certs(&mut bytes.as_slice())
            .collect::<Result<_, _>>()
            .map_err(|e| bad(format!("not a PEM file: {e}")))?;
        if certs.is_empty() {
            return Err(bad(
                "no certificate in it (a PEM file with BEGIN CERTIFICATE)".into(),
            ));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| bad(e.to_string()))?;
        }
    }
    if roots.is_empty() {
        return Err(BenchError::Argument(
            "https: no root certificate was found (set SSL_CERT_FILE to a CA bundle)".into(),
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| BenchError::Internal(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // The client speaks HTTP/1.1 only; saying so keeps a server from choosing h2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// TCP, then TLS for `https`.
#[derive(Clone)]
struct Connector {
    http: HttpConnector,
    tls: Option<tokio_rustls::TlsConnector>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<Stream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let https = uri.scheme_str() == Some("https");
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let connecting = self.http.call(uri);
        let tls = self.tls.clone();
        Box::pin(async move {
            let tcp = connecting.await?.into_inner();
            if !https {
                return Ok(TokioIo::new(Stream::Plain(tcp)));
            }
            let tls = tls.ok_or("https was not set up for this run")?;
            let name = rustls::pki_types::ServerName::try_from(host)?;
            let stream = tls.connect(name, tcp).await?;
            Ok(TokioIo::new(Stream::Tls(Box::new(stream))))
        })
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Variables {
        let mut vars = Variables::default();
        vars.define("id");
        vars.define("name");
        vars
    }

    fn spec(url: &str) -> HttpSpec {
        HttpSpec {
            method: "get".into(),
            url: url.into(),
            ..HttpSpec::default()
        }
    }

    #[test]
    fn templates_fill_variables_and_keep_json_braces() {
        let vars = vars();
        let mut step =
            HttpStep::new(&spec("http://api.local:8080/items/{id}?q={name}"), &vars, 3).unwrap();
        assert_eq!(step.origin, "http://api.local:8080");
        assert_eq!(step.label(), "GET /items/{}?q={}");
        assert_eq!(step.slots().count(), 2);
        let values = vec![Value::Int(42), Value::Text("a b&c/d".into())];
        let mut out = String::new();
        render(&step.url, &values, Encoding::Url, &mut out);
        assert_eq!(out, "http://api.local:8080/items/42?q=a%20b%26c%2Fd");
        step.body =
            Some(template(r#"{"id": {id}, "tags": {}, "x": {"y": "{name}"}}"#, &vars).unwrap());
        render(
            step.body.as_ref().unwrap(),
            &values,
            step.body_encoding(),
            &mut out,
        );
        assert_eq!(out, r#"{"id": 42, "tags": {}, "x": {"y": "a b&c/d"}}"#);
        let values = vec![Value::Int(1), Value::Text("say \"hi\"\\\n\u{1}".into())];
        render(
            step.body.as_ref().unwrap(),
            &values,
            step.body_encoding(),
            &mut out,
        );
        assert_eq!(
            out,
            r#"{"id": 1, "tags": {}, "x": {"y": "say \"hi\"\\\n\u0001"}}"#
        );
        // A body of another type takes the value as it is.
        step.headers
            .push((CONTENT_TYPE, template("text/plain", &vars).unwrap()));
        render(
            step.body.as_ref().unwrap(),
            &values,
            step.body_encoding(),
            &mut out,
        );
        assert!(out.contains("say \"hi\""));
    }

    #[test]
    fn mistakes_are_one_line() {
        let vars = vars();
        for (url, needle) in [
            ("ftp://x/", "scheme must be http or https"),
            ("/items", "must start with http"),
            ("{id}/items", "must start with http"),
            ("http://host{id}", "host cannot hold a variable"),
            ("http:///items", "has no host"),
            (
                "http://x/items/{nope}",
                "no parameter, --define or built-in variable is named \"nope\"",
            ),
            ("http://x/a b", "url \"http://x/a b\""),
        ] {
            let error = HttpStep::new(&spec(url), &vars, 1).unwrap_err();
            assert!(error.contains(needle), "{url}: {error}");
            assert_eq!(error.lines().count(), 1);
        }
        let mut bad_method = spec("http://x/");
        bad_method.method = "GE T".into();
        assert!(HttpStep::new(&bad_method, &vars, 1)
            .unwrap_err()
            .contains("not an HTTP method"));
        let mut bad_status = spec("http://x/");
        bad_status.expect = vec![42];
        assert!(HttpStep::new(&bad_status, &vars, 1)
            .unwrap_err()
            .contains("not an HTTP status"));
        let mut bad_header = spec("http://x/");
        bad_header.headers = vec![("Bad Header".into(), "v".into())];
        assert!(HttpStep::new(&bad_header, &vars, 1)
            .unwrap_err()
            .contains("not a header name"));
    }

    #[test]
    fn expected_statuses() {
        let vars = vars();
        let mut step = HttpStep::new(&spec("http://x/"), &vars, 1).unwrap();
        assert!(
            step.expected(200) && step.expected(204) && !step.expected(302) && !step.expected(503)
        );
        step.expect = vec![404];
        assert!(step.expected(404) && !step.expected(200));
    }
}
