//! End-to-end pipelines over in-memory sources, compared with a straightforward reference.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMillisecondType};
use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use sluice_dataflow::memory::{CollectSink, VecSource};
use sluice_dataflow::ops::{count, max, sum};
use sluice_dataflow::sink::Sink;
use sluice_dataflow::window::WindowSpec;
use sluice_dataflow::{DataflowError, Pipeline};
use sluice_state::MemoryTracker;

pub const WINDOW: i64 = 10_000;

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("url", DataType::Utf8, false),
        Field::new("ts", DataType::Int64, false),
        Field::new("bytes", DataType::Int64, false),
    ]))
}

/// One event: (url, ts, bytes).
pub type Event = (String, i64, i64);

/// Deterministic pseudo-random page views: `n` events per partition, timestamps rising ~10 ms
/// per event with up to `jitter` ms of disorder.
pub fn events(partitions: usize, n: usize, jitter: i64, seed: u64) -> Vec<Vec<Event>> {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..partitions)
        .map(|_| {
            (0..n)
                .map(|i| {
                    let r = next();
                    let url = format!("/page/{}", (r % 97) % (1 + (r >> 8) % 23));
                    let ts = i as i64 * 10 + (r >> 20) as i64 % (jitter + 1);
                    (url, ts, (r >> 40) as i64 % 1000)
                })
                .collect()
        })
        .collect()
}

pub fn to_batches(events: &[Event], rows: usize) -> Vec<RecordBatch> {
    events
        .chunks(rows)
        .map(|chunk| {
            RecordBatch::try_new(
                schema(),
                vec![
                    Arc::new(StringArray::from_iter_values(chunk.iter().map(|e| e.0.as_str()))),
                    Arc::new(Int64Array::from_iter_values(chunk.iter().map(|e| e.1))),
                    Arc::new(Int64Array::from_iter_values(chunk.iter().map(|e| e.2))),
                ],
            )
            .expect("batch")
        })
        .collect()
}

/// (window_start, url) → (count, sum bytes, max bytes)
pub type Table = BTreeMap<(i64, String), (i64, i64, i64)>;

/// Reads the result batches into a table.
pub fn table(batches: &[RecordBatch]) -> Table {
    let mut t = Table::new();
    for b in batches {
        let start = b
            .column_by_name("window_start")
            .expect("window_start")
            .as_primitive::<TimestampMillisecondType>();
        let url = b.column_by_name("url").expect("url").as_string::<i32>();
        let views = b.column_by_name("views").expect("views").as_primitive::<Int64Type>();
        let bytes = b.column_by_name("bytes").expect("bytes").as_primitive::<Int64Type>();
        let top = b.column_by_name("max_bytes").expect("max").as_primitive::<Int64Type>();
        for r in 0..b.num_rows() {
            let prev = t.insert(
                (start.value(r), url.value(r).to_string()),
                (views.value(r), bytes.value(r), top.value(r)),
            );
            assert!(prev.is_none(), "window emitted twice");
        }
    }
    t
}

/// Reference for one partition read batch by batch: a row is late when its window's end is
/// <= the watermark after the previous batches (max ts so far − bound).
pub fn reference(batches: &[Vec<Event>], bound: i64) -> (Table, usize) {
    let mut t = Table::new();
    let mut late = 0;
    let mut max_ts = i64::MIN;
    for batch in batches {
        let wm = if max_ts == i64::MIN { i64::MIN } else { max_ts - bound };
        for (url, ts, bytes) in batch {
            let start = ts - ts.rem_euclid(WINDOW);
            if start + WINDOW <= wm {
                late += 1;
                continue;
            }
            let e = t.entry((start, url.clone())).or_insert((0, 0, i64::MIN));
            e.0 += 1;
            e.1 += bytes;
            e.2 = e.2.max(*bytes);
        }
        max_ts = batch.iter().map(|e| e.1).max().unwrap_or(i64::MIN).max(max_ts);
    }
    (t, late)
}

fn run(
    parts: &[Vec<Event>],
    rows: usize,
    bound: i64,
    parallelism: usize,
    late: Option<CollectSink>,
) -> (Table, u64) {
    let source =
        VecSource::new(schema(), parts.iter().map(|p| to_batches(p, rows)).collect()).expect("source");
    let out = CollectSink::new();
    let mut p = Pipeline::new("page_views")
        .parallelism(parallelism)
        .batch_size(rows)
        .source(source)
        .event_time("ts", Duration::from_millis(bound as u64))
        .key_by(["url"])
        .window(WindowSpec::tumbling(WINDOW).expect("spec"))
        .aggregate([count().as_("views"), sum("bytes").as_("bytes"), max("bytes")])
        .sink(out.clone());
    if let Some(late) = late {
        p = p.late_output(late);
    }
    let report = p.run().expect("run");
    assert!(out.is_finished());
    (table(&out.batches()), report.records_late)
}

#[test]
fn page_views_match_reference_at_every_parallelism() {
    // 3 partitions, disorder below the bound: nothing is late, whatever the interleaving.
    let parts = events(3, 5_000, 2_000, 7);
    let all: Vec<Event> = parts.iter().flatten().cloned().collect();
    let (expected, _) = reference(&[all], 5_000);
    for parallelism in [1, 2, 4] {
        let (got, late) = run(&parts, 256, 5_000, parallelism, None);
        assert_eq!(late, 0);
        assert_eq!(got, expected, "parallelism {parallelism}");
    }
    let total: i64 = expected.values().map(|v| v.0).sum();
    assert_eq!(total, 15_000);
}

#[test]
fn late_rows_reach_the_late_output_with_reasons() {
    // One partition, disorder far above the bound: many rows are late, deterministically.
    let parts = events(1, 4_000, 30_000, 11);
    let rows = 100;
    let chunks: Vec<Vec<Event>> = parts[0].chunks(rows).map(<[Event]>::to_vec).collect();
    let (expected, expected_late) = reference(&chunks, 1_000);
    assert!(expected_late > 100, "scenario should produce late rows, got {expected_late}");
    for parallelism in [1, 2, 4] {
        let late = CollectSink::new();
        let (got, late_count) = run(&parts, rows, 1_000, parallelism, Some(late.clone()));
        assert_eq!(got, expected, "parallelism {parallelism}");
        assert_eq!(late_count as usize, expected_late);
        assert_eq!(late.rows(), expected_late);
        let batch = &late.batches()[0];
        assert_eq!(batch.schema().field(3).name(), "late_reason");
        let reason = batch.column(3).as_string::<i32>().value(0);
        assert!(reason.contains("is late: window"), "{reason}");
        // Counted + late = input.
        let counted: i64 = got.values().map(|v| v.0).sum();
        assert_eq!(counted as usize + expected_late, 4_000);
    }
}

#[test]
fn end_of_bounded_input_flushes_every_window() {
    // All events in one window far from any watermark: only the end of input closes it.
    let parts = vec![vec![("/a".to_string(), 5, 1), ("/b".to_string(), 6, 2), ("/a".to_string(), 7, 3)]];
    let (got, _) = run(&parts, 10, 1_000_000, 2, None);
    assert_eq!(got.len(), 2);
    assert_eq!(got[&(0, "/a".to_string())], (2, 4, 3));
}

#[test]
fn filter_and_multi_column_keys() {
    let parts = events(2, 2_000, 500, 3);
    let source =
        VecSource::new(schema(), parts.iter().map(|p| to_batches(p, 128)).collect()).expect("source");
    let out = CollectSink::new();
    Pipeline::new("filtered")
        .parallelism(2)
        .source(source)
        .event_time("ts", Duration::from_secs(1))
        .filter(|b: &RecordBatch| {
            let bytes = b.column(2).as_primitive::<Int64Type>();
            Ok(bytes.iter().map(|v| v.map(|v| v >= 500)).collect())
        })
        .key_by(["url", "bytes"])
        .window(WindowSpec::tumbling(WINDOW).expect("spec"))
        .aggregate([count()])
        .sink(out.clone())
        .run()
        .expect("run");
    let mut expected: BTreeMap<(i64, String, i64), i64> = BTreeMap::new();
    for (url, ts, bytes) in parts.iter().flatten().filter(|e| e.2 >= 500) {
        *expected.entry((ts - ts.rem_euclid(WINDOW), url.clone(), *bytes)).or_default() += 1;
    }
    let mut got = BTreeMap::new();
    for b in out.batches() {
        assert_eq!(b.schema().field(3).data_type(), &DataType::Int64); // key decoded to its type
        let start = b.column(0).as_primitive::<TimestampMillisecondType>();
        let url = b.column(2).as_string::<i32>();
        let bytes = b.column(3).as_primitive::<Int64Type>();
        let n = b.column(4).as_primitive::<Int64Type>();
        for r in 0..b.num_rows() {
            got.insert((start.value(r), url.value(r).to_string(), bytes.value(r)), n.value(r));
        }
    }
    assert_eq!(got, expected);
}

/// Fails on the n-th write.
struct FailingSink(usize);

impl Sink for FailingSink {
    fn write(&mut self, _batch: &RecordBatch) -> sluice_dataflow::Result<()> {
        self.0 = self.0.saturating_sub(1);
        if self.0 == 0 {
            return Err(DataflowError::connector(
                "disk full writing results.jsonl",
                sluice_types::ErrorKind::External,
                sluice_types::Retry::No,
            ));
        }
        Ok(())
    }
}

#[test]
fn sink_error_stops_the_job_with_a_message() {
    let parts = events(2, 20_000, 100, 5);
    let source = VecSource::new(schema(), parts.iter().map(|p| to_batches(p, 64)).collect()).expect("source");
    let err = Pipeline::new("failing")
        .parallelism(2)
        .channel_capacity(2)
        .source(source)
        .event_time("ts", Duration::from_millis(100))
        .key_by(["url"])
        .window(WindowSpec::tumbling(1_000).expect("spec"))
        .aggregate([count()])
        .sink(FailingSink(3))
        .run()
        .expect_err("sink fails");
    assert_eq!(err.to_string(), "operator `sink` failed: disk full writing results.jsonl");
}

#[test]
fn bad_column_is_a_clear_error() {
    let parts = events(1, 10, 0, 5);
    let source = VecSource::new(schema(), vec![to_batches(&parts[0], 8)]).expect("source");
    let err = Pipeline::new("bad")
        .parallelism(1)
        .source(source)
        .event_time("ts", Duration::ZERO)
        .key_by(["url"])
        .window(WindowSpec::tumbling(1_000).expect("spec"))
        .aggregate([sum("nope")])
        .sink(CollectSink::new())
        .run()
        .expect_err("no column");
    assert!(err.to_string().contains("window_aggregate") && err.to_string().contains("nope"), "{err}");
}

#[test]
fn a_panicking_operator_is_an_error_not_a_hang() {
    let parts = events(1, 100, 0, 5);
    let source = VecSource::new(schema(), vec![to_batches(&parts[0], 8)]).expect("source");
    let err = Pipeline::new("panics")
        .parallelism(2)
        .source(source)
        .map(|_b: RecordBatch| -> sluice_dataflow::Result<RecordBatch> { panic!("boom") })
        .sink(CollectSink::new())
        .run()
        .expect_err("panic");
    assert!(matches!(err, DataflowError::TaskPanicked { .. }), "{err}");
    assert!(err.to_string().contains("boom"));
}

/// The page-view job of `run`, with `memory` as its tracker.
fn run_with_memory(parts: &[Vec<Event>], memory: MemoryTracker) -> sluice_dataflow::Result<u64> {
    let source = VecSource::new(schema(), parts.iter().map(|p| to_batches(p, 256)).collect())?;
    let report = Pipeline::new("page_views")
        .parallelism(2)
        .source(source)
        .event_time("ts", Duration::from_secs(5))
        .key_by(["url"])
        .window(WindowSpec::tumbling(WINDOW)?)
        .aggregate([count()])
        .memory(memory)
        .sink(CollectSink::new())
        .run()?;
    Ok(report.peak_state_bytes)
}

#[test]
fn window_state_is_accounted_on_the_memory_tracker() {
    let parts = events(2, 3_000, 500, 5);
    let tracker = MemoryTracker::new();
    let peak = run_with_memory(&parts, tracker.clone()).expect("run");
    assert!(peak > 0, "the keyed tasks report their state");
    // The job's accounts are closed with its tasks, releasing their bytes.
    assert_eq!(tracker.used(), 0);
    assert!(tracker.accounts().is_empty());
}

#[test]
fn state_over_the_memory_budget_stops_the_job_naming_the_figures() {
    let parts = events(2, 3_000, 500, 5);
    let err = run_with_memory(&parts, MemoryTracker::with_budget(64)).expect_err("over budget");
    let msg = err.to_string();
    assert!(matches!(err, DataflowError::State { .. }), "{err:?}");
    assert!(
        msg.contains("exceeds its memory budget (64 bytes)") && msg.contains("page_views/window["),
        "{msg}"
    );
}
