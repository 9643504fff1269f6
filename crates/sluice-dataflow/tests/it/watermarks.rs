//! Deterministic watermark scenarios: multi-partition minimum, idleness with explicit processing
//! times, processing-time mode, replay.

use sluice_dataflow::aggregate::Count;
use sluice_dataflow::time::{BoundedOutOfOrderness, ProcessingTime, Watermark, WatermarkCombiner};
use sluice_dataflow::window::{WindowAggregator, WindowResult, WindowSpec, WindowState};

/// A two-partition job counting per key in 10 ms tumbling windows, driven step by step.
struct Job {
    windows: WindowAggregator<&'static str, Count>,
    generators: Vec<BoundedOutOfOrderness>,
    combiner: WatermarkCombiner,
    rows: Vec<(i64, i64, &'static str, u64)>,
    late: Vec<i64>,
}

impl Job {
    fn new(idle_timeout: Option<i64>) -> Job {
        let spec = WindowSpec::tumbling(10).unwrap();
        Job {
            windows: WindowAggregator::new(&spec, Count),
            generators: vec![BoundedOutOfOrderness::new(0).unwrap(); 2],
            combiner: WatermarkCombiner::new(2, idle_timeout, 0).unwrap(),
            rows: Vec::new(),
            late: Vec::new(),
        }
    }

    fn advance(&mut self, wm: Option<Watermark>) {
        let Some(wm) = wm else { return };
        let mut out: Vec<WindowResult<&'static str, u64>> = Vec::new();
        self.windows.advance(wm, &mut out);
        self.rows.extend(out.into_iter().map(|r| (r.window.start, r.window.end, r.key, r.value)));
    }

    /// Partition `p` reads a record with event time `ts` at processing time `now`.
    fn record(&mut self, p: usize, key: &'static str, ts: i64, now: i64) {
        if self.windows.add(key, ts, ()).is_err() {
            self.late.push(ts);
        }
        let wm = self.generators[p].observe(ts);
        let advanced = self.combiner.update(p, wm, now);
        self.advance(advanced);
    }

    fn tick(&mut self, now: i64) {
        let advanced = self.combiner.tick(now);
        self.advance(advanced);
    }

    fn finish(&mut self) {
        for p in 0..2 {
            let advanced = self.combiner.finish(p);
            self.advance(advanced);
        }
    }
}

#[test]
fn the_slowest_partition_holds_the_windows() {
    let mut job = Job::new(None);
    job.record(0, "a", 1, 0);
    job.record(0, "a", 25, 1);
    job.record(0, "a", 47, 2);
    assert_eq!(job.combiner.current(), Watermark::MIN, "partition 1 has said nothing");
    assert!(job.rows.is_empty());
    job.record(1, "b", 5, 3);
    assert_eq!(job.combiner.current(), Watermark(5));
    job.record(1, "b", 12, 4);
    assert_eq!(job.rows, [(0, 10, "a", 1), (0, 10, "b", 1)], "closed at min(47, 12) = 12");
    job.record(1, "b", 31, 5);
    assert_eq!(job.rows[2..], [(10, 20, "b", 1), (20, 30, "a", 1)]);
    // Partition 0 is at 47, the combined watermark at 31: an old event on partition 0 still
    // counts if its window is open.
    job.record(0, "a", 35, 6);
    job.finish();
    assert_eq!(job.rows[4..], [(30, 40, "a", 1), (30, 40, "b", 1), (40, 50, "a", 1)]);
    assert!(job.late.is_empty());
}

#[test]
fn an_idle_partition_stops_holding_the_windows_back() {
    let mut job = Job::new(Some(1_000));
    job.record(0, "a", 1, 0);
    job.record(1, "b", 2, 0);
    job.record(0, "a", 15, 400);
    job.record(0, "a", 33, 800);
    assert!(job.rows.is_empty(), "partition 1 at 2 holds everything");
    job.tick(999);
    assert!(job.rows.is_empty(), "partition 1 silent for 999 ms: not idle yet");
    job.tick(1_000);
    assert!(job.combiner.is_idle(1));
    assert_eq!(job.rows, [(0, 10, "a", 1), (0, 10, "b", 1), (10, 20, "a", 1)], "watermark 33");
    // Partition 0 goes silent too (last data at 800): everything is idle, the watermark holds.
    job.tick(5_000);
    assert_eq!(job.combiner.current(), Watermark(33));
    // Partition 1 comes back with an event whose window closed while it was idle: late.
    job.record(1, "b", 8, 5_100);
    assert_eq!(job.late, [8]);
    assert!(!job.combiner.is_idle(1));
    // Its watermark (8) is below the combined one (33): no regression, windows keep their results.
    assert_eq!(job.combiner.current(), Watermark(33));
    job.record(1, "b", 36, 5_200);
    assert_eq!(job.rows.len(), 3, "partition 0 is idle: partition 1 leads, at 36");
    job.record(1, "b", 45, 5_300);
    assert_eq!(job.rows[3..], [(30, 40, "a", 1), (30, 40, "b", 1)]);
    job.finish();
    assert_eq!(job.rows[5..], [(40, 50, "b", 1)]);
}

#[test]
fn replay_gives_the_same_output() {
    let play = || {
        let mut job = Job::new(Some(50));
        for (i, ts) in [3, 1, 14, 9, 27, 22, 40, 18, 61].into_iter().enumerate() {
            let now = i as i64 * 20;
            job.record(i % 2, ["x", "y", "z"][i % 3], ts, now);
            job.tick(now + 10);
        }
        job.finish();
        (job.rows, job.late)
    };
    let first = play();
    assert!(!first.0.is_empty() && !first.1.is_empty(), "the scenario has both results and late events");
    assert_eq!(first, play());
}

#[test]
fn processing_time_mode_closes_windows_as_time_passes() {
    let spec = WindowSpec::tumbling(100).unwrap();
    let mut windows = WindowAggregator::<u32, Count>::new(&spec, Count);
    let mut clock = ProcessingTime::new();
    let mut out = Vec::new();
    for now in [5, 40, 99, 130] {
        // Each record is stamped with the processing time at which it is read: never late.
        windows.add(1, now, ()).unwrap();
        windows.advance(clock.advance(now), &mut out);
    }
    assert_eq!(out.len(), 1, "[0, 100) closed at 130");
    windows.advance(clock.advance(150), &mut out);
    assert_eq!(out.len(), 1);
    windows.advance(clock.advance(200), &mut out);
    let counts: Vec<_> = out.iter().map(|r| (r.window.start, r.value)).collect();
    assert_eq!(counts, [(0, 3), (100, 1)], "no record, time passed: the window closed");
}

#[test]
fn hop_updates_one_pane_per_event() {
    // 1000 windows per event, but one accumulator per (pane, key).
    let spec = WindowSpec::hop(10_000, 10).unwrap();
    let mut windows = WindowAggregator::<u8, Count>::new(&spec, Count);
    for ts in 0..500 {
        windows.add(1, ts, ()).unwrap();
    }
    assert_eq!(windows.state_entries(), 50);
    assert_eq!(windows.open_windows(), 1_049, "starts -9990..=490 step 10");
    let mut out = Vec::new();
    windows.advance(Watermark::MAX, &mut out);
    assert_eq!(out.len(), 1_049);
    assert_eq!(out.iter().map(|r| r.value).sum::<u64>(), 500 * 1_000);
}
