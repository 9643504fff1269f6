//! Page-view count throughput: per-URL 5-minute tumbling count over 10 M in-memory events,
//! through the `Pipeline` at parallelism 1 and 2, next to the simplest hand-written loop over
//! the same batches (the practical limit).
//!
//! `cargo bench -p sluice-dataflow --bench pageviews` (set `EVENTS=1000000` for a quick run,
//! `PARALLELISM=1,2,4` for other parallelisms, `SINGLE_PHASE=0` to skip the single-phase runs at
//! parallelism > 1, e.g. under `perf`, `ROUNDS=9` for more turns of the pipeline cases).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use sluice_dataflow::exchange::Exchange;
use sluice_dataflow::memory::{CollectSink, VecSource};
use sluice_dataflow::ops::count;
use sluice_dataflow::window::WindowSpec;
use sluice_dataflow::{Pipeline, TwoPhase};

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

/// The simplest hand-written loop: a hash map from (window start, url) to count, with the
/// hasher `S` (std's SipHash, or ahash as the pipeline's window state uses).
fn hand_loop<S: BuildHasher + Default>(batches: &[RecordBatch]) -> (usize, u64) {
    let mut counts: HashMap<(i64, &str), u64, S> = HashMap::default();
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

/// The same loop on two threads, each over half the batches with its own map, merged at the
/// end: how much this machine's second core can add, with no exchange at all.
fn hand_loop_2<'a>(batches: &'a [RecordBatch]) -> (usize, u64) {
    let (left, right) = batches.split_at(batches.len() / 2);
    let count = |part: &'a [RecordBatch]| {
        let mut counts: HashMap<(i64, &'a str), u64> = HashMap::new();
        for b in part {
            let urls = b.column(0).as_string::<i32>();
            let ts = b.column(1).as_primitive::<Int64Type>().values();
            for (url, &ts) in urls.iter().zip(ts) {
                let start = ts - ts.rem_euclid(WINDOW);
                *counts.entry((start, url.unwrap_or(""))).or_insert(0) += 1;
            }
        }
        counts
    };
    let (mut a, b) = std::thread::scope(|s| {
        let other = s.spawn(|| count(right));
        (count(left), other.join().expect("thread"))
    });
    for (k, v) in b {
        *a.entry(k).or_insert(0) += v;
    }
    (a.len(), a.values().sum())
}

/// The keyed exchange alone: every batch hashed by URL and split over 2 targets, as each
/// source task does at parallelism 2. Returns the rows out, which must equal the rows in.
fn exchange_alone(batches: &[RecordBatch]) -> usize {
    let mut exchange = Exchange::new(&batches[0].schema(), &["url".to_string()], 2).expect("exchange");
    batches
        .iter()
        .map(|b| exchange.partition(b).expect("partition").iter().map(|(_, p)| p.num_rows()).sum::<usize>())
        .sum()
}

fn pipeline(batches: &[RecordBatch], parallelism: usize, two_phase: TwoPhase) -> (usize, u64) {
    // Two source partitions (alternate batches), as two log partitions would be.
    let mut parts = vec![Vec::new(), Vec::new()];
    for (i, b) in batches.iter().enumerate() {
        parts[i % 2].push(b.clone());
    }
    let source = VecSource::new(batches[0].schema(), parts).expect("source");
    let out = CollectSink::new();
    Pipeline::new("page_views")
        .parallelism(parallelism)
        .two_phase(two_phase)
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

/// CPU time of the whole process so far (user + system, every thread), from `/proc/self/stat`
/// in clock ticks of 10 ms; `None` off Linux.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    Some((ticks(11)? + ticks(12)?) / 100.0)
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
    let (loop_out, loop_s) = best(&|| hand_loop::<RandomState>(&batches));
    println!("hand-written loop:      {:7.2} M events/s  ({} windows x keys)", rate(loop_s), loop_out.0);
    let (ahash_out, ahash_s) = best(&|| hand_loop::<ahash::RandomState>(&batches));
    println!("hand-written loop, ahash (the pipeline's hasher): {:7.2} M events/s", rate(ahash_s));
    assert_eq!(ahash_out, loop_out, "the ahash loop differs from the loop");
    let (loop2_out, loop2_s) = best(&|| hand_loop_2(&batches));
    println!(
        "hand-written loop, 2 threads: {:7.2} M events/s  ({:.2}x the loop; no exchange)",
        rate(loop2_s),
        loop_s / loop2_s
    );
    assert_eq!(loop2_out, loop_out, "the 2-thread loop differs from the loop");
    let (rows, ex_s) = best(&|| (exchange_alone(&batches), 0));
    assert_eq!(rows.0, n);
    println!(
        "keyed exchange alone, 2 targets: {:7.2} M events/s ({:.1} ns/event)",
        rate(ex_s),
        ex_s / n as f64 * 1e9
    );
    let mut p1_s = None;
    let mut cases: Vec<(usize, TwoPhase)> = parallelisms().into_iter().map(|p| (p, TwoPhase::Auto)).collect();
    // Two-phase aggregation is on by default from parallelism 2: the single-phase line shows
    // what it saves.
    if std::env::var("SINGLE_PHASE").as_deref() != Ok("0") {
        let single =
            cases.iter().filter(|(p, _)| *p > 1).map(|&(p, _)| (p, TwoPhase::Never)).collect::<Vec<_>>();
        cases.extend(single);
    }
    // The cases run in turns, `ROUNDS` times, and each keeps its best time: load that comes and
    // goes on a shared machine then hits every case alike instead of whichever ran during it.
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5).max(1);
    let mut best_s = vec![f64::MAX; cases.len()];
    let mut cpu_s = vec![0.0; cases.len()];
    let mut wall_s = vec![0.0; cases.len()];
    for _ in 0..rounds {
        for (i, &(parallelism, two_phase)) in cases.iter().enumerate() {
            let cpu_before = cpu_seconds();
            let (out, secs) = time(|| pipeline(&batches, parallelism, two_phase));
            assert_eq!(out, loop_out, "parallelism {parallelism} differs from the loop");
            best_s[i] = best_s[i].min(secs);
            wall_s[i] += secs;
            cpu_s[i] += cpu_before.zip(cpu_seconds()).map_or(0.0, |(a, b)| b - a);
        }
    }
    for (i, &(parallelism, two_phase)) in cases.iter().enumerate() {
        let secs = best_s[i];
        let busy = format!(
            ", {:.2} cores busy, {:.1} ns CPU/event",
            cpu_s[i] / wall_s[i],
            cpu_s[i] / (rounds * n) as f64 * 1e9
        );
        let scaling = p1_s.map(|p1: f64| format!("{:.2}x parallelism 1, ", p1 / secs)).unwrap_or_default();
        let mode = match (parallelism, two_phase) {
            (1, _) => "",
            (_, TwoPhase::Never) => " single-phase",
            _ => " two-phase",
        };
        println!(
            "pipeline parallelism {parallelism}{mode}: {:7.2} M events/s  ({scaling}{:.0}% of the loop, {:.0}% of the ahash loop{busy})",
            rate(secs),
            100.0 * loop_s / secs,
            100.0 * ahash_s / secs
        );
        if parallelism == 1 && two_phase == TwoPhase::Auto {
            p1_s = Some(secs);
        }
    }
}

/// The parallelisms to run: `PARALLELISM=1,2,4` (default 1,2).
fn parallelisms() -> Vec<usize> {
    std::env::var("PARALLELISM")
        .ok()
        .map(|v| v.split(',').filter_map(|p| p.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2])
}
