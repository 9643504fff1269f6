//! One type for any window spec.

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash, RandomState};

use super::spec::Shape;
use super::{AlignedWindows, Late, SessionWindows, WindowResult, WindowSpec, WindowState};
use crate::aggregate::Aggregate;
use crate::time::{TimestampMs, Watermark};

/// Keyed window aggregation for any [`WindowSpec`]: aggregate `A` per window and key `K`.
///
/// Its [`WindowState`] methods dispatch on the variant for every call — a well-predicted branch.
/// A batch loop that wants none matches once and runs a function generic over
/// `W: WindowState<K, A>` on the variant:
///
/// ```
/// use sluice_dataflow::aggregate::{Aggregate, Count};
/// use sluice_dataflow::window::{WindowAggregator, WindowSpec, WindowState};
///
/// fn add_batch<W: WindowState<u64, Count>>(state: &mut W, keys: &[u64], times: &[i64]) -> usize {
///     keys.iter().zip(times).filter(|&(&key, &ts)| state.add(key, ts, ()).is_err()).count()
/// }
///
/// let spec = WindowSpec::hop(60_000, 10_000)?;
/// let mut state = WindowAggregator::<u64, Count>::new(&spec, Count);
/// let late = match &mut state {
///     WindowAggregator::Aligned(windows) => add_batch(windows, &[1, 2, 1], &[5, 7, 9]),
///     WindowAggregator::Session(windows) => add_batch(windows, &[1, 2, 1], &[5, 7, 9]),
/// };
/// assert_eq!((late, state.state_entries()), (0, 2));
/// # Ok::<(), sluice_dataflow::DataflowError>(())
/// ```
pub enum WindowAggregator<K, A: Aggregate, S = RandomState> {
    /// Tumbling or hop windows.
    Aligned(AlignedWindows<K, A, S>),
    /// Session windows.
    Session(SessionWindows<K, A, S>),
}

impl<K, A, S> WindowAggregator<K, A, S>
where
    K: Hash + Eq + Ord + Clone,
    A: Aggregate,
    S: BuildHasher + Default,
{
    /// Empty state for `spec`, at watermark [`Watermark::MIN`].
    #[must_use]
    pub fn new(spec: &WindowSpec, agg: A) -> Self {
        match spec.shape() {
            Shape::Aligned(grid) => Self::Aligned(AlignedWindows::new(grid, spec.allowed_lateness(), agg)),
            Shape::Session { gap } => Self::Session(SessionWindows::new(gap, spec.allowed_lateness(), agg)),
        }
    }
}

macro_rules! dispatch {
    ($self:ident, $windows:ident => $call:expr) => {
        match $self {
            WindowAggregator::Aligned($windows) => $call,
            WindowAggregator::Session($windows) => $call,
        }
    };
}

impl<K, A, S> WindowState<K, A> for WindowAggregator<K, A, S>
where
    K: Hash + Eq + Ord + Clone,
    A: Aggregate,
    S: BuildHasher + Default,
{
    #[inline]
    fn add(&mut self, key: K, ts: TimestampMs, input: A::Input<'_>) -> Result<(), Late> {
        dispatch!(self, w => w.add(key, ts, input))
    }

    #[inline]
    fn add_borrowed<Q>(&mut self, key: &Q, ts: TimestampMs, input: A::Input<'_>) -> Result<(), Late>
    where
        K: Borrow<Q>,
        Q: ?Sized + Hash + Eq + ToOwned<Owned = K>,
    {
        dispatch!(self, w => w.add_borrowed(key, ts, input))
    }

    fn advance(&mut self, wm: Watermark, out: &mut Vec<WindowResult<K, A::Output>>) {
        dispatch!(self, w => w.advance(wm, out));
    }

    fn watermark(&self) -> Watermark {
        dispatch!(self, w => w.watermark())
    }

    fn open_windows(&self) -> usize {
        dispatch!(self, w => w.open_windows())
    }

    fn state_entries(&self) -> usize {
        dispatch!(self, w => w.state_entries())
    }

    fn approx_state_bytes(&self, key_heap_bytes: impl Fn(&K) -> usize) -> usize {
        dispatch!(self, w => w.approx_state_bytes(key_heap_bytes))
    }
}
