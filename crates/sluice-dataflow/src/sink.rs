//! Sinks: where results go.
//!
//! A [`Sink`] receives batches on the sink task's thread, in order. `flush` is called when the
//! runtime has nothing else to do for a while (so a file sink can make results visible), and
//! `finish` once, after the last batch of a job that ended normally. A sink error stops the job.

use arrow_array::RecordBatch;

use crate::error::Result;

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
}
