//! Integration tests of the connectors, one behaviour per module.
//!
//! - `log_source`: bounded and unbounded (follow, follow-until) reads of a topic.
//! - `files`: JSON-lines and CSV files, a directory of files, stdin.
//! - `dead_letters`: malformed records with their positions, to every target; strict mode.
//! - `sinks`: stdout/file/log sinks round-trip through the decoders.
//! - `positions`: checkpoint positions of the log and file sources: restore reads exactly the rest.
//! - `replay`: property — split, checkpoint and restore any number of times, every record once.
//! - `exactly_once`: the two-phase commit of the exactly-once log and part-file sinks.
//! - `kafka` (feature `kafka`): the Kafka source and sink against the tansu test broker.
//! - `pipeline`: page views in a topic → per-URL tumbling count → a topic, against a reference.

mod dead_letters;
mod exactly_once;
mod exactly_once_job;
mod files;
#[cfg(feature = "kafka")]
mod kafka;
mod log_source;
mod pipeline;
mod positions;
mod replay;
mod sinks;

use std::sync::Arc;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use sluice_connect::DeadLetters;
use sluice_dataflow::memory::CollectSink;
use sluice_dataflow::source::Source;
use sluice_dataflow::Pipeline;
use sluice_log::{Log, LogOptions, TopicConfig};
use sluice_types::Record;

/// The page-view schema: `ts` (epoch ms), `url`, `user_id`.
fn views_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("ts", DataType::Int64, false),
        Field::new("url", DataType::Utf8, false),
        Field::new("user_id", DataType::Int64, true),
    ]))
}

/// One page view as a JSON line (no terminator).
fn view(ts: i64, url: &str, user: i64) -> String {
    format!(r#"{{"ts":{ts},"url":"{url}","user_id":{user}}}"#)
}

/// A fresh log in a temp dir.
fn open_log() -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = Log::open(dir.path(), LogOptions::default()).expect("open log");
    (dir, log)
}

/// Appends JSON values to a topic, keyed by `key`, with timestamp `ts`.
fn append(log: &Log, topic: &str, rows: &[(i64, &str, String)]) {
    let t = log.topic(topic).expect("topic");
    let records =
        rows.iter().map(|(ts, key, v)| Record::new(v.clone(), *ts).with_key(key.to_string())).collect();
    t.append(records).expect("append");
}

/// Creates `topic` with `partitions`.
fn create(log: &Log, topic: &str, partitions: u32) {
    log.create_topic(topic, TopicConfig::new(partitions)).expect("create topic");
}

/// Runs `source` to its end through a pipeline without operators; returns the rows.
fn collect(source: impl Source + 'static) -> Vec<RecordBatch> {
    let out = CollectSink::new();
    Pipeline::new("collect").parallelism(2).source(source).sink(out.clone()).run().expect("run");
    out.batches()
}

/// The (ts, url) of every row, sorted.
fn rows(batches: &[RecordBatch]) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for b in batches {
        let ts = b.column_by_name("ts").expect("ts").as_primitive::<Int64Type>();
        let url = b.column_by_name("url").expect("url").as_string::<i32>();
        for i in 0..b.num_rows() {
            out.push((ts.value(i), url.value(i).to_string()));
        }
    }
    out.sort();
    out
}

/// Dead letters kept in memory.
fn memory() -> DeadLetters {
    DeadLetters::memory()
}

/// Short timeout for waits in tests.
const PATIENCE: Duration = Duration::from_secs(20);
