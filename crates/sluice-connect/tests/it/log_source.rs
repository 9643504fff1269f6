//! Reading a topic: bounded at the end offsets of the job's start, following the tail until
//! stopped, following until an end-of-input signal.

use std::thread;
use std::time::Instant;

use sluice_connect::{EndOfInput, LogSource};
use sluice_log::StartFrom;

use super::*;

fn views(n: i64, url: &str) -> Vec<(i64, &str, String)> {
    (0..n).map(|i| (i, url, view(i, url, i))).collect()
}

#[test]
fn bounded_reads_every_partition_to_the_end_offsets_of_the_start() {
    let (_dir, log) = open_log();
    create(&log, "views", 3);
    for url in ["/a", "/b", "/c", "/d"] {
        append(&log, "views", &views(50, url));
    }
    let source = LogSource::new(&log, "views", views_schema()).expect("source").dead_letters(memory());
    assert_eq!(source.partitions(), 3);
    let got = rows(&collect(source));
    assert_eq!(got.len(), 200);
    assert_eq!(got.iter().filter(|(_, u)| u == "/c").count(), 50);
}

#[test]
fn bounded_ignores_records_appended_after_the_start() {
    let (_dir, log) = open_log();
    create(&log, "views", 1);
    append(&log, "views", &views(10, "/a"));
    let source = LogSource::new(&log, "views", views_schema()).expect("source");
    let out = CollectSink::new();
    let job = Pipeline::new("bounded").source(source).sink(out.clone()).spawn().expect("spawn");
    append(&log, "views", &views(10, "/late"));
    job.join().expect("join");
    assert!(rows(&out.batches()).iter().all(|(_, u)| u == "/a"));
    assert_eq!(out.rows(), 10);
}

#[test]
fn start_positions_latest_timestamp_and_committed() {
    let (_dir, log) = open_log();
    create(&log, "views", 1);
    append(&log, "views", &views(10, "/a"));
    let schema = views_schema;

    let latest = LogSource::new(&log, "views", schema()).expect("source").start(StartFrom::Latest);
    assert!(collect(latest).is_empty());

    // Record timestamps are 0..10: from 7 on, three records.
    let from_ts = LogSource::new(&log, "views", schema()).expect("source").start(StartFrom::Timestamp(7));
    assert_eq!(rows(&collect(from_ts)).len(), 3);

    let mut group =
        sluice_log::Consumer::new(&log, "views", None, Some("g"), StartFrom::Earliest).expect("consumer");
    group.poll(4, Duration::from_millis(10)).expect("poll");
    group.commit().expect("commit");
    let committed =
        LogSource::new(&log, "views", schema()).expect("source").group("g").start(StartFrom::Committed);
    assert_eq!(rows(&collect(committed)).first().map(|r| r.0), Some(4));

    let no_group = LogSource::new(&log, "views", schema()).expect("source").start(StartFrom::Committed);
    let err = Pipeline::new("x").source(no_group).sink(CollectSink::new()).run().expect_err("needs a group");
    assert!(err.to_string().contains("group"), "{err}");
}

#[test]
fn unknown_topic_is_an_error_naming_it() {
    let (_dir, log) = open_log();
    let err = LogSource::new(&log, "nope", views_schema()).err().expect("error");
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn follow_reads_records_appended_while_running_until_stopped() {
    let (_dir, log) = open_log();
    create(&log, "views", 2);
    append(&log, "views", &views(5, "/before"));
    let source = LogSource::new(&log, "views", views_schema()).expect("source").follow();
    let out = CollectSink::new();
    let job = Pipeline::new("follow").source(source).sink(out.clone()).spawn().expect("spawn");
    let handle = job.handle();

    let writer = {
        let log = log.clone();
        thread::spawn(move || {
            for i in 0..20 {
                append(&log, "views", &[(i, "/during", view(i, "/during", i))]);
                thread::sleep(Duration::from_millis(5));
            }
        })
    };
    writer.join().expect("writer");
    let deadline = Instant::now() + PATIENCE;
    while handle.metrics().snapshot().records_in < 25 {
        assert!(Instant::now() < deadline, "follow did not read the appended records");
        thread::sleep(Duration::from_millis(10));
    }
    handle.stop();
    let report = job.join().expect("join");
    assert_eq!(report.records_in, 25);
    assert_eq!(rows(&out.batches()).iter().filter(|(_, u)| u == "/during").count(), 20);
}

#[test]
fn follow_until_reads_everything_appended_before_the_signal_then_ends() {
    let (_dir, log) = open_log();
    create(&log, "views", 4);
    let end = EndOfInput::new();
    let source = LogSource::new(&log, "views", views_schema()).expect("source").follow_until(end.clone());
    let out = CollectSink::new();
    let job = Pipeline::new("until").parallelism(2).source(source).sink(out.clone()).spawn().expect("spawn");
    let urls = ["/a", "/b", "/c", "/d", "/e", "/f"];
    for round in 0..50 {
        let batch: Vec<_> = urls.iter().map(|u| (round, *u, view(round, u, round))).collect();
        append(&log, "views", &batch);
    }
    end.signal();
    let report = job.join().expect("the job ends by itself after the signal");
    assert_eq!(report.records_in, 300);
    assert_eq!(out.rows(), 300);
}

#[test]
fn a_quiet_follower_does_not_spin() {
    let (_dir, log) = open_log();
    create(&log, "views", 1);
    let source = LogSource::new(&log, "views", views_schema()).expect("source").follow();
    let job =
        Pipeline::new("quiet").linger(Duration::from_millis(50)).source(source).sink(CollectSink::new());
    let job = job.spawn().expect("spawn");
    thread::sleep(Duration::from_millis(300));
    append(&log, "views", &views(3, "/x"));
    let deadline = Instant::now() + PATIENCE;
    while job.handle().metrics().snapshot().records_in < 3 {
        assert!(Instant::now() < deadline, "no wake-up on append");
        thread::sleep(Duration::from_millis(5));
    }
    job.handle().stop();
    assert_eq!(job.join().expect("join").records_in, 3);
}

#[test]
fn metadata_columns_hold_each_rows_offset_partition_and_log_timestamp() {
    use arrow_array::types::{Int32Type, TimestampMillisecondType};
    use sluice_connect::LogMetadata;
    use sluice_types::PartitionId;

    let (_dir, log) = open_log();
    create(&log, "views", 2);
    let t = log.topic("views").expect("topic");
    // Malformed and blank records between good ones: rows must still get their own offsets.
    let mut records = Vec::new();
    for i in 0..40_i64 {
        records.push(Record::new(view(i, "/a", i), 1_000 + i).with_key(format!("k{i}")));
        if i % 7 == 0 {
            records.push(Record::new("{not json", 5).with_key(format!("k{i}")));
            records.push(Record::new("  ", 6).with_key(format!("k{i}")));
        }
    }
    t.append(records).expect("append");
    // Where each good record landed, by its `ts`.
    let mut expected = std::collections::BTreeMap::new();
    for p in 0..2_u32 {
        for r in t.partition(PartitionId(p)).expect("partition").read(0, 1 << 20).expect("read") {
            if r.record.timestamp >= 1_000 {
                expected.insert(r.record.timestamp - 1_000, (p as i32, r.offset as i64, r.record.timestamp));
            }
        }
    }
    assert_eq!(expected.len(), 40);
    let ts_type = DataType::Timestamp(arrow_schema::TimeUnit::Millisecond, None);
    let source = LogSource::new(&log, "views", views_schema())
        .expect("source")
        .dead_letters(memory())
        .metadata([
            (Field::new("off", DataType::Int64, false), LogMetadata::Offset),
            (Field::new("part", DataType::Int32, false), LogMetadata::Partition),
            (Field::new("log_ts", ts_type.clone(), false), LogMetadata::Timestamp),
        ])
        .expect("metadata");
    assert_eq!(source.schema().fields().len(), 6);
    let mut got = std::collections::BTreeMap::new();
    for b in collect(source) {
        let ts = b.column(0).as_primitive::<Int64Type>();
        let off = b.column(3).as_primitive::<Int64Type>();
        let part = b.column(4).as_primitive::<Int32Type>();
        let log_ts = b.column(5).as_primitive::<TimestampMillisecondType>();
        for i in 0..b.num_rows() {
            got.insert(ts.value(i), (part.value(i), off.value(i), log_ts.value(i)));
        }
    }
    assert_eq!(got, expected);

    let wrong = LogSource::new(&log, "views", views_schema())
        .expect("source")
        .metadata([(Field::new("off", DataType::Utf8, false), LogMetadata::Offset)]);
    assert!(wrong.is_err(), "an offset column must be Int64");
}
