//! What one operation runs: a [`Script`] of steps (`\set`, parameter draws, `\sleep`, SQL
//! statements with `:name` variables), read from a pgbench script, a plain SQL file or a
//! scenario's operation.
//!
//! pgbench's rules, kept here: a script is one transaction in pgbench's sense, timed as a
//! whole; `:name` is replaced by the variable's value (a `$n` parameter sent as text under
//! the prepared protocol, the text itself under the simple one); `::` is a cast, never a
//! variable; a name that no `\set`, `--define` or parameter defines is left as written.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use brisk_sql::{Lexer, TokenKind};

use crate::expr::{self, Expr, Value, Variables};
use crate::param::Param;
use crate::BenchError;

/// pgbench's built-in variables: `scale` (1 unless `--define scale=N`), `client_id` (the
/// worker's number) and `random_seed`.
pub const BUILTIN_VARIABLES: [&str; 3] = ["scale", "client_id", "random_seed"];

/// One step of a script.
#[derive(Debug, Clone)]
pub enum Step {
    /// `\set name expression`.
    Set {
        slot: usize,
        expr: Expr,
        line: usize,
    },
    /// A scenario parameter drawn into its variable, once per run of the operation.
    Draw {
        slot: usize,
        param: Arc<Param>,
    },
    /// Parameters drawn together, once per run of the operation: one of `rows` at random,
    /// its values into `slots` in order (`--from-pgss`: columns of one table, so the values
    /// of a statement occur together as they do in the data).
    DrawRow {
        slots: Vec<usize>,
        rows: Arc<[Vec<Value>]>,
    },
    /// `\sleep n [us|ms|s]`: part of the operation's time, as in pgbench.
    Sleep {
        amount: Expr,
        unit: Duration,
    },
    Sql(SqlStep),
    /// An HTTP request (scenario operations with `http`, or `--http`).
    Http(Box<crate::http::HttpStep>),
}

/// A statement with its variables found.
#[derive(Debug, Clone)]
pub struct SqlStep {
    /// The text with `$1..$n` in place of the variables: what the prepared protocol sends.
    pub prepared_text: String,
    /// The variable slot bound to each `$n`, in order.
    pub params: Vec<usize>,
    /// The text cut at the variables: what the simple protocol sends once filled in.
    pub parts: Vec<Part>,
    /// Where the statement starts, for messages.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    Var(usize),
}

impl SqlStep {
    /// Finds the `:name` references to defined variables in `sql`, as pgbench does.
    pub fn new(sql: &str, vars: &Variables, line: usize) -> SqlStep {
        let mut prepared_text = String::with_capacity(sql.len());
        let mut params: Vec<usize> = Vec::new();
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = sql;
        while let Some(colon) = rest.find(':') {
            let (before, after) = rest.split_at(colon);
            literal.push_str(before);
            prepared_text.push_str(before);
            let name_len = after[1..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii()))
                .unwrap_or(after.len() - 1);
            let name = &after[1..1 + name_len];
            match vars.slot(name).filter(|_| !name.is_empty()) {
                Some(slot) => {
                    let index = match params.iter().position(|&s| s == slot) {
                        Some(index) => index,
                        None => {
                            params.push(slot);
                            params.len() - 1
                        }
                    };
                    prepared_text.push_str(&format!("${}", index + 1));
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Var(slot));
                    rest = &after[1 + name_len..];
                }
                None => {
                    // A cast (`::int`), a slice (`a[1:2]`) or an unknown name: as written.
                    let colons = after.len() - after.trim_start_matches(':').len();
                    literal.push_str(&after[..colons]);
                    prepared_text.push_str(&after[..colons]);
                    rest = &after[colons..];
                }
            }
        }
        literal.push_str(rest);
        prepared_text.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        SqlStep {
            prepared_text,
            params,
            parts,
            line,
        }
    }

    /// The statement with the variables' values written in (simple protocol). A text value
    /// of a slot marked in `literals` (a parameter drawn from a scenario's or
    /// pg_stat_statements' values) is written as a quoted literal, so it stays one value, as
    /// it is under the other protocols; every other value is written as it is, as pgbench
    /// writes its variables.
    pub fn render(&self, vars: &[Value], literals: &[bool], out: &mut String) {
        out.clear();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Var(slot) => match vars.get(*slot) {
                    Some(Value::Text(text)) if literals.get(*slot) == Some(&true) => {
                        out.push_str(&brisk_sql::quote_literal(text));
                    }
                    value => {
                        use std::fmt::Write;
                        let _ = write!(out, "{}", value.cloned().unwrap_or_default());
                    }
                },
            }
        }
    }
}

/// The steps of one operation and the variables they use.
#[derive(Debug, Clone, Default)]
pub struct Script {
    pub steps: Vec<Step>,
    pub vars: Variables,
    /// Each variable's value before the first step (`--define`, built-ins), by slot.
    pub initial: Vec<Value>,
}

impl Script {
    /// Per slot: whether a step draws it from a parameter's values (its text is written as
    /// a quoted literal under the simple protocol; see [`SqlStep::render`]).
    pub fn drawn_slots(&self) -> Vec<bool> {
        let mut drawn = vec![false; self.vars.len()];
        for step in &self.steps {
            let slots = match step {
                Step::Draw { slot, .. } => std::slice::from_ref(slot),
                Step::DrawRow { slots, .. } => slots.as_slice(),
                _ => &[],
            };
            for slot in slots {
                if let Some(d) = drawn.get_mut(*slot) {
                    *d = true;
                }
            }
        }
        drawn
    }

    /// An empty script that knows the built-in variables and the `--define`s.
    pub fn with_defines(defines: &[(String, String)]) -> Script {
        let mut script = Script::default();
        for name in BUILTIN_VARIABLES {
            script.vars.define(name);
        }
        script.initial = vec![Value::Int(0); script.vars.len()];
        if let Some(slot) = script.vars.slot("scale") {
            script.initial[slot] = Value::Int(1);
        }
        for (name, value) in defines {
            let slot = script.vars.define(name);
            script.set_initial(slot, Value::Text(value.as_str().into()));
        }
        script
    }

    fn set_initial(&mut self, slot: usize, value: Value) {
        if self.initial.len() <= slot {
            self.initial.resize(slot + 1, Value::Int(0));
        }
        self.initial[slot] = value;
    }

    /// Defines a variable (a `\set` target or a parameter) and returns its slot.
    pub fn define(&mut self, name: &str) -> usize {
        let slot = self.vars.define(name);
        if self.initial.len() <= slot {
            self.initial.resize(slot + 1, Value::Int(0));
        }
        slot
    }

    pub fn sql_steps(&self) -> impl Iterator<Item = &SqlStep> {
        self.steps.iter().filter_map(|step| match step {
            Step::Sql(sql) => Some(sql),
            _ => None,
        })
    }

    /// How many SQL statements one run sends.
    pub fn statement_count(&self) -> usize {
        self.sql_steps().count()
    }

    pub fn http_steps(&self) -> impl Iterator<Item = &crate::http::HttpStep> {
        self.steps.iter().filter_map(|step| match step {
            Step::Http(http) => Some(http.as_ref()),
            _ => None,
        })
    }
}

/// Reads `FILE@WEIGHT` (pgbench's `-f` syntax); the weight is 1 when absent.
pub fn split_weight(arg: &str) -> Result<(&str, f64), BenchError> {
    if let Some((path, weight)) = arg.rsplit_once('@') {
        if let Ok(weight) = weight.parse::<u32>() {
            if weight == 0 {
                return Err(BenchError::Argument(format!(
                    "{arg}: a weight must be at least 1"
                )));
            }
            return Ok((path, f64::from(weight)));
        }
    }
    Ok((arg, 1.0))
}

/// Reads a pgbench script (`pgbench -f FILE`): SQL statements ending in `;`, `\set` and
/// `\sleep`. Any other meta-command is an error at its line: brisk would run the script
/// differently from pgbench otherwise.
pub fn parse_pgbench(
    text: &str,
    file: &Path,
    defines: &[(String, String)],
) -> Result<Script, BenchError> {
    let mut script = Script::with_defines(defines);
    let error = |line: usize, message: String| BenchError::Input {
        file: file.display().to_string(),
        line,
        message,
    };
    let mut sql = String::new();
    let mut sql_line = 0;
    let lines: Vec<&str> = text.lines().collect();
    let mut index = 0;
    while index < lines.len() {
        let line_no = index + 1;
        let line = lines[index];
        index += 1;
        let trimmed = line.trim_start();
        if only_trivia(&sql) && trimmed.starts_with('\\') {
            // A meta-command ends at the end of its line; a trailing backslash continues it.
            let mut command = trimmed.to_string();
            while command.ends_with('\\') && index < lines.len() {
                command.pop();
                command.push(' ');
                command.push_str(lines[index]);
                index += 1;
            }
            meta_command(&mut script, &command, line_no).map_err(|m| error(line_no, m))?;
            continue;
        }
        if only_trivia(&sql) {
            sql.clear();
            sql_line = line_no;
        }
        sql.push_str(line);
        sql.push('\n');
        // Statements end at a `;` outside strings, quoted names and comments.
        let mut start = 0;
        let mut line_of_start = sql_line;
        let mut finished = Vec::new();
        for token in Lexer::new(&sql) {
            if token.kind == TokenKind::Semicolon {
                finished.push((line_of_start, start, token.start));
                start = token.start + 1;
                line_of_start = sql_line + sql[..start].matches('\n').count();
            }
        }
        for (line, from, to) in finished {
            push_sql(&mut script, &sql[from..to], line);
        }
        if start > 0 {
            sql = sql[start..].to_string();
            sql_line = line_of_start;
        }
    }
    push_sql(&mut script, &sql, sql_line);
    if script.statement_count() == 0 {
        return Err(error(
            lines.len().max(1),
            "the script has no SQL statement".into(),
        ));
    }
    Ok(script)
}

/// Whether `sql` holds only whitespace and comments.
fn only_trivia(sql: &str) -> bool {
    Lexer::new(sql).all(|token| token.kind.is_trivia())
}

/// Adds a statement unless it is only whitespace and comments.
fn push_sql(script: &mut Script, sql: &str, line: usize) {
    let mut skipped_lines = 0;
    let mut first = None;
    for token in Lexer::new(sql) {
        if !token.kind.is_trivia() {
            first = Some(token.start);
            break;
        }
    }
    let Some(first) = first else { return };
    skipped_lines += sql[..first].matches('\n').count();
    let text = sql[first..].trim_end();
    let step = SqlStep::new(text, &script.vars, line + skipped_lines);
    script.steps.push(Step::Sql(step));
}

fn meta_command(script: &mut Script, command: &str, line: usize) -> Result<(), String> {
    let mut words = command.splitn(2, char::is_whitespace);
    let name = words.next().unwrap_or("");
    let rest = words.next().unwrap_or("").trim();
    match name {
        "\\set" => {
            let mut parts = rest.splitn(2, char::is_whitespace);
            let var = parts.next().unwrap_or("");
            let body = parts.next().unwrap_or("").trim();
            if var.is_empty() || body.is_empty() {
                return Err("\\set needs a variable name and an expression".into());
            }
            if !var
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii())
            {
                return Err(format!("\"{var}\" is not a valid variable name"));
            }
            // The expression may use the variable's old value, so parse before defining.
            let expr = match expr::parse(body, &script.vars) {
                Ok(expr) => expr,
                Err(message) => return Err(format!("\\set {var}: {message}")),
            };
            let slot = script.define(var);
            script.steps.push(Step::Set { slot, expr, line });
            Ok(())
        }
        "\\sleep" => {
            let mut parts = rest.split_whitespace();
            let amount = parts.next().ok_or("\\sleep needs a duration")?;
            let unit = match parts.next().unwrap_or("s") {
                "us" => Duration::from_micros(1),
                "ms" => Duration::from_millis(1),
                "s" => Duration::from_secs(1),
                other => return Err(format!("\\sleep: unknown unit \"{other}\" (us, ms or s)")),
            };
            if parts.next().is_some() {
                return Err("\\sleep takes a number or :variable and a unit".into());
            }
            let amount = expr::parse(amount, &script.vars).map_err(|m| format!("\\sleep: {m}"))?;
            script.steps.push(Step::Sleep { amount, unit });
            Ok(())
        }
        other => Err(format!(
            "{other} is not supported by brisk bench (it reads \\set, \\sleep and SQL)"
        )),
    }
}

/// Reads a plain SQL file (`--sql FILE`): every statement is an operation, named
/// `FILE:LINE` unless a `-- name: NAME` comment line comes before it; `-- weight: N` sets
/// its weight (1 by default).
pub fn parse_sql_file(
    text: &str,
    file: &Path,
    defines: &[(String, String)],
) -> Result<Vec<(String, f64, Script)>, BenchError> {
    let mut operations = Vec::new();
    let mut start = 0;
    let mut pieces = Vec::new();
    for token in Lexer::new(text) {
        if token.kind == TokenKind::Semicolon {
            pieces.push((start, token.start));
            start = token.start + 1;
        }
    }
    pieces.push((start, text.len()));
    let file_name = file
        .file_name()
        .map(|name| name.to_string_lossy().to_string())
        .unwrap_or_else(|| file.display().to_string());
    for (from, to) in pieces {
        let piece = &text[from..to];
        let mut name = None;
        let mut weight = 1.0;
        let mut first = None;
        for token in Lexer::new(piece) {
            match token.kind {
                TokenKind::LineComment => {
                    let line = from_offset(text, from + token.start);
                    let body = token.text.trim_start_matches('-').trim();
                    if let Some(value) = body.strip_prefix("name:") {
                        name = Some(value.trim().to_string());
                    } else if let Some(value) = body.strip_prefix("weight:") {
                        weight = value
                            .trim()
                            .parse::<f64>()
                            .ok()
                            .filter(|w| w.is_finite() && *w > 0.0)
                            .ok_or_else(|| BenchError::Input {
                                file: file.display().to_string(),
                                line,
                                message: format!(
                                    "weight \"{}\" is not a positive number",
                                    value.trim()
                                ),
                            })?;
                    }
                }
                kind if kind.is_trivia() => {}
                _ => {
                    first = Some(token.start);
                    break;
                }
            }
        }
        let Some(first) = first else { continue };
        let line = from_offset(text, from + first);
        let mut script = Script::with_defines(defines);
        let step = SqlStep::new(piece[first..].trim_end(), &script.vars, line);
        script.steps.push(Step::Sql(step));
        let name = name.unwrap_or_else(|| format!("{file_name}:{line}"));
        operations.push((name, weight, script));
    }
    if operations.is_empty() {
        return Err(BenchError::Input {
            file: file.display().to_string(),
            line: 1,
            message: "the file has no SQL statement".into(),
        });
    }
    Ok(operations)
}

/// The 1-based line of a byte offset.
pub fn from_offset(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::Prng;

    fn pgbench(text: &str) -> Result<Script, BenchError> {
        parse_pgbench(text, Path::new("t.sql"), &[])
    }

    /// pgbench's built-in TPC-B-like script, as `pgbench --show-script tpcb-like` prints it.
    const TPCB: &str = r"-- tpcb-like: <builtin: TPC-B (sort of)>
\set aid random(1, 100000 * :scale)
\set bid random(1, 1 * :scale)
\set tid random(1, 10 * :scale)
\set delta random(-5000, 5000)
BEGIN;
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
UPDATE pgbench_tellers SET tbalance = tbalance + :delta WHERE tid = :tid;
UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = :bid;
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime)
  VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP);
END;
";

    #[test]
    fn reads_the_tpcb_script() {
        let script = pgbench(TPCB).unwrap();
        assert_eq!(script.statement_count(), 7);
        let sql: Vec<&SqlStep> = script.sql_steps().collect();
        assert_eq!(sql[0].prepared_text, "BEGIN");
        assert_eq!(sql[0].line, 6);
        assert_eq!(
            sql[1].prepared_text,
            "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2"
        );
        assert_eq!(sql[5].line, 11);
        assert_eq!(
            sql[5].prepared_text,
            "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime)\n  VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)"
        );
        assert_eq!(sql[6].prepared_text, "END");
    }

    #[test]
    fn variables_become_text_in_the_simple_protocol() {
        let script = pgbench(
            "\\set id 7 * 6\nSELECT :id::int, ':id', x::text FROM t WHERE a = :id AND b = :nope;\n",
        )
        .unwrap();
        let Step::Sql(sql) = &script.steps[1] else {
            panic!()
        };
        let mut vars = script.initial.clone();
        let Step::Set { slot, expr, .. } = &script.steps[0] else {
            panic!()
        };
        vars[*slot] = expr.eval(&vars, &mut Prng::seeded(1)).unwrap();
        let mut out = String::new();
        sql.render(&vars, &script.drawn_slots(), &mut out);
        // As pgbench: inside quotes too, never a `::` cast, and unknown names stay.
        assert_eq!(
            out,
            "SELECT 42::int, '42', x::text FROM t WHERE a = 42 AND b = :nope"
        );
        assert_eq!(
            sql.prepared_text,
            "SELECT $1::int, '$1', x::text FROM t WHERE a = $1 AND b = :nope"
        );
        assert_eq!(sql.params.len(), 1);

        // A -D text is pgbench's, written as it is; a drawn one is one quoted value.
        let mut script = Script::with_defines(&[("table".into(), "t".into())]);
        let name = script.define("name");
        let step = SqlStep::new("SELECT * FROM :table WHERE name = :name", &script.vars, 1);
        let mut literals = script.drawn_slots();
        let mut vars = script.initial.clone();
        vars[name] = Value::Text("o'brien \\ x".into());
        step.render(&vars, &literals, &mut out);
        assert_eq!(out, "SELECT * FROM t WHERE name = o'brien \\ x");
        literals[name] = true;
        step.render(&vars, &literals, &mut out);
        assert_eq!(out, "SELECT * FROM t WHERE name = E'o''brien \\\\ x'");
        vars[name] = Value::Int(7);
        step.render(&vars, &literals, &mut out);
        assert_eq!(out, "SELECT * FROM t WHERE name = 7");
    }

    #[test]
    fn multi_line_statements_and_semicolons_in_strings() {
        let script =
            pgbench("SELECT 'a;b'\n  , 2\n;\n-- only a comment\n\nSELECT $$;$$; SELECT 3").unwrap();
        let sql: Vec<(String, usize)> = script
            .sql_steps()
            .map(|s| (s.prepared_text.clone(), s.line))
            .collect();
        assert_eq!(
            sql,
            [
                ("SELECT 'a;b'\n  , 2".to_string(), 1),
                ("SELECT $$;$$".to_string(), 6),
                ("SELECT 3".to_string(), 6)
            ]
        );
    }

    #[test]
    fn unsupported_meta_commands_name_their_line() {
        for (text, line, needle) in [
            ("SELECT 1;\n\\gset\n", 2, "\\gset is not supported"),
            ("\\set a 1\n\n\\setshell x echo 1\n", 3, "\\setshell"),
            ("\\if :a\n", 1, "\\if"),
            ("\\set a random(1)\nSELECT 1;", 1, "takes 2"),
            ("\\set a :b + 1\nSELECT 1;", 1, "undefined variable :b"),
            ("\\set\n", 1, "needs a variable"),
            ("\\sleep 1 minutes\n", 1, "unknown unit"),
            ("-- nothing\n", 1, "no SQL statement"),
        ] {
            let error = pgbench(text).unwrap_err();
            let BenchError::Input {
                line: got, message, ..
            } = &error
            else {
                panic!("{error}")
            };
            assert_eq!(*got, line, "{text:?}: {error}");
            assert!(message.contains(needle), "{text:?}: {error}");
            assert!(error.to_string().starts_with(&format!("t.sql:{line}: ")));
        }
    }

    #[test]
    fn scale_and_defines_are_known() {
        let script = parse_pgbench(
            "\\set n :scale * 2\nSELECT :n, :who;",
            Path::new("t.sql"),
            &[("who".into(), "alice".into())],
        )
        .unwrap();
        let mut vars = script.initial.clone();
        let Step::Set { slot, expr, .. } = &script.steps[0] else {
            panic!()
        };
        vars[*slot] = expr.eval(&vars, &mut Prng::seeded(1)).unwrap();
        let Step::Sql(sql) = &script.steps[1] else {
            panic!()
        };
        let mut out = String::new();
        sql.render(&vars, &script.drawn_slots(), &mut out);
        assert_eq!(out, "SELECT 2, alice");
    }

    #[test]
    fn distributions_drawn_through_scripts_follow_pgbench() {
        // A script's \set draws, seeded: the Zipfian head and the exponential fall-off as the
        // formulas in pgbench's documentation say.
        let script = pgbench(
            "\\set z random_zipfian(1, 100, 2.0)\n\\set e random_exponential(1, 100, 5)\nSELECT 1;",
        )
        .unwrap();
        let mut rng = Prng::seeded(2024);
        let mut vars = script.initial.clone();
        let (mut z1, mut z2, mut e_head) = (0.0, 0.0, 0.0);
        let n = 100_000;
        for _ in 0..n {
            for step in &script.steps {
                if let Step::Set { slot, expr, .. } = step {
                    vars[*slot] = expr.eval(&vars, &mut rng).unwrap();
                }
            }
            let z = &vars[script.vars.slot("z").unwrap()];
            let e = &vars[script.vars.slot("e").unwrap()];
            z1 += f64::from(u8::from(*z == Value::Int(1)));
            z2 += f64::from(u8::from(*z == Value::Int(2)));
            if let Value::Int(e) = e {
                e_head += f64::from(u8::from(*e <= 10));
            }
        }
        assert!((z1 / z2 - 4.0).abs() < 0.25, "zipf 2.0: {}", z1 / z2);
        let expected = (1.0 - (-0.5f64).exp()) / (1.0 - (-5.0f64).exp());
        assert!((e_head / n as f64 - expected).abs() < 0.01);
    }

    #[test]
    fn sql_files_split_into_named_weighted_operations() {
        let ops = parse_sql_file(
            "-- name: one\n-- weight: 3\nSELECT 1;\n\nSELECT ';'\n  FROM t;\n-- trailing comment\n",
            Path::new("/tmp/q.sql"),
            &[],
        )
        .unwrap();
        let summary: Vec<(String, f64, usize)> = ops
            .iter()
            .map(|(name, weight, script)| {
                (
                    name.clone(),
                    *weight,
                    script.sql_steps().next().unwrap().line,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [("one".to_string(), 3.0, 3), ("q.sql:5".to_string(), 1.0, 5)]
        );
        let error = parse_sql_file("-- weight: lots\nSELECT 1;", Path::new("q.sql"), &[])
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("q.sql:1: weight"), "{error}");
    }

    #[test]
    fn weights_after_at() {
        assert_eq!(split_weight("q.sql@3").unwrap(), ("q.sql", 3.0));
        assert_eq!(split_weight("q.sql").unwrap(), ("q.sql", 1.0));
        assert_eq!(split_weight("a@b.sql").unwrap(), ("a@b.sql", 1.0));
        assert!(split_weight("q.sql@0").is_err());
    }
}
