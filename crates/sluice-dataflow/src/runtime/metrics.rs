//! Live counters of a running job, shared with whoever displays them.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::time::Watermark;

/// Counters updated by the task threads (relaxed atomics: cheap, eventually consistent).
#[derive(Debug)]
pub struct Metrics {
    /// Rows read from the source.
    pub records_in: AtomicU64,
    /// Rows sent to the late side output (late, or null key / event time).
    pub records_late: AtomicU64,
    /// Rows written to the main sink (for a window job: one per window and key).
    pub rows_out: AtomicU64,
    /// Batches written to the main sink.
    pub batches_out: AtomicU64,
    /// Rows folded into partial accumulators in the source tasks (two-phase aggregation).
    pub rows_pre_aggregated: AtomicU64,
    /// Partial accumulators (one per pane and key) sent to the keyed tasks.
    pub partials_sent: AtomicU64,
    /// Approximate bytes of window state over the keyed tasks
    /// ([`approx_state_bytes`](crate::operator::Operator::approx_state_bytes)), sampled about
    /// once a second of processing time per task and at the end.
    pub state_bytes: AtomicU64,
    /// The largest `state_bytes` seen.
    pub peak_state_bytes: AtomicU64,
    /// Checkpoints completed.
    pub checkpoints: AtomicU64,
    /// Checkpoints that failed (not stored, or timed out).
    pub checkpoints_failed: AtomicU64,
    /// Duration of the last completed checkpoint, from its trigger to its manifest, in ms.
    pub last_checkpoint_ms: AtomicU64,
    /// Bytes of state in the last completed checkpoint.
    pub last_checkpoint_bytes: AtomicU64,
    /// How long the last keyed task to pass a barrier spent writing its operators' state, in
    /// µs: the pause its input sees (the rest of a checkpoint runs beside the tasks).
    pub last_snapshot_pause_us: AtomicU64,
    /// The sink's input watermark (min over its upstreams), as ms.
    watermark: AtomicI64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            records_in: AtomicU64::new(0),
            records_late: AtomicU64::new(0),
            rows_out: AtomicU64::new(0),
            batches_out: AtomicU64::new(0),
            rows_pre_aggregated: AtomicU64::new(0),
            partials_sent: AtomicU64::new(0),
            state_bytes: AtomicU64::new(0),
            peak_state_bytes: AtomicU64::new(0),
            checkpoints: AtomicU64::new(0),
            checkpoints_failed: AtomicU64::new(0),
            last_checkpoint_ms: AtomicU64::new(0),
            last_checkpoint_bytes: AtomicU64::new(0),
            last_snapshot_pause_us: AtomicU64::new(0),
            watermark: AtomicI64::new(i64::MIN),
        }
    }
}

impl Metrics {
    /// The watermark the sink has seen.
    #[must_use]
    pub fn watermark(&self) -> Watermark {
        Watermark(self.watermark.load(Ordering::Relaxed))
    }

    pub(crate) fn set_watermark(&self, wm: Watermark) {
        self.watermark.fetch_max(wm.get(), Ordering::Relaxed);
    }

    pub(crate) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Publishes the job's state size (the memory tracker's total) and keeps its peak.
    pub(crate) fn report_state_bytes(&self, total: u64) {
        self.state_bytes.store(total, Ordering::Relaxed);
        self.peak_state_bytes.fetch_max(total, Ordering::Relaxed);
    }

    /// A consistent-enough copy of the counters.
    #[must_use]
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            records_in: self.records_in.load(Ordering::Relaxed),
            records_late: self.records_late.load(Ordering::Relaxed),
            rows_out: self.rows_out.load(Ordering::Relaxed),
            rows_pre_aggregated: self.rows_pre_aggregated.load(Ordering::Relaxed),
            partials_sent: self.partials_sent.load(Ordering::Relaxed),
            state_bytes: self.state_bytes.load(Ordering::Relaxed),
            peak_state_bytes: self.peak_state_bytes.load(Ordering::Relaxed),
            checkpoints: self.checkpoints.load(Ordering::Relaxed),
            checkpoints_failed: self.checkpoints_failed.load(Ordering::Relaxed),
            last_checkpoint_ms: self.last_checkpoint_ms.load(Ordering::Relaxed),
            last_checkpoint_bytes: self.last_checkpoint_bytes.load(Ordering::Relaxed),
            last_snapshot_pause_us: self.last_snapshot_pause_us.load(Ordering::Relaxed),
            watermark: self.watermark(),
        }
    }
}

/// A copy of the [`Metrics`] counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Rows read from the source.
    pub records_in: u64,
    /// Rows sent to the late side output.
    pub records_late: u64,
    /// Rows written to the main sink.
    pub rows_out: u64,
    /// Rows pre-aggregated in the source tasks.
    pub rows_pre_aggregated: u64,
    /// Partial accumulators sent to the keyed tasks.
    pub partials_sent: u64,
    /// Approximate bytes of window state now.
    pub state_bytes: u64,
    /// The largest window state seen, in approximate bytes.
    pub peak_state_bytes: u64,
    /// Checkpoints completed.
    pub checkpoints: u64,
    /// Checkpoints that failed.
    pub checkpoints_failed: u64,
    /// Duration of the last completed checkpoint in ms.
    pub last_checkpoint_ms: u64,
    /// Bytes of state in the last completed checkpoint.
    pub last_checkpoint_bytes: u64,
    /// The last keyed task's pause to write its state at a barrier, in µs.
    pub last_snapshot_pause_us: u64,
    /// The sink's input watermark.
    pub watermark: Watermark,
}
