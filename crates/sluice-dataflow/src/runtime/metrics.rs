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

    /// A consistent-enough copy of the counters.
    #[must_use]
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            records_in: self.records_in.load(Ordering::Relaxed),
            records_late: self.records_late.load(Ordering::Relaxed),
            rows_out: self.rows_out.load(Ordering::Relaxed),
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
    /// The sink's input watermark.
    pub watermark: Watermark,
}
