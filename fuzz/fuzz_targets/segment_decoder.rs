//! The segment decoders on arbitrary bytes: `check_frame`, `decode_batch` and
//! `FileHeader::decode` must return a value or an error for any input, never panic, and never
//! allocate in proportion to a length or count field they have not checked.
//!
//! Run: `cargo +nightly fuzz run segment_decoder` from `fuzz/`.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sluice_log::format::{check_frame, decode_batch, FileHeader, FrameCheck, FILE_HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let _ = FileHeader::decode(data);
    if let Some(header) = data.get(..FILE_HEADER_LEN) {
        if let Ok(h) = FileHeader::decode(header) {
            // A header that decodes re-encodes to the same bytes.
            assert_eq!(&h.encode()[..], header);
        }
    }

    let bytes = Bytes::copy_from_slice(data);
    // The decoder straight on the input: it does not rely on the checksum for its safety.
    let mut out = Vec::new();
    if let Ok(h) = decode_batch(&bytes, &mut out) {
        assert_eq!(out.len() as u64, u64::from(h.count));
        assert_eq!(h.len, data.len());
    }

    // And the way the log reads a segment body: check each frame, decode the complete ones.
    let mut pos = 0;
    while pos < data.len() {
        match check_frame(&data[pos..], u32::MAX as usize) {
            FrameCheck::Complete { len } => {
                assert!(len >= 8 && pos + len <= data.len());
                let _ = decode_batch(&bytes.slice(pos..pos + len), &mut Vec::new());
                pos += len;
            }
            FrameCheck::Incomplete { .. } | FrameCheck::Corrupt { .. } => break,
        }
    }
});
