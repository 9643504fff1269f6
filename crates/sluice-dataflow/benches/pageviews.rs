//! Page-view count throughput: per-URL 5-minute tumbling count over 10 M in-memory events,
//! through the `Pipeline` at parallelism 1 and 2, next to the simplest hand-written loop over
//! the same batches (the practical limit).
//!
//! `cargo bench -p sluice-dataflow --bench pageviews` (set `EVENTS=1000000` for a quick run).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use sluice_dataflow::memory::{CollectSink, VecSource};
use sluice_dataflow::ops::count;
use sluice_dataflow::window::WindowSpec;
use sluice_dataflow::Pipeline;

const WINDOW: i64 = 300_000;
const KEYS: usize = 1000;
const BATCH: usize = 4096;

/// Zipf-ish URLs over 1000 keys, ~0.7 ms apart, out of order by up to 3 s.
fn generate(n: usize) -> Vec<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("url", DataType::Utf8, false),
        Field::new("ts", DataType::Int64, false),
    ]));
    let urls: Vec<String> = (0..KEYS).map(|i| format!("/page/{i}")).collect();
    let mut cdf = Vec::with_capacity(KEYS);
    let mut total = 0.0;
    for i in 0..KEYS {
        total += 1.0 / (i as f64 + 1.0);
        cdf.push(total);
    }
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut batches = Vec::with_capacity(n / BATCH + 1);
    let mut i = 0;
    while i < n {
        let rows = BATCH.min(n - i);
        let mut u = Vec::with_capacity(rows);
        let mut t = Vec::with_capacity(rows);
        for j in 0..rows {
            let r = next();
            let p = (r >> 11) as f64 / (1u64 << 53) as f64 * total;
            let k = cdf.partition_point(|&c| c < p).min(KEYS - 1);
            u.push(urls[k].as_str());
            t.push(((i + j) as i64 * 7) / 10 + (r % 3_000) as i64);
        }
        batches.push(
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![Arc::new(StringArray::from(u)), Arc::new(Int64Array::from(t))],
            )
            .expect("batch"),
        );
        i += rows;
    }
    batches
}

/// The simplest hand-written loop: a hash map from (window start, url) to count.
fn hand_loop(batches: &[RecordBatch]) -> (usize, u64) {
    let mut counts: HashMap<(i64, &str), u64> = HashMap::new();
    for b in batches {
        let urls = b.column(0).as_string::<i32>();
        let ts = b.column(1).as_primitive::<Int64Type>().values();
        for (url, &ts) in urls.iter().zip(ts) {
            let start = ts - ts.rem_euclid(WINDOW);
            *counts.entry((start, url.unwrap_or(""))).or_insert(0) += 1;
        }
    }
    (counts.len(), counts.values().sum())
}

fn pipeline(batches: &[RecordBatch], parallelism: usize) -> (usize, u64) {
    // Two source partitions (alternate batches), as two log partitions would be.
    let mut parts = vec![Vec::new(), Vec::new()];
    for (i, b) in batches.iter().enumerate() {
        parts[i % 2].push(b.clone());
    }
    let source = VecSource::new(batches[0].schema(), parts).expect("source");
    let out = CollectSink::new();
    Pipeline::new("page_views")
        .parallelism(parallelism)
        .source(source)
        .event_time("ts", Duration::from_secs(5))
        .key_by(["url"])
        .window(WindowSpec::tumbling(WINDOW).expect("spec"))
        .aggregate([count().as_("views")])
        .sink(out.clone())
        .run()
        .expect("run");
    let total = out
        .batches()
        .iter()
        .map(|b| b.column(3).as_primitive::<Int64Type>().values().iter().sum::<i64>())
        .sum::<i64>();
    (out.rows(), total as u64)
}

fn time<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed().as_secs_f64())
}

fn main() {
    let n: usize = std::env::var("EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    let (batches, gen) = time(|| generate(n));
    println!("generated {n} events in {} batches in {gen:.2} s", batches.len());
    let rate = |secs: f64| n as f64 / secs / 1e6;
    let best = |f: &dyn Fn() -> (usize, u64)| {
        let mut best = (f(), f64::MAX);
        for _ in 0..3 {
            let (out, secs) = time(f);
            best = (out, best.1.min(secs));
        }
        best
    };
    let (loop_out, loop_s) = best(&|| hand_loop(&batches));
    println!("hand-written loop:      {:7.2} M events/s  ({} windows x keys)", rate(loop_s), loop_out.0);
    let (p1_out, p1_s) = best(&|| pipeline(&batches, 1));
    println!(
        "pipeline parallelism 1: {:7.2} M events/s  ({:.0}% of the loop)",
        rate(p1_s),
        100.0 * loop_s / p1_s
    );
    let (p2_out, p2_s) = best(&|| pipeline(&batches, 2));
    println!(
        "pipeline parallelism 2: {:7.2} M events/s  ({:.2}x parallelism 1, {:.0}% of the loop)",
        rate(p2_s),
        p1_s / p2_s,
        100.0 * loop_s / p2_s
    );
    assert_eq!(p1_out, loop_out, "parallelism 1 differs from the loop");
    assert_eq!(p2_out, loop_out, "parallelism 2 differs from the loop");
}
