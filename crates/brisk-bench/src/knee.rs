//! Find the knee: run the plan at a rising rate, one step after another, until a threshold
//! breaks, and report the highest rate that still held, with each step's figures.
//!
//! Each step is a whole open-model run of its own ([`crate::run::run`]) at a constant rate,
//! judged on its own thresholds, so a step's latency does not carry the queue of the step
//! before. The rate rises by a fixed amount or a factor; after the first step that breaks,
//! `refine` more steps bisect between the last rate that held and the first that broke.
//!
//! The answer is only as good as the steps: a 10-second step at 50/s is 500 operations, so
//! a p99 threshold is judged on five of them. Give the steps enough time for the percentile
//! that is judged.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use brisk_pg::conninfo::ConnInfo;
use serde::{Deserialize, Serialize};

use crate::plan::{Load, Plan, Profile};
use crate::result::BenchResult;
use crate::threshold::ThresholdResult;
use crate::BenchError;

pub const KNEE_SCHEMA: &str = "brisk.knee/1";

/// How the rate rises from one step to the next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// Add this many operations per second.
    Add(f64),
    /// Multiply by this factor (greater than 1).
    Multiply(f64),
}

impl Step {
    /// `50` (add 50/s) or `x1.5` (multiply by 1.5).
    pub fn parse(text: &str) -> Result<Step, BenchError> {
        let bad = || {
            BenchError::Argument(format!(
                "--knee-step {text}: expected a rate to add (50) or a factor above 1 (x1.5)"
            ))
        };
        let text = text.trim();
        if let Some(factor) = text.strip_prefix(['x', '×', '*']) {
            let factor: f64 = factor.trim().parse().map_err(|_| bad())?;
            if !(factor > 1.0 && factor.is_finite()) {
                return Err(bad());
            }
            return Ok(Step::Multiply(factor));
        }
        let add: f64 = text.trim_end_matches("/s").parse().map_err(|_| bad())?;
        if !(add > 0.0 && add.is_finite()) {
            return Err(bad());
        }
        Ok(Step::Add(add))
    }

    fn next(self, rate: f64) -> f64 {
        match self {
            Step::Add(add) => rate + add,
            Step::Multiply(factor) => rate * factor,
        }
    }
}

/// What to search.
#[derive(Debug, Clone, PartialEq)]
pub struct KneeSettings {
    pub start: f64,
    pub step: Step,
    /// The highest rate tried: the search stops there even if every step held.
    pub max: f64,
    pub step_duration: Duration,
    /// Bisection steps between the last rate that held and the first that broke.
    pub refine: u32,
}

/// The search's options as a scenario's `[knee]` section or the command line give them;
/// each unset one has its default (see [`KneeOptions::settings`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KneeOptions {
    pub step: Option<Step>,
    pub max: Option<f64>,
    pub refine: Option<u32>,
}

/// The rise when nothing says: half again per step reaches 100 times the start in a dozen
/// steps, and two bisections then narrow the last gap to an eighth.
pub const DEFAULT_STEP: Step = Step::Multiply(1.5);
pub const DEFAULT_REFINE: u32 = 2;
/// The highest rate tried when nothing says, as a multiple of the start.
pub const DEFAULT_MAX_FACTOR: f64 = 100.0;

impl KneeOptions {
    /// `self` with every option `over` sets replaced.
    pub fn overlay(self, over: KneeOptions) -> KneeOptions {
        KneeOptions {
            step: over.step.or(self.step),
            max: over.max.or(self.max),
            refine: over.refine.or(self.refine),
        }
    }

    /// The search from `start`, each step lasting `step_duration`.
    pub fn settings(&self, start: f64, step_duration: Duration) -> KneeSettings {
        KneeSettings {
            start,
            step: self.step.unwrap_or(DEFAULT_STEP),
            max: self.max.unwrap_or(start * DEFAULT_MAX_FACTOR),
            step_duration,
            refine: self.refine.unwrap_or(DEFAULT_REFINE),
        }
    }
}

/// One step's figures: latency from the intended start, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KneeStep {
    pub rate: f64,
    pub achieved_rate: f64,
    pub count: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub lag_p99_ms: f64,
    /// Arrivals due before the end of the step that never started.
    pub not_started: u64,
    pub held: bool,
    pub thresholds: Vec<ThresholdResult>,
}

impl KneeStep {
    fn of(rate: f64, result: &BenchResult) -> KneeStep {
        let all = &result.overall;
        KneeStep {
            rate,
            achieved_rate: all.rate,
            count: all.count,
            errors: all.errors,
            error_rate: all.error_rate,
            p50_ms: all.latency_ms.p50,
            p95_ms: all.latency_ms.p95,
            p99_ms: all.latency_ms.p99,
            max_ms: all.latency_ms.max,
            lag_p99_ms: all.lag_ms.p99,
            not_started: result.not_started,
            held: !result.thresholds_failed(),
            thresholds: result.thresholds.clone(),
        }
    }
}

/// The answer (schema `brisk.knee/1`, documented in docs/bench.md).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KneeResult {
    pub schema: String,
    pub target: String,
    /// The highest rate that held; none when the first step already broke.
    pub held_rate: Option<f64>,
    /// The lowest rate that broke; none when every step up to the maximum held.
    pub broke_rate: Option<f64>,
    pub interrupted: bool,
    /// In the order they ran (the refinement steps last).
    pub steps: Vec<KneeStep>,
}

/// Runs the steps. `plan` must be an open model with at least one threshold; its rate is
/// replaced by each step's. `on_step` is called after each step. Ctrl-C (`interrupt`)
/// stops the step under way; the steps run so far are the answer.
pub async fn find_knee(
    plan: Plan,
    settings: &KneeSettings,
    info: Option<&ConnInfo>,
    interrupt: impl Future<Output = ()> + Send + 'static,
    mut on_step: impl FnMut(&KneeStep),
) -> Result<KneeResult, BenchError> {
    let Load::Open {
        arrival,
        connections,
        ..
    } = plan.load
    else {
        return Err(BenchError::Argument(
            "finding the knee raises the rate: it needs the open model (--rate), not users".into(),
        ));
    };
    if plan.thresholds.is_empty() {
        return Err(BenchError::Argument(
            "finding the knee needs a threshold to break, such as --threshold 'p99 < 100ms'".into(),
        ));
    }
    if !(settings.start > 0.0 && settings.max >= settings.start) {
        return Err(BenchError::Argument(format!(
            "the knee search goes from {}/s to {}/s: the start must be above 0 and at most the maximum",
            settings.start, settings.max
        )));
    }
    let interrupt = shared(interrupt);
    let mut knee = KneeResult {
        schema: KNEE_SCHEMA.to_string(),
        ..KneeResult::default()
    };
    let run_step = |rate: f64, index: u64| {
        let mut step_plan = plan.clone();
        step_plan.load = Load::Open {
            arrival,
            connections,
            rate: Profile::constant(rate, settings.step_duration),
        };
        // Each step draws its own parameters, repeatably.
        step_plan.seed = plan.seed.wrapping_add(index);
        let interrupt = interrupt.clone();
        async move {
            let result =
                crate::run::run_with(Arc::new(step_plan), info, interrupt.wait(), |_| {}).await?;
            Ok::<_, BenchError>((KneeStep::of(rate, &result), result))
        }
    };
    let mut rate = settings.start;
    let mut index = 0u64;
    loop {
        let (step, result) = run_step(rate, index).await?;
        index += 1;
        knee.target = result.target.clone();
        if result.interrupted {
            knee.interrupted = true;
            return Ok(knee);
        }
        on_step(&step);
        let held = step.held;
        knee.steps.push(step);
        if held {
            knee.held_rate = Some(rate);
        } else {
            knee.broke_rate = Some(rate);
            break;
        }
        if rate >= settings.max {
            return Ok(knee);
        }
        rate = settings.step.next(rate).min(settings.max);
    }
    for _ in 0..settings.refine {
        let (Some(held), Some(broke)) = (knee.held_rate, knee.broke_rate) else {
            break;
        };
        let middle = (held + broke) / 2.0;
        // Rates closer than 1/s apart are the same rate for a 1 s-resolution run.
        if broke - held < 2.0 {
            break;
        }
        let (step, result) = run_step(middle.round(), index).await?;
        index += 1;
        if result.interrupted {
            knee.interrupted = true;
            return Ok(knee);
        }
        on_step(&step);
        if step.held {
            knee.held_rate = Some(step.rate);
        } else {
            knee.broke_rate = Some(step.rate);
        }
        knee.steps.push(step);
    }
    Ok(knee)
}

/// An interrupt that every step can wait for: once it fired, every later wait returns at
/// once.
#[derive(Clone)]
struct Shared(tokio::sync::watch::Receiver<bool>);

impl Shared {
    async fn wait(mut self) {
        let _ = self.0.wait_for(|fired| *fired).await;
    }
}

fn shared(interrupt: impl Future<Output = ()> + Send + 'static) -> Shared {
    let (tx, rx) = tokio::sync::watch::channel(false);
    // Ends with the runtime if the interrupt never comes.
    tokio::spawn(async move {
        interrupt.await;
        let _ = tx.send(true);
    });
    Shared(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_add_a_rate_or_multiply_by_a_factor() {
        assert_eq!(Step::parse("50").unwrap(), Step::Add(50.0));
        assert_eq!(Step::parse("25/s").unwrap(), Step::Add(25.0));
        assert_eq!(Step::parse("x1.5").unwrap(), Step::Multiply(1.5));
        assert_eq!(Step::parse("×2").unwrap(), Step::Multiply(2.0));
        assert_eq!(Step::Add(50.0).next(100.0), 150.0);
        assert_eq!(Step::Multiply(1.5).next(100.0), 150.0);
        // A step that does not rise would never reach the knee.
        for bad in ["0", "-5", "x1", "x0.5", "xx", "", "NaN", "inf", "x inf"] {
            let error = Step::parse(bad).unwrap_err().to_string();
            assert!(error.contains("--knee-step"), "{bad}: {error}");
        }
    }

    #[test]
    fn the_summary_names_the_knee_or_says_there_was_none() {
        let step = |rate: f64, held: bool| KneeStep {
            rate,
            held,
            ..KneeStep::default()
        };
        let mut knee = KneeResult {
            schema: KNEE_SCHEMA.into(),
            target: "db".into(),
            held_rate: Some(100.0),
            broke_rate: Some(150.0),
            interrupted: false,
            // Refinement steps come last; the summary sorts by rate.
            steps: vec![step(100.0, true), step(200.0, false), step(150.0, false)],
        };
        let text = crate::render::knee_summary(&knee);
        assert!(text.contains("knee: 100.0/s held, 150.0/s broke"), "{text}");
        let order: Vec<usize> = ["100.0/s", "150.0/s", "200.0/s"]
            .iter()
            .map(|r| text.find(&format!("{r}  done")).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
        knee.broke_rate = None;
        assert!(crate::render::knee_summary(&knee).contains("no knee up to 100.0/s"));
        knee.held_rate = None;
        knee.broke_rate = Some(100.0);
        assert!(crate::render::knee_summary(&knee).contains("first step already broke"));
    }
}
