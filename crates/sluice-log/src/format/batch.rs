//! Record batches: the unit the log writes, checksums, indexes and reads.

use bytes::Bytes;
use sluice_types::{Header, Record, StoredRecord};

use super::frame::{begin_frame, end_frame, FRAME_OVERHEAD};
use super::Cursor;

/// Bytes of a batch before its first record, frame overhead included.
pub const BATCH_HEADER_LEN: usize = FRAME_OVERHEAD + 2 + 4 + 8 + 8 + 8;

/// Bytes of the smallest record: timestamp, key length, value length, header count.
const MIN_RECORD_LEN: usize = 8 + 4 + 4 + 2;

/// The fixed fields of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Total bytes of the batch on disk (frame included).
    pub len: usize,
    /// Number of records.
    pub count: u32,
    /// Offset of the first record; the others follow densely.
    pub base_offset: u64,
    /// Smallest record timestamp.
    pub min_ts: i64,
    /// Largest record timestamp.
    pub max_ts: i64,
}

impl BatchHeader {
    /// The offset after the batch's last record.
    #[must_use]
    pub fn next_offset(&self) -> u64 {
        self.base_offset + u64::from(self.count)
    }

    /// Reads the fixed fields of a batch whose frame was already checked.
    ///
    /// # Errors
    /// The frame is too short to hold a batch header.
    pub fn parse(frame: &[u8]) -> Result<Self, &'static str> {
        let mut c = Cursor::new(frame);
        let body = c.u32().ok_or("short batch")?;
        let _crc = c.u32().ok_or("short batch")?;
        let _attributes = c.u16().ok_or("short batch")?;
        let count = c.u32().ok_or("short batch")?;
        let base_offset = c.u64().ok_or("short batch")?;
        let min_ts = c.i64().ok_or("short batch")?;
        let max_ts = c.i64().ok_or("short batch")?;
        if count == 0 {
            return Err("empty batch");
        }
        if base_offset.checked_add(u64::from(count)).is_none() {
            return Err("batch offsets overflow");
        }
        Ok(BatchHeader { len: body as usize + 4, count, base_offset, min_ts, max_ts })
    }
}

/// Appends one frame holding `records` with offsets from `base_offset` to `out`.
///
/// Returns the batch's header, or `None` if the batch would exceed 4 GiB or `records` is empty.
pub fn encode_batch(base_offset: u64, records: &[Record], out: &mut Vec<u8>) -> Option<BatchHeader> {
    let count = u32::try_from(records.len()).ok().filter(|&c| c > 0)?;
    let min_ts = records.iter().map(|r| r.timestamp).min()?;
    let max_ts = records.iter().map(|r| r.timestamp).max()?;
    let start = begin_frame(out);
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&base_offset.to_le_bytes());
    out.extend_from_slice(&min_ts.to_le_bytes());
    out.extend_from_slice(&max_ts.to_le_bytes());
    for r in records {
        encode_record(r, out)?;
    }
    end_frame(out, start)?;
    Some(BatchHeader { len: out.len() - start, count, base_offset, min_ts, max_ts })
}

/// Encoded size of one record inside a batch.
#[must_use]
pub fn record_size(r: &Record) -> usize {
    8 + 4
        + r.key.as_ref().map_or(0, Bytes::len)
        + 4
        + r.value.len()
        + 2
        + r.headers
            .iter()
            .map(|h| 2 + h.key.len() + 4 + h.value.as_ref().map_or(0, Bytes::len))
            .sum::<usize>()
}

fn encode_record(r: &Record, out: &mut Vec<u8>) -> Option<()> {
    out.extend_from_slice(&r.timestamp.to_le_bytes());
    match &r.key {
        Some(k) => {
            out.extend_from_slice(&i32::try_from(k.len()).ok()?.to_le_bytes());
            out.extend_from_slice(k);
        }
        None => out.extend_from_slice(&(-1i32).to_le_bytes()),
    }
    out.extend_from_slice(&u32::try_from(r.value.len()).ok()?.to_le_bytes());
    out.extend_from_slice(&r.value);
    out.extend_from_slice(&u16::try_from(r.headers.len()).ok()?.to_le_bytes());
    for h in &r.headers {
        out.extend_from_slice(&u16::try_from(h.key.len()).ok()?.to_le_bytes());
        out.extend_from_slice(h.key.as_bytes());
        match &h.value {
            Some(v) => {
                out.extend_from_slice(&i32::try_from(v.len()).ok()?.to_le_bytes());
                out.extend_from_slice(v);
            }
            None => out.extend_from_slice(&(-1i32).to_le_bytes()),
        }
    }
    Some(())
}

/// Decodes the records of a checked batch frame, appending them to `out`. Keys, values and
/// header values are zero-copy slices of `frame`.
///
/// # Errors
/// A description of the first inconsistency (lengths past the end, count mismatch, trailing
/// bytes, a non-UTF-8 header name). `out` may then hold some of the batch's records.
pub fn decode_batch(frame: &Bytes, out: &mut Vec<StoredRecord>) -> Result<BatchHeader, &'static str> {
    let header = BatchHeader::parse(frame)?;
    if header.len != frame.len() {
        return Err("batch length does not match its frame");
    }
    let mut c = Cursor::new(frame);
    c.take(BATCH_HEADER_LEN).ok_or("short batch")?;
    // The count is not trusted for the allocation: every record takes at least
    // MIN_RECORD_LEN bytes, so the frame bounds how many there can be.
    out.reserve((header.count as usize).min(c.remaining() / MIN_RECORD_LEN));
    for i in 0..u64::from(header.count) {
        let record = decode_record(frame, &mut c)?;
        if record.timestamp < header.min_ts || record.timestamp > header.max_ts {
            return Err("record timestamp outside the batch's range");
        }
        out.push(StoredRecord { offset: header.base_offset + i, record });
    }
    if c.remaining() != 0 {
        return Err("trailing bytes after the last record");
    }
    Ok(header)
}

fn slice(frame: &Bytes, c: &mut Cursor<'_>, len: usize) -> Result<Bytes, &'static str> {
    let start = c.position();
    c.take(len).ok_or("length runs past the end of the batch")?;
    Ok(frame.slice(start..start + len))
}

fn decode_record(frame: &Bytes, c: &mut Cursor<'_>) -> Result<Record, &'static str> {
    const SHORT: &str = "record runs past the end of the batch";
    let timestamp = c.i64().ok_or(SHORT)?;
    let key = match c.i32().ok_or(SHORT)? {
        -1 => None,
        n => Some(slice(frame, c, usize::try_from(n).map_err(|_| "negative key length")?)?),
    };
    let value_len = c.u32().ok_or(SHORT)? as usize;
    let value = slice(frame, c, value_len)?;
    let header_count = c.u16().ok_or(SHORT)?;
    let mut headers = Vec::with_capacity(usize::from(header_count).min(c.remaining() / 6));
    for _ in 0..header_count {
        let klen = usize::from(c.u16().ok_or(SHORT)?);
        let key = std::str::from_utf8(c.take(klen).ok_or(SHORT)?)
            .map_err(|_| "header name is not UTF-8")?
            .to_owned();
        let value = match c.i32().ok_or(SHORT)? {
            -1 => None,
            n => Some(slice(frame, c, usize::try_from(n).map_err(|_| "negative header length")?)?),
        };
        headers.push(Header { key, value });
    }
    Ok(Record { key, value, timestamp, headers })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{check_frame, FrameCheck};
    use proptest::prelude::*;

    fn arb_record() -> impl Strategy<Value = Record> {
        (
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
            proptest::collection::vec(any::<u8>(), 0..200),
            any::<i64>(),
            proptest::collection::vec(
                ("[a-z]{0,8}", proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8))),
                0..3,
            ),
        )
            .prop_map(|(k, v, ts, hs)| Record {
                key: k.map(Bytes::from),
                value: Bytes::from(v),
                timestamp: ts,
                headers: hs
                    .into_iter()
                    .map(|(key, value)| Header { key, value: value.map(Bytes::from) })
                    .collect(),
            })
    }

    #[test]
    fn a_huge_record_count_is_an_error_not_a_huge_allocation() {
        let mut buf = Vec::new();
        encode_batch(0, &[Record::new("v", 1)], &mut buf).unwrap();
        // The count field follows len, crc and attributes. Decoding must not reserve room for
        // four billion records (an allocation failure aborts the process).
        buf[10..14].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_batch(&Bytes::from(buf), &mut Vec::new()).is_err());
    }

    #[test]
    fn offsets_past_u64_max_are_an_error_not_an_overflow() {
        let mut buf = Vec::new();
        encode_batch(u64::MAX - 1, &[Record::new("a", 1), Record::new("b", 2)], &mut buf).unwrap();
        assert_eq!(BatchHeader::parse(&buf), Err("batch offsets overflow"));
        assert!(decode_batch(&Bytes::from(buf), &mut Vec::new()).is_err());
    }

    proptest! {
        #[test]
        fn batches_round_trip(base in 0u64..1 << 40, records in proptest::collection::vec(arb_record(), 1..20)) {
            let mut buf = Vec::new();
            let h = encode_batch(base, &records, &mut buf).unwrap();
            prop_assert_eq!(h.len, buf.len());
            prop_assert_eq!(h.len, BATCH_HEADER_LEN + records.iter().map(record_size).sum::<usize>());
            prop_assert_eq!(check_frame(&buf, usize::MAX), FrameCheck::Complete { len: buf.len() });
            let mut out = Vec::new();
            let h2 = decode_batch(&Bytes::from(buf), &mut out).unwrap();
            prop_assert_eq!(h, h2);
            for (i, (got, want)) in out.iter().zip(&records).enumerate() {
                prop_assert_eq!(got.offset, base + i as u64);
                prop_assert_eq!(&got.record, want);
            }
            prop_assert_eq!(out.len(), records.len());
        }

        #[test]
        fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let b = Bytes::from(bytes);
            let _ = decode_batch(&b, &mut Vec::new());
        }
    }
}
