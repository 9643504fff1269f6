//! The validating snapshot reader.

use std::io::{ErrorKind as IoErrorKind, Read};

use super::{
    SnapshotHeader, END_MAGIC, FOOTER_BODY_LEN, FOOTER_TAG, FORMAT_VERSION, MAGIC, MAX_META_LEN,
    SECTION_HEAD_LEN, SECTION_TAG,
};
use crate::codec::{Decoder, StateCodec};
use crate::error::{Result, StateError};
use crate::key_group::{KeyGroup, KeyGroupRange, KeyGroups};

/// Reads one snapshot front to back, checking every checksum; see the [module docs](super).
///
/// [`open`](Self::open) reads and checks the header; [`next_section`](Self::next_section)
/// yields the key group sections in order (each checked before it is yielded) and, after the
/// last one, checks the footer — the whole-file checksum, the section and entry counts, and
/// that nothing follows — and returns `None`. A restore must treat its state as valid only
/// after that `None`: a truncated snapshot shows up there. Wrap files in a `BufReader`.
pub struct SnapshotReader<R: Read> {
    inner: R,
    name: String,
    header: SnapshotHeader,
    /// Bytes consumed so far.
    offset: u64,
    /// CRC32C of every byte consumed.
    file_crc: u32,
    /// The payload of the last section, reused.
    payload: Vec<u8>,
    last: Option<KeyGroup>,
    sections: u32,
    entries: u64,
    done: bool,
}

/// One key group's section, checked: its group, entry count and payload.
#[derive(Debug)]
pub struct Section<'a> {
    snapshot: &'a str,
    group: KeyGroup,
    entries: u64,
    /// Offset of the payload in the snapshot.
    offset: u64,
    payload: &'a [u8],
}

impl<R: Read> SnapshotReader<R> {
    /// Reads and checks the header of the snapshot `name` (used in error messages).
    ///
    /// # Errors
    /// [`StateError::Corrupt`] for a damaged or truncated header, [`StateError::UnsupportedVersion`]
    /// for another format version, [`StateError::Io`] if reading fails.
    pub fn open(name: impl Into<String>, inner: R) -> Result<Self> {
        let placeholder = SnapshotHeader::new("", "", KeyGroups::default(), KeyGroupRange::new(0, 0));
        let mut reader = SnapshotReader {
            inner,
            name: name.into(),
            header: placeholder,
            offset: 0,
            file_crc: 0,
            payload: Vec::new(),
            last: None,
            sections: 0,
            entries: 0,
            done: false,
        };
        let magic: [u8; 8] = reader.array("header")?;
        if magic != MAGIC {
            return Err(reader.corrupt(
                "header",
                0,
                format!("bad magic {magic:02x?}, not a sluice snapshot"),
            ));
        }
        let version = u16::from_le_bytes(reader.array("header")?);
        if version != FORMAT_VERSION {
            return Err(StateError::UnsupportedVersion {
                snapshot: reader.name,
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let flags = u16::from_le_bytes(reader.array("header")?);
        let max = u32::from_le_bytes(reader.array("header")?);
        let start = u32::from_le_bytes(reader.array("header")?);
        let end = u32::from_le_bytes(reader.array("header")?);
        let operator_id = reader.header_string()?;
        let fingerprint = reader.header_string()?;
        let meta_len = u32::from_le_bytes(reader.array("header")?) as usize;
        if meta_len > MAX_META_LEN {
            let at = reader.offset - 4;
            return Err(reader.corrupt(
                "header",
                at,
                format!("meta length {meta_len} exceeds {MAX_META_LEN}"),
            ));
        }
        let meta = reader.bytes(meta_len, "header")?;
        let expected = reader.file_crc;
        let crc = u32::from_le_bytes(reader.array("header")?);
        if crc != expected {
            let at = reader.offset - 4;
            return Err(reader.corrupt(
                "header",
                at,
                format!("checksum {crc:08x} != computed {expected:08x}"),
            ));
        }
        if flags != 0 {
            return Err(reader.corrupt("header", 10, format!("unknown flags {flags:#06x}")));
        }
        let key_groups = KeyGroups::new(max).map_err(|e| reader.corrupt("header", 12, e.to_string()))?;
        reader.header = SnapshotHeader {
            operator_id,
            fingerprint,
            key_groups,
            range: KeyGroupRange::new(start, end),
            meta,
        };
        if let Some(problem) = reader.header.problem() {
            return Err(reader.corrupt("header", 16, problem));
        }
        Ok(reader)
    }

    /// The snapshot's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The checked header.
    #[must_use]
    pub fn header(&self) -> &SnapshotHeader {
        &self.header
    }

    /// Checks that the snapshot is state of `operator_id` with `fingerprint` over `key_groups`.
    ///
    /// # Errors
    /// [`StateError::Incompatible`] naming what differs, with both values.
    pub fn expect(&self, operator_id: &str, fingerprint: &str, key_groups: KeyGroups) -> Result<()> {
        let h = &self.header;
        let reason = if h.operator_id != operator_id {
            format!("it is the state of operator {:?}", h.operator_id)
        } else if h.fingerprint != fingerprint {
            format!("its state schema is {:?}, the operator's is {:?}", h.fingerprint, fingerprint)
        } else if h.key_groups != key_groups {
            format!(
                "it has {} key groups, the job {} (the number of key groups cannot change)",
                h.key_groups.max(),
                key_groups.max()
            )
        } else {
            return Ok(());
        };
        Err(StateError::Incompatible { snapshot: self.name.clone(), operator: operator_id.into(), reason })
    }

    /// The next key group section, checked; `None` after the footer has been checked.
    ///
    /// # Errors
    /// [`StateError::Corrupt`] naming the section and offset for any damage or truncation,
    /// [`StateError::Io`] if reading fails.
    pub fn next_section(&mut self) -> Result<Option<Section<'_>>> {
        if self.done {
            return Ok(None);
        }
        let at = self.offset;
        let [tag] = self.array::<1>("section")?;
        if tag == FOOTER_TAG {
            self.footer(at)?;
            return Ok(None);
        }
        if tag != SECTION_TAG {
            return Err(self.corrupt("section", at, format!("unknown tag {tag:#04x}")));
        }
        let head: [u8; SECTION_HEAD_LEN - 1] = self.array("section")?;
        let group = KeyGroup(u32::from_le_bytes(word(&head, 0)));
        let entries = u64::from_le_bytes(word(&head, 4));
        let len = u32::from_le_bytes(word(&head, 12)) as usize;
        let what = group.to_string();
        let crc = u32::from_le_bytes(self.array(&what)?);
        let payload_at = self.offset;
        let mut payload = std::mem::take(&mut self.payload);
        payload.clear();
        let read = self.read_into(&mut payload, len, &what);
        self.payload = payload;
        read?;
        // The section CRC covers its head and payload: recompute it from the head bytes.
        let mut head_bytes = [0u8; SECTION_HEAD_LEN];
        head_bytes[0] = tag;
        head_bytes[1..].copy_from_slice(&head);
        let expected = crc32c::crc32c_append(crc32c::crc32c(&head_bytes), &self.payload);
        if crc != expected {
            return Err(self.corrupt(&what, at, format!("checksum {crc:08x} != computed {expected:08x}")));
        }
        if !self.header.range.contains(group) || self.last.is_some_and(|last| last >= group) {
            let range = self.header.range;
            return Err(self.corrupt(&what, at, format!("outside {range} or not after the previous group")));
        }
        if entries > self.payload.len() as u64 {
            return Err(self.corrupt(&what, at, format!("{entries} entries in {len} bytes")));
        }
        self.last = Some(group);
        self.sections += 1;
        self.entries += entries;
        Ok(Some(Section { snapshot: &self.name, group, entries, offset: payload_at, payload: &self.payload }))
    }

    /// Reads and checks every remaining section and the footer.
    ///
    /// # Errors
    /// As [`next_section`](Self::next_section).
    pub fn skip_to_end(&mut self) -> Result<()> {
        while self.next_section()?.is_some() {}
        Ok(())
    }

    fn footer(&mut self, at: u64) -> Result<()> {
        let body: [u8; FOOTER_BODY_LEN - 12] = self.array("footer")?;
        let expected_crc = self.file_crc;
        let tail: [u8; 12] = self.array("footer")?;
        let sections = u32::from_le_bytes(word(&body, 0));
        let entries = u64::from_le_bytes(word(&body, 4));
        let crc = u32::from_le_bytes(word(&tail, 0));
        if crc != expected_crc {
            return Err(self.corrupt(
                "footer",
                at,
                format!("file checksum {crc:08x} != computed {expected_crc:08x}"),
            ));
        }
        if word::<8>(&tail, 4) != END_MAGIC {
            return Err(self.corrupt("footer", at, "bad end magic".into()));
        }
        if (sections, entries) != (self.sections, self.entries) {
            return Err(self.corrupt(
                "footer",
                at,
                format!(
                    "counts {sections} sections / {entries} entries, read {} / {}",
                    self.sections, self.entries
                ),
            ));
        }
        let mut extra = [0u8; 1];
        match self.inner.read(&mut extra) {
            Ok(0) => {}
            Ok(_) => return Err(self.corrupt("footer", self.offset, "bytes after the end".into())),
            Err(source) => return Err(StateError::Io { snapshot: self.name.clone(), source }),
        }
        self.done = true;
        Ok(())
    }

    fn header_string(&mut self) -> Result<String> {
        let len = u16::from_le_bytes(self.array("header")?);
        let at = self.offset;
        let bytes = self.bytes(usize::from(len), "header")?;
        String::from_utf8(bytes).map_err(|e| self.corrupt("header", at, format!("name is not UTF-8: {e}")))
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        let at = self.offset;
        match self.inner.read_exact(&mut out) {
            Ok(()) => {}
            Err(e) if e.kind() == IoErrorKind::UnexpectedEof => {
                return Err(self.corrupt(what, at, format!("truncated: {N} bytes expected")));
            }
            Err(source) => return Err(StateError::Io { snapshot: self.name.clone(), source }),
        }
        self.consumed(&out);
        Ok(out)
    }

    fn bytes(&mut self, len: usize, what: &str) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.read_into(&mut out, len, what)?;
        Ok(out)
    }

    /// Reads exactly `len` bytes into `out`, growing it only as bytes arrive.
    fn read_into(&mut self, out: &mut Vec<u8>, len: usize, what: &str) -> Result<()> {
        let at = self.offset;
        let read = (&mut self.inner)
            .take(len as u64)
            .read_to_end(out)
            .map_err(|source| StateError::Io { snapshot: self.name.clone(), source })?;
        if read < len {
            return Err(self.corrupt(what, at, format!("truncated: {len} bytes expected, {read} present")));
        }
        self.file_crc = crc32c::crc32c_append(self.file_crc, out);
        self.offset += len as u64;
        Ok(())
    }

    fn consumed(&mut self, bytes: &[u8]) {
        self.file_crc = crc32c::crc32c_append(self.file_crc, bytes);
        self.offset += bytes.len() as u64;
    }

    fn corrupt(&self, section: &str, offset: u64, reason: String) -> StateError {
        StateError::Corrupt { snapshot: self.name.clone(), section: section.into(), offset, reason }
    }
}

/// `N` bytes of `bytes` from `at` (zeros past the end; callers pass in-bounds positions).
fn word<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = bytes.get(at..at + N) {
        out.copy_from_slice(src);
    }
    out
}

impl<'a> Section<'a> {
    /// The key group.
    #[must_use]
    pub fn group(&self) -> KeyGroup {
        self.group
    }

    /// Number of entries.
    #[must_use]
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// The raw payload.
    #[must_use]
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// Decodes the section's entries as `T`s and hands each to `f`, in order.
    ///
    /// # Errors
    /// [`StateError::Corrupt`] naming the snapshot, group and byte offset if an entry does not
    /// decode or bytes are left over; any error `f` returns.
    pub fn decode_entries<T: StateCodec>(&self, mut f: impl FnMut(T) -> Result<()>) -> Result<()> {
        let mut input = Decoder::new(self.payload);
        for _ in 0..self.entries {
            let value = T::decode(&mut input).map_err(|e| self.error(e.offset, e.to_string()))?;
            f(value)?;
        }
        if !input.is_empty() {
            let reason = format!("{} bytes after the last entry", input.remaining());
            return Err(self.error(input.position(), reason));
        }
        Ok(())
    }

    /// A [`StateError::Corrupt`] at byte `pos` of the payload, for callers that find an entry
    /// impossible (a key in the wrong group, a duplicate).
    #[must_use]
    pub fn error(&self, pos: usize, reason: String) -> StateError {
        StateError::Corrupt {
            snapshot: self.snapshot.into(),
            section: self.group.to_string(),
            offset: self.offset + pos as u64,
            reason,
        }
    }
}
