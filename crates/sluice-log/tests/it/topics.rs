//! Creating, listing, describing and deleting topics, and the errors around them.

use std::collections::BTreeMap;

use sluice_log::{Log, LogError, TopicConfig};
use sluice_types::PartitionId;

use crate::support::*;

#[test]
fn create_list_describe_delete_and_recreate() -> TestResult {
    let (dir, log) = open_temp()?;
    let t = log.create_topic("events", TopicConfig::new(3).retention_bytes(Some(1 << 30)))?;
    log.create_topic("other", TopicConfig::new(1))?;
    assert_eq!(log.topic_names(), ["events", "other"]);
    assert_eq!((t.name(), t.partition_count(), t.partitions().len()), ("events", 3, 3));
    assert_eq!(t.config().retention_bytes, Some(1 << 30));
    t.partitions()[2].append(&records(0, 7))?;
    let stats = t.stats();
    assert_eq!(stats.iter().map(|s| s.end).collect::<Vec<_>>(), [0, 0, 7]);
    assert_eq!(stats[2].max_timestamp, Some(1_006));
    assert_eq!(stats[0].max_timestamp, None);
    assert!(stats[2].bytes > stats[0].bytes);
    assert_eq!(t.end_offsets(), [0, 0, 7]);
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("topics/events/topic.json"))?)?;
    assert_eq!(meta["config"]["partitions"], 3);

    log.groups().commit("g", "events", &BTreeMap::from([(PartitionId(2), 7)]))?;
    log.groups().commit("g", "other", &BTreeMap::from([(PartitionId(0), 0)]))?;
    drop(t);
    log.delete_topic("events")?;
    assert_eq!(log.topic_names(), ["other"]);
    assert!(!dir.path().join("topics/events").exists());
    assert!(matches!(log.topic("events"), Err(LogError::UnknownTopic(_))));
    assert!(log.groups().committed("g", "events")?.is_empty(), "the groups forgot the topic");
    assert_eq!(log.groups().describe("g")?.keys().collect::<Vec<_>>(), ["other"]);

    let again = log.create_topic("events", TopicConfig::new(1))?;
    assert_eq!(again.end_offsets(), [0], "a recreated topic starts empty");
    drop(again);
    drop(log);
    let log = Log::open(dir.path(), fast())?;
    assert_eq!(log.topic_names(), ["events", "other"]);
    assert_eq!(log.topic("events")?.partition_count(), 1);
    Ok(())
}

#[test]
fn bad_names_configs_and_lookups_are_user_errors() -> TestResult {
    let (_dir, log) = open_temp()?;
    log.create_topic("t", TopicConfig::new(1))?;
    let user = sluice_types::ErrorKind::User;
    let errors = [
        log.create_topic("t", TopicConfig::new(1)).err(),
        log.create_topic("a/b", TopicConfig::new(1)).err(),
        log.create_topic("..", TopicConfig::new(1)).err(),
        log.create_topic("x", TopicConfig::new(0)).err(),
        log.create_topic("x", TopicConfig::new(1).segment_bytes(10)).err(),
        log.create_topic("x", TopicConfig::new(1).segment_ms(0)).err(),
        log.topic("missing").err(),
        log.delete_topic("missing").err(),
        log.topic("t")?.partition(PartitionId(1)).err(),
    ];
    for e in errors {
        let e = e.ok_or("an invalid request was accepted")?;
        assert_eq!(e.kind(), user, "{e}");
        assert_eq!(e.retry(), sluice_types::Retry::No, "{e}");
    }
    assert!(matches!(log.create_topic("t", TopicConfig::new(1)), Err(LogError::TopicExists(_))));
    assert!(matches!(log.create_topic("x", TopicConfig::new(0)), Err(LogError::InvalidConfig(_))));
    assert_eq!(log.topic_names(), ["t"], "failed creations leave nothing behind");
    Ok(())
}

#[test]
fn a_topic_with_a_bad_config_file_is_reported_by_path() -> TestResult {
    let (dir, log) = open_temp()?;
    log.create_topic("t", TopicConfig::new(1))?;
    drop(log);
    let meta = dir.path().join("topics/t/topic.json");
    std::fs::write(&meta, br#"{"version":1,"config":{"partitions":1,"surprise":true}}"#)?;
    let err = Log::open(dir.path(), fast()).err().ok_or("opened")?;
    assert!(matches!(&err, LogError::Corrupt { path, .. } if *path == meta), "{err}");
    std::fs::write(&meta, br#"{"version":9,"config":{"partitions":1}}"#)?;
    let err = Log::open(dir.path(), fast()).err().ok_or("opened")?;
    assert!(matches!(err, LogError::UnsupportedVersion { found: 9, .. }), "{err}");
    Ok(())
}
