//! The builder API: describe a job, then run it.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use arrow_array::{Int64Array, RecordBatch, StringArray};
//! use sluice_dataflow::memory::{CollectSink, VecSource};
//! use sluice_dataflow::ops::count;
//! use sluice_dataflow::window::WindowSpec;
//! use sluice_dataflow::Pipeline;
//!
//! let batch = RecordBatch::try_from_iter([
//!     ("url", Arc::new(StringArray::from(vec!["/a", "/b", "/a"])) as _),
//!     ("ts", Arc::new(Int64Array::from(vec![1_000, 2_000, 3_000])) as _),
//! ])?;
//! let source = VecSource::new(batch.schema(), vec![vec![batch]])?;
//! let results = CollectSink::new();
//!
//! let report = Pipeline::new("page_views")
//!     .parallelism(2)
//!     .source(source)
//!     .event_time("ts", Duration::from_secs(5))
//!     .key_by(["url"])
//!     .window(WindowSpec::tumbling(300_000)?)
//!     .aggregate([count().as_("views")])
//!     .sink(results.clone())
//!     .run()?;
//! assert_eq!(report.records_in, 3);
//! assert_eq!(report.windows_emitted, 2); // (/a, 2) and (/b, 1)
//! assert_eq!(results.rows(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::Arc;
use std::time::Duration;

use arrow_array::{BooleanArray, RecordBatch};

use sluice_state::MemoryTracker;

use crate::checkpoint::Checkpointing;
use crate::clock::{Clock, SystemClock};
use crate::error::{DataflowError, Result};
use crate::message::LATE;
use crate::operator::Operator;
use crate::ops::window_aggregate::LocalAggregate;
use crate::ops::window_aggregate::TimeSource;
use crate::ops::{AggExpr, Filter, Map, WindowAggregate};
use crate::runtime::{spawn, Job, JobReport, LocalFactory, OperatorFactory, Plan, TimeMode, TwoPhase};
use crate::sink::Sink;
use crate::source::Source;
use crate::window::WindowSpec;

/// A job under construction; see the [module docs](self). Setters are `#[must_use]`; mistakes
/// (no source, aggregate without window, ...) are reported by [`run`](Self::run) /
/// [`spawn`](Self::spawn).
#[must_use]
pub struct Pipeline {
    name: String,
    parallelism: usize,
    batch_size: usize,
    linger: Duration,
    channel_capacity: usize,
    idle_timeout: Option<Duration>,
    clock: Arc<dyn Clock>,
    source: Option<Box<dyn Source>>,
    time: TimeMode,
    pre: Vec<(String, OperatorFactory)>,
    keys: Option<Vec<String>>,
    window: Option<WindowSpec>,
    post: Vec<(String, OperatorFactory)>,
    local: Option<LocalFactory>,
    two_phase: TwoPhase,
    sink: Option<Box<dyn Sink>>,
    sides: Vec<(&'static str, Box<dyn Sink>)>,
    memory: MemoryTracker,
    checkpointing: Option<Checkpointing>,
    error: Option<DataflowError>,
}

impl Pipeline {
    /// An empty pipeline named `name` (used in errors and reports).
    pub fn new(name: &str) -> Self {
        Pipeline {
            name: name.to_string(),
            parallelism: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            batch_size: 4096,
            linger: Duration::from_millis(5),
            channel_capacity: 16,
            idle_timeout: None,
            clock: Arc::new(SystemClock),
            source: None,
            time: TimeMode::None,
            pre: Vec::new(),
            keys: None,
            window: None,
            post: Vec::new(),
            local: None,
            two_phase: TwoPhase::Auto,
            sink: None,
            sides: Vec::new(),
            memory: MemoryTracker::new(),
            checkpointing: None,
            error: None,
        }
    }

    /// Number of keyed (window) tasks, and the most source tasks. Default = number of cores.
    pub fn parallelism(mut self, n: usize) -> Self {
        self.parallelism = n.max(1);
        self
    }

    /// Most rows a source puts in one batch. Default = 4096.
    pub fn batch_size(mut self, rows: usize) -> Self {
        self.batch_size = rows.max(1);
        self
    }

    /// How long a source waits for more rows before sending a partial batch. Default = 5 ms.
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// Capacity of each channel between tasks, in batches. Default = 16.
    pub fn channel_capacity(mut self, batches: usize) -> Self {
        self.channel_capacity = batches.max(1);
        self
    }

    /// A source partition without data for this long stops holding the watermark back.
    /// Default = none (a silent partition holds it).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// Whether a window aggregate pre-aggregates in the source tasks and sends partial
    /// accumulators through the keyed exchange instead of rows (two-phase aggregation; same
    /// output, see [`LocalPanes`](crate::window::LocalPanes)). Applies to a window aggregate right
    /// after `key_by`, over event time, with tumbling or hop windows. Default =
    /// [`TwoPhase::Auto`]: when there is more than one keyed task.
    pub fn two_phase(mut self, mode: TwoPhase) -> Self {
        self.two_phase = mode;
        self
    }

    /// The processing-time clock. Default = the wall clock; tests pass a
    /// [`FakeClock`](crate::clock::FakeClock).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Where the keyed tasks account for their window state (one account per task, updated
    /// about once a second). Default: a tracker of its own without a budget. With
    /// [`MemoryTracker::with_budget`], a job whose state grows past the budget stops with a
    /// [`DataflowError::State`] naming the figures (window state cannot spill to disk yet).
    pub fn memory(mut self, tracker: MemoryTracker) -> Self {
        self.memory = tracker;
        self
    }

    /// The input.
    pub fn source(mut self, source: impl Source + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Event time from `column` (Int64 or Timestamp(ms)); per partition the watermark is the
    /// largest event time read minus `out_of_orderness`.
    pub fn event_time(mut self, column: &str, out_of_orderness: Duration) -> Self {
        let bound_ms = i64::try_from(out_of_orderness.as_millis()).unwrap_or(i64::MAX);
        self.time = TimeMode::EventTime { column: column.to_string(), bound_ms };
        self
    }

    /// Processing time: the watermark is the clock, rows are stamped when aggregated.
    pub fn processing_time(mut self) -> Self {
        self.time = TimeMode::ProcessingTime;
        self
    }

    /// Adds an operator (before `key_by` it runs in the source tasks, after it in the keyed
    /// tasks); `make` is called once per parallel instance.
    pub fn operator<O: Operator + 'static>(
        mut self,
        name: &str,
        make: impl Fn() -> O + Send + Sync + 'static,
    ) -> Self {
        let factory: OperatorFactory = Arc::new(move || Box::new(make()) as Box<dyn Operator>);
        if self.keys.is_some() {
            self.post.push((name.to_string(), factory));
        } else {
            self.pre.push((name.to_string(), factory));
        }
        self
    }

    /// Keeps the rows where `predicate` is true.
    pub fn filter(
        self,
        predicate: impl Fn(&RecordBatch) -> Result<BooleanArray> + Send + Sync + 'static,
    ) -> Self {
        let filter = Filter::new(predicate);
        self.operator("filter", move || filter.clone())
    }

    /// Replaces each batch by `f(batch)`.
    pub fn map(self, f: impl Fn(RecordBatch) -> Result<RecordBatch> + Send + Sync + 'static) -> Self {
        let map = Map::new(f);
        self.operator("map", move || map.clone())
    }

    /// Hash-partitions rows by these columns over the keyed tasks.
    pub fn key_by<S: AsRef<str>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.keys = Some(columns.into_iter().map(|c| c.as_ref().to_string()).collect());
        self
    }

    /// The windows of the next [`aggregate`](Self::aggregate).
    pub fn window(mut self, spec: WindowSpec) -> Self {
        self.window = Some(spec);
        self
    }

    /// Aggregates per key and window; output columns `window_start`, `window_end`, the keys,
    /// then one per aggregate.
    pub fn aggregate(mut self, aggs: impl IntoIterator<Item = AggExpr>) -> Self {
        let (Some(keys), Some(spec)) = (self.keys.clone(), self.window) else {
            self.error.get_or_insert(DataflowError::InvalidPipeline(
                "aggregate needs key_by(..) and window(..) before it".into(),
            ));
            return self;
        };
        let time = match &self.time {
            TimeMode::EventTime { column, .. } => TimeSource::Column(column.clone()),
            TimeMode::ProcessingTime => TimeSource::ProcessingTime,
            TimeMode::None => {
                self.error.get_or_insert(DataflowError::InvalidPipeline(
                    "a window needs event_time(..) or processing_time() first".into(),
                ));
                return self;
            }
        };
        let aggs: Vec<AggExpr> = aggs.into_iter().collect();
        if let (true, TimeSource::Column(column)) = (self.post.is_empty(), &time) {
            let (spec, keys, column, aggs) = (spec, keys.clone(), column.clone(), aggs.clone());
            self.local = Some(Arc::new(move |targets| {
                LocalAggregate::new(spec, keys.clone(), column.clone(), aggs.clone(), targets)
            }));
        }
        self.operator("window_aggregate", move || {
            WindowAggregate::new(spec, keys.clone(), time.clone(), aggs.clone())
        })
    }

    /// The main output.
    pub fn sink(mut self, sink: impl Sink + 'static) -> Self {
        self.sink = Some(Box::new(sink));
        self
    }

    /// Where late rows go (with a `late_reason` column). Without it they are counted in
    /// [`JobReport::records_late`] and discarded.
    pub fn late_output(self, sink: impl Sink + 'static) -> Self {
        self.side_output(LATE, sink)
    }

    /// Where the side output `port` of any operator goes.
    pub fn side_output(mut self, port: &'static str, sink: impl Sink + 'static) -> Self {
        self.sides.push((port, Box::new(sink)));
        self
    }

    /// Takes exactly-once checkpoints (see [`crate::checkpoint`]); without this call a job keeps
    /// no checkpoints, and a restart starts over.
    pub fn checkpointing(mut self, settings: Checkpointing) -> Self {
        self.checkpointing = Some(settings);
        self
    }

    /// Starts the job on its threads.
    ///
    /// # Errors
    /// [`DataflowError::InvalidPipeline`] or [`DataflowError::Schema`] if the pipeline cannot
    /// run; a source's error opening its input.
    pub fn spawn(self) -> Result<Job> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let source = self.source.ok_or_else(|| DataflowError::InvalidPipeline("no source".into()))?;
        let sink = self.sink.ok_or_else(|| DataflowError::InvalidPipeline("no sink".into()))?;
        let idle_timeout = self.idle_timeout.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1));
        spawn(Plan {
            name: self.name,
            parallelism: self.parallelism,
            batch_size: self.batch_size,
            linger: self.linger,
            channel_capacity: self.channel_capacity,
            idle_timeout,
            clock: self.clock,
            source,
            time: self.time,
            pre: self.pre,
            keyed: self.keys.map(|k| (k, self.post)),
            local: self.local,
            two_phase: self.two_phase,
            sink,
            sides: self.sides,
            memory: self.memory,
            checkpointing: self.checkpointing,
        })
    }

    /// Runs the job to the end of its input.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn), and the first task error naming its operator.
    pub fn run(self) -> Result<JobReport> {
        self.spawn()?.join()
    }
}
