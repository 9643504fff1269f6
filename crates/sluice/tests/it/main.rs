//! Integration tests of the `sluice` binary: each test runs the real built binary against its
//! own temporary data directory.
//!
//! - `topic`: create, list, describe, delete.
//! - `produce_consume`: round trips, keys and partitions, timestamps, groups, metadata.
//! - `errors`: what the user sees when something is wrong.
//! - `follow`: a consumer in a second process while a producer holds the data directory.
//! - `demo`: `sluice demo` runs to the end and its summary accounts for every event.
//! - `sql`: `sluice run` and `sluice explain` on SQL job files.
//! - `exactly_once`: a checkpointed SQL job killed with `kill -9` 20 times gives exactly the
//!   output of an uninterrupted run (log and file sinks); `savepoint`: `sluice savepoint` and
//!   `run --from-savepoint`, and their errors.
//! - `kafka`: `sluice run` between two Kafka topics of the test broker (Python client around).
//! - `kill`: `kill -9` of a producer leaves exactly a prefix of its input, at least as long as
//!   what it acknowledged.

mod demo;
mod errors;
mod exactly_once;
mod follow;
mod kafka;
mod kill;
mod produce_consume;
mod savepoint;
mod scale_out;
mod sql;
mod topic;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// A data directory and a way to run `sluice` against it.
struct Sluice {
    tmp: tempfile::TempDir,
}

/// What a finished command printed.
#[derive(Debug)]
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Sluice {
    fn new() -> Self {
        Sluice { tmp: tempfile::tempdir().expect("temp dir") }
    }

    /// The data directory (inside the temp dir; created by the first writing command).
    fn data_dir(&self) -> PathBuf {
        self.tmp.path().join("data")
    }

    /// A scratch path inside the temp dir.
    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// `sluice --data-dir <data dir> args...`, with a clean environment for the flags.
    fn command(&self, args: &[&str]) -> Command {
        let mut c = bare_command(args);
        c.arg("--data-dir").arg(self.data_dir());
        c
    }

    /// Runs to completion with `stdin` as input.
    fn run_with_input(&self, args: &[&str], stdin: &[u8]) -> Run {
        let child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sluice");
        finish(child, stdin)
    }

    /// Runs to completion with empty input.
    fn run(&self, args: &[&str]) -> Run {
        self.run_with_input(args, b"")
    }

    /// Runs, asserting success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        self.ok_with_input(args, b"")
    }

    /// Runs with input, asserting success; returns stdout.
    fn ok_with_input(&self, args: &[&str], stdin: &[u8]) -> String {
        let run = self.run_with_input(args, stdin);
        assert!(run.status.success(), "sluice {args:?} failed: {run:?}");
        run.stdout
    }

    /// Runs, asserting exit status 1 and an `error: ` message; returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        self.fails_with_input(args, b"")
    }

    /// Runs with input, asserting exit status 1 and an `error: ` message; returns stderr.
    fn fails_with_input(&self, args: &[&str], stdin: &[u8]) -> String {
        let run = self.run_with_input(args, stdin);
        assert_eq!(run.status.code(), Some(1), "sluice {args:?} should fail: {run:?}");
        assert!(run.stderr.starts_with("error: "), "{run:?}");
        assert!(!run.stderr.contains("panicked"), "{run:?}");
        run.stderr
    }

    /// Creates a topic.
    fn create_topic(&self, name: &str, partitions: u32) {
        self.ok(&["topic", "create", name, "--partitions", &partitions.to_string()]);
    }

    /// Appends lines (joined with `\n`) to a topic through stdin.
    fn produce(&self, topic: &str, lines: &[&str], extra: &[&str]) -> String {
        let input = lines.join("\n") + "\n";
        let args: Vec<&str> = ["produce", topic].iter().chain(extra).copied().collect();
        self.ok_with_input(&args, input.as_bytes())
    }

    /// Consumes a topic; returns the printed lines.
    fn consume(&self, topic: &str, extra: &[&str]) -> Vec<String> {
        let args: Vec<&str> = ["consume", topic].iter().chain(extra).copied().collect();
        self.ok(&args).lines().map(str::to_owned).collect()
    }

    /// Writes `sluice gen page-views --count n --seed seed` into a file and returns it with its
    /// lines.
    fn generate(&self, name: &str, count: u64, seed: u64) -> (PathBuf, Vec<String>) {
        let out =
            bare_command(&["gen", "page-views", "--count", &count.to_string(), "--seed", &seed.to_string()])
                .output()
                .expect("run sluice gen");
        assert!(out.status.success(), "{out:?}");
        let path = self.path(name);
        std::fs::write(&path, &out.stdout).expect("write generated file");
        let lines = String::from_utf8(out.stdout).expect("utf-8").lines().map(str::to_owned).collect();
        (path, lines)
    }
}

/// `sluice args...` with no data dir flag or variable.
fn bare_command(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sluice"));
    c.args(args).env_remove("SLUICE_DATA_DIR").env_remove("RUST_LOG");
    c
}

/// Feeds `stdin` to a spawned child and collects its output.
fn finish(mut child: Child, stdin: &[u8]) -> Run {
    let mut pipe = child.stdin.take().expect("piped stdin");
    let input = stdin.to_vec();
    // A child that fails early closes its stdin; that is not our error.
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait for sluice");
    writer.join().expect("stdin writer");
    into_run(out)
}

fn into_run(out: Output) -> Run {
    Run {
        status: out.status,
        stdout: String::from_utf8(out.stdout).expect("stdout is utf-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is utf-8"),
    }
}

/// Waits for a child to exit, killing it and failing the test after `timeout`.
fn wait_timeout(child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sluice did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `condition` every 20 ms until it holds, failing after `timeout`.
fn eventually(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The segment files of one partition, oldest first.
fn segment_files(data_dir: &Path, topic: &str, partition: u32) -> Vec<PathBuf> {
    let dir = data_dir.join("topics").join(topic).join(partition.to_string());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("partition dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
}
