//! The staging file of one transaction: `txn/<id>.txn`.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use sluice_types::{PartitionId, Record};

use crate::durable::fsync_dir;
use crate::error::{LogError, Result};
use crate::format::{
    begin_frame, check_frame, decode_batch, encode_batch, end_frame, Cursor, FileHeader, FileKind,
    FrameCheck, FILE_HEADER_LEN, FRAME_OVERHEAD,
};

const RECORDS: u8 = 1;
const PREPARE: u8 = 2;
const COMMIT: u8 = 3;

/// One entry of a staging file.
#[derive(Debug)]
pub(super) enum Entry {
    Records {
        topic: String,
        partition: PartitionId,
        records: Vec<Record>,
    },
    Prepare,
    /// Per partition: topic, partition, base offset, record count.
    Commit(Vec<(String, PartitionId, u64, u64)>),
}

/// An open staging file.
#[derive(Debug)]
pub(super) struct Staging {
    path: PathBuf,
    file: File,
    size: u64,
    scratch: Vec<u8>,
}

/// Ids of the staging files in `dir`.
pub(super) fn list(dir: &Path) -> Result<Vec<String>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(LogError::io(dir))? {
        let entry = entry.map_err(LogError::io(dir))?;
        if let Some(id) = entry.file_name().to_str().and_then(|n| n.strip_suffix(".txn")) {
            ids.push(id.to_owned());
        }
    }
    Ok(ids)
}

impl Staging {
    pub fn create(path: PathBuf) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(LogError::io(&path))?;
        let header = FileHeader::new(FileKind::Transaction, 0, crate::partition::now_ms());
        file.write_all_at(&header.encode(), 0).map_err(LogError::io(&path))?;
        Ok(Staging { path, file, size: FILE_HEADER_LEN as u64, scratch: Vec::new() })
    }

    pub fn open(path: PathBuf) -> Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open(&path).map_err(LogError::io(&path))?;
        let size = file.metadata().map_err(LogError::io(&path))?.len();
        Ok(Staging { path, file, size, scratch: Vec::new() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn dir(&self) -> &Path {
        crate::durable::parent_dir(&self.path)
    }

    pub fn append_records(&mut self, topic: &str, partition: PartitionId, records: &[Record]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        let start = begin_frame(&mut buf);
        buf.push(RECORDS);
        push_topic(&mut buf, topic, partition);
        let ok = encode_batch(0, records, &mut buf).is_some() && end_frame(&mut buf, start).is_some();
        let result = if ok {
            self.write(&buf)
        } else {
            Err(LogError::RecordTooLarge { size: buf.len(), limit: u32::MAX as usize })
        };
        self.scratch = buf;
        result
    }

    pub fn append_entry(&self, entry: &Entry) -> Result<()> {
        let mut buf = Vec::new();
        let start = begin_frame(&mut buf);
        match entry {
            Entry::Prepare => buf.push(PREPARE),
            Entry::Commit(parts) => {
                buf.push(COMMIT);
                buf.extend_from_slice(&(parts.len() as u32).to_le_bytes());
                for (t, p, base, count) in parts {
                    push_topic(&mut buf, t, *p);
                    buf.extend_from_slice(&base.to_le_bytes());
                    buf.extend_from_slice(&count.to_le_bytes());
                }
            }
            Entry::Records { .. } => unreachable!("records are appended with append_records"),
        }
        end_frame(&mut buf, start);
        // Entries are appended at the file's current end, which `entries()` re-reads.
        let at = self.file.metadata().map_err(LogError::io(&self.path))?.len();
        self.file.write_all_at(&buf, at).map_err(LogError::io(&self.path))
    }

    fn write(&mut self, buf: &[u8]) -> Result<()> {
        self.file.write_all_at(buf, self.size).map_err(LogError::io(&self.path))?;
        self.size += buf.len() as u64;
        Ok(())
    }

    pub fn sync(&self) -> Result<()> {
        self.file.sync_data().map_err(LogError::io(&self.path))
    }

    pub fn delete(&self) -> Result<()> {
        std::fs::remove_file(&self.path).map_err(LogError::io(&self.path))?;
        fsync_dir(self.dir())
    }

    /// Reads every entry. A torn last entry is ignored (it was never synced, so nothing was
    /// decided by it); damage before the end is an error.
    // PERF: reads the whole file into memory; fine for checkpoint-sized transactions, to be
    // streamed when transactions grow past a few hundred MiB.
    pub fn entries(&self) -> Result<Vec<Entry>> {
        let bytes = Bytes::from(std::fs::read(&self.path).map_err(LogError::io(&self.path))?);
        if bytes.len() < FILE_HEADER_LEN {
            // `create` makes the file and then writes its header: a crash in between leaves a
            // file shorter than a header, in which nothing was staged or decided.
            return Ok(Vec::new());
        }
        let header = bytes.get(..FILE_HEADER_LEN).map(FileHeader::decode);
        let corrupt = |position: usize, reason: String| LogError::Corrupt {
            path: self.path.clone(),
            position: position as u64,
            reason,
        };
        match header {
            Some(Ok(h)) if h.kind == FileKind::Transaction => {}
            _ => return Err(corrupt(0, "not a transaction staging file".into())),
        }
        let mut out = Vec::new();
        let mut pos = FILE_HEADER_LEN;
        while pos < bytes.len() {
            let len = match check_frame(&bytes[pos..], u32::MAX as usize) {
                FrameCheck::Complete { len } => len,
                // A torn last entry: it was never synced, so nothing was decided by it — unless
                // a valid entry follows, in which case the damage is corruption, not a tear.
                FrameCheck::Incomplete { .. } | FrameCheck::Corrupt { .. } if !frame_after(&bytes, pos) => {
                    break
                }
                FrameCheck::Incomplete { .. } => {
                    return Err(corrupt(
                        pos,
                        "entry length runs past the end, yet valid entries follow".into(),
                    ))
                }
                FrameCheck::Corrupt { reason, .. } => return Err(corrupt(pos, reason.into())),
            };
            let entry = parse_entry(&bytes.slice(pos + 8..pos + len)).map_err(|r| corrupt(pos, r.into()))?;
            out.push(entry);
            pos += len;
        }
        Ok(out)
    }
}

/// True if a checksum-valid entry starts anywhere after `from` (only on the damaged path).
fn frame_after(bytes: &[u8], from: usize) -> bool {
    (from + 1..bytes.len()).any(|p| {
        matches!(check_frame(&bytes[p..], bytes.len() - p), FrameCheck::Complete { len } if len > FRAME_OVERHEAD)
    })
}

fn push_topic(buf: &mut Vec<u8>, topic: &str, partition: PartitionId) {
    buf.extend_from_slice(&(topic.len() as u16).to_le_bytes());
    buf.extend_from_slice(topic.as_bytes());
    buf.extend_from_slice(&partition.0.to_le_bytes());
}

fn parse_topic(c: &mut Cursor<'_>) -> Option<(String, PartitionId)> {
    let len = usize::from(c.u16()?);
    let topic = std::str::from_utf8(c.take(len)?).ok()?.to_owned();
    Some((topic, PartitionId(c.u32()?)))
}

fn parse_entry(payload: &Bytes) -> Result<Entry, &'static str> {
    let mut c = Cursor::new(payload);
    match c.take(1).and_then(|b| b.first().copied()) {
        Some(RECORDS) => {
            let (topic, partition) = parse_topic(&mut c).ok_or("bad records entry")?;
            let batch = payload.slice(c.position()..);
            let mut stored = Vec::new();
            decode_batch(&batch, &mut stored)?;
            Ok(Entry::Records { topic, partition, records: stored.into_iter().map(|s| s.record).collect() })
        }
        Some(PREPARE) => Ok(Entry::Prepare),
        Some(COMMIT) => {
            let n = c.u32().ok_or("bad commit entry")?;
            let mut parts = Vec::new();
            for _ in 0..n {
                let (t, p) = parse_topic(&mut c).ok_or("bad commit entry")?;
                parts.push((t, p, c.u64().ok_or("bad commit entry")?, c.u64().ok_or("bad commit entry")?));
            }
            Ok(Entry::Commit(parts))
        }
        _ => Err("unknown entry type"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_torn_before_its_header_holds_no_entries() -> Result<()> {
        let dir = tempfile::tempdir().map_err(LogError::io("tempdir"))?;
        let path = dir.path().join("t.txn");
        for torn in [&b""[..], b"SLCE\x01"] {
            std::fs::write(&path, torn).map_err(LogError::io(&path))?;
            assert!(Staging::open(path.clone())?.entries()?.is_empty());
        }
        // A whole header of the wrong kind is still refused.
        let header = FileHeader::new(FileKind::Segment, 0, 0).encode();
        std::fs::write(&path, header).map_err(LogError::io(&path))?;
        assert!(matches!(Staging::open(path)?.entries(), Err(LogError::Corrupt { .. })));
        Ok(())
    }
}
