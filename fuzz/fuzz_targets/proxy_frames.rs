//! Fuzzes the proxy's frame decoder: whatever bytes a client or server sends, decoding
//! never panics, never reads past the buffer, and every frame it reports fits the buffer.
//!
//!     RUSTC_BOOTSTRAP=1 cargo fuzz run proxy_frames -- -max_total_time=600

#![no_main]

use brisk_proxy::protocol::{
    decode_bind, decode_fields, decode_parameter_status, decode_parse, decode_query,
    decode_startup, decode_target, frame_header, whole_frame,
};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    // As the first packet of a connection.
    let mut startup = BytesMut::from(data);
    let _ = decode_startup(&mut startup);

    // As a stream of typed messages.
    let mut rest = data;
    while let Ok(Some(header)) = frame_header(rest, LIMIT) {
        assert!(header.body_len <= LIMIT);
        match whole_frame(rest, LIMIT) {
            Ok(Some(frame)) => {
                assert!(frame.total_len() <= rest.len());
                let body = &rest[5..frame.total_len()];
                let _ = decode_parse(body);
                let _ = decode_bind(body);
                let _ = decode_target(frame.kind, body);
                let _ = decode_query(body);
                let _ = decode_parameter_status(body);
                let _ = decode_fields(body);
                rest = &rest[frame.total_len()..];
            }
            _ => break,
        }
    }
});
