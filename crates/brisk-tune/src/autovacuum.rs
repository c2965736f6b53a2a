//! The `autovacuum` rule: is autovacuum keeping up, and which settings let it.
//!
//! Per table (of the database brisk connected to): autovacuum vacuums a table once its dead
//! rows pass `autovacuum_vacuum_threshold + autovacuum_vacuum_scale_factor × reltuples`
//! (PostgreSQL docs, "The Autovacuum Daemon"). On a big table the default 20% lets hundreds
//! of thousands of dead rows pile up between vacuums, and a table's own settings can push
//! its trigger further or switch it off. Server-wide: all workers busy in the sample, or a
//! database whose unfrozen transaction IDs are older than `autovacuum_freeze_max_age`, say
//! the workers cannot keep up.
//!
//! `brisk check` already reports the results (`vacuum.dead_tuples` for a table with 30%
//! dead rows, with its VACUUM and the RESET of `autovacuum_enabled`; `vacuum.wraparound`
//! for a database at 1.25 × `autovacuum_freeze_max_age`): this rule proposes the settings
//! and refers to those findings rather than repeating them.

use brisk_report::{Evidence, Unit};

use crate::live::{Facts, TableVacuum};
use crate::rules::{count, Proposals};
use crate::value::Value;
use crate::{Confidence, Recommendation, Scope, Takes};

/// The dead rows a big table may collect before autovacuum runs: what PostgreSQL's default
/// 20% allows on a table of a million rows. Beyond that size the default scale factor lets
/// more pile up, so brisk lowers it for that table to keep about this many.
pub const DEAD_ROWS_TARGET: f64 = 200_000.0;

/// PostgreSQL's default `vacuum_cost_limit`: the I/O budget one autovacuum worker gets when
/// it runs alone. Autovacuum shares `autovacuum_vacuum_cost_limit` among the workers that
/// run at once, so N workers each get 1/N of it.
pub const DEFAULT_COST_LIMIT: u64 = 200;

/// What PostgreSQL's defaults say when a setting is missing.
fn global_f64(facts: &Facts, name: &str, default: f64) -> f64 {
    facts
        .setting(name)
        .and_then(|s| s.setting.parse().ok())
        .unwrap_or(default)
}

/// A scale factor with two significant digits, rounded down (0.0537 → 0.053): a number a
/// person can read that still keeps the trigger at or below the target.
pub fn readable_scale(x: f64) -> f64 {
    if !(x.is_finite() && x > 0.0) {
        return 0.0;
    }
    let decimals = (1 - x.log10().floor() as i32).max(0) as usize;
    let step = 10f64.powi(decimals as i32);
    let rounded = (x * step).floor() / step;
    // Through text, so the value prints as typed (0.053, not 0.053000000000000005).
    format!("{rounded:.decimals$}").parse().unwrap_or(rounded)
}

fn age(secs: Option<f64>) -> String {
    match secs {
        None => "never since statistics began".to_string(),
        Some(s) if s < 120.0 => format!("{s:.0} s ago"),
        Some(s) if s < 7200.0 => format!("{:.0} min ago", s / 60.0),
        Some(s) => format!("{:.1} h ago", s / 3600.0),
    }
}

fn table_evidence(table: &TableVacuum, trigger: f64) -> Vec<Evidence> {
    let mut evidence = vec![
        count("dead rows", table.dead_rows),
        Evidence::new("rows (reltuples)", table.reltuples.round(), Unit::Count),
        Evidence::new("autovacuum trigger now", trigger.round(), Unit::Count),
    ];
    if let Some(secs) = table.last_autovacuum_secs {
        evidence.push(Evidence::new(
            "since the last autovacuum",
            secs,
            Unit::Seconds,
        ));
    }
    if let Some(after) = table.dead_rows_after {
        evidence.push(Evidence::new(
            "dead rows added during the sample",
            after.saturating_sub(table.dead_rows) as f64,
            Unit::Count,
        ));
    }
    evidence
}

fn table_setting(
    table: &TableVacuum,
    setting: &str,
    current: Option<String>,
    proposed: String,
    why: String,
    evidence: Vec<Evidence>,
) -> Recommendation {
    Recommendation {
        setting: setting.to_string(),
        scope: Scope::Table(table.name.clone()),
        current: Some(current.clone().unwrap_or_else(|| "(server's)".to_string())),
        proposed,
        rule: "autovacuum",
        why,
        evidence,
        // Storage parameters take effect at autovacuum's next look at the table.
        takes: Takes::Reload,
        confidence: Confidence::High,
        rollback_to: current,
    }
}

/// Adds the rule's proposals and notes. `baseline_workers` is PGTune's
/// `autovacuum_max_workers` for this machine, when it sets one.
pub(crate) fn autovacuum(t: &mut Proposals, baseline_workers: Option<u64>) {
    let facts = t.facts;
    let on = facts
        .setting("autovacuum")
        .is_none_or(|s| s.setting == "on");
    let threshold = global_f64(facts, "autovacuum_vacuum_threshold", 50.0);
    let scale = global_f64(facts, "autovacuum_vacuum_scale_factor", 0.2);
    let mut behind = Vec::new();
    for table in &facts.tables {
        let n = table.reltuples;
        let dead = table.dead_rows as f64;
        let own_threshold = table.own_threshold.map(|v| v as f64);
        let trigger =
            own_threshold.unwrap_or(threshold) + table.own_scale_factor.unwrap_or(scale) * n;
        // Big: the server's default lets more than the target die between vacuums.
        let wanted_scale = if scale * n > DEAD_ROWS_TARGET {
            readable_scale(DEAD_ROWS_TARGET / n).min(scale)
        } else {
            scale
        };
        let wanted_trigger = threshold + wanted_scale * n;
        if dead < wanted_trigger {
            continue;
        }
        let evidence = table_evidence(table, trigger);
        if !table.autovacuum_enabled {
            // brisk check's vacuum.dead_tuples reports a table from 30% dead rows (its
            // dead_tuples_min_pct), with the VACUUM and the RESET: refer to it there.
            let share = dead * 100.0 / n.max(dead).max(1.0);
            let next = if share >= 30.0 {
                "brisk check reports it (vacuum.dead_tuples) with the VACUUM and the RESET (autovacuum_enabled)".to_string()
            } else {
                format!(
                    "ALTER TABLE {} RESET (autovacuum_enabled) lets autovacuum take it again (brisk check's vacuum.dead_tuples reports such a table from 30% dead rows)",
                    table.name
                )
            };
            t.notes.push(format!(
                "autovacuum is off for {} (autovacuum_enabled = false) with {} dead rows ({share:.0}%), past the {:.0} at which it would run: {next}",
                table.name, table.dead_rows, wanted_trigger
            ));
        }
        let mut proposed_any = false;
        if table.own_scale_factor.unwrap_or(scale) > wanted_scale {
            let why = if wanted_scale < scale {
                format!(
                    "{} dead rows in {} ({:.0} rows); at a scale factor of {} autovacuum waits for {:.0}. {} keeps it near {DEAD_ROWS_TARGET:.0} dead rows, what the default 20% allows on a million-row table",
                    table.dead_rows, table.name, n, table.own_scale_factor.unwrap_or(scale), trigger, wanted_scale
                )
            } else {
                format!(
                    "{} dead rows in {}: its own scale factor of {} holds autovacuum back until {:.0}; the server's {} would have vacuumed it at {:.0}",
                    table.dead_rows, table.name, table.own_scale_factor.unwrap_or(scale), trigger, scale, wanted_trigger
                )
            };
            t.recommendations.push(table_setting(
                table,
                "autovacuum_vacuum_scale_factor",
                table.own_scale_factor.map(|v| v.to_string()),
                wanted_scale.to_string(),
                why,
                evidence.clone(),
            ));
            proposed_any = true;
        }
        if let Some(own) = own_threshold.filter(|own| *own > threshold) {
            t.recommendations.push(table_setting(
                table,
                "autovacuum_vacuum_threshold",
                Some(format!("{own:.0}")),
                format!("{threshold:.0}"),
                format!(
                    "{} dead rows in {}: its own threshold of {own:.0} holds autovacuum back until {trigger:.0}, the server's {threshold:.0} would have vacuumed it at {wanted_trigger:.0}",
                    table.dead_rows, table.name
                ),
                evidence.clone(),
            ));
            proposed_any = true;
        }
        if !proposed_any && table.autovacuum_enabled && on {
            t.notes.push(format!(
                "{} has {} dead rows, past its autovacuum trigger of {trigger:.0}; its last autovacuum was {}: autovacuum has not reached it yet",
                table.name,
                table.dead_rows,
                age(table.last_autovacuum_secs)
            ));
        }
        behind.push(table);
    }
    if !facts.tables.is_empty() {
        t.notes.push(format!(
            "autovacuum: the tables judged are those of database {} only (the {} with the most dead rows); run brisk tune on each database for its tables",
            facts.database,
            facts.tables.len()
        ));
    }
    if !on && !behind.is_empty() {
        t.propose(
            "autovacuum",
            &Value::Text("on"),
            "autovacuum",
            format!(
                "autovacuum is off server-wide and {} past the dead rows at which it would vacuum them; only anti-wraparound vacuums run",
                if behind.len() == 1 { "1 table is".to_string() } else { format!("{} tables are", behind.len()) }
            ),
            vec![count("tables past their trigger", behind.len() as u64)],
            Confidence::High,
        );
    }
    workers(t, baseline_workers);
}

/// More workers when all were busy, and a cost limit that gives each the budget one worker
/// has alone, when the workers are busy or unfrozen IDs are past the freeze age.
fn workers(t: &mut Proposals, baseline_workers: Option<u64>) {
    let facts = t.facts;
    let max_workers = facts.setting_u64("autovacuum_max_workers").unwrap_or(3);
    let busy = facts.activity.peak_autovacuum_workers;
    let all_busy = max_workers > 0 && busy >= max_workers;
    let freeze_max_age = facts
        .setting_u64("autovacuum_freeze_max_age")
        .unwrap_or(200_000_000);
    let old_xids = facts
        .oldest_xid_age
        .as_ref()
        .filter(|(_, age)| *age >= freeze_max_age);
    if !all_busy && old_xids.is_none() {
        return;
    }
    let mut evidence = vec![
        count("autovacuum workers busy (peak of the sample)", busy),
        count("autovacuum_max_workers now", max_workers),
    ];
    let mut reasons = Vec::new();
    if all_busy {
        reasons.push(format!(
            "all {max_workers} autovacuum workers were busy during the {:.1} s sample, so tables past their trigger wait",
            facts.activity.seconds
        ));
    }
    if let Some((database, age)) = old_xids {
        evidence.push(count("oldest unfrozen transaction ID age", *age));
        evidence.push(count("autovacuum_freeze_max_age", freeze_max_age));
        reasons.push(format!(
            "database {database} has transaction IDs {age} old, past autovacuum_freeze_max_age ({freeze_max_age}), so its anti-wraparound vacuums are not done (brisk check reports it as vacuum.wraparound from 1.25 times that age)"
        ));
    }
    let workers = if all_busy {
        (max_workers + 1).max(baseline_workers.unwrap_or(0))
    } else {
        max_workers
    };
    if workers > max_workers {
        t.withdraw("autovacuum_max_workers");
        t.propose(
            "autovacuum_max_workers",
            &Value::Int(workers),
            "autovacuum",
            format!(
                "{}: one more worker than the sample saw busy (or PGTune's for the CPUs, if more)",
                reasons.join("; ")
            ),
            evidence.clone(),
            Confidence::High,
        );
    }
    let own_limit = facts
        .setting("autovacuum_vacuum_cost_limit")
        .and_then(|s| s.setting.parse::<i64>().ok())
        .unwrap_or(-1);
    let limit = u64::try_from(own_limit).ok().unwrap_or_else(|| {
        facts
            .setting_u64("vacuum_cost_limit")
            .unwrap_or(DEFAULT_COST_LIMIT)
    });
    let delay_ms = global_f64(facts, "autovacuum_vacuum_cost_delay", 2.0);
    let dirty_cost = global_f64(facts, "vacuum_cost_page_dirty", 20.0);
    let block = global_f64(facts, "block_size", 8192.0);
    // The budget is spent, then autovacuum sleeps for the delay: pages dirtied per second by
    // all workers together = limit / page_dirty cost per delay.
    let dirty_rate = |limit: u64| -> f64 {
        if delay_ms > 0.0 && dirty_cost > 0.0 {
            limit as f64 / dirty_cost * (1000.0 / delay_ms) * block
        } else {
            f64::INFINITY
        }
    };
    let wanted = DEFAULT_COST_LIMIT * workers;
    if wanted > limit && delay_ms > 0.0 {
        let mut evidence = evidence;
        evidence.push(count(
            "cost limit now (shared by the running workers)",
            limit,
        ));
        evidence.push(Evidence::new(
            "autovacuum_vacuum_cost_delay",
            delay_ms,
            Unit::Milliseconds,
        ));
        t.propose(
            "autovacuum_vacuum_cost_limit",
            &Value::Int(wanted),
            "autovacuum",
            format!(
                "{}. The cost limit ({limit}) is shared by the running workers: {workers} workers at {wanted} each get the {DEFAULT_COST_LIMIT} one worker has alone, and together may dirty {}/s instead of {}/s (limit / vacuum_cost_page_dirty {dirty_cost} per {delay_ms} ms sleep)",
                reasons.join("; "),
                brisk_report::format_bytes(dirty_rate(wanted)),
                brisk_report::format_bytes(dirty_rate(limit)),
            ),
            evidence,
            Confidence::High,
        );
    } else {
        t.notes.push(format!(
            "{}, and the cost limit ({limit}) already gives each of {workers} workers {DEFAULT_COST_LIMIT} or more: the disk, or long transactions holding back the cleanup, are the next suspects",
            reasons.join("; ")
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_factors_read_as_people_write_them() {
        assert_eq!(readable_scale(DEAD_ROWS_TARGET / 1_000_000.0), 0.2);
        assert_eq!(readable_scale(DEAD_ROWS_TARGET / 3_700_000.0), 0.054);
        assert_eq!(readable_scale(DEAD_ROWS_TARGET / 10_000_000.0), 0.02);
        assert_eq!(readable_scale(DEAD_ROWS_TARGET / 123_456_789.0), 0.0016);
        assert_eq!(readable_scale(0.0), 0.0);
        // Rounded down: the trigger never ends above the target.
        for rows in [1_100_000.0, 2_345_678.0, 9_999_999.0, 4.2e8] {
            assert!(readable_scale(DEAD_ROWS_TARGET / rows) * rows <= DEAD_ROWS_TARGET);
        }
    }
}
