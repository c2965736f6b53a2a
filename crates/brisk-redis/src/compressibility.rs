//! How well a group's values compress: sampled string values, compressed here with zstd
//! and lz4, timed, and judged by the cache store's own rule (see [`crate::codec`]).

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use redis::aio::ConnectionLike;

use crate::codec::{encode, CompressionPolicy};

/// Bytes read of each sampled value: enough to measure a ratio, and `GETRANGE` keeps one
/// huge value from being copied whole.
const MAX_SAMPLE_BYTES: usize = 1024 * 1024;

/// Each codec runs over a group's samples until this much time has passed, so that speeds
/// of small samples are not lost in the timer's resolution.
const MIN_TIMING: Duration = Duration::from_millis(2);
const MAX_REPEATS: u32 = 200;

/// One codec's result on a group's samples.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CodecMeasure {
    pub compressed_bytes: u64,
    /// Seconds per byte of input, compressing and decompressing.
    pub compress_secs_per_byte: f64,
    pub decompress_secs_per_byte: f64,
}

impl CodecMeasure {
    /// Input bytes per output byte: 3.0 means a third of the size.
    pub fn ratio(&self, raw_bytes: u64) -> f64 {
        raw_bytes as f64 / self.compressed_bytes.max(1) as f64
    }
}

/// The measurement of one group.
#[derive(Debug, Clone)]
pub(crate) struct GroupCompression {
    pub pattern: String,
    pub samples: usize,
    pub raw_bytes: u64,
    pub zstd: CodecMeasure,
    pub lz4: CodecMeasure,
    /// The share of the sampled bytes the cache store's rule would save (zstd, 1 KiB, 20%).
    pub store_saving_share: f64,
}

/// Reads the sampled values of each group (`GETRANGE`, all in flight at once) and measures
/// them. Values that vanished or are not strings are skipped.
pub(crate) async fn measure<C: ConnectionLike + Clone>(
    conn: &C,
    groups: Vec<(String, Vec<Vec<u8>>)>,
) -> Result<Vec<GroupCompression>, redis::RedisError> {
    let mut out = Vec::new();
    for (pattern, keys) in groups {
        let reads = keys.iter().map(|key| {
            let mut conn = conn.clone();
            async move {
                redis::cmd("GETRANGE")
                    .arg(key)
                    .arg(0)
                    .arg(MAX_SAMPLE_BYTES - 1)
                    .query_async::<Option<Vec<u8>>>(&mut conn)
                    .await
            }
        });
        let mut values = Vec::new();
        for reply in join_all(reads).await {
            match reply {
                Ok(Some(value)) if !value.is_empty() => values.push(value),
                Ok(_) => {}
                // WRONGTYPE: the key was replaced by another type since the scan.
                Err(e) if e.code() == Some("WRONGTYPE") => {}
                Err(e) => return Err(e),
            }
        }
        if let Some(measured) = measure_values(pattern, &values) {
            out.push(measured);
        }
    }
    Ok(out)
}

fn measure_values(pattern: String, values: &[Vec<u8>]) -> Option<GroupCompression> {
    if values.is_empty() {
        return None;
    }
    let raw_bytes: u64 = values.iter().map(|v| v.len() as u64).sum();
    let zstd = time_codec(
        values,
        |v| zstd::bulk::compress(v, 3).unwrap_or_else(|_| v.to_vec()),
        |c, len| zstd::bulk::decompress(c, len).map(|d| d.len()).unwrap_or(0),
    );
    let lz4 = time_codec(values, lz4_flex::compress, |c, len| {
        lz4_flex::decompress(c, len).map(|d| d.len()).unwrap_or(0)
    });
    let policy = CompressionPolicy::default();
    let stored: u64 = values
        .iter()
        .map(|v| encode(v, &policy).len() as u64 - 1)
        .sum();
    Some(GroupCompression {
        pattern,
        samples: values.len(),
        raw_bytes,
        zstd,
        lz4,
        store_saving_share: 1.0 - stored as f64 / raw_bytes.max(1) as f64,
    })
}

fn time_codec(
    values: &[Vec<u8>],
    compress: impl Fn(&[u8]) -> Vec<u8>,
    decompress: impl Fn(&[u8], usize) -> usize,
) -> CodecMeasure {
    let raw: u64 = values.iter().map(|v| v.len() as u64).sum();
    let compressed: Vec<Vec<u8>> = values.iter().map(|v| compress(v)).collect();
    let compressed_bytes = compressed.iter().map(|c| c.len() as u64).sum();

    let started = Instant::now();
    let mut repeats = 0;
    while repeats == 0 || (started.elapsed() < MIN_TIMING && repeats < MAX_REPEATS) {
        for value in values {
            std::hint::black_box(compress(value));
        }
        repeats += 1;
    }
    let compress_secs = started.elapsed().as_secs_f64() / f64::from(repeats);

    let started = Instant::now();
    let mut repeats = 0;
    while repeats == 0 || (started.elapsed() < MIN_TIMING && repeats < MAX_REPEATS) {
        for (c, v) in compressed.iter().zip(values) {
            std::hint::black_box(decompress(c, v.len()));
        }
        repeats += 1;
    }
    let decompress_secs = started.elapsed().as_secs_f64() / f64::from(repeats);
    CodecMeasure {
        compressed_bytes,
        compress_secs_per_byte: compress_secs / raw.max(1) as f64,
        decompress_secs_per_byte: decompress_secs / raw.max(1) as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_compresses_and_noise_does_not() {
        let json: Vec<Vec<u8>> = (0..8)
            .map(|i| {
                format!(
                    r#"{{"id":{i},"items":[{}]}}"#,
                    (0..60)
                        .map(|j| format!(r#"{{"sku":"item-{j}","qty":{j},"price":9.99}}"#))
                        .collect::<Vec<_>>()
                        .join(",")
                )
                .into_bytes()
            })
            .collect();
        let measured = measure_values("cart:*".into(), &json).unwrap();
        assert!(
            measured.zstd.ratio(measured.raw_bytes) > 3.0,
            "{measured:?}"
        );
        assert!(measured.lz4.ratio(measured.raw_bytes) > 2.0, "{measured:?}");
        assert!(measured.store_saving_share > 0.5, "{measured:?}");
        assert!(measured.zstd.compress_secs_per_byte > 0.0);

        let mut x: u64 = 1;
        let noise: Vec<Vec<u8>> = (0..4)
            .map(|_| {
                (0..2048)
                    .map(|_| {
                        x = x
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        (x >> 56) as u8
                    })
                    .collect()
            })
            .collect();
        let measured = measure_values("blob:*".into(), &noise).unwrap();
        assert!(measured.store_saving_share.abs() < 0.01, "{measured:?}");
    }
}
