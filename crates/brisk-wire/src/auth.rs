//! Authenticating clients to the proxy: SCRAM-SHA-256 (RFC 5802/7677, as PostgreSQL does it,
//! without channel binding), md5, or trust.
//!
//! This module holds the exchanges as pure functions over message bodies; the session drives
//! them over the wire. The client side of the same exchanges, used to log in to servers,
//! comes from the `postgres-protocol` crate when brisk knows the password. When it only
//! knows what the server stores (a verifier or an md5 hash, from `[users]` or `auth_query`),
//! [`ScramClient`] logs in with the keys a client's own SCRAM login revealed (pass-through,
//! as PgBouncer does), and [`md5_response_from_hash`] answers md5 with the stored hash.

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
    #[error("the server's SCRAM salt or iteration count is not that of the verifier the client logged in with: the server stores another verifier for this user")]
    OtherVerifier,
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

    /// Checks the client-final message; on success returns the server-final message and
    /// the client's keys, with which brisk can log in to a server that stores the same
    /// verifier.
    pub fn finish(&self, client_final: &[u8]) -> Result<(String, ScramKeys), AuthError> {
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
        let keys = ScramKeys {
            client_key,
            server_key: self.verifier.server_key.clone(),
            salt: self.verifier.salt.clone(),
            iterations: self.verifier.iterations,
        };
        Ok((format!("v={}", BASE64.encode(server_signature)), keys))
    }
}

/// What a client's SCRAM login reveals: its ClientKey (the proof XOR the signature), with
/// the verifier's ServerKey, salt and iteration count. Enough to log in to a server whose
/// verifier for that user is the same, and to check that server's signature; not enough
/// to learn the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramKeys {
    pub client_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub salt: Vec<u8>,
    pub iterations: u32,
}

impl std::fmt::Debug for ScramKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScramKeys(..)")
    }
}

/// The client side of a SCRAM-SHA-256 login with [`ScramKeys`] instead of a password.
pub struct ScramClient {
    keys: ScramKeys,
    nonce: String,
    client_first_bare: String,
    auth_message: Option<String>,
}

impl ScramClient {
    pub fn new(keys: ScramKeys) -> ScramClient {
        let nonce = BASE64.encode(random_bytes::<18>());
        // PostgreSQL takes the user from the startup packet and ignores `n=`.
        let client_first_bare = format!("n=,r={nonce}");
        ScramClient {
            keys,
            nonce,
            client_first_bare,
            auth_message: None,
        }
    }

    /// The client-first message (no channel binding).
    pub fn client_first(&self) -> String {
        format!("n,,{}", self.client_first_bare)
    }

    /// Reads the server-first message and returns the client-final one. Fails when the
    /// server's salt or iteration count is not the verifier's: its verifier is another one.
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<String, AuthError> {
        let text = std::str::from_utf8(server_first).map_err(|_| AuthError::Malformed("utf-8"))?;
        let field = |name: &str| {
            text.split(',')
                .find_map(|part| part.strip_prefix(name))
                .ok_or(AuthError::Malformed("server-first"))
        };
        let nonce = field("r=")?;
        let salt = BASE64
            .decode(field("s=")?)
            .map_err(|_| AuthError::Malformed("salt"))?;
        let iterations: u32 = field("i=")?
            .parse()
            .map_err(|_| AuthError::Malformed("iterations"))?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err(AuthError::Malformed("server nonce"));
        }
        if salt != self.keys.salt || iterations != self.keys.iterations {
            return Err(AuthError::OtherVerifier);
        }
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{text},{without_proof}", self.client_first_bare);
        let stored_key = Sha256::digest(&self.keys.client_key);
        let signature = hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = self
            .keys
            .client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        self.auth_message = Some(auth_message);
        Ok(format!("{without_proof},p={}", BASE64.encode(proof)))
    }

    /// Checks the server-final message: the server knows the verifier too.
    pub fn verify(&self, server_final: &[u8]) -> Result<(), AuthError> {
        let auth_message = self
            .auth_message
            .as_ref()
            .ok_or(AuthError::Malformed("server-final before server-first"))?;
        let text = std::str::from_utf8(server_final).map_err(|_| AuthError::Malformed("utf-8"))?;
        let signature = text
            .strip_prefix("v=")
            .and_then(|v| BASE64.decode(v).ok())
            .ok_or(AuthError::Malformed("server signature"))?;
        let expected = hmac(&self.keys.server_key, auth_message.as_bytes());
        if signature == expected {
            Ok(())
        } else {
            Err(AuthError::WrongPassword)
        }
    }
}

/// The answer to an md5 challenge from the stored hash (`md5` + md5(password || user)):
/// `md5` + md5(hex || salt), which is what a client that knows the password sends.
pub fn md5_response_from_hash(stored: &str, salt: [u8; 4]) -> Option<String> {
    let hex = stored.strip_prefix("md5").filter(|h| h.len() == 32)?;
    let mut salted = hex.as_bytes().to_vec();
    salted.extend_from_slice(&salt);
    Some(format!("md5{:x}", md5_digest(&salted)))
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
        let (server_final, _) = server.finish(client.message())?;
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
    fn the_keys_of_a_client_login_log_in_to_a_server_with_the_same_verifier() {
        let stored = postgres_protocol::password::scram_sha_256(b"s3cret");
        let verifier = ScramVerifier::parse(&stored).unwrap();
        // A client logs in to brisk with its password; brisk learns its keys.
        let mut client = ScramSha256::new(b"s3cret", ChannelBinding::unsupported());
        let server = ScramServer::start(verifier.clone(), client.message()).unwrap();
        client.update(server.server_first().as_bytes()).unwrap();
        let (_, keys) = server.finish(client.message()).unwrap();
        // brisk logs in with them to a server that stores the same verifier.
        let mut brisk = ScramClient::new(keys.clone());
        let upstream = ScramServer::start(verifier, brisk.client_first().as_bytes()).unwrap();
        let client_final = brisk
            .client_final(upstream.server_first().as_bytes())
            .unwrap();
        let (server_final, _) = upstream.finish(client_final.as_bytes()).unwrap();
        assert_eq!(brisk.verify(server_final.as_bytes()), Ok(()));
        assert!(brisk.verify(b"v=AAAA").is_err(), "a server without the key");
        // A server with another verifier for the user (another salt) is told apart.
        let other = Secret::parse("s3cret").scram().unwrap();
        let mut brisk = ScramClient::new(keys);
        let upstream = ScramServer::start(other, brisk.client_first().as_bytes()).unwrap();
        assert_eq!(
            brisk.client_final(upstream.server_first().as_bytes()),
            Err(AuthError::OtherVerifier)
        );
    }

    #[test]
    fn md5_from_the_stored_hash_is_what_the_password_gives() {
        let salt = [9, 8, 7, 6];
        let stored = postgres_protocol::password::md5(b"pw", "alice");
        assert_eq!(
            md5_response_from_hash(&stored, salt).as_deref(),
            Some(postgres_protocol::authentication::md5_hash(b"alice", b"pw", salt).as_str())
        );
        assert_eq!(md5_response_from_hash("plain", salt), None);
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
