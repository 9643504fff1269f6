//! The keyed stage: receives its share of the keys from every source task, combines their
//! watermarks (minimum), runs the window operator chain and sends results to the sink.
//!
//! A [`KeyedStage`] runs either on the thread of the source task with the same index (fused,
//! see [`super::source_task`]) or, when there are more keyed slots than source tasks, on a
//! thread of its own ([`KeyedTask`]). It behaves the same either way: it sees each source
//! task's messages in the order that task sent them, and its watermark is the minimum over
//! every source task, so where it runs does not change which rows are late.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;
use std::time::Instant;

use arrow_array::RecordBatch;
use sluice_state::{MemoryAccount, MemoryTracker};
use sluice_types::{ErrorKind, Retry};

use super::chain::Chain;
use super::checkpoint::{Ack, TaskLink};
use super::metrics::Metrics;
use super::{send, Step, ABORTED};
use crate::clock::Clock;
use crate::error::{DataflowError, Result};
use crate::message::{Barrier, Envelope, Message, MAIN};
use crate::operator::StateScope;
use crate::time::{TimestampMs, WatermarkCombiner};

/// The window operator chain of one key range, with its input watermarks.
pub(crate) struct KeyedStage {
    pub(crate) name: String,
    /// This stage's index among the sink's upstreams.
    pub(crate) index: usize,
    pub(crate) chain: Chain,
    pub(crate) sink: SyncSender<Envelope>,
    /// One input per source task; no idle timeout here (sources say `Idle` themselves).
    pub(crate) combiner: WatermarkCombiner,
    pub(crate) ended: Vec<bool>,
    pub(crate) metrics: Arc<Metrics>,
    /// The job's memory tracker, and this stage's account on it.
    pub(crate) memory: (MemoryTracker, MemoryAccount),
    /// When the state size was last sampled.
    pub(crate) sampled: Option<TimestampMs>,
    /// With checkpointing: the line to the coordinator, and this stage's state scope.
    pub(crate) checkpoint: Option<KeyedCheckpoint>,
    /// Barrier alignment in progress.
    pub(crate) align: Option<Align>,
    /// Messages held back during an alignment, to handle once it completes.
    pub(crate) replay: VecDeque<Envelope>,
}

/// A keyed stage's part in checkpoints.
pub(crate) struct KeyedCheckpoint {
    pub(crate) link: TaskLink,
    /// This stage's index among the keyed tasks.
    pub(crate) task: usize,
    pub(crate) key_groups: sluice_state::KeyGroups,
    pub(crate) range: sluice_state::KeyGroupRange,
    /// The state name of each operator of the chain.
    pub(crate) operator_ids: Vec<String>,
}

/// An alignment: which inputs have sent the barrier, and what came after it from them.
pub(crate) struct Align {
    pub(crate) barrier: Barrier,
    pub(crate) seen: Vec<bool>,
    pub(crate) held: VecDeque<Envelope>,
}

impl Align {
    pub(crate) fn new(barrier: Barrier, inputs: usize) -> Self {
        Align { barrier, seen: vec![false; inputs], held: VecDeque::new() }
    }

    /// Whether every input has sent the barrier or ended.
    pub(crate) fn complete(&self, ended: &[bool]) -> bool {
        self.seen.iter().zip(ended).all(|(&s, &e)| s || e)
    }
}

/// How often (processing time) a keyed stage samples its operators' state size: walking the
/// state costs about as much as adding one row per entry.
const STATE_SAMPLE_MS: i64 = 1_000;

impl KeyedStage {
    /// Handles one message from source task `env.from`, and the messages an alignment it
    /// completes releases; `Done` once every source has ended (or a stopping checkpoint).
    pub(crate) fn handle(&mut self, env: Envelope, now: TimestampMs) -> Result<Step> {
        let mut step = self.handle_one(env, now)?;
        while step == Step::Continue {
            let Some(next) = self.replay.pop_front() else { break };
            step = self.handle_one(next, now)?;
        }
        Ok(step)
    }

    fn handle_one(&mut self, env: Envelope, now: TimestampMs) -> Result<Step> {
        if let Some(align) = &mut self.align {
            if align.seen.get(env.from).copied().unwrap_or(false) {
                align.held.push_back(env);
                return Ok(Step::Continue);
            }
        }
        self.chain.ctx.now = now;
        if self.sampled.is_none_or(|at| now.saturating_sub(at) >= STATE_SAMPLE_MS) {
            self.sample_state(now)?;
        }
        let from = env.from;
        let input = match env.message {
            data @ (Message::Data(_) | Message::Partial(_)) => {
                if from < self.combiner.inputs() && self.combiner.is_idle(from) {
                    if let Some(wm) = self.combiner.mark_active(from, now) {
                        self.forward(Message::Watermark(wm))?;
                    }
                }
                Some(data)
            }
            Message::Watermark(wm) if from < self.combiner.inputs() => {
                self.combiner.update(from, wm, now).map(Message::Watermark)
            }
            Message::Idle if from < self.combiner.inputs() => {
                self.combiner.mark_idle(from).map(Message::Watermark)
            }
            Message::End if from < self.ended.len() => {
                // The last input's end flushes every window: sample the state at its fullest.
                if self.ended.iter().filter(|&&e| !e).count() == 1 {
                    self.sample_state(now)?;
                }
                if let Some(e) = self.ended.get_mut(from) {
                    *e = true;
                }
                if let Some(wm) = self.combiner.finish(from) {
                    self.forward(Message::Watermark(wm))?;
                }
                if self.try_align()? == Step::Done {
                    return Ok(Step::Done);
                }
                if self.ended.iter().all(|&e| e) && self.align.is_none() && self.replay.is_empty() {
                    // Before the end reaches the sink, which then takes the final checkpoint.
                    if let Some(c) = &self.checkpoint {
                        c.link.ack(Ack::KeyedFinished { task: c.task });
                    }
                    self.forward(Message::End)?;
                    return Ok(Step::Done);
                }
                None
            }
            Message::Barrier(barrier) if from < self.ended.len() => {
                let inputs = self.ended.len();
                let align = self.align.get_or_insert_with(|| Align::new(barrier, inputs));
                if align.barrier.id != barrier.id {
                    return Err(DataflowError::InvalidPipeline(format!(
                        "{}: barrier {} arrived while aligning barrier {}",
                        self.name, barrier.id, align.barrier.id
                    )));
                }
                if let Some(seen) = align.seen.get_mut(from) {
                    *seen = true;
                }
                return self.try_align();
            }
            _ => None,
        };
        if let Some(msg) = input {
            self.forward(msg)?;
        }
        Ok(Step::Continue)
    }

    /// Completes the alignment if every input has sent the barrier or ended: snapshots the
    /// operators, reports to the coordinator, passes the barrier on, and releases the held
    /// messages. `Done` after a stopping barrier.
    fn try_align(&mut self) -> Result<Step> {
        let Some(align) = self.align.take_if(|a| a.complete(&self.ended)) else { return Ok(Step::Continue) };
        if let Some(c) = &self.checkpoint {
            let mut files = Vec::new();
            let started = Instant::now();
            for ((name, op), id) in self.chain.ops.iter_mut().zip(&c.operator_ids) {
                let scope =
                    StateScope { operator_id: id, key_groups: c.key_groups, range: c.range, task: c.task };
                match op.snapshot(&scope) {
                    Ok(Some(bytes)) => files.push((id.clone(), bytes)),
                    Ok(None) => {}
                    Err(e) => {
                        let error = e.in_operator(name).to_string();
                        c.link.ack(Ack::Failed { id: align.barrier.id, error });
                    }
                }
            }
            let pause = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.metrics.last_snapshot_pause_us.store(pause, Ordering::Relaxed);
            c.link.ack(Ack::Keyed { id: align.barrier.id, task: c.task, files });
        }
        self.forward(Message::Barrier(align.barrier))?;
        if align.barrier.stop {
            return Ok(Step::Done);
        }
        // Held messages go before anything that arrives later.
        for env in align.held.into_iter().rev() {
            self.replay.push_front(env);
        }
        Ok(Step::Continue)
    }

    /// Records the operators' state size in this stage's memory account and the job's metrics.
    ///
    /// # Errors
    /// [`DataflowError::State`] when the job's state is over the tracker's budget: the window
    /// state cannot spill yet, so the job stops with the figures rather than exhaust memory.
    fn sample_state(&mut self, now: TimestampMs) -> Result<()> {
        let bytes: usize = self.chain.ops.iter().map(|(_, op)| op.approx_state_bytes()).sum();
        let (tracker, account) = &self.memory;
        account.set(bytes);
        self.metrics.report_state_bytes(tracker.used() as u64);
        self.sampled = Some(now);
        match tracker.budget() {
            Some(budget) if tracker.over_budget() => Err(DataflowError::State {
                message: format!(
                    "the job's state ({} bytes) exceeds its memory budget ({budget} bytes); `{}` holds {bytes}",
                    tracker.used(),
                    account.name()
                ),
                kind: ErrorKind::User,
                retry: Retry::No,
            }),
            _ => Ok(()),
        }
    }

    fn forward(&mut self, msg: Message) -> Result<()> {
        let (out, side) = self.chain.run(msg)?;
        self.emit(out, side)
    }

    fn emit(&self, out: Vec<Message>, side: Vec<(&'static str, RecordBatch)>) -> Result<()> {
        for (port, batch) in side {
            send(&self.sink, Envelope { from: self.index, port, message: Message::Data(batch) }, &self.name)?;
        }
        for message in out {
            send(&self.sink, Envelope { from: self.index, port: MAIN, message }, &self.name)?;
        }
        Ok(())
    }
}

/// A keyed stage on a thread of its own, fed by a channel from every source task.
pub(crate) struct KeyedTask {
    pub(crate) rx: Receiver<Envelope>,
    pub(crate) stage: KeyedStage,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) state: Arc<AtomicU8>,
}

impl KeyedTask {
    pub(crate) fn run(mut self) -> Result<()> {
        while self.step()? == Step::Continue {}
        Ok(())
    }

    /// Handles one message.
    pub(crate) fn step(&mut self) -> Result<Step> {
        let Ok(env) = self.rx.recv() else {
            if self.state.load(Ordering::Relaxed) == ABORTED {
                return Ok(Step::Done);
            }
            return Err(DataflowError::Disconnected { task: self.stage.name.clone() });
        };
        self.stage.handle(env, self.clock.now_ms())
    }
}
