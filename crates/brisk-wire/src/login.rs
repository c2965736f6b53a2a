//! Logging in to a server, sans I/O: the messages a server sends after brisk's startup packet
//! go in, the answers to send and what the login learned come out.
//!
//! brisk answers every method PostgreSQL asks for with what it holds ([`ServerSecret`]):
//! clear-text and md5 with a password, md5 with the stored hash (`md5` + 32 hex digits), and
//! SCRAM-SHA-256 with a password (postgres-protocol's client) or with the keys of a client's
//! own SCRAM login (pass-through, [`crate::auth::ScramClient`]). Channel binding is not used:
//! brisk says it does not support it, which the server accepts over TLS and plain connections
//! alike.

use bytes::BytesMut;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};

use crate::auth::{md5_response_from_hash, ScramClient, ScramKeys};
use crate::protocol::{self, put_with};

/// How brisk proves itself to a server as the pool's user.
#[derive(Clone, PartialEq, Eq)]
pub enum ServerSecret {
    /// The password: answers every method.
    Password(String),
    /// What `pg_authid` stores for md5 (`md5` + 32 hex digits): answers md5.
    Md5Hash(String),
    /// The keys of a client's SCRAM login (pass-through): answers SCRAM-SHA-256 when the
    /// server stores the verifier the client logged in with.
    Scram(ScramKeys),
}

impl std::fmt::Debug for ServerSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ServerSecret::Password(_) => "Password(..)",
            ServerSecret::Md5Hash(_) => "Md5Hash(..)",
            ServerSecret::Scram(_) => "Scram(..)",
        })
    }
}

/// Why a login failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// The server asked for a method brisk holds no answer to.
    #[error("the server asks for {method} and brisk has no secret for user {user} that answers it: set the password in the database URL or as plain text in [users]")]
    NoSecret { method: &'static str, user: String },
    /// The server refused (an ErrorResponse): its message, with the SQLSTATE.
    #[error("{0}")]
    Refused(String),
    /// The server's SCRAM signature does not match: it does not know the password.
    #[error("the server's SCRAM signature is wrong: {0}")]
    BadSignature(String),
    /// The server sent something no PostgreSQL server sends at this point.
    #[error("{0}")]
    Protocol(String),
}

/// What one server message meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginEvent {
    /// Nothing to note; send what was written, if anything, and read on.
    Continue,
    /// A setting the server reports (ParameterStatus).
    Parameter(String, String),
    /// The key that cancels this connection's statements (BackendKeyData).
    BackendKey(i32, i32),
    /// ReadyForQuery: the connection is logged in.
    Ready,
}

/// One login in progress.
pub struct ServerLogin {
    user: String,
    secret: Option<ServerSecret>,
    scram: Option<ScramSha256>,
    pass_through: Option<ScramClient>,
}

impl ServerLogin {
    /// A login as `user`, answering with `secret` when it has one.
    pub fn new(user: &str, secret: Option<ServerSecret>) -> ServerLogin {
        ServerLogin {
            user: user.to_string(),
            secret,
            scram: None,
            pass_through: None,
        }
    }

    /// Reads one server message (`kind` and body) and writes the answer, if any, to `out`.
    pub fn on_message(
        &mut self,
        kind: u8,
        body: &[u8],
        out: &mut BytesMut,
    ) -> Result<LoginEvent, LoginError> {
        match kind {
            b'R' => {
                let code = body
                    .get(..4)
                    .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                    .ok_or_else(|| LoginError::Protocol("short authentication request".into()))?;
                self.authenticate(code, body.get(4..).unwrap_or(&[]), out)?;
                Ok(LoginEvent::Continue)
            }
            b'S' => Ok(protocol::decode_parameter_status(body)
                .map(|(name, value)| LoginEvent::Parameter(name.to_string(), value.to_string()))
                .unwrap_or(LoginEvent::Continue)),
            b'K' => match body.get(..8) {
                Some(b) => Ok(LoginEvent::BackendKey(
                    i32::from_be_bytes([b[0], b[1], b[2], b[3]]),
                    i32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                )),
                None => Err(LoginError::Protocol("short BackendKeyData".into())),
            },
            b'E' => Err(LoginError::Refused(protocol::error_text(body))),
            b'N' => Ok(LoginEvent::Continue),
            b'Z' => Ok(LoginEvent::Ready),
            other => Err(LoginError::Protocol(format!(
                "unexpected message {:?} during login",
                other as char
            ))),
        }
    }

    fn no_secret(&self, method: &'static str) -> LoginError {
        LoginError::NoSecret {
            method,
            user: self.user.clone(),
        }
    }

    /// Answers an Authentication request: `code` as PostgreSQL numbers them.
    fn authenticate(
        &mut self,
        code: i32,
        payload: &[u8],
        out: &mut BytesMut,
    ) -> Result<(), LoginError> {
        match code {
            AUTH_OK => {}
            AUTH_CLEARTEXT => {
                let Some(ServerSecret::Password(password)) = &self.secret else {
                    return Err(self.no_secret("a clear-text password"));
                };
                put_with(out, b'p', |b| protocol::put_cstr(b, password));
            }
            AUTH_MD5 => {
                let salt: [u8; 4] = payload
                    .get(..4)
                    .and_then(|s| s.try_into().ok())
                    .ok_or_else(|| LoginError::Protocol("short md5 salt".into()))?;
                let response = match &self.secret {
                    Some(ServerSecret::Password(password)) => {
                        postgres_protocol::authentication::md5_hash(
                            self.user.as_bytes(),
                            password.as_bytes(),
                            salt,
                        )
                    }
                    Some(ServerSecret::Md5Hash(hash)) => md5_response_from_hash(hash, salt)
                        .ok_or_else(|| self.no_secret("an md5 password"))?,
                    _ => return Err(self.no_secret("an md5 password")),
                };
                put_with(out, b'p', |b| protocol::put_cstr(b, &response));
            }
            AUTH_SASL => {
                let mechanisms: Vec<&str> = payload
                    .split(|b| *b == 0)
                    .filter(|m| !m.is_empty())
                    .filter_map(|m| std::str::from_utf8(m).ok())
                    .collect();
                if !mechanisms.contains(&SCRAM_SHA_256) {
                    return Err(LoginError::Protocol(format!(
                        "no supported SASL mechanism among {mechanisms:?}"
                    )));
                }
                let first: Vec<u8> = match &self.secret {
                    Some(ServerSecret::Password(password)) => {
                        let client =
                            ScramSha256::new(password.as_bytes(), ChannelBinding::unsupported());
                        let first = client.message().to_vec();
                        self.scram = Some(client);
                        first
                    }
                    Some(ServerSecret::Scram(keys)) => {
                        let client = ScramClient::new(keys.clone());
                        let first = client.client_first().into_bytes();
                        self.pass_through = Some(client);
                        first
                    }
                    _ => return Err(self.no_secret("a SCRAM-SHA-256 login")),
                };
                protocol::put_sasl_initial_response(out, SCRAM_SHA_256, &first);
            }
            AUTH_SASL_CONTINUE => {
                let message = if let Some(client) = self.pass_through.as_mut() {
                    client
                        .client_final(payload)
                        .map_err(|e| LoginError::Protocol(format!("SCRAM pass-through: {e}")))?
                        .into_bytes()
                } else {
                    let client = self
                        .scram
                        .as_mut()
                        .ok_or_else(|| LoginError::Protocol("SASL continue before start".into()))?;
                    client
                        .update(payload)
                        .map_err(|e| LoginError::Protocol(format!("SCRAM: {e}")))?;
                    client.message().to_vec()
                };
                put_with(out, b'p', |b| b.extend_from_slice(&message));
            }
            AUTH_SASL_FINAL => {
                let verified = if let Some(client) = self.pass_through.as_ref() {
                    client.verify(payload).map_err(|e| e.to_string())
                } else {
                    let client = self
                        .scram
                        .as_mut()
                        .ok_or_else(|| LoginError::Protocol("SASL final before start".into()))?;
                    client.finish(payload).map_err(|e| e.to_string())
                };
                verified.map_err(LoginError::BadSignature)?;
            }
            other => {
                return Err(LoginError::Protocol(format!(
                    "unsupported authentication request {other}"
                )))
            }
        }
        Ok(())
    }
}

/// The SASL mechanism brisk speaks, both as a server to clients and as a client to servers.
pub const SCRAM_SHA_256: &str = "SCRAM-SHA-256";

// Authentication request codes (PostgreSQL's `AUTH_REQ_*`).
/// Logged in.
pub const AUTH_OK: i32 = 0;
/// A clear-text password, please.
pub const AUTH_CLEARTEXT: i32 = 3;
/// An md5 hash with this salt, please.
pub const AUTH_MD5: i32 = 5;
/// SASL, with these mechanisms.
pub const AUTH_SASL: i32 = 10;
/// The next SASL step.
pub const AUTH_SASL_CONTINUE: i32 = 11;
/// The SASL outcome, with the server's proof.
pub const AUTH_SASL_FINAL: i32 = 12;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{ScramServer, ScramVerifier};

    fn auth(code: i32, payload: &[u8]) -> Vec<u8> {
        let mut body = code.to_be_bytes().to_vec();
        body.extend_from_slice(payload);
        body
    }

    /// The answer written to `out`: its type and body.
    fn answer(out: &BytesMut) -> (u8, Vec<u8>) {
        (out[0], out[5..].to_vec())
    }

    /// Runs a SCRAM login as far as the client's final message, against brisk's own server
    /// side holding `verifier`.
    fn scram_to_client_final(
        login: &mut ServerLogin,
        verifier: ScramVerifier,
    ) -> (ScramServer, Vec<u8>) {
        let mut out = BytesMut::new();
        let mechanisms = format!("{SCRAM_SHA_256}\0\0");
        let event = login
            .on_message(b'R', &auth(AUTH_SASL, mechanisms.as_bytes()), &mut out)
            .unwrap();
        assert_eq!(event, LoginEvent::Continue);
        let (kind, body) = answer(&out);
        assert_eq!(kind, b'p');
        let (mechanism, first) = protocol::decode_sasl_initial_response(&body).unwrap();
        assert_eq!(mechanism, SCRAM_SHA_256);
        let server = ScramServer::start(verifier, first).unwrap();
        let server_first = server.server_first().to_string();
        out.clear();
        login
            .on_message(
                b'R',
                &auth(AUTH_SASL_CONTINUE, server_first.as_bytes()),
                &mut out,
            )
            .unwrap();
        (server, answer(&out).1)
    }

    #[test]
    fn a_scram_login_with_a_password_answers_brisks_own_scram_server() {
        // brisk's own server side (the one that logs clients in) checks brisk's client side.
        let verifier = ScramVerifier::from_password("s3cret").unwrap();
        let mut login = ServerLogin::new("app", Some(ServerSecret::Password("s3cret".into())));
        let (server, client_final) = scram_to_client_final(&mut login, verifier);
        let (server_final, _keys) = server.finish(&client_final).unwrap();
        let mut out = BytesMut::new();
        login
            .on_message(
                b'R',
                &auth(AUTH_SASL_FINAL, server_final.as_bytes()),
                &mut out,
            )
            .unwrap();
        assert!(out.is_empty());
        assert_eq!(
            login.on_message(b'R', &auth(AUTH_OK, &[]), &mut out),
            Ok(LoginEvent::Continue)
        );
        assert_eq!(
            login.on_message(b'K', &[0, 0, 0, 7, 0, 0, 0, 9], &mut out),
            Ok(LoginEvent::BackendKey(7, 9))
        );
        assert_eq!(
            login.on_message(b'Z', b"I", &mut out),
            Ok(LoginEvent::Ready)
        );
    }

    #[test]
    fn a_server_that_does_not_know_the_password_is_refused() {
        let verifier = ScramVerifier::from_password("other").unwrap();
        let mut login = ServerLogin::new("app", Some(ServerSecret::Password("s3cret".into())));
        let (server, client_final) = scram_to_client_final(&mut login, verifier);
        // brisk's server side refuses the client's proof...
        assert!(server.finish(&client_final).is_err());
        // ...and a server that signs anyway, with the wrong key, is refused by the client.
        let forged = "v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        let mut out = BytesMut::new();
        assert!(matches!(
            login.on_message(b'R', &auth(AUTH_SASL_FINAL, forged.as_bytes()), &mut out),
            Err(LoginError::BadSignature(_))
        ));
    }

    #[test]
    fn md5_is_answered_from_a_password_or_the_stored_hash_alike() {
        let salt = [1, 2, 3, 4];
        let mut from_password = BytesMut::new();
        ServerLogin::new("app", Some(ServerSecret::Password("pw".into())))
            .on_message(b'R', &auth(AUTH_MD5, &salt), &mut from_password)
            .unwrap();
        assert_eq!(answer(&from_password).0, b'p');
        // What pg_authid stores for md5: md5(password + user).
        use md5::Digest;
        let hash: String = md5::Md5::digest(b"pwapp")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let hash = format!("md5{hash}");
        let mut from_hash = BytesMut::new();
        ServerLogin::new("app", Some(ServerSecret::Md5Hash(hash)))
            .on_message(b'R', &auth(AUTH_MD5, &salt), &mut from_hash)
            .unwrap();
        assert_eq!(from_password, from_hash);
    }

    #[test]
    fn what_brisk_cannot_answer_says_so() {
        let mut out = BytesMut::new();
        let mut login = ServerLogin::new("app", None);
        assert_eq!(
            login.on_message(b'R', &auth(AUTH_CLEARTEXT, &[]), &mut out),
            Err(LoginError::NoSecret {
                method: "a clear-text password",
                user: "app".into()
            })
        );
        assert!(matches!(
            login.on_message(b'R', &auth(AUTH_SASL, b"SCRAM-SHA-256-PLUS\0\0"), &mut out),
            Err(LoginError::Protocol(_))
        ));
        assert!(matches!(
            login.on_message(b'R', &auth(7, &[]), &mut out),
            Err(LoginError::Protocol(_))
        ));
        assert!(matches!(
            login.on_message(b'R', &[0, 0], &mut out),
            Err(LoginError::Protocol(_))
        ));
        assert!(matches!(
            login.on_message(b'X', &[], &mut out),
            Err(LoginError::Protocol(_))
        ));
    }
}
