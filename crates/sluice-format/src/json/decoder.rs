//! JSON lines → Arrow, with malformed records set aside.
//!
//! Decoding is Arrow's (`arrow_json::reader::Decoder`); this module adds the framing checks
//! that make one input record one row, and plugs into the reject machinery of
//! the crate's `reject` module.
//!
//! # What Arrow decides, per type
//! - `Int64`: JSON integers; floats are truncated (`1.9` → 1), as are numeric strings (`"42"`
//!   → 42, as Flink does). Anything else (`"abc"`, `true`, objects) rejects the record.
//! - `Float64`: JSON numbers and numeric strings.
//! - `Utf8`: strings; numbers and booleans are taken as their JSON text (Flink does the same).
//! - `Boolean`: `true` / `false` only.
//! - `Timestamp(Millisecond)`: integers are epoch milliseconds (UTC); strings are RFC 3339
//!   (`2026-01-01T00:00:00.123Z`, `...+02:00`) or `YYYY-MM-DD HH:MM:SS[.fff]` or
//!   `YYYY-MM-DD`, read as UTC when they carry no offset. Fractions beyond milliseconds are
//!   truncated.
//!
//! Fields not in the schema are ignored; a repeated key keeps its last value.

use arrow_array::RecordBatch;
use arrow_json::reader::{Decoder as ArrowDecoder, ReaderBuilder};
use arrow_schema::SchemaRef;

use crate::error::{FormatError, Result};
use crate::reject::{arrow_message, BatchDecoder, Decoded, Splitter};
use crate::schema::SchemaPlan;
use crate::Position;

/// Rows the bulk decoder is first sized for; it grows to the largest call.
const INITIAL_CAPACITY: usize = 1024;

/// Decodes JSON-lines records (one JSON object each) into Arrow record batches.
///
/// ```
/// use std::sync::Arc;
/// use arrow_schema::{DataType, Field, Schema, TimeUnit};
/// use sluice_format::{JsonDecoder, Position};
///
/// let schema = Arc::new(Schema::new(vec![
///     Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
///     Field::new("url", DataType::Utf8, true),
/// ]));
/// let mut decoder = JsonDecoder::new(schema)?;
/// let lines: [&[u8]; 3] = [
///     br#"{"ts": 1767225600000, "url": "/a"}"#,
///     br#"{"ts": "2026-01-01 00:00:01.500", "url": "/b"}"#,
///     br#"{"url": "/c"}"#, // no event time: rejected, not dropped
/// ];
/// let records = lines.iter().enumerate().map(|(i, l)| (Position::Stdin { line: i as u64 + 1 }, *l));
/// let decoded = decoder.decode(records)?;
/// assert_eq!(decoded.batch.num_rows(), 2);
/// assert_eq!(decoded.rejected[0].position.to_string(), "stdin:3");
/// assert_eq!(decoded.rejected[0].error, "required field `ts` is missing or null");
/// # Ok::<(), sluice_format::FormatError>(())
/// ```
#[derive(Debug)]
pub struct JsonDecoder {
    plan: SchemaPlan,
    records: JsonRecords,
    splitter: Splitter,
    strict: bool,
}

impl JsonDecoder {
    /// A decoder for records of `schema`.
    ///
    /// Field types may be `Int64`, `Float64`, `Utf8`, `Boolean` and
    /// `Timestamp(Millisecond, None | "UTC")`. A field declared NOT NULL (`nullable = false`)
    /// must be present and non-null in every record, or the record is rejected.
    ///
    /// # Errors
    /// [`FormatError::UnsupportedType`] for a field of another type.
    pub fn new(schema: SchemaRef) -> Result<JsonDecoder> {
        let plan = SchemaPlan::new(schema)?;
        let records = JsonRecords {
            bulk: ArrowJson::new(plan.decode(), INITIAL_CAPACITY)?,
            // Room for one record plus the extra value a malformed record might carry.
            single: ArrowJson::new(plan.decode(), 2)?,
        };
        Ok(JsonDecoder { plan, records, splitter: Splitter::default(), strict: false })
    }

    /// In strict mode the first malformed record fails the whole call instead of being
    /// rejected. Default = false.
    #[must_use]
    pub fn strict(mut self, strict: bool) -> JsonDecoder {
        self.strict = strict;
        self
    }

    /// The schema of every decoded batch.
    #[must_use]
    pub fn schema(&self) -> &SchemaRef {
        self.plan.declared()
    }

    /// Decodes `records` (each one JSON object, without its line terminator or with it) into
    /// one batch, in input order. Blank records are skipped.
    ///
    /// # Errors
    /// In strict mode, [`FormatError::Malformed`] for the first malformed record. Otherwise
    /// only [`FormatError::Arrow`], which indicates a bug.
    pub fn decode<'a>(&mut self, records: impl IntoIterator<Item = (Position, &'a [u8])>) -> Result<Decoded> {
        self.splitter.decode(&mut self.records, &self.plan, records, self.strict)
    }
}

/// The all-or-nothing decoders: one sized for whole calls, one for single records.
#[derive(Debug)]
struct JsonRecords {
    bulk: ArrowJson,
    single: ArrowJson,
}

impl BatchDecoder for JsonRecords {
    fn decode_all(&mut self, records: &[&[u8]]) -> Result<RecordBatch, String> {
        let decoder = if records.len() == 1 { &mut self.single } else { &mut self.bulk };
        // One more row than records, so that a record carrying a second value is seen.
        decoder.reserve(records.len() + 1)?;
        let result = decoder.decode_all(records);
        if result.is_err() {
            // After an error Arrow's decoder may hold part of a record: start afresh.
            decoder.rebuild()?;
        }
        result
    }
}

/// Arrow's JSON decoder with its schema and row capacity, so that it can be rebuilt.
struct ArrowJson {
    schema: SchemaRef,
    capacity: usize,
    inner: ArrowDecoder,
}

impl std::fmt::Debug for ArrowJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArrowJson").field("capacity", &self.capacity).finish_non_exhaustive()
    }
}

impl ArrowJson {
    fn new(schema: &SchemaRef, capacity: usize) -> Result<ArrowJson> {
        let inner = build(schema, capacity).map_err(FormatError::arrow("building the JSON decoder"))?;
        Ok(ArrowJson { schema: SchemaRef::clone(schema), capacity, inner })
    }

    fn rebuild(&mut self) -> Result<(), String> {
        self.inner = build(&self.schema, self.capacity).map_err(arrow_message)?;
        Ok(())
    }

    fn reserve(&mut self, rows: usize) -> Result<(), String> {
        if rows > self.capacity {
            self.capacity = rows.next_power_of_two();
            self.rebuild()?;
        }
        Ok(())
    }

    /// Feeds each record, checking that it holds exactly one complete JSON value, then flushes.
    fn decode_all(&mut self, records: &[&[u8]]) -> Result<RecordBatch, String> {
        for (i, record) in records.iter().enumerate() {
            let used = self.inner.decode(record).map_err(json_message)?;
            if self.inner.has_partial_record() {
                // A bare number or literal needs a delimiter to end; a truncated object or
                // string does not end with one either.
                self.inner.decode(b"\n").map_err(json_message)?;
                if self.inner.has_partial_record() {
                    return Err("truncated record: the JSON value does not end".into());
                }
            }
            if used < record.len() || self.inner.len() != i + 1 {
                return Err("the record holds more than one JSON value".into());
            }
        }
        match self.inner.flush() {
            Ok(Some(batch)) => Ok(batch),
            Ok(None) => Ok(RecordBatch::new_empty(SchemaRef::clone(&self.schema))),
            Err(e) => Err(json_message(e)),
        }
    }
}

fn build(schema: &SchemaRef, capacity: usize) -> Result<ArrowDecoder, arrow_schema::ArrowError> {
    ReaderBuilder::new(SchemaRef::clone(schema))
        .with_batch_size(capacity)
        // Numbers and booleans decode into Utf8 fields as their text, as in Flink.
        .with_coerce_primitive(true)
        .build_decoder()
}

/// Arrow's JSON message, with its `whilst decoding field 'x': ` prefix turned into
/// ``field `x`: `` like the crate's own messages.
fn json_message(e: arrow_schema::ArrowError) -> String {
    let message = arrow_message(e);
    message
        .strip_prefix("whilst decoding field '")
        .and_then(|rest| rest.split_once("': "))
        .map(|(field, reason)| format!("field `{field}`: {reason}"))
        .unwrap_or(message)
}

#[cfg(test)]
mod test {
    use std::sync::Arc;

    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int64Type, TimestampMillisecondType};
    use arrow_schema::{DataType, Field, Schema, TimeUnit};

    use super::*;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), false),
            Field::new("n", DataType::Int64, true),
        ]))
    }

    fn lines<'a>(lines: &'a [&'a str]) -> impl Iterator<Item = (Position, &'a [u8])> + 'a {
        lines.iter().enumerate().map(|(i, l)| (Position::Stdin { line: i as u64 + 1 }, l.as_bytes()))
    }

    fn rejected_lines(d: &Decoded) -> Vec<String> {
        d.rejected.iter().map(|r| r.position.to_string()).collect()
    }

    #[test]
    fn framing_errors_reject_only_their_record() {
        let mut dec = JsonDecoder::new(schema()).unwrap();
        let input = [
            r#"{"ts":1,"n":1}"#,
            r#"{"ts":2,"n":2"#,    // truncated
            r#"{"ts":3}{"ts":4}"#, // two values
            r#""n":5}"#,           // the rest of a split object
            r#"6"#,                // not an object
            r#"{"ts":7,"n":7}  "#, // trailing whitespace is fine
        ];
        let d = dec.decode(lines(&input)).unwrap();
        assert_eq!(rejected_lines(&d), ["stdin:2", "stdin:3", "stdin:4", "stdin:5"]);
        let ts = d.batch.column(0).as_primitive::<TimestampMillisecondType>();
        assert_eq!(ts.values(), &[1, 7]);
        assert_eq!(d.rejected[0].error, "truncated record: the JSON value does not end");
        assert_eq!(d.rejected[1].error, "the record holds more than one JSON value");
    }

    #[test]
    fn field_errors_name_the_field() {
        let mut dec = JsonDecoder::new(schema()).unwrap();
        let d = dec.decode(lines(&[r#"{"ts":1,"n":"abc"}"#])).unwrap();
        assert_eq!(d.rejected[0].error, r#"field `n`: failed to parse "abc" as Int64"#);
    }

    #[test]
    fn decoder_recovers_after_errors_and_grows() {
        let mut dec = JsonDecoder::new(schema()).unwrap();
        let bad: Vec<String> = (0..3000)
            .map(|i| if i % 1000 == 999 { "{".into() } else { format!(r#"{{"ts":{i},"n":{i}}}"#) })
            .collect();
        let bad: Vec<&str> = bad.iter().map(String::as_str).collect();
        let d = dec.decode(lines(&bad)).unwrap();
        assert_eq!(d.batch.num_rows(), 2997);
        assert_eq!(rejected_lines(&d), ["stdin:1000", "stdin:2000", "stdin:3000"]);
        let d = dec.decode(lines(&[r#"{"ts":5,"n":6}"#])).unwrap();
        assert_eq!(d.batch.column(1).as_primitive::<Int64Type>().values(), &[6]);
    }

    #[test]
    fn empty_and_blank_input_gives_an_empty_batch() {
        let mut dec = JsonDecoder::new(schema()).unwrap();
        let d = dec.decode(lines(&["", "  ", "\r"])).unwrap();
        assert_eq!(d.batch.num_rows(), 0);
        assert!(d.rejected.is_empty());
        assert_eq!(d.batch.schema(), schema());
    }
}
