//! The local half of two-phase (local/global) aggregation of tumbling and hop windows.
//!
//! A source task holds a [`LocalPanes`]: it folds the rows that are *certainly on time* into
//! partial accumulators per pane and key, and hands them over ([`PaneAcc`]) to the keyed task
//! owning the key, which merges each into its pane with
//! [`AlignedWindows::merge_pane`](super::AlignedWindows::merge_pane). Rows that are not certainly
//! on time are refused, travel raw, and are judged by the keyed task as in single-phase.
//!
//! # Why the result is the same as single-phase
//!
//! Let `W` be the last watermark the source task sent downstream. The keyed task's watermark is
//! the minimum over its inputs of the last watermark each sent (idle inputs excluded), so while
//! this task is not idle the keyed watermark is `<= W`.
//!
//! - A row is taken only when **every** window of its pane is open at `W` (the pane starts at or
//!   after `open_from(W) + size − slide`; for tumbling windows: its window is open). It is then
//!   open at the keyed task too, so the row is not late there and, in single-phase, would have
//!   joined every window of its pane — exactly what merging the pane's partial does.
//! - Before the task sends a watermark `W'`, [`advance`](LocalPanes::advance) hands over every
//!   pane that is not fully open at `W'`; the partials travel on the same channel, ahead of
//!   `W'`, so each is merged while all its windows are still open at the keyed task.
//! - Rows of one pane and key reach the keyed task in their original order: first the partial
//!   (every row of the pane before it closed locally, folded in read order), then raw rows.
//!   `Aggregate::merge` is "as if the other's inputs were added after", so first/last ties,
//!   min/max and distinct counts come out identical; only float sums may differ in the last bits
//!   (a different addition order).
//!
//! The runtime hands everything over and stops pre-aggregating once the task has declared
//! itself idle: an idle input no longer holds the keyed watermark back, so `W` is no longer an
//! upper bound for it. Sessions are not pre-aggregated (partial sessions would have to be merged
//! by key across tasks); they always travel raw.

use std::borrow::Borrow;
use std::collections::hash_map::HashMap;
use std::collections::VecDeque;
use std::hash::{BuildHasher, Hash, RandomState};

use super::spec::{Grid, Shape};
use super::WindowSpec;
use crate::aggregate::Aggregate;
use crate::time::{TimestampMs, Watermark};

/// A partial accumulator of one key in one pane, handed from [`LocalPanes`] to the window state.
#[derive(Debug, Clone, PartialEq)]
pub struct PaneAcc<K, Acc> {
    /// The pane's start (panes are `gcd(size, slide)` long).
    pub pane_start: TimestampMs,
    /// The key.
    pub key: K,
    /// The partial accumulator of the pane's rows of this key.
    pub acc: Acc,
}

/// One pane's partial accumulators, by key.
struct Pane<K, Acc, S> {
    start: i64,
    accs: HashMap<K, Acc, S>,
}

/// Pre-aggregation state of one source task; see the [module docs](self).
pub struct LocalPanes<K, A: Aggregate, S = RandomState> {
    agg: A,
    grid: Grid,
    lateness: i64,
    watermark: Watermark,
    /// Smallest pane start whose windows are all open at `watermark`.
    min_pane: i128,
    /// Sorted by start; every pane starts at or after `min_pane`.
    panes: VecDeque<Pane<K, A::Acc, S>>,
    entries: usize,
}

impl<K, A, S> LocalPanes<K, A, S>
where
    K: Hash + Eq,
    A: Aggregate,
    S: BuildHasher + Default,
{
    /// Empty state for `spec` at watermark [`Watermark::MIN`]; `None` for session windows.
    #[must_use]
    pub fn new(spec: &WindowSpec, agg: A) -> Option<Self> {
        let Shape::Aligned(grid) = spec.shape() else { return None };
        let lateness = spec.allowed_lateness();
        Some(LocalPanes {
            agg,
            grid,
            lateness,
            watermark: Watermark::MIN,
            min_pane: Self::min_pane(grid, lateness, Watermark::MIN),
            panes: VecDeque::new(),
            entries: 0,
        })
    }

    /// The smallest pane start all of whose windows are open at `wm`: a pane's first window
    /// starts at `align_up(p − size + 1)`, which is `>= open_from` iff `p >= open_from + size −
    /// slide`.
    fn min_pane(grid: Grid, lateness: i64, wm: Watermark) -> i128 {
        let open_from = grid.open_from(wm, lateness);
        open_from.saturating_add(i128::from(grid.size) - i128::from(grid.slide))
    }

    /// Folds one row of `key` at `ts` into its pane if every window of the pane is open at the
    /// current watermark; returns `false` (state unchanged) if the row must travel raw.
    #[inline]
    pub fn add_borrowed<Q>(&mut self, key: &Q, ts: TimestampMs, input: A::Input<'_>) -> bool
    where
        K: Borrow<Q>,
        Q: ?Sized + Hash + Eq + ToOwned<Owned = K>,
    {
        let start = self.grid.pane_start(ts);
        if i128::from(start) < self.min_pane {
            return false;
        }
        let index = self.pane(start);
        let Some(Pane { accs, .. }) = self.panes.get_mut(index) else { return false };
        if let Some(acc) = accs.get_mut(key) {
            self.agg.add(acc, input);
        } else {
            let mut acc = self.agg.init();
            self.agg.add(&mut acc, input);
            accs.insert(key.to_owned(), acc);
            self.entries += 1;
        }
        true
    }

    /// The index of the pane starting at `start`, created if missing.
    #[inline]
    fn pane(&mut self, start: i64) -> usize {
        super::aligned::pane_index(
            &mut self.panes,
            start,
            |p| p.start,
            || Pane { start, accs: HashMap::with_hasher(S::default()) },
        )
    }

    /// Moves the watermark to `wm` (the one about to be sent downstream) and appends to `out`
    /// every partial of a pane that is no longer fully open at `wm`, oldest pane first. A
    /// watermark not greater than the current one hands nothing over.
    pub fn advance(&mut self, wm: Watermark, out: &mut Vec<PaneAcc<K, A::Acc>>) {
        if wm <= self.watermark {
            return;
        }
        self.watermark = wm;
        self.min_pane = Self::min_pane(self.grid, self.lateness, wm);
        while self.panes.front().is_some_and(|pane| i128::from(pane.start) < self.min_pane) {
            if let Some(pane) = self.panes.pop_front() {
                self.hand_over(pane, out);
            }
        }
    }

    /// Hands every partial over, whatever the watermark (before an idleness notice or the end).
    pub fn drain(&mut self, out: &mut Vec<PaneAcc<K, A::Acc>>) {
        while let Some(pane) = self.panes.pop_front() {
            self.hand_over(pane, out);
        }
    }

    fn hand_over(&mut self, pane: Pane<K, A::Acc, S>, out: &mut Vec<PaneAcc<K, A::Acc>>) {
        self.entries -= pane.accs.len();
        let pane_start = pane.start;
        out.extend(pane.accs.into_iter().map(|(key, acc)| PaneAcc { pane_start, key, acc }));
    }

    /// The watermark: the largest passed to [`advance`](Self::advance).
    #[must_use]
    pub fn watermark(&self) -> Watermark {
        self.watermark
    }

    /// Partial accumulators held.
    #[must_use]
    pub fn state_entries(&self) -> usize {
        self.entries
    }
}
