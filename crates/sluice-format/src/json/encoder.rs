//! Arrow → JSON lines.
//!
//! Arrow's JSON encoder (`arrow_json::writer::make_encoder`) writes each column with a
//! per-type encoder, straight into our buffer. We change two things through its options:
//!
//! - nulls are written as `null` (Arrow drops null fields by default);
//! - `Timestamp(Millisecond)` columns without a zone or in UTC are written as
//!   `"YYYY-MM-DD HH:MM:SS.fff"`, Flink's SQL format and its JSON default. Arrow would write
//!   RFC 3339 without a zone (`2026-01-01T00:00:00`, fraction only when non-zero), and cannot
//!   format a `"UTC"` column at all without arrow-array's `chrono-tz` feature.
//!
//! Floats are JSON numbers, in the shortest form that reads back to the same value; NaN and
//! infinities, which JSON cannot express, are written as `null`.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{Array, RecordBatch, StructArray, TimestampMillisecondArray};
use arrow_json::writer::{make_encoder, Encoder, EncoderFactory, EncoderOptions, NullableEncoder};
use arrow_schema::{ArrowError, DataType, Field, FieldRef, TimeUnit};

use crate::error::{FormatError, Result};
use crate::json::timestamp::write_millis;
use crate::schema::is_utc;

/// Writes record batches as JSON lines: one object per row, fields in schema order.
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
/// use arrow_schema::{DataType, Field, Schema, TimeUnit};
/// use sluice_format::JsonEncoder;
///
/// let schema = Arc::new(Schema::new(vec![
///     Field::new("window_end", DataType::Timestamp(TimeUnit::Millisecond, None), false),
///     Field::new("url", DataType::Utf8, true),
///     Field::new("views", DataType::Int64, false),
/// ]));
/// let batch = RecordBatch::try_new(schema, vec![
///     Arc::new(TimestampMillisecondArray::from(vec![1_767_225_900_000])),
///     Arc::new(StringArray::from(vec![None::<&str>])),
///     Arc::new(Int64Array::from(vec![42])),
/// ])?;
/// let mut out = Vec::new();
/// JsonEncoder::new().encode(&batch, &mut out)?;
/// assert_eq!(out, b"{\"window_end\":\"2026-01-01 00:05:00.000\",\"url\":null,\"views\":42}\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct JsonEncoder {
    options: EncoderOptions,
}

impl Default for JsonEncoder {
    fn default() -> Self {
        JsonEncoder::new()
    }
}

impl JsonEncoder {
    /// An encoder with explicit nulls and Flink-style timestamps.
    #[must_use]
    pub fn new() -> JsonEncoder {
        let options =
            EncoderOptions::default().with_explicit_nulls(true).with_encoder_factory(Arc::new(SqlTimestamps));
        JsonEncoder { options }
    }

    /// Appends one line per row of `batch` to `out`, each ending in `\n`.
    ///
    /// `out` is only appended to: clear it between batches to reuse its allocation.
    ///
    /// # Errors
    /// [`FormatError::Encode`] if a column has a type JSON cannot express (e.g. a union).
    pub fn encode(&self, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<()> {
        self.encode_each(batch, out, |out| out.push(b'\n'))
    }

    /// Appends each row of `batch` to `out` as a JSON object without a line terminator, and
    /// pushes the end offset of each row onto `ends`: row `i` is `out[start..ends[i]]` where
    /// `start` is the previous end (or the length of `out` before the call). For sinks that
    /// store one record per row, such as a log topic.
    ///
    /// # Errors
    /// As [`encode`](Self::encode).
    pub fn encode_rows(&self, batch: &RecordBatch, out: &mut Vec<u8>, ends: &mut Vec<usize>) -> Result<()> {
        ends.reserve(batch.num_rows());
        self.encode_each(batch, out, |out| ends.push(out.len()))
    }

    fn encode_each(
        &self,
        batch: &RecordBatch,
        out: &mut Vec<u8>,
        mut after_row: impl FnMut(&mut Vec<u8>),
    ) -> Result<()> {
        if batch.num_columns() == 0 {
            for _ in 0..batch.num_rows() {
                out.extend_from_slice(b"{}");
                after_row(out);
            }
            return Ok(());
        }
        let rows = StructArray::from(batch.clone());
        let root: FieldRef = Arc::new(Field::new_struct("", batch.schema().fields().clone(), false));
        let mut encoder =
            make_encoder(&root, &rows, &self.options).map_err(|source| FormatError::Encode { source })?;
        for row in 0..batch.num_rows() {
            encoder.encode(row, out);
            after_row(out);
        }
        Ok(())
    }
}

/// Hands Arrow's encoder our writer for UTC millisecond timestamps.
#[derive(Debug)]
struct SqlTimestamps;

impl EncoderFactory for SqlTimestamps {
    fn make_default_encoder<'a>(
        &self,
        _field: &'a FieldRef,
        array: &'a dyn Array,
        _options: &'a EncoderOptions,
    ) -> Result<Option<NullableEncoder<'a>>, ArrowError> {
        match array.data_type() {
            DataType::Timestamp(TimeUnit::Millisecond, tz) if tz.as_deref().is_none_or(is_utc) => {
                let values = array.as_primitive::<TimestampMillisecondType>().clone();
                Ok(Some(NullableEncoder::new(Box::new(TimestampEncoder(values)), array.nulls().cloned())))
            }
            _ => Ok(None),
        }
    }
}

/// Writes one millisecond timestamp as a quoted `YYYY-MM-DD HH:MM:SS.fff` string.
struct TimestampEncoder(TimestampMillisecondArray);

impl Encoder for TimestampEncoder {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        // Arrow calls this only for rows that are not null and in range.
        let ms = self.0.values().get(idx).copied().unwrap_or_default();
        out.push(b'"');
        write_millis(ms, out);
        out.push(b'"');
    }
}
