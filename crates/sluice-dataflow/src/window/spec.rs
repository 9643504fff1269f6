//! Window parameters, their validation, and the arithmetic of aligned windows.

use crate::error::{DataflowError, Result};
use crate::time::{TimestampMs, Watermark};

use super::Window;

/// What kind of windows, with their parameters in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WindowKind {
    /// Fixed-size, non-overlapping windows: `[start, start + size)` with
    /// `start = ts − (ts − offset).rem_euclid(size)`.
    Tumbling {
        /// Window length (> 0).
        size: i64,
        /// Shift of the window grid from the epoch (kept modulo `size`).
        offset: i64,
    },
    /// Fixed-size windows every `slide`: an event joins every window whose start is aligned to
    /// `slide` (+ `offset`) with `start <= ts < start + size`.
    Hop {
        /// Window length (> 0).
        size: i64,
        /// Distance between window starts (0 < slide <= size).
        slide: i64,
        /// Shift of the window grid from the epoch (kept modulo `slide`).
        offset: i64,
    },
    /// Per-key sessions: an event at `t` opens `[t, t + gap)`, and sessions of a key that overlap
    /// or touch merge.
    Session {
        /// Inactivity gap (> 0).
        gap: i64,
    },
}

/// A validated window specification: the [`WindowKind`] and the allowed lateness.
///
/// ```
/// use sluice_dataflow::window::{Window, WindowSpec};
///
/// let hop = WindowSpec::hop(10_000, 5_000)?;
/// let windows: Vec<Window> = hop.windows_for(12_000).collect();
/// assert_eq!(windows, [Window::new(5_000, 15_000), Window::new(10_000, 20_000)]);
/// assert!(WindowSpec::hop(5_000, 10_000).is_err()); // slide > size would leave gaps
/// # Ok::<(), sluice_dataflow::DataflowError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WindowSpec {
    kind: WindowKind,
    allowed_lateness: i64,
}

impl WindowSpec {
    /// Validates `kind` and `allowed_lateness`, and reduces offsets modulo the grid step.
    ///
    /// # Errors
    /// [`DataflowError::InvalidParameter`] if a size, slide or gap is `<= 0`, a slide exceeds the
    /// size (events between windows would belong to no window: neither counted nor late), or the
    /// lateness is negative.
    pub fn new(kind: WindowKind, allowed_lateness: i64) -> Result<Self> {
        let kind = match kind {
            WindowKind::Tumbling { size, offset } => {
                let size = DataflowError::positive("window size", size)?;
                WindowKind::Tumbling { size, offset: offset.rem_euclid(size) }
            }
            WindowKind::Hop { size, slide, offset } => {
                let size = DataflowError::positive("window size", size)?;
                let slide = DataflowError::positive("window slide", slide)?;
                if slide > size {
                    let rule = "<= the window size";
                    return Err(DataflowError::InvalidParameter { what: "window slide", rule, value: slide });
                }
                WindowKind::Hop { size, slide, offset: offset.rem_euclid(slide) }
            }
            WindowKind::Session { gap } => {
                WindowKind::Session { gap: DataflowError::positive("session gap", gap)? }
            }
        };
        let allowed_lateness = DataflowError::non_negative("allowed lateness", allowed_lateness)?;
        Ok(WindowSpec { kind, allowed_lateness })
    }

    /// Tumbling windows of `size` ms aligned to the epoch, no lateness.
    ///
    /// # Errors
    /// See [`WindowSpec::new`].
    pub fn tumbling(size: i64) -> Result<Self> {
        Self::new(WindowKind::Tumbling { size, offset: 0 }, 0)
    }

    /// Hop (sliding) windows of `size` ms every `slide` ms, aligned to the epoch, no lateness.
    ///
    /// # Errors
    /// See [`WindowSpec::new`].
    pub fn hop(size: i64, slide: i64) -> Result<Self> {
        Self::new(WindowKind::Hop { size, slide, offset: 0 }, 0)
    }

    /// Session windows with an inactivity `gap` in ms, no lateness.
    ///
    /// # Errors
    /// See [`WindowSpec::new`].
    pub fn session(gap: i64) -> Result<Self> {
        Self::new(WindowKind::Session { gap }, 0)
    }

    /// The same windows, closing `lateness` ms after their end instead of at it. Default = 0.
    ///
    /// # Errors
    /// [`DataflowError::InvalidParameter`] if `lateness < 0`.
    pub fn with_allowed_lateness(self, lateness: i64) -> Result<Self> {
        Self::new(self.kind, lateness)
    }

    /// The kind and its (normalized) parameters.
    #[must_use]
    pub fn kind(&self) -> WindowKind {
        self.kind
    }

    /// How long after its end a window stays open, in ms.
    #[must_use]
    pub fn allowed_lateness(&self) -> i64 {
        self.allowed_lateness
    }

    /// The windows an event at `ts` joins, by increasing start. For sessions, the window the
    /// event opens before any merge, `[ts, ts + gap)`.
    #[must_use]
    pub fn windows_for(&self, ts: TimestampMs) -> WindowsFor {
        match self.shape() {
            Shape::Aligned(grid) => WindowsFor {
                next: grid.first_window_containing(ts),
                last: grid.last_window_start(ts),
                slide: i128::from(grid.slide),
                size: i128::from(grid.size),
            },
            Shape::Session { gap } => {
                WindowsFor { next: i128::from(ts), last: i128::from(ts), slide: 1, size: i128::from(gap) }
            }
        }
    }

    /// The arithmetic behind the kind.
    pub(crate) fn shape(&self) -> Shape {
        let (size, slide, offset) = match self.kind {
            WindowKind::Tumbling { size, offset } => (size, size, offset),
            WindowKind::Hop { size, slide, offset } => (size, slide, offset),
            WindowKind::Session { gap } => return Shape::Session { gap },
        };
        let pane = gcd(size, slide);
        Shape::Aligned(Grid { size, slide, offset, pane, pane_offset: offset % pane })
    }
}

/// Tumbling and hop windows share one grid arithmetic; sessions have none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    Aligned(Grid),
    Session { gap: i64 },
}

/// Iterator over the windows an event joins; see [`WindowSpec::windows_for`].
#[derive(Debug, Clone)]
pub struct WindowsFor {
    next: i128,
    last: i128,
    slide: i128,
    size: i128,
}

impl Iterator for WindowsFor {
    type Item = Window;

    fn next(&mut self) -> Option<Window> {
        (self.next <= self.last).then(|| {
            let window = Window::clamped(self.next, self.next + self.size);
            self.next += self.slide;
            window
        })
    }
}

/// The grid of tumbling and hop windows: window starts are `offset + k·slide`, and the panes —
/// the pieces every window is a union of — start at multiples of `pane = gcd(size, slide)`.
///
/// Per-record arithmetic is `i64`; arithmetic done when windows close is `i128`, so that window
/// bounds near the ends of the `i64` range cannot overflow (they are clamped when reported).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grid {
    pub(crate) size: i64,
    pub(crate) slide: i64,
    /// In `[0, slide)`.
    pub(crate) offset: i64,
    pub(crate) pane: i64,
    /// `offset % pane`, in `[0, pane)`.
    pub(crate) pane_offset: i64,
}

impl Grid {
    /// Start of the pane holding `ts`. The one division on the per-record path.
    #[inline]
    pub(crate) fn pane_start(&self, ts: TimestampMs) -> i64 {
        align_down(ts, self.pane, self.pane_offset)
    }

    /// Start of the last (latest) window holding `ts`.
    pub(crate) fn last_window_start(&self, ts: TimestampMs) -> i128 {
        let ts = i128::from(ts);
        ts - (ts - i128::from(self.offset)).rem_euclid(i128::from(self.slide))
    }

    /// Start of the first (earliest) window holding `ts`.
    pub(crate) fn first_window_containing(&self, ts: TimestampMs) -> i128 {
        self.align_up(i128::from(ts) - i128::from(self.size) + 1)
    }

    /// Start of the first window still open at `wm`: windows before it have
    /// `end + lateness <= wm`. Every pane before it belongs to closed windows only.
    pub(crate) fn open_from(&self, wm: Watermark, lateness: i64) -> i128 {
        if wm.is_end() {
            return i128::MAX;
        }
        self.align_up(i128::from(wm.get()) - i128::from(self.size) - i128::from(lateness) + 1)
    }

    /// Whether every window is exactly one pane.
    pub(crate) fn is_tumbling(&self) -> bool {
        self.size == self.slide
    }

    /// The window starting at `start`, clamped to the `i64` range.
    pub(crate) fn window(&self, start: i128) -> Window {
        Window::clamped(start, start + i128::from(self.size))
    }

    /// Smallest window start `>= x`.
    fn align_up(&self, x: i128) -> i128 {
        x + (i128::from(self.offset) - x).rem_euclid(i128::from(self.slide))
    }
}

/// Largest `s <= ts` with `s ≡ offset (mod unit)`, for `0 <= offset < unit`. Saturates at
/// `i64::MIN` (the first pane of the range is clipped).
#[inline]
fn align_down(ts: i64, unit: i64, offset: i64) -> i64 {
    // (ts − offset) mod unit without overflowing the subtraction.
    let mut rem = ts.rem_euclid(unit) - offset;
    if rem < 0 {
        rem += unit;
    }
    ts.saturating_sub(rem)
}

fn gcd(mut a: i64, mut b: i64) -> i64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}
