//! The workers' SQL connection: brisk's own client of PostgreSQL's wire protocol.
//!
//! tokio-postgres's client hands each request to a connection task through a channel and
//! gets the answer back through another, framing each message into a buffer of its own:
//! two task switches and several allocations per statement. At 10,000 operations/s that
//! cost brisk 7% more CPU per operation than pgbench (issue 14 asks for at most pgbench's).
//! Here the worker's own task writes the messages and reads the answer on the socket it
//! owns, and rows are skipped as they arrive, never copied or decoded: what libpq does for
//! pgbench.
//!
//! The connection itself (TCP or Unix socket, TLS per `sslmode`, the startup packet with the
//! URL's `options`, every login method) is the one brisk proxy opens to its servers; the
//! messages are brisk-wire's. A multi-host URL is tried host by host, and
//! `target_session_attrs` is honoured as brisk-pg's sessions honour it (`SHOW
//! transaction_read_only`). Everything else brisk bench says to the server (a parameter's
//! query, pg_stat_statements) goes through brisk-pg's sessions, off the hot path.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use brisk_pg::conninfo::{ConnInfo, SslMode, TargetSessionAttrs};
use brisk_proxy::upstream::{ServerConn, ServerSecret, ServerTarget, Stream};
use brisk_wire::protocol::{self, put_execute_sync, put_sync, put_with};
use bytes::{Buf, BufMut, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::expr::Value;
use crate::run::CONNECTION_FAILURE;

/// Used when the URL sets no `connect_timeout`, as for brisk-pg's sessions.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// What the read buffer keeps free before each read: a short read then shows the socket is
/// drained, so the next statement's read waits for readiness instead of failing once.
const READ_SPACE: usize = 16 * 1024;
/// The largest message length PostgreSQL sends (1 GiB); rows are skipped, never buffered.
const MAX_MESSAGE: usize = 1 << 30;
/// The largest ErrorResponse or other message that is read whole.
const MAX_WHOLE: usize = 1 << 20;

/// A statement the server refused, or a connection that failed: its SQLSTATE (08006 for a
/// lost connection) and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SqlError {
    pub code: String,
    pub message: String,
}

/// One logged-in connection that runs a worker's statements.
pub(crate) struct SqlConnection {
    stream: Stream,
    read: BytesMut,
    write: BytesMut,
    /// Bytes of a skipped message (a row) that have not arrived yet.
    skip: usize,
    /// Set once the connection failed: every later statement fails at once with 08006.
    broken: bool,
}

impl SqlConnection {
    /// Connects to the first host of `info` that accepts the login and suits its
    /// `target_session_attrs`. The error is one line naming the server.
    pub(crate) async fn connect(info: &ConnInfo) -> Result<SqlConnection, String> {
        let display = info.redacted();
        let tls = match info.sslmode {
            SslMode::Disable => None,
            _ => Some(Arc::new(
                brisk_pg::tls::client_config(info, &display).map_err(|e| e.to_string())?,
            )),
        };
        let wants_read_only = match info.target_session_attrs {
            TargetSessionAttrs::ReadWrite | TargetSessionAttrs::Primary => Some(false),
            TargetSessionAttrs::ReadOnly | TargetSessionAttrs::Standby => Some(true),
            TargetSessionAttrs::Any | TargetSessionAttrs::PreferStandby => None,
        };
        let mut last_error = format!("{display}: no host to connect to");
        for host in &info.hosts {
            let mut upstream = info.clone();
            upstream.hosts = vec![host.clone()];
            let target = ServerTarget {
                upstream,
                user: info.user.clone(),
                database: info.dbname.clone(),
                secret: host.password.clone().map(ServerSecret::Password),
                connect_timeout: info.connect_timeout.unwrap_or(CONNECT_TIMEOUT),
                tls: tls.clone(),
                options: info.options.clone(),
            };
            let mut conn = match ServerConn::connect(&target, 0).await {
                Ok(conn) => conn,
                Err(e) => {
                    last_error = e.to_string();
                    continue;
                }
            };
            if let Some(read_only) = wants_read_only {
                match conn.first_column("SHOW transaction_read_only").await {
                    Ok(rows) if (rows.first().map(String::as_str) == Some("on")) == read_only => {}
                    Ok(_) => {
                        last_error = format!(
                            "{}: the server is not {}, as target_session_attrs={} asks",
                            target.describe(),
                            if read_only { "read-only" } else { "read-write" },
                            info.target_session_attrs.as_str()
                        );
                        continue;
                    }
                    Err(e) => {
                        last_error = e.to_string();
                        continue;
                    }
                }
            }
            return Ok(SqlConnection {
                stream: conn.stream,
                read: conn.buf,
                write: BytesMut::with_capacity(1024),
                skip: 0,
                broken: false,
            });
        }
        Err(last_error)
    }

    /// Whether the connection failed (and every statement on it now fails with 08006).
    pub(crate) fn is_broken(&self) -> bool {
        self.broken
    }

    /// Prepares `sql` as the named statement `name`, its parameter types left to the server.
    pub(crate) async fn prepare(&mut self, name: &str, sql: &str) -> Result<(), SqlError> {
        protocol::put_parse(&mut self.write, name, sql, &0i16.to_be_bytes());
        put_sync(&mut self.write);
        self.round_trip(Protocol::Extended).await
    }

    /// Runs the prepared statement `name` with `params` as text (`-M prepared`).
    pub(crate) async fn execute_prepared<'a>(
        &mut self,
        name: &str,
        params: impl Iterator<Item = &'a Value>,
    ) -> Result<(), SqlError> {
        put_bind(&mut self.write, name, params);
        put_execute_sync(&mut self.write);
        self.round_trip(Protocol::Extended).await
    }

    /// Parses and runs `sql` as the unnamed statement with `params` as text, each type left
    /// to the server (`-M extended`).
    pub(crate) async fn execute_unnamed<'a>(
        &mut self,
        sql: &str,
        params: impl ExactSizeIterator<Item = &'a Value>,
    ) -> Result<(), SqlError> {
        // Zero type OIDs: the server infers each, as for pgbench and psql.
        let count = params.len() as i16;
        put_with(&mut self.write, b'P', |b| {
            protocol::put_cstr(b, "");
            protocol::put_cstr(b, sql);
            b.put_i16(count);
            for _ in 0..count {
                b.put_u32(0);
            }
        });
        put_bind(&mut self.write, "", params);
        put_execute_sync(&mut self.write);
        self.round_trip(Protocol::Extended).await
    }

    /// Runs `sql` (one statement or several) with the simple protocol (`-M simple`).
    pub(crate) async fn simple(&mut self, sql: &str) -> Result<(), SqlError> {
        protocol::put_query(&mut self.write, sql);
        self.round_trip(Protocol::Simple).await
    }

    /// Sends what was written and reads the answer up to ReadyForQuery. The first
    /// ErrorResponse is the error; everything else (rows, notices) is skipped.
    async fn round_trip(&mut self, sent_as: Protocol) -> Result<(), SqlError> {
        if self.broken {
            self.write.clear();
            return Err(lost("the connection was lost earlier in the run"));
        }
        let sent = self.stream.write_all(&self.write).await;
        self.write.clear();
        if let Err(e) = sent {
            return Err(self.lose(None, &e.to_string()));
        }
        let mut failed: Option<SqlError> = None;
        loop {
            while let Some(message) = self.next_message() {
                match message {
                    Ok(Message::Error(error)) => {
                        failed.get_or_insert(error);
                    }
                    Ok(Message::Ready) => return failed.map_or(Ok(()), Err),
                    Ok(Message::CopyIn) => {
                        // COPY ... FROM STDIN: brisk sends no data, so the COPY fails and
                        // the server answers with its error and ReadyForQuery. A server in
                        // COPY ignores the Sync already sent, and after an extended-protocol
                        // error it waits for one: a second Sync then ends the exchange.
                        put_with(&mut self.write, b'f', |b| {
                            protocol::put_cstr(b, "brisk bench sends no COPY data")
                        });
                        if sent_as == Protocol::Extended {
                            put_sync(&mut self.write);
                        }
                        let sent = self.stream.write_all(&self.write).await;
                        self.write.clear();
                        if let Err(e) = sent {
                            return Err(self.lose(failed, &e.to_string()));
                        }
                    }
                    Err(reason) => return Err(self.lose(failed, &reason)),
                }
            }
            self.read.reserve(READ_SPACE);
            match self.stream.read_buf(&mut self.read).await {
                Ok(0) => return Err(self.lose(failed, "the server closed the connection")),
                Ok(_) => {}
                Err(e) => return Err(self.lose(failed, &e.to_string())),
            }
        }
    }

    /// The next message the caller must act on, from what is buffered; `None` when more
    /// must be read.
    fn next_message(&mut self) -> Option<Result<Message, String>> {
        next_message_in(&mut self.read, &mut self.skip)
    }

    /// Marks the connection lost. A FATAL error read before the end (the server said why
    /// it hung up) is the error; otherwise `reason` is, as 08006.
    fn lose(&mut self, failed: Option<SqlError>, reason: &str) -> SqlError {
        self.broken = true;
        failed.unwrap_or_else(|| lost(reason))
    }
}

/// The next message a statement in flight acts on at the start of `read`, `None` when more
/// must be read. Messages nothing acts on (rows, notices, row descriptions) are skipped even
/// before they have arrived: `skip` counts their bytes still to come.
fn next_message_in(read: &mut BytesMut, skip: &mut usize) -> Option<Result<Message, String>> {
    loop {
        if *skip > 0 {
            let n = (*skip).min(read.len());
            read.advance(n);
            *skip -= n;
            if *skip > 0 {
                return None;
            }
        }
        let header = match protocol::frame_header(read, MAX_MESSAGE) {
            Ok(Some(header)) => header,
            Ok(None) => return None,
            Err(e) => return Some(Err(e.to_string())),
        };
        let total = header.total_len();
        let message = match header.kind {
            b'E' | b'Z' | b'G' if header.body_len > MAX_WHOLE => {
                return Some(Err(format!(
                    "the server sent a {}-byte '{}' message",
                    header.body_len, header.kind as char
                )))
            }
            b'E' | b'Z' | b'G' if read.len() < total => return None,
            b'E' => Message::Error(sql_error(&read[5..total])),
            b'Z' => Message::Ready,
            b'G' => Message::CopyIn,
            _ => {
                *skip = total;
                continue;
            }
        };
        read.advance(total);
        return Some(Ok(message));
    }
}

/// How the statement in flight was sent: what ends a refused COPY differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// Parse/Bind/Execute, ended by a Sync.
    Extended,
    /// A Query message.
    Simple,
}

/// What one server message means to a statement in flight.
enum Message {
    Error(SqlError),
    Ready,
    CopyIn,
}

fn lost(reason: &str) -> SqlError {
    SqlError {
        code: CONNECTION_FAILURE.to_string(),
        message: format!("server connection lost: {reason}"),
    }
}

/// An ErrorResponse's SQLSTATE and message.
fn sql_error(body: &[u8]) -> SqlError {
    let mut code = None;
    let mut message = None;
    for (field, value) in protocol::decode_fields(body) {
        match field {
            b'C' => code = Some(value),
            b'M' => message = Some(value),
            _ => {}
        }
    }
    SqlError {
        code: code.unwrap_or_else(|| CONNECTION_FAILURE.to_string()),
        message: message.unwrap_or_else(|| "unknown error".to_string()),
    }
}

/// `Bind` of the unnamed portal to `statement`, every parameter and result as text, each
/// value formatted straight into the message.
fn put_bind<'a>(out: &mut BytesMut, statement: &str, params: impl Iterator<Item = &'a Value>) {
    protocol::put_text_bind(out, statement, params, |b, value| match value {
        Value::Text(text) => b.put_slice(text.as_bytes()),
        // BytesMut's fmt::Write cannot fail.
        other => {
            let _ = write!(b, "{other}");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_writes_each_value_as_text_with_its_length() {
        let mut out = BytesMut::new();
        let values = [
            Value::Int(42),
            Value::Text("o'brien".into()),
            Value::Double(1.5),
        ];
        put_bind(&mut out, "s1", values.iter());
        let header = protocol::whole_frame(&out, 1 << 20).unwrap().unwrap();
        assert_eq!(header.kind, b'B');
        assert_eq!(header.total_len(), out.len());
        let bind = protocol::decode_bind(&out[5..]).unwrap();
        assert_eq!(bind.portal, "");
        assert_eq!(bind.statement, "s1");
        let mut expected = Vec::new();
        expected.extend_from_slice(&0i16.to_be_bytes());
        expected.extend_from_slice(&3i16.to_be_bytes());
        for text in ["42", "o'brien", "1.5"] {
            expected.extend_from_slice(&(text.len() as i32).to_be_bytes());
            expected.extend_from_slice(text.as_bytes());
        }
        expected.extend_from_slice(&0i16.to_be_bytes());
        assert_eq!(bind.rest, &expected[..]);
    }

    #[test]
    fn rows_are_skipped_even_when_they_arrive_in_pieces() {
        // Build a connection-less reader: only next_message is exercised.
        let mut answer = BytesMut::new();
        protocol::put_row_description(&mut answer, &["a"]);
        let big = vec![Some("x".repeat(100_000))];
        protocol::put_data_row(&mut answer, &big);
        protocol::put_error(&mut answer, b'E', "ERROR", "23505", "duplicate key");
        protocol::put_ready_for_query(&mut answer, b'I');
        let mut reader = Reader::default();
        let mut messages = Vec::new();
        for chunk in answer.chunks(7_000) {
            reader.read.extend_from_slice(chunk);
            while let Some(m) = reader.next() {
                messages.push(m.unwrap());
            }
        }
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert_eq!(
            messages[0],
            Some(SqlError {
                code: "23505".into(),
                message: "duplicate key".into()
            })
        );
        assert_eq!(messages[1], None);
        assert!(
            reader.read.len() < 7_000,
            "rows were buffered: {}",
            reader.read.len()
        );
    }

    /// [`SqlConnection::next_message`]'s buffer logic without a socket.
    #[derive(Default)]
    struct Reader {
        read: BytesMut,
        skip: usize,
    }

    impl Reader {
        /// `Some(Some(error))` for an error, `Some(None)` for ReadyForQuery.
        fn next(&mut self) -> Option<Result<Option<SqlError>, String>> {
            let mut read = std::mem::take(&mut self.read);
            let got = next_message_in(&mut read, &mut self.skip);
            self.read = read;
            got.map(|m| {
                m.map(|m| match m {
                    Message::Error(e) => Some(e),
                    _ => None,
                })
            })
        }
    }
}
