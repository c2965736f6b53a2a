//! Recording while the run goes: every finished operation goes into its operation's
//! histograms for the current second; once a second the ticker folds them into the totals
//! and keeps a small row for the series. Memory is the histograms (fixed size) plus one row
//! of figures per second (about a hundred bytes per operation), whatever the rate. A
//! segment of a test (`--segment i/n`) also keeps each second's encoded histogram, so the
//! merged result's per-second percentiles are exact; that costs kilobytes a second.
//!
//! Hot path: `record` runs once per operation under a mutex shared by the workers; it holds
//! the lock for three histogram increments (tens of nanoseconds), so at the rates one
//! process can drive the lock is not where time goes.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::result::{
    fill_second, fill_second_operation, new_histogram, OperationTotals, SecondOperation,
    SecondResult, HISTOGRAM_MAX_US,
};

/// How one operation ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    Ok,
    /// A SQLSTATE (or brisk's own code for errors that are not the server's) and the message.
    Failed {
        code: String,
        message: String,
    },
}

/// The three instants of an operation.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub intended: Instant,
    pub started: Instant,
    pub done: Instant,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(HISTOGRAM_MAX_US)
        .clamp(1, HISTOGRAM_MAX_US)
}

struct OperationState {
    name: String,
    second: OperationTotals,
    total: OperationTotals,
}

struct Inner {
    operations: Vec<OperationState>,
    seconds: Vec<StoredSecond>,
    keep_second_histograms: bool,
}

/// A second of the series as kept during the run: the row without its map of operations
/// (a map node is about a kilobyte, most of a row), and the operations' figures in plan
/// order. The map is built once, at the end.
struct StoredSecond {
    row: SecondResult,
    operations: Box<[SecondOperation]>,
}

pub struct Recorder {
    inner: Mutex<Inner>,
}

impl Recorder {
    /// A recorder for the operations `names`; `keep_second_histograms` keeps each second's
    /// encoded latency histogram in its row (for `brisk bench merge`).
    pub fn new(names: &[String], keep_second_histograms: bool) -> Recorder {
        Recorder {
            inner: Mutex::new(Inner {
                operations: names
                    .iter()
                    .map(|name| OperationState {
                        name: name.clone(),
                        second: OperationTotals::default(),
                        total: OperationTotals::default(),
                    })
                    .collect(),
                seconds: Vec::new(),
                keep_second_histograms,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A worker that panicked mid-record leaves counts that are still counts.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn record(&self, operation: usize, timing: Timing, outcome: Outcome) {
        let latency = micros(timing.done.saturating_duration_since(timing.intended));
        let service = micros(timing.done.saturating_duration_since(timing.started));
        let lag = micros(timing.started.saturating_duration_since(timing.intended));
        let mut inner = self.lock();
        let Some(op) = inner.operations.get_mut(operation) else {
            return;
        };
        match outcome {
            Outcome::Ok => {
                // Values are clamped to the histogram's range, so recording cannot fail.
                let _ = op.second.latency.record(latency);
                let _ = op.second.service.record(service);
                let _ = op.second.lag.record(lag);
            }
            Outcome::Failed { code, message } => {
                let entry = op.second.errors.entry(code).or_default();
                if entry.example.is_empty() {
                    entry.example = message;
                }
                entry.count += 1;
            }
        }
    }

    /// Closes the current second: its row joins the series and its counts the totals.
    pub fn roll(&self, second: u32, duration_s: f64, target: f64, cpu_pct: f64) -> SecondResult {
        let mut inner = self.lock();
        let mut row = SecondResult {
            second,
            duration_s,
            target,
            cpu_pct,
            ..SecondResult::default()
        };
        let mut all = new_histogram();
        let mut lag = new_histogram();
        let keep = inner.keep_second_histograms;
        let mut operations = Vec::with_capacity(inner.operations.len());
        for op in &mut inner.operations {
            let errors = op.second.error_count();
            let mut summary = SecondOperation {
                count: op.second.latency.len(),
                errors,
                ..SecondOperation::default()
            };
            fill_second_operation(&mut summary, &op.second.latency, keep);
            row.count += summary.count;
            row.errors += errors;
            let _ = all.add(&op.second.latency);
            let _ = lag.add(&op.second.lag);
            operations.push(summary);
            op.total.add(&op.second);
            op.second.clear();
        }
        fill_second(&mut row, &all);
        row.lag_p99_ms = if lag.is_empty() {
            0.0
        } else {
            lag.value_at_quantile(0.99) as f64 / 1000.0
        };
        let stored = StoredSecond {
            row: row.clone(),
            operations: operations.into_boxed_slice(),
        };
        row.operations = inner
            .operations
            .iter()
            .map(|op| op.name.clone())
            .zip(stored.operations.iter().cloned())
            .collect();
        inner.seconds.push(stored);
        row
    }

    /// The totals so far, per operation (in plan order).
    pub fn totals(&self) -> Vec<(String, OperationTotals)> {
        self.lock()
            .operations
            .iter()
            .map(|op| (op.name.clone(), op.total.clone()))
            .collect()
    }

    /// The series so far, taken out of the recorder: the end of the run.
    pub fn take_seconds(&self) -> Vec<SecondResult> {
        let mut inner = self.lock();
        let seconds = std::mem::take(&mut inner.seconds);
        seconds
            .into_iter()
            .map(
                |StoredSecond {
                     mut row,
                     operations,
                 }| {
                    row.operations = inner
                        .operations
                        .iter()
                        .map(|op| op.name.clone())
                        .zip(operations.into_vec())
                        .collect();
                    row
                },
            )
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_second_keeps_its_operations_by_name_and_the_totals_add_up() {
        let recorder = Recorder::new(&["a".to_string(), "b".to_string()], false);
        let start = Instant::now();
        let timing = |ms: u64| Timing {
            intended: start,
            started: start,
            done: start + Duration::from_millis(ms),
        };
        recorder.record(0, timing(2), Outcome::Ok);
        recorder.record(1, timing(8), Outcome::Ok);
        let live = recorder.roll(1, 1.0, 2.0, 1.0);
        assert_eq!(live.operations["b"].count, 1);
        recorder.record(0, timing(4), Outcome::Ok);
        recorder.record(
            0,
            timing(1),
            Outcome::Failed {
                code: "57014".into(),
                message: "canceled".into(),
            },
        );
        recorder.roll(2, 1.0, 2.0, 1.0);

        let seconds = recorder.take_seconds();
        assert_eq!(seconds.len(), 2);
        assert_eq!(seconds[0].operations["a"].count, 1);
        assert!((seconds[0].operations["b"].p50_ms - 8.0).abs() < 0.01);
        assert_eq!(seconds[1].operations["a"].errors, 1);
        assert_eq!(seconds[1].operations["b"].count, 0);
        // Not a segment: no per-second histograms.
        assert!(seconds
            .iter()
            .flat_map(|s| s.operations.values())
            .all(|o| o.latency.is_empty()));
        let totals = recorder.totals();
        assert_eq!(totals[0].1.latency.len(), 2);
        assert_eq!(totals[0].1.errors["57014"].count, 1);
        assert_eq!(totals[1].1.latency.len(), 1);
    }
}
