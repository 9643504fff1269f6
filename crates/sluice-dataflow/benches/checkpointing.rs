//! Checkpoint cost (issue 5): throughput with and without checkpoints at a 10 s interval while
//! the job holds N keys of window state, how long each checkpoint takes, and how long a
//! restarted job takes to restore that state and read its first row.
//!
//! ```sh
//! cargo bench -p sluice-dataflow --bench checkpointing                  # 1M keys
//! KEYS=10000000 cargo bench -p sluice-dataflow --bench checkpointing
//! ```
//! Knobs: `SECONDS` (run length per case, default 25), `INTERVAL_MS` (default 10000),
//! `PARALLELISM` (default 1), `ROUNDS` (default 2).
//!
//! The job counts events per key in one 1-hour tumbling window (so every key stays in state):
//! a generated source cycles over N distinct 20-byte keys (`/products/p000000042`), event times
//! rising by 1 ms per 1000 events. Rounds alternate a run without checkpoints and one with
//! them, in the same process for the same time; the throughput is the rows read in that time.
//! Checkpoints go to a temporary directory (page cache; the local store does not fsync). A
//! checkpoint's duration runs from its trigger to its manifest; the task's pause is the time
//! the keyed task spent writing its state at the barrier (`last_snapshot_pause_us`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use sluice_checkpoint::CheckpointStore;
use sluice_dataflow::checkpoint::{Checkpointing, Restore};
use sluice_dataflow::memory::TxnSink;
use sluice_dataflow::ops::count;
use sluice_dataflow::source::{Poll, Source, SourceReader};
use sluice_dataflow::window::WindowSpec;
use sluice_dataflow::{Job, Pipeline, Result};

const BATCH: usize = 4096;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// An endless, replayable source of `(url, ts)` rows over `keys` distinct keys.
#[derive(Clone)]
struct Generated {
    schema: SchemaRef,
    keys: Arc<StringArray>,
    start: u64,
}

struct Reader {
    schema: SchemaRef,
    keys: Arc<StringArray>,
    row: u64,
}

impl Source for Generated {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn partitions(&self) -> usize {
        1
    }

    fn split(self: Box<Self>, _n: usize) -> Result<Vec<Box<dyn SourceReader>>> {
        Ok(vec![Box::new(Reader { schema: self.schema, keys: self.keys, row: self.start })])
    }

    fn replayable(&self) -> bool {
        true
    }

    fn restore(&mut self, positions: &BTreeMap<usize, Vec<u8>>) -> Result<()> {
        if let Some(bytes) = positions.get(&0) {
            let row: [u8; 8] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| sluice_dataflow::DataflowError::InvalidPipeline("bad position".into()))?;
            self.start = u64::from_le_bytes(row);
        }
        Ok(())
    }
}

impl SourceReader for Reader {
    fn partitions(&self) -> Vec<usize> {
        vec![0]
    }

    fn poll(&mut self, max_rows: usize, _timeout: Duration) -> Result<Poll> {
        let n = self.keys.len() as u64;
        let rows = max_rows.min(BATCH);
        let offset = (self.row % n) as usize;
        let take = rows.min(self.keys.len() - offset);
        let urls: ArrayRef = Arc::new(self.keys.slice(offset, take));
        let ts: ArrayRef =
            Arc::new(Int64Array::from_iter_values((0..take as u64).map(|i| ((self.row + i) / 1000) as i64)));
        self.row += take as u64;
        Ok(Poll::Batch {
            partition: 0,
            batch: RecordBatch::try_new(Arc::clone(&self.schema), vec![urls, ts])?,
        })
    }

    fn positions(&self) -> Option<Vec<(usize, Vec<u8>)>> {
        Some(vec![(0, self.row.to_le_bytes().to_vec())])
    }
}

fn job(source: Generated, parallelism: usize, checkpoints: Option<Checkpointing>) -> Result<Job> {
    let mut p = Pipeline::new("ckpt_bench")
        .parallelism(parallelism)
        .source(source)
        .event_time("ts", Duration::from_secs(1))
        .key_by(["url"])
        .window(WindowSpec::tumbling(3_600_000)?)
        .aggregate([count().as_("views")])
        .sink(TxnSink::new());
    if let Some(c) = checkpoints {
        p = p.checkpointing(c);
    }
    p.spawn()
}

/// Runs for `secs`, returns (rows read, job) without stopping it.
fn run_for(job: &Job, secs: u64) -> u64 {
    std::thread::sleep(Duration::from_secs(secs));
    job.handle().metrics().snapshot().records_in
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let keys = env("KEYS", 1_000_000) as usize;
    let secs = env("SECONDS", 25);
    let interval = Duration::from_millis(env("INTERVAL_MS", 10_000));
    let parallelism = env("PARALLELISM", 1) as usize;
    let schema = Arc::new(Schema::new(vec![
        Field::new("url", DataType::Utf8, false),
        Field::new("ts", DataType::Int64, false),
    ]));
    let names = StringArray::from_iter_values((0..keys).map(|i| format!("/products/p{i:09}")));
    let source = Generated { schema, keys: Arc::new(names), start: 0 };
    println!("{keys} keys, {secs} s per case, interval {interval:?}, parallelism {parallelism}");

    // Alternating rounds without and with checkpoints: the machine's noise hits both.
    let dir = tempfile::tempdir()?;
    let store = CheckpointStore::open(dir.path().to_str().ok_or("path")?, "ckpt_bench")?;
    let settings = Checkpointing::new(store).interval(interval).retain(2);
    let rounds = env("ROUNDS", 2);
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let plain = job(source.clone(), parallelism, None)?;
        let rows_plain = run_for(&plain, secs);
        plain.handle().stop();
        drop(plain.join()?);
        let plain_rate = rows_plain as f64 / secs as f64;

        let with = job(source.clone(), parallelism, Some(settings.clone().restore(Restore::Fresh)))?;
        let rows_with = run_for(&with, secs);
        let m = with.handle().metrics().snapshot();
        let with_rate = rows_with as f64 / secs as f64;
        ratios.push(with_rate / plain_rate);
        println!(
            "round {round}: no checkpoints {:>6.2} M rows/s, with checkpoints {:>6.2} M rows/s = {:.3}; \
             {} checkpoints, last took {} ms (task paused {:.0} ms), {:.1} MB",
            plain_rate / 1e6,
            with_rate / 1e6,
            with_rate / plain_rate,
            m.checkpoints,
            m.last_checkpoint_ms,
            m.last_snapshot_pause_us as f64 / 1e3,
            m.last_checkpoint_bytes as f64 / 1e6
        );
        // Stop with a checkpoint, as a crash would leave it (the job is not drained).
        let stopped = with.handle().savepoint(&format!("round-{round}"), true).recv()??;
        drop(with.join()?);
        println!("  stopped at {stopped}");
    }
    ratios.sort_by(f64::total_cmp);
    println!("median ratio with/without checkpoints: {:.3}", ratios[ratios.len() / 2]);
    // Recovery: restore the state and read the first row.
    let started = Instant::now();
    let resumed = job(source, parallelism, Some(settings.restore(Restore::Latest)))?;
    let restored = started.elapsed();
    while resumed.handle().metrics().snapshot().records_in == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let first_row = started.elapsed();
    println!(
        "recovery: state restored in {:.0} ms, first row read after {:.0} ms",
        restored.as_secs_f64() * 1e3,
        first_row.as_secs_f64() * 1e3
    );
    resumed.handle().stop();
    drop(resumed.join()?);
    Ok(())
}
