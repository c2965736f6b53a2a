//! Startup parameters that are settings brisk does not track (`search_path` from JDBC's
//! currentSchema or asyncpg's server_settings, `options` from PGOPTIONS or node-postgres)
//! hold for the client's whole session, as on a direct connection, and never reach another
//! client: the client is pinned to a server they were set on, which is cleaned (DISCARD ALL)
//! before anyone else gets it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use brisk_sandbox::Postgres;

mod common;

fn proxy(pg: &Postgres, pool_size: usize) -> common::ProxyProcess {
    common::ProxyProcess::start(
        |port| {
            format!(
                "listen_port = {port}\nauth_type = \"trust\"\ndefault_pool_size = {pool_size}\n\
                 [databases]\n\
                 postgres = \"postgres://postgres:{pw}@127.0.0.1:{pg_port}/postgres?sslmode=disable\"\n",
                pw = pg.password(),
                pg_port = pg.port()
            )
        },
        "warn",
        Stdio::null(),
    )
}

/// psql through the proxy with `PGOPTIONS`, one line per command's output.
fn psql(port: u16, pgoptions: &str, commands: &[&str]) -> Result<Vec<String>, String> {
    psql_as(port, "", pgoptions, commands)
}

fn psql_as(
    port: u16,
    password: &str,
    pgoptions: &str,
    commands: &[&str],
) -> Result<Vec<String>, String> {
    let mut cmd = Command::new("psql");
    cmd.env("PGPASSWORD", password);
    cmd.args([
        "-X",
        "-At",
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-U",
        "postgres",
        "postgres",
    ]);
    for c in commands {
        cmd.args(["-c", c]);
    }
    let output = cmd.env("PGOPTIONS", pgoptions).output().unwrap();
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_string)
            .collect())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).to_string())
    }
}

/// A raw login with the startup parameters `params`, then one simple query; returns the
/// first column of its first row, or the error message.
fn raw_query(port: u16, params: &[(&str, &str)], sql: &str) -> Result<String, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut body = Vec::new();
    body.extend_from_slice(&196608i32.to_be_bytes());
    for (k, v) in params {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut packet = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    packet.extend_from_slice(&body);
    s.write_all(&packet).unwrap();
    let mut sent_query = false;
    let mut value = None;
    loop {
        let mut head = [0u8; 5];
        if s.read_exact(&mut head).is_err() {
            return Err("connection closed".into());
        }
        let len = i32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize - 4;
        let mut msg = vec![0u8; len];
        s.read_exact(&mut msg).unwrap();
        match head[0] {
            b'E' => {
                let text = String::from_utf8_lossy(&msg).to_string();
                let message = text
                    .split('\0')
                    .find_map(|f| f.strip_prefix('M'))
                    .unwrap_or_default()
                    .to_string();
                return Err(message);
            }
            b'D' if value.is_none() => {
                let width = i32::from_be_bytes([msg[2], msg[3], msg[4], msg[5]]) as usize;
                value = Some(String::from_utf8_lossy(&msg[6..6 + width]).to_string());
            }
            b'Z' if !sent_query => {
                let mut q = vec![b'Q'];
                q.extend_from_slice(&((sql.len() + 5) as i32).to_be_bytes());
                q.extend_from_slice(sql.as_bytes());
                q.push(0);
                s.write_all(&q).unwrap();
                sent_query = true;
            }
            b'Z' => return value.ok_or_else(|| "no row".into()),
            _ => {}
        }
    }
}

#[test]
fn options_hold_for_the_client_and_never_reach_another() {
    let pg = Postgres::start().unwrap();
    pg.psql(
        "postgres",
        "CREATE SCHEMA app; CREATE TABLE app.only_here (x int);",
    )
    .unwrap();
    // One server: the pinned client's must be cleaned before the next client gets it.
    let proxy = proxy(&pg, 1);
    let options = "-c search_path=app,public -c statement_timeout=1234 --lock-timeout=5s";
    let commands = [
        "SHOW search_path",
        "SELECT count(*) FROM only_here",
        "SHOW statement_timeout",
        "SHOW lock_timeout",
    ];
    let own = psql(proxy.port, options, &commands).unwrap();
    // What a direct connection gives, value for value.
    let direct = psql_as(pg.port(), pg.password(), options, &commands).unwrap();
    assert_eq!(own, direct);
    assert_eq!(own, ["app,public", "0", "1234ms", "5s"]);
    for _ in 0..3 {
        let other = psql(
            proxy.port,
            "",
            &["SHOW search_path", "SHOW statement_timeout"],
        )
        .unwrap();
        assert_eq!(other, ["\"$user\", public", "0"]);
    }
    // A startup parameter of its own, as JDBC's currentSchema and asyncpg send.
    assert_eq!(
        raw_query(
            proxy.port,
            &[
                ("user", "postgres"),
                ("database", "postgres"),
                ("search_path", "app")
            ],
            "SHOW search_path"
        )
        .unwrap(),
        "app"
    );
    assert_eq!(
        raw_query(
            proxy.port,
            &[("user", "postgres"), ("database", "postgres")],
            "SHOW search_path"
        )
        .unwrap(),
        "\"$user\", public"
    );
    // pgjdbc's extra_float_digits=3 changes nothing since PostgreSQL 12 and pins nobody.
    assert_eq!(
        raw_query(
            proxy.port,
            &[
                ("user", "postgres"),
                ("database", "postgres"),
                ("extra_float_digits", "3")
            ],
            "SELECT 0.1::float8"
        )
        .unwrap(),
        "0.1"
    );
}

#[test]
fn resets_bring_back_the_startup_values_as_directly() {
    let pg = Postgres::start().unwrap();
    let proxy = proxy(&pg, 2);
    let options = "-c statement_timeout=1234 -c search_path=pg_catalog,public";
    let commands = [
        "SET statement_timeout = 5000",
        "RESET statement_timeout",
        "SHOW statement_timeout",
        "SET statement_timeout = 7000",
        "BEGIN",
        "SET LOCAL statement_timeout TO DEFAULT",
        "SHOW statement_timeout",
        "COMMIT",
        "SHOW statement_timeout",
        "SET search_path = public",
        "RESET ALL",
        "SHOW statement_timeout",
        "SHOW search_path",
        "SET search_path = public",
        "DISCARD ALL",
        "SHOW search_path",
        "SET statement_timeout TO DEFAULT",
        "SHOW statement_timeout",
    ];
    let through = psql(proxy.port, options, &commands).unwrap();
    let direct = psql_as(pg.port(), pg.password(), options, &commands).unwrap();
    assert_eq!(through, direct);
    assert!(through.contains(&"7s".to_string()), "{through:?}");
}

#[test]
fn a_startup_setting_the_server_refuses_ends_the_login_with_its_reason() {
    let pg = Postgres::start().unwrap();
    let proxy = proxy(&pg, 2);
    let refused = psql(proxy.port, "-c no_such_setting=1", &["SELECT 1"]).unwrap_err();
    assert!(refused.contains("no_such_setting"), "{refused}");
    let bad_value = raw_query(
        proxy.port,
        &[
            ("user", "postgres"),
            ("database", "postgres"),
            ("statement_timeout", "soon"),
        ],
        "SELECT 1",
    )
    .unwrap_err();
    assert!(bad_value.contains("statement_timeout"), "{bad_value}");
    let switch = psql(proxy.port, "-e", &["SELECT 1"]).unwrap_err();
    assert!(
        switch.contains("brisk applies only -c name=value"),
        "{switch}"
    );
    // The proxy is fine afterwards.
    assert_eq!(psql(proxy.port, "", &["SELECT 1"]).unwrap(), ["1"]);
}
