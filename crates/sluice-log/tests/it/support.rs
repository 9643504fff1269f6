//! Helpers shared by the integration tests: temp data dirs, record builders, full reads, and the
//! byte-level tools needed to craft damaged files (a CRC32C and a frame builder).

use std::path::{Path, PathBuf};
use std::time::Duration;

use sluice_log::format::FILE_HEADER_LEN;
use sluice_log::{Log, LogError, LogOptions, Partition, Topic, TopicConfig};
use sluice_types::{Bytes, Offset, Record, StoredRecord};

/// Every test returns this so that `?` works on both log errors and test failures.
pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Upper bound for anything a test waits on. Never a pacing device: waits return as soon as
/// the condition holds, and the bound only keeps a broken build from hanging CI.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Options that keep fsync out of the way of fast tests (the OS page cache is enough for
/// everything a test checks within one process).
pub fn fast() -> LogOptions {
    LogOptions::default().durability(sluice_log::Durability::Os)
}

/// A fresh temp dir with a writable log in it.
pub fn open_temp() -> TestResult<(tempfile::TempDir, Log)> {
    let dir = tempfile::tempdir()?;
    let log = Log::open(dir.path(), fast())?;
    Ok((dir, log))
}

/// A one-partition topic whose segments roll every `segment_bytes` and which indexes every
/// `index_interval` bytes of batches.
pub fn small_topic(log: &Log, name: &str, segment_bytes: u64, index_interval: u32) -> TestResult<Topic> {
    let mut cfg = TopicConfig::new(1).segment_bytes(segment_bytes);
    cfg.index_interval_bytes = index_interval;
    Ok(log.create_topic(name, cfg)?)
}

/// The `i`-th record of a deterministic stream: a key on two out of three records, a value
/// whose length varies, a header on every fifth record, and the given timestamp.
pub fn record(i: u64, ts: i64) -> Record {
    let value = format!("value-{i}-{}", "x".repeat((i % 37) as usize));
    let mut r = Record::new(value, ts);
    if !i.is_multiple_of(3) {
        r = r.with_key(format!("key-{}", i % 11));
    }
    if i.is_multiple_of(5) {
        r = r.with_header("trace", Some(Bytes::from(i.to_le_bytes().to_vec()))).with_header("null", None);
    }
    r
}

/// Records `from..to` of [`record`], with timestamps `1_000 + i`.
pub fn records(from: u64, to: u64) -> Vec<Record> {
    (from..to).map(|i| record(i, 1_000 + i as i64)).collect()
}

/// Reads every record from `from` to the partition's current end.
pub fn read_from(p: &Partition, from: Offset) -> Result<Vec<StoredRecord>, LogError> {
    let end = p.end_offset();
    let mut out = Vec::new();
    let mut next = from;
    while next < end {
        let before = out.len();
        p.read_into(next, 64 << 10, &mut out)?;
        match out.last() {
            Some(last) if out.len() > before => next = last.offset + 1,
            _ => break,
        }
    }
    Ok(out)
}

/// Reads every retained record.
pub fn read_all(p: &Partition) -> Result<Vec<StoredRecord>, LogError> {
    read_from(p, p.log_start_offset())
}

/// Asserts that `got` holds exactly `want`, at dense offsets from `first`.
pub fn assert_records(got: &[StoredRecord], first: Offset, want: &[Record]) {
    assert_eq!(got.len(), want.len(), "record count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.offset, first + i as u64, "offset of record {i}");
        assert_eq!(&g.record, w, "record at offset {}", g.offset);
    }
}

/// The directory of one partition.
pub fn partition_dir(data_dir: &Path, topic: &str, partition: u32) -> PathBuf {
    data_dir.join("topics").join(topic).join(partition.to_string())
}

/// The `.log` files of a partition, oldest first.
pub fn segment_files(data_dir: &Path, topic: &str, partition: u32) -> TestResult<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(partition_dir(data_dir, topic, partition))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    v.retain(|p| p.extension().is_some_and(|e| e == "log"));
    v.sort();
    Ok(v)
}

/// Byte positions of the batches of a segment file (walking the length fields).
pub fn batch_positions(segment: &Path) -> TestResult<Vec<u64>> {
    let bytes = std::fs::read(segment)?;
    let mut out = Vec::new();
    let mut pos = FILE_HEADER_LEN;
    while pos + 4 <= bytes.len() {
        out.push(pos as u64);
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into()?) as usize;
        pos += 4 + len;
    }
    Ok(out)
}

/// Copies a directory tree (fixtures are copied before opening, because opening truncates).
pub fn copy_dir(from: &Path, to: &Path) -> TestResult {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// CRC32C (Castagnoli), bit by bit: slow and obviously right, for crafting files in tests.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    !crc
}

/// A checksummed frame around `payload`: `len u32 | crc32c u32 | payload`.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(payload.len() + 8);
    v.extend_from_slice(&(payload.len() as u32 + 4).to_le_bytes());
    v.extend_from_slice(&crc32c(payload).to_le_bytes());
    v.extend_from_slice(payload);
    v
}

#[test]
fn test_crc_matches_the_logs_frames() -> TestResult {
    let mut buf = Vec::new();
    let h = sluice_log::format::encode_batch(7, &records(0, 3), &mut buf).ok_or("encode")?;
    assert_eq!(frame(&buf[8..]), buf);
    assert_eq!(h.len, buf.len());
    Ok(())
}
