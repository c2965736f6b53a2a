//! What to run: the operations, the load model and its stages, the protocol, the thresholds.
//! A [`Plan`] is built from a scenario file ([`crate::scenario`]) or from the command line,
//! and is pure data: the runner ([`crate::run`]) executes it.

use std::time::Duration;

use crate::random::Prng;
use crate::script::Script;
use crate::threshold::Threshold;
use crate::BenchError;

/// One kind of work the load generator does, picked by weight for each arrival.
#[derive(Debug, Clone)]
pub struct Operation {
    /// Unique within a plan: results, thresholds and `compare` match operations by name.
    pub name: String,
    pub weight: f64,
    pub kind: OperationKind,
}

/// What an operation runs. One kind so far: a script, whose steps are SQL statements (run
/// in order on one database connection) and/or HTTP requests ([`crate::http`]); the
/// operation's time is all of them. (A captured workload's replay has a runner of its own.)
#[derive(Debug, Clone)]
pub enum OperationKind {
    Sql(Script),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Each statement prepared once per connection, then Bind/Execute with text parameters
    /// (pgbench's `-M prepared`).
    Prepared,
    /// The statement text with the values written in (pgbench's `-M simple`).
    Simple,
    /// Parse, Bind, Execute of the unnamed statement for every run, the values bound as
    /// text with their types left to the server (pgbench's `-M extended`).
    Extended,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Prepared => "prepared",
            Protocol::Simple => "simple",
            Protocol::Extended => "extended",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Evenly spaced starts (wrk2, k6's constant-arrival-rate).
    Constant,
    /// Exponential gaps between starts (pgbench `-R`): bursts as independent users make.
    Poisson,
}

impl Arrival {
    pub fn name(self) -> &'static str {
        match self {
            Arrival::Constant => "constant",
            Arrival::Poisson => "poisson",
        }
    }
}

/// A value over time: where it starts and linear ramps to each stage's target. A constant
/// is one stage whose target equals the start.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub start: f64,
    pub stages: Vec<Stage>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub duration: Duration,
    pub target: f64,
}

impl Profile {
    pub fn constant(value: f64, duration: Duration) -> Profile {
        Profile {
            start: value,
            stages: vec![Stage {
                duration,
                target: value,
            }],
        }
    }

    pub fn duration(&self) -> Duration {
        self.stages.iter().map(|s| s.duration).sum()
    }

    /// Every value multiplied by `factor` (a segment's share of the rate).
    pub fn scaled(&self, factor: f64) -> Profile {
        Profile {
            start: self.start * factor,
            stages: self
                .stages
                .iter()
                .map(|s| Stage {
                    duration: s.duration,
                    target: s.target * factor,
                })
                .collect(),
        }
    }

    /// The value `t` seconds in; after the last stage, its target.
    pub fn at(&self, t: f64) -> f64 {
        let mut from = self.start;
        let mut elapsed = 0.0;
        for stage in &self.stages {
            let d = stage.duration.as_secs_f64();
            if t < elapsed + d && d > 0.0 {
                return from + (stage.target - from) * (t - elapsed) / d;
            }
            elapsed += d;
            from = stage.target;
        }
        from
    }

    pub fn max(&self) -> f64 {
        self.stages
            .iter()
            .map(|s| s.target)
            .fold(self.start, f64::max)
    }

    /// The integral of the value over the whole profile: the operations a rate profile
    /// plans.
    pub fn total(&self) -> f64 {
        let mut from = self.start;
        let mut sum = 0.0;
        for stage in &self.stages {
            sum += (from + stage.target) / 2.0 * stage.duration.as_secs_f64();
            from = stage.target;
        }
        sum
    }

    /// The time at which the integral of the rate reaches `count`, or `None` when the
    /// profile ends first. Within a linear ramp r(x) = r0 + (r1 - r0) x / d the integral is
    /// quadratic, solved in the form that stays exact when r0 = r1.
    pub fn time_of(&self, count: f64) -> Option<f64> {
        let mut from = self.start;
        let mut elapsed = 0.0;
        let mut cumulative = 0.0;
        for stage in &self.stages {
            let d = stage.duration.as_secs_f64();
            let (r0, r1) = (from, stage.target);
            let area = (r0 + r1) / 2.0 * d;
            if count < cumulative + area {
                let c = count - cumulative;
                let a = (r1 - r0) / (2.0 * d);
                let disc = (r0 * r0 + 4.0 * a * c).max(0.0);
                let denominator = r0 + disc.sqrt();
                let x = if denominator > 0.0 {
                    2.0 * c / denominator
                } else {
                    0.0
                };
                return Some(elapsed + x.clamp(0.0, d));
            }
            cumulative += area;
            elapsed += d;
            from = stage.target;
        }
        None
    }
}

/// Open or closed: who decides when the next operation starts.
#[derive(Debug, Clone)]
pub enum Load {
    /// Operations start at the target rate whatever the earlier ones are doing; a late start
    /// is queueing, and it counts in the latency.
    Open {
        arrival: Arrival,
        rate: Profile,
        connections: usize,
    },
    /// `users` virtual users, each on its own connection, each running one operation after
    /// another with `think_time` between (Locust's model).
    Closed {
        users: Profile,
        think_time: Duration,
    },
}

impl Load {
    pub fn duration(&self) -> Duration {
        match self {
            Load::Open { rate, .. } => rate.duration(),
            Load::Closed { users, .. } => users.duration(),
        }
    }
}

/// `--segment i/n`: this process runs the i-th of n equal parts of the load, so n machines
/// together run the whole of it (k6's execution segments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub index: u32,
    pub count: u32,
}

impl Default for Segment {
    fn default() -> Self {
        Segment { index: 1, count: 1 }
    }
}

impl Segment {
    pub fn parse(text: &str) -> Result<Segment, BenchError> {
        let bad = || {
            BenchError::Argument(format!(
                "--segment {text}: expected i/n with 1 <= i <= n, such as 2/4"
            ))
        };
        let (index, count) = text.split_once('/').ok_or_else(bad)?;
        let index: u32 = index.trim().parse().map_err(|_| bad())?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Segment { index, count })
    }

    pub fn fraction(self) -> f64 {
        1.0 / f64::from(self.count)
    }

    /// This segment's share of `total` whole users: the n shares add up to `total` exactly.
    pub fn users(self, total: f64) -> usize {
        let n = f64::from(self.count);
        let cut = |i: u32| (total.max(0.0) * f64::from(i) / n).floor() as usize;
        cut(self.index) - cut(self.index - 1)
    }
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct Plan {
    pub operations: Vec<Operation>,
    pub load: Load,
    pub protocol: Protocol,
    pub seed: u64,
    pub thresholds: Vec<Threshold>,
    /// Stop the run as soon as a threshold fails (checked each second on the totals so far,
    /// after `abort_grace`).
    pub abort_on_fail: bool,
    pub abort_grace: Duration,
    pub segment: Segment,
    /// Wake each arrival on the run's timerfd (within 50 µs of its start; the default)
    /// instead of tokio's timer, which rounds every wake-up up to its next 1 ms tick.
    /// Measured (docs/bench.md): schedule lag p50 0.12 ms instead of about 1 ms at
    /// 10,000/s, for about 10 µs more CPU per operation.
    pub precise_timer: bool,
}

impl Plan {
    /// Checks what a plan built by hand may get wrong: names unique, weights positive,
    /// thresholds naming operations that exist.
    pub fn validate(&self) -> Result<(), BenchError> {
        if self.operations.is_empty() {
            return Err(BenchError::Argument(
                "nothing to run: give --sql, --pgbench-script, --http or a scenario file".into(),
            ));
        }
        for (i, op) in self.operations.iter().enumerate() {
            if self.operations[..i].iter().any(|o| o.name == op.name) {
                return Err(BenchError::Argument(format!(
                    "two operations are named \"{}\": names must be unique",
                    op.name
                )));
            }
            if !(op.weight.is_finite() && op.weight > 0.0) {
                return Err(BenchError::Argument(format!(
                    "operation \"{}\": the weight must be positive",
                    op.name
                )));
            }
        }
        for threshold in &self.thresholds {
            if let Some(name) = &threshold.operation {
                if !self.operations.iter().any(|o| &o.name == name) {
                    return Err(BenchError::Argument(format!(
                        "threshold \"{}\": no operation is named \"{name}\"",
                        threshold.text
                    )));
                }
            }
        }
        if let Load::Open { connections, .. } = &self.load {
            if *connections == 0 {
                return Err(BenchError::Argument(
                    "--connections must be at least 1".into(),
                ));
            }
        }
        if self.load.duration().is_zero() {
            return Err(BenchError::Argument("the run has no duration".into()));
        }
        Ok(())
    }

    /// Whether the run needs a database connection per worker: some operation sends SQL.
    /// (A parameter read by a query needs one connection before the run, see
    /// [`Plan::reads_queries`].)
    pub fn sends_sql(&self) -> bool {
        self.operations.iter().any(|op| {
            let OperationKind::Sql(script) = &op.kind;
            script.statement_count() > 0
        })
    }

    /// Whether some parameter takes its values from a query.
    pub fn reads_queries(&self) -> bool {
        self.operations.iter().any(|op| {
            let OperationKind::Sql(script) = &op.kind;
            script.steps.iter().any(|s| {
                matches!(s, crate::script::Step::Draw { param, .. } if param.unresolved_query().is_some())
            })
        })
    }

    /// The distinct `scheme://host:port` of the HTTP requests, in order of appearance.
    pub fn http_origins(&self) -> Vec<String> {
        let mut origins: Vec<String> = Vec::new();
        for op in &self.operations {
            let OperationKind::Sql(script) = &op.kind;
            for step in script.http_steps() {
                if !origins.contains(&step.origin) {
                    origins.push(step.origin.clone());
                }
            }
        }
        origins
    }

    /// Picks an operation by weight.
    pub fn pick(&self, cumulative: &[f64], rng: &mut Prng) -> usize {
        let total = cumulative.last().copied().unwrap_or(0.0);
        let x = rng.next_f64() * total;
        cumulative
            .iter()
            .position(|&c| x < c)
            .unwrap_or(cumulative.len().saturating_sub(1))
    }

    /// Running sums of the weights, for [`Plan::pick`].
    pub fn cumulative_weights(&self) -> Vec<f64> {
        let mut sum = 0.0;
        self.operations
            .iter()
            .map(|op| {
                sum += op.weight;
                sum
            })
            .collect()
    }
}

/// Parses `500ms`, `10s`, `2m`, `1h`, `1m30s` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        return seconds_to_duration(seconds, text);
    }
    let mut total = 0.0;
    let mut rest = text;
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..digits]
            .parse()
            .map_err(|_| format!("\"{text}\" is not a duration (like 500ms, 10s, 2m, 1h)"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match rest[..unit_len].trim() {
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            _ => {
                return Err(format!(
                    "\"{text}\" is not a duration (like 500ms, 10s, 2m, 1h)"
                ))
            }
        };
        total += number * factor;
        rest = &rest[unit_len..];
    }
    seconds_to_duration(total, text)
}

fn seconds_to_duration(seconds: f64, text: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("\"{text}\" is not a duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp() -> Profile {
        // 0 -> 100/s over 10 s, then 100/s for 10 s, then down to 50/s over 10 s.
        Profile {
            start: 0.0,
            stages: vec![
                Stage {
                    duration: Duration::from_secs(10),
                    target: 100.0,
                },
                Stage {
                    duration: Duration::from_secs(10),
                    target: 100.0,
                },
                Stage {
                    duration: Duration::from_secs(10),
                    target: 50.0,
                },
            ],
        }
    }

    #[test]
    fn time_of_inverts_the_integral() {
        let profile = ramp();
        assert_eq!(profile.total(), 500.0 + 1000.0 + 750.0);
        // Check against a numeric integral at many points.
        for count in [0.5, 10.0, 499.0, 500.0, 900.0, 1500.0, 1600.0, 2249.0] {
            let t = profile.time_of(count).unwrap();
            let steps = 200_000;
            let dt = t / steps as f64;
            let integral: f64 = (0..steps)
                .map(|i| profile.at((i as f64 + 0.5) * dt) * dt)
                .sum();
            assert!(
                (integral - count).abs() < 1e-3 * count.max(1.0),
                "{count}: {t} -> {integral}"
            );
        }
        assert_eq!(profile.time_of(2250.0), None);
        let constant = Profile::constant(200.0, Duration::from_secs(5));
        assert_eq!(constant.time_of(100.0), Some(0.5));
        assert_eq!(constant.time_of(1000.0), None);
    }

    #[test]
    fn segments_split_users_exactly() {
        for total in [0.0, 1.0, 7.0, 100.0, 101.0] {
            let sum: usize = (1..=4)
                .map(|i| Segment { index: i, count: 4 }.users(total))
                .sum();
            assert_eq!(sum, total as usize);
        }
        assert_eq!(
            Segment::parse("2/4").unwrap(),
            Segment { index: 2, count: 4 }
        );
        assert!(Segment::parse("0/4").is_err());
        assert!(Segment::parse("5/4").is_err());
        assert!(Segment::parse("x").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("10 parsecs").is_err());
    }
}
