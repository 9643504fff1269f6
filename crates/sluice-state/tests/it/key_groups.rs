//! Key groups: the ranges of `p` tasks partition every group, and owner and range agree.

use proptest::prelude::*;
use sluice_state::{KeyGroup, KeyGroups};

proptest! {
    #[test]
    fn ranges_partition_all_groups(max in 1u32..=4096, p_seed: u32) {
        let groups = KeyGroups::new(max).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let p = p_seed % max + 1;
        let mut next = 0;
        for task in 0..p {
            let range = groups.range_for_task(task, p).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(range.start, next, "ranges are contiguous");
            prop_assert!(!range.is_empty(), "every task owns at least one group when p <= max");
            // Balanced: sizes differ by at most one.
            prop_assert!(range.len() == max / p || range.len() == max.div_ceil(p));
            next = range.end;
        }
        prop_assert_eq!(next, max);
    }

    #[test]
    fn owner_and_range_agree(max in 1u32..=32768, p_seed: u32, hash: u64) {
        let groups = KeyGroups::new(max).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let p = p_seed % max + 1;
        let group = groups.group_for_hash(hash);
        prop_assert!(group.0 < max);
        prop_assert_eq!(group, groups.group_for_hash(hash), "deterministic");
        let owner = groups.task_for_group(group, p).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let range = groups.range_for_task(owner, p).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(range.contains(group));
    }

    /// For any p1 and p2, every group of a p2 task comes from exactly one p1 task, and the
    /// groups a p2 task collects from the p1 tasks are exactly its range.
    #[test]
    fn rescaling_reassigns_whole_groups(max in 1u32..=512, p1_seed: u32, p2_seed: u32) {
        let groups = KeyGroups::new(max).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let (p1, p2) = (p1_seed % max + 1, p2_seed % max + 1);
        let mut owners = vec![0u32; max as usize];
        for new_task in 0..p2 {
            let new = groups.range_for_task(new_task, p2).map_err(|e| TestCaseError::fail(e.to_string()))?;
            for old_task in 0..p1 {
                let old = groups.range_for_task(old_task, p1).map_err(|e| TestCaseError::fail(e.to_string()))?;
                for g in old.iter().filter(|g| new.contains(*g)) {
                    owners[g.0 as usize] += 1;
                    let owner = groups.task_for_group(KeyGroup(g.0), p2).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(owner, new_task);
                }
            }
        }
        prop_assert!(owners.iter().all(|&n| n == 1));
    }
}
