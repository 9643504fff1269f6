//! Aggregate functions.
//!
//! An [`Aggregate`] folds the inputs of one window and key into an *accumulator* (`add`),
//! combines two accumulators (`merge`: a hop window merges its panes, merging sessions merge
//! their accumulators) and turns an accumulator into the output (`finish`). The function object
//! (`&self`) holds configuration only; all state is in the accumulator, which is plain data so
//! window state can be snapshotted.
//!
//! Built-ins: [`Count`], [`Sum`], [`Avg`], [`Min`], [`Max`], [`CountDistinct`] (exact),
//! [`First`] and [`Last`]. Several aggregates computed together are a tuple: `(Count,
//! Sum<i64>, Avg<i64>)` is itself an `Aggregate` whose input, accumulator and output are the
//! tuples of its parts, so a window keeps one accumulator per key however many functions it
//! computes. Tuples of up to 8 aggregates are supported (nest tuples for more).
//!
//! # Inputs are borrowed
//!
//! `Input<'a>` may borrow from the record: [`Min<str>`] takes a `&str` and copies it only when it
//! becomes the new minimum, [`CountDistinct<str>`] only when the value is new. So an aggregate
//! over a string column allocates per new state, not per record.
//!
//! # A user-defined aggregate
//!
//! Any type can implement the trait; everything is monomorphized, so it costs the same as a
//! built-in:
//!
//! ```
//! use sluice_dataflow::aggregate::{Aggregate, Count};
//!
//! /// Counts the requests slower than a threshold.
//! struct SlowRequests {
//!     threshold_ms: u32,
//! }
//!
//! impl Aggregate for SlowRequests {
//!     type Input<'a> = u32;
//!     type Acc = u64;
//!     type Output = u64;
//!
//!     fn init(&self) -> u64 {
//!         0
//!     }
//!     fn add(&self, acc: &mut u64, latency_ms: u32) {
//!         *acc += u64::from(latency_ms > self.threshold_ms);
//!     }
//!     fn merge(&self, acc: &mut u64, other: &u64) {
//!         *acc += other;
//!     }
//!     fn finish(&self, acc: u64) -> u64 {
//!         acc
//!     }
//! }
//!
//! // All requests and the slow ones, in one accumulator.
//! let agg = (Count, SlowRequests { threshold_ms: 250 });
//! let mut acc = agg.init();
//! for latency in [120, 300, 90, 800] {
//!     agg.add(&mut acc, ((), latency));
//! }
//! assert_eq!(agg.finish(acc), (4, 2));
//! ```

mod distinct;
mod numeric;
mod order;
mod tuple;

#[cfg(test)]
mod test;

pub use distinct::CountDistinct;
pub use numeric::{Avg, Count, Sum, Summable};
pub use order::{First, Last, Max, Min};

/// An aggregate function: how one record updates an accumulator, how two accumulators merge,
/// and what the result is.
///
/// Laws the window operators rely on (the property tests check them for the built-ins):
/// - `merge` is associative, and `init()` is its identity;
/// - adding inputs to one accumulator gives the same result as adding them to several and merging
///   those in order.
pub trait Aggregate {
    /// What one record contributes, possibly borrowed from the record.
    type Input<'a>
    where
        Self: 'a;
    /// The running state for one window and key.
    type Acc;
    /// The final result.
    type Output;

    /// An empty accumulator.
    fn init(&self) -> Self::Acc;

    /// Folds one input into `acc`. Called once per record: keep it cheap.
    fn add(&self, acc: &mut Self::Acc, input: Self::Input<'_>);

    /// Folds `other` into `acc`, as if `other`'s inputs had been added to `acc` after its own.
    fn merge(&self, acc: &mut Self::Acc, other: &Self::Acc);

    /// The result of a closed window.
    fn finish(&self, acc: Self::Acc) -> Self::Output;

    /// Heap memory owned by `acc`, in bytes, for memory accounting (approximate; the default
    /// is 0, right for accumulators without heap data).
    fn acc_heap_bytes(&self, acc: &Self::Acc) -> usize {
        let _ = acc;
        0
    }
}
