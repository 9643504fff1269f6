//! Whole jobs with checkpoints, failing at random points and restarted: page views in a topic
//! → per-URL tumbling count → an exactly-once topic (or part files). What a reader sees at the
//! end equals an uninterrupted run's output: every window once, nothing missing.

use std::path::Path;
use std::time::Duration;

use sluice_checkpoint::CheckpointStore;
use sluice_connect::{LogSink, LogSource, PartFileSink};
use sluice_dataflow::checkpoint::Checkpointing;
use sluice_dataflow::memory::FailAfter;
use sluice_dataflow::ops::count;
use sluice_dataflow::sink::Sink;
use sluice_dataflow::window::WindowSpec;
use sluice_dataflow::Result;

use super::*;

const EVENTS: i64 = 6_000;

/// Page views over 3 partitions, 10 ms apart, out of order by less than the 1 s bound.
fn fill(log: &Log) {
    create(log, "views", 3);
    let rows: Vec<(i64, &str, String)> = (0..EVENTS)
        .map(|i| {
            let ts = i * 10 + (i * 7919) % 500;
            let url = ["/a", "/b", "/c", "/d", "/e"][(i * 31 % 5) as usize];
            (ts, url, view(ts, url, i))
        })
        .collect();
    append(log, "views", &rows);
}

fn run(log: &Log, sink: Box<dyn Sink>, dir: &Path, polls: i64) -> Result<sluice_dataflow::JobReport> {
    let source = LogSource::new(log, "views", views_schema())?.bounded();
    let store = CheckpointStore::open(dir.to_str().expect("utf-8"), "pv").expect("store");
    Pipeline::new("pv")
        .parallelism(2)
        .batch_size(50)
        .source(FailAfter::new(source, polls, Duration::from_micros(200)))
        .event_time("ts", Duration::from_secs(1))
        .key_by(["url"])
        .window(WindowSpec::tumbling(5_000)?)
        .aggregate([count().as_("views")])
        .sink(sink)
        .checkpointing(Checkpointing::new(store).interval(Duration::from_millis(5)))
        .run()
}

/// Runs until a run finishes, failing the first runs after 4..40 polls; the failures.
fn run_with_failures(log: &Log, dir: &Path, make: &dyn Fn() -> Box<dyn Sink>) -> usize {
    let mut failures = 0;
    for attempt in 0..100u64 {
        let polls = if attempt < 15 { 4 + ((attempt * 7919) % 37) as i64 } else { i64::MAX };
        match run(log, make(), dir, polls) {
            Ok(_) => return failures,
            Err(e) if e.to_string().contains("injected failure") => failures += 1,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    panic!("never finished");
}

/// (window_start, url, views) of every committed record of `topic`, sorted.
fn windows(log: &Log, topic: &str) -> Vec<(String, String, i64)> {
    let mut out = Vec::new();
    for p in log.topic(topic).expect("topic").partitions() {
        for r in p.read(0, 1 << 24).expect("read") {
            out.push(parse(&r.record.value));
        }
    }
    out.sort();
    out
}

fn parse(json: &[u8]) -> (String, String, i64) {
    let v: serde_json::Value = serde_json::from_slice(json).expect("json");
    (
        v["window_start"].to_string(),
        v["url"].as_str().expect("url").to_string(),
        v["views"].as_i64().expect("views"),
    )
}

#[test]
fn log_to_log_after_failures_equals_an_uninterrupted_run() {
    let (_dir, log) = open_log();
    fill(&log);
    create(&log, "counts", 2);
    create(&log, "reference", 2);
    let ckpt = tempfile::tempdir().expect("tempdir");
    let make = || {
        Box::new(LogSink::new(&log, "counts").expect("sink").exactly_once("pv.counts").expect("eo"))
            as Box<dyn Sink>
    };
    let failures = run_with_failures(&log, ckpt.path(), &make);
    assert!(failures >= 10, "only {failures} failures");
    let clean = tempfile::tempdir().expect("tempdir");
    let reference = LogSink::new(&log, "reference").expect("sink").exactly_once("pv.reference").expect("eo");
    run(&log, Box::new(reference), clean.path(), i64::MAX).expect("uninterrupted");
    let expected = windows(&log, "reference");
    assert_eq!(expected.iter().map(|w| w.2).sum::<i64>(), EVENTS, "nothing late in the reference");
    assert_eq!(windows(&log, "counts"), expected);
    assert!(log.prepared_transactions().expect("list").is_empty());
}

#[test]
fn log_to_part_files_after_failures_equals_an_uninterrupted_run() {
    let (dir, log) = open_log();
    fill(&log);
    let out = dir.path().join("out");
    let ckpt = tempfile::tempdir().expect("tempdir");
    let make = || Box::new(PartFileSink::new(&out, "pv").expect("sink")) as Box<dyn Sink>;
    let failures = run_with_failures(&log, ckpt.path(), &make);
    assert!(failures >= 10, "only {failures} failures");
    let got = part_rows(&out);
    assert_eq!(got.iter().map(|w| w.2).sum::<i64>(), EVENTS);
    let windows_once: std::collections::BTreeSet<_> =
        got.iter().map(|w| (w.0.clone(), w.1.clone())).collect();
    assert_eq!(windows_once.len(), got.len(), "a window written twice");
    let reference = dir.path().join("reference");
    let clean = tempfile::tempdir().expect("tempdir");
    run(&log, Box::new(PartFileSink::new(&reference, "pv").expect("sink")), clean.path(), i64::MAX)
        .expect("run");
    assert_eq!(got, part_rows(&reference));
}

/// The rows of every committed part file in `out`, sorted; no in-progress file may be left.
fn part_rows(out: &Path) -> Vec<(String, String, i64)> {
    let mut got = Vec::new();
    for entry in std::fs::read_dir(out).expect("out dir") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).expect("name").to_string();
        assert!(!name.starts_with('.'), "in-progress file left: {name}");
        for line in std::fs::read_to_string(&path).expect("read").lines() {
            got.push(parse(line.as_bytes()));
        }
    }
    got.sort();
    got
}
