//! Event time and watermarks.
//!
//! # The contract
//!
//! - **Timestamps** are `i64` milliseconds since the Unix epoch ([`TimestampMs`]).
//! - A [`Watermark`] `w` asserts that every event with a timestamp `< w` has been seen. Events
//!   that arrive anyway may be *late* (see [`window`](crate::window) for what that means for a
//!   window). [`Watermark::MIN`] means "nothing known yet", [`Watermark::MAX`] means "+∞,
//!   the input has ended".
//! - **Per input partition** the watermark is `max event time read so far − bound`, where
//!   `bound` is the out-of-orderness the source tolerates ([`BoundedOutOfOrderness`]). It is
//!   [`Watermark::MIN`] before the first record. It is a function of the records read and of
//!   nothing else — no wall-clock timers — so replaying the same log gives the same watermarks
//!   and therefore the same results.
//! - **An operator's watermark** is the minimum over its inputs' watermarks
//!   ([`WatermarkCombiner`]). An input that has had no data for the idle timeout stops holding
//!   the minimum back, and becomes active again with its next record. If *every* input is idle
//!   the combined watermark holds where it is. The combined watermark never goes backwards.
//!   A bounded input that ends contributes [`Watermark::MAX`]; when all inputs have ended the
//!   combined watermark is [`Watermark::MAX`] and every window emits.
//! - **Processing time** is never read from a clock in this crate. Idleness and the
//!   processing-time mode ([`ProcessingTime`]) take `now` from the caller, so a deterministic
//!   test (or a replay) drives them with explicit values.
//!
//! # Processing-time mode
//!
//! In processing-time mode the caller stamps each record with the processing time at which it
//! was read and uses [`ProcessingTime`] as the generator: the watermark is simply the latest
//! `now` passed. Windows then close as time passes, and no record is ever late.

mod combiner;
mod generator;

#[cfg(test)]
mod test;

pub use combiner::WatermarkCombiner;
pub use generator::{BoundedOutOfOrderness, ProcessingTime, WatermarkGenerator};
pub use sluice_types::TimestampMs;

/// How far event time has progressed: every event with a timestamp `< self.0` is expected to have
/// been seen.
///
/// Ordered like its timestamp. [`Watermark::MIN`] means nothing is known yet; [`Watermark::MAX`]
/// means the input has ended (+∞).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Watermark(pub TimestampMs);

impl Watermark {
    /// Nothing is known yet: closes no window.
    pub const MIN: Watermark = Watermark(i64::MIN);
    /// End of input (+∞): closes every window.
    pub const MAX: Watermark = Watermark(i64::MAX);

    /// The timestamp value.
    #[must_use]
    pub const fn get(self) -> TimestampMs {
        self.0
    }

    /// True for [`Watermark::MAX`], the end of input.
    #[must_use]
    pub const fn is_end(self) -> bool {
        self.0 == i64::MAX
    }
}

impl std::fmt::Display for Watermark {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Watermark::MIN => f.write_str("-inf"),
            Watermark::MAX => f.write_str("+inf"),
            Watermark(ts) => write!(f, "{ts}"),
        }
    }
}
