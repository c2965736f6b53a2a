//! Output choices shared by the commands that print a report: format, `--fail-on`, and
//! progress on a terminal.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use brisk_report::{Report, Severity, TextOptions};
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people: grouped by severity, colored on a terminal.
    Text,
    /// For programs: the stable schema of docs/json-report.md.
    Json,
}

/// The least severe finding that makes a command exit with status 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Never: exit 0 whatever was found.
    None,
    Warning,
    Critical,
}

impl FailOn {
    fn threshold(self) -> Option<Severity> {
        match self {
            FailOn::None => None,
            FailOn::Warning => Some(Severity::Warning),
            FailOn::Critical => Some(Severity::Critical),
        }
    }
}

/// How a report is printed.
#[derive(Debug, Clone, Copy)]
pub struct Emit {
    pub format: Format,
    pub fail_on: Option<FailOn>,
    /// Text only: at most this many findings per check and severity; 0 shows all.
    pub limit: usize,
}

/// Prints `report` and returns the exit code `--fail-on` asks for.
pub fn emit(report: &Report, how: Emit) -> anyhow::Result<ExitCode> {
    let Emit {
        format,
        fail_on,
        limit,
    } = how;
    match format {
        Format::Text => {
            let options = TextOptions {
                max_per_check: (limit > 0).then_some(limit),
                width: text_width(),
            };
            // anstream strips the styles when stdout is not a terminal or NO_COLOR is set.
            let mut out = anstream::stdout();
            out.write_all(brisk_report::render_text_with(report, options).as_bytes())?;
            out.flush()?;
        }
        Format::Json => {
            let mut out = std::io::stdout().lock();
            out.write_all(brisk_report::render_json(report).as_bytes())?;
            out.flush()?;
        }
    }
    let failed = match (fail_on.and_then(FailOn::threshold), report.max_severity()) {
        (Some(threshold), Some(worst)) => worst >= threshold,
        _ => false,
    };
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The width to wrap a report to: `COLUMNS` when set (as `ls` reads it), else the terminal's
/// width, at most 120 columns because longer lines of prose are hard to read; when stdout is
/// not a terminal, brisk_report's default.
fn text_width() -> usize {
    const MAX: usize = 120;
    let columns = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok());
    let terminal =
        || terminal_size::terminal_size_of(std::io::stdout()).map(|(w, _)| usize::from(w.0));
    columns
        .or_else(terminal)
        .map_or(brisk_report::DEFAULT_WIDTH, |w| w.min(MAX))
}

/// Prints the checks (or rules) a command runs, for `--list-checks`: aligned columns, or a
/// JSON array of `{"id", "about"}` objects.
pub fn list_checks<'a>(
    checks: impl Iterator<Item = (&'a str, &'a str)>,
    format: Format,
) -> anyhow::Result<()> {
    let checks: Vec<(&str, &str)> = checks.collect();
    let mut out = std::io::stdout().lock();
    match format {
        Format::Text => {
            let width = checks.iter().map(|(id, _)| id.len()).max().unwrap_or(0);
            for (id, about) in &checks {
                writeln!(out, "{id:<width$}  {about}")?;
            }
        }
        Format::Json => {
            // Written by hand so that "id" comes first (serde_json's maps sort their keys).
            writeln!(out, "[")?;
            for (i, (id, about)) in checks.iter().enumerate() {
                let comma = if i + 1 < checks.len() { "," } else { "" };
                writeln!(
                    out,
                    "  {{\"id\": {}, \"about\": {}}}{comma}",
                    serde_json::to_string(id)?,
                    serde_json::to_string(about)?
                )?;
            }
            writeln!(out, "]")?;
        }
    }
    out.flush()?;
    Ok(())
}

/// The exit code `--fail-on` asks for, for commands that print their report themselves.
pub fn fail_on_code(report: &Report, fail_on: FailOn) -> ExitCode {
    match (fail_on.threshold(), report.max_severity()) {
        (Some(threshold), Some(worst)) if worst >= threshold => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    }
}

/// A spinner on stderr while long work runs. indicatif hides it when stderr is not a
/// terminal, so piped and CI output stays clean.
pub struct Progress(ProgressBar);

impl Progress {
    pub fn start(message: &str) -> Progress {
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            bar.set_style(style);
        }
        bar.set_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        Progress(bar)
    }

    pub fn step(&self, message: &str) {
        self.0.set_message(message.to_string());
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
