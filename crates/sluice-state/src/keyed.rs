//! Keyed value state: one value per key, stored by key group, accounted and snapshotted.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::io::{Read, Write};

use crate::codec::StateCodec;
use crate::error::{Result, StateError};
use crate::key_group::{KeyGroup, KeyGroupRange, KeyGroups};
use crate::memory::MemoryAccount;
use crate::snapshot::{SnapshotHeader, SnapshotReader, SnapshotSummary, SnapshotWriter};

/// Per-key values of one operator instance, the state of operators such as deduplication or
/// joins.
///
/// Keys are stored in one map per key group of the owned range, so a snapshot writes each
/// group's section straight from its map and a restore at another parallelism takes whole
/// groups. A key's group is `key_groups.group_for_hash(hash(key))`, with `hash` the fixed hash
/// the keyed exchange routes by; a key outside the owned range is a routing bug and is refused.
///
/// Memory: each entry is accounted as `size_of::<(K, V)>() + 1` (the hash table's slot and
/// control byte) plus what `heap_size(key, value)` reports (default 0; set one with
/// [`with_heap_size`](Self::with_heap_size) for keys or values that own heap memory). Changes
/// through [`update`](Self::update), `insert` and `remove` are accounted; changes through
/// [`get_mut`](Self::get_mut) are not.
///
/// ```
/// use sluice_state::{KeyGroups, KeyedValues, MemoryAccount};
///
/// fn hash(key: &String) -> u64 { key.bytes().fold(7, |h, b| h.wrapping_mul(31) ^ u64::from(b)) }
///
/// let groups = KeyGroups::default();
/// let mut seen = KeyedValues::<String, u64>::new(groups, groups.all(), hash, MemoryAccount::detached("dedup"));
/// seen.update("order-17".to_string(), |n| Some(n.unwrap_or(0) + 1))?;
/// seen.update("order-17".to_string(), |n| Some(n.unwrap_or(0) + 1))?;
/// assert_eq!(seen.get(&"order-17".to_string()), Some(&2));
///
/// let (bytes, _) = seen.snapshot("dedup-0", "dedup", "String->u64", Vec::new())?;
/// let mut restored = KeyedValues::<String, u64>::new(groups, groups.all(), hash, MemoryAccount::detached("dedup"));
/// let mut reader = sluice_state::snapshot::SnapshotReader::open("dedup-0", &bytes[..])?;
/// restored.restore("dedup", "String->u64", &mut reader)?;
/// assert_eq!(restored.get(&"order-17".to_string()), Some(&2));
/// # Ok::<(), sluice_state::StateError>(())
/// ```
pub struct KeyedValues<K, V, S = RandomState> {
    key_groups: KeyGroups,
    range: KeyGroupRange,
    hash: fn(&K) -> u64,
    heap_size: fn(&K, &V) -> usize,
    groups: Vec<HashMap<K, V, S>>,
    len: usize,
    account: MemoryAccount,
}

impl<K, V, S> KeyedValues<K, V, S>
where
    K: Hash + Eq,
    S: BuildHasher + Default,
{
    /// Empty state for the groups `range` of `key_groups`, placing keys by `hash`.
    #[must_use]
    pub fn new(
        key_groups: KeyGroups,
        range: KeyGroupRange,
        hash: fn(&K) -> u64,
        account: MemoryAccount,
    ) -> Self {
        let groups = (0..range.len()).map(|_| HashMap::with_hasher(S::default())).collect();
        KeyedValues { key_groups, range, hash, heap_size: |_, _| 0, groups, len: 0, account }
    }

    /// Accounts `heap_size(key, value)` bytes per entry on top of its inline size.
    #[must_use]
    pub fn with_heap_size(mut self, heap_size: fn(&K, &V) -> usize) -> Self {
        self.heap_size = heap_size;
        self
    }

    /// The owned key groups.
    #[must_use]
    pub fn range(&self) -> KeyGroupRange {
        self.range
    }

    /// The key group of `key`.
    #[must_use]
    pub fn group_of(&self, key: &K) -> KeyGroup {
        self.key_groups.group_for_hash((self.hash)(key))
    }

    /// Number of keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no keys.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The memory account.
    #[must_use]
    pub fn account(&self) -> &MemoryAccount {
        &self.account
    }

    /// The value of `key`, if any (`None` as well for a key of a group not owned).
    #[must_use]
    pub fn get(&self, key: &K) -> Option<&V> {
        let index = self.range.index_of(self.group_of(key))?;
        self.groups.get(index)?.get(key)
    }

    /// The value of `key` for in-place changes that do not change its heap size.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let index = self.range.index_of(self.group_of(key))?;
        self.groups.get_mut(index)?.get_mut(key)
    }

    /// Sets `key` to `value`; returns the previous value.
    ///
    /// # Errors
    /// [`StateError::KeyGroupNotOwned`] if the key's group is not in the owned range.
    pub fn insert(&mut self, key: K, value: V) -> Result<Option<V>> {
        let mut value = Some(value);
        let mut previous = None;
        self.update(key, |old| {
            previous = old;
            value.take()
        })?;
        Ok(previous)
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let index = self.range.index_of(self.group_of(key))?;
        let (key, value) = self.groups.get_mut(index)?.remove_entry(key)?;
        self.account.release(self.entry_bytes(&key, &value));
        self.len -= 1;
        Some(value)
    }

    /// Replaces the value of `key` by `f(current)`: `Some` stores, `None` removes.
    ///
    /// # Errors
    /// [`StateError::KeyGroupNotOwned`] if the key's group is not in the owned range.
    pub fn update(&mut self, key: K, f: impl FnOnce(Option<V>) -> Option<V>) -> Result<()> {
        let group = self.group_of(&key);
        let Some(map) = self.range.index_of(group).and_then(|i| self.groups.get_mut(i)) else {
            return Err(StateError::KeyGroupNotOwned { group: group.0, range: self.range.to_string() });
        };
        let old = map.remove(&key);
        if let Some(old) = &old {
            self.account.release(entry_bytes(self.heap_size, &key, old));
            self.len -= 1;
        }
        if let Some(new) = f(old) {
            self.account.add(entry_bytes(self.heap_size, &key, &new));
            map.insert(key, new);
            self.len += 1;
        }
        Ok(())
    }

    /// Every `(key, value)`, group by group.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.groups.iter().flat_map(|m| m.iter())
    }

    fn entry_bytes(&self, key: &K, value: &V) -> usize {
        entry_bytes(self.heap_size, key, value)
    }
}

fn entry_bytes<K, V>(heap_size: fn(&K, &V) -> usize, key: &K, value: &V) -> usize {
    std::mem::size_of::<(K, V)>() + 1 + heap_size(key, value)
}

impl<K, V, S> KeyedValues<K, V, S>
where
    K: Hash + Eq + StateCodec,
    V: StateCodec,
    S: BuildHasher + Default,
{
    /// Writes the state to `out` as snapshot `name` of `operator_id` with `fingerprint`: one
    /// section per non-empty key group, each entry the key then the value.
    ///
    /// # Errors
    /// [`StateError::Io`] if writing fails.
    pub fn snapshot<W: Write>(
        &self,
        name: &str,
        operator_id: &str,
        fingerprint: &str,
        out: W,
    ) -> Result<(W, SnapshotSummary)> {
        let header = SnapshotHeader::new(operator_id, fingerprint, self.key_groups, self.range);
        let mut writer = SnapshotWriter::new(name, out, header)?;
        for (group, map) in self.range.iter().zip(&self.groups) {
            if map.is_empty() {
                continue;
            }
            writer.begin_group(group)?;
            for (k, v) in map {
                writer.entry_with(|out| {
                    k.encode(out);
                    v.encode(out);
                })?;
            }
        }
        writer.finish()
    }

    /// Adds the entries of the owned key groups found in `reader`, a snapshot of
    /// `operator_id` with `fingerprint` (written by any task at any parallelism), and checks the
    /// whole snapshot. A snapshot whose range does not overlap the owned one is not read.
    ///
    /// On error the state may hold part of the snapshot: discard it.
    ///
    /// # Errors
    /// [`StateError::Incompatible`] for another operator, fingerprint or number of key groups;
    /// [`StateError::Corrupt`] for damage, a key in the wrong group or a key present twice.
    pub fn restore<R: Read>(
        &mut self,
        operator_id: &str,
        fingerprint: &str,
        reader: &mut SnapshotReader<R>,
    ) -> Result<()> {
        reader.expect(operator_id, fingerprint, self.key_groups)?;
        let theirs = reader.header().range;
        if theirs.end <= self.range.start || self.range.end <= theirs.start {
            return Ok(());
        }
        while let Some(section) = reader.next_section()? {
            let Some(map) = self.range.index_of(section.group()).and_then(|i| self.groups.get_mut(i)) else {
                continue;
            };
            // `entries` is at most the payload's length (checked by the reader): bounded.
            map.reserve(usize::try_from(section.entries()).unwrap_or(0));
            let (key_groups, hash, heap_size) = (self.key_groups, self.hash, self.heap_size);
            let (account, len) = (&self.account, &mut self.len);
            section.decode_entries(|(key, value): (K, V)| {
                let group = key_groups.group_for_hash(hash(&key));
                if group != section.group() {
                    return Err(section.error(0, format!("holds a key of {group}")));
                }
                account.add(entry_bytes(heap_size, &key, &value));
                if map.insert(key, value).is_some() {
                    return Err(section.error(0, "holds a key twice".into()));
                }
                *len += 1;
                Ok(())
            })?;
        }
        Ok(())
    }
}
