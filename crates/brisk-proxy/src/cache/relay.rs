//! The cache's part of the sans-IO relay: which statements a batch will run (so the session
//! announces their writes before sending it), and the answer of a query being filled.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::{Cache, Classified, Fill, WriteClass};

/// An answer larger than this is not kept: it would crowd out many small ones.
const MAX_ENTRY: usize = 1024 * 1024;

/// Per client: statements by name, portals by name, what the next batch runs, and a fill.
pub struct RelayCache {
    pub cache: Arc<Cache>,
    statements: HashMap<String, Arc<Classified>>,
    portals: HashMap<String, Arc<Classified>>,
    /// Statements queued for the server since the session last took them.
    pending: Vec<Arc<Classified>>,
    /// The client SET something brisk does not follow: no lookups for it any more.
    pub untracked: bool,
    fill: Option<(Fill, BytesMut)>,
    filled: Option<(Fill, Bytes)>,
}

impl RelayCache {
    pub fn new(cache: Arc<Cache>) -> RelayCache {
        RelayCache {
            cache,
            statements: HashMap::new(),
            portals: HashMap::new(),
            pending: Vec::new(),
            untracked: false,
            fill: None,
            filled: None,
        }
    }

    fn run(&mut self, classified: Arc<Classified>) {
        self.untracked |= classified.untracked_setting;
        if classified.write != WriteClass::None {
            self.pending.push(classified);
        }
    }

    /// A simple query goes to the server.
    pub fn query(&mut self, query: &str) {
        let classified = self.cache.classified(query);
        self.run(classified);
    }

    /// A function call (`F`) may do anything.
    pub fn function_call(&mut self) {
        self.pending.push(Arc::new(Classified {
            fingerprint: None,
            comment_ttl: None,
            read: None,
            write: WriteClass::Epoch("function call message"),
            untracked_setting: true,
        }));
        self.untracked = true;
    }

    pub fn parsed(&mut self, name: &str, query: &str) {
        let classified = self.cache.classified(query);
        self.statements.insert(name.to_string(), classified);
    }

    pub fn bound(&mut self, portal: &str, statement: &str) {
        match self.statements.get(statement) {
            Some(classified) => {
                self.portals.insert(portal.to_string(), classified.clone());
            }
            None => {
                self.portals.remove(portal);
            }
        }
    }

    /// An Execute: the portal's statement runs; one brisk never saw parsed is unknown.
    pub fn executed(&mut self, portal: &str) {
        let classified = self.portals.get(portal).cloned().unwrap_or_else(|| {
            Arc::new(Classified {
                fingerprint: None,
                comment_ttl: None,
                read: None,
                write: WriteClass::Epoch("a portal brisk did not see bound"),
                untracked_setting: false,
            })
        });
        self.run(classified);
    }

    pub fn closed(&mut self, which: u8, name: &str) {
        match which {
            b'S' => self.statements.remove(name),
            _ => self.portals.remove(name),
        };
    }

    pub fn transaction_ended(&mut self) {
        self.portals.retain(|name, _| name.is_empty());
    }

    pub fn take_pending(&mut self) -> Vec<Arc<Classified>> {
        std::mem::take(&mut self.pending)
    }

    pub fn start_fill(&mut self, fill: Fill) {
        self.fill = Some((fill, BytesMut::new()));
    }

    /// A frame of the answer being filled: RowDescription, DataRows and CommandComplete
    /// are kept; anything else (a notice, an error, a parameter change) spoils the fill.
    pub fn fill_frame(&mut self, kind: u8, frame: &[u8]) {
        let Some((_, buf)) = self.fill.as_mut() else {
            return;
        };
        match kind {
            b'T' | b'D' | b'C' if buf.len() + frame.len() <= MAX_ENTRY => {
                buf.extend_from_slice(frame)
            }
            b'Z' => {
                let ended_idle = frame.get(5) == Some(&b'I');
                if let Some((fill, buf)) = self.fill.take() {
                    if ended_idle && !buf.is_empty() {
                        self.filled = Some((fill, buf.freeze()));
                    }
                }
            }
            _ => self.fill = None,
        }
    }

    pub fn take_filled(&mut self) -> Option<(Fill, Bytes)> {
        self.filled.take()
    }
}
