//! Processing time, read in one place.
//!
//! The runtime reads the wall clock only in its task loops, through a [`Clock`], and passes the
//! value down as `now` (idleness, processing-time watermarks). Tests use a [`FakeClock`] and move
//! it explicitly, so idleness is deterministic.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::time::TimestampMs;

/// A source of processing time in ms since the Unix epoch.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current processing time.
    fn now_ms(&self) -> TimestampMs;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> TimestampMs {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// A clock that moves only when told; clones share the same time.
///
/// ```
/// use sluice_dataflow::clock::{Clock, FakeClock};
///
/// let clock = FakeClock::new(1_000);
/// let seen_by_job = clock.clone();
/// clock.advance(500);
/// assert_eq!(seen_by_job.now_ms(), 1_500);
/// ```
#[derive(Debug, Clone, Default)]
pub struct FakeClock(Arc<AtomicI64>);

impl FakeClock {
    /// A clock reading `start`.
    #[must_use]
    pub fn new(start: TimestampMs) -> Self {
        FakeClock(Arc::new(AtomicI64::new(start)))
    }

    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the clock to `now`.
    pub fn set(&self, now: TimestampMs) {
        self.0.store(now, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now_ms(&self) -> TimestampMs {
        self.0.load(Ordering::SeqCst)
    }
}
