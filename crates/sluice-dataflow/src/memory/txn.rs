//! [`TxnSink`]: an in-memory two-phase-commit sink.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use arrow_array::RecordBatch;

use crate::error::Result;
use crate::sink::{Delivery, Sink};

/// What outlives a job run: the committed batches and the prepared transactions.
#[derive(Debug, Default)]
struct Store {
    committed: Vec<RecordBatch>,
    prepared: BTreeMap<String, Vec<RecordBatch>>,
    commits: u64,
}

/// A two-phase-commit sink in memory: batches written since a checkpoint's barrier are
/// prepared under a transaction id at the barrier and become visible ([`committed`]) when
/// the checkpoint completes. Clones share the store, so a test can run a job, let it fail,
/// and run it again on a clone: prepared transactions survive like a log's staging files.
/// Without checkpointing, [`finish`](Sink::finish) commits everything at the end.
///
/// [`committed`]: TxnSink::committed
#[derive(Debug, Clone, Default)]
pub struct TxnSink {
    store: Arc<Mutex<Store>>,
    open: Vec<RecordBatch>,
}

impl TxnSink {
    /// An empty sink.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A sink writing to the same store, with nothing open (what a restarted job gets).
    #[must_use]
    pub fn reopen(&self) -> Self {
        TxnSink { store: Arc::clone(&self.store), open: Vec::new() }
    }

    /// The committed batches, in commit order.
    #[must_use]
    pub fn committed(&self) -> Vec<RecordBatch> {
        self.lock().committed.clone()
    }

    /// Ids of transactions prepared and not yet settled.
    #[must_use]
    pub fn prepared(&self) -> Vec<String> {
        self.lock().prepared.keys().cloned().collect()
    }

    /// Transactions committed so far.
    #[must_use]
    pub fn commits(&self) -> u64 {
        self.lock().commits
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Sink for TxnSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.open.push(batch.clone());
        Ok(())
    }

    fn delivery(&self) -> Delivery {
        Delivery::ExactlyOnce
    }

    fn pre_commit(&mut self, id: u64) -> Result<Vec<String>> {
        if self.open.is_empty() {
            return Ok(Vec::new());
        }
        let txn = format!("txn-{id}");
        let batches = std::mem::take(&mut self.open);
        self.lock().prepared.insert(txn.clone(), batches);
        Ok(vec![txn])
    }

    fn commit(&mut self, _id: u64, pending: &[String]) -> Result<()> {
        let mut store = self.lock();
        for txn in pending {
            if let Some(batches) = store.prepared.remove(txn) {
                store.committed.extend(batches);
                store.commits += 1;
            }
        }
        Ok(())
    }

    fn recover(&mut self, pending: &[String]) -> Result<()> {
        self.commit(0, pending)?;
        self.lock().prepared.clear();
        self.open.clear();
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        let batches = std::mem::take(&mut self.open);
        let mut store = self.lock();
        if !batches.is_empty() {
            store.committed.extend(batches);
            store.commits += 1;
        }
        Ok(())
    }
}
