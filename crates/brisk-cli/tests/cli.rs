//! The command line as a new user meets it: help with examples, every option described,
//! `--list-checks` as text and JSON wherever there are checks, completions, the man page,
//! and errors that say what was tried. None of these needs a server.

mod common;

use std::path::Path;

use common::{brisk, brisk_with_env};
use serde_json::Value;

fn stdout(args: &[&str]) -> String {
    let output = brisk(args);
    assert!(
        output.status.success(),
        "brisk {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// The subcommands `brisk --help` lists (but `help` itself).
fn subcommands() -> Vec<String> {
    let help = stdout(&["--help"]);
    let section = help
        .split("Commands:\n")
        .nth(1)
        .expect("a Commands section");
    section
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .filter(|line| line.starts_with("  ") && !line.starts_with("   "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// The example command lines of a help text: the indented lines of its "Examples:" section.
fn examples(help: &str) -> Vec<String> {
    let section = help.split("Examples:\n").nth(1).unwrap_or("");
    section
        .lines()
        .take_while(|line| line.starts_with("  "))
        .map(|line| line.trim().to_string())
        .collect()
}

/// Options whose help says nothing: a flag line followed by no description, in either of
/// clap's layouts (description on the same line, or indented on the next).
fn undescribed_options(help: &str) -> Vec<String> {
    let lines: Vec<&str> = help.lines().collect();
    let mut undescribed = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let text = line.trim_start();
        let indent = line.len() - text.len();
        let is_option =
            (2..=6).contains(&indent) && (text.starts_with("--") || text.get(2..4) == Some(", "));
        if !is_option {
            continue;
        }
        let described = match text.split_once("  ") {
            Some((_, same_line)) => {
                let same_line = same_line.trim();
                !same_line.is_empty() && !same_line.starts_with('[')
            }
            None => lines.get(i + 1).is_some_and(|next| {
                let next_text = next.trim_start();
                next.len() - next_text.len() > indent
                    && !next_text.is_empty()
                    && !next_text.starts_with('[')
            }),
        };
        if !described {
            undescribed.push(text.to_string());
        }
    }
    undescribed
}

#[test]
fn help_is_written_for_users_and_every_command_ends_with_examples() {
    let help = stdout(&["--help"]);
    assert!(help.starts_with("brisk finds what makes"), "{help}");
    assert!(
        !help.contains("argument parsing"),
        "no internal comment: {help}"
    );
    assert!(help.contains("without a URL"), "mentions the demo: {help}");
    assert!(examples(&help).len() >= 2, "{help}");

    let commands = subcommands();
    for expected in [
        "check",
        "advise",
        "lint",
        "redis",
        "proxy",
        "completions",
        "man",
    ] {
        assert!(
            commands.iter().any(|c| c == expected),
            "{expected} in {commands:?}"
        );
    }
    for command in &commands {
        for flag in ["--help", "-h"] {
            let help = stdout(&[command, flag]);
            let examples = examples(&help);
            assert!(
                (2..=4).contains(&examples.len()),
                "brisk {command} {flag}: 2 to 4 examples, got {examples:?}"
            );
            assert!(
                examples
                    .iter()
                    .all(|e| e.contains(&format!("brisk {command}"))),
                "brisk {command}: every example runs it: {examples:?}"
            );
            assert!(
                help.trim_end().ends_with(examples.last().unwrap().as_str()),
                "brisk {command} {flag}: the examples come last"
            );
            assert_eq!(
                undescribed_options(&help),
                Vec::<String>::new(),
                "brisk {command} {flag}"
            );
        }
    }
}

#[test]
fn the_option_check_finds_an_undescribed_option() {
    let help = "Options:\n      --format <FORMAT>  [default: text]\n      --limit <N>  Show this many\n      --quiet\n      --loud\n          Say more\n";
    assert_eq!(
        undescribed_options(help),
        ["--format <FORMAT>  [default: text]", "--quiet"]
    );
}

#[test]
fn redis_and_lint_usage_show_their_required_argument() {
    assert!(stdout(&["redis", "--help"]).contains("Usage: brisk redis [OPTIONS] <URL>"));
    assert!(stdout(&["lint", "--help"]).contains("Usage: brisk lint [OPTIONS] <FILE>..."));
    let output = brisk(&["redis"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("<URL>"));
}

#[test]
fn argument_errors_are_one_line_with_exit_code_2() {
    let cases: [(&[&str], &str); 4] = [
        (&["check", "--nonsense"], "unexpected argument '--nonsense'"),
        (
            &["check", "--formt", "json"],
            "a similar argument exists: '--format'",
        ),
        (
            &["bench", "--rate", "abc", "x.toml"],
            "invalid value 'abc' for '--rate",
        ),
        (&["redis"], "required arguments were not provided: <URL>"),
    ];
    for (args, needle) in cases {
        let output = brisk(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("brisk: ") && stderr.contains(needle),
            "{args:?}: {stderr}"
        );
    }
}

/// `--list-checks` as text (id, then what it looks for) and as JSON (the same ids).
fn list_checks(command: &str) -> Vec<String> {
    let text = stdout(&[command, "--list-checks"]);
    let ids: Vec<String> = text
        .lines()
        .map(|line| line.split_whitespace().next().unwrap().to_string())
        .collect();
    let json: Value =
        serde_json::from_str(&stdout(&[command, "--list-checks", "--format", "json"]))
            .unwrap_or_else(|e| panic!("brisk {command} --list-checks --format json: {e}"));
    let entries = json.as_array().expect("an array");
    let json_ids: Vec<String> = entries
        .iter()
        .map(|entry| {
            assert!(
                entry["about"].as_str().is_some_and(|a| !a.is_empty()),
                "{entry}"
            );
            entry["id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        ids, json_ids,
        "brisk {command}: text and JSON list the same"
    );
    ids
}

#[test]
fn every_command_with_checks_lists_them_as_text_and_json() {
    let check = list_checks("check");
    assert_eq!(check.len(), 19);
    assert!(check.contains(&"fk.unindexed".to_string()));
    let redis = list_checks("redis");
    assert!(redis.iter().all(|id| id.starts_with("redis.")), "{redis:?}");
    let tune = list_checks("tune");
    assert!(tune.contains(&"temp-files".to_string()), "{tune:?}");
    let advise = list_checks("advise");
    assert!(advise.contains(&"advise.index".to_string()), "{advise:?}");
    let lint = list_checks("lint");
    assert!(lint.contains(&"sql.select_star".to_string()));
    assert_eq!(
        stdout(&["lint", "--list-rules"]),
        stdout(&["lint", "--list-checks"]),
        "--list-rules is kept as an alias"
    );
}

#[test]
fn lint_counts_the_rules_it_lists() {
    let listed = list_checks("lint").len();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.sql");
    std::fs::write(&file, "SELECT * FROM t;\n").unwrap();
    let text = stdout(&["lint", file.to_str().unwrap(), "--fail-on", "none"]);
    assert!(
        text.contains(&format!("{listed} rules ran")),
        "{listed}: {text}"
    );
    // Every rule but one skipped: the count follows.
    let skipped = brisk(&["lint", file.to_str().unwrap(), "--skip", "select_star"]);
    let text = String::from_utf8_lossy(&skipped.stdout);
    assert!(
        text.contains(&format!("{} rules ran", listed - 1)),
        "{text}"
    );
}

#[test]
fn a_bare_word_is_said_to_be_a_database_on_the_local_socket() {
    let dir = tempfile::tempdir().unwrap();
    // A socket directory with no server in it, and a name with characters a URL would
    // percent-encode, so the message must show the path as it is.
    let sockets = dir.path().join("sock dir");
    std::fs::create_dir(&sockets).unwrap();
    let host = sockets.to_str().unwrap();
    for command in ["check", "advise"] {
        let output = brisk_with_env(&[command, "not-a-url"], &[("PGHOST", host)]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
        let socket = format!("{host}/.s.PGSQL.5432");
        assert!(stderr.contains(&socket), "{socket} unencoded in: {stderr}");
        assert!(!stderr.contains("%2F"), "{stderr}");
        assert!(stderr.contains("database \"not-a-url\""), "{stderr}");
        assert!(
            stderr.contains("read \"not-a-url\" as the name of a database"),
            "{stderr}"
        );
        assert!(
            stderr.contains("postgres://user@host:5432/dbname"),
            "{stderr}"
        );
    }
    // A URL gets no such note.
    let output = brisk(&["check", "postgres://app@127.0.0.1:1/app"]);
    assert!(!String::from_utf8_lossy(&output.stderr).contains("as the name of a database"));
}

fn proxy_error(dir: &Path, config: &str) -> String {
    let path = dir.join("brisk.toml");
    std::fs::write(&path, config).unwrap();
    let output = brisk(&["proxy", "--config", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    stderr
}

#[test]
fn proxy_config_errors_name_the_nearest_key_in_plain_words() {
    let dir = tempfile::tempdir().unwrap();
    let db = "[databases]\napp = \"postgres://127.0.0.1:5432/app\"\n";
    let typo = proxy_error(dir.path(), &format!("listen_prot = 6432\n{db}"));
    assert!(
        typo.contains("unknown key `listen_prot`; did you mean `listen_port`? (line 1)"),
        "{typo}"
    );
    assert!(!typo.contains("expected one of"), "not all 44 keys: {typo}");
    let pgbouncer_name = proxy_error(dir.path(), &format!("pool_size = 3\n{db}"));
    assert!(
        pgbouncer_name.contains("`default_pool_size`"),
        "{pgbouncer_name}"
    );
    let negative = proxy_error(dir.path(), &format!("max_client_conn = -1\n{db}"));
    assert!(
        negative.contains("max_client_conn must be a whole number of 0 or more, not -1"),
        "{negative}"
    );
    assert!(!negative.contains("usize"), "{negative}");
}

#[test]
fn a_missing_proxy_config_points_to_init_which_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("brisk.toml");
    let config = path.to_str().unwrap();
    let missing = brisk(&["proxy", "--config", config]);
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr.contains("brisk proxy --init"), "{stderr}");
    assert_eq!(stderr.matches("os error").count(), 0, "{stderr}");

    assert!(brisk(&["proxy", "--init", "--config", config])
        .status
        .success());
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(written.contains("[databases]") && written.contains("# default_pool_size = 20"));
    std::fs::write(&path, "mine").unwrap();
    let again = brisk(&["proxy", "--init", "--config", config]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwrites"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "mine");

    // A directory cannot be read: the OS error is said once.
    let unreadable = brisk(&["proxy", "--config", dir.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&unreadable.stderr);
    assert_eq!(stderr.matches("os error").count(), 1, "{stderr}");
}

#[test]
fn completions_cover_every_command_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let script = stdout(&["completions", shell]);
        for word in ["check", "advise", "lint", "redis", "proxy", "list-checks"] {
            assert!(script.contains(word), "{shell}: {word}");
        }
    }
    let output = brisk(&["completions", "tcsh"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn the_man_page_is_generated_for_brisk_and_each_command() {
    let page = stdout(&["man"]);
    assert!(page.contains(".TH brisk 1"), "{page}");
    assert!(page.contains("brisk\\-check"), "commands are listed");
    let check = stdout(&["man", "check"]);
    assert!(check.contains(".TH brisk\\-check 1") || check.contains(".TH brisk-check 1"));
    assert!(check.contains("list\\-checks"), "options are documented");
    let unknown = brisk(&["man", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no such command"));
}
