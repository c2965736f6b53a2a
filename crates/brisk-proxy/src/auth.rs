//! Authenticating clients to the proxy: SCRAM-SHA-256 (RFC 5802/7677, as PostgreSQL does it,
//! without channel binding), md5, or trust.
//!
//! This module holds the exchanges as pure functions over message bodies; the session drives
//! them over the wire. The client side of the same exchanges, used to log in to servers,
//! comes from the `postgres-protocol` crate.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// A SCRAM-SHA-256 verifier, as stored in `pg_authid.rolpassword`:
/// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramVerifier {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

impl ScramVerifier {
    pub fn parse(text: &str) -> Option<ScramVerifier> {
        let rest = text.strip_prefix("SCRAM-SHA-256$")?;
        let (params, keys) = rest.split_once('$')?;
        let (iterations, salt) = params.split_once(':')?;
        let (stored, server) = keys.split_once(':')?;
        Some(ScramVerifier {
            iterations: iterations.parse().ok()?,
            salt: BASE64.decode(salt).ok()?,
            stored_key: BASE64.decode(stored).ok()?,
            server_key: BASE64.decode(server).ok()?,
        })
    }

    /// The verifier for a plain-text password, with a fresh salt.
    pub fn from_password(password: &str) -> Option<ScramVerifier> {
        ScramVerifier::parse(&postgres_protocol::password::scram_sha_256(
            password.as_bytes(),
        ))
    }
}

/// What the configuration holds for a user.
#[derive(Debug, Clone)]
pub enum Secret {
    Plain(String),
    /// `md5` + md5(password || user), as PostgreSQL stores it.
    Md5(String),
    Scram(ScramVerifier),
}

impl Secret {
    pub fn parse(text: &str) -> Secret {
        if let Some(verifier) = ScramVerifier::parse(text) {
            return Secret::Scram(verifier);
        }
        if text.len() == 35
            && text.starts_with("md5")
            && text[3..].bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Secret::Md5(text.to_string());
        }
        Secret::Plain(text.to_string())
    }

    /// The SCRAM verifier to check a client against.
    pub fn scram(&self) -> Option<ScramVerifier> {
        match self {
            Secret::Scram(v) => Some(v.clone()),
            Secret::Plain(p) => ScramVerifier::from_password(p),
            Secret::Md5(_) => None,
        }
    }

    /// The plain-text password, needed to log in to a server as this user.
    pub fn plain(&self) -> Option<&str> {
        match self {
            Secret::Plain(p) => Some(p),
            _ => None,
        }
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| <HmacSha256 as KeyInit>::new_from_slice(&[]).expect("empty HMAC key"));
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Random bytes from the operating system, for nonces and salts.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // getrandom only fails when the OS has no entropy source at all.
    if getrandom::fill(&mut bytes).is_err() {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (seed >> ((i % 16) * 8)) as u8;
        }
    }
    bytes
}

/// Why a client's login failed. The client only ever learns that the password was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    #[error("SCRAM channel binding is not supported")]
    ChannelBinding,
    #[error("the client's proof does not match")]
    WrongPassword,
}

/// The server side of one SCRAM-SHA-256 exchange.
pub struct ScramServer {
    verifier: ScramVerifier,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

impl ScramServer {
    /// Reads the client-first message and answers with the server-first message.
    pub fn start(verifier: ScramVerifier, client_first: &[u8]) -> Result<ScramServer, AuthError> {
        let text = std::str::from_utf8(client_first).map_err(|_| AuthError::Malformed("utf-8"))?;
        // gs2 header: "n,," (no binding) or "y,," (client could, thinks we cannot); "p=..."
        // asks for binding, which brisk does not offer.
        let bare = if let Some(rest) = text.strip_prefix("n,").or_else(|| text.strip_prefix("y,")) {
            let (_authzid, bare) = rest
                .split_once(',')
                .ok_or(AuthError::Malformed("gs2 header"))?;
            bare
        } else if text.starts_with("p=") {
            return Err(AuthError::ChannelBinding);
        } else {
            return Err(AuthError::Malformed("gs2 header"));
        };
        let client_nonce = bare
            .split(',')
            .find_map(|part| part.strip_prefix("r="))
            .ok_or(AuthError::Malformed("client nonce"))?;
        let nonce = format!("{client_nonce}{}", BASE64.encode(random_bytes::<18>()));
        let server_first = format!(
            "r={nonce},s={},i={}",
            BASE64.encode(&verifier.salt),
            verifier.iterations
        );
        Ok(ScramServer {
            verifier,
            client_first_bare: bare.to_string(),
            server_first,
            nonce,
        })
    }

    pub fn server_first(&self) -> &str {
        &self.server_first
    }

    /// Checks the client-final message; on success returns the server-final message.
    pub fn finish(&self, client_final: &[u8]) -> Result<String, AuthError> {
        let text = std::str::from_utf8(client_final).map_err(|_| AuthError::Malformed("utf-8"))?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or(AuthError::Malformed("client proof"))?;
        let nonce = without_proof
            .split(',')
            .find_map(|part| part.strip_prefix("r="))
            .ok_or(AuthError::Malformed("nonce"))?;
        if nonce != self.nonce {
            return Err(AuthError::Malformed("nonce mismatch"));
        }
        let proof = BASE64
            .decode(proof)
            .map_err(|_| AuthError::Malformed("proof"))?;
        let auth_message = format!(
            "{},{},{}",
            self.client_first_bare, self.server_first, without_proof
        );
        let signature = hmac(&self.verifier.stored_key, auth_message.as_bytes());
        if proof.len() != signature.len() {
            return Err(AuthError::WrongPassword);
        }
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        let stored = Sha256::digest(&client_key);
        // Constant-time comparison: the difference accumulates over every byte.
        let difference = stored
            .iter()
            .zip(&self.verifier.stored_key)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if difference != 0 || stored.len() != self.verifier.stored_key.len() {
            return Err(AuthError::WrongPassword);
        }
        let server_signature = hmac(&self.verifier.server_key, auth_message.as_bytes());
        Ok(format!("v={}", BASE64.encode(server_signature)))
    }
}

/// Checks an md5 password response (`md5` + md5(md5(password || user) || salt)).
pub fn check_md5(secret: &Secret, user: &str, salt: [u8; 4], response: &str) -> bool {
    let inner = match secret {
        Secret::Plain(password) => {
            format!("{:x}", md5_digest(format!("{password}{user}").as_bytes()))
        }
        Secret::Md5(stored) => stored[3..].to_string(),
        // A SCRAM verifier cannot answer an md5 challenge.
        Secret::Scram(_) => return false,
    };
    let mut salted = inner.into_bytes();
    salted.extend_from_slice(&salt);
    let expected = format!("md5{:x}", md5_digest(&salted));
    expected.len() == response.len()
        && expected
            .bytes()
            .zip(response.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn md5_digest(data: &[u8]) -> Md5Hex {
    Md5Hex(md5::Md5::digest(data).to_vec())
}

struct Md5Hex(Vec<u8>);

impl std::fmt::LowerHex for Md5Hex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for byte in &self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};

    /// Runs a whole exchange with postgres-protocol's client, as a real client would.
    fn exchange(stored: &Secret, password: &str) -> Result<(), AuthError> {
        let mut client = ScramSha256::new(password.as_bytes(), ChannelBinding::unsupported());
        let server = ScramServer::start(stored.scram().unwrap(), client.message())?;
        client
            .update(server.server_first().as_bytes())
            .map_err(|_| AuthError::Malformed("client rejected server-first"))?;
        let server_final = server.finish(client.message())?;
        client
            .finish(server_final.as_bytes())
            .map_err(|_| AuthError::Malformed("client rejected the server signature"))
    }

    #[test]
    fn scram_accepts_the_right_password_and_proves_the_server() {
        let plain = Secret::parse("s3cret");
        assert_eq!(exchange(&plain, "s3cret"), Ok(()));
        let verifier = Secret::parse(&postgres_protocol::password::scram_sha_256(b"s3cret"));
        assert!(matches!(verifier, Secret::Scram(_)));
        assert_eq!(exchange(&verifier, "s3cret"), Ok(()));
    }

    #[test]
    fn scram_refuses_a_wrong_password() {
        let plain = Secret::parse("s3cret");
        assert_eq!(exchange(&plain, "guess"), Err(AuthError::WrongPassword));
    }

    #[test]
    fn scram_refuses_channel_binding_requests_and_garbage() {
        let verifier = Secret::parse("x").scram().unwrap();
        assert_eq!(
            ScramServer::start(verifier.clone(), b"p=tls-server-end-point,,n=,r=abc").err(),
            Some(AuthError::ChannelBinding)
        );
        assert!(ScramServer::start(verifier.clone(), b"\xff").is_err());
        assert!(ScramServer::start(verifier.clone(), b"n,,n=").is_err());
        let server = ScramServer::start(verifier, b"n,,n=,r=abc").unwrap();
        assert!(server.finish(b"c=biws,r=wrong,p=AAAA").is_err());
        assert!(server.finish(b"no proof").is_err());
    }

    #[test]
    fn md5_matches_what_libpq_sends() {
        let salt = [1, 2, 3, 4];
        let response = postgres_protocol::authentication::md5_hash(b"alice", b"pw", salt);
        assert!(check_md5(&Secret::parse("pw"), "alice", salt, &response));
        let stored = postgres_protocol::password::md5(b"pw", "alice");
        assert!(check_md5(&Secret::parse(&stored), "alice", salt, &response));
        assert!(!check_md5(
            &Secret::parse("other"),
            "alice",
            salt,
            &response
        ));
        let scram = Secret::parse(&postgres_protocol::password::scram_sha_256(b"pw"));
        assert!(!check_md5(&scram, "alice", salt, &response));
    }
}
