//! Sinks write JSON lines that the sources read back: file → FileSource, topic → LogSource.

use std::sync::Arc;

use arrow_array::{Int64Array, StringArray};
use sluice_connect::{FileFormat, FileSink, FileSource, LogSink, LogSource, StdoutSink};
use sluice_dataflow::memory::VecSource;
use sluice_dataflow::sink::Sink;

use super::*;

fn batch(n: i64) -> RecordBatch {
    RecordBatch::try_new(
        views_schema(),
        vec![
            Arc::new(Int64Array::from((0..n).map(|i| i * 10).collect::<Vec<_>>())),
            Arc::new(StringArray::from((0..n).map(|i| format!("/p{}", i % 3)).collect::<Vec<_>>())),
            Arc::new(Int64Array::from((0..n).map(Some).collect::<Vec<_>>())),
        ],
    )
    .expect("batch")
}

fn run_into(sink: impl Sink + 'static, batches: Vec<RecordBatch>) {
    let source = VecSource::new(views_schema(), vec![batches]).expect("source");
    Pipeline::new("sink").source(source).sink(sink).run().expect("run");
}

#[test]
fn file_sink_round_trips_through_a_file_source() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("out.jsonl");
    run_into(FileSink::create(&path).expect("sink"), vec![batch(40), batch(2)]);
    let text = std::fs::read_to_string(&path).expect("read");
    assert_eq!(text.lines().next(), Some(r#"{"ts":0,"url":"/p0","user_id":0}"#));
    let back = collect(FileSource::new(&path, FileFormat::JsonLines, views_schema()).expect("source"));
    assert_eq!(rows(&back), rows(&[batch(40), batch(2)]));
}

#[test]
fn log_sink_appends_one_keyed_record_per_row_with_timestamps_from_a_column() {
    let (_dir, log) = open_log();
    create(&log, "out", 3);
    run_into(
        LogSink::new(&log, "out").expect("sink").key_columns(["url"]).timestamp_column("ts"),
        vec![batch(30)],
    );
    let topic = log.topic("out").expect("topic");
    assert_eq!(topic.end_offsets().iter().sum::<u64>(), 30);
    for p in topic.partitions() {
        for r in p.read(0, 1 << 20).expect("read") {
            let value: serde_json::Value = serde_json::from_slice(&r.record.value).expect("json");
            assert_eq!(r.record.key.as_deref(), value["url"].as_str().map(str::as_bytes));
            assert_eq!(Some(r.record.timestamp), value["ts"].as_i64());
        }
    }
    let back = collect(LogSource::new(&log, "out", views_schema()).expect("source"));
    assert_eq!(rows(&back), rows(&[batch(30)]));
}

#[test]
fn log_sink_with_several_key_columns_uses_a_json_key() {
    let (_dir, log) = open_log();
    create(&log, "out", 1);
    run_into(LogSink::new(&log, "out").expect("sink").key_columns(["url", "user_id"]), vec![batch(1)]);
    let stored = log.topic("out").expect("topic").partitions()[0].read(0, 1 << 20).expect("read");
    assert_eq!(stored[0].record.key.as_deref(), Some(&br#"{"url":"/p0","user_id":0}"#[..]));
}

#[test]
fn log_sink_names_a_missing_key_column() {
    let (_dir, log) = open_log();
    create(&log, "out", 1);
    let source = VecSource::new(views_schema(), vec![vec![batch(1)]]).expect("source");
    let sink = LogSink::new(&log, "out").expect("sink").key_columns(["nope"]);
    let err = Pipeline::new("x").source(source).sink(sink).run().expect_err("missing column");
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn stdout_sink_writes_without_error() {
    run_into(StdoutSink::new(), vec![batch(2)]);
}
