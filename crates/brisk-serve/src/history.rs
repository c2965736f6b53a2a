//! History without setup: a background task samples the key figures every few seconds into
//! a bounded ring, so the charts have data from the first minute. With a history file, each
//! sample is also appended there as one JSON line, and the ring is read back at start.
//!
//! A sample holds the cumulative counters as the servers report them; rates and ratios are
//! differences between neighbouring samples ([`History::series`]), and a counter that went
//! backwards (a stats reset, a restart) leaves a gap instead of a negative rate.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use brisk_pg::catalog::{self, StatementsStatus};
use brisk_pg::{PgError, Session};
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::ServeError;

/// One reading of the servers. Counters are cumulative; `None` when it could not be read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Seconds since the Unix epoch.
    pub at: f64,
    /// Client connections, and those running a statement.
    pub connections: Option<u64>,
    pub active: Option<u64>,
    /// `pg_stat_database` of the current database.
    pub blocks_hit: Option<i64>,
    pub blocks_read: Option<i64>,
    /// Timed plus requested checkpoints.
    pub checkpoints: Option<i64>,
    /// `pg_stat_statements` of the current database, brisk's own left out.
    pub statement_calls: Option<i64>,
    pub statement_ms: Option<f64>,
    /// Redis `used_memory`, `keyspace_hits` and `keyspace_misses`.
    pub redis_memory: Option<u64>,
    pub redis_hits: Option<u64>,
    pub redis_misses: Option<u64>,
    /// The top statements by total time (at most [`TOP_STATEMENTS`]), by queryid, for the
    /// per-query charts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statements: Vec<StatementSample>,
}

/// How many statements each sample keeps: the top ones by total time hold nearly all of it,
/// and the ring stays small (a sample of 50 is about 3 kB of JSON).
pub const TOP_STATEMENTS: usize = 50;

/// One statement's cumulative counters in a sample (summed over users and databases'
/// rows of the same queryid in the current database).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatementSample {
    pub id: i64,
    pub calls: i64,
    pub ms: f64,
}

/// The ring of samples, and the file it is kept in.
#[derive(Debug)]
pub struct History {
    samples: VecDeque<Sample>,
    capacity: usize,
    file: Option<PathBuf>,
    /// Lines in the file; once it holds twice the ring, it is rewritten with the ring only.
    file_lines: usize,
}

/// A series for a chart: (seconds since the Unix epoch, value).
pub type Points = Vec<(f64, f64)>;

impl History {
    pub fn new(capacity: usize) -> History {
        History {
            samples: VecDeque::with_capacity(capacity.min(1024)),
            capacity: capacity.max(2),
            file: None,
            file_lines: 0,
        }
    }

    /// Reads the samples kept in `path` (a missing file is an empty history); lines that do
    /// not parse (a line cut by a crash) are skipped.
    pub fn load(path: &Path, capacity: usize) -> Result<History, ServeError> {
        let mut history = History::new(capacity);
        history.file = Some(path.to_path_buf());
        let error = |e: std::io::Error| ServeError::History {
            path: path.to_path_buf(),
            detail: e.to_string(),
        };
        match File::open(path) {
            Ok(file) => {
                for line in BufReader::new(file).lines() {
                    let line = line.map_err(error)?;
                    history.file_lines += 1;
                    if let Ok(sample) = serde_json::from_str::<Sample>(&line) {
                        history.push_in_memory(sample);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(error(e)),
        }
        // Fail now, not at the first sample, when the file cannot be written.
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(error)?;
        Ok(history)
    }

    fn push_in_memory(&mut self, sample: Sample) {
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
    }

    /// Adds a sample, and appends it to the file. A file error is returned but the sample
    /// stays in memory.
    pub fn push(&mut self, sample: Sample) -> std::io::Result<()> {
        let line = serde_json::to_string(&sample).unwrap_or_default();
        self.push_in_memory(sample);
        let Some(path) = self.file.clone() else {
            return Ok(());
        };
        if self.file_lines >= 2 * self.capacity {
            // Rewrite with the ring only, through a temporary file, so a crash leaves one
            // of the two whole.
            let temporary = path.with_extension("tmp");
            let mut out = File::create(&temporary)?;
            for sample in &self.samples {
                writeln!(out, "{}", serde_json::to_string(sample).unwrap_or_default())?;
            }
            out.sync_all()?;
            std::fs::rename(&temporary, &path)?;
            self.file_lines = self.samples.len();
        } else {
            let mut out = OpenOptions::new().create(true).append(true).open(&path)?;
            writeln!(out, "{line}")?;
            self.file_lines += 1;
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    pub fn last(&self) -> Option<&Sample> {
        self.samples.back()
    }

    /// A gauge: the value of each sample that has one.
    pub fn gauge(&self, value: impl Fn(&Sample) -> Option<f64>) -> Points {
        self.samples
            .iter()
            .filter_map(|s| Some((s.at, value(s)?)))
            .collect()
    }

    /// A counter's rate per second between neighbouring samples, at the later one.
    pub fn rate(&self, counter: impl Fn(&Sample) -> Option<f64>) -> Points {
        self.pairs(|a, b| {
            let (x, y) = (counter(a)?, counter(b)?);
            let seconds = b.at - a.at;
            (y >= x && seconds > 0.0).then(|| (y - x) / seconds)
        })
    }

    /// The share, in percent, of `part` in `part + rest` between neighbouring samples (a
    /// hit ratio over each interval rather than since the statistics were reset). Intervals
    /// with no lookups leave a gap.
    pub fn ratio(
        &self,
        part: impl Fn(&Sample) -> Option<f64>,
        rest: impl Fn(&Sample) -> Option<f64>,
    ) -> Points {
        self.pairs(|a, b| {
            let hits = part(b)? - part(a)?;
            let misses = rest(b)? - rest(a)?;
            (hits >= 0.0 && misses >= 0.0 && hits + misses > 0.0)
                .then(|| 100.0 * hits / (hits + misses))
        })
    }

    /// One statement's calls per second between neighbouring samples that both hold it.
    pub fn statement_rate(&self, id: i64) -> Points {
        self.pairs(|a, b| {
            let (x, y) = (statement(a, id)?, statement(b, id)?);
            let seconds = b.at - a.at;
            (y.calls >= x.calls && seconds > 0.0).then(|| (y.calls - x.calls) as f64 / seconds)
        })
    }

    /// One statement's mean time per call over each interval in which it ran.
    pub fn statement_mean(&self, id: i64) -> Points {
        self.pairs(|a, b| {
            let (x, y) = (statement(a, id)?, statement(b, id)?);
            (y.calls > x.calls && y.ms >= x.ms).then(|| (y.ms - x.ms) / (y.calls - x.calls) as f64)
        })
    }

    fn pairs(&self, value: impl Fn(&Sample, &Sample) -> Option<f64>) -> Points {
        self.samples
            .iter()
            .zip(self.samples.iter().skip(1))
            .filter_map(|(a, b)| Some((b.at, value(a, b)?)))
            .collect()
    }
}

fn statement(sample: &Sample, id: i64) -> Option<&StatementSample> {
    sample.statements.iter().find(|s| s.id == id)
}

pub fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Samples forever, every `sample_every`; a server that cannot be reached leaves its fields
/// empty for that sample and is tried again at the next.
pub async fn run_sampler(app: Arc<App>) {
    let mut interval = tokio::time::interval(app.options.sample_every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut session: Option<Session> = None;
    let mut statements_schema: Option<String> = None;
    loop {
        interval.tick().await;
        let mut sample = Sample {
            at: now_secs(),
            ..Sample::default()
        };
        if session.is_none() {
            session = app.session().await.ok();
            statements_schema = None;
        }
        if let Some(open) = &session {
            if read_postgres(open, &mut statements_schema, &mut sample)
                .await
                .is_err()
            {
                // A broken connection is replaced at the next tick.
                session = None;
            }
        }
        if let Some(target) = &app.options.redis {
            if let Ok(node) = brisk_redis::NodeState::read(target).await {
                let info = |name: &str| node.info.get(name).and_then(|v| v.parse().ok());
                sample.redis_memory = info("used_memory");
                sample.redis_hits = info("keyspace_hits");
                sample.redis_misses = info("keyspace_misses");
            }
        }
        let pushed = match app.history.lock() {
            Ok(mut history) => history.push(sample),
            Err(_) => return,
        };
        if let Err(e) = pushed {
            eprintln!("brisk serve: the history file could not be written: {e}");
        }
    }
}

async fn read_postgres(
    session: &Session,
    statements_schema: &mut Option<String>,
    sample: &mut Sample,
) -> Result<(), PgError> {
    session.begin().await?;
    if statements_schema.is_none() {
        let settings = catalog::settings(session).await?;
        if let StatementsStatus::Ready { schema, .. } =
            catalog::statements_status(session, &settings).await?
        {
            *statements_schema = Some(schema);
        }
    }
    let checkpoints = if session.server().version_num >= 170_000 {
        "(SELECT num_timed + num_requested FROM pg_stat_checkpointer)"
    } else {
        "(SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter)"
    };
    let sql = format!(
        "/* brisk */ SELECT
           (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int8,
           (SELECT count(*) FROM pg_stat_activity
             WHERE backend_type = 'client backend' AND state = 'active'
               AND query NOT LIKE '/* brisk */%')::int8,
           blks_hit, blks_read, {checkpoints}::int8
         FROM pg_stat_database WHERE datname = current_database()"
    );
    let rows = session.query("sampling statistics", &sql, &[]).await?;
    if let Some(row) = rows.first() {
        sample.connections = row
            .get::<_, Option<i64>>(0)
            .and_then(|v| u64::try_from(v).ok());
        sample.active = row
            .get::<_, Option<i64>>(1)
            .and_then(|v| u64::try_from(v).ok());
        sample.blocks_hit = row.get(2);
        sample.blocks_read = row.get(3);
        sample.checkpoints = row.get(4);
    }
    if let Some(schema) = statements_schema.as_deref() {
        let sql = format!(
            "/* brisk */ SELECT coalesce(sum(calls), 0)::int8, coalesce(sum(total_exec_time), 0)::float8
               FROM {}.pg_stat_statements
              WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                AND query NOT LIKE '/* brisk */%'",
            catalog::quote_ident(schema)
        );
        let rows = session
            .query("sampling pg_stat_statements", &sql, &[])
            .await?;
        if let Some(row) = rows.first() {
            sample.statement_calls = row.get(0);
            sample.statement_ms = row.get(1);
        }
        let sql = format!(
            "/* brisk */ SELECT queryid, sum(calls)::int8, sum(total_exec_time)::float8
               FROM {}.pg_stat_statements
              WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                AND queryid IS NOT NULL AND query NOT LIKE '/* brisk */%'
              GROUP BY queryid ORDER BY 3 DESC LIMIT {TOP_STATEMENTS}",
            catalog::quote_ident(schema)
        );
        let rows = session
            .query("sampling the top statements", &sql, &[])
            .await?;
        sample.statements = rows
            .iter()
            .map(|row| StatementSample {
                id: row.get(0),
                calls: row.get::<_, Option<i64>>(1).unwrap_or(0),
                ms: row.get::<_, Option<f64>>(2).unwrap_or(0.0),
            })
            .collect();
    }
    session.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: f64, calls: i64) -> Sample {
        Sample {
            at: t,
            statement_calls: Some(calls),
            blocks_hit: Some(calls * 9),
            blocks_read: Some(calls),
            ..Sample::default()
        }
    }

    #[test]
    fn the_ring_keeps_the_newest_samples() {
        let mut history = History::new(3);
        for t in 0..10 {
            history.push(at(f64::from(t), 0)).unwrap();
        }
        assert_eq!(history.len(), 3);
        assert_eq!(history.last().unwrap().at, 9.0);
        assert_eq!(
            history.gauge(|s| Some(s.at)),
            vec![(7.0, 7.0), (8.0, 8.0), (9.0, 9.0)]
        );
    }

    #[test]
    fn rates_skip_counters_that_went_backwards() {
        let mut history = History::new(10);
        for (t, calls) in [(0.0, 100), (10.0, 200), (20.0, 5), (30.0, 35)] {
            history.push(at(t, calls)).unwrap();
        }
        // 100 calls in 10 s, a reset (gap), then 30 calls in 10 s.
        let rate = history.rate(|s| s.statement_calls.map(|c| c as f64));
        assert_eq!(rate, vec![(10.0, 10.0), (30.0, 3.0)]);
        let ratio = history.ratio(
            |s| s.blocks_hit.map(|v| v as f64),
            |s| s.blocks_read.map(|v| v as f64),
        );
        assert_eq!(ratio, vec![(10.0, 90.0), (30.0, 90.0)]);
    }

    #[test]
    fn a_statements_series_needs_it_in_both_samples() {
        let mut history = History::new(10);
        let with = |t: f64, statements: Vec<StatementSample>| Sample {
            at: t,
            statements,
            ..Sample::default()
        };
        let s = |id, calls, ms| StatementSample { id, calls, ms };
        history.push(with(0.0, vec![s(1, 10, 100.0)])).unwrap();
        history
            .push(with(10.0, vec![s(1, 30, 140.0), s(2, 5, 5.0)]))
            .unwrap();
        history.push(with(20.0, vec![s(2, 5, 5.0)])).unwrap();
        history.push(with(30.0, vec![s(2, 15, 25.0)])).unwrap();
        // 20 calls in 10 s, 2 ms each; then statement 1 left the top: no point.
        assert_eq!(history.statement_rate(1), vec![(10.0, 2.0)]);
        assert_eq!(history.statement_mean(1), vec![(10.0, 2.0)]);
        // Idle for an interval: a rate of 0, no mean.
        assert_eq!(history.statement_rate(2), vec![(20.0, 0.0), (30.0, 1.0)]);
        assert_eq!(history.statement_mean(2), vec![(30.0, 2.0)]);
    }

    #[test]
    fn the_file_is_read_back_and_compacted_to_the_ring() {
        let dir = std::env::temp_dir().join(format!("brisk-serve-history-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("history.jsonl");
        let _ = std::fs::remove_file(&path);
        {
            let mut history = History::load(&path, 4).unwrap();
            for t in 0..11 {
                history.push(at(f64::from(t), t.into())).unwrap();
            }
        }
        // 11 appends with a ring of 4: rewritten at the 9th, then 3 more lines (4 + 2).
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert!(lines <= 8, "{lines} lines: the file was not compacted");
        // A torn last line is skipped.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"at\": 12.0, \"connect")
            .unwrap();
        let history = History::load(&path, 4).unwrap();
        assert_eq!(history.len(), 4);
        assert_eq!(history.last().unwrap().at, 10.0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
