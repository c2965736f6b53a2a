//! One list of findings out of what check, advise, tune, redis and the proxy said: findings
//! that name the same change are folded into one, and every finding is ranked by the time
//! it saves.

use brisk_report::{Evidence, Finding, Fix, Severity};
use brisk_tune::{Confidence, Scope};
use serde::Serialize;

use crate::brisk_patterns_view::Detection;
use crate::Diagnosis;

/// Whether a figure comes from a real run or from statistics and planner costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    Measured,
    Estimated,
}

impl Basis {
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Measured => "measured",
            Basis::Estimated => "estimated",
        }
    }
}

/// The statement time a finding's fix saves over the workload (its calls as captured).
#[derive(Debug, Clone, Serialize)]
pub struct Saving {
    pub ms: f64,
    pub basis: Basis,
    /// How the figure was obtained, in a sentence.
    pub how: String,
}

/// A fix the doctor may apply on a database named as safe.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Applicable {
    /// A recommended index: `CREATE INDEX CONCURRENTLY`, and the extension it needs.
    Index {
        create: String,
        drop: String,
        extension: Option<String>,
    },
    /// `ALTER ROLE role SET work_mem`, undone by setting the value before (or RESET).
    RoleSetting {
        role: String,
        setting: String,
        value: String,
        before: Option<String>,
    },
}

impl Applicable {
    /// The statements that apply it and those that undo it, each to run on its own (a
    /// `CREATE INDEX CONCURRENTLY` cannot share a transaction block with anything).
    pub fn statements(&self) -> (Vec<String>, Vec<String>) {
        match self {
            Applicable::Index {
                create,
                drop,
                extension,
            } => {
                let mut up = Vec::new();
                if let Some(extension) = extension {
                    up.push(format!("CREATE EXTENSION IF NOT EXISTS {extension};"));
                }
                up.push(create.clone());
                (up, vec![drop.clone()])
            }
            Applicable::RoleSetting {
                role,
                setting,
                value,
                before,
            } => {
                let role = brisk_sql::quote_ident(role);
                let up = format!(
                    "ALTER ROLE {role} SET {setting} = {};",
                    brisk_sql::quote_literal(value)
                );
                let down = match before {
                    Some(v) => format!(
                        "ALTER ROLE {role} SET {setting} = {};",
                        brisk_sql::quote_literal(v)
                    ),
                    None => format!("ALTER ROLE {role} RESET {setting};"),
                };
                (vec![up], vec![down])
            }
        }
    }

    /// The SQL that applies it and the SQL that undoes it, as script text.
    pub fn sql(&self) -> (String, String) {
        let (up, down) = self.statements();
        (up.join("\n"), down.join("\n"))
    }
}

/// One finding of the doctor's report.
#[derive(Debug, Clone, Serialize)]
pub struct DoctorFinding {
    /// The check id of the tool that reported it (`advise.index`, `fk.unindexed`, ...).
    pub check: String,
    /// `check`, `advise`, `tune`, `redis`, `proxy`: every tool that reported it.
    pub sources: Vec<String>,
    pub severity: Severity,
    pub subject: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    pub evidence: Vec<Evidence>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<Fix>,
    /// Check ids of the findings folded into this one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saving: Option<Saving>,
    /// How the doctor can apply the fix on a safe database, when it can.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applicable: Option<Applicable>,
    /// Fingerprints of the statements the fix speeds up.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub helps: Vec<String>,
}

impl DoctorFinding {
    fn from_finding(finding: Finding, source: &str) -> DoctorFinding {
        DoctorFinding {
            check: finding.check,
            sources: vec![source.to_string()],
            severity: finding.severity,
            subject: finding.subject,
            title: finding.title,
            detail: finding.detail,
            query: finding.query,
            evidence: finding.evidence,
            fix: finding.fix,
            also: Vec::new(),
            saving: None,
            applicable: None,
            helps: Vec::new(),
        }
    }

    fn absorb(&mut self, other: DoctorFinding) {
        for source in other.sources {
            if !self.sources.contains(&source) {
                self.sources.push(source);
            }
        }
        if !self.also.contains(&other.check) && other.check != self.check {
            self.also.push(other.check);
        }
        self.severity = self.severity.max(other.severity);
    }
}

fn fingerprint(query: &str) -> Option<String> {
    brisk_sql::fingerprint(query).ok().map(|f| f.to_string())
}

/// The findings of every tool, de-duplicated (not yet ranked: [`rank`] after measuring).
pub fn merge(diagnosis: &Diagnosis, detections: &[Detection]) -> Vec<DoctorFinding> {
    let advice = &diagnosis.advice;
    let mut out: Vec<DoctorFinding> = Vec::new();

    // advise: the recommendation findings come in the order of the recommendations (the
    // report's sort is stable within a check id).
    let report = advice.report();
    let mut recommendations = advice.recommendations.iter();
    for finding in report.findings {
        match finding.check.as_str() {
            // The summary of the whole workload, not a problem of its own.
            "advise.workload" => continue,
            "advise.index" => {
                let Some(r) = recommendations.next() else {
                    continue;
                };
                let mut f = DoctorFinding::from_finding(finding, "advise");
                f.subject = r.describe.clone();
                f.helps = r
                    .helps
                    .iter()
                    .filter_map(|&i| advice.queries.get(i))
                    .map(|q| q.fingerprint.clone())
                    .collect();
                f.applicable = Some(Applicable::Index {
                    create: r.create_sql.clone(),
                    drop: r.drop_sql.clone(),
                    extension: r.extension.map(str::to_string),
                });
                if r.gain_ms > 0.0 {
                    f.saving = Some(Saving {
                        ms: r.gain_ms,
                        basis: Basis::Estimated,
                        how: "planner costs with and without the index (HypoPG), in milliseconds over the workload".to_string(),
                    });
                }
                out.push(f);
            }
            _ => out.push(DoctorFinding::from_finding(finding, "advise")),
        }
    }

    // The proxy's N+1 detections: the same pattern advise read from a capture is one finding.
    for d in detections {
        let mut f = DoctorFinding::from_finding(
            Finding::new(
                "proxy.n_plus_one",
                Severity::Warning,
                d.source.clone().unwrap_or_else(|| "workload".to_string()),
                format!(
                    "N+1: one statement per row, {} runs, {} statements, {:.1} ms in all",
                    d.occurrences, d.executions, d.total_ms
                ),
            )
            .detail(format!(
                "brisk proxy saw the application run this statement once per row of the statement before it (up to {} times in a row). {}",
                d.max_run, d.suggestion
            ))
            .query(d.repeated.clone()),
            "proxy",
        );
        f.evidence = vec![
            Evidence::new("runs", d.occurrences as f64, brisk_report::Unit::Count),
            Evidence::new("statements", d.executions as f64, brisk_report::Unit::Count),
            Evidence::new("time", d.total_ms, brisk_report::Unit::Milliseconds),
        ];
        f.helps = fingerprint(&d.repeated).into_iter().collect();
        // One statement per run instead of one per row: what stays is about one execution's
        // time per run.
        if d.executions > 0 {
            let kept = d.total_ms * d.occurrences as f64 / d.executions as f64;
            f.saving = Some(Saving {
                ms: (d.total_ms - kept).max(0.0),
                basis: Basis::Estimated,
                how: "the run's measured time less one statement per run, as the batched rewrite would leave".to_string(),
            });
        }
        f.fix = Some(Fix::manual(d.suggestion.clone()));
        let same = out.iter().position(|o| {
            o.check == "advise.n_plus_one"
                && o.query.as_deref().and_then(fingerprint) == f.helps.first().cloned()
        });
        if let Some(i) = same {
            let advise = out.remove(i);
            f.absorb(advise);
        }
        out.push(f);
    }
    // Without the proxy's detections, advise's N+1 (from a capture) gets the same estimate.
    for f in out.iter_mut().filter(|f| f.check == "advise.n_plus_one") {
        let executions = f
            .evidence
            .iter()
            .find(|e| e.name == "statements")
            .map(|e| e.value);
        let runs = f
            .evidence
            .iter()
            .find(|e| e.name == "runs")
            .map(|e| e.value);
        let total = f
            .evidence
            .iter()
            .find(|e| e.unit == brisk_report::Unit::Milliseconds)
            .map(|e| e.value);
        if let (Some(executions), Some(runs), Some(total)) = (executions, runs, total) {
            if executions > 0.0 {
                f.saving = Some(Saving {
                    ms: (total - total * runs / executions).max(0.0),
                    basis: Basis::Estimated,
                    how: "the run's time less one statement per run, as the batched rewrite would leave".to_string(),
                });
            }
        }
        if let Some(q) = &f.query {
            f.helps = fingerprint(q).into_iter().collect();
        }
    }

    // tune: the proposals the server's own statistics support; PGTune's formulas alone are
    // a note (brisk tune lists them).
    if let Some(tuning) = &diagnosis.tuning {
        let mut formulas = 0;
        for r in &tuning.recommendations {
            if r.confidence < Confidence::High {
                formulas += 1;
                continue;
            }
            let scope = match &r.scope {
                Scope::Role(role) => format!("role {role}"),
                Scope::Server => "server".to_string(),
                Scope::Redis => "redis".to_string(),
                Scope::Table(table) => format!("table {table}"),
                Scope::Proxy => "brisk proxy".to_string(),
            };
            let mut f = DoctorFinding::from_finding(
                Finding::new(
                    format!("tune.{}", r.rule),
                    Severity::Warning,
                    format!("{} ({scope})", r.setting),
                    format!(
                        "{} = {} (now {})",
                        r.setting,
                        r.proposed,
                        r.current.as_deref().unwrap_or("?")
                    ),
                )
                .detail(r.why.clone()),
                "tune",
            );
            f.evidence = r.evidence.clone();
            if let Scope::Role(role) = &r.scope {
                let before = diagnosis.role_setting(role, &r.setting);
                let applicable = Applicable::RoleSetting {
                    role: role.clone(),
                    setting: r.setting.clone(),
                    value: r.proposed.clone(),
                    before,
                };
                let (up, down) = applicable.sql();
                f.fix = Some(Fix::sql(up).rollback(down));
                f.applicable = Some(applicable);
                if let Some(spill) = diagnosis.spills.iter().find(|s| &s.role == role) {
                    f.helps = fingerprint(&spill.worst_query).into_iter().collect();
                    f.query = Some(spill.worst_query.clone());
                }
            } else {
                f.fix = Some(Fix::config(format!(
                    "ALTER SYSTEM SET {} = '{}';",
                    r.setting, r.proposed
                )));
            }
            out.push(f);
        }
        if formulas > 0 {
            // Kept out of the findings: they are formulas, not evidence of a problem.
        }
    }

    if let Some(redis) = &diagnosis.redis {
        for finding in redis.findings.iter().cloned() {
            // The per-pattern inventory is context, not a problem.
            if finding.check == "redis.keyspace" {
                continue;
            }
            out.push(DoctorFinding::from_finding(finding, "redis"));
        }
    }

    // check and logs, folded into what the others already say about the same thing.
    let logs = diagnosis
        .logs
        .iter()
        .flat_map(|r| r.findings.iter().cloned());
    let check = diagnosis.check.findings.iter().cloned();
    let sourced = check.map(|f| (f, "check")).chain(logs.map(|f| (f, "logs")));
    for (finding, source) in sourced {
        let f = DoctorFinding::from_finding(finding, source);
        if let Some(target) = out.iter_mut().find(|o| same_change(o, &f)) {
            if f.check == "vacuum.dead_tuples" {
                // Tune counts the table; check names it and has its VACUUM: keep both.
                let fix = f
                    .fix
                    .as_ref()
                    .map(|x| format!(" Fix: {}", x.apply.replace('\n', " ")));
                let also = format!(
                    "brisk check ({}): {} ({}).{}",
                    f.check,
                    f.title,
                    f.subject,
                    fix.unwrap_or_default()
                );
                target.detail = Some(match target.detail.take() {
                    Some(detail) => format!("{detail}. {also}"),
                    None => also,
                });
            }
            target.absorb(f);
        } else {
            out.push(f);
        }
    }
    out
}

/// Whether `check_finding` (of check or logs) names what `other` already says: a foreign
/// key's missing index that a recommended index leads with, a slow statement a fix speeds
/// up, an N+1 the proxy or the capture already showed, or a table's dead rows that tune's
/// autovacuum finding counts.
fn same_change(other: &DoctorFinding, check_finding: &DoctorFinding) -> bool {
    match check_finding.check.as_str() {
        "fk.unindexed" => {
            other.check == "advise.index" && fk_covered(&check_finding.subject, &other.subject)
        }
        "logs.n_plus_one" => {
            let Some(fp) = check_finding.query.as_deref().and_then(fingerprint) else {
                return false;
            };
            other.check.ends_with("n_plus_one") && other.helps.contains(&fp)
        }
        // A table past its vacuum trigger is what tune's server-wide autovacuum counts.
        "vacuum.dead_tuples" => other.check == "tune.autovacuum",
        "queries.top" | "logs.slow_statement" => {
            let Some(fp) = check_finding.query.as_deref().and_then(fingerprint) else {
                return false;
            };
            other.helps.contains(&fp) && other.applicable.is_some()
        }
        _ => false,
    }
}

/// `public.conversations (user_id)` (check) against `public.conversations (user_id, ...)`
/// (advise): the same table, and the index leads with the key's columns.
fn fk_covered(fk_subject: &str, index_describe: &str) -> bool {
    let split = |s: &str| -> Option<(String, Vec<String>)> {
        let (table, rest) = s.split_once(" (")?;
        let table = table.trim().trim_start_matches("public.").replace('"', "");
        let columns = rest
            .trim_end_matches(')')
            .split(',')
            .map(|c| c.trim().replace('"', ""))
            .collect();
        Some((table, columns))
    };
    let (Some((fk_table, fk_cols)), Some((ix_table, ix_cols))) =
        (split(fk_subject), split(index_describe))
    else {
        return false;
    };
    fk_table == ix_table
        && ix_cols.len() >= fk_cols.len()
        && ix_cols[..fk_cols.len()] == fk_cols[..]
}

/// Largest saving first (measured and estimated alike, each labeled); findings without a
/// figure after them, most severe first.
pub fn rank(findings: &mut [DoctorFinding]) {
    findings.sort_by(|a, b| {
        let ms = |f: &DoctorFinding| f.saving.as_ref().map(|s| s.ms);
        match (ms(a), ms(b)) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => b
                .severity
                .cmp(&a.severity)
                .then_with(|| a.check.cmp(&b.check)),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_foreign_key_is_covered_by_an_index_that_leads_with_its_columns() {
        assert!(fk_covered(
            "public.conversations (user_id)",
            "public.conversations (user_id)"
        ));
        assert!(fk_covered(
            "public.conversations (user_id)",
            "conversations (user_id, updated_at)"
        ));
        assert!(!fk_covered(
            "public.conversations (user_id)",
            "public.conversations (updated_at, user_id)"
        ));
        assert!(!fk_covered(
            "public.files (user_id)",
            "public.conversations (user_id)"
        ));
    }

    #[test]
    fn ranking_puts_the_largest_saving_first_and_unquantified_findings_last() {
        let finding = |check: &str, severity, ms: Option<f64>| {
            let mut f =
                DoctorFinding::from_finding(Finding::new(check, severity, "s", "t"), "check");
            f.saving = ms.map(|ms| Saving {
                ms,
                basis: Basis::Estimated,
                how: String::new(),
            });
            f
        };
        let mut all = vec![
            finding("a", Severity::Critical, None),
            finding("b", Severity::Info, Some(5.0)),
            finding("c", Severity::Warning, Some(50.0)),
            finding("d", Severity::Warning, None),
        ];
        rank(&mut all);
        let order: Vec<&str> = all.iter().map(|f| f.check.as_str()).collect();
        assert_eq!(order, ["c", "b", "a", "d"]);
    }
}
