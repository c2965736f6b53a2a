//! `brisk bench --http` against an https server with a self-signed certificate made by the
//! `openssl` CLI (a CA and the server's certificate it signs) and served by `openssl s_server -www`: trusted with `--http-ca`, the run
//! succeeds; without it, it fails before the run with one line naming the certificate
//! problem and exit code 2.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{brisk_with_env, free_port};

/// PostgreSQL settings that reach no server: an HTTP run needs none.
const NO_DATABASE: [(&str, &str); 2] = [("PGHOST", "/nonexistent"), ("PGPORT", "1")];

struct TlsServer {
    child: Child,
    port: u16,
    cert: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn openssl(args: &[&str], dir: &std::path::Path) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "openssl {args:?}");
}

/// A self-signed CA, a certificate for 127.0.0.1 it signs, and `openssl s_server -www`
/// serving with it. (webpki refuses a CA certificate as the server's own, so the CA and the
/// server's certificate are two.)
fn tls_server() -> TlsServer {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=brisk test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
        d,
    );
    openssl(
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
        d,
    );
    std::fs::write(d.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.pem",
        ],
        d,
    );
    let (cert, key) = (d.join("server.pem"), d.join("server.key"));
    let port = free_port();
    let child = Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept"])
        .arg(port.to_string())
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "openssl s_server never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    TlsServer {
        child,
        port,
        cert: dir.path().join("ca.pem"),
        _dir: dir,
    }
}

#[test]
fn https_with_the_ca_runs_and_without_it_fails_fast_naming_the_certificate() {
    let server = tls_server();
    let url = format!("https://127.0.0.1:{}/", server.port);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("result.json");
    let cert = server.cert.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "bench",
            "-q",
            "--http",
            "GET",
            &url,
            "--rate",
            "5",
            "--duration",
            "2s",
            "--connections",
            "1",
        ];
        args.extend_from_slice(extra);
        brisk_with_env(&args, &NO_DATABASE)
    };

    let output = run(&["--http-ca", cert, "-o", out.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert!(
        result["overall"]["count"].as_f64().unwrap() >= 5.0,
        "{:#}",
        result["overall"]
    );
    assert_eq!(result["overall"]["errors"], 0, "{:#}", result["overall"]);

    let output = run(&[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("certificate"), "{stderr}");

    let output = run(&["--http-ca", "/nonexistent/ca.pem"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--http-ca /nonexistent/ca.pem"), "{stderr}");
}
