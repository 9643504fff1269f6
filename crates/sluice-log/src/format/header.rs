//! The 32-byte header at the start of every file.

use super::Cursor;

/// Length of [`FileHeader`] on disk.
pub const FILE_HEADER_LEN: usize = 32;
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;
const MAGIC: &[u8; 4] = b"SLCE";

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum FileKind {
    /// A segment of record batches (`.log`).
    Segment = 1,
    /// A sparse offset index (`.index`).
    OffsetIndex = 2,
    /// A sparse time index (`.timeindex`).
    TimeIndex = 3,
    /// A transaction's staged records (`.txn`).
    Transaction = 4,
}

impl FileKind {
    fn from_u16(v: u16) -> Option<Self> {
        Some(match v {
            1 => FileKind::Segment,
            2 => FileKind::OffsetIndex,
            3 => FileKind::TimeIndex,
            4 => FileKind::Transaction,
            _ => return None,
        })
    }
}

/// The header of every file: identifies the format version and what the file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    /// Format version the file was written with.
    pub version: u16,
    /// What the file holds.
    pub kind: FileKind,
    /// First offset the file covers (segments and indexes); 0 otherwise.
    pub base_offset: u64,
    /// Creation time, ms since the epoch; segments roll by age from it.
    pub created_ms: i64,
}

impl FileHeader {
    /// A header of the current version.
    #[must_use]
    pub fn new(kind: FileKind, base_offset: u64, created_ms: i64) -> Self {
        FileHeader { version: FORMAT_VERSION, kind, base_offset, created_ms }
    }

    /// The 32 bytes on disk.
    #[must_use]
    pub fn encode(&self) -> [u8; FILE_HEADER_LEN] {
        let mut b = [0u8; FILE_HEADER_LEN];
        b[0..4].copy_from_slice(MAGIC);
        b[4..6].copy_from_slice(&self.version.to_le_bytes());
        b[6..8].copy_from_slice(&(self.kind as u16).to_le_bytes());
        b[8..16].copy_from_slice(&self.base_offset.to_le_bytes());
        b[16..24].copy_from_slice(&self.created_ms.to_le_bytes());
        let crc = crc32c::crc32c(&b[..28]);
        b[28..32].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Parses a header.
    ///
    /// # Errors
    /// A description of what is wrong: short input, bad magic, bad checksum, unknown kind, or
    /// `Err(HeaderError::Version(v))` for a version this build does not read.
    pub fn decode(buf: &[u8]) -> Result<Self, HeaderError> {
        let mut c = Cursor::new(buf);
        let bytes = c.take(FILE_HEADER_LEN).ok_or(HeaderError::Invalid("file shorter than its header"))?;
        let mut c = Cursor::new(bytes);
        if c.take(4) != Some(MAGIC.as_slice()) {
            return Err(HeaderError::Invalid("bad magic: not a sluice file"));
        }
        let version = c.u16().ok_or(HeaderError::Invalid("short header"))?;
        let kind = c.u16().ok_or(HeaderError::Invalid("short header"))?;
        let base_offset = c.u64().ok_or(HeaderError::Invalid("short header"))?;
        let created_ms = c.i64().ok_or(HeaderError::Invalid("short header"))?;
        let _reserved = c.u32();
        let crc = c.u32().ok_or(HeaderError::Invalid("short header"))?;
        if crc != crc32c::crc32c(bytes.get(..28).unwrap_or_default()) {
            return Err(HeaderError::Invalid("header checksum mismatch"));
        }
        if version != FORMAT_VERSION {
            return Err(HeaderError::Version(version));
        }
        let kind = FileKind::from_u16(kind).ok_or(HeaderError::Invalid("unknown file kind"))?;
        Ok(FileHeader { version, kind, base_offset, created_ms })
    }
}

/// Why a header did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// Not a valid header.
    Invalid(&'static str),
    /// A valid header of a version this build does not read.
    Version(u16),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_detects_damage() {
        let h = FileHeader::new(FileKind::Segment, 42, 1_700_000_000_000);
        let mut b = h.encode();
        assert_eq!(FileHeader::decode(&b), Ok(h));
        b[9] ^= 1;
        assert_eq!(FileHeader::decode(&b), Err(HeaderError::Invalid("header checksum mismatch")));
        assert!(FileHeader::decode(&b[..10]).is_err());
    }
}
