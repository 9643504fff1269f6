//! End to end through `Pipeline`: processing-time windows driven by a fake clock, and session
//! windows with late rows on the late output. Both also check the window state size in the
//! job's metrics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMillisecondType};
use arrow_array::RecordBatch;
use sluice_dataflow::clock::FakeClock;
use sluice_dataflow::memory::{ChannelSource, CollectSink, VecSource};
use sluice_dataflow::ops::count;
use sluice_dataflow::runtime::Metrics;
use sluice_dataflow::time::Watermark;
use sluice_dataflow::window::{WindowKind, WindowSpec};
use sluice_dataflow::{Pipeline, TwoPhase};

use crate::pipeline::{schema, to_batches};

fn batch(rows: &[(&str, i64)]) -> RecordBatch {
    let events: Vec<(String, i64, i64)> = rows.iter().map(|(u, ts)| ((*u).to_string(), *ts, 1)).collect();
    to_batches(&events, rows.len()).remove(0)
}

/// (window_start, window_end, url, count), sorted.
fn windows(batches: &[RecordBatch]) -> Vec<(i64, i64, String, i64)> {
    let mut out = Vec::new();
    for b in batches {
        let ts = |i: usize| b.column(i).as_primitive::<TimestampMillisecondType>();
        for r in 0..b.num_rows() {
            out.push((
                ts(0).value(r),
                ts(1).value(r),
                b.column(2).as_string::<i32>().value(r).to_string(),
                b.column(3).as_primitive::<Int64Type>().value(r),
            ));
        }
    }
    out.sort();
    out
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Sends `rows` while the clock reads `now`, then moves the clock to `then` (in the same window)
/// and waits until the sink's watermark reaches it: the rows have then been aggregated, stamped
/// with `now` or `then`, whichever the task read.
fn feed(
    feed: &sluice_dataflow::memory::ChannelSourceHandle,
    clock: &FakeClock,
    metrics: &Metrics,
    rows: &[(&str, i64)],
    then: i64,
) {
    let before = metrics.snapshot().records_in;
    feed.send(0, batch(rows));
    wait_until("rows read", || metrics.snapshot().records_in == before + rows.len() as u64);
    clock.set(then);
    wait_until("watermark", || metrics.watermark() >= Watermark(then));
}

#[test]
fn processing_time_windows_follow_the_clock() {
    const T: i64 = 1_000_000;
    for parallelism in [1, 2] {
        let (source, handle) = ChannelSource::new(schema(), 1);
        let clock = FakeClock::new(T);
        let out = CollectSink::new();
        let job = Pipeline::new("processing_time")
            .parallelism(parallelism)
            .linger(Duration::from_millis(1))
            .clock(clock.clone())
            .source(source)
            .processing_time()
            .key_by(["url"])
            .window(WindowSpec::tumbling(10_000).expect("spec"))
            .aggregate([count()])
            .sink(out.clone())
            .spawn()
            .expect("spawn");
        let metrics = Arc::clone(job.handle().metrics());
        // The `ts` column is ignored: rows are stamped with the clock when aggregated.
        feed(&handle, &clock, &metrics, &[("/a", 5), ("/b", 999_999_999)], T + 2_000);
        feed(&handle, &clock, &metrics, &[("/a", -7)], T + 5_000);
        assert_eq!(out.rows(), 0, "[T, T + 10 s) is open until the clock reaches its end");
        // Time passes with no rows: the window closes.
        clock.set(T + 10_000);
        wait_until("first window", || out.rows() == 2);
        assert_eq!(
            windows(&out.batches()),
            [(T, T + 10_000, "/a".into(), 2), (T, T + 10_000, "/b".into(), 1)],
            "parallelism {parallelism}"
        );
        feed(&handle, &clock, &metrics, &[("/a", 0)], T + 12_000);
        handle.end(0);
        let report = job.join().expect("join");
        assert_eq!((report.records_in, report.records_late, report.windows_emitted), (4, 0, 3));
        assert_eq!(windows(&out.batches()).last(), Some(&(T + 10_000, T + 20_000, "/a".into(), 1)));
        assert!(report.peak_state_bytes > 0, "state size sampled: {report:?}");
        assert_eq!(report.rows_pre_aggregated, 0, "processing time is never pre-aggregated");
    }
}

#[test]
fn session_windows_end_to_end_with_late_rows() {
    // One row per batch, bound 0: the watermark is the largest ts read so far.
    let rows = [
        ("/a", 0),
        ("/b", 100),
        ("/a", 500),
        ("/a", 1_400), // a: one session [0, 2400)
        ("/c", 5_000), // watermark 5000 closes a's and b's sessions
        ("/a", 1_000), // a's session [0, 2400) has closed; [1000, 2000) alone is closed too: late
        ("/b", 4_500), // a new session [4500, 5500) for b: still open at 5000
        ("/a", 4_100), // [4100, 5100) open too
    ];
    let expected = [
        (0, 2_400, "/a".to_string(), 3),
        (100, 1_100, "/b".to_string(), 1),
        (4_100, 5_100, "/a".to_string(), 1),
        (4_500, 5_500, "/b".to_string(), 1),
        (5_000, 6_000, "/c".to_string(), 1),
    ];
    for (parallelism, mode) in [(1, TwoPhase::Auto), (2, TwoPhase::Auto), (2, TwoPhase::Always)] {
        let source = VecSource::new(schema(), vec![vec![batch(&rows)]]).expect("source");
        let (out, late) = (CollectSink::new(), CollectSink::new());
        let report = Pipeline::new("sessions")
            .parallelism(parallelism)
            .two_phase(mode)
            .batch_size(1)
            .source(source)
            .event_time("ts", Duration::ZERO)
            .key_by(["url"])
            .window(WindowSpec::new(WindowKind::Session { gap: 1_000 }, 0).expect("spec"))
            .aggregate([count()])
            .sink(out.clone())
            .late_output(late.clone())
            .run()
            .expect("run");
        assert_eq!(windows(&out.batches()), expected, "parallelism {parallelism}");
        assert_eq!((report.records_in, report.records_late, report.windows_emitted), (8, 1, 5));
        let late = late.batches();
        let reason = late[0].column_by_name("late_reason").expect("late_reason").as_string::<i32>();
        assert_eq!(
            reason.value(0),
            "event at 1000 is late: window [1000, 2000) closed at watermark 5000 (allowed lateness 0 ms)"
        );
        assert_eq!(report.rows_pre_aggregated, 0, "sessions travel raw");
        assert!(report.peak_state_bytes > 0, "state size sampled: {report:?}");
    }
}
