use proptest::prelude::*;

use super::{SnapshotHeader, SnapshotReader, SnapshotWriter};
use crate::error::{Result, StateError};
use crate::key_group::{KeyGroup, KeyGroupRange, KeyGroups};

/// A snapshot of `groups` (group, entries of (String, i64)) over `range` of 16 key groups.
fn write(range: KeyGroupRange, groups: &[(u32, Vec<(String, i64)>)], meta: Vec<u8>) -> Result<Vec<u8>> {
    let header = SnapshotHeader::new("op", "fp", KeyGroups::new(16)?, range).with_meta(meta);
    let mut writer = SnapshotWriter::new("test", Vec::new(), header)?;
    for (group, entries) in groups {
        writer.begin_group(KeyGroup(*group))?;
        for entry in entries {
            writer.entry(entry)?;
        }
    }
    Ok(writer.finish()?.0)
}

/// Reads a whole snapshot back.
type Groups = Vec<(u32, Vec<(String, i64)>)>;

fn read(bytes: &[u8]) -> Result<(SnapshotHeader, Groups)> {
    let mut reader = SnapshotReader::open("test", bytes)?;
    let mut groups = Vec::new();
    while let Some(section) = reader.next_section()? {
        let mut entries = Vec::new();
        section.decode_entries(|e: (String, i64)| {
            entries.push(e);
            Ok(())
        })?;
        groups.push((section.group().0, entries));
    }
    Ok((reader.header().clone(), groups))
}

fn sample() -> Result<Vec<u8>> {
    write(
        KeyGroupRange::new(2, 9),
        &[(2, vec![("a".into(), 1), ("bb".into(), -2)]), (5, vec![]), (8, vec![("c".into(), 3)])],
        vec![7, 7, 7],
    )
}

#[test]
fn round_trip() -> Result<()> {
    let bytes = sample()?;
    let (header, groups) = read(&bytes)?;
    assert_eq!((header.operator_id.as_str(), header.fingerprint.as_str()), ("op", "fp"));
    assert_eq!((header.range, header.meta), (KeyGroupRange::new(2, 9), vec![7, 7, 7]));
    assert_eq!(groups.len(), 3);
    assert_eq!(groups[0], (2, vec![("a".to_string(), 1), ("bb".to_string(), -2)]));
    Ok(())
}

#[test]
fn every_flipped_byte_and_every_truncation_is_an_error() -> Result<()> {
    let bytes = sample()?;
    for pos in 0..bytes.len() {
        for bit in [0x01, 0x80, 0xff] {
            let mut damaged = bytes.clone();
            damaged[pos] ^= bit;
            assert!(read(&damaged).is_err(), "flip {bit:#x} at byte {pos} went unnoticed");
        }
    }
    for len in 0..bytes.len() {
        assert!(read(&bytes[..len]).is_err(), "truncation to {len} bytes went unnoticed");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(read(&longer).is_err());
    Ok(())
}

#[test]
fn errors_name_the_snapshot_section_and_offset() -> Result<()> {
    let bytes = sample()?;
    // The first section starts after the header; flip a byte of its payload.
    let header_len = 8 + 2 + 2 + 12 + 2 + 2 + 2 + 2 + 4 + 3 + 4;
    let mut damaged = bytes.clone();
    damaged[header_len + 21 + 1] ^= 1;
    let err = read(&damaged).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.starts_with(&format!("snapshot test: key group 2 at byte {header_len}: checksum")), "{err}");
    let truncated = read(&bytes[..bytes.len() - 3]).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(truncated.contains("footer") && truncated.contains("truncated"), "{truncated}");
    Ok(())
}

#[test]
fn writer_refuses_groups_out_of_order_or_range() -> Result<()> {
    let header = SnapshotHeader::new("op", "fp", KeyGroups::new(16)?, KeyGroupRange::new(4, 8));
    let mut writer = SnapshotWriter::new("test", Vec::new(), header)?;
    assert!(writer.entry(&1u8).is_err());
    assert!(writer.begin_group(KeyGroup(3)).is_err());
    writer.begin_group(KeyGroup(5))?;
    assert!(writer.begin_group(KeyGroup(5)).is_err());
    assert!(writer.begin_group(KeyGroup(8)).is_err());
    assert!(writer.section(KeyGroup(5), 0, &[]).is_err());
    writer.section(KeyGroup(6), 0, &[])?;
    assert!(writer.entry(&1u8).is_err(), "a whole section stays closed");
    let bad = SnapshotHeader::new("op", "fp", KeyGroups::new(16)?, KeyGroupRange::new(4, 17));
    assert!(SnapshotWriter::new("test", Vec::new(), bad).is_err());
    Ok(())
}

#[test]
fn other_versions_and_operators_are_refused() -> Result<()> {
    let mut bytes = sample()?;
    bytes[8] = 2;
    assert!(matches!(read(&bytes), Err(StateError::UnsupportedVersion { found: 2, .. })));
    let good = sample()?;
    let reader = SnapshotReader::open("test", &good[..])?;
    assert!(reader.expect("op", "fp", KeyGroups::new(16)?).is_ok());
    let err = reader.expect("op", "fp2", KeyGroups::new(16)?).err().map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("snapshot test does not fit operator \"op\": its state schema is \"fp\", the operator's is \"fp2\"")
    );
    assert!(reader.expect("other", "fp", KeyGroups::new(16)?).is_err());
    assert!(reader.expect("op", "fp", KeyGroups::new(32)?).is_err());
    Ok(())
}

proptest! {
    #[test]
    fn random_snapshots_round_trip(
        groups in prop::collection::btree_map(0u32..16, prop::collection::vec((".{0,8}", any::<i64>()), 0..5), 0..6),
        meta in prop::collection::vec(any::<u8>(), 0..20),
    ) {
        let groups: Vec<(u32, Vec<(String, i64)>)> = groups.into_iter().collect();
        let bytes = write(KeyGroupRange::new(0, 16), &groups, meta.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let (header, back) = read(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(header.meta, meta);
        prop_assert_eq!(back, groups);
    }

    #[test]
    fn whole_sections_write_the_same_bytes_as_entries(
        groups in prop::collection::btree_map(0u32..16, prop::collection::vec((".{0,8}", any::<i64>()), 0..5), 0..6),
        meta in prop::collection::vec(any::<u8>(), 0..20),
    ) {
        let groups: Vec<(u32, Vec<(String, i64)>)> = groups.into_iter().collect();
        let fail = |e: StateError| TestCaseError::fail(e.to_string());
        let expected = write(KeyGroupRange::new(0, 16), &groups, meta.clone()).map_err(fail)?;
        let header = SnapshotHeader::new("op", "fp", KeyGroups::new(16).map_err(fail)?, KeyGroupRange::new(0, 16))
            .with_meta(meta);
        let mut writer = SnapshotWriter::new("test", Vec::new(), header).map_err(fail)?;
        for (i, (group, entries)) in groups.iter().enumerate() {
            if i % 2 == 0 {
                let mut payload = Vec::new();
                entries.iter().for_each(|e| crate::codec::StateCodec::encode(e, &mut payload));
                writer.section(KeyGroup(*group), entries.len() as u64, &payload).map_err(fail)?;
            } else {
                writer.begin_group(KeyGroup(*group)).map_err(fail)?;
                for entry in entries {
                    writer.entry(entry).map_err(fail)?;
                }
            }
        }
        let (bytes, summary) = writer.finish().map_err(fail)?;
        prop_assert_eq!(summary.bytes, bytes.len() as u64);
        prop_assert_eq!(bytes, expected);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200), splice: bool) {
        // Either pure noise, or a valid header followed by noise.
        let input = if splice {
            let mut valid = sample().map_err(|e| TestCaseError::fail(e.to_string()))?;
            valid.truncate(44);
            valid.extend_from_slice(&bytes);
            valid
        } else {
            bytes
        };
        let _ = read(&input);
    }
}
