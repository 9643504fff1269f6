//! Snapshot files: the state of one operator instance, split by key group and checksummed.
//!
//! A snapshot is written once, front to back, by a [`SnapshotWriter`] into any `io::Write`, and
//! read front to back by a [`SnapshotReader`] from any `io::Read`. The reader checks every
//! byte and yields the state one key group at a time, so a restore takes only the groups it
//! owns: a task of parallelism `p2` reads the groups of its range from each snapshot of the
//! `p1` tasks before it (see [`crate::key_group`]).
//!
//! # Format (version 1)
//!
//! All integers little endian. Strings are UTF-8.
//!
//! ```text
//! header  := magic "SLUICEST" | version u16 | flags u16 (0)
//!            | max_key_groups u32 | range_start u32 | range_end u32
//!            | operator_id_len u16 | operator_id | fingerprint_len u16 | fingerprint
//!            | meta_len u32 | meta | header_crc u32
//! section := tag u8 (1) | key_group u32 | entries u64 | payload_len u32 | section_crc u32
//!            | payload
//! footer  := tag u8 (0xFF) | sections u32 | entries u64 | file_crc u32 | end magic "SLUICEND"
//! ```
//!
//! - `header_crc` is the CRC32C of the header bytes before it; `section_crc` of the section's
//!   `tag .. payload_len` fields and its payload; `file_crc` of every byte of the file before
//!   it. So a flipped byte anywhere is caught — in a section before that section is yielded —
//!   and a truncated file lacks its footer.
//! - `operator_id` names the operator instance's state; `fingerprint` is a string the operator
//!   derives from everything that shapes its state (window kind and sizes, key and accumulator
//!   types), so that a restore into an operator whose state does not fit is refused with both
//!   values in the message ([`SnapshotReader::expect`]). `meta` is operator-wide state that
//!   belongs to no key (a watermark), at most [`MAX_META_LEN`] bytes.
//! - Sections come in strictly increasing key group order, each inside `[range_start,
//!   range_end)`; a group without state may have no section. The payload is `entries` values
//!   back to back, in the operator's [codec](crate::codec).
//!
//! A reader refuses a version it does not know ([`crate::StateError::UnsupportedVersion`]) and
//! reports any damage as [`crate::StateError::Corrupt`] with the snapshot's name, the section
//! and the byte offset. It never panics, and it allocates no more than the bytes actually
//! present (plus the bounded header strings).

mod reader;
mod writer;

#[cfg(test)]
mod test;

pub use reader::{Section, SnapshotReader};
pub use writer::{SnapshotSummary, SnapshotWriter};

use crate::key_group::{KeyGroupRange, KeyGroups};

/// First bytes of every snapshot.
pub const MAGIC: [u8; 8] = *b"SLUICEST";
/// Last bytes of every complete snapshot.
pub const END_MAGIC: [u8; 8] = *b"SLUICEND";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Largest operator-wide `meta` blob.
pub const MAX_META_LEN: usize = 16 << 20;

pub(crate) const SECTION_TAG: u8 = 1;
pub(crate) const FOOTER_TAG: u8 = 0xFF;
/// `tag | key_group | entries | payload_len`, covered by the section CRC.
pub(crate) const SECTION_HEAD_LEN: usize = 1 + 4 + 8 + 4;
/// `sections | entries | file_crc | end magic` after the footer tag.
pub(crate) const FOOTER_BODY_LEN: usize = 4 + 8 + 4 + 8;

/// What a snapshot is the state of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotHeader {
    /// The operator instance's state name, stable across runs (say `window-aggregate`).
    pub operator_id: String,
    /// The operator's description of its state's shape; a restore requires an equal one.
    pub fingerprint: String,
    /// The job's key groups.
    pub key_groups: KeyGroups,
    /// The key groups this instance owned.
    pub range: KeyGroupRange,
    /// Operator-wide state, in the operator's own encoding.
    pub meta: Vec<u8>,
}

impl SnapshotHeader {
    /// A header with empty `meta`.
    #[must_use]
    pub fn new(
        operator_id: impl Into<String>,
        fingerprint: impl Into<String>,
        key_groups: KeyGroups,
        range: KeyGroupRange,
    ) -> Self {
        SnapshotHeader {
            operator_id: operator_id.into(),
            fingerprint: fingerprint.into(),
            key_groups,
            range,
            meta: Vec::new(),
        }
    }

    /// Sets the operator-wide state.
    #[must_use]
    pub fn with_meta(mut self, meta: Vec<u8>) -> Self {
        self.meta = meta;
        self
    }

    /// Why this header cannot be written or read, if it cannot.
    pub(crate) fn problem(&self) -> Option<String> {
        let max = self.key_groups.max();
        if self.range.start > self.range.end || self.range.end > max {
            return Some(format!("key group range {} is not inside [0, {max})", self.range));
        }
        if self.operator_id.len() > usize::from(u16::MAX) || self.fingerprint.len() > usize::from(u16::MAX) {
            return Some("operator id or fingerprint longer than 65535 bytes".into());
        }
        if self.meta.len() > MAX_META_LEN {
            return Some(format!("meta of {} bytes exceeds {MAX_META_LEN}", self.meta.len()));
        }
        None
    }
}
