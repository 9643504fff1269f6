//! Malformed JSON records are rejected with their position; their neighbours still decode.

use std::sync::Arc;

use sluice_format::{JsonDecoder, Position};
use sluice_types::PartitionId;

use crate::support::{file_lines, ints, page_views, rejected_at, strings, timestamps};

#[test]
fn malformed_records_in_the_middle_are_rejected_and_neighbours_decode() {
    let lines = [
        r#"{"ts":1000,"user_id":1,"url":"/a","referrer":null}"#,
        r#"{"ts":2000,"user_id":2,"url":"/b""#, // truncated
        r#"{"ts":3000,"user_id":3,"url":"/c"}"#,
        r#"not json at all"#,
        r#"{"ts":5000,"user_id":"five","url":"/e"}"#, // wrong type
        r#"{"ts":6000,"user_id":6,"url":"/f"}"#,
        r#"{"user_id":7,"url":"/g"}"#, // no event time
        r#"{"ts":8000,"user_id":8,"url":"/h"}"#,
    ];
    let mut decoder = JsonDecoder::new(page_views()).unwrap();
    let decoded = decoder.decode(file_lines("views.jsonl", &lines)).unwrap();

    assert_eq!(rejected_at(&decoded), ["views.jsonl:2", "views.jsonl:4", "views.jsonl:5", "views.jsonl:7"]);
    assert_eq!(ints(&decoded.batch, "user_id"), [Some(1), Some(3), Some(6), Some(8)]);
    assert_eq!(timestamps(&decoded.batch, "ts"), [Some(1000), Some(3000), Some(6000), Some(8000)]);
    for (rejected, line) in decoded.rejected.iter().zip([2, 4, 5, 7]) {
        assert_eq!(rejected.raw, lines[line - 1].as_bytes());
    }
    assert!(decoded.rejected[2].error.contains("field `user_id`"), "{}", decoded.rejected[2].error);
}

#[test]
fn a_large_batch_with_scattered_bad_records_keeps_every_good_one() {
    let lines: Vec<String> = (0..5000)
        .map(|i| match i % 997 {
            13 => "{".to_string(),
            14 => format!(r#"{{"ts":{i},"user_id":"x{i}"}}"#),
            15 => format!(r#"{{"user_id":{i}}}"#),
            _ => format!(r#"{{"ts":{i},"user_id":{i}}}"#),
        })
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let mut decoder = JsonDecoder::new(page_views()).unwrap();
    let decoded = decoder.decode(file_lines("big.jsonl", &refs)).unwrap();

    let bad: Vec<usize> = (0..5000).filter(|i| (13..=15).contains(&(i % 997))).collect();
    let expected_rejects: Vec<String> = bad.iter().map(|i| format!("big.jsonl:{}", i + 1)).collect();
    assert_eq!(rejected_at(&decoded), expected_rejects);
    let good: Vec<Option<i64>> = (0..5000).filter(|i| !bad.contains(i)).map(|i| Some(i as i64)).collect();
    assert_eq!(ints(&decoded.batch, "user_id"), good);
    assert_eq!(decoded.batch.num_rows() + decoded.rejected.len(), 5000);
}

#[test]
fn missing_or_null_not_null_field_is_rejected_not_nulled() {
    let lines = [
        r#"{"ts":1,"url":"/a"}"#,
        r#"{"url":"/missing"}"#,
        r#"{"ts":null,"url":"/null"}"#,
        r#"{"ts":4,"user_id":null}"#, // a nullable field may be null or absent
    ];
    let mut decoder = JsonDecoder::new(page_views()).unwrap();
    let decoded = decoder.decode(file_lines("f", &lines)).unwrap();
    assert_eq!(rejected_at(&decoded), ["f:2", "f:3"]);
    assert_eq!(decoded.rejected[0].error, "required field `ts` is missing or null");
    assert_eq!(strings(&decoded.batch, "url"), [Some("/a".into()), None]);
    assert_eq!(ints(&decoded.batch, "user_id"), [None, None]);
    assert!(!decoded.batch.schema().field(0).is_nullable(), "the declared schema is kept");
}

#[test]
fn wrong_types_are_rejected_naming_the_field() {
    let cases = [
        (r#"{"ts":1,"user_id":"abc"}"#, "field `user_id`"),
        (r#"{"ts":1,"user_id":true}"#, "field `user_id`"),
        (r#"{"ts":1,"user_id":{"a":1}}"#, "field `user_id`"),
        (r#"{"ts":"yesterday"}"#, "field `ts`"),
        (r#"{"ts":1,"url":[1,2]}"#, "field `url`"),
        (r#"[1,2,3]"#, "expected {"),
    ];
    let mut decoder = JsonDecoder::new(page_views()).unwrap();
    for (line, expected) in cases {
        let decoded = decoder.decode(file_lines("f", &[line])).unwrap();
        assert_eq!(decoded.batch.num_rows(), 0, "{line}");
        assert!(decoded.rejected[0].error.contains(expected), "{line}: {}", decoded.rejected[0].error);
    }
}

#[test]
fn log_positions_are_reported_as_topic_partition_offset() {
    let mut decoder = JsonDecoder::new(page_views()).unwrap();
    let topic: Arc<str> = "page_views".into();
    let values: [&[u8]; 3] = [br#"{"ts":1}"#, b"\xff\xfe", br#"{"ts":3}"#];
    let records = values.iter().enumerate().map(|(i, v)| {
        (Position::Log { topic: Arc::clone(&topic), partition: PartitionId(2), offset: 40 + i as u64 }, *v)
    });
    let decoded = decoder.decode(records).unwrap();
    assert_eq!(rejected_at(&decoded), ["page_views/2@41"]);
    assert_eq!(decoded.batch.num_rows(), 2);
}

#[test]
fn blank_records_are_skipped_and_crlf_is_tolerated() {
    let lines = ["", "{\"ts\":1}\r", "   ", "{\"ts\":2}\n"];
    let mut decoder = JsonDecoder::new(page_views()).unwrap();
    let decoded = decoder.decode(file_lines("f", &lines)).unwrap();
    assert!(decoded.rejected.is_empty());
    assert_eq!(timestamps(&decoded.batch, "ts"), [Some(1), Some(2)]);
}

#[test]
fn unknown_fields_are_ignored() {
    let mut decoder = JsonDecoder::new(page_views()).unwrap();
    let decoded =
        decoder.decode(file_lines("f", &[r#"{"ts":1,"extra":{"deep":[1,2]},"user_id":9}"#])).unwrap();
    assert!(decoded.rejected.is_empty());
    assert_eq!(ints(&decoded.batch, "user_id"), [Some(9)]);
}

/// A line that decodes (`Ok(user_id)`) or is malformed in one of several ways (`Err`).
fn any_line() -> impl proptest::strategy::Strategy<Value = (String, Option<i64>)> {
    use proptest::prelude::*;
    prop_oneof![
        6 => any::<i64>().prop_map(|i| (format!(r#"{{"ts":{i},"user_id":{i}}}"#), Some(i))),
        1 => Just((r#"{"ts":1,"user_id":"#.to_string(), None)),
        1 => Just((r#"{"user_id":1}"#.to_string(), None)),
        1 => Just((r#"{"ts":1,"user_id":"x"}"#.to_string(), None)),
        1 => Just(("[]".to_string(), None)),
        1 => Just((r#"{"ts":1}{"ts":2}"#.to_string(), None)),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Over several calls of random sizes, in whatever mode each call starts (whole batch, or
    /// isolation after a call that rejected), the rows are exactly the good lines in order and
    /// the rejects exactly the bad ones.
    #[test]
    fn rows_and_rejects_partition_the_input(
        calls in proptest::collection::vec(proptest::collection::vec(any_line(), 0..600), 1..5)
    ) {
        let mut decoder = JsonDecoder::new(page_views()).unwrap();
        let mut line = 0;
        for call in calls {
            let refs: Vec<&str> = call.iter().map(|(l, _)| l.as_str()).collect();
            let records: Vec<(Position, &[u8])> = refs
                .iter()
                .enumerate()
                .map(|(i, l)| (Position::Stdin { line: line + i as u64 + 1 }, l.as_bytes()))
                .collect();
            let decoded = decoder.decode(records).unwrap();
            let good: Vec<Option<i64>> = call.iter().filter_map(|(_, v)| v.map(Some)).collect();
            let bad: Vec<String> = call
                .iter()
                .enumerate()
                .filter(|(_, (_, v))| v.is_none())
                .map(|(i, _)| format!("stdin:{}", line + i as u64 + 1))
                .collect();
            proptest::prop_assert_eq!(ints(&decoded.batch, "user_id"), good);
            proptest::prop_assert_eq!(rejected_at(&decoded), bad);
            line += call.len() as u64;
        }
    }
}
