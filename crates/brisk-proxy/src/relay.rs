//! The relay of one client's messages to the server it borrowed, sans-IO: frames in, frames
//! (and counts, and pin events) out. The session owns the sockets and the checkout and
//! moves bytes; the relay decides what each byte means.
//!
//! At its heart is the queue of expected answers: one entry per request sent to the server,
//! so the relay always knows which server message answers which request. That is what lets
//! brisk prepare statements behind a client's back (and swallow the answers), answer for a
//! statement a server already has (an *owed* answer, paid once everything before it is
//! answered), and hand the server back the moment the client's transaction ends
//! ([`Relay::at_rest`]). A cached answer would be one more owed entry.
//!
//! Architecture invariant: no I/O, no clock reads (the session passes the time of each
//! batch), no pooling. Messages are framed and decoded by `protocol`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use crate::cache::relay::RelayCache;
use crate::prepared::{ClientStatements, ServerStatements, Statement};
use crate::server::MAX_BUFFERED_MESSAGE;
use crate::session_state::TrackedSettings;
use crate::tracker::{StatementTracker, Tracked};
use brisk_sql::session::{
    describes_session_state, effects, session_feature, tracked_index, Effects,
};
use brisk_wire::protocol::{self, ProtocolError};

/// The transaction status a ReadyForQuery reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionStatus {
    /// `I`: not in a transaction block.
    Idle,
    /// `T`: in a transaction block.
    InTransaction,
    /// `E`: in a failed transaction block; statements are refused until it ends.
    Failed,
}

impl TransactionStatus {
    fn from_byte(byte: Option<u8>) -> TransactionStatus {
        match byte {
            Some(b'I') => TransactionStatus::Idle,
            Some(b'T') => TransactionStatus::InTransaction,
            // `E`, or a ReadyForQuery without a body: the cautious reading.
            _ => TransactionStatus::Failed,
        }
    }

    pub fn byte(self) -> u8 {
        match self {
            TransactionStatus::Idle => b'I',
            TransactionStatus::InTransaction => b'T',
            TransactionStatus::Failed => b'E',
        }
    }
}

/// What the relay reads and changes of the server it is attached to (never its socket):
/// the statements prepared there and the settings it reported.
pub struct ServerState<'a> {
    pub prepared: &'a mut ServerStatements,
    pub params: &'a mut HashMap<String, String>,
    /// `ServerConn::settings_stamp`: cleared with every ParameterStatus recorded.
    pub settings_stamp: &'a mut u64,
}

/// Pool counters gathered since the session last took them: the session adds them to the
/// pool's atomics once per batch instead of once per message.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    pub queries: u64,
    pub transactions: u64,
    pub query_time_us: u64,
    pub transaction_time_us: u64,
    pub bytes_to_server: u64,
    pub bytes_to_client: u64,
}

/// One request sent to the server, and what to do with its answers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    /// A client's request: its answers go to the client.
    Client(Request),
    /// brisk's own request: its answers are swallowed.
    Brisk(Request),
    /// An answer brisk owes the client without asking the server (`ParseComplete` for a
    /// statement the server already has, `CloseComplete` for a statement brisk keeps, the
    /// results of a DEALLOCATE brisk carried out itself).
    Owed(Owed),
}

impl Expect {
    fn request(&self) -> Option<&Request> {
        match self {
            Expect::Client(r) | Expect::Brisk(r) => Some(r),
            Expect::Owed(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Owed {
    /// A message with an empty body: ParseComplete, BindComplete, CloseComplete, NoData.
    Empty(u8),
    /// ParameterDescription of a statement without parameters.
    NoParameters,
    /// CommandComplete with this tag.
    Complete(&'static str),
    /// ReadyForQuery with the session's current transaction status.
    Ready,
    /// A cached answer: the server's own frames, replayed as they were.
    Cached(Bytes),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Request {
    /// `Parse`; the name brisk recorded as prepared, to forget if the parse fails.
    Parse(Option<Arc<str>>),
    Bind,
    Close,
    Describe,
    /// With its statement's statistics when they are kept, and what it does to the
    /// session state brisk follows.
    Execute(Option<Tracked>, Effects),
    Sync,
    /// A simple query or function call: its answers run until ReadyForQuery.
    Query(Option<Tracked>, Effects),
}

/// Statements about the client's prepared statements that brisk carries out itself in
/// transaction mode: on a server they would act on every client's statements there.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LocalCommand {
    /// `DEALLOCATE ALL`, or `DISCARD ALL` (which also resets the client's settings).
    DeallocateAll(&'static str),
    /// `DEALLOCATE [PREPARE] name`.
    Deallocate(String),
}

impl LocalCommand {
    fn parse(query: &str) -> Option<LocalCommand> {
        // Hot path: every Parse and Query comes here; rule out all but DEALLOCATE and
        // DISCARD by their first word, without allocating.
        let first = brisk_sql::Lexer::new(query).find(|t| !t.kind.is_trivia())?;
        if !(first.text.eq_ignore_ascii_case("deallocate")
            || first.text.eq_ignore_ascii_case("discard"))
        {
            return None;
        }
        let mut words = Vec::new();
        for token in brisk_sql::Lexer::new(query) {
            match token.kind {
                brisk_sql::TokenKind::Identifier => words.push(token.text.to_ascii_lowercase()),
                brisk_sql::TokenKind::QuotedIdentifier => {
                    words.push(token.text.trim_matches('"').replace("\"\"", "\""))
                }
                brisk_sql::TokenKind::Semicolon => {}
                kind if kind.is_trivia() => {}
                _ => return None,
            }
            if words.len() > 3 {
                return None;
            }
        }
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        match words.as_slice() {
            ["deallocate", "all"] | ["deallocate", "prepare", "all"] => {
                Some(LocalCommand::DeallocateAll("DEALLOCATE ALL"))
            }
            ["discard", "all"] => Some(LocalCommand::DeallocateAll("DISCARD ALL")),
            ["deallocate", name] | ["deallocate", "prepare", name] => {
                Some(LocalCommand::Deallocate(name.to_string()))
            }
            _ => None,
        }
    }

    fn tag(&self) -> &'static str {
        match self {
            LocalCommand::DeallocateAll(tag) => tag,
            LocalCommand::Deallocate(_) => "DEALLOCATE",
        }
    }
}

/// What the unnamed statement and portal, and named ones (only those that have any), do to
/// the session state brisk follows (`T`: brisk-sql's `Effects`, or the startup settings a
/// statement resets). Nearly always empty: the maps allocate only for statements that reset
/// settings or forget prepared statements.
#[derive(Debug, Default)]
struct EffectsByName<T> {
    unnamed: T,
    unnamed_portal: T,
    statements: HashMap<String, T>,
    portals: HashMap<String, T>,
}

/// What a statement does to the session, when it does nothing.
trait Nothing {
    fn is_nothing(&self) -> bool;
}

impl Nothing for Effects {
    fn is_nothing(&self) -> bool {
        self.is_none()
    }
}

impl<T> Nothing for Vec<T> {
    fn is_nothing(&self) -> bool {
        self.is_empty()
    }
}

impl<T: Clone + Default + Nothing> EffectsByName<T> {
    fn parsed(&mut self, name: &str, effects: T) {
        if name.is_empty() {
            self.unnamed = effects;
        } else if !effects.is_nothing() {
            self.statements.insert(name.to_string(), effects);
        } else if !self.statements.is_empty() {
            self.statements.remove(name);
        }
    }

    /// A portal does what its statement does.
    fn bound(&mut self, portal: &str, statement: &str) {
        let effects = if statement.is_empty() {
            self.unnamed.clone()
        } else {
            lookup(&self.statements, statement)
        };
        if portal.is_empty() {
            self.unnamed_portal = effects;
        } else if !effects.is_nothing() {
            self.portals.insert(portal.to_string(), effects);
        } else if !self.portals.is_empty() {
            self.portals.remove(portal);
        }
    }

    fn executed(&self, portal: &str) -> T {
        if portal.is_empty() {
            self.unnamed_portal.clone()
        } else {
            lookup(&self.portals, portal)
        }
    }

    fn closed(&mut self, which: u8, name: &str) {
        let map = match which {
            b'S' => &mut self.statements,
            _ => &mut self.portals,
        };
        if !name.is_empty() && !map.is_empty() {
            map.remove(name);
        }
    }
}

fn lookup<T: Clone + Default>(map: &HashMap<String, T>, name: &str) -> T {
    if map.is_empty() {
        T::default()
    } else {
        map.get(name).cloned().unwrap_or_default()
    }
}

/// One client's relay.
pub struct Relay {
    expected: VecDeque<Expect>,
    status: TransactionStatus,
    /// Transaction pooling: statements are renamed per server and DEALLOCATE is answered
    /// locally. In session mode the client keeps its server and its own names.
    transaction_mode: bool,
    /// Bound to its server for the rest of the session (session features, or session mode).
    pinned: bool,
    /// The server was lent for this transaction and has run nothing of it but `BEGIN`:
    /// a statement now reads session state an earlier transaction left there.
    fresh_server: bool,
    /// The session feature that pinned the client during the last batch, for the session
    /// to log and count.
    newly_pinned: Option<&'static str>,
    in_copy: bool,
    statements: ClientStatements,
    /// The client's tracked settings, brought to every server it gets.
    settings: TrackedSettings,
    /// A statement reset tracked settings that the server put back to its own startup
    /// values, not the client's: they are set again before the client's next message
    /// (with `SET LOCAL` when the reset was local). See `session_state`.
    restore: Option<bool>,
    /// The server has answered everything up to a ReadyForQuery: brisk may send a simple
    /// query of its own without breaking into the client's extended-protocol batch.
    synced: bool,
    /// The untracked settings of the client's startup packet (lowercased names), which
    /// brisk set on its pinned server; and those a statement reset since, to set again.
    extras: Vec<String>,
    /// (name, whether the reset was `SET LOCAL ... TO DEFAULT`).
    extras_reset: Vec<(String, bool)>,
    /// The unnamed statement is a DEALLOCATE brisk answers itself.
    unnamed_local: Option<LocalCommand>,
    effects: EffectsByName<Effects>,
    /// The startup settings each statement resets (only for a client with `extras`).
    extras_resets: EffectsByName<Vec<(String, bool)>>,
    /// The effects of the statements completed since the last ReadyForQuery: PostgreSQL
    /// (14 and later) reports changed settings just before ReadyForQuery, after the
    /// statement that changed them has completed.
    batch_effects: Effects,
    pub tracker: StatementTracker,
    /// Bytes for the server and for the client, written out by the session.
    pub to_server: BytesMut,
    pub to_client: BytesMut,
    /// When the batch being handled arrived: one clock read per batch serves every timing.
    now: Instant,
    /// When the request now in flight was sent, and when the transaction began.
    request_started: Option<Instant>,
    transaction_started: Option<Instant>,
    counts: Counts,
    /// The result cache's view of this client, when the cache is enabled.
    pub cache: Option<RelayCache>,
}

impl Relay {
    pub fn new(
        transaction_mode: bool,
        settings: TrackedSettings,
        tracker: StatementTracker,
        now: Instant,
    ) -> Relay {
        Relay {
            expected: VecDeque::new(),
            status: TransactionStatus::Idle,
            transaction_mode,
            pinned: !transaction_mode,
            fresh_server: false,
            newly_pinned: None,
            in_copy: false,
            statements: ClientStatements::default(),
            settings,
            restore: None,
            synced: true,
            extras: Vec::new(),
            extras_reset: Vec::new(),
            unnamed_local: None,
            effects: EffectsByName::default(),
            extras_resets: EffectsByName::default(),
            batch_effects: Effects::NONE,
            tracker,
            // Allocated on first use: an idle client costs a few pages of memory, not
            // buffers sized for traffic it may never send.
            to_server: BytesMut::new(),
            to_client: BytesMut::new(),
            now,
            request_started: None,
            transaction_started: None,
            counts: Counts::default(),
            cache: None,
        }
    }

    /// Whether a cached answer may be served now: nothing is owed or in flight, and the
    /// client is outside a transaction block.
    pub fn can_serve_cached(&self) -> bool {
        self.expected.is_empty()
            && self.to_server.is_empty()
            && self.synced
            && !self.in_copy
            && self.status == TransactionStatus::Idle
    }

    /// Answers the client's simple query from the cache: one more owed answer, then its
    /// ReadyForQuery with the client's own status.
    pub fn serve_cached(&mut self, frames: Bytes) {
        self.expected.push_back(Expect::Owed(Owed::Cached(frames)));
        self.expected.push_back(Expect::Owed(Owed::Ready));
        self.counts.queries += 1;
    }

    /// Result cache: the client's batch, which began with a Parse (`name`, `query`,
    /// `param_types`), was answered from the cache. The statement is remembered as if the
    /// server had parsed it: in transaction mode a named one is prepared on a server when
    /// first needed, as any; otherwise it is parsed there before the client binds or
    /// describes it (`parse_unsent`).
    pub fn parsed_from_cache(&mut self, name: &str, query: &str, param_types: &[u8]) {
        let rename = self.transaction_mode && !name.is_empty();
        self.effects.parsed(name, effects(query));
        self.tracker.parsed(name, query, param_types, rename);
        if rename {
            self.statements
                .insert(name, Statement::new(query, param_types));
        }
        if let Some(cache) = self.cache.as_mut() {
            cache.parsed(name, query, param_types, !rename);
        }
    }

    /// Result cache: parses on the server a statement whose Parse the cache answered, just
    /// before the client's message that uses it; the ParseComplete is brisk's own.
    fn parse_unsent(&mut self, name: &str, query: &str, param_types: &[u8]) {
        protocol::put_parse(&mut self.to_server, name, query, param_types);
        self.expected.push_back(Expect::Brisk(Request::Parse(None)));
    }

    /// The transaction is over: the server answered a ReadyForQuery `I` after everything
    /// sent to it (the point where a write's marks are cleared).
    pub fn transaction_over(&self) -> bool {
        self.synced && self.expected.is_empty() && self.status == TransactionStatus::Idle
    }

    /// The time of the batch being handled.
    pub fn set_now(&mut self, now: Instant) {
        self.now = now;
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    /// A server was attached at `at`: a new transaction may start on it, and it has just
    /// been brought to the client's settings.
    pub fn attached(&mut self, at: Instant) {
        self.fresh_server = self.transaction_mode && !self.pinned;
        self.transaction_started = Some(at);
        self.now = at;
        self.status = TransactionStatus::Idle;
        self.restore = None;
        self.synced = true;
    }

    /// A statement starts on the server: after anything but transaction control, the
    /// server holds this transaction's own session state.
    fn statement_started(&mut self, query: &str) {
        if self.fresh_server && !brisk_sql::starts_with_keyword(query, &["begin", "start"]) {
            self.fresh_server = false;
        }
    }

    pub fn settings(&self) -> &TrackedSettings {
        &self.settings
    }

    /// Whether the server can be handed back: the client's transaction is over, nothing is
    /// in flight, no COPY, nothing ties the client to this server, and the server has
    /// answered a ReadyForQuery after the last message it got. Without that last condition
    /// a server would go back in the middle of an extended-protocol batch (Parse, Describe,
    /// Flush, as asyncpg prepares; or after an error, waiting for the Sync that discards the
    /// rest), and the next client's messages would be read as part of it.
    pub fn at_rest(&self) -> bool {
        !self.pinned
            && self.synced
            && self.expected.is_empty()
            && self.status == TransactionStatus::Idle
            && !self.in_copy
    }

    /// The server was brought to the client's settings: its reports are the values it
    /// normalized (`'utf-8'` becomes `UTF8`), and the client's from now on.
    pub fn settings_applied(&mut self, server: &HashMap<String, String>) {
        self.settings.adopt(server);
    }

    /// The client sits in a transaction with nothing in flight (for
    /// `idle_transaction_timeout`).
    pub fn idle_in_transaction(&self) -> bool {
        self.expected.is_empty() && self.status != TransactionStatus::Idle
    }

    pub fn awaiting_answers(&self) -> bool {
        !self.expected.is_empty()
    }

    /// Whether the server owes answers (brisk's own owed answers are paid without it).
    pub fn awaiting_server(&self) -> bool {
        self.expected.iter().any(|e| !matches!(e, Expect::Owed(_)))
    }

    /// The text of the client's prepared statement `name` ("" for the unnamed one), when
    /// brisk knows it: always in transaction mode, and with the statistics on otherwise.
    pub fn statement_text(&self, name: &str) -> Option<Arc<str>> {
        if !name.is_empty() {
            if let Some(statement) = self.statements.get(name) {
                return Some(statement.query.clone());
            }
        }
        self.tracker.statement_text(name)
    }

    pub fn in_copy(&self) -> bool {
        self.in_copy
    }

    pub fn pinned(&self) -> bool {
        self.pinned
    }

    pub fn status(&self) -> TransactionStatus {
        self.status
    }

    /// The session feature that pinned the client since the last call.
    pub fn take_newly_pinned(&mut self) -> Option<&'static str> {
        self.newly_pinned.take()
    }

    /// The counts gathered since the last call.
    pub fn take_counts(&mut self) -> Counts {
        std::mem::take(&mut self.counts)
    }

    /// The session wrote `to_server` out: the request in flight starts now.
    pub fn sent_to_server(&mut self) {
        if self.request_started.is_none() {
            self.request_started = Some(self.now);
        }
        self.counts.bytes_to_server += self.to_server.len() as u64;
        self.synced = false;
        self.to_server.clear();
    }

    /// Whether settings a reset took from the client must be set on the server before the
    /// client's next message, and with `SET LOCAL` (true) or `SET`. Asked only when the
    /// server has answered everything, so brisk's own query breaks into nothing; the
    /// answer is given once.
    pub fn take_restore(&mut self) -> Option<bool> {
        if self.restore.is_some()
            && self.synced
            && self.expected.is_empty()
            && self.to_server.is_empty()
        {
            self.restore.take()
        } else {
            None
        }
    }

    /// Handles one client message: forwards it (renaming prepared statements in transaction
    /// mode), or answers it without the server, and queues what it expects in return.
    pub fn client_message(
        &mut self,
        kind: u8,
        body: &[u8],
        server: ServerState<'_>,
    ) -> Result<(), ProtocolError> {
        let rename = self.transaction_mode;
        match kind {
            b'Q' => {
                let query = protocol::decode_query(body)?;
                if let Some(command) =
                    LocalCommand::parse(query).filter(|c| rename && self.answers_locally(c))
                {
                    self.run_local(&command);
                    self.expected
                        .push_back(Expect::Owed(Owed::Complete(command.tag())));
                    self.expected.push_back(Expect::Owed(Owed::Ready));
                    return Ok(());
                }
                self.watch_for_session_features(query);
                self.watch_for_extras_reset(query);
                if let Some(cache) = self.cache.as_mut() {
                    cache.query(query);
                }
                protocol::put_message(&mut self.to_server, kind, body);
                let tracked = self.tracker.query(query, self.now, self.fresh_server);
                self.statement_started(query);
                self.expected
                    .push_back(Expect::Client(Request::Query(tracked, effects(query))));
            }
            b'F' => {
                if let Some(cache) = self.cache.as_mut() {
                    cache.function_call();
                }
                protocol::put_message(&mut self.to_server, kind, body);
                self.expected
                    .push_back(Expect::Client(Request::Query(None, Effects::NONE)));
            }
            b'P' => {
                let parse = protocol::decode_parse(body)?;
                self.unnamed_local = None;
                self.effects.parsed(parse.name, effects(parse.query));
                if let Some(cache) = self.cache.as_mut() {
                    cache.parsed(parse.name, parse.query, parse.param_types, false);
                }
                if parse.name.is_empty() && rename {
                    if let Some(command) =
                        LocalCommand::parse(parse.query).filter(|c| self.answers_locally(c))
                    {
                        // Answered by brisk: the Bind, Describe and Execute of the unnamed
                        // statement that follow are too.
                        self.unnamed_local = Some(command);
                        self.expected.push_back(Expect::Owed(Owed::Empty(b'1')));
                        return Ok(());
                    }
                }
                self.watch_for_session_features(parse.query);
                if !self.extras.is_empty() {
                    let resets = self.extras_reset_by(parse.query);
                    self.extras_resets.parsed(parse.name, resets);
                }
                self.tracker
                    .parsed(parse.name, parse.query, parse.param_types, rename);
                if parse.name.is_empty() || !rename {
                    protocol::put_message(&mut self.to_server, kind, body);
                    self.expected
                        .push_back(Expect::Client(Request::Parse(None)));
                } else {
                    let statement = Statement::new(parse.query, parse.param_types);
                    self.statements.insert(parse.name, statement.clone());
                    let prepared_there = server_has(server.prepared, &statement.server_name);
                    if prepared_there && !describes_session_state(parse.query) {
                        self.expected.push_back(Expect::Owed(Owed::Empty(b'1')));
                    } else {
                        if prepared_there {
                            // Prepared again, as the client asked: its description is the
                            // cursor's or the statement's as they are now.
                            protocol::put_target(
                                &mut self.to_server,
                                b'C',
                                b'S',
                                &statement.server_name,
                            );
                            self.expected.push_back(Expect::Brisk(Request::Close));
                            server.prepared.remove(&statement.server_name);
                        }
                        self.prepare_on_server(server.prepared, &statement, false);
                    }
                }
            }
            b'B' if self.unnamed_local.is_some()
                && protocol::decode_bind(body)?.statement.is_empty() =>
            {
                self.expected.push_back(Expect::Owed(Owed::Empty(b'2')));
            }
            b'D' if self.unnamed_local.is_some()
                && matches!(protocol::decode_target(kind, body)?, (b'P' | b'S', "")) =>
            {
                // A statement's description starts with its parameters: it has none.
                if protocol::decode_target(kind, body)?.0 == b'S' {
                    self.expected.push_back(Expect::Owed(Owed::NoParameters));
                }
                self.expected.push_back(Expect::Owed(Owed::Empty(b'n')));
            }
            b'E' if self.unnamed_local.is_some()
                && protocol::cstr(body).map(|(p, _)| p) == Some("") =>
            {
                if let Some(command) = self.unnamed_local.clone() {
                    self.run_local(&command);
                    self.expected
                        .push_back(Expect::Owed(Owed::Complete(command.tag())));
                }
            }
            b'B' => {
                let bind = protocol::decode_bind(body)?;
                self.effects.bound(bind.portal, bind.statement);
                if !self.extras.is_empty() {
                    self.extras_resets.bound(bind.portal, bind.statement);
                }
                let unsent = self.cache.as_mut().and_then(|cache| {
                    cache.bound(bind.portal, bind.statement);
                    cache.unsent(bind.statement)
                });
                // Result cache: a statement whose Parse it answered is parsed first.
                if let Some((query, types)) = unsent {
                    self.parse_unsent(bind.statement, &query, &types);
                }
                self.tracker.bound(
                    bind.portal,
                    bind.statement,
                    bind.rest,
                    rename.then_some(&self.statements),
                );
                match self.statement_for(server.prepared, bind.statement, rename) {
                    Some(server_name) => protocol::put_bind(
                        &mut self.to_server,
                        bind.portal,
                        &server_name,
                        bind.rest,
                    ),
                    None => protocol::put_message(&mut self.to_server, kind, body),
                }
                self.expected.push_back(Expect::Client(Request::Bind));
            }
            b'D' => {
                let (which, name) = protocol::decode_target(kind, body)?;
                // Result cache: a statement whose Parse it answered is parsed first.
                let unsent = match self.cache.as_mut() {
                    Some(cache) if which == b'S' => cache.unsent(name),
                    _ => None,
                };
                if let Some((query, types)) = unsent {
                    self.parse_unsent(name, &query, &types);
                }
                match (
                    which,
                    self.statement_for(server.prepared, name, rename && which == b'S'),
                ) {
                    (b'S', Some(server_name)) => {
                        protocol::put_target(&mut self.to_server, kind, which, &server_name)
                    }
                    _ => protocol::put_message(&mut self.to_server, kind, body),
                }
                self.expected.push_back(Expect::Client(Request::Describe));
            }
            b'C' => {
                let (which, name) = protocol::decode_target(kind, body)?;
                self.effects.closed(which, name);
                self.extras_resets.closed(which, name);
                if let Some(cache) = self.cache.as_mut() {
                    cache.closed(which, name);
                }
                self.tracker.closed(which, name);
                if which == b'S' && !name.is_empty() && rename {
                    // The statement stays on the server for other clients; the client's name
                    // for it is forgotten.
                    self.statements.remove(name);
                    self.expected.push_back(Expect::Owed(Owed::Empty(b'3')));
                } else {
                    protocol::put_message(&mut self.to_server, kind, body);
                    self.expected.push_back(Expect::Client(Request::Close));
                }
            }
            b'E' => {
                protocol::put_message(&mut self.to_server, kind, body);
                let portal = protocol::cstr(body).map(|(p, _)| p).unwrap_or("");
                let effects = self.effects.executed(portal);
                if !self.extras.is_empty() {
                    let resets = self.extras_resets.executed(portal);
                    self.note_extras_reset(resets);
                }
                if let Some(cache) = self.cache.as_mut() {
                    cache.executed(portal);
                }
                let tracked = self.tracker.execute(portal, self.now, self.fresh_server);
                let text = tracked.as_ref().map(|t| t.query()).unwrap_or_default();
                self.statement_started(text);
                self.expected
                    .push_back(Expect::Client(Request::Execute(tracked, effects)));
            }
            b'S' => {
                protocol::put_message(&mut self.to_server, kind, body);
                self.expected.push_back(Expect::Client(Request::Sync));
            }
            // Flush and COPY data get no answer of their own.
            _ => protocol::put_message(&mut self.to_server, kind, body),
        }
        Ok(())
    }

    /// The server's name for a client statement, preparing it on this server first if
    /// needed. `None` leaves the message as the client wrote it (the unnamed statement, an
    /// unknown name the server will reject, or session mode).
    fn statement_for(
        &mut self,
        prepared: &mut ServerStatements,
        name: &str,
        rename: bool,
    ) -> Option<Arc<str>> {
        if !rename || name.is_empty() {
            return None;
        }
        let statement = self.statements.get(name)?.clone();
        if !server_has(prepared, &statement.server_name) {
            self.prepare_on_server(prepared, &statement, true);
        }
        Some(statement.server_name)
    }

    /// Sends a Parse for `statement` under brisk's name, closing statements the server must
    /// forget to stay within `max_prepared_statements`.
    fn prepare_on_server(
        &mut self,
        prepared: &mut ServerStatements,
        statement: &Statement,
        on_brisks_behalf: bool,
    ) {
        let evicted = prepared.insert(statement.server_name.clone());
        for name in evicted {
            protocol::put_target(&mut self.to_server, b'C', b'S', &name);
            self.expected.push_back(Expect::Brisk(Request::Close));
        }
        protocol::put_parse(
            &mut self.to_server,
            &statement.server_name,
            &statement.query,
            &statement.param_types,
        );
        let request = Request::Parse(Some(statement.server_name.clone()));
        self.expected.push_back(if on_brisks_behalf {
            Expect::Brisk(request)
        } else {
            Expect::Client(request)
        });
    }

    /// Handles the whole server messages in `buf` from `consumed` on, advancing `consumed`
    /// past each: follows the expected answers, and relays to the client what is its.
    pub fn server_frames(
        &mut self,
        buf: &[u8],
        consumed: &mut usize,
        server: ServerState<'_>,
    ) -> Result<(), ProtocolError> {
        loop {
            let rest = &buf[*consumed..];
            let Some(header) = protocol::whole_frame(rest, MAX_BUFFERED_MESSAGE)? else {
                return Ok(());
            };
            let frame = &rest[..header.total_len()];
            *consumed += header.total_len();
            let kind = header.kind;
            let body = &frame[5..];
            let mut forward = true;
            match kind {
                b'1' | b'2' | b'3' => {
                    if let Some(Expect::Brisk(_)) = self.expected.front() {
                        forward = false;
                    }
                    self.expected.pop_front();
                }
                b'T' | b'n' => {
                    if matches!(
                        self.expected.front().and_then(Expect::request),
                        Some(Request::Describe)
                    ) {
                        self.expected.pop_front();
                    }
                }
                b'C' | b'I' | b's' => {
                    self.in_copy = false;
                    let rows = if kind == b'C' {
                        protocol::command_rows(body)
                    } else {
                        0
                    };
                    let effects = self.front_effects();
                    if kind == b'C' && !effects.is_none() {
                        self.batch_effects = self.batch_effects.union(effects);
                        self.follow_effects(effects, &mut *server.prepared, server.params);
                    }
                    match self.expected.front_mut() {
                        Some(Expect::Client(Request::Execute(tracked, _))) => {
                            if let Some(mut tracked) = tracked.take() {
                                tracked.rows = rows;
                                self.tracker.finish(tracked, self.now);
                            }
                            self.expected.pop_front();
                        }
                        Some(Expect::Client(Request::Query(Some(tracked), _))) => {
                            tracked.rows += rows;
                        }
                        _ => {}
                    }
                }
                b'G' | b'H' | b'W' => self.in_copy = true,
                b'E' => self.server_error(server.prepared),
                b'Z' => {
                    self.status = TransactionStatus::from_byte(body.first().copied());
                    if let Some(Expect::Client(Request::Query(Some(tracked), _))) =
                        self.expected.pop_front()
                    {
                        self.tracker.finish(tracked, self.now);
                    }
                    self.synced = self.expected.is_empty();
                    self.batch_effects = Effects::NONE;
                    if self.status == TransactionStatus::Idle {
                        // Named portals end with their transaction, and so do settings a
                        // `SET LOCAL ... TO DEFAULT` reset: the server put back the client's.
                        self.tracker.transaction_ended();
                        self.effects.portals.clear();
                        self.extras_resets.portals.clear();
                        if let Some(cache) = self.cache.as_mut() {
                            cache.transaction_ended();
                        }
                        if self.restore == Some(true) {
                            self.restore = None;
                        }
                    }
                    self.count_completion();
                }
                b'S' => {
                    if let Ok((name, value)) = protocol::decode_parameter_status(body) {
                        server.params.insert(name.to_string(), value.to_string());
                        *server.settings_stamp = 0;
                        if let Some(index) = tracked_index(name) {
                            let resets = self.front_effects().union(self.batch_effects);
                            match self.settings.reset_value(index) {
                                // A reset: the server went back to its own startup value,
                                // the client to its own, which brisk sets on the server
                                // before the client's next statement.
                                Some(own) if resets.resets(index) && own != value => {
                                    protocol::put_parameter_status(&mut self.to_client, name, own);
                                    forward = false;
                                    self.restore =
                                        Some(self.restore.unwrap_or(true) && resets.local());
                                }
                                // The client changed it: follow it to its next servers.
                                _ => self.settings.reported(index, value),
                            }
                        }
                    }
                }
                _ => {}
            }
            if forward {
                if let Some(cache) = self.cache.as_mut() {
                    cache.fill_frame(kind, frame);
                }
                self.to_client.extend_from_slice(frame);
                self.counts.bytes_to_client += frame.len() as u64;
            }
            self.pay_owed();
        }
    }

    /// After an error, the server skips every message up to the next Sync: so do the
    /// expected answers. A Parse brisk recorded as prepared did not happen.
    fn server_error(&mut self, prepared: &mut ServerStatements) {
        if let Some(Expect::Client(Request::Query(tracked, _))) = self.expected.front_mut() {
            if let Some(tracked) = tracked {
                tracked.error = true;
            }
            return;
        }
        // The first statement skipped is the one that failed (at its Parse, Bind or
        // Execute); the ones after it never ran.
        let mut failed = None;
        while let Some(front) = self.expected.front_mut() {
            if matches!(front.request(), Some(Request::Sync)) {
                break;
            }
            if let Expect::Client(Request::Execute(tracked, _)) = front {
                if failed.is_none() {
                    failed = Some(tracked.take());
                }
            }
            if let Some(Request::Parse(Some(name))) = front.request() {
                prepared.remove(name);
            }
            self.expected.pop_front();
        }
        if let Some(Some(mut tracked)) = failed {
            tracked.error = true;
            self.tracker.finish(tracked, self.now);
        }
    }

    /// Sends the answers brisk owes the client once everything before them is answered.
    pub fn pay_owed(&mut self) {
        while let Some(Expect::Owed(owed)) = self.expected.front() {
            match owed {
                Owed::Empty(kind) => protocol::put_message(&mut self.to_client, *kind, &[]),
                Owed::NoParameters => protocol::put_message(&mut self.to_client, b't', &[0, 0]),
                Owed::Complete(tag) => protocol::put_command_complete(&mut self.to_client, tag),
                Owed::Ready => {
                    protocol::put_ready_for_query(&mut self.to_client, self.status.byte())
                }
                Owed::Cached(frames) => {
                    self.counts.bytes_to_client += frames.len() as u64;
                    self.to_client.extend_from_slice(frames)
                }
            }
            self.expected.pop_front();
        }
    }

    /// Carries out a DEALLOCATE (or DISCARD ALL) on the client's own statements, and a
    /// DISCARD ALL's reset of its settings.
    fn run_local(&mut self, command: &LocalCommand) {
        match command {
            LocalCommand::DeallocateAll(tag) => {
                self.statements = ClientStatements::default();
                if *tag == "DISCARD ALL" {
                    self.settings.reset(effects(tag));
                }
            }
            LocalCommand::Deallocate(name) => {
                self.statements.remove(name);
            }
        }
    }

    /// Whether brisk answers `command` itself rather than the server. Only what brisk can
    /// carry out exactly as PostgreSQL would: a server would act on every client's
    /// statements there, but a pinned client may have SQL-level ones (PREPARE) that only
    /// the server knows; DISCARD ALL fails in a transaction block; a DEALLOCATE of a name
    /// the client never prepared is the server's error to give.
    fn answers_locally(&self, command: &LocalCommand) -> bool {
        match command {
            LocalCommand::DeallocateAll("DISCARD ALL") => {
                !self.pinned && self.status == TransactionStatus::Idle
            }
            LocalCommand::DeallocateAll(_) => !self.pinned,
            LocalCommand::Deallocate(name) => self.statements.get(name).is_some(),
        }
    }

    /// What the statement being answered now does to the session state brisk follows.
    fn front_effects(&self) -> Effects {
        match self.expected.front() {
            Some(Expect::Client(Request::Query(_, effects) | Request::Execute(_, effects))) => {
                *effects
            }
            _ => Effects::NONE,
        }
    }

    /// Follows a statement that completed with `effects`: settings reset to the client's
    /// own values (set on the server before its next statement when the server reset them
    /// to its own), and prepared statements the server forgot.
    fn follow_effects(
        &mut self,
        effects: Effects,
        prepared: &mut ServerStatements,
        params: &HashMap<String, String>,
    ) {
        if effects.resets_any() {
            self.settings.reset(effects);
            if self.settings.differences(params, false).is_some() {
                // A LOCAL reset is restored with SET LOCAL, unless a session-level one is
                // already waiting.
                self.restore = Some(self.restore.unwrap_or(true) && effects.local());
            }
        }
        if effects.forgets_prepared() {
            self.statements = ClientStatements::default();
            prepared.clear();
        }
    }

    /// Pins the client to its server when it starts using something that lives in the
    /// session (transaction mode would otherwise break it silently).
    /// The client's untracked startup settings, set on its server (see `Startup`): a
    /// `RESET` of one (or `RESET ALL`, `DISCARD ALL`) must bring back the startup value, as
    /// on a direct connection, not the server's default.
    pub fn set_extras(&mut self, names: Vec<String>) {
        self.extras = names;
    }

    /// The startup settings a statement reset, to set again once the server has answered
    /// everything (asked as `take_restore` is); given once.
    pub fn take_extras_reset(&mut self) -> Vec<(String, bool)> {
        if !self.extras_reset.is_empty()
            && self.synced
            && self.expected.is_empty()
            && self.to_server.is_empty()
        {
            std::mem::take(&mut self.extras_reset)
        } else {
            Vec::new()
        }
    }

    /// Notes the startup settings `query` resets (only for a client that has some).
    fn watch_for_extras_reset(&mut self, query: &str) {
        if !self.extras.is_empty() {
            let resets = self.extras_reset_by(query);
            self.note_extras_reset(resets);
        }
    }

    /// The startup settings `query` resets, and whether each only for its transaction.
    fn extras_reset_by(&self, query: &str) -> Vec<(String, bool)> {
        use brisk_sql::session::Reset;
        let mut found: Vec<(String, bool)> = Vec::new();
        for reset in brisk_sql::session::resets(query) {
            let (names, local) = match reset {
                Reset::All => (self.extras.clone(), false),
                Reset::Setting(name) => (vec![name], false),
                Reset::Local(name) => (vec![name], true),
            };
            for name in names {
                if self.extras.contains(&name) {
                    found.retain(|(n, _)| *n != name);
                    found.push((name, local));
                }
            }
        }
        found
    }

    fn note_extras_reset(&mut self, resets: Vec<(String, bool)>) {
        for (name, local) in resets {
            self.extras_reset.retain(|(n, _)| *n != name);
            self.extras_reset.push((name, local));
        }
    }

    /// Binds the client to its server for the rest of its session, for `reason`.
    pub fn pin(&mut self, reason: &'static str) {
        if !self.pinned {
            self.pinned = true;
            self.newly_pinned = Some(reason);
        }
    }

    fn watch_for_session_features(&mut self, query: &str) {
        if self.pinned {
            return;
        }
        if let Some(feature) = session_feature(query) {
            self.pinned = true;
            self.newly_pinned = Some(feature);
        }
    }

    fn count_completion(&mut self) {
        let now = self.now;
        let micros = |started: Instant| now.saturating_duration_since(started).as_micros() as u64;
        self.counts.queries += 1;
        if let Some(started) = self.request_started.take() {
            self.counts.query_time_us += micros(started);
        }
        if self.status == TransactionStatus::Idle {
            self.counts.transactions += 1;
            if let Some(started) = self.transaction_started.take() {
                self.counts.transaction_time_us += micros(started);
            }
            self.transaction_started = Some(now);
        }
    }
}

fn server_has(prepared: &mut ServerStatements, name: &str) -> bool {
    if prepared.contains(name) {
        prepared.touch(name);
        true
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::atomic::AtomicU8;
    use std::sync::Mutex;

    use crate::session::ClientInfo;

    /// A relay for one client in transaction mode, and the state of the server it has.
    struct Script {
        relay: Relay,
        prepared: ServerStatements,
        params: HashMap<String, String>,
        settings_stamp: u64,
    }

    fn server_params() -> HashMap<String, String> {
        [("TimeZone", "UTC"), ("application_name", "")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    impl Script {
        fn new(startup: &[(&str, &str)]) -> Script {
            let client = Arc::new(ClientInfo {
                id: 1,
                user: "app".into(),
                database: "app".into(),
                application_name: String::new(),
                addr: None,
                connected: std::time::SystemTime::now(),
                tls: false,
                state: AtomicU8::new(0),
                attached: Mutex::new(None),
                cancel_key: (1, 1),
            });
            let startup: Vec<(String, String)> = startup
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let settings = TrackedSettings::new(&startup, &server_params());
            let tracker = StatementTracker::new(client, true, false);
            let mut relay = Relay::new(true, settings, tracker, Instant::now());
            relay.attached(Instant::now());
            Script {
                relay,
                prepared: ServerStatements::new(10),
                params: server_params(),
                settings_stamp: 0,
            }
        }

        /// The client sends these messages; returns what goes to the server.
        fn client(&mut self, messages: &[(u8, Vec<u8>)]) -> Vec<(u8, Vec<u8>)> {
            for (kind, body) in messages {
                let server = ServerState {
                    prepared: &mut self.prepared,
                    params: &mut self.params,
                    settings_stamp: &mut self.settings_stamp,
                };
                self.relay.client_message(*kind, body, server).unwrap();
            }
            let sent = frames(&self.relay.to_server);
            self.relay.sent_to_server();
            self.relay.pay_owed();
            sent
        }

        /// The server answers with these messages; returns what reaches the client.
        fn server(&mut self, messages: &[(u8, Vec<u8>)]) -> Vec<(u8, Vec<u8>)> {
            let mut buf = BytesMut::new();
            for (kind, body) in messages {
                protocol::put_message(&mut buf, *kind, body);
            }
            let mut consumed = 0;
            let server = ServerState {
                prepared: &mut self.prepared,
                params: &mut self.params,
                settings_stamp: &mut self.settings_stamp,
            };
            self.relay
                .server_frames(&buf, &mut consumed, server)
                .unwrap();
            assert_eq!(consumed, buf.len());
            self.answers()
        }

        fn answers(&mut self) -> Vec<(u8, Vec<u8>)> {
            let out = frames(&self.relay.to_client);
            self.relay.to_client.clear();
            out
        }
    }

    #[test]
    fn a_statement_whose_parse_the_cache_answered_is_parsed_before_it_is_used() {
        for name in ["", "s1"] {
            let mut script = Script::new(&[]);
            let cache = crate::cache::Cache::new(crate::cache::CacheConfig::default()).unwrap();
            script.relay.cache = Some(RelayCache::new(Arc::new(cache)));
            script.relay.parsed_from_cache(name, "SELECT 1", &[0, 0]);
            // The server never saw the Parse: brisk sends one before the Bind, and keeps
            // its ParseComplete from the client, which already had one from the cache.
            let sent = script.client(&[bind(name), execute(), sync()]);
            assert_eq!(kinds(&sent), "PBES", "statement {name:?}");
            assert!(String::from_utf8_lossy(&sent[0].1).contains("SELECT 1"));
            let answers = script.server(&[
                (b'1', vec![]),
                (b'2', vec![]),
                complete("SELECT 1"),
                ready(b'I'),
            ]);
            assert_eq!(kinds(&answers), "2CZ", "statement {name:?}");
            // Once is enough.
            let sent = script.client(&[bind(name), execute(), sync()]);
            assert_eq!(kinds(&sent), "BES", "statement {name:?}");
        }
    }

    fn frames(buf: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        let mut rest = buf;
        while let Some(header) = protocol::whole_frame(rest, usize::MAX).unwrap() {
            out.push((header.kind, rest[5..header.total_len()].to_vec()));
            rest = &rest[header.total_len()..];
        }
        out
    }

    fn kinds(frames: &[(u8, Vec<u8>)]) -> String {
        frames.iter().map(|(k, _)| *k as char).collect()
    }

    fn body(write: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
        let mut out = BytesMut::new();
        write(&mut out);
        frames(&out).remove(0).1
    }

    fn query(sql: &str) -> (u8, Vec<u8>) {
        (b'Q', body(|o| protocol::put_query(o, sql)))
    }

    fn parse(name: &str, sql: &str) -> (u8, Vec<u8>) {
        (b'P', body(|o| protocol::put_parse(o, name, sql, &[0, 0])))
    }

    fn bind(statement: &str) -> (u8, Vec<u8>) {
        (
            b'B',
            body(|o| protocol::put_bind(o, "", statement, &[0, 0, 0, 0, 0, 0])),
        )
    }

    fn execute() -> (u8, Vec<u8>) {
        (b'E', vec![0, 0, 0, 0, 0])
    }

    fn sync() -> (u8, Vec<u8>) {
        (b'S', Vec::new())
    }

    fn ready(status: u8) -> (u8, Vec<u8>) {
        (b'Z', vec![status])
    }

    fn complete(tag: &str) -> (u8, Vec<u8>) {
        (b'C', body(|o| protocol::put_command_complete(o, tag)))
    }

    fn parameter(name: &str, value: &str) -> (u8, Vec<u8>) {
        (
            b'S',
            body(|o| protocol::put_parameter_status(o, name, value)),
        )
    }

    fn error() -> (u8, Vec<u8>) {
        (
            b'E',
            body(|o| protocol::put_error(o, b'E', "ERROR", "42P01", "no such table")),
        )
    }

    #[test]
    fn a_named_statement_is_prepared_once_per_server_under_brisks_name() {
        let mut script = Script::new(&[]);
        let sent = script.client(&[parse("s1", "SELECT 1"), bind("s1"), execute(), sync()]);
        assert_eq!(kinds(&sent), "PBES");
        let (_, parse_body) = &sent[0];
        assert!(parse_body.starts_with(b"brisk_"), "renamed: {parse_body:?}");
        let answers = script.server(&[
            (b'1', vec![]),
            (b'2', vec![]),
            complete("SELECT 1"),
            ready(b'I'),
        ]);
        assert_eq!(kinds(&answers), "12CZ");
        assert!(script.relay.at_rest());
        // The same statement again, on the same server: brisk answers the Parse itself.
        let sent = script.client(&[parse("s1", "SELECT 1"), bind("s1"), execute(), sync()]);
        assert_eq!(kinds(&sent), "BES");
        assert_eq!(kinds(&script.answers()), "1");
        let answers = script.server(&[(b'2', vec![]), complete("SELECT 1"), ready(b'I')]);
        assert_eq!(kinds(&answers), "2CZ");
    }

    #[test]
    fn a_fetch_is_prepared_afresh_for_the_cursor_as_it_is_now() {
        let mut script = Script::new(&[]);
        script.client(&[parse("f", "FETCH 2 FROM c"), sync()]);
        script.server(&[(b'1', vec![]), ready(b'I')]);
        // Prepared again (the cursor may be another by now): brisk closes its copy first
        // and swallows that answer.
        let sent = script.client(&[parse("g", "FETCH 2 FROM c"), sync()]);
        assert_eq!(kinds(&sent), "CPS");
        let answers = script.server(&[(b'3', vec![]), (b'1', vec![]), ready(b'I')]);
        assert_eq!(kinds(&answers), "1Z");
    }

    #[test]
    fn a_server_that_forgot_the_statement_gets_it_from_brisk_and_swallows_the_answer() {
        let mut script = Script::new(&[]);
        script.client(&[parse("s1", "SELECT 1"), sync()]);
        script.server(&[(b'1', vec![]), ready(b'I')]);
        // Another server (nothing prepared there): brisk prepares before the Bind.
        script.prepared = ServerStatements::new(10);
        let sent = script.client(&[bind("s1"), execute(), sync()]);
        assert_eq!(kinds(&sent), "PBES");
        let answers = script.server(&[
            (b'1', vec![]),
            (b'2', vec![]),
            complete("SELECT 1"),
            ready(b'I'),
        ]);
        assert_eq!(
            kinds(&answers),
            "2CZ",
            "brisk's ParseComplete is not the client's"
        );
    }

    #[test]
    fn an_error_skips_the_expected_answers_up_to_the_sync() {
        let mut script = Script::new(&[]);
        script.client(&[
            parse("", "SELECT * FROM nowhere"),
            bind(""),
            execute(),
            sync(),
        ]);
        let answers = script.server(&[error(), ready(b'I')]);
        assert_eq!(kinds(&answers), "EZ");
        assert!(script.relay.at_rest());
    }

    #[test]
    fn a_transaction_keeps_the_server_until_it_ends() {
        let mut script = Script::new(&[]);
        script.client(&[query("BEGIN")]);
        script.server(&[complete("BEGIN"), ready(b'T')]);
        assert!(!script.relay.at_rest());
        assert!(script.relay.idle_in_transaction());
        script.client(&[query("SELECT 1/0")]);
        script.server(&[error(), ready(b'E')]);
        assert!(!script.relay.at_rest());
        script.client(&[query("ROLLBACK")]);
        assert!(!script.relay.at_rest(), "an answer is still owed");
        script.server(&[complete("ROLLBACK"), ready(b'I')]);
        assert!(script.relay.at_rest());
        assert_eq!(script.relay.take_counts().transactions, 1);
    }

    #[test]
    fn deallocate_is_answered_locally_only_for_what_the_client_prepared() {
        let mut script = Script::new(&[]);
        script.client(&[parse("s1", "SELECT 1"), sync()]);
        script.server(&[(b'1', vec![]), ready(b'I')]);
        let sent = script.client(&[query("DEALLOCATE s1")]);
        assert!(sent.is_empty());
        assert_eq!(kinds(&script.answers()), "CZ");
        // A name it never prepared is PostgreSQL's error to give.
        let sent = script.client(&[query("DEALLOCATE nothing")]);
        assert_eq!(kinds(&sent), "Q");
    }

    #[test]
    fn a_local_deallocate_is_described_as_postgresql_would() {
        // asyncpg without a statement cache: Parse, Describe the statement, then run it.
        let mut script = Script::new(&[]);
        let describe = (b'D', body(|o| protocol::put_target(o, b'D', b'S', "")));
        let sent = script.client(&[parse("", "DISCARD ALL"), describe, sync()]);
        assert_eq!(kinds(&sent), "S");
        assert_eq!(kinds(&script.server(&[ready(b'I')])), "1tnZ");
        let sent = script.client(&[bind(""), execute(), sync()]);
        assert_eq!(kinds(&sent), "S");
        assert_eq!(kinds(&script.server(&[ready(b'I')])), "2CZ");
    }

    #[test]
    fn discard_all_is_local_outside_a_transaction_and_the_servers_inside_one() {
        let mut script = Script::new(&[]);
        assert!(script.client(&[query("DISCARD ALL")]).is_empty());
        assert_eq!(kinds(&script.answers()), "CZ");
        script.client(&[query("BEGIN")]);
        script.server(&[complete("BEGIN"), ready(b'T')]);
        assert_eq!(kinds(&script.client(&[query("DISCARD ALL")])), "Q");
    }

    #[test]
    fn a_reset_gives_the_client_its_startup_value_and_the_server_is_told_again() {
        let mut script = Script::new(&[("TimeZone", "Europe/Paris")]);
        script
            .params
            .insert("TimeZone".into(), "Europe/Paris".into());
        script.client(&[query("RESET TimeZone")]);
        // The server goes back to its own startup value; the client to its own.
        let answers =
            script.server(&[parameter("TimeZone", "UTC"), complete("RESET"), ready(b'I')]);
        assert_eq!(answers[0], parameter("TimeZone", "Europe/Paris"));
        assert_eq!(script.relay.take_restore(), Some(false));
        assert_eq!(
            script
                .relay
                .settings()
                .differences(&script.params, false)
                .as_deref(),
            Some("SET \"TimeZone\" = 'Europe/Paris';")
        );
        // A SET is followed as it is.
        script.client(&[query("SET TimeZone = 'UTC'")]);
        let answers = script.server(&[parameter("TimeZone", "UTC"), complete("SET"), ready(b'I')]);
        assert_eq!(answers[0], parameter("TimeZone", "UTC"));
        assert_eq!(script.relay.take_restore(), None);
    }

    #[test]
    fn a_reset_reported_after_its_completion_is_still_a_reset() {
        // PostgreSQL 14 and later report changed settings just before ReadyForQuery, after
        // the Execute's CommandComplete.
        let mut script = Script::new(&[("application_name", "billing")]);
        script
            .params
            .insert("application_name".into(), "billing".into());
        script.client(&[parse("", "RESET ALL"), bind(""), execute(), sync()]);
        let answers = script.server(&[
            (b'1', vec![]),
            (b'2', vec![]),
            complete("RESET"),
            parameter("application_name", "brisk"),
            ready(b'I'),
        ]);
        assert_eq!(answers[3], parameter("application_name", "billing"));
        assert_eq!(script.relay.take_restore(), Some(false));
        // The next batch's reports are the client's own again.
        script.client(&[query("SET application_name = 'x'")]);
        let answers = script.server(&[
            complete("SET"),
            parameter("application_name", "x"),
            ready(b'I'),
        ]);
        assert_eq!(answers[1], parameter("application_name", "x"));
    }

    #[test]
    fn a_server_in_the_middle_of_an_extended_batch_is_not_at_rest() {
        let mut script = Script::new(&[]);
        // Parse, Describe, Flush: answered, but the server waits for the rest of the batch.
        script.client(&[
            parse("", "SELECT 1"),
            (b'D', body(|o| protocol::put_target(o, b'D', b'S', ""))),
            (b'H', Vec::new()),
        ]);
        script.server(&[(b'1', vec![]), (b't', vec![0, 0]), (b'n', vec![])]);
        assert!(!script.relay.awaiting_answers());
        assert!(!script.relay.at_rest());
        // An error skips to the Sync, which the client sends next.
        script.client(&[bind(""), execute(), (b'H', Vec::new())]);
        script.server(&[error()]);
        assert!(!script.relay.at_rest());
        script.client(&[sync()]);
        script.server(&[ready(b'I')]);
        assert!(script.relay.at_rest());
    }

    #[test]
    fn a_session_feature_pins_the_client_once() {
        let mut script = Script::new(&[]);
        script.client(&[query("CREATE TEMP TABLE t (a int)")]);
        assert_eq!(script.relay.take_newly_pinned(), Some("temporary table"));
        script.server(&[complete("CREATE TABLE"), ready(b'I')]);
        assert!(!script.relay.at_rest());
        script.client(&[query("LISTEN jobs")]);
        assert_eq!(script.relay.take_newly_pinned(), None);
    }

    #[test]
    fn deallocate_and_discard_are_recognised() {
        assert_eq!(
            LocalCommand::parse("DEALLOCATE ALL"),
            Some(LocalCommand::DeallocateAll("DEALLOCATE ALL"))
        );
        assert_eq!(
            LocalCommand::parse("discard all;"),
            Some(LocalCommand::DeallocateAll("DISCARD ALL"))
        );
        assert_eq!(
            LocalCommand::parse("DEALLOCATE PREPARE _pg3_0"),
            Some(LocalCommand::Deallocate("_pg3_0".into()))
        );
        assert_eq!(
            LocalCommand::parse("DEALLOCATE \"Mixed\""),
            Some(LocalCommand::Deallocate("Mixed".into()))
        );
        assert_eq!(LocalCommand::parse("DEALLOCATE ALL; SELECT 1"), None);
        assert_eq!(LocalCommand::parse("SELECT 1"), None);
    }
}
