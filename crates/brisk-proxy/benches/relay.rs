//! The relay on the proxy's hot path, without sockets: one whole transaction of scripted
//! frames through `Relay` (the client's messages in, the server's answers back), as pgbench
//! sends them in each protocol mode. The figure is brisk's own decision cost per
//! transaction; the sockets and the kernel come on top (`scripts/bench-proxy`).
//!
//!     cargo bench -p brisk-proxy --bench relay

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::AtomicU8;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use brisk_proxy::prepared::ServerStatements;
use brisk_proxy::relay::{Relay, ServerState};
use brisk_proxy::session_state::TrackedSettings;
use brisk_proxy::tracker::StatementTracker;
use brisk_proxy::ClientInfo;
use brisk_wire::protocol;
use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const QUERY: &str = "SELECT abalance FROM pgbench_accounts WHERE aid = $1";

fn client_info() -> Arc<ClientInfo> {
    Arc::new(ClientInfo {
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
    })
}

/// One client's relay, attached to a server, with the statistics on or off.
struct Bench {
    relay: Relay,
    prepared: ServerStatements,
    params: HashMap<String, String>,
    settings_stamp: u64,
}

impl Bench {
    fn new(observing: bool) -> Bench {
        let params = HashMap::new();
        let tracker = StatementTracker::new(client_info(), observing, false);
        let mut relay = Relay::new(
            true,
            TrackedSettings::new(&[], &params),
            tracker,
            Instant::now(),
        );
        relay.attached(Instant::now());
        Bench {
            relay,
            prepared: ServerStatements::new(100),
            params,
            settings_stamp: 0,
        }
    }

    /// One transaction: the client's frames in `request`, the server's in `answer`.
    fn transaction(&mut self, request: &[u8], answer: &[u8]) {
        let mut at = 0;
        while let Some(header) = protocol::whole_frame(&request[at..], usize::MAX).unwrap() {
            let body = &request[at + 5..at + header.total_len()];
            let server = ServerState {
                prepared: &mut self.prepared,
                params: &mut self.params,
                settings_stamp: &mut self.settings_stamp,
            };
            self.relay
                .client_message(header.kind, body, server)
                .unwrap();
            at += header.total_len();
        }
        black_box(&self.relay.to_server);
        self.relay.sent_to_server();
        let mut consumed = 0;
        let server = ServerState {
            prepared: &mut self.prepared,
            params: &mut self.params,
            settings_stamp: &mut self.settings_stamp,
        };
        self.relay
            .server_frames(answer, &mut consumed, server)
            .unwrap();
        black_box(&self.relay.to_client);
        self.relay.to_client.clear();
        self.relay.tracker.completed().for_each(drop);
        black_box(self.relay.take_counts());
        assert!(self.relay.at_rest());
    }
}

fn bind_rest() -> Vec<u8> {
    // No parameter formats, one text parameter ("42"), no result formats.
    let mut rest = vec![0, 0, 0, 1];
    rest.extend_from_slice(&2i32.to_be_bytes());
    rest.extend_from_slice(b"42");
    rest.extend_from_slice(&[0, 0]);
    rest
}

/// The server's answer to one statement: its rows, CommandComplete and ReadyForQuery,
/// after `before` (ParseComplete, BindComplete...).
fn answer(before: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for kind in before {
        protocol::put_message(&mut out, *kind, &[]);
    }
    protocol::put_data_row(&mut out, &[Some("0".to_string())]);
    protocol::put_command_complete(&mut out, "SELECT 1");
    protocol::put_ready_for_query(&mut out, b'I');
    out.to_vec()
}

fn relay(c: &mut Criterion) {
    let mut group = c.benchmark_group("relay");
    group.throughput(Throughput::Elements(1));

    // -M simple: a Query.
    let mut simple = BytesMut::new();
    protocol::put_query(
        &mut simple,
        "SELECT abalance FROM pgbench_accounts WHERE aid = 42;",
    );
    let mut simple_answer = BytesMut::new();
    protocol::put_row_description(&mut simple_answer, &["abalance"]);
    simple_answer.extend_from_slice(&answer(&[]));

    // -M extended: Parse, Bind, Describe, Execute, Sync of the unnamed statement.
    let mut extended = BytesMut::new();
    protocol::put_parse(&mut extended, "", QUERY, &[0, 0]);
    protocol::put_bind(&mut extended, "", "", &bind_rest());
    protocol::put_target(&mut extended, b'D', b'P', "");
    protocol::put_message(&mut extended, b'E', &[0, 0, 0, 0, 0]);
    protocol::put_message(&mut extended, b'S', &[]);

    // -M prepared: Bind, Execute, Sync of a statement the client prepared once.
    let mut prepare = BytesMut::new();
    protocol::put_parse(&mut prepare, "P0_1", QUERY, &[0, 0]);
    protocol::put_message(&mut prepare, b'S', &[]);
    let mut prepare_answer = BytesMut::new();
    protocol::put_message(&mut prepare_answer, b'1', &[]);
    protocol::put_ready_for_query(&mut prepare_answer, b'I');
    let mut prepared = BytesMut::new();
    protocol::put_bind(&mut prepared, "", "P0_1", &bind_rest());
    protocol::put_message(&mut prepared, b'E', &[0, 0, 0, 0, 0]);
    protocol::put_message(&mut prepared, b'S', &[]);

    for observing in [false, true] {
        let stats = if observing { "stats on" } else { "stats off" };
        let mut bench = Bench::new(observing);
        group.bench_function(format!("simple, {stats}"), |b| {
            b.iter(|| bench.transaction(&simple, &simple_answer))
        });
        let mut bench = Bench::new(observing);
        let mut extended_answer = answer(b"12");
        extended_answer.splice(10..10, {
            let mut t = BytesMut::new();
            protocol::put_row_description(&mut t, &["abalance"]);
            t.to_vec()
        });
        group.bench_function(format!("extended, {stats}"), |b| {
            b.iter(|| bench.transaction(&extended, &extended_answer))
        });
        let mut bench = Bench::new(observing);
        bench.transaction(&prepare, &prepare_answer);
        let prepared_answer = answer(b"2");
        group.bench_function(format!("prepared, {stats}"), |b| {
            b.iter(|| bench.transaction(&prepared, &prepared_answer))
        });
    }
    group.finish();
}

criterion_group!(benches, relay);
criterion_main!(benches);
