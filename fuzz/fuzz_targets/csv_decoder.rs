//! `sluice_format::CsvDecoder` on arbitrary bytes split into lines: it must return rows and
//! rejects (or a header error) for any input, never panic, and account for every non-blank
//! line exactly once.
//!
//! The first input byte picks the delimiter (`,` `;` tab `|`), whether the first line is a
//! header, and whether the lines are decoded in one call or in calls of a few lines.
//!
//! Run: `cargo +nightly fuzz run csv_decoder corpus/csv_decoder seeds/csv_decoder` from `fuzz/`.
#![no_main]

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use libfuzzer_sys::fuzz_target;
use sluice_format::{CsvDecoder, FormatError, Position};

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
        Field::new("user_id", DataType::Int64, true),
        Field::new("url", DataType::Utf8, true),
        Field::new("score", DataType::Float64, true),
        Field::new("ok", DataType::Boolean, true),
    ]))
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, text)) = data.split_first() else { return };
    let delimiter = [b',', b';', b'\t', b'|'][usize::from(pick & 3)];
    let header = pick & 4 != 0;
    let lines: Vec<(Position, &[u8])> = text
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, l)| (Position::Stdin { line: i as u64 + 1 }, l))
        .collect();
    let call_size = if pick & 8 == 0 { lines.len().max(1) } else { usize::from(pick >> 4) + 1 };

    let mut decoder =
        CsvDecoder::new(schema()).expect("supported schema").header(header).delimiter(delimiter);
    let mut header_pending = header;
    for call in lines.chunks(call_size) {
        let decoded = match decoder.decode(call.iter().cloned()) {
            Ok(decoded) => decoded,
            Err(FormatError::Header { .. }) if header_pending => return,
            Err(e) => panic!("unexpected error: {e}"),
        };
        assert_eq!(decoded.batch.schema(), schema());
        let mut non_blank = call.iter().filter(|(_, l)| !is_blank(l)).count();
        if header_pending && non_blank > 0 {
            non_blank -= 1;
            header_pending = false;
        }
        assert_eq!(decoded.batch.num_rows() + decoded.rejected.len(), non_blank);
        for rejected in &decoded.rejected {
            assert!(call.iter().any(|(p, l)| *p == rejected.position && *l == rejected.raw.as_slice()));
        }
    }
});
