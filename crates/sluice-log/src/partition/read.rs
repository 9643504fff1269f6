//! The read side of a partition: reads by offset, lookups by timestamp, and following a
//! partition that another process writes.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sluice_types::{Offset, StoredRecord};

use super::{Partition, State};
use crate::error::{LogError, Result};
use crate::format::{check_frame, decode_batch, FrameCheck, FILE_HEADER_LEN};
use crate::segment::{parse_log_file_name, Segment};

/// How often a read-only follower re-reads file sizes while waiting for another process.
const DISK_POLL: Duration = Duration::from_millis(50);

/// Where a read goes: a file, where to start in it, where valid data ends.
struct ReadPlan {
    file: Arc<File>,
    path: PathBuf,
    position: u64,
    limit: u64,
}

impl Partition {
    /// Reads records from offset `from` on, about `max_bytes` of them (always at least one
    /// record when `from` is below the end, whatever its size). An empty result means `from` is
    /// the end offset: nothing to read yet.
    ///
    /// # Errors
    /// [`LogError::OffsetOutOfRange`] if `from` is before the log start (deleted by retention)
    /// or past the end; [`LogError::Corrupt`] naming the file and byte position of a damaged
    /// batch; I/O errors.
    pub fn read(&self, from: Offset, max_bytes: usize) -> Result<Vec<StoredRecord>> {
        let mut out = Vec::new();
        self.read_into(from, max_bytes, &mut out)?;
        Ok(out)
    }

    /// Like [`Partition::read`], appending to `out` (reusing its allocation).
    ///
    /// # Errors
    /// As [`Partition::read`].
    pub fn read_into(&self, from: Offset, max_bytes: usize, out: &mut Vec<StoredRecord>) -> Result<()> {
        if self.inner.options.read_only && from >= self.end_offset() {
            self.refresh()?;
        }
        let Some(plan) = self.plan_read(from)? else { return Ok(()) };
        let mut pos = plan.position;
        let budget = max_bytes.max(1);
        let mut want = usize::try_from(plan.limit - pos).unwrap_or(usize::MAX).min(budget.max(64 << 10));
        let before = out.len();
        // Where the next batch must start: at or before `from` for the first one (the index
        // entry may point to an earlier batch), then densely after the previous one. A batch
        // past that means a damaged index or segment, and reading on would skip records.
        let mut next_batch = None;
        loop {
            let chunk = crate::segment::read_chunk(&plan.file, &plan.path, pos, want)?;
            let mut off = 0;
            while let Some(rest) = chunk.get(off..).filter(|r| !r.is_empty()) {
                match check_frame(rest, u32::MAX as usize) {
                    FrameCheck::Complete { len } => {
                        let frame: Bytes = chunk.slice(off..off + len);
                        let at = out.len();
                        let h = decode_batch(&frame, out)
                            .map_err(|reason| self.corrupt(&plan.path, pos + off as u64, reason))?;
                        let in_place = match next_batch {
                            None => h.base_offset <= from,
                            Some(next) => h.base_offset == next,
                        };
                        if !in_place {
                            out.truncate(before);
                            let reason = format!(
                                "batch starts at offset {} where offset {} was expected (a damaged index \
                                 or segment; a damaged .index file is rebuilt when deleted)",
                                h.base_offset,
                                next_batch.unwrap_or(from)
                            );
                            return Err(self.corrupt(&plan.path, pos + off as u64, &reason));
                        }
                        next_batch = Some(h.next_offset());
                        // Drop records of the first batch that precede `from`.
                        let skip = out[at..].iter().take_while(|r| r.offset < from).count();
                        if skip > 0 {
                            out.drain(at..at + skip);
                        }
                        off += len;
                        let read_bytes = (pos - plan.position) as usize + off;
                        if out.len() > before && read_bytes >= budget {
                            return Ok(());
                        }
                    }
                    FrameCheck::Incomplete { needed } => {
                        let needed = needed.unwrap_or(4);
                        if pos + (off + needed) as u64 > plan.limit {
                            return Err(self.corrupt(
                                &plan.path,
                                pos + off as u64,
                                "batch runs past the end of valid data",
                            ));
                        }
                        want = needed;
                        break;
                    }
                    FrameCheck::Corrupt { reason, .. } => {
                        return Err(self.corrupt(&plan.path, pos + off as u64, reason))
                    }
                }
            }
            pos += off as u64;
            if pos >= plan.limit || out.len() > before {
                return Ok(());
            }
            want = want.max(usize::try_from(plan.limit - pos).unwrap_or(usize::MAX).min(budget));
        }
    }

    fn corrupt(&self, path: &std::path::Path, position: u64, reason: &str) -> LogError {
        LogError::Corrupt { path: path.to_owned(), position, reason: reason.to_owned() }
    }

    /// Finds the segment and byte position to read `from`; `None` at the end.
    fn plan_read(&self, from: Offset) -> Result<Option<ReadPlan>> {
        let st = self.state_read();
        let (start, end) = (st.log_start(), st.end());
        if from < start || from > end {
            return Err(LogError::OffsetOutOfRange {
                topic: self.inner.topic.clone(),
                partition: self.inner.id,
                requested: from,
                log_start: start,
                end,
            });
        }
        if from == end {
            return Ok(None);
        }
        // The segment holding `from`: the last one whose base is ≤ from, skipping empty ones.
        let i = st.segments.partition_point(|s| s.base_offset <= from).saturating_sub(1);
        let Some(seg) = st.segments[i..].iter().find(|s| s.next_offset > from) else { return Ok(None) };
        let rel = u32::try_from(from - seg.base_offset).unwrap_or(u32::MAX);
        let position = seg.index.position_for(rel).map_or(FILE_HEADER_LEN as u64, u64::from);
        Ok(Some(ReadPlan { file: Arc::clone(&seg.file), path: seg.path.clone(), position, limit: seg.size }))
    }

    /// The first offset whose record timestamp is ≥ `ts`, or `None` if every retained record
    /// is older (a consumer starting there waits for new data at the end offset).
    ///
    /// # Errors
    /// Read errors, as in [`Partition::read`].
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<Offset>> {
        let start = {
            let st = self.state_read();
            let Some(seg) = st.segments.iter().find(|s| s.max_ts >= ts) else { return Ok(None) };
            let rel = seg.index.start_for_time(ts).map_or(0, |e| e.rel_offset);
            seg.base_offset + u64::from(rel)
        };
        let mut from = start.max(self.log_start_offset());
        let mut batch = Vec::new();
        loop {
            batch.clear();
            self.read_into(from, 256 << 10, &mut batch)?;
            let Some(last) = batch.last() else { return Ok(None) };
            if let Some(hit) = batch.iter().find(|r| r.record.timestamp >= ts) {
                return Ok(Some(hit.offset));
            }
            from = last.offset + 1;
        }
    }

    /// Read-only mode: waits for another process to append past `offset`, re-reading file
    /// sizes every [`DISK_POLL`].
    pub(super) fn poll_disk_for(&self, offset: Offset, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if let Err(e) = self.refresh() {
                tracing::warn!(topic = %self.inner.topic, partition = %self.inner.id, "refreshing from disk: {e}");
            }
            if self.end_offset() > offset {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            std::thread::sleep(DISK_POLL.min(deadline - now));
        }
    }

    /// Read-only mode: picks up batches and segments another process appended, and forgets
    /// segments its retention deleted. A batch still being written is left for the next call.
    pub(crate) fn refresh(&self) -> Result<()> {
        let inner = &self.inner;
        let mut bases = Vec::new();
        for entry in std::fs::read_dir(&inner.dir).map_err(LogError::io(&inner.dir))? {
            let entry = entry.map_err(LogError::io(&inner.dir))?;
            if let Some(b) = entry.file_name().to_str().and_then(parse_log_file_name) {
                bases.push(b);
            }
        }
        bases.sort_unstable();
        let end = {
            let mut st = self.state_write();
            let first = bases.first().copied().unwrap_or(0);
            if !bases.is_empty() && st.segments.iter().all(|s| s.base_offset < first) {
                // The writer's retention deleted every segment this reader knew, and maybe
                // newer ones it never saw: it cannot follow on from its last segment, so it
                // starts over from what is on disk (its log start jumps forward).
                let mut fresh = Vec::with_capacity(bases.len());
                for (i, &b) in bases.iter().enumerate() {
                    let path = inner.dir.join(crate::segment::log_file_name(b));
                    let active = i + 1 == bases.len();
                    fresh.push(Segment::open(path, b, active, true, inner.config.index_interval_bytes)?);
                }
                st.segments = fresh;
            }
            let keep_from =
                st.segments.iter().position(|s| s.base_offset >= first).unwrap_or(st.segments.len() - 1);
            st.segments.drain(..keep_from);
            let n = st.segments.len();
            st.segments[n - 1].catch_up(inner.config.index_interval_bytes)?;
            let active_base = st.segments[n - 1].base_offset;
            for &b in bases.iter().filter(|&&b| b > active_base) {
                let last = st.segments.len() - 1;
                st.segments[last].catch_up(inner.config.index_interval_bytes)?;
                if st.segments[last].next_offset != b {
                    break; // the previous segment is not complete on disk yet
                }
                let path = inner.dir.join(crate::segment::log_file_name(b));
                st.segments.push(Segment::open(path, b, true, true, inner.config.index_interval_bytes)?);
            }
            State::end(&st)
        };
        self.publish_end(end);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sluice_types::Record;

    use crate::format::FILE_HEADER_LEN;
    use crate::{Log, LogError, LogOptions, TopicConfig};

    #[test]
    fn a_read_only_follower_catches_up_after_retention_deleted_what_it_knew(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let log = Log::open(dir.path(), LogOptions::default())?;
        let cfg = TopicConfig::new(1).segment_bytes(1024).retention_bytes(Some(3000));
        let writer = log.create_topic("t", cfg)?.partitions()[0].clone();
        let record = |i: u64| Record::new(format!("record number {i}"), i as i64);
        writer.append(&(0..5).map(record).collect::<Vec<_>>())?;
        let ro = Log::open(dir.path(), LogOptions::default().read_only(true))?;
        let reader = ro.topic("t")?.partitions()[0].clone();
        assert_eq!(reader.end_offset(), 5);
        // Many rolls, each followed by retention, before the reader looks again: the segments
        // it knew, and some it never saw, are gone.
        for i in (5..400).step_by(3) {
            writer.append(&(i..i + 3).map(record).collect::<Vec<_>>())?;
        }
        assert!(reader.wait_for(5, std::time::Duration::from_secs(30)));
        assert_eq!(
            (reader.log_start_offset(), reader.end_offset()),
            (writer.log_start_offset(), writer.end_offset())
        );
        let got = reader.read(reader.log_start_offset(), usize::MAX)?;
        assert_eq!(got.first().map(|r| r.record.clone()), Some(record(reader.log_start_offset())));
        assert!(matches!(reader.read(17, 1), Err(LogError::OffsetOutOfRange { .. })));
        Ok(())
    }

    #[test]
    fn an_index_entry_pointing_past_the_offset_is_an_error_not_a_skip(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let log = Log::open(dir.path(), LogOptions::default())?;
        let mut cfg = TopicConfig::new(1).segment_bytes(4096);
        cfg.index_interval_bytes = 512;
        let p = log.create_topic("t", cfg)?.partitions()[0].clone();
        for i in 0..100 {
            p.append(&(0..4).map(|j| Record::new(format!("value {i}.{j}"), i)).collect::<Vec<_>>())?;
        }
        drop((p, log));
        // Move the first index entry of the first (closed) segment one batch forward.
        let seg = dir.path().join("topics/t/0/00000000000000000000.log");
        let bytes = std::fs::read(&seg)?;
        let index_path = seg.with_extension("index");
        let mut index = std::fs::read(&index_path)?;
        let entry = FILE_HEADER_LEN;
        let rel = u32::from_le_bytes(index[entry..entry + 4].try_into()?);
        let pos = u32::from_le_bytes(index[entry + 4..entry + 8].try_into()?) as usize;
        let batch_len = u32::from_le_bytes(bytes[pos..pos + 4].try_into()?) as usize + 4;
        index[entry + 4..entry + 8].copy_from_slice(&u32::try_from(pos + batch_len)?.to_le_bytes());
        std::fs::write(&index_path, index)?;

        let log = Log::open(dir.path(), LogOptions::default())?;
        let p = log.topic("t")?.partitions()[0].clone();
        match p.read(u64::from(rel), 1) {
            Err(LogError::Corrupt { path, position, .. }) => {
                assert_eq!((path, position), (seg, (pos + batch_len) as u64));
            }
            other => panic!("expected a corruption error, got {other:?}"),
        }
        Ok(())
    }
}
