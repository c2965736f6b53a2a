//! Fuzzes fingerprints: brisk's fingerprint, which answers the statements apps send most
//! without PostgreSQL's parser, must equal pg_query's on any text, and fail where it fails.
//!
//!     RUSTC_BOOTSTRAP=1 cargo fuzz run fingerprint -- -max_total_time=600
//!
//! Seeds: one corpus statement per file works best (`crates/brisk-sql/tests/corpus`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    let ours = brisk_sql::fingerprint(sql).ok().map(|f| f.0);
    let theirs = pg_query::fingerprint(sql).ok().map(|f| f.value);
    assert_eq!(ours, theirs, "{sql}");
});
