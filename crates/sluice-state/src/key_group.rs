//! Key groups: the unit in which keyed state is split, snapshotted and redistributed.
//!
//! Keyed state cannot be split by "task" because the number of tasks (the parallelism) changes
//! when a job is rescaled. It is split instead into a fixed number of **key groups**, chosen
//! when the job first runs and stored in every snapshot (as Flink's `maxParallelism`):
//!
//! - A key's group is `hash(key) % max_key_groups`, where `hash` is the fixed 64-bit hash the
//!   keyed exchange routes by (never a randomly seeded one: the mapping must survive restarts).
//! - Task `i` of `p` owns the contiguous range `[ceil(i·max / p), ceil((i+1)·max / p))`, and group
//!   `g` belongs to task `g·p / max` — the inverse. So the ranges of the `p` tasks partition
//!   `0..max` exactly, every task owns `max / p` groups rounded up or down, and a restore at
//!   parallelism `p2` reads, from the snapshots of the `p1` tasks before it, the groups of its
//!   own range.
//! - `max_key_groups` bounds the parallelism: `1 <= p <= max_key_groups <= 32768`. The default,
//!   128, allows rescaling up to 128 tasks while keeping the per-group overhead small.

use std::fmt;

use crate::error::{Result, StateError};

/// Largest supported number of key groups (as in Flink: `2^15`).
pub const MAX_KEY_GROUPS_LIMIT: u32 = 1 << 15;

/// Default number of key groups.
pub const DEFAULT_MAX_KEY_GROUPS: u32 = 128;

/// One key group, in `0..max_key_groups`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyGroup(pub u32);

impl fmt::Display for KeyGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key group {}", self.0)
    }
}

/// The fixed number of key groups of a job, and the arithmetic over it.
///
/// ```
/// use sluice_state::{KeyGroup, KeyGroups};
///
/// let groups = KeyGroups::default(); // 128
/// let g = groups.group_for_hash(0x1234_5678_9abc_def0);
/// let range = groups.range_for_task(1, 3)?; // task 1 of 3 owns [43, 86)
/// assert_eq!((range.start, range.end), (43, 86));
/// let owner = groups.task_for_group(g, 3)?;
/// assert!(groups.range_for_task(owner, 3)?.contains(g));
/// # Ok::<(), sluice_state::StateError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyGroups {
    max: u32,
}

impl Default for KeyGroups {
    /// [`DEFAULT_MAX_KEY_GROUPS`] groups.
    fn default() -> Self {
        KeyGroups { max: DEFAULT_MAX_KEY_GROUPS }
    }
}

impl KeyGroups {
    /// `max` key groups.
    ///
    /// # Errors
    /// [`StateError::InvalidConfig`] unless `1 <= max <= 32768`.
    pub fn new(max: u32) -> Result<Self> {
        if max == 0 || max > MAX_KEY_GROUPS_LIMIT {
            return Err(StateError::InvalidConfig(format!(
                "max key groups must be in 1..={MAX_KEY_GROUPS_LIMIT}, not {max}"
            )));
        }
        Ok(KeyGroups { max })
    }

    /// The number of key groups.
    #[must_use]
    pub fn max(&self) -> u32 {
        self.max
    }

    /// The group of a key whose fixed hash is `hash`: `hash % max`.
    #[inline]
    #[must_use]
    pub fn group_for_hash(&self, hash: u64) -> KeyGroup {
        // `max <= 2^15`, so the remainder fits.
        KeyGroup((hash % u64::from(self.max)) as u32)
    }

    /// The range of groups task `index` of `parallelism` owns.
    ///
    /// # Errors
    /// [`StateError::InvalidConfig`] unless `index < parallelism <= max`.
    pub fn range_for_task(&self, index: u32, parallelism: u32) -> Result<KeyGroupRange> {
        self.check_parallelism(parallelism)?;
        if index >= parallelism {
            return Err(StateError::InvalidConfig(format!(
                "task index {index} is not below the parallelism {parallelism}"
            )));
        }
        let (max, p, i) = (u64::from(self.max), u64::from(parallelism), u64::from(index));
        // ceil(i·max / p); fits u32 since it is <= max.
        let start = (i * max).div_ceil(p) as u32;
        let end = ((i + 1) * max).div_ceil(p) as u32;
        Ok(KeyGroupRange { start, end })
    }

    /// The task of `parallelism` tasks that owns `group`: `group · parallelism / max`.
    ///
    /// # Errors
    /// [`StateError::InvalidConfig`] unless `parallelism <= max` and `group < max`.
    pub fn task_for_group(&self, group: KeyGroup, parallelism: u32) -> Result<u32> {
        self.check_parallelism(parallelism)?;
        if group.0 >= self.max {
            return Err(StateError::InvalidConfig(format!("{group} is not below {} groups", self.max)));
        }
        Ok((u64::from(group.0) * u64::from(parallelism) / u64::from(self.max)) as u32)
    }

    /// Every group: `[0, max)`.
    #[must_use]
    pub fn all(&self) -> KeyGroupRange {
        KeyGroupRange { start: 0, end: self.max }
    }

    fn check_parallelism(&self, parallelism: u32) -> Result<()> {
        if parallelism == 0 || parallelism > self.max {
            return Err(StateError::InvalidConfig(format!(
                "parallelism {parallelism} must be in 1..={} (the number of key groups)",
                self.max
            )));
        }
        Ok(())
    }
}

/// A half-open range of key groups `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyGroupRange {
    /// First group in the range.
    pub start: u32,
    /// First group after the range.
    pub end: u32,
}

impl KeyGroupRange {
    /// `[start, end)`.
    #[must_use]
    pub const fn new(start: u32, end: u32) -> Self {
        KeyGroupRange { start, end }
    }

    /// Whether `group` is in the range.
    #[inline]
    #[must_use]
    pub const fn contains(&self, group: KeyGroup) -> bool {
        self.start <= group.0 && group.0 < self.end
    }

    /// Number of groups in the range.
    #[must_use]
    pub const fn len(&self) -> u32 {
        self.end.saturating_sub(self.start)
    }

    /// Whether the range holds no group.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// The groups, in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = KeyGroup> {
        (self.start..self.end).map(KeyGroup)
    }

    /// Position of `group` inside the range (`group − start`), if it is in it.
    #[inline]
    #[must_use]
    pub fn index_of(&self, group: KeyGroup) -> Option<usize> {
        self.contains(group).then(|| (group.0 - self.start) as usize)
    }
}

impl fmt::Display for KeyGroupRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {})", self.start, self.end)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn ranges_follow_ceil_division() -> Result<()> {
        let groups = KeyGroups::new(10)?;
        let ranges: Vec<(u32, u32)> =
            (0..3).map(|i| groups.range_for_task(i, 3).map(|r| (r.start, r.end))).collect::<Result<_>>()?;
        assert_eq!(ranges, [(0, 4), (4, 7), (7, 10)]);
        let owners: Vec<u32> =
            (0..10).map(|g| groups.task_for_group(KeyGroup(g), 3)).collect::<Result<_>>()?;
        assert_eq!(owners, [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]);
        Ok(())
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert!(KeyGroups::new(0).is_err());
        assert!(KeyGroups::new(MAX_KEY_GROUPS_LIMIT + 1).is_err());
        let groups = KeyGroups::default();
        assert!(groups.range_for_task(0, 0).is_err());
        assert!(groups.range_for_task(3, 3).is_err());
        assert!(groups.range_for_task(0, 129).is_err());
        assert!(groups.task_for_group(KeyGroup(128), 2).is_err());
    }
}
