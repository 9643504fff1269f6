//! The JSON encoder: nulls, floats, escaping, row offsets and buffer reuse.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, RecordBatchOptions, StringArray,
};
use arrow_schema::{DataType, Field, Schema};
use sluice_format::JsonEncoder;

fn batch() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("i", DataType::Int64, true),
        Field::new("f", DataType::Float64, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("b", DataType::Boolean, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![Some(i64::MIN), None, Some(7)])),
        Arc::new(Float64Array::from(vec![Some(0.1), Some(f64::NAN), Some(1e300)])),
        Arc::new(StringArray::from(vec![Some("quote \" backslash \\ newline \n é"), Some(""), None])),
        Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
    ];
    RecordBatch::try_new(schema, columns).unwrap()
}

#[test]
fn writes_one_object_per_line_with_explicit_nulls() {
    let mut out = Vec::new();
    JsonEncoder::new().encode(&batch(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1], r#"{"i":null,"f":null,"s":"","b":null}"#, "NaN has no JSON form: null");
    let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(first["s"], "quote \" backslash \\ newline \n é");
    assert_eq!(first["i"], i64::MIN);
    assert_eq!(first["f"], 0.1);
    let third: serde_json::Value = serde_json::from_str(lines[2]).unwrap();
    assert_eq!(third["f"], 1e300);
    assert!(third["s"].is_null());
}

#[test]
fn appends_so_a_cleared_buffer_is_reused() {
    let encoder = JsonEncoder::new();
    let mut out = b"previous".to_vec();
    encoder.encode(&batch(), &mut out).unwrap();
    assert!(out.starts_with(b"previous{"));
    out.clear();
    let capacity = out.capacity();
    encoder.encode(&batch(), &mut out).unwrap();
    assert_eq!(out.capacity(), capacity, "no reallocation for a batch of the same size");
}

#[test]
fn encode_rows_gives_each_rows_end() {
    let mut out = Vec::new();
    let mut ends = Vec::new();
    JsonEncoder::new().encode_rows(&batch(), &mut out, &mut ends).unwrap();
    assert_eq!(ends.len(), 3);
    let mut start = 0;
    for end in ends {
        let row: serde_json::Value = serde_json::from_slice(&out[start..end]).unwrap();
        assert!(row.is_object());
        start = end;
    }
    assert_eq!(start, out.len());
    assert!(!out.contains(&b'\n'));
}

#[test]
fn batches_without_columns_write_empty_objects() {
    let schema = Arc::new(Schema::empty());
    let options = RecordBatchOptions::new().with_row_count(Some(2));
    let batch = RecordBatch::try_new_with_options(schema, vec![], &options).unwrap();
    let mut out = Vec::new();
    JsonEncoder::new().encode(&batch, &mut out).unwrap();
    assert_eq!(out, b"{}\n{}\n");
}
