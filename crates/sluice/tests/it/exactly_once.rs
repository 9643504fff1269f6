//! Exactly-once under `kill -9`: the page-view tumbling job (a log topic in, a log topic or a
//! directory of part files out) is killed with SIGKILL at random moments, restarted each time,
//! then run to its end; what a reader sees must be exactly the output of an uninterrupted run
//! of the same job on a copy of the input: every window, every count, no duplicates, nothing
//! missing, and the counts plus the late rows account for every input event.
//!
//! **Why the uninterrupted output is deterministic.** The input topic has one partition, so
//! the watermark depends only on the order of the events, not on how reads interleave; it
//! advances once per source batch (at most 4096 rows), from the rows before the batch, and
//! allows 15 s of disorder. Event `i` has time `BASE + 2 ms × i + jitter`, jitter below 3 s:
//! the watermark before its batch is at most `BASE + 2 ms × i + 3 s - 15 s`, so no on-time
//! event is ever late, however rows are batched or a restart splits them. The late events
//! (every 997th from the 5000th on) are 10 minutes behind: the 4096 rows before any batch that
//! holds one put the watermark within 8.2 s + 15 s of it, far past the end of its 10 s window,
//! so they are late in every run. (A late event among the first 4096 could share the very
//! first batch, before any watermark, and then count or not depending on batching.)
//!
//! **Pacing.** `SET 'sluice.source.rows-per-second'` keeps the killed runs slow enough that
//! the kills land mid-way (at most 700 ms × 10,000 rows/s per run, well under the input even
//! after 20 of them); checkpoints are taken every 100 ms. The reference run has no limit.
//!
//! CI runs a fixed seed and 20 kills; `SLUICE_CRASH_SEED=<n>` and `SLUICE_CRASH_KILLS=<n>` run
//! another or a longer randomized schedule (the seed is printed, to replay a failure).

use std::collections::BTreeSet;
use std::fs::File;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use sluice_log::{Log, LogOptions, TopicConfig};
use sluice_types::Record;

use super::{wait_timeout, Sluice};

const EVENTS: u64 = 200_000;
const BASE_MS: i64 = 1_767_225_600_000; // 2026-01-01 00:00:00 UTC
const URLS: u64 = 40;
const RATE: u32 = 10_000;

/// A window result: (window_start, window_end, url, count).
type Row = (String, String, String, i64);

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The input events as JSON lines; see the module docs for the timing rules.
fn events() -> Vec<String> {
    let mut rng = Rng(7);
    (0..EVENTS)
        .map(|i| {
            let r = rng.next();
            let nominal = BASE_MS + 2 * i64::try_from(i).expect("small");
            let late = is_late(i);
            let ts = if late { nominal - 600_000 } else { nominal + i64::try_from(r % 3000).expect("small") };
            format!(r#"{{"ts":{ts},"user_id":{},"url":"/page/{}"}}"#, (r >> 20) % 5000, (r >> 40) % URLS)
        })
        .collect()
}

/// Whether event `i` is one of the late ones.
fn is_late(i: u64) -> bool {
    i >= 5000 && i.is_multiple_of(997)
}

/// Creates the topics in `data_dir` and appends the input.
fn load_input(data_dir: &Path, input: &[String]) {
    let log = Log::open(data_dir, LogOptions::default()).expect("open log");
    let views = log.create_topic("views", TopicConfig::new(1)).expect("create views");
    log.create_topic("counts", TopicConfig::new(2)).expect("create counts");
    log.create_topic("late", TopicConfig::new(1)).expect("create late");
    for chunk in input.chunks(10_000) {
        let records: Vec<Record> = chunk.iter().map(|l| Record::new(l.clone(), BASE_MS)).collect();
        views.partitions()[0].append(&records).expect("append");
    }
}

/// The job; `sink` is the WITH options of both result tables, `{}` standing for `counts` or
/// `late`; `rate` adds the pacing.
fn job_sql(sink: &str, rate: Option<u32>) -> String {
    let pace = rate.map(|r| format!("SET 'sluice.source.rows-per-second' = '{r}';\n")).unwrap_or_default();
    format!(
        "SET 'pipeline.name' = 'pageviews';
SET 'execution.checkpointing.interval' = '100 ms';
SET 'parallelism.default' = '2';
SET 'sluice.late-rows.counts' = 'late_views';
{pace}
CREATE TABLE views (
  ts BIGINT, user_id BIGINT, url STRING,
  rt AS TO_TIMESTAMP_LTZ(ts, 3),
  WATERMARK FOR rt AS rt - INTERVAL '15' SECOND
) WITH ('connector' = 'sluice', 'topic' = 'views', 'format' = 'json',
        'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset');
CREATE TABLE counts (window_start TIMESTAMP(3), window_end TIMESTAMP(3), url STRING, views BIGINT)
  WITH ({});
CREATE TABLE late_views (ts BIGINT, url STRING, late_reason STRING)
  WITH ({});
INSERT INTO counts
SELECT window_start, window_end, url, COUNT(*) AS views
FROM TABLE(TUMBLE(TABLE views, DESCRIPTOR(rt), INTERVAL '10' SECOND))
GROUP BY window_start, window_end, url;
",
        sink.replace("{}", "counts"),
        sink.replace("{}", "late")
    )
}

/// Where the results are and how to read them back.
#[derive(Clone, Copy)]
enum Output {
    /// Topics `counts` and `late` of the embedded log.
    Log,
    /// Directories `out/counts/` and `out/late/` of part files.
    Files,
}

impl Output {
    fn sink(self, out: &Path) -> String {
        match self {
            Output::Log => "'connector' = 'sluice', 'topic' = '{}', 'format' = 'json'".into(),
            Output::Files => {
                format!("'connector' = 'filesystem', 'path' = '{}/{{}}/', 'format' = 'json'", out.display())
            }
        }
    }

    /// The lines of table `counts` or `late`, as a reader sees them.
    fn lines(self, s: &Sluice, table: &str) -> Vec<String> {
        match self {
            Output::Log => {
                let log = Log::open(s.data_dir(), LogOptions::default().read_only(true)).expect("open log");
                let mut lines = Vec::new();
                for p in log.topic(table).expect("result topic").partitions() {
                    let mut from = 0;
                    while from < p.end_offset() {
                        let records = p.read(from, 1 << 20).expect("read results");
                        let Some(last) = records.last() else { break };
                        from = last.offset + 1;
                        lines.extend(records.iter().map(|r| String::from_utf8_lossy(&r.record.value).into()));
                    }
                }
                lines
            }
            Output::Files => {
                let dir = s.path("out").join(table);
                let mut lines = Vec::new();
                for entry in std::fs::read_dir(&dir).expect("result directory") {
                    let path = entry.expect("entry").path();
                    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or(".");
                    if name.starts_with('.') || name.starts_with('_') {
                        continue; // in progress: invisible to readers
                    }
                    let text = std::fs::read_to_string(&path).expect("part file");
                    lines.extend(text.lines().map(str::to_string));
                }
                lines
            }
        }
    }
}

fn parse_row(line: &str) -> Row {
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    let text = |k: &str| v[k].as_str().unwrap_or_else(|| panic!("{k} in {line}")).to_string();
    (text("window_start"), text("window_end"), text("url"), v["views"].as_i64().expect("views"))
}

/// The sorted rows and the number of late rows; checks no window appears twice and that
/// every input event is counted once.
fn results(s: &Sluice, output: Output) -> (Vec<Row>, usize) {
    let mut rows: Vec<Row> = output.lines(s, "counts").iter().map(|l| parse_row(l)).collect();
    rows.sort();
    let late = output.lines(s, "late").len();
    let windows: BTreeSet<_> = rows.iter().map(|(ws, we, url, _)| (ws, we, url)).collect();
    assert_eq!(windows.len(), rows.len(), "a (window, url) appears more than once");
    let counted: i64 = rows.iter().map(|r| r.3).sum();
    assert_eq!(counted + i64::try_from(late).expect("small"), i64::try_from(EVENTS).expect("small"));
    (rows, late)
}

/// Writes the job and the input in a fresh temp dir.
fn setup(output: Output, rate: Option<u32>) -> (Sluice, String) {
    let s = Sluice::new();
    load_input(&s.data_dir(), &events());
    let sql = job_sql(&output.sink(&s.path("out")), rate);
    let job = s.path("pageviews.sql");
    std::fs::write(&job, sql).expect("write job");
    (s, job.to_str().expect("utf-8").to_string())
}

/// Runs the job to its end; returns its stderr.
fn run_to_end(s: &Sluice, job: &str) -> String {
    let log = s.path("run.log");
    let mut child = s
        .command(&["run", job])
        .current_dir(s.path(""))
        .stdout(Stdio::null())
        .stderr(File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn sluice run");
    let status = wait_timeout(&mut child, Duration::from_secs(120));
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "sluice run failed: {stderr}");
    stderr
}

/// The uninterrupted run's results.
fn reference(output: Output) -> (Vec<Row>, usize) {
    let (s, job) = setup(output, None);
    run_to_end(&s, &job);
    let (rows, late) = results(&s, output);
    assert_eq!(late, (0..EVENTS).filter(|i| is_late(*i)).count(), "the late events, and only they");
    assert!(rows.len() > 1000, "{} window rows", rows.len());
    (rows, late)
}

fn env_number(key: &str, default: u64) -> u64 {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Kills the paced job `kills` times at random moments, restarting it each time, then lets it
/// finish, and compares with the reference.
fn crash_and_compare(output: Output) {
    let seed = env_number("SLUICE_CRASH_SEED", 20_261_125);
    let kills = env_number("SLUICE_CRASH_KILLS", 20);
    eprintln!("crash schedule: SLUICE_CRASH_SEED={seed} SLUICE_CRASH_KILLS={kills}");
    let want = reference(output);

    let (s, job) = setup(output, Some(RATE));
    let mut rng = Rng(seed);
    let log = s.path("runs.log");
    for k in 0..kills {
        let mut child = s
            .command(&["run", &job])
            .current_dir(s.path(""))
            .stdout(Stdio::null())
            .stderr(File::options().create(true).append(true).open(&log).expect("log file"))
            .spawn()
            .expect("spawn sluice run");
        let started = Instant::now();
        let delay = Duration::from_millis(100 + rng.next() % 600);
        while started.elapsed() < delay {
            if let Some(status) = child.try_wait().expect("try_wait") {
                let stderr = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("run {k} ended ({status}) before its kill at {delay:?}; lower the rate: {stderr}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().expect("SIGKILL sluice run");
        child.wait().expect("reap sluice run");
    }
    let last = run_to_end(&s, &job);
    assert!(last.contains("resumed from checkpoint"), "the last run should resume: {last}");
    let got = results(&s, output);
    assert!(got == want, "after {kills} kills (seed {seed}) the output differs from the uninterrupted run");
}

/// The uninterrupted job, checked on its own (the runtime's checkpoints are not needed).
#[test]
fn uninterrupted_page_view_job_accounts_for_every_event() {
    let (log_rows, log_late) = reference(Output::Log);
    let (file_rows, file_late) = reference(Output::Files);
    assert_eq!(log_rows, file_rows, "the log and the file sink see the same windows");
    assert_eq!(log_late, file_late);
}

#[test]
fn killed_log_to_log_job_gives_the_uninterrupted_output() {
    crash_and_compare(Output::Log);
}

#[test]
fn killed_log_to_files_job_gives_the_uninterrupted_output() {
    crash_and_compare(Output::Files);
}

/// Stop with a savepoint at parallelism 1, resume from it at parallelism 3 (and without the
/// pacing: a compatible change), and get the uninterrupted output.
#[test]
fn savepoint_rescale_resume_gives_the_uninterrupted_output() {
    let want = reference(Output::Log);
    let (s, job) = setup(Output::Log, Some(RATE));
    let log = s.path("first.log");
    let mut child = s
        .command(&["run", &job, "--parallelism", "1"])
        .stdout(Stdio::null())
        .stderr(File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn sluice run");
    std::thread::sleep(Duration::from_millis(1500));
    let printed = s.ok(&["savepoint", "pageviews", "--stop", "--name", "rescale"]);
    let path = printed.trim().to_string();
    assert!(path.ends_with("pageviews/savepoints/rescale"), "{printed}");
    assert!(Path::new(&path).join("_manifest").is_file(), "{path} is a complete savepoint");
    let status = wait_timeout(&mut child, Duration::from_secs(60));
    let first = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success() && first.contains("stopped at checkpoint"), "{first}");

    std::fs::write(&job, job_sql(&Output::Log.sink(&s.path("out")), None)).expect("rewrite job");
    let log = s.path("second.log");
    let mut child = s
        .command(&["run", &job, "--from-savepoint", &path, "--parallelism", "3"])
        .stdout(Stdio::null())
        .stderr(File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn sluice run");
    let status = wait_timeout(&mut child, Duration::from_secs(120));
    let second = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success() && second.contains("resumed from checkpoint"), "{second}");
    assert!(results(&s, Output::Log) == want, "the rescaled job's output differs from the uninterrupted run");
}
