//! Sequential validation of a segment's batches: the core of recovery and index rebuilding.

use std::fs::File;
use std::path::Path;

use crate::error::{LogError, Result};
use crate::format::{check_frame, BatchHeader, FrameCheck};

use super::read_chunk;

/// Bytes read per `pread` while scanning.
const CHUNK: usize = 1 << 20;

/// How a scan ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScanEnd {
    /// Every byte up to the end belonged to a valid batch.
    Clean {
        /// End of the last valid batch.
        valid_len: u64,
    },
    /// The bytes from `valid_len` to the end are a torn or damaged tail with nothing valid
    /// after it.
    TornTail {
        /// End of the last valid batch.
        valid_len: u64,
        /// What was found there.
        reason: String,
    },
}

/// Checks every batch in `[start, end)` of `file`, calling `visit(position, header)` for each
/// valid one in order. Batches must continue densely from `first_offset`.
///
/// # Errors
/// [`LogError::Corrupt`] when damage is followed by more data (not a torn tail), or a checksum
/// -valid batch breaks offset continuity; [`LogError::Io`] on read failures.
pub(crate) fn scan_batches(
    file: &File,
    path: &Path,
    start: u64,
    end: u64,
    first_offset: u64,
    mut visit: impl FnMut(u64, &BatchHeader),
) -> Result<ScanEnd> {
    let corrupt =
        |position: u64, reason: String| LogError::Corrupt { path: path.to_owned(), position, reason };
    let mut pos = start;
    let mut expected = first_offset;
    let mut want = CHUNK;
    while pos < end {
        let len = usize::try_from(end - pos).unwrap_or(usize::MAX).min(want);
        let chunk = read_chunk(file, path, pos, len)?;
        want = CHUNK;
        let mut off = 0usize;
        loop {
            let here = pos + off as u64;
            let rest = chunk.get(off..).unwrap_or_default();
            if rest.is_empty() {
                break;
            }
            match check_frame(rest, u32::MAX as usize) {
                FrameCheck::Complete { len } => {
                    let frame = rest.get(..len).unwrap_or_default();
                    let h = BatchHeader::parse(frame).map_err(|r| corrupt(here, r.into()))?;
                    if h.base_offset != expected {
                        return Err(corrupt(
                            here,
                            format!("batch starts at offset {}, expected {expected}", h.base_offset),
                        ));
                    }
                    visit(here, &h);
                    expected = h.next_offset();
                    off += len;
                }
                FrameCheck::Incomplete { needed } => {
                    let needed = needed.unwrap_or(4) as u64;
                    if here + needed > end {
                        return Ok(ScanEnd::TornTail {
                            valid_len: here,
                            reason: format!("incomplete batch: {} of {needed} bytes", end - here),
                        });
                    }
                    // The frame spans the chunk boundary: re-read from its start.
                    want = CHUNK.max(usize::try_from(needed).unwrap_or(usize::MAX));
                    break;
                }
                FrameCheck::Corrupt { reason, claimed_len } => {
                    if here + claimed_len as u64 >= end || zeroes_to_end(file, path, here, end)? {
                        return Ok(ScanEnd::TornTail {
                            valid_len: here,
                            reason: format!("damaged last batch: {reason}"),
                        });
                    }
                    return Err(corrupt(here, format!("{reason} in a batch followed by more data")));
                }
            }
        }
        pos += off as u64;
    }
    Ok(ScanEnd::Clean { valid_len: pos })
}

/// True if every byte of `[from, end)` is zero (space a filesystem allocated but a crash left
/// unwritten).
fn zeroes_to_end(file: &File, path: &Path, from: u64, end: u64) -> Result<bool> {
    let mut pos = from;
    while pos < end {
        let len = usize::try_from(end - pos).unwrap_or(usize::MAX).min(CHUNK);
        if read_chunk(file, path, pos, len)?.iter().any(|&b| b != 0) {
            return Ok(false);
        }
        pos += len as u64;
    }
    Ok(true)
}
