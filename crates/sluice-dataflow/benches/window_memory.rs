//! Memory per open window key (issue 3, item 8c).
//!
//! ```sh
//! cargo bench -p sluice-dataflow --bench window_memory            # 100k and 1M keys
//! BENCH_KEYS=5000000 cargo bench -p sluice-dataflow --bench window_memory
//! ```
//!
//! Opens N distinct URL-like `String` keys of 20 bytes (`/products/p000000042`) in one 1-minute
//! tumbling window of a [`WindowAggregator`] counting per key — the window state of the
//! `Pipeline`'s window operator for a single string key column (`String` keys, ahash) — and
//! reports bytes per open key two ways: from the growth of the process's resident memory
//! (`VmRSS` in `/proc/self/status`, before the state is created and after every key is in it;
//! the keys are generated into a reused buffer, so the growth is the state's) and from
//! [`WindowState::approx_state_bytes`] with `String::capacity` as the key's heap bytes.
//!
//! The operator's accumulator is the row aggregates' `Vec<Slot>` (one heap allocation per key
//! and window), not `Count`'s `u64`, so its cost per key is higher than this bench's by about that
//! allocation; this bench measures the table, the keys and a `u64` count.
//! Each N runs in a fresh state; the state is dropped between sizes, and RSS is measured relative to
//! the moment just before each state is created (the allocator may keep freed pages; the
//! figure is then a lower bound for later sizes, so the sizes run in increasing order and each
//! is larger than anything freed before).

use std::hint::black_box;
use std::io::Write;
use std::time::Instant;

use sluice_dataflow::aggregate::Count;
use sluice_dataflow::time::Watermark;
use sluice_dataflow::window::{WindowAggregator, WindowSpec, WindowState};

/// Resident set size in bytes, from `/proc/self/status`.
fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn run(n: usize) {
    let spec = WindowSpec::tumbling(60_000).expect("a valid window");
    let mut key = Vec::with_capacity(32);
    let before = rss_bytes();
    let started = Instant::now();
    let mut state = WindowAggregator::<String, Count, ahash::RandomState>::new(&spec, Count);
    for i in 0..n {
        key.clear();
        write!(key, "/products/p{i:09}").expect("write to a Vec");
        let url = std::str::from_utf8(&key).expect("ASCII");
        // Timestamps inside the one window [0, 60 000).
        state.add_borrowed(url, (i % 60_000) as i64, ()).expect("nothing is late");
    }
    let elapsed = started.elapsed();
    let after = rss_bytes();
    let approx = state.approx_state_bytes(String::capacity);
    assert_eq!(state.open_windows(), 1);
    assert_eq!(state.state_entries(), n);
    let rss_growth = after.saturating_sub(before);
    println!(
        "keys {n:>9} (20-byte strings), 1 open window: RSS growth {:>8.1} MB = {:>6.1} B/key; \
         approx_state_bytes {:>8.1} MB = {:>6.1} B/key; insert {:.0} ns/key",
        rss_growth as f64 / 1e6,
        rss_growth as f64 / n as f64,
        approx as f64 / 1e6,
        approx as f64 / n as f64,
        elapsed.as_nanos() as f64 / n as f64,
    );
    // The window emits every key once.
    let mut out = Vec::new();
    state.advance(Watermark(60_000), &mut out);
    assert_eq!(black_box(out.len()), n);
}

fn main() {
    let sizes: Vec<usize> = match std::env::var("BENCH_KEYS") {
        Ok(v) => v.split(',').filter_map(|s| s.trim().parse().ok()).collect(),
        Err(_) => vec![100_000, 1_000_000],
    };
    println!("window_memory: String keys (ahash), Count, one tumbling window; RSS from /proc/self/status");
    for n in sizes {
        run(n);
    }
}
