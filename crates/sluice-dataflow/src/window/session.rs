//! Session windows.

use std::borrow::Borrow;
use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, Hash, RandomState};

use super::{Late, Window, WindowResult, WindowState};
use crate::aggregate::Aggregate;
use crate::time::{TimestampMs, Watermark};

/// Keyed state of session windows.
///
/// See the [module docs](super) for the contract. `S` is the hasher of the key map.
///
/// Layout: each key has a *slot* (a small integer) holding its open sessions, sorted by start,
/// pairwise neither overlapping nor touching. `by_end` indexes sessions by `(end, start, slot)`
/// so closing is a range pop; it is maintained lazily:
/// - an entry is added when a session is created or its start moves earlier;
/// - an event that only moves a session's end later does not touch the index, so the entry may
///   be *behind* the session's real end; when it is popped, it is re-inserted at the real end;
/// - an entry that matches no session (merged away, or its slot reused) is dropped when popped.
///
/// Invariant: every open session has an entry `(e, start, slot)` with `e <= end`. So when the
/// watermark closes a session, its entry is popped in the same `advance`, and the session emits
/// exactly then.
pub struct SessionWindows<K, A: Aggregate, S = RandomState> {
    agg: A,
    pub(super) gap: i64,
    pub(super) lateness: i64,
    pub(super) watermark: Watermark,
    pub(super) slots: HashMap<K, u32, S>,
    pub(super) keys: Vec<KeySessions<K, A::Acc>>,
    /// Slots of keys without open sessions, for reuse.
    free: Vec<u32>,
    pub(super) by_end: BTreeSet<(TimestampMs, TimestampMs, u32)>,
    /// Open sessions over all keys.
    pub(super) sessions: usize,
}

/// The open sessions of one key.
pub(super) struct KeySessions<K, Acc> {
    /// `None` while the slot is free.
    pub(super) key: Option<K>,
    pub(super) sessions: Vec<Session<Acc>>,
}

/// One open session, `[start, end)` with `end` = last event time + gap.
pub(super) struct Session<Acc> {
    pub(super) start: TimestampMs,
    pub(super) end: TimestampMs,
    pub(super) acc: Acc,
}

/// Where an event falls among its key's sessions: `sessions[lo..hi]` overlap or touch it, and
/// `merged` is the union.
struct Placement {
    lo: usize,
    hi: usize,
    merged: Window,
}

impl<K, A, S> SessionWindows<K, A, S>
where
    K: Hash + Eq + Ord + Clone,
    A: Aggregate,
    S: BuildHasher + Default,
{
    pub(crate) fn new(gap: i64, lateness: i64, agg: A) -> Self {
        SessionWindows {
            agg,
            gap,
            lateness,
            watermark: Watermark::MIN,
            slots: HashMap::with_hasher(S::default()),
            keys: Vec::new(),
            free: Vec::new(),
            by_end: BTreeSet::new(),
            sessions: 0,
        }
    }

    fn place(sessions: &[Session<A::Acc>], ts: TimestampMs, gap: i64) -> Placement {
        let own = Window::new(ts, ts.saturating_add(gap));
        // Flink's rule: merge when a.start <= b.end && b.start <= a.end. Sessions are sorted and
        // apart, so their ends are sorted too and the merging ones are a contiguous run.
        let lo = sessions.partition_point(|s| s.end < own.start);
        let hi = sessions.partition_point(|s| s.start <= own.end);
        let merged = match (sessions.get(lo), hi.checked_sub(1).and_then(|last| sessions.get(last))) {
            (Some(first), Some(last)) if lo < hi => {
                Window::new(first.start.min(own.start), last.end.max(own.end))
            }
            _ => own,
        };
        Placement { lo, hi: hi.max(lo), merged }
    }

    fn add_inner<Q>(
        &mut self,
        key: &Q,
        to_owned: impl FnOnce(&Q) -> K,
        ts: TimestampMs,
        input: A::Input<'_>,
    ) -> Result<(), Late>
    where
        K: Borrow<Q>,
        Q: ?Sized + Hash + Eq,
    {
        let slot = self.slots.get(key).copied();
        let existing =
            slot.and_then(|slot| self.keys.get(slot as usize)).map_or(&[][..], |k| &k.sessions[..]);
        let Placement { lo, hi, merged } = Self::place(existing, ts, self.gap);
        if closed(merged.end, self.lateness, self.watermark) {
            return Err(self.late(ts, merged));
        }
        let slot = match slot {
            Some(slot) => slot,
            None => self.new_slot(to_owned(key)),
        };
        let sessions = &mut self.keys[slot as usize].sessions;
        if lo == hi {
            let mut acc = self.agg.init();
            self.agg.add(&mut acc, input);
            sessions.insert(lo, Session { start: merged.start, end: merged.end, acc });
            self.by_end.insert((merged.end, merged.start, slot));
            self.sessions += 1;
            return Ok(());
        }
        for _ in lo + 1..hi {
            let absorbed = sessions.remove(lo + 1);
            self.agg.merge(&mut sessions[lo].acc, &absorbed.acc);
            self.sessions -= 1;
        }
        let session = &mut sessions[lo];
        if merged.start < session.start {
            self.by_end.insert((merged.end, merged.start, slot));
        }
        session.start = merged.start;
        session.end = merged.end;
        self.agg.add(&mut session.acc, input);
        Ok(())
    }

    #[cold]
    fn new_slot(&mut self, key: K) -> u32 {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.keys[slot as usize].key = Some(key.clone());
                slot
            }
            None => {
                let slot = u32::try_from(self.keys.len()).unwrap_or_else(|_| too_many_keys());
                self.keys.push(KeySessions { key: Some(key.clone()), sessions: Vec::new() });
                slot
            }
        };
        self.slots.insert(key, slot);
        slot
    }

    #[cold]
    fn late(&self, ts: TimestampMs, window: Window) -> Late {
        Late { ts, window, watermark: self.watermark, allowed_lateness: self.lateness }
    }
}

/// Whether a session ending at `end` is closed at `wm`: `wm >= end + lateness`, and always at
/// the end of input.
fn closed(end: TimestampMs, lateness: i64, wm: Watermark) -> bool {
    wm.is_end() || i128::from(end) + i128::from(lateness) <= i128::from(wm.get())
}

#[cold]
#[inline(never)]
fn too_many_keys() -> ! {
    panic!("session windows hold more than u32::MAX keys")
}

impl<K, A, S> WindowState<K, A> for SessionWindows<K, A, S>
where
    K: Hash + Eq + Ord + Clone,
    A: Aggregate,
    S: BuildHasher + Default,
{
    fn add(&mut self, key: K, ts: TimestampMs, input: A::Input<'_>) -> Result<(), Late> {
        self.add_inner(&key, K::clone, ts, input)
    }

    fn add_borrowed<Q>(&mut self, key: &Q, ts: TimestampMs, input: A::Input<'_>) -> Result<(), Late>
    where
        K: Borrow<Q>,
        Q: ?Sized + Hash + Eq + ToOwned<Owned = K>,
    {
        self.add_inner(key, Q::to_owned, ts, input)
    }

    fn advance(&mut self, wm: Watermark, out: &mut Vec<WindowResult<K, A::Output>>) {
        if wm <= self.watermark {
            return;
        }
        self.watermark = wm;
        let first_row = out.len();
        while let Some(&(end, start, slot)) = self.by_end.first() {
            if !closed(end, self.lateness, wm) {
                break;
            }
            self.by_end.pop_first();
            let key_sessions = &mut self.keys[slot as usize];
            let Ok(index) = key_sessions.sessions.binary_search_by_key(&start, |s| s.start) else {
                continue; // stale: merged away or emitted
            };
            let real_end = key_sessions.sessions[index].end;
            if real_end != end {
                // The entry was behind; the re-inserted one is popped again if it closes too.
                self.by_end.insert((real_end, start, slot));
                continue;
            }
            let session = key_sessions.sessions.remove(index);
            self.sessions -= 1;
            let key = if key_sessions.sessions.is_empty() {
                let key = key_sessions.key.take();
                if let Some(key) = &key {
                    self.slots.remove(key);
                }
                self.free.push(slot);
                key
            } else {
                key_sessions.key.clone()
            };
            if let Some(key) = key {
                let window = Window::new(session.start, session.end);
                out.push(WindowResult { window, key, value: self.agg.finish(session.acc) });
            }
        }
        // Popped by (end, start, slot): put equal windows in key order.
        out[first_row..].sort_by(|a, b| a.window.emission_cmp(&b.window).then_with(|| a.key.cmp(&b.key)));
    }

    fn watermark(&self) -> Watermark {
        self.watermark
    }

    fn open_windows(&self) -> usize {
        self.sessions
    }

    fn state_entries(&self) -> usize {
        self.sessions
    }

    fn approx_state_bytes(&self, key_heap_bytes: impl Fn(&K) -> usize) -> usize {
        let map = self.slots.capacity() * (std::mem::size_of::<(K, u32)>() + 1);
        let slots = self.keys.capacity() * std::mem::size_of::<KeySessions<K, A::Acc>>();
        // A BTreeSet node holds up to 11 entries; assume two thirds full.
        let index = self.by_end.len() * std::mem::size_of::<(i64, i64, u32)>() * 3 / 2;
        let per_key: usize = self
            .keys
            .iter()
            .map(|k| {
                // The key is stored twice: in the map and in the slot.
                k.key.as_ref().map_or(0, |key| 2 * key_heap_bytes(key))
                    + k.sessions.capacity() * std::mem::size_of::<Session<A::Acc>>()
                    + k.sessions.iter().map(|s| self.agg.acc_heap_bytes(&s.acc)).sum::<usize>()
            })
            .sum();
        map + slots + index + self.free.capacity() * 4 + per_key
    }
}
