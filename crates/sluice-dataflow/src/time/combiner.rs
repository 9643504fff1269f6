//! The minimum over an operator's inputs, with idleness.

use super::{TimestampMs, Watermark};
use crate::error::{DataflowError, Result};

/// Combines the watermarks of `n` inputs into the operator's watermark.
///
/// The combined watermark is the minimum over the inputs that are *active*, where an ended input
/// counts as [`Watermark::MAX`] and an *idle* input is left out. An input becomes idle when it
/// has had no data for `idle_timeout` ms of processing time — judged by [`tick`](Self::tick) with
/// the `now` the caller passes — or when the caller says so with
/// [`mark_idle`](Self::mark_idle). It becomes active again with its next
/// [`update`](Self::update).
///
/// Invariants:
/// - The combined watermark never goes backwards. An input that comes back from idleness below
///   it does not pull it back; its old events are late for the windows already closed.
/// - If every input that has not ended is idle, the combined watermark holds where it is (it
///   does not jump to the largest input, unlike Flink's valve, because an idle input may still
///   have data to send).
/// - When every input has ended it is [`Watermark::MAX`].
///
/// Every method that can move the watermark returns `Some(new)` exactly when it advanced, so the
/// caller forwards watermarks only on change.
///
/// ```
/// use sluice_dataflow::time::{Watermark, WatermarkCombiner};
///
/// let mut wm = WatermarkCombiner::new(2, Some(10_000), 0)?; // 2 inputs, 10 s idle timeout
/// assert_eq!(wm.update(0, Watermark(500), 1), None); // input 1 still at MIN holds it back
/// assert_eq!(wm.update(1, Watermark(300), 2), Some(Watermark(300)));
/// assert_eq!(wm.update(0, Watermark(900), 3), None);
/// // Input 1 has been silent since t=2 ms; at t=10_002 it is idle and input 0 alone counts.
/// assert_eq!(wm.tick(10_002), Some(Watermark(900)));
/// # Ok::<(), sluice_dataflow::DataflowError>(())
/// ```
#[derive(Debug, Clone)]
pub struct WatermarkCombiner {
    inputs: Vec<Input>,
    /// `None`: inputs never become idle by themselves.
    idle_timeout: Option<i64>,
    current: Watermark,
}

/// One input as the combiner sees it.
#[derive(Debug, Clone, Copy)]
struct Input {
    /// The largest watermark reported by this input.
    watermark: Watermark,
    /// Processing time of the last data (or of the construction / reactivation).
    last_active: TimestampMs,
    status: Status,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Active,
    Idle,
    Ended,
}

impl WatermarkCombiner {
    /// A combiner over `inputs` inputs, all active at [`Watermark::MIN`] as of processing time
    /// `now` (the idle clock of each input starts there).
    ///
    /// # Errors
    /// [`DataflowError::InvalidParameter`] if `inputs == 0` or `idle_timeout <= 0`.
    pub fn new(inputs: usize, idle_timeout: Option<i64>, now: TimestampMs) -> Result<Self> {
        DataflowError::positive("number of inputs", i64::try_from(inputs).unwrap_or(i64::MAX))?;
        if let Some(timeout) = idle_timeout {
            DataflowError::positive("idle timeout", timeout)?;
        }
        let input = Input { watermark: Watermark::MIN, last_active: now, status: Status::Active };
        Ok(WatermarkCombiner { inputs: vec![input; inputs], idle_timeout, current: Watermark::MIN })
    }

    /// The combined watermark.
    #[must_use]
    pub fn current(&self) -> Watermark {
        self.current
    }

    /// Number of inputs.
    #[must_use]
    pub fn inputs(&self) -> usize {
        self.inputs.len()
    }

    /// The largest watermark input `input` has reported.
    ///
    /// # Panics
    /// If `input >= self.inputs()`.
    #[must_use]
    pub fn input_watermark(&self, input: usize) -> Watermark {
        self.input(input).watermark
    }

    /// Whether input `input` is currently idle.
    ///
    /// # Panics
    /// If `input >= self.inputs()`.
    #[must_use]
    pub fn is_idle(&self, input: usize) -> bool {
        self.input(input).status == Status::Idle
    }

    /// Input `input` read data at processing time `now` and its watermark is `wm`. Reactivates an
    /// idle input. A lower `wm` than the input reported before is ignored (per-input watermarks
    /// do not regress); [`Watermark::MAX`] ends the input. Updates after the end are ignored.
    ///
    /// # Panics
    /// If `input >= self.inputs()`.
    pub fn update(&mut self, input: usize, wm: Watermark, now: TimestampMs) -> Option<Watermark> {
        let state = self.input_mut(input);
        if state.status == Status::Ended {
            return None;
        }
        state.watermark = state.watermark.max(wm);
        state.last_active = state.last_active.max(now);
        state.status = if wm.is_end() { Status::Ended } else { Status::Active };
        self.recompute()
    }

    /// Input `input` has ended (a bounded input is exhausted): it contributes [`Watermark::MAX`].
    ///
    /// # Panics
    /// If `input >= self.inputs()`.
    pub fn finish(&mut self, input: usize) -> Option<Watermark> {
        let state = self.input_mut(input);
        state.watermark = Watermark::MAX;
        state.status = Status::Ended;
        self.recompute()
    }

    /// Declares input `input` idle now (e.g. the source knows its partition is empty).
    ///
    /// # Panics
    /// If `input >= self.inputs()`.
    pub fn mark_idle(&mut self, input: usize) -> Option<Watermark> {
        let state = self.input_mut(input);
        if state.status == Status::Active {
            state.status = Status::Idle;
        }
        self.recompute()
    }

    /// Declares input `input` active again as of `now`, before its next record. It holds the
    /// combined watermark back from now on (it cannot move it backwards).
    ///
    /// # Panics
    /// If `input >= self.inputs()`.
    pub fn mark_active(&mut self, input: usize, now: TimestampMs) -> Option<Watermark> {
        let state = self.input_mut(input);
        if state.status == Status::Idle {
            state.status = Status::Active;
            state.last_active = state.last_active.max(now);
        }
        self.recompute()
    }

    /// Processing time is `now`: every active input without data for the idle timeout becomes
    /// idle. Without a timeout this does nothing.
    pub fn tick(&mut self, now: TimestampMs) -> Option<Watermark> {
        let timeout = self.idle_timeout?;
        for input in &mut self.inputs {
            if input.status == Status::Active && now.saturating_sub(input.last_active) >= timeout {
                input.status = Status::Idle;
            }
        }
        self.recompute()
    }

    /// Recomputes the minimum; returns it if it advanced.
    fn recompute(&mut self) -> Option<Watermark> {
        let mut min_active: Option<Watermark> = None;
        let mut all_ended = true;
        for input in &self.inputs {
            match input.status {
                Status::Active => {
                    all_ended = false;
                    min_active = Some(min_active.map_or(input.watermark, |m| m.min(input.watermark)));
                }
                Status::Idle => all_ended = false,
                Status::Ended => {}
            }
        }
        let candidate = match min_active {
            Some(min) => min,
            None if all_ended => Watermark::MAX,
            // Everything left is idle: hold.
            None => return None,
        };
        (candidate > self.current).then(|| {
            self.current = candidate;
            candidate
        })
    }

    fn input(&self, input: usize) -> &Input {
        match self.inputs.get(input) {
            Some(state) => state,
            None => no_such_input(input, self.inputs.len()),
        }
    }

    fn input_mut(&mut self, input: usize) -> &mut Input {
        let len = self.inputs.len();
        match self.inputs.get_mut(input) {
            Some(state) => state,
            None => no_such_input(input, len),
        }
    }
}

#[cold]
#[inline(never)]
fn no_such_input(input: usize, inputs: usize) -> ! {
    panic!("watermark combiner has {inputs} inputs; input {input} does not exist")
}
