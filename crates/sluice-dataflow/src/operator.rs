//! The operator trait: what a step of a pipeline does with batches and watermarks.
//!
//! An [`Operator`] has one required method, [`process`](Operator::process), and default hooks
//! for watermarks and the end of input. It writes its results to a [`Collector`], which has a
//! main output and named side outputs ([`LATE`](crate::message::LATE) for late rows, or any name
//! for dead letters). The collector buffers; the runtime (or a test) drains it after each call,
//! so an operator can be driven step by step with no threads:
//!
//! ```
//! use std::sync::Arc;
//! use arrow_array::{BooleanArray, Int64Array, RecordBatch};
//! use sluice_dataflow::operator::{Collector, Context, Operator};
//! use sluice_dataflow::ops::Filter;
//!
//! let batch = RecordBatch::try_from_iter([("x", Arc::new(Int64Array::from(vec![1, 5, 9])) as _)])?;
//! let mut keep_big = Filter::new(|b: &RecordBatch| {
//!     let x = b.column(0).as_any().downcast_ref::<Int64Array>().expect("Int64");
//!     Ok(x.iter().map(|v| v.map(|v| v > 3)).collect::<BooleanArray>())
//! });
//! let mut out = Collector::default();
//! keep_big.process(batch, &mut Context::default(), &mut out)?;
//! assert_eq!(out.take_main()[0].num_rows(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use arrow_array::RecordBatch;
use sluice_state::{KeyGroupRange, KeyGroups};

use crate::error::Result;
use crate::message::{Message, MAIN};
use crate::ops::window_aggregate::Partial;
use crate::time::{TimestampMs, Watermark};

/// What an operator may know about where and when it runs.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Index of this parallel instance, in `0..parallelism`.
    pub instance: usize,
    /// Number of parallel instances of this operator.
    pub parallelism: usize,
    /// Processing time of the current step (read once per step by the runtime).
    pub now: TimestampMs,
    /// The operator's input watermark (the last one passed to `on_watermark`).
    pub watermark: Option<Watermark>,
}

/// Buffered output of one operator call: messages on the main output, batches on side outputs.
#[derive(Debug, Default)]
pub struct Collector {
    main: Vec<Message>,
    side: Vec<(&'static str, RecordBatch)>,
}

impl Collector {
    /// Emits a batch on the main output. Empty batches are dropped.
    pub fn emit(&mut self, batch: RecordBatch) {
        if batch.num_rows() > 0 {
            self.main.push(Message::Data(batch));
        }
    }

    /// Emits a watermark on the main output.
    pub fn emit_watermark(&mut self, wm: Watermark) {
        self.main.push(Message::Watermark(wm));
    }

    /// Passes the end of input on (used by the runtime's operator chains).
    pub(crate) fn emit_end(&mut self) {
        self.main.push(Message::End);
    }

    /// Passes a checkpoint barrier on (used by the runtime's operator chains).
    pub(crate) fn emit_barrier(&mut self, barrier: crate::message::Barrier) {
        self.main.push(Message::Barrier(barrier));
    }

    /// Passes an idleness notice on (used by the runtime's operator chains).
    pub(crate) fn emit_idle(&mut self) {
        self.main.push(Message::Idle);
    }

    /// Emits a batch on the side output `port` (e.g. [`LATE`](crate::message::LATE)).
    /// Empty batches are dropped.
    pub fn side(&mut self, port: &'static str, batch: RecordBatch) {
        if port == MAIN {
            self.emit(batch);
        } else if batch.num_rows() > 0 {
            self.side.push((port, batch));
        }
    }

    /// Takes the data batches of the main output (watermarks are dropped).
    pub fn take_main(&mut self) -> Vec<RecordBatch> {
        std::mem::take(&mut self.main)
            .into_iter()
            .filter_map(|m| match m {
                Message::Data(b) => Some(b),
                _ => None,
            })
            .collect()
    }

    /// Takes every main-output message, watermarks included, in order.
    pub fn take_messages(&mut self) -> Vec<Message> {
        std::mem::take(&mut self.main)
    }

    /// Drains the main-output messages in order, keeping the buffer's allocation.
    pub fn drain_messages(&mut self) -> std::vec::Drain<'_, Message> {
        self.main.drain(..)
    }

    /// Takes the side-output batches, with their port names, in order.
    pub fn take_side(&mut self) -> Vec<(&'static str, RecordBatch)> {
        std::mem::take(&mut self.side)
    }

    /// Whether nothing is buffered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.main.is_empty() && self.side.is_empty()
    }
}

/// Where an operator instance's state goes in a checkpoint, and which part it takes back.
#[derive(Debug, Clone, Copy)]
pub struct StateScope<'a> {
    /// The operator's state name, stable across runs and compatible changes of the job.
    pub operator_id: &'a str,
    /// The job's key groups.
    pub key_groups: KeyGroups,
    /// The key groups this instance owns (on restore: the groups to take).
    pub range: KeyGroupRange,
    /// The parallel instance.
    pub task: usize,
}

/// A step of a pipeline. One instance runs on one task thread and owns its state.
pub trait Operator: Send {
    /// Processes one batch.
    ///
    /// # Errors
    /// Any error stops the job; the runtime names the operator in it.
    fn process(&mut self, batch: RecordBatch, ctx: &mut Context, out: &mut Collector) -> Result<()>;

    /// The input watermark advanced to `wm`. The default forwards it: right for stateless
    /// operators. A stateful operator emits what `wm` completes, then forwards it.
    ///
    /// # Errors
    /// Any error stops the job.
    fn on_watermark(&mut self, wm: Watermark, ctx: &mut Context, out: &mut Collector) -> Result<()> {
        let _ = ctx;
        out.emit_watermark(wm);
        Ok(())
    }

    /// Partial window accumulators from the source tasks' pre-aggregation (two-phase
    /// aggregation): only the window operator the runtime pre-aggregates for receives them. The
    /// default refuses them.
    ///
    /// # Errors
    /// [`DataflowError::InvalidPipeline`](crate::DataflowError::InvalidPipeline) by default; any
    /// error stops the job.
    fn process_partial(&mut self, partial: Partial, ctx: &mut Context, out: &mut Collector) -> Result<()> {
        let _ = (partial, ctx, out);
        Err(crate::DataflowError::InvalidPipeline("this operator does not take partial aggregates".into()))
    }

    /// Approximate bytes of state the operator holds, for the job's metrics (the runtime calls
    /// it about once a second, not per batch). The default is 0: right for stateless operators.
    fn approx_state_bytes(&self) -> usize {
        0
    }

    /// The input has ended (after a final [`Watermark::MAX`]). The default does nothing.
    ///
    /// # Errors
    /// Any error stops the job.
    fn on_end(&mut self, ctx: &mut Context, out: &mut Collector) -> Result<()> {
        let _ = (ctx, out);
        Ok(())
    }

    /// A checkpoint barrier passed: the operator's state as bytes, or `None` if it has none
    /// (the default: right for stateless operators). Called between messages, on the task's
    /// thread; the runtime stores the bytes asynchronously.
    ///
    /// # Errors
    /// The state cannot be written; the checkpoint fails.
    fn snapshot(&mut self, scope: &StateScope<'_>) -> Result<Option<Vec<u8>>> {
        let _ = scope;
        Ok(None)
    }

    /// Before the first message of a restored job: takes the groups `scope.range` from the
    /// snapshots every instance of the previous run wrote (any parallelism), as
    /// `(name, bytes)`. The default accepts no state.
    ///
    /// # Errors
    /// A snapshot that does not fit the operator (say which and why) or is damaged.
    fn restore(&mut self, scope: &StateScope<'_>, snapshots: &[(&str, &[u8])]) -> Result<()> {
        match snapshots.first() {
            None => Ok(()),
            Some((name, _)) => Err(crate::DataflowError::State {
                message: format!(
                    "`{}` keeps no state, but the checkpoint has state for it ({name})",
                    scope.operator_id
                ),
                kind: sluice_types::ErrorKind::User,
                retry: sluice_types::Retry::No,
            }),
        }
    }
}
