//! The server's logging settings: whether they log what the report needs, what to change
//! (as `ALTER SYSTEM` lines, with why), and where the log files are.
//!
//! Pure over the values the caller read from `pg_settings` (and `pg_current_logfile()`), so
//! it opens no connection; [`locate`] only looks at the file system.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// The settings read from `pg_settings`, by name; `setting` is in the setting's base unit
/// (milliseconds for the durations, kB for `log_temp_files`).
pub const SETTINGS: [&str; 12] = [
    "log_line_prefix",
    "log_destination",
    "logging_collector",
    "log_directory",
    "log_filename",
    "lc_messages",
    "log_min_duration_statement",
    "log_lock_waits",
    "log_temp_files",
    "log_checkpoints",
    "log_autovacuum_min_duration",
    "data_directory",
];

/// The prefix brisk suggests when the server's lacks a time or a pid: Debian's default with
/// the application and the session id and line, which brisk detects without `--prefix` and
/// which lets it follow statements per session (N+1 detection).
pub const SUGGESTED_PREFIX: &str = "%m [%p] %c %l %q%u@%d/%a ";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Logs what brisk needs.
    Ok,
    /// A report is missing or partial until it changes.
    Change,
    /// Readable, but a change would give more.
    Better,
}

/// One setting judged.
#[derive(Debug, Clone, Serialize)]
pub struct Advice {
    pub setting: &'static str,
    pub current: String,
    pub verdict: Verdict,
    /// What it is for, and why the change.
    pub why: String,
    /// `ALTER SYSTEM SET ...;` when a change is advised.
    pub alter: Option<String>,
    /// The change takes a restart, not a reload.
    pub restart: bool,
}

fn value<'a>(settings: &'a BTreeMap<String, String>, name: &str) -> &'a str {
    settings.get(name).map_or("", String::as_str)
}

fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Whether `lc_messages` gives English messages, which brisk reads by their text. Empty
/// means the server's environment decides, which is not known from here.
pub fn english(lc_messages: &str) -> Option<bool> {
    let lc = lc_messages.trim();
    if lc.is_empty() {
        return None;
    }
    Some(lc == "C" || lc == "POSIX" || lc.starts_with("C.") || lc.starts_with("en_") || lc == "en")
}

/// Judges each setting. `settings` holds [`SETTINGS`]' values as `pg_settings.setting`
/// gives them; missing ones are judged as unknown (empty).
pub fn advise(settings: &BTreeMap<String, String>) -> Vec<Advice> {
    let mut out = Vec::new();
    let destination = value(settings, "log_destination");
    let syslog = destination.split(',').any(|d| d.trim() == "syslog");
    let files = destination
        .split(',')
        .any(|d| matches!(d.trim(), "stderr" | "csvlog" | "jsonlog" | "syslog"));
    let structured = destination
        .split(',')
        .any(|d| matches!(d.trim(), "csvlog" | "jsonlog"));
    out.push(Advice {
        setting: "log_destination",
        current: destination.to_string(),
        verdict: if files { Verdict::Ok } else { Verdict::Change },
        why: if files {
            "brisk reads stderr, csvlog, jsonlog and syslog logs".into()
        } else {
            "brisk reads stderr, csvlog, jsonlog and syslog logs, not the Windows event log".into()
        },
        alter: (!files).then(|| "ALTER SYSTEM SET log_destination = 'stderr';".into()),
        restart: false,
    });
    let collector = value(settings, "logging_collector") == "on";
    out.push(Advice {
        setting: "logging_collector",
        current: value(settings, "logging_collector").to_string(),
        verdict: if structured && !collector {
            Verdict::Change
        } else {
            Verdict::Ok
        },
        why: if structured && !collector {
            "csvlog and jsonlog are written only by the logging collector".into()
        } else if collector {
            "the server writes its own log files, in log_directory".into()
        } else {
            "the server's stderr goes where its start script sends it (Debian: /var/log/postgresql/)".into()
        },
        alter: (structured && !collector)
            .then(|| "ALTER SYSTEM SET logging_collector = on;".into()),
        restart: true,
    });

    let prefix = value(settings, "log_line_prefix");
    let has = |escapes: &[&str]| escapes.iter().any(|e| prefix.contains(e));
    let timed = syslog || structured || has(&["%m", "%t", "%n"]);
    let pid = syslog || structured || has(&["%p"]);
    let named = structured || has(&["%u"]) && has(&["%d"]);
    let (verdict, why) = if !(timed && pid) {
        (
            Verdict::Change,
            "without a time (%m) and a pid (%p) in the prefix there is no time series and no per-session order (N+1)",
        )
    } else if !named || !(structured || has(&["%a"])) {
        (
            Verdict::Better,
            "with %u, %d and %a the statements are split by user, database and application",
        )
    } else {
        (
            Verdict::Ok,
            "times, pids, users, databases and applications are logged",
        )
    };
    out.push(Advice {
        setting: "log_line_prefix",
        current: prefix.to_string(),
        verdict,
        why: why.into(),
        alter: (verdict != Verdict::Ok).then(|| {
            format!(
                "ALTER SYSTEM SET log_line_prefix = {};",
                quote(SUGGESTED_PREFIX)
            )
        }),
        restart: false,
    });

    let english = english(value(settings, "lc_messages"));
    out.push(Advice {
        setting: "lc_messages",
        current: value(settings, "lc_messages").to_string(),
        verdict: if english == Some(true) {
            Verdict::Ok
        } else {
            Verdict::Change
        },
        why: match english {
            Some(true) => "English messages, which brisk reads".into(),
            Some(false) => "WARNING: messages are translated, and brisk reads PostgreSQL's English texts: durations, errors, lock waits and the rest would not be recognized".into(),
            None => "empty: the server's environment decides the language; set it to 'C' so the messages are English".into(),
        },
        alter: (english != Some(true)).then(|| "ALTER SYSTEM SET lc_messages = 'C';".into()),
        restart: false,
    });

    // (setting, wanted value, the value that means "off", what it feeds)
    let events: [(&'static str, &str, &str, &str); 5] = [
        (
            "log_min_duration_statement",
            "0",
            "-1",
            "statement durations: the statement table, the slowest executions, N+1 patterns and --workload (0 logs every statement; on a busy server a threshold such as '100ms' costs less and keeps the slow ones)",
        ),
        (
            "log_lock_waits",
            "on",
            "off",
            "lock waits longer than deadlock_timeout, per statement",
        ),
        (
            "log_temp_files",
            "0",
            "-1",
            "temporary files per statement (the work_mem advice)",
        ),
        ("log_checkpoints", "on", "off", "checkpoints and their times"),
        (
            "log_autovacuum_min_duration",
            "0",
            "-1",
            "autovacuum and autoanalyze per table",
        ),
    ];
    for (setting, wanted, off, feeds) in events {
        let current = value(settings, setting);
        let verdict = if current == off || current.is_empty() {
            Verdict::Change
        } else if current != wanted && wanted == "0" {
            // A threshold: what is shorter (or smaller) is not logged.
            Verdict::Better
        } else {
            Verdict::Ok
        };
        let why = match verdict {
            Verdict::Change => format!("off: no {feeds}"),
            Verdict::Better => format!("{feeds}; only above {current} (0 logs all)"),
            Verdict::Ok => feeds.to_string(),
        };
        out.push(Advice {
            setting,
            current: current.to_string(),
            verdict,
            why,
            alter: (verdict == Verdict::Change)
                .then(|| format!("ALTER SYSTEM SET {setting} = {};", quote(wanted))),
            restart: false,
        });
    }
    out
}

/// Where the server's logs are, for `brisk logs URL`.
#[derive(Debug, Clone)]
pub struct Located {
    pub files: Vec<PathBuf>,
    /// The prefix to read them with (stderr and syslog).
    pub prefix: String,
}

/// Finds the server's log files when they are readable here: the current one
/// (`current_logfile`, from `pg_current_logfile()`, relative to the data directory) and, with
/// `since_ms`, the files of `log_directory` with its extension changed since then. With
/// `logging_collector` off, the postmaster's stderr when this machine can see it
/// (`postmaster.pid` in the data directory, then `/proc/PID/fd/2`). Otherwise the error says
/// what to pass instead.
pub fn locate(
    settings: &BTreeMap<String, String>,
    current_logfile: Option<&str>,
    since_ms: Option<i64>,
) -> Result<Located, String> {
    let prefix = value(settings, "log_line_prefix").to_string();
    let by_hand = |what: &str| {
        format!(
            "{what}; copy the log files here and run: brisk logs --prefix {} FILES",
            shell_quote(&prefix)
        )
    };
    let destination = value(settings, "log_destination");
    if !destination.is_empty() && destination.split(',').all(|d| d.trim() == "syslog") {
        return Err(by_hand(
            "the server logs to syslog only (log_destination = syslog): its lines are in the syslog files \
             (/var/log/syslog, /var/log/messages) or `journalctl -o short-iso` of the server's machine",
        ));
    }
    let data = PathBuf::from(value(settings, "data_directory"));
    let absolute = |p: &str| {
        let p = PathBuf::from(p);
        if p.is_absolute() {
            p
        } else {
            data.join(p)
        }
    };
    if value(settings, "logging_collector") != "on" {
        return match postmaster_stderr(&data) {
            Some(target) => Ok(Located {
                files: vec![target],
                prefix,
            }),
            None => Err(by_hand(
                "logging_collector is off, so the server's log is its stderr, which its start script \
                 sends to a file brisk cannot see from here (Debian: /var/log/postgresql/postgresql-VERSION-main.log)",
            )),
        };
    }
    let directory = absolute(value(settings, "log_directory"));
    let Some(current) = current_logfile.map(absolute) else {
        return Err(by_hand(&format!(
            "pg_current_logfile() gave nothing (it takes superuser or pg_monitor's rights); the log files are in {}",
            directory.display()
        )));
    };
    if std::fs::File::open(&current).is_err() {
        return Err(by_hand(&format!(
            "{} is on the server's machine and cannot be read here",
            current.display()
        )));
    }
    let mut files = vec![current.clone()];
    if let (Some(since_ms), Ok(entries)) = (since_ms, std::fs::read_dir(&directory)) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension() != current.extension() || path == current {
                continue;
            }
            let changed_ms = entry
                .metadata()
                .ok()
                .filter(|m| m.is_file())
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_millis() as i64);
            if changed_ms.is_some_and(|ms| ms >= since_ms) && std::fs::File::open(&path).is_ok() {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(Located { files, prefix })
}

/// The file the postmaster's stderr goes to, when this machine runs it and may look.
fn postmaster_stderr(data: &Path) -> Option<PathBuf> {
    let pid_file = std::fs::read_to_string(data.join("postmaster.pid")).ok()?;
    let pid: u32 = pid_file.lines().next()?.trim().parse().ok()?;
    let target = std::fs::read_link(format!("/proc/{pid}/fd/2")).ok()?;
    (target.is_file() && std::fs::File::open(&target).is_ok()).then_some(target)
}

/// `text` in single quotes for a POSIX shell.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn verdict(advice: &[Advice], setting: &str) -> Verdict {
        advice
            .iter()
            .find(|a| a.setting == setting)
            .unwrap()
            .verdict
    }

    #[test]
    fn enough_and_not_enough() {
        let good = settings(&[
            ("log_destination", "stderr"),
            ("logging_collector", "on"),
            ("log_line_prefix", "%m [%p] %q%u@%d/%a "),
            ("lc_messages", "C"),
            ("log_min_duration_statement", "0"),
            ("log_lock_waits", "on"),
            ("log_temp_files", "0"),
            ("log_checkpoints", "on"),
            ("log_autovacuum_min_duration", "0"),
        ]);
        let advice = advise(&good);
        assert!(
            advice
                .iter()
                .all(|a| a.verdict == Verdict::Ok && a.alter.is_none()),
            "{advice:#?}"
        );

        let bad = settings(&[
            ("log_destination", "csvlog"),
            ("logging_collector", "off"),
            ("log_line_prefix", "%u "),
            ("lc_messages", "de_DE.UTF-8"),
            ("log_min_duration_statement", "-1"),
            ("log_lock_waits", "off"),
            ("log_temp_files", "1024"),
            ("log_checkpoints", "off"),
            ("log_autovacuum_min_duration", "600000"),
        ]);
        let advice = advise(&bad);
        for setting in [
            "logging_collector",
            "lc_messages",
            "log_min_duration_statement",
            "log_lock_waits",
            "log_checkpoints",
        ] {
            assert_eq!(verdict(&advice, setting), Verdict::Change, "{setting}");
        }
        // csvlog has its own times and pids: the prefix does not matter.
        assert_eq!(verdict(&advice, "log_line_prefix"), Verdict::Ok);
        assert_eq!(verdict(&advice, "log_temp_files"), Verdict::Better);
        assert_eq!(
            verdict(&advice, "log_autovacuum_min_duration"),
            Verdict::Better
        );
        let lc = advice.iter().find(|a| a.setting == "lc_messages").unwrap();
        assert!(lc.why.starts_with("WARNING"));
        assert_eq!(
            lc.alter.as_deref(),
            Some("ALTER SYSTEM SET lc_messages = 'C';")
        );
        let stderr = settings(&[("log_destination", "stderr"), ("log_line_prefix", "%u@%d ")]);
        assert_eq!(
            verdict(&advise(&stderr), "log_line_prefix"),
            Verdict::Change
        );
        assert_eq!(english(""), None);
        assert_eq!(english("en_US.UTF-8"), Some(true));
        assert_eq!(english("fr_FR"), Some(false));
    }
}
