//! Append and read back across segment rolls: every field of every record survives, offsets
//! are dense, and a partition of many small segments reads like one.

use sluice_log::{LogError, TopicConfig};
use sluice_types::{Bytes, Record};

use crate::support::*;

#[test]
fn records_round_trip_across_segment_rolls() -> TestResult {
    let (dir, log) = open_temp()?;
    let topic = small_topic(&log, "t", 4096, 512)?;
    let p = &topic.partitions()[0];
    let mut want = Vec::new();
    for batch in 0..60u64 {
        let recs = records(want.len() as u64, want.len() as u64 + 1 + batch % 7);
        let info = p.append(&recs)?;
        assert_eq!((info.base_offset, info.count), (want.len() as u64, recs.len() as u64));
        want.extend(recs);
        assert_eq!(p.end_offset(), want.len() as u64);
    }
    let stats = p.stats();
    assert!(stats.segments > 3, "4 KiB segments should have rolled: {stats:?}");
    assert_eq!(segment_files(dir.path(), "t", 0)?.len(), stats.segments);
    assert_eq!((stats.log_start, stats.end), (0, want.len() as u64));
    assert_records(&read_all(p)?, 0, &want);
    Ok(())
}

#[test]
fn every_field_survives_including_nulls_and_empties() -> TestResult {
    let (_dir, log) = open_temp()?;
    let p = log.create_topic("t", TopicConfig::new(1))?.partitions()[0].clone();
    let want = vec![
        Record::new("", i64::MIN),
        Record::new(Bytes::from(vec![0u8, 255, 7]), i64::MAX).with_key(""),
        Record::new("v", -5).with_key(Bytes::from(vec![0xff; 300])),
        Record::new("h", 0)
            .with_header("", None)
            .with_header("empty", Some(Bytes::new()))
            .with_header("ü-utf8", Some(Bytes::from_static(b"\x00\x01"))),
    ];
    p.append(&want)?;
    assert_records(&p.read(0, usize::MAX)?, 0, &want);
    Ok(())
}

#[test]
fn a_record_bigger_than_a_segment_gets_a_segment_of_its_own() -> TestResult {
    let (_dir, log) = open_temp()?;
    let topic = small_topic(&log, "t", 1024, 4096)?;
    let p = &topic.partitions()[0];
    let big = Record::new(vec![b'x'; 10_000], 1);
    let want = vec![Record::new("a", 0), big.clone(), Record::new("b", 2)];
    for r in &want {
        p.append(std::slice::from_ref(r))?;
    }
    assert_eq!(p.stats().segments, 3);
    assert_records(&read_all(p)?, 0, &want);
    // A read budget smaller than the record still returns it: reads always make progress.
    assert_records(&p.read(1, 1)?, 1, &want[1..2]);
    Ok(())
}

#[test]
fn large_appends_are_split_into_batches_and_stay_dense() -> TestResult {
    let (_dir, log) = open_temp()?;
    let p = log.create_topic("t", TopicConfig::new(1))?.partitions()[0].clone();
    // ~3 MiB in one call: more than one 1 MiB batch.
    let want: Vec<Record> = (0..3_000).map(|i| Record::new(vec![i as u8; 1000], i)).collect();
    let info = p.append(&want)?;
    assert_eq!((info.base_offset, info.count), (0, 3_000));
    assert_records(&read_all(&p)?, 0, &want);
    Ok(())
}

#[test]
fn empty_appends_change_nothing_and_oversized_records_are_refused() -> TestResult {
    let (_dir, log) = open_temp()?;
    let p = log.create_topic("t", TopicConfig::new(1))?.partitions()[0].clone();
    p.append(&records(0, 3))?;
    let info = p.append(&[])?;
    assert_eq!((info.base_offset, info.count), (3, 0));
    let huge = Record::new(vec![0u8; (8 << 20) + 1], 0);
    let err = p.append(&[Record::new("ok", 0), huge]).err().ok_or("oversized record accepted")?;
    assert!(matches!(err, LogError::RecordTooLarge { limit, .. } if limit == 8 << 20), "{err}");
    // Refused whole: nothing of the call was appended, and the partition still works.
    assert_eq!(p.end_offset(), 3);
    p.append(&records(3, 4))?;
    assert_records(&read_all(&p)?, 0, &records(0, 4));
    Ok(())
}
