//! The state snapshot reader on arbitrary bytes: `SnapshotReader` must return a value or an
//! error for any input — never panic, never allocate more than the bytes present — and so must
//! decoding the sections' entries with the state codec and restoring `KeyedValues` from them.
//! When the first byte is odd, the input becomes the payload of a snapshot with valid
//! checksums, so that inputs reach the entry decoders rather than stopping at a CRC.
//!
//! Run: `cargo +nightly fuzz run state_snapshot` from `fuzz/`.
#![no_main]

use std::collections::{BTreeMap, HashSet};

use libfuzzer_sys::fuzz_target;
use sluice_state::snapshot::{SnapshotHeader, SnapshotReader, SnapshotWriter};
use sluice_state::{KeyGroup, KeyGroupRange, KeyGroups, KeyedValues, MemoryAccount};

type Entry = (String, Option<Vec<u8>>, BTreeMap<i64, HashSet<u32>>, (bool, f64, u16));

fn hash(key: &String) -> u64 {
    key.len() as u64
}

fuzz_target!(|data: &[u8]| {
    let bytes = match data.split_first() {
        Some((flag, rest)) if flag & 1 == 1 => {
            // A well-formed snapshot around the input: two sections of it.
            let groups = KeyGroups::new(8).unwrap();
            let header = SnapshotHeader::new("fuzz", "v1", groups, KeyGroupRange::new(0, 8));
            let mut writer = SnapshotWriter::new("fuzz", Vec::new(), header).unwrap();
            let (a, b) = rest.split_at(rest.len() / 2);
            for (group, part) in [(1, a), (6, b)] {
                writer.begin_group(KeyGroup(group)).unwrap();
                for _ in 0..(flag >> 1) % 4 {
                    writer.entry_with(|out| out.extend_from_slice(part)).unwrap();
                }
            }
            writer.finish().unwrap().0
        }
        _ => data.to_vec(),
    };

    if let Ok(mut reader) = SnapshotReader::open("fuzz", &bytes[..]) {
        loop {
            match reader.next_section() {
                Ok(Some(section)) => {
                    assert!(section.entries() <= section.payload().len() as u64);
                    let _ = section.decode_entries(|_: Entry| Ok(()));
                    let _ = section.decode_entries(|_: (u8, String)| Ok(()));
                }
                Ok(None) => break,
                Err(_) => break,
            }
        }
    }

    let groups = KeyGroups::new(8).unwrap();
    if let Ok(mut reader) = SnapshotReader::open("fuzz", &bytes[..]) {
        let mut state: KeyedValues<String, u64> =
            KeyedValues::new(groups, groups.range_for_task(0, 2).unwrap(), hash, MemoryAccount::detached("fuzz"));
        let _ = state.restore("fuzz", "v1", &mut reader);
    }
});
