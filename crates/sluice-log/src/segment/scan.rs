//! Sequential validation of a segment's batches: the core of recovery and index rebuilding.

use std::fs::File;
use std::path::Path;

use crate::error::{LogError, Result};
use crate::format::{check_frame, BatchHeader, FrameCheck, BATCH_HEADER_LEN};

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
                        if valid_batch_after(file, path, here, end, expected)? {
                            return Err(corrupt(
                                here,
                                format!("batch length {needed} runs past the end of the file, yet valid batches follow"),
                            ));
                        }
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
                    let past_end = here + claimed_len as u64 >= end;
                    if (past_end && !valid_batch_after(file, path, here, end, expected)?)
                        || zeroes_to_end(file, path, here, end)?
                    {
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

/// True if a checksum-valid batch that could continue the partition starts anywhere in
/// `(from, end)`. A torn write is the last thing in a file, so finding one means the damage at
/// `from` is corruption followed by data — typically a flipped bit in a length field that makes
/// a middle batch claim to run past the end — and truncating there would silently drop
/// acknowledged batches.
///
/// Only runs on the damaged path. Candidates are filtered on their fixed header before any
/// checksum is computed: the frame must fit before `end`, and its base offset must lie after
/// `expected` by no more than the bytes skipped (every record takes at least one byte).
fn valid_batch_after(file: &File, path: &Path, from: u64, end: u64, expected: u64) -> Result<bool> {
    let header_len = BATCH_HEADER_LEN as u64;
    let mut pos = from + 1;
    while pos + header_len <= end {
        let len = usize::try_from(end - pos).unwrap_or(usize::MAX).min(CHUNK);
        let chunk = read_chunk(file, path, pos, len)?;
        for i in 0..=chunk.len().saturating_sub(BATCH_HEADER_LEN) {
            let here = pos + i as u64;
            let Some(fixed) = chunk.get(i..i + BATCH_HEADER_LEN) else { break };
            let Ok(h) = BatchHeader::parse(fixed) else { continue };
            let plausible = h.len >= BATCH_HEADER_LEN
                && here + h.len as u64 <= end
                && h.base_offset > expected
                && h.base_offset - expected <= here - from;
            if !plausible {
                continue;
            }
            let candidate = read_chunk(file, path, here, h.len)?;
            if check_frame(&candidate, u32::MAX as usize) == (FrameCheck::Complete { len: h.len }) {
                return Ok(true);
            }
        }
        // Overlap chunks so that a header straddling the boundary is seen whole.
        pos += (chunk.len() - BATCH_HEADER_LEN + 1) as u64;
    }
    Ok(false)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{encode_batch, FILE_HEADER_LEN};
    use sluice_types::Record;
    use std::os::unix::fs::FileExt;

    /// A file of a 32-byte dummy header and five batches of ten records; returns it and the
    /// batches' positions.
    fn segment() -> (tempfile::NamedTempFile, Vec<u64>, u64) {
        let f = tempfile::NamedTempFile::new().expect("temp file");
        let mut bytes = vec![0u8; FILE_HEADER_LEN];
        let mut positions = Vec::new();
        for b in 0..5u64 {
            positions.push(bytes.len() as u64);
            let records: Vec<Record> = (0..10).map(|i| Record::new(format!("v{b}.{i}"), i)).collect();
            encode_batch(b * 10, &records, &mut bytes).expect("encode");
        }
        f.as_file().write_all_at(&bytes, 0).expect("write");
        (f, positions, bytes.len() as u64)
    }

    fn scan(f: &tempfile::NamedTempFile, end: u64) -> Result<ScanEnd> {
        scan_batches(f.as_file(), f.path(), FILE_HEADER_LEN as u64, end, 0, |_, _| {})
    }

    #[test]
    fn a_middle_length_that_runs_past_the_end_is_corruption_not_a_torn_tail() {
        let (f, positions, end) = segment();
        // Flip a high bit of batch 2's length: it now claims ~1 GiB, past the end of the file.
        let mut len = [0u8; 4];
        f.as_file().read_exact_at(&mut len, positions[2]).expect("read");
        len[3] ^= 0x40;
        f.as_file().write_all_at(&len, positions[2]).expect("write");
        match scan(&f, end) {
            Err(LogError::Corrupt { position, .. }) => assert_eq!(position, positions[2]),
            other => panic!("expected corruption at {}, got {other:?}", positions[2]),
        }
    }

    #[test]
    fn a_torn_or_damaged_last_batch_is_still_a_torn_tail() {
        let (f, positions, end) = segment();
        let cut = positions[4] + (end - positions[4]) / 2;
        assert!(
            matches!(scan(&f, cut), Ok(ScanEnd::TornTail { valid_len, .. }) if valid_len == positions[4])
        );
        let mut len = [0u8; 4];
        f.as_file().read_exact_at(&mut len, positions[4]).expect("read");
        len[3] ^= 0x40;
        f.as_file().write_all_at(&len, positions[4]).expect("write");
        assert!(
            matches!(scan(&f, end), Ok(ScanEnd::TornTail { valid_len, .. }) if valid_len == positions[4])
        );
    }
}
