//! The bytes a source stores per partition in a checkpoint, and reads back on restore.
//!
//! The runtime keeps positions as opaque bytes, so each carries its own format:
//!
//! ```text
//! log  := VERSION u8 = 1 | KIND u8 = 'L' | next u64 | has_stop u8 (0 or 1) | stop u64
//! file := VERSION u8 = 1 | KIND u8 = 'F' | offset u64 | line u64 | name_len u32 | name (UTF-8)
//! kafka := VERSION u8 = 1 | KIND u8 = 'K' | next u64 | has_stop u8 (0 or 1) | stop u64
//! ```
//!
//! A Kafka partition's position has the log's layout: the next Kafka offset to read and the
//! fixed end of a bounded read.
//!
//! Integers are little endian. `next` is the next log offset to read, `stop` the fixed end of a
//! bounded read (0 when `has_stop` is 0). `offset` is the byte just after the last line a file
//! reader returned, `line` that line's number (1-based; 0 before any line), `name` the file's
//! name (not its directory), so that a restored directory source finds each file by name.
//!
//! Decoding checks the version, the kind and the exact length: a damaged position, one from a
//! newer build or from another kind of source is an error saying which, never a panic.

use sluice_dataflow::Result;
use sluice_types::Offset;

use crate::error;

/// The format version written in every position.
const VERSION: u8 = 1;
const LOG: u8 = b'L';
const FILE: u8 = b'F';
const KAFKA: u8 = b'K';

/// Where a log partition's reading stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LogPosition {
    /// The next offset to read.
    pub(crate) next: Offset,
    /// Where a bounded read ends, fixed at the first start.
    pub(crate) stop: Option<Offset>,
}

/// Where a file's reading stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FilePosition {
    /// Bytes consumed: just after the last line returned.
    pub(crate) offset: u64,
    /// Lines consumed (the number of the last line returned).
    pub(crate) line: u64,
    /// The file's name, without its directory.
    pub(crate) name: String,
}

impl LogPosition {
    pub(crate) fn encode(&self) -> Vec<u8> {
        self.encode_as(LOG)
    }

    /// The same position, as a Kafka source's.
    #[cfg(feature = "kafka")]
    pub(crate) fn encode_kafka(&self) -> Vec<u8> {
        self.encode_as(KAFKA)
    }

    fn encode_as(&self, kind: u8) -> Vec<u8> {
        let mut out = Vec::with_capacity(19);
        out.extend([VERSION, kind]);
        out.extend(self.next.to_le_bytes());
        out.push(u8::from(self.stop.is_some()));
        out.extend(self.stop.unwrap_or(0).to_le_bytes());
        out
    }

    /// Decodes the position of partition `partition` of `source` (both for the error message).
    pub(crate) fn decode(bytes: &[u8], source: &str, partition: usize) -> Result<LogPosition> {
        Self::decode_as(bytes, source, partition, LOG)
    }

    /// Decodes a Kafka source's position (see [`decode`](Self::decode)).
    #[cfg(feature = "kafka")]
    pub(crate) fn decode_kafka(bytes: &[u8], source: &str, partition: usize) -> Result<LogPosition> {
        Self::decode_as(bytes, source, partition, KAFKA)
    }

    fn decode_as(bytes: &[u8], source: &str, partition: usize, kind: u8) -> Result<LogPosition> {
        let mut r = Reader::new(bytes, source, partition, kind)?;
        let next = r.u64()?;
        let stop = match r.u8()? {
            0 => {
                r.u64()?;
                None
            }
            1 => Some(r.u64()?),
            other => return Err(r.damaged(&format!("stop flag {other}"))),
        };
        r.end()?;
        Ok(LogPosition { next, stop })
    }
}

impl FilePosition {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(22 + self.name.len());
        out.extend([VERSION, FILE]);
        out.extend(self.offset.to_le_bytes());
        out.extend(self.line.to_le_bytes());
        out.extend(u32::try_from(self.name.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend(self.name.as_bytes());
        out
    }

    /// Decodes the position of partition `partition` of `source` (both for the error message).
    pub(crate) fn decode(bytes: &[u8], source: &str, partition: usize) -> Result<FilePosition> {
        let mut r = Reader::new(bytes, source, partition, FILE)?;
        let offset = r.u64()?;
        let line = r.u64()?;
        let len = usize::try_from(r.u32()?).unwrap_or(usize::MAX);
        let name = r.take(len)?;
        let name = String::from_utf8(name.to_vec()).map_err(|_| r.damaged("file name is not UTF-8"))?;
        r.end()?;
        Ok(FilePosition { offset, line, name })
    }
}

/// Reads a position's fields, turning every shortfall into an error naming the partition.
struct Reader<'a> {
    rest: &'a [u8],
    source: &'a str,
    partition: usize,
}

impl<'a> Reader<'a> {
    /// Checks the version and the kind.
    fn new(bytes: &'a [u8], source: &'a str, partition: usize, kind: u8) -> Result<Reader<'a>> {
        let mut r = Reader { rest: bytes, source, partition };
        let version = r.u8()?;
        if version != VERSION {
            return Err(r.damaged(&format!("format version {version}, this build reads version {VERSION}")));
        }
        let found = r.u8()?;
        if found != kind {
            let what = |k: u8| match k {
                LOG => "a log source",
                FILE => "a file source",
                KAFKA => "a Kafka source",
                _ => "an unknown source",
            };
            return Err(r.damaged(&format!("it was written by {}, not {}", what(found), what(kind))));
        }
        Ok(r)
    }

    fn damaged(&self, why: &str) -> sluice_dataflow::DataflowError {
        error::user(format!(
            "{}: the checkpoint's position of partition {} cannot be used: {why}",
            self.source, self.partition
        ))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.rest.len() < n {
            return Err(self.damaged("it is truncated"));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?.first().copied().unwrap_or(0))
    }

    fn u32(&mut self) -> Result<u32> {
        let mut b = [0; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self) -> Result<u64> {
        let mut b = [0; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }

    fn end(&self) -> Result<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.damaged(&format!("{} unexpected trailing bytes", self.rest.len())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip() {
        for p in [LogPosition { next: 0, stop: None }, LogPosition { next: 7, stop: Some(u64::MAX) }] {
            assert_eq!(LogPosition::decode(&p.encode(), "t", 0).expect("decode"), p);
        }
        let f = FilePosition { offset: 1 << 40, line: 12, name: "päge.jsonl".into() };
        assert_eq!(FilePosition::decode(&f.encode(), "f", 3).expect("decode"), f);
    }

    #[test]
    fn damaged_positions_are_errors_naming_the_partition() {
        let log = LogPosition { next: 5, stop: Some(9) }.encode();
        let file = FilePosition { offset: 5, line: 1, name: "a".into() }.encode();
        let mut newer = log.clone();
        newer[0] = 2;
        let mut flag = log.clone();
        flag[10] = 7;
        let mut long = log.clone();
        long.push(0);
        let cases: [(&[u8], &str); 6] = [
            (&[], "truncated"),
            (&log[..9], "truncated"),
            (&newer, "version 2"),
            (&flag, "stop flag 7"),
            (&long, "trailing"),
            (&file, "file source, not a log source"),
        ];
        for (bytes, why) in cases {
            let err = LogPosition::decode(bytes, "log source `t`", 4).expect_err("damaged");
            let msg = err.to_string();
            assert!(msg.contains("partition 4") && msg.contains(why), "{msg}");
        }
        let kafka = LogPosition { next: 5, stop: None }.encode_as(KAFKA);
        let err = LogPosition::decode(&kafka, "log source `t`", 0).expect_err("another kind");
        assert!(err.to_string().contains("a Kafka source, not a log source"), "{err}");
        let err = FilePosition::decode(&file[..file.len() - 1], "f", 0).expect_err("damaged");
        assert!(err.to_string().contains("truncated"), "{err}");
    }
}
