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

use std::collections::BTreeMap;
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

    /// Whether the source can be rewound to saved positions (exactly-once checkpoints need
    /// it). The default is `false`: stdin, for one, cannot be read twice.
    fn replayable(&self) -> bool {
        false
    }

    /// Before [`split`](Self::split): resume each partition right after the rows an earlier
    /// run had read when it took a checkpoint. `positions` maps a global partition index to
    /// the bytes its reader's [`SourceReader::positions`] returned; a partition without an
    /// entry starts as on a first run. A position also carries whatever must not change
    /// across restarts, such as the end offset of a bounded read.
    ///
    /// # Errors
    /// A position this source cannot use (damaged, or from another kind of source), or the
    /// source is not [`replayable`](Self::replayable).
    fn restore(&mut self, positions: &BTreeMap<usize, Vec<u8>>) -> Result<()> {
        if positions.is_empty() {
            return Ok(());
        }
        Err(crate::DataflowError::InvalidPipeline(
            "this source cannot be rewound to a checkpoint's positions".into(),
        ))
    }
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

    /// Where each of this reader's partitions stands, as `(global partition, position)`: the
    /// position just after the last row [`poll`](Self::poll) returned (rows read ahead into a
    /// buffer but not returned yet do not count), in a form [`Source::restore`] accepts. Every
    /// partition the reader owns is listed, ended ones too. `None` (the default) if the
    /// source is not replayable.
    fn positions(&self) -> Option<Vec<(usize, Vec<u8>)>> {
        None
    }
}

/// Assigns `partitions` partitions round-robin to `n` owners: owner `i` gets `i, i + n, ...`.
/// Returns `min(n, partitions)` non-empty lists.
#[must_use]
pub fn spread_partitions(partitions: usize, n: usize) -> Vec<Vec<usize>> {
    let owners = n.clamp(1, partitions.max(1));
    (0..owners).map(|i| (i..partitions).step_by(owners).collect()).collect()
}
