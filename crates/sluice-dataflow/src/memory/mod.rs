//! In-memory sources and sinks, for tests, examples and benchmarks.
//!
//! - [`VecSource`]: a bounded source from batches per partition.
//! - [`ChannelSource`]: an unbounded source fed from another thread through a
//!   [`ChannelSourceHandle`] (it is idle when nothing was sent).
//! - [`CollectSink`]: collects batches into a shared `Vec`.
//! - [`FailAfter`]: wraps a source to fail after a number of polls (tests of recovery).
//! - [`TxnSink`]: a two-phase-commit sink: batches become visible when their checkpoint
//!   completes (exactly-once, for tests of checkpoints and recovery).

mod fail;
mod txn;

pub use fail::FailAfter;
pub use txn::TxnSink;

use std::collections::{BTreeMap, VecDeque};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use crate::error::{DataflowError, Result};
use crate::sink::Sink;
use crate::source::{spread_partitions, Poll, Source, SourceReader};

/// A bounded source: a list of batches for each partition, read in order, then the end.
///
/// Batches longer than `max_rows` are sliced (zero-copy).
#[derive(Debug, Clone)]
pub struct VecSource {
    schema: SchemaRef,
    partitions: Vec<Vec<RecordBatch>>,
    /// Rows to skip per partition (restored positions).
    skip: BTreeMap<usize, u64>,
}

impl VecSource {
    /// A source with one partition per element of `partitions`.
    ///
    /// # Errors
    /// [`DataflowError::InvalidPipeline`] if there is no partition, or a batch's schema differs
    /// from `schema`.
    pub fn new(schema: SchemaRef, partitions: Vec<Vec<RecordBatch>>) -> Result<Self> {
        if partitions.is_empty() {
            return Err(DataflowError::InvalidPipeline("a VecSource needs at least one partition".into()));
        }
        for batch in partitions.iter().flatten() {
            if batch.schema().fields() != schema.fields() {
                return Err(DataflowError::InvalidPipeline(format!(
                    "VecSource batch schema {:?} differs from {:?}",
                    batch.schema(),
                    schema
                )));
            }
        }
        Ok(VecSource { schema, partitions, skip: BTreeMap::new() })
    }
}

impl Source for VecSource {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn partitions(&self) -> usize {
        self.partitions.len()
    }

    fn split(self: Box<Self>, n: usize) -> Result<Vec<Box<dyn SourceReader>>> {
        let mut parts: Vec<Option<Vec<RecordBatch>>> = self.partitions.into_iter().map(Some).collect();
        let skip = self.skip;
        let readers = spread_partitions(parts.len(), n)
            .into_iter()
            .map(|owned| {
                let queues = owned
                    .iter()
                    .map(|&p| {
                        let batches = parts.get_mut(p).and_then(Option::take).unwrap_or_default();
                        let from = skip.get(&p).copied().unwrap_or(0);
                        (p, skip_rows(batches, from))
                    })
                    .collect();
                let read = owned.iter().map(|&p| (p, skip.get(&p).copied().unwrap_or(0))).collect();
                Box::new(VecReader { queues, next: 0, read }) as Box<dyn SourceReader>
            })
            .collect();
        Ok(readers)
    }

    fn replayable(&self) -> bool {
        true
    }

    /// A position is the number of rows of the partition already read (8 bytes, little endian).
    fn restore(&mut self, positions: &BTreeMap<usize, Vec<u8>>) -> Result<()> {
        for (&partition, bytes) in positions {
            let rows: [u8; 8] = bytes.as_slice().try_into().map_err(|_| {
                DataflowError::InvalidPipeline(format!("VecSource: bad position for partition {partition}"))
            })?;
            self.skip.insert(partition, u64::from_le_bytes(rows));
        }
        Ok(())
    }
}

/// The batches after the first `rows` rows.
fn skip_rows(batches: Vec<RecordBatch>, mut rows: u64) -> VecDeque<RecordBatch> {
    let mut out = VecDeque::new();
    for batch in batches {
        let n = batch.num_rows() as u64;
        if rows >= n {
            rows -= n;
        } else {
            let from = usize::try_from(rows).unwrap_or(usize::MAX);
            out.push_back(batch.slice(from, batch.num_rows() - from));
            rows = 0;
        }
    }
    out
}

/// Reads its partitions round-robin, one batch at a time.
struct VecReader {
    /// (partition, remaining batches); removed when ended.
    queues: Vec<(usize, VecDeque<RecordBatch>)>,
    next: usize,
    /// Rows returned so far, per partition (with the rows skipped on restore).
    read: BTreeMap<usize, u64>,
}

impl SourceReader for VecReader {
    fn partitions(&self) -> Vec<usize> {
        self.queues.iter().map(|(p, _)| *p).collect()
    }

    fn poll(&mut self, max_rows: usize, _timeout: Duration) -> Result<Poll> {
        if self.queues.is_empty() {
            return Ok(Poll::End);
        }
        let i = self.next % self.queues.len();
        let Some((partition, queue)) = self.queues.get_mut(i) else { return Ok(Poll::End) };
        let partition = *partition;
        let Some(batch) = queue.pop_front() else {
            self.queues.remove(i);
            return Ok(Poll::PartitionEnd(partition));
        };
        let max_rows = max_rows.max(1);
        let batch = if batch.num_rows() > max_rows {
            queue.push_front(batch.slice(max_rows, batch.num_rows() - max_rows));
            batch.slice(0, max_rows)
        } else {
            batch
        };
        self.next = i + 1;
        *self.read.entry(partition).or_default() += batch.num_rows() as u64;
        Ok(Poll::Batch { partition, batch })
    }

    fn positions(&self) -> Option<Vec<(usize, Vec<u8>)>> {
        Some(self.read.iter().map(|(&p, &rows)| (p, rows.to_le_bytes().to_vec())).collect())
    }
}

/// What a [`ChannelSourceHandle`] sends.
enum Feed {
    Batch(usize, RecordBatch),
    End(usize),
}

/// An unbounded source fed by a [`ChannelSourceHandle`]: the reader is [`Poll::Idle`] while
/// nothing is sent. It does not split (one reader owns every partition). Dropping every handle
/// ends every partition.
pub struct ChannelSource {
    schema: SchemaRef,
    partitions: usize,
    rx: Receiver<Feed>,
}

/// Feeds a [`ChannelSource`] from any thread.
#[derive(Clone)]
pub struct ChannelSourceHandle {
    tx: Sender<Feed>,
}

impl ChannelSource {
    /// A source with `partitions` partitions, and the handle that feeds it.
    #[must_use]
    pub fn new(schema: SchemaRef, partitions: usize) -> (Self, ChannelSourceHandle) {
        let (tx, rx) = mpsc::channel();
        (ChannelSource { schema, partitions: partitions.max(1), rx }, ChannelSourceHandle { tx })
    }
}

impl ChannelSourceHandle {
    /// Sends `batch` on `partition`. Returns false if the job has stopped reading.
    pub fn send(&self, partition: usize, batch: RecordBatch) -> bool {
        self.tx.send(Feed::Batch(partition, batch)).is_ok()
    }

    /// Ends `partition`. Returns false if the job has stopped reading.
    pub fn end(&self, partition: usize) -> bool {
        self.tx.send(Feed::End(partition)).is_ok()
    }
}

impl Source for ChannelSource {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn partitions(&self) -> usize {
        self.partitions
    }

    fn split(self: Box<Self>, _n: usize) -> Result<Vec<Box<dyn SourceReader>>> {
        let open = vec![true; self.partitions];
        Ok(vec![Box::new(ChannelReader { rx: self.rx, open })])
    }
}

struct ChannelReader {
    rx: Receiver<Feed>,
    open: Vec<bool>,
}

impl SourceReader for ChannelReader {
    fn partitions(&self) -> Vec<usize> {
        (0..self.open.len()).collect()
    }

    fn poll(&mut self, _max_rows: usize, timeout: Duration) -> Result<Poll> {
        if !self.open.contains(&true) {
            return Ok(Poll::End);
        }
        match self.rx.recv_timeout(timeout) {
            Ok(Feed::Batch(partition, batch)) if partition < self.open.len() => {
                Ok(Poll::Batch { partition, batch })
            }
            Ok(Feed::Batch(partition, _) | Feed::End(partition)) if partition >= self.open.len() => {
                Err(DataflowError::InvalidPipeline(format!(
                    "ChannelSource has {} partitions, got partition {partition}",
                    self.open.len()
                )))
            }
            Ok(Feed::End(partition) | Feed::Batch(partition, _)) => {
                if let Some(open) = self.open.get_mut(partition) {
                    *open = false;
                }
                Ok(Poll::PartitionEnd(partition))
            }
            Err(RecvTimeoutError::Timeout) => Ok(Poll::Idle),
            Err(RecvTimeoutError::Disconnected) => Ok(Poll::End),
        }
    }
}

/// Collects every batch into a shared vector; clones share it.
#[derive(Debug, Clone, Default)]
pub struct CollectSink {
    batches: Arc<Mutex<Vec<RecordBatch>>>,
    finished: Arc<Mutex<bool>>,
}

impl CollectSink {
    /// An empty sink.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The batches written so far.
    #[must_use]
    pub fn batches(&self) -> Vec<RecordBatch> {
        self.batches.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Rows written so far.
    #[must_use]
    pub fn rows(&self) -> usize {
        self.batches.lock().unwrap_or_else(PoisonError::into_inner).iter().map(RecordBatch::num_rows).sum()
    }

    /// Whether `finish` was called.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        *self.finished.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Sink for CollectSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.batches.lock().unwrap_or_else(PoisonError::into_inner).push(batch.clone());
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        *self.finished.lock().unwrap_or_else(PoisonError::into_inner) = true;
        Ok(())
    }
}
