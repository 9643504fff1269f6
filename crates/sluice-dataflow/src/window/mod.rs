//! Windows: which windows an event joins, when a window closes, and what is late.
//!
//! # The contract
//!
//! - Windows are half-open, `[start, end)`, in event-time milliseconds.
//! - **Tumbling** `(size, offset)`: one window per event, starting at
//!   `ts − (ts − offset).rem_euclid(size)`.
//! - **Hop** `(size, slide, offset)`: every window whose start is aligned to `slide` (+ `offset`)
//!   with `start <= ts < start + size`. `slide <= size` is required, so that every event is in
//!   at least one window (and is therefore either aggregated or late, never lost).
//! - **Session** `(gap)`, per key: an event at `t` opens `[t, t + gap)`; sessions of the same key
//!   merge when they overlap *or touch* (Flink's rule: `a.start <= b.end && b.start <= a.end`), so
//!   a session's end is its last event time + gap and two events exactly `gap` apart share a
//!   session.
//! - A window **closes** when the watermark `>= end + allowed_lateness` (lateness defaults to 0),
//!   and then — and only then — emits its single final result: one row per key that had events
//!   in it. Output is append-only; a window never emits twice and never emits empty.
//! - An event is **late** when every window it would join is already closed, judged against the
//!   watermark *before* the event is read (the last value passed to
//!   [`advance`](WindowState::advance)). For tumbling and hop windows: when its last window's
//!   `end + lateness <= watermark`. For sessions the event is first merged with its key's open
//!   sessions, as Flink does, and it is late when the merged session would already be closed; the
//!   merge is then not applied. A late event changes no state and comes back to the caller as a
//!   [`Late`] value, so the runtime can route it to a side output with the reason and count it —
//!   nothing is dropped silently. An event that is not late joins those of its windows that are
//!   still open; a hop window that closed before the event arrived has already emitted (output
//!   is append-only) and does not see it, as in Flink.
//! - At the end of a bounded input the watermark is [`Watermark::MAX`] and every window emits.
//!
//! # Emission order
//!
//! Within one [`advance`](WindowState::advance), results are ordered by window end, then window
//! start, then key (keys are `Ord` for this). Because a window closes only after every window
//! with a smaller `end` has closed, the whole output stream is in that order too. Given the same
//! records and watermarks the output is identical, byte for byte.
//!
//! # Replay determinism and parallelism
//!
//! The state machines here are deterministic. In a running job, what reaches them is too when
//! **one source task** feeds the keyed tasks — parallelism 1, or a single-partition source at any
//! parallelism: each keyed task sees that task's rows and watermarks in the order it read them,
//! so replaying the same log gives the same windows, values and late rows, byte for byte.
//!
//! With **several source tasks**, a keyed task's watermark is the minimum over them of the last
//! watermark each sent, and how their messages interleave on its input depends on thread
//! scheduling. A row whose window closes around the time it is read may be judged before or
//! after another task's watermark moves the minimum past that window, so the late set — and the
//! counts of those windows — can differ between runs, as in Flink. Rows well within the
//! out-of-orderness bound are not affected, and every row is still either counted or late.
//! Two-phase aggregation ([`LocalPanes`]) does not add to this: its output is the single-phase
//! output (the `two_phase` property test checks it where that output is deterministic).
//!
//! # State and cost
//!
//! - Tumbling and hop windows ([`AlignedWindows`]) keep one partial aggregate per *pane* and key;
//!   a pane is `gcd(size, slide)` long, and each window is a union of panes. Each event updates
//!   exactly one pane — a hop window costs the same per record as a tumbling one, not
//!   `size / slide` times more. A closing window merges its panes; a pane is dropped when the
//!   last window that needs it closes. For tumbling windows the pane *is* the window, and its map
//!   is moved out whole on close.
//! - Sessions ([`SessionWindows`]) keep per key the sorted list of its open sessions, plus an
//!   index of sessions by end that is updated lazily (an event that only extends a session does
//!   not touch it).
//! - State is plain maps and vectors — no closures — so it can be snapshotted. Per record there
//!   is no allocation unless a new pane, key or session is created, and no key clone (keys are
//!   cloned once per new key in sessions, and once per result row in hop windows).
//!
//! # Example: page views per URL in 5-minute tumbling windows
//!
//! ```
//! use sluice_dataflow::aggregate::Count;
//! use sluice_dataflow::time::{BoundedOutOfOrderness, Watermark};
//! use sluice_dataflow::window::{Window, WindowAggregator, WindowResult, WindowSpec, WindowState};
//!
//! const MINUTE: i64 = 60_000;
//! let spec = WindowSpec::tumbling(5 * MINUTE)?;
//! let mut views = WindowAggregator::<String, Count>::new(&spec, Count);
//! let mut watermarks = BoundedOutOfOrderness::new(10_000)?; // events up to 10 s out of order
//! let mut out = Vec::new();
//!
//! let events = [("/home", 1_000), ("/cart", 2_000), ("/home", 299_000), ("/home", 305_000),
//!               ("/cart", 295_000), ("/home", 320_000), ("/cart", 100_000)];
//! let mut late = Vec::new();
//! for (url, ts) in events {
//!     // `add_borrowed` copies the URL only when it is new in its window.
//!     if let Err(event) = views.add_borrowed(url, ts, ()) {
//!         late.push(event); // the runtime sends these to the late-data side output
//!     }
//!     views.advance(watermarks.observe(ts), &mut out);
//! }
//! // At 320 000 the watermark reached 310 000: the first window [0, 5 min) closed, so the
//! // `/cart` view at 100 000 was late.
//! assert_eq!(late.len(), 1);
//! assert_eq!(late[0].to_string(),
//!     "event at 100000 is late: window [0, 300000) closed at watermark 310000 (allowed lateness 0 ms)");
//!
//! views.advance(Watermark::MAX, &mut out); // end of input: everything emits
//! let first = Window::new(0, 5 * MINUTE);
//! let second = Window::new(5 * MINUTE, 10 * MINUTE);
//! assert_eq!(out, [
//!     WindowResult { window: first, key: "/cart".to_string(), value: 2 },
//!     WindowResult { window: first, key: "/home".to_string(), value: 2 },
//!     WindowResult { window: second, key: "/home".to_string(), value: 2 },
//! ]);
//! # Ok::<(), sluice_dataflow::DataflowError>(())
//! ```

mod aggregator;
mod aligned;
mod partial;
mod sections;
mod session;
mod snapshot;
mod spec;

#[cfg(test)]
mod test;

use std::borrow::Borrow;
use std::hash::Hash;

pub use aggregator::WindowAggregator;
pub use aligned::AlignedWindows;
pub use partial::{LocalPanes, PaneAcc};
pub use session::SessionWindows;
pub use snapshot::SnapshotTarget;
pub use spec::{WindowKind, WindowSpec, WindowsFor};

use crate::aggregate::Aggregate;
use crate::time::{TimestampMs, Watermark};

/// A half-open event-time interval `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window {
    /// First millisecond in the window.
    pub start: TimestampMs,
    /// First millisecond after the window.
    pub end: TimestampMs,
}

impl Window {
    /// `[start, end)`.
    #[must_use]
    pub const fn new(start: TimestampMs, end: TimestampMs) -> Self {
        Window { start, end }
    }

    /// Whether `ts` is in the window.
    #[must_use]
    pub const fn contains(&self, ts: TimestampMs) -> bool {
        self.start <= ts && ts < self.end
    }

    /// A window from wide bounds, clamped to the `i64` range.
    pub(crate) fn clamped(start: i128, end: i128) -> Self {
        let clamp = |t: i128| i64::try_from(t).unwrap_or(if t > 0 { i64::MAX } else { i64::MIN });
        Window { start: clamp(start), end: clamp(end) }
    }

    /// Emission order: end, then start.
    pub(crate) fn emission_cmp(&self, other: &Window) -> std::cmp::Ordering {
        (self.end, self.start).cmp(&(other.end, other.start))
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}, {})", self.start, self.end)
    }
}

/// One output row: the final aggregate of one key in one closed window.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowResult<K, O> {
    /// The window.
    pub window: Window,
    /// The key.
    pub key: K,
    /// The aggregate's output.
    pub value: O,
}

/// An event that arrived after every window it would join had closed. It changed no state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Late {
    /// The event's timestamp.
    pub ts: TimestampMs,
    /// The last window the event would have joined (tumbling, hop), or the session it would
    /// have formed after merging.
    pub window: Window,
    /// The watermark it was judged against.
    pub watermark: Watermark,
    /// The allowed lateness in ms.
    pub allowed_lateness: i64,
}

impl std::fmt::Display for Late {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "event at {} is late: window {} closed at watermark {} (allowed lateness {} ms)",
            self.ts, self.window, self.watermark, self.allowed_lateness
        )
    }
}

/// Keyed window state for one aggregate: the per-record `add` and the per-watermark `advance`.
///
/// Implemented by [`AlignedWindows`] (tumbling, hop), [`SessionWindows`] and the
/// [`WindowAggregator`] that wraps either. A batch loop that is generic over `W: WindowState` and
/// matches the `WindowAggregator` once per batch runs fully monomorphized, with no dispatch per
/// record.
pub trait WindowState<K, A: Aggregate> {
    /// Adds one event of `key` at `ts`.
    ///
    /// # Errors
    /// [`Late`] if every window the event would join is closed at the current watermark; the
    /// state is then unchanged.
    fn add(&mut self, key: K, ts: TimestampMs, input: A::Input<'_>) -> Result<(), Late>;

    /// Like [`add`](Self::add) with a borrowed key (say a `&str` for `String` keys), copied only
    /// when the state has no entry for it yet.
    ///
    /// # Errors
    /// [`Late`], as for [`add`](Self::add).
    fn add_borrowed<Q>(&mut self, key: &Q, ts: TimestampMs, input: A::Input<'_>) -> Result<(), Late>
    where
        K: Borrow<Q>,
        Q: ?Sized + Hash + Eq + ToOwned<Owned = K>;

    /// Moves the watermark to `wm` and appends the result of every window that closes, in
    /// emission order (end, start, key). A watermark that is not greater than the current one
    /// is ignored.
    fn advance(&mut self, wm: Watermark, out: &mut Vec<WindowResult<K, A::Output>>);

    /// The current watermark: the largest passed to `advance`, [`Watermark::MIN`] before.
    fn watermark(&self) -> Watermark;

    /// Windows that hold state and have not been emitted yet (for a session operator: sessions).
    fn open_windows(&self) -> usize;

    /// Accumulators held (one per pane and key, or per session).
    fn state_entries(&self) -> usize;

    /// Approximate bytes of state: tables, keys, accumulators, plus `key_heap_bytes(key)` for
    /// heap data a key owns (e.g. `String::capacity`) and [`Aggregate::acc_heap_bytes`]. Walks
    /// the state: call it at metrics intervals, not per record.
    fn approx_state_bytes(&self, key_heap_bytes: impl Fn(&K) -> usize) -> usize;
}
