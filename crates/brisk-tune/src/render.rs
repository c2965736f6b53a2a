//! The tuning as text for people, JSON for programs, a postgresql.conf snippet, and
//! `ALTER SYSTEM` / `ALTER ROLE` statements with their rollback. Writing text is all this
//! does: applying it is the user's decision.

use std::fmt::Write;

use brisk_report::format_value;

use crate::{Recommendation, Scope, Takes, Tuning};

fn takes(t: Takes) -> &'static str {
    match t {
        Takes::Restart => "restart",
        Takes::Reload => "reload",
    }
}

fn confidence(r: &Recommendation) -> &'static str {
    match r.confidence {
        crate::Confidence::Low => "low",
        crate::Confidence::Medium => "medium",
        crate::Confidence::High => "high",
    }
}

fn subject(r: &Recommendation) -> String {
    match &r.scope {
        Scope::Server | Scope::Redis => r.setting.clone(),
        Scope::Role(role) => format!("{} for role {role}", r.setting),
        Scope::Table(table) => format!("{} for table {table}", r.setting),
        Scope::Proxy => format!("{} of brisk proxy", r.setting),
    }
}

/// An enum as its serde name: `web`, `ssd`, `up-to-3x-ram`.
fn word(value: &impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// For people: a header, then one block per setting.
pub fn text(tuning: &Tuning) -> String {
    let mut out = String::new();
    match &tuning.target {
        Some(target) => {
            let _ = writeln!(
                out,
                "brisk tune: {target} ({})",
                tuning.version.as_deref().unwrap_or("?")
            );
        }
        None => {
            let _ = writeln!(
                out,
                "brisk tune: offline, PGTune's formulas for PostgreSQL {}",
                tuning.version.as_deref().unwrap_or("?")
            );
        }
    }
    let m = &tuning.machine;
    let cpus = if m.cpus > 0 {
        format!("{} CPUs", m.cpus)
    } else {
        "CPUs not given".to_string()
    };
    let _ = writeln!(
        out,
        "machine: {} RAM, {cpus} (from {})",
        brisk_report::format_bytes(m.ram_bytes as f64),
        m.source
    );
    match &tuning.profile {
        Some(profile) => {
            let _ = writeln!(
                out,
                "profile: {} workload, {} disk, data {}\n",
                word(&profile.workload),
                word(&profile.disk),
                word(&profile.data_size)
            );
        }
        None => out.push('\n'),
    }
    if tuning.recommendations.is_empty() {
        out.push_str("Nothing to change.\n");
    }
    for r in &tuning.recommendations {
        let change = match &r.current {
            Some(current) => format!("{current} -> {}", r.proposed),
            None => r.proposed.clone(),
        };
        let _ = writeln!(
            out,
            "{}: {change}  [{}, confidence {}, rule {}]",
            subject(r),
            takes(r.takes),
            confidence(r),
            r.rule
        );
        let _ = writeln!(out, "    why: {}", r.why);
        if !r.evidence.is_empty() {
            let shown: Vec<String> = r
                .evidence
                .iter()
                .map(|e| format!("{} {}", e.name, format_value(e.value, e.unit)))
                .collect();
            let _ = writeln!(out, "    evidence: {}", shown.join("; "));
        }
    }
    if let Some(m) = &tuning.memory {
        let kb = |b: u64| brisk_report::format_bytes(b as f64);
        let _ = writeln!(
            out,
            "\nworst-case memory: {} of {} RAM = shared_buffers {} + {} sessions x work_mem {} x {} + {} autovacuum workers x {}{}",
            kb(m.worst_case_bytes),
            kb(m.ram_bytes),
            kb(m.shared_buffers_bytes),
            m.sessions,
            kb(m.work_mem_bytes),
            m.work_mem_factor,
            m.autovacuum_workers,
            kb(m.autovacuum_mem_bytes),
            if m.role_extra_bytes > 0 {
                format!(" + {} for roles with their own work_mem", kb(m.role_extra_bytes))
            } else {
                String::new()
            }
        );
        let _ = writeln!(out, "sessions: {}", m.sessions_from);
    }
    for note in &tuning.notes {
        let _ = writeln!(out, "note: {note}");
    }
    out.push_str("\nbrisk changed nothing. --format conf or --format alter-system writes these as settings.\n");
    out
}

/// For programs: the whole tuning.
pub fn json(tuning: &Tuning) -> String {
    let mut text = serde_json::to_string_pretty(tuning)
        .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()));
    text.push('\n');
    text
}

fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A postgresql.conf snippet. Role settings cannot live there; they are comments with the
/// statement to run.
pub fn conf(tuning: &Tuning) -> String {
    let mut out = String::from("# Written by brisk tune");
    if let Some(target) = &tuning.target {
        let _ = write!(out, " for {target}");
    }
    out.push_str(". Settings marked (restart) need a restart, the others a reload.\n");
    for r in &tuning.recommendations {
        let _ = writeln!(out, "\n# {} ({})", r.why.replace('\n', " "), takes(r.takes));
        match &r.scope {
            Scope::Server => {
                let _ = writeln!(out, "{} = {}", r.setting, quote_literal(&r.proposed));
            }
            Scope::Redis => {
                let _ = writeln!(out, "{} {}", r.setting, r.proposed);
            }
            Scope::Role(role) => {
                let _ = writeln!(
                    out,
                    "# for role {role} only, not here: ALTER ROLE {} SET {} = {};",
                    quote_ident(role),
                    r.setting,
                    quote_literal(&r.proposed)
                );
            }
            Scope::Table(table) => {
                let _ = writeln!(
                    out,
                    "# for table {table} only, not here: ALTER TABLE {table} SET ({} = {});",
                    r.setting, r.proposed
                );
            }
            Scope::Proxy => {
                let _ = writeln!(
                    out,
                    "# in brisk proxy's config (brisk.toml), not here: {} = {}",
                    r.setting, r.proposed
                );
            }
        }
    }
    out
}

/// `ALTER SYSTEM` and `ALTER ROLE` statements, then a reload.
pub fn alter_system(tuning: &Tuning) -> String {
    if is_redis(tuning) {
        // redis-cli reads commands one a line and knows no comments.
        let mut out: String = tuning
            .recommendations
            .iter()
            .map(|r| format!("CONFIG SET {} {}\n", r.setting, r.proposed))
            .collect();
        out.push_str("CONFIG REWRITE\n");
        return out;
    }
    let mut out = String::from("-- Written by brisk tune; brisk applies nothing. Review, then run with psql as a superuser.\n");
    for r in &tuning.recommendations {
        let _ = writeln!(
            out,
            "-- {}: {} ({})",
            subject(r),
            r.why.replace('\n', " "),
            takes(r.takes)
        );
        match &r.scope {
            Scope::Server => {
                let _ = writeln!(
                    out,
                    "ALTER SYSTEM SET {} = {};",
                    r.setting,
                    quote_literal(&r.proposed)
                );
            }
            Scope::Role(role) => {
                let _ = writeln!(
                    out,
                    "ALTER ROLE {} SET {} = {};",
                    quote_ident(role),
                    r.setting,
                    quote_literal(&r.proposed)
                );
            }
            Scope::Table(table) => {
                let _ = writeln!(
                    out,
                    "ALTER TABLE {table} SET ({} = {});",
                    r.setting, r.proposed
                );
            }
            Scope::Proxy => {
                let _ = writeln!(
                    out,
                    "-- brisk proxy: set {} = {} in its config file, then RELOAD on its admin console",
                    r.setting, r.proposed
                );
            }
            Scope::Redis => {
                let _ = writeln!(out, "CONFIG SET {} {}", r.setting, r.proposed);
            }
        }
    }
    out.push_str("SELECT pg_reload_conf();\n");
    let restart: Vec<&str> = tuning
        .recommendations
        .iter()
        .filter(|r| r.takes == Takes::Restart)
        .map(|r| r.setting.as_str())
        .collect();
    if !restart.is_empty() {
        let _ = writeln!(out, "-- Restart PostgreSQL for: {}", restart.join(", "));
    }
    out
}

/// The statements that undo [`alter_system`]: back to the value in postgresql.auto.conf or
/// the role's own, else RESET to what postgresql.conf says.
pub fn rollback(tuning: &Tuning) -> String {
    let mut out = if is_redis(tuning) {
        String::new()
    } else {
        String::from("-- Rollback of brisk tune's ALTER SYSTEM / ALTER ROLE statements.\n")
    };
    for r in tuning.recommendations.iter().rev() {
        let statement = match (&r.scope, &r.rollback_to) {
            (Scope::Server, Some(value)) => {
                format!("ALTER SYSTEM SET {} = {};", r.setting, quote_literal(value))
            }
            (Scope::Server, None) => format!("ALTER SYSTEM RESET {};", r.setting),
            (Scope::Role(role), Some(value)) => format!(
                "ALTER ROLE {} SET {} = {};",
                quote_ident(role),
                r.setting,
                quote_literal(value)
            ),
            (Scope::Role(role), None) => {
                format!("ALTER ROLE {} RESET {};", quote_ident(role), r.setting)
            }
            (Scope::Table(table), Some(value)) => {
                format!("ALTER TABLE {table} SET ({} = {value});", r.setting)
            }
            (Scope::Table(table), None) => format!("ALTER TABLE {table} RESET ({});", r.setting),
            (Scope::Proxy, _) => format!(
                "-- brisk proxy: {} = {} in its config file, then RELOAD",
                r.setting,
                r.current.as_deref().unwrap_or("?")
            ),
            (Scope::Redis, value) => format!(
                "CONFIG SET {} {}",
                r.setting,
                value.as_deref().or(r.current.as_deref()).unwrap_or("\"\"")
            ),
        };
        let _ = writeln!(out, "{statement}");
    }
    out.push_str(if is_redis(tuning) {
        "CONFIG REWRITE\n"
    } else {
        "SELECT pg_reload_conf();\n"
    });
    out
}

fn is_redis(tuning: &Tuning) -> bool {
    tuning
        .recommendations
        .iter()
        .any(|r| r.scope == Scope::Redis)
}
