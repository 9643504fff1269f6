//! TIMESTAMP(3) decoding from every accepted form, in JSON and CSV, and the encoder's format.

use std::sync::Arc;

use arrow_array::{RecordBatch, TimestampMillisecondArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use sluice_format::{CsvDecoder, JsonDecoder, JsonEncoder};

use crate::support::{file_lines, timestamps};

/// 2026-01-01T00:00:00.123Z.
const T: i64 = 1_767_225_600_123;

fn schema(tz: Option<&str>) -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "ts",
        DataType::Timestamp(TimeUnit::Millisecond, tz.map(Into::into)),
        false,
    )]))
}

/// Every accepted form, as JSON values, with the instant it means.
const ACCEPTED: &[(&str, i64)] = &[
    ("1767225600123", T),
    ("1767225600123.9", T),
    ("-1", -1),
    ("\"2026-01-01T00:00:00.123Z\"", T),
    ("\"2026-01-01T02:00:00.123+02:00\"", T),
    ("\"2025-12-31T19:00:00.123-05:00\"", T),
    ("\"2026-01-01 00:00:00.123\"", T),
    ("\"2026-01-01T00:00:00.123\"", T),
    ("\"2026-01-01 00:00:00.1239\"", T),
    ("\"2026-01-01 00:00:00\"", T - 123),
    ("\"2026-01-01 00:00:00.5\"", T - 123 + 500),
    ("\"2026-01-01\"", T - 123),
    ("\"1969-12-31 23:59:59.999\"", -1),
    ("\"2026-01-01 00:00:00.123Z\"", T),
];

#[test]
fn json_accepts_epoch_millis_rfc3339_and_sql_strings() {
    for tz in [None, Some("UTC")] {
        let mut decoder = JsonDecoder::new(schema(tz)).unwrap();
        let lines: Vec<String> = ACCEPTED.iter().map(|(v, _)| format!(r#"{{"ts":{v}}}"#)).collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let decoded = decoder.decode(file_lines("f", &refs)).unwrap();
        assert!(decoded.rejected.is_empty(), "{tz:?}: {:?}", decoded.rejected);
        let expected: Vec<Option<i64>> = ACCEPTED.iter().map(|(_, t)| Some(*t)).collect();
        assert_eq!(timestamps(&decoded.batch, "ts"), expected, "{tz:?}");
        assert_eq!(decoded.batch.schema(), schema(tz), "the declared zone is kept");
    }
}

#[test]
fn json_rejects_other_timestamp_values() {
    let cases = [r#""yesterday""#, r#""2026-13-01 00:00:00""#, r#""1767225600123""#, "true", "[1]", r#""""#];
    let mut decoder = JsonDecoder::new(schema(None)).unwrap();
    for value in cases {
        let line = format!(r#"{{"ts":{value}}}"#);
        let decoded = decoder.decode(file_lines("f", &[&line])).unwrap();
        assert_eq!(decoded.rejected.len(), 1, "{value} was accepted");
        assert!(decoded.rejected[0].error.contains("field `ts`"), "{value}: {}", decoded.rejected[0].error);
    }
}

#[test]
fn csv_accepts_the_same_forms() {
    for tz in [None, Some("UTC")] {
        let mut decoder = CsvDecoder::new(schema(tz)).unwrap();
        // Fractional epoch milliseconds are JSON-only (Arrow truncates JSON floats).
        let forms: Vec<&(&str, i64)> =
            ACCEPTED.iter().filter(|(v, _)| v.starts_with('"') || !v.contains('.')).collect();
        let refs: Vec<&str> = forms.iter().map(|(v, _)| *v).collect();
        let decoded = decoder.decode(file_lines("f.csv", &refs)).unwrap();
        assert!(decoded.rejected.is_empty(), "{tz:?}: {:?}", decoded.rejected);
        let expected: Vec<Option<i64>> = forms.iter().map(|(_, t)| Some(*t)).collect();
        assert_eq!(timestamps(&decoded.batch, "ts"), expected, "{tz:?}");
        assert_eq!(decoded.batch.schema(), schema(tz));
    }
}

#[test]
fn csv_rejects_bad_timestamps_naming_the_field() {
    let mut decoder = CsvDecoder::new(schema(None)).unwrap();
    let decoded = decoder.decode(file_lines("f.csv", &["1", "yesterday", "3", "1.5"])).unwrap();
    assert_eq!(timestamps(&decoded.batch, "ts"), [Some(1), Some(3)]);
    assert_eq!(decoded.rejected.len(), 2);
    assert_eq!(decoded.rejected[0].position.to_string(), "f.csv:2");
    assert!(
        decoded.rejected[0].error.starts_with("field `ts`: cannot parse 'yesterday'"),
        "{}",
        decoded.rejected[0].error
    );
}

#[test]
fn encoder_writes_sql_format_in_utc_for_both_zone_spellings() {
    for tz in [None, Some("UTC")] {
        let column = TimestampMillisecondArray::from(vec![T, -1, 0]).with_timezone_opt(tz);
        let batch = RecordBatch::try_new(schema(tz), vec![Arc::new(column)]).unwrap();
        let mut out = Vec::new();
        JsonEncoder::new().encode(&batch, &mut out).unwrap();
        let expected = "{\"ts\":\"2026-01-01 00:00:00.123\"}\n{\"ts\":\"1969-12-31 23:59:59.999\"}\n{\"ts\":\"1970-01-01 00:00:00.000\"}\n";
        assert_eq!(String::from_utf8(out).unwrap(), expected, "{tz:?}");
    }
}
