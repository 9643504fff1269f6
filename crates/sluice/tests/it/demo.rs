//! `sluice demo`: a short run in a temporary data dir ends by itself, exits 0, and its summary
//! accounts for every event.

use super::*;

/// The value of `name:` in the summary, as a number.
fn figure(stdout: &str, name: &str) -> u64 {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no `{name}:` line in:\n{stdout}"));
    line.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("`{name}:{line}` is not a number"))
}

#[test]
fn a_short_demo_counts_every_event() {
    let s = Sluice::new();
    let run = s.run(&["demo", "--events", "20000", "--rate", "0", "--parallelism", "2"]);
    assert!(run.status.success(), "{run:?}");
    let out = &run.stdout;
    assert!(out.contains("== summary =="), "{out}");
    assert_eq!(figure(out, "events appended"), 20_000, "{out}");
    assert_eq!(figure(out, "events read"), 20_000, "{out}");
    assert!(figure(out, "windows emitted") > 0, "{out}");
    let counted = figure(out, "sum of window counts") + figure(out, "late events");
    assert_eq!(counted, 20_000, "{out}");
    assert_eq!(figure(out, "dead letters"), 0, "{out}");
    // Not a terminal: plain lines, no progress bar escape codes.
    assert!(!out.contains('\u{1b}'), "{out}");
    assert!(out.contains("window 2026-01-01 00:00 – 00:05"), "{out}");
    // The topics were in the given data dir, and the results are there.
    let results = s.consume("demo_window_counts", &["--from", "earliest"]);
    assert_eq!(results.len() as u64, figure(out, "window results"));
}

#[test]
fn the_rate_paces_the_producer() {
    let s = Sluice::new();
    let started = std::time::Instant::now();
    let run = s.run(&["demo", "--events", "6000", "--rate", "10000"]);
    assert!(run.status.success(), "{run:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "6000 events at 10000/s took {:?}",
        started.elapsed()
    );
    assert_eq!(figure(&run.stdout, "events read"), 6000);
}

#[test]
fn without_a_data_dir_the_demo_cleans_up_after_itself() {
    let run =
        into_run(bare_command(&["demo", "--events", "2000", "--rate", "0"]).output().expect("run demo"));
    assert!(run.status.success(), "{run:?}");
    let line = run.stdout.lines().find(|l| l.starts_with("data dir:")).expect("data dir line");
    let path = line.trim_start_matches("data dir:").split_whitespace().next().expect("path");
    assert!(!Path::new(path).exists(), "{path} should be removed");
}
