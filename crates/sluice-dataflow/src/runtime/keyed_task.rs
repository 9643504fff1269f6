//! A keyed task: receives its share of the keys from every source task, combines their
//! watermarks (minimum), runs the window operator chain and sends results to the sink.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;

use arrow_array::RecordBatch;

use super::chain::Chain;
use super::{send, Step, ABORTED};
use crate::clock::Clock;
use crate::error::{DataflowError, Result};
use crate::message::{Envelope, Message, MAIN};
use crate::time::WatermarkCombiner;

pub(crate) struct KeyedTask {
    pub(crate) name: String,
    /// This task's index among the sink's upstreams.
    pub(crate) index: usize,
    pub(crate) rx: Receiver<Envelope>,
    pub(crate) chain: Chain,
    pub(crate) sink: SyncSender<Envelope>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) state: Arc<AtomicU8>,
    /// One input per source task; no idle timeout here (sources say `Idle` themselves).
    pub(crate) combiner: WatermarkCombiner,
    pub(crate) ended: Vec<bool>,
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
            return Err(DataflowError::Disconnected { task: self.name.clone() });
        };
        let now = self.clock.now_ms();
        self.chain.ctx.now = now;
        let from = env.from;
        let input = match env.message {
            Message::Data(batch) => {
                if from < self.combiner.inputs() && self.combiner.is_idle(from) {
                    if let Some(wm) = self.combiner.mark_active(from, now) {
                        self.forward(Message::Watermark(wm))?;
                    }
                }
                Some(Message::Data(batch))
            }
            Message::Watermark(wm) if from < self.combiner.inputs() => {
                self.combiner.update(from, wm, now).map(Message::Watermark)
            }
            Message::Idle if from < self.combiner.inputs() => {
                self.combiner.mark_idle(from).map(Message::Watermark)
            }
            Message::End if from < self.ended.len() => {
                if let Some(e) = self.ended.get_mut(from) {
                    *e = true;
                }
                if let Some(wm) = self.combiner.finish(from) {
                    self.forward(Message::Watermark(wm))?;
                }
                if self.ended.iter().all(|&e| e) {
                    self.forward(Message::End)?;
                    return Ok(Step::Done);
                }
                None
            }
            _ => None,
        };
        if let Some(msg) = input {
            self.forward(msg)?;
        }
        Ok(Step::Continue)
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
