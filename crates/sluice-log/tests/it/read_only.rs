//! A read-only open takes no lock, so it works in the same process (or another) while a writer
//! has the data dir open; it follows the writer's appends and rolls and writes nothing. A
//! second writable open is `Locked`.

use sluice_log::{Consumer, Log, LogError, LogOptions, StartFrom, TopicConfig};

use crate::support::*;

fn read_only() -> LogOptions {
    LogOptions::default().read_only(true)
}

#[test]
fn a_second_writer_is_locked_out_but_readers_are_not() -> TestResult {
    let (dir, log) = open_temp()?;
    let err = Log::open(dir.path(), fast()).err().ok_or("second writer accepted")?;
    match &err {
        LogError::Locked { dir: d, lock } => {
            assert_eq!(d, dir.path());
            assert_eq!(lock, &dir.path().join("LOCK"));
        }
        other => panic!("expected Locked, got {other}"),
    }
    assert!(err.to_string().contains("LOCK"), "{err}");
    let ro = Log::open(dir.path(), read_only())?;
    assert!(ro.is_read_only());
    drop(log);
    // With the writer gone the lock is free again, readers or not.
    let _writer = Log::open(dir.path(), fast())?;
    Ok(())
}

#[test]
fn a_reader_follows_the_writers_appends_and_rolls() -> TestResult {
    let (dir, log) = open_temp()?;
    let wp = small_topic(&log, "t", 2048, 256)?.partitions()[0].clone();
    wp.append(&records(0, 10))?;
    let ro = Log::open(dir.path(), read_only())?;
    let rp = ro.topic("t")?.partitions()[0].clone();
    assert_records(&read_all(&rp)?, 0, &records(0, 10));

    // Appends that roll several segments after the reader opened.
    for chunk in records(10, 300).chunks(5) {
        wp.append(chunk)?;
    }
    assert!(rp.wait_for(299, PATIENCE), "the reader saw the appends");
    assert_eq!(rp.end_offset(), 300);
    assert_records(&read_all(&rp)?, 0, &records(0, 300));
    // A read at the end refreshes from disk too.
    wp.append(&records(300, 301))?;
    assert_records(&rp.read(300, 1 << 20)?, 300, &records(300, 301));

    // A consumer in the read-only log follows as well.
    let mut c = Consumer::new(&ro, "t", None, None, StartFrom::Offset(301))?;
    wp.append(&records(301, 303))?;
    let mut got = Vec::new();
    while got.len() < 2 {
        let batch = c.poll(10, PATIENCE)?;
        assert!(!batch.is_empty(), "poll timed out");
        got.extend(batch.into_iter().map(|(_, r)| r.offset));
    }
    assert_eq!(got, [301, 302]);
    Ok(())
}

#[test]
fn a_reader_finds_topics_created_after_it_opened_and_writes_nothing() -> TestResult {
    let (dir, log) = open_temp()?;
    let ro = Log::open(dir.path(), read_only())?;
    assert!(matches!(ro.topic("late"), Err(LogError::UnknownTopic(_))));
    log.create_topic("late", TopicConfig::new(2))?.partitions()[1].append(&records(0, 3))?;
    let t = ro.topic("late")?;
    assert_records(&read_all(&t.partitions()[1])?, 0, &records(0, 3));

    let is_read_only = |e: LogError| matches!(e, LogError::ReadOnly(_));
    assert!(t.partitions()[1].append(&records(3, 4)).err().is_some_and(is_read_only));
    assert!(ro.create_topic("x", TopicConfig::new(1)).err().is_some_and(is_read_only));
    assert!(ro.delete_topic("late").err().is_some_and(is_read_only));
    assert!(ro.begin_transaction("tx").err().is_some_and(is_read_only));
    assert_eq!(ro.enforce_retention()?, 0);
    assert_eq!(log.topic("late")?.partitions()[1].end_offset(), 3);
    Ok(())
}

#[test]
fn a_reader_leaves_a_torn_tail_alone() -> TestResult {
    let (dir, log) = open_temp()?;
    log.create_topic("t", TopicConfig::new(1))?.partitions()[0].append(&records(0, 10))?;
    drop(log);
    let seg = &segment_files(dir.path(), "t", 0)?[0];
    let mut bytes = std::fs::read(seg)?;
    bytes.extend_from_within(32..60); // the first 28 bytes of a batch
    std::fs::write(seg, &bytes)?;
    let ro = Log::open(dir.path(), read_only())?;
    assert_records(&read_all(&ro.topic("t")?.partitions()[0])?, 0, &records(0, 10));
    assert_eq!(std::fs::read(seg)?, bytes, "the read-only open truncated nothing");
    Ok(())
}

#[test]
fn a_reader_survives_the_writer_rolling_under_it() -> TestResult {
    // A roll creates the new segment file and then writes its header: a reader refreshing in
    // between sees a segment shorter than its header. Recreate that moment by hiding the new
    // segment's bytes while the reader looks, then putting them back.
    let (dir, log) = open_temp()?;
    let wp = small_topic(&log, "t", 1024, 4096)?.partitions()[0].clone();
    wp.append(&records(0, 10))?;
    let ro = Log::open(dir.path(), read_only())?;
    let rp = ro.topic("t")?.partitions()[0].clone();
    let big = sluice_types::Record::new(vec![7u8; 1000], 5);
    wp.append(std::slice::from_ref(&big))?;
    let rolled = partition_dir(dir.path(), "t", 0).join("00000000000000000010.log");
    let bytes = std::fs::read(&rolled)?;
    std::fs::write(&rolled, b"")?;
    assert!(rp.read(10, 1 << 20)?.is_empty(), "the half-created segment is empty, not corrupt");
    assert_eq!(rp.end_offset(), 10);
    std::fs::write(&rolled, &bytes)?;
    assert_records(&rp.read(10, 1 << 20)?, 10, &[big]);
    Ok(())
}

#[test]
fn read_only_open_of_a_missing_dir_is_an_error() -> TestResult {
    let dir = tempfile::tempdir()?;
    let err = Log::open(dir.path().join("nope"), read_only()).err().ok_or("opened")?;
    assert!(matches!(err, LogError::Io { .. }), "{err}");
    assert!(!dir.path().join("nope").exists());
    Ok(())
}

#[test]
fn a_reader_outrun_by_retention_jumps_to_the_log_start() -> TestResult {
    // Regression: when retention deleted every segment the reader knew (and newer ones it
    // never saw) between two refreshes, the reader stopped following for good.
    let (dir, log) = open_temp()?;
    let cfg = TopicConfig::new(1).segment_bytes(1024).retention_bytes(Some(3000));
    let wp = log.create_topic("t", cfg)?.partitions()[0].clone();
    wp.append(&records(0, 5))?;
    let ro = Log::open(dir.path(), read_only())?;
    let rp = ro.topic("t")?.partitions()[0].clone();
    let mut c = Consumer::new(&ro, "t", None, None, StartFrom::Earliest)?;
    assert_eq!(c.poll(5, PATIENCE)?.len(), 5);
    for chunk in records(5, 400).chunks(3) {
        wp.append(chunk)?;
    }
    assert!(rp.wait_for(5, PATIENCE), "the reader follows again");
    let start = wp.log_start_offset();
    assert_eq!((rp.log_start_offset(), rp.end_offset()), (start, 400));
    assert_records(&read_all(&rp)?, start, &records(start, 400));
    // The consumer's position was deleted under it: an error, not a silent skip.
    assert!(matches!(c.poll(1, PATIENCE), Err(LogError::OffsetOutOfRange { .. })));
    Ok(())
}
