//! Sources: where batches come from.
//!
//! A [`Source`] is a description of an input with a fixed number of *partitions* (a log topic's
//! partitions, a set of files, one stdin). The runtime [`split`](Source::split)s it into readers,
//! one per source task; each [`SourceReader`] owns some of the partitions and is polled in a loop
//! on its task's thread. A reader returns at most `max_rows` rows per [`Poll::Batch`], always of
//! one partition (so the runtime can keep a watermark per partition), and may wait up to
//! `timeout` for rows to arrive — the *linger*, which trades a little latency for fuller batches.
//!
//! Readers do blocking I/O freely: each has its own thread.

use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use crate::error::Result;

/// The result of one [`SourceReader::poll`].
#[derive(Debug, Clone)]
pub enum Poll {
    /// Rows of one partition (global index, `0..Source::partitions()`).
    Batch {
        /// Which partition the rows came from.
        partition: usize,
        /// The rows, in the source's schema.
        batch: RecordBatch,
    },
    /// Nothing arrived within the timeout; poll again.
    Idle,
    /// This partition is exhausted (a bounded input): its watermark becomes +∞.
    PartitionEnd(usize),
    /// Every partition of this reader is exhausted; it will not be polled again.
    End,
}

/// An input with a schema and a number of partitions, not yet reading.
pub trait Source: Send {
    /// The schema of every batch.
    fn schema(&self) -> SchemaRef;

    /// Number of partitions (>= 1).
    fn partitions(&self) -> usize;

    /// Splits into at most `n` readers that together own every partition exactly once. A
    /// source that cannot be split returns one reader.
    ///
    /// # Errors
    /// If opening the input fails.
    fn split(self: Box<Self>, n: usize) -> Result<Vec<Box<dyn SourceReader>>>;
}

/// Reads some partitions of a [`Source`]; polled by one task.
pub trait SourceReader: Send {
    /// The global indexes of the partitions this reader owns.
    fn partitions(&self) -> Vec<usize>;

    /// Returns the next batch of at most `max_rows` rows, waiting at most `timeout` for rows.
    ///
    /// # Errors
    /// A read failure; it stops the job.
    fn poll(&mut self, max_rows: usize, timeout: Duration) -> Result<Poll>;
}

/// Assigns `partitions` partitions round-robin to `n` owners: owner `i` gets `i, i + n, ...`.
/// Returns `min(n, partitions)` non-empty lists.
#[must_use]
pub fn spread_partitions(partitions: usize, n: usize) -> Vec<Vec<usize>> {
    let owners = n.clamp(1, partitions.max(1));
    (0..owners).map(|i| (i..partitions).step_by(owners).collect()).collect()
}
