//! `kill -9` of a producer: the topic then holds exactly a prefix of the input (one partition
//! keeps the input order), at least as long as the last `acknowledged N` the producer printed.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::Sluice;

const LINES: u64 = 300_000;

/// Collects the child's stderr; the first progress line is also sent on `first_ack`.
fn watch_stderr(child: &mut Child, first_ack: mpsc::Sender<()>) -> JoinHandle<Vec<String>> {
    let stderr = child.stderr.take().expect("piped stderr");
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.starts_with("acknowledged ") {
                let _ = first_ack.send(());
            }
            seen.push(line);
        }
        seen
    })
}

/// Kills the producer after its first progress line (or lets it be if it already finished),
/// then checks the topic against the input. Returns how many records the topic holds.
fn kill_and_check(s: &Sluice, topic: &str, mut producer: Child, input: &[String]) -> usize {
    let (tx, rx) = mpsc::channel();
    let stderr = watch_stderr(&mut producer, tx);
    rx.recv_timeout(Duration::from_secs(120)).expect("a progress line on stderr");
    producer.kill().expect("SIGKILL the producer");
    producer.wait().expect("reap the producer");
    let stderr = stderr.join().expect("stderr reader");
    let acknowledged: usize = stderr
        .iter()
        .filter_map(|l| l.strip_prefix("acknowledged ")?.strip_suffix(" records")?.parse().ok())
        .next_back()
        .expect("an acknowledged count");

    let got = s.consume(topic, &[]);
    eprintln!("{topic}: {acknowledged} acknowledged, {} kept of {}", got.len(), input.len());
    assert!(got.len() >= acknowledged, "{} records in the topic, {acknowledged} acknowledged", got.len());
    assert!(got.len() <= input.len());
    if let Some(i) = got.iter().zip(input).position(|(g, want)| g != want) {
        panic!("record {i} is {:?}, expected input line {:?}", got[i], input[i]);
    }

    // Reopening for writing recovers (truncates any torn tail) and appends after the prefix.
    s.produce(topic, &[r#"{"after":"crash"}"#], &[]);
    let again = s.consume(topic, &[]);
    assert_eq!(again.len(), got.len() + 1);
    assert_eq!(again.last().map(String::as_str), Some(r#"{"after":"crash"}"#));
    got.len()
}

#[test]
fn killed_while_producing_from_stdin() {
    let s = Sluice::new();
    s.create_topic("crash", 1);
    let (_, input) = s.generate("views.jsonl", LINES, 1);
    let mut producer = s
        .command(&["produce", "crash", "--batch", "500"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Feed the input at a bounded pace (at most ~125k lines/s), so that the kill, which waits
    // for the first progress line (after 1 s), lands mid-way.
    let mut stdin = producer.stdin.take().unwrap();
    let chunks: Vec<String> = input.chunks(5000).map(|c| c.join("\n") + "\n").collect();
    let feeder = std::thread::spawn(move || {
        for chunk in chunks {
            if stdin.write_all(chunk.as_bytes()).is_err() {
                return; // killed
            }
            std::thread::sleep(Duration::from_millis(40));
        }
    });
    let kept = kill_and_check(&s, "crash", producer, &input);
    feeder.join().unwrap();
    assert!(kept < input.len(), "the kill should land before the end of the input");
}

#[test]
fn killed_while_producing_from_a_file() {
    let s = Sluice::new();
    s.create_topic("crash", 1);
    let (file, input) = s.generate("views.jsonl", LINES, 2);
    // Fsyncing small batches slows the producer down so that the kill usually lands mid-way;
    // if it finished first, the whole input must be there, which is checked the same way.
    let producer = s
        .command(&[
            "produce",
            "crash",
            "--file",
            file.to_str().unwrap(),
            "--durability",
            "every-batch",
            "--batch",
            "100",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    kill_and_check(&s, "crash", producer, &input);
}
