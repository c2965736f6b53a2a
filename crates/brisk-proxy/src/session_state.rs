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

use brisk_sql::session::{Effects, TRACKED};

/// One client's tracked settings: the values a `RESET` goes back to, and the current ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedSettings {
    reset: [Option<String>; TRACKED.len()],
    current: [Option<String>; TRACKED.len()],
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
            current: reset.clone(),
            reset,
        }
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
        }
    }

    /// The value a `RESET` of the setting at `index` gives this client.
    pub fn reset_value(&self, index: usize) -> Option<&str> {
        self.reset[index].as_deref()
    }

    /// Puts the settings named by `resets` back to the client's own reset values.
    pub fn reset(&mut self, resets: Effects) {
        for i in 0..TRACKED.len() {
            if resets.resets(i) {
                self.current[i] = self.reset[i].clone();
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
