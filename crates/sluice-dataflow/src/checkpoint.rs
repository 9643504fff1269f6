//! Exactly-once checkpoints: the settings a job runs with.
//!
//! # The protocol (asynchronous barrier snapshots, aligned)
//!
//! Every `interval`, the runtime's checkpoint coordinator asks the source tasks for checkpoint
//! `n`. Each source task, between two polls, hands its pre-aggregated partials on, records its
//! readers' positions and per-partition watermark state, and sends a [`Barrier`] to every keyed
//! task and to the sink. A keyed task that has the barrier from one input holds back that
//! input's later messages until the barrier has come from every input (or the input ended);
//! then it snapshots its operators' state by key group and passes the barrier on. The sink task
//! aligns the same way, then [pre-commits](crate::sink::Sink::pre_commit) its sinks. The
//! coordinator, on its own thread, writes the state files and then the manifest — the
//! checkpoint is complete — and only then tells the sink task to commit. Processing goes on
//! while the files are written.
//!
//! A restarted job takes the latest complete checkpoint: sources resume from its positions,
//! keyed state is restored (at any parallelism: state is split into key groups), and sinks
//! commit the checkpoint's pending transactions and abort every other one left behind. At the
//! end of a bounded input, a last checkpoint records the final positions and commits the
//! output, so a job that ran to the end and is started again only confirms it.
//!
//! [`Barrier`]: crate::message::Barrier

use std::time::Duration;

use sluice_checkpoint::{CheckpointStore, Target};

/// Where a job's state comes from when it starts.
#[derive(Debug, Clone, Default)]
pub enum Restore {
    /// The job's latest complete checkpoint, if it has one (the default).
    #[default]
    Latest,
    /// No state: start over (older checkpoints are cleaned up later; pending transactions of
    /// earlier attempts are aborted).
    Fresh,
    /// A savepoint or checkpoint in another store (or of another job name).
    From {
        /// The store holding it.
        store: CheckpointStore,
        /// Which one.
        target: Target,
    },
}

/// Checkpointing settings; see the [module docs](self).
#[derive(Debug, Clone)]
#[must_use]
pub struct Checkpointing {
    pub(crate) store: CheckpointStore,
    pub(crate) interval: Duration,
    pub(crate) retain: usize,
    pub(crate) restore: Restore,
    pub(crate) max_failures: u32,
}

impl Checkpointing {
    /// Checkpoints into `store` every 10 s, keeping the last 3, resuming from the latest, and
    /// stopping the job after 3 consecutive failed checkpoints.
    pub fn new(store: CheckpointStore) -> Self {
        Checkpointing {
            store,
            interval: Duration::from_secs(10),
            retain: 3,
            restore: Restore::Latest,
            max_failures: 3,
        }
    }

    /// Time between the start of one checkpoint and the next (at least 1 ms).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Complete checkpoints kept (at least 1; 2 or more leaves one to fall back to).
    pub fn retain(mut self, n: usize) -> Self {
        self.retain = n.max(1);
        self
    }

    /// Where the state comes from at start.
    pub fn restore(mut self, restore: Restore) -> Self {
        self.restore = restore;
        self
    }

    /// Consecutive failed checkpoints tolerated; one more stops the job (0: the first failure
    /// stops it).
    pub fn max_consecutive_failures(mut self, n: u32) -> Self {
        self.max_failures = n;
        self
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &CheckpointStore {
        &self.store
    }
}
