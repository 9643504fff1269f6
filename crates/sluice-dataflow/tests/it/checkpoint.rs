//! Exactly-once checkpoints: a job that fails at random points and is restarted from its latest
//! checkpoint commits exactly the output of an uninterrupted run; savepoints resume at another
//! parallelism; state that does not fit the job is refused.

use std::time::Duration;

use sluice_checkpoint::{CheckpointStore, Target};
use sluice_dataflow::checkpoint::{Checkpointing, Restore};
use sluice_dataflow::memory::{ChannelSource, FailAfter, TxnSink, VecSource};
use sluice_dataflow::ops::{count, max, sum};
use sluice_dataflow::window::WindowSpec;
use sluice_dataflow::{JobReport, Pipeline, Result};

use crate::pipeline::{events, schema, table, to_batches, Event, Table, WINDOW};

const BOUND: i64 = 200;

const PACE: Duration = Duration::from_micros(300);

/// The whole expected output: with disorder within the bound, no row is late.
fn expected(parts: &[Vec<Event>]) -> Table {
    let mut t = Table::new();
    for (url, ts, bytes) in parts.iter().flatten() {
        let e = t.entry((ts - ts.rem_euclid(WINDOW), url.clone())).or_insert((0, 0, i64::MIN));
        e.0 += 1;
        e.1 += bytes;
        e.2 = e.2.max(*bytes);
    }
    t
}

fn job(
    parts: &[Vec<Event>],
    parallelism: usize,
    sink: &TxnSink,
    polls: i64,
    c: Checkpointing,
) -> Result<JobReport> {
    windowed(parts, parallelism, sink, polls, c, WindowSpec::tumbling(WINDOW)?)
}

fn windowed(
    parts: &[Vec<Event>],
    parallelism: usize,
    sink: &TxnSink,
    polls: i64,
    c: Checkpointing,
    spec: WindowSpec,
) -> Result<JobReport> {
    let inner = VecSource::new(schema(), parts.iter().map(|p| to_batches(p, 20)).collect())?;
    Pipeline::new("pv")
        .parallelism(parallelism)
        .batch_size(20)
        .source(FailAfter::new(inner, polls, PACE))
        .event_time("ts", Duration::from_millis(BOUND as u64))
        .key_by(["url"])
        .window(spec)
        .aggregate([count().as_("views"), sum("bytes").as_("bytes"), max("bytes")])
        .sink(sink.reopen())
        .checkpointing(c)
        .run()
}

fn settings(dir: &std::path::Path) -> Checkpointing {
    let store = CheckpointStore::open(dir.to_str().expect("utf-8"), "pv").expect("store");
    Checkpointing::new(store).interval(Duration::from_millis(3)).retain(2)
}

/// Runs the job, failing after a pseudo-random number of polls each time, until one run
/// finishes; returns the number of failed runs.
fn run_with_failures(
    parts: &[Vec<Event>],
    parallelism: usize,
    sink: &TxnSink,
    dir: &std::path::Path,
    seed: u64,
    spec: &WindowSpec,
) -> usize {
    let mut x = seed | 1;
    let mut failures = 0;
    for attempt in 0..200 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let polls = if attempt < 25 { 5 + (x % 30) as i64 } else { i64::MAX };
        match windowed(parts, parallelism, sink, polls, settings(dir), *spec) {
            Ok(report) => {
                assert_eq!(report.records_late, 0);
                return failures;
            }
            Err(e) => {
                assert!(e.to_string().contains("injected failure"), "{e}");
                failures += 1;
            }
        }
    }
    panic!("the job never finished");
}

#[test]
fn restarts_after_failures_commit_exactly_the_uninterrupted_output() {
    for (seed, parallelism) in [(1u64, 1usize), (2, 2), (3, 3), (4, 2)] {
        let parts = events(3, 2000, BOUND, seed);
        let dir = tempfile::tempdir().expect("tempdir");
        let sink = TxnSink::new();
        let spec = WindowSpec::tumbling(WINDOW).expect("spec");
        let failures = run_with_failures(&parts, parallelism, &sink, dir.path(), seed, &spec);
        assert!(failures >= 10, "only {failures} failures");
        assert_eq!(table(&sink.committed()), expected(&parts), "seed {seed} p{parallelism}");
        assert!(sink.prepared().is_empty(), "left prepared: {:?}", sink.prepared());
    }
}

/// Rows of (window_start, window_end, url, views, bytes, max_bytes), sorted.
fn rows(batches: &[arrow_array::RecordBatch]) -> Vec<(i64, i64, String, i64, i64, i64)> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int64Type, TimestampMillisecondType};
    let mut out = Vec::new();
    for b in batches {
        let col = |n: &str| b.column_by_name(n).unwrap_or_else(|| panic!("no column {n}"));
        let (start, end) = (col("window_start"), col("window_end"));
        let (start, end) = (
            start.as_primitive::<TimestampMillisecondType>(),
            end.as_primitive::<TimestampMillisecondType>(),
        );
        let url = col("url");
        let url = url.as_string::<i32>();
        let (v, s, m) = (col("views"), col("bytes"), col("max_bytes"));
        let (v, s, m) =
            (v.as_primitive::<Int64Type>(), s.as_primitive::<Int64Type>(), m.as_primitive::<Int64Type>());
        for r in 0..b.num_rows() {
            out.push((
                start.value(r),
                end.value(r),
                url.value(r).to_string(),
                v.value(r),
                s.value(r),
                m.value(r),
            ));
        }
    }
    out.sort();
    out
}

/// Hop and session windows too: the committed output after failures equals an uninterrupted
/// run's (sessions merge across the restore; hop panes are pre-aggregated at parallelism 2).
#[test]
fn hop_and_session_windows_survive_restarts() {
    let specs =
        [WindowSpec::hop(WINDOW, WINDOW / 4).expect("hop"), WindowSpec::session(700).expect("session")];
    for (i, spec) in specs.iter().enumerate() {
        for parallelism in [1, 2] {
            let parts = events(2, 1500, BOUND, 11 + i as u64);
            let reference = TxnSink::new();
            let clean = tempfile::tempdir().expect("tempdir");
            windowed(&parts, parallelism, &reference, i64::MAX, settings(clean.path()), *spec)
                .expect("uninterrupted run");
            let dir = tempfile::tempdir().expect("tempdir");
            let sink = TxnSink::new();
            let failures = run_with_failures(&parts, parallelism, &sink, dir.path(), 77 + i as u64, spec);
            assert!(failures >= 5, "only {failures} failures");
            let got = rows(&sink.committed());
            assert!(!got.is_empty());
            assert_eq!(got, rows(&reference.committed()), "{spec:?} p{parallelism}");
        }
    }
}

#[test]
fn a_finished_job_run_again_outputs_nothing_more() {
    let parts = events(2, 300, BOUND, 9);
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = TxnSink::new();
    let first = job(&parts, 2, &sink, i64::MAX, settings(dir.path())).expect("first run");
    assert!(first.checkpoints >= 2, "{first:?}");
    let commits = sink.commits();
    let again = job(&parts, 2, &sink, i64::MAX, settings(dir.path())).expect("second run");
    assert!(again.restored_from.is_some());
    assert_eq!(again.records_in, 0);
    assert_eq!(sink.commits(), commits);
    assert_eq!(table(&sink.committed()), expected(&parts));
    let fresh = job(&parts, 1, &TxnSink::new(), i64::MAX, settings(dir.path()).restore(Restore::Fresh))
        .expect("fresh run");
    assert_eq!(fresh.records_in, 600);
}

#[test]
fn stop_with_savepoint_then_resume_at_another_parallelism() {
    let parts = events(2, 3000, BOUND, 5);
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = TxnSink::new();
    let inner = VecSource::new(schema(), parts.iter().map(|p| to_batches(p, 20)).collect()).expect("source");
    let running = Pipeline::new("pv")
        .parallelism(2)
        .batch_size(20)
        .source(FailAfter::new(inner, i64::MAX, PACE))
        .event_time("ts", Duration::from_millis(BOUND as u64))
        .key_by(["url"])
        .window(WindowSpec::tumbling(WINDOW).expect("spec"))
        .aggregate([count().as_("views"), sum("bytes").as_("bytes"), max("bytes")])
        .sink(sink.reopen())
        .checkpointing(settings(dir.path()).interval(Duration::from_secs(3600)))
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(50));
    let location = running.handle().savepoint("sp-1", true).recv().expect("answer").expect("savepoint");
    assert!(location.ends_with("pv/savepoints/sp-1"), "{location}");
    let report = running.join().expect("stopped job");
    assert!(report.stopped_at.is_some());
    assert!(report.records_in < 6000, "stopped before the end: {}", report.records_in);
    let store = CheckpointStore::open(dir.path().to_str().expect("utf-8"), "pv").expect("store");
    let from = Restore::From { store, target: Target::Savepoint("sp-1".into()) };
    for p in [1, 3] {
        let other = tempfile::tempdir().expect("tempdir");
        let resumed_sink = TxnSink::new();
        // The savepoint's output is committed in `sink`; the rest comes from the resumed run.
        let report = job(&parts, p, &resumed_sink, i64::MAX, settings(other.path()).restore(from.clone()))
            .expect("resumed");
        assert!(report.restored_from.is_some());
        let mut all = sink.committed();
        all.extend(resumed_sink.committed());
        assert_eq!(table(&all), expected(&parts), "resumed at parallelism {p}");
    }
}

#[test]
fn state_that_does_not_fit_the_job_is_refused() {
    let parts = events(1, 2000, BOUND, 7);
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = TxnSink::new();
    let _ = job(&parts, 1, &sink, 40, settings(dir.path())).expect_err("fails midway");
    let inner = VecSource::new(schema(), parts.iter().map(|p| to_batches(p, 20)).collect()).expect("source");
    let err = Pipeline::new("pv")
        .parallelism(1)
        .source(inner)
        .event_time("ts", Duration::from_millis(BOUND as u64))
        .key_by(["url"])
        .window(WindowSpec::tumbling(WINDOW).expect("spec"))
        .aggregate([sum("bytes").as_("bytes")])
        .sink(TxnSink::new())
        .checkpointing(settings(dir.path()))
        .run()
        .expect_err("incompatible state");
    assert!(err.to_string().contains("does not fit"), "{err}");
}

#[test]
fn an_unreplayable_source_is_refused() {
    let (source, _feed) = ChannelSource::new(schema(), 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let err = Pipeline::new("pv")
        .source(source)
        .sink(TxnSink::new())
        .checkpointing(settings(dir.path()))
        .spawn()
        .err()
        .expect("refused");
    assert!(err.to_string().contains("rewound"), "{err}");
}

/// A job whose checkpoints cannot be stored keeps running on its last good checkpoint and
/// stops after the tolerated number of consecutive failures, saying why.
#[test]
fn a_store_that_fails_stops_the_job_after_the_tolerated_failures() {
    let parts = events(1, 20_000, BOUND, 3);
    let dir = tempfile::tempdir().expect("tempdir");
    let inner = VecSource::new(schema(), parts.iter().map(|p| to_batches(p, 20)).collect()).expect("source");
    let running = Pipeline::new("pv")
        .parallelism(1)
        .batch_size(20)
        .source(FailAfter::new(inner, i64::MAX, PACE))
        .event_time("ts", Duration::from_millis(BOUND as u64))
        .key_by(["url"])
        .window(WindowSpec::tumbling(WINDOW).expect("spec"))
        .aggregate([count().as_("views")])
        .sink(TxnSink::new())
        .checkpointing(settings(dir.path()).interval(Duration::from_millis(20)).max_consecutive_failures(2))
        .spawn()
        .expect("spawn");
    // The initial checkpoint is stored; then the job's folder becomes a file: no checkpoint
    // can be written any more.
    let job_dir = dir.path().join("pv");
    std::fs::rename(&job_dir, dir.path().join("moved")).expect("move the job's folder");
    std::fs::write(&job_dir, b"in the way").expect("block the job's folder");
    let err = running.join().expect_err("the job stops");
    let text = err.to_string();
    assert!(text.contains("3 checkpoints in a row failed (tolerated: 2)"), "{text}");
}

/// A damaged newest checkpoint is detected by its checksums and the one before is used.
#[test]
fn a_damaged_checkpoint_is_passed_over() {
    let parts = events(1, 3000, BOUND, 21);
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = TxnSink::new();
    let mut failed = None;
    for polls in [60, 90] {
        let err = job(&parts, 1, &sink, polls, settings(dir.path()).retain(3)).expect_err("fails");
        failed = Some(err);
    }
    assert!(failed.is_some());
    let mut checkpoints: Vec<(u64, std::path::PathBuf)> = std::fs::read_dir(dir.path().join("pv"))
        .expect("job folder")
        .filter_map(|e| {
            let path = e.ok()?.path();
            let id = path.file_name()?.to_str()?.strip_prefix("chk-")?.parse().ok()?;
            Some((id, path))
        })
        .collect();
    checkpoints.sort();
    let (newest, path) = checkpoints.last().cloned().expect("a checkpoint");
    let state = std::fs::read_dir(&path)
        .expect("checkpoint folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "snap"))
        .expect("a state file");
    let mut bytes = std::fs::read(&state).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&state, bytes).expect("damage");
    let report = job(&parts, 1, &sink, i64::MAX, settings(dir.path())).expect("resumed");
    let from = report.restored_from.expect("restored");
    assert!(from < newest, "resumed from {from}, the damaged one is {newest}");
}

/// Late rows through restarts with two-phase aggregation: a restored source task must not
/// pre-aggregate a row the restored keyed task finds late (its watermark starts at the
/// keyed tasks' restored one). One partition, so the late set is the same in every run.
#[test]
fn late_rows_after_a_restore_stay_late() {
    let mut parts = events(1, 6000, BOUND, 31);
    for (i, e) in parts[0].iter_mut().enumerate() {
        if i > 100 && i % 50 == 0 {
            e.1 -= 20_000;
        }
    }
    let late_job = |sink: &TxnSink, late: &TxnSink, polls: i64, c: Checkpointing| {
        let inner = VecSource::new(schema(), vec![to_batches(&parts[0], 20)]).expect("source");
        Pipeline::new("pv")
            .parallelism(2)
            .batch_size(20)
            .source(FailAfter::new(inner, polls, PACE))
            .event_time("ts", Duration::from_millis(BOUND as u64))
            .key_by(["url"])
            .window(WindowSpec::tumbling(WINDOW).expect("spec"))
            .aggregate([count().as_("views"), sum("bytes").as_("bytes"), max("bytes")])
            .sink(sink.reopen())
            .late_output(late.reopen())
            .checkpointing(c)
            .run()
    };
    let (reference, reference_late) = (TxnSink::new(), TxnSink::new());
    let clean = tempfile::tempdir().expect("tempdir");
    let report = late_job(&reference, &reference_late, i64::MAX, settings(clean.path())).expect("run");
    assert!(report.records_late > 50, "{report:?}");
    let dir = tempfile::tempdir().expect("tempdir");
    let (sink, late) = (TxnSink::new(), TxnSink::new());
    let mut failures = 0;
    for attempt in 0..100u64 {
        let polls = if attempt < 20 { 5 + (attempt * 7919 % 40) as i64 } else { i64::MAX };
        match late_job(&sink, &late, polls, settings(dir.path())) {
            Ok(_) => break,
            Err(e) => {
                assert!(e.to_string().contains("injected failure"), "{e}");
                failures += 1;
            }
        }
    }
    assert!(failures >= 5, "only {failures} failures");
    assert_eq!(rows(&sink.committed()), rows(&reference.committed()));
    let count = |s: &TxnSink| s.committed().iter().map(arrow_array::RecordBatch::num_rows).sum::<usize>();
    assert_eq!(count(&late), count(&reference_late));
}

/// A job without keys (source → filter → sink): the sink aligns the sources' barriers itself;
/// after failures every kept row is committed exactly once.
#[test]
fn a_stateless_job_restarts_exactly_once() {
    let parts = events(3, 1500, BOUND, 41);
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = TxnSink::new();
    let run = |polls: i64| {
        let inner =
            VecSource::new(schema(), parts.iter().map(|p| to_batches(p, 20)).collect()).expect("source");
        Pipeline::new("pv")
            .parallelism(2)
            .batch_size(20)
            .source(FailAfter::new(inner, polls, PACE))
            .filter(|b: &arrow_array::RecordBatch| {
                use arrow_array::cast::AsArray;
                let bytes = b.column(2).as_primitive::<arrow_array::types::Int64Type>();
                Ok(bytes.iter().map(|v| v.map(|v| v % 3 != 0)).collect())
            })
            .sink(sink.reopen())
            .checkpointing(settings(dir.path()))
            .run()
    };
    let mut failures = 0;
    for attempt in 0..100u64 {
        match run(if attempt < 15 { 5 + (attempt * 7919 % 30) as i64 } else { i64::MAX }) {
            Ok(_) => break,
            Err(e) => {
                assert!(e.to_string().contains("injected failure"), "{e}");
                failures += 1;
            }
        }
    }
    assert!(failures >= 5, "only {failures} failures");
    let mut got: Vec<(String, i64, i64)> = Vec::new();
    for b in sink.committed() {
        use arrow_array::cast::AsArray;
        use arrow_array::types::Int64Type;
        let (url, ts, bytes) = (
            b.column(0).as_string::<i32>(),
            b.column(1).as_primitive::<Int64Type>(),
            b.column(2).as_primitive::<Int64Type>(),
        );
        for r in 0..b.num_rows() {
            got.push((url.value(r).to_string(), ts.value(r), bytes.value(r)));
        }
    }
    got.sort();
    let mut want: Vec<(String, i64, i64)> =
        parts.iter().flatten().filter(|e| e.2 % 3 != 0).cloned().collect();
    want.sort();
    assert_eq!(got, want);
}
