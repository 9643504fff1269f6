//! One segment of a partition: a `.log` file of batches plus its `.index` and `.timeindex`.
//!
//! Files are named by the segment's base offset, zero-padded to 20 digits, as in Kafka:
//! `00000000000000001234.log`. Only the last segment of a partition (the *active* one) is
//! appended to; the others are *closed* and immutable until retention deletes them.
//!
//! Recovery policy (RocksDB's "tolerate corrupt tail"): when the active segment is opened its
//! batches are scanned and checked. An incomplete last batch, a damaged last batch, or zeroes up
//! to the end of the file are a torn tail: the file is truncated to the last valid batch, which
//! loses nothing that was acknowledged. Damage followed by valid data is corruption: opening
//! fails with an error naming the file and byte position.

mod scan;

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::durable::fsync_dir;
use crate::error::{LogError, Result};
use crate::format::{BatchHeader, FileHeader, FileKind, HeaderError, FILE_HEADER_LEN, FORMAT_VERSION};
use crate::index::{OffsetEntry, SegmentIndex, TimeEntry};

pub(crate) use scan::{scan_batches, ScanEnd};

/// File name of a segment's log file.
pub(crate) fn log_file_name(base_offset: u64) -> String {
    format!("{base_offset:020}.log")
}

/// Parses a `.log` file name back into its base offset.
pub(crate) fn parse_log_file_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".log")?;
    (stem.len() == 20).then(|| stem.parse().ok()).flatten()
}

/// A segment and what is known about its content.
#[derive(Debug)]
pub(crate) struct Segment {
    /// Offset of its first record.
    pub base_offset: u64,
    /// The `.log` file's path.
    pub path: PathBuf,
    /// Shared with readers, who read with `pread` and never move a file cursor.
    pub file: Arc<File>,
    /// Bytes of valid data, header included. Readers never read past it.
    pub size: u64,
    /// Offset after its last record.
    pub next_offset: u64,
    /// Largest record timestamp, `i64::MIN` while empty.
    pub max_ts: i64,
    /// When the segment was created (from its header).
    pub created_ms: i64,
    /// Sparse indexes.
    pub index: SegmentIndex,
    bytes_since_index: u64,
    /// Open index files while the segment is active.
    index_writers: Option<(File, File)>,
}

fn index_paths(log_path: &Path) -> (PathBuf, PathBuf) {
    (log_path.with_extension("index"), log_path.with_extension("timeindex"))
}

fn read_header(file: &File, path: &Path, kind: FileKind) -> Result<FileHeader> {
    let mut buf = [0u8; FILE_HEADER_LEN];
    file.read_exact_at(&mut buf, 0).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => LogError::Corrupt {
            path: path.to_owned(),
            position: 0,
            reason: "file shorter than its header".into(),
        },
        _ => LogError::Io { path: path.to_owned(), source: e },
    })?;
    let header = FileHeader::decode(&buf).map_err(|e| match e {
        HeaderError::Invalid(reason) => {
            LogError::Corrupt { path: path.to_owned(), position: 0, reason: reason.into() }
        }
        HeaderError::Version(found) => {
            LogError::UnsupportedVersion { path: path.to_owned(), found, supported: FORMAT_VERSION }
        }
    })?;
    if header.kind != kind {
        return Err(LogError::Corrupt {
            path: path.to_owned(),
            position: 0,
            reason: format!("expected a {kind:?} file, found {:?}", header.kind),
        });
    }
    Ok(header)
}

fn create_with_header(path: &Path, header: FileHeader) -> Result<File> {
    let f =
        OpenOptions::new().read(true).write(true).create_new(true).open(path).map_err(LogError::io(path))?;
    f.write_all_at(&header.encode(), 0).map_err(LogError::io(path))?;
    Ok(f)
}

impl Segment {
    /// Creates an empty active segment starting at `base_offset` in `dir`.
    pub fn create(dir: &Path, base_offset: u64, now_ms: i64) -> Result<Segment> {
        let path = dir.join(log_file_name(base_offset));
        let (ipath, tpath) = index_paths(&path);
        let file = create_with_header(&path, FileHeader::new(FileKind::Segment, base_offset, now_ms))?;
        let ifile = create_with_header(&ipath, FileHeader::new(FileKind::OffsetIndex, base_offset, now_ms))?;
        let tfile = create_with_header(&tpath, FileHeader::new(FileKind::TimeIndex, base_offset, now_ms))?;
        // DURABILITY: the header and the new names must survive a crash before any batch does.
        file.sync_all().map_err(LogError::io(&path))?;
        fsync_dir(dir)?;
        Ok(Segment {
            base_offset,
            path,
            file: Arc::new(file),
            size: FILE_HEADER_LEN as u64,
            next_offset: base_offset,
            max_ts: i64::MIN,
            created_ms: now_ms,
            index: SegmentIndex::default(),
            bytes_since_index: 0,
            index_writers: Some((ifile, tfile)),
        })
    }

    /// Opens an existing segment. The active segment (`active = true`) is scanned in full and
    /// its torn tail, if any, truncated (unless `read_only`); its indexes are rebuilt. A closed
    /// segment trusts its index files when they are consistent and rebuilds them otherwise.
    pub fn open(
        path: PathBuf,
        base_offset: u64,
        active: bool,
        read_only: bool,
        index_interval: u32,
    ) -> Result<Segment> {
        let file =
            OpenOptions::new().read(true).write(!read_only).open(&path).map_err(LogError::io(&path))?;
        if active && file.metadata().map_err(LogError::io(&path))?.len() < FILE_HEADER_LEN as u64 {
            // A roll creates the file and then writes its header: a crash in between (or, for a
            // read-only follower, a roll happening right now) leaves an active segment shorter
            // than its header. It holds no batch, so it is an empty segment, not corruption.
            let header = FileHeader::new(FileKind::Segment, base_offset, crate::partition::now_ms());
            if read_only {
                return Ok(Segment::empty(path, base_offset, file, header.created_ms));
            }
            tracing::warn!(path = %path.display(), "rewriting the header of a segment torn at creation");
            file.write_all_at(&header.encode(), 0).map_err(LogError::io(&path))?;
            file.sync_all().map_err(LogError::io(&path))?;
        }
        let header = read_header(&file, &path, FileKind::Segment)?;
        if header.base_offset != base_offset {
            return Err(LogError::Corrupt {
                path,
                position: 0,
                reason: format!(
                    "header says base offset {}, file name says {base_offset}",
                    header.base_offset
                ),
            });
        }
        let file_len = file.metadata().map_err(LogError::io(&path))?.len();
        let mut seg = Segment::empty(path, base_offset, file, header.created_ms);
        if !active && seg.load_closed_index(file_len)? {
            return Ok(seg);
        }
        seg.rebuild(file_len, active, read_only, index_interval)?;
        Ok(seg)
    }

    /// A segment with no batch yet, its bounds not loaded.
    fn empty(path: PathBuf, base_offset: u64, file: File, created_ms: i64) -> Segment {
        Segment {
            base_offset,
            path,
            file: Arc::new(file),
            size: FILE_HEADER_LEN as u64,
            next_offset: base_offset,
            max_ts: i64::MIN,
            created_ms,
            index: SegmentIndex::default(),
            bytes_since_index: 0,
            index_writers: None,
        }
    }

    /// Scans every batch from the header on, rebuilding indexes and bounds.
    fn rebuild(&mut self, file_len: u64, active: bool, read_only: bool, index_interval: u32) -> Result<()> {
        let mut idx = SegmentIndex::default();
        let (mut next, mut max_ts, mut since) = (self.base_offset, i64::MIN, 0u64);
        let end = scan_batches(
            &self.file,
            &self.path,
            FILE_HEADER_LEN as u64,
            file_len,
            self.base_offset,
            |pos, h| {
                push_index_entry(&mut idx, &mut since, index_interval, self.base_offset, pos, h, max_ts);
                next = h.next_offset();
                max_ts = max_ts.max(h.max_ts);
            },
        )?;
        let valid_len = match end {
            ScanEnd::Clean { valid_len } => valid_len,
            ScanEnd::TornTail { valid_len, reason } if active => {
                if !read_only {
                    tracing::warn!(path = %self.path.display(), position = valid_len, "truncating torn tail: {reason}");
                    self.file.set_len(valid_len).map_err(LogError::io(&self.path))?;
                    self.file.sync_all().map_err(LogError::io(&self.path))?;
                }
                valid_len
            }
            ScanEnd::TornTail { valid_len, reason } => {
                return Err(LogError::Corrupt {
                    path: self.path.clone(),
                    position: valid_len,
                    reason: format!("damaged closed segment: {reason}"),
                });
            }
        };
        self.size = valid_len;
        self.next_offset = next;
        self.max_ts = max_ts;
        self.index = idx;
        self.bytes_since_index = since;
        if !read_only {
            self.write_index_files(active)?;
        }
        Ok(())
    }

    /// Loads a closed segment's index files; false if they are missing or inconsistent.
    fn load_closed_index(&mut self, file_len: u64) -> Result<bool> {
        let (ipath, tpath) = index_paths(&self.path);
        let body = |p: &Path, kind| -> Option<Vec<u8>> {
            let f = File::open(p).ok()?;
            read_header(&f, p, kind).ok()?;
            let mut b = std::fs::read(p).ok()?;
            b.drain(..FILE_HEADER_LEN);
            Some(b)
        };
        let (Some(ib), Some(tb)) = (body(&ipath, FileKind::OffsetIndex), body(&tpath, FileKind::TimeIndex))
        else {
            return Ok(false);
        };
        let Some(idx) = SegmentIndex::parse(&ib, &tb, file_len, u64::from(u32::MAX)) else {
            tracing::warn!(path = %ipath.display(), "index inconsistent; rebuilding from the segment");
            return Ok(false);
        };
        // Walk batch headers after the last indexed batch to learn the end and newest timestamp.
        let start = idx.offsets.last().map_or(FILE_HEADER_LEN as u64, |e| u64::from(e.position));
        let first =
            idx.offsets.last().map_or(self.base_offset, |e| self.base_offset + u64::from(e.rel_offset));
        let (mut next, mut max_ts) = (first, idx.times.last().map_or(i64::MIN, |e| e.max_ts_before));
        let end = scan_batches(&self.file, &self.path, start, file_len, first, |_, h| {
            next = h.next_offset();
            max_ts = max_ts.max(h.max_ts);
        })?;
        let ScanEnd::Clean { valid_len } = end else { return Ok(false) };
        self.size = valid_len;
        self.next_offset = next;
        self.max_ts = max_ts;
        self.index = idx;
        Ok(true)
    }

    fn write_index_files(&mut self, keep_open: bool) -> Result<()> {
        let (ipath, tpath) = index_paths(&self.path);
        let mut ib =
            FileHeader::new(FileKind::OffsetIndex, self.base_offset, self.created_ms).encode().to_vec();
        self.index.offsets.iter().for_each(|e| ib.extend_from_slice(&SegmentIndex::encode_offset(*e)));
        let mut tb =
            FileHeader::new(FileKind::TimeIndex, self.base_offset, self.created_ms).encode().to_vec();
        self.index.times.iter().for_each(|e| tb.extend_from_slice(&SegmentIndex::encode_time(*e)));
        let open = |p: &Path, b: &[u8]| -> Result<File> {
            let f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(p)
                .map_err(LogError::io(p))?;
            f.write_all_at(b, 0).map_err(LogError::io(p))?;
            Ok(f)
        };
        let (fi, ft) = (open(&ipath, &ib)?, open(&tpath, &tb)?);
        self.index_writers = keep_open.then_some((fi, ft));
        Ok(())
    }

    /// Appends an encoded batch at the end of the file and updates bounds and indexes.
    /// The data is visible to `pread` when this returns; it is not fsynced.
    pub fn append(&mut self, frame: &[u8], h: &BatchHeader, index_interval: u32) -> Result<()> {
        let pos = self.size;
        self.file.write_all_at(frame, pos).map_err(LogError::io(&self.path))?;
        let (before_o, before_t) = (self.index.offsets.len(), self.index.times.len());
        push_index_entry(
            &mut self.index,
            &mut self.bytes_since_index,
            index_interval,
            self.base_offset,
            pos,
            h,
            self.max_ts,
        );
        if let Some((fi, ft)) = &self.index_writers {
            let (ipath, tpath) = index_paths(&self.path);
            if let Some(e) = self.index.offsets.get(before_o) {
                let at = (FILE_HEADER_LEN + before_o * crate::index::OFFSET_ENTRY_LEN) as u64;
                fi.write_all_at(&SegmentIndex::encode_offset(*e), at).map_err(LogError::io(ipath))?;
            }
            if let Some(e) = self.index.times.get(before_t) {
                let at = (FILE_HEADER_LEN + before_t * crate::index::TIME_ENTRY_LEN) as u64;
                ft.write_all_at(&SegmentIndex::encode_time(*e), at).map_err(LogError::io(tpath))?;
            }
        }
        self.size += frame.len() as u64;
        self.next_offset = h.next_offset();
        self.max_ts = self.max_ts.max(h.max_ts);
        Ok(())
    }

    /// Makes the segment immutable: fsyncs it and its indexes and closes the index writers.
    pub fn seal(&mut self) -> Result<()> {
        self.sync()?;
        if let Some((fi, ft)) = self.index_writers.take() {
            let (ipath, tpath) = index_paths(&self.path);
            fi.sync_data().map_err(LogError::io(ipath))?;
            ft.sync_data().map_err(LogError::io(tpath))?;
        }
        Ok(())
    }

    /// Read-only mode: extends the segment with the whole batches another process appended
    /// since it was last read, indexing them as the writer does so that reads near the tail
    /// seek instead of rescanning from the last entry known at open. A batch still being
    /// written is left for the next call.
    pub fn catch_up(&mut self, index_interval: u32) -> Result<()> {
        let len = self.file.metadata().map_err(LogError::io(&self.path))?.len();
        if len <= self.size {
            return Ok(());
        }
        let (base, mut max_ts, mut next) = (self.base_offset, self.max_ts, self.next_offset);
        let (idx, since) = (&mut self.index, &mut self.bytes_since_index);
        let end = scan_batches(&self.file, &self.path, self.size, len, self.next_offset, |pos, h| {
            push_index_entry(idx, since, index_interval, base, pos, h, max_ts);
            next = h.next_offset();
            max_ts = max_ts.max(h.max_ts);
        })?;
        let (ScanEnd::Clean { valid_len } | ScanEnd::TornTail { valid_len, .. }) = end;
        self.size = valid_len;
        self.next_offset = next;
        self.max_ts = max_ts;
        Ok(())
    }

    /// Closes the index writers without fsyncing anything and returns what a background
    /// [`PendingSeal::sync`] must fsync to finish sealing the segment.
    pub fn seal_later(&mut self) -> PendingSeal {
        PendingSeal {
            base_offset: self.base_offset,
            file: Arc::clone(&self.file),
            path: self.path.clone(),
            index_files: self.index_writers.take(),
        }
    }

    /// Fsyncs the log file's data.
    pub fn sync(&self) -> Result<()> {
        self.file
            .sync_data()
            .inspect_err(|e| tracing::error!(path = %self.path.display(), "fsync segment: {e}"))
            .map_err(LogError::io(&self.path))
    }

    /// Number of bytes on disk of the log and its indexes.
    pub fn disk_bytes(&self) -> u64 {
        self.size
            + (FILE_HEADER_LEN * 2) as u64
            + (self.index.offsets.len() * crate::index::OFFSET_ENTRY_LEN) as u64
            + (self.index.times.len() * crate::index::TIME_ENTRY_LEN) as u64
    }

    /// Removes the segment's three files.
    pub fn delete_files(&self) -> Result<()> {
        let (ipath, tpath) = index_paths(&self.path);
        for p in [&self.path, &ipath, &tpath] {
            match std::fs::remove_file(p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::Io { path: p.clone(), source: e }),
            }
        }
        Ok(())
    }
}

/// A closed segment whose data and indexes still have to be fsynced.
#[derive(Debug)]
pub(crate) struct PendingSeal {
    /// The segment's base offset.
    pub base_offset: u64,
    file: Arc<File>,
    path: PathBuf,
    index_files: Option<(File, File)>,
}

impl PendingSeal {
    /// Fsyncs the segment and its index files.
    pub fn sync(&self) -> Result<()> {
        self.file
            .sync_data()
            .inspect_err(|e| tracing::error!(path = %self.path.display(), "fsync segment: {e}"))
            .map_err(LogError::io(&self.path))?;
        if let Some((fi, ft)) = &self.index_files {
            let (ipath, tpath) = index_paths(&self.path);
            fi.sync_data().map_err(LogError::io(ipath))?;
            ft.sync_data().map_err(LogError::io(tpath))?;
        }
        Ok(())
    }
}

/// Adds index entries for the batch at `pos` if enough bytes passed since the last entry.
fn push_index_entry(
    idx: &mut SegmentIndex,
    since: &mut u64,
    interval: u32,
    base: u64,
    pos: u64,
    h: &BatchHeader,
    max_ts_before: i64,
) {
    if *since >= u64::from(interval) {
        if let (Ok(rel_offset), Ok(position)) = (u32::try_from(h.base_offset - base), u32::try_from(pos)) {
            idx.offsets.push(OffsetEntry { rel_offset, position });
            idx.times.push(TimeEntry { max_ts_before, rel_offset, position });
            *since = 0;
        }
    }
    *since += h.len as u64;
}

/// Reads `len` bytes at `pos` of a segment file into a shared buffer.
pub(crate) fn read_chunk(file: &File, path: &Path, pos: u64, len: usize) -> Result<Bytes> {
    let mut buf = BytesMut::zeroed(len);
    file.read_exact_at(&mut buf, pos).map_err(LogError::io(path))?;
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_active_segment_torn_at_creation_opens_empty() -> Result<()> {
        let dir = tempfile::tempdir().map_err(LogError::io("tempdir"))?;
        let path = dir.path().join(log_file_name(10));
        for torn in [&b""[..], b"SLC"] {
            std::fs::write(&path, torn).map_err(LogError::io(&path))?;
            // A read-only follower sees an empty segment and writes nothing.
            let seg = Segment::open(path.clone(), 10, true, true, 4096)?;
            assert_eq!((seg.next_offset, seg.size), (10, FILE_HEADER_LEN as u64));
            assert_eq!(std::fs::read(&path).map_err(LogError::io(&path))?, torn);
            // The writer gives it its header back.
            let seg = Segment::open(path.clone(), 10, true, false, 4096)?;
            assert_eq!((seg.next_offset, seg.size), (10, FILE_HEADER_LEN as u64));
            assert!(read_header(&seg.file, &path, FileKind::Segment).is_ok_and(|h| h.base_offset == 10));
            assert!(path.with_extension("index").is_file() && path.with_extension("timeindex").is_file());
            // A closed segment that short is damage, not a crash artefact.
            std::fs::write(&path, torn).map_err(LogError::io(&path))?;
            assert!(matches!(
                Segment::open(path.clone(), 10, false, false, 4096),
                Err(LogError::Corrupt { .. })
            ));
        }
        Ok(())
    }
}
