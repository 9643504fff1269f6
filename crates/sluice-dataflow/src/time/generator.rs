//! Per-partition watermark generators.

use super::{TimestampMs, Watermark};
use crate::error::{DataflowError, Result};

/// Produces the watermark of one input partition from the records read on it.
///
/// The runtime calls [`on_record`](Self::on_record) for each record (or once per batch with the
/// batch's largest timestamp: the result is the same), [`on_tick`](Self::on_tick) when processing
/// time passes without records, and [`end_of_input`](Self::end_of_input) when a bounded partition
/// is exhausted. `now` is processing time in ms, always supplied by the caller.
pub trait WatermarkGenerator {
    /// A record with event time `ts` was read at processing time `now`.
    fn on_record(&mut self, ts: TimestampMs, now: TimestampMs);

    /// Processing time reached `now` without a record. Event-time generators ignore it.
    fn on_tick(&mut self, now: TimestampMs) {
        let _ = now;
    }

    /// The partition is exhausted: from now on the watermark is [`Watermark::MAX`].
    fn end_of_input(&mut self);

    /// The partition's current watermark.
    fn current(&self) -> Watermark;
}

/// Event-time watermarks: `max event time read so far − bound`, [`Watermark::MIN`] before any
/// record.
///
/// The result never reaches [`Watermark::MAX`] from records alone (it is capped one below), so
/// "end of input" is only ever said by [`end_of_input`](WatermarkGenerator::end_of_input).
///
/// ```
/// use sluice_dataflow::time::{BoundedOutOfOrderness, Watermark};
///
/// let mut wm = BoundedOutOfOrderness::new(5_000)?; // tolerate 5 s of disorder
/// assert_eq!(wm.current(), Watermark::MIN);
/// assert_eq!(wm.observe(60_000), Watermark(55_000));
/// assert_eq!(wm.observe(58_000), Watermark(55_000)); // an older record does not move it back
/// # Ok::<(), sluice_dataflow::DataflowError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundedOutOfOrderness {
    /// Out-of-orderness tolerated, in ms (>= 0).
    bound: i64,
    /// Largest event time read so far; `None` before the first record.
    max_ts: Option<TimestampMs>,
    /// Set by `end_of_input`.
    ended: bool,
}

impl BoundedOutOfOrderness {
    /// A generator tolerating `bound` ms of disorder.
    ///
    /// # Errors
    /// [`DataflowError::InvalidParameter`] if `bound < 0`.
    pub fn new(bound: i64) -> Result<Self> {
        let bound = DataflowError::non_negative("out-of-orderness bound", bound)?;
        Ok(BoundedOutOfOrderness { bound, max_ts: None, ended: false })
    }

    /// The configured bound in ms.
    #[must_use]
    pub fn bound(&self) -> i64 {
        self.bound
    }

    /// The largest event time observed, if any (what a checkpoint keeps to resume from).
    #[must_use]
    pub fn max_event_time(&self) -> Option<TimestampMs> {
        self.max_ts
    }

    /// Records an event time and returns the (possibly advanced) watermark.
    #[inline]
    pub fn observe(&mut self, ts: TimestampMs) -> Watermark {
        self.max_ts = Some(self.max_ts.map_or(ts, |max| max.max(ts)));
        self.current()
    }

    /// The current watermark.
    #[must_use]
    #[inline]
    pub fn current(&self) -> Watermark {
        match self.max_ts {
            _ if self.ended => Watermark::MAX,
            None => Watermark::MIN,
            // Capped below MAX: only `end_of_input` may say "+inf".
            Some(max) => Watermark(max.saturating_sub(self.bound).min(i64::MAX - 1)),
        }
    }
}

impl WatermarkGenerator for BoundedOutOfOrderness {
    fn on_record(&mut self, ts: TimestampMs, _now: TimestampMs) {
        self.observe(ts);
    }

    fn end_of_input(&mut self) {
        self.ended = true;
    }

    fn current(&self) -> Watermark {
        BoundedOutOfOrderness::current(self)
    }
}

/// Processing-time watermarks: the latest `now` the caller passed (never decreasing, so a clock
/// that steps back does not move the watermark back).
///
/// Records are expected to be stamped with the processing time at which they were read; with
/// that, no record is ever late.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessingTime {
    current: Watermark,
}

impl ProcessingTime {
    /// A generator at [`Watermark::MIN`] until the first `now`.
    #[must_use]
    pub fn new() -> Self {
        ProcessingTime { current: Watermark::MIN }
    }

    /// Processing time is now `now`; returns the watermark.
    pub fn advance(&mut self, now: TimestampMs) -> Watermark {
        if !self.current.is_end() {
            self.current = self.current.max(Watermark(now.min(i64::MAX - 1)));
        }
        self.current
    }

    /// The current watermark.
    #[must_use]
    pub fn current(&self) -> Watermark {
        self.current
    }
}

impl Default for ProcessingTime {
    fn default() -> Self {
        ProcessingTime::new()
    }
}

impl WatermarkGenerator for ProcessingTime {
    fn on_record(&mut self, _ts: TimestampMs, now: TimestampMs) {
        self.advance(now);
    }

    fn on_tick(&mut self, now: TimestampMs) {
        self.advance(now);
    }

    fn end_of_input(&mut self) {
        self.current = Watermark::MAX;
    }

    fn current(&self) -> Watermark {
        self.current
    }
}
