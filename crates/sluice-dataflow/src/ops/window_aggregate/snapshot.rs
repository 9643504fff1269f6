//! Snapshots of the window aggregate operator: a codec for the built-in accumulators
//! ([`Slot`], [`Scalar`]) and [`WindowAggregate::snapshot`] / [`WindowAggregate::restore`].
//!
//! Slot encoding: a tag byte, then the fields —
//! `0 Count(i64)`, `1 SumI(i64)`, `2 SumF(f64)`, `3 Extreme(max: bool, Option<Scalar>)`,
//! `4 Avg(f64, i64)`, `5 DistinctI(set of i64)`, `6 DistinctS(set of String)`,
//! `7 Positional(last: bool, Option<(i64, Scalar)>)`; a scalar is `0 I64`, `1 F64` or `2 Str`
//! and its value. The operator's fingerprint names the key columns and their types, the
//! event-time source and every aggregate (function, column, output name), so a snapshot only
//! restores into an operator whose state has the same shape.

use std::io::{Read, Write};

use arrow_schema::SchemaRef;
use sluice_state::codec::{CodecError, Decoder, StateCodec};
use sluice_state::snapshot::{SnapshotReader, SnapshotSummary};

use super::{AggFunc, Keyed, Scalar, Slot, WindowAggregate};
use crate::error::{DataflowError, Result};
use crate::window::SnapshotTarget;

impl StateCodec for Scalar {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Scalar::I64(v) => {
                out.push(0);
                v.encode(out);
            }
            Scalar::F64(v) => {
                out.push(1);
                v.encode(out);
            }
            Scalar::Str(v) => {
                out.push(2);
                v.encode(out);
            }
        }
    }

    fn decode(input: &mut Decoder<'_>) -> std::result::Result<Self, CodecError> {
        match input.array::<1>("Scalar tag")? {
            [0] => Ok(Scalar::I64(i64::decode(input)?)),
            [1] => Ok(Scalar::F64(f64::decode(input)?)),
            [2] => Ok(Scalar::Str(String::decode(input)?)),
            [tag] => Err(input.error("Scalar tag", format!("unknown tag {tag}"))),
        }
    }
}

/// The tag of a user-defined aggregate's slot, which has no codec yet.
const USER_TAG: u8 = 8;

impl StateCodec for Slot {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Slot::Count(n) => (0u8, *n).encode(out),
            Slot::SumI(n) => (1u8, *n).encode(out),
            Slot::SumF(x) => (2u8, *x).encode(out),
            Slot::Extreme { max, value } => {
                (3u8, *max).encode(out);
                value.encode(out);
            }
            Slot::Avg(sum, n) => (4u8, *sum, *n).encode(out),
            Slot::DistinctI(set) => {
                out.push(5);
                set.encode(out);
            }
            Slot::DistinctS(set) => {
                out.push(6);
                set.encode(out);
            }
            Slot::Positional { last, value } => {
                (7u8, *last).encode(out);
                value.encode(out);
            }
            // Unreachable through `WindowAggregate::snapshot`, which refuses user aggregates up
            // front; the tag makes a restore fail rather than misread the state.
            Slot::User(_) => out.push(USER_TAG),
        }
    }

    fn decode(input: &mut Decoder<'_>) -> std::result::Result<Self, CodecError> {
        Ok(match input.array::<1>("Slot tag")? {
            [0] => Slot::Count(i64::decode(input)?),
            [1] => Slot::SumI(i64::decode(input)?),
            [2] => Slot::SumF(f64::decode(input)?),
            [3] => Slot::Extreme { max: bool::decode(input)?, value: Option::decode(input)? },
            [4] => Slot::Avg(f64::decode(input)?, i64::decode(input)?),
            [5] => Slot::DistinctI(StateCodec::decode(input)?),
            [6] => Slot::DistinctS(StateCodec::decode(input)?),
            [7] => Slot::Positional { last: bool::decode(input)?, value: Option::decode(input)? },
            [USER_TAG] => {
                return Err(input.error("Slot", "state of a user-defined aggregate cannot be restored".into()))
            }
            [tag] => return Err(input.error("Slot tag", format!("unknown tag {tag}"))),
        })
    }
}

impl WindowAggregate {
    /// The fingerprint's part that this operator adds to `target.schema`.
    fn state_schema(&self, target: &SnapshotTarget<'_>) -> Result<String> {
        let b = self.state.as_ref().ok_or_else(|| DataflowError::InvalidPipeline("unbound".into()))?;
        let key_types: Vec<String> =
            b.key_cols.iter().map(|&i| b.input_schema.field(i).data_type().to_string()).collect();
        let aggs: Vec<String> =
            self.exprs.iter().map(|e| format!("{:?}({:?}) as {}", e.func, e.column, e.name)).collect();
        Ok(format!(
            "window_aggregate keys={:?} key_types={key_types:?} time={:?} aggs=[{}]{}{}",
            self.keys,
            self.time,
            aggs.join(", "),
            if target.schema.is_empty() { "" } else { ";" },
            target.schema
        ))
    }

    /// Writes the window state of the groups `target.range` (see
    /// [`crate::window::SnapshotTarget`]; `target.schema` is extended with this operator's keys,
    /// time source and aggregates). `input_schema` is the operator's input schema (the state is
    /// bound to it if no batch has arrived yet); `key_hash` is the keyed exchange's hash of a
    /// key's bytes: a single Utf8 key's UTF-8 bytes, otherwise its `arrow-row` encoding.
    ///
    /// # Errors
    /// [`DataflowError::Schema`] if `input_schema` does not fit the operator;
    /// [`DataflowError::State`] if writing fails or a key is outside `target.range`.
    pub fn snapshot<W: Write>(
        &mut self,
        input_schema: &SchemaRef,
        target: &SnapshotTarget<'_>,
        key_hash: &dyn Fn(&[u8]) -> u64,
        out: W,
    ) -> Result<(W, SnapshotSummary)> {
        if let Some(user) = self.exprs.iter().find(|e| e.func == AggFunc::User) {
            return Err(DataflowError::InvalidPipeline(format!(
                "cannot snapshot `{}`: state of user-defined aggregates has no codec yet",
                user.name
            )));
        }
        self.bind(input_schema)?;
        let schema = self.state_schema(target)?;
        let target = SnapshotTarget { schema: &schema, ..*target };
        let Some(b) = self.state.as_ref() else { return Err(unbound()) };
        Ok(match &b.keyed {
            Keyed::Str(w) => w.snapshot(&target, |k: &String| key_hash(k.as_bytes()), out)?,
            Keyed::Rows(w, _) => w.snapshot(&target, |k: &Vec<u8>| key_hash(k), out)?,
        })
    }

    /// Restores the groups `target.range` from the snapshots of the previous run, before the
    /// first batch; the arguments are those of [`snapshot`](Self::snapshot). The snapshots'
    /// checksums are trusted for the validity of `arrow-row` keys.
    ///
    /// # Errors
    /// [`DataflowError::Schema`] if `input_schema` does not fit the operator;
    /// [`DataflowError::State`] for an incompatible or damaged snapshot, or if the operator
    /// already holds state.
    pub fn restore<R: Read>(
        &mut self,
        input_schema: &SchemaRef,
        target: &SnapshotTarget<'_>,
        key_hash: &dyn Fn(&[u8]) -> u64,
        readers: &mut [SnapshotReader<R>],
    ) -> Result<()> {
        self.bind(input_schema)?;
        let schema = self.state_schema(target)?;
        let target = SnapshotTarget { schema: &schema, ..*target };
        let Some(b) = self.state.as_mut() else { return Err(unbound()) };
        match &mut b.keyed {
            Keyed::Str(w) => w.restore(&target, |k: &String| key_hash(k.as_bytes()), readers)?,
            Keyed::Rows(w, _) => w.restore(&target, |k: &Vec<u8>| key_hash(k), readers)?,
        }
        Ok(())
    }
}

#[cold]
fn unbound() -> DataflowError {
    DataflowError::InvalidPipeline("window aggregate state is not bound to a schema".into())
}

#[cfg(test)]
mod test {
    use std::collections::HashSet;
    use std::sync::Arc;

    use arrow_array::{Int64Array, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema, SchemaRef};
    use sluice_state::codec::{decode_all, encode_to_vec};
    use sluice_state::snapshot::SnapshotReader;
    use sluice_state::KeyGroups;

    use super::super::{
        avg, count, count_distinct, first, last, max, min, sum, Scalar, Slot, TimeSource, WindowAggregate,
    };
    use crate::exchange::hash_bytes;
    use crate::operator::{Collector, Context, Operator};
    use crate::time::Watermark;
    use crate::window::{SnapshotTarget, WindowSpec};

    #[test]
    fn slots_round_trip() {
        let slots = vec![
            Slot::Count(3),
            Slot::SumI(-7),
            Slot::SumF(f64::NAN),
            Slot::Extreme { max: true, value: Some(Scalar::Str("zz".into())) },
            Slot::Extreme { max: false, value: None },
            Slot::Avg(2.5, 2),
            Slot::DistinctI(HashSet::from([-9])),
            Slot::DistinctS(HashSet::from(["a".to_string()])),
            Slot::Positional { last: true, value: Some((42, Scalar::F64(-0.0))) },
            Slot::Positional { last: false, value: Some((1, Scalar::I64(8))) },
        ];
        let bytes = encode_to_vec(&slots);
        let back: Vec<Slot> = decode_all(&bytes).unwrap();
        // Slot has no PartialEq (NaN); compare the encodings (sets of one element: no order).
        assert_eq!(encode_to_vec(&back), bytes);
        let set = HashSet::from(["a".to_string(), String::new(), "b".into()]);
        let back: Slot = decode_all(&encode_to_vec(&Slot::DistinctS(set.clone()))).unwrap();
        assert!(matches!(back, Slot::DistinctS(s) if s == set));
        assert!(decode_all::<Slot>(&[9]).is_err());
        assert!(decode_all::<Scalar>(&[3, 0]).is_err());
        for cut in 0..bytes.len() {
            assert!(decode_all::<Vec<Slot>>(&bytes[..cut]).is_err());
        }
    }

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("url", DataType::Utf8, true),
            Field::new("user", DataType::Int64, true),
            Field::new("ts", DataType::Int64, false),
            Field::new("v", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ]))
    }

    /// Deterministic out-of-order batches, and the watermark after each.
    fn batches() -> Vec<(RecordBatch, Watermark)> {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut base = 0i64;
        let mut max_ts = i64::MIN;
        (0..8)
            .map(|_| {
                let rows = 25;
                let mut cols = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
                for _ in 0..rows {
                    base += next(3) as i64;
                    let ts = base + next(9) as i64 - 4;
                    max_ts = max_ts.max(ts);
                    let key = next(5);
                    cols.0.push((key != 4).then(|| format!("/p{key}")));
                    cols.1.push(Some(key as i64 * 10));
                    cols.2.push(ts);
                    cols.3.push((next(7) != 0).then(|| next(20) as i64 - 5));
                    cols.4.push(Some(format!("n{}", next(4))));
                }
                let batch = RecordBatch::try_new(
                    schema(),
                    vec![
                        Arc::new(StringArray::from(cols.0)),
                        Arc::new(Int64Array::from(cols.1)),
                        Arc::new(Int64Array::from(cols.2)),
                        Arc::new(Int64Array::from(cols.3)),
                        Arc::new(StringArray::from(cols.4)),
                    ],
                )
                .unwrap();
                (batch, Watermark(max_ts - 5))
            })
            .collect()
    }

    fn operator(spec: WindowSpec, key: &str) -> WindowAggregate {
        let exprs = vec![
            count(),
            sum("v"),
            min("name"),
            max("v"),
            avg("v"),
            count_distinct("v"),
            count_distinct("name"),
            first("v"),
            last("name"),
        ];
        WindowAggregate::new(spec, vec![key.into()], TimeSource::Column("ts".into()), exprs)
    }

    /// Runs the batches, snapshotting and restoring into a fresh operator after `cut` batches
    /// (never, for `None`); returns every output batch, main then late.
    fn run(spec: WindowSpec, key: &str, cut: Option<usize>) -> Vec<RecordBatch> {
        let groups = KeyGroups::new(16).unwrap();
        let target = SnapshotTarget {
            name: "window-0",
            operator_id: "window",
            schema: "",
            key_groups: groups,
            range: groups.all(),
        };
        let mut op = operator(spec, key);
        let (mut ctx, mut out) = (Context::default(), Collector::default());
        let mut emitted = Vec::new();
        for (i, (batch, wm)) in batches().into_iter().enumerate() {
            if Some(i) == cut {
                let (bytes, _) = op.snapshot(&schema(), &target, &hash_bytes, Vec::new()).unwrap();
                op = operator(spec, key);
                let mut readers = [SnapshotReader::open("window-0", &bytes[..]).unwrap()];
                op.restore(&schema(), &target, &hash_bytes, &mut readers).unwrap();
            }
            op.process(batch, &mut ctx, &mut out).unwrap();
            op.on_watermark(wm, &mut ctx, &mut out).unwrap();
            emitted.extend(out.take_main());
            emitted.extend(out.take_side().into_iter().map(|(_, b)| b));
        }
        op.on_watermark(Watermark::MAX, &mut ctx, &mut out).unwrap();
        emitted.extend(out.take_main());
        emitted
    }

    #[test]
    fn restoring_then_continuing_equals_an_uninterrupted_run() {
        let specs = [
            WindowSpec::tumbling(10).unwrap(),
            WindowSpec::hop(12, 4).unwrap().with_allowed_lateness(3).unwrap(),
            WindowSpec::session(3).unwrap(),
        ];
        for spec in specs {
            for key in ["url", "user"] {
                let expected = run(spec, key, None);
                assert!(expected.iter().map(RecordBatch::num_rows).sum::<usize>() > 20);
                for cut in 0..8 {
                    assert_eq!(run(spec, key, Some(cut)), expected, "{spec:?} key {key} cut {cut}");
                }
            }
        }
    }

    #[test]
    fn another_aggregate_list_is_refused() {
        let groups = KeyGroups::new(16).unwrap();
        let target = SnapshotTarget {
            name: "w",
            operator_id: "window",
            schema: "",
            key_groups: groups,
            range: groups.all(),
        };
        let spec = WindowSpec::tumbling(10).unwrap();
        let mut op = operator(spec, "url");
        let (bytes, _) = op.snapshot(&schema(), &target, &hash_bytes, Vec::new()).unwrap();
        let mut other =
            WindowAggregate::new(spec, vec!["url".into()], TimeSource::Column("ts".into()), vec![count()]);
        let mut readers = [SnapshotReader::open("w", &bytes[..]).unwrap()];
        let err = other.restore(&schema(), &target, &hash_bytes, &mut readers).unwrap_err().to_string();
        assert!(
            err.contains("does not fit operator \"window\"") && err.contains("aggs=[Count(None) as count]"),
            "{err}"
        );
    }
}
