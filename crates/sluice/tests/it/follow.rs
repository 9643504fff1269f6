//! Consumers in a second process: they open the data directory read-only, so they work (and
//! `--follow` keeps up) while a producer holds the writer lock, in whichever order the two
//! start.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use super::{eventually, wait_timeout, Sluice};

const PATIENCE: Duration = Duration::from_secs(30);

/// Sends each line the child prints on stdout to the returned channel.
fn stdout_lines(child: &mut Child) -> Receiver<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

fn collect(rx: &Receiver<String>, n: usize) -> Vec<String> {
    (0..n).map(|i| rx.recv_timeout(PATIENCE).unwrap_or_else(|e| panic!("line {i}: {e}"))).collect()
}

#[test]
fn follow_while_a_producer_holds_the_lock() {
    let s = Sluice::new();
    s.create_topic("live", 1);
    let mut producer = s
        .command(&["produce", "live"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = producer.stdin.take().unwrap();
    input.write_all(b"{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n").unwrap();
    input.flush().unwrap();

    // A one-shot consumer sees what the running producer appended so far.
    eventually("the producer's first records", PATIENCE, || s.consume("live", &[]).len() == 3);
    // A second writer is refused with a clear message.
    let err = s.fails(&["topic", "create", "other", "--partitions", "1"]);
    assert!(err.contains("in use by another sluice process"), "{err}");

    let mut follower =
        s.command(&["consume", "live", "--follow", "--max", "6"]).stdout(Stdio::piped()).spawn().unwrap();
    let lines = stdout_lines(&mut follower);
    assert_eq!(collect(&lines, 3), [r#"{"n":1}"#, r#"{"n":2}"#, r#"{"n":3}"#]);
    input.write_all(b"{\"n\":4}\n{\"n\":5}\n{\"n\":6}\n{\"n\":7}\n").unwrap();
    input.flush().unwrap();
    assert_eq!(collect(&lines, 3), [r#"{"n":4}"#, r#"{"n":5}"#, r#"{"n":6}"#]);
    assert!(wait_timeout(&mut follower, PATIENCE).success(), "--max 6 ends the follower");

    drop(input);
    assert!(wait_timeout(&mut producer, PATIENCE).success());
    let mut out = String::new();
    producer.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(out.starts_with("appended 7 records to live\n"), "{out}");
}

#[test]
fn follow_started_before_the_producer() {
    let s = Sluice::new();
    s.create_topic("later", 3);
    let mut follower =
        s.command(&["consume", "later", "--follow", "--max", "4"]).stdout(Stdio::piped()).spawn().unwrap();
    let lines = stdout_lines(&mut follower);
    std::thread::sleep(Duration::from_millis(300));
    // The follower holds no lock, so the producer can start.
    s.produce("later", &["1", "2"], &[]);
    s.produce("later", &["3", "4"], &[]);
    let mut got = collect(&lines, 4);
    got.sort();
    assert_eq!(got, ["1", "2", "3", "4"]);
    assert!(wait_timeout(&mut follower, PATIENCE).success());
}

#[test]
fn interrupted_follower_commits_its_group() {
    let s = Sluice::new();
    s.create_topic("g", 2);
    let mut follower =
        s.command(&["consume", "g", "--follow", "--group", "tail"]).stdout(Stdio::piped()).spawn().unwrap();
    let lines = stdout_lines(&mut follower);
    s.produce("g", &[r#"{"k":"a"}"#, r#"{"k":"b"}"#, r#"{"k":"c"}"#], &["--key", "k"]);
    assert_eq!(collect(&lines, 3).len(), 3);

    let status = std::process::Command::new("kill")
        .args(["-INT", &follower.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    assert!(wait_timeout(&mut follower, PATIENCE).success(), "Ctrl-C ends a follower cleanly");

    assert!(s.consume("g", &["--group", "tail"]).is_empty(), "everything printed was committed");
    s.produce("g", &[r#"{"k":"d"}"#], &["--key", "k"]);
    assert_eq!(s.consume("g", &["--group", "tail"]), [r#"{"k":"d"}"#]);
}
