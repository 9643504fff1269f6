//! Encoding window state by key group in one pass.
//!
//! The window state is one map per pane (or one list of keys for sessions), not one per key
//! group, and a snapshot must come out in key group order. [`Sections`] encodes each entry
//! straight into its group's buffer as the state is walked once, so every key's bytes are
//! touched once (hash and encoding together); the buffers are then written as whole sections.
//! [`hashed`] hashes entries a small batch ahead of their encoding, so the cache misses on
//! the keys' heap bytes overlap instead of queueing.

use std::io::Write;

use sluice_state::snapshot::SnapshotWriter;
use sluice_state::StateError;

use super::snapshot::SnapshotTarget;

type Result<T> = std::result::Result<T, StateError>;

/// Entries hashed ahead of their encoding (see the [module docs](self)).
const BATCH: usize = 32;

/// Per-group buffers of one snapshot's entries, in the range of a [`SnapshotTarget`].
pub(super) struct Sections<'t> {
    target: &'t SnapshotTarget<'t>,
    /// Entries and encoded payload per group of `target.range`, by index in the range.
    groups: Vec<(u64, Vec<u8>)>,
    /// Entries expected in all (to size the buffers after the first entry).
    expected: usize,
    sized: bool,
}

impl<'t> Sections<'t> {
    /// Empty buffers for `target.range`; `expected` entries (a sizing hint).
    pub(super) fn new(target: &'t SnapshotTarget<'t>, expected: usize) -> Self {
        let groups = (0..target.range.len()).map(|_| (0, Vec::new())).collect();
        Sections { target, groups, expected, sized: false }
    }

    /// Appends the entry written by `encode` to the group of a key with hash `hash`.
    ///
    /// # Errors
    /// [`StateError::KeyGroupNotOwned`] if that group is outside the target's range.
    #[inline]
    pub(super) fn push(&mut self, hash: u64, encode: impl FnOnce(&mut Vec<u8>)) -> Result<()> {
        let group = self.target.key_groups.group_for_hash(hash);
        let Some((entries, payload)) = self.target.range.index_of(group).and_then(|i| self.groups.get_mut(i))
        else {
            return Err(StateError::KeyGroupNotOwned {
                group: group.0,
                range: self.target.range.to_string(),
            });
        };
        *entries += 1;
        encode(payload);
        if !self.sized {
            let first = payload.len();
            self.size_for(first);
        }
        Ok(())
    }

    /// Sizes every buffer for its share of the expected entries at `entry_bytes` each (capped:
    /// the first entry may be unusually large), plus an eighth for uneven groups.
    #[cold]
    fn size_for(&mut self, entry_bytes: usize) {
        self.sized = true;
        let per_group = self.expected / self.groups.len().max(1) + 1;
        let bytes = per_group.saturating_mul(entry_bytes.min(256));
        for (_, payload) in &mut self.groups {
            payload.reserve((bytes + bytes / 8).saturating_sub(payload.len()));
        }
    }

    /// Total payload bytes so far.
    #[cfg(test)]
    pub(super) fn payload_bytes(&self) -> usize {
        self.groups.iter().map(|(_, p)| p.len()).sum()
    }

    /// Writes every non-empty group as one section, in group order.
    ///
    /// # Errors
    /// As [`SnapshotWriter::section`].
    pub(super) fn write_to<W: Write>(self, writer: &mut SnapshotWriter<W>) -> Result<()> {
        for (group, (entries, payload)) in self.target.range.iter().zip(self.groups) {
            if entries > 0 {
                writer.section(group, entries, &payload)?;
            }
        }
        Ok(())
    }
}

/// Calls `each(hash, item)` for every item, hashing [`BATCH`] items before handling them.
///
/// # Errors
/// The first error of `each`, which stops the walk.
#[inline]
pub(super) fn hashed<T: Copy>(
    items: impl Iterator<Item = T>,
    hash: impl Fn(T) -> u64,
    mut each: impl FnMut(u64, T) -> Result<()>,
) -> Result<()> {
    let mut items = items.peekable();
    let mut batch: Vec<(u64, T)> = Vec::with_capacity(BATCH);
    while items.peek().is_some() {
        batch.clear();
        batch.extend(items.by_ref().take(BATCH).map(|item| (hash(item), item)));
        for &(h, item) in &batch {
            each(h, item)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod test {
    use sluice_state::codec::StateCodec;
    use sluice_state::snapshot::{SnapshotHeader, SnapshotReader};
    use sluice_state::{KeyGroupRange, KeyGroups};

    use super::*;

    #[test]
    fn entries_land_in_their_groups_in_order() -> Result<()> {
        let groups = KeyGroups::new(8)?;
        let target = SnapshotTarget {
            name: "t",
            operator_id: "op",
            schema: "",
            key_groups: groups,
            range: KeyGroupRange::new(2, 6),
        };
        let mut sections = Sections::new(&target, 10);
        let mut seen = Vec::new();
        hashed(
            (0u64..40).filter(|h| (2..6).contains(&(h % 8))),
            |h| h,
            |h, item| {
                seen.push(item);
                sections.push(h, |out| item.encode(out))
            },
        )?;
        assert_eq!(seen.len(), 20);
        assert_eq!(sections.payload_bytes(), 20 * 8);
        assert!(sections.push(9, |_| {}).is_err(), "group 1 is not in the range");
        let header = SnapshotHeader::new("op", "", groups, target.range);
        let mut writer = SnapshotWriter::new("t", Vec::new(), header)?;
        sections.write_to(&mut writer)?;
        let (bytes, summary) = writer.finish()?;
        assert_eq!((summary.sections, summary.entries), (4, 20));
        let mut reader = SnapshotReader::open("t", &bytes[..])?;
        let mut back = Vec::new();
        while let Some(section) = reader.next_section()? {
            section.decode_entries(|h: u64| {
                assert_eq!(h % 8, u64::from(section.group().0));
                back.push(h);
                Ok(())
            })?;
        }
        let mut expected: Vec<u64> = (0u64..40).filter(|h| (2..6).contains(&(h % 8))).collect();
        expected.sort_by_key(|h| h % 8);
        assert_eq!(back, expected);
        Ok(())
    }
}
