//! Page-view count throughput from real inputs (issue 3, benchmark 8a): the per-URL 5-minute
//! tumbling count (event time from `ts`, 5 s out-of-orderness) over 10 M pre-generated events
//! read from a JSON-lines file and from a 4-partition embedded-log topic, at parallelism 1 and
//! 2, next to the simplest hand-written loops over the same inputs in the same run.
//!
//! ```sh
//! cargo build --release -p sluice                      # the generator: `sluice gen page-views`
//! cargo bench -p sluice-connect --bench pageviews_io   # BENCH_EVENTS=1000000 for a quick run
//! ```
//!
//! Inputs are generated once into `target/bench-data/` (`BENCH_DATA` to change) by
//! `sluice gen page-views --count N --seed 1` (`SLUICE_BIN` to name the binary) and reused:
//! - `page-views-N.jsonl`: the file (about 95 bytes a line);
//! - `page-views-N-split2/`: the same lines dealt round-robin into two files, so that the file
//!   source has two partitions (a single file is one partition: one reading thread);
//! - `log-N/`: topic `page_views`, 4 partitions, keyed by URL, record timestamp = `ts`.
//!
//! Cases run in turns for `BENCH_ROUNDS` rounds (default 3); the table shows the median.
//! `BENCH_CASES=file-p1,log-p2` runs only some. Peak RSS per case is measured by resetting the
//! process's high-water mark (`/proc/self/clear_refs`) before it and reading `VmHWM` after.
//!
//! Checks: the reference is the hand-written file loop, which applies the event-time contract
//! record by record (watermark = max `ts` read so far − 5 s; an event whose window end ≤ the
//! watermark is late). Every variant must have (sum of window counts) + late = events, and
//! its counts may differ from the reference's only by events that one of the two called late.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use serde::Deserialize;
use sluice_connect::{DeadLetters, FileFormat, FileSource, LogSource};
use sluice_dataflow::memory::CollectSink;
use sluice_dataflow::ops::count;
use sluice_dataflow::source::Source;
use sluice_dataflow::window::WindowSpec;
use sluice_dataflow::Pipeline;
use sluice_log::{Log, LogOptions, TopicConfig};
use sluice_types::{Record, StoredRecord};

const WINDOW_MS: i64 = 300_000;
const BOUND_MS: i64 = 5_000;
const SEED: u64 = 1;
const TOPIC: &str = "page_views";
const LOG_PARTITIONS: u32 = 4;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// (window start, URL) → count.
type Counts = HashMap<(i64, String), u64>;

/// The two fields the job reads (the others are skipped by serde).
#[derive(Deserialize)]
struct View<'a> {
    ts: i64,
    url: &'a str,
}

/// A named case: runs once and returns what it produced.
type Case<'a> = (&'static str, Box<dyn Fn() -> Result<Outcome> + 'a>);

/// What a case produced.
struct Outcome {
    counts: Counts,
    late: u64,
}

fn main() -> Result<()> {
    let events: u64 = env_or("BENCH_EVENTS", 10_000_000);
    let rounds: usize = env_or("BENCH_ROUNDS", 3);
    let only: Option<Vec<String>> =
        std::env::var("BENCH_CASES").ok().map(|v| v.split(',').map(str::to_owned).collect());

    let data = data_dir()?;
    std::fs::create_dir_all(&data)?;
    let file = ensure_file(&data, events)?;
    let split = ensure_split(&data, &file, events)?;
    let log = ensure_log(&data, &file, events)?;
    let bytes = std::fs::metadata(&file)?.len();
    println!(
        "input: {events} events, {:.0} MB JSON lines at {}; log topic {TOPIC} ({LOG_PARTITIONS} partitions) at {}",
        bytes as f64 / 1e6,
        file.display(),
        log.dir().display()
    );

    let cases: Vec<Case<'_>> = vec![
        ("loop-file", Box::new(|| hand_loop_file(&file))),
        ("loop-log", Box::new(|| hand_loop_log(&log))),
        ("file-p1", Box::new(|| pipeline(file_source(&file)?, 1))),
        ("file-p2", Box::new(|| pipeline(file_source(&file)?, 2))),
        ("file2-p1", Box::new(|| pipeline(file_source(&split)?, 1))),
        ("file2-p2", Box::new(|| pipeline(file_source(&split)?, 2))),
        ("log-p1", Box::new(|| pipeline(log_source(&log)?, 1))),
        ("log-p2", Box::new(|| pipeline(log_source(&log)?, 2))),
    ];
    let cases: Vec<_> = cases
        .into_iter()
        .filter(|(name, _)| *name == "loop-file" || only.as_ref().is_none_or(|o| o.iter().any(|c| c == name)))
        .collect();

    // Warm the page cache and take the reference.
    let reference = hand_loop_file(&file)?;
    let ref_total: u64 = reference.counts.values().sum();
    assert_eq!(ref_total + reference.late, events, "reference: counts + late != events");
    println!(
        "reference (file loop): {} (window, url) rows, {} late events",
        reference.counts.len(),
        reference.late
    );

    let mut secs: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    let mut rss: Vec<u64> = vec![0; cases.len()];
    for round in 0..rounds {
        for (i, (name, run)) in cases.iter().enumerate() {
            reset_peak_rss();
            let start = Instant::now();
            let out = run()?;
            let s = start.elapsed().as_secs_f64();
            rss[i] = rss[i].max(peak_rss_kb());
            check(name, &out, &reference, events);
            let late = if out.late == u64::MAX { String::from("–") } else { out.late.to_string() };
            println!(
                "round {round} {name:>9}: {s:6.2} s {:6.2} M events/s  late {late:>5}",
                events as f64 / s / 1e6
            );
            secs[i].push(s);
        }
    }

    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let m: HashMap<&str, f64> = cases.iter().zip(&secs).map(|((n, _), s)| (*n, median(s))).collect();
    println!("\nmedian of {rounds} round(s), {events} events:");
    println!("| case | M events/s | vs loop (same input) | vs parallelism 1 | peak RSS MB |");
    println!("|---|---|---|---|---|");
    for ((name, _), r) in cases.iter().zip(&rss) {
        let s = m[name];
        let input = if name.starts_with("log") || *name == "loop-log" { "loop-log" } else { "loop-file" };
        let vs_loop = m.get(input).map_or(String::from("–"), |l| format!("{:.2}", l / s));
        let vs_p1 = name
            .strip_suffix("-p2")
            .and_then(|base| m.get(format!("{base}-p1").as_str()))
            .map_or(String::from("–"), |p1| format!("{:.2}×", p1 / s));
        println!(
            "| {name} | {:.2} | {vs_loop} | {vs_p1} | {:.0} |",
            events as f64 / s / 1e6,
            *r as f64 / 1024.0
        );
    }
    Ok(())
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `target/bench-data`, found from this binary's place (`target/release/deps/…`).
fn data_dir() -> Result<PathBuf> {
    if let Ok(dir) = std::env::var("BENCH_DATA") {
        return Ok(PathBuf::from(dir));
    }
    let exe = std::env::current_exe()?;
    let target = exe.ancestors().nth(3).ok_or("cannot place target/ from the bench binary")?;
    Ok(target.join("bench-data"))
}

/// Counts the lines of `path` (a cheap validity check of a cached file).
fn line_count(path: &Path) -> Result<u64> {
    let mut n = 0;
    let mut r = BufReader::with_capacity(1 << 20, File::open(path)?);
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(n);
        }
        n += buf.iter().filter(|&&b| b == b'\n').count() as u64;
        let len = buf.len();
        r.consume(len);
    }
}

/// The JSON-lines file, from `sluice gen page-views` (generated once).
fn ensure_file(data: &Path, events: u64) -> Result<PathBuf> {
    let path = data.join(format!("page-views-{events}.jsonl"));
    if path.exists() && line_count(&path)? == events {
        return Ok(path);
    }
    let bin = match std::env::var("SLUICE_BIN") {
        Ok(b) => PathBuf::from(b),
        Err(_) => data.parent().ok_or("no target dir")?.join("release").join("sluice"),
    };
    if !bin.exists() {
        return Err(format!(
            "the generator {} is missing: run `cargo build --release -p sluice` (or set SLUICE_BIN)",
            bin.display()
        )
        .into());
    }
    println!(
        "generating {} with {} gen page-views --count {events} --seed {SEED}",
        path.display(),
        bin.display()
    );
    let tmp = path.with_extension("tmp");
    let status = Command::new(&bin)
        .args(["gen", "page-views", "--count", &events.to_string(), "--seed", &SEED.to_string()])
        .stdout(File::create(&tmp)?)
        .status()?;
    if !status.success() {
        return Err(format!("{} gen page-views failed: {status}", bin.display()).into());
    }
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// The same lines dealt round-robin into two files (a directory: two source partitions).
fn ensure_split(data: &Path, file: &Path, events: u64) -> Result<PathBuf> {
    let dir = data.join(format!("page-views-{events}-split2"));
    let parts = [dir.join("part-0.jsonl"), dir.join("part-1.jsonl")];
    if parts.iter().all(|p| p.exists()) && parts.iter().map(|p| line_count(p)).sum::<Result<u64>>()? == events
    {
        return Ok(dir);
    }
    println!("splitting into {}", dir.display());
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let mut outs = Vec::new();
    for p in &parts {
        outs.push(BufWriter::with_capacity(1 << 20, File::create(p)?));
    }
    let mut r = BufReader::with_capacity(1 << 20, File::open(file)?);
    let mut line = Vec::new();
    let mut i = 0usize;
    while r.read_until(b'\n', &mut line)? > 0 {
        outs[i % 2].write_all(&line)?;
        line.clear();
        i += 1;
    }
    for mut o in outs {
        o.flush()?;
    }
    Ok(dir)
}

/// The log topic with the file's events, keyed by URL, timestamp = `ts` (appended once).
fn ensure_log(data: &Path, file: &Path, events: u64) -> Result<Log> {
    let dir = data.join(format!("log-{events}"));
    if dir.exists() {
        let log = Log::open(&dir, LogOptions::default())?;
        if let Ok(t) = log.topic(TOPIC) {
            if t.end_offsets().iter().sum::<u64>() == events {
                return Ok(log);
            }
        }
        drop(log);
        std::fs::remove_dir_all(&dir)?;
    }
    println!("appending to {} ({LOG_PARTITIONS} partitions)", dir.display());
    let start = Instant::now();
    let log = Log::open(&dir, LogOptions::default())?;
    let topic = log.create_topic(TOPIC, TopicConfig::new(LOG_PARTITIONS))?;
    let mut r = BufReader::with_capacity(1 << 20, File::open(file)?);
    let mut line = Vec::new();
    let mut batch = Vec::with_capacity(1000);
    while r.read_until(b'\n', &mut line)? > 0 {
        let value = line.strip_suffix(b"\n").unwrap_or(&line);
        let v: View<'_> = serde_json::from_slice(value)?;
        batch.push(Record::new(value.to_vec(), v.ts).with_key(v.url.as_bytes().to_vec()));
        if batch.len() == 1000 {
            topic.append(std::mem::take(&mut batch))?;
        }
        line.clear();
    }
    if !batch.is_empty() {
        topic.append(batch)?;
    }
    log.flush()?;
    println!("  appended in {:.1} s", start.elapsed().as_secs_f64());
    Ok(log)
}

/// The simplest loop over the file: read a line, parse it with serde, count per (window, URL),
/// with the event-time contract applied record by record (the reference).
fn hand_loop_file(path: &Path) -> Result<Outcome> {
    let mut r = BufReader::with_capacity(1 << 16, File::open(path)?);
    let mut line = Vec::with_capacity(256);
    let mut counts: UrlCounts = HashMap::new();
    let mut max_ts = i64::MIN;
    let mut late = 0;
    while r.read_until(b'\n', &mut line)? > 0 {
        let v: View<'_> = serde_json::from_slice(&line)?;
        let start = v.ts - v.ts.rem_euclid(WINDOW_MS);
        // The watermark before this event is read.
        if start + WINDOW_MS <= max_ts.saturating_sub(BOUND_MS) {
            late += 1;
        } else {
            bump(&mut counts, start, v.url);
        }
        max_ts = max_ts.max(v.ts);
        line.clear();
    }
    Ok(Outcome { counts: flatten(counts), late })
}

/// The simplest loop over the log: read each partition in turn, parse, count (every event:
/// with partitions read one after another there is no meaningful shared watermark, so this
/// loop counts late events too; `check` compares it with the reference's counts + late).
fn hand_loop_log(log: &Log) -> Result<Outcome> {
    let topic = log.topic(TOPIC)?;
    let mut counts: UrlCounts = HashMap::new();
    let mut buf: Vec<StoredRecord> = Vec::new();
    for (p, end) in topic.partitions().iter().zip(topic.end_offsets()) {
        let mut next = 0;
        while next < end {
            buf.clear();
            p.read_into(next, 4 << 20, &mut buf)?;
            for rec in &buf {
                let v: View<'_> = serde_json::from_slice(&rec.record.value)?;
                bump(&mut counts, v.ts - v.ts.rem_euclid(WINDOW_MS), v.url);
            }
            next = buf.last().map_or(end, |r| r.offset + 1);
        }
    }
    Ok(Outcome { counts: flatten(counts), late: u64::MAX })
}

/// Per URL, per window start: probed with the borrowed `&str`, so no allocation per event.
type UrlCounts = HashMap<String, HashMap<i64, u64>>;

fn bump(counts: &mut UrlCounts, start: i64, url: &str) {
    match counts.get_mut(url) {
        Some(windows) => *windows.entry(start).or_insert(0) += 1,
        None => {
            counts.insert(url.to_owned(), HashMap::from([(start, 1)]));
        }
    }
}

fn flatten(counts: UrlCounts) -> Counts {
    counts
        .into_iter()
        .flat_map(|(url, windows)| windows.into_iter().map(move |(start, c)| ((start, url.clone()), c)))
        .collect()
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("ts", DataType::Int64, false),
        Field::new("url", DataType::Utf8, false),
    ]))
}

fn file_source(path: &Path) -> Result<FileSource> {
    Ok(FileSource::new(path, FileFormat::JsonLines, schema())?
        .strict(true)
        .dead_letters(DeadLetters::memory()))
}

fn log_source(log: &Log) -> Result<LogSource> {
    Ok(LogSource::new(log, TOPIC, schema())?.strict(true).dead_letters(DeadLetters::memory()))
}

/// The page-view job through the `Pipeline`, collecting the window rows in memory.
fn pipeline(source: impl Source + 'static, parallelism: usize) -> Result<Outcome> {
    let out = CollectSink::new();
    let report = Pipeline::new("page_view_counts")
        .parallelism(parallelism)
        .source(source)
        .event_time("ts", Duration::from_millis(BOUND_MS as u64))
        .key_by(["url"])
        .window(WindowSpec::tumbling(WINDOW_MS)?)
        .aggregate([count().as_("views")])
        .sink(out.clone())
        .run()?;
    let mut counts: Counts = HashMap::new();
    for b in out.batches() {
        collect(&b, &mut counts)?;
    }
    assert_eq!(report.windows_emitted as usize, counts.len(), "windows_emitted vs rows");
    Ok(Outcome { counts, late: report.records_late })
}

/// Adds a result batch (`window_start`, `window_end`, `url`, `views`) to `counts`.
fn collect(b: &RecordBatch, counts: &mut Counts) -> Result<()> {
    let col = |name: &str| b.column_by_name(name).ok_or_else(|| format!("no column {name}"));
    let start = col("window_start")?;
    let starts: Vec<i64> = if let Some(a) = start.as_any().downcast_ref::<Int64Array>() {
        a.values().to_vec()
    } else if let Some(a) = start.as_any().downcast_ref::<TimestampMillisecondArray>() {
        a.values().to_vec()
    } else {
        return Err(format!("window_start is {}", start.data_type()).into());
    };
    let urls = col("url")?.as_any().downcast_ref::<StringArray>().ok_or("url is not Utf8")?;
    let views = col("views")?.as_any().downcast_ref::<Int64Array>().ok_or("views is not Int64")?;
    for (i, &start) in starts.iter().enumerate() {
        *counts.entry((start, urls.value(i).to_owned())).or_insert(0) += views.value(i) as u64;
    }
    Ok(())
}

/// Panics unless `out` is consistent with the reference (see the module docs).
fn check(name: &str, out: &Outcome, reference: &Outcome, events: u64) {
    let total: u64 = out.counts.values().sum();
    if out.late == u64::MAX {
        // A loop that counts every event: must equal the reference's counts plus its late events.
        assert_eq!(total, events, "{name}: counts != events");
        let on_time: u64 =
            reference.counts.iter().map(|(k, &c)| out.counts.get(k).copied().unwrap_or(0).min(c)).sum();
        assert_eq!(on_time, reference.counts.values().sum::<u64>(), "{name}: below the reference's counts");
        return;
    }
    assert_eq!(total + out.late, events, "{name}: counts + late != events");
    let mut diff = 0u64;
    for (k, &c) in &reference.counts {
        diff += c.abs_diff(out.counts.get(k).copied().unwrap_or(0));
    }
    for (k, &c) in &out.counts {
        if !reference.counts.contains_key(k) {
            diff += c;
        }
    }
    assert!(
        diff <= out.late + reference.late,
        "{name}: counts differ from the reference by {diff} events, more than the late events ({} + {})",
        out.late,
        reference.late
    );
}

/// Resets this process's peak RSS (`VmHWM`); Linux only, ignored elsewhere.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// This process's peak RSS since the last reset, in KiB (0 if unknown).
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
