//! The runtime: task threads, bounded channels, watermarks between tasks.
//!
//! # Topology
//!
//! ```text
//!  task 0: source reader + chained stateless ops + exchange + window stage 0 ─┐
//!  task 1: source reader + chained stateless ops + exchange + window stage 1 ─┼─► sink task ─► Sink
//!  ...          (rows of another task's keys go to that task's inbox)         ┘  (+ side outputs)
//! ```
//!
//! - The source's partitions are spread over `min(parallelism, partitions)` source tasks. Each
//!   keeps a [`BoundedOutOfOrderness`](crate::time::BoundedOutOfOrderness) per partition and a
//!   [`WatermarkCombiner`](crate::time::WatermarkCombiner) over its partitions (with the idle
//!   timeout), and after each batch sends the watermark downstream when it advanced.
//! - The keyed exchange hash-partitions rows by key over `parallelism` keyed stages; watermarks,
//!   idleness and the end are broadcast to all of them, the end to the sink as well (the sink's
//!   watermark is the keyed stages'). A keyed stage's watermark is the minimum over the source
//!   tasks. A job without `key_by` has no keyed stages.
//! - Keyed stage `i` runs on source task `i`'s thread (operator fusion): its own rows are
//!   handled in place, with no channel. The stages beyond the number of source tasks (a source
//!   with fewer partitions than `parallelism`) run on threads of their own. At parallelism 1 the
//!   whole job is one busy thread plus the sink task, which only writes results.
//! - **Two-phase aggregation.** When the first keyed operator is a window aggregate over event
//!   time with tumbling or hop windows, each source task pre-aggregates the rows that are
//!   certainly on time per pane and key ([`LocalAggregate`](crate::ops::window_aggregate)) and
//!   sends partial accumulators through the exchange instead of those rows; the rest travel
//!   raw. Same output (see [`LocalPanes`](crate::window::LocalPanes)); on by default when there
//!   is more than one keyed task ([`TwoPhase`]).
//! - Every channel is bounded (`channel_capacity` batches): a slow sink blocks the keyed tasks,
//!   which block the sources. Memory is bounded by the channel sizes plus operator state.
//! - Each task is an OS thread running a `step()` loop. Processing time is read only there,
//!   through the [`Clock`].
//! - The first task error aborts the job: sources stop polling, channels close, every thread
//!   exits, and [`Job::join`] returns that error naming the operator. A panic is caught and
//!   reported the same way.

mod chain;
mod checkpoint;
mod keyed_task;
mod metrics;
mod restore;
mod sink_task;
mod source_task;

use std::collections::{BTreeMap, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use metrics::{Metrics, MetricsSnapshot};

use sluice_state::MemoryTracker;

use self::chain::Chain;
use self::keyed_task::{KeyedStage, KeyedTask};
use self::sink_task::SinkTask;
use self::source_task::{Downstream, Fused, KeyedRoute, SourceTask};
use crate::checkpoint::Checkpointing;
use crate::clock::Clock;
use crate::error::{DataflowError, Result};
use crate::exchange::Exchange;
use crate::message::Envelope;
use crate::operator::{Context, Operator};
use crate::ops::window_aggregate::LocalAggregate;
use crate::sink::Sink;
use crate::source::Source;
use crate::time::{TimestampMs, WatermarkCombiner};

pub(crate) const RUNNING: u8 = 0;
pub(crate) const STOPPING: u8 = 1;
pub(crate) const ABORTED: u8 = 2;

/// What a task's step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Continue,
    Done,
}

/// How watermarks are generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeMode {
    /// No watermarks until the end of input (fine for jobs without windows).
    None,
    /// Event time from `column` (Int64 or Timestamp(ms)), tolerating `bound_ms` of disorder.
    EventTime {
        /// The event-time column.
        column: String,
        /// The out-of-orderness bound in ms.
        bound_ms: i64,
    },
    /// Watermark = wall clock; rows are stamped with processing time.
    ProcessingTime,
}

/// Whether a keyed window aggregate pre-aggregates in the source tasks (two-phase aggregation).
/// It applies only when the first operator after `key_by` is a window aggregate over event time
/// with tumbling or hop windows; the output is the same either way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TwoPhase {
    /// When there is more than one keyed task (the default): at parallelism 1 there is no
    /// exchange to save.
    #[default]
    Auto,
    /// Always, even at parallelism 1.
    Always,
    /// Never: every row travels raw to its keyed task.
    Never,
}

/// Makes a source task's pre-aggregation for a number of keyed tasks.
pub(crate) type LocalFactory = Arc<dyn Fn(usize) -> Option<LocalAggregate> + Send + Sync>;

/// Makes one instance of an operator per parallel task.
pub type OperatorFactory = Arc<dyn Fn() -> Box<dyn Operator> + Send + Sync>;

/// An operator factory with the operator's name.
pub(crate) type NamedFactory = (String, OperatorFactory);

/// Everything the runtime needs to start a job (built by [`Pipeline`](crate::Pipeline)).
pub(crate) struct Plan {
    pub(crate) name: String,
    pub(crate) parallelism: usize,
    pub(crate) batch_size: usize,
    pub(crate) linger: Duration,
    pub(crate) channel_capacity: usize,
    pub(crate) idle_timeout: Option<TimestampMs>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) source: Box<dyn Source>,
    pub(crate) time: TimeMode,
    pub(crate) pre: Vec<NamedFactory>,
    /// Key columns and the operators after the exchange.
    pub(crate) keyed: Option<(Vec<String>, Vec<NamedFactory>)>,
    /// Pre-aggregation for the first keyed operator, if it can be pre-aggregated.
    pub(crate) local: Option<LocalFactory>,
    pub(crate) two_phase: TwoPhase,
    pub(crate) sink: Box<dyn Sink>,
    pub(crate) sides: Vec<(&'static str, Box<dyn Sink>)>,
    /// Where the keyed tasks account for their state.
    pub(crate) memory: MemoryTracker,
    pub(crate) checkpointing: Option<Checkpointing>,
}

pub(crate) fn send(tx: &SyncSender<Envelope>, env: Envelope, task: &str) -> Result<()> {
    tx.send(env).map_err(|_| DataflowError::Disconnected { task: task.to_string() })
}

/// A handle to a running job: stop it, read its counters. Cheap to clone, `Send + Sync`.
#[derive(Debug, Clone)]
pub struct JobHandle {
    state: Arc<AtomicU8>,
    metrics: Arc<Metrics>,
    /// The checkpoint coordinator's request channel, with checkpointing on.
    control: Option<std::sync::mpsc::Sender<checkpoint::Control>>,
}

impl JobHandle {
    /// Asks the job to stop: sources stop reading and end their input, so every open window
    /// emits, the sinks finish, and [`Job::join`] returns the report. For Ctrl-C.
    pub fn stop(&self) {
        let _ = self.state.compare_exchange(RUNNING, STOPPING, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Takes a savepoint called `name` (a checkpoint that is also copied to
    /// `<job>/savepoints/<name>` in the store and never cleaned up); with `stop`, the job then
    /// stops without ending its input (windows stay open in the savepoint, and no output
    /// beyond it is committed). The receiver gets the savepoint's location once it is complete,
    /// or the reason it failed.
    #[must_use]
    pub fn savepoint(&self, name: &str, stop: bool) -> std::sync::mpsc::Receiver<Result<String>> {
        self.request(Some(name.to_string()), stop)
    }

    /// Stops the job after a checkpoint, like [`savepoint`](Self::savepoint) with `stop` but
    /// without the copy: the next run (or another instance) resumes from it as from any
    /// checkpoint. For handing the job's input over (a Kafka rebalance).
    #[must_use]
    pub fn stop_with_checkpoint(&self) -> std::sync::mpsc::Receiver<Result<String>> {
        self.request(None, true)
    }

    fn request(&self, name: Option<String>, stop: bool) -> std::sync::mpsc::Receiver<Result<String>> {
        let (tx, rx) = std::sync::mpsc::channel();
        let request = checkpoint::Control::Savepoint { name, stop, reply: tx.clone() };
        match &self.control {
            Some(control) if control.send(request).is_ok() => {}
            Some(_) => {
                let _ = tx.send(Err(DataflowError::InvalidPipeline("the job has finished".into())));
            }
            None => {
                let _ = tx.send(Err(DataflowError::InvalidPipeline(
                    "the job runs without checkpointing: no savepoint can be taken".into(),
                )));
            }
        }
        rx
    }

    /// The live counters.
    #[must_use]
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }
}

/// What a finished job did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobReport {
    /// The pipeline's name.
    pub name: String,
    /// Rows read from the source.
    pub records_in: u64,
    /// Rows sent to the late side output.
    pub records_late: u64,
    /// Rows written to the main sink; for a window job, one per window and key.
    pub windows_emitted: u64,
    /// Rows pre-aggregated in the source tasks (two-phase aggregation; 0 when it is off).
    pub rows_pre_aggregated: u64,
    /// Partial accumulators the source tasks sent to the keyed tasks.
    pub partials_sent: u64,
    /// The largest window state seen during the run, in approximate bytes (sampled about once
    /// a second per keyed task, and at each task's end).
    pub peak_state_bytes: u64,
    /// Number of keyed (or source) tasks.
    pub parallelism: usize,
    /// Checkpoints completed during the run (with checkpointing on).
    pub checkpoints: u64,
    /// The checkpoint the job resumed from, if it was restored.
    pub restored_from: Option<u64>,
    /// With checkpointing on: the job stopped on request after this checkpoint, without
    /// ending its input (resume it by running it again).
    pub stopped_at: Option<u64>,
    /// Wall-clock time from start to the end of the last task.
    pub elapsed: Duration,
}

/// A running job.
pub struct Job {
    name: String,
    parallelism: usize,
    handle: JobHandle,
    threads: Vec<(String, JoinHandle<()>)>,
    first_error: Arc<Mutex<Option<DataflowError>>>,
    started: Instant,
    restored_from: Option<u64>,
    stopped_at: Arc<Mutex<Option<u64>>>,
}

impl Job {
    /// The handle to stop the job and read its counters.
    #[must_use]
    pub fn handle(&self) -> JobHandle {
        self.handle.clone()
    }

    /// Whether every task has ended (then [`join`](Self::join) does not block).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.threads.iter().all(|(_, t)| t.is_finished())
    }

    /// Waits for every task to finish.
    ///
    /// # Errors
    /// The first task error (naming its operator), or [`DataflowError::TaskPanicked`].
    pub fn join(self) -> Result<JobReport> {
        for (name, thread) in self.threads {
            if thread.join().is_err() {
                record(
                    &self.first_error,
                    DataflowError::TaskPanicked { task: name, message: "unknown".into() },
                );
            }
        }
        if let Some(e) = self.first_error.lock().unwrap_or_else(PoisonError::into_inner).take() {
            return Err(e);
        }
        let m = self.handle.metrics.snapshot();
        Ok(JobReport {
            name: self.name,
            records_in: m.records_in,
            records_late: m.records_late,
            windows_emitted: m.rows_out,
            rows_pre_aggregated: m.rows_pre_aggregated,
            partials_sent: m.partials_sent,
            peak_state_bytes: m.peak_state_bytes,
            parallelism: self.parallelism,
            checkpoints: m.checkpoints,
            restored_from: self.restored_from,
            stopped_at: self.stopped_at.lock().unwrap_or_else(PoisonError::into_inner).take(),
            elapsed: self.started.elapsed(),
        })
    }
}

/// Keeps the first real error; a disconnection is only a consequence of another failure.
fn record(slot: &Mutex<Option<DataflowError>>, e: DataflowError) {
    let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
    let replace = match &*slot {
        None => true,
        Some(DataflowError::Disconnected { .. }) => !matches!(e, DataflowError::Disconnected { .. }),
        Some(_) => false,
    };
    if replace {
        *slot = Some(e);
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into())
}

/// Starts the tasks of `plan`.
pub(crate) fn spawn(plan: Plan) -> Result<Job> {
    let Plan {
        name,
        parallelism,
        batch_size,
        linger,
        channel_capacity,
        idle_timeout,
        clock,
        source,
        time,
        pre,
        keyed,
        local,
        two_phase,
        sink,
        sides,
        memory,
        checkpointing,
    } = plan;
    let mut source = source;
    let mut sink = sink;
    let mut sides = sides;
    let key_groups = sluice_state::KeyGroups::default();
    let mut recoverable = |txns: &BTreeMap<String, Vec<String>>| -> Result<bool> {
        for (port, ids) in txns {
            let ok = match sides.iter_mut().find(|(p, _)| p == port) {
                Some((_, side)) => side.recoverable(ids).map_err(|e| e.in_operator(port))?,
                None => sink.recoverable(ids).map_err(|e| e.in_operator("sink"))?,
            };
            if !ok {
                return Ok(false);
            }
        }
        Ok(true)
    };
    let mut ckpt = restore::Setup::open(checkpointing, source.as_mut(), key_groups, &mut recoverable)?;
    let schema = source.schema();
    let time_col = match &time {
        TimeMode::EventTime { column, .. } => Some(
            schema
                .index_of(column)
                .map_err(|_| DataflowError::Schema(format!("no event-time column `{column}`")))?,
        ),
        _ => None,
    };
    let readers = source.split(parallelism)?;
    let sources = readers.len();
    let keyed_tasks = if keyed.is_some() { parallelism } else { 0 };
    let operator_ids: Vec<String> = match &keyed {
        Some((_, post)) => restore::operator_ids(post.iter().map(|(n, _)| n.as_str())),
        None => Vec::new(),
    };
    if let Some(setup) = &mut ckpt {
        setup.start(&readers, &operator_ids, keyed_tasks)?;
        setup.recover_sinks(sink.as_mut(), &mut sides)?;
    }
    let local = match two_phase {
        TwoPhase::Always => local,
        TwoPhase::Auto if keyed_tasks > 1 => local,
        TwoPhase::Auto | TwoPhase::Never => None,
    };
    let mut exchanges = Vec::new();
    if let Some((keys, _)) = &keyed {
        for _ in 0..sources {
            exchanges.push(Exchange::new(&schema, keys, keyed_tasks)?);
        }
    }
    let started = Instant::now();
    let state = Arc::new(AtomicU8::new(RUNNING));
    let metrics = Arc::new(Metrics::default());
    let first_error = Arc::new(Mutex::new(None));
    let now = clock.now_ms();

    let (sink_tx, sink_rx) = sync_channel::<Envelope>(channel_capacity);
    let mut keyed_txs = Vec::new();
    let mut threads = Vec::new();
    let mut start = |task: String, body: Box<dyn FnOnce() -> Result<()> + Send>| -> Result<()> {
        let state = Arc::clone(&state);
        let first_error = Arc::clone(&first_error);
        let name = task.clone();
        let thread = std::thread::Builder::new()
            .name(format!("sluice-{task}"))
            .spawn(move || {
                let outcome = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|p| {
                    Err(DataflowError::TaskPanicked {
                        task: name.clone(),
                        message: panic_message(p.as_ref()),
                    })
                });
                if let Err(e) = outcome {
                    state.store(ABORTED, Ordering::SeqCst);
                    record(&first_error, e);
                }
            })
            .map_err(|e| DataflowError::InvalidPipeline(format!("cannot start thread {task}: {e}")))?;
        threads.push((task, thread));
        Ok(())
    };

    // Sink task: upstreams are the source tasks, then the keyed tasks. With keyed tasks, the
    // sink's watermark is theirs: each is the minimum over the source tasks, so the sources'
    // own watermarks add nothing, and the sources do not send them (PERF: half the messages
    // that wake the sink thread, which competes with the busy tasks for the cores).
    let sink_inputs = sources + keyed_tasks;
    let mut sink_combiner = WatermarkCombiner::new(sink_inputs, None, now)?;
    if keyed_tasks > 0 {
        for source in 0..sources {
            sink_combiner.finish(source);
        }
    }
    let sink_task = SinkTask {
        rx: sink_rx,
        sink,
        sides: sides.into_iter().collect::<HashMap<_, _>>(),
        metrics: Arc::clone(&metrics),
        clock: Arc::clone(&clock),
        state: Arc::clone(&state),
        combiner: sink_combiner,
        ended: vec![false; sink_inputs],
        flush_after: linger.max(Duration::from_millis(1)),
        dirty: false,
        checkpoint: ckpt.as_mut().map(restore::Setup::sink_link),
        uncommitted: Vec::new(),
        align: None,
        replay: std::collections::VecDeque::new(),
    };
    start("sink".into(), Box::new(move || sink_task.run()))?;

    // Keyed stage `i < sources` runs on source task `i`'s thread (fused); the rest, if the
    // source has fewer partitions than `parallelism`, run on threads of their own.
    let mut fused = Vec::new();
    if let Some((_, post)) = &keyed {
        for i in 0..keyed_tasks {
            let (tx, rx) = sync_channel::<Envelope>(channel_capacity);
            keyed_txs.push(tx);
            let mut ops: Vec<(String, Box<dyn Operator>)> =
                post.iter().map(|(n, f)| (n.clone(), f())).collect();
            let checkpoint = match &ckpt {
                Some(setup) => Some(setup.keyed(i, keyed_tasks, &mut ops, &operator_ids)?),
                None => None,
            };
            let ctx = Context { instance: i, parallelism: keyed_tasks, now, watermark: None };
            let stage = KeyedStage {
                name: format!("window[{i}]"),
                index: sources + i,
                chain: Chain::new(ops, ctx),
                sink: sink_tx.clone(),
                combiner: WatermarkCombiner::new(sources, None, now)?,
                ended: vec![false; sources],
                metrics: Arc::clone(&metrics),
                memory: (memory.clone(), memory.account(format!("{name}/window[{i}]"))),
                sampled: None,
                checkpoint,
                align: None,
                replay: std::collections::VecDeque::new(),
            };
            if i < sources {
                fused.push(Fused { slot: i, stage, inbox: rx, peers: sources > 1, done: false });
            } else {
                let task = KeyedTask { rx, stage, clock: Arc::clone(&clock), state: Arc::clone(&state) };
                start(format!("window[{i}]"), Box::new(move || task.run()))?;
            }
        }
    }

    let mut exchanges = exchanges.into_iter();
    let mut fused = fused.into_iter();
    for (i, reader) in readers.into_iter().enumerate() {
        let downstream = match exchanges.next() {
            Some(exchange) => {
                let fused = fused.next();
                // No sender to a task's own inbox: it must disconnect when the peers are gone.
                let tasks = keyed_txs
                    .iter()
                    .enumerate()
                    .map(|(k, tx)| (fused.as_ref().map(|f| f.slot) != Some(k)).then(|| tx.clone()))
                    .collect();
                let local = local.as_ref().and_then(|make| make(keyed_tasks));
                Downstream::Keyed(Box::new(KeyedRoute {
                    exchange,
                    local,
                    tasks,
                    fused,
                    sink: sink_tx.clone(),
                }))
            }
            None => Downstream::Direct { sink: sink_tx.clone() },
        };
        let ops = pre.iter().map(|(n, f)| (n.clone(), f())).collect();
        let ctx = Context { instance: i, parallelism: sources, now, watermark: None };
        let task = SourceTask::new(
            format!("source[{i}]"),
            i,
            reader,
            Chain::new(ops, ctx),
            downstream,
            time.clone(),
            time_col,
            (batch_size, linger, idle_timeout),
            Arc::clone(&clock),
            Arc::clone(&metrics),
            Arc::clone(&state),
        )?;
        let task = match &ckpt {
            Some(setup) => setup.source(task),
            None => task,
        };
        start(format!("source[{i}]"), Box::new(move || task.run()))?;
    }
    drop(sink_tx);
    drop(keyed_txs);
    let stopped_at = Arc::new(Mutex::new(None));
    let (control, restored_from) = match ckpt {
        Some(setup) => {
            let restored_from = setup.restored_from();
            let links = checkpoint::JobLinks {
                state: Arc::clone(&state),
                first_error: Arc::clone(&first_error),
                metrics: Arc::clone(&metrics),
                stopped_at: Arc::clone(&stopped_at),
            };
            let (coordinator, control) = setup.coordinator(sources, keyed_tasks, links);
            start("checkpoint".into(), Box::new(move || coordinator.run()))?;
            (Some(control), restored_from)
        }
        None => (None, None),
    };

    Ok(Job {
        name,
        parallelism,
        handle: JobHandle { state, metrics, control },
        threads,
        first_error,
        started,
        restored_from,
        stopped_at,
    })
}
