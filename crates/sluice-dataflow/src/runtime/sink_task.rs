//! The sink task: writes main results and side outputs, tracks the output watermark.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use super::metrics::Metrics;
use super::{Step, ABORTED};
use crate::clock::Clock;
use crate::error::{DataflowError, Result};
use crate::message::{Envelope, Message, LATE, MAIN};
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
}

impl SinkTask {
    pub(crate) fn run(mut self) -> Result<()> {
        while self.step()? == Step::Continue {}
        Ok(())
    }

    pub(crate) fn step(&mut self) -> Result<Step> {
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
        let now = self.clock.now_ms();
        let from = env.from;
        match (env.port, env.message) {
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
                if self.ended.iter().all(|&e| e) {
                    self.metrics.set_watermark(crate::time::Watermark::MAX);
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

    fn flush(&mut self) -> Result<()> {
        self.dirty = false;
        self.sink.flush().map_err(|e| e.in_operator("sink"))?;
        for (port, sink) in &mut self.sides {
            sink.flush().map_err(|e| e.in_operator(port))?;
        }
        Ok(())
    }
}
