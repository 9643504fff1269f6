//! Keyed records land on the partition Kafka's default partitioner would choose
//! (`toPositive(murmur2(key)) % partitions`); keyless records of one call stay together.

use sluice_log::partitioner::{murmur2, partition_for_key};
use sluice_log::TopicConfig;
use sluice_types::{PartitionId, Record};

use crate::support::*;

/// Hashes from Kafka's `UtilsTest.testMurmur2`, and the partitions they give.
#[test]
fn placement_matches_kafka_for_its_own_test_vectors() {
    assert_eq!(murmur2(b"21"), -973_932_308);
    assert_eq!(murmur2(b"foobar"), -790_332_482);
    assert_eq!(murmur2(b"abc"), 479_470_107);
    // (-790332482 & 0x7fffffff) = 1357151166; % 12 = 6, % 100 = 66.
    assert_eq!(partition_for_key(b"foobar", 12), PartitionId(6));
    assert_eq!(partition_for_key(b"foobar", 100), PartitionId(66));
    assert_eq!(partition_for_key(b"21", 7), PartitionId(3));
}

#[test]
fn topic_append_puts_each_keyed_record_on_its_murmur2_partition() -> TestResult {
    let (_dir, log) = open_temp()?;
    let topic = log.create_topic("t", TopicConfig::new(12))?;
    let recs: Vec<Record> =
        (0..200).map(|i| Record::new(format!("v{i}"), i).with_key(format!("key-{i}"))).collect();
    let placed = topic.append(recs.clone())?;
    assert_eq!(placed.iter().map(|(_, info)| info.count).sum::<u64>(), 200);
    for p in topic.partitions() {
        let want: Vec<Record> = recs
            .iter()
            .filter(|r| partition_for_key(r.key.as_deref().unwrap_or_default(), 12) == p.id())
            .cloned()
            .collect();
        assert_records(&read_all(p)?, 0, &want);
    }
    assert_eq!(topic.partition_for(Some(b"foobar")), PartitionId(6));
    Ok(())
}

#[test]
fn keyless_records_of_one_call_stay_together_and_calls_rotate() -> TestResult {
    let (_dir, log) = open_temp()?;
    let topic = log.create_topic("t", TopicConfig::new(3))?;
    let mut used = Vec::new();
    for call in 0..6 {
        let placed = topic.append((0..5).map(|i| Record::new("v", call * 10 + i)).collect())?;
        assert_eq!(placed.len(), 1, "one partition per call");
        used.push(placed[0].0);
    }
    let mut distinct = used.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "round robin over calls: {used:?}");
    assert_eq!(topic.end_offsets().iter().sum::<u64>(), 30);
    Ok(())
}
