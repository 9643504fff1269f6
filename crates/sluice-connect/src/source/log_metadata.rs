//! Metadata columns of a [`LogSource`](super::LogSource): each row's record offset, partition
//! and log timestamp, appended after the decoded columns (Flink's `METADATA` columns).

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int32Array, Int64Array, RecordBatch, TimestampMillisecondArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use sluice_dataflow::Result;
use sluice_format::{JsonDecoder, Position, Rejected};
use sluice_types::{Offset, PartitionId, StoredRecord};

use crate::dead_letter::DeadLetters;
use crate::error;

/// A property of a log record that a [`LogSource`](super::LogSource) can add as a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogMetadata {
    /// The record's offset in its partition: Int64.
    Offset,
    /// The record's partition: Int32 or Int64.
    Partition,
    /// The record's log timestamp (epoch ms): Timestamp(ms) or Int64.
    Timestamp,
}

impl LogMetadata {
    /// The key Flink's Kafka connector uses for it: `offset`, `partition`, `timestamp`.
    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            LogMetadata::Offset => "offset",
            LogMetadata::Partition => "partition",
            LogMetadata::Timestamp => "timestamp",
        }
    }

    /// The metadata named `key`, if there is one.
    #[must_use]
    pub fn from_key(key: &str) -> Option<LogMetadata> {
        [LogMetadata::Offset, LogMetadata::Partition, LogMetadata::Timestamp]
            .into_iter()
            .find(|m| m.key() == key)
    }

    /// Whether a column of type `t` can hold it.
    #[must_use]
    pub fn accepts(self, t: &DataType) -> bool {
        match self {
            LogMetadata::Offset => matches!(t, DataType::Int64),
            LogMetadata::Partition => matches!(t, DataType::Int32 | DataType::Int64),
            LogMetadata::Timestamp => {
                matches!(t, DataType::Int64 | DataType::Timestamp(TimeUnit::Millisecond, _))
            }
        }
    }
}

/// Where a decoded row came from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowMeta {
    pub(crate) partition: PartitionId,
    pub(crate) offset: Offset,
    pub(crate) timestamp: i64,
}

/// `decoded` (the decoded columns) followed by metadata columns `fields`, each filled from
/// `rows` (one per row of `decoded`, in order).
pub(crate) fn append(
    decoded: RecordBatch,
    schema: &SchemaRef,
    fields: &[(Field, LogMetadata)],
    rows: &[RowMeta],
) -> Result<RecordBatch> {
    if fields.is_empty() {
        return Ok(decoded);
    }
    if rows.len() != decoded.num_rows() {
        return Err(error::user(format!(
            "log source: {} rows decoded from {} records (metadata cannot be matched)",
            decoded.num_rows(),
            rows.len()
        )));
    }
    let mut columns = decoded.columns().to_vec();
    for (field, meta) in fields {
        let ints = |f: fn(&RowMeta) -> i64| rows.iter().map(f).collect::<Vec<i64>>();
        let column: ArrayRef = match (meta, field.data_type()) {
            (LogMetadata::Partition, DataType::Int32) => Arc::new(Int32Array::from(
                rows.iter().map(|r| i32::try_from(r.partition.0).unwrap_or(i32::MAX)).collect::<Vec<_>>(),
            )),
            (LogMetadata::Timestamp, DataType::Timestamp(_, tz)) => {
                Arc::new(TimestampMillisecondArray::from(ints(|r| r.timestamp)).with_timezone_opt(tz.clone()))
            }
            (LogMetadata::Offset, _) => {
                Arc::new(Int64Array::from(ints(|r| i64::try_from(r.offset).unwrap_or(i64::MAX))))
            }
            (LogMetadata::Partition, _) => Arc::new(Int64Array::from(ints(|r| i64::from(r.partition.0)))),
            (LogMetadata::Timestamp, _) => Arc::new(Int64Array::from(ints(|r| r.timestamp))),
        };
        columns.push(column);
    }
    RecordBatch::try_new(SchemaRef::clone(schema), columns)
        .map_err(|e| error::user(format!("log source: adding metadata columns: {e}")))
}

/// The metadata of each decoded row: the records that are neither blank (the decoder skips
/// them) nor rejected, in order.
pub(crate) fn rows(records: &[StoredRecord], partition: PartitionId, rejected: &[Rejected]) -> Vec<RowMeta> {
    let rejected: HashSet<Offset> = rejected
        .iter()
        .filter_map(|r| match r.position {
            Position::Log { offset, .. } => Some(offset),
            _ => None,
        })
        .collect();
    records
        .iter()
        .filter(|r| !r.record.value.iter().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')))
        .filter(|r| !rejected.contains(&r.offset))
        .map(|r| RowMeta { partition, offset: r.offset, timestamp: r.record.timestamp })
        .collect()
}

/// `decoded` followed by the metadata fields, checked.
pub(crate) fn schema(decoded: &SchemaRef, fields: &[(Field, LogMetadata)]) -> Result<SchemaRef> {
    let mut all: Vec<Field> = decoded.fields().iter().map(|f| f.as_ref().clone()).collect();
    for (field, meta) in fields {
        if !meta.accepts(field.data_type()) {
            return Err(error::user(format!(
                "log source: metadata column `{}` ({}) cannot be {}",
                field.name(),
                meta.key(),
                field.data_type()
            )));
        }
        if all.iter().any(|f| f.name() == field.name()) {
            return Err(error::user(format!("log source: column `{}` is declared twice", field.name())));
        }
        all.push(field.clone());
    }
    Ok(Arc::new(Schema::new(all)))
}

/// Decodes `records`, read from partition `partition` of `topic` (the log's or Kafka's), into
/// rows of `schema` followed by the `metadata` columns; malformed records go to `dead_letters`
/// with their positions. `None` if every record was malformed.
///
/// # Errors
/// A decoding failure in strict mode, or a dead-letter write failure.
pub(crate) fn decode(
    decoder: &mut JsonDecoder,
    dead_letters: &DeadLetters,
    (topic, partition): (&Arc<str>, PartitionId),
    records: &[StoredRecord],
    schema: &SchemaRef,
    metadata: &[(Field, LogMetadata)],
) -> Result<Option<RecordBatch>> {
    let positions = records.iter().map(|r| {
        (Position::Log { topic: Arc::clone(topic), partition, offset: r.offset }, &r.record.value[..])
    });
    let decoded = decoder.decode(positions).map_err(|e| error::format(&e))?;
    dead_letters.write(&decoded.rejected)?;
    if decoded.batch.num_rows() == 0 {
        return Ok(None);
    }
    if metadata.is_empty() {
        return Ok(Some(decoded.batch));
    }
    let rows = rows(records, partition, &decoded.rejected);
    append(decoded.batch, schema, metadata, &rows).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;

    #[test]
    fn keys_round_trip_and_types_are_checked() {
        for m in [LogMetadata::Offset, LogMetadata::Partition, LogMetadata::Timestamp] {
            assert_eq!(LogMetadata::from_key(m.key()), Some(m));
        }
        assert_eq!(LogMetadata::from_key("headers"), None);
        assert!(!LogMetadata::Offset.accepts(&DataType::Int32));
        assert!(!LogMetadata::Timestamp.accepts(&DataType::Utf8));
        let decoded = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, true)]));
        let bad = [(Field::new("o", DataType::Utf8, false), LogMetadata::Offset)];
        assert!(schema(&decoded, &bad).is_err());
        let twice = [(Field::new("a", DataType::Int64, false), LogMetadata::Offset)];
        assert!(schema(&decoded, &twice).is_err());
    }

    #[test]
    fn appends_one_value_per_row() {
        let decoded_schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, true)]));
        let fields = [
            (Field::new("p", DataType::Int32, false), LogMetadata::Partition),
            (Field::new("o", DataType::Int64, false), LogMetadata::Offset),
            (
                Field::new("t", DataType::Timestamp(TimeUnit::Millisecond, None), false),
                LogMetadata::Timestamp,
            ),
        ];
        let full = schema(&decoded_schema, &fields).expect("schema");
        let decoded = RecordBatch::try_new(decoded_schema, vec![Arc::new(Int64Array::from(vec![7, 8]))])
            .expect("batch");
        let rows = [
            RowMeta { partition: PartitionId(2), offset: 10, timestamp: 1_000 },
            RowMeta { partition: PartitionId(2), offset: 12, timestamp: 900 },
        ];
        let b = append(decoded.clone(), &full, &fields, &rows).expect("append");
        let p = b.column(1).as_any().downcast_ref::<Int32Array>().expect("int32");
        let o = b.column(2).as_any().downcast_ref::<Int64Array>().expect("int64");
        let t = b.column(3).as_any().downcast_ref::<TimestampMillisecondArray>().expect("ts");
        assert_eq!((p.value(0), p.value(1)), (2, 2));
        assert_eq!((o.value(0), o.value(1)), (10, 12));
        assert_eq!((t.value(0), t.value(1), t.null_count()), (1_000, 900, 0));
        assert!(append(decoded, &full, &fields, &rows[..1]).is_err(), "row count mismatch is an error");
    }
}
