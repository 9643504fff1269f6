//! The recovery point: closed segments rolled under `Interval`/`Os` durability are fsynced by the
//! flusher, not the append path, and a power loss before that may tear their tails. Opening
//! recovers such a segment like the active one; a segment below the point stays strict.

use std::fs::OpenOptions;
use std::path::Path;

use sluice_log::{Log, LogError};
use sluice_types::PartitionId;

use crate::support::{
    batch_positions, crc32c, fast, open_temp, partition_dir, read_all, records, segment_files, small_topic,
    TestResult,
};

/// Writes `<partition>/recovery-point` as the log does: `offset u64 | crc32c u32`.
fn write_point(dir: &Path, offset: u64) -> TestResult {
    let mut b = offset.to_le_bytes().to_vec();
    b.extend_from_slice(&crc32c(&b).to_le_bytes());
    std::fs::write(dir.join("recovery-point"), b)?;
    Ok(())
}

/// A closed log whose partition has at least four segments; returns the data dir and the
/// segment files, oldest first.
fn rolled_log() -> TestResult<(tempfile::TempDir, Vec<std::path::PathBuf>)> {
    let (dir, log) = open_temp()?;
    let t = small_topic(&log, "t", 4096, 512)?;
    for chunk in records(0, 600).chunks(10) {
        t.partition(PartitionId(0))?.append(chunk)?;
    }
    drop((t, log));
    let segments = segment_files(dir.path(), "t", 0)?;
    assert!(segments.len() >= 4, "{segments:?}");
    Ok((dir, segments))
}

/// Cuts the last batch of `segment` in half, as a power loss before its fsync could.
fn tear_last_batch(segment: &Path) -> TestResult<u64> {
    let last = *batch_positions(segment)?.last().ok_or("no batch")?;
    let len = std::fs::metadata(segment)?.len();
    OpenOptions::new().write(true).open(segment)?.set_len(last + (len - last) / 2)?;
    Ok(last)
}

#[test]
fn a_clean_close_leaves_no_recovery_point() -> TestResult {
    let (dir, _segments) = rolled_log()?;
    assert!(!partition_dir(dir.path(), "t", 0).join("recovery-point").exists());
    Ok(())
}

#[test]
fn an_unsynced_closed_segment_torn_by_a_crash_is_truncated_and_later_segments_dropped() -> TestResult {
    let (dir, segments) = rolled_log()?;
    let pdir = partition_dir(dir.path(), "t", 0);
    let before = {
        let log = Log::open(dir.path(), fast())?;
        read_all(log.topic("t")?.partition(PartitionId(0))?)?
    };
    // Segment 1 was rolled but (as far as the recovery point says) never synced, and lost the
    // second half of its last batch.
    let base1: u64 = segments[1].file_stem().and_then(|s| s.to_str()).ok_or("name")?.parse()?;
    write_point(&pdir, base1)?;
    tear_last_batch(&segments[1])?;

    let log = Log::open(dir.path(), fast())?;
    let p = log.topic("t")?.partition(PartitionId(0))?.clone();
    let after = read_all(&p)?;
    assert!(after.len() < before.len() && !after.is_empty());
    assert_eq!(after[..], before[..after.len()], "what survives is a prefix");
    assert_eq!(segment_files(dir.path(), "t", 0)?.len(), 2, "segments after the tear are gone");
    assert!(!pdir.join("recovery-point").exists(), "recovered data is synced and the point cleared");
    // The partition goes on from where the valid data ends.
    let info = p.append(&records(1000, 1001))?;
    assert_eq!(info.base_offset, after.len() as u64);
    Ok(())
}

#[test]
fn a_torn_closed_segment_below_the_recovery_point_is_corruption() -> TestResult {
    let (dir, segments) = rolled_log()?;
    let pdir = partition_dir(dir.path(), "t", 0);
    let base2: u64 = segments[2].file_stem().and_then(|s| s.to_str()).ok_or("name")?.parse()?;
    write_point(&pdir, base2)?;
    let position = tear_last_batch(&segments[1])?;
    match Log::open(dir.path(), fast()) {
        Err(LogError::Corrupt { path, position: at, .. }) => {
            assert_eq!(path, segments[1]);
            assert_eq!(at, position);
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // Without any recovery point every closed segment is trusted the same way.
    std::fs::remove_file(pdir.join("recovery-point"))?;
    assert!(matches!(Log::open(dir.path(), fast()), Err(LogError::Corrupt { .. })));
    Ok(())
}

#[test]
fn rolls_under_interval_durability_end_fully_synced_after_flush() -> TestResult {
    let dir = tempfile::tempdir()?;
    let options = sluice_log::LogOptions::default()
        .durability(sluice_log::Durability::Interval(std::time::Duration::from_secs(3600)));
    let log = Log::open(dir.path(), options)?;
    let t = small_topic(&log, "t", 4096, 512)?;
    for chunk in records(0, 600).chunks(10) {
        t.partition(PartitionId(0))?.append(chunk)?;
    }
    log.flush()?;
    assert!(!partition_dir(dir.path(), "t", 0).join("recovery-point").exists());
    Ok(())
}
