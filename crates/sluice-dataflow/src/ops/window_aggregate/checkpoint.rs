//! The window aggregate in a checkpoint: [`Operator::snapshot`](crate::operator::Operator)
//! and `restore` on top of [`WindowAggregate::snapshot`] / [`WindowAggregate::restore`].
//!
//! A checkpoint blob is `"SWA1" | schema_len u32 | schema | snapshot`: the operator's input
//! schema (so that a restored task can bind its state before its first row, and emit the
//! restored windows even if no row ever comes), as `(name, data type, nullable)` per field in
//! the state codec, then the `sluice-state` snapshot of the task's key groups.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef};
use sluice_state::codec::{decode_all, encode_to_vec};
use sluice_state::snapshot::SnapshotReader;
use sluice_types::{ErrorKind, Retry};

use super::WindowAggregate;
use crate::error::{DataflowError, Result};
use crate::exchange::state_key_hash;
use crate::operator::StateScope;
use crate::window::SnapshotTarget;

const MAGIC: &[u8; 4] = b"SWA1";

type FieldDesc = (String, String, bool);

fn bad(name: &str, why: impl std::fmt::Display) -> DataflowError {
    DataflowError::State {
        message: format!("checkpoint state `{name}`: {why}"),
        kind: ErrorKind::Internal,
        retry: Retry::No,
    }
}

impl WindowAggregate {
    /// The task's state as a checkpoint blob, or `None` before its first row (nothing to keep).
    pub(super) fn checkpoint(&mut self, scope: &StateScope<'_>) -> Result<Option<Vec<u8>>> {
        let Some(schema) = self.state.as_ref().map(|b| Arc::clone(&b.input_schema)) else {
            return Ok(None);
        };
        let fields: Vec<FieldDesc> = schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().to_string(), f.is_nullable()))
            .collect();
        let desc = encode_to_vec(&fields);
        let mut out = Vec::with_capacity(64 + desc.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&u32::try_from(desc.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(&desc);
        let name = format!("{}-{}", scope.operator_id, scope.task);
        let target = target(scope, &name);
        let hash = state_key_hash(&self.key_types(&schema));
        let (out, _) = self.snapshot(&schema, &target, &hash, out)?;
        Ok(Some(out))
    }

    /// Restores the groups of `scope.range` from the blobs of every task of the previous run.
    pub(super) fn restore_checkpoint(
        &mut self,
        scope: &StateScope<'_>,
        blobs: &[(&str, &[u8])],
    ) -> Result<()> {
        let mut schema: Option<SchemaRef> = None;
        let mut readers = Vec::with_capacity(blobs.len());
        for &(name, blob) in blobs {
            let (blob_schema, snapshot) = split_blob(name, blob)?;
            match &schema {
                None => schema = Some(blob_schema),
                Some(s) if s.fields() == blob_schema.fields() => {}
                Some(s) => {
                    return Err(bad(name, format!("input schema {blob_schema:?} differs from {s:?}")));
                }
            }
            readers.push(SnapshotReader::open(name, snapshot)?);
        }
        let Some(schema) = schema else { return Ok(()) };
        let name = format!("{}-{}", scope.operator_id, scope.task);
        let target = target(scope, &name);
        let hash = state_key_hash(&self.key_types(&schema));
        self.restore(&schema, &target, &hash, &mut readers).map_err(|e| {
            let message = match e {
                DataflowError::State { message, .. } => message,
                e => e.to_string(),
            };
            DataflowError::State {
                message: format!(
                    "the checkpoint's state of `{}` does not fit this job's operator (its keys, \
                     window or aggregates changed?): {message}",
                    scope.operator_id
                ),
                kind: ErrorKind::User,
                retry: Retry::No,
            }
        })
    }

    /// The key columns' types in `schema` (empty if a key is missing: the restore then fails
    /// on the schema with a clear message).
    fn key_types(&self, schema: &Schema) -> Vec<DataType> {
        self.keys
            .iter()
            .filter_map(|k| schema.field_with_name(k).ok().map(|f| f.data_type().clone()))
            .collect()
    }
}

fn target<'a>(scope: &StateScope<'a>, name: &'a str) -> SnapshotTarget<'a> {
    SnapshotTarget {
        name,
        operator_id: scope.operator_id,
        schema: "",
        key_groups: scope.key_groups,
        range: scope.range,
    }
}

/// The input schema and the snapshot bytes of a blob.
fn split_blob<'a>(name: &str, blob: &'a [u8]) -> Result<(SchemaRef, &'a [u8])> {
    let rest = blob.strip_prefix(MAGIC.as_slice()).ok_or_else(|| bad(name, "not window aggregate state"))?;
    let (len, rest) = rest.split_first_chunk::<4>().ok_or_else(|| bad(name, "truncated"))?;
    let len = u32::from_le_bytes(*len) as usize;
    let desc = rest.get(..len).ok_or_else(|| bad(name, "truncated schema"))?;
    let fields: Vec<FieldDesc> = decode_all(desc).map_err(|e| bad(name, e))?;
    let fields = fields
        .into_iter()
        .map(|(n, t, nullable)| {
            let dt: DataType = t.parse().map_err(|e| bad(name, format!("column `{n}` type `{t}`: {e}")))?;
            Ok(Field::new(n, dt, nullable))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((Arc::new(Schema::new(fields)), rest.get(len..).unwrap_or_default()))
}
