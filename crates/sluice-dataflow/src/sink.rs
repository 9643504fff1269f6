//! Sinks: where results go.
//!
//! A [`Sink`] receives batches on the sink task's thread, in order. `flush` is called when the
//! runtime has nothing else to do for a while (so a file sink can make results visible), and
//! `finish` once, after the last batch of a job that ended normally. A sink error stops the job.
//!
//! # Checkpoints and two-phase commit
//!
//! With checkpointing on, the runtime calls [`pre_commit`](Sink::pre_commit) when checkpoint
//! `id`'s barrier reaches the sink: what was written since the previous barrier must become
//! durable but stay invisible to readers (a prepared log transaction, a closed in-progress
//! file). Once the checkpoint is complete — its manifest, which lists the ids `pre_commit`
//! returned, is stored — the runtime calls [`commit`](Sink::commit) with them. When a job
//! restarts from a checkpoint, [`recover`](Sink::recover) gets that checkpoint's pending ids:
//! the sink commits them (they may have been committed already: commit is idempotent) and
//! aborts everything else an earlier attempt left prepared. A sink that keeps the defaults is
//! at-least-once: after a restart, readers may see rows twice.

use arrow_array::RecordBatch;

use crate::error::Result;

/// What a sink promises its readers across failures and restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Rows of a checkpoint become visible only when it completes, exactly once.
    ExactlyOnce,
    /// Every row is delivered; after a restart some may be delivered twice.
    AtLeastOnce,
}

/// Writes result batches somewhere.
pub trait Sink: Send {
    /// Writes one batch.
    ///
    /// # Errors
    /// A write failure; it stops the job.
    fn write(&mut self, batch: &RecordBatch) -> Result<()>;

    /// Makes what was written visible/durable. Default: nothing to do.
    ///
    /// # Errors
    /// A write failure; it stops the job.
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }

    /// The job ended: flush and close. Default: [`flush`](Self::flush).
    ///
    /// # Errors
    /// A write failure.
    fn finish(&mut self) -> Result<()> {
        self.flush()
    }

    /// The guarantee this sink gives with checkpoints. Default: [`Delivery::AtLeastOnce`].
    fn delivery(&self) -> Delivery {
        Delivery::AtLeastOnce
    }

    /// Checkpoint `id`'s barrier arrived: make what was written since the last barrier durable
    /// but invisible, and return the ids of the transactions to commit when the checkpoint
    /// completes. Default: [`flush`](Self::flush), nothing pending.
    ///
    /// # Errors
    /// A write failure; it stops the job.
    fn pre_commit(&mut self, id: u64) -> Result<Vec<String>> {
        let _ = id;
        self.flush()?;
        Ok(Vec::new())
    }

    /// Checkpoint `id` is complete: make the transactions `pending` (returned by
    /// `pre_commit` for `id` or for earlier checkpoints that failed) visible. Must be
    /// idempotent. Default: nothing to do.
    ///
    /// # Errors
    /// A commit failure; it stops the job (a restart commits again through `recover`).
    fn commit(&mut self, id: u64, pending: &[String]) -> Result<()> {
        let _ = (id, pending);
        Ok(())
    }

    /// Before the first write of a job restored from a checkpoint (or started afresh with
    /// checkpoints on, with `pending` empty): commit `pending`, the transactions that
    /// checkpoint lists (some may be committed already), and abort every other transaction
    /// an earlier attempt of this job left behind. Default: nothing to do.
    ///
    /// # Errors
    /// A transaction cannot be settled; the job does not start.
    fn recover(&mut self, pending: &[String]) -> Result<()> {
        let _ = pending;
        Ok(())
    }

    /// Whether this sink's transactions must not overlap: after a barrier, the sink task waits
    /// until the checkpoint is stored and committed before it writes more (a short pause per
    /// checkpoint). Kafka's exactly-once sink asks for it: with two open transactions, some
    /// brokers (tansu) lose the offsets the first one commits. Default: `false`.
    fn serial_transactions(&self) -> bool {
        false
    }

    /// Whether [`recover`](Self::recover) could still commit `pending`, the transactions a
    /// checkpoint lists: a restart takes the newest checkpoint every sink can recover. Sinks
    /// whose transactions are *prepared* (durable, committable by anyone) always can, the
    /// default; a sink whose open transactions die with the process (Kafka) answers whether
    /// they had committed, after fencing the earlier attempt so that the answer is final.
    ///
    /// # Errors
    /// The answer cannot be found out (e.g. the broker is unreachable); the job does not start.
    fn recoverable(&mut self, pending: &[String]) -> Result<bool> {
        let _ = pending;
        Ok(true)
    }

    /// Checkpoint `id` is stored, with the sources at `positions` (`(global partition,
    /// position)` as the readers reported them); called just before its transactions are
    /// committed, so that a sink can commit the input's progress atomically with its output
    /// (Kafka's `send_offsets_to_transaction`). Default: nothing to do.
    ///
    /// # Errors
    /// As [`commit`](Self::commit).
    fn positions(&mut self, id: u64, positions: &[(usize, Vec<u8>)]) -> Result<()> {
        let _ = (id, positions);
        Ok(())
    }
}

/// A boxed sink is a sink (to choose one at run time).
impl<S: Sink + ?Sized> Sink for Box<S> {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        (**self).write(batch)
    }

    fn flush(&mut self) -> Result<()> {
        (**self).flush()
    }

    fn finish(&mut self) -> Result<()> {
        (**self).finish()
    }

    fn delivery(&self) -> Delivery {
        (**self).delivery()
    }

    fn pre_commit(&mut self, id: u64) -> Result<Vec<String>> {
        (**self).pre_commit(id)
    }

    fn commit(&mut self, id: u64, pending: &[String]) -> Result<()> {
        (**self).commit(id, pending)
    }

    fn recover(&mut self, pending: &[String]) -> Result<()> {
        (**self).recover(pending)
    }

    fn recoverable(&mut self, pending: &[String]) -> Result<bool> {
        (**self).recoverable(pending)
    }

    fn serial_transactions(&self) -> bool {
        (**self).serial_transactions()
    }

    fn positions(&mut self, id: u64, positions: &[(usize, Vec<u8>)]) -> Result<()> {
        (**self).positions(id, positions)
    }
}
