//! Scenario files (TOML, documented in `docs/bench.md`) and the settings that make a
//! [`Plan`]: a scenario's, with the command line's on top.
//!
//! Every mistake in a scenario is reported at its line (`scenario.toml:12: ...`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::expr::Value;
use crate::http::{HttpSpec, HttpStep};
use crate::knee::{KneeOptions, Step as KneeStep};
use crate::param::{Param, ParamSource};
use crate::plan::{
    parse_duration, Arrival, Load, Operation, OperationKind, Plan, Profile, Protocol, Segment,
    Stage,
};
use crate::random::{MIN_GAUSSIAN_PARAM, ZIPFIAN_PARAM_RANGE};
use crate::script::{from_offset, parse_pgbench, Script, SqlStep, Step};
use crate::threshold::Threshold;
use crate::BenchError;

/// How long a run lasts when nothing says: long enough for a few per-second windows.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// Connections of the open model when nothing says. pgbench's default is 1; 4 lets a few
/// slow operations overlap without asking the server for many backends.
pub const DEFAULT_CONNECTIONS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    Open,
    Closed,
}

/// The load settings, each optional so that the command line can override a scenario's.
#[derive(Debug, Clone, Default)]
pub struct LoadSettings {
    pub model: Option<Model>,
    pub arrival: Option<Arrival>,
    pub rate: Option<f64>,
    pub users: Option<f64>,
    pub think_time: Option<Duration>,
    pub connections: Option<usize>,
    pub duration: Option<Duration>,
    pub stages: Vec<Stage>,
    pub protocol: Option<Protocol>,
    pub seed: Option<u64>,
}

impl LoadSettings {
    /// `self` with every setting `over` has replaced.
    pub fn overlay(self, over: LoadSettings) -> LoadSettings {
        LoadSettings {
            model: over.model.or(self.model),
            arrival: over.arrival.or(self.arrival),
            rate: over.rate.or(self.rate),
            users: over.users.or(self.users),
            think_time: over.think_time.or(self.think_time),
            connections: over.connections.or(self.connections),
            // A duration given on top of a staged scenario replaces its stages.
            stages: if over.duration.is_some() || !over.stages.is_empty() {
                over.stages
            } else {
                self.stages
            },
            duration: over.duration.or(self.duration),
            protocol: over.protocol.or(self.protocol),
            seed: over.seed.or(self.seed),
        }
    }

    pub fn load(&self) -> Result<Load, BenchError> {
        let model = self
            .model
            .unwrap_or(if self.users.is_some() && self.rate.is_none() {
                Model::Closed
            } else {
                Model::Open
            });
        let profile = |start: Option<f64>, what: &str| -> Result<Profile, BenchError> {
            if !self.stages.is_empty() {
                return Ok(Profile {
                    start: start.unwrap_or(0.0),
                    stages: self.stages.clone(),
                });
            }
            let start = start.ok_or_else(|| {
                BenchError::Argument(format!(
                    "no {what} given: pass --rate N for the open model or --users N for the closed one (or set them in the scenario)"
                ))
            })?;
            Ok(Profile::constant(
                start,
                self.duration.unwrap_or(DEFAULT_DURATION),
            ))
        };
        let load = match model {
            Model::Open => Load::Open {
                arrival: self.arrival.unwrap_or(Arrival::Constant),
                rate: profile(self.rate, "rate")?,
                connections: self.connections.unwrap_or(DEFAULT_CONNECTIONS),
            },
            Model::Closed => Load::Closed {
                users: profile(self.users, "users")?,
                think_time: self.think_time.unwrap_or(Duration::ZERO),
            },
        };
        let negative = match &load {
            Load::Open { rate, .. } => {
                rate.start < 0.0 || rate.stages.iter().any(|s| s.target < 0.0)
            }
            Load::Closed { users, .. } => {
                users.start < 0.0 || users.stages.iter().any(|s| s.target < 0.0)
            }
        };
        if negative {
            return Err(BenchError::Argument(
                "rates and users cannot be negative".into(),
            ));
        }
        Ok(load)
    }
}

/// A scenario file, read.
#[derive(Debug)]
pub struct Scenario {
    pub target: Option<String>,
    pub operations: Vec<Operation>,
    pub settings: LoadSettings,
    pub thresholds: Vec<Threshold>,
    pub abort_on_fail: bool,
    /// A `[knee]` section: run the scenario as a find-the-knee search with these options.
    pub knee: Option<KneeOptions>,
}

impl Scenario {
    /// The plan of this scenario with `over` applied.
    pub fn plan(
        self,
        over: LoadSettings,
        extra_thresholds: Vec<Threshold>,
        abort_on_fail: bool,
        segment: Segment,
    ) -> Result<Plan, BenchError> {
        let settings = self.settings.overlay(over);
        let mut thresholds = self.thresholds;
        thresholds.extend(extra_thresholds);
        let plan = Plan {
            operations: self.operations,
            load: settings.load()?,
            protocol: settings.protocol.unwrap_or(Protocol::Prepared),
            seed: settings.seed.unwrap_or(1),
            thresholds,
            abort_on_fail: abort_on_fail || self.abort_on_fail,
            abort_grace: Duration::from_secs(5),
            segment,
            precise_timer: true,
        };
        plan.validate()?;
        Ok(plan)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    target: Option<String>,
    duration: Option<Spanned<String>>,
    protocol: Option<Spanned<String>>,
    seed: Option<u64>,
    connections: Option<Spanned<usize>>,
    #[serde(default)]
    thresholds: Vec<Spanned<String>>,
    #[serde(default)]
    abort_on_fail: bool,
    load: Option<LoadSpec>,
    #[serde(default)]
    params: BTreeMap<String, Spanned<ParamSpec>>,
    #[serde(default)]
    operations: Vec<Spanned<OperationSpec>>,
    knee: Option<KneeSpec>,
}

/// `[knee]`: the scenario is a find-the-knee search (see docs/bench.md).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KneeSpec {
    step: Option<Spanned<String>>,
    max: Option<Spanned<f64>>,
    refine: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoadSpec {
    model: Option<Spanned<String>>,
    arrival: Option<Spanned<String>>,
    rate: Option<f64>,
    users: Option<f64>,
    think_time: Option<Spanned<String>>,
    #[serde(default)]
    stages: Vec<Spanned<StageSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StageSpec {
    duration: String,
    target: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ParamSpec {
    distribution: Option<String>,
    min: Option<i64>,
    max: Option<i64>,
    /// Zipfian's exponent.
    s: Option<f64>,
    /// Gaussian's and exponential's parameter, as in pgbench.
    parameter: Option<f64>,
    file: Option<String>,
    query: Option<String>,
    values: Option<Vec<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OperationSpec {
    name: String,
    weight: Option<f64>,
    sql: Option<String>,
    statements: Option<Vec<String>>,
    pgbench_script: Option<String>,
    http: Option<HttpOperationSpec>,
    #[serde(default)]
    thresholds: Vec<Spanned<String>>,
}

/// `[operations.http]`: one request (see docs/bench.md).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpOperationSpec {
    method: Option<String>,
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Option<String>,
    #[serde(default)]
    expect_status: Vec<u16>,
    timeout: Option<String>,
}

/// Reads a scenario file; `defines` are `--define NAME=VALUE`.
pub fn read_scenario(path: &Path, defines: &[(String, String)]) -> Result<Scenario, BenchError> {
    let text = std::fs::read_to_string(path).map_err(|e| BenchError::Read {
        file: path.display().to_string(),
        reason: e.to_string(),
    })?;
    parse_scenario(&text, path, defines)
}

pub fn parse_scenario(
    text: &str,
    path: &Path,
    defines: &[(String, String)],
) -> Result<Scenario, BenchError> {
    let file_name = path.display().to_string();
    let at = |offset: usize, message: String| BenchError::Input {
        file: file_name.clone(),
        line: from_offset(text, offset),
        message,
    };
    let file: File = toml::from_str(text).map_err(|e| {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        let message = e.message().trim().replace('\n', " ");
        at(offset, message)
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let duration = |spanned: &Spanned<String>| {
        parse_duration(spanned.get_ref()).map_err(|m| at(spanned.span().start, m))
    };
    // A word from a closed list (`protocol = "simple"`), or the line and the list.
    fn one_of<T: Copy>(
        spanned: &Spanned<String>,
        key: &str,
        choices: &[(&str, T)],
        at: &dyn Fn(usize, String) -> BenchError,
    ) -> Result<T, BenchError> {
        let word = spanned.get_ref().as_str();
        choices
            .iter()
            .find(|(name, _)| *name == word)
            .map(|(_, value)| *value)
            .ok_or_else(|| {
                let names: Vec<String> = choices.iter().map(|(n, _)| format!("\"{n}\"")).collect();
                at(
                    spanned.span().start,
                    format!("{key} \"{word}\": expected {}", names.join(" or ")),
                )
            })
    }

    let mut settings = LoadSettings {
        seed: file.seed,
        connections: file.connections.as_ref().map(|c| *c.get_ref()),
        ..LoadSettings::default()
    };
    if let Some(c) = &file.connections {
        if *c.get_ref() == 0 {
            return Err(at(c.span().start, "connections must be at least 1".into()));
        }
    }
    if let Some(d) = &file.duration {
        settings.duration = Some(duration(d)?);
    }
    if let Some(p) = &file.protocol {
        let choices = [
            ("prepared", Protocol::Prepared),
            ("simple", Protocol::Simple),
            ("extended", Protocol::Extended),
        ];
        settings.protocol = Some(one_of(p, "protocol", &choices, &at)?);
    }
    if let Some(load) = &file.load {
        if let Some(m) = &load.model {
            let choices = [("open", Model::Open), ("closed", Model::Closed)];
            settings.model = Some(one_of(m, "model", &choices, &at)?);
        }
        if let Some(a) = &load.arrival {
            let choices = [
                ("constant", Arrival::Constant),
                ("poisson", Arrival::Poisson),
            ];
            settings.arrival = Some(one_of(a, "arrival", &choices, &at)?);
        }
        settings.rate = load.rate;
        settings.users = load.users;
        if let Some(t) = &load.think_time {
            settings.think_time = Some(duration(t)?);
        }
        for stage in &load.stages {
            let d =
                parse_duration(&stage.get_ref().duration).map_err(|m| at(stage.span().start, m))?;
            if stage.get_ref().target < 0.0 {
                return Err(at(
                    stage.span().start,
                    "a stage's target cannot be negative".into(),
                ));
            }
            settings.stages.push(Stage {
                duration: d,
                target: stage.get_ref().target,
            });
        }
        if !settings.stages.is_empty() && settings.duration.is_some() {
            let d = file.duration.as_ref().map(|d| d.span().start).unwrap_or(0);
            return Err(at(
                d,
                "give either duration or load.stages: the stages' durations add up to the run's"
                    .into(),
            ));
        }
    }

    let mut params = Vec::new();
    for (name, spec) in &file.params {
        let param = param(name, spec.get_ref(), &base)
            .map_err(|m| at(spec.span().start, format!("params.{name}: {m}")))?;
        params.push(Arc::new(param));
    }

    let mut operations = Vec::new();
    let mut operation_thresholds = Vec::new();
    for spanned in &file.operations {
        let spec = spanned.get_ref();
        let start = spanned.span().start;
        let sources = [
            spec.sql.is_some(),
            spec.statements.is_some(),
            spec.pgbench_script.is_some(),
            spec.http.is_some(),
        ];
        if sources.iter().filter(|s| **s).count() != 1 {
            return Err(at(
                start,
                format!(
                    "operation \"{}\": give exactly one of sql, statements, pgbench_script or http",
                    spec.name
                ),
            ));
        }
        let line = from_offset(text, start);
        let script = if let Some(http) = &spec.http {
            http_script(http, &params, defines, line)
                .map_err(|m| at(start, format!("operation \"{}\": http: {m}", spec.name)))?
        } else if let Some(script_path) = &spec.pgbench_script {
            let script_path = base.join(script_path);
            let script_text = std::fs::read_to_string(&script_path).map_err(|e| {
                at(
                    start,
                    format!("pgbench_script {}: {e}", script_path.display()),
                )
            })?;
            parse_pgbench(&script_text, &script_path, defines)?
        } else {
            let statements: Vec<String> = match (&spec.sql, &spec.statements) {
                (Some(sql), _) => vec![sql.clone()],
                (_, Some(list)) => list.clone(),
                _ => Vec::new(),
            };
            if statements.iter().all(|s| s.trim().is_empty()) {
                return Err(at(start, format!("operation \"{}\" has no SQL", spec.name)));
            }
            sql_script(&statements, &params, defines, line)
        };
        for t in &spec.thresholds {
            operation_thresholds.push(
                Threshold::parse(t.get_ref(), Some(&spec.name))
                    .map_err(|e| at(t.span().start, e.to_string()))?,
            );
        }
        let weight = spec.weight.unwrap_or(1.0);
        if !(weight.is_finite() && weight > 0.0) {
            return Err(at(
                start,
                format!("operation \"{}\": weight must be positive", spec.name),
            ));
        }
        if operations.iter().any(|o: &Operation| o.name == spec.name) {
            return Err(at(
                start,
                format!("a second operation is named \"{}\"", spec.name),
            ));
        }
        operations.push(Operation {
            name: spec.name.clone(),
            weight,
            kind: OperationKind::Sql(script),
        });
    }
    if operations.is_empty() {
        return Err(at(0, "the scenario has no [[operations]]".into()));
    }
    let mut thresholds = Vec::new();
    for t in &file.thresholds {
        let threshold =
            Threshold::parse(t.get_ref(), None).map_err(|e| at(t.span().start, e.to_string()))?;
        if let Some(name) = &threshold.operation {
            if !operations.iter().any(|o| &o.name == name) {
                return Err(at(
                    t.span().start,
                    format!(
                        "threshold \"{}\": no operation is named \"{name}\"",
                        threshold.text
                    ),
                ));
            }
        }
        thresholds.push(threshold);
    }
    thresholds.extend(operation_thresholds);
    let knee = match &file.knee {
        Some(spec) => {
            let mut options = KneeOptions {
                refine: spec.refine,
                ..KneeOptions::default()
            };
            if let Some(step) = &spec.step {
                options.step = Some(KneeStep::parse(step.get_ref()).map_err(|_| {
                    at(
                        step.span().start,
                        format!(
                            "knee.step \"{}\": expected a rate to add (\"50\") or a factor above 1 (\"x1.5\")",
                            step.get_ref()
                        ),
                    )
                })?);
            }
            if let Some(max) = &spec.max {
                if !(max.get_ref().is_finite() && *max.get_ref() > 0.0) {
                    return Err(at(max.span().start, "knee.max must be above 0".into()));
                }
                options.max = Some(*max.get_ref());
            }
            // Its thresholds may come from the command line: find_knee checks there are some.
            Some(options)
        }
        None => None,
    };
    Ok(Scenario {
        target: file.target,
        operations,
        settings,
        thresholds,
        abort_on_fail: file.abort_on_fail,
        knee,
    })
}

/// A scenario operation's statements, with a draw step for each parameter they use.
fn sql_script(
    statements: &[String],
    params: &[Arc<Param>],
    defines: &[(String, String)],
    line: usize,
) -> Script {
    let mut script = Script::with_defines(defines);
    let slots: Vec<usize> = params.iter().map(|p| script.define(&p.name)).collect();
    let steps: Vec<SqlStep> = statements
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| SqlStep::new(s.trim().trim_end_matches(';'), &script.vars, line))
        .collect();
    for (param, slot) in params.iter().zip(&slots) {
        let used = steps.iter().any(|s| s.params.contains(slot));
        if used {
            script.steps.push(Step::Draw {
                slot: *slot,
                param: param.clone(),
            });
        }
    }
    script.steps.extend(steps.into_iter().map(Step::Sql));
    script
}

/// A scenario operation's HTTP request, with a draw step for each parameter it uses.
fn http_script(
    spec: &HttpOperationSpec,
    params: &[Arc<Param>],
    defines: &[(String, String)],
    line: usize,
) -> Result<Script, String> {
    let mut script = Script::with_defines(defines);
    let slots: Vec<usize> = params.iter().map(|p| script.define(&p.name)).collect();
    let timeout = spec
        .timeout
        .as_deref()
        .map(|t| parse_duration(t).map_err(|m| format!("timeout: {m}")))
        .transpose()?;
    if timeout.is_some_and(|t| t.is_zero()) {
        return Err("timeout must be above zero".into());
    }
    let request = HttpSpec {
        method: spec.method.clone().unwrap_or_else(|| "GET".into()),
        url: spec.url.clone(),
        headers: spec
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        body: spec.body.clone(),
        expect: spec.expect_status.clone(),
        timeout,
    };
    let step = HttpStep::new(&request, &script.vars, line)?;
    let used: Vec<usize> = step.slots().collect();
    for (param, slot) in params.iter().zip(&slots) {
        if used.contains(slot) {
            script.steps.push(Step::Draw {
                slot: *slot,
                param: param.clone(),
            });
        }
    }
    script.steps.push(Step::Http(Box::new(step)));
    Ok(script)
}

fn param(name: &str, spec: &ParamSpec, base: &Path) -> Result<Param, String> {
    let sources = [
        spec.distribution.is_some(),
        spec.file.is_some(),
        spec.query.is_some(),
        spec.values.is_some(),
    ];
    if sources.iter().filter(|s| **s).count() != 1 {
        return Err("give exactly one of distribution, file, query or values".into());
    }
    let source = if let Some(distribution) = &spec.distribution {
        let (min, max) = match (spec.min, spec.max) {
            (Some(min), Some(max)) if min <= max => (min, max),
            (Some(min), Some(max)) => return Err(format!("min {min} is above max {max}")),
            _ => return Err(format!("{distribution} needs min and max")),
        };
        match distribution.as_str() {
            "uniform" => ParamSource::Uniform { min, max },
            "zipfian" => {
                let s = spec.s.ok_or("zipfian needs s (the exponent, e.g. 1.1)")?;
                let (low, high) = ZIPFIAN_PARAM_RANGE;
                if !(low..=high).contains(&s) {
                    return Err(format!(
                        "zipfian s must be in [{low}, {high}], as in pgbench"
                    ));
                }
                ParamSource::Zipfian { min, max, s }
            }
            "gaussian" => {
                let parameter = spec.parameter.unwrap_or(MIN_GAUSSIAN_PARAM * 2.0);
                if parameter < MIN_GAUSSIAN_PARAM {
                    return Err(format!(
                        "gaussian parameter must be at least {MIN_GAUSSIAN_PARAM}, as in pgbench"
                    ));
                }
                ParamSource::Gaussian {
                    min,
                    max,
                    parameter,
                }
            }
            "exponential" => {
                let parameter = spec.parameter.ok_or("exponential needs parameter (> 0)")?;
                if parameter <= 0.0 {
                    return Err("exponential parameter must be greater than 0".into());
                }
                ParamSource::Exponential {
                    min,
                    max,
                    parameter,
                }
            }
            other => {
                return Err(format!(
                    "distribution \"{other}\": expected uniform, zipfian, gaussian or exponential"
                ))
            }
        }
    } else if let Some(file) = &spec.file {
        let path: PathBuf = base.join(file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let values: Vec<Value> = text
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
            .map(|l| Value::Text(l.into()))
            .collect();
        if values.is_empty() {
            return Err(format!("{} has no values", path.display()));
        }
        ParamSource::Values(values.into())
    } else if let Some(query) = &spec.query {
        ParamSource::Query {
            sql: query.clone(),
            values: OnceLock::new(),
        }
    } else {
        let values = spec
            .values
            .iter()
            .flatten()
            .map(|v| match v {
                toml::Value::String(s) => Ok(Value::Text(s.as_str().into())),
                toml::Value::Integer(i) => Ok(Value::Int(*i)),
                toml::Value::Float(f) => Ok(Value::Double(*f)),
                toml::Value::Boolean(b) => Ok(Value::Text(b.to_string().into())),
                _ => Err("values must be strings, numbers or booleans".to_string()),
            })
            .collect::<Result<Vec<Value>, String>>()?;
        if values.is_empty() {
            return Err("values is empty".into());
        }
        ParamSource::Values(values.into())
    };
    Ok(Param {
        name: name.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
duration = "30s"
protocol = "prepared"
connections = 8
thresholds = ["p95 < 100ms", "error_rate < 0.1%"]

[load]
arrival = "poisson"
rate = 200

[params.user_id]
distribution = "zipfian"
min = 1
max = 10000
s = 1.1

[params.status]
values = ["new", "paid"]

[[operations]]
name = "get_user"
weight = 3
sql = "SELECT * FROM users WHERE id = :user_id"
thresholds = ["p99 < 20ms"]

[[operations]]
name = "pay"
statements = ["BEGIN", "UPDATE orders SET status = :status WHERE user_id = :user_id", "COMMIT"]
"#;

    fn parse(text: &str) -> Result<Scenario, BenchError> {
        parse_scenario(text, Path::new("s.toml"), &[])
    }

    #[test]
    fn reads_the_documented_example() {
        let scenario = parse(EXAMPLE).unwrap();
        assert_eq!(scenario.operations.len(), 2);
        assert_eq!(scenario.thresholds.len(), 3);
        assert_eq!(
            scenario.thresholds[2].operation.as_deref(),
            Some("get_user")
        );
        let plan = scenario
            .plan(
                LoadSettings::default(),
                Vec::new(),
                false,
                Segment::default(),
            )
            .unwrap();
        let Load::Open {
            arrival,
            rate,
            connections,
        } = &plan.load
        else {
            panic!()
        };
        assert_eq!((*arrival, *connections), (Arrival::Poisson, 8));
        assert_eq!(rate.duration(), Duration::from_secs(30));
        let OperationKind::Sql(pay) = &plan.operations[1].kind;
        // Two draws (status, user_id), then the three statements.
        assert_eq!(pay.steps.len(), 5);
        assert_eq!(pay.statement_count(), 3);
        let update = pay.sql_steps().nth(1).unwrap();
        assert_eq!(
            update.prepared_text,
            "UPDATE orders SET status = $1 WHERE user_id = $2"
        );
    }

    #[test]
    fn command_line_overrides_the_scenario() {
        let scenario = parse(EXAMPLE).unwrap();
        let over = LoadSettings {
            rate: Some(50.0),
            duration: Some(Duration::from_secs(5)),
            ..LoadSettings::default()
        };
        let plan = scenario
            .plan(over, Vec::new(), false, Segment::default())
            .unwrap();
        let Load::Open { rate, .. } = &plan.load else {
            panic!()
        };
        assert_eq!(rate, &Profile::constant(50.0, Duration::from_secs(5)));
    }

    #[test]
    fn stages_ramp_users() {
        let scenario = parse(
            "[load]\nmodel = \"closed\"\nthink_time = \"1s\"\nstages = [{ duration = \"1m\", target = 200 }, { duration = \"10m\", target = 200 }]\n[[operations]]\nname = \"a\"\nsql = \"SELECT 1\"\n",
        )
        .unwrap();
        let plan = scenario
            .plan(
                LoadSettings::default(),
                Vec::new(),
                false,
                Segment::default(),
            )
            .unwrap();
        let Load::Closed { users, think_time } = &plan.load else {
            panic!()
        };
        assert_eq!(*think_time, Duration::from_secs(1));
        assert_eq!(users.at(30.0), 100.0);
        assert_eq!(users.at(120.0), 200.0);
        assert_eq!(users.duration(), Duration::from_secs(660));
    }

    #[test]
    fn a_knee_section_sets_the_search_and_the_command_line_overrides_it() {
        let scenario = parse(
            "duration = \"5s\"\nthresholds = [\"p99 < 50ms\"]\n[load]\nrate = 20\n[knee]\nstep = \"25\"\nmax = 300\n[[operations]]\nname = \"a\"\nsql = \"SELECT 1\"\n",
        )
        .unwrap();
        let options = scenario.knee.clone().unwrap();
        assert_eq!(
            options,
            KneeOptions {
                step: Some(KneeStep::Add(25.0)),
                max: Some(300.0),
                refine: None,
            }
        );
        let settings = options
            .clone()
            .overlay(KneeOptions {
                refine: Some(4),
                max: Some(120.0),
                ..KneeOptions::default()
            })
            .settings(20.0, Duration::from_secs(5));
        assert_eq!(settings.step, KneeStep::Add(25.0));
        assert_eq!((settings.max, settings.refine), (120.0, 4));
        // Unset options take the documented defaults.
        let defaults = KneeOptions::default().settings(20.0, Duration::from_secs(5));
        assert_eq!(defaults.step, KneeStep::Multiply(1.5));
        assert_eq!((defaults.max, defaults.refine), (2000.0, 2));
        // A scenario without the section is an ordinary run.
        assert!(parse(EXAMPLE).unwrap().knee.is_none());
    }

    #[test]
    fn http_operations_draw_the_parameters_they_use() {
        let scenario = parse(
            "[params.id]\ndistribution = \"uniform\"\nmin = 1\nmax = 9\n[params.unused]\nvalues = [1]\n[[operations]]\nname = \"get\"\n[operations.http]\nurl = \"https://api.local:8443/items/{id}\"\nexpect_status = [200, 404]\ntimeout = \"2s\"\n",
        )
        .unwrap();
        let OperationKind::Sql(script) = &scenario.operations[0].kind;
        assert_eq!(script.statement_count(), 0);
        assert_eq!(script.steps.len(), 2, "one draw (id), then the request");
        assert!(matches!(&script.steps[0], Step::Draw { param, .. } if param.name == "id"));
        let step = script.http_steps().next().unwrap();
        assert_eq!(step.origin, "https://api.local:8443");
        assert_eq!(step.method, "GET");
        assert_eq!(step.expect, vec![200, 404]);
        assert_eq!(step.timeout, Duration::from_secs(2));
    }

    #[test]
    fn mistakes_name_their_line() {
        for (text, line, needle) in [
            ("duration = \"30s\"\nrate = 5\n", 2, "unknown field"),
            ("[load]\nrate = \"fast\"\n", 2, "invalid type"),
            ("[load]\narrival = \"bursty\"\n", 2, "arrival \"bursty\": expected \"constant\" or \"poisson\""),
            ("[load]\nrate = 5\nmodel = \"mixed\"\n", 3, "model \"mixed\": expected \"open\" or \"closed\""),
            ("protocol = \"binary\"\n", 1, "protocol \"binary\": expected \"prepared\""),
            ("[params.x]\ndistribution = \"zipfian\"\nmin = 1\nmax = 10\ns = 0.5\n", 1, "zipfian s"),
            ("[params.x]\ndistribution = \"uniform\"\nmin = 10\nmax = 1\n", 1, "min 10 is above max 1"),
            ("[[operations]]\nname = \"a\"\n", 1, "exactly one of sql"),
            ("[[operations]]\nname = \"a\"\nsql = \"SELECT 1\"\nthresholds = [\"p97 < 1ms\"]\n", 4, "unknown metric"),
            ("\n\n[[operations]]\nname = \"a\"\nsql = \"SELECT 1\"\n[[operations]]\nname = \"a\"\nsql = \"SELECT 2\"\n", 6, "second operation"),
            ("thresholds = [\"b: p95 < 1ms\"]\n[[operations]]\nname = \"a\"\nsql = \"SELECT 1\"\n", 1, "no operation is named \"b\""),
            ("duration = \"forever\"\n", 1, "not a duration"),
            ("x = [\n", 1, "unclosed array"),
            ("[knee]\nstep = \"fast\"\n[[operations]]\nname = \"a\"\nsql = \"SELECT 1\"\n", 2, "knee.step \"fast\": expected"),
            ("[knee]\nstep = \"x0.5\"\n[[operations]]\nname = \"a\"\nsql = \"SELECT 1\"\n", 2, "factor above 1"),
            ("[knee]\nstep = \"50\"\nmax = 0\n[[operations]]\nname = \"a\"\nsql = \"SELECT 1\"\n", 3, "knee.max must be above 0"),
            ("[knee]\nrefine = -1\n[[operations]]\nname = \"a\"\nsql = \"SELECT 1\"\n", 2, "invalid value"),
            ("[knee]\nstart = 5\n[[operations]]\nname = \"a\"\nsql = \"SELECT 1\"\n", 2, "unknown field `start`"),
            ("[[operations]]\nname = \"a\"\n[operations.http]\nurl = \"http://x/{id}\"\n", 1, "operation \"a\": http: {id}: no parameter"),
            ("[[operations]]\nname = \"a\"\nsql = \"SELECT 1\"\n[operations.http]\nurl = \"http://x/\"\n", 1, "exactly one of sql, statements, pgbench_script or http"),
            ("[[operations]]\nname = \"a\"\n[operations.http]\nurl = \"http://x/\"\ntimeout = \"never\"\n", 1, "timeout: "),
            ("", 1, "no [[operations]]"),
        ] {
            let error = parse(text).unwrap_err();
            let text_error = error.to_string();
            assert!(text_error.starts_with(&format!("s.toml:{line}: ")), "{text:?}: {text_error}");
            assert!(text_error.contains(needle), "{text:?}: {text_error}");
            assert_eq!(text_error.lines().count(), 1, "{text_error}");
        }
    }
}
