//! Consumer groups: commits are durable per group and partition, a group resumes where it
//! committed, and every `StartFrom` variant starts where it says.

use std::collections::BTreeMap;
use std::time::Duration;

use sluice_log::{Consumer, Log, LogError, StartFrom, TopicConfig};
use sluice_types::PartitionId;

use crate::support::*;

fn positions(c: &Consumer) -> Vec<u64> {
    c.positions().values().copied().collect()
}

#[test]
fn a_group_resumes_after_its_last_commit_even_after_reopen() -> TestResult {
    let (dir, log) = open_temp()?;
    let topic = log.create_topic("t", TopicConfig::new(2))?;
    topic.partitions()[0].append(&records(0, 10))?;
    topic.partitions()[1].append(&records(0, 4))?;

    let mut c = Consumer::new(&log, "t", None, Some("g"), StartFrom::Committed)?;
    assert_eq!(positions(&c), [0, 0], "a group that never committed starts at the earliest");
    let got = c.poll(6, PATIENCE)?;
    assert_eq!(got.len(), 6);
    c.commit()?;
    let committed = log.groups().committed("g", "t")?;
    assert_eq!(&committed, c.positions(), "the commit is the next offset to read");
    // Read more without committing: a restart re-reads it.
    c.poll(100, Duration::ZERO)?;
    drop(c);
    drop(topic);
    drop(log);

    let log = Log::open(dir.path(), fast())?;
    let mut c = Consumer::new(&log, "t", None, Some("g"), StartFrom::Committed)?;
    assert_eq!(c.positions(), &committed);
    let mut rest = c.poll(100, Duration::ZERO)?;
    rest.sort_by_key(|(p, r)| (*p, r.offset));
    let mut all: Vec<(PartitionId, u64)> = got.iter().map(|(p, r)| (*p, r.offset)).collect();
    all.extend(rest.iter().map(|(p, r)| (*p, r.offset)));
    all.sort();
    let want: Vec<(PartitionId, u64)> =
        (0..10).map(|o| (PartitionId(0), o)).chain((0..4).map(|o| (PartitionId(1), o))).collect();
    assert_eq!(all, want, "every record once across the restart");
    assert_eq!(log.groups().groups()?, ["g"]);
    Ok(())
}

#[test]
fn every_start_position_starts_where_it_says() -> TestResult {
    let (_dir, log) = open_temp()?;
    let topic = log.create_topic("t", TopicConfig::new(2))?;
    topic.partitions()[0].append(&records(0, 10))?; // timestamps 1000..1010
    topic.partitions()[1].append(&records(0, 3))?; // timestamps 1000..1003
    log.groups().commit("g", "t", &BTreeMap::from([(PartitionId(0), 7)]))?;

    let at = |start, group| -> TestResult<Vec<u64>> {
        Ok(positions(&Consumer::new(&log, "t", None, group, start)?))
    };
    assert_eq!(at(StartFrom::Earliest, None)?, [0, 0]);
    assert_eq!(at(StartFrom::Latest, None)?, [10, 3]);
    assert_eq!(at(StartFrom::Committed, Some("g"))?, [7, 0], "uncommitted partitions start at the earliest");
    assert_eq!(at(StartFrom::Timestamp(1_005), None)?, [5, 3], "no record that new: the end");
    assert_eq!(at(StartFrom::Timestamp(0), None)?, [0, 0]);
    assert_eq!(at(StartFrom::Offset(5), None)?, [5, 3], "clamped to the end");
    let only_one = Consumer::new(&log, "t", Some(&[PartitionId(1)]), None, StartFrom::Earliest)?;
    assert_eq!(only_one.positions().keys().copied().collect::<Vec<_>>(), [PartitionId(1)]);

    // A group is not needed except to start from, or commit, committed offsets.
    let err = Consumer::new(&log, "t", None, None, StartFrom::Committed).err().ok_or("accepted")?;
    assert!(matches!(err, LogError::InvalidConfig(_)), "{err}");
    let c = Consumer::new(&log, "t", None, None, StartFrom::Earliest)?;
    assert!(matches!(c.commit(), Err(LogError::InvalidConfig(_))));
    // Unknown topics and partitions are errors.
    assert!(matches!(
        Consumer::new(&log, "nope", None, None, StartFrom::Earliest),
        Err(LogError::UnknownTopic(_))
    ));
    assert!(matches!(
        Consumer::new(&log, "t", Some(&[PartitionId(2)]), None, StartFrom::Earliest),
        Err(LogError::UnknownPartition { .. })
    ));
    Ok(())
}

#[test]
fn latest_only_sees_what_is_appended_after_it_started() -> TestResult {
    let (_dir, log) = open_temp()?;
    let p = log.create_topic("t", TopicConfig::new(1))?.partitions()[0].clone();
    p.append(&records(0, 5))?;
    let mut c = Consumer::new(&log, "t", None, None, StartFrom::Latest)?;
    assert!(c.poll(10, Duration::ZERO)?.is_empty());
    p.append(&records(5, 7))?;
    let got: Vec<u64> = c.poll(10, PATIENCE)?.into_iter().map(|(_, r)| r.offset).collect();
    assert_eq!(got, [5, 6]);
    Ok(())
}

#[test]
fn groups_are_independent_and_seek_moves_one_partition() -> TestResult {
    let (_dir, log) = open_temp()?;
    let p = log.create_topic("t", TopicConfig::new(1))?.partitions()[0].clone();
    p.append(&records(0, 10))?;
    let mut a = Consumer::new(&log, "t", None, Some("a"), StartFrom::Committed)?;
    a.poll(3, PATIENCE)?;
    a.commit()?;
    let mut b = Consumer::new(&log, "t", None, Some("b"), StartFrom::Committed)?;
    b.seek(PartitionId(0), 8)?;
    assert!(b.seek(PartitionId(1), 0).is_err());
    b.poll(1, PATIENCE)?;
    b.commit()?;
    assert_eq!(log.groups().committed("a", "t")?, BTreeMap::from([(PartitionId(0), 3)]));
    assert_eq!(log.groups().committed("b", "t")?, BTreeMap::from([(PartitionId(0), 9)]));
    assert_eq!(log.groups().groups()?, ["a", "b"]);
    Ok(())
}
