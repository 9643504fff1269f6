//! [`FailAfter`]: a source that fails after a number of polls, like a process killed mid-run.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arrow_schema::SchemaRef;
use sluice_types::{ErrorKind, Retry};

use crate::error::{DataflowError, Result};
use crate::source::{Poll, Source, SourceReader};

/// Wraps a source: after `polls` polls over all its readers, the next poll fails with
/// "injected failure", and every poll sleeps `pace` first (so that checkpoints happen between
/// polls). For tests of checkpoints and recovery: run a job on it, let it fail, run it again.
pub struct FailAfter<S> {
    inner: S,
    polls_left: Arc<AtomicI64>,
    pace: Duration,
}

impl<S: Source> FailAfter<S> {
    /// `inner`, failing after `polls` polls (`i64::MAX`: never), sleeping `pace` per poll.
    pub fn new(inner: S, polls: i64, pace: Duration) -> Self {
        FailAfter { inner, polls_left: Arc::new(AtomicI64::new(polls)), pace }
    }
}

struct FailReader {
    inner: Box<dyn SourceReader>,
    polls_left: Arc<AtomicI64>,
    pace: Duration,
}

impl<S: Source> Source for FailAfter<S> {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn partitions(&self) -> usize {
        self.inner.partitions()
    }

    fn split(self: Box<Self>, n: usize) -> Result<Vec<Box<dyn SourceReader>>> {
        let (polls_left, pace) = (self.polls_left, self.pace);
        let readers = Box::new(self.inner).split(n)?;
        Ok(readers
            .into_iter()
            .map(|inner| Box::new(FailReader { inner, polls_left: Arc::clone(&polls_left), pace }) as _)
            .collect())
    }

    fn replayable(&self) -> bool {
        self.inner.replayable()
    }

    fn restore(&mut self, positions: &BTreeMap<usize, Vec<u8>>) -> Result<()> {
        self.inner.restore(positions)
    }
}

impl SourceReader for FailReader {
    fn partitions(&self) -> Vec<usize> {
        self.inner.partitions()
    }

    fn poll(&mut self, max_rows: usize, timeout: Duration) -> Result<Poll> {
        std::thread::sleep(self.pace);
        if self.polls_left.fetch_sub(1, Ordering::SeqCst) <= 0 {
            return Err(DataflowError::connector("injected failure", ErrorKind::Internal, Retry::No));
        }
        self.inner.poll(max_rows, timeout)
    }

    fn positions(&self) -> Option<Vec<(usize, Vec<u8>)>> {
        self.inner.positions()
    }
}
