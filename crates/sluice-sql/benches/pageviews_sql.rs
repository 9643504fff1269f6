//! The page-view count in SQL next to the same job through the Rust API, on the same
//! JSON-lines file in the same run (issue 4, benchmark 7): per-URL 5-minute tumbling
//! event-time windows, 5 s out-of-orderness.
//!
//! ```sh
//! cargo bench -p sluice-connect --bench pageviews_io   # generates target/bench-data/page-views-N.jsonl
//! cargo bench -p sluice-sql --bench pageviews_sql      # BENCH_EVENTS=1000000 for a quick run
//! ```
//!
//! - SQL: `examples/sql/pageviews.sql` as is (the file Flink runs too), run in a temporary
//!   directory where `data/page_views.jsonl` links to the input; its result rows are read
//!   back from `out/page_view_counts/part-0.json`.
//! - Rust API: `FileSource` → `event_time("ts", 5 s)` → `key_by(["url"])` → tumbling 5 min
//!   → `count()` → a sink that keeps the rows in memory.
//!
//! Environment: `BENCH_EVENTS` (10 000 000), `BENCH_DATA` (`target/bench-data`), `BENCH_FILE`
//! (overrides both), `BENCH_ROUNDS` (3; cases alternate, the table shows the median),
//! `PARALLELISM` ("1").
//! Check: both must see every event (window counts + late = events) and produce the same
//! number of (window, URL) rows with the same total.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_schema::{DataType, Field, Schema};
use sluice_connect::{DeadLetters, FileFormat, FileSource};
use sluice_dataflow::memory::CollectSink;
use sluice_dataflow::ops::count;
use sluice_dataflow::window::WindowSpec;
use sluice_dataflow::Pipeline;
use sluice_sql::{compile, RunOptions};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Window rows, their total count, late events.
struct Outcome {
    rows: u64,
    counted: u64,
    late: u64,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn input(events: u64) -> Result<PathBuf> {
    if let Ok(f) = std::env::var("BENCH_FILE") {
        return Ok(PathBuf::from(f));
    }
    let data = match std::env::var("BENCH_DATA") {
        Ok(d) => PathBuf::from(d),
        Err(_) => {
            let exe = std::env::current_exe()?;
            exe.ancestors().nth(3).ok_or("cannot place target/ from the bench binary")?.join("bench-data")
        }
    };
    let file = data.join(format!("page-views-{events}.jsonl"));
    if !file.exists() {
        return Err(format!(
            "{} is missing: generate it with `sluice gen page-views --count {events} --seed 1 > FILE` \
             (or run the sluice-connect pageviews_io bench once), or set BENCH_FILE",
            file.display()
        )
        .into());
    }
    Ok(file)
}

fn rust_api(file: &Path, parallelism: usize) -> Result<Outcome> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("ts", DataType::Int64, false),
        Field::new("url", DataType::Utf8, false),
    ]));
    let source = FileSource::new(file, FileFormat::JsonLines, schema)?
        .strict(true)
        .dead_letters(DeadLetters::memory());
    let out = CollectSink::new();
    let report = Pipeline::new("page_view_counts")
        .parallelism(parallelism)
        .source(source)
        .event_time("ts", Duration::from_secs(5))
        .key_by(["url"])
        .window(WindowSpec::tumbling(300_000)?)
        .aggregate([count().as_("views")])
        .sink(out.clone())
        .run()?;
    let mut counted = 0;
    for b in out.batches() {
        let views =
            b.column(3).as_any().downcast_ref::<arrow_array::Int64Array>().ok_or("views is not Int64")?;
        counted += views.values().iter().map(|&v| v as u64).sum::<u64>();
    }
    Ok(Outcome { rows: report.windows_emitted, counted, late: report.records_late })
}

fn sql(sql_text: &str, dir: &Path, parallelism: usize) -> Result<Outcome> {
    let script = compile(sql_text).map_err(|e| e.render("pageviews.sql"))?;
    let options = RunOptions {
        parallelism: Some(parallelism),
        base_dir: Some(dir.to_path_buf()),
        ..RunOptions::default()
    };
    let reports = script.spawn(&options).and_then(|j| j.join()).map_err(|e| e.render("pageviews.sql"))?;
    let late = reports.iter().map(|(_, r)| r.records_late).sum();
    let (mut rows, mut counted) = (0, 0);
    let out = BufReader::new(std::fs::File::open(dir.join("out/page_view_counts/part-0.json"))?);
    for line in out.lines() {
        let line = line?;
        let views =
            line.rsplit("\"views\":").next().and_then(|v| v.trim_end_matches('}').parse::<u64>().ok());
        counted += views.ok_or_else(|| format!("no views in {line}"))?;
        rows += 1;
    }
    Ok(Outcome { rows, counted, late })
}

fn main() -> Result<()> {
    let events: u64 = env_or("BENCH_EVENTS", 10_000_000);
    let rounds: usize = env_or("BENCH_ROUNDS", 3);
    let parallelism: Vec<usize> = std::env::var("PARALLELISM")
        .unwrap_or_else(|_| "1".into())
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    let file = input(events)?;
    let events = BufReader::new(std::fs::File::open(&file)?).lines().count() as u64;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let sql_text = std::fs::read_to_string(root.join("examples/sql/pageviews.sql"))?;
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("data"))?;
    std::os::unix::fs::symlink(std::fs::canonicalize(&file)?, dir.path().join("data/page_views.jsonl"))?;
    println!(
        "input: {events} events, {} ({:.0} MB)",
        file.display(),
        std::fs::metadata(&file)?.len() as f64 / 1e6
    );

    let mut results: Vec<(String, Vec<f64>)> = Vec::new();
    for &p in &parallelism {
        results.push((format!("rust-api-p{p}"), Vec::new()));
        results.push((format!("sql-p{p}"), Vec::new()));
    }
    let mut reference: Option<(u64, u64)> = None;
    for round in 0..rounds {
        for (name, secs) in &mut results {
            let p: usize = name.rsplit('p').next().and_then(|p| p.parse().ok()).unwrap_or(1);
            let start = Instant::now();
            let out =
                if name.starts_with("sql") { sql(&sql_text, dir.path(), p)? } else { rust_api(&file, p)? };
            let s = start.elapsed().as_secs_f64();
            assert_eq!(out.counted + out.late, events, "{name}: window counts + late != events");
            match reference {
                None => reference = Some((out.rows, out.counted)),
                Some(r) => {
                    assert_eq!(r, (out.rows, out.counted), "{name}: rows and total differ from the first run")
                }
            }
            println!(
                "round {round} {name:>13}: {s:6.2} s {:6.2} M events/s, {} rows, {} late",
                events as f64 / s / 1e6,
                out.rows,
                out.late
            );
            secs.push(s);
        }
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("\nmedian of {rounds} round(s), {events} events:");
    println!("| case | M events/s | SQL / Rust API |");
    println!("|---|---|---|");
    for pair in results.chunks(2) {
        let (rust, sql) = (median(&pair[0].1), median(&pair[1].1));
        println!("| {} | {:.2} | – |", pair[0].0, events as f64 / rust / 1e6);
        println!("| {} | {:.2} | {:.3} |", pair[1].0, events as f64 / sql / 1e6, rust / sql);
    }
    Ok(())
}
