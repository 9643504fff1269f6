//! Strict mode: the first malformed record fails the call, naming its position and field.

use sluice_format::{CsvDecoder, FormatError, JsonDecoder};
use sluice_types::{ErrorKind, Retry};

use crate::support::{file_lines, page_views};

#[test]
fn json_strict_fails_on_the_first_malformed_record() {
    let lines = [r#"{"ts":1}"#, r#"{"ts":2,"user_id":"x"}"#, r#"{"user_id":3}"#];
    let mut decoder = JsonDecoder::new(page_views()).unwrap().strict(true);
    let err = decoder.decode(file_lines("s.jsonl", &lines)).unwrap_err();
    assert!(matches!(err, FormatError::Malformed { .. }));
    assert_eq!(
        err.to_string(),
        r#"s.jsonl:2: malformed record: field `user_id`: failed to parse "x" as Int64"#
    );
    assert_eq!(err.kind(), ErrorKind::User);
    assert_eq!(err.retry(), Retry::No);
}

#[test]
fn strict_reports_a_missing_field_that_comes_first() {
    // The NOT NULL check runs after the parse errors are found; the earliest record still wins.
    let lines = [r#"{"user_id":1}"#, r#"{"ts":"bad"}"#];
    let mut decoder = JsonDecoder::new(page_views()).unwrap().strict(true);
    let err = decoder.decode(file_lines("s.jsonl", &lines)).unwrap_err();
    assert_eq!(err.to_string(), "s.jsonl:1: malformed record: required field `ts` is missing or null");
}

#[test]
fn strict_passes_clean_input_through() {
    let mut decoder = JsonDecoder::new(page_views()).unwrap().strict(true);
    let decoded = decoder.decode(file_lines("s.jsonl", &[r#"{"ts":1}"#, r#"{"ts":2}"#])).unwrap();
    assert_eq!(decoded.batch.num_rows(), 2);
}

#[test]
fn csv_strict_fails_on_the_first_bad_row() {
    let mut decoder = CsvDecoder::new(page_views()).unwrap().strict(true);
    let err = decoder.decode(file_lines("s.csv", &["1,1,/a,", "2,2"])).unwrap_err();
    assert_eq!(err.to_string(), "s.csv:2: malformed record: incorrect number of fields: expected 4 got 2");
}
