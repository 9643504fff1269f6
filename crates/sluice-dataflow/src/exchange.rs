//! The keyed exchange: hash-partitions a batch's rows by key columns over `n` targets.
//!
//! Per batch: one hash per row over the key columns, one index list per target, then one
//! `take` per non-empty target — never a send per row. Rows with equal keys always go to the
//! same target, so each window task owns a disjoint set of keys. The hash is fixed (not
//! randomly seeded) so a replay partitions identically. A row goes to the task that owns its
//! key's *key group* (`hash % 128`, see `sluice_state::KeyGroups`): keyed state is snapshotted
//! per key group, so it can be restored at another parallelism into the tasks the exchange then
//! routes those keys to.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow_row::{RowConverter, SortField};
use arrow_schema::{DataType, SchemaRef};
use arrow_select::take::take_record_batch;

use sluice_state::{KeyGroup, KeyGroups};

use crate::error::{DataflowError, Result};

/// Splits batches by key hash; see the [module docs](self).
pub struct Exchange {
    keys: Vec<String>,
    /// The schema `key_cols` and `converter` were resolved against; rebound when a batch comes
    /// with another (operators before the exchange may reorder columns).
    schema: SchemaRef,
    key_cols: Vec<usize>,
    targets: usize,
    /// The target of each key group (see [`Exchange::target`]).
    group_targets: Vec<usize>,
    /// `max - 1` when the number of key groups `max` is a power of two (then `hash % max` is a
    /// mask).
    group_mask: Option<u64>,
    groups: KeyGroups,
    /// For keys other than one Utf8 or Int64 column.
    converter: Option<RowConverter>,
    hashes: Vec<u64>,
    indices: Vec<Vec<u32>>,
}

impl Exchange {
    /// An exchange over `targets` targets by the columns `keys` of `schema`.
    ///
    /// # Errors
    /// [`DataflowError::Schema`] if a key column is missing; [`DataflowError::InvalidPipeline`]
    /// if `targets == 0`.
    pub fn new(schema: &SchemaRef, keys: &[String], targets: usize) -> Result<Self> {
        if targets == 0 {
            return Err(DataflowError::InvalidPipeline("an exchange needs at least one target".into()));
        }
        let (key_cols, converter) = Self::resolve(schema, keys)?;
        let groups = KeyGroups::default();
        let parallelism = u32::try_from(targets).unwrap_or(u32::MAX);
        let group_targets = (0..groups.max())
            .map(|g| {
                let task = groups.task_for_group(KeyGroup(g), parallelism).map_err(|e| {
                    DataflowError::InvalidPipeline(format!("keyed exchange over {targets} tasks: {e}"))
                })?;
                Ok(task as usize)
            })
            .collect::<Result<Vec<_>>>()?;
        let group_mask = groups.max().is_power_of_two().then(|| u64::from(groups.max()) - 1);
        Ok(Exchange {
            keys: keys.to_vec(),
            schema: Arc::clone(schema),
            key_cols,
            targets,
            group_targets,
            group_mask,
            groups,
            converter,
            hashes: Vec::new(),
            indices: vec![Vec::new(); targets],
        })
    }

    /// The key columns' indexes in `schema`, and the row converter if the keys need one.
    fn resolve(schema: &SchemaRef, keys: &[String]) -> Result<(Vec<usize>, Option<RowConverter>)> {
        let key_cols = keys
            .iter()
            .map(|k| {
                schema.index_of(k).map_err(|_| DataflowError::Schema(format!("key_by: no column `{k}`")))
            })
            .collect::<Result<Vec<_>>>()?;
        let types: Vec<&DataType> = key_cols.iter().map(|&i| schema.field(i).data_type()).collect();
        let converter = match types.as_slice() {
            [DataType::Utf8 | DataType::Int64] => None,
            _ => Some(RowConverter::new(types.iter().map(|t| SortField::new((*t).clone())).collect())?),
        };
        Ok((key_cols, converter))
    }

    /// Resolves the key columns again if `schema` is not the one they were resolved against.
    fn bind(&mut self, schema: &SchemaRef) -> Result<()> {
        if Arc::ptr_eq(schema, &self.schema) || schema.fields() == self.schema.fields() {
            return Ok(());
        }
        (self.key_cols, self.converter) = Self::resolve(schema, &self.keys)?;
        self.schema = Arc::clone(schema);
        Ok(())
    }

    /// Splits `batch` into at most one batch per target, as `(target, rows)`.
    ///
    /// # Errors
    /// [`DataflowError::Schema`] if the batch lacks a key column; an Arrow error from the row
    /// encoding or `take`.
    pub fn partition(&mut self, batch: &RecordBatch) -> Result<Vec<(usize, RecordBatch)>> {
        if self.targets == 1 {
            return Ok(vec![(0, batch.clone())]);
        }
        self.bind(&batch.schema())?;
        let cols: Vec<&ArrayRef> = self.key_cols.iter().map(|&i| batch.column(i)).collect();
        self.hash(&cols)?;
        for list in &mut self.indices {
            list.clear();
        }
        for (row, &h) in self.hashes.iter().enumerate() {
            let target = self.target(h);
            if let Some(list) = self.indices.get_mut(target) {
                list.push(row as u32);
            }
        }
        let mut out = Vec::with_capacity(self.targets);
        for (target, list) in self.indices.iter_mut().enumerate() {
            if list.len() == batch.num_rows() {
                out.push((target, batch.clone()));
            } else if !list.is_empty() {
                let idx = UInt32Array::from(std::mem::take(list));
                out.push((target, take_record_batch(batch, &idx)?));
            }
        }
        Ok(out)
    }

    /// The target of each row of `key_columns` (the key columns alone, in key order): the
    /// target [`partition`](Self::partition) sends a row with those keys to. Two-phase
    /// aggregation routes its partial accumulators with it, so a key's partials and raw rows
    /// meet in the same task.
    ///
    /// # Errors
    /// [`DataflowError::Schema`] if the columns do not match the key columns; an Arrow error
    /// from the row encoding.
    pub fn targets(&mut self, key_columns: &[ArrayRef]) -> Result<Vec<usize>> {
        if key_columns.len() != self.key_cols.len() {
            return Err(DataflowError::Schema(format!(
                "key_by: {} key columns given, {} expected",
                key_columns.len(),
                self.key_cols.len()
            )));
        }
        let cols: Vec<&ArrayRef> = key_columns.iter().collect();
        self.hash(&cols)?;
        Ok(self.hashes.iter().map(|&h| self.target(h)).collect())
    }

    /// The target of a row hash: the task that owns the key's group (`hash % max_key_groups`,
    /// then [`KeyGroups::task_for_group`]), so that keyed state snapshotted per key group lands
    /// in the task the exchange routes the key to, at any parallelism.
    #[inline]
    fn target(&self, hash: u64) -> usize {
        let group = match self.group_mask {
            Some(mask) => (hash & mask) as usize,
            None => self.groups.group_for_hash(hash).0 as usize,
        };
        self.group_targets.get(group).copied().unwrap_or(0)
    }

    fn hash(&mut self, cols: &[&ArrayRef]) -> Result<()> {
        self.hashes.clear();
        match (&self.converter, cols) {
            (None, [col]) if col.data_type() == &DataType::Utf8 => {
                let a = col.as_string::<i32>();
                self.hashes.extend((0..a.len()).map(|r| {
                    if a.is_valid(r) {
                        hash_bytes(a.value(r).as_bytes())
                    } else {
                        0
                    }
                }));
            }
            (None, [col]) => {
                let a = col.as_primitive::<Int64Type>();
                self.hashes.extend(a.values().iter().map(|&v| fmix64(v as u64)));
            }
            (Some(converter), _) => {
                let owned: Vec<ArrayRef> = cols.iter().map(|c| Arc::clone(c)).collect();
                let rows = converter.convert_columns(&owned)?;
                self.hashes.extend(rows.iter().map(|r| hash_bytes(r.as_ref())));
            }
            (None, _) => return Err(DataflowError::Schema("key_by: unsupported key columns".into())),
        }
        Ok(())
    }
}

/// The hash the exchange routes a key by, from the bytes window state keeps for the key: a
/// single Utf8 key's UTF-8 bytes, otherwise the key columns' `arrow-row` encoding. Keyed state
/// is snapshotted by the key group of this hash, so a restored key lands in the task the
/// exchange sends its rows to.
#[must_use]
pub fn state_key_hash(key_types: &[DataType]) -> fn(&[u8]) -> u64 {
    match key_types {
        [DataType::Int64] => int64_row_hash,
        _ => hash_bytes,
    }
}

/// The exchange hashes a single Int64 key by value; window state keeps it row-encoded: one
/// validity byte, then the value big-endian with the sign bit flipped.
fn int64_row_hash(row: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    if let Some(value) = row.get(1..9) {
        word.copy_from_slice(value);
    }
    fmix64(u64::from_be_bytes(word) ^ (1 << 63))
}

/// A fast, fixed, well-mixed hash of bytes (FxHash-style rounds, murmur3 finalizer).
#[inline]
#[must_use]
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = 0x9e37_79b9_7f4a_7c15_u64 ^ bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        if let Some(w) = word.get_mut(..rest.len()) {
            w.copy_from_slice(rest);
        }
        h = (h.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fmix64(h)
}

/// murmur3's 64-bit finalizer.
#[inline]
fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{Field, Schema};

    use super::*;

    fn urls(n: usize) -> RecordBatch {
        let urls: StringArray = (0..n).map(|i| Some(format!("/page/{i}"))).collect();
        let schema = Arc::new(Schema::new(vec![Field::new("url", DataType::Utf8, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(urls)]).expect("batch")
    }

    /// Each row lands in the task whose key-group range holds its key's group, at any parallelism.
    #[test]
    fn routes_by_key_group() {
        let batch = urls(2_000);
        let groups = KeyGroups::default();
        for p in [1usize, 2, 3, 5, 128] {
            let mut exchange = Exchange::new(&batch.schema(), &["url".to_string()], p).expect("exchange");
            let parts = exchange.partition(&batch).expect("partition");
            assert_eq!(parts.iter().map(|(_, b)| b.num_rows()).sum::<usize>(), batch.num_rows());
            for (task, part) in parts {
                let range = groups.range_for_task(task as u32, p as u32).expect("range");
                for url in part.column(0).as_string::<i32>().iter().flatten() {
                    assert!(range.contains(groups.group_for_hash(hash_bytes(url.as_bytes()))), "{url} p={p}");
                }
            }
        }
    }

    /// The hash of a key's state bytes is the hash its rows are routed by.
    #[test]
    fn state_key_hash_matches_routing() {
        let keys = Int64Array::from(vec![0, 1, -1, 42, i64::MIN, i64::MAX]);
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(keys.clone())]).expect("batch");
        let mut exchange = Exchange::new(&batch.schema(), &["id".to_string()], 2).expect("exchange");
        let col: ArrayRef = Arc::new(keys);
        exchange.hash(&[&col]).expect("hash");
        let rows = RowConverter::new(vec![SortField::new(DataType::Int64)])
            .expect("converter")
            .convert_columns(&[Arc::clone(&col)])
            .expect("rows");
        let from_state = state_key_hash(&[DataType::Int64]);
        for (row, &h) in rows.iter().zip(&exchange.hashes) {
            assert_eq!(from_state(row.as_ref()), h);
        }
        assert_eq!(state_key_hash(&[DataType::Utf8])(b"/a"), hash_bytes(b"/a"));
    }

    #[test]
    fn more_tasks_than_key_groups_is_an_error() {
        let batch = urls(1);
        let err = Exchange::new(&batch.schema(), &["url".to_string()], 129).err().expect("error");
        assert!(err.to_string().contains("parallelism 129"), "{err}");
    }
}
