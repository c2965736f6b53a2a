//! The result of a run, as written to JSON (schema `brisk.bench/1`, documented in
//! `docs/bench.md`), and what can be done with results alone: summaries from histograms,
//! and [`merge`] of the results of several segments.
//!
//! Histograms count microseconds, from 1 µs to one hour, with 3 significant digits (an
//! error of at most 0.1%), and travel as HdrHistogram's V2 encoding in base64, the format
//! every HdrHistogram port reads.

use std::collections::BTreeMap;

use base64::Engine;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::database::DatabaseReport;
use crate::threshold::ThresholdResult;
use crate::BenchError;

pub const SCHEMA: &str = "brisk.bench/1";

/// The largest value a histogram holds: one hour, in microseconds. Longer values are
/// recorded as one hour.
pub const HISTOGRAM_MAX_US: u64 = 3_600_000_000;

/// A new empty histogram with brisk's bounds.
pub fn new_histogram() -> Histogram<u64> {
    // Bounds are constants that hdrhistogram accepts (low >= 1, high >= 2 * low, sigfig <= 5).
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_US, 3).unwrap_or_else(|_| {
        Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits are valid"))
    })
}

pub fn encode_histogram(histogram: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    // Writing to a Vec cannot fail, and the histogram is one brisk made.
    let _ = V2Serializer::new().serialize(histogram, &mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn decode_histogram(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("a histogram is not base64: {e}"))?;
    let mut decoded: Histogram<u64> = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("a histogram does not decode: {e:?}"))?;
    let mut histogram = new_histogram();
    decoded.auto(true);
    histogram
        .add(&decoded)
        .map_err(|e| format!("a histogram is out of range: {e:?}"))?;
    Ok(histogram)
}

/// Latency figures in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    #[serde(rename = "p99.9")]
    pub p99_9: f64,
    pub max: f64,
    pub mean: f64,
}

impl Percentiles {
    pub fn of(histogram: &Histogram<u64>) -> Percentiles {
        let ms = |us: u64| us as f64 / 1000.0;
        if histogram.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            p50: ms(histogram.value_at_quantile(0.50)),
            p90: ms(histogram.value_at_quantile(0.90)),
            p95: ms(histogram.value_at_quantile(0.95)),
            p99: ms(histogram.value_at_quantile(0.99)),
            p99_9: ms(histogram.value_at_quantile(0.999)),
            max: ms(histogram.max()),
            mean: histogram.mean() / 1000.0,
        }
    }
}

/// The three histograms of an operation, encoded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EncodedHistograms {
    /// From the intended start to the end: what a user waits, queueing included.
    pub latency: String,
    /// From the moment the first byte was sent to the end.
    pub service: String,
    /// From the intended start to the actual start.
    pub lag: String,
}

/// The counts of one SQLSTATE and the first message seen with it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorCount {
    pub count: u64,
    pub example: String,
}

/// One operation's figures, or all operations' (`name` "all").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OperationResult {
    pub name: String,
    /// Operations that succeeded; the percentiles are theirs.
    pub count: u64,
    pub errors: u64,
    /// errors / (count + errors).
    pub error_rate: f64,
    /// (count + errors) / duration: finished operations per second.
    pub rate: f64,
    pub latency_ms: Percentiles,
    pub service_ms: Percentiles,
    pub lag_ms: Percentiles,
    pub errors_by_sqlstate: BTreeMap<String, ErrorCount>,
    pub histograms: EncodedHistograms,
}

/// The decoded histograms and counts behind an [`OperationResult`].
#[derive(Debug, Clone)]
pub struct OperationTotals {
    pub latency: Histogram<u64>,
    pub service: Histogram<u64>,
    pub lag: Histogram<u64>,
    pub errors: BTreeMap<String, ErrorCount>,
}

impl Default for OperationTotals {
    fn default() -> Self {
        OperationTotals {
            latency: new_histogram(),
            service: new_histogram(),
            lag: new_histogram(),
            errors: BTreeMap::new(),
        }
    }
}

impl OperationTotals {
    /// Empties the totals in place, keeping the histograms' memory for the next second.
    pub fn clear(&mut self) {
        self.latency.reset();
        self.service.reset();
        self.lag.reset();
        self.errors.clear();
    }

    pub fn add(&mut self, other: &OperationTotals) {
        // Same bounds on both sides: adding cannot go out of range.
        let _ = self.latency.add(&other.latency);
        let _ = self.service.add(&other.service);
        let _ = self.lag.add(&other.lag);
        for (code, errors) in &other.errors {
            let entry = self.errors.entry(code.clone()).or_default();
            if entry.example.is_empty() {
                entry.example = errors.example.clone();
            }
            entry.count += errors.count;
        }
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().map(|e| e.count).sum()
    }

    pub fn summarize(&self, name: &str, duration_s: f64) -> OperationResult {
        let count = self.latency.len();
        let errors = self.error_count();
        let finished = count + errors;
        OperationResult {
            name: name.to_string(),
            count,
            errors,
            error_rate: if finished == 0 {
                0.0
            } else {
                errors as f64 / finished as f64
            },
            rate: if duration_s > 0.0 {
                finished as f64 / duration_s
            } else {
                0.0
            },
            latency_ms: Percentiles::of(&self.latency),
            service_ms: Percentiles::of(&self.service),
            lag_ms: Percentiles::of(&self.lag),
            errors_by_sqlstate: self.errors.clone(),
            histograms: EncodedHistograms {
                latency: encode_histogram(&self.latency),
                service: encode_histogram(&self.service),
                lag: encode_histogram(&self.lag),
            },
        }
    }

    pub fn decode(result: &OperationResult) -> Result<OperationTotals, String> {
        Ok(OperationTotals {
            latency: decode_histogram(&result.histograms.latency)?,
            service: decode_histogram(&result.histograms.service)?,
            lag: decode_histogram(&result.histograms.lag)?,
            errors: result.errors_by_sqlstate.clone(),
        })
    }
}

/// One second of one operation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SecondOperation {
    pub count: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The second's latency histogram (encoded), so merged results keep exact per-second
    /// percentiles. Kept only by a segment of a test (`--segment i/n`), the one kind of run
    /// meant to be merged: one per second would make memory grow with the duration (about
    /// 4.6 KiB a second at 5,000 operations a second). Empty (absent in JSON) otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub latency: String,
}

/// One second of the run: the window (second - 1, second] after the start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SecondResult {
    pub second: u32,
    /// 1 except for the last window of a run that ended between ticks.
    pub duration_s: f64,
    /// The planned rate (open model) or users (closed model) in the middle of the window.
    pub target: f64,
    pub count: u64,
    pub errors: u64,
    pub rate: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub lag_p99_ms: f64,
    /// The load generator's CPU over the window, as a percentage of one core.
    pub cpu_pct: f64,
    pub operations: BTreeMap<String, SecondOperation>,
}

/// How the load was made.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// "open" or "closed".
    pub kind: String,
    /// Open model: "constant" or "poisson".
    pub arrival: Option<String>,
    pub connections: Option<usize>,
    /// Open model: the operations planned per second, averaged over the run.
    pub target_rate: Option<f64>,
    /// Closed model: the most users at once.
    pub users: Option<f64>,
    pub think_time_ms: Option<f64>,
}

/// What the load generator cost, and whether its numbers can be trusted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GeneratorInfo {
    pub cpu_user_s: f64,
    pub cpu_system_s: f64,
    /// (user + system CPU) / finished operations, in microseconds.
    pub cpu_us_per_op: f64,
    /// The busiest second, as a percentage of one core.
    pub max_cpu_pct: f64,
    pub threads: usize,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentInfo {
    pub index: u32,
    pub count: u32,
}

/// A whole run, or several merged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BenchResult {
    pub schema: String,
    pub brisk_version: String,
    pub started_unix_ms: u64,
    /// The connection target without its password.
    pub target: String,
    pub model: ModelInfo,
    pub protocol: String,
    pub seed: u64,
    pub segments: Vec<SegmentInfo>,
    pub planned_duration_s: f64,
    pub duration_s: f64,
    pub interrupted: bool,
    pub aborted_by_threshold: bool,
    /// Open model: arrivals due before the end that never started.
    pub not_started: u64,
    pub generator: GeneratorInfo,
    pub overall: OperationResult,
    pub operations: Vec<OperationResult>,
    pub seconds: Vec<SecondResult>,
    pub thresholds: Vec<ThresholdResult>,
    /// What the database spent its time on during the run (pg_stat_statements).
    #[serde(default)]
    pub database: Option<DatabaseReport>,
    /// What `brisk proxy` saw during the run (`--proxy-admin`).
    #[serde(default)]
    pub proxy: Option<crate::proxy::ProxyReport>,
}

impl BenchResult {
    pub fn from_json(text: &str, file: &str) -> Result<BenchResult, BenchError> {
        let result: BenchResult = serde_json::from_str(text).map_err(|e| BenchError::Input {
            file: file.to_string(),
            line: e.line(),
            message: format!("not a brisk bench result: {e}"),
        })?;
        if result.schema != SCHEMA {
            return Err(BenchError::Input {
                file: file.to_string(),
                line: 1,
                message: format!(
                    "schema \"{}\" is not {SCHEMA}, the one this brisk reads",
                    result.schema
                ),
            });
        }
        Ok(result)
    }

    pub fn operation(&self, name: &str) -> Option<&OperationResult> {
        if name == self.overall.name {
            return Some(&self.overall);
        }
        self.operations.iter().find(|o| o.name == name)
    }

    /// Judges `thresholds` on this result.
    pub fn judge(&mut self, thresholds: &[crate::threshold::Threshold]) {
        self.thresholds = thresholds
            .iter()
            .map(|t| {
                let on = match &t.operation {
                    Some(name) => self.operation(name).cloned().unwrap_or_default(),
                    None => self.overall.clone(),
                };
                t.judge(&on)
            })
            .collect();
    }

    pub fn thresholds_failed(&self) -> bool {
        self.thresholds.iter().any(|t| !t.passed)
    }
}

/// Merges the results of the segments of one test (`brisk bench merge`): histograms and
/// counts add up, per operation and per second; rates add up; durations are the longest.
pub fn merge(results: &[(String, BenchResult)]) -> Result<BenchResult, BenchError> {
    let Some((_, first)) = results.first() else {
        return Err(BenchError::Argument(
            "merge needs at least one result".into(),
        ));
    };
    let decode = |file: &str, r: &OperationResult| {
        OperationTotals::decode(r).map_err(|message| BenchError::Input {
            file: file.to_string(),
            line: 1,
            message,
        })
    };
    let mut merged = BenchResult {
        schema: SCHEMA.to_string(),
        brisk_version: first.brisk_version.clone(),
        started_unix_ms: results
            .iter()
            .map(|(_, r)| r.started_unix_ms)
            .min()
            .unwrap_or(0),
        target: first.target.clone(),
        model: ModelInfo {
            target_rate: None,
            users: None,
            ..first.model.clone()
        },
        protocol: first.protocol.clone(),
        seed: first.seed,
        // Every segment watched the same database over about the same time: the first's
        // view stands for all (adding them would count each statement n times).
        database: first.database.clone(),
        proxy: first.proxy.clone(),
        ..BenchResult::default()
    };
    let mut overall = OperationTotals::default();
    let mut operations: Vec<(String, OperationTotals)> = Vec::new();
    // Each second's row and its operations' merged histograms: None once a part lacks its
    // histogram (a run that was not a segment), and the percentiles then the parts' largest.
    type Histograms = BTreeMap<String, Option<Histogram<u64>>>;
    let mut seconds: BTreeMap<u32, (SecondResult, Histograms)> = BTreeMap::new();
    let mut without_histograms: Vec<&str> = Vec::new();
    let mut cpu_ops = 0.0;
    for (file, result) in results {
        merged.segments.extend(result.segments.iter().copied());
        merged.planned_duration_s = merged.planned_duration_s.max(result.planned_duration_s);
        merged.duration_s = merged.duration_s.max(result.duration_s);
        merged.interrupted |= result.interrupted;
        merged.aborted_by_threshold |= result.aborted_by_threshold;
        merged.not_started += result.not_started;
        let sum = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        merged.model.target_rate = sum(merged.model.target_rate, result.model.target_rate);
        merged.model.users = sum(merged.model.users, result.model.users);
        let g = &result.generator;
        merged.generator.cpu_user_s += g.cpu_user_s;
        merged.generator.cpu_system_s += g.cpu_system_s;
        merged.generator.max_cpu_pct = merged.generator.max_cpu_pct.max(g.max_cpu_pct);
        merged.generator.threads += g.threads;
        merged.generator.warnings.extend(g.warnings.iter().cloned());
        cpu_ops += (result.overall.count + result.overall.errors) as f64;
        overall.add(&decode(file, &result.overall)?);
        for op in &result.operations {
            let totals = decode(file, op)?;
            match operations.iter_mut().find(|(name, _)| *name == op.name) {
                Some((_, t)) => t.add(&totals),
                None => operations.push((op.name.clone(), totals)),
            }
        }
        for second in &result.seconds {
            let (row, hists) = seconds.entry(second.second).or_insert_with(|| {
                (
                    SecondResult {
                        second: second.second,
                        duration_s: second.duration_s,
                        ..SecondResult::default()
                    },
                    BTreeMap::new(),
                )
            });
            row.duration_s = row.duration_s.max(second.duration_s);
            row.target += second.target;
            row.count += second.count;
            row.errors += second.errors;
            row.lag_p99_ms = row.lag_p99_ms.max(second.lag_p99_ms);
            row.cpu_pct = row.cpu_pct.max(second.cpu_pct);
            row.p50_ms = row.p50_ms.max(second.p50_ms);
            row.p90_ms = row.p90_ms.max(second.p90_ms);
            row.p99_ms = row.p99_ms.max(second.p99_ms);
            row.max_ms = row.max_ms.max(second.max_ms);
            for (name, op) in &second.operations {
                let merged_histogram = hists
                    .entry(name.clone())
                    .or_insert_with(|| Some(new_histogram()));
                if op.latency.is_empty() {
                    *merged_histogram = None;
                    if !without_histograms.contains(&file.as_str()) {
                        without_histograms.push(file);
                    }
                } else {
                    let histogram =
                        decode_histogram(&op.latency).map_err(|message| BenchError::Input {
                            file: file.clone(),
                            line: 1,
                            message,
                        })?;
                    if let Some(merged_histogram) = merged_histogram {
                        let _ = merged_histogram.add(&histogram);
                    }
                }
                let entry = row.operations.entry(name.clone()).or_default();
                entry.count += op.count;
                entry.errors += op.errors;
                entry.p50_ms = entry.p50_ms.max(op.p50_ms);
                entry.p99_ms = entry.p99_ms.max(op.p99_ms);
                entry.max_ms = entry.max_ms.max(op.max_ms);
            }
        }
    }
    let cpu = merged.generator.cpu_user_s + merged.generator.cpu_system_s;
    merged.generator.cpu_us_per_op = if cpu_ops > 0.0 {
        cpu * 1e6 / cpu_ops
    } else {
        0.0
    };
    merged.overall = overall.summarize("all", merged.duration_s);
    merged.operations = operations
        .iter()
        .map(|(name, totals)| totals.summarize(name, merged.duration_s))
        .collect();
    merged.seconds = seconds
        .into_values()
        .map(|(mut row, hists)| {
            let mut all = Some(new_histogram());
            for (name, histogram) in &hists {
                match (histogram, &mut all) {
                    (Some(histogram), Some(all)) => {
                        let _ = all.add(histogram);
                    }
                    (None, _) => all = None,
                    (Some(_), None) => {}
                }
                if let (Some(histogram), Some(op)) = (histogram, row.operations.get_mut(name)) {
                    fill_second_operation(op, histogram, true);
                }
            }
            match all {
                Some(all) => fill_second(&mut row, &all),
                // The percentiles stay the parts' largest; the rate is exact.
                None => row.rate = window_rate(&row),
            }
            row
        })
        .collect();
    if !without_histograms.is_empty() {
        merged.generator.warnings.push(format!(
            "the per-second percentiles are the largest of the parts' (an upper bound, not exact): {} kept no per-second histograms; runs made with --segment i/n keep them",
            without_histograms.join(", ")
        ));
    }
    Ok(merged)
}

/// The percentiles of a second's operation from its histogram, and the histogram itself
/// when `keep_histogram`.
pub fn fill_second_operation(
    op: &mut SecondOperation,
    histogram: &Histogram<u64>,
    keep_histogram: bool,
) {
    let p = Percentiles::of(histogram);
    op.p50_ms = p.p50;
    op.p99_ms = p.p99;
    op.max_ms = p.max;
    if keep_histogram {
        op.latency = encode_histogram(histogram);
    }
}

/// The overall figures of a second from the histogram of all its operations.
pub fn fill_second(row: &mut SecondResult, all: &Histogram<u64>) {
    let p = Percentiles::of(all);
    row.p50_ms = p.p50;
    row.p90_ms = p.p90;
    row.p99_ms = p.p99;
    row.max_ms = p.max;
    row.rate = window_rate(row);
}

/// Operations finished per second over a row's window.
fn window_rate(row: &SecondResult) -> f64 {
    if row.duration_s > 0.0 {
        (row.count + row.errors) as f64 / row.duration_s
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_survive_encoding() {
        let mut h = new_histogram();
        for v in [1, 10, 100, 1_000, 10_000, 1_000_000, HISTOGRAM_MAX_US] {
            h.record(v).unwrap();
        }
        let back = decode_histogram(&encode_histogram(&h)).unwrap();
        assert_eq!(back.len(), h.len());
        assert_eq!(back.max(), h.max());
        assert_eq!(back.value_at_quantile(0.5), h.value_at_quantile(0.5));
        assert!(decode_histogram("not base64!").is_err());
        assert!(decode_histogram("AAAA").is_err());
    }

    fn result_with(values: &[u64], seconds: u32) -> BenchResult {
        let mut totals = OperationTotals::default();
        for &v in values {
            totals.latency.record(v).unwrap();
            totals.service.record(v).unwrap();
            totals.lag.record(1).unwrap();
        }
        let mut second = SecondOperation {
            count: values.len() as u64,
            ..SecondOperation::default()
        };
        fill_second_operation(&mut second, &totals.latency, true);
        BenchResult {
            schema: SCHEMA.into(),
            segments: vec![SegmentInfo { index: 1, count: 2 }],
            duration_s: f64::from(seconds),
            model: ModelInfo {
                target_rate: Some(10.0),
                ..ModelInfo::default()
            },
            overall: totals.summarize("all", f64::from(seconds)),
            operations: vec![totals.summarize("q", f64::from(seconds))],
            seconds: vec![{
                let mut row = SecondResult {
                    second: 1,
                    duration_s: 1.0,
                    count: values.len() as u64,
                    operations: [("q".to_string(), second)].into(),
                    ..SecondResult::default()
                };
                fill_second(&mut row, &totals.latency);
                row
            }],
            ..BenchResult::default()
        }
    }

    #[test]
    fn a_part_without_per_second_histograms_merges_to_an_upper_bound_and_says_so() {
        let a = result_with(&[1_000; 90], 10);
        let mut b = result_with(&[100_000; 10], 10);
        for row in &mut b.seconds {
            for op in row.operations.values_mut() {
                op.latency.clear();
            }
        }
        // Absent from the JSON, and read back as absent.
        let text = serde_json::to_string(&b).unwrap();
        assert!(!text.contains("\"latency\":\"\""), "{text}");
        let b = BenchResult::from_json(&text, "b.json").unwrap();
        let merged = merge(&[("a.json".into(), a), ("b.json".into(), b)]).unwrap();
        // Counts and totals stay exact: the whole-run histograms are always kept.
        assert_eq!(merged.overall.count, 100);
        assert!((merged.operation("q").unwrap().latency_ms.p50 - 1.0).abs() < 0.01);
        // Per second: b's figures bound the merged ones (exactly, p50 would be 1 ms).
        let second = &merged.seconds[0];
        assert_eq!(second.count, 100);
        assert_eq!(second.rate, 100.0);
        assert!((second.p50_ms - 100.0).abs() < 0.1, "{second:?}");
        assert!((second.operations["q"].p50_ms - 100.0).abs() < 0.1);
        assert!(second.operations["q"].latency.is_empty());
        assert!(
            merged
                .generator
                .warnings
                .iter()
                .any(|w| w.contains("upper bound")
                    && w.contains("b.json")
                    && !w.contains("a.json")),
            "{:?}",
            merged.generator.warnings
        );
    }

    #[test]
    fn merge_adds_histograms_and_rates() {
        let a = result_with(&[1_000; 90], 10);
        let b = result_with(&[100_000; 10], 10);
        let merged = merge(&[("a".into(), a), ("b".into(), b)]).unwrap();
        assert_eq!(merged.overall.count, 100);
        assert_eq!(merged.overall.rate, 10.0);
        assert_eq!(merged.model.target_rate, Some(20.0));
        assert_eq!(merged.segments.len(), 2);
        let q = merged.operation("q").unwrap();
        assert!((q.latency_ms.p50 - 1.0).abs() < 0.01);
        assert!((q.latency_ms.p99 - 100.0).abs() < 0.1);
        let second = &merged.seconds[0];
        assert_eq!(second.count, 100);
        assert!((second.p99_ms - 100.0).abs() < 0.1);
        assert_eq!(second.operations["q"].count, 100);
    }

    #[test]
    fn json_round_trip_and_schema_check() {
        let a = result_with(&[5_000; 3], 1);
        let text = serde_json::to_string(&a).unwrap();
        assert!(text.contains("\"p99.9\""));
        assert_eq!(BenchResult::from_json(&text, "a.json").unwrap(), a);
        let other = text.replace(SCHEMA, "brisk.bench/0");
        let error = BenchResult::from_json(&other, "a.json")
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("a.json:1: schema"), "{error}");
        let error = BenchResult::from_json("{\n\"schema\": 3", "a.json")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("a.json:2: not a brisk bench result"),
            "{error}"
        );
    }
}
