//! `brisk proxy` under faults: the server restarting under load, a thousand clients at once,
//! and clients that send garbage or nothing at all.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use brisk_sandbox::Postgres;

mod common;

use common::TrustProxy as Proxy;

fn runtime() -> tokio::runtime::Runtime {
    common::runtime(2)
}

#[test]
fn a_server_restart_under_load_gives_clean_errors_and_recovers_within_a_second() {
    let pg = Postgres::start().unwrap();
    let proxy = Proxy::start(&pg, "default_pool_size = 4");
    let url = proxy.url("postgres");
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed, hung) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let rt = runtime();
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (url, stop, ok, failed, hung) = (
                url.clone(),
                stop.clone(),
                ok.clone(),
                failed.clone(),
                hung.clone(),
            );
            rt.spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let attempt = async {
                        let (client, connection) =
                            tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
                        tokio::spawn(connection);
                        for _ in 0..20 {
                            client.query_one("SELECT 1", &[]).await?;
                        }
                        Ok::<_, tokio_postgres::Error>(())
                    };
                    // Every attempt ends, in success or a clean error, well within 10 s.
                    match tokio::time::timeout(Duration::from_secs(10), attempt).await {
                        Ok(Ok(())) => ok.fetch_add(1, Ordering::Relaxed),
                        Ok(Err(_)) => failed.fetch_add(1, Ordering::Relaxed),
                        Err(_) => hung.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    pg.restart().unwrap();
    let back = Instant::now();
    // A new transaction succeeds within a second of the server's return.
    let recovered = rt.block_on(async {
        loop {
            let attempt = async {
                let (client, connection) =
                    tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
                tokio::spawn(connection);
                client.query_one("SELECT 1", &[]).await
            };
            if attempt.await.is_ok() {
                return back.elapsed();
            }
            if back.elapsed() > Duration::from_secs(10) {
                return back.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    assert!(
        recovered < Duration::from_secs(1),
        "recovered after {recovered:?}"
    );
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    rt.block_on(async {
        for w in workers {
            w.await.unwrap();
        }
    });
    assert_eq!(hung.load(Ordering::Relaxed), 0, "some clients hung");
    assert!(ok.load(Ordering::Relaxed) > 0);
    eprintln!(
        "restart: {} ok, {} clean failures, recovered in {recovered:?}",
        ok.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
}

#[test]
fn a_thousand_concurrent_clients_share_ten_servers() {
    let pg = Postgres::start().unwrap();
    let proxy = Proxy::start(&pg, "default_pool_size = 10\nmax_client_conn = 1100");
    let url = proxy.url("postgres");
    let rt = runtime();
    let done = rt.block_on(async {
        let mut clients = Vec::new();
        for _ in 0..1000 {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            clients.push(Arc::new(client));
        }
        let count = clients.len();
        // All connected at once; now every one of them runs a query at the same time.
        let queries = clients.into_iter().enumerate().map(|(i, c)| async move {
            let n: i32 = c
                .query_one("SELECT $1::int", &[&(i as i32)])
                .await
                .unwrap()
                .get(0);
            assert_eq!(n, i as i32);
        });
        futures_join_all(queries).await;
        count
    });
    assert_eq!(done, 1000);
    let servers = pg
        .psql(
            "postgres",
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'brisk';",
        )
        .unwrap();
    assert!(
        servers.trim().parse::<i32>().unwrap() <= 10,
        "{servers} servers"
    );
}

/// Joins futures without a futures-util dependency.
async fn futures_join_all<F: std::future::Future<Output = ()> + Send + 'static>(
    futures: impl Iterator<Item = F>,
) {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    for handle in handles {
        handle.await.unwrap();
    }
}

/// Sends `bytes` on a new connection and returns what the proxy answers before closing.
fn exchange(port: u16, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(bytes).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer
}

fn startup(user: &str) -> Vec<u8> {
    let params = format!("user\0{user}\0database\0postgres\0\0");
    let mut packet = Vec::new();
    packet.extend_from_slice(&((8 + params.len()) as i32).to_be_bytes());
    packet.extend_from_slice(&196_608i32.to_be_bytes());
    packet.extend_from_slice(params.as_bytes());
    packet
}

#[test]
fn garbage_oversized_messages_and_slow_logins_are_refused_without_harm() {
    let pg = Postgres::start().unwrap();
    let mut proxy = Proxy::start(&pg, "client_login_timeout = 1");
    // A startup packet with an impossible length.
    let answer = exchange(proxy.port, &[0, 0, 0, 3, 0, 3, 0, 0]);
    assert_eq!(answer.first(), Some(&b'E'), "an ErrorResponse: {answer:?}");
    // Protocol 2.0.
    let answer = exchange(proxy.port, &[0, 0, 0, 8, 0, 2, 0, 0]);
    assert_eq!(answer.first(), Some(&b'E'));
    // After login, a message claiming to be 2 GB long.
    let mut bytes = startup("postgres");
    bytes.extend_from_slice(&[b'Q', 0x7f, 0xff, 0xff, 0xff, b'S', b'E']);
    let answer = exchange(proxy.port, &bytes);
    assert!(answer.windows(5).any(|w| w[0] == b'E'), "{answer:?}");
    // A message with a length below its own header.
    let mut bytes = startup("postgres");
    bytes.extend_from_slice(&[b'Q', 0, 0, 0, 1]);
    let answer = exchange(proxy.port, &bytes);
    assert!(!answer.is_empty());
    // A client that connects and says nothing is dropped after client_login_timeout.
    let started = Instant::now();
    let mut idle = TcpStream::connect(("127.0.0.1", proxy.port)).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut rest = Vec::new();
    let _ = idle.read_to_end(&mut rest);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "held for {:?}",
        started.elapsed()
    );
    assert_eq!(rest.first(), Some(&b'E'));
    // The proxy is still up and serving.
    assert!(proxy.alive());
    let out = Command::new("psql")
        .args([
            "-X",
            "-At",
            "-d",
            &proxy.url("postgres"),
            "-c",
            "SELECT 'still here'",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "still here");
}
