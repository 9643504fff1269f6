//! Committed on-disk fixtures of format version 1, loaded by tests and never regenerated in
//! CI: a valid data dir, a torn tail, a corrupt middle batch of an active segment and a
//! corrupt closed segment. They pin the format: a build that cannot read them (or reads them
//! differently) has broken compatibility with data written by earlier builds.
//!
//! `tests/fixtures/`:
//! - `segment_v1/`: topic `events` (2 partitions, 1 KiB segments, an index entry every 256
//!   bytes): partition 0 holds [`fixture_record`] 0..60 in several segments, partition 1
//!   records 0..7 in two batches; group `dashboard` committed `{0: 10, 1: 7}`; transaction
//!   `pending` is prepared with 3 records for partition 1.
//! - `segment_v1_torn_tail/`: the same, with the last batch of partition 0 cut in half.
//! - `segment_v1_corrupt_middle/`: one byte flipped in a middle batch of partition 0's active
//!   segment.
//! - `segment_v1_corrupt_closed/`: one byte flipped in the second batch of partition 0's first
//!   (closed) segment, before its last index entry, so only a read finds it.
//!
//! Tests copy a fixture to a temp dir before opening it, because opening truncates torn tails.
//! To regenerate (only when adding a new format version — write `segment_v2/` rather than
//! changing v1), delete the directories and run
//! `cargo test -p sluice-log --test it -- --ignored fixtures::generate`.

use std::path::{Path, PathBuf};

use sluice_log::format::{encode_batch, FileHeader, FileKind, FILE_HEADER_LEN};
use sluice_log::{Durability, Log, LogError, LogOptions, StartFrom, TopicConfig};
use sluice_types::{Bytes, PartitionId, Record};

use crate::support::*;

/// Never change this: the committed fixtures hold exactly these records.
fn fixture_record(partition: u32, i: u64) -> Record {
    // Mostly rising timestamps with a few late records, as event time is in practice.
    let late = if i % 7 == 3 { 5_500 } else { 0 };
    let ts = 1_700_000_000_000 + i as i64 * 1_000 - late;
    let mut r = Record::new(format!(r#"{{"p":{partition},"i":{i},"url":"/page/{}"}}"#, i % 9), ts);
    if !i.is_multiple_of(4) {
        r = r.with_key(format!("user-{}", i % 5));
    }
    if i.is_multiple_of(6) {
        r = r.with_header("source", Some(Bytes::from_static(b"fixture"))).with_header("none", None);
    }
    r
}

fn fixture_records(partition: u32, from: u64, to: u64) -> Vec<Record> {
    (from..to).map(|i| fixture_record(partition, i)).collect()
}

const P0_RECORDS: u64 = 60;
const P1_BATCHES: [(u64, u64); 2] = [(0, 3), (3, 7)];

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A temp copy of the named fixture, ready to open.
fn load(name: &str) -> TestResult<(tempfile::TempDir, PathBuf)> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    copy_dir(&fixtures_dir().join(name), &data)?;
    Ok((tmp, data))
}

fn p0_segments(data: &Path) -> TestResult<Vec<PathBuf>> {
    segment_files(data, "events", 0)
}

#[test]
#[ignore = "writes the committed fixtures; run by hand only (see the module docs)"]
fn generate() -> TestResult {
    let root = fixtures_dir();
    let valid = root.join("segment_v1");
    if valid.exists() {
        return Err(format!("{} exists; fixtures are never overwritten", valid.display()).into());
    }
    let tmp = tempfile::tempdir()?;
    {
        let log = Log::open(tmp.path(), LogOptions::default().durability(Durability::Os))?;
        let mut cfg = TopicConfig::new(2).segment_bytes(1024);
        cfg.index_interval_bytes = 256;
        let events = log.create_topic("events", cfg)?;
        let mut i = 0;
        while i < P0_RECORDS {
            let n = (1 + i % 4).min(P0_RECORDS - i);
            events.partitions()[0].append(&fixture_records(0, i, i + n))?;
            i += n;
        }
        for (from, to) in P1_BATCHES {
            events.partitions()[1].append(&fixture_records(1, from, to))?;
        }
        let commits = [(PartitionId(0), 10), (PartitionId(1), 7)].into_iter().collect();
        log.groups().commit("dashboard", "events", &commits)?;
        let mut tx = log.begin_transaction("pending")?;
        tx.append("events", PartitionId(1), &fixture_records(1, 7, 10))?;
        tx.prepare()?;
    }
    std::fs::remove_file(tmp.path().join("LOCK"))?;
    for leftover in std::fs::read_dir(tmp.path().join("groups"))? {
        let path = leftover?.path();
        if path.extension().is_some_and(|e| e == "lock") {
            std::fs::remove_file(path)?;
        }
    }
    copy_dir(tmp.path(), &valid)?;

    let segments = p0_segments(&valid)?;
    let active = segments.last().ok_or("no segment")?;
    let positions = batch_positions(active)?;
    assert!(segments.len() >= 3 && positions.len() >= 3, "want closed segments and a 3-batch active one");

    let variant = |name: &str, edit: &dyn Fn(&Path) -> TestResult| -> TestResult {
        let dir = root.join(name);
        copy_dir(&valid, &dir)?;
        edit(&dir)
    };
    variant("segment_v1_torn_tail", &|dir| {
        let seg = p0_segments(dir)?.pop().ok_or("no segment")?;
        let last = *batch_positions(&seg)?.last().ok_or("no batch")?;
        let len = std::fs::metadata(&seg)?.len();
        std::fs::OpenOptions::new().write(true).open(&seg)?.set_len(last + (len - last) / 2)?;
        Ok(())
    })?;
    variant("segment_v1_corrupt_middle", &|dir| {
        let seg = p0_segments(dir)?.pop().ok_or("no segment")?;
        let middle = batch_positions(&seg)?[1];
        flip(&seg, middle + 45)
    })?;
    variant("segment_v1_corrupt_closed", &|dir| {
        let seg = p0_segments(dir)?.remove(0);
        let index = std::fs::read(seg.with_extension("index"))?;
        let last_entry = u32::from_le_bytes(index[index.len() - 4..].try_into()?);
        let second = batch_positions(&seg)?[1];
        assert!(u64::from(last_entry) > second, "batch 1 must lie before the last index entry");
        flip(&seg, second + 45)
    })
}

fn flip(path: &Path, at: u64) -> TestResult {
    let mut bytes = std::fs::read(path)?;
    bytes[at as usize] ^= 0x20;
    std::fs::write(path, bytes)?;
    Ok(())
}

/// Where `damaged` first differs from the same file in `segment_v1`, and the start of the
/// batch holding that byte.
fn damage(damaged: &Path, fixture: &str) -> TestResult<(PathBuf, u64)> {
    let rel = damaged.strip_prefix(fixtures_dir().join(fixture))?;
    let original = fixtures_dir().join("segment_v1").join(rel);
    let (a, b) = (std::fs::read(&original)?, std::fs::read(damaged)?);
    let at = a.iter().zip(&b).position(|(x, y)| x != y).ok_or("no damaged byte")? as u64;
    let batch = batch_positions(&original)?.into_iter().rfind(|&p| p <= at).ok_or("in the header")?;
    Ok((rel.to_owned(), batch))
}

#[test]
fn the_valid_fixture_reads_as_written() -> TestResult {
    let (_tmp, data) = load("segment_v1")?;
    let log = Log::open(&data, fast())?;
    assert_eq!(log.topic_names(), ["events"]);
    let events = log.topic("events")?;
    let mut cfg = TopicConfig::new(2).segment_bytes(1024);
    cfg.index_interval_bytes = 256;
    assert_eq!(events.config(), &cfg);
    let (p0, p1) = (&events.partitions()[0], &events.partitions()[1]);
    assert_eq!(p0.stats().segments, p0_segments(&data)?.len());
    assert!(p0.stats().segments >= 3);
    assert_records(&read_all(p0)?, 0, &fixture_records(0, 0, P0_RECORDS));
    assert_records(&read_all(p1)?, 0, &fixture_records(1, 0, 7));
    for from in 0..P0_RECORDS {
        assert_eq!(p0.read(from, 1)?[0].record, fixture_record(0, from));
    }
    let all = fixture_records(0, 0, P0_RECORDS);
    for t in all.iter().flat_map(|r| [r.timestamp - 1, r.timestamp, r.timestamp + 1]) {
        let want = all.iter().position(|r| r.timestamp >= t).map(|i| i as u64);
        assert_eq!(p0.offset_for_timestamp(t)?, want, "t = {t}");
    }

    let c = sluice_log::Consumer::new(&log, "events", None, Some("dashboard"), StartFrom::Committed)?;
    assert_eq!(c.positions().values().copied().collect::<Vec<_>>(), [10, 7]);
    assert_eq!(log.prepared_transactions()?, ["pending"]);
    log.commit_prepared("pending")?;
    assert_records(&read_all(p1)?, 0, &fixture_records(1, 0, 10));
    Ok(())
}

#[test]
fn the_valid_fixture_is_byte_for_byte_what_this_build_writes() -> TestResult {
    // Format stability: the same records encode to the committed bytes.
    let seg = fixtures_dir().join("segment_v1/topics/events/1/00000000000000000000.log");
    let bytes = std::fs::read(&seg)?;
    let header = FileHeader::decode(&bytes).map_err(|e| format!("{e:?}"))?;
    assert_eq!((header.version, header.kind, header.base_offset), (1, FileKind::Segment, 0));
    let mut body = Vec::new();
    for (from, to) in P1_BATCHES {
        encode_batch(from, &fixture_records(1, from, to), &mut body).ok_or("encode")?;
    }
    assert_eq!(&bytes[FILE_HEADER_LEN..], &body[..]);
    Ok(())
}

#[test]
fn a_read_only_open_of_the_fixture_changes_no_byte() -> TestResult {
    let (_tmp, data) = load("segment_v1_torn_tail")?;
    let seg = p0_segments(&data)?.pop().ok_or("no segment")?;
    let before = std::fs::read(&seg)?;
    let log = Log::open(&data, LogOptions::default().read_only(true))?;
    let p0 = log.topic("events")?.partitions()[0].clone();
    let last = *batch_positions(&seg)?.last().ok_or("no batch")?;
    assert!(p0.end_offset() < P0_RECORDS);
    assert_records(&read_all(&p0)?, 0, &fixture_records(0, 0, p0.end_offset()));
    assert_eq!(std::fs::read(&seg)?, before);
    assert!(std::fs::metadata(&seg)?.len() > last);
    Ok(())
}

#[test]
fn the_torn_tail_fixture_is_truncated_without_error() -> TestResult {
    let (_tmp, data) = load("segment_v1_torn_tail")?;
    let seg = p0_segments(&data)?.pop().ok_or("no segment")?;
    let last = *batch_positions(&seg)?.last().ok_or("no batch")?;
    let log = Log::open(&data, fast())?;
    let events = log.topic("events")?;
    let p0 = &events.partitions()[0];
    let end = p0.end_offset();
    assert!(end > 0 && end < P0_RECORDS, "the last batch is gone, the others are not: {end}");
    assert_eq!(std::fs::metadata(&seg)?.len(), last);
    assert_records(&read_all(p0)?, 0, &fixture_records(0, 0, end));
    assert_records(&read_all(&events.partitions()[1])?, 0, &fixture_records(1, 0, 7));
    p0.append(&fixture_records(0, end, P0_RECORDS))?;
    assert_records(&read_all(p0)?, 0, &fixture_records(0, 0, P0_RECORDS));
    Ok(())
}

#[test]
fn the_corrupt_middle_fixture_fails_open_naming_file_and_position() -> TestResult {
    let (_tmp, data) = load("segment_v1_corrupt_middle")?;
    let damaged =
        p0_segments(&fixtures_dir().join("segment_v1_corrupt_middle"))?.pop().ok_or("no segment")?;
    let (rel, batch) = damage(&damaged, "segment_v1_corrupt_middle")?;
    let err = Log::open(&data, fast()).err().ok_or("corrupt fixture opened")?;
    let msg = err.to_string();
    match err {
        LogError::Corrupt { path, position, .. } => assert_eq!((path, position), (data.join(&rel), batch)),
        other => panic!("expected Corrupt, got {other}"),
    }
    assert!(
        msg.contains(&data.join(&rel).display().to_string()) && msg.contains(&format!("byte {batch}")),
        "{msg}"
    );
    Ok(())
}

#[test]
fn the_corrupt_closed_fixture_fails_the_read_naming_file_and_position() -> TestResult {
    let (_tmp, data) = load("segment_v1_corrupt_closed")?;
    let damaged = p0_segments(&fixtures_dir().join("segment_v1_corrupt_closed"))?.remove(0);
    let (rel, batch) = damage(&damaged, "segment_v1_corrupt_closed")?;
    let log = Log::open(&data, fast())?;
    let events = log.topic("events")?;
    let p0 = &events.partitions()[0];
    match p0.read(0, 1 << 20) {
        Err(LogError::Corrupt { path, position, .. }) => {
            assert_eq!((path, position), (data.join(&rel), batch))
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // Only that segment is affected.
    let second: u64 = p0_segments(&data)?[1].file_stem().and_then(|s| s.to_str()).ok_or("name")?.parse()?;
    assert_records(&read_from(p0, second)?, second, &fixture_records(0, second, P0_RECORDS));
    assert_records(&read_all(&events.partitions()[1])?, 0, &fixture_records(1, 0, 7));
    Ok(())
}
