//! `sluice savepoint JOB` talking to a running `sluice run` through `<data-dir>/jobs/<job>/`,
//! and what the user sees when something is wrong. (Savepoint, rescale and resume end to end:
//! `exactly_once::savepoint_rescale_resume_gives_the_uninterrupted_output`.)

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::Sluice;

/// A checkpointed job that follows a topic of the embedded log (opened read-only, so other
/// runs may start) until it is killed.
const FOLLOW: &str = "
SET 'execution.checkpointing.interval' = '1s';
CREATE TABLE views (ts BIGINT, url STRING, rt AS TO_TIMESTAMP_LTZ(ts, 3), WATERMARK FOR rt AS rt)
  WITH ('connector' = 'sluice', 'topic' = 'views', 'format' = 'json');
CREATE TABLE out (url STRING) WITH ('connector' = 'blackhole');
INSERT INTO out SELECT url FROM views;
";

/// Starts `sluice run follow.sql` and waits until it has registered (its first line).
fn start_follow_job(s: &Sluice) -> (Child, String, mpsc::Receiver<String>) {
    s.create_topic("views", 1);
    let job = s.path("follow.sql");
    std::fs::write(&job, FOLLOW).expect("write job");
    let job = job.to_str().expect("utf-8").to_string();
    let mut child = s
        .command(&["run", &job])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sluice run");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(60)).expect("a first line from sluice run");
    assert!(first.starts_with("job follow: checkpoints every 1s"), "{first}");
    (child, job, rx)
}

#[test]
fn savepoint_of_a_job_that_is_not_running_says_so() {
    let s = Sluice::new();
    let err = s.fails(&["savepoint", "nosuch"]);
    assert!(err.contains("job nosuch is not running"), "{err}");
}

#[test]
fn a_running_job_answers_savepoint_requests_and_refuses_a_second_run() {
    let s = Sluice::new();
    let (mut child, job, _) = start_follow_job(&s);

    let err = s.fails(&["run", &job]);
    assert!(err.contains("job follow is already running"), "{err}");

    // Answered by the running job (it checks the name before taking anything).
    let err = s.fails(&["savepoint", "follow", "--name", "../escape", "--timeout", "20s"]);
    assert!(err.contains("savepoint ../escape of job follow: ") && err.contains("savepoint name"), "{err}");
    assert!(!s.data_dir().join("jobs/follow/request").exists(), "the job took the request");

    child.kill().expect("kill sluice run");
    child.wait().expect("reap sluice run");
    // The lock died with the process: the job is not running any more.
    let err = s.fails(&["savepoint", "follow"]);
    assert!(err.contains("job follow is not running"), "{err}");
}

#[test]
fn fresh_and_from_savepoint_need_checkpointing() {
    let s = Sluice::new();
    let job = s.path("plain.sql");
    std::fs::write(&job, FOLLOW.replace("SET 'execution.checkpointing.interval' = '1s';", "")).expect("job");
    let job = job.to_str().expect("utf-8");
    let err = s.fails(&["run", job, "--fresh"]);
    assert!(err.contains("--fresh needs checkpointing"), "{err}");
    let err = s.fails(&["run", job, "--from-savepoint", "/nowhere/plain/savepoints/sp"]);
    assert!(err.contains("--from-savepoint needs checkpointing"), "{err}");
    let err = s.fails(&[
        "run",
        job,
        "--checkpoint-interval",
        "1s",
        "--from-savepoint",
        "/nowhere/plain/savepoints/sp",
    ]);
    assert!(err.contains("no such savepoint: /nowhere/plain/savepoints/sp"), "{err}");
    let run = s.run(&["run", job, "--checkpoint-interval", "ten"]);
    assert_eq!(run.status.code(), Some(2), "a bad flag is clap's error: {run:?}");
    assert!(run.stderr.contains("not a duration"), "{run:?}");
}

#[test]
fn ctrl_c_stops_a_checkpointed_job_with_a_savepoint_or_drains_it() {
    let s = Sluice::new();
    let (mut child, _, lines) = start_follow_job(&s);
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill -INT");
    assert!(sent.success());
    let status = super::wait_timeout(&mut child, Duration::from_secs(60));
    let lines: Vec<String> = lines.try_iter().collect();
    assert!(status.success(), "Ctrl-C is a clean stop: {status} {lines:?}");
    assert!(lines.iter().any(|l| l.starts_with("stopping with savepoint stop-")), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("insert 1 into out: ")), "the report: {lines:?}");
}
