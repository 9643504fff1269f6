//! Reads from every offset: the sparse offset index finds the right batch, the records of a
//! batch before the requested offset are dropped, and the bounds are errors or empty reads.

use sluice_log::{LogError, Partition};

use crate::support::*;

/// Appends batches of 1..=9 records (so offsets fall at every position inside batches) to a
/// topic with 2 KiB segments, indexed every `index_interval` bytes.
fn filled(index_interval: u32) -> TestResult<(tempfile::TempDir, sluice_log::Log, Partition)> {
    let (dir, log) = open_temp()?;
    let p = small_topic(&log, "t", 2048, index_interval)?.partitions()[0].clone();
    let mut n = 0;
    for b in 0..80 {
        let k = 1 + b % 9;
        p.append(&records(n, n + k))?;
        n += k;
    }
    Ok((dir, log, p))
}

fn check_every_offset(p: &Partition) -> TestResult {
    let end = p.end_offset();
    let want = records(0, end);
    for from in 0..end {
        // A small budget: just the batch holding `from` (and maybe the next).
        let got = p.read(from, 1)?;
        assert!(!got.is_empty(), "read at {from} returned nothing");
        assert_records(&got, from, &want[from as usize..from as usize + got.len()]);
        // A large budget reads to the end of the segment holding `from`, never past `end`.
        let got = p.read(from, 1 << 20)?;
        assert_records(&got, from, &want[from as usize..from as usize + got.len()]);
    }
    assert!(p.read(end, 1 << 20)?.is_empty(), "a read at the end is empty, not an error");
    let err = p.read(end + 1, 1).err().ok_or("read past the end succeeded")?;
    assert!(
        matches!(err, LogError::OffsetOutOfRange { requested, end: e, .. } if requested == end + 1 && e == end),
        "{err}"
    );
    Ok(())
}

#[test]
fn every_offset_reads_right_with_a_dense_index() -> TestResult {
    let (_dir, _log, p) = filled(64)?;
    assert!(p.stats().segments > 5);
    check_every_offset(&p)
}

#[test]
fn every_offset_reads_right_with_a_sparse_index() -> TestResult {
    let (_dir, _log, p) = filled(4096)?;
    check_every_offset(&p)
}

#[test]
fn every_offset_reads_right_from_index_files_after_reopen() -> TestResult {
    let (dir, log, p) = filled(64)?;
    drop((p, log));
    let log = sluice_log::Log::open(dir.path(), fast())?;
    check_every_offset(&log.topic("t")?.partitions()[0])
}

#[test]
fn read_into_appends_to_the_callers_buffer() -> TestResult {
    let (_dir, _log, p) = filled(64)?;
    let mut buf = p.read(0, 1)?;
    let first = buf.len();
    p.read_into(first as u64, 1, &mut buf)?;
    assert!(buf.len() > first);
    assert_records(&buf, 0, &records(0, buf.len() as u64));
    Ok(())
}
