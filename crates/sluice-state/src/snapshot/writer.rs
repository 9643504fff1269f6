//! The streaming snapshot writer.

use std::io::Write;

use super::{SnapshotHeader, END_MAGIC, FOOTER_TAG, FORMAT_VERSION, MAGIC, SECTION_HEAD_LEN, SECTION_TAG};
use crate::codec::StateCodec;
use crate::error::{Result, StateError};
use crate::key_group::KeyGroup;

/// Writes one snapshot: the header on creation, then one section per [`begin_group`], then
/// the footer on [`finish`]. See the [module docs](super) for the format.
///
/// The entries of the current key group are buffered in memory (one reused buffer) so that the
/// section can carry its length and checksum in front; everything else streams straight to the
/// underlying writer. Wrap files in a `BufWriter`.
///
/// ```
/// use sluice_state::snapshot::{SnapshotHeader, SnapshotReader, SnapshotWriter};
/// use sluice_state::{KeyGroup, KeyGroups};
///
/// let groups = KeyGroups::default();
/// let header = SnapshotHeader::new("counts", "String->u64", groups, groups.all());
/// let mut writer = SnapshotWriter::new("counts-0", Vec::new(), header)?;
/// writer.begin_group(KeyGroup(3))?;
/// writer.entry(&("/home".to_string(), 42u64))?;
/// let (bytes, summary) = writer.finish()?;
/// assert_eq!((summary.sections, summary.entries, summary.bytes), (1, 1, bytes.len() as u64));
///
/// let mut reader = SnapshotReader::open("counts-0", &bytes[..])?;
/// let section = reader.next_section()?.expect("one section");
/// assert_eq!(section.group(), KeyGroup(3));
/// let mut entries = Vec::new();
/// section.decode_entries(|e: (String, u64)| Ok(entries.push(e)))?;
/// assert_eq!(entries, [("/home".to_string(), 42)]);
/// assert!(reader.next_section()?.is_none()); // the footer checked out
/// # Ok::<(), sluice_state::StateError>(())
/// ```
///
/// [`begin_group`]: SnapshotWriter::begin_group
/// [`finish`]: SnapshotWriter::finish
pub struct SnapshotWriter<W: Write> {
    inner: W,
    name: String,
    header: SnapshotHeader,
    /// Bytes written to `inner` so far.
    offset: u64,
    /// CRC32C of every byte written to `inner`.
    file_crc: u32,
    /// The open section: its group, entry count and payload.
    open: Option<(KeyGroup, u64)>,
    payload: Vec<u8>,
    /// The last group written (sections must increase).
    last: Option<KeyGroup>,
    sections: u32,
    entries: u64,
}

/// What a finished snapshot holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotSummary {
    /// Total bytes written.
    pub bytes: u64,
    /// Key group sections.
    pub sections: u32,
    /// Entries over all sections.
    pub entries: u64,
}

impl<W: Write> SnapshotWriter<W> {
    /// Starts a snapshot named `name` (used in error messages) by writing `header` to `inner`.
    ///
    /// # Errors
    /// [`StateError::InvalidConfig`] for a header that cannot be written (range outside the key
    /// groups, over-long strings or meta); [`StateError::Io`] if writing fails.
    pub fn new(name: impl Into<String>, inner: W, header: SnapshotHeader) -> Result<Self> {
        let name = name.into();
        if let Some(problem) = header.problem() {
            return Err(StateError::InvalidConfig(format!("snapshot {name}: {problem}")));
        }
        let mut writer = SnapshotWriter {
            inner,
            name,
            header,
            offset: 0,
            file_crc: 0,
            open: None,
            payload: Vec::new(),
            last: None,
            sections: 0,
            entries: 0,
        };
        let mut bytes = Vec::with_capacity(64 + writer.header.meta.len());
        let h = &writer.header;
        bytes.extend_from_slice(&MAGIC);
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&0u16.to_le_bytes());
        bytes.extend_from_slice(&h.key_groups.max().to_le_bytes());
        bytes.extend_from_slice(&h.range.start.to_le_bytes());
        bytes.extend_from_slice(&h.range.end.to_le_bytes());
        for s in [&h.operator_id, &h.fingerprint] {
            // Lengths checked by `problem`.
            bytes.extend_from_slice(&(s.len() as u16).to_le_bytes());
            bytes.extend_from_slice(s.as_bytes());
        }
        bytes.extend_from_slice(&(h.meta.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&h.meta);
        let crc = crc32c::crc32c(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        writer.write(&bytes)?;
        Ok(writer)
    }

    /// The header being written.
    #[must_use]
    pub fn header(&self) -> &SnapshotHeader {
        &self.header
    }

    /// Closes the open section, if any, and opens the section of `group`.
    ///
    /// # Errors
    /// [`StateError::InvalidConfig`] if `group` is outside the header's range or not after the
    /// previous group; [`StateError::Io`] if writing the previous section fails.
    pub fn begin_group(&mut self, group: KeyGroup) -> Result<()> {
        self.close_section()?;
        if !self.header.range.contains(group) || self.last.is_some_and(|last| last >= group) {
            return Err(StateError::InvalidConfig(format!(
                "snapshot {}: {group} is outside {} or not after the previous group",
                self.name, self.header.range
            )));
        }
        self.open = Some((group, 0));
        self.last = Some(group);
        Ok(())
    }

    /// Appends one entry to the open section.
    ///
    /// # Errors
    /// [`StateError::InvalidConfig`] if no section is open.
    pub fn entry<T: StateCodec>(&mut self, value: &T) -> Result<()> {
        self.entry_with(|out| value.encode(out))
    }

    /// Appends one entry written by `encode` (for entries encoded from borrowed parts).
    ///
    /// # Errors
    /// [`StateError::InvalidConfig`] if no section is open.
    #[inline]
    pub fn entry_with(&mut self, encode: impl FnOnce(&mut Vec<u8>)) -> Result<()> {
        let Some((_, entries)) = self.open.as_mut() else {
            return Err(StateError::InvalidConfig(format!(
                "snapshot {}: entry written before begin_group",
                self.name
            )));
        };
        *entries += 1;
        encode(&mut self.payload);
        Ok(())
    }

    /// Writes the whole section of `group` at once: `entries` values already encoded back to
    /// back in `payload` (for state encoded by group in one pass, then written in group order).
    /// Closes the open section first; the section stays closed. The bytes are those
    /// [`begin_group`](Self::begin_group) and `entries` calls would write.
    ///
    /// # Errors
    /// As [`begin_group`](Self::begin_group); [`StateError::InvalidConfig`] for a payload over
    /// 4 GiB; [`StateError::Io`] if writing fails.
    pub fn section(&mut self, group: KeyGroup, entries: u64, payload: &[u8]) -> Result<()> {
        self.begin_group(group)?;
        self.open = None;
        self.write_section(group, entries, payload)
    }

    /// Closes the open section and writes the footer; returns the writer and a summary. The
    /// caller flushes and syncs the writer.
    ///
    /// # Errors
    /// [`StateError::Io`] if writing fails.
    pub fn finish(mut self) -> Result<(W, SnapshotSummary)> {
        self.close_section()?;
        let mut footer = Vec::with_capacity(1 + super::FOOTER_BODY_LEN);
        footer.push(FOOTER_TAG);
        footer.extend_from_slice(&self.sections.to_le_bytes());
        footer.extend_from_slice(&self.entries.to_le_bytes());
        self.write(&footer)?;
        let crc = self.file_crc.to_le_bytes();
        self.write(&crc)?;
        self.write(&END_MAGIC)?;
        let summary = SnapshotSummary { bytes: self.offset, sections: self.sections, entries: self.entries };
        Ok((self.inner, summary))
    }

    fn close_section(&mut self) -> Result<()> {
        let Some((group, entries)) = self.open.take() else { return Ok(()) };
        let payload = std::mem::take(&mut self.payload);
        let written = self.write_section(group, entries, &payload);
        self.payload = payload;
        self.payload.clear();
        written
    }

    fn write_section(&mut self, group: KeyGroup, entries: u64, payload: &[u8]) -> Result<()> {
        let len = u32::try_from(payload.len()).map_err(|_| {
            StateError::InvalidConfig(format!(
                "snapshot {}: {group} holds {} bytes, more than a section's 4 GiB",
                self.name,
                payload.len()
            ))
        })?;
        let mut head = [0u8; SECTION_HEAD_LEN + 4];
        head[0] = SECTION_TAG;
        head[1..5].copy_from_slice(&group.0.to_le_bytes());
        head[5..13].copy_from_slice(&entries.to_le_bytes());
        head[13..17].copy_from_slice(&len.to_le_bytes());
        let crc = crc32c::crc32c_append(crc32c::crc32c(&head[..SECTION_HEAD_LEN]), payload);
        head[17..21].copy_from_slice(&crc.to_le_bytes());
        self.write(&head)?;
        self.write(payload)?;
        self.sections += 1;
        self.entries += entries;
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.inner
            .write_all(bytes)
            .map_err(|source| StateError::Io { snapshot: self.name.clone(), source })?;
        self.file_crc = crc32c::crc32c_append(self.file_crc, bytes);
        self.offset += bytes.len() as u64;
        Ok(())
    }
}
