//! The on-disk format: file headers, checksummed frames, record batches.
//!
//! All integers are little endian. Every file the log writes starts with a [`FileHeader`]
//! (32 bytes):
//!
//! ```text
//! magic "SLCE" | version u16 | kind u16 | base_offset u64 | created_ms i64 | reserved u32 | crc32c u32
//! ```
//!
//! The body of segment and transaction files is a sequence of *frames*:
//!
//! ```text
//! len u32 (bytes after this field) | crc32c u32 (of the bytes after this field) | payload
//! ```
//!
//! A segment frame's payload is a record batch:
//!
//! ```text
//! attributes u16 | count u32 | base_offset u64 | min_ts i64 | max_ts i64 | count × record
//! record = ts i64 | key_len i32 (-1 = none) | key | value_len u32 | value
//!        | header_count u16 | header_count × (key_len u16 | key utf-8 | val_len i32 (-1 = null) | val)
//! ```
//!
//! Decoding never panics and never trusts a length: every read is bounds-checked, so a fuzzer
//! can feed it anything (see `fuzz/`).

mod batch;
mod frame;
mod header;

pub use batch::{decode_batch, encode_batch, record_size, BatchHeader, BATCH_HEADER_LEN};
pub(crate) use frame::{begin_frame, end_frame};
pub use frame::{check_frame, FrameCheck, FRAME_OVERHEAD};
pub use header::{FileHeader, FileKind, HeaderError, FILE_HEADER_LEN, FORMAT_VERSION};

/// Bounds-checked little-endian reader over a byte slice. Every method returns `None` when the
/// input is too short instead of panicking.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_le_bytes)
    }
    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }
    pub(crate) fn i32(&mut self) -> Option<i32> {
        self.array().map(i32::from_le_bytes)
    }
    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }
    pub(crate) fn i64(&mut self) -> Option<i64> {
        self.array().map(i64::from_le_bytes)
    }
}
