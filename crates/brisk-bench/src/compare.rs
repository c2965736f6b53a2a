//! `brisk bench compare A.json B.json`: per operation, how the percentiles and the
//! throughput moved, and whether the move is larger than run-to-run noise.
//!
//! The noise test: each second of a run is a sample. For the median, the per-second p50s of
//! A and B are compared with a two-sided Mann-Whitney U test (normal approximation with tie
//! and continuity corrections); for the tail, the per-second p99s; for throughput, the
//! per-second rates. A difference is called significant when p < 0.05 and there are at
//! least [`MIN_WINDOWS`] seconds with operations on each side. Per-second windows are not
//! independent (a slow second tends to follow a slow second), so the test is a screen, not
//! proof: rerun both sides when a verdict matters.

use serde::Serialize;

use crate::result::{BenchResult, SecondResult};

/// Fewer seconds than this on either side and the test says nothing: the normal
/// approximation of U is poor below about 8 samples a side.
pub const MIN_WINDOWS: usize = 8;
/// The significance level.
pub const ALPHA: f64 = 0.05;

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub a: String,
    pub b: String,
    pub operations: Vec<OperationComparison>,
    /// Operations present in only one of the two results.
    pub unmatched: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OperationComparison {
    pub name: String,
    pub rows: Vec<Row>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// "p50", "p99", "rate", ...
    pub metric: String,
    pub unit: String,
    pub a: f64,
    pub b: f64,
    /// (b - a) / a, in percent; `None` when a is 0.
    pub change_pct: Option<f64>,
    /// The Mann-Whitney p-value over per-second windows, when this metric has a test.
    pub p_value: Option<f64>,
    /// "significant", "noise", "untested" (no test for this metric) or "too few seconds".
    pub verdict: String,
}

/// Compares `b` against `a` (the baseline).
pub fn compare(a_name: &str, a: &BenchResult, b_name: &str, b: &BenchResult) -> Comparison {
    let mut names: Vec<String> = vec![a.overall.name.clone()];
    names.extend(a.operations.iter().map(|o| o.name.clone()));
    let mut unmatched = Vec::new();
    let mut operations = Vec::new();
    for name in &names {
        let (Some(oa), Some(ob)) = (a.operation(name), b.operation(name)) else {
            unmatched.push(name.clone());
            continue;
        };
        let tested = |metric: &str| {
            let pick = |r: &BenchResult| per_second(&r.seconds, name, metric);
            mann_whitney(&pick(a), &pick(b))
        };
        let mut rows = Vec::new();
        let mut row = |metric: &str, unit: &str, va: f64, vb: f64, test: Option<Option<f64>>| {
            let (p_value, verdict) = match test {
                None => (None, "untested".to_string()),
                Some(None) => (None, "too few seconds".to_string()),
                Some(Some(p)) if p < ALPHA => (Some(p), "significant".to_string()),
                Some(Some(p)) => (Some(p), "noise".to_string()),
            };
            rows.push(Row {
                metric: metric.into(),
                unit: unit.into(),
                a: va,
                b: vb,
                change_pct: (va != 0.0).then(|| (vb - va) / va * 100.0),
                p_value,
                verdict,
            });
        };
        row("rate", "/s", oa.rate, ob.rate, Some(tested("rate")));
        row(
            "p50",
            "ms",
            oa.latency_ms.p50,
            ob.latency_ms.p50,
            Some(tested("p50")),
        );
        row("p90", "ms", oa.latency_ms.p90, ob.latency_ms.p90, None);
        row("p95", "ms", oa.latency_ms.p95, ob.latency_ms.p95, None);
        row(
            "p99",
            "ms",
            oa.latency_ms.p99,
            ob.latency_ms.p99,
            Some(tested("p99")),
        );
        row(
            "p99.9",
            "ms",
            oa.latency_ms.p99_9,
            ob.latency_ms.p99_9,
            None,
        );
        row("max", "ms", oa.latency_ms.max, ob.latency_ms.max, None);
        row(
            "error_rate",
            "%",
            oa.error_rate * 100.0,
            ob.error_rate * 100.0,
            None,
        );
        operations.push(OperationComparison {
            name: name.clone(),
            rows,
        });
    }
    for op in &b.operations {
        if a.operation(&op.name).is_none() {
            unmatched.push(op.name.clone());
        }
    }
    Comparison {
        a: a_name.to_string(),
        b: b_name.to_string(),
        operations,
        unmatched,
    }
}

/// One value per whole second of a run for `metric` of operation `name` ("all": the
/// overall row). Seconds without operations give no latency sample.
fn per_second(seconds: &[SecondResult], name: &str, metric: &str) -> Vec<f64> {
    seconds
        .iter()
        // The last window of a run may be a fraction of a second: its rate is not comparable.
        .filter(|s| s.duration_s >= 0.99)
        .filter_map(|s| {
            let (count, errors, p50, p99) = if name == "all" {
                (s.count, s.errors, s.p50_ms, s.p99_ms)
            } else {
                let op = s.operations.get(name)?;
                (op.count, op.errors, op.p50_ms, op.p99_ms)
            };
            match metric {
                "rate" => Some((count + errors) as f64 / s.duration_s),
                "p50" if count > 0 => Some(p50),
                "p99" if count > 0 => Some(p99),
                _ => None,
            }
        })
        .collect()
}

/// The two-sided p-value of the Mann-Whitney U test of `a` against `b`, or `None` with
/// fewer than [`MIN_WINDOWS`] samples on a side.
pub fn mann_whitney(a: &[f64], b: &[f64]) -> Option<f64> {
    let (n1, n2) = (a.len(), b.len());
    if n1 < MIN_WINDOWS || n2 < MIN_WINDOWS {
        return None;
    }
    let mut all: Vec<(f64, bool)> = a
        .iter()
        .map(|&v| (v, true))
        .chain(b.iter().map(|&v| (v, false)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let n = all.len();
    let mut rank_sum_a = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their average.
        let rank = (i + j) as f64 / 2.0 + 1.0;
        let ties = (j - i + 1) as f64;
        tie_term += ties * ties * ties - ties;
        rank_sum_a += rank * all[i..=j].iter().filter(|(_, from_a)| *from_a).count() as f64;
        i = j + 1;
    }
    let (n1f, n2f, nf) = (n1 as f64, n2 as f64, n as f64);
    let u = rank_sum_a - n1f * (n1f + 1.0) / 2.0;
    let mean = n1f * n2f / 2.0;
    let variance = n1f * n2f / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)));
    if variance <= 0.0 {
        // Every value the same on both sides: no difference at all.
        return Some(1.0);
    }
    let diff = u - mean;
    let corrected = (diff.abs() - 0.5).max(0.0);
    let z = corrected / variance.sqrt();
    Some(erfc(z / std::f64::consts::SQRT_2).min(1.0))
}

/// The complementary error function, with a relative error below 1.2e-7 (Numerical
/// Recipes' `erfcc`, a Chebyshev fit): ample for a p-value.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::Prng;

    #[test]
    fn erfc_matches_known_values() {
        assert!((erfc(0.0) - 1.0).abs() < 1e-6);
        assert!((erfc(1.0) - 0.157_299_207).abs() < 1e-6);
        assert!((erfc(1.959_964 / std::f64::consts::SQRT_2) - 0.05).abs() < 1e-5);
    }

    #[test]
    fn mann_whitney_separates_shifts_from_noise() {
        let mut rng = Prng::seeded(17);
        let mut sample =
            |shift: f64| -> Vec<f64> { (0..30).map(|_| 10.0 + shift + rng.next_f64()).collect() };
        let (a, same, shifted) = (sample(0.0), sample(0.0), sample(0.5));
        let p_same = mann_whitney(&a, &same).unwrap();
        let p_shift = mann_whitney(&a, &shifted).unwrap();
        assert!(p_same > ALPHA, "{p_same}");
        assert!(p_shift < 0.001, "{p_shift}");
        assert_eq!(mann_whitney(&a[..3], &same), None);
        assert_eq!(mann_whitney(&[1.0; 10], &[1.0; 10]), Some(1.0));
    }

    #[test]
    fn mann_whitney_matches_a_worked_example() {
        // Two samples of 8 with no ties: a's ranks add up to 41, so U = 41 - 36 = 5;
        // z = (|5 - 32| - 0.5) / sqrt(8*8*17/12) = 26.5 / 9.522 = 2.783, and the two-sided
        // normal p is 0.00538.
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 9.0, 11.0];
        let b = [7.0, 8.0, 10.0, 12.0, 13.0, 14.0, 15.0, 16.0];
        let p = mann_whitney(&a, &b).unwrap();
        assert!((p - 0.005_385).abs() < 0.000_01, "{p}");
    }
}
