//! CSV: bad rows rejected with file:line positions, header by name, delimiters.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema};
use sluice_format::{CsvDecoder, FormatError};

use crate::support::{file_lines, ints, page_views, rejected_at, strings, timestamps};

#[test]
fn a_bad_row_is_rejected_with_its_line_and_neighbours_decode() {
    let lines = [
        "1000,1,/a,",
        "2000,two,/b,", // wrong type
        "3000,3,/c,https://x",
        "4000,4,/d",        // too few fields
        "5000,5,/e,,extra", // too many fields
        ",6,/f,",           // no event time
        "7000,7,\"/g,quoted\",",
        "8000,8,\"/h", // unterminated quote
        "9000,9,/i,",
    ];
    let mut decoder = CsvDecoder::new(page_views()).unwrap();
    let decoded = decoder.decode(file_lines("views.csv", &lines)).unwrap();

    assert_eq!(
        rejected_at(&decoded),
        ["views.csv:2", "views.csv:4", "views.csv:5", "views.csv:6", "views.csv:8"]
    );
    assert_eq!(ints(&decoded.batch, "user_id"), [Some(1), Some(3), Some(7), Some(9)]);
    assert_eq!(
        strings(&decoded.batch, "url"),
        [Some("/a".into()), Some("/c".into()), Some("/g,quoted".into()), Some("/i".into())]
    );
    let errors: Vec<&str> = decoded.rejected.iter().map(|r| r.error.as_str()).collect();
    assert_eq!(errors[0], "field `user_id`: cannot parse 'two' as type 'Int64'");
    assert_eq!(errors[1], "incorrect number of fields: expected 4 got 3");
    assert_eq!(errors[3], "required field `ts` is missing or null");
    assert_eq!(errors[4], "unterminated quoted field");
    assert_eq!(decoded.rejected[0].raw, b"2000,two,/b,");
}

#[test]
fn header_maps_columns_by_name_in_any_order() {
    let lines = ["url;ignored;ts;user_id", "/a;x;1;10", "/b;y;2;", "/c;z;3;oops"];
    let mut decoder = CsvDecoder::new(page_views()).unwrap().header(true).delimiter(b';');
    let decoded = decoder.decode(file_lines("h.csv", &lines)).unwrap();
    assert_eq!(rejected_at(&decoded), ["h.csv:4"]);
    assert!(decoded.rejected[0].error.starts_with("field `user_id`"), "{}", decoded.rejected[0].error);
    assert_eq!(timestamps(&decoded.batch, "ts"), [Some(1), Some(2)]);
    assert_eq!(ints(&decoded.batch, "user_id"), [Some(10), None]);
    assert_eq!(strings(&decoded.batch, "referrer"), [None, None], "a column the file lacks is null");

    // Later calls continue the same file: no second header.
    let decoded = decoder.decode(file_lines("h.csv", &["/d;w;4;40"])).unwrap();
    assert_eq!(ints(&decoded.batch, "user_id"), [Some(40)]);
}

#[test]
fn header_without_a_not_null_column_is_an_error() {
    let mut decoder = CsvDecoder::new(page_views()).unwrap().header(true);
    let err = decoder.decode(file_lines("h.csv", &["user_id,url", "1,/a"])).unwrap_err();
    assert!(matches!(err, FormatError::Header { .. }));
    assert_eq!(err.to_string(), "h.csv:1: CSV header: no column `ts`, which the schema declares NOT NULL");
}

#[test]
fn header_after_blank_lines_and_a_call_with_only_blanks() {
    let mut decoder = CsvDecoder::new(page_views()).unwrap().header(true);
    let decoded = decoder.decode(file_lines("h.csv", &["", " "])).unwrap();
    assert_eq!(decoded.batch.num_rows(), 0);
    let decoded = decoder.decode(file_lines("h.csv", &["", "ts", "5"])).unwrap();
    assert_eq!(timestamps(&decoded.batch, "ts"), [Some(5)]);
}

#[test]
fn tab_delimited_without_header() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("score", DataType::Float64, true),
        Field::new("ok", DataType::Boolean, true),
    ]));
    let mut decoder = CsvDecoder::new(schema).unwrap().delimiter(b'\t');
    let decoded =
        decoder.decode(file_lines("t.tsv", &["ann\t1.5\ttrue", "bob\t\tfalse", "\t2\ttrue"])).unwrap();
    assert_eq!(strings(&decoded.batch, "name"), [Some("ann".into()), Some("bob".into())]);
    assert_eq!(rejected_at(&decoded), ["t.tsv:3"], "an empty field is null, and name is NOT NULL");
}
