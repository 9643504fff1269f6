//! Crash safety under `kill -9`: a child process appends (or commits transactions) and prints
//! what each call acknowledged; the parent SIGKILLs it at a varying point, reopens the data
//! dir and checks that what is there is a valid prefix of what the child meant to write and
//! holds at least everything it acknowledged. A killed process keeps its writes in the OS page
//! cache, so nothing acknowledged may be lost whatever the durability policy.
//!
//! The child is this very test binary, re-run with `--exact crash::child --nocapture` and
//! `SLUICE_CRASH_CHILD` set; without that variable `child` does nothing. The same data dir is
//! reused across kills, so every iteration also recovers from the previous one's torn state.
//!
//! `SLUICE_CRASH_ITERATIONS` (default 20) sets the number of kills per test.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use sluice_log::{Durability, Log, LogOptions, TopicConfig};
use sluice_types::{PartitionId, Record};

use crate::support::*;

const CHILD: &str = "SLUICE_CRASH_CHILD";
const DIR: &str = "SLUICE_CRASH_DIR";
const POLICY: &str = "SLUICE_CRASH_DURABILITY";
const ACK: &str = "SLUICE-ACK ";
const TXN_PARTITIONS: u32 = 3;

fn iterations() -> u64 {
    std::env::var("SLUICE_CRASH_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(20)
}

fn policy(name: &str) -> Durability {
    match name {
        "every" => Durability::EveryBatch,
        "interval" => Durability::Interval(Duration::from_millis(5)),
        _ => Durability::Os,
    }
}

/// The record the appending child writes at `offset`, whatever run it is in.
fn intended(offset: u64) -> Record {
    record(offset, offset as i64)
}

/// The records transaction `txn` writes to `partition`: 1 to 4 of them.
fn txn_records(txn: u64, partition: u32) -> Vec<Record> {
    (0..1 + (txn + u64::from(partition)) % 4)
        .map(|j| Record::new(format!("t{txn}-p{partition}-{j}"), txn as i64))
        .collect()
}

/// The child's side: append (or commit) forever, printing the acknowledged count after each
/// call returns, until killed. Does nothing unless run by a crash test.
#[test]
fn child() -> TestResult {
    let Ok(mode) = std::env::var(CHILD) else { return Ok(()) };
    let dir = std::env::var(DIR)?;
    let options = LogOptions::default().durability(policy(&std::env::var(POLICY)?));
    let log = Log::open(&dir, options)?;
    let mut out = std::io::stdout().lock();
    if mode == "append" {
        let p = log.topic("t")?.partitions()[0].clone();
        let mut next = p.end_offset();
        // Bounded so that a child whose parent died goes away by itself.
        while next < 1_000_000 {
            let n = 1 + next % 17;
            let batch: Vec<Record> = (next..next + n).map(intended).collect();
            next = p.append(&batch)?.base_offset + n;
            writeln!(out, "{ACK}{next}")?;
            out.flush()?;
        }
    } else {
        let topic = log.topic("tx")?;
        let mut txn = committed_txns(&read_all(&topic.partitions()[0])?)?;
        while txn < 100_000 {
            let mut tx = log.begin_transaction("crash")?;
            for p in 0..TXN_PARTITIONS {
                tx.append("tx", PartitionId(p), &txn_records(txn, p))?;
            }
            tx.commit()?;
            txn += 1;
            writeln!(out, "{ACK}{txn}")?;
            out.flush()?;
        }
    }
    Ok(())
}

/// Runs the child until it has acknowledged `kill_after` calls, SIGKILLs it, and returns the
/// last count it acknowledged.
fn run_and_kill(mode: &str, dir: &Path, policy: &str, kill_after: usize) -> TestResult<u64> {
    let stderr_path = dir.join("child.stderr");
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--exact", "crash::child", "--nocapture", "--test-threads=1"])
        .env(CHILD, mode)
        .env(DIR, dir.join("data"))
        .env(POLICY, policy)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path)?)
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(n) = line.strip_prefix(ACK).and_then(|n| n.parse::<u64>().ok()) {
                if tx.send(n).is_err() {
                    break;
                }
            }
        }
    });
    let mut acked = 0;
    let mut seen = 0;
    while seen < kill_after {
        match rx.recv_timeout(PATIENCE) {
            Ok(n) => {
                acked = n;
                seen += 1;
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                return Err(format!("child stopped acknowledging after {seen} calls:\n{stderr}").into());
            }
        }
    }
    child.kill()?; // SIGKILL
    child.wait()?;
    reader.join().map_err(|_| "reader panicked")?;
    // Acknowledgements already in the pipe when the child died count too.
    acked = rx.try_iter().last().unwrap_or(acked);
    Ok(acked)
}

/// Where to kill: after 1 to 40 acknowledgements, varying by iteration.
fn kill_point(i: u64) -> usize {
    1 + ((i * 7919) % 40) as usize
}

const POLICIES: [&str; 3] = ["every", "interval", "os"];

#[test]
fn killed_appender_leaves_a_prefix_holding_everything_acknowledged() -> TestResult {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    Log::open(&data, fast())?.create_topic("t", TopicConfig::new(1).segment_bytes(4096))?;
    let mut acked_before = 0;
    for i in 0..iterations() {
        let policy = POLICIES[(i % 3) as usize];
        let acked = run_and_kill("append", dir.path(), policy, kill_point(i))?;
        assert!(acked >= acked_before, "acknowledged counts only grow");
        let log = Log::open(&data, fast())?;
        let p = log.topic("t")?.partitions()[0].clone();
        let end = p.end_offset();
        assert!(end >= acked, "iteration {i} ({policy}): {acked} acknowledged, only {end} survived");
        let got = read_all(&p)?;
        for r in &got {
            assert_eq!(r.record, intended(r.offset), "iteration {i}: offset {}", r.offset);
        }
        assert_eq!(got.len() as u64, end, "dense from 0");
        acked_before = acked;
    }
    Ok(())
}

/// How many whole transactions a partition of the `tx` topic holds, checking that they are
/// the first ones, in order, each complete.
fn committed_txns(records: &[sluice_types::StoredRecord]) -> TestResult<u64> {
    let mut txn = 0;
    let mut rest = records;
    while !rest.is_empty() {
        let partition: u32 = String::from_utf8(rest[0].record.value.to_vec())?
            .split('-')
            .nth(1)
            .and_then(|p| p.strip_prefix('p'))
            .ok_or("value")?
            .parse()?;
        let want = txn_records(txn, partition);
        let have: Vec<Record> = rest.iter().take(want.len()).map(|r| r.record.clone()).collect();
        if have != want {
            return Err(
                format!("transaction {txn} is partial or out of order in partition {partition}").into()
            );
        }
        rest = &rest[want.len()..];
        txn += 1;
    }
    Ok(txn)
}

#[test]
fn killed_transactions_are_all_or_nothing_across_partitions() -> TestResult {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    Log::open(&data, fast())?.create_topic("tx", TopicConfig::new(TXN_PARTITIONS).segment_bytes(4096))?;
    for i in 0..iterations() {
        let policy = POLICIES[(i % 3) as usize];
        let acked = run_and_kill("txn", dir.path(), policy, kill_point(i))?;
        let log = Log::open(&data, fast())?;
        let topic = log.topic("tx")?;
        let counts = topic
            .partitions()
            .iter()
            .map(|p| committed_txns(&read_all(p)?))
            .collect::<TestResult<Vec<u64>>>()?;
        assert!(counts.iter().all(|&c| c == counts[0]), "iteration {i}: partitions disagree: {counts:?}");
        assert!(
            counts[0] >= acked,
            "iteration {i} ({policy}): {acked} commits acknowledged, {} survived",
            counts[0]
        );
        assert!(log.prepared_transactions()?.is_empty());
        assert!(std::fs::read_dir(data.join("txn"))?.next().is_none(), "reopen settled the staging file");
    }
    Ok(())
}
