//! The HTML report of a generated log: its sections, tables and charts are there when the
//! log has their events and say "none" when it has not, its markup is balanced, and no value
//! of a statement (literals, `DETAIL: parameters:`, `STATEMENT:` lines) reaches the page.

use std::fmt::Write as _;
use std::path::Path;

use brisk_logs::{analyze, html, Options};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Values no report may show: each statement's literals and parameters hold one.
const SECRETS: [&str; 3] = ["secret-mail", "hunter2pw", "4242424242"];

/// A Debian-prefixed log over 30 minutes; with `problems`, also errors, lock waits, a
/// deadlock, temp files, checkpoints and autovacuum.
fn generate(path: &Path, seed: u64, problems: bool) {
    let mut rng = Rng(seed);
    let mut log = String::new();
    for i in 0..6000u64 {
        let second = i * 30 * 60 / 6000;
        let stamp = format!(
            "2026-12-06 01:{:02}:{:02}.{:03} UTC [{}] app@shop ",
            second / 60,
            second % 60,
            rng.below(1000),
            2000 + rng.below(8)
        );
        let ms = format!("{}.{:03}", rng.below(40), rng.below(1000));
        let secret = SECRETS[rng.below(3) as usize];
        match rng.below(if problems { 12 } else { 4 }) {
            0 => writeln!(
                log,
                "{stamp}LOG:  duration: {ms} ms  statement: SELECT * FROM customers WHERE email = '{secret}{}@example.com'",
                rng.below(100)
            ),
            1 => writeln!(
                log,
                "{stamp}LOG:  duration: {ms} ms  execute <unnamed>: UPDATE accounts SET password = $1 WHERE id = $2\n{stamp}DETAIL:  parameters: $1 = '{secret}', $2 = '{}'",
                rng.below(1000)
            ),
            2 => writeln!(
                log,
                "{stamp}LOG:  duration: {ms} ms  statement: SELECT count(*) FROM orders WHERE total < {}",
                rng.below(500)
            ),
            3 => writeln!(
                log,
                "{stamp}LOG:  duration: {ms} ms  statement: INSERT INTO audit (who, what) VALUES ('{secret}', {})",
                rng.below(9)
            ),
            4 => writeln!(
                log,
                "{stamp}ERROR:  duplicate key value violates unique constraint \"users_pkey\"\n{stamp}DETAIL:  Key (id)=({secret}) already exists.\n{stamp}STATEMENT:  INSERT INTO users (id) VALUES ('{secret}')"
            ),
            5 => writeln!(
                log,
                "{stamp}LOG:  process 2001 still waiting for ShareLock on transaction 7 after 1000.071 ms\n{stamp}STATEMENT:  UPDATE accounts SET balance = 0 WHERE note = '{secret}'"
            ),
            6 => writeln!(
                log,
                "{stamp}LOG:  process 2001 acquired ShareLock on transaction 7 after {}.5 ms\n{stamp}STATEMENT:  UPDATE accounts SET balance = 0 WHERE note = '{secret}'",
                1000 + rng.below(3000)
            ),
            7 => writeln!(
                log,
                "{stamp}LOG:  temporary file: path \"base/pgsql_tmp/pgsql_tmp9.0\", size {}\n{stamp}STATEMENT:  SELECT * FROM orders ORDER BY note, '{secret}'",
                rng.below(1 << 24)
            ),
            8 => writeln!(
                log,
                "{stamp}LOG:  checkpoint starting: time\n{stamp}LOG:  checkpoint complete: wrote {} buffers (0.0%); 0 WAL file(s) added, 0 removed, 0 recycled; write=0.001 s, sync=0.002 s, total=0.250 s; sync files=2",
                rng.below(900)
            ),
            9 => writeln!(
                log,
                "{stamp}LOG:  automatic vacuum of table \"shop.public.orders\": index scans: 0\n\tpages: 0 removed\n\tsystem usage: CPU: user: 0.01 s, system: 0.00 s, elapsed: 0.{:02} s",
                rng.below(100)
            ),
            10 => writeln!(
                log,
                "{stamp}ERROR:  deadlock detected\n{stamp}DETAIL:  Process 2001 waits for ShareLock on transaction 7; blocked by process 2002.\n{stamp}STATEMENT:  UPDATE accounts SET balance = 1 WHERE note = '{secret}'"
            ),
            _ => writeln!(
                log,
                "{stamp}ERROR:  canceling statement due to statement timeout\n{stamp}STATEMENT:  SELECT pg_sleep(10), '{secret}'"
            ),
        }
        .unwrap();
    }
    std::fs::write(path, log).unwrap();
}

fn page(path: &Path) -> String {
    let analysis = analyze(&[path.to_path_buf()], &Options::default()).unwrap();
    let report = analysis.report(&path.display().to_string());
    html(&analysis, &report)
}

/// The rows (`<tr>` after the header) of the table with this id.
fn rows(page: &str, id: &str) -> usize {
    let start = page
        .find(&format!("<table id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no table {id}"));
    let end = start + page[start..].find("</table>").unwrap();
    page[start..end].matches("<tr>").count() - 1
}

fn assert_well_formed(page: &str) {
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.ends_with("</body></html>\n"));
    for tag in ["table", "tr", "svg", "h2", "p"] {
        let open =
            page.matches(&format!("<{tag}>")).count() + page.matches(&format!("<{tag} ")).count();
        let close = page.matches(&format!("</{tag}>")).count();
        assert_eq!(open, close, "<{tag}>");
    }
    // Self-contained: nothing fetched, nothing run (SVG's xmlns is a name, not a fetch).
    for fetch in ["<script", "src=", "href=", "url(", "@import", "<link"] {
        assert!(!page.contains(fetch), "{fetch}");
    }
    for secret in SECRETS {
        assert!(!page.contains(secret), "{secret} leaked");
    }
}

#[test]
fn html_report_of_a_log_with_every_kind_of_event() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("pg.log");
    generate(&log, 0x417d, true);
    let page = page(&log);
    assert_well_formed(&page);
    // The log's distinct statements, and the escaping of `<`.
    assert_eq!(rows(&page, "statements-table"), 4, "{page}");
    assert!(page.contains("total &lt; $1"));
    assert!(rows(&page, "errors-table") >= 2);
    assert!(page.contains("<table id=\"cancellations-table\">"));
    assert_eq!(rows(&page, "locks-table"), 1);
    assert_eq!(rows(&page, "temp-table"), 1);
    assert_eq!(rows(&page, "checkpoints-table"), 1);
    assert_eq!(rows(&page, "autovacuum-table"), 1);
    assert!(page.contains("shop.public.orders"));
    let deadlocks = page
        .split("<p class=\"meta\">")
        .find_map(|p| p.split(" deadlocks").next()?.parse::<u64>().ok())
        .unwrap();
    assert!(deadlocks > 0);
    // Two line charts over 30 minutes of data, and the bars of the top statements.
    assert_eq!(page.matches("<svg").count(), 3);
    let points: Vec<usize> = page
        .match_indices("data-points=\"")
        .map(|(at, m)| {
            let rest = &page[at + m.len()..];
            rest[..rest.find('"').unwrap()].parse().unwrap()
        })
        .collect();
    assert_eq!(points.len(), 4, "{points:?}");
    assert!(points.iter().all(|&n| n >= 29), "{points:?}");
    assert_eq!(page.matches("class=\"bar\"").count(), 4);
}

#[test]
fn html_report_of_a_clean_log_says_what_it_did_not_see() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("pg.log");
    generate(&log, 0xc1ea, false);
    let page = page(&log);
    assert_well_formed(&page);
    assert_eq!(rows(&page, "statements-table"), 4);
    for absent in [
        "errors-table",
        "locks-table",
        "temp-table",
        "checkpoints-table",
        "autovacuum-table",
        "cancellations-table",
    ] {
        assert!(!page.contains(&format!("id=\"{absent}\"")), "{absent}");
    }
    assert!(page.contains("No errors logged."));
    assert!(page.contains("log_temp_files = 0"));
    assert!(page.contains("log_checkpoints = on"));
    assert!(page.contains("0 deadlocks"));
}
