//! The place where per-query observability plugs in (issue 6): the relay shows every
//! message it passes to an [`Observer`], in order, with the client it belongs to.
//!
//! Hot path: the relay calls these for every message. An observer must not block; it
//! should count, sample or hand work to another task.

use crate::session::ClientInfo;

/// Sees every message between clients and servers.
pub trait Observer: Send + Sync + 'static {
    /// A message from a client, before brisk rewrites it (statement names as the client
    /// gave them).
    fn client_message(&self, _client: &ClientInfo, _kind: u8, _body: &[u8]) {}
    /// A message from a server that brisk passes to the client.
    fn server_message(&self, _client: &ClientInfo, _kind: u8, _body: &[u8]) {}
}

/// Observes nothing; the default until issue 6's statistics land.
pub struct NoObserver;

impl Observer for NoObserver {}
