//! A partition: an ordered list of segments, one writer, any number of concurrent readers.
//!
//! Concurrency model:
//! - `writer` (a mutex) serialises appends and owns the scratch buffer, the poison flag and the
//!   fsync bookkeeping. Transactions hold it across their commit so that their batches land at
//!   the offsets they recorded.
//! - `state` (a read-write lock) holds the segments. Appends take it for writing only around the
//!   `pwrite` and index update; readers take it for reading just long enough to find a file and
//!   a byte range, then read with `pread` outside the lock.
//! - `end` is published after each append through a condition variable (blocking tail readers)
//!   and a `tokio::sync::watch` channel (async tail readers): nobody polls in a busy loop.

mod read;
mod recovery;

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sluice_types::{Offset, PartitionId, Record};

use crate::config::{Durability, LogOptions, TopicConfig};
use crate::error::{LogError, Result};
use crate::format::{encode_batch, record_size, BATCH_HEADER_LEN};
use crate::segment::{PendingSeal, Segment};

/// Target encoded size of one batch when an append is split.
const MAX_BATCH_BYTES: usize = 1 << 20;

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of the first appended record.
    pub base_offset: Offset,
    /// Number of records appended (dense from `base_offset`).
    pub count: u64,
}

/// Sizes and bounds of a partition, for `describe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionStats {
    /// The partition.
    pub partition: PartitionId,
    /// First offset still retained.
    pub log_start: Offset,
    /// Next offset to be written.
    pub end: Offset,
    /// Number of segments.
    pub segments: usize,
    /// Bytes on disk (segments and indexes).
    pub bytes: u64,
    /// Newest record timestamp, if any record is retained.
    pub max_timestamp: Option<i64>,
}

/// A handle to one partition of a topic. Cheap to clone; all clones share the partition.
#[derive(Debug, Clone)]
pub struct Partition {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    topic: String,
    id: PartitionId,
    dir: PathBuf,
    config: TopicConfig,
    options: LogOptions,
    writer: Mutex<Writer>,
    state: RwLock<State>,
    end: Mutex<Offset>,
    end_changed: Condvar,
    end_watch: tokio::sync::watch::Sender<Offset>,
    /// Shared by the topic's partitions: bumped on every append to any of them.
    signal: Arc<Signal>,
}

/// A generation counter with a condition variable, shared by a topic's partitions so that a
/// consumer of many partitions can sleep until any of them grows.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    generation: Mutex<u64>,
    changed: Condvar,
}

impl Signal {
    /// The current generation.
    pub fn current(&self) -> u64 {
        *self.generation.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn bump(&self) {
        *self.generation.lock().unwrap_or_else(std::sync::PoisonError::into_inner) += 1;
        self.changed.notify_all();
    }

    /// Waits until the generation differs from `seen` or `timeout` passes.
    pub fn wait_past(&self, seen: u64, timeout: Duration) {
        let g = self.generation.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = self.changed.wait_timeout_while(g, timeout, |g| *g == seen);
    }
}

#[derive(Debug)]
pub(crate) struct State {
    /// Oldest first; the last one is active. Never empty.
    pub segments: Vec<Segment>,
}

impl State {
    fn active(&mut self) -> &mut Segment {
        let i = self.segments.len() - 1;
        &mut self.segments[i]
    }
    fn end(&self) -> Offset {
        self.segments.last().map_or(0, |s| s.next_offset)
    }
    fn log_start(&self) -> Offset {
        self.segments.first().map_or(0, |s| s.base_offset)
    }
}

/// The writer's private state. Held while appending.
#[derive(Debug)]
pub(crate) struct Writer {
    scratch: Vec<u8>,
    poisoned: Option<String>,
    last_sync: Instant,
    /// Offset up to which data is known to be fsynced.
    synced_to: Offset,
    /// Closed segments the flusher still has to fsync, oldest first.
    pending_seals: Vec<PendingSeal>,
    /// The value in the partition's `recovery-point` file (`u64::MAX`: no file).
    recovery_point: u64,
}

/// The writer lock of a partition, held by a transaction commit across several partitions.
pub(crate) struct WriterGuard<'a> {
    partition: &'a Partition,
    writer: MutexGuard<'a, Writer>,
}

impl WriterGuard<'_> {
    /// The partition's end offset while the lock is held (nobody else can append).
    pub fn end(&self) -> Offset {
        self.partition.end_offset()
    }

    /// Appends under the held lock.
    pub fn append(&mut self, records: &[Record]) -> Result<AppendInfo> {
        self.partition.append_locked(&mut self.writer, records)
    }

    /// Fsyncs everything appended so far, under the held lock.
    pub fn sync(&mut self) -> Result<()> {
        let end = self.end();
        if self.writer.synced_to < end {
            self.partition.sync_locked(&mut self.writer, end)?;
        }
        Ok(())
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl Partition {
    /// Opens (or creates, when `dir` has no segment) the partition stored in `dir`.
    pub(crate) fn open(
        topic: &str,
        id: PartitionId,
        dir: PathBuf,
        config: TopicConfig,
        options: LogOptions,
        signal: Arc<Signal>,
    ) -> Result<Self> {
        let mut segments = recovery::open_segments(&dir, &config, &options)?;
        if segments.is_empty() {
            if options.read_only {
                return Err(LogError::ReadOnly(dir));
            }
            segments.push(Segment::create(&dir, 0, now_ms())?);
        }
        let state = State { segments };
        let end = state.end();
        Ok(Partition {
            inner: Arc::new(Inner {
                topic: topic.to_owned(),
                id,
                dir,
                config,
                options,
                writer: Mutex::new(Writer {
                    scratch: Vec::new(),
                    poisoned: None,
                    last_sync: Instant::now(),
                    synced_to: end,
                    pending_seals: Vec::new(),
                    recovery_point: u64::MAX,
                }),
                state: RwLock::new(state),
                end: Mutex::new(end),
                end_changed: Condvar::new(),
                end_watch: tokio::sync::watch::Sender::new(end),
                signal,
            }),
        })
    }

    /// The partition's number.
    #[must_use]
    pub fn id(&self) -> PartitionId {
        self.inner.id
    }

    /// The topic's name.
    #[must_use]
    pub fn topic(&self) -> &str {
        &self.inner.topic
    }

    /// The next offset to be written: every offset below it is readable.
    #[must_use]
    pub fn end_offset(&self) -> Offset {
        *self.inner.end.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The first offset still retained.
    #[must_use]
    pub fn log_start_offset(&self) -> Offset {
        self.state_read().log_start()
    }

    fn state_read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.inner.state.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn state_write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.inner.state.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends `records` (dense offsets, in order) and returns where they landed. The records
    /// are readable when this returns; whether they are fsynced depends on [`Durability`].
    ///
    /// # Errors
    /// A record larger than the limit, a poisoned or read-only partition, an I/O error (which
    /// poisons the partition).
    pub fn append(&self, records: &[Record]) -> Result<AppendInfo> {
        let mut w = self.lock_writer_raw();
        self.append_locked(&mut w, records)
    }

    fn lock_writer_raw(&self) -> MutexGuard<'_, Writer> {
        self.inner.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes the writer lock, for a transaction commit.
    pub(crate) fn lock_writer(&self) -> WriterGuard<'_> {
        WriterGuard { partition: self, writer: self.lock_writer_raw() }
    }

    fn append_locked(&self, w: &mut Writer, records: &[Record]) -> Result<AppendInfo> {
        let inner = &self.inner;
        if inner.options.read_only {
            return Err(LogError::ReadOnly(inner.dir.clone()));
        }
        if let Some(cause) = &w.poisoned {
            return Err(LogError::Poisoned {
                topic: inner.topic.clone(),
                partition: inner.id,
                cause: cause.clone(),
            });
        }
        let base_offset = self.end_offset();
        if records.is_empty() {
            return Ok(AppendInfo { base_offset, count: 0 });
        }
        let limit = inner.options.max_record_bytes;
        if let Some(size) = records.iter().map(record_size).find(|&s| s > limit) {
            return Err(LogError::RecordTooLarge { size, limit });
        }
        let mut next = base_offset;
        let mut start = 0;
        while start < records.len() {
            // Cut a batch of at most MAX_BATCH_BYTES (at least one record).
            let mut bytes = BATCH_HEADER_LEN;
            let mut end = start;
            while end < records.len()
                && (end == start || bytes + record_size(&records[end]) <= MAX_BATCH_BYTES)
            {
                bytes += record_size(&records[end]);
                end += 1;
            }
            let mut scratch = std::mem::take(&mut w.scratch);
            scratch.clear();
            let Some(header) = encode_batch(next, &records[start..end], &mut scratch) else {
                w.scratch = scratch;
                return Err(LogError::RecordTooLarge { size: bytes, limit });
            };
            let written = self.write_batch(w, &scratch, &header);
            w.scratch = scratch;
            if let Err(e) = written {
                w.poisoned = Some(e.to_string());
                return Err(e);
            }
            next = header.next_offset();
            self.publish_end(next);
            start = end;
        }
        self.apply_durability(w, next)?;
        Ok(AppendInfo { base_offset, count: next - base_offset })
    }

    /// Writes one encoded batch into the active segment, rolling first if needed.
    fn write_batch(&self, w: &mut Writer, frame: &[u8], header: &crate::format::BatchHeader) -> Result<()> {
        let cfg = &self.inner.config;
        let mut rolled = false;
        {
            let mut st = self.state_write();
            let active = st.active();
            let full = active.size + frame.len() as u64 > cfg.segment_bytes;
            let old = now_ms().saturating_sub(active.created_ms) >= cfg.segment_ms as i64;
            if active.next_offset > active.base_offset && (full || old) {
                if self.inner.options.durability == Durability::EveryBatch {
                    active.seal()?; // already synced batch by batch: cheap
                } else {
                    // PERF: fsyncing a whole segment here stalled appends for as long as the
                    // disk needed (measured: the log bench's append ratio fell from ~1.0 to
                    // ~0.65 of the raw file). The flusher seals it instead; the recovery point
                    // keeps recovery correct meanwhile (see `recovery`).
                    // DURABILITY: the lowered recovery point is on disk before the new segment.
                    if w.recovery_point > active.base_offset {
                        recovery::write(&self.inner.dir, active.base_offset)?;
                        w.recovery_point = active.base_offset;
                    }
                    w.pending_seals.push(active.seal_later());
                }
                let seg = Segment::create(&self.inner.dir, header.base_offset, now_ms())?;
                st.segments.push(seg);
                rolled = true;
            }
            st.active().append(frame, header, cfg.index_interval_bytes)?;
        }
        if rolled {
            self.enforce_retention(now_ms())?;
        }
        Ok(())
    }

    fn publish_end(&self, end: Offset) {
        *self.inner.end.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = end;
        self.inner.end_changed.notify_all();
        self.inner.end_watch.send_replace(end);
        self.inner.signal.bump();
    }

    fn apply_durability(&self, w: &mut Writer, end: Offset) -> Result<()> {
        // Under `Interval` the log's flusher thread fsyncs (see `flush`), never the append path.
        if self.inner.options.durability == Durability::EveryBatch {
            self.sync_locked(w, end)?;
        }
        Ok(())
    }

    fn sync_locked(&self, w: &mut Writer, end: Offset) -> Result<()> {
        let result = self.state_read().segments.last().map_or(Ok(()), Segment::sync);
        self.record_sync(w, end, result)
    }

    /// Books the outcome of an fsync that covered everything below `end`.
    fn record_sync(&self, w: &mut Writer, end: Offset, result: Result<()>) -> Result<()> {
        w.last_sync = Instant::now();
        match result {
            Ok(()) => {
                w.synced_to = w.synced_to.max(end);
                Ok(())
            }
            Err(e) => {
                // DURABILITY: after a failed fsync the kernel may have dropped the dirty pages;
                // continuing would acknowledge data that is not on disk. Refuse all writes.
                w.poisoned = Some(e.to_string());
                Err(e)
            }
        }
    }

    /// Fsyncs everything not yet on disk: closed segments waiting for their seal and the active
    /// segment. Appends continue while the fsyncs run: the writer lock is held only to find the
    /// files and to book the result.
    ///
    /// # Errors
    /// The partition is poisoned, or an fsync failed (which poisons it).
    pub fn flush(&self) -> Result<()> {
        self.sync_up(true)
    }

    /// Fsyncs only the closed segments waiting for their seal (what `Os` durability promises).
    pub(crate) fn seal_closed(&self) -> Result<()> {
        self.sync_up(false)
    }

    fn sync_up(&self, include_active: bool) -> Result<()> {
        if self.inner.options.read_only {
            return Ok(());
        }
        let (seals, segment_file, segment_path, end) = {
            let mut w = self.lock_writer_raw();
            if let Some(cause) = &w.poisoned {
                return Err(LogError::Poisoned {
                    topic: self.inner.topic.clone(),
                    partition: self.inner.id,
                    cause: cause.clone(),
                });
            }
            let end = self.end_offset();
            if (w.synced_to >= end || !include_active) && w.pending_seals.is_empty() {
                return Ok(());
            }
            let st = self.state_read();
            let Some(active) = st.segments.last() else { return Ok(()) };
            // Everything below `end` is in these files: closed segments waiting for their seal,
            // and the active one (a later roll only adds to the pending seals).
            (std::mem::take(&mut w.pending_seals), Arc::clone(&active.file), active.path.clone(), end)
        };
        // PERF: the fsyncs run outside the writer lock so that they do not stall appends.
        let result = seals.iter().try_for_each(PendingSeal::sync).and_then(|()| {
            if !include_active {
                return Ok(());
            }
            segment_file
                .sync_data()
                .inspect_err(|e| tracing::error!(path = %segment_path.display(), "fsync segment: {e}"))
                .map_err(LogError::io(&segment_path))
        });
        let mut w = self.lock_writer_raw();
        let synced = if include_active { end } else { w.synced_to };
        self.record_sync(&mut w, synced, result)?;
        if !seals.is_empty() && w.pending_seals.is_empty() && w.recovery_point != u64::MAX {
            // Every closed segment is on disk now.
            recovery::clear(&self.inner.dir)?;
            w.recovery_point = u64::MAX;
        } else if let (Some(first), true) = (w.pending_seals.first(), !seals.is_empty()) {
            let point = first.base_offset;
            if point > w.recovery_point {
                recovery::write(&self.inner.dir, point)?;
                w.recovery_point = point;
            }
        }
        Ok(())
    }

    /// Deletes closed segments beyond the topic's retention. Returns how many were deleted.
    ///
    /// # Errors
    /// A segment file could not be deleted.
    pub fn enforce_retention(&self, now_ms: i64) -> Result<usize> {
        let cfg = &self.inner.config;
        if self.inner.options.read_only || (cfg.retention_ms.is_none() && cfg.retention_bytes.is_none()) {
            return Ok(0);
        }
        let removed: Vec<Segment> = {
            let mut st = self.state_write();
            let closed = st.segments.len() - 1;
            let mut n = 0;
            if let Some(ms) = cfg.retention_ms {
                let cutoff = now_ms.saturating_sub(i64::try_from(ms).unwrap_or(i64::MAX));
                n = st.segments[..closed].iter().take_while(|s| s.max_ts < cutoff).count();
            }
            if let Some(limit) = cfg.retention_bytes {
                let mut total: u64 = st.segments.iter().map(Segment::disk_bytes).sum::<u64>()
                    - st.segments[..n].iter().map(Segment::disk_bytes).sum::<u64>();
                while n < closed && total > limit {
                    total -= st.segments[n].disk_bytes();
                    n += 1;
                }
            }
            st.segments.drain(..n).collect()
        };
        for seg in &removed {
            tracing::info!(topic = %self.inner.topic, partition = %self.inner.id, segment = %seg.path.display(), "retention: deleting segment");
            seg.delete_files()?;
        }
        Ok(removed.len())
    }

    /// Blocks until the end offset is greater than `offset` or `timeout` passes. Returns whether
    /// data past `offset` is available.
    #[must_use]
    pub fn wait_for(&self, offset: Offset, timeout: Duration) -> bool {
        if self.inner.options.read_only {
            return self.poll_disk_for(offset, timeout);
        }
        let guard = self.inner.end.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (guard, _) = self
            .inner
            .end_changed
            .wait_timeout_while(guard, timeout, |end| *end <= offset)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard > offset
    }

    /// A channel whose value is the end offset, for async tail readers.
    #[must_use]
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Offset> {
        self.inner.end_watch.subscribe()
    }

    /// Sizes and bounds.
    #[must_use]
    pub fn stats(&self) -> PartitionStats {
        let st = self.state_read();
        let max_ts = st.segments.iter().map(|s| s.max_ts).max().filter(|&t| t != i64::MIN);
        PartitionStats {
            partition: self.inner.id,
            log_start: st.log_start(),
            end: st.end(),
            segments: st.segments.len(),
            bytes: st.segments.iter().map(Segment::disk_bytes).sum(),
            max_timestamp: max_ts,
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if self.options.read_only {
            return;
        }
        // DURABILITY: whatever the policy, a clean close leaves everything fsynced.
        let w = self.writer.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut result = w.pending_seals.iter().try_for_each(PendingSeal::sync);
        let st = self.state.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(active) = st.segments.last_mut() {
            result = result.and_then(|()| active.seal());
        }
        if result.is_ok() && w.recovery_point != u64::MAX {
            result = recovery::clear(&self.dir);
        }
        if let Err(e) = result {
            tracing::error!(topic = %self.topic, partition = %self.id, "closing partition: {e}");
        }
    }
}
