//! CSV → Arrow, with malformed rows set aside.
//!
//! Each record is one CSV row (a line without its terminator, or with it). Arrow's CSV decoder
//! (`arrow_csv::reader::Decoder`) splits fields and parses numbers and booleans; this module
//! adds:
//!
//! - **Header by name.** With [`CsvDecoder::header`], the first non-blank record is the header:
//!   columns are matched to schema fields by name, in any order; columns the schema does not
//!   name are skipped; a nullable field with no column is all null, and a NOT NULL field with no
//!   column is a [`FormatError::Header`]. Without a header, columns are the schema's fields in
//!   order. One decoder reads one file: a new file needs a new decoder.
//! - **Timestamps as in JSON.** `Timestamp(Millisecond)` columns are read as text and parsed
//!   here, so that they accept epoch milliseconds (integers only) as well as RFC 3339 and
//!   `YYYY-MM-DD HH:MM:SS[.fff]` (UTC when no offset is given). Arrow's CSV parser takes only
//!   the strings.
//! - **Messages by field.** Arrow's messages count lines and columns from where its decoder
//!   started; they are rewritten to name the field, since the position is the record's own.
//!
//! An empty field is null, for every type (Arrow's rule). A row with the wrong number of
//! fields is rejected. A quoted field cannot span records, because records are lines: its
//! row is rejected as unterminated.

use std::sync::Arc;

use arrow_array::builder::TimestampMillisecondBuilder;
use arrow_array::cast::AsArray;
use arrow_array::timezone::Tz;
use arrow_array::{new_null_array, Array, ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_cast::parse::string_to_datetime;
use arrow_csv::reader::{Decoder as ArrowDecoder, Format, ReaderBuilder};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::error::{FormatError, Result};
use crate::reject::{arrow_message, is_blank, BatchDecoder, Decoded, Splitter};
use crate::schema::SchemaPlan;
use crate::Position;

/// Rows the bulk decoder is first sized for; it grows to the largest call.
const INITIAL_CAPACITY: usize = 1024;

/// Decodes CSV rows into Arrow record batches. The interface is that of
/// [`JsonDecoder`](crate::JsonDecoder).
///
/// ```
/// use std::path::Path;
/// use std::sync::Arc;
/// use arrow_schema::{DataType, Field, Schema};
/// use sluice_format::{CsvDecoder, Position};
///
/// let schema = Arc::new(Schema::new(vec![
///     Field::new("user_id", DataType::Int64, false),
///     Field::new("url", DataType::Utf8, true),
/// ]));
/// let mut decoder = CsvDecoder::new(schema)?.header(true).delimiter(b';');
/// let path: Arc<Path> = Path::new("views.csv").into();
/// let lines = ["url;user_id", "/a;1", "/b;oops", "/c;3"];
/// let records = lines.iter().enumerate().map(|(i, l)| {
///     (Position::File { path: path.clone(), line: i as u64 + 1 }, l.as_bytes())
/// });
/// let decoded = decoder.decode(records)?;
/// assert_eq!(decoded.batch.num_rows(), 2);
/// assert_eq!(decoded.rejected[0].position.to_string(), "views.csv:3");
/// assert!(decoded.rejected[0].error.starts_with("field `user_id`"));
/// # Ok::<(), sluice_format::FormatError>(())
/// ```
#[derive(Debug)]
pub struct CsvDecoder {
    plan: SchemaPlan,
    header: bool,
    delimiter: u8,
    strict: bool,
    /// Built on the first call, once the header (if any) has been read.
    records: Option<CsvRecords>,
    splitter: Splitter,
}

impl CsvDecoder {
    /// A decoder for rows of `schema`; see [`JsonDecoder::new`](crate::JsonDecoder::new) for the
    /// supported types and NOT NULL.
    ///
    /// # Errors
    /// [`FormatError::UnsupportedType`] for a field of another type.
    pub fn new(schema: SchemaRef) -> Result<CsvDecoder> {
        let plan = SchemaPlan::new(schema)?;
        Ok(CsvDecoder {
            plan,
            header: false,
            delimiter: b',',
            strict: false,
            records: None,
            splitter: Splitter::default(),
        })
    }

    /// Whether the first non-blank record is a header naming the columns. Default = false.
    #[must_use]
    pub fn header(mut self, header: bool) -> CsvDecoder {
        self.header = header;
        self
    }

    /// The field delimiter. Default = `b','`.
    #[must_use]
    pub fn delimiter(mut self, delimiter: u8) -> CsvDecoder {
        self.delimiter = delimiter;
        self
    }

    /// In strict mode the first malformed row fails the whole call instead of being rejected.
    /// Default = false.
    #[must_use]
    pub fn strict(mut self, strict: bool) -> CsvDecoder {
        self.strict = strict;
        self
    }

    /// The schema of every decoded batch.
    #[must_use]
    pub fn schema(&self) -> &SchemaRef {
        self.plan.declared()
    }

    /// Decodes `records` (one CSV row each) into one batch, in input order. Blank records are
    /// skipped. With a header, the first non-blank record of the first call is the header.
    ///
    /// # Errors
    /// [`FormatError::Header`] if the header cannot be read or lacks a NOT NULL field. In
    /// strict mode, [`FormatError::Malformed`] for the first malformed row.
    pub fn decode<'a>(&mut self, records: impl IntoIterator<Item = (Position, &'a [u8])>) -> Result<Decoded> {
        let mut records = records.into_iter();
        let decoder = match &mut self.records {
            Some(decoder) => decoder,
            None => {
                let columns = if self.header {
                    let Some((position, header)) = records.by_ref().find(|(_, r)| !is_blank(r)) else {
                        return Ok(Decoded::empty(self.plan.declared()));
                    };
                    Columns::from_header(&self.plan, self.delimiter, &position, header)?
                } else {
                    Columns::in_schema_order(&self.plan)
                };
                self.records.insert(CsvRecords::new(&self.plan, columns, self.delimiter)?)
            }
        };
        self.splitter.decode(decoder, &self.plan, records, self.strict)
    }
}

/// How the file's columns map to the schema's fields.
#[derive(Debug, Clone)]
struct Columns {
    /// One field per file column, typed for Arrow's CSV decoder (timestamps as text).
    file: SchemaRef,
    /// The file columns Arrow decodes, in schema order.
    projection: Vec<usize>,
    /// For each schema field, its index among the projected columns, if the file has it.
    field_to_projected: Vec<Option<usize>>,
    /// Each file column's name, for messages.
    names: Vec<String>,
}

impl Columns {
    fn in_schema_order(plan: &SchemaPlan) -> Columns {
        let fields = plan.decode().fields();
        let names = fields.iter().map(|f| f.name().clone()).collect();
        let file = fields.iter().map(|f| Field::new(f.name(), file_type(f.data_type()), true));
        Columns {
            file: Arc::new(Schema::new(file.collect::<Vec<_>>())),
            projection: (0..fields.len()).collect(),
            field_to_projected: (0..fields.len()).map(Some).collect(),
            names,
        }
    }

    fn from_header(plan: &SchemaPlan, delimiter: u8, position: &Position, header: &[u8]) -> Result<Columns> {
        let format = Format::default().with_header(true).with_delimiter(delimiter);
        let (found, _) = format
            .infer_schema(header, Some(0))
            .map_err(|e| FormatError::Header { position: position.clone(), reason: arrow_message(e) })?;
        let names: Vec<String> = found.fields().iter().map(|f| f.name().clone()).collect();

        let mut file: Vec<Field> = names.iter().map(|n| Field::new(n, DataType::Utf8, true)).collect();
        let mut projection = Vec::new();
        let mut field_to_projected = Vec::new();
        for field in plan.decode().fields() {
            match names.iter().position(|n| n == field.name()) {
                Some(column) => {
                    if let Some(slot) = file.get_mut(column) {
                        *slot = Field::new(field.name(), file_type(field.data_type()), true);
                    }
                    field_to_projected.push(Some(projection.len()));
                    projection.push(column);
                }
                None => field_to_projected.push(None),
            }
        }
        let declared = plan.declared();
        if let Some(&j) =
            plan.required().iter().find(|&&j| field_to_projected.get(j).is_some_and(Option::is_none))
        {
            return Err(FormatError::Header {
                position: position.clone(),
                reason: format!(
                    "no column `{}`, which the schema declares NOT NULL",
                    declared.field(j).name()
                ),
            });
        }
        Ok(Columns { file: Arc::new(Schema::new(file)), projection, field_to_projected, names })
    }
}

/// The type Arrow's CSV decoder reads a field as: timestamps as text, parsed by us.
fn file_type(decode: &DataType) -> DataType {
    match decode {
        DataType::Timestamp(..) => DataType::Utf8,
        other => other.clone(),
    }
}

/// The all-or-nothing decoders for one file's layout.
#[derive(Debug)]
struct CsvRecords {
    /// The decode schema (see [`crate::schema`]).
    schema: SchemaRef,
    columns: Columns,
    delimiter: u8,
    bulk: ArrowCsv,
    single: ArrowCsv,
}

impl CsvRecords {
    fn new(plan: &SchemaPlan, columns: Columns, delimiter: u8) -> Result<CsvRecords> {
        let bulk = ArrowCsv::new(&columns, delimiter, INITIAL_CAPACITY);
        let single = ArrowCsv::new(&columns, delimiter, 2);
        Ok(CsvRecords { schema: SchemaRef::clone(plan.decode()), columns, delimiter, bulk, single })
    }

    /// Builds the decode-schema batch from Arrow's projected columns.
    fn assemble(&self, decoded: &RecordBatch) -> Result<RecordBatch, String> {
        let rows = decoded.num_rows();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        for (field, projected) in self.schema.fields().iter().zip(&self.columns.field_to_projected) {
            let column = match projected.and_then(|k| decoded.columns().get(k)) {
                None => new_null_array(field.data_type(), rows),
                Some(column) => match field.data_type() {
                    DataType::Timestamp(TimeUnit::Millisecond, tz) => {
                        parse_timestamps(column, field.name(), tz.clone())?
                    }
                    _ => ArrayRef::clone(column),
                },
            };
            columns.push(column);
        }
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        RecordBatch::try_new_with_options(SchemaRef::clone(&self.schema), columns, &options)
            .map_err(arrow_message)
    }
}

impl BatchDecoder for CsvRecords {
    fn decode_all(&mut self, records: &[&[u8]]) -> Result<RecordBatch, String> {
        let decoder = if records.len() == 1 { &mut self.single } else { &mut self.bulk };
        decoder.reserve(&self.columns, self.delimiter, records.len() + 1);
        let result = decoder.decode_all(records).map_err(|e| csv_message(&e, &self.columns.names));
        if result.is_err() {
            decoder.rebuild(&self.columns, self.delimiter);
        }
        self.assemble(&result?)
    }
}

/// Arrow's CSV decoder and its row capacity.
struct ArrowCsv {
    capacity: usize,
    inner: ArrowDecoder,
}

impl std::fmt::Debug for ArrowCsv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArrowCsv").field("capacity", &self.capacity).finish_non_exhaustive()
    }
}

impl ArrowCsv {
    fn new(columns: &Columns, delimiter: u8, capacity: usize) -> ArrowCsv {
        ArrowCsv { capacity, inner: build(columns, delimiter, capacity) }
    }

    fn rebuild(&mut self, columns: &Columns, delimiter: u8) {
        self.inner = build(columns, delimiter, self.capacity);
    }

    fn reserve(&mut self, columns: &Columns, delimiter: u8, rows: usize) {
        if rows > self.capacity {
            self.capacity = rows.next_power_of_two();
            self.rebuild(columns, delimiter);
        }
    }

    /// Feeds each record with a line terminator, checking that it makes exactly one row.
    fn decode_all(&mut self, records: &[&[u8]]) -> Result<RecordBatch, String> {
        let free = self.inner.capacity();
        for (i, record) in records.iter().enumerate() {
            let mut used = self.inner.decode(record).map_err(arrow_message)?;
            if !record.ends_with(b"\n") {
                used += self.inner.decode(b"\n").map_err(arrow_message)?;
            } else {
                used += 1;
            }
            let rows = free - self.inner.capacity();
            if rows < i + 1 {
                return Err("unterminated quoted field".into());
            }
            if rows > i + 1 || used < record.len() + 1 {
                return Err("the record holds more than one CSV row".into());
            }
        }
        match self.inner.flush() {
            Ok(Some(batch)) => Ok(batch),
            Ok(None) => Err("no rows decoded".into()),
            Err(e) => Err(arrow_message(e)),
        }
    }
}

fn build(columns: &Columns, delimiter: u8, capacity: usize) -> ArrowDecoder {
    ReaderBuilder::new(SchemaRef::clone(&columns.file))
        .with_header(false)
        .with_delimiter(delimiter)
        .with_batch_size(capacity)
        .with_projection(columns.projection.clone())
        .build_decoder()
}

/// Parses a text column into UTC millisecond timestamps: epoch milliseconds or date-time strings.
fn parse_timestamps(column: &ArrayRef, field: &str, tz: Option<Arc<str>>) -> Result<ArrayRef, String> {
    let utc: Tz = "+00:00".parse().map_err(arrow_message)?;
    let text =
        column.as_string_opt::<i32>().ok_or_else(|| format!("field `{field}`: not decoded as text"))?;
    let mut out = TimestampMillisecondBuilder::with_capacity(text.len());
    for value in text {
        match value {
            None => out.append_null(),
            Some(s) => {
                let s = s.trim();
                let ms = match s.parse::<i64>() {
                    Ok(ms) => ms,
                    Err(_) => string_to_datetime(&utc, s)
                        .map_err(|_| {
                            format!(
                                "field `{field}`: cannot parse '{s}' as a timestamp (expected epoch \
                                 milliseconds, RFC 3339 or YYYY-MM-DD HH:MM:SS[.fff])"
                            )
                        })?
                        .timestamp_millis(),
                };
                out.append_value(ms);
            }
        }
    }
    Ok(Arc::new(out.finish().with_timezone_opt(tz)))
}

/// Rewrites Arrow's CSV messages, which count lines and columns from where its decoder
/// started, to name the field instead. Unknown messages pass through.
fn csv_message(message: &str, names: &[String]) -> String {
    let name = |column: &str| {
        column
            .parse::<usize>()
            .ok()
            .and_then(|c| names.get(c))
            .map_or_else(|| format!("column {column}"), |n| format!("field `{n}`"))
    };
    // "Error while parsing value '{v}' as type '{t}' for column {c} at line {l}. Row data: '{row}'"
    if let Some(rest) = message.strip_prefix("Error while parsing value ") {
        if let Some((value, rest)) = rest.split_once(" for column ") {
            let column = rest.split(' ').next().unwrap_or_default();
            return format!("{}: cannot parse {value}", name(column));
        }
    }
    // "incorrect number of fields for line {l}, expected {n} got {m}"
    if let Some(rest) = message.strip_prefix("incorrect number of fields for line ") {
        if let Some((_, counts)) = rest.split_once(", ") {
            return format!("incorrect number of fields: {counts}");
        }
    }
    // "Encountered invalid UTF-8 data for line {l} and field {f}"
    if let Some(rest) = message.strip_prefix("Encountered invalid UTF-8 data for line ") {
        if let Some((_, column)) = rest.split_once(" and field ") {
            return format!("{}: invalid UTF-8", name(column));
        }
    }
    message.to_string()
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn rewrites_arrow_messages_to_name_the_field() {
        let names = ["ts".to_string(), "user_id".to_string()];
        let m = "Error while parsing value 'abc' as type 'Int64' for column 1 at line 7. Row data: '[1,abc]'";
        assert_eq!(csv_message(m, &names), "field `user_id`: cannot parse 'abc' as type 'Int64'");
        let m = "incorrect number of fields for line 3, expected 2 got 3";
        assert_eq!(csv_message(m, &names), "incorrect number of fields: expected 2 got 3");
        let m = "Encountered invalid UTF-8 data for line 1 and field 0";
        assert_eq!(csv_message(m, &names), "field `ts`: invalid UTF-8");
        assert_eq!(csv_message("something new", &names), "something new");
    }
}
