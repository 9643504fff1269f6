//! Wrappers between the connectors and the pipeline builder: SQL steps and a rate limit in the
//! source's readers, boxed sources and sinks as values, late rows shaped for their table.
//!
//! Every wrapper passes the checkpoint hooks through (source positions and restore, sink
//! delivery and two-phase commit): a wrapper that dropped them would silently turn an
//! exactly-once connector into one that replays or duplicates.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use sluice_dataflow::sink::{Delivery, Sink};
use sluice_dataflow::source::{Poll, Source, SourceReader};
use sluice_dataflow::Result;

use crate::steps::Step;

/// A source whose rows go through `steps` (computed columns, the query's filters and
/// projections, the window's input columns) in the reader, before the runtime sees them: the
/// runtime reads event time and keys from the source's schema, so columns computed by SQL must
/// exist there. Consequence: the watermark follows the rows that pass the query's `WHERE`.
///
/// With [`rows_per_second`](Self::rows_per_second), each reader (one per source task) also
/// paces itself (`SET 'sluice.source.rows-per-second'`), e.g. to replay a topic at the speed
/// it was written, or to keep a test job running long enough to be killed mid-way.
pub struct StepsSource {
    inner: Box<dyn Source>,
    steps: Arc<[Step]>,
    schema: SchemaRef,
    rate: Option<f64>,
}

impl StepsSource {
    /// `inner`'s rows through `steps`; `schema` is the last step's output schema.
    #[must_use]
    pub fn new(inner: Box<dyn Source>, steps: Vec<Step>, schema: SchemaRef) -> Self {
        StepsSource { inner, steps: steps.into(), schema, rate: None }
    }

    /// Each reader returns at most `rate` rows a second on average (`rate` > 0).
    #[must_use]
    pub fn rows_per_second(mut self, rate: f64) -> Self {
        self.rate = (rate.is_finite() && rate > 0.0).then_some(rate);
        self
    }
}

impl Source for StepsSource {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn partitions(&self) -> usize {
        self.inner.partitions()
    }

    fn split(self: Box<Self>, n: usize) -> Result<Vec<Box<dyn SourceReader>>> {
        let (steps, rate) = (self.steps, self.rate);
        Ok(self
            .inner
            .split(n)?
            .into_iter()
            .map(|inner| {
                let pace = rate.map(|rate| Pace { rate, started: None, rows: 0 });
                Box::new(StepsReader { inner, steps: Arc::clone(&steps), pace }) as Box<dyn SourceReader>
            })
            .collect())
    }

    fn replayable(&self) -> bool {
        self.inner.replayable()
    }

    fn restore(&mut self, positions: &BTreeMap<usize, Vec<u8>>) -> Result<()> {
        self.inner.restore(positions)
    }
}

/// A reader's rate limit: the rows returned so far may not run ahead of `rate` × elapsed.
struct Pace {
    rate: f64,
    started: Option<Instant>,
    rows: u64,
}

impl Pace {
    /// How long to wait before the next poll (zero: go), and how many rows it may return:
    /// at most a twentieth of a second's worth, so the pace is smooth.
    fn next(&mut self, max_rows: usize) -> (Duration, usize) {
        let started = *self.started.get_or_insert_with(Instant::now);
        #[allow(clippy::cast_precision_loss)]
        let due = started + Duration::from_secs_f64(self.rows as f64 / self.rate);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let cap = ((self.rate / 20.0) as usize).clamp(1, max_rows.max(1));
        (due.saturating_duration_since(Instant::now()), cap)
    }
}

struct StepsReader {
    inner: Box<dyn SourceReader>,
    steps: Arc<[Step]>,
    pace: Option<Pace>,
}

impl SourceReader for StepsReader {
    fn partitions(&self) -> Vec<usize> {
        self.inner.partitions()
    }

    fn poll(&mut self, mut max_rows: usize, timeout: Duration) -> Result<Poll> {
        if let Some(pace) = &mut self.pace {
            let (wait, cap) = pace.next(max_rows);
            if !wait.is_zero() {
                std::thread::sleep(wait.min(timeout));
                if wait > timeout {
                    return Ok(Poll::Idle);
                }
            }
            max_rows = cap;
        }
        match self.inner.poll(max_rows, timeout)? {
            Poll::Batch { partition, mut batch } => {
                if let Some(pace) = &mut self.pace {
                    pace.rows += batch.num_rows() as u64;
                }
                for step in self.steps.iter() {
                    batch = step.apply(batch)?;
                }
                Ok(Poll::Batch { partition, batch })
            }
            other => Ok(other),
        }
    }

    fn positions(&self) -> Option<Vec<(usize, Vec<u8>)>> {
        self.inner.positions()
    }
}

/// A boxed source as a `Source` value (the builder takes `impl Source`).
pub(crate) struct BoxedSource(pub(crate) Box<dyn Source>);

impl Source for BoxedSource {
    fn schema(&self) -> SchemaRef {
        self.0.schema()
    }
    fn partitions(&self) -> usize {
        self.0.partitions()
    }
    fn split(self: Box<Self>, n: usize) -> Result<Vec<Box<dyn SourceReader>>> {
        self.0.split(n)
    }
    fn replayable(&self) -> bool {
        self.0.replayable()
    }
    fn restore(&mut self, positions: &BTreeMap<usize, Vec<u8>>) -> Result<()> {
        self.0.restore(positions)
    }
}

/// A boxed sink as a `Sink` value.
pub(crate) struct BoxedSink(pub(crate) Box<dyn Sink>);

impl Sink for BoxedSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.0.write(batch)
    }
    fn flush(&mut self) -> Result<()> {
        self.0.flush()
    }
    fn finish(&mut self) -> Result<()> {
        self.0.finish()
    }
    fn delivery(&self) -> Delivery {
        self.0.delivery()
    }
    fn pre_commit(&mut self, id: u64) -> Result<Vec<String>> {
        self.0.pre_commit(id)
    }
    fn commit(&mut self, id: u64, pending: &[String]) -> Result<()> {
        self.0.commit(id, pending)
    }
    fn recover(&mut self, pending: &[String]) -> Result<()> {
        self.0.recover(pending)
    }
    fn recoverable(&mut self, pending: &[String]) -> Result<bool> {
        self.0.recoverable(pending)
    }
    fn serial_transactions(&self) -> bool {
        self.0.serial_transactions()
    }
    fn positions(&mut self, id: u64, positions: &[(usize, Vec<u8>)]) -> Result<()> {
        self.0.positions(id, positions)
    }
}

/// A sink behind a step (late rows shaped as their table's columns).
pub(crate) struct StepSink {
    pub(crate) step: Step,
    pub(crate) inner: Box<dyn Sink>,
}

impl Sink for StepSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let shaped = self.step.apply(batch.clone())?;
        self.inner.write(&shaped)
    }
    fn flush(&mut self) -> Result<()> {
        self.inner.flush()
    }
    fn finish(&mut self) -> Result<()> {
        self.inner.finish()
    }
    fn delivery(&self) -> Delivery {
        self.inner.delivery()
    }
    fn pre_commit(&mut self, id: u64) -> Result<Vec<String>> {
        self.inner.pre_commit(id)
    }
    fn commit(&mut self, id: u64, pending: &[String]) -> Result<()> {
        self.inner.commit(id, pending)
    }
    fn recover(&mut self, pending: &[String]) -> Result<()> {
        self.inner.recover(pending)
    }
    fn recoverable(&mut self, pending: &[String]) -> Result<bool> {
        self.inner.recoverable(pending)
    }
    fn serial_transactions(&self) -> bool {
        self.inner.serial_transactions()
    }
    fn positions(&mut self, id: u64, positions: &[(usize, Vec<u8>)]) -> Result<()> {
        self.inner.positions(id, positions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pace_holds_rows_to_the_rate() {
        let mut pace = Pace { rate: 1000.0, started: None, rows: 0 };
        let (wait, cap) = pace.next(4096);
        assert_eq!((wait, cap), (Duration::ZERO, 50), "a twentieth of a second's worth");
        pace.rows = 500;
        let (wait, _) = pace.next(4096);
        assert!(wait > Duration::from_millis(400) && wait <= Duration::from_millis(500), "{wait:?}");
        let (_, cap) = Pace { rate: 1.0, started: None, rows: 0 }.next(4096);
        assert_eq!(cap, 1, "at least one row");
        let (_, cap) = Pace { rate: 1e9, started: None, rows: 0 }.next(100);
        assert_eq!(cap, 100, "at most what the runtime asks for");
    }
}
