//! A compiled script run as one job: one pipeline per `INSERT INTO`, all started together
//! once every source and sink has opened.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sluice_dataflow::sink::{Delivery, Sink};
use sluice_dataflow::window::WindowSpec;
use sluice_dataflow::{Job, JobHandle, JobReport, Pipeline};
use sluice_log::{Log, LogOptions};

use crate::adapt::{BoxedSink, BoxedSource, StepSink};
use crate::compile::{Insert, Script};
use crate::connector;
use crate::control::JobControl;
use crate::error::{ErrorKind, Pos, Result, SqlError};
use crate::exactly_once::Plan;
use crate::steps::Step;
use crate::tvf::TvfKind;

/// How to run a script.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Data directory of the embedded log (for `'connector' = 'sluice'` tables).
    pub data_dir: Option<PathBuf>,
    /// Parallelism of every pipeline; default `parallelism.default` from `SET`, else 1.
    pub parallelism: Option<usize>,
    /// Directory relative paths in `WITH` options are resolved from; default the current one.
    pub base_dir: Option<PathBuf>,
    /// The job's name unless the file sets `'pipeline.name'` (the CLI passes the file's stem);
    /// default `job`. It names the job's checkpoints.
    pub job_name: Option<String>,
    /// Checkpoints on, this often; overrides `SET 'execution.checkpointing.interval'`.
    pub checkpoint_interval: Option<Duration>,
    /// Start over instead of resuming from the job's latest checkpoint.
    pub fresh: bool,
    /// Start from this savepoint (`<dir>/<job>/savepoints/<name>`) or checkpoint
    /// (`<dir>/<job>/chk-<id>`) folder, at any parallelism.
    pub from_savepoint: Option<PathBuf>,
    /// Run only this partition of the job's Kafka source: one task of an instance of a job
    /// that scales out over its consumer group (see [`crate::scale_out`]). Its checkpoints are
    /// job `<name>.p<partition>`, its transactional ids `<prefix>.p<partition>`.
    pub partition: Option<usize>,
}

fn window_spec(kind: TvfKind) -> std::result::Result<WindowSpec, sluice_dataflow::DataflowError> {
    match kind {
        TvfKind::Tumble { size } => WindowSpec::tumbling(size),
        TvfKind::Hop { slide, size } => WindowSpec::hop(size, slide),
        TvfKind::Session { gap } => WindowSpec::session(gap),
    }
}

fn add_step(p: Pipeline, step: &Step) -> Pipeline {
    let step = step.clone();
    match step {
        Step::Filter { .. } => p.filter(move |b| step.mask(b)),
        _ => p.map(move |b| step.apply(b)),
    }
}

/// The running job: one pipeline per INSERT.
pub struct RunningJob {
    jobs: Vec<(String, Job)>,
    control: JobControl,
    notes: Vec<String>,
}

impl RunningJob {
    /// Handles that stop the pipelines (for Ctrl-C).
    #[must_use]
    pub fn handles(&self) -> Vec<JobHandle> {
        self.jobs.iter().map(|(_, j)| j.handle()).collect()
    }

    /// Stops the job or takes savepoints, from another thread.
    #[must_use]
    pub fn control(&self) -> JobControl {
        self.control.clone()
    }

    /// Lines for the user at start: how the job is checkpointed, and which sinks are only
    /// at-least-once although checkpoints are on.
    #[must_use]
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Whether every pipeline has ended (then [`join`](Self::join) does not block).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.jobs.iter().all(|(_, j)| j.is_finished())
    }

    /// Waits for every pipeline; the first error wins, after all have stopped.
    ///
    /// # Errors
    /// A pipeline's error, naming its INSERT.
    pub fn join(self) -> Result<Vec<(String, JobReport)>> {
        let mut reports = Vec::new();
        let mut first = None;
        for (name, job) in self.jobs {
            match job.join() {
                Ok(r) => reports.push((name, r)),
                Err(e) => {
                    first.get_or_insert(SqlError::new(
                        ErrorKind::Runtime,
                        Pos::default(),
                        format!("{name}: {e}"),
                    ));
                }
            }
        }
        first.map_or(Ok(reports), Err)
    }
}

impl Script {
    /// The job's name if it runs with checkpoints (`None` without): what its checkpoints and
    /// savepoints are stored under. Known before anything opens, so that a caller can make
    /// sure no other run of the same job is alive before [`spawn`](Self::spawn) settles the
    /// transactions earlier runs left (which would abort a live run's open ones).
    ///
    /// # Errors
    /// A bad checkpoint setting, job name or savepoint path.
    pub fn checkpointed_name(&self, options: &RunOptions) -> Result<Option<String>> {
        let base = options.base_dir.clone().unwrap_or_else(|| PathBuf::from("."));
        Ok(Plan::of(self, options, &base)?.map(|p| p.name))
    }

    /// Starts every INSERT's pipeline. Nothing starts unless every source and sink opens.
    ///
    /// # Errors
    /// A source or sink that cannot open, a bad option.
    pub fn spawn(&self, options: &RunOptions) -> Result<RunningJob> {
        let base = options.base_dir.clone().unwrap_or_else(|| PathBuf::from("."));
        let parallelism = match (options.parallelism, self.settings.get("parallelism.default")) {
            (Some(n), _) => n,
            (None, Some(v)) => v.parse().map_err(|_| {
                SqlError::new(
                    ErrorKind::Option,
                    Pos::default(),
                    format!("'parallelism.default' must be a number, not '{v}'"),
                )
            })?,
            (None, None) => 1,
        };
        let batch_size = match self.settings.get("sluice.batch-size") {
            Some(v) => v.parse().map_err(|_| {
                SqlError::new(
                    ErrorKind::Option,
                    Pos::default(),
                    format!("'sluice.batch-size' must be a number, not '{v}'"),
                )
            })?,
            None => 4096,
        };
        let plan = Plan::of(self, options, &base)?;
        let log = self.open_log(options.data_dir.as_deref())?;
        let mut notes: Vec<String> = plan.iter().map(Plan::describe).collect();
        let mut pipelines = Vec::new();
        for (i, insert) in self.inserts.iter().enumerate() {
            let (name, mut p) = self.pipeline(
                i,
                insert,
                (&base, log.as_ref(), options.partition),
                parallelism,
                plan.as_ref(),
                &mut notes,
            )?;
            if let Some(plan) = &plan {
                p = p.checkpointing(plan.checkpointing(i)?);
            }
            pipelines.push((name, p.batch_size(batch_size)));
        }
        let mut jobs = Vec::new();
        for (name, p) in pipelines {
            match p.spawn() {
                Ok(job) => jobs.push((name, job)),
                Err(e) => {
                    for (_, j) in &jobs {
                        j.handle().stop();
                    }
                    return Err(SqlError::new(ErrorKind::Runtime, Pos::default(), format!("{name}: {e}")));
                }
            }
        }
        let handles = jobs.iter().map(|(name, j)| (name.clone(), j.handle())).collect();
        Ok(RunningJob { jobs, control: JobControl { plan, handles }, notes })
    }

    /// Opens the embedded log if a table uses it: for writing if a `sluice` table is written
    /// (that takes the data directory's lock), else read-only, so that producers can keep
    /// appending to the topics the job follows.
    fn open_log(&self, data_dir: Option<&Path>) -> Result<Option<Log>> {
        let is_log = |name: &str| {
            self.catalog.tables.get(name).is_some_and(|t| t.def.option("connector") == Some("sluice"))
        };
        let reads = self.inserts.iter().any(|i| is_log(&i.plan.source));
        let writes =
            self.inserts.iter().any(|i| is_log(&i.target) || i.late.as_ref().is_some_and(|(t, _)| is_log(t)));
        if !reads && !writes {
            return Ok(None);
        }
        let dir = data_dir.unwrap_or(Path::new("./sluice-data"));
        Log::open(dir, LogOptions::default().read_only(!writes)).map(Some).map_err(|e| {
            SqlError::new(
                ErrorKind::Runtime,
                Pos::default(),
                format!("cannot open data directory {}: {e}", dir.display()),
            )
        })
    }

    fn pipeline(
        &self,
        i: usize,
        insert: &Insert,
        (base, log, partition): (&Path, Option<&Log>, Option<usize>),
        parallelism: usize,
        plan: Option<&Plan>,
        notes: &mut Vec<String>,
    ) -> Result<(String, Pipeline)> {
        let name = format!("insert {} into {}", i + 1, insert.target);
        let src = self
            .catalog
            .tables
            .get(&insert.plan.source)
            .ok_or_else(|| SqlError::new(ErrorKind::Unknown, insert.pos, "source"))?;
        let sink_table = self
            .catalog
            .tables
            .get(&insert.target)
            .ok_or_else(|| SqlError::new(ErrorKind::Unknown, insert.pos, "sink"))?;
        if plan.is_some() {
            connector::check_replayable(src, base)?;
        }
        let mut source =
            connector::source_part(src, base, log, partition).map_err(|e| e.or_at(insert.pos))?;
        let mut steps: Vec<Step> = connector::computed_step(src)?.into_iter().collect();
        steps.extend(insert.plan.pre.iter().cloned());
        let rate = self.rows_per_second()?;
        if !steps.is_empty() || rate.is_some() {
            let schema = steps.iter().rev().find_map(Step::output_schema).unwrap_or_else(|| source.schema());
            let mut s = connector::StepsSource::new(source, steps, schema);
            if let Some(rate) = rate {
                s = s.rows_per_second(rate);
            }
            source = Box::new(s);
        }
        let sink_options = |table: &str| connector::SinkOptions {
            index: i,
            checkpointing: plan.is_some(),
            transaction_prefix: plan
                .and_then(|p| p.jobs.get(i))
                .map_or_else(String::new, |j| format!("{j}.{table}")),
            input_offsets: input_offsets(src, plan),
            partition,
        };
        let sink = connector::sink(sink_table, base, log, &sink_options(&insert.target))?;
        note_delivery(notes, plan, &insert.target, sink.as_ref());
        let mut p = Pipeline::new(&name).parallelism(parallelism).linger(Duration::from_millis(5));
        p = p.source(BoxedSource(source));
        if let Some(w) = &insert.plan.window {
            p = p.event_time(
                &w.tvf.time_column,
                Duration::from_millis(u64::try_from(w.bound_ms).unwrap_or(0)),
            );
        }
        if let Some(w) = &insert.plan.window {
            let spec = window_spec(w.tvf.kind)
                .map_err(|e| SqlError::new(ErrorKind::Syntax, w.tvf.pos, e.to_string()))?;
            p = p.key_by(w.keys.clone()).window(spec).aggregate(w.aggs.clone());
        }
        for step in &insert.plan.post {
            p = add_step(p, step);
        }
        p = add_step(p, &insert.to_target);
        if let Some((late_table, step)) = &insert.late {
            let table = self.catalog.tables.get(late_table).ok_or_else(|| {
                SqlError::new(ErrorKind::Unknown, insert.pos, format!("table '{late_table}' not found"))
            })?;
            let late_sink = connector::sink(table, base, log, &sink_options(late_table))?;
            note_delivery(notes, plan, late_table, late_sink.as_ref());
            p = p.late_output(StepSink { step: step.clone(), inner: late_sink });
        }
        Ok((name, p.sink(BoxedSink(sink))))
    }

    /// The streaming plan, one block per INSERT.
    #[must_use]
    pub fn explain(&self) -> String {
        let mut s = String::new();
        for (i, insert) in self.inserts.iter().enumerate() {
            let _ = writeln!(
                s,
                "INSERT {} (line {}): {} <- {}",
                i + 1,
                insert.pos.line,
                insert.target,
                insert.plan.source
            );
            let src = self.catalog.tables.get(&insert.plan.source);
            let _ =
                writeln!(s, "  source: {} {}", insert.plan.source, src.map(options_text).unwrap_or_default());
            if let Some(w) = &insert.plan.window {
                let _ =
                    writeln!(s, "  event time: {} (watermark: max - {} ms)", w.tvf.time_column, w.bound_ms);
            }
            for step in &insert.plan.pre {
                let _ = writeln!(s, "  source task: {}", step.text());
            }
            if let Some(w) = &insert.plan.window {
                let keys = if w.key_text.is_empty() {
                    "(none: one global window)".into()
                } else {
                    w.key_text.join(", ")
                };
                let _ = writeln!(s, "  key by: {keys}");
                let _ = writeln!(s, "  window: {} over {}", w.tvf.kind, w.tvf.table);
                let _ = writeln!(s, "  aggregate: {}", w.text);
            }
            for step in &insert.plan.post {
                let _ = writeln!(s, "  after window: {}", step.text());
            }
            if let Some((late, _)) = &insert.late {
                let _ = writeln!(s, "  late rows: {late}");
            }
            let sink = self.catalog.tables.get(&insert.target);
            let _ = writeln!(s, "  sink: {} {}", insert.target, sink.map(options_text).unwrap_or_default());
        }
        crate::error::strip_window_tables(&s)
    }
}

fn options_text(t: &crate::catalog::Table) -> String {
    let o: Vec<String> = t.def.options.iter().map(|(k, v, _)| format!("'{k}'='{v}'")).collect();
    format!("({})", o.join(", "))
}

/// The `(topic, consumer group)` whose offsets an exactly-once Kafka sink commits: the
/// source's, if it is a Kafka topic and checkpoints are on.
fn input_offsets(src: &crate::catalog::Table, plan: Option<&Plan>) -> Option<(String, String)> {
    let plan = plan?;
    if src.def.option("connector") != Some("kafka") {
        return None;
    }
    Some((src.def.option("topic")?.to_string(), group_of(src, &plan.name)))
}

#[cfg(feature = "kafka")]
fn group_of(src: &crate::catalog::Table, job: &str) -> String {
    crate::kafka::group(src, job)
}

#[cfg(not(feature = "kafka"))]
fn group_of(src: &crate::catalog::Table, job: &str) -> String {
    src.def.option("properties.group.id").unwrap_or(job).to_string()
}

/// Notes a sink that is only at-least-once although checkpoints are on.
fn note_delivery(notes: &mut Vec<String>, plan: Option<&Plan>, table: &str, sink: &dyn Sink) {
    if plan.is_some() && sink.delivery() == Delivery::AtLeastOnce {
        notes.push(format!(
            "table `{table}` is at-least-once: after a restart it may repeat rows written since the last checkpoint"
        ));
    }
}

impl Script {
    /// `SET 'sluice.source.rows-per-second'`, checked at compile time.
    fn rows_per_second(&self) -> Result<Option<f64>> {
        let Some(v) = self.settings.get(crate::settings::ROWS_PER_SECOND) else { return Ok(None) };
        v.trim().parse().map(Some).map_err(|_| {
            SqlError::new(
                ErrorKind::Option,
                Pos::default(),
                format!("'sluice.source.rows-per-second' must be a number, not '{v}'"),
            )
        })
    }
}
