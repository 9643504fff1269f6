//! A naive reference written straight from the contract: no panes, no indexes, brute force.

use std::collections::{BTreeMap, BTreeSet};

use sluice_dataflow::time::Watermark;
use sluice_dataflow::window::Window;

use crate::harness::{Emitted, Event, Out, Outcome, Scenario};

/// The watermarks of a run: `before[i]` is the combined watermark when event `i` is read, and
/// `steps[i]` the values it advanced to right after event `i` (`steps[n]`: at the end, as the
/// partitions finish one after the other).
pub struct Timeline {
    pub before: Vec<Watermark>,
    pub steps: Vec<Vec<Watermark>>,
}

impl Timeline {
    pub fn of(scenario: &Scenario) -> Timeline {
        let n = scenario.events.len();
        let partitions = scenario.bounds.len();
        // Partition p after the first `read` events: max event time − bound, MIN before any.
        let partition_wm = |read: usize, p: usize| {
            let max = scenario.events[..read].iter().filter(|e| e.partition == p).map(|e| e.ts).max();
            max.map_or(Watermark::MIN, |max| Watermark(max - scenario.bounds[p]))
        };
        // The minimum over partitions; the first `ended` partitions have finished (MAX).
        let combined = |read: usize, ended: usize| {
            (0..partitions)
                .map(|p| if p < ended { Watermark::MAX } else { partition_wm(read, p) })
                .min()
                .unwrap()
        };
        let mut current = Watermark::MIN;
        let mut before = Vec::new();
        let mut steps = vec![Vec::new(); n + 1];
        let mut step = |at: usize, wm: Watermark, current: &mut Watermark| {
            if wm > *current {
                *current = wm;
                steps[at].push(wm);
            }
        };
        for i in 0..n {
            before.push(current);
            step(i, combined(i + 1, 0), &mut current);
        }
        for ended in 1..=partitions {
            step(n, combined(n, ended), &mut current);
        }
        Timeline { before, steps }
    }

    /// Every value advanced to, in order.
    pub fn advances(&self) -> impl Iterator<Item = Watermark> + '_ {
        self.steps.iter().flatten().copied()
    }
}

/// Whether a window ending at `end` is closed at `wm`: `wm >= end + lateness`.
pub fn closed(end: i64, lateness: i64, wm: Watermark) -> bool {
    wm == Watermark::MAX || wm.0 >= end + lateness
}

/// The aggregates of a set of events, computed directly.
pub fn aggregate(events: &[Event], indexes: &[usize]) -> Out {
    let values: Vec<i64> = indexes.iter().map(|&i| events[i].value).collect();
    let sum: i64 = values.iter().sum();
    let first = indexes.iter().min().map(|&i| events[i].value);
    let last = indexes.iter().max().map(|&i| events[i].value);
    let distinct = values.iter().collect::<BTreeSet<_>>().len() as u64;
    let avg = (!values.is_empty()).then(|| sum as f64 / values.len() as f64);
    let (min, max) = (values.iter().min().copied(), values.iter().max().copied());
    (values.len() as u64, sum, min, max, distinct, first, last, avg)
}

/// Tumbling (`slide == size`) or hop windows.
pub fn aligned(size: i64, slide: i64, offset: i64, lateness: i64, scenario: &Scenario) -> Outcome {
    // "Every window with start aligned to slide (+offset) and start <= ts < start + size."
    let windows_of = |ts: i64| -> Vec<Window> {
        (ts - size + 1..=ts)
            .filter(|s| (s - offset).rem_euclid(slide) == 0)
            .map(|s| Window::new(s, s + size))
            .collect()
    };
    let timeline = Timeline::of(scenario);
    let mut late = Vec::new();
    let mut members: BTreeMap<(Window, u8), Vec<usize>> = BTreeMap::new();
    for (i, event) in scenario.events.iter().enumerate() {
        let windows = windows_of(event.ts);
        let last_end = windows.iter().map(|w| w.end).max().expect("slide <= size: at least one window");
        if closed(last_end, lateness, timeline.before[i]) {
            late.push(i);
            continue;
        }
        // It joins the windows still open; those already closed have emitted (or had nothing to
        // emit) and output is append-only.
        for window in windows.into_iter().filter(|w| !closed(w.end, lateness, timeline.before[i])) {
            members.entry((window, event.key)).or_default().push(i);
        }
    }
    let rows = members
        .into_iter()
        .map(|((window, key), indexes)| Emitted {
            watermark: timeline
                .advances()
                .find(|&wm| closed(window.end, lateness, wm))
                .expect("MAX closes all"),
            window,
            key,
            value: aggregate(&scenario.events, &indexes),
        })
        .collect();
    Outcome { rows: in_emission_order(rows), late }
}

/// Session windows, simulated event by event with the open sessions in a plain list.
pub fn sessions(gap: i64, lateness: i64, scenario: &Scenario) -> Outcome {
    struct Open {
        key: u8,
        window: Window,
        indexes: Vec<usize>,
    }
    let touches = |a: &Window, b: &Window| a.start <= b.end && b.start <= a.end;
    let timeline = Timeline::of(scenario);
    let mut open: Vec<Open> = Vec::new();
    let mut outcome = Outcome::default();
    let close = |open: &mut Vec<Open>, wm: Watermark, rows: &mut Vec<Emitted>| {
        let (closing, staying): (Vec<Open>, Vec<Open>) =
            open.drain(..).partition(|s| closed(s.window.end, lateness, wm));
        *open = staying;
        for s in closing {
            let value = aggregate(&scenario.events, &s.indexes);
            rows.push(Emitted { watermark: wm, window: s.window, key: s.key, value });
        }
    };
    for (i, event) in scenario.events.iter().enumerate() {
        // Merge with every open session of the key that overlaps or touches, until none does.
        let mut merged = Window::new(event.ts, event.ts + gap);
        let mut absorbed = Vec::new();
        while let Some(pos) = open.iter().position(|s| s.key == event.key && touches(&s.window, &merged)) {
            let s = open.remove(pos);
            merged = Window::new(merged.start.min(s.window.start), merged.end.max(s.window.end));
            absorbed.push(s);
        }
        if closed(merged.end, lateness, timeline.before[i]) {
            outcome.late.push(i);
            open.extend(absorbed); // the merge is not applied
        } else {
            let mut indexes: Vec<usize> = absorbed.into_iter().flat_map(|s| s.indexes).collect();
            indexes.push(i);
            open.push(Open { key: event.key, window: merged, indexes });
        }
        for &wm in &timeline.steps[i] {
            close(&mut open, wm, &mut outcome.rows);
        }
    }
    for &wm in &timeline.steps[scenario.events.len()] {
        close(&mut open, wm, &mut outcome.rows);
    }
    assert!(open.is_empty());
    outcome.rows = in_emission_order(outcome.rows);
    outcome
}

/// Rows of one advance in (end, start, key) order, advances in order.
fn in_emission_order(mut rows: Vec<Emitted>) -> Vec<Emitted> {
    rows.sort_by_key(|r| (r.watermark, r.window.end, r.window.start, r.key));
    rows
}
