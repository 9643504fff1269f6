//! Recovery on arbitrary segment bodies: the input becomes the body of the active segment of a
//! one-partition topic (after a valid file header), and the log is opened and read back. Opening
//! may fail with an error (corruption) but must never panic, and whatever it accepts must read
//! back without panicking.
//!
//! Random bytes rarely carry a valid CRC32C, so when the first input byte is odd the rest is
//! first walked as frames (`len u32 | crc u32 | payload`) and each frame's checksum is fixed up:
//! that lets the fuzzer reach the batch parser, offset continuity checks and the record decoder.
//!
//! Run: `cargo +nightly fuzz run segment_recovery` from `fuzz/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_log::format::{FileHeader, FileKind};
use sluice_log::{Durability, Log, LogOptions, TopicConfig};
use sluice_types::Record;

/// Rewrites the checksum of every frame the body's length fields describe.
fn fix_checksums(body: &mut [u8]) {
    let mut pos = 0;
    while pos + 8 <= body.len() {
        let len = u32::from_le_bytes([body[pos], body[pos + 1], body[pos + 2], body[pos + 3]]) as usize;
        let end = pos + 4 + len;
        if len < 4 || end > body.len() {
            break;
        }
        let crc = crc32c::crc32c(&body[pos + 8..end]);
        body[pos + 4..pos + 8].copy_from_slice(&crc.to_le_bytes());
        pos = end;
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let mut body = rest.to_vec();
    if mode & 1 == 1 {
        fix_checksums(&mut body);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let options = LogOptions::default().durability(Durability::Os);
    {
        let log = Log::open(dir.path(), options.clone()).expect("fresh log");
        let mut cfg = TopicConfig::new(1).segment_bytes(1 << 20);
        cfg.index_interval_bytes = 64;
        log.create_topic("t", cfg).expect("topic");
    }
    let seg = dir.path().join("topics/t/0/00000000000000000000.log");
    let mut file = FileHeader::new(FileKind::Segment, 0, 0).encode().to_vec();
    file.extend_from_slice(&body);
    std::fs::write(&seg, &file).expect("write segment");

    // Read-only first (no truncation), then as the writer (truncates a torn tail).
    for read_only in [true, false] {
        let Ok(log) = Log::open(dir.path(), options.clone().read_only(read_only)) else { continue };
        let Ok(topic) = log.topic("t") else { continue };
        let p = &topic.partitions()[0];
        let end = p.end_offset();
        let mut from = p.log_start_offset();
        while from < end {
            match p.read(from, 1 << 16) {
                Ok(records) if !records.is_empty() => from = records[records.len() - 1].offset + 1,
                _ => break,
            }
        }
        let _ = p.offset_for_timestamp(0);
        if !read_only {
            // A recovered partition accepts appends and reads them back.
            let info = p.append(&[Record::new("after recovery", 1)]).expect("append after recovery");
            let got = p.read(info.base_offset, 1).expect("read the append back");
            assert_eq!(got.first().map(|r| r.offset), Some(info.base_offset));
        }
    }
});
