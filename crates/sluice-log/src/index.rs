//! Sparse per-segment indexes: offset → byte position, and timestamp → offset.
//!
//! An entry is added after a batch once at least `index_interval_bytes` of batches were written
//! since the previous entry, so the indexes stay small (one entry per ~4 KiB by default) and a
//! lookup is a binary search followed by a short forward scan of batches.
//!
//! On disk (after the 32-byte file header), little endian:
//! - `.index`: entries of `relative_offset u32 | position u32`, where the batch starting at
//!   `position` has base offset `segment_base + relative_offset`.
//! - `.timeindex`: entries of `max_ts i64 | relative_offset u32 | position u32`: every record
//!   *before* that offset has a timestamp ≤ `max_ts`, and the batch at `position` starts there.
//!
//! Indexes are derived data: if a file is missing or inconsistent it is rebuilt from the
//! segment, never trusted blindly.

/// One offset-index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OffsetEntry {
    pub rel_offset: u32,
    pub position: u32,
}

/// One time-index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeEntry {
    pub max_ts_before: i64,
    pub rel_offset: u32,
    pub position: u32,
}

pub(crate) const OFFSET_ENTRY_LEN: usize = 8;
pub(crate) const TIME_ENTRY_LEN: usize = 16;

/// Both indexes of one segment, in memory.
#[derive(Debug, Default, Clone)]
pub(crate) struct SegmentIndex {
    pub offsets: Vec<OffsetEntry>,
    pub times: Vec<TimeEntry>,
}

impl SegmentIndex {
    /// Position of the last indexed batch starting at or before `rel_offset`, or `None` if the
    /// search must start at the segment's first batch.
    pub fn position_for(&self, rel_offset: u32) -> Option<u32> {
        let i = self.offsets.partition_point(|e| e.rel_offset <= rel_offset);
        i.checked_sub(1).and_then(|i| self.offsets.get(i)).map(|e| e.position)
    }

    /// Where to start scanning for the first record with timestamp ≥ `ts`: the last entry all
    /// of whose earlier records are older than `ts`.
    pub fn start_for_time(&self, ts: i64) -> Option<TimeEntry> {
        let i = self.times.partition_point(|e| e.max_ts_before < ts);
        i.checked_sub(1).and_then(|i| self.times.get(i)).copied()
    }

    pub fn encode_offset(e: OffsetEntry) -> [u8; OFFSET_ENTRY_LEN] {
        let mut b = [0u8; OFFSET_ENTRY_LEN];
        b[..4].copy_from_slice(&e.rel_offset.to_le_bytes());
        b[4..].copy_from_slice(&e.position.to_le_bytes());
        b
    }

    pub fn encode_time(e: TimeEntry) -> [u8; TIME_ENTRY_LEN] {
        let mut b = [0u8; TIME_ENTRY_LEN];
        b[..8].copy_from_slice(&e.max_ts_before.to_le_bytes());
        b[8..12].copy_from_slice(&e.rel_offset.to_le_bytes());
        b[12..].copy_from_slice(&e.position.to_le_bytes());
        b
    }

    /// Parses the bodies of the two index files (headers already stripped) and checks that the
    /// entries are increasing and point inside a segment of `segment_len` bytes holding
    /// `segment_count` records. `None` if anything is off: the caller rebuilds.
    pub fn parse(offsets: &[u8], times: &[u8], segment_len: u64, segment_count: u64) -> Option<Self> {
        if !offsets.len().is_multiple_of(OFFSET_ENTRY_LEN) || !times.len().is_multiple_of(TIME_ENTRY_LEN) {
            return None;
        }
        let mut c = crate::format::Cursor::new(offsets);
        let mut idx = SegmentIndex::default();
        while c.remaining() > 0 {
            idx.offsets.push(OffsetEntry { rel_offset: c.u32()?, position: c.u32()? });
        }
        let mut c = crate::format::Cursor::new(times);
        while c.remaining() > 0 {
            idx.times.push(TimeEntry { max_ts_before: c.i64()?, rel_offset: c.u32()?, position: c.u32()? });
        }
        let ok_offsets = idx
            .offsets
            .windows(2)
            .all(|w| w[0].rel_offset < w[1].rel_offset && w[0].position < w[1].position)
            && idx
                .offsets
                .iter()
                .all(|e| u64::from(e.position) < segment_len && u64::from(e.rel_offset) < segment_count);
        let ok_times = idx
            .times
            .windows(2)
            .all(|w| w[0].max_ts_before <= w[1].max_ts_before && w[0].rel_offset < w[1].rel_offset)
            && idx
                .times
                .iter()
                .all(|e| u64::from(e.position) < segment_len && u64::from(e.rel_offset) < segment_count);
        (ok_offsets && ok_times).then_some(idx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_pick_the_last_entry_not_past_the_target() {
        let idx = SegmentIndex {
            offsets: vec![
                OffsetEntry { rel_offset: 10, position: 100 },
                OffsetEntry { rel_offset: 20, position: 200 },
            ],
            times: vec![
                TimeEntry { max_ts_before: 5, rel_offset: 10, position: 100 },
                TimeEntry { max_ts_before: 9, rel_offset: 20, position: 200 },
            ],
        };
        assert_eq!(idx.position_for(5), None);
        assert_eq!(idx.position_for(10), Some(100));
        assert_eq!(idx.position_for(19), Some(100));
        assert_eq!(idx.position_for(25), Some(200));
        assert_eq!(idx.start_for_time(5), None);
        assert_eq!(idx.start_for_time(6).map(|e| e.rel_offset), Some(10));
        assert_eq!(idx.start_for_time(100).map(|e| e.rel_offset), Some(20));
    }

    #[test]
    fn parse_rejects_inconsistent_files() {
        let mut off = Vec::new();
        off.extend_from_slice(&SegmentIndex::encode_offset(OffsetEntry { rel_offset: 3, position: 50 }));
        assert!(SegmentIndex::parse(&off, &[], 100, 10).is_some());
        assert!(SegmentIndex::parse(&off, &[], 40, 10).is_none(), "position past the segment");
        assert!(SegmentIndex::parse(&off[..5], &[], 100, 10).is_none(), "torn entry");
    }
}
