//! Pass/fail limits on a run: `p95 < 100ms`, `p99 < 200ms`, `error_rate < 0.1%`,
//! `rate >= 190/s`, optionally for one operation (`get_user: p95 < 10ms`). Latency
//! metrics are of the latency from the intended start; `service.p99` and `lag.p99` name the
//! other two histograms.

use serde::{Deserialize, Serialize};

use crate::result::{OperationResult, Percentiles};
use crate::BenchError;

#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// As the user wrote it.
    pub text: String,
    /// `None`: all operations together.
    pub operation: Option<String>,
    pub metric: Metric,
    pub comparison: Comparison,
    /// In the metric's unit: milliseconds, a fraction (error rate), operations per second
    /// or a count.
    pub limit: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    Latency(Pct),
    Service(Pct),
    Lag(Pct),
    ErrorRate,
    Rate,
    Errors,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pct {
    P50,
    P90,
    P95,
    P99,
    P999,
    Max,
    Mean,
}

impl Pct {
    fn named(name: &str) -> Option<Pct> {
        Some(match name {
            "p50" | "median" => Pct::P50,
            "p90" => Pct::P90,
            "p95" => Pct::P95,
            "p99" => Pct::P99,
            "p99.9" | "p999" => Pct::P999,
            "max" => Pct::Max,
            "mean" | "avg" => Pct::Mean,
            _ => return None,
        })
    }

    pub fn of(self, p: &Percentiles) -> f64 {
        match self {
            Pct::P50 => p.p50,
            Pct::P90 => p.p90,
            Pct::P95 => p.p95,
            Pct::P99 => p.p99,
            Pct::P999 => p.p99_9,
            Pct::Max => p.max,
            Pct::Mean => p.mean,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl Comparison {
    fn holds(self, actual: f64, limit: f64) -> bool {
        match self {
            Comparison::Less => actual < limit,
            Comparison::LessOrEqual => actual <= limit,
            Comparison::Greater => actual > limit,
            Comparison::GreaterOrEqual => actual >= limit,
        }
    }
}

/// How a threshold came out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    pub threshold: String,
    pub operation: Option<String>,
    /// The measured value, in the unit of `unit`.
    pub actual: f64,
    pub limit: f64,
    pub unit: String,
    pub passed: bool,
}

impl Threshold {
    /// Parses `[OPERATION:] METRIC OP VALUE[UNIT]`; `operation` applies when the text names
    /// none (thresholds written under an operation in a scenario).
    pub fn parse(text: &str, operation: Option<&str>) -> Result<Threshold, BenchError> {
        let bad = |why: &str| {
            BenchError::Argument(format!(
                "threshold \"{text}\": {why}; write it as METRIC < VALUE, e.g. \"p95 < 100ms\", \"error_rate < 0.1%\", \"rate >= 190/s\""
            ))
        };
        let (at, comparison, width) = [
            ("<=", Comparison::LessOrEqual),
            (">=", Comparison::GreaterOrEqual),
            ("<", Comparison::Less),
            (">", Comparison::Greater),
        ]
        .iter()
        .filter_map(|(symbol, cmp)| text.find(symbol).map(|at| (at, *cmp, symbol.len())))
        .min_by_key(|(at, _, width)| (*at, usize::MAX - width))
        .ok_or_else(|| bad("no comparison"))?;
        let left = text[..at].trim();
        let right = text[at + width..].trim();
        let (named_operation, metric_name) = match left.rsplit_once(char::is_whitespace) {
            Some((op, metric)) => (Some(op.trim().trim_end_matches(':').trim()), metric),
            None => match left.rsplit_once(':') {
                Some((op, metric)) => (Some(op.trim()), metric),
                None => (None, left),
            },
        };
        let metric_name = metric_name.to_ascii_lowercase();
        let metric = match metric_name.as_str() {
            "error_rate" | "errors_rate" => Metric::ErrorRate,
            "rate" | "throughput" => Metric::Rate,
            "errors" => Metric::Errors,
            name => {
                let (histogram, pct) = match name.split_once('.') {
                    Some(("service", pct)) => ("service", pct),
                    Some(("lag", pct)) => ("lag", pct),
                    Some(("latency", pct)) => ("latency", pct),
                    _ => ("latency", name),
                };
                let pct = Pct::named(pct).ok_or_else(|| {
                    bad(&format!("unknown metric \"{metric_name}\" (p50, p90, p95, p99, p99.9, max, mean, error_rate, rate, errors; service.p99, lag.p99)"))
                })?;
                match histogram {
                    "service" => Metric::Service(pct),
                    "lag" => Metric::Lag(pct),
                    _ => Metric::Latency(pct),
                }
            }
        };
        let limit = parse_limit(metric, right)
            .ok_or_else(|| bad(&format!("\"{right}\" is not a value for {metric_name}")))?;
        let operation = named_operation
            .filter(|op| !op.is_empty())
            .or(operation)
            .map(str::to_string);
        Ok(Threshold {
            text: text.trim().to_string(),
            operation,
            metric,
            comparison,
            limit,
        })
    }

    pub fn unit(&self) -> &'static str {
        match self.metric {
            Metric::Latency(_) | Metric::Service(_) | Metric::Lag(_) => "ms",
            Metric::ErrorRate => "%",
            Metric::Rate => "/s",
            Metric::Errors => "",
        }
    }

    /// The measured value in the threshold's unit.
    pub fn actual(&self, result: &OperationResult) -> f64 {
        match self.metric {
            Metric::Latency(p) => p.of(&result.latency_ms),
            Metric::Service(p) => p.of(&result.service_ms),
            Metric::Lag(p) => p.of(&result.lag_ms),
            Metric::ErrorRate => result.error_rate * 100.0,
            Metric::Rate => result.rate,
            Metric::Errors => result.errors as f64,
        }
    }

    /// Judges the threshold on `result` (the operation it names, or the overall result).
    pub fn judge(&self, result: &OperationResult) -> ThresholdResult {
        let actual = self.actual(result);
        let limit = match self.metric {
            Metric::ErrorRate => self.limit * 100.0,
            _ => self.limit,
        };
        ThresholdResult {
            threshold: self.text.clone(),
            operation: self.operation.clone(),
            actual,
            limit,
            unit: self.unit().to_string(),
            passed: self.comparison.holds(actual, limit),
        }
    }

    /// Whether the threshold describes the run as a whole (a rate), so that judging it
    /// before the end says nothing.
    pub fn is_whole_run(&self) -> bool {
        matches!(self.metric, Metric::Rate)
    }
}

fn parse_limit(metric: Metric, text: &str) -> Option<f64> {
    let text = text.trim();
    let number_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == 'e' || c == '+'))
        .unwrap_or(text.len());
    let number: f64 = text[..number_end].parse().ok()?;
    let unit = text[number_end..].trim();
    let value = match metric {
        Metric::Latency(_) | Metric::Service(_) | Metric::Lag(_) => match unit {
            "" | "ms" => number,
            "us" | "µs" => number / 1000.0,
            "s" => number * 1000.0,
            _ => return None,
        },
        Metric::ErrorRate => match unit {
            "%" => number / 100.0,
            "" => number,
            _ => return None,
        },
        Metric::Rate => match unit {
            "" | "/s" => number,
            "/m" | "/min" => number / 60.0,
            _ => return None,
        },
        Metric::Errors => match unit {
            "" => number,
            _ => return None,
        },
    };
    value.is_finite().then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_seed_reports_thresholds() {
        let t = Threshold::parse("p95 < 100ms", None).unwrap();
        assert_eq!(t.metric, Metric::Latency(Pct::P95));
        assert_eq!(t.comparison, Comparison::Less);
        assert_eq!(t.limit, 100.0);
        assert_eq!(t.operation, None);
        let t = Threshold::parse("error_rate < 0.1%", None).unwrap();
        assert_eq!((t.metric, t.limit), (Metric::ErrorRate, 0.001));
        let t = Threshold::parse("rate >= 190/s", None).unwrap();
        assert_eq!(
            (t.metric, t.comparison, t.limit),
            (Metric::Rate, Comparison::GreaterOrEqual, 190.0)
        );
        let t = Threshold::parse("p99 <= 0.2s", Some("get")).unwrap();
        assert_eq!((t.limit, t.operation.as_deref()), (200.0, Some("get")));
        let t = Threshold::parse("q.sql:5: p99.9 < 250us", None).unwrap();
        assert_eq!(t.operation.as_deref(), Some("q.sql:5"));
        assert_eq!((t.metric, t.limit), (Metric::Latency(Pct::P999), 0.25));
        let t = Threshold::parse("lag.p99 < 5ms", None).unwrap();
        assert_eq!(t.metric, Metric::Lag(Pct::P99));
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        for text in ["p95 100ms", "p97 < 1ms", "p95 < fast", "rate >= 1/h", ""] {
            let error = Threshold::parse(text, None).unwrap_err().to_string();
            assert!(
                error.starts_with(&format!("threshold \"{text}\"")),
                "{error}"
            );
        }
    }
}
