//! The source task: polls a reader, keeps a watermark per partition, runs the chained stateless
//! operators, and sends downstream (through the keyed exchange, or straight to the sink).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::{ArrowPrimitiveType, Int64Type, TimestampMillisecondType};
use arrow_array::{Array, PrimitiveArray, RecordBatch};

use super::chain::Chain;
use super::metrics::Metrics;
use super::{send, Step, TimeMode, RUNNING, STOPPING};
use crate::clock::Clock;
use crate::error::Result;
use crate::exchange::Exchange;
use crate::message::{Envelope, Message, MAIN};
use crate::source::{Poll, SourceReader};
use crate::time::{BoundedOutOfOrderness, ProcessingTime, Watermark, WatermarkCombiner, WatermarkGenerator};

/// Where a source task's output goes.
pub(crate) enum Downstream {
    /// Hash-partitioned over the keyed tasks; control messages go to all of them and the sink.
    Keyed { exchange: Exchange, tasks: Vec<SyncSender<Envelope>>, sink: SyncSender<Envelope> },
    /// Straight to the sink task.
    Direct { sink: SyncSender<Envelope> },
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
        })
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
        let poll = self.reader.poll(self.batch_size, self.linger).map_err(|e| e.in_operator(&self.name))?;
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
                Downstream::Keyed { sink, .. } | Downstream::Direct { sink } => sink,
            };
            send(sink, Envelope { from: self.index, port, message: Message::Data(batch) }, &self.name)?;
        }
        for msg in out {
            match msg {
                Message::Data(batch) => match &mut self.downstream {
                    Downstream::Keyed { exchange, tasks, .. } => {
                        for (target, part) in
                            exchange.partition(&batch).map_err(|e| e.in_operator("key_by"))?
                        {
                            if let Some(tx) = tasks.get(target) {
                                let env =
                                    Envelope { from: self.index, port: MAIN, message: Message::Data(part) };
                                send(tx, env, &self.name)?;
                            }
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

    fn broadcast(&self, msg: &Message) -> Result<()> {
        let env = |message: Message| Envelope { from: self.index, port: MAIN, message };
        match &self.downstream {
            Downstream::Keyed { tasks, sink, .. } => {
                for tx in tasks {
                    send(tx, env(msg.clone()), &self.name)?;
                }
                send(sink, env(msg.clone()), &self.name)
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
