//! The settings brisk follows for each client, so that a client sees on whatever server it
//! borrows exactly what it would see on a direct connection.
//!
//! PostgreSQL reports these settings to the client (`GUC_REPORT`: a ParameterStatus message
//! whenever they change), so brisk can follow every change without parsing SQL. Each client
//! has a value for every one of them, never "whatever the last client left there":
//! - its startup packet's value, else the server's default for its pool (the values a fresh
//!   server connection reports; `application_name` defaults to empty, as it does on a direct
//!   connection that names none, not to the `brisk` that brisk's own connections use);
//! - then whatever the server reports while the client's statements run (`SET`, `SET LOCAL`,
//!   the revert at the end of a transaction, a `set_config`).
//!
//! A `RESET` is the exception: a server resets to *its* startup values, not the client's, so
//! brisk recognises the statements that reset (brisk-sql's `session::effects`) and puts the
//! client's own values back. What the relay cannot follow pins (`session::session_feature`).
//!
//! Architecture invariant: nothing here does I/O. The session compares a client's settings
//! with a server's ([`TrackedSettings::differences`]) and sends the `SET`s.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use brisk_sql::session::{Effects, TRACKED};

/// One client's tracked settings: the values a `RESET` goes back to, and the current ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedSettings {
    reset: [Option<String>; TRACKED.len()],
    current: [Option<String>; TRACKED.len()],
    /// Names these current values, process-wide: clients with equal values have equal
    /// stamps. A server that was brought to some values and reported nothing since keeps
    /// their stamp (`ServerConn::settings_stamp`), so attaching any client with the same
    /// values to it skips the comparison (hot path: every transaction attaches).
    stamp: u64,
}

/// Values already named, so that clients with the same settings share a stamp. Exact (no
/// hashing of values into the stamp, which a client could collide on purpose); cleared
/// when it grows large, after which the same values get a new stamp and a server holding
/// the old one is compared once more.
static STAMPS: Mutex<Option<HashMap<Values, u64>>> = Mutex::new(None);
static NEXT_STAMP: AtomicU64 = AtomicU64::new(1);
const MAX_STAMPS: usize = 10_000;

type Values = [Option<String>; TRACKED.len()];

/// The stamp of `values`; never 0, which a server uses for "no client's values".
fn stamp_of(values: &Values) -> u64 {
    let mut table = STAMPS.lock().unwrap_or_else(|e| e.into_inner());
    let table = table.get_or_insert_with(HashMap::new);
    if let Some(stamp) = table.get(values) {
        return *stamp;
    }
    if table.len() >= MAX_STAMPS {
        table.clear();
    }
    let stamp = NEXT_STAMP.fetch_add(1, Ordering::Relaxed);
    table.insert(values.clone(), stamp);
    stamp
}

impl TrackedSettings {
    /// A client's settings at login: `startup` holds what its startup packet asked for (any
    /// parameters; only the tracked ones are used), `server` what a fresh server connection
    /// of its pool reported.
    pub fn new(startup: &[(String, String)], server: &HashMap<String, String>) -> TrackedSettings {
        let reset: [Option<String>; TRACKED.len()] = std::array::from_fn(|i| {
            let name = TRACKED[i];
            startup
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
                .or_else(|| {
                    if name == "application_name" {
                        Some(String::new())
                    } else {
                        server.get(name).cloned()
                    }
                })
        });
        TrackedSettings {
            stamp: stamp_of(&reset),
            current: reset.clone(),
            reset,
        }
    }

    /// Names the current values: equal stamps mean equal values.
    pub fn stamp(&self) -> u64 {
        self.stamp
    }

    /// The current value of each tracked setting that has one.
    pub fn current(&self) -> impl Iterator<Item = (&'static str, &str)> + '_ {
        TRACKED
            .iter()
            .zip(&self.current)
            .filter_map(|(name, value)| Some((*name, value.as_deref()?)))
    }

    /// Follows a value the server reported while the client's statement ran.
    pub fn reported(&mut self, index: usize, value: &str) {
        if self.current[index].as_deref() != Some(value) {
            self.current[index] = Some(value.to_string());
            self.stamp = stamp_of(&self.current);
        }
    }

    /// Takes the server's reports as the client's values, after the server accepted the
    /// client's: the server reports them normalized (`'utf-8'` as `UTF8`, `iso` as
    /// `ISO, MDY`), and comparing the raw value with the normalized one would send the same
    /// `SET` on every attach. A reset value that was the same setting follows.
    pub fn adopt(&mut self, server: &HashMap<String, String>) {
        for (i, name) in TRACKED.iter().enumerate() {
            let Some(reported) = server.get(*name) else {
                continue;
            };
            if self.current[i].as_deref() == Some(reported.as_str()) {
                continue;
            }
            if self.reset[i] == self.current[i] {
                self.reset[i] = Some(reported.clone());
            }
            self.current[i] = Some(reported.clone());
            self.stamp = stamp_of(&self.current);
        }
    }

    /// The value a `RESET` of the setting at `index` gives this client.
    pub fn reset_value(&self, index: usize) -> Option<&str> {
        self.reset[index].as_deref()
    }

    /// Puts the settings named by `resets` back to the client's own reset values.
    pub fn reset(&mut self, resets: Effects) {
        for i in 0..TRACKED.len() {
            if resets.resets(i) && self.current[i] != self.reset[i] {
                self.current[i] = self.reset[i].clone();
                self.stamp = stamp_of(&self.current);
            }
        }
    }

    /// The statements that bring a server whose reported settings are `server` to this
    /// client's values (`SET LOCAL` ones when `local`), or `None` when it has them already.
    pub fn differences(&self, server: &HashMap<String, String>, local: bool) -> Option<String> {
        let mut sets = String::new();
        for (name, value) in self.current() {
            if server.get(name).map(String::as_str) != Some(value) {
                sets.push_str(if local { "SET LOCAL " } else { "SET " });
                sets.push_str(&brisk_sql::quote_ident(name));
                sets.push_str(" = ");
                sets.push_str(&brisk_sql::quote_literal(value));
                sets.push(';');
            }
        }
        (!sets.is_empty()).then_some(sets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brisk_sql::session::{effects, tracked_index};

    fn server() -> HashMap<String, String> {
        [
            ("application_name", "brisk"),
            ("client_encoding", "UTF8"),
            ("DateStyle", "ISO, MDY"),
            ("IntervalStyle", "postgres"),
            ("TimeZone", "UTC"),
            ("standard_conforming_strings", "on"),
            ("server_version", "15.1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn a_client_has_a_value_for_every_setting_from_its_startup_or_the_server() {
        let startup = vec![
            ("user".to_string(), "app".to_string()),
            ("timezone".to_string(), "Europe/Paris".to_string()),
        ];
        let settings = TrackedSettings::new(&startup, &server());
        let current: HashMap<_, _> = settings.current().collect();
        assert_eq!(current["TimeZone"], "Europe/Paris");
        assert_eq!(current["DateStyle"], "ISO, MDY");
        // brisk's own application_name is not the server's default.
        assert_eq!(current["application_name"], "");
        assert_eq!(current.len(), TRACKED.len());
    }

    #[test]
    fn equal_settings_share_a_stamp_and_a_change_takes_another() {
        let startup = vec![("TimeZone".to_string(), "Asia/Kolkata".to_string())];
        let mut a = TrackedSettings::new(&startup, &server());
        let b = TrackedSettings::new(&startup, &server());
        let other = TrackedSettings::new(&[], &server());
        assert_eq!(a.stamp(), b.stamp());
        assert_ne!(a.stamp(), other.stamp());
        assert_ne!(a.stamp(), 0);
        let before = a.stamp();
        a.reported(tracked_index("TimeZone").unwrap(), "Pacific/Chatham");
        assert_ne!(a.stamp(), before);
        // Reporting the value it has is no change.
        let after = a.stamp();
        a.reported(tracked_index("TimeZone").unwrap(), "Pacific/Chatham");
        assert_eq!(a.stamp(), after);
        // Back to the startup value: the stamp of those values again.
        a.reset(effects("RESET TimeZone"));
        assert_eq!(a.stamp(), before);
    }

    #[test]
    fn differences_set_only_what_the_server_has_otherwise() {
        let mut settings = TrackedSettings::new(&[], &server());
        let mut on_server = server();
        assert_eq!(
            settings.differences(&on_server, false).as_deref(),
            Some("SET application_name = '';")
        );
        on_server.insert("application_name".into(), String::new());
        assert_eq!(settings.differences(&on_server, false), None);
        settings.reported(tracked_index("TimeZone").unwrap(), "Pacific/Chatham");
        on_server.insert("TimeZone".into(), "Asia/Tokyo".into());
        assert_eq!(
            settings.differences(&on_server, true).as_deref(),
            Some("SET LOCAL \"TimeZone\" = 'Pacific/Chatham';")
        );
        settings.reset(effects("RESET TimeZone"));
        assert_eq!(
            settings.differences(&on_server, false).as_deref(),
            Some("SET \"TimeZone\" = 'UTC';")
        );
    }
}

/// A client's startup packet split the way brisk applies it: `params` are the parameters
/// with `options`'s `-c name=value` switches merged in (an explicit parameter wins, as in
/// PostgreSQL), and `extras` the settings among them that brisk does not track, which the
/// session sets on the client's server and keeps there by pinning the client (JDBC's
/// `currentSchema` sends `search_path`, asyncpg's `server_settings` and node-postgres's
/// `statement_timeout` send theirs, psql's `PGOPTIONS` sends `options`). Dropping them, as
/// brisk once did, ran the client's statements under another schema or timeout.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Startup {
    pub params: Vec<(String, String)>,
    pub extras: Vec<(String, String)>,
}

/// Parameters of the startup packet that are not settings.
const NOT_SETTINGS: [&str; 4] = ["user", "database", "options", "replication"];

impl Startup {
    /// Splits `params`; an `options` switch other than `-c name=value` or `--name=value`
    /// is an error, as brisk cannot apply it.
    pub fn split(params: &[(String, String)]) -> Result<Startup, String> {
        let mut merged: Vec<(String, String)> = params
            .iter()
            .filter(|(k, _)| k != "options")
            .cloned()
            .collect();
        if let Some((_, options)) = params.iter().find(|(k, _)| k == "options") {
            for (name, value) in parse_options(options)? {
                if !merged.iter().any(|(k, _)| k.eq_ignore_ascii_case(&name)) {
                    merged.push((name, value));
                }
            }
        }
        let extras = merged
            .iter()
            .filter(|(name, value)| {
                let name = name.to_ascii_lowercase();
                !NOT_SETTINGS.contains(&name.as_str())
                    && brisk_sql::session::tracked_index(&name).is_none()
                    // pgjdbc always sends 3. Since PostgreSQL 12 every positive value means
                    // the shortest exact output, the server's default (1) included, so it
                    // changes nothing and must not pin every JDBC client.
                    && !(name == "extra_float_digits"
                        && value.trim().parse::<i32>().is_ok_and(|v| v >= 1))
            })
            .cloned()
            .collect();
        Ok(Startup {
            params: merged,
            extras,
        })
    }

    /// The query that applies the extras: `set_config` takes a value as a startup packet
    /// gives it (`search_path = 'a, b'` stays a list).
    pub fn extras_query(&self) -> Option<String> {
        let settings: Vec<_> = self
            .extras
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str(), false))
            .collect();
        set_config_query(&settings)
    }
}

/// `SELECT set_config(name, value, is_local), ...` for `settings`; `None` for none.
pub fn set_config_query(settings: &[(&str, &str, bool)]) -> Option<String> {
    if settings.is_empty() {
        return None;
    }
    let calls: Vec<String> = settings
        .iter()
        .map(|(name, value, local)| {
            format!(
                "set_config({}, {}, {local})",
                brisk_sql::quote_literal(name),
                brisk_sql::quote_literal(value)
            )
        })
        .collect();
    Some(format!("SELECT {}", calls.join(", ")))
}

/// The `-c name=value` and `--name=value` switches of an `options` startup parameter:
/// words split on whitespace, a backslash keeping the next character (PostgreSQL's
/// `pg_split_opts`), dashes in a long option's name read as underscores.
fn parse_options(options: &str) -> Result<Vec<(String, String)>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = options.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => word.extend(chars.next()),
            c if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    let mut pairs = Vec::new();
    let mut words = words.into_iter();
    while let Some(word) = words.next() {
        let setting = if word == "-c" {
            words
                .next()
                .ok_or_else(|| "options: -c needs name=value".to_string())?
        } else if let Some(rest) = word.strip_prefix("-c") {
            rest.to_string()
        } else if let Some(rest) = word.strip_prefix("--") {
            match rest.split_once('=') {
                Some((name, value)) => format!("{}={value}", name.replace('-', "_")),
                None => rest.to_string(),
            }
        } else {
            return Err(format!(
                "options: brisk applies only -c name=value and --name=value switches, not \"{word}\""
            ));
        };
        let (name, value) = setting
            .split_once('=')
            .ok_or_else(|| format!("options: \"{setting}\" is not name=value"))?;
        pairs.push((name.to_string(), value.to_string()));
    }
    Ok(pairs)
}

#[cfg(test)]
mod startup_tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn untracked_settings_from_params_and_options_are_extras() {
        let startup = Startup::split(&params(&[
            ("user", "app"),
            ("database", "app"),
            ("search_path", "app, public"),
            ("TimeZone", "UTC"),
            ("options", "-c statement_timeout=5s --lock-timeout=1s -cwork_mem=64MB -c TimeZone=Asia/Tokyo -c x.y=a\\ b"),
        ]))
        .unwrap();
        assert_eq!(
            startup.extras,
            params(&[
                ("search_path", "app, public"),
                ("statement_timeout", "5s"),
                ("lock_timeout", "1s"),
                ("work_mem", "64MB"),
                ("x.y", "a b"),
            ])
        );
        // The explicit TimeZone wins over the one in options, and stays tracked.
        assert!(startup.params.contains(&("TimeZone".into(), "UTC".into())));
        assert!(!startup.params.iter().any(|(_, v)| v == "Asia/Tokyo"));
        assert_eq!(
            startup.extras_query().unwrap(),
            "SELECT set_config('search_path', 'app, public', false), set_config('statement_timeout', '5s', false), set_config('lock_timeout', '1s', false), set_config('work_mem', '64MB', false), set_config('x.y', 'a b', false)"
        );
    }

    #[test]
    fn what_drivers_send_by_default_is_not_an_extra() {
        // pgjdbc, asyncpg and node-postgres with their defaults.
        for sent in [
            params(&[
                ("user", "u"),
                ("database", "d"),
                ("client_encoding", "UTF8"),
                ("DateStyle", "ISO"),
                ("TimeZone", "UTC"),
                ("extra_float_digits", "3"),
            ]),
            params(&[
                ("user", "u"),
                ("database", "d"),
                ("client_encoding", "utf-8"),
            ]),
            params(&[
                ("user", "u"),
                ("database", "d"),
                ("application_name", "web"),
            ]),
        ] {
            let startup = Startup::split(&sent).unwrap();
            assert!(startup.extras.is_empty(), "{sent:?}");
            assert_eq!(startup.extras_query(), None);
        }
        let zero = Startup::split(&params(&[("extra_float_digits", "0")])).unwrap();
        assert_eq!(zero.extras.len(), 1);
    }

    #[test]
    fn switches_brisk_cannot_apply_are_errors() {
        for bad in ["-e", "-c", "-c name", "--flag", "-d 5"] {
            assert!(
                Startup::split(&params(&[("options", bad)])).is_err(),
                "{bad}"
            );
        }
    }
}
