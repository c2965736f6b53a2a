//! Planning a normalized text (`$n` in place of values, as `pg_stat_statements` prints it),
//! including the texts PostgreSQL does not `PREPARE` as they are.
//!
//! Each step runs only when the one before it failed:
//!
//! 1. The text as it is, with the types PostgreSQL infers: a generic plan.
//! 2. Typed-literal placeholders written as casts (`interval $2` is not SQL, `$2::interval`
//!    is; brisk-sql's `cast_typed_placeholders`).
//! 3. The parameters' types named in `PREPARE` from their context
//!    ([`params::context_types`]), `unknown` for the rest, which PostgreSQL then infers.
//! 4. One type for all the parameters still unknown, from [`FALLBACK_TYPES`]: `$1 || $2`,
//!    `$1 - $2` or `date $1 + $2` have no single operator for unknowns, and `now() - $1`
//!    is inferred as a timestamp where the application sends an interval.
//! 5. Representative values from `pg_stats` in place of the parameters: a plan for those
//!    values, not a generic plan, and labeled as such in the findings. The values are
//!    untyped literals, which PostgreSQL resolves in each place as it resolved the
//!    application's own: `owner_id = $1 OR name = $1` has no single type for `$1`, but
//!    `owner_id = '7' OR name = '7'` plans.
//!
//! A text with a range on a parameter gets a custom plan for the representative values at
//! each step instead of a generic one: a generic plan guesses that any range keeps a third
//! of the rows, and `shipped_at > now() - $2` then never looks worth an index, where the
//! application asks for the last two days.
//!
//! Only planning uses the rewritten text; reports show the text as the workload had it.

use brisk_pg::explain::{self, ExplainOptions};
use brisk_pg::Session;

use super::params;
use super::snapshot::Snapshot;
use super::whatif::Planned;
use super::PlanBasis;

/// The types tried, in order, for parameters neither PostgreSQL nor their context types:
/// text first, because applications send strings most (`'%' || $1 || '%'`), then the
/// types whose operators are ambiguous for unknowns: a number for `date + $2` and `$1 - $2`,
/// an interval for date arithmetic.
const FALLBACK_TYPES: &[&str] = &["text", "integer", "numeric", "interval"];

/// Plans the normalized text `original`, which reads `tables`; returns the recipe, its cost
/// and how it was planned, or why it could not be. `ranged`: it has a range on a parameter,
/// and gets a custom plan for representative values when their values plan.
pub(crate) async fn plan(
    session: &Session,
    snapshot: &Snapshot,
    original: &str,
    tables: Vec<u32>,
    ranged: bool,
) -> Result<(Planned, f64, PlanBasis), String> {
    if ranged {
        if let Ok(planned) = typed(session, snapshot, original, &tables, true).await {
            return Ok(planned);
        }
    }
    let (first_error, text, context) =
        match typed(session, snapshot, original, &tables, false).await {
            Ok(planned) => return Ok(planned),
            Err(failed) => failed,
        };
    let values = params::values(&text, &context, snapshot);
    let bound = brisk_sql::bind_placeholders(&text, &values);
    let planned = Planned {
        text: bound,
        args: None,
        custom: false,
        types: Vec::new(),
        tables,
    };
    match explain::explain(session, planned.statement(), ExplainOptions::default()).await {
        Ok(explained) => Ok((planned, explained.plan.total_cost, PlanBasis::Representative)),
        Err(last) => Err(format!(
            "could not be planned: {first_error}; with its parameters typed from their context and with values from pg_stats: {last}"
        )),
    }
}

/// Steps 1 to 4: the text prepared as printed, then rewritten and typed. On failure, the
/// first error, the rewritten text and its parameters' context types (`unknown` where
/// none), for the last step.
async fn typed(
    session: &Session,
    snapshot: &Snapshot,
    original: &str,
    tables: &[u32],
    custom: bool,
) -> Result<(Planned, f64, PlanBasis), (String, String, Vec<String>)> {
    let attempt = |text: String, types: Vec<String>| {
        let tables = tables.to_vec();
        async move {
            let inferred = explain::parameter_types(session, &text, &types).await?;
            let args = params::values(&text, &inferred, snapshot);
            let planned = Planned {
                text,
                args: Some(args),
                custom,
                types,
                tables,
            };
            let explained =
                explain::explain(session, planned.statement(), ExplainOptions::default()).await?;
            Ok::<_, brisk_pg::PgError>((planned, explained.plan.total_cost))
        }
    };
    let (as_printed, rewritten) = if custom {
        (
            PlanBasis::RangeValues { rewritten: false },
            PlanBasis::RangeValues { rewritten: true },
        )
    } else {
        (PlanBasis::Generic, PlanBasis::GenericRewritten)
    };
    let first_error = match attempt(original.to_string(), Vec::new()).await {
        Ok((planned, cost)) => return Ok((planned, cost, as_printed)),
        Err(e) => e.to_string(),
    };
    let rewrite = |planned: (Planned, f64)| (planned.0, planned.1, rewritten);

    let text = brisk_sql::cast_typed_placeholders(original).into_owned();
    if text != original {
        if let Ok(planned) = attempt(text.clone(), Vec::new()).await {
            return Ok(rewrite(planned));
        }
    }
    let count = highest_parameter(&text);
    let context = params::context_types(&text, count, snapshot, &snapshot.functions);
    let named = |fallback: &str| -> Vec<String> {
        context
            .iter()
            .map(|t| t.clone().unwrap_or_else(|| fallback.to_string()))
            .collect()
    };
    if context.iter().any(Option::is_some) {
        if let Ok(planned) = attempt(text.clone(), named("unknown")).await {
            return Ok(rewrite(planned));
        }
    }
    if context.iter().any(Option::is_none) {
        for fallback in FALLBACK_TYPES {
            if let Ok(planned) = attempt(text.clone(), named(fallback)).await {
                return Ok(rewrite(planned));
            }
        }
    }
    let unknown = named("unknown");
    Err((first_error, text, unknown))
}

/// The highest `$n` of a text, which is how many parameters `PREPARE` sees.
fn highest_parameter(text: &str) -> usize {
    brisk_sql::Lexer::new(text)
        .filter(|t| t.kind == brisk_sql::TokenKind::Parameter)
        .filter_map(|t| t.text[1..].parse::<usize>().ok())
        .max()
        .unwrap_or(0)
}
