//! `sluice_format::JsonDecoder` on arbitrary bytes split into lines: it must return rows and
//! rejects for any input, never panic, and account for every non-blank line exactly once.
//!
//! The first input byte picks the schema (page views, or one column of each type with a UTC
//! timestamp) and whether the lines are decoded in one call or in calls of a few lines, so the
//! decoder's isolation mode carries across calls.
//!
//! Run: `cargo +nightly fuzz run json_decoder corpus/json_decoder seeds/json_decoder` from `fuzz/`.
#![no_main]

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use libfuzzer_sys::fuzz_target;
use sluice_format::{JsonDecoder, Position};

fn schema(pick: u8) -> SchemaRef {
    let fields = if pick & 1 == 0 {
        vec![
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
            Field::new("user_id", DataType::Int64, true),
            Field::new("url", DataType::Utf8, true),
            Field::new("referrer", DataType::Utf8, true),
        ]
    } else {
        vec![
            Field::new("t", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), true),
            Field::new("i", DataType::Int64, false),
            Field::new("f", DataType::Float64, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("b", DataType::Boolean, true),
        ]
    };
    Arc::new(Schema::new(fields))
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, text)) = data.split_first() else { return };
    let schema = schema(pick);
    let lines: Vec<(Position, &[u8])> = text
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, l)| (Position::Stdin { line: i as u64 + 1 }, l))
        .collect();
    let call_size = if pick & 2 == 0 { lines.len().max(1) } else { usize::from(pick >> 2) + 1 };

    let mut decoder = JsonDecoder::new(Arc::clone(&schema)).expect("supported schema");
    for call in lines.chunks(call_size) {
        let decoded = decoder.decode(call.iter().cloned()).expect("only strict mode fails");
        assert_eq!(decoded.batch.schema(), schema);
        let non_blank = call.iter().filter(|(_, l)| !is_blank(l)).count();
        assert_eq!(decoded.batch.num_rows() + decoded.rejected.len(), non_blank);
        for rejected in &decoded.rejected {
            assert!(call.iter().any(|(p, l)| *p == rejected.position && *l == rejected.raw.as_slice()));
        }
        // Strict mode agrees: it fails exactly when something was rejected, on the first one.
        let strict =
            JsonDecoder::new(Arc::clone(&schema)).expect("schema").strict(true).decode(call.iter().cloned());
        match (strict, decoded.rejected.first()) {
            (Ok(d), None) => assert_eq!(d.batch, decoded.batch),
            (Err(sluice_format::FormatError::Malformed { position, .. }), Some(first)) => {
                assert_eq!(position, first.position)
            }
            (other, first) => panic!("strict {other:?} vs first rejected {first:?}"),
        }
    }
});
