//! TLS to the server, following `sslmode` as libpq does.
//!
//! | sslmode               | encrypts        | verifies the chain      | verifies the host name |
//! |-----------------------|-----------------|-------------------------|------------------------|
//! | disable               | no              | -                       | -                      |
//! | allow, prefer         | if offered      | only if a root cert set | no                     |
//! | require               | yes             | only if a root cert set | no                     |
//! | verify-ca             | yes             | yes                     | no                     |
//! | verify-full           | yes             | yes                     | yes                    |
//!
//! "A root cert set" is libpq's rule: with `require`, a readable `sslrootcert` (by default
//! `~/.postgresql/root.crt`) turns on chain verification.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::conninfo::{ConnInfo, SslMode, SslRootCert};
use crate::PgError;

/// Builds the TLS connector for `info`. With `sslmode=disable` it is never used, but
/// tokio-postgres still wants one.
pub(crate) fn connector(info: &ConnInfo, target: &str) -> Result<MakeRustlsConnect, PgError> {
    Ok(MakeRustlsConnect::new(client_config(info, target)?))
}

/// The rustls configuration that verifies a server as `info`'s `sslmode` asks. The proxy
/// uses it for its own server connections.
pub fn client_config(info: &ConnInfo, target: &str) -> Result<ClientConfig, PgError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls_error = |reason: String| PgError::Tls {
        target: target.to_string(),
        reason,
    };
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(e.to_string()))?;

    let verify_chain = match info.sslmode {
        SslMode::VerifyCa | SslMode::VerifyFull => true,
        // libpq: "if a root CA file exists, the behavior of sslmode=require will be the
        // same as that of verify-ca".
        SslMode::Require | SslMode::Prefer | SslMode::Allow => info.sslrootcert.is_some(),
        SslMode::Disable => false,
    };
    let verifier: Arc<dyn ServerCertVerifier> = if verify_chain {
        let roots = root_store(info, target)?;
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| tls_error(format!("cannot use the root certificates: {e}")))?;
        Arc::new(ChainVerifier {
            inner: webpki,
            check_host_name: info.sslmode == SslMode::VerifyFull,
        })
    } else {
        Arc::new(EncryptOnly { provider })
    };

    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match (&info.sslcert, &info.sslkey) {
        (Some(cert), Some(key)) => {
            let certs = read_certs(cert, target)?;
            let key = read_key(key, target)?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| tls_error(format!("cannot use the client certificate: {e}")))?
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(tls_error(
                "sslcert and sslkey must be given together".to_string(),
            ))
        }
        (None, None) => builder.with_no_client_auth(),
    };
    Ok(config)
}

fn root_store(info: &ConnInfo, target: &str) -> Result<RootCertStore, PgError> {
    let mut roots = RootCertStore::empty();
    match &info.sslrootcert {
        // libpq's special value: trust the operating system's CA store.
        Some(SslRootCert::System) => {
            let native = rustls_native_certs::load_native_certs();
            for cert in native.certs {
                let _ = roots.add(cert);
            }
        }
        Some(SslRootCert::File(path)) => {
            for cert in read_certs(path, target)? {
                roots.add(cert).map_err(|e| PgError::Tls {
                    target: target.to_string(),
                    reason: format!("{} holds an unusable certificate: {e}", path.display()),
                })?;
            }
        }
        None => {
            return Err(PgError::Tls {
                target: target.to_string(),
                reason: format!(
                    "sslmode={} needs a root certificate to verify the server: set sslrootcert=/path/to/ca.crt (or sslrootcert=system), or put it in ~/.postgresql/root.crt",
                    info.sslmode.as_str()
                ),
            })
        }
    }
    if roots.is_empty() {
        return Err(PgError::Tls {
            target: target.to_string(),
            reason: "no usable root certificate was found".to_string(),
        });
    }
    Ok(roots)
}

fn read_certs(path: &Path, target: &str) -> Result<Vec<CertificateDer<'static>>, PgError> {
    let bytes = read_file(path, target)?;
    let certs: Result<Vec<_>, _> = rustls_pemfile::certs(&mut bytes.as_slice()).collect();
    match certs {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        Ok(_) => Err(PgError::Tls {
            target: target.to_string(),
            reason: format!("{} holds no PEM certificate", path.display()),
        }),
        Err(e) => Err(PgError::Tls {
            target: target.to_string(),
            reason: format!("cannot parse {}: {e}", path.display()),
        }),
    }
}

fn read_key(path: &Path, target: &str) -> Result<PrivateKeyDer<'static>, PgError> {
    let bytes = read_file(path, target)?;
    match rustls_pemfile::private_key(&mut bytes.as_slice()) {
        Ok(Some(key)) => Ok(key),
        Ok(None) => Err(PgError::Tls {
            target: target.to_string(),
            reason: format!("{} holds no PEM private key", path.display()),
        }),
        Err(e) => Err(PgError::Tls {
            target: target.to_string(),
            reason: format!("cannot parse {}: {e}", path.display()),
        }),
    }
}

fn read_file(path: &Path, target: &str) -> Result<Vec<u8>, PgError> {
    std::fs::read(path).map_err(|e| PgError::Tls {
        target: target.to_string(),
        reason: format!("cannot read {}: {e}", path.display()),
    })
}

/// `sslmode=require` without a root certificate: the connection is encrypted, and the
/// handshake signature is checked, but anyone's certificate is accepted. This is libpq's
/// documented behaviour, kept so brisk connects wherever psql does.
#[derive(Debug)]
struct EncryptOnly {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `verify-ca` and `verify-full`: the chain must lead to a trusted root; the host name is
/// checked only for `verify-full`.
#[derive(Debug)]
struct ChainVerifier {
    inner: Arc<WebPkiServerVerifier>,
    check_host_name: bool,
}

impl ServerCertVerifier for ChainVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_host_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
