//! Log append and read throughput, each next to the raw speed of the same disk in the same run.
//!
//! Run: `cargo bench -p sluice-log --bench log` (env: `BENCH_RECORDS`, default 2,000,000;
//! `BENCH_DIR`, default the system temp dir; `BENCH_ROUNDS`, default 3).
//!
//! - *append*: records with 100-byte values and 16-byte keys, appended in batches of 1,000
//!   with `Durability::Interval(1 s)`, against writing the same number of bytes in the same
//!   chunk sizes to a plain file, fsyncing at the same interval. Both end with an fsync.
//! - *read*: the whole partition read back sequentially from the page cache on one thread,
//!   against reading the raw file in 1 MiB chunks.
//!
//! Rounds alternate between the two sides so that drift on a noisy machine hits both; the
//! table reports the median of the rounds and the ratio.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use sluice_log::{Durability, Log, LogOptions, TopicConfig};
use sluice_types::{PartitionId, Record, StoredRecord};

const BATCH: usize = 1000;
const VALUE: usize = 100;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn records(n: usize) -> Vec<Record> {
    let value = vec![b'x'; VALUE];
    (0..n)
        .map(|i| {
            Record::new(value.clone(), 1_700_000_000_000 + i as i64)
                .with_key(format!("user-{:011}", i % 100_000))
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Appends every record through the log; returns (seconds, bytes on disk).
fn log_append(dir: &Path, recs: &[Record]) -> (f64, u64) {
    let opts = LogOptions::default().durability(Durability::Interval(Duration::from_secs(1)));
    let log = Log::open(dir, opts).expect("open log");
    let seg = env_or("BENCH_SEGMENT_BYTES", 128 << 20) as u64;
    let topic = log.create_topic("bench", TopicConfig::new(1).segment_bytes(seg)).expect("create topic");
    let p = topic.partition(PartitionId(0)).expect("partition").clone();
    let t = Instant::now();
    for chunk in recs.chunks(BATCH) {
        p.append(chunk).expect("append");
    }
    p.flush().expect("flush");
    let secs = t.elapsed().as_secs_f64();
    (secs, p.stats().bytes)
}

/// Writes `total` bytes in `chunk`-sized writes to a plain file, fsyncing once a second.
fn raw_write(path: &Path, total: u64, chunk: usize) -> f64 {
    let buf = vec![b'x'; chunk];
    let mut f = File::create(path).expect("create raw file");
    let t = Instant::now();
    let mut last_sync = Instant::now();
    let mut written = 0u64;
    while written < total {
        let n = chunk.min((total - written) as usize);
        f.write_all(&buf[..n]).expect("write");
        written += n as u64;
        if last_sync.elapsed() >= Duration::from_secs(1) {
            f.sync_data().expect("fsync");
            last_sync = Instant::now();
        }
    }
    f.sync_data().expect("fsync");
    t.elapsed().as_secs_f64()
}

/// Reads the whole partition; returns (seconds, records read).
fn log_read(dir: &Path) -> (f64, usize) {
    let log = Log::open(dir, LogOptions::default()).expect("open log");
    let p = log.topic("bench").expect("topic").partition(PartitionId(0)).expect("partition").clone();
    let mut buf: Vec<StoredRecord> = Vec::with_capacity(16 << 10);
    let (mut from, mut n) = (0, 0);
    let t = Instant::now();
    loop {
        buf.clear();
        p.read_into(from, 1 << 20, &mut buf).expect("read");
        let Some(last) = buf.last() else { break };
        from = last.offset + 1;
        n += buf.len();
    }
    (t.elapsed().as_secs_f64(), n)
}

fn raw_read(path: &Path) -> (f64, u64) {
    let mut f = File::open(path).expect("open raw file");
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    let t = Instant::now();
    loop {
        let n = f.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    (t.elapsed().as_secs_f64(), total)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run tiny then.
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = if quick { 20_000 } else { env_or("BENCH_RECORDS", 2_000_000) };
    let rounds = if quick { 1 } else { env_or("BENCH_ROUNDS", 3) };
    let base = std::env::var_os("BENCH_DIR").map_or_else(std::env::temp_dir, Into::into);
    let recs = records(n);
    let (mut app, mut raw_w, mut rd, mut raw_r) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut bytes = 0;
    for _ in 0..rounds {
        let tmp = tempfile::tempdir_in(&base).expect("tempdir");
        let (secs, b) = log_append(&tmp.path().join("log"), &recs);
        bytes = b;
        app.push(secs);
        // Same bytes, same write sizes (one batch of 1,000 records per write).
        let chunk = (b as usize / n.div_ceil(BATCH)).max(1);
        let raw_path = tmp.path().join("raw");
        raw_w.push(raw_write(&raw_path, b, chunk));
        let (secs, got) = log_read(&tmp.path().join("log"));
        assert_eq!(got, n, "read back every record");
        rd.push(secs);
        raw_r.push(raw_read(&raw_path).0);
    }
    let mb = bytes as f64 / 1e6;
    let (app, raw_w, rd, raw_r) = (median(app), median(raw_w), median(rd), median(raw_r));
    println!("sluice-log bench: {n} records, {VALUE}-byte values, batches of {BATCH}, {mb:.0} MB on disk, {rounds} rounds (median)");
    println!("{:<34} {:>12} {:>14} {:>8}", "case", "MB/s", "records/s", "ratio");
    println!("{:<34} {:>12.0} {:>14} {:>8}", "raw file write, fsync every 1 s", mb / raw_w, "-", "1.00");
    println!(
        "{:<34} {:>12.0} {:>14.0} {:>8.2}",
        "log append, Interval(1 s)",
        mb / app,
        n as f64 / app,
        raw_w / app
    );
    println!("{:<34} {:>12.0} {:>14} {:>8}", "raw file read (page cache)", mb / raw_r, "-", "1.00");
    println!("{:<34} {:>12.0} {:>14.0} {:>8.2}", "log read, 1 thread", mb / rd, n as f64 / rd, raw_r / rd);
}
