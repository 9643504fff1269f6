//! A chain of operators run one after the other on one thread.

use arrow_array::RecordBatch;

use crate::error::Result;
use crate::message::Message;
use crate::operator::{Collector, Context, Operator};

/// Side-output batches with their port names.
pub(crate) type SideBatches = Vec<(&'static str, RecordBatch)>;

/// Operators fused on one task: each one's main output is the next one's input.
pub(crate) struct Chain {
    pub(crate) ops: Vec<(String, Box<dyn Operator>)>,
    pub(crate) ctx: Context,
    collector: Collector,
}

impl Chain {
    pub(crate) fn new(ops: Vec<(String, Box<dyn Operator>)>, ctx: Context) -> Self {
        Chain { ops, ctx, collector: Collector::default() }
    }

    /// Runs `input` through every operator; returns the main output and side outputs.
    pub(crate) fn run(&mut self, input: Message) -> Result<(Vec<Message>, SideBatches)> {
        let mut current = vec![input];
        let mut side = Vec::new();
        for (name, op) in &mut self.ops {
            for msg in current.drain(..) {
                let result = match msg {
                    Message::Data(b) => op.process(b, &mut self.ctx, &mut self.collector),
                    Message::Partial(p) => op.process_partial(p, &mut self.ctx, &mut self.collector),
                    Message::Watermark(wm) => {
                        self.ctx.watermark = Some(wm);
                        op.on_watermark(wm, &mut self.ctx, &mut self.collector)
                    }
                    Message::End => op.on_end(&mut self.ctx, &mut self.collector).map(|()| {
                        self.collector.emit_end();
                    }),
                    Message::Idle => {
                        self.collector.emit_idle();
                        Ok(())
                    }
                    // The task snapshots the operators; the barrier keeps its place in the output.
                    Message::Barrier(b) => {
                        self.collector.emit_barrier(b);
                        Ok(())
                    }
                };
                result.map_err(|e| e.in_operator(name))?;
            }
            current.extend(self.collector.drain_messages());
            side.extend(self.collector.take_side());
        }
        Ok((current, side))
    }
}
