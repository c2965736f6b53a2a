//! A scenario's parameter generators: a distribution over integers (uniform, Zipfian,
//! Gaussian, exponential: pgbench's algorithms) or values picked from a list (a file, or a
//! query's first column read once before the run).

use std::sync::{Arc, OnceLock};

use crate::expr::Value;
use crate::random::Prng;

#[derive(Debug)]
pub struct Param {
    pub name: String,
    pub source: ParamSource,
}

#[derive(Debug)]
pub enum ParamSource {
    Uniform {
        min: i64,
        max: i64,
    },
    Zipfian {
        min: i64,
        max: i64,
        s: f64,
    },
    Gaussian {
        min: i64,
        max: i64,
        parameter: f64,
    },
    Exponential {
        min: i64,
        max: i64,
        parameter: f64,
    },
    /// Values picked uniformly at random.
    Values(Arc<[Value]>),
    /// The first column of a query, read once before the run (see [`Param::resolved`]).
    Query {
        sql: String,
        values: OnceLock<Arc<[Value]>>,
    },
}

impl Param {
    /// Draws one value. A query parameter not yet read, or with no rows, gives an error the
    /// run counts as a failed operation (the runner reads every query before starting).
    pub fn draw(&self, rng: &mut Prng) -> Result<Value, String> {
        Ok(match &self.source {
            ParamSource::Uniform { min, max } => Value::Int(rng.uniform(*min, *max)),
            ParamSource::Zipfian { min, max, s } => Value::Int(rng.zipfian(*min, *max, *s)),
            ParamSource::Gaussian {
                min,
                max,
                parameter,
            } => Value::Int(rng.gaussian(*min, *max, *parameter)),
            ParamSource::Exponential {
                min,
                max,
                parameter,
            } => Value::Int(rng.exponential(*min, *max, *parameter)),
            ParamSource::Values(values) => pick(values, rng)?,
            ParamSource::Query { values, .. } => pick(
                values
                    .get()
                    .ok_or_else(|| format!("parameter {} was not read", self.name))?,
                rng,
            )?,
        })
    }

    /// The query to read before the run, if this parameter has one still unread.
    pub fn unresolved_query(&self) -> Option<&str> {
        match &self.source {
            ParamSource::Query { sql, values } if values.get().is_none() => Some(sql),
            _ => None,
        }
    }

    /// Stores a query parameter's values.
    pub fn resolved(&self, rows: Vec<Value>) {
        if let ParamSource::Query { values, .. } = &self.source {
            let _ = values.set(rows.into());
        }
    }
}

fn pick(values: &[Value], rng: &mut Prng) -> Result<Value, String> {
    if values.is_empty() {
        return Err("no values to pick from".into());
    }
    let index = rng.uniform(0, values.len() as i64 - 1) as usize;
    Ok(values[index].clone())
}
