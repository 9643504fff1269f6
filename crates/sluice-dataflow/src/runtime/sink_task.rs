//! The sink task: writes main results and side outputs, tracks the output watermark.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use super::checkpoint::{Ack, Completion, TaskLink};
use super::keyed_task::Align;
use super::metrics::Metrics;
use super::{Step, ABORTED};
use crate::clock::Clock;
use crate::error::{DataflowError, Result};
use crate::message::{Barrier, Envelope, Message, LATE, MAIN};
use crate::sink::Sink;
use crate::time::WatermarkCombiner;

pub(crate) struct SinkTask {
    pub(crate) rx: Receiver<Envelope>,
    pub(crate) sink: Box<dyn Sink>,
    pub(crate) sides: HashMap<&'static str, Box<dyn Sink>>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) state: Arc<AtomicU8>,
    pub(crate) combiner: WatermarkCombiner,
    pub(crate) ended: Vec<bool>,
    /// Flush the sinks after this long without input.
    pub(crate) flush_after: Duration,
    pub(crate) dirty: bool,
    /// With checkpointing: the coordinator, and its answers.
    pub(crate) checkpoint: Option<(TaskLink, Receiver<Completion>)>,
    /// Transactions pre-committed and not yet committed: `(checkpoint id, port → ids)`.
    pub(crate) uncommitted: Vec<(u64, BTreeMap<String, Vec<String>>)>,
    pub(crate) align: Option<Align>,
    pub(crate) replay: VecDeque<Envelope>,
}

impl SinkTask {
    pub(crate) fn run(mut self) -> Result<()> {
        while self.step()? == Step::Continue {}
        Ok(())
    }

    pub(crate) fn step(&mut self) -> Result<Step> {
        if let Some(env) = self.replay.pop_front() {
            return self.handle(env);
        }
        self.take_completions()?;
        let env = match self.rx.recv_timeout(self.flush_after) {
            Ok(env) => env,
            Err(RecvTimeoutError::Timeout) => {
                if self.dirty {
                    self.flush()?;
                }
                return Ok(Step::Continue);
            }
            Err(RecvTimeoutError::Disconnected) => {
                if self.state.load(Ordering::Relaxed) == ABORTED {
                    return Ok(Step::Done);
                }
                return Err(DataflowError::Disconnected { task: "sink".into() });
            }
        };
        self.handle(env)
    }

    fn handle(&mut self, env: Envelope) -> Result<Step> {
        if let Some(align) = &mut self.align {
            if align.seen.get(env.from).copied().unwrap_or(false) {
                align.held.push_back(env);
                return Ok(Step::Continue);
            }
        }
        let now = self.clock.now_ms();
        let from = env.from;
        match (env.port, env.message) {
            (_, Message::Barrier(barrier)) if from < self.ended.len() => {
                let inputs = self.ended.len();
                let align = self.align.get_or_insert_with(|| Align::new(barrier, inputs));
                if let Some(seen) = align.seen.get_mut(from) {
                    *seen = true;
                }
                return self.try_align();
            }
            (MAIN, Message::Data(batch)) => {
                self.sink.write(&batch).map_err(|e| e.in_operator("sink"))?;
                Metrics::add(&self.metrics.rows_out, batch.num_rows());
                Metrics::add(&self.metrics.batches_out, 1);
                self.dirty = true;
                if from < self.combiner.inputs() && self.combiner.is_idle(from) {
                    self.combiner.mark_active(from, now);
                }
            }
            (port, Message::Data(batch)) => {
                if port == LATE {
                    Metrics::add(&self.metrics.records_late, batch.num_rows());
                }
                if let Some(sink) = self.sides.get_mut(port) {
                    sink.write(&batch).map_err(|e| e.in_operator(port))?;
                    self.dirty = true;
                }
            }
            (_, Message::Watermark(wm)) if from < self.combiner.inputs() => {
                if let Some(wm) = self.combiner.update(from, wm, now) {
                    self.metrics.set_watermark(wm);
                }
            }
            (_, Message::Idle) if from < self.combiner.inputs() => {
                if let Some(wm) = self.combiner.mark_idle(from) {
                    self.metrics.set_watermark(wm);
                }
            }
            (_, Message::End) => {
                if let Some(e) = self.ended.get_mut(from) {
                    *e = true;
                }
                if self.try_align()? == Step::Done {
                    return Ok(Step::Done);
                }
                if self.ended.iter().all(|&e| e) && self.align.is_none() && self.replay.is_empty() {
                    self.metrics.set_watermark(crate::time::Watermark::MAX);
                    if self.checkpoint.is_some() {
                        self.final_checkpoint()?;
                    }
                    self.sink.finish().map_err(|e| e.in_operator("sink"))?;
                    for (port, sink) in &mut self.sides {
                        sink.finish().map_err(|e| e.in_operator(port))?;
                    }
                    return Ok(Step::Done);
                }
            }
            _ => {}
        }
        Ok(Step::Continue)
    }

    /// Completes the alignment if every input has sent the barrier or ended: pre-commits the
    /// sinks and reports to the coordinator. After a stopping barrier, waits for the
    /// checkpoint, commits and is `Done`.
    fn try_align(&mut self) -> Result<Step> {
        let Some(align) = self.align.take_if(|a| a.complete(&self.ended)) else { return Ok(Step::Continue) };
        let Barrier { id, stop } = align.barrier;
        self.pre_commit(id, stop)?;
        if stop {
            self.await_checkpoint(id, false)?;
            return Ok(Step::Done);
        }
        if self.sink.serial_transactions() || self.sides.values().any(|s| s.serial_transactions()) {
            // No output until this checkpoint's transactions are committed (or it failed).
            self.await_checkpoint(id, true)?;
        }
        for env in align.held.into_iter().rev() {
            self.replay.push_front(env);
        }
        Ok(Step::Continue)
    }

    /// Pre-commits every sink for checkpoint `id` and reports every uncommitted transaction.
    fn pre_commit(&mut self, id: u64, last: bool) -> Result<()> {
        let mut txns = BTreeMap::new();
        txns.insert(MAIN.to_string(), self.sink.pre_commit(id).map_err(|e| e.in_operator("sink"))?);
        for (port, sink) in &mut self.sides {
            txns.insert((*port).to_string(), sink.pre_commit(id).map_err(|e| e.in_operator(port))?);
        }
        self.dirty = false;
        txns.retain(|_, ids: &mut Vec<String>| !ids.is_empty());
        self.uncommitted.push((id, txns));
        let mut pending: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (_, txns) in &self.uncommitted {
            for (port, ids) in txns {
                pending.entry(port.clone()).or_default().extend(ids.iter().cloned());
            }
        }
        if let Some((link, _)) = &self.checkpoint {
            link.ack(Ack::Sink { id, pending, last });
        }
        Ok(())
    }

    /// Commits the transactions of checkpoints the coordinator has stored.
    fn take_completions(&mut self) -> Result<()> {
        let Some((_, completions)) = &self.checkpoint else { return Ok(()) };
        let done: Vec<Completion> = completions.try_iter().collect();
        for c in done {
            self.completed(c)?;
        }
        Ok(())
    }

    fn completed(&mut self, c: Completion) -> Result<()> {
        if c.error.is_some() {
            return Ok(());
        }
        let committed = c.id;
        let (ready, later): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.uncommitted).into_iter().partition(|(id, _)| *id <= c.id);
        self.uncommitted = later;
        for (id, txns) in ready {
            if id == c.id {
                self.sink.positions(id, &c.positions).map_err(|e| e.in_operator("sink"))?;
                for (port, sink) in &mut self.sides {
                    sink.positions(id, &c.positions).map_err(|e| e.in_operator(port))?;
                }
            }
            for (port, ids) in txns {
                match self.sides.get_mut(port.as_str()) {
                    Some(sink) => sink.commit(id, &ids).map_err(|e| e.in_operator(&port))?,
                    None => self.sink.commit(id, &ids).map_err(|e| e.in_operator("sink"))?,
                }
            }
        }
        if let Some((link, _)) = &self.checkpoint {
            link.shared.committed.fetch_max(committed, Ordering::AcqRel);
        }
        Ok(())
    }

    /// Waits until the coordinator has stored checkpoint `id`, then commits; with `tolerate`,
    /// a checkpoint that could not be stored is not an error (its transactions stay pending).
    fn await_checkpoint(&mut self, id: u64, tolerate: bool) -> Result<()> {
        loop {
            let answer = match &self.checkpoint {
                Some((_, completions)) => completions.recv_timeout(Duration::from_millis(100)),
                None => return Ok(()),
            };
            match answer {
                Ok(Completion { id: done, error: Some(_), .. }) if done == id && tolerate => return Ok(()),
                Ok(Completion { id: done, error: Some(error), .. }) if done == id => {
                    return Err(DataflowError::State {
                        message: format!(
                            "checkpoint {id} could not be stored ({error}): the output since the last stored \
                             checkpoint stays uncommitted; run the job again to resume"
                        ),
                        kind: sluice_types::ErrorKind::Internal,
                        retry: sluice_types::Retry::WithBackoff,
                    });
                }
                Ok(c) => {
                    let done = c.id;
                    self.completed(c)?;
                    if done == id {
                        return Ok(());
                    }
                }
                Err(RecvTimeoutError::Timeout) if self.state.load(Ordering::Relaxed) != ABORTED => {}
                Err(_) => return Err(DataflowError::Disconnected { task: "sink".into() }),
            }
        }
    }

    /// Every input ended: a last checkpoint records the sources' final positions and commits
    /// the rest of the output.
    fn final_checkpoint(&mut self) -> Result<()> {
        let Some((link, _)) = &self.checkpoint else { return Ok(()) };
        let id = link.shared.allocate();
        self.pre_commit(id, true)?;
        self.await_checkpoint(id, false)
    }

    fn flush(&mut self) -> Result<()> {
        self.dirty = false;
        self.sink.flush().map_err(|e| e.in_operator("sink"))?;
        for (port, sink) in &mut self.sides {
            sink.flush().map_err(|e| e.in_operator(port))?;
        }
        Ok(())
    }
}
