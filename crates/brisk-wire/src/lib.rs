//! brisk-wire: PostgreSQL's wire protocol (3.0) as brisk speaks it.
//!
//! - [`protocol`] finds message boundaries, decodes the messages brisk reads and encodes the
//!   ones it writes.
//! - [`auth`] holds both sides of the logins brisk takes part in: the server side that logs
//!   clients in to the proxy (SCRAM-SHA-256, md5), and the client side that logs in to a
//!   server with only what the server stores (SCRAM pass-through, an md5 hash).
//! - [`login`] logs in to a server: server messages in, answers out.
//!
//! Architecture invariant: nothing here does I/O, holds a socket or knows of pools. The
//! proxy drives these over its streams; `brisk bench` can use them to speak the raw
//! protocol. Decoding never panics on short or malformed input.
//!
//! ```
//! use brisk_wire::protocol;
//! use bytes::BytesMut;
//!
//! let mut out = BytesMut::new();
//! protocol::put_query(&mut out, "SELECT 1");
//! let header = protocol::whole_frame(&out, 1 << 20).unwrap().unwrap();
//! assert_eq!(header.kind, b'Q');
//! assert_eq!(protocol::decode_query(&out[5..header.total_len()]).unwrap(), "SELECT 1");
//! ```

pub mod auth;
pub mod login;
pub mod protocol;
