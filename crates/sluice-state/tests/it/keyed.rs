//! Keyed values: snapshot at parallelism p1, restore at p2, and every key lands exactly once in
//! the task that owns its group.

use std::collections::BTreeMap;

use proptest::prelude::*;
use sluice_state::snapshot::SnapshotReader;
use sluice_state::{KeyGroups, KeyedValues, MemoryAccount, MemoryTracker, Result};

#[expect(clippy::ptr_arg, reason = "KeyedValues<String, _> takes a fn(&String) -> u64")]
fn hash(key: &String) -> u64 {
    // FNV-1a: fixed, so a key's group is the same in every task and every run.
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

type Values = KeyedValues<String, (u64, Option<String>)>;

/// Splits `data` over `p` tasks by key group, as the keyed exchange does.
fn tasks(
    groups: KeyGroups,
    p: u32,
    data: &BTreeMap<String, (u64, Option<String>)>,
    tracker: &MemoryTracker,
) -> Result<Vec<Values>> {
    let mut tasks: Vec<Values> = (0..p)
        .map(|i| {
            Ok(KeyedValues::new(groups, groups.range_for_task(i, p)?, hash, tracker.account(format!("t{i}"))))
        })
        .collect::<Result<_>>()?;
    for (key, value) in data {
        let owner = groups.task_for_group(groups.group_for_hash(hash(key)), p)? as usize;
        tasks[owner].insert(key.clone(), value.clone())?;
    }
    Ok(tasks)
}

fn rescale(max: u32, p1: u32, p2: u32, data: &BTreeMap<String, (u64, Option<String>)>) -> Result<()> {
    let groups = KeyGroups::new(max)?;
    let tracker = MemoryTracker::new();
    let old = tasks(groups, p1, data, &tracker)?;
    let snapshots: Vec<Vec<u8>> = old
        .iter()
        .enumerate()
        .map(|(i, t)| t.snapshot(&format!("t{i}"), "dedup", "v1", Vec::new()).map(|(b, _)| b))
        .collect::<Result<_>>()?;
    let mut seen = BTreeMap::new();
    for task in 0..p2 {
        let range = groups.range_for_task(task, p2)?;
        let mut new: Values = KeyedValues::new(groups, range, hash, MemoryAccount::detached("new"));
        for (i, bytes) in snapshots.iter().enumerate() {
            let mut reader = SnapshotReader::open(format!("t{i}"), &bytes[..])?;
            new.restore("dedup", "v1", &mut reader)?;
        }
        for (key, value) in new.iter() {
            assert!(range.contains(groups.group_for_hash(hash(key))), "{key} restored into the wrong task");
            assert!(seen.insert(key.clone(), value.clone()).is_none(), "{key} restored twice");
        }
        assert_eq!(new.account().used() > 0, !new.is_empty());
    }
    assert_eq!(&seen, data, "every key restored exactly once, with its value");
    Ok(())
}

proptest! {
    #[test]
    fn restore_at_another_parallelism_partitions_the_keys(
        max in 1u32..=64,
        p1_seed: u32,
        p2_seed: u32,
        data in prop::collection::btree_map("[a-z]{1,6}", (any::<u64>(), prop::option::of("[a-z]{0,4}")), 0..60),
    ) {
        let (p1, p2) = (p1_seed % max + 1, p2_seed % max + 1);
        rescale(max, p1, p2, &data).map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
}

#[test]
fn keys_of_other_groups_are_refused_and_accounting_follows_updates() -> Result<()> {
    let groups = KeyGroups::new(8)?;
    let tracker = MemoryTracker::new();
    let mut state: KeyedValues<String, u64> =
        KeyedValues::new(groups, groups.range_for_task(0, 2)?, hash, tracker.account("t0"))
            .with_heap_size(|k, _| k.capacity());
    let (mine, theirs): (Vec<String>, Vec<String>) =
        (0..40).map(|i| format!("k{i}")).partition(|k| groups.group_for_hash(hash(k)).0 < 4);
    assert!(state.insert(theirs[0].clone(), 1).is_err());
    for k in &mine {
        state.update(k.clone(), |v| Some(v.unwrap_or(0) + 1))?;
    }
    assert_eq!(state.len(), mine.len());
    assert!(tracker.used() >= mine.len() * (std::mem::size_of::<(String, u64)>() + 1));
    for k in &mine {
        assert_eq!(state.remove(k), Some(1));
    }
    assert_eq!((state.len(), tracker.used()), (0, 0));
    Ok(())
}

#[test]
fn a_snapshot_with_a_key_in_the_wrong_group_is_corrupt() -> Result<()> {
    // Written with another hash than the restoring state's: keys sit in the wrong groups.
    let groups = KeyGroups::new(16)?;
    let mut state: KeyedValues<String, u64> =
        KeyedValues::new(groups, groups.all(), |k| hash(k).rotate_left(7), MemoryAccount::detached("a"));
    for i in 0..50 {
        state.insert(format!("key-{i}"), i)?;
    }
    let (bytes, _) = state.snapshot("s", "op", "v1", Vec::new())?;
    let mut restored: KeyedValues<String, u64> =
        KeyedValues::new(groups, groups.all(), hash, MemoryAccount::detached("b"));
    let err = restored.restore("op", "v1", &mut SnapshotReader::open("s", &bytes[..])?).err();
    assert!(err.is_some_and(|e| e.to_string().contains("holds a key of key group")));
    Ok(())
}
