//! The cache's part of the sans-IO relay: which statements a batch will run (so the session
//! announces their writes before sending it), the answer of a query being filled, and which
//! buffered extended-protocol batches a cached answer may stand for.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use super::{Cache, Classified, Fill, WriteClass};
use brisk_wire::protocol;

/// A statement the client parsed, as it parsed it: what a cached batch that binds it
/// without parsing it again is keyed by, and what brisk parses on the server when the
/// client's Parse was answered from the cache.
#[derive(Debug, Clone)]
struct Parsed {
    classified: Arc<Classified>,
    query: Arc<str>,
    param_types: Bytes,
    /// Its Parse was answered from the cache: the server does not have it.
    unsent: bool,
}

/// A buffered extended-protocol batch a cached answer may stand for: `[Parse] Bind
/// [Describe] Execute Sync` (Describe of the statement may also come before the Bind),
/// running one statement in the unnamed portal to completion.
#[derive(Debug)]
pub struct Batch {
    /// Bytes of the client's buffer it spans, its Sync included.
    pub len: usize,
    pub query: Arc<str>,
    /// What, besides the query text, decides the server's answer: which messages, the
    /// declared parameter types, the Bind's formats and values, which Describe.
    pub key: Vec<u8>,
    /// The batch's Parse: statement name and parameter types.
    pub parse: Option<(String, Bytes)>,
}

/// Per client: statements by name, portals by name, what the next batch runs, and a fill.
pub struct RelayCache {
    pub cache: Arc<Cache>,
    statements: HashMap<String, Parsed>,
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

    /// A Parse: `unsent` when it was answered from the cache.
    pub fn parsed(&mut self, name: &str, query: &str, param_types: &[u8], unsent: bool) {
        let classified = self.cache.classified(query);
        self.statements.insert(
            name.to_string(),
            Parsed {
                classified,
                query: query.into(),
                param_types: Bytes::copy_from_slice(param_types),
                unsent,
            },
        );
    }

    /// A statement the client is about to bind or describe whose Parse was answered from
    /// the cache: its text and parameter types, for brisk to parse it on the server first
    /// (once).
    pub fn unsent(&mut self, name: &str) -> Option<(Arc<str>, Bytes)> {
        let parsed = self.statements.get_mut(name).filter(|p| p.unsent)?;
        parsed.unsent = false;
        Some((parsed.query.clone(), parsed.param_types.clone()))
    }

    pub fn bound(&mut self, portal: &str, statement: &str) {
        match self.statements.get(statement) {
            Some(parsed) => {
                self.portals
                    .insert(portal.to_string(), parsed.classified.clone());
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
        if which == b'S' {
            self.statements.remove(name);
        } else {
            self.portals.remove(name);
        }
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

    /// A frame of the answer being filled: ParseComplete, BindComplete,
    /// ParameterDescription, RowDescription, NoData, DataRows and CommandComplete are kept;
    /// anything else (a notice, an error, a parameter change, a suspended portal) spoils
    /// the fill.
    pub fn fill_frame(&mut self, kind: u8, frame: &[u8]) {
        let Some((_, buf)) = self.fill.as_mut() else {
            return;
        };
        match kind {
            b'1' | b'2' | b't' | b'T' | b'n' | b'D' | b'C'
                if buf.len() + frame.len() <= self.cache.config.max_entry_bytes =>
            {
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

    /// The extended-protocol batch at the start of `buf`, when a cached answer may stand
    /// for it: whole up to its Sync, one statement run to completion in the unnamed portal,
    /// and a Parse (if any) that the server would accept as surely as it did when the
    /// answer was filled (not the reuse of a name the client already has).
    pub fn batch(&self, buf: &[u8]) -> Option<Batch> {
        let mut key = vec![b'X'];
        let mut at = 0;
        let mut parse: Option<(String, Bytes, Arc<str>)> = None;
        let mut statement: Option<String> = None;
        let (mut bound, mut described, mut executed) = (false, false, false);
        loop {
            let header = protocol::whole_frame(&buf[at..], usize::MAX).ok()??;
            let body = &buf[at + 5..at + header.total_len()];
            at += header.total_len();
            key.push(header.kind);
            match header.kind {
                b'P' if parse.is_none() && !bound && !described => {
                    let p = protocol::decode_parse(body).ok()?;
                    if !p.name.is_empty() && self.statements.contains_key(p.name) {
                        return None;
                    }
                    key.extend_from_slice(p.param_types);
                    statement = Some(p.name.to_string());
                    parse = Some((
                        p.name.to_string(),
                        Bytes::copy_from_slice(p.param_types),
                        p.query.into(),
                    ));
                }
                b'B' if !bound => {
                    let b = protocol::decode_bind(body).ok()?;
                    if !b.portal.is_empty()
                        || statement.as_deref().is_some_and(|s| s != b.statement)
                    {
                        return None;
                    }
                    statement = Some(b.statement.to_string());
                    key.extend_from_slice(b.rest);
                    bound = true;
                }
                b'D' if !described && !executed => {
                    let (which, name) = protocol::decode_target(b'D', body).ok()?;
                    let same = match which {
                        b'P' => bound && name.is_empty(),
                        _ => statement.get_or_insert_with(|| name.to_string()) == name,
                    };
                    if !same {
                        return None;
                    }
                    key.push(which);
                    described = true;
                }
                b'E' if bound && !executed => {
                    let (portal, rest) = protocol::cstr(body)?;
                    // A row limit is a partial fetch: the portal would be suspended.
                    if !portal.is_empty() || rest != [0, 0, 0, 0] {
                        return None;
                    }
                    executed = true;
                }
                b'S' if executed => break,
                _ => return None,
            }
        }
        let (query, parse) = match parse {
            Some((name, types, query)) => (query, Some((name, types))),
            None => {
                let known = self.statements.get(statement.as_deref()?)?;
                // Bound without a Parse: its declared types decide the answer too.
                key.push(b'@');
                key.extend_from_slice(&known.param_types);
                (known.query.clone(), None)
            }
        };
        Some(Batch {
            len: at,
            query,
            key,
            parse,
        })
    }
}
