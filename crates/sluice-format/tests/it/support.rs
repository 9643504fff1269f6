//! Schemas and record builders shared by the tests.

use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMillisecondType};
use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use sluice_format::{Decoded, Position};

/// The page-view schema of issue 4: `ts TIMESTAMP(3) NOT NULL, user_id BIGINT, url STRING,
/// referrer STRING`.
pub fn page_views() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
        Field::new("user_id", DataType::Int64, true),
        Field::new("url", DataType::Utf8, true),
        Field::new("referrer", DataType::Utf8, true),
    ]))
}

/// `lines` as records of `path`, numbered from 1.
pub fn file_lines<'a>(path: &str, lines: &'a [&'a str]) -> Vec<(Position, &'a [u8])> {
    let path: Arc<Path> = Path::new(path).into();
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| (Position::File { path: Arc::clone(&path), line: i as u64 + 1 }, l.as_bytes()))
        .collect()
}

/// The positions of the rejected records, as displayed.
pub fn rejected_at(decoded: &Decoded) -> Vec<String> {
    decoded.rejected.iter().map(|r| r.position.to_string()).collect()
}

/// Column `name` of `batch` as timestamps (null as `None`).
pub fn timestamps(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    let column = batch.column_by_name(name).expect("column");
    column.as_primitive::<TimestampMillisecondType>().iter().collect()
}

/// Column `name` of `batch` as integers.
pub fn ints(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    batch.column_by_name(name).expect("column").as_primitive::<Int64Type>().iter().collect()
}

/// Column `name` of `batch` as strings.
pub fn strings(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let column = batch.column_by_name(name).expect("column");
    column.as_string::<i32>().iter().map(|s| s.map(str::to_string)).collect()
}
