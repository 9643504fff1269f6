//! Two-phase commit of the exactly-once sinks, driven by hand as the runtime does: rows of a
//! checkpoint interval are invisible after `pre_commit`, visible once after `commit`; a crash
//! (the sink dropped, the log reopened) is settled by `recover`, which commits what the
//! checkpoint lists and aborts the rest.

use std::sync::Arc;

use arrow_array::{Int64Array, StringArray};
use sluice_connect::{FileFormat, FileSource, LogSink, PartFileSink};
use sluice_dataflow::memory::VecSource;
use sluice_dataflow::sink::{Delivery, Sink};

use super::*;

/// Views with user ids `ids`.
fn batch(ids: std::ops::Range<i64>) -> RecordBatch {
    RecordBatch::try_new(
        views_schema(),
        vec![
            Arc::new(Int64Array::from(ids.clone().map(|i| i * 10).collect::<Vec<_>>())),
            Arc::new(StringArray::from(ids.clone().map(|i| format!("/p{}", i % 4)).collect::<Vec<_>>())),
            Arc::new(Int64Array::from(ids.map(Some).collect::<Vec<_>>())),
        ],
    )
    .expect("batch")
}

/// The user ids a `read_committed` reader of `topic` sees, sorted.
fn committed_ids(log: &Log, topic: &str) -> Vec<i64> {
    let mut ids = Vec::new();
    for p in log.topic(topic).expect("topic").partitions() {
        for r in p.read(0, 1 << 24).expect("read") {
            let v: serde_json::Value = serde_json::from_slice(&r.record.value).expect("json");
            ids.push(v["user_id"].as_i64().expect("user_id"));
        }
    }
    ids.sort_unstable();
    ids
}

#[test]
fn log_sink_rows_are_invisible_until_their_checkpoint_commits() {
    let (_dir, log) = open_log();
    create(&log, "out", 3);
    let mut sink =
        LogSink::new(&log, "out").expect("sink").key_columns(["url"]).exactly_once("job.out").expect("eo");
    assert_eq!(sink.delivery(), Delivery::ExactlyOnce);
    assert_eq!(LogSink::new(&log, "out").expect("sink").delivery(), Delivery::AtLeastOnce);
    sink.recover(&[]).expect("fresh start");

    sink.write(&batch(0..10)).expect("write");
    sink.write(&batch(10..15)).expect("write");
    sink.flush().expect("flush makes nothing visible");
    assert!(committed_ids(&log, "out").is_empty());
    let pending = sink.pre_commit(1).expect("pre-commit");
    assert_eq!(pending, ["job.out-1"]);
    assert!(committed_ids(&log, "out").is_empty(), "prepared is still invisible");
    assert_eq!(log.prepared_transactions().expect("list"), ["job.out-1"]);

    sink.commit(1, &pending).expect("commit");
    assert_eq!(committed_ids(&log, "out"), (0..15).collect::<Vec<_>>());
    sink.commit(1, &pending).expect("commit again");
    assert_eq!(committed_ids(&log, "out").len(), 15, "committed once");
    assert!(sink.pre_commit(2).expect("empty interval").is_empty());

    // Same keys, same partitions as a plain append.
    let plain_dir = tempfile::tempdir().expect("dir");
    let plain = Log::open(plain_dir.path(), LogOptions::default()).expect("log");
    create(&plain, "out", 3);
    let mut at_least_once = LogSink::new(&plain, "out").expect("sink").key_columns(["url"]);
    at_least_once.write(&batch(0..15)).expect("write");
    assert_eq!(plain.topic("out").expect("t").end_offsets(), log.topic("out").expect("t").end_offsets());
}

#[test]
fn log_sink_recovery_commits_the_checkpoints_transaction_and_aborts_the_others() {
    let dir = tempfile::tempdir().expect("dir");
    let pending = {
        let log = Log::open(dir.path(), LogOptions::default()).expect("log");
        create(&log, "out", 2);
        let mut other = log.begin_transaction("other.job-3").expect("txn");
        other.prepare().expect("prepare");
        drop(other);
        let mut sink = LogSink::new(&log, "out").expect("sink").exactly_once("job.out").expect("eo");
        sink.write(&batch(0..5)).expect("write");
        let first = sink.pre_commit(1).expect("pre-commit");
        sink.commit(1, &first).expect("commit");
        sink.write(&batch(5..10)).expect("write");
        let pending = sink.pre_commit(2).expect("pre-commit"); // checkpoint 2 completes, not committed
        sink.write(&batch(10..20)).expect("write");
        sink.pre_commit(3).expect("pre-commit"); // checkpoint 3 never completes
        sink.write(&batch(20..30)).expect("write"); // still open at the crash
        pending
    }; // crash: the sink and the log are dropped without commit

    let log = Log::open(dir.path(), LogOptions::default()).expect("reopen");
    assert_eq!(log.prepared_transactions().expect("list"), ["job.out-2", "job.out-3", "other.job-3"]);
    assert_eq!(committed_ids(&log, "out"), (0..5).collect::<Vec<_>>());
    let mut sink = LogSink::new(&log, "out").expect("sink").exactly_once("job.out").expect("eo");
    sink.recover(&pending).expect("recover");
    assert_eq!(committed_ids(&log, "out"), (0..10).collect::<Vec<_>>());
    assert_eq!(log.prepared_transactions().expect("list"), ["other.job-3"], "another job's is left alone");
    sink.recover(&pending).expect("recover again is harmless");
    let err = sink.commit(3, &["other.job-3".into()]).expect_err("not this sink's");
    assert!(err.to_string().contains("other.job-3"), "{err}");

    // The replayed rows go into a new transaction, named past every earlier one.
    sink.write(&batch(10..12)).expect("write");
    assert_eq!(sink.pre_commit(3).expect("pre-commit"), ["job.out-4"]);
}

#[test]
fn log_sink_without_checkpoints_commits_when_the_job_ends() {
    let (_dir, log) = open_log();
    create(&log, "out", 2);
    let sink = LogSink::new(&log, "out").expect("sink").exactly_once("job.out").expect("eo");
    let source =
        VecSource::new(views_schema(), vec![vec![batch(0..30)], vec![batch(30..40)]]).expect("source");
    Pipeline::new("eo").source(source).sink(sink).run().expect("run");
    assert_eq!(committed_ids(&log, "out"), (0..40).collect::<Vec<_>>());
    assert!(log.prepared_transactions().expect("list").is_empty());
    let err = LogSink::new(&log, "out").expect("sink").exactly_once("no spaces").expect_err("bad prefix");
    assert!(err.to_string().contains("no spaces"), "{err}");
}

/// The visible (not hidden) files of `dir`, sorted.
fn visible(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// Every file of `dir`, hidden ones too, sorted.
fn all_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("e").file_name().to_string_lossy().into())
        .collect();
    names.sort();
    names
}

/// The user ids of the visible part files, read back with a file source.
fn part_ids(dir: &std::path::Path) -> Vec<i64> {
    let source = FileSource::new(dir, FileFormat::JsonLines, views_schema()).expect("source");
    let mut ids: Vec<i64> = rows_ids(&collect(source));
    ids.sort_unstable();
    ids
}

fn rows_ids(batches: &[RecordBatch]) -> Vec<i64> {
    use arrow_array::cast::AsArray;
    batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("user_id")
                .expect("id")
                .as_primitive::<Int64Type>()
                .iter()
                .flatten()
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn part_files_appear_whole_and_once_when_their_checkpoint_commits() {
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("out");
    let mut sink = PartFileSink::new(&out, "job.out").expect("sink");
    assert_eq!(sink.delivery(), Delivery::ExactlyOnce);
    sink.recover(&[]).expect("fresh start");
    assert!(sink.pre_commit(1).expect("empty").is_empty(), "an empty interval makes no file");

    sink.write(&batch(0..10)).expect("write");
    sink.write(&batch(10..12)).expect("write");
    assert!(visible(&out).is_empty());
    let pending = sink.pre_commit(2).expect("pre-commit");
    assert_eq!(pending, ["job.out-2.json"]);
    assert!(visible(&out).is_empty(), "closed but not committed: hidden");
    assert_eq!(all_files(&out), [".job.out-2.json.inprogress"]);
    sink.commit(2, &pending).expect("commit");
    sink.commit(2, &pending).expect("commit again");
    assert_eq!(visible(&out), ["job.out-2.json"]);
    assert_eq!(part_ids(&out), (0..12).collect::<Vec<_>>());
    let err = sink.commit(3, &["elsewhere.json".into()]).expect_err("not ours");
    assert!(err.to_string().contains("elsewhere.json"), "{err}");

    // A checkpoint id used twice must not replace a committed part.
    sink.write(&batch(12..13)).expect("write");
    let err = sink.pre_commit(2).expect_err("id 2 is committed");
    assert!(err.to_string().contains("exists already"), "{err}");
    assert_eq!(part_ids(&out), (0..12).collect::<Vec<_>>());
}

#[test]
fn part_file_recovery_commits_the_checkpoints_part_and_deletes_the_others() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join(".other-3.json.inprogress"), "{}\n").expect("another sink's file");
    let pending = {
        let mut sink = PartFileSink::new(dir.path(), "job").expect("sink");
        sink.write(&batch(0..5)).expect("write");
        let first = sink.pre_commit(1).expect("pre-commit");
        sink.commit(1, &first).expect("commit");
        sink.write(&batch(5..10)).expect("write");
        let pending = sink.pre_commit(2).expect("pre-commit");
        sink.write(&batch(10..20)).expect("write");
        sink.pre_commit(3).expect("pre-commit");
        sink.write(&batch(20..30)).expect("write");
        sink.flush().expect("flush");
        pending
    }; // crash
    assert_eq!(visible(dir.path()), ["job-1.json"]);
    let mut sink = PartFileSink::new(dir.path(), "job").expect("sink");
    sink.recover(&pending).expect("recover");
    assert_eq!(all_files(dir.path()), [".other-3.json.inprogress", "job-1.json", "job-2.json"]);
    sink.recover(&pending).expect("recover again is harmless");
    // `.other-3...` belongs to prefix `other`; the file source skips hidden files.
    assert_eq!(part_ids(dir.path()), (0..10).collect::<Vec<_>>());
}

#[test]
fn part_files_without_checkpoints_are_committed_when_the_job_ends() {
    let dir = tempfile::tempdir().expect("dir");
    let sink = PartFileSink::new(dir.path().join("out"), "job").expect("sink");
    let source = VecSource::new(views_schema(), vec![vec![batch(0..30), batch(30..31)]]).expect("source");
    Pipeline::new("eo").source(source).sink(sink).run().expect("run");
    assert_eq!(all_files(&dir.path().join("out")), ["job-1.json"]);
    assert_eq!(part_ids(&dir.path().join("out")), (0..31).collect::<Vec<_>>());
    let err = PartFileSink::new(dir.path(), "a/b").expect_err("bad prefix");
    assert!(err.to_string().contains("a/b"), "{err}");
}
