//! The statements a client runs, timed for the per-query statistics: which text each
//! Execute runs (through its portal and statement), when it started, how long it waited for
//! a server, its rows and whether it failed.
//!
//! The relay calls it as messages pass; it keeps the texts only while statistics are on.
//! Completed statements collect here until the session hands them to the statistics thread,
//! after the client has its answer.
//!
//! Architecture invariant: no I/O and no parsing of bytes beyond the bound values it hashes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::observe::Executed;
use crate::prepared::ClientStatements;
use crate::session::ClientInfo;
use brisk_wire::protocol;

/// A statement in flight, for the per-query statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    query: Arc<str>,
    /// A hash of the bound values (extended protocol).
    params: Option<u64>,
    started: Instant,
    wait: Duration,
    pub rows: u64,
    pub error: bool,
    values: Option<Arc<[Option<String>]>>,
    /// Ran before anything else on a server lent for this transaction alone (see
    /// `Executed::fresh_server`).
    fresh_server: bool,
}

/// A bound portal: its statement's text, a hash of its values, and the values themselves
/// when `log_parameters` allows them.
#[derive(Debug, Clone)]
struct Portal {
    text: Arc<str>,
    params: u64,
    values: Option<Arc<[Option<String>]>>,
}

/// One client's statements, as the statistics see them.
pub struct StatementTracker {
    client: Arc<ClientInfo>,
    /// Whether statements are handed to the statistics thread at all.
    observing: bool,
    /// `log_parameters` as it was when the client logged in.
    keep_values: bool,
    /// Query texts: the unnamed statement, named statements in session mode (transaction
    /// mode keeps them in the relay's `ClientStatements`), each with the raw parameter types
    /// of its Parse when values are kept (to decode binary values); and portals.
    unnamed_text: Option<(Arc<str>, Bytes)>,
    named_texts: HashMap<String, (Arc<str>, Bytes)>,
    unnamed_portal: Option<Portal>,
    named_portals: HashMap<String, Portal>,
    /// Time waited for the current server, charged to the next statement.
    pending_wait: Duration,
    /// Completed statements not yet handed to the statistics thread.
    completed: Vec<Executed>,
}

impl Tracked {
    pub fn query(&self) -> &str {
        &self.query
    }
}

impl StatementTracker {
    pub fn new(client: Arc<ClientInfo>, observing: bool, keep_values: bool) -> StatementTracker {
        StatementTracker {
            client,
            observing,
            keep_values: observing && keep_values,
            unnamed_text: None,
            named_texts: HashMap::new(),
            unnamed_portal: None,
            named_portals: HashMap::new(),
            pending_wait: Duration::ZERO,
            completed: Vec::new(),
        }
    }

    /// The client waited this long for a server: charged to its next statement.
    pub fn waited(&mut self, wait: Duration) {
        self.pending_wait += wait;
    }

    /// A Parse: remembers the text of the unnamed statement, and of a named one unless the
    /// relay keeps it (`kept_by_relay`, transaction mode).
    pub fn parsed(&mut self, name: &str, query: &str, param_types: &[u8], kept_by_relay: bool) {
        if !self.observing {
            return;
        }
        let types = if self.keep_values {
            Bytes::copy_from_slice(param_types)
        } else {
            Bytes::new()
        };
        // Drivers send the same unnamed statement again and again: its text is shared, not
        // copied, while it stays the same.
        let query: Arc<str> = match &self.unnamed_text {
            Some((last, _)) if **last == *query => last.clone(),
            _ => query.into(),
        };
        if name.is_empty() {
            self.unnamed_text = Some((query, types));
        } else if !kept_by_relay {
            self.named_texts.insert(name.to_string(), (query, types));
        }
    }

    /// The text of a statement this tracker keeps (see `parsed`).
    pub fn statement_text(&self, name: &str) -> Option<Arc<str>> {
        if name.is_empty() {
            self.unnamed_text.as_ref().map(|(text, _)| text.clone())
        } else {
            self.named_texts.get(name).map(|(text, _)| text.clone())
        }
    }

    /// A Bind: remembers which statement the portal runs, and a hash of its bound values.
    /// `statements` holds the named statements when the relay keeps them.
    pub fn bound(
        &mut self,
        portal: &str,
        statement: &str,
        values: &[u8],
        statements: Option<&ClientStatements>,
    ) {
        if !self.observing {
            return;
        }
        let found = if statement.is_empty() {
            self.unnamed_text.clone()
        } else if let Some(statements) = statements {
            statements
                .get(statement)
                .map(|s| (s.query.clone(), s.param_types.clone()))
        } else {
            self.named_texts.get(statement).cloned()
        };
        let Some((text, types)) = found else {
            return;
        };
        let entry = Portal {
            text,
            params: crate::observe::hash_of(values),
            values: self
                .keep_values
                .then(|| protocol::bind_values(values, &types))
                .flatten()
                .map(Arc::from),
        };
        if portal.is_empty() {
            self.unnamed_portal = Some(entry);
        } else {
            self.named_portals.insert(portal.to_string(), entry);
        }
    }

    /// A Close of a named statement (`b'S'`) or portal.
    pub fn closed(&mut self, which: u8, name: &str) {
        if !self.observing || name.is_empty() {
            return;
        }
        match which {
            b'S' => self.named_texts.remove(name).map(|(text, _)| text),
            _ => self.named_portals.remove(name).map(|portal| portal.text),
        };
    }

    /// A simple query starting now; `fresh_server` as in [`Executed::fresh_server`].
    pub fn query(&mut self, query: &str, now: Instant, fresh_server: bool) -> Option<Tracked> {
        self.observing
            .then(|| self.track(query.into(), None, None, now, fresh_server))
    }

    /// An Execute of `portal` starting now.
    pub fn execute(&mut self, portal: &str, now: Instant, fresh_server: bool) -> Option<Tracked> {
        if !self.observing {
            return None;
        }
        let found = if portal.is_empty() {
            self.unnamed_portal.clone()
        } else {
            self.named_portals.get(portal).cloned()
        };
        found.map(|portal| {
            self.track(
                portal.text,
                Some(portal.params),
                portal.values,
                now,
                fresh_server,
            )
        })
    }

    fn track(
        &mut self,
        query: Arc<str>,
        params: Option<u64>,
        values: Option<Arc<[Option<String>]>>,
        now: Instant,
        fresh_server: bool,
    ) -> Tracked {
        Tracked {
            query,
            params,
            started: now,
            wait: std::mem::take(&mut self.pending_wait),
            rows: 0,
            error: false,
            values,
            fresh_server,
        }
    }

    /// Records a completed statement for the statistics thread.
    pub fn finish(&mut self, tracked: Tracked, now: Instant) {
        self.completed.push(Executed {
            client: self.client.clone(),
            query: tracked.query,
            params: tracked.params,
            started: tracked.started,
            duration: now.saturating_duration_since(tracked.started),
            wait: tracked.wait,
            rows: tracked.rows,
            error: tracked.error,
            values: tracked.values,
            fresh_server: tracked.fresh_server,
        });
    }

    /// Named portals end with their transaction.
    pub fn transaction_ended(&mut self) {
        if !self.named_portals.is_empty() {
            self.named_portals.clear();
        }
    }

    /// The statements completed since the last call, for the statistics thread.
    pub fn completed(&mut self) -> std::vec::Drain<'_, Executed> {
        self.completed.drain(..)
    }
}
