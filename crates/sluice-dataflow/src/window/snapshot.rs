//! Snapshots of window state, by key group.
//!
//! [`AlignedWindows`], [`SessionWindows`] and [`WindowAggregator`] write their state as a
//! `sluice-state` snapshot (see `sluice_state::snapshot` for the file format) and restore it,
//! given codecs for the key and the accumulator ([`StateCodec`]) and the fixed hash of a key
//! the keyed exchange routes by (its key group is `hash % max_key_groups`).
//!
//! - **Meta** (operator-wide): the watermark, as an `i64`.
//! - **Fingerprint**: the window shape (`tumbling`/`hop`: size, slide, offset; `session`: gap),
//!   the allowed lateness, then the caller's `schema` string, which should name the key and
//!   accumulator types. A restore requires the same fingerprint.
//! - **Entries**, one section per non-empty key group: tumbling and hop windows write one
//!   `(pane_start: i64, key, acc)` per pane and key; sessions write one
//!   `(key, [(start: i64, end: i64, acc)])` per key, its open sessions in order.
//!
//! # Restore and rescaling
//!
//! `restore` takes the snapshots of every task of the previous run (any parallelism), reads the
//! key groups of its own range from each and skips the others, and checks every entry: its key
//! is in the section's group, a pane is aligned to the grid and still open, sessions are sorted,
//! apart, at least a gap long and open, and nothing is present twice. The restored watermark is
//! the minimum over the snapshots: at an aligned checkpoint every keyed task has seen the same
//! watermarks (sources broadcast them, and barriers are aligned), so they are equal; the
//! minimum is the safe choice if they are not — no window closes before its time.
//!
//! Restoring a snapshot and continuing gives exactly the output of an uninterrupted run: the
//! state holds no hidden order (emission is sorted by window and key), and per key, panes and
//! sessions merge in the same order as before.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::io::{Read, Write};

use sluice_state::codec::{encode_len, StateCodec};
use sluice_state::snapshot::{SnapshotHeader, SnapshotReader, SnapshotSummary, SnapshotWriter};
use sluice_state::{KeyGroupRange, KeyGroups, StateError};

use super::aligned::Pane;
use super::sections::{hashed, Sections};
use super::session::{KeySessions, Session};
use super::{AlignedWindows, SessionWindows, WindowAggregator};
use crate::aggregate::Aggregate;
use crate::time::{TimestampMs, Watermark};

type Result<T> = std::result::Result<T, StateError>;

/// Where a snapshot goes and what it is: the operator's state name, the caller's description of
/// its key and accumulator types, the job's key groups and the range this instance owns.
#[derive(Debug, Clone, Copy)]
pub struct SnapshotTarget<'a> {
    /// The snapshot's name in error messages (a file name).
    pub name: &'a str,
    /// The operator instance's state name, stable across runs.
    pub operator_id: &'a str,
    /// Names the key and accumulator types; part of the fingerprint.
    pub schema: &'a str,
    /// The job's key groups.
    pub key_groups: KeyGroups,
    /// The groups this instance owns (on restore: the groups to take).
    pub range: KeyGroupRange,
}

impl SnapshotTarget<'_> {
    fn header(&self, fingerprint: String, watermark: Watermark) -> SnapshotHeader {
        SnapshotHeader::new(self.operator_id, fingerprint, self.key_groups, self.range)
            .with_meta(watermark.get().to_le_bytes().to_vec())
    }
}

/// The watermark of a snapshot's meta.
fn meta_watermark<R: Read>(reader: &SnapshotReader<R>) -> Result<Watermark> {
    match <[u8; 8]>::try_from(reader.header().meta.as_slice()) {
        Ok(bytes) => Ok(Watermark(i64::from_le_bytes(bytes))),
        Err(_) => Err(StateError::Corrupt {
            snapshot: reader.name().into(),
            section: "header".into(),
            offset: 0,
            reason: format!("window meta is {} bytes, not an 8-byte watermark", reader.header().meta.len()),
        }),
    }
}

/// Checks every reader against `target` and `fingerprint`; the minimum watermark.
fn open_all<R: Read>(
    readers: &[SnapshotReader<R>],
    target: &SnapshotTarget<'_>,
    fingerprint: &str,
) -> Result<Watermark> {
    let mut watermark = Watermark::MAX;
    for reader in readers {
        reader.expect(target.operator_id, fingerprint, target.key_groups)?;
        watermark = watermark.min(meta_watermark(reader)?);
    }
    Ok(if readers.is_empty() { Watermark::MIN } else { watermark })
}

fn overlaps(a: KeyGroupRange, b: KeyGroupRange) -> bool {
    a.start < b.end && b.start < a.end
}

fn not_empty(target: &SnapshotTarget<'_>) -> StateError {
    StateError::InvalidConfig(format!("{}: restore into window state that is not empty", target.operator_id))
}

impl<K, A, S> AlignedWindows<K, A, S>
where
    K: Hash + Eq + Ord + Clone + StateCodec,
    A: Aggregate,
    A::Acc: StateCodec,
    S: BuildHasher + Default,
{
    fn fingerprint(&self, schema: &str) -> String {
        let g = &self.grid;
        let kind = if g.is_tumbling() { "tumbling" } else { "hop" };
        format!(
            "window/{kind} size={} slide={} offset={} lateness={};{schema}",
            g.size, g.slide, g.offset, self.lateness
        )
    }

    /// Writes the state of the groups `target.range` to `out`; see the [module docs](self).
    ///
    /// # Errors
    /// [`StateError::KeyGroupNotOwned`] if a key's group is outside `target.range`;
    /// [`StateError::Io`] if writing fails.
    pub fn snapshot<W: Write>(
        &self,
        target: &SnapshotTarget<'_>,
        key_hash: impl Fn(&K) -> u64,
        out: W,
    ) -> Result<(W, SnapshotSummary)> {
        let header = target.header(self.fingerprint(target.schema), self.watermark);
        let mut writer = SnapshotWriter::new(target.name, out, header)?;
        // PERF: one pass hashes and encodes every entry into its group's buffer (see `sections`).
        let mut sections = Sections::new(target, self.entries);
        for pane in &self.panes {
            let start = pane.start;
            hashed(
                pane.accs.iter(),
                |(key, _)| key_hash(key),
                |hash, (key, acc)| {
                    sections.push(hash, |out| {
                        start.encode(out);
                        key.encode(out);
                        acc.encode(out);
                    })
                },
            )?;
        }
        sections.write_to(&mut writer)?;
        writer.finish()
    }

    /// Restores the groups `target.range` from the snapshots of the previous run into this
    /// empty state; see the [module docs](self). On error, discard the state.
    ///
    /// # Errors
    /// [`StateError::Incompatible`] for a snapshot of another operator, window or schema;
    /// [`StateError::Corrupt`] for damage or an impossible entry; [`StateError::InvalidConfig`]
    /// if this state is not empty.
    pub fn restore<R: Read>(
        &mut self,
        target: &SnapshotTarget<'_>,
        key_hash: impl Fn(&K) -> u64,
        readers: &mut [SnapshotReader<R>],
    ) -> Result<()> {
        if self.entries != 0 || !self.panes.is_empty() || self.watermark != Watermark::MIN {
            return Err(not_empty(target));
        }
        let fingerprint = self.fingerprint(target.schema);
        self.watermark = open_all(readers, target, &fingerprint)?;
        self.open_from = self.grid.open_from(self.watermark, self.lateness);
        // Sections read and their entries: the average sizes a growing pane for the groups left.
        let (mut sections, mut restored) = (0usize, 0usize);
        for reader in readers.iter_mut().filter(|r| overlaps(r.header().range, target.range)) {
            while let Some(section) = reader.next_section()? {
                if !target.range.contains(section.group()) {
                    continue;
                }
                // PERF: tumbling state has one open pane per window: size a full pane at once for
                // the rest of the section (bounded: entries <= payload bytes) and, at the average
                // so far, for the groups after it (so it grows a couple of times, not ~log2(n)).
                let mut remaining = usize::try_from(section.entries()).unwrap_or(0);
                let groups_left = (target.range.end.saturating_sub(section.group().0 + 1)) as usize;
                let average = restored / sections.max(1);
                sections += 1;
                restored += remaining;
                let tumbling = self.grid.is_tumbling();
                section.decode_entries(|(start, key, acc): (i64, K, A::Acc)| {
                    remaining = remaining.saturating_sub(1);
                    let group = target.key_groups.group_for_hash(key_hash(&key));
                    if group != section.group() {
                        return Err(section.error(0, format!("holds a key of {group}")));
                    }
                    if self.grid.pane_start(start) != start || i128::from(start) < self.open_from {
                        return Err(section.error(0, format!("pane {start} is off the grid or closed")));
                    }
                    let index = match self.panes.binary_search_by_key(&start, |p| p.start) {
                        Ok(index) => index,
                        Err(index) => {
                            self.panes
                                .insert(index, Pane { start, accs: HashMap::with_hasher(S::default()) });
                            index
                        }
                    };
                    let Some(accs) = self.panes.get_mut(index).map(|p| &mut p.accs) else {
                        return Err(section.error(0, format!("pane {start} vanished")));
                    };
                    if tumbling && accs.len() == accs.capacity() {
                        accs.reserve(remaining + 1 + average.saturating_mul(groups_left));
                    }
                    match accs.entry(key) {
                        Entry::Vacant(slot) => {
                            slot.insert(acc);
                            self.entries += 1;
                            Ok(())
                        }
                        Entry::Occupied(_) => {
                            Err(section.error(0, format!("holds a key twice in pane {start}")))
                        }
                    }
                })?;
            }
        }
        Ok(())
    }
}

/// A key and its open sessions, borrowed for a snapshot.
type KeyRef<'a, K, Acc> = (&'a K, &'a [Session<Acc>]);

/// Whether a session ending at `end` is closed at `wm` (as in `session.rs`).
fn session_closed(end: TimestampMs, lateness: i64, wm: Watermark) -> bool {
    wm.is_end() || i128::from(end) + i128::from(lateness) <= i128::from(wm.get())
}

impl<K, A, S> SessionWindows<K, A, S>
where
    K: Hash + Eq + Ord + Clone + StateCodec,
    A: Aggregate,
    A::Acc: StateCodec,
    S: BuildHasher + Default,
{
    fn fingerprint(&self, schema: &str) -> String {
        format!("window/session gap={} lateness={};{schema}", self.gap, self.lateness)
    }

    /// Writes the state of the groups `target.range` to `out`; see the [module docs](self).
    ///
    /// # Errors
    /// [`StateError::KeyGroupNotOwned`] if a key's group is outside `target.range`;
    /// [`StateError::Io`] if writing fails.
    pub fn snapshot<W: Write>(
        &self,
        target: &SnapshotTarget<'_>,
        key_hash: impl Fn(&K) -> u64,
        out: W,
    ) -> Result<(W, SnapshotSummary)> {
        let header = target.header(self.fingerprint(target.schema), self.watermark);
        let mut writer = SnapshotWriter::new(target.name, out, header)?;
        let mut sections = Sections::new(target, self.slots.len());
        let keys = self.keys.iter().filter_map(|slot| {
            slot.key.as_ref().filter(|_| !slot.sessions.is_empty()).map(|key| (key, slot.sessions.as_slice()))
        });
        hashed(
            keys,
            |(key, _)| key_hash(key),
            |hash, (key, sessions): KeyRef<'_, K, A::Acc>| {
                sections.push(hash, |out| {
                    key.encode(out);
                    encode_len(sessions.len(), out);
                    for s in sessions {
                        s.start.encode(out);
                        s.end.encode(out);
                        s.acc.encode(out);
                    }
                })
            },
        )?;
        sections.write_to(&mut writer)?;
        writer.finish()
    }

    /// Restores the groups `target.range` from the snapshots of the previous run into this
    /// empty state; see the [module docs](self). On error, discard the state.
    ///
    /// # Errors
    /// As [`AlignedWindows::restore`].
    pub fn restore<R: Read>(
        &mut self,
        target: &SnapshotTarget<'_>,
        key_hash: impl Fn(&K) -> u64,
        readers: &mut [SnapshotReader<R>],
    ) -> Result<()> {
        if self.sessions != 0 || !self.slots.is_empty() || self.watermark != Watermark::MIN {
            return Err(not_empty(target));
        }
        let fingerprint = self.fingerprint(target.schema);
        self.watermark = open_all(readers, target, &fingerprint)?;
        for reader in readers.iter_mut().filter(|r| overlaps(r.header().range, target.range)) {
            while let Some(section) = reader.next_section()? {
                if !target.range.contains(section.group()) {
                    continue;
                }
                section.decode_entries(|(key, sessions): (K, Vec<(i64, i64, A::Acc)>)| {
                    let group = target.key_groups.group_for_hash(key_hash(&key));
                    if group != section.group() {
                        return Err(section.error(0, format!("holds a key of {group}")));
                    }
                    if let Some(problem) = self.session_problem(&sessions) {
                        return Err(section.error(0, problem));
                    }
                    let Ok(slot) = u32::try_from(self.keys.len()) else {
                        return Err(section.error(0, "more than u32::MAX session keys".into()));
                    };
                    if self.slots.insert(key.clone(), slot).is_some() {
                        return Err(section.error(0, "holds a key twice".into()));
                    }
                    for &(start, end, _) in &sessions {
                        self.by_end.insert((end, start, slot));
                    }
                    self.sessions += sessions.len();
                    let sessions = sessions.into_iter().map(|(start, end, acc)| Session { start, end, acc });
                    self.keys.push(KeySessions { key: Some(key), sessions: sessions.collect() });
                    Ok(())
                })?;
            }
        }
        Ok(())
    }

    /// Why a key's restored sessions break the invariants, if they do.
    fn session_problem(&self, sessions: &[(i64, i64, A::Acc)]) -> Option<String> {
        if sessions.is_empty() {
            return Some("a key without sessions".into());
        }
        let mut previous_end: Option<i64> = None;
        for &(start, end, _) in sessions {
            if i128::from(end) - i128::from(start) < i128::from(self.gap) {
                return Some(format!("session [{start}, {end}) is shorter than the gap {}", self.gap));
            }
            if previous_end.is_some_and(|prev| prev >= start) {
                return Some(format!("session [{start}, {end}) overlaps or touches the one before"));
            }
            if session_closed(end, self.lateness, self.watermark) {
                return Some(format!("session [{start}, {end}) is closed at watermark {}", self.watermark));
            }
            previous_end = Some(end);
        }
        None
    }
}

impl<K, A, S> WindowAggregator<K, A, S>
where
    K: Hash + Eq + Ord + Clone + StateCodec,
    A: Aggregate,
    A::Acc: StateCodec,
    S: BuildHasher + Default,
{
    /// Writes the state; see [`AlignedWindows::snapshot`].
    ///
    /// # Errors
    /// As [`AlignedWindows::snapshot`].
    pub fn snapshot<W: Write>(
        &self,
        target: &SnapshotTarget<'_>,
        key_hash: impl Fn(&K) -> u64,
        out: W,
    ) -> Result<(W, SnapshotSummary)> {
        match self {
            WindowAggregator::Aligned(w) => w.snapshot(target, key_hash, out),
            WindowAggregator::Session(w) => w.snapshot(target, key_hash, out),
        }
    }

    /// Restores the state; see [`AlignedWindows::restore`].
    ///
    /// # Errors
    /// As [`AlignedWindows::restore`].
    pub fn restore<R: Read>(
        &mut self,
        target: &SnapshotTarget<'_>,
        key_hash: impl Fn(&K) -> u64,
        readers: &mut [SnapshotReader<R>],
    ) -> Result<()> {
        match self {
            WindowAggregator::Aligned(w) => w.restore(target, key_hash, readers),
            WindowAggregator::Session(w) => w.restore(target, key_hash, readers),
        }
    }
}
