//! Committed snapshots of format version 1 (`tests/fixtures/snapshot_v1/`, never regenerated):
//! this build must keep reading them.

use sluice_state::snapshot::SnapshotReader;
use sluice_state::{KeyGroups, KeyedValues, MemoryAccount, Result};

#[expect(clippy::ptr_arg, reason = "KeyedValues<String, _> takes a fn(&String) -> u64")]
fn len_hash(key: &String) -> u64 {
    key.len() as u64
}

const KEYED: &[u8] = include_bytes!("../fixtures/snapshot_v1/keyed.snap");

/// `keyed.snap`: operator "fuzz", fingerprint "v1", 8 key groups, range [0, 8); String -> u64
/// entries placed by key length: group 1 {a: 1}, group 3 {abc: 7, xyz: 9}, group 6 {abcdef: 2}.
#[test]
fn keyed_v1_restores_by_task() -> Result<()> {
    let groups = KeyGroups::new(8)?;
    let mut contents = Vec::new();
    for task in 0..2 {
        let mut state: KeyedValues<String, u64> =
            KeyedValues::new(groups, groups.range_for_task(task, 2)?, len_hash, MemoryAccount::detached("t"));
        state.restore("fuzz", "v1", &mut SnapshotReader::open("keyed.snap", KEYED)?)?;
        let mut entries: Vec<(String, u64)> = state.iter().map(|(k, v)| (k.clone(), *v)).collect();
        entries.sort();
        contents.push(entries);
    }
    let owned = |pairs: &[(&str, u64)]| pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect::<Vec<_>>();
    assert_eq!(contents, [owned(&[("a", 1), ("abc", 7), ("xyz", 9)]), owned(&[("abcdef", 2)])]);
    Ok(())
}
