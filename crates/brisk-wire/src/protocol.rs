//! PostgreSQL wire protocol framing (protocol 3.0): finding message boundaries, decoding the
//! messages the proxy interprets, and encoding the ones it writes.
//!
//! Architecture invariant: this module does no I/O and holds no connection state. Decoding
//! never panics on short or malformed input: it returns `Ok(None)` until a whole frame is
//! buffered, and an error for bytes no PostgreSQL client or server sends.
//!
//! Hot path: every message of every client passes through [`frame_header`]. It reads five
//! bytes and allocates nothing; bodies are decoded only for the few message types the proxy
//! acts on.

use bytes::{Buf, BufMut, BytesMut};

/// The protocol version of a StartupMessage: 3.0.
pub const PROTOCOL_3_0: i32 = 196_608;
/// The magic "versions" of the other startup packets.
pub const SSL_REQUEST: i32 = 80_877_103;
pub const GSSENC_REQUEST: i32 = 80_877_104;
pub const CANCEL_REQUEST: i32 = 80_877_102;

/// The longest startup packet brisk accepts. PostgreSQL's own limit is 10,000 bytes
/// (`MAX_STARTUP_PACKET_LENGTH`).
pub const MAX_STARTUP_PACKET: usize = 10_000;

/// What went wrong decoding bytes from a peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("invalid message length {length} for message type {kind:?}")]
    BadLength { kind: char, length: i64 },
    #[error("message of {length} bytes is larger than the limit of {limit} bytes")]
    TooLarge { length: usize, limit: usize },
    #[error("invalid startup packet: {0}")]
    BadStartup(String),
    #[error("unsupported frontend protocol {major}.{minor}: brisk speaks 3.0")]
    UnsupportedVersion { major: i32, minor: i32 },
    #[error("malformed {kind:?} message: {detail}")]
    Malformed { kind: char, detail: String },
}

/// The header of a typed message: its type byte and the length of its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub kind: u8,
    /// Bytes after the 5-byte header.
    pub body_len: usize,
}

impl FrameHeader {
    pub fn total_len(&self) -> usize {
        5 + self.body_len
    }
}

/// Reads the header at the start of `buf`, if five bytes are there. The length field counts
/// itself but not the type byte, so it must be at least 4.
pub fn frame_header(buf: &[u8], limit: usize) -> Result<Option<FrameHeader>, ProtocolError> {
    let Some(header) = buf.get(..5) else {
        return Ok(None);
    };
    let kind = header[0];
    let length = i32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    if length < 4 {
        return Err(ProtocolError::BadLength {
            kind: kind as char,
            length: i64::from(length),
        });
    }
    let body_len = (length - 4) as usize;
    if body_len > limit {
        return Err(ProtocolError::TooLarge {
            length: body_len,
            limit,
        });
    }
    Ok(Some(FrameHeader { kind, body_len }))
}

/// A whole typed message at the start of `buf`, with its header, if it is all there.
pub fn whole_frame(buf: &[u8], limit: usize) -> Result<Option<FrameHeader>, ProtocolError> {
    match frame_header(buf, limit)? {
        Some(header) if buf.len() >= header.total_len() => Ok(Some(header)),
        _ => Ok(None),
    }
}

/// The first packet a client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartupPacket {
    Startup { params: Vec<(String, String)> },
    SslRequest,
    GssEncRequest,
    Cancel { pid: i32, secret: i32 },
}

impl StartupPacket {
    /// A startup parameter by name (`user`, `database`, `application_name`).
    pub fn param(params: &[(String, String)], name: &str) -> Option<String> {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// Decodes the untyped startup packet at the start of `buf`, consuming it when whole.
pub fn decode_startup(buf: &mut BytesMut) -> Result<Option<StartupPacket>, ProtocolError> {
    let Some(len_bytes) = buf.get(..4) else {
        return Ok(None);
    };
    let length = i32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
    if length < 8 || length as usize > MAX_STARTUP_PACKET {
        return Err(ProtocolError::BadStartup(format!("length {length}")));
    }
    let length = length as usize;
    if buf.len() < length {
        return Ok(None);
    }
    let mut packet = buf.split_to(length);
    packet.advance(4);
    let code = packet.get_i32();
    match code {
        SSL_REQUEST => Ok(Some(StartupPacket::SslRequest)),
        GSSENC_REQUEST => Ok(Some(StartupPacket::GssEncRequest)),
        CANCEL_REQUEST => {
            if packet.len() < 8 {
                return Err(ProtocolError::BadStartup("short cancel request".into()));
            }
            let pid = packet.get_i32();
            let secret = packet.get_i32();
            Ok(Some(StartupPacket::Cancel { pid, secret }))
        }
        PROTOCOL_3_0 => {
            let mut params = Vec::new();
            let mut rest = &packet[..];
            loop {
                let (name, after) = cstr(rest).ok_or_else(|| {
                    ProtocolError::BadStartup("unterminated parameter name".into())
                })?;
                if name.is_empty() {
                    break;
                }
                let (value, after) = cstr(after).ok_or_else(|| {
                    ProtocolError::BadStartup(format!("unterminated value of {name}"))
                })?;
                params.push((name.to_string(), value.to_string()));
                rest = after;
            }
            Ok(Some(StartupPacket::Startup { params }))
        }
        other => Err(ProtocolError::UnsupportedVersion {
            major: other >> 16,
            minor: other & 0xffff,
        }),
    }
}

/// A NUL-terminated UTF-8 string at the start of `bytes`, and what follows it.
pub fn cstr(bytes: &[u8]) -> Option<(&str, &[u8])> {
    let end = bytes.iter().position(|b| *b == 0)?;
    let text = std::str::from_utf8(&bytes[..end]).ok()?;
    Some((text, &bytes[end + 1..]))
}

fn malformed(kind: u8, detail: &str) -> ProtocolError {
    ProtocolError::Malformed {
        kind: kind as char,
        detail: detail.to_string(),
    }
}

/// `Parse`: a statement name, its query text and the parameter types the client fixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parse<'a> {
    pub name: &'a str,
    pub query: &'a str,
    /// The raw parameter-type section: count and OIDs, kept as bytes.
    pub param_types: &'a [u8],
}

pub fn decode_parse(body: &[u8]) -> Result<Parse<'_>, ProtocolError> {
    let (name, rest) = cstr(body).ok_or_else(|| malformed(b'P', "statement name"))?;
    let (query, rest) = cstr(rest).ok_or_else(|| malformed(b'P', "query"))?;
    if rest.len() < 2 {
        return Err(malformed(b'P', "parameter count"));
    }
    let count = u16::from_be_bytes([rest[0], rest[1]]) as usize;
    if rest.len() != 2 + 4 * count {
        return Err(malformed(b'P', "parameter types"));
    }
    Ok(Parse {
        name,
        query,
        param_types: rest,
    })
}

/// `Bind`: the portal and the statement it binds; the rest (formats, values) is kept as
/// bytes, since the proxy only renames the statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind<'a> {
    pub portal: &'a str,
    pub statement: &'a str,
    pub rest: &'a [u8],
}

pub fn decode_bind(body: &[u8]) -> Result<Bind<'_>, ProtocolError> {
    let (portal, rest) = cstr(body).ok_or_else(|| malformed(b'B', "portal name"))?;
    let (statement, rest) = cstr(rest).ok_or_else(|| malformed(b'B', "statement name"))?;
    Ok(Bind {
        portal,
        statement,
        rest,
    })
}

/// The parameter values of a Bind (the part after its two names), as text, for logs,
/// captures and EXPLAIN; SQL NULL is `None`. Binary values are decoded for the types the
/// statement's Parse declared (`param_types`: its raw count-and-OIDs section) when brisk
/// knows the type: booleans, integers, floats, text types, json(b), uuid, bytea, date and
/// timestamps. `None` when a value cannot be shown as text, or the section is malformed
/// (the server will say so).
pub fn bind_values(rest: &[u8], param_types: &[u8]) -> Option<Vec<Option<String>>> {
    fn i16_at(bytes: &[u8], at: usize) -> Option<i16> {
        Some(i16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
    }
    let formats = usize::try_from(i16_at(rest, 0)?).ok()?;
    let format_of = |i: usize| -> Option<i16> {
        match formats {
            0 => Some(0),
            1 => i16_at(rest, 2),
            _ => i16_at(rest, 2 + 2 * i),
        }
    };
    let type_of = |i: usize| -> u32 {
        param_types
            .get(2 + 4 * i..6 + 4 * i)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
            .unwrap_or(0)
    };
    let mut at = 2 + 2 * formats;
    let count = usize::try_from(i16_at(rest, at)?).ok()?;
    if formats > 1 && formats != count {
        return None;
    }
    at += 2;
    let mut values = Vec::with_capacity(count);
    for i in 0..count {
        let len = i32::from_be_bytes(rest.get(at..at + 4)?.try_into().ok()?);
        at += 4;
        if len < 0 {
            values.push(None);
            continue;
        }
        let len = usize::try_from(len).ok()?;
        let bytes = rest.get(at..at + len)?;
        at += len;
        values.push(Some(match format_of(i)? {
            0 => String::from_utf8_lossy(bytes).into_owned(),
            _ => binary_text(type_of(i), bytes)?,
        }));
    }
    Some(values)
}

/// A binary-format value of a type brisk knows, as PostgreSQL would print it.
fn binary_text(oid: u32, bytes: &[u8]) -> Option<String> {
    fn be<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
        bytes.try_into().ok()
    }
    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
    Some(match oid {
        16 => match bytes {
            [0] => "false".into(),
            [_] => "true".into(),
            _ => return None,
        },
        21 => i16::from_be_bytes(be(bytes)?).to_string(),
        23 => i32::from_be_bytes(be(bytes)?).to_string(),
        20 => i64::from_be_bytes(be(bytes)?).to_string(),
        26 => u32::from_be_bytes(be(bytes)?).to_string(),
        700 => f32::from_be_bytes(be(bytes)?).to_string(),
        701 => f64::from_be_bytes(be(bytes)?).to_string(),
        // text, varchar, bpchar, name, json, xml, unknown-as-text
        25 | 1043 | 1042 | 19 | 114 | 142 | 705 => String::from_utf8(bytes.to_vec()).ok()?,
        3802 => match bytes.split_first() {
            Some((1, json)) => String::from_utf8(json.to_vec()).ok()?,
            _ => return None,
        },
        2950 if bytes.len() == 16 => format!(
            "{}-{}-{}-{}-{}",
            hex(&bytes[..4]),
            hex(&bytes[4..6]),
            hex(&bytes[6..8]),
            hex(&bytes[8..10]),
            hex(&bytes[10..])
        ),
        17 => format!("\\x{}", hex(bytes)),
        1082 => {
            let days = i32::from_be_bytes(be(bytes)?);
            let (y, m, d) = civil_from_days(i64::from(days) + DAYS_1970_TO_2000);
            format!("{y:04}-{m:02}-{d:02}")
        }
        1114 | 1184 => {
            let micros = i64::from_be_bytes(be(bytes)?);
            let days = micros.div_euclid(86_400_000_000);
            let rest = micros.rem_euclid(86_400_000_000);
            let (y, m, d) = civil_from_days(days + DAYS_1970_TO_2000);
            let (secs, frac) = (rest / 1_000_000, rest % 1_000_000);
            let zone = if oid == 1184 { "+00" } else { "" };
            format!(
                "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{frac:06}{zone}",
                secs / 3600,
                secs / 60 % 60,
                secs % 60
            )
        }
        _ => return None,
    })
}

/// PostgreSQL counts dates from 2000-01-01; these are the days from 1970-01-01 to it.
const DAYS_1970_TO_2000: i64 = 10_957;

/// (year, month, day) of a day counted from 1970-01-01, in the proleptic Gregorian calendar
/// (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `Describe` and `Close`: `S` for a statement or `P` for a portal, and its name.
pub fn decode_target(kind: u8, body: &[u8]) -> Result<(u8, &str), ProtocolError> {
    let (&which, rest) = body
        .split_first()
        .ok_or_else(|| malformed(kind, "target"))?;
    if which != b'S' && which != b'P' {
        return Err(malformed(kind, "target must be S or P"));
    }
    let (name, _) = cstr(rest).ok_or_else(|| malformed(kind, "name"))?;
    Ok((which, name))
}

/// The rows a `CommandComplete` reports (`SELECT 5`, `INSERT 0 5`, `UPDATE 3`, `COPY 10`);
/// 0 for commands that report none.
pub fn command_rows(body: &[u8]) -> u64 {
    let Some((tag, _)) = cstr(body) else {
        return 0;
    };
    let mut words = tag.split(' ');
    match words.next() {
        Some("SELECT" | "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "FETCH" | "MOVE" | "COPY") => {
            words.next_back().and_then(|n| n.parse().ok()).unwrap_or(0)
        }
        _ => 0,
    }
}

/// The query text of a simple `Query` message.
pub fn decode_query(body: &[u8]) -> Result<&str, ProtocolError> {
    cstr(body)
        .map(|(q, _)| q)
        .ok_or_else(|| malformed(b'Q', "query text"))
}

/// `ParameterStatus`: a server setting and its value.
pub fn decode_parameter_status(body: &[u8]) -> Result<(&str, &str), ProtocolError> {
    let (name, rest) = cstr(body).ok_or_else(|| malformed(b'S', "name"))?;
    let (value, _) = cstr(rest).ok_or_else(|| malformed(b'S', "value"))?;
    Ok((name, value))
}

/// The fields of an `ErrorResponse` or `NoticeResponse` by their code (`S`, `C`, `M`, ...).
pub fn decode_fields(body: &[u8]) -> Vec<(u8, String)> {
    let mut fields = Vec::new();
    let mut rest = body;
    while let Some((&code, after)) = rest.split_first() {
        if code == 0 {
            break;
        }
        let Some((value, after)) = cstr(after) else {
            break;
        };
        fields.push((code, value.to_string()));
        rest = after;
    }
    fields
}

/// A SASLInitialResponse's mechanism and initial data (the `p` message a client sends first
/// in a SASL login). `None` when the body is malformed; a length of -1 means no data.
pub fn decode_sasl_initial_response(body: &[u8]) -> Option<(&str, &[u8])> {
    let (mechanism, rest) = cstr(body)?;
    let length = i32::from_be_bytes(rest.get(..4)?.try_into().ok()?);
    let data = &rest[4..];
    match length {
        -1 => Some((mechanism, &[])),
        n => Some((mechanism, data.get(..usize::try_from(n).ok()?)?)),
    }
}

/// Writes a SASLInitialResponse: the mechanism and its initial data.
pub fn put_sasl_initial_response(out: &mut BytesMut, mechanism: &str, data: &[u8]) {
    put_with(out, b'p', |b| {
        put_cstr(b, mechanism);
        b.put_i32(data.len() as i32);
        b.extend_from_slice(data);
    });
}

/// The text of an ErrorResponse or NoticeResponse body: its message, with the SQLSTATE.
pub fn error_text(body: &[u8]) -> String {
    let fields = decode_fields(body);
    let get = |code: u8| {
        fields
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| v.as_str())
    };
    match (get(b'M'), get(b'C')) {
        (Some(message), Some(code)) => format!("{message} (SQLSTATE {code})"),
        (Some(message), None) => message.to_string(),
        _ => "unknown error".to_string(),
    }
}

/// Appends a typed message: type byte, length, body.
pub fn put_message(out: &mut BytesMut, kind: u8, body: &[u8]) {
    out.reserve(5 + body.len());
    out.put_u8(kind);
    out.put_i32((body.len() + 4) as i32);
    out.put_slice(body);
}

/// Appends a message whose body `write` produces, patching the length afterwards.
pub fn put_with(out: &mut BytesMut, kind: u8, write: impl FnOnce(&mut BytesMut)) {
    out.put_u8(kind);
    let at = out.len();
    out.put_i32(0);
    write(out);
    let length = (out.len() - at) as i32;
    out[at..at + 4].copy_from_slice(&length.to_be_bytes());
}

pub fn put_cstr(out: &mut BytesMut, text: &str) {
    out.put_slice(text.as_bytes());
    out.put_u8(0);
}

/// `Parse` with the given name, query and raw parameter-type section.
pub fn put_parse(out: &mut BytesMut, name: &str, query: &str, param_types: &[u8]) {
    put_with(out, b'P', |b| {
        put_cstr(b, name);
        put_cstr(b, query);
        b.put_slice(param_types);
    });
}

pub fn put_bind(out: &mut BytesMut, portal: &str, statement: &str, rest: &[u8]) {
    put_with(out, b'B', |b| {
        put_cstr(b, portal);
        put_cstr(b, statement);
        b.put_slice(rest);
    });
}

/// `Bind` of the unnamed portal to `statement` with every parameter and every result column
/// as text. `write` puts each value's bytes straight into the message, so a caller that
/// formats its values needs no buffer of its own.
pub fn put_text_bind<V>(
    out: &mut BytesMut,
    statement: &str,
    values: impl IntoIterator<Item = V>,
    mut write: impl FnMut(&mut BytesMut, V),
) {
    put_with(out, b'B', |b| {
        put_cstr(b, "");
        put_cstr(b, statement);
        b.put_i16(0);
        let count_at = b.len();
        b.put_i16(0);
        let mut count: i16 = 0;
        for value in values {
            let at = b.len();
            b.put_i32(0);
            write(b, value);
            let length = (b.len() - at - 4) as i32;
            b[at..at + 4].copy_from_slice(&length.to_be_bytes());
            count += 1;
        }
        b[count_at..count_at + 2].copy_from_slice(&count.to_be_bytes());
        b.put_i16(0);
    });
}

/// `Execute` of the unnamed portal (every row), then `Sync`.
pub fn put_execute_sync(out: &mut BytesMut) {
    put_with(out, b'E', |b| {
        put_cstr(b, "");
        b.put_i32(0);
    });
    put_sync(out);
}

pub fn put_sync(out: &mut BytesMut) {
    put_with(out, b'S', |_| {});
}

pub fn put_target(out: &mut BytesMut, kind: u8, which: u8, name: &str) {
    put_with(out, kind, |b| {
        b.put_u8(which);
        put_cstr(b, name);
    });
}

pub fn put_query(out: &mut BytesMut, query: &str) {
    put_with(out, b'Q', |b| put_cstr(b, query));
}

pub fn put_ready_for_query(out: &mut BytesMut, status: u8) {
    put_message(out, b'Z', &[status]);
}

pub fn put_parameter_status(out: &mut BytesMut, name: &str, value: &str) {
    put_with(out, b'S', |b| {
        put_cstr(b, name);
        put_cstr(b, value);
    });
}

pub fn put_backend_key(out: &mut BytesMut, pid: i32, secret: i32) {
    put_with(out, b'K', |b| {
        b.put_i32(pid);
        b.put_i32(secret);
    });
}

/// `AuthenticationXxx`: code then payload.
pub fn put_auth(out: &mut BytesMut, code: i32, payload: &[u8]) {
    put_with(out, b'R', |b| {
        b.put_i32(code);
        b.put_slice(payload);
    });
}

/// An `ErrorResponse` (or, with `kind = b'N'`, a `NoticeResponse`).
pub fn put_error(out: &mut BytesMut, kind: u8, severity: &str, code: &str, message: &str) {
    put_with(out, kind, |b| {
        b.put_u8(b'S');
        put_cstr(b, severity);
        b.put_u8(b'V');
        put_cstr(b, severity);
        b.put_u8(b'C');
        put_cstr(b, code);
        b.put_u8(b'M');
        put_cstr(b, message);
        b.put_u8(0);
    });
}

/// An `ErrorResponse` with a DETAIL line.
pub fn put_error_detail(
    out: &mut BytesMut,
    severity: &str,
    code: &str,
    message: &str,
    detail: &str,
) {
    put_with(out, b'E', |b| {
        for (field, value) in [
            (b'S', severity),
            (b'V', severity),
            (b'C', code),
            (b'M', message),
            (b'D', detail),
        ] {
            b.put_u8(field);
            put_cstr(b, value);
        }
        b.put_u8(0);
    });
}

/// A StartupMessage for protocol 3.0.
pub fn put_startup(out: &mut BytesMut, params: &[(&str, &str)]) {
    let at = out.len();
    out.put_i32(0);
    out.put_i32(PROTOCOL_3_0);
    for (k, v) in params {
        put_cstr(out, k);
        put_cstr(out, v);
    }
    out.put_u8(0);
    let length = (out.len() - at) as i32;
    out[at..at + 4].copy_from_slice(&length.to_be_bytes());
}

/// An untyped request packet: SSLRequest or CancelRequest.
pub fn put_request(out: &mut BytesMut, code: i32, payload: &[i32]) {
    out.put_i32(8 + 4 * payload.len() as i32);
    out.put_i32(code);
    for value in payload {
        out.put_i32(*value);
    }
}

/// A `RowDescription` of text columns.
pub fn put_row_description(out: &mut BytesMut, columns: &[&str]) {
    put_with(out, b'T', |b| {
        b.put_i16(columns.len() as i16);
        for name in columns {
            put_cstr(b, name);
            b.put_i32(0); // table oid
            b.put_i16(0); // column number
            b.put_i32(25); // text
            b.put_i16(-1);
            b.put_i32(-1);
            b.put_i16(0); // text format
        }
    });
}

/// The values of a `DataRow` (`None` is NULL), as text; `None` when it is malformed.
pub fn decode_data_row(body: &[u8]) -> Option<Vec<Option<String>>> {
    let count = i16::from_be_bytes(body.get(0..2)?.try_into().ok()?);
    let mut at = 2;
    let mut values = Vec::with_capacity(usize::try_from(count).ok()?);
    for _ in 0..count {
        let len = i32::from_be_bytes(body.get(at..at + 4)?.try_into().ok()?);
        at += 4;
        if len < 0 {
            values.push(None);
            continue;
        }
        let len = usize::try_from(len).ok()?;
        values.push(Some(
            String::from_utf8_lossy(body.get(at..at + len)?).into_owned(),
        ));
        at += len;
    }
    Some(values)
}

/// A `DataRow` of text values (`None` is NULL).
pub fn put_data_row(out: &mut BytesMut, values: &[Option<String>]) {
    put_with(out, b'D', |b| {
        b.put_i16(values.len() as i16);
        for value in values {
            match value {
                Some(v) => {
                    b.put_i32(v.len() as i32);
                    b.put_slice(v.as_bytes());
                }
                None => b.put_i32(-1),
            }
        }
    });
}

pub fn put_command_complete(out: &mut BytesMut, tag: &str) {
    put_with(out, b'C', |b| put_cstr(b, tag));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_values_read_text_null_and_known_binary_types() {
        // Two formats (text, binary), two values; the second is an int4 by its Parse.
        let mut rest = Vec::new();
        rest.extend_from_slice(&2i16.to_be_bytes());
        rest.extend_from_slice(&0i16.to_be_bytes());
        rest.extend_from_slice(&1i16.to_be_bytes());
        rest.extend_from_slice(&2i16.to_be_bytes());
        rest.extend_from_slice(&2i32.to_be_bytes());
        rest.extend_from_slice(b"42");
        rest.extend_from_slice(&4i32.to_be_bytes());
        rest.extend_from_slice(&(-7i32).to_be_bytes());
        rest.extend_from_slice(&0i16.to_be_bytes());
        let mut types = Vec::new();
        types.extend_from_slice(&2i16.to_be_bytes());
        types.extend_from_slice(&0u32.to_be_bytes());
        types.extend_from_slice(&23u32.to_be_bytes());
        assert_eq!(
            bind_values(&rest, &types),
            Some(vec![Some("42".to_string()), Some("-7".to_string())])
        );
        // Without the types, a binary value cannot be shown.
        assert_eq!(bind_values(&rest, &[]), None);
        // No formats (all text), one NULL.
        let mut rest = Vec::new();
        rest.extend_from_slice(&0i16.to_be_bytes());
        rest.extend_from_slice(&1i16.to_be_bytes());
        rest.extend_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(bind_values(&rest, &[]), Some(vec![None]));
        // Truncated.
        assert_eq!(bind_values(&rest[..5], &[]), None);
        assert_eq!(bind_values(&[], &[]), None);
    }

    #[test]
    fn binary_values_print_as_postgresql_prints_them() {
        assert_eq!(binary_text(16, &[1]).as_deref(), Some("true"));
        assert_eq!(
            binary_text(20, &(-5i64).to_be_bytes()).as_deref(),
            Some("-5")
        );
        assert_eq!(
            binary_text(701, &2.5f64.to_be_bytes()).as_deref(),
            Some("2.5")
        );
        assert_eq!(binary_text(3802, b"\x01{}").as_deref(), Some("{}"));
        assert_eq!(
            binary_text(2950, &[0x12; 16]).as_deref(),
            Some("12121212-1212-1212-1212-121212121212")
        );
        assert_eq!(binary_text(17, &[0, 255]).as_deref(), Some("\\x00ff"));
        assert_eq!(
            binary_text(1082, &0i32.to_be_bytes()).as_deref(),
            Some("2000-01-01")
        );
        assert_eq!(
            binary_text(1082, &(-1i32).to_be_bytes()).as_deref(),
            Some("1999-12-31")
        );
        assert_eq!(
            binary_text(
                1184,
                &(86_400_000_000i64 * 366 + 3_723_000_001).to_be_bytes()
            )
            .as_deref(),
            Some("2001-01-01 01:02:03.000001+00")
        );
        assert_eq!(binary_text(1700, &[0, 1]), None, "numeric is not decoded");
        assert_eq!(binary_text(23, &[0, 1]), None, "wrong length");
    }

    #[test]
    fn command_tags_give_their_row_counts() {
        assert_eq!(command_rows(b"SELECT 5\0"), 5);
        assert_eq!(command_rows(b"INSERT 0 12\0"), 12);
        assert_eq!(command_rows(b"UPDATE 3\0"), 3);
        assert_eq!(command_rows(b"COPY 10\0"), 10);
        assert_eq!(command_rows(b"CREATE TABLE\0"), 0);
        assert_eq!(command_rows(b"SELECT\0"), 0);
        assert_eq!(command_rows(b"no terminator"), 0);
    }

    #[test]
    fn headers_wait_for_five_bytes_and_check_lengths() {
        assert_eq!(frame_header(b"Q\0\0", 100), Ok(None));
        assert_eq!(
            frame_header(b"Q\0\0\0\x09rest", 100),
            Ok(Some(FrameHeader {
                kind: b'Q',
                body_len: 5
            }))
        );
        assert!(matches!(
            frame_header(b"Q\0\0\0\x02", 100),
            Err(ProtocolError::BadLength { .. })
        ));
        assert!(matches!(
            frame_header(b"Q\x7f\0\0\0", 100),
            Err(ProtocolError::TooLarge { .. })
        ));
        // Negative lengths are malformed, not huge.
        assert!(matches!(
            frame_header(b"Q\xff\xff\xff\xff", 100),
            Err(ProtocolError::BadLength { .. })
        ));
        assert_eq!(whole_frame(b"Q\0\0\0\x09ab", 100), Ok(None));
    }

    #[test]
    fn startup_packets_decode() {
        let mut buf = BytesMut::new();
        put_startup(&mut buf, &[("user", "alice"), ("database", "app")]);
        let whole = buf.clone();
        // Every prefix waits; the whole packet decodes.
        for cut in 0..whole.len() {
            let mut partial = BytesMut::from(&whole[..cut]);
            assert_eq!(decode_startup(&mut partial), Ok(None), "cut at {cut}");
        }
        let packet = decode_startup(&mut buf).unwrap().unwrap();
        let StartupPacket::Startup { params } = packet else {
            panic!("not a startup");
        };
        assert_eq!(
            StartupPacket::param(&params, "user").as_deref(),
            Some("alice")
        );
        assert!(buf.is_empty());

        let mut ssl = BytesMut::new();
        put_request(&mut ssl, SSL_REQUEST, &[]);
        assert_eq!(
            decode_startup(&mut ssl),
            Ok(Some(StartupPacket::SslRequest))
        );

        let mut cancel = BytesMut::new();
        put_request(&mut cancel, CANCEL_REQUEST, &[42, 7]);
        assert_eq!(
            decode_startup(&mut cancel),
            Ok(Some(StartupPacket::Cancel { pid: 42, secret: 7 }))
        );
    }

    #[test]
    fn malformed_startup_packets_are_errors() {
        let mut huge = BytesMut::from(&[0x7f, 0, 0, 0, 0, 3, 0, 0][..]);
        assert!(decode_startup(&mut huge).is_err());
        let mut old = BytesMut::new();
        put_request(&mut old, 131_072, &[]);
        assert_eq!(
            decode_startup(&mut old),
            Err(ProtocolError::UnsupportedVersion { major: 2, minor: 0 })
        );
        let mut unterminated = BytesMut::new();
        unterminated.put_i32(13);
        unterminated.put_i32(PROTOCOL_3_0);
        unterminated.put_slice(b"user");
        unterminated.put_u8(b'x');
        assert!(decode_startup(&mut unterminated).is_err());
    }

    #[test]
    fn parse_bind_and_targets_round_trip() {
        let mut buf = BytesMut::new();
        put_parse(&mut buf, "s1", "SELECT $1", &[0, 1, 0, 0, 0, 23]);
        let header = whole_frame(&buf, 1 << 20).unwrap().unwrap();
        let parse = decode_parse(&buf[5..header.total_len()]).unwrap();
        assert_eq!((parse.name, parse.query), ("s1", "SELECT $1"));

        let mut bind = BytesMut::new();
        put_bind(&mut bind, "", "s1", &[0, 0, 0, 0, 0, 0]);
        let decoded = decode_bind(&bind[5..]).unwrap();
        assert_eq!((decoded.portal, decoded.statement), ("", "s1"));

        let mut close = BytesMut::new();
        put_target(&mut close, b'C', b'S', "s1");
        assert_eq!(decode_target(b'C', &close[5..]), Ok((b'S', "s1")));
        assert!(decode_target(b'C', b"X\0").is_err());
        assert!(decode_parse(b"s1\0SELECT\0\0\x05").is_err());
    }

    #[test]
    fn decoders_never_panic_on_garbage() {
        let garbage: &[&[u8]] = &[b"", b"\0", b"\0\0", b"abc", b"\xff\xfe\0\0", b"S\0"];
        for bytes in garbage {
            let _ = decode_parse(bytes);
            let _ = decode_bind(bytes);
            let _ = decode_target(b'D', bytes);
            let _ = decode_query(bytes);
            let _ = decode_parameter_status(bytes);
            let _ = decode_fields(bytes);
            let _ = frame_header(bytes, 10);
            let mut b = BytesMut::from(*bytes);
            let _ = decode_startup(&mut b);
        }
    }
}
