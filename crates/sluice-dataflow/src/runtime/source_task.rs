//! The source task: polls a reader, keeps a watermark per partition, runs the chained stateless
//! operators, and sends downstream (through the keyed exchange, or straight to the sink).
//!
//! With a keyed exchange, the task also runs the keyed stage with its own index ([`Fused`]):
//! rows of its own keys are handled in place, the others go to the owning task's inbox, and
//! the task handles its inbox before each poll and whenever a peer's channel is full.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::{ArrowPrimitiveType, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, PrimitiveArray, RecordBatch};

use super::chain::Chain;
use super::checkpoint::{Ack, SourceSnap, TaskLink};
use super::keyed_task::KeyedStage;
use super::metrics::Metrics;
use super::{send, Step, TimeMode, ABORTED, RUNNING, STOPPING};
use crate::clock::Clock;
use crate::error::{DataflowError, Result};
use crate::exchange::Exchange;
use crate::message::{Barrier, Envelope, Message, MAIN};
use crate::ops::window_aggregate::LocalAggregate;
use crate::source::{Poll, SourceReader};
use crate::time::{
    BoundedOutOfOrderness, ProcessingTime, TimestampMs, Watermark, WatermarkCombiner, WatermarkGenerator,
};

/// Where a source task's output goes.
pub(crate) enum Downstream {
    /// Hash-partitioned over the keyed stages; control messages go to all of them and the sink.
    Keyed(Box<KeyedRoute>),
    /// Straight to the sink task.
    Direct { sink: SyncSender<Envelope> },
}

/// The keyed exchange of one source task, and the keyed stage fused into it, if any.
pub(crate) struct KeyedRoute {
    pub(crate) exchange: Exchange,
    /// Two-phase aggregation: the pre-aggregation before the exchange, if any.
    pub(crate) local: Option<LocalAggregate>,
    /// The channel of each keyed stage; `None` for the fused one.
    pub(crate) tasks: Vec<Option<SyncSender<Envelope>>>,
    pub(crate) fused: Option<Fused>,
    pub(crate) sink: SyncSender<Envelope>,
}

/// A keyed stage run on its source task's thread, with the channel other source tasks use to
/// send it their rows for its keys.
pub(crate) struct Fused {
    pub(crate) slot: usize,
    pub(crate) stage: KeyedStage,
    pub(crate) inbox: Receiver<Envelope>,
    /// Whether other source tasks send to `inbox` (more than one source task).
    pub(crate) peers: bool,
    pub(crate) done: bool,
}

impl Fused {
    /// Handles whatever the other source tasks have sent; whether there was anything.
    fn drain(&mut self, now: TimestampMs) -> Result<bool> {
        let mut any = false;
        while let Ok(env) = self.inbox.try_recv() {
            any = true;
            self.done |= self.stage.handle(env, now)? == Step::Done;
        }
        Ok(any)
    }
}

/// What a task needs to wait without deadlocking or outliving an aborted job.
struct Waiting<'a> {
    name: &'a str,
    clock: &'a dyn Clock,
    state: &'a AtomicU8,
}

/// The name of the source-side pre-aggregation in errors.
const LOCAL: &str = "window_aggregate (local)";

/// How long a fused task waits for its own inbox while a peer's channel is full.
const PEER_WAIT: Duration = Duration::from_micros(50);

/// The longest a fused task with peers waits in its reader's poll before serving its inbox
/// again. A peer's watermark waits in the inbox until then, so this bounds the latency fusion
/// adds to window results; readers return as soon as rows arrive, so it does not shrink
/// batches. PERF: with the full 5 ms linger, `sluice demo --events 1000000` had window-result
/// latency p99 5.3-5.4 ms against 2.4-2.8 ms with separate keyed threads.
const PEER_POLL: Duration = Duration::from_millis(1);

impl KeyedRoute {
    /// Sends `env` to keyed stage `target`: handled in place if it is the fused one, else over
    /// its channel.
    ///
    /// Two fused tasks can each be blocked on the other's full channel, so a fused task never
    /// blocks on a send: while the peer's channel is full it handles its own inbox, which is
    /// what lets the peer go on.
    fn deliver(&mut self, target: usize, mut env: Envelope, w: &Waiting<'_>) -> Result<()> {
        let Some(fused) = &mut self.fused else {
            return match self.tasks.get(target) {
                Some(Some(tx)) => send(tx, env, w.name),
                _ => Ok(()),
            };
        };
        if fused.slot == target {
            fused.done |= fused.stage.handle(env, w.clock.now_ms())? == Step::Done;
            return Ok(());
        }
        let Some(Some(tx)) = self.tasks.get(target) else { return Ok(()) };
        loop {
            match tx.try_send(env) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(back)) => env = back,
                Err(TrySendError::Disconnected(_)) => {
                    return Err(DataflowError::Disconnected { task: w.name.to_string() })
                }
            }
            if !fused.drain(w.clock.now_ms())? {
                if w.state.load(Ordering::Relaxed) == ABORTED {
                    return Err(DataflowError::Disconnected { task: w.name.to_string() });
                }
                match fused.inbox.recv_timeout(PEER_WAIT) {
                    Ok(env) => fused.done |= fused.stage.handle(env, w.clock.now_ms())? == Step::Done,
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
                }
            }
        }
    }

    /// After this task's own input ended: keeps serving the fused stage until every other
    /// source task has ended too.
    fn finish_fused(&mut self, w: &Waiting<'_>) -> Result<()> {
        let Some(fused) = &mut self.fused else { return Ok(()) };
        while !fused.done {
            match fused.inbox.recv() {
                Ok(env) => fused.done = fused.stage.handle(env, w.clock.now_ms())? == Step::Done,
                Err(_) if w.state.load(Ordering::Relaxed) == ABORTED => return Ok(()),
                Err(_) => return Err(DataflowError::Disconnected { task: fused.stage.name.clone() }),
            }
        }
        Ok(())
    }
}

/// One partition's watermark generator.
enum Generator {
    Event(BoundedOutOfOrderness),
    Processing(ProcessingTime),
    None,
}

pub(crate) struct SourceTask {
    pub(crate) name: String,
    /// This task's index among the receivers' upstreams.
    pub(crate) index: usize,
    pub(crate) reader: Box<dyn SourceReader>,
    pub(crate) chain: Chain,
    pub(crate) downstream: Downstream,
    pub(crate) time: TimeMode,
    /// Event-time column index in the source schema.
    pub(crate) time_col: Option<usize>,
    pub(crate) batch_size: usize,
    pub(crate) linger: Duration,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) state: Arc<AtomicU8>,
    /// Global partition → local input index of the combiner.
    local: HashMap<usize, usize>,
    generators: Vec<Generator>,
    combiner: WatermarkCombiner,
    idle_sent: bool,
    /// With checkpointing: the line to the coordinator.
    checkpoint: Option<TaskLink>,
    /// The last barrier sent.
    last_barrier: u64,
    /// A restored watermark to send before the first poll.
    restored_watermark: Option<Watermark>,
}

impl SourceTask {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        name: String,
        index: usize,
        reader: Box<dyn SourceReader>,
        chain: Chain,
        downstream: Downstream,
        time: TimeMode,
        time_col: Option<usize>,
        settings: (usize, Duration, Option<i64>),
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        state: Arc<AtomicU8>,
    ) -> Result<Self> {
        let (batch_size, linger, idle_timeout) = settings;
        let partitions = reader.partitions();
        let local = partitions.iter().enumerate().map(|(i, &p)| (p, i)).collect();
        let generators = partitions
            .iter()
            .map(|_| match &time {
                TimeMode::EventTime { bound_ms, .. } => {
                    BoundedOutOfOrderness::new(*bound_ms).map(Generator::Event)
                }
                TimeMode::ProcessingTime => Ok(Generator::Processing(ProcessingTime::new())),
                TimeMode::None => Ok(Generator::None),
            })
            .collect::<Result<Vec<_>>>()?;
        let idle = if matches!(time, TimeMode::EventTime { .. }) { idle_timeout } else { None };
        let combiner = WatermarkCombiner::new(partitions.len().max(1), idle, clock.now_ms())?;
        Ok(SourceTask {
            name,
            index,
            reader,
            chain,
            downstream,
            time,
            time_col,
            batch_size,
            linger,
            clock,
            metrics,
            state,
            local,
            generators,
            combiner,
            idle_sent: false,
            checkpoint: None,
            last_barrier: 0,
            restored_watermark: None,
        })
    }

    /// Takes part in checkpoints through `link`, resuming the watermark generators from the
    /// largest event time each partition had read (`max_event_times`, by global partition).
    ///
    /// `keyed_watermark` is the keyed tasks' restored watermark: the pre-aggregation starts
    /// there, not at the (lower) watermark this task resumes with, so that it only folds rows
    /// the keyed tasks will find on time.
    pub(crate) fn with_checkpoints(
        mut self,
        link: TaskLink,
        max_event_times: &std::collections::BTreeMap<usize, i64>,
        keyed_watermark: Option<Watermark>,
    ) -> Self {
        if let (Downstream::Keyed(route), Some(wm)) = (&mut self.downstream, keyed_watermark) {
            if let Some(local) = &mut route.local {
                local.start_at(wm);
            }
        }
        let now = self.clock.now_ms();
        let mut advanced = None;
        for (&partition, &local) in &self.local {
            if let (Some(&ts), Some(Generator::Event(g))) =
                (max_event_times.get(&partition), self.generators.get_mut(local))
            {
                let wm = g.observe(ts);
                advanced = self.combiner.update(local, wm, now).or(advanced);
            }
        }
        self.restored_watermark = advanced;
        self.last_barrier = link.shared.barrier_after(0).map_or(0, |b| b.id);
        self.checkpoint = Some(link);
        self
    }

    /// Where this task's partitions stand, for a checkpoint.
    fn snap(&self) -> Result<SourceSnap> {
        let positions = self.reader.positions().ok_or_else(|| {
            DataflowError::InvalidPipeline("the source cannot report its positions for a checkpoint".into())
                .in_operator(&self.name)
        })?;
        let mut max_event_times = Vec::new();
        for (&partition, &local) in &self.local {
            if let Some(Generator::Event(g)) = self.generators.get(local) {
                if let Some(ts) = g.max_event_time() {
                    max_event_times.push((partition, ts));
                }
            }
        }
        let watermark = (!self.idle_sent).then(|| self.combiner.current().get());
        Ok(SourceSnap { positions, max_event_times, watermark })
    }

    /// Sends checkpoint barrier `barrier`: partials first, then the positions to the
    /// coordinator, then the barrier to every downstream task. `Done` for a stopping one.
    fn barrier(&mut self, barrier: Barrier) -> Result<Step> {
        self.last_barrier = barrier.id;
        let snap = self.snap()?;
        if let Some(link) = &self.checkpoint {
            link.ack(Ack::Source { id: barrier.id, task: self.index, snap });
        }
        let (out, side) = self.chain.run(Message::Barrier(barrier))?;
        self.route(out, side)?;
        if barrier.stop {
            if let Downstream::Keyed(route) = &mut self.downstream {
                let w = Waiting { name: &self.name, clock: self.clock.as_ref(), state: &self.state };
                route.finish_fused(&w)?;
            }
            return Ok(Step::Done);
        }
        Ok(Step::Continue)
    }

    /// Runs until the input ends, the job stops, or an error.
    pub(crate) fn run(mut self) -> Result<()> {
        while self.step()? == Step::Continue {}
        Ok(())
    }

    /// One poll of the reader and everything it causes downstream.
    pub(crate) fn step(&mut self) -> Result<Step> {
        match self.state.load(Ordering::Relaxed) {
            RUNNING => {}
            STOPPING => return self.end(),
            // Aborted: leave without End; downstream sees the disconnection.
            _ => return Ok(Step::Done),
        }
        if let Some(wm) = self.restored_watermark.take() {
            let (out, side) = self.chain.run(Message::Watermark(wm))?;
            self.route(out, side)?;
        }
        if let Some(barrier) =
            self.checkpoint.as_ref().and_then(|l| l.shared.barrier_after(self.last_barrier))
        {
            return self.barrier(barrier);
        }
        let mut linger = self.linger;
        if let Downstream::Keyed(route) = &mut self.downstream {
            if let Some(fused) = &mut route.fused {
                fused.drain(self.clock.now_ms())?;
                if fused.peers {
                    linger = linger.min(PEER_POLL);
                }
            }
        }
        let poll = self.reader.poll(self.batch_size, linger).map_err(|e| e.in_operator(&self.name))?;
        // Read after the poll: the time the rows were read, not when waiting began.
        let now = self.clock.now_ms();
        self.chain.ctx.now = now;
        let mut advanced = None;
        match poll {
            Poll::Batch { partition, batch } => {
                Metrics::add(&self.metrics.records_in, batch.num_rows());
                let local = self.local.get(&partition).copied().unwrap_or(0);
                let max_ts = self.max_event_time(&batch);
                if let Some(generator) = self.generators.get_mut(local) {
                    let wm = match generator {
                        Generator::Event(g) => max_ts.map(|ts| {
                            g.on_record(ts, now);
                            g.current()
                        }),
                        Generator::Processing(g) => {
                            g.on_tick(now);
                            Some(g.current())
                        }
                        Generator::None => None,
                    };
                    // Data makes the partition active even if its watermark did not move.
                    advanced = self.combiner.update(local, wm.unwrap_or(Watermark::MIN), now);
                }
                self.idle_sent = false;
                let (out, side) = self.chain.run(Message::Data(batch))?;
                self.route(out, side)?;
            }
            Poll::Idle => {
                if matches!(self.time, TimeMode::ProcessingTime) {
                    for (local, g) in self.generators.iter_mut().enumerate() {
                        if let Generator::Processing(g) = g {
                            g.on_tick(now);
                            advanced = self.combiner.update(local, g.current(), now).or(advanced);
                        }
                    }
                }
            }
            Poll::PartitionEnd(partition) => {
                if let Some(&local) = self.local.get(&partition) {
                    advanced = self.combiner.finish(local);
                }
            }
            Poll::End => return self.end(),
        }
        advanced = self.combiner.tick(now).or(advanced);
        if let Some(wm) = advanced {
            let (out, side) = self.chain.run(Message::Watermark(wm))?;
            self.route(out, side)?;
        }
        let all_idle = (0..self.combiner.inputs()).all(|i| self.combiner.is_idle(i));
        if all_idle && !self.idle_sent {
            self.idle_sent = true;
            self.broadcast(&Message::Idle)?;
        }
        Ok(Step::Continue)
    }

    fn end(&mut self) -> Result<Step> {
        if self.checkpoint.is_some() {
            let snap = self.snap()?;
            if let Some(link) = &self.checkpoint {
                link.ack(Ack::SourceFinished { task: self.index, snap });
            }
        }
        let mut advanced = None;
        for local in 0..self.combiner.inputs() {
            advanced = self.combiner.finish(local).or(advanced);
        }
        let mut msgs = Vec::new();
        if let Some(wm) = advanced {
            msgs.push(Message::Watermark(wm));
        }
        msgs.push(Message::End);
        for msg in msgs {
            let (out, side) = self.chain.run(msg)?;
            self.route(out, side)?;
        }
        if let Downstream::Keyed(route) = &mut self.downstream {
            let w = Waiting { name: &self.name, clock: self.clock.as_ref(), state: &self.state };
            route.finish_fused(&w)?;
        }
        Ok(Step::Done)
    }

    /// Largest non-null event time of the batch, if event-time mode.
    fn max_event_time(&self, batch: &RecordBatch) -> Option<i64> {
        let col = batch.column(self.time_col?);
        match col.data_type() {
            arrow_schema::DataType::Timestamp(_, _) => {
                max_i64(col.as_primitive::<TimestampMillisecondType>())
            }
            _ => max_i64(col.as_primitive::<Int64Type>()),
        }
    }

    /// Sends chain output downstream: data through the exchange, control to everyone.
    fn route(&mut self, out: Vec<Message>, side: Vec<(&'static str, RecordBatch)>) -> Result<()> {
        for (port, batch) in side {
            let sink = match &self.downstream {
                Downstream::Keyed(route) => &route.sink,
                Downstream::Direct { sink } => sink,
            };
            send(sink, Envelope { from: self.index, port, message: Message::Data(batch) }, &self.name)?;
        }
        for msg in out {
            match msg {
                Message::Data(batch) => match &mut self.downstream {
                    Downstream::Keyed(route) => {
                        let w = Waiting { name: &self.name, clock: self.clock.as_ref(), state: &self.state };
                        let batch = match &mut route.local {
                            Some(local) => {
                                let (raw, taken) = local.process(batch).map_err(|e| e.in_operator(LOCAL))?;
                                Metrics::add(&self.metrics.rows_pre_aggregated, taken);
                                raw
                            }
                            None => Some(batch),
                        };
                        let Some(batch) = batch else { continue };
                        let parts = route.exchange.partition(&batch).map_err(|e| e.in_operator("key_by"))?;
                        for (target, part) in parts {
                            let env = Envelope { from: self.index, port: MAIN, message: Message::Data(part) };
                            route.deliver(target, env, &w)?;
                        }
                    }
                    Downstream::Direct { sink } => {
                        send(
                            sink,
                            Envelope { from: self.index, port: MAIN, message: Message::Data(batch) },
                            &self.name,
                        )?;
                    }
                },
                control => self.broadcast(&control)?,
            }
        }
        Ok(())
    }

    fn broadcast(&mut self, msg: &Message) -> Result<()> {
        let env = |message: Message| Envelope { from: self.index, port: MAIN, message };
        match &mut self.downstream {
            Downstream::Keyed(route) => {
                let w = Waiting { name: &self.name, clock: self.clock.as_ref(), state: &self.state };
                // Partials go ahead of the control message that could close their panes.
                let partials = match (&mut route.local, msg) {
                    (None, _) => Ok(Vec::new()),
                    (Some(local), Message::Watermark(wm)) => local.advance(*wm),
                    (Some(local), Message::Idle) => local.drain(true),
                    (Some(local), _) => local.drain(false),
                }
                .map_err(|e| e.in_operator(LOCAL))?;
                for (target, partial) in partials {
                    Metrics::add(&self.metrics.partials_sent, partial.len());
                    route.deliver(target, env(Message::Partial(partial)), &w)?;
                }
                for target in 0..route.tasks.len() {
                    route.deliver(target, env(msg.clone()), &w)?;
                }
                // The sink follows the keyed tasks' watermarks (see `spawn`); it needs the end.
                if matches!(msg, Message::End | Message::Barrier(_)) {
                    send(&route.sink, env(msg.clone()), &self.name)?;
                }
                Ok(())
            }
            Downstream::Direct { sink } => send(sink, env(msg.clone()), &self.name),
        }
    }
}

/// Largest non-null value.
fn max_i64<T: ArrowPrimitiveType<Native = i64>>(a: &PrimitiveArray<T>) -> Option<i64> {
    if a.null_count() == 0 {
        a.values().iter().copied().max()
    } else {
        a.iter().flatten().max()
    }
}
