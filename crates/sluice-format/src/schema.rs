//! Which Arrow types the decoders accept, and the schema they actually decode with.
//!
//! The decoders never hand the declared schema to Arrow directly. They decode with a *decode
//! schema* that differs in two ways, and [`SchemaPlan::finish`] turns the result back into a
//! batch of the declared schema:
//!
//! - Every field is nullable. Arrow would fail the whole batch on one record that lacks a NOT
//!   NULL field; decoding it as null lets us reject just that record, naming the field.
//! - `Timestamp(Millisecond, "UTC")` becomes `Timestamp(Millisecond, "+00:00")`. Without
//!   arrow-array's `chrono-tz` feature (a large build we do not need) Arrow parses only fixed
//!   offsets, and refuses to build a decoder for `"UTC"`. The instants are the same; `finish`
//!   puts the declared zone name back.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::error::{FormatError, Result};

/// The types the decoders accept, for error messages.
pub(crate) const SUPPORTED: &str = "Int64, Float64, Utf8, Boolean, Timestamp(Millisecond, None | \"UTC\")";

/// The zone Arrow can parse that means the same as `"UTC"`.
const UTC_OFFSET: &str = "+00:00";

/// A declared schema, checked, with the decode schema derived from it.
#[derive(Debug, Clone)]
pub(crate) struct SchemaPlan {
    declared: SchemaRef,
    decode: SchemaRef,
    /// Indices of the NOT NULL fields.
    required: Vec<usize>,
}

impl SchemaPlan {
    /// Checks that every field has a supported type and derives the decode schema.
    pub(crate) fn new(declared: SchemaRef) -> Result<SchemaPlan> {
        let mut fields = Vec::with_capacity(declared.fields().len());
        let mut required = Vec::new();
        for (i, field) in declared.fields().iter().enumerate() {
            let data_type = match field.data_type() {
                DataType::Int64 | DataType::Float64 | DataType::Utf8 | DataType::Boolean => {
                    field.data_type().clone()
                }
                DataType::Timestamp(TimeUnit::Millisecond, None) => field.data_type().clone(),
                DataType::Timestamp(TimeUnit::Millisecond, Some(tz)) if is_utc(tz) => {
                    DataType::Timestamp(TimeUnit::Millisecond, Some(UTC_OFFSET.into()))
                }
                other => {
                    return Err(FormatError::UnsupportedType {
                        field: field.name().clone(),
                        data_type: other.clone(),
                        supported: SUPPORTED,
                    })
                }
            };
            if !field.is_nullable() {
                required.push(i);
            }
            fields.push(Field::new(field.name(), data_type, true).with_metadata(field.metadata().clone()));
        }
        let decode = Arc::new(Schema::new_with_metadata(fields, declared.metadata().clone()));
        Ok(SchemaPlan { declared, decode, required })
    }

    /// The schema the caller declared; every decoded batch has it.
    pub(crate) fn declared(&self) -> &SchemaRef {
        &self.declared
    }

    /// The schema handed to Arrow's decoders.
    pub(crate) fn decode(&self) -> &SchemaRef {
        &self.decode
    }

    /// Indices of the fields declared NOT NULL.
    pub(crate) fn required(&self) -> &[usize] {
        &self.required
    }

    /// Turns a batch of the decode schema into one of the declared schema.
    ///
    /// The caller has already removed the rows with nulls in NOT NULL columns.
    pub(crate) fn finish(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let rows = batch.num_rows();
        let columns = batch
            .columns()
            .iter()
            .zip(self.declared.fields())
            .map(|(column, field)| restore(column, field.data_type()))
            .collect();
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        RecordBatch::try_new_with_options(Arc::clone(&self.declared), columns, &options)
            .map_err(FormatError::arrow("building the decoded batch"))
    }
}

/// Whether a declared time zone names UTC.
pub(crate) fn is_utc(tz: &str) -> bool {
    matches!(tz, "UTC" | "utc" | "Z" | UTC_OFFSET)
}

/// Gives a decoded column its declared type where the decode type differs (only the zone name).
fn restore(column: &ArrayRef, declared: &DataType) -> ArrayRef {
    match declared {
        DataType::Timestamp(TimeUnit::Millisecond, Some(tz)) if column.data_type() != declared => {
            let values = column.as_primitive::<TimestampMillisecondType>().clone();
            Arc::new(values.with_timezone(Arc::clone(tz)))
        }
        _ => Arc::clone(column),
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn refuses_unsupported_types_naming_the_field() {
        let schema = Schema::new(vec![
            Field::new("ok", DataType::Int64, false),
            Field::new("when", DataType::Timestamp(TimeUnit::Second, None), true),
        ]);
        let err = SchemaPlan::new(Arc::new(schema)).unwrap_err();
        assert!(err.to_string().contains("field `when`"), "{err}");
    }

    #[test]
    fn decode_schema_is_nullable_and_spells_utc_as_an_offset() {
        let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
        let schema = Schema::new(vec![Field::new("ts", ts.clone(), false)]);
        let plan = SchemaPlan::new(Arc::new(schema)).unwrap();
        let field = plan.decode().field(0);
        assert!(field.is_nullable());
        assert_eq!(field.data_type(), &DataType::Timestamp(TimeUnit::Millisecond, Some("+00:00".into())));
        assert_eq!(plan.required(), &[0]);
    }
}
