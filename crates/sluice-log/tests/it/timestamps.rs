//! `offset_for_timestamp` returns the FIRST offset whose timestamp is `>= t`, even when
//! timestamps go backwards inside batches, across batches and across segments. Checked against
//! a brute-force scan for every interesting `t`.

use sluice_log::{Consumer, Log, Partition, StartFrom, TopicConfig};
use sluice_types::Record;

use crate::support::*;

/// A deterministic xorshift stream, so that failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Out-of-order timestamps: a slowly rising trend with jitter of up to ±400 ms, and now and
/// then a record from far in the past or the future.
fn jittery_records(n: u64, seed: u64) -> Vec<Record> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|i| {
            let r = rng.next();
            let ts = match r % 50 {
                0 => 10,
                1 => 1_000_000,
                _ => 5_000 + i as i64 * 10 + (r % 800) as i64 - 400,
            };
            record(i, ts)
        })
        .collect()
}

fn brute_force(records: &[Record], first: u64, t: i64) -> Option<u64> {
    records.iter().position(|r| r.timestamp >= t).map(|i| first + i as u64)
}

/// Checks every distinct timestamp, its neighbours, and the extremes.
fn check_all(p: &Partition, retained: &[Record], first: u64) -> TestResult {
    let mut ts: Vec<i64> =
        retained.iter().flat_map(|r| [r.timestamp - 1, r.timestamp, r.timestamp + 1]).collect();
    ts.extend([i64::MIN, i64::MAX]);
    ts.sort_unstable();
    ts.dedup();
    for t in ts {
        assert_eq!(p.offset_for_timestamp(t)?, brute_force(retained, first, t), "t = {t}");
    }
    Ok(())
}

fn fill(log: &Log, index_interval: u32, seed: u64) -> TestResult<(Partition, Vec<Record>)> {
    let p = small_topic(log, "t", 2048, index_interval)?.partitions()[0].clone();
    let all = jittery_records(600, seed);
    for chunk in all.chunks(7) {
        p.append(chunk)?;
    }
    assert!(p.stats().segments > 5);
    Ok((p, all))
}

#[test]
fn first_offset_at_or_after_t_with_out_of_order_timestamps() -> TestResult {
    for (interval, seed) in [(64, 1), (512, 2), (1 << 20, 3)] {
        let (_dir, log) = open_temp()?;
        let (p, all) = fill(&log, interval, seed)?;
        check_all(&p, &all, 0)?;
    }
    Ok(())
}

#[test]
fn lookups_agree_after_reopen_from_index_files() -> TestResult {
    let (dir, log) = open_temp()?;
    let (p, all) = fill(&log, 64, 4)?;
    drop((p, log));
    let log = Log::open(dir.path(), fast())?;
    check_all(&log.topic("t")?.partitions()[0], &all, 0)
}

#[test]
fn lookups_ignore_records_deleted_by_retention() -> TestResult {
    let (_dir, log) = open_temp()?;
    let mut cfg = TopicConfig::new(1).segment_bytes(2048).retention_bytes(Some(8 * 1024));
    cfg.index_interval_bytes = 64;
    let p = log.create_topic("t", cfg)?.partitions()[0].clone();
    let all = jittery_records(600, 5);
    for chunk in all.chunks(7) {
        p.append(chunk)?;
    }
    log.enforce_retention()?;
    let start = p.log_start_offset();
    assert!(start > 0, "retention should have deleted segments");
    check_all(&p, &all[start as usize..], start)
}

#[test]
fn a_consumer_starting_from_a_timestamp_starts_at_the_lookup() -> TestResult {
    let (_dir, log) = open_temp()?;
    let (p, all) = fill(&log, 64, 6)?;
    for t in [0, 5_000, 7_777, 9_000, 2_000_000] {
        let c = Consumer::new(&log, "t", None, None, StartFrom::Timestamp(t))?;
        let want = brute_force(&all, 0, t).unwrap_or(p.end_offset());
        assert_eq!(c.positions().values().copied().collect::<Vec<_>>(), [want], "t = {t}");
    }
    Ok(())
}
