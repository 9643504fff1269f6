//! Transactions: records are staged outside the partitions and published on commit, so every
//! reader is read-committed. Commit publishes everything, abort and drop nothing; a prepared
//! transaction survives a restart until it is settled; an unprepared one is aborted on reopen;
//! a commit decided (COMMIT entry on disk) but not applied is redone on reopen, exactly once.

use std::path::{Path, PathBuf};

use sluice_log::partitioner::partition_for_key;
use sluice_log::{AppendInfo, Log, LogError, Topic, TopicConfig};
use sluice_types::{PartitionId, Record};

use crate::support::*;

fn txn_records(txn: u64, partition: u32, n: u64) -> Vec<Record> {
    (0..n)
        .map(|i| Record::new(format!("txn{txn}-p{partition}-{i}"), i as i64).with_key(format!("k{i}")))
        .collect()
}

fn staging_path(dir: &Path, id: &str) -> PathBuf {
    dir.join("txn").join(format!("{id}.txn"))
}

fn two_topics(log: &Log) -> TestResult<(Topic, Topic)> {
    Ok((log.create_topic("a", TopicConfig::new(2))?, log.create_topic("b", TopicConfig::new(1))?))
}

fn ends(t: &Topic) -> Vec<u64> {
    t.end_offsets()
}

#[test]
fn commit_publishes_every_partition_and_abort_or_drop_nothing() -> TestResult {
    let (dir, log) = open_temp()?;
    let (a, b) = two_topics(&log)?;
    a.partitions()[1].append(&records(0, 3))?;

    let mut tx = log.begin_transaction("tx")?;
    tx.append("a", PartitionId(0), &txn_records(1, 0, 4))?;
    tx.append("a", PartitionId(1), &txn_records(1, 1, 2))?;
    tx.append("b", PartitionId(0), &txn_records(1, 2, 5))?;
    tx.append("a", PartitionId(0), &txn_records(2, 0, 1))?; // a second append to one partition
    assert!(staging_path(dir.path(), "tx").is_file());
    assert_eq!((ends(&a), ends(&b)), (vec![0, 3], vec![0]), "nothing visible before commit");
    let report = tx.commit()?;
    assert_eq!(
        report,
        [
            ("a".to_owned(), PartitionId(0), AppendInfo { base_offset: 0, count: 5 }),
            ("a".to_owned(), PartitionId(1), AppendInfo { base_offset: 3, count: 2 }),
            ("b".to_owned(), PartitionId(0), AppendInfo { base_offset: 0, count: 5 }),
        ]
    );
    let mut a0 = txn_records(1, 0, 4);
    a0.extend(txn_records(2, 0, 1));
    assert_records(&read_all(&a.partitions()[0])?, 0, &a0);
    assert_records(&read_all(&a.partitions()[1])?[3..], 3, &txn_records(1, 1, 2));
    assert_records(&read_all(&b.partitions()[0])?, 0, &txn_records(1, 2, 5));
    assert!(!staging_path(dir.path(), "tx").exists());

    let mut aborted = log.begin_transaction("tx")?;
    aborted.append("a", PartitionId(0), &txn_records(3, 0, 3))?;
    aborted.abort()?;
    let mut dropped = log.begin_transaction("tx")?;
    dropped.append("b", PartitionId(0), &txn_records(4, 0, 3))?;
    drop(dropped);
    assert_eq!((ends(&a), ends(&b)), (vec![5, 5], vec![5]));
    assert!(std::fs::read_dir(dir.path().join("txn"))?.next().is_none(), "no staging file left");
    assert!(log.prepared_transactions()?.is_empty());
    Ok(())
}

#[test]
fn ids_are_exclusive_and_appends_are_checked() -> TestResult {
    let (_dir, log) = open_temp()?;
    two_topics(&log)?;
    let mut tx = log.begin_transaction("tx")?;
    assert!(matches!(log.begin_transaction("tx"), Err(LogError::Transaction { .. })));
    assert!(matches!(log.begin_transaction("bad/id"), Err(LogError::InvalidName { .. })));
    assert!(matches!(tx.append("nope", PartitionId(0), &records(0, 1)), Err(LogError::UnknownTopic(_))));
    assert!(matches!(tx.append("a", PartitionId(2), &records(0, 1)), Err(LogError::UnknownPartition { .. })));
    tx.append("a", PartitionId(0), &[])?;
    assert_eq!(tx.id(), "tx");
    assert!(tx.commit()?.is_empty(), "an empty transaction commits nothing");
    let _again = log.begin_transaction("tx")?;
    Ok(())
}

#[test]
fn a_commit_lands_after_appends_made_while_it_was_open() -> TestResult {
    let (_dir, log) = open_temp()?;
    let (a, _) = two_topics(&log)?;
    let mut tx = log.begin_transaction("tx")?;
    tx.append("a", PartitionId(0), &txn_records(1, 0, 3))?;
    a.partitions()[0].append(&records(0, 4))?;
    let report = tx.commit()?;
    assert_eq!(report[0].2, AppendInfo { base_offset: 4, count: 3 });
    let mut want = records(0, 4);
    want.extend(txn_records(1, 0, 3));
    assert_records(&read_all(&a.partitions()[0])?, 0, &want);
    Ok(())
}

#[test]
fn send_places_records_by_key_like_kafka() -> TestResult {
    let (_dir, log) = open_temp()?;
    let t = log.create_topic("t", TopicConfig::new(5))?;
    let recs: Vec<Record> = (0..40).map(|i| Record::new("v", i).with_key(format!("user-{i}"))).collect();
    let mut tx = log.begin_transaction("tx")?;
    tx.send("t", recs.clone())?;
    tx.commit()?;
    for p in t.partitions() {
        let want: Vec<Record> = recs
            .iter()
            .filter(|r| partition_for_key(r.key.as_deref().unwrap_or_default(), 5) == p.id())
            .cloned()
            .collect();
        assert_records(&read_all(p)?, 0, &want);
    }
    Ok(())
}

#[test]
fn a_prepared_transaction_survives_reopen_until_settled() -> TestResult {
    let (dir, log) = open_temp()?;
    two_topics(&log)?;
    for id in ["to-commit", "to-abort"] {
        let mut tx = log.begin_transaction(id)?;
        tx.append("a", PartitionId(1), &txn_records(1, 1, 3))?;
        tx.append("b", PartitionId(0), &txn_records(1, 0, 2))?;
        tx.prepare()?;
        assert!(matches!(tx.append("a", PartitionId(0), &records(0, 1)), Err(LogError::Transaction { .. })));
        drop(tx); // a prepared transaction is not aborted by drop
    }
    assert_eq!(log.prepared_transactions()?, ["to-abort", "to-commit"]);
    drop(log);

    let log = Log::open(dir.path(), fast())?;
    let (a, b) = (log.topic("a")?, log.topic("b")?);
    assert_eq!(log.prepared_transactions()?, ["to-abort", "to-commit"]);
    assert_eq!((ends(&a), ends(&b)), (vec![0, 0], vec![0]), "prepared is not committed");
    assert!(matches!(log.begin_transaction("to-commit"), Err(LogError::Transaction { .. })));
    assert!(matches!(log.commit_prepared("unknown"), Err(LogError::Transaction { .. })));

    let report = log.commit_prepared("to-commit")?;
    assert_eq!(report.len(), 2);
    log.abort_prepared("to-abort")?;
    assert_records(&read_all(&a.partitions()[1])?, 0, &txn_records(1, 1, 3));
    assert_records(&read_all(&b.partitions()[0])?, 0, &txn_records(1, 0, 2));
    assert!(log.prepared_transactions()?.is_empty());
    assert!(matches!(log.abort_prepared("to-abort"), Err(LogError::Transaction { .. })));
    drop((a, b, log));
    let log = Log::open(dir.path(), fast())?;
    assert_eq!(ends(&log.topic("a")?), [0, 3], "settled once, not again on reopen");
    Ok(())
}

#[test]
fn an_abandoned_unprepared_transaction_is_aborted_on_reopen() -> TestResult {
    let (dir, log) = open_temp()?;
    two_topics(&log)?;
    let mut tx = log.begin_transaction("lost")?;
    tx.append("a", PartitionId(0), &txn_records(1, 0, 3))?;
    // What a crash leaves behind: the staging file as it was while the transaction was open.
    let staged = std::fs::read(staging_path(dir.path(), "lost"))?;
    drop(tx);
    drop(log);
    std::fs::write(staging_path(dir.path(), "lost"), staged)?;

    let log = Log::open(dir.path(), fast())?;
    assert!(!staging_path(dir.path(), "lost").exists());
    assert!(log.prepared_transactions()?.is_empty());
    assert_eq!(ends(&log.topic("a")?), [0, 0]);
    log.begin_transaction("lost")?.commit()?;
    Ok(())
}

/// The COMMIT entry of a staging file, as `txn::staging` writes it.
fn commit_entry(parts: &[(&str, u32, u64, u64)]) -> Vec<u8> {
    let mut payload = vec![3u8];
    payload.extend_from_slice(&(parts.len() as u32).to_le_bytes());
    for (topic, partition, base, count) in parts {
        payload.extend_from_slice(&(topic.len() as u16).to_le_bytes());
        payload.extend_from_slice(topic.as_bytes());
        payload.extend_from_slice(&partition.to_le_bytes());
        payload.extend_from_slice(&base.to_le_bytes());
        payload.extend_from_slice(&count.to_le_bytes());
    }
    frame(&payload)
}

/// A data dir holding a transaction that decided to commit (its COMMIT entry is on disk) and
/// crashed before or while appending to its partitions: `applied` says which partitions of
/// topic `a` already have their records. Returns the dir and the staged records.
fn decided_but_not_applied(applied: &[u32]) -> TestResult<(tempfile::TempDir, Vec<Vec<Record>>)> {
    let (dir, log) = open_temp()?;
    let (a, _) = two_topics(&log)?;
    a.partitions()[0].append(&records(0, 2))?; // so that base offsets differ
    let staged = vec![txn_records(1, 0, 3), txn_records(1, 1, 4)];
    let mut tx = log.begin_transaction("decided")?;
    for (p, recs) in staged.iter().enumerate() {
        tx.append("a", PartitionId(p as u32), recs)?;
    }
    tx.prepare()?;
    drop(tx);
    let path = staging_path(dir.path(), "decided");
    let mut bytes = std::fs::read(&path)?;
    bytes.extend(commit_entry(&[("a", 0, 2, 3), ("a", 1, 0, 4)]));
    for &p in applied {
        a.partitions()[p as usize].append(&staged[p as usize])?;
    }
    drop((a, log));
    std::fs::write(&path, bytes)?;
    Ok((dir, staged))
}

fn check_redone_once(dir: &Path, staged: &[Vec<Record>]) -> TestResult {
    for round in 0..2 {
        let log = Log::open(dir, fast())?;
        assert!(!staging_path(dir, "decided").exists(), "round {round}");
        assert!(log.prepared_transactions()?.is_empty());
        let a = log.topic("a")?;
        let mut p0 = records(0, 2);
        p0.extend(staged[0].iter().cloned());
        assert_records(&read_all(&a.partitions()[0])?, 0, &p0);
        assert_records(&read_all(&a.partitions()[1])?, 0, &staged[1]);
    }
    Ok(())
}

#[test]
fn a_decided_commit_is_redone_on_reopen_exactly_once() -> TestResult {
    for applied in [&[][..], &[0], &[1], &[0, 1]] {
        let (dir, staged) = decided_but_not_applied(applied)?;
        check_redone_once(dir.path(), &staged)?;
    }
    Ok(())
}

#[test]
fn a_torn_commit_entry_decides_nothing() -> TestResult {
    let (dir, log) = open_temp()?;
    two_topics(&log)?;
    for id in ["plain", "prepared"] {
        let mut tx = log.begin_transaction(id)?;
        tx.append("a", PartitionId(0), &txn_records(1, 0, 3))?;
        if id == "prepared" {
            tx.prepare()?;
        }
        let mut bytes = std::fs::read(staging_path(dir.path(), id))?;
        let entry = commit_entry(&[("a", 0, 0, 3)]);
        bytes.extend_from_slice(&entry[..entry.len() - 5]);
        drop(tx);
        std::fs::write(staging_path(dir.path(), id), bytes)?;
    }
    drop(log);
    let log = Log::open(dir.path(), fast())?;
    assert_eq!(ends(&log.topic("a")?), [0, 0]);
    assert_eq!(log.prepared_transactions()?, ["prepared"], "the unprepared one was aborted");
    log.abort_prepared("prepared")?;
    Ok(())
}

#[test]
fn concurrent_transactions_keep_each_commit_contiguous() -> TestResult {
    let (_dir, log) = open_temp()?;
    let topic = log.create_topic("t", TopicConfig::new(3))?;
    let threads: Vec<_> = (0..4u64)
        .map(|w| {
            let log = log.clone();
            std::thread::spawn(move || -> Result<(), LogError> {
                for i in 0..15 {
                    let txn = w * 100 + i;
                    let mut tx = log.begin_transaction(&format!("w{w}"))?;
                    for p in 0..3 {
                        tx.append("t", PartitionId(p), &txn_records(txn, p, 1 + (txn + u64::from(p)) % 4))?;
                    }
                    if i % 5 == 4 {
                        tx.abort()?;
                    } else {
                        tx.commit()?;
                    }
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| "transaction thread panicked")??;
    }
    for p in topic.partitions() {
        // Cut the partition into runs of one transaction: each committed transaction appears
        // exactly once, whole and contiguous; aborted ones never.
        let mut runs: Vec<(String, usize)> = Vec::new();
        for r in read_all(p)? {
            let value = String::from_utf8(r.record.value.to_vec())?;
            let txn = value.split('-').next().ok_or("value")?.to_owned();
            match runs.last_mut() {
                Some((t, n)) if *t == txn => *n += 1,
                _ => runs.push((txn, 1)),
            }
        }
        let mut want: Vec<(String, usize)> = (0..4u64)
            .flat_map(|w| (0..15).filter(|i| i % 5 != 4).map(move |i| w * 100 + i))
            .map(|txn| (format!("txn{txn}"), (1 + (txn + u64::from(p.id().0)) % 4) as usize))
            .collect();
        let mut got = runs.clone();
        got.sort();
        want.sort();
        assert_eq!(got, want, "partition {}", p.id());
    }
    Ok(())
}
