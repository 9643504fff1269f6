//! Damage crafted byte by byte. A torn tail (incomplete, damaged or zero-filled last batch of
//! the active segment) is truncated without error; damage with valid data after it is
//! `LogError::Corrupt` naming the file and byte position — never skipped, never a panic.

use std::path::{Path, PathBuf};

use sluice_log::format::FILE_HEADER_LEN;
use sluice_log::{Log, LogError};
use sluice_types::Record;

use crate::support::*;

/// A closed log whose topic `t` has one segment of `batches` batches of 10 records; returns
/// the dir, the segment file and its batch positions.
fn one_segment(batches: u64) -> TestResult<(tempfile::TempDir, PathBuf, Vec<u64>)> {
    let (dir, log) = open_temp()?;
    let p = small_topic(&log, "t", 1 << 20, 1 << 20)?.partitions()[0].clone();
    for b in 0..batches {
        p.append(&records(b * 10, b * 10 + 10))?;
    }
    drop((p, log));
    let seg = segment_files(dir.path(), "t", 0)?.remove(0);
    let positions = batch_positions(&seg)?;
    assert_eq!(positions.len() as u64, batches);
    Ok((dir, seg, positions))
}

fn edit(path: &Path, f: impl FnOnce(&mut Vec<u8>)) -> TestResult {
    let mut bytes = std::fs::read(path)?;
    f(&mut bytes);
    std::fs::write(path, bytes)?;
    Ok(())
}

/// Opens, expecting the tail to be cut back to `valid_len` and `records` records.
fn expect_truncated(dir: &Path, seg: &Path, valid_len: u64, n: u64) -> TestResult {
    let log = Log::open(dir, fast())?;
    let p = log.topic("t")?.partitions()[0].clone();
    assert_eq!(std::fs::metadata(seg)?.len(), valid_len, "truncated to the last valid batch");
    assert_records(&read_all(&p)?, 0, &records(0, n));
    // And the partition goes on from there.
    p.append(&records(n, n + 1))?;
    assert_records(&read_all(&p)?, 0, &records(0, n + 1));
    Ok(())
}

fn expect_corrupt(err: LogError, file: &Path, position: u64) {
    match &err {
        LogError::Corrupt { path, position: at, .. } => {
            assert_eq!((path.as_path(), *at), (file, position), "{err}");
        }
        other => panic!("expected Corrupt at {} byte {position}, got {other}", file.display()),
    }
    let msg = err.to_string();
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    assert!(msg.contains(name) && msg.contains(&format!("byte {position}")), "{msg}");
}

#[test]
fn a_torn_last_batch_is_truncated() -> TestResult {
    let (dir, seg, pos) = one_segment(5)?;
    edit(&seg, |b| b.truncate(pos[4] as usize + (b.len() - pos[4] as usize) / 2))?;
    expect_truncated(dir.path(), &seg, pos[4], 40)
}

#[test]
fn a_tail_of_a_few_bytes_or_of_zeroes_is_truncated() -> TestResult {
    let (dir, seg, pos) = one_segment(3)?;
    let end = std::fs::metadata(&seg)?.len();
    edit(&seg, |b| b.extend_from_slice(&[1, 2]))?;
    expect_truncated(dir.path(), &seg, end, 30)?;
    edit(&seg, |b| {
        b.truncate(pos[2] as usize);
        b.resize(b.len() + 4096, 0);
    })?;
    expect_truncated(dir.path(), &seg, pos[2], 20)
}

#[test]
fn a_damaged_last_batch_is_a_torn_tail() -> TestResult {
    let (dir, seg, pos) = one_segment(4)?;
    edit(&seg, |b| b[pos[3] as usize + 50] ^= 0x01)?;
    expect_truncated(dir.path(), &seg, pos[3], 30)
}

#[test]
fn a_flipped_byte_in_a_middle_batch_fails_open_naming_file_and_position() -> TestResult {
    let (dir, seg, pos) = one_segment(5)?;
    edit(&seg, |b| b[pos[2] as usize + 60] ^= 0x10)?;
    let err = Log::open(dir.path(), fast()).err().ok_or("corruption accepted")?;
    assert_eq!(err.kind(), sluice_types::ErrorKind::Internal);
    expect_corrupt(err, &seg, pos[2]);
    Ok(())
}

#[test]
fn a_middle_length_that_points_past_the_end_fails_open() -> TestResult {
    // Regression: this used to look like a torn tail, and opening silently cut off batches
    // 3 and 4 along with the damaged one.
    let (dir, seg, pos) = one_segment(5)?;
    let len_before = std::fs::metadata(&seg)?.len();
    edit(&seg, |b| b[pos[2] as usize + 3] ^= 0x40)?;
    let err = Log::open(dir.path(), fast()).err().ok_or("corruption accepted")?;
    expect_corrupt(err, &seg, pos[2]);
    assert_eq!(std::fs::metadata(&seg)?.len(), len_before, "nothing was truncated");
    // A read-only open reports it too.
    let err = Log::open(dir.path(), fast().read_only(true)).err().ok_or("corruption accepted")?;
    expect_corrupt(err, &seg, pos[2]);
    Ok(())
}

#[test]
fn a_batch_out_of_sequence_fails_open() -> TestResult {
    // A whole, checksum-valid batch with the wrong base offset: duplicate batch 1 after batch 2.
    let (dir, seg, pos) = one_segment(3)?;
    edit(&seg, |b| {
        let copy = b[pos[1] as usize..pos[2] as usize].to_vec();
        b.splice(pos[2] as usize..pos[2] as usize, copy);
    })?;
    let err = Log::open(dir.path(), fast()).err().ok_or("duplicate batch accepted")?;
    expect_corrupt(err, &seg, pos[2]);
    Ok(())
}

#[test]
fn a_corrupt_closed_segment_fails_the_read_naming_file_and_position() -> TestResult {
    let (dir, log) = open_temp()?;
    let p = small_topic(&log, "t", 2048, 128)?.partitions()[0].clone();
    for chunk in records(0, 300).chunks(3) {
        p.append(chunk)?;
    }
    drop((p, log));
    let first = segment_files(dir.path(), "t", 0)?.remove(0);
    let pos = batch_positions(&first)?;
    // Batch 1 is before the segment's last index entry, so opening does not scan it.
    edit(&first, |b| b[pos[1] as usize + 40] ^= 0x04)?;
    let log = Log::open(dir.path(), fast())?;
    let p = log.topic("t")?.partitions()[0].clone();
    let err = p.read(0, 1 << 20).err().ok_or("corrupt batch read")?;
    expect_corrupt(err, &first, pos[1]);
    // The damage stays contained: the other segments read fine.
    assert_records(&p.read(0, 1)?, 0, &records(0, 3)); // batch 0 is intact
    let later = segment_files(dir.path(), "t", 0)?;
    let base: u64 = later[1].file_stem().and_then(|s| s.to_str()).ok_or("name")?.parse()?;
    assert_records(&read_from(&p, base)?, base, &records(base, 300));
    Ok(())
}

#[test]
fn a_missing_middle_segment_fails_open() -> TestResult {
    let (dir, log) = open_temp()?;
    let p = small_topic(&log, "t", 1024, 4096)?.partitions()[0].clone();
    for chunk in records(0, 200).chunks(5) {
        p.append(chunk)?;
    }
    drop((p, log));
    let files = segment_files(dir.path(), "t", 0)?;
    assert!(files.len() > 3);
    std::fs::remove_file(&files[1])?;
    let err = Log::open(dir.path(), fast()).err().ok_or("gap accepted")?;
    expect_corrupt(err, &files[2], 0);
    Ok(())
}

#[test]
fn an_active_segment_torn_at_creation_opens_empty() -> TestResult {
    // Regression: a crash between creating a rolled segment and writing its header made the
    // log impossible to open ("file shorter than its header").
    let (dir, log) = open_temp()?;
    log.create_topic("t", sluice_log::TopicConfig::new(1))?.partitions()[0].append(&records(0, 10))?;
    drop(log);
    let next = partition_dir(dir.path(), "t", 0).join("00000000000000000010.log");
    std::fs::write(&next, b"")?;
    let log = Log::open(dir.path(), fast())?;
    let p = log.topic("t")?.partitions()[0].clone();
    assert_eq!(p.stats().segments, 2);
    p.append(&records(10, 12))?;
    assert_records(&read_all(&p)?, 0, &records(0, 12));
    assert!(std::fs::metadata(&next)?.len() > FILE_HEADER_LEN as u64);
    Ok(())
}

#[test]
fn a_damaged_index_entry_is_an_error_on_read_not_a_skip() -> TestResult {
    // Regression: an index entry pointing one batch too far made reads start there and skip
    // the records in between.
    let (dir, log) = open_temp()?;
    let p = small_topic(&log, "t", 4096, 512)?.partitions()[0].clone();
    for chunk in records(0, 400).chunks(4) {
        p.append(chunk)?;
    }
    drop((p, log));
    let seg = segment_files(dir.path(), "t", 0)?.remove(0);
    let batches = batch_positions(&seg)?;
    let index = seg.with_extension("index");
    let mut bytes = std::fs::read(&index)?;
    let at = FILE_HEADER_LEN + 4;
    let rel = u64::from(u32::from_le_bytes(bytes[FILE_HEADER_LEN..at].try_into()?));
    let indexed = u64::from(u32::from_le_bytes(bytes[at..at + 4].try_into()?));
    let next = batches.iter().copied().find(|&b| b > indexed).ok_or("no next batch")?;
    bytes[at..at + 4].copy_from_slice(&u32::try_from(next)?.to_le_bytes());
    std::fs::write(&index, bytes)?;
    let log = Log::open(dir.path(), fast())?;
    let err = log.topic("t")?.partitions()[0].read(rel, 1).err().ok_or("skipping read succeeded")?;
    expect_corrupt(err, &seg, next);
    Ok(())
}

#[test]
fn garbage_bodies_never_panic_the_open() -> TestResult {
    // A cheap, deterministic cousin of the fuzz target `segment_recovery`.
    let mut seed = 0x1234_5678_9abc_def0u64;
    for case in 0..100 {
        let (dir, log) = open_temp()?;
        log.create_topic("t", sluice_log::TopicConfig::new(1))?.partitions()[0]
            .append(&[Record::new("x", 1)])?;
        drop(log);
        let seg = segment_files(dir.path(), "t", 0)?.remove(0);
        edit(&seg, |b| {
            for _ in 0..(case % 40) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                b.push(if case % 3 == 0 { (seed % 4) as u8 } else { seed as u8 });
            }
            if case % 5 == 0 && b.len() > FILE_HEADER_LEN + 10 {
                let i = FILE_HEADER_LEN + (seed as usize % (b.len() - FILE_HEADER_LEN));
                b[i] ^= 0xff;
            }
        })?;
        if let Ok(log) = Log::open(dir.path(), fast()) {
            let _ = read_all(&log.topic("t")?.partitions()[0]);
        }
    }
    Ok(())
}
