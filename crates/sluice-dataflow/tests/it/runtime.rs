//! Runtime behaviour: backpressure, watermark idleness and the multi-partition minimum.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use sluice_dataflow::clock::FakeClock;
use sluice_dataflow::memory::{ChannelSource, CollectSink, VecSource};
use sluice_dataflow::ops::{count, max, sum};
use sluice_dataflow::sink::Sink;
use sluice_dataflow::time::Watermark;
use sluice_dataflow::window::WindowSpec;
use sluice_dataflow::Pipeline;

use crate::pipeline::{events, reference, schema, table, to_batches, WINDOW};

/// Blocks every write until opened.
#[derive(Clone, Default)]
struct GateSink {
    open: Arc<(Mutex<bool>, Condvar)>,
    rows: Arc<Mutex<usize>>,
}

impl GateSink {
    fn open(&self) {
        *self.open.0.lock().expect("lock") = true;
        self.open.1.notify_all();
    }
}

impl Sink for GateSink {
    fn write(&mut self, batch: &RecordBatch) -> sluice_dataflow::Result<()> {
        let mut open = self.open.0.lock().expect("lock");
        while !*open {
            open = self.open.1.wait(open).expect("wait");
        }
        *self.rows.lock().expect("lock") += batch.num_rows();
        Ok(())
    }
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_slow_sink_blocks_the_source() {
    let parts = events(1, 100_000, 0, 1);
    let source = VecSource::new(schema(), vec![to_batches(&parts[0], 100)]).expect("source");
    let sink = GateSink::default();
    let job = Pipeline::new("backpressure")
        .parallelism(1)
        .batch_size(100)
        .channel_capacity(2)
        .source(source)
        .sink(sink.clone())
        .spawn()
        .expect("spawn");
    let metrics = Arc::clone(job.handle().metrics());
    std::thread::sleep(Duration::from_millis(300));
    // One batch in the sink's write, two in the channel, one blocked in the source's send.
    let read = metrics.snapshot().records_in;
    assert!(read <= 400, "source read {read} rows past a blocked sink");
    sink.open();
    let report = job.join().expect("join");
    assert_eq!(report.records_in, 100_000);
    assert_eq!(*sink.rows.lock().expect("lock"), 100_000);
}

fn batch(rows: &[(&str, i64)]) -> RecordBatch {
    let events: Vec<(String, i64, i64)> = rows.iter().map(|(u, ts)| ((*u).to_string(), *ts, 1)).collect();
    to_batches(&events, rows.len()).remove(0)
}

#[test]
fn idle_partition_stops_holding_the_watermark_back() {
    let (source, feed) = ChannelSource::new(schema(), 2);
    let clock = FakeClock::new(0);
    let out = CollectSink::new();
    let job = Pipeline::new("idleness")
        .parallelism(2)
        .linger(Duration::from_millis(1))
        .idle_timeout(Duration::from_secs(1))
        .clock(clock.clone())
        .source(source)
        .event_time("ts", Duration::ZERO)
        .key_by(["url"])
        .window(WindowSpec::tumbling(10_000).expect("spec"))
        .aggregate([count()])
        .sink(out.clone())
        .spawn()
        .expect("spawn");
    let metrics = Arc::clone(job.handle().metrics());

    // Partition 1 has sent nothing: the minimum is held at -inf.
    feed.send(0, batch(&[("/a", 1_000), ("/b", 15_000), ("/a", 50_000)]));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(metrics.watermark(), Watermark::MIN);
    assert_eq!(out.rows(), 0);

    // Partition 1 reaches 20 000: the watermark is the minimum of the two.
    feed.send(1, batch(&[("/c", 20_000)]));
    wait_until("watermark 20000", || metrics.watermark() == Watermark(20_000));
    wait_until("two windows", || out.rows() == 2); // [0,10k) /a and [10k,20k) /b

    // Partition 1 goes silent; after the idle timeout partition 0 alone counts.
    clock.advance(2_000);
    feed.send(0, batch(&[("/a", 60_000)]));
    wait_until("watermark 60000", || metrics.watermark() == Watermark(60_000));
    wait_until("four windows", || out.rows() == 4); // + [20k,30k) /c, [50k,60k) /a

    // Partition 1 comes back with data: it holds the minimum again (but never moves it back).
    feed.send(1, batch(&[("/c", 65_000)]));
    feed.send(0, batch(&[("/a", 90_000)]));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(metrics.watermark(), Watermark(65_000));

    feed.end(0);
    feed.end(1);
    let report = job.join().expect("join");
    assert_eq!(report.records_in, 7);
    assert_eq!(report.windows_emitted, 7); // + [60k,70k) /a and /c, [90k,100k) /a
    assert_eq!(metrics.watermark(), Watermark::MAX);
}

#[test]
fn stop_ends_an_unbounded_job_and_flushes_windows() {
    let (source, feed) = ChannelSource::new(schema(), 1);
    let out = CollectSink::new();
    let job = Pipeline::new("stoppable")
        .parallelism(2)
        .linger(Duration::from_millis(1))
        .source(source)
        .event_time("ts", Duration::from_secs(60))
        .key_by(["url"])
        .window(WindowSpec::tumbling(10_000).expect("spec"))
        .aggregate([count()])
        .sink(out.clone())
        .spawn()
        .expect("spawn");
    feed.send(0, batch(&[("/a", 1_000), ("/b", 2_000)]));
    wait_until("rows read", || job.handle().metrics().snapshot().records_in == 2);
    job.handle().stop();
    let report = job.join().expect("join");
    assert_eq!(report.windows_emitted, 2);
    assert!(out.is_finished());
}

#[test]
fn fused_tasks_do_not_deadlock_on_full_channels() {
    // Each source task runs its own window stage and sends the other keys to its peers. With
    // one-batch channels and tiny batches every peer channel is full most of the time: a task
    // blocked on a full peer must keep serving its own inbox, or two tasks wait on each other.
    let parts = events(4, 20_000, 1_000, 3);
    let all: Vec<_> = parts.iter().flatten().cloned().collect();
    let (expected, _) = reference(&[all], 60_000);
    for parallelism in [2, 3, 4] {
        let source =
            VecSource::new(schema(), parts.iter().map(|p| to_batches(p, 16)).collect()).expect("source");
        let out = CollectSink::new();
        let report = Pipeline::new("full_channels")
            .parallelism(parallelism)
            .batch_size(16)
            .channel_capacity(1)
            .source(source)
            .event_time("ts", Duration::from_secs(60))
            .key_by(["url"])
            .window(WindowSpec::tumbling(WINDOW).expect("spec"))
            .aggregate([count().as_("views"), sum("bytes").as_("bytes"), max("bytes")])
            .sink(out.clone())
            .run()
            .expect("run");
        assert_eq!(report.records_in, 80_000);
        assert_eq!(report.records_late, 0);
        assert_eq!(table(&out.batches()), expected, "parallelism {parallelism}");
    }
}
