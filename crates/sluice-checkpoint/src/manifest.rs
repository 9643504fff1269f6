//! The manifest: the last object of a checkpoint, and the proof that it is complete.
//!
//! # Format (version 1)
//!
//! ```text
//! manifest := magic "SLUICECK" | version u16 | body_len u32 | body | crc u32
//! body     := checkpoint_id u64 | job String | created_at_ms u64 | parallelism u32
//!             | max_key_groups u32 | sources | sinks | files
//! sources  := map source → [(position key String, position bytes Vec<u8>)]
//! sinks    := map sink → [pending transaction id String]
//! files    := [(file name String, size u64, crc32c u32)]
//! ```
//!
//! Integers are little endian; the body is in the [state codec](sluice_state::codec) (strings
//! and vectors length-prefixed, maps sorted by key with no key twice). `crc` is the CRC32C of
//! every byte before it, so a flipped byte anywhere, a truncation or trailing bytes are caught.

use std::collections::BTreeMap;

use sluice_state::codec::{Decoder, StateCodec};

use crate::error::{CheckpointError, Result};

/// First bytes of every manifest.
pub const MANIFEST_MAGIC: [u8; 8] = *b"SLUICECK";
/// The manifest version this build writes and reads.
pub const MANIFEST_VERSION: u16 = 1;
/// `magic | version | body_len`.
const HEAD_LEN: usize = 8 + 2 + 4;

/// One state file of a checkpoint, as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateFile {
    /// File name inside the checkpoint (`<operator>-<task>.snap`).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// CRC32C of the whole file.
    pub crc32c: u32,
}

/// What the engine records in a checkpoint besides state files: the job's shape, where each
/// source stands and which sink transactions are pending.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointInfo {
    /// Tasks per keyed operator when the checkpoint was taken.
    pub parallelism: u32,
    /// The job's number of key groups (fixed for its lifetime).
    pub max_key_groups: u32,
    /// Per source, its positions: opaque keys and values the source defines (log partition →
    /// offset, file → byte position).
    pub sources: BTreeMap<String, Vec<(String, Vec<u8>)>>,
    /// Per sink, the transactions it prepared for this checkpoint, to commit once it completes.
    pub sinks: BTreeMap<String, Vec<String>>,
}

/// A complete checkpoint's description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The checkpoint id (increasing over a job's life).
    pub checkpoint_id: u64,
    /// The job's name.
    pub job: String,
    /// Milliseconds since the Unix epoch when the checkpoint was committed.
    pub created_at_ms: u64,
    /// What the engine recorded.
    pub info: CheckpointInfo,
    /// Every state file, in the order they were written.
    pub files: Vec<StateFile>,
}

impl Manifest {
    /// The state file called `name`, if the checkpoint has one.
    #[must_use]
    pub fn file(&self, name: &str) -> Option<&StateFile> {
        self.files.iter().find(|f| f.name == name)
    }

    /// Total bytes of state.
    #[must_use]
    pub fn state_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// The manifest's bytes.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        self.checkpoint_id.encode(&mut body);
        self.job.encode(&mut body);
        self.created_at_ms.encode(&mut body);
        self.info.parallelism.encode(&mut body);
        self.info.max_key_groups.encode(&mut body);
        self.info.sources.encode(&mut body);
        self.info.sinks.encode(&mut body);
        let files: Vec<(String, u64, u32)> =
            self.files.iter().map(|f| (f.name.clone(), f.size, f.crc32c)).collect();
        files.encode(&mut body);

        let mut out = Vec::with_capacity(HEAD_LEN + body.len() + 4);
        out.extend_from_slice(&MANIFEST_MAGIC);
        out.extend_from_slice(&MANIFEST_VERSION.to_le_bytes());
        // A manifest over 4 GiB would need billions of files; the length saturates and the
        // reader then refuses it rather than misreading it.
        out.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(&body);
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Reads a manifest, checking magic, version, length and checksum. `path` names it in
    /// errors.
    ///
    /// # Errors
    /// [`CheckpointError::Corrupt`] or [`CheckpointError::UnsupportedVersion`].
    pub fn decode(bytes: &[u8], path: &str) -> Result<Manifest> {
        let corrupt = |reason: String| CheckpointError::Corrupt { path: path.to_owned(), reason };
        let short = || corrupt(format!("{} bytes is shorter than a manifest header", bytes.len()));
        let (magic, rest) = bytes.split_first_chunk::<8>().ok_or_else(short)?;
        if *magic != MANIFEST_MAGIC {
            return Err(corrupt(format!("bad magic {magic:02x?}")));
        }
        let (version, rest) = rest.split_first_chunk::<2>().ok_or_else(short)?;
        let version = u16::from_le_bytes(*version);
        if version != MANIFEST_VERSION {
            return Err(CheckpointError::UnsupportedVersion {
                path: path.to_owned(),
                found: version,
                supported: MANIFEST_VERSION,
            });
        }
        let (len, rest) = rest.split_first_chunk::<4>().ok_or_else(short)?;
        let body_len = u32::from_le_bytes(*len) as usize;
        if rest.len() != body_len.saturating_add(4) {
            return Err(corrupt(format!(
                "body of {body_len} bytes and a checksum need {} bytes after the header, found {}",
                body_len.saturating_add(4),
                rest.len()
            )));
        }
        let (checked, crc) = bytes.split_at(HEAD_LEN + body_len);
        let crc: [u8; 4] = crc.try_into().map_err(|_| short())?;
        let (stored, computed) = (u32::from_le_bytes(crc), crc32c::crc32c(checked));
        if stored != computed {
            return Err(corrupt(format!("checksum {stored:#010x} but the bytes give {computed:#010x}")));
        }
        let body = checked.get(HEAD_LEN..).unwrap_or_default();
        decode_body(body).map_err(|e| corrupt(e.to_string()))
    }
}

fn decode_body(body: &[u8]) -> Result<Manifest, sluice_state::CodecError> {
    let mut input = Decoder::new(body);
    let checkpoint_id = u64::decode(&mut input)?;
    let job = String::decode(&mut input)?;
    let created_at_ms = u64::decode(&mut input)?;
    let parallelism = u32::decode(&mut input)?;
    let max_key_groups = u32::decode(&mut input)?;
    let sources = BTreeMap::decode(&mut input)?;
    let sinks = BTreeMap::decode(&mut input)?;
    let files = Vec::<(String, u64, u32)>::decode(&mut input)?
        .into_iter()
        .map(|(name, size, crc32c)| StateFile { name, size, crc32c })
        .collect();
    if input.remaining() != 0 {
        return Err(sluice_state::CodecError {
            what: "manifest",
            offset: body.len() - input.remaining(),
            reason: format!("{} bytes after the last field", input.remaining()),
        });
    }
    let info = CheckpointInfo { parallelism, max_key_groups, sources, sinks };
    Ok(Manifest { checkpoint_id, job, created_at_ms, info, files })
}

#[cfg(test)]
mod test {
    use super::*;

    fn sample() -> Manifest {
        let mut info = CheckpointInfo { parallelism: 4, max_key_groups: 128, ..CheckpointInfo::default() };
        info.sources.insert("pageviews".into(), vec![("0".into(), 42u64.to_le_bytes().to_vec())]);
        info.sinks.insert("out".into(), vec!["txn-7".into()]);
        let files = vec![StateFile { name: "agg-0.snap".into(), size: 1234, crc32c: 0xdead_beef }];
        Manifest { checkpoint_id: 7, job: "pv".into(), created_at_ms: 1_700_000_000_000, info, files }
    }

    #[test]
    fn round_trips() {
        let m = sample();
        assert_eq!(Manifest::decode(&m.encode(), "m").unwrap(), m);
    }

    #[test]
    fn every_flipped_byte_and_every_truncation_is_caught() {
        let bytes = sample().encode();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert!(Manifest::decode(&bad, "m").is_err(), "flip at {i} accepted");
            assert!(Manifest::decode(&bytes[..i], "m").is_err(), "truncation at {i} accepted");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Manifest::decode(&longer, "m").is_err());
    }

    #[test]
    fn a_newer_version_is_refused_by_number() {
        let mut bytes = sample().encode();
        bytes[8] = 2;
        let err = Manifest::decode(&bytes, "job/chk-7/_manifest").unwrap_err();
        assert!(err.to_string().contains("version 2"), "{err}");
    }
}
