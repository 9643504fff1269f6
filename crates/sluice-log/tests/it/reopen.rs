//! Closing and reopening: everything comes back, appends continue at the end, derived index
//! files are rebuilt when missing or damaged, segments roll by age from their header's
//! creation time, and files of an unknown format version are refused by name.

use sluice_log::format::{FileHeader, FileKind, FILE_HEADER_LEN};
use sluice_log::{Log, LogError, TopicConfig};

use crate::support::*;

#[test]
fn a_clean_close_and_reopen_keeps_everything() -> TestResult {
    let (dir, log) = open_temp()?;
    let a = small_topic(&log, "a", 2048, 256)?;
    let b = log.create_topic("b", TopicConfig::new(3).retention_ms(Some(1 << 40)))?;
    a.partitions()[0].append(&records(0, 300))?;
    for (i, p) in b.partitions().iter().enumerate() {
        p.append(&records(0, 10 * i as u64))?;
    }
    let (stats_a, stats_b) = (a.stats(), b.stats());
    drop((a, b, log));

    let log = Log::open(dir.path(), fast())?;
    assert_eq!(log.topic_names(), ["a", "b"]);
    let (a, b) = (log.topic("a")?, log.topic("b")?);
    assert_eq!(b.config(), &TopicConfig::new(3).retention_ms(Some(1 << 40)));
    assert_eq!((a.stats(), b.stats()), (stats_a, stats_b));
    assert_records(&read_all(&a.partitions()[0])?, 0, &records(0, 300));
    for (i, p) in b.partitions().iter().enumerate() {
        assert_records(&read_all(p)?, 0, &records(0, 10 * i as u64));
    }
    // Appends continue where the partition ended.
    let info = a.partitions()[0].append(&records(300, 310))?;
    assert_eq!(info.base_offset, 300);
    assert_records(&read_all(&a.partitions()[0])?, 0, &records(0, 310));
    Ok(())
}

#[test]
fn missing_or_damaged_index_files_are_rebuilt() -> TestResult {
    let (dir, log) = open_temp()?;
    let p = small_topic(&log, "t", 2048, 128)?.partitions()[0].clone();
    for chunk in records(0, 400).chunks(4) {
        p.append(chunk)?;
    }
    drop(p);
    drop(log);
    let files = segment_files(dir.path(), "t", 0)?;
    assert!(files.len() > 3);
    std::fs::remove_file(files[0].with_extension("index"))?;
    std::fs::write(files[1].with_extension("timeindex"), b"garbage")?;
    let index = files[2].with_extension("index");
    let mut bytes = std::fs::read(&index)?;
    assert!(bytes.len() > FILE_HEADER_LEN + 8, "the segment should have index entries");
    // An entry pointing past the segment.
    bytes[FILE_HEADER_LEN + 4..FILE_HEADER_LEN + 8].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(&index, bytes)?;

    let log = Log::open(dir.path(), fast())?;
    let p = log.topic("t")?.partitions()[0].clone();
    for from in 0..400 {
        assert_records(&p.read(from, 1)?[..1], from, &records(from, from + 1));
    }
    for t in [1_000, 1_100, 1_399] {
        assert_eq!(p.offset_for_timestamp(t)?, Some(t as u64 - 1_000));
    }
    Ok(())
}

#[test]
fn segments_roll_by_age_from_their_header() -> TestResult {
    let (dir, log) = open_temp()?;
    let day = 86_400_000;
    let topic = log.create_topic("t", TopicConfig::new(1).segment_ms(day as u64))?;
    topic.partitions()[0].append(&records(0, 5))?;
    topic.partitions()[0].append(&records(5, 10))?;
    assert_eq!(topic.stats()[0].segments, 1, "a young segment does not roll");
    drop((topic, log));
    // Backdate the active segment's creation by two days.
    let seg = &segment_files(dir.path(), "t", 0)?[0];
    let mut bytes = std::fs::read(seg)?;
    let old = FileHeader::decode(&bytes).map_err(|e| format!("{e:?}"))?;
    let backdated = FileHeader { created_ms: old.created_ms - 2 * day, ..old };
    bytes[..FILE_HEADER_LEN].copy_from_slice(&backdated.encode());
    std::fs::write(seg, bytes)?;

    let log = Log::open(dir.path(), fast())?;
    let p = log.topic("t")?.partitions()[0].clone();
    p.append(&records(10, 11))?;
    assert_eq!(p.stats().segments, 2, "the old segment rolled before the append");
    assert_eq!(
        segment_files(dir.path(), "t", 0)?[1].file_name().and_then(|n| n.to_str()),
        Some("00000000000000000010.log")
    );
    assert_records(&read_all(&p)?, 0, &records(0, 11));
    Ok(())
}

#[test]
fn a_newer_format_version_is_refused_with_the_file_named() -> TestResult {
    let (dir, log) = open_temp()?;
    log.create_topic("t", TopicConfig::new(1))?.partitions()[0].append(&records(0, 3))?;
    drop(log);
    let seg = &segment_files(dir.path(), "t", 0)?[0];
    let mut bytes = std::fs::read(seg)?;
    let header = FileHeader { version: 2, ..FileHeader::new(FileKind::Segment, 0, 0) };
    bytes[..FILE_HEADER_LEN].copy_from_slice(&header.encode());
    std::fs::write(seg, bytes)?;
    let err = Log::open(dir.path(), fast()).err().ok_or("version 2 accepted")?;
    assert!(
        matches!(&err, LogError::UnsupportedVersion { path, found: 2, supported: 1 } if path == seg),
        "{err}"
    );
    assert!(err.to_string().contains("00000000000000000000.log"), "{err}");
    Ok(())
}

#[test]
fn leftovers_of_interrupted_topic_creation_and_deletion_are_cleaned_up() -> TestResult {
    let (dir, log) = open_temp()?;
    log.create_topic("kept", TopicConfig::new(1))?;
    drop(log);
    for leftover in ["half+creating", "gone+deleting"] {
        std::fs::create_dir_all(dir.path().join("topics").join(leftover).join("0"))?;
    }
    let log = Log::open(dir.path(), fast())?;
    assert_eq!(log.topic_names(), ["kept"]);
    assert!(!dir.path().join("topics/half+creating").exists());
    assert!(!dir.path().join("topics/gone+deleting").exists());
    Ok(())
}
