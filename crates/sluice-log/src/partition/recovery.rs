//! Opening a partition's segments, and the recovery point that makes rolls cheap.
//!
//! When the active segment rolls under `Interval` or `Os` durability, the closed segment is not
//! fsynced on the append path (that would stall appends for as long as the disk takes to write
//! a whole segment); the flusher fsyncs it shortly after. Until then a power loss could tear
//! its tail, so the partition keeps a *recovery point* in `<partition>/recovery-point`:
//!
//! > every closed segment whose base offset is below the recovery point is fully on disk.
//!
//! The roll lowers it (durably, before the new segment exists) to the closed segment's base;
//! the flusher raises it once the closed segments are synced; a clean close removes the file
//! (no file = every closed segment is on disk, which is also what data written before this
//! mechanism existed gets).
//!
//! On open, a closed segment at or above the recovery point is recovered like the active one:
//! a torn tail is truncated and every later segment deleted (their records follow the lost ones,
//! and offsets must stay dense). A closed segment below it is trusted: damage there is
//! corruption and an error. The file is `offset u64 | crc32c u32`, little endian.

use std::path::{Path, PathBuf};

use crate::config::{LogOptions, TopicConfig};
use crate::durable::{fsync_dir, write_atomically};
use crate::error::{LogError, Result};
use crate::segment::{log_file_name, parse_log_file_name, Segment};

const FILE: &str = "recovery-point";

/// Reads the recovery point; `u64::MAX` when there is none (every closed segment is on disk).
pub(super) fn read(dir: &Path) -> u64 {
    let path = dir.join(FILE);
    match std::fs::read(&path) {
        Ok(b) if b.len() == 12 && crc32c::crc32c(&b[..8]).to_le_bytes() == b[8..12] => {
            let mut o = [0u8; 8];
            o.copy_from_slice(&b[..8]);
            u64::from_le_bytes(o)
        }
        Ok(_) => {
            // Written atomically, so damage here is not a torn write. Trusting every closed
            // segment errs towards an error on damage rather than a silent truncation.
            tracing::warn!(path = %path.display(), "unreadable recovery point; treating all closed segments as synced");
            u64::MAX
        }
        Err(_) => u64::MAX,
    }
}

/// Durably records the recovery point.
pub(super) fn write(dir: &Path, offset: u64) -> Result<()> {
    let mut b = offset.to_le_bytes().to_vec();
    b.extend_from_slice(&crc32c::crc32c(&b).to_le_bytes());
    write_atomically(&dir.join(FILE), &b)
}

/// Removes the recovery point: every closed segment is on disk.
pub(super) fn clear(dir: &Path) -> Result<()> {
    let path = dir.join(FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => fsync_dir(dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LogError::Io { path, source: e }),
    }
}

/// Opens every segment of the partition in `dir`, oldest first (empty if there is none).
pub(super) fn open_segments(dir: &Path, config: &TopicConfig, options: &LogOptions) -> Result<Vec<Segment>> {
    let mut bases = list_segments(dir)?;
    bases.sort_unstable();
    let point = read(dir);
    let interval = config.index_interval_bytes;
    let mut segments: Vec<Segment> = Vec::with_capacity(bases.len().max(1));
    for (i, &base) in bases.iter().enumerate() {
        let last = i + 1 == bases.len();
        let path = dir.join(log_file_name(base));
        // A segment that may not have been synced is recovered like the active one.
        let recover = last || base >= point;
        let len_before = std::fs::metadata(&path).map_err(LogError::io(&path))?.len();
        let seg = Segment::open(path, base, recover, options.read_only, interval)?;
        if let Some(prev) = segments.last() {
            if prev.next_offset != seg.base_offset {
                return Err(LogError::Corrupt {
                    path: seg.path.clone(),
                    position: 0,
                    reason: format!(
                        "segment starts at offset {}, previous ends at {}",
                        seg.base_offset, prev.next_offset
                    ),
                });
            }
        }
        let torn = seg.size < len_before;
        segments.push(seg);
        if torn && !last {
            drop_later_segments(dir, &bases[i + 1..], options.read_only)?;
            break;
        }
    }
    if !options.read_only && point != u64::MAX {
        // DURABILITY: what a crash left unsynced is synced now, before anything is appended.
        let n = segments.len();
        for seg in segments.iter_mut().take(n.saturating_sub(1)).filter(|s| s.base_offset >= point) {
            seg.seal()?;
        }
        clear(dir)?;
    }
    Ok(segments)
}

/// Deletes segments that followed a torn, unsynced segment: their records came after records
/// that were lost, so they cannot keep their offsets.
fn drop_later_segments(dir: &Path, bases: &[u64], read_only: bool) -> Result<()> {
    if read_only {
        return Ok(()); // the writer will do it; a reader just does not read past the tear
    }
    for &base in bases {
        let path: PathBuf = dir.join(log_file_name(base));
        tracing::error!(
            path = %path.display(),
            "deleting a segment written after records a crash lost before they were synced"
        );
        for ext in ["log", "index", "timeindex"] {
            let p = path.with_extension(ext);
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::Io { path: p, source: e }),
            }
        }
    }
    fsync_dir(dir)
}

/// Base offsets of the `.log` files in `dir`.
pub(super) fn list_segments(dir: &Path) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(LogError::io(dir))? {
        let entry = entry.map_err(LogError::io(dir))?;
        if let Some(base) = entry.file_name().to_str().and_then(parse_log_file_name) {
            out.push(base);
        }
    }
    Ok(out)
}
