use super::*;
use crate::aggregate::{Count, Sum};
use crate::DataflowError;

type Rows<K> = Vec<WindowResult<K, u64>>;

fn counts<K: Clone>(rows: &[WindowResult<K, u64>]) -> Vec<(i64, i64, K, u64)> {
    rows.iter().map(|r| (r.window.start, r.window.end, r.key.clone(), r.value)).collect()
}

fn windows(spec: &WindowSpec, ts: i64) -> Vec<(i64, i64)> {
    spec.windows_for(ts).map(|w| (w.start, w.end)).collect()
}

#[test]
fn tumbling_assigner_with_offset_and_negative_times() {
    let spec = WindowSpec::tumbling(10).unwrap();
    assert_eq!(windows(&spec, 0), [(0, 10)]);
    assert_eq!(windows(&spec, 9), [(0, 10)]);
    assert_eq!(windows(&spec, 10), [(10, 20)], "half-open: the end belongs to the next window");
    assert_eq!(windows(&spec, -1), [(-10, 0)]);
    let shifted = WindowSpec::new(WindowKind::Tumbling { size: 10, offset: 23 }, 0).unwrap();
    assert_eq!(shifted.kind(), WindowKind::Tumbling { size: 10, offset: 3 }, "offset is taken modulo size");
    assert_eq!(windows(&shifted, 2), [(-7, 3)]);
    assert_eq!(windows(&shifted, 3), [(3, 13)]);
}

#[test]
fn hop_assigner_lists_every_window_in_start_order() {
    let spec = WindowSpec::hop(10, 4).unwrap();
    // Starts aligned to 4 with start <= ts < start + 10.
    assert_eq!(windows(&spec, 9), [(0, 10), (4, 14), (8, 18)]);
    assert_eq!(windows(&spec, 10), [(4, 14), (8, 18)]);
    // Offset -1 is 2 modulo the slide: starts at ..., -1, 2, 5, ...
    let shifted = WindowSpec::new(WindowKind::Hop { size: 6, slide: 3, offset: -1 }, 0).unwrap();
    assert_eq!(windows(&shifted, 2), [(-1, 5), (2, 8)]);
}

#[test]
fn session_assigner_is_the_events_own_window() {
    let spec = WindowSpec::session(30).unwrap();
    assert_eq!(windows(&spec, 100), [(100, 130)]);
}

#[test]
fn invalid_parameters_are_typed_errors() {
    let invalid = |r: Result<WindowSpec, DataflowError>| r.unwrap_err().to_string();
    assert_eq!(invalid(WindowSpec::tumbling(0)), "window size must be > 0, got 0");
    assert_eq!(invalid(WindowSpec::hop(10, 0)), "window slide must be > 0, got 0");
    assert_eq!(invalid(WindowSpec::hop(10, 11)), "window slide must be <= the window size, got 11");
    assert_eq!(invalid(WindowSpec::session(-5)), "session gap must be > 0, got -5");
    assert_eq!(
        invalid(WindowSpec::tumbling(10).unwrap().with_allowed_lateness(-1)),
        "allowed lateness must be >= 0, got -1"
    );
}

#[test]
fn tumbling_emits_once_at_end_plus_lateness_in_order() {
    let spec = WindowSpec::tumbling(10).unwrap().with_allowed_lateness(5).unwrap();
    let mut state = WindowAggregator::<&str, Count>::new(&spec, Count);
    let mut out: Rows<&str> = Vec::new();
    for (key, ts) in [("b", 1), ("a", 2), ("b", 12), ("a", 9), ("c", 25)] {
        state.add(key, ts, ()).unwrap();
    }
    assert_eq!((state.open_windows(), state.state_entries()), (3, 4));
    state.advance(Watermark(14), &mut out);
    assert!(out.is_empty(), "[0, 10) closes at 10 + 5");
    // Still open during the allowed lateness.
    state.add("c", 3, ()).unwrap();
    state.advance(Watermark(15), &mut out);
    assert_eq!(counts(&out), [(0, 10, "a", 2), (0, 10, "b", 1), (0, 10, "c", 1)]);
    let late = state.add("a", 9, ()).unwrap_err();
    assert_eq!(late.window, Window::new(0, 10));
    assert_eq!(late.watermark, Watermark(15));
    state.advance(Watermark(15), &mut out);
    state.advance(Watermark(3), &mut out);
    assert_eq!(state.watermark(), Watermark(15), "no regression, no second emission");
    assert_eq!(out.len(), 3);
    state.advance(Watermark::MAX, &mut out);
    assert_eq!(counts(&out[3..]), [(10, 20, "b", 1), (20, 30, "c", 1)]);
    assert_eq!((state.open_windows(), state.state_entries()), (0, 0));
    assert!(state.add("z", i64::MAX, ()).is_err(), "after the end everything is late");
}

#[test]
fn hop_merges_panes_and_drops_them_when_unneeded() {
    // size 6, slide 4: panes of gcd = 2.
    let spec = WindowSpec::hop(6, 4).unwrap();
    let mut state = WindowAggregator::<u8, Sum<i64>>::new(&spec, Sum::new());
    let mut out = Vec::new();
    for (ts, value) in [(1, 1), (4, 10), (5, 100), (9, 1000)] {
        state.add(0, ts, value).unwrap();
    }
    // Windows: [0,6) {1,4,5}, [4,10) {4,5,9}, [8,14) {9}; and [-4,2) {1}.
    assert_eq!(state.open_windows(), 4);
    assert_eq!(state.state_entries(), 3, "one accumulator per pane: [0,2) [4,6) [8,10)");
    state.advance(Watermark(6), &mut out);
    let sums: Vec<_> = out.iter().map(|r| (r.window.start, r.window.end, r.value)).collect();
    assert_eq!(sums, [(-4, 2, 1), (0, 6, 111)]);
    assert_eq!(state.state_entries(), 2, "pane [0,2) is needed by no open window");
    // 3's last window is [0,6), closed: late.
    assert_eq!(state.add(0, 3, 1).unwrap_err().window, Window::new(0, 6));
    // 4 is still in the open window [4,10).
    state.add(0, 4, 10_000).unwrap();
    state.advance(Watermark::MAX, &mut out);
    let sums: Vec<_> = out[2..].iter().map(|r| (r.window.start, r.window.end, r.value)).collect();
    assert_eq!(sums, [(4, 10, 11_110), (8, 14, 1000)]);
    assert_eq!(state.state_entries(), 0);
}

#[test]
fn sessions_merge_when_they_touch() {
    let spec = WindowSpec::session(10).unwrap();
    let mut state = WindowAggregator::<char, Count>::new(&spec, Count);
    let mut out = Vec::new();
    state.add('a', 0, ()).unwrap(); // [0, 10)
    state.add('a', 20, ()).unwrap(); // [20, 30)
    state.add('b', 10, ()).unwrap(); // [10, 20): another key, no merge
    assert_eq!(state.open_windows(), 3);
    state.add('a', 10, ()).unwrap(); // [10, 20) touches both: [0, 30)
    assert_eq!(state.open_windows(), 2);
    state.add('a', 40, ()).unwrap(); // [40, 50) does not touch [0, 30)
    state.advance(Watermark(30), &mut out);
    assert_eq!(counts(&out), [(10, 20, 'b', 1), (0, 30, 'a', 3)]);
    state.advance(Watermark::MAX, &mut out);
    assert_eq!(counts(&out[2..]), [(40, 50, 'a', 1)]);
}

#[test]
fn session_lateness_is_judged_after_merging() {
    let spec = WindowSpec::session(10).unwrap();
    let mut state = WindowAggregator::<char, Count>::new(&spec, Count);
    let mut out = Vec::new();
    state.add('a', 100, ()).unwrap(); // [100, 110)
    state.advance(Watermark(105), &mut out);
    // Alone, [92, 102) would be closed at 105; merged with the open session it is [92, 110).
    state.add('a', 92, ()).unwrap();
    // Another key has nothing to merge with: late, and no state is created for it.
    let late = state.add('b', 92, ()).unwrap_err();
    assert_eq!((late.window, late.watermark), (Window::new(92, 102), Watermark(105)));
    assert_eq!(state.open_windows(), 1);
    state.advance(Watermark(110), &mut out);
    assert_eq!(counts(&out), [(92, 110, 'a', 2)]);
}

#[test]
fn session_end_extensions_emit_at_the_real_end() {
    let spec = WindowSpec::session(5).unwrap();
    let mut state = WindowAggregator::<u32, Count>::new(&spec, Count);
    let mut out = Vec::new();
    for ts in [0, 3, 6, 9, 12] {
        state.add(7, ts, ()).unwrap(); // one session, end moves to 17
    }
    state.advance(Watermark(16), &mut out);
    assert!(out.is_empty(), "the index entry at 5 is behind; the session ends at 17");
    state.advance(Watermark(17), &mut out);
    assert_eq!(counts(&out), [(0, 17, 7, 5)]);
    assert_eq!(state.state_entries(), 0);
}

#[test]
fn borrowed_keys_are_copied_only_when_new() {
    let spec = WindowSpec::session(5).unwrap();
    let mut state = WindowAggregator::<String, Count>::new(&spec, Count);
    state.add_borrowed("x", 1, ()).unwrap();
    state.add_borrowed("x", 2, ()).unwrap();
    assert!(state.approx_state_bytes(String::capacity) > 0);
    let mut out = Vec::new();
    state.advance(Watermark::MAX, &mut out);
    assert_eq!(counts(&out), [(1, 7, "x".to_owned(), 2)]);
}

#[test]
fn extreme_timestamps_do_not_panic() {
    for spec in
        [WindowSpec::tumbling(7).unwrap(), WindowSpec::hop(9, 6).unwrap(), WindowSpec::session(9).unwrap()]
    {
        let spec = spec.with_allowed_lateness(i64::MAX).unwrap();
        let mut state = WindowAggregator::<u8, Count>::new(&spec, Count);
        let mut out = Vec::new();
        for ts in [i64::MIN, i64::MIN + 3, -1, 0, i64::MAX - 2, i64::MAX] {
            state.add(1, ts, ()).unwrap();
            state.advance(Watermark(ts.saturating_sub(1).min(i64::MAX - 1)), &mut out);
        }
        state.advance(Watermark::MAX, &mut out);
        assert!(out.iter().map(|r| r.value).sum::<u64>() > 0, "{spec:?}");
        assert_eq!(state.state_entries(), 0, "{spec:?}");
        let _ = spec.windows_for(i64::MIN).count() + spec.windows_for(i64::MAX).count();
    }
}
