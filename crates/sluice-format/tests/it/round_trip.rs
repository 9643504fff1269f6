//! Random rows → JSON lines → decoded batch → the same rows.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use proptest::prelude::*;
use sluice_format::{JsonDecoder, JsonEncoder, Position};

/// 0001-01-01 .. 9999-12-31, the years a `YYYY` field can hold.
const MIN_MS: i64 = -62_135_596_800_000;
const MAX_MS: i64 = 253_402_300_799_999;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
        Field::new("at", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), true),
        Field::new("id", DataType::Int64, false),
        Field::new("score", DataType::Float64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("ok", DataType::Boolean, true),
    ]))
}

type Row = (i64, Option<i64>, i64, Option<f64>, Option<String>, Option<bool>);

fn row() -> impl Strategy<Value = Row> {
    let float = prop_oneof![any::<f64>().prop_filter("finite", |f| f.is_finite()), -1e6..1e6f64];
    (
        MIN_MS..=MAX_MS,
        proptest::option::of(MIN_MS..=MAX_MS),
        any::<i64>(),
        proptest::option::of(float),
        proptest::option::of(any::<String>()),
        proptest::option::of(any::<bool>()),
    )
}

fn to_batch(rows: &[Row]) -> RecordBatch {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampMillisecondArray::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
        Arc::new(
            TimestampMillisecondArray::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())
                .with_timezone("UTC"),
        ),
        Arc::new(Int64Array::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())),
        Arc::new(Float64Array::from(rows.iter().map(|r| r.3).collect::<Vec<_>>())),
        Arc::new(StringArray::from(rows.iter().map(|r| r.4.clone()).collect::<Vec<_>>())),
        Arc::new(BooleanArray::from(rows.iter().map(|r| r.5).collect::<Vec<_>>())),
    ];
    RecordBatch::try_new(schema(), columns).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn encode_then_decode_gives_the_same_batch(rows in proptest::collection::vec(row(), 0..80)) {
        let batch = to_batch(&rows);
        let mut out = Vec::new();
        JsonEncoder::new().encode(&batch, &mut out).unwrap();

        let lines = out.split(|&b| b == b'\n').filter(|l| !l.is_empty());
        let records = lines.enumerate().map(|(i, l)| (Position::Stdin { line: i as u64 + 1 }, l));
        let decoded = JsonDecoder::new(schema()).unwrap().strict(true).decode(records).unwrap();
        prop_assert!(decoded.rejected.is_empty());
        prop_assert_eq!(decoded.batch, batch);
    }
}
