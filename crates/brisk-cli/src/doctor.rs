//! `brisk doctor`: arguments, wiring, the progress display and where the report goes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use brisk_doctor::{render, Doctor, Options};
use clap::Args;

use crate::output::{Format, Progress};

const EXAMPLES: &str = "\
Examples:
  brisk doctor                                   # the demo: planted problems, fixed and measured
  brisk doctor postgres://app@db.internal/app --redis redis://cache.internal:6379 --out report/
  brisk doctor URL --workload capture.jsonl --verify-on postgres://app@staging/app
  brisk doctor URL --bench scenario.toml --verify-on postgres://app@staging/app --format json";

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct DoctorArgs {
    /// A libpq URL (postgres://user@host:5432/db) or key=value string of the database to
    /// diagnose; it is only read. Without one (and without PG* variables), brisk runs its
    /// demo: a throwaway PostgreSQL and Redis with planted problems, fixed and measured.
    url: Option<String>,

    /// A Redis (redis:// or rediss://) to analyze as well: memory by pattern, keys without a
    /// TTL, what compression would save. Read-only.
    #[arg(long, value_name = "URL")]
    redis: Option<String>,

    /// PostgreSQL log files to analyze as well (stderr with any log_line_prefix, csvlog,
    /// jsonlog, compressed or not; repeatable). Their slow statements and N+1 patterns join
    /// the findings.
    #[arg(long, value_name = "FILE")]
    logs: Vec<PathBuf>,

    /// The workload: JSON lines (a brisk proxy capture, docs/workload.md) or a .sql file.
    /// Without it, pg_stat_statements. A capture's values let the fixes be benched.
    #[arg(long, value_name = "FILE")]
    workload: Option<PathBuf>,

    /// Bench this scenario (docs/bench.md) before and after the fixes instead of the
    /// workload's statements. Needs --verify-on.
    #[arg(long, value_name = "FILE")]
    bench: Option<PathBuf>,

    /// A database you name as safe to change (a staging copy): brisk benches it, applies the
    /// safe fixes there (indexes, ALTER ROLE ... SET work_mem), benches again, and rolls the
    /// fixes back. Without it nothing is applied anywhere and every saving is estimated.
    #[arg(long, value_name = "URL")]
    verify_on: Option<String>,

    /// Write report.html, report.md, report.json and migrations/ into DIR. Without it they
    /// go into a new temporary directory, whose path is printed.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,

    /// What to print: the text summary, or report.json.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,

    /// Length of each bench run, before and after the fixes.
    #[arg(long, value_name = "SECONDS",
          default_value_t = brisk_doctor::measure::DEFAULT_BENCH_DURATION.as_secs_f64())]
    bench_secs: f64,
}

impl DoctorArgs {
    fn bench_duration(&self) -> anyhow::Result<Duration> {
        if !(self.bench_secs.is_finite() && (1.0..=3600.0).contains(&self.bench_secs)) {
            bail!("--bench-secs {}: give 1 to 3600 seconds", self.bench_secs);
        }
        Ok(Duration::from_secs_f64(self.bench_secs))
    }

    /// `--out`, checked before any work; `None`: a temporary directory, made when the report
    /// is written (so bad input leaves nothing behind).
    fn out_dir(&self) -> anyhow::Result<Option<PathBuf>> {
        match &self.out {
            Some(dir) if dir.exists() && !dir.is_dir() => {
                bail!("--out {}: not a directory", dir.display())
            }
            other => Ok(other.clone()),
        }
    }

    fn workload(&self) -> anyhow::Result<Option<brisk_workload::Workload>> {
        let Some(path) = &self.workload else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --workload {}", path.display()))?;
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("sql"))
        {
            let samples = brisk_sql::split(&text)
                .into_iter()
                .map(|s| brisk_workload::QuerySample::new(s.text.trim().to_string()))
                .collect();
            return Ok(Some(brisk_workload::Workload { samples }));
        }
        let workload = brisk_workload::read_jsonl(text.as_bytes())
            .with_context(|| format!("--workload {}", path.display()))?;
        Ok(Some(workload))
    }

    fn bench_plan(&self) -> anyhow::Result<Option<brisk_bench::Plan>> {
        let Some(path) = &self.bench else {
            return Ok(None);
        };
        let scenario = brisk_bench::scenario::read_scenario(path, &[])?;
        let plan = scenario.plan(Default::default(), Vec::new(), false, Default::default())?;
        Ok(Some(plan))
    }
}

pub async fn run(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let demo = crate::connect::nothing_named(args.url.as_deref());
    if demo {
        for (given, flag) in [
            (args.redis.is_some(), "--redis"),
            (args.workload.is_some(), "--workload"),
            (!args.logs.is_empty(), "--logs"),
            (args.bench.is_some(), "--bench"),
            (args.verify_on.is_some(), "--verify-on"),
        ] {
            if given {
                bail!("{flag} needs the URL of the database to diagnose (brisk doctor URL {flag} ...); without a URL brisk runs its demo");
            }
        }
    }
    if args.bench.is_some() && args.verify_on.is_none() {
        bail!("--bench runs the scenario before and after the fixes, so it needs --verify-on URL: a database you name as safe to change");
    }
    let duration = args.bench_duration()?;
    let out = args.out_dir()?;
    let work = async {
        let progress = Progress::start("brisk doctor");
        let step = |message: &str| progress.step(message);
        let (doctor, demo_servers) = if demo {
            let (doctor, servers) = brisk_doctor::demo::run(&step, duration).await?;
            (doctor, Some(servers))
        } else {
            let mut options = Options::new(args.url.clone().unwrap_or_default());
            options.redis = args.redis.clone();
            options.logs = args.logs.clone();
            options.workload = args.workload()?;
            options.bench = args.bench_plan()?;
            options.verify_on = args.verify_on.clone();
            options.bench_duration = duration;
            (brisk_doctor::run(&options, &step).await?, None)
        };
        progress.step("writing the report");
        let out = match out {
            Some(dir) => dir,
            None => tempfile::Builder::new()
                .prefix("brisk-doctor-")
                .tempdir()
                .context("cannot create a directory for the report")?
                .keep(),
        };
        render::write_all(&doctor, &out)?;
        drop(progress);
        if let Some(servers) = demo_servers {
            // The app's traffic as the proxy captured it: brisk advise --workload reads it.
            let capture = out.join("capture.jsonl");
            std::fs::write(&capture, &servers.capture)
                .with_context(|| format!("cannot write {}", capture.display()))?;
            tokio::task::spawn_blocking(move || drop(servers)).await?;
        }
        print(&doctor, &out, args.format);
        Ok(ExitCode::SUCCESS)
    };
    tokio::select! {
        result = work => result,
        _ = tokio::signal::ctrl_c() => {
            brisk_sandbox::stop_all();
            eprintln!("brisk: interrupted");
            Ok(ExitCode::from(130))
        }
    }
}

fn print(doctor: &Doctor, out: &Path, format: Format) {
    let report = out.join("report.html");
    match format {
        Format::Text => anstream::print!("{}", render::text(doctor, Some(&report))),
        Format::Json => println!("{}", render::json(doctor)),
    }
}
