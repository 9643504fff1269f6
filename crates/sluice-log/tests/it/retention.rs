//! Retention deletes whole closed segments — by total size or by the age of their newest
//! record — never the active one. The log start moves to the oldest remaining segment, and
//! reading below it is `OffsetOutOfRange`.

use std::time::{SystemTime, UNIX_EPOCH};

use sluice_log::{Consumer, Log, LogError, Partition, StartFrom, TopicConfig};
use sluice_types::{PartitionId, Record};

use crate::support::*;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Bytes of the segment and index files (not the small `recovery-point` bookkeeping file).
fn disk_bytes(dir: &std::path::Path) -> TestResult<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(partition_dir(dir, "t", 0))? {
        let e = e?;
        if e.path().extension().is_some_and(|x| x == "log" || x == "index" || x == "timeindex") {
            total += e.metadata()?.len();
        }
    }
    Ok(total)
}

fn base_of(path: &std::path::Path) -> TestResult<u64> {
    Ok(path.file_stem().and_then(|s| s.to_str()).ok_or("name")?.parse()?)
}

/// Reads below the start fail with `OffsetOutOfRange` naming the start; reads from it work.
fn check_start(p: &Partition, all: &[Record]) -> TestResult {
    let start = p.log_start_offset();
    if start > 0 {
        let err = p.read(start - 1, 1).err().ok_or("read below the log start succeeded")?;
        assert!(
            matches!(err, LogError::OffsetOutOfRange { requested, log_start, .. } if requested == start - 1 && log_start == start),
            "{err}"
        );
        assert!(p.read(0, 1).is_err());
    }
    assert_records(&read_all(p)?, start, &all[start as usize..]);
    Ok(())
}

#[test]
fn size_retention_deletes_the_oldest_closed_segments() -> TestResult {
    let (dir, log) = open_temp()?;
    let limit = 10_000;
    let cfg = TopicConfig::new(1).segment_bytes(2048).retention_bytes(Some(limit));
    let p = log.create_topic("t", cfg)?.partitions()[0].clone();
    let all = records(0, 400);
    for chunk in all.chunks(3) {
        p.append(chunk)?;
    }
    log.enforce_retention()?;
    let stats = p.stats();
    assert!(stats.log_start > 0, "{stats:?}");
    assert_eq!(stats.bytes, disk_bytes(dir.path())?, "stats count the files on disk");
    assert!(stats.bytes <= limit, "{stats:?}");
    // It deleted no more than needed: closed segments hold close to 2 KiB each, so keeping one
    // more would have broken the limit.
    assert!(stats.bytes + 2048 > limit, "{stats:?}");
    let files = segment_files(dir.path(), "t", 0)?;
    assert_eq!(files.len(), stats.segments);
    assert_eq!(base_of(&files[0])?, stats.log_start, "the start is the oldest segment's base");
    check_start(&p, &all)?;

    // The start survives a reopen.
    drop(p);
    drop(log);
    let log = Log::open(dir.path(), fast())?;
    let p = log.topic("t")?.partitions()[0].clone();
    assert_eq!(p.log_start_offset(), stats.log_start);
    check_start(&p, &all)
}

#[test]
fn the_active_segment_is_never_deleted() -> TestResult {
    let (_dir, log) = open_temp()?;
    // Retention that every segment breaks: 1 byte, and records a year old.
    let cfg = TopicConfig::new(1).segment_bytes(2048).retention_bytes(Some(1)).retention_ms(Some(1));
    let p = log.create_topic("t", cfg)?.partitions()[0].clone();
    let all: Vec<Record> = (0..200).map(|i| record(i, now_ms() - 365 * 86_400_000)).collect();
    for chunk in all.chunks(4) {
        p.append(chunk)?;
    }
    log.enforce_retention()?;
    let stats = p.stats();
    assert_eq!(stats.segments, 1, "{stats:?}");
    assert!(stats.log_start > 0 && stats.log_start < stats.end, "{stats:?}");
    check_start(&p, &all)?;
    assert_eq!(log.enforce_retention()?, 0, "nothing left to delete");
    Ok(())
}

/// Appends the next record of `all` with timestamp `ts`; returns its offset.
fn append_at(p: &Partition, all: &mut Vec<Record>, ts: i64) -> TestResult<u64> {
    let r = record(all.len() as u64, ts);
    let info = p.append(std::slice::from_ref(&r))?;
    all.push(r);
    Ok(info.base_offset)
}

#[test]
fn age_retention_deletes_segments_whose_newest_record_is_too_old() -> TestResult {
    let (dir, log) = open_temp()?;
    let hour = 3_600_000;
    let cfg = TopicConfig::new(1).segment_bytes(2048).retention_ms(Some(hour as u64));
    let p = log.create_topic("t", cfg)?.partitions()[0].clone();
    let now = now_ms();
    let mut all = Vec::new();
    // Two hours old, then fresh, one record per append so that segments end where we say.
    for _ in 0..60 {
        append_at(&p, &mut all, now - 2 * hour)?;
    }
    let fresh_from = append_at(&p, &mut all, now)?;
    for _ in 0..60 {
        append_at(&p, &mut all, now)?;
    }
    log.enforce_retention()?;
    let start = p.log_start_offset();
    // Every segment holding only old records is gone; the one holding the first fresh record
    // (whose newest record is fresh) is kept.
    assert!(start > 0 && start <= fresh_from, "start {start}, first fresh record {fresh_from}");
    for f in segment_files(dir.path(), "t", 0)? {
        let base = base_of(&f)?;
        assert!(base >= start);
    }
    let oldest = &p.read(start, 1 << 20)?;
    let seg_max = oldest.iter().map(|r| r.record.timestamp).max().ok_or("empty")?;
    assert_eq!(seg_max, now, "the oldest remaining segment has a fresh record");
    check_start(&p, &all)
}

#[test]
fn consumers_behind_the_start_resume_at_the_start_or_fail_loudly() -> TestResult {
    let (_dir, log) = open_temp()?;
    let cfg = TopicConfig::new(1).segment_bytes(2048).retention_bytes(Some(6_000));
    let p = log.create_topic("t", cfg)?.partitions()[0].clone();
    let all = records(0, 50);
    p.append(&all)?;
    let mut c = Consumer::new(&log, "t", None, Some("g"), StartFrom::Earliest)?;
    c.poll(5, PATIENCE)?;
    c.commit()?;
    let all2 = records(50, 600);
    p.append(&all2)?;
    log.enforce_retention()?;
    let start = p.log_start_offset();
    assert!(start > 5);
    // A group whose committed offset was deleted resumes at the start.
    let c2 = Consumer::new(&log, "t", None, Some("g"), StartFrom::Committed)?;
    assert_eq!(c2.positions()[&PartitionId(0)], start);
    // A consumer that is already positioned there gets an error, not a silent skip.
    let mut c3 = Consumer::new(&log, "t", None, None, StartFrom::Earliest)?;
    c3.seek(PartitionId(0), 0)?;
    assert!(matches!(c3.poll(1, PATIENCE), Err(LogError::OffsetOutOfRange { .. })));
    Ok(())
}
