//! The canonical job: page views per URL in 5-minute tumbling event-time windows, with the
//! Rust API, over a generated in-memory stream that arrives a few seconds out of order and
//! carries a few late events.
//!
//! `cargo run -p sluice-dataflow --example pageviews`
//!
//! It prints every (window, URL) count, then the late events with the reason, and checks that
//! window counts + late events = events read: nothing is dropped silently.

use std::sync::Arc;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMillisecondType};
use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use sluice_dataflow::memory::{CollectSink, VecSource};
use sluice_dataflow::ops::count;
use sluice_dataflow::window::WindowSpec;
use sluice_dataflow::Pipeline;

const MINUTE: i64 = 60_000;
/// 10:00 on the first day of the epoch, so the times print as minutes past midnight.
const START: i64 = 600 * MINUTE;
const URLS: [&str; 4] = ["/", "/pricing", "/docs", "/blog"];

/// 24,000 views over one hour from 10:00, one every 150 ms, each up to 3 s out of order. Every
/// 2,000th view is stamped 10 minutes in the past: its window closed long ago, so it is late.
///
/// One partition, so which events are late does not depend on thread timing: with several
/// partitions the window operator's watermark is the minimum over all of them, and a partition
/// that is behind would keep a window open a little longer.
fn page_views(schema: &SchemaRef) -> Result<Vec<Vec<RecordBatch>>, Box<dyn std::error::Error>> {
    let mut partitions = Vec::new();
    for p in 0..1_u64 {
        let mut batches = Vec::new();
        let mut x = 0x9e37_79b9_u64 + p;
        for chunk in 0..120_i64 {
            let (mut urls, mut times) = (Vec::new(), Vec::new());
            for i in 0..200_i64 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let n = chunk * 200 + i;
                // Skewed: "/" gets 4 views in 10, "/blog" 1 in 10.
                let url = URLS[(x % 10) as usize / 3];
                let jitter = (x >> 8) as i64 % 3_000;
                let late = if n % 2_000 == 1_999 { 10 * MINUTE } else { 0 };
                urls.push(url);
                times.push(START + n * 150 + jitter - late);
            }
            let columns =
                vec![Arc::new(StringArray::from(urls)) as _, Arc::new(Int64Array::from(times)) as _];
            batches.push(RecordBatch::try_new(Arc::clone(schema), columns)?);
        }
        partitions.push(batches);
    }
    Ok(partitions)
}

/// `ms` since midnight as `HH:MM`.
fn hh_mm(ms: i64) -> String {
    format!("{:02}:{:02}", ms / (60 * MINUTE), ms / MINUTE % 60)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("url", DataType::Utf8, false),
        Field::new("ts", DataType::Int64, false),
    ]));
    let source = VecSource::new(Arc::clone(&schema), page_views(&schema)?)?;
    let windows = CollectSink::new();
    let late = CollectSink::new();

    let report = Pipeline::new("page_views")
        .parallelism(2)
        .source(source)
        .event_time("ts", Duration::from_secs(5))
        .key_by(["url"])
        .window(WindowSpec::tumbling(5 * MINUTE)?)
        .aggregate([count().as_("views")])
        .sink(windows.clone())
        .late_output(late.clone())
        .run()?;

    // Output columns: window_start, window_end, url, views. Tasks emit in any order: sort.
    let mut rows = Vec::new();
    for b in windows.batches() {
        let (start, end) = (b.column(0).as_primitive::<TimestampMillisecondType>(), b.column(1));
        let end = end.as_primitive::<TimestampMillisecondType>();
        let (url, views) = (b.column(2).as_string::<i32>(), b.column(3).as_primitive::<Int64Type>());
        for r in 0..b.num_rows() {
            rows.push((start.value(r), end.value(r), url.value(r).to_string(), views.value(r)));
        }
    }
    rows.sort();
    println!("window         url        views");
    for (start, end, url, views) in &rows {
        println!("{}-{}    {url:<10} {views:>5}", hh_mm(*start), hh_mm(*end));
    }

    println!("\nlate events: {}", report.records_late);
    for b in late.batches() {
        let (url, ts, reason) =
            (b.column(0).as_string::<i32>(), b.column(1).as_primitive::<Int64Type>(), b.column(2));
        let reason = reason.as_string::<i32>();
        for r in 0..b.num_rows() {
            println!("  {} at {}: {}", url.value(r), hh_mm(ts.value(r)), reason.value(r));
        }
    }

    let counted: i64 = rows.iter().map(|r| r.3).sum();
    println!(
        "\nevents read: {}, counted in windows: {counted}, late: {}",
        report.records_in, report.records_late
    );
    assert_eq!(counted as u64 + report.records_late, report.records_in);
    Ok(())
}
