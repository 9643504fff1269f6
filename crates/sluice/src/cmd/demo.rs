//! `sluice demo`: the streaming engine end to end, live in the terminal.
//!
//! One process plays three parts:
//!
//! 1. **Producer** (a thread): the page-view generator of `sluice gen page-views` (Zipf-skewed
//!    URLs, 100 000 users, out of order by up to 3 s, about 0.1% late by 10–60 s) appends
//!    `--events` records to the topic `demo_page_views` (4 partitions, keyed by URL, record
//!    timestamp = event time), paced at `--rate` appends per second. Event time is compressed:
//!    a 5-minute window holds [`EVENTS_PER_WINDOW`] events, so at the default rate a window
//!    closes about every second of wall time.
//! 2. **Pipeline**: a [`LogSource`] following the topic → event time from `ts` with a 5 s
//!    out-of-orderness bound → key by `url` → 5-minute tumbling count → the demo's sink, which
//!    appends each result to `demo_window_counts` and keeps it for the display. Late events go
//!    to `demo_late_views`, malformed records (there are none) to `demo_dead_letters`. When the
//!    producer is done it signals the end of input: the source reads to the end offsets of that
//!    moment and ends, the watermark goes to +∞ and the last windows emit.
//! 3. **Display** (the main thread): the top 5 URLs of each window once the watermark has
//!    passed its end, on stdout, and progress bars of events appended and read on stderr when
//!    stderr is a terminal (so `sluice demo | tee out.txt` still shows them). Without a
//!    terminal — CI logs — a plain progress line every second instead. At the end, a summary
//!    on stdout.
//!
//! # End-to-end latency
//! For each window result batch that reaches the sink, the latency is the wall time from the
//! moment the producer's append *made the watermark pass the window's end* — the append after
//! which, in every partition, the largest event time appended minus the 5 s bound was at least
//! the window's end — to the moment the sink received the batch. The producer records, after
//! each append, the watermark the log's contents allow and when; the sink looks up the first
//! append whose watermark reached the window's end. Windows closed by the end of input count
//! from the moment the producer signalled it. Each keyed task emits its part of a window
//! separately, so a window gives up to `--parallelism` samples. Ctrl-C stops the producer and
//! the job cleanly (every open window emits), and the summary is printed all the same.
//!
//! The latency excludes the watermark bound (`--bound-ms`, 5 s by default): a window's end is
//! only passed once events `bound` later than it have been appended, so in real time a result
//! comes `bound` + this latency after the window's end.
//!
//! # Latency benchmark (issue 3, item 8b)
//! `--realtime` makes event time the wall clock at generation (in order, no late events; the
//! generator's disorder is off), `--window-ms 1000` gives 1-second windows and `--bound-ms`
//! sets the bound. In that mode the summary adds a second measure, the **last-event latency**:
//! for each result batch and window, the wall time from the append that held the window's last
//! event (the last append with an event before the window's end) to the sink. It includes the
//! wait for the next append, the one that moves the watermark (at bound 0, the pacing interval:
//! appends are `rate / 200` events, about 5 ms apart), and the bound itself.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMillisecondType};
use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use sluice_connect::{DeadLetters, EndOfInput, LogSink, LogSource};
use sluice_dataflow::ops::count;
use sluice_dataflow::sink::Sink;
use sluice_dataflow::window::WindowSpec;
use sluice_dataflow::{JobReport, Pipeline};
use sluice_log::partitioner::partition_for_key;
use sluice_log::{Durability, Log, Topic, TopicConfig};
use sluice_types::Record;

use super::gen::PageViews;
use crate::cli::DemoArgs;

/// The input topic.
const INPUT: &str = "demo_page_views";
/// Window results, keyed by URL, timestamped with the window's end.
const COUNTS: &str = "demo_window_counts";
/// Late events, with a `late_reason`.
const LATE: &str = "demo_late_views";
/// Malformed input records.
const DEAD: &str = "demo_dead_letters";
/// Partitions of the input topic.
const PARTITIONS: u32 = 4;
/// Event time of the first event: 2026-01-01T00:00:00Z.
const START_MS: i64 = 1_767_225_600_000;
/// Events per 5-minute window of event time (compressed event time, any `--window-ms`). At the
/// default `--rate` of 200 000/s a 5-minute window closes about every second of wall time.
const EVENTS_PER_WINDOW: u64 = 200_000;
/// URLs shown per window.
const TOP: usize = 5;

/// Runs `sluice demo`. `data_dir` is `None` unless the user gave one.
pub fn run(data_dir: Option<&Path>, args: &DemoArgs) -> Result<()> {
    let tty = std::io::stderr().is_terminal();
    let temp = match data_dir {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("sluice-demo.")
                .tempdir()
                .context("cannot create a temporary data directory")?,
        ),
    };
    let dir: PathBuf = match (&temp, data_dir) {
        (Some(t), _) => t.path().to_path_buf(),
        (None, Some(d)) => d.to_path_buf(),
        (None, None) => unreachable!("either a temp dir or a given one"),
    };
    let log = super::open_writer(&dir, Durability::default())?;
    let input = fresh_topics(&log)?;
    let parallelism = args
        .parallelism
        .map_or_else(|| thread::available_parallelism().map_or(1, std::num::NonZero::get), |p| p as usize);

    println!(
        "sluice demo: {} page views at {}, per-URL counts in {} tumbling windows (watermark: {} out of order), parallelism {parallelism}{}",
        thousands(args.events),
        if args.rate == 0 { "full speed".to_string() } else { format!("{} events/s", thousands(args.rate)) },
        span(args.window_ms, "-"),
        span(args.bound_ms, " "),
        if args.realtime { ", real-time event time" } else { "" },
    );
    println!(
        "data dir: {}{}",
        dir.display(),
        if temp.is_some() { " (temporary, removed at the end)" } else { "" }
    );

    let shared = Arc::new(Shared { window_ms: args.window_ms, ..Shared::default() });
    let end = EndOfInput::new();
    let dead = DeadLetters::topic(&log, DEAD)?;
    let source = LogSource::new(&log, INPUT, schema())?.follow_until(end.clone()).dead_letters(dead.clone());
    let sink = DemoSink {
        shared: Arc::clone(&shared),
        out: LogSink::new(&log, COUNTS)?.key_columns(["url"]).timestamp_column("window_end"),
    };
    let job = Pipeline::new("page_view_counts")
        .parallelism(parallelism)
        .source(source)
        .event_time("ts", Duration::from_millis(args.bound_ms.unsigned_abs()))
        .key_by(["url"])
        .window(WindowSpec::tumbling(args.window_ms)?)
        .aggregate([count().as_("views")])
        .sink(sink)
        .late_output(LogSink::new(&log, LATE)?.timestamp_column("ts"))
        .spawn()?;
    let handle = job.handle();
    {
        let shared = Arc::clone(&shared);
        if let Err(e) = ctrlc::set_handler(move || shared.stop.store(true, Ordering::SeqCst)) {
            tracing::warn!("cannot install the Ctrl-C handler: {e}");
        }
    }

    let started = Instant::now();
    let producer = {
        let (shared, end) = (Arc::clone(&shared), end.clone());
        let params = Produce {
            events: args.events,
            rate: args.rate,
            seed: args.seed,
            bound_ms: args.bound_ms,
            realtime: args.realtime,
        };
        thread::Builder::new().name("demo-producer".into()).spawn(move || {
            let outcome = produce(&input, &shared, &end, &params);
            if outcome.is_err() {
                shared.stop.store(true, Ordering::SeqCst);
            }
            outcome
        })?
    };
    let (done_tx, done_rx) = mpsc::channel();
    let joiner = thread::spawn(move || {
        let _ = done_tx.send(job.join());
    });

    let mut display = Display::new(tty, args.events);
    let mut stopping = false;
    let report = loop {
        match done_rx.recv_timeout(Duration::from_millis(100)) {
            Ok(report) => break report.map_err(anyhow::Error::from),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break Err(anyhow!("the job's thread vanished")),
        }
        if shared.stop.load(Ordering::SeqCst) && !stopping {
            stopping = true;
            display.print("stopping: the job ends its input, every open window emits".into());
            handle.stop();
        }
        let metrics = handle.metrics().snapshot();
        display.progress(shared.appended.load(Ordering::Relaxed), metrics.records_in);
        for (end, window) in shared.take_closed(metrics.watermark.get()) {
            display.print(window.table(end, shared.window_ms));
        }
    };
    let elapsed = started.elapsed();
    let _ = joiner.join();
    let produced = producer.join().map_err(|_| anyhow!("the producer thread panicked"))?;
    let report: JobReport = report.context("the page-view count job failed")?;
    produced.context("the producer failed")?;
    display.progress(shared.appended.load(Ordering::Relaxed), report.records_in);
    for (end, window) in shared.take_closed(i64::MAX) {
        display.print(window.table(end, shared.window_ms));
    }
    display.finish();
    summary(&shared, &report, &dead, elapsed, &dir, temp.is_some(), args.realtime);
    drop(log);
    Ok(())
}

/// The job's input schema: the page-view fields the count needs.
fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
        Field::new("url", DataType::Utf8, false),
        Field::new("user_id", DataType::Int64, true),
    ]))
}

/// (Re)creates the demo's topics; returns the input topic.
fn fresh_topics(log: &Log) -> Result<Topic> {
    let existing = log.topic_names();
    for (name, partitions) in [(INPUT, PARTITIONS), (COUNTS, PARTITIONS), (LATE, 1), (DEAD, 1)] {
        if existing.iter().any(|t| t == name) {
            log.delete_topic(name)
                .with_context(|| format!("cannot delete the previous demo's topic {name}"))?;
        }
        log.create_topic(name, TopicConfig::new(partitions))?;
    }
    Ok(log.topic(INPUT)?)
}

/// What the producer, the sink and the display share.
#[derive(Default)]
struct Shared {
    /// Window size, ms (for the display).
    window_ms: i64,
    /// Events appended so far.
    appended: AtomicU64,
    /// Ctrl-C, or the producer failed: stop everything.
    stop: AtomicBool,
    /// After each append that moved it: (the watermark the log's contents allow, when).
    /// Increasing in both.
    closes: Mutex<Vec<(i64, Instant)>>,
    /// `--realtime` only: after each append, (the smallest event time in it, when). Increasing
    /// in both, as event time is the wall clock.
    appends: Mutex<Vec<(i64, Instant)>>,
    /// When the producer signalled the end of input.
    ended_at: Mutex<Option<Instant>>,
    results: Mutex<Results>,
}

/// Window results received by the sink.
#[derive(Default)]
struct Results {
    /// Windows not yet displayed, by end.
    open: BTreeMap<i64, Window>,
    /// Windows displayed.
    windows: u64,
    /// Sum of all counts.
    views: u64,
    /// One sample per (result batch, window), in µs.
    latencies_us: Vec<u64>,
    /// `--realtime` only: one sample per (result batch, window), from the append of the
    /// window's last event, in µs.
    last_event_us: Vec<u64>,
}

/// One window's counts per URL.
#[derive(Default)]
struct Window {
    start: i64,
    counts: HashMap<String, u64>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// When the append that let the watermark reach `window_end` happened.
    fn trigger(&self, window_end: i64) -> Option<Instant> {
        let closes = lock(&self.closes);
        let i = closes.partition_point(|(wm, _)| *wm < window_end);
        closes.get(i).map(|(_, at)| *at).or(*lock(&self.ended_at))
    }

    /// `--realtime` only: when the last append holding an event before `window_end` happened.
    fn last_event(&self, window_end: i64) -> Option<Instant> {
        let appends = lock(&self.appends);
        let i = appends.partition_point(|(min_ts, _)| *min_ts < window_end);
        i.checked_sub(1).and_then(|i| appends.get(i)).map(|(_, at)| *at)
    }

    /// Removes and returns the windows whose end the watermark has reached: every keyed task
    /// has sent its part of them.
    fn take_closed(&self, watermark: i64) -> Vec<(i64, Window)> {
        let mut results = lock(&self.results);
        let still_open = match watermark.checked_add(1) {
            Some(after) => results.open.split_off(&after),
            None => BTreeMap::new(),
        };
        let closed = std::mem::replace(&mut results.open, still_open);
        results.windows += closed.len() as u64;
        closed.into_iter().collect()
    }
}

/// The main sink: results to `demo_window_counts`, and to the display.
struct DemoSink {
    shared: Arc<Shared>,
    out: LogSink,
}

impl Sink for DemoSink {
    fn write(&mut self, batch: &RecordBatch) -> sluice_dataflow::Result<()> {
        let arrived = Instant::now();
        self.out.write(batch)?;
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| sluice_dataflow::DataflowError::Schema(format!("no column `{name}`")))
        };
        let starts = column("window_start")?.as_primitive::<TimestampMillisecondType>();
        let ends = column("window_end")?.as_primitive::<TimestampMillisecondType>();
        let urls = column("url")?.as_string::<i32>();
        let views = column("views")?.as_primitive::<Int64Type>();
        let mut seen = Vec::new();
        {
            let mut results = lock(&self.shared.results);
            for i in 0..batch.num_rows() {
                let (end, n) = (ends.value(i), u64::try_from(views.value(i)).unwrap_or(0));
                let window = results.open.entry(end).or_default();
                window.start = starts.value(i);
                *window.counts.entry(urls.value(i).to_string()).or_default() += n;
                results.views += n;
                if !seen.contains(&end) {
                    seen.push(end);
                }
            }
        }
        let samples: Vec<u64> = seen
            .iter()
            .filter_map(|&end| self.shared.trigger(end))
            .filter_map(|at| arrived.checked_duration_since(at))
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
            .collect();
        let last_event: Vec<u64> = seen
            .iter()
            .filter_map(|&end| self.shared.last_event(end))
            .filter_map(|at| arrived.checked_duration_since(at))
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
            .collect();
        let mut results = lock(&self.shared.results);
        results.latencies_us.extend(samples);
        results.last_event_us.extend(last_event);
        Ok(())
    }

    fn flush(&mut self) -> sluice_dataflow::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self) -> sluice_dataflow::Result<()> {
        self.out.finish()
    }
}

/// What the producer does.
struct Produce {
    events: u64,
    /// Appends per second, 0 = unpaced.
    rate: u64,
    seed: u64,
    bound_ms: i64,
    /// Event time = wall clock at generation.
    realtime: bool,
}

/// The wall clock in epoch ms.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Appends `events` generated page views to `topic`, `rate` per second (0 = unpaced), then
/// signals the end of input (unless stopped).
fn produce(topic: &Topic, shared: &Shared, end: &EndOfInput, params: &Produce) -> Result<()> {
    let &Produce { events, rate, seed, bound_ms, realtime } = params;
    let event_rate = EVENTS_PER_WINDOW * 1000 / (5 * 60_000);
    let mut generator = PageViews::new(seed, START_MS, event_rate);
    // Small appends when paced (about 200 a second), so that pacing is smooth.
    let batch = if rate == 0 { 5000 } else { (rate / 200).clamp(100, 5000) };
    let mut max_ts = [i64::MIN; PARTITIONS as usize];
    let mut line = Vec::with_capacity(256);
    let mut last_wm = i64::MIN;
    let started = Instant::now();
    let mut appended = 0;
    while appended < events && !shared.stop.load(Ordering::Relaxed) {
        let n = batch.min(events - appended);
        let mut records = Vec::with_capacity(n as usize);
        let mut min_ts = i64::MAX;
        for _ in 0..n {
            line.clear();
            let view = if realtime {
                generator.write_at(&mut line, now_ms())?
            } else {
                generator.write_next(&mut line)?
            };
            min_ts = min_ts.min(view.ts);
            let url = line.get(view.url.clone()).unwrap_or_default();
            let p = partition_for_key(url, PARTITIONS).0 as usize;
            if let Some(max) = max_ts.get_mut(p) {
                *max = (*max).max(view.ts);
            }
            let value = line.strip_suffix(b"\n").unwrap_or(&line);
            records.push(Record::new(value.to_vec(), view.ts).with_key(url.to_vec()));
        }
        topic.append(records)?;
        if realtime {
            lock(&shared.appends).push((min_ts, Instant::now()));
        }
        appended += n;
        shared.appended.store(appended, Ordering::Relaxed);
        let wm = max_ts.iter().copied().min().unwrap_or(i64::MIN).saturating_sub(bound_ms);
        if wm > last_wm {
            last_wm = wm;
            lock(&shared.closes).push((wm, Instant::now()));
        }
        if rate > 0 {
            let due = started + Duration::from_secs_f64(appended as f64 / rate as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
        }
    }
    if !shared.stop.load(Ordering::Relaxed) {
        *lock(&shared.ended_at) = Some(Instant::now());
        end.signal();
    }
    Ok(())
}

/// The live output: bars on stderr if it is a terminal, plain progress lines otherwise; the
/// window tables on stdout either way.
struct Display {
    bars: Option<(MultiProgress, ProgressBar, ProgressBar)>,
    events: u64,
    started: Instant,
    last_line: Instant,
}

impl Display {
    fn new(tty: bool, events: u64) -> Self {
        let bars = tty.then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{prefix:>9} [{bar:40.cyan/blue}] {human_pos:>10}/{human_len}  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            let appended =
                multi.add(ProgressBar::new(events).with_style(style.clone()).with_prefix("appended"));
            let read = multi.add(ProgressBar::new(events).with_style(style).with_prefix("read"));
            (multi, appended, read)
        });
        Display { bars, events, started: Instant::now(), last_line: Instant::now() }
    }

    fn progress(&mut self, appended: u64, read: u64) {
        match &self.bars {
            Some((_, a, r)) => {
                let secs = self.started.elapsed().as_secs_f64().max(1e-3);
                let per_sec = |n: u64| format!("{}/s", thousands((n as f64 / secs) as u64));
                a.set_position(appended);
                a.set_message(per_sec(appended));
                r.set_position(read);
                r.set_message(per_sec(read));
            }
            None if self.last_line.elapsed() >= Duration::from_secs(1) => {
                self.last_line = Instant::now();
                println!("progress: appended {appended} / {}, read {read}", self.events);
            }
            None => {}
        }
    }

    fn print(&self, text: String) {
        match &self.bars {
            // Clears the bars, prints, redraws them below.
            Some((multi, _, _)) => multi.suspend(|| println!("{text}")),
            None => println!("{text}"),
        }
    }

    fn finish(&self) {
        // Leaves the bars where they stopped (after a Ctrl-C they are not full).
        if let Some((_, a, r)) = &self.bars {
            a.abandon();
            r.abandon();
        }
    }
}

impl Window {
    /// The window's top URLs as a small table.
    fn table(&self, end: i64, window_ms: i64) -> String {
        let total: u64 = self.counts.values().sum();
        let mut top: Vec<(&String, &u64)> = self.counts.iter().collect();
        top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let mut out = format!(
            "window {} – {}  {} views, {} URLs",
            clock(
                self.start,
                if window_ms % 60_000 == 0 { "%Y-%m-%d %H:%M" } else { "%Y-%m-%d %H:%M:%S%.3f" }
            ),
            clock(end, if window_ms % 60_000 == 0 { "%H:%M" } else { "%H:%M:%S%.3f" }),
            thousands(total),
            thousands(self.counts.len() as u64)
        );
        for (rank, (url, n)) in top.into_iter().take(TOP).enumerate() {
            let share = if total > 0 { *n as f64 * 100.0 / total as f64 } else { 0.0 };
            out.push_str(&format!("\n  {}. {url:<32} {:>9}  {share:>4.1}%", rank + 1, thousands(*n)));
        }
        out
    }
}

/// Prints the final figures, one `name: value` per line.
fn summary(
    shared: &Shared,
    report: &JobReport,
    dead: &DeadLetters,
    elapsed: Duration,
    dir: &Path,
    temp: bool,
    realtime: bool,
) {
    let results = lock(&shared.results);
    let appended = shared.appended.load(Ordering::Relaxed);
    let secs = elapsed.as_secs_f64();
    let mut latencies = results.latencies_us.clone();
    latencies.sort_unstable();
    let mut last_event = results.last_event_us.clone();
    last_event.sort_unstable();
    // Nearest rank at or below: p in thousandths.
    let percentile = |sorted: &[u64], p: usize| {
        sorted
            .get((sorted.len().saturating_sub(1)) * p / 1000)
            .map_or_else(|| "n/a".to_string(), |us| format!("{:.1} ms", *us as f64 / 1000.0))
    };
    let where_ = if temp { " (in the temporary data dir)" } else { "" };
    println!();
    println!("== summary ==");
    println!("events appended:      {appended}");
    println!("events read:          {}", report.records_in);
    println!("elapsed:              {secs:.2} s");
    println!(
        "throughput:           {:.0} events/s",
        if secs > 0.0 { report.records_in as f64 / secs } else { 0.0 }
    );
    println!("windows emitted:      {}", results.windows);
    println!("window results:       {} (window, url) rows -> topic {COUNTS}{where_}", report.windows_emitted);
    println!("sum of window counts: {}", results.views);
    println!("late events:          {} -> topic {LATE}{where_}", report.records_late);
    let counted = results.views + report.records_late;
    let check = if counted == report.records_in { "= events read" } else { "!= events read" };
    println!("counts + late:        {counted} ({check})");
    println!("dead letters:         {} -> topic {DEAD}{where_}", dead.count());
    println!("latency p50:          {}", percentile(&latencies, 500));
    println!("latency p99:          {}", percentile(&latencies, 990));
    println!("latency p99.9:        {}", percentile(&latencies, 999));
    println!("latency max:          {}", percentile(&latencies, 1000));
    println!(
        "latency samples:      {} (append that moved the watermark past a window's end -> that window's result at the sink)",
        latencies.len()
    );
    if realtime {
        println!("last-event p50:       {}", percentile(&last_event, 500));
        println!("last-event p99:       {}", percentile(&last_event, 990));
        println!("last-event p99.9:     {}", percentile(&last_event, 999));
        println!("last-event max:       {}", percentile(&last_event, 1000));
        println!(
            "last-event samples:   {} (append of a window's last event -> that window's result at the sink; includes the bound)",
            last_event.len()
        );
    }
    if temp {
        println!("data dir:             {} (removed; pass --data-dir DIR to keep it)", dir.display());
    } else {
        println!(
            "data dir:             {} (try: sluice --data-dir {0} consume {COUNTS} --max 5)",
            dir.display()
        );
    }
}

/// A duration in ms for the header: `5-minute`, `1-second`, `5 s`, `250 ms`; `sep` joins the
/// number and the unit.
fn span(ms: i64, sep: &str) -> String {
    match ms {
        m if m > 0 && m % 60_000 == 0 => format!("{}{sep}minute", m / 60_000),
        m if m > 0 && m % 1000 == 0 && sep == "-" => format!("{}-second", m / 1000),
        m if m > 0 && m % 1000 == 0 => format!("{} s", m / 1000),
        m => format!("{m} ms"),
    }
}

/// `1234567` → `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An epoch-ms time in UTC, formatted.
fn clock(ms: i64, format: &str) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map_or_else(|| ms.to_string(), |t| t.format(format).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(2_000_000), "2,000,000");
    }

    #[test]
    fn trigger_is_the_first_append_reaching_the_window_end() {
        let shared = Shared::default();
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_millis(5);
        lock(&shared.closes).extend([(100, t0), (300, t1)]);
        assert_eq!(shared.trigger(100), Some(t0));
        assert_eq!(shared.trigger(200), Some(t1));
        assert_eq!(shared.trigger(400), None);
        *lock(&shared.ended_at) = Some(t1);
        assert_eq!(shared.trigger(400), Some(t1));
    }
}
