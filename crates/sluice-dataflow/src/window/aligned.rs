//! Tumbling and hop windows over panes.

use std::borrow::Borrow;
use std::collections::hash_map::{Entry, HashMap};
use std::collections::VecDeque;
use std::hash::{BuildHasher, Hash, RandomState};

use super::spec::Grid;
use super::{Late, WindowResult, WindowState};
use crate::aggregate::Aggregate;
use crate::time::{TimestampMs, Watermark};

/// Keyed state of tumbling or hop windows: partial aggregates per pane and key.
///
/// See the [module docs](super) for the contract. `S` is the hasher of the per-pane maps.
///
/// Invariants:
/// - `panes` is sorted by start, and every pane starts at or after `open_from`: panes of closed
///   windows only are dropped on the `advance` that closes their last window, and an event for
///   such a pane is late.
/// - Every window starting before `open_from` has been emitted; none starting at or after it
///   has.
pub struct AlignedWindows<K, A: Aggregate, S = RandomState> {
    agg: A,
    pub(super) grid: Grid,
    pub(super) lateness: i64,
    pub(super) watermark: Watermark,
    /// Start of the first window not closed yet (`i128::MAX` once everything has closed).
    pub(super) open_from: i128,
    pub(super) panes: VecDeque<Pane<K, A::Acc, S>>,
    /// Accumulators over all panes.
    pub(super) entries: usize,
    /// Size of the last pane emitted whole: new panes start with that capacity.
    capacity_hint: usize,
}

/// One pane: `[start, start + grid.pane)`, a partial aggregate per key.
pub(super) struct Pane<K, Acc, S> {
    pub(super) start: i64,
    pub(super) accs: HashMap<K, Acc, S>,
}

impl<K, A, S> AlignedWindows<K, A, S>
where
    K: Hash + Eq + Ord + Clone,
    A: Aggregate,
    S: BuildHasher + Default,
{
    pub(crate) fn new(grid: Grid, lateness: i64, agg: A) -> Self {
        AlignedWindows {
            agg,
            grid,
            lateness,
            watermark: Watermark::MIN,
            open_from: grid.open_from(Watermark::MIN, lateness),
            panes: VecDeque::new(),
            entries: 0,
            capacity_hint: 0,
        }
    }

    /// The pane starting at `start`, created if missing; see [`pane_index`].
    #[inline]
    fn pane(&mut self, start: i64) -> usize {
        let hint = self.capacity_hint;
        pane_index(&mut self.panes, start, |p| p.start, || new_pane(start, hint))
    }

    /// Checks lateness and returns the index of the pane for `ts`.
    #[inline]
    fn open_pane(&mut self, ts: TimestampMs) -> Result<usize, Late> {
        let start = self.grid.pane_start(ts);
        if i128::from(start) < self.open_from {
            return Err(self.late(ts));
        }
        Ok(self.pane(start))
    }

    #[cold]
    fn late(&self, ts: TimestampMs) -> Late {
        let window = self.grid.window(self.grid.last_window_start(ts));
        Late { ts, window, watermark: self.watermark, allowed_lateness: self.lateness }
    }

    /// Emits window `[start, start + size)` (tumbling: the front pane, moved out whole).
    fn emit(&mut self, start: i128, out: &mut Vec<WindowResult<K, A::Output>>) {
        let window = self.grid.window(start);
        if self.grid.is_tumbling() {
            let Some(pane) = self.panes.pop_front() else { return };
            self.entries -= pane.accs.len();
            self.capacity_hint = pane.accs.len();
            let mut rows: Vec<(K, A::Acc)> = pane.accs.into_iter().collect();
            rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            out.extend(rows.into_iter().map(|(key, acc)| WindowResult {
                window,
                key,
                value: self.agg.finish(acc),
            }));
            return;
        }
        let end = start + i128::from(self.grid.size);
        let mut merged: HashMap<&K, A::Acc, S> = HashMap::with_hasher(S::default());
        for pane in self.panes.iter().take_while(|pane| i128::from(pane.start) < end) {
            for (key, acc) in &pane.accs {
                self.agg.merge(merged.entry(key).or_insert_with(|| self.agg.init()), acc);
            }
        }
        let mut rows: Vec<(&K, A::Acc)> = merged.into_iter().collect();
        rows.sort_unstable_by(|a, b| a.0.cmp(b.0));
        out.extend(rows.into_iter().map(|(key, acc)| WindowResult {
            window,
            key: key.clone(),
            value: self.agg.finish(acc),
        }));
        // Panes before the next window's start are needed by no open window.
        let next = start + i128::from(self.grid.slide);
        while self.panes.front().is_some_and(|pane| i128::from(pane.start) < next) {
            if let Some(pane) = self.panes.pop_front() {
                self.entries -= pane.accs.len();
            }
        }
    }
}

impl<K, A, S> AlignedWindows<K, A, S>
where
    K: Hash + Eq + Ord + Clone,
    A: Aggregate,
    S: BuildHasher + Default,
{
    /// Merges a partial accumulator of `key` for the pane starting at `pane_start` (made by a
    /// [`LocalPanes`](super::LocalPanes) over the same spec): the second phase of two-phase
    /// aggregation. The rows it folds join every window of the pane, as they would have one by
    /// one while all those windows are open.
    ///
    /// # Errors
    /// [`Late`] (for the pane's start) if the pane's first window has closed: its rows would
    /// have been judged one by one, so the partial is refused and the state is unchanged. The
    /// runtime never sends such a partial (see [`LocalPanes`](super::LocalPanes)).
    pub fn merge_pane(&mut self, pane_start: TimestampMs, key: K, acc: A::Acc) -> Result<(), Late> {
        let first = self.grid.first_window_containing(pane_start);
        if first < self.open_from || self.grid.pane_start(pane_start) != pane_start {
            return Err(self.late(pane_start));
        }
        let index = self.pane(pane_start);
        match self.panes[index].accs.entry(key) {
            Entry::Occupied(mut entry) => self.agg.merge(entry.get_mut(), &acc),
            Entry::Vacant(entry) => {
                entry.insert(acc);
                self.entries += 1;
            }
        }
        Ok(())
    }
}

impl<K, A, S> WindowState<K, A> for AlignedWindows<K, A, S>
where
    K: Hash + Eq + Ord + Clone,
    A: Aggregate,
    S: BuildHasher + Default,
{
    #[inline]
    fn add(&mut self, key: K, ts: TimestampMs, input: A::Input<'_>) -> Result<(), Late> {
        let index = self.open_pane(ts)?;
        match self.panes[index].accs.entry(key) {
            Entry::Occupied(mut entry) => self.agg.add(entry.get_mut(), input),
            Entry::Vacant(entry) => {
                let mut acc = self.agg.init();
                self.agg.add(&mut acc, input);
                entry.insert(acc);
                self.entries += 1;
            }
        }
        Ok(())
    }

    #[inline]
    fn add_borrowed<Q>(&mut self, key: &Q, ts: TimestampMs, input: A::Input<'_>) -> Result<(), Late>
    where
        K: Borrow<Q>,
        Q: ?Sized + Hash + Eq + ToOwned<Owned = K>,
    {
        let index = self.open_pane(ts)?;
        let pane = &mut self.panes[index].accs;
        if let Some(acc) = pane.get_mut(key) {
            self.agg.add(acc, input);
        } else {
            let mut acc = self.agg.init();
            self.agg.add(&mut acc, input);
            pane.insert(key.to_owned(), acc);
            self.entries += 1;
        }
        Ok(())
    }

    fn advance(&mut self, wm: Watermark, out: &mut Vec<WindowResult<K, A::Output>>) {
        if wm <= self.watermark {
            return;
        }
        self.watermark = wm;
        let open_from = self.grid.open_from(wm, self.lateness);
        // Walk the closing windows that hold a pane, in start (= end) order, skipping gaps.
        let mut start = self.open_from;
        while let Some(front) = self.panes.front() {
            start = start.max(self.grid.first_window_containing(front.start));
            if start >= open_from {
                break;
            }
            self.emit(start, out);
            start += i128::from(self.grid.slide);
        }
        self.open_from = open_from;
    }

    fn watermark(&self) -> Watermark {
        self.watermark
    }

    fn open_windows(&self) -> usize {
        // Union of the runs of windows covering each pane; runs are ordered like the panes.
        let slide = i128::from(self.grid.slide);
        let mut count = 0;
        let mut next = self.open_from;
        for pane in &self.panes {
            let first = next.max(self.grid.first_window_containing(pane.start));
            let last = self.grid.last_window_start(pane.start);
            if last >= first {
                count += usize::try_from((last - first) / slide + 1).unwrap_or(usize::MAX);
                next = last + slide;
            }
        }
        count
    }

    fn state_entries(&self) -> usize {
        self.entries
    }

    fn approx_state_bytes(&self, key_heap_bytes: impl Fn(&K) -> usize) -> usize {
        let slot = std::mem::size_of::<(K, A::Acc)>() + 1;
        let panes = self.panes.capacity() * std::mem::size_of::<Pane<K, A::Acc, S>>();
        panes
            + self
                .panes
                .iter()
                .map(|pane| {
                    pane.accs.capacity() * slot
                        + pane
                            .accs
                            .iter()
                            .map(|(k, acc)| key_heap_bytes(k) + self.agg.acc_heap_bytes(acc))
                            .sum::<usize>()
                })
                .sum::<usize>()
    }
}

/// An empty pane; out of line, as new panes are rare.
#[cold]
#[inline(never)]
fn new_pane<K, Acc, S: Default>(start: i64, capacity: usize) -> Pane<K, Acc, S> {
    Pane { start, accs: HashMap::with_capacity_and_hasher(capacity, S::default()) }
}

/// The index in `panes` (sorted by start) of the pane starting at `start`, created by `make` if
/// missing. The newest pane is checked first: with mostly ordered input nearly every event lands
/// there. Shared by the window state and the source tasks' local pre-aggregation.
#[inline]
pub(super) fn pane_index<P>(
    panes: &mut VecDeque<P>,
    start: i64,
    start_of: impl Fn(&P) -> i64,
    make: impl FnOnce() -> P,
) -> usize {
    match panes.back().map(&start_of) {
        Some(back) if back == start => panes.len() - 1,
        Some(back) if back > start => match panes.binary_search_by_key(&start, start_of) {
            Ok(index) => index,
            Err(index) => {
                panes.insert(index, make());
                index
            }
        },
        _ => {
            panes.push_back(make());
            panes.len() - 1
        }
    }
}
