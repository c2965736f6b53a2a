//! A dashboard over the sandbox's demo database, and a small HTTP client for the tests.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

use brisk_pg::conninfo::ConnInfo;
use brisk_sandbox::{demo, Postgres};
use brisk_serve::ServeOptions;

/// One PostgreSQL with the demo loaded, shared by the tests of a binary.
pub fn demo_postgres() -> (&'static Postgres, String) {
    static DEMO: OnceLock<(&'static Postgres, String)> = OnceLock::new();
    let (pg, url) = DEMO.get_or_init(|| {
        let pg = Postgres::builder()
            .start_for_process()
            .expect("sandbox PostgreSQL");
        let database = demo::load(pg).expect("demo database");
        (pg, pg.url(database))
    });
    (pg, url.clone())
}

pub fn options(url: &str) -> ServeOptions {
    let mut options = ServeOptions::new(ConnInfo::from_env_and_str(Some(url)).unwrap());
    options.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    options
}

/// A running dashboard; dropping it stops the server.
pub struct Dashboard {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Dashboard {
    pub fn start(options: ServeOptions) -> Dashboard {
        Dashboard::try_start(options).unwrap()
    }

    pub fn try_start(options: ServeOptions) -> Result<Dashboard, brisk_serve::ServeError> {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, bound) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                match brisk_serve::bind(options).await {
                    Ok(server) => {
                        ready.send(Ok(server.local_addr().unwrap())).unwrap();
                        server
                            .run(async {
                                let _ = stopped.await;
                            })
                            .await
                            .unwrap();
                    }
                    Err(e) => ready.send(Err(e)).unwrap(),
                }
            });
        });
        let addr = bound.recv().unwrap()?;
        Ok(Dashboard {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], "")
    }

    pub fn post(&self, path: &str, form: &str) -> Response {
        self.request(
            "POST",
            path,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            form,
        )
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Response {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut request = format!(
            "{method} {path} HTTP/1.0\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        if !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("host"))
        {
            request.push_str(&format!("Host: {}\r\n", self.addr));
        }
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream.write_all(request.as_bytes()).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        Response::parse(&raw)
    }

    /// Waits until the history holds at least `samples` samples (the overview says so).
    pub fn wait_for_samples(&self, samples: usize) {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let body = self.get("/connections").body;
            let count = body
                .split("<p class=\"note\">")
                .filter_map(|p| p.split(" samples").next()?.trim().parse::<usize>().ok())
                .next()
                .unwrap_or(0);
            if count >= samples {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the history did not reach {samples} samples"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    fn parse(raw: &[u8]) -> Response {
        let text = String::from_utf8_lossy(raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
            .collect::<Vec<_>>();
        // HTTP/1.0 requests: the body is everything until the server closes.
        let body = body.to_string();
        Response {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The number in `data-figure="id"`'s value.
pub fn figure(body: &str, id: &str) -> Option<String> {
    let start = body.find(&format!("data-figure=\"{id}\""))?;
    let rest = &body[start..];
    let value = rest
        .split("<span class=\"value\">")
        .nth(1)?
        .split("</span>")
        .next()?;
    Some(value.to_string())
}

/// The data-points of every drawn series in a page.
pub fn series_points(body: &str) -> Vec<usize> {
    body.split("class=\"series\"")
        .skip(1)
        .filter_map(|s| {
            let tag = s.split('>').next()?;
            tag.split("data-points=\"")
                .nth(1)?
                .split('"')
                .next()?
                .parse()
                .ok()
        })
        .collect()
}
