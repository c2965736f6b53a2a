//! Fuzzes the lexer-based pre-normalizer that sits on the proxy's hot path: the lexer, the
//! display normalization and the shape key must never panic, and must keep their
//! invariants on any text.
//!
//!     RUSTC_BOOTSTRAP=1 cargo fuzz run pre_normalizer -- -max_total_time=600

#![no_main]

use brisk_sql::{normalize, shape_key_into, Lexer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    // The tokens are slices that rebuild the input exactly.
    let rebuilt: String = Lexer::new(sql).map(|token| token.text).collect();
    assert_eq!(rebuilt, sql);

    // Normalizing twice changes nothing more than normalizing once.
    let once = normalize(sql);
    assert_eq!(normalize(&once), once);

    // The shape key is built whatever the text. Each token becomes at most three bytes per
    // byte: a one-digit constant turns into `''` and a separating space.
    let mut key = String::new();
    shape_key_into(sql, &mut key);
    assert!(key.len() <= 3 * sql.len());
});
