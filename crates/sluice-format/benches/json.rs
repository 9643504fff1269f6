//! JSON-lines decode throughput next to `serde_json::Value` parsing of the same lines.
//!
//! Run: `cargo bench -p sluice-format --bench json` (env: `BENCH_RECORDS`, default 1,000,000;
//! `BENCH_BATCH`, records per `decode` call, default 8,192; `BENCH_ROUNDS`, default 3).
//!
//! Input: page views like
//! `{"ts":1767225600000,"user_id":123,"url":"/products/42","referrer":"https://google.com"}`,
//! generated once and held in memory, decoded with the issue-4 schema (`ts TIMESTAMP(3) NOT
//! NULL, user_id BIGINT, url STRING, referrer STRING`).
//!
//! - *serde_json Value*: `serde_json::from_slice::<serde_json::Value>` on each line: a
//!   schema-less parse that builds a tree and no columns. The baseline (ratio 1.00).
//! - *arrow-json Decoder alone*: Arrow's decoder fed each line of a batch, then flushed: what
//!   `JsonDecoder` builds on, without its framing checks, NOT NULL check and positions.
//! - *JsonDecoder*: `decode` on batches of `BENCH_BATCH` lines into Arrow record batches.
//! - *JsonDecoder, 1 bad line per batch*: the same with one malformed line in each batch, so
//!   every batch takes the isolation path.
//! - *JsonEncoder*: the decoded batches written back out as JSON lines.
//!
//! Rounds alternate between the cases; the table reports the median of the rounds.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use sluice_format::{JsonDecoder, JsonEncoder, Position};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
        Field::new("user_id", DataType::Int64, true),
        Field::new("url", DataType::Utf8, true),
        Field::new("referrer", DataType::Utf8, true),
    ]))
}

/// `n` page-view lines, without terminators.
fn lines(n: usize) -> Vec<Vec<u8>> {
    let referrers = ["https://google.com", "https://news.ycombinator.com/item?id=1", "", "https://t.co/x"];
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..n)
        .map(|i| {
            let ts = 1_767_225_600_000 + i as u64 * 3 - next() % 5_000;
            let user = next() % 1_000_000;
            let url = next() % 10_000;
            let referrer = referrers[(next() % 4) as usize];
            let line = if referrer.is_empty() {
                format!(r#"{{"ts":{ts},"user_id":{user},"url":"/products/{url}","referrer":null}}"#)
            } else {
                format!(r#"{{"ts":{ts},"user_id":{user},"url":"/products/{url}","referrer":"{referrer}"}}"#)
            };
            line.into_bytes()
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn serde_value(lines: &[Vec<u8>]) -> f64 {
    let t = Instant::now();
    for line in lines {
        let value: serde_json::Value = serde_json::from_slice(line).expect("valid JSON");
        black_box(value);
    }
    t.elapsed().as_secs_f64()
}

/// Decodes all lines in batches; returns (seconds, batches, rejected count).
fn decode(lines: &[Vec<u8>], batch: usize) -> (f64, Vec<RecordBatch>, usize) {
    let path: Arc<Path> = Path::new("page_views.jsonl").into();
    let mut decoder = JsonDecoder::new(schema()).expect("schema");
    let mut batches = Vec::with_capacity(lines.len() / batch + 1);
    let mut rejected = 0;
    let t = Instant::now();
    for (c, chunk) in lines.chunks(batch).enumerate() {
        let first = (c * batch) as u64 + 1;
        let records = chunk
            .iter()
            .enumerate()
            .map(|(i, l)| (Position::File { path: Arc::clone(&path), line: first + i as u64 }, l.as_slice()));
        let decoded = decoder.decode(records).expect("decode");
        rejected += decoded.rejected.len();
        batches.push(decoded.batch);
    }
    (t.elapsed().as_secs_f64(), batches, rejected)
}

/// Arrow's decoder alone on the same batches; returns seconds.
fn arrow_only(lines: &[Vec<u8>], batch: usize) -> f64 {
    let mut decoder = arrow_json::ReaderBuilder::new(schema())
        .with_batch_size(batch)
        .with_coerce_primitive(true)
        .build_decoder()
        .expect("schema");
    let t = Instant::now();
    for chunk in lines.chunks(batch) {
        for line in chunk {
            decoder.decode(line).expect("decode");
        }
        black_box(decoder.flush().expect("flush"));
    }
    t.elapsed().as_secs_f64()
}

fn encode(batches: &[RecordBatch]) -> (f64, usize) {
    let encoder = JsonEncoder::new();
    let mut out = Vec::new();
    let mut bytes = 0;
    let t = Instant::now();
    for batch in batches {
        out.clear();
        encoder.encode(batch, &mut out).expect("encode");
        bytes += out.len();
    }
    (t.elapsed().as_secs_f64(), bytes)
}

fn main() {
    let n = env_or("BENCH_RECORDS", 1_000_000);
    let batch = env_or("BENCH_BATCH", 8192).max(2);
    let rounds = env_or("BENCH_ROUNDS", 3).max(1);

    let good = lines(n);
    let mut bad = good.clone();
    for i in (batch / 2..n).step_by(batch) {
        bad[i] = br#"{"ts":1767225600000,"user_id":"not a number","url":"/x"}"#.to_vec();
    }
    let mb = good.iter().map(|l| l.len() + 1).sum::<usize>() as f64 / 1e6;

    let (mut serde, mut arrow, mut dec, mut dec_bad, mut enc) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut out_mb = 0.0;
    for _ in 0..rounds {
        serde.push(serde_value(&good));
        arrow.push(arrow_only(&good, batch));
        let (secs, batches, rejected) = decode(&good, batch);
        assert_eq!((rejected, batches.iter().map(RecordBatch::num_rows).sum::<usize>()), (0, n));
        dec.push(secs);
        let (secs, _, rejected) = decode(&bad, batch);
        assert_eq!(rejected, n.saturating_sub(batch / 2).div_ceil(batch));
        dec_bad.push(secs);
        let (secs, bytes) = encode(&batches);
        enc.push(secs);
        out_mb = bytes as f64 / 1e6;
    }
    let (serde, arrow, dec, dec_bad, enc) =
        (median(serde), median(arrow), median(dec), median(dec_bad), median(enc));

    println!("sluice-format JSON bench: {n} page-view lines, {mb:.0} MB, batches of {batch}, {rounds} rounds (median)");
    println!("{:<38} {:>10} {:>14} {:>8}", "case", "MB/s", "records/s", "x serde");
    let row = |name: &str, secs: f64, mb: f64| {
        println!("{name:<38} {:>10.0} {:>14.0} {:>8.2}", mb / secs, n as f64 / secs, serde / secs);
    };
    row("serde_json::Value per line", serde, mb);
    row("arrow-json Decoder alone", arrow, mb);
    row("JsonDecoder -> RecordBatch", dec, mb);
    row("JsonDecoder, 1 bad line per batch", dec_bad, mb);
    row("JsonEncoder (MB written)", enc, out_mb);
}
