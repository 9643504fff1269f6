//! Readers run concurrently with the writer: a tail reader blocks on `wait_for` or
//! `Consumer::poll` (no busy loop) and sees every record exactly once, in order. Timeouts here
//! are only upper bounds: every wait returns as soon as data arrives.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use sluice_log::{Consumer, StartFrom, TopicConfig};
use sluice_types::PartitionId;

use crate::support::*;

const N: u64 = 3_000;

#[test]
fn a_tail_reader_blocked_in_wait_for_sees_every_record_once_in_order() -> TestResult {
    let (_dir, log) = open_temp()?;
    let p = small_topic(&log, "t", 4096, 512)?.partitions()[0].clone();
    let reader = {
        let p = p.clone();
        std::thread::spawn(move || -> Result<Vec<u64>, String> {
            let mut seen = Vec::new();
            let mut next = 0;
            while next < N {
                if !p.wait_for(next, PATIENCE) {
                    return Err(format!("no data past {next} within {PATIENCE:?}"));
                }
                for r in p.read(next, 4096).map_err(|e| e.to_string())? {
                    assert_eq!(r.record, record(r.offset, 1_000 + r.offset as i64));
                    seen.push(r.offset);
                    next = r.offset + 1;
                }
            }
            Ok(seen)
        })
    };
    let mut n = 0;
    while n < N {
        let k = (1 + n % 13).min(N - n);
        p.append(&records(n, n + k))?;
        n += k;
    }
    let seen = reader.join().map_err(|_| "reader panicked")??;
    assert_eq!(seen, (0..N).collect::<Vec<_>>());
    assert!(p.stats().segments > 10, "the reader crossed segment rolls");
    Ok(())
}

#[test]
fn wait_for_returns_false_only_when_nothing_came() -> TestResult {
    let (_dir, log) = open_temp()?;
    let p = log.create_topic("t", TopicConfig::new(1))?.partitions()[0].clone();
    assert!(!p.wait_for(0, Duration::from_millis(1)));
    p.append(&records(0, 1))?;
    assert!(p.wait_for(0, Duration::ZERO), "data already there: no waiting");
    assert!(!p.wait_for(1, Duration::from_millis(1)));
    let rx = p.subscribe();
    assert_eq!(*rx.borrow(), 1);
    p.append(&records(1, 3))?;
    assert_eq!(*rx.borrow(), 3, "the watch channel carries the end offset");
    Ok(())
}

#[test]
fn a_consumer_of_many_partitions_polls_every_record_once_while_writers_append() -> TestResult {
    let (_dir, log) = open_temp()?;
    let mut cfg = TopicConfig::new(3).segment_bytes(4096);
    cfg.index_interval_bytes = 512;
    let topic = log.create_topic("t", cfg)?;
    let per_partition = 1_000u64;
    // Writers start together, one per partition, so appends interleave.
    let start = Arc::new(Barrier::new(4));
    let writers: Vec<_> = topic
        .partitions()
        .iter()
        .cloned()
        .map(|p| {
            let start = Arc::clone(&start);
            std::thread::spawn(move || -> Result<(), String> {
                start.wait();
                let mut n = 0;
                while n < per_partition {
                    let k = (1 + n % 7).min(per_partition - n);
                    p.append(&records(n, n + k)).map_err(|e| e.to_string())?;
                    n += k;
                }
                Ok(())
            })
        })
        .collect();
    let mut consumer = Consumer::new(&log, "t", None, Some("g"), StartFrom::Committed)?.fetch_bytes(2048);
    start.wait();
    let mut next = [0u64; 3];
    let mut total = 0;
    while total < 3 * per_partition {
        let batch = consumer.poll(500, PATIENCE)?;
        assert!(!batch.is_empty(), "poll timed out after {total} records");
        for (PartitionId(p), r) in batch {
            assert_eq!(r.offset, next[p as usize], "partition {p}: offsets in order, none twice");
            assert_eq!(r.record, record(r.offset, 1_000 + r.offset as i64));
            next[p as usize] += 1;
            total += 1;
        }
    }
    for w in writers {
        w.join().map_err(|_| "writer panicked")??;
    }
    assert!(consumer.caught_up());
    assert!(consumer.poll(10, Duration::from_millis(1))?.is_empty());
    Ok(())
}
